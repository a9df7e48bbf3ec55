"""mem14: the request lane's memory accounting (``TcpInput._fast_request`` with an ``on_recv`` application).  The lane
begins a request's memory log with the data's size in it (nothing is called before the data's part when no
``on_event`` is told of the ACK first), and after the callback logs what it holds and what it wrote without asking
the receive buffer's length or reloading the log while the log is still its own (nothing settled it meanwhile, so no
segment came in and the receive buffer is still empty);
``Tcp.settle`` then checks the pcb's one-peak memo as before.  A differential test: random requests whose sizes vary
from request to request or repeat (the memo's case), replies written in parts, bytes kept and given back later, the
figures read, another connection's counts changed and the peaks reset from inside the callback and between
requests (a peak raised in the middle of a run), path MTU changes: through a stack as it is, through one whose
replays count each logged size in turn (no plan, no memo) and through one without the fast paths (everything
counted at once, by ``TcpPcb._deliver``): the same frames, figures (``MemStats.report``, the current and peak lists,
the totals), counts and what the application saw after every step.  (mem15: without ``on_event`` told of the ACK
first, the lane counts a steady request whose log would be the memo's once more as nothing: its settle finds no log,
recorded as None among the memo's checks; tests/core/test_tcp_lane_token.py holds that way.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.mem import CATEGORIES, TCP_RCV, TCP_SND
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from test_tcp_fastpath import ACK, PSH, established, frame, inject
from test_tcp_mem_memo import figures, path_mtu, step_by_step


class App:
    """An on_recv application doing what the step's plan says with each request: gives back what it kept before
    (``give``), looks at the figures, changes another connection's count or resets the peaks (``probe``, before or
    after its writes), writes the reply in parts, and keeps ``keep`` of the bytes handed to it; it records what it
    saw."""

    def __init__(self, t, pcb, notify: bool) -> None:
        self.t, self.pcb = t, pcb
        self.plan: tuple = ((64,), 0, False, None)
        self.held = 0
        self.got = 0
        self.seen: list = []
        self.other = [0] * len(CATEGORIES)
        pcb.on_recv = self.recv
        pcb.on_event = self.event
        pcb.notify_sent = notify  # (True: on_event told of the ACK first, in the lane's on_event branch)

    def probe(self, what: str | None) -> None:
        mem = self.t.stack.mem
        if what == "report":
            self.seen.append(mem.report())
        elif what == "other":
            self.other_change(TCP_RCV, 700)
        elif what == "reset":
            mem.reset_peak()
        elif what == "pmtu":
            path_mtu(self.t, self.pcb)

    def other_change(self, category: int, n: int) -> None:
        n = max(n, -self.other[category])
        self.other[category] += n
        if n:
            self.t.stack.mem.change(category, n)

    def recv(self, pcb, data):
        parts, keep, give, probe = self.plan
        self.got += 1
        if give and self.held:
            pcb.recved(self.held)
            self.held = 0
        if probe is not None and not probe.endswith(" after"):
            self.probe(probe)
        for part in parts:
            self.seen.append(pcb.send(b"r" * part))
        if probe is not None and probe.endswith(" after"):
            self.probe(probe[:-6])
        kept = min(keep, len(data))
        self.held += kept
        self.seen.append(len(data))
        return kept

    def event(self, pcb) -> None:
        self.seen.append(pcb.state_name)


SIZE = st.sampled_from([64, 64, 64, 64, 1, 200, 999, 1000, 1001, 2500])
PARTS = st.sampled_from([(64,), (64,), (64,), (32, 32), (1, 63), (), (1000,), (1000, 1000, 500), (3000,)])
PROBE = st.sampled_from([None] * 10 + ["report", "report after", "other", "other after", "reset", "reset after",
                                       "pmtu"])
PLAN = st.tuples(PARTS, st.sampled_from([0, 0, 0, 5, 64, 2000]), st.booleans(), PROBE)
REQUEST = st.tuples(st.just("request"), SIZE, PLAN)
#: the steady request (the memo's case), more often
STEADY_REQUEST = st.tuples(st.just("request"), st.just(64), st.tuples(st.just((64,)), st.just(0), st.just(False),
                                                                    st.none()))
STEP = st.one_of(
    REQUEST, REQUEST, REQUEST, STEADY_REQUEST, STEADY_REQUEST, STEADY_REQUEST,
    st.tuples(st.just("other"), st.sampled_from([TCP_RCV, TCP_RCV, TCP_SND, 7]), st.integers(-3000, 3000)),
    st.tuples(st.just("reset")),
    st.tuples(st.just("give")),
    st.tuples(st.just("pmtu")),
)
#: runs of the same step (a request/response repeats itself: the memo's case), one to six times each
STEPS = st.lists(st.tuples(STEP, st.sampled_from([1, 1, 2, 3, 4, 6])), min_size=2, max_size=12).map(
    lambda runs: [step for step, times in runs for _ in range(times)])


def run(steps: list, ts: bool = False, notify: bool = False, nodelay: bool = True) -> dict:
    """The steps through the lane as it is, through the lane with replays counted in turn (no plan or memo) and
    through the general way (no fast paths); compared after every step.  Returns what the first run did: how many
    handings went by the lane (not ``_deliver``), and per settle with a memory log whether the one-peak memo's check
    was taken (no replay called)."""
    runs = []
    for reference in (False, True, "full"):
        t, pcb, _ = established(ts=ts, reader=False, tcp_snd_buf_default=8192, fast=reference != "full")
        t.at(5.0)
        pcb.nodelay = nodelay
        if reference is True:
            pcb._mem_replay = step_by_step(pcb)
        runs.append((t, pcb, App(t, pcb, notify)))
    (ta, pa, appa) = runs[0]
    tcp = ta.stack.tcp
    real_settle, real_replay, real_deliver = tcp.settle, pa._mem_replay, TcpPcb._deliver
    replays: list = []
    done = {"handed": 0, "delivered": 0, "shortcuts": [], "peaks": []}

    def watched_replay(log: list[int]) -> None:
        replays.append(list(log))
        real_replay(log)

    def watched_settle() -> None:
        logged = tcp.unsettled is pa and pa._mem_log is not None
        counted_as_nothing = tcp.unsettled is pa and pa._mem_log is None  # (mem15: the lane's steady request again)
        before = len(replays)
        real_settle()
        if logged:
            done["shortcuts"].append(len(replays) == before)
        elif counted_as_nothing:
            assert len(replays) == before
            done["shortcuts"].append(None)

    def deliver(self):
        done["delivered"] += self is pa
        return real_deliver(self)
    pa._mem_replay = watched_replay
    tcp.settle = tcp._settle = watched_settle  # (MemStats.pending and every caller)
    TcpPcb._deliver = deliver
    tsval = 1000
    try:
        for i, step in enumerate(steps):
            tsval += 1
            for t, pcb, app in runs:
                t.at(t.now + 0.002)
                kind = step[0]
                if kind == "request":
                    _, size, plan = step
                    if pcb.state_name != "ESTABLISHED":
                        continue
                    app.plan = plan
                    stamp = (tsval, (int(t.now * 1000) - 1) & MASK) if ts else None
                    handed = app.got
                    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * size, window=65535, ts=stamp))
                    t.peer_seq = pcb.rcv_nxt
                    if app is appa:
                        done["handed"] += app.got - handed
                elif kind == "other":  # another connection's buffers (or another category) grow or shrink
                    app.other_change(step[1], step[2])
                elif kind == "reset":
                    t.stack.mem.reset_peak()
                elif kind == "give":  # what the application kept, given back
                    if app.held and pcb.state_name == "ESTABLISHED":
                        pcb.recved(app.held)
                        app.held = 0
                elif kind == "pmtu":
                    path_mtu(t, pcb)
            (ta, pa_, appa_), (tb, pb, appb), (tc, pc, appc) = runs
            out = ta.dev.take()
            assert out == tb.dev.take() == tc.dev.take(), f"different output after step {i} {step}"
            assert appa_.seen == appb.seen == appc.seen, f"different figures seen by the application in step {i} {step}"
            assert figures(ta, pa_) == figures(tb, pb), f"different figures after step {i} {step} (in turn)"
            assert figures(ta, pa_) == figures(tc, pc), f"different figures after step {i} {step} (the general way)"
            assert ta.stack.tcp.unsettled is None
            done["peaks"].append(ta.stack.mem.peak[TCP_RCV])
    finally:
        TcpPcb._deliver = real_deliver
    done["lane"] = done["handed"] - done["delivered"]
    return done


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=st.booleans(), notify=st.booleans(), nodelay=st.booleans(), steps=STEPS)
def test_the_lane_counts_memory_as_the_general_way(ts, notify, nodelay, steps):
    done = run(steps, ts, notify, nodelay)
    event(f"requests by the lane: {'none' if not done['lane'] else 'some' if done['lane'] < done['handed'] - 1 else 'all'}")
    event(f"memo's check taken: {any(done['shortcuts'])}")


STEADY = ("request", 64, ((64,), 0, False, None))


@pytest.mark.parametrize("notify", [False, True])
def test_steady_requests_take_the_lane_and_the_memo_and_a_peak_rises_in_the_middle(notify):
    """The echo's requests: each after the first taken by the lane and settled by the memo's one-peak check (the
    receive side's rise), the figures as counted in turn and by the general way; another connection's received
    bytes in the middle (from outside and from inside the callback) make the next request's rise raise the peak,
    through the memo's check."""
    steps = [STEADY] * 4 + [("other", TCP_RCV, 500)] + [STEADY] * 3 + [("reset",), ("other", TCP_RCV, -300)] \
        + [STEADY] * 2 + [("request", 64, ((64,), 0, False, "other"))] + [STEADY] * 2
    done = run(steps, notify=notify)
    assert done["handed"] == 12 and done["lane"] == 11  # (the first request acknowledges nothing new: _deliver's)
    # (the first request leaves no bookkeeping waiting; the second's log is new: its plan; the one whose callback
    # changes another count settles inside it, before its reply: the log then is not the memo's.  mem15: without
    # on_event told first, the memo's log once more takes a token, and the requests after it count as nothing (None)
    # until something is counted: the other connection's change, the reset)
    if notify:
        assert done["shortcuts"] == [False] + [True] * 7 + [False, True, True]
    else:
        assert done["shortcuts"] == [False, True, None, True, None, None, True, None, False, True, None]
    rise = 64 + 70
    assert done["peaks"][3:6] == [rise, 500, 500 + rise]  # (raised by the memo's check, the request after)
    assert done["peaks"][-3:] == [700 + 200 + rise] * 3  # (the other connection's 700 more during the hold)


def test_the_peak_a_steady_request_raises_is_the_memos_rise():
    """The memo's check raises the peak exactly: another connection's received bytes just below and then above
    what the steady request's hold leaves room for."""
    t, pcb, _ = established(ts=False, reader=False, tcp_snd_buf_default=8192)
    App(t, pcb, False)
    mem = t.stack.mem
    for _ in range(3):
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * 64))
        t.peer_seq = pcb.rcv_nxt
    rise = 64 + t.stack.mem_tcp_rx_seg
    assert (pcb._mem_rise_cat, pcb._mem_rise_up) == (TCP_RCV, rise) and mem.peak[TCP_RCV] == rise
    for other, peak in [(0, rise), (1, rise + 1), (0, rise + 1), (100, rise + 100)]:
        mem.change(TCP_RCV, other - mem.cur[TCP_RCV])
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"q" * 64))
        t.peer_seq = pcb.rcv_nxt
        assert mem.cur[TCP_RCV] == other and mem.peak[TCP_RCV] == peak


