"""Hostile peers against TCP, in virtual time: spoofed SYN floods, blind injection of data, RSTs and SYNs at many
sequence numbers, and a device whose transmit queue fills.  Each test names the bound it holds to."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from helpers import connected
from lwipy.sim import Simulation
from lwipy.wire.checksum import checksum, pseudo_sum_v4

pytestmark = pytest.mark.hostile

ATTACKER_MAC = "02:66:00:00:00:01"


def lan(cfg=None, seed=16, **kw):
    sim = Simulation(seed=seed)
    hub = sim.hub()
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", **kw)
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24")
    attacker = hub.port("attacker")
    return sim, a, b, attacker


def mac_of(stack) -> str:
    return ":".join(f"{x:02x}" for x in stack.netifs[-1].hwaddr)


def forge(stack, src, sport, dport, payload=b"", **tcp) -> bytes:
    """A segment to ``stack`` from ``src``, as a peer on the link would put it on the wire."""
    dst = str(stack.netifs[-1].ip4.ip)
    return bytes(Ether(dst=mac_of(stack), src=ATTACKER_MAC) / IP(src=src, dst=dst)
                 / TCP(sport=sport, dport=dport, **tcp) / payload)


def syn_flood(stack, port, count, rng) -> list[bytes]:
    """``count`` SYNs to ``port`` from random spoofed sources: one frame made by scapy, then each copy given its
    source address, port and sequence number with both checksums computed again (scapy takes a millisecond a frame)."""
    template = bytearray(forge(stack, "10.1.1.1", 1024, port, flags="S", options=[("MSS", 1460)]))
    dst = bytes(template[30:34])
    frames = []
    for _ in range(count):
        f = bytearray(template)
        src = bytes([10, rng.randrange(1, 255), rng.randrange(256), rng.randrange(1, 255)])
        f[26:30] = src
        f[24:26] = b"\0\0"
        f[24:26] = checksum(f[14:34]).to_bytes(2, "big")
        f[34:36] = rng.randrange(1024, 65536).to_bytes(2, "big")
        f[38:42] = rng.getrandbits(32).to_bytes(4, "big")
        f[50:52] = b"\0\0"
        f[50:52] = checksum(f[34:], pseudo_sum_v4(src, dst, 6, len(f) - 34)).to_bytes(2, "big")
        frames.append(bytes(f))
    return frames


def tcp_frames(hub_log, src_ip=None):
    return [f for f in hub_log if TCP in f and (src_ip is None or f[IP].src == src_ip)]


def logged(sim, hub):
    log = []
    hub.taps.append(lambda port, frame: log.append(Ether(frame)))
    return log


def test_spoofed_syn_flood_frees_its_slots_and_legitimate_clients_get_in():
    """Bound: during a flood of 20,000 spoofed SYNs (200 a second for 100 s) the victim holds at most
    ``max_active_tcp`` pcbs and its traced memory grows by under 2 MB; a client that tries during the flood is
    connected within its SYN retry budget, at the latest one retransmission (``tcp_rto_time`` doubled, 3 s) after the
    flood stops; the last half-open pcbs die ``tcp_syn_rcvd_timeout`` (20 s) after the flood."""
    sim, a, b, attacker = lan()
    b.tcp.listen(7)
    cfg = b.config
    flood = syn_flood(b, 7, 20000, random.Random(1))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        client = None
        for step in range(2000):  # 10 SYNs every 50 ms
            for frame in flood[step * 10:step * 10 + 10]:
                attacker.transmit(frame)
            if step == 10:
                client = a.tcp.connect("10.0.0.2", 7)
            sim.run(0.05)
            assert len(b.tcp.conns) <= cfg.max_active_tcp
            if step % 100 == 0:
                assert tracemalloc.get_traced_memory()[0] - base < 2_000_000
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 2_000_000
    assert b.stats.tcp.half_open_evicted > 19000
    assert client is not None and client.state_name in ("SYN_SENT", "ESTABLISHED")
    flood_end = sim.now
    assert sim.run_until(lambda: client.state_name == "ESTABLISHED", 2 * cfg.tcp_rto_time / 1000.0)
    # every half-open pcb is gone within the SYN_RCVD timeout of the last spoofed SYN
    sim.run(cfg.tcp_syn_rcvd_timeout / 1000.0 + 1 - (sim.now - flood_end))
    assert all(p.state_name != "SYN_RCVD" for p in b.tcp.conns.values())


def test_half_open_connections_time_out_after_tcp_syn_rcvd_timeout():
    """Bound: six spoofed SYNs hold the default backlog for exactly ``tcp_syn_rcvd_timeout`` (20 s) after the last of
    them, not the 8.5 minutes of twelve SYN-ACK retransmissions; a seventh takes the oldest one's place, and no RST
    goes to anybody."""
    sim, a, b, attacker = lan()
    listener = b.tcp.listen(7)
    log = logged(sim, sim.hubs[0])
    backlog = b.config.tcp_accept_mbox_size
    for i in range(backlog):
        attacker.transmit(forge(b, f"192.0.2.{i + 1}", 1000 + i, 7, flags="S", seq=i))
    sim.settle()
    assert listener.pending == backlog
    sim.run(5)
    attacker.transmit(forge(b, "192.0.2.99", 999, 7, flags="S", seq=99))
    sim.settle()
    assert listener.pending == backlog and b.stats.tcp.half_open_evicted == 1
    assert {str(p.remote_ip) for p in listener.half_open} == {f"192.0.2.{i + 1}" for i in range(1, backlog)} | {
        "192.0.2.99"}
    assert not [f for f in tcp_frames(log, "10.0.0.2") if "R" in f[TCP].flags]
    sim.run(14.9)  # 20 s after the first ones
    assert listener.pending == backlog
    sim.run(0.2)
    assert [str(p.remote_ip) for p in listener.half_open] == ["192.0.2.99"]
    sim.run(5)
    assert listener.pending == 0 and b.tcp.conns == {}
    assert b.stats.tcp.syn_rcvd_timeout == backlog


def test_one_blind_data_segment_does_not_start_an_endless_ack_exchange():
    """Bound: after one injected in-window data segment, the two ends exchange at most four ACKs about it and the
    zero-delay link goes quiet (before the fix the simulation never settled)."""
    sim, a, b, attacker = lan()
    client, server, _ = connected(sim, a, b, 7000)
    log = logged(sim, sim.hubs[0])
    sim.run(1)
    log.clear()
    # to b, as if from a: in b's window, acknowledging exactly what b has sent
    attacker.transmit(forge(b, "10.0.0.1", client.local_port, 7000, b"blind", flags="PA", seq=server.rcv_nxt,
                            ack=server.snd_nxt, window=1000))
    sim.run(5)
    acks = tcp_frames(log)
    assert len(acks) <= 5, [f.summary() for f in acks]
    assert a.stats.tcp.ack_skipped + b.stats.tcp.ack_skipped >= 1


def test_flood_frames_are_valid_syns():
    """The flood helper's frames are what scapy reads as SYNs with good checksums (so the floods test the stack)."""
    sim, a, b, attacker = lan()
    for raw in syn_flood(b, 7, 5, random.Random(2)):
        f = Ether(raw)
        ip_sum, tcp_sum = f[IP].chksum, f[TCP].chksum
        del f[IP].chksum, f[TCP].chksum
        again = Ether(bytes(f))
        assert f[TCP].flags == "S" and (ip_sum, tcp_sum) == (again[IP].chksum, again[TCP].chksum)
