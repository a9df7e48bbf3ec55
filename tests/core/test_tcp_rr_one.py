"""rr8: ``TcpOutput._output_one``, ``_output_fast``'s one-segment case in straight-line code: an idle connection
(nothing in flight, everything sent acknowledged) whose application wrote no more than one segment that the windows
let go at once, a request/response server's reply.  Taken for that case, left for each unusual one, and two
differential tests: the same random steps through a stack where it stands aside (``_output_fast``'s loop sends
instead) and through one without the fast paths, compared after every step.  Also ``TcpPcb.recv``'s window update,
looked at only when the room in whole segments of the peer's opens the window.  In virtual time, against a scripted
peer."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers import OWN_MAC, PEER_MAC, examples
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from lwipy.wire.checksum import pseudo_sum_v4, verify
from tcp_script import PEER_IP
from test_tcp_fastpath import ACK, OWN_B, PEER_B, PSH, assert_alike, established, frame, inject, snapshot
from test_tcp_rr_fast import echo_connection, request


def watch_one(monkeypatch) -> list:
    """Record the bytes of every call ``_output_one`` handled (rr9: it is asked first, and says whether it is its
    case)."""
    calls: list = []
    real = TcpPcb._output_one

    def wrapper(self, *args):
        n = len(self.snd_buf)
        took = real(self, *args)
        if took:
            calls.append(n)
        return took
    monkeypatch.setattr(TcpPcb, "_output_one", wrapper)
    return calls


def check_frame(f: bytes, ts: bool, payload: bytes) -> None:
    hlen = 32 if ts else 20
    assert f[:6] == PEER_MAC and f[6:12] == OWN_MAC and f[12:14] == b"\x08\x00"
    assert verify(f[14:34]) and int.from_bytes(f[16:18], "big") == len(f) - 14
    assert verify(f[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(f) - 34))
    assert f[47] == ACK | PSH and f[34 + hlen:] == payload


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_echo_replies_are_written_by_output_one(ts, monkeypatch):
    t, pcb, server = echo_connection(ts)
    request(t, pcb, b"q" * 64, ts=(599, 0) if ts else None)  # (the first read opens the window: an update too)
    t.dev.take()
    ones = watch_one(monkeypatch)
    sent = t.stack.tcp.fast_sent
    for i in range(6):
        before = pcb.snd_max
        request(t, pcb, bytes([65 + i]) * 64, ts=(600 + i, 0) if ts else None)
        (f,) = t.dev.take()
        check_frame(f, ts, bytes([65 + i]) * 64)
        assert int.from_bytes(f[38:42], "big") == before and int.from_bytes(f[42:46], "big") == t.peer_seq
    assert ones == [64] * 6 and server.bytes_out == 7 * 64
    assert pcb.snd_nxt == pcb.snd_max == (pcb.snd_una + 64) & MASK and pcb.rto_at is not None
    assert pcb.rtt.seq == pcb.snd_una  # the reply is timed
    assert t.stack.tcp.fast_sent - sent == 6


@pytest.mark.parametrize("ts", [True, False])
# odd (a padded byte), folded (> 400), a whole segment with TS; s15: around the inline sum's bound (even, below 256)
@pytest.mark.parametrize("size", [1, 2, 63, 64, 254, 255, 256, 257, 400, 401, 402, 987])
def test_a_write_to_an_idle_connection_is_one_segment(ts, size, monkeypatch):
    t, pcb, _ = established(ts=ts)
    ones = watch_one(monkeypatch)
    data = bytes((i * 13) & 0xFF for i in range(size))
    ident = t.stack.ip4.next_ident
    pcb.send(data)
    (f,) = t.dev.take()
    check_frame(f, ts, data)
    assert ones == [size] and int.from_bytes(f[18:20], "big") == ident
    assert t.stack.ip4.next_ident == (ident + 1) & 0xFFFF


@pytest.mark.parametrize("way", ["one", "loop", "full"])
def test_tsval_is_the_clock_in_milliseconds_truncated(way, monkeypatch):
    """TSval is ``int(now * 1000)`` modulo 2**32 (s15: ``math.trunc``, as int() of a float, cheaper) in each way a
    segment is built: an idle connection's one segment, ``_output_fast``'s loop and the full way's ``_ts_now``; the
    clock's fractions of a millisecond at and above a half (rounding would differ)."""
    t, pcb, _ = established(ts=True, fast=way != "full")
    pcb.nodelay = True
    ones = watch_one(monkeypatch)
    for now in (7.0009996, 12.3456789, 13.9994999, 20.5):
        t.at(now)
        if way == "loop":
            pcb.send(b"a" * 10)  # (idle: _output_one's; the next write, one in flight, the loop's)
            t.dev.take()
        pcb.send(b"r" * 10)
        (f,) = t.dev.take()
        assert f[54:58] == b"\x01\x01\x08\x0a" and int.from_bytes(f[58:62], "big") == int(now * 1000) & MASK
        check_frame(f, True, b"r" * 10)
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ts=(700, 0)))  # everything acknowledged: idle again
        t.dev.take()
    assert len(ones) == {"one": 4, "loop": 4, "full": 0}[way]


