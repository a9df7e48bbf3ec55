"""rr9: ``TcpInput._fast_request``, header prediction's request on an idle connection: data at ``rcv_nxt`` whose ACK
covers exactly everything sent and everything in the send buffer (a request acknowledging the reply before it), in
one function instead of ``_fast_input`` and ``_fast_new_ack``.  Taken for that case, left for each unusual one, the
data's part going the general way (``_fast_after_ack``, ``_receive_data``) when the application's first callback
changed what it relies on, and a differential test: the same random requests, ACKs and application behaviours through
three stacks, one taking it, one where it stands aside for the way it replaces (``_fast_input`` and
``_fast_new_ack``), one without the fast paths, compared after every step.  In virtual time, against a scripted
peer."""

from __future__ import annotations

import errno
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from lwipy.errors import LwipError
from test_tcp_fastpath import ACK, FIN, PSH, established, frame, inject, snapshot
from test_tcp_rr_fast import echo_connection, request


def watch_request(monkeypatch) -> list:
    """Record what every ``_fast_request`` call returned."""
    results: list = []
    real = TcpPcb._fast_request

    def wrapper(self, *args):
        results.append(real(self, *args))
        return results[-1]
    monkeypatch.setattr(TcpPcb, "_fast_request", wrapper)
    return results


def the_way_it_replaces(pcb) -> None:
    """Make ``pcb`` take the way ``_fast_request`` replaces (``_fast_input``, ``_fast_new_ack``): it declines."""
    pcb._fast_request = lambda *args: False


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_requests_on_an_idle_connection_take_it(ts, monkeypatch):
    t, pcb, server = echo_connection(ts)
    request(t, pcb, b"q" * 64, ts=(500, 0) if ts else None)  # the first acknowledges nothing new
    t.dev.take()
    taken = watch_request(monkeypatch)
    for i in range(8):
        before = pcb.snd_max
        request(t, pcb, bytes([65 + i]) * (64 + i), ts=(501 + i, 0) if ts else None)
        (f,) = t.dev.take()
        assert int.from_bytes(f[38:42], "big") == before and int.from_bytes(f[42:46], "big") == t.peer_seq
    assert taken == [True] * 8 and server.bytes_out == server.bytes_in == 64 + sum(64 + i for i in range(8))
    assert pcb.snd_una == (pcb.snd_max - 71) & MASK and pcb.unacked_segments == 0 and pcb.delack_at is None
    # inside a batch (Stack.input_many, as the loop feeds frames) too
    t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"b" * 64,
                                       ts=(600, 0) if ts else None)], t.now)
    assert taken == [True] * 9 and len(t.dev.take()) == 1


def test_without_an_application_the_data_waits_and_is_acknowledged_later(monkeypatch):
    t, pcb, _ = established(ts=False, reader=False)
    pcb.send(b"r" * 64)
    t.dev.take()
    taken = watch_request(monkeypatch)
    request(t, pcb, b"q" * 64)
    assert taken == [True] and pcb.readable == 64 and pcb.snd_una == pcb.snd_max and pcb.delack_at is not None


# -- left for each unusual one -------------------------------------------------------------------------------------------
def _partial(t, pcb):
    return pcb.snd_max - 10  # acknowledges part of the reply


def _nothing_new(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_max))
    return pcb.snd_max


def _unsent(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_una, window=80))  # the peer's window: 80 bytes
    pcb.send(b"u" * 100)  # 16 more wait behind the 64 in flight
    return pcb.snd_max


def _timed_out(t, pcb):
    t.at(t.now + 3.0)  # the retransmission timeout: snd_nxt back (then up again with the retransmission)
    t.dev.full = True
    t.at(t.now + 6.0)  # the second one is refused: snd_nxt stays behind snd_max
    t.dev.full = False
    assert pcb.snd_nxt != pcb.snd_max
    return pcb.snd_max


def _fin_queued(t, pcb):
    pcb.on_event = None
    pcb.shutdown()
    return pcb.snd_max - 1  # the data, not the FIN


def _no_room(t, pcb):
    pcb.rcv_held = pcb.rcv_buf_limit - 5  # a reader holding all but 5 bytes: the request is cut to them
    pcb._mem_rcv()
    return pcb.snd_max


def _sack_ranges(t, pcb):
    # (a SACK scoreboard left over; guard15: written through the pcb's property, which keeps TcpPcb._unusual)
    pcb.sacked = [[pcb.snd_max + 100, pcb.snd_max + 200]]
    return pcb.snd_max


def _out_of_order(t, pcb):
    t.peer_seq += 100  # a request 100 bytes above rcv_nxt (one before it was lost)
    return pcb.snd_max


