"""Templates are functions of their inputs, bounded, and contained (issue #13): each finding
of the attack on the product, rendered through the real worker process."""

from __future__ import annotations

import datetime as dt
import shutil
import time

import pytest

from newsletter.articles import load_article
from newsletter.config import load_settings
from newsletter.errors import TemplateError
from newsletter.rendering import isolated
from newsletter.rendering.compose import compile_email
from tests.seed import REPO, SEED_TEXT


@pytest.fixture
def templates(tmp_path, monkeypatch):
    folder = tmp_path / "my-templates"
    shutil.copytree(REPO / "templates", folder)
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(folder))
    return folder


def compile_seed():
    return compile_email([load_article(SEED_TEXT)], load_settings(), today=dt.date(2026, 12, 1))


def _insert(path, text, after="{% block content %}"):
    source = path.read_text()
    at = source.index(after) + len(after)
    path.write_text(source[:at] + text + source[at:])


def _refused(templates, snippet, file="article.mjml"):
    """The TemplateError and the seconds it took, not counting a worker's start."""
    _insert(templates / file, snippet, after="{% block content %}")
    isolated.WORKER.ensure_started()
    start = time.monotonic()
    with pytest.raises(TemplateError) as info:
        compile_seed()
    return str(info.value), time.monotonic() - start


def test_a_template_cannot_rewrite_the_subject(templates):
    message, _ = _refused(
        templates, "{% set _ = email.update({'subject': 'Hello\\r\\nBcc: victim@example.net'}) %}"
    )
    assert "not allowed in templates" in message and "update" in message
    assert "article.mjml, line" in message


def test_the_subject_and_headers_are_the_products_own(templates):
    _insert(templates / "article.mjml", "{% set email = dict(email, subject='Changed') %}",
            after="{% block content %}")  # fmt: skip
    compiled = compile_seed()
    assert compiled.subject == load_article(SEED_TEXT).title
    assert "\r" not in compiled.subject and "\n" not in compiled.subject


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("{{ 9**(9**9) }}", "power"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "loops ran more than 100,000 times"),
        ("{{ 'A' * 10**10 }}", "repeated string"),
        ("{{ 'A'.ljust(10**10) }}", "`ljust` padding"),
        ("{{ 'A'|center(10**10) }}", "`center` padding"),
        ("{{ '{:>9999999999}'.format(1) }}", "format width"),
        ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
         "{% endfor %}", "joined list"),
        ("{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}", "joined string"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "calls itself"),
        ("{% include 'article.mjml' %}", "calls itself"),
        ("{% for i in range(90000) %}{{ 'x' * 1000 }}{% endfor %}", "wrote more than 1,000,000"),
    ],
    ids=["power", "nested-ranges", "repeat", "ljust", "center", "format", "list-doubling",
         "concat-doubling", "recursive-macro", "self-include", "100-MB-output"],
)  # fmt: skip
def test_hangs_and_exhaustion_are_refused_with_file_and_line(templates, snippet, expected):
    message, seconds = _refused(templates, snippet)
    assert expected in message
    assert "article.mjml" in message
    assert "Traceback" not in message and "MemoryError" not in message
    assert seconds < 2.5 * load_settings().render_timeout_s


