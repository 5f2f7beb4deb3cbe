"""The flat template context: plain strings and lists only, built from an Article.

Inline content is turned into escaped HTML (for MJML) and wrapped text with numbered link
references (for the plain-text part) here, in Python, so templates never see raw markup
and both parts come from the same Article.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from newsletter.articles.model import (
    Article,
    Block,
    Heading,
    Image,
    Inline,
    ListBlock,
    Paragraph,
    Quote,
)
from newsletter.config import Settings
from newsletter.rendering.links import LinkTable

TEXT_WIDTH = 72


@dataclass
class TextLinks:
    """Numbered link list of the plain-text part, `[n]` markers in reading order."""

    hrefs: list[str] = field(default_factory=list)

    def number(self, href: str) -> int:
        if href not in self.hrefs:
            self.hrefs.append(href)
        return self.hrefs.index(href) + 1

    def as_list(self) -> list[dict[str, Any]]:
        return [{"n": n, "href": href} for n, href in enumerate(self.hrefs, 1)]


@dataclass
class ContextBuilder:
    settings: Settings
    links: LinkTable
    text_links: TextLinks = field(default_factory=TextLinks)

    def brand(self) -> dict[str, str]:
        s = self.settings
        return {
            "clinic_name": s.clinic_name,
            "postal_address": s.postal_address,
            "logo_url": s.logo_url,
            "brand_color": s.brand_color,
            "accent_color": s.accent_color,
            "text_color": s.text_color,
            "background_color": s.background_color,
            "website_href": self.links.href(s.website_url, label=s.clinic_name),
        }

    def inline_html(self, inline: Inline) -> Markup:
        out = []
        colour = self.settings.accent_color
        for span in inline:
            piece = escape(span.text)
            if span.bold:
                piece = Markup("<strong>") + piece + Markup("</strong>")
            if span.italic:
                piece = Markup("<em>") + piece + Markup("</em>")
            if span.href:
                href = self.links.href(span.href, label=span.text)
                # Every interpolated value is escaped (piece is already Markup; colour is a
                # validated #RRGGBB).
                piece = Markup(  # noqa: S704
                    f'<a href="{escape(href)}" style="color:{colour};'
                    f'text-decoration:underline;">{piece}</a>'
                )
            out.append(piece)
        return Markup("").join(out)

    def inline_text(self, inline: Inline) -> str:
        out = []
        for span in inline:
            out.append(span.text)
            if span.href and span.href.startswith(("http://", "https://")):
                href = self.links.href(span.href, label=span.text)
                out.append(f" [{self.text_links.number(href)}]")
            elif span.href and span.href.startswith("mailto:"):
                out.append(f" ({span.href.removeprefix('mailto:')})")
        return " ".join("".join(out).split())

    def block(self, block: Block) -> dict[str, Any]:
        if isinstance(block, Paragraph):
            return {
                "kind": "paragraph",
                "html": self.inline_html(block.inline),
                "text": wrap(self.inline_text(block.inline)),
            }
        if isinstance(block, ListBlock):
            items = [(self.inline_html(i), self.inline_text(i)) for i in block.items]
            marker = (lambda n: f"{n}. ") if block.ordered else (lambda n: "- ")
            text = "\n".join(
                wrap(t, initial=marker(n), subsequent="   " if block.ordered else "  ")
                for n, (_, t) in enumerate(items, 1)
            )
            return {
                "kind": "list",
                "ordered": block.ordered,
                "items_html": [h for h, _ in items],
                "text": text,
            }
        if isinstance(block, Quote):
            paras = [(self.inline_html(p), self.inline_text(p)) for p in block.paragraphs]
            return {
                "kind": "quote",
                "paragraphs_html": [h for h, _ in paras],
                "text": "\n\n".join(wrap(t, initial="> ", subsequent="> ") for _, t in paras),
            }
        if isinstance(block, Image):
            href = self.links.href(block.href) if block.href else None
            text = f"[Image: {block.alt}]" if block.alt else ""
            if href:
                text = f"{text or '[Image]'} [{self.text_links.number(href)}]"
            if block.caption:
                text = f"{text}\n{wrap(block.caption)}" if text else wrap(block.caption)
            return {
                "kind": "image",
                "src": block.src,
                "alt": block.alt,
                "caption": block.caption,
                "href": href,
                "text": text,
            }
        if isinstance(block, Heading):
            return {"kind": "heading", "html": escape(block.text), "text": block.text}
        raise TypeError(f"unknown block {block!r}")

    def article(self, article: Article) -> dict[str, Any]:
        sections = [
            {"heading": s.heading, "blocks": [self.block(b) for b in s.blocks]}
            for s in article.sections
        ]
        cta = None
        if article.call_to_action:
            target = article.call_to_action.url or self.settings.booking_url
            href = self.links.href(target, "consultation", label=article.call_to_action.label)
            cta = {
                "text": article.call_to_action.text,
                "label": article.call_to_action.label,
                "href": href,
                "text_ref": self.text_links.number(href),
            }
        sources = []
        for source in article.sources:
            source_href = self.links.href(source.url, label=source.text) if source.url else None
            sources.append(
                {
                    "text": source.text,
                    "href": source_href,
                    "text_ref": self.text_links.number(source_href) if source_href else None,
                }
            )
        url = (
            self.links.href(article.canonical_url, label=article.title)
            if article.canonical_url
            else None
        )
        return {
            "title": article.title,
            "summary": article.summary,
            "preheader": article.preheader,
            "preheader_text": wrap(article.preheader, initial="  ", subsequent="  "),
            "hero_image": article.hero_image,
            "hero_alt": article.hero_alt,
            "author": article.author,
            "date": f"{article.date:%B} {article.date.day}, {article.date:%Y}"
            if article.date
            else "",
            "sections": sections,
            "cta": cta,
            "sources": sources,
            "url": url,
            "tags": list(article.tags),
        }


def wrap(text: str, *, initial: str = "", subsequent: str = "") -> str:
    """Wrap for the text part without ever breaking a URL or a word."""
    return (
        textwrap.fill(
            text,
            width=TEXT_WIDTH,
            initial_indent=initial,
            subsequent_indent=subsequent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        or initial.rstrip()
    )
