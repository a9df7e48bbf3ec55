"""IPv4 input checks, routing, loopback, forwarding, fragmentation and reassembly."""

import hashlib
from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, UDP, fragment as scapy_fragment
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, CaptureDevice, make_stack
from lwipy import Config, LwipError, Stack
from lwipy.apps import PingSession, UdpEchoServer
from lwipy.sim import Simulation
from lwipy.wire.ethernet import mac_to_str

PEER = "10.0.0.9"
ETH = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))


def known_peer(stack, netif, ip=PEER):
    stack.etharp.add_static(ip, PEER_MAC, netif)


def echo_request(ident=1, seq=1, src=PEER, dst="10.0.0.1", **ip):
    return bytes(ETH / IP(src=src, dst=dst, **ip) / ICMP(id=ident, seq=seq) / b"payload!")


def replies(dev):
    return [Ether(f) for f in dev.take()]


# -- routing ---------------------------------------------------------------------------------------------------------
def test_longest_prefix_wins_over_subnet_and_default():
    stack = Stack(seed=1, strict=True)
    a = stack.add_netif(CaptureDevice(), ip="10.0.0.1/16", gateway="10.0.0.254")
    b = stack.add_netif(CaptureDevice(), ip="192.168.1.1/24")
    stack.routes.add("10.0.5.0/24", b, "192.168.1.254")
    assert stack.routes.lookup(IPv4Address("10.0.7.1")) == (a, IPv4Address("10.0.7.1"))
    assert stack.routes.lookup(IPv4Address("10.0.5.1")) == (b, IPv4Address("192.168.1.254"))
    assert stack.routes.lookup(IPv4Address("8.8.8.8")) == (a, IPv4Address("10.0.0.254"))
    b.set_link_up(False)
    assert stack.routes.lookup(IPv4Address("10.0.5.1")) == (a, IPv4Address("10.0.5.1"))


def test_no_route_is_ehostunreach_and_counted():
    stack, netif, dev = make_stack()  # no gateway
    pcb = stack.udp.new()
    with pytest.raises(LwipError) as e:
        pcb.sendto(b"x", "192.0.2.1", 9)
    assert e.value.errno == 113
    assert stack.stats.ip.rterr == 1 or stack.stats.udp.rterr == 1


def test_loopback_127_0_0_1_and_own_address():
    stack, netif, dev = make_stack()
    server = stack.udp.new()
    server.bind(None, 5000)
    client = stack.udp.new()
    client.sendto(b"to lo", "127.0.0.1", 5000)
    client.sendto(b"to self", "10.0.0.1", 5000)
    assert stack.poll_at() == stack.now  # looped-back packets are delivered at the next poll
    stack.poll(0.0)
    got = [(d.data, str(d.src)) for d in server.queue]
    assert got == [(b"to lo", "127.0.0.1"), (b"to self", "10.0.0.1")]
    assert dev.take() == []  # nothing went out of the Ethernet netif


def test_loopback_queue_is_bounded():
    stack, netif, dev = make_stack(loopback_max_pbufs=2)
    server = stack.udp.new()
    server.bind(None, 5000)
    client = stack.udp.new()
    client.sendto(b"1", "127.0.0.1", 5000)
    client.sendto(b"2", "127.0.0.1", 5000)
    with pytest.raises(LwipError):
        client.sendto(b"3", "127.0.0.1", 5000)
    stack.poll(0.0)
    assert [d.data for d in server.queue] == [b"1", b"2"]


def test_127_from_the_wire_is_dropped():
    stack, netif, dev = make_stack()
    stack.input(netif, echo_request(dst="127.0.0.1"), 0.0)
    assert replies(dev) == [] and stack.stats.ip.drop == 1


# -- input checks ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mangle, counter", [
    (lambda f: f[:14 + 19], "lenerr"),                        # shorter than a header
    (lambda f: f[:14] + bytes([0x44]) + f[15:], "lenerr"),    # IHL 4 (16 bytes)
    (lambda f: f[:14] + bytes([0x4F]) + f[15:], "lenerr"),    # IHL 15: beyond the packet's options
    (lambda f: f[:16] + (2000).to_bytes(2, "big") + f[18:], "lenerr"),  # total length beyond the frame
    (lambda f: f[:16] + (10).to_bytes(2, "big") + f[18:], "lenerr"),    # total length below the header
    (lambda f: f[:14] + bytes([0x65]) + f[15:], "err"),       # version 6 in an IPv4 ethertype
    (lambda f: f[:24] + bytes([f[24] ^ 0xFF]) + f[25:], "chkerr"),     # header checksum wrong
])
def test_bad_headers_are_dropped_counted_and_the_stack_keeps_answering(mangle, counter):
    stack, netif, dev = make_stack(checksum_check_ip=True)
    known_peer(stack, netif)
    stack.input(netif, mangle(echo_request()), 0.0)
    assert replies(dev) == []
    assert getattr(stack.stats.ip, counter) == 1 and stack.stats.ip.drop == 1
    stack.input(netif, echo_request(seq=2), 0.1)
    (reply,) = replies(dev)
    assert reply[ICMP].type == 0 and reply[ICMP].seq == 2


