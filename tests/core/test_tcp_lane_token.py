"""mem15: the request lane counts its steady request as nothing.  Once a request's log has come out as the pcb's
one-peak memo again (the same log, entry for entry, from the same counts and units), the lane takes
``MemStats.token``; while it holds the token (nothing counted, freed or reset anywhere since) and the same bytes are
held, it begins the next request's log with the memo's kept first entries (``TcpMem._mem_lane_head``, a ``KeptLog``
that is copied on its first append), and when on_recv has logged nothing, given everything back and written a reply
as long as the last, it leaves no log at all: that request's log would be the memo's, whose peak is raised already.

Differential tests: several connections at once on one stack, their requests interleaved at random (steady ones
mostly, some of other sizes, replies in parts or none, bytes kept), the figures read, another count changed, the
peaks reset and the send unit changed (a path MTU change, which reaches every connection to that peer) from inside
the callbacks and between requests: through a stack as it is, through one whose replays count each logged size in turn
(no plan, no memo, so never a token) and through one without the fast paths (everything counted at once); the same
frames, figures (``MemStats.report``, the current and peak lists, the totals), counts and what each application saw
after every step."""

from __future__ import annotations

import gc

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.mem import TCP_RCV
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.tcp_mem import NO_LANE_HEAD, KeptLog
from tcp_script import TcpScript
from test_tcp_fastpath import ACK, PSH, established, frame, inject
from test_tcp_lane_mem import App
from test_tcp_mem_memo import step_by_step

CONNS = 3


def stack_with(conns: int, reference: bool | str) -> tuple:
    """A stack with ``conns`` ESTABLISHED connections from the scripted peer (peer ports 40000 up), each with the
    lane's kind of application; ``reference`` True: replays counted in turn, "full": no fast paths."""
    t, first, _ = established(ts=False, reader=False, tcp_snd_buf_default=8192, fast=reference != "full")
    t.at(5.0)
    pcbs, seqs = [first], [t.peer_seq]
    for i in range(1, conns):
        t.peer_port, t.peer_seq = 40000 + i, 1000
        t.send("S", options=[("MSS", 1000)])
        iss = t.sent()[0].seq
        t.send("A", ack=iss + 1)
        t.dev.take()
        pcb = t.stack.tcp.listeners[t.port][0].accept()
        assert pcb is not None and pcb.state_name == "ESTABLISHED"
        pcbs.append(pcb)
        seqs.append(t.peer_seq)
    apps = []
    for pcb in pcbs:
        pcb.nodelay = True
        if reference is True:
            pcb._mem_replay = step_by_step(pcb)
        apps.append(App(t, pcb, False))
    return t, pcbs, seqs, apps


def state(t, pcbs) -> tuple:
    mem = t.stack.mem
    return (mem.report(), list(mem.cur), list(mem.peak), mem.total, mem.total_peak,
            [(p._mem_snd_counted, p._mem_rcv_counted, p._mem_ooseq_counted) for p in pcbs])


def holding_nothing_with_the_token(pcb):
    """``pcb._fast_request``, checking first that whenever the pcb holds the stack's token it holds no bytes
    (lane2: the lane then takes the request's bytes as all that is held, without working that out)."""
    real = pcb._fast_request
    mem = pcb.stack.mem

    def checked(*args):
        if pcb._mem_lane_token is mem.token:
            assert len(pcb.rcv_buf) + pcb.rcv_held == 0, "the token stands with bytes held"
        return real(*args)
    return checked


