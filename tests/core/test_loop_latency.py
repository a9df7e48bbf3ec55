"""The loop's latency path (api/loop.py, Device.frames, TapDevice.frames): a lone frame is answered before the read
that finds nothing more; a device that always has another frame cannot hold off posted calls or timers; and
TapDevice reads each frame only when the one before was taken."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections import deque

import pytest

from lwipy import Config, Stack
from lwipy.api.loop import BATCH_TIME, StackLoop
from lwipy.core.icmp import Icmp
from lwipy.netif.device import Device
from lwipy.netif.tap import TapDevice
from lwipy.wire.checksum import checksum

OWN_MAC, PEER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000099")
OWN_B, PEER_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def echo_request(seq: int = 1, src: bytes = PEER_B, dst: bytes = OWN_B, data: bytes = bytes(32)) -> bytes:
    icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x77, seq) + data)
    struct.pack_into("!H", icmp, 2, checksum(icmp))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0, src, dst))
    struct.pack_into("!H", ip, 10, checksum(ip))
    return OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + bytes(icmp)


class LazyDevice(Device):
    """An in-process device that logs its reads ("read", and "empty" for the read that finds nothing) and its
    transmits ("write"), handing frames out one at a time as a TAP does."""

    lazy_frames = True

    def __init__(self) -> None:
        self.inbox: deque[bytes] = deque()
        self.log: list[str] = []
        self.waker = None
        self.sent = threading.Event()

    def transmit(self, frame) -> bool:
        self.log.append("write")
        self.sent.set()
        return True

    def frames(self):
        while self.inbox:
            self.log.append("read")
            yield self.inbox.popleft()
        self.log.append("empty")

    def receive(self) -> list[bytes]:
        return list(self.frames())  # all at once: the empty read before any frame is handled

    def set_waker(self, waker) -> None:
        self.waker = waker

    def put(self, frame: bytes) -> None:
        self.inbox.append(frame)
        if self.waker is not None:
            self.waker()


def test_a_lone_ping_is_answered_before_the_empty_read():
    stack = Stack(Config(), seed=1)
    dev = LazyDevice()
    stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    loop = StackLoop(stack).start()
    try:
        loop.call(lambda: None)  # the loop runs and watches the device
        dev.sent.clear()
        loop.call(dev.log.clear)
        loop.call_soon(lambda: dev.put(echo_request()))
        assert dev.sent.wait(30)
        log = loop.call(lambda: list(dev.log))
    finally:
        loop.stop()
    i = log.index("read")
    assert log[i:i + 3] == ["read", "write", "empty"], log
    assert stack.icmp.fast_echoes == 1


class EndlessDevice(Device):
    """A device that always has another frame (for another station: dropped), as a ping-pong peer does whose next
    request is always there already."""

    lazy_frames = True

    def __init__(self) -> None:
        self.taken = 0
        self.frame = bytes.fromhex("020000000042") + PEER_MAC + b"\x08\x00" + bytes(46)

    def transmit(self, frame) -> bool:
        return True

    def frames(self):
        while True:
            self.taken += 1
            yield self.frame


class Due:
    """A poller due once, ``delay`` after it was made."""

    def __init__(self, stack: Stack, delay: float) -> None:
        self.at: float | None = stack.now + delay
        self.fired = threading.Event()

    def poll(self, now: float) -> None:
        if self.at is not None and now >= self.at:
            self.at = None
            self.fired.set()

    def poll_at(self) -> float | None:
        return self.at


@pytest.mark.parametrize("locking", [False, True], ids=["posted", "core_locking"])
def test_a_device_that_always_has_a_frame_cannot_hold_off_calls_or_timers(locking):
    """With core locking too: the loop that never sleeps never lets go of the core lock, and the calls are posted
    instead of waiting for it."""
    stack = Stack(Config(tcpip_core_locking=locking), seed=1)
    dev = EndlessDevice()
    stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    loop = StackLoop(stack).start()
    try:
        assert loop.call(lambda: 42, timeout=30) == 42
        due = loop.call(lambda: Due(stack, 0.05), timeout=30)
        loop.call(lambda: stack.add_poller(due), timeout=30)
        assert due.fired.wait(30)
        taken = loop.call(lambda: dev.taken, timeout=30)
        assert taken > 1  # the frames kept coming meanwhile, taken a batch at a time
    finally:
        loop.stop()
    assert BATCH_TIME <= 0.01


def test_tap_frames_reads_each_frame_when_the_one_before_was_taken():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # message boundaries, as a TAP's frames
    try:
        b.setblocking(False)
        dev = TapDevice.__new__(TapDevice)  # no TAP needed: a descriptor that hands out one frame per read
        dev.fd, dev.mtu, dev.offload = b.fileno(), 1500, False
        a.send(b"first")
        frames = dev.frames()
        assert next(frames) == b"first"
        a.send(b"second")  # sent after the first frame was taken: a lazy reader still sees it in this batch
        assert next(frames) == b"second"
        with pytest.raises(StopIteration):  # the empty read (EAGAIN) ends the batch
            next(frames)
        a.send(b"third")
        assert dev.receive() == [b"third"]  # receive() still reads everything at once
        assert dev.lazy_frames
        dev.offload = True
        assert dev.lazy_frames  # offload mode too (off9: tests/netif/test_offload.py reads its frames lazily)
    finally:
        a.close()
        b.close()


class Queue(Device):
    """An in-process device holding ``n`` echo requests; ``lazy`` hands them out one at a time (an override of
    ``frames``), else all at once from ``receive``."""

    def __init__(self, n: int) -> None:
        self.inbox = deque(echo_request(i) for i in range(n))
        self.replies = 0
        self.done = threading.Event()
        self.n = n

    def transmit(self, frame) -> bool:
        if frame[12:14] != b"\x08\x00" or frame[23] != 1 or frame[34] != 0:
            return True  # not an echo reply (the gratuitous ARP)
        self.replies += 1
        if self.replies == self.n:
            self.done.set()
        return True

    def receive(self) -> list[bytes]:
        out = list(self.inbox)
        self.inbox.clear()
        return out

    def set_waker(self, waker) -> None:
        if waker is not None and self.inbox:
            waker()


class LazyQueue(Queue):
    lazy_frames = True

    def frames(self):
        while self.inbox:
            yield self.inbox.popleft()


@pytest.mark.parametrize("device", [Queue, LazyQueue])
def test_no_frame_is_lost_when_a_turn_ends_early(monkeypatch, device):
    """With no time at all per turn, a lazy device gives one frame a turn and keeps the rest; a device that reads
    everything at once has every frame handled in the turn that read them."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "BATCH_TIME", 0.0)
    stack = Stack(Config(), seed=1)
    dev = device(50)
    stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    loop = StackLoop(stack).start()
    try:
        assert dev.done.wait(30)
        assert loop.call(lambda: (dev.replies, len(dev.inbox))) == (50, 0)
    finally:
        loop.stop()


