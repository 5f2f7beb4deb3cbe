"""Who really sent a request behind a trusted proxy (pure): `X-Forwarded-For` is believed only
when the peer is one of `NEWSLETTER_TRUSTED_PROXIES`, read from the right, skipping trusted
hops, up to the first address no trusted proxy vouches for (anything left of it could be
forged by the client)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(value: str) -> tuple[Network, ...]:
    """`"127.0.0.1, 10.0.0.0/8"` → networks (parsed once per value); ValueError naming the
    first bad part."""
    networks = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(networks)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    if peer is None or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        parsed = _address(hop)
        if parsed is None:
            return peer  # a garbled header: keep what we know
        if not _trusted(hop, trusted):
            return str(parsed)
    first = _address(hops[0]) if hops else None
    return str(first) if first is not None else peer
