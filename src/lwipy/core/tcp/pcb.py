"""One TCP connection (RFC 9293), as lwIP's ``tcp_pcb``.

Theory of operation
-------------------
Sequence space is modular (``core.tcp.seq``).  The send side keeps every byte not yet acknowledged in ``snd_buf``,
whose first byte has sequence number ``buf_seq``: ``snd_una <= snd_nxt <= snd_max``, and bytes ``snd_una..snd_nxt``
are in flight.  A retransmission timeout sends again from ``snd_una`` (go-back-N: ``snd_nxt = snd_una``); three
duplicate ACKs retransmit one segment and enter NewReno recovery (RFC 5681, RFC 6582) until ``recover`` is acked.
SYN and FIN occupy one sequence number each: the SYN is ``iss``, the FIN ``fin_seq`` once the user closed.

The receive side appends in-order bytes to ``rcv_buf`` for the user to read; segments that arrive early wait in
``ooseq`` (bounded by ``tcp_ooseq_max_pbufs``) until the gap fills.  The window offered is the free buffer space,
never shrinking the right edge already offered, and opened again only by at least min(MSS, half the buffer)
(receiver silly window avoidance, RFC 9293 3.8.6.2.2).  ACKs are delayed up to ``DELACK`` seconds, but every second
full segment and anything out of order is acknowledged at once.

All timers are deadlines folded into one per pcb (``next_deadline``), kept by the TCP layer's heap: retransmission
(RFC 6298: SRTT, RTTVAR, Karn's rule or timestamps, doubling backoff), persist (zero window probes), delayed ACK,
keepalive, FIN_WAIT_2 and TIME_WAIT.  Errors the user will see are errnos (``error``): ECONNREFUSED, ECONNRESET,
ETIMEDOUT, ECONNABORTED.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Callable

from ...errors import LwipError
from ...wire.checksum import checksum, fold, pseudo_sum_v4, pseudo_sum_v6
from ...wire.ipv4 import PROTO_TCP
from ...wire.tcp import ACK, FIN, PSH, RST, SYN, TcpHeader, TcpOptions
from ..addr import is_multicast4
from ..pbuf import Pbuf
from .seq import MASK

if TYPE_CHECKING:
    from ..netif import Netif
    from .tcp import Tcp

__all__ = ["TcpPcb", "TcpListener", "STATE_NAMES", "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
           "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]

(CLOSED, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK,
 TIME_WAIT) = range(11)
STATE_NAMES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
               "CLOSING", "LAST_ACK", "TIME_WAIT")
_SYNCHRONIZED = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT})
_CAN_SEND = frozenset({ESTABLISHED, CLOSE_WAIT})
_CAN_RECEIVE = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})

_HDR_TS = struct.Struct("!HHIIHHHHBBBBII")  # a 32-byte header: 20 fixed bytes, then NOP, NOP, timestamps (8, 10)
_CSUM = struct.Struct("!H")
RTO_MIN = 0.2  # Linux's floor; RFC 6298's 1 s would make every loss on a LAN cost a second
RTO_MAX = 60.0
DELACK = 0.1  # lwIP flushes delayed ACKs on its 250 ms fast timer; 100 ms keeps request/response snappy
TX_RETRY = 0.01  # lwipy's: a segment a full device queue refused is tried again this soon when no ACK comes first
_HALF = 0x80000000


def _lt(a: int, b: int) -> bool:
    return (a - b) & MASK >= _HALF


def _le(a: int, b: int) -> bool:
    return a == b or (a - b) & MASK >= _HALF


_V6_KEY = 1 << 128


def conn_key(local: IPv4Address | IPv6Address, lport: int, remote: IPv4Address | IPv6Address,
             rport: int) -> tuple[int, int, int, int]:
    """A connection's four-tuple as integers (IPv6 ones offset by 2**128, apart from every IPv4 one)."""
    if remote.version == 6:
        return int(local) | _V6_KEY, lport, int(remote) | _V6_KEY, rport
    return int(local), lport, int(remote), rport


class TcpListener:
    """A listening pcb (``tcp_listen``): completed connections wait in ``accept_queue`` for :meth:`accept`."""

    def __init__(self, tcp: "Tcp", local_ip: IPv4Address | IPv6Address, local_port: int, backlog: int,
                 v6only: bool = False) -> None:
        self.tcp = tcp
        self.local_ip = local_ip
        #: ``IPV6_V6ONLY``: a listener on :: takes no IPv4 connections
        self.v6only = v6only
        self.local_port = local_port
        self.backlog = backlog
        self.accept_queue: deque[TcpPcb] = deque()
        #: children still in SYN_RCVD, oldest first (a dict as an ordered set)
        self.half_open: dict[TcpPcb, None] = {}
        self.on_event: Callable[[TcpListener], None] | None = None
        self.closed = False
        self.state = LISTEN

    @property
    def pending(self) -> int:
        """Connections still in the handshake: with ``accept_queue`` they fill the backlog (lwIP's
        ``accepts_pending`` counts both)."""
        return len(self.half_open)

    def accept(self) -> "TcpPcb | None":
        """The oldest established connection, or None."""
        self.tcp.stack.assert_core()
        return self.accept_queue.popleft() if self.accept_queue else None

    def close(self) -> None:
        """Stop listening; connections not yet accepted are reset."""
        self.tcp.stack.assert_core()
        if self.closed:
            return
        self.closed = True
        self.tcp._remove_listener(self)
        while self.accept_queue:
            self.accept_queue.popleft().abort()

    def _child_established(self, pcb: "TcpPcb") -> None:
        self.half_open.pop(pcb, None)
        if self.closed:
            pcb.abort()
            return
        self.accept_queue.append(pcb)
        if self.on_event is not None:
            self.on_event(self)

    def __repr__(self) -> str:
        return f"<TcpListener {self.local_ip}:{self.local_port}>"


