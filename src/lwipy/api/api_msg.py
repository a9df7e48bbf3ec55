"""The core-thread half of a netconn (lwIP's ``api_msg.c``): the ``lwip_netconn_do_*`` operations and the pcb
callbacks (``recv_tcp``, ``sent_tcp``, ``err_tcp``, ``accept_function``, ``recv_udp``, ``recv_raw``).

Theory of operation
-------------------
A netconn's state is shared by the core thread and the application threads, under one condition variable
(``_cond``).  The core thread alone touches the pcb: with core locking (``tcpip_core_locking``), "the core thread"
is also an application thread while it runs one of these operations under the core lock, the loop asleep
(:class:`~lwipy.api.loop.StackLoop`'s ``call``/``call_nowait``).  What crosses between them:

- **Receive mailbox** (``_mbox``, at most ``tcp_recvmbox_size`` or ``udp_recvmbox_size`` items): for TCP, byte
  chunks taken with ``pcb.recv(reopen=False)`` when the pcb says it is readable, then a FIN marker, or an error
  marker when the connection fails; for UDP and RAW, :class:`~lwipy.api.netbuf.NetBuf` objects.  When the TCP mailbox
  is full the bytes stay in the pcb (``_rx_stalled``), still counted against the window, as lwIP's
  ``refused_data``: a slow reader closes the window and the sender stalls; memory does not grow.  The pcb's events
  during a batch of frames are taken once, when the batch ends (``Stack.after_batch``, rx17): the batch's segments
  go to the mailbox as one chunk and a waiting reader is woken once for them, so that its thread does not contend
  with the core's for the interpreter at each of the core's system calls in the batch (a socket's receive at 64 KB
  windows went from about 255 to 550-770 Mbit/s).  A datagram goes to the mailbox as it comes (a full mailbox drops
  it, as ``sys_mbox_trypost``), but the reader is likewise woken once per batch (:meth:`_wake_readers`).
- **Window updates** (``tcp_recved``), batched: the application counts the bytes it consumed (``_unacked``) and
  posts one :meth:`_do_recved` at a time (``_rcvd_posted``) when a quarter of the window was consumed, when the
  mailbox ran empty (it is about to wait, so the peer must be free to send), or when data stalled in the pcb.
  Whenever the core pulls more data it also gives back whatever was consumed meanwhile, for free.
- **Writes**: one message per write (:meth:`_do_write`).  The write stays pending (``_write``, state
  NETCONN_WRITE) and continues from the pcb's writable events until every byte is in the send buffer, as
  ``lwip_netconn_do_writemore``; then the writer, sleeping on ``_cond``, is woken.  The core holds ``_cond``
  while it queues bytes, so a writer giving up (send timeout, close from another thread) sees an exact count.
  Between a blocking write's first part and its last, the pcb itself pulls the parts (:meth:`_write_source` as
  its ``tx_source``, tx17): each ACK's room filled at once, without the event and :meth:`_writemore` per ACK.
- **Staged writes** (lwipy's, for blocking TCP writes from application threads): a write that fits the room the
  core last published (``_stage_room``: the pcb's free send buffer less what is staged) is copied into ``_staged``
  under ``_stage_lock`` and the writer returns at once, as if the bytes were in the send buffer already (they
  count against it); one :meth:`_do_flush` at a time (``_stage_posted``) hands everything staged meanwhile to the
  pcb in one ``tcp_write``.  So a thread writing small blocks costs one hop to the core per batch, not one round
  trip per call, and its blocks leave in full segments.  The core publishes the room after each flush, each
  completed write and each pcb event, and only while the connection can send and no write is pending; a write
  that does not fit, shutdown and close set it to zero and go the usual way, behind the flush (the mailbox is
  first in, first out).  Should the pcb take less than the room said (something else queued on it meanwhile), the
  rest stays staged and goes first on the next writable event, ahead of any write message, and shutdown and close
  wait for it.  An error after a write was staged shows on the next call, as with the kernel's sockets.
- **Waiting for room** (``Netconn._stage_wait``): a blocking write of at most half the send buffer
  (``_stage_small``) that finds the room too small while the core publishes room (``_stage_open``) stages what fits
  and sleeps on ``_cond`` (counted in ``_room_waiters``, wanting ``_room_wanted`` bytes) until the core publishes
  room above the low-water mark (``_lowat``, lwIP's TCP_SNDLOWAT, the free send buffer above which ``sent_tcp``
  reports a socket writable; 2,881 bytes at ESP-IDF's defaults): :meth:`_publish_room` notifies such a writer when
  the room reaches what it wants or staging closes.  So small writes at ESP-IDF's 5,760-byte send buffer cost a
  wake-up per half buffer freed (not per ACK, nor a write message and its round trip per write), each staging
  several writes, and they fill the buffer to the brim, as a plain write does (full segments).  Shutdown,
  close (:meth:`_do_close` closes staging before its flush, so nothing is staged behind the FIN), an error, or
  another write pending close staging and wake the writer, which sends its rest the usual way and so ends as plain
  writes end (ENOTCONN, EPIPE, the pending error); at ``send_timeout`` it returns what it staged, or raises
  LwipTimeout when that is nothing; a stopped loop raises ESHUTDOWN.  Larger writes go the usual way: the core
  copies them as room comes, with no wake-up of the writer per ACK.
- **Errors**: ``err_tcp`` leaves a one-shot ``_pending_err`` (``netconn_err``) and an error marker behind the
  data, completes a pending connect or write with the error, and marks the mailbox closed.

Events for the sockets layer and select (``callback``) are fired after ``_cond`` is released.

- **Options** for the pcb (``set_option``: ``nodelay``, ``keepalive``, ``ttl``, ``tos``...) are kept in
  ``_pcb_opts`` and set on the pcb whenever one is attached, so a TCP option set before connect or listen holds for
  the pcb made then; connections accepted from a listener inherit the listener's (all but ``nodelay``, as lwIP).
- **Lingering close** (``SO_LINGER`` on): :meth:`_do_close` keeps the pcb it closed in ``_linger_pcb`` and watches
  it until everything sent, FIN included, is acknowledged (``_linger_event``); the closing thread waits for that up
  to the linger time, after which :meth:`_do_linger_timeout` resets the connection (lwIP: "in this case, we want to
  RST the connection").  Linger 0 aborts at once.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import deque
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Union

from ..core.addr import ANY4, ip4, unmap
from ..core.mem import MBOX, NETCONN
from ..core.raw import RawPacket, RawPcb
from ..core.tcp.pcb import (CLOSE_WAIT, CLOSED, ESTABLISHED, FIN_WAIT_2, SYN_RCVD, SYN_SENT, TIME_WAIT, TcpListener,
                            TcpPcb)
from ..core.udp import Datagram, UdpPcb
from ..errors import LwipError, check_ip_byte
from .defs import (NETCONN_CONNECT, NETCONN_EVT_ERROR, NETCONN_EVT_RCVPLUS, NETCONN_EVT_SENDMINUS,
                   NETCONN_EVT_SENDPLUS, NETCONN_LISTEN, NETCONN_NONE, NETCONN_RAW, NETCONN_TCP, NETCONN_UDP,
                   NETCONN_TYPE_IPV6, NETCONN_UDPNOCHKSUM, NETCONN_WRITE, EventCallback, netconn_group)
from .netbuf import NetBuf

if TYPE_CHECKING:
    from ..core.ip4 import InPacket
    from .loop import StackLoop

__all__ = ["NetconnCore", "WriteMsg", "FIN", "ErrMsg"]

log = logging.getLogger("lwipy")
RAW_RECVMBOX_SIZE = 6  # DEFAULT_RAW_RECVMBOX_SIZE in ESP-IDF's lwipopts.h
RECV_BUFSIZE_DEFAULT = 0x7FFFFFFF  # RECV_BUFSIZE_DEFAULT (INT_MAX): no limit but the mailbox's
#: pcb options an accepted connection takes from its listener (lwIP's SOF_INHERITED, with TTL and TOS)
INHERITED_OPTIONS = ("keepalive", "keep_idle", "keep_intvl", "keep_cnt", "ttl", "tos")
Events = list[tuple[int, int]]
AnyPcb = Union[TcpPcb, TcpListener, UdpPcb, RawPcb]


class _Fin:
    """The FIN marker in a TCP receive mailbox (lwIP posts an empty pbuf)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FIN"