def test_header_checksum_is_not_checked_by_default_as_esp_idf():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    frame = bytearray(echo_request())
    frame[24] ^= 0xFF
    stack.input(netif, bytes(frame), 0.0)
    assert len(replies(dev)) == 1


def test_ethernet_padding_is_trimmed_by_total_length():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    stack.input(netif, echo_request() + bytes(20), 0.0)
    (reply,) = replies(dev)
    assert bytes(reply[ICMP].payload) == b"payload!"


def test_bad_option_gets_parameter_problem_pointing_at_it():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    frame = bytes(ETH / IP(src=PEER, dst="10.0.0.1", options=b"\x07\x01\x00\x00") / ICMP())  # length 1: invalid
    stack.input(netif, frame, 0.0)
    (err,) = replies(dev)
    assert err[ICMP].type == 12 and err[ICMP].ptr == 20
    assert stack.stats.ip.opterr == 1


def test_options_are_accepted_and_carried():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1", options=b"\x94\x04\x00\x00") / ICMP()), 0.0)
    assert replies(dev)[0][ICMP].type == 0


def test_unknown_protocol_gets_protocol_unreachable():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1", proto=200) / b"data"), 0.0)
    (err,) = replies(dev)
    assert err[ICMP].type == 3 and err[ICMP].code == 2
    assert stack.stats.ip.proterr == 1


def test_packet_for_another_host_is_dropped_without_forwarding():
    stack, netif, dev = make_stack()
    stack.input(netif, echo_request(dst="10.0.0.77"), 0.0)
    assert replies(dev) == [] and stack.stats.ip.drop == 1 and stack.stats.ip.fw == 0


def test_frame_for_another_mac_is_dropped_at_the_link():
    stack, netif, dev = make_stack()
    frame = bytes(Ether(dst="02:00:00:00:00:55", src=mac_to_str(PEER_MAC)) / IP(src=PEER, dst="10.0.0.1") / ICMP())
    stack.input(netif, frame, 0.0)
    assert replies(dev) == [] and stack.stats.link.drop == 1


def test_vlan_tagged_frames_only_on_a_netif_of_that_vlan():
    from scapy.layers.l2 import Dot1Q
    stack = Stack(seed=1, strict=True)
    dev = CaptureDevice()
    netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC, vlan_id=42)
    stack.etharp.add_static(PEER, PEER_MAC, netif)
    dev.take()
    tagged = ETH / Dot1Q(vlan=42) / IP(src=PEER, dst="10.0.0.1") / ICMP()
    stack.input(netif, bytes(tagged), 0.0)
    (reply,) = replies(dev)
    assert reply[Dot1Q].vlan == 42 and reply[ICMP].type == 0
    stack.input(netif, bytes(ETH / Dot1Q(vlan=7) / IP(src=PEER, dst="10.0.0.1") / ICMP()), 0.0)
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1") / ICMP()), 0.0)
    assert replies(dev) == [] and stack.stats.link.drop == 2


# -- ICMP errors: when they are sent ---------------------------------------------------------------------------------
def test_no_icmp_error_about_broadcast_or_non_first_fragment_or_an_icmp_error():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    bcast = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC))
    stack.input(netif, bytes(bcast / IP(src=PEER, dst="10.0.0.255") / UDP(dport=9)), 0.0)
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1", proto=200, frag=100) / (b"x" * 8)), 0.0)
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1") / ICMP(type=3, code=3) / IP(dst=PEER) / UDP()), 0.0)
    assert replies(dev) == []