def run(steps: list, conns: int = CONNS) -> dict:
    """``steps`` through the three stacks, compared after each; returns per connection of the first stack how many of
    its settles found no log (requests counted as nothing)."""
    runs = [stack_with(conns, reference) for reference in (False, True, "full")]
    ta, pa, _, _ = runs[0]
    tcp = ta.stack.tcp
    real_settle = tcp.settle
    nothing = [0] * conns
    at: list = []  # (the steps whose request counted as nothing)

    def watched_settle() -> None:
        pcb = tcp.unsettled
        if pcb is not None and pcb._mem_log is None:
            nothing[pa.index(pcb)] += 1
            at.append(i)
        real_settle()
    tcp.settle = tcp._settle = watched_settle  # (MemStats.pending and every caller)
    for pcb in pa:
        pcb._fast_request = holding_nothing_with_the_token(pcb)
    for i, step in enumerate(steps):
        for t, pcbs, seqs, apps in runs:
            t.at(t.now + 0.002)
            kind = step[0]
            if kind == "request":
                _, conn, size, plan = step
                pcb, app = pcbs[conn], apps[conn]
                if pcb.state_name != "ESTABLISHED":
                    continue
                app.plan = plan
                t.peer_port = 40000 + conn
                inject(t, frame(t, seqs[conn], pcb.snd_max, ACK | PSH, b"q" * size, window=65535))
                seqs[conn] = pcb.rcv_nxt
            elif kind == "other":  # a count no connection of these holds grows or shrinks
                apps[0].other_change(step[1], step[2])
            elif kind == "alloc":  # elements of it allocated, or (negative) freed
                _, category, n = step
                if n > 0:
                    t.stack.mem.alloc(category, n)
                    apps[0].other[category] += n
                elif apps[0].other[category] >= -n:
                    t.stack.mem.free(category, -n)
                    apps[0].other[category] += n
            elif kind == "reset":
                t.stack.mem.reset_peak()
            elif kind == "report":
                apps[0].seen.append(t.stack.mem.report())
            elif kind == "limit":  # the receive buffer made smaller (or larger) under a connection's token
                _, conn, limit = step
                pcbs[conn].rcv_buf_limit = limit
            elif kind == "give":
                _, conn = step
                if apps[conn].held and pcbs[conn].state_name == "ESTABLISHED":
                    pcbs[conn].recved(apps[conn].held)
                    apps[conn].held = 0
        (ta_, pa_, _, appa), (tb, pb, _, appb), (tc, pc, _, appc) = runs
        out = ta_.dev.take()
        assert out == tb.dev.take() == tc.dev.take(), f"different output after step {i} {step}"
        for k in range(conns):
            assert appa[k].seen == appb[k].seen == appc[k].seen, f"connection {k} saw other figures in step {i} {step}"
        assert state(ta_, pa_) == state(tb, pb), f"different figures after step {i} {step} (in turn)"
        assert state(ta_, pa_) == state(tc, pc), f"different figures after step {i} {step} (the general way)"
        assert ta_.stack.tcp.unsettled is None
    return {"nothing": nothing, "at": at}


STEADY_PLAN = ((64,), 0, False, None)
PROBE = st.sampled_from([None] * 12 + ["report", "report after", "other", "other after", "reset", "reset after",
                                       "pmtu"])
PLAN = st.one_of(st.just(STEADY_PLAN), st.just(STEADY_PLAN), st.just(STEADY_PLAN),
                 st.tuples(st.sampled_from([(64,), (64,), (32, 32), (), (1000,), (65,)]),
                           st.sampled_from([0, 0, 0, 5, 64]), st.booleans(), PROBE))
REQUEST = st.tuples(st.just("request"), st.integers(0, CONNS - 1), st.sampled_from([64, 64, 64, 64, 63, 1000]), PLAN)
STEP = st.one_of(REQUEST, REQUEST, REQUEST, REQUEST, REQUEST, REQUEST,
                 st.tuples(st.just("other"), st.sampled_from([TCP_RCV, TCP_RCV, 5, 7]), st.integers(-400, 400)),
                 st.tuples(st.just("alloc"), st.sampled_from([TCP_RCV, 0]), st.integers(-400, 400)),
                 st.tuples(st.just("reset")), st.tuples(st.just("report")),
                 st.tuples(st.just("give"), st.integers(0, CONNS - 1)))
#: runs of the same step (request/response repeats itself: the token's case), one to eight times each
STEPS = st.lists(st.tuples(STEP, st.sampled_from([1, 1, 2, 3, 5, 8])), min_size=2, max_size=14).map(
    lambda runs: [step for step, times in runs for _ in range(times)])


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_connections_at_once_count_as_the_general_way(steps):
    done = run(steps)
    event(f"requests counted as nothing: {'some' if any(done['nothing']) else 'none'}")