FIN = _Fin()


class ErrMsg:
    """An error marker in a receive mailbox, behind the data that arrived first (``lwip_netconn_err_to_msg``)."""

    __slots__ = ("err",)

    def __init__(self, err: int) -> None:
        self.err = err


class WriteMsg:
    """One write in flight: the caller's bytes, how far the core got, and the outcome (guarded by ``_cond``)."""

    __slots__ = ("view", "offset", "dontblock", "more", "done", "err", "timed_out")

    def __init__(self, view: memoryview, dontblock: bool, more: bool = False) -> None:
        self.view = view
        self.offset = 0
        self.dontblock = dontblock
        self.more = more  # NETCONN_MORE: no PSH after the last part either
        self.done = False
        self.err = 0
        self.timed_out = False


class NetconnCore:
    """A netconn's state and everything that runs on the core thread.  :class:`~lwipy.api.netconn.Netconn` adds the
    application side."""

    def _init_state(self, loop: "StackLoop", kind: int, proto: int, callback: EventCallback | None) -> None:
        cfg = loop.stack.config
        group = netconn_group(kind)
        if group not in (NETCONN_TCP, NETCONN_UDP, NETCONN_RAW):
            raise LwipError(errno.EINVAL, f"unknown netconn type {kind:#x}")
        #: the loop whose core thread owns the stack
        self.loop = loop
        self.stack = loop.stack
        #: NETCONN_TCP, NETCONN_UDP, NETCONN_UDPNOCHKSUM or NETCONN_RAW
        self.type = kind
        #: the IP protocol of a RAW netconn
        self.proto = proto
        #: ``callback(netconn, event, length)``, see :data:`~lwipy.api.defs.EventCallback`
        self.callback = callback
        #: free for the layer above (lwIP's ``conn->socket``)
        self.socket: Any = None
        #: operations return EWOULDBLOCK instead of waiting (``netconn_set_nonblocking``)
        self.nonblocking = False
        #: seconds recv and accept wait before raising LwipTimeout; None (or 0, lwIP's "forever") waits forever
        self.recv_timeout: float | None = None
        #: seconds a write waits for room before returning what it queued (LwipTimeout when nothing)
        self.send_timeout: float | None = None
        #: the pcb (core thread only): TcpPcb, TcpListener, UdpPcb, RawPcb, or None
        self.pcb: AnyPcb | None = None
        #: what the netconn is busy with: NETCONN_NONE, NETCONN_WRITE, NETCONN_LISTEN, NETCONN_CONNECT...
        self.state = NETCONN_NONE
        #: bytes (TCP) or datagram bytes (UDP, RAW) waiting in the receive mailbox
        self.recv_avail = 0
        self._lock = threading.RLock()  # _cond's (tx17: taken alone, without the condition's Python-level methods)
        self._cond = threading.Condition(self._lock)
        self._mbox: deque[Any] = deque()
        self._mbox_size = (cfg.tcp_recvmbox_size if group == NETCONN_TCP else
                           cfg.udp_recvmbox_size if group != NETCONN_RAW else RAW_RECVMBOX_SIZE)
        self._accept_ready = 0  # connections waiting in the listener, not yet claimed by an accept()
        self._pending_err = 0  # netconn_err(): read and cleared
        self._mbox_invalid = False  # NETCONN_FLAG_MBOXINVALID: receiving is over on our side (close, SHUT_RD, EOF read)
        self._mbox_closed = False  # NETCONN_FLAG_MBOXCLOSED: the pcb went away (err_tcp)
        self._pcb_gone = False  # the pcb is freed or closed: nothing more to do with it
        self._pcb_held = False  # TCP: a pcb taken at creation (tcp_new), until connect or listen uses it
        self._deleted = False
        self._nb_connect = False  # NETCONN_FLAG_IN_NONBLOCKING_CONNECT
        self._connect_err = 0  # the outcome of a blocking connect
        self._write: WriteMsg | None = None
        self._source = self._write_source  # tx17: bound once: the pcb's tx_source while a write is pending
        self._unacked = 0  # bytes consumed by the application and not yet given back to the pcb (tcp_recved)
        self._rcvd_posted = False  # a _do_recved is on its way to the core
        self._rx_stalled = False  # data (or the FIN) waits in the pcb because the mailbox was full
        self._event_due = False  # rx17: the pcb's events of this batch of frames wait for its end (_batch_event)
        self._wake_due = False  # rx17: readers of datagrams to wake when this batch of frames ends (_wake_readers)
        self._rcvd_threshold = 1  # a quarter of the window
        #: TCP: the local end for listen/connect (tcp_bind); :: for an IPv6 netconn
        self._bind: tuple[Any, int] = (IPv6Address(0) if kind & NETCONN_TYPE_IPV6 else ANY4, 0)
        self._fin_posted = False
        self._lowat = 1  # TCP_SNDLOWAT (set at _attach; a writer waiting for room wakes above it)
        self._check_writespace = False  # NETCONN_FLAG_CHECK_WRITESPACE: SENDMINUS was signalled
        #: bytes of datagrams the UDP or RAW mailbox may hold (``SO_RCVBUF``, lwIP's ``recv_bufsize``)
        self.recv_bufsize = RECV_BUFSIZE_DEFAULT
        self._pcb_opts: dict[str, Any] = {}  # pcb attribute -> value, set on every pcb attached (set_option)
        self._linger_pcb: TcpPcb | None = None  # a closed pcb whose last data a lingering close waits for
        self._stage_lock = threading.RLock()  # staged writes (see the module's theory): these four fields
        self._staged = bytearray()  # written by the application, not yet handed to the pcb
        self._stage_room = 0  # bytes the application may stage now (published by the core)
        self._stage_posted = False  # a _do_flush is on its way to the core
        self._stage_armed = False  # a blocking write completed: the core keeps _stage_room up to date
        self._stage_rest = False  # staged bytes found no room in the pcb: they wait for a writable event
        self._stage_waiting = False  # a shutdown or close waits (on _cond) until nothing is staged
        self._stage_open = False  # the core publishes room (the connection can send, no write message pending)
        self._stage_more = False  # the staged bytes end with a write said NETCONN_MORE, or with a part of one
        self._stage_small = 0  # a blocking write up to this long waits for room rather than posting a message
        self._room_waiters = 0  # writers sleeping on _cond until the room reaches _room_wanted (under _cond)
        self._room_wanted = 0  # the least room one of them waits for
        loop.add_stop_listener(self)

    # -- helpers (any thread) ----------------------------------------------------------------------------------------
    def _fire(self, events: Events) -> None:
        """Run the event callback (never with ``_cond`` held)."""
        cb = self.callback
        if cb is None:
            return
        for evt, length in events:
            try:
                cb(self, evt, length)
            except Exception:
                log.exception("a netconn event callback raised")

    def _take_err(self) -> int:
        """``netconn_err`` with ``_cond`` held."""
        err, self._pending_err = self._pending_err, 0
        return err

    def loop_stopped(self) -> None:
        """The loop ended: wake every thread waiting here, to find it gone."""
        with self._cond:
            self._cond.notify_all()

    # -- creation, addresses -----------------------------------------------------------------------------------------
    def _do_newconn(self) -> None:
        """``lwip_netconn_do_newconn``: a UDP or RAW pcb; for TCP one of ``max_active_tcp`` pcbs is held (as
        ``tcp_new`` takes it) and becomes the connection at connect, or is given back at listen or close."""
        group = netconn_group(self.type)
        self._mem_new(self._mbox_size)
        try:
            self._newconn_pcb(group)
        except BaseException:
            self._mem_gone()
            raise

    def _newconn_pcb(self, group: int) -> None:
        if group == NETCONN_TCP:
            self.stack.tcp.hold_pcb()
            self._pcb_held = True
        elif group == NETCONN_RAW:
            raw = self.stack.raw.new(self.proto, ip6=bool(self.type & NETCONN_TYPE_IPV6))
            raw.on_recv = self._recv_raw
            self.pcb = raw
            self._apply_options(raw)
        elif group != NETCONN_TCP:
            udp = self.stack.udp.new(ip6=bool(self.type & NETCONN_TYPE_IPV6))
            udp.no_checksum = self.type == NETCONN_UDPNOCHKSUM
            udp.on_recv = self._recv_udp
            udp.on_event = self._udp_error
            self.pcb = udp
            self._apply_options(udp)

    def set_option_core(self, name: str, value: Any) -> None:
        """Set the pcb attribute ``name`` (``nodelay``, ``keepalive``, ``keep_idle``, ``ttl``, ``tos``,
        ``reuse_addr``, ``multicast_ttl``...) now and on any pcb attached later (core thread).  s21: ``ttl`` and
        ``tos`` are checked here (EINVAL unless 0..255), whatever the pcb (none yet, a listener without them), so that
        no value a pcb refuses waits for the connect or the accept that applies it; a value the pcb refuses is not
        kept."""
        if name == "ttl" or name == "tos":
            check_ip_byte(name, value)
        pcb = self.pcb
        if pcb is not None and hasattr(pcb, name):
            setattr(pcb, name, value)
        self._pcb_opts[name] = value

    def _apply_options(self, pcb: AnyPcb) -> None:
        for name, value in self._pcb_opts.items():
            if hasattr(pcb, name):
                setattr(pcb, name, value)

    def _do_bind(self, ip: Any, port: int) -> None:
        """``lwip_netconn_do_bind``."""
        pcb = self.pcb
        if isinstance(pcb, UdpPcb):
            pcb.bind(ip, port)  # IPv4 or IPv6; None: the pcb's own any address
            return
        if isinstance(pcb, RawPcb):
            pcb.bind(ip4(ip) if ip is not None else ANY4)
        else:
            addr = unmap(ip) if ip is not None else self._bind[0]
            if pcb is not None or self._pcb_gone:
                raise LwipError(errno.EINVAL, "the TCP netconn is connected, listening or closed")
            if addr.version == 6 and not self.type & NETCONN_TYPE_IPV6:
                raise LwipError(errno.EAFNOSUPPORT, "an IPv4 netconn binds no IPv6 address")
            own = self.stack.is_own_address(addr) if isinstance(addr, IPv4Address) else \
                self.stack.is_own_address6(addr.packed)
            if not addr.is_unspecified and not own:
                raise LwipError(errno.EADDRNOTAVAIL, f"{addr} is not an address of this stack")
            port = self.stack.tcp.bind(addr, port, self._pcb_opts.get("reuse_addr", False),
                                       self._pcb_opts.get("v6only", False))  # reserved until listen or connect
            self._unbind()
            self._bind = (addr, port)

    def _unbind(self) -> None:
        """Give the port reserved by a TCP bind back (the pcb made from it holds it now, or nobody needs it)."""
        port = self._bind[1]
        if port and self.pcb is None and netconn_group(self.type) == NETCONN_TCP:
            self.stack.tcp.unbind(port)
            self._bind = (self._bind[0], 0)

    def _do_getaddr(self, local: bool) -> tuple[Any, int]:
        """``lwip_netconn_do_getaddr``."""
        pcb = self.pcb
        if isinstance(pcb, (TcpPcb, UdpPcb)):
            if local:
                return pcb.local_ip, pcb.local_port
            if pcb.remote_ip is not None:
                return pcb.remote_ip, pcb.remote_port
        elif isinstance(pcb, TcpListener):
            if local:
                return pcb.local_ip, pcb.local_port
        elif isinstance(pcb, RawPcb):
            if local:
                return pcb.local_ip, self.proto
        elif local and not self._pcb_gone:
            return self._bind
        raise LwipError(errno.ENOTCONN, "the netconn has no peer" if pcb is not None else "the netconn has no pcb")

    # -- TCP: connect, listen, accept --------------------------------------------------------------------------------
    def _do_connect(self, ip: str | IPv4Address, port: int, nonblocking: bool) -> None:
        """``lwip_netconn_do_connect``: start the handshake; :meth:`_tcp_event` finishes it."""
        pcb = self.pcb
        if isinstance(pcb, UdpPcb):
            pcb.connect(ip, port)
            return
        if isinstance(pcb, RawPcb):
            pcb.connect(ip)
            return
        with self._cond:
            if self.state == NETCONN_CONNECT:
                raise LwipError(errno.EALREADY, "a connect is in progress")
            if self.state != NETCONN_NONE or pcb is not None:
                raise LwipError(errno.EISCONN, "the netconn is connected or listening")
            if self._pcb_gone:
                raise LwipError(errno.ENOTCONN, "the connection is closed")
        local_ip, local_port = self._bind
        self._unbind()
        try:
            new = self.stack.tcp.connect(ip, port, local_port, None if local_ip.is_unspecified else local_ip,
                                         held=self._pcb_held)
            self._pcb_held = False
        except LwipError:
            if local_port:
                self._bind = (local_ip, self.stack.tcp.bind(local_ip, local_port))
            raise
        self._attach(new)
        with self._cond:
            self.state = NETCONN_CONNECT
            self._nb_connect = nonblocking
            self._connect_err = 0

    def _attach(self, pcb: TcpPcb) -> None:
        self.pcb = pcb
        # lwIP's opt.h: TCP_SNDLOWAT LWIP_MIN(LWIP_MAX(((TCP_SND_BUF)/2), (2 * TCP_MSS) + 1), (TCP_SND_BUF) - 1)
        # (ESP-IDF leaves it so: 2,881 with TCP_SND_BUF 5,760 and TCP_MSS 1,440)
        self._lowat = min(max(pcb.snd_buf_limit // 2, 2 * self.stack.config.tcp_mss + 1), pcb.snd_buf_limit - 1)
        self._stage_small = pcb.snd_buf_limit // 2
        self._apply_options(pcb)
        pcb.on_event = self._tcp_event

    def _release_held_pcb(self) -> None:
        if self._pcb_held:
            self._pcb_held = False
            self.stack.tcp.release_pcb()

    def _do_listen(self, backlog: int | None) -> None:
        """``lwip_netconn_do_listen``: a listening pcb; connections are announced by :meth:`_accept_event`."""
        pcb = self.pcb
        with self._cond:
            if self.state == NETCONN_LISTEN and isinstance(pcb, TcpListener):
                if backlog is not None:
                    pcb.backlog = max(1, min(backlog, 255))  # tcp_backlog_set
                return
            if self.state != NETCONN_NONE or self._pcb_gone:
                raise LwipError(errno.ENOTCONN, "the netconn is busy or closed")
            if pcb is not None:
                raise LwipError(errno.EINVAL, "the netconn is connected")
        local_ip, local_port = self._bind
        self._unbind()
        try:
            listener = self.stack.tcp.listen(local_port, local_ip, backlog, self._pcb_opts.get("v6only", False))
        except LwipError:
            if local_port:
                self._bind = (local_ip, self.stack.tcp.bind(local_ip, local_port))
            raise
        listener.on_event = self._accept_event
        self._mem_mbox_resize(self.stack.config.tcp_accept_mbox_size)  # the recvmbox goes, an acceptmbox comes
        self.pcb = listener
        self._release_held_pcb()  # lwIP's tcp_listen frees the pcb for a smaller listening one
        with self._cond:
            self.state = NETCONN_LISTEN

    def _accept_event(self, listener: TcpListener) -> None:
        """``accept_function``: one more connection waits in the listener."""
        with self._cond:
            self._accept_ready += 1
            self._cond.notify_all()
        self._fire([(NETCONN_EVT_RCVPLUS, 0)])

    def _do_accept(self) -> "NetconnCore | None":
        """Take the oldest established connection from the listener and make it a netconn (on the core thread)."""
        listener = self.pcb
        if not isinstance(listener, TcpListener) or listener.closed:
            return None
        pcb = listener.accept()
        if pcb is None:
            return None
        conn = type(self).__new__(type(self))
        conn._init_state(self.loop, NETCONN_TCP, 0, self.callback)
        conn._mem_new(conn._mbox_size)
        conn._pcb_opts = {k: v for k, v in self._pcb_opts.items() if k in INHERITED_OPTIONS}
        conn._attach(pcb)
        conn._tcp_event(pcb)  # what arrived before accept (data, FIN, RST) goes to the new netconn now
        return conn

    # -- TCP: the pcb's callback -------------------------------------------------------------------------------------
    def _tcp_event(self, pcb: TcpPcb) -> None:
        """The pcb became readable, writable, connected or failed (``recv_tcp``, ``sent_tcp``, ``err_tcp``,
        ``do_connected`` in one).  rx17: during a batch of frames (``Stack.input_many``) once, when the batch ends
        (:meth:`_batch_event`), for everything its segments brought: their data pulled as one chunk and a reader
        waiting woken once, not at every segment (its thread then contending with the core's for the interpreter at
        each of the core's system calls)."""
        if self.pcb is not pcb:
            return
        if self.stack.tcp.batching:
            if not self._event_due:
                self._event_due = True
                self.stack.after_batch(self._batch_event)
            return
        state = pcb.state
        events: Events = []
        if self.state == NETCONN_CONNECT and state not in (SYN_SENT, SYN_RCVD, CLOSED):
            with self._cond:  # lwip_netconn_do_connected
                self.state = NETCONN_NONE
                self._nb_connect = False
                self._cond.notify_all()
            events.append((NETCONN_EVT_SENDPLUS, 0))
        if pcb.readable or (pcb.fin_received and not self._fin_posted) or self._unacked:
            events += self._pull(pcb)
        if state == CLOSED:
            events += self._err_tcp(pcb.error)
        elif self._write is not None:
            with self._cond:
                events += self._writemore()
        elif self._check_writespace and pcb.send_space > self._lowat:
            self._check_writespace = False
            events.append((NETCONN_EVT_SENDPLUS, 0))
        if self._stage_armed:
            if self._staged and not self._stage_posted and self.pcb is pcb:
                self._do_flush()  # a rest that found no room before (see _do_flush)
            else:
                self._publish_room(pcb)
        if events:
            self._fire(events)

    def _batch_event(self) -> None:
        """rx17: the pcb's events of a batch of frames, told once it ended (``Stack.after_batch``)."""
        self._event_due = False
        pcb = self.pcb
        if isinstance(pcb, TcpPcb):
            self._tcp_event(pcb)

    def _pull(self, pcb: TcpPcb) -> Events:
        """``recv_tcp``: move what the pcb received into the mailbox while it has room.  The window stays closed
        over it (``recv(reopen=False)``) until the application consumed it; what it consumed so far is given back
        now."""
        events: Events = []
        with self._cond:
            if self._unacked and pcb.state != CLOSED:
                n, self._unacked = self._unacked, 0
                pcb.recved(n)
            self._rcvd_threshold = max(1, pcb.rcv_buf_limit // 4)
            if self._mbox_invalid:
                return events
            mbox = self._mbox
            while len(mbox) < self._mbox_size:
                n = pcb.readable
                if n:
                    mbox.append(pcb.recv(n, reopen=False))
                    self.recv_avail += n
                    events.append((NETCONN_EVT_RCVPLUS, n))
                elif pcb.fin_received and not self._fin_posted:
                    mbox.append(FIN)
                    self._fin_posted = True
                    events.append((NETCONN_EVT_RCVPLUS, 0))
                else:
                    break
            self._rx_stalled = bool(pcb.readable) or (pcb.fin_received and not self._fin_posted)
            if events:
                self._cond.notify_all()
        return events

    def _do_recved(self) -> None:
        """``lwip_netconn_do_recv``: give consumed bytes back to the window and pull what stalled in the pcb."""
        with self._cond:
            self._rcvd_posted = False
        pcb = self.pcb
        if isinstance(pcb, TcpPcb):
            events = self._pull(pcb)
            if events:
                self._fire(events)

    def _err_tcp(self, err: int) -> Events:
        """``err_tcp``: the pcb is gone (reset, aborted, timed out; or closed after our FIN with reading still
        open, which lwIP reports as ERR_CLSD)."""
        with self._cond:
            self.pcb = None
            self._pcb_gone = True
            self._pending_err = err or errno.ENOTCONN
            self._mbox_closed = True
            if len(self._mbox) < self._mbox_size and not self._mbox_invalid:
                if err:
                    self._mbox.append(ErrMsg(err))
                elif not self._fin_posted:
                    self._mbox.append(FIN)
                    self._fin_posted = True
            if self.state == NETCONN_CONNECT and not self._nb_connect:
                self._connect_err = err or errno.ENOTCONN
            if self._write is not None:
                self._write_finished(self._write, err or errno.ENOTCONN)
            self.state = NETCONN_NONE
            self._cond.notify_all()
        return [(NETCONN_EVT_ERROR, 0), (NETCONN_EVT_RCVPLUS, 0), (NETCONN_EVT_SENDPLUS, 0)]

    # -- TCP: writing ------------------------------------------------------------------------------------------------
    def _do_write(self, msg: WriteMsg) -> None:
        """``lwip_netconn_do_write``: queue what fits; the rest follows from the pcb's writable events."""
        events: Events = []
        with self._cond:
            if msg.done:
                return  # the writer gave up before the message arrived
            err = self._take_err()
            if not err and self.state != NETCONN_NONE:
                err = errno.EINPROGRESS  # connecting, listening, or another thread's write is running
            if not err and not isinstance(self.pcb, TcpPcb):
                err = errno.ENOTCONN
            if err:
                self._write_finished(msg, err)
                return
            self.state = NETCONN_WRITE
            self._write = msg
            events = self._writemore()
        if events:
            self._fire(events)

    def _writemore(self) -> Events:
        """``lwip_netconn_do_writemore`` (``_cond`` held)."""
        msg, pcb = self._write, self.pcb
        if msg is None or not isinstance(pcb, TcpPcb):
            return []
        try:
            # staged bytes that found no room yet go first (they were written before this).  As
            # lwip_netconn_do_writemore: a blocking write split for want of room goes with TCP_WRITE_FLAG_MORE until
            # its last part (no PSH that would make the peer acknowledge each part at once), and NETCONN_MORE keeps
            # the last part's PSH off too
            if not self._staged or self._send_staged(pcb):
                rest = msg.view[msg.offset:] if msg.offset else msg.view
                n = pcb.send(rest, msg.more or (not msg.dontblock and len(rest) > pcb.send_space))
            else:
                n = 0
        except LwipError as e:
            self._write_finished(msg, errno.ENOTCONN if e.errno == errno.EPIPE else (e.errno or errno.EIO))
            return []
        msg.offset += n
        events: Events = []
        complete = msg.offset == len(msg.view)
        if complete or msg.dontblock:
            self._write_finished(msg, 0 if msg.offset else errno.EWOULDBLOCK)
            if complete and not msg.dontblock:
                self._stage_armed = True
                self._publish_room(pcb)
        if (not complete and msg.dontblock) or pcb.send_space <= self._lowat:
            if not self._check_writespace:
                self._check_writespace = True
                events.append((NETCONN_EVT_SENDMINUS, n))
        if not complete and not msg.dontblock and pcb._tx_source is None and not self._staged:
            pcb.tx_source = self._source  # tx17: the write's middle parts pulled as ACKs free room (_write_source)
        return events

    def _write_source(self, pcb: TcpPcb, room: int) -> memoryview | bytes:
        """tx17: the pending blocking write as the pcb's stream source (``TcpPcb.tx_source``, set by
        :meth:`_writemore`): each ACK that frees ``room`` bytes of send buffer takes the write's next ``room`` bytes
        at once (``TcpPcb._pull``, without PSH, as :meth:`_writemore` queues a part that leaves more), instead of the
        pcb's event, this netconn's and :meth:`_writemore`'s checks and ``send``: a socket's ``sendall`` at
        ESP-IDF's 5,760-byte send buffer costs what the pcb API's stream costs per ACK.  It gives nothing and takes
        itself off once what is left fits the room (the last part goes by :meth:`_writemore`, with its PSH, and
        completes the write), when the write ended otherwise (a send timeout, an error, a close: it is no longer
        ``_write``), or when staged bytes wait to go first; the event that follows does the rest.  Under ``_cond``'s
        lock, as :meth:`_writemore` queues, so that a writer giving up counts exactly."""
        with self._lock:
            msg = self._write
            if msg is not None and pcb is self.pcb and not self._staged:
                offset = msg.offset
                if len(msg.view) - offset > room:
                    msg.offset = offset + room
                    return msg.view[offset:offset + room]
            pcb.tx_source = None
            return b""

    def _do_flush(self) -> None:
        """Hand the staged bytes to the pcb (one ``tcp_write`` for everything staged since the last flush) and
        publish the room left."""
        with self._stage_lock:
            self._stage_posted = False
            pcb = self.pcb
            self._send_staged(pcb)
            self._publish_room(pcb)

    def _send_staged(self, pcb: Any) -> bool:
        """``tcp_write`` of the staged bytes; False when some still wait (the send buffer was fuller than the room
        published said: something else filled it), to go first on a later writable event."""
        with self._stage_lock:
            data, self._staged = self._staged, bytearray()
            if data and isinstance(pcb, TcpPcb):
                try:
                    # all of it, as the room published never exceeds the free send buffer; without PSH when the
                    # last write staged said NETCONN_MORE or is not all staged yet (as _writemore)
                    n = pcb.send(data, self._stage_more or len(data) > pcb.send_space)
                    if n < len(data):
                        self._staged[:0] = memoryview(data)[n:]
                        self._stage_rest = True
                except LwipError:
                    pass  # the connection failed meanwhile: err_tcp left the error for the next call
            if not self._staged:
                self._stage_rest = False
                if self._stage_waiting:
                    with self._cond:
                        self._cond.notify_all()  # a shutdown or close waits for every staged byte (_wait_staged)
            return not self._staged

    def _publish_room(self, pcb: Any) -> None:
        """What the application may stage now: the free send buffer less what is staged, while the connection can
        send and no write message is pending (zero otherwise)."""
        with self._stage_lock:
            if self.state == NETCONN_NONE and self._write is None and isinstance(pcb, TcpPcb) and pcb is self.pcb \
                    and pcb.state in (ESTABLISHED, CLOSE_WAIT) and not pcb.tx_closed and not pcb.error \
                    and not self._pending_err:
                room = pcb.send_space - len(self._staged)
                self._stage_room = room = room if room > 0 else 0  # (tx8: no max call, once per ACK of a sender)
                self._stage_open = True
            else:
                self._stage_room = room = 0
                self._stage_open = False
            if self._room_waiters and (room >= self._room_wanted or not self._stage_open):
                with self._cond:
                    self._cond.notify_all()  # a writer waiting for room (Netconn._stage_wait)

    def _write_finished(self, msg: WriteMsg, err: int, timed_out: bool = False) -> None:
        """Complete ``msg`` and wake its writer (``_cond`` held)."""
        msg.done = True
        msg.err = err
        msg.timed_out = timed_out
        if self._write is msg:
            self._write = None
            if self.state == NETCONN_WRITE:
                self.state = NETCONN_NONE
        self._cond.notify_all()

    # -- closing -----------------------------------------------------------------------------------------------------
    # -- memory as lwIP counts it (lwipy.core.mem): the netconn and its mailbox, on the core thread ------------------
    _mem_mbox: int | None = None  # the bytes counted for the mailbox; None: nothing counted

    def _mem_new(self, slots: int) -> None:
        """``netconn_alloc``: MEMP_NETCONN and the recvmbox (``sys_mbox_new``)."""
        mem = self.stack.mem
        self._mem_mbox = mem.sizes.mbox(slots)
        mem.alloc(NETCONN, mem.sizes.netconn)
        mem.alloc(MBOX, self._mem_mbox)

    def _mem_mbox_resize(self, slots: int) -> None:
        if self._mem_mbox is not None:
            mem = self.stack.mem
            mem.free(MBOX, self._mem_mbox)
            self._mem_mbox = mem.sizes.mbox(slots)
            mem.alloc(MBOX, self._mem_mbox)

    def _mem_gone(self) -> None:
        """``netconn_free``: the netconn and its mailbox go back."""
        if self._mem_mbox is not None:
            mem = self.stack.mem
            mem.free(NETCONN, mem.sizes.netconn)
            mem.free(MBOX, self._mem_mbox)
            self._mem_mbox = None

    def _do_close(self, rd: bool, wr: bool, delete: bool = False, linger: float | None = None) -> bool:
        """``lwip_netconn_do_close`` (shutdown one or both ways) and ``lwip_netconn_do_delconn`` (``delete``): wake
        the threads blocked here with ENOTCONN, then close the pcb.  A full close with ``linger`` 0 resets the
        connection; with a positive ``linger`` it returns True when the caller should wait for the pcb to have
        everything acknowledged (``_linger_pcb``)."""
        if wr or delete:
            with self._stage_lock:  # nothing is staged from here on (a writer waiting for room goes the usual way)
                self._stage_room = 0
                self._stage_open = False
                if self._staged:  # written before the close: behind the data already queued, ahead of the FIN
                    self._stage_posted = False
                    self._send_staged(self.pcb)
        pcb = self.pcb
        full = rd and wr
        tcp = netconn_group(self.type) == NETCONN_TCP
        with self._cond:
            if tcp and not delete:
                if self._pcb_gone:
                    raise LwipError(errno.ENOTCONN, "the connection is closed already")
                if self.state == NETCONN_CONNECT and not full:
                    raise LwipError(errno.ENOTCONN, "a connect is in progress")
                if self.state == NETCONN_LISTEN and not full:
                    raise LwipError(errno.ENOTCONN, "a listening netconn only closes both ways")
                if wr and not full and (not isinstance(pcb, TcpPcb) or pcb.state == SYN_SENT):
                    raise LwipError(errno.ENOTCONN, "the netconn is not connected")
            if rd or delete:
                self._mbox_invalid = True  # netconn_mark_mbox_invalid: blocked readers and acceptors wake
            if (wr or delete) and self._write is not None:
                self._write_finished(self._write, errno.ENOTCONN)
            if full and self.state == NETCONN_CONNECT and not self._nb_connect:
                self._connect_err = errno.ENOTCONN
            unacked = 0
            if full and tcp and pcb is None:
                self._unbind()
                self._release_held_pcb()
            if full:
                self.state = NETCONN_NONE
                self.pcb = None
                self._pcb_gone = True
                unacked, self._unacked = self._unacked, 0
            self._cond.notify_all()
        events: Events = []
        lingering = False
        if isinstance(pcb, TcpPcb):
            if (wr or delete) and pcb._tx_source is self._source:
                pcb.tx_source = None  # tx17: the write it pulled from ended above
            if full:
                pcb.on_event = None
                if unacked and pcb.state != CLOSED:
                    pcb.recved(unacked)
                if linger == 0 or pcb.state in (ESTABLISHED, CLOSE_WAIT) and (pcb.rcv_held or pcb.readable):
                    pcb.abort()  # SO_LINGER 0, or data the application never read: RST, as tcp_close_shutdown does
                else:
                    pcb.close()
                    if linger and not self._linger_done(pcb):
                        with self._cond:
                            self._linger_pcb = pcb
                        pcb.on_event = self._linger_event
                        lingering = True
            else:
                pcb.shutdown(read=rd, write=wr)
        elif isinstance(pcb, TcpListener):
            pcb.on_event = None
            pcb.close()  # connections not accepted yet are reset
        elif isinstance(pcb, (UdpPcb, RawPcb)):
            pcb.on_recv = None
            pcb.close()
        if tcp:
            self._publish_room(self.pcb)  # none from now on (the flush above published some)
        if delete:
            self._mem_gone()
        if full and tcp:
            events.append((NETCONN_EVT_ERROR, 0))
        if rd:
            events.append((NETCONN_EVT_RCVPLUS, 0))
        if wr:
            events.append((NETCONN_EVT_SENDPLUS, 0))
        self._fire(events)
        return lingering

    @staticmethod
    def _linger_done(pcb: TcpPcb) -> bool:
        """Everything sent, the FIN included, is acknowledged (or the connection is gone)."""
        return pcb.state in (FIN_WAIT_2, TIME_WAIT, CLOSED)

    def _linger_event(self, pcb: TcpPcb) -> None:
        if self._linger_done(pcb):
            pcb.on_event = None
            with self._cond:
                if self._linger_pcb is pcb:
                    self._linger_pcb = None
                self._cond.notify_all()

    def _do_linger_timeout(self) -> None:
        """The linger time passed with data still unacknowledged: reset the connection."""
        with self._cond:
            pcb, self._linger_pcb = self._linger_pcb, None
            self._cond.notify_all()
        if pcb is not None and not self._linger_done(pcb):
            pcb.on_event = None
            pcb.abort()

    # -- UDP and RAW -------------------------------------------------------------------------------------------------
    def _do_send(self, data: bytes | bytearray | memoryview, ip: str | IPv4Address | None, port: int) -> None:
        """``lwip_netconn_do_send``: one datagram, to ``ip``:``port`` or the connected peer."""
        pcb = self.pcb
        with self._cond:
            err = self._take_err()
        if err:
            raise LwipError(err, "an earlier datagram failed")
        if isinstance(pcb, UdpPcb):
            if ip is None:
                pcb.send(data)
            else:
                pcb.sendto(data, ip, port)
        elif isinstance(pcb, RawPcb):
            dst = ip if ip is not None else pcb.remote_ip
            if dst is None:
                raise LwipError(errno.EDESTADDRREQ, "the raw netconn is not connected; use sendto")
            pcb.sendto(data, dst)
        else:
            raise LwipError(errno.ENOTCONN, "the netconn has no UDP or RAW pcb")

    def _queue_netbuf(self, buf: NetBuf) -> bool:
        with self._cond:
            if self._mbox_invalid or len(self._mbox) >= self._mbox_size \
                    or self.recv_avail + len(buf.data) > self.recv_bufsize:
                return False  # sys_mbox_trypost failed, or SO_RCVBUF is full: the datagram is dropped
            self._mbox.append(buf)
            self.recv_avail += len(buf.data)
            if not self._wake_due:
                # rx17: within a batch of frames a reader waiting is woken once, when the batch ends, for all the
                # datagrams it brought (as _tcp_event is told), not at each: its thread would contend with the
                # core's for the interpreter at each of the core's system calls in the batch (outside a batch at
                # once: Stack.after_batch)
                self._wake_due = True
                self.stack.after_batch(self._wake_readers)
        self._fire([(NETCONN_EVT_RCVPLUS, len(buf.data))])
        return True

    def _wake_readers(self) -> None:
        """rx17: the datagrams a batch of frames put in the mailbox, told to the threads waiting for them."""
        with self._cond:
            self._wake_due = False
            self._cond.notify_all()

    def _recv_udp(self, pcb: UdpPcb, dgram: Datagram) -> None:
        """``recv_udp``: a datagram for the mailbox (dropped when it is full)."""
        buf = NetBuf(memoryview(dgram.data), dgram.src, dgram.src_port, dgram.dst, dgram.netif_index)
        if not self._queue_netbuf(buf):
            self.stack._stats.udp.memerr += 1
            self.stack._stats.udp.drop += 1

    def _udp_error(self, pcb: UdpPcb) -> None:
        """An ICMP error for the connected UDP pcb: reported once, by the next recv, send or ``netconn_err``."""
        err = pcb.take_error()
        if err:
            with self._cond:
                self._pending_err = err
                self._cond.notify_all()
            self._fire([(NETCONN_EVT_ERROR, 0)])

    def _recv_raw(self, pcb: RawPcb, pkt: "InPacket | RawPacket") -> bool:
        """``recv_raw``: a copy of the packet (IPv4 header included; over IPv6 the message) for the mailbox; never
        eats it."""
        if isinstance(pkt, RawPacket):
            buf = NetBuf(memoryview(pkt.packet), pkt.src, self.proto, pkt.dst, pkt.netif_index)
        else:
            buf = NetBuf(memoryview(bytes(pkt.packet)), pkt.src, self.proto, pkt.dst, pkt.netif.index)
        if not self._queue_netbuf(buf):
            self.stack._stats.raw.drop += 1
        return False
