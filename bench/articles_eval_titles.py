"""Hand-checked headlines of the pages in trafilatura 1.0.0's sdist (tests/cache/*.html).

Each was read off the page by a person: the article's own visible headline, not the
`<title>` element, the site name, a section label or the social-media title. Pages that
are not one article (listings, a page with no content) are left out. The pages themselves
are third-party and are never committed: bench/articles_eval.py downloads them.
"""

EXPECTED_TITLES = {
    "adac.de.kindersitze.html": "18 Kindersitze im Test: Vier Modelle fallen durch",
    "austria.info.radfahren.html": "Salzburg – Radfahren in der Weltstadt",
    "basicthinking.de.tweets.html": "12 Twitter-Nutzer und ihre Zutaten für erfolgreiche Tweets",
    "befifty.montauk.html": "Das vielleicht schönste Ende der Welt: Montauk",
    "blog.mondediplo.net.turpitude.html": "Turpitude et architecture",
    "blog.python.org.html": "Python 3.6.0 is now available!",
    "blog.wordpress.com.diverse.html": (
        "Want to See a More Diverse WordPress Contributor Community? So Do We."
    ),
    "bmjv.de.konsum.html": "Mehr Transparenz bei Preisanpassungen",
    "boingboing.net.millenials.html": (
        "Hating Millennials - the prejudice you're allowed to boast about"
    ),
    "brandenburg.de.homo-brandenburgensis.html": "Homo Brandenburgensis",
    "brigitte.de.ikigai.html": 'Mit der "Ikigai"-Methode wirst du sofort glücklicher',
    "buchperlen.wordpress.com.html": (
        "Leandra Lou – Der etwas andere Modeblog jetzt auch zwischen Buchdeckeln."
    ),
    "caktusgroup.com.django.html": "Testing Client-Side Applications with Django Post Mortem",
    "cdu-fraktion-erfurt.de.waldorfschule.html": "Entwicklung der Waldorfschule ermöglicht",
    "changelog.blog.zwischenbilanz.html": (
        "Zwischenbilanz: Jan Kegelberg über Tops und Flops bei der Transformation von SportScheck"
    ),
    "chineselyrics4u.com.zhineng.html": "Zhi Neng Xiang Nian Ni - Jam Hsiao Jing Teng",
    "chip.de.beef.html": "Beef Maker von Aldi im Test",
    "cnet.de.schutz.html": (
        "So können Internet-User nach dem EuGH-Urteil für den Schutz sensibler Daten sorgen"
    ),
    "computerbase.de.htc.html": "HTC Touch: Bald bei o2 als „Xda Nova“",
    "correctiv.org.zusage.html": "„Wir haben bereits die Zusage“",
    "crazy-julia.de.tipps.html": "Beauty-Tipps, die jede Braut kennen sollte",
    "creativecommons.at.faircoin.html": "FairCoin hackathon beim Sommercamp",
    "creativecommons.org.html": "What we do",
    "de.creativecommons.org.endlich.html": (
        "Endlich wird es spannend: Die NC-Einschränkug nach deutschem Recht"
    ),
    "demokratiewebstatt.at.luft.html": "Woher kommt die dicke Luft?",
    "denkanstoos.com.2012.html": "DenkanStoos April 2012",
    "die-partei.net.luebeck.html": "Das Ministerium für Club-Kultur informiert…",
    "dw.com.colonial.html": "Berlin confronts Germany's colonial past with new initiative",
    "dw.com.uncork.html": "Uncork the mystery of Germany's Frühburgunder",
    "ebrosia.de.zinfandel.html": "Beringer Zinfandel Rose Stone Cellars lieblich / süß",
    "en.wikipedia.org.tsne.html": "t-distributed stochastic neighbor embedding",
    "erp-news.info.interview.html": (
        "ERP-Interview mit *um: digitale Assistenten und künstliche Intelligenz (KI)"
    ),
    "fairkom.eu.about.html": "Über uns",
    "faz.net.streaming.html": "Musik-Stars fordern neues Streaming-Modell",
    "franceculture.fr.idees.html": "Prendre la parole",
    "franziska-elea.de.vuitton.html": "Das Louis Vuitton Missgeschick",
    "futurezone.at.lyft.html": "Uber-Konkurrent Lyft startet mit Waymo-Robotertaxis in USA",
    "github.blog.spiceland.html": "Leader spotlight: Erin Spiceland",
    "gofeminin.de.abnehmen.html": "Wie kann ich schnell abnehmen?",
    "gregoryszorc.com.python3.html": "Mercurial's Journey to and Reflections on Python 3",
    "gruen-digital.de.jahrestagung.html": (
        "Digitalpolitische Jahrestagung 2015 der Heinrich-Böll-Stiftung Baden-Württemberg"
    ),
    "heise.de.lithium.html": "Lithium aus dem Schredder",
    "iloveponysmag.com.barbour.html": "OUTDOOR LOVERS",
    "incurvy.de.wellness.html": "Wellness Gesichtsbehandlung: Plaisir D’Aromes",
    "internet-law.de.pseudonymen.html": (
        "Verstößt der Ausschluss von Pseudonymen bei Google+ gegen deutsches Recht?"
    ),
    "jolie.de.adele.html": (
        "10 Kilo abgenommen: Adele zeigt sich nach ihrer Trennung schlanker denn je"
    ),
    "jovelstefan.de.gefallt.html": "Gefällt mir",
    "knowtechie.com.rally.html": (
        "Rocket Pass 4 in Rocket League brings with it a new rally-inspired car"
    ),
    "kulinariaathome.com.mandelplätzchen.html": "Mandelplätzchen",
    "lady50plus.de.sekre.html": "SEKRÈ MYSTERY BAG – jede Frau braucht ein Geheimnis!",
    "landwirt.com.sensortechnik.html": "Precision Farming: Moderne Sensortechnik im Kuhstall",
    "laviedesidees.fr.evaluation.html": "L'évaluation et les listes de revues",
    "lemire.me.json.html": "JSON parsing: simdjson vs. JSON for Modern C++",
    "love-hina.ch.0409.html": "Site Update - Leseprobe Band 14 / Kapitel 121",
    "luxuriousmagazine.com.polo.html": "A Royal Salute To Polo In Rome",
    "luxuryhaven.co.hyatt.html": (
        "Nam Nghi Phu Quoc, The Unbound Collection by Hyatt Officially Opens"
    ),
    "majkaswelt.com.fashion.html": "TOP 5 Fashion Must Haves 2018",
    "meedia.de.freenet.html": "Wie Freenet Privatkunden für Antennen-TV in HD-Qualität gewinnen",
    "mixed.de.vrodo.html": "VR-taugliches Notebook für 832,15 Euro, 99 Cent Leihfilme bei Amazon",
    "modepilot.de.duschkopf.html": "Auf Reisen nie ohne meinen Duschkopf",
    "moritz-meyer.net.vreni.html": (
        "Ich habe das Vreni Frost-Urteil gelesen. Das müsst ihr jetzt dazu wissen."
    ),
    "nationalgeographic.co.uk.goats.html": (
        "Ravenous wild goats ruled this island for over a century. Now, it's being reborn."
    ),
    "nature.com.telescope.html": "Gigantic Chinese telescope opens to astronomers worldwide",
    "ndr.de.podcastcoronavirus140.html": "Brauchen Abkürzungen bei der Impfstoffzulassung",
    "netzpolitik.org.abmahnungen.html": (
        "Die Cider Connection: Abmahnungen gegen Nutzer von Creative-Commons-Bildern"
    ),
    "novalanalove.com.ear-candy.html": "Ear Candy",
    "otto.de.twoforfashion.html": "Die Strohtasche – das Must-have für den Sommer",
    "phys.org.tool.html": (
        "Flint flake tool partially covered by birch tar adds to evidence of Neanderthal "
        "complex thinking"
    ),
    "piratenpartei-mv.de.grundeinkommen.html": "Grundeinkommen ist ein Menschenrecht!",
    "plentylife.blogspot.pamela-reif.html": "Strong & Beautiful - Pamela Reif [Rezension]",
    "pluralsight.com.python.html": "Managing Python Environments",
    "psl.eu.luniversite.html": "L’Université PSL : quand les grandes écoles font université",
    "rechtambild.de.kochbuch.html": "BGH: marions-kochbuch",
    "reuters.com.parasite.html": (
        "'Parasite' scores historic upset at SAG awards, boosting Oscar chances"
    ),
    "rnz.de.witzel.html": "Frank Witzel erhält Deutschen Buchpreis 2015",
    "rs-ingenieure.de.tragwerksplanung.html": "Tragwerksplanung",
    "salon.com.emissions.html": "Despite everything, U.S. emissions dipped in 2019",
    "sauvonsluniversite.com.spip.html": "Décisions de l’AG Éducation IDF du mardi 10 septembre",
    "scmp.com.playbook.html": (
        "Taiwanese President Tsai Ing-wen’s political playbook should be essential reading"
    ),
    "shingon-reiki.de.schamanismus.html": "Reiki und Schamanismus",
    "simplyscience.ch.erdoel.html": "Wie entsteht Erdöl?",
    "skateboardmsm.de.dormhagen.html": (
        "The Captain’s Quest 2017 – Contest auf schwimmender Miniramp am 19. August in Dormagen"
    ),
    "sonntag-sachsen.de.emanuel.html": "Emanuel Scobel wird Thomanerchor-Geschäftsführer",
    "soundofscience.fr.1927.html": "Une candidature collective à la présidence du HCERES",
    "speicherguide.de.schwierige.html": "Schwierige Gespräche: so geht’s!",
    "spektrum.de.engelbart.html": "Die Ablehnung von “Gendersprache” – medial produziert",
    "spiegel.de.albtraum.html": "Ein Albtraum",
    "spreeblick.com.habeck.html": "Aus! Aus! Alles vorbei! Habeck macht die Stahnke",
    "stackoverflow.com.rust.html": "What is Rust and why is it so popular?",
    "stuttgart.de.html": "Bohnenviertel",
    "sueddeutsche.de.flixtrain.html": "Flixbus attackiert Deutsche Bahn",
    "telemedicus.info.rezension.html": "Rezension: Härting - Internetrecht, 5. Auflage 2014",
    "theguardian.com.academics.html": (
        "Thousands of UK academics 'treated as second-class citizens'"
    ),
    "theplanetarypress.com.forestlands.html": (
        "Management of Intact Forestlands by Indigenous Peoples Key to Protecting Climate"
    ),
    "theverge.com.ios13.html": "iOS 13 will fix the FaceTime eye contact problem",
    "threatpost.com.android.html": (
        "Android Ransomware Spreads Via 'Sex Simulation Game' Links on Reddit, SMS"
    ),
    "toralin.de.schmierfett.html": "XADO Schmierfett Reparierend, Verschleiß 50%",
    "vancouversun.com.microsoft.html": (
        "Microsoft moves to erase its carbon footprint from the atmosphere in climate push"
    ),
    "vice.com.amazon.html": "The Amazon Is on Fire and the Smoke Can Be Seen from Space",
    "viehbacher.com.steuerrecht.html": "Internationale Steuerberatung",
    "wehranlage-horka.de.887.html": "Historischer Markt",
    "wikimediafoundation.org.turkey.html": (
        "Access to Wikipedia restored in Turkey after more than two and a half years"
    ),
    "womencantalksports.com.top10.html": "Top 10 Women Talking Sports",
    "zeit.de.zugverkehr.html": "Im ICE von Frankfurt nach Barcelona",
}
