"""`newsletter serve` and `newsletter events process`."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from newsletter.bootstrap import open_database
from newsletter.config import load_settings
from newsletter.services.tracking import ingest
from tests.web.support import NOW, body_of, event, seed_delivery, suppression_of


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from newsletter.cli import load, run

    app = load()

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["newsletter", *map(str, args)])
        code = run(app)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def uvicorn_calls(monkeypatch) -> list:  # type: ignore[no-untyped-def]
    import uvicorn

    calls: list = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_serve_refuses_an_outdated_schema(cli, tmp_path, monkeypatch, uvicorn_calls):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something_else (id INTEGER)")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{path}")
    result = cli("serve")
    assert result.code == 2
    assert "newsletter db upgrade" in result.err
    assert uvicorn_calls == []


def test_serve_runs_one_worker_and_warns_without_a_webhook_key(cli, uvicorn_calls):
    result = cli("serve", "--port", "8123", "--host", "127.0.0.1")
    assert result.code == 0, result.err
    [(app, kwargs)] = uvicorn_calls
    assert kwargs["workers"] == 1 and kwargs["port"] == 8123 and kwargs["host"] == "127.0.0.1"
    assert app.state.settings.public_url
    assert "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY" in result.err


def test_events_process_recovers_stored_batches(cli):
    settings = load_settings()
    with open_database(settings) as db:
        s = seed_delivery(db, "ana@example.org")
        with db.write() as conn:
            ingest(conn, body_of(event("spamreport", s.email, send_id=s.send_id)), NOW)
    first = cli("events", "process", "--json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["rows"] == 1 and json.loads(first.out)["suppressed"] == 1
    again = cli("events", "process")
    assert again.code == 0 and "Processed 0 batch(es)" in again.out
    with open_database(settings) as db:
        assert suppression_of(db, s.email) == "complaint"


def test_newsletter_serve_as_a_real_process(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/webhooks/sendgrid",
                                      content=b"[]", trust_env=False)  # fmt: skip
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None, proc.stdout.read().decode() if proc.stdout else ""
        assert response.status_code == 503  # no key configured: a clear refusal, not a 5xx crash
        page = httpx.get(f"http://127.0.0.1:{port}/u/not-a-token", trust_env=False)
        assert page.status_code == 404 and page.headers["cache-control"] == "no-store"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
