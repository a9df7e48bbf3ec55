"""BSD sockets on netconn (lwIP's ``sockets.c``), shaped like Python's ``socket`` module.

::

    loop = StackLoop(stack).start()
    net = SocketApi(loop)                          # a socket module bound to this stack
    srv = net.socket(net.AF_INET, net.SOCK_STREAM)
    srv.setsockopt(net.SOL_SOCKET, net.SO_REUSEADDR, 1)
    srv.bind(("", 8080))
    srv.listen()
    conn, peer = srv.accept()
    while data := conn.recv(4096):
        conn.sendall(data)
    conn.close()

Theory of operation
-------------------
A :class:`LwipSocket` wraps one :class:`~lwipy.api.netconn.Netconn`; every call is the netconn's, run on the core
thread, and a socket adds what lwIP's socket layer adds: a table of at most ``max_sockets``
(``CONFIG_LWIP_MAX_SOCKETS``; numbered from ``LWIP_SOCKET_OFFSET`` as ESP-IDF does, EMFILE when full), the
unread rest of a TCP chunk or a peeked datagram (``lastdata``), options (:mod:`lwipy.api.sockopt`), and readiness
for select and poll (:mod:`lwipy.api.sockselect`).

Readiness comes from the netconn's events (``event_callback``): SENDPLUS and SENDMINUS set and clear a socket's
``sendevent``; every event wakes the threads sleeping in select or poll on this stack, if there are any.  Whether a
socket is readable or has an error pending is read from the netconn's own state (its mailbox, its pending error),
so it can never drift from what recv would find.

Errors are what Python's socket module raises: ``OSError`` subclasses by errno (``ConnectionRefusedError``,
``BlockingIOError``...), ``TimeoutError("timed out")`` when a :meth:`LwipSocket.settimeout` timeout expires
(``SO_RCVTIMEO``/``SO_SNDTIMEO`` expire as ``EAGAIN``, as lwIP reports them), ``socket.gaierror`` for a name that
cannot be resolved (``getaddrinfo`` resolves through the stack's DNS resolver; ``connect`` and ``bind`` take numeric
addresses, as lwIP's do), ``TypeError`` and
``OverflowError`` for a malformed address.  lwIP's errnos are kept, with two exceptions made for Python programs:
``recv`` returns ``b""`` again after the end of the stream (lwIP reports ENOTCONN there), and a TCP socket that was
never connected raises ENOTCONN in recv at once (lwIP would block).

Closing a socket from another thread is safe: threads blocked in it (recv, accept, send, connect) wake with
``EBADF``, select raises ``EBADF`` and poll reports ``POLLNVAL`` for it.
"""

from __future__ import annotations

import errno
import io
import os
import socket as _socket
import sys
import threading
import time
import warnings
from ipaddress import AddressValueError, IPv4Address, IPv6Address
from typing import Any, Iterable

from ..core.dns import LWIP_DNS_ADDRTYPE_DEFAULT, LWIP_DNS_ADDRTYPE_IPV4, LWIP_DNS_ADDRTYPE_IPV6
from ..errors import LwipError, LwipTimeout, os_error
from . import netdb, sockdefs, sockopt
from .defs import (NETCONN_COPY, NETCONN_DONTBLOCK, NETCONN_EVT_SENDMINUS, NETCONN_EVT_SENDPLUS, NETCONN_MORE,
                   NETCONN_RAW, NETCONN_TCP, NETCONN_TYPE_IPV6, NETCONN_UDP, netconn_group)
from .loop import StackLoop
from .netbuf import NetBuf
from .netconn import Netconn
from .netdb import hostname_text
from .sockdefs import AI_CANONNAME, AI_NUMERICHOST
from .sockdefs import (AF_INET, AF_INET6, AI_PASSIVE, BLOCKING_ERRNOS, EAI_FAMILY, EAI_NONAME, EAI_SERVICE, FIONBIO, FIONREAD,
                       F_GETFL, F_SETFL, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPV6_PKTINFO,
                       IP_PKTINFO, LWIP_SOCKET_OFFSET_BASE, MSG_CTRUNC, MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL, MSG_PEEK,
                       MSG_TRUNC, MSG_WAITALL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, SHUT_RD, SHUT_RDWR, SHUT_WR,
                       SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_STREAM)
from .sockfuncs import SocketFunctions
from .sockselect import SelectMixin

__all__ = ["SocketApi", "LwipSocket"]

_KINDS: dict[int, int] = {int(SOCK_STREAM): NETCONN_TCP, int(SOCK_DGRAM): NETCONN_UDP, int(SOCK_RAW): NETCONN_RAW}
_RECV_FLAGS = MSG_PEEK | MSG_WAITALL | MSG_DONTWAIT
_SEND_FLAGS = MSG_DONTWAIT | MSG_MORE | MSG_NOSIGNAL
_PKTINFO_SPACE = _socket.CMSG_SPACE(12)  # struct in_pktinfo: ipi_ifindex, ipi_spec_dst, ipi_addr
_PKTINFO6_SPACE = _socket.CMSG_SPACE(20)  # struct in6_pktinfo: ipi6_addr, ipi6_ifindex
_NEW, _CONNECTING, _CONNECTED, _LISTENING = range(4)
_DEFAULT = object()


def _from_lwip(e: LwipError) -> OSError:
    return os_error(e.errno or errno.EIO, e.strerror.partition(": ")[2] if e.strerror else "")


def parse_host(host: Any) -> IPv4Address:
    """A host as Python's socket module takes it: ``''`` (any), ``'<broadcast>'``, a numeric IPv4 address or
    ``'localhost'``; anything else raises ``socket.gaierror`` (lwIP's connect and bind resolve no names)."""
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("idna")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if host == "":
        return IPv4Address(0)
    if host == "<broadcast>":
        return IPv4Address("255.255.255.255")
    if host == "localhost":
        return IPv4Address("127.0.0.1")
    try:
        return IPv4Address(host)
    except AddressValueError:
        pass
    if ":" in host:
        raise _socket.gaierror(EAI_FAMILY, "Address family for hostname not supported (lwipy's sockets are IPv4)")
    raise _socket.gaierror(EAI_NONAME, f"Name or service not known: {host!r} is no numeric IPv4 address (lwIP's "
                                       "connect and bind take addresses: resolve names with getaddrinfo)")


