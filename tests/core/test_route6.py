"""The IPv6 control plane after the split: router discovery (core/nd6_router), IPv6 routes and path MTU (core/route6),
the neighbour cache (core/nd6), and the path-MTU-changed notification TCP takes instead of nd6 writing its pcbs."""

from __future__ import annotations

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.core.events import PathMtuChanged
from lwipy.sim import Simulation

A6, B6 = "2001:db8::1", "2001:db8::2"
B6_PACKED = bytes.fromhex("20010db8000000000000000000000002")


def pair():
    sim = Simulation(seed=8)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False, ipv6_dup_detect_attempts=0)
    a = sim.add_stack("a", hub, cfg, ip6=f"{A6}/64")
    b = sim.add_stack("b", hub, cfg, ip6=f"{B6}/64")
    sim.run(0.5)
    return sim, a, b


def too_big(stack, mtu: int) -> bytes:
    netif = stack.netifs[-1]
    quoted = bytes(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2) / (b"q" * 1200))[:1232]
    return bytes(Ether(dst=":".join(f"{x:02x}" for x in netif.hwaddr)) / IPv6(src=B6, dst=A6)
                 / ICMPv6PacketTooBig(mtu=mtu) / quoted)


def test_packet_too_big_is_told_as_an_event_with_the_path_mtu_in_force():
    sim, a, b = pair()
    seen = []
    a.events.subscribe(PathMtuChanged, seen.append)
    for mtu in (1400, 1300, 1450, 1000):  # a larger one never raises it; none goes below 1280 (RFC 8201 4)
        a.input(a.netifs[-1], too_big(a, mtu), sim.now)
    assert seen == [PathMtuChanged(B6_PACKED, 1400), PathMtuChanged(B6_PACKED, 1300),
                    PathMtuChanged(B6_PACKED, 1300), PathMtuChanged(B6_PACKED, 1280)]
    assert a.route6.path_mtus == {B6_PACKED: 1280} and a.nd6.path_mtus is a.route6.path_mtus


def test_tcp_lowers_its_segment_size_through_the_event_only():
    sim, a, b = pair()
    lst = b.tcp.listen(5000, "::")
    lst.on_event = lambda listener: listener.accept()
    c = a.tcp.connect(B6, 5000)
    sim.run(0.5)
    assert c.state_name == "ESTABLISHED" and c.snd_mss == 1440
    a.events.unsubscribe(PathMtuChanged, a.tcp.path_mtu_changed)  # TCP no longer listens: nothing else tells it
    a.input(a.netifs[-1], too_big(a, 1400), sim.now)
    assert c.snd_mss == 1440 and a.route6.path_mtus[B6_PACKED] == 1400
    a.events.subscribe(PathMtuChanged, a.tcp.path_mtu_changed)
    a.input(a.netifs[-1], too_big(a, 1300), sim.now)
    assert c.snd_mss == 1240  # 1300 less 40 bytes of IPv6 and 20 of TCP header


def test_nd6_keeps_its_attributes_as_views_of_the_split_modules():
    sim, a, b = pair()
    nd6, netif = a.nd6, a.netifs[-1]
    assert nd6.routers is nd6.rdisc.routers and nd6.prefixes is nd6.rdisc.prefixes
    assert nd6.dns_servers is nd6.rdisc.dns_servers
    assert nd6.routes is a.route6.routes and nd6.redirects is a.route6.redirects
    route = nd6.add_route("2001:db8:5::/48", netif, via="fe80::1")
    on_link = nd6.add_route("2001:db8:6::/64", netif)
    assert a.route6.routes == [route] and on_link in a.nd6.rdisc.prefixes
    assert nd6.router_for(bytes.fromhex("20010db8000500000000000000000009")) == (netif, bytes.fromhex(
        "fe800000000000000000000000000001"))
    assert nd6.on_link(netif, bytes.fromhex("20010db8000600000000000000000009"))
    nd6.remove_route(route)
    nd6.remove_route(on_link)
    assert a.route6.routes == [] and on_link not in nd6.prefixes
    assert not a.route6.on_link(netif, bytes.fromhex("20010db8000600000000000000000009"))
