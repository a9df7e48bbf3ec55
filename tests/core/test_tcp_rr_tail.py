"""tail15: the deferred ACK's plumbing and the reply's tail in ``TcpOutput._output_one``.  A connection whose ACK's
bookkeeping waits for the reply's write (``Tcp.unsettled``: the request lane, ``_fast_request``, or ``_fast_new_ack``
with everything sent acknowledged) has its retransmission timer off when the reply goes (the ACK stopped it, RFC 6298
5.2, and whatever sent a segment of the connection's since settled first), no refused segment waiting for its retry
and nothing held out of order (both ways defer only without either, and a segment's input settles first):
``_output_one`` arms the timer without reading it and skips the retry's and the SACK blocks' tests then, and is told
by its caller whether the connection is unsettled (the request lane says so without a look).  These tests hold all
that over the request lane's and ``_fast_request``'s random sequences (the
differential tests' own, which hold the output and the state to the full path), and ``Tcp.settle``'s reading of the
ACK and its time from the pcb (``snd_una``, ``last_activity``) against an ACK settled 50 ms later.  The reply's timing,
asked after the write in both cases, is held by ``test_tcp_rr_lean`` and ``test_tcp_rr_one``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp.pcb import TcpPcb
from test_tcp_fastpath import ACK, PSH, established, frame, inject
from test_tcp_on_recv import CHOICE, LANE_STEP, assert_alike, run_lane_differential
from test_tcp_rr_request import STEP, run_three


@pytest.fixture
def replies(monkeypatch) -> list:
    """Record, for each ``_output_one`` call on an unsettled connection, whether its caller said so, its RTO was off,
    no refused segment waited for its retry and nothing was held out of order; a call on a settled one that was told
    it is unsettled, as False."""
    seen: list = []
    real = TcpPcb._output_one

    def watched(self, unsettled):
        if self.tcp.unsettled is self:
            seen.append(unsettled is True and self.rto_at is None and self.txretry_at is None and not self.ooseq)
        elif unsettled:
            seen.append(False)
        return real(self, unsettled)
    monkeypatch.setattr(TcpPcb, "_output_one", watched)
    return seen


def test_the_lanes_reply_is_told_it_is_unsettled_and_finds_the_rto_off(replies):
    echo = [(1, 1.0, 0, False, None, False)]
    steps = [("request", 64, 1.0, 65535, 0.0), ("request", 64, 1.0, 65535, 0.3), ("full", 64, 1.0, 65535, 0.0),
             ("request", 64, 1.0, 65535, 0.0), ("full", 64, 1.0, 65535, 0.0), ("request", 64, 1.0, 65535, 0.0),
             ("request", 1000, 1.0, 2000, 0.0), ("request", 64, 1.0, 65535, 0.01)] * 2
    for ts in (False, True):
        run_lane_differential(echo, steps, False, ts)
    assert len(replies) >= 16 and all(replies)


def test_a_reply_on_events_is_told_whether_it_is_unsettled_and_finds_the_rto_off(replies):
    def step(kind="request", size=64, share=1.0, callback=None, tsk="ok", batch=False, window=65535):
        return (kind, size, share, callback, tsk, batch, window)
    steps = [step(), step(), step(batch=True), step(share=0.5), step(), step("ack"), step(), step(callback="write"),
             step(), step("time"), step(), step("full"), step(), step("full"), step(), step(callback="look"), step()]
    for ts in (False, True):
        run_three(ts, steps)
    assert len(replies) >= 10 and all(replies)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
@given(choices=st.lists(CHOICE, min_size=1, max_size=6), lane=st.lists(LANE_STEP, min_size=1, max_size=20),
       steps=st.lists(STEP, min_size=1, max_size=20), ts=st.booleans())
def test_every_reply_is_told_whether_it_is_unsettled_and_finds_the_rto_off(replies, choices, lane, steps, ts):
    run_lane_differential(choices, lane, False, ts)
    run_three(ts, steps)
    assert all(replies)


# -- tail15: Tcp.settle reads the ACK and its time from the pcb (snd_una, last_activity) -----------------------------------
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("lane", [True, False])
def test_an_ack_settled_later_samples_with_its_own_time_and_sequence(ts, lane):
    """A request's ACK whose bookkeeping waits (the request lane's, or ``_fast_request``'s on events) is settled by a
    frame the callback feeds at a later time, before it writes the reply (by header prediction, then by the full
    path's input): the RTT sample is the ACK's (at the ACK's time, of what it acknowledged), as the full path takes
    it at once, and so is everything else."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, reader=False, fast=fast)
        t.at(5.0)
        feeds: list = []  # the way the next callback feeds its frame: "fast" or "full" (then none)

        def feed(p, t=t, feeds=feeds, fast=fast) -> None:
            if not feeds:
                return
            way = feeds.pop()
            later = frame(t, t.peer_seq, p.snd_una, ACK, window=30000 + len(way), ts=(950, 0) if ts else None)
            t.stack.tcp.fast_path = fast and way == "fast"
            try:
                t.stack.input(t.netif, later, t.now + 0.05)  # a window update, 50 ms later: settles first
            finally:
                t.stack.tcp.fast_path = fast

        if lane:
            def recv(p, data, feed=feed) -> int:
                feed(p)
                p.send(data)
                return 0
            pcb.on_recv = recv
        else:
            def event(p, feed=feed) -> None:
                if p.readable:
                    feed(p)
                    p.send(p.recv())
            pcb.on_event = event
        runs.append((t, pcb, feeds))
    for i, way in enumerate([None, "fast", "full", None]):  # (the first request acknowledges nothing: nothing waits)
        for t, pcb, feeds in runs:
            feeds[:] = [way] if way else []
            t.at(t.now + 0.02)
            inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * 64, ts=(900 + i, 0) if ts else None))
            t.peer_seq += 64
        (ta, pa, fa), (tb, pb, fb) = runs
        assert fa == fb == [] and (pa.srtt is not None) == (i > 0)
        assert (pa.srtt, pa.rttvar, pa.rto, pa.cwnd) == (pb.srtt, pb.rttvar, pb.rto, pb.cwnd)
        assert_alike((ta, pa), (tb, pb), f"request {i}", memory=True)


