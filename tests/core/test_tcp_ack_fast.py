"""The pure-ACK fast path of a bulk sender (``fastpath.fast_pure_ack``, issue 15): an ACK of new data for an
ESTABLISHED connection is taken by it, the application is told there is room and what it writes goes out; every
unusual ACK or connection is left to ``_fast_input`` or the full path; and a differential test feeds the same random
ACKs, windows, peer data, timeouts, device refusals and application behaviour (writes of any size from the callback,
closes, shutdowns, aborts) to a stack with the fast paths and one without, comparing output and state at every step.
In virtual time, against a scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp import fastpath
from lwipy.core.timers import NO_ENTRY
from test_tcp_fastpath import ACK, FIN, PSH, assert_alike, established, frame, inject


def watch(monkeypatch) -> list:
    """Record what every ``fast_pure_ack`` call returned (True: it took the ACK)."""
    calls: list = []
    real = fastpath.fast_pure_ack

    def wrapper(*args):
        took = real(*args)
        calls.append(took)
        return took
    monkeypatch.setattr(fastpath, "fast_pure_ack", wrapper)
    return calls


def chargen(pcb, writes: list | None = None) -> None:
    """An application that fills the send buffer whenever it is told of room (``writes``: record each send)."""
    def on_event(p):
        while p.readable:
            p.recv()
        if p.state_name in ("ESTABLISHED", "CLOSE_WAIT") and p.send_space:
            took = p.send(b"c" * p.send_space)
            if writes is not None:
                writes.append(took)
    pcb.on_event = on_event


def ack_frame(t, pcb, advance: int, ts: bool, tsval: int = 900, window: int = 65535, seq: int | None = None):
    return frame(t, t.peer_seq if seq is None else seq, pcb.snd_una + advance, window=window,
                 ts=(tsval, 0) if ts else None)


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_bulk_sender_acks_are_taken_and_refill_the_window(ts, monkeypatch):
    t, pcb, _ = established(ts=ts)
    seg = pcb.seg_size
    pcb.snd_buf_limit = 4 * seg  # as ESP-IDF's TCP_SND_BUF is 4 x MSS: the initial window sends it all
    calls = watch(monkeypatch)
    writes: list = []
    chargen(pcb, writes)
    pcb.send(b"c" * pcb.send_space)
    first = t.dev.take()
    assert first and pcb.snd_nxt != pcb.snd_una
    for i in range(20):
        una = pcb.snd_una
        inject(t, ack_frame(t, pcb, 2 * seg, ts, tsval=900 + i))
        assert pcb.snd_una == (una + 2 * seg) & 0xFFFFFFFF
        frames = t.dev.take()
        assert len(frames) == 2 and all(len(f) == 14 + 20 + (32 if ts else 20) + seg for f in frames)
    assert calls == [True] * 20
    assert writes == [2 * seg] * 20  # the application refilled what each ACK freed, and it went at once
    assert t.stack.tcp.fast_taken == 20 and t.stack.stats.tcp.recv >= 20
    assert len(pcb.snd_buf) == 4 * seg and pcb.rto_at is not None


def test_last_ack_stops_the_retransmission_timer():
    t, pcb, _ = established(ts=False)
    pcb.nodelay = True
    pcb.send(b"d" * 1500)
    t.dev.take()
    assert pcb.rto_at is not None
    inject(t, ack_frame(t, pcb, (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF, False))
    assert t.stack.tcp.fast_taken == 1
    assert pcb.snd_una == pcb.snd_max and pcb.rto_at is None and not pcb.snd_buf


# -- left for every unusual one ------------------------------------------------------------------------------------------
def _sent(t, pcb) -> None:
    pcb.nodelay = True
    pcb.send(b"e" * 3000)
    t.dev.take()


UNUSUAL = {
    # (how to set the connection up, the ACK's advance, extra frame arguments)
    "duplicate ACK": (_sent, 0, {}),
    "window update": (_sent, 0, {"window": 1000}),
    "ACK of unsent data": (_sent, 5000, {}),
    "data with the ACK": (_sent, 1000, {"data": b"x" * 10, "flags": ACK | PSH}),
    "FIN with the ACK": (_sent, 1000, {"flags": ACK | FIN}),
    "old segment": (_sent, 1000, {"seq": -5}),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_unusual_acks_are_left(case, monkeypatch):
    t, pcb, _ = established(ts=False)
    setup, advance, extra = UNUSUAL[case]
    setup(t, pcb)
    calls = watch(monkeypatch)
    args = dict(seq=t.peer_seq, ack=pcb.snd_una + advance, flags=ACK)
    if "seq" in extra:
        args["seq"] = t.peer_seq + extra.pop("seq")
    args.update(extra)
    inject(t, frame(t, **args))
    assert True not in calls


def _fin_queued(t, pcb):
    _sent(t, pcb)
    pcb.shutdown()  # FIN_WAIT_1: the FIN queued after the data


def _close_wait(t, pcb):
    _sent(t, pcb)
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | FIN))
    t.peer_seq += 1


def _ooseq(t, pcb):
    _sent(t, pcb)
    inject(t, frame(t, t.peer_seq + 100, pcb.snd_una, ACK, b"z" * 50))
    assert pcb.ooseq


def _recovery(t, pcb):
    _sent(t, pcb)
    for _ in range(3):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK))
    assert pcb.cc.recover is not None


def _read_closed(t, pcb):
    _sent(t, pcb)
    pcb.shutdown(read=True, write=False)


CONNECTIONS = {"FIN queued": _fin_queued, "CLOSE_WAIT": _close_wait, "out-of-order data held": _ooseq,
               "fast recovery": _recovery, "read side closed": _read_closed}


@pytest.mark.parametrize("case", sorted(CONNECTIONS))
def test_unusual_connections_are_left(case, monkeypatch):
    t, pcb, _ = established(ts=False)
    CONNECTIONS[case](t, pcb)
    calls = watch(monkeypatch)
    una = pcb.snd_una
    inject(t, frame(t, t.peer_seq, una + 500, ACK))
    assert True not in calls
    assert pcb.snd_una == (una + 500) & 0xFFFFFFFF  # the other way took it


def test_sack_scoreboard_and_timestamps_left(monkeypatch):
    t, pcb, _ = established(ts=True, sack=True)
    _sent(t, pcb)
    calls = watch(monkeypatch)
    una = pcb.snd_una
    inject(t, frame(t, t.peer_seq, una + 100, ACK, ts=None))  # no timestamp where one is due
    inject(t, frame(t, t.peer_seq, una + 100, ACK, ts=(1, 0)))  # PAWS: older than ts_recent
    sack = b"\x01\x01\x05\x0a" + (una + 1000).to_bytes(4, "big") + (una + 1500).to_bytes(4, "big")
    inject(t, frame(t, t.peer_seq, una + 200, ACK, opts=sack + b"\x01\x01\x08\x0a" + (1500).to_bytes(4, "big") + bytes(4)))
    assert pcb.scoreboard.ranges
    inject(t, frame(t, t.peer_seq, una + 300, ACK, ts=(2000, 0)))  # a scoreboard held
    assert True not in calls
    assert pcb.snd_una == (una + 300) & 0xFFFFFFFF


def test_fast_path_off_leaves_it(monkeypatch):
    t, pcb, _ = established(ts=False, fast=False)
    _sent(t, pcb)
    calls = watch(monkeypatch)
    inject(t, frame(t, t.peer_seq, pcb.snd_una + 500, ACK))
    assert calls == []


# -- the differential test ---------------------------------------------------------------------------------------------
# (kind, ACK advance in segments or bytes, window, the application's writes and what it does then, dt)
STEP = st.tuples(
    st.sampled_from(["ack"] * 8 + ["dup", "data", "time", "full", "fin"]),
    st.sampled_from([2, 2, 2, 1, 3, 0, -7, 10 ** 6]),  # segments acknowledged; -7: 7 bytes; 10**6: everything
    st.sampled_from([65535] * 6 + [3000, 700, 0]),
    st.lists(st.integers(-4000, 4000).filter(bool), min_size=0, max_size=3),  # below 0: with more (no PSH)
    st.sampled_from(["none"] * 12 + ["close", "shutdown", "abort", "nodelay"]),
    st.sampled_from([0.0, 0.0, 0.3, 2.0]),
)


def app(pcb, plan: dict) -> None:
    """An application writing ``plan["writes"]`` (sizes; a negative one with ``more``) from each notification, then
    doing ``plan["then"]``."""
    def on_event(p):
        while p.readable:
            p.recv()
        if p.state_name not in ("ESTABLISHED", "CLOSE_WAIT") or p.tx_closed:
            return
        for w in plan["writes"]:
            n = abs(w)
            if not p.send(bytes([n & 0xFF]) * n, more=w < 0):  # tx9: a negative size writes with more
                break
        then, plan["then"] = plan["then"], "none"
        if then == "close":
            p.close()
        elif then == "shutdown":
            p.shutdown()
        elif then == "abort":
            p.abort()
        elif then == "nodelay":
            p.nodelay = True
    pcb.on_event = on_event


def source_app(pcb, plan: dict) -> None:
    """tx9: :func:`app` with a stream source (``TcpPcb.tx_source``) giving ``plan["pull"]`` bytes at most (None: all
    the room) whenever ACKs free room; the application's writes then go into what room it left."""
    app(pcb, plan)

    def source(p, room):
        pull = plan["pull"]
        n = room if pull is None or pull > room else pull
        return bytes([(n + 1) & 0xFF]) * n
    pcb.tx_source = source


