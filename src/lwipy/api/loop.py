"""The core thread (lwIP's tcpip thread): one thread owns a :class:`~lwipy.core.stack.Stack` and drives it.

Theory of operation
-------------------
The thread that runs :meth:`StackLoop.run` owns the stack.  Any other thread reaches it only through the loop's
mailbox, which holds at most ``tcpip_recvmbox_size`` messages (``CONFIG_LWIP_TCPIP_RECVMBOX_SIZE``):

- :meth:`StackLoop.call_soon` posts a function (``tcpip_callback``).  From another thread it blocks while the
  mailbox is full, as ``sys_mbox_post`` does; on the core thread it never blocks (the core cannot wait for itself).
- :meth:`StackLoop.try_call_soon` posts, or raises ``LwipError(ENOMEM)`` at once when the mailbox is full
  (``tcpip_try_callback``).
- :meth:`StackLoop.call` posts and sleeps until the core thread ran the function (``tcpip_api_call``); on the core
  thread it simply runs it.

The loop sleeps in epoll (``select`` elsewhere) on the devices' descriptors and a wake pipe until the stack's
``poll_at()`` deadline, so an idle stack costs nothing: no ticking timer.  A post writes a byte to the wake pipe only
when the loop may be asleep.  Each turn the loop takes every waiting message at once (one lock acquisition per batch,
which also releases blocked posters), runs them in order, feeds the frames the devices received (one read per frame
and one empty read per batch; a device with a lazy reader, ``Device.lazy_frames`` as a TAP has, is read one frame at a
time, so a lone request is answered before the empty read, and for at most :data:`BATCH_TIME` a turn; one whose
frames are its descriptor's reads, ``Device.frame_read_size``, the loop reads itself) and fires what is due;
the deadline is read once per turn, from ``Stack.poll_floor()``, a lower bound of ``poll_at()`` that asks none of
the stack's modules (a wake-up it brings early runs ``poll()``, which makes it exact again), and the clock read only
when a deadline needs it.  A loop whose only device is a plain TAP looks for a frame for :data:`LINGER_TIME` before it
sleeps.

When a lazy device's descriptor wakes the loop, that device's frames are fed at once, before the rest of the turn
(the mailbox, the other devices, the timers), and the turn does not read it again.  After an idle sleep the process
runs with cold caches (on a virtual machine the vCPU halted meanwhile): every step between the wake-up and the reply
then costs several times what it costs warm, each Python call more than a few bytecodes.  So the loop reads the first
frame itself when one read is one frame (``Device.frame_read_size``: a TAP or TUN without offload), reads the default
clock without a call of its own, and offers the frame to ``stack.fast_answer`` (an ordinary ping is answered there,
:meth:`Icmp.fast_echo <lwipy.core.icmp.Icmp.fast_echo>`) before the batch goes to ``input_many``: nothing but the
read and the answer comes before the reply's write (``tests/core/test_loop_latency.py`` holds it to that).  With
one such device (the usual TAP), the wake-up's first event is compared with its descriptor directly, no lookup, and
epoll is asked for no more events than descriptors watched: its default of 1,023 is a 12 KB buffer allocated per
wake-up, cold memory after a sleep.  And the loop tells the fast answer when nothing has run on the stack since its
last answer (no call, timer or other frame: the loop only slept), so that what the answer checked of the stack then
(its wiring, routes, ARP table, the netif's state) is not looked at again for the next ping from the same source;
then the lane tries the quiet echo that answer left first (:attr:`Icmp.quiet_echo <lwipy.core.icmp.Icmp.quiet_echo>`:
a request like the last, answered from pieces worked out before the sleep).

Core locking
------------
With ``tcpip_core_locking`` (``CONFIG_LWIP_TCPIP_CORE_LOCKING``, off as in ESP-IDF) an API call to a sleeping
loop does not travel: :meth:`StackLoop.call` and :meth:`StackLoop.call_nowait` run the function on the calling
thread holding the core lock (``LOCK_TCPIP_CORE()``), which the loop holds for each turn and lets go of only while it
sleeps.  When the lock is taken (the loop is in a turn, or another thread in a call) or the mailbox holds messages,
the call is posted as without core locking: it never waits for the lock, so a loop that never sleeps (a device
that always has a frame) cannot starve it, and a thread's calls keep their order behind what it posted.  An
application thread's write then reaches the wire without waking the core thread, and the core thread wakes only for
what the call set going that it must run itself: a deadline earlier than the one it sleeps until (a timer the call
armed, a device's own work) or a function the call posted.  Functions posted with :meth:`call_soon` still go through
the mailbox (``tcpip_callback``), as in lwIP, and input stays on the core thread.  While a thread holds the core
lock, :meth:`StackLoop.is_core_thread` is true on it (and ``check_thread_safety``'s check passes there), so what the
function calls in turn runs at once.  What core locking changes besides the thread: a call no longer waits behind
frames already received (it is no barrier for them); a ``KeyboardInterrupt`` that reaches the main thread inside a
call interrupts the core there, as it does a loop run on the main thread; and a thread calling without pause and
without system calls (a device in process that queues frames) holds the interpreter, so the loop's thread wakes up
to one switch interval (``sys.getswitchinterval()``) late.

When the loop ends, calls (:meth:`call`) still waiting fail with ``ESHUTDOWN``, posters blocked on a full mailbox are
released with the same error, and the objects registered with :meth:`add_stop_listener` (netconns with threads
waiting on them) are told, so that no thread waits for a core that is gone.

With ``check_thread_safety`` (``CONFIG_LWIP_CHECK_THREAD_SAFETY``) the loop installs ``stack.assert_core``
(:mod:`lwipy.api.core_lock`), which raises when a core function runs on any other thread while the loop owns
the stack.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Iterator, Protocol, TypeVar

from ..core.icmp import Icmp
from ..core.mem import MBOX
from ..core.stack import Stack
from ..errors import LwipError
from .core_lock import install_core_check

__all__ = ["StackLoop", "StopListener"]

T = TypeVar("T")
log = logging.getLogger("lwipy")

_QUEUED, _RUNNING, _DONE = range(3)

#: the longest a turn of the loop takes frames (seconds): the stack's clock is read once a turn, so this bounds how
#: stale it gets, and how late a timer or a posted call can be while a device always has another frame
BATCH_TIME = 0.001
#: s22: the echo answer the ping lane lends its buffer to (``Icmp.fast_echo``'s ``lent``), as this module found it: a
#: fast answer that replaces or wraps it (a subclass, a patch) is called as ``Stack.fast_answer`` says, with a frame
#: of its own
_LENDING_ECHO = Icmp.fast_echo
#: s11: how long a loop whose only device is a plain TAP looks for a frame, without sleeping, before it sleeps
#: (seconds; it yields the CPU between looks, so a client on the same CPU runs first).  A vCPU that went idle takes
#: tens of µs to wake on the 2-CPU VM: request/response with the client on the other CPU answered in p50 72 -> 63 and
#: 73 -> 62 µs with it (bench_vs_lwip --baseline-tree, 4 rounds each, the stack's CPU per request no higher).  Linux's
#: busy polling (``net.core.busy_poll``) does the same for its sockets.  The ping path still sleeps at once (s8)
LINGER_TIME = 8e-6
#: the most reads of a plain device in one turn (as a TAP's own reader: ``lwipy.netif.tap``)
_PLAIN_BATCH = 512


def _linger(look: Callable[[float, int], list[tuple[int, int]]], count: int) -> list[tuple[int, int]]:
    """s11: the looks at the descriptors (epoll's ``poll`` with no timeout) for up to :data:`LINGER_TIME` before a
    sleep, the CPU yielded between them: what the first look that found something returned, else the last one's
    (empty)."""
    end = time.perf_counter() + LINGER_TIME
    while not (ready := look(0.0, count)) and time.perf_counter() < end:
        os.sched_yield()
    return ready


class StopListener(Protocol):
    """Something with threads waiting on the core: told (on the core thread) when the loop ends."""

    def loop_stopped(self) -> None: ...


class _ApiMsg:
    """One :meth:`StackLoop.call` in flight: the function, its outcome, and the lock its caller sleeps on."""

    __slots__ = ("fn", "result", "exc", "sem", "state")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.exc: BaseException | None = None
        self.sem = threading.Lock()
        self.sem.acquire()
        self.state = _QUEUED

    def __call__(self) -> None:
        if self.state != _QUEUED:
            return  # failed when the loop stopped
        self.state = _RUNNING
        try:
            self.result = self.fn()
        except BaseException as e:  # handed to the caller, who raises it on its own thread
            self.exc = e
        self.finish()

    def finish(self, exc: BaseException | None = None) -> None:
        if exc is not None:
            self.exc = exc
        self.state = _DONE
        self.sem.release()


class StackLoop:
    """Run ``stack`` on one thread until :meth:`stop`.

    ``clock`` gives the time fed to the stack.  By default it is real (monotonic) time continuing the stack's own
    timeline from ``stack.now``, so deadlines the stack set before the loop started (at time 0, say) keep their
    meaning.
    """

    def __init__(self, stack: Stack, clock: Callable[[], float] | None = None) -> None:
        self.stack = stack
        #: with the default clock, what it adds to ``time.monotonic()`` (the loop reads it so where a call costs)
        self._clock_offset: float | None = None
        if clock is None:
            offset = self._clock_offset = stack.now - time.monotonic()
            clock = lambda: time.monotonic() + offset  # noqa: E731
        self.clock = clock
        #: the mailbox bound (``CONFIG_LWIP_TCPIP_RECVMBOX_SIZE``)
        self.mbox_size = stack.config.tcpip_recvmbox_size
        stack.mem.alloc(MBOX, stack.mem.sizes.mbox(self.mbox_size))  # tcpip_init's sys_mbox_new (lwipy.core.mem)
        self._calls: deque[Callable[[], Any]] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._blocked = 0  # posters sleeping on a full mailbox
        self._waiting: set[_ApiMsg] = set()  # call()s not answered yet: failed if the loop ends first
        self._stop_listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._owner: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._woken = False
        self._cut = False  # the last turn stopped taking frames before a lazy device ran dry
        self._fed = False  # a batch (_batch) gave the stack a frame since the loop last looked
        #: ``CONFIG_LWIP_TCPIP_CORE_LOCKING``: API calls run on their caller's thread under :attr:`_core` (module doc)
        self.core_locking = bool(stack.config.tcpip_core_locking)
        self._core = threading.Lock()  # LOCK_TCPIP_CORE: the loop's for each turn, a caller's for its call
        self._sleep_until: float | None = None  # core locking: when the loop's sleep ends by itself (None: never)
        self._devices: list[Any] = []  # core locking: the devices the loop watches (their own deadlines)
        self._locked_calls = 0  # core locking: how many calls ran under the core lock
        self._generation = -1  # core locking: the stack's netif_generation whose devices the loop watches
        self._close_at_end = False  # close() was called while the loop ran: the pipe goes when it ends
        if stack.config.check_thread_safety:
            install_core_check(stack, self)

    # -- from any thread ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the loop serves its mailbox (started and not stopped)."""
        return self._running

    @property
    def core_thread_ident(self) -> int | None:
        """``threading.get_ident()`` of the core thread while the loop runs, else None."""
        return self._owner

    def is_core_thread(self) -> bool:
        """Whether the calling thread is the core thread."""
        return threading.get_ident() == self._owner

    def wake(self) -> None:
        """Make a sleeping loop look again (called by in-process devices when a frame arrives)."""
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the core thread (``tcpip_callback``).

        From another thread this blocks while the mailbox is full (``sys_mbox_post``), and raises
        ``LwipError(ESHUTDOWN)`` if it is full and the loop is not running or stops meanwhile.  On the core thread it
        never blocks: the function runs after the current message.  Exceptions ``fn`` raises are logged."""
        if threading.get_ident() == self._owner:
            self._calls.append(fn)
            return
        with self._lock:
            if len(self._calls) >= self.mbox_size:
                self._blocked += 1
                try:
                    while len(self._calls) >= self.mbox_size:
                        if not self._running:
                            raise LwipError(errno.ESHUTDOWN, "the core's mailbox is full and its loop is not running")
                        self._not_full.wait()
                finally:
                    self._blocked -= 1
            self._calls.append(fn)
        self.wake()

    def try_call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the core thread, or raise ``LwipError(ENOMEM)`` at once when the mailbox is full
        (``tcpip_try_callback``)."""
        with self._lock:
            if len(self._calls) >= self.mbox_size:
                raise LwipError(errno.ENOMEM, f"the core's mailbox is full ({self.mbox_size} messages)")
            self._calls.append(fn)
        if threading.get_ident() != self._owner:
            self.wake()

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn()`` on the core thread and return its result, or raise its exception, here (``tcpip_api_call``).

        Raises ``LwipError(ESHUTDOWN)`` when the loop is not running or stops before answering, and
        :class:`TimeoutError` when ``timeout`` seconds pass first (``fn`` may still run later).  With core locking
        a call that runs at once, on this thread, is not timed."""
        if threading.get_ident() == self._owner:
            return fn()
        if self.core_locking and not self._calls and self._core.acquire(False):
            try:
                return self._run_locked(fn)
            finally:
                self._core.release()
        msg = _ApiMsg(fn)
        with self._lock:
            if not self._running:
                raise LwipError(errno.ESHUTDOWN, "the stack's loop is not running; start() it first")
            self._waiting.add(msg)
        try:
            self.call_soon(msg)
        except LwipError:
            self._waiting.discard(msg)
            raise
        if not msg.sem.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError(f"the core thread did not answer within {timeout} s")
        if msg.exc is not None:
            raise msg.exc
        return msg.result

    def call_nowait(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the core for an API message whose caller learns the outcome otherwise (a netconn's write,
        window update or flush: its condition variable).  On the core thread it runs at once; with core locking at
        once on this thread, under the core lock (an exception it raises is logged, as the loop logs a posted
        call's); else it is posted (:meth:`call_soon`).  Raises ``LwipError(ESHUTDOWN)`` as :meth:`call_soon` does,
        and with core locking whenever the loop is not running."""
        if threading.get_ident() == self._owner:
            fn()
            return
        if not self.core_locking or self._calls or not self._core.acquire(False):
            self.call_soon(fn)
            return
        try:
            self._run_locked(fn)
        except Exception as e:
            if isinstance(e, LwipError) and e.errno == errno.ESHUTDOWN:
                raise  # (the loop is not running: as call_soon's)
            log.exception("%s: an API call raised", self.stack.name)
        finally:
            self._core.release()

    def _run_locked(self, fn: Callable[[], T]) -> T:
        """``fn()`` on this thread, which holds the core lock (core locking); then the core thread is woken when the
        call left it work: a function posted, or a deadline before the end of its sleep."""
        if not self._running:
            raise LwipError(errno.ESHUTDOWN, "the stack's loop is not running; start() it first")
        owner, self._owner = self._owner, threading.get_ident()
        self._locked_calls += 1
        try:
            self.stack.now = self.clock()
            return fn()
        finally:
            self._owner = owner
            if self._calls or self.stack.netif_generation != self._generation:
                self.wake()  # a function posted (call_soon on the lock's holder queues without a wake-up), or
                # netifs added or removed: the loop watches the devices anew
            else:
                until = self._sleep_until
                at = self.stack.poll_floor()
                if at is not None and (until is None or at < until):
                    self.wake()
                else:
                    for _, _, _, dev in self._devices:
                        at = dev.poll_at()
                        if at is not None and (until is None or at < until):
                            self.wake()
                            break

    def add_stop_listener(self, listener: StopListener) -> None:
        """Call ``listener.loop_stopped()`` on the core thread when the loop ends (held weakly)."""
        with self._lock:
            self._stop_listeners.add(listener)

    def discard_stop_listener(self, listener: StopListener) -> None:
        with self._lock:
            self._stop_listeners.discard(listener)

    def start(self, name: str | None = None) -> "StackLoop":
        """Run the loop on a new daemon thread."""
        self._running = True
        self._thread = threading.Thread(target=self.run, name=name or f"tcpip-{self.stack.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the loop to return, and wait for its thread if it has one (not from the core: the loop's own thread,
        or a call under the core lock, which the loop waits for before it can end)."""
        self._stopping = True
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread() \
                and threading.get_ident() != self._owner:
            self._thread.join(timeout)

    # -- on the loop's thread ----------------------------------------------------------------------------------------
    def run(self, duration: float | None = None) -> None:
        """Serve until :meth:`stop` (or for ``duration`` seconds)."""
        locking = self.core_locking
        if locking:
            self._core.acquire()  # (a call that took it first, between start() and here, ends first)
        self._owner = threading.get_ident()
        with self._lock:
            self._running = True
        stack = self.stack
        clock = self.clock
        end = None if duration is None else clock() + duration
        sel = _Poller(self._wake_r)
        wait = sel.wait
        if locking:  # core locking: the core lock is free while the loop sleeps, and only then
            core, sleep = self._core, wait

            def wait(timeout: float, count: int, linger: bool = False) -> list[tuple[int, int]]:
                """The sleep without the core lock (and the linger before it, as below: the lock stays free
                throughout, so that a call coming meanwhile runs at once instead of being posted).  What woke it is
                dropped, for a turn first, when a call meanwhile added or removed netifs or replaced the fast answer:
                the descriptors and the answer the loop would act on are those from before (epoll is level
                triggered: a descriptor still ready wakes the next sleep at once)."""
                nonlocal quiet
                calls_run = self._locked_calls
                core.release()
                try:
                    ready = _linger(sleep, count) if linger and timeout != 0.0 else None
                    if not ready:
                        ready = sleep(timeout, count)
                finally:
                    core.acquire()
                if self._locked_calls != calls_run:
                    quiet = False
                    if stack.netif_generation != generation or stack.fast_answer is not fast_answer:
                        return []
                return ready
        wake_fd = self._wake_r
        devices: list[tuple[Any, Any, bool, Any]] = []
        # descriptor -> (netif, frames, Device.frame_read_size) of the lazy devices
        lazy_fds: dict[int, tuple[Any, Any, int | None]] = {}
        drained = None  # the netif whose frames were taken when its descriptor woke the loop
        solo_fd, solo = -1, None  # the lone plain device's descriptor and its lazy_fds entry
        solo_dev = None  # that device, when the stack has no other
        # s16: the ping lane's (below): what the sleep returns when that device alone woke us, when it is plain (one
        # read, one frame), and its netif and read size
        solo_ready: list[tuple[int, int]] | None = None
        solo_netif, solo_size = None, 0
        # s22: the buffer the lane reads each frame into, lent to the fast answer, which writes the reply over the
        # request (Icmp.fast_echo's ``lent``): no buffer allocated for a ping on the way to its reply
        lane_view = memoryview(b"")
        lane_bufs = [lane_view]
        # after a sleep, what epoll said: a device whose frames are its descriptor's reads and nothing else
        # (Device.frame_read_size: a plain TAP) has nothing to read unless the descriptor was ready (level
        # triggered), and then it was read in the wake-up itself; their netifs
        waited = False
        plain_netifs: dict[Any, tuple[int, int]] = {}
        generation = -1
        calls = self._calls
        read, readv = os.read, os.readv
        monotonic, offset = time.monotonic, self._clock_offset  # the default clock, without a call of its own
        # nothing has run on the stack since the fast answer last answered (the loop only slept, and read nothing
        # more): what that answer checked of the stack holds still (Stack.fast_answer's ``quiet``); with core
        # locking, also no call ran under the core lock while the loop slept (the sleep below clears it)
        quiet = False
        try:
            while not self._stopping:
                # one turn per wake-up: the calls posted, every frame each device has (one read per frame and one
                # empty read; none for a plain device that did not wake us), what is due, then one poll_floor() and
                # one clock reading for the sleep (tail10: the default clock read here, without its call, as the
                # wake-up's)
                now = monotonic() + offset if offset is not None else clock()
                stack.now = now
                if calls:
                    self._run_calls()
                    quiet = False
                calls = self._calls  # _run_calls swapped in a fresh deque
                if generation != stack.netif_generation:  # netifs were added or removed (by a call, perhaps)
                    generation = self._generation = stack.netif_generation
                    quiet = False
                    devices = self._devices = self._watch(sel, devices, clock)
                    lazy_fds = {dev.fileno(): (netif, frames, dev.frame_read_size)
                                for netif, frames, lazy, dev in devices if lazy and dev.fileno() is not None}
                    # rr1: netif -> (descriptor, read size) of each; a turn reads them itself (_plain_batch)
                    plain_netifs = {netif: (fd, size) for fd, (netif, _, size) in lazy_fds.items()
                                    if size is not None}
                    # the lone plain device (one read is one frame): what woke us is read before anything else; off9:
                    # or the only device, lazy with every frame it has waiting in its descriptor (a TAP with offload,
                    # whose reads carry a header: Device.frames_in_descriptor)
                    solo_fd, solo = next(iter(lazy_fds.items())) if len(lazy_fds) == 1 and (plain_netifs or (
                        len(devices) == 1 and getattr(devices[0][3], "frames_in_descriptor", False))) else (-1, None)
                    solo_dev = devices[0][3] if solo is not None and len(devices) == 1 else None  # and the only one
                    solo_ready = None
                    if solo_dev is not None and solo[2] is not None:
                        solo_ready = [(solo_fd, sel.readable)]
                        solo_netif, _, solo_size = solo
                        if len(lane_view) != solo_size:
                            lane_view = memoryview(bytearray(solo_size))
                            lane_bufs = [lane_view]
                    waited = False  # (a device new to the set is read once before it is slept on)
                # no empty read of a plain device after a sleep (an application's call woke us, or a timer), unless
                # the wake-up's reading was cut short; a device with frames of its own (a wrapper holding some back,
                # a serial line's decoder) is asked every turn
                skip_plain = waited and not self._cut
                for netif, frames, lazy, _ in devices:
                    if netif is drained:  # read when it woke us, until it had nothing more (or the turn ended)
                        continue
                    if skip_plain and netif in plain_netifs:
                        continue
                    # every frame the device has; from a lazy reader each read when the one before was handled (a
                    # lone ping is answered before the empty read that ends the batch), for at most BATCH_TIME.
                    # Not "busy" afterwards: the device read until it had nothing more (EAGAIN), or its descriptor
                    # (level triggered) or waker says there is more, so the sleep below returns at once for the rest
                    if lazy:
                        plain = plain_netifs.get(netif)
                        if plain is None:
                            stack.input_many(netif, self._batch(frames(), now), now)
                        else:
                            stack.input_many(netif, self._plain_batch(plain[0], plain[1], now), now, None, True)
                    else:
                        received = frames()
                        if received:
                            stack.input_many(netif, received, now)
                            quiet = False
                drained = None
                waited = False
                # the floor of the stack's deadlines (Stack.poll_floor: no module asked; a wake-up it brings early runs
                # poll(), which makes it exact), every turn: the turn after a lone request 1,226 -> 785 bytecodes
                # (pollat11), and while a device never runs dry (every turn cut short) a timer is at most a turn or two
                # late (s11: tail10 asked the exact poll_at() once in 4 ms there, 6-9 us cold, a timer up to 5 ms
                # late).  Sleeping that much sooner after a reply lost request/response's fast mode with the client on
                # the other CPU, which LINGER_TIME below gives back
                wake_at = stack.poll_floor()
                if wake_at is not None:
                    if not self._cut:  # (a turn cut short goes on at once: its start's clock will do)
                        now = monotonic() + offset if offset is not None else clock()
                    if wake_at <= now:
                        stack.poll(now)
                        quiet = False
                        wake_at = stack.poll_floor()
                if self._cut:
                    wake_at = None  # no sleep to time
                if end is not None and (wake_at is None or end < wake_at):
                    wake_at = end
                for _, _, _, dev in devices:
                    if dev.poll_at() is not None:  # a device with work of its own (a queue to drain, a delay)
                        dev.poll(now)
                        quiet = False
                        dev_at = dev.poll_at()
                        if dev_at is not None and (wake_at is None or dev_at < wake_at):
                            wake_at = dev_at
                if end is not None and clock() >= end:
                    break
                # a turn cut short reads on (a waker-driven device would not wake us again); work posted meanwhile
                # (by a callback, or another thread) runs after a look at the descriptors that does not sleep, so
                # the next turn knows which devices have frames.  Calls that ran need no turn of their own: what
                # they set going (a device's frames, a posted call, a timer due) wakes the sleep at once
                if self._cut:
                    self._cut = False
                    continue
                if calls:
                    timeout = 0.0
                elif wake_at is None:
                    timeout = -1.0
                else:
                    timeout = wake_at - (monotonic() + offset if offset is not None else clock())
                    if timeout < 0.0:
                        timeout = 0.0
                if self._fed:  # a batch since the last answer gave frames to the stack
                    self._fed = False
                    quiet = False
                # epoll's poll called here, not through a method: after an idle sleep every layer between the wake-up
                # and the read costs microseconds (the process wakes with cold caches)
                waited = True
                self._sleep_until = wake_at  # (what a call under the core lock compares its deadlines with)
                fast_answer = stack.fast_answer
                ready_fds = None
                if locking:
                    ready_fds = wait(timeout, sel.count, solo_dev is not None)  # (lingering as below)
                else:
                    if solo_dev is not None and timeout != 0.0:
                        # s11: a lone plain device lingers up to LINGER_TIME before the sleep, looking without
                        # sleeping and yielding the CPU to whatever else may run on it (a client on this CPU goes
                        # first)
                        ready_fds = _linger(wait, sel.count)
                    if not ready_fds:
                        ready_fds = wait(timeout, sel.count)
                while ready_fds:
                    again = False
                    for fd, _ in ready_fds:
                        if fd == solo_fd:  # the lone plain device (a ping or request to an idle stack): no lookup
                            ready = solo
                        elif fd == wake_fd:
                            self._drain_wake()
                            continue
                        else:
                            ready = lazy_fds.get(fd)
                            if ready is None:
                                continue
                        # a lazy device's descriptor woke us: its frames first, before the rest of a turn (a lone ping or
                        # request is answered before the clock, the mailbox and the timers are looked at), the first
                        # tried on the stack's fast answer before anything else
                        netif, frames, size = ready
                        if size is not None:  # Device.frame_read_size: one read is one frame
                            try:
                                first = read(fd, size)
                            except OSError as e:
                                if e.errno != errno.EAGAIN and e.errno != errno.EIO:  # EIO: the interface is down
                                    raise
                                first = None
                        else:
                            first = next(frames(), None)
                        if first is not None:
                            now = monotonic() + offset if offset is not None else clock()
                            try:
                                if fast_answer(netif, first, now, quiet):
                                    first = None
                                    quiet = True
                                    self._fed = False
                                    # s8: the lone frame on the only device, answered: no read that would find
                                    # nothing, and no turn, when none has work.  No call was posted (the wake pipe
                                    # would be ready too), no other device exists, the stack's own echo answer arms no
                                    # timer (what poll_at said at the turn's end holds; a fast_answer of the user's
                                    # gets its turn), and a frame behind it keeps the descriptor ready (level
                                    # triggered).  The peer we answered then runs as soon as we sleep, on this CPU,
                                    # instead of waiting for its own idle virtual CPU to wake: on the 2-CPU VM a
                                    # minimal responder that read once more before sleeping answered ping in 91-104
                                    # us, one that slept at once in 52-57 (as fast as a blocking read; C lwIP 77)
                                    if fd == solo_fd and solo_dev is not None and len(ready_fds) == 1 \
                                            and not self._calls and solo_dev.poll_at() is None \
                                            and (wake_at is None or now < wake_at) \
                                            and fast_answer == stack.icmp.fast_echo:
                                        again = True
                                        break
                                else:
                                    quiet = False
                            except Exception:
                                stack.frame_failed(netif)  # as the stack's input handles a bug: dropped
                                first = None
                                quiet = False
                            # the rest as a turn reads the device (a plain one's reads here: _plain_batch)
                            if size is None:
                                stack.input_many(netif, self._batch(frames(), now), now, first)
                            else:  # (bare: reads, bytes each)
                                stack.input_many(netif, self._plain_batch(fd, size, now), now, first, True)
                            drained = netif
                            if self._fed:  # more frames came with it (another device's answer that follows is checked)
                                self._fed = False
                                quiet = False
                    if not again:
                        break
                    # s8: the lone frame was answered and nothing waits for a turn: asleep again at once
                    lend = getattr(fast_answer, "__func__", None) is _LENDING_ECHO
                    echo = fast_answer.__self__ if lend else None  # (the Icmp whose echo answer it is)
                    ready_fds = wait(-1.0 if wake_at is None else wake_at - now, sel.count)
                    # s16: the ping lane.  While the lone plain device alone wakes us, its frame is read and offered
                    # to the fast answer here, without the dispatch above, and, answered, slept on again when nothing
                    # else is due (the tests above, less those that cannot change while only the lane runs: the
                    # device, the descriptors, the fast answer itself: the stack's echo answer).  After an idle
                    # sleep every bytecode before the reply runs cold: 51 fewer a ping here (410 -> 359), and the
                    # time from the request to the reply on the TAP 5-15 us less of its 140-230 (p50, each
                    # placement).  s22: read into the lane's buffer, lent to the stack's own echo answer, which
                    # writes its reply over the request there (``lend``).  A frame it does not answer goes on as
                    # above (copied out of the buffer): to the stack with the rest the device has, then a turn.
                    # s24: when only the lane ran since the last answer (quiet), a request like the one answered last
                    # gets the answer that answer left (Icmp.quiet_echo): only what a ping changes is checked, and
                    # the reply written from pieces worked out before the sleep
                    while ready_fds == solo_ready:
                        try:
                            if lend:
                                length = readv(solo_fd, lane_bufs)
                            else:
                                first = read(solo_fd, solo_size)
                        except OSError:
                            break  # (the way above reads again, and meets the error there)
                        now = monotonic() + offset if offset is not None else clock()
                        try:
                            if lend:
                                quiet_echo = echo.quiet_echo if quiet else None
                                answered = quiet_echo is not None and quiet_echo(lane_view, length, now)
                                if not answered:
                                    answered = fast_answer(solo_netif, lane_view, now, quiet, length)
                                first = None if answered else bytes(lane_view[:length])
                            else:
                                answered = fast_answer(solo_netif, first, now, quiet)
                        except Exception:
                            stack.frame_failed(solo_netif)  # as above
                            first, answered = None, False
                        if not answered:
                            quiet = False
                            stack.input_many(solo_netif, self._plain_batch(solo_fd, solo_size, now), now, first, True)
                            drained = solo_netif
                            self._fed = False
                            ready_fds = None  # to the turn
                        else:
                            quiet = True  # (again, with core locking: a call while the lane slept cleared it)
                            if self._calls or solo_dev.poll_at() is not None or (wake_at is not None and now >= wake_at):
                                ready_fds = None
                            else:
                                ready_fds = wait(-1.0 if wake_at is None else wake_at - now, sel.count)
        finally:
            try:
                self._watch(sel, devices, clock, stop=True)
                sel.close()
                self._ended()
            finally:
                self._devices = []
                self._generation = -1
                if locking:
                    self._core.release()

    def _batch(self, frames: Iterator[Any], start: float) -> Iterator[Any]:
        """The frames of one turn: what ``frames`` gives, until calls were posted (they run before more frames) or
        :data:`BATCH_TIME` passed since the turn began (so the stack's clock, timers and mailbox never wait on a peer
        that keeps the device busy: a ping-pong partner whose next request is always there already)."""
        clock = self.clock
        until = start + BATCH_TIME  # (as _plain_batch)
        calls = self._calls
        for frame in frames:
            self._fed = True
            yield frame
            if calls or clock() > until:
                self._cut = True  # the device may hold more: the loop turns again before it sleeps
                return

    def _plain_batch(self, fd: int, size: int, start: float) -> Iterator[bytes]:
        """rr1: :meth:`_batch` of a device whose every frame is one read of ``fd`` (``Device.frame_read_size``: a
        TAP without offload), read here, in a turn and after the frame that woke the loop: one generator fewer
        between the stack and each read, and the default clock read without a call of its own (with the client on
        our CPU, a request/response partner's next request is there every time the reply is written, and the turn
        is one batch of such frames)."""
        read = os.read
        offset = self._clock_offset
        if offset is None:
            clock = self.clock
        else:
            clock = time.monotonic
            start -= offset  # compared with monotonic()
        # in13: the turn's last moment worked out once, and the mailbox as the turn found it (only _run_calls, at a
        # turn's start, puts a fresh one in its place: run's own ``calls`` is the same): 3 bytecodes less a frame
        until = start + BATCH_TIME
        calls = self._calls
        # in15: fed (a frame handed on) noted where the batch ends, not at every frame (only the loop reads it, once
        # input_many has taken the whole batch; an error out of a read ends the loop): 3 bytecodes less a frame
        # in2: the frame yielded as read (no local: a store and a load less, for the jump over the handler that
        # in15's else saved: 1 bytecode a frame; only a throw() into the generator, which nothing does, could raise
        # at the yield)
        for n in range(_PLAIN_BATCH):
            try:
                yield read(fd, size)
            except OSError as e:
                if e.errno == errno.EAGAIN or e.errno == errno.EIO:  # nothing more; EIO: the interface is down
                    if n:
                        self._fed = True
                    return
                raise
            if calls or clock() > until:
                self._fed = self._cut = True  # the device may hold more: the loop turns again before it sleeps
                return
        self._fed = True

    def _ended(self) -> None:
        with self._lock:
            self._running = False
            self._not_full.notify_all()  # posters blocked on a full mailbox give up with ESHUTDOWN
            listeners = list(self._stop_listeners)
            close, self._close_at_end = self._close_at_end, False
        for msg in list(self._waiting):
            self._waiting.discard(msg)
            if msg.state == _QUEUED:
                msg.finish(LwipError(errno.ESHUTDOWN, "the stack's loop stopped"))
        for listener in listeners:
            try:
                listener.loop_stopped()
            except Exception:
                log.exception("%s: a stop listener raised", self.stack.name)
        self._owner = None
        self._stopping = False
        if close:
            self._close_pipe()

    def _watch(self, sel: "_Poller", watched: list[tuple[Any, Any, bool, Any]], clock: Callable[[], float],
               stop: bool = False) -> list[tuple[Any, Any, bool, Any]]:
        """Stop watching the devices in ``watched`` and (unless ``stop``) start watching the stack's current ones:
        ``(netif, frames, lazy, device)`` each: ``frames`` the device's lazy reader when it has one
        (:attr:`Device.lazy_frames <lwipy.netif.device.Device.lazy_frames>`: frames it was not asked for stay in the
        device, so a turn may stop early), else its ``receive()`` (a list, all of it handled)."""
        for _, _, _, dev in watched:
            fd = dev.fileno()
            if fd is not None and fd >= 0:
                try:
                    sel.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
            else:
                dev.set_waker(None)
        if stop:
            return []
        devices = []
        for netif in self.stack.netifs:
            dev = netif.device
            if dev is None:
                continue
            lazy = bool(getattr(dev, "lazy_frames", False))
            devices.append((netif, dev.frames if lazy else dev.receive, lazy, dev))
            dev.set_clock(clock)
            fd = dev.fileno()
            if fd is not None:
                sel.register(fd)
            else:
                dev.set_waker(self.wake)
        return devices

    def _drain_wake(self) -> None:
        # read first, then clear the flag: a wake() between the two finds the flag set and writes nothing, but its
        # work is already queued and the loop looks at the queues before it sleeps again
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass
        self._woken = False

    def _run_calls(self) -> bool:
        if not self._calls:
            return False
        with self._lock:  # take the whole batch: the mailbox is free again, and blocked posters may go on
            batch, self._calls = self._calls, deque()
            if self._blocked:
                self._not_full.notify_all()
        for fn in batch:
            if isinstance(fn, _ApiMsg):
                self._waiting.discard(fn)
            try:
                fn()
            except Exception:  # a user's callback must not take the core thread down with it
                log.exception("%s: a callback posted to the loop raised", self.stack.name)
        return True

    def close(self) -> None:
        """Release the wake pipe (after :meth:`stop`).  Called while the loop still runs on its thread (from a call
        under the core lock, say, right after ``stop()``), it is released when the loop ends: the loop may be
        asleep on it, and a pipe closed under epoll's sleep could leave it asleep."""
        with self._lock:
            if self._running and self._thread is not None and self._thread is not threading.current_thread():
                self._close_at_end = True
                return
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


class _Poller:
    """What the loop sleeps in: epoll on the devices' descriptors and the wake pipe where there is epoll (one system
    call, no selector keys built per wake-up), else :mod:`selectors`.  :attr:`wait` returns the descriptors ready.
    """

    def __init__(self, wake_fd: int) -> None:
        self.wake_fd = wake_fd
        epoll = getattr(select, "epoll", None)
        self._epoll = epoll() if epoll is not None else None
        self._sel = selectors.DefaultSelector() if self._epoll is None else None
        #: how many descriptors are watched: the most one wait can return (what the loop passes as ``maxevents``,
        #: so that epoll's buffer for the events is a small one and not 1,023 entries allocated per wake-up)
        self.count = 0
        #: the events of a descriptor that is readable (and nothing else) in what :attr:`wait` returns
        self.readable = select.EPOLLIN if self._epoll is not None else selectors.EVENT_READ
        self.register(wake_fd)
        #: ``wait(timeout, maxevents)``: sleep until a descriptor is readable or ``timeout`` seconds passed
        #: (negative: no limit), and return the ``(fd, events)`` ready, at most ``maxevents`` of them: epoll's own
        #: ``poll`` where there is epoll
        self.wait: Callable[[float, int], list[tuple[int, int]]] = \
            self._epoll.poll if self._epoll is not None else self._select

    def register(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            self._sel.register(fd, selectors.EVENT_READ)
        self.count += 1

    def unregister(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            self._sel.unregister(fd)
        self.count -= 1

    def _select(self, timeout: float, maxevents: int = -1) -> list[tuple[int, int]]:
        return [(key.fd, events) for key, events in self._sel.select(None if timeout < 0 else timeout)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            self._sel.close()
