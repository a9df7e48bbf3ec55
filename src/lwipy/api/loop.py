"""Drive one :class:`~lwipy.core.stack.Stack` from its devices and its deadline, on one thread.

This is the seed of lwIP's tcpip thread: the thread that runs the loop owns the stack, and any other thread reaches
it only through :meth:`StackLoop.call_soon` (fire and forget) or :meth:`StackLoop.call` (wait for the result).  The
loop sleeps in ``select`` on the devices' descriptors and a wake pipe until the stack's :meth:`poll_at` deadline, so
an idle stack costs nothing: no ticking timer.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from ..core.stack import Stack
from ..errors import LwipError

__all__ = ["StackLoop"]

T = TypeVar("T")
log = logging.getLogger("lwipy")


class StackLoop:
    """Run ``stack`` until :meth:`stop`.

    ``clock`` gives the time fed to the stack.  By default it is real (monotonic) time continuing the stack's own
    timeline from ``stack.now``, so deadlines the stack set before the loop started (at time 0, say) keep their
    meaning.
    """

    def __init__(self, stack: Stack, clock: Callable[[], float] | None = None) -> None:
        self.stack = stack
        if clock is None:
            origin, started = stack.now, time.monotonic()
            clock = lambda: origin + (time.monotonic() - started)  # noqa: E731
        self.clock = clock
        self._calls: deque[Callable[[], Any]] = deque()
        self._waiting: set[Future[Any]] = set()  # call()s not answered yet: failed if the loop ends first
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._owner: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._woken = False

    # -- from any thread ---------------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Make a sleeping loop look again (called by in-process devices when a frame arrives)."""
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the loop's thread (``tcpip_callback``)."""
        self._calls.append(fn)
        self.wake()

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn()`` on the loop's thread and return its result (or raise its exception) here."""
        if threading.get_ident() == self._owner:
            return fn()
        if not self._running:
            raise LwipError(errno.ESHUTDOWN, "the stack's loop is not running; start() it first")
        future: Future[T] = Future()

        def run() -> None:
            self._waiting.discard(future)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as e:
                    future.set_exception(e)

        self._waiting.add(future)
        self.call_soon(run)
        return future.result(timeout)

    def start(self, name: str | None = None) -> "StackLoop":
        """Run the loop on a new daemon thread."""
        self._running = True
        self._thread = threading.Thread(target=self.run, name=name or f"tcpip-{self.stack.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the loop to return, and wait for its thread if it has one."""
        self._stopping = True
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- on the loop's thread ----------------------------------------------------------------------------------------
    def run(self, duration: float | None = None) -> None:
        """Serve until :meth:`stop` (or for ``duration`` seconds)."""
        self._owner = threading.get_ident()
        self._running = True
        stack = self.stack
        clock = self.clock
        end = None if duration is None else clock() + duration
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        devices: list[tuple[Any, Any]] = []
        generation = -1
        try:
            while not self._stopping:
                if generation != stack.netif_generation:  # netifs were added or removed: watch the new set
                    generation = stack.netif_generation
                    devices = self._watch(sel, devices, clock)
                now = clock()
                stack.now = now
                busy = self._run_calls()
                for netif, dev in devices:
                    frames = dev.receive()
                    if frames:
                        busy = True
                        stack.input_many(netif, frames, now)
                    if dev.poll_at() is not None:
                        dev.poll(now)
                due = stack.poll_at()
                if due is not None and due <= clock():
                    stack.poll(clock())
                    due = stack.poll_at()
                if end is not None and clock() >= end:
                    break
                if busy:
                    continue
                deadlines = [d for d in [due, end] + [dev.poll_at() for _, dev in devices] if d is not None]
                timeout = max(0.0, min(deadlines) - clock()) if deadlines else None
                for key, _ in sel.select(timeout):
                    if key.fd == self._wake_r:
                        self._drain_wake()
        finally:
            self._watch(sel, devices, clock, stop=True)
            sel.close()
            self._running = False
            self._owner = None
            self._stopping = False
            for future in list(self._waiting):
                self._waiting.discard(future)
                if future.set_running_or_notify_cancel():
                    future.set_exception(LwipError(errno.ESHUTDOWN, "the stack's loop stopped"))

    def _watch(self, sel: selectors.BaseSelector, watched: list[tuple[Any, Any]], clock: Callable[[], float],
               stop: bool = False) -> list[tuple[Any, Any]]:
        """Stop watching the devices in ``watched`` and (unless ``stop``) start watching the stack's current ones."""
        for _, dev in watched:
            fd = dev.fileno()
            if fd is not None and fd >= 0:
                try:
                    sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            else:
                dev.set_waker(None)
        if stop:
            return []
        devices = [(netif, netif.device) for netif in self.stack.netifs if netif.device is not None]
        for _, dev in devices:
            dev.set_clock(clock)
            fd = dev.fileno()
            if fd is not None:
                sel.register(fd, selectors.EVENT_READ)
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
        calls = self._calls
        if not calls:
            return False
        for _ in range(len(calls)):
            fn = calls.popleft()
            try:
                fn()
            except Exception:  # a user's callback must not take the core thread down with it
                log.exception("%s: a callback posted to the loop raised", self.stack.name)
        return True

    def close(self) -> None:
        """Release the wake pipe (after :meth:`stop`)."""
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
