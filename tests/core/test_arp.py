"""ARP cache, queueing, timeouts, gratuitous ARP (scapy builds the peer's frames)."""

from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from helpers import OWN_MAC, PEER_MAC, make_stack
from lwipy.core.etharp import PENDING, STABLE, STATIC
from lwipy.wire.ethernet import mac_to_str

PEER = "10.0.0.9"


def arp_reply(to_ip="10.0.0.1", from_ip=PEER, mac=PEER_MAC):
    return bytes(Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(mac)) /
                 ARP(op=2, hwsrc=mac_to_str(mac), psrc=from_ip, hwdst=mac_to_str(OWN_MAC), pdst=to_ip))


def send_udp(stack, data=b"x", dst=PEER, port=9):
    pcb = stack.udp.new()
    pcb.sendto(data, dst, port)
    return pcb


def test_request_is_sent_once_a_second_until_maxpending_then_queue_dropped():
    stack, netif, dev = make_stack()
    send_udp(stack)
    first = [Ether(f) for f in dev.take()]
    assert len(first) == 1 and first[0][ARP].op == 1 and first[0][ARP].pdst == PEER
    assert first[0].dst == "ff:ff:ff:ff:ff:ff"
    assert stack.poll_at() == 1.0
    for t in (1.0, 2.0, 3.0, 4.0):
        stack.poll(t)
        frames = [Ether(f) for f in dev.take()]
        assert len(frames) == 1 and frames[0][ARP].pdst == PEER, t
    assert stack.poll_at() == 5.0  # arp_maxpending: the entry and its queue go at 5 s
    stack.poll(5.0)
    assert dev.take() == []
    assert stack.etharp.entries() == []
    assert stack.stats.etharp.drop == 1
    assert stack.poll_at() == 60.0  # only the gratuitous ARP timer is left


def test_reply_flushes_the_queue_in_order_and_entry_lives_arp_maxage():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    for i in range(3):
        pcb.sendto(bytes([i]), PEER, 9)
    dev.take()
    stack.input(netif, arp_reply(), 0.5)
    frames = [Ether(f) for f in dev.take()]
    assert [bytes(f[UDP].payload) for f in frames] == [b"\x00", b"\x01", b"\x02"]
    assert all(f.dst == mac_to_str(PEER_MAC) for f in frames)
    (entry,) = stack.etharp.entries()
    assert entry.state == STABLE and entry.expires == 0.5 + 300.0
    stack.poll(300.5)
    assert stack.etharp.entries() == []


def test_queue_is_bounded_and_the_new_packet_is_dropped():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    for i in range(3):
        pcb.sendto(bytes([i]), PEER, 9)
    try:
        pcb.sendto(b"\x03", PEER, 9)
        raised = None
    except OSError as e:
        raised = e.errno
    assert raised == 12  # ENOMEM, as lwIP's ERR_MEM from a full ARP queue
    assert stack.stats.etharp.memerr == 1
    dev.take()
    stack.input(netif, arp_reply(), 0.1)
    assert [bytes(Ether(f)[UDP].payload) for f in dev.take()] == [b"\x00", b"\x01", b"\x02"]


def test_request_for_us_is_answered_and_sender_cached():
    stack, netif, dev = make_stack()
    req = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC)) / ARP(
        op=1, hwsrc=mac_to_str(PEER_MAC), psrc=PEER, pdst="10.0.0.1")
    stack.input(netif, bytes(req), 0.0)
    (reply,) = [Ether(f) for f in dev.take()]
    assert reply[ARP].op == 2 and reply[ARP].hwsrc == mac_to_str(OWN_MAC) and reply[ARP].psrc == "10.0.0.1"
    assert reply.dst == mac_to_str(PEER_MAC) and reply[ARP].pdst == PEER
    assert stack.etharp.lookup(PEER) == PEER_MAC


def test_request_for_someone_else_is_not_answered_nor_cached():
    stack, netif, dev = make_stack()
    req = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC)) / ARP(
        op=1, hwsrc=mac_to_str(PEER_MAC), psrc=PEER, pdst="10.0.0.77")
    stack.input(netif, bytes(req), 0.0)
    assert dev.take() == []
    assert stack.etharp.entries() == []


def test_used_entry_is_asked_again_by_unicast_before_it_expires():
    stack, netif, dev = make_stack()
    stack.input(netif, arp_reply(), 0.0)
    pcb = stack.udp.new()
    stack.now = 269.0
    pcb.sendto(b"a", PEER, 9)
    assert [Ether(f).haslayer(ARP) for f in dev.take()] == [False]
    stack.now = 271.0
    pcb.sendto(b"b", PEER, 9)
    frames = [Ether(f) for f in dev.take()]
    arp = [f for f in frames if f.haslayer(ARP)]
    assert len(arp) == 1 and arp[0].dst == mac_to_str(PEER_MAC) and arp[0][ARP].op == 1
    stack.input(netif, arp_reply(), 271.1)
    assert stack.etharp.entries()[0].expires == 271.1 + 300.0


def test_static_entry_never_expires_and_is_not_overwritten():
    stack, netif, dev = make_stack()
    stack.etharp.add_static(PEER, PEER_MAC)
    stack.input(netif, arp_reply(mac=bytes.fromhex("02aaaaaaaaaa")), 1.0)
    stack.poll(10000.0)
    (entry,) = stack.etharp.entries()
    assert entry.state == STATIC and entry.mac == PEER_MAC
    dev.take()
    send_udp(stack)
    assert Ether(dev.take()[0]).dst == mac_to_str(PEER_MAC)