# -- left for every unusual one ----------------------------------------------------------------------------------------
def _in_flight(t, pcb):
    pcb.nodelay = True
    pcb.send(b"f" * 100)  # (this one is idle: written by _output_one; the next is not)
    return 100


def _more_than_a_segment(t, pcb):
    return pcb.snd_mss + 1


def _peer_window(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_max, window=50))  # a window update: 50 bytes
    return 100


def _cwnd(t, pcb):
    pcb.cc.cwnd = 60
    return 100


def _zero_window(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_max, window=0))
    return 10


def _retransmission_due(t, pcb):
    pcb.nodelay = True
    pcb.send(b"f" * 100)
    t.dev.full = True
    t.at(t.now + 3.0)  # the retransmission timeout: snd_nxt back to snd_una, the retransmission refused
    t.dev.full = False
    assert pcb.snd_nxt == pcb.snd_una != pcb.snd_max
    return 10  # (then all 110 bytes fit one segment, but 100 of them are a retransmission: not timed)


UNUSUAL = {"retransmission due": _retransmission_due, "data in flight": _in_flight, "more than a segment": _more_than_a_segment,
           "peer's window smaller": _peer_window, "cwnd smaller": _cwnd, "zero window": _zero_window}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_unusual_writes_are_left_to_the_loop(case, monkeypatch):
    runs = []
    for fast in (True, False):  # (the full path's run: what the loop must have done)
        t, pcb, _ = established(ts=False, fast=fast)
        size = UNUSUAL[case](t, pcb)
        t.dev.take()
        ones = watch_one(monkeypatch)
        pcb.send(b"u" * size)
        assert ones == [], "taken"
        runs.append((t, pcb))
    assert_alike(runs[0], runs[1], case, memory=True)


def test_a_refused_reply_is_kept_and_sent_by_the_retry(monkeypatch):
    t, pcb, _ = established(ts=True)
    ones = watch_one(monkeypatch)
    t.dev.full = True
    ident = t.stack.ip4.next_ident
    pcb.send(b"r" * 64)
    assert ones == [64] and t.dev.take() == [] and pcb.snd_nxt == pcb.snd_una and pcb.txretry_at is not None
    assert t.stack.stats.link.memerr == 1 and t.stack.ip4.next_ident == (ident + 1) & 0xFFFF
    t.dev.full = False
    t.at(t.now + 0.05)
    (f,) = t.dev.take()
    check_frame(f, True, b"r" * 64)
    assert ones == [64, 64] and pcb.txretry_at is None and pcb.snd_max == (pcb.snd_una + 64) & MASK


