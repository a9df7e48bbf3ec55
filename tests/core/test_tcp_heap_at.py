"""way14: a reply's retransmission timer armed against the deadline the connection's heap entry holds
(``TcpPcb.heap_at``, kept by :class:`~lwipy.core.timers.LazyDeadlines` wherever the entry changes), not by looking
the entry up: ``_output_one`` skips ``arm`` only when ``arm`` would do nothing.  The timer fires when it fires
without the fast paths (the full way arms through ``_arm_rto``), after a reply following a reply, after the timer
fired, and after the entry was cancelled, and the pcb's figure is always its entry's.  In virtual time, against a
scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lwipy.core.timers import NO_ENTRY
from test_tcp_fastpath import ACK, frame, inject
from test_tcp_rr_fast import echo_connection, request

# a step: (seconds to the next event, what it is: a request, a pure ACK of the reply (no deadline left: the entry
# goes when it surfaces), the timers polled, the heap asked its next deadline, or the entry cancelled (as a freed
# connection's is) with the pcb's deadlines set again)
STEPS = st.lists(st.tuples(st.sampled_from([0.0, 0.01, 0.2, 0.7, 1.0, 3.0]),
                           st.sampled_from(["request", "request", "request", "ack", "poll", "next_at", "cancel"])),
                 min_size=1, max_size=25)


def _entry_at(timers, pcb) -> float:
    entry = timers._live.get(pcb)
    return NO_ENTRY if entry is None else entry[0]


def _run(ts: bool, fast: bool, steps) -> list:
    """The frames each step sent (retransmissions among them) and the connection's deadlines after each step (the
    heap asked its next deadline only by the steps that ask it, and at the end)."""
    t, pcb, _ = echo_connection(ts, fast=fast)
    timers = t.stack.tcp.timers
    request(t, pcb, b"q" * 64, ts=(500, 0) if ts else None)
    seen = [[bytes(f) for f in t.dev.take()]]
    for i, (gap, kind) in enumerate(steps):
        t.now += gap
        if kind == "request":
            request(t, pcb, bytes([65 + i % 26]) * 64, ts=(501 + i, 0) if ts else None)
        elif kind == "ack":
            inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK, ts=(501 + i, 0) if ts else None))
        elif kind == "poll":
            t.at(t.now)
        elif kind == "next_at":
            timers.next_at()
        else:
            timers.cancel(pcb)
            pcb._schedule()  # (the deadlines the pcb holds, back in the heap)
        assert pcb.heap_at == _entry_at(timers, pcb)
        seen.append(([bytes(f) for f in t.dev.take()], pcb.rto_at, pcb.next_deadline()))
    assert timers.next_at() == pcb.next_deadline() and pcb.heap_at == _entry_at(timers, pcb)
    return seen


@settings(max_examples=60, deadline=None)
@given(st.booleans(), STEPS)
# (the entry of a connection with no deadline left dropped as it surfaces: by pop_due, by next_at)
@example(False, [(0.0, "ack"), (3.0, "poll"), (0.01, "request"), (3.0, "poll")])
@example(True, [(0.0, "ack"), (0.01, "next_at"), (0.01, "request"), (3.0, "poll")])
def test_the_retransmission_timer_fires_as_without_the_fast_paths(ts, steps):
    """Requests at random gaps (each acknowledging the last reply, or after it went again), pure ACKs, the timers
    polled, the heap asked, the entry cancelled: the same frames at the same times, the same deadlines, with and without the
    fast paths."""
    assert _run(ts, True, steps) == _run(ts, False, steps)


def _reply(t, pcb, i: int, ts: bool) -> None:
    request(t, pcb, bytes([97 + i]) * 64, ts=(700 + i, 0) if ts else None)
    assert len(t.dev.take()) == 1 and pcb.rto_at == pytest.approx(t.now + pcb.rtt.rto)


def _fires_at(t, pcb, when: float) -> None:
    """Nothing goes just before ``when``; the reply goes again at it."""
    t.at(when - 1e-6)
    assert t.dev.take() == []
    t.at(when)
    assert len(t.dev.take()) == 1 and pcb.retries == 1


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("before", ["a reply", "the timer fired", "the entry cancelled"])
def test_a_reply_arms_its_timer_exactly(ts, before):
    """A reply after a reply whose ACK left the heap entry (skipped: the entry is earlier), after the timer fired
    (the entry handed back: the reply arms a new one) and after the entry was cancelled (none: armed): each goes
    again exactly one RTO after it was written, and the pcb's figure is its entry's."""
    t, pcb, _ = echo_connection(ts)
    timers = t.stack.tcp.timers
    request(t, pcb, b"q" * 64, ts=(500, 0) if ts else None)  # (the first acknowledges nothing new)
    t.dev.take()
    t.now += 0.05
    _reply(t, pcb, 0, ts)
    t.now += 0.05
    if before == "the timer fired":
        _fires_at(t, pcb, pcb.rto_at)
        assert pcb.heap_at == _entry_at(timers, pcb) != NO_ENTRY  # (armed again, backed off)
        t.now += 0.01
    elif before == "the entry cancelled":
        timers.cancel(pcb)
        assert pcb.heap_at == NO_ENTRY
    pushes, entry = timers.pushes, _entry_at(timers, pcb)
    _reply(t, pcb, 1, ts)
    # LazyDeadlines.arm's rule: a new entry only when the reply's deadline is earlier than the entry
    assert timers.pushes - pushes == (1 if pcb.rto_at < entry else 0) and (before != "a reply" or entry < pcb.rto_at)
    assert pcb.heap_at == _entry_at(timers, pcb) <= pcb.rto_at
    assert timers.next_at() == pcb.rto_at == pcb.heap_at
    _fires_at(t, pcb, pcb.rto_at)
