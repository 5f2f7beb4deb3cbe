"""The Article: one structured value every importer produces and every template consumes.

Inline text is kept as spans (text with an optional link and emphasis) rather than HTML,
so the HTML and plain-text parts are both generated from the same data and no markup from
an imported page ever reaches a template unescaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Span:
    """A run of inline text; `href` makes it a link."""

    text: str
    href: str | None = None
    bold: bool = False
    italic: bool = False


Inline = tuple[Span, ...]


def plain(inline: Inline) -> str:
    """The text of some inline content, without links or emphasis."""
    return "".join(span.text for span in inline)


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    level: int = 3
    kind: Literal["heading"] = "heading"


@dataclass(frozen=True, slots=True)
class Paragraph:
    inline: Inline
    kind: Literal["paragraph"] = "paragraph"

    @property
    def text(self) -> str:
        return plain(self.inline)


@dataclass(frozen=True, slots=True)
class ListBlock:
    items: tuple[Inline, ...]
    ordered: bool = False
    kind: Literal["list"] = "list"


@dataclass(frozen=True, slots=True)
class Quote:
    paragraphs: tuple[Inline, ...]
    kind: Literal["quote"] = "quote"


@dataclass(frozen=True, slots=True)
class Image:
    """A picture in the body; `href` links it (an embedded video's thumbnail → the video)."""

    src: str
    alt: str = ""
    caption: str = ""
    href: str | None = None
    kind: Literal["image"] = "image"


Block = Heading | Paragraph | ListBlock | Quote | Image


@dataclass(frozen=True, slots=True)
class Section:
    """A heading (None for the opening section) and the blocks under it."""

    heading: str | None
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class CallToAction:
    """The article's closing invitation; becomes the 'Book a consultation' button.

    `url` is the article's own target when it has one; otherwise the clinic's booking URL
    is used at render time.
    """

    text: str
    url: str | None = None
    label: str = "Book a consultation"


@dataclass(frozen=True, slots=True)
class Source:
    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    sections: tuple[Section, ...]
    summary: str = ""
    hero_image: str | None = None
    hero_alt: str = ""
    call_to_action: CallToAction | None = None
    sources: tuple[Source, ...] = ()
    author: str = ""
    date: dt.date | None = None
    canonical_url: str | None = None
    tags: tuple[str, ...] = ()
    format: str = "text"
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def paragraphs(self) -> list[Paragraph]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Paragraph)]

    @property
    def headings(self) -> list[str]:
        return [s.heading for s in self.sections if s.heading]

    @property
    def preheader(self) -> str:
        """The summary, else the first paragraph, cut at a word boundary for inbox previews."""
        text = self.summary or next((p.text for p in self.paragraphs if p.text.strip()), "")
        return shorten(" ".join(text.split()), 140)

    def links(self) -> list[str]:
        """Every link target in reading order (body, call to action, sources)."""
        found: list[str] = []
        for section in self.sections:
            for block in section.blocks:
                if isinstance(block, Image) and block.href:
                    found.append(block.href)
                for inline in _inlines(block):
                    found.extend(span.href for span in inline if span.href)
        if self.call_to_action and self.call_to_action.url:
            found.append(self.call_to_action.url)
        found.extend(source.url for source in self.sources if source.url)
        return found


def _inlines(block: Block) -> tuple[Inline, ...]:
    if isinstance(block, Paragraph):
        return (block.inline,)
    if isinstance(block, ListBlock):
        return block.items
    if isinstance(block, Quote):
        return block.paragraphs
    return ()


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + "…"
