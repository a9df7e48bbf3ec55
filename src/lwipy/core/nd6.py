"""Neighbour discovery (RFC 4861) and duplicate address detection (RFC 4862 5.4), as lwIP's ``nd6.c``: the
neighbour cache, neighbour solicitations and advertisements, and the dispatch of every ND message.

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
another node doing the same, or an advertisement for it, marks it DUPLICATED; else it becomes PREFERRED.

**Messages.**  :meth:`Nd6.input` takes every ND message (ICMPv6 hands them over), drops those whose hop limit is not
255 (RFC 4861 6.1, 7.1: not from this link) or that do not parse, and dispatches: solicitations and advertisements
here; router advertisements to :mod:`.nd6_router` (router discovery, prefixes, SLAAC, RDNSS), redirects to
:mod:`.route6` (IPv6 routes, the destination cache, path MTU); router solicitations to whoever subscribes to
:class:`~lwipy.core.events.RouterSolicitReceived` (a router advertisement app).

**Time.**  One timer, as lwIP's ``nd6_tmr``: on each usable netif the router solicitation due, then each address's
DAD step and lifetimes; then the neighbour entries; then expired routers, prefixes and routes (one
``stack.routes.changed()``), then RDNSS servers.

``stack.nd6`` keeps the attributes it had before the split (``routers``, ``prefixes``, ``dns_servers``,
``routes``, ``redirects``, ``path_mtus``, ``add_route``, ``on_link``...) as views of those modules' state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.ethernet import ETHERTYPE_IPV6
from ..wire.ndp import (Option, NeighborAdvert, NeighborSolicit, Redirect, RouterAdvert, SourceLinkAddr,
                        TargetLinkAddr, parse_nd)
from .addr6 import (ALL_NODES, DUPLICATED, PREFERRED, TENTATIVE, UNSPECIFIED, Ip6Addr, is_multicast6,
                    is_unspecified6, solicited_node)
from .events import Ip6AddressRemoved, RouterSolicitReceived
from .neighbor_entry import RefreshAt
from .nd6_router import (INFINITE, MAX_RTR_SOLICITATION_DELAY, MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL,
                         Prefix, Router, RouterDiscovery, lladdr)
from .pbuf import Pbuf
from .route6 import Route6

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Nd6", "Neighbor", "Router", "Prefix", "Route6", "lladdr", "INCOMPLETE", "REACHABLE", "STALE", "DELAY",
           "PROBE", "INFINITE", "MAX_RTR_SOLICITATIONS", "RTR_SOLICITATION_INTERVAL", "MAX_RTR_SOLICITATION_DELAY"]

INCOMPLETE, REACHABLE, STALE, DELAY, PROBE = "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE"
_NEVER = float("inf")
_NOW = float("-inf")
_SENDS_AS_IS = frozenset((REACHABLE, DELAY, PROBE))  # states whose packets go to the MAC with no state change


@dataclass(slots=True, eq=False)
class Neighbor(RefreshAt):
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
    #: s21: from when the next packet must go through :meth:`Nd6.output` again (the name and meaning of
    #: ``ArpEntry.refresh_at``, so that TCP's kept way out tests either in one comparison): ``at`` while the entry
    #: is REACHABLE, DELAY or PROBE with a MAC (a packet then goes to the MAC and changes nothing but ``touched``,
    #: until :meth:`Nd6.poll` moves the entry on at ``at``); at once in any other state (INCOMPLETE queues, STALE
    #: turns DELAY).  Worked out whenever ``state``, ``at`` or ``mac`` is written; a write of ``mac`` also moves
    #: ``Stack.way_generation`` on
    refresh_at: float = field(default=_NOW, init=False, repr=False)
    _REFRESH_FROM = frozenset(("state", "at", "mac"))  # (not a field: RefreshAt's)

    def _refresh_due(self) -> float:
        at = self.at
        return (_NEVER if at is None else at) if self.state in _SENDS_AS_IS and self.mac is not None else _NOW


class Nd6:
    """Neighbour discovery for one stack (``stack.nd6``); see the module's documentation."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.neighbors: dict[tuple[int, bytes], Neighbor] = {}
        # (what ready compares the stack's and a netif's outputs with: bound once)
        self._eth_output = stack.ethernet.output
        self._eth_output_ip6 = stack.ethernet.output_ip6
        #: router discovery: default routers, prefixes, SLAAC, RDNSS (:mod:`.nd6_router`)
        self.rdisc = RouterDiscovery(stack)

    # -- the state of router discovery and IPv6 routes, where it was before the split --------------------------------
    @property
    def routers(self) -> list[Router]:
        """The default router list (``rdisc.routers``)."""
        return self.rdisc.routers

    @routers.setter
    def routers(self, value: list[Router]) -> None:
        self.rdisc.routers = value

    @property
    def prefixes(self) -> list[Prefix]:
        """The on-link prefix list (``rdisc.prefixes``)."""
        return self.rdisc.prefixes

    @prefixes.setter
    def prefixes(self, value: list[Prefix]) -> None:
        self.rdisc.prefixes = value

    @property
    def dns_servers(self) -> list[tuple[bytes, float | None]]:
        """DNS servers learned from RDNSS options: (address, until) (``rdisc.dns_servers``)."""
        return self.rdisc.dns_servers

    @dns_servers.setter
    def dns_servers(self, value: list[tuple[bytes, float | None]]) -> None:
        self.rdisc.dns_servers = value
        self.stack.timers_changed()  # their lifetimes

    @property
    def routes(self) -> list[Route6]:
        """RFC 4191 and static routes (``stack.route6.routes``)."""
        return self.stack.route6.routes

    @routes.setter
    def routes(self, value: list[Route6]) -> None:
        self.stack.route6.routes = value

    @property
    def redirects(self) -> dict[bytes, tuple["Netif", bytes]]:
        """The destination cache: destination -> (netif, better next hop) (``stack.route6.redirects``)."""
        return self.stack.route6.redirects

    @redirects.setter
    def redirects(self, value: dict[bytes, tuple["Netif", bytes]]) -> None:
        self.stack.route6.redirects = value

    @property
    def path_mtus(self) -> dict[bytes, int]:
        """Destination -> path MTU (``stack.route6.path_mtus``)."""
        return self.stack.route6.path_mtus

    def router_solicit(self, netif: "Netif") -> None:
        """Send a router solicitation out of ``netif`` now (:meth:`RouterDiscovery.router_solicit`)."""
        self.rdisc.router_solicit(netif)

    def netif_up(self, netif: "Netif") -> None:
        """The netif came up: solicit routers (:meth:`RouterDiscovery.netif_up`)."""
        self.rdisc.netif_up(netif)

    def add_route(self, prefix: str, netif: "Netif", via: str | None = None) -> Route6 | Prefix:
        """A static route (:meth:`Route6Table.add_route <lwipy.core.route6.Route6Table.add_route>`)."""
        return self.stack.route6.add_route(prefix, netif, via)

    def remove_route(self, entry: Route6 | Prefix) -> None:
        """Take back a route :meth:`add_route` gave."""
        self.stack.route6.remove_route(entry)

    def on_link(self, netif: "Netif", dst: bytes) -> bool:
        """Whether ``dst`` is on ``netif``'s link (:meth:`Route6Table.on_link
        <lwipy.core.route6.Route6Table.on_link>`)."""
        return self.stack.route6.on_link(netif, dst)

    def router_for(self, dst: bytes, netif: "Netif | None" = None) -> tuple["Netif", bytes] | None:
        """The next hop off-link (:meth:`Route6Table.router_for <lwipy.core.route6.Route6Table.router_for>`)."""
        return self.stack.route6.router_for(dst, netif)

    def path_mtu(self, dst: bytes, mtu: int) -> None:
        """A packet too big message (:meth:`Route6Table.path_mtu <lwipy.core.route6.Route6Table.path_mtu>`)."""
        self.stack.route6.path_mtu(dst, mtu)

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
        self.stack.timer_armed(a.dad_at)

    def _duplicate(self, netif: "Netif", a: Ip6Addr) -> None:
        a.dad_at, a.dad_left = None, 0
        self.stack._stats.nd6.err += 1
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
                stack._stats.nd6.memerr += 1
                stack._stats.ip6.drop += 1
                return False
            self._solicit(n, multicast=True)
            n.probes, n.at = 1, stack.now + netif.retrans_timer
            stack.timer_armed(n.at)
        n.touched = stack.now
        if n.state == INCOMPLETE:
            limit = stack.config.nd6_max_queued
            if not limit:
                stack._stats.ip6.drop += 1
                return False
            if len(n.queue) >= limit:
                n.queue.popleft()
                stack._stats.nd6.memerr += 1
            n.queue.append(pbuf)
            return True
        if n.state == STALE:
            n.state, n.at = DELAY, stack.now + stack.config.nd6_delay_first_probe_time / 1000.0
            stack.timer_armed(n.at)
        assert n.mac is not None
        return stack._link_output(netif, pbuf, n.mac, ETHERTYPE_IPV6)  # (way14: the property's field)

    def ready(self, netif: "Netif", next_hop: bytes) -> Neighbor | None:
        """s21: the entry of ``next_hop`` on ``netif`` when a short way (TCP's template ways out, the ICMPv6 echo's
        fast answer) may write a frame to its MAC itself, with what ``ip6.netif_output``, :meth:`output` and
        Ethernet's output would do for it (``touched`` set by the caller): the netif up with its link, untagged,
        Ethernet and not loopback, the stack's Ethernet output and the netif's IPv6 output not replaced, the next hop
        neither multicast nor ours, and the entry one a packet goes to as it is (:attr:`Neighbor.refresh_at`:
        REACHABLE, DELAY or PROBE with a MAC).  None when the full way must send (a neighbour to resolve, a STALE
        one that a packet moves to DELAY, a loop back, another output's work)."""
        stack = self.stack
        if not (netif.up and netif.link_up) or netif.vlan_id is not None or netif.is_loopback \
                or not netif.is_ethernet or stack._link_output != self._eth_output \
                or netif.output_ip6 != self._eth_output_ip6 or next_hop[0] == 0xFF or next_hop in stack._own6:
            return None
        n = self.neighbors.get((netif.index, next_hop))
        if n is None or stack.now >= n.refresh_at:
            return None
        return n

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
        if self.rdisc.is_default_router(n.netif, n.addr):
            return 2, n.touched
        return (1 if n.state == INCOMPLETE else 0), n.touched

    def _drop(self, n: Neighbor) -> None:
        self.neighbors.pop((n.netif.index, n.addr), None)
        self.stack._way_moved()  # s21: a kept way out may hold the entry
        if n.queue:
            self.stack._stats.ip6.drop += len(n.queue)
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
        self.stack.timer_armed(n.at)

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
            stack._stats.nd6.err += 1
            return
        stack._stats.nd6.xmit += 1

    def _solicit(self, n: Neighbor, multicast: bool) -> None:
        netif = n.netif
        src = self.stack.ip6.select_source(netif, n.addr)
        if src is None:
            return
        dst = solicited_node(n.addr) if multicast or n.mac is None else n.addr
        self.send(netif, NeighborSolicit(n.addr, [SourceLinkAddr(netif.hwaddr)] if netif.hwaddr else []), src, dst)

    def _dad_probe(self, netif: "Netif", a: Ip6Addr) -> None:
        self.send(netif, NeighborSolicit(a.addr, []), UNSPECIFIED, solicited_node(a.addr))

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, pkt: "InPacket6", message: memoryview) -> None:
        stats = self.stack._stats.nd6
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
            self.rdisc.ra_input(pkt, msg)
        elif isinstance(msg, Redirect):
            self.stack.route6.redirect_input(pkt, msg)
        elif self.stack.events.has_subscribers(RouterSolicitReceived):
            self.stack.events.emit(RouterSolicitReceived(pkt, msg))  # for a router advertisement app
        else:
            stats.drop += 1  # router solicitations are for routers

    def _ns_input(self, pkt: "InPacket6", ns: NeighborSolicit) -> None:
        netif, stats = pkt.netif, self.stack._stats.nd6
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
        cfg = self.stack.config  # the router flag: a forwarding stack, or ESP-IDF's CONFIG_LWIP_FORCE_ROUTER_FORWARDING
        na = NeighborAdvert(ns.target, cfg.ip6_forward or cfg.force_router_forwarding, solicited, True, tlla)
        self.send(netif, na, ns.target, dst)

    def _na_input(self, pkt: "InPacket6", na: NeighborAdvert) -> None:
        netif, stats = pkt.netif, self.stack._stats.nd6
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
            self.rdisc.router_turned_host(netif, n.addr)
        n.is_router = na.router

    def lookup(self, addr: bytes, netif: "Netif") -> Neighbor | None:
        return self.neighbors.get((netif.index, addr))

    def netif_removed(self, netif: "Netif") -> None:
        for n in [n for n in self.neighbors.values() if n.netif is netif]:
            self._drop(n)
        self.rdisc.netif_removed(netif)
        self.stack.route6.netif_removed(netif)

    # -- time ----------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """``nd6_tmr``: everything of neighbour discovery, router discovery and IPv6 routes due at ``now``."""
        stack, rdisc = self.stack, self.rdisc
        cfg = stack.config
        for netif in stack.netifs:
            if not netif.is_usable:
                continue
            rdisc.solicit_due(netif, now)
            for a in list(netif.ip6_addrs):
                if a.dad_at is not None and a.dad_at <= now and a.state == TENTATIVE:
                    if a.dad_left > 0:
                        self._dad_probe(netif, a)
                        a.dad_left -= 1
                        a.dad_at = now + netif.retrans_timer
                    else:
                        a.dad_at = None
                        netif.ip6_addr_set_state(a, PREFERRED)  # no answer: the address is ours
                rdisc.lifetimes_due(netif, a, now)
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
        if rdisc.expire(now) | stack.route6.poll(now):  # both expire theirs; one change to tell
            stack.routes.changed()
        rdisc.expire_dns(now)

    def poll_at(self) -> float | None:
        """When :meth:`poll` next has work (router discovery's and the routes' deadlines included)."""
        due = self.rdisc.poll_at()
        for netif in self.stack.netifs:
            if netif.up and netif.link_up:  # is_usable, without the property call (asked every wake-up)
                for a in netif.ip6_addrs:
                    t = a.dad_at
                    if t is not None and (due is None or t < due):
                        due = t
        for n in self.neighbors.values():
            t = n.at
            if t is not None and (due is None or t < due):
                due = t
        t = self.stack.route6.poll_at()
        if t is not None and (due is None or t < due):
            due = t
        return due