def test_icmp_errors_are_rate_limited_echo_replies_are_not():
    stack, netif, dev = make_stack(icmp_ratelimit_burst=5, icmp_ratelimit_per_s=10.0)
    known_peer(stack, netif)
    for i in range(20):
        stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1") / UDP(sport=1000 + i, dport=9)), 0.0)
    assert len(replies(dev)) == 5
    for i in range(20):
        stack.input(netif, echo_request(seq=i), 0.0)
    assert len(replies(dev)) == 20
    stack.input(netif, bytes(ETH / IP(src=PEER, dst="10.0.0.1") / UDP(dport=9)), 0.5)  # 0.5 s refills 5 tokens
    assert len(replies(dev)) == 1


def test_broadcast_ping_is_not_answered_as_lwip():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    stack.input(netif, bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC)) /
                             IP(src=PEER, dst="255.255.255.255") / ICMP()), 0.0)
    assert replies(dev) == []


# -- fragmentation and reassembly ------------------------------------------------------------------------------------
def frags_of(payload_len, ident=77, **ip):
    pkt = IP(src=PEER, dst="10.0.0.1", id=ident, **ip) / UDP(sport=4000, dport=5000) / (b"z" * payload_len)
    return [bytes(ETH / f) for f in scapy_fragment(pkt, fragsize=1480)]


def reass_stack(**options):
    stack, netif, dev = make_stack(ip4_reassembly=True, **options)
    known_peer(stack, netif)
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    return stack, netif, dev, pcb


def test_fragments_are_dropped_when_reassembly_is_off_as_esp_idf_default():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    for f in frags_of(3000):
        stack.input(netif, f, 0.0)
    assert not pcb.queue and stack.stats.ip.opterr == 3


def test_reassembly_in_any_order_with_duplicates():
    stack, netif, dev, pcb = reass_stack()
    frags = frags_of(5000)
    order = [2, 0, 3, 0, 3, 1]  # a duplicate arriving after completion would start a new (stale) datagram
    for i in order:
        stack.input(netif, frags[i], 0.0)
    (d,) = pcb.queue
    assert d.data == b"z" * 5000
    assert stack.ip4.reass.held == 0 and not stack.ip4.reass.pending


def test_reassembly_limit_evicts_oldest_and_refuses_what_cannot_fit():
    stack, netif, dev, pcb = reass_stack(ip_reass_max_pbufs=10)
    old = frags_of(4000, ident=1)  # 3 fragments
    for f in old[:2]:
        stack.input(netif, f, 0.0)
    big = frags_of(12 * 1480, ident=2)  # 13 fragments: can never fit in 10
    for f in big:
        stack.input(netif, f, 1.0)
    assert not pcb.queue
    assert stack.ip4.reass.held <= 10
    assert stack.stats.ip_frag.memerr > 0
    assert (IPv4Address(PEER).packed, IPv4Address("10.0.0.1").packed, 1, 17) not in stack.ip4.reass.pending


def test_reassembly_timeout_sends_time_exceeded_when_first_fragment_came():
    stack, netif, dev, pcb = reass_stack()
    frags = frags_of(3000)
    stack.input(netif, frags[0], 0.0)
    stack.input(netif, frags[1], 0.5)
    assert stack.poll_at() == 3.0  # ip_reass_maxage after the first fragment
    stack.poll(3.0)
    (err,) = replies(dev)
    assert err[ICMP].type == 11 and err[ICMP].code == 1
    assert stack.ip4.reass.held == 0
    # without fragment zero, the timeout is silent (RFC 792)
    stack.input(netif, frags[1], 10.0)
    stack.poll(13.0)
    assert replies(dev) == []


def test_overlapping_fragment_drops_the_datagram():
    stack, netif, dev, pcb = reass_stack()
    frags = frags_of(3000)
    overlap = IP(src=PEER, dst="10.0.0.1", id=77, proto=17, flags="MF", frag=100) / (b"q" * 800)
    stack.input(netif, frags[0], 0.0)
    stack.input(netif, bytes(ETH / overlap), 0.0)
    for f in frags[1:]:
        stack.input(netif, f, 0.0)
    assert not pcb.queue
    assert stack.stats.ip_frag.proterr == 1


def test_oversize_fragment_is_dropped():
    stack, netif, dev, pcb = reass_stack()
    evil = IP(src=PEER, dst="10.0.0.1", id=9, proto=17, frag=8189) / (b"x" * 100)  # ends past 65535
    stack.input(netif, bytes(ETH / evil), 0.0)
    assert stack.stats.ip.lenerr == 1 and not stack.ip4.reass.pending  # stopped at IP input, before reassembly


