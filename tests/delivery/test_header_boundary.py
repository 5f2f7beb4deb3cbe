"""Header values are checked at the delivery boundary, for every backend (issue #13): a CR/LF
subject never leaves (the outbox used to crash on it with a traceback, SendGrid shipped it)."""

from __future__ import annotations

import dataclasses

import pytest

from newsletter.delivery.outbox import OutboxBackend
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.delivery.smtp import SmtpBackend
from newsletter.domain.sending import Action, classify
from tests.delivery.test_sendgrid_backend import KEY, _direct, emu, sg  # noqa: F401
from tests.delivery.test_smtp_and_outbox import HOST, _batch, _recipient, plain  # noqa: F401

INJECTED = "Hello\r\nBcc: victim@example.net"


def _bad_subject():
    return dataclasses.replace(_batch(_recipient(1), _recipient(2)), subject=INJECTED)


def _bad_recipient():
    bad = dataclasses.replace(_recipient(2), list_unsubscribe="https://c.example/u/x\r\nBcc: v@x")
    return _batch(_recipient(1), bad)


def _assert_batch_refused(result):
    assert result.status == 422 and "subject contains the control character '\\r'" in result.body
    assert classify(result, live=2, now=0).action == Action.PAUSE


def _assert_recipient_refused(result):
    assert result.status == 400 and "personalizations.1.headers" in result.body
    decision = classify(result, live=2, now=0)
    assert decision.action == Action.SPLIT and decision.bad_indexes == (1,)


def test_outbox_refuses_without_a_traceback_or_a_file(tmp_path):
    outbox = OutboxBackend(tmp_path / "outbox")
    _assert_batch_refused(outbox.send(_bad_subject()))
    _assert_recipient_refused(outbox.send(_bad_recipient()))
    assert not (tmp_path / "outbox").exists()


def test_smtp_refuses_before_connecting(plain):  # noqa: F811
    controller, handler = plain
    backend = SmtpBackend(HOST, controller.port, tls="none", timeout=5)
    result = backend.send(dataclasses.replace(_batch(_recipient(1)), subject=INJECTED))
    assert result.status == 422 and classify(result, live=1, now=0).action == Action.PAUSE
    assert handler.messages == []


def test_sendgrid_refuses_before_the_request(sg):  # noqa: F811
    backend = SendGridBackend(KEY, base_url=sg.base_url, timeout=5)
    _assert_batch_refused(backend.send(_bad_subject()))
    _assert_recipient_refused(backend.send(_bad_recipient()))
    assert sg.messages_to("patient1@example.org") == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("subject", "x" * 999, "at most 998"), ("sender_name", "A\x00B", "control character"),
     ("reply_to", "a@b.example\nX: y", "control character"), ("list_id", "", "is empty")],
)  # fmt: skip
def test_every_header_value_is_checked(tmp_path, field, value, reason):
    batch = dataclasses.replace(_batch(_recipient(1)), **{field: value})
    result = OutboxBackend(tmp_path).send(batch)
    assert result.status == 422 and reason in result.body


def test_a_first_name_substitution_with_a_line_break_is_refused(tmp_path):
    recipient = _recipient(1, first="Ana\r\nBcc: x@y.example")
    result = OutboxBackend(tmp_path).send(_batch(_recipient(0), recipient))
    assert result.status == 400 and "personalizations.1.headers" in result.body