# --- the idle wake-up: the waking TAP's frames first, and nothing else before the reply ---

class SocketTap(TapDevice):
    """A TapDevice over one end of a SOCK_SEQPACKET socketpair (one frame per read, as a TAP): no TAP needed.
    Logs its writes ("write"); :func:`logging_reads` logs the reads of its descriptor."""

    def __init__(self, fd: int) -> None:
        self.name, self.netns, self.fd, self.mtu, self.offload = "sock", None, fd, 1500, False
        self.checksum_offload, self.gso_max_size = False, 0
        self.rx_dropped = self.tx_dropped = self.rx_csum_errors = self.rx_gso = self.tx_gso = 0
        self.tx_ring = None
        self.log: list[str] = []

    def _write(self, frame, vnet_hdr) -> bool:
        self.log.append("write")
        return super()._write(frame, vnet_hdr)

    def close(self) -> None:
        pass


def _socket_tap_stack(wrap=lambda dev: dev, kind=None, **options):
    """A stack (``Config(**options)``) on a SocketTap (of class ``kind``, wrapped by ``wrap``): the peer's end, ours,
    the stack, its device."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.setblocking(False)
    a.settimeout(30)
    stack = Stack(Config(**options), seed=1)
    dev = wrap((kind or SocketTap)(b.fileno()))
    stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    return a, b, stack, dev


class Watched:
    """A loop run on a thread of its own with a profile hook: ``asleep`` is set while the loop waits in epoll's
    poll (so a frame sent then wakes it: the idle wake-up), and ``on_wake`` is called when that poll returns."""

    def __init__(self, loop: StackLoop) -> None:
        self.loop = loop
        self.asleep = threading.Event()
        self.on_wake = lambda: None
        self.extra = lambda frame, event, arg: None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _profile(self, frame, event, arg) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") in ("poll", "select"):
            self.asleep.set()
        elif event == "c_return" and getattr(arg, "__name__", "") in ("poll", "select"):
            self.asleep.clear()
            self.on_wake()
        else:
            self.extra(frame, event, arg)

    def _run(self) -> None:
        import sys
        sys.setprofile(self._profile)
        self.loop.run()

    def send_when_asleep(self, sock: socket.socket, frame: bytes, before=lambda: None) -> None:
        """Send ``frame`` once the loop sleeps (``before()`` just before, the loop asleep)."""
        self.loop.call(lambda: None, timeout=30)  # the loop turns, then sleeps
        assert self.asleep.wait(30)
        before()
        sock.send(frame)

    def stop(self) -> None:
        self.loop.stop()
        self.thread.join(30)


class TurnMark:
    """A poller that marks each turn of the loop (the loop asks every poller's poll_at once a turn) in a log, and
    says when a turn ended after a write."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.after_write = threading.Event()

    def poll(self, now: float) -> None:
        pass

    def poll_at(self) -> None:
        self.log.append("turn")
        if "write" in self.log:
            self.after_write.set()
        return None


def logging_reads(monkeypatch, dev: SocketTap) -> None:
    """Log every read of ``dev``'s descriptor in ``dev.log``, whoever makes it (the loop reads the first frame of a
    wake-up itself, ``Device.frame_read_size``, and the ping lane into its buffer, by ``os.readv``): "read" for a
    frame, "empty" for EAGAIN; ``dev.readvs`` counts the lane's.  Patched before the loop runs (the loop and the
    device's reader take ``os.read`` and ``os.readv`` when they start)."""
    dev.readvs = 0

    def logged(real, lane: bool):
        def read(fd, arg):
            if fd != dev.fd:
                return real(fd, arg)
            try:
                got = real(fd, arg)
            except BlockingIOError:
                dev.log.append("empty")
                raise
            dev.log.append("read")
            dev.readvs += lane
            return got
        return read

    monkeypatch.setattr(os, "read", logged(os.read, False))
    monkeypatch.setattr(os, "readv", logged(os.readv, True))


def logged_loop(monkeypatch, kind=None, **options):
    """A stack (``Config(**options)``) on a SocketTap (of class ``kind``) whose reads and turns are logged in
    ``dev.log``, and its loop running: the peer's end, ours, the stack, the device and the :class:`Watched` loop."""
    a, b, stack, dev = _socket_tap_stack(kind=kind, **options)
    logging_reads(monkeypatch, dev)
    stack.add_poller(TurnMark(dev.log))
    return a, b, stack, dev, Watched(StackLoop(stack))


def pings_to_a_sleeping_loop(watched: Watched, a: socket.socket, seqs: range) -> None:
    """Each ping sent once the loop sleeps, and its reply received: the first answered on a wake-up, the others in
    the ping lane (api/loop.py, s16) when nothing else had work."""
    for seq in seqs:
        watched.send_when_asleep(a, echo_request(seq)) if seq == seqs[0] else a.send(echo_request(seq))
        assert echo_reply(a)[40:42] == seq.to_bytes(2, "big")
        time.sleep(0.02)
        assert watched.asleep.wait(30)


def test_a_lone_ping_to_a_sleeping_loop_is_read_answered_and_slept_on(monkeypatch):
    """A ping to a sleeping loop whose only device is the TAP: its frame is read and answered when the descriptor
    wakes the loop, and the loop sleeps again at once: no empty read and no turn (nothing has work for one; on the
    VM the ping then runs sooner).  Only pings wake it here, so after the first answer the log is answers alone."""
    a, b, stack, dev, watched = logged_loop(monkeypatch)
    loop = watched.loop
    try:
        pings_to_a_sleeping_loop(watched, a, range(1, 6))  # (a call turned the loop before the first: it may race it)
        log = loop.call(lambda: list(dev.log), timeout=30)
        assert log[-8:] == ["read", "write"] * 4, log  # each answer, and no empty read or turn after it
    finally:
        watched.stop()
        a.close()
        b.close()


def test_pings_like_the_last_answered_in_the_lane_get_its_quiet_echo_until_something_else_runs(monkeypatch):
    """s24: the first ping in the lane is answered by fast_echo, which leaves a quiet echo (Icmp.quiet_echo); the
    pings after it, the loop having only slept since, are answered by that quiet echo.  A call run on the core
    (something ran: not quiet) sends the next ping through fast_echo again, whose answer leaves a fresh one."""
    made: list[list[bool]] = []
    real = Icmp._quiet_echo

    def counted(self, *args):
        quiet_echo, answers = real(self, *args), []
        made.append(answers)

        def wrapped(frame, length, now):
            answers.append(quiet_echo(frame, length, now))
            return answers[-1]
        return wrapped

    monkeypatch.setattr(Icmp, "_quiet_echo", counted)
    a, b, stack, dev, watched = logged_loop(monkeypatch)
    try:
        # a call turns the loop, then the pings: the first wakes it (a turn may follow, as the call's may race it),
        # the lane reads the others (dev.readvs), the first of those answered by fast_echo, the rest quiet
        pings_to_a_sleeping_loop(watched, a, range(1, 7))
        lane = dev.readvs
        assert lane >= 3 and made == [[True] * (lane - 1)], (made, dev.log)
        pings_to_a_sleeping_loop(watched, a, range(7, 13))
        assert dev.readvs - lane >= 3 and made == [[True] * (lane - 1), [True] * (dev.readvs - lane - 1)]
        assert watched.loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 12
    finally:
        watched.stop()
        a.close()
        b.close()


def test_the_lanes_buffer_is_read_into_answered_over_and_copied_out_of_for_the_stack(monkeypatch):
    """s22: the ping lane reads each frame into one buffer, and the echo answer writes its reply over the request
    there: pings of any size, each shorter than the one before it read, are answered with their own data (none of
    the bytes an earlier one left behind it), and a frame the lane does not answer reaches the stack as a copy: the
    first fragment of a UDP datagram, read in the lane, waits in reassembly while later pings are read into the
    buffer, and the datagram comes out whole when its second fragment comes; the frame the stack was handed is
    still that fragment after the pings read since (the stack, and what it hands the frame on to, may keep it)."""
    a, b, stack, dev, watched = logged_loop(monkeypatch, ip4_reassembly=True)
    loop = watched.loop
    handed = []
    real_input_many = stack.input_many

    def input_many(netif, frames, now, first=None, *args):
        handed.append(first)
        return real_input_many(netif, frames, now, first, *args)

    stack.input_many = input_many
    try:
        def bind():
            pcb = stack.udp.new()
            pcb.bind(None, 5000)
            return pcb
        pcb = loop.call(bind, timeout=30)
        payload = bytes(range(40))
        udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
        fragments = []
        for flags_offset, part in ((0x2000, udp[:24]), (3, udp[24:])):  # (MF, offset 0) and (offset 24 bytes)
            ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), 77, flags_offset, 64, 17, 0,
                                       PEER_B, OWN_B))
            struct.pack_into("!H", ip, 10, checksum(ip))
            fragments.append(OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + part)
        sizes = [1400, 700, 8, 0, 301]
        for seq, size in enumerate(sizes, 1):
            data = bytes((seq * 7 + i) & 0xFF for i in range(size))
            frame = echo_request(seq, data=data)
            watched.send_when_asleep(a, frame) if seq == 1 else a.send(frame)
            reply = echo_reply(a)
            assert len(reply) == len(frame) and reply[42:] == data and reply[38:42] == frame[38:42]
            assert checksum(reply[14:34]) == 0 and checksum(reply[34:]) == 0
            time.sleep(0.02)
            assert watched.asleep.wait(30)
            if seq == 2:  # the first fragment, in the lane after the second ping
                a.send(fragments[0])
                time.sleep(0.02)
                assert watched.asleep.wait(30)
        log = loop.call(lambda: list(dev.log), timeout=30)
        assert ["read", "write", "read", "write", "read", "empty"] in [log[i:i + 6] for i in range(len(log))], log
        assert log[-5:] == ["read", "write"] * 2 + ["turn"] or log[-4:] == ["read", "write"] * 2, log  # in the lane
        assert [bytes(f) for f in handed if f is not None and len(f) == len(fragments[0])] == [fragments[0]]
        a.send(fragments[1])
        deadline = time.monotonic() + 30
        got: list[bytes] = []
        while not got and time.monotonic() < deadline:
            got = loop.call(lambda: [bytes(d.data) for d in iter(pcb.recv, None)], timeout=30)
            time.sleep(0.01)
        assert got == [payload]
        assert loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == len(sizes)
        assert dev.readvs == 4  # the lane's: the pings but the first and the one after the fragment's turn; the fragment
    finally:
        watched.stop()
        a.close()
        b.close()


