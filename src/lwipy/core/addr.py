"""Cheap IPv4 address helpers for the fast path.

``ipaddress.IPv4Address(x)`` re-parses an address it is given through its string form, and its ``is_multicast``
property builds a containment test; the helpers here do the same work on the integer value.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address

__all__ = ["ip4", "is_multicast4", "ANY4", "BROADCAST4"]

ANY4 = IPv4Address(0)
BROADCAST4 = IPv4Address("255.255.255.255")


def ip4(value: str | int | bytes | IPv4Address) -> IPv4Address:
    """``value`` as an :class:`IPv4Address`, without a copy when it is one already (strings parsed once, cached)."""
    if type(value) is IPv4Address:
        return value
    if type(value) is str:
        return _parse(value)
    return IPv4Address(value)


@lru_cache(maxsize=1024)
def _parse(text: str) -> IPv4Address:
    return IPv4Address(text)


def is_multicast4(addr: IPv4Address) -> bool:
    """224.0.0.0/4 (RFC 5771)."""
    return int(addr) >> 28 == 0xE