def parse_address(address: Any) -> tuple[IPv4Address, int]:
    """An AF_INET address ``(host, port)``; TypeError, OverflowError or gaierror as Python's socket module."""
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"AF_INET address must be a pair (host, port), not {address!r}")
    host, port = address
    return parse_host(host), _port(port)


def _port(port: Any) -> int:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 0xFFFF:
        raise OverflowError("port must be 0-65535.")
    return port


def parse_host6(host: Any) -> IPv6Address:
    """An AF_INET6 host: ``''`` (::), ``'localhost'`` (::1) or a numeric IPv6 address (an IPv4-mapped one, such as
    ``::ffff:10.0.0.1``, reaches an IPv4 peer); an IPv4 literal or a name raises ``socket.gaierror``."""
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("idna")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if host == "":
        return IPv6Address(0)
    if host == "localhost":
        return IPv6Address(1)
    try:
        return IPv6Address(host.split("%", 1)[0])
    except AddressValueError:
        pass
    try:
        IPv4Address(host)
    except AddressValueError:
        raise _socket.gaierror(EAI_NONAME, f"Name or service not known: {host!r} is no numeric IPv6 address (lwIP's "
                                           "connect and bind take addresses: resolve names with getaddrinfo)") from None
    raise _socket.gaierror(EAI_FAMILY, "Address family for hostname not supported: an AF_INET6 socket takes IPv6 "
                                       "addresses (an IPv4 peer as ::ffff:a.b.c.d)")


def parse_address6(address: Any) -> tuple[IPv6Address, int]:
    """An AF_INET6 address ``(host, port[, flowinfo[, scope_id]])``."""
    if not isinstance(address, tuple) or not 2 <= len(address) <= 4:
        raise TypeError(f"AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]]), not {address!r}")
    return parse_host6(address[0]), _port(address[1])