def run_both(ts: bool, sack: bool, steps: list, source: bool = False) -> int:
    """The same steps through a stack with the fast paths and one without, compared after each; returns the ACKs
    ``fast_pure_ack`` took.  With ``source`` the application has a stream source too: what it gives for an ACK's room
    is the step's first write's size modulo 3000 (0: nothing, left to the application's writes), all the room when
    the step writes nothing."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, sack=sack, fast=fast, tcp_snd_buf_default=5760)
        t.at(5.0)  # lwipy's TSval is the clock in ms: echoes of it are not 0 (which means no echo)
        plan = {"writes": [3000], "then": "none", "pull": None}
        (source_app if source else app)(pcb, plan)
        pcb.send(b"s" * 5760)
        runs.append((t, pcb, plan))
    taken = 0
    real = fastpath.fast_pure_ack

    def counting(*args):
        nonlocal taken
        took = real(*args)
        taken += took
        return took
    fastpath.fast_pure_ack = counting
    try:
        tsval = 1000
        for step in steps:
            kind, advance, window, writes, then, dt = step
            tsval += 1
            for t, pcb, plan in runs:
                plan["writes"], plan["then"] = writes, then
                plan["pull"] = abs(writes[0]) % 3000 if writes else None
                stamp = (tsval, (int(t.now * 1000) - 3) & 0xFFFFFFFF) if ts else None  # an echo 3 ms old
                flight = (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF
                if kind == "ack":
                    n = 7 if advance == -7 else advance * pcb.seg_size
                    inject(t, frame(t, t.peer_seq, pcb.snd_una + min(n, flight), window=window, ts=stamp))
                elif kind == "dup":
                    inject(t, frame(t, t.peer_seq, pcb.snd_una, window=window, ts=stamp))
                elif kind == "data":
                    inject(t, frame(t, t.peer_seq, pcb.snd_una + min(pcb.seg_size, flight), ACK | PSH, b"p" * 100,
                                    window=window, ts=stamp))
                    t.peer_seq += 100
                elif kind == "fin":
                    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | FIN, window=window, ts=stamp))
                    t.peer_seq += 1
                elif kind == "full":
                    t.dev.full = not t.dev.full  # the device refuses (ENOMEM) until the next "full" step
                else:
                    t.at(t.now + dt)
            (ta, pa, _), (tb, pb, _) = runs
            assert_alike((ta, pa), (tb, pb), step, memory=True)
    finally:
        fastpath.fast_pure_ack = real
    assert runs[1][0].stack.tcp.fast_taken == 0
    return taken


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), sack=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=40))
def test_fast_and_full_paths_agree_for_a_sender(ts, sack, steps):
    run_both(ts, sack, steps)


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), sack=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=40))
def test_fast_and_full_paths_agree_for_a_sender_with_a_source(ts, sack, steps):
    run_both(ts, sack, steps, source=True)


@pytest.mark.parametrize("ts", [True, False])
def test_differential_exercises_the_pure_ack_path(ts):
    """The comparison is worth something only when the sequences take the fast path, including a callback that
    closes, shuts down or aborts the connection."""
    def step(kind="ack", advance=2, window=65535, writes=(3000,), then="none", dt=0.0):
        return (kind, advance, window, list(writes), then, dt)
    steps = [step(), step(), step(advance=1), step(writes=(100, 200)), step(then="nodelay"), step(window=3000),
             step(advance=3), step("time", dt=2.0), step(), step(advance=-7), step(writes=(-500, -2000)), step(),
             step(then="shutdown"), step(),
             step(advance=10 ** 6)]
    assert run_both(ts, False, steps) >= 8
    assert run_both(ts, False, [step(), step(then="close"), step(advance=10 ** 6)]) >= 2
    assert run_both(ts, False, [step(), step(then="abort"), step()]) >= 2
    # tx9: with a stream source filling all the room, part of it (the application writing the rest), or nothing
    assert run_both(ts, False, steps + [step("data"), step("data", writes=())], source=True) >= 8
    assert run_both(ts, False, [step(writes=()), step(writes=(1000,)), step(writes=(3000,)), step(writes=()),
                                step(writes=(), then="close"), step(advance=10 ** 6)], source=True) >= 4


# -- the send fast path's per-connection template ------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_segment_template_follows_tos_ttl_and_the_neighbours_mac(ts):
    """``_output_fast`` writes from a template of the frame's constant bytes: a changed TOS, TTL or neighbour MAC
    makes a new one, and every frame is the one the full way writes (a stack without the fast paths)."""
    runs = [established(ts=ts, fast=fast) for fast in (True, False)]
    for _t, pcb, _ in runs:
        pcb.nodelay = True
    steps = [dict(), dict(tos=0x10), dict(ttl=7), dict(mac=b"\x02\x00\x00\x00\x00\x77"), dict()]
    for i, change in enumerate(steps):
        for t, pcb, _ in runs:
            if "tos" in change:
                pcb.tos = change["tos"]
            if "ttl" in change:
                pcb.ttl = change["ttl"]
            if "mac" in change:
                t.stack.etharp.add_static("10.0.0.9", change["mac"])
            inject(t, frame(t, t.peer_seq, pcb.snd_max, ts=(700 + i, 0) if ts else None))
            pcb.send(bytes([i]) * 1501)
        (ta, pa, _), (tb, pb, _) = runs
        fast, full = ta.dev.take(), tb.dev.take()
        assert fast == full and len(fast) == 2
        assert fast[-1][15] == pa.tos and fast[-1][22] == pa.ttl
    assert runs[0][0].stack.tcp.fast_sent >= 10
    assert runs[0][1] in runs[0][0].stack.tcp.tx_templates
    runs[0][1].abort()
    assert runs[0][1] not in runs[0][0].stack.tcp.tx_templates


# -- tx8: the RTT sample and the congestion window, inline in fast_pure_ack ---------------------------------------------
def _pair(ts: bool, monkeypatch) -> tuple[list, list]:
    """A chargen-like sender with and without the fast paths, a flight out; and the fast one's fast_pure_ack calls."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, fast=fast, tcp_snd_buf_default=20000)
        t.at(5.0)
        chargen(pcb)
        pcb.send(b"c" * pcb.send_space)
        runs.append((t, pcb))
    return runs, watch(monkeypatch)


