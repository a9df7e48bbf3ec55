"""``lwipy.patch``: unmodified stdlib and asyncio programs over an lwipy stack.

::

    with lwipy.patch(loop) as api:                 # or a Stack (a core thread is started for it)
        urllib.request.urlopen("http://10.0.0.1:8000/").read()
        http.server.HTTPServer(("", 8080), handler).serve_forever()
        asyncio.run(main())                        # asyncio.open_connection / start_server over lwipy

Inside the ``with``, in this whole process:

- ``socket.socket`` is the stack's socket class (:attr:`SocketApi.socket_class`), so every ``socket.socket(...)``
  is an lwipy socket (AF_INET only, for now), and ``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``,
  ``getfqdn``, ``gethostbyaddr``, ``getdefaulttimeout`` and ``setdefaulttimeout`` are lwipy's (names resolve
  through the stack's DNS resolver, :mod:`lwipy.core.dns`; no reverse lookups);
- ``socket.socketpair`` and ``socket.fromfd`` still make OS sockets (asyncio wakes its loop through one);
- ``selectors.DefaultSelector`` (and the Select/Poll/Epoll selectors, and ``socketserver``'s) is an
  :class:`~lwipy.api.selector.LwipSelector`, which waits on lwipy sockets and OS descriptors together, so asyncio's
  default event loop and ``socketserver`` run over lwipy unchanged;
- ``select.select`` takes lwipy sockets as well as OS descriptors.

Everything is put back when the ``with`` ends; sockets made inside should be closed by then (those still open are).
Patching is process-wide: programs on other threads see it too.  ``ssl`` cannot wrap an lwipy socket (it needs an OS
socket).
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import socket
import socketserver
from typing import Any, Iterator

from ..core.stack import Stack
from .loop import StackLoop
from .selector import LwipSelector, hybrid_select
from .sockets import SocketApi

__all__ = ["patch"]

_OsSocket = socket.socket
_MISSING = object()


def _os_socketpair(family: int | None = None, type: int = socket.SOCK_STREAM, proto: int = 0) -> tuple[Any, Any]:
    """``socket.socketpair`` with OS sockets, whatever ``socket.socket`` is now."""
    a, b = socket._socket.socketpair(socket.AF_UNIX if family is None else family, type, proto)  # type: ignore
    return (_OsSocket(a.family, a.type, a.proto, a.detach()), _OsSocket(b.family, b.type, b.proto, b.detach()))


def _os_fromfd(fd: int, family: int, type: int, proto: int = 0) -> Any:
    return _OsSocket(family, type, proto, os.dup(fd))


def _api_for(target: Any) -> tuple[SocketApi, StackLoop | None]:
    """A SocketApi with OS descriptors for ``target``, and the loop started for it (to stop afterwards), if any."""
    if isinstance(target, SocketApi):
        if not target.os_fds:
            raise ValueError("lwipy.patch needs a SocketApi made with os_fds=True (or pass the StackLoop)")
        return target, None
    if isinstance(target, StackLoop):
        return SocketApi(target, os_fds=True), None
    if isinstance(target, Stack):
        loop = StackLoop(target).start()
        return SocketApi(loop, os_fds=True), loop
    raise TypeError(f"lwipy.patch takes a Stack, a StackLoop or a SocketApi, not {type(target).__name__}")


@contextlib.contextmanager
def patch(target: Stack | StackLoop | SocketApi) -> Iterator[SocketApi]:
    """Make Python's ``socket`` module (and ``selectors``, ``select.select``, ``socketserver``) use ``target``'s
    stack until the ``with`` ends; yields the :class:`SocketApi` in use."""
    api, owned = _api_for(target)

    class Selector(LwipSelector):
        def __init__(self) -> None:
            super().__init__(api)

    def getfqdn(name: str = "") -> str:
        return name or "localhost"

    def gethostbyaddr(ip: str) -> Any:
        raise socket.herror(1, f"Unknown host: lwipy has no reverse DNS for {ip}")

    replacements: list[tuple[Any, str, Any]] = [
        (socket, "socket", api.socket_class),
        (socket, "getaddrinfo", api.getaddrinfo),
        (socket, "gethostbyname", api.gethostbyname),
        (socket, "gethostbyname_ex", api.gethostbyname_ex),
        (socket, "gethostbyaddr", gethostbyaddr),
        (socket, "getfqdn", getfqdn),
        (socket, "getdefaulttimeout", api.getdefaulttimeout),
        (socket, "setdefaulttimeout", api.setdefaulttimeout),
        (socket, "socketpair", _os_socketpair),
        (socket, "fromfd", _os_fromfd),
        (select, "select", hybrid_select(api)),
        (socketserver, "_ServerSelector", Selector),
    ]
    for name in ("DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector", "DevpollSelector",
                 "KqueueSelector"):
        if hasattr(selectors, name):
            replacements.append((selectors, name, Selector))
    saved = [(mod, name, mod.__dict__.get(name, _MISSING)) for mod, name, _ in replacements]
    try:
        for mod, name, value in replacements:
            setattr(mod, name, value)
        yield api
    finally:
        for mod, name, value in reversed(saved):
            if value is _MISSING:
                delattr(mod, name)
            else:
                setattr(mod, name, value)
        api.close_all()
        if owned is not None:
            owned.stop()