class LwipSocket:
    """A socket of an lwipy stack, with the methods of Python's :class:`socket.socket` (make one with
    :meth:`SocketApi.socket`).  Its :meth:`fileno` is lwIP's socket number, not an OS descriptor: wait on it with
    :meth:`SocketApi.select` or :meth:`SocketApi.poll`."""

    def __init__(self, api: "SocketApi", family: int, type: int, proto: int, conn: Netconn | None = None) -> None:
        self._api = api
        self._loop = api.loop
        self.family = _socket.AddressFamily(family)
        self.type = _socket.SocketKind(type)
        self.proto = proto
        kind = _KINDS[int(type)] | (NETCONN_TYPE_IPV6 if family == AF_INET6 else 0)
        self._group = netconn_group(kind)
        #: an AF_INET6 socket: IPv6 addresses, IPv4 peers as IPv4-mapped ones (unless IPV6_V6ONLY)
        self._v6 = family == AF_INET6
        self._fd = -1
        self._closed = False
        self._io_refs = 0
        self._lastdata: bytes | None = None  # TCP: the unread rest of a chunk, from _lastoff
        self._lastoff = 0
        self._lastbuf: NetBuf | None = None  # UDP/RAW: a datagram read with MSG_PEEK
        self._eof = False
        self._recv_err = 0  # an error that ended a recv which had data to return first
        self._sent_to: tuple[Any, Any] = (None, None)  # udp18: sendto's last address, and what it parsed to
        self._state = _CONNECTED if conn is not None else _NEW
        self._bound = False
        self._shut_rd = self._shut_wr = False
        #: lwIP's sendevent: a TCP socket is writable after SENDPLUS, until SENDMINUS; UDP and RAW always are
        self.sendevent = 1 if self._group != NETCONN_TCP or conn is not None else 0
        self._rlock = threading.Lock()  # one reader at a time (lastdata)
        self._wlock = threading.Lock()  # one writer at a time: a TCP stream's bytes stay in order
        self._timeout: float | None = api._default_timeout
        cfg = self._loop.stack.config
        self._opts: dict[str, Any] = {
            "reuse_addr": False, "keepalive": False, "broadcast": False, "no_checksum": False, "rcvbuf": 0,
            "rcvtimeo": None, "sndtimeo": None, "linger": None, "ttl": cfg.ip_default_ttl, "tos": 0,
            "pktinfo": False, "multicast_ttl": 1, "multicast_loop": True, "multicast_if": None, "nodelay": False,
            "keep_idle": cfg.tcp_keepidle / 1000.0, "keep_intvl": cfg.tcp_keepintvl / 1000.0,
            "keep_cnt": cfg.tcp_keepcnt, "recvpktinfo6": False, "v6only": False, "hop_limit": None, "multicast_if6": 0,
        }
        if conn is None:
            try:
                conn = Netconn(self._loop, kind, proto, callback=api._event)
            except LwipError as e:
                if e.errno == errno.ENOMEM:  # lwip_socket: netconn_new found no pcb (or netconn) free
                    raise os_error(errno.ENOBUFS, e.strerror or "no pcb is free") from None
                raise _from_lwip(e) from None
        else:
            self._opts.update(conn._pcb_opts)
        self._conn = conn
        try:
            self._fd = api._alloc(self)
        except OSError:
            conn.delete()
            raise
        conn.socket = self
        self._apply_timeouts()

    # -- housekeeping ----------------------------------------------------------------------------------------------
    def fileno(self) -> int:
        """lwIP's socket number (``LWIP_SOCKET_OFFSET`` + index), or -1 once closed."""
        return self._fd

    @property
    def netconn(self) -> Netconn:
        """The netconn underneath."""
        return self._conn

    def _check(self) -> None:
        if self._fd < 0:
            raise os_error(errno.EBADF, "the socket is closed")

    def _fail(self, e: LwipError) -> OSError:
        """The OSError for a netconn error; EBADF when the socket was closed meanwhile (by another thread)."""
        if self._fd < 0:
            return os_error(errno.EBADF, "the socket was closed while the call waited")
        if isinstance(e, LwipTimeout):
            if self._timeout:
                return TimeoutError("timed out")
            return os_error(errno.EAGAIN, "SO_RCVTIMEO or SO_SNDTIMEO expired")
        return _from_lwip(e)

    def _set_pcb_option(self, name: str, value: Any) -> None:
        self._opts[name] = value
        try:
            self._conn.set_option(name, value)
        except LwipError as e:
            raise self._fail(e) from None

    def _netif(self, index: int) -> Any:
        """The netif with interface index ``index`` (ENODEV when there is none)."""
        netif = self._loop.call(lambda: self._loop.stack.netif_by_index(index))
        if netif is None:
            raise LwipError(errno.ENODEV, f"no netif has index {index}")
        return netif

    def _netif_address(self, index: int) -> IPv4Address | None:
        def find() -> IPv4Address | None:
            netif = self._loop.stack.netif_by_index(index)
            if netif is None:
                raise LwipError(errno.ENODEV, f"no netif has index {index}")
            return netif.ip4.ip if netif.ip4 is not None else None
        return self._loop.call(find)

    def _apply_timeouts(self) -> None:
        conn = self._conn
        conn.nonblocking = self._timeout == 0.0
        conn.recv_timeout = self._timeout or self._opts["rcvtimeo"]
        conn.send_timeout = self._timeout or self._opts["sndtimeo"]

    def __enter__(self) -> "LwipSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2, source=self)
            try:
                self._real_close(background=True)
            except Exception:
                pass

    def __repr__(self) -> str:
        text = f"<lwipy.LwipSocket fd={self._fd}, family={self.family}, type={self.type}, proto={self.proto}"
        if self._fd >= 0:
            try:
                text += f", laddr={self.getsockname()}"
                text += f", raddr={self.getpeername()}"
            except OSError:
                pass
        return text + ">"

    # -- timeouts and blocking -------------------------------------------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        """None: block; 0: non-blocking; a positive number: block up to that many seconds, then TimeoutError."""
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value
        self._apply_timeouts()

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # -- addresses -------------------------------------------------------------------------------------------------
    def bind(self, address: tuple[str, int]) -> None:
        """Bind to ``(host, port)``: host ``''`` for any address, port 0 for an ephemeral one."""
        self._check()
        ip, port = self._parse(address)
        if self._bound or self._state != _NEW:
            raise os_error(errno.EINVAL, "the socket is bound already")
        try:
            self._conn.bind(ip, port)
        except LwipError as e:
            raise self._fail(e) from None
        self._bound = True

    def getsockname(self) -> tuple[str, int]:
        return self._getaddr(True)

    def getpeername(self) -> tuple[str, int]:
        """The peer's ``(host, port)``; ENOTCONN when there is none."""
        return self._getaddr(False)

    def _getaddr(self, local: bool) -> Any:
        self._check()
        try:
            ip, port = self._conn.getaddr(local)
        except LwipError as e:
            raise self._fail(e) from None
        return self._sockaddr(ip, port)

    def _parse(self, address: Any) -> tuple[Any, int]:
        return parse_address6(address) if self._v6 else parse_address(address)

    def _sockaddr(self, ip: Any, port: int, netif_index: int = 0) -> Any:
        """An address as this socket's family shows it: ``(host, port)``, or for AF_INET6 ``(host, port, flowinfo,
        scope_id)`` with an IPv4 peer as ``::ffff:a.b.c.d`` and a link-local one with its netif's index."""
        if not self._v6:
            return str(ip), port
        if isinstance(ip, IPv4Address):
            return f"::ffff:{ip}", port, 0, 0
        return str(ip), port, 0, netif_index if ip.is_link_local else 0

    # -- connecting ------------------------------------------------------------------------------------------------
    def connect(self, address: tuple[str, int]) -> None:
        """Connect to ``(host, port)``.  Non-blocking: BlockingIOError(EINPROGRESS), then select for writable and
        read SO_ERROR.  UDP and RAW: fix the peer datagrams go to and come from."""
        self._check()
        ip, port = self._parse(address)
        if self._group != NETCONN_TCP:
            try:
                self._conn.connect(ip, port)
            except LwipError as e:
                raise self._fail(e) from None
            self._state = _CONNECTED
            return
        if self._state == _LISTENING:
            raise os_error(errno.EISCONN, "the socket is listening")
        if ip.is_unspecified:
            ip = IPv6Address(1) if ip.version == 6 else IPv4Address("127.0.0.1")  # as Linux: this host
        timeout = self._timeout
        try:
            self._conn.connect(ip, port, timeout=timeout)
        except LwipTimeout:
            self._state = _CONNECTING
            raise TimeoutError("timed out") from None
        except LwipError as e:
            if e.errno == errno.EINPROGRESS:
                self._state = _CONNECTING
            raise self._fail(e) from None
        self._state = _CONNECTED

    def connect_ex(self, address: tuple[str, int]) -> int:
        """:meth:`connect`, returning the errno (0 on success) instead of raising it."""
        try:
            self.connect(address)
        except TimeoutError:
            return errno.EWOULDBLOCK
        except _socket.gaierror:
            raise
        except OSError as e:
            return e.errno or errno.EIO
        return 0

    def listen(self, backlog: int | None = None) -> None:
        """Accept connections; at most ``backlog`` (capped by ``tcp_accept_mbox_size``, lwIP's accept mailbox) wait
        for :meth:`accept`, more are refused."""
        self._check()
        if self._group != NETCONN_TCP:
            raise os_error(errno.EOPNOTSUPP, "only a SOCK_STREAM socket listens")
        if self._state in (_CONNECTING, _CONNECTED):
            raise os_error(errno.EINVAL, "the socket is connected")
        limit = self._loop.stack.config.tcp_accept_mbox_size
        size = limit if backlog is None else max(1, min(int(backlog), limit))
        try:
            self._conn.listen(size)
        except LwipError as e:
            raise self._fail(e) from None
        self._state = _LISTENING

    @property
    def _listening(self) -> bool:
        return self._state == _LISTENING

    def accept(self) -> tuple["LwipSocket", tuple[str, int]]:
        """The next connection: ``(socket, (host, port))``.  EMFILE when every socket is in use (the connection is
        closed)."""
        self._check()
        if self._group != NETCONN_TCP:
            raise os_error(errno.EOPNOTSUPP, "only a SOCK_STREAM socket accepts")
        try:
            new = self._conn.accept()
        except LwipError as e:
            raise self._fail(e) from None
        try:
            ip, port = new.getaddr(False)
        except LwipError:
            new.delete()  # reset before it could be handed over: lwIP's accept fails the same way
            raise os_error(errno.ECONNABORTED, "the connection was reset before accept returned it") from None
        sock = LwipSocket.__new__(type(self))  # the same class: isinstance(sock, socket.socket) under lwipy.patch
        LwipSocket.__init__(sock, self._api, self.family, SOCK_STREAM, self.proto, conn=new)
        return sock, sock._sockaddr(ip, port)

    # -- receiving -------------------------------------------------------------------------------------------------
    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` at the end of the stream.  Flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT."""
        data, _, _ = self._recv(bufsize, flags, None)
        assert isinstance(data, bytes)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        n = nbytes or len(view)
        if n < 0 or n > len(view):
            raise ValueError("buffer too small for requested bytes" if n > 0 else "negative buffersize in recv_into")
        count, _, _ = self._recv(n, flags, view)
        assert isinstance(count, int)
        return count

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int] | None]:
        data, buf, _ = self._recv(bufsize, flags, None)
        assert isinstance(data, bytes)
        return data, self._source(buf)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, tuple[str, int] | None]:
        view = memoryview(buffer).cast("B")
        n = nbytes or len(view)
        if n > len(view):
            raise ValueError("nbytes is greater than the length of the buffer")
        count, buf, _ = self._recv(n, flags, view)
        assert isinstance(count, int)
        return count, self._source(buf)

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> tuple[bytes, list[tuple[int, int, bytes]],
                                                                                  int, tuple[str, int] | None]:
        """``(data, ancdata, msg_flags, address)``.  With ``IP_PKTINFO`` on (UDP) and room for it in ``ancbufsize``,
        ``ancdata`` holds ``(IPPROTO_IP, IP_PKTINFO, struct in_pktinfo)``: the netif index and the address the
        datagram was sent to (lwIP's NETBUF_RECVINFO).  msg_flags has MSG_TRUNC for a datagram cut short."""
        data, buf, truncated = self._recv(bufsize, flags, None)
        assert isinstance(data, bytes)
        ancdata, msg_flags = self._ancillary(buf, ancbufsize)
        return data, ancdata, msg_flags | (MSG_TRUNC if truncated else 0), self._source(buf)

    def recvmsg_into(self, buffers: Iterable[Any], ancbufsize: int = 0, flags: int = 0) \
            -> tuple[int, list[tuple[int, int, bytes]], int, tuple[str, int] | None]:
        views = [memoryview(b).cast("B") for b in buffers]
        data, ancdata, msg_flags, address = self.recvmsg(sum(len(v) for v in views), ancbufsize, flags)
        pos = 0
        for v in views:
            n = min(len(v), len(data) - pos)
            v[:n] = data[pos:pos + n]
            pos += n
        return len(data), ancdata, msg_flags, address

    def _source(self, buf: NetBuf | None) -> Any:
        if buf is not None:
            return self._sockaddr(buf.fromaddr, buf.fromport if self._group == NETCONN_UDP else 0, buf.if_idx)
        return None

    def _ancillary(self, buf: NetBuf | None, ancbufsize: int) -> tuple[list[tuple[int, int, bytes]], int]:
        """IP_PKTINFO (struct in_pktinfo) or, on an AF_INET6 socket, IPV6_RECVPKTINFO's IPV6_PKTINFO (struct
        in6_pktinfo: the address the datagram was sent to, the netif index; RFC 3542 6.1)."""
        if buf is None:
            return [], 0
        if self._v6:
            if not self._opts["recvpktinfo6"]:
                return [], 0
            if ancbufsize < _PKTINFO6_SPACE:
                return [], MSG_CTRUNC
            dst = buf.destaddr
            packed = dst.packed if dst.version == 6 else b"\0" * 10 + b"\xff\xff" + dst.packed
            return [(IPPROTO_IPV6, IPV6_PKTINFO, packed + buf.if_idx.to_bytes(4, sys.byteorder))], 0
        if not self._opts["pktinfo"]:
            return [], 0
        if ancbufsize < _PKTINFO_SPACE:
            return [], MSG_CTRUNC
        info = buf.if_idx.to_bytes(4, sys.byteorder) + buf.destaddr.packed * 2
        return [(IPPROTO_IP, IP_PKTINFO, info)], 0

    def _recv(self, nbytes: int, flags: int, into: memoryview | None) -> tuple[bytes | int, NetBuf | None, bool]:
        """Receive up to ``nbytes``: (bytes, or the count copied ``into``; the datagram's netbuf; truncated)."""
        self._check()
        if nbytes < 0:
            raise ValueError("negative buffersize in recv")
        if flags and flags & ~_RECV_FLAGS:  # (rx17: flags 0 skips the enum arithmetic, 150 bytecodes a call)
            raise os_error(errno.EOPNOTSUPP, "recv takes MSG_PEEK, MSG_WAITALL and MSG_DONTWAIT")
        with self._rlock:
            if self._group == NETCONN_TCP:
                return self._recv_tcp(nbytes, flags, into), None, False
            return self._recv_dgram(nbytes, flags, into)

    def _recv_tcp(self, nbytes: int, flags: int, into: memoryview | None) -> bytes | int:
        if self._state in (_NEW, _LISTENING) and not self._eof:
            raise os_error(errno.ENOTCONN, "the socket is not connected")
        if flags:  # (rx17: none, the common call, without the enum arithmetic)
            peek = bool(flags & MSG_PEEK)
            waitall = bool(flags & MSG_WAITALL) and not peek
            dontwait = bool(flags & MSG_DONTWAIT)
        else:
            peek = waitall = dontwait = False
        conn = self._conn
        parts: list[bytes] = []
        got = 0
        while got < nbytes:
            data = self._lastdata
            if data is None:
                if self._eof or self._recv_err:
                    break
                nb = dontwait or (got > 0 and not waitall)
                if nb and got and not conn._mbox:
                    break  # what is here is returned; no exception just to learn that nothing more is
                try:
                    data = conn.recv(NETCONN_DONTBLOCK if nb else 0)
                except LwipError as e:
                    if self._fd >= 0 and e.errno == errno.ENOTCONN and not isinstance(e, LwipTimeout):
                        self._eof = True  # the stream ended (our SHUT_RD, or after its error was reported)
                        break
                    ended = e.errno not in BLOCKING_ERRNOS
                    if ended and self._fd >= 0:
                        conn.take_err()  # reported here, once: later calls find the end of the stream
                        self._eof = True
                    if got:
                        if ended:
                            self._recv_err = e.errno or errno.EIO  # reported by the next call, after these bytes
                        break
                    raise self._fail(e) from None
                if not data:
                    self._eof = True
                    break
                self._lastdata, self._lastoff = data, 0
            off = self._lastoff
            n = min(len(data) - off, nbytes - got)
            if into is not None:
                into[got:got + n] = memoryview(data)[off:off + n]
            else:
                parts.append(data if off == 0 and n == len(data) else data[off:off + n])
            got += n
            if peek:
                break
            if off + n == len(data):
                self._lastdata = None
            else:
                self._lastoff = off + n
        if not got and self._recv_err:
            err, self._recv_err = self._recv_err, 0
            raise os_error(err, "the connection failed")
        if into is not None:
            return got
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _recv_dgram(self, nbytes: int, flags: int, into: memoryview | None) -> tuple[bytes | int, NetBuf, bool]:
        buf = self._lastbuf
        if buf is None:
            try:
                buf = self._conn.recv(NETCONN_DONTBLOCK if flags & MSG_DONTWAIT else 0)
            except LwipError as e:
                raise self._fail(e) from None
        self._lastbuf = buf if flags & MSG_PEEK else None
        data = buf.data
        n = min(len(data), nbytes)
        if into is not None:
            into[:n] = data[:n]
            return n, buf, n < len(data)
        return bytes(data[:n]), buf, n < len(data)

    # -- sending ---------------------------------------------------------------------------------------------------
    def send(self, data: Any, flags: int = 0) -> int:
        """Queue ``data`` (TCP: as much as fits, all of it when blocking) or send one datagram; the bytes taken."""
        self._check()
        if flags and flags & ~_SEND_FLAGS:  # (flags 0 skips the enum arithmetic: 3 us of a small send)
            raise os_error(errno.EOPNOTSUPP, "send takes MSG_DONTWAIT, MSG_MORE and MSG_NOSIGNAL")
        if self._group != NETCONN_TCP:
            try:
                self._conn.send(data)
            except LwipError as e:
                raise self._fail(e) from None
            return len(memoryview(data).cast("B"))
        if self._state != _CONNECTED and self._state != _CONNECTING:
            raise os_error(errno.ENOTCONN, "the socket is not connected")
        wflags = NETCONN_COPY | (NETCONN_DONTBLOCK if flags & MSG_DONTWAIT else 0) | \
            (NETCONN_MORE if flags & MSG_MORE else 0) if flags else NETCONN_COPY
        with self._wlock:
            try:
                return self._conn.write(data, wflags)
            except LwipError as e:
                raise self._fail(e) from None

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send every byte of ``data``; with a timeout, the whole call takes at most that long."""
        view = memoryview(data).cast("B")
        if self._group != NETCONN_TCP or not self._timeout:
            sent = self.send(view, flags)
            while sent < len(view):  # non-blocking: as Python, it keeps trying
                sent += self.send(view[sent:], flags)
            return
        deadline = time.monotonic() + self._timeout
        sent = 0
        with self._wlock:
            while sent < len(view):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
                self._conn.send_timeout = left
                try:
                    sent += self._conn.write(view[sent:], NETCONN_COPY)
                except LwipError as e:
                    raise self._fail(e) from None
                finally:
                    self._apply_timeouts()

    def sendto(self, data: Any, flags_or_address: Any, address: Any = _DEFAULT) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``: one datagram (for TCP, as send)."""
        self._check()
        if address is _DEFAULT:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        last, parsed = self._sent_to
        if address == last and type(address) is tuple and type(address[0]) is str and type(address[1]) is int:
            ip, port = parsed  # udp18: a sender's next datagram to the same (host, port), not parsed again
        else:
            ip, port = parsed = self._parse(address)
            if not self._v6:  # (an AF_INET6 host may name a netif, which may go)
                self._sent_to = (address, parsed)
        if self._group == NETCONN_TCP:
            return self.send(data, flags)
        if flags & ~_SEND_FLAGS:
            raise os_error(errno.EOPNOTSUPP, "sendto takes MSG_DONTWAIT, MSG_MORE and MSG_NOSIGNAL")
        try:
            self._conn.sendto(data, ip, port)
        except LwipError as e:
            raise self._fail(e) from None
        return len(memoryview(data).cast("B"))

    def sendmsg(self, buffers: Iterable[Any], ancdata: Iterable[Any] = (), flags: int = 0,
                address: Any = None) -> int:
        """The buffers as one datagram (or one write, for TCP).  lwIP's sendmsg takes no control messages."""
        if list(ancdata):
            raise os_error(errno.EINVAL, "lwIP's sendmsg takes no control messages")
        data = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)
        if address is not None:
            return self.sendto(data, flags, address)
        return self.send(data, flags)

    # -- closing ---------------------------------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        """SHUT_RD, SHUT_WR or SHUT_RDWR (TCP only, as lwIP: EOPNOTSUPP for UDP and RAW)."""
        self._check()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise os_error(errno.EINVAL, "how is SHUT_RD, SHUT_WR or SHUT_RDWR")
        if self._group != NETCONN_TCP:
            raise os_error(errno.EOPNOTSUPP, "only a SOCK_STREAM socket shuts down")
        if self._state not in (_CONNECTED, _CONNECTING):
            raise os_error(errno.ENOTCONN, "the socket is not connected")
        rd, wr = how in (SHUT_RD, SHUT_RDWR), how in (SHUT_WR, SHUT_RDWR)
        try:
            self._conn.shutdown(rd=rd, wr=wr)
        except LwipError as e:
            raise self._fail(e) from None
        self._shut_rd |= rd
        self._shut_wr |= wr

    def close(self) -> None:
        """Close the socket (once files made by :meth:`makefile` are closed too).  ``SO_LINGER`` decides how: off,
        at once with a FIN after the queued data; on with 0, a reset; on with a time, wait until everything sent is
        acknowledged, then reset if it took longer.  Threads blocked in the socket wake with EBADF."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self, background: bool = False) -> None:
        fd = self._fd
        if fd < 0:
            return
        self._fd = -1
        self._api._free(fd)
        linger = self._opts["linger"]
        try:
            if background:
                conn = self._conn
                reset = 0 if linger == 0 else None  # nobody waits for a lingering close here
                self._loop.try_call_soon(lambda: conn._do_close(True, True, delete=True, linger=reset))
            else:
                self._conn.delete(linger)
        except LwipError:
            pass  # the stack's loop is gone: so is everything the socket held
        self._api._wake()

    def detach(self) -> int:
        raise os_error(errno.EOPNOTSUPP, "an lwipy socket has no OS descriptor to detach")

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def makefile(self, mode: str = "r", buffering: int | None = None, *, encoding: str | None = None,
                 errors: str | None = None, newline: str | None = None) -> Any:
        """A file object over the socket, as :meth:`socket.socket.makefile` (the stdlib's SocketIO underneath)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        raw = _socket.SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))  # type: ignore[arg-type]
        self._io_refs += 1
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(buffer, io.text_encoding(encoding), errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    # -- options ---------------------------------------------------------------------------------------------------
    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        """Set an option (see :mod:`lwipy.api.sockopt`); ENOPROTOOPT for one lwIP does not serve."""
        self._check()
        if value is None:
            raise os_error(errno.EFAULT, "a NULL option value")
        try:
            sockopt.setsockopt(self, level, optname, value)
        except LwipError as e:
            raise self._fail(e) from None

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        """An option's value: an int, or bytes when ``buflen`` is given."""
        self._check()
        try:
            return sockopt.getsockopt(self, level, optname, buflen)
        except LwipError as e:
            raise self._fail(e) from None

    # -- fcntl, ioctl, readiness -----------------------------------------------------------------------------------
    def _fcntl(self, cmd: int, arg: int) -> int:
        if cmd == F_GETFL:
            # lwip_fcntl, word for word: O_RDONLY unless the pcb has TF_RXCLOSED (our SHUT_RD, or the FIN read:
            # netconn_recv_data_tcp shuts the receive side), O_WRONLY unless it has TF_FIN (our SHUT_WR), and O_RDWR
            # when both; no pcb (closed both ways, reset, timed out) gives neither.  With the O_* values of
            # ESP-IDF's newlib, which are Linux's (O_RDONLY 0, O_WRONLY 1, O_RDWR 2), that makes a fresh,
            # connecting, connected or listening socket O_RDWR, SHUT_RD alone still O_RDWR (O_RDONLY is 0, so
            # "O_RDONLY | O_WRONLY" is O_WRONLY), SHUT_WR O_RDONLY, and no pcb O_RDONLY (0).  A listening pcb has
            # no flags field in lwIP (tcp_pcb_listen): lwipy reads it as the fresh pcb it was made from.
            flags = O_NONBLOCK if self._timeout == 0.0 else 0
            if self._group != NETCONN_TCP:
                return flags | O_RDWR
            op_mode = 0
            if not self._conn._pcb_gone:
                if not (self._shut_rd or self._eof):
                    op_mode |= O_RDONLY
                if not self._shut_wr:
                    op_mode |= O_WRONLY
            return flags | (O_RDWR if op_mode == O_RDONLY | O_WRONLY else op_mode)
        if cmd == F_SETFL:
            self.setblocking(not arg & O_NONBLOCK)  # the access mode bits F_GETFL reports are ignored
            return 0
        raise os_error(errno.ENOSYS, "fcntl serves F_GETFL and F_SETFL")

    def _ioctl(self, request: int, arg: Any) -> int:
        if request == FIONREAD:
            pending = self._conn.recv_avail
            if self._lastdata is not None:
                pending += len(self._lastdata) - self._lastoff
            if self._lastbuf is not None:
                pending += len(self._lastbuf.data)
            return pending
        if request == FIONBIO:
            on = arg if isinstance(arg, int) else int.from_bytes(bytes(arg)[:4], "little")
            self.setblocking(not on)
            return 0
        raise os_error(errno.ENOSYS, "ioctl serves FIONREAD and FIONBIO")

    def _readable(self) -> bool:
        """recv (or accept) would not block."""
        if self._lastdata is not None or self._lastbuf is not None or self._eof or self._recv_err:
            return True
        c = self._conn
        return bool(c._mbox or c._accept_ready or c._mbox_invalid or c._mbox_closed or c._pending_err)

    def _error_pending(self) -> bool:
        return bool(self._conn._pending_err)


class SocketApi(SelectMixin, SocketFunctions):
    """A socket module for one stack: ``socket()``, ``select()``, ``poll()``, ``fcntl()``, ``ioctl()``,
    ``getaddrinfo()``, ``create_connection()`` and the constants of Python's ``socket`` module (``api.AF_INET``,
    ``api.SOL_SOCKET``...), with lwIP's limits (``max_sockets``) and semantics.  Made on a running
    :class:`~lwipy.api.loop.StackLoop`; every call may come from any thread but the core thread."""

    error = OSError
    timeout = TimeoutError
    gaierror = _socket.gaierror
    herror = _socket.herror

    def __init__(self, loop: StackLoop, os_fds: bool = False) -> None:
        self.loop = loop
        self.stack = loop.stack
        size = self.stack.config.max_sockets
        #: lwIP's LWIP_SOCKET_OFFSET: socket numbers run from here (unless ``os_fds``)
        self.socket_offset = max(0, LWIP_SOCKET_OFFSET_BASE - size)
        #: each socket's number is an OS descriptor reserved for it (on /dev/null), so that socket numbers never
        #: collide with real files in a selector that holds both (what :func:`lwipy.patch` needs)
        self.os_fds = os_fds
        self._slots: list[LwipSocket | None] = [None] * size
        self._by_fd: dict[int, LwipSocket] = {}
        self._table_lock = threading.Lock()
        self._default_timeout: float | None = None
        api = self

        class socket(LwipSocket):
            """A socket of this stack, made as Python's ``socket.socket(family, type, proto)``."""

            def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None) -> None:
                if fileno is not None:
                    raise os_error(errno.EOPNOTSUPP, "an lwipy socket cannot be made from an OS descriptor")
                family, kind, proto, nonblock = api._check_args(family, type, proto)
                LwipSocket.__init__(self, api, family, kind, proto)
                if nonblock:
                    self.setblocking(False)

        socket.__module__ = "lwipy"
        #: the socket class, for ``socket.socket`` when :func:`lwipy.patch` stands in for Python's socket module
        self.socket_class = socket
        self._init_select()

    def __getattr__(self, name: str) -> Any:
        if name.isupper() and hasattr(sockdefs, name):
            return getattr(sockdefs, name)
        if name in ("inet_aton", "inet_ntoa", "inet_pton", "inet_ntop", "htons", "htonl", "ntohs", "ntohl",
                    "CMSG_LEN", "CMSG_SPACE", "AddressFamily", "SocketKind"):
            return getattr(_socket, name)
        raise AttributeError(f"lwipy's socket API has no {name!r}")

    # -- the socket table ------------------------------------------------------------------------------------------
    def socket(self, family: int = -1, type: int = -1, proto: int = -1) -> LwipSocket:
        """``lwip_socket``: AF_INET with SOCK_STREAM (TCP), SOCK_DGRAM (UDP) or SOCK_RAW (``proto`` is the IP
        protocol); SOCK_NONBLOCK may be or-ed into ``type``.  EMFILE once ``max_sockets`` are open."""
        return self.socket_class(family, type, proto)

    @staticmethod
    def _check_args(family: int, type: int, proto: int) -> tuple[int, int, int, bool]:
        """(family, socket type, protocol, non-blocking) for ``socket()``, or the errno lwIP gives."""
        family = AF_INET if family == -1 else family
        type = SOCK_STREAM if type == -1 else type
        proto = 0 if proto == -1 else proto
        nonblock = bool(type & SOCK_NONBLOCK)
        base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
        if family not in (AF_INET, AF_INET6):
            raise os_error(errno.EAFNOSUPPORT, "lwipy's sockets are AF_INET")
        if base not in _KINDS:
            raise os_error(errno.EINVAL, "type is SOCK_STREAM, SOCK_DGRAM or SOCK_RAW")
        if base == SOCK_STREAM and proto not in (0, IPPROTO_TCP) or base == SOCK_DGRAM and proto not in (
                0, IPPROTO_UDP) or proto == IPPROTO_UDPLITE:
            raise os_error(errno.EPROTONOSUPPORT, f"protocol {proto} is not served for this socket type")
        return family, base, proto, nonblock

    def _alloc(self, sock: LwipSocket) -> int:
        with self._table_lock:
            for i, held in enumerate(self._slots):
                if held is None:
                    fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) if self.os_fds else self.socket_offset + i
                    self._slots[i] = sock
                    self._by_fd[fd] = sock
                    return fd
        raise os_error(errno.EMFILE, f"all {len(self._slots)} sockets are in use (CONFIG_LWIP_MAX_SOCKETS)")

    def _free(self, fd: int) -> None:
        with self._table_lock:
            sock = self._by_fd.pop(fd)
            self._slots[self._slots.index(sock)] = None
        if self.os_fds:
            os.close(fd)

    def sockets(self) -> list[LwipSocket]:
        """The open sockets."""
        with self._table_lock:
            return list(self._by_fd.values())

    def is_socket(self, fd: int) -> bool:
        """Whether ``fd`` is the number of an open socket of this API."""
        return fd in self._by_fd

    def lookup(self, fd: Any) -> LwipSocket:
        """The socket for a socket number (or anything with ``fileno()``); EBADF when there is none."""
        if isinstance(fd, LwipSocket):
            if fd._fd < 0:
                raise os_error(errno.EBADF, "the socket is closed")
            return fd
        if not isinstance(fd, int):
            fd = fd.fileno()
        sock = self._by_fd.get(fd)
        if sock is None:
            raise os_error(errno.EBADF, f"{fd} is not an open lwipy socket")
        return sock

    def _event(self, conn: Any, evt: int, length: int) -> None:
        """``event_callback`` (any thread): sendevent, then wake select and poll."""
        sock = conn.socket
        if sock is not None:
            if evt == NETCONN_EVT_SENDPLUS:
                sock.sendevent = 1
            elif evt == NETCONN_EVT_SENDMINUS:
                sock.sendevent = 0
        self._wake()

    # -- module-level functions ------------------------------------------------------------------------------------
    def getdefaulttimeout(self) -> float | None:
        return self._default_timeout

    def setdefaulttimeout(self, timeout: float | None) -> None:
        """The timeout new sockets start with."""
        if timeout is not None and timeout < 0:
            raise ValueError("Timeout value out of range")
        self._default_timeout = None if timeout is None else float(timeout)

    def fcntl(self, fd: Any, cmd: int, arg: int = 0) -> int:
        """``lwip_fcntl``: F_GETFL (O_NONBLOCK, and O_RDONLY/O_WRONLY/O_RDWR by what a TCP connection still does)
        and F_SETFL (O_NONBLOCK/O_NDELAY set or cleared); anything else ENOSYS."""
        return self.lookup(fd)._fcntl(cmd, arg)

    def ioctl(self, fd: Any, request: int, arg: Any = 0) -> int:
        """``lwip_ioctl``: FIONREAD (bytes waiting to be read) and FIONBIO (non-zero: non-blocking)."""
        return self.lookup(fd)._ioctl(request, arg)

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> list[tuple[Any, Any, int, str, Any]]:
        """``lwip_getaddrinfo``: numeric IPv4 and IPv6 addresses, ``localhost``, and names through the stack's DNS
        resolver (:func:`~lwipy.api.netdb.netconn_gethostbyname`; AF_INET asks for A, AF_INET6 for AAAA, AF_UNSPEC
        for lwIP's default, A then AAAA).  As lwIP, a name gives one address.  IPv6 results carry Python's 4-tuple
        ``(host, port, flowinfo, scope_id)``; ``AI_CANONNAME`` puts the canonical name (the end of the CNAME chain)
        in the first result.  A name that does not exist raises ``gaierror(EAI_NONAME)``, a resolution that failed
        otherwise ``gaierror(EAI_FAIL)`` (see :func:`~lwipy.api.netdb.gaierror_for`)."""
        if family not in (0, AF_INET, AF_INET6):
            raise _socket.gaierror(EAI_FAMILY, "ai_family not supported (lwipy's sockets are AF_INET and AF_INET6)")
        host = hostname_text(host)
        six = family == AF_INET6 or (family == 0 and isinstance(host, str) and ":" in host)
        ip: IPv4Address | IPv6Address
        canonical = ""
        if host is None or host == "":
            passive = bool(flags & AI_PASSIVE)
            ip = (IPv6Address(0 if passive else 1) if six else IPv4Address(0) if passive else
                  IPv4Address("127.0.0.1"))
        else:
            try:
                ip = parse_host6(host) if six else parse_host(host)
                canonical = host
            except _socket.gaierror as e:
                if e.errno != EAI_NONAME or flags & AI_NUMERICHOST:
                    raise
                addrtype = {AF_INET: LWIP_DNS_ADDRTYPE_IPV4, AF_INET6: LWIP_DNS_ADDRTYPE_IPV6}.get(
                    family, LWIP_DNS_ADDRTYPE_DEFAULT)
                answer = netdb.resolve(self.loop, host, addrtype)
                ip, canonical = answer.address, answer.canonical
                six = ip.version == 6
        if port is None:
            number = 0
        elif isinstance(port, int):
            number = port
        else:
            text = port.decode() if isinstance(port, bytes) else str(port)
            try:
                number = int(text) if text.isdigit() else _socket.getservbyname(text)
            except OSError:
                raise _socket.gaierror(EAI_SERVICE, f"Servname not supported: {text!r}") from None
        kinds = [(SOCK_STREAM, IPPROTO_TCP), (SOCK_DGRAM, IPPROTO_UDP), (SOCK_RAW, 0)]
        fam = _socket.AddressFamily.AF_INET6 if six else _socket.AddressFamily.AF_INET
        sockaddr: Any = (str(ip), number, 0, 0) if six else (str(ip), number)
        out = []
        for kind, p in kinds:
            if (type and kind != type) or (proto and p and proto != p):
                continue
            name = canonical if flags & AI_CANONNAME and not out else ""
            out.append((fam, _socket.SocketKind(kind), p if not proto else proto, name, sockaddr))
        return out

    def gethostbyname(self, name: str) -> str:
        """``lwip_gethostbyname``: the IPv4 address of ``name`` as text (numeric, ``localhost`` or through DNS,
        asking for A only, as Python's ``gethostbyname`` is IPv4-only); ``gaierror`` as :meth:`getaddrinfo`."""
        return self.gethostbyname_ex(name)[2][0]

    def gethostbyname_ex(self, name: str) -> tuple[str, list[str], list[str]]:
        """``(canonical name, aliases, [IPv4 address])`` as Python's ``gethostbyname_ex``: the aliases are the names
        of the CNAME chain before the canonical one; lwIP resolves one address per name."""
        name = hostname_text(name)
        if not isinstance(name, str):
            raise TypeError(f"str, bytes or bytearray expected, not {type(name).__name__}")
        try:
            return name, [], [str(parse_host(name))]
        except _socket.gaierror as e:
            if e.errno != EAI_NONAME:
                raise
        answer = netdb.resolve(self.loop, name, LWIP_DNS_ADDRTYPE_IPV4)
        return answer.canonical, [n for n in answer.chain if n != answer.canonical], [str(answer.address)]

    def create_connection(self, address: tuple[str, int], timeout: Any = _DEFAULT,
                          source_address: tuple[str, int] | None = None) -> LwipSocket:
        """As :func:`socket.create_connection`, over this stack."""
        sock = self.socket(AF_INET, SOCK_STREAM)
        try:
            if timeout is not _DEFAULT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def create_server(self, address: tuple[str, int], *, backlog: int | None = None,
                      reuse_port: bool = False) -> LwipSocket:
        """As :func:`socket.create_server` (AF_INET), over this stack, with SO_REUSEADDR."""
        if reuse_port:
            raise ValueError("SO_REUSEPORT not supported by lwIP")
        from .sockdefs import SO_REUSEADDR, SOL_SOCKET
        sock = self.socket(AF_INET, SOCK_STREAM)
        try:
            sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    def close_all(self) -> None:
        """Close every open socket (at the end of a program or test)."""
        for sock in self.sockets():
            sock.close()
