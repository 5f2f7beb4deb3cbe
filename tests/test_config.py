from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigurationError


def test_defaults_describe_the_demo_clinic(settings):
    assert settings.clinic_name == "Mindstream Medicine"
    assert "Philadelphia" in settings.postal_address
    assert settings.public_url.startswith("http")


def test_toml_values_are_used_and_environment_overrides_them(monkeypatch, tmp_path):
    Path("newsletter.toml").write_text(
        '[clinic]\nclinic_name = "Rittenhouse Wellness"\npublic_url = "https://news.rw.example"\n'
    )
    assert load_settings().clinic_name == "Rittenhouse Wellness"
    assert load_settings().public_url == "https://news.rw.example"
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://override.example/")
    assert load_settings().public_url == "https://override.example"


def test_invalid_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_BRAND_COLOR", "teal")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "brand_color" in message
    assert "environment variable NEWSLETTER_BRAND_COLOR" in message
    assert "Fix:" in message


def test_invalid_toml_value_names_file_and_line():
    Path("newsletter.toml").write_text('clinic_name = "X"\n\nsender_email = "not-an-address"\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "newsletter.toml, line 3, key `sender_email`" in str(info.value)


def test_unknown_toml_key_is_refused_with_its_line():
    Path("newsletter.toml").write_text('clinic_name = "X"\nclinic_nmae = "typo"\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "unknown setting `clinic_nmae`" in str(info.value)
    assert "line 2" in str(info.value)


def test_broken_toml_syntax_is_reported():
    Path("newsletter.toml").write_text('clinic_name = "unterminated\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "not valid TOML" in str(info.value)


def test_short_secret_key_is_refused(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "short")
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SECRET_KEY"):
        load_settings()


def test_demo_generates_a_secret_once_and_keeps_it_next_to_the_database(monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    first = load_settings().secret_key.get_secret_value()
    assert Path("newsletter.db.secret").stat().st_mode & 0o077 == 0
    assert load_settings().secret_key.get_secret_value() == first
    assert load_settings().key_ring.current_id == "a"
    assert len(load_settings().key_ring.current) >= 32


def test_secret_key_is_hidden_in_repr(settings):
    assert settings.secret_key.get_secret_value() not in repr(settings)


def test_a_mis_pasted_webhook_key_stops_at_load_naming_the_setting(monkeypatch):
    import json

    from tests.seed import REPO

    vector = json.loads((REPO / "tests/data/sendgrid/webhook-test-vector.json").read_text())
    monkeypatch.setenv("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY", vector["public_key"][:-8])
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "environment variable NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY" in message
    assert "it is not a DER public key; copy it from SendGrid" in message
    monkeypatch.setenv("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY", f"  {vector['public_key']}\n")
    assert load_settings().sendgrid_webhook_public_key == vector["public_key"]