def test_pings_answered_without_a_turn_hold_off_no_timer():
    """The loop sleeps again after a lone ping until the deadline the last turn found, so a timer due while pings
    keep coming is still run on time, and the pings go on being answered."""
    a, b, stack, dev = _socket_tap_stack()
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    try:
        due = loop.call(lambda: Due(stack, 0.2), timeout=30)  # (the stack's time read on its thread)
        loop.call(lambda: stack.add_poller(due), timeout=30)
        seq = 0
        while not due.fired.is_set():
            seq += 1
            assert seq < 2000, "the timer never ran"
            watched.send_when_asleep(a, echo_request(seq)) if seq == 1 else a.send(echo_request(seq))
            assert a.recv(2000)[34] == 0
            time.sleep(0.005)
        assert due.fired.is_set() and seq > 1
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_ping_that_comes_when_a_timer_is_due_gets_the_turn_for_it():
    """A ping answered when the deadline the last turn found has passed: the loop takes the turn (the timer runs
    then) instead of sleeping again on a deadline in the past.  The loop's clock jumps a minute at each ping (it is
    read once for the answer), so the timer due in 30 s is overdue when the second ping is answered."""
    a, b, stack, dev = _socket_tap_stack()
    jump = {"by": 0.0}
    base = time.monotonic()
    loop = StackLoop(stack, clock=lambda: time.monotonic() - base + jump["by"])
    watched = Watched(loop)
    try:
        due = loop.call(lambda: Due(stack, 30), timeout=30)
        loop.call(lambda: stack.add_poller(due), timeout=30)
        watched.send_when_asleep(a, echo_request(1))
        echo_reply(a)
        assert not due.fired.is_set()
        time.sleep(0.02)
        assert watched.asleep.wait(30)
        jump["by"] = 60.0  # the deadline is a minute behind the clock the next answer reads
        a.send(echo_request(2))
        echo_reply(a)
        assert due.fired.wait(30)  # not left for a wake-up that would never come
    finally:
        watched.stop()
        a.close()
        b.close()


def test_frames_that_come_together_are_all_answered_and_a_call_then_served():
    """Two pings sent at once to a sleeping loop: the first is answered on the wake-up, the second left in the
    device wakes the loop again at once (level triggered) and is answered; a call posted after them runs."""
    a, b, stack, dev = _socket_tap_stack()
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    try:
        for seq in range(1, 4):
            watched.send_when_asleep(a, echo_request(2 * seq))
            a.send(echo_request(2 * seq + 1))
            replies = {echo_reply(a)[40:42], echo_reply(a)[40:42]}  # the sequence numbers echoed
            assert replies == {(2 * seq).to_bytes(2, "big"), (2 * seq + 1).to_bytes(2, "big")}
        assert loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 6
    finally:
        watched.stop()
        a.close()
        b.close()


