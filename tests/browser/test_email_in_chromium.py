"""The rendered emails in a real browser (Chromium): phone, email-pane and desktop widths.

The seed article is rendered by `preview_articles` for the sample subscriber, exactly as
`newsletter render` shows it, from each seed format; the digest and the confirmation email
are checked at phone width too. Chromium is launched once (tests/browser/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.seed import SEED_FORMATS

pytestmark = pytest.mark.browser

TODAY = dt.date(2026, 11, 27)
PHONE, PANE, DESKTOP = 375, 600, 1200
BUTTON = "Book a consultation"

SEEDS = [pytest.param(path, id=fmt) for fmt, path in SEED_FORMATS.items()]

# Horizontal extent of the page and of every laid-out element, and the email's sections:
# MJML wraps each mj-section in a <div> (max-width 600px) directly under the
# <div role="article"> wrapper.
_LAYOUT = """() => {
  const doc = document.documentElement;
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > doc.clientWidth + 0.5)) {
      overflowing.push(`${el.tagName.toLowerCase()} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const sections = [...document.querySelectorAll('div[role="article"] > div')]
    .map((el) => el.getBoundingClientRect())
    .map((r) => ({left: r.left, right: r.right, width: r.width, height: r.height}));
  return {
    scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
    clientWidth: doc.clientWidth,
    overflowing: overflowing.slice(0, 10),
    sections,
  };
}"""


def layout(page: Any) -> dict[str, Any]:
    return page.evaluate(_LAYOUT)


def assert_no_horizontal_scroll(page: Any, what: str) -> dict[str, Any]:
    found = layout(page)
    assert found["scrollWidth"] <= found["clientWidth"], (
        f"{what}: scrolls sideways ({found['scrollWidth']} > {found['clientWidth']} px); "
        f"wider elements: {found['overflowing']}"
    )
    assert not found["overflowing"], (
        f"{what}: elements outside the viewport: {found['overflowing']}"
    )
    assert found["sections"], f"{what}: no MJML sections found"
    return found


@pytest.fixture
def seed_html(settings: Any) -> Callable[[Any], str]:
    from newsletter.services.previews import preview_articles

    def render(path: Any) -> str:
        preview = preview_articles([path], settings, today=TODAY)
        assert not preview.failed, preview.failed
        return preview.email.html

    return render


@pytest.mark.parametrize("path", SEEDS)
def test_seed_email_on_a_phone(path: Any, seed_html: Callable, open_email: Callable) -> None:
    page = open_email(seed_html(path), PHONE)
    assert_no_horizontal_scroll(page, f"{path.name} at {PHONE}px")

    button = page.get_by_role("link", name=BUTTON)
    assert button.count() == 1, f"{path.name}: expected one {BUTTON!r} button"
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    box = button.bounding_box()
    assert box is not None
    viewport = page.viewport_size
    assert box["width"] > 0 and box["height"] > 0, box
    assert 0 <= box["x"] <= PHONE - box["width"], box
    assert 0 <= box["y"] <= viewport["height"] - box["height"], box
    # Nothing is drawn over it: the point at its centre belongs to the button.
    on_top = page.evaluate(
        "([x, y]) => { const el = document.elementFromPoint(x, y);"
        " const a = el && el.closest('a'); return a ? a.textContent.trim() : null; }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == BUTTON


@pytest.mark.parametrize("path", SEEDS)
def test_seed_email_in_an_email_pane(path: Any, seed_html: Callable, open_email: Callable) -> None:
    page = open_email(seed_html(path), PANE)
    found = assert_no_horizontal_scroll(page, f"{path.name} at {PANE}px")
    for section in found["sections"]:
        assert 0 < section["width"] <= 600, section


@pytest.mark.parametrize("path", SEEDS)
def test_seed_email_on_a_desktop(path: Any, seed_html: Callable, open_email: Callable) -> None:
    page = open_email(seed_html(path), DESKTOP)
    found = assert_no_horizontal_scroll(page, f"{path.name} at {DESKTOP}px")
    for section in found["sections"]:
        assert 0 < section["width"] <= 600, section
        left_margin, right_margin = section["left"], found["clientWidth"] - section["right"]
        assert abs(left_margin - right_margin) <= 1, f"not centred: {section}"
    # The email is one column: every section starts and ends at the same x.
    assert len({(round(s["left"]), round(s["right"])) for s in found["sections"]}) == 1


def test_digest_on_a_phone(settings: Any, open_email: Callable) -> None:
    from newsletter.services.previews import preview_articles

    preview = preview_articles(
        [SEED_FORMATS["text"], SEED_FORMATS["markdown"]], settings, template="digest", today=TODAY
    )
    page = open_email(preview.email.html, PHONE)
    assert_no_horizontal_scroll(page, f"digest at {PHONE}px")
    assert page.get_by_role("link", name=BUTTON).is_visible()


def test_confirmation_on_a_phone(settings: Any, open_email: Callable) -> None:
    from newsletter.rendering.confirm import render_confirmation

    email = render_confirmation(
        settings, confirm_url="https://mindstream.example/confirm/abc", first_name="Alex"
    )
    page = open_email(email.html, PHONE)
    assert_no_horizontal_scroll(page, f"confirmation at {PHONE}px")
    assert page.get_by_role("link", name="Yes, subscribe me").is_visible()
