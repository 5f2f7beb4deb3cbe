"""mjml-python (MRML) against the reference MJML compiler, template by template.

Every email template is rendered by Jinja exactly as production does: the article with the
seed article as text, as Markdown (which has a hero image) and as HTML (when
tests/data/seed/neuroplasticity-ketamine.html exists), and with an article that takes every
branch of article.mjml/_blocks.mjml (`ALL_BLOCKS_MARKDOWN`); the digest with two articles;
the double opt-in confirmation. That same post-Jinja MJML source, recorded from
`compile_mjml`'s argument, is compiled

* by `newsletter.rendering.mjml.compile_mjml` (mjml-python, i.e. MRML, a Rust port of MJML 4),
* by the reference compiler mjml 4.18 from npm (the version MRML ports), and
* by mjml 5 from npm, as a second check (`mjml5`, an npm alias; see package.json),

through `tools/mjml-compile.mjs` (one node process per major version for all documents).

1. DOM: both outputs are parsed with lxml and reduced to a canonical form (whitespace,
   attribute order, class order, style-declaration spacing, CSS spacing, comments and
   MJML's random ids; Outlook conditional comments are kept and compared tag by tag, so
   one `<!--[if mso | IE]>` block or two adjacent ones are the same). What still differs
   must be listed in `ALLOWED_DIFFERENCES` (description → why it is harmless); each entry
   has a narrow reconciler that removes exactly that difference, and the test fails on any
   other difference, and also when an entry no longer occurs (so the list stays true).
2. Pixels: both outputs are screenshotted in Chromium at 375 and 600 px (full page, no
   network: images are answered with a local PNG) and must be the same size with at most
   `MAX_DIFFERING_PIXELS` of the pixels differing.

The reference compilers come from `npm ci` (CI runs it); without them the tests fail.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from lxml import etree
from lxml import html as lxml_html

from tests.seed import REPO, SEED_FORMATS

pytestmark = pytest.mark.fidelity

NODE_MODULES = REPO / "node_modules"
COMPILE_SCRIPT = REPO / "tools" / "mjml-compile.mjs"
REFERENCE_VERSIONS = {"4": "4.18.", "5": "5."}  # major → required version prefix
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WIDTHS = (375, 600)
TODAY = dt.date(2026, 11, 27)
DOCUMENTS = (
    "article-text",
    "article-markdown",
    "article-html",
    "article-all-blocks",
    "digest",
    "confirm",
)

# An article that takes every branch of article.mjml and _blocks.mjml that the seed does
# not: sub-heading, bulleted and numbered lists, quotation, body image, explicit
# call to action, "read on our website" link, and sources with the divider above them.
ALL_BLOCKS_MARKDOWN = """\
---
title: "Every block: a test article for the templates"
image: https://mindstream.example/images/hero.jpg
image_alt: A calm lake at dawn
author: Dr. Test Author
date: 2026-11-02
canonical_url: https://mindstream.example/blog/every-block
cta:
  text: Talk to our team about whether ketamine therapy suits you.
  url: https://mindstream.example/book-a-consultation
  label: Book a consultation
sources:
  - text: "Duman RS et al. Synaptic plasticity and depression. Nat Med 2016."
    url: https://example.org/duman-2016
  - "InformedHealth.org: How does the brain work?"
---