def steady(conn: int) -> tuple:
    return ("request", conn, 64, STEADY_PLAN)


def test_steady_requests_on_each_connection_count_as_nothing_after_the_memo_again():
    """Three connections' steady requests, interleaved: on each, the first acknowledges nothing new, the second's
    log makes the memo, the third's is the memo's (a token taken), and the rest are counted as nothing, all with
    the figures of the general way."""
    done = run([steady(k) for _ in range(6) for k in range(CONNS)])
    assert done["nothing"] == [3] * CONNS


@pytest.mark.parametrize("case, between", [
    ("another count", ("other", TCP_RCV, 300)),
    ("an allocation", ("alloc", TCP_RCV, 300)),
    ("the peaks reset", ("reset",)),
    ("another connection's request of another size", ("request", 1, 1000, STEADY_PLAN)),
    ("another connection's bytes kept", ("request", 1, 64, ((64,), 5, False, None))),
    ("a read of the figures", None),
])
def test_anything_counted_takes_every_token(case, between):
    """Something counted between steady requests (on no connection, or on another) makes each connection's next
    steady request go the memo's way again (its token taken anew), then count as nothing; a read of the figures
    counts nothing and leaves the tokens."""
    warm = [steady(k) for _ in range(4) for k in (0, 2)]  # (connections 0 and 2: the fourth counted as nothing)
    after = [steady(0), steady(2), steady(0), steady(2)]
    steps = warm + [between if between is not None else ("report",)] + after
    done = run(steps)
    if between is None:
        assert done["nothing"][0] == done["nothing"][2] == 1 + 2
    else:
        assert done["nothing"][0] == done["nothing"][2] == 1 + 1  # (the first after it: the memo's, a new token)


@pytest.mark.parametrize("case, unusual, after", [
    ("bytes kept", [("request", 0, 64, ((64,), 5, False, None))], False),
    ("bytes kept, then given back in the callback", [("request", 0, 64, ((64,), 5, False, None)),
                                                       ("request", 0, 64, ((64,), 0, True, None))], True),
    ("bytes kept, then given back between", [("request", 0, 64, ((64,), 5, False, None)), ("give", 0)], True),
    ("a reply one byte longer", [("request", 0, 64, ((65,), 0, False, None))], True),
    ("a longer reply", [("request", 0, 64, ((1000,), 0, False, None))], True),
    ("a reply in parts, one byte longer", [("request", 0, 64, ((32, 33), 0, False, None))], True),
    ("no reply", [("request", 0, 64, ((), 0, False, None))], True),
    ("a request one byte shorter", [("request", 0, 63, STEADY_PLAN)], True),
    ("a longer request", [("request", 0, 1000, STEADY_PLAN)], True),
])
def test_each_unusual_request_on_a_token_counts_as_the_general_way(case, unusual, after):
    """Steady requests on two connections until each counts as nothing, then an unusual one on the first (begun
    with the kept entries when the same bytes are held): counted the general way, never as nothing, with the
    general way's figures; the steady ones after it count as nothing again once one is the memo's log again
    (``after``; not while the bytes kept are held: each request's log then begins with more held)."""
    warm = [steady(k) for _ in range(5) for k in (0, 1)]
    steps = warm + unusual + [steady(1), steady(0), steady(1), steady(0), steady(0), steady(0)]
    done = run(steps, conns=2)
    assert not set(range(len(warm), len(warm) + len(unusual))) & set(done["at"]), case
    assert (done["at"][-1] == len(steps) - 1) is after, case


def test_a_reply_in_parts_as_long_as_the_last_is_the_steady_request():
    """The lane counts what on_recv wrote once it returns (send's short way, then the lane's writes, queued): a reply
    in two parts as long as the last reply logs what one part would: counted as nothing, with the general way's
    figures."""
    done = run([steady(0)] * 5 + [("request", 0, 64, ((32, 32), 0, False, None))], conns=1)
    assert done["at"] == [3, 4, 5]


