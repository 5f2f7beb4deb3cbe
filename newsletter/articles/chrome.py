"""Page chrome: the lines a page puts around an article, recognised in copied text and in
extracted HTML so that they stay out of the email.

Breadcrumb trails, bylines ("Posted on … by …", "By X • date • 8 min read"), share widgets
("Share Share Pin Share Email"), "Back to Blog", "Read more", cookie notices, comment
counters, tag lists, newsletter sign-ups. A byline's facts (author, date) are kept.
Only short lines are ever chrome: a sentence of the article is never dropped for
containing one of these words.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from newsletter.articles.dates import parse_date

MAX_CHROME_WORDS = 16
_SHARE_WORDS = {
    "share", "shares", "shared", "sharing", "pin", "pin it", "tweet", "email", "e-mail", "mail",
    "print", "facebook", "twitter", "x", "linkedin", "pinterest", "reddit", "whatsapp",
    "telegram", "messenger", "copy", "link", "copy link", "copied", "on", "via", "this",
    "article", "post", "story", "save", "like", "likes", "flipboard", "tumblr", "threads",
    "bluesky", "mastodon", "sms", "text", "send", "google", "buffer", "pocket", "and", "or",
    "it", "to", "the", "page", "with", "friend", "a", "your", "friends", "|", "·", "•",
}  # fmt: skip
_NAV_LINE = re.compile(
    r"^\W{0,3}(back to (the )?(all )?(blog|news|articles?|posts?|resources|insights|library|"
    r"stories|home|top|list|overview)|read (the )?(more|full (article|story|post))|"
    r"continue reading|keep reading|view all( posts| articles)?|see all( posts| articles)?|"
    r"all (posts|articles|stories)|(previous|next|older|newer) (post|article|story|entry)|"
    r"(previous|next|prev)|skip to (main )?content|jump to (recipe|section)|"
    r"table of contents|in this article|on this page|listen to (this|the) (article|story)|"
    r"print( this)?( page| article)?|leave a (comment|reply)|\d+ comments?|no comments|"
    r"comments? \(\d+\)|add comment|post a comment|related (posts|articles|stories|reading)|"
    r"you (may|might) also like|more from (the |our )?(blog|author|clinic)|recent posts|"
    r"popular posts|latest (posts|articles|news)|subscribe( now| to (our )?newsletter)?|"
    r"sign up( for (our|the) newsletter)?|follow us( on \w+)?|join (our|the) (mailing list|"
    r"newsletter)|get (the|our) newsletter|advertisement|sponsored( content)?|"
    r"(photo|image|illustration|video) (credit|courtesy)s?\b.*|(photo|image) by .{0,60}|"
    r"credit: .{0,60}|source: (getty|shutterstock|istock|adobe stock|unsplash).*|"
    r"(this (post|article|page) (may )?contains? affiliate links|we may (earn|receive) (a )?"
    r"(small )?(commission|fee)).{0,160}|was this (page|article|post) (helpful|useful)\??)\W{0,3}$",
    re.I,
)
_META_LINE = re.compile(
    r"^\W{0,2}(tags?|tagged( with)?|categor(y|ies)|filed (under|in)|posted in|topics?|"
    r"labels?|keywords)\s*[:\-–]\s*.{0,200}$",
    re.I,
)
_COOKIE = re.compile(
    r"\b(cookies?|cookie (policy|settings|preferences)|gdpr|consent)\b.{0,200}"
    r"|^\W{0,3}(accept( all)?( cookies)?|decline( all)?|reject( all)?|manage (preferences|"
    r"cookies|settings)|cookie settings|got it|ok(ay)?|i agree|allow( all)?( cookies)?|"
    r"privacy (policy|settings)|customi[sz]e)\W{0,3}$",
    re.I,
)
_COOKIE_CONTEXT = re.compile(
    r"\b(experience|browsing|by continuing|this (web)?site|our (web)?site|privacy|consent|"
    r"analytics|personali[sz]e|third[- ]party|preferences|policy)\b"
)
_READ_TIME = re.compile(r"\b\d{1,3}\s*(-\s*)?(min(ute)?s?|mins?)\.?(\s+read|\s+reading)?\b", re.I)
_BYLINE_START = re.compile(
    r"^\W{0,2}(by|written by|posted by|author:?|words by|reviewed by|medically reviewed by|"
    r"fact[- ]checked by|posted( on)?|published( on)?|updated( on)?|last updated( on)?|"
    r"last modified( on)?|date:?)\b",
    re.I,
)
_BYLINE_SEPARATORS = re.compile(r"\s*(?:[•·|]|—|–| - |/|,\s(?=\d{1,3}\s*min))\s*")
_AUTHOR = re.compile(
    r"\b(?i:by|written by|posted by|author:?|words by)\s+"
    r"((?:[Dd]r\.?\s+)?[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|de|van|von|da|del|le|la)){0,4}"
    r"(?:,\s*(?:[A-Z]{2,6}(?:-[A-Z]{1,4})?)(?:,\s*[A-Z]{2,6})*)?)"
)
_DATE_TEXT = re.compile(
    r"((?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?"
    r"\s+\d{4}|\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|"
    r"dec)[a-z]*\.?,?\s+\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})",
    re.I,
)
_BREADCRUMB_SEPARATORS = re.compile(r"\s+(?:>|»|›|/|\\|→|>>|::)\s+")
_STRONG_SHARE = {"share", "shares", "tweet", "pin", "pinterest", "whatsapp", "copy"}
_NETWORKS = {"email", "e-mail", "facebook", "linkedin", "twitter", "x", "print", "reddit",
             "telegram", "messenger", "threads", "bluesky", "mastodon", "sms"}  # fmt: skip
_NAV_WORDS = {"home", "blog", "news", "articles", "resources", "insights", "library", "posts",
              "learn", "education", "stories", "journal", "updates", "health", "wellness",
              "mental health", "patient resources", "patient education", "newsroom"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Byline:
    author: str = ""
    date: dt.date | None = None


def words_in(line: str) -> int:
    return len(line.split())


def is_share_line(line: str) -> bool:
    """Only share-widget words ("Share Share Pin Share Email", "Tweet", "Copy link"), with a
    word that only a share widget uses or at least two network names."""
    tokens = re.findall(r"[\w'’-]+|[|·•]", line.casefold())
    if not tokens or len(tokens) > 14:
        return False
    if not all(t in _SHARE_WORDS or t.isdigit() for t in tokens):
        return False
    return bool(_STRONG_SHARE & set(tokens)) or len(_NETWORKS & set(tokens)) >= 2


def is_share_button(line: str) -> bool:
    """One network name alone ("Email", "Print"): a share button when it sits next to the
    title or at the end, not inside the text."""
    return line.strip().strip("|·•").strip().casefold() in _NETWORKS


def is_cookie_line(line: str) -> bool:
    """A cookie notice ("We use cookies to improve your experience…") or its buttons."""
    if words_in(line) > 45 or not _COOKIE.search(line):
        return False
    if words_in(line) <= 4:
        return True
    folded = line.casefold()
    return "cookie" in folded and bool(_COOKIE_CONTEXT.search(folded))


def is_breadcrumb(line: str) -> bool:
    """`Home > Blog > Title`, `Home / Blog / Title`, `Home » Blog`."""
    parts = _BREADCRUMB_SEPARATORS.split(line.strip())
    if len(parts) < 2 or any(words_in(p) > 14 for p in parts):
        return False
    first = parts[0].strip().casefold().lstrip("1. ")
    return first in _NAV_WORDS or (len(parts) >= 3 and all(words_in(p) <= 4 for p in parts[:-1]))


def breadcrumb_last(line: str) -> str:
    return _BREADCRUMB_SEPARATORS.split(line.strip())[-1].strip()


def is_nav_word(text: str) -> bool:
    return text.strip().strip(".:").casefold() in _NAV_WORDS


def byline(line: str) -> Byline | None:
    """A byline line ("By X • date • 8 min read • Category"), with its facts; else None."""
    text = " ".join(line.split())
    if not text or words_in(text) > 28 or text.endswith(("?", "!")):
        return None
    starts = bool(_BYLINE_START.match(text))
    read_time = bool(_READ_TIME.search(text))
    date_match = _DATE_TEXT.search(text)
    pieces = [p for p in _BYLINE_SEPARATORS.split(text) if p.strip()]
    date = parse_date(date_match.group(1)) if date_match else None
    if not (starts or read_time or (date and len(pieces) >= 2) or _only_date(text)):
        return None
    if (
        not (starts or read_time or _only_date(text))
        and any(words_in(p) > 5 for p in pieces)  # "Anxiety • March 3, 2024": short pieces
    ):
        return None
    if starts and not (read_time or date) and words_in(text) > 12:
        return None  # "By the time…" starts a sentence, not a byline
    if starts and text.endswith(".") and words_in(text) > 8 and not date:
        return None
    author = ""
    found = _AUTHOR.search(text)
    if found:
        author = found.group(1).strip().rstrip(",.")
        author = re.split(r"\s+(?:on|in|at|posted|published|updated)\b", author)[0].strip()
    return Byline(author=author, date=date)


def _only_date(text: str) -> bool:
    found = _DATE_TEXT.search(text)
    return found is not None and words_in(text.replace(found.group(1), "")) <= 2


def is_chrome_line(line: str) -> bool:
    """Page chrome that never belongs to the article's text."""
    text = " ".join(line.split())
    if not text or (words_in(text) > MAX_CHROME_WORDS and not is_cookie_line(text)):
        return False
    return bool(_NAV_LINE.match(text) or _META_LINE.match(text) or is_share_line(text))


_FOOTER = re.compile(
    r"^\W{0,3}(©|\(c\)|copyright\b|all rights reserved|privacy policy|terms (of use|of service|"
    r"and conditions)|cookie policy|accessibility( statement)?|sitemap|powered by\b|"
    r"website (by|design)\b|site by\b|made with\b)",
    re.I,
)
_RELATED = re.compile(
    r"^\W{0,3}(related (posts?|articles?|stories|reading|content|resources)|you (may|might) "
    r"(also )?(like|enjoy|be interested in)|more (from|on|in) .{0,40}|recent (posts|articles)|"
    r"popular (posts|articles)|read next|keep reading|latest (posts|articles|news)|"
    r"other (posts|articles)|similar (posts|articles)|more (articles|posts|stories)|"
    r"recommended( for you| reading| articles)?|further posts|from (the|our) blog)\W{0,3}$",
    re.I,
)


def is_footer_line(line: str) -> bool:
    return words_in(line) <= 25 and bool(_FOOTER.match(" ".join(line.split())))


def is_related_label(line: str) -> bool:
    return words_in(line) <= 8 and bool(_RELATED.match(" ".join(line.split())))
