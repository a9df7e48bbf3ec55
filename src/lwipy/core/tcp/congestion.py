"""A TCP sender's loss and congestion state, as three small objects a pcb owns (and tests drive directly).

Theory of operation
-------------------
:class:`RttEstimator` (RFC 6298) times one segment per flight (Karn's rule: never one that was sent twice) or takes
the RTT from the echoed timestamp (RFC 7323 4), and keeps ``srtt``, ``rttvar`` and ``rto``.  A retransmission
timeout doubles ``rto`` (5.5) until the next sample.  ``rto`` is floored at ``RTO_MIN`` = 200 ms, Linux's, not
RFC 6298's 1 s (2.4 says "SHOULD"), which would make every loss on a LAN cost a second.

:class:`SackScoreboard` (RFC 2018, RFC 6675) holds what the peer said it has above ``snd_una``: merged
``[left, right)`` ranges in sequence order.  It answers where the holes are (what to send again) and whether the
first hole counts as lost (RFC 6675 ``IsLost``: ``DupThresh`` segments' worth SACKed above it).  Ranges below
``snd_una`` are pruned as ACKs advance; a timeout clears the lot (RFC 6675 5.1: after an RTO, SACK information is
not trusted to skip data, since the receiver may renege).

:class:`CongestionControl` (RFC 5681 with NewReno, RFC 6582, and byte counting, RFC 3465) keeps ``cwnd``,
``ssthresh``, the duplicate ACK count and the recovery points.  Slow start grows ``cwnd`` by the bytes acked, at most
2 SMSS an ACK (RFC 3465 2.3, L = 2); congestion avoidance by about one SMSS an RTT.  ``DupThresh`` duplicate ACKs
enter fast recovery: halve, retransmit, inflate by one SMSS per further duplicate; a partial ACK (below
``recover``) retransmits the next hole and deflates (RFC 6582 3.2 step 5); a full ACK ends recovery with
``cwnd = min(ssthresh, FlightSize + SMSS)`` (step 3, option 1).  A timeout sets ``cwnd`` to one segment and
remembers ``snd_max`` as ``rto_recover``: duplicate ACKs below it answer data that was sent twice, not a new loss
(RFC 6582 4.1), so they start no fast retransmit.

The objects hold numbers and rules only; the pcb decides what to send, so each method returns what the sender must
do next (a retransmission, new data under limited transmit) rather than doing it.
"""

from __future__ import annotations

import math

from .seq import HALF, MASK
from .seq import seq_le as _le
from .seq import seq_lt as _lt

__all__ = ["RttEstimator", "SackScoreboard", "CongestionControl", "RTO_MIN", "RTO_MAX", "HOLD", "LIMITED_TRANSMIT",
           "INFLATED", "FAST_RETRANSMIT"]

RTO_MIN = 0.2  # Linux's floor; RFC 6298's 1 s would make every loss on a LAN cost a second
RTO_MAX = 60.0
#: settle13: RFC 6298's G / K (1 ms / 4): ``K * rttvar > G`` exactly when ``rttvar > G / K`` (each product exact, a
#: power of two apart), so the RTO's ``max(G, K * rttvar)`` needs no product when the variance is below it (a LAN's)
VAR_FLOOR = 0.001 / 4


def _srtt_at_rto_min() -> float:
    srtt = RTO_MIN - 0.001
    while srtt + 0.001 <= RTO_MIN:
        srtt = math.nextafter(srtt, math.inf)
    while srtt + 0.001 > RTO_MIN:
        srtt = math.nextafter(srtt, -math.inf)
    return srtt


#: out2: the largest SRTT whose RTO with the variance at most VAR_FLOOR (``SRTT + G``, rounded) is at most RTO_MIN,
#: found float by float (the rounded sum only grows with SRTT), so that a LAN's sample (every request's of a
#: request/response exchange) gives RTO_MIN after one test of SRTT, without the sum: ``SRTT + G > RTO_MIN`` exactly
#: when ``SRTT > SRTT_AT_RTO_MIN`` (NaN neither, as the sum's test)
SRTT_AT_RTO_MIN = _srtt_at_rto_min()
_SSTHRESH_INIT = 0x7FFFFFFF  # "arbitrarily high" (RFC 5681 3.1)

