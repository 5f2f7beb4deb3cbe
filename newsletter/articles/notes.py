"""Footnotes as pages write them: a marker in the text, the note at the end.

A marker (`<sup>1</sup>`, `<sup><a href="#fn1">1</a></sup>`, Substack's
`<a class="footnote-anchor">1</a>`) becomes the text "[1]"; the notes (a footnotes section
or list, Substack's `<div class="footnote">`) become "[1] …" paragraphs under a "Sources"
heading at the end, which the importers turn into the sources list.
"""

from __future__ import annotations

import re

from lxml import etree

from newsletter.articles.media import remove_all, remove_keep_tail

_NUMBER = re.compile(r"^\s*\[?(\d{1,3})\]?\s*$")
_NOTE_CONTAINERS = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' footnotes ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' footnote-list ')"
    " or @role='doc-endnotes']"
)
_SUBSTACK_NOTES = "//div[contains(concat(' ', normalize-space(@class), ' '), ' footnote ')]"
_BACK_LINKS = (
    ".//a[contains(@class, 'footnote-back') or contains(@class, 'reversefootnote')"
    " or @role='doc-backlink' or contains(@class, 'footnote-return')]"
)


def rewrite_footnotes(root: etree._Element) -> None:
    for marker in list(root.iter("sup", "a")):
        if marker.getparent() is None:
            continue
        if marker.tag == "a" and "footnote-anchor" not in (marker.get("class") or ""):
            continue
        number = _NUMBER.match("".join(marker.itertext()))
        if number and (marker.tag == "a" or _is_marker(marker)):
            # in place: removing thousands of markers one by one would cost O(n²)
            marker.clear(keep_tail=True)
            marker.tag = "span"
            marker.text = f"[{number.group(1)}]"
    notes = _collect(root)
    if not notes:
        return
    first, items = notes
    parent = first.getparent()
    if parent is None:
        return
    heading = etree.Element("h4")
    heading.text = "Sources"
    parent.insert(parent.index(first), heading)
    anchor = heading
    for label, text_element in items:
        etree.strip_tags(text_element, "p", "div", "span")
        paragraph = etree.Element("p")
        paragraph.text = f"[{label}] " if label else ""
        for child in list(text_element):
            paragraph.append(child)
        if text_element.text:
            paragraph.text += text_element.text
        anchor.addnext(paragraph)
        anchor = paragraph
    remove_keep_tail(first)


def _is_marker(sup: etree._Element) -> bool:
    links = list(sup.iter("a"))
    return not links or all((a.get("href") or "").startswith("#") for a in links)


Notes = tuple[etree._Element, list[tuple[str, etree._Element]]]


def _collect(root: etree._Element) -> Notes | None:
    containers = root.xpath(_NOTE_CONTAINERS)
    if containers:
        container = containers[-1]
        remove_all(container.xpath(_BACK_LINKS))
        items = []
        for index, item in enumerate(container.iter("li"), 1):
            holder = etree.Element("span")
            holder.text = item.text
            for child in list(item):
                holder.append(child)
            items.append((str(index), holder))
        return (container, items) if items else None
    notes = root.xpath(_SUBSTACK_NOTES)
    if not notes:
        return None
    items = []
    for note in notes:
        numbers = [a for a in note.iter("a") if "footnote-number" in (a.get("class") or "")]
        number = "".join(numbers[0].itertext()).strip() if numbers else ""
        content = next(
            (d for d in note.iter("div") if "footnote-content" in (d.get("class") or "")), note
        )
        holder = etree.Element("span")
        for child in list(content):
            holder.append(child)
        items.append((number, holder))
    first = notes[0]
    for note in notes[1:]:
        remove_keep_tail(note)
    return first, items
