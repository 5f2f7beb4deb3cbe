"""The SMTP backend against a real aiosmtpd server (plain and STARTTLS), and the outbox folder."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.delivery.outbox import OutboxBackend
from newsletter.delivery.smtp import SmtpBackend
from newsletter.domain.sending import Action, classify

HOST = "127.0.0.1"


def _recipient(i: int, first: str = "Ana") -> OutgoingRecipient:
    return OutgoingRecipient(
        email=f"patient{i}@example.org",
        substitutions={
            "-nl_fn_html-": first.replace("&", "&amp;"),
            "-nl_fn_text-": first,
            "-nl_rt-": f"RT{i}tok",
            "-nl_ut-": f"UT{i}tok",
        },
        list_unsubscribe=f"https://clinic.example/u/UT{i}tok",
        send_id=f"SEND{i:03d}abcdefghijklmnop",
    )


def _batch(*recipients: OutgoingRecipient) -> OutgoingBatch:
    return OutgoingBatch(
        subject="News for -nl_fn_text-",
        html="<p>Hi -nl_fn_html-, café ✓</p><a href='https://clinic.example/r/L1/-nl_rt-'>Book</a>\n",
        text="Hi -nl_fn_text-, café ✓\nBook: https://clinic.example/r/L1/-nl_rt-\n"
        "Unsubscribe: https://clinic.example/u/-nl_ut-\n",
        sender_name="Clinic News",
        sender_email="news@clinic.example",
        reply_to="hello@clinic.example",
        list_id="Clinic news <news.clinic.example>",
        recipients=recipients,
    )


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _assert_rendered(message: EmailMessage, batch: OutgoingBatch, r: OutgoingRecipient) -> None:
    # What SendGrid would deliver for `_batch`'s content, written out (not computed by the
    # substitution code under test). Line endings are CRLF on the wire (RFC 5322).
    values = r.substitutions
    name, name_html, rt, ut = (values[k] for k in ("-nl_fn_text-", "-nl_fn_html-", "-nl_rt-",
                                                   "-nl_ut-"))  # fmt: skip
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert _lf(parts[0].get_content()) == (
        f"Hi {name}, café ✓\nBook: https://clinic.example/r/L1/{rt}\n"
        f"Unsubscribe: https://clinic.example/u/{ut}\n"
    )
    assert _lf(parts[1].get_content()) == (
        f"<p>Hi {name_html}, café ✓</p><a href='https://clinic.example/r/L1/{rt}'>Book</a>\n"
    )
    assert message["Subject"] == f"News for {name}"
    assert message["To"] == r.email
    assert message["List-Unsubscribe"] == f"<{r.list_unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == batch.list_id
    assert "-nl_" not in message.as_string()  # every tag filled, headers included


# -- a real SMTP server ----------------------------------------------------------------------------
class Handler:
    """Records messages; `rcpt_reply` / `data_reply` / `data_delay` script failures."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.data_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "raw": envelope.original_content or envelope.content,
                # session.ssl: after STARTTLS; the transport's ssl_object: implicit TLS
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
            }
        )
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@pytest.fixture
def plain() -> Iterator[tuple[Controller, Handler]]:
    handler = Handler()
    controller = Controller(handler, hostname=HOST, port=_free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1/localhost, made here (no files in the repo)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", cert_pem


def _client_context(cert_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=cert_pem.decode())
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


def _start_tls_server(tls_files, handler: Handler, **kwargs: Any) -> Controller:
    cert, key, _ = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    controller = Controller(
        handler,
        hostname=HOST,
        port=_free_port(),
        tls_context=server_context,
        require_starttls=True,
        **kwargs,
    )
    controller.start()
    return controller


@pytest.fixture
def starttls(tls_files) -> Iterator[tuple[Controller, Handler]]:
    handler = Handler()
    controller = _start_tls_server(tls_files, handler)
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_plain_smtp_delivers_the_rendered_message(plain):
    controller, handler = plain
    recipient = _recipient(1, first="Zoë & Bo")
    batch = _batch(recipient)
    result = SmtpBackend(HOST, controller.port, tls="none", timeout=5).send(batch)
    assert (result.status, result.failure) == (202, None)
    assert classify(result, live=1, now=0).action == Action.ACCEPTED
    [received] = handler.messages
    assert received["from"] == "news@clinic.example"
    assert received["to"] == ["patient1@example.org"]
    assert received["tls"] is False
    message = _parse(received["raw"])
    _assert_rendered(message, batch, recipient)
    assert "Zoë &amp; Bo" in message.get_body(("html",)).get_content()
    assert "RT1tok" in message.get_body(("plain",)).get_content()
    assert "UT1tok" in message.get_body(("plain",)).get_content()


def test_starttls_with_a_trusted_self_signed_cert(starttls, tls_files):
    controller, handler = starttls
    recipient = _recipient(2)
    batch = _batch(recipient)
    backend = SmtpBackend(
        HOST, controller.port, tls="starttls", timeout=5, ssl_context=_client_context(tls_files[2])
    )
    result = backend.send(batch)
    assert (result.status, result.failure) == (202, None), result
    [received] = handler.messages
    assert received["tls"] is True
    _assert_rendered(_parse(received["raw"]), batch, recipient)


def test_implicit_tls(tls_files):
    cert, key, cert_pem = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    handler = Handler()
    controller = Controller(handler, hostname=HOST, port=_free_port(), ssl_context=server_context)
    controller.start()
    try:
        recipient = _recipient(9)
        batch = _batch(recipient)
        backend = SmtpBackend(
            HOST, controller.port, tls="ssl", timeout=5, ssl_context=_client_context(cert_pem)
        )
        result = backend.send(batch)
    finally:
        controller.stop()
    assert result.status == 202, result
    [received] = handler.messages
    assert received["tls"] is True
    _assert_rendered(_parse(received["raw"]), batch, recipient)


def test_starttls_refuses_an_untrusted_cert(starttls):
    controller, handler = starttls
    backend = SmtpBackend(HOST, controller.port, tls="starttls", timeout=5)  # system CAs only
    result = backend.send(_batch(_recipient(3)))
    assert result.failure == "refused"  # nothing was sent
    assert classify(result, live=1, now=0).action == Action.RETRY
    assert handler.messages == []


def test_more_than_one_recipient_is_a_bug(plain):
    controller, _ = plain
    with pytest.raises(ValueError):
        SmtpBackend(HOST, controller.port, tls="none").send(_batch(_recipient(1), _recipient(2)))


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "status", "action"),
    [
        ("550 5.1.1 No such user", None, 400, Action.FAIL),
        ("451 4.3.0 Try again later", None, 503, Action.RETRY),
        (None, "554 5.7.1 Message rejected", 400, Action.FAIL),
        (None, "452 4.3.1 Insufficient storage", 503, Action.RETRY),
    ],
)
def test_smtp_refusals(plain, rcpt_reply, data_reply, status, action):
    controller, handler = plain
    handler.rcpt_reply, handler.data_reply = rcpt_reply, data_reply
    result = SmtpBackend(HOST, controller.port, tls="none", timeout=5).send(_batch(_recipient(4)))
    assert result.status == status
    assert (rcpt_reply or data_reply)[4:] in result.body
    assert classify(result, live=1, now=0).action == action
    assert handler.messages == []


