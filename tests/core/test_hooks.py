"""ESP-IDF's lwIP hooks (lwipy.core.hooks): each one changes what goes on the wire (a dropped packet, a chosen route,
a chosen source address, a different ISN), the defaults are ESP-IDF's, and a hook file is checked as it loads."""

from ipaddress import IPv4Address, IPv6Address

import pytest

from lwipy import Config, ConfigError
from lwipy.apps import AdvertConfig, PingSession, RouterAdvertiser
from lwipy.core.hooks import Hooks, load_hooks_file
from lwipy.sim import Simulation
from lwipy.wire.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetHeader
from lwipy.wire.ipv4 import PROTO_ICMP, PROTO_TCP, PROTO_UDP, Ipv4Header
from lwipy.wire.ipv6 import Ipv6Header
from lwipy.wire.tcp import SYN, TcpHeader


def record(hub):
    """Every frame on ``hub``, as (ethernet header, IP header, IP payload) for IP frames."""
    seen = []

    def tap(port, frame):
        eth, payload = EthernetHeader.parse(frame)
        if eth.ethertype == ETHERTYPE_IPV4:
            seen.append((eth,) + Ipv4Header.parse(payload, check=False))
        elif eth.ethertype == ETHERTYPE_IPV6:
            seen.append((eth,) + Ipv6Header.parse(payload))
    hub.taps.append(tap)
    return seen


def v4(seen, proto):
    return [(h, p) for _, h, p in seen if isinstance(h, Ipv4Header) and h.proto == proto]


def v6(seen, next_header):
    return [(h, p) for _, h, p in seen if isinstance(h, Ipv6Header) and h.next_header == next_header]


# -- tcp_isn -------------------------------------------------------------------------------------------------------
def test_tcp_isn_hook_gives_the_syn_and_syn_ack_their_sequence_numbers():
    sim = Simulation(seed=1)
    hub = sim.hub()
    seen = record(hub)
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    calls = []

    def isn_a(stack, local_ip, local_port, remote_ip, remote_port):
        calls.append((stack, local_ip, remote_ip, remote_port))
        return 0x11111111

    a.hooks.tcp_isn = isn_a
    b.hooks.install({"tcp_isn": lambda stack, lip, lport, rip, rport: 0x22222222})
    b.tcp.listen(7)
    pcb = a.tcp.connect("10.0.0.2", 7)
    sim.run_until(lambda: pcb.state_name == "ESTABLISHED", 5)
    syns = [TcpHeader.parse(p)[0] for h, p in v4(seen, PROTO_TCP) if TcpHeader.parse(p)[0].flags & SYN]
    assert [s.seq for s in syns] == [0x11111111, 0x22222222]
    assert calls == [(a, IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 7)]


def test_the_default_tcp_isn_is_rfc_6528_per_stack():
    sim = Simulation(seed=1)
    a = sim.add_stack("a", sim.hub(), ip="10.0.0.1/24")
    x, y = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    first = a.hooks.tcp_isn(a, x, 1000, y, 80)
    assert a.hooks.tcp_isn(a, x, 1001, y, 80) != first  # keyed by the four-tuple
    a.now += 1.0
    assert (a.hooks.tcp_isn(a, x, 1000, y, 80) - first) % 2**32 == 250_000  # M: 4 microsecond ticks


# -- ip4_input -----------------------------------------------------------------------------------------------------
def test_ip4_input_hook_eats_packets_before_the_stack_sees_them():
    sim = Simulation(seed=1)
    hub = sim.hub()
    seen = record(hub)
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    eaten = []

    def ip4_input(stack, packet, netif):
        if packet[9] == PROTO_ICMP:
            eaten.append((netif.name, bytes(packet[12:16])))
            return True
        return False

    b.hooks.ip4_input = ip4_input
    ping = PingSession(a, "10.0.0.2", count=2, interval=0.5, timeout=1)
    sim.run_until(lambda: ping.done, 10)
    assert ping.received == 0 and len(eaten) == 2 and eaten[0] == ("en0", IPv4Address("10.0.0.1").packed)
    assert not [h for h, _ in v4(seen, PROTO_ICMP) if h.src == IPv4Address("10.0.0.2").packed]
    assert b.stats.icmp.recv == 0
    b.hooks.ip4_input = None
    ping = PingSession(a, "10.0.0.2", count=1)
    sim.run_until(lambda: ping.done, 10)
    assert ping.received == 1


