"""TCP timers for one connection (lwIP's ``tcp_slowtmr`` and ``tcp_fasttmr``, as deadlines): a mixin of
:class:`~lwipy.core.tcp.pcb.TcpPcb`, working on its fields.

Theory of operation
-------------------
Nothing ticks.  Each timer is a deadline on the pcb (``rto_at``, ``persist_at``, ``delack_at``, ``keep_at``,
``close_at``, ``txretry_at``; None when off), and the TCP layer's heap (:class:`~lwipy.core.timers.LazyDeadlines`)
calls :meth:`TcpTimers.poll` when the earliest of them is due.  The heap is re-armed lazily, as Linux's and BSD's
TCP timers are: setting a deadline touches it only when the new one is earlier than the pcb's entry there
(:meth:`TcpTimers._arm`); a deadline cleared or moved later (the delayed ACK sent, the retransmission timer restarted
by an ACK) leaves the entry, and the pcb's real deadline (:meth:`TcpTimers.next_deadline`) is read when the entry
surfaces.  So a stream of segments, each restarting the retransmission timer and arming or clearing the delayed
ACK, touches the heap about once per timer expiry, not once per segment.

- retransmission (``rto_at``, RFC 6298): armed while data is in flight, for the estimator's ``rto``; on firing
  the RTO doubles, the window collapses to one segment and everything from ``snd_una`` is sent again (go-back-N).
  ``tcp_maxrtx`` firings in a row (``tcp_synmaxrtx`` for a SYN) end the connection with ECONNABORTED: lwIP's
  ``tcp_slowtmr`` removes the pcb and reports ERR_ABRT, which ``err_to_errno`` maps to ECONNABORTED (every
  timer that gives a connection up here does the same: persist, keepalive, the SYN_RCVD timeout).
- persist (``persist_at``): runs instead of the retransmission timer while the peer's window is closed, sending
  zero window probes with exponential backoff (RFC 9293 3.8.6.1); a peer that answers none of ``tcp_maxrtx``
  probes is given up (RFC 1122 4.2.2.17).
- delayed ACK (``delack_at``): ``DELACK`` after data that was not acknowledged at once.
- keepalive (``keep_at``): after ``keep_idle`` idle seconds, ``keep_cnt`` probes ``keep_intvl`` apart
  (RFC 1122 4.2.3.6).
- ``close_at``: the SYN_RCVD timeout (``tcp_syn_rcvd_timeout``), FIN_WAIT_2 after the user closed
  (``tcp_fin_wait_timeout``), and TIME_WAIT's 2 MSL; the pcb is freed when it fires.
- ``txretry_at``: a segment a full device queue refused is tried again.
"""

from __future__ import annotations

import errno

from ...wire.tcp import ACK
from .congestion import RTO_MAX, RTO_MIN
from .seq import MASK
from .states import CLOSED, SYN_RCVD, SYN_SENT, TIME_WAIT

__all__ = ["TcpTimers", "DELACK"]

DELACK = 0.1  # lwIP flushes delayed ACKs on its 250 ms fast timer; 100 ms keeps request/response snappy


