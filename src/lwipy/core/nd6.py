"""Neighbour discovery (RFC 4861) and stateless address autoconfiguration (RFC 4862), as lwIP's ``nd6.c``.

Theory of operation
-------------------
**Neighbours.**  A packet for an unknown next hop makes an INCOMPLETE entry, queues (at most ``nd6_max_queued``
packets, the oldest given up first) and sends a multicast solicitation every RetransTimer until
``nd6_max_multicast_solicit`` went unanswered; then the entry and its queue are dropped.  An advertisement makes the
entry REACHABLE (solicited) or STALE (unsolicited) and sends the queue.  REACHABLE turns STALE after ReachableTime;
the first packet sent to a STALE neighbour makes it DELAY, which after ``nd6_delay_first_probe_time`` becomes PROBE:
unicast solicitations, ``nd6_max_unicast_solicit`` of them, then the entry goes.  A solicitation or advertisement
from a neighbour with its link-layer address refreshes the entry (RFC 4861 7.2.3, 7.2.5).  When the cache
(``nd6_num_neighbors``) is full, an entry gives way, the stalest first: a resolved one before one still resolving,
and a default router's last.  IsRouter (set by advertisements, cleared when the router expires, says lifetime 0 or
an NA says otherwise) never pins an entry.

**Our addresses.**  An address starts TENTATIVE: after a random delay of up to a second, ``ipv6_dup_detect_attempts``
solicitations for it go out from the unspecified address, RetransTimer apart (RFC 4862 5.4).  A solicitation from
another node doing the same, or an advertisement for it, marks it DUPLICATED; else it becomes PREFERRED.  Addresses
from router advertisements (SLAAC, ``ipv6_autoconfig``) turn DEPRECATED at the end of their preferred lifetime and
go at the end of their valid lifetime; RFC 4862 5.5.3 e)'s two-hour rule guards the valid lifetime of one we have.

**Routers.**  A netif that comes up sends up to three router solicitations, four seconds apart, until an
advertisement arrives.  Advertisements (from a link-local source, hop limit 255) fill the default router list
(``nd6_num_routers``), the prefix list (``nd6_num_prefixes``), more specific routes (RFC 4191 route information),
the DNS servers of RDNSS options (RFC 8106, up to ``ipv6_rdnss_max_dns_servers``) and set the hop limit, MTU,
ReachableTime and RetransTimer.  Redirects from the router in use change the next hop of one destination.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any

from ..errors import LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.ethernet import ETHERTYPE_IPV6
from ..wire.ndp import (MtuOption, Option, NeighborAdvert, NeighborSolicit, PrefixInfo, Rdnss, Redirect, RouteInfo,
                        RouterAdvert, RouterSolicit, SourceLinkAddr, TargetLinkAddr, parse_nd)
from .addr6 import (ALL_NODES, ALL_ROUTERS, DEPRECATED, DUPLICATED, ORIGIN_SLAAC, PREFERRED, TENTATIVE, UNSPECIFIED,
                    Ip6Addr, in_prefix, is_link_local6, is_multicast6, is_unspecified6, solicited_node)
from .events import Ip6AddressRemoved, RouterAdvertReceived, RouterSolicitReceived
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Nd6", "Neighbor", "Router", "Prefix", "Route6", "lladdr", "INCOMPLETE", "REACHABLE", "STALE", "DELAY",
           "PROBE"]

INCOMPLETE, REACHABLE, STALE, DELAY, PROBE = "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE"
INFINITE = 0xFFFFFFFF
MAX_RTR_SOLICITATIONS = 3
RTR_SOLICITATION_INTERVAL = 4.0
MAX_RTR_SOLICITATION_DELAY = 1.0
TWO_HOURS = 7200.0


@dataclass(slots=True, eq=False)
class Neighbor:
    """A neighbour cache entry."""

    netif: "Netif"
    addr: bytes
    state: str
    mac: bytes | None = None
    is_router: bool = False
    at: float | None = None  # the next state change or solicitation
    probes: int = 0
    touched: float = 0.0
    queue: deque = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class Router:
    netif: "Netif"
    addr: bytes
    until: float


@dataclass(slots=True, eq=False)
class Prefix:
    netif: "Netif"
    prefix: bytes
    length: int
    until: float | None
    static: bool = False  # add_route's: advertisements do not change it


@dataclass(slots=True, eq=False)
class Route6:
    netif: "Netif"
    prefix: bytes
    length: int
    router: bytes
    until: float | None
    static: bool = False


def lladdr(options: list[Option], kind: type[SourceLinkAddr] | type[TargetLinkAddr]) -> bytes | None:
    """The Ethernet address a link-layer address option of ``kind`` carries (its first 6 bytes), or None."""
    for o in options:
        if isinstance(o, (SourceLinkAddr, TargetLinkAddr)) and isinstance(o, kind) and len(o.mac) >= 6:
            return bytes(o.mac[:6])
    return None


def _until(now: float, seconds: int) -> float | None:
    return None if seconds == INFINITE else now + seconds


class Nd6:
    """Neighbour discovery for one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.neighbors: dict[tuple[int, bytes], Neighbor] = {}
        self.routers: list[Router] = []
        self.prefixes: list[Prefix] = []
        self.routes: list[Route6] = []
        self.redirects: dict[bytes, tuple["Netif", bytes]] = {}  # destination -> (netif, better next hop)
        self.path_mtus: dict[bytes, int] = {}
        #: DNS servers learned from RDNSS options: (address, until)
        self.dns_servers: list[tuple[bytes, float | None]] = []

    # -- addresses ---------------------------------------------------------------------------------------------------
    def address_event(self, event: Any) -> None:
        """A subscriber of :mod:`.events`: an address added joins its solicited-node group and starts duplicate
        address detection; one removed leaves the group."""
        netif = event.netif
        if netif.is_loopback:
            return
        if isinstance(event, Ip6AddressRemoved):
            self.stack.mld6.leave(netif, solicited_node(event.address.packed))
            return
        a = netif.ip6_addr_of(event.address.packed)
        if a is not None:
            self.address_added(netif, a)

    def address_added(self, netif: "Netif", a: Ip6Addr) -> None:
        """Join the address's solicited-node group and start duplicate address detection."""
        self.stack.mld6.join(netif, solicited_node(a.addr))
        attempts = self.stack.config.ipv6_dup_detect_attempts
        if a.state != TENTATIVE:
            return
        if not attempts:
            netif.ip6_addr_set_state(a, PREFERRED)
            return
        a.dad_left = attempts
        a.dad_at = self.stack.now + self.stack.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY)

    def _duplicate(self, netif: "Netif", a: Ip6Addr) -> None:
        a.dad_at, a.dad_left = None, 0
        self.stack.stats.nd6.err += 1
        netif.ip6_addr_set_state(a, DUPLICATED)  # another node's now: no more ours to loop back to or bind

    # -- output ------------------------------------------------------------------------------------------------------
    def output(self, netif: "Netif", pbuf: Pbuf, next_hop: bytes) -> bool:
        """``nd6_get_next_hop_addr_or_queue`` + ethernet output: send to the neighbour's MAC, or queue and solicit."""
        stack = self.stack
        key = (netif.index, next_hop)
        n = self.neighbors.get(key)
        if n is None:
            n = self._new(netif, next_hop, INCOMPLETE)
            if n is None:
                stack.stats.nd6.memerr += 1
                stack.stats.ip6.drop += 1
                return False
            self._solicit(n, multicast=True)
            n.probes, n.at = 1, stack.now + netif.retrans_timer
        n.touched = stack.now
        if n.state == INCOMPLETE:
            limit = stack.config.nd6_max_queued
            if not limit:
                stack.stats.ip6.drop += 1
                return False
            if len(n.queue) >= limit:
                n.queue.popleft()
                stack.stats.nd6.memerr += 1
            n.queue.append(pbuf)
            return True
        if n.state == STALE:
            n.state, n.at = DELAY, stack.now + stack.config.nd6_delay_first_probe_time / 1000.0
        assert n.mac is not None
        return stack.link_output(netif, pbuf, n.mac, ETHERTYPE_IPV6)

    def _new(self, netif: "Netif", addr: bytes, state: str) -> Neighbor | None:
        if len(self.neighbors) >= self.stack.config.nd6_num_neighbors:
            self._drop(min(self.neighbors.values(), key=self._eviction_rank))
        n = Neighbor(netif, addr, state, touched=self.stack.now)
        self.neighbors[(netif.index, addr)] = n
        return n

    def _eviction_rank(self, n: Neighbor) -> tuple[int, float]:
        """Which entry gives way when the cache is full, lowest first: a resolved entry that is no default router's,
        then one still resolving (its queue is lost), then a default router's; the stalest first within each.

        IsRouter alone never protects an entry: a router advertisement or neighbour advertisement can set it from
        any link-local source, so entries pinned by it would let a few forged packets fill the cache for good
        (RFC 4861 7.3.3 keeps IsRouter to notice a router turning host, not to keep entries)."""
        if self._is_default_router(n):
            return 2, n.touched
        return (1 if n.state == INCOMPLETE else 0), n.touched

    def _is_default_router(self, n: Neighbor) -> bool:
        return any(r.netif is n.netif and r.addr == n.addr for r in self.routers)

    def _drop(self, n: Neighbor) -> None:
        self.neighbors.pop((n.netif.index, n.addr), None)
        if n.queue:
            self.stack.stats.ip6.drop += len(n.queue)
            n.queue.clear()

    def learn(self, netif: "Netif", addr: bytes, mac: bytes, reachable: bool = False) -> Neighbor | None:
        """A neighbour told us its MAC: a new entry is STALE (REACHABLE when ``reachable``); a changed MAC makes an
        entry STALE; a resolved entry sends its queue.  Nothing is learned on a point-to-point link, which resolves
        nothing (RFC 4861 7.2)."""
        if not netif.is_ethernet:
            return None
        n = self.neighbors.get((netif.index, addr))
        if n is None:
            n = self._new(netif, addr, STALE)
            if n is None:
                return None
            n.mac = mac
        elif n.mac != mac or n.state == INCOMPLETE:
            n.mac, n.state, n.at = mac, STALE, None
        if reachable:
            self._reachable(n)
        self._flush(n)
        return n

    def _reachable(self, n: Neighbor) -> None:
        n.state, n.probes, n.at = REACHABLE, 0, self.stack.now + n.netif.reachable_time

    def _flush(self, n: Neighbor) -> None:
        while n.queue and n.mac is not None:
            self.stack.link_output(n.netif, n.queue.popleft(), n.mac, ETHERTYPE_IPV6)

    # -- sending ND messages -----------------------------------------------------------------------------------------
    def send(self, netif: "Netif", msg: Any, src: bytes, dst: bytes) -> None:
        """Send the ND message ``msg`` (hop limit 255, RFC 4861 6.1) from ``src`` to ``dst`` out of ``netif``."""
        stack = self.stack
        pbuf = Pbuf.alloc(msg.buffer_len)
        msg.emit(pbuf.buf, pbuf.start)
        w6.fill_checksum(pbuf.buf, pbuf.start, msg.buffer_len, src, dst)
        try:
            stack.ip6.output(pbuf, src, dst, w6.PROTO_ICMPV6, hop_limit=255, netif=netif)
        except LwipError:
            stack.stats.nd6.err += 1
            return
        stack.stats.nd6.xmit += 1

    def _solicit(self, n: Neighbor, multicast: bool) -> None:
        netif = n.netif
        src = self.stack.ip6.select_source(netif, n.addr)
        if src is None:
            return
        dst = solicited_node(n.addr) if multicast or n.mac is None else n.addr
        self.send(netif, NeighborSolicit(n.addr, [SourceLinkAddr(netif.hwaddr)] if netif.hwaddr else []), src, dst)

    def _dad_probe(self, netif: "Netif", a: Ip6Addr) -> None:
        self.send(netif, NeighborSolicit(a.addr, []), UNSPECIFIED, solicited_node(a.addr))

    def router_solicit(self, netif: "Netif") -> None:
        src = next((a.addr for a in netif.ip6_addrs if a.usable and is_link_local6(a.addr)), UNSPECIFIED)
        options: list[Option] = [] if src == UNSPECIFIED or not netif.hwaddr else [SourceLinkAddr(netif.hwaddr)]
        self.send(netif, RouterSolicit(options), src, ALL_ROUTERS)

    def netif_up(self, netif: "Netif") -> None:
        """The netif came up: solicit routers (``ipv6_send_router_solicit``)."""
        if netif.ip6_advertising:
            return  # an advertising interface (RFC 4861 6.2.2): a router does not solicit routers
        if self.stack.config.ipv6_send_router_solicit and not netif.is_loopback:
            netif.rs_left = MAX_RTR_SOLICITATIONS
            netif.rs_at = self.stack.now + self.stack.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, pkt: "InPacket6", message: memoryview) -> None:
        stats = self.stack.stats.nd6
        stats.recv += 1
        if pkt.hdr.hop_limit != 255:
            stats.proterr += 1  # RFC 4861 6.1, 7.1: not from this link
            stats.drop += 1
            return
        try:
            msg = parse_nd(message)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        if isinstance(msg, NeighborSolicit):
            self._ns_input(pkt, msg)
        elif isinstance(msg, NeighborAdvert):
            self._na_input(pkt, msg)
        elif isinstance(msg, RouterAdvert):
            self._ra_input(pkt, msg)
        elif isinstance(msg, Redirect):
            self._redirect_input(pkt, msg)
        elif self.stack.events.has_subscribers(RouterSolicitReceived):
            self.stack.events.emit(RouterSolicitReceived(pkt, msg))  # for a router advertisement app
        else:
            stats.drop += 1  # router solicitations are for routers

    def _ns_input(self, pkt: "InPacket6", ns: NeighborSolicit) -> None:
        netif, stats = pkt.netif, self.stack.stats.nd6
        slla = lladdr(ns.options, SourceLinkAddr)
        dad = is_unspecified6(pkt.src)
        if is_multicast6(ns.target) or (dad and (slla is not None or pkt.dst != solicited_node(ns.target))):
            stats.proterr += 1  # RFC 4861 7.1.1
            stats.drop += 1
            return
        a = netif.ip6_addr_of(ns.target)
        if a is None or a.state == DUPLICATED:
            stats.drop += 1
            return
        if a.state == TENTATIVE:
            if dad:
                self._duplicate(netif, a)  # another node tries the same address (RFC 4862 5.4.3)
            return
        if dad:
            dst, solicited = ALL_NODES, False
        else:
            dst, solicited = pkt.src, True
            if slla is not None:
                self.learn(netif, pkt.src, slla)
        # a point-to-point link has no link-layer address to tell (RFC 4861 4.4: "on link layers that have addresses")
        tlla: list[Option] = [TargetLinkAddr(netif.hwaddr)] if netif.hwaddr else []
        na = NeighborAdvert(ns.target, self.stack.config.ip6_forward, solicited, True, tlla)
        self.send(netif, na, ns.target, dst)

    def _na_input(self, pkt: "InPacket6", na: NeighborAdvert) -> None:
        netif, stats = pkt.netif, self.stack.stats.nd6
        if is_multicast6(na.target) or (is_multicast6(pkt.dst) and na.solicited):
            stats.proterr += 1  # RFC 4861 7.1.2
            stats.drop += 1
            return
        a = netif.ip6_addr_of(na.target)
        if a is not None:
            if a.state == TENTATIVE:
                self._duplicate(netif, a)  # RFC 4862 5.4.4
            else:
                stats.err += 1  # somebody else claims one of our addresses
            return
        n = self.neighbors.get((netif.index, na.target))
        if n is None:
            return  # RFC 4861 7.2.5: no entry, no new one
        tlla = lladdr(na.options, TargetLinkAddr)
        if n.state == INCOMPLETE:
            if tlla is None:
                return
            n.mac = tlla
            if na.solicited:
                self._reachable(n)
            else:
                n.state, n.at = STALE, None
            n.is_router = na.router
            self._flush(n)
            return
        changed = tlla is not None and tlla != n.mac
        if not na.override and changed:
            if n.state == REACHABLE:
                n.state, n.at = STALE, None
            return
        if tlla is not None:
            n.mac = tlla
        if na.solicited:
            self._reachable(n)
        elif changed:
            n.state, n.at = STALE, None
        if n.is_router and not na.router:
            self.routers = [r for r in self.routers if not (r.netif is netif and r.addr == n.addr)]
            self.stack.routes.changed()
        n.is_router = na.router

    def _ra_input(self, pkt: "InPacket6", ra: RouterAdvert) -> None:
        stack, netif, now = self.stack, pkt.netif, self.stack.now
        if not is_link_local6(pkt.src):
            stack.stats.nd6.proterr += 1  # RFC 4861 6.1.2
            stack.stats.nd6.drop += 1
            return
        netif.rs_left, netif.rs_at = 0, None
        if ra.cur_hop_limit:
            netif.hop_limit6 = ra.cur_hop_limit
        if ra.reachable_time:
            netif.reachable_time = ra.reachable_time / 1000.0
        if ra.retrans_timer:
            netif.retrans_timer = ra.retrans_timer / 1000.0
        netif.ra_managed, netif.ra_other = ra.managed, ra.other
        router = next((r for r in self.routers if r.netif is netif and r.addr == pkt.src), None)
        if ra.router_lifetime:
            if router is not None:
                router.until = now + ra.router_lifetime
            elif len(self.routers) < stack.config.nd6_num_routers:
                self.routers.append(Router(netif, pkt.src, now + ra.router_lifetime))
        elif router is not None:
            self.routers.remove(router)
            self._router_gone(router)
        for opt in ra.options:
            if isinstance(opt, SourceLinkAddr) and len(opt.mac) >= 6:
                n = self.learn(netif, pkt.src, opt.mac[:6])
                if n is not None:
                    n.is_router = True
            elif isinstance(opt, MtuOption):
                if 1280 <= opt.mtu <= netif.mtu:
                    netif.mtu6 = opt.mtu
            elif isinstance(opt, PrefixInfo):
                self._prefix_input(netif, opt)
            elif isinstance(opt, RouteInfo):
                self._route_input(netif, pkt.src, opt)
            elif isinstance(opt, Rdnss):
                self._rdnss_input(opt)
        stack.routes.changed()
        stack.events.emit(RouterAdvertReceived(netif, pkt.src, ra.managed, ra.other, ra.router_lifetime))

    def _router_gone(self, router: Router) -> None:
        """A default router expired or said lifetime 0: its neighbour entry is a plain one again (IsRouter cleared),
        evictable as any other."""
        n = self.neighbors.get((router.netif.index, router.addr))
        if n is not None:
            n.is_router = False

    def _prefix_input(self, netif: "Netif", opt: PrefixInfo) -> None:
        """RFC 4861 6.3.4 (on-link) and RFC 4862 5.5.3 (autonomous)."""
        stack, now = self.stack, self.stack.now
        if is_link_local6(opt.prefix) or opt.preferred_lifetime > opt.valid_lifetime:
            return
        if opt.on_link:
            known = next((p for p in self.prefixes if p.netif is netif and not p.static and p.length == opt.prefix_len
                          and in_prefix(p.prefix, opt.prefix, opt.prefix_len)), None)
            if opt.valid_lifetime == 0:
                if known is not None:
                    self.prefixes.remove(known)
            elif known is not None:
                known.until = _until(now, opt.valid_lifetime)
            elif len(self.prefixes) < stack.config.nd6_num_prefixes:
                self.prefixes.append(Prefix(netif, opt.prefix, opt.prefix_len, _until(now, opt.valid_lifetime)))
        if not (opt.autonomous and stack.config.ipv6_autoconfig) or opt.prefix_len != 64 or not opt.valid_lifetime:
            return
        addr = opt.prefix[:8] + netif.ip6_iid
        a = netif.ip6_addr_of(addr)
        if a is None:
            try:
                netif.add_ip6_address(addr, 64, origin=ORIGIN_SLAAC, valid=opt.valid_lifetime,
                                      preferred=opt.preferred_lifetime)
            except LwipError:
                stack.stats.nd6.memerr += 1  # no free address slot (ipv6_num_addresses)
            return
        if a.origin != ORIGIN_SLAAC:
            return
        remaining = None if a.valid_until is None else a.valid_until - now
        if opt.valid_lifetime == INFINITE or opt.valid_lifetime > TWO_HOURS or \
                (remaining is not None and opt.valid_lifetime > remaining):
            a.valid_until = _until(now, opt.valid_lifetime)
        elif remaining is None or remaining > TWO_HOURS:
            a.valid_until = now + TWO_HOURS  # RFC 4862 5.5.3 e): a forged short lifetime cannot kill the address
        a.preferred_until = _until(now, opt.preferred_lifetime)
        if a.state == DEPRECATED and opt.preferred_lifetime:
            netif.ip6_addr_set_state(a, PREFERRED)

    def _route_input(self, netif: "Netif", router: bytes, opt: RouteInfo) -> None:
        """RFC 4191 3.1: a more specific route through the advertising router."""
        now = self.stack.now
        known = next((r for r in self.routes if r.netif is netif and not r.static and r.router == router
                      and r.length == opt.prefix_len
                      and in_prefix(r.prefix, opt.prefix, opt.prefix_len)), None)
        if opt.route_lifetime == 0:
            if known is not None:
                self.routes.remove(known)
        elif known is not None:
            known.until = _until(now, opt.route_lifetime)
        elif len(self.routes) < self.stack.config.nd6_num_destinations:
            self.routes.append(Route6(netif, opt.prefix, opt.prefix_len, router, _until(now, opt.route_lifetime)))

    def _rdnss_input(self, opt: Rdnss) -> None:
        """RFC 8106 5.3.1: learn (or with lifetime 0, forget) recursive DNS servers, at most the configured number."""
        limit = self.stack.config.ipv6_rdnss_max_dns_servers
        for server in opt.servers:
            self.dns_servers = [(s, t) for s, t in self.dns_servers if s != server]
            if opt.lifetime and len(self.dns_servers) < limit:
                self.dns_servers.append((server, _until(self.stack.now, opt.lifetime)))

    def _redirect_input(self, pkt: "InPacket6", rd: Redirect) -> None:
        """RFC 4861 8.1 checks, then the new next hop for the destination (8.3)."""
        netif = pkt.netif
        try:  # the current first hop: the destination itself when it is on-link, which no router may redirect
            current: tuple[Netif, bytes] | None = self.stack.ip6.route(rd.destination, netif)
        except LwipError:
            current = None
        if not is_link_local6(pkt.src) or is_multicast6(rd.destination) or current is None or current[1] != pkt.src \
                or not (is_link_local6(rd.target) or rd.target == rd.destination):
            self.stack.stats.nd6.proterr += 1
            self.stack.stats.nd6.drop += 1
            return
        if len(self.redirects) >= self.stack.config.nd6_num_destinations:
            self.redirects.pop(next(iter(self.redirects)))
        self.redirects[rd.destination] = (netif, rd.target)
        tlla = lladdr(rd.options, TargetLinkAddr)
        if tlla is not None:
            self.learn(netif, rd.target, tlla)
        self.stack.routes.changed()

    # -- static routes -----------------------------------------------------------------------------------------------
    def add_route(self, prefix: str, netif: "Netif", via: str | None = None) -> Route6 | Prefix:
        """A static route of one's own (hosts learn theirs from advertisements): ``prefix`` (``"2001:db8:3::/64"``,
        ``"::/0"`` for a default route) through the router ``via`` (usually its link-local address) on ``netif``,
        or on-link there when ``via`` is None.  It never expires; :meth:`remove_route` takes it back."""
        net = IPv6Network(prefix)
        self.stack.routes.changed()
        if via is None:
            on_link = Prefix(netif, net.network_address.packed, net.prefixlen, None, True)
            self.prefixes.append(on_link)
            return on_link
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
            self.prefixes.remove(entry)
        self.stack.routes.changed()

    # -- routing help --------------------------------------------------------------------------------------------------
    def on_link(self, netif: "Netif", dst: bytes) -> bool:
        """Whether ``dst`` is on ``netif``'s link: link-local, a prefix from an advertisement or :meth:`add_route`,
        the prefix of an address set by hand (tentative too, as Linux's prefix route), or a redirect's target being
        the destination itself."""
        if is_link_local6(dst):
            return True
        redirect = self.redirects.get(dst)
        if redirect is not None and redirect[0] is netif and redirect[1] == dst:
            return True
        if any(p.netif is netif and in_prefix(dst, p.prefix, p.length) for p in self.prefixes):
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
        usable = [r for r in self.routers if (netif is None or r.netif is netif) and r.netif.is_usable]
        for router in usable:
            n = self.neighbors.get((router.netif.index, router.addr))
            if n is None or n.state != INCOMPLETE:
                return router.netif, router.addr
        return (usable[0].netif, usable[0].addr) if usable else None

    def path_mtu(self, dst: bytes, mtu: int) -> None:
        """A packet too big message: remember the smaller MTU towards ``dst`` (never below 1280, RFC 8201 4)."""
        if len(self.path_mtus) >= self.stack.config.nd6_num_destinations and dst not in self.path_mtus:
            self.path_mtus.pop(next(iter(self.path_mtus)))
        pmtu = self.path_mtus[dst] = max(1280, min(mtu, self.path_mtus.get(dst, 0xFFFFFFFF)))
        for pcb in self.stack.tcp.conns.values():  # RFC 8201 5.2: TCP sends smaller segments from now on
            if pcb.v6 and pcb._remote_packed == dst and pcb.snd_mss > pmtu - 60:
                pcb.snd_mss = pmtu - 60

    def lookup(self, addr: bytes, netif: "Netif") -> Neighbor | None:
        return self.neighbors.get((netif.index, addr))

    def netif_removed(self, netif: "Netif") -> None:
        for n in [n for n in self.neighbors.values() if n.netif is netif]:
            self._drop(n)
        self.routers = [r for r in self.routers if r.netif is not netif]
        self.prefixes = [p for p in self.prefixes if p.netif is not netif]
        self.routes = [r for r in self.routes if r.netif is not netif]
        self.redirects = {d: v for d, v in self.redirects.items() if v[0] is not netif}

    # -- time ----------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        stack = self.stack
        cfg = stack.config
        for netif in stack.netifs:
            if not netif.is_usable:
                continue
            if netif.rs_at is not None and netif.rs_at <= now:
                self.router_solicit(netif)
                netif.rs_left -= 1
                netif.rs_at = now + RTR_SOLICITATION_INTERVAL if netif.rs_left > 0 else None
            for a in list(netif.ip6_addrs):
                if a.dad_at is not None and a.dad_at <= now and a.state == TENTATIVE:
                    if a.dad_left > 0:
                        self._dad_probe(netif, a)
                        a.dad_left -= 1
                        a.dad_at = now + netif.retrans_timer
                    else:
                        a.dad_at = None
                        netif.ip6_addr_set_state(a, PREFERRED)  # no answer: the address is ours
                if a.valid_until is not None and a.valid_until <= now:
                    netif.remove_ip6_address(a.addr)
                elif a.preferred_until is not None and a.preferred_until <= now and a.state == PREFERRED:
                    netif.ip6_addr_set_state(a, DEPRECATED)
        for n in list(self.neighbors.values()):
            if n.at is None or n.at > now:
                continue
            if n.state == INCOMPLETE:
                if n.probes >= cfg.nd6_max_multicast_solicit:
                    self._drop(n)  # address resolution failed
                else:
                    self._solicit(n, multicast=True)
                    n.probes, n.at = n.probes + 1, now + n.netif.retrans_timer
            elif n.state == REACHABLE:
                n.state, n.at = STALE, None
            elif n.state == DELAY:
                n.state, n.probes = PROBE, 1
                self._solicit(n, multicast=False)
                n.at = now + n.netif.retrans_timer
            elif n.state == PROBE:
                if n.probes >= cfg.nd6_max_unicast_solicit:
                    self._drop(n)
                else:
                    self._solicit(n, multicast=False)
                    n.probes, n.at = n.probes + 1, now + n.netif.retrans_timer
        routers = [r for r in self.routers if r.until > now]
        for gone in self.routers:
            if gone.until <= now:
                self._router_gone(gone)
        prefixes = [p for p in self.prefixes if p.until is None or p.until > now]
        routes = [r for r in self.routes if r.until is None or r.until > now]
        if (len(routers), len(prefixes), len(routes)) != (len(self.routers), len(self.prefixes), len(self.routes)):
            self.routers, self.prefixes, self.routes = routers, prefixes, routes
            stack.routes.changed()
        self.dns_servers = [(s, t) for s, t in self.dns_servers if t is None or t > now]

    def poll_at(self) -> float | None:
        times: list[float] = []
        for netif in self.stack.netifs:
            if not netif.is_usable:
                continue
            if netif.rs_at is not None:
                times.append(netif.rs_at)
            for a in netif.ip6_addrs:
                times.extend(t for t in (a.dad_at, a.valid_until,
                                         a.preferred_until if a.state == PREFERRED else None) if t is not None)
        times.extend(n.at for n in self.neighbors.values() if n.at is not None)
        times.extend(r.until for r in self.routers)
        times.extend(p.until for p in self.prefixes if p.until is not None)
        times.extend(r.until for r in self.routes if r.until is not None)
        times.extend(t for _, t in self.dns_servers if t is not None)
        return min(times) if times else None