@pytest.mark.parametrize("case, step", [
    ("the figures read in the callback (a settle before the reply)", ("request", 64, ((64,), 0, False, "report"))),
    ("another connection's count changed in it", ("request", 64, ((64,), 0, False, "other"))),
    ("the peaks reset in it", ("request", 64, ((64,), 0, False, "reset"))),
    ("a path MTU change in it", ("request", 64, ((64,), 0, False, "pmtu"))),
    ("the figures read after the reply", ("request", 64, ((64,), 0, False, "report after"))),
    ("bytes kept", ("request", 64, ((64,), 5, False, None))),
    ("bytes given back in the callback", [("request", 64, ((64,), 5, False, None)),
                                          ("request", 64, ((64,), 0, True, None))]),
    ("a reply in parts", ("request", 64, ((1, 63), 0, False, None))),
    ("a longer request", ("request", 1001, ((64,), 0, False, None))),
    ("a longer reply", ("request", 64, ((1000, 1000, 500), 0, False, None))),
    ("no reply", ("request", 64, ((), 0, False, None))),
])
@pytest.mark.parametrize("notify", [False, True])
def test_each_unusual_request_between_steady_ones_counts_as_the_general_way(case, step, notify):
    """Each unusual request (or pair) between runs of steady ones: the figures as counted in turn and by the general
    way after each, the steady requests before still on the memo's check."""
    steps = [STEADY] * 3 + [("other", TCP_RCV, 900)] + (step if isinstance(step, list) else [step]) + [STEADY] * 3
    done = run(steps, notify=notify)
    assert done["shortcuts"][:2] == [False, True], case


