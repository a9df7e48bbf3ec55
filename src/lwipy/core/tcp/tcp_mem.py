"""What a connection's buffers would cost lwIP (see :mod:`lwipy.core.mem`): a mixin of
:class:`~lwipy.core.tcp.pcb.TcpPcb` that keeps the stack's ``tcp_snd``, ``tcp_rcv`` and ``tcp_ooseq`` counts in step
with the pcb's buffers.  Each update is a length, a division and a counter add; the pcb remembers what it counted so
that the next update adds only the difference, and :meth:`_mem_release` gives everything back when the pcb is freed."""

from __future__ import annotations

from typing import Any

from ..mem import TCP_OOSEQ, TCP_RCV, TCP_SND

__all__ = ["KeptLog", "NO_LANE_HEAD", "TcpMem"]

#: rr1: the most replay plans ``Tcp.mem_plans`` keeps before it starts again (see ``TcpMem._mem_replay``)
_MEM_PLANS = 64


class KeptLog(list):
    """mem15: a memory log's first entries kept with the one-peak memo (``TcpMem._mem_lane_head``), which the request
    lane hands out as the pcb's ``_mem_log`` while they are the entries its log would begin with, so that a steady
    request builds no list.  Never changed: the first append (``_mem_snd``, ``_mem_rcv`` and their inline copies
    append to the pcb's ``_mem_log``) makes the pcb's log a plain copy of it first; a replay reads it as any log."""

    __slots__ = ("pcb",)

    def __init__(self, entries: list[int], pcb: Any) -> None:
        super().__init__(entries)
        self.pcb = pcb

    def append(self, n: int) -> None:
        log = self.pcb._mem_log = self.copy()
        log.append(n)


#: the lane's kept head of a pcb with no lane memo: never handed out (no token stands without a memo's head) and
#: refers to no pcb.  A pcb's own head refers back to it (a cycle): it is made only for a lane memo (``_mem_replay``)
#: and dropped at the pcb's release (``_mem_release``), so that a freed pcb goes at once, not when the collector's
#: oldest generation next runs (a head made for every pcb kept a SYN flood's half-open pcbs: 4x the traced memory)
NO_LANE_HEAD = KeptLog([], None)


