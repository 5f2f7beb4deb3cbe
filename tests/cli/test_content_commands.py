import json
import subprocess
import sys
from pathlib import Path

from tests.seed import SEED_FORMATS, SEED_TEXT


def test_render_writes_the_three_files(cli, tmp_path):
    result = cli("render", SEED_TEXT, "--out", tmp_path / "out", "--campaign", "winter-news")
    assert result.code == 0, result.err
    out = tmp_path / "out"
    summary = json.loads((out / "email.json").read_text())
    assert {"subject", "preheader", "from", "links", "html_bytes", "warnings"} <= set(summary)
    assert summary["html_bytes"] == len((out / "email.html").read_bytes())
    assert summary["from"] == "Mindstream Medicine <news@mindstream.example>"
    consultation = [link for link in summary["links"] if link["kind"] == "consultation"]
    assert consultation and "utm_campaign=winter-news" in consultation[0]["url"]
    assert all({"key", "url", "kind", "label"} <= set(link) for link in summary["links"])
    assert "Hi Alex," in (out / "email.txt").read_text()
    assert "-nl_" not in (out / "email.html").read_text()


def test_render_defaults_to_the_current_directory(cli):
    assert cli("render", SEED_FORMATS["markdown"]).code == 0
    assert Path("email.html").exists() and Path("email.txt").exists()


def test_check_passes_for_the_seed_article(cli):
    result = cli("check", SEED_TEXT)
    assert result.code == 0
    assert "All checks passed" in result.out


def test_check_fails_with_exit_1(cli, tmp_path, monkeypatch):
    article = tmp_path / "long.md"
    article.write_text("# " + "A very long subject line " * 5 + "\n\nBody text.\n")
    result = cli("check", article)
    assert result.code == 1
    assert "Subject" in result.out and "FAILED" in result.out


def test_bad_article_exits_2_with_a_message(cli, tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    result = cli("render", bad)
    assert result.code == 2
    assert "empty.txt" in result.err and "Fix:" in result.err
    assert "Traceback" not in result.err


def test_bad_campaign_key_and_unknown_template_exit_2(cli):
    assert cli("render", SEED_TEXT, "--campaign", "Ketamine Special!").code == 2
    result = cli("render", SEED_TEXT, "--template", "nope")
    assert result.code == 2 and "not found" in result.err


def test_usage_error_exits_2(cli):
    assert cli("render").code == 2
    assert cli("no-such-command").code == 2


def test_bad_setting_stops_with_the_setting_named(cli, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_ACCENT_COLOR", "red")
    result = cli("render", SEED_TEXT)
    assert result.code == 2
    assert "NEWSLETTER_ACCENT_COLOR" in result.err


def test_installed_command_has_no_traceback_on_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "render", str(tmp_path / "missing.txt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_for_a_real_subscriber_uses_their_first_name(cli, tmp_path):
    assert cli("db", "upgrade").code == 0
    added = cli(
        "subscribers",
        "add",
        "rosa@example.org",
        "--first-name",
        "Rosa",
        "--consent",
        "Yes, send me news",
    )
    assert added.code == 0, added.err
    result = cli("render", SEED_TEXT, "--out", tmp_path / "o", "--subscriber", "ROSA@example.org")
    assert result.code == 0, result.err
    assert "Hi Rosa," in (tmp_path / "o" / "email.txt").read_text()
    summary = json.loads((tmp_path / "o" / "email.json").read_text())
    assert summary["to"] == "rosa@example.org"


def test_render_for_an_unknown_subscriber_exits_2(cli):
    assert cli("db", "upgrade").code == 0
    result = cli("render", SEED_TEXT, "--subscriber", "nobody@example.org")
    assert result.code == 2
    assert "no subscriber nobody@example.org" in result.err
    assert "Traceback" not in result.err
