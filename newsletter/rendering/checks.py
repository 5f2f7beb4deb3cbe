"""The pre-send checklist, run on an email exactly as a recipient gets it.

A failed check blocks sending; a warning is shown but does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import lxml.html

from newsletter.delivery.headers import MAX_ADDRESS, MAX_LINE, MAX_URL, first_problem
from newsletter.rendering.compose import PersonalEmail
from newsletter.rendering.placeholders import TAGS

GMAIL_CLIP_BYTES = 102 * 1024
MAX_SUBJECT = 78
_LEFTOVERS = ("{{", "{%", "<mj-")
_ATTR_WITH_BACKSLASH_N = re.compile(r"""=\s*("[^"]*\\n[^"]*"|'[^']*\\n[^']*')""")
Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Expectations:
    """What the checks compare against: the clinic's settings, not the email itself."""

    public_url: str
    postal_address: str
    unsubscribe_valid: Callable[[str], bool]  # does this /u/ token verify?


def run_checks(email: PersonalEmail, expect: Expectations) -> list[Check]:
    doc = lxml.html.document_fromstring(email.html.encode())
    hrefs = [a.get("href", "") for a in doc.iter("a")]
    checks = [
        _size(email),
        _alt_text(doc, expect.public_url),
        _images_https(doc),
        *_links(hrefs, expect.public_url),
        _unsubscribe(hrefs, email, expect),
        _postal_address(email, expect.postal_address),
        _leftovers(email),
        _attributes(email.html),
        _scripts(doc),
        _headers(email),
        _subject(email.subject),
        _preheader(email),
    ]
    return checks


def _size(email: PersonalEmail) -> Check:
    size = len(email.html.encode())
    if size >= GMAIL_CLIP_BYTES:
        return Check("HTML size", "fail", f"{size:,} bytes: Gmail clips emails over 102 KB")
    return Check("HTML size", "ok", f"{size:,} bytes (< 102 KB)")


def _alt_text(doc: lxml.html.HtmlElement, public_url: str) -> Check:
    pixel = public_url + "/o/"  # the open-tracking image is decorative: no alt text
    missing = [
        img.get("src", "?")
        for img in doc.iter("img")
        if not img.get("alt", "").strip() and not img.get("src", "").startswith(pixel)
    ]
    if missing:
        return Check("Image alt text", "fail", "no alt text: " + ", ".join(missing[:5]))
    return Check("Image alt text", "ok", f"{len(list(doc.iter('img')))} image(s), all with alt")


def _images_https(doc: lxml.html.HtmlElement) -> Check:
    """An http:// image is shown, but some clients block mixed content: a warning."""
    insecure = [
        img.get("src", "")
        for img in doc.iter("img")
        if urlsplit(img.get("src", "")).scheme.lower() == "http"
    ]
    if insecure:
        return Check(
            "Images https",
            "warn",
            f"{len(insecure)} image(s) over http (some email clients block them; use the "
            "https address): " + ", ".join(insecure[:3]),
        )
    return Check("Images https", "ok", "every image is https")


def _links(hrefs: list[str], public_url: str) -> list[Check]:
    bad, insecure_own = [], False
    local = urlsplit(public_url).hostname in ("localhost", "127.0.0.1", "::1")
    for href in hrefs:
        scheme = urlsplit(href).scheme.lower()
        if scheme == "https" or (scheme == "mailto" and "@" in href):
            continue
        if scheme == "http" and href.startswith(public_url + "/") and local:
            insecure_own = True
            continue
        bad.append(href or "(empty href)")
    checks = []
    if bad:
        checks.append(
            Check(
                "Links absolute and https",
                "fail",
                f"{len(bad)} not absolute https: " + ", ".join(bad[:3]),
            )
        )
    else:
        checks.append(Check("Links absolute and https", "ok", f"{len(hrefs)} link(s)"))
    if insecure_own:
        checks.append(
            Check(
                "Public URL",
                "warn",
                f"{public_url} is http on localhost: fine for previews, set "
                "NEWSLETTER_PUBLIC_URL to the https address before sending",
            )
        )
    return checks