def _ack_both(runs: list, advance: int, ts: bool, tsval: int) -> None:
    for t, pcb in runs:
        t.now += 0.002
        inject(t, frame(t, t.peer_seq, pcb.snd_una + advance,
                        ts=(tsval, (int(t.now * 1000) - 2) & 0xFFFFFFFF) if ts else None))
    (ta, pa), (tb, pb) = runs
    assert_alike((ta, pa), (tb, pb), f"an ACK of {advance}", memory=True)


@pytest.mark.parametrize("ts", [True, False])
def test_congestion_avoidance_grows_by_at_least_a_byte_as_the_full_way(ts, monkeypatch):
    """Past ssthresh the window grows by smss * acked // cwnd, and by one byte when that rounds to nothing (an ACK of
    a byte or two against a large window); then slow start again below ssthresh: as CongestionControl.on_ack."""
    runs, calls = _pair(ts, monkeypatch)
    for _t, pcb in runs:
        pcb.cc.ssthresh = 2000
        pcb.cc.cwnd = 30 * pcb.snd_mss
    tsval = 900
    for advance in (1, 2, 7, 1000, 1):
        tsval += 1
        _ack_both(runs, advance, ts, tsval)
    assert runs[0][1].cc.cwnd > 30 * runs[0][1].snd_mss
    for _t, pcb in runs:
        pcb.cc.ssthresh = 10 ** 9
        pcb.cc.cwnd = 2 * pcb.snd_mss
    for advance in (1, 3 * runs[0][1].snd_mss):  # slow start: at most 2 SMSS an ACK (RFC 3465, L = 2)
        tsval += 1
        _ack_both(runs, advance, ts, tsval)
    assert sum(calls) == 7 and runs[1][0].stack.tcp.fast_taken == 0


