"""`FillableText.fill` must be SendGrid's substitution (the emulator's `apply_substitutions`)
for our tags, wherever they appear and whatever the values are."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.emulator.substitutions import apply_substitutions
from newsletter.rendering.placeholders import (
    FIRST_NAME_HTML,
    FIRST_NAME_TEXT,
    RECIPIENT_TOKEN,
    TAGS,
    UNSUBSCRIBE_TOKEN,
    FillableText,
    Recipient,
    substitutions,
)

# Fragments that make near-misses and overlaps likely: tag pieces, dashes, the tags themselves.
PIECES = [*TAGS, "-", "nl_", "-nl_", "fn_", "html-", "text-", "rt-", "ut-", "-nl_fn_", "--"]
fragment = st.one_of(st.sampled_from(PIECES), st.text(max_size=8))
text_st = st.lists(fragment, max_size=30).map("".join)
# Values may contain tags (inserted literally, never scanned again), dashes, anything.
value_st = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=4).map(
    "".join
)
values_st = st.fixed_dictionaries({tag: value_st for tag in TAGS})


@settings(max_examples=1000, deadline=None)
@given(text=text_st, values=values_st)
def test_fill_equals_apply_substitutions(text, values):
    assert FillableText(text).fill(values) == apply_substitutions(text, values)


@settings(max_examples=300, deadline=None)
@given(text=text_st, values=values_st)
def test_fill_is_reusable_and_keeps_source(text, values):
    fillable = FillableText(text)
    first = fillable.fill(values)
    assert fillable.fill(values) == first
    assert fillable.source == text
    # the tags SendGrid would replace (a tag can hide inside another: "-nl_rt-nl_ut-")
    marks = {tag: f"\x00{i}\x00" for i, tag in enumerate(TAGS)}
    replaced = apply_substitutions(text.replace("\x00", ""), marks)
    assert FillableText(text.replace("\x00", "")).tags_used == {
        tag for tag, mark in marks.items() if mark in replaced
    }


@settings(max_examples=300, deadline=None)
@given(
    first=st.one_of(st.none(), st.text(max_size=120)),
    unsub=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=40),
    rt=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=40),
    text=text_st,
)
def test_product_values_fill_like_sendgrid(first, unsub, rt, text):
    values = substitutions(Recipient(first, unsub, rt), fallback="there")
    assert set(values) == set(TAGS)
    assert FillableText(text).fill(values) == apply_substitutions(text, values)


def test_examples():
    values = {
        FIRST_NAME_HTML: "Ana &amp; Bo",
        FIRST_NAME_TEXT: "Ana & Bo",
        RECIPIENT_TOKEN: "RT-nl_ut-",  # contains part of a tag: never rescanned
        UNSUBSCRIBE_TOKEN: FIRST_NAME_TEXT,  # a value that is itself a tag: inserted literally
    }
    text = "Hi -nl_fn_text-! <b>-nl_fn_html-</b> /r/-nl_rt- /u/-nl_ut- -nl_rt-nl_ut- -nl_fn_-"
    expected = (
        "Hi Ana & Bo! <b>Ana &amp; Bo</b> /r/RT-nl_ut- /u/-nl_fn_text- RT-nl_ut-nl_ut- -nl_fn_-"
    )
    assert apply_substitutions(text, values) == expected
    assert FillableText(text).fill(values) == expected
    assert FillableText("no tags").fill({}) == "no tags"
    assert FillableText("").fill(values) == ""


@settings(max_examples=300, deadline=None)
@given(first=st.one_of(st.none(), st.text(max_size=30)), text=text_st, subject=text_st)
def test_only_used_tags_still_fill_like_sendgrid(first, text, subject):
    """With `used` (the tags the email shows), SendGrid gets fewer keys: same result."""
    body, title = FillableText(text), FillableText(subject)
    used = body.tags_used | title.tags_used
    values = substitutions(Recipient(first, "UT", "RT"), fallback="there", used=used)
    assert set(values) == set(used)
    assert body.fill(values) == apply_substitutions(text, values)
    assert title.fill(values) == apply_substitutions(subject, values)
