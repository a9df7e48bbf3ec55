"""What a connection's buffers would cost lwIP (see :mod:`lwipy.core.mem`): a mixin of
:class:`~lwipy.core.tcp.pcb.TcpPcb` that keeps the stack's ``tcp_snd``, ``tcp_rcv`` and ``tcp_ooseq`` counts in step
with the pcb's buffers.  Each update is a length, a division and a counter add; the pcb remembers what it counted so
that the next update adds only the difference, and :meth:`_mem_release` gives everything back when the pcb is freed."""

from __future__ import annotations

from ..mem import TCP_OOSEQ, TCP_RCV, TCP_SND

__all__ = ["TcpMem"]


class TcpMem:
    """Memory accounting for :class:`~lwipy.core.tcp.pcb.TcpPcb` (mixed in)."""

    _mem_snd_counted = 0
    _mem_rcv_counted = 0
    _mem_ooseq_counted = 0
    _mem_ooseq_segs = 0
    _mem_freed = False

    def _mem_snd(self) -> None:
        """The send buffer changed: its bytes in segments of ``snd_mss``, each with a tcp_seg and a pbuf."""
        if self._mem_freed:
            return
        n = len(self.snd_buf)
        tcp = self.tcp
        if tcp.unsettled is self:
            tcp.mem_log.append(n)  # rr2: counted after the reply's write (Tcp.settle, _mem_replay)
            return
        counted = n + -(-n // self.snd_mss) * self.stack.mem_tcp_snd_seg if n else 0
        delta = counted - self._mem_snd_counted
        if delta:  # (runs twice for every segment sent and acknowledged: one call, MemStats.change)
            self._mem_snd_counted = counted
            self.stack.mem.change(TCP_SND, delta)

    def _mem_rcv(self) -> None:
        """The in-order received bytes changed (in the pcb, or taken into a mailbox and not yet read)."""
        if self._mem_freed:
            return
        n = len(self.rcv_buf) + self.rcv_held
        tcp = self.tcp
        if tcp.unsettled is self:
            tcp.mem_log.append(~n)  # rr2: as _mem_snd (~n: the receive side's, told apart by its sign)
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
        had each been counted at once.  ``MemStats.change``'s arithmetic for each, on locals written back once
        (nothing else counts meanwhile: ``Tcp.settle`` cleared ``MemStats.pending`` and calls nothing else)."""
        stack = self.stack
        mem = stack.mem
        cur, peak = mem.cur, mem.peak
        # index 0 the send buffer's figures, 1 the receive buffer's
        counted_by = [self._mem_snd_counted, self._mem_rcv_counted]
        cur_by, peak_by = [cur[TCP_SND], cur[TCP_RCV]], [peak[TCP_SND], peak[TCP_RCV]]
        unit_by, seg_by = (self.snd_mss, self.mss), (stack.mem_tcp_snd_seg, stack.mem_tcp_rx_seg)
        total, total_peak = mem.total, mem.total_peak
        for n in log:
            side = 0
            if n < 0:
                n, side = ~n, 1
            counted = n + -(-n // unit_by[side]) * seg_by[side] if n else 0
            delta = counted - counted_by[side]
            if not delta:
                continue
            counted_by[side] = counted
            now_cur = cur_by[side] + delta
            cur_by[side] = now_cur
            total += delta
            if delta > 0:
                if now_cur > peak_by[side]:
                    peak_by[side] = now_cur
                if total > total_peak:
                    total_peak = total
        self._mem_snd_counted, self._mem_rcv_counted = counted_by
        cur[TCP_SND], cur[TCP_RCV] = cur_by
        peak[TCP_SND], peak[TCP_RCV] = peak_by
        mem.total, mem.total_peak = total, total_peak

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
        if self.tcp.unsettled is self:
            self.tcp.settle()  # rr2: what was logged first
        mem = self.stack.mem
        mem.change(TCP_SND, -self._mem_snd_counted)
        mem.change(TCP_RCV, -self._mem_rcv_counted)
        if self._mem_ooseq_counted:
            mem.free(TCP_OOSEQ, self._mem_ooseq_counted, self._mem_ooseq_segs)
        self._mem_snd_counted = self._mem_rcv_counted = self._mem_ooseq_counted = self._mem_ooseq_segs = 0
        self._mem_freed = True
