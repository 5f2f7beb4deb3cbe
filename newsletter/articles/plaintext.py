"""Plain-text articles, as clinics paste them from their blog editor.

Shape inferred (see articles/neuroplasticity-ketamine.txt):

    <image caption line>          optional: a sentence-case description of the hero image
    <title>
    <paragraphs and short heading lines, separated by blank lines>
    ... contact us at ...         the closing call to action
    Sources:                      optional trailing list, possibly empty
"""

from __future__ import annotations

import re
from dataclasses import replace

from newsletter.articles.inference import (
    complete,
    find_call_to_action,
    is_sources_marker,
    linkify,
    parse_source,
)
from newsletter.articles.model import Article, Block, ListBlock, Paragraph, Section, Source

_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)])\s+(.*)$")
_CAPTION_PREFIX = re.compile(r"^\s*(image|photo|picture|caption|illustration)\s*:\s*", re.I)
_FINAL_PUNCTUATION = tuple(".!?:;,…\"”'’)")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or",
                "the", "to", "vs", "via", "with", "from", "into", "how", "is", "its"}  # fmt: skip


def parse_text(text: str, *, where: str) -> Article:
    lines = [line.rstrip() for line in text.splitlines()]
    lines, sources = _split_sources(lines)
    blocks = _blocks(lines)
    if not blocks:
        return complete(Article(title="", sections=()), where=where)

    caption = ""
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
    ):
        caption = first[0].strip()
        blocks = blocks[1:]
    if not blocks:
        return complete(Article(title="", sections=()), where=where)

    title_block = blocks[0]
    title = " ".join(line.strip() for line in title_block[:1])
    body = ([title_block[1:]] if len(title_block) > 1 else []) + blocks[1:]

    sections: list[Section] = []
    heading: str | None = None
    current: list[Block] = []
    for block in body:
        if _is_heading(block[0]) and (len(block) == 1 or not _is_heading(block[1])):
            if current or heading is not None:
                sections.append(Section(heading, tuple(current)))
            heading, current = block[0].strip(), []
            block = block[1:]
            if not block:
                continue
        current.extend(_body_blocks(block))
    if current or heading is not None:
        sections.append(Section(heading, tuple(current)))

    article = Article(
        title=title,
        sections=tuple(sections),
        hero_alt=caption,
        sources=tuple(sources),
        format="text",
    )
    cta = find_call_to_action(article.sections)
    if cta:
        article = replace(article, call_to_action=cta)
    return complete(article, where=where)


def _split_sources(lines: list[str]) -> tuple[list[str], list[Source]]:
    """Cut a trailing `Sources:` section (one source per line, or inline after the colon)."""
    for index in range(len(lines) - 1, -1, -1):
        match = is_sources_marker(lines[index])
        if not match:
            continue
        rest = [match.group(2)] if match.group(2).strip() else []
        rest += [line for line in lines[index + 1 :] if line.strip()]
        if len(rest) == 1 and ";" in rest[0]:
            rest = rest[0].split(";")
        return lines[:index], [parse_source(item) for item in rest if item.strip()]
    return lines, []


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


def _body_blocks(lines: list[str]) -> list[Block]:
    if all(_LIST_ITEM.match(line) for line in lines):
        ordered = bool(re.match(r"^\s*\d", lines[0]))
        items = tuple(linkify(_LIST_ITEM.match(line).group(1).strip()) for line in lines)  # type: ignore[union-attr]
        return [ListBlock(items=items, ordered=ordered)]
    # Lines that each end a sentence are separate paragraphs; otherwise the text was hard-wrapped.
    if len(lines) > 1 and all(line.rstrip().endswith((".", "!", "?")) for line in lines[:-1]):
        return [Paragraph(linkify(line.strip())) for line in lines]
    blocks: list[Block] = [Paragraph(linkify(" ".join(line.strip() for line in lines)))]
    return blocks


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