def _unsubscribe(hrefs: list[str], email: PersonalEmail, expect: Expectations) -> Check:
    prefix = expect.public_url + "/u/"
    links = [h for h in hrefs if h.startswith(prefix)]
    if not links:
        return Check("Unsubscribe link", "fail", "no unsubscribe link in the HTML")
    token = links[0].removeprefix(prefix)
    if not expect.unsubscribe_valid(token):
        return Check("Unsubscribe link", "fail", f"unsubscribe token {token!r} does not verify")
    if prefix not in email.text:
        return Check("Unsubscribe link", "fail", "no unsubscribe link in the text part")
    return Check("Unsubscribe link", "ok", "in the HTML and text parts; token verifies")


def _postal_address(email: PersonalEmail, address: str) -> Check:
    if address and address in email.text and _html_text_contains(email.html, address):
        return Check("Postal address", "ok", address)
    return Check("Postal address", "fail", "the clinic's postal address is missing (CAN-SPAM)")


def _html_text_contains(html: str, needle: str) -> bool:
    text = lxml.html.document_fromstring(html.encode()).text_content()
    return " ".join(needle.split()) in " ".join(text.split())


def _leftovers(email: PersonalEmail) -> Check:
    found = [m for m in (*_LEFTOVERS, *TAGS) if m in email.html or m in email.text]
    if found:
        return Check("No template leftovers", "fail", "found " + ", ".join(found))
    return Check("No template leftovers", "ok", "no {{, {%, <mj- or placeholders left")


def _attributes(html: str) -> Check:
    match = _ATTR_WITH_BACKSLASH_N.search(html)
    if match:
        return Check("Attribute values", "fail", f"literal \\n in an attribute: {match[0][:60]}")
    return Check("Attribute values", "ok", "no literal \\n inside attribute values")


def _scripts(doc: lxml.html.HtmlElement) -> Check:
    """Email clients drop scripts, and a template must not carry any: `<script>`, event
    handler attributes (`onclick`, `onload`…) and `javascript:` URLs fail."""
    found = [f"<script> at line {el.sourceline}" for el in doc.iter("script")]
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{name}= on <{element.tag}> at line {element.sourceline}")
            elif "javascript:" in value.replace(" ", "").lower() and name in ("href", "src"):
                found.append(f"javascript: {name} on <{element.tag}> at line {element.sourceline}")
    if found:
        return Check("No scripts", "fail", "; ".join(found[:5]) + " (remove it from the template)")
    return Check("No scripts", "ok", "no <script>, event handlers or javascript: URLs")


def _headers(email: PersonalEmail) -> Check:
    """The header values exactly as the delivery boundary checks them (delivery.headers)."""
    problem = first_problem((
        ("subject", email.subject, MAX_LINE),
        ("from", email.sender, MAX_LINE),
        ("reply-to", email.reply_to, MAX_ADDRESS),
        ("list-unsubscribe", email.list_unsubscribe, MAX_URL),
    ), optional=set())  # fmt: skip
    if problem:
        return Check("Headers", "fail", problem)
    return Check("Headers", "ok", "subject, from, reply-to and list-unsubscribe are single lines")


def _subject(subject: str) -> Check:
    if not subject.strip():
        return Check("Subject", "fail", "empty subject")
    if len(subject) > MAX_SUBJECT:
        return Check("Subject", "fail", f"{len(subject)} characters (max {MAX_SUBJECT})")
    return Check("Subject", "ok", f"{len(subject)} characters")


def _preheader(email: PersonalEmail) -> Check:
    if not email.preheader.strip():
        return Check("Preheader", "fail", "no preheader (add a summary or a first paragraph)")
    return Check(
        "Preheader", "ok", email.preheader[:60] + ("…" if len(email.preheader) > 60 else "")
    )