@pytest.mark.parametrize("lane", [True, False])
def test_an_ack_while_a_refused_segment_waits_is_settled_at_once(replies, lane):
    """A data segment acknowledging everything sent while the rest of a reply, refused by the device, waits for its
    retry: its bookkeeping is not deferred (``_fast_new_ack``), so the retry's ``_output_one`` finds the connection
    settled and clears the retry itself; the same frames and state as the full path."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=False, reader=False, fast=fast)
        t.at(5.0)
        pcb.nodelay = True  # (the reply's second segment goes at once, not held by Nagle)
        writes = [0]
        real = t.dev.transmit

        def transmit(frame, t=t, real=real, writes=writes):
            writes[0] += 1
            return False if writes[0] == 2 else real(frame)  # the reply's second segment refused
        t.dev.transmit = transmit
        if lane:
            pcb.on_recv = lambda p, data: p.send(data) and 0
        else:
            pcb.on_event = lambda p: p.readable and p.send(p.recv())
        runs.append((t, pcb))
    for t, pcb in runs:
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * 1500))  # echoed in two segments
        t.peer_seq += 1500
    assert all(pcb.txretry_at is not None and pcb.snd_max != (pcb.snd_una + 1500) & 0xFFFFFFFF for _, pcb in runs)
    assert_alike(runs[0], runs[1], "the refused segment")
    for t, pcb in runs:
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"r" * 64))  # acknowledges all that went
        t.peer_seq += 64
    assert all(pcb.txretry_at is None and not t.stack.tcp.tx_refused for t, pcb in runs)
    assert_alike(runs[0], runs[1], "the ACK")
    assert all(replies)  # (none unsettled: a reply that were would have to find no retry waiting)


# -- tail15: a way out not kept is NO_WAY -----------------------------------------------------------------------------------
def test_no_way_is_shaped_as_a_way_and_never_taken_for_a_kept_one():
    """``NO_WAY`` unpacks as a way (``_tx_way_make``'s fields) and carries a generation below any stack's (a stack's
    counts from 0 and only moves on), so the short ways out always make the way again from it, and send as the full
    path does."""
    from lwipy.core.stack import Stack
    from lwipy.core.tcp.tcp_out import NO_WAY
    assert Stack().way_generation >= 0 and NO_WAY[0] < 0
    runs = [established(ts=False, reader=False, fast=fast)[:2] for fast in (True, False)]
    for _t, pcb in runs:
        pcb.nodelay = True
        assert pcb._tx_way is NO_WAY
        pcb.send(b"a" * 100)
    (ta, pa), (tb, pb) = runs
    made = pa._tx_way
    assert made is not NO_WAY and len(made) == len(NO_WAY) and made[0] >= 0
    for t, pcb in runs:
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK))
        pcb.tos = 0x10  # (drops the way: NO_WAY)
    assert pa._tx_way is NO_WAY
    for _t, pcb in runs:
        pcb.send(b"b" * 100)
    assert pa._tx_way is not NO_WAY and pa._tx_way is not made
    assert_alike((ta, pa), (tb, pb), "the way made again")
