"""The receive direction's per-segment path (issue 15, rx8: a bulk receiver such as the discard server at ESP-IDF's
defaults): what was cut from it answers as before.  ``TcpPcb.recv`` asks for the window update's ACK itself
(``_ack_now``) when the room in whole segments opens the window, instead of ``_window_update`` working the same
figures out again; compared with ``recv`` as it was before rr (``_window_update`` after every read that reopens) on
random segments, batches, reads, held reads, FINs and scaled windows.  Header prediction counts the received bytes
(``TcpMem._mem_rcv_count``) from the sum its window check worked out, and again after a callback changed the
buffer: the fast and the full path against a reader that leaves data and holds some, with two-way traffic, give the
same output, state and memory figures.  A frame cut short of its IPv4 length (its checksum still passing) is left to
the full path.  In virtual time, against a scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.errors import LwipError
from lwipy.core.tcp.pcb import TcpPcb
from test_tcp_fastpath import ACK, FIN, PSH, TS, established, frame, inject, snapshot
from tcp_script import TcpScript


def old_recv(self, max_bytes: int = 1 << 30, reopen: bool = True) -> bytes:
    """``TcpPcb.recv`` before the shortcut: ``_window_update`` after every read that reopens (the reference)."""
    n = min(max_bytes, len(self.rcv_buf))
    if n == 0:
        if self.error:
            raise LwipError(self.error, "the connection failed")
        return b""
    out = bytes(self.rcv_buf[:n])
    del self.rcv_buf[:n]
    if reopen:
        if not self.ack_due:
            self._window_update()
    else:
        self.rcv_held += n
    self._mem_rcv()
    return out


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


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("wnd, steps", [
    (5760, [("data", 1), ("data", 1), ("data", 1), ("read_held", 1), ("read", 64)]),  # bytes held: not room
    (2440, [("data", 1), ("data", 1), ("data", 1220), ("read", 500)]),  # half the buffer below a segment
])
def test_reads_at_the_edges_of_the_window_check(ts, wnd, steps):
    """Sequences where the room must leave out bytes held in a mailbox, and where the worthwhile amount is half a
    small buffer rather than a segment (random sequences seldom find them)."""
    run_reads(ts, wnd, 0, steps)


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


# -- the fast path's receive count, against the full path's: a reader that leaves data and holds some ------------------
class SlowReader:
    """Reads at most ``chunk`` bytes an event, every other read held (``recv(reopen=False)``, given back later): the
    buffer is seldom empty when a segment arrives, and an ACK's event changes it under the segment being taken."""

    def __init__(self, chunk: int) -> None:
        self.chunk, self.reads, self.got = chunk, 0, bytearray()

    def __call__(self, pcb) -> None:
        if pcb.readable:
            self.reads += 1
            self.got += pcb.recv(self.chunk, reopen=self.reads % 2 == 0)


# (kind, size, ACK advance): data acknowledging some of what we sent, our sends, the held bytes given back, time
TWO_WAY_STEP = st.tuples(st.sampled_from(["data"] * 5 + ["send", "send", "recved", "time"]),
                         st.one_of(st.sampled_from([1, 100, 700, 1000]), st.integers(1, 2500)),
                         st.sampled_from([0, 0, 1, 500, 1000, 4000]))