def test_auth_failure_pauses(tls_files):
    seen: list[tuple[str, Any]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((mechanism, auth_data.login))
        return AuthResult(success=False, handled=False)

    handler = Handler()
    controller = _start_tls_server(tls_files, handler, authenticator=authenticator)
    try:
        backend = SmtpBackend(
            HOST,
            controller.port,
            tls="starttls",
            username="clinic",
            password="wrong",
            timeout=5,
            ssl_context=_client_context(tls_files[2]),
        )
        result = backend.send(_batch(_recipient(5)))
    finally:
        controller.stop()
    assert result.status == 401, result
    assert classify(result, live=1, now=0).action == Action.PAUSE
    assert seen and seen[0][1] == b"clinic"
    assert handler.messages == []


def test_auth_success_delivers(tls_files):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"clinic" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    handler = Handler()
    controller = _start_tls_server(
        tls_files, handler, authenticator=authenticator, auth_required=True
    )
    try:
        backend = SmtpBackend(
            HOST,
            controller.port,
            tls="starttls",
            username="clinic",
            password="s3cret",
            timeout=5,
            ssl_context=_client_context(tls_files[2]),
        )
        result = backend.send(_batch(_recipient(6)))
    finally:
        controller.stop()
    assert result.status == 202, result
    assert len(handler.messages) == 1


def test_connection_refused():
    result = SmtpBackend(HOST, _free_port(), tls="none", timeout=2).send(_batch(_recipient(7)))
    assert result.failure == "refused"
    assert classify(result, live=1, now=0).action == Action.RETRY


def test_timeout_after_data_is_unknown(plain):
    controller, handler = plain
    handler.data_delay = 1.5
    result = SmtpBackend(HOST, controller.port, tls="none", timeout=0.3).send(_batch(_recipient(8)))
    assert result.failure == "timeout", result
    assert classify(result, live=1, now=0).action == Action.UNKNOWN


# -- outbox ----------------------------------------------------------------------------------------
def test_outbox_writes_one_file_per_send_id(tmp_path):
    recipients = [_recipient(i, first=name) for i, name in enumerate(["Ana", "Bo & Cy", "Đan"])]
    batch = _batch(*recipients)
    outbox = OutboxBackend(tmp_path / "outbox")
    result = outbox.send(batch)
    assert result.status == 202
    assert classify(result, live=3, now=0).action == Action.ACCEPTED
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == sorted(f"{r.send_id}.eml" for r in recipients)
    for recipient in recipients:
        raw = (tmp_path / "outbox" / f"{recipient.send_id}.eml").read_bytes()
        _assert_rendered(_parse(raw), batch, recipient)
    assert outbox.request_test_event() is False


def test_outbox_resend_overwrites(tmp_path):
    recipients = [_recipient(i) for i in range(4)]
    batch = _batch(*recipients)
    outbox = OutboxBackend(tmp_path / "out")
    assert outbox.send(batch).status == 202
    first = {p.name: _parse(p.read_bytes()) for p in (tmp_path / "out").iterdir()}
    assert outbox.send(batch).status == 202  # a retried batch
    again = {p.name: _parse(p.read_bytes()) for p in (tmp_path / "out").iterdir()}
    assert sorted(again) == sorted(first) == sorted(f"{r.send_id}.eml" for r in recipients)
    for name, message in again.items():
        for part_first, part_again in zip(
            first[name].iter_parts(), message.iter_parts(), strict=True
        ):
            assert part_first.get_content() == part_again.get_content()
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic: no leftovers


def test_outbox_unwritable_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = OutboxBackend(blocker / "outbox").send(_batch(_recipient(0)))
    assert result.failure == "refused"
    assert classify(result, live=1, now=0).action == Action.RETRY
