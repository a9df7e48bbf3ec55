"""The send direction's batching (issue 15, 64 KB windows): the ACKs of a batch of frames (``Stack.input_many``)
free send buffer one after the other, and the application is told and ``tcp_output`` runs once, after the batch's
last frame (``Tcp.flush_output``), so that the segments they let go leave together; not per ACK, where a sender fed
ACKs that each free two segments spends most of its time telling the application and setting up ``tcp_output``.
An ACK that would leave less than half the window in flight (counted from ``snd_nxt``: little after a timeout)
sends at once, and outside a batch, in recovery and in the closing states every ACK does, as before."""

from __future__ import annotations

import struct

import pytest

from test_tcp_fastpath import established, frame

MSS = 1000  # what established() announces for the peer
BUF = 32000  # _bulk's send buffer: 32 segments in flight, half of them (the least a deferring ACK leaves) 16


def _segments(raw: list[bytes]) -> list[tuple[int, int, int, int]]:
    """(seq, ack, flags, payload length) of each TCP frame lwipy sent (parsed by hand: bulk tests send thousands)."""
    out = []
    for f in raw:
        ihl = (f[14] & 0x0F) * 4
        total = struct.unpack_from("!H", f, 16)[0]
        t = 14 + ihl
        seq, ack, off_flags = struct.unpack_from("!IIH", f, t + 4)
        out.append((seq, ack, off_flags & 0x3F, total - ihl - (off_flags >> 12) * 4))
    return out


class Filler:
    """A bulk sender on the pcb API (chargen's way): on every event, write what fits; counts the events."""

    def __init__(self, pcb) -> None:
        self.events = 0
        self.pcb = pcb
        pcb.on_event = self
        self(pcb)

    def __call__(self, pcb) -> None:
        self.events += 1
        room = pcb.send_space
        if room and pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT"):
            pcb.send(b"c" * room)


