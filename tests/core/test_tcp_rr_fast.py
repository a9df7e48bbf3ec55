"""The request/response path (issue 15, rr): a request that acknowledges the reply before it, answered by the echo
app.  ``TcpInput._fast_new_ack`` takes the request's ACK of new data inside header prediction (no ``_process_ack``)
for the common case and leaves every unusual one to ``_process_ack``; ``TcpPcb.recv`` skips ``_window_update`` when
the window cannot open by the worthwhile amount; the echo app answers with one recv and one send.  Differential
tests feed the same random requests, ACKs, windows, timestamps, device refusals, timeouts and FINs to a stack with
the fast paths and one without (and ``recv`` against its former self), comparing output, state, memory and the
app's counters at every step.  In virtual time, against a scripted peer."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.apps import TcpEchoServer
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from lwipy.core.tcp.states import CAN_RECEIVE, CLOSE_WAIT, CLOSED, ESTABLISHED
from lwipy.errors import LwipError
from test_tcp_fastpath import ACK, FIN, PSH, assert_alike, established, frame, inject
from test_tcp_rx_discard import run_reads


def watch(monkeypatch, name: str) -> list:
    """Record the calls of ``TcpPcb.<name>`` (their first argument after the pcb)."""
    calls: list = []
    real = getattr(TcpPcb, name)

    def wrapper(self, *args, **kw):
        calls.append(args[0] if args else None)
        return real(self, *args, **kw)
    monkeypatch.setattr(TcpPcb, name, wrapper)
    return calls


class RecvEchoServer(TcpEchoServer):
    """The echo app on ``on_event`` alone, reading with ``recv`` (TcpEchoServer before lane13 gave it ``on_recv``):
    the pcb API's other way of serving requests, which these tests hold to the full path."""

    def _attach(self, pcb) -> None:
        pcb.on_event = self._event
        pcb.notify_sent = False

    def _event(self, pcb) -> None:
        pending = self._pending
        if not pcb.rcv_buf and not pending and pcb.state == ESTABLISHED:
            return
        backlog = pending.get(id(pcb)) if pending else None
        try:
            if backlog is None:
                while pcb.rcv_buf:
                    data = pcb.recv()
                    n = len(data)
                    self.bytes_in += n
                    took = pcb.send(data)
                    self.bytes_out += took
                    if took < n:
                        backlog = pending[id(pcb)] = bytearray(memoryview(data)[took:])
                        pcb.notify_sent = True
                        break  # the send buffer is full: reading more would only grow the backlog
            else:
                while True:
                    if backlog:
                        took = pcb.send(backlog)
                        self.bytes_out += took
                        del backlog[:took]
                        if backlog:
                            break
                    if not pcb.readable:
                        break
                    backlog += self._drain(pcb)
                if not backlog:
                    del pending[id(pcb)]
                    backlog = None
                    pcb.notify_sent = False
        except LwipError:
            pending.pop(id(pcb), None)
            backlog = None
            pcb.notify_sent = False
        state = pcb.state
        if state == CLOSED:
            pending.pop(id(pcb), None)
        elif state == CLOSE_WAIT and backlog is None and pcb.at_eof:
            pcb.close()


def echo_connection(ts: bool, fast: bool = True, **options):
    """An ESTABLISHED connection served by the echo app on ``on_event`` and ``recv`` (:class:`RecvEchoServer`)."""
    t, pcb, _ = established(ts=ts, fast=fast, reader=False, **options)
    server = RecvEchoServer(t.stack, 7)
    server.connections += 1
    pcb.on_event = server._event
    return t, pcb, server