# -- ip4_route_src -------------------------------------------------------------------------------------------------
def two_homed():
    """``h`` on two hubs: en0 10.1.0.2/24 (gateway 10.1.0.1, the default netif), en1 10.2.0.2/24 (gateway
    10.2.0.1); a router stack at both gateways, with a UDP pcb on port 9 of each netif's side counting arrivals."""
    sim = Simulation(seed=4)
    hub1, hub2 = sim.hub(), sim.hub()
    seen1, seen2 = record(hub1), record(hub2)
    h = sim.add_stack("h", hub1, ip="10.1.0.2/24", gateway="10.1.0.1")
    sim.attach(h, hub2, ip="10.2.0.2/24", gateway="10.2.0.1")
    g1 = sim.add_stack("g1", hub1, ip="10.1.0.1/24")
    g2 = sim.add_stack("g2", hub2, ip="10.2.0.1/24")
    return sim, h, g1, g2, seen1, seen2


def udp_to(seen, dst):
    return [h for h, _ in v4(seen, PROTO_UDP) if h.dst == IPv4Address(dst).packed]


def test_by_default_a_packet_from_the_second_netifs_address_leaves_through_it():
    sim, h, g1, g2, seen1, seen2 = two_homed()
    assert h.default_netif is h.netif_by_name("en0")
    pcb = h.udp.new()
    pcb.bind("10.2.0.2", 0)
    pcb.sendto(b"by source", "192.0.2.9", 9)  # off-link: the default route is en0's
    unbound = h.udp.new()
    unbound.sendto(b"by table", "192.0.2.9", 9)
    sim.run(2)
    assert [h_.src for h_ in udp_to(seen2, "192.0.2.9")] == [IPv4Address("10.2.0.2").packed]
    assert [h_.src for h_ in udp_to(seen1, "192.0.2.9")] == [IPv4Address("10.1.0.2").packed]


def test_tcp_connect_from_a_bound_address_and_the_route_src_hook_can_choose_otherwise():
    sim, h, g1, g2, seen1, seen2 = two_homed()
    h.tcp.connect("192.0.2.9", 80, local_ip="10.2.0.2")
    sim.run(0.5)
    assert len([x for x, _ in v4(seen2, PROTO_TCP)]) == 1 and not v4(seen1, PROTO_TCP)
    chosen = []

    def ip4_route_src(stack, src, dest):
        chosen.append((src, dest))
        return stack.netif_by_name("en0")  # every known source out of en0

    h.hooks.ip4_route_src = ip4_route_src
    pcb = h.udp.new()
    pcb.bind("10.2.0.2", 0)
    pcb.sendto(b"x", "192.0.2.10", 9)
    sim.run(0.5)
    assert udp_to(seen1, "192.0.2.10") and not udp_to(seen2, "192.0.2.10")
    assert chosen == [(IPv4Address("10.2.0.2"), IPv4Address("192.0.2.10"))]
    h.hooks.ip4_route_src = None  # lwIP without the hook: the table (default netif en0) for everything
    pcb.sendto(b"y", "192.0.2.11", 9)
    sim.run(0.5)
    assert udp_to(seen1, "192.0.2.11") and not udp_to(seen2, "192.0.2.11")


def test_a_netif_going_down_is_no_source_route_and_the_default_moves():
    sim, h, g1, g2, seen1, seen2 = two_homed()
    en0, en1 = h.netif_by_name("en0"), h.netif_by_name("en1")
    en0.set_link_up(False)
    assert h.default_netif is en1
    pcb = h.udp.new()
    pcb.sendto(b"z", "192.0.2.12", 9)
    sim.run(0.5)
    assert [x.src for x in udp_to(seen2, "192.0.2.12")] == [IPv4Address("10.2.0.2").packed]


# -- ip4_canforward ------------------------------------------------------------------------------------------------
def routed():
    sim = Simulation(seed=5)
    hub1, hub2 = sim.hub(), sim.hub()
    seen2 = record(hub2)
    a = sim.add_stack("a", hub1, ip="10.1.0.2/24", gateway="10.1.0.1")
    r = sim.new_stack("r", Config(ip_forward=True))
    sim.attach(r, hub1, ip="10.1.0.1/24")
    sim.attach(r, hub2, ip="10.2.0.1/24")
    b = sim.add_stack("b", hub2, ip="10.2.0.2/24", gateway="10.2.0.1")
    return sim, a, r, b, seen2


