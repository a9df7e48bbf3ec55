"""Address helpers shared by the core: the IPv4 ones for the fast path, and those for either family (the wildcard
addresses, parsing, IPv4-mapped IPv6 addresses as the IPv4 ones they map).  Helpers on packed IPv6 addresses live in
:mod:`.addr6`.

``ipaddress.IPv4Address(x)`` re-parses an address it is given through its string form, and its ``is_multicast``
property builds a containment test; the helpers here do the same work on the integer value.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Union

__all__ = ["ip4", "ip_any", "unmap", "is_multicast4", "ANY4", "ANY6", "BROADCAST4", "IpAddress"]

#: an address of either family
IpAddress = Union[IPv4Address, IPv6Address]
ANY4 = IPv4Address(0)
ANY6 = IPv6Address(0)
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


def ip_any(value: Any) -> Any:
    """``value`` as an address of either family when it is text (``ip_address``); anything else (an address, None)
    as it is."""
    return ip_address(value) if isinstance(value, str) else value


def unmap(ip: str | IpAddress) -> IpAddress:
    """An address as a pcb keeps it: parsed, and an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) as the IPv4 one
    it maps, as lwIP's ``ip_addr_t`` unmaps it."""
    if type(ip) is IPv4Address:
        return ip
    if type(ip) is str and ":" not in ip:
        return ip4(ip)  # parsed once, cached
    addr = ip if isinstance(ip, (IPv4Address, IPv6Address)) else ip_address(ip)
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr
