"""The SendGrid backend: the payload it builds (pure) and what it reports for every answer the
emulator can give over real HTTP, each taken through `classify` to the engine's action."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.delivery.sendgrid import SendGridBackend, build_payload
from newsletter.domain.sending import Action, classify
from newsletter.emulator import EmulatorConfig, EmulatorHandle, run_emulator

KEY = "SG.local-dev-key"


def _recipient(i: int, email: str | None = None, first: str = "Ana") -> OutgoingRecipient:
    return OutgoingRecipient(
        email=email or f"patient{i}@example.org",
        substitutions={
            "-nl_fn_html-": first,
            "-nl_fn_text-": first,
            "-nl_rt-": f"rt{i}",
            "-nl_ut-": f"ut{i}",
        },
        list_unsubscribe=f"https://clinic.example/u/ut{i}",
        send_id=f"send{i:04d}xxxxxxxxxxxxxx",
    )


def _batch(recipients: list[OutgoingRecipient] | tuple[OutgoingRecipient, ...]) -> OutgoingBatch:
    return OutgoingBatch(
        subject="News for -nl_fn_text-",
        html="<p>Hi -nl_fn_html-</p><a href='https://clinic.example/r/L1/-nl_rt-'>Book</a>",
        text="Hi -nl_fn_text-\nBook: https://clinic.example/r/L1/-nl_rt-",
        sender_name="Clinic News",
        sender_email="news@clinic.example",
        reply_to="hello@clinic.example",
        list_id="Clinic news <news.clinic.example>",
        recipients=tuple(recipients),
    )


# -- build_payload -------------------------------------------------------------------------------
def test_payload_shape():
    batch = _batch([_recipient(1), _recipient(2, first="Bo")])
    payload = build_payload(batch)
    assert payload["from"] == {"email": "news@clinic.example", "name": "Clinic News"}
    assert payload["reply_to"] == {"email": "hello@clinic.example"}
    assert payload["subject"] == "News for -nl_fn_text-"  # SendGrid substitutes, not us
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert payload["content"][0]["value"] == batch.text
    assert payload["content"][1]["value"] == batch.html
    assert payload["headers"] == {"List-Id": "Clinic news <news.clinic.example>"}
    assert payload["categories"] == ["newsletter"]
    assert payload["tracking_settings"] == {
        "click_tracking": {"enable": False, "enable_text": False},
        "open_tracking": {"enable": False},
        "subscription_tracking": {"enable": False},
        "ganalytics": {"enable": False},
    }
    assert "send_at" not in payload and "custom_args" not in payload
    assert "mail_settings" not in payload  # never sandbox in production payloads
    assert payload["personalizations"] == [
        {
            "to": [{"email": r.email}],
            "substitutions": r.substitutions,
            "headers": {
                "List-Unsubscribe": f"<https://clinic.example/u/ut{i}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "custom_args": {"send_id": r.send_id},
        }
        for i, r in zip((1, 2), batch.recipients, strict=True)
    ]
    json.dumps(payload)  # plain JSON: no helper objects


def test_each_personalization_has_exactly_its_own_headers_and_send_id():
    batch = _batch([_recipient(i) for i in range(50)])
    payload = build_payload(batch)
    assert len(payload["personalizations"]) == 50
    for recipient, pers in zip(batch.recipients, payload["personalizations"], strict=True):
        assert pers["to"] == [{"email": recipient.email}]
        unsubscribe = pers["headers"]["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://") and unsubscribe.endswith(">")
        assert unsubscribe == f"<{recipient.list_unsubscribe}>"
        assert pers["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert pers["custom_args"] == {"send_id": recipient.send_id}
        assert set(pers) == {"to", "substitutions", "headers", "custom_args"}


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_size_limits(count):
    with pytest.raises(ValueError):
        build_payload(_batch([_recipient(i) for i in range(count)]))


def test_batch_size_limits_inclusive():
    assert len(build_payload(_batch([_recipient(0)]))["personalizations"]) == 1
    big = build_payload(_batch([_recipient(i) for i in range(1000)]))
    assert len(big["personalizations"]) == 1000


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string in the payload (dict keys included) with where it sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, "<key>"), str(key)
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12)
# not the sender's domain: "o@clinic.example" is a substring of hello@clinic.example
_domain = st.sampled_from(["example.org", "mail.example.com", "patients.example", "ex.co"])
_address = st.builds(lambda a, b: f"{a}@{b}", _local, _domain)
_first = st.text(st.characters(blacklist_characters="@", codec="utf-8"), max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    addresses=st.lists(_address, min_size=1, max_size=40, unique_by=str.lower),
    firsts=st.lists(_first, min_size=40, max_size=40),
)
def test_no_address_appears_outside_its_own_to(addresses, firsts):
    """Privacy P-01 / PD-3: ESP metadata (custom_args, categories, headers) carries no address;
    each address is in its own personalization's `to`, and nowhere else."""
    recipients = [_recipient(i, email, firsts[i]) for i, email in enumerate(addresses)]
    payload = build_payload(_batch(recipients))
    for i, pers in enumerate(payload["personalizations"]):
        assert pers["to"] == [{"email": addresses[i]}]
    for path, text in _strings(payload):
        if len(path) == 5 and path[0] == "personalizations" and path[2:] == ("to", 0, "email"):
            continue  # its own `to`
        lowered = text.lower()
        for address in addresses:
            assert address.lower() not in lowered, (path, address)


