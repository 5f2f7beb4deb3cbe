"""SMTP delivery (smtplib) with TLS options.

SMTP has no batch API and no way to report which of several messages a dropped connection
had already accepted, so this backend sends one recipient per call (`max_batch = 1`): the
engine's exactly-once bookkeeping then holds per recipient.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Literal

from newsletter.delivery.base import OutgoingBatch
from newsletter.delivery.headers import refused
from newsletter.delivery.mime import build_message
from newsletter.domain.sending import ProviderResult

TlsMode = Literal["none", "starttls", "ssl"]


class SmtpBackend:
    name = "smtp"
    max_batch = 1

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: TlsMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.host, self.port, self.tls = host, port, tls
        self.username, self._password = username, password
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __repr__(self) -> str:
        return f"SmtpBackend({self.host}:{self.port}, tls={self.tls})"

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            client.starttls(context=self.ssl_context)
        return client

    def send(self, batch: OutgoingBatch) -> ProviderResult:
        if len(batch.recipients) != 1:
            raise ValueError("the SMTP backend sends one recipient per call")
        if (refusal := refused(batch)) is not None:
            return refusal
        recipient = batch.recipients[0]
        try:
            client = self._connect()
        except (ConnectionRefusedError, socket.gaierror) as exc:
            return ProviderResult(failure="refused", detail=str(exc))
        except (OSError, smtplib.SMTPException) as exc:
            return ProviderResult(failure="refused", detail=f"connect: {exc}")
        try:
            if self.username:
                client.login(self.username, self._password or "")
            client.send_message(
                build_message(batch, recipient),
                from_addr=batch.sender_email,
                to_addrs=[recipient.email],
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return ProviderResult(status=400 if code >= 500 else 503, body=_text(text))
        except smtplib.SMTPAuthenticationError as exc:
            return ProviderResult(status=401, body=_text(exc.smtp_error))
        except smtplib.SMTPResponseException as exc:
            return ProviderResult(
                status=400 if exc.smtp_code >= 500 else 503, body=_text(exc.smtp_error)
            )
        except TimeoutError:
            return ProviderResult(failure="timeout", detail="SMTP timeout")
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib wraps read timeouts
                return ProviderResult(failure="timeout", detail=f"SMTP timeout: {exc}")
            return ProviderResult(failure="reset", detail=str(exc))
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return ProviderResult(status=202)

    def request_test_event(self) -> bool:
        return False  # no event feed: unknown outcomes are held for review


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
