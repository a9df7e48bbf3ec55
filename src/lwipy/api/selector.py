"""A :mod:`selectors` selector for lwipy sockets and OS descriptors together (what asyncio and socketserver use).

lwipy sockets have no kernel object to wait on, so :class:`LwipSelector` keeps two sets: the lwipy sockets of one
:class:`~lwipy.api.sockets.SocketApi`, whose readiness it reads from the sockets, and every other descriptor, which
it hands to the machine's own selector together with a pipe of its own.  ``select()`` arms that pipe (the socket
API writes one byte to it at its next event), scans the lwipy sockets, then sleeps in the OS selector: not at all
when a socket was ready, else until a descriptor is ready, the pipe is written or the timeout passes.  An event
between the scan and the sleep finds the pipe armed, so none is missed.

An lwipy socket is reported readable when recv or accept would not block, writable when it has room to send, and
both (as epoll's EPOLLERR) while an error is pending.  The socket API must be made with ``os_fds=True`` so that
socket numbers are descriptors the OS gave out and cannot collide with real ones.
"""

from __future__ import annotations

import os
import select as _select
import selectors
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .sockets import SocketApi

__all__ = ["LwipSelector", "hybrid_select"]

EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
#: the machine's selector and select(), as they were before anything was patched
OsSelector = selectors.DefaultSelector
os_select = _select.select


class LwipSelector(selectors._BaseSelectorImpl):  # type: ignore[name-defined,misc]
    """A selector over ``api``'s sockets and any OS descriptors (the stdlib's base class keeps the keys:
    register, unregister, get_key, get_map)."""

    _fd_to_key: dict[int, selectors.SelectorKey]

    def __init__(self, api: "SocketApi") -> None:
        super().__init__()
        if not api.os_fds:
            raise ValueError("LwipSelector needs a SocketApi made with os_fds=True (socket numbers that are OS "
                             "descriptors); lwipy.patch makes one")
        self._api = api
        self._os = OsSelector()
        self._lwip: dict[int, selectors.SelectorKey] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._os.register(self._wake_r, EVENT_READ)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        if self._api.is_socket(key.fd):
            self._lwip[key.fd] = key
        else:
            try:
                self._os.register(key.fd, events)
            except BaseException:
                super().unregister(fileobj)
                raise
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        if self._lwip.pop(key.fd, None) is None:
            try:
                self._os.unregister(key.fd)
            except (KeyError, ValueError, OSError):
                pass  # closed meanwhile: the OS forgot it already
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self.get_key(fileobj)
        if events == key.events:
            key = key._replace(data=data)
            self._fd_to_key[key.fd] = key
            if key.fd in self._lwip:
                self._lwip[key.fd] = key
            return key
        self.unregister(fileobj)
        return self.register(fileobj, events, data)

    def _scan(self) -> list[tuple[selectors.SelectorKey, int]]:
        by_fd = self._api._by_fd
        ready = []
        for fd, key in self._lwip.items():
            sock = by_fd.get(fd)
            if sock is None:
                continue  # closed without being unregistered: the OS would have dropped it too
            if sock._error_pending():
                ready.append((key, key.events))
                continue
            events = 0
            if key.events & EVENT_READ and sock._readable():
                events |= EVENT_READ
            if key.events & EVENT_WRITE and sock.sendevent:
                events |= EVENT_WRITE
            if events:
                ready.append((key, events))
        return ready

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        api = self._api
        while True:
            api._arm(self._wake_w)
            try:
                ready = self._scan()
                wait = 0.0 if ready else None if deadline is None else max(0.0, deadline - time.monotonic())
                for key, events in self._os.select(wait):
                    if key.fd == self._wake_r:
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                        continue
                    ready.append((self._fd_to_key[key.fd], events))
            finally:
                api._disarm(self._wake_w)
            if ready or (deadline is not None and time.monotonic() >= deadline):
                return ready

    def close(self) -> None:
        super().close()
        self._lwip.clear()
        self._os.close()
        self._api._disarm(self._wake_w)
        os.close(self._wake_r)
        os.close(self._wake_w)


def hybrid_select(api: "SocketApi") -> Callable[..., tuple[list[Any], list[Any], list[Any]]]:
    """:func:`select.select` for lwipy sockets and OS descriptors mixed.  Without lwipy sockets it is the OS's own
    select; with only lwipy sockets, :meth:`SocketApi.select`; mixed, an :class:`LwipSelector` (OS descriptors in
    the exception list then report nothing)."""

    def is_lwip(obj: Any) -> bool:
        try:
            return api.is_socket(obj if isinstance(obj, int) else obj.fileno())
        except (AttributeError, TypeError, ValueError, OSError):
            return False

    def select(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
        rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
        lw = [is_lwip(o) for o in rlist + wlist + xlist]
        if not any(lw):
            return os_select(rlist, wlist, xlist, timeout)
        if all(lw):
            return api.select(rlist, wlist, xlist, timeout)
        with LwipSelector(api) as sel:
            wanted: dict[int, list[Any]] = {}
            for objs, event in ((rlist, EVENT_READ), (wlist, EVENT_WRITE)):
                for obj in objs:
                    fd = obj if isinstance(obj, int) else obj.fileno()
                    entry = wanted.setdefault(fd, [0, obj])
                    entry[0] |= event
            for fd, (events, obj) in wanted.items():
                sel.register(fd, events, obj)
            ready = sel.select(timeout)
        r = [o for o in rlist if any(k.data is o or k.fd == o for k, e in ready if e & EVENT_READ)]
        w = [o for o in wlist if any(k.data is o or k.fd == o for k, e in ready if e & EVENT_WRITE)]
        x = [o for o in xlist if is_lwip(o) and api.lookup(o)._error_pending()]
        return r, w, x

    return select