class TcpMem:
    """Memory accounting for :class:`~lwipy.core.tcp.pcb.TcpPcb` (mixed in)."""

    _mem_snd_counted = 0
    #: tx10: the send buffer's length and ``snd_mss`` the send count was last worked out for (-1: none, or replaced by
    #: a replay), so that a refill that brings the buffer back to that length (a bulk sender's every ACK) need not
    #: work it out again (``TcpPcb._pull``; never while counts wait for a reply's write: they are logged then)
    _mem_snd_len = -1
    _mem_snd_mss = 0
    _mem_rcv_counted = 0
    _mem_ooseq_counted = 0
    _mem_ooseq_segs = 0
    _mem_freed = False

    def _mem_snd(self) -> None:
        """The send buffer changed: its bytes in segments of ``snd_mss``, each with a tcp_seg and a pbuf."""
        if self._mem_freed:
            return
        n = len(self.snd_buf)
        log = self._mem_log
        if log is not None:
            log.append(n)  # rr2: counted after the reply's write (Tcp.settle, _mem_replay)
            return
        snd_mss = self._mem_snd_mss = self.snd_mss
        self._mem_snd_len = n
        counted = n + -(-n // snd_mss) * self.stack.mem_tcp_snd_seg if n else 0
        delta = counted - self._mem_snd_counted
        if delta:  # (runs twice for every segment sent and acknowledged: one call, MemStats.change)
            self._mem_snd_counted = counted
            self.stack.mem.change(TCP_SND, delta)

    def _mem_rcv(self) -> None:
        """The in-order received bytes changed (in the pcb, or taken into a mailbox and not yet read)."""
        if self._mem_freed:
            return
        n = len(self.rcv_buf) + self.rcv_held
        log = self._mem_log
        if log is not None:
            log.append(~n)  # rr2: as _mem_snd (~n: the receive side's, told apart by its sign)
            return
        self._mem_rcv_count(n)

    def _mem_rcv_count(self, n: int) -> None:
        """:meth:`_mem_rcv` with the bytes held, ``len(rcv_buf) + rcv_held``, worked out by the caller, which also
        saw that nothing waits to be settled for this pcb (``_mem_log`` None): rx8, the receive path's two counts per
        segment (the data appended, then read) without working that sum out again."""
        if self._mem_freed:
            return
        counted = n + -(-n // self.mss) * self.stack.mem_tcp_rx_seg if n else 0
        delta = counted - self._mem_rcv_counted
        if delta:  # (runs twice for every segment received: one call, MemStats.change)
            self._mem_rcv_counted = counted
            self.stack.mem.change(TCP_RCV, delta)

    def _mem_replay(self, log: list[int]) -> None:
        """rr2: what :meth:`_mem_snd` and :meth:`_mem_rcv` logged while the connection's bookkeeping waited for the
        reply's write (``Tcp.settle``), counted now in the order it came: the send buffer's bytes ``n``, the
        received ones ``~n``, each as those two count them, so that the current figures and the peaks come out as
        had each been counted at once (nothing else counts meanwhile: ``Tcp.settle`` cleared ``MemStats.pending``
        and calls nothing else).  mem12: the log begins with what it is counted from, the send and receive counts and
        units (``snd_mss``, ``mss``) when it was begun (``_mem_log``, begun by ``TcpInput._fast_request`` and
        ``_fast_new_ack``; no count of the pcb's changes until it is replayed, and no unit either: whatever changes
        one settles first), so that the log alone decides what it does.

        rr1: the log's effect depends only on the log (with what it is counted from), so it is worked out once
        (:meth:`_mem_plan`) and replayed from ``Tcp.mem_plans`` afterwards: a request/response connection logs the
        same sizes for every request.  The plan holds the counts it ends with, each category's and the total's
        change, and how far each rose above where it ends (a peak is only ever raised by an increase, as
        ``MemStats.change`` does; a rise that stays at or below the starting figure is left out, as ``MemStats``
        keeps every figure at or below its peak), so the peaks come out as counted step by step.

        mem11/mem12: a plan that leaves both counts where they were and can raise one category's peak alone, never
        the total's (a request/response's every request: its bytes in and read, as many out again as its ACK
        freed), is kept with its log as the pcb's ``_mem_rise_log``, ``_mem_rise_cat`` and ``_mem_rise_up`` (the
        category and how far above its current figure it went): ``Tcp.settle`` does that one check itself for the
        same log, without a call.  Nothing else in such a plan does anything: the counts and current figures stay,
        and so does tx10's ``_mem_snd_len`` (the send count it stands for is the same).

        mem15: for such a log as the request lane makes it, its bytes held and first entries are kept too
        (``_mem_lane_held``, ``_mem_lane_head``): once the lane's log is the memo's again it takes
        ``MemStats.token``, and while that stands (nothing counted, freed, reset or replayed anywhere: no count,
        figure or peak the check compares has changed, so the check would raise nothing) the same request counts as
        nothing at all (``TcpInput._fast_request``)."""
        key = tuple(log)
        plans = self.tcp.mem_plans
        plan = plans.get(key)
        if plan is None:
            if len(plans) >= _MEM_PLANS:
                plans.clear()  # (bounded: sizes that vary from request to request find nothing to reuse)
            plan = plans[key] = self._mem_plan(log)
        self._mem_snd_counted, self._mem_rcv_counted, steps, d_total, up_total, rise = plan
        if rise is not None:
            self._mem_rise_log = log.copy()
            self._mem_rise_cat, self._mem_rise_up = rise
            # mem15: for a log as the request lane makes it (the send buffer emptied, the request's bytes held, all
            # given back after on_recv, the reply's send buffer), what the lane compares and hands out to tell the
            # same request again: the bytes held and the first entries (the log it begins with).  The token goes
            # with any new memo; the lane takes one only when its log, all given back, is this memo's once more
            # (TcpInput._fast_request), so a token never stands with entries kept for another memo
            self._mem_lane_token = False
            if len(log) == 8 and log[4] == 0 and log[5] < 0 and log[6] == -1 and log[7] >= 0:
                self._mem_lane_held = ~log[5]
                self._mem_lane_head = KeptLog(log[:6], self)
        self._mem_snd_len = -1  # tx10: the count replaced, worked out again next time
        mem = self.stack.mem
        mem.token = None  # mem15: the figures written below, as MemStats's methods would
        if steps:  # rr8: only the categories with a change or a rise (a request/response: the receive side's rise)
            cur, peak = mem.cur, mem.peak
            for category, d, up in steps:
                if d:
                    cur[category] += d
                if up is not None:
                    high = cur[category] + up
                    if high > peak[category]:
                        peak[category] = high
        if d_total:
            mem.total += d_total
        if up_total is not None:
            high = mem.total + up_total
            if high > mem.total_peak:
                mem.total_peak = high

    def _mem_plan(self, log: list[int]) -> tuple:
        """What counting ``log`` (:meth:`_mem_replay`'s: the counts and units it starts from, then the sizes) step
        by step does (``MemStats.change``'s arithmetic for each): ``(send count, receive count, steps, total change,
        total rise, rise)``, ``steps`` holding ``(category, change, rise)`` for each of the send and receive
        categories that changed or rose (rr8: the others are left out, nothing to do for them), a rise being the
        highest the figure reached just after an increase, less where it ends; None when it never went above where
        it started (so never above its peak).  ``rise``: ``(category, rise)`` when that one step is all the plan
        does (no count changes, the total never rises above where it started), else None."""
        stack = self.stack
        snd_counted, rcv_counted, snd_mss, mss = log[:4]
        counted_by = [snd_counted, rcv_counted]  # index 0 the send buffer's figures, 1 the receive buffer's
        unit_by, seg_by = (snd_mss, mss), (stack.mem_tcp_snd_seg, stack.mem_tcp_rx_seg)
        d_by = [0, 0]
        high_by = [0, 0]  # relative to the start: what is not above it never raises a peak
        d_total = high_total = 0
        for n in log[4:]:
            side = 0
            if n < 0:
                n, side = ~n, 1
            counted = n + -(-n // unit_by[side]) * seg_by[side] if n else 0
            delta = counted - counted_by[side]
            if not delta:
                continue
            counted_by[side] = counted
            d = d_by[side] = d_by[side] + delta
            d_total += delta
            if delta > 0:
                if d > high_by[side]:
                    high_by[side] = d
                if d_total > high_total:
                    high_total = d_total
        steps = []
        for i, category in enumerate((TCP_SND, TCP_RCV)):
            up = high_by[i] - d_by[i] if high_by[i] > 0 else None
            if d_by[i] or up is not None:
                steps.append((category, d_by[i], up))
        up_total = high_total - d_total if high_total > 0 else None
        rise = (steps[0][0], steps[0][2]) if len(steps) == 1 and not steps[0][1] and up_total is None else None
        return counted_by[0], counted_by[1], tuple(steps), d_total, up_total, rise

    def _mem_ooseq(self, segments: int, nbytes: int) -> None:
        """``segments`` segments of ``nbytes`` in all joined (or, negative, left) the out-of-order queue."""
        if self._mem_freed:
            return
        stack = self.stack
        counted = nbytes + segments * (stack.mem.sizes.tcp_seg + stack.mem_tcp_rx_seg)
        self._mem_ooseq_counted += counted
        self._mem_ooseq_segs += segments
        if counted > 0:
            stack.mem.alloc(TCP_OOSEQ, counted, segments)
        elif counted:
            stack.mem.free(TCP_OOSEQ, -counted, -segments)

    def _mem_ooseq_cleared(self) -> None:
        """The out-of-order queue was emptied."""
        if self._mem_ooseq_counted:
            self.stack.mem.free(TCP_OOSEQ, self._mem_ooseq_counted, self._mem_ooseq_segs)
        self._mem_ooseq_counted = self._mem_ooseq_segs = 0

    def _mem_release(self) -> None:
        """The pcb is freed: everything counted for its buffers goes."""
        if self._mem_freed:
            return
        if self._mem_log is not None:
            self.tcp.settle()  # rr2: what was logged first
        mem = self.stack.mem
        mem.change(TCP_SND, -self._mem_snd_counted)
        mem.change(TCP_RCV, -self._mem_rcv_counted)
        if self._mem_ooseq_counted:
            mem.free(TCP_OOSEQ, self._mem_ooseq_counted, self._mem_ooseq_segs)
        self._mem_snd_counted = self._mem_rcv_counted = self._mem_ooseq_counted = self._mem_ooseq_segs = 0
        self._mem_freed = True
        self._mem_lane_token = False
        self._mem_lane_head = NO_LANE_HEAD  # (its own referred back to it: no cycle left behind)
