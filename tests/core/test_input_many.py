"""``Stack.input_many`` (in12): every frame of a batch is offered to TCP's header prediction first (its own first tests
turn away what is not an IPv4 TCP segment), the rest goes the full way (a netif whose input is not Ethernet's gets no
offer: test_tcp_rx.py).  A batch of mixed frames leaves the same state and output with the fast path as without it."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from helpers import OWN_MAC, PEER_MAC
from lwipy.core.device import RxOffload
from tcp_script import OWN_IP, PEER_IP
from test_tcp_fastpath import ACK, PSH, assert_alike, established, frame

ETH = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:99")


def mixed(t, pcb) -> list:
    """Three in-order segments with an ARP request, a ping, a datagram to a closed port, a runt and a segment out of
    order between them (the peer's sequence numbers as the stack will have them)."""
    seq = t.peer_seq
    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:99") /
                ARP(op=1, hwsrc="02:00:00:00:00:99", psrc=PEER_IP, pdst=OWN_IP))
    ping = bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / ICMP(type=8, id=7, seq=1) / (b"p" * 56))
    udp = bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / UDP(sport=5000, dport=9) / (b"u" * 20))
    runt = OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(10)
    return [frame(t, seq, pcb.snd_una, ACK | PSH, b"a" * 100), arp, ping,
            frame(t, seq + 100, pcb.snd_una, ACK | PSH, b"b" * 100), udp, runt,
            frame(t, seq + 400, pcb.snd_una, ACK | PSH, b"z" * 50),
            frame(t, seq + 200, pcb.snd_una, ACK, b"c" * 100)]


@pytest.mark.parametrize("bare", [False, True])
@pytest.mark.parametrize("first", [False, True])
def test_a_mixed_batch_leaves_the_same_state_and_output_with_the_fast_path_as_without(first, bare):
    runs = [established(ts=False, fast=fast) for fast in (True, False)]
    for t, pcb, _ in runs:
        frames = mixed(t, pcb)
        now = t.now + 0.25  # (the batch's time is the stack's from its first frame on)
        if first:
            t.stack.input_many(t.netif, iter(frames[1:]), now, frames[0], bare)
        else:
            t.stack.input_many(t.netif, frames, now, bare=bare)
    (ta, pa, got_a), (tb, pb, got_b) = runs
    out = ta.dev.take()
    assert out == tb.dev.take()
    assert_alike((ta, pa), (tb, pb), "the batch", memory=True)
    assert got_a == got_b == b"a" * 100 + b"b" * 100 + b"c" * 100
    # (the third in-order segment the full way too: the one out of order is held by then)
    assert ta.stack.tcp.fast_taken == 2 and tb.stack.tcp.fast_taken == 0
    assert pa.last_activity == ta.now + 0.25
    # what the frames other than TCP's asked for: the ARP reply, the echo reply, the port unreachable
    kinds = [Ether(f) for f in out]
    assert any(p.haslayer(ARP) and p[ARP].op == 2 for p in kinds)
    assert any(p.haslayer(ICMP) and p[ICMP].type == 0 for p in kinds)
    assert any(p.haslayer(ICMP) and p[ICMP].type == 3 for p in kinds)
    assert ta.stack.stats.link.recv == tb.stack.stats.link.recv


@pytest.mark.parametrize("bare", [False, True])
def test_a_segment_that_raises_in_the_fast_path_is_dropped_and_counted_and_the_batch_goes_on(monkeypatch, bare):
    t, pcb, got = established(ts=False)
    t.stack.strict = False  # (a strict stack raises it again)
    frames = mixed(t, pcb)
    calls = []

    def boom(netif, raw):
        calls.append(raw)
        if len(calls) == 1:
            raise RuntimeError("a planted bug")
        return False
    monkeypatch.setattr(t.stack.tcp, "fast_input", boom)
    t.stack.input_many(t.netif, frames, t.now, None, bare)
    assert calls[0] == frames[0] and len(calls) >= len(frames)  # every frame offered (the full way offers again)
    assert t.stack.stats.link.err == 1
    assert got == b""  # the first segment dropped: the rest out of order, held
    assert pcb.ooseq


def test_an_offload_frame_is_offered_as_its_bytes(monkeypatch):
    t, pcb, got = established(ts=False)
    raw = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"a" * 100)
    offered = []
    real = t.stack.tcp.fast_input
    monkeypatch.setattr(t.stack.tcp, "fast_input", lambda netif, f: (offered.append(f), real(netif, f))[1])
    t.stack.input_many(t.netif, [RxOffload(raw, 34, 16)], t.now)
    assert offered[0] is raw and got == b"a" * 100


@pytest.mark.parametrize("bare", [False, True])
def test_a_bare_batch_asks_no_frame_its_type(monkeypatch, bare):
    """in13: a batch the caller says is bare (a plain device's reads: no RxOffload among them) is offered to header
    prediction frame by frame without a type() asked of each; the same segments taken, the same output."""
    import builtins

    import lwipy.core.stack as stack_module
    runs = []
    for say in (False, bare):
        t, pcb, got = established(ts=False)
        frames = [frame(t, t.peer_seq + 100 * i, pcb.snd_una, ACK | PSH, bytes([97 + i]) * 100) for i in range(3)]
        asked = []
        monkeypatch.setattr(stack_module, "type", lambda obj, asked=asked: asked.append(obj) or builtins.type(obj),
                            raising=False)
        t.stack.input_many(t.netif, frames, t.now, None, say)
        monkeypatch.delattr(stack_module, "type")
        assert t.stack.tcp.fast_taken == 3 and got == b"a" * 100 + b"b" * 100 + b"c" * 100
        assert len(asked) == (0 if say else 3)
        runs.append(t.dev.take())
    assert runs[0] == runs[1]


@pytest.mark.parametrize("bare", [False, True])
def test_segments_taken_by_the_fast_path_see_the_batchs_time(bare):
    t, pcb, got = established(ts=False)
    seq = t.peer_seq
    got_now = []
    pcb.on_event = lambda p: got_now.append(t.stack.now) or got.extend(p.recv())
    first = frame(t, seq, pcb.snd_una, ACK | PSH, b"a" * 100)
    second = frame(t, seq + 100, pcb.snd_una, ACK | PSH, b"b" * 100)
    real = t.stack.tcp.fast_input

    def fast(netif, raw):  # (a callback that moves the stack's clock, as a nested poll would, after the first)
        taken = real(netif, raw)
        t.stack.now = 99.0
        return taken
    t.stack.tcp.fast_input = fast
    t.stack.input_many(t.netif, [first, second], 7.5, None, bare)
    assert got == b"a" * 100 + b"b" * 100 and got_now == [7.5, 7.5]  # each frame at the batch's time
    assert pcb.last_activity == 7.5
