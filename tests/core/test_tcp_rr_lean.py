"""rr10: the request path with fewer bytecodes: header prediction's connection lookup by the frame's slice as it
comes (bytes, bytearray, a read-only or a writable memoryview: each taken, with the same results), and ``recv``'s
read of everything waiting (its common case) against what it returned and left before, for any ``max_bytes``."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.errors import LwipError
from test_tcp_fastpath import ACK, PSH, established, frame, inject, snapshot

KINDS = {"bytes": bytes, "bytearray": bytearray, "read-only view": lambda f: memoryview(bytes(f)),
         "writable view": lambda f: memoryview(bytearray(f))}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("size", [50, 900])  # (in12: past 434 bytes, in13: 426, a frame's checksum is summed another way)
def test_header_prediction_finds_the_connection_whatever_holds_the_frame(kind, ts, size):
    runs = []
    for make in (bytes, KINDS[kind]):
        t, pcb, got = established(ts=ts)
        pcb.send(b"r" * 100)
        for i in range(3):
            raw = frame(t, t.peer_seq, pcb.snd_max if i else pcb.snd_una, ACK | PSH, bytes([65 + i]) * size,
                        ts=(300 + i, 0) if ts else None)
            t.stack.input_many(t.netif, [make(raw)], t.now)
            t.peer_seq += size
        assert t.stack.tcp.fast_taken == 3, kind
        runs.append((t.dev.take(), snapshot(t, pcb), bytes(got)))
    assert runs[1] == runs[0]


def old_recv(buf: bytearray, max_bytes: int) -> bytes | None:
    """What ``recv`` returned and left in ``buf`` before rr10 (the reference): None where it would raise the
    connection's error, if it has one."""
    have = len(buf)
    n = max_bytes if max_bytes < have else have
    if n == 0:
        return None
    out = bytes(buf[:n])
    del buf[:n]
    return out


@settings(max_examples=examples(200), deadline=None)
@given(have=st.integers(0, 3000), reads=st.lists(st.integers(-50, 4000), min_size=1, max_size=6),
       error=st.booleans())
def test_recv_returns_and_leaves_what_it_did_before(have, reads, error):
    t, pcb, _ = established(ts=False, reader=False)
    if have:
        data = (bytes(range(256)) * 12)[:have]
        t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, data)], t.now)
    model = bytearray(pcb.rcv_buf)
    assert len(model) == have
    if error:
        pcb.error = errno.ECONNRESET
    for max_bytes in reads:
        want = old_recv(model, max_bytes)
        if want is None and error:
            with pytest.raises(LwipError):
                pcb.recv(max_bytes)
        else:
            assert pcb.recv(max_bytes) == (want or b"")
        assert bytes(pcb.rcv_buf) == bytes(model)


@pytest.mark.parametrize("ts", [True, False])
def test_a_reply_and_a_write_to_an_idle_connection_are_timed(ts, monkeypatch):
    """``_output_one`` times its segment when nothing is timed (Karn), outside a request (the write's) and inside one
    (the reply's, once the request's ACK gave its sample)."""
    from lwipy.core.tcp.pcb import TcpPcb
    t, pcb, _ = established(ts=ts, reader=False)
    ones = []
    real = TcpPcb._output_one
    monkeypatch.setattr(TcpPcb, "_output_one", lambda self, *args: ones.append(real(self, *args)) or ones[-1])
    assert pcb.rtt.seq is None and t.stack.tcp.unsettled is None
    t.at(t.now + 1.0)
    seq = pcb.snd_nxt
    pcb.send(b"w" * 64)
    assert ones == [True] and (pcb.rtt.seq, pcb.rtt.start) == (seq, t.now)

    def echo(p):
        if p.readable:
            p.send(p.recv())
    pcb.on_event = echo
    t.at(t.now + 0.25)
    seq = pcb.snd_max
    t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * 64,
                                       ts=(400, 0) if ts else None)], t.now)
    assert ones == [True, True] and (pcb.rtt.seq, pcb.rtt.start) == (seq, t.now)
    assert pcb.srtt is not None  # the request's ACK gave its sample first


@settings(max_examples=examples(500), deadline=None)
@given(samples=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                  st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.19999, 60.0, 59.9, 120.0])),
                        min_size=1, max_size=8))
def test_the_rto_is_clamped_as_before(samples):
    """``RttEstimator.sample``'s RTO (rr10: two plain comparisons) against the expression it replaced."""
    import math

    from lwipy.core.tcp.congestion import RTO_MAX, RTO_MIN, RttEstimator
    rtt = RttEstimator(1.0)
    for r in samples:
        rtt.sample(r)
        var4 = 4 * rtt.rttvar
        raw = rtt.srtt + (var4 if var4 > 0.001 else 0.001)
        want = raw if RTO_MIN < raw < RTO_MAX else RTO_MAX if raw >= RTO_MAX else RTO_MIN
        assert rtt.rto == want or (math.isnan(want) and math.isnan(rtt.rto))


def test_a_pcbs_fields_are_slots_set_from_the_start():
    """rr11: ``TcpPcb``'s fields live in slots (an unshared instance dict's reads and writes cost more): every slot is
    set by ``__init__`` (a slot hides any class default a mixin gives the name, so none may be left unset), none hides
    a property or other data descriptor of a mixin (``keep_idle``'s setter), and a connection's life (data both ways,
    SACK, keepalive, timers, the close) leaves nothing in the instance's ``__dict__``."""
    from lwipy.core.tcp.pcb import TcpPcb
    for name in TcpPcb.__slots__:
        for base in TcpPcb.__mro__[1:]:
            assert not hasattr(vars(base).get(name), "__set__"), f"the slot {name} hides {base.__name__}'s descriptor"
    t, pcb, got = established(ts=True, sack=True)
    assert [name for name in TcpPcb.__slots__ if not hasattr(pcb, name)] == []
    pcb.keepalive = True
    pcb.keep_idle, pcb.keep_intvl, pcb.keep_cnt = 1.0, 0.5, 2
    pcb.send(b"s" * 3000)
    inject(t, frame(t, t.peer_seq + 1000, pcb.snd_una, ACK, b"o" * 100))  # out of order: SACK blocks
    inject(t, frame(t, t.peer_seq, pcb.snd_nxt, ACK | PSH, b"i" * 1000))
    t.peer_seq += 1100
    for step in range(1, 40):
        t.at(t.now + 0.25 * step)
        t.stack.poll(t.now)  # retransmissions, keepalive probes, the delayed ACK
    pcb.close()
    assert got and vars(pcb) == {}
