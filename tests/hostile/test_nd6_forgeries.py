"""Hostile peers against IPv6 neighbour discovery: forged RA/NA/NS must not pin or flood the neighbour cache.

The attacker is a raw port on the same virtual hub, sending what scapy builds; the victim is an lwipy host that must
still reach a new, real neighbour (another lwipy stack) afterwards.  Bounds: the cache never holds more than
``nd6_num_neighbors`` entries, the router list never more than ``nd6_num_routers``, and ping6 to a new peer works
within one resolution (under 2 s of virtual time) after any amount of forgery.
"""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet6 import (ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_Redirect, ICMPv6NDOptDstLLAddr,
                                ICMPv6NDOptSrcLLAddr, IPv6)
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.apps import PingSession
from lwipy.core.addr6 import PREFERRED, link_local_from_mac
from lwipy.sim import Simulation

pytestmark = pytest.mark.hostile

ALL_NODES_MAC = "33:33:00:00:00:01"


def forged_mac(i: int) -> str:
    return f"02:66:00:00:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"


def forged_ll(i: int) -> str:
    return f"fe80::66:{i:x}"


def lan():
    """A victim and a real peer (both lwipy) on one hub, plus a raw attacker port; both addresses past DAD."""
    sim = Simulation(seed=16)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False)
    victim = sim.add_stack("victim", hub, cfg, ip6_linklocal=True)
    peer = sim.add_stack("peer", hub, cfg, ip6_linklocal=True)
    attacker = hub.port("attacker")
    assert sim.run_until(lambda: all(a.state == PREFERRED for s in (victim, peer) for a in s.netifs[-1].ip6_addrs), 5)
    return sim, victim, peer, attacker


def victim_ll(victim) -> str:
    return str(ipaddress.IPv6Address(link_local_from_mac(victim.netifs[-1].hwaddr)))


def ping6_works(sim, victim, peer) -> bool:
    target = ipaddress.IPv6Address(peer.netifs[-1].ip6_addrs[0].addr)
    session = PingSession(victim, f"{target}%{victim.netifs[-1].name}", count=1, timeout=2.0)
    sim.run_until(lambda: session.done, 5)
    return session.received == 1


def test_router_advertisements_with_lifetime_zero_do_not_pin_the_cache():
    """Issue 16: five RAs with router lifetime 0 from five sources marked five entries as routers for good, and
    eviction skipped them: an hour later the host could resolve no new neighbour."""
    sim, victim, peer, attacker = lan()
    size = victim.config.nd6_num_neighbors
    for i in range(size):
        ra = (Ether(dst=ALL_NODES_MAC, src=forged_mac(i)) / IPv6(src=forged_ll(i), dst="ff02::1", hlim=255)
              / ICMPv6ND_RA(routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr=forged_mac(i)))
        attacker.transmit(bytes(ra))
    sim.settle()
    nd6 = victim.nd6
    assert len(nd6.neighbors) == size and all(n.is_router for n in nd6.neighbors.values())
    assert nd6.routers == []  # lifetime 0: none of them is a default router
    sim.run(3600)
    assert ping6_works(sim, victim, peer)
    assert len(nd6.neighbors) <= size


def test_router_flag_in_neighbour_advertisements_does_not_pin_the_cache():
    """NAs with R set for entries the victim made itself (it tried to reach them) mark them routers; they must
    still give way to a new neighbour."""
    sim, victim, peer, attacker = lan()
    size = victim.config.nd6_num_neighbors
    for i in range(size):
        PingSession(victim, f"{forged_ll(i)}%{victim.netifs[-1].name}", count=1, timeout=0.5)
    sim.settle()
    assert len(victim.nd6.neighbors) == size
    for i in range(size):
        na = (Ether(dst=victim.netifs[-1].hwaddr, src=forged_mac(i))
              / IPv6(src=forged_ll(i), dst=victim_ll(victim), hlim=255)
              / ICMPv6ND_NA(tgt=forged_ll(i), R=1, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=forged_mac(i)))
        attacker.transmit(bytes(na))
    sim.settle()
    assert sum(n.is_router for n in victim.nd6.neighbors.values()) == size
    sim.run(60)
    assert ping6_works(sim, victim, peer)


def test_a_real_default_router_keeps_its_entry_longest_and_loses_the_mark_when_it_expires():
    sim, victim, peer, attacker = lan()
    ra = (Ether(dst=ALL_NODES_MAC, src=forged_mac(0)) / IPv6(src=forged_ll(0), dst="ff02::1", hlim=255)
          / ICMPv6ND_RA(routerlifetime=30) / ICMPv6NDOptSrcLLAddr(lladdr=forged_mac(0)))
    attacker.transmit(bytes(ra))
    sim.settle()
    nd6 = victim.nd6
    router_key = (victim.netifs[-1].index, ipaddress.IPv6Address(forged_ll(0)).packed)
    assert nd6.neighbors[router_key].is_router and len(nd6.routers) == 1
    # unsolicited NS with SLLA from many sources: each makes a STALE entry, the stalest gives way, the router stays
    for i in range(1, 4 * victim.config.nd6_num_neighbors):
        ns = (Ether(dst=victim.netifs[-1].hwaddr, src=forged_mac(i))
              / IPv6(src=forged_ll(i), dst=victim_ll(victim), hlim=255)
              / ICMPv6ND_NS(tgt=victim_ll(victim)) / ICMPv6NDOptSrcLLAddr(lladdr=forged_mac(i)))
        attacker.transmit(bytes(ns))
        sim.settle()
        assert len(nd6.neighbors) <= victim.config.nd6_num_neighbors
        assert router_key in nd6.neighbors
    sim.run(31)  # the router's lifetime ends
    assert nd6.routers == [] and not nd6.neighbors[router_key].is_router


def test_a_redirect_for_an_on_link_destination_is_refused_even_from_the_default_router():
    """RFC 4861 8.1: a redirect must come from the current first hop for its destination; for an on-link
    destination that is the destination itself, so no router may redirect it (the fuzz bench found one accepted)."""
    sim, victim, peer, attacker = lan()
    netif = victim.netifs[-1]
    netif.add_ip6_address("2001:db8:5::1", 64)
    sim.run(2)
    router_ll = forged_ll(1)
    ra = (Ether(dst=ALL_NODES_MAC, src=forged_mac(1)) / IPv6(src=router_ll, dst="ff02::1", hlim=255)
          / ICMPv6ND_RA(routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=forged_mac(1)))
    attacker.transmit(bytes(ra))
    sim.settle()
    assert len(victim.nd6.routers) == 1
    for dst in ("2001:db8:5::2", "2001:db8:99::2"):  # on-link, then off-link through that router
        rd = (Ether(dst=victim.netifs[-1].hwaddr, src=forged_mac(1))
              / IPv6(src=router_ll, dst="2001:db8:5::1", hlim=255)
              / ICMPv6ND_Redirect(tgt="fe80::9", dst=dst) / ICMPv6NDOptDstLLAddr(lladdr=forged_mac(9)))
        attacker.transmit(bytes(rd))
        sim.settle()
    assert list(victim.nd6.redirects) == [ipaddress.IPv6Address("2001:db8:99::2").packed]
