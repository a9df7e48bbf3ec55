"""lwIP's netconn API (``api_lib.c``): TCP, UDP and RAW connections used from application threads.

Every operation runs on the core thread (:class:`~lwipy.api.loop.StackLoop`), or with core locking
(``tcpip_core_locking``) on the calling thread under the core lock while the loop sleeps; the calling thread waits on
the netconn's condition variable, never on the pcb.  See :mod:`lwipy.api.api_msg` for what runs on the core thread and
how data, window updates and writes cross between the two.

::

    loop = StackLoop(stack).start()
    server = Netconn(loop, NETCONN_TCP)
    server.bind(None, 7)
    server.listen()
    conn = server.accept()            # a Netconn
    while chunk := conn.recv():       # bytes; b"" once at the peer's FIN
        conn.write(chunk)
    conn.delete()

Errors are :class:`~lwipy.errors.LwipError` with lwIP's errnos (``ENOTCONN`` after the connection ended or was
closed here, ``EINPROGRESS``, ``EALREADY``, ``EISCONN``, ``EWOULDBLOCK`` in non-blocking mode...), and the pcb's
own for a failed connection (``ECONNREFUSED``, ``ECONNRESET``, ``ECONNABORTED``: a connection a TCP timer gave
up, as lwIP reports ERR_ABRT).  A timeout raises :class:`~lwipy.errors.LwipTimeout` (errno ``EWOULDBLOCK``, as
lwIP reports ``ERR_TIMEOUT``).  Closing or deleting a netconn from another thread wakes the threads blocked in it
with ``ENOTCONN``; any call after :meth:`Netconn.delete` raises ``EBADF``.

Names: :func:`netconn_gethostbyname` (from :mod:`lwipy.api.netdb`) resolves through the stack's DNS resolver.
"""

from __future__ import annotations

import errno
import time
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from ..core.tcp.pcb import TcpListener
from ..errors import LwipError, LwipTimeout
from .api_msg import FIN, ErrMsg, NetconnCore, WriteMsg
from .defs import (NETCONN_CONNECT, NETCONN_COPY, NETCONN_DONTBLOCK, NETCONN_EVT_RCVMINUS, NETCONN_EVT_RCVPLUS,
                   NETCONN_LISTEN, NETCONN_MORE, NETCONN_NOAUTORCVD, NETCONN_TCP, NETCONN_UDP, EventCallback,
                   netconn_group)
from .netbuf import NetBuf
from .netdb import netconn_gethostbyname  # lwIP's api_lib.c has it beside the netconn calls

if TYPE_CHECKING:
    from .loop import StackLoop

__all__ = ["Netconn", "netconn_gethostbyname"]


def _deadline(timeout: float | None) -> float | None:
    return time.monotonic() + timeout if timeout else None


