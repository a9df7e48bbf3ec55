"""The socket API as C programs call it: functions of a socket number, with lwIP's ``lwip_`` names.

ESP-IDF's lwIP guide lists the BSD functions an application may call -- ``socket()``, ``bind()``, ``accept()``,
``shutdown()``, ``getpeername()``, ``getsockopt()``/``setsockopt()``, ``close()``, ``read()``, ``readv()``,
``write()``, ``writev()``, ``recv()``, ``recvmsg()``, ``recvfrom()``, ``send()``, ``sendmsg()``, ``sendto()``,
``select()``, ``poll()``, ``fcntl()`` and ``ioctl()`` -- and notes that lwIP's sample code uses the prefixed forms
(``lwip_socket()`` for ``socket()``), both being served.  :class:`SocketApi` is shaped like Python's ``socket`` module
(``socket()`` makes an object), so the C-shaped functions here take the socket number as their first argument:

- ``lwip_<name>`` for each of them (``lwip_socket`` returns the socket's number; the socket table holds the
  socket until ``lwip_close``);
- ``read``, ``write``, ``readv``, ``writev`` and ``close`` under their plain names too (Python's socket module has
  none of them), with the signatures of :func:`os.read`, :func:`os.write`, :func:`os.readv`, :func:`os.writev` and
  :func:`os.close`.

Errors are raised as OSError with lwIP's errno (where C would return -1 and set ``errno``).
"""

from __future__ import annotations

import socket as _socket
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from .sockets import LwipSocket

__all__ = ["SocketFunctions", "LWIP_FUNCTIONS"]

#: the functions served with the ``lwip_`` prefix (lwIP's sockets.h names)
LWIP_FUNCTIONS = (
    "socket", "bind", "connect", "listen", "accept", "shutdown", "close", "getpeername", "getsockname",
    "getsockopt", "setsockopt", "read", "readv", "write", "writev", "recv", "recvfrom", "recvmsg", "send",
    "sendto", "sendmsg", "select", "poll", "ioctl", "fcntl", "getaddrinfo", "gethostbyname", "inet_ntop",
    "inet_pton",
)


