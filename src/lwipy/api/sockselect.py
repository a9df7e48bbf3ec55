"""select() and poll() over lwipy sockets (lwIP's ``lwip_select``/``lwip_poll``), as methods of
:class:`~lwipy.api.sockets.SocketApi`.

A socket is readable when recv or accept would not block (data, a connection or the end of the stream waits, or an
error is pending), writable when lwIP's ``sendevent`` is set (TCP: connected with room in the send buffer, or
failed; UDP and RAW: always), and in the exception set while an error is pending, until ``SO_ERROR`` (or the call
that reports it) reads it.  poll reports POLLIN, POLLOUT, POLLERR (always, as lwIP), POLLHUP once the connection is
gone, and POLLNVAL for a socket number that is not open.

Waiting threads sleep on one condition per socket API.  Every netconn event notifies it, but only while some thread
waits (``_waiting``): a thread registers before it scans, under the condition's lock, so an event either happens
before the scan (which then sees it) or finds the thread registered and wakes it.  A selector that also waits on OS
descriptors (:class:`~lwipy.api.selector.LwipSelector`) sleeps in the OS instead: it arms a pipe of its own
(:meth:`SelectMixin._arm`) before it scans, and the next event writes one byte to it.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import os_error
from .sockdefs import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI

if TYPE_CHECKING:
    from .sockets import LwipSocket

__all__ = ["SelectMixin", "Poll"]


class SelectMixin:
    """select, poll and their wake-up, for :class:`~lwipy.api.sockets.SocketApi`."""

    def _init_select(self) -> None:
        self._select_cond = threading.Condition(threading.Lock())
        self._waiting = 0
        self._armed: set[int] = set()  # pipes of selectors sleeping in the OS, to be written once

    def _wake(self) -> None:
        """Something changed: wake the threads in select or poll, and the selectors sleeping in the OS, if any."""
        if self._waiting:
            with self._select_cond:
                self._select_cond.notify_all()
        if self._armed:
            with self._select_cond:
                armed, self._armed = self._armed, set()
            for fd in armed:
                try:
                    os.write(fd, b"\0")
                except OSError:
                    pass  # full (a wake-up is pending anyway) or closed with its selector

    def _arm(self, wake_fd: int) -> None:
        """Write a byte to ``wake_fd`` at the next event (once)."""
        with self._select_cond:
            self._armed.add(wake_fd)

    def _disarm(self, wake_fd: int) -> None:
        with self._select_cond:
            self._armed.discard(wake_fd)

    if TYPE_CHECKING:
        def lookup(self, fd: Any) -> "LwipSocket": ...

    def _wait_until(self, scan: Any, timeout: float | None) -> Any:
        """Run ``scan()`` until it returns something true or ``timeout`` seconds pass (then its last value)."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        cond = self._select_cond
        with cond:
            self._waiting += 1
            try:
                while True:
                    found = scan()
                    if found:
                        return found
                    if deadline is None:
                        cond.wait()
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return found
                    cond.wait(left)
            finally:
                self._waiting -= 1

    def select(self, rlist: Iterable[Any], wlist: Iterable[Any], xlist: Iterable[Any],
               timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
        """As :func:`select.select`, over lwipy sockets (or their numbers): the objects ready for reading, writing
        and with an error pending.  EBADF when one is not an open socket, also when it is closed meanwhile."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative")
        sets = [[(obj, self.lookup(obj)) for obj in objs] for objs in (rlist, wlist, xlist)]
        tests = (lambda s: s._readable(), lambda s: s.sendevent, lambda s: s._error_pending())

        def scan() -> tuple[list[Any], list[Any], list[Any]] | None:
            ready: list[list[Any]] = [[], [], []]
            for pairs, test, out in zip(sets, tests, ready, strict=True):
                for obj, sock in pairs:
                    if sock._fd < 0:
                        raise os_error(errno.EBADF, "a socket select waits on was closed")
                    if test(sock):
                        out.append(obj)
            return (ready[0], ready[1], ready[2]) if any(ready) else None

        found = self._wait_until(scan, timeout)
        return found or ([], [], [])

    def poll(self) -> "Poll":
        """A poll object, as :func:`select.poll`, for lwipy sockets."""
        return Poll(self)


class Poll:
    """``select.poll`` for lwipy sockets: :meth:`register`, :meth:`modify`, :meth:`unregister`, :meth:`poll`."""

    def __init__(self, api: SelectMixin) -> None:
        self._api = api
        self._fds: dict[int, int] = {}

    @staticmethod
    def _fd(fd: Any) -> int:
        return fd if isinstance(fd, int) else fd.fileno()

    def register(self, fd: Any, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        self._fds[self._fd(fd)] = eventmask

    def modify(self, fd: Any, eventmask: int) -> None:
        n = self._fd(fd)
        if n not in self._fds:
            raise FileNotFoundError(errno.ENOENT, "the descriptor is not registered")
        self._fds[n] = eventmask

    def unregister(self, fd: Any) -> None:
        del self._fds[self._fd(fd)]

    def _revents(self, fd: int, mask: int) -> int:
        try:
            sock = self._api.lookup(fd)
        except OSError:
            return POLLNVAL
        revents = 0
        if mask & POLLIN and sock._readable():
            revents |= POLLIN
        if mask & POLLOUT and sock.sendevent:
            revents |= POLLOUT
        if sock._error_pending():
            revents |= POLLERR
        if sock._conn._mbox_closed:
            revents |= POLLHUP
        return revents

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """``[(fd, revents)]`` for the sockets with something to report; ``timeout`` in milliseconds (None or
        negative: wait until one has)."""
        seconds = None if timeout is None or timeout < 0 else timeout / 1000.0
        fds = dict(self._fds)

        def scan() -> list[tuple[int, int]]:
            out = []
            for fd, mask in fds.items():
                revents = self._revents(fd, mask)
                if revents:
                    out.append((fd, revents))
            return out

        return self._api._wait_until(scan, seconds)  # type: ignore[no-any-return]
