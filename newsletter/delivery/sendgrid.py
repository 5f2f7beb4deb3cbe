"""SendGrid v3 Mail Send: a pure payload builder and a thin call through the official client.

The only module that imports `sendgrid`. Privacy (docs/privacy.md): the payload carries the
address, the rendered content, per-recipient substitutions (first name, personal URL tokens),
the List-Unsubscribe headers and one opaque `send_id` — nothing else; SendGrid's own
tracking is switched off. Every request runs under a whole-request deadline
(`delivery/deadline.py`, docs/sending.md "Stalls"): urllib alone only bounds each socket
operation.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from newsletter.delivery import deadline as request_deadline
from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.delivery.headers import refused
from newsletter.domain.sending import ProviderResult

MAX_PERSONALIZATIONS = 1000
TRACKING_OFF = {
    "click_tracking": {"enable": False, "enable_text": False},
    "open_tracking": {"enable": False},
    "subscription_tracking": {"enable": False},
    "ganalytics": {"enable": False},
}


def build_payload(batch: OutgoingBatch) -> dict[str, Any]:
    """The Mail Send body for one batch: content once, one personalization per recipient."""
    if not 1 <= len(batch.recipients) <= MAX_PERSONALIZATIONS:
        raise ValueError(f"a request carries 1..{MAX_PERSONALIZATIONS} recipients")
    payload: dict[str, Any] = {
        "from": {"email": batch.sender_email, "name": batch.sender_name},
        "reply_to": {"email": batch.reply_to},
        "subject": batch.subject,
        "content": [  # text/plain must come before text/html (RFC 1341 §7.2)
            {"type": "text/plain", "value": batch.text},
            {"type": "text/html", "value": batch.html},
        ],
        "personalizations": [_personalization(r) for r in batch.recipients],
        "categories": [batch.category],
        "tracking_settings": TRACKING_OFF,
    }
    if batch.list_id:  # transactional email (a confirmation) is not sent to a list
        payload["headers"] = {"List-Id": batch.list_id}
    return payload


def _personalization(recipient: OutgoingRecipient) -> dict[str, Any]:
    """One recipient: the address, their substitutions, one-click unsubscribe (marketing
    only) and the opaque send id."""
    personalization: dict[str, Any] = {"to": [{"email": recipient.email}]}
    if recipient.substitutions:
        personalization["substitutions"] = recipient.substitutions
    if recipient.list_unsubscribe:
        personalization["headers"] = {
            "List-Unsubscribe": f"<{recipient.list_unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    personalization["custom_args"] = {"send_id": recipient.send_id}
    return personalization


class SendGridBackend:
    name = "sendgrid"
    max_batch = MAX_PERSONALIZATIONS

    def __init__(self, api_key: str, *, base_url: str, timeout: float):
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()  # the client mutates shared headers: one per thread

    def __repr__(self) -> str:  # never show the key
        return f"SendGridBackend(base_url={self._base_url!r})"

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from sendgrid import SendGridAPIClient

            client = SendGridAPIClient(api_key=self._api_key, host=self._base_url)
            client.client = _deadline_client(client.client, self._timeout)
            self._local.client = client
        return client

    def send(self, batch: OutgoingBatch) -> ProviderResult:
        if (refusal := refused(batch)) is not None:  # headers checked before anything leaves
            return refusal
        return self.post(build_payload(batch))

    def post(self, payload: dict[str, Any]) -> ProviderResult:
        """One Mail Send call, over before its deadline: the sender's (set by its pre-request
        check), or this backend's timeout from now if that comes first."""
        from python_http_client.exceptions import HTTPError

        deadline = request_deadline.current()
        if deadline is None or deadline.remaining() > self._timeout:  # the earlier one wins
            deadline = request_deadline.Deadline(time.monotonic() + self._timeout)
        try:
            with request_deadline.request_deadline(deadline):
                response = self._client().client.mail.send.post(request_body=payload)
        except HTTPError as exc:
            body = (
                exc.body.decode("utf-8", "replace")
                if isinstance(exc.body, bytes)
                else str(exc.body or "")
            )
            return ProviderResult(status=exc.status_code, headers=_headers(exc.headers), body=body)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException,
                OSError) as exc:  # fmt: skip
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return _deadline_failure(deadline) or _transport_failure(reason)
        headers = _headers(response.headers)
        return ProviderResult(
            status=response.status_code, headers=headers, message_id=headers.get("x-message-id")
        )

    def request_test_event(self) -> bool:
        """POST /v3/user/webhooks/event/test: SendGrid posts a sample event to our webhook."""
        from python_http_client.exceptions import HTTPError

        try:
            response = self._client().client.user.webhooks.event.test.post()
        except (HTTPError, urllib.error.URLError, OSError, http.client.HTTPException):
            return False
        return 200 <= response.status_code < 300


