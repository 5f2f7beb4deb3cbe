"""`newsletter emulator` (Typer) and `python -m newsletter.emulator`."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from typer.testing import CliRunner

from newsletter.emulator.config import DEFAULT_SIGNING_SCALAR
from newsletter.emulator.testing import make_mail


def test_cli_command_builds_the_config(monkeypatch, tmp_path):
    import newsletter.cli.emulator  # noqa: F401  (registers the command)
    import newsletter.emulator.server as server
    from newsletter.cli.app import app

    calls = []
    monkeypatch.setattr(server, "serve", lambda port, config: calls.append((port, config)))
    result = CliRunner().invoke(
        app,
        ["emulator", "--port", "0", "--api-key", "SG.a", "--api-key", "SG.b",
         "--webhook-url", "http://127.0.0.1:9/hook", "--log", str(tmp_path / "x.jsonl"),
         "--signing-scalar", "77"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [(port, config)] = calls
    assert port == 0
    assert config.api_keys == {"SG.a": {"mail.send"}, "SG.b": {"mail.send"}}
    assert config.webhook_url == "http://127.0.0.1:9/hook"
    assert str(config.log_path) == str(tmp_path / "x.jsonl")
    assert config.signing_scalar == 77


def test_cli_defaults(monkeypatch):
    import newsletter.cli.emulator  # noqa: F401
    import newsletter.emulator.server as server
    from newsletter.cli.app import app

    calls = []
    monkeypatch.setattr(server, "serve", lambda port, config: calls.append((port, config)))
    assert CliRunner().invoke(app, ["emulator"]).exit_code == 0
    [(port, config)] = calls
    assert port == 3030
    assert config.api_keys == {"SG.local-dev-key": {"mail.send"}}
    assert config.signing_scalar == DEFAULT_SIGNING_SCALAR
    assert config.webhook_url is None and config.log_path is None


def test_module_entry_point_serves_until_terminated(tmp_path):
    log = tmp_path / "sub.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter.emulator", "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer SG.local-dev-key"}
        url = info["base_url"] + "/v3/mail/send"
        resp = httpx.post(url, json=make_mail("sub@example.org"), headers=headers, trust_env=False)
        assert resp.status_code == 202
    finally:
        proc.terminate()  # SIGTERM: a clean stop
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
    assert b"sub@example.org" in log.read_bytes()
