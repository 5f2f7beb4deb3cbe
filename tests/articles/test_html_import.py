"""HTML blog pages → Article: the article is kept, the page around it is not.

Fixtures in tests/data/html are hand-written copies of real platforms' markup (see the
README there); each case lists sentences that must survive and page furniture that must not.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from lxml import etree

from newsletter.articles import load_article, parse_article
from newsletter.articles.inference import xml_clean
from newsletter.articles.model import Article, Heading, Image, ListBlock, Paragraph, Quote, plain
from newsletter.articles.sanitize import (
    clean_fragment,
    is_pixel,
    is_tracker_url,
    resolve_bad_char_refs,
)
from newsletter.errors import ArticleError
from tests.seed import REPO, SEED_FORMATS, SEED_TEXT

HTML = REPO / "tests" / "data" / "html"

CASES = {
    "wordpress-sidebar-comments.html": {
        "title": "Understanding Panic Attacks: What Happens in Your Body",
        "kept": [
            "Your heart is pounding, your chest is tight, and you are sure something is terribly "
            "wrong.",
            "Labeling the experience interrupts the catastrophic thoughts that keep it going.",
            "A sense of unreality, as if you are watching yourself from outside",
            "The goal of treatment is not to never feel anxious again.",
        ],
        "headings": [
            "Your Alarm System, Misfiring",
            "Why the Fear of Fear Keeps It Going",
            "What Helps in the Moment",
        ],
        "absent": [
            "Now accepting new clients",  # top bar
            "Meet Our Team",  # navigation
            "Insurance & Fees",
            "We use cookies on our website",  # cookie banner
            "Privacy Overview",
            "Recent Posts",  # sidebar
            "Five Myths About EMDR Therapy",
            "Free 15-minute phone consultations",
            "I had my first one on the freeway",  # comments
            "Does the breathing trick work",
            "Leave a Comment",
            "Save my name, email, and website",
            "How to Find a Therapist Who Fits",  # previous/next
            "All rights reserved",  # footer
            "Suicide & Crisis Lifeline",
            "Skip to content",
        ],
    },
    "squarespace-grounding.html": {
        "title": "Five Grounding Techniques for Anxious Moments",
        "kept": [
            "Anxiety lives in the future.",
            "Name five things you can see, four things you can touch,",
            "The long exhale activates the parasympathetic nervous system",
            "Grounding is a skill, not a cure.",
        ],
        "headings": ["1. The 5-4-3-2-1 scan", "5. Slow exhale"],
        "absent": [
            "Now offering evening sessions",  # announcement bar
            "Perinatal Mental Health",  # navigation
            "Book a Free Consult",
            "Postpartum Anxiety: Signs That Are Easy to Miss",  # pagination
            "Intrusive Thoughts Are Not Wishes",
            "Previous",
            "Tweet",  # share buttons
            "Pin it",
            "Join our mailing list",  # newsletter form
            "We use cookies to analyze website traffic",  # cookie banner
            "Priya is a licensed professional counselor",  # author bio
            "2200 Larimer Street",  # footer
        ],
    },
    "ghost-sleep-and-mood.html": {
        "title": "Sleep and Mood: Why Rest Is Part of Treatment",
        "kept": [
            "For a long time, poor sleep was treated as a symptom that would clear up on its own",
            "During REM sleep, it processes emotional experiences.",
            "circadian rhythm problems: a body clock that has drifted later",
            "We also look at everyday habits such as caffeine timing",
        ],
        "headings": [
            "What sleep does for the brain",
            "How we assess sleep",
            "Treatment that addresses both",
        ],
        "absent": [
            "Esketamine Clinic",  # navigation
            "Subscribe",
            "Esketamine: Your Questions Answered",  # read-more cards
            "Light Therapy for Seasonal Depression",
            "Tolerance, poop-out",
            "Member discussion",  # comments
            "Powered by Ghost",  # footer
            "Crisis resources",
            "5 min read",
        ],
    },
    "clinic-tms-related-share.html": {
        "title": "What to Expect at Your First TMS Session",
        "kept": [
            "If your doctor has recommended transcranial magnetic stimulation, or TMS,",
            "This is called your motor threshold, and it tells us how strong",
            "Pulses are delivered for 3 to 19 minutes, depending on your protocol.",
            "A standard course is five sessions a week for six weeks",
        ],
        "headings": ["Before you arrive", "Mapping: finding your dose", "During the treatment"],
        "absent": [
            "Patient Portal",  # utility bar
            "Conditions We Treat",  # navigation
            "Book Online",
            "Share this article",  # share bar
            "Share on Facebook",
            "More sharing options",
            "Get mental health tips in your inbox",  # newsletter form
            "You might also like",  # related posts
            "Ketamine or TMS: Which Is Right for Me?",
            "Deep TMS for OCD",
            "Is TMS covered by insurance?",  # sidebar
            "Popular topics",
            "Fax: (612) 555-0178",  # footer
            "Website by Northloop Digital",
        ],
    },
    "wix-trackers-teen-depression.html": {
        "title": "Supporting a Teen Through Depression",
        "kept": [
            "Depression in teens often looks different from depression in adults",
            "Talking about feeling worthless or like a burden",
            "Then listen more than you talk.",
            "Family involvement makes treatment more effective",
        ],
        "headings": [
            "Signs worth paying attention to",
            "How to start the conversation",
            "Getting help",
        ],
        "absent": [
            "Teens & Families",  # navigation
            "Parent Resources",
            "Share via Facebook",  # share buttons
            "Copy link to post",
            "214 views",
            "Recent Posts",  # related stories
            "When Your Child Refuses to Go to School",
            "Write a comment",  # comments
            "This website uses cookies",  # consent banner
            "Proudly created with Wix",  # footer
            "Stay in the loop",
            "How to talk to your teen about mental health",  # the iframe's title
        ],
    },
    "hugo-relative-canonical.html": {
        "title": "Loneliness Is a Health Issue",
        "kept": [
            "Loneliness is not the same as being alone.",
            "so neutral faces look unfriendly and an unanswered message feels like rejection.",
            "Loneliness tells you that nobody wants to hear from you.",
            "Join something that meets weekly, such as a choir, a running club",
        ],
        "headings": ["More than a feeling", "Small steps count"],
        "absent": [
            "Our Team",  # navigation
            "Contents",  # table of contents
            "Holiday Stress Without the Guilt",  # prev/next and related notes
            "Related notes",
            "When Grief Returns on Anniversaries",
            "Share on X",  # share links
            "Send by email",
            "4 responses",  # comments
            "Signing up for the Tuesday walking group",
            "Post response",
            "privacy-friendly analytics cookie",  # cookie notice
            "Built with Hugo",  # footer
            "5 min read",
        ],
    },
}
TRACKERS = ("googletagmanager", "facebook.com/tr", "facebook.net", "google-analytics", "bat.bing")
TRACKERS += ("linkedin.com/collect", "mailpulse", "youtube", "pixel.wp.com", "gravatar", "addtoany")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def load(name: str, **kwargs) -> Article:
    return load_article(HTML / name, **kwargs)


def body_texts(article: Article) -> list[str]:
    """The text of every body block (paragraphs, list items, quotes, headings)."""
    texts: list[str] = []
    for section in article.sections:
        for block in section.blocks:
            if isinstance(block, Paragraph):
                texts.append(block.text)
            elif isinstance(block, ListBlock):
                texts.extend(plain(item) for item in block.items)
            elif isinstance(block, Quote):
                texts.extend(plain(p) for p in block.paragraphs)
            elif isinstance(block, Heading):
                texts.append(block.text)
    return texts


def all_strings(article: Article) -> list[str]:
    """Every string the Article carries, URLs included."""
    strings = [article.title, article.summary, article.hero_alt, article.author]
    strings += [*article.tags, *article.headings, *article.warnings, *body_texts(article)]
    strings += [article.hero_image or "", article.canonical_url or "", *article.links()]
    for section in article.sections:
        strings += [f"{b.src} {b.alt}" for b in section.blocks if isinstance(b, Image)]
    if article.call_to_action:
        strings.append(article.call_to_action.text)
    strings += [source.text for source in article.sources]
    return strings


def all_urls(article: Article) -> list[str]:
    images = [b.src for s in article.sections for b in s.blocks if isinstance(b, Image)]
    return [u for u in [article.hero_image, *images, *article.links()] if u]


@pytest.mark.parametrize("name", sorted(CASES))
def test_title_is_the_articles_own(name: str) -> None:
    assert load(name).title == CASES[name]["title"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_article_text_and_headings_are_kept(name: str) -> None:
    article = load(name)
    text = "\n".join(body_texts(article)).casefold()
    for sentence in CASES[name]["kept"]:
        assert sentence.casefold() in text, sentence
    for heading in CASES[name]["headings"]:
        assert heading in article.headings
    assert len(article.paragraphs) >= 4


@pytest.mark.parametrize("name", sorted(CASES))
def test_page_furniture_is_dropped(name: str) -> None:
    strings = all_strings(load(name))
    for unwanted in CASES[name]["absent"]:
        leaks = [s for s in strings if unwanted.casefold() in s.casefold()]
        assert not leaks, f"{unwanted!r} leaked into {leaks}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_script_pixel_or_iframe_urls_survive(name: str) -> None:
    article = load(name, base_url="https://clinic.example/blog/post/")
    for url in all_urls(article):
        assert url.startswith(("https://", "http://", "mailto:")), url
        assert not any(tracker in url for tracker in TRACKERS), url
        assert not is_tracker_url(url), url


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_is_xml_clean(name: str) -> None:
    for string in all_strings(load(name)):
        assert not _NOT_XML.search(string), repr(string)
        assert not re.search(r"[\t\n\r]", string), repr(string)  # whitespace is collapsed
        assert string == string.strip()
        etree.Element("p").text = string  # lxml refuses text that is not valid XML


def test_metadata_from_a_wordpress_page() -> None:
    article = load("wordpress-sidebar-comments.html")
    assert article.format == "html"
    assert article.summary.startswith("A panic attack feels like an emergency")
    assert article.author == "Dana Whitfield, LCSW"
    assert article.date == dt.date(2024, 3, 12)
    assert article.tags == ("anxiety", "panic disorder")
    assert article.canonical_url == (
        "https://brightwatercounseling.example/blog/understanding-panic-attacks/"
    )
    assert article.hero_image == (
        "https://brightwatercounseling.example/wp-content/uploads/2024/03/"
        "woman-breathing-by-window.jpg"
    )
    assert article.hero_alt == "Woman breathing slowly by a window"
    assert article.call_to_action is not None
    assert article.call_to_action.url == "https://brightwatercounseling.example/contact/"


def test_hero_image_taken_out_of_the_body_and_formatting_kept() -> None:
    article = load("wix-trackers-teen-depression.html")
    assert article.hero_alt == "A teenager sitting alone on a porch step"
    assert not [b for s in article.sections for b in s.blocks if isinstance(b, Image)]
    spans = [span for p in article.paragraphs for span in p.inline]
    assert any(span.bold and span.text == "irritability" for span in spans)
    assert article.call_to_action is not None
    assert "get in touch with our intake team" in article.call_to_action.text
    assert article.author == "Renata Solis, LMFT"


def test_relative_urls_resolved_via_the_canonical_link() -> None:
    article = load("hugo-relative-canonical.html")
    assert article.warnings == ()
    assert article.hero_image == "https://cedarpath.example/images/notes/park-bench.jpg"
    links = article.links()
    assert "https://cedarpath.example/notes/2023/depression-basics/" in links
    assert "https://cedarpath.example/contact/" in links
    assert "mailto:intake@cedarpath.example" in links


def test_base_url_wins_over_the_canonical_link() -> None:
    article = load("hugo-relative-canonical.html", base_url="https://mirror.example/a/b/c/")
    assert "https://mirror.example/a/2023/depression-basics/" in article.links()
    assert article.canonical_url == "https://cedarpath.example/notes/2024/loneliness-health/"


def test_relative_urls_without_a_page_url_links_kept_images_dropped_with_warnings() -> None:
    article = load("clinic-tms-related-share.html")
    assert any("--base-url" in warning for warning in article.warnings)
    assert "../../book/" in article.links()
    # an image that cannot be made absolute would be broken in every inbox: dropped, named
    assert article.hero_image is None
    assert any(
        "'../../media/blog/tms-chair.jpg' dropped" in warning and "--base-url" in warning
        for warning in article.warnings
    )
    assert all(not url.startswith(("javascript:", "data:")) for url in all_urls(article))


def test_relative_urls_fall_back_to_the_clinic_website() -> None:
    article = load("clinic-tms-related-share.html", site_url="https://lakesideclinic.example")
    assert article.hero_image == "https://lakesideclinic.example/media/blog/tms-chair.jpg"
    assert "https://lakesideclinic.example/book/" in article.links()
    assert not any("--base-url" in warning for warning in article.warnings)
    assert article.canonical_url is None  # the website's home page is not the article's page


def test_relative_urls_resolved_with_base_url() -> None:
    base = "https://lakesideclinic.example/blog/first-tms-session/"
    article = load("clinic-tms-related-share.html", base_url=base)
    assert article.warnings == ()
    assert article.canonical_url == base
    assert article.hero_image == "https://lakesideclinic.example/media/blog/tms-chair.jpg"
    assert "https://lakesideclinic.example/conditions/depression/" in article.links()
    assert all(url.startswith("https://") for url in all_urls(article))
    assert article.call_to_action is not None
    assert article.call_to_action.url == "https://lakesideclinic.example/book/"
    images = [b for s in article.sections for b in s.blocks if isinstance(b, Image)]
    assert [i.src for i in images] == [
        "https://lakesideclinic.example/media/blog/tms-coil-closeup.jpg"
    ]


def test_trailing_references_become_sources() -> None:
    article = load("clinic-tms-related-share.html", base_url="https://lakesideclinic.example/b/c/")
    assert [s.url for s in article.sources] == [
        "https://doi.example/10.0000/jfp.2021.014",
        "https://lakesideclinic.example/media/tms-handbook.pdf",
    ]
    assert article.sources[0].text.startswith("Example Research Group.")
    assert not any("References" in t for t in body_texts(article))


# --- the seed article ------------------------------------------------------------------


def test_seed_html_matches_the_plain_text_import() -> None:
    from_text = load_article(SEED_TEXT)
    from_html = load_article(SEED_FORMATS["html"])
    assert from_html.title == from_text.title
    assert (
        from_html.headings
        == from_text.headings
        == [
            "The Most Important Organ",
            "Automatic Reorganization",
        ]
    )
    assert [p.text for p in from_html.paragraphs] == [p.text for p in from_text.paragraphs]
    assert [s.heading for s in from_html.sections] == [s.heading for s in from_text.sections]
    assert from_html.hero_alt == from_text.hero_alt
    assert from_html.sources == from_text.sources == ()
    assert from_html.call_to_action == from_text.call_to_action
    assert from_html.call_to_action is not None
    assert "contact us at Mindstream Medicine" in from_html.call_to_action.text
    assert from_html.hero_image is not None
    assert from_html.hero_image.endswith("/man-rejoicing-on-mountaintop.jpg")
    for unwanted in ("Free Phone Consultation", "Ketamine and PTSD", "Share on", "Subscribe"):
        assert not any(unwanted in s for s in all_strings(from_html)), unwanted


# --- refusals ---------------------------------------------------------------------------


def refusal(data: bytes | str, **kwargs) -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(ArticleError) as caught:
        parse_article(raw, name="page.html", **kwargs)
    message = str(caught.value)
    assert "Fix:" in message
    return message


def test_a_home_page_without_an_article_is_refused_with_a_fix() -> None:
    page = """<!doctype html><html><head><title>Calm Harbor Clinic</title></head><body>
    <nav><ul><li><a href="/">Home</a></li><li><a href="/blog">Blog</a></li></ul></nav>
    <footer>© 2024 Calm Harbor</footer></body></html>"""
    message = refusal(page)
    assert "no article text found" in message
    assert "not the home page" in message


@pytest.mark.parametrize(
    "page",
    [
        "<html></html>",
        "<!doctype html><html><body>   </body></html>",
        "<html><body><script>alert(1)</script><iframe src='x'></iframe></body></html>",
        "<?xml version='1.0' encoding='utf-8'?><html><body></body></html>",
    ],
)
def test_empty_pages_are_refused(page: str) -> None:
    refusal(page)


def test_huge_page_is_refused() -> None:
    page = "<html><body>" + "<p>word </p>" * 600_000 + "</body></html>"
    assert "characters" in refusal(page)


@pytest.mark.parametrize("depth", [300, 5_000, 50_000])
def test_deeply_nested_markup_never_raises_anything_else(depth: int) -> None:
    page = "<html><head><title>Deep</title></head><body>" + "<div><span>" * depth
    page += "<p>Therapy helps many people feel better over time, and that matters.</p>"
    try:
        article = parse_article(page.encode(), name="deep.html")
    except ArticleError as error:
        assert "Fix:" in str(error)
    else:
        assert article.title


def test_garbage_markup_never_raises_anything_else() -> None:
    pages = ["<<<>>><p<a href=>>", "</p></div></html>" * 50, "<a href='javascript:x'>" * 500]
    for page in pages:
        try:
            parse_article(page.encode(), name="x.html")
        except ArticleError as error:
            assert "Fix:" in str(error)


# --- the sanitiser -----------------------------------------------------------------------


def test_sanitiser_keeps_only_the_email_allowlist() -> None:
    dirty = (
        '<div onclick="x()"><p style="color:red">Hi <a href="javascript:alert(1)">bad</a> '
        '<a href="https://ok.example/" onmouseover="x()">good</a> <img src="data:image/png;'
        'base64,AAAA" alt="d"><img src="https://www.google-analytics.com/collect?v=1">'
        '<script>steal()</script><style>p{}</style><iframe src="https://x.example"></iframe>'
        "<form><input name=q></form><svg><text>svg</text></svg><base href='https://evil/'>"
        "<object data='x'>obj</object><h5>Small</h5></p></div>"
    )
    clean = clean_fragment(dirty)
    for bad in ("onclick", "javascript", "data:", "google-analytics", "steal", "iframe", "style"):
        assert bad not in clean, bad
    for bad in ("<form", "<svg", "svg</", "<base", "obj", "<script", "<h5", "<div"):
        assert bad not in clean, bad
    assert '<a href="https://ok.example/">good</a>' in clean
    assert "<h4>Small</h4>" in clean


def test_tracking_pixels_and_tracker_hosts() -> None:
    def img(**attrs: str) -> etree._Element:
        return etree.Element("img", **attrs)

    assert is_pixel(img(width="1", height="1"))
    assert is_pixel(img(width="0", height="0"))
    assert is_pixel(img(style="width:1px;height:1px;border:0"))
    assert not is_pixel(img(width="600", height="1"))
    assert not is_pixel(img(src="x.jpg"))
    assert is_tracker_url("https://www.facebook.com/tr?id=1&ev=PageView")
    assert is_tracker_url("https://stats.g.doubleclick.net/r/collect")
    assert is_tracker_url("https://www.googletagmanager.com/ns.html?id=GTM-1")
    assert not is_tracker_url("https://www.facebook.com/clinic")
    assert not is_tracker_url("https://clinic.example/tr/photo.jpg")


def test_xml_clean_removes_what_xml_forbids() -> None:
    assert xml_clean("a\x00b\x0bc\x1fd\ufffee\ufeff\x85\ud800f") == "abcdef"
    assert xml_clean("tab\tline\nok & <fine>") == "tab\tline\nok & <fine>"


def test_character_references_lxml_would_refuse() -> None:
    page = "a&#x1;b&#0;c&#146;d&#65535;e&#xD800;f&#233;g&amp;h&#x1F9E0;"
    assert resolve_bad_char_refs(page) == "abc’def&#233;g&amp;h&#x1F9E0;"
    article = parse_article(
        b"<title>Refs</title><p><a href='/x&#x1;y'>Therapy&#x0b; helps &#150; a lot.</a></p>",
        name="refs.html",
        base_url="https://clinic.example/",
    )
    assert article.paragraphs[0].text == "Therapy helps – a lot."
    assert article.links() == ["https://clinic.example/xy"]
