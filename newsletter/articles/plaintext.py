"""Plain-text articles, as clinics paste them from their blog editor or copy them from a
page.

Shape inferred (see articles/neuroplasticity-ketamine.txt):

    <page chrome>                 optional: breadcrumbs, bylines, share words (dropped;
                                  the byline's author and date are kept)
    <image caption line>          optional: a sentence-case description of the hero image
    <title>
    <paragraphs, lists and short heading lines, separated by blank lines>
    ... contact us at ...         the closing call to action
    Sources:                      optional trailing list (or `References`, or `[1] …` lines)
    <page chrome>                 optional: share widgets, related posts, footers (dropped)
"""

from __future__ import annotations

import re
from dataclasses import replace

from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    linkify,
    parse_source,
)
from newsletter.articles.model import Article, Block, ListBlock, Paragraph, Section, Source
from newsletter.articles.text_chrome import strip_chrome

_LIST_ITEM = re.compile(r"^\s*(?:[-*•·◦▪‣–]|\d{1,3}[.)]|\(\d{1,3}\))\s+(.*)$")
_ORDERED = re.compile(r"^\s*(?:\d{1,3}[.)]|\(\d{1,3}\))")
_CAPTION_PREFIX = re.compile(r"^\s*(image|photo|picture|caption|illustration)\s*:\s*", re.I)
_FINAL_PUNCTUATION = tuple(".!?:;,…\"”'’)")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or",
                "the", "to", "vs", "via", "with", "from", "into", "how", "is", "its"}  # fmt: skip
_SOURCES_HEADING = re.compile(
    r"^\s*(sources?|references?|citations?|bibliography|works cited|footnotes|"
    r"further reading|literature|research)\s*:?\s*(.*)$",
    re.I,
)
_NOTE_LINE = re.compile(r"^\s*\[(\d{1,3})\]\s*\S")
_NOTE_MARKER = re.compile(r"\[(\d{1,3})\]")