def arp_request(src: bytes = PEER_B, dst: bytes = OWN_B) -> bytes:
    return (b"\xff" * 6 + PEER_MAC + b"\x08\x06"
            + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC, src, bytes(6), dst))


def test_a_frame_that_is_no_ping_in_the_ping_lane_goes_to_the_stack_and_the_lane_serves_on(monkeypatch):
    """Pings answered in the lane, then an ARP request: the fast answer refuses it and the stack answers it (the
    device read on until empty, then a turn), and the pings after it are answered as before."""
    a, b, stack, dev, watched = logged_loop(monkeypatch)
    loop = watched.loop
    try:
        pings_to_a_sleeping_loop(watched, a, range(1, 4))
        a.send(arp_request())
        while (frame := a.recv(2000))[12:14] != b"\x08\x06" or frame[21] != 2:
            pass  # (an announcement of the stack's own)
        assert frame[28:32] == OWN_B and frame[22:28] == OWN_MAC and frame[38:42] == PEER_B
        time.sleep(0.01)
        assert watched.asleep.wait(30)
        log = loop.call(lambda: list(dev.log), timeout=30)
        # the ARP request's batch: read, the reply, the read that finds nothing, a turn (the pings before it were
        # answered in the lane or, when a timer of the stack's came due between them, with a turn of their own)
        assert log[-4:] == ["read", "write", "empty", "turn"], log
        pings_to_a_sleeping_loop(watched, a, range(4, 7))
        assert loop.call(lambda: (stack.icmp.fast_echoes, stack.stats.etharp.xmit), timeout=30)[0] == 6
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_bug_in_the_fast_answer_in_the_ping_lane_drops_the_frame_and_the_loop_serves_on(monkeypatch):
    """The stack's own echo answer raising on the third ping, which the lane offers it: dropped and counted as the
    stack counts a bug (``stats.link.err``), and the pings after it answered.  The answer is patched with
    ``Stack.fast_answer``'s signature (no ``lent``): the lane calls it so, with a frame of its own (s22: it lends its
    buffer to the echo answer it knows alone), and the frames it is given are bytes that no later read changes."""
    from lwipy.core.icmp import Icmp
    real = Icmp.fast_echo
    given = []

    def fast_echo(self, netif, frame, now=None, quiet=False):
        given.append((frame, bytes(frame)))
        if frame[40:42] == (3).to_bytes(2, "big"):
            raise RuntimeError("a bug")
        return real(self, netif, frame, now, quiet)

    monkeypatch.setattr(Icmp, "fast_echo", fast_echo)  # (before the stack: its fast_answer is its echo's)
    a, b, stack, dev = _socket_tap_stack()
    stack.strict = False
    watched = Watched(StackLoop(stack))
    try:
        pings_to_a_sleeping_loop(watched, a, range(1, 3))
        a.send(echo_request(3))
        time.sleep(0.01)
        assert watched.asleep.wait(30)
        assert watched.loop.call(lambda: stack.stats.link.err, timeout=30) == 1
        pings_to_a_sleeping_loop(watched, a, range(4, 6))
        assert watched.loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 4
        assert len(given) >= 5 and all(type(f) is bytes and f == kept for f, kept in given)
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_ping_with_a_second_device_takes_the_turn_as_before(monkeypatch):
    """With another device beside the TAP the loop does not sleep at once after an answer: the turn after it asks
    that device (here one that holds frames back and is asked every turn)."""
    a, b, stack, dev = _socket_tap_stack()
    logging_reads(monkeypatch, dev)
    stack.add_poller(TurnMark(dev.log))
    other = stack.add_netif(Queue(0), ip="10.9.0.1/24", hwaddr=b"\x02\x00\x00\x00\x09\x01")
    assert other is not None
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    try:
        watched.send_when_asleep(a, echo_request(1))
        echo_reply(a)
        for seq in range(2, 4):
            time.sleep(0.02)
            assert watched.asleep.wait(30)
            a.send(echo_request(seq))
            echo_reply(a)
        time.sleep(0.02)
        assert watched.asleep.wait(30)
        log = loop.call(lambda: list(dev.log), timeout=30)
        assert log[-8:] == ["read", "write", "empty", "turn"] * 2, log
    finally:
        watched.stop()
        a.close()
        b.close()


OUR_PATH = {"Icmp.fast_echo", "TapDevice.transmit", "SocketTap._write", "TapDevice._write"}
QUIET_ECHO = "Icmp._quiet_echo.<locals>.quiet_echo"


@pytest.mark.parametrize("pings", [2, 6])
def test_nothing_but_the_reply_runs_between_the_wake_up_and_the_write(pings):
    """From epoll's return to the reply's write the loop thread runs the reading, the stack's input and the echo
    fast path only: the clock is read once, and the mailbox, the timers (poll_at/poll) and the devices' own work
    wait until the reply is written (after an idle sleep each of them costs several microseconds).  The second ping
    gets fast_echo; the sixth, in the lane, the quiet echo an answer there left, alone (s24)."""
    a, b, stack, dev = _socket_tap_stack()
    watched = Watched(StackLoop(stack))
    seen: list[str] = []
    state = {"on": False}
    done = threading.Event()

    def wake() -> None:  # (what ran since the last wake-up before the write: a wake-up by anything but the ping, a
        if state.get("armed"):  # call's byte on the wake pipe, a timer, is followed by a sleep of its own)
            state["on"] = True
            seen.clear()

    def extra(frame, event, arg) -> None:
        if state["on"] and event == "call":
            seen.append(frame.f_code.co_qualname)
        elif state["on"] and event == "c_call" and getattr(arg, "__name__", "") == "write" \
                and frame.f_code.co_qualname == "TapDevice._write":
            state["on"] = state["armed"] = False
            done.set()

    watched.on_wake, watched.extra = wake, extra
    try:
        watched.send_when_asleep(a, echo_request(1))
        a.recv(2000)
        for seq in range(2, pings):  # (answered in the lane: the loop only slept since, and sleeps on)
            a.send(echo_request(seq))
            a.recv(2000)
            time.sleep(0.02)
            assert watched.asleep.wait(30)
        watched.send_when_asleep(a, echo_request(pings), lambda: state.update(armed=True)) if pings == 2 else \
            (state.update(armed=True), a.send(echo_request(pings)))
        assert a.recv(2000)[34] == 0
        assert done.wait(30)
    finally:
        watched.stop()
        a.close()
        b.close()
    ours = [name for name in seen if "<lambda>" not in name]
    answer = "Icmp.fast_echo" if pings == 2 else QUIET_ECHO
    assert answer in ours
    assert set(ours) <= OUR_PATH | {answer}, set(ours) - OUR_PATH
    assert sum("<lambda>" in name for name in seen) <= 1  # the (default) clock, once


