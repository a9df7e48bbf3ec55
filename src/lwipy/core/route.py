"""IPv4 route selection: the longest matching prefix among the netifs' subnets, static routes and the default route.

lwIP's ``ip4_route`` walks the netifs and falls back to the default netif; lwipy adds static routes and picks the most
specific match, which is what a host with several interfaces needs.  Results are cached per destination until any netif
or route changes.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LwipError
from ..wire.checksum import from_bytes as _from_bytes
from .addr import BROADCAST4

if TYPE_CHECKING:
    from .netif import Netif

__all__ = ["Route", "RouteTable"]

_CACHE_MAX = 1024


@dataclass(frozen=True, slots=True)
class Route:
    """A static route: ``prefix`` reached through ``netif``, via ``gateway`` (None: on-link)."""

    prefix: IPv4Network
    netif: "Netif"
    gateway: IPv4Address | None = None


class RouteTable:
    """Routes of one stack.  ``lookup(dst)`` gives ``(netif, next_hop)`` or None when there is no route."""

    def __init__(self) -> None:
        self.netifs: list[Netif] = []
        self.static: list[Route] = []
        self.default_netif: Netif | None = None
        self._cache: dict[int, tuple[Netif, IPv4Address] | None] = {}  # keyed by int(dst): cheaper to hash
        self._by_address: dict[int, Netif] | None = None  # int(address) -> the usable netif holding it
        self.generation = 0  # bumped by changed(): who keeps a route of its own looks again when it moved on

    #: way13: called after every write to :attr:`generation` (the stack's ``_way_moved``: ways out kept by TCP
    #: connections are made again); not a field
    _moved: Callable[[], None] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "generation" and self._moved is not None:
            self._moved()

    def changed(self) -> None:
        """Forget cached decisions: call after any change of netif address, state or route."""
        self._cache.clear()
        self._by_address = None
        self.generation += 1

    def add(self, prefix: str | IPv4Network, netif: "Netif", gateway: str | IPv4Address | None = None) -> Route:
        route = Route(IPv4Network(prefix), netif, IPv4Address(gateway) if gateway is not None else None)
        self.static.append(route)
        self.changed()
        return route

    def remove(self, route: Route) -> None:
        self.static.remove(route)
        self.changed()

    def lookup(self, dst: IPv4Address) -> tuple["Netif", IPv4Address] | None:
        key = int(dst)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._select(dst)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = found
        return found

    def lookup_packed(self, dst: bytes) -> tuple["Netif", IPv4Address] | None:
        """:meth:`lookup` for the 4 packed bytes of an address (the forwarding path: no address object when the
        decision is cached)."""
        try:
            return self._cache[_from_bytes(dst)]
        except KeyError:
            return self.lookup(IPv4Address(dst))

    def netif_with_address(self, src: IPv4Address) -> "Netif | None":
        """The netif that is up, has its link and holds the address ``src`` (ESP-IDF's source-based routing)."""
        table = self._by_address
        if table is None:
            table = self._by_address = {int(n.ip4.ip): n for n in reversed(self.netifs)
                                        if n.ip4 is not None and n.is_usable}
        return table.get(int(src))

    def unreachable(self, dst: IPv4Address) -> LwipError:
        """The error for a ``dst`` :meth:`lookup` found no route to: ENETDOWN when a netif that would carry it is
        down (its subnet holds ``dst``, or it is the default netif), else EHOSTUNREACH (lwIP's ERR_RTE)."""
        for netif in self.netifs:
            if netif.is_loopback or netif.is_usable:
                continue
            if netif is self.default_netif or (netif.ip4 is not None and dst in netif.ip4.network):
                return LwipError(errno.ENETDOWN, f"{netif.name}, which would carry {dst}, is down")
        return LwipError(errno.EHOSTUNREACH, f"no route to {dst}")

    def _select(self, dst: IPv4Address) -> tuple["Netif", IPv4Address] | None:
        if dst.is_loopback:
            for netif in self.netifs:
                if netif.is_loopback and netif.is_usable:
                    return netif, dst
            return None
        if dst == BROADCAST4 or dst.is_multicast:
            out = self.default_netif
            if out is None or not out.is_usable:
                out = next((n for n in self.netifs if n.is_usable and n.ip4 is not None and not n.is_loopback), None)
            return (out, dst) if out is not None else None
        best: tuple[int, Netif, IPv4Address] | None = None
        for netif in self.netifs:
            if netif.ip4 is None or not netif.is_usable or netif.is_loopback:
                continue
            if dst in netif.ip4.network or dst == netif.ip4.ip:
                plen = netif.ip4.network.prefixlen
                if best is None or plen > best[0]:
                    best = (plen, netif, dst)
        for route in self.static:
            if route.netif.is_usable and dst in route.prefix:
                plen = route.prefix.prefixlen
                if best is None or plen > best[0]:
                    best = (plen, route.netif, route.gateway or dst)
        if best is not None:
            return best[1], best[2]
        default = self.default_netif
        if default is not None and default.is_usable and default.ip4 is not None and default.gateway is not None:
            return default, default.gateway
        return None
