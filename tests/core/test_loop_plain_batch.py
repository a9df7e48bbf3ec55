"""rr1: a turn of the loop reads a plain device (``Device.frame_read_size``: every frame one read of its
descriptor, a TAP without offload) itself, ``StackLoop._plain_batch``, rather than through the device's ``frames()``:
every frame in order until the read that finds nothing (EAGAIN), the interface going away (EIO) ending the batch
quietly, and the turn cut as ``_batch`` cuts it (calls posted, ``BATCH_TIME`` over, by the default clock or a clock
of the caller's) without losing a frame."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from lwipy.api.loop import StackLoop
from test_loop_latency import FramesTap, SocketTap, Watched, _socket_tap_stack, echo_request, logging_reads


class NoFramesTap(SocketTap):
    """A plain device whose ``frames()`` a turn must not need: it logs each call ("frames")."""

    def frames(self):
        self.log.append("frames")
        return super().frames()


def per_call(stack) -> list[int]:
    """How many frames each ``input_many`` call of ``stack`` took (counted as the stack takes them)."""
    taken: list[int] = []
    real = stack.input_many

    def input_many(netif, frames, now, first=None, bare=False):
        taken.append(0 if first is None else 1)

        def counted():
            for frame in frames:
                taken[-1] += 1
                yield frame
        real(netif, counted(), now, first, bare)
    stack.input_many = input_many
    return taken


def replies(sock, n: int) -> list[int]:
    """The sequence numbers of the next ``n`` echo replies on ``sock`` (other frames skipped)."""
    got = []
    while len(got) < n:
        frame = sock.recv(2000)
        if frame[12:14] == b"\x08\x00" and frame[34] == 0:
            got.append(struct.unpack("!H", frame[40:42])[0])
    return got


def test_a_turn_reads_a_plain_device_itself_to_the_end(monkeypatch):
    """Frames waiting when the loop starts: its first turn reads them all, in order, in one batch, and a read that
    finds nothing ends the reading, without asking the device's frames() (a batch time long enough for any
    machine's pace)."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "BATCH_TIME", 60.0)
    a, b, stack, dev = _socket_tap_stack(kind=NoFramesTap)
    logging_reads(monkeypatch, dev)
    taken = per_call(stack)
    for seq in range(1, 11):
        a.send(echo_request(seq))
    loop = StackLoop(stack).start()
    try:
        assert replies(a, 10) == list(range(1, 11))
        loop.call(lambda: None, timeout=30)  # (a call cuts the batch it finds: the turn after it reads to the end)
        log = loop.call(lambda: list(dev.log), timeout=30)
        assert "frames" not in log
        reads = [e for e in log if e != "write"]
        assert reads[:10] == ["read"] * 10 and "empty" in reads
        assert taken[0] == 10
    finally:
        loop.stop()
        a.close()
        b.close()


@pytest.mark.parametrize("clock", ["default", "own"])
def test_a_plain_batch_is_cut_when_its_time_is_over_and_the_rest_read_next_turn(monkeypatch, clock):
    """No time at all per turn: each turn takes one frame of a plain device and turns again; none is lost.  With the
    loop's default clock the batch reads time.monotonic itself; with a clock of the caller's it asks that one."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "BATCH_TIME", 0.0)
    a, b, stack, dev = _socket_tap_stack(kind=NoFramesTap)
    asked = []
    ticks = iter(range(10 ** 9))

    def own() -> float:
        asked.append(1)
        return next(ticks) * 1e-3  # every reading later than the one before
    taken = per_call(stack)
    for seq in range(1, 21):
        a.send(echo_request(seq))
    loop = StackLoop(stack, clock=own if clock == "own" else None).start()
    try:
        assert replies(a, 20) == list(range(1, 21))
        counts = loop.call(lambda: [n for n in taken if n], timeout=30)
        assert counts == [1] * 20
        assert "frames" not in dev.log
        assert (len(asked) > 20) == (clock == "own")
    finally:
        loop.stop()
        a.close()
        b.close()


def test_a_clock_that_stands_still_never_cuts_the_batch(monkeypatch):
    """With a clock of the caller's that does not move, BATCH_TIME never passes: one batch takes every frame (the
    caller's clock is the one the batch reads, not time.monotonic)."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "BATCH_TIME", 0.0)
    a, b, stack, dev = _socket_tap_stack(kind=NoFramesTap)
    taken = per_call(stack)
    for seq in range(1, 16):
        a.send(echo_request(seq))
    loop = StackLoop(stack, clock=lambda: 5.0).start()
    try:
        assert replies(a, 15) == list(range(1, 16))
        assert loop.call(lambda: [n for n in taken if n], timeout=30) == [15]
    finally:
        loop.stop()
        a.close()
        b.close()


@pytest.mark.parametrize("kind", [NoFramesTap, FramesTap], ids=["plain", "frames"])
def test_calls_posted_meanwhile_cut_a_plain_batch(kind):
    """A call posted while a batch is read (here by the stack's own input, as a callback would) cuts the batch: the
    call runs before the rest of the frames, which the next turn reads.  The same for a batch of a device's
    ``frames()`` (``_batch``)."""
    a, b, stack, dev = _socket_tap_stack(kind=kind)
    loop = StackLoop(stack)
    order: list = []
    count = {"n": 0}
    real_many = stack.input_many

    def input_many(netif, frames, now, first=None, bare=False):
        def posting():
            for frame in frames:
                count["n"] += 1
                order.append(("frame", count["n"]))
                if count["n"] == 3:
                    loop.call_soon(lambda: order.append(("call", count["n"])))
                yield frame
        real_many(netif, posting(), now, first, bare)
    stack.input_many = input_many
    for seq in range(1, 7):
        a.send(echo_request(seq))
    loop.start()
    try:
        assert replies(a, 6) == list(range(1, 7))
        seen = loop.call(lambda: list(order), timeout=30)
        assert seen[:4] == [("frame", 1), ("frame", 2), ("frame", 3), ("call", 3)], seen
        assert [e for e in seen if e[0] == "frame"] == [("frame", n) for n in range(1, 7)]
    finally:
        loop.stop()
        a.close()
        b.close()


