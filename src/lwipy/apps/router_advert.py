"""Router advertisements (RFC 4861 6.2): what a router sends so that the hosts on its links find it, their prefixes
and their DNS servers.

lwIP is a host and has nothing of the kind; lwipy adds it so that a stack can be the IPv6 router of a simulated
network (its hosts, lwipy or ESP32 alike, form SLAAC addresses from it) or of a real link (the Linux kernel's
hosts).  ``RouterAdvertiser(stack).advertise(netif, AdvertConfig(...))`` makes ``netif`` an advertising interface:

- it joins all-routers (ff02::2, RFC 4861 6.2.2) and stops soliciting routers itself;
- the first advertisement goes out within MAX_RA_DELAY_TIME (0.5 s), once the netif's link-local address has
  passed duplicate address detection (6.2.8: advertisements come from it); the following ones every
  MinRtrAdvInterval..MaxRtrAdvInterval, uniformly at random, the first MAX_INITIAL_RTR_ADVERTISEMENTS (3) at most
  MAX_INITIAL_RTR_ADVERT_INTERVAL (16 s) apart (6.2.4), all to all-nodes;
- a router solicitation is answered by a multicast advertisement after a random delay of up to MAX_RA_DELAY_TIME,
  never sooner than MIN_DELAY_BETWEEN_RAS (3 s) after the last one, and never later than the one already due
  (6.2.6); the solicitation's source link-layer address goes into the neighbour cache, the entry marked as no router;
- :meth:`RouterAdvertiser.stop` sends a final advertisement with a router lifetime of 0 (6.2.5: "one or more (but
  not more than MAX_FINAL_RTR_ADVERTISEMENTS)"), so the hosts drop the stack as a default router at once.

An advertisement carries the current hop limit, the M and O flags, the router lifetime and preference (RFC 4191),
the reachable time and retransmission timer, the source link-layer address, an MTU option when asked, a prefix
information option per prefix (by default the prefixes of the netif's static global addresses), route information
options (RFC 4191) and an RDNSS option (RFC 8106).  Advertising does not make the stack forward: a router that
routes sets ``ip6_forward`` too, which also sets the R flag of its neighbour advertisements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING

from ..core.addr6 import ALL_NODES, ALL_ROUTERS, ORIGIN_STATIC, TENTATIVE, is_link_local6, is_unspecified6
from ..core.events import RouterSolicitReceived
from ..core.nd6 import lladdr
from ..wire.ipv6 import HEADER_LEN
from ..wire.ndp import (PRF_LOW, PRF_MEDIUM, PRF_HIGH, MtuOption, Option, PrefixInfo, Rdnss, RouteInfo, RouterAdvert,
                        RouterSolicit, SourceLinkAddr)

if TYPE_CHECKING:
    from ..core.ip6 import InPacket6
    from ..core.netif import Netif
    from ..core.stack import Stack

__all__ = ["RouterAdvertiser", "AdvertConfig", "AdvertPrefix", "AdvertRoute", "Advertising"]

# RFC 4861 10, router constants
MAX_INITIAL_RTR_ADVERT_INTERVAL = 16.0
MAX_INITIAL_RTR_ADVERTISEMENTS = 3
MIN_DELAY_BETWEEN_RAS = 3.0
MAX_RA_DELAY_TIME = 0.5
_PREFERENCES = (PRF_LOW, PRF_MEDIUM, PRF_HIGH)


@dataclass(slots=True)
class AdvertPrefix:
    """A prefix information option (RFC 4861 4.6.2, 6.2.1): ``prefix`` as ``"2001:db8:1::/64"``; ``autonomous``
    lets hosts form addresses in it (SLAAC needs a /64 on Ethernet, RFC 4862 5.5.3 d); lifetimes in seconds
    (AdvValidLifetime 30 days, AdvPreferredLifetime 7 days; 0xFFFFFFFF is infinity)."""

    prefix: str
    on_link: bool = True
    autonomous: bool = True
    valid_lifetime: int = 2592000
    preferred_lifetime: int = 604800


@dataclass(slots=True)
class AdvertRoute:
    """A route information option (RFC 4191 2.3): ``prefix`` is reached through this router, with a preference
    (a ``PRF_*`` value of :mod:`lwipy.wire.ndp`) and a lifetime in seconds (None: the router lifetime)."""

    prefix: str
    lifetime: int | None = None
    preference: int = PRF_MEDIUM


@dataclass(slots=True)
class AdvertConfig:
    """What one interface advertises, with RFC 4861 6.2.1's names and defaults.

    ``max_interval`` is MaxRtrAdvInterval (4..1800 s, 600); ``min_interval`` MinRtrAdvInterval (3 s up to 0.75 of
    the maximum; None: a third of it, or 0.75 of it below 9 s); ``router_lifetime`` AdvDefaultLifetime (0: not a
    default router, else max_interval..9000 s; None: three times max_interval); ``prefixes`` None advertises the
    prefix of every static global address of the netif; ``rdnss`` the DNS servers (RFC 8106) for
    ``rdnss_lifetime`` seconds (None: three times max_interval, 5.1's advice); ``link_mtu`` 0 sends no MTU option.
    """

    max_interval: float = 600.0
    min_interval: float | None = None
    managed: bool = False
    other: bool = False
    cur_hop_limit: int = 64
    router_lifetime: int | None = None
    preference: int = PRF_MEDIUM
    reachable_time: int = 0
    retrans_timer: int = 0
    link_mtu: int = 0
    prefixes: list[AdvertPrefix] | None = None
    routes: list[AdvertRoute] = field(default_factory=list)
    rdnss: list[str] = field(default_factory=list)
    rdnss_lifetime: int | None = None
    source_lladdr: bool = True

    def intervals(self) -> tuple[float, float]:
        """(MinRtrAdvInterval, MaxRtrAdvInterval), checked."""
        high = self.max_interval
        if not 4 <= high <= 1800:
            raise ValueError(f"max_interval {high} s is outside RFC 4861's 4..1800 s")
        low = self.min_interval
        if low is None:
            low = high / 3 if high >= 9 else 0.75 * high
        if not 3 <= low <= 0.75 * high:
            raise ValueError(f"min_interval {low} s must be 3 s or more and at most 0.75 x max_interval ({high} s)")
        return low, high

    def lifetime(self) -> int:
        """AdvDefaultLifetime, checked."""
        life = 3 * int(self.max_interval) if self.router_lifetime is None else self.router_lifetime
        if life and not self.max_interval <= life <= 9000:
            raise ValueError(f"router_lifetime {life} s must be 0 or between max_interval ({self.max_interval} s) "
                             "and 9000 s (RFC 4861 6.2.1)")
        return life


@dataclass(slots=True, eq=False)
class Advertising:
    """One advertising interface: its configuration, the next advertisement due and what was sent."""

    netif: "Netif"
    config: AdvertConfig
    next_at: float | None
    initial_left: int = MAX_INITIAL_RTR_ADVERTISEMENTS
    last_multicast: float | None = None
    final: bool = False
    sent: int = 0
    solicitations: int = 0


class RouterAdvertiser:
    """The router advertisement app of one stack (``stack.apps["radv"]``): see the module's documentation.  It hears
    router solicitations by subscribing to :class:`~lwipy.core.events.RouterSolicitReceived`."""

    def __init__(self, stack: "Stack") -> None:
        if "radv" in stack.apps:
            raise ValueError(f"{stack.name} has a router advertiser already: use stack.apps['radv']")
        self.stack = stack
        self.interfaces: dict[int, Advertising] = {}
        stack.apps["radv"] = self
        self._subscription = stack.events.subscribe(RouterSolicitReceived, self._solicited)
        stack.add_poller(self)

    def advertise(self, netif: "Netif", config: AdvertConfig | None = None) -> Advertising:
        """Make ``netif`` an advertising interface (or change what it advertises: the next advertisement, due
        within MAX_RA_DELAY_TIME, says it).  ValueError for a configuration RFC 4861 forbids or an advertisement
        that does not fit the link MTU."""
        self.stack.assert_core()
        config = config or AdvertConfig()
        if not any(is_link_local6(a.addr) for a in netif.ip6_addrs):
            raise ValueError(f"{netif.name} has no link-local address, which advertisements come from "
                             "(RFC 4861 6.2.8): call netif.create_ip6_linklocal() first")
        if not 1 <= config.cur_hop_limit <= 255 or config.preference not in _PREFERENCES:
            raise ValueError("cur_hop_limit is 1..255 and preference one of PRF_LOW, PRF_MEDIUM, PRF_HIGH")
        config.intervals()
        ra = self._build(netif, config, config.lifetime())
        if HEADER_LEN + ra.buffer_len > netif.mtu6:
            raise ValueError(f"the advertisement ({ra.buffer_len} bytes) does not fit {netif.name}'s MTU of "
                             f"{netif.mtu6}: advertise fewer prefixes, routes or DNS servers")
        now = self.stack.now
        state = self.interfaces.get(netif.index)
        if state is None:
            state = self.interfaces[netif.index] = Advertising(netif, config, None)
            self.stack.mld6.join(netif, ALL_ROUTERS)
            netif.ip6_advertising = True
            netif.rs_left, netif.rs_at = 0, None  # a router does not solicit routers
        state.config, state.final = config, False
        self._schedule(state, now + self.stack.rng.uniform(0, MAX_RA_DELAY_TIME))
        return state

    def stop(self, netif: "Netif") -> None:
        """Stop advertising on ``netif``: one final advertisement with router lifetime 0 goes out (as soon as
        MIN_DELAY_BETWEEN_RAS allows), then the all-routers group is left."""
        state = self.interfaces.get(netif.index)
        if state is None or state.final:
            return
        state.final = True
        state.next_at = self._rate_limited(state, self.stack.now)

    def close(self) -> None:
        """Stop at once on every interface, without final advertisements, and detach from the stack."""
        for state in self.interfaces.values():
            self.stack.mld6.leave(state.netif, ALL_ROUTERS)
            state.netif.ip6_advertising = False
        self.interfaces.clear()
        self.stack.remove_poller(self)
        self._subscription.cancel()
        self.stack.apps.pop("radv", None)

    # -- solicitations -----------------------------------------------------------------------------------------------
    def _solicited(self, event: RouterSolicitReceived) -> None:
        self.solicit_input(event.packet, event.message)

    def solicit_input(self, pkt: "InPacket6", msg: object) -> None:
        """A router solicitation (RFC 4861 6.1.1 checks, 6.2.6 answer), from neighbour discovery's event."""
        stats = self.stack._stats.nd6
        state = self.interfaces.get(pkt.netif.index)
        if not isinstance(msg, RouterSolicit) or state is None or state.final:
            stats.drop += 1
            return
        slla = lladdr(msg.options, SourceLinkAddr)
        if is_unspecified6(pkt.src):
            if slla is not None:
                stats.proterr += 1  # 6.1.1: no source link-layer address from the unspecified address
                stats.drop += 1
                return
        else:
            n = self.stack.nd6.learn(pkt.netif, pkt.src, slla) if slla is not None else \
                self.stack.nd6.lookup(pkt.src, pkt.netif)
            if n is not None:
                n.is_router = False  # 6.2.6: "the entry's IsRouter flag MUST be set to FALSE"
        state.solicitations += 1
        self._schedule(state, self.stack.now + self.stack.rng.uniform(0, MAX_RA_DELAY_TIME))

    def _rate_limited(self, state: Advertising, at: float) -> float:
        """6.2.6: no multicast advertisement sooner than MIN_DELAY_BETWEEN_RAS after the previous one."""
        if state.last_multicast is not None and at < state.last_multicast + MIN_DELAY_BETWEEN_RAS:
            return state.last_multicast + MIN_DELAY_BETWEEN_RAS + (at - self.stack.now)
        return at

    def _schedule(self, state: Advertising, at: float) -> None:
        at = self._rate_limited(state, at)
        if state.next_at is None or at < state.next_at:
            state.next_at = at

    # -- sending -----------------------------------------------------------------------------------------------------
    def _build(self, netif: "Netif", config: AdvertConfig, lifetime: int) -> RouterAdvert:
        options: list[Option] = []
        if config.source_lladdr and netif.hwaddr:  # a point-to-point link has no link-layer address to tell
            options.append(SourceLinkAddr(netif.hwaddr))
        if config.link_mtu:
            options.append(MtuOption(config.link_mtu))
        for p in self.prefixes_of(netif, config):
            net = IPv6Network(p.prefix)
            if p.preferred_lifetime > p.valid_lifetime:
                raise ValueError(f"prefix {p.prefix}: the preferred lifetime exceeds the valid one (RFC 4861 4.6.2)")
            options.append(PrefixInfo(net.prefixlen, p.on_link, p.autonomous, p.valid_lifetime, p.preferred_lifetime,
                                      net.network_address.packed))
        for r in config.routes:
            net = IPv6Network(r.prefix)
            options.append(RouteInfo(net.prefixlen, r.preference, lifetime if r.lifetime is None else r.lifetime,
                                     net.network_address.packed))
        if config.rdnss:
            life = 3 * int(config.max_interval) if config.rdnss_lifetime is None else config.rdnss_lifetime
            options.append(Rdnss(life, [IPv6Address(s).packed for s in config.rdnss]))
        return RouterAdvert(config.cur_hop_limit, config.managed, config.other, lifetime, config.reachable_time,
                            config.retrans_timer, options, config.preference if lifetime else PRF_MEDIUM)

    @staticmethod
    def prefixes_of(netif: "Netif", config: AdvertConfig) -> list[AdvertPrefix]:
        """The prefixes ``config`` advertises on ``netif``: its own, or those of the netif's static addresses."""
        if config.prefixes is not None:
            return config.prefixes
        nets = {IPv6Network((a.addr, a.prefix_len), strict=False) for a in netif.ip6_addrs
                if a.origin == ORIGIN_STATIC and not is_link_local6(a.addr)}
        return [AdvertPrefix(str(n)) for n in sorted(nets)]

    def _send(self, state: Advertising, now: float) -> None:
        netif = state.netif
        lls = [a for a in netif.ip6_addrs if is_link_local6(a.addr)]
        source = next((a.addr for a in lls if a.usable), None)
        if source is None:
            # 6.2.8: from the link-local address only; wait for its DAD (a duplicated one stops advertising)
            tentative = any(a.state == TENTATIVE for a in lls)
            state.next_at = now + netif.retrans_timer if tentative else None
            if not tentative:
                self.stack._stats.nd6.err += 1
            return
        config = state.config
        ra = self._build(netif, config, 0 if state.final else config.lifetime())
        self.stack.nd6.send(netif, ra, source, ALL_NODES)
        state.sent += 1
        state.last_multicast = now
        if state.final:
            self.interfaces.pop(netif.index, None)
            self.stack.mld6.leave(netif, ALL_ROUTERS)
            netif.ip6_advertising = False
            return
        low, high = config.intervals()
        interval = self.stack.rng.uniform(low, high)
        if state.initial_left > 0:
            state.initial_left -= 1
            interval = min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL)
        state.next_at = now + interval

    # -- time --------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        for state in list(self.interfaces.values()):
            if state.next_at is not None and state.next_at <= now and state.netif.is_usable:
                self._send(state, now)

    def poll_at(self) -> float | None:
        times = [s.next_at for s in self.interfaces.values() if s.next_at is not None and s.netif.is_usable]
        return min(times) if times else None
