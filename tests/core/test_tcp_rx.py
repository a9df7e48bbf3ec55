"""The receive direction's batching and sizing (issue 15, items 2 and 3): ACKs per batch of frames, lazily re-armed
timers, advertised windows of whole segments, scaled or not; and a retransmission bug those windows brought out."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tcp_script import TcpScript

TS_SACK = [("MSS", 1440), ("NOP", None), ("NOP", None), ("Timestamp", (100, 0)), ("SAckOK", b"")]


def test_a_retransmitted_hole_never_reaches_past_snd_max():
    """A hole is sized by today's seg_size: segments sent while out-of-order data waited carried 1400 bytes (room for
    SACK blocks), once the gap filled a segment carries 1428.  The last hole, sent again, must stop at snd_max: bytes
    beyond it, unsent as far as snd_max knows, would be acknowledged by an ACK that _process_ack then drops as
    acknowledging what was never sent, and both ends stalled for ever (the lossy 50 MB simulation, with scaled
    windows rounded to whole segments)."""
    t = TcpScript(tcp_timestamps=True, tcp_sack_out=True)
    pcb = t.open_passive(options=TS_SACK)
    t.send("A", seq=t.peer_seq + 100, ack=t.iss + 1, data=b"o" * 50, advance=False,
           options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))])
    t.sent()
    assert pcb.ooseq and pcb.seg_size == 1400
    pcb.send(b"x" * 8000)  # three segments of 1400 (the initial window), and more waiting
    first = [s for s in t.sent() if len(s.payload)]
    assert [len(s.payload) for s in first] == [1400] * 3
    una = pcb.snd_una
    # the gap fills, and the peer's window closes to what is in flight: nothing new may go (no limited transmit)
    t.send("A", ack=una, data=b"f" * 100, window=4200, options=[("NOP", None), ("NOP", None), ("Timestamp", (102, 0))])
    assert not pcb.ooseq and pcb.seg_size == 1428
    t.peer_seq = pcb.rcv_nxt  # past the 50 bytes that waited
    t.sent()
    sacked = (una + 1400, una + 2800)  # the second segment only: holes at the first and the third
    ends = []
    for i in range(6):
        t.send("A", ack=una, window=4200,
               options=[("NOP", None), ("NOP", None), ("Timestamp", (103 + i, 0)), ("SAck", sacked)])
        for s in t.sent():
            if len(s.payload):
                ends.append((s.seq - una) & 0xFFFFFFFF)
                assert (pcb.snd_max - (s.seq + len(s.payload))) & 0xFFFFFFFF < 1 << 31, \
                    f"retransmitted {s.seq - una}..{s.seq + len(s.payload) - una} past snd_max {pcb.snd_max - una}"
    assert 0 in ends and 2800 in ends  # both holes were sent again, the last one up to snd_max


# -- windows of whole segments (item 3) ----------------------------------------------------------------------------------
def _scaled(ts: bool, scale: int):
    window = 65535 if not scale else 262144 if scale <= 3 else 1024000
    t = TcpScript(wnd_scale=bool(scale), tcp_rcv_scale=scale, tcp_wnd_default=window, tcp_timestamps=ts)
    opts = [("MSS", 1440)] + ([("WScale", 0)] if scale else []) \
        + ([("NOP", None), ("NOP", None), ("Timestamp", (100, 0))] if ts else [])
    pcb = t.open_passive(options=opts)
    assert pcb.rcv_wscale == scale and pcb.ts_ok == ts
    return t, pcb


def _stamp(ts: bool, i: int) -> list:
    return [("NOP", None), ("NOP", None), ("Timestamp", (200 + i, 0))] if ts else []


@pytest.mark.parametrize("ts, scale, seg", [(True, 3, 1428), (False, 3, 1440), (True, 4, 1428), (False, 0, 1440),
                                            (True, 0, 1428)])
def test_windows_are_whole_segments_the_scale_expresses(ts, scale, seg):
    """The peer reads the window back as ``field << scale``: that must be a whole number of its full segments
    (1428 bytes with timestamps, 1440 without), or its last segment before the edge is a runt.  With scale 3 and
    1428-byte segments the unit is lcm(1428, 8) = 2856, with scale 4 lcm(1428, 16) = 5712; with 1440 (a multiple of
    8 and 16) one segment.  The application reads everything; every third segment the delayed ACK goes alone."""
    t, pcb = _scaled(ts, scale)
    got = bytearray()
    pcb.on_event = lambda p: got.extend(p.recv())
    windows = []
    for i in range(40):
        t.send("A", ack=t.iss + 1, data=bytes([i]) * seg, options=_stamp(ts, i))
        if i % 3 == 0:
            t.at(t.now + 0.2)
        windows += [s.window << scale for s in t.sent()]
    assert len(got) == 40 * seg and len(windows) >= 20
    assert all(w % seg == 0 for w in windows), [w % seg for w in windows]
    unit = seg * (1 << scale) // __import__("math").gcd(seg, 1 << scale)
    assert all(0 <= pcb.rcv_buf_limit - w < unit for w in windows), windows  # rounded down, by less than one unit


@pytest.mark.parametrize("ts, scale", [(True, 3), (True, 4), (False, 3)])
def test_a_kept_scaled_edge_is_what_the_peer_reads_and_never_moves_back(ts, scale):
    """Nothing read (the window closes): each ACK keeps the edge offered before, which the scale may not express
    from today's rcv_nxt.  It is rounded up (to whole segments the scale expresses, else to the scale's unit) while
    the buffer has the room, and cut down to the scale's unit only when it has not (RFC 7323 2.4's truncation); our
    books (rcv_adv) hold the edge as the peer reads it back."""
    t, pcb = _scaled(ts, scale)
    seg = 1428 if ts else 1440
    got = bytearray()
    pcb.on_event = lambda p: got.extend(p.recv(reopen=False))  # read, but hold: nothing is given back
    edges = []
    for i in range(60):
        t.send("A", ack=t.iss + 1, data=bytes([i]) * seg, options=_stamp(ts, i))
        if i % 3 == 0:
            t.at(t.now + 0.2)
        for s in t.sent():
            edge = (s.ack + (s.window << scale)) & 0xFFFFFFFF
            room = pcb.rcv_buf_limit - len(pcb.rcv_buf) - pcb.rcv_held
            assert edge == pcb.rcv_adv  # the peer's edge is the one we keep
            assert edge - s.ack <= room  # and the buffer holds it
            if edges and edge < edges[-1]:
                # moved back only by the scale's cut, when rounding up would have offered more than the buffer holds
                kept = edges[-1] - s.ack
                assert edges[-1] - edge < 1 << scale and -(-kept >> scale) << scale > room
            edges.append(edge)
    assert len(got) == 60 * seg and len(edges) >= 30


# -- lazy timers (item 2) ------------------------------------------------------------------------------------------------
def test_a_stream_of_segments_does_not_touch_the_timer_heap_per_segment():
    """200 in-order segments, each arming or clearing the delayed ACK, and ACKs of our data restarting the
    retransmission timer: the heap sees a handful of pushes, not one or two per segment."""
    from test_tcp_fastpath import established, frame, inject
    t, pcb, got = established(ts=False)
    timers = t.stack.tcp.timers
    pcb.send(b"d" * 20000)
    before = timers.pushes
    for i in range(200):
        inject(t, frame(t, t.peer_seq, pcb.snd_una + min(500, (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF),
                        data=b"x" * 1000))
        t.peer_seq += 1000
        t.now += 0.0005
        if i % 50 == 49:
            pcb.send(b"d" * 20000)
    assert len(got) == 200_000 and t.stack.tcp.fast_taken >= 190
    assert timers.pushes - before <= 10, timers.pushes - before


def test_lazily_rearmed_deadlines_fire_exactly_when_due():
    """The retransmission timer restarted by an ACK moves later without touching the heap: poll_at still says the
    real deadline, nothing happens at the stale one, and the retransmission goes at the real one."""
    t = TcpScript()
    pcb = t.open_passive()
    pcb.send(b"a" * 500)
    t.expect("PA", data_len=500)
    first = pcb.rto_at
    assert t.stack.tcp.poll_at() == first
    t.at(first - 0.1)
    pcb.send(b"b" * 300)  # Nagle: waits for the ACK
    t.send("A", ack=pcb.snd_una + 500)  # restarts the timer for the 300 bytes sent now
    t.expect("PA", data_len=300)
    pushes = t.stack.tcp.timers.pushes
    assert pcb.rto_at > first and t.stack.tcp.poll_at() == pcb.rto_at
    t.at(first)
    t.expect_nothing()  # the stale entry surfaced: nothing was due
    assert t.stack.tcp.timers.pushes == pushes + 1  # the entry moved once, when it surfaced (not per ACK)
    t.at(pcb.rto_at)
    t.expect("PA", data_len=300)  # now it is due


def test_a_cleared_deadline_leaves_no_timer_behind():
    t = TcpScript()
    pcb = t.open_passive()
    t.send("A", ack=t.iss + 1, data=b"x" * 10)
    assert pcb.delack_at is not None and t.stack.tcp.poll_at() == pcb.delack_at
    pcb.send(b"reply")  # the reply carries the ACK: the delayed ACK is off
    t.expect("PA", data_len=5)
    assert pcb.delack_at is None and t.stack.tcp.poll_at() == pcb.rto_at
    t.send("A", ack=pcb.snd_max)
    assert pcb.next_deadline() is None and t.stack.tcp.poll_at() is None and len(t.stack.tcp.timers) == 0


class _Owner:
    def __init__(self) -> None:
        from lwipy.core.timers import NO_ENTRY
        self.at: float | None = None
        self.heap_at = NO_ENTRY

    def next_deadline(self) -> float | None:
        return self.at


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["set", "clear", "pop", "peek", "cancel"]),
                          st.integers(0, 50)), max_size=80))
@example([(0, "set", 5), (1, "set", 10), (1, "clear", 0), (0, "pop", 20)])  # (an entry with no deadline left, popped)
def test_lazy_deadlines_answer_as_an_exact_model(ops):
    """LazyDeadlines against the plain model (every owner's real deadline, scanned): next_at is the earliest real
    deadline, pop_due hands back exactly the owners due, whatever moved later or was cleared meanwhile.  way14: and
    each owner's ``heap_at`` is its live entry's deadline (``NO_ENTRY`` without one) after every step."""
    from lwipy.core.timers import NO_ENTRY, LazyDeadlines
    owners = [_Owner() for _ in range(6)]
    d: LazyDeadlines = LazyDeadlines()
    for i, op, value in ops:
        owner = owners[i]
        if op == "set":
            owner.at = float(value)
            d.arm(owner, owner.at)
        elif op == "clear":
            owner.at = None
        elif op == "pop":
            due = d.pop_due(float(value))
            expect = {id(o) for o in owners if o.at is not None and o.at <= value}
            assert {id(o) for o in due} == expect
            for o in due:
                o.at = None  # handled
        elif op == "cancel":  # (Tcp drops a freed connection's entry)
            owner.at = None
            d.cancel(owner)
        assert [o.heap_at for o in owners] == [d._live[o][0] if o in d._live else NO_ENTRY for o in owners]
        real = [o.at for o in owners if o.at is not None]
        assert d.next_at() == (min(real) if real else None)
        assert [o.heap_at for o in owners] == [d._live[o][0] if o in d._live else NO_ENTRY for o in owners]
        assert len(d) == len(real)


# -- ACKs per batch (item 2) -------------------------------------------------------------------------------------------
def _acks(t) -> list:
    return [s for s in t.sent() if not len(s.payload)]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_a_batch_of_in_order_segments_gets_one_ack_after_its_last(fast, n):
    """n full segments read together: one ACK, written after the last of them (it acknowledges all n and offers the
    window the reader's reads reopened), where the same segments one by one get one every second segment."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=False, fast=fast, tcp_wnd_default=16384)
    una = pcb.snd_una
    start = t.peer_seq
    frames = [frame(t, start + 1000 * i, una, data=bytes([i]) * 1000) for i in range(n)]
    t.stack.input_many(t.netif, frames, t.now)
    acks = _acks(t)
    assert len(acks) == 1 and acks[0].ack == start + 1000 * n and acks[0].window == 15840  # 11 x our MSS 1440
    assert len(got) == 1000 * n and pcb.delack_at is None and not pcb.ack_due and not t.stack.tcp.ack_pending
    assert t.stack.tcp.fast_taken == (n if fast else 0)
    # the same segments one at a time: the first read reopens the window the SYN-ACK offered (whole buffer, not yet
    # rounded), then lwIP's rule, an ACK every second segment
    t2, pcb2, _ = established(ts=False, fast=fast, tcp_wnd_default=16384)
    for i in range(n):
        t2.stack.input(t2.netif, frame(t2, start + 1000 * i, una, data=bytes([i]) * 1000), t2.now)
    assert [a.ack - start for a in _acks(t2)] == [1000 + 2000 * k for k in range((n + 1) // 2)]


def test_a_single_segment_in_a_batch_waits_for_the_delayed_ack():
    from test_tcp_fastpath import established, frame
    t, pcb, _ = established(ts=False, reader=False)
    t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_una, data=b"x" * 100)], t.now)
    t.peer_seq += 100
    assert _acks(t) == [] and pcb.delack_at == pytest.approx(t.now + 0.1)
    t.at(t.now + 0.1)
    assert [a.ack for a in _acks(t)] == [t.peer_seq]


@pytest.mark.parametrize("fast", [True, False])
def test_out_of_order_segments_in_a_batch_are_each_acknowledged_at_once(fast):
    """RFC 5681 4.2: out-of-order data is acknowledged at once, so that the sender counts its duplicates: inside a
    batch too, one duplicate ACK per segment, written as each arrives; the segment that fills the gap is
    acknowledged at once as well (RFC 5681 4.2), and what follows it in the batch once at the end."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=False, fast=fast)
    una, s = pcb.snd_una, t.peer_seq
    frames = [frame(t, s + 1000, una, data=b"b" * 1000), frame(t, s + 2000, una, data=b"c" * 1000),
              frame(t, s + 3000, una, data=b"d" * 1000), frame(t, s, una, data=b"a" * 1000),
              frame(t, s + 4000, una, data=b"e" * 1000), frame(t, s + 5000, una, data=b"f" * 1000)]
    t.stack.input_many(t.netif, frames, t.now)
    assert [a.ack - s for a in _acks(t)] == [0, 0, 0, 4000, 6000]
    assert bytes(got) == b"a" * 1000 + b"b" * 1000 + b"c" * 1000 + b"d" * 1000 + b"e" * 1000 + b"f" * 1000


def test_a_reply_sent_inside_the_batch_carries_the_ack():
    """An application answering as it reads (echo) sends data that carries the ACK: nothing more at the end."""
    from test_tcp_fastpath import established, frame
    t, pcb, _ = established(ts=False, reader=False)

    def echo(p):
        while p.readable:
            p.send(p.recv())
    pcb.on_event = echo
    pcb.nodelay = True
    una, s = pcb.snd_una, t.peer_seq
    t.stack.input_many(t.netif, [frame(t, s, una, data=b"q" * 64), frame(t, s + 64, una, data=b"r" * 64)], t.now)
    out = t.sent()
    assert [len(o.payload) for o in out] == [64, 64]  # the two replies, no bare ACK after them
    assert out[-1].ack == s + 128 and not pcb.ack_due


def test_a_read_reopening_the_window_outside_a_batch_is_told_at_once():
    """The window update a read asks for waits for the batch's end only inside a batch; an application reading later
    (a socket's recv on its own thread) has it sent at once."""
    from test_tcp_fastpath import established, frame
    t, pcb, _ = established(ts=False, reader=False, tcp_wnd_default=4320)  # three segments of our MSS, 1440
    una, s = pcb.snd_una, t.peer_seq
    t.stack.input_many(t.netif, [frame(t, s + 1440 * i, una, data=b"w" * 1440) for i in range(3)], t.now)
    assert [(a.ack - s, a.window) for a in _acks(t)] == [(4320, 0)]  # the window closed: one ACK, after the batch
    pcb.recv(4320)
    assert [(a.ack - s, a.window) for a in _acks(t)] == [(4320, 4320)]  # the update, at once


def _pulled(t, frames):
    """The frames of a batch, handed over one at a time (as the loop's lazy TAP reader does), each after the ACKs
    written so far are noted with the count of frames handled before them: [(frames handled, ack, window), ...];
    "last" marks ACKs written while the last frame was handled (before the batch ended)."""
    seen = []

    def gen():
        for i, f in enumerate(frames):
            seen.extend((i, a.ack, a.window) for a in _acks(t))
            yield f
        seen.extend(("last", a.ack, a.window) for a in _acks(t))
    return gen(), seen


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("ts", [True, False])
def test_an_ack_goes_inside_the_batch_when_the_offered_window_is_used_up(fast, ts):
    """ESP-IDF's window holds four segments: when a batch's segments use up what we last offered, the peer can send
    nothing more until it hears from us, so the ACK the batch owes goes at once, not after the (empty) read that
    ends the batch; the peer's next segments can then arrive while this batch is still being read."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=ts, fast=fast, tcp_wnd_default=5760)
    seg = 1428 if ts else 1440
    una, s = pcb.snd_una, t.peer_seq
    stamp = (lambda i: (200 + i, 0)) if ts else (lambda i: None)
    # a first segment alone: its ACK offers four whole segments (the SYN-ACK's window is not kept in rcv_adv)
    t.stack.input_many(t.netif, [frame(t, s, una, data=b"0" * seg, ts=stamp(0))], t.now)
    assert [(a.ack - s, a.window) for a in _acks(t)] == [(seg, 4 * seg)]
    # a batch of seven: the fourth uses the window up and is acknowledged before the fifth is taken; the last
    # three, in the window that ACK offered, once after the batch
    frames = [frame(t, s + seg * (1 + i), una, data=bytes([49 + i]) * seg, ts=stamp(1 + i)) for i in range(7)]
    batch, seen = _pulled(t, frames)
    t.stack.input_many(t.netif, batch, t.now)
    seen += [("flush", a.ack, a.window) for a in _acks(t)]
    assert [(k, ack - s, w) for k, ack, w in seen] == [(4, 5 * seg, 4 * seg), ("flush", 8 * seg, 4 * seg)]
    assert len(got) == 8 * seg and not pcb.ack_due and not t.stack.tcp.ack_pending
    assert t.stack.tcp.fast_taken == (8 if fast else 0)


@pytest.mark.parametrize("fast", [True, False])
def test_a_window_used_up_unread_is_acknowledged_inside_the_batch(fast):
    """The reader holds what it read (the window closes): the ACK every second segment asks for goes at once when
    the segment leaves no room for another, offering the closed window; one that leaves room waits for the end."""
    from test_tcp_fastpath import established, frame
    t, pcb, _ = established(ts=False, fast=fast, reader=False, tcp_wnd_default=5760)
    una, s = pcb.snd_una, t.peer_seq
    t.stack.input_many(t.netif, [frame(t, s, una, data=b"a" * 1440)], t.now)
    t.at(t.now + 0.2)  # the delayed ACK offers the three segments left: our edge (rcv_adv) is 5760 from s
    assert [(a.ack - s, a.window) for a in _acks(t)] == [(1440, 4320)]
    batch, seen = _pulled(t, [frame(t, s + 1440 * (1 + i), una, data=b"b" * 1440) for i in range(3)])
    t.stack.input_many(t.netif, batch, t.now)
    seen += [("flush", a.ack, a.window) for a in _acks(t)]
    assert [(k, ack - s, w) for k, ack, w in seen] == [("last", 5760, 0)]  # with the third, before the batch ended
    assert pcb.readable == 5760 and not pcb.ack_due and pcb.delack_at is None


# (data offset from the batch's next in-order byte, length, timestamp kind, flags)
SEGMENT = st.tuples(st.sampled_from([0, 0, 0, 0, 0, 300, -200]), st.sampled_from([1000, 1000, 1000, 536, 1, 0]),
                    st.sampled_from(["ok", "ok", "ok", "none", "old"]), st.sampled_from([0x10, 0x18] * 8 + [0x11]))
BATCH_STEP = st.one_of(
    st.tuples(st.just("batch"), st.lists(SEGMENT, min_size=1, max_size=8)),
    st.tuples(st.sampled_from(["send", "read"]), st.integers(1, 5000)),
    st.tuples(st.just("time"), st.sampled_from([0.05, 0.2, 1.5])),
)


@settings(max_examples=150, deadline=None)
@given(ts=st.booleans(), sack=st.booleans(), reader=st.booleans(), steps=st.lists(BATCH_STEP, min_size=1, max_size=15))
def test_fast_and_full_paths_agree_on_batches(ts, sack, reader, steps):
    """The differential test of test_tcp_fastpath, with the segments read in batches (``Stack.input_many``): the
    fast path and the full one defer the same ACKs to the end of a batch and leave the same state and output."""
    run_batches(ts, sack, reader, steps)


def _established_scaled(ts: bool, sack: bool, fast: bool, reader: bool):
    """test_tcp_fastpath's ``established`` with window scaling agreed (our shift 2, a 64 KiB buffer, the peer's 0)."""
    from test_tcp_fastpath import TS
    t = TcpScript(tcp_timestamps=ts, tcp_sack_out=sack, wnd_scale=True, tcp_rcv_scale=2, tcp_wnd_default=65536)
    t.stack.tcp.fast_path = fast
    t.stack.tcp.isn = lambda *args: 5000
    listener = t.stack.tcp.listen(t.port)
    t.send("S", options=[("MSS", 1000), ("WScale", 0)] + ([TS] if ts else []) + ([("SAckOK", b"")] if sack else []))
    t.iss = t.sent()[0].seq
    t.send("A", ack=t.iss + 1, options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))] if ts else [])
    t.dev.take()
    pcb = listener.accept()
    assert pcb is not None and pcb.rcv_wscale == 2
    got = bytearray()
    if reader:
        def on_event(p):
            while p.readable:
                got.extend(p.recv())
        pcb.on_event = on_event
    return t, pcb, got


@settings(max_examples=100, deadline=None)
@given(ts=st.booleans(), sack=st.booleans(), reader=st.booleans(), steps=st.lists(BATCH_STEP, min_size=1, max_size=15))
def test_fast_and_full_paths_agree_on_batches_with_scaled_windows(ts, sack, reader, steps):
    """As above with window scaling: the template ACK's window (rounded, a kept edge rounded up) is the full way's."""
    run_batches(ts, sack, reader, steps, scaled=True)


def run_batches(ts: bool, sack: bool, reader: bool, steps: list, scaled: bool = False) -> int:
    from test_tcp_fastpath import assert_alike, established, frame
    make = _established_scaled if scaled else established
    runs = [make(ts=ts, sack=sack, fast=fast, reader=reader) for fast in (True, False)]
    tsval = 1000
    for step in steps:
        kind, arg = step
        for t, pcb, _ in runs:
            if kind == "batch":
                frames, nxt = [], t.peer_seq
                for i, (off, n, tsk, flags) in enumerate(arg):
                    stamp = {"ok": (tsval + i, 0), "none": None, "old": (5, 0)}[tsk] if ts else None
                    frames.append(frame(t, nxt + off, pcb.snd_una, flags, bytes([n & 0xFF]) * n, ts=stamp))
                    if off == 0:
                        nxt += n
                t.stack.input_many(t.netif, frames, t.now)
                if pcb.state_name != "CLOSED":
                    t.peer_seq = pcb.rcv_nxt
            elif kind == "send":
                if pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT"):
                    pcb.send(b"s" * arg)
            elif kind == "read":
                if pcb.state_name != "CLOSED" and pcb.readable:
                    pcb.recv(arg)
            else:
                t.at(t.now + arg)
        tsval += 10
        (ta, pa, got_a), (tb, pb, got_b) = runs
        assert_alike((ta, pa), (tb, pb), step, memory=True)
        assert got_a == got_b and not ta.stack.tcp.ack_pending and not tb.stack.tcp.ack_pending
    assert runs[1][0].stack.tcp.fast_taken == 0
    return runs[0][0].stack.tcp.fast_taken


@pytest.mark.parametrize("ts", [True, False])
def test_the_batch_differential_takes_the_fast_path(ts):
    steps = [("batch", [(0, 1000, "ok", 0x10)] * 4), ("send", 3000), ("batch", [(0, 1000, "ok", 0x18)] * 3),
             ("read", 100), ("batch", [(300, 1000, "ok", 0x10), (0, 1000, "ok", 0x10), (0, 536, "ok", 0x10)]),
             ("time", 0.2), ("batch", [(0, 1000, "ok", 0x10)] * 5)]
    assert run_batches(ts, False, True, steps) >= 10
    assert run_batches(ts, False, True, steps, scaled=True) >= 10


# -- the fast path's pieces: the checksum of full segments, the ACK template -----------------------------------------
@pytest.mark.parametrize("size", [360, 401, 733, 1024, 1447, 1448, 1460])
def test_full_segments_checksums_are_verified_by_the_fast_path(size):
    """The fast path sums a long segment its own way (wire.checksum.data_sum past 400 bytes): a right checksum is
    taken, each wrong one (off by one in any 16-bit word's worth) goes to the full path, which counts and drops it."""
    from test_tcp_fastpath import established, frame, inject
    t, pcb, got = established(ts=False)
    data = bytes((i * 7) & 0xFF for i in range(size))
    for delta in (1, 0xFFFE, 0x100):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, data=data, tcp_csum_delta=delta))
    assert t.stack.tcp.fast_taken == 0 and t.stack.stats.tcp.chkerr == 3 and not got
    inject(t, frame(t, t.peer_seq, pcb.snd_una, data=data))
    assert t.stack.tcp.fast_taken == 1 and bytes(got) == data


