"""UDP over IPv6 and dual-stack pcbs: two stacks on a virtual hub in virtual time, and scapy-crafted input."""

from __future__ import annotations

import errno
import ipaddress

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
from scapy.layers.l2 import Ether

from lwipy import Config, LwipError
from lwipy.core.addr6 import PREFERRED
from lwipy.sim import Simulation


def pair(**options):
    sim = Simulation(seed=4)
    hub = sim.hub()
    cfg = Config(**options)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", ip6_linklocal=True, ip6="2001:db8::1/64")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", ip6_linklocal=True, ip6="2001:db8::2/64")
    sim.run(3.0)
    assert all(x.state == PREFERRED for s in (a, b) for x in s.netifs[-1].ip6_addrs)
    return sim, hub, a, b


def test_datagrams_both_ways_over_ipv6_with_addresses_of_the_right_family():
    sim, hub, a, b = pair()
    rx = b.udp.new(ip6=True)
    rx.bind("::", 5000)
    tx = a.udp.new(ip6=True)
    tx.sendto(b"over ipv6", "2001:db8::2", 5000)
    sim.run(0.1)
    d = rx.recv()
    assert d.data == b"over ipv6" and d.src == ipaddress.IPv6Address("2001:db8::1") and d.src_port == tx.local_port
    assert d.dst == ipaddress.IPv6Address("2001:db8::2")
    rx.sendto(b"back", d.src, d.src_port)
    sim.run(0.1)
    assert tx.recv().data == b"back"
    ll_b = b.netifs[-1].ip6_addrs[0].address
    tx.sendto(b"link-local", ll_b, 5000)
    sim.run(0.1)
    got = rx.recv()
    assert got.data == b"link-local" and got.src == a.netifs[-1].ip6_addrs[0].address  # RFC 6724: same scope


def test_a_pcb_bound_to_any6_takes_ipv4_unless_v6only_and_mapped_addresses_mean_ipv4():
    sim, hub, a, b = pair()
    dual = b.udp.new(ip6=True)
    dual.bind("::", 6000)
    v4 = a.udp.new()
    v4.sendto(b"plain ipv4", "10.0.0.2", 6000)
    sim.run(0.1)
    d = dual.recv()
    assert d.data == b"plain ipv4" and d.src == ipaddress.IPv4Address("10.0.0.1")  # IPv4 as it came
    dual.sendto(b"to a mapped address", "::ffff:10.0.0.1", v4.local_port)
    sim.run(0.1)
    assert v4.recv().data == b"to a mapped address"  # sent over IPv4
    only = b.udp.new(ip6=True)
    only.v6only = True
    only.bind("::", 6001)
    errors = a.stats.icmp.recv
    v4.sendto(b"refused", "10.0.0.2", 6001)
    sim.run(0.1)
    assert only.recv() is None and a.stats.icmp.recv == errors + 1  # port unreachable: nobody takes IPv4 there
    with pytest.raises(LwipError) as e:
        only.sendto(b"x", "10.0.0.1", 9)
    assert e.value.errno == errno.ENETUNREACH
    with pytest.raises(LwipError) as e:
        v4.sendto(b"x", "2001:db8::2", 9)
    assert e.value.errno == errno.EAFNOSUPPORT


def test_bind_conflicts_across_families():
    sim, hub, a, b = pair()
    any6 = b.udp.new(ip6=True)
    any6.bind("::", 7000)
    any4 = b.udp.new()
    with pytest.raises(LwipError) as e:
        any4.bind("0.0.0.0", 7000)
    assert e.value.errno == errno.EADDRINUSE
    only = b.udp.new(ip6=True)
    only.v6only = True
    only.bind("::", 7001)
    any4.bind("0.0.0.0", 7001)  # V6ONLY leaves the IPv4 side of the port free
    with pytest.raises(LwipError) as e:
        b.udp.new(ip6=True).bind("2001:db8::99", 0)
    assert e.value.errno == errno.EADDRNOTAVAIL


def test_port_unreachable_over_ipv6_reaches_the_connected_pcb():
    sim, hub, a, b = pair()
    tx = a.udp.new(ip6=True)
    tx.connect("2001:db8::2", 9999)
    seen = []
    hub.taps.append(lambda port, frame: seen.append(Ether(frame)))
    tx.send(b"anyone?")
    sim.run(0.1)
    [err] = [f for f in seen if f.haslayer(ICMPv6DestUnreach)]
    assert err[ICMPv6DestUnreach].code == 4 and err[IPv6].src == "2001:db8::2"
    assert tx.take_error() == errno.ECONNREFUSED


def test_zero_or_bad_checksums_over_ipv6_are_dropped():
    sim, hub, a, b = pair()
    rx = b.udp.new(ip6=True)
    rx.bind("::", 5000)
    netif = b.netifs[-1]
    base = Ether(dst="33:33:00:00:00:01") / IPv6(src="fe80::a", dst="ff02::1") / UDP(sport=1, dport=5000)
    for bad in (base / b"zero", base / b"wrong"):
        frame = bytearray(bytes(bad))
        frame[14 + 40 + 6:14 + 40 + 8] = b"\0\0" if bytes(bad).endswith(b"zero") else b"\x12\x34"
        b.input(netif, bytes(frame), sim.now)
    assert rx.recv() is None and b.stats.udp.chkerr == 2
    b.input(netif, bytes(base / b"good"), sim.now)
    assert rx.recv().data == b"good"


def test_ipv6_multicast_join_send_loop_and_leave():
    sim, hub, a, b = pair()
    group = "ff02::1234"
    rx = b.udp.new(ip6=True)
    rx.reuse_addr = True
    rx.bind("::", 4242)
    rx.join_group(group)
    assert b.netifs[-1].ip6_groups.get(ipaddress.IPv6Address(group).packed) == 1
    local = a.udp.new(ip6=True)
    local.bind("::", 4242)
    local.join_group(group)
    tx = a.udp.new(ip6=True)
    tx.multicast_ttl = 1
    tx.sendto(b"to the group", group, 4242)
    sim.run(0.1)
    assert rx.recv().data == b"to the group"
    assert local.recv().data == b"to the group"  # IPV6_MULTICAST_LOOP: the sender's own member hears it too
    rx.leave_group(group)
    tx.sendto(b"again", group, 4242)
    sim.run(0.1)
    assert rx.recv() is None
    with pytest.raises(LwipError):
        rx.leave_group(group)