def parse_text(text: str, *, where: str) -> Article:
    lines = [line.replace("\u00a0", " ").rstrip() for line in text.splitlines()]
    stripped = strip_chrome(lines)
    lines = stripped.lines
    lines, sources = _split_sources(lines)
    blocks = _blocks(lines)
    if not blocks:
        return complete(Article(title="", sections=()), where=where)

    caption = ""
    first = blocks[0]
    if (
        len(first) == 2
        and not stripped.title
        and _is_heading(first[0])
        and _is_heading(first[1], allow_question=True)
        and not _is_title_case(first[0])
        and _is_title_case(first[1])
    ):
        blocks = [[first[0]], [first[1]], *blocks[1:]]  # caption and title, no blank line
        first = blocks[0]
    if _CAPTION_PREFIX.match(first[0]):
        caption = _CAPTION_PREFIX.sub("", first[0]).strip()
        blocks = ([first[1:]] if len(first) > 1 else []) + blocks[1:]
    elif (
        len(blocks) >= 3
        and len(first) == 1
        and len(blocks[1]) == 1
        and _is_heading(first[0])
        and _is_heading(blocks[1][0], allow_question=True)
        and not _is_title_case(first[0])
        and not stripped.title
    ):
        caption = first[0].strip()
        blocks = blocks[1:]
    if not blocks:
        return complete(Article(title="", sections=()), where=where)

    title_block = blocks[0]
    title = " ".join(line.strip() for line in title_block[:1])
    body = ([title_block[1:]] if len(title_block) > 1 else []) + blocks[1:]
    if stripped.title and not _same(title, stripped.title) and not _is_heading(title):
        # the breadcrumb's last step was the headline; the first line is already text
        body, title = blocks, stripped.title

    sections: list[Section] = []
    heading: str | None = None
    current: list[Block] = []
    previous: list[str] | None = None
    for block in body:
        if (
            _is_heading(block[0])
            and (len(block) == 1 or not _is_heading(block[1]))
            and not _LIST_ITEM.match(block[0])
        ):
            if current or heading is not None:
                sections.append(Section(heading, _merge_lists(current)))
            heading, current = block[0].strip(), []
            block = block[1:]
            if not block:
                previous = None
                continue
        current.extend(_body_blocks(block, previous))
        previous = block
    if current or heading is not None:
        sections.append(Section(heading, _merge_lists(current)))

    article = Article(
        title=title,
        sections=tuple(sections),
        hero_alt=caption,
        sources=tuple(sources),
        author=stripped.author,
        date=stripped.date,
        format="text",
    )
    cta = find_call_to_action(article.sections)
    if cta:
        article = replace(article, call_to_action=cta)
    return complete(article, where=where)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _split_sources(lines: list[str]) -> tuple[list[str], list[Source]]:
    """A trailing `Sources:` / `References` section (one source per line, or inline after
    the colon), or trailing `[1] …` notes that the text refers to."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        match = _SOURCES_HEADING.match(line)
        if not match or (":" not in line and len(line.split()) > 3):
            continue
        if ":" not in line and not any(item.strip() for item in lines[index + 1 :]):
            continue
        rest = [match.group(2)] if match.group(2).strip() else []
        rest += [item for item in lines[index + 1 :] if item.strip()]
        if len(rest) == 1 and ";" in rest[0]:
            rest = rest[0].split(";")
        return lines[:index], [_source(item) for item in rest if item.strip()]
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (_NOTE_LINE.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    notes = [line for line in lines[start:end] if line.strip()]
    body_markers = set(_NOTE_MARKER.findall("\n".join(lines[:start])))
    if notes and body_markers & {m.group(1) for n in notes if (m := _NOTE_LINE.match(n))}:
        return lines[:start], [_source(note) for note in notes]
    return lines, []


def _source(line: str) -> Source:
    found = _LIST_ITEM.match(line)
    if found and not _NOTE_LINE.match(line):
        line = found.group(1)
    return parse_source(line)


def _blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _body_blocks(lines: list[str], previous: list[str] | None) -> list[Block]:
    """Runs of list items become lists; the rest paragraphs (hard wraps joined)."""
    if _unmarked_list(lines, previous):
        return [ListBlock(items=tuple(linkify(line.strip()) for line in lines))]
    blocks: list[Block] = []
    run: list[str] = []
    items: list[str] = []
    ordered = False
    for line in [*lines, None]:
        item = _LIST_ITEM.match(line) if line is not None else None
        if item:
            if run:
                blocks.extend(_paragraphs(run))
                run = []
            if not items:
                ordered = bool(_ORDERED.match(line or ""))
            items.append(item.group(1).strip())
            continue
        if items and line is not None and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()  # an item's wrapped continuation
            continue
        if items:
            blocks.append(ListBlock(items=tuple(linkify(i) for i in items), ordered=ordered))
            items = []
        if line is not None:
            run.append(line)
    if run:
        blocks.extend(_paragraphs(run))
    return blocks


def _paragraphs(lines: list[str]) -> list[Block]:
    # Lines that each end a sentence are separate paragraphs; otherwise the text was hard-wrapped.
    if len(lines) > 1 and all(line.rstrip().endswith((".", "!", "?")) for line in lines[:-1]):
        return [Paragraph(linkify(line.strip())) for line in lines]
    return [Paragraph(linkify(" ".join(line.strip() for line in lines)))]


def _unmarked_list(lines: list[str], previous: list[str] | None) -> bool:
    """List items copied without their bullets: short lines under an introducing colon,
    or three or more short capitalised lines without sentence punctuation."""
    if len(lines) < 2 or any(len(line.split()) > 14 for line in lines):
        return False
    introduced = previous is not None and previous[-1].rstrip().endswith(":")
    if introduced:
        return True
    return len(lines) >= 3 and all(
        len(line.split()) <= 7
        and line.strip()[:1].isupper()
        and not line.rstrip().endswith((".", ",", ";"))
        for line in lines
    )


def _merge_lists(blocks: list[Block]) -> tuple[Block, ...]:
    """Items separated by blank lines are still one list."""
    merged: list[Block] = []
    for block in blocks:
        last = merged[-1] if merged else None
        if (
            isinstance(block, ListBlock)
            and isinstance(last, ListBlock)
            and last.ordered == block.ordered
        ):
            merged[-1] = ListBlock(items=last.items + block.items, ordered=last.ordered)
        else:
            merged.append(block)
    return tuple(merged)


def _is_heading(line: str, *, allow_question: bool = False) -> bool:
    """Short lines without final punctuation are headings."""
    text = line.strip()
    if not text or len(text) > 100 or len(text.split()) > 14 or _LIST_ITEM.match(text):
        return False
    if allow_question and text.endswith("?"):
        return True
    return not text.endswith(_FINAL_PUNCTUATION)


def _is_title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", line)[1:] if w.lower() not in _SMALL_WORDS]
    if not words:
        return True
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised / len(words) >= 0.6
