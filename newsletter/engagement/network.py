"""Client addresses: who really sent a request behind a trusted proxy, and how little of that
address a click row keeps (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """`"127.0.0.1, 10.0.0.0/8"` → networks; ValueError naming the first bad part."""
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
    """The client behind the proxies: `X-Forwarded-For` is believed only when the peer is a
    trusted proxy, and then read from the right, skipping trusted hops, up to the first
    address no trusted proxy vouches for (anything left of it could be forged)."""
    if peer is None or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a garbled header: keep what we know
        if not _trusted(hop, trusted):
            return str(_address(hop))
    return str(_address(hops[0])) if hops else peer


@lru_cache(maxsize=65536)
def truncate_ip(value: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (`203.0.113.0/24`): a network, never a person's address."""
    parsed = _address(value) if value else None
    if parsed is None:
        return None
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
