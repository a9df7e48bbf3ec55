"""rr10: ``TcpPcb.notify_sent`` (lwIP's ``tcp_sent`` callback, registered or not): ACKs that free send buffer tell
``on_event`` only while it is True, whichever way takes the ACK (``fastpath.fast_pure_ack``, ``_fast_new_ack``,
``_fast_request``, the full path's ``_acked_output``, a batch's ``Tcp.flush_output``); the echo app keeps it False
while it holds nothing back, and a differential test feeds the same random requests to the echo app as it is, to one
told of every ACK's room (as before) and to the first without the fast paths: the same frames, state, memory and
app counters after every step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.apps import TcpEchoServer
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from test_tcp_fastpath import ACK, FIN, PSH, established, frame, inject, snapshot
from test_tcp_rr_fast import STEP


class Recorder:
    """An application that records each event (what was readable then) and reads nothing."""

    def __init__(self, pcb) -> None:
        self.events: list[int] = []
        pcb.on_event = self.event

    def event(self, pcb) -> None:
        self.events.append(pcb.readable)


def _pure_ack(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_una + 500))


def _data_acking_part(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_una + 500, ACK | PSH, b"d" * 10))


def _request(t, pcb):
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"r" * 10))


def _full_path(t, pcb):
    t.stack.tcp.fast_path = False
    inject(t, frame(t, t.peer_seq, pcb.snd_una + 500))


def _batch(t, pcb):
    t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_una + 500)], t.now)


WAYS = {"fast pure ACK": ("fast_pure_ack", _pure_ack), "fast new ACK": ("_fast_new_ack", _data_acking_part),
        "request": ("_fast_request", _request), "full path": ("_acked_output", _full_path),
        "batch": ("_defer_output", _batch)}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("notify", [True, False])
def test_an_acks_room_is_told_only_when_asked(way, notify, monkeypatch):
    name, feed = WAYS[way]
    t, pcb, _ = established(ts=False, reader=False, tcp_snd_buf_default=20000)
    pcb.cc.cwnd = 20000  # (the whole buffer in flight: a batch's ACK defers its sends, tx64)
    pcb.send(b"x" * (16000 if way == "batch" else 1000 if way == "request" else 3000))
    t.dev.take()
    app = Recorder(pcb)
    pcb.notify_sent = notify
    calls = []
    if name == "fast_pure_ack":
        import lwipy.core.tcp.fastpath as fastpath
        real = fastpath.fast_pure_ack
        monkeypatch.setattr(fastpath, "fast_pure_ack", lambda *a: calls.append(1) or real(*a))
    else:
        real_method = getattr(TcpPcb, name)
        monkeypatch.setattr(TcpPcb, name, lambda self, *a: calls.append(1) or real_method(self, *a))
    una = pcb.snd_una
    feed(t, pcb)
    assert calls, f"{way} not taken"
    assert pcb.snd_una != una, "nothing acknowledged"
    room_events = [r for r in app.events if r == 0]
    assert room_events == ([0] if notify else []), app.events
    if way in ("fast new ACK", "request"):
        assert app.events[-1] == 10  # the data's event all the same


def test_the_echo_app_asks_for_room_only_while_it_holds_something_back():
    t, pcb, _ = established(ts=False, reader=False, tcp_snd_buf_default=2440)
    server = TcpEchoServer(t.stack, 7)
    server._attach(pcb)
    assert pcb.notify_sent is False
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"a" * 3000))
    t.peer_seq += 3000
    assert id(pcb) in server._pending and pcb.notify_sent is True
    for _ in range(4):
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK))
    assert id(pcb) not in server._pending and pcb.notify_sent is False and server.bytes_out == 3000


# -- the differential test ---------------------------------------------------------------------------------------------
class AlwaysTold(TcpEchoServer):
    """The echo app as before rr10: told of every ACK's room."""

    def _event(self, pcb) -> None:
        super()._event(pcb)
        pcb.notify_sent = True


def echo(fast: bool, cls, ts: bool, snd_buf: int):
    t, pcb, _ = established(ts=ts, fast=fast, reader=False, tcp_snd_buf_default=snd_buf)
    server = cls(t.stack, 7)
    server.connections += 1
    server._attach(pcb)
    if cls is AlwaysTold:
        pcb.notify_sent = True
    return t, pcb, server


def run_three(ts: bool, steps: list, snd_buf: int) -> int:
    """The same steps (test_tcp_rr_fast's) through the echo app as it is, as before rr10, and as it is without the
    fast paths, compared after each; returns how many times the first was told of room."""
    runs = [echo(True, TcpEchoServer, ts, snd_buf), echo(True, AlwaysTold, ts, snd_buf),
            echo(False, TcpEchoServer, ts, snd_buf)]
    for t, _pcb, _server in runs:
        t.at(5.0)
    told = 0
    tsval = 1000
    for step in steps:
        kind, size, share, window, tsk, dt = step
        tsval += 1
        for t, pcb, _server in runs:
            stamp = {"ok": (tsval, (int(t.now * 1000) - 3) & MASK), "none": None, "old": (5, 0)}[tsk] if ts else None
            flight = (pcb.snd_max - pcb.snd_una) & MASK
            ack = pcb.snd_max + 10 if share < 0 else pcb.snd_una + int(flight * share)
            if kind == "request":
                inject(t, frame(t, t.peer_seq, ack, ACK | PSH, bytes([size & 0xFF]) * size, window=window, ts=stamp))
            elif kind == "fin":
                inject(t, frame(t, t.peer_seq, ack, ACK | FIN, window=window, ts=stamp))
            elif kind == "full":
                t.dev.full = not t.dev.full
            elif kind == "read_some":
                inject(t, frame(t, t.peer_seq, ack, window=window, ts=stamp))  # (here: a pure ACK)
            else:
                t.at(t.now + dt)
            if kind in ("request", "fin"):
                t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else t.peer_seq
        told += runs[0][1].notify_sent
        (ta, pa, sa), *others = runs
        sent = ta.dev.take()
        state = snapshot(ta, pa) | {"notify_sent": None}
        for tb, pb, sb in others:
            assert tb.dev.take() == sent, f"different output after {step}"
            assert snapshot(tb, pb) | {"notify_sent": None} == state, f"different state after {step}"
            assert tb.stack.mem.report() == ta.stack.mem.report(), f"different memory after {step}"
            assert (sb.bytes_in, sb.bytes_out, list(sb._pending.values())) \
                == (sa.bytes_in, sa.bytes_out, list(sa._pending.values()))
    return told


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), small=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=40))
def test_the_echo_app_answers_as_when_told_of_every_acks_room(ts, small, steps):
    run_three(ts, steps, 2440 if small else 5760)


def test_differential_exercises_a_held_back_reply():
    """The comparison is worth something only when the echo app holds something back (and asks for room)."""
    def step(kind="request", size=64, share=1.0, window=65535, tsk="ok", dt=0.0):
        return (kind, size, share, window, tsk, dt)
    steps = [step(), step(size=3000), step(share=0.0), step("read_some"), step(), step("read_some"), step(),
             step("read_some", share=0.5), step("read_some"), step()]
    assert run_three(False, steps, 2440) >= 2
