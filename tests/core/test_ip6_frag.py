"""IPv6 fragmentation and reassembly (RFC 8200 4.5): two stacks in virtual time, and scapy-built fragments (an
independent encoder) for the edge cases."""

from __future__ import annotations

import hashlib
import os

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (ICMPv6PacketTooBig, ICMPv6ParamProblem, ICMPv6TimeExceeded, IPv6,
                                IPv6ExtHdrFragment, fragment6)
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.sim import Simulation

A6, B6 = "2001:db8::1", "2001:db8::2"


def pair(reassembly=True, faults=None):
    sim = Simulation(seed=8)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False, ip6_reassembly=reassembly, ipv6_dup_detect_attempts=0,
                 ip_reass_max_pbufs=64)  # 20 KB is 14 fragments: more than ESP-IDF's 10
    a = sim.add_stack("a", hub, cfg, ip6=f"{A6}/64", faults=faults)
    b = sim.add_stack("b", hub, cfg, ip6=f"{B6}/64")
    sim.run(0.5)
    return sim, hub, a, b


def test_large_datagrams_are_fragmented_and_reassembled_intact_under_reordering_and_duplication():
    sim, hub, a, b = pair(faults=dict(reorder=0.2, duplicate=0.1))
    rx = b.udp.new(ip6=True)
    rx.bind("::", 4000)
    tx = a.udp.new(ip6=True)
    tx.sendto(b"resolve first", B6, 4000)  # neighbour discovery queues 3 packets at most (nd6_max_queued)
    sim.run(0.2)
    assert rx.recv().data == b"resolve first"
    sent = [os.urandom(20000 + i * 777) for i in range(5)]
    for data in sent:
        tx.sendto(data, B6, 4000)
        sim.run(0.2)
    got = []
    while (d := rx.recv()) is not None:
        got.append(hashlib.sha256(d.data).digest())
    assert got == [hashlib.sha256(d).digest() for d in sent]
    assert a.stats.ip6_frag.xmit >= 5 * 14 and b.stats.ip6_frag.recv >= a.stats.ip6_frag.xmit
    assert not b.ip6.reass.buffer.pending  # nothing left half-done


def test_without_ip6_reassembly_fragments_are_dropped():
    sim, hub, a, b = pair(reassembly=False)
    rx = b.udp.new(ip6=True)
    rx.bind("::", 4000)
    a.udp.new(ip6=True).sendto(b"x" * 3000, B6, 4000)
    sim.run(0.2)
    assert rx.recv() is None and b.stats.ip6.drop >= 3


def test_packet_too_big_lowers_the_path_mtu_and_later_packets_fit_it():
    sim, hub, a, b = pair()
    seen = []
    hub.taps.append(lambda port, frame: seen.append(Ether(frame)) if port.name == "a" else None)
    netif = a.netifs[-1]
    quoted = bytes(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2) / (b"q" * 1200))[:1232]
    ptb = Ether(dst=":".join(f"{x:02x}" for x in netif.hwaddr)) / IPv6(src=B6, dst=A6) / ICMPv6PacketTooBig(mtu=1280) / \
        quoted
    a.input(netif, bytes(ptb), sim.now)
    assert a.nd6.path_mtus[bytes.fromhex("20010db8000000000000000000000002")] == 1280
    rx = b.udp.new(ip6=True)
    rx.bind("::", 4001)
    a.udp.new(ip6=True).sendto(b"y" * 1400, B6, 4001)  # fits 1500, not 1280
    sim.run(0.2)
    frags = [f for f in seen if f.haslayer(IPv6ExtHdrFragment)]
    assert len(frags) == 2 and all(len(f[IPv6]) <= 1280 for f in frags)
    assert rx.recv().data == b"y" * 1400


def frags_to_b(b, payload_len=3000, ident=7):
    pkt = IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=ident) / UDP(sport=9, dport=4002) / (b"z" * payload_len)
    mac = ":".join(f"{x:02x}" for x in b.netifs[-1].hwaddr)
    return [bytes(Ether(dst=mac, src="02:00:00:00:00:aa") / f) for f in fragment6(pkt, 1280)]