@pytest.mark.parametrize("ts", [True, False])
def test_acks_after_a_timeout_end_its_recovery_as_the_full_way(ts, monkeypatch):
    """A retransmission timeout leaves rto_recover (snd_max then) for the ACKs that follow: the one that reaches it
    clears it, and the RTT sample is the timestamps' or none (Karn: nothing timed meanwhile), as the full way."""
    runs, calls = _pair(ts, monkeypatch)
    for t, pcb in runs:
        t.at(pcb.rto_at + 0.001)
        assert pcb.cc.rto_recover is not None
    tsval = 900
    while runs[0][1].cc.rto_recover is not None:
        tsval += 1
        pcb = runs[0][1]
        _ack_both(runs, min(pcb.seg_size, (pcb.snd_nxt - pcb.snd_una) & 0xFFFFFFFF), ts, tsval)
        assert tsval < 950, "stalled"
    assert runs[1][1].cc.rto_recover is None and any(calls)
    for _ in range(3):
        tsval += 1
        _ack_both(runs, runs[0][1].seg_size, ts, tsval)


@pytest.mark.parametrize("ts", [True, False])
def test_an_rto_that_moved_earlier_fires_then_as_the_full_way(ts, monkeypatch):
    """An ACK re-arms the retransmission timer at now + RTO; when that is earlier than the deadline set before (the
    RTO shrank), the timer's heap entry must move earlier too (tx8 arms it only then): the timeout then fires at the
    new deadline in both ways."""
    class Other:
        """Another connection's deadline in the same heap, later than the new one and earlier than the one before
        (so a stale entry of the connection under test would not surface first: the heap's lazy re-reading of the
        earliest entry cannot make up for an entry left too late)."""
        heap_at = NO_ENTRY  # (way14: an owner's entry deadline, kept by the heap)

        def next_deadline(self) -> float:
            return 6.2

    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, fast=fast, tcp_snd_buf_default=20000)
        t.at(5.0)
        pcb.send(b"r" * 8000)
        assert pcb.rto_at > 6.2
        t.stack.tcp.timers.arm(Other(), 6.2)
        runs.append((t, pcb))
    calls = watch(monkeypatch)
    for rto, advance, tsval in ((5.0, 1, 901), (0.5, 1, 902)):
        for t, pcb in runs:
            pcb.rtt.rto, pcb.rtt.seq = rto, None  # no sample from this ACK: the RTO stays as set
            t.now += 0.01
            inject(t, frame(t, t.peer_seq, pcb.snd_una + advance * pcb.seg_size, ts=(tsval, 0) if ts else None))
        (ta, pa), (tb, pb) = runs
        assert_alike((ta, pa), (tb, pb), f"an ACK with RTO {rto}")
    assert calls == [True, True]
    (ta, pa), (tb, pb) = runs
    due = pa.rto_at
    assert due == pb.rto_at and abs(due - (ta.now + 0.5)) < 1e-9
    for t, _ in runs:
        t.at(due + 0.001)  # the timeout at the new deadline: the first unacknowledged segment again
    fa, fb = ta.dev.take(), tb.dev.take()
    assert fa == fb and fa, "the retransmission timer did not fire at its new deadline"
    assert_alike((ta, pa), (tb, pb), "the timeout")


