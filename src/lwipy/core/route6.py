"""IPv6 routes: on-link determination, the next hop off-link, redirects and path MTU (RFC 4861 5.2, RFC 4191,
RFC 8201), what lwIP's ``nd6.c`` keeps as its destination cache and ``nd6_find_route``.

Theory of operation
-------------------
**On-link or not.**  A destination is on a netif's link when it is link-local, inside a prefix of that netif's
on-link prefix list (router advertisements, or :meth:`Route6Table.add_route` without a router; kept by
:mod:`.nd6_router`), inside the prefix of an address set on the netif by hand (tentative too, as Linux's prefix route),
or the target of a redirect that says the destination itself is the next hop.

**Off-link.**  The next hop is, first, the target of a redirect for exactly that destination (RFC 4861 8.3: the
destination cache, at most ``nd6_num_destinations`` entries, the oldest given up first); then the router of the most
specific route (RFC 4191 route information from advertisements, and the static routes of :meth:`add_route`); then a
default router of :mod:`.nd6_router`'s list, one whose neighbour entry is not known to be unreachable first (RFC 4861
6.3.6).  A redirect is taken only from the router currently in use for the destination, from a link-local source,
for a target that is link-local or the destination itself (RFC 4861 8.1).

**Path MTU.**  A Packet Too Big message lowers the path MTU towards its quoted destination (never below 1280, RFC
8201 4; at most ``nd6_num_destinations`` destinations remembered).  IPv6 output sends no more than that, fragmenting
when it may; the transports hear of it through :class:`~lwipy.core.events.PathMtuChanged` on ``stack.events``
(RFC 8201 5.2: TCP lowers its segment size), so this module writes no transport's state.

Routes learned from advertisements expire at the end of their lifetime (:meth:`Route6Table.poll`, driven by
:class:`~lwipy.core.nd6.Nd6`'s timer); every change of what a lookup would answer calls ``stack.routes.changed()``,
which makes pcbs that keep a route of their own look again.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING

from ..errors import LwipError
from ..wire.ndp import Redirect, TargetLinkAddr
from .addr6 import DUPLICATED, ORIGIN_SLAAC, in_prefix, is_link_local6, is_multicast6
from .events import PathMtuChanged
from .nd6_router import Prefix, lladdr, until

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Route6", "Route6Table"]

_INCOMPLETE = "INCOMPLETE"  # nd6's state name (nd6 imports this module, not the other way round)


@dataclass(slots=True, eq=False)
class Route6:
    """A route to ``prefix``/``length`` through the router ``router`` on ``netif``: from an advertisement's route
    information (RFC 4191; ``until`` its end, None: forever) or :meth:`Route6Table.add_route` (``static``)."""

    netif: "Netif"
    prefix: bytes
    length: int
    router: bytes
    until: float | None
    static: bool = False


class Route6Table:
    """The IPv6 routes of one stack (``stack.route6``); see the module's documentation."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._rdisc = stack.nd6.rdisc  # the default router and on-link prefix lists
        #: more specific routes: RFC 4191 route information and static ones
        self.routes: list[Route6] = []
        #: the destination cache: destination -> (netif, better next hop), from redirects
        self.redirects: dict[bytes, tuple["Netif", bytes]] = {}
        #: destination -> path MTU, from Packet Too Big messages
        self.path_mtus: dict[bytes, int] = {}

    # -- lookups -----------------------------------------------------------------------------------------------------
    def on_link(self, netif: "Netif", dst: bytes) -> bool:
        """Whether ``dst`` is on ``netif``'s link: link-local, a prefix from an advertisement or :meth:`add_route`,
        the prefix of an address set by hand (tentative too, as Linux's prefix route), or a redirect's target being
        the destination itself."""
        if is_link_local6(dst):
            return True
        redirect = self.redirects.get(dst)
        if redirect is not None and redirect[0] is netif and redirect[1] == dst:
            return True
        if any(p.netif is netif and in_prefix(dst, p.prefix, p.length) for p in self._rdisc.prefixes):
            return True
        return any(a.state != DUPLICATED and a.origin != ORIGIN_SLAAC and in_prefix(dst, a.addr, a.prefix_len)
                   for a in netif.ip6_addrs if not is_link_local6(a.addr))  # on-link from the start, DAD or not

    def router_for(self, dst: bytes, netif: "Netif | None" = None) -> tuple["Netif", bytes] | None:
        """The next hop off-link: a redirect, a more specific route (RFC 4191), then a default router, those whose
        neighbour entry is not known to be unreachable first (RFC 4861 6.3.6)."""
        redirect = self.redirects.get(dst)
        if redirect is not None and (netif is None or redirect[0] is netif):
            return redirect
        best: Route6 | None = None
        for r in self.routes:
            if (netif is None or r.netif is netif) and r.netif.is_usable and in_prefix(dst, r.prefix, r.length):
                if best is None or r.length > best.length:
                    best = r
        if best is not None:
            return best.netif, best.router
        usable = [r for r in self._rdisc.routers if (netif is None or r.netif is netif) and r.netif.is_usable]
        neighbors = self.stack.nd6.neighbors
        for router in usable:
            n = neighbors.get((router.netif.index, router.addr))
            if n is None or n.state != _INCOMPLETE:
                return router.netif, router.addr
        return (usable[0].netif, usable[0].addr) if usable else None

    # -- static routes -----------------------------------------------------------------------------------------------
    def add_route(self, prefix: str, netif: "Netif", via: str | None = None) -> Route6 | Prefix:
        """A static route of one's own (hosts learn theirs from advertisements): ``prefix`` (``"2001:db8:3::/64"``,
        ``"::/0"`` for a default route) through the router ``via`` (usually its link-local address) on ``netif``,
        or on-link there when ``via`` is None.  It never expires; :meth:`remove_route` takes it back."""
        net = IPv6Network(prefix)
        self.stack.routes.changed()
        if via is None:
            return self._rdisc.add_static_prefix(netif, net.network_address.packed, net.prefixlen)
        router = IPv6Address(via)
        if router.is_multicast or router.is_unspecified:
            raise ValueError(f"{via} cannot be a next hop: give the router's unicast (link-local) address")
        route = Route6(netif, net.network_address.packed, net.prefixlen, router.packed, None, True)
        self.routes.append(route)
        return route

    def remove_route(self, entry: Route6 | Prefix) -> None:
        """Take back a route :meth:`add_route` gave."""
        if isinstance(entry, Route6):
            self.routes.remove(entry)
        else:
            self._rdisc.prefixes.remove(entry)
        self.stack.routes.changed()

    # -- what advertisements and ICMPv6 say --------------------------------------------------------------------------
    def route_info(self, netif: "Netif", router: bytes, prefix: bytes, length: int, lifetime: int) -> None:
        """RFC 4191 3.1: a more specific route through the advertising ``router`` (lifetime 0: withdrawn)."""
        now = self.stack.now
        known = next((r for r in self.routes if r.netif is netif and not r.static and r.router == router
                      and r.length == length and in_prefix(r.prefix, prefix, length)), None)
        if lifetime == 0:
            if known is not None:
                self.routes.remove(known)
        elif known is not None:
            known.until = until(now, lifetime)
            self.stack.timer_armed(known.until)
        elif len(self.routes) < self.stack.config.nd6_num_destinations:
            route = Route6(netif, prefix, length, router, until(now, lifetime))
            self.routes.append(route)
            self.stack.timer_armed(route.until)

    def redirect_input(self, pkt: "InPacket6", rd: Redirect) -> None:
        """RFC 4861 8.1 checks, then the new next hop for the destination (8.3)."""
        stack = self.stack
        netif = pkt.netif
        try:  # the current first hop: the destination itself when it is on-link, which no router may redirect
            current: tuple[Netif, bytes] | None = stack.ip6.route(rd.destination, netif)
        except LwipError:
            current = None
        if not is_link_local6(pkt.src) or is_multicast6(rd.destination) or current is None or current[1] != pkt.src \
                or not (is_link_local6(rd.target) or rd.target == rd.destination):
            stack._stats.nd6.proterr += 1
            stack._stats.nd6.drop += 1
            return
        if len(self.redirects) >= stack.config.nd6_num_destinations:
            self.redirects.pop(next(iter(self.redirects)))
        self.redirects[rd.destination] = (netif, rd.target)
        tlla = lladdr(rd.options, TargetLinkAddr)
        if tlla is not None:
            stack.nd6.learn(netif, rd.target, tlla)
        stack.routes.changed()

    def path_mtu(self, dst: bytes, mtu: int) -> None:
        """A packet too big message: remember the smaller MTU towards ``dst`` (never below 1280, RFC 8201 4) and
        tell the transports (:class:`~lwipy.core.events.PathMtuChanged`)."""
        if len(self.path_mtus) >= self.stack.config.nd6_num_destinations and dst not in self.path_mtus:
            self.path_mtus.pop(next(iter(self.path_mtus)))
        pmtu = self.path_mtus[dst] = max(1280, min(mtu, self.path_mtus.get(dst, 0xFFFFFFFF)))
        self.stack.events.emit(PathMtuChanged(dst, pmtu))

    # -- netifs and time ---------------------------------------------------------------------------------------------
    def netif_removed(self, netif: "Netif") -> None:
        self.routes = [r for r in self.routes if r.netif is not netif]
        self.redirects = {d: v for d, v in self.redirects.items() if v[0] is not netif}

    def poll(self, now: float) -> bool:
        """Drop the routes whose lifetime ended; True when some went (the caller tells ``stack.routes``)."""
        routes = [r for r in self.routes if r.until is None or r.until > now]
        if len(routes) == len(self.routes):
            return False
        self.routes = routes
        return True

    def poll_at(self) -> float | None:
        due = None
        for r in self.routes:
            t = r.until
            if t is not None and (due is None or t < due):
                due = t
        return due
