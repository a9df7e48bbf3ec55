"""rr2: a request that acknowledges everything sent (the reply before it) leaves its ACK's bookkeeping (the RTT
sample, the congestion window, the memory counting of the buffers' changes) until the reply is written
(``Tcp.settle``).  Taken for the common case (the bookkeeping still waits when the reply reaches the device), left
for every other ACK, settled before anything reads what waits (a big reply the old congestion window would limit,
the pcb's ``cwnd``/``srtt`` properties, ``MemStats``, a nested frame, the timers, an abort, a close), and the same
output, connection state, memory and counters as the full path after every request (differential, as
``test_tcp_rr_fast``).  In virtual time, against a scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp.seq import MASK
from test_tcp_fastpath import ACK, PSH, assert_alike, established, frame, inject, snapshot


def serve(t, pcb, behaviour: str = "echo"):
    """An application on ``pcb`` that answers what it reads (the echo app's way, one recv and one send), doing
    ``behaviour`` in the data event first; returns what it observed (compared between the two paths)."""
    seen: list = []
    stack = t.stack

    def on_event(p):
        if not p.readable:
            return  # an ACK's event (send space): nothing to read
        if behaviour == "properties":
            seen.append((p.cwnd, p.ssthresh, p.srtt, p.rttvar, p.rto, p.rtt_seq, p.dupacks))
        elif behaviour == "memory":
            seen.append(stack.mem.report())
        elif behaviour == "nested":  # a frame fed from the callback: a window update, the full path
            inject(t, frame(t, p.rcv_nxt, p.snd_una, ACK, window=40000))
        elif behaviour == "poll":
            stack.poll(t.now)
            stack.tcp.poll(t.now)  # TCP's timers, due or not
        data = p.recv()
        if behaviour == "big":
            data = data * 40  # more than the congestion window before the ACK lets go
        elif behaviour == "abort" and p.snd_max != p.iss + 1:  # after the first reply: while its ACK's work waits
            p.abort()
            return
        p.send(data)
        if behaviour == "close" and len(seen) == 2:
            p.close()
        seen.append(len(data))
    pcb.on_event = on_event
    return seen


def pair(behaviour: str, ts: bool = False, **options):
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, fast=fast, reader=False, **options)
        t.at(5.0)
        runs.append((t, pcb, serve(t, pcb, behaviour)))
    return runs


def request(t, pcb, size: int = 64, ts: bool = False, ack: int | None = None) -> None:
    inject(t, frame(t, t.peer_seq, pcb.snd_max if ack is None else ack, ACK | PSH, b"q" * size,
                    ts=(1000 + t.peer_seq % 1000, (int(t.now * 1000) - 2) & MASK) if ts else None))
    t.peer_seq += size


def watch_transmit(t) -> list:
    """What ``stack.tcp.unsettled`` was when each frame reached the device."""
    seen: list = []
    real = t.dev.transmit

    def transmit(f):
        seen.append(t.stack.tcp.unsettled)
        return real(f)
    t.dev.transmit = transmit
    return seen


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_a_request_acknowledging_the_reply_is_answered_before_its_bookkeeping(ts):
    t, pcb, _ = established(ts=ts, reader=False)
    serve(t, pcb)
    request(t, pcb, ts=ts)  # the first acknowledges nothing new
    t.dev.take()
    at_transmit = watch_transmit(t)
    mem = t.stack.mem
    for _ in range(5):
        t.at(t.now + 0.01)
        cwnd, counted = pcb.cc.cwnd, mem.cur[:]
        request(t, pcb, ts=ts)
        # the reply went while the ACK's bookkeeping waited: the congestion window and memory as before the request
        assert at_transmit[-1] is pcb
        assert t.stack.tcp.unsettled is None and mem.pending is None and pcb._mem_log is None
        assert pcb.cc.cwnd > cwnd and mem.cur == counted  # settled after it (64 bytes out, 64 in and answered)
        assert pcb.rtt.seq == pcb.snd_una and pcb.rtt.start == t.now  # the reply is timed, after the sample
    assert pcb.srtt is not None and len(t.sent()) == 5


# -- left for every other ACK ------------------------------------------------------------------------------------------
def test_an_ack_of_part_of_what_was_sent_settles_at_once():
    t, pcb, _ = established(ts=False, reader=False)
    serve(t, pcb)
    pcb.nodelay = True
    pcb.send(b"r" * 1500)  # two segments (MSS 1000) in flight
    assert len(t.dev.take()) == 2
    at_transmit = watch_transmit(t)
    cwnd = pcb.cc.cwnd
    request(t, pcb, ack=pcb.snd_una + 1000)  # acknowledges the first only
    assert at_transmit == [None] and pcb.cc.cwnd > cwnd  # the reply went with the bookkeeping done
    assert pcb.rto_at is not None


def test_a_request_acknowledging_nothing_new_has_nothing_to_settle():
    t, pcb, _ = established(ts=False, reader=False)
    serve(t, pcb)
    at_transmit = watch_transmit(t)
    request(t, pcb)
    assert at_transmit and all(u is None for u in at_transmit)  # (the first read's window update, the reply)


def test_the_full_path_never_leaves_bookkeeping():
    t, pcb, _ = established(ts=False, fast=False, reader=False)
    serve(t, pcb)
    request(t, pcb)
    t.dev.take()
    at_transmit = watch_transmit(t)
    for _ in range(3):
        request(t, pcb)
    assert at_transmit == [None] * 3


# -- the same results as the full path, whatever the application does meanwhile ----------------------------------------
BEHAVIOURS = ["echo", "properties", "memory", "big", "nested", "poll", "abort", "close"]


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_fast_and_full_paths_agree_whatever_the_application_reads_or_does(behaviour, ts):
    runs = pair(behaviour, ts=ts, tcp_snd_buf_default=16384)
    watched = [watch_transmit(t) for t, _, _ in runs]
    for i in range(6):
        for t, pcb, _ in runs:
            t.at(t.now + 0.003 * (i + 1))
            if pcb.state_name == "ESTABLISHED":
                request(t, pcb, size=64 + 300 * (i % 2), ts=ts)
        (ta, pa, sa), (tb, pb, sb) = runs
        assert_alike((ta, pa), (tb, pb), f"request {i}", memory=True)
        assert sa == sb  # what the application read meanwhile
        assert ta.stack.tcp.unsettled is None and ta.stack.mem.pending is None
    assert ta.stack.tcp.fast_taken and not tb.stack.tcp.fast_taken
    if behaviour in ("echo", "close"):
        assert any(u is not None for u in watched[0])  # the shortcut was taken, and agreed
    elif behaviour in ("properties", "memory", "poll", "nested"):
        assert watched[0] and all(u is None for u in watched[0])  # what the application read settled it first


def test_nothing_waits_to_be_settled_in_fast_recovery(monkeypatch):
    """settle14c: ``Tcp.settle``'s steps are those outside fast recovery (it does not test for it): whatever waits
    was handed off outside it and stays so until settled, through duplicate ACKs entering recovery between requests,
    a request whose ACK ends it and requests before and after."""
    from lwipy.core.tcp.tcp import Tcp
    real, seen = Tcp.settle, []

    def settle(self):
        if self.unsettled is not None:
            seen.append(self.unsettled.cc.recover)
        real(self)
    monkeypatch.setattr(Tcp, "settle", settle)  # (before the stack: its MemStats.pending hook bound to this one)
    t, pcb, _ = established(ts=False, fast=True, reader=False, tcp_snd_buf_default=16384)
    t.at(5.0)
    serve(t, pcb)
    entered = 0
    for i in range(12):
        t.at(t.now + 0.003)
        request(t, pcb)
        if i % 4 == 1:  # the reply outstanding: three duplicate ACKs of it
            for _ in range(3):
                inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK))
            entered += pcb.cc.recover is not None
        elif i % 4 == 2:
            request(t, pcb, ack=pcb.snd_una)  # a request in recovery acknowledging nothing new
    assert entered == 3 and pcb.cc.recover is None and t.stack.tcp.fast_taken
    assert seen and all(recover is None for recover in seen)


def test_a_big_reply_the_old_window_would_limit_settles_first():
    """The congestion window the ACK opens decides what goes: settled before the first segment."""
    (t, pcb, _), (tf, pf, _) = pair("big", tcp_snd_buf_default=16384)
    for run_t, run_pcb in ((t, pcb), (tf, pf)):
        run_pcb.cc.cwnd, run_pcb.nodelay = 100000, True
        request(run_t, run_pcb)
        run_t.dev.take()
        assert run_pcb.snd_max == (run_pcb.buf_seq + len(run_pcb.snd_buf)) & MASK  # the first reply all sent
        run_pcb.cc.cwnd = 2000  # small: the next reply (2,560 bytes) is cut by it, not by the one the ACK opens
    at_transmit = watch_transmit(t)
    for run_t, run_pcb in ((t, pcb), (tf, pf)):
        run_t.peer_seq = run_pcb.rcv_nxt
        request(run_t, run_pcb, ack=run_pcb.snd_max)
    out = t.dev.take()
    assert out == tf.dev.take() and len(out) > 1
    assert at_transmit and all(u is None for u in at_transmit)  # settled before the first segment
    assert snapshot(t, pcb) == snapshot(tf, pf)


# -- rr11: _ack_sample (RttEstimator.on_ack and CongestionControl.on_ack inline, RttEstimator.sample too) ---------------
_SEQS = st.sampled_from([0, 1, 1000, 0x7FFFFFFF, 0x80000000, MASK - 5, MASK])
_TIMES = st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, 0.001, 1.0, 1.0001, 119.999, 120.0, 4294967.296]))


def _estimator_and_window(rto, srtt, rttvar, timed, start, cwnd, ssthresh, dupacks, recover, rto_recover):
    """An RTT estimator and congestion control in the state given."""
    from lwipy.core.tcp.congestion import CongestionControl, RttEstimator
    rtt = RttEstimator(rto)
    rtt.srtt, rtt.rttvar, rtt.seq, rtt.start = srtt, rttvar, timed, start
    cc = CongestionControl()
    cc.cwnd, cc.ssthresh, cc.dupacks, cc.recover, cc.rto_recover = cwnd, ssthresh, dupacks, recover, rto_recover
    return rtt, cc


def _bits(rtt, cc) -> list:
    """Every field of both, floats by their bits (NaN alike, 0.0 and -0.0 apart)."""
    import math
    return [v.hex() if isinstance(v, float) and not math.isnan(v) else repr(v)
            for v in [getattr(rtt, k) for k in rtt.__slots__] + [getattr(cc, k) for k in cc.__slots__]]


@settings(max_examples=examples(1000), deadline=None)
@given(srtt=st.one_of(st.none(), st.floats(0, 200), st.sampled_from([0.0, 5e-324, 0.0004, 0.05])),
       rttvar=st.one_of(st.floats(0, 100), st.sampled_from([0.0, 5e-324, 0.00025])),
       rto=st.floats(0.2, 60), timed=st.one_of(st.none(), _SEQS), start=_TIMES, now=_TIMES,
       tsecr=st.one_of(st.none(), st.just(0), st.integers(0, MASK)), ack=_SEQS, acked=st.integers(1, 70000),
       cwnd=st.integers(1, 1 << 31), ssthresh=st.integers(1, 1 << 31), smss=st.integers(1, 9000),
       recover=st.one_of(st.none(), _SEQS), rto_recover=st.one_of(st.none(), _SEQS), dupacks=st.integers(0, 5),
       flight=st.integers(0, 70000))
def test_an_acks_sample_and_window_are_those_of_the_estimator_and_congestion_control(
        srtt, rttvar, rto, timed, start, now, tsecr, ack, acked, cwnd, ssthresh, smss, recover, rto_recover, dupacks,
        flight):
    """``TcpInput._ack_sample`` (the fast paths' and ``Tcp.settle``'s RTT sample and congestion window, inline)
    leaves the estimator and congestion control exactly as ``RttEstimator.on_ack`` (with its ``sample``) and
    ``CongestionControl.on_ack`` do, the full path's (the same floats, bit for bit)."""
    from types import SimpleNamespace

    from lwipy.core.tcp.tcp_in import TcpInput
    runs = []
    for inline in (True, False):
        rtt, cc = _estimator_and_window(rto, srtt, rttvar, timed, start, cwnd, ssthresh, dupacks, recover, rto_recover)
        snd_max = (ack + flight) & MASK
        if inline:
            TcpInput._ack_sample(SimpleNamespace(rtt=rtt, cc=cc, snd_mss=smss), ack, acked, tsecr, now, snd_max)
        else:
            rtt.on_ack(ack, now, ((int(now * 1000) - tsecr) & MASK) / 1000.0 if tsecr else None)
            cc.on_ack(ack, acked, smss, snd_max)
        runs.append(_bits(rtt, cc))
    assert runs[0] == runs[1]


@settings(max_examples=examples(500), deadline=None)
@given(srtt=st.one_of(st.none(), _TIMES), rttvar=_TIMES, rto=st.floats(0.2, 60), timed=st.one_of(st.none(), _SEQS),
       start=_TIMES, now=_TIMES, tsecr=st.one_of(st.none(), st.just(0), st.integers(0, MASK)), ack=_SEQS,
       acked=st.integers(1, 70000), cwnd=st.integers(1, 1 << 31), ssthresh=st.integers(1, 1 << 31),
       smss=st.integers(1, 9000), recover=st.none(), rto_recover=st.one_of(st.none(), _SEQS),
       dupacks=st.integers(0, 5))
def test_settle_samples_and_grows_the_window_as_ack_sample_does(
        srtt, rttvar, rto, timed, start, now, tsecr, ack, acked, cwnd, ssthresh, smss, recover, rto_recover, dupacks):
    """``Tcp.settle`` (s12: ``_ack_sample``'s steps inline for a request's ACK, no timestamp, outside recovery) leaves
    the estimator and congestion control exactly as ``TcpInput._ack_sample`` does for the ACK it settles (of
    everything sent: ``snd_max`` is the ACK), bit for bit, whatever the state, the timed segment and the echo
    (outside fast recovery: settle14c, nothing is settled in it, test_nothing_waits_to_be_settled_in_fast_recovery)."""
    from types import SimpleNamespace

    from lwipy.core.tcp.tcp import Tcp
    from lwipy.core.tcp.tcp_in import TcpInput
    runs = []
    for settle in (True, False):
        rtt, cc = _estimator_and_window(rto, srtt, rttvar, timed, start, cwnd, ssthresh, dupacks, recover, rto_recover)
        replays: list = []  # (the memory log's part: a log no plan was kept for, replayed by the pcb)
        pcb = SimpleNamespace(rtt=rtt, cc=cc, snd_mss=smss, _mem_log=[0], _mem_rise_log=[], _mem_replay=replays.append,
                              snd_una=ack, last_activity=now)  # (tail15: the ACK and its time, as the pcb holds them)
        pcb._ack_sample = lambda *args, pcb=pcb: TcpInput._ack_sample(pcb, *args)
        if settle:
            tcp = SimpleNamespace(unsettled=pcb, stack=SimpleNamespace(mem=SimpleNamespace(pending=object())),
                                  _settle_args=(acked, tsecr))
            Tcp.settle(tcp)
            assert tcp.unsettled is None and tcp.stack.mem.pending is None
            assert replays == [[0]] and pcb._mem_log is None
        else:
            TcpInput._ack_sample(pcb, ack, acked, tsecr, now, ack)
        runs.append(_bits(rtt, cc))
    assert runs[0] == runs[1]