@pytest.mark.parametrize("epoll", [True, False])
def test_the_poller_returns_the_descriptors_ready(monkeypatch, epoll):
    """_Poller.wait is epoll's poll where there is epoll, else a selectors-based equivalent: both return the
    ``(fd, events)`` ready, nothing after a zero timeout when nothing is, and a negative timeout waits without
    limit (returning at once here: something is ready).  ``count`` is how many descriptors it watches, what the loop
    passes as ``maxevents``; epoll returns no more than that."""
    import os
    import select

    from lwipy.api.loop import _Poller

    if not epoll:
        monkeypatch.delattr(select, "epoll")
    wake_r, wake_w = os.pipe()
    r, w = os.pipe()
    try:
        poller = _Poller(wake_r)
        assert poller.count == 1
        poller.register(r)
        assert poller.count == 2
        assert poller.wait(0.0, poller.count) == []
        os.write(w, b"x")
        assert [fd for fd, _ in poller.wait(-1.0, poller.count)] == [r]
        os.write(wake_w, b"\0")
        assert sorted(fd for fd, _ in poller.wait(0.0, poller.count)) == sorted([r, wake_r])
        if epoll:
            assert len(poller.wait(0.0, 1)) == 1
        poller.unregister(r)
        assert poller.count == 1
        assert [fd for fd, _ in poller.wait(0.0, poller.count)] == [wake_r]
        poller.close()
    finally:
        for fd in (wake_r, wake_w, r, w):
            os.close(fd)


def test_a_tap_says_one_read_is_one_frame_without_offload_only():
    """``frame_read_size``: the loop reads a woken TAP's first frame itself, with room for the MTU and a VLAN-tagged
    Ethernet header (a TUN: no link header); with offload a read holds a virtio-net header and maybe a GSO super-frame,
    so the loop asks ``frames()``."""
    from lwipy.netif.tun import TunDevice
    a, b, stack, dev = _socket_tap_stack()
    try:
        assert dev.frame_read_size == 1500 + 18
        dev.offload = True
        assert dev.frame_read_size is None
        tun = TunDevice.__new__(TunDevice)
        tun.mtu, tun.offload = 1400, False
        assert tun.frame_read_size == 1400
    finally:
        a.close()
        b.close()


def test_a_bug_in_the_fast_answer_drops_the_frame_and_the_loop_serves_on():
    """The frame that woke the loop goes to ``stack.fast_answer`` first; a bug raised there is the stack's to count
    (``frame_failed``: dropped, ``stats.link.err``), and the loop goes on answering."""
    a, b, stack, dev = _socket_tap_stack()
    stack.strict = False
    real = stack.fast_answer
    tried = []

    def broken(netif, frame, now, quiet):
        tried.append(frame)
        raise RuntimeError("a bug")

    watched = Watched(StackLoop(stack))
    try:
        stack.fast_answer = broken
        watched.send_when_asleep(a, echo_request(1))
        watched.loop.call(lambda: None, timeout=30)  # the turn that took the frame is over
        assert tried == [echo_request(1)]
        assert watched.loop.call(lambda: stack.stats.link.err, timeout=30) == 1
        stack.fast_answer = real
        watched.send_when_asleep(a, echo_request(2))
        assert a.recv(2000)[34] == 0  # answered
        assert watched.loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 1
    finally:
        watched.stop()
        a.close()
        b.close()


class FramesTap(SocketTap):
    """A lazy device with a descriptor whose reads are not plain frames: the loop asks its ``frames()``."""

    frame_read_size = None


def test_a_woken_lazy_device_without_plain_reads_gives_its_first_frame_through_frames(monkeypatch):
    a, b, stack, dev = _socket_tap_stack(kind=FramesTap)
    logging_reads(monkeypatch, dev)
    watched = Watched(StackLoop(stack))
    try:
        for seq in (1, 2):
            watched.send_when_asleep(a, echo_request(seq))
            assert a.recv(2000)[34] == 0
        assert watched.loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 2
        assert watched.loop.call(lambda: dev.log.count("read"), timeout=30) == 2
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_wake_up_by_the_mailbox_alone_reads_no_plain_device(monkeypatch):
    """After a sleep the loop reads a plain device (its frames are its descriptor's reads: a TAP) only when epoll
    reported it ready: an application's call waking the loop costs no empty read of a quiet TAP (level triggered: a
    frame arriving meanwhile wakes the next sleep), and a frame is still answered."""
    a, b, stack, dev = _socket_tap_stack()
    logging_reads(monkeypatch, dev)
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    try:
        watched.send_when_asleep(a, echo_request(1))
        assert a.recv(2000)[34] == 0
        loop.call(lambda: None, timeout=30)
        for _ in range(5):
            loop.call(dev.log.clear, timeout=30)  # the loop sleeps, then a call wakes it...
            assert watched.asleep.wait(30)
            assert loop.call(lambda: list(dev.log), timeout=30) == []  # ...and nothing reads the TAP
        watched.send_when_asleep(a, echo_request(2))
        assert a.recv(2000)[34] == 0
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_device_holding_frames_back_is_asked_every_turn():
    """A wrapper that holds received frames back (FaultyDevice's delay) has frames when its descriptor is quiet: the
    loop asks it every turn, so a delayed ping is answered when its delay is over (not when the next frame comes)."""
    from lwipy.netif.faults import FaultyDevice
    a, b, stack, dev = _socket_tap_stack(wrap=lambda tap: FaultyDevice(tap, delay=0.05, egress=False))
    watched = Watched(StackLoop(stack))
    try:
        for seq in (1, 2, 3):
            watched.send_when_asleep(a, echo_request(seq))
            reply = a.recv(2000)  # (times out after 30 s if the held frame is never asked for)
            while reply[12:14] != b"\x08\x00":  # the gratuitous ARP of a netif coming up
                reply = a.recv(2000)
            assert reply[34] == 0 and reply[40:42] == struct.pack("!H", seq)
    finally:
        watched.stop()
        a.close()
        b.close()


def echo_reply(sock: socket.socket) -> bytes:
    """The next echo reply ``sock`` receives (the stack's ARP announcements skipped)."""
    while True:
        frame = sock.recv(2000)
        if frame[12:14] == b"\x08\x00":
            assert frame[34] == 0, frame.hex()
            return frame