def _recovery(t, pcb):
    pcb.recover = pcb.snd_una  # (fast recovery left open: an ACK of everything ends it the full way)
    return pcb.snd_max


def _stream_source(t, pcb):
    pcb.tx_source = lambda p, room: b""  # (tx9: a bulk sender's stream, asked for the room before the event)
    return pcb.snd_max


def _probe_unanswered(t, pcb):
    pcb.persist_probes = 1  # (as _persist_fired counts a probe: lane2, a count running makes _unusual)
    pcb._unusual_check()
    return pcb.snd_max


def _timeout_counted(t, pcb):
    pcb.retries = 1  # (as _rto_fired counts a timeout, whatever was sent again acknowledged since)
    pcb._unusual_check()
    return pcb.snd_max


CASES = {"probe unanswered": _probe_unanswered, "timeout counted": _timeout_counted,
         "partial ACK": _partial, "nothing new": _nothing_new, "data unsent": _unsent, "timed out": _timed_out,
         "FIN queued": _fin_queued, "no room": _no_room, "SACK ranges": _sack_ranges, "out of order": _out_of_order,
         "recovery": _recovery, "stream source": _stream_source}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unusual_requests_are_left_to_the_other_ways(case, monkeypatch):
    runs = []
    for fast in (True, False):
        t, pcb, server = echo_connection(False, fast)
        request(t, pcb, b"q" * 64)
        ack = CASES[case](t, pcb)
        t.dev.take()
        taken = watch_request(monkeypatch)
        request(t, pcb, b"w" * 10, ack=ack)
        assert True not in taken, "taken"
        runs.append((t, pcb, server))
    assert_same(runs, case)


# -- handed back when the first callback changes what the data's part relies on ---------------------------------------------
def _write(t, pcb):
    pcb.send(b"x" * 10)


def _close(t, pcb):
    pcb.close()


def _shutdown_write(t, pcb):
    pcb.shutdown()


def _shutdown_read(t, pcb):
    pcb.shutdown(read=True, write=False)


def _abort(t, pcb):
    pcb.abort()


def _settle(t, pcb):
    assert pcb.cwnd > 0  # (reading the congestion window settles the ACK's bookkeeping)


def _feed(t, pcb):
    inject(t, frame(t, t.peer_seq + 64, pcb.snd_max, ACK | PSH, b"n" * 20))  # the next request, fed early


def _switch(t, pcb):
    pcb.on_event = None  # the application stops listening: the request waits unread


def _look(t, pcb):
    _ = (pcb.send_space, pcb.recv())  # changes nothing


CALLBACKS = {"write": _write, "close": _close, "shutdown write": _shutdown_write, "shutdown read": _shutdown_read,
             "abort": _abort, "settle": _settle, "feed a frame": _feed, "look": _look, "switch": _switch}
HANDED_BACK = {"write", "close", "shutdown write", "shutdown read", "abort", "settle", "feed a frame"}


class Scripted:
    """An application: echoes what it reads; on the first event that finds nothing to read (the ACK's, before the
    data) after ``then`` is set, does ``then`` once."""

    def __init__(self, t, pcb) -> None:
        self.t, self.then, self.log = t, None, []
        pcb.on_event = self.event

    def event(self, pcb) -> None:
        self.log.append((pcb.state_name, pcb.readable, len(pcb.snd_buf)))
        if pcb.state_name == "CLOSED":
            return
        try:
            if not pcb.readable:
                if self.then is not None:
                    then, self.then = self.then, None
                    then(self.t, pcb)
                return
            if not pcb.rx_closed:
                pcb.send(pcb.recv())
        except LwipError as e:
            self.log.append(e.errno)


def scripted(fast: bool, ts: bool = False, old: bool = False):
    t, pcb, _ = established(ts=ts, fast=fast, reader=False)
    app = Scripted(t, pcb)
    if old:
        the_way_it_replaces(pcb)
    return t, pcb, app


@pytest.mark.parametrize("case", sorted(CALLBACKS))
def test_a_callback_that_changes_things_hands_the_data_back(case, monkeypatch):
    runs = [scripted(fast, old=old) for fast, old in ((True, False), (True, True), (False, False))]
    for t, pcb, _app in runs:
        request(t, pcb, b"q" * 64)
    taken = watch_request(monkeypatch)
    after_ack: list = []
    real = TcpPcb._fast_after_ack
    monkeypatch.setattr(TcpPcb, "_fast_after_ack", lambda self, *args: after_ack.append(self) or real(self, *args))
    for t, pcb, app in runs:
        app.then = CALLBACKS[case]
        request(t, pcb, b"w" * 64)
    new = runs[0][1]
    assert taken[:1] == [True] and [p for p in after_ack if p is new] == ([new] if case in HANDED_BACK else [])
    assert_same(runs, case)


