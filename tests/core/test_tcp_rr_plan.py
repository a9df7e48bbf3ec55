"""rr1: ``TcpMem._mem_replay`` counts the memory log an ACK's deferred bookkeeping left (``Tcp.settle``) from a plan
worked out once per log (mem12: with the counts and units it starts from) and kept in ``Tcp.mem_plans``.  The figures
must come out exactly as ``MemStats.change`` counting each logged size in turn gives them: the current bytes, the
per-category peaks and the total's peak, whatever the starting figures MemStats can hold (a plan is reused from other
ones), and a plan must never be reused for another starting count, unit or log."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lwipy.core.mem import TCP_RCV, TCP_SND, MemStats
from lwipy.core.tcp import tcp_mem
from test_tcp_fastpath import established


def step_by_step(pcb, mem: MemStats, log: list[int]) -> None:
    """The reference: each logged size counted at once, as ``_mem_snd``/``_mem_rcv`` count it, by ``mem.change``."""
    stack = pcb.stack
    for n in log:
        if n < 0:
            n = ~n
            counted = n + -(-n // pcb.mss) * stack.mem_tcp_rx_seg if n else 0
            delta, pcb._mem_rcv_counted = counted - pcb._mem_rcv_counted, counted
            cat = TCP_RCV
        else:
            counted = n + -(-n // pcb.snd_mss) * stack.mem_tcp_snd_seg if n else 0
            delta, pcb._mem_snd_counted = counted - pcb._mem_snd_counted, counted
            cat = TCP_SND
        if delta:
            mem.change(cat, delta)


def figures(pcb, mem: MemStats) -> tuple:
    return (pcb._mem_snd_counted, pcb._mem_rcv_counted, mem.cur[TCP_SND], mem.cur[TCP_RCV], mem.peak[TCP_SND],
            mem.peak[TCP_RCV], mem.total, mem.total_peak)


def start_from(pcb, mem: MemStats, start: tuple) -> None:
    (pcb._mem_snd_counted, pcb._mem_rcv_counted, mem.cur[TCP_SND], mem.cur[TCP_RCV], mem.peak[TCP_SND],
     mem.peak[TCP_RCV], mem.total, mem.total_peak) = start


def begun(pcb, log: list[int]) -> list[int]:
    """``log``'s sizes as the pcb's ``_mem_log`` holds them (mem12): after what they are counted from, the pcb's
    counts and units as they are now (as ``TcpInput._fast_request`` and ``_fast_new_ack`` begin it)."""
    return [pcb._mem_snd_counted, pcb._mem_rcv_counted, pcb.snd_mss, pcb.mss, *log]


def replayed(pcb, start: tuple, log: list[int]) -> tuple:
    mem = pcb.stack.mem
    start_from(pcb, mem, start)
    pcb._mem_replay(begun(pcb, log))
    return figures(pcb, mem)


def reference(pcb, start: tuple, log: list[int]) -> tuple:
    mem = MemStats()
    start_from(pcb, mem, start)
    step_by_step(pcb, mem, log)
    return figures(pcb, mem)


sizes = st.integers(0, 12000)
logs = st.lists(st.one_of(sizes, sizes.map(lambda n: ~n)), max_size=8)
figure = st.integers(0, 50000)
above = st.one_of(st.just(0), st.integers(0, 3000), figure)  # a peak's height above its figure (often none)


@st.composite
def starts(draw):
    """Counts and figures as MemStats holds them: each figure at or below its peak (alloc, change and reset_peak
    keep it so; free only lowers a figure)."""
    snd, rcv, total = draw(figure), draw(figure), draw(figure)
    return (draw(st.sampled_from([0, 172, 1148, 2296])), draw(st.sampled_from([0, 134, 1510])), snd, rcv,
            snd + draw(above), rcv + draw(above), total, total + draw(above))

_PCB = []


def a_pcb():
    if not _PCB:
        t, pcb, _ = established(ts=False, reader=False)
        _PCB.append(pcb)
    return _PCB[0]


@settings(max_examples=300, deadline=None)
@given(start=starts(), log=logs, again=starts())
def test_a_replayed_log_counts_as_step_by_step(start, log, again):
    """Any log from any figures (peaks at or above them), and the same log again from other figures with the same
    counts (the plan reused): the result of counting each size in turn."""
    pcb = a_pcb()
    assert replayed(pcb, start, log) == reference(pcb, start, log)
    again = start[:2] + again[2:]
    assert replayed(pcb, again, log) == reference(pcb, again, log)


def test_the_request_response_log_is_planned_once_and_reused():
    pcb = a_pcb()
    plans = pcb.tcp.mem_plans
    plans.clear()
    log = [0, ~64, ~0, 64]  # an echo's request: its ACK empties the send buffer, 64 in, read, 64 out
    start = (172, 0, 172, 0, 172, 134, 1500, 1600)
    for i in range(3):
        moved = start[:2] + tuple(f + 1000 * i for f in start[2:])
        assert replayed(pcb, moved, log) == reference(pcb, moved, log)
    assert len(plans) == 1


def test_a_plan_is_not_reused_for_other_counts_or_units():
    """The key holds what the log's effect depends on: a plan made from other counts, another MSS or another log
    would count wrongly, so a change of any of them makes a plan of its own."""
    pcb = a_pcb()
    plans = pcb.tcp.mem_plans
    plans.clear()
    start = (172, 0, 5000, 5000, 9000, 9000, 20000, 30000)
    log = [0, ~1500, ~0, 1500]
    assert replayed(pcb, start, log) == reference(pcb, start, log)
    other_counts = (1148, 134) + start[2:]
    assert replayed(pcb, other_counts, log) == reference(pcb, other_counts, log)
    assert replayed(pcb, start, log[:3]) == reference(pcb, start, log[:3])
    for unit in ("snd_mss", "mss"):  # the send buffer's unit, the receive buffer's
        was = getattr(pcb, unit)
        try:
            setattr(pcb, unit, 500)  # three segments' overhead for the same bytes
            assert replayed(pcb, start, log) == reference(pcb, start, log)
        finally:
            setattr(pcb, unit, was)
    assert len(plans) == 5


def test_the_plans_kept_are_bounded():
    pcb = a_pcb()
    plans = pcb.tcp.mem_plans
    plans.clear()
    start = (0, 0, 0, 0, 0, 0, 0, 0)
    for n in range(3 * tcp_mem._MEM_PLANS):
        log = [n + 1, ~(n + 1)]
        assert replayed(pcb, start, log) == reference(pcb, start, log)
        assert 0 < len(plans) <= tcp_mem._MEM_PLANS


def test_the_smallest_rise_above_a_peak_raises_it():
    """A send buffer one byte fuller than ever before (its overhead the same: one segment) raises the peak by that
    byte, the total's too; a rise that only comes back to the starting figure raises nothing."""
    pcb = a_pcb()
    seg = pcb.stack.mem_tcp_snd_seg
    start = (100 + seg, 0, 100 + seg, 0, 100 + seg, 0, 5000, 5000)
    for log in ([101], [0, 101], [0, 100], [99, 100]):
        got = replayed(pcb, start, log)
        assert got == reference(pcb, start, log)
    assert replayed(pcb, start, [101])[4] == 101 + seg and replayed(pcb, start, [101])[7] == 5001
    assert replayed(pcb, start, [0, 100])[4] == 100 + seg


def test_a_rise_that_comes_back_down_still_raises_the_peak():
    """rr8: a request/response's log changes nothing in the end (64 bytes in and read, 64 out) but the receive
    buffer held the request meanwhile: from figures at their peaks, its peak rises (the plan keeps a category whose
    change is nothing when it rose; the total does not rise: the send buffer emptied first)."""
    pcb = a_pcb()
    pcb.tcp.mem_plans.clear()
    seg = pcb.stack.mem_tcp_snd_seg
    start = (64 + seg, 0, 64 + seg, 0, 64 + seg, 0, 5000, 5000)
    log = [0, ~64, ~0, 64]
    got = replayed(pcb, start, log)
    assert got == reference(pcb, start, log)
    assert got[2:4] == start[2:4] and got[5] == 64 + pcb.stack.mem_tcp_rx_seg and got[7] == 5000