def test_two_plain_devices_are_each_read_when_they_wake_the_loop():
    """With one plain device the loop compares the wake-up's event with its descriptor directly (no lookup); with two
    it looks each descriptor up: both netifs' pings are answered, on the fast path, in any order of wake-ups."""
    a, b, stack, dev = _socket_tap_stack()
    c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    d.setblocking(False)
    c.settimeout(30)
    second = SocketTap(d.fileno())
    stack.add_netif(second, ip="10.0.1.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.1.2", PEER_MAC)
    on_second = dict(src=bytes([10, 0, 1, 2]), dst=bytes([10, 0, 1, 1]))
    loop = StackLoop(stack).start()
    try:
        for seq in range(1, 7):
            sock, where = (a, {}) if seq % 3 else (c, on_second)  # a, a, c, a, a, c
            loop.call(lambda: None, timeout=30)
            sock.send(echo_request(seq, **where))
            assert echo_reply(sock)[40:42] == seq.to_bytes(2, "big")
        # and both at once
        a.send(echo_request(7))
        c.send(echo_request(8, **on_second))
        assert echo_reply(a)[40:42] == (7).to_bytes(2, "big")
        assert echo_reply(c)[40:42] == (8).to_bytes(2, "big")
        assert loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 8
    finally:
        loop.stop()
        for s in (a, b, c, d):
            s.close()


def test_a_wake_up_by_a_frame_and_a_call_at_once_serves_both():
    """A call posted and a ping sent while the loop sleeps, so that one wait returns both descriptors (the wake pipe's
    and the device's): the ping is answered and the call runs, whichever epoll lists first."""
    a, b, stack, dev = _socket_tap_stack()
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    try:
        for seq in range(1, 5):
            ran = threading.Event()
            watched.send_when_asleep(a, echo_request(seq), lambda ran=ran: loop.call_soon(ran.set))
            assert echo_reply(a)[40:42] == seq.to_bytes(2, "big")
            assert ran.wait(30)
    finally:
        watched.stop()
        a.close()
        b.close()


def test_the_loop_says_quiet_only_when_nothing_ran_since_the_last_answer():
    """``Stack.fast_answer``'s ``quiet``: the loop passes True for a ping that ends a sleep in which nothing but
    sleeping happened since the last answer, and False after a posted call ran, a timer fired or another frame was
    taken (each of which may have changed what the answer checked)."""
    a, b, stack, dev = _socket_tap_stack()
    real = stack.fast_answer
    said: list[bool] = []

    def recording(netif, frame, now, quiet):
        said.append(quiet)
        return real(netif, frame, now, quiet)

    stack.fast_answer = recording
    watched = Watched(StackLoop(stack))
    seq = iter(range(1, 100))

    def ping() -> None:
        n = next(seq)
        assert watched.asleep.wait(30)  # the turn that answered the last ping is over, the loop sleeps again
        a.send(echo_request(n))
        assert echo_reply(a)[40:42] == n.to_bytes(2, "big")

    try:
        watched.loop.call(lambda: None, timeout=30)
        ping()
        ping()
        ping()
        assert said == [False, True, True]
        watched.loop.call(lambda: None, timeout=30)  # a call ran
        ping()
        ping()
        assert said[3:] == [False, True]
        fired = threading.Event()
        arm = threading.Event()

        class Due:  # a timer due in the turn of the answer that armed it, once
            def poll_at(self):
                return stack.now if arm.is_set() and not fired.is_set() else None

            def poll(self, now):
                fired.set()

        def arming(netif, frame, now, quiet):
            said.append(quiet)
            if said[-1] and not arm.is_set():
                arm.set()
            return real(netif, frame, now, quiet)

        watched.loop.call(lambda: (stack.add_poller(Due()), setattr(stack, "fast_answer", arming)), timeout=30)
        ping()  # (after that call: checked, so it arms nothing)
        ping()  # quiet; arms the timer, which fires after the answer
        assert fired.wait(30)
        ping()
        ping()
        assert said[5:] == [False, True, False, True]
        arp = b"\xff" * 6 + PEER_MAC + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                                                                   PEER_B, bytes(6), OWN_B)
        assert watched.asleep.wait(30)
        a.send(arp)  # another frame taken, the whole way (an ARP request: answered)
        while a.recv(2000)[12:14] != b"\x08\x06":
            pass
        ping()
        ping()
        assert said[9:] == [True, False, True]  # the ARP request was offered first (and declined)
        # a frame read in the batch after an answer (sent while the loop wakes up for the ping, behind it: from the
        # wake-up that finds the ping waiting; s12: not from a look of the loop's linger before it sleeps, which
        # returns too and, on a loaded machine, came before the ping was sent, the ARP reply then overtaking the echo
        # reply, which echo_reply skips)
        def arp_behind_the_ping() -> None:
            try:
                waiting = b.recv(2000, socket.MSG_PEEK)
            except BlockingIOError:
                return  # a look that found nothing
            if waiting[12:14] == b"\x08\x00":
                watched.on_wake = lambda: None
                a.send(arp)
        watched.on_wake = arp_behind_the_ping
        ping()
        while a.recv(2000)[12:14] != b"\x08\x06":
            pass
        ping()
        ping()
        assert said[12:] == [True, False, True]
    finally:
        watched.stop()
        a.close()
        b.close()


def call_as_a_frame_wakes_the_loop(watched: Watched, sock: socket.socket, frame: bytes, change, woken: bool = True):
    """A call that sends ``frame`` to the sleeping loop, waits until the loop woke for it (with core locking it then
    waits for the lock the call holds; ``woken`` False: no wait, the loop is in the call's turn without core
    locking), then runs ``change()``."""
    watched.loop.call(lambda: None, timeout=30)
    assert watched.asleep.wait(30)
    woke = threading.Event()

    def inside() -> None:
        watched.on_wake = woke.set
        sock.send(frame)
        if woken:
            assert woke.wait(30)
        change()

    watched.loop.call(inside, timeout=30)


@pytest.mark.parametrize("locking", [False, True], ids=["posted", "core_locking"])
def test_a_netif_removed_by_a_call_while_its_frame_woke_the_loop_is_not_read(locking):
    """With core locking the loop can wake for a frame while a call holds the core lock, and that call can remove
    the frame's netif (whose device is then closed): the loop takes a turn first, watching the devices anew, and
    reads nothing from the removed one (before, it read the closed descriptor and its thread died of EBADF)."""
    a, b, stack, dev = _socket_tap_stack(tcpip_core_locking=locking)
    watched = Watched(StackLoop(stack))
    try:
        call_as_a_frame_wakes_the_loop(watched, a, echo_request(1), lambda: stack.remove_netif(stack.netifs[-1]),
                                       woken=locking)
        b.close()
        assert watched.loop.call(lambda: stack.stats.ip.recv, timeout=30) == 0
        assert watched.loop.running
    finally:
        watched.stop()
        a.close()


