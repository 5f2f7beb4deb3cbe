import pytest

from newsletter.config import load_settings
from newsletter.emulator import EmulatorConfig, run_emulator
from tests.audience_db import db, db_url  # noqa: F401
from tests.seed import REPO


@pytest.fixture
def send_settings(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_AUDIENCES_DIR", str(REPO / "audiences"))
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.mindstream.example")
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "10")
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_S", "0.01")
    monkeypatch.setenv("NEWSLETTER_RETRY_CAP_S", "0.05")
    monkeypatch.setenv("NEWSLETTER_LEASE_SECONDS", "2")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "1")  # lease > timeout + margin
    monkeypatch.setenv("NEWSLETTER_SEND_SAFETY_MARGIN_S", "0.25")
    monkeypatch.setenv("NEWSLETTER_WEBHOOK_GRACE_S", "0.5")
    return load_settings()


@pytest.fixture
def emulator(tmp_path):
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        yield emu
