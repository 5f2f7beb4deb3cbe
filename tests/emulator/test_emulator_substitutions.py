"""`apply_substitutions`: SendGrid-style replacement, one pass, longest key first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.emulator.substitutions import _pattern, apply_substitutions


def reference(text: str, subs: dict[str, str]) -> str:
    """Slow, obviously-correct model: scan left to right, at each position try the keys
    longest first (ties lexically), emit the value and jump past the key."""
    keys = sorted((k for k in subs if k), key=lambda k: (-len(k), k))
    out, i = [], 0
    while i < len(text):
        for key in keys:
            if text.startswith(key, i):
                out.append(subs[key])
                i += len(key)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_every_occurrence_is_replaced():
    assert apply_substitutions("-a- and -a- and -b-", {"-a-": "1", "-b-": "2"}) == "1 and 1 and 2"


def test_longest_key_wins_whatever_the_dict_order():
    text = "Hi -name-full- / -name-"
    a = apply_substitutions(text, {"-name-": "Ana", "-name-full-": "Ana Bo"})
    b = apply_substitutions(text, {"-name-full-": "Ana Bo", "-name-": "Ana"})
    assert a == b == "Hi Ana Bo / Ana"


def test_values_are_literal_and_not_rescanned():
    subs = {"-a-": "-b-", "-b-": r"\1 $0 \g<0>"}
    assert apply_substitutions("-a- -b-", subs) == r"-b- \1 $0 \g<0>"


def test_regex_metacharacters_in_keys_are_literal():
    assert (
        apply_substitutions("cost: $[price]. (x)", {"$[price]": "10", "(x)": "y"}) == "cost: 10. y"
    )


def test_empty_inputs():
    assert apply_substitutions("", {"-a-": "x"}) == ""
    assert apply_substitutions("-a-", {}) == "-a-"
    assert apply_substitutions("-a-", {"": "x"}) == "-a-"


def test_compiled_patterns_are_cached_by_key_tuple():
    _pattern.cache_clear()
    for _ in range(3):
        apply_substitutions("-x- -y-", {"-y-": "1", "-x-": "2"})
    info = _pattern.cache_info()
    assert (info.misses, info.hits) == (1, 2)


keys = st.text(alphabet="-ab{}$.", min_size=1, max_size=5)
texts = st.text(alphabet="-ab{}$. x", max_size=40)


@settings(max_examples=300, deadline=None)
@given(text=texts, subs=st.dictionaries(keys, st.text(alphabet="-abXY", max_size=6), max_size=6))
def test_matches_the_reference_model(text, subs):
    assert apply_substitutions(text, subs) == reference(text, subs)


@settings(max_examples=200, deadline=None)
@given(text=texts, subs=st.dictionaries(keys, st.text(max_size=6), max_size=6))
def test_insertion_order_does_not_matter(text, subs):
    reordered = dict(reversed(list(subs.items())))
    assert apply_substitutions(text, subs) == apply_substitutions(text, reordered)


@given(text=st.text(alphabet="abc ", max_size=30))
def test_text_without_keys_is_unchanged(text):
    assert apply_substitutions(text, {"-fn-": "Ana", "{{x}}": "y"}) == text


def test_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from newsletter.emulator.substitutions import apply_substitutions; "
        "print(sorted(m for m in ('httpx', 'cryptography', 'orjson', 'http.server') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