def test_static_entry_takes_a_mac_string_as_add_netif_does():
    stack, netif, dev = make_stack()
    entry = stack.etharp.add_static(PEER, mac_to_str(PEER_MAC).upper())
    assert entry.state == STATIC and entry.mac == PEER_MAC
    assert stack.etharp.add_static("10.0.0.51", "02-00-00-00-00-33").mac == bytes.fromhex("020000000033")
    for bad in ("02:00:00:00:00", b"\2\0\0"):
        with pytest.raises(ValueError):
            stack.etharp.add_static("10.0.0.52", bad)


def test_full_table_evicts_oldest_stable_entry_but_never_static():
    stack, netif, dev = make_stack(arp_table_size=3)
    stack.etharp.add_static("10.0.0.50", PEER_MAC)
    stack.input(netif, arp_reply(from_ip="10.0.0.20"), 1.0)
    stack.input(netif, arp_reply(from_ip="10.0.0.21"), 2.0)
    stack.input(netif, arp_reply(from_ip="10.0.0.22"), 3.0)
    ips = sorted(str(e.ip) for e in stack.etharp.entries())
    assert ips == ["10.0.0.21", "10.0.0.22", "10.0.0.50"]


def test_gratuitous_arp_on_address_set_and_every_interval():
    stack, netif, dev = make_stack()
    netif.set_ipv4("10.0.0.5/24")
    (garp,) = [Ether(f) for f in dev.take()]
    assert garp[ARP].op == 1 and garp[ARP].psrc == garp[ARP].pdst == "10.0.0.5" and garp.dst == "ff:ff:ff:ff:ff:ff"
    assert stack.poll_at() == 60.0
    stack.poll(60.0)
    assert len(dev.take()) == 1
    assert stack.poll_at() == 120.0


def test_gratuitous_arp_off():
    stack, netif, dev = make_stack(esp_gratuitous_arp=False)
    netif.set_ipv4("10.0.0.5/24")
    assert len(dev.take()) == 1  # announced once when set, as lwIP's netif_set_ipaddr does
    assert stack.poll_at() is None


def test_arp_claiming_our_address_is_not_cached():
    stack, netif, dev = make_stack()
    stack.input(netif, arp_reply(from_ip="10.0.0.1"), 0.0)
    assert stack.etharp.entries() == []
    assert stack.stats.etharp.err == 1


def test_arp_under_loss_resolves_by_retrying():
    from lwipy.apps import PingSession
    from lwipy.sim import Simulation

    sim = Simulation(seed=3)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24", faults=dict(loss=0.3))
    sim.add_stack("b", hub, ip="10.0.0.2/24", faults=dict(loss=0.3))
    ping = PingSession(a, "10.0.0.2", count=20, interval=1.0, timeout=0.9)
    assert sim.run_until(lambda: ping.done, 60)
    assert a.etharp.lookup("10.0.0.2") is not None
    assert a.stats.etharp.xmit >= 2  # it took retries
    assert ping.received > 0


def test_pending_entry_state_is_visible():
    stack, netif, dev = make_stack()
    send_udp(stack)
    (entry,) = stack.etharp.entries()
    assert entry.state == PENDING and entry.mac is None and entry.ip == IPv4Address(PEER)


def test_ip_packet_from_known_peer_is_delivered_without_arp_traffic():
    stack, netif, dev = make_stack()
    stack.input(netif, arp_reply(), 0.0)
    ping = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC)) / IP(src=PEER, dst="10.0.0.1") / ICMP(id=1, seq=1)
    stack.input(netif, bytes(ping), 0.1)
    (reply,) = [Ether(f) for f in dev.take()]
    assert reply[ICMP].type == 0


def test_static_entry_over_a_pending_one_stops_the_requests():
    stack, netif, dev = make_stack(esp_gratuitous_arp=False)
    send_udp(stack)
    dev.take()
    stack.etharp.add_static(PEER, PEER_MAC)
    assert len(dev.take()) == 1  # the queued datagram goes out
    assert stack.poll_at() is None
    stack.poll(10.0)
    assert dev.take() == []


def test_eviction_goes_by_last_update_not_by_creation():
    stack, netif, dev = make_stack(arp_table_size=3)
    stack.input(netif, arp_reply(from_ip="10.0.0.20"), 1.0)  # the gateway, say: created first...
    stack.input(netif, arp_reply(from_ip="10.0.0.21"), 2.0)
    stack.input(netif, arp_reply(from_ip="10.0.0.22"), 3.0)
    stack.input(netif, arp_reply(from_ip="10.0.0.20"), 4.0)  # ...but refreshed last
    stack.input(netif, arp_reply(from_ip="10.0.0.23"), 5.0)
    assert sorted(str(e.ip) for e in stack.etharp.entries()) == ["10.0.0.20", "10.0.0.22", "10.0.0.23"]


def test_broadcast_multicast_and_class_e_senders_are_not_cached():
    stack, netif, dev = make_stack()
    for ip in ("10.0.0.255", "239.1.1.1", "255.255.255.255", "240.0.0.1"):
        stack.input(netif, arp_reply(from_ip=ip), 0.0)
    assert stack.etharp.entries() == []
