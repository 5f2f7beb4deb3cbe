"""Blocks → an article's shape: the title heading out of the body, the hero image, a trailing
sources list, sections divided by the highest heading level present.

Shared by the Markdown and HTML importers (both read their markup into the same blocks).
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from newsletter.articles.inference import is_sources_marker, parse_source
from newsletter.articles.model import (
    Block,
    Heading,
    Image,
    ListBlock,
    Paragraph,
    Quote,
    Section,
    Source,
    plain,
)
from newsletter.articles.reader import block_inline

_SPACE = re.compile(r"\s+")
_SIZE_SUFFIX = re.compile(r"-(?:\d+x\d+|scaled|e\d{10,})(?=\.\w+$)")


def same_text(a: str, b: str) -> bool:
    return _SPACE.sub(" ", a).strip().casefold() == _SPACE.sub(" ", b).strip().casefold()


def drop_title_heading(blocks: list[Block], title: str) -> list[Block]:
    """The first heading, before any text, that repeats the title."""
    for index, block in enumerate(blocks):
        if isinstance(block, Heading) and same_text(block.text, title):
            return blocks[:index] + blocks[index + 1 :]
        if isinstance(block, Paragraph | ListBlock | Quote):
            break
    return blocks


def split_sources(blocks: list[Block]) -> tuple[list[Block], tuple[Source, ...]]:
    """A trailing 'Sources'/'References' heading or paragraph, and the list after it."""
    index = len(blocks) - 1
    match = None
    while index >= 0:
        block = blocks[index]
        text = block.text if isinstance(block, Heading | Paragraph) else ""
        match = is_sources_marker(text if ":" in text else text + ":") if text else None
        if match and (isinstance(block, Heading) or len(match.group(0)) < 400):
            break
        if not isinstance(block, Paragraph | ListBlock):
            return blocks, ()
        index -= 1
    if index < 0:
        return blocks, ()
    sources: list[Source] = []
    first = match.group(2).strip() if match else ""
    if first:
        sources.extend(parse_source(part) for part in first.split(";") if part.strip())
    for block in blocks[index + 1 :]:
        inlines = block.items if isinstance(block, ListBlock) else (block_inline(block),)
        for inline in inlines:
            source = parse_source(plain(inline))
            link = next((s.href for s in inline if s.href), None)
            if source.text:
                sources.append(replace(source, url=link or source.url))
    return blocks[:index], tuple(sources)


def hero(
    blocks: list[Block], declared: str | None, declared_alt: str, *, anywhere: bool
) -> tuple[str | None, str, list[Block]]:
    """The declared image (og:image, front matter), else the first image (`anywhere`) or
    one that opens the article; that image leaves the body (with its alt text)."""
    images = [b for b in blocks if isinstance(b, Image)]
    first = images[0] if images else None
    opens = first is not None and not any(
        isinstance(b, Paragraph | ListBlock | Quote) for b in blocks[: blocks.index(first)]
    )
    alt = declared_alt
    chosen = declared
    if chosen is None and first is not None and (opens or anywhere) and first.href is None:
        chosen = first.src
    if first is not None and chosen is not None and same_image(first.src, chosen):
        alt = alt or first.alt
        blocks = [b for b in blocks if b is not first]
    return chosen, alt, blocks


def same_image(a: str, b: str | None) -> bool:
    """Same picture, possibly another size or CDN: compare the file names."""
    return b is not None and file_name(a) != "" and file_name(a) == file_name(b)


def file_name(url: str) -> str:
    try:
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].lower()
    except ValueError:
        return ""
    return _SIZE_SUFFIX.sub("", name)  # WordPress resizes: photo-1024x683.jpg, photo-scaled.jpg


def sections(blocks: list[Block]) -> tuple[Section, ...]:
    """The highest heading level present divides sections; deeper ones stay as blocks."""
    levels = [b.level for b in blocks if isinstance(b, Heading)]
    top = min(levels, default=0)
    found: list[Section] = []
    heading: str | None = None
    current: list[Block] = []
    for block in blocks:
        if isinstance(block, Heading) and block.level == top:
            if current or heading is not None:
                found.append(Section(heading, tuple(current)))
            heading, current = block.text, []
        else:
            current.append(block)
    if current or heading is not None:
        found.append(Section(heading, tuple(current)))
    return tuple(found)
