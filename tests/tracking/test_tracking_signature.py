"""Webhook signature verification against SendGrid's official test vector."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid import EventWebhook

from newsletter.emulator.webhook import Signer
from newsletter.tracking.signature import InvalidWebhookKey, is_fresh, verify_signature

VECTOR = json.loads(
    (
        Path(__file__).resolve().parents[1] / "data" / "sendgrid" / "webhook-test-vector.json"
    ).read_text()
)
KEY, SIG, TS = VECTOR["public_key"], VECTOR["signature"], VECTOR["timestamp"]
PAYLOAD = base64.b64decode(VECTOR["payload_base64"])


def test_vector_payload_bytes_are_as_documented():
    assert VECTOR["payload"].encode("utf-8") == PAYLOAD
    assert len(PAYLOAD) == 327 and PAYLOAD.endswith(b"\r\n")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(TS.encode() + PAYLOAD)
    assert (
        digest.finalize().hex()
        == "d42fd42f9a2ff2ac684950bcd351d3cd6e0f60d4e944637cf97c2226bc224548"
    )


def test_official_vector_verifies():
    assert verify_signature(KEY, SIG, TS, PAYLOAD) is True
    assert EventWebhook(KEY).verify_signature(PAYLOAD.decode(), SIG, TS) is True


NEGATIVES = {
    "payload without CR LF": (KEY, SIG, TS, PAYLOAD[:-2]),
    "payload 'payload'": (KEY, SIG, TS, b"payload"),
    "timestamp 'timestamp'": (KEY, SIG, "timestamp", PAYLOAD),
    "wrong public key": (VECTOR["wrong_public_key"], SIG, TS, PAYLOAD),
    "wrong signature": (KEY, VECTOR["wrong_signature"], TS, PAYLOAD),
}


@pytest.mark.parametrize("args", NEGATIVES.values(), ids=NEGATIVES.keys())
def test_official_negatives_fail(args):
    assert verify_signature(*args) is False
    key, sig, ts, payload = args
    assert EventWebhook(key).verify_signature(payload.decode(), sig, ts) is False


@pytest.mark.parametrize(
    "args",
    [
        (KEY, "not base64!", TS, PAYLOAD),
        (KEY, "", TS, PAYLOAD),
        (KEY, None, TS, PAYLOAD),
        (KEY, SIG, None, PAYLOAD),
        (KEY, SIG, TS, None),
        (KEY, SIG, "16001125O2", PAYLOAD),
        (KEY, SIG, "1600112502é", PAYLOAD),
        (KEY, base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), TS, PAYLOAD),
    ],
)
def test_a_garbage_signature_is_false_never_an_exception(args):
    assert verify_signature(*args) is False


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not base64!", "it is not base64 (paste the key exactly as SendGrid shows it)"),
        ("", "it is not a DER public key"),
        (base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "it is not a DER public key"),
        (KEY[:-8], "it is not a DER public key"),  # cut short when pasted
    ],
)
def test_a_bad_key_is_the_operators_to_fix_never_a_bad_signature(key, problem):
    with pytest.raises(InvalidWebhookKey) as caught:
        verify_signature(key, SIG, TS, PAYLOAD)
    assert str(caught.value) == problem


def test_one_byte_change_anywhere_fails():
    for i in (0, 100, 200, 325):
        changed = PAYLOAD[:i] + bytes([PAYLOAD[i] ^ 0x20]) + PAYLOAD[i + 1 :]
        assert verify_signature(KEY, SIG, TS, changed) is False


def test_non_p256_keys_are_rejected():
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP384R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sig = base64.b64encode(key.sign(TS.encode() + PAYLOAD, ec.ECDSA(hashes.SHA256()))).decode()
    with pytest.raises(InvalidWebhookKey, match="not a P-256"):
        verify_signature(base64.b64encode(der).decode(), sig, TS, PAYLOAD)


def test_emulator_signer_round_trip():
    signer = Signer(0xC0FFEE)
    body = b'[{"event":"processed"}]\r\n'
    sig = signer.sign("1700000000", body)
    assert verify_signature(signer.public_key_b64, sig, "1700000000", body)
    assert EventWebhook(signer.public_key_b64).verify_signature(body.decode(), sig, "1700000000")
    assert signer.sign("1700000000", body) == sig  # RFC 6979 deterministic
    assert not verify_signature(signer.public_key_b64, sig, "1700000001", body)


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [
        ("1000000", True),
        ("1000300", True),  # exactly max_future ahead
        ("1000301", False),
        (str(1000000 - 25 * 3600), True),  # exactly max_age old
        (str(1000000 - 25 * 3600 - 1), False),
        ("", False),
        ("abc", False),
        ("1e6", False),
        ("-5", False),
        ("１０００００", False),  # non-ASCII digits
        (" 1000000 ", True),
    ],
)
def test_is_fresh(timestamp, fresh):
    assert is_fresh(timestamp, now=1_000_000.0) is fresh


def test_is_fresh_custom_window():
    assert is_fresh("990", now=1000.0, max_future=0, max_age=10)
    assert not is_fresh("989", now=1000.0, max_future=0, max_age=10)
    assert not is_fresh("1001", now=1000.0, max_future=0, max_age=10)
    assert not is_fresh(None, now=1000.0)  # type: ignore[arg-type]
