"""Multicast loopback inside IP output (lwIP's ``PBUF_FLAG_MCASTLOOP``: ``ip4_output_if`` / ``ip6_output_if_src`` hand
a copy to ``netif_loop_output``): what a UDP or raw pcb sends to a group its netif joined comes back to the sending
stack, the very datagram that goes on the wire, whole before any fragmenting; not with the loop off, nor for a group
the netif did not join."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.sim import Simulation

G4, G6 = "239.1.2.4", "ff02::4321"
PROTO = 253  # RFC 3692: for experiments


def pair():
    sim = Simulation(seed=5)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False, ipv6_dup_detect_attempts=0, ip4_reassembly=True,
                 ip6_reassembly=True)  # the peer takes the fragments back into one
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", ip6="2001:db8::1/64")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", ip6="2001:db8::2/64")
    sim.run(0.5)
    wire = []
    hub.taps.append(lambda port, frame: wire.append(Ether(frame)) if port.name == "a" else None)
    return sim, a, b, wire


def join(stack, six: bool) -> None:
    netif = stack.netifs[-1]
    if six:
        stack.mld6.join(netif, IPv6Address(G6).packed)
    else:
        stack.igmp.join(netif, IPv4Address(G4))


def raw_pair(a, b, six: bool):
    tx, rx_a, rx_b = a.raw.new(PROTO, ip6=six), a.raw.new(PROTO, ip6=six), b.raw.new(PROTO, ip6=six)
    return tx, rx_a, rx_b


def test_raw_ipv4_multicast_is_looped_back_as_sent_only_with_the_loop_on():
    sim, a, b, wire = pair()
    join(a, False)
    join(b, False)
    tx, rx_a, rx_b = raw_pair(a, b, False)
    tx.sendto(b"loop off", G4)  # lwIP's raw_new leaves RAW_FLAGS_MULTICAST_LOOP off
    sim.run(0.1)
    assert rx_a.recv() is None and rx_b.recv().packet[20:] == b"loop off"
    tx.multicast_loop = True
    tx.sendto(b"loop on", G4)
    sim.run(0.1)
    looped, remote = rx_a.recv(), rx_b.recv()
    (sent,) = [f for f in wire if f.haslayer(IP) and f[IP].proto == PROTO and bytes(f[IP].payload) == b"loop on"]
    assert looped.packet == remote.packet == bytes(sent[IP])  # the same datagram, ident and checksum included
    assert looped.netif_index == a.netifs[-1].index and str(looped.dst) == G4


def test_raw_ipv6_multicast_is_looped_back_only_with_the_loop_on():
    sim, a, b, wire = pair()
    join(a, True)
    join(b, True)
    tx, rx_a, rx_b = raw_pair(a, b, True)
    tx.sendto(b"loop off", G6)
    sim.run(0.1)
    assert rx_a.recv() is None and rx_b.recv().packet == b"loop off"
    tx.multicast_loop = True
    tx.sendto(b"loop on", G6)
    sim.run(0.1)
    looped, remote = rx_a.recv(), rx_b.recv()
    assert looped.packet == remote.packet == b"loop on" and looped.dst == IPv6Address(G6)
    assert looped.src == IPv6Address("2001:db8::1") or looped.src.is_link_local


def test_no_loop_for_a_group_the_netif_did_not_join():
    sim, a, b, wire = pair()
    for six, group in ((False, G4), (True, G6)):
        tx, rx_a, _ = raw_pair(a, b, six)
        tx.multicast_loop = True
        before = a.stats.link.xmit
        tx.sendto(b"nobody here", group)
        assert a.stats.link.xmit == before + 1 and not a.loopback.queue  # on the wire only
        sim.run(0.1)
        assert rx_a.recv() is None


def test_udp_multicast_loops_the_whole_datagram_before_fragmenting_both_families():
    sim, a, b, wire = pair()
    for six, group, port in ((False, G4, 7100), (True, G6, 7106)):
        local, remote = a.udp.new(ip6=six), b.udp.new(ip6=six)
        for pcb in (local, remote):
            pcb.bind("::" if six else None, port)
            pcb.join_group(group)
        tx = a.udp.new(ip6=six)
        tx.multicast_ttl = 3
        data = bytes(range(256)) * 12  # 3072 bytes: fragments on a 1500-byte link
        wire.clear()
        tx.sendto(data, group, port)
        assert len(a.loopback.queue) == 1  # one whole datagram looped
        queued = bytes(a.loopback.queue[0][1])
        if six:
            assert IPv6(queued).hlim == 3 and not IPv6(queued).haslayer(IPv6ExtHdrFragment)
        else:
            assert IP(queued).ttl == 3 and IP(queued).flags == 0 and IP(queued).frag == 0
        sim.run(0.1)
        assert local.recv().data == data and remote.recv().data == data
        frags = [f for f in wire if f.haslayer(IPv6ExtHdrFragment if six else IP)]
        assert len(frags) >= 3
        tx.multicast_loop = False
        tx.sendto(b"not to myself", group, port)
        assert not a.loopback.queue
        sim.run(0.1)
        assert local.recv() is None and remote.recv().data == b"not to myself"