# what CongestionControl.on_duplicate_ack asks of the sender
HOLD = 0  #: nothing to send
LIMITED_TRANSMIT = 1  #: RFC 3042: new data may go beyond cwnd by ``dupacks`` segments
INFLATED = 2  #: in recovery, cwnd grew by one segment: fill the next hole (with SACK) and send what fits
FAST_RETRANSMIT = 3  #: DupThresh reached: enter recovery (:meth:`CongestionControl.enter_recovery`) and retransmit


class RttEstimator:
    """RFC 6298's round-trip estimator and retransmission timeout.

    ``seq`` is the sequence number being timed (None when none is), sent at ``start``; ``rto`` the timeout to arm."""

    __slots__ = ("srtt", "rttvar", "rto", "seq", "start")

    def __init__(self, rto: float) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = rto  #: RFC 6298 2.1: the initial RTO (``tcp_rto_time``) until the first sample
        self.seq: int | None = None
        self.start = 0.0

    def time_segment(self, seq: int, now: float) -> None:
        """Start timing the segment at ``seq`` sent ``now`` (one per flight: the caller checks none is timed)."""
        self.seq, self.start = seq, now

    def retransmitted(self, seq: int) -> None:
        """Data from ``seq`` was sent again: Karn's rule forgets a timed segment at or above it."""
        if self.seq is not None and _le(seq, self.seq):
            self.seq = None

    def on_ack(self, ack: int, now: float, ts_rtt: float | None) -> None:
        """An ACK up to ``ack`` arrived ``now``; ``ts_rtt`` is the RTT its timestamp echo gives (RFC 7323 4.1), if any.
        A timestamp sample wins; otherwise the timed segment gives one once acknowledged.  Samples outside 0..120 s
        (a wrapped or forged echo) are ignored."""
        sample = ts_rtt
        timed = self.seq
        if timed is not None and (timed - ack) & HALF:  # timed < ack (seq_lt inline, by bit 31: once per ACK)
            if sample is None:
                sample = now - self.start
            self.seq = None
        if sample is not None and sample < 120.0 and sample >= 0.0:  # (0 <= sample < 120, on floats)
            self.sample(sample)

    def sample(self, r: float) -> None:
        """Take one RTT measurement ``r`` (RFC 6298 2.2 and 2.3, alpha 1/8, beta 1/4, G 1 ms).  ``Tcp.settle`` takes
        a request's later samples inline (the same steps: test_tcp_settle_rtt holds the two alike)."""
        srtt = self.srtt
        if srtt is None:
            self.srtt, self.rttvar = srtt, rttvar = r, r / 2
        else:
            self.rttvar = rttvar = 0.75 * self.rttvar + 0.25 * abs(srtt - r)
            self.srtt = srtt = 0.875 * srtt + 0.125 * r
        # min(RTO_MAX, max(RTO_MIN, srtt + max(0.001, 4 * rttvar))) without the three builtin calls (rr1: one
        # sample per request of a request/response exchange); settle13: max(G, K * rttvar) by rttvar against G / K
        # (the same test: both products exact, powers of two), and the RTO stored from the branch that sets it
        # out2: below the variance floor, srtt + G against RTO_MIN as srtt against SRTT_AT_RTO_MIN (the same test), so a
        # LAN's sample gives RTO_MIN after two tests, without the sum (Tcp.settle's copy: 4 bytecodes less a request)
        if rttvar > VAR_FLOOR:
            rto = srtt + 4.0 * rttvar
            if rto > RTO_MIN:
                self.rto = rto if rto < RTO_MAX else RTO_MAX
            else:
                self.rto = RTO_MIN  # (NaN too)
        elif srtt > SRTT_AT_RTO_MIN:
            rto = srtt + 0.001
            self.rto = rto if rto < RTO_MAX else RTO_MAX
        else:
            self.rto = RTO_MIN  # (NaN too)

    def backoff(self) -> None:
        """The retransmission timer fired: double the RTO (RFC 6298 5.5, at most ``RTO_MAX``) and time nothing that
        was in flight (Karn)."""
        self.rto = min(RTO_MAX, self.rto * 2)
        self.seq = None

    def __repr__(self) -> str:
        return f"<RttEstimator srtt={self.srtt} rttvar={self.rttvar} rto={self.rto}>"


