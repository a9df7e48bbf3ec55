"""UDP pcbs: binding rules, delivery choice, broadcast/multicast, checksums, queue limits, ICMP errors."""

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, make_stack
from lwipy import LwipError
from lwipy.sim import Simulation
from lwipy.wire.ethernet import mac_to_str

PEER = "10.0.0.9"
ETH = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))
BCAST = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC))


def udp_frame(dport=5000, sport=4000, data=b"hi", src=PEER, dst="10.0.0.1", eth=ETH, chksum=None):
    u = UDP(sport=sport, dport=dport)
    if chksum is not None:
        u.chksum = chksum
    return bytes(eth / IP(src=src, dst=dst) / u / data)


def test_bind_conflicts_and_reuse():
    stack, netif, dev = make_stack()
    a = stack.udp.new()
    a.bind(None, 5000)
    b = stack.udp.new()
    with pytest.raises(LwipError) as e:
        b.bind("10.0.0.1", 5000)
    assert e.value.errno == 98  # EADDRINUSE
    a.reuse_addr = b.reuse_addr = True
    b.bind("10.0.0.1", 5000)
    c = stack.udp.new()
    with pytest.raises(LwipError) as e:
        c.bind("192.0.2.1", 0)
    assert e.value.errno == 99  # EADDRNOTAVAIL


def test_ephemeral_ports_are_in_lwip_range_and_distinct():
    stack, netif, dev = make_stack()
    ports = set()
    for _ in range(16):
        pcb = stack.udp.new()
        pcb.bind(None, 0)
        ports.add(pcb.local_port)
    assert len(ports) == 16 and all(0xC000 <= p <= 0xFFFF for p in ports)


def test_pcb_limit_is_enomem():
    stack, netif, dev = make_stack(max_udp_pcbs=2)
    stack.udp.new()
    stack.udp.new()
    with pytest.raises(LwipError) as e:
        stack.udp.new()
    assert e.value.errno == 12


def test_connected_pcb_wins_over_unconnected_and_filters_others():
    stack, netif, dev = make_stack()
    wild = stack.udp.new()
    wild.bind(None, 5000)
    wild.reuse_addr = True
    conn = stack.udp.new()
    conn.reuse_addr = True
    conn.bind(None, 5000)
    conn.connect(PEER, 4000)
    stack.input(netif, udp_frame(sport=4000, data=b"for conn"), 0.0)
    stack.input(netif, udp_frame(sport=4001, data=b"for wild"), 0.0)
    assert [d.data for d in conn.queue] == [b"for conn"]
    assert [d.data for d in wild.queue] == [b"for wild"]


def test_broadcast_goes_to_every_reusing_pcb_rxtoall():
    stack, netif, dev = make_stack()
    pcbs = []
    for _ in range(3):
        pcb = stack.udp.new()
        pcb.reuse_addr = True
        pcb.bind(None, 6000)
        pcbs.append(pcb)
    stack.input(netif, udp_frame(dport=6000, dst="10.0.0.255", eth=BCAST), 0.0)
    stack.input(netif, udp_frame(dport=6000, dst="255.255.255.255", eth=BCAST), 0.0)
    assert [len(p.queue) for p in pcbs] == [2, 2, 2]
    stack.input(netif, udp_frame(dport=6000), 0.0)  # unicast: one pcb only
    assert sum(len(p.queue) for p in pcbs) == 7


def test_broadcast_goes_to_one_pcb_without_rxtoall():
    stack, netif, dev = make_stack(so_reuse_rxtoall=False)
    pcbs = []
    for _ in range(2):
        pcb = stack.udp.new()
        pcb.reuse_addr = True
        pcb.bind(None, 6000)
        pcbs.append(pcb)
    stack.input(netif, udp_frame(dport=6000, dst="10.0.0.255", eth=BCAST), 0.0)
    assert [len(p.queue) for p in pcbs] == [1, 0]


def test_checksum_zero_is_accepted_and_a_bad_one_dropped_when_checking():
    stack, netif, dev = make_stack(checksum_check_udp=True)
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    stack.input(netif, udp_frame(chksum=0, data=b"no checksum"), 0.0)
    stack.input(netif, udp_frame(chksum=0x1234, data=b"bad checksum"), 0.0)
    stack.input(netif, udp_frame(data=b"good"), 0.0)
    assert [d.data for d in pcb.queue] == [b"no checksum", b"good"]
    assert stack.stats.udp.chkerr == 1


def test_bad_length_is_dropped_and_counted():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    frame = bytearray(udp_frame(data=b"abcd"))
    frame[14 + 20 + 4:14 + 20 + 6] = (200).to_bytes(2, "big")  # UDP length beyond the IP payload
    stack.input(netif, bytes(frame), 0.0)
    frame[14 + 20 + 4:14 + 20 + 6] = (3).to_bytes(2, "big")  # below the header
    stack.input(netif, bytes(frame), 0.0)
    assert not pcb.queue and stack.stats.udp.lenerr == 2