def request(t, pcb, data: bytes, ack: int | None = None, ts: tuple[int, int] | None = None, **kw) -> None:
    inject(t, frame(t, t.peer_seq, pcb.snd_max if ack is None else ack, ACK | PSH, data, ts=ts, **kw))
    t.peer_seq += len(data)


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_requests_acknowledging_the_reply_are_answered_without_process_ack(ts, monkeypatch):
    t, pcb, server = echo_connection(ts)
    request(t, pcb, b"q" * 64, ts=(500, 0) if ts else None)  # the first: acknowledges nothing new
    t.dev.take()
    process_ack, new_ack = watch(monkeypatch, "_process_ack"), watch(monkeypatch, "_fast_new_ack")
    idle = watch(monkeypatch, "_fast_request")  # rr9: a request acknowledging everything sent
    for i in range(10):
        before = pcb.snd_max
        request(t, pcb, bytes([65 + i]) * 64, ts=(501 + i, 0) if ts else None)
        (reply,) = t.sent()
        assert bytes(reply.payload) == bytes([65 + i]) * 64 and reply.seq == before and reply.ack == t.peer_seq
        assert "A" in str(reply.flags)
    assert process_ack == [] and new_ack == [] and len(idle) == 10
    assert t.stack.tcp.fast_taken == 11 and pcb.snd_una == pcb.snd_max - 64
    assert server.bytes_in == server.bytes_out == 11 * 64 and not server._pending
    assert pcb.delack_at is None and pcb.unacked_segments == 0  # each reply carried the ACK
    request(t, pcb, b"h" * 64, ack=pcb.snd_max - 32, ts=(600, 0) if ts else None)  # half the reply: not idle
    # (asked first, it declined: _fast_input and _fast_new_ack took it)
    assert process_ack == [] and len(new_ack) == 1 and len(idle) == 11 and t.stack.tcp.fast_taken == 12


# -- left for every unusual one ----------------------------------------------------------------------------------------
def _fin_queued(t, pcb):
    pcb.on_event = None
    pcb.send(b"r" * 64)
    pcb.shutdown()  # FIN_WAIT_1: the FIN queued after the data


def _recovery(t, pcb):
    pcb.on_event = None
    pcb.nodelay = True
    pcb.send(b"r" * 3000)
    for _ in range(3):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK))
    assert pcb.cc.recover is not None


def _fast_path_off(t, pcb):
    t.stack.tcp.fast_path = False


CONNECTIONS = {"FIN queued": _fin_queued, "fast recovery": _recovery, "fast path off": _fast_path_off}


@pytest.mark.parametrize("case", sorted(CONNECTIONS))
def test_unusual_connections_leave_it_to_process_ack(case, monkeypatch):
    t, pcb, _ = echo_connection(False)
    request(t, pcb, b"q" * 64)
    CONNECTIONS[case](t, pcb)
    t.dev.take()
    process_ack, new_ack = watch(monkeypatch, "_process_ack"), watch(monkeypatch, "_fast_new_ack")
    idle = watch(monkeypatch, "_fast_request")
    una = pcb.snd_una
    request(t, pcb, b"w" * 10, ack=una + 10)
    assert new_ack == [] and len(process_ack) == 1 and len(idle) == (case != "fast path off")  # (asked: it declined)
    assert pcb.snd_una == (una + 10) & MASK and pcb.rcv_nxt == t.peer_seq  # the other way took it


def test_a_request_acknowledging_nothing_new_takes_neither(monkeypatch):
    t, pcb, server = echo_connection(False)
    process_ack, new_ack = watch(monkeypatch, "_process_ack"), watch(monkeypatch, "_fast_new_ack")
    idle = watch(monkeypatch, "_fast_request")
    request(t, pcb, b"q" * 64)
    assert process_ack == [] and new_ack == [] == idle and server.bytes_out == 64


# -- the differential test ---------------------------------------------------------------------------------------------
# (kind, request size, ACK: fraction of the flight acknowledged, window, timestamp kind, dt)
STEP = st.tuples(
    st.sampled_from(["request"] * 10 + ["full", "time", "fin", "read_some"]),
    st.sampled_from([64, 64, 64, 1, 700, 1400, 3000]),
    st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, -1.0]),  # -1: an ACK of unsent data
    st.sampled_from([65535, 65535, 65535, 2000, 64, 0]),
    st.sampled_from(["ok"] * 6 + ["none", "old"]),
    st.sampled_from([0.0, 0.0, 0.05, 0.3, 2.0]),
)


