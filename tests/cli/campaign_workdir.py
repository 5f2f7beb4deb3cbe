"""A working directory for campaign commands through the CLI: the test database, an https
public URL, the outbox backend and the sample segment and attribute files. Import it:
`from tests.cli.campaign_workdir import workdir  # noqa: F401`."""

from __future__ import annotations

import shutil

import pytest

from tests.audience_db import db_url  # noqa: F401
from tests.seed import REPO


@pytest.fixture
def workdir(tmp_path, monkeypatch, db_url):  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.mindstream.example")
    monkeypatch.setenv("NEWSLETTER_DELIVERY", "outbox")
    monkeypatch.setenv("COLUMNS", "200")
    audiences = tmp_path / "audiences"
    audiences.mkdir()
    for name in ("everyone.yaml", "attributes.yaml"):
        shutil.copy(REPO / "audiences" / name, audiences / name)
    return tmp_path