@pytest.mark.parametrize("ts", [True, False])
def test_pure_acks_come_from_the_connection_template(ts):
    from lwipy.wire.checksum import pseudo_sum_v4, verify
    from test_tcp_fastpath import OWN_B, PEER_B, established, frame
    t, pcb, _ = established(ts=ts, reader=False)
    before = t.stack.tcp.fast_sent
    for ttl in (64, 5):
        pcb.ttl = ttl  # a changed TTL makes a new template
        stamp = (900, 1) if ts else None
        t.stack.input_many(t.netif, [frame(t, t.peer_seq + 100 * i, pcb.snd_una, data=b"t" * 100, ts=stamp)
                                     for i in range(2)], t.now)
        t.peer_seq += 200
        (raw,) = t.dev.take()
        assert raw[22] == ttl and verify(raw[14:34]) and verify(raw[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(raw) - 34))
        assert int.from_bytes(raw[42:46], "big") == pcb.rcv_nxt == t.peer_seq
        assert len(raw) == 14 + 20 + (32 if ts else 20)
    assert t.stack.tcp.fast_sent - before == 2 and pcb in t.stack.tcp.ack_templates
    pcb.abort()
    assert pcb not in t.stack.tcp.ack_templates


def test_an_ack_with_sack_blocks_takes_the_full_way():
    from test_tcp_fastpath import established, frame, inject
    t, pcb, _ = established(ts=True, sack=True)
    before = t.stack.tcp.fast_sent
    inject(t, frame(t, t.peer_seq + 500, pcb.snd_una, data=b"o" * 100, ts=(900, 1)))
    (ack,) = t.sent()
    assert "SAck" in dict(ack.options) and t.stack.tcp.fast_sent == before


