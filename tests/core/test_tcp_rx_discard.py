"""The receive direction's per-segment path (issue 15, rx8: a bulk receiver such as the discard server at ESP-IDF's
defaults): what was cut from it answers as before.  ``TcpPcb.recv`` asks for the window update's ACK itself
(``_ack_now``) when the room in whole segments opens the window, instead of ``_window_update`` working the same
figures out again; compared with ``recv`` as it was before rr (``_window_update`` after every read that reopens) on
random segments, batches, reads, held reads, FINs and scaled windows.  In virtual time, against a scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.core.tcp.pcb import TcpPcb
from test_tcp_fastpath import ACK, FIN, PSH, TS, established, frame, inject, snapshot
from test_tcp_rr_fast import old_recv
from tcp_script import TcpScript


def scaled(ts: bool, wnd: int, shift: int):
    """``established`` with window scaling agreed (our shift ``shift``, the peer's 0), no reader."""
    t = TcpScript(tcp_timestamps=ts, wnd_scale=True, tcp_rcv_scale=shift, tcp_wnd_default=wnd)
    t.stack.tcp.isn = lambda *args: 5000
    listener = t.stack.tcp.listen(t.port)
    t.send("S", options=[("MSS", 1000), ("WScale", 0)] + ([TS] if ts else []))
    t.iss = t.sent()[0].seq
    t.send("A", ack=t.iss + 1, options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))] if ts else [])
    t.dev.take()
    pcb = listener.accept()
    assert pcb is not None and pcb.rcv_wscale == shift
    return t, pcb, None


def connection(ts: bool, wnd: int, shift: int):
    if shift:
        return scaled(ts, wnd, shift)
    return established(ts=ts, reader=False, tcp_wnd_default=wnd)


# (kind, size): data segments one by one or as a batch (Stack.input_many), reads, held reads, recved, the peer's FIN
READ_STEP = st.tuples(st.sampled_from(["data"] * 3 + ["batch"] * 2 + ["read", "read", "read_held", "recved", "fin"]),
                      st.one_of(st.sampled_from([1, 64, 500, 1000, 1220, 1428, 1440, 3000]), st.integers(1, 3000)))


def run_reads(ts: bool, wnd: int, shift: int, steps: list) -> int:
    """The same steps through ``recv`` and through ``old_recv``; compared after each: output, state, memory.
    Returns the reads that asked for a window update (an ACK went after a read)."""
    runs = [connection(ts, wnd, shift) for _ in range(2)]
    runs[1][1].recv = old_recv.__get__(runs[1][1])
    tsval, updates = 2000, 0
    for kind, n in steps:
        tsval += 1
        for t, pcb, _ in runs:
            stamp = (tsval, 0) if ts else None
            if kind == "data":
                inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"d" * n, ts=stamp))
            elif kind == "batch":
                size = max(1, n // 3)
                frames = [frame(t, t.peer_seq + i * size, pcb.snd_una, ACK, b"b" * size, ts=stamp) for i in range(3)]
                t.stack.input_many(t.netif, frames, t.now)
            elif kind == "fin":
                inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | FIN, ts=stamp))
            elif kind == "read" and pcb.readable:
                pcb.recv(n)
                updates += t is runs[0][0] and bool(t.dev.frames)
            elif kind == "read_held" and pcb.readable:
                pcb.recv(n, reopen=False)
            elif kind == "recved" and pcb.rcv_held:
                pcb.recved(min(n, pcb.rcv_held))
        (ta, pa, _), (tb, pb, _) = runs
        for t, pcb, _ in runs:
            t.peer_seq = pcb.rcv_nxt
        assert ta.dev.take() == tb.dev.take(), f"different output after {kind} {n}"
        assert snapshot(ta, pa) == {k: v for k, v in snapshot(tb, pb).items() if k != "recv"}
        assert ta.stack.mem.report() == tb.stack.mem.report()
    return updates


@settings(max_examples=examples(300), deadline=None)
@given(ts=st.booleans(), wnd_shift=st.sampled_from([(5760, 0), (2440, 0), (65535, 0), (65536, 2), (262144, 3),
                                                     (20000, 1)]),
       steps=st.lists(READ_STEP, max_size=40))
def test_recv_asks_for_the_same_window_updates_as_before(ts, wnd_shift, steps):
    run_reads(ts, *wnd_shift, steps)


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("wnd, shift", [(5760, 0), (65535, 0), (65536, 2)])
def test_the_reads_comparison_sees_window_updates(ts, wnd, shift):
    """The comparison is worth something only when reads do open the window (and some in CLOSE_WAIT do not)."""
    steps = [("data", 1000), ("data", 1000), ("read", 3000), ("batch", 3000), ("read", 500), ("read", 3000),
             ("data", 1440), ("data", 1440), ("data", 1440), ("read", 3000), ("batch", 3000), ("read_held", 3000),
             ("recved", 3000), ("data", 1000), ("fin", 0), ("read", 3000)]
    if wnd == 5760:
        steps += [("data", 3000), ("data", 2000), ("read", 3000), ("read", 3000)]
    assert run_reads(ts, wnd, shift, steps) >= 2


def test_a_read_in_close_wait_sends_no_window_update():
    t, pcb, _ = established(ts=False, reader=False, tcp_wnd_default=5760)
    for _ in range(3):  # (in ESTABLISHED, reading these would open the window: test_the_reads_comparison...)
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"f" * 1440))
        t.peer_seq += 1440
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | FIN))
    assert pcb.state_name == "CLOSE_WAIT"
    t.dev.take()
    assert pcb.recv() == b"f" * 4320 and not t.dev.take()


def test_an_unscaled_read_asks_without_window_update(monkeypatch):
    """The cut itself: the ACK a read asks for, without ``_window_update`` (a scaled window still asks it)."""
    calls: list = []
    real = TcpPcb._window_update

    def wrapper(self):
        calls.append(self.rcv_wscale)
        return real(self)
    monkeypatch.setattr(TcpPcb, "_window_update", wrapper)
    for t, pcb, _ in (established(ts=False, reader=False, tcp_wnd_default=5760), scaled(False, 65536, 2)):
        for _ in range(4):
            inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"f" * 1000))
            t.peer_seq += 1000
        t.dev.take()
        pcb.recv()
        (update,) = t.dev.take()
        assert int.from_bytes(update[42:46], "big") == t.peer_seq
    assert calls == [2]
