"""Clean failure everywhere (issue #13): every failure below is a message (what, where, how
to fix) with exit code 2, never a traceback; inputs that cannot end are refused before they
are read; terminal output escapes control characters; `serve` logs a client abort as one
line and cuts link tokens from its access log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.seed import SEED_TEXT
from tests.web.support import Signer

CONSENT = "I agree to receive the clinic newsletter."


def _clean(result, *expected: str) -> None:
    text = " ".join((result.out + result.err).split())
    assert result.code == 2, text
    assert "Traceback" not in text and "Fix:" in text, text
    for part in expected:
        assert part in text, text


@pytest.mark.parametrize(
    ("url", "expected"),
    [("postgresql://postgres@127.0.0.1:1/newsletter", "cannot connect to the database"),
     ("sqlite:////nonexistent-folder/news.db", "its folder does not exist"),
     ("sqlite:///{tmp}/not-a-database.db", "is not a SQLite database"),
     ("sqlite:///{tmp}", "is a folder, not a database file")],
    ids=["postgres-unreachable", "sqlite-no-folder", "not-a-database", "folder"],
)  # fmt: skip
@pytest.mark.parametrize("command", [("lists", "list"), ("serve",), ("db", "upgrade")])
def test_database_that_cannot_be_opened_is_a_message(cli, monkeypatch, tmp_path, url,
                                                     expected, command):  # fmt: skip
    (tmp_path / "not-a-database.db").write_text("just some text, not SQLite\n" * 100)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url.format(tmp=tmp_path))
    _clean(cli(*command), expected, "NEWSLETTER_DATABASE_URL")


def test_config_pointing_at_a_folder_is_a_message(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(tmp_path))
    _clean(cli("lists", "list"), "is a folder, not a configuration file", "NEWSLETTER_CONFIG")


def test_a_dotenv_folder_is_a_message(cli):
    Path(".env").mkdir()
    _clean(cli("render", SEED_TEXT), ".env: is a folder, not a file")


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
@pytest.mark.parametrize("command", ["render", "import"])
def test_inputs_that_cannot_end_are_refused_before_reading(cli, tmp_path, kind, command):
    assert cli("lists", "create", "news").code == 0
    path = {"device": Path("/dev/zero"), "fifo": tmp_path / "pipe.md",
            "folder": tmp_path}[kind]  # fmt: skip
    if kind == "fifo":
        os.mkfifo(path)
    start = time.monotonic()
    if command == "render":
        result = cli("render", path)
    else:
        result = cli("subscribers", "import", path, "--list", "news", "--consent", CONSENT)
    expected = {"device": "not a regular file (a character device)",
                "fifo": "not a regular file (a FIFO", "folder": "is a folder"}[kind]  # fmt: skip
    _clean(result, expected)
    assert time.monotonic() - start < 10


def test_an_oversized_markdown_file_is_refused_before_parsing(cli, tmp_path, monkeypatch):
    import newsletter.articles as articles

    def never(*args, **kwargs):
        raise AssertionError("parsed an oversized file")

    monkeypatch.setattr(articles, "parse_article", never)
    path = tmp_path / "huge.md"
    path.write_text("# Title\n\n" + "*emphasis* **strong** " * 220_000)  # 4.8 MB
    start = time.monotonic()
    _clean(cli("render", path), "the limit for a markdown file is 2.0 MB",
           "NEWSLETTER_MAX_MARKDOWN_BYTES")  # fmt: skip
    assert time.monotonic() - start < 5


def test_size_caps_are_settings_per_format(cli, tmp_path, monkeypatch):
    assert cli("lists", "create", "news").code == 0
    path = tmp_path / "people.csv"
    path.write_text("email,first_name\nann@example.com,Ann\n" + f"bob@example.com,{'B' * 3000}\n")
    monkeypatch.setenv("NEWSLETTER_MAX_CSV_BYTES", "1024")
    _clean(cli("subscribers", "import", path, "--list", "news", "--consent", CONSENT),
           "the limit for a subscriber CSV is 1 KB", "NEWSLETTER_MAX_CSV_BYTES")  # fmt: skip
    monkeypatch.delenv("NEWSLETTER_MAX_CSV_BYTES")
    monkeypatch.setenv("NEWSLETTER_MAX_CSV_ROW_BYTES", "2048")
    result = cli("subscribers", "import", path, "--list", "news", "--consent", CONSENT)
    assert result.code == 0 and "1 added" in result.out and "1 rejected" in result.out
    report = Path(str(path) + ".rejects.csv").read_text(encoding="utf-8-sig")
    assert "row longer than 2 KB" in report
    monkeypatch.setenv("NEWSLETTER_MAX_HTML_BYTES", "2048")
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>T</h1>" + "<p>text</p>" * 400 + "</body></html>")
    _clean(cli("render", page), "NEWSLETTER_MAX_HTML_BYTES")


def test_an_unwritable_output_path_is_a_message(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _clean(cli("render", SEED_TEXT, "--out", blocker / "out"), "cannot use this path",
           str(blocker / "out"))  # fmt: skip
    assert cli("lists", "create", "news").code == 0
    _clean(cli("subscribers", "export", "--out", blocker / "x.csv"), "cannot use this path")


def test_control_characters_from_a_csv_header_are_escaped(cli, tmp_path):
    assert cli("lists", "create", "news").code == 0
    path = tmp_path / "evil.csv"
    path.write_text('email,"bad\x1b]8;;https://evil.example\x07X\x1b[2J\u202e"\n'
                    "ann@example.com,1\n")  # fmt: skip
    result = cli("subscribers", "import", path, "--list", "news", "--consent", CONSENT)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\x07" not in result.out and "\u202e" not in result.out
    assert "bad\\x1b]8;;https://evil.example\\x07X\\x1b[2J\\u202e" in result.out.replace("\n", "")


def test_control_characters_in_an_error_are_escaped(cli, tmp_path):
    path = tmp_path / "nope\x1b[2J.md"
    result = cli("render", path)
    assert result.code == 2 and "\x1b" not in result.err and "nope\\x1b[2J.md" in result.err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_logs_a_client_abort_as_one_line_and_cuts_tokens(tmp_path):
    port = _free_port()
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
           "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": Signer().public_key}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    token = "aSECRETtokenValue0123456789abcdefXYZW"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            try:
                httpx.get(f"http://127.0.0.1:{port}/u/{token}", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /webhooks/sendgrid HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{"
            )
            time.sleep(0.3)  # the server is now waiting for the rest of the body
        httpx.get(f"http://127.0.0.1:{port}/confirm/{token}", trust_env=False)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=20)[0].decode()
    assert "Traceback" not in output, output
    assert output.count("client disconnected before sending the whole body") == 1, output
    assert token not in output and "GET /u/…XYZW HTTP/1.1" in output, output
    assert "GET /confirm/…XYZW HTTP/1.1" in output, output


def test_a_database_error_during_a_command_is_a_message(capsys, monkeypatch):
    import typer
    from sqlalchemy.exc import OperationalError

    from newsletter.cli.app import run

    app = typer.Typer()

    @app.command()
    def busy() -> None:
        raise OperationalError("UPDATE …", {}, Exception("database is locked"))

    monkeypatch.setattr(sys, "argv", ["newsletter"])
    assert run(app) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "the database could not be used (database is locked)" in err
    assert "Traceback" not in err