def test_ip4_canforward_hook_refuses_what_lwip_would_forward():
    sim, a, r, b, seen2 = routed()
    asked = []

    def canforward(stack, packet, dest):
        asked.append(dest)
        return 0 if dest == IPv4Address("10.2.0.2") else -1

    r.hooks.ip4_canforward = canforward
    ping = PingSession(a, "10.2.0.2", count=1, timeout=1)
    sim.run_until(lambda: ping.done, 5)
    assert ping.received == 0 and asked == [IPv4Address("10.2.0.2")]
    assert not v4(seen2, PROTO_ICMP)
    r.hooks.ip4_canforward = lambda stack, packet, dest: -1  # lwIP's own rules
    ping = PingSession(a, "10.2.0.2", count=1, timeout=1)
    sim.run_until(lambda: ping.done, 5)
    assert ping.received == 1 and v4(seen2, PROTO_ICMP)


def test_ip4_canforward_hook_forwards_what_lwip_would_not():
    sim, a, r, b, seen2 = routed()
    r.routes.add("240.0.0.0/8", r.netif_by_name("en1"), "10.2.0.2")
    pcb = a.udp.new()
    pcb.sendto(b"class e", "240.1.2.3", 9)
    sim.run(1)
    assert not udp_to(seen2, "240.1.2.3")  # ip4_canforward: IP_EXPERIMENTAL is not routed
    r.hooks.ip4_canforward = lambda stack, packet, dest: 1 if dest.packed[0] == 240 else -1
    pcb.sendto(b"class e", "240.1.2.3", 9)
    sim.run(1)
    assert len(udp_to(seen2, "240.1.2.3")) == 1


# -- IPv6 ----------------------------------------------------------------------------------------------------------
def test_ip6_input_hook_eats_packets_and_the_esp_idf_default_ignores_a_netif_without_link_local():
    sim = Simulation(seed=6)
    hub = sim.hub()
    seen = record(hub)
    r = sim.add_stack("r", hub, ip6_linklocal=True, ip6="2001:db8::1/64")
    h = sim.add_stack("h", hub, Config(ipv6_autoconfig=True))  # IPv6 on, but no link-local address made
    RouterAdvertiser(r).advertise(r.netif_by_name("en0"), AdvertConfig(max_interval=4))
    en0 = h.netif_by_name("en0")
    sim.run(10)
    assert en0.ip6_addrs == [] and h.nd6.routers == []  # ESP-IDF's lwip_hook_ip6_input ate the advertisements
    h.hooks.ip6_input = None  # CONFIG_LWIP_HOOK_IP6_INPUT_NONE: lwIP takes them
    sim.run(10)
    assert [a.origin for a in en0.ip6_addrs] == ["slaac"] and h.nd6.routers

    en0.create_ip6_linklocal()
    sim.run(3)
    target = en0.ip6_addrs[0].address
    h.hooks.ip6_input = lambda stack, packet, netif: packet[6] == 58  # eat ICMPv6 (no extension headers here)
    before = len(v6(seen, 58))
    ping = PingSession(r, target, count=1, timeout=1)
    sim.run_until(lambda: ping.done, 5)
    assert ping.received == 0 and not [x for x, _ in v6(seen, 58)[before:] if x.src == target.packed]


def two_homed6():
    """``h`` with en0 on hub1 and en1 on hub2 (link-local addresses, DAD off); a static route to 2001:db8:9::/64 via
    fe80::1 on en0 and a default route via fe80::2 on en1."""
    sim = Simulation(seed=7)
    hub1, hub2 = sim.hub(), sim.hub()
    seen1, seen2 = record(hub1), record(hub2)
    cfg = Config(ipv6_dup_detect_attempts=0)
    h = sim.add_stack("h", hub1, cfg, ip6_linklocal=True, ip6="2001:db8:1::2/64")
    sim.attach(h, hub2, ip6_linklocal=True, ip6=["2001:db8:2::2/64", "2001:db8:2::3/64"])
    en0, en1 = h.netif_by_name("en0"), h.netif_by_name("en1")
    h.nd6.add_route("2001:db8:9::/64", en0, via="fe80::1")
    h.nd6.add_route("::/0", en1, via="fe80::2")
    sim.run(1)
    return sim, h, en0, en1, seen1, seen2