@pytest.mark.parametrize("probe", ["report", "other", "reset", "pmtu", "report after", "other after"])
def test_a_probe_inside_the_callback_leaves_the_token(probe):
    """The figures read, another count changed, the peaks reset or the send unit changed from inside a steady
    request's callback (a request that began with the kept entries): the request counts the general way (its log
    settled inside, the kept entries replayed: the token goes), the figures are the general way's, and the steady
    requests after it count as nothing again once one has come out as the memo's log."""
    steps = [steady(0)] * 4 + [("request", 0, 64, ((64,), 0, False, probe))] + [steady(0)] * 4
    done = run(steps, conns=1)
    # (one request counted as nothing before; after: the memo's log again, then nothing; for a new unit, a new memo
    # first)
    assert done["nothing"][0] == 1 + (2 if probe == "pmtu" else 3)


def test_the_kept_entries_are_copied_on_the_first_append():
    """A KeptLog handed out as a pcb's log: an append makes the pcb's log a plain copy with the entry, and leaves
    the kept entries as they were."""
    class Pcb:
        _mem_log = None
    pcb = Pcb()
    kept = KeptLog([1, 2, 3], pcb)
    pcb._mem_log = kept
    kept.append(4)
    assert kept == [1, 2, 3] and pcb._mem_log == [1, 2, 3, 4] and type(pcb._mem_log) is list
    pcb._mem_log.append(5)
    assert kept == [1, 2, 3] and pcb._mem_log == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("limit, taken", [(32, False), (63, False), (64, True), (8192, True)])
def test_a_request_on_a_token_that_no_longer_fits_the_buffer_is_trimmed(limit, taken):
    """Steady requests until they count as nothing, then the receive buffer set smaller or larger than the request
    under the token (lane2: the lane then tests the request against the buffer alone): a request that no longer
    fits is left to the general way, which trims it to the window, with the general way's output and figures; one
    that fits still counts as nothing."""
    steps = [steady(0)] * 4 + [("limit", 0, limit), steady(0)]
    done = run(steps, conns=1)
    assert (5 in done["at"]) is taken


def test_a_freed_half_open_pcb_is_no_reference_cycle():
    """A pcb goes once it is freed and the timer heap's entries for it have surfaced: a SYN flood's half-open pcbs,
    reset, leave no pcb for the cycle collector
    (a lane head made for every pcb referred back to it: such pcbs lived until the oldest generation was collected,
    and a 20,000-SYN flood's traced memory grew fourfold, tests/hostile's flood test)."""
    t = TcpScript()
    t.stack.tcp.listen(t.port)

    def pcbs() -> int:
        return sum(type(o) is TcpPcb for o in gc.get_objects())
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        before = pcbs()
        for k in range(20):
            t.peer_port, t.peer_seq = 50000 + k, 1000
            t.send("S", options=[("MSS", 1000)])
            assert t.sent(), "no SYN-ACK"
            t.send("R")  # (at rcv_nxt: the half-open pcb freed)
        assert not t.stack.tcp.conns, "a half-open pcb was not freed"
        t.at(t.now + 60)  # (the lazy timer heap's entries, which refer to them, surface and go)
        assert pcbs() == before, "freed pcbs wait for the cycle collector"
    finally:
        if enabled:
            gc.enable()


def test_a_released_pcb_drops_its_lane_head():
    """The lane head a steady request's memo made (which refers back to its pcb) is dropped when the pcb is
    released, with the token."""
    t, pcbs, seqs, apps = stack_with(1, False)
    pcb = pcbs[0]
    for _ in range(4):
        apps[0].plan = STEADY_PLAN
        t.at(t.now + 0.002)
        inject(t, frame(t, seqs[0], pcb.snd_max, ACK | PSH, b"q" * 64, window=65535))
        seqs[0] = pcb.rcv_nxt
    assert pcb._mem_lane_head is not NO_LANE_HEAD and pcb._mem_lane_head.pcb is pcb, "no lane memo to drop"
    pcb.abort()
    assert pcb._mem_lane_head is NO_LANE_HEAD and pcb._mem_lane_token is False
