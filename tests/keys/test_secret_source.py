"""Where the key ring comes from (issue #13, "secrets"): refused without a key where real
email goes out, generated next to the database anywhere else, never in the working directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigurationError
from tests.seed import REPO

ARTICLE = REPO / "articles" / "neuroplasticity-ketamine.txt"
KEY = "k" * 40
PRODUCTION = {"NEWSLETTER_PUBLIC_URL": "https://news.mindstream.example"}
SENDGRID = {**PRODUCTION, "NEWSLETTER_SENDGRID_API_KEY": "SG.real-key-for-the-real-api"}
SMTP = {**PRODUCTION, "NEWSLETTER_DELIVERY": "smtp", "NEWSLETTER_SMTP_HOST": "smtp.example.net"}

# Every command that reads the settings, with arguments it accepts.
COMMANDS = [
    ("render", ARTICLE), ("check", ARTICLE), ("preview", ARTICLE), ("preview",), ("serve",),
    ("engine",), ("worker",), ("db", "upgrade"), ("db", "current"),
    ("lists", "create", "news"), ("lists", "list"),
    ("lists", "add", "news", "a@example.com", "--consent", "c"),
    ("lists", "remove", "news", "a@example.com"),
    ("segments", "list"), ("segments", "show", "everyone"), ("segments", "count", "everyone"),
    ("subscribers", "add", "a@example.com", "--consent", "c"),
    ("subscribers", "show", "a@example.com"),
    ("subscribers", "edit", "a@example.com", "--first-name", "A"),
    ("subscribers", "import", ARTICLE, "--list", "news", "--consent", "c"),
    ("subscribers", "export"), ("subscribers", "unsubscribe", "a@example.com"),
    ("subscribers", "resubscribe", "a@example.com", "--consent", "c"),
    ("subscribers", "tag", "a@example.com", "--add", "x"),
    ("subscribers", "erase", "a@example.com", "--yes"),
    ("subscribers", "gdpr-export", "a@example.com"),
    ("subscribers", "confirm", "token"), ("audit", "list"), ("secret", "rotate"),
    ("campaign", "create", "--article", ARTICLE, "--segment", "everyone"),
    ("campaign", "send", "1"), ("campaign", "schedule", "1", "--at", "2030-01-01T09:00+00:00"),
    ("campaign", "pause", "1"), ("campaign", "resume", "1"), ("campaign", "cancel", "1"),
    ("campaign", "retry-failed", "1"), ("campaign", "status", "1"), ("campaign", "list"),
    ("campaign", "test", "1", "--to", "a@example.com"), ("events", "process"),
]  # fmt: skip


def _environment(monkeypatch, values):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("setup", [SENDGRID, SMTP], ids=["sendgrid", "smtp"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(map(str, c[:2])))
def test_production_like_setup_without_a_key_stops_every_command(
    cli, monkeypatch, tmp_path, setup, command
):
    _environment(monkeypatch, setup)
    result = cli(*command)
    assert result.code == 2, result.out + result.err
    assert "NEWSLETTER_SECRET_KEY is not set" in result.err
    assert "newsletter secret generate" in result.err
    assert "Traceback" not in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no key file made anywhere


def test_secret_generate_works_without_a_key_and_prints_an_entry(cli, monkeypatch):
    _environment(monkeypatch, SENDGRID)
    result = cli("secret", "generate")
    assert result.code == 0, result.err
    entry = result.out.strip()
    assert entry.startswith("a:") and len(entry) >= 34
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", entry)
    assert load_settings().key_ring.current_id == "a"


def test_secret_generate_suggests_the_next_id_for_a_rotation(cli, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"a:{KEY}")
    result = cli("secret", "generate")
    assert result.out.startswith("b:")
    assert "newsletter secret rotate" in result.err
    refused = cli("secret", "generate", "--id", "a")
    assert refused.code == 2 and "already in the key ring" in refused.err


def test_the_emulator_and_localhost_are_not_production(monkeypatch):
    _environment(monkeypatch, {**SENDGRID, "NEWSLETTER_SENDGRID_BASE_URL": "http://127.0.0.1:3030"})
    assert len(load_settings().key_ring.current) >= 32
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://localhost:8443")
    monkeypatch.delenv("NEWSLETTER_SENDGRID_BASE_URL")
    assert len(load_settings().key_ring.current) >= 32


def test_a_key_file_is_read_for_docker_and_systemd_secrets(monkeypatch, tmp_path):
    _environment(monkeypatch, SENDGRID)
    path = tmp_path / "newsletter_key"
    path.write_text(f"# rotated 2026-12-01\nb:{'n' * 40}\na:{KEY}\n")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY_FILE", str(path))
    ring = load_settings().key_ring
    assert ring.ids == ("b", "a") and ring.current == "n" * 40


@pytest.mark.parametrize("kind", ["missing", "folder", "fifo", "malformed"])
def test_a_bad_key_file_is_a_message(monkeypatch, tmp_path, kind):
    _environment(monkeypatch, SENDGRID)
    path = tmp_path / "key"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "malformed":
        path.write_text("a:too-short\n")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY_FILE", str(path))
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    expected = {"missing": "does not exist", "folder": "is a folder", "fifo": "not a regular",
                "malformed": "shorter than 32"}[kind]  # fmt: skip
    assert expected in str(info.value) and str(path) in str(info.value)


def test_key_and_key_file_together_are_refused(monkeypatch, tmp_path):
    path = tmp_path / "key"
    path.write_text(KEY)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY_FILE", str(path))
    with pytest.raises(ConfigurationError, match="both NEWSLETTER_SECRET_KEY and"):
        load_settings()


def test_the_generated_key_lives_next_to_the_database_not_in_the_working_directory(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{data / 'news.db'}")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    key = load_settings().key_ring.current
    monkeypatch.chdir(second)
    assert load_settings().key_ring.current == key
    assert sorted(p.name for p in data.iterdir()) == ["news.db.secret"]
    assert stat.S_IMODE((data / "news.db.secret").stat().st_mode) == 0o600
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []


def test_a_server_database_keeps_its_generated_key_in_the_state_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql://postgres@127.0.0.1/news")
    key = load_settings().key_ring.current
    [kept] = (tmp_path / "state" / "newsletter").iterdir()
    assert kept.name.startswith("postgresql-") and key in kept.read_text()
    assert not Path(".newsletter-secret").exists()


def _database_with_a_subscriber(cli) -> None:
    assert cli("lists", "create", "news").code == 0
    added = cli("subscribers", "add", "ann@example.com", "--list", "news", "--consent", "c")
    assert added.code == 0, added.err


def test_a_lost_key_file_next_to_a_database_holding_people_is_refused(cli, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    _database_with_a_subscriber(cli)
    Path("newsletter.db.secret").unlink()
    result = cli("lists", "list")
    assert result.code == 2
    assert "secret key generated for it is missing" in result.err
    assert "restore the key file" in result.err
    assert not Path("newsletter.db.secret").exists()


def test_a_database_never_used_with_a_key_gets_a_new_one(cli, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    assert cli("db", "upgrade").code == 0
    Path("newsletter.db.secret").unlink()
    assert cli("lists", "list").code == 0
    assert Path("newsletter.db.secret").exists()


def test_a_key_from_the_old_working_directory_file_is_adopted_next_to_its_database(
    cli, monkeypatch
):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY)  # as the old code generated it
    _database_with_a_subscriber(cli)
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    Path(".newsletter-secret").write_text(KEY + "\n")
    assert load_settings().key_ring.current == KEY
    assert Path("newsletter.db.secret").read_text().strip() == f"a:{KEY}"
    shown = cli("subscribers", "show", "ann@example.com")
    assert shown.code == 0, shown.err


def test_an_unwritable_folder_for_the_generated_key_is_a_message(cli, monkeypatch, tmp_path):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{blocker / 'news.db'}")
    result = cli("lists", "list")
    assert result.code == 2
    assert "cannot keep the generated secret key next to the database" in result.err
    assert "Traceback" not in result.err


def test_secret_key_holds_the_current_key_and_the_ring_the_rest(monkeypatch):
    """Code that reads `secret_key` (a hash key, an itsdangerous secret) gets the current
    key, never the ring's text; `key_ring` and `signing_keys` carry every key."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", f"b:{'n' * 40} a:{KEY}")
    settings = load_settings()
    assert settings.secret_key.get_secret_value() == "n" * 40
    assert settings.key_ring.ids == ("b", "a")
    assert list(settings.signing_keys) == ["b", "a"]
    assert settings.model_copy(update={"clinic_name": "X"}).key_ring.ids == ("b", "a")