# -- tx9: a stream source (TcpPcb.tx_source) -----------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_a_source_fills_each_acks_room_on_the_fast_path_without_the_event(ts, monkeypatch):
    """A bulk sender with a stream source: every ACK is taken by ``fast_pure_ack``, the room it freed is asked of the
    source once and filled whole, the application's event is not called, and the segments go without PSH (a stream
    has more), as the full path sends them."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, fast=fast, tcp_snd_buf_default=5760)
        rooms, events = [], []
        pcb.on_event = events.append

        def source(p, room, rooms=rooms):
            rooms.append(room)
            return b"q" * room
        pcb.tx_source = source
        pcb.cc.cwnd = 10 ** 6  # (the window alone limits: every ACK's output reaches the end of the buffer,
        pcb.snd_buf_limit = 4 * pcb.seg_size  # whole segments, where a push would be due)
        pcb.send(b"q" * pcb.send_space)  # (a plain write: the source's bytes after it must not push)
        t.dev.take()
        runs.append((t, pcb, rooms, events))
    calls = watch(monkeypatch)
    seg = runs[0][1].seg_size
    for i in range(10):
        for t, pcb, _, _ in runs:
            inject(t, ack_frame(t, pcb, 2 * seg if i % 3 else seg, ts, tsval=900 + i))
        (ta, pa, rooms, events), (tb, pb, rooms_b, events_b) = runs
        fa, fb = ta.dev.take(), tb.dev.take()
        assert fa == fb and fa and not [f for f in fa if f[47] & PSH]
        assert_alike((ta, pa), (tb, pb), f"ACK {i}", memory=True)
    assert calls == [True] * 10 and rooms == rooms_b and len(rooms) == 10
    assert events == events_b == []
    assert len(runs[0][1].snd_buf) == 4 * seg


def test_a_source_that_gives_nothing_leaves_the_room_to_the_event_and_one_that_gives_too_much_fails():
    t, pcb, _ = established(ts=False, tcp_snd_buf_default=5760)
    events = []
    pcb.on_event = lambda p: events.append(p.send_space)
    pcb.tx_source = lambda p, room: b""
    pcb.send(b"n" * pcb.send_space)
    inject(t, ack_frame(t, pcb, 1000, False))
    assert events == [1000] and t.stack.tcp.fast_taken == 1
    pcb.tx_source = lambda p, room: b"x" * (room + 1)
    with pytest.raises(ValueError):
        pcb._pull(10)
    assert len(pcb.snd_buf) == 5760 - 1000  # nothing queued


@pytest.mark.parametrize("fast", [True, False])
def test_the_send_buffers_memory_follows_a_sources_refills_and_a_new_mss(fast):
    """tx10: a refill that brings the send buffer back to the length last counted is not counted again (its count
    is the same), but one to another length, or after the segment size changed (as ``Tcp.path_mtu_changed`` changes
    it), is: after every ACK the count is the buffer's bytes in segments of today's ``snd_mss``, as ``TcpMem``
    counts them, and the stack's figure is the pcb's."""
    from lwipy.core.mem import TCP_SND
    t, pcb, _ = established(ts=False, fast=fast, tcp_snd_buf_default=5760)
    gives = iter([None, None, 500, None, 0, None, None, 1, None, None, None, 700, None, None] * 3)

    def source(p, room):
        n = next(gives, None)
        return b"m" * (room if n is None or n > room else n)
    pcb.tx_source = source
    pcb.on_event = None
    pcb.cc.cwnd = 10 ** 6
    pcb.send(b"m" * pcb.send_space)
    seg_cost = t.stack.mem_tcp_snd_seg
    for i in range(40):
        if i in (9, 23):
            pcb.snd_mss -= 100  # (the length the refill brings back is the one last counted)
        flight = (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF
        inject(t, ack_frame(t, pcb, min(flight, 2 * pcb.seg_size), False))
        t.dev.take()
        n = len(pcb.snd_buf)
        want = n + -(-n // pcb.snd_mss) * seg_cost if n else 0
        assert pcb._mem_snd_counted == want, f"after ACK {i}"
        assert t.stack.mem.cur[TCP_SND] == want
    assert t.stack.tcp.fast_taken == (40 if fast else 0)


def test_a_refill_while_counts_wait_for_a_reply_is_logged_once_the_log_moved_the_count():
    """tx10: while a connection's counts wait for a reply's write (rr2: ``Tcp.unsettled``, each logged in its
    ``_mem_log`` for ``TcpMem._mem_replay``), a refill back to the length last counted is logged all the same, so that
    the replay ends at the buffer's count; and after a replay a refill to the length counted before it is counted."""
    t, pcb, _ = established(ts=False, tcp_snd_buf_default=5760)
    pcb.on_event = None
    pcb.tx_source = lambda p, room: b"r" * room
    pcb.send(b"r" * 3000)  # counted at 3000 bytes
    tcp = t.stack.tcp

    def begin():  # (as _fast_request leaves it: mem12, the log begun with the counts and units it counts from)
        tcp.unsettled = pcb
        pcb._mem_log = [pcb._mem_snd_counted, pcb._mem_rcv_counted, pcb.snd_mss, pcb.mss]

    def replay():  # (as Tcp.settle replays it)
        log, pcb._mem_log = pcb._mem_log, None
        tcp.unsettled = None
        pcb._mem_replay(log)
    begin()
    pcb.snd_buf += b"r" * 1000
    pcb._mem_snd()  # logged: 4000
    del pcb.snd_buf[-2000:]
    pcb._pull(1000)  # back to 3000
    replay()
    assert len(pcb.snd_buf) == 3000
    assert pcb._mem_snd_counted == 3000 + -(-3000 // pcb.snd_mss) * t.stack.mem_tcp_snd_seg
    # a log replayed without the refill back (the count left at 4000 bytes), then a refill to 3000: counted
    begin()
    pcb.snd_buf += b"r" * 1000
    pcb._mem_log.append(len(pcb.snd_buf))  # (as send and _fast_new_ack log it, inline)
    replay()
    del pcb.snd_buf[-2000:]
    pcb._pull(1000)
    assert len(pcb.snd_buf) == 3000
    assert pcb._mem_snd_counted == 3000 + -(-3000 // pcb.snd_mss) * t.stack.mem_tcp_snd_seg