def test_sent_fragments_carry_copied_options_only_when_marked():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    pcb = stack.raw.new(253)
    # router alert (0x94, copied) then a no-copy timestamp-like option (0x44)
    from lwipy.core.pbuf import Pbuf
    stack.ip4.output(Pbuf.with_payload(b"y" * 3000), None, IPv4Address(PEER), 253,
                     options=b"\x94\x04\x00\x00\x07\x04\x00\x00")
    frames = replies(dev)
    assert len(frames) == 3
    assert bytes(frames[0][IP].options[0]) + bytes(frames[0][IP].options[1]) == b"\x94\x04\x00\x00\x07\x04\x00\x00"
    assert frames[1][IP].ihl == 6 and bytes(frames[1])[14 + 20:14 + 24] == b"\x94\x04\x00\x00"
    assert sum(len(f[IP].payload) for f in frames) == 3000
    pcb.close()


def test_60kb_datagrams_over_a_faulty_link():
    cfg = Config(ip4_reassembly=True, ip_reass_max_pbufs=100)
    sim = Simulation(seed=11)
    hub = sim.hub()
    faults = dict(loss=0.0005, duplicate=0.01, reorder=0.05, delay=0.0005)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", faults=faults)
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", faults=faults)
    UdpEchoServer(b, 7)
    client = a.udp.new()
    client.bind(None, 0)
    got = []
    client.on_recv = lambda pcb, d: got.append(hashlib.sha256(d.data).digest())
    client.sendto(b"warm-up", "10.0.0.2", 7)  # resolve ARP first: its queue holds 3 packets, not 41 fragments
    assert sim.run_until(lambda: got, 5)
    got.clear()
    sent = []
    for i in range(10):
        data = bytes([i]) * 60000
        sent.append(hashlib.sha256(data).digest())
        client.sendto(data, "10.0.0.2", 7)
        sim.run(2.0)
    # 41 fragments each way cross 4 lossy points: ~8% of round trips lose a fragment; those that arrive are intact
    assert len(got) >= 8
    assert set(got) <= set(sent)
    assert b.stats.ip_frag.recv > 300


# -- forwarding ------------------------------------------------------------------------------------------------------
def routed():
    sim = Simulation(seed=5)
    lan1, lan2 = sim.hub(), sim.hub(mtu=600)
    a = sim.add_stack("a", lan1, Config(ip4_reassembly=True), ip="10.0.1.2/24", gateway="10.0.1.1")
    r = sim.new_stack("r", Config(ip_forward=True))
    sim.attach(r, lan1, ip="10.0.1.1/24", name="lan1")
    sim.attach(r, lan2, ip="10.0.2.1/24", name="lan2")
    b = sim.add_stack("b", lan2, Config(ip4_reassembly=True), ip="10.0.2.2/24", gateway="10.0.2.1")
    return sim, a, r, b


def test_forwarding_decrements_ttl_and_fragments_for_a_smaller_mtu():
    sim, a, r, b = routed()
    ping = PingSession(a, "10.0.2.2", count=2, interval=0.5, size=1000)
    assert sim.run_until(lambda: ping.done, 5)
    assert ping.received == 2 and ping.replies[0].ttl == 63
    assert r.stats.ip.fw > 0 and r.stats.ip_frag.xmit >= 2  # 1028-byte packets into a 600-byte MTU


def test_forwarding_with_df_too_big_answers_frag_needed_with_the_mtu():
    sim, a, r, b = routed()
    pcb = a.raw.new(1)
    from lwipy.core.pbuf import Pbuf
    a.ip4.output(Pbuf.with_payload(bytes(ICMP(id=5) / (b"d" * 1000))), None, IPv4Address("10.0.2.2"), 1,
                 dont_fragment=True)
    sim.run(1.0)
    (pkt,) = [p for p in pcb.queue if IP(p.packet)[ICMP].type == 3]
    icmp = IP(pkt.packet)[ICMP]
    assert icmp.code == 4 and icmp.nexthopmtu == 600


def test_forwarding_ttl_expiry_answers_time_exceeded():
    sim, a, r, b = routed()
    pcb = a.raw.new(1)
    from lwipy.core.pbuf import Pbuf
    a.ip4.output(Pbuf.with_payload(bytes(ICMP(id=5))), None, IPv4Address("10.0.2.2"), 1, ttl=1)
    sim.run(1.0)
    kinds = [(IP(p.packet)[ICMP].type, IP(p.packet)[ICMP].code, str(p.src)) for p in pcb.queue]
    assert (11, 0, "10.0.1.1") in kinds


