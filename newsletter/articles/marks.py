"""The elements a page marks by class, id, itemprop or rel, read in one pass.

Finding "the element whose class contains `entry-content`" with XPath `contains()` makes
libxml2 test every element once per name, several times per page; one pass in Python over
the marked elements, then regular expressions on their short attribute strings, costs a
few milliseconds on a large page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from newsletter.articles.media import remove_all


@dataclass(frozen=True, slots=True)
class Marked:
    element: etree._Element
    marks: str  # class and id, lower-case, space-separated
    itemprop: str
    rel: str


class Marks:
    def __init__(self, root: etree._Element):
        found: list[Marked] = []
        for element in root.iter(etree.Element):
            get = element.get
            klass, ident, itemprop, rel = get("class"), get("id"), get("itemprop"), get("rel")
            if klass or ident or itemprop or rel:
                marks = f"{klass or ''} {ident or ''}".strip().lower()
                found.append(Marked(element, marks, (itemprop or "").lower(), rel or ""))
        self.entries = found

    def matching(self, pattern: re.Pattern[str], *, itemprop: str = "", rel: str = "") -> list:
        """Elements whose class/id match `pattern` (or with that itemprop / rel), in page
        order."""
        return [
            entry.element
            for entry in self.entries
            if (entry.marks and pattern.search(entry.marks))
            or (itemprop and entry.itemprop == itemprop)
            or (rel and rel in entry.rel.split())
        ]


def drop_widgets(root: etree._Element, pattern: re.Pattern[str]) -> Marks:
    """Remove elements whose class or id matches `pattern`, but never the document, the
    main content, a container holding an `<h1>` or paragraphs of text (an article inside
    `<div class="share-zone">` is still the article); the marks of what is left."""
    marks = Marks(root)
    widgets = []
    for entry in marks.entries:
        element = entry.element
        if not pattern.search(entry.marks) or element.tag in ("html", "body", "main", "article"):
            continue
        if element.find(".//h1") is not None or len(element.findall(".//p")) >= 3:
            continue
        widgets.append(element)
    if widgets:
        remove_all(widgets)
        marks.entries = [e for e in marks.entries if e.element.getroottree().getroot() is root]
    return marks
