"""An lwipy router on two virtual links: its advertisements (checked by scapy), the hosts' SLAAC addresses and DNS
servers from them, RFC 4861's timing rules, the final advertisement, and IPv6 forwarding between the links (the
errors a router sends included) with loss on both links."""

from __future__ import annotations

import hashlib
import ipaddress
import os

import pytest
from scapy.layers.inet6 import (ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, ICMPv6NDOptRouteInfo, ICMPv6NDOptSrcLLAddr,
                                ICMPv6ND_RA, IPv6)
from scapy.layers.l2 import Ether

from lwipy import Config, LwipError
from lwipy.apps import AdvertConfig, AdvertPrefix, AdvertRoute, PingSession, RouterAdvertiser
from lwipy.core.pbuf import Pbuf
from lwipy.sim import Simulation
from lwipy.wire import icmpv6 as w6

from helpers import send_all, serve_collect

DNS = "2001:db8:53::53"
HOST_CFG = Config(ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=2, ip6_reassembly=True)


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def network(seed=3, faults=None, lan2_mtu=1500, config=None):
    """host-a -- lan1 -- router -- lan2 -- host-b; the router advertises 2001:db8:1::/64 and 2001:db8:2::/64."""
    sim = Simulation(seed=seed)
    lan1, lan2 = sim.hub(), sim.hub(mtu=lan2_mtu)
    frames1: list[tuple[float, bytes]] = []
    lan1.taps.append(lambda port, frame: frames1.append((sim.now, bytes(frame))))
    router = sim.new_stack("router", Config(ip6_forward=True, ipv6_send_router_solicit=False))
    r1 = sim.attach(router, lan1, name="lan1", ip6_linklocal=True, ip6="2001:db8:1::1/64")
    r2 = sim.attach(router, lan2, name="lan2", ip6_linklocal=True, ip6="2001:db8:2::1/64", mtu=lan2_mtu)
    radv = RouterAdvertiser(router)
    radv.advertise(r1, config or AdvertConfig(rdnss=[DNS], max_interval=30,
                                              routes=[AdvertRoute("2001:db8:100::/48")]))
    radv.advertise(r2, AdvertConfig(max_interval=30))
    a = sim.add_stack("host-a", lan1, HOST_CFG, ip6_linklocal=True, faults=faults)
    b = sim.add_stack("host-b", lan2, HOST_CFG, ip6_linklocal=True, faults=faults)
    return sim, router, radv, a, b, frames1


def slaac(stack, prefix):
    return next((a for a in stack.netif_by_name("en0").ip6_addrs if a.address in ipaddress.IPv6Network(prefix)
                 and a.state == "preferred"), None)


def formed(sim, a, b):
    return sim.run_until(lambda: slaac(a, "2001:db8:1::/64") is not None and slaac(b, "2001:db8:2::/64") is not None,
                         60)


def test_hosts_form_slaac_addresses_and_learn_the_router_and_dns_from_its_advertisements():
    sim, router, radv, a, b, frames = network()
    assert formed(sim, a, b)
    assert sim.now < 10  # the hosts' solicitations are answered at once, not after an advertising interval
    r_ll = router.netif_by_name("lan1").ip6_addrs[0].addr
    assert [(r.addr, r.netif.name) for r in a.nd6.routers] == [(r_ll, "en0")]
    assert a.dns_servers6() == [ipaddress.IPv6Address(DNS)] and b.dns_servers6() == []
    assert [(ipaddress.IPv6Address(r.prefix), r.length) for r in a.nd6.routes] == \
        [(ipaddress.IPv6Address("2001:db8:100::"), 48)]
    assert a.nd6.lookup(r_ll, a.netif_by_name("en0")).is_router  # the router's neighbour advertisements set R

    ras = [IPv6(f[14:]) for _, f in frames if Ether(f).type == 0x86DD and ICMPv6ND_RA in IPv6(f[14:])]
    assert ras
    ra = ras[0]
    assert ra.src == str(ipaddress.IPv6Address(r_ll)) and ra.dst == "ff02::1" and ra.hlim == 255
    nd = ra[ICMPv6ND_RA]
    assert (nd.chlim, nd.M, nd.O, nd.routerlifetime, nd.prf) == (64, 0, 0, 90, 0)
    pi = ra[ICMPv6NDOptPrefixInfo]
    assert (pi.prefix, pi.prefixlen, pi.L, pi.A, pi.validlifetime, pi.preferredlifetime) == \
        ("2001:db8:1::", 64, 1, 1, 2592000, 604800)
    assert ra[ICMPv6NDOptRDNSS].dns == [DNS] and ra[ICMPv6NDOptRDNSS].lifetime == 90
    assert ra[ICMPv6NDOptRouteInfo].prefix == "2001:db8:100::" and ra[ICMPv6NDOptRouteInfo].plen == 48
    assert ra[ICMPv6NDOptSrcLLAddr].lladdr == ":".join(f"{x:02x}" for x in router.netif_by_name("lan1").hwaddr)
    sim.close()