def test_a_reply_after_a_refused_one_ends_the_retry(monkeypatch):
    t, pcb, _ = echo_connection(False)
    request(t, pcb, b"q" * 64)
    t.dev.take()
    ones = watch_one(monkeypatch)
    t.dev.full = True
    request(t, pcb, b"a" * 64)
    assert pcb.txretry_at is not None and pcb in t.stack.tcp.tx_refused
    t.dev.full = False
    request(t, pcb, b"b" * 64, ack=pcb.snd_una)  # before the retry: the echo writes, both replies go at once
    (f,) = t.dev.take()
    check_frame(f, False, b"a" * 64 + b"b" * 64)
    assert ones == [64, 128] and pcb.txretry_at is None and pcb not in t.stack.tcp.tx_refused


def test_a_netif_that_offloads_gets_the_reply_whole_from_output_one(monkeypatch):
    """off9: on an offloading device too a reply is _output_one's, one whole frame with both checksums done to
    ``transmit`` (not the loop's headers and data apart, the TCP checksum left to the device: transmit_gso)."""
    from test_tcp_gso import GsoDevice, Peer, stack_on
    dev = GsoDevice()
    stack, netif = stack_on(dev)
    peer = Peer(stack, netif, dev)
    ones = watch_one(monkeypatch)
    peer.pcb.send(b"o" * 64)
    (f,) = dev.take()
    assert ones == [64] and dev.gathered == 0 and stack.tcp.fast_sent == 1
    assert verify(f[14:34]) and verify(f[34:], pseudo_sum_v4(f[26:30], f[30:34], 6, len(f) - 34))


@pytest.mark.parametrize("change", ["ttl", "tos", "mac"])
def test_a_reply_after_the_frame_changed_is_written_from_a_new_template(change, monkeypatch):
    """The template is made again when the neighbour's MAC, the TTL or the TOS it was made for changed."""
    t, pcb, _ = established(ts=True)
    ones = watch_one(monkeypatch)
    pcb.send(b"a" * 64)
    t.dev.take()
    inject(t, frame(t, t.peer_seq, pcb.snd_max))
    if change == "mac":
        t.stack.etharp.add_static(PEER_IP, b"\x02\x00\x00\x00\x00\x09")
    else:
        setattr(pcb, change, 77)
    pcb.send(b"b" * 64)
    (f,) = t.dev.take()
    assert ones == [64, 64] and verify(f[14:34]) and verify(f[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(f) - 34))
    assert {"ttl": f[22], "tos": f[15], "mac": f[:6]}[change] == (b"\x02\x00\x00\x00\x00\x09" if change == "mac" else 77)


@pytest.mark.parametrize("case", ["idle"] + sorted(UNUSUAL))
def test_send_asks_output_one_itself_and_once(case, monkeypatch):
    """rr11: ``send`` asks ``_output_one`` itself for an idle connection (``_output_fast``'s first step, a call less a
    reply): a reply goes without ``_output_fast``; a write it refuses, or one to a connection that is not idle, goes
    to ``_output_fast``'s loop, which does not ask ``_output_one`` again."""
    t, pcb, _ = established(ts=False)
    size = 64 if case == "idle" else UNUSUAL[case](t, pcb)
    t.dev.take()
    asked = count_calls(monkeypatch, "_output_one")
    loops = count_calls(monkeypatch, "_output_fast")
    idle = pcb.snd_nxt == pcb.buf_seq == pcb.snd_una == pcb.snd_max
    pcb.send(b"u" * size)
    assert idle == (case not in ("data in flight", "retransmission due"))
    assert len(asked) == idle and len(loops) == (case != "idle")


# -- the differential tests --------------------------------------------------------------------------------------------
# (kind, size, ACK: share of the flight acknowledged, window, dt)
STEP = st.tuples(
    st.sampled_from(["request"] * 6 + ["send"] * 3 + ["ack", "full", "time", "cwnd", "read_ahead", "timed", "more"]),
    st.sampled_from([64, 64, 1, 401, 987, 988, 1000, 1001, 2500]),
    st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0]),
    st.sampled_from([65535, 65535, 65535, 2000, 500, 64, 0]),
    st.sampled_from([0.0, 0.0, 0.01, 0.3, 2.0]),
)


