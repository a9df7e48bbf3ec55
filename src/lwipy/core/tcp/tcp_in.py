"""TCP input for one connection (lwIP's ``tcp_in.c`` after the demultiplexing ``tcp_input`` does in :mod:`.tcp`):
a mixin of :class:`~lwipy.core.tcp.pcb.TcpPcb`, working on its fields.

Theory of operation
-------------------
:meth:`TcpInput.input` follows RFC 9293 3.10.7.4's order for a synchronized connection: PAWS (RFC 7323 5.3), then
(1) is the segment acceptable, i.e. does it overlap the receive window (an unacceptable one is answered with a
rate-limited ACK), (2) RST, accepted only at exactly ``rcv_nxt`` and otherwise answered with a challenge ACK
(RFC 5961 3.2), (3) a SYN, always a challenge ACK (RFC 5961 4.2), (4) the ACK, (5) the data, (6) the FIN.
SYN_SENT has its own path (:meth:`TcpInput._input_syn_sent`).

ACK processing takes the peer's window first (when the segment is newer, by ``snd_wl1``/``snd_wl2``), records SACK
blocks on the scoreboard, then either advances ``snd_una`` (freeing acknowledged bytes from ``snd_buf``, feeding
the RTT estimator and congestion control, sending what may go now) or counts a duplicate ACK: same ACK, no data, the
same window, data outstanding (RFC 5681 2).  An ACK above ``snd_max`` is dropped with an ACK; one far below
``snd_una`` (more than the largest window ever offered) is a blind injection and gets a challenge ACK (RFC 5961 5.2).

In-order data is appended to ``rcv_buf`` (trimmed to the free space) and then drains ``ooseq``, where early
segments wait, keyed by their sequence number.  A FIN moves the state (ESTABLISHED to CLOSE_WAIT, FIN_WAIT_1 to
CLOSING or TIME_WAIT, FIN_WAIT_2 to TIME_WAIT) and is acknowledged at once; so is out-of-order data and every
second full segment, the rest waits for the delayed-ACK timer (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2).

ACKs per batch: while the stack takes a batch of frames read together (``Stack.input_many``), the ACK that every
second segment or a read that reopened the window asks for is not written at once but flagged (``ack_due``, lwIP's
TF_ACK_NOW, :meth:`TcpInput._ack_now`) and written once, after the batch's last segment (``Tcp.flush_acks``), with
the newest ``rcv_nxt`` and window: the segments of a batch arrived together, as a GRO super-segment does in Linux,
which acknowledges it with one ACK.  Out-of-order data, a filled gap, data cut to the window, a FIN and every reply
to an unacceptable segment are still acknowledged at once; a data segment sent meanwhile carries the ACK and clears
the flag.  A single frame (``Stack.input``) is acknowledged as before.  An ACK the batch owes goes at once when a
segment leaves no room for another full one in the window we last offered (:meth:`TcpInput._window_used_up`): the
peer can send nothing more until it hears from us, so waiting for the batch's end only idles both sides (with
ESP-IDF's 5,760-byte window, four segments, that is every window).  It moves the ACK the batch owes to the frame
after which nothing more can come, where the loop's lazy reader then finds the peer's next segments (the kernel sends
them while it takes our ACK) instead of ending the batch with an empty read; it never sends more ACKs than the same
segments one by one would get (RFC 9293 3.8.6.3: an ACK SHOULD go for at least every second full-sized segment; a
batch of four acknowledged once is already below that, as Linux's GRO is).

Sends per batch (tx64): the ACKs of a batch free send buffer one by one, and for an established connection outside
recovery the application is told and ``tcp_output`` runs once, after the batch's last frame
(``Tcp.flush_output``, before ``flush_acks``, so that the data carries the ACK due), while at least half the window
stays in flight (:meth:`TcpInput._deferred_flight`); an ACK leaving less sends at once.  Fed ACKs that each free two
segments, a sender spent most of its time telling the application and setting up ``tcp_output`` per ACK.

Requests (rr9): data whose ACK covers everything sent and buffered (a request acknowledging the reply before it,
on an otherwise idle connection) is taken whole by :meth:`TcpInput._fast_request`, which ``fastpath.fast_input``
asks first: the ACK and the data in one function; other data acknowledging something new goes through
:meth:`TcpInput._fast_input` (its ACK by :meth:`TcpInput._fast_new_ack` when no FIN or SYN is among it).

Bookkeeping after the reply (rr2): a request that acknowledges everything sent (the reply before it, taken by
:meth:`TcpInput._fast_request` or :meth:`TcpInput._fast_new_ack`) leaves the ACK's RTT sample, congestion window
update and the memory counting of the buffers' changes until the reply to it is written (``Tcp.settle``, called by
``_output_fast`` after its write and by ``fastpath.fast_input`` at the segment's end): after an idle wait every step
before the write costs several times its warm cost.  Nothing sees the difference: the congestion window only grows
outside recovery, so ``_output_fast`` settles first only when the old one would hold something back; the RTT sample
is taken before the reply is timed; the memory counts are logged and counted in the same order
(``TcpMem._mem_replay``), so peaks come out alike; and whatever reads them meanwhile settles first (the full
``_output``, segment input, the TCP timers, the pcb's ``cwnd``/``srtt``... properties, every ``MemStats`` call, the
pcb's release).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ...wire.tcp import ACK, FIN, RST, SYN, TcpHeader
from .congestion import FAST_RETRANSMIT, INFLATED, LIMITED_TRANSMIT
from .seq import HALF as _HALF
from .seq import MASK
from .seq import seq_le as _le
from .seq import seq_lt as _lt
from .states import (CAN_RECEIVE, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK,
                     SYN_RCVD, SYN_SENT, TIME_WAIT)

if TYPE_CHECKING:
    from ..stack import Stack
    from .tcp import Tcp

__all__ = ["TcpInput"]

#: tx64: inside a batch, an ACK leaving at least this many full segments in flight defers its sends to the batch's end
_DEFER_SEGMENTS = 4


#: lane13, ``TcpPcb._lane``: what ``on_recv`` is doing.  LANE_RECV: it runs, and what it writes is queued, counted
#: and sent when it returns (``TcpPcb._deliver``); LANE_REQUEST: the same, from the request lane
#: (:meth:`TcpInput._fast_request`), its first write taking ``send``'s short way; LANE_WRITTEN: it runs and wrote
LANE_RECV, LANE_REQUEST, LANE_WRITTEN = 1, 2, 3


class TcpInput:
    """Segment arrival for :class:`~lwipy.core.tcp.pcb.TcpPcb` (mixed in; no state of its own)."""

    def input(self, hdr: TcpHeader, payload: memoryview) -> None:
        """A segment for this connection (RFC 9293 3.10.7)."""
        if self.tcp.unsettled is not None:
            self.tcp.settle()  # rr2: an ACK's bookkeeping left for after a reply (a callback feeding frames)
        self.last_activity = self.stack.now
        if self.state == SYN_SENT:
            self._input_syn_sent(hdr, payload)
            return
        flags = hdr.flags
        seq = hdr.seq
        if self.state == SYN_RCVD:
            self._arm_syn_rcvd()  # lwIP's pcb->tmr: the timeout counts from the last segment heard
            if flags & SYN and not flags & (ACK | RST) and seq == self.irs:
                self._send_syn()  # the peer sent its SYN again: our SYN-ACK was lost
                return
        seg_len = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if self.ts_ok and hdr.options is not None and hdr.options.timestamp is not None and not flags & RST:
            # RFC 7323 5.3 (PAWS): a timestamp older than the last one in order is an old duplicate
            tsval = hdr.options.timestamp[0]
            if (tsval - self.ts_recent) & _HALF:
                self._send_oow_ack()
                return
        # 1. is the segment acceptable?
        wnd = self._rcv_window()
        rcv_nxt = self.rcv_nxt
        if seg_len == 0:
            ok = seq == rcv_nxt if wnd == 0 else (seq - rcv_nxt) & MASK < wnd
        else:
            ok = wnd > 0 and ((seq - rcv_nxt) & MASK < wnd or (seq + seg_len - 1 - rcv_nxt) & MASK < wnd)
        if not ok and not (flags & RST):
            if self.state == TIME_WAIT and flags & FIN:
                self._arm_time_wait()  # the peer retransmitted its FIN: our ACK was lost
            end = (seq + seg_len) & MASK
            if seg_len and _le(self.last_ack_sent, end) and _le(end, rcv_nxt):
                # a retransmission of data our last ACK did not cover (that ACK was lost): answer at once, as Linux
                # does for segments ending at or after rcv_wup
                self._send_ack()
            else:
                self._send_oow_ack()
            return
        if self.ts_ok and hdr.options is not None and hdr.options.timestamp is not None \
                and _le(seq, self.last_ack_sent):
            self.ts_recent = hdr.options.timestamp[0]  # RFC 7323 4.3: the echo tells the sender its RTT
        # 2. RST, checked by sequence number (RFC 5961 3.2); ignored in TIME_WAIT, as lwIP (RFC 1337)
        if flags & RST:
            if not ok or self.state == TIME_WAIT:
                return
            if seq != rcv_nxt:
                self._challenge_ack()
                return
            self._reset_received()
            return
        # 3. SYN in a synchronized state: RFC 5961 4.2 answers with a challenge ACK
        if flags & SYN:
            self._challenge_ack()
            return
        # 4. ACK
        if not flags & ACK:
            return
        if self.state == SYN_RCVD:
            if _lt(self.snd_una, hdr.ack) and _le(hdr.ack, self.snd_max):
                self.snd_wnd = hdr.window << self.snd_wscale
                self.max_snd_wnd = self.snd_wnd
                self.snd_wl1, self.snd_wl2 = seq, hdr.ack
                self._established()
                if self.listener is not None:
                    listener, self.listener = self.listener, None  # before the user's callback can abort us
                    listener._child_established(self)
            else:
                self._send_segment(hdr.ack, RST, b"")
                return
        opts = hdr.options
        ts = opts.timestamp if opts is not None and self.ts_ok else None
        if not self._process_ack(seq, hdr.ack, hdr.window, opts.sack_blocks if opts is not None else (),
                                 ts[1] if ts is not None else None, seg_len):
            return
        if self.state == CLOSED:
            return
        # 5. data, then 6. FIN
        if payload and self.state in CAN_RECEIVE:
            if self.rx_closed:
                self.error = errno.ECONNRESET
                self.abort()  # lwIP: data for a pcb the user closed gets a RST
                return
            self._receive_data(seq, payload, bool(flags & FIN))
        elif flags & FIN:
            self._receive_data(seq, payload[:0], True)
        elif self.delack_at is None and self.unacked_segments:
            self._arm_delack()

    def _fast_input(self, seq: int, ack: int, window_field: int, tsval: int | None, tsecr: int | None,
                    payload: bytes | memoryview) -> bool:
        """Header prediction (:mod:`.fastpath`): :meth:`input` for an ACK (with PSH or not, options none or
        timestamps) when the connection is ESTABLISHED, the segment is the next expected one and nothing unusual
        waits; False, with nothing changed, when the full :meth:`input` must handle it.  Taken, it does what
        :meth:`input` would, step by step, without the checks that cannot fail here."""
        # guard15: not ESTABLISHED, out-of-order data held, the read side closed, in recovery or SACK ranges held:
        # one field kept by their writers (TcpPcb._unusual_check), 11 bytecodes less than the five tests
        if self._unusual_in or seq != self.rcv_nxt:
            return False
        ts_ok = self.ts_ok
        if ts_ok:
            if tsval is None or (tsval - self.ts_recent) & _HALF:
                return False  # no timestamp where one is due, or PAWS would reject it
        elif tsval is not None:
            return False
        una = self.snd_una
        acked = (ack - una) & MASK
        if acked > (self.snd_max - una) & MASK:
            return False  # acknowledges what was never sent, or lies below snd_una
        n = len(payload)
        if n:
            used = len(self.rcv_buf) + self.rcv_held  # (held, in the buffer or in a mailbox: counted below)
            if n > self.rcv_buf_limit - used:
                return False  # to be trimmed to the window
        elif not acked:
            return False  # a duplicate ACK or a bare window update
        # -- taken: input()'s steps for an acceptable in-order segment (seq == rcv_nxt and the window open)
        self.last_activity = self.stack.now
        if ts_ok:
            last = self.last_ack_sent
            if seq == last or (seq - last) & _HALF:  # seq <= last_ack_sent
                self.ts_recent = tsval  # RFC 7323 4.3
        window = window_field << self.snd_wscale
        if not acked and window == self.snd_wnd and (self.rto_at is not None or una != self.snd_max or len(
                self.snd_buf) <= ((self.snd_max - self.buf_seq) & MASK)):
            # data acknowledging nothing new, the same window, and nothing unsent waiting without a timer: what
            # _process_ack does then (no duplicate, no window opened, nothing to send), inline
            if self.persist_probes:  # (lane2: a count running makes _unusual: see TcpPcb._unusual_check)
                self.persist_probes = 0
                self._unusual_check()
            wl1 = self.snd_wl1
            # wl1 < seq, or wl1 == seq and wl2 <= ack (seq.py's seq_lt and seq_le, inline)
            if (wl1 - seq) & _HALF or (wl1 == seq and (self.snd_wl2 == ack
                                                              or (self.snd_wl2 - ack) & _HALF)):
                if window > self.max_snd_wnd:
                    self.max_snd_wnd = window
                self.snd_wl1, self.snd_wl2 = seq, ack
                if window and self.persist_at is not None:
                    self.persist_at = None  # cleared: the heap's entry is checked when it surfaces (lazy timers)
                    self.persist_backoff = 0
            # nothing was called out to: what was checked above holds (ESTABLISHED, in order, no FIN, room), and
            # the data (n > 0: a segment without any acknowledges something) is appended below
        else:
            if acked and self.fin_seq is None and self.buf_seq == una:
                # rr: an ACK of new data with no FIN or SYN among it (a request acknowledging the reply before it)
                if not self._fast_new_ack(seq, ack, acked, window, tsecr if ts_ok else None):
                    return True
            elif not self._process_ack(seq, ack, window_field, (), tsecr if ts_ok else None, n):
                return True
            if self._fast_after_ack(seq, payload, n):
                return True
            used = len(self.rcv_buf) + self.rcv_held
        # _receive_data's in-order case without trimming, FIN or held segments, inline
        self.rcv_buf += payload
        self.rcv_nxt = (seq + n) & MASK
        log = self._mem_log
        if log is not None:  # rr2: _mem_rcv's log, inline (a call less before the reply; the pcb is not freed)
            log.append(~(used + n))
        else:
            self._mem_rcv_count(used + n)
        self.unacked_segments += 1
        ack_now = self.unacked_segments >= 2
        on_event = self.on_event  # _notify_data, inline
        if self.on_recv is not None:
            self._deliver()
        elif on_event is not None:
            on_event(self)
        if self.state == CLOSED or not self.unacked_segments:
            return True
        if self.ack_due:
            if (self.rcv_adv - self.rcv_nxt) & MASK < (self.mss - 12 if ts_ok else self.mss):
                self._send_ack()  # _window_used_up, inline
            return True
        if ack_now:
            self._ack_now()
        else:
            self._arm_delack()
        return True

    def _take_window(self, seq: int, ack: int, window: int) -> None:
        """The peer's window (``window``, scaled already) from a segment acknowledging new data, as
        :meth:`_process_ack` takes it first (RFC 9293 3.10.7.4: when the segment is newer by ``snd_wl1`` and
        ``snd_wl2``), for the fast paths' ACKs (``fastpath.fast_pure_ack``, :meth:`_fast_new_ack`,
        :meth:`_fast_request`, rr11: there inline): the probes counted reset, and a window that opens stops the persist
        timer."""
        if self.persist_probes:  # (lane2: a count running makes _unusual: see TcpPcb._unusual_check)
            self.persist_probes = 0
            self._unusual_check()
        wl1 = self.snd_wl1
        # wl1 == seq and wl2 <= ack, or wl1 < seq (seq.py's seq_le and seq_lt, inline; tx9: a sender's case first, its
        # peer's seq standing still and every ACK past the last)
        if (wl1 == seq and ((self.snd_wl2 - ack) & _HALF or self.snd_wl2 == ack)) or (wl1 - seq) & _HALF:
            # lane14: as _fast_request's copy (the same window stored and compared no more: snd_wnd <= max_snd_wnd)
            if window != self.snd_wnd:
                self.snd_wnd = window
                if window > self.max_snd_wnd:
                    self.max_snd_wnd = window
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            if self.persist_at is not None and window:
                self.persist_at = None  # the heap's entry is checked when it surfaces (lazy timers)
                self.persist_backoff = 0

    def _ack_sample(self, ack: int, acked: int, tsecr: int | None, now: float, snd_max: int) -> None:
        """``RttEstimator.on_ack`` and ``CongestionControl.on_ack`` for an ACK of ``acked`` new bytes up to ``ack``
        that came at ``now`` (``tsecr``: its echoed timestamp, None without), outside fast recovery (never a partial
        ACK), inline for the fast paths' every ACK (``fastpath.fast_pure_ack``, ``Tcp.settle``): a timestamp's sample
        wins, else the timed segment's once acknowledged, outside 0..120 s none; then slow start with appropriate
        byte counting (L = 2 SMSS), else congestion avoidance, bytes counted.  After a timeout
        (``rto_recover``) ``CongestionControl.on_ack`` itself, which ends it once everything sent is acknowledged."""
        rtt = self.rtt
        timed = rtt.seq
        if timed is not None or tsecr:
            sample = ((int(now * 1000) - tsecr) & MASK) / 1000.0 if tsecr else None
            if timed is not None and (timed - ack) & _HALF:  # timed < ack (bit 31: & MASK >= _HALF, settle13)
                if sample is None:
                    sample = now - rtt.start
                rtt.seq = None
            if sample is not None and sample < 120.0 and sample >= 0.0:  # (0 <= sample < 120, on floats: specialised)
                rtt.sample(sample)
        cc = self.cc
        if cc.rto_recover is None and cc.recover is None:
            cwnd, smss = cc.cwnd, self.snd_mss
            if cwnd < cc.ssthresh:
                cc.cwnd = cwnd + (acked if acked < 2 * smss else 2 * smss)
            else:
                grow = smss * (acked if acked < cwnd else cwnd) // cwnd  # (no max call)
                cc.cwnd = cwnd + (grow if grow > 1 else 1)
            cc.dupacks = 0
        else:
            # (guard15: outside recovery, as the callers are, on_ack leaves ``recover`` None: _unusual_in stands)
            cc.on_ack(ack, acked, self.snd_mss, snd_max)

    def _fast_new_ack(self, seq: int, ack: int, acked: int, window: int, tsecr: int | None) -> bool:
        """rr: :meth:`_process_ack` and :meth:`_ack_advanced` for :meth:`_fast_input`'s ACK of ``acked`` new bytes
        (``window`` scaled already) when neither a FIN nor the SYN is among them, the connection is not in recovery
        and no SACK ranges are held (the caller checked): the same steps in the same order, without the branches
        that cannot be taken.  False when the segment is to be dropped (a callback's close made the ACK end the
        connection: only :meth:`_process_ack`'s last steps, kept for what a callback may have changed)."""
        self._take_window(seq, ack, window)  # the window first (RFC 9293 3.10.7.4)
        # _ack_advanced: the acknowledged bytes are all data (buf_seq == snd_una, no FIN queued)
        del self.snd_buf[:acked]
        snd_max = self.snd_max
        tcp = self.tcp
        # tail15: not with a refused segment waiting for its retry (seldom), so that, as in the request lane, an
        # unsettled connection has none: the reply's _output_one does not ask
        later = ack == snd_max and tcp.unsettled is None and self.txretry_at is None
        if later:
            # rr2: everything sent is acknowledged (a request acknowledging the reply before it): no timer to arm,
            # and the RTT sample, the congestion window and the memory counting wait until the reply is written
            # (Tcp.settle; everything that reads them before settles first); the buffer's size is logged
            tcp.unsettled = self
            tcp._settle_args = (acked, tsecr)  # (tail15: the ACK is snd_una and its time last_activity: Tcp.settle)
            self.stack.mem.pending = tcp._settle
            # mem12: the memory log begun: what it counts from (counts, units), then _mem_snd's size, logged
            self._mem_log = [self._mem_snd_counted, self._mem_rcv_counted, self.snd_mss, self.mss, len(self.snd_buf)]
        else:
            self._mem_snd()
        self.buf_seq = self.snd_una = ack
        if (self.snd_nxt - ack) & _HALF:
            self.snd_nxt = ack
        if self.retries:  # (lane2: a count running makes _unusual: see TcpPcb._unusual_check)
            self.retries = 0
            self._unusual_check()
        if not later:
            rtt = self.rtt
            if rtt.seq is not None or tsecr:  # RttEstimator.on_ack takes a sample only from these
                now = self.stack.now
                rtt.on_ack(ack, now, ((int(now * 1000) - tsecr) & MASK) / 1000.0 if tsecr else None)
            self.cc.on_ack(ack, acked, self.snd_mss, snd_max)  # never a partial ACK: not in recovery
        if ack == snd_max:
            self.rto_at = None
        else:
            self._arm_rto()
        flight = (self.snd_nxt - ack) & MASK
        if flight and self.tcp.batching and flight >= self._deferred_flight():
            self._defer_output()  # tx64 (ESTABLISHED and not in recovery: the caller checked)
        else:
            # _acked_output: the application told there is room (send_space, ESTABLISHED), then tcp_output, which is
            # a no-op when nothing is unsent, no FIN queued and no refused segment to retry (as fast_pure_ack)
            snd_buf = self.snd_buf
            if self._tx_source is not None and self.snd_buf_limit > len(snd_buf) and not self.tx_closed:
                self._pull(self.snd_buf_limit - len(snd_buf))  # tx9: the stream source first (as _acked_output)
            on_event = self.on_event
            if on_event is not None and self.snd_buf_limit > len(snd_buf) and not self.tx_closed and self.notify_sent:
                self._corked = True  # gso: what the application writes goes out after it, whole
                try:
                    on_event(self)
                finally:
                    self._corked = False
            if self.fin_seq is not None or self.txretry_at is not None \
                    or len(snd_buf) > ((self.snd_nxt - self.buf_seq) & MASK):
                self._output()
            elif not self.snd_buf and not self.scoreboard.ranges:
                # rr2: _ack_finish's three steps need data waiting, SACK ranges or a FIN queued (none here): it
                # would do nothing (a call less before a request's reply)
                return True
        return self._ack_finish(ack)  # the rest of _process_ack, for what a callback may have changed

    def _fast_after_ack(self, seq: int, payload: bytes | memoryview, n: int) -> bool:
        """:meth:`_fast_input`'s steps after a segment's ACK was taken, for what the application's callbacks may
        have changed (only they could): False when its in-order data may be appended as checked before; True when
        the segment is done (the connection ended or no longer receives, or the data was taken by
        :meth:`_receive_data` because a callback changed what the checks saw)."""
        if self.state == CLOSED:
            return True
        if not n or self.state not in CAN_RECEIVE:
            if self.delack_at is None and self.unacked_segments:
                self._arm_delack()
            return True
        if self.rx_closed:
            self.error = errno.ECONNRESET
            self.abort()  # a callback closed the pcb meanwhile: as input()
            return True
        if seq != self.rcv_nxt or self.ooseq or self.fin_received or n > self.rcv_buf_limit - len(self.rcv_buf) \
                - self.rcv_held:
            self._receive_data(seq, payload, False)  # a callback changed what the checks above saw
            return True
        return False

    def _fast_request(self, seq: int, ack: int, window_field: int, tsval: int | None, tsecr: int | None,
                      payload: bytes | memoryview, tcp: Tcp, stack: Stack) -> bool:
        """rr9: header prediction's request on an idle connection (``fastpath.fast_input`` asks it first for a segment
        with data that acknowledges something new): data at ``rcv_nxt`` whose ACK covers exactly everything sent
        (``ack == snd_nxt == snd_max``) and everything in the send buffer (no FIN, no SYN, nothing unsent), on an
        ESTABLISHED connection with nothing unusual (:meth:`_fast_input`'s checks: in order, nothing out of order
        held, no SACK ranges, not in recovery, the read side open, timestamps as negotiated and passing PAWS, the data
        fitting the receive buffer).  What :meth:`_fast_input`, :meth:`_fast_new_ack` and the rest of
        :meth:`_fast_input` do for it, in one function without the branches that cannot be taken: the window, the
        send buffer emptied, the ACK's bookkeeping left for after the reply (``Tcp.settle``), the application told
        there is room, then the data appended and the application told (the echo app answers from there), and the
        ACK the data asks for.  When the first callback changed what the data's part relies on (it wrote, closed,
        shut down, read or fed frames) the rest goes as after :meth:`_fast_new_ack` (:meth:`_fast_after_ack`, the
        data by :meth:`_receive_data`).  False, with nothing changed, when it is not its case (:meth:`_fast_input`
        or the full path then takes the segment); ``tests/core/test_tcp_rr_request.py`` holds it to the ways it
        replaces.  in14b: ``tcp`` and ``stack`` are the connection's (``self.tcp`` and ``self.stack``), passed on by
        fast_input, which holds them: 4 bytecodes less a request than reading them again."""
        snd_buf = self.snd_buf
        acked = (ack - self.snd_una) & MASK  # (guard15: snd_una read here alone, no local: 2 bytecodes less)
        # (ESTABLISHED: no FIN queued; the buffer holding exactly what was sent from buf_seq == snd_una to snd_nxt:
        # nothing above snd_nxt was sent, so snd_max == snd_nxt; acked > 0: the caller saw ack != snd_una; no refused
        # segment waiting for its retry, whose tcp_output _fast_new_ack would run; no stream source, which
        # _fast_new_ack asks for the room first: tx9's bulk senders).  guard15: what changes seldom (the state, out-of-
        # order data, the read side closed, recovery, SACK ranges, buf_seq != snd_una, a refused segment's retry, a
        # stream source; lane2: a timeout or probe counted) in one field kept by its writers (TcpPcb._unusual_check):
        # 27 bytecodes less a request than the eight tests, which test_tcp_unusual holds to their fields
        if self._unusual or seq != self.rcv_nxt or ack != self.snd_nxt or len(snd_buf) != acked:
            return False
        n = len(payload)
        # mem15: when nothing was counted since the pcb's last steady request (MemStats.token: nothing counted, freed
        # or reset anywhere, so its counts, figures and units are as that request left them) and the request holds
        # as many bytes as that one did, its log would begin as that request's did: its first entries, kept (a
        # KeptLog: the first append copies it), stand for it, and no list is built.  lane2: with the token nothing
        # is held (that request gave everything back with the buffer empty, and any change of what is held since
        # would have counted: len(rcv_buf) + rcv_held is 0), so the bytes held are the request's alone and what is
        # held is not worked out (test_tcp_lane_token holds the token to it): 10 bytecodes less a request
        if self._mem_lane_token is stack.mem.token and n == self._mem_lane_held:
            if n > self.rcv_buf_limit:
                return False  # to be trimmed to the window
            held = n
            log = self._mem_lane_head
        else:
            used = len(self.rcv_buf) + self.rcv_held  # (held, in the buffer or in a mailbox)
            if n > self.rcv_buf_limit - used:
                return False  # to be trimmed to the window
            held = used + n
            log = None
        # in14b: the timestamps' checks last, and the update of ts_recent in the same branch (nothing is changed
        # before it: the steps before are checks alone); without them, tsecr is None as tsval is (fast_input reads
        # both or neither): 6 bytecodes less a request than a ts_ok kept and tested twice, tsecr set to None
        if self.ts_ok:
            if tsval is None or (tsval - self.ts_recent) & _HALF:
                return False  # no timestamp where one is due, or PAWS would reject it
            # -- taken
            last = self.last_ack_sent
            if seq == last or (seq - last) & _HALF:  # seq <= last_ack_sent
                self.ts_recent = tsval  # RFC 7323 4.3
        elif tsval is not None:
            return False
        # -- taken: _fast_input's steps (Tcp.unsettled is None: fast_input settled first)
        self.last_activity = stack.now
        # the window first (RFC 9293 3.10.7.4): _take_window, inline (rr11: a call less a request; a request's seq is
        # past the last: its common test first).  lane14: the same window (a request's common case) stored and
        # compared with max_snd_wnd no more (ESTABLISHED, snd_wnd <= max_snd_wnd: every writer since the handshake
        # keeps it); the persist timer's test first (seldom armed), the two edges stored one by one: 6 bytecodes less.
        # lane2: persist_probes, as retries below, is 0 already (a count running makes _unusual): not stored
        # (in14b: snd_wl1 read twice, not kept in a local: the second read only when the first test fails.  lane2:
        # the window worked out where it is compared, kept only when it changed, and the persist timer's test reads
        # the window stored: 2 bytecodes less a request, 5 for a segment that updates nothing)
        if (self.snd_wl1 - seq) & _HALF or (self.snd_wl1 == seq and ((self.snd_wl2 - ack) & _HALF
                                                                     or self.snd_wl2 == ack)):
            if window_field << self.snd_wscale != self.snd_wnd:
                self.snd_wnd = window = window_field << self.snd_wscale
                if window > self.max_snd_wnd:
                    self.max_snd_wnd = window
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            if self.persist_at is not None and self.snd_wnd:
                self.persist_at = None  # the heap's entry is checked when it surfaces (lazy timers)
                self.persist_backoff = 0
        snd_buf.clear()  # (all of it acknowledged: del snd_buf[:acked])
        # everything sent is acknowledged: no timer to arm, and the RTT sample, the congestion window and the memory
        # counting wait until the reply is written (rr2: Tcp.settle; everything that reads them before settles first)
        tcp.unsettled = self
        tcp._settle_args = (acked, tsecr)  # (tail15: the ACK is snd_una and its time last_activity: Tcp.settle)
        stack.mem.pending = tcp._settle
        self.buf_seq = self.snd_una = ack
        self.rto_at = None
        # in14b: notify_sent first (the request lane's server turns it off: one test), the callback read after it
        if self.notify_sent and (on_event := self.on_event) is not None:
            # mem12: the memory log begun (as _fast_new_ack begins it): what it counts from, then _mem_snd's size,
            # logged (the send buffer is empty)
            log = self._mem_log = [self._mem_snd_counted, self._mem_rcv_counted, self.snd_mss, self.mss, 0]
            # _acked_output: the application told there is room (send_space: ESTABLISHED, an empty buffer)
            if self.snd_buf_limit > 0 and not self.tx_closed:
                self._corked = True  # gso: what the application writes goes out after it, whole
                try:
                    on_event(self)
                finally:
                    self._corked = False
            # what the callback may have changed that the data's part relies on: a write the cork held back (on a
            # netif with TSO), a read side shut, or anything that settles the ACK's bookkeeping first
            # (``unsettled``): a write that went (or was refused: txretry_at), a close, shutdown or abort (the
            # state: _output_whole and _free settle), a frame fed from the callback (fast_input and input settle:
            # only a segment's input changes rcv_nxt, ooseq or the SACK ranges, or adds to what the buffer holds; a
            # read only takes from it, so the data still fits: ``used`` is counted again for the memory log alone)
            used = len(self.rcv_buf) + self.rcv_held
            if snd_buf or self.rx_closed or tcp.unsettled is not self:
                # the callback changed something: the rest of _fast_new_ack (tcp_output, _ack_finish), then
                # _fast_input's, the data the general way
                if self.fin_seq is not None or self.txretry_at is not None \
                        or len(snd_buf) > ((self.snd_nxt - self.buf_seq) & MASK):
                    self._output()
                    if not self._ack_finish(ack):
                        return True
                elif (snd_buf or self.scoreboard.ranges) and not self._ack_finish(ack):
                    return True  # (_ack_finish has nothing to do without data waiting, SACK ranges or a FIN)
                if not self._fast_after_ack(seq, payload, n):
                    self._receive_data(seq, payload, False)
                return True
            log.append(~(held := used + n))  # the data's part's _mem_rcv, logged after what the callback logged
        elif log is not None:
            self._mem_log = log  # mem15: the kept entries (see above)
        else:
            # mem14: the memory log begun as above, with the data's part's _mem_rcv logged in the same list (nothing
            # is called before the data's part: no other entry can come between)
            log = self._mem_log = [self._mem_snd_counted, self._mem_rcv_counted, self.snd_mss, self.mss, 0, ~held]
        on_recv = self.on_recv
        if on_recv is not None and not self.rcv_buf and not self._lane:
            # lane13, the request lane: the data handed to on_recv as it came, as TcpPcb._deliver hands it (held
            # against the window while the callback runs, then given back but for what it keeps), and the reply it
            # wrote (by send's short way: LANE_REQUEST) counted and sent after, as _send_written does (an inline
            # copy: tests/core/test_tcp_on_recv.py holds the lane to _deliver's way)
            self.rcv_nxt = (seq + n) & MASK
            self.rcv_held = held  # (the buffer empty: used is what is held; _mem_rcv's size logged above)
            # in14b: the count kept in a local, compared only when the reply did not carry the ACK: 4 bytecodes less
            self.unacked_segments = unacked = self.unacked_segments + 1
            self._lane = LANE_REQUEST
            try:
                kept = on_recv(self, payload if type(payload) is bytes else bytes(payload))
                # _deliver's steps after the callback (an inline copy): the bytes given back but for those it keeps,
                # counted (lane2: what it returned checked where it is added, one test of it: 2 bytecodes less)
                held = self.rcv_held - n
                if kept:
                    held += self._kept(kept, n)
            except BaseException:
                self._recv_failed(n, 0)  # (no cost on the way through: 3.11's zero-cost try)
                raise
            written = self._lane == LANE_WRITTEN
            self._lane = 0
            if held < 0:
                held = 0  # (it gave them back itself, recved)
            self.rcv_held = held
            if written and self._mem_log is self._mem_lane_head and not held and len(snd_buf) == acked:
                # mem15: the steady request again: begun with the kept entries (nothing counted since the last one,
                # the same bytes held), nothing logged or settled in the callback, all given back, and a reply as
                # long as the last (acked: with the token, the send buffer held the last reply; any other size
                # would have changed its count): its log would be the one-peak memo's, entry for entry, from the
                # same counts and figures, whose peak is raised already: nothing to count (Tcp.settle finds no log)
                self._mem_log = None
            elif written and self._mem_log is log:
                # mem14: the lane's own log as it began it, nothing settled meanwhile (so no segment came in: the
                # buffer is still empty): _mem_rcv's size and then _mem_snd's, logged (two appends: each a
                # specialised call, cheaper than one ``+=`` of a tuple, generic, for all its fewer bytecodes;
                # mem15: the second to the pcb's log, a copy if the first found the kept entries)
                log.append(~held)
                log = self._mem_log
                log.append(len(snd_buf))  # _mem_snd, logged
                if not held and log == self._mem_rise_log:
                    # mem15: the memo's log (a lane's, all given back: TcpMem._mem_replay kept its entries): once
                    # Tcp.settle has raised its peak (which changes nothing the token stands for), the same request
                    # counts as nothing until something else is counted
                    self._mem_lane_token = stack.mem.take_token()
            else:
                # (nothing written, or the log settled in the callback: a read of the figures, another count, a
                # close, a frame fed...): logged or counted as _mem_rcv and _mem_snd do it
                held += len(self.rcv_buf)
                log = self._mem_log
                if log is None:
                    self._mem_rcv()
                    if written:  # counted and sent the general way (in14b: so that below, ``written`` alone is tested)
                        self._send_written()
                        written = False
                    self._window_check()
                else:
                    log.append(~held)
                    if written:
                        self._mem_log.append(len(snd_buf))  # _mem_snd, logged (mem15: the pcb's log, as above)
                    else:
                        self._window_check()
            # what it wrote counted, then sent, by _output_one while the connection is as the lane found it: idle and
            # ESTABLISHED, with something to send (whatever sent a segment or changed the state in the callback, a
            # close, a shutdown, an abort or a frame fed, settled the ACK's bookkeeping first: the memory log is gone
            # then, and _send_written does it the general way); then the window opened if worthwhile
            # (_window_check), but after a reply that went: it carried the window, and the check would find
            # nothing to do (the window _output_one offers is the one the check works out).  tail15: the ACK's
            # bookkeeping still waits here (the memory log it began is the pcb's: Tcp.settle ends both), so
            # _output_one is told so, not asking (test_tcp_rr_tail holds the two alike)
            if written:
                if not self._output_one(True):
                    if not self._output_fast(False):
                        self._output_whole()
                    self._window_check()
            # in14b: the count first (the common case: the reply carried the ACK; one test, 5 bytecodes less)
            if not self.unacked_segments or self.state == CLOSED:
                return True  # (the reply carried the ACK)
        else:
            # _receive_data's in-order case, as _fast_input ends (an inline copy: the differential test compares them)
            self.rcv_buf += payload
            self.rcv_nxt = (seq + n) & MASK  # (_mem_rcv's size logged above)
            self.unacked_segments = unacked = self.unacked_segments + 1
            on_event = self.on_event  # (the first callback may have changed it)
            if on_recv is not None:  # (_notify_data, inline, as _fast_input's)
                self._deliver()
            elif on_event is not None:
                on_event(self)  # the request: the application reads it and writes the reply here
            if not self.unacked_segments or self.state == CLOSED:
                return True  # (the reply carried the ACK)
        if self.ack_due:
            if (self.rcv_adv - self.rcv_nxt) & MASK < (self.mss - 12 if self.ts_ok else self.mss):
                self._send_ack()  # _window_used_up, inline
            return True
        if unacked >= 2:  # (the count as this segment made it: an ACK due at every second one)
            self._ack_now()
        else:
            self._arm_delack()
        return True

    def _ack_now(self) -> None:
        """An ACK is due now (lwIP's ``tcp_ack_now``): written at once, or, inside a batch of frames, flagged and
        written once after the batch (:meth:`~lwipy.core.tcp.tcp.Tcp.flush_acks`)."""
        tcp = self.tcp
        if not tcp.batching or self._window_used_up():
            self._send_ack()
        elif not self.ack_due:
            self.ack_due = True
            tcp.ack_pending.append(self)

    def _window_used_up(self) -> bool:
        """Whether the window we last offered (``rcv_adv``) has no room left for another full segment from the
        peer: it cannot send more until it hears from us, so an ACK due at the end of the batch goes now.  False
        when ``rcv_nxt`` is past ``rcv_adv`` (before our first ACK, ``rcv_adv`` is not the SYN-ACK's edge)."""
        return (self.rcv_adv - self.rcv_nxt) & MASK < (self.mss - 12 if self.ts_ok else self.mss)

    def _input_syn_sent(self, hdr: TcpHeader, payload: memoryview) -> None:
        flags = hdr.flags
        if flags & ACK and not (_lt(self.iss, hdr.ack) and _le(hdr.ack, self.snd_max)):
            if not flags & RST:
                self._send_segment(hdr.ack, RST, b"")
            return
        if flags & RST:
            if flags & ACK:
                self._fail(errno.ECONNREFUSED)
            return
        if not flags & SYN:
            return
        self.irs = hdr.seq
        self.rcv_nxt = (hdr.seq + 1) & MASK
        self.rcv_adv = self.rcv_nxt
        self._take_syn_options(hdr)
        if flags & ACK:
            self.snd_una = hdr.ack
            self.snd_wnd = hdr.window  # never scaled in a SYN (RFC 7323 2.2)
            self.max_snd_wnd = self.snd_wnd
            self.snd_wl1, self.snd_wl2 = hdr.seq, hdr.ack
            if self.retries == 0:  # Karn: never time a retransmitted SYN
                self.rtt.sample(max(0.0, self.stack.now - self.rtt.start))
            self.rto_at = None
            self._established()
            self._send_ack()
            self._notify()
            self._output()
        else:  # simultaneous open (RFC 9293 3.5)
            self.state = SYN_RCVD
            self._unusual_check()
            self._arm_syn_rcvd()
            self.snd_wnd = hdr.window
            self._send_segment(self.iss, SYN | ACK, b"", self._syn_options())
            self._arm_rto()

    def _take_syn_options(self, hdr: TcpHeader) -> None:
        opts = hdr.options
        if opts is None:
            return
        if opts.mss is not None:
            self.snd_mss = max(64, min(self.mss, opts.mss))
        cfg = self.stack.config
        # an option lwIP is built without is ignored in the peer's SYN, as its tcp_parseopt skips it
        self.wscale_ok = cfg.wnd_scale and opts.wscale is not None
        self.snd_wscale = min(opts.wscale, 14) if self.wscale_ok else 0
        if not self.wscale_ok:
            self.rcv_wscale = 0
            self.rcv_buf_limit = min(self.rcv_buf_limit, 0xFFFF)
        self.sack_ok = cfg.tcp_sack_out and opts.sack_permitted
        if cfg.tcp_timestamps and opts.timestamp is not None:
            self.ts_ok = True
            self.ts_recent = opts.timestamp[0]
        self._rcv_sws()  # (out12: the buffer limit and timestamps as agreed)

    def _rcv_window(self) -> int:
        return max(self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held, (self.rcv_adv - self.rcv_nxt) & MASK
                   if _le(self.rcv_nxt, self.rcv_adv) else 0)

    def _process_ack(self, seq: int, ack: int, window_field: int, sack_blocks: tuple[tuple[int, int], ...],
                     tsecr: int | None, seg_len: int) -> bool:
        """ACK processing of a segment's ``seq``, ``ack`` and window field, its SACK blocks and its echoed timestamp
        (None without one or when timestamps are off); False when the segment is to be dropped."""
        una = self.snd_una
        if _lt(self.snd_max, ack):
            self._send_oow_ack()  # acknowledges something never sent
            return False
        if _lt(ack, una) and (una - ack) & MASK > max(self.max_snd_wnd, 1):
            self._challenge_ack()  # RFC 5961 5.2: far below SND.UNA: blind injection
            return False
        window = window_field << self.snd_wscale
        acked = (ack - una) & MASK if _lt(una, ack) else 0
        duplicate = not acked and ack == una and seg_len == 0 and window == self.snd_wnd and self.snd_max != una
        if self.persist_probes:  # the peer answers: a persisting connection lives on (RFC 1122 4.2.2.17)
            self.persist_probes = 0
            self._unusual_check()  # (lane2: a count running makes _unusual)
        if self.sack_ok and sack_blocks:
            self.scoreboard.update(sack_blocks, ack if _lt(una, ack) else una, self.snd_max)
            self._unusual_check()
        # the window first (RFC 9293 3.10.7.4), so that what the ACK lets us send sees the peer's current window
        opened = False
        if _lt(self.snd_wl1, seq) or (self.snd_wl1 == seq and _le(self.snd_wl2, ack)):
            opened = window > self.snd_wnd
            self.snd_wnd = window
            self.max_snd_wnd = max(self.max_snd_wnd, window)
            self.snd_wl1, self.snd_wl2 = seq, ack
            if window and self.persist_at is not None:
                self.persist_at = None
                self.persist_backoff = 0
        if acked:
            self._ack_advanced(ack, acked, tsecr)  # sends what may go now
        elif duplicate:
            self._duplicate_ack()
        elif opened:
            self._output()
        return self._ack_finish(ack)

    def _ack_finish(self, ack: int) -> bool:
        """The last steps of an ACK's processing (``tcp_receive``'s end), for what the ACK and anything it called out
        to (the application, told of room) changed: data waiting with no timer running is sent, RFC 6675's IsLost
        starts recovery, and our FIN acknowledged moves the state on.  False when the connection ended (TIME_WAIT,
        or freed): the segment is dropped.  :meth:`_process_ack`'s end, and that of the short ways for an ACK of new
        data (:meth:`_fast_new_ack`, :func:`.fastpath.fast_pure_ack`)."""
        if self.rto_at is None and self.persist_at is None and self.snd_una == self.snd_max \
                and len(self.snd_buf) > ((self.snd_max - self.buf_seq) & MASK) and self.state != CLOSED:
            self._output()  # data waits and no timer runs (a window update was lost): send, or arm the override
        if self.scoreboard.ranges and self.cc.recover is None and self.snd_una != self.snd_max \
                and self.state != CLOSED:
            # RFC 6675 IsLost: three segments' worth SACKed above snd_una means the first hole is lost, even when
            # the ACKs carried data (two-way traffic) and so never counted as duplicates
            if self.scoreboard.is_lost(self._dupthresh(), self.seg_size):
                self._enter_recovery()
        # our FIN acknowledged?
        fin_seq = self.fin_seq
        if fin_seq is not None and ack == ((fin_seq + 1) & MASK):
            state = self.state
            if state == FIN_WAIT_1:
                self.state = FIN_WAIT_2
                self._unusual_check()
                if self.rx_closed:
                    self._arm_fin_wait_2()
                self._notify()  # everything we sent is acknowledged (a lingering close waits for this)
            elif state == CLOSING:
                self._enter_time_wait()
                return False
            elif state == LAST_ACK:
                self._free()
                return False
        return True

    def _ack_advanced(self, ack: int, acked: int, tsecr: int | None) -> None:
        data_acked = acked
        if self.fin_seq is not None and _le((self.fin_seq + 1) & MASK, ack):
            data_acked -= 1
        if self.buf_seq != self.snd_una and not _lt(self.buf_seq, ack):  # the SYN was part of it
            data_acked = max(0, data_acked - 1)
        if data_acked > 0:
            del self.snd_buf[:data_acked]
            self._mem_snd()
            self.buf_seq = (self.buf_seq + data_acked) & MASK
        self.snd_una = ack
        if _lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        scoreboard = self.scoreboard
        if scoreboard.ranges:
            scoreboard.prune(ack)
        self.retries = 0
        now = self.stack.now
        # RFC 7323 4.1: the echoed timestamp gives the RTT of any ACK, retransmissions included
        self.rtt.on_ack(ack, now, ((int(now * 1000) - tsecr) & MASK) / 1000.0 if tsecr else None)
        partial = self.cc.on_ack(ack, acked, self.snd_mss, self.snd_max)
        if self._unusual:
            # guard15: recovery may have ended, the SACK ranges be pruned away, snd_una passed the SYN (above)
            self._unusual_check()
        if partial:
            self._retransmit_one()  # a partial ACK in recovery: the next hole is lost too (RFC 6582 3.2 step 5)
        if self.snd_una == self.snd_max:
            self.rto_at = None
        else:
            self._arm_rto()
        # --- tx64: inside a batch of frames the application is told and tcp_output runs once, at the batch's end, while
        # the flight stays large enough (_deferred_flight)
        if self.tcp.batching and self.cc.recover is None and (self.state == ESTABLISHED or self.state == CLOSE_WAIT) \
                and (self.snd_nxt - ack) & MASK >= self._deferred_flight():
            self._defer_output()
            return
        self._acked_output()

    def _defer_output(self) -> None:
        """tx64: leave telling the application and ``tcp_output`` to the batch's end (``Tcp.flush_output`` calls
        :meth:`_acked_output` once for the batch's ACKs)."""
        if not self.output_due:
            self.output_due = True
            self.tcp.output_pending.append(self)

    def _acked_output(self) -> None:
        """What follows ACKs that freed send buffer (lwIP's ``TCP_EVENT_SENT`` and ``tcp_output`` at the end of
        ``tcp_input``): tell the application there is room, then send.  Within a batch of frames
        (``Stack.input_many``) an established connection does it once, after the batch's last frame
        (:meth:`~lwipy.core.tcp.tcp.Tcp.flush_output`): the ACKs of a batch arrived together, so the segments they
        let go leave together, one ``tcp_output`` and one notification for the lot rather than one per ACK; but
        only while the flight stays large enough (:meth:`_deferred_flight`), else the ACK sends at once, as outside
        a batch."""
        if self._tx_source is not None and self.send_space:
            self._pull(self.send_space)  # tx9: the stream source fills the room first; the application is told of what it left
        if self.send_space and self.on_event is not None and self.notify_sent:
            # gso: what the application writes from this notification goes out after it, whole (lwIP's tcp_input
            # calls tcp_output after its callbacks), not a super-segment per write
            self._corked = True
            try:
                self._notify()
            finally:
                self._corked = False
        self._output()

    def _deferred_flight(self) -> int:
        """tx64: the least flight an ACK inside a batch may leave and still defer its sends to the batch's end: half
        the window (the send buffer or the peer's window, whichever is smaller), so that a batch of ACKs trickling in
        never lets the pipe run below half full while they are read (Linux's ``tcp_tso_should_defer`` likewise sends
        once a good part of the window is free); and at least ``_DEFER_SEGMENTS`` full segments, so that a peer
        acknowledging every second segment still has ACKs on their way.  With a window of four segments (ESP-IDF's
        5,760 bytes, an MSS of 1,440) every ACK of two leaves two: it sends at once, rather than waiting for the empty
        read that ends the batch while the peer idles."""
        # (tx8: without the min and max calls, once per ACK inside a batch)
        wnd, limit = self.snd_wnd, self.snd_buf_limit
        half = (wnd if wnd < limit else limit) // 2
        least = _DEFER_SEGMENTS * self.snd_mss
        return half if half > least else least

    def _duplicate_ack(self) -> None:
        action = self.cc.on_duplicate_ack(self.snd_mss, self.snd_una, self._dupthresh())
        if action == INFLATED:
            if self.scoreboard.ranges:
                self._retransmit_next_hole()  # RFC 6675 in spirit: each ACK lets one more hole be filled
            self._output()
        elif action == FAST_RETRANSMIT:
            self._enter_recovery()
        elif action == LIMITED_TRANSMIT:
            self._output(limited=self.cc.dupacks)  # RFC 3042 limited transmit: new data keeps the ACK clock going

    def _receive_data(self, seq: int, data: memoryview, fin: bool) -> None:
        rcv_nxt = self.rcv_nxt
        skip = (rcv_nxt - seq) & MASK
        if skip and skip < _HALF:  # starts before rcv_nxt: drop what we have (RFC 9293 3.10.7.4)
            if skip >= len(data) + (1 if fin else 0):
                self._send_ack()
                return
            data = data[skip:]
            seq = rcv_nxt
        space = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        if seq == rcv_nxt:
            trimmed = len(data) > space
            if trimmed:
                data, fin = data[:space], False  # beyond the window: trimmed, the FIN with it
            if data:
                self.rcv_buf += data
                self.rcv_nxt = (rcv_nxt + len(data)) & MASK
                self._mem_rcv()
            if fin:
                self._fin_received()
            filled = self._drain_ooseq() if self.ooseq else False
            if fin or self.fin_received:
                if data or fin:
                    self._notify()  # _fin_received acknowledged it already
                return
            self.unacked_segments += 1
            ack_now = self.unacked_segments >= 2
            if data:
                # the application reads first, so that one ACK carries the window its read opened: lwIP's
                # tcp_input calls the recv callback before tcp_output sends the ACK that tcp_receive asked for
                self._notify_data()
                if self.state == CLOSED or not self.unacked_segments:
                    return  # aborted, or a window update, a reply or the FIN carried the ACK already
            if filled or trimmed:
                self._send_ack()  # a gap filled (RFC 5681 4.2) or data cut to the window: at once, batch or not
            elif self.ack_due:
                if self._window_used_up():
                    self._send_ack()
                return  # an ACK goes at the end of this batch already
            elif ack_now:
                self._ack_now()
            else:
                self._arm_delack()
            return
        # out of order: keep it (bounded) and tell the peer at once where the hole is
        if self.stack.config.tcp_queue_ooseq and data:
            limit = self.stack.config.tcp_ooseq_max_pbufs
            if seq not in self.ooseq and (not limit or len(self.ooseq) < limit) \
                    and ((seq - rcv_nxt) & MASK) + len(data) <= space:
                self.ooseq[seq] = bytes(data)
                self._unusual_check()
                self._mem_ooseq(1, len(data))
                self.ooseq_latest = seq
                if fin:
                    self.ooseq_fin = (seq + len(data)) & MASK
        self._send_ack()

    def _drain_ooseq(self) -> bool:
        moved = False
        while True:
            nxt = self.rcv_nxt
            hit = None
            for seq, data in self.ooseq.items():
                end = (seq + len(data)) & MASK
                if _le(seq, nxt) and _lt(nxt, end):
                    hit = seq
                    break
                if _le(end, nxt):  # wholly old now
                    hit = seq
                    break
            if hit is None:
                break
            data = self.ooseq.pop(hit)
            self._unusual_check()
            self._mem_ooseq(-1, -len(data))
            off = (nxt - hit) & MASK
            if off < len(data):
                chunk = data[off:][: self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held]
                self.rcv_buf += chunk
                self.rcv_nxt = (nxt + len(chunk)) & MASK
                self._mem_rcv()
                moved = True
        fin_at = self.ooseq_fin
        if fin_at is not None and fin_at == self.rcv_nxt and not self.fin_received:
            self._fin_received()
        return moved

    def _fin_received(self) -> None:
        self.fin_received = True
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        self.ooseq.clear()
        self._mem_ooseq_cleared()
        if self.state == ESTABLISHED:
            self.state = CLOSE_WAIT
        elif self.state == FIN_WAIT_1:
            if self.fin_seq is not None and self.snd_una == ((self.fin_seq + 1) & MASK):
                self._enter_time_wait()
            else:
                self.state = CLOSING
        elif self.state == FIN_WAIT_2:
            self._enter_time_wait()
        self._unusual_check()  # (ooseq cleared, the state moved on: nothing called out to between)
        self._send_ack()

    def _reset_received(self) -> None:
        if self.state == SYN_RCVD and self.listener is not None:
            self.listener.half_open.pop(self, None)
            self.listener = None
            self._free()
            return
        self._fail(errno.ECONNRESET if self.state not in (CLOSING, LAST_ACK, TIME_WAIT) else 0)
