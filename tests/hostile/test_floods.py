"""Floods and forgeries from a hostile peer on the link, in virtual time: RSTs, SYNs and data injected at many
sequence numbers, ICMP error floods, fragment floods, UDP to closed ports, and a device whose transmit queue fills.
Each test names the number it holds to."""

from __future__ import annotations

import hashlib
import ipaddress
import random

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6NDOptDstLLAddr, ICMPv6ND_Redirect, ICMPv6PacketTooBig, IPv6
from scapy.layers.inet6 import TCP as TCP6  # noqa: F401 - the same class; imported for symmetry
from scapy.layers.l2 import Ether

from helpers import connected, transfer
from lwipy import Config
from lwipy.apps import PingSession
from lwipy.core.addr6 import PREFERRED
from lwipy.sim import Simulation
from lwipy.wire.checksum import checksum, pseudo_sum_v4

pytestmark = pytest.mark.hostile

ATTACKER_MAC = "02:66:00:00:00:01"


def lan(cfg=None, seed=16, a_kw=None, **netif):
    sim = Simulation(seed=seed)
    hub = sim.hub()
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", **(a_kw or {}), **netif)
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", **netif)
    log: list[bytes] = []
    hub.taps.append(lambda port, frame: log.append(frame) if port.name == "b" else None)
    return sim, a, b, hub.port("attacker"), log


def mac_of(stack) -> str:
    return ":".join(f"{x:02x}" for x in stack.netifs[-1].hwaddr)


def injections(stack, conn, count, rng, flags, payload=b"", ack=None) -> list[bytes]:
    """``count`` segments for ``conn`` (a pcb of the peer's side: its ports and addresses) to ``stack`` with the
    given flags at random sequence numbers: one scapy frame, each copy given its sequence number and checksum."""
    seg = TCP(sport=conn.local_port, dport=conn.remote_port, flags=flags, seq=0, ack=ack or 0, window=8192)
    template = bytearray(bytes(Ether(dst=mac_of(stack), src=ATTACKER_MAC)
                               / IP(src=str(conn.local_ip), dst=str(conn.remote_ip)) / seg / payload))
    src, dst = bytes(template[26:30]), bytes(template[30:34])
    out = []
    for _ in range(count):
        f = bytearray(template)
        f[38:42] = rng.getrandbits(32).to_bytes(4, "big")
        f[50:52] = b"\0\0"
        f[50:52] = checksum(f[34:], pseudo_sum_v4(src, dst, 6, len(f) - 34)).to_bytes(2, "big")
        out.append(bytes(f))
    return out


def acks_from(log, pcb) -> int:
    """Pure ACKs ``pcb``'s stack sent on its connection (the log holds what the victim b sent)."""
    n = 0
    for raw in log:
        f = Ether(raw)
        if TCP in f and f[TCP].sport == pcb.local_port and f[TCP].dport == pcb.remote_port \
                and f[TCP].flags == "A" and not len(f[TCP].payload):
            n += 1
    return n


def in_window(frames, server, rng):
    """The frames with sequence numbers inside ``server``'s receive window but never exactly at RCV.NXT."""
    out = []
    for raw in frames:
        f = bytearray(raw)
        seq = (server.rcv_nxt + 1 + rng.randrange(server._rcv_window() - 1)) & 0xFFFFFFFF
        f[38:42] = seq.to_bytes(4, "big")
        f[50:52] = b"\0\0"
        f[50:52] = checksum(f[34:], pseudo_sum_v4(bytes(f[26:30]), bytes(f[30:34]), 6, len(f) - 34)).to_bytes(2, "big")
        out.append(bytes(f))
    return out


def test_ten_thousand_in_window_rsts_draw_two_challenge_acks_a_second_and_the_connection_lives():
    """Bound: 10,000 RSTs inside the window (not exact: RFC 5961 3.2 challenges each) within one second draw at most
    2 challenge ACKs (``tcp_invalid_ratelimit`` 500 ms) on the connection; it survives and carries 200 KB intact."""
    sim, a, b, attacker, log = lan()
    client, server = connected(sim, a, b, 7000)[:2]
    sim.run(1)
    log.clear()
    rng = random.Random(3)
    frames = in_window(injections(b, client, 10000, rng, "R"), server, rng)
    for i in range(100):  # 100 RSTs every 10 ms
        for f in frames[i * 100:i * 100 + 100]:
            attacker.transmit(f)
        sim.run(0.01)
    assert server.state_name == "ESTABLISHED" and client.state_name == "ESTABLISHED"
    assert 1 <= acks_from(log, server) <= 2
    assert b.stats.tcp.ack_skipped >= 9998
    data = random.Random(4).randbytes(200_000)
    assert transfer(sim, client, server, data) == data