def run_two_way(ts: bool, chunk: int, steps: list) -> int:
    runs = [established(ts=ts, fast=fast, reader=False, tcp_wnd_default=5760) for fast in (True, False)]
    readers = [SlowReader(chunk) for _ in runs]
    for (_t, pcb, _), reader in zip(runs, readers, strict=True):
        pcb.on_event = reader
    tsval = 3000
    for kind, n, advance in steps:
        tsval += 1
        for t, pcb, _ in runs:
            if pcb.state_name == "CLOSED":
                continue
            if kind == "data":
                ack = (pcb.snd_una + min(advance, (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF)) & 0xFFFFFFFF
                inject(t, frame(t, t.peer_seq, ack, ACK | PSH, b"t" * min(n, 1000), ts=(tsval, 0) if ts else None))
                t.peer_seq = pcb.rcv_nxt
            elif kind == "send" and pcb.state_name == "ESTABLISHED":
                pcb.send(b"s" * n)
            elif kind == "recved" and pcb.rcv_held:
                pcb.recved(min(n, pcb.rcv_held))
            elif kind == "time":
                t.at(t.now + 0.3)
        (ta, pa, _), (tb, pb, _) = runs
        assert ta.dev.take() == tb.dev.take(), f"different output after {kind} {n}"
        assert snapshot(ta, pa) == snapshot(tb, pb), f"different state after {kind} {n}"
        assert ta.stack.mem.report() == tb.stack.mem.report()
        assert readers[0].got == readers[1].got
    return runs[0][0].stack.tcp.fast_taken


@settings(max_examples=examples(200), deadline=None)
@given(ts=st.booleans(), chunk=st.sampled_from([100, 700, 1500, 3000]), steps=st.lists(TWO_WAY_STEP, max_size=30))
def test_fast_and_full_paths_count_the_same_with_a_slow_reader(ts, chunk, steps):
    run_two_way(ts, chunk, steps)


@pytest.mark.parametrize("ts", [True, False])
def test_the_slow_reader_comparison_takes_the_fast_path(ts):
    steps = [("data", 1000, 0), ("send", 2000, 0), ("data", 1000, 1000), ("data", 1000, 500), ("recved", 900, 0),
             ("data", 1000, 500), ("send", 800, 0), ("data", 700, 4000), ("data", 1000, 0), ("recved", 2500, 0),
             ("data", 1000, 0)]
    assert run_two_way(ts, 700, steps) >= 6


# -- header prediction's look at the frame's length (fastpath.fast_input asks len once) -------------------------------
@pytest.mark.parametrize("cut", [0, 1, 2, 4])
def test_a_frame_shorter_than_its_ip_length_takes_the_full_path(cut):
    """A frame cut short of its IPv4 total length: its checksum can still pass (two zero bytes cut from the end are
    worth nothing in a ones' complement sum), so only the length check leaves it to the full path, which drops it."""
    t, pcb, _ = established(ts=False, reader=False)
    raw = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"z" * 6 + bytes(4))
    inject(t, raw[:len(raw) - cut])
    assert t.stack.tcp.fast_taken == (cut == 0)
    assert pcb.rcv_nxt == t.peer_seq + (10 if cut == 0 else 0)


# -- header prediction's checksum of a long segment, from adler32's byte sums -------------------------------------------
@settings(max_examples=examples(300), deadline=None)
@given(size=st.one_of(st.integers(0, 1500), st.integers(1500, 5700),
                      st.sampled_from([366, 367, 1428, 1440, 1460, 1516, 1517, 1518])),
       seed=st.integers(0, 2**32 - 1), delta=st.one_of(st.just(0), st.just(0), st.integers(1, 0xFFFF)),
       fill=st.sampled_from(["random", "zero", "ones"]))
def test_the_fast_paths_checksum_verdict_is_the_full_paths(size, seed, delta, fill):
    """Any length (odd ones, and past the three pieces of 256 bytes a parity that a 1,570-byte frame fills), any
    bytes (all ones: the largest sums), right or wrong (a checksum field of 0 and one of 0xFFFF are the same in
    ones' complement): the fast path takes the segment exactly when the full path's checksum accepts it."""
    import random
    from lwipy.wire.checksum import pseudo_sum_v4, verify
    from test_tcp_fastpath import OWN_B, PEER_B
    data = {"random": random.Random(seed).randbytes(size), "zero": bytes(size), "ones": b"\xff" * size}[fill]
    t, pcb, _ = established(ts=False, reader=False, tcp_wnd_default=5760)
    raw = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, data, tcp_csum_delta=delta)
    right = verify(raw[34:], pseudo_sum_v4(PEER_B, OWN_B, 6, len(raw) - 34))
    inject(t, raw)
    assert t.stack.tcp.fast_taken == (right and size > 0)
    assert pcb.rcv_nxt == t.peer_seq + (size if right else 0)
    assert t.stack.stats.tcp.chkerr == (not right)