def test_a_batch_fed_from_inside_a_batch_ends_with_the_outer_one():
    """A callback that hands the stack frames of its own (a loopback, a tunnel) while a batch is being taken: the
    ACKs due wait for the outer batch's end, not the inner one's."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=False, reader=False)

    def reader(p):
        got.extend(p.recv())
        t.stack.input_many(t.netif, [], t.now)  # an inner batch, empty
    pcb.on_event = reader
    una, s = pcb.snd_una, t.peer_seq
    t.stack.input_many(t.netif, [frame(t, s + 100 * i, una, data=b"n" * 100) for i in range(4)], t.now)
    assert [a.ack - s for a in _acks(t)] == [400] and len(got) == 400 and not t.stack.tcp.batching


# -- Stack.input_many hands an established connection's segments straight to header prediction ----------------------
def _count_full_way(t, monkeypatch) -> list:
    """The frames that went the whole way (``Stack.input``) rather than straight to the fast path."""
    full = []
    real = t.stack.input

    def counted(netif, frame, now):
        full.append(bytes(frame))
        real(netif, frame, now)
    monkeypatch.setattr(t.stack, "input", counted)
    return full


def test_a_batch_of_segments_goes_straight_to_header_prediction(monkeypatch):
    """input_many tries TCP's fast path first for every frame that is TCP over IPv4 on an Ethernet netif, without
    the two calls of Stack.input and ethernet_input; an ICMP echo, an ARP request and a segment the fast path leaves
    (a SYN) go the whole way, in their place in the batch."""
    from test_tcp_fastpath import established, frame
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import ARP, Ether
    from tcp_script import ETH, OWN_IP, PEER_IP
    t, pcb, got = established(ts=False)
    full = _count_full_way(t, monkeypatch)
    una, s = pcb.snd_una, t.peer_seq
    ping = bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / ICMP(id=7, seq=1) / (b"p" * 8))
    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=ETH.src) / ARP(op=1, psrc=PEER_IP, pdst=OWN_IP, hwsrc=ETH.src))
    syn = frame(t, s + 5, una, flags=0x02)
    frames = [frame(t, s, una, data=b"a" * 100), ping, frame(t, s + 100, una, data=b"b" * 100), arp, syn]
    t.stack.input_many(t.netif, frames, t.now)
    assert full == [ping, arp, syn]
    assert t.stack.tcp.fast_taken == 2 and bytes(got) == b"a" * 100 + b"b" * 100
    assert t.stack.stats.icmp.xmit == 1 and t.stack.stats.etharp.recv == 1  # the echo answered, the ARP read


def test_a_netif_that_is_not_ethernet_or_a_replaced_input_takes_the_whole_way(monkeypatch):
    """Only a netif whose input is ethernet_input gets the shortcut: one whose input someone replaced (a tap on
    the frames, a test double) sees every frame, as with Stack.input."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=False)
    seen = []
    real = t.netif.input

    def spy(netif, f):
        seen.append(bytes(f))
        real(netif, f)
    t.netif.input = spy
    s = t.peer_seq
    frames = [frame(t, s + 100 * i, pcb.snd_una, data=bytes([i]) * 100) for i in range(3)]
    t.stack.input_many(t.netif, frames, t.now)
    assert seen == frames and len(got) == 300
    assert t.stack.tcp.fast_taken == 3  # ethernet_input took them the fast way itself


@pytest.mark.parametrize("strict", [True, False])
def test_an_internal_error_in_the_shortcut_is_handled_as_stack_input_handles_it(strict, monkeypatch):
    """A bug raising inside the fast path: a strict stack raises it; otherwise the frame is dropped and counted in
    link.err (as Stack.input does) and the rest of the batch is still taken."""
    from test_tcp_fastpath import established, frame
    t, pcb, got = established(ts=False)
    t.stack.strict = strict
    real = t.stack.tcp.fast_input
    calls = []

    def flaky(netif, f):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("planted")
        return real(netif, f)
    t.stack.tcp.fast_input = flaky
    s = t.peer_seq
    frames = [frame(t, s, pcb.snd_una, data=b"x" * 100), frame(t, s, pcb.snd_una, data=b"y" * 100)]
    if strict:
        with pytest.raises(RuntimeError):
            t.stack.input_many(t.netif, frames, t.now)
        assert not t.stack.tcp.batching
        return
    t.stack.input_many(t.netif, frames, t.now)
    assert t.stack.stats.link.err == 1 and bytes(got) == b"y" * 100 and not t.stack.tcp.batching
