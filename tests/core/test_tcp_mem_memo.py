"""mem11/mem12: ``TcpMem._mem_replay`` keeps a plan that changes no count and may raise one category's peak (a
request/response's: the request's bytes in and read, as many out again as the ACK freed) with its log, which begins
with what it counts from (both counts and both units: the whole key), and ``Tcp.settle`` does that peak's check itself,
without a call, for the same log.  Taken for the steady request/response, left for every other plan; and a
differential test: random sequences of requests, segments acknowledging part of what was sent or nothing new, bulk
sends from a stream source, reads of the figures, peak resets, other connections' counts and unit changes, through a
stack as it is, through one whose replays count each logged size in turn (``MemStats.change``: no plan, no memo) and
through one without the fast paths (everything counted at once): the same frames, counts and figures
(``MemStats.report``, the lists) after every step and whenever the application looks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.events import PathMtuChanged
from lwipy.core.mem import CATEGORIES, TCP_RCV, TCP_SND
from lwipy.core.tcp.seq import MASK
from test_tcp_fastpath import ACK, PSH, established, frame, inject
from test_tcp_rr_plan import logs as plan_logs
from test_tcp_rr_plan import starts as plan_starts
from test_tcp_rr_plan import step_by_step as counted_in_turn


def step_by_step(pcb):
    """``pcb``'s ``_mem_replay`` without plans or memo: each logged size counted in turn, as ``_mem_snd`` and
    ``_mem_rcv`` count it at once (the reference: ``test_tcp_rr_plan``'s), from the counts and in the units the log
    says it begins with, which must be the pcb's now (nothing counted or changed a unit meanwhile)."""
    def replay(log: list[int]) -> None:
        assert log[:4] == [pcb._mem_snd_counted, pcb._mem_rcv_counted, pcb.snd_mss, pcb.mss]
        counted_in_turn(pcb, pcb.stack.mem, log[4:])
        pcb._mem_snd_len = -1  # (the send count replaced: tx10's memo worked out again)
    return replay


class App:
    """An application that, for each request, does what the test's plan says: looks at the figures or resets the
    peaks first, reads all or part of what waits, and answers with so many bytes; it records what it saw."""

    def __init__(self, t, pcb) -> None:
        self.t, self.pcb = t, pcb
        self.plan: tuple = ("all", 64, None)
        self.seen: list = []
        pcb.on_event = self.event

    def event(self, pcb) -> None:
        read, reply, probe = self.plan
        mem = self.t.stack.mem
        if probe == "sent-report" and not pcb.readable:
            self.seen.append(mem.report())  # (an ACK's event, the bookkeeping waiting)
        if not pcb.readable:
            return
        if probe == "report":
            self.seen.append(mem.report())
        elif probe == "reset":
            mem.reset_peak()
        data = pcb.recv() if read == "all" else pcb.recv(read)
        self.seen.append(len(data))
        if probe == "report-read":
            self.seen.append(mem.report())
        elif probe == "pmtu":
            path_mtu(self.t, pcb)
        if reply and pcb.state_name == "ESTABLISHED":
            self.seen.append(pcb.send(b"r" * reply))


def path_mtu(t, pcb) -> None:
    """A Packet Too Big for the connection's destination, told while the application runs (mem12: the send unit
    changes while a request's counts may wait, so that what the application logs after it counts in the new one):
    100 bytes less to send in each segment, down to 64.  (``Tcp.path_mtu_changed`` asks for an IPv6 connection: the
    pcb is made one for the call; and for an MTU below IPv6's 1280: this test's peer says MSS 1000.)"""
    pcb.v6 = True
    try:
        t.stack.tcp.path_mtu_changed(PathMtuChanged(pcb._remote_packed, max(64, pcb.snd_mss - 100) + 60))
    finally:
        pcb.v6 = False


def figures(t, pcb) -> tuple:
    mem = t.stack.mem
    return (mem.report(), pcb._mem_snd_counted, pcb._mem_rcv_counted, list(mem.cur), list(mem.peak), mem.total,
            mem.total_peak)


READ = st.sampled_from(["all"] * 6 + [1, 30, 200])
REPLY = st.sampled_from([64, 64, 64, 64, 0, 1, 300, 1000, 2500])
SIZE = st.sampled_from([64, 64, 64, 64, 1, 200, 999, 1000, 1001, 2500])
PROBE = st.sampled_from([None] * 8 + ["report", "reset", "report-read", "sent-report", "pmtu"])
STEP = st.one_of(
    st.tuples(st.just("request"), SIZE, READ, REPLY, PROBE),  # acknowledging everything sent
    st.tuples(st.just("request"), SIZE, st.just("all"), REPLY, st.just(None)),  # (more often: the memo's case)
    st.tuples(st.just("partial"), SIZE, READ, REPLY, PROBE),  # acknowledging part of it (when it can)
    st.tuples(st.just("data"), SIZE, READ, REPLY, PROBE),  # acknowledging nothing new
    st.tuples(st.just("other"), st.sampled_from([TCP_RCV, TCP_SND, 7]), st.integers(-3000, 3000)),
    st.tuples(st.just("reset")),
    st.tuples(st.just("units"), st.sampled_from(["snd_mss", "mss"]), st.sampled_from([1440, 1000, 1000, 500, 777])),
    st.tuples(st.just("bulk"), st.integers(1, 4), st.sampled_from([0, 100, 3000, None])),
)
#: runs of the same step (a request/response repeats itself: the memo's case), one to six times each
STEPS = st.lists(st.tuples(STEP, st.sampled_from([1, 1, 2, 3, 4, 5, 6])), min_size=1, max_size=12).map(
    lambda runs: [step for step, times in runs for _ in range(times)])


def run(steps: list, ts: bool, nodelay: bool = False, notify: bool = True) -> list:
    """The steps through a stack as it is, through the reference and through a stack without the fast paths (no
    replays: everything counted at once); compared after every step.  Returns how each of the first's settles with
    a memory log went: ``(plan kept before, shortcut taken (no replay called), the log's sizes)``."""
    runs = []
    for reference in (False, True, "full"):
        t, pcb, _ = established(ts=ts, reader=False, tcp_snd_buf_default=8192, fast=reference != "full")
        t.at(5.0)
        pcb.nodelay, pcb.notify_sent = nodelay, notify  # (notify_sent False: the echo app's way)
        if reference:
            pcb._mem_replay = step_by_step(pcb)
        runs.append((t, pcb, App(t, pcb), {"other": [0] * len(CATEGORIES)}))
    taken: list = []
    (ta, pa, _, _) = runs[0]
    tcp = ta.stack.tcp
    real_settle, real_replay = tcp.settle, pa._mem_replay
    replays: list = []

    def watched_replay(log: list[int]) -> None:
        replays.append(tuple(log) in tcp.mem_plans)
        real_replay(log)

    def watched_settle() -> None:
        log = pa._mem_log if tcp.unsettled is pa else None
        log = None if log is None else list(log)
        before = len(replays)
        real_settle()
        if log is not None:
            called = replays[before:]
            assert len(called) <= 1
            taken.append((called[0] if called else True, not called, log[4:]))
    pa._mem_replay = watched_replay
    tcp.settle = tcp._settle = watched_settle  # (MemStats.pending and every caller)
    tsval = 1000
    full = True
    for i, step in enumerate(steps):
        tsval += 1
        for t, pcb, app, extra in runs:
            t.at(t.now + 0.002)
            kind = step[0]
            stamp = (tsval, (int(t.now * 1000) - 1) & MASK) if ts else None
            if kind in ("request", "partial", "data"):
                _, size, read, reply, probe = step
                if pcb.state_name != "ESTABLISHED":
                    continue
                app.plan = (read, reply, probe)
                flight = (pcb.snd_max - pcb.snd_una) & MASK
                ack = pcb.snd_max if kind == "request" else (pcb.snd_una + flight // 2) & MASK if kind == "partial" \
                    else pcb.snd_una
                inject(t, frame(t, t.peer_seq, ack, ACK | PSH, b"q" * size, window=65535, ts=stamp))
                t.peer_seq = (t.peer_seq + size) & MASK
            elif kind == "other":  # another connection's buffers (or another category) grow or shrink
                _, category, n = step
                held = extra["other"]
                n = max(n, -held[category])
                held[category] += n
                if n:
                    t.stack.mem.change(category, n)
            elif kind == "reset":
                t.stack.mem.reset_peak()
            elif kind == "units":
                setattr(pcb, step[1], step[2])
            elif kind == "bulk":  # a stream source fills what ACKs free, for a few ACKs, then stops
                _, acks, give = step
                pcb.tx_source = lambda p, room, give=give: b"b" * (room if give is None or give > room else give)
                app.plan = ("all", 0, None)
                for _ in range(acks):
                    flight = (pcb.snd_max - pcb.snd_una) & MASK
                    if not flight:
                        pcb.send(b"b" * 100)
                        flight = (pcb.snd_max - pcb.snd_una) & MASK
                    inject(t, frame(t, t.peer_seq, (pcb.snd_una + max(1, flight // 2)) & MASK, window=65535,
                                    ts=stamp))
                pcb.tx_source = None
        (ta, pa, appa, _), (tb, pb, appb, _), (tc, pc, appc, _) = runs
        out = ta.dev.take()
        assert out == tb.dev.take(), f"different output after step {i} {step}"
        assert appa.seen == appb.seen, f"different figures seen by the application in step {i} {step}"
        assert figures(ta, pa) == figures(tb, pb), f"different figures after step {i} {step}"
        # and the full path, which counts every change at once, until the receive MSS changes (the stack never
        # changes it once the pcb is made: the fast path's window memo does not look at it, and the windows differ)
        full &= step[:2] != ("units", "mss")
        if full:
            assert out == tc.dev.take(), f"different output after step {i} {step} (the full path)"
            assert appa.seen == appc.seen, f"different figures seen in step {i} {step} (the full path)"
            assert figures(ta, pa) == figures(tc, pc), f"different figures after step {i} {step} (the full path)"
        assert ta.stack.tcp.unsettled is None and tb.stack.tcp.unsettled is None
    return taken


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=st.booleans(), nodelay=st.booleans(), notify=st.booleans(), steps=STEPS)
def test_memoised_replays_count_as_each_size_in_turn(ts, nodelay, notify, steps):
    run(steps, ts, nodelay, notify)


@pytest.mark.parametrize("unit, size", [("snd_mss", 500), ("snd_mss", 777), ("mss", 500), ("mss", 600)])
@pytest.mark.parametrize("reply", [64, 999])
def test_a_unit_changed_under_steady_requests_counts_in_the_new_units(unit, size, reply):
    """Requests and replies longer than the new segment sizes (more pbufs each), the sizes changed between two runs
    of the same requests: the counts and peaks in the new units, as counted in turn (a plan made for the old units
    counts too few segments; NODELAY: a reply longer than the send segment size goes whole, and the requests keep
    acknowledging all of it)."""
    steady = ("request", 999, "all", reply, None)
    taken = run([steady] * 4 + [("units", unit, size)] + [steady] * 3, ts=False, nodelay=True)
    assert [log for _, _, log in taken] == [[0, ~999, ~0, reply]] * 6


# -- the memo's shortcut: taken for the steady request/response, left for every other plan -----------------------------
def test_a_steady_request_response_checks_one_peak_and_changes_nothing_else():
    """The echo's requests after the first: the same log from the same counts and units, its plan the receive
    side's rise alone: every replay after the first takes the shortcut, and the figures come out as counted in turn,
    with other connections' counts and a peak reset between them (the rise raising the peak again)."""
    steps = [("request", 64, "all", 64, None)] * 4 + [("other", TCP_RCV, 500), ("request", 64, "all", 64, None),
                                                      ("reset",), ("other", TCP_RCV, -300),
                                                      ("request", 64, "all", 64, None)] * 2
    taken = run(steps, ts=False)
    # (the first request acknowledges nothing new: no bookkeeping waits, nothing is replayed)
    assert [log for _, _, log in taken] == [[0, ~64, ~0, 64]] * 7
    assert [shortcut for _, shortcut, _ in taken] == [False] + [True] * 6


@pytest.mark.parametrize("case, step", [
    ("a longer request (the log)", ("request", 1000, "all", 64, None)),
    ("a longer reply (the send count)", ("request", 64, "all", 1000, None)),
    ("a request left unread (the counts change)", ("request", 64, 30, 64, None)),
    # (bytes left unread, counted at once (their segment acknowledges nothing new), then a request that brings them
    # to the same size: the same log from another count)
    ("the receive count", [("data", 64, 30, 0, None), ("request", 30, "all", 64, None)]),
    ("the send segment size", ("units", "snd_mss", 500)),
    ("the receive segment size", ("units", "mss", 500)),
])
def test_anything_else_takes_the_plan(case, step):
    """The shortcut only for what it was made from: after the steady requests, a step that changes the log, a
    count or a unit makes the next replay work its plan out (or find it), and the figures still agree."""
    steady = ("request", 64, "all", 64, None)
    steps = [steady] * 3 + (step if isinstance(step, list) else [step]) + [steady, steady]
    taken = run(steps, ts=False, notify=False)
    shortcuts = [shortcut for _, shortcut, _ in taken]
    assert shortcuts[:2] == [False, True]  # (the first request acknowledges nothing new: no replay)
    assert shortcuts[2] is False, case  # (the changed step's replay, or, for a unit, the next request's)


def test_a_plan_whose_total_rises_never_takes_the_shortcut():
    """A request bigger than the reply its ACK freed: the total rises above where the plan ends, so its peak is
    to be checked too: the memo's plan is reused (hits) but never as one peak's check."""
    taken = run([("request", 2500, "all", 64, None)] * 5, ts=False)
    assert [hit for hit, _, _ in taken] == [False, True, True, True]  # (the first request replays nothing)
    assert not any(shortcut for _, shortcut, _ in taken)


@pytest.mark.parametrize("case, log", [
    ("the receive side's rise alone (the shortcut)", [0, ~64, ~0, 64]),
    ("the send side's rise alone (the shortcut)", [0, 5000, 64]),
    ("both sides rise, neither changes", [0, 3000, 64, ~2000, ~0]),
    ("the send side rises and comes back, the receive side falls", [~0, 1000, 64, ~500]),
    ("the receive side rises and changes", [0, ~64, ~10, 64]),
    ("the total rises", [0, ~2500, ~0, 64]),
])
@pytest.mark.parametrize("received", [0, 1440])
def test_each_kind_of_plan_counts_as_each_size_in_turn_from_any_figures(case, log, received):
    """Logs of each kind a plan can be (``_mem_replay`` called as ``Tcp.settle`` calls it), replayed from figures
    at, below and above what the plan rises to, the first time (the plan worked out) and again (the memo's): the
    figures as counted in turn.  (Logs no request makes too, as an application's sends and reads between two
    requests' could make them: the memo must not rely on a request's shape.)"""
    from test_tcp_rr_plan import a_pcb, reference, replayed
    pcb = a_pcb()
    seg = pcb.stack.mem_tcp_snd_seg
    rcv = received + pcb.stack.mem_tcp_rx_seg if received else 0
    for cur_rcv, peak_rcv, cur_snd, peak_snd, total, total_peak in [
            (rcv, rcv, 64 + seg, 64 + seg, 64 + seg + rcv, 64 + seg + rcv),
            (rcv, 5000 + rcv, 64 + seg, 9000, 3000 + rcv, 20000),
            (1000 + rcv, 1100 + rcv, 5000, 5100, 7000 + rcv, 7100 + rcv), (rcv, 134 + rcv, 172, 172, 172, 172 + rcv)]:
        start = (64 + seg, rcv, cur_snd, cur_rcv, peak_snd, peak_rcv, total, total_peak)
        for _ in range(2):
            assert replayed(pcb, start, log) == reference(pcb, start, log), case


@pytest.mark.parametrize("reply", [64, 999])
def test_a_send_unit_changed_while_counts_wait_counts_what_follows_in_the_new_unit(reply):
    """mem12: a path MTU change from the application's callback, while the request's counts wait for the reply,
    settles them first (a log is counted in the units it began with): the reply the application writes after it
    counts in the new unit, as the full path counts it at once (a 999-byte reply: two of the new segments, one of
    the old)."""
    steady = ("request", 64, "all", reply, None)
    taken = run([steady] * 3 + [("request", 64, "all", reply, "pmtu")] + [steady] * 2, ts=False, nodelay=True)
    assert [log for _, _, log in taken][:2] == [[0, ~64, ~0, reply]] * 2


#: a request's log (its ACK empties the send buffer, ``n`` in, read down to ``r``, ``m`` out), and what it may start
#: from: the send count of a 64- or 999-byte reply or none, the receive count of nothing or of 64 bytes unread
REQUEST_LOGS = st.builds(lambda n, r, m: [0, ~n, ~r, m], st.sampled_from([64, 1000, 2500]), st.sampled_from([0, 0, 30]),
                         st.sampled_from([64, 999]))
COUNTS = st.tuples(st.sampled_from([0, 64 + 108, 999 + 108]), st.sampled_from([0, 0, 64 + 70]))
#: request logs with the counts that make them one peak's rise: the reply before as big as this one, what was left
#: unread before read down to as much again
RISES = st.sampled_from([([0, ~64, ~0, 64], (64 + 108, 0)), ([0, ~64, ~0, 999], (999 + 108, 0)),
                         ([0, ~64, ~30, 64], (64 + 108, 30 + 70))])


@settings(max_examples=examples(300), deadline=None)
@given(pool=st.lists(st.one_of(st.tuples(st.one_of(plan_logs, REQUEST_LOGS), COUNTS), RISES), min_size=1,
                     max_size=3),
       data=st.data())
def test_settle_counts_each_log_as_each_size_in_turn_whatever_it_kept(pool, data):
    """``Tcp.settle`` itself (its one-peak check for the log of the last one-peak plan, or the replay): logs from a
    few (each with the counts it starts from) settled in any order, from figures of their own (peaks at or above
    them), now and then with one unit changed: the figures as counted in turn each time, and the check taken only
    for the very log, counts and units its plan was made from (the log's first entries)."""
    from test_tcp_rr_plan import a_pcb, begun, reference, start_from
    from test_tcp_rr_plan import figures as plan_figures
    pcb = a_pcb()
    tcp, mem = pcb.tcp, pcb.stack.mem
    replays: list = []
    real = pcb._mem_replay
    pcb._mem_replay = lambda log: (replays.append(list(log)), real(log))
    units = (pcb.snd_mss, pcb.mss)
    assert mem.sizes.tcp_snd_segment() == 108 and mem.sizes.tcp_rx_segment() == 70  # (COUNTS's)
    shortcuts = []
    try:
        for which, figures, unit in data.draw(st.lists(st.tuples(
                st.integers(0, len(pool) - 1), plan_starts(), st.sampled_from([None] * 6 + ["snd_mss", "mss"])),
                min_size=1, max_size=8)):
            sizes, counts = pool[which]
            figures = counts + figures[2:]
            if unit is not None:
                setattr(pcb, unit, 500)
            start_from(pcb, mem, figures)
            log = begun(pcb, sizes)
            kept = pcb._mem_rise_log == log
            tcp.unsettled, pcb._mem_log = pcb, log
            mem.pending = tcp._settle
            before = len(replays)
            tcp.settle()
            assert plan_figures(pcb, mem) == reference(pcb, figures, sizes), sizes
            assert (len(replays) == before) == kept and pcb._mem_log is None and tcp.unsettled is None
            shortcuts.append(kept)
            pcb.snd_mss, pcb.mss = units
    finally:
        pcb.snd_mss, pcb.mss = units
        del pcb._mem_replay
    event(f"one-peak check taken: {any(shortcuts)}")