def test_a_fast_answer_replaced_by_a_call_while_a_ping_woke_the_loop_gets_that_ping():
    """Core locking: the loop woke for a ping while a call held the core lock, and the call replaced
    ``stack.fast_answer``: the ping goes to the new one (after a turn), not to the one the loop held before."""
    a, b, stack, dev = _socket_tap_stack(tcpip_core_locking=True)
    watched = Watched(StackLoop(stack))
    offered: list[bytes] = []
    real = stack.fast_answer

    def recording(netif, frame, now, quiet):
        offered.append(bytes(frame))
        return real(netif, frame, now, quiet)

    try:
        call_as_a_frame_wakes_the_loop(watched, a, echo_request(1), lambda: setattr(stack, "fast_answer", recording))
        assert echo_reply(a)[40:42] == b"\x00\x01"
        assert offered == [echo_request(1)]
    finally:
        watched.stop()
        a.close()
        b.close()


@pytest.mark.parametrize("locking", [False, True], ids=["posted", "core_locking"])
def test_a_hook_installed_by_a_call_between_two_pings_sees_the_second(locking):
    """A posted call that rewires the stack between two pings (an ``ip4_input`` hook here) ends the loop's quiet: the
    second ping is checked again and goes the full way, through the hook.  With core locking the call runs on this
    thread while the loop sleeps, and wakes nothing: the loop learns of it when it wakes for the ping."""
    a, b, stack, dev = _socket_tap_stack(tcpip_core_locking=locking)
    watched = Watched(StackLoop(stack))
    hooked: list[bytes] = []
    try:
        watched.send_when_asleep(a, echo_request(1))
        assert echo_reply(a)[40:42] == b"\x00\x01"
        assert watched.asleep.wait(30)
        a.send(echo_request(2))  # a quiet one: answered without the checks
        assert echo_reply(a)[40:42] == b"\x00\x02"

        def hook(s, packet, netif) -> bool:
            hooked.append(bytes(packet))
            return False  # not taken: ip4_input goes on

        watched.loop.call(lambda: setattr(stack.hooks, "ip4_input", hook), timeout=30)
        assert watched.asleep.wait(30)
        a.send(echo_request(3))
        assert echo_reply(a)[40:42] == b"\x00\x03"
        assert len(hooked) == 1 and hooked[0][9] == 1  # the ping, through the hook
        assert watched.loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 2
    finally:
        watched.stop()
        a.close()
        b.close()


def test_both_batch_readers_note_that_they_gave_the_stack_a_frame():
    """``_batch`` and ``_plain_batch`` set ``StackLoop._fed`` when they hand a frame on (what ends the loop's quiet),
    and leave it alone when the device had nothing."""
    a, b, stack, dev = _socket_tap_stack()
    loop = StackLoop(stack)
    try:
        for batch in (lambda: loop._batch(dev.frames(), 0.0), lambda: loop._plain_batch(dev.fd, 1518, 0.0)):
            loop._fed = False
            assert list(batch()) == [] and loop._fed is False
            a.send(echo_request(1))
            assert list(batch()) == [echo_request(1)] and loop._fed is True
    finally:
        loop.close()
        a.close()
        b.close()


# --- off9: a TAP with offload (virtio-net header) looks to the loop as a plain one does ---

class OffloadSocketTap(SocketTap):
    """:class:`SocketTap` speaking the virtio-net header, as a TAP opened with offload: each read and write starts
    with one (writes go through the logged ``_write``)."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.offload = self.checksum_offload = True
        self.gso_max_size = 65535
        self._vnet_plain = False


def _vnet_frame(sock: socket.socket) -> bytes:
    """The next frame ``sock`` receives from an offload TAP, its virtio-net header taken off (ARP skipped)."""
    from lwipy.netif.tap import VNET_HDR
    while True:
        frame = sock.recv(70000)[VNET_HDR.size:]
        if frame[12:14] == b"\x08\x00":
            return frame


def test_a_lone_ping_to_a_sleeping_loop_on_a_tap_with_offload_is_read_answered_and_slept_on(monkeypatch):
    """As without offload: the frame that wakes the loop is read (through the TAP's lazy reader, which takes the
    virtio-net header off), answered by the fast echo, and the loop sleeps again at once, with no empty read and no
    turn (the device's frames wait in its descriptor: ``Device.frames_in_descriptor``)."""
    from lwipy.netif.tap import VNET_HDR
    a, b, stack, dev, watched = logged_loop(monkeypatch, OffloadSocketTap)
    loop = watched.loop
    head = bytes(VNET_HDR.size)  # neither partial nor verified: an ICMP message, as the kernel's ping sends it
    try:
        watched.send_when_asleep(a, head + echo_request(1))
        assert _vnet_frame(a)[34] == 0
        for seq in range(2, 6):
            time.sleep(0.02)
            assert watched.asleep.wait(30)
            a.send(head + echo_request(seq))
            reply = _vnet_frame(a)
            assert reply[34] == 0 and reply[40:42] == seq.to_bytes(2, "big")
        time.sleep(0.02)
        assert watched.asleep.wait(30)
        log = loop.call(lambda: list(dev.log), timeout=30)
        assert log[-8:] == ["read", "write"] * 4, log  # each answer, and no empty read or turn after it
        assert loop.call(lambda: stack.icmp.fast_echoes, timeout=30) == 5
    finally:
        watched.stop()
        a.close()
        b.close()


def test_a_partial_checksum_frame_that_wakes_the_loop_is_offered_to_the_fast_answer_and_taken():
    """A TCP SYN from the kernel comes with a partial checksum (an RxOffload): the loop offers it to the fast answer
    (which declines it: not an ordinary ping) and the stack takes it the whole way: the SYN-ACK goes, nothing counted
    as a bug."""
    from lwipy.netif.tap import VNET_HDR
    from lwipy.wire.checksum import fold, pseudo_sum_v4
    a, b, stack, dev = _socket_tap_stack(kind=OffloadSocketTap)
    watched = Watched(StackLoop(stack))
    loop = watched.loop
    tcp = bytearray(struct.pack("!HHIIBBHHH", 40000, 80, 1000, 0, 0x50, 0x02, 65535, 0, 0))
    tcp[16:18] = fold(pseudo_sum_v4(PEER_B, OWN_B, 6, len(tcp))).to_bytes(2, "big")  # the pseudo-header sum alone
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, PEER_B, OWN_B))
    struct.pack_into("!H", ip, 10, checksum(ip))
    syn = OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + bytes(tcp)
    try:
        loop.call(lambda: stack.tcp.listen(80), timeout=30)
        watched.send_when_asleep(a, VNET_HDR.pack(1, 0, 0, 0, 34, 16) + syn)
        synack = _vnet_frame(a)
        assert synack[23] == 6 and synack[47] == 0x12  # SYN, ACK
        assert loop.call(lambda: stack.stats.link.err, timeout=30) == 0
    finally:
        watched.stop()
        a.close()
        b.close()


