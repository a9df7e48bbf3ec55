"""One TCP connection (RFC 9293), as lwIP's ``tcp_pcb``: its state, the user's API and how it ends.

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
full segment and anything out of order is acknowledged at once (the former once per batch of frames read together:
:mod:`.tcp_in`).

The work is split by concern, as lwIP splits ``tcp.c``, ``tcp_in.c`` and ``tcp_out.c``: :class:`TcpPcb` holds the
fields and the user's side (this module); segment arrival is :mod:`.tcp_in`, sending and retransmission
:mod:`.tcp_out`, the deadlines :mod:`.tcp_timers` (three mixins of this class, no state of their own).  The sender's
loss and congestion state are objects of their own (:mod:`.congestion`): ``rtt`` (:class:`RttEstimator`, RFC 6298),
``cc`` (:class:`CongestionControl`, RFC 5681/6582/3465) and ``scoreboard`` (:class:`SackScoreboard`, RFC 6675).
Listeners are :mod:`.listener`, the states :mod:`.states`.

All timers are deadlines folded into one per pcb (``next_deadline``), kept by the TCP layer's heap.  Errors the user
will see are errnos (``error``): ECONNREFUSED, ECONNRESET, ECONNABORTED.  A connection given up by a timer
(retransmissions, SYN retries, zero window probes or keepalive probes unanswered) reports ECONNABORTED, as lwIP's
``tcp_slowtmr`` ends it with ERR_ABRT and ``err_to_errno`` maps that to ECONNABORTED (not Linux's ETIMEDOUT).
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable

from ...errors import LwipError, check_ip_byte
from ...wire.checksum import pseudo_sum_v4, pseudo_sum_v6
from ...wire.ipv4 import PROTO_TCP
from ...wire.tcp import ACK, PSH, RST, TcpHeader
from ..hooks import no_core_check
from ..timers import NO_ENTRY
from .congestion import RTO_MAX, RTO_MIN, CongestionControl, RttEstimator, SackScoreboard
from .listener import TcpListener
from .seq import HALF as _HALF
from .seq import MASK
from .states import (CAN_RECEIVE, CAN_SEND, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
                     LAST_ACK, LISTEN, STATE_NAMES, SYN_RCVD, SYN_SENT, SYNCHRONIZED, TIME_WAIT)
from .tcp_in import LANE_RECV, LANE_REQUEST, LANE_WRITTEN, TcpInput
from .tcp_mem import NO_LANE_HEAD, TcpMem
from .tcp_out import NO_WAY, TX_RETRY, TcpOutput
from .tcp_timers import DELACK, TcpTimers

if TYPE_CHECKING:
    from ..netif import Netif
    from .tcp import Tcp

# the states, the listener and the timer constants are importable from here, as before the split
__all__ = ["TcpPcb", "TcpListener", "conn_key", "conn_key6", "STATE_NAMES", "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD",
           "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "RTO_MIN",
           "RTO_MAX", "DELACK", "TX_RETRY"]

_V6_KEY = 1 << 128


def conn_key(local: IPv4Address | IPv6Address, lport: int, remote: IPv4Address | IPv6Address,
             rport: int) -> tuple[int, int, int, int]:
    """A connection's four-tuple as integers (IPv6 ones offset by 2**128, apart from every IPv4 one)."""
    if remote.version == 6:
        return int(local) | _V6_KEY, lport, int(remote) | _V6_KEY, rport
    return int(local), lport, int(remote), rport


def conn_key6(local: bytes, lport: int, remote: bytes, rport: int) -> tuple[int, int, int, int]:
    """:func:`conn_key` of an IPv6 four-tuple from the addresses' bytes, as a segment has them (s20: no
    ``IPv6Address`` objects made for a segment of a connection)."""
    return int.from_bytes(local, "big") | _V6_KEY, lport, int.from_bytes(remote, "big") | _V6_KEY, rport


def _forward(obj: str, name: str, doc: str) -> Any:
    """A pcb property reading and setting ``pcb.<obj>.<name>``."""
    def get(self: Any) -> Any:
        if self.tcp.unsettled is not None:
            self.tcp.settle()  # rr2: an ACK's RTT sample and congestion window wait for the reply's write
        return getattr(getattr(self, obj), name)

    def put(self: Any, value: Any) -> None:
        if self.tcp.unsettled is not None:
            self.tcp.settle()
        setattr(getattr(self, obj), name, value)
        self._unusual_check()  # guard15: ``recover`` and ``sacked`` are among what it stands for
    return property(get, put, doc=doc)


