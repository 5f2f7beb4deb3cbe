"""Property: no template of a generated family (loops, arithmetic, string building,
recursion) makes the renderer raise anything but TemplateError, or run past its deadline
by more than a wide margin (issue #13). Rendered through the real worker process."""

from __future__ import annotations

import itertools
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.errors import TemplateError
from newsletter.rendering import isolated
from newsletter.rendering.sandbox import RenderLimits

DEADLINE_S = 0.5
MARGIN = 2.5  # no timing assertion tighter than 2.5 × the deadline
SIZES = st.sampled_from([0, 1, 3, 64, 1000, 100_000, 10**6, 10**9, 10**10, 9**99])

atoms = st.one_of(
    st.integers(-5, 20).map(str),
    SIZES.map(str),
    st.sampled_from(["'a'", "'xy'", "email.subject", "article.title", "[1, 2, 3]",
                     "range(10)|list", "ns.s", "ns.n", "ns.l", "'{:>5}'", "'%5d'"]),
)  # fmt: skip


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "*", "**", "%", "~", "//", "-"]),
                       children).map(lambda t: f"({t[0]} {t[1]} {t[2]})")  # fmt: skip
    filters = st.tuples(children, st.sampled_from([
        "center({})", "join", "replace('a', 'aaaa')", "batch({})|list", "slice({})|list",
        "string", "length", "upper", "list", "indent({})", "format({})", "sum", "unique|list",
        "tojson", "wordwrap({})", "truncate({})",
    ]), SIZES).map(lambda t: f"({t[0]}|{t[1].format(t[2])})")  # fmt: skip
    methods = st.tuples(children, st.sampled_from([
        "ljust({})", "center({})", "zfill({})", "format({})", "replace('a', 'aa')",
        "join(range({})|list|map('string'))", "expandtabs({})", "split()",
    ]), SIZES).map(lambda t: f"({t[0]}).{t[1].format(t[2])}")  # fmt: skip
    return st.one_of(binary, filters, methods)


expressions = st.recursive(atoms, _combine, max_leaves=6)


def _statements(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    loop = st.tuples(SIZES, children).map(
        lambda t: f"{{% for i in range({t[0]}) %}}{t[1]}{{% endfor %}}"
    )
    accumulate = st.tuples(st.sampled_from(["s", "n", "l"]), expressions).map(
        lambda t: f"{{% set ns.{t[0]} = {t[1]} %}}"
    )
    double = st.sampled_from(["{% set ns.s = ns.s ~ ns.s %}", "{% set ns.l = ns.l + ns.l %}",
                              "{% set ns.n = ns.n * ns.n %}"])  # fmt: skip
    return st.one_of(loop, accumulate, double, st.lists(children, max_size=3).map("".join))


statements = st.recursive(
    st.one_of(expressions.map(lambda e: f"{{{{ {e} }}}}"), st.just("text")),
    _statements,
    max_leaves=5,
)
recursion = st.sampled_from([
    "",
    "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}x{% endmacro %}"
    "{{ m(40) }}",
    "{% include 'SELF' %}",
])  # fmt: skip

PRELUDE = "{% set ns = namespace(s='ab', n=7, l=[1, 2]) %}"
_names = itertools.count()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=statements, tail=recursion)
def test_generated_templates_raise_only_template_errors_within_the_deadline(
    tmp_path_factory, body, tail
):
    folder = tmp_path_factory.getbasetemp() / "generated-templates"
    folder.mkdir(exist_ok=True)
    name = f"t{next(_names)}"
    (folder / f"{name}.mjml").write_text("<mjml><mj-body></mj-body></mjml>")
    (folder / f"{name}.txt").write_text(PRELUDE + body + tail.replace("SELF", f"{name}.txt"))
    context = {"email": {"subject": "News", "first_name": "Ann"}, "article": {"title": "T"}}
    isolated.WORKER.ensure_started()  # a worker killed by the previous example restarts here
    start = time.monotonic()
    try:
        _html, text = isolated.render_pair(folder, name, context, {}, timeout_s=DEADLINE_S,
                                          limits=RenderLimits())  # fmt: skip
    except TemplateError as error:
        assert "Traceback" not in str(error)
    else:
        assert len(text.encode()) <= RenderLimits().max_output_bytes
    assert time.monotonic() - start < MARGIN * DEADLINE_S