def test_receive_queue_is_bounded_by_recvmbox_size():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    for i in range(10):
        stack.input(netif, udp_frame(data=bytes([i])), 0.0)
    assert len(pcb.queue) == 6 and stack.stats.udp.memerr == 4


def test_port_unreachable_for_closed_port_and_econnrefused_on_connected_pcb():
    sim = Simulation(seed=2)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    sim.add_stack("b", hub, ip="10.0.0.2/24")
    pcb = a.udp.new()
    events = []
    pcb.on_event = lambda p: events.append(p.error)
    pcb.connect("10.0.0.2", 9999)
    pcb.send(b"anyone?")
    sim.run(0.1)
    assert events == [111] and pcb.take_error() == 111 and pcb.error == 0


def test_send_errors():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    with pytest.raises(LwipError) as e:
        pcb.send(b"x")
    assert e.value.errno == 89  # EDESTADDRREQ
    with pytest.raises(LwipError) as e:
        pcb.sendto(b"x" * 70000, PEER, 9)
    assert e.value.errno == 90  # EMSGSIZE
    stack.etharp.add_static(PEER, PEER_MAC)
    dev.full = True
    with pytest.raises(LwipError) as e:
        pcb.sendto(b"x", PEER, 9)
    assert e.value.errno == 12  # ENOMEM: the driver's queue is full, as ESP-IDF reports
    pcb.close()
    with pytest.raises(LwipError) as e:
        pcb.sendto(b"x", PEER, 9)
    assert e.value.errno == 9  # EBADF


def test_no_checksum_option_sends_zero():
    stack, netif, dev = make_stack()
    stack.etharp.add_static(PEER, PEER_MAC)
    pcb = stack.udp.new()
    pcb.no_checksum = True
    pcb.sendto(b"x", PEER, 9)
    pcb.no_checksum = False
    pcb.sendto(b"x", PEER, 9)
    sums = [Ether(f)[UDP].chksum for f in dev.take()]
    assert sums[0] == 0 and sums[1] != 0


def test_multicast_join_receive_loop_and_leave():
    sim = Simulation(seed=4)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    c = sim.add_stack("c", hub, ip="10.0.0.3/24")
    rx_b = b.udp.new()
    rx_b.bind(None, 7000)
    rx_b.join_group("239.1.2.3")
    rx_c = c.udp.new()
    rx_c.bind(None, 7000)  # not joined: must not receive
    tx = a.udp.new()
    tx.bind(None, 7000)
    tx.join_group("239.1.2.3")
    tx.sendto(b"group hello", "239.1.2.3", 7000)
    sim.run(0.1)
    assert [d.data for d in rx_b.queue] == [b"group hello"]
    assert [d.data for d in tx.queue] == [b"group hello"]  # IP_MULTICAST_LOOP, on by default
    assert not rx_c.queue
    rx_b.leave_group("239.1.2.3")
    tx.multicast_loop = False
    tx.sendto(b"again", "239.1.2.3", 7000)
    sim.run(0.1)
    assert len(rx_b.queue) == 1 and len(tx.queue) == 1
    frames = []
    hub.taps.append(lambda port, f: frames.append(Ether(f)))
    tx.sendto(b"ttl", "239.1.2.3", 7000)
    sim.run(0.1)
    (m,) = [f for f in frames if f.haslayer(UDP)]
    assert m.dst == "01:00:5e:01:02:03" and m[IP].ttl == 1  # IP_MULTICAST_TTL defaults to 1


def test_close_leaves_groups():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.join_group("239.9.9.9")
    assert stack.igmp.is_member(netif, __import__("ipaddress").IPv4Address("239.9.9.9"))
    pcb.close()
    assert stack.igmp.memberships(netif) == []
    assert stack.udp.pcbs == []


def test_pcb_bound_to_the_address_wins_over_one_bound_to_any():
    stack, netif, dev = make_stack()
    wild = stack.udp.new()
    wild.reuse_addr = True
    wild.bind(None, 5000)
    specific = stack.udp.new()
    specific.reuse_addr = True
    specific.bind("10.0.0.1", 5000)
    stack.input(netif, udp_frame(), 0.0)
    assert len(specific.queue) == 1 and not wild.queue


def test_close_after_the_netif_went_away_still_frees_the_pcb():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    pcb.join_group("239.1.1.1")
    stack.remove_netif(netif)
    pcb.close()
    assert pcb.closed and stack.udp.pcbs == [] and 5000 not in stack.udp.by_port