class TcpPcb:
    """A TCP connection.  Made by :meth:`Tcp.connect` or by a listener; the user's side is :meth:`send`,
    :meth:`recv`, :meth:`shutdown`, :meth:`close` and :meth:`abort`; ``on_event(pcb)`` is called whenever it became
    readable, writable, connected or failed."""

    def __init__(self, tcp: "Tcp", local_ip: IPv4Address | IPv6Address, local_port: int,
                 remote_ip: IPv4Address | IPv6Address, remote_port: int) -> None:
        stack = tcp.stack
        cfg = stack.config
        self.tcp = tcp
        self.stack = stack
        self.state = CLOSED
        self.local_ip, self.local_port = local_ip, local_port
        self.remote_ip, self.remote_port = remote_ip, remote_port
        #: over IPv6 (the addresses are IPv6Address; keys are offset by 2**128 so they never meet IPv4 ones)
        self.v6 = remote_ip.version == 6
        self.key = conn_key(local_ip, local_port, remote_ip, remote_port)
        self._local_packed, self._remote_packed = local_ip.packed, remote_ip.packed
        self.ttl = cfg.ip_default_ttl  # IP_TTL
        self.tos = 0  # IP_TOS
        # the pseudo-header's partial sum without its length field (RFC 9293 3.1); add the segment length to it
        self._pseudo_base = (pseudo_sum_v6 if self.v6 else pseudo_sum_v4)(local_ip.packed, remote_ip.packed,
                                                                          PROTO_TCP, 0)
        self.listener: TcpListener | None = None
        self.on_event: Callable[[TcpPcb], None] | None = None
        self.error = 0
        self.nodelay = False
        self._keepalive = False
        self.keep_idle = cfg.tcp_keepidle / 1000.0
        self.keep_intvl = cfg.tcp_keepintvl / 1000.0
        self.keep_cnt = cfg.tcp_keepcnt
        # path: the route is looked up again only when the route table changed (``_route``)
        self._route_gen = -1
        self._netif: Netif | None = None
        self._next_hop = remote_ip if isinstance(remote_ip, IPv4Address) else IPv4Address(0)  # IPv4's
        self._via6: tuple[Netif, bytes] | None = None  # IPv6's (netif, next hop), kept as long as _route_gen
        self._neighbour = False  # the next hop is a unicast neighbour: only ARP between us and the link
        self._offload = False  # the netif finishes our checksums (and, with _gso_max, cuts our super-segments)
        self._gso_max = 0
        self._route()
        if self.v6:
            mtu = self._netif.mtu6 if self._netif is not None else 1280
            self.mss = min(cfg.tcp_mss, mtu - 60)  # 40 bytes of IPv6 header, 20 of TCP
        else:
            mtu = self._netif.mtu if self._netif is not None else 1500
            self.mss = min(cfg.tcp_mss, mtu - 40)  # what we advertise and the most we send
        self.snd_mss = min(536, self.mss)  # until the peer says (RFC 9293 3.7.1)
        # send side
        self.iss = 0
        self.snd_una = self.snd_nxt = self.snd_max = self.buf_seq = 0
        self.snd_wnd = 0
        self.max_snd_wnd = 0
        self.snd_wl1 = self.snd_wl2 = 0
        self.snd_buf = bytearray()
        self.snd_buf_limit = cfg.tcp_snd_buf_default
        self.fin_seq: int | None = None
        self.snd_wscale = 0
        # receive side
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_buf = bytearray()
        self.rcv_buf_limit = cfg.tcp_wnd_default
        self.rcv_held = 0  # bytes taken by recv(reopen=False) and not yet given back by recved(): still not free
        self.rcv_adv = 0
        self.rcv_wscale = 0
        wnd = self.rcv_buf_limit
        while wnd > 0xFFFF and self.rcv_wscale < 14:
            wnd >>= 1
            self.rcv_wscale += 1
        self.ooseq: dict[int, bytes] = {}
        self.ooseq_fin: int | None = None  # where a FIN that arrived out of order sits
        self.ooseq_latest: int | None = None  # the newest out-of-order arrival: its SACK block goes first
        self.fin_received = False
        self.rx_closed = False  # the user closed: data arriving now is answered with RST
        self.tx_closed = False
        self.ts_ok = False
        self.ts_recent = 0
        self.last_ack_sent = 0  # RFC 7323 4.3: TS.Recent is taken only from a segment covering this
        self.sack_ok = False
        self.wscale_ok = False
        # timing (RFC 6298)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = cfg.tcp_rto_time / 1000.0
        self.rtt_seq: int | None = None
        self.rtt_start = 0.0
        self.retries = 0
        self.rto_at: float | None = None
        self.persist_at: float | None = None
        self.persist_backoff = 0
        self.persist_probes = 0  # probes not answered yet
        self.delack_at: float | None = None
        self.unacked_segments = 0
        self.keep_at: float | None = None
        self.keep_probes = 0
        self.close_at: float | None = None  # SYN_RCVD (tcp_syn_rcvd_timeout), FIN_WAIT_2 and TIME_WAIT
        self.txretry_at: float | None = None  # a device refused a segment: try again then (or on the next ACK)
        self.last_oow_ack: float | None = None  # when we last answered an unacceptable segment (the rate limit)
        self.last_activity = stack.now
        # congestion (RFC 5681, RFC 6582)
        self.cwnd = 0
        self.ssthresh = 0x7FFFFFFF
        self.dupacks = 0
        self.recover: int | None = None
        # RFC 6582 4.1: after a timeout, snd_max then; duplicate ACKs below it answer data sent twice, not a new loss
        self.rto_recover: int | None = None
        self.sacked: list[list[int]] = []  # [left, right) ranges the peer holds above snd_una, merged, in order
        self.rexmit_high: int | None = None  # in SACK recovery: the end of what was already sent again

    # ---------------------------------------------------------------------------------------------------- user API
    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    @property
    def keepalive(self) -> bool:
        """``SO_KEEPALIVE``: probe an idle connection after ``keep_idle`` seconds (set at any time)."""
        return self._keepalive

    @keepalive.setter
    def keepalive(self, on: bool) -> None:
        self._keepalive = on
        if self.state in _SYNCHRONIZED:
            self._arm_keepalive()

    @property
    def seg_size(self) -> int:
        """The most data a segment carries: the MSS less our options (RFC 6691: the MSS counts no options), and
        less room for SACK blocks while out-of-order data waits (they ride on data segments too)."""
        size = self.snd_mss - 12 if self.ts_ok else self.snd_mss
        if self.ooseq and self.sack_ok:
            size -= 28 if self.ts_ok else 36  # NOP, NOP, SACK with 3 blocks (4 without timestamps)
        return size

    @property
    def readable(self) -> int:
        """Bytes waiting to be read."""
        return len(self.rcv_buf)

    @property
    def at_eof(self) -> bool:
        """The peer closed its side and every byte it sent has been read."""
        return self.fin_received and not self.rcv_buf

    @property
    def send_space(self) -> int:
        """Bytes :meth:`send` would take now (``tcp_sndbuf``)."""
        if self.state not in _CAN_SEND and self.state not in (SYN_SENT, SYN_RCVD) or self.tx_closed:
            return 0
        return max(0, self.snd_buf_limit - len(self.snd_buf))

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """``tcp_write`` + ``tcp_output``: queue as much of ``data`` as fits and send what the windows allow.
        Returns the bytes taken (0 when the buffer is full: wait for ``on_event``)."""
        self.stack.assert_core()
        if self.error:
            raise LwipError(self.error, "the connection failed")
        if self.tx_closed or self.state not in _CAN_SEND and self.state not in (SYN_SENT, SYN_RCVD):
            raise LwipError(errno.ENOTCONN if self.state in (CLOSED, SYN_SENT) and not self.tx_closed
                            else errno.EPIPE, f"cannot send in {self.state_name}")
        n = min(len(data), self.snd_buf_limit - len(self.snd_buf))
        if n <= 0:
            return 0
        self.snd_buf += data[:n] if n < len(data) else data
        if self.state in _CAN_SEND:
            self._output()
        return n

    def recv(self, max_bytes: int = 1 << 30, reopen: bool = True) -> bytes:
        """Take up to ``max_bytes`` received bytes.  With ``reopen`` the window opens again at once (``tcp_recved``
        implied); without it the bytes still count against the window until :meth:`recved` gives them back, as lwIP's
        netconn does while data waits in a receive mailbox for the application."""
        self.stack.assert_core()
        n = min(max_bytes, len(self.rcv_buf))
        if n == 0:
            if self.error:
                raise LwipError(self.error, "the connection failed")
            return b""
        out = bytes(self.rcv_buf[:n])
        del self.rcv_buf[:n]
        if reopen:
            self._window_update()
        else:
            self.rcv_held += n
        return out

    def recved(self, n: int) -> None:
        """``tcp_recved``: the application consumed ``n`` bytes taken with ``recv(reopen=False)``; the window may open."""
        self.stack.assert_core()
        self.rcv_held = max(0, self.rcv_held - n)
        self._window_update()

    def shutdown(self, read: bool = False, write: bool = True) -> None:
        """``tcp_shutdown``: stop receiving and/or sending (a FIN follows the data already queued)."""
        self.stack.assert_core()
        if read:
            self.rx_closed = True
            self.rcv_buf.clear()
        if write and not self.tx_closed and self.state not in (CLOSED, LISTEN, TIME_WAIT):
            self.tx_closed = True
            if self.state == SYN_SENT:
                self._free()
                return
            self._queue_fin()

    def close(self) -> None:
        """``tcp_close``: close both directions.  Unread data makes it an abort (RST), as lwIP does."""
        self.stack.assert_core()
        if self.state == CLOSED:
            self._free()
            return
        if (self.rcv_buf or self.rcv_held) and self.state in _SYNCHRONIZED:  # unread, here or in a mailbox
            self.abort()
            return
        self.rx_closed = True
        if self.state == SYN_SENT:
            self._free()
            return
        if not self.tx_closed:
            self.tx_closed = True
            self._queue_fin()
        if self.state == FIN_WAIT_2:
            self._arm_fin_wait_2()

    def abort(self) -> None:
        """``tcp_abort``: send RST (when synchronized) and free the pcb at once."""
        self.stack.assert_core()
        if self.state in _SYNCHRONIZED or self.state == SYN_RCVD:
            self._send_segment(self.snd_max, RST | ACK, b"")
        self.error = self.error or errno.ECONNABORTED
        self._free()

    # ---------------------------------------------------------------------------------------------------- opening
    def _open_active(self, isn: int) -> None:
        self.iss = isn
        self.snd_una = isn
        self.snd_nxt = self.snd_max = self.buf_seq = (isn + 1) & MASK
        self.state = SYN_SENT
        self._send_syn()

    def _open_passive(self, isn: int, hdr: TcpHeader) -> None:
        self.irs = hdr.seq
        self.rcv_nxt = (hdr.seq + 1) & MASK
        self._take_syn_options(hdr)
        self.iss = isn
        self.snd_una = isn
        self.snd_nxt = self.snd_max = self.buf_seq = (isn + 1) & MASK
        self.snd_wnd = hdr.window  # never scaled in a SYN (RFC 7323 2.2)
        self.snd_wl1, self.snd_wl2 = hdr.seq, isn
        self.rcv_adv = self.rcv_nxt
        self.state = SYN_RCVD
        self._arm_syn_rcvd()
        self._send_syn()

    def _take_syn_options(self, hdr: TcpHeader) -> None:
        opts = hdr.options
        if opts is None:
            return
        if opts.mss is not None:
            self.snd_mss = max(64, min(self.mss, opts.mss))
        self.wscale_ok = opts.wscale is not None
        self.snd_wscale = min(opts.wscale, 14) if opts.wscale is not None else 0
        if not self.wscale_ok:
            self.rcv_wscale = 0
            self.rcv_buf_limit = min(self.rcv_buf_limit, 0xFFFF)
        self.sack_ok = opts.sack_permitted
        if opts.timestamp is not None:
            self.ts_ok = True
            self.ts_recent = opts.timestamp[0]

    def _syn_options(self) -> TcpOptions:
        opts = TcpOptions(mss=self.mss)
        passive = self.state == SYN_RCVD
        if not passive or self.wscale_ok:
            opts.wscale = self.rcv_wscale
        if not passive or self.sack_ok:
            opts.sack_permitted = True
        if not passive or self.ts_ok:
            opts.timestamp = (self._ts_now(), self.ts_recent if passive else 0)
        return opts

    def _send_syn(self) -> None:
        flags = SYN | ACK if self.state == SYN_RCVD else SYN
        self._send_segment(self.iss, flags, b"", self._syn_options())
        self._arm_rto()

    def _established(self) -> None:
        self.state = ESTABLISHED
        self.close_at = None  # the SYN_RCVD timeout
        self.cwnd = min(4 * self.snd_mss, max(2 * self.snd_mss, 4380))  # RFC 3390, as lwIP
        self.ssthresh = max(self.snd_wnd, 2 * self.snd_mss) if self.snd_wnd else 0x7FFFFFFF
        self.retries = 0
        self._arm_keepalive()

    # ---------------------------------------------------------------------------------------------------- input
    def input(self, hdr: TcpHeader, payload: memoryview) -> None:
        """A segment for this connection (RFC 9293 3.10.7)."""
        self.last_activity = self.stack.now
        if self.state == SYN_SENT:
            self._input_syn_sent(hdr, payload)
            return
        flags = hdr.flags
        seq = hdr.seq
        if self.state == SYN_RCVD:
            self._arm_syn_rcvd()  # lwIP's pcb->tmr: the timeout counts from the last segment heard
            if flags & SYN and not flags & (ACK | RST) and seq == self.irs:
                self._send_syn()  # the peer sent its SYN again: our SYN-ACK was lost
                return
        seg_len = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if self.ts_ok and hdr.options is not None and hdr.options.timestamp is not None and not flags & RST:
            # RFC 7323 5.3 (PAWS): a timestamp older than the last one in order is an old duplicate
            tsval = hdr.options.timestamp[0]
            if (tsval - self.ts_recent) & MASK >= _HALF:
                self._send_oow_ack()
                return
        # 1. is the segment acceptable?
        wnd = self._rcv_window()
        rcv_nxt = self.rcv_nxt
        if seg_len == 0:
            ok = seq == rcv_nxt if wnd == 0 else (seq - rcv_nxt) & MASK < wnd
        else:
            ok = wnd > 0 and ((seq - rcv_nxt) & MASK < wnd or (seq + seg_len - 1 - rcv_nxt) & MASK < wnd)
        if not ok and not (flags & RST):
            if self.state == TIME_WAIT and flags & FIN:
                self._arm_time_wait()  # the peer retransmitted its FIN: our ACK was lost
            end = (seq + seg_len) & MASK
            if seg_len and _le(self.last_ack_sent, end) and _le(end, rcv_nxt):
                # a retransmission of data our last ACK did not cover (that ACK was lost): answer at once, as Linux
                # does for segments ending at or after rcv_wup
                self._send_ack()
            else:
                self._send_oow_ack()
            return
        if self.ts_ok and hdr.options is not None and hdr.options.timestamp is not None \
                and _le(seq, self.last_ack_sent):
            self.ts_recent = hdr.options.timestamp[0]  # RFC 7323 4.3: the echo tells the sender its RTT
        # 2. RST, checked by sequence number (RFC 5961 3.2); ignored in TIME_WAIT, as lwIP (RFC 1337)
        if flags & RST:
            if not ok or self.state == TIME_WAIT:
                return
            if seq != rcv_nxt:
                self._challenge_ack()
                return
            self._reset_received()
            return
        # 3. SYN in a synchronized state: RFC 5961 4.2 answers with a challenge ACK
        if flags & SYN:
            self._challenge_ack()
            return
        # 4. ACK
        if not flags & ACK:
            return
        if self.state == SYN_RCVD:
            if _lt(self.snd_una, hdr.ack) and _le(hdr.ack, self.snd_max):
                self.snd_wnd = hdr.window << self.snd_wscale
                self.max_snd_wnd = self.snd_wnd
                self.snd_wl1, self.snd_wl2 = seq, hdr.ack
                self._established()
                if self.listener is not None:
                    listener, self.listener = self.listener, None  # before the user's callback can abort us
                    listener._child_established(self)
            else:
                self._send_segment(hdr.ack, RST, b"")
                return
        if not self._process_ack(hdr, seg_len):
            return
        if self.state == CLOSED:
            return
        # 5. data, then 6. FIN
        if payload and self.state in _CAN_RECEIVE:
            if self.rx_closed:
                self.error = errno.ECONNRESET
                self.abort()  # lwIP: data for a pcb the user closed gets a RST
                return
            self._receive_data(seq, payload, bool(flags & FIN))
        elif flags & FIN:
            self._receive_data(seq, payload[:0], True)
        elif self.delack_at is None and self.unacked_segments:
            self._arm_delack()

    def _input_syn_sent(self, hdr: TcpHeader, payload: memoryview) -> None:
        flags = hdr.flags
        if flags & ACK and not (_lt(self.iss, hdr.ack) and _le(hdr.ack, self.snd_max)):
            if not flags & RST:
                self._send_segment(hdr.ack, RST, b"")
            return
        if flags & RST:
            if flags & ACK:
                self._fail(errno.ECONNREFUSED)
            return
        if not flags & SYN:
            return
        self.irs = hdr.seq
        self.rcv_nxt = (hdr.seq + 1) & MASK
        self.rcv_adv = self.rcv_nxt
        self._take_syn_options(hdr)
        if flags & ACK:
            self.snd_una = hdr.ack
            self.snd_wnd = hdr.window  # never scaled in a SYN (RFC 7323 2.2)
            self.max_snd_wnd = self.snd_wnd
            self.snd_wl1, self.snd_wl2 = hdr.seq, hdr.ack
            self._rtt_sample_syn(hdr)
            self.rto_at = None
            self._established()
            self._send_ack()
            self._notify()
            self._output()
        else:  # simultaneous open (RFC 9293 3.5)
            self.state = SYN_RCVD
            self._arm_syn_rcvd()
            self.snd_wnd = hdr.window
            self._send_segment(self.iss, SYN | ACK, b"", self._syn_options())
            self._arm_rto()

    def _process_ack(self, hdr: TcpHeader, seg_len: int) -> bool:
        """ACK processing; False when the segment is to be dropped."""
        ack = hdr.ack
        una = self.snd_una
        if _lt(self.snd_max, ack):
            self._send_oow_ack()  # acknowledges something never sent
            return False
        if _lt(ack, una) and (una - ack) & MASK > max(self.max_snd_wnd, 1):
            self._challenge_ack()  # RFC 5961 5.2: far below SND.UNA: blind injection
            return False
        window = hdr.window << self.snd_wscale
        acked = (ack - una) & MASK if _lt(una, ack) else 0
        duplicate = not acked and ack == una and seg_len == 0 and window == self.snd_wnd and self.snd_max != una
        self.persist_probes = 0  # the peer answers: a persisting connection lives on (RFC 1122 4.2.2.17)
        if self.sack_ok and hdr.options is not None and hdr.options.sack_blocks:
            self._take_sack(hdr.options.sack_blocks, ack)
        # the window first (RFC 9293 3.10.7.4), so that what the ACK lets us send sees the peer's current window
        opened = False
        if _lt(self.snd_wl1, hdr.seq) or (self.snd_wl1 == hdr.seq and _le(self.snd_wl2, ack)):
            opened = window > self.snd_wnd
            self.snd_wnd = window
            self.max_snd_wnd = max(self.max_snd_wnd, window)
            self.snd_wl1, self.snd_wl2 = hdr.seq, ack
            if window and self.persist_at is not None:
                self.persist_at = None
                self.persist_backoff = 0
        if acked:
            self._ack_advanced(hdr, ack, acked)  # sends what may go now
        elif duplicate:
            self._duplicate_ack()
        elif opened:
            self._output()
        if self.rto_at is None and self.persist_at is None and self.snd_una == self.snd_max \
                and len(self.snd_buf) > ((self.snd_max - self.buf_seq) & MASK) and self.state != CLOSED:
            self._output()  # data waits and no timer runs (a window update was lost): send, or arm the override
        if self.state != CLOSED:
            self._schedule()  # deadlines cleared above (everything acknowledged, persist over) leave the heap too
        if self.recover is None and self.sacked and self.snd_una != self.snd_max and self.state != CLOSED:
            # RFC 6675 IsLost: three segments' worth SACKed above snd_una means the first hole is lost, even when
            # the ACKs carried data (two-way traffic) and so never counted as duplicates
            held = sum((right - left) & MASK for left, right in self.sacked)
            if held >= self._dupthresh() * self.seg_size:
                self._enter_recovery()
        # our FIN acknowledged?
        fin_acked = self.fin_seq is not None and ack == ((self.fin_seq + 1) & MASK)
        if fin_acked:
            if self.state == FIN_WAIT_1:
                self.state = FIN_WAIT_2
                if self.rx_closed:
                    self._arm_fin_wait_2()
                self._notify()  # everything we sent is acknowledged (a lingering close waits for this)
            elif self.state == CLOSING:
                self._enter_time_wait()
                return False
            elif self.state == LAST_ACK:
                self._free()
                return False
        return True

    def _ack_advanced(self, hdr: TcpHeader, ack: int, acked: int) -> None:
        data_acked = acked
        if self.fin_seq is not None and _le((self.fin_seq + 1) & MASK, ack):
            data_acked -= 1
        if self.buf_seq != self.snd_una and not _lt(self.buf_seq, ack):  # the SYN was part of it
            data_acked = max(0, data_acked - 1)
        if data_acked > 0:
            del self.snd_buf[:data_acked]
            self.buf_seq = (self.buf_seq + data_acked) & MASK
        self.snd_una = ack
        if _lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        if self.rto_recover is not None and _le(self.rto_recover, ack):  # all sent twice is acked
            self.rto_recover = None
        if self.sacked:
            self._prune_sacked()
        self.retries = 0
        self._rtt_sample(hdr, ack)
        mss = self.snd_mss
        if self.recover is not None:
            if _le(self.recover, ack):  # full ACK: recovery is over (RFC 6582 3.2 step 3)
                self.cwnd = min(self.ssthresh, max((self.snd_max - ack) & MASK, mss) + mss)
                self.recover = None
                self.rexmit_high = None
            else:  # partial ACK: the next hole is lost too
                self._retransmit_one()
                self.cwnd = max(self.cwnd - acked + mss, mss)
        elif self.cwnd < self.ssthresh:
            # slow start (RFC 5681 3.1) with appropriate byte counting, L = 2 SMSS (RFC 3465 2.3): a stretch ACK
            # (a receiver coalescing, or acking a super-segment) counts for more than one segment
            self.cwnd += min(acked, 2 * mss)
        else:
            self.cwnd += max(1, mss * min(acked, self.cwnd) // self.cwnd)  # congestion avoidance, bytes counted
        self.dupacks = 0
        if self.snd_una == self.snd_max:
            self.rto_at = None
        else:
            self._arm_rto()
        if self.send_space and self.on_event is not None:
            self._notify()
        self._output()

    def _duplicate_ack(self) -> None:
        self.dupacks += 1
        mss = self.snd_mss
        if self.recover is not None:
            self.cwnd += mss  # inflate for each segment that left the network (RFC 5681 3.2 step 4)
            if self.sacked:
                self._retransmit_next_hole()  # RFC 6675 in spirit: each ACK lets one more hole be filled
            self._output()
        elif self.dupacks >= self._dupthresh():
            if self.rto_recover is not None and not _lt(self.rto_recover, self.snd_una):
                return  # RFC 6582 3.2 step 1: the ACK does not cover more than recover: no fast retransmit
            self._enter_recovery()
        elif self.dupacks <= 2:
            self._output(limited=self.dupacks)  # RFC 3042 limited transmit: new data keeps the ACK clock going

    def _dupthresh(self) -> int:
        """Three, or fewer when less than four segments are out and nothing new can go (RFC 5827 early
        retransmit): a small flight cannot produce three duplicate ACKs."""
        flight = (self.snd_max - self.snd_una) & MASK
        segments = -(-flight // max(1, self.seg_size))
        unsent = len(self.snd_buf) - ((self.snd_max - self.buf_seq) & MASK)
        if segments < 4 and unsent <= 0:
            return max(1, segments - 1)
        return 3

    def _enter_recovery(self) -> None:
        """Fast retransmit (RFC 5681 3.2): halve, send the first hole again, and recover until ``recover``."""
        mss = self.snd_mss
        flight = (self.snd_max - self.snd_una) & MASK
        self.ssthresh = max(flight // 2, 2 * mss)
        self.recover = self.snd_max
        self.rexmit_high = self.snd_una
        self._retransmit_one()
        self.cwnd = self.ssthresh + 3 * mss

    def _take_sack(self, blocks: tuple[tuple[int, int], ...], ack: int) -> None:
        """Record the peer's SACK blocks (RFC 2018) that lie between the ACK and what we sent."""
        una = ack if _lt(self.snd_una, ack) else self.snd_una
        top = self.snd_max
        for left, right in blocks:
            if not (_lt(left, right) and _lt(una, right) and _le(right, top)):
                continue  # a D-SACK, a stale or a bogus block
            if _lt(left, una):
                left = una
            self.sacked.append([left, right])
        self.sacked.sort(key=lambda r: (r[0] - una) & MASK)
        merged: list[list[int]] = []
        for left, right in self.sacked:
            if merged and _le(left, merged[-1][1]):
                if _lt(merged[-1][1], right):
                    merged[-1][1] = right
            else:
                merged.append([left, right])
        self.sacked = merged

    def _prune_sacked(self) -> None:
        una = self.snd_una
        kept = []
        for left, right in self.sacked:
            if _le(right, una):
                continue
            kept.append([una if _lt(left, una) else left, right])
        self.sacked = kept

    def _retransmit_next_hole(self) -> None:
        """Send the first un-SACKed segment above what this recovery already sent again, below ``recover``."""
        start = self.rexmit_high if self.rexmit_high is not None and _lt(self.snd_una, self.rexmit_high) \
            else self.snd_una
        for left, right in self.sacked:
            if _le(left, start) and _lt(start, right):
                start = right  # inside a SACKed range: the hole starts after it
        if self.recover is None or not _lt(start, self.recover):
            return
        end = (start + self.seg_size) & MASK
        for left, _right in self.sacked:
            if _lt(start, left) and _lt(left, end):
                end = left
        if self._retransmit_range(start, (end - start) & MASK):
            self.rexmit_high = end

    def _rtt_sample(self, hdr: TcpHeader, ack: int) -> None:
        now = self.stack.now
        sample: float | None = None
        if self.ts_ok and hdr.options is not None and hdr.options.timestamp is not None and hdr.options.timestamp[1]:
            sample = ((self._ts_now() - hdr.options.timestamp[1]) & MASK) / 1000.0
        elif self.rtt_seq is not None and _lt(self.rtt_seq, ack):
            sample = now - self.rtt_start
        if self.rtt_seq is not None and _lt(self.rtt_seq, ack):
            self.rtt_seq = None
        if sample is not None and 0 <= sample < 120:
            self._update_rto(sample)

    def _rtt_sample_syn(self, hdr: TcpHeader) -> None:
        if self.retries == 0:  # Karn: never time a retransmitted SYN
            self._update_rto(max(0.0, self.stack.now - self.rtt_start))

    def _update_rto(self, r: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = min(RTO_MAX, max(RTO_MIN, self.srtt + max(0.001, 4 * self.rttvar)))

    def _receive_data(self, seq: int, data: memoryview, fin: bool) -> None:
        rcv_nxt = self.rcv_nxt
        skip = (rcv_nxt - seq) & MASK
        if skip and skip < _HALF:  # starts before rcv_nxt: drop what we have (RFC 9293 3.10.7.4)
            if skip >= len(data) + (1 if fin else 0):
                self._send_ack()
                return
            data = data[skip:]
            seq = rcv_nxt
        space = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        if seq == rcv_nxt:
            trimmed = len(data) > space
            if trimmed:
                data, fin = data[:space], False  # beyond the window: trimmed, the FIN with it
            if data:
                self.rcv_buf += data
                self.rcv_nxt = (rcv_nxt + len(data)) & MASK
            if fin:
                self._fin_received()
            filled = self._drain_ooseq() if self.ooseq else False
            if fin or self.fin_received:
                pass  # _fin_received acknowledged it already
            else:
                self.unacked_segments += 1
                if filled or trimmed or self.unacked_segments >= 2:
                    self._send_ack()
                else:
                    self._arm_delack()
            if data or fin:
                self._notify()
            return
        # out of order: keep it (bounded) and tell the peer at once where the hole is
        if self.stack.config.tcp_queue_ooseq and data:
            limit = self.stack.config.tcp_ooseq_max_pbufs
            if seq not in self.ooseq and (not limit or len(self.ooseq) < limit) \
                    and ((seq - rcv_nxt) & MASK) + len(data) <= space:
                self.ooseq[seq] = bytes(data)
                self.ooseq_latest = seq
                if fin:
                    self.ooseq_fin = (seq + len(data)) & MASK
        self._send_ack()

    def _sack_blocks(self, most: int) -> tuple[tuple[int, int], ...]:
        """RFC 2018 4: the out-of-order data held, as merged (left, right) blocks, the newest arrival's first."""
        rcv_nxt = self.rcv_nxt
        spans = sorted(((seq - rcv_nxt) & MASK, (seq - rcv_nxt + len(d)) & MASK) for seq, d in self.ooseq.items())
        merged: list[list[int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        blocks = [((lo + rcv_nxt) & MASK, (hi + rcv_nxt) & MASK) for lo, hi in merged]
        latest = self.ooseq_latest
        if latest is not None:
            rel = (latest - rcv_nxt) & MASK
            for i, (lo, hi) in enumerate(merged):
                if lo <= rel < hi:
                    blocks.insert(0, blocks.pop(i))
                    break
        return tuple(blocks[:most])

    def _drain_ooseq(self) -> bool:
        moved = False
        while True:
            nxt = self.rcv_nxt
            hit = None
            for seq, data in self.ooseq.items():
                end = (seq + len(data)) & MASK
                if _le(seq, nxt) and _lt(nxt, end):
                    hit = seq
                    break
                if _le(end, nxt):  # wholly old now
                    hit = seq
                    break
            if hit is None:
                break
            data = self.ooseq.pop(hit)
            off = (nxt - hit) & MASK
            if off < len(data):
                chunk = data[off:][: self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held]
                self.rcv_buf += chunk
                self.rcv_nxt = (nxt + len(chunk)) & MASK
                moved = True
        fin_at = self.ooseq_fin
        if fin_at is not None and fin_at == self.rcv_nxt and not self.fin_received:
            self._fin_received()
        return moved

    def _fin_received(self) -> None:
        self.fin_received = True
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        self.ooseq.clear()
        if self.state == ESTABLISHED:
            self.state = CLOSE_WAIT
        elif self.state == FIN_WAIT_1:
            if self.fin_seq is not None and self.snd_una == ((self.fin_seq + 1) & MASK):
                self._enter_time_wait()
            else:
                self.state = CLOSING
        elif self.state == FIN_WAIT_2:
            self._enter_time_wait()
        self._send_ack()

    def _reset_received(self) -> None:
        if self.state == SYN_RCVD and self.listener is not None:
            self.listener.half_open.pop(self, None)
            self.listener = None
            self._free()
            return
        self._fail(errno.ECONNRESET if self.state not in (CLOSING, LAST_ACK, TIME_WAIT) else 0)

    # ---------------------------------------------------------------------------------------------------- output
    def _output(self, force: bool = False, limited: int = 0) -> None:
        """``tcp_output``: send what the send buffer, the peer's window and the congestion window allow.  With
        ``force`` the first segment goes whatever Nagle, silly window avoidance and cwnd say (a retransmission
        timeout, the small-window override timer), within the peer's window."""
        if self.state not in _CAN_SEND and self.state not in (FIN_WAIT_1, CLOSING, LAST_ACK):
            return
        mss = self.seg_size
        if self.stack.routes.generation != self._route_gen:
            self._route()
        # with TSO a segment may carry many MSS worth, cut by the device; Nagle and SWS still think in MSS
        burst = max(mss, self._gso_max // mss * mss) if self._gso_max else mss
        sent_any = refused = False
        while True:
            nxt = self.snd_nxt
            offset = (nxt - self.buf_seq) & MASK
            if offset >= _HALF:
                offset = 0
            avail = len(self.snd_buf) - offset
            flight = (nxt - self.snd_una) & MASK
            usable = min(self.snd_wnd, self.cwnd + limited * mss) - flight
            fin_due = self.fin_seq is not None and avail <= 0 and nxt == self.fin_seq
            if avail <= 0 and not fin_due:
                break
            if avail > 0:
                # forcing passes over Nagle, SWS and cwnd, never over the peer's window (a zero one means persist)
                n = min(avail, burst, self.snd_wnd) if force else min(avail, burst, usable)
                if mss < n < avail:
                    n -= n % mss  # a super-segment ends on a segment boundary unless it ends the data
                if n <= 0:
                    if flight == 0 and self.persist_at is None:
                        self._arm_persist()
                    break
                last = n == avail
                # Nagle (RFC 9293 3.7.4) and sender SWS avoidance (RFC 1122 4.2.3.4): a partial segment goes when
                # it is the last data and nothing (or nodelay) holds it, or when it fills half the peer's window
                if n < mss and not force and not (last and (self.nodelay or flight == 0 or self.fin_seq is not None)) \
                        and n < self.max_snd_wnd // 2:
                    if flight == 0 and self.persist_at is None:
                        self._arm_persist()  # the override timer: nothing in flight would ever change our mind
                    break
                force = False
                with_fin = last and self.fin_seq is not None and ((nxt + n) & MASK) == self.fin_seq
                payload = memoryview(self.snd_buf)[offset:offset + n]
                flags = ACK | (PSH if last else 0) | (FIN if with_fin else 0)
                sent = self._send_segment(nxt, flags, payload, gso=mss if n > mss else 0)
                payload.release()
                adv = n + (1 if with_fin else 0)
            else:
                sent = self._send_segment(nxt, FIN | ACK, b"")
                adv = 1
            if not sent:
                refused = True
                break
            if self.rtt_seq is None and nxt == self.snd_max:  # time one new segment per flight (Karn)
                self.rtt_seq, self.rtt_start = nxt, self.stack.now
            nxt = (nxt + adv) & MASK
            self.snd_nxt = nxt
            if _lt(self.snd_max, nxt):
                self.snd_max = nxt
            sent_any = True
        if refused:
            self._tx_refused()
        elif self.txretry_at is not None:
            self.txretry_at = None  # everything that could go went: no retry pending
            self.tcp.tx_refused.discard(self)
        if sent_any and self.rto_at is None:
            self._arm_rto()

    def _tx_refused(self) -> None:
        """The device (or the ARP queue) refused a segment: it stays unsent (``snd_nxt`` not advanced), as lwIP's
        ``tcp_output`` keeps it on ``unsent`` with TF_NAGLEMEMERR, and goes with the next ACK, the next write,
        :meth:`Tcp.txnow`, or after ``TX_RETRY`` seconds.  The retransmission timer runs meanwhile (lwIP starts
        ``rtime`` before the output fails), so a device that never takes it ends the connection as a loss would."""
        self.stack.stats.tcp.tx_refused += 1
        self.tcp.tx_refused.add(self)
        self.txretry_at = self.stack.now + TX_RETRY
        if self.rto_at is None and self.persist_at is None:
            self.rto_at = self.stack.now + self.rto
        self._schedule()

    def _retransmit_one(self) -> None:
        """Send the first unacknowledged segment again (fast retransmit, partial ACK)."""
        una = self.snd_una
        limit = self.seg_size
        for left, _right in self.sacked:
            if _lt(una, left):
                limit = min(limit, (left - una) & MASK)
                break
        self._retransmit_range(una, limit)
        if self.rexmit_high is None or _lt(self.rexmit_high, (una + limit) & MASK):
            self.rexmit_high = (una + limit) & MASK
        self._arm_rto()

    def _retransmit_range(self, seq: int, length: int) -> bool:
        """Send ``length`` bytes from ``seq`` again (the FIN with them when they reach it)."""
        offset = (seq - self.buf_seq) & MASK
        if offset >= _HALF:
            offset = 0
        n = min(len(self.snd_buf) - offset, length)
        sent = False
        if n > 0:
            with_fin = self.fin_seq is not None and ((seq + n) & MASK) == self.fin_seq
            payload = memoryview(self.snd_buf)[offset:offset + n]
            self._send_segment(seq, ACK | (FIN if with_fin else 0), payload)
            payload.release()
            sent = True
        elif self.fin_seq is not None and seq == self.fin_seq:
            self._send_segment(seq, FIN | ACK, b"")
            sent = True
        if sent and self.rtt_seq is not None and _le(seq, self.rtt_seq):
            self.rtt_seq = None  # Karn: the timed segment was retransmitted
        return sent

    def _queue_fin(self) -> None:
        self.fin_seq = (self.buf_seq + len(self.snd_buf)) & MASK
        if self.state in (ESTABLISHED, SYN_RCVD):
            self.state = FIN_WAIT_1
        elif self.state == CLOSE_WAIT:
            self.state = LAST_ACK
        self._output()

    def _send_ack(self) -> None:
        self.delack_at = None
        self.unacked_segments = 0
        # at snd_max, not snd_nxt: after a timeout snd_nxt walks back over data the peer already has, and an ACK
        # numbered there would fall below its window and be dropped unread (RFC 9293 3.10.7.4)
        self._send_segment(self.snd_max, ACK, b"")

    def _oow_limited(self) -> bool:
        """Whether a reply to an unacceptable segment must be skipped: at most one per ``tcp_invalid_ratelimit`` ms
        on this connection, as Linux's ``tcp_oow_rate_limited``.  Without it one blind data segment injected into
        one end leaves two ends that disagree about the sequence space acknowledging each other for ever, each ACK
        unacceptable to the other."""
        limit = self.stack.config.tcp_invalid_ratelimit / 1000.0
        now = self.stack.now
        if limit and self.last_oow_ack is not None and now - self.last_oow_ack < limit:
            self.stack.stats.tcp.ack_skipped += 1
            return True
        self.last_oow_ack = now
        return False

    def _send_oow_ack(self) -> None:
        """An ACK in reply to an unacceptable segment (out of window, failing PAWS, acknowledging what was never
        sent), rate-limited (:meth:`_oow_limited`)."""
        if not self._oow_limited():
            self._send_ack()

    def _challenge_ack(self) -> None:
        """RFC 5961's challenge ACK (3.2, 4.2, 5.2), limited per connection as any reply to an unacceptable segment
        and across the stack to ``tcp_challenge_ack_limit`` a second (RFC 5961 7)."""
        stats = self.stack.stats.tcp
        stats.proterr += 1
        if self._oow_limited():
            return
        if not self.tcp.challenge_allowed():
            stats.ack_skipped += 1
            return
        self._send_ack()

    def _route(self) -> None:
        """Look up the netif and next hop for the peer, and what that netif offloads (not when it loops back)."""
        stack = self.stack
        self._route_gen = stack.routes.generation
        if self.v6:
            try:
                self._via6 = stack.ip6.route(self._remote_packed, src=self._local_packed)
                netif6 = self._netif = self._via6[0]
            except LwipError:
                self._netif, self._via6, self._offload, self._gso_max = None, None, False, 0
                return
            looped6 = netif6.is_loopback or stack.is_own_address6(self._remote_packed)
            self._offload = netif6.checksum_offload and not looped6  # the TAP says GSO_TCPV6 by the ethertype
            self._gso_max = min(netif6.gso_max_size, 0xFFFF) - 120 if self._offload and netif6.gso_max_size else 0
            return
        remote = self.remote_ip
        assert isinstance(remote, IPv4Address)
        found = stack.ip4.route_src(self.local_ip, remote)  # ESP-IDF's source-based routing
        if found is None:
            self._netif, self._offload, self._gso_max = None, False, 0
            return
        netif, next_hop = found
        self._netif, self._next_hop = netif, next_hop
        looped = stack.loops_back(netif, next_hop)
        self._neighbour = netif.is_ethernet and not (looped or is_multicast4(next_hop) or netif.is_broadcast4(next_hop))
        self._offload = netif.checksum_offload and not looped
        self._gso_max = min(netif.gso_max_size, 0xFFFF) - 120 if self._offload and netif.gso_max_size else 0

    def _send_segment(self, seq: int, flags: int, payload: bytes | memoryview, opts: TcpOptions | None = None,
                      gso: int = 0) -> bool:
        """Build and send one segment; False when the device or the ARP queue refused it (ENOMEM), so that the
        caller keeps it.  Any other failure (no route, netif down) loses it like the network would."""
        if opts is None and not flags & RST:
            if self.ts_ok:
                opts = TcpOptions(timestamp=(self._ts_now(), self.ts_recent))
            if self.sack_ok and self.ooseq and flags & ACK:  # seg_size left room for them
                opts = opts or TcpOptions()
                opts.sack_blocks = self._sack_blocks(3 if self.ts_ok else 4)
        window = self._window_bytes() if not flags & SYN else min(self._window_bytes(), 0xFFFF)
        if flags & ACK and not flags & SYN:
            self.rcv_adv = (self.rcv_nxt + window) & MASK
            window >>= self.rcv_wscale
        pbuf = Pbuf.with_payload(payload)
        offload = self._offload and self._route_gen == self.stack.routes.generation
        if opts is not None and opts.sack_blocks == () and opts.timestamp is not None and opts.mss is None \
                and opts.wscale is None and not opts.sack_permitted:
            # the common segment, timestamps only: packed straight into place, no header or option objects
            off = pbuf.push(32)
            buf = pbuf.buf
            _HDR_TS.pack_into(buf, off, self.local_port, self.remote_port, seq, self.rcv_nxt if flags & ACK else 0,
                              0x8000 | flags, min(window, 0xFFFF), 0, 0, 1, 1, 8, 10, opts.timestamp[0],
                              opts.timestamp[1])
            if offload:
                _CSUM.pack_into(buf, off + 16, fold(self._pseudo_base + 32 + len(payload)))  # the device finishes it
                pbuf.leave_checksum(off, 16, gso)
            else:
                csum = checksum(memoryview(buf)[off:], self._pseudo_base + 32 + len(payload))
                _CSUM.pack_into(buf, off + 16, csum)
        else:
            hdr = TcpHeader(self.local_port, self.remote_port, seq, self.rcv_nxt if flags & ACK else 0, flags,
                            min(window, 0xFFFF), options=opts)
            hlen = hdr.header_len
            off = pbuf.push(hlen)
            pseudo = self._pseudo_base + hlen + len(payload)
            hdr.emit(pbuf.buf, off, len(payload), None if offload else pseudo)
            if offload:
                _CSUM.pack_into(pbuf.buf, off + 16, fold(pseudo))
                pbuf.leave_checksum(off, 16, gso)
        stack = self.stack
        stats = stack.stats.tcp
        if stack.routes.generation != self._route_gen:
            self._route()
        try:
            if self._netif is None:
                stack.stats.ip.rterr += 1
                raise LwipError(errno.EHOSTUNREACH, f"no route to {self.remote_ip}")
            if self.v6:
                stack.ip6.output(pbuf, self._local_packed, self._remote_packed, PROTO_TCP, hop_limit=self.ttl,
                                 traffic_class=self.tos, via=self._via6)
            else:
                stack.ip4.output_routed(pbuf, self._netif, self._next_hop, self._local_packed, self._remote_packed,
                                        PROTO_TCP, self.ttl, self.tos, self._neighbour)
            stats.xmit += 1
        except LwipError as e:
            stats.err += 1
            if e.errno == errno.ENOMEM:
                return False
            # otherwise lost like any segment: the retransmission timer will send it again
        if flags & ACK:
            self.delack_at = None
            self.unacked_segments = 0
            self.last_ack_sent = self.rcv_nxt
        self._schedule()
        return True

    def _rcv_window(self) -> int:
        return max(self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held, (self.rcv_adv - self.rcv_nxt) & MASK
                   if _le(self.rcv_nxt, self.rcv_adv) else 0)

    def _window_bytes(self) -> int:
        """The window to offer: free space, never pulling back the right edge already offered, and opened only by
        a worthwhile amount (receiver SWS avoidance)."""
        free = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        offered = (self.rcv_adv - self.rcv_nxt) & MASK if _le(self.rcv_nxt, self.rcv_adv) else 0
        if free - offered < min(self.mss, self.rcv_buf_limit // 2):
            return offered  # also at zero: a closed window opens by a worthwhile amount or not at all
        return max(free, offered)

    def _window_update(self) -> None:
        """After the user read: tell the peer when the window opened by a worthwhile amount."""
        if self.state not in _CAN_RECEIVE:
            return
        offered = (self.rcv_adv - self.rcv_nxt) & MASK if _le(self.rcv_nxt, self.rcv_adv) else 0
        free = self.rcv_buf_limit - len(self.rcv_buf) - self.rcv_held
        if free - offered >= min(self.mss, self.rcv_buf_limit // 2):
            self._send_ack()

    def _ts_now(self) -> int:
        return int(self.stack.now * 1000) & MASK

    # ---------------------------------------------------------------------------------------------------- timers
    def _arm_rto(self) -> None:
        self.rto_at = self.stack.now + self.rto
        self._schedule()

    def _arm_persist(self) -> None:
        self.rto_at = None  # nothing is in flight while persisting: only one of the two timers runs
        self.persist_at = self.stack.now + min(RTO_MAX, max(RTO_MIN, self.rto) * (1 << min(self.persist_backoff, 7)))
        self._schedule()

    def _arm_delack(self) -> None:
        if self.delack_at is None:
            self.delack_at = self.stack.now + DELACK
            self._schedule()

    def _arm_keepalive(self) -> None:
        self.keep_at = self.stack.now + self.keep_idle if self.keepalive else None
        self._schedule()

    def _arm_syn_rcvd(self) -> None:
        self.close_at = self.stack.now + self.stack.config.tcp_syn_rcvd_timeout / 1000.0
        self._schedule()

    def _arm_fin_wait_2(self) -> None:
        self.close_at = self.stack.now + self.stack.config.tcp_fin_wait_timeout / 1000.0
        self._schedule()

    def _arm_time_wait(self) -> None:
        self.close_at = self.stack.now + 2 * self.stack.config.tcp_msl / 1000.0
        self._schedule()

    def _enter_time_wait(self) -> None:
        self.state = TIME_WAIT
        self.rto_at = self.persist_at = self.delack_at = self.keep_at = self.txretry_at = None
        self.tcp.tx_refused.discard(self)
        self.snd_buf.clear()
        self._arm_time_wait()
        self._notify()

    def next_deadline(self) -> float | None:
        best = None
        for t in (self.rto_at, self.persist_at, self.delack_at, self.keep_at, self.close_at, self.txretry_at):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def _schedule(self) -> None:
        if self.state != CLOSED:
            self.tcp.timers.set(self, self.next_deadline())

    def poll(self, now: float) -> None:
        """Handle the deadlines that are due (called by the TCP layer)."""
        if self.close_at is not None and now >= self.close_at:
            if self.state == SYN_RCVD:
                # lwIP's tcp_slowtmr drops a half-open pcb TCP_SYN_RCVD_TIMEOUT after it last heard from the peer,
                # long before the SYN-ACK retransmissions run out: spoofed SYNs free their backlog slots
                self.stack.stats.tcp.syn_rcvd_timeout += 1
                self.error = errno.ETIMEDOUT
            self._free()
            return
        if self.txretry_at is not None and now >= self.txretry_at:
            self.txretry_at = None
            self._output()
            if self.state == CLOSED:
                return
        if self.delack_at is not None and now >= self.delack_at:
            self._send_ack()
        if self.rto_at is not None and now >= self.rto_at:
            self._rto_fired()
            if self.state == CLOSED:
                return
        if self.persist_at is not None and now >= self.persist_at:
            self._persist_fired()
            if self.state == CLOSED:
                return
        if self.keep_at is not None and now >= self.keep_at:
            self._keepalive_fired(now)
            if self.state == CLOSED:
                return
        self._schedule()

    def _rto_fired(self) -> None:
        self.rto_at = None
        syn = self.state in (SYN_SENT, SYN_RCVD)
        if not syn and self.snd_una == self.snd_max and self.txretry_at is None:
            return  # nothing in flight nor refused by the device: a stale deadline, not a loss
        limit = self.stack.config.tcp_synmaxrtx if syn else self.stack.config.tcp_maxrtx
        if self.retries >= limit:
            self._fail(errno.ETIMEDOUT, send_rst=not syn)
            return
        self.retries += 1
        self.rto = min(RTO_MAX, self.rto * 2)  # RFC 6298 5.5
        self.rtt_seq = None
        self.stack.stats.tcp.rexmit += 1
        if syn:
            self._send_syn()
            return
        flight = (self.snd_max - self.snd_una) & MASK
        self.ssthresh = max(flight // 2, 2 * self.snd_mss)
        self.cwnd = self.snd_mss  # RFC 5681 3.1: one segment after a timeout
        self.recover = None
        self.rto_recover = self.snd_max
        self.sacked.clear()  # RFC 6675 5.1: after a timeout, SACK information is not trusted to skip data
        self.rexmit_high = None
        self.dupacks = 0
        self.snd_nxt = self.snd_una  # go back N
        self._output(force=True)  # the first segment goes whatever Nagle or the window say
        if self.rto_at is None and self.persist_at is None:
            self._arm_rto()

    def _persist_fired(self) -> None:
        self.persist_at = None
        if self.snd_wnd > 0 and self.snd_nxt == self.snd_una:
            self._output(force=True)  # a window smaller than a segment: the override timer sends what fits
            if self.snd_nxt != self.snd_una:
                return
        self.persist_backoff += 1
        self.persist_probes += 1
        if self.persist_probes > self.stack.config.tcp_maxrtx:
            self._fail(errno.ETIMEDOUT, send_rst=True)  # the peer stopped answering (RFC 1122 4.2.2.17)
            return
        # a zero window probe with an old sequence number and no data: the peer answers with its window
        self._send_segment((self.snd_una - 1) & MASK, ACK, b"")
        self._arm_persist()

    def _keepalive_fired(self, now: float) -> None:
        idle = now - self.last_activity
        if idle < self.keep_idle:
            self.keep_at = self.last_activity + self.keep_idle
            self.keep_probes = 0
            return
        if self.keep_probes >= self.keep_cnt:
            self._fail(errno.ETIMEDOUT, send_rst=True)
            return
        self.keep_probes += 1
        self._send_segment((self.snd_una - 1) & MASK, ACK, b"")  # a keepalive: an old sequence number, no data
        self.keep_at = now + self.keep_intvl

    # ---------------------------------------------------------------------------------------------------- endings
    def _fail(self, err: int, send_rst: bool = False) -> None:
        if send_rst:
            self._send_segment(self.snd_max, RST | ACK, b"")
        self.error = err
        self._free()

    def _free(self) -> None:
        if self.state == CLOSED and self.key not in self.tcp.conns:
            return
        self.state = CLOSED
        self.rto_at = self.persist_at = self.delack_at = self.keep_at = self.close_at = self.txretry_at = None
        self.tcp._remove(self)
        self._notify()

    def _notify(self) -> None:
        if self.on_event is not None:
            self.on_event(self)

    def __repr__(self) -> str:
        return (f"<TcpPcb {self.local_ip}:{self.local_port} -> {self.remote_ip}:{self.remote_port} "
                f"{self.state_name}>")
