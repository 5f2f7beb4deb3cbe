"""The fetcher against real servers on loopback: pages, redirects re-checked, size and time
limits, content types, and the address checks (refused without
NEWSLETTER_FETCH_ALLOW_PRIVATE), with the connection pinned to the checked address."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from newsletter import fetcher
from newsletter.errors import ValidationError


class Handler(http.server.BaseHTTPRequestHandler):
    seen_hosts: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass

    def do_GET(self) -> None:
        Handler.seen_hosts.append(self.headers.get("Host", ""))
        routes = {
            "/post": (200, "text/html; charset=utf-8", b"<html><body><h1>Hi</h1></body></html>"),
            "/latin": (200, "text/plain; charset=iso-8859-1", "Caf\xe9 news".encode("latin-1")),
            "/md": (200, "text/markdown", b"# Title\n\nText."),
            "/pdf": (200, "application/pdf", b"%PDF-1.4"),
            "/missing": (404, "text/html", b"no"),
            "/big": (200, "text/html", b"x" * 2000),
        }
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect"))
            self.end_headers()
            return
        if self.path == "/to-private":
            self.send_response(301)
            self.send_header("Location", "http://10.1.2.3/post")
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(1.5)
        status, kind, body = routes.get(self.path, (200, "text/html", b"<p>slow</p>"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (the timeout test)
            self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.seen_hosts = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetches_a_page_on_loopback_when_allowed(server):
    page = fetcher.fetch(f"{server}/post", allow_private=True)
    assert page.data == b"<html><body><h1>Hi</h1></body></html>"
    assert (page.extension, page.url) == ("html", f"{server}/post")


def test_loopback_is_refused_by_default(server):
    with pytest.raises(ValidationError, match="loopback address"):
        fetcher.fetch(f"{server}/post")
    assert Handler.seen_hosts == []  # nothing was sent


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_internal_addresses_are_refused(address, reason):
    assert reason in fetcher.refused_reason(address, allow_private=False)
    assert fetcher.refused_reason("93.184.216.34", allow_private=False) is None


def test_every_resolved_address_is_checked_and_the_name_resolved_once(server):
    port = int(server.rsplit(":", 1)[1])
    calls = []

    def resolver(host: str, port_: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    page = fetcher.fetch(f"http://blog.clinic.test:{port}/post", allow_private=True,
                         resolver=resolver)  # fmt: skip
    assert page.data.startswith(b"<html>")
    assert calls == ["blog.clinic.test"]  # resolved once: the connection used that answer
    assert Handler.seen_hosts == [f"blog.clinic.test:{port}"]  # Host kept for the site
    with pytest.raises(ValidationError, match="private address"):
        fetcher.fetch("http://blog.clinic.test/post",
                      resolver=lambda h, p: ["93.184.216.34", "10.0.0.7"])  # fmt: skip


def test_redirects_are_followed_and_each_checked_again(server):
    page = fetcher.fetch(f"{server}/redirect/md", allow_private=True)
    assert (page.url, page.extension, page.data) == (f"{server}/md", "md", b"# Title\n\nText.")


def test_a_redirect_to_a_private_address_is_refused(server, monkeypatch):
    monkeypatch.setattr(
        fetcher,
        "refused_reason",
        lambda ip, allow_private: "a private address" if ip.startswith("10.") else None,
    )
    with pytest.raises(ValidationError, match=r"resolves to a private address \(10\.1\.2\.3\)"):
        fetcher.fetch(f"{server}/to-private")


def test_limits_and_refusals(server):
    with pytest.raises(ValidationError, match="more than 5 redirects"):
        fetcher.fetch(f"{server}/loop", allow_private=True)
    with pytest.raises(ValidationError, match="larger than 1,000 bytes"):
        fetcher.fetch(f"{server}/big", allow_private=True, max_bytes=1000)
    with pytest.raises(ValidationError, match="did not answer in time"):
        fetcher.fetch(f"{server}/slow", allow_private=True, timeout_s=0.3)
    with pytest.raises(ValidationError, match="application/pdf"):
        fetcher.fetch(f"{server}/pdf", allow_private=True)
    with pytest.raises(ValidationError, match="answered 404"):
        fetcher.fetch(f"{server}/missing", allow_private=True)
    for url, message in [
        ("ftp://example.com/a", "not an http"),
        ("javascript:alert(1)", "not an http"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://no-such-host.invalid/", "does not resolve"),
    ]:
        with pytest.raises(ValidationError, match=message):
            fetcher.fetch(url)


def test_declared_charsets_are_transcoded_to_utf8(server):
    page = fetcher.fetch(f"{server}/latin", allow_private=True)
    assert page.data == "Café news".encode()