def test_no_time_exceeded_to_an_unspecified_source():
    stack, netif, dev, pcb = reass_stack()
    frag = IP(src="0.0.0.0", dst="10.0.0.1", id=3, proto=17, flags="MF") / (b"u" * 16)
    stack.input(netif, bytes(ETH / frag), 0.0)
    stack.poll(3.0)
    assert replies(dev) == [] and not stack.ip4.reass.pending


@pytest.mark.parametrize("src", ["127.0.0.1", "10.0.0.1", "0.1.2.3", "240.0.0.1", "10.0.0.255"])
def test_sources_that_can_only_be_ours_or_no_host_are_dropped_from_outside(src):
    # a spoofed 127.0.0.1 or own-address source to the echo port would make the stack answer itself forever
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    UdpEchoServer(stack, 7)
    stack.input(netif, bytes(ETH / IP(src=src, dst="10.0.0.1") / UDP(sport=7, dport=7) / b"loop?"), 0.0)
    assert stack.poll_at() != 0.0 and replies(dev) == []
    assert stack.stats.ip.drop == 1 and stack.stats.udp.recv == 0


def test_ping_of_death_fragment_is_dropped_even_when_forwarding():
    sim, a, r, b = routed()
    lan1_netif = r.netifs[1]
    evil = IP(src="10.0.1.2", dst="10.0.2.2", id=1, proto=1, frag=8100) / (b"x" * 1400)  # ends at 66200
    r.input(lan1_netif, bytes(Ether(dst=mac_to_str(lan1_netif.hwaddr), src=mac_to_str(PEER_MAC)) / evil), 0.0)
    assert r.stats.ip.lenerr == 1 and r.stats.ip.fw == 0


def test_sending_more_than_a_datagram_holds_is_emsgsize_before_anything_goes_out():
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    pcb = stack.raw.new(253)
    with pytest.raises(LwipError) as e:
        pcb.sendto(bytes(70000), PEER)
    assert e.value.errno == 90 and dev.take() == []
    with pytest.raises(ValueError):
        PingSession(stack, PEER, size=65600)


def test_a_large_datagram_to_our_own_address_loops_back_whole():
    stack, netif, dev = make_stack()  # reassembly off, as ESP-IDF: fragments would never come back together
    server = stack.udp.new()
    server.bind(None, 5000)
    stack.udp.new().sendto(b"b" * 3000, "10.0.0.1", 5000)
    stack.poll(0.0)
    assert [len(d.data) for d in server.queue] == [3000]
    assert stack.stats.ip_frag.xmit == 0 and stack.stats.ip.xmit == 1


def test_forwarding_refuses_class_e_zero_net_and_directed_broadcast():
    sim, a, r, b = routed()
    lan1 = r.netifs[1]
    for dst in ("0.1.2.3", "240.1.2.3", "10.0.2.255"):
        frame = Ether(dst=mac_to_str(lan1.hwaddr), src=mac_to_str(PEER_MAC)) / IP(src="10.0.1.2", dst=dst) / ICMP()
        r.input(lan1, bytes(frame), 0.0)
    assert r.stats.ip.fw == 0 and r.stats.ip.drop == 3


def test_no_time_exceeded_about_a_broadcast_datagram():
    stack, netif, dev, pcb = reass_stack()
    bcast = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC))
    stack.input(netif, bytes(bcast / IP(src=PEER, dst="10.0.0.255", id=4, proto=17, flags="MF") / (b"u" * 16)), 0.0)
    stack.poll(3.0)
    assert replies(dev) == [] and not stack.ip4.reass.pending


def test_an_unknown_protocol_a_raw_pcb_took_gets_no_protocol_unreachable():
    """lwIP's ip4_input: RAW_INPUT_DELIVERED means somebody wanted the packet, so the protocol is not unreachable."""
    stack, netif, dev = make_stack()
    known_peer(stack, netif)
    odd = bytes(ETH / IP(src=PEER, dst="10.0.0.1", proto=253) / b"hello")
    stack.input(netif, odd, 0.0)
    unreachable = [f for f in replies(dev) if f.haslayer(ICMP)]
    assert [(f[ICMP].type, f[ICMP].code) for f in unreachable] == [(3, 2)]  # nobody took it: protocol unreachable
    pcb = stack.raw.new(253)
    stack.input(netif, odd, 0.1)
    assert replies(dev) == [] and len(pcb.queue) == 1 and pcb.queue[0].packet[-5:] == b"hello"
    pcb.close()