def run_steps(ts: bool, steps: list, reference: str, wnd: int = 5760) -> int:
    """The same steps through an echo connection with ``_output_one`` and one where ``reference`` stands in
    ("loop": ``_output_fast``'s loop; "full": no fast paths), compared after each; returns the calls
    ``_output_one`` handled.  ``wnd``: the receive buffer (whole segments of the peer's or not: 1000 with MSS 1000,
    988 with timestamps)."""
    runs = [echo_connection(ts, fast=reference != "full" or i == 0, tcp_wnd_default=wnd) for i in range(2)]
    aside = runs[1][1] if reference == "loop" else None  # _output_one returns False for it: the loop sends
    for t, _pcb, _server in runs:
        t.at(5.0)
    taken = 0
    real = TcpPcb._output_one

    def counting(self, *args):
        nonlocal taken
        if self is aside:
            return False
        took = real(self, *args)
        taken += took
        return took
    TcpPcb._output_one = counting
    try:
        tsval = 1000
        for step in steps:
            kind, size, share, window, dt = step
            tsval += 1
            for t, pcb, _server in runs:
                if pcb.state_name == "CLOSED":
                    continue
                stamp = (tsval, (int(t.now * 1000) - 2) & MASK) if ts else None
                ack = (pcb.snd_una + int(((pcb.snd_max - pcb.snd_una) & MASK) * share)) & MASK
                if kind == "request":
                    inject(t, frame(t, t.peer_seq, ack, ACK | PSH, bytes([size & 0xFF]) * size, window=window,
                                    ts=stamp))
                    t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else t.peer_seq
                elif kind == "ack":
                    inject(t, frame(t, t.peer_seq, ack, ACK, window=window, ts=stamp))
                elif kind == "send":
                    pcb.send(b"s" * size)  # the application writes by itself (as after a timer)
                elif kind == "more":
                    pcb.send(b"m" * size, more=True)  # out14: a write that says more (no PSH: TCP_WRITE_FLAG_MORE)
                elif kind == "full":
                    t.dev.full = not t.dev.full
                elif kind == "cwnd":
                    pcb.cc.cwnd = size  # a congestion window below or above what waits
                elif kind == "timed":
                    # out14: a segment timed at or beyond snd_max (a state no ACK clears: the RTT timing of an idle
                    # connection's next write is decided as the loop does, before the write or after the settle)
                    pcb.rtt.seq, pcb.rtt.start = (pcb.snd_max + size - 64) & MASK, t.now
                elif kind == "read_ahead":
                    pcb.rcv_held += size // 2  # a reader holding bytes: the window offered changes
                    pcb._mem_rcv()
                else:
                    t.at(t.now + dt)
            (ta, pa, sa), (tb, pb, sb) = runs
            assert_alike((ta, pa), (tb, pb), step, memory=True)
            assert (sa.bytes_in, sa.bytes_out) == (sb.bytes_in, sb.bytes_out)
    finally:
        TcpPcb._output_one = real
    return taken


WND = st.sampled_from([5760, 65535, 8192, 2440, 4000])


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), wnd=WND, steps=st.lists(STEP, min_size=1, max_size=30))
def test_output_one_and_the_loop_agree(ts, wnd, steps):
    run_steps(ts, steps, "loop", wnd)


@settings(max_examples=examples(100), deadline=None)
@given(ts=st.booleans(), wnd=WND, steps=st.lists(STEP, min_size=1, max_size=30))
def test_output_one_and_the_full_path_agree(ts, wnd, steps):
    run_steps(ts, steps, "full", wnd)