@pytest.mark.parametrize("where", ["between", "inside"])
@pytest.mark.parametrize("notify", [False, True])
def test_a_send_unit_changed_under_steady_requests_counts_in_the_new_unit(where, notify):
    """Steady requests whose 999-byte replies take one segment of the old send unit and two of the new: a path MTU
    change between two of them, or from inside the callback before the reply is written (the request's counts
    settled first, in the old unit), and the requests after count in the new one (the log's units and then its send
    count differ from the memo's: their plans, then a memo of the new unit's)."""
    steady = ("request", 64, ((999,), 0, False, None))
    change = [("pmtu",)] if where == "between" else [("request", 64, ((999,), 0, False, "pmtu"))]
    done = run([steady] * 4 + change + [steady] * 4, notify=notify)
    # (the first request leaves nothing waiting; then the memo's; after the change: the request that changed it (its
    # counts settled inside), or the first after it (its log from a send count of the old unit), works its plan out,
    # the next one's log (a count of the new unit) makes the new memo, and the rest take it; mem15: without on_event
    # told first, the memo's log takes a token the second time, and the requests after count as nothing (None))
    rest = (2 if where == "between" else 3)
    if notify:
        assert done["shortcuts"] == [False, True, True, False, False] + [True] * rest
    else:
        assert done["shortcuts"] == [False, True, None, False, False, True] + [None] * (rest - 1)
