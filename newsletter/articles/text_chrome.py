"""Page chrome in text copied from a web page: where it sits and what it tells.

Before the title: breadcrumb trails (`1. Home / 2. Blog / 3. Title`, `Home > Blog >
Title`), navigation words, bylines and share widgets. Just after it: bylines ("Posted on …
by …", "By X • date • 8 min read • Category"), whose author and date are kept. Anywhere:
share widgets, "Back to Blog", "Read more", tag lists. At the end: related-post lists,
cookie notices and footers. Chrome lines become blank lines, so the text around them keeps
its paragraphs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from newsletter.articles.chrome import (
    Byline,
    breadcrumb_last,
    byline,
    is_breadcrumb,
    is_chrome_line,
    is_cookie_line,
    is_footer_line,
    is_nav_word,
    is_related_label,
    is_share_button,
)

_LIST_ITEM = re.compile(r"^\s*(?:[-*•·◦▪‣]|\d{1,3}[.)])\s+(.*)$")
_LEADING_LIMIT = 30
_SOURCES = re.compile(r"^\s*(sources?|references?|citations?|bibliography)\b", re.I)
_ANSWER = re.compile(
    r"^\W{0,2}(yes|no|not really|somewhat|thumbs up|thumbs down|submit)\W{0,2}$", re.I
)
_FEEDBACK = re.compile(
    r"^\W{0,2}(was this (page|article|post|information|content) (helpful|useful)|did you find "
    r"this (page|article|post|information) (helpful|useful)|how (helpful|useful) was this "
    r"(page|article))\W{0,3}$",
    re.I,
)


@dataclass
class Stripped:
    lines: list[str]
    author: str = ""
    date: dt.date | None = None
    title: str = ""  # a breadcrumb trail's last step, when it is not a navigation word


def strip_chrome(lines: list[str]) -> Stripped:
    found = Stripped(list(lines))
    lines = found.lines
    filled = [i for i, line in enumerate(lines) if line.strip()]
    title_at = _leading(lines, filled, found)
    _after_title(lines, filled, title_at, found)
    _feedback(lines, filled)
    _trailing(lines)
    for index in filled:
        if lines[index].strip() and is_chrome_line(lines[index]):
            lines[index] = ""
    return found


def _drop(lines: list[str], index: int) -> None:
    lines[index] = ""


def _leading(lines: list[str], filled: list[int], found: Stripped) -> int | None:
    """Drop chrome before the title; the index of the first line that is not chrome."""
    crumbs = False
    for index in filled[:_LEADING_LIMIT]:
        line = lines[index].strip()
        item = _LIST_ITEM.match(line)
        if item and (crumbs or is_nav_word(item.group(1))):
            crumbs = True
            step = item.group(1).strip()
            if not is_nav_word(step) and len(step.split()) <= 20:
                found.title = step
            _drop(lines, index)
            continue
        crumbs = False
        if is_breadcrumb(line):
            last = breadcrumb_last(line)
            if not is_nav_word(last):
                found.title = last
            _drop(lines, index)
            continue
        if is_nav_word(line) or is_chrome_line(line) or is_cookie_line(line):
            _drop(lines, index)
            continue
        if is_share_button(line):
            _drop(lines, index)
            continue
        facts = byline(line)
        if facts is not None:
            _keep_facts(found, facts)
            _drop(lines, index)
            continue
        return index
    return None


def _after_title(
    lines: list[str], filled: list[int], title_at: int | None, found: Stripped
) -> None:
    """Bylines and share widgets right under the title (or under a caption and title)."""
    if title_at is None:
        return
    kept_short = 0
    for index in [i for i in filled if i > title_at][:10]:
        line = lines[index].strip()
        facts = byline(line)
        if facts is not None:
            _keep_facts(found, facts)
            _drop(lines, index)
            continue
        if is_chrome_line(line) or is_nav_word(line) or is_share_button(line):
            _drop(lines, index)
            continue
        if kept_short == 0 and len(line.split()) <= 14:
            kept_short += 1  # the title itself, after an image caption
            continue
        return


def _feedback(lines: list[str], filled: list[int]) -> None:
    """ "Was this page helpful?" and its Yes / No buttons."""
    for position, index in enumerate(filled):
        if _FEEDBACK.match(lines[index].strip()):
            _drop(lines, index)
            for after in filled[position + 1 : position + 4]:
                if _ANSWER.match(lines[after].strip()):
                    _drop(lines, after)
                else:
                    break


def _trailing(lines: list[str]) -> None:
    """Footers, cookie notices and a related-posts list at the end."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for index in reversed(filled):
        line = lines[index]
        if (
            is_footer_line(line)
            or is_cookie_line(line)
            or is_chrome_line(line)
            or is_share_button(line)
        ):
            _drop(lines, index)
        else:
            break
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 4:
        return
    tail = filled[int(len(filled) * 0.5) :]
    for position, index in enumerate(tail):
        if not is_related_label(lines[index]):
            continue
        after = tail[position + 1 :]
        if any(_SOURCES.match(lines[i]) for i in after):
            continue
        if any(len(lines[i].split()) > 45 for i in after):
            continue  # a real section follows, not a list of other posts
        for i in [index, *after]:
            _drop(lines, i)
        return


def _keep_facts(found: Stripped, facts: Byline) -> None:
    found.author = found.author or facts.author
    found.date = found.date or facts.date
