"""Template errors name the file, the line and the missing name; the sandbox holds."""

import datetime as dt
import shutil

import pytest

from newsletter.articles import load_article
from newsletter.config import load_settings
from newsletter.errors import TemplateError
from newsletter.rendering.compose import compile_email
from tests.seed import REPO, SEED_TEXT


@pytest.fixture
def editable_templates(tmp_path, monkeypatch):
    folder = tmp_path / "my-templates"
    shutil.copytree(REPO / "templates", folder)
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(folder))
    return folder


def compile_seed(template="article"):
    return compile_email(
        [load_article(SEED_TEXT)], load_settings(), template=template, today=dt.date(2026, 12, 1)
    )


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_unknown_name_reports_file_line_and_name(editable_templates):
    path = editable_templates / "article.mjml"
    _edit(path, "Hi {{ email.first_name }},", "Hi {{ email.nickname }},")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "nickname" in text)
    with pytest.raises(TemplateError) as info:
        compile_seed()
    message = str(info.value)
    assert "nickname" in message
    assert f"article.mjml, line {line}" in message


def test_syntax_error_reports_file_and_line(editable_templates):
    path = editable_templates / "layout.mjml"
    _edit(path, "{% block footer %}", "{% block footer %}{% if %}")
    with pytest.raises(TemplateError) as info:
        compile_seed()
    assert "layout.mjml, line" in str(info.value)
    assert "syntax error" in str(info.value)


def test_broken_mjml_is_reported(editable_templates):
    _edit(editable_templates / "article.mjml", "</mj-text>", "")
    with pytest.raises(TemplateError, match="MJML could not be compiled"):
        compile_seed()


def test_unknown_template_lists_the_available_ones():
    with pytest.raises(TemplateError) as info:
        compile_seed("newsletter-fancy")
    assert "article" in str(info.value) and "digest" in str(info.value)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ email.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ config }}",
        "{{ request }}",
        "{{ 'a{0.__class__}'.format(email) }}",
        "{{ email|attr('__class__') }}",
    ],
)
def test_sandbox_blocks_escapes(editable_templates, expression):
    _edit(editable_templates / "article.mjml", "Hi {{ email.first_name }},", expression)
    with pytest.raises(TemplateError):
        compile_seed()


def test_huge_template_is_refused(editable_templates):
    path = editable_templates / "article.mjml"
    path.write_text(path.read_text() + "{# " + "x" * 300_000 + " #}")
    with pytest.raises(TemplateError, match="larger than 256 KB"):
        compile_seed()