def run_both(ts: bool, steps: list, snd_buf: int = 5760) -> int:
    """The same steps through a stack with the fast paths and one without, compared after each; returns the
    requests ``_fast_new_ack`` or (rr9) ``_fast_request`` took."""
    runs = [echo_connection(ts, fast, tcp_snd_buf_default=snd_buf) for fast in (True, False)]
    for t, _pcb, _server in runs:
        t.at(5.0)  # lwipy's TSval is the clock in ms: echoes of it are not 0 (which means no echo)
    taken = 0
    real, real_request = TcpPcb._fast_new_ack, TcpPcb._fast_request

    def counting(self, *args):
        nonlocal taken
        taken += 1
        return real(self, *args)

    def counting_request(self, *args):
        nonlocal taken
        took = real_request(self, *args)
        taken += took  # (asked first for every request acknowledging something: counted when it took it)
        return took
    TcpPcb._fast_new_ack, TcpPcb._fast_request = counting, counting_request
    try:
        tsval = 1000
        for step in steps:
            kind, size, share, window, tsk, dt = step
            tsval += 1
            for t, pcb, _server in runs:
                stamp = {"ok": (tsval, (int(t.now * 1000) - 3) & MASK), "none": None, "old": (5, 0)}[tsk] \
                    if ts else None
                flight = (pcb.snd_max - pcb.snd_una) & MASK
                ack = pcb.snd_max + 10 if share < 0 else pcb.snd_una + int(flight * share)
                if kind == "request":
                    inject(t, frame(t, t.peer_seq, ack, ACK | PSH, bytes([size & 0xFF]) * size, window=window,
                                    ts=stamp))
                elif kind == "fin":
                    inject(t, frame(t, t.peer_seq, ack, ACK | FIN, window=window, ts=stamp))
                elif kind == "full":
                    t.dev.full = not t.dev.full  # the device refuses (ENOMEM) until the next "full" step
                elif kind == "read_some":
                    if pcb.state in CAN_RECEIVE and pcb.readable:
                        pcb.recv(size)  # the application reads part of what waits (none does with the echo app)
                else:
                    t.at(t.now + dt)
            (ta, pa, sa), (tb, pb, sb) = runs
            if kind in ("request", "fin"):
                for t, pcb, _server in runs:  # the peer's next byte: what lwipy took (it may trim or drop)
                    t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else t.peer_seq
            assert_alike((ta, pa), (tb, pb), step, memory=True)
            assert (sa.bytes_in, sa.bytes_out, list(sa._pending.values())) \
                == (sb.bytes_in, sb.bytes_out, list(sb._pending.values()))
    finally:
        TcpPcb._fast_new_ack, TcpPcb._fast_request = real, real_request
    assert runs[1][0].stack.tcp.fast_taken == 0
    return taken


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), small=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=40))
def test_fast_and_full_paths_agree_for_request_response(ts, small, steps):
    run_both(ts, steps, snd_buf=2440 if small else 5760)  # small: replies held back by a full send buffer


@pytest.mark.parametrize("ts", [True, False])
def test_differential_exercises_the_request_path(ts):
    """The comparison is worth something only when the sequences take the new path."""
    def step(kind="request", size=64, share=1.0, window=65535, tsk="ok", dt=0.0):
        return (kind, size, share, window, tsk, dt)
    steps = [step(), step(), step(), step(size=1400), step(share=0.5), step(), step("time", dt=0.3), step(),
             step(window=64), step(), step("full"), step(), step("full"), step(), step(size=3000), step(), step()]
    assert run_both(ts, steps) >= 10
    assert run_both(ts, steps, snd_buf=2440) >= 5


# -- recv: the window update looked at only when the window can open by the worthwhile amount -----------------------------
READ_STEP = st.tuples(st.sampled_from(["data"] * 4 + ["read", "read", "read_held", "recved"]),
                      st.one_of(st.sampled_from([1, 64, 100, 500, 1000, 1220, 1428, 1440, 3000]),
                                st.integers(1, 3000)))


@settings(max_examples=examples(300), deadline=None)
@given(ts=st.booleans(), wnd=st.sampled_from([5760, 8192, 2440, 65535]), steps=st.lists(READ_STEP, max_size=40))
def test_recv_sends_the_same_window_updates_as_before(ts, wnd, steps):
    run_reads(ts, wnd, 0, steps)  # (rx8: with batches, FINs and scaled windows there too)