class SackScoreboard:
    """The sender's record of SACKed data (RFC 6675 2, "scoreboard"): ``ranges`` of ``[left, right)`` above
    ``snd_una``, merged and in sequence order."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []

    def update(self, blocks: tuple[tuple[int, int], ...], una: int, top: int) -> None:
        """Record the SACK blocks of an ACK (RFC 2018 4) that lie between ``una`` (the ACK or ``snd_una``, whichever
        is higher) and ``top`` (``snd_max``); a D-SACK (RFC 2883: below the ACK), a stale or a bogus block is
        ignored."""
        ranges = self.ranges
        for left, right in blocks:
            if not (_lt(left, right) and _lt(una, right) and _le(right, top)):
                continue
            if _lt(left, una):
                left = una
            ranges.append([left, right])
        ranges.sort(key=lambda r: (r[0] - una) & MASK)
        merged: list[list[int]] = []
        for left, right in ranges:
            if merged and _le(left, merged[-1][1]):
                if _lt(merged[-1][1], right):
                    merged[-1][1] = right
            else:
                merged.append([left, right])
        self.ranges = merged

    def prune(self, una: int) -> None:
        """``snd_una`` advanced to ``una``: forget what it covers."""
        kept = []
        for left, right in self.ranges:
            if _le(right, una):
                continue
            kept.append([una if _lt(left, una) else left, right])
        self.ranges = kept

    def clear(self) -> None:
        """Forget everything (after a retransmission timeout, RFC 6675 5.1)."""
        self.ranges.clear()

    def sacked_bytes(self) -> int:
        """How much the peer holds above ``snd_una``."""
        return sum((right - left) & MASK for left, right in self.ranges)

    def is_lost(self, dupthresh: int, smss: int) -> bool:
        """RFC 6675 ``IsLost(snd_una)``: at least ``dupthresh`` segments' worth SACKed above the first hole.  This
        catches a loss even when the ACKs carried data (two-way traffic) and so never counted as duplicates."""
        return self.sacked_bytes() >= dupthresh * smss

    def first_hole(self, una: int, limit: int) -> int:
        """How much to send again from ``una``: up to ``limit`` bytes, stopping where the first SACKed range
        begins."""
        for left, _right in self.ranges:
            if _lt(una, left):
                return min(limit, (left - una) & MASK)
        return limit

    def next_hole(self, start: int, size: int) -> tuple[int, int]:
        """The first hole at or after ``start`` as ``(begin, end)``, at most ``size`` bytes long (RFC 6675
        ``NextSeg()`` rule 1, without the IsLost test: in recovery every hole below ``recover`` is taken as lost).
        ``begin`` may lie at or beyond what was sent: the caller checks it against ``recover``."""
        ranges = self.ranges
        for left, right in ranges:
            if _le(left, start) and _lt(start, right):
                start = right  # inside a SACKed range: the hole starts after it
        end = (start + size) & MASK
        for left, _right in ranges:
            if _lt(start, left) and _lt(left, end):
                end = left
        return start, end

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __repr__(self) -> str:
        return f"<SackScoreboard {self.ranges}>"


class CongestionControl:
    """RFC 5681 congestion control with NewReno recovery (RFC 6582) and byte counting (RFC 3465).

    ``recover`` is set while in fast recovery (the ``snd_max`` at its start); ``rexmit_high`` is the end of what this
    recovery already sent again (RFC 6675's ``HighRxt``), so that each further duplicate fills the next hole;
    ``rto_recover`` is the ``snd_max`` of the last timeout until it is acknowledged."""

    __slots__ = ("cwnd", "ssthresh", "dupacks", "recover", "rto_recover", "rexmit_high")

    def __init__(self) -> None:
        self.cwnd = 0
        self.ssthresh = _SSTHRESH_INIT
        self.dupacks = 0
        self.recover: int | None = None
        self.rto_recover: int | None = None
        self.rexmit_high: int | None = None

    def established(self, smss: int, snd_wnd: int) -> None:
        """The connection is up: the initial window (RFC 3390, as lwIP: min(4 SMSS, max(2 SMSS, 4380))) and a
        ``ssthresh`` starting at the peer's window (RFC 5681 3.1: "the size of the advertised window")."""
        self.cwnd = min(4 * smss, max(2 * smss, 4380))
        self.ssthresh = max(snd_wnd, 2 * smss) if snd_wnd else _SSTHRESH_INIT

    def on_ack(self, ack: int, acked: int, smss: int, snd_max: int) -> bool:
        """An ACK advanced ``snd_una`` to ``ack`` by ``acked`` bytes.  Returns True for a partial ACK in recovery:
        the sender must retransmit the next hole (RFC 6582 3.2 step 5)."""
        if self.rto_recover is not None and _le(self.rto_recover, ack):  # all sent twice is acked
            self.rto_recover = None
        partial = False
        recover = self.recover
        cwnd = self.cwnd
        if recover is not None:
            if _le(recover, ack):  # full ACK: recovery is over (RFC 6582 3.2 step 3)
                self.cwnd = min(self.ssthresh, max((snd_max - ack) & MASK, smss) + smss)
                self.recover = None
                self.rexmit_high = None
            else:  # partial ACK: the next hole is lost too; deflate by what was acked, add back one segment
                partial = True
                self.cwnd = max(cwnd - acked + smss, smss)
        elif cwnd < self.ssthresh:
            # slow start (RFC 5681 3.1) with appropriate byte counting, L = 2 SMSS (RFC 3465 2.3): a stretch ACK
            # (a receiver coalescing, or acking a super-segment) counts for more than one segment
            self.cwnd = cwnd + min(acked, 2 * smss)
        else:
            self.cwnd = cwnd + max(1, smss * min(acked, cwnd) // cwnd)  # congestion avoidance, bytes counted
        self.dupacks = 0
        return partial

    @staticmethod
    def dupthresh(flight: int, seg_size: int, unsent: int) -> int:
        """``DupThresh``: three, or fewer when less than four segments are out and nothing new can go (RFC 5827
        early retransmit): a small flight cannot produce three duplicate ACKs."""
        segments = -(-flight // max(1, seg_size))
        if segments < 4 and unsent <= 0:
            return max(1, segments - 1)
        return 3

    def on_duplicate_ack(self, smss: int, snd_una: int, dupthresh: int) -> int:
        """A duplicate ACK (RFC 5681 2, "DUPLICATE ACKNOWLEDGMENT").  Returns what the sender does next:
        :data:`INFLATED`, :data:`FAST_RETRANSMIT`, :data:`LIMITED_TRANSMIT` or :data:`HOLD`."""
        self.dupacks += 1
        if self.recover is not None:
            self.cwnd += smss  # inflate for each segment that left the network (RFC 5681 3.2 step 4)
            return INFLATED
        if self.dupacks >= dupthresh:
            if self.rto_recover is not None and not _lt(self.rto_recover, snd_una):
                return HOLD  # RFC 6582 3.2 step 1: the ACK does not cover more than recover: no fast retransmit
            return FAST_RETRANSMIT
        if self.dupacks <= 2:
            return LIMITED_TRANSMIT  # RFC 3042: new data keeps the ACK clock going
        return HOLD

    def enter_recovery(self, flight: int, smss: int, snd_una: int, snd_max: int) -> None:
        """Fast retransmit (RFC 5681 3.2 steps 2 and 3): halve, recover until ``snd_max``, inflate by the three
        segments the duplicates say left the network.  The sender retransmits the first hole."""
        self.ssthresh = ssthresh = max(flight // 2, 2 * smss)
        self.recover = snd_max
        self.rexmit_high = snd_una
        self.cwnd = ssthresh + 3 * smss

    def on_timeout(self, flight: int, smss: int, snd_max: int) -> None:
        """The retransmission timer fired with ``flight`` bytes out (RFC 5681 3.1 equation 4, then one segment)."""
        self.ssthresh = max(flight // 2, 2 * smss)
        self.cwnd = smss  # RFC 5681 3.1: one segment after a timeout
        self.recover = None
        self.rto_recover = snd_max
        self.rexmit_high = None
        self.dupacks = 0

    def __repr__(self) -> str:
        return (f"<CongestionControl cwnd={self.cwnd} ssthresh={self.ssthresh} dupacks={self.dupacks} "
                f"recover={self.recover}>")