class TcpTimers:
    """Deadlines and what happens when they pass, for :class:`~lwipy.core.tcp.pcb.TcpPcb` (mixed in)."""

    def _arm(self, when: float) -> None:
        """A deadline was set to ``when``: the heap learns of it only when it is earlier than the pcb's entry."""
        if self.state != CLOSED:
            self.tcp.timers.arm(self, when)

    def _arm_rto(self) -> None:
        self.rto_at = when = self.stack.now + self.rtt.rto
        self._arm(when)

    def _arm_persist(self) -> None:
        self.rto_at = None  # nothing is in flight while persisting: only one of the two timers runs
        self.persist_at = self.stack.now + min(RTO_MAX, max(RTO_MIN, self.rtt.rto) * (1 << min(self.persist_backoff, 7)))
        self._schedule()

    def _arm_delack(self) -> None:
        if self.delack_at is None:
            self.delack_at = when = self.stack.now + DELACK
            self._arm(when)

    def _arm_keepalive(self) -> None:
        self.keep_at = self.stack.now + self.keep_idle if self.keepalive else None
        self._schedule()

    # lwIP's tcp_slowtmr reads keep_idle, keep_intvl and keep_cnt at every tick, so a change takes effect at once,
    # whatever the order the application set them in (ESP-IDF's tcp_server sets SO_KEEPALIVE first, then
    # TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT): a changed value re-arms a running keepalive timer.
    _keep_probe_at = 0.0  # when the last keepalive probe went

    @property
    def keep_idle(self) -> float:
        """Idle seconds before the first keepalive probe (``TCP_KEEPIDLE``; lwIP's ``keep_idle``)."""
        return self._keep_idle

    @keep_idle.setter
    def keep_idle(self, seconds: float) -> None:
        self._keep_idle = seconds
        self._rearm_keepalive()

    @property
    def keep_intvl(self) -> float:
        """Seconds between keepalive probes (``TCP_KEEPINTVL``)."""
        return self._keep_intvl

    @keep_intvl.setter
    def keep_intvl(self, seconds: float) -> None:
        self._keep_intvl = seconds
        self._rearm_keepalive()

    @property
    def keep_cnt(self) -> int:
        """Probes unanswered before the connection is reset (``TCP_KEEPCNT``)."""
        return self._keep_cnt

    @keep_cnt.setter
    def keep_cnt(self, count: int) -> None:
        self._keep_cnt = count
        self._rearm_keepalive()

    def _rearm_keepalive(self) -> None:
        """A running keepalive timer, recomputed as ``tcp_slowtmr`` would with the current values: the next probe
        (or the reset, once ``keep_cnt`` went unanswered) is due ``keep_idle`` + probes sent x ``keep_intvl``
        after the last segment received."""
        if getattr(self, "keep_at", None) is None:
            return
        # probes sent before the peer last spoke count for nothing (lwIP's tcp_input zeroes keep_cnt_sent)
        probes = self.keep_probes if self.keep_probes and self._keep_probe_at >= self.last_activity else 0
        due = self.last_activity + self._keep_idle + probes * self._keep_intvl
        self.keep_at = max(due, self.stack.now)
        self._schedule()

    def _arm_syn_rcvd(self) -> None:
        self.close_at = self.stack.now + self.stack.config.tcp_syn_rcvd_timeout / 1000.0
        self._schedule()

    def _arm_fin_wait_2(self) -> None:
        self.close_at = self.stack.now + self.stack.config.tcp_fin_wait_timeout / 1000.0
        self._schedule()

    def _arm_time_wait(self) -> None:
        self.close_at = self.stack.now + 2 * self.stack.config.tcp_msl / 1000.0
        self._schedule()

    def _enter_time_wait(self) -> None:
        self.state = TIME_WAIT
        self.rto_at = self.persist_at = self.delack_at = self.keep_at = self.txretry_at = None
        self._unusual_check()
        self.tcp.tx_refused.discard(self)
        self.snd_buf.clear()
        self._mem_snd()
        self._arm_time_wait()
        self._notify()

    def next_deadline(self) -> float | None:
        best = None
        for t in (self.rto_at, self.persist_at, self.delack_at, self.keep_at, self.close_at, self.txretry_at):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def _schedule(self) -> None:
        """Deadlines changed in any way: the earliest goes to the heap if it is earlier than the pcb's entry (cleared
        or later ones need nothing: the entry is checked when it surfaces)."""
        if self.state != CLOSED:
            best = self.next_deadline()
            if best is not None:
                self.tcp.timers.arm(self, best)

    def poll(self, now: float) -> None:
        """Handle the deadlines that are due (called by the TCP layer)."""
        if self.close_at is not None and now >= self.close_at:
            if self.state == SYN_RCVD:
                # lwIP's tcp_slowtmr drops a half-open pcb TCP_SYN_RCVD_TIMEOUT after it last heard from the peer,
                # long before the SYN-ACK retransmissions run out: spoofed SYNs free their backlog slots
                self.stack._stats.tcp.syn_rcvd_timeout += 1
                self.error = errno.ECONNABORTED
            self._free()
            return
        if self.txretry_at is not None and now >= self.txretry_at:
            self.txretry_at = None
            self._unusual_check()
            self._output()
            if self.state == CLOSED:
                return
        if self.delack_at is not None and now >= self.delack_at:
            self._send_ack()
        if self.rto_at is not None and now >= self.rto_at:
            self._rto_fired()
            if self.state == CLOSED:
                return
        if self.persist_at is not None and now >= self.persist_at:
            self._persist_fired()
            if self.state == CLOSED:
                return
        if self.keep_at is not None and now >= self.keep_at:
            self._keepalive_fired(now)
            if self.state == CLOSED:
                return
        self._schedule()

    def _rto_fired(self) -> None:
        self.rto_at = None
        syn = self.state in (SYN_SENT, SYN_RCVD)
        if not syn and self.snd_una == self.snd_max and self.txretry_at is None:
            return  # nothing in flight nor refused by the device: a stale deadline, not a loss
        limit = self.stack.config.tcp_synmaxrtx if syn else self.stack.config.tcp_maxrtx
        if self.retries >= limit:
            self._fail(errno.ECONNABORTED, send_rst=not syn)
            return
        self.retries += 1
        self.rtt.backoff()  # RFC 6298 5.5
        self.stack._stats.tcp.rexmit += 1
        if syn:
            self._send_syn()
            return
        self.cc.on_timeout((self.snd_max - self.snd_una) & MASK, self.snd_mss, self.snd_max)
        self.scoreboard.clear()  # RFC 6675 5.1: after a timeout, SACK information is not trusted to skip data
        self._unusual_check()  # (recovery ended, the ranges forgotten, a timeout counted: lane2)
        self.snd_nxt = self.snd_una  # go back N
        self._output(force=True)  # the first segment goes whatever Nagle or the window say
        if self.rto_at is None and self.persist_at is None:
            self._arm_rto()

    def _persist_fired(self) -> None:
        self.persist_at = None
        if self.snd_wnd > 0 and self.snd_nxt == self.snd_una:
            self._output(force=True)  # a window smaller than a segment: the override timer sends what fits
            if self.snd_nxt != self.snd_una:
                return
        self.persist_backoff += 1
        self.persist_probes += 1
        self._unusual_check()  # (lane2: a count running makes _unusual)
        if self.persist_probes > self.stack.config.tcp_maxrtx:
            self._fail(errno.ECONNABORTED, send_rst=True)  # the peer stopped answering (RFC 1122 4.2.2.17)
            return
        # a zero window probe with an old sequence number and no data: the peer answers with its window
        self._send_segment((self.snd_una - 1) & MASK, ACK, b"")
        self._arm_persist()

    def _keepalive_fired(self, now: float) -> None:
        idle = now - self.last_activity
        if idle < self.keep_idle:
            self.keep_at = self.last_activity + self.keep_idle
            self.keep_probes = 0
            return
        if self.keep_probes >= self.keep_cnt:
            self._fail(errno.ECONNABORTED, send_rst=True)
            return
        self.keep_probes += 1
        self._keep_probe_at = now
        self._send_segment((self.snd_una - 1) & MASK, ACK, b"")  # a keepalive: an old sequence number, no data
        self.keep_at = now + self.keep_intvl
