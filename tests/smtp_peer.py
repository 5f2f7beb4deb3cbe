"""A real SMTP peer (aiosmtpd on a loopback port) that counts what it accepted per recipient.

It keeps each message's recipients and Subject, and refuses the addresses in `refuse` with
a permanent 550 at RCPT. `before_ack(n)`, when set, runs in the server before the n-th
message (1-based) is acknowledged: the message is already stored, the client has not heard
back yet. Tests use it to kill a sender at that instant (sent, but the sender cannot know).
Import the fixture: `from tests.smtp_peer import smtp_peer  # noqa: F401`.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


class CountingHandler:
    def __init__(self) -> None:
        self.received: Counter[str] = Counter()  # recipient address → messages accepted
        self.subjects: list[tuple[str, str]] = []  # (recipient, Subject) per message
        self.refuse: set[str] = set()
        self.before_ack: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self._lock:
            self._count += 1
            number = self._count
            self.received.update(address.lower() for address in envelope.rcpt_tos)
            message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
            # A long Subject is folded right after the colon ("Subject:\r\n [TEST]…", legal);
            # Python's parser keeps the fold's space, a mail client does not.
            subject = str(message["Subject"]).lstrip()
            self.subjects.extend((address, subject) for address in envelope.rcpt_tos)
        if self.before_ack is not None:
            self.before_ack(number)
        return "250 Message accepted"


class SmtpPeer:
    def __init__(self) -> None:
        self.handler = CountingHandler()
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)

    @property
    def received(self) -> Counter[str]:
        return self.handler.received

    def env(self) -> dict[str, str]:
        """The settings that send through this peer (plain SMTP on loopback)."""
        return {
            "NEWSLETTER_DELIVERY": "smtp",
            "NEWSLETTER_SMTP_HOST": HOST,
            "NEWSLETTER_SMTP_PORT": str(self.port),
            "NEWSLETTER_SMTP_TLS": "none",
        }


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    peer = SmtpPeer()
    peer.controller.start()
    try:
        yield peer
    finally:
        peer.controller.stop()
