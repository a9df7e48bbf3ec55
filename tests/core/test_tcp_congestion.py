"""The sender's loss and congestion objects driven directly: RttEstimator (RFC 6298), SackScoreboard (RFC 2018,
RFC 6675) and CongestionControl (RFC 5681, RFC 6582, RFC 3465, RFC 5827), and that a pcb owns them."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from helpers import examples, make_stack
from hypothesis import given, settings
from hypothesis import strategies as st

from lwipy.core.tcp.congestion import (FAST_RETRANSMIT, HOLD, INFLATED, LIMITED_TRANSMIT, RTO_MAX, RTO_MIN,
                                       CongestionControl, RttEstimator, SackScoreboard)
from lwipy.core.tcp.pcb import TcpPcb

M = 0xFFFFFFFF
SMSS = 1000


# -- RttEstimator ---------------------------------------------------------------------------------------------------
def test_the_first_sample_sets_srtt_and_half_of_it_as_rttvar():
    rtt = RttEstimator(1.0)
    assert rtt.rto == 1.0 and rtt.srtt is None  # RFC 6298 2.1: the initial RTO until a sample
    rtt.sample(0.1)
    assert rtt.srtt == 0.1 and rtt.rttvar == 0.05
    assert rtt.rto == pytest.approx(0.1 + 4 * 0.05)  # RFC 6298 2.2


def test_later_samples_smooth_with_alpha_an_eighth_and_beta_a_quarter():
    rtt = RttEstimator(1.0)
    rtt.sample(0.4)
    rtt.sample(0.2)
    assert rtt.rttvar == pytest.approx(0.75 * 0.2 + 0.25 * abs(0.4 - 0.2))  # RFC 6298 2.3, with the old SRTT
    assert rtt.srtt == pytest.approx(0.875 * 0.4 + 0.125 * 0.2)
    assert rtt.rto == pytest.approx(rtt.srtt + 4 * rtt.rttvar)


def test_the_rto_is_floored_at_rto_min_and_capped_at_rto_max():
    rtt = RttEstimator(1.0)
    rtt.sample(0.001)
    assert rtt.rto == RTO_MIN
    rtt = RttEstimator(1.0)
    rtt.sample(50.0)
    assert rtt.rto == RTO_MAX


def test_a_constant_rtt_with_no_variance_still_adds_the_clock_granularity():
    rtt = RttEstimator(1.0)
    for _ in range(200):
        rtt.sample(0.5)
    assert rtt.rttvar < 1e-9 and rtt.rto == pytest.approx(0.501)  # G = 1 ms: max(G, K * RTTVAR)


def test_backoff_doubles_up_to_rto_max_and_stops_timing():
    rtt = RttEstimator(1.0)
    rtt.time_segment(1000, 0.0)
    rtt.backoff()
    assert rtt.rto == 2.0 and rtt.seq is None  # RFC 6298 5.5, and Karn: what was timed went again
    for _ in range(10):
        rtt.backoff()
    assert rtt.rto == RTO_MAX


def test_the_timed_segment_gives_a_sample_once_acknowledged_beyond_it():
    rtt = RttEstimator(1.0)
    rtt.time_segment(5000, 2.0)
    rtt.on_ack(5000, 2.3, None)  # acknowledges up to the timed byte, not past it
    assert rtt.srtt is None and rtt.seq == 5000
    rtt.on_ack(5001, 2.25, None)
    assert rtt.srtt == pytest.approx(0.25) and rtt.seq is None
    rtt.on_ack(9000, 9.0, None)  # nothing timed now: no sample
    assert rtt.srtt == pytest.approx(0.25)


def test_karn_a_retransmission_at_or_below_the_timed_segment_cancels_the_sample():
    rtt = RttEstimator(1.0)
    rtt.time_segment(5000, 2.0)
    rtt.retransmitted(6000)  # above it: the timed segment was not sent again
    assert rtt.seq == 5000
    rtt.retransmitted(4000)
    assert rtt.seq is None
    rtt.on_ack(7000, 3.0, None)
    assert rtt.srtt is None and rtt.rto == 1.0


def test_a_timestamp_sample_wins_over_the_timed_segment_and_ends_its_timing():
    rtt = RttEstimator(1.0)
    rtt.time_segment(100, 0.0)
    rtt.on_ack(200, 0.5, 0.04)  # RFC 7323 4.1: the echo gives 40 ms; the timed segment would say 500
    assert rtt.srtt == pytest.approx(0.04) and rtt.seq is None
    rtt.on_ack(300, 0.6, 0.06)  # timestamps time every ACK, nothing need be timed
    assert rtt.srtt == pytest.approx(0.875 * 0.04 + 0.125 * 0.06)


def test_timing_works_across_the_sequence_wrap_and_wild_samples_are_ignored():
    rtt = RttEstimator(1.0)
    rtt.time_segment(M - 10, 1.0)
    rtt.on_ack(20, 1.1, None)  # wrapped past 2**32: still beyond the timed byte
    assert rtt.srtt == pytest.approx(0.1)
    rtt.on_ack(40, 1.2, 200.0)  # a forged or wrapped echo: no sample
    assert rtt.srtt == pytest.approx(0.1)


# -- SackScoreboard -------------------------------------------------------------------------------------------------
def test_blocks_are_merged_ordered_from_snd_una_and_clipped_to_it():
    sb = SackScoreboard()
    sb.update(((5000, 6000), (3000, 4000)), 1000, 10000)
    assert sb.ranges == [[3000, 4000], [5000, 6000]]
    sb.update(((4000, 5000),), 1000, 10000)  # fills the gap between them: one range
    assert sb.ranges == [[3000, 6000]]
    sb.update(((500, 2000),), 1000, 10000)  # starts below the ACK: clipped to it
    assert sb.ranges == [[1000, 2000], [3000, 6000]]
    assert sb.sacked_bytes() == 4000 and sb


def test_d_sack_stale_and_bogus_blocks_are_ignored():
    sb = SackScoreboard()
    sb.update(((200, 900),), 1000, 10000)  # wholly below the ACK: a D-SACK (RFC 2883)
    sb.update(((9000, 12000),), 1000, 10000)  # beyond what was sent
    sb.update(((6000, 5000),), 1000, 10000)  # left after right
    assert sb.ranges == [] and not sb


def test_the_scoreboard_orders_ranges_across_the_sequence_wrap():
    sb = SackScoreboard()
    una = M - 3000
    sb.update(((500, 1500), (M - 1000, M)), una, 5000)
    assert sb.ranges == [[M - 1000, M], [500, 1500]]  # the one before 2**32 comes first
    sb.prune((M - 500) & M)
    assert sb.ranges == [[M - 500, M], [500, 1500]]
    sb.prune(600)
    assert sb.ranges == [[600, 1500]]
    sb.clear()
    assert sb.ranges == []


def test_is_lost_wants_dupthresh_segments_sacked_above_the_hole():
    sb = SackScoreboard()
    sb.update(((2000, 4000),), 1000, 10000)
    assert not sb.is_lost(3, SMSS)  # RFC 6675 IsLost: two segments' worth is not enough
    sb.update(((5000, 6000),), 1000, 10000)
    assert sb.is_lost(3, SMSS)
    assert sb.is_lost(2, SMSS * 3 // 2)


def test_holes_are_the_gaps_between_the_sacked_ranges():
    sb = SackScoreboard()
    sb.update(((1500, 2000), (3000, 4000)), 1000, 10000)
    assert sb.first_hole(1000, SMSS) == 500  # up to where the first SACKed range starts
    assert sb.next_hole(1000, SMSS) == (1000, 1500)
    assert sb.next_hole(1500, SMSS) == (2000, 3000)  # inside a SACKed range: the hole starts after it
    assert sb.next_hole(2200, SMSS) == (2200, 3000)
    assert sb.next_hole(3500, SMSS) == (4000, 5000)  # above every range: a whole segment
    assert SackScoreboard().first_hole(1000, SMSS) == SMSS


blocks = st.lists(st.tuples(st.integers(0, 20000), st.integers(1, 4000)), max_size=6)


@settings(max_examples=examples(300), deadline=None)
@given(base=st.integers(0, M), una_off=st.integers(0, 2000), groups=st.lists(blocks, max_size=4))
def test_the_scoreboard_holds_exactly_the_union_of_the_valid_blocks(base, una_off, groups):
    # a model over offsets from base, then the same in wrapped sequence numbers
    una, top = (base + una_off) & M, (base + 22000) & M
    held: set[int] = set()
    sb = SackScoreboard()
    for group in groups:
        spans = [(off, off + n) for off, n in group]
        for lo, hi in spans:
            if hi > una_off and hi <= 22000:
                held.update(range(max(lo, una_off), hi))
        sb.update(tuple(((base + lo) & M, (base + hi) & M) for lo, hi in spans), una, top)
    offs = [((left - base) & M, (right - base) & M) for left, right in sb.ranges]
    assert all(lo < hi for lo, hi in offs)
    assert all(offs[i][1] < offs[i + 1][0] for i in range(len(offs) - 1))  # ordered, disjoint and not touching: merged
    assert {i for lo, hi in offs for i in range(lo, hi)} == held
    assert sb.sacked_bytes() == len(held)


# -- CongestionControl ----------------------------------------------------------------------------------------------
def test_the_initial_window_is_rfc_3390s_as_lwip_and_ssthresh_the_peers_window():
    cc = CongestionControl()
    cc.established(1460, 65535)
    assert cc.cwnd == 4380 and cc.ssthresh == 65535
    cc.established(536, 0)
    assert cc.cwnd == 4 * 536 and cc.ssthresh == 0x7FFFFFFF
    cc.established(9000, 1000)
    assert cc.cwnd == 18000 and cc.ssthresh == 18000  # at least 2 SMSS


def test_slow_start_counts_bytes_but_at_most_two_segments_an_ack():
    cc = CongestionControl()
    cc.established(SMSS, 100000)
    start = cc.cwnd
    assert cc.on_ack(2000, 500, SMSS, 9000) is False
    assert cc.cwnd == start + 500
    cc.on_ack(8000, 6000, SMSS, 9000)  # a stretch ACK: L = 2 SMSS (RFC 3465 2.3)
    assert cc.cwnd == start + 500 + 2 * SMSS


def test_congestion_avoidance_grows_about_one_segment_a_window():
    cc = CongestionControl()
    cc.cwnd, cc.ssthresh = 10 * SMSS, 10 * SMSS
    for i in range(10):
        cc.on_ack(1000 * (i + 1), SMSS, SMSS, 50000)
    assert 10 * SMSS + SMSS - 100 <= cc.cwnd <= 10 * SMSS + SMSS
    cc.cwnd = 2 * SMSS
    cc.ssthresh = SMSS
    cc.on_ack(0, 1, SMSS, 50000)
    assert cc.cwnd == 2 * SMSS + 1  # at least one byte


def test_early_retransmit_lowers_dupthresh_for_a_small_flight_with_nothing_new_to_send():
    dt = CongestionControl.dupthresh
    assert dt(2 * SMSS, SMSS, 0) == 1  # RFC 5827: segments - 1
    assert dt(3 * SMSS, SMSS, 0) == 2
    assert dt(3 * SMSS - 1, SMSS, 0) == 2  # partial segments count
    assert dt(SMSS, SMSS, 0) == 1
    assert dt(4 * SMSS, SMSS, 0) == 3
    assert dt(2 * SMSS, SMSS, 1) == 3  # new data can go: limited transmit makes the duplicates


def test_duplicates_make_limited_transmit_then_fast_retransmit_then_inflate():
    cc = CongestionControl()
    cc.established(SMSS, 100000)
    cc.cwnd = 10 * SMSS
    assert cc.on_duplicate_ack(SMSS, 1000, 3) == LIMITED_TRANSMIT and cc.dupacks == 1
    assert cc.on_duplicate_ack(SMSS, 1000, 3) == LIMITED_TRANSMIT and cc.dupacks == 2
    assert cc.on_duplicate_ack(SMSS, 1000, 3) == FAST_RETRANSMIT
    assert cc.cwnd == 10 * SMSS  # the sender enters recovery, not the duplicate count
    cc.enter_recovery(10 * SMSS, SMSS, 1000, 11000)
    assert cc.ssthresh == 5 * SMSS and cc.cwnd == 8 * SMSS and cc.recover == 11000 and cc.rexmit_high == 1000
    assert cc.on_duplicate_ack(SMSS, 1000, 3) == INFLATED and cc.cwnd == 9 * SMSS  # RFC 5681 3.2 step 4


def test_a_dupthresh_above_three_duplicates_holds_after_limited_transmit():
    cc = CongestionControl()
    for _ in range(3):
        cc.on_duplicate_ack(SMSS, 0, 5)
    assert cc.dupacks == 3 and cc.on_duplicate_ack(SMSS, 0, 5) == HOLD


def test_ssthresh_is_at_least_two_segments():
    cc = CongestionControl()
    cc.enter_recovery(SMSS, SMSS, 0, SMSS)
    assert cc.ssthresh == 2 * SMSS and cc.cwnd == 5 * SMSS


def test_a_partial_ack_asks_for_a_retransmission_and_deflates_a_full_one_ends_recovery():
    cc = CongestionControl()
    cc.cwnd = 10 * SMSS
    cc.enter_recovery(10 * SMSS, SMSS, 1000, 11000)
    cc.on_duplicate_ack(SMSS, 1000, 3)
    assert cc.on_ack(3000, 2000, SMSS, 11000) is True  # below recover: the next hole is lost too
    assert cc.cwnd == 9 * SMSS - 2000 + SMSS and cc.recover == 11000 and cc.dupacks == 0  # RFC 6582 3.2 step 5
    assert cc.on_ack(11000, 8000, SMSS, 12000) is False  # covers recover
    assert cc.recover is None and cc.rexmit_high is None
    assert cc.cwnd == min(5 * SMSS, max(1000, SMSS) + SMSS)  # step 3: min(ssthresh, FlightSize + SMSS)


def test_a_full_ack_with_much_in_flight_leaves_cwnd_at_ssthresh():
    cc = CongestionControl()
    cc.enter_recovery(10 * SMSS, SMSS, 0, 10000)
    cc.on_ack(10000, 10000, SMSS, 30000)
    assert cc.cwnd == cc.ssthresh == 5 * SMSS


def test_a_timeout_collapses_cwnd_and_duplicates_below_its_snd_max_start_no_fast_retransmit():
    cc = CongestionControl()
    cc.cwnd = 20 * SMSS
    cc.enter_recovery(8 * SMSS, SMSS, 0, 8000)
    cc.on_timeout(8 * SMSS, SMSS, 8000)
    assert cc.cwnd == SMSS and cc.ssthresh == 4 * SMSS and cc.recover is None and cc.rexmit_high is None
    assert cc.rto_recover == 8000 and cc.dupacks == 0
    cc.on_ack(1000, 1000, SMSS, 8000)
    assert cc.rto_recover == 8000
    for _ in range(2):
        cc.on_duplicate_ack(SMSS, 1000, 3)
    assert cc.on_duplicate_ack(SMSS, 1000, 3) == HOLD  # RFC 6582 4.1: data sent twice, not a new loss
    cc.on_ack(8000, 7000, SMSS, 9000)
    assert cc.rto_recover is None
    for _ in range(2):
        cc.on_duplicate_ack(SMSS, 8000, 3)
    assert cc.on_duplicate_ack(SMSS, 8000, 3) == FAST_RETRANSMIT


# -- the pcb owns them ----------------------------------------------------------------------------------------------
def test_a_pcb_owns_the_three_objects_and_its_old_attributes_read_and_set_them():
    stack, _netif, _dev = make_stack()
    pcb = TcpPcb(stack.tcp, IPv4Address("10.0.0.1"), 80, IPv4Address("10.0.0.9"), 40000)
    assert isinstance(pcb.rtt, RttEstimator) and isinstance(pcb.cc, CongestionControl)
    assert isinstance(pcb.scoreboard, SackScoreboard)
    assert pcb.rto == pcb.rtt.rto == stack.config.tcp_rto_time / 1000.0
    pcb.cwnd = 12345
    pcb.ssthresh = 777
    assert pcb.cc.cwnd == 12345 and pcb.cc.ssthresh == 777
    pcb.rtt.sample(0.1)
    assert pcb.srtt == 0.1 and pcb.rttvar == 0.05
    pcb.scoreboard.update(((10, 20),), 0, 100)
    assert pcb.sacked == [[10, 20]] and pcb.recover is None and pcb.rto_recover is None and pcb.dupacks == 0