def _bulk(fast: bool = True, **options):
    """An established connection whose application keeps a send buffer of ``BUF`` bytes (or as given) full, warmed
    up (one ACK per segment, outside any batch) until the congestion window no longer limits it: 32 segments in
    flight."""
    options.setdefault("tcp_snd_buf_default", BUF)
    t, pcb, _ = established(ts=False, fast=fast, **options)
    app = Filler(pcb)
    for _ in range(80):
        t.stack.input(t.netif, frame(t, t.peer_seq, (pcb.snd_una + MSS) & 0xFFFFFFFF), t.now)
    t.dev.take()
    buf = options["tcp_snd_buf_default"]
    assert (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF == buf and pcb.cwnd > buf
    return t, pcb, app


def _taken_with_counts(t, frames):
    """``frames`` as a batch, noting how many frames lwipy had sent when each of them was handed over."""
    counts = []

    def feed():
        for f in frames:
            counts.append(len(t.dev.sent))
            yield f
        counts.append(len(t.dev.sent))
    t.stack.input_many(t.netif, feed(), t.now)
    return counts


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_the_segments_a_batch_of_acks_lets_go_leave_together_after_it(fast, k):
    """k ACKs, each acknowledging two of the 32 segments in flight, read as one batch: nothing leaves while the batch
    is taken, then the 2k segments they let go, in order and full-sized, after one notification of the
    application."""
    t, pcb, app = _bulk(fast)
    una, top, events = pcb.snd_una, pcb.snd_max, app.events
    acks = [frame(t, t.peer_seq, (una + 2 * MSS * (i + 1)) & 0xFFFFFFFF) for i in range(k)]
    counts = _taken_with_counts(t, acks)
    assert counts[:-1] == [0] * k  # nothing sent between the ACKs (each sent two segments at once before)
    segs = _segments(t.dev.take())
    assert [(s[0] - top) & 0xFFFFFFFF for s in segs] == [MSS * i for i in range(2 * k)]
    assert all(s[3] == MSS for s in segs)
    assert app.events - events == 1
    assert (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF == BUF and not getattr(pcb, "output_due", False)
    assert not getattr(t.stack.tcp, "output_pending", ())
    assert pcb.rto_at is not None  # the retransmission timer runs for what is in flight


@pytest.mark.parametrize("fast", [True, False])
def test_an_ack_leaving_less_than_half_the_window_in_flight_sends_at_once(fast):
    """Twelve ACKs of two segments each, as one batch, with 32 segments in flight: the first eight leave at least
    half of them in flight and wait for the batch's end; the ninth leaves 14 and sends at once, everything so far
    (the pipe is kept at least half full while the ACKs are read); the next three wait for the batch's end again."""
    t, pcb, app = _bulk(fast)
    una, top, events = pcb.snd_una, pcb.snd_max, app.events
    acks = [frame(t, t.peer_seq, (una + 2 * MSS * (i + 1)) & 0xFFFFFFFF) for i in range(12)]
    counts = _taken_with_counts(t, acks)
    assert counts == [0] * 9 + [18] * 4
    segs = _segments(t.dev.take())
    assert [(s[0] - top) & 0xFFFFFFFF for s in segs] == [MSS * i for i in range(24)]
    assert app.events - events == 2 and (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF == BUF


@pytest.mark.parametrize("fast", [True, False])
def test_a_window_of_four_segments_sends_per_ack_inside_a_batch(fast):
    """ESP-IDF's 5,760-byte send buffer with an MSS of 1,440: four segments in flight, each ACK of two leaves two, so
    every ACK of a batch sends at once (waiting for the batch's end would leave the peer idle: the device is read
    until it is empty first)."""
    t, pcb, app = _bulk(fast, tcp_snd_buf_default=4000)
    assert (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF == 4000
    una, events = pcb.snd_una, app.events
    acks = [frame(t, t.peer_seq, (una + 2 * MSS * (i + 1)) & 0xFFFFFFFF) for i in range(3)]
    counts = _taken_with_counts(t, acks)
    assert counts == [0, 2, 4, 6] and app.events - events == 3


@pytest.mark.parametrize("fast", [True, False])
def test_outside_a_batch_every_ack_sends_at_once(fast):
    """``Stack.input`` (a single frame, a driver without batches): the ACK's segments leave before it returns, and
    the application is told per ACK, as lwIP's tcp_input does."""
    t, pcb, app = _bulk(fast)
    top, events = pcb.snd_max, app.events
    for i in range(3):
        t.stack.input(t.netif, frame(t, t.peer_seq, (pcb.snd_una + 2 * MSS) & 0xFFFFFFFF), t.now)
        segs = _segments(t.dev.take())
        assert [(s[0] - top) & 0xFFFFFFFF for s in segs] == [MSS * 2 * i, MSS * (2 * i + 1)]
    assert app.events - events == 3 and not getattr(pcb, "output_due", False)


def test_data_sent_after_the_batch_carries_the_ack_the_batch_asked_for():
    """A batch with the peer's data (two segments: an ACK is due) and then ACKs of ours: the segments those ACKs let
    go leave after the batch and acknowledge everything it brought, so no bare ACK is written (the sends come before
    ``flush_acks``)."""
    t, pcb, app = _bulk(True)
    una, s = pcb.snd_una, t.peer_seq
    got = bytearray()

    def both(p):
        while p.readable:
            got.extend(p.recv())
        Filler.__call__(app, p)
    pcb.on_event = both
    batch = [frame(t, s, una, data=b"a" * 500), frame(t, s + 500, una, data=b"b" * 500),
             frame(t, s + 1000, (una + 2 * MSS) & 0xFFFFFFFF), frame(t, s + 1000, (una + 4 * MSS) & 0xFFFFFFFF)]
    counts = _taken_with_counts(t, batch)
    assert counts[:-1] == [0] * 4
    segs = _segments(t.dev.take())
    assert len(segs) == 4 and all(seg[3] == MSS for seg in segs)  # four data segments, no bare ACK
    assert all(seg[1] == (s + 1000) & 0xFFFFFFFF for seg in segs)
    assert bytes(got) == b"a" * 500 + b"b" * 500 and not pcb.ack_due and pcb.delack_at is None


def test_in_recovery_acks_send_at_once_inside_a_batch():
    """NewReno recovery (RFC 6582): a partial ACK retransmits the next hole and what may go goes at once, batch or
    not: the deferral is for the common case only."""
    t, pcb, app = _bulk(True)
    una = pcb.snd_una
    dup = frame(t, t.peer_seq, una)
    t.stack.input_many(t.netif, [dup, dup, dup], t.now)  # the third duplicate: fast retransmit
    segs = _segments(t.dev.take())
    assert pcb.recover is not None and segs[0][0] == una and segs[0][3] == MSS
    partial = frame(t, t.peer_seq, (una + MSS) & 0xFFFFFFFF)  # below recover: the next segment is lost too
    counts = _taken_with_counts(t, [partial, dup])
    assert counts[1] > counts[0]  # the partial ACK's retransmission left before the next frame was taken
    segs = _segments(t.dev.take())
    assert segs[0][0] == (una + MSS) & 0xFFFFFFFF


def test_a_closing_connection_sends_at_once_inside_a_batch():
    """FIN_WAIT_1 (the application closed with data queued): the ACKs of a batch send at once, the FIN with the last
    data, as before."""
    t, pcb, app = _bulk(True)
    # the peer's window shrinks to what is in flight: the 2,000 bytes the application writes now wait
    t.stack.input(t.netif, frame(t, t.peer_seq, (pcb.snd_una + 2 * MSS) & 0xFFFFFFFF, window=BUF - 2 * MSS), t.now)
    assert t.dev.take() == [] and len(pcb.snd_buf) == BUF
    pcb.on_event = None
    pcb.close()
    assert pcb.state_name == "FIN_WAIT_1" and t.dev.take() == []
    una = pcb.snd_una
    acks = [frame(t, t.peer_seq, (una + MSS * (i + 1)) & 0xFFFFFFFF, window=BUF - 2 * MSS) for i in range(2)]
    counts = _taken_with_counts(t, acks)
    assert counts == [0, 1, 2]  # each ACK's segment left before the next frame was taken
    segs = _segments(t.dev.take())
    assert [s[3] for s in segs] == [MSS, MSS] and segs[-1][2] & 0x01  # the last data with the FIN


def test_an_application_raising_at_the_batch_end_does_not_hold_back_the_others():
    """Two connections freed by one batch; the first one's application raises when told: it is counted and logged
    (a lenient stack), the second still sends, and neither stays marked as due."""
    t, pcb, app = _bulk(True)
    t.stack.strict = False
    # a second connection from another peer port on the same stack, filled the same way
    t2_port = t.peer_port + 1
    from tcp_script import TcpScript
    assert isinstance(t, TcpScript)
    t.peer_port, saved_seq = t2_port, t.peer_seq
    t.peer_seq = 7000
    t.send("S", options=[("MSS", MSS)])
    synack = [s for s in _segments(t.dev.take()) if s[2] & 0x12 == 0x12][0]
    t.send("A", ack=synack[0] + 1)
    pcb2 = [p for p in t.stack.tcp.conns.values() if p.remote_port == t2_port][0]
    app2 = Filler(pcb2)
    for _ in range(40):
        t.stack.input(t.netif, frame(t, t.peer_seq, (pcb2.snd_una + MSS) & 0xFFFFFFFF), t.now)
    t.dev.take()

    def boom(p):
        raise RuntimeError("application bug")
    pcb.on_event = boom
    err = t.stack.stats.link.err
    batch = [frame(t, t.peer_seq, (pcb2.snd_una + 2 * MSS) & 0xFFFFFFFF)]
    t.peer_port = t2_port - 1
    batch.insert(0, frame(t, saved_seq, (pcb.snd_una + 2 * MSS) & 0xFFFFFFFF))
    top2, events2 = pcb2.snd_max, app2.events
    t.stack.input_many(t.netif, batch, t.now)
    assert t.stack.stats.link.err == err + 1
    assert app2.events == events2 + 1 and (pcb2.snd_max - top2) & 0xFFFFFFFF == 2 * MSS
    assert not getattr(pcb, "output_due", False) and not getattr(pcb2, "output_due", False)
    assert not getattr(t.stack.tcp, "output_pending", ())


@pytest.mark.parametrize("fast", [True, False])
def test_a_bulk_transfer_with_64k_windows_keeps_the_window_full(fast):
    """A kernel-like receiver in virtual time: it takes every segment lwipy sent, acknowledges every second one
    (Linux's rule while the reader keeps up) and hands the ACKs back as one batch.  With 64 KB windows the flight
    fills the send buffer from the first rounds on, every segment is full-sized, the application is told a few
    times per batch rather than per ACK, and 4 MB go without a stall (no timer: the clock never moves)."""
    t, pcb, _ = established(ts=False, fast=fast, tcp_snd_buf_default=65535, tcp_wnd_default=65535, tcp_mss=1460)
    app = Filler(pcb)
    sent_bytes = 0
    rounds = notified = 0
    flights = []
    rcv = pcb.snd_una  # the receiver's next expected byte
    unacked = lone = 0  # segments it holds without having acknowledged them; rounds that ended with one
    while sent_bytes < 4_000_000:
        segs = _segments(t.dev.take())
        assert segs, f"stalled after {sent_bytes} bytes"
        acks = []
        for seq, _ack, _flags, n in segs:
            assert seq == rcv and n == MSS  # in order, full-sized (the peer's MSS): Nagle holds the odd tail
            rcv = (rcv + n) & 0xFFFFFFFF
            sent_bytes += n
            unacked += 1
            if unacked == 2:
                acks.append(frame(t, t.peer_seq, rcv))
                unacked = 0
        if not acks:  # a lone segment would wait for the delayed ACK: never here, the flight is even
            lone += 1
            acks.append(frame(t, t.peer_seq, rcv))
            unacked = 0
        flights.append((pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF)
        before = app.events
        t.stack.input_many(t.netif, acks, t.now)
        notified += app.events - before
        rounds += 1
    # a notification per batch, and one or two more where its ACKs took the flight below half the window (the
    # receiver acknowledges everything it got: about 32 ACKs a batch), not one per ACK
    assert notified <= 3 * rounds
    assert max(flights) == 65000 and flights[10:] == [65000] * (len(flights) - 10)  # 65 segments of 1000: full
    assert pcb.rto_at is not None and t.now == 0.0 and lone == 0


def test_after_a_retransmission_timeout_acks_send_at_once_inside_a_batch():
    """After a timeout (go-back-N: ``snd_nxt`` back at ``snd_una``, cwnd one segment) little is in flight however
    much was sent before: the ACKs of a batch send at once, each as slow start lets it (the flight counted from
    ``snd_nxt``, not ``snd_max``)."""
    t, pcb, app = _bulk(True)
    una = pcb.snd_una
    t.at(pcb.rto_at)
    segs = _segments(t.dev.take())
    assert [(s[0] - una) & 0xFFFFFFFF for s in segs] == [0] and pcb.cwnd == MSS  # the first segment again
    acks = [frame(t, t.peer_seq, (una + MSS) & 0xFFFFFFFF), frame(t, t.peer_seq, (una + 2 * MSS) & 0xFFFFFFFF)]
    counts = _taken_with_counts(t, acks)
    assert counts[1] > 0  # the first ACK's segments left before the second frame was taken
    segs = _segments(t.dev.take())
    assert [(s[0] - una) & 0xFFFFFFFF for s in segs][:2] == [MSS, 2 * MSS]


@pytest.mark.parametrize("fast", [True, False])
def test_an_ack_leaving_exactly_the_least_flight_waits_for_the_batch_end(fast):
    """Eight segments in flight, where half the send buffer is the four segments the deferral asks for at least: an
    ACK of two leaves six and waits, the next leaves exactly four and waits too (tx9: fast_pure_ack tests that least
    before asking ``_deferred_flight``), the third leaves two and sends at once, all six segments."""
    t, pcb, app = _bulk(fast, tcp_snd_buf_default=8 * MSS)
    una, events = pcb.snd_una, app.events
    acks = [frame(t, t.peer_seq, (una + 2 * MSS * (i + 1)) & 0xFFFFFFFF) for i in range(3)]
    counts = _taken_with_counts(t, acks)
    assert counts == [0, 0, 0, 6] and app.events - events == 1