@pytest.mark.parametrize("wnd", [5760, 65535])
@pytest.mark.parametrize("reference", ["loop", "full"])
@pytest.mark.parametrize("ts", [True, False])
def test_differential_exercises_output_one(ts, reference, wnd):
    """The comparison is worth something only when the steps take ``_output_one``, refusals and timers included."""
    def step(kind="request", size=64, share=1.0, window=65535, dt=0.0):
        return (kind, size, share, window, dt)
    steps = [step(), step(), step(size=401), step(size=987), step("full"), step(), step("time", dt=0.01),
             step("full"), step("time", dt=0.01), step(), step("full"), step(), step("full"), step(share=0.0),
             step("full"), step(), step("time", dt=2.0), step("full"), step("send", size=1), step(),
             step("send", size=1), step("ack"), step(window=64),
             step(), step("cwnd", size=30), step(), step("time", dt=2.0), step(), step(), step("read_ahead", 2500),
             step(), step(), step("more", size=1), step("timed"), step("send", size=1), step("timed", size=65), step(),
             step("time", dt=2.0), step(), step()]
    assert run_steps(ts, steps, reference, wnd) >= 10


@settings(max_examples=examples(300), deadline=None)
# (the edges the random draws seldom meet: the worthwhile amount half a small buffer, below our MSS; the peer's
# segments 12 bytes shorter with timestamps; the room a few bytes past whole segments; the memo of the last window
# replayed, then a reader's bytes held changing only that)
@example(ts=False, wnd=2440, held=0, over=10, gap=1300, behind=False, scaled=False, more=[])
@example(ts=True, wnd=5760, held=0, over=0, gap=1428, behind=False, scaled=False, more=[])
@example(ts=True, wnd=8192, held=0, over=5, gap=1432, behind=False, scaled=False, more=[])
@example(ts=False, wnd=65535, held=0, over=None, gap=0, behind=False, scaled=False, more=[0, 0, 600, 0])
@given(ts=st.booleans(), wnd=WND, held=st.integers(0, 600), over=st.one_of(st.none(), st.integers(0, 30)),
       gap=st.one_of(st.integers(-20, 1600), st.integers(1200, 1450)), behind=st.booleans(), scaled=st.booleans(),
       more=st.lists(st.sampled_from([0, 0, 0, 1, 600, -300]), max_size=4))
def test_output_ones_window_is_that_of_offered_window(ts, wnd, held, over, gap, behind, scaled, more):
    """rr11: ``_output_one`` works out the window it offers itself (``_offered_window``'s body, inline): near the
    worthwhile amount above and below (``gap``: the free room beyond what is offered; ``over``: bytes held so that the
    free room is that many above whole segments of the peer's, what the window opens by, our MSS less our options),
    with ``rcv_adv`` behind ``rcv_nxt``, with a scaled window (``scaled``: shift 2, four times the buffer), and
    writing again once the last is acknowledged (``more``: a reader holding that many bytes more meanwhile; the memo
    of the last window replayed): the same frames and state as the loop, which asks ``_offered_window``, and (out12:
    both compare with ``_rcv_opens_at`` instead of working the worthwhile amount out) as the full way, whose
    ``_window_bytes`` works it out."""
    runs = []
    for fast in (True, True, False):  # _output_one, the loop (_output_one stood aside), the full way
        scaling = {"wnd_scale": True, "tcp_rcv_scale": 2, "wscale": 2} if scaled else {}
        t, pcb, _ = established(ts=ts, reader=False, fast=fast, tcp_wnd_default=wnd * (4 if scaled else 1),
                                **scaling)
        assert pcb.rcv_wscale == (2 if scaled else 0)
        limit = pcb.rcv_buf_limit
        if over is not None:
            held = (limit - over) % (pcb.mss - 12 if ts else pcb.mss)
        pcb.rcv_held = held
        pcb.rcv_adv = (pcb.rcv_nxt - 10 if behind else pcb.rcv_nxt + max(0, limit - held - gap)) & MASK
        t.dev.take()
        runs.append((t, pcb))
    real = TcpPcb._output_one
    aside = runs[1][1]
    TcpPcb._output_one = lambda self, *args: False if self is aside else real(self, *args)
    try:
        for step, delta in enumerate([None, *more]):
            for t, pcb in runs:
                if delta is not None:
                    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK, ts=(900 + step, 0) if ts else None))
                    pcb.rcv_held = max(0, pcb.rcv_held + delta)
                pcb.send(b"x" * 64)
            frames = [t.dev.take() for t, _ in runs]
            assert frames[0] == frames[1] == frames[2], (held, gap, step)
            assert snapshot(*runs[0]) == snapshot(*runs[1]) == snapshot(*runs[2]), (held, gap, step)
    finally:
        TcpPcb._output_one = real