def test_advertisements_keep_rfc_4861_timing():
    sim, router, radv, a, b, frames = network(seed=5)
    assert formed(sim, a, b)
    sim.run(400)
    times = [t for t, f in frames if ICMPv6ND_RA in Ether(f)]
    gaps = [t2 - t1 for t1, t2 in zip(times, times[1:], strict=False)]
    assert len(times) >= 14
    assert all(g >= 3.0 - 1e-9 for g in gaps)  # MIN_DELAY_BETWEEN_RAS
    # the first three unsolicited ones at most 16 s apart, then MinRtrAdvInterval (10 s)..MaxRtrAdvInterval (30 s)
    assert all(g <= 16.0 + 1e-9 for g in gaps[:3]) and all(10.0 - 1e-9 <= g <= 30.0 + 1e-9 for g in gaps[4:])

    # a solicitation right after an advertisement waits out the 3 s; one later is answered within 0.5 s
    state = radv.interfaces[router.netif_by_name("lan1").index]
    sent = state.sent
    assert sim.run_until(lambda: state.sent > sent, 60)
    sent_at = state.last_multicast
    assert sent_at == sim.now
    a.nd6.router_solicit(a.netif_by_name("en0"))
    assert sim.run_until(lambda: state.last_multicast != sent_at, 10)
    assert 3.0 <= state.last_multicast - sent_at <= 3.5
    sim.run(8)
    last = state.last_multicast
    a.nd6.router_solicit(a.netif_by_name("en0"))
    asked = sim.now
    assert sim.run_until(lambda: state.last_multicast != last, 1)
    assert sim.now - asked <= 0.5
    sim.close()


def test_a_final_advertisement_withdraws_the_router_and_its_routes():
    sim, router, radv, a, b, frames = network()
    assert formed(sim, a, b)
    assert a.nd6.routers and a.nd6.routes
    radv.stop(router.netif_by_name("lan1"))
    assert sim.run_until(lambda: not a.nd6.routers, 10)
    assert not a.nd6.routes and router.netif_by_name("lan1").index not in radv.interfaces
    assert slaac(a, "2001:db8:1::/64") is not None  # addresses live out their own lifetimes (RFC 4861 6.2.5)
    n = len(frames)
    sim.run(200)
    assert not any(ICMPv6ND_RA in Ether(f) for _, f in frames[n:])
    sim.close()


def test_a_solicitation_from_the_unspecified_address_with_a_link_layer_address_is_dropped():
    sim, router, radv, a, b, frames = network()
    sim.run(5)
    state = radv.interfaces[router.netif_by_name("lan1").index]
    asked = state.solicitations
    from lwipy.wire.ndp import RouterSolicit, SourceLinkAddr
    a.nd6.send(a.netif_by_name("en0"), RouterSolicit([SourceLinkAddr(a.netif_by_name("en0").hwaddr)]), bytes(16), v6("ff02::2"))
    sim.run(1)
    assert state.solicitations == asked and router.stats.nd6.proterr == 1
    sim.close()


def test_configurations_rfc_4861_forbids_are_refused_with_the_rule():
    sim = Simulation()
    stack = sim.add_stack("r", sim.hub(), ip6_linklocal=True)
    bare = sim.attach(stack, sim.hub(), name="bare")
    radv = RouterAdvertiser(stack)
    with pytest.raises(ValueError, match="create_ip6_linklocal"):
        radv.advertise(bare)
    with pytest.raises(ValueError, match="4..1800"):
        radv.advertise(stack.netif_by_name("en0"), AdvertConfig(max_interval=2))
    with pytest.raises(ValueError, match="0.75"):
        radv.advertise(stack.netif_by_name("en0"), AdvertConfig(max_interval=10, min_interval=9))
    with pytest.raises(ValueError, match="router_lifetime"):
        radv.advertise(stack.netif_by_name("en0"), AdvertConfig(router_lifetime=10))
    with pytest.raises(ValueError, match="preferred lifetime"):
        radv.advertise(stack.netif_by_name("en0"), AdvertConfig(prefixes=[AdvertPrefix("2001:db8::/64", valid_lifetime=5,
                                                                            preferred_lifetime=6)]))
    with pytest.raises(ValueError, match="MTU"):
        radv.advertise(stack.netif_by_name("en0"), AdvertConfig(rdnss=[f"2001:db8::{i:x}" for i in range(100)]))
    with pytest.raises(ValueError, match="already"):
        RouterAdvertiser(stack)
    radv.close()
    assert "radv" not in stack.apps
    sim.close()


def test_ping_and_a_lossy_tcp_transfer_go_through_the_router():
    sim, router, radv, a, b, _ = network(seed=4, faults=dict(loss=0.02, reorder=0.02, duplicate=0.01))
    assert formed(sim, a, b)
    b_addr = slaac(b, "2001:db8:2::/64").address
    replies = []
    ping = PingSession(a, b_addr, count=5, interval=0.2, on_reply=replies.append)
    assert sim.run_until(lambda: ping.done, 20)
    assert len(replies) >= 3 and all(r.ttl == 63 for r in replies)  # b's 64, one less through the router

    lst, got, conns = serve_collect(b, 5001)
    data = os.urandom(1_000_000)
    pcb = a.tcp.connect(str(b_addr), 5001)
    send_all(sim, pcb, data)
    assert sim.run_until(lambda: len(got) == len(data), 600)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert conns[0].remote_ip == slaac(a, "2001:db8:1::/64").address
    assert router.stats.ip6.fw > 700  # segments and acknowledgements, both ways
    sim.close()


