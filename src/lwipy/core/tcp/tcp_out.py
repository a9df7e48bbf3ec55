"""TCP output for one connection (lwIP's ``tcp_out.c``): a mixin of :class:`~lwipy.core.tcp.pcb.TcpPcb`, working
on its fields.

Theory of operation
-------------------
:meth:`TcpOutput._output` (``tcp_output``) walks ``snd_buf`` from ``snd_nxt`` and sends what the peer's window and
``cwnd`` allow, a segment at a time, or a super-segment of whole MSS-sized pieces when the netif cuts them (TSO).
A partial segment waits while data is in flight (Nagle, RFC 9293 3.7.4) unless ``nodelay``, the FIN, or half the
peer's largest window (sender silly window avoidance, RFC 1122 4.2.3.4) lets it go; when nothing is in flight and
nothing may go, the persist timer is armed (zero window probes, or the override timer for a window smaller than a
segment).  A segment the device refused (ENOMEM) stays unsent and is tried again soon (``TX_RETRY``).

The common call, an established connection with no FIN queued sending new data to a resolved IPv4 neighbour (a bulk
sender's every call; with offload too since tx8, its super-segments as ``_fast_send`` writes them; s21: or to an IPv6
neighbour that a packet goes to as it is, ``_tx_way_make``'s IPv6 case, without offload), takes
:meth:`TcpOutput._output_fast`: the same decisions, segment for segment, with what cannot change during one call (route,
netif, ARP entry, window to offer, timestamps) looked at once, and each frame packed whole by one struct from a
per-connection template (the frame's constant bytes and the checksums' constant parts, negated so that ``(part - fields)
% 0xFFFF`` is the checksum field itself, ``Tcp.tx_templates``) with both checksums computed from the header fields and
the payload's sum; ``tests/core/test_tcp_fastpath.py``'s and ``test_tcp_gso.py``'s differential tests hold the two ways
to the same output.  Its commonest call from a request/response server without offload, one segment from an idle
connection (a reply), runs without the loop (:meth:`TcpOutput._output_one`; ``tests/core/test_tcp_rr_one.py`` holds
it to the loop's output).  The payload's sum is the largest single cost per segment: above 400 bytes it is
``wire.checksum.data_sum`` (``zlib.adler32``'s exact byte sums of the even and the odd bytes, 256 of each at a time;
tx8), below that ``int.from_bytes`` (see the note at ``TX_RETRY``).  The next hop's ARP entry is kept per connection
(``Tcp.tx_neighbours``, looked up again when ``Etharp.generation`` says an entry came or went, or the route gave another
next hop; its fields are read each call), and the window field is replayed from the template while the receive side
stands still (a sender's case).  tx9: what a call found of the way out (device, ARP entry, template, sizes) is kept per
connection (``_tx_way``) and used again while what it was made from is the same, compared live each call
(``tests/core/test_tcp_send_fast.py`` changes each of them between two calls; way13: the stack's, the netif's and the
neighbour's figures as one generation, ``Stack.way_generation``, that every write to them moves on:
``tests/core/test_tcp_way_generation.py``; way14: the stack's link output too, and the connection's TOS, TTL and
timestamps drop the way when written, so that a call compares the generation and the peer's MSS alone).

Retransmission sends ranges of ``snd_buf`` again without moving ``snd_nxt``: the first hole (fast retransmit, a
partial ACK) or, in SACK recovery, the next hole above ``rexmit_high``, the gaps between the scoreboard's ranges.

:meth:`TcpOutput._send_segment` builds every segment: the common one, an ACK with the timestamps option only, is
packed by one precompiled struct straight into the pbuf's header room; others go through ``TcpHeader``.  It
advertises the receive window (free buffer space, never moving the right edge back, opened by at least
min(MSS, half the buffer): receiver silly window avoidance, RFC 9293 3.8.6.2.2), leaves the checksum to a netif
that offloads it, and sends over the cached route, looked up again only when the route table's generation changed.
Replies to unacceptable segments and challenge ACKs (RFC 5961 7) are rate-limited, per connection and per stack.
"""

from __future__ import annotations

import errno
import os
import struct
from math import trunc as _trunc  # the ms clock: int(x) of a float, ~30 ns less a call on 3.11 (no call of the type)
from ipaddress import IPv4Address
from typing import TYPE_CHECKING
from zlib import adler32 as _adler32

from ...errors import LwipError
from ...wire.checksum import checksum, fold
from ...wire.checksum import data_sum as _data_sum
from ...wire.checksum import from_bytes as _from_bytes
from ...wire.ipv4 import PROTO_TCP
from ...wire.tcp import ACK, FIN, PSH, RST, SYN, TcpHeader, TcpOptions
from ..addr import is_multicast4
from ..pbuf import Pbuf
from .fastpath import fast_ack, header_parts6
from .seq import HALF as _HALF
from .seq import MASK
from .seq import seq_lt as _lt
from .states import CAN_RECEIVE, CAN_SEND, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK, SYN_RCVD, SYN_SENT

if TYPE_CHECKING:
    from ..nd6 import Neighbor

__all__ = ["TcpOutput", "TX_RETRY", "NO_WAY"]

#: tail15: ``TcpPcb._tx_way`` when no way out is kept (made again at the next segment): shaped as one
#: (:meth:`TcpOutput._tx_way_make`'s 16 fields), with a generation no stack has (``Stack.way_generation`` counts up
#: from 0), so that the short ways out unpack and compare it as a kept one, without a test for None first
NO_WAY = (-1, 0, None, None, b"", b"", b"", 0, 0, None, None, 0, 0, 0, False, 0)
#: out2: the way's ``opens_at`` for a scaled receive window: above any bytes held and offered, so that
#: :meth:`TcpOutput._output_one`'s reply case (an unscaled window) never takes it
_SCALED = 1 << 62

_HDR_TS = struct.Struct("!HHIIHHHHBBBBII")  # a 32-byte header: 20 fixed bytes, then NOP, NOP, timestamps (8, 10)
_HDR = struct.Struct("!HHIIHHHH")  # a 20-byte header without options
# Ethernet (dst, src, type), IPv4 (ver/ihl, tos, total, ident, frag, ttl, proto, csum, src, dst), TCP without options
_FRAME_HDR = struct.Struct("!6s6sHBBHHHBBH4s4sHHIIHHHH")
# _output_fast's data segment from its template (_segment_template): Ethernet, version/IHL and TOS | total length |
# ident | fragment, TTL, protocol | IPv4 checksum | addresses and ports | seq ack | offset and flags, window,
# checksum, urgent (| NOP NOP kind length, TSval, TSecr)
# checksum, then the urgent pointer (0) and what follows it: nothing, or the timestamps option (_TS_OPT, once a call)
_SEG = struct.Struct("!16sHH4sH12sIIHHH2x0s")
_SEG_TS = struct.Struct("!16sHH4sH12sIIHHH2x12s")
# s21: over IPv6: Ethernet, version, traffic class and flow label | payload length | next header, hop limit,
# addresses and ports | seq ack | offset and flags, window, checksum, urgent (| the timestamps option)
_SEG6 = struct.Struct("!18sH38sIIHHH2x0s")
_SEG6_TS = struct.Struct("!18sH38sIIHHH2x12s")
_TS_OPT = struct.Struct("!III")  # NOP, NOP, kind 8, length 10; TSval; TSecr
_CSUM = struct.Struct("!H")

# --- tx: a payload's sum.  tx3 took ``int.from_bytes`` of a full segment (a 11,520-bit integer for 1,440 bytes) and
# folded it three times at cuts that are multiples of 16 bits before the modulo 0xFFFF (2**16 = 1 modulo 0xFFFF; the
# receive side's fastpath.fast_input did too, before data_sum): from_bytes 1.05 us and the folds 0.8 us, a modulo alone
# 1.6 us;
# cuts at whole 30-bit digits, two or four from_bytes of slices added, sum() over a memoryview cast to 'H' (11 us) or
# 'Q' and int(hex, 16) (5 us) cost as much or more.  tx8: zlib.adler32 of strided slices (the even bytes and the odd
# ones, 256 at a time: their sums exact) costs about 70% of that for 1,440 bytes (wire.checksum.data_sum, used above
# 400 bytes; below it from_bytes without folds is cheaper).  _fast_send's and the full way's checksum() stay as they
# were (a retransmission's, memoryviews)
# data_sum's pieces as _output_fast takes them: the even and the odd bytes of each 512
_E0, _E1, _E2 = slice(0, 512, 2), slice(512, 1024, 2), slice(1024, 1536, 2)
_O0, _O1, _O2 = slice(1, 512, 2), slice(513, 1024, 2), slice(1025, 1536, 2)
TX_RETRY = 0.01  # lwipy's: a segment a full device queue refused is tried again this soon when no ACK comes first