def test_an_interface_going_away_ends_a_plain_batch_quietly(monkeypatch):
    """EIO (a TAP whose interface is down) from a turn's read ends the batch as EAGAIN does: the loop serves on."""
    a, b, stack, dev = _socket_tap_stack(kind=NoFramesTap)
    real = os.read
    state = {"eio": 1}

    def read(fd, size):
        if fd == dev.fd and state["eio"]:
            state["eio"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)
    monkeypatch.setattr(os, "read", read)
    a.send(echo_request(1))
    loop = StackLoop(stack).start()
    try:
        assert replies(a, 1) == [1]
        assert state["eio"] == 0
        a.send(echo_request(2))
        assert replies(a, 1) == [2]
        assert loop.running
    finally:
        loop.stop()
        a.close()
        b.close()


@pytest.mark.parametrize("kind, bare", [(NoFramesTap, True), (FramesTap, False)])
def test_a_plain_devices_batches_are_bare_and_a_frame_readers_are_not(monkeypatch, kind, bare):
    """in13: the loop tells ``input_many`` that a plain device's batch (its reads) holds bare frames, in a turn and
    in the wake-up a frame brings, so that no frame is asked its type; a device read through its ``frames()``
    (which may give an RxOffload) is not said to."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "BATCH_TIME", 60.0)
    a, b, stack, dev = _socket_tap_stack(kind=kind)
    said: list[tuple[str, bool]] = []
    real = stack.input_many

    def input_many(netif, frames, now, first=None, bare=False):
        def noted():
            for frame in frames:
                said.append(("batch", bare))
                yield frame
        if first is not None:
            said.append(("first", bare))
        real(netif, noted(), now, first, bare)
    stack.input_many = input_many
    for seq in range(1, 4):
        a.send(echo_request(seq))  # waiting when the loop starts: its first turn reads them
    watched = Watched(StackLoop(stack))
    try:
        assert replies(a, 3) == [1, 2, 3]
        # a frame the fast answer declines (a ping to another address) wakes the loop: handed on as the batch's first
        watched.send_when_asleep(a, echo_request(4, dst=bytes([10, 0, 0, 99])))
        watched.loop.call(lambda: None, timeout=30)
        seen = watched.loop.call(lambda: list(said), timeout=30)
        assert ("first", bare) in seen and ("batch", bare) in seen and {b for _, b in seen} == {bare}, seen
    finally:
        watched.stop()
        a.close()
        b.close()


@pytest.mark.parametrize("waiting, eio_at", [(5, None), (3, None), (2, None), (0, None), (5, 0), (5, 2)])
def test_a_plain_batch_hands_on_its_bound_of_frames_at_most_and_loses_none(monkeypatch, waiting, eio_at):
    """With ``_PLAIN_BATCH`` 3, a batch
    hands on the frames waiting in order, 3 at most (the next batch the rest), reads no frame it does not hand on,
    is marked fed when it handed one on (in15: noted where it ends, however it ends: EAGAIN, EIO, its bound or a
    cut), ends on EAGAIN or EIO (at the first read or a later one), and is cut when its time is over after its last
    frame as after any other."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "_PLAIN_BATCH", 3)
    monkeypatch.setattr(loop_module, "BATCH_TIME", 60.0)
    a, b, stack, dev = _socket_tap_stack()
    loop = StackLoop(stack)
    real = os.read
    reads = {"n": 0}

    def read(fd, size):
        reads["n"] += 1
        if reads["n"] - 1 == eio_at:
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)
    monkeypatch.setattr(os, "read", read)
    try:
        for seq in range(1, waiting + 1):
            a.send(echo_request(seq))
        got: list[bytes] = []
        for _ in range(3):
            loop._fed = loop._cut = False
            batch = list(loop._plain_batch(dev.fd, 1518, loop.clock()))
            assert len(batch) <= 3 and loop._fed is bool(batch) and not loop._cut
            got += batch
        assert got == [echo_request(seq) for seq in range(1, waiting + 1)]  # (EIO's batch ended, the next read on)
        if eio_at is None:  # as many reads as frames, and one that found nothing for each batch not full
            assert reads["n"] == waiting + sum(1 for n in (waiting, waiting - 3, waiting - 6) if max(n, 0) < 3)
        monkeypatch.setattr(loop_module, "BATCH_TIME", -1.0)  # the time over at once: each frame cuts the batch
        for seq in (7, 8, 9):
            a.send(echo_request(seq))
        loop._fed = loop._cut = False
        assert list(loop._plain_batch(dev.fd, 1518, loop.clock())) == [echo_request(7)] and loop._cut and loop._fed
        monkeypatch.setattr(loop_module, "_PLAIN_BATCH", 1)  # the batch's last frame: cut as well, when it is time
        loop._fed = loop._cut = False
        assert list(loop._plain_batch(dev.fd, 1518, loop.clock())) == [echo_request(8)] and loop._cut and loop._fed
        monkeypatch.setattr(loop_module, "BATCH_TIME", 60.0)
        loop._fed = loop._cut = False
        assert list(loop._plain_batch(dev.fd, 1518, loop.clock())) == [echo_request(9)] and not loop._cut \
            and loop._fed
    finally:
        loop.close()
        a.close()
        b.close()
