"""settle13: a request's RTT sample in ``Tcp.settle`` without a call (``RttEstimator.sample``'s later sample inline),
and ``RttEstimator.sample``'s RTO by RFC 6298's formula (``max(G, K * RTTVAR)`` as a test of RTTVAR against G / K).
The inline copy leaves the estimator as ``sample`` does, bit for bit, from any state (differential); ``sample``
gives RFC 6298 2.2-2.4's figures written plainly (min/max), bit for bit; the inline copy is taken for a steady
request/response's every request without timestamps and left for the first sample and for a timestamp's (which
``TcpInput._ack_sample`` takes)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp.congestion import RTO_MAX, RTO_MIN, SRTT_AT_RTO_MIN, VAR_FLOOR, RttEstimator
from lwipy.core.tcp.tcp import Tcp
from test_tcp_fastpath import established
from test_tcp_rr_settle import request, serve

#: around the figures where the steps branch: the variance floor (G / K), the RTO's floor and cap, no variance
_EDGES = [0.0, 5e-324, VAR_FLOOR, math.nextafter(VAR_FLOOR, 0), math.nextafter(VAR_FLOOR, 1), 0.001, 0.05, 0.199,
          RTO_MIN, math.nextafter(RTO_MIN, 0), math.nextafter(RTO_MIN, 1), 1.0, 59.999, RTO_MAX,
          math.nextafter(RTO_MAX, 0), 119.999, SRTT_AT_RTO_MIN, math.nextafter(SRTT_AT_RTO_MIN, 0),
          math.nextafter(SRTT_AT_RTO_MIN, 1)]
#: figures no sample gives, taken alike all the same (the RTO's tests written so that NaN and infinity go as before)
_ODD = [math.inf, math.nan]
_SRTT = st.one_of(st.floats(0, 70), st.sampled_from(_EDGES + _ODD))
_RTTVAR = st.one_of(st.floats(0, 20), st.floats(0, 0.001), st.sampled_from(_EDGES + _ODD))
_R = st.one_of(st.floats(0, 120, exclude_max=True), st.floats(0, 0.01), st.sampled_from(_EDGES))


def _bits(rtt: RttEstimator) -> list:
    """The estimator's fields, floats by their bits (0.0 and -0.0 apart)."""
    return [v.hex() if isinstance(v, float) else repr(v) for v in (getattr(rtt, k) for k in rtt.__slots__)]


def rfc6298(srtt: float | None, rttvar: float, r: float) -> tuple:
    """RFC 6298 2.2/2.3 (alpha 1/8, beta 1/4) and 2.4 (K 4, G 1 ms), with lwipy's floor and cap, written plainly:
    (srtt, rttvar, rto)."""
    if srtt is None:
        srtt, rttvar = r, r / 2
    else:
        rttvar = 0.75 * rttvar + 0.25 * abs(srtt - r)  # (with the old SRTT)
        srtt = 0.875 * srtt + 0.125 * r
    return srtt, rttvar, min(RTO_MAX, max(RTO_MIN, srtt + max(0.001, 4 * rttvar)))


@settings(max_examples=examples(2000), deadline=None)
@given(srtt=st.one_of(st.none(), _SRTT), rttvar=_RTTVAR, r=_R)
def test_a_sample_gives_rfc6298s_figures_bit_for_bit(srtt, rttvar, r):
    rtt = RttEstimator(1.0)
    rtt.srtt, rtt.rttvar = srtt, rttvar
    rtt.sample(r)
    assert [x.hex() for x in (rtt.srtt, rtt.rttvar, rtt.rto)] == [x.hex() for x in rfc6298(srtt, rttvar, r)]


@settings(max_examples=examples(2000), deadline=None)
@given(rttvar=st.one_of(st.floats(0, allow_infinity=True), st.floats(0, 0.001), st.sampled_from(_EDGES)))
def test_the_variance_floor_is_the_granularity_over_k(rttvar):
    """``K * rttvar > G`` exactly when ``rttvar > VAR_FLOOR`` (the test ``sample`` and its inline copy make)."""
    assert (4 * rttvar > 0.001) == (rttvar > VAR_FLOOR)


@settings(max_examples=examples(2000), deadline=None)
@given(srtt=st.one_of(st.floats(0, 1), st.floats(0.19, 0.21), st.sampled_from(_EDGES + _ODD)))
def test_the_rto_floors_srtt_is_where_srtt_plus_g_passes_rto_min(srtt):
    """out2: ``srtt + G > RTO_MIN`` exactly when ``srtt > SRTT_AT_RTO_MIN`` (the test ``sample`` and its inline copy
    make below the variance floor), at the float either side of it too."""
    assert (srtt + 0.001 > RTO_MIN) == (srtt > SRTT_AT_RTO_MIN)
    edge = SRTT_AT_RTO_MIN
    assert edge + 0.001 <= RTO_MIN < math.nextafter(edge, math.inf) + 0.001