def test_the_stack_wide_challenge_ack_limit_holds_across_connections():
    """Bound: with the per-connection limit off, 10,000 in-window SYNs and RSTs spread over 4 connections within
    one second draw at most ``tcp_challenge_ack_limit`` (here 100) challenge ACKs in all (RFC 5961 7)."""
    cfg = Config(tcp_invalid_ratelimit=0, tcp_challenge_ack_limit=100)
    sim, a, b, attacker, log = lan(cfg)
    pairs = [connected(sim, a, b, 7000 + i)[:2] for i in range(4)]
    sim.run(1)
    log.clear()
    rng = random.Random(5)
    frames = []
    for client, server in pairs:  # in the window but not exact: each is a challenge (RFC 5961 3.2, 4.2)
        frames += in_window(injections(b, client, 1250, rng, "R") + injections(b, client, 1250, rng, "S"), server, rng)
    rng.shuffle(frames)
    for i in range(100):
        for f in frames[i * 100:i * 100 + 100]:
            attacker.transmit(f)
        sim.run(0.009)
    challenges = sum(acks_from(log, server) for _, server in pairs)
    assert 0 < challenges <= 100
    assert all(s.state_name == "ESTABLISHED" for _, s in pairs)


def test_blind_data_with_an_unacceptable_ack_is_dropped_and_the_stream_stays_intact():
    """Bound: 5,000 data segments at random sequence numbers acknowledging far below SND.UNA (RFC 5961 5.2) add
    nothing to the stream and draw at most one reply per 500 ms."""
    sim, a, b, attacker, log = lan()
    client, server = connected(sim, a, b, 7000)[:2]
    sim.run(1)
    log.clear()
    bad_ack = (server.snd_una - 0x40000000) & 0xFFFFFFFF
    frames = injections(b, client, 5000, random.Random(6), "PA", b"EVIL" * 100, ack=bad_ack)
    for i in range(50):
        for f in frames[i * 100:i * 100 + 100]:
            attacker.transmit(f)
        sim.run(0.01)
    assert acks_from(log, server) <= 2
    data = random.Random(7).randbytes(100_000)
    assert transfer(sim, client, server, data) == data


def test_a_refused_transmit_keeps_the_segment_and_a_small_queue_costs_little():
    """Bound: 1 MB through a 16-frame transmit queue at 100 Mbit/s takes at most 1.5 times as long as through an
    unbounded queue at the same rate (before issue 16, 6 times: every refused segment waited for a timeout)."""
    cfg = Config(tcp_wnd_default=65535, tcp_snd_buf_default=65535)
    data = random.Random(8).randbytes(1_000_000)
    took = {}
    for limit in (16, 100_000):
        sim, a, b, attacker, log = lan(cfg, a_kw=dict(txqueue=dict(limit=limit, rate=100e6)))
        client, server = connected(sim, a, b, 7000)[:2]
        start = sim.now
        assert hashlib.sha256(transfer(sim, client, server, data)).digest() == hashlib.sha256(data).digest()
        took[limit] = sim.now - start
        dev = sim.attachments[0][2]
        if limit == 16:
            assert dev.refused > 0 and a.stats.tcp.tx_refused > 0 and dev.peak == 16
            assert a.stats.tcp.rexmit == 0  # nothing was lost: refused segments waited in the send buffer
    assert took[16] <= 1.5 * took[100_000], took


def test_udp_to_closed_ports_draws_rate_limited_port_unreachables():
    """Bound: 10,000 datagrams to closed ports within one second draw at most ``icmp_ratelimit_burst`` +
    ``icmp_ratelimit_per_s`` (150) port unreachables; ping is still answered."""
    sim, a, b, attacker, log = lan()
    b.etharp.add_static("10.0.0.66", bytes.fromhex(ATTACKER_MAC.replace(":", "")))
    template = bytes(Ether(dst=mac_of(b), src=ATTACKER_MAC) / IP(src="10.0.0.66", dst="10.0.0.2")
                     / UDP(sport=5000, dport=9999) / b"x")
    sim.run(1)
    log.clear()
    for _ in range(100):
        for _ in range(100):
            attacker.transmit(template)
        sim.run(0.01)
    unreachables = sum(1 for raw in log if ICMP in Ether(raw) and Ether(raw)[ICMP].type == 3)
    cfg = b.config
    assert 0 < unreachables <= cfg.icmp_ratelimit_burst + cfg.icmp_ratelimit_per_s
    ping = PingSession(a, "10.0.0.2", count=1)
    assert sim.run_until(lambda: ping.done, 5) and ping.received == 1