# -- recv: a window update looked at only when the room in whole segments opens the window ------------------------------
def count_calls(monkeypatch, name: str) -> list:
    """The pcbs ``TcpPcb.<name>`` is called for, from now on."""
    calls: list = []
    real = getattr(TcpPcb, name)

    def wrapper(self, *args):
        calls.append(self)
        return real(self, *args)
    monkeypatch.setattr(TcpPcb, name, wrapper)
    return calls


@pytest.mark.parametrize("ts", [True, False])
def test_reads_from_a_buffer_not_of_whole_segments_ask_for_fewer_updates(ts, monkeypatch):
    """64 KB's 65535 bytes, not whole segments of the peer's (1440, 1428 with timestamps): once the window offered
    has shrunk by a few requests, the raw room after each request's read exceeds it by a segment (the check before
    rr8 asked ``_window_update`` after every such read), the room in whole segments only every 22nd or so, when
    the window really opens (rx8: recv then asks for the ACK itself, ``_ack_now``, without ``_window_update``
    working the figures out again); and the same segments, state and memory as without the fast paths, step by
    step."""
    runs = [echo_connection(ts, fast=fast, tcp_wnd_default=65535) for fast in (True, False)]
    updates = count_calls(monkeypatch, "_window_update")
    asks = count_calls(monkeypatch, "_ack_now")
    raw_opens = 0
    for i in range(30):
        t, pcb, _ = runs[0]
        seg = pcb.mss - 12 if ts else pcb.mss
        # after the read the buffer is empty: the raw room is the limit
        raw_opens += pcb.rcv_buf_limit - (((pcb.rcv_adv - pcb.rcv_nxt) & MASK) - 64) >= seg
        for t, pcb, _ in runs:
            request(t, pcb, b"x" * 64, ts=(701 + i, 0) if ts else None)
        assert_alike(runs[0][:2], runs[1][:2], f"request {i}", memory=True)
    assert raw_opens >= 10 and 1 <= asks.count(runs[0][1]) <= 2 and not updates


def test_a_read_that_opens_the_window_by_whole_segments_still_updates_it(monkeypatch):
    t, pcb, _ = established(ts=False, reader=False, tcp_wnd_default=65535)
    for _ in range(3):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"f" * 1000))
        t.peer_seq += 1000
    t.dev.take()
    asks = count_calls(monkeypatch, "_ack_now")
    assert pcb.recv() == b"f" * 3000
    (update,) = t.dev.take()
    window = int.from_bytes(update[48:50], "big")
    assert len(asks) == 1 and window == 65535 - 65535 % pcb.mss
    assert int.from_bytes(update[42:46], "big") == t.peer_seq


