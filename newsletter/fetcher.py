"""Fetching a page the server was asked to read (an article's URL; feeds later), safely.

The URL must be http(s) without credentials; each hop's name is resolved once, every address
it resolves to is checked (private, loopback, link-local, multicast, reserved and
unspecified addresses are refused unless `NEWSLETTER_FETCH_ALLOW_PRIVATE`), and the
connection goes to the address that was checked: `PinnedTransport` hands httpcore a network
backend that connects to the pinned IP while the request keeps its Host header and TLS keeps
its SNI and certificate check for the name, so a second DNS answer (rebinding) never gets a
say. Redirects are followed by hand, at most 5, each one checked again. A timeout bounds every
network operation and the whole fetch; the body is capped while it streams.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from newsletter.errors import ValidationError

MAX_BYTES = 5 * 1024 * 1024
TIMEOUT_S = 10.0
TOTAL_S = 30.0
MAX_REDIRECTS = 5
CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/plain": "txt",
}
USER_AGENT = "newsletter-article-fetcher/1 (+https://github.com/)"

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects: where relative links resolve
    extension: str  # html | md | txt (a hint for the importer's format detection)
    data: bytes  # UTF-8 (transcoded from the declared charset if another)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refused_reason(ip: str, *, allow_private: bool) -> str | None:
    """Why a connection to `ip` is refused, or None."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if allow_private:
        return None
    for name in ("loopback", "link_local", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    if not address.is_global:
        return "not a public address"
    return None


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked address of each host name, never resolving it again."""

    def __init__(self, pins: dict[str, str]):
        self._pins = pins
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        pinned = self._pins.get(host.strip("[]"))
        if pinned is None:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        return self._inner.connect_tcp(pinned, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> Any:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a pool whose connections go to pinned addresses."""

    def __init__(self, pins: dict[str, str]):
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=2,
            network_backend=_PinnedBackend(pins),
        )


def _check_url(raw: str, *, allow_private: bool, resolver: Resolver) -> tuple[httpx.URL, str]:
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ValidationError(
            f"{raw[:200]!r} is not a URL",
            where="URL",
            fix="give the post's full address, https://…",
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(
            f"{raw[:200]!r} is not an http(s) address",
            where="URL",
            fix="give the post's full address, https://…",
        )
    if url.userinfo:
        raise ValidationError(
            "the URL contains a user name or password",
            where="URL",
            fix="give the public address of the post",
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.host
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise ValidationError(
                f"the name {host!r} does not resolve",
                where=raw[:200],
                fix="check the address for typos",
            ) from None
    for address in addresses:
        reason = refused_reason(address, allow_private=allow_private)
        if reason:
            raise ValidationError(
                f"{host} resolves to {reason} ({address}); the fetcher only reads public websites",
                where=raw[:200],
                fix="give the public address of the post, or upload or paste the article "
                "(NEWSLETTER_FETCH_ALLOW_PRIVATE allows private addresses)",
            )
    return url, addresses[0]


def fetch(
    raw_url: str,
    *,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
    total_s: float = TOTAL_S,
) -> Fetched:
    """Fetch one page (see the module docstring); ValidationError says what went wrong."""
    deadline = time.monotonic() + total_s
    url_text = raw_url
    for _hop in range(MAX_REDIRECTS + 1):
        url, address = _check_url(url_text, allow_private=allow_private, resolver=resolver)
        with httpx.Client(
            transport=PinnedTransport({url.host: address}),
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html, text/markdown, text/plain;q=0.9, */*;q=0.1",
            },
        ) as client:
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise ValidationError("a redirect without a target", where=str(url))
                        url_text = str(url.join(location))
                        continue
                    return _read(response, url, max_bytes=max_bytes, deadline=deadline)
            except httpx.TimeoutException:
                raise ValidationError(
                    "the site did not answer in time",
                    where=str(url),
                    fix="try again later, or upload the article",
                ) from None
            except httpx.HTTPError as exc:
                raise ValidationError(
                    f"cannot fetch the page ({type(exc).__name__}: {exc})",
                    where=str(url),
                    fix="check the address, or upload the article",
                ) from None
    raise ValidationError(
        f"more than {MAX_REDIRECTS} redirects",
        where=raw_url[:200],
        fix="give the post's final address",
    )


def _read(response: httpx.Response, url: httpx.URL, *, max_bytes: int, deadline: float) -> Fetched:
    if response.status_code != 200:
        raise ValidationError(
            f"the site answered {response.status_code}",
            where=str(url),
            fix="check the address (is the post public?)",
        )
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    extension = CONTENT_TYPES.get(kind)
    if extension is None:
        raise ValidationError(
            f"the page is {kind or 'of no declared type'}, not text or HTML",
            where=str(url),
            fix="give the address of the post itself",
        )
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_big(url, max_bytes)
    chunks, size = [], 0
    for chunk in response.iter_bytes():  # decoded: the cap holds for compressed pages too
        size += len(chunk)
        if size > max_bytes:
            raise _too_big(url, max_bytes)
        if time.monotonic() > deadline:
            raise ValidationError(
                "the page took too long to download",
                where=str(url),
                fix="try again later, or upload the article",
            )
        chunks.append(chunk)
    data = b"".join(chunks)
    charset = (response.charset_encoding or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        try:
            data = data.decode(charset).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            raise ValidationError(
                f"the page is not valid {charset} text",
                where=str(url),
                fix="upload the article as a UTF-8 file",
            ) from None
    return Fetched(url=str(url), extension=extension, data=data)


def _too_big(url: httpx.URL, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"the page is larger than {max_bytes:,} bytes",
        where=str(url),
        fix="upload the article's text instead",
    )