class TcpOutput:
    """Segment building and sending for :class:`~lwipy.core.tcp.pcb.TcpPcb` (mixed in; no state of its own)."""

    def _output(self, force: bool = False, limited: int = 0) -> None:
        """``tcp_output``: send what the send buffer, the peer's window and the congestion window allow.  With
        ``force`` the first segment goes whatever Nagle, silly window avoidance and cwnd say (a retransmission
        timeout, the small-window override timer), within the peer's window."""
        if not force and not limited and self.fin_seq is None and self.tcp._fast_path and self._output_fast():
            return
        self._output_whole(force, limited)

    def _output_whole(self, force: bool = False, limited: int = 0) -> None:
        """:meth:`_output` the whole way (its fast way tried first, or not applicable)."""
        if self.tcp.unsettled is not None:
            self.tcp.settle()  # rr2: the congestion window and RTO an ACK left for after a reply, read below
        if self.state not in CAN_SEND and self.state not in (FIN_WAIT_1, CLOSING, LAST_ACK):
            return
        mss = self.seg_size
        if self.stack.routes.generation != self._route_gen:
            self._route()
        # with TSO a segment may carry many MSS worth, cut by the device; Nagle and SWS still think in MSS
        burst = self._gso_burst(mss) if self._gso_max else mss
        sent_any = refused = False
        cc, rtt = self.cc, self.rtt
        while True:
            nxt = self.snd_nxt
            offset = (nxt - self.buf_seq) & MASK
            if offset >= _HALF:
                offset = 0
            avail = len(self.snd_buf) - offset
            flight = (nxt - self.snd_una) & MASK
            usable = min(self.snd_wnd, cc.cwnd + limited * mss) - flight
            fin_due = self.fin_seq is not None and avail <= 0 and nxt == self.fin_seq
            if avail <= 0 and not fin_due:
                break
            if avail > 0:
                # forcing passes over Nagle, SWS and cwnd, never over the peer's window (a zero one means persist)
                # and a forced segment (after a timeout cwnd is one segment, RFC 5681 3.1) is never a super-segment
                n = min(avail, mss, self.snd_wnd) if force else min(avail, burst, usable)
                if mss < n < avail:
                    n -= n % mss  # a super-segment ends on a segment boundary unless it ends the data
                if n <= 0:
                    if flight == 0 and self.persist_at is None:
                        self._arm_persist()
                    break
                last = n == avail
                # Nagle (RFC 9293 3.7.4) and sender SWS avoidance (RFC 1122 4.2.3.4): a partial segment goes when
                # it is the last data and nothing (or nodelay) holds it, or when it fills half the peer's window
                if n < mss and not force and not (last and (self.nodelay or flight == 0 or self.fin_seq is not None)) \
                        and n < self.max_snd_wnd // 2:
                    if flight == 0 and self.persist_at is None:
                        self._arm_persist()  # the override timer: nothing in flight would ever change our mind
                    break
                force = False
                with_fin = last and self.fin_seq is not None and ((nxt + n) & MASK) == self.fin_seq
                payload = memoryview(self.snd_buf)[offset:offset + n]
                flags = ACK | (PSH if last and self._push else 0) | (FIN if with_fin else 0)
                sent = self._send_segment(nxt, flags, payload, gso=mss if n > mss else 0)
                payload.release()
                adv = n + (1 if with_fin else 0)
            else:
                sent = self._send_segment(nxt, FIN | ACK, b"")
                adv = 1
            if not sent:
                refused = True
                break
            if rtt.seq is None and nxt == self.snd_max:  # time one new segment per flight (Karn)
                rtt.time_segment(nxt, self.stack.now)
            nxt = (nxt + adv) & MASK
            self.snd_nxt = nxt
            if _lt(self.snd_max, nxt):
                self.snd_max = nxt
            sent_any = True
        if refused:
            self._tx_refused()
        elif self.txretry_at is not None:
            self._tx_retry_off()  # everything that could go went: no retry pending
        if sent_any and self.rto_at is None:
            self._arm_rto()

    def _output_fast(self, one: bool = True) -> bool:
        """The send fast path: :meth:`_output` for the common call (no FIN queued, nothing forced, IPv4 to a
        resolved neighbour on an untagged Ethernet netif, s21: or IPv6 to one :meth:`_neighbour6` finds ready, no
        SACK blocks due), every segment built whole into one
        buffer (Ethernet, IPv4 and TCP headers from one struct, both checksums computed from the header fields and
        the payload's sum, then the payload) and handed to the device in one tight loop.  On a netif that offloads
        (tx8) the device gets the headers and the data apart, the TCP checksum left as the pseudo-header sum for it,
        and with TSO super-segments of whole segments, as :meth:`_fast_send` hands them.  The checks that cannot
        change within one call (route, netif, ARP entry, window to offer, timestamps) are made once.  It sends
        exactly what :meth:`_output` would, segment for segment, with the same counters and state; False, with
        nothing done, when anything is unusual (the full :meth:`_output` then runs)."""
        state = self.state
        if state != ESTABLISHED and state != CLOSE_WAIT:
            return False  # (out12: before _output_one, which leaves the state to its callers)
        nxt = self.snd_nxt
        snd_buf = self.snd_buf
        if nxt == self.buf_seq and nxt == self.snd_una and nxt == self.snd_max and one and snd_buf \
                and self._output_one(self.tcp.unsettled is self):
            return True  # rr9: an idle connection's one segment (a reply), by its own checks (rr11: ``one`` False
            # when the caller asked it already: ``send``)
        offset = (nxt - self.buf_seq) & MASK
        if offset >= _HALF:
            return False
        avail = len(snd_buf) - offset
        if avail <= 0:  # nothing to send (the call after an ACK that the application already filled for)
            if self.txretry_at is not None:
                self._tx_retry_off()
            return True
        if self.sack_ok and self.ooseq:
            return False  # SACK blocks due: the full way writes them
        way = self._tx_way_now()  # tx9: the device, the template and the sizes, kept while they stand
        if way is None:
            return False
        _, _, device, entry, head, mid, addrs, ip_neg, tcp_neg, wmemo, pack, offflags_ack, hdrs, mss, ts_ok, _ = way
        tcp = self.tcp
        stack = self.stack
        una = self.snd_una
        # what the windows let go now (tx8: no min call: a builtin with keywords costs as much as ten bytecodes)
        snd_wnd, cwnd = self.snd_wnd, self.cc.cwnd
        usable = (snd_wnd if snd_wnd < cwnd else cwnd) - ((nxt - una) & MASK)
        # rr2: an ACK's bookkeeping waits for this call's write (Tcp.settle).  Its congestion window only grows
        # (not in recovery), so one that already lets everything go decides alike; else it is settled first.  The
        # RTT sample it holds may end the timing of a segment: the segment to time is then timed after it, and the
        # RTO armed after the loop reads it settled
        unsettled = tcp.unsettled is self
        if unsettled and usable < avail:
            tcp.settle()
            unsettled = False
            snd_wnd, cwnd = self.snd_wnd, self.cc.cwnd
            usable = (snd_wnd if snd_wnd < cwnd else cwnd) - ((nxt - una) & MASK)
        timed = None
        snd_max = self.snd_max
        # tx3: Karn's one timed segment per flight: only while none is timed, and only for new data (a segment
        # starting at or above snd_max as it was on entry: snd_max follows nxt up, written back once at the end)
        timing = unsettled or self.rtt.seq is None
        ip4 = stack.ip4
        transmit = device.transmit
        fd = device.tx_fd  # way13: a plain TAP's descriptor (NetDevice.tx_fd): each frame written here, not by transmit
        adler = _adler32
        # tx8: a netif that offloads gets headers and the data apart (transmit_gso, as _fast_send hands them), the TCP
        # checksum left as the pseudo-header sum for it, and with TSO a super-segment of whole segments
        # (_gso_burst's, inline), the IPv4 identification advanced by the segments the device makes of it
        offload = self._offload
        burst = mss
        if offload:
            gso_max = self._gso_max
            if gso_max - gso_max % mss > mss:
                burst = gso_max - gso_max % mss
            pseudo = self._pseudo_base + hdrs - 20  # (the TCP header's length)
            transmit_gso = device.transmit_gso
        window = -1
        tried = sent = 0
        refused = False
        ident = ip4.next_ident
        try:
            while True:
                n = avail if avail < burst else burst
                if usable < n:
                    n = usable
                    if n <= 0:
                        if nxt == una and self.persist_at is None:
                            self._arm_persist()
                        break
                    if n > mss:  # (offload) a super-segment ends on a segment boundary unless it ends the data
                        n -= n % mss
                # Nagle (RFC 9293 3.7.4) and sender SWS avoidance (RFC 1122 4.2.3.4), as in _output (tx9: the flags read
                # only for a partial segment)
                if n < mss and not (n == avail and (self.nodelay or nxt == una)) and n < self.max_snd_wnd // 2:
                    if nxt == una and self.persist_at is None:
                        self._arm_persist()  # the override timer
                    break
                if window < 0:  # once per call: the buffer does not change while we send (_offered_window)
                    rcv_nxt = self.rcv_nxt
                    # tx9: its last answer replayed while the four figures it depends on stand still (a sender's
                    # receive side), in either of its ways (the template's memo, tx2's, also for its shortcut)
                    key = (rcv_nxt, self.rcv_adv, len(self.rcv_buf) + self.rcv_held, self.rcv_buf_limit)
                    if wmemo[0] == key:
                        window = wmemo[1]
                        self.rcv_adv = wmemo[2]
                    else:
                        window = self._offered_window(wmemo)
                        wmemo[0], wmemo[1], wmemo[2] = key, window, self.rcv_adv
                    # tx3: the TCP checksum's part of this call, negated as the template's (see _segment_template)
                    neg_ack = tcp_neg - rcv_nxt - window
                    if ts_ok:
                        tsval, tsecr = _trunc(stack.now * 1000) & MASK, self.ts_recent  # _ts_now, inline
                        neg_ack -= tsval + tsecr
                        tail = _TS_OPT.pack(0x0101080A, tsval, tsecr)
                    else:
                        tail = b""
                    if self._push:
                        neg_psh = neg_ack - PSH
                        offflags_psh = offflags_ack | PSH
                    else:  # the last write said more (TCP_WRITE_FLAG_MORE): no PSH
                        neg_psh, offflags_psh = neg_ack, offflags_ack
                if n == avail:  # PSH on the last
                    offflags, neg = offflags_psh, neg_psh
                else:
                    offflags, neg = offflags_ack, neg_ack
                if offload:  # the headers alone; the data from the send buffer, not copied here
                    payload = memoryview(snd_buf)[offset:offset + n]
                    try:
                        frame = pack(head, hdrs + n, ident, mid, (ip_neg - n - ident) % 0xFFFF, addrs, nxt,
                                     rcv_nxt, offflags, window, (pseudo + n) % 0xFFFF or 0xFFFF, tail)
                        gso = mss if n > mss else 0
                        ident = (ident + (-(-n // mss) if gso else 1)) & 0xFFFF
                        tried += 1
                        took = transmit_gso(frame, payload, 34, 16, gso)
                    finally:
                        payload.release()  # (the send buffer can be cut again)
                else:
                    # rr1: the whole buffer as it is (a reply's one segment): no slice copied out of it first
                    payload = snd_buf if not offset and n == avail else snd_buf[offset:offset + n]
                    if n > 400:
                        if n <= 1536:
                            # tx8: wire.checksum.data_sum's unrolled case, inline (two calls less per ACK): the sums of
                            # the even and the odd bytes, exact by zlib.adler32 in pieces of 256 (the slices made once);
                            # tx9: from adler32's own start (1: each piece's sum plus one, still below its modulus),
                            # the six ones (3 * 256 + 3) taken off once
                            data_sum = ((adler(payload[_E0]) & 0xFFFF) + (adler(payload[_E1]) & 0xFFFF)
                                        + (adler(payload[_E2]) & 0xFFFF)) * 256 + (adler(payload[_O0]) & 0xFFFF) \
                                + (adler(payload[_O1]) & 0xFFFF) + (adler(payload[_O2]) & 0xFFFF) - 771
                        else:
                            data_sum = _data_sum(payload)  # (jumbo frames)
                    else:
                        data_sum = _from_bytes(payload)
                        if n & 1:
                            data_sum <<= 8
                    if mid is None:  # s21: IPv6 (_tx_way_make): no identification, no header checksum
                        frame = pack(head, hdrs + n, addrs, nxt, rcv_nxt, offflags, window,
                                     (neg - n - nxt - data_sum) % 0xFFFF, tail) + payload
                    else:
                        frame = pack(head, hdrs + n, ident, mid, (ip_neg - n - ident) % 0xFFFF, addrs, nxt, rcv_nxt,
                                     offflags, window, (neg - n - nxt - data_sum) % 0xFFFF, tail) + payload
                        ident = (ident + 1) & 0xFFFF
                    tried += 1
                    if fd is None:
                        took = transmit(frame)
                    else:  # (fd read once a call: nothing that closes or swaps it runs between the writes)
                        try:
                            os.write(fd, frame)
                            took = True
                        except OSError as error:
                            took = device.transmit_failed(error)
                if not took:
                    stats = stack._stats
                    stats.link_refused(stats.tcp)
                    refused = True  # ENOMEM: kept for later (TF_NAGLEMEMERR), as in _output
                    break
                sent += 1
                if timing and not (nxt - snd_max) & _HALF:  # new data (at or above snd_max): time it
                    if unsettled:
                        timed = nxt  # once settled (below)
                    else:
                        self.rtt.time_segment(nxt, stack.now)
                    timing = False
                nxt = (nxt + n) & MASK
                avail -= n
                if avail <= 0:
                    break
                offset += n
                usable -= n
        finally:  # what the loop counted, written back once (also should the device raise)
            ip4.next_ident = ident
            self.snd_nxt = nxt
            if 0 < ((nxt - snd_max) & MASK) < _HALF:
                self.snd_max = nxt
            if tried and mid is None:  # s21: IPv6: the neighbour touched, as nd6's output does, and its counters
                entry.touched = stack.now
                self._tried6(tried, sent)
            elif tried:
                tcp.fast_sent += sent  # stats14: ip.xmit, etharp.cachehit, link.xmit, tcp.xmit (Stack.stats folds it)
                if tried != sent:  # the last one refused, or its write raised: tried, as the full way counts it
                    stats = stack._stats
                    stats.ip.xmit += tried - sent
                    stats.etharp.cachehit += tried - sent
            if unsettled:  # rr2: the reply is written: the ACK's bookkeeping now, then the timing it allows
                tcp.settle()
                if timed is not None and self.rtt.seq is None:
                    rtt = self.rtt  # RttEstimator.time_segment, inline (rr1)
                    rtt.seq, rtt.start = timed, stack.now
        if sent:
            self.unacked_segments = 0
            self.ack_due = False  # rx: the segments carried the ACK a batch's end would have written
            self.last_ack_sent = rcv_nxt
            if self.delack_at is not None:
                self.delack_at = None  # the segments carried our ACK: the deadline may move
                self._schedule()
        if refused:
            self._tx_refused()
        elif self.txretry_at is not None:
            self._tx_retry_off()
        if sent and self.rto_at is None:
            self.rto_at = when = stack.now + self.rtt.rto  # _arm_rto and _arm, inline (rr2: two calls less a reply)
            if self.state != CLOSED:
                tcp.timers.arm(self, when)
        return True

    def _tx_way_now(self) -> tuple | None:
        """tx9: :meth:`_output_fast`'s and :meth:`_output_one`'s way out (device, neighbour, template, sizes:
        :meth:`_tx_way_make`'s tuple) as the last call found it, while nothing it was made from changed (the routes'
        and the ARP table's generations, the netif's state, the neighbour's MAC, our MAC, MTU, TOS, TTL, timestamps
        and MSS, the stack's link output: :meth:`_tx_way_make`'s checks, kept in step with :meth:`_neighbour_mac`'s;
        way13: the stack's, the netif's and the neighbour's as ``Stack.way_generation``, which every write to them
        moves on; way14: the link output's too (``Stack.link_output``'s setter), and the way dropped (``_tx_way``
        :data:`NO_WAY`, tail15) by a write of TOS or TTL (``TcpPcb.tos``'s and ``ttl``'s setters) or of the
        timestamps (``_rcv_sws``, which whatever sets ``ts_ok`` calls), so that the generation and the peer's MSS are
        all there is to compare), the neighbour's refresh time read live; else made again.  None when the full way
        must send (a neighbour to resolve or refresh, a route to look up again, segments larger than the MTU).
        out12: :meth:`_output_one` has this body inline (``test_tcp_send_fast``'s way-change tests hold both to the
        full way)."""
        way = self._tx_way
        stack = self.stack
        # way14: two comparisons (the peer's MSS stays a plain field, read per ACK: a property would cost more there);
        # tail15: NO_WAY, a way not kept, fails the first
        if stack.way_generation != way[0] or self.snd_mss != way[1]:
            return self._tx_way_make()
        if stack.now >= way[3].refresh_at:  # (way13: ArpEntry.refresh_due, inline)
            return None  # a neighbour to refresh (ArpEntry.ready_mac, as _neighbour_mac): etharp_output's work
        return way

    def _tx_way_make(self) -> tuple | None:
        """tx9: :meth:`_output_fast`'s way out, made again (its memo ``_tx_way`` missed): None when the full way must
        send (no unicast IPv4 neighbour, one to resolve or refresh, a route to look up again, segments larger than
        the MTU); else what it was made from (``Stack.way_generation``, for the routes' and the ARP table's
        generations, the ARP entry's MAC and the netif's state, MAC, MTU and device, and way14 the stack's link
        output; the peer's MSS: our TOS, TTL and timestamps drop the way when written, :meth:`_tx_way_now`), the
        netif's device, the ARP entry, the template's fields, the headers' and the segments' sizes and whether
        timestamps are on; out2: and ``_rcv_opens_at`` for :meth:`_output_one`'s window (:data:`_SCALED` for a scaled
        window: ``_rcv_opens_at`` is set by ``TcpPcb._rcv_sws`` alone, which drops the way, and ``rcv_wscale`` only
        before a call of it, when the pcb is made and by the handshake).  s21: over IPv6 the same tuple, for a
        neighbour :meth:`_neighbour6` finds ready (its ``Neighbor``, whose ``refresh_at`` :meth:`_tx_way_now` tests
        as an ARP entry's), from :meth:`_segment_template6`: ``mid`` None (there is no identification, fragment
        field or header checksum: the short ways test it to write IPv6), ``hdrs`` the TCP header's length alone (the
        payload length's part before the data); none on a netif that offloads (its IPv6 super-segments stay the full
        way's), nor for segments larger than the link's or the path's MTU (``ip6.output`` would fragment them; a
        smaller path MTU lowers ``snd_mss``, ``Tcp.path_mtu_changed``, which the way compares)."""
        stack = self.stack
        tcp = self.tcp
        generation = stack.way_generation  # (read before what it stands for)
        if self.v6:
            entry = self._neighbour6()
            if entry is None or self._offload:
                return None
            netif, mac = entry.netif, entry.mac
            # (the IPv6 header's 40 bytes outside its payload length; the path's MTU as ip6.output takes it)
            ip_hlen, length_base, make = 40, 0, self._segment_template6
            mtu = min(netif.mtu6, stack.route6.path_mtus.get(self._remote_packed, 0xFFFF))
        else:
            if not self._neighbour:
                return None
            mac = self._neighbour_mac()  # (None also without a netif)
            if mac is None:
                return None
            netif = self._netif
            entry = tcp.tx_neighbours[self][0]
            # (the IPv4 header's 20 bytes inside its total length)
            ip_hlen, length_base, make, mtu = 20, 20, self._segment_template, netif.mtu
        ts_ok = self.ts_ok
        hlen = 32 if ts_ok else 20
        snd_mss = self.snd_mss
        mss = snd_mss - 12 if ts_ok else snd_mss  # seg_size: no SACK room is due here
        if ip_hlen + hlen + mss > mtu:
            return None
        # the frame's constant bytes and the checksums' constant parts, made again when one of them changed
        tmpl = tcp.tx_templates.get(self)
        made_for = (mac, netif.hwaddr, self._tos, self._ttl, hlen)
        if tmpl is None or tmpl[0] != made_for:
            tmpl = tcp.tx_templates[self] = make(*made_for)
        # (what it was made from, compared by _tx_way_now: an up, untagged netif and the stack's Ethernet output are
        # checked by _neighbour_mac above, so an equal generation later means they still are; way13: the routes' and
        # the ARP table's generations, the netif's state, VLAN, MAC, MTU and device and the entry's MAC as
        # Stack.way_generation, which a write to any of them moves on; way14: the link output's too, our TOS, TTL and
        # timestamps by dropping the way when written, the peer's MSS compared)
        # way13: the netif's device (a write to netif.device moves Stack.way_generation on) and the template's fields in
        # the way itself (one unpacking a call): (generation, snd_mss, device, entry, head, mid, addrs, ip_neg, tcp_neg,
        # wmemo, pack, offflags_ack, hdrs: the headers' part of the IP length field, mss: the segments' most data,
        # ts_ok, opens_at: out2, the window's threshold)
        way = self._tx_way = (generation, snd_mss, netif.device, entry) + tmpl[1:] + (
            length_base + hlen, mss, ts_ok, _SCALED if self.rcv_wscale else self._rcv_opens_at)
        return way

    def _offered_window(self, wmemo: list) -> int:
        """The window field of :meth:`_output_fast`'s segments (capped at 16 bits; rr11: :meth:`_output_one` has this
        body inline, ``test_tcp_rr_one`` compares them), with ``rcv_adv`` set as :meth:`_window_field` sets it, asked
        once per call (the buffer does not change while we send).  rr2: a reply's case (the request read, the window not
        reopened: ``rcv_nxt`` moved, so the memo misses) without ``_window_field``'s calls: when even the raw room
        cannot open the window offered by the worthwhile amount, ``_window_bytes`` offers it as it stands, and unscaled,
        ``rcv_adv`` stays (``_window_room``'s figures, inline; out12: the threshold ``_rcv_opens_at`` they come to,
        kept per connection by ``TcpPcb._rcv_sws``).  tx2: otherwise ``_window_field`` depends on these four
        alone once the connection is synchronized (its MSS, options and scale agreed), so the last answer is replayed
        from the template's memo ``wmemo`` while they are the same (a sender's receive side stands still)."""
        rcv_nxt = self.rcv_nxt
        rcv_adv = self.rcv_adv
        held = len(self.rcv_buf) + self.rcv_held
        offered = (rcv_adv - rcv_nxt) & MASK
        if offered <= _HALF and not self.rcv_wscale and held + offered > self._rcv_opens_at:
            return offered if offered < 0xFFFF else 0xFFFF  # (out12: _rcv_opens_at, TcpPcb._rcv_sws)
        key = (rcv_nxt, rcv_adv, held, self.rcv_buf_limit)
        if wmemo[0] == key:
            self.rcv_adv = wmemo[2]
            return wmemo[1]
        window = min(self._window_field(), 0xFFFF)
        wmemo[0], wmemo[1], wmemo[2] = key, window, self.rcv_adv
        return window

    def _output_one(self, unsettled: bool) -> bool:
        """rr8: :meth:`_output_fast`'s loop for its commonest call from a request/response server: the application
        wrote to an idle connection (nothing in flight, everything sent acknowledged, ``snd_una == snd_nxt ==
        snd_max == buf_seq``, the state ESTABLISHED or CLOSE_WAIT and ``snd_buf`` not empty: out12, the callers checked,
        ``send`` as it takes the write) no more than one segment that the windows let go at once, so
        exactly one segment goes, all of ``snd_buf`` with PSH (unless the last write said ``more``: tx9), Nagle and the
        persist timer having nothing to say.
        The same frame, counters and state as the loop, in straight-line code (the window offered as
        :meth:`_offered_window` works it out, rr11: its body inline; ``tests/core/test_tcp_rr_one.py`` compares them;
        rr11: ``send`` asks it itself, the loop's callers through :meth:`_output_fast`).  rr9: called first, with its own
        checks (those of :meth:`_output_fast` that an idle connection's one segment needs: SACK blocks, the way out
        of :meth:`_tx_way_now`, the windows), so that a reply skips the loop's set-up; False, with nothing done, when
        it is not its case (a congestion window an ACK's bookkeeping may still open: the loop settles it first).
        off9: on a netif that offloads too, the frame whole with both checksums done to ``device.transmit`` (a
        device takes such a frame as it is, and a reply's sum costs less than the offload branch's work).
        tail15: ``unsettled`` is whether this connection's ACK bookkeeping waits for this write (``Tcp.unsettled is
        self``), as the caller knows it (the request lane without a look: 4 bytecodes less a reply; the others ask);
        settled once the segment is written."""
        # (tail15: unsettled, nothing is held out of order: both deferring ways take only a connection without, and
        # a segment's input, the only way to hold one, settles first: not read, a bytecode less a reply)
        if not unsettled and self.sack_ok and self.ooseq:
            return False  # SACK blocks due: the full way writes them
        snd_buf = self.snd_buf
        n = len(snd_buf)
        # the way out as _output_fast's (the neighbour, the MTU, the template), kept while they stand: _tx_way_now,
        # inline (out12: a call and a second unpacking less a reply; an inline copy: test_tcp_send_fast's way-change
        # tests hold this one (..._at_the_next_write_to_an_idle_connection) and _tx_way_now to the full way, and
        # test_tcp_send_neighbour's the refresh; way14: the generation and the peer's MSS, test_tcp_way_generation)
        # tail15: the way unpacked from the pcb at once (no None to test first: a way not kept is NO_WAY, whose
        # generation no stack has; 6 bytecodes less a reply)
        (generation, snd_mss, device, entry, head, mid, addrs, ip_neg, tcp_neg, wmemo, pack, offflags_ack, hdrs, mss,
         ts_ok, opens_at) = self._tx_way
        stack = self.stack
        if stack.way_generation != generation or self.snd_mss != snd_mss:
            way = self._tx_way_make()
            if way is None:
                return False
            _, _, device, entry, head, mid, addrs, ip_neg, tcp_neg, wmemo, pack, offflags_ack, hdrs, mss, ts_ok, opens_at = way
        elif stack.now >= entry.refresh_at:  # (way13: ArpEntry.refresh_due, inline)
            return False  # a neighbour to refresh (ArpEntry.ready_mac, as _neighbour_mac): etharp_output's work
        if n > mss or n > self.snd_wnd or n > self.cc.cwnd:  # (way13: the smaller window's test as two, no locals)
            return False
        tcp = self.tcp
        rcv_nxt = self.rcv_nxt
        # the window offered, as _output_fast's loop asks it once per call: _offered_window's reply case inline (rr11: a
        # call less a reply; an inline copy, test_tcp_rr_one compares the two and the full way): the request read, the
        # window not reopened and below 16 bits (out14: so no cap, and then at most _HALF; one test less, 9 bytecodes
        # less a reply; the rest, a window of 16 bits or more and the memo, asked of _offered_window itself).  out2: the
        # threshold _rcv_opens_at from the way, which holds _SCALED instead for a scaled window (so the test of
        # rcv_wscale folded into it: 3 bytecodes less a reply, with its unpacking)
        offered = (self.rcv_adv - rcv_nxt) & MASK
        if offered < 0xFFFF and len(self.rcv_buf) + self.rcv_held + offered > opens_at:
            window = offered
        else:
            window = self._offered_window(wmemo)
        psh = self._push  # PSH or 0 (not after a write that said more: TCP_WRITE_FLAG_MORE)
        if ts_ok:  # (out14: the options' values taken off the template's sum in place, the rest in the pack: 2 less)
            tsval, tsecr = _trunc(stack.now * 1000) & MASK, self.ts_recent  # _ts_now, inline
            tcp_neg -= tsval + tsecr
            tail = _TS_OPT.pack(0x0101080A, tsval, tsecr)
        else:
            tail = b""
        # the payload's sum: an even length below 256 (a request's reply) by from_bytes here, any other by
        # wire.checksum.data_sum (an odd length's padding byte, adler32 above 400 bytes, as the loop sums a segment;
        # the same residue): s15, one test (n & ~0xFE: odd, or 256 and more) for the common case, not two (4 less)
        if n & ~0xFE:
            data_sum = _data_sum(snd_buf)
        else:
            data_sum = _from_bytes(snd_buf)
        nxt = self.snd_nxt
        csum = (tcp_neg - rcv_nxt - window - psh - n - nxt - data_sum) % 0xFFFF
        if mid is None:  # s21: IPv6 (_tx_way_make): no identification, no header checksum
            ip4 = None
            frame = pack(head, hdrs + n, addrs, nxt, rcv_nxt, offflags_ack | psh, window, csum, tail) + snd_buf
        else:
            ip4 = stack.ip4
            ident = ip4.next_ident
            frame = pack(head, hdrs + n, ident, mid, (ip_neg - n - ident) % 0xFFFF, addrs, nxt, rcv_nxt,
                         offflags_ack | psh, window, csum, tail) + snd_buf
        sent = False
        try:
            if device.tx_fd is None:
                sent = device.transmit(frame)
            else:  # way13: a plain TAP's transmit, without its call (NetDevice.tx_fd: the device says it is the same)
                try:
                    os.write(device.tx_fd, frame)
                    sent = True
                except OSError as error:
                    sent = device.transmit_failed(error)
        finally:  # as _output_fast's loop writes back (also should the device raise)
            if ip4 is None:  # s21: IPv6: the neighbour touched, as nd6's output does, and its counters
                entry.touched = stack.now
                self._tried6(1, 1 if sent else 0)  # (a device may say how many bytes it took: a count of one)
            else:
                ip4.next_ident = (ident + 1) & 0xFFFF
                if sent:
                    tcp.fast_sent += 1  # stats14: ip.xmit, etharp.cachehit, link.xmit, tcp.xmit (Stack.stats folds it)
                else:  # refused, or the write raised: tried, as the full way counts it
                    stats = stack._stats
                    stats.ip.xmit += 1
                    stats.etharp.cachehit += 1
            if sent:
                self.snd_nxt = self.snd_max = (nxt + n) & MASK
            if unsettled:  # rr2: the reply is written: the ACK's bookkeeping now, then the timing it allows
                tcp.settle()
        if not sent:
            stats = stack._stats
            stats.link_refused(stats.tcp)  # ENOMEM: kept for later (TF_NAGLEMEMERR), as in _output
            self._tx_refused()
            return True
        rtt = self.rtt
        # new data: timed when nothing is (Karn), as the loop decides.  tail15: asked after the write (which changes no
        # timing: a device does not feed frames back while it writes, as ``ident`` and ``snd_nxt`` written back after
        # it assume), so the same test serves both cases: unsettled, the ACK's sample is taken by now (and an ACK of
        # everything sent ends any timing); 5 bytecodes less a reply than a decision before the write for the other
        if rtt.seq is None:
            rtt.seq = nxt  # RttEstimator.time_segment, inline (out14: two stores, not a tuple's: one less)
            rtt.start = stack.now
        self.unacked_segments = 0
        self.ack_due = False  # rx: the segment carried the ACK a batch's end would have written
        self.last_ack_sent = rcv_nxt
        if self.delack_at is not None:
            self.delack_at = None
            self._schedule()
        # tail15: unsettled, no refused segment waits for its retry and the RTO is off (both deferring ways take
        # only a connection without the first; the ACK of everything sent stopped the RTO, RFC 6298 5.2; and a
        # write since, refused or not, would have settled first): neither read (3 bytecodes less a reply)
        if not unsettled:
            if self.txretry_at is not None:
                self._tx_retry_off()
            if self.rto_at is not None:
                return True
        self.rto_at = when = stack.now + rtt.rto  # _arm_rto and _arm, inline (the RTO started, RFC 6298 5.1)
        # call12: LazyDeadlines.arm's first test, inline: a reply's RTO is seldom earlier than the connection's entry
        # (the last reply's, left in the heap by its ACK), and arm then returns at once (a call, 18 ns, less a reply;
        # test_call_costs holds the heap to arm's result); way14: against the deadline the entry holds as the heap
        # keeps it in the pcb (heap_at: no lookup of the entry)
        if when < self.heap_at and self.state != CLOSED:
            tcp.timers.arm(self, when)
        return True

    def _segment_template(self, mac: bytes, hwaddr: bytes, tos: int, ttl: int, hlen: int) -> tuple:
        """:meth:`_output_fast`'s per-connection template (kept in ``Tcp.tx_templates`` for the neighbour's MAC, ours,
        TOS, TTL and header length it was made for): the constant bytes of a data segment's frame (Ethernet
        and the start of IPv4; fragment field, TTL and protocol; addresses and ports), the partial sum of the IPv4
        header without the segment's length and its ident, and that of the TCP header and pseudo-header without
        seq, ack, window, the timestamps' values and the segment's length, flags ACK alone (2**16 = 1 modulo 0xFFFF:
        a 32-bit field adds as itself, see wire/checksum.py).  Both sums are negated: ``(-sum) % 0xFFFF`` is the
        checksum field itself (the complement of the folded sum, a residue 0 giving 0 as wire.checksum writes it),
        so a segment's field is ``(that - n - ident) % 0xFFFF`` and the like.  Also the struct that packs the frame
        and the data offset with ACK."""
        src, dst, sport, dport = self._local_packed, self._remote_packed, self.local_port, self.remote_port
        head = mac + hwaddr + b"\x08\x00" + bytes((0x45, tos))
        mid = bytes((0, 0, ttl, PROTO_TCP))  # no fragment bits, as the full way writes them
        addrs = src + dst + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
        ip_neg = -(0x4500 + tos + (ttl << 8) + PROTO_TCP + _from_bytes(src + dst) + 20 + hlen)
        offflags_ack = (hlen << 10) | ACK
        tcp_neg = -(self._pseudo_base + hlen + (sport << 16) + dport + offflags_ack + (0x0101080A if hlen == 32 else 0))
        # tx2: the last window field offered: [(rcv_nxt, rcv_adv, bytes held, buffer limit) before, field, rcv_adv after]
        return ((mac, hwaddr, tos, ttl, hlen), head, mid, addrs, ip_neg, tcp_neg, [None, 0, 0],
                _SEG_TS.pack if hlen == 32 else _SEG.pack, offflags_ack)

    def _segment_template6(self, mac: bytes, hwaddr: bytes, tclass: int, hop_limit: int, hlen: int) -> tuple:
        """s21: :meth:`_segment_template` over IPv6 (:meth:`_tx_way_make`): the frame's constant bytes before the
        payload length (Ethernet; version, traffic class, flow label 0) and after it (next header, hop limit,
        addresses, ports: as ``fastpath._ack_template6`` writes them), no IPv4 parts (``mid`` None, ``ip_neg`` 0),
        the negated partial sum of the TCP header and pseudo-header as IPv4's, the window's memo, the struct and
        the data offset with ACK."""
        head, addrs = header_parts6(self, mac, hwaddr, tclass, hop_limit)
        sport, dport = self.local_port, self.remote_port
        offflags_ack = (hlen << 10) | ACK
        tcp_neg = -(self._pseudo_base + hlen + (sport << 16) + dport + offflags_ack + (0x0101080A if hlen == 32 else 0))
        return ((mac, hwaddr, tclass, hop_limit, hlen), head, None, addrs, 0, tcp_neg, [None, 0, 0],
                _SEG6_TS.pack if hlen == 32 else _SEG6.pack, offflags_ack)

    def _tried6(self, tried: int, sent: int) -> None:
        """s21: count ``tried`` IPv6 segments a short way handed to the device, ``sent`` of them taken, as the full
        way counts them (``Tcp.fast_sent6`` for those taken: ``ip6.xmit``, ``link.xmit``, ``tcp.xmit``; a refused
        one is ``ip6.xmit`` here, and the link's and TCP's errors at the caller, as over IPv4)."""
        self.tcp.fast_sent6 += sent
        if tried != sent:
            self.stack._stats.ip6.xmit += tried - sent

    def _tx_refused(self) -> None:
        """The device (or the ARP queue) refused a segment: it stays unsent (``snd_nxt`` not advanced), as lwIP's
        ``tcp_output`` keeps it on ``unsent`` with TF_NAGLEMEMERR, and goes with the next ACK, the next write,
        :meth:`Tcp.txnow`, or after ``TX_RETRY`` seconds.  The retransmission timer runs meanwhile (lwIP starts
        ``rtime`` before the output fails), so a device that never takes it ends the connection as a loss would."""
        self.stack._stats.tcp.tx_refused += 1
        self.tcp.tx_refused.add(self)
        self.txretry_at = self.stack.now + TX_RETRY
        self._unusual_check()
        if self.rto_at is None and self.persist_at is None:
            self.rto_at = self.stack.now + self.rtt.rto
        self._schedule()

    def _queue_fin(self) -> None:
        self.fin_seq = (self.buf_seq + len(self.snd_buf)) & MASK
        if self.state in (ESTABLISHED, SYN_RCVD):
            self.state = FIN_WAIT_1
        elif self.state == CLOSE_WAIT:
            self.state = LAST_ACK
        self._unusual_check()
        self._output()

    def _syn_options(self) -> TcpOptions:
        # lwIP's tcp_output_segment options: MSS always; window scale (LWIP_WND_SCALE), SACK permitted
        # (LWIP_TCP_SACK_OUT) and timestamps (LWIP_TCP_TIMESTAMPS) only when built in, and in a SYN-ACK only when the
        # SYN offered them.  ESP-IDF's defaults build none of the three: its SYN carries the MSS alone.
        opts = TcpOptions(mss=self.mss)
        cfg = self.stack.config
        passive = self.state == SYN_RCVD
        if cfg.wnd_scale and (not passive or self.wscale_ok):
            opts.wscale = self.rcv_wscale
        if cfg.tcp_sack_out and (not passive or self.sack_ok):
            opts.sack_permitted = True
        if cfg.tcp_timestamps and (not passive or self.ts_ok):
            opts.timestamp = (self._ts_now(), self.ts_recent if passive else 0)
        return opts

    def _send_syn(self) -> None:
        flags = SYN | ACK if self.state == SYN_RCVD else SYN
        self._send_segment(self.iss, flags, b"", self._syn_options())
        self._arm_rto()

    def _send_ack(self) -> None:
        self.delack_at = None
        self.unacked_segments = 0
        # at snd_max, not snd_nxt: after a timeout snd_nxt walks back over data the peer already has, and an ACK
        # numbered there would fall below its window and be dropped unread (RFC 9293 3.10.7.4); but never past the
        # right edge of the peer's window (Linux's tcp_acceptable_seq): when the peer's window is closed, an ACK at
        # snd_max beyond data it never got is unacceptable to it, and its acknowledgment is never read
        seq = self.snd_max
        if (seq - self.snd_una) & MASK > self.snd_wnd:
            seq = (self.snd_una + self.snd_wnd) & MASK
        if fast_ack(self, seq) is None:  # rx: a pure ACK from the connection's header template, when it applies
            self._send_segment(seq, ACK, b"")

    def _oow_limited(self) -> bool:
        """Whether a reply to an unacceptable segment must be skipped: at most one per ``tcp_invalid_ratelimit`` ms
        on this connection, as Linux's ``tcp_oow_rate_limited``.  Without it one blind data segment injected into
        one end leaves two ends that disagree about the sequence space acknowledging each other for ever, each ACK
        unacceptable to the other."""
        limit = self.stack.config.tcp_invalid_ratelimit / 1000.0
        now = self.stack.now
        if limit and self.last_oow_ack is not None and now - self.last_oow_ack < limit:
            self.stack._stats.tcp.ack_skipped += 1
            return True
        self.last_oow_ack = now
        return False

    def _send_oow_ack(self) -> None:
        """An ACK in reply to an unacceptable segment (out of window, failing PAWS, acknowledging what was never
        sent), rate-limited (:meth:`_oow_limited`)."""
        if not self._oow_limited():
            self._send_ack()

    def _challenge_ack(self) -> None:
        """RFC 5961's challenge ACK (3.2, 4.2, 5.2), limited per connection as any reply to an unacceptable segment
        and across the stack to ``tcp_challenge_ack_limit`` a second (RFC 5961 7)."""
        stats = self.stack._stats.tcp
        stats.proterr += 1
        if self._oow_limited():
            return
        if not self.tcp.challenge_allowed():
            stats.ack_skipped += 1
            return
        self._send_ack()

    def _dupthresh(self) -> int:
        """``DupThresh`` for the flight now out (see :meth:`CongestionControl.dupthresh`)."""
        return self.cc.dupthresh((self.snd_max - self.snd_una) & MASK, self.seg_size,
                                 len(self.snd_buf) - ((self.snd_max - self.buf_seq) & MASK))

    def _tx_retry_off(self) -> None:
        """No refused segment waits for its retry any more (everything that could go went): the retry's time and
        the pcb's place in ``Tcp.tx_refused`` go, and ``_unusual`` follows (guard15)."""
        self.txretry_at = None
        self._unusual_check()
        self.tcp.tx_refused.discard(self)

    def _enter_recovery(self) -> None:
        """Fast retransmit (RFC 5681 3.2): halve, send the first hole again, and recover until ``recover``."""
        self.cc.enter_recovery((self.snd_max - self.snd_una) & MASK, self.snd_mss, self.snd_una, self.snd_max)
        self._unusual_check()
        self._retransmit_one()

    def _retransmit_one(self) -> None:
        """Send the first unacknowledged segment again (fast retransmit, partial ACK), up to the first SACKed
        range."""
        una = self.snd_una
        limit = self.scoreboard.first_hole(una, self.seg_size)
        self._retransmit_range(una, limit)
        cc = self.cc
        end = (una + limit) & MASK
        if cc.rexmit_high is None or _lt(cc.rexmit_high, end):
            cc.rexmit_high = end
        self._arm_rto()

    def _retransmit_next_hole(self) -> None:
        """Send the first un-SACKed segment above what this recovery already sent again, below ``recover``."""
        cc = self.cc
        high = cc.rexmit_high
        start, end = self.scoreboard.next_hole(high if high is not None and _lt(self.snd_una, high) else self.snd_una,
                                               self.seg_size)
        if cc.recover is None or not _lt(start, cc.recover):
            return
        if self._retransmit_range(start, (end - start) & MASK):
            cc.rexmit_high = end

    def _retransmit_range(self, seq: int, length: int) -> bool:
        """Send ``length`` bytes from ``seq`` again (the FIN with them when they reach it)."""
        offset = (seq - self.buf_seq) & MASK
        if offset >= _HALF:
            offset = 0
        # never past snd_max: a hole sized by today's seg_size (grown since the SACK blocks' room was given back) may
        # reach into unsent data, and bytes sent without moving snd_max would be acknowledged by an ACK above it,
        # which _process_ack drops as acknowledging what was never sent (both ends then stall for ever)
        n = min(len(self.snd_buf) - offset, length, (self.snd_max - seq) & MASK)
        sent = False
        if n > 0:
            with_fin = self.fin_seq is not None and ((seq + n) & MASK) == self.fin_seq
            payload = memoryview(self.snd_buf)[offset:offset + n]
            self._send_segment(seq, ACK | (FIN if with_fin else 0), payload)
            payload.release()
            sent = True
        elif self.fin_seq is not None and seq == self.fin_seq:
            self._send_segment(seq, FIN | ACK, b"")
            sent = True
        if sent:
            self.rtt.retransmitted(seq)  # Karn: a timed segment sent again gives no sample
        return sent

    def _window_bytes(self) -> int:
        """The window to offer: free space, never pulling back the right edge already offered, and opened only by
        a worthwhile amount (receiver SWS avoidance: min(Fr * RCV.BUFF, Eff.snd.MSS), RFC 9293 3.8.6.2.2, where
        the peer's effective MSS leaves out its timestamps option, 3.7.1: a window of whole 1428-byte segments must
        reopen by one of them)."""
        # rx8: _window_room's figures and an unscaled window's rounding (_free_window's whole segments) in this one
        # body: every ACK asks, and the two calls and the tuple cost more than the sums
        offered = (self.rcv_adv - self.rcv_nxt) & MASK
        if offered > _HALF:
            offered = 0
        limit = self.rcv_buf_limit
        free = limit - len(self.rcv_buf) - self.rcv_held
        seg = self.mss - 12 if self.ts_ok else self.mss
        worthwhile = seg if seg < limit // 2 else limit // 2
        if free - offered < worthwhile:
            return offered  # rr: not even the raw room opens it (a request/response's every reply), no rounding
        state = self.state
        if free > seg and state != SYN_SENT and state != SYN_RCVD:  # (the handshake's window stays unrounded)
            if self.rcv_wscale:
                free = self._free_window()
            else:
                free -= free % seg
            if free - offered < worthwhile:
                return offered  # also at zero: a closed window opens by a worthwhile amount or not at all
        return free  # (more than offered: it opens by the worthwhile amount)

    def _window_update(self) -> None:
        """After the user read: tell the peer when the window opened by a worthwhile amount."""
        if self.ack_due or self.state not in CAN_RECEIVE:
            return  # (an ACK due at the end of the batch will carry the window as it is then)
        _, offered, worthwhile = self._window_room()
        if self._free_window() - offered >= worthwhile:
            self._ack_now()  # inside a batch, once after it

    def _window_room(self) -> tuple[int, int, int]:
        """What the window's decisions start from: the raw room in the receive buffer (what :meth:`_free_window`
        rounds down, so a window the raw room cannot open by the worthwhile amount stays as offered without the
        rounding: rr's shortcut in :meth:`_window_bytes` and ``recv``), the window offered now (0 when ``rcv_adv`` is
        behind ``rcv_nxt``: seq_le inline) and the worthwhile amount it opens by (receiver SWS avoidance)."""
        offered = (self.rcv_adv - self.rcv_nxt) & MASK
        if offered > _HALF:
            offered = 0
        limit = self.rcv_buf_limit
        mss = self.mss - 12 if self.ts_ok else self.mss
        return (limit - len(self.rcv_buf) - self.rcv_held, offered,
                mss if mss < limit // 2 else limit // 2)

    def _free_window(self) -> int:
        """The free receive buffer, as a whole number of the peer's full segments when more than one fits, as
        Linux's receiver offers an unscaled window (``__tcp_select_window``): with timestamps ESP-IDF's 5760-byte
        window would otherwise come as four segments of 1428 bytes and a runt of 48.  A scaled window is a whole
        number of segments that the scale expresses exactly (a multiple of lcm(segment, 1 << rcv_wscale)), so that
        the edge the peer reads back, ``ack + (field << scale)``, falls on a segment boundary too; below one such
        unit it is whole segments, and the shift cuts at most ``(1 << rcv_wscale) - 1`` bytes off the last one."""
        free = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        seg = self.mss - 12 if self.ts_ok else self.mss  # what a full segment from the peer carries
        # the SYN's and SYN-ACK's stay unrounded (the options are not agreed yet: they offer the buffer)
        if free > seg and self.state not in (SYN_SENT, SYN_RCVD):
            scale = self.rcv_wscale
            if scale:
                unit = seg << scale >> (min(scale, (seg & -seg).bit_length() - 1))  # lcm(seg, 1 << scale)
                if free >= unit:
                    return free - free % unit
            free -= free % seg
        return free

    def _window_field(self) -> int:
        """The window field of an ACK-bearing segment (not a SYN), before the 16-bit cap: :meth:`_window_bytes`,
        for a scaled window an edge the scale can express (:meth:`_scaled_edge`), shifted; ``rcv_adv`` becomes the
        edge the peer reads back."""
        window = self._window_bytes()
        scale = self.rcv_wscale
        if scale and window & ((1 << scale) - 1):
            window = self._scaled_edge(window, scale)
        self.rcv_adv = (self.rcv_nxt + window) & MASK
        return window >> scale

    def _scaled_edge(self, window: int, scale: int) -> int:
        """``window`` (an edge kept from an earlier offer, which the scale cannot express) as the peer will read it
        back: grown to whole segments the scale expresses (as :meth:`_free_window` offers them) when the buffer has
        the room, else to the scale's unit (Linux's ``__tcp_select_window`` ALIGNs a scaled window up), else cut down
        to it.  Cut down alone, the edge would fall a few bytes short of the peer's segment boundary, and creep
        further from it with every ACK."""
        room = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        seg = self.mss - 12 if self.ts_ok else self.mss
        unit = seg << scale >> (min(scale, (seg & -seg).bit_length() - 1))  # lcm(seg, 1 << scale)
        up = -(-window // unit) * unit
        if up <= room:
            return up
        up = -(-window >> scale) << scale
        return up if up <= room else window >> scale << scale

    def _sack_blocks(self, most: int) -> tuple[tuple[int, int], ...]:
        """RFC 2018 4: the out-of-order data held, as merged (left, right) blocks, the newest arrival's first."""
        rcv_nxt = self.rcv_nxt
        spans = sorted(((seq - rcv_nxt) & MASK, (seq - rcv_nxt + len(d)) & MASK) for seq, d in self.ooseq.items())
        merged: list[list[int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        blocks = [((lo + rcv_nxt) & MASK, (hi + rcv_nxt) & MASK) for lo, hi in merged]
        latest = self.ooseq_latest
        if latest is not None:
            rel = (latest - rcv_nxt) & MASK
            for i, (lo, hi) in enumerate(merged):
                if lo <= rel < hi:
                    blocks.insert(0, blocks.pop(i))
                    break
        return tuple(blocks[:most])

    def _ts_now(self) -> int:
        """The timestamp clock (TSval): milliseconds of ``stack.now``, truncated as ``int`` would, modulo 2**32."""
        return _trunc(self.stack.now * 1000) & MASK

    def _route(self) -> None:
        """Look up the netif and next hop for the peer, and what that netif offloads (not when it loops back)."""
        stack = self.stack
        self._route_gen = stack.routes.generation
        if self.v6:
            try:
                self._via6 = stack.ip6.route(self._remote_packed, src=self._local_packed)
                netif6 = self._netif = self._via6[0]
            except LwipError:
                self._netif, self._via6, self._offload, self._gso_max = None, None, False, 0
                return
            looped6 = netif6.is_loopback or stack.is_own_address6(self._remote_packed)
            self._offload = netif6.checksum_offload and not looped6  # the TAP says GSO_TCPV6 by the ethertype
            self._gso_max = min(netif6.gso_max_size, 0xFFFF) - 120 if self._offload and netif6.gso_max_size else 0
            return
        remote = self.remote_ip
        assert isinstance(remote, IPv4Address)
        found = stack.ip4.route_src(self.local_ip, remote)  # ESP-IDF's source-based routing
        if found is None:
            self._netif, self._offload, self._gso_max = None, False, 0
            return
        netif, next_hop = found
        self._netif, self._next_hop = netif, next_hop
        looped = stack.loops_back(netif, next_hop)
        self._neighbour = netif.is_ethernet and not (looped or is_multicast4(next_hop) or netif.is_broadcast4(next_hop))
        self._offload = netif.checksum_offload and not looped
        self._gso_max = min(netif.gso_max_size, 0xFFFF) - 120 if self._offload and netif.gso_max_size else 0

    def _neighbour_mac(self) -> bytes | None:
        """The MAC address the short ways (:meth:`_output_fast`, :meth:`_fast_send`, ``fastpath.fast_ack``) write
        to: that of the resolved next hop, while the route is the one cached, the netif up and untagged and the
        stack's Ethernet output not replaced.  None when the full way must send (a route to look up again, a
        neighbour to resolve or to refresh: ``etharp_output``'s work)."""
        stack = self.stack
        netif = self._netif
        tcp = self.tcp
        # (rr2: Ethernet's output as Tcp keeps it bound once, as Icmp does, not a bound method made per call)
        if netif is None or self._route_gen != stack.routes.generation or not (netif.up and netif.link_up) \
                or netif.vlan_id is not None or stack._link_output != tcp.eth_output:  # (way14: the property's)
            return None
        # tx2: the next hop's ARP entry, looked up (hashing an IPv4Address) again only when the table gained or
        # lost an entry or the route changed (another next hop or netif: Tcp.tx_neighbours); its fields are read
        # live, every call
        etharp = stack.etharp
        cached = tcp.tx_neighbours.get(self)
        if cached is not None and cached[1] == etharp.generation and cached[2] is self._next_hop \
                and cached[3] is netif:
            entry = cached[0]
        else:
            next_hop = self._next_hop
            entry = etharp.table.get((netif.index, next_hop))
            if entry is None:
                return None
            tcp.tx_neighbours[self] = entry, etharp.generation, next_hop, netif
        # ArpEntry.ready_mac, inline (rr2: two calls less before a reply's write): None to resolve, or to refresh
        # (etharp_output's work)
        mac = entry.mac
        if mac is None or stack.now >= entry.refresh_at:  # (way13: refresh_due's threshold, ArpEntry.refresh_at)
            return None
        return mac

    def _neighbour6(self) -> "Neighbor | None":
        """s21: :meth:`_neighbour_mac` over IPv6: the next hop's neighbour entry, for the short ways
        (:meth:`_tx_way_make`, ``fastpath._fast_ack6``) to write to its MAC, while the route is the one cached and
        ``Nd6.ready`` says so (the netif, the outputs, the next hop, the entry's state).  None when the full way must
        send (a route to look up again, a neighbour to resolve, or a STALE one that a packet moves to DELAY: ``nd6``'s
        work)."""
        stack = self.stack
        via = self._via6
        if via is None or self._route_gen != stack.routes.generation:
            return None
        return stack.nd6.ready(via[0], via[1])

    def _handed(self, took: bool) -> bool:
        """Count a segment a short way handed to the device (``took``: whether it did), as the full way counts it;
        a refusal (a full device queue: ENOMEM) is kept for later by the caller."""
        if took:
            self.tcp.fast_sent += 1  # stats14: ip.xmit, etharp.cachehit, link.xmit, tcp.xmit (Stack.stats folds it)
        else:
            stats = self.stack._stats
            stats.ip.xmit += 1
            stats.etharp.cachehit += 1
            stats.link_refused(stats.tcp)
        return took

    def _ack_carried(self) -> None:
        """A segment carrying our ACK went out: no delayed ACK, none due at the batch's end (the heap's entry of
        the delayed-ACK deadline is checked when it surfaces: lazy timers)."""
        self.delack_at = None
        self.unacked_segments = 0
        self.ack_due = False
        self.last_ack_sent = self.rcv_nxt

    def _fast_send(self, seq: int, flags: int, payload: bytes | memoryview, window: int,
                   ts: tuple[int, int] | None, gso: int = 0) -> bool | None:
        """The send side of the fast path: an IPv4 segment without options or with timestamps alone, to a resolved
        neighbour on an untagged Ethernet netif, its Ethernet, IPv4 and TCP headers from one struct, with the
        counters the full way (``ip4.output_routed``, ``etharp_output``, ``ethernet_output``) keeps.  Without
        offload it is written whole (headers, then the payload) into one buffer with both checksums.  On a netif
        that offloads (a TAP with the virtio-net header) the device gets the headers, the TCP checksum left as the
        pseudo-header sum for it to finish, and the payload straight from the send buffer
        (:meth:`NetDevice.transmit_gso`: the data is never copied into a frame here); with ``gso`` it is a
        super-segment the device cuts into segments of ``gso`` bytes (Linux's TSO/GSO), and the IPv4
        identification advances by the segments it becomes, as Linux's ``ip_select_ident_segs`` does, since the
        device numbers them from the one in the header.  None when anything else is true (the full way then sends
        it); else whether the device took it."""
        netif = self._netif
        offload = self._offload
        hlen = 32 if ts is not None else 20
        n = len(payload)
        total = 20 + hlen + n
        if netif is None or total > (0xFFFF if gso else netif.mtu):
            return None
        mac = self._neighbour_mac()
        if mac is None:
            return None
        buf = bytearray(34 + hlen if offload else 14 + total)
        ip4 = self.stack.ip4
        ident = ip4.next_ident
        ip4.next_ident = (ident + (-(-n // gso) if gso else 1)) & 0xFFFF
        _FRAME_HDR.pack_into(buf, 0, mac, netif.hwaddr, 0x0800, 0x45, self._tos, total, ident, 0, self._ttl,
                             PROTO_TCP, 0, self._local_packed, self._remote_packed, self.local_port, self.remote_port,
                             seq, self.rcv_nxt if flags & ACK else 0, (hlen << 10) | flags, window,
                             fold(self._pseudo_base + hlen + n) if offload else 0, 0)
        if ts is not None:
            _TS_OPT.pack_into(buf, 54, 0x0101080A, ts[0], ts[1])
        view = memoryview(buf)
        _CSUM.pack_into(buf, 24, checksum(view[14:34]))
        if offload:
            took = netif.device.transmit_gso(buf, payload, 34, 16, gso)
        else:
            if n:
                buf[34 + hlen:] = payload
            _CSUM.pack_into(buf, 50, checksum(view[34:], self._pseudo_base + hlen + n))
            took = netif.device.transmit(buf)
        if not self._handed(took):
            return False  # ENOMEM: kept for later, as the full way
        if flags & ACK:
            self._ack_carried()
        return True

    # -- offload (TSO/GSO) -------------------------------------------------------------------------------------------
    def _gso_burst(self, mss: int) -> int:
        """The most data one super-segment carries: as many whole ``mss``-byte segments as the netif cuts
        (``_gso_max``).  Not bounded by half the peer's window as Linux's ``tcp_bound_to_half_wnd`` does: measured
        against the kernel over a TAP with 64 KB windows, one super-segment filling the window took 40% less CPU per
        MB and went faster than two of half the size (bench/bench_vs_lwip.py --configs offload)."""
        return max(mss, self._gso_max - self._gso_max % mss)

    def _send_segment(self, seq: int, flags: int, payload: bytes | memoryview, opts: TcpOptions | None = None,
                      gso: int = 0) -> bool:
        """Build and send one segment; False when the device or the ARP queue refused it (ENOMEM), so that the
        caller keeps it.  Any other failure (no route, netif down) loses it like the network would."""
        ts = None  # the timestamps option alone (the common case), packed without option objects
        if opts is None and not flags & RST:
            if self.ts_ok:
                ts = (self._ts_now(), self.ts_recent)
            if self.sack_ok and self.ooseq and flags & ACK:  # seg_size left room for them
                opts = TcpOptions(timestamp=ts)
                opts.sack_blocks = self._sack_blocks(3 if self.ts_ok else 4)
                ts = None
        elif opts is not None and opts.sack_blocks == () and opts.timestamp is not None and opts.mss is None \
                and opts.wscale is None and not opts.sack_permitted:
            ts, opts = opts.timestamp, None
        if flags & ACK and not flags & SYN:
            window = self._window_field()
        else:
            window = self._window_bytes() if not flags & SYN else min(self._window_bytes(), 0xFFFF)
        if opts is None and self._neighbour and not self.v6 and self.tcp.fast_path:
            sent = self._fast_send(seq, flags, payload, min(window, 0xFFFF), ts, gso)
            if sent is not None:
                return sent
        pbuf = Pbuf.with_payload(payload)
        offload = self._offload and self._route_gen == self.stack.routes.generation
        if opts is None:
            # the common segments, timestamps only or no options: packed straight into place, no header objects
            buf = pbuf.buf
            if ts is not None:
                hlen = 32
                off = pbuf.push(32)
                _HDR_TS.pack_into(buf, off, self.local_port, self.remote_port, seq, self.rcv_nxt if flags & ACK else 0,
                                  0x8000 | flags, min(window, 0xFFFF), 0, 0, 1, 1, 8, 10, ts[0], ts[1])
            else:
                hlen = 20
                off = pbuf.push(20)
                _HDR.pack_into(buf, off, self.local_port, self.remote_port, seq, self.rcv_nxt if flags & ACK else 0,
                               0x5000 | flags, min(window, 0xFFFF), 0, 0)
            if offload:
                _CSUM.pack_into(buf, off + 16, fold(self._pseudo_base + hlen + len(payload)))  # the device finishes it
                pbuf.leave_checksum(off, 16, gso)
            else:
                csum = checksum(memoryview(buf)[off:], self._pseudo_base + hlen + len(payload))
                _CSUM.pack_into(buf, off + 16, csum)
        else:
            hdr = TcpHeader(self.local_port, self.remote_port, seq, self.rcv_nxt if flags & ACK else 0, flags,
                            min(window, 0xFFFF), options=opts)
            hlen = hdr.header_len
            off = pbuf.push(hlen)
            pseudo = self._pseudo_base + hlen + len(payload)
            hdr.emit(pbuf.buf, off, len(payload), None if offload else pseudo)
            if offload:
                _CSUM.pack_into(pbuf.buf, off + 16, fold(pseudo))
                pbuf.leave_checksum(off, 16, gso)
        stack = self.stack
        stats = stack._stats.tcp
        if stack.routes.generation != self._route_gen:
            self._route()
        try:
            if self._netif is None:
                stack._stats.ip.rterr += 1
                raise LwipError(errno.EHOSTUNREACH, f"no route to {self.remote_ip}")
            if self.v6:
                # s21: refused (a full device queue or neighbour queue, the link down) is ENOMEM, as over IPv4
                # (ip4.output_routed raises it): kept for later, not counted sent
                if not stack.ip6.output(pbuf, self._local_packed, self._remote_packed, PROTO_TCP, hop_limit=self._ttl,
                                        traffic_class=self._tos, via=self._via6):
                    raise LwipError(errno.ENOMEM, f"{self._netif.name} dropped the segment: transmit or neighbour "
                                                  "queue full, or link down")
            else:
                stack.ip4.output_routed(pbuf, self._netif, self._next_hop, self._local_packed, self._remote_packed,
                                        PROTO_TCP, self._ttl, self._tos, self._neighbour)
            stats.xmit += 1
        except LwipError as e:
            stats.err += 1
            if e.errno == errno.ENOMEM:
                return False
            # otherwise lost like any segment: the retransmission timer will send it again
        if flags & ACK:
            self._ack_carried()
        return True