def test_a_read_that_opens_the_window_still_updates_it():
    """The shortcut's other side: reading a full window's worth reopens it at once (a window update)."""
    t, pcb, _ = established(ts=False, reader=False, tcp_wnd_default=5760)
    for _ in range(4):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"f" * 1000))
        t.peer_seq += 1000
    t.dev.take()
    assert pcb.state in CAN_RECEIVE and pcb.recv() == b"f" * 4000
    (update,) = t.sent()
    assert update.window > 5760 - 4000 and update.ack == t.peer_seq


def test_echo_holds_what_the_send_buffer_refuses_and_sends_it_as_it_drains():
    t, pcb, server = echo_connection(False, tcp_snd_buf_default=2440)
    request(t, pcb, b"a" * 2000)
    request(t, pcb, b"b" * 2000, ack=pcb.snd_una)  # 440 bytes fit: 1560 wait in the app
    assert bytes(server._pending[id(pcb)]) == b"b" * 1560 and server.bytes_out == 2440
    for _ in range(4):  # everything acknowledged, again and again: the rest goes
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK))
    assert id(pcb) not in server._pending and server.bytes_out == server.bytes_in == 4000
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | FIN))
    assert pcb.state_name == "LAST_ACK"  # the app closed after the peer's FIN, nothing held back


def test_echo_drops_its_backlog_when_the_connection_fails():
    t, pcb, server = echo_connection(False, tcp_snd_buf_default=2440)
    request(t, pcb, b"a" * 3000)
    assert id(pcb) in server._pending
    inject(t, frame(t, t.peer_seq, pcb.snd_una, 0x04))  # RST
    assert pcb.state_name == "CLOSED" and pcb.error == errno.ECONNRESET and id(pcb) not in server._pending


# -- the window offered: the raw free space looked at first (tcp_out's _window_bytes, rr's block) ----------------------
def old_window_bytes(pcb) -> int:
    """``_window_bytes`` before the shortcut (the reference)."""
    free = pcb._free_window()
    offered = (pcb.rcv_adv - pcb.rcv_nxt) & MASK if (pcb.rcv_adv - pcb.rcv_nxt) & MASK <= 0x80000000 else 0
    if free - offered < min(pcb.mss - 12 if pcb.ts_ok else pcb.mss, pcb.rcv_buf_limit // 2):
        return offered
    return max(free, offered)


@settings(max_examples=examples(500), deadline=None)
@given(ts=st.booleans(), limit=st.sampled_from([2440, 5760, 8192, 65535, 1 << 20]), scale=st.integers(0, 7),
       used=st.integers(0, 70000), held=st.integers(0, 3000),
       adv=st.one_of(st.integers(-3000, 70000), st.sampled_from([0x7FFFFFFF, 0x80000000, 0x80000001])),
       mss=st.sampled_from([536, 1000, 1440, 1460]), state=st.sampled_from(["ESTABLISHED", "SYN_RCVD", "CLOSE_WAIT"]))
def test_window_bytes_answers_as_before(ts, limit, scale, used, held, adv, mss, state):
    from lwipy.core.tcp import states
    t, pcb, _ = established(ts=ts, reader=False)
    pcb.rcv_buf_limit, pcb.rcv_wscale, pcb.mss, pcb.state = limit, scale, mss, getattr(states, state)
    pcb.rcv_buf = bytearray(min(used, limit))
    pcb.rcv_held = held
    pcb.rcv_adv = (pcb.rcv_nxt + adv) & MASK
    assert pcb._window_bytes() == old_window_bytes(pcb)


# -- MemStats.change in one call -------------------------------------------------------------------------------------------
@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["change", "alloc", "free"]), st.integers(0, 10), st.integers(-5000, 5000)),
                max_size=60))
def test_memstats_change_is_alloc_or_free_without_elements(ops):
    """``change`` (one call, rr's path) leaves current, peak and totals as ``alloc``/``free`` of the same bytes with no
    element count did before it: the reference."""
    from lwipy.core.mem import MemStats
    a, b = MemStats(), MemStats()
    for op, cat, n in ops:
        if op == "change":
            a.change(cat, n)
            if n > 0:
                b.alloc(cat, n, 0)
            elif n:
                b.free(cat, -n, 0)
        else:
            getattr(a, op)(cat, abs(n), 1)
            getattr(b, op)(cat, abs(n), 1)
        assert a.report() == b.report()