class Netconn(NetconnCore):
    """A TCP, UDP or RAW connection (``netconn_new_with_proto_and_callback``).

    :param loop: the running loop of the stack to use.
    :param kind: ``NETCONN_TCP``, ``NETCONN_UDP``, ``NETCONN_UDPNOCHKSUM`` or ``NETCONN_RAW``.
    :param proto: the IP protocol of a RAW netconn.
    :param callback: ``callback(netconn, event, length)`` for the NETCONN_EVT_* events (thread-safe, see
        :data:`~lwipy.api.defs.EventCallback`); connections accepted from a listener inherit it.

    A netconn holds a pcb until :meth:`delete`: delete every netconn you make.
    """

    def __init__(self, loop: "StackLoop", kind: int = NETCONN_TCP, proto: int = 0,
                 callback: EventCallback | None = None) -> None:
        self._init_state(loop, kind, proto, callback)
        loop.call(self._do_newconn)

    # -- state -------------------------------------------------------------------------------------------------------
    @property
    def err(self) -> int:
        """The pending error (an errno, 0 for none), left in place; :meth:`take_err` reads and clears it."""
        return self._pending_err

    def take_err(self) -> int:
        """``netconn_err``: read and clear the pending error (what ``SO_ERROR`` reports)."""
        with self._cond:
            return self._take_err()

    def _check_open(self) -> None:
        if self._deleted:
            raise LwipError(errno.EBADF, "the netconn was deleted")

    def _is_tcp(self) -> bool:
        return netconn_group(self.type) == NETCONN_TCP

    def _wait(self, deadline: float | None) -> bool:
        """Sleep on ``_cond`` (held) until notified or ``deadline``; False once the deadline has passed."""
        if self.loop.is_core_thread():
            raise LwipError(errno.EDEADLK, "a netconn call would block the core thread, which it waits for")
        if not self.loop.running:
            raise LwipError(errno.ESHUTDOWN, "the stack's loop is not running")
        if deadline is None:
            self._cond.wait()
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self._cond.wait(left)
        return True

    def _post(self, fn: Any) -> None:
        self.loop.call_nowait(fn)  # (at once under core locking, else posted: tcpip_callback's way)

    # -- addresses ---------------------------------------------------------------------------------------------------
    def bind(self, ip: str | IPv4Address | None = None, port: int = 0) -> None:
        """``netconn_bind``: the local address (None: any) and port (0: an ephemeral one; for TCP, chosen at
        listen or connect).  EADDRINUSE, EADDRNOTAVAIL; EINVAL for a TCP netconn already connected or listening."""
        self._check_open()
        self.loop.call(lambda: self._do_bind(ip, port))

    def getaddr(self, local: bool = True) -> tuple[IPv4Address, int]:
        """``netconn_getaddr``: (address, port) of this end, or of the peer (ENOTCONN when there is none).  For RAW
        the port is the protocol."""
        self._check_open()
        return self.loop.call(lambda: self._do_getaddr(local))

    def connect(self, ip: str | IPv4Address, port: int = 0, timeout: float | None = None) -> None:
        """``netconn_connect``.  TCP: the handshake, waiting for its end unless non-blocking (then EINPROGRESS, and
        SENDPLUS or ERROR tell the outcome; a second connect meanwhile raises EALREADY).  A failed handshake raises
        the pcb's error (ECONNREFUSED; ECONNABORTED when the SYN retries ran out, as lwIP).  With ``timeout``
        (seconds) a blocking connect waits that long, then raises LwipTimeout and goes on as a non-blocking one.  UDP
        and RAW: fix the peer."""
        self._check_open()
        nonblocking = self.nonblocking or bool(timeout is not None and timeout <= 0)
        if self._is_tcp() and not nonblocking and self.loop.is_core_thread():
            raise LwipError(errno.EDEADLK, "a blocking connect on the core thread would never return")
        self.loop.call(lambda: self._do_connect(ip, port, nonblocking))
        if not self._is_tcp():
            return
        if nonblocking:
            raise LwipError(errno.EINPROGRESS, "the connection is being set up")
        deadline = _deadline(timeout)
        with self._cond:
            while self.state == NETCONN_CONNECT:
                if not self._wait(deadline):
                    self._nb_connect = True  # the outcome now comes as SENDPLUS or ERROR, read with take_err
                    raise LwipTimeout(f"connecting to {ip}:{port} takes longer than {timeout} s")
            err, self._connect_err = self._connect_err, 0
        if err:
            raise LwipError(err, f"connecting to {ip}:{port} failed")

    def disconnect(self) -> None:
        """``netconn_disconnect``: forget a UDP netconn's peer (EINVAL for TCP and RAW)."""
        self._check_open()
        if netconn_group(self.type) != NETCONN_UDP:
            raise LwipError(errno.EINVAL, "only a UDP netconn disconnects")
        self.loop.call(lambda: self._udp_pcb().disconnect())

    # -- TCP server --------------------------------------------------------------------------------------------------
    def listen(self, backlog: int | None = None) -> None:
        """``netconn_listen_with_backlog``: accept connections to the bound address; ``backlog`` (default
        ``tcp_accept_mbox_size``) connections may wait for :meth:`accept`, more are refused."""
        self._check_open()
        if not self._is_tcp():
            raise LwipError(errno.EOPNOTSUPP, "only a TCP netconn listens")
        self.loop.call(lambda: self._do_listen(backlog))

    def accept(self) -> "Netconn":
        """``netconn_accept``: the next connection, as a new netconn.  Waits (up to ``recv_timeout``) unless
        non-blocking; EINVAL when not listening, ENOTCONN when closed meanwhile."""
        self._check_open()
        if not self._is_tcp():
            raise LwipError(errno.EOPNOTSUPP, "only a TCP netconn accepts")
        deadline = _deadline(self.recv_timeout)
        waited = False
        with self._cond:
            while True:
                err = self._take_err()
                if err:
                    raise LwipError(err, "the listener failed")
                if self.state != NETCONN_LISTEN or self._mbox_invalid:
                    raise LwipError(errno.ENOTCONN if waited else errno.EINVAL, "the netconn is not listening")
                if self._accept_ready:
                    self._accept_ready -= 1  # claimed: another accepting thread will not wait for this one
                    break
                if self.nonblocking:
                    raise LwipError(errno.EWOULDBLOCK, "no connection is waiting")
                if not self._wait(deadline):
                    raise LwipTimeout("no connection arrived within recv_timeout")
                waited = True
        new = self.loop.call(self._do_accept)
        if new is None:
            raise LwipError(errno.ECONNABORTED, "the connection went away before it was accepted")
        self._fire([(NETCONN_EVT_RCVMINUS, 0)])
        assert isinstance(new, Netconn)
        return new

    # -- receiving ---------------------------------------------------------------------------------------------------
    def recv(self, flags: int = 0) -> Any:
        """``netconn_recv``.  TCP: the next chunk of bytes as it arrived, ``b""`` once at the peer's FIN (then
        ENOTCONN); after a reset, the data that came first, then the error.  UDP and RAW: the next datagram, a
        :class:`~lwipy.api.netbuf.NetBuf`.  Waits (up to ``recv_timeout``) unless non-blocking or
        ``NETCONN_DONTBLOCK``.  With ``NETCONN_NOAUTORCVD`` the window stays closed over the chunk until
        :meth:`recved`."""
        self._check_open()
        if self._is_tcp():
            return self._recv_tcp(flags)
        return self._recv_buf(flags)

    def _recv_tcp(self, flags: int) -> bytes:
        dontblock = self.nonblocking or bool(flags & NETCONN_DONTBLOCK)
        deadline = _deadline(self.recv_timeout)
        while True:
            out: bytes | None = None
            err = 0
            flush = False
            events: list[tuple[int, int]] = []
            with self._cond:
                mbox = self._mbox
                if self._mbox_invalid or self.state == NETCONN_LISTEN:
                    err = self._take_err() or errno.ENOTCONN
                elif mbox:
                    item = mbox.popleft()
                    if type(item) is bytes:
                        n = len(item)
                        self.recv_avail -= n
                        if not flags & NETCONN_NOAUTORCVD:
                            self._unacked += n
                        flush = self._flush_due()
                        out = item
                        events.append((NETCONN_EVT_RCVMINUS, n))
                    elif item is FIN:  # ERR_CLSD once; the receive side is over (netconn_close_shutdown SHUT_RD)
                        self._mbox_invalid = True
                        out = b""
                        events += [(NETCONN_EVT_RCVMINUS, 0), (NETCONN_EVT_RCVPLUS, 0)]
                    else:
                        assert isinstance(item, ErrMsg)
                        err = item.err
                elif dontblock or self._mbox_closed or self._pending_err:
                    err = self._take_err() or (errno.ENOTCONN if self._mbox_closed else errno.EWOULDBLOCK)
                    flush = err == errno.EWOULDBLOCK and self._flush_due()
                elif self._unacked and not self._rcvd_posted:
                    flush = True  # about to wait: give the window back first, or the peer may wait too
                elif not self._wait(deadline):
                    raise LwipTimeout("nothing arrived within recv_timeout")
                if flush:
                    self._rcvd_posted = True
            if flush:
                self._post_recved()
            if events:
                self._fire(events)
            if out is not None:
                return out
            if err:
                raise LwipError(err, "receiving failed")

    def _recv_buf(self, flags: int) -> NetBuf:
        dontblock = self.nonblocking or bool(flags & NETCONN_DONTBLOCK)
        deadline = _deadline(self.recv_timeout)
        with self._cond:
            while True:
                if self._mbox:
                    buf: NetBuf = self._mbox.popleft()
                    self.recv_avail -= len(buf.data)
                    break
                if self._mbox_invalid:
                    raise LwipError(self._take_err() or errno.ENOTCONN, "the netconn is closed")
                if dontblock or self._pending_err:
                    raise LwipError(self._take_err() or errno.EWOULDBLOCK, "no datagram is waiting")
                if not self._wait(deadline):
                    raise LwipTimeout("nothing arrived within recv_timeout")
        self._fire([(NETCONN_EVT_RCVMINUS, len(buf.data))])
        return buf

    def recved(self, n: int) -> None:
        """``netconn_tcp_recvd``: the application consumed ``n`` bytes received with ``NETCONN_NOAUTORCVD``."""
        self._check_open()
        with self._cond:
            self._unacked += n
            flush = self._flush_due()
            if flush:
                self._rcvd_posted = True
        if flush:
            self._post_recved()

    def _flush_due(self) -> bool:
        """Whether to post a window update now (``_cond`` held): a quarter of the window consumed, the mailbox ran
        empty, or data stalled in the pcb for want of mailbox room.  One post at a time."""
        if self._rcvd_posted:
            return False
        if self._rx_stalled:
            return True
        return bool(self._unacked) and (self._unacked >= self._rcvd_threshold or not self._mbox)

    def _post_recved(self) -> None:
        try:
            self._post(self._do_recved)
        except LwipError:
            pass  # the loop is gone: nobody is left to tell

    # -- sending -----------------------------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview, flags: int = NETCONN_COPY) -> int:
        """``netconn_write_partly``: queue ``data`` on a TCP connection and return how many bytes were queued.

        Blocking: waits until every byte is in the send buffer, or until ``send_timeout`` (then returns what was
        queued, or raises LwipTimeout when nothing was).  Non-blocking or ``NETCONN_DONTBLOCK``: queues what fits
        and returns at once (EWOULDBLOCK when nothing fits).  ``NETCONN_COPY``/``NOCOPY`` are accepted (the bytes
        are copied into the pcb's send buffer either way, so ``data`` is free again when this returns); with
        ``NETCONN_MORE`` the write's last segment goes without PSH (``TCP_WRITE_FLAG_MORE``), as its earlier parts
        do when a blocking write is split for want of room.
        EINPROGRESS while connecting, listening or another thread's write runs; ENOTCONN when not connected."""
        self._check_open()
        if not self._is_tcp():
            raise LwipError(errno.EINVAL, "write is for TCP; use send or sendto")
        view = memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B")
        if not len(view):
            return 0
        dontblock = self.nonblocking or bool(flags & NETCONN_DONTBLOCK)
        more = bool(flags & NETCONN_MORE)
        core = self.loop.is_core_thread()
        if core and not dontblock:
            raise LwipError(errno.EDEADLK, "a blocking write on the core thread would never return")
        if not self.loop.running and not core:
            raise LwipError(errno.ESHUTDOWN, "the stack's loop is not running")
        deadline = None
        taken = 0
        if not dontblock and not core:
            n = len(view)
            wait = False
            with self._stage_lock:  # staged writes (api_msg's theory): taken at once when the room allows
                if n <= self._stage_room:
                    self._staged += view
                    self._stage_more = more
                    self._stage_room -= n
                    post, self._stage_posted = not self._stage_posted, True
                elif self._stage_open and n <= self._stage_small:
                    wait = True  # a small write: wait for the room the ACKs free (_stage_wait)
                else:
                    n = self._stage_room = 0  # the usual way, behind what is staged; the core reopens the room
            if wait:
                deadline = _deadline(self.send_timeout)
                taken, over = self._stage_wait(view, deadline, more)
                if over:
                    return taken
                view = view[taken:]  # staging closed: the rest goes the usual way, to end as today's writes
            elif n:
                if post:
                    self._post(self._do_flush)
                return n
        msg = WriteMsg(view, dontblock, more)
        self._post(lambda: self._do_write(msg))
        if not dontblock and deadline is None:
            deadline = _deadline(self.send_timeout)
        with self._cond:
            try:
                while not msg.done:
                    if not self._wait(deadline):  # SO_SNDTIMEO: the write ends where it got to
                        self._write_finished(msg, 0 if msg.offset else errno.EWOULDBLOCK, timed_out=True)
            except LwipError:
                if not msg.done:
                    self._write_finished(msg, errno.ESHUTDOWN)
                raise
        if msg.err:
            if msg.timed_out:
                if taken:
                    return taken
                raise LwipTimeout("no room in the send buffer within send_timeout")
            raise LwipError(msg.err, "writing failed")
        return taken + msg.offset

    def _stage_wait(self, view: memoryview, deadline: float | None, more: bool = False) -> tuple[int, bool]:
        """A small blocking write found the staged room too small: stage what fits, then sleep on ``_cond`` until the
        core publishes room above the low-water mark (``_lowat``, lwIP's TCP_SNDLOWAT; more than the rest of the
        write, which is at most half the send buffer) after ACKs freed the send buffer, and stage the rest, instead
        of a write message and its round trip.  Returns (bytes staged, whether the write is over).  Not over when
        staging closed meanwhile (shutdown, close, an error, another write pending): the caller writes the rest the
        usual way, which reports what today's writes report.  At ``send_timeout`` the write is over with what was
        staged, or raises LwipTimeout when nothing was; a stopped loop raises ESHUTDOWN (``_wait``)."""
        n = len(view)
        taken = 0
        timed_out = False
        while True:
            with self._stage_lock:
                if not self._stage_open:
                    return taken, False
                k = min(n - taken, self._stage_room)
                if k:
                    self._staged += view[taken:taken + k]
                    self._stage_more = more or taken + k < n  # a part: more of the write follows (no PSH yet)
                    self._stage_room -= k
                    post, self._stage_posted = not self._stage_posted, True
            if k:
                taken += k
                if post:
                    self._post(self._do_flush)
                if taken == n:
                    return n, True
            if timed_out:
                if taken:
                    return taken, True
                raise LwipTimeout("no room in the send buffer within send_timeout")
            with self._cond:
                # woken at the low-water mark (lwIP's TCP_SNDLOWAT: writable once the free send buffer exceeds it),
                # not by each ACK: one wake-up stages several writes; the rest is at most half the buffer (_stage_small)
                want = max(n - taken, self._lowat + 1)
                self._room_wanted = min(self._room_wanted, want) if self._room_waiters else want
                self._room_waiters += 1
                try:
                    while self._stage_open and self._stage_room < want:
                        if not self._wait(deadline):
                            timed_out = True
                            break
                finally:
                    self._room_waiters -= 1

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """``netconn_send``: one datagram to the connected peer (UDP, RAW).  Errors as the pcb's: EHOSTUNREACH,
        EMSGSIZE, ENOMEM (the driver's queue is full), EDESTADDRREQ when not connected."""
        self._check_open()
        if self._is_tcp():
            raise LwipError(errno.EINVAL, "send is for UDP and RAW; use write")
        self.loop.call(lambda: self._do_send(data, None, 0))

    def sendto(self, data: bytes | bytearray | memoryview, ip: str | IPv4Address, port: int = 0) -> None:
        """``netconn_sendto``: one datagram to ``ip``:``port`` (the port is ignored for RAW)."""
        self._check_open()
        if self._is_tcp():
            raise LwipError(errno.EINVAL, "sendto is for UDP and RAW; use write")
        self.loop.call(lambda: self._do_send(data, ip, port))

    def join_group(self, group: Any, interface: Any = None) -> None:
        """``netconn_join_leave_group`` (join) for a UDP netconn."""
        self._check_open()
        self.loop.call(lambda: self._udp_pcb().join_group(group, interface))

    def leave_group(self, group: Any, interface: Any = None) -> None:
        """``netconn_join_leave_group`` (leave) for a UDP netconn."""
        self._check_open()
        self.loop.call(lambda: self._udp_pcb().leave_group(group, interface))

    def _udp_pcb(self) -> Any:
        if netconn_group(self.type) != NETCONN_UDP or self.pcb is None:
            raise LwipError(errno.EOPNOTSUPP, "only an open UDP netconn joins groups")
        return self.pcb

    # -- closing -----------------------------------------------------------------------------------------------------
    def shutdown(self, rd: bool = False, wr: bool = True) -> None:
        """``netconn_shutdown``: stop receiving (``rd``: blocked readers wake with ENOTCONN) and/or sending (``wr``:
        a FIN follows the queued data; a blocked write ends with ENOTCONN).  Both ways is :meth:`close`."""
        self._check_open()
        if not self._is_tcp():
            raise LwipError(errno.EOPNOTSUPP, "only a TCP netconn shuts down")
        if wr:
            self._stop_staging()
            self._wait_staged()
        if rd or wr:
            self.loop.call(lambda: self._do_close(rd, wr))

    def set_option(self, name: str, value: Any) -> None:
        """Set a pcb option: the pcb attribute ``name`` (TCP: ``nodelay``, ``keepalive``, ``keep_idle``,
        ``keep_intvl``, ``keep_cnt``; UDP: ``reuse_addr``, ``no_checksum``, ``multicast_ttl``, ``multicast_if``,
        ``multicast_loop``; all: ``ttl``, ``tos``).  It holds for a TCP pcb made later by connect or listen too."""
        self._check_open()
        self.loop.call(lambda: self.set_option_core(name, value))

    def close(self, linger: float | None = None) -> None:
        """``netconn_close``: TCP: close both ways (a FIN, or RST when received data were never read); the
        netconn stays, every call then raises ENOTCONN.  ``linger`` is ``SO_LINGER``: None returns at once and the
        FIN goes out behind the queued data; 0 resets the connection (RST); a positive number of seconds waits until
        everything sent is acknowledged, and resets the connection if that takes longer.  UDP and RAW:
        :meth:`delete`."""
        self._check_open()
        if not self._is_tcp():
            self.delete()
            return
        self._close_lingering(False, linger)

    def _stop_staging(self) -> None:
        """No more staged writes: what follows a shutdown or close must fail, not be taken (the core publishes no
        room once the pcb cannot send)."""
        with self._stage_lock:
            self._stage_room = 0
            self._stage_open = False
        if self._room_waiters:
            with self._cond:
                self._cond.notify_all()  # a writer waiting for room goes the usual way, to fail as today's do

    def _wait_staged(self) -> None:
        """Staged bytes must reach the pcb ahead of the FIN: wait until every one did (their flush is ahead of the
        close in the mailbox, but may find no room: see api_msg's theory), while the connection and the loop live."""
        if not self._staged or self.loop.is_core_thread():
            return
        with self._cond:
            self._stage_waiting = True
            try:
                while self._staged and self.loop.running and not self._pcb_gone:
                    self._cond.wait(1.0)  # woken by the core when nothing is staged any more (_send_staged)
            finally:
                self._stage_waiting = False

    def _close_lingering(self, delete: bool, linger: float | None) -> None:
        self._stop_staging()
        self._wait_staged()
        if linger and (self.loop.is_core_thread() or self.nonblocking):
            linger = None  # no waiting here: the close goes on in the background (linger 0 still resets)
        lingering = self.loop.call(lambda: self._do_close(True, True, delete=delete, linger=linger))
        if not lingering:
            return
        assert linger
        deadline = time.monotonic() + linger
        with self._cond:
            while self._linger_pcb is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self.loop.running:
                    break
                self._cond.wait(left)
            late = self._linger_pcb is not None
        if late:
            try:
                self._post(self._do_linger_timeout)
            except LwipError:
                pass  # the loop is gone, and the connection with it

    def delete(self, linger: float | None = None) -> None:
        """``netconn_delete``: close (with ``linger`` as :meth:`close`) and free the netconn; threads blocked in it
        wake with ENOTCONN, later calls raise EBADF.  Deleting twice is harmless."""
        if self._deleted:
            return
        try:
            self._close_lingering(True, linger)
        except LwipError as e:
            if e.errno != errno.ESHUTDOWN:
                raise
        with self._cond:
            self._deleted = True
            self._mbox.clear()
            self.recv_avail = 0
            self._cond.notify_all()
        self.loop.discard_stop_listener(self)

    def __repr__(self) -> str:
        kind = {NETCONN_TCP: "TCP", NETCONN_UDP: "UDP"}.get(netconn_group(self.type), "RAW")
        pcb = self.pcb
        where = "listening" if isinstance(pcb, TcpListener) else repr(pcb) if pcb is not None else "no pcb"
        return f"<Netconn {kind} {where}>"