An opening paragraph with **bold**, *italic* and a [link](https://mindstream.example/team).

## A section heading

### A sub-heading inside the section

- First bullet, short.
- Second bullet, a little longer so that it wraps on a phone screen at 375 pixels.

1. Step one.
2. Step two, with `code`.

> A quotation from a patient, in italics, with a left border in the brand colour.
>
> Its second paragraph.

![A diagram of a neuron](https://mindstream.example/images/neuron.png)

A closing paragraph.
"""
ALL_BLOCKS_MJML = (
    'width="600px"',  # hero image
    'width="544px"',  # body image
    "<ul ",
    "<ol ",
    "<blockquote>",
    "<mj-divider",
    "Read this article on our website",
    "<mj-button",
)

# Both outputs are rendered by the same Chromium with the same fonts and software
# rasterisation, so equivalent markup gives identical pixels (measured: 0 differing pixels
# for every template, width and reference version). The allowance only absorbs a stray
# anti-aliasing change; 0.1 % of a 375 × 2600 page is ~1000 pixels, less than one line of
# text, so a moved block, a changed colour, padding or font size still fails.
MAX_DIFFERING_PIXELS = 0.001

# ---------------------------------------------------------------------------------------
# The differences that remain after normalisation, and why each is harmless.
# ---------------------------------------------------------------------------------------

BUTTON_TD_VERTICAL_ALIGN = (
    'MRML writes vertical-align="middle" as an HTML attribute on the column <td> that '
    "holds each mj-button; mjml 4.18 and 5 no longer write it"
)
WRAPPER_WORD_SPACING = (
    "mjml 5 repeats word-spacing:normal (already on <body> in both) in the style of the "
    '<div role="article"> wrapper'
)

ALLOWED_DIFFERENCES: dict[str, str] = {
    BUTTON_TD_VERTICAL_ALIGN: (
        "`vertical-align` is not an HTML attribute of <td> (the HTML one is `valign`): "
        "browsers and email clients ignore it, and the button's own cell still carries "
        'valign="middle" in both outputs. The mj-column of mjml 4.18 no longer writes it, MRML '
        "still does; screenshots are identical."
    ),
    WRAPPER_WORD_SPACING: (
        "word-spacing:normal is the initial value, is inherited from <body> (whose style "
        "sets it in both outputs), and no email client we know of sets another word-spacing "
        "on the container it puts the email in; mjml 5 adds it for webmails that drop the "
        "<body> style. Our layout has one full-width column per section, so there is no "
        "inline-block gap for word-spacing to widen. Only mjml 5 does this, and mjml 4.18 "
        "(the reference) does not."
    ),
}


@dataclass(frozen=True)
class Reconciler:
    side: str  # "mrml" or "reference": the output that has the extra thing
    majors: tuple[str, ...]  # reference versions that show the difference
    apply: Callable[[etree._Element], int]  # edits the tree, returns how many edits


def _drop_button_td_vertical_align(root: etree._Element) -> int:
    count = 0
    for td in root.iter("td"):
        # Only the column cell wrapping a button: it contains the button's table whose
        # cell has valign (mj-button's own markup).
        if (
            td.get("vertical-align") == "middle"
            and td.find("table/tbody/tr/td[@valign]") is not None
        ):
            del td.attrib["vertical-align"]
            count += 1
    return count


def _drop_wrapper_word_spacing(root: etree._Element) -> int:
    count = 0
    for div in root.iter("div"):
        if div.get("role") != "article":
            continue
        declarations = _style_declarations(div.get("style", ""))
        kept = [d for d in declarations if d != "word-spacing:normal"]
        if len(kept) != len(declarations):
            div.set("style", ";".join(kept))
            count += 1
    return count


RECONCILERS: dict[str, Reconciler] = {
    BUTTON_TD_VERTICAL_ALIGN: Reconciler("mrml", ("4", "5"), _drop_button_td_vertical_align),
    WRAPPER_WORD_SPACING: Reconciler("reference", ("5",), _drop_wrapper_word_spacing),
}

# ---------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------

_WS = re.compile(r"\s+")
_CONDITIONAL = re.compile(r"^\[if (?P<cond>[^\]]+)\]>(?P<body>.*)<!\[endif\]$", re.S)
_MARKUP_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<name>[a-zA-Z][\w:.-]*)(?P<attrs>(?:\s+[^\s=>/]+"
    r"(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*/?>|(?P<text>[^<]+)|<",
    re.S,
)
_ATTRIBUTE = re.compile(r"(?P<name>[^\s=>/]+)(?:\s*=\s*(?P<value>\"[^\"]*\"|'[^']*'|[^\s>]+))?")
# mj-carousel and mj-navbar ids: 16 random hex digits in both compilers.
_RANDOM_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{16}(?![0-9a-fA-F])")


def _style_declarations(style: str) -> list[str]:
    out = []
    for declaration in style.split(";"):
        prop, _, value = declaration.partition(":")
        if prop.strip():
            out.append(f"{prop.strip().lower()}:{_WS.sub(' ', value).strip()}")
    return out


def _css(text: str) -> str:
    text = _WS.sub(" ", text).strip()
    text = re.sub(r"\s*([{};:,>])\s*", r"\1", text)
    return text.replace(";}", "}")


class _Canonicaliser:
    """Turns one HTML document into a list of lines that ignore formatting-only changes."""

    def __init__(self) -> None:
        self.random_ids: dict[str, str] = {}

    def _ids(self, value: str) -> str:
        return _RANDOM_ID.sub(
            lambda m: self.random_ids.setdefault(m.group(), f"RANDOM-ID-{len(self.random_ids)}"),
            value,
        )

    def attributes(self, items: list[tuple[str, str | None]]) -> str:
        out = []
        for name, raw in items:
            name = name.lower()
            value = "" if raw is None else raw
            if name == "class":
                value = " ".join(sorted(value.split()))
            elif name == "style":
                value = ";".join(_style_declarations(value))
            if name in ("class", "style") and not value:
                continue  # class="" and style="" mean nothing
            out.append((name, self._ids(value)))
        return "".join(f' {name}="{value}"' for name, value in sorted(out))

    def conditional(self, cond: str, body: str, indent: str) -> list[str]:
        """An Outlook conditional comment: its markup, one tag or text per line."""
        lines = []
        prefix = f"{indent}[if {_WS.sub(' ', cond).strip()}] "
        for match in _MARKUP_TOKEN.finditer(body):
            if match.group("name"):
                name = match.group("name").lower()
                if match.group("close"):
                    lines.append(f"{prefix}</{name}>")
                    continue
                items = []
                for attr in _ATTRIBUTE.finditer(match.group("attrs") or ""):
                    value = attr.group("value")
                    if value is not None and value[:1] in "\"'":
                        value = value[1:-1]
                    items.append((attr.group("name"), value))
                lines.append(f"{prefix}<{name}{self.attributes(items)}>")
            elif match.group("text") is not None:
                text = _WS.sub(" ", match.group("text")).strip()
                if text:
                    lines.append(prefix + self._ids(text))
            else:
                lines.append(prefix + "<")
        return lines

    def lines(self, root: etree._Element) -> list[str]:
        out = [f"doctype: {root.getroottree().docinfo.doctype.lower()}"]

        def text(value: str | None, depth: int) -> None:
            value = _WS.sub(" ", value or "").strip()
            if value:
                out.append("  " * depth + "#" + value)

        def walk(node: etree._Element, depth: int) -> None:
            indent = "  " * depth
            if isinstance(node, etree._Comment):
                body = node.text or ""
                match = _CONDITIONAL.match(body)
                if match:
                    out.extend(self.conditional(match["cond"], match["body"], indent))
                elif body.startswith("[if") and body.endswith("]><!"):
                    out.append(f"{indent}<!--{_WS.sub(' ', body)}-->")  # downlevel-revealed
                elif body == "<![endif]":
                    out.append(f"{indent}<!--<![endif]-->")
                # any other comment is only a comment
            elif isinstance(node, etree._Element) and isinstance(node.tag, str):
                out.append(f"{indent}<{node.tag}{self.attributes(list(node.attrib.items()))}>")
                if node.tag == "style":
                    out.append(f"{indent}  {{{self._ids(_css(node.text or ''))}}}")
                else:
                    text(node.text, depth + 1)
                    for child in node:
                        walk(child, depth + 1)
            text(node.tail, depth)

        walk(root, 0)
        return out


def parse(source: str) -> etree._Element:
    return lxml_html.document_fromstring(source)


def canonical(root: etree._Element) -> list[str]:
    return _Canonicaliser().lines(root)


def compare(mrml_html: str, reference_html: str, major: str) -> tuple[list[str], dict[str, int]]:
    """The unified diff that remains after the allowed reconcilers, and how often each fired."""
    trees = {"mrml": parse(mrml_html), "reference": parse(reference_html)}
    fired = {}
    for description, reconciler in RECONCILERS.items():
        if major in reconciler.majors:
            fired[description] = reconciler.apply(trees[reconciler.side])
    diff = list(
        difflib.unified_diff(
            canonical(trees["mrml"]),
            canonical(trees["reference"]),
            "mjml-python (MRML)",
            f"mjml {major} (reference)",
            n=2,
            lineterm="",
        )
    )
    return diff, fired


# ---------------------------------------------------------------------------------------
# The MJML sources, and their compilations
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The same isolation as tests/conftest.py's autouse fixture, for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("NEWSLETTER_"):
                mp.delenv(name)
        mp.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdefghijklmnop")
        mp.setenv("NEWSLETTER_TEMPLATES_DIR", str(REPO / "templates"))
        mp.chdir(tmp_path_factory.mktemp("fidelity"))
        from newsletter.config import load_settings

        yield load_settings()


def _recorded_source(build: Callable[[], object]) -> str:
    """The MJML that production passes to compile_mjml (post-Jinja): the render request is
    recorded on its way to the template worker, and its `.mjml` part rendered again here by
    the same sandboxed environment the worker runs (`rendering.environment.render`)."""
    from newsletter.rendering import environment, isolated

    with mock.patch.object(isolated, "render_pair", wraps=isolated.render_pair) as spy:
        build()
    assert spy.call_count == 1, spy.call_args_list
    folder, template, context, _text = spy.call_args.args
    return environment.render(
        folder, f"{template}.mjml", context, limits=spy.call_args.kwargs["limits"]
    )


@pytest.fixture(scope="module")
def sources(settings_env: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from newsletter.articles import load_article
    from newsletter.rendering.compose import compile_email
    from newsletter.rendering.confirm import render_confirmation

    all_blocks_path = tmp_path_factory.mktemp("articles") / "every-block.md"
    all_blocks_path.write_text(ALL_BLOCKS_MARKDOWN, encoding="utf-8")
    text = load_article(SEED_FORMATS["text"])
    markdown = load_article(SEED_FORMATS["markdown"])
    assert markdown.hero_image, "the Markdown seed should exercise the hero image"
    articles = {
        "article-text": text,
        "article-markdown": markdown,
        "article-all-blocks": load_article(all_blocks_path),
        "article-html": load_article(SEED_FORMATS["html"]),
    }
    built: dict[str, Callable[[], object]] = {
        name: (lambda article=article: compile_email([article], settings_env, today=TODAY))
        for name, article in articles.items()
    }
    built["digest"] = lambda: compile_email(
        [text, markdown], settings_env, template="digest", today=TODAY
    )
    built["confirm"] = lambda: render_confirmation(
        settings_env, confirm_url="https://mindstream.example/confirm/abc", first_name="Alex"
    )
    found = {name: _recorded_source(build) for name, build in built.items()}
    missing = [part for part in ALL_BLOCKS_MJML if part not in found["article-all-blocks"]]
    assert not missing, f"the all-blocks article no longer produces {missing}"
    return found


@pytest.fixture(scope="module")
def mrml(sources: dict[str, str]) -> dict[str, str]:
    from newsletter.rendering.mjml import compile_mjml

    return {name: compile_mjml(source, where=name) for name, source in sources.items()}


def reference_compile(major: str, documents: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Compile every document with the npm compiler of that major version, in one process."""
    node = shutil.which("node")
    name = "mjml" if major == "4" else "mjml5"
    if node is None or not (NODE_MODULES / name / "package.json").exists():
        pytest.fail(
            f"the reference MJML compiler is not installed (node_modules/{name} "
            f"missing{'' if node else ', and no node on PATH'}): run `npm ci` at the "
            "repository root (CI's .ci/run does)",
            pytrace=False,
        )
    lines = "".join(json.dumps({"id": k, "mjml": v}) + "\n" for k, v in documents.items())
    run = subprocess.run(
        [node, str(COMPILE_SCRIPT), "--major", major],
        input=lines,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return {answer["id"]: answer for answer in answers}


@pytest.fixture(scope="module")
def reference(sources: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    return {major: reference_compile(major, sources) for major in REFERENCE_VERSIONS}


# ---------------------------------------------------------------------------------------
# DOM tests
# ---------------------------------------------------------------------------------------


def test_every_allowed_difference_is_reconciled() -> None:
    assert set(ALLOWED_DIFFERENCES) == set(RECONCILERS)


@pytest.mark.parametrize("major", sorted(REFERENCE_VERSIONS))
def test_reference_compiler_version_and_validation(major: str, reference: dict) -> None:
    for name, answer in reference[major].items():
        assert "error" not in answer, f"{name}: {answer.get('error')}"
        assert answer["version"].startswith(REFERENCE_VERSIONS[major]), answer["version"]
        assert answer["errors"] == [], f"mjml {major} rejects {name}: {answer['errors']}"


@pytest.mark.parametrize("name", DOCUMENTS)
@pytest.mark.parametrize("major", sorted(REFERENCE_VERSIONS))
def test_dom_matches_reference(major: str, name: str, mrml: dict, reference: dict) -> None:
    diff, _ = compare(mrml[name], reference[major][name]["html"], major)
    assert not diff, (
        f"{name}: mjml-python and mjml {major} differ beyond ALLOWED_DIFFERENCES. If the "
        "difference is harmless, add it there with its reason and a narrow reconciler; "
        "otherwise change the template to avoid it.\n" + "\n".join(diff[:80])
    )


def test_every_allowed_difference_still_occurs(mrml: dict, reference: dict) -> None:
    seen = dict.fromkeys(ALLOWED_DIFFERENCES, 0)
    for major in REFERENCE_VERSIONS:
        for name in mrml:
            _, fired = compare(mrml[name], reference[major][name]["html"], major)
            for description, count in fired.items():
                seen[description] += count
    stale = [description for description, count in seen.items() if count == 0]
    assert not stale, f"no longer different, remove from ALLOWED_DIFFERENCES: {stale}"


def test_canonical_form_is_sensitive() -> None:
    """The normalisation ignores formatting, not content (a guard against over-normalising)."""
    base = (
        "<!doctype html><html><head><style>a { color: red; }</style></head><body>"
        '<!--[if mso | IE]><table role="presentation" width="600"><tr><td><![endif]-->'
        '<div class="b a" style="padding:0px;color:#000">Hi</div></body></html>'
    )
    same = base.replace("color: red; }", "color:red }").replace('class="b a"', 'class="a b"')
    same = same.replace(
        "<tr><td><![endif]-->", "<tr><![endif]--><!--[if mso | IE]><td><![endif]-->"
    )
    assert canonical(parse(base)) == canonical(parse(same))
    for changed in (
        base.replace("color: red", "color: blue"),
        base.replace('width="600"', 'width="480"'),
        base.replace("padding:0px", "padding:1px"),
        base.replace("Hi", "Hi!"),
        base.replace("[if mso | IE]", "[if mso]"),
    ):
        assert canonical(parse(base)) != canonical(parse(changed)), changed


# ---------------------------------------------------------------------------------------
# Pixel tests
# ---------------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 140, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def take_screenshots(jobs: dict[Any, tuple[str, int]]) -> dict[Any, Any]:
    """{key: (html, width)} → {key: full-page PIL image}, with no network: every image
    request gets a local 600×300 PNG (the widest image the templates declare is 600 px).

    Runs its own Playwright in a worker thread: the sync API refuses to start where another
    sync Playwright is open (tests/browser keeps one open for the whole session).
    """
    from PIL import Image
    from playwright.sync_api import sync_playwright

    image = _png(600, 300)

    def route(route: Any) -> None:
        if route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/png", body=image)
        else:
            route.abort()

    def work() -> dict[Any, Any]:
        shots = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for width in sorted({width for _, width in jobs.values()}):
                context = browser.new_context(
                    viewport={"width": width, "height": 800}, device_scale_factor=1
                )
                context.route("**/*", route)
                page = context.new_page()
                for key, (html, job_width) in jobs.items():
                    if job_width == width:
                        page.set_content(html, wait_until="load")
                        data = page.screenshot(full_page=True, animations="disabled", caret="hide")
                        shots[key] = Image.open(io.BytesIO(data)).convert("RGB")
                context.close()
            browser.close()
        return shots

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(timeout=300)


SENSITIVITY_CELL = "padding:0px 28px 16px 28px;"


@pytest.fixture(scope="module")
def screenshots(mrml: dict, reference: dict) -> dict[Any, Any]:
    """Every document from every compiler at every width, keyed (compiler, name, width);
    plus ("shifted", "article-text", 375) for the sensitivity check."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)", pytrace=False
        )
    jobs: dict[Any, tuple[str, int]] = {}
    for width in WIDTHS:
        for name, html in mrml.items():
            jobs["mrml", name, width] = (html, width)
            for major in REFERENCE_VERSIONS:
                jobs[major, name, width] = (reference[major][name]["html"], width)
    assert SENSITIVITY_CELL in mrml["article-text"]
    shifted = mrml["article-text"].replace(SENSITIVITY_CELL, "padding:0px 27px 16px 29px;")
    jobs["shifted", "article-text", 375] = (shifted, 375)
    return take_screenshots(jobs)


def differing_fraction(a: Any, b: Any) -> float:
    from PIL import ImageChops

    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return diff.histogram()[255] / (a.width * a.height)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", DOCUMENTS)
@pytest.mark.parametrize("major", sorted(REFERENCE_VERSIONS))
def test_screenshots_match_reference(major: str, name: str, width: int, screenshots: dict) -> None:
    ours, theirs = screenshots["mrml", name, width], screenshots[major, name, width]
    assert ours.size == theirs.size, (
        f"{name} at {width}px: {ours.size} vs mjml {major} {theirs.size}"
    )
    fraction = differing_fraction(ours, theirs)
    assert fraction <= MAX_DIFFERING_PIXELS, (
        f"{name} at {width}px: {fraction:.4%} of pixels differ from mjml {major} "
        f"(limit {MAX_DIFFERING_PIXELS:.2%})"
    )


def test_pixel_comparison_is_sensitive(screenshots: dict) -> None:
    """Body text moved 1 px sideways (same page size) must exceed the allowance."""
    before, after = (
        screenshots["mrml", "article-text", 375],
        screenshots["shifted", "article-text", 375],
    )
    assert before.size == after.size
    assert differing_fraction(before, after) > MAX_DIFFERING_PIXELS