def solicited(seen):
    """The targets of the neighbour solicitations in ``seen``."""
    return [bytes(p[8:24]) for h, p in v6(seen, 58) if p[0] == 135]


def test_ip6_route_hook_chooses_the_netif():
    sim, h, en0, en1, seen1, seen2 = two_homed6()
    pcb = h.udp.new(ip6=True)
    pcb.sendto(b"a", "2001:db8:9::9", 9)
    sim.run(0.5)
    assert IPv6Address("fe80::1").packed in solicited(seen1) and IPv6Address("fe80::2").packed not in solicited(seen2)
    asked = []

    def ip6_route(stack, src, dest):
        asked.append((src, dest))
        return en1

    h.hooks.ip6_route = ip6_route
    pcb.sendto(b"b", "2001:db8:9::10", 9)
    sim.run(0.5)
    assert IPv6Address("fe80::2").packed in solicited(seen2)
    assert asked == [(None, IPv6Address("2001:db8:9::10"))]


def test_nd6_get_gw_hook_gives_the_next_hop():
    sim, h, en0, en1, seen1, seen2 = two_homed6()
    h.hooks.nd6_get_gw = lambda stack, netif, dest: IPv6Address("fe80::99") if netif is en1 else None
    pcb = h.udp.new(ip6=True)
    pcb.sendto(b"c", "2001:db8:7::7", 9)  # the default route: en1, where the hook says fe80::99
    sim.run(0.5)
    targets = solicited(seen2)
    assert IPv6Address("fe80::99").packed in targets and IPv6Address("fe80::2").packed not in targets


def test_ip6_select_source_address_hook_chooses_the_source():
    sim, h, en0, en1, seen1, seen2 = two_homed6()
    sim.add_stack("peer", sim.hubs[1], Config(ipv6_dup_detect_attempts=0), ip6_linklocal=True, ip6="2001:db8:2::9/64")
    pcb = h.udp.new(ip6=True)
    pcb.sendto(b"d", "2001:db8:2::9", 9)  # on-link on en1; RFC 6724 picks the longest match, ::2 on a tie
    h.hooks.ip6_select_source_address = lambda stack, netif, dest: IPv6Address("2001:db8:2::3")
    pcb.sendto(b"e", "2001:db8:2::9", 9)
    sim.run(3)
    sources = [x.src for x, p in v6(seen2, PROTO_UDP)]
    assert sources == [IPv6Address("2001:db8:2::2").packed, IPv6Address("2001:db8:2::3").packed]


# -- the hook file -------------------------------------------------------------------------------------------------
def test_a_hook_file_installs_its_functions_through_config(tmp_path):
    path = tmp_path / "my_hooks.py"
    path.write_text("def _helper(x):\n    return x\n\n"
                    "def tcp_isn(stack, local_ip, local_port, remote_ip, remote_port):\n    return _helper(777)\n\n"
                    "def ip4_input(stack, packet, netif):\n    return False\n")
    sim = Simulation(seed=1)
    s = sim.new_stack("s", Config(hooks_file=str(path)))
    assert s.hooks.installed == ["tcp_isn", "ip4_input"]
    assert s.hooks.tcp_isn(s, None, 0, None, 0) == 777
    assert Hooks().ip4_route_src is not None and Hooks().ip6_input is not None  # ESP-IDF's defaults


@pytest.mark.parametrize("text, words", [
    ("def ip4_rout_src(stack, src, dest):\n    pass\n", ["ip4_rout_src", "ip4_route_src"]),
    ("def lwip_hook_ip6_route(stack, src, dest):\n    pass\n", ["lwip_hook_ip6_route", "ip6_route"]),
    ("def ip6_route(src, dest):\n    pass\n", ["ip6_route", "stack, src, dest"]),
    ("x = 1\n", ["none of the hooks"]),
    ("def tcp_isn(stack, a, b, c, d):\n    return 1\nraise RuntimeError('boom')\n", ["RuntimeError", "boom"]),
])
def test_a_bad_hook_file_is_a_clear_error(tmp_path, text, words):
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_hooks_file(str(path))
    for word in words:
        assert word in str(e.value)
    with pytest.raises(ConfigError):
        Simulation().new_stack("s", Config(hooks_file=str(path)))