class SocketFunctions:
    """Mixin of :class:`~lwipy.api.sockets.SocketApi`: the C-shaped calls (see the module's docstring)."""

    if TYPE_CHECKING:
        def lookup(self, fd: Any) -> "LwipSocket": ...
        def socket(self, family: int = -1, type: int = -1, proto: int = -1) -> "LwipSocket": ...

    # -- plain names os-style (through ESP-IDF's VFS on the chip) ---------------------------------------------------
    def read(self, fd: Any, n: int) -> bytes:
        """``read(s, mem, len)``: at most ``n`` bytes (as ``recv`` without flags; b"" at the end of a stream)."""
        return self.lookup(fd).recv(n)

    def write(self, fd: Any, data: Any) -> int:
        """``write(s, data, size)``: the bytes sent (as ``send`` without flags)."""
        return self.lookup(fd).send(data)

    def readv(self, fd: Any, buffers: Iterable[Any]) -> int:
        """``readv(s, iov, iovcnt)`` (lwIP's ``lwip_readv`` is ``recvmsg`` with the iovec): fill the writable
        ``buffers`` in order from one receive; the number of bytes read."""
        return self.lookup(fd).recvmsg_into(buffers)[0]

    def writev(self, fd: Any, buffers: Iterable[Any]) -> int:
        """``writev(s, iov, iovcnt)`` (``lwip_writev`` is ``sendmsg`` with the iovec): the buffers as one write
        (one datagram for UDP); the bytes sent."""
        return self.lookup(fd).sendmsg(buffers)

    def close(self, fd: Any) -> None:
        """``close(s)``: close the socket with this number."""
        self.lookup(fd).close()

    # -- lwip_ names ------------------------------------------------------------------------------------------------
    def lwip_socket(self, domain: int, type: int, protocol: int = 0) -> int:
        """``lwip_socket``: a new socket's number (held in the socket table until :meth:`lwip_close`)."""
        return self.socket(domain, type, protocol).fileno()

    def lwip_bind(self, s: Any, address: Any) -> None:
        self.lookup(s).bind(address)

    def lwip_connect(self, s: Any, address: Any) -> None:
        self.lookup(s).connect(address)

    def lwip_listen(self, s: Any, backlog: int | None = None) -> None:
        self.lookup(s).listen(backlog)

    def lwip_accept(self, s: Any) -> tuple[int, Any]:
        """``lwip_accept``: the new connection's socket number and the peer's address."""
        conn, address = self.lookup(s).accept()
        return conn.fileno(), address

    def lwip_shutdown(self, s: Any, how: int) -> None:
        self.lookup(s).shutdown(how)

    def lwip_close(self, s: Any) -> None:
        self.close(s)

    def lwip_getpeername(self, s: Any) -> Any:
        return self.lookup(s).getpeername()

    def lwip_getsockname(self, s: Any) -> Any:
        return self.lookup(s).getsockname()

    def lwip_getsockopt(self, s: Any, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        return self.lookup(s).getsockopt(level, optname, buflen)

    def lwip_setsockopt(self, s: Any, level: int, optname: int, value: Any) -> None:
        self.lookup(s).setsockopt(level, optname, value)

    def lwip_read(self, s: Any, n: int) -> bytes:
        return self.read(s, n)

    def lwip_readv(self, s: Any, buffers: Iterable[Any]) -> int:
        return self.readv(s, buffers)

    def lwip_write(self, s: Any, data: Any) -> int:
        return self.write(s, data)

    def lwip_writev(self, s: Any, buffers: Iterable[Any]) -> int:
        return self.writev(s, buffers)

    def lwip_recv(self, s: Any, n: int, flags: int = 0) -> bytes:
        return self.lookup(s).recv(n, flags)

    def lwip_recvfrom(self, s: Any, n: int, flags: int = 0) -> tuple[bytes, Any]:
        return self.lookup(s).recvfrom(n, flags)

    def lwip_recvmsg(self, s: Any, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> Any:
        return self.lookup(s).recvmsg(bufsize, ancbufsize, flags)

    def lwip_send(self, s: Any, data: Any, flags: int = 0) -> int:
        return self.lookup(s).send(data, flags)

    def lwip_sendto(self, s: Any, data: Any, flags: int, address: Any) -> int:
        return self.lookup(s).sendto(data, flags, address)

    def lwip_sendmsg(self, s: Any, buffers: Iterable[Any], ancdata: Iterable[Any] = (), flags: int = 0,
                     address: Any = None) -> int:
        return self.lookup(s).sendmsg(buffers, ancdata, flags, address)

    def lwip_select(self, rlist: Iterable[Any], wlist: Iterable[Any], xlist: Iterable[Any],
                    timeout: float | None = None) -> Any:
        return self.select(rlist, wlist, xlist, timeout)  # type: ignore[attr-defined]

    def lwip_poll(self, fds: Iterable[tuple[Any, int]], timeout_ms: int = -1) -> list[tuple[int, int]]:
        """``lwip_poll(fds, nfds, timeout)``: ``fds`` as (socket, events) pairs, the timeout in milliseconds (-1:
        wait); the (socket number, revents) pairs that are ready."""
        poller = self.poll()  # type: ignore[attr-defined]
        for fd, events in fds:
            poller.register(fd, events)
        return poller.poll(None if timeout_ms is None or timeout_ms < 0 else timeout_ms)

    def lwip_ioctl(self, s: Any, request: int, arg: Any = 0) -> int:
        return self.ioctl(s, request, arg)  # type: ignore[attr-defined]

    def lwip_fcntl(self, s: Any, cmd: int, arg: int = 0) -> int:
        return self.fcntl(s, cmd, arg)  # type: ignore[attr-defined]

    def lwip_getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                         flags: int = 0) -> Any:
        return self.getaddrinfo(host, port, family, type, proto, flags)  # type: ignore[attr-defined]

    def lwip_gethostbyname(self, name: str) -> str:
        return self.gethostbyname(name)  # type: ignore[attr-defined]

    @staticmethod
    def lwip_inet_ntop(family: int, packed: bytes) -> str:
        return _socket.inet_ntop(family, packed)

    @staticmethod
    def lwip_inet_pton(family: int, text: str) -> bytes:
        return _socket.inet_pton(family, text)