class VirtualEndless(EndlessDevice):
    """An endless device whose every frame moves the loop's (virtual) clock on by ``step`` seconds."""

    def __init__(self, clock: list[float], step: float) -> None:
        super().__init__()
        self.clock, self.step = clock, step

    def frames(self):
        for frame in super().frames():
            self.clock[0] += self.step
            yield frame


class DueAt:
    """A poller due at ``at``: the time it was polled at once due."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.fired_at: float | None = None
        self.fired = threading.Event()

    def poll(self, now: float) -> None:
        if self.fired_at is None and now >= self.at:
            self.fired_at = now
            self.fired.set()

    def poll_at(self) -> float | None:
        return None if self.fired_at is not None else self.at


def test_turns_cut_short_read_the_floor_every_turn_and_never_ask_poll_at():
    """s11: a device that always has a frame cuts every turn (BATCH_TIME); each such turn reads the floor of the
    stack's deadlines (Stack.poll_floor, which asks no module) and never the exact poll_at(), and a timer due meanwhile
    fires within a turn or two of its time."""
    t = [0.0]
    stack = Stack(Config(), seed=1)
    dev = VirtualEndless(t, BATCH_TIME / 10)  # ten frames a turn
    stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    looks, exact = [], []
    real_poll_floor, real_poll_at = stack.poll_floor, stack.poll_at
    stack.poll_floor = lambda: (looks.append(t[0]), real_poll_floor())[1]
    stack.poll_at = lambda: (exact.append(t[0]), real_poll_at())[1]
    loop = StackLoop(stack, clock=lambda: t[0]).start()
    try:
        def add() -> DueAt:
            due = DueAt(stack.now + 0.1)  # virtual time: 100 turns ahead
            stack.add_poller(due)
            return due
        due = loop.call(add, timeout=30)
        assert due.fired.wait(30)
        window = loop.call(lambda: ([x for x in looks if due.at - 0.1 <= x < due.at],
                                    [x for x in exact if due.at - 0.1 <= x < due.at]), timeout=30)
    finally:
        loop.stop()
    assert due.at <= due.fired_at <= due.at + 3 * BATCH_TIME
    floor_looks, exact_looks = window
    # before it was due: a look at the floor every turn (BATCH_TIME per turn: ~100), the exact poll_at() in none
    assert len(floor_looks) >= 0.1 / BATCH_TIME / 2, len(floor_looks)
    assert not exact_looks, exact_looks


# --- s11: the linger of a lone plain device before a sleep (LINGER_TIME) ---

def _logging_waits(monkeypatch, before_look=lambda: None) -> list[float]:
    """The timeouts of every epoll wait the loop makes, in order; ``before_look`` runs before each zero-timeout one."""
    import lwipy.api.loop as loop_module
    waits: list[float] = []

    class Logged(loop_module._Poller):
        def __init__(self, fd: int) -> None:
            super().__init__(fd)
            real = self.wait

            def wait(timeout: float, maxevents: int) -> list:
                if timeout == 0.0:
                    before_look()
                waits.append(timeout)
                return real(timeout, maxevents)
            self.wait = wait
    monkeypatch.setattr(loop_module, "_Poller", Logged)
    return waits


@pytest.mark.parametrize("linger", [0.0, 0.002])
def test_a_lone_plain_device_looks_for_linger_time_before_each_sleep(monkeypatch, linger):
    """Before each sleep the loop looks (a zero-timeout wait) until LINGER_TIME passed: at least once, and once only
    when it is 0; then it sleeps."""
    import lwipy.api.loop as loop_module
    monkeypatch.setattr(loop_module, "LINGER_TIME", linger)
    waits = _logging_waits(monkeypatch)
    real_yield = os.sched_yield
    monkeypatch.setattr(os, "sched_yield", lambda: (waits.append("yield"), real_yield())[1])
    a, b, stack, dev = _socket_tap_stack()
    try:
        StackLoop(stack).run(0.05)  # idle: a linger, then asleep to the end
    finally:
        a.close()
        b.close()
    sleep = next(i for i, t in enumerate(waits) if t != 0.0 and t != "yield")
    looks = [t for t in waits[:sleep] if t != "yield"]
    assert looks and all(t == 0.0 for t in looks)
    if linger == 0.0:
        assert len(looks) == 1
    else:
        assert len(looks) > 1  # 2 ms of looks
        assert waits[:sleep] == [0.0, "yield"] * (len(looks) - 1) + [0.0]  # the CPU yielded between each


def test_a_frame_that_comes_while_the_loop_lingers_is_answered_without_a_sleep(monkeypatch):
    """An echo request sent just before one of the linger's looks is answered before the loop sleeps."""
    a, b, stack, dev = _socket_tap_stack()
    sent = []

    def send_once() -> None:
        if not sent:
            sent.append(len(waits))
            a.send(echo_request(7))
    waits = _logging_waits(monkeypatch, send_once)
    real_write = dev._write
    dev._write = lambda frame, vnet_hdr: (waits.append(bytes(frame)), real_write(frame, vnet_hdr))[1]
    try:
        StackLoop(stack).run(0.05)
    finally:
        a.close()
        b.close()
    assert sent, "the loop never lingered"
    # the echo reply (ICMP type 0, our sequence number), written after that look with no sleep between
    reply = next(i for i, w in enumerate(waits) if isinstance(w, bytes) and w[23] == 1 and w[34] == 0
                 and struct.unpack_from("!H", w, 40)[0] == 7)
    assert reply > sent[0]
    assert all(w == 0.0 for w in waits[sent[0]:reply] if not isinstance(w, bytes))


def test_a_loop_with_other_devices_sleeps_without_lingering(monkeypatch):
    waits = _logging_waits(monkeypatch)
    a, b, stack, dev = _socket_tap_stack()
    stack.add_netif(LazyDevice(), ip="10.1.0.1/24", hwaddr=bytes.fromhex("020000000077"))  # a second device
    try:
        StackLoop(stack).run(0.05)
    finally:
        a.close()
        b.close()
    assert waits and all(t != 0.0 for t in waits)