def raw_out(stack, src, dst, hop_limit=64, size=0, nh=59):
    """Send an IPv6 packet with no upper layer (next header 59) from ``stack``."""
    stack.ip6.output(Pbuf.with_payload(bytes(size)), src, dst, nh, hop_limit=hop_limit)


def errors_of(stack):
    got = []
    stack.icmp6.error_handlers[59] = lambda t, code, rest, inner, body: got.append((t, code, rest))
    return got


def test_the_router_answers_what_it_cannot_forward_with_the_right_icmpv6_error():
    sim, router, radv, a, b, _ = network(lan2_mtu=1280)
    assert formed(sim, a, b)
    a_addr, b_addr = slaac(a, "2001:db8:1::/64").addr, slaac(b, "2001:db8:2::/64").addr
    got = errors_of(a)
    raw_out(a, a_addr, b_addr, hop_limit=1)
    sim.run(1)
    assert got == [(w6.TIME_EXCEEDED, w6.TE_HOP_LIMIT, 0)]
    raw_out(a, a_addr, v6("2001:db8:9::1"))  # the router has no route there (no default route of its own)
    sim.run(1)
    assert got[-1] == (w6.DEST_UNREACH, w6.UNREACH_NO_ROUTE, 0)
    a_ll = a.netif_by_name("en0").ip6_addrs[0].addr
    raw_out(a, a_ll, b_addr)  # a link-local source cannot leave its link
    sim.run(1)
    assert got[-1] == (w6.DEST_UNREACH, w6.UNREACH_BEYOND_SCOPE, 0)
    raw_out(a, a_addr, b_addr, size=1300)  # lan2's MTU is 1280: routers do not fragment
    sim.run(1)
    assert got[-1] == (w6.PACKET_TOO_BIG, 0, 1280) and a.nd6.path_mtus[b_addr] == 1280
    assert router.stats.ip6.fw == 0 and len(got) == 4

    # after the packet too big, a fragments for that path and b reassembles
    sink = b.udp.new(ip6=True)
    sink.bind(None, 9)
    sender = a.udp.new(ip6=True)
    sender.sendto(b"x" * 1400, str(ipaddress.IPv6Address(b_addr)), 9)
    assert sim.run_until(lambda: bool(sink.queue), 5)
    assert len(sink.recv().data) == 1400 and router.stats.ip6.fw == 2
    sim.close()


def test_link_local_and_same_link_packets_are_not_forwarded_and_our_other_address_is_ours():
    sim, router, radv, a, b, _ = network()
    assert formed(sim, a, b)
    a_addr = slaac(a, "2001:db8:1::/64").addr
    got = errors_of(a)
    drops = router.stats.ip6.drop
    raw_out(a, a_addr, v6("2001:db8:1::77"))  # on lan1 itself, through the router by hand: lwIP never sends it back
    a.nd6.redirects[v6("2001:db8:1::77")] = (a.netif_by_name("en0"), router.netif_by_name("lan1").ip6_addrs[0].addr)
    raw_out(a, a_addr, v6("2001:db8:1::77"))
    sim.run(5)
    assert router.stats.ip6.fw == 0 and router.stats.ip6.drop > drops and got == []
    replies = []
    ping = PingSession(a, "2001:db8:2::1", count=2, interval=0.2, on_reply=replies.append)
    assert sim.run_until(lambda: ping.done, 5)
    assert len(replies) == 2 and replies[0].ttl == 255  # the router (IP6_HOPLIM) answers for its lan2 address itself
    sim.close()


def test_static_routes_of_a_router():
    sim, router, radv, a, b, _ = network()
    b_ll = b.netif_by_name("en0").ip6_addrs[0].addr
    lan2 = router.netif_by_name("lan2")
    with pytest.raises(LwipError):
        router.ip6.route(v6("2001:db8:3::5"))
    route = router.nd6.add_route("2001:db8:3::/64", lan2, via=str(ipaddress.IPv6Address(b_ll)))
    assert router.ip6.route(v6("2001:db8:3::5")) == (lan2, b_ll)
    on_link = router.nd6.add_route("2001:db8:4::/64", lan2)
    assert router.ip6.route(v6("2001:db8:4::5")) == (lan2, v6("2001:db8:4::5"))
    default = router.nd6.add_route("::/0", lan2, via="fe80::99")
    assert router.ip6.route(v6("2001:db8:77::1")) == (lan2, v6("fe80::99"))
    for entry in (route, on_link, default):
        router.nd6.remove_route(entry)
    with pytest.raises(LwipError):
        router.ip6.route(v6("2001:db8:3::5"))
    with pytest.raises(ValueError, match="next hop"):
        router.nd6.add_route("::/0", lan2, via="ff02::1")
    sim.close()
