"""Compile an email once (Jinja → MJML → HTML, and the text part), then personalise cheaply.

`compile_email` does all the expensive work with placeholder tags where per-recipient values
go; `CompiledEmail.personalize` fills them in microseconds, and `substitutions` gives the
same values to SendGrid, so a million recipients never recompile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from newsletter.articles.model import Article, shorten
from newsletter.config import Settings
from newsletter.errors import ValidationError
from newsletter.rendering import isolated
from newsletter.rendering.context import ContextBuilder
from newsletter.rendering.links import (
    Link,
    LinkPolicy,
    LinkTable,
    before_body_end,
    check_campaign_key,
    default_campaign_key,
    open_pixel_html,
    redirect_href,
    with_honeypot,
)
from newsletter.rendering.placeholders import (
    FIRST_NAME_HTML,
    FIRST_NAME_TEXT,
    PREFERENCES_TOKEN,
    UNSUBSCRIBE_TOKEN,
    FillableText,
    Recipient,
    substitutions,
)
from newsletter.rendering.sandbox import RenderLimits

TEMPLATES_WITH_ARTICLES = ("article", "digest")


@dataclass(frozen=True)
class PersonalEmail:
    """One recipient's email, exactly as they receive it."""

    subject: str
    preheader: str
    sender: str
    reply_to: str
    html: str
    text: str
    list_unsubscribe: str


@dataclass(frozen=True)
class CompiledEmail:
    template: str
    subject: str
    preheader: str
    sender_name: str
    sender_email: str
    reply_to: str
    html: FillableText
    text: FillableText
    links: tuple[Link, ...]
    campaign_key: str
    unsubscribe_url: str  # with the unsubscribe-token tag
    first_name_fallback: str
    warnings: tuple[str, ...] = ()

    @property
    def sender(self) -> str:
        return f"{self.sender_name} <{self.sender_email}>"

    def substitutions(self, recipient: Recipient) -> dict[str, str]:
        return substitutions(recipient, fallback=self.first_name_fallback)

    def personalize(self, recipient: Recipient) -> PersonalEmail:
        values = self.substitutions(recipient)
        return PersonalEmail(
            subject=self.subject,
            preheader=self.preheader,
            sender=self.sender,
            reply_to=self.reply_to,
            html=self.html.fill(values),
            text=self.text.fill(values),
            list_unsubscribe=self.unsubscribe_url.replace(
                UNSUBSCRIBE_TOKEN, recipient.unsubscribe_token
            ),
        )


def single_line(value: str, *, name: str) -> str:
    """Header values: CR or LF would inject headers."""
    if "\r" in value or "\n" in value:
        raise ValidationError(
            f"the {name} contains a line break", where=name, fix=f"write the {name} on one line"
        )
    return value.strip()


def compile_email(
    articles: Sequence[Article],
    settings: Settings,
    *,
    template: str = "article",
    campaign_key: str | None = None,
    subject: str | None = None,
    preheader: str | None = None,
    today: dt.date,
) -> CompiledEmail:
    """Compile the `article` (one article) or `digest` (several) template."""
    if not articles:
        raise ValidationError("no article given", fix="pass at least one article file")
    if template == "article" and len(articles) > 1:
        raise ValidationError(
            f"the article template takes one article, {len(articles)} given",
            where="--template",
            fix="use --template digest for several articles",
        )
    key = check_campaign_key(campaign_key or default_campaign_key(today))
    first = articles[0]
    table = LinkTable(
        LinkPolicy(
            settings.booking_url,
            settings.website_url,
            settings.public_url,
            first.canonical_url if len(articles) == 1 else None,
        ),
        campaign_key=key,
        click_tracking=settings.click_tracking,
    )
    builder = ContextBuilder(settings, table)
    subject = single_line(
        subject or (first.title if len(articles) == 1 else f"News from {settings.clinic_name}"),
        name="subject",
    )
    if preheader is not None:  # chosen in the admin
        preheader = single_line(preheader, name="preheader")
    elif len(articles) == 1:
        preheader = first.preheader
    else:
        preheader = shorten(" · ".join(a.title for a in articles), 140)
    article_contexts = [builder.article(a) for a in articles]
    warnings = tuple(w for a in articles for w in a.warnings)
    return compile_template(
        template,
        settings,
        subject=subject,
        preheader=preheader,
        builder=builder,
        extra={"article": article_contexts[0], "articles": article_contexts},
        warnings=warnings,
    )


def compile_template(
    template: str,
    settings: Settings,
    *,
    subject: str,
    preheader: str,
    extra: dict[str, Any],
    builder: ContextBuilder | None = None,
    warnings: tuple[str, ...] = (),
) -> CompiledEmail:
    """Render `<template>.mjml` and `<template>.txt` with the brand, email and `extra` values."""
    if builder is None:
        table = LinkTable(
            LinkPolicy(settings.booking_url, settings.website_url, settings.public_url),
            campaign_key="transactional",
        )
        builder = ContextBuilder(settings, table)
    booking = builder.links.href(settings.booking_url, "consultation")
    subject = single_line(subject, name="subject")
    context: dict[str, Any] = {
        "brand": builder.brand(),
        "email": _email_context(settings, subject, preheader),
        "booking": {"href": booking, "text_ref": builder.text_links.number(booking)},
        **extra,
    }
    html, text = _render_pair(settings, template, context, builder)
    # Every header value is the product's own (the template renders in another process and
    # sees a read-only copy): templates shape the body, never the envelope.
    honeypot = builder.links.honeypot()
    if honeypot is not None:  # the HTML part only: no person sees it (docs/tracking.md)
        html = with_honeypot(html, redirect_href(settings.public_url, honeypot.id))
    if settings.open_tracking and builder.links.campaign_key != "transactional":
        html = before_body_end(html, open_pixel_html(settings.public_url))
    return CompiledEmail(
        template=template,
        subject=subject,
        preheader=preheader,
        sender_name=single_line(settings.sender_name, name="sender name"),
        sender_email=settings.sender_email,
        reply_to=settings.reply_to,
        html=FillableText(html),
        text=FillableText(text),
        links=(*builder.links.links, *((honeypot,) if honeypot else ())),
        campaign_key=builder.links.campaign_key,
        unsubscribe_url=context["email"]["unsubscribe_url"],
        first_name_fallback=settings.first_name_fallback,
        warnings=warnings,
    )


def _email_context(settings: Settings, subject: str, preheader: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "preheader": preheader,
        "lang": "en",
        "footer_reason": settings.footer_reason_text,
        "unsubscribe_url": f"{settings.public_url}/u/{UNSUBSCRIBE_TOKEN}",
        "preferences_url": f"{settings.public_url}/p/{PREFERENCES_TOKEN}",
        "first_name": FIRST_NAME_HTML,
    }


def _render_pair(
    settings: Settings, template: str, context: dict[str, Any], builder: ContextBuilder
) -> tuple[str, str]:
    """Render `<template>.mjml` → HTML and `<template>.txt` → text with the same context, in
    the template worker process (`isolated`: sandboxed, bounded, with a hard deadline)."""
    text_overrides = {
        "email": {**context["email"], "first_name": FIRST_NAME_TEXT},
        "links": builder.text_links.as_list(),
    }
    html, text = isolated.render_pair(
        settings.templates_path,
        template,
        context,
        text_overrides,
        timeout_s=settings.render_timeout_s,
        limits=RenderLimits(max_output_bytes=settings.render_max_output_bytes),
    )
    return html, _tidy_text(text)


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, no trailing spaces."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"