def test_a_slow_loop_stops_at_the_deadline_with_its_line(templates, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_RENDER_TIMEOUT_S", "0.5")
    slow = ("{% for i in range(100000) %}{% set x = range(3000)|list|sort(reverse=true)|join %}"
            "{% endfor %}")  # fmt: skip
    message, seconds = _refused(templates, slow)
    assert "took longer than" in message and "article.mjml, line" in message
    assert seconds < 2.5 * 0.5


def test_the_hard_deadline_kills_a_worker_that_does_not_answer(templates, monkeypatch):
    """When the worker cannot stop itself (one long C call), the parent kills it at the
    deadline and the next render gets a fresh worker."""
    monkeypatch.setenv("NEWSLETTER_RENDER_TIMEOUT_S", "0.5")
    monkeypatch.setattr(isolated, "SOFT_DEADLINE_SHARE", 100.0)  # no soft deadline in time
    isolated.WORKER.ensure_started()
    starts = isolated.WORKER.starts
    slow = ("{% for i in range(100000) %}{% set x = range(3000)|list|sort(reverse=true)|join %}"
            "{% endfor %}")  # fmt: skip
    message, seconds = _refused(templates, slow)
    assert "took longer than 0.5 s to render" in message
    assert seconds < 2.5 * 0.5
    shutil.copy(REPO / "templates" / "article.mjml", templates / "article.mjml")
    assert compile_seed().subject  # a new worker answers
    assert isolated.WORKER.starts == starts + 1


def test_a_symlink_out_of_the_templates_folder_is_refused(templates, tmp_path):
    outside = tmp_path / "elsewhere.mjml"
    outside.write_text("{% extends 'layout.mjml' %}")
    (templates / "article.mjml").unlink()
    (templates / "article.mjml").symlink_to(outside)
    with pytest.raises(TemplateError) as info:
        compile_seed()
    assert "resolves outside the templates folder" in str(info.value)


def test_a_symlink_inside_the_templates_folder_still_works(templates):
    (templates / "copy.mjml").write_text((templates / "article.mjml").read_text())
    (templates / "article.mjml").unlink()
    (templates / "article.mjml").symlink_to(templates / "copy.mjml")
    assert compile_seed().subject


@pytest.mark.parametrize(
    ("snippet", "found"),
    [("<mj-raw><script>alert(1)</script></mj-raw>", "<script>"),
     ('<mj-raw><img src="https://x.example/a.png" alt="a" onerror="alert(1)"></mj-raw>',
      "onerror="),
     ('<mj-raw><a href="javascript:alert(1)">x</a></mj-raw>', "javascript:")],
    ids=["script", "event-handler", "javascript-url"],
)  # fmt: skip
def test_scripts_in_a_template_fail_check(cli, templates, snippet, found):
    _insert(templates / "article.mjml", snippet, after="{% block content %}")
    result = cli("check", SEED_TEXT)
    assert result.code == 1, result.out + result.err
    out = " ".join(result.out.split())
    assert "No scripts" in out and found in out


def test_the_seed_email_passes_the_new_checks(cli):
    result = cli("check", SEED_TEXT)
    out = " ".join(result.out.split())
    assert result.code == 0, out
    assert "No scripts │ ok" in out and "Headers │ ok" in out


def test_check_fails_on_a_template_that_alters_a_header(cli, templates):
    _insert(templates / "article.mjml",
            "{% set _ = email.update({'subject': 'Hello\\r\\nBcc: victim@example.net'}) %}",
            after="{% block content %}")  # fmt: skip
    result = cli("check", SEED_TEXT)
    assert result.code == 2
    assert "not allowed in templates" in result.err and "Traceback" not in result.err


def test_render_of_a_hanging_template_exits_2_within_the_deadline(cli, templates, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_RENDER_TIMEOUT_S", "0.5")
    _insert(templates / "article.mjml", "{{ 9**(9**9) }}", after="{% block content %}")
    isolated.WORKER.ensure_started()
    start = time.monotonic()
    result = cli("render", SEED_TEXT)
    assert result.code == 2
    assert "refused: a power" in result.err and "Traceback" not in result.err
    assert time.monotonic() - start < 2.5 * 0.5


def test_a_template_exhausting_memory_is_a_template_error_and_the_worker_is_replaced(
    templates, monkeypatch
):
    monkeypatch.setenv("NEWSLETTER_RENDER_TIMEOUT_S", "20")  # the memory limit comes first
    hungry = ("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
              "{% set ns.l = ns.l + [range(100000)|list] %}{% endfor %}")  # fmt: skip
    isolated.WORKER.ensure_started()
    starts = isolated.WORKER.starts
    message, _ = _refused(templates, hungry)
    assert "needs more memory than a render may use" in message
    shutil.copy(REPO / "templates" / "article.mjml", templates / "article.mjml")
    assert compile_seed().subject
    assert isolated.WORKER.starts == starts + 1
