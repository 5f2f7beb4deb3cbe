"""Helpers for test suites that drive the emulator: a sample payload, the official client
aimed at the emulator, and a tiny loopback webhook receiver."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from newsletter.emulator.config import DEFAULT_API_KEY


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every POST (raw body and headers).

    `status` (or `status_fn(n)` for the n-th post, 1-based) sets the answer; `redirect_to`
    makes it answer 302. Use as a context manager, or call `close()`.
    """

    def __init__(self, status: int = 200, status_fn: Callable[[int], int] | None = None) -> None:
        self.status = status
        self.status_fn = status_fn
        self.redirect_to: str | None = None
        self.posts: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._conns: set[socket.socket] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._cond:
                    receiver._conns.add(self.connection)

            def finish(self) -> None:
                with receiver._cond:
                    receiver._conns.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.posts.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": raw}
                    )
                    n = len(receiver.posts)
                    receiver._cond.notify_all()
                status = receiver.status_fn(n) if receiver.status_fn else receiver.status
                if receiver.redirect_to:
                    status = 302
                self.send_response(status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True  # never blocks interpreter exit; close() waits
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sendgrid/events"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)  # fmt: skip
        self._thread.start()

    def event_count(self) -> int:
        """Events received so far (counted without parsing every body)."""
        with self._cond:
            return sum(p["body"].count(b'"sg_event_id"') for p in self.posts)

    def events(self) -> list[dict[str, Any]]:
        """Every event of every post received so far, in arrival order."""
        with self._cond:
            posts = list(self.posts)
        return [ev for p in posts for ev in json.loads(p["body"])]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> bool:
        """Wait until `predicate(self.events())` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.events()):
                return True
            with self._cond:
                self._cond.wait(timeout=0.05)
        return predicate(self.events())

    def close(self) -> None:
        self._server.shutdown()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:  # wake handlers blocked on idle keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        while self._conns and time.monotonic() < deadline:
            time.sleep(0.01)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.close()


KEY = DEFAULT_API_KEY

BASE_MAIL: dict[str, Any] = {
    "from": {"email": "news@clinic.example", "name": "Clinic News"},
    "reply_to": {"email": "hello@clinic.example"},
    "subject": "November news for -fn_text-",
    "content": [
        {"type": "text/plain", "value": "Hi -fn_text- https://clinic.example/r/L7/-rt-"},
        {
            "type": "text/html",
            "value": '<p>Hi -fn_html-</p><a href="https://clinic.example/r/L7/-rt-">Book</a>',
        },
    ],
    "personalizations": [
        {
            "to": [{"email": "ana@example.org"}],
            "headers": {
                "List-Unsubscribe": "<https://clinic.example/u/UTOKEN>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "substitutions": {
                "-fn_text-": "Ana & Bo",
                "-fn_html-": "Ana &amp; Bo",
                "-rt-": "RTOKEN",
            },
            "custom_args": {"send_id": "k3VqP0xZr8T1bq6WmY2sNw"},
        }
    ],
    "headers": {"List-Id": "Clinic news <news.clinic.example>"},
    "categories": ["newsletter"],
    "tracking_settings": {
        "click_tracking": {"enable": False, "enable_text": False},
        "open_tracking": {"enable": False},
        "subscription_tracking": {"enable": False},
        "ganalytics": {"enable": False},
    },
}


def make_mail(*emails: str, **overrides: Any) -> dict[str, Any]:
    """The product's raw-dict payload, one personalization per address."""
    body = copy.deepcopy(BASE_MAIL)
    if emails:
        template = body["personalizations"][0]
        body["personalizations"] = []
        for i, email in enumerate(emails):
            p = copy.deepcopy(template)
            p["to"] = [{"email": email}]
            p["custom_args"] = {"send_id": f"send-{i:05d}"}
            body["personalizations"].append(p)
    body.update(overrides)
    return body


def client_for(handle: Any, key: str = KEY, timeout: float = 5) -> Any:
    """The official `sendgrid` client aimed at a running emulator, with a timeout set."""
    import sendgrid

    sg = sendgrid.SendGridAPIClient(api_key=key, host=handle.base_url)
    sg.client.timeout = timeout
    return sg
