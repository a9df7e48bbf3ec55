"""Router discovery (RFC 4861 6.3), prefixes, SLAAC lifetimes (RFC 4862 5.5), RFC 4191 route information and RDNSS
(RFC 8106): what a host learns from router advertisements, lwIP's ``nd6.c`` default router and prefix lists.

Theory of operation
-------------------
**Soliciting.**  A netif that comes up (``ipv6_send_router_solicit``, not loopback, not itself advertising) sends up
to ``MAX_RTR_SOLICITATIONS`` router solicitations, the first after a random delay of up to a second, then
``RTR_SOLICITATION_INTERVAL`` apart, until an advertisement arrives; from its preferred link-local address with its
link-layer address, or from the unspecified address without one (RFC 4861 6.3.7).

**Advertisements** (:meth:`RouterDiscovery.ra_input`, from a link-local source; :class:`~lwipy.core.nd6.Nd6`
checked hop limit 255) set the netif's hop limit, ReachableTime, RetransTimer, M and O flags and (when between 1280
and the link MTU) IPv6 MTU; a non-zero router lifetime puts the router in the default router list (at most
``nd6_num_routers``), zero takes it out.  Their options: the source link-layer address (the router's neighbour
entry, IsRouter set), prefix information (the on-link prefix list, ``nd6_num_prefixes``, RFC 4861 6.3.4; and with
the A flag, ``ipv6_autoconfig`` and a /64, an address from the prefix and the netif's interface identifier, RFC 4862
5.5.3, whose lifetimes later ones update under the two-hour rule of 5.5.3 e)), route information (handed to
:class:`~lwipy.core.route6.Route6Table`, RFC 4191) and RDNSS (up to ``ipv6_rdnss_max_dns_servers`` servers, RFC
8106 5.3.1).  Then ``stack.routes`` is told and :class:`~lwipy.core.events.RouterAdvertReceived` emitted (a DHCPv6
client reads the M and O flags from it).

**Time.**  Default routers, prefixes and DNS servers expire at the end of their lifetimes, an address turns
DEPRECATED at the end of its preferred lifetime and goes at the end of its valid one (RFC 4862 5.5.4).  A router that
expires, or says lifetime 0, or whose neighbour advertisement clears the R flag, leaves the list and its neighbour
entry's IsRouter is cleared.  :class:`~lwipy.core.nd6.Nd6` drives these steps from its timer, in lwIP's
``nd6_tmr`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LwipError
from ..wire.ndp import (MtuOption, Option, PrefixInfo, Rdnss, RouteInfo, RouterAdvert, RouterSolicit, SourceLinkAddr,
                        TargetLinkAddr)
from .addr6 import (ALL_ROUTERS, DEPRECATED, ORIGIN_SLAAC, PREFERRED, UNSPECIFIED, Ip6Addr, in_prefix,
                    is_link_local6)
from .events import RouterAdvertReceived

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["RouterDiscovery", "Router", "Prefix", "lladdr", "until", "INFINITE", "MAX_RTR_SOLICITATIONS",
           "RTR_SOLICITATION_INTERVAL", "MAX_RTR_SOLICITATION_DELAY"]

#: a lifetime of all ones: forever (RFC 4861 4.6.2, RFC 4191 2.3, RFC 8106 5.1)
INFINITE = 0xFFFFFFFF
MAX_RTR_SOLICITATIONS = 3
RTR_SOLICITATION_INTERVAL = 4.0
MAX_RTR_SOLICITATION_DELAY = 1.0
TWO_HOURS = 7200.0


@dataclass(slots=True, eq=False)
class Router:
    """A default router: its link-local address on ``netif``, until the end of its router lifetime."""

    netif: "Netif"
    addr: bytes
    until: float


@dataclass(slots=True, eq=False)
class Prefix:
    """An on-link prefix of ``netif`` (``until`` None: forever)."""

    netif: "Netif"
    prefix: bytes
    length: int
    until: float | None
    static: bool = False  # add_route's: advertisements do not change it


def lladdr(options: list[Option], kind: type[SourceLinkAddr] | type[TargetLinkAddr]) -> bytes | None:
    """The Ethernet address a link-layer address option of ``kind`` carries (its first 6 bytes), or None."""
    for o in options:
        if isinstance(o, (SourceLinkAddr, TargetLinkAddr)) and isinstance(o, kind) and len(o.mac) >= 6:
            return bytes(o.mac[:6])
    return None


def until(now: float, seconds: int) -> float | None:
    """The deadline of a lifetime of ``seconds`` from ``now`` (None: INFINITE, forever)."""
    return None if seconds == INFINITE else now + seconds


class RouterDiscovery:
    """Router discovery for one stack (``stack.nd6.rdisc``); see the module's documentation."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        #: the default router list
        self.routers: list[Router] = []
        #: the on-link prefix list (advertised, and add_route's on-link routes)
        self.prefixes: list[Prefix] = []
        #: DNS servers learned from RDNSS options: (address, until)
        self.dns_servers: list[tuple[bytes, float | None]] = []

    def is_default_router(self, netif: "Netif", addr: bytes) -> bool:
        return any(r.netif is netif and r.addr == addr for r in self.routers)

    # -- soliciting --------------------------------------------------------------------------------------------------
    def netif_up(self, netif: "Netif") -> None:
        """The netif came up: solicit routers (``ipv6_send_router_solicit``)."""
        if netif.ip6_advertising:
            return  # an advertising interface (RFC 4861 6.2.2): a router does not solicit routers
        if self.stack.config.ipv6_send_router_solicit and not netif.is_loopback:
            netif.rs_left = MAX_RTR_SOLICITATIONS
            netif.rs_at = self.stack.now + self.stack.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY)
            self.stack.timer_armed(netif.rs_at)

    def router_solicit(self, netif: "Netif") -> None:
        src = next((a.addr for a in netif.ip6_addrs if a.usable and is_link_local6(a.addr)), UNSPECIFIED)
        options: list[Option] = [] if src == UNSPECIFIED or not netif.hwaddr else [SourceLinkAddr(netif.hwaddr)]
        self.stack.nd6.send(netif, RouterSolicit(options), src, ALL_ROUTERS)

    def solicit_due(self, netif: "Netif", now: float) -> None:
        """Send the router solicitation due by ``now`` on ``netif``, if one is."""
        if netif.rs_at is not None and netif.rs_at <= now:
            self.router_solicit(netif)
            netif.rs_left -= 1
            netif.rs_at = now + RTR_SOLICITATION_INTERVAL if netif.rs_left > 0 else None

    # -- advertisements ----------------------------------------------------------------------------------------------
    def ra_input(self, pkt: "InPacket6", ra: RouterAdvert) -> None:
        stack, netif, now = self.stack, pkt.netif, self.stack.now
        if not is_link_local6(pkt.src):
            stack._stats.nd6.proterr += 1  # RFC 4861 6.1.2
            stack._stats.nd6.drop += 1
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
                stack.timer_armed(router.until)
            elif len(self.routers) < stack.config.nd6_num_routers:
                self.routers.append(Router(netif, pkt.src, now + ra.router_lifetime))
                stack.timer_armed(now + ra.router_lifetime)
        elif router is not None:
            self.routers.remove(router)
            self._router_gone(router)
        for opt in ra.options:
            if isinstance(opt, SourceLinkAddr) and len(opt.mac) >= 6:
                n = stack.nd6.learn(netif, pkt.src, opt.mac[:6])
                if n is not None:
                    n.is_router = True
            elif isinstance(opt, MtuOption):
                if 1280 <= opt.mtu <= netif.mtu:
                    netif.mtu6 = opt.mtu
            elif isinstance(opt, PrefixInfo):
                self._prefix_input(netif, opt)
            elif isinstance(opt, RouteInfo):
                stack.route6.route_info(netif, pkt.src, opt.prefix, opt.prefix_len, opt.route_lifetime)
            elif isinstance(opt, Rdnss):
                self._rdnss_input(opt)
        stack.routes.changed()
        stack.events.emit(RouterAdvertReceived(netif, pkt.src, ra.managed, ra.other, ra.router_lifetime))

    def router_turned_host(self, netif: "Netif", addr: bytes) -> None:
        """A neighbour advertisement from ``addr`` cleared the R flag (RFC 4861 7.2.5): no default router any more."""
        self.routers = [r for r in self.routers if not (r.netif is netif and r.addr == addr)]
        self.stack.routes.changed()

    def _router_gone(self, router: Router) -> None:
        """A default router expired or said lifetime 0: its neighbour entry is a plain one again (IsRouter cleared),
        evictable as any other."""
        n = self.stack.nd6.neighbors.get((router.netif.index, router.addr))
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
                known.until = until(now, opt.valid_lifetime)
                self.stack.timer_armed(known.until)
            elif len(self.prefixes) < stack.config.nd6_num_prefixes:
                self.prefixes.append(Prefix(netif, opt.prefix, opt.prefix_len, until(now, opt.valid_lifetime)))
                self.stack.timer_armed(self.prefixes[-1].until)
        if not (opt.autonomous and stack.config.ipv6_autoconfig) or opt.prefix_len != 64 or not opt.valid_lifetime:
            return
        addr = opt.prefix[:8] + netif.ip6_iid
        a = netif.ip6_addr_of(addr)
        if a is None:
            try:
                netif.add_ip6_address(addr, 64, origin=ORIGIN_SLAAC, valid=opt.valid_lifetime,
                                      preferred=opt.preferred_lifetime)
            except LwipError:
                stack._stats.nd6.memerr += 1  # no free address slot (ipv6_num_addresses)
            return
        if a.origin != ORIGIN_SLAAC:
            return
        remaining = None if a.valid_until is None else a.valid_until - now
        if opt.valid_lifetime == INFINITE or opt.valid_lifetime > TWO_HOURS or \
                (remaining is not None and opt.valid_lifetime > remaining):
            a.valid_until = until(now, opt.valid_lifetime)
        elif remaining is None or remaining > TWO_HOURS:
            a.valid_until = now + TWO_HOURS  # RFC 4862 5.5.3 e): a forged short lifetime cannot kill the address
        a.preferred_until = until(now, opt.preferred_lifetime)
        # the valid lifetime needs no report of its own: the preferred one, never longer (checked above), ends first
        self.stack.timer_armed(a.preferred_until)
        if a.state == DEPRECATED and opt.preferred_lifetime:
            netif.ip6_addr_set_state(a, PREFERRED)

    def _rdnss_input(self, opt: Rdnss) -> None:
        """RFC 8106 5.3.1: learn (or with lifetime 0, forget) recursive DNS servers, at most the configured number."""
        limit = self.stack.config.ipv6_rdnss_max_dns_servers
        for server in opt.servers:
            self.dns_servers = [(s, t) for s, t in self.dns_servers if s != server]
            if opt.lifetime and len(self.dns_servers) < limit:
                self.dns_servers.append((server, until(self.stack.now, opt.lifetime)))
                self.stack.timer_armed(self.dns_servers[-1][1])

    # -- routes by hand ----------------------------------------------------------------------------------------------
    def add_static_prefix(self, netif: "Netif", prefix: bytes, length: int) -> Prefix:
        """An on-link prefix that never expires (``Route6Table.add_route`` without a router)."""
        on_link = Prefix(netif, prefix, length, None, True)
        self.prefixes.append(on_link)
        return on_link

    # -- netifs and time ---------------------------------------------------------------------------------------------
    def netif_removed(self, netif: "Netif") -> None:
        self.routers = [r for r in self.routers if r.netif is not netif]
        self.prefixes = [p for p in self.prefixes if p.netif is not netif]

    @staticmethod
    def lifetimes_due(netif: "Netif", a: Ip6Addr, now: float) -> None:
        """RFC 4862 5.5.4: the address goes at the end of its valid lifetime, is DEPRECATED at the end of its
        preferred one."""
        if a.valid_until is not None and a.valid_until <= now:
            netif.remove_ip6_address(a.addr)
        elif a.preferred_until is not None and a.preferred_until <= now and a.state == PREFERRED:
            netif.ip6_addr_set_state(a, DEPRECATED)

    def expire(self, now: float) -> bool:
        """Drop the routers and prefixes whose lifetime ended; True when some went (the caller tells
        ``stack.routes``)."""
        routers = [r for r in self.routers if r.until > now]
        for gone in self.routers:
            if gone.until <= now:
                self._router_gone(gone)
        prefixes = [p for p in self.prefixes if p.until is None or p.until > now]
        if (len(routers), len(prefixes)) == (len(self.routers), len(self.prefixes)):
            return False
        self.routers, self.prefixes = routers, prefixes
        return True

    def expire_dns(self, now: float) -> None:
        self.dns_servers = [(s, t) for s, t in self.dns_servers if t is None or t > now]

    def poll_at(self) -> float | None:
        due = None  # min() over the deadlines, without building their list (asked every wake-up)
        for netif in self.stack.netifs:
            if not (netif.up and netif.link_up):  # is_usable
                continue
            t = netif.rs_at
            if t is not None and (due is None or t < due):
                due = t
            for a in netif.ip6_addrs:
                t = a.valid_until
                if t is not None and (due is None or t < due):
                    due = t
                t = a.preferred_until
                if t is not None and a.state == PREFERRED and (due is None or t < due):
                    due = t
        for r in self.routers:
            t = r.until
            if due is None or t < due:
                due = t
        for p in self.prefixes:
            t = p.until
            if t is not None and (due is None or t < due):
                due = t
        for _, t in self.dns_servers:
            if t is not None and (due is None or t < due):
                due = t
        return due
