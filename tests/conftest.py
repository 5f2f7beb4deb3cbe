"""Shared fixtures. Every test runs in its own working directory with no NEWSLETTER_* leaking in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.seed import REPO


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789abcdefghijklmnop")
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(REPO / "templates"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings():
    from newsletter.config import load_settings

    return load_settings()