# -- over HTTP, against the emulator -------------------------------------------------------------
@pytest.fixture(autouse=True)
def _direct(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib (the sendgrid client) honours http_proxy: keep loopback traffic direct.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    config = EmulatorConfig(
        api_keys={KEY: {"mail.send"}, "SG.read-only": {"stats.read"}},
        body_max_bytes=256 * 1024,  # small, so a 413 is cheap to provoke
        log_path=tmp_path_factory.mktemp("sg") / "accepted.jsonl",
    )
    with run_emulator(config) as handle:
        yield handle


@pytest.fixture
def sg(emu: EmulatorHandle) -> Iterator[EmulatorHandle]:
    emu.set_faults({})
    yield emu
    emu.set_faults({})


def _backend(emu: EmulatorHandle, *, key: str = KEY, timeout: float = 5.0) -> SendGridBackend:
    return SendGridBackend(key, base_url=emu.base_url, timeout=timeout)


def test_202_sets_the_message_id_and_is_accepted(sg):
    batch = _batch([_recipient(i) for i in range(3)])
    result = _backend(sg).send(batch)
    assert (result.status, result.failure) == (202, None)
    assert result.message_id and len(result.message_id) >= 16
    assert result.headers["x-message-id"] == result.message_id
    assert classify(result, live=3, now=0).action == Action.ACCEPTED
    # the emulator logged what SendGrid would send: one message per recipient
    messages = sg.messages_to("patient1@example.org")
    assert messages and messages[-1]["x_message_id"] == result.message_id


def test_400_single_recipient_fails_it(sg):
    sg.set_faults({"reject_regex": r"@blocked\.example$"})
    result = _backend(sg).send(_batch([_recipient(0, "x@blocked.example")]))
    assert result.status == 400
    assert "personalizations.0.to.0.email" in result.body
    assert classify(result, live=1, now=0).action == Action.FAIL


def test_400_many_recipients_splits_with_the_culprit_named(sg):
    sg.set_faults({"reject_regex": r"@blocked\.example$"})
    recipients = [_recipient(i) for i in range(10)]
    recipients[6] = _recipient(6, "nobody@blocked.example")
    result = _backend(sg).send(_batch(recipients))
    assert result.status == 400
    decision = classify(result, live=10, now=0)
    assert decision.action == Action.SPLIT
    assert decision.bad_indexes == (6,)


def test_401_pauses(sg):
    result = _backend(sg, key="SG.wrong").send(_batch([_recipient(0)]))
    assert result.status == 401
    assert "authorization grant is invalid" in result.body
    assert classify(result, live=1, now=0).action == Action.PAUSE


def test_403_key_without_mail_send_pauses(sg):
    result = _backend(sg, key="SG.read-only").send(_batch([_recipient(0)]))
    assert result.status == 403
    assert classify(result, live=1, now=0).action == Action.PAUSE


def test_413_splits_and_pauses_when_one_recipient_is_still_too_large(sg):
    batch = _batch([_recipient(i) for i in range(20)])
    huge = OutgoingBatch(
        **{**{f: getattr(batch, f) for f in batch.__slots__}, "html": "x" * 300_000}
    )
    result = _backend(sg).send(huge)
    assert result.status == 413
    assert classify(result, live=20, now=0).action == Action.SPLIT
    single = OutgoingBatch(
        **{**{f: getattr(huge, f) for f in huge.__slots__}, "recipients": huge.recipients[:1]}
    )
    alone = _backend(sg).send(single)
    assert alone.status == 413
    assert classify(alone, live=1, now=0).action == Action.PAUSE  # no split can help now


def test_429_captures_the_rate_limit_headers(sg):
    import time

    sg.set_faults({"next": [{"status": 429, "retry_after": 3, "reset_in": 5}]})
    now = time.time()
    result = _backend(sg).send(_batch([_recipient(0), _recipient(1)]))
    assert result.status == 429
    assert result.headers["x-ratelimit-remaining"] == "0"
    assert int(result.headers["x-ratelimit-reset"]) >= int(now) + 4
    assert result.headers["retry-after"] == "3"
    decision = classify(result, live=2, now=now)
    assert decision.action == Action.RETRY
    assert 3.0 <= decision.not_before_s <= 7.0


@pytest.mark.parametrize(
    ("status", "action"),
    [(500, Action.RETRY), (502, Action.UNKNOWN), (503, Action.RETRY), (504, Action.UNKNOWN)],
)
def test_server_errors(sg, status, action):
    sg.set_faults({"next": [status]})
    result = _backend(sg).send(_batch([_recipient(0), _recipient(1)]))
    assert (result.status, result.failure) == (status, None)
    assert classify(result, live=2, now=0).action == action


def test_timeout_after_accept_is_unknown(sg):
    sg.set_faults({"next": ["timeout_after_accept"], "timeout_sleep_s": 2.0})
    result = _backend(sg, timeout=0.4).send(_batch([_recipient(0, "late@example.org")]))
    assert result.failure == "timeout"
    assert result.status is None
    assert classify(result, live=1, now=0).action == Action.UNKNOWN
    assert sg.messages_to("late@example.org")  # it *was* accepted: never resend blindly


def test_reset_after_accept_is_unknown(sg):
    sg.set_faults({"next": ["reset_after_accept"]})
    result = _backend(sg).send(_batch([_recipient(0, "reset@example.org")]))
    assert result.failure == "reset", result
    assert classify(result, live=1, now=0).action == Action.UNKNOWN
    assert sg.messages_to("reset@example.org")


def test_connection_refused_is_a_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = SendGridBackend(KEY, base_url=f"http://127.0.0.1:{port}", timeout=2)
    result = backend.send(_batch([_recipient(0)]))
    assert result.failure == "refused", result
    assert classify(result, live=1, now=0).action == Action.RETRY


def test_request_test_event(sg):
    assert _backend(sg).request_test_event() is True
    assert _backend(sg, key="SG.wrong").request_test_event() is False


def test_repr_hides_the_key(sg):
    assert KEY not in repr(_backend(sg))