def test_an_incomplete_packet_times_out_with_time_exceeded_when_its_first_fragment_came():
    sim, hub, a, b = pair()
    b.nd6.learn(b.netifs[-1], bytes.fromhex("20010db8000000000000000000000001"), bytes.fromhex("0200000000aa"))
    sent = []
    hub.taps.append(lambda port, frame: sent.append(Ether(frame)) if port.name == "b" else None)
    parts = frags_to_b(b)
    for part in parts[:-1]:  # the last one never comes
        b.input(b.netifs[-1], part, sim.now)
    t0 = sim.now
    sim.run(59.0)
    assert not [f for f in sent if f.haslayer(ICMPv6TimeExceeded)]
    sim.run(1.5)
    [te] = [f for f in sent if f.haslayer(ICMPv6TimeExceeded)]
    assert te[ICMPv6TimeExceeded].code == 1 and te[IPv6].dst == A6 and sim.now - t0 >= 60.0
    for part in parts[1:]:  # without the first fragment: dropped quietly at the timeout
        b.input(b.netifs[-1], part, sim.now)
    sim.run(61.0)
    assert len([f for f in sent if f.haslayer(ICMPv6TimeExceeded)]) == 1


def test_overlaps_drop_the_packet_and_ragged_fragments_get_a_parameter_problem():
    sim, hub, a, b = pair()
    b.nd6.learn(b.netifs[-1], bytes.fromhex("20010db8000000000000000000000001"), bytes.fromhex("0200000000aa"))
    rx = b.udp.new(ip6=True)
    rx.bind("::", 4002)
    parts = frags_to_b(b, ident=10)
    shifted = Ether(parts[1])
    shifted[IPv6ExtHdrFragment].offset += 1  # 8 bytes further on: it overlaps the real second fragment
    b.input(b.netifs[-1], parts[0], sim.now)
    b.input(b.netifs[-1], bytes(shifted), sim.now)
    b.input(b.netifs[-1], parts[1], sim.now)  # the overlap: the whole packet goes (RFC 5722)
    for part in parts[2:]:
        b.input(b.netifs[-1], part, sim.now)
    assert rx.recv() is None and b.stats.ip6_frag.proterr == 1
    for part in frags_to_b(b, ident=12):  # the same data, no overlap: delivered
        b.input(b.netifs[-1], part, sim.now)
    assert rx.recv().data == b"z" * 3000
    sent = []
    hub.taps.append(lambda port, frame: sent.append(Ether(frame)) if port.name == "b" else None)
    ragged = bytearray(frags_to_b(b, ident=11)[0])
    ragged = ragged[:-3]
    ragged[14 + 4:14 + 6] = (len(ragged) - 14 - 40).to_bytes(2, "big")
    b.input(b.netifs[-1], bytes(ragged), sim.now)
    sim.run(0.1)
    [pp] = [f for f in sent if f.haslayer(ICMPv6ParamProblem)]
    assert pp[ICMPv6ParamProblem].code == 0 and pp[ICMPv6ParamProblem].ptr == 4


def test_packet_too_big_makes_tcp_send_smaller_segments():
    sim, hub, a, b = pair()
    lst = b.tcp.listen(5000, "::")
    lst.on_event = lambda listener: listener.accept()
    c = a.tcp.connect(B6, 5000)
    sim.run(0.5)
    assert c.state_name == "ESTABLISHED" and c.snd_mss == 1440
    netif = a.netifs[-1]
    quoted = bytes(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2) / (b"q" * 1200))[:1232]
    ptb = Ether(dst=":".join(f"{x:02x}" for x in netif.hwaddr)) / IPv6(src=B6, dst=A6) / ICMPv6PacketTooBig(mtu=1280) / \
        quoted
    a.input(netif, bytes(ptb), sim.now)
    assert c.snd_mss == 1220  # 1280 less the IPv6 and TCP headers