# -- rr11: the peer's window, taken inline (_take_window's steps) ---------------------------------------------------------
def _window_below(t, pcb):
    pcb.max_snd_wnd = pcb.snd_wnd = 1000  # (the largest window seen grows with the request's)


def _probes_counted(t, pcb):
    pcb.persist_probes, pcb.persist_backoff = 2, 3  # (probes unanswered: the count resets)
    pcb._unusual_check()  # (as _persist_fired counts them: lane2, the request lane leaves the request)


def _persist_armed(t, pcb):
    pcb.persist_at, pcb.persist_backoff = t.now + 5.0, 3  # (an open window stops the persist timer)


def _same_seq(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK, window=30000))  # (the request's seq is snd_wl1: by snd_wl2)


def _newer_wl2(t, pcb):
    pcb.snd_wl1, pcb.snd_wl2 = t.peer_seq, (pcb.snd_max + 5) & MASK  # (an older ACK at the same seq: no window taken)


def _scaled(t, pcb):
    pcb.snd_wscale = 3  # (as a peer's SYN with window scale 3 sets it: the field is shifted by it)


WINDOW_STATES = {"window below": _window_below, "probes counted": _probes_counted, "persist armed": _persist_armed,
                 "same seq": _same_seq, "newer wl2": _newer_wl2, "scaled": _scaled}


@pytest.mark.parametrize("window", [65535, 20000, 0])
@pytest.mark.parametrize("case", sorted(WINDOW_STATES))
def test_a_requests_window_is_taken_as_the_other_ways_take_it(case, window, monkeypatch):
    """``_fast_request`` takes the peer's window inline (rr11: ``_take_window``'s steps): the same connection state
    as the way it replaces and the full path, from states the random sequences seldom reach."""
    runs = [scripted(fast, old=old) for fast, old in ((True, False), (True, True), (False, False))]
    for t, pcb, _app in runs:
        request(t, pcb, b"q" * 64)
        WINDOW_STATES[case](t, pcb)
    assert_same(runs, "set up")
    taken = watch_request(monkeypatch)
    for t, pcb, _app in runs:
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"w" * 64, window=window))
        t.peer_seq += 64
    assert taken[:1] == [case != "probes counted"]
    assert_same(runs, case)


# -- the differential test -----------------------------------------------------------------------------------------------
# (kind, request size, ACK: share of the flight acknowledged, callback, timestamps, batch)
STEP = st.tuples(
    st.sampled_from(["request"] * 8 + ["ack", "time", "full", "fin", "read"]),
    st.sampled_from([64, 64, 1, 700, 1400, 3000]),
    st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, -1.0]),  # -1: an ACK of unsent data
    st.sampled_from([None] * 6 + sorted(CALLBACKS)),
    st.sampled_from(["ok"] * 4 + ["none", "old"]),
    st.booleans(),
    st.sampled_from([65535] * 6 + [0, 100, 2000, 65000]),  # rr11: the peer's window (closed, small, shrinking)
)


def run_three(ts: bool, steps: list) -> tuple[int, int]:
    """The same steps through the new way, the way it replaces and the full path, compared after each; returns the
    requests the new way took whole, and those it handed back to ``_fast_input``."""
    runs = [scripted(fast, ts, old) for fast, old in ((True, False), (True, True), (False, False))]
    for t, _pcb, _app in runs:
        t.at(5.0)
    taken = handed = 0
    real, real_after = TcpPcb._fast_request, TcpPcb._fast_after_ack

    def counting(self, *args):
        nonlocal taken
        done = real(self, *args)
        taken += done
        return done

    def counting_after(self, *args):
        nonlocal handed
        handed += self is runs[0][1] and sys._getframe(1).f_code.co_name == "_fast_request"
        return real_after(self, *args)
    TcpPcb._fast_request, TcpPcb._fast_after_ack = counting, counting_after
    try:
        tsval = 1000
        for step in steps:
            kind, size, share, callback, tsk, batch, window = step
            tsval += 1
            for t, pcb, app in runs:
                stamp = {"ok": (tsval, (int(t.now * 1000) - 3) & MASK), "none": None, "old": (5, 0)}[tsk] \
                    if ts else None
                flight = (pcb.snd_max - pcb.snd_una) & MASK
                ack = pcb.snd_max + 10 if share < 0 else pcb.snd_una + int(flight * share)
                # (the callbacks on a request's ACK only: a pure ACK's, fast_pure_ack's, counts the freed send buffer
                # after its callback, so a frame fed from there raises the memory peak above the full path's; tx8's)
                app.then = CALLBACKS[callback] if callback and kind == "request" else None
                if kind in ("request", "fin", "ack"):
                    flags = {"request": ACK | PSH, "fin": ACK | FIN, "ack": ACK}[kind]
                    f = frame(t, t.peer_seq, ack, flags, bytes([size & 0xFF]) * size if kind == "request" else b"",
                              window=window, ts=stamp)
                    if batch:
                        t.stack.input_many(t.netif, [f], t.now)
                    else:
                        inject(t, f)
                    t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else t.peer_seq
                elif kind == "full":
                    t.dev.full = not t.dev.full
                elif kind == "read":
                    if pcb.state_name != "CLOSED" and pcb.readable and not pcb.rx_closed:
                        pcb.recv(size)
                else:
                    t.at(t.now + 0.3)
            assert_same(runs, step)
    finally:
        TcpPcb._fast_request, TcpPcb._fast_after_ack = real, real_after
    assert runs[2][0].stack.tcp.fast_taken == 0
    return taken, handed