# -- out12: the worthwhile amount as a threshold kept per connection (TcpPcb._rcv_opens_at) ----------------------------
def opens_at(pcb) -> int:
    """What ``_rcv_opens_at`` stands for, from the pcb's figures as they are now: the buffer limit less the worthwhile
    amount (a full segment of the peer's, or half the buffer when that is less)."""
    limit = pcb.rcv_buf_limit
    seg = pcb.mss - 12 if pcb.ts_ok else pcb.mss
    return limit - min(seg, limit // 2)


@pytest.mark.parametrize("active", [False, True])
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("wscale", [None, 2])  # the peer offers window scaling, or not
@pytest.mark.parametrize("wnd, mss", [(5760, 1440), (2440, 1440), (5760, 536), (65535, 1440), (262144, 1440)])
def test_the_threshold_follows_what_the_handshake_agreed(active, ts, wscale, wnd, mss):
    """``_rcv_opens_at`` is set from the MSS and buffer limit when the pcb is made and again when the handshake
    agrees on timestamps (12 bytes less in each of the peer's segments) or leaves the window unscaled (the buffer
    limit cut to 65535): active and passive, whatever was agreed, it stands for what it is made from."""
    from tcp_script import TcpScript
    scaling = {"wnd_scale": True, "tcp_rcv_scale": 3} if wnd > 0xFFFF else {}
    t = TcpScript(tcp_wnd_default=wnd, tcp_mss=mss, tcp_timestamps=True, **scaling)
    opts = [("MSS", 1460)] + ([("NOP", None), ("NOP", None), ("Timestamp", (100, 0))] if ts else []) \
        + ([("WScale", wscale)] if wscale is not None else [])
    if active:
        pcb = t.stack.tcp.connect(PEER_IP, t.peer_port, local_port=t.port)
        assert pcb._rcv_opens_at == opens_at(pcb)
        syn = t.sent()[0]
        t.send("SA", ack=syn.seq + 1, options=opts)
    else:
        listener = t.stack.tcp.listen(t.port)
        t.send("S", options=opts)
        synack = t.sent()[0]
        t.send("A", ack=synack.seq + 1, options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))] if ts else [])
        pcb = listener.accept()
    assert pcb.state_name == "ESTABLISHED" and pcb.ts_ok == ts and pcb.mss == mss
    assert pcb.rcv_buf_limit == (min(wnd, 0xFFFF) if wscale is None else wnd)
    assert pcb._rcv_opens_at == opens_at(pcb)


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("beyond", [0, 1])
def test_a_read_at_the_threshold_opens_the_window_and_one_byte_past_it_does_not(ts, beyond, monkeypatch):
    """``recv`` asks for the window update when the bytes held and offered after the read are at most
    ``_rcv_opens_at`` (the room then opens the window by the worthwhile amount), not when one byte more is held."""
    t, pcb, _ = established(ts=ts, reader=False, tcp_wnd_default=5760)
    seg = pcb.mss - 12 if ts else pcb.mss
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"r" * 100, ts=(300, 0) if ts else None))
    t.dev.take()
    # the window offered: all but a worthwhile amount (and ``beyond`` bytes held by a reader), a whole number of
    # the peer's segments left as the room after the read
    pcb.rcv_held = beyond
    limit = pcb.rcv_buf_limit - pcb.rcv_buf_limit % seg
    pcb.rcv_buf_limit = limit
    pcb._rcv_sws()
    pcb.rcv_adv = (pcb.rcv_nxt + pcb._rcv_opens_at) & MASK
    assert pcb._rcv_opens_at == limit - seg
    asks = count_calls(monkeypatch, "_ack_now")
    assert pcb.recv() == b"r" * 100
    assert len(asks) == (0 if beyond else 1)


# -- header prediction's source check, made once per connection (Tcp._add) ----------------------------------------------
@pytest.mark.parametrize("remote, kept", [("10.0.0.9", True), ("192.0.2.7", True), ("223.255.255.254", True),
                                          ("0.1.2.3", False), ("127.0.0.5", False), ("224.0.0.0", False), ("224.0.0.9", False),
                                          ("239.1.1.1", False), ("240.0.0.1", False), ("255.255.255.255", False)])
def test_a_connection_to_a_remote_that_cannot_be_a_source_is_not_predicted(remote, kept):
    """``fast_input`` no longer looks at the source's class: ``Tcp._add`` keeps no header-prediction entry for a
    remote in 0/8, 127/8, multicast or class E (a frame from one finds no connection and takes the full way)."""
    from ipaddress import IPv4Address

    from lwipy.core.tcp.fastpath import fast_key
    t, pcb, _ = established(ts=False)
    tcp = t.stack.tcp
    tcp._remove(pcb)
    pcb._remote_packed = IPv4Address(remote).packed
    tcp._add(pcb)
    key = fast_key(pcb._remote_packed, pcb._local_packed, pcb.remote_port, pcb.local_port)
    assert (tcp.fast_conns.get(key) is pcb) == kept
    tcp._remove(pcb)
    assert key not in tcp.fast_conns