@pytest.mark.parametrize("srtt", [SRTT_AT_RTO_MIN, math.nextafter(SRTT_AT_RTO_MIN, 0), math.nextafter(SRTT_AT_RTO_MIN, 1),
                                  0.05, 59.9995])
@pytest.mark.parametrize("rttvar", [0.0, VAR_FLOOR, math.nextafter(VAR_FLOOR, 1)])
def test_a_sample_with_the_srtt_at_the_rto_floors_edge_gives_rfc6298s_rto(srtt, rttvar):
    """A sample equal to SRTT leaves SRTT there: the RTO at the edge, one float below and above it (RTO_MIN, then the sum),
    with the variance at, below and above its floor, RFC 6298's from ``sample`` and from settle's copy alike."""
    ref = RttEstimator(1.0)
    ref.srtt, ref.rttvar = srtt, rttvar
    ref.sample(srtt)
    assert [x.hex() for x in (ref.srtt, ref.rttvar, ref.rto)] == [x.hex() for x in rfc6298(srtt, rttvar, srtt)]
    assert _bits(_settled(srtt, rttvar, 1.0, 0.0, srtt)) == _bits(ref)  # (sent at 0: the sample is srtt itself)


def _settled(srtt: float, rttvar: float, rto: float, start: float, now: float) -> RttEstimator:
    """The estimator after ``Tcp.settle`` settles a request's ACK (no timestamp, outside recovery) of the timed
    segment sent at ``start``, the ACK come at ``now``."""
    rtt = RttEstimator(rto)
    rtt.srtt, rtt.rttvar, rtt.seq, rtt.start = srtt, rttvar, 1000, start
    cc = SimpleNamespace(cwnd=1000, ssthresh=1 << 30, dupacks=0, recover=None, rto_recover=None)
    pcb = SimpleNamespace(rtt=rtt, cc=cc, snd_mss=1000, _mem_log=[0], _mem_rise_log=[], _mem_replay=lambda log: None,
                          snd_una=1064, last_activity=now)  # (tail15: the ACK and its time, as the pcb holds them)
    tcp = SimpleNamespace(unsettled=pcb, stack=SimpleNamespace(mem=SimpleNamespace(pending=object())),
                          _settle_args=(64, None))
    Tcp.settle(tcp)
    assert rtt.seq is None and cc.cwnd == 1064
    return rtt


@settings(max_examples=examples(2000), deadline=None)
@given(srtt=_SRTT, rttvar=_RTTVAR, rto=st.floats(0.2, 60), start=st.floats(0, 1e6), r=_R)
def test_settles_inline_sample_is_the_estimators(srtt, rttvar, rto, start, r):
    """``Tcp.settle``'s later sample, inline, against ``RttEstimator.sample``'s, from any state: the same fields,
    bit for bit (the sample as settle works it out: the ACK's time less the timed segment's)."""
    now = start + r
    rtt = _settled(srtt, rttvar, rto, start, now)
    ref = RttEstimator(rto)
    ref.srtt, ref.rttvar, ref.start = srtt, rttvar, start  # (nothing timed after the ACK: seq None)
    sample = now - start
    if 0 <= sample < 120:
        ref.sample(sample)
    assert _bits(rtt) == _bits(ref)


@pytest.mark.parametrize("start, now", [(5.0, 4.0), (0.0, 120.0), (1.0, 1e6), (-0.0, 0.0)])
def test_a_sample_outside_0_to_120_s_is_ignored_inline_too(start, now):
    rtt = _settled(0.05, 0.01, 0.3, start, now)
    assert (rtt.srtt, rtt.rttvar, rtt.rto) == ((0.05, 0.01, 0.3) if now - start < 0 or now - start >= 120
                                               else rfc6298(0.05, 0.01, now - start))


# -- taken for a steady request/response, left for the first sample and a timestamp's ---------------------------------
@pytest.mark.parametrize("ts", [False, True])
def test_a_steady_requests_sample_is_taken_without_a_call(monkeypatch, ts):
    t, pcb, _ = established(ts=ts, reader=False)
    serve(t, pcb)
    calls: list = []
    real = RttEstimator.sample
    monkeypatch.setattr(RttEstimator, "sample", lambda self, r: (calls.append(r), real(self, r))[1])
    request(t, pcb, ts=ts)  # the first acknowledges nothing new: its reply is timed
    figures = []
    for i in range(5):
        t.at(t.now + 0.002 * (i + 1))
        request(t, pcb, ts=ts)
        figures.append((pcb.rtt.srtt, pcb.rtt.rttvar, pcb.rtt.rto))
    assert t.stack.tcp.fast_taken == 6 and len(set(figures)) == 5  # a sample each
    # without timestamps the first sample alone by the call (srtt None), the rest inline; a timestamp's each by
    # _ack_sample, which calls it
    assert len(calls) == (5 if ts else 1)