def test_a_fragment_flood_holds_at_most_the_reassembly_limit_and_real_datagrams_still_get_through():
    """Bound: 10,000 first fragments of datagrams never completed never hold more than ``ip_reass_max_pbufs``
    fragments; a 4 KB fragmented ping sent right after is reassembled and answered."""
    cfg = Config(ip4_reassembly=True)
    sim, a, b, attacker, log = lan(cfg)
    rng = random.Random(9)
    base = Ether(dst=mac_of(b), src=ATTACKER_MAC) / IP(src="10.0.0.66", dst="10.0.0.2", flags="MF", id=0, proto=17)
    template = bytearray(bytes(base / (b"f" * 1000)))
    for _ in range(100):
        for _ in range(100):
            f = bytearray(template)
            f[18:20] = rng.getrandbits(16).to_bytes(2, "big")  # a new datagram each time
            f[24:26] = b"\0\0"
            f[24:26] = checksum(f[14:34]).to_bytes(2, "big")
            attacker.transmit(bytes(f))
        sim.run(0.01)
        assert b.ip4.reass.held <= cfg.ip_reass_max_pbufs
    ping = PingSession(a, "10.0.0.2", count=1, size=4000)
    assert sim.run_until(lambda: ping.done, 5) and ping.received == 1


def test_packet_too_big_and_redirect_floods_are_bounded_and_ignored_when_absurd():
    """Bound: 2,000 ICMPv6 packet too big messages with absurd MTUs (0..1279, 2**32-1) for random destinations keep
    at most ``nd6_num_destinations`` path MTUs, none below 1280, and TCP's MSS at least 1220; 2,000 redirects to
    unknown routers from a non-router change no route; TCP over IPv6 then moves 100 KB intact."""
    sim = Simulation(seed=10)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False)
    a = sim.add_stack("a", hub, cfg, ip6_linklocal=True, ip6="2001:db8::1/64")
    b = sim.add_stack("b", hub, cfg, ip6_linklocal=True, ip6="2001:db8::2/64")
    attacker = hub.port("attacker")
    assert sim.run_until(lambda: all(x.state == PREFERRED for s in (a, b) for x in s.netifs[-1].ip6_addrs), 5)
    listener = b.tcp.listen(7000, "::")
    accepted = []
    listener.on_event = lambda lst: accepted.append(lst.accept())
    client = a.tcp.connect("2001:db8::2", 7000)
    assert sim.run_until(lambda: accepted and client.state_name == "ESTABLISHED", 10)
    server = accepted[0]
    rng = random.Random(11)
    for i in range(2000):
        mtu = rng.choice([0, 68, 576, 1279, 0xFFFFFFFF])
        dst = "2001:db8::1" if i % 10 == 0 else f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
        quoted = IPv6(src="2001:db8::2", dst=dst) / TCP(sport=7000, dport=client.local_port)
        ptb = (Ether(dst=mac_of(b), src=ATTACKER_MAC) / IPv6(src="2001:db8::66", dst="2001:db8::2")
               / ICMPv6PacketTooBig(mtu=mtu) / bytes(quoted))
        attacker.transmit(bytes(ptb))
        rd = (Ether(dst=mac_of(b), src=ATTACKER_MAC) / IPv6(src=f"fe80::66:{i:x}", dst="2001:db8::2", hlim=255)
              / ICMPv6ND_Redirect(tgt=f"fe80::77:{i:x}", dst="2001:db8::1")
              / ICMPv6NDOptDstLLAddr(lladdr="02:77:00:00:00:01"))
        attacker.transmit(bytes(rd))
        if i % 100 == 0:
            sim.settle()
    sim.settle()
    nd6 = b.nd6
    assert len(nd6.path_mtus) <= cfg.nd6_num_destinations
    assert all(m >= 1280 for m in nd6.path_mtus.values())
    assert server.snd_mss >= 1220
    assert nd6.redirects == {}
    data = random.Random(12).randbytes(100_000)
    assert transfer(sim, server, client, data) == data
    assert ipaddress.IPv6Address(server.remote_ip) == ipaddress.IPv6Address("2001:db8::1")