def assert_same(runs: list, after) -> None:
    """Every run sent the same frames since the last look, and has the same connection state, counters, memory and
    application log as the first."""
    (ta, pa, aa), *others = runs
    sent = ta.dev.take()
    state = snapshot(ta, pa)
    state.pop("_fast_request", None)
    for tb, pb, ab in others:
        assert tb.dev.take() == sent, f"different output after {after}"
        other = snapshot(tb, pb)
        other.pop("_fast_request", None)
        assert other == state, f"different state after {after}"
        assert tb.stack.mem.report() == ta.stack.mem.report(), f"different memory after {after}"
        if hasattr(aa, "log"):
            assert ab.log == aa.log, f"different application events after {after}"
        else:
            assert (ab.bytes_in, ab.bytes_out) == (aa.bytes_in, aa.bytes_out)


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=30))
def test_the_new_way_the_way_it_replaces_and_the_full_path_agree(ts, steps):
    run_three(ts, steps)


@pytest.mark.parametrize("ts", [True, False])
def test_differential_exercises_the_new_way(ts):
    """The comparison is worth something only when the sequences take it."""
    def step(kind="request", size=64, share=1.0, callback=None, tsk="ok", batch=False, window=65535):
        return (kind, size, share, callback, tsk, batch, window)
    steps = [step(), step(), step(batch=True), step(size=1400), step(share=0.5), step(), step("ack"), step(),
             step(callback="write"), step(), step("ack"), step(), step(callback="settle"), step(), step(window=0),
             step("time"), step(window=2000), step("ack", window=100), step(window=65000), step("full"), step(),
             step("full"), step(), step("ack"), step(batch=True), step("time"), step(), step(callback="shutdown read"),
             step()]
    taken, handed = run_three(ts, steps)
    assert taken >= 8 and handed >= 3


def test_an_abort_from_the_first_callback_ends_it_as_before():
    runs = [scripted(fast, old=old) for fast, old in ((True, False), (True, True), (False, False))]
    for t, pcb, app in runs:
        request(t, pcb, b"q" * 64)
        app.then = _abort
        request(t, pcb, b"w" * 64)
        assert pcb.state_name == "CLOSED" and pcb.error in (0, None, errno.ECONNABORTED)
    assert_same(runs, "abort")


def test_a_write_the_cork_holds_back_hands_the_data_back(monkeypatch):
    """On a netif with TSO a write from the ACK's callback is corked (sent after it, whole), so nothing settles: the
    send buffer itself must send the data's part back to ``_fast_input``."""
    from scapy.layers.inet import TCP

    from test_tcp_gso import GsoDevice, Peer, stack_on
    runs = []
    taken = watch_request(monkeypatch)
    for fast, old in ((True, False), (True, True), (False, False)):
        dev = GsoDevice()
        stack, netif = stack_on(dev)
        stack.tcp.fast_path = fast
        peer = Peer(stack, netif, dev)
        pcb = peer.pcb
        app = Scripted(None, pcb)
        if old:
            the_way_it_replaces(pcb)
        seq = 101
        for then in (None, _write, None):
            app.then = then
            peer.input(TCP(sport=4000, dport=80, flags="PA", seq=seq, ack=pcb.snd_max, window=peer.window), b"q" * 64)
            seq += 64
        runs.append((dev.take(), snapshot(peer, pcb) | {"_fast_request": None},
                     stack.mem.report(), app.log))
    assert taken[:1] == [True], "the new way's answer"
    assert runs[1] == runs[0] and runs[2] == runs[0]