def _dropping_way(field: str, name: str, doc: str) -> Any:
    """way14: a pcb property kept in ``field`` whose writes drop the way out kept for the short ways out
    (``TcpOutput._tx_way``, made again at the next segment).  s21: an IP header's byte (lwIP's ``u8_t`` ``tos`` and
    ``ttl``): anything but an integer 0..255 is EINVAL, before the next segment fails to pack it."""
    def put(self: Any, value: Any) -> None:
        setattr(self, field, check_ip_byte(name, value))
        self._tx_way = NO_WAY
    return property(attrgetter(field), put, doc=doc)


class TcpPcb(TcpInput, TcpOutput, TcpTimers, TcpMem):
    """A TCP connection.  Made by :meth:`Tcp.connect` or by a listener; the user's side is :meth:`send`,
    :meth:`recv`, :meth:`shutdown`, :meth:`close` and :meth:`abort`; ``on_event(pcb)`` is called whenever it became
    readable, writable, connected or failed (writable by ACKs only while ``notify_sent``, lwIP's ``tcp_sent``)."""

    # rr11: the fields __init__ sets, as slots: a pcb has too many for CPython's shared-key instance dicts, and a slot's
    # read or write costs about 1.4 ns less than an unshared dict's (a request reads and writes ~200 of them).  The
    # mixins have no __slots__, so a pcb still has a __dict__ for anything else set on it (what tests or applications
    # add).  Not slots: names the mixins define as properties (``keep_idle``, ``keep_intvl``, ``keep_cnt``: their
    # setters keep ``_keep_*``), and ``tos`` and ``ttl`` (way14: their setters keep ``_tos`` and ``_ttl`` and drop the
    # kept way out).  A slot hides a mixin's class default, so __init__ sets every one
    __slots__ = (
        "tcp", "stack", "state", "local_ip", "local_port", "remote_ip", "remote_port", "v6", "key", "_local_packed",
        "_remote_packed", "_ttl", "_tos", "_pseudo_base", "listener", "on_event", "on_recv", "_lane", "notify_sent",
        "_tx_source", "error", "_unusual", "_unusual_in",
        "nodelay", "_keepalive", "_keep_idle", "_keep_intvl", "_keep_cnt", "_route_gen", "_netif", "_next_hop", "_via6",
        "_neighbour", "_offload", "_gso_max", "_tx_way", "_rx6_ok", "_corked", "_push", "mss", "snd_mss",
        # send side
        "iss", "snd_una", "snd_nxt", "snd_max", "buf_seq", "snd_wnd", "max_snd_wnd", "snd_wl1", "snd_wl2", "snd_buf",
        "snd_buf_limit", "fin_seq", "snd_wscale",
        # receive side
        "irs", "rcv_nxt", "rcv_buf", "rcv_buf_limit", "rcv_held", "rcv_adv", "rcv_wscale", "_rcv_opens_at", "ooseq",
        "ooseq_fin", "ooseq_latest", "fin_received", "rx_closed", "tx_closed", "ts_ok", "ts_recent", "last_ack_sent",
        "sack_ok", "wscale_ok",
        # timing
        "rtt", "retries", "rto_at", "persist_at", "persist_backoff", "persist_probes", "delack_at", "unacked_segments",
        "ack_due", "output_due", "keep_at", "keep_probes", "_keep_probe_at", "close_at", "txretry_at", "last_oow_ack",
        "last_activity", "cc", "scoreboard", "heap_at",
        # TcpMem's counts
        "_mem_snd_counted", "_mem_rcv_counted", "_mem_ooseq_counted", "_mem_ooseq_segs", "_mem_snd_len",
        "_mem_snd_mss", "_mem_freed", "_mem_log", "_mem_rise_log", "_mem_rise_cat",
        "_mem_rise_up", "_mem_lane_held", "_mem_lane_head", "_mem_lane_token",
    )

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
        self._ttl = cfg.ip_default_ttl  # IP_TTL (way14: the property ``ttl``)
        self._tos = 0  # IP_TOS (way14: the property ``tos``)
        # the pseudo-header's partial sum without its length field (RFC 9293 3.1); add the segment length to it
        self._pseudo_base = (pseudo_sum_v6 if self.v6 else pseudo_sum_v4)(local_ip.packed, remote_ip.packed,
                                                                          PROTO_TCP, 0)
        self.listener: TcpListener | None = None
        self.on_event: Callable[[TcpPcb], None] | None = None
        #: lwIP's ``tcp_recv`` callback: ``on_recv(pcb, data)`` is handed the in-order bytes as they arrive (``data``,
        #: bytes), instead of their waiting in the receive buffer for :meth:`recv` and ``on_event`` being told (it is
        #: still told of everything else: the FIN, room, the connection made or failed).  The bytes count against the
        #: receive window while it runs.  It gives them back by returning: it returns how many of them it keeps (an
        #: int from 0 to ``len(data)``; None for 0), and those keep counting until it gives them back with
        #: :meth:`recved`, as an lwIP application calls ``tcp_recved`` once it has dealt with the data.  So
        #: ``recved`` inside the callback is for bytes kept from earlier handings, not for the ones in hand (lwIP's
        #: ``tcp_recved(pcb, p->tot_len)`` is the return value here: calling both gives them back twice).  A close
        #: from the callback resets the connection while bytes are held (lwIP's ``tcp_close`` with data unread): give
        #: them back with ``recved`` first for a FIN.  What it writes (:meth:`send`) is queued and goes out when it
        #: returns, as lwIP's ``tcp_write`` in the callback is sent by ``tcp_input``'s ``tcp_output`` after it: a
        #: request's reply, with the window its data left (the request lane: ``TcpInput._fast_request``).  Should it
        #: raise (or return what it may not), the bytes count as taken, what it wrote goes out, and the exception
        #: goes on
        self.on_recv: Callable[[TcpPcb, bytes], int | None] | None = None
        self._lane = 0  # lane13: what on_recv is doing (tcp_in's LANE_RECV, LANE_REQUEST, LANE_WRITTEN; see send)
        #: rr10: ``on_event`` is also told when ACKs free send buffer (lwIP's ``tcp_sent`` callback registered); an
        #: application that does not wait for room sets it False (``tcp_sent(pcb, NULL)``), and an ACK's room then
        #: calls nothing (a request/response server's every request acknowledges its reply before it)
        self.notify_sent = True
        self._tx_source: Callable[[TcpPcb, int], bytes | bytearray | memoryview] | None = None  # (``tx_source``)
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
        self._tx_way: tuple = NO_WAY  # tx9: _output_fast's way out as last found (_tx_way_make; tail15: NO_WAY, none)
        #: s21: (``Stack.way_generation``, netif, our address there) when ``Stack.ip6_detours`` last said that
        #: ``ip6_input`` hands this connection's segments on that netif straight to TCP (``fastpath.fast_input6`` asks
        #: again once either of the first two moved, and reads the address's state every segment)
        self._rx6_ok: tuple = (-1, None, None)
        self._corked = False  # gso: the application writes from an ACK's notification; _ack_advanced sends after
        # PSH on the segment that empties the send buffer (not after a send(..., more=True)); out14: the flag itself, PSH or
        # 0, as _output_one writes it (3 bytecodes less a reply, one more in send)
        self._push = PSH
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
        # LWIP_WND_SCALE: a fixed shift, TCP_RCV_SCALE (Config checks the window fits in 16 bits after it)
        self.rcv_wscale = cfg.tcp_rcv_scale if cfg.wnd_scale else 0
        self.rcv_buf_limit = min(self.rcv_buf_limit, 0xFFFF << self.rcv_wscale)
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
        self._rcv_opens_at = 0
        self._rcv_sws()  # (out12: from the MSS, timestamps and buffer limit just set)
        # timing: the RTT estimator (RFC 6298) and the timers' deadlines (tcp_timers)
        self.rtt = RttEstimator(cfg.tcp_rto_time / 1000.0)
        self.retries = 0  # retransmission timeouts in a row (lwIP's nrtx)
        self.rto_at: float | None = None
        self.persist_at: float | None = None
        self.persist_backoff = 0
        self.persist_probes = 0  # probes not answered yet
        self.delack_at: float | None = None
        self.unacked_segments = 0
        self.ack_due = False  # an ACK to write after the batch of frames being taken (lwIP's TF_ACK_NOW)
        self.output_due = False  # tx64: ACKs of the batch being taken freed send buffer (Tcp.flush_output)
        self.keep_at: float | None = None
        self.keep_probes = 0
        self._keep_probe_at = 0.0  # when the last keepalive probe went (TcpTimers)
        self.close_at: float | None = None  # SYN_RCVD (tcp_syn_rcvd_timeout), FIN_WAIT_2 and TIME_WAIT
        self.txretry_at: float | None = None  # a device refused a segment: try again then (or on the next ACK)
        self.last_oow_ack: float | None = None  # when we last answered an unacceptable segment (the rate limit)
        self.last_activity = stack.now
        self.heap_at = NO_ENTRY  # way14: the deadline of this pcb's entry in Tcp.timers (kept by LazyDeadlines)
        # congestion control (RFC 5681, RFC 6582, RFC 3465) and what the peer SACKed (RFC 6675)
        self.cc = CongestionControl()
        self.scoreboard = SackScoreboard()
        # guard15: what header prediction refuses, set from the fields above (CLOSED: unusual)
        self._unusual_in = self._unusual = True
        # what TcpMem counted for the buffers, in the instance from the start (rx8: a pcb has too many attributes
        # for CPython's shared-key dicts, so one still read from the class costs three times an instance's)
        self._mem_snd_counted = self._mem_rcv_counted = self._mem_ooseq_counted = self._mem_ooseq_segs = 0
        self._mem_snd_len, self._mem_snd_mss = -1, 0
        self._mem_freed = False
        #: rr2/mem12: the memory log while this pcb's bookkeeping waits for a reply's write (``Tcp.unsettled`` is
        #: this pcb), None otherwise: what it is counted from (both counts and units), then each change of the send
        #: buffer's size ``n`` and of the received bytes held ``~n`` in turn (``TcpMem._mem_replay``); begun by
        #: ``TcpInput._fast_request`` and ``_fast_new_ack``, appended to by ``_mem_snd``, ``_mem_rcv`` and their
        #: inline copies (send, recv, ``_fast_input``), replayed and set to None by ``Tcp.settle`` alone
        self._mem_log: list[int] | None = None
        #: mem11/mem12: the last log whose plan was one peak's rise alone, and that rise (its category, how far above
        #: its current figure), which ``Tcp.settle`` checks itself for the same log (``TcpMem._mem_replay``;
        #: settle14c: two fields, not a pair, read in place there: two bytecodes less a request)
        self._mem_rise_log: list[int] = []  # (no log is empty)
        self._mem_rise_cat = 0
        self._mem_rise_up = 0
        #: mem15: when that memo's log was one the request lane makes (TcpMem._mem_replay): the bytes it held and
        #: its first six entries (a KeptLog, handed out as the log the lane begins), and MemStats's token, taken
        #: when such a log came again (False: none, and no log was such yet), which ``TcpInput._fast_request``
        #: checks to count the same request as nothing
        self._mem_lane_held = 0
        self._mem_lane_head: list[int] = NO_LANE_HEAD  # (none: never the pcb's log without a token; no cycle)
        self._mem_lane_token: object = False

    # ------------------------------------------------------------------------------------------- congestion numbers
    # read (and set) through the pcb as before the split; the pcb's own code goes to the objects directly
    srtt = _forward("rtt", "srtt", "RFC 6298 SRTT in seconds (None before the first sample)")
    rttvar = _forward("rtt", "rttvar", "RFC 6298 RTTVAR in seconds")
    rto = _forward("rtt", "rto", "the retransmission timeout in seconds (RFC 6298, with backoff)")
    rtt_seq = _forward("rtt", "seq", "the sequence number being timed, or None")
    rtt_start = _forward("rtt", "start", "when the timed segment was sent")
    cwnd = _forward("cc", "cwnd", "the congestion window in bytes")
    ssthresh = _forward("cc", "ssthresh", "the slow start threshold in bytes")
    dupacks = _forward("cc", "dupacks", "duplicate ACKs in a row")
    recover = _forward("cc", "recover", "in fast recovery: snd_max when it began (RFC 6582), else None")
    rto_recover = _forward("cc", "rto_recover", "snd_max at the last timeout until acknowledged (RFC 6582 4.1)")
    rexmit_high = _forward("cc", "rexmit_high", "in recovery: the end of what was already sent again")
    sacked = _forward("scoreboard", "ranges", "[left, right) ranges the peer SACKed above snd_una, in order")

    # ------------------------------------------------------------------------------------ header prediction's guard
    def _unusual_check(self) -> None:
        """guard15: ``_unusual_in`` and ``_unusual`` worked out again from the fields they stand for, which change
        seldom, so that header prediction tests one field where it tested up to seven (:meth:`_fast_input` and
        ``fastpath.fast_pure_ack`` ``_unusual_in``, :meth:`_fast_request` ``_unusual``).  ``_unusual_in``: not
        ESTABLISHED, out-of-order data held (``ooseq``), the read side closed (``rx_closed``), in fast recovery
        (``cc.recover``) or SACK ranges held (``scoreboard.ranges``); ``_unusual``: any of those, the SYN not yet
        acknowledged (``buf_seq != snd_una``: an ESTABLISHED connection's only while a listener's accept callback
        runs), a refused segment waiting for its retry (``txretry_at``), a stream source set (``tx_source``), or
        lane2: a count of timeouts (``retries``) or of persist probes (``persist_probes``) running, which an ACK
        resets (so the request lane, taking only what ``_unusual`` lets through, finds both 0 and writes neither).
        Every writer of those fields calls it right after the write, before anything that could feed a frame (only
        a frame's input reads the two): ``state``, ``rx_closed`` and ``txretry_at`` set, ``ooseq`` added to, taken
        from or cleared, ``cc.recover`` by ``enter_recovery``, ``on_timeout`` and ``on_ack`` (which only clears
        it), the ranges by the scoreboard's ``update``, ``prune`` and ``clear``, ``snd_una`` past the SYN
        (``_ack_advanced``; the fast ways move ``buf_seq`` and ``snd_una`` together from equal), ``retries`` and
        ``persist_probes`` counted up by the timers and set back to 0 (each resetter tests first: no store, no
        check when it is 0 already), and the properties ``tx_source``, ``recover`` and ``sacked``
        (tests/core/test_tcp_unusual.py holds the fields to their writers: write through those, not into ``pcb.cc``
        or ``pcb.scoreboard``)."""
        self._unusual_in = unusual = self.state != ESTABLISHED or bool(self.ooseq) or self.rx_closed \
            or self.cc.recover is not None or bool(self.scoreboard.ranges)
        self._unusual = unusual or self.buf_seq != self.snd_una or self.txretry_at is not None \
            or self._tx_source is not None or self.retries != 0 or self.persist_probes != 0

    @property
    def tx_source(self) -> Callable[[TcpPcb, int], bytes | bytearray | memoryview] | None:
        """tx9: where the send buffer's room is filled from when ACKs free it (a stream source: ``tx_source(pcb,
        room)`` returns at most ``room`` bytes to queue, b"" for none now), before ``on_event`` is told of room (only
        of room it left); see :meth:`_pull`.  None (the default) for none.  guard15: kept in ``_tx_source``, the
        setter keeping ``_unusual`` (the request lane leaves a connection with a source to the general way)."""
        return self._tx_source

    @tx_source.setter
    def tx_source(self, source: Callable[[TcpPcb, int], bytes | bytearray | memoryview] | None) -> None:
        self._tx_source = source
        self._unusual_check()

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
        if self.state in SYNCHRONIZED:
            self._arm_keepalive()

    # way14: the connection's TOS and TTL as properties, so that a write (setsockopt's, an application's) drops the
    # way out kept with a template made for them (``TcpOutput._tx_way``, checked per segment by one generation and
    # the MSS); the per-segment code reads ``_tos`` and ``_ttl``
    tos = _dropping_way("_tos", "tos", "``IP_TOS``: the TOS byte of this connection's IPv4 segments (IPv6's traffic "
                                       "class; set at any time; 0..255, else EINVAL).")
    ttl = _dropping_way("_ttl", "ttl", "``IP_TTL``: the TTL of this connection's IPv4 segments (IPv6's hop limit; set at "
                                       "any time; 0..255, else EINVAL).")

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
        if self.state not in CAN_SEND and self.state not in (SYN_SENT, SYN_RCVD) or self.tx_closed:
            return 0
        room = self.snd_buf_limit - len(self.snd_buf)
        return room if room > 0 else 0  # (tx8: no max call; asked once per ACK by a sender's application)

    def send(self, data: bytes | bytearray | memoryview, more: bool = False) -> int:
        """``tcp_write`` + ``tcp_output``: queue as much of ``data`` as fits and send what the windows allow.
        Returns the bytes taken (0 when the buffer is full: wait for ``on_event``).  The segment that empties the
        send buffer carries PSH, unless the last write that queued bytes said ``more`` (lwIP's
        ``TCP_WRITE_FLAG_MORE``: the application has more to write at once, so no push yet)."""
        if self.stack.assert_core is not no_core_check:  # call12: the no-op not called (lane14: no walrus, 2 less)
            self.stack.assert_core()
        if self._lane == LANE_REQUEST:
            # lane13: the reply to a request that on_recv was handed by the request lane, which found the connection
            # ESTABLISHED and idle (everything sent acknowledged, the send buffer empty, nothing corked).  lane14: the
            # lane's state alone says the checks below pass (no error, the write side open, a state that sends):
            # whatever could change that in the callback leaves it for the general way (_leave_lane: close,
            # shutdown and _free, which every way to CLOSED takes; a nested handing, _deliver; a FIN that came
            # meanwhile leaves CLOSE_WAIT, which sends as ESTABLISHED does); a buffer no longer empty or a write
            # that does not fit goes the general way too
            n = len(data)
            snd_buf = self.snd_buf
            if not snd_buf and n and n <= self.snd_buf_limit:
                snd_buf += data
                self._push = 0 if more else PSH
                self._lane = LANE_WRITTEN
                return n
        if self.error:
            raise LwipError(self.error, "the connection failed")
        state = self.state
        if self.tx_closed or state not in CAN_SEND and state not in (SYN_SENT, SYN_RCVD):
            raise LwipError(errno.ENOTCONN if state in (CLOSED, SYN_SENT) and not self.tx_closed
                            else errno.EPIPE, f"cannot send in {self.state_name}")
        n = len(data)
        snd_buf = self.snd_buf
        room = self.snd_buf_limit - len(snd_buf)  # (rr2: no min(), one len each)
        if n > room:
            if room <= 0:
                return 0
            n, data = room, data[:room]
        elif not n:
            return 0
        snd_buf += data  # (rr10: in place, no store)
        self._push = 0 if more else PSH
        if self._lane:
            self._lane = LANE_WRITTEN  # lane13: a write from on_recv, counted and sent when it returns
            return n
        log = self._mem_log
        if log is not None:  # rr2: _mem_snd's log, inline (a call less before a reply: see Tcp.settle)
            log.append(len(snd_buf))
        else:
            self._mem_snd()
        if state in CAN_SEND:
            self._send_out()
        return n

    def _send_out(self) -> None:
        """A write's ``tcp_output`` (the caller checked a state that sends, and has queued something)."""
        if not (self._corked and self._gso_max):  # gso: _ack_advanced sends it
            # _output's first step (rr1: send's): the fast way, else the whole way
            if self.fin_seq is not None or not self.tcp._fast_path:
                self._output()
            elif not ((nxt := self.snd_nxt) == self.buf_seq and nxt == self.snd_una and nxt == self.snd_max
                      and self._output_one(self.tcp.unsettled is self)) and not self._output_fast(False):
                # rr11: _output_fast's first step too: an idle connection's one segment (a reply) by _output_one
                # (out12: which leaves the state and a buffer not empty to its callers: both checked)
                self._output_whole()

    def recv(self, max_bytes: int = 1 << 30, reopen: bool = True) -> bytes:
        """Take up to ``max_bytes`` received bytes.  With ``reopen`` the window opens again at once (``tcp_recved``
        implied); without it the bytes still count against the window until :meth:`recved` gives them back, as lwIP's
        netconn does while data waits in a receive mailbox for the application."""
        if (stack := self.stack).assert_core is not no_core_check:  # call12: the no-op not called
            stack.assert_core()
        rcv_buf = self.rcv_buf
        have = len(rcv_buf)
        if have and max_bytes >= have:  # all of it (rr10: the common read, the buffer cleared; out12: asked first)
            out = bytes(rcv_buf)  # one copy, not a slice and then a copy of it
            rcv_buf.clear()
            n = have
            have = 0  # (rr8: what is left, without asking len again)
        else:
            n = max_bytes if max_bytes < have else have  # (rr1: no min(), one len)
            if not n:
                if self.error:
                    raise LwipError(self.error, "the connection failed")
                return b""
            with memoryview(rcv_buf) as view:
                out = bytes(view[:n])
            del rcv_buf[:n]
            have -= n
        if reopen:
            # (an ACK due at the end of the batch carries the window: _window_update); rr: nor can the window open
            # by the worthwhile amount _window_update asks for when even the raw room (which _free_window only
            # rounds down) does not exceed the window offered by that much (a small read: a request's)
            if not self.ack_due:
                # _window_room's figures, inline (rr1: a call less per read): the raw room, the window offered (0
                # when rcv_adv is behind rcv_nxt) and the worthwhile amount (out12: the room opens the window by
                # it while what is held and offered is at most _rcv_opens_at)
                offered = (self.rcv_adv - self.rcv_nxt) & MASK
                if offered > _HALF:
                    offered = 0
                if have + self.rcv_held + offered <= self._rcv_opens_at:
                    self._reopen(have + self.rcv_held, offered)
        else:
            self.rcv_held += n
        log = self._mem_log
        if log is not None:  # rr2: _mem_rcv's log, inline (a call less before a reply: see Tcp.settle)
            log.append(~(have + self.rcv_held))
        else:
            self._mem_rcv_count(have + self.rcv_held)
        return out

    def _reopen(self, held: int, offered: int) -> None:
        """After a read (``recv``, or the request lane's on_recv) that left ``held`` bytes held and the window
        ``offered`` (0 when ``rcv_adv`` is behind ``rcv_nxt``), with no ACK due, where ``held + offered`` is at most
        ``_rcv_opens_at`` (below it the raw room cannot open the window by the worthwhile amount, and the callers ask
        nothing): what :meth:`_window_update` would do."""
        if self.rcv_wscale:
            self._window_update()  # a scaled window's room comes in _free_window's larger units
        elif self.state in CAN_RECEIVE:
            # rr8: the room as _free_window offers it, in whole segments of the peer's (an unscaled window outside the
            # handshake): the window opens by the worthwhile amount only when that does (a buffer that is not whole
            # segments, 64 KB's 65535, otherwise asks after every read); rx8: then what _window_update would do,
            # without working its figures out again (its checks: no ACK due, checked by the callers, and a state that
            # receives, so not SYN_SENT or SYN_RCVD)
            limit = self.rcv_buf_limit
            seg = self.mss - 12 if self.ts_ok else self.mss
            worthwhile = seg if seg < limit // 2 else limit // 2
            room = limit - held
            if room > seg:
                room -= room % seg
            if room - offered >= worthwhile:
                self._ack_now()

    def _rcv_sws(self) -> None:
        """out12: ``_rcv_opens_at``, the most bytes held (``rcv_buf``, ``rcv_held``) and offered at which the room
        left in the receive buffer opens the window by the worthwhile amount of receiver silly window avoidance
        (min(a full segment of the peer's, half the buffer), as :meth:`_window_room` works it out): ``recv`` and
        ``_output_one`` compare against it instead of working it out per request.  Set again by whatever changes
        ``mss``, ``ts_ok`` or ``rcv_buf_limit`` (``__init__``, ``_take_syn_options``).  way14: also drops the way out
        kept for ``_output_fast`` (``_tx_way``: its header length and segment size follow ``ts_ok``; out2: it holds
        this threshold for ``_output_one``, or none for a scaled window), which is checked per segment by
        ``Stack.way_generation`` and ``snd_mss`` alone."""
        self._tx_way = NO_WAY
        limit = self.rcv_buf_limit
        seg = self.mss - 12 if self.ts_ok else self.mss
        self._rcv_opens_at = limit - (seg if seg < limit // 2 else limit // 2)

    def recved(self, n: int) -> None:
        """``tcp_recved``: the application consumed ``n`` bytes taken with ``recv(reopen=False)`` or kept by ``on_recv``
        (its return value); the window may open.  More than is held gives back what is held."""
        if (stack := self.stack).assert_core is not no_core_check:  # call12: the no-op not called
            stack.assert_core()
        self.rcv_held = max(0, self.rcv_held - n)
        self._mem_rcv()
        self._window_check()

    def shutdown(self, read: bool = False, write: bool = True) -> None:
        """``tcp_shutdown``: stop receiving and/or sending (a FIN follows the data already queued)."""
        self.stack.assert_core()
        self._leave_lane()
        if read:
            self.rx_closed = True
            self._unusual_check()
            self.rcv_buf.clear()
            self._mem_rcv()
        if write and not self.tx_closed and self.state not in (CLOSED, LISTEN, TIME_WAIT):
            self.tx_closed = True
            if self.state == SYN_SENT:
                self._free()
                return
            self._queue_fin()

    def close(self) -> None:
        """``tcp_close``: close both directions.  Unread data makes it an abort (RST), as lwIP does."""
        self.stack.assert_core()
        self._leave_lane()
        if self.state == CLOSED:
            self._free()
            return
        if (self.rcv_buf or self.rcv_held) and self.state in SYNCHRONIZED:  # unread, here or in a mailbox
            self.abort()
            return
        self.rx_closed = True
        self._unusual_check()
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
        if self.state in SYNCHRONIZED or self.state == SYN_RCVD:
            self._send_segment(self.snd_max, RST | ACK, b"")
        self.error = self.error or errno.ECONNABORTED
        self._free()

    # ---------------------------------------------------------------------------------------------------- opening
    def _open_active(self, isn: int) -> None:
        self.iss = isn
        self.snd_una = isn
        self.snd_nxt = self.snd_max = self.buf_seq = (isn + 1) & MASK
        self.state = SYN_SENT
        self._unusual_check()
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
        self._unusual_check()
        self._arm_syn_rcvd()
        self._send_syn()

    def _established(self) -> None:
        self.state = ESTABLISHED
        self.retries = 0
        self._unusual_check()
        self.close_at = None  # the SYN_RCVD timeout
        self.cc.established(self.snd_mss, self.snd_wnd)
        self._arm_keepalive()

    # ---------------------------------------------------------------------------------------------------- endings
    def _fail(self, err: int, send_rst: bool = False) -> None:
        if send_rst:
            self._send_segment(self.snd_max, RST | ACK, b"")
        self.error = err
        self._free()

    def _free(self) -> None:
        self._leave_lane()
        if self.state == CLOSED and self.key not in self.tcp.conns:
            return
        self.state = CLOSED
        self.rto_at = self.persist_at = self.delack_at = self.keep_at = self.close_at = self.txretry_at = None
        self._unusual_check()
        self.tcp._remove(self)
        self._mem_release()
        self._notify()

    def _pull(self, room: int) -> None:
        """tx9: ACKs freed send buffer, ``room`` bytes of it, and ``tx_source`` is set (the caller checked: a state
        that sends, the write side open): queue what it gives for the room, as ``send(data, more=True)`` queues it (no
        PSH: a stream has more), without ``send``'s checks and call; the caller's ``tcp_output`` sends it.  One call
        per ACK instead of the application's callback and its ``send`` (a bulk sender's every ACK)."""
        data = self._tx_source(self, room)
        n = len(data)
        if not n:
            return
        if n > room:
            raise ValueError(f"tx_source gave {n} bytes for {room} of room")
        snd_buf = self.snd_buf
        snd_buf += data
        self._push = 0
        # tx10: counted only when the length or the segment size differs from those last counted (an ACK's refill
        # brings the length back: the count is the same), or while counts wait for a reply's write (rr2: each logged,
        # by _mem_snd and inline copies of it, for Tcp.settle to replay in order)
        if len(snd_buf) != self._mem_snd_len or self.snd_mss != self._mem_snd_mss or self._mem_log is not None:
            self._mem_snd()

    def _notify(self) -> None:
        if self.on_recv is not None and self.rcv_buf and self.state != CLOSED:
            self._deliver()  # (data waiting since before on_recv was set: handed over first; not after a reset)
        if self.on_event is not None:
            self.on_event(self)

    def _notify_data(self) -> None:
        """In-order data arrived: handed to ``on_recv`` when there is one (and ``on_event`` not told of it), else
        ``on_event`` told."""
        if self.on_recv is not None:
            self._deliver()
        elif self.on_event is not None:
            self.on_event(self)

    def _deliver(self) -> None:
        """``on_recv`` handed everything waiting in the receive buffer, held against the window while it runs (as
        ``recv(reopen=False)`` holds it), then given back but for what it says it keeps, and what it wrote counted and
        sent.  The request lane (``TcpInput._fast_request``) does the same for a request inline."""
        n = len(self.rcv_buf)
        if not n:
            return
        data = self.recv(reopen=False)
        prior = self._lane  # (on_recv feeding a frame that brings more: the outer call's state kept)
        if prior == LANE_REQUEST:
            prior = LANE_RECV  # lane14: the outer call's later writes the general way (this one may close, write...)
        self._lane = LANE_RECV
        try:
            kept = self._kept(self.on_recv(self, data), n)
        except BaseException:
            self._recv_failed(n, prior)
            raise
        written = self._lane == LANE_WRITTEN
        self._lane = prior
        self._given_back(n - kept, written)

    def _leave_lane(self) -> None:
        """lane14: a callback of the request lane that closes, shuts down or ends the connection: its later writes
        go ``send``'s general way (whose checks the lane's short way leaves out), as other handings' writes do."""
        if self._lane == LANE_REQUEST:
            self._lane = LANE_RECV

    def _given_back(self, given: int, written: bool) -> None:
        """After ``on_recv``: ``given`` of the bytes it was handed given back (recved's steps), counted; then what it
        wrote sent, with the window that leaves; then the window opened if worthwhile (lwIP: ``tcp_recved`` flags
        the window update, ``tcp_output`` sends it with the data)."""
        held = self.rcv_held - given
        self.rcv_held = held if held > 0 else 0  # (below 0: it gave them back itself, recved: see on_recv)
        self._mem_rcv()
        if written:
            self._send_written()
        self._window_check()

    def _recv_failed(self, n: int, prior: int) -> None:
        """``on_recv`` raised (or returned what it may not) for the ``n`` bytes it was handed: they count as taken
        (given back: the window does not shrink for good), what it wrote goes out, and the ACK the data asked for
        follows as it would have (the caller's steps after the callback are skipped); the exception goes on."""
        written = self._lane == LANE_WRITTEN
        self._lane = prior
        if self.state == CLOSED:
            return
        self._given_back(n, written)
        if self.unacked_segments and self.state != CLOSED and not self.ack_due:  # (a reply that went carried it)
            if self.unacked_segments >= 2:
                self._ack_now()
            else:
                self._arm_delack()

    def _window_check(self) -> None:
        """After a read or bytes given back: :meth:`_window_update`, as :meth:`recv` asks it (not while an ACK is
        due, nor when the raw room cannot open the window by the worthwhile amount: see :meth:`_reopen`)."""
        if not self.ack_due:
            offered = (self.rcv_adv - self.rcv_nxt) & MASK
            if offered > _HALF:
                offered = 0
            held = len(self.rcv_buf) + self.rcv_held
            if held + offered <= self._rcv_opens_at:
                self._reopen(held, offered)

    def _send_written(self) -> None:
        """After ``on_recv`` wrote: the send buffer counted (after what it gave back: the bytes it was handed are
        freed as it returns, and what it wrote is queued then) and sent (lwIP's ``tcp_input`` calls ``tcp_output``
        after the receive callback, whose ``tcp_write`` only queued), as :meth:`send` counts and sends a write at
        other times."""
        self._mem_snd()
        if self.snd_buf and self.state in CAN_SEND:
            self._send_out()

    @staticmethod
    def _kept(kept: int | None, n: int) -> int:
        """What ``on_recv`` returned for ``n`` bytes: how many it still holds."""
        if not kept:
            return 0
        if type(kept) is not int or not 0 <= kept <= n:
            raise ValueError(f"on_recv returns how many of the {n} bytes it was handed it still holds (0 to {n}, "
                             f"or None), not {kept!r}")
        return kept

    def __repr__(self) -> str:
        return (f"<TcpPcb {self.local_ip}:{self.local_port} -> {self.remote_ip}:{self.remote_port} "
                f"{self.state_name}>")