def _deadline_failure(deadline: request_deadline.Deadline) -> ProviderResult | None:
    """A request the deadline cut: nothing was sent if no byte was written, else maybe."""
    if not deadline.fired:
        return None
    if deadline.bytes_written == 0:
        return ProviderResult(failure="refused", detail="deadline passed before anything was sent")
    return ProviderResult(failure="timeout", detail="the whole-request deadline passed")


def _deadline_client(inner: Any, timeout: float) -> Any:
    """The official client's HTTP layer, with every socket under the request's deadline."""
    from python_http_client import Client

    class DeadlineClient(Client):
        def _build_client(self, name: str | None = None) -> Any:
            url_path = [*self._url_path, name] if name else self._url_path
            return DeadlineClient(
                host=self.host,
                version=self._version,
                request_headers=self.request_headers,
                url_path=url_path,
                append_slash=self.append_slash,
                timeout=self.timeout,
            )

        def _make_request(self, opener: Any, request: Any, timeout: float | None = None) -> Any:
            return super()._make_request(_OPENER, request, timeout=timeout)

    return DeadlineClient(
        host=inner.host, request_headers=inner.request_headers, version=3, timeout=timeout
    )


def _guard(conn: http.client.HTTPConnection) -> None:
    """Register the connection's sockets with the running request's deadline."""
    create = conn._create_connection  # type: ignore[attr-defined]

    def create_connection(*args: Any, **kwargs: Any) -> socket.socket:
        sock = create(*args, **kwargs)
        if (deadline := request_deadline.current()) is not None:
            deadline.add_socket(sock)
        return sock

    conn._create_connection = create_connection  # type: ignore[attr-defined]


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _guard(self)

    def send(self, data: Any) -> None:
        _check_write(data)
        super().send(data)


class _GuardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _guard(self)

    def connect(self) -> None:
        super().connect()  # TLS wraps the raw socket in a new object: register that too
        if (deadline := request_deadline.current()) is not None and self.sock is not None:
            deadline.add_socket(self.sock)

    def send(self, data: Any) -> None:
        _check_write(data)
        super().send(data)


def _check_write(data: Any) -> None:
    if (deadline := request_deadline.current()) is not None:
        deadline.check_write(len(data) if isinstance(data, bytes | bytearray | memoryview) else 1)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_GuardedHTTP, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        # urllib keeps the TLS context and hostname check in private attributes it does not
        # type; HTTPSHandler.https_open reads them the same way.
        context = self._context  # type: ignore[attr-defined]
        check_hostname = self._check_hostname  # type: ignore[attr-defined]
        return self.do_open(_GuardedHTTPS, req, context=context, check_hostname=check_hostname)


_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


def _headers(raw: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(raw or {}).items()}
    except (TypeError, ValueError):
        return {}


def _transport_failure(reason: Any) -> ProviderResult:
    """Refused before sending → nothing left us; anything later → maybe sent."""
    if isinstance(reason, ConnectionRefusedError):
        return ProviderResult(failure="refused", detail=str(reason))
    if isinstance(reason, socket.gaierror):
        return ProviderResult(failure="refused", detail=f"DNS: {reason}")
    if isinstance(reason, TimeoutError | socket.timeout):
        return ProviderResult(failure="timeout", detail=str(reason))
    if isinstance(reason, ConnectionResetError | http.client.RemoteDisconnected | BrokenPipeError):
        return ProviderResult(failure="reset", detail=str(reason))
    return ProviderResult(failure="error", detail=f"{type(reason).__name__}: {reason}")
