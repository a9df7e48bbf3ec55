"""The TCP layer of a stack: pcb tables, demultiplexing, listen/connect, RST for closed ports, timers.

Connections are found by one dict lookup on the four-tuple (as integers); listeners by port.  A segment that finds
neither is answered with RST (RFC 9293 3.10.7.1); a SYN for a listener whose backlog is full is dropped (after the
oldest half-open connection, if any, made room for it).  IPv6 shares the tables: a listener on :: takes IPv6 and,
unless ``v6only``, IPv4 connections (lwIP's IPADDR_TYPE_ANY), and an IPv4-mapped address means the IPv4 one.  Every
pcb's timers are one deadline in a heap (``timers``), so ``poll_at()`` costs the same with ten connections or ten
thousand.  When ``max_active_tcp`` connections exist, a new
one takes the place of the oldest in TIME_WAIT (lwIP's ``tcp_kill_timewait``).
"""

from __future__ import annotations

import errno
from collections import Counter
from ipaddress import IPv4Address, IPv6Address
from types import MethodType
from typing import TYPE_CHECKING, Any

from ...errors import LwipError, Malformed
from ...wire.checksum import pseudo_sum_v4, pseudo_sum_v6
from ...wire.ipv4 import PROTO_TCP
from ...wire.tcp import ACK, FIN, RST, SYN, TcpHeader
from ..addr import ANY4, ANY6, IpAddress, unmap
from ..addr6 import is_loopback6, is_multicast6, is_unspecified6
from ..events import PathMtuChanged
from ..mem import TCP_PCB, TCP_PCB_LISTEN
from ..pbuf import Pbuf
from ..ports import PortAllocator, addresses_overlap
from ..timers import LazyDeadlines
from .congestion import RTO_MAX, RTO_MIN, SRTT_AT_RTO_MIN, VAR_FLOOR
from .fastpath import fast_input, fast_key, fast_key6
from .isn import IsnGenerator, IsnHook, Rfc6528Isn
from .seq import HALF as _HALF
from .pcb import (CLOSED, CLOSING, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, TIME_WAIT, TcpListener, TcpPcb, conn_key,
                  conn_key6)


if TYPE_CHECKING:
    from ..ip4 import InPacket
    from ..ip6 import InPacket6
    from ..stack import Stack

__all__ = ["Tcp"]


def _never(netif: Any, frame: Any) -> bool:
    return False


_RECYCLABLE = (TIME_WAIT, LAST_ACK, CLOSING, FIN_WAIT_2, FIN_WAIT_1)  # the order lwIP's tcp_alloc gives them up


class Tcp:
    """TCP for one stack: ``stack.tcp``."""

    # slots11: the fields __init__ sets, as slots (28: near the 30 CPython's shared-key instance dicts hold, past which
    # each read or write goes through an unshared dict; a request reads ~24).  ``__dict__`` stays, for what tests set.
    # Not slots: the properties ``fast_path`` and ``isn``.  A slot hides a class default of its name, so __init__ sets
    # every one
    __slots__ = (
        "stack", "conns", "_fast_path", "fast_input", "fast_conns", "fast_taken", "fast_sent", "batching",
        "ack_pending", "output_pending", "ack_templates", "tx_templates", "tx_neighbours", "eth_output", "unsettled",
        "mem_plans", "_settle_args", "_settle", "listeners", "timers", "_challenge_second", "_challenges",
        "tx_refused", "_ports", "_local_ports", "_reserved", "pcbs_held", "ip4_detour", "fast_taken6", "fast_sent6",
        "__dict__",
    )

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.conns: dict[tuple[int, int, int, int], TcpPcb] = {}
        self.fast_path = True  # (a property: it also sets fast_input)
        #: the connections again, keyed by the bytes of addresses and ports as a frame from the peer has them: 12 for
        #: IPv4, 36 for IPv6 (s20)
        self.fast_conns: dict[bytes, TcpPcb] = {}
        #: segments the fast path took, and segments the short ways out sent (tallies that :attr:`Stack.stats
        #: <lwipy.core.stack.Stack.stats>` folds into the counters: they only grow)
        self.fast_taken = 0
        self.fast_sent = 0
        self.fast_taken6 = 0  # s20: segments over IPv6 the fast path took (fastpath.fast_input6)
        # s20: segments over IPv6 a device took from their templates (pure ACKs: fastpath._fast_ack6; s21: data)
        self.fast_sent6 = 0
        #: in12: whether anything may take an IPv4 packet before TCP sees it (a raw pcb, an ``ip4_input`` hook, NAPT
        #: on a netif) or, in15, ip4_input checks the header's checksum (``Config.checksum_check_ip``: the
        #: configuration is a stack's for life): kept by the stack (``Stack._ip4_detours_changed``), read by header
        #: prediction (:func:`.fastpath.fast_input`), which looks at the four only when it is set.  in2: here, not on
        #: the stack, so that fast_input reads the stack only where it uses it: 2 bytecodes a request
        self.ip4_detour = stack.config.checksum_check_ip
        #: a batch of frames is being taken (``Stack.input_many``): ACKs due wait for its end (:meth:`flush_acks`)
        self.batching = False
        #: pcbs with an ACK due at the end of the batch (``TcpPcb.ack_due``)
        self.ack_pending: list[TcpPcb] = []
        # --- tx64: output once per batch ---
        #: pcbs whose ACKs in this batch freed send buffer: told and sent for at the batch's end (:meth:`flush_output`)
        self.output_pending: list[TcpPcb] = []
        #: each connection's pure-ACK header template (:func:`.fastpath.fast_ack`), made at its first fast ACK
        self.ack_templates: dict[TcpPcb, tuple] = {}
        # --- tx: each connection's data-segment template (``TcpOutput._segment_template``), made at its first
        # fast send
        self.tx_templates: dict[TcpPcb, tuple] = {}
        # --- tx2: each connection's next-hop ARP entry (``TcpOutput._neighbour_mac``): (entry, Etharp.generation,
        # next hop, netif) when it was looked up
        self.tx_neighbours: dict[TcpPcb, tuple] = {}
        #: rr2: Ethernet's output, bound once (``TcpOutput._neighbour_mac`` compares ``Stack.link_output`` with it)
        self.eth_output = stack.ethernet.output
        # --- rr2: an ACK's bookkeeping after the reply's write (:meth:`settle`) ---
        #: the connection whose ACK's RTT sample, congestion window and memory counting wait, or None (its buffers'
        #: sizes as they change meanwhile: its ``_mem_log``, mem12)
        self.unsettled: TcpPcb | None = None
        #: rr1: what a log does to the counts, by the log (mem12: with the counts and units it starts from): a
        #: request/response connection logs the same few sizes request after request (``TcpMem._mem_replay``)
        self.mem_plans: dict[tuple, tuple] = {}
        # what the unsettled ACK left: (bytes acknowledged, echoed timestamp or None); tail15: the ACK itself and the
        # time it came are the pcb's snd_una and last_activity until it is settled (see settle)
        self._settle_args: tuple[int, int | None] = (0, None)
        self._settle = self.settle  # bound once: MemStats.pending while a connection is unsettled
        self.listeners: dict[int, list[TcpListener]] = {}
        #: every pcb's timers as one lazily re-armed deadline (see :class:`~lwipy.core.timers.LazyDeadlines`)
        self.timers: LazyDeadlines[TcpPcb] = LazyDeadlines()
        stack.hooks.tcp_isn = Rfc6528Isn(IsnGenerator(stack.rng.randbytes(16)))
        self._challenge_second = 0.0  # RFC 5961 7: the second being counted, and challenge ACKs sent in it
        self._challenges = 0
        #: pcbs holding data a full device queue refused (lwIP's TF_NAGLEMEMERR), for :meth:`txnow`
        self.tx_refused: set[TcpPcb] = set()
        self._ports = PortAllocator(stack.rng, "TCP")
        self._local_ports: Counter[int] = Counter()  # connections per local port, so a free port is found in O(1)
        self._reserved: Counter[int] = Counter()  # ports bound (tcp_bind) by netconns not yet listening or connected
        #: pcbs taken by TCP netconns (sockets) not yet connecting or listening: lwIP's ``tcp_new`` takes one from the
        #: MEMP_NUM_TCP_PCB pool at ``socket()``, so they count against ``max_active_tcp``
        self.pcbs_held = 0

    @property
    def isn(self) -> IsnHook:
        """The ISN generator: ``stack.hooks.tcp_isn`` (``LWIP_HOOK_TCP_ISN``), kept here under its old name."""
        return self.stack.hooks.tcp_isn

    @isn.setter
    def isn(self, hook: IsnHook) -> None:
        self.stack.hooks.tcp_isn = hook

    # -- user API ----------------------------------------------------------------------------------------------------
    def listen(self, port: int, ip: str | IpAddress | None = None, backlog: int | None = None,
               v6only: bool = False) -> TcpListener:
        """``tcp_bind`` + ``tcp_listen_with_backlog``: accept connections to ``port`` (on ``ip``, or any IPv4
        address; ``::`` for any IPv6 one, and any IPv4 one too unless ``v6only``)."""
        self.stack.assert_core()
        cfg = self.stack.config
        if sum(len(v) for v in self.listeners.values()) >= cfg.max_listening_tcp:
            raise LwipError(errno.ENOMEM, f"all {cfg.max_listening_tcp} listening pcbs are in use (max_listening_tcp)")
        local = unmap(ip) if ip is not None else ANY4
        if port == 0:
            port = self._ports.allocate(self._port_taken)
        for other in self.listeners.get(port, ()):
            if addresses_overlap(local, v6only, other.local_ip, other.v6only):
                raise LwipError(errno.EADDRINUSE, f"TCP port {port} is already listening")
        backlog = cfg.tcp_accept_mbox_size if backlog is None else max(1, min(backlog, 255))
        listener = TcpListener(self, local, port, backlog, v6only and local.version == 6)
        self.listeners.setdefault(port, []).append(listener)
        self.stack.mem.alloc(TCP_PCB_LISTEN, self.stack.mem.sizes.tcp_pcb_listen)
        return listener

    def bind(self, ip: str | IpAddress | None = None, port: int = 0, reuse: bool = False, v6only: bool = False) -> int:
        """``tcp_bind`` before the pcb exists (lwipy makes it at listen or connect): check that ``ip``:``port`` is
        free and reserve the port, an ephemeral one for 0, so nobody else takes it meanwhile.  Returns the port.
        EADDRINUSE when a listener, a connection (TIME_WAIT too, as lwIP without SO_REUSEADDR) or another binding
        holds it on an overlapping address; with ``reuse`` (``SO_REUSEADDR``) connections no longer count, so a
        restarted server gets its port back while its old connections sit in TIME_WAIT.  :meth:`unbind` gives the
        reservation back."""
        self.stack.assert_core()
        local = unmap(ip) if ip is not None else ANY4
        if not 0 <= port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        if port == 0:
            port = self._ports.allocate(self._port_taken)
        elif port in self._reserved or \
                any(addresses_overlap(local, v6only, lst.local_ip, lst.v6only)
                    for lst in self.listeners.get(port, ())) or \
                not reuse and port in self._local_ports and any(
                    p.local_port == port and addresses_overlap(local, v6only, p.local_ip, False)
                    for p in self.conns.values()):
            raise LwipError(errno.EADDRINUSE, f"TCP port {port} is in use")
        self._reserved[port] += 1
        return port

    def hold_pcb(self) -> None:
        """``tcp_new``: take a pcb for a netconn that will connect or listen later (ENOMEM when ``max_active_tcp``
        are in use and none can be recycled: lwIP's ``socket()`` then fails with ENOBUFS)."""
        self.stack.assert_core()
        self._make_room()
        self.pcbs_held += 1
        self.stack.mem.alloc(TCP_PCB, self.stack.mem.sizes.tcp_pcb)  # tcp_new's memp_malloc(MEMP_TCP_PCB)

    def release_pcb(self) -> None:
        """Give back a pcb from :meth:`hold_pcb` (the netconn listened, or closed unconnected)."""
        if self.pcbs_held > 0:
            self.pcbs_held -= 1
            self.stack.mem.free(TCP_PCB, self.stack.mem.sizes.tcp_pcb)

    def unbind(self, port: int) -> None:
        """Give back a reservation made by :meth:`bind` (the listener or connection now holds the port, or the
        socket closed without using it)."""
        self._reserved[port] -= 1
        if self._reserved[port] <= 0:
            del self._reserved[port]

    def connect(self, ip: str | IPv4Address, port: int, local_port: int = 0,
                local_ip: str | IPv4Address | None = None, held: bool = False) -> TcpPcb:
        """``tcp_connect``: start an active open; ``on_event`` tells when it is ESTABLISHED or failed.  ``held``: the
        pcb taken by :meth:`hold_pcb` becomes this connection (it is given back only when the connect succeeds)."""
        self.stack.assert_core()
        remote = unmap(ip)
        if not 0 < port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        given = unmap(local_ip) if local_ip is not None else None
        local: Any
        if remote.version == 6:
            netif6, _ = self.stack.ip6.route(remote.packed)
            if given is not None and given != ANY6:
                local = given
            else:
                src = self.stack.ip6.select_source(netif6, remote.packed) if not netif6.is_loopback else remote.packed
                if src is None:
                    raise LwipError(errno.EADDRNOTAVAIL, f"{netif6.name} has no usable IPv6 address")
                local = IPv6Address(src)
        else:
            local = given if given is not None and given not in (ANY4, ANY6) else None
            found = self.stack.ip4.route_src(local, remote)
            if found is None:
                raise self.stack.routes.unreachable(remote)
            netif = found[0]
            if local is None:
                if netif.ip4 is None:
                    raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} has no IPv4 address")
                local = netif.ip4.ip if not netif.is_loopback or remote.is_loopback else remote
        if not held:
            self._make_room()
        lport = local_port or self._ports.allocate(self._port_taken)
        key = conn_key(local, lport, remote, port)
        if key in self.conns:
            raise LwipError(errno.EADDRINUSE, f"a connection {local}:{lport} -> {remote}:{port} exists")
        if held:
            self.release_pcb()
        pcb = TcpPcb(self, local, lport, remote, port)
        self._add(pcb)
        pcb.rtt.start = self.stack.now
        pcb._open_active(self.stack.hooks.tcp_isn(self.stack, local, lport, remote, port) & 0xFFFFFFFF)
        return pcb

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stats = self.stack._stats.tcp
        segment = self._checked(pkt, data, pseudo_sum_v4(pkt.hdr.src, pkt.hdr.dst, PROTO_TCP, len(data)))
        if segment is None:
            return
        hdr, payload = segment
        key = (int(pkt.dst), hdr.dst_port, int(pkt.src), hdr.src_port)
        pcb = self.conns.get(key)
        if pcb is not None:
            pcb.input(hdr, payload)
            return
        listener = self._listener_for(pkt.dst, hdr.dst_port)
        if listener is not None and not listener.closed:
            self._listen_input(listener, pkt.dst, pkt.src, pkt.hdr.dst, pkt.hdr.src, hdr)
            return
        stats.proterr += 1
        stats.drop += 1
        self._reset_closed(pkt.dst, pkt.src, hdr, len(payload))

    def input6(self, pkt: "InPacket6", data: memoryview) -> None:
        """A segment over IPv6: the same tables, the IPv6 pseudo-header."""
        stats = self.stack._stats.tcp
        segment = self._checked(pkt, data, pseudo_sum_v6(pkt.src, pkt.dst, PROTO_TCP, len(data)))
        if segment is None:
            return
        hdr, payload = segment
        # s20: the connection's key from the addresses' bytes: IPv6Address objects only for a listener's or a
        # reset's way (2 of the 58 us a segment at ESP-IDF's defaults)
        pcb = self.conns.get(conn_key6(pkt.dst, hdr.dst_port, pkt.src, hdr.src_port))
        if pcb is not None:
            pcb.input(hdr, payload)
            return
        src, dst = IPv6Address(pkt.src), IPv6Address(pkt.dst)
        listener = self._listener_for(dst, hdr.dst_port)
        if listener is not None and not listener.closed:
            self._listen_input(listener, dst, src, pkt.dst, pkt.src, hdr)
            return
        stats.proterr += 1
        stats.drop += 1
        self._reset_closed(dst, src, hdr, len(payload))

    def _checked(self, pkt: "InPacket | InPacket6", data: memoryview,
                 pseudo: int) -> tuple[TcpHeader, memoryview] | None:
        """The segment's header and payload, or None when it is malformed, its checksum is wrong (``pseudo``: the
        pseudo-header's sum) or it was not sent to us alone (RFC 1122 4.2.3.10: TCP is unicast only)."""
        stats = self.stack._stats.tcp
        stats.recv += 1
        try:
            hdr, payload = TcpHeader.parse(data)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return None
        if not pkt.netif.checksum_offload and not TcpHeader.verify(data, pseudo):
            stats.chkerr += 1
            stats.drop += 1
            return None
        if not pkt.unicast:
            stats.drop += 1
            return None
        return hdr, payload

    def _listener_for(self, dst: IpAddress, port: int) -> TcpListener | None:
        best = None
        for listener in self.listeners.get(port, ()):
            local = listener.local_ip
            if local == dst:
                return listener
            if local == ANY4 and dst.version == 4 or local == ANY6 and (dst.version == 6 or not listener.v6only):
                if best is None or best.local_ip.version != dst.version:
                    best = listener  # an exact-family wildcard before the dual-stack one
        return best

    def _listen_input(self, listener: TcpListener, dst: IpAddress, src: IpAddress, dst_packed: bytes,
                      src_packed: bytes, hdr: TcpHeader) -> None:
        flags = hdr.flags
        if flags & RST:
            return
        if flags & ACK:
            self._send_rst(dst, src, hdr.dst_port, hdr.src_port, hdr.ack, 0, False)
            return
        if not flags & SYN:
            return
        stats = self.stack._stats.tcp
        if len(listener.accept_queue) + listener.pending >= listener.backlog and listener.half_open:
            # FreeBSD's syncache: a full backlog gives its oldest half-open connection up to the new SYN.  Spoofed
            # SYNs that never complete then hold a listener only while they keep coming: a client that tries again
            # once a flood stops gets in at once, not tcp_syn_rcvd_timeout later (lwIP has no such rule)
            stats.half_open_evicted += 1
            next(iter(listener.half_open))._free()
        if len(listener.accept_queue) + listener.pending >= listener.backlog or not self._make_room(quiet=True):
            # lwIP's tcp_listen_input (and Linux): a backlog full of connections waiting for accept, or a full pcb
            # table, drops the SYN silently, so that the client's retransmitted SYN gets in once a slot frees; a RST
            # would make it give up
            stats.memerr += 1
            stats.listen_drop += 1
            stats.drop += 1
            return
        pcb = TcpPcb(self, dst, hdr.dst_port, src, hdr.src_port)
        pcb.listener = listener
        pcb.on_event = None
        listener.half_open[pcb] = None
        self._add(pcb)
        pcb.rtt.start = self.stack.now
        pcb._open_passive(self.stack.hooks.tcp_isn(self.stack, pcb.local_ip, hdr.dst_port, pcb.remote_ip,
                                                   hdr.src_port) & 0xFFFFFFFF, hdr)

    def _reset_closed(self, dst: IpAddress, src: IpAddress, hdr: TcpHeader, payload_len: int) -> None:
        """RFC 9293 3.10.7.1: a segment for no connection gets a RST, unless it is one."""
        if hdr.flags & RST:
            return
        if hdr.flags & ACK:
            self._send_rst(dst, src, hdr.dst_port, hdr.src_port, hdr.ack, 0, False)
        else:
            seg_len = payload_len + (1 if hdr.flags & SYN else 0) + (1 if hdr.flags & FIN else 0)
            self._send_rst(dst, src, hdr.dst_port, hdr.src_port, 0, (hdr.seq + seg_len) & 0xFFFFFFFF, True)

    def _send_rst(self, src: IpAddress, dst: IpAddress, sport: int, dport: int, seq: int, ack: int,
                  with_ack: bool) -> None:
        hdr = TcpHeader(sport, dport, seq, ack, RST | (ACK if with_ack else 0), 0)
        pbuf = Pbuf.alloc(0)
        six = dst.version == 6
        pseudo = (pseudo_sum_v6 if six else pseudo_sum_v4)(src.packed, dst.packed, PROTO_TCP, hdr.header_len)
        hdr.emit(pbuf.buf, pbuf.push(hdr.header_len), 0, pseudo)
        try:
            if six:
                self.stack.ip6.output(pbuf, src.packed, dst.packed, PROTO_TCP)
            else:
                assert isinstance(src, IPv4Address) and isinstance(dst, IPv4Address)
                self.stack.ip4.output(pbuf, src, dst, PROTO_TCP)
            self.stack._stats.tcp.xmit += 1
        except LwipError:
            self.stack._stats.tcp.err += 1

    # -- table management --------------------------------------------------------------------------------------------
    def _make_room(self, quiet: bool = False) -> bool:
        """Free a slot when ``max_active_tcp`` connections exist, as lwIP's ``tcp_alloc``: the oldest TIME_WAIT pcb
        goes quietly; failing that the oldest closing one (LAST_ACK, CLOSING, FIN_WAIT_2, FIN_WAIT_1) is aborted."""
        limit = self.stack.config.max_active_tcp
        if len(self.conns) + self.pcbs_held < limit:
            return True
        for state in _RECYCLABLE:
            victims = [p for p in self.conns.values() if p.state == state]
            if victims:
                oldest = min(victims, key=lambda p: p.last_activity)
                if state == TIME_WAIT:
                    oldest._free()
                else:
                    oldest.abort()
                return True
        if quiet:
            return False
        self.stack._stats.tcp.memerr += 1
        raise LwipError(errno.ENOMEM, f"all {limit} TCP pcbs are in use (max_active_tcp)")

    def _port_taken(self, port: int) -> bool:
        return port in self._local_ports or port in self.listeners or port in self._reserved

    @property
    def fast_path(self) -> bool:
        """Header prediction (:mod:`.fastpath`) on: the common segment of an established connection skips the full
        input path; False sends every segment the full way (same results, more work)."""
        return self._fast_path

    @fast_path.setter
    def fast_path(self, on: bool) -> None:
        self._fast_path = bool(on)
        #: ``fast_input(netif, frame)``: take ``frame`` (from Ethernet netif ``netif``) when it is a predicted segment
        #: (:func:`.fastpath.fast_input`); False when it must go the full way (in2: the caller settles first, as
        #: ``ethernet_input`` and ``Stack.input_many`` do: :meth:`settle`).  The function itself, bound to this
        #: layer (one call less per frame than a method wrapping it), or one that always says False.  in12: bound
        #: as a method object, not a functools.partial: the same call, 17-18 ns less per frame (a bound method's
        #: call puts the layer before the arguments in place, a partial's copies them into an array of its own)
        self.fast_input = MethodType(fast_input, self) if on else _never

    # --- rr2: an ACK's bookkeeping after the reply's write ---
    def settle(self) -> None:
        """Do the bookkeeping an ACK left for after the reply's write (``TcpInput._fast_request`` or
        ``_fast_new_ack``, with everything sent acknowledged): the RTT sample and the congestion window
        (``TcpInput._ack_sample``, as ``fastpath.fast_pure_ack`` takes them; s12: its steps for a request's ACK
        without a timestamp inline; settle13: ``RttEstimator.sample``'s too, for a sample after the first) and the
        memory counting of the buffers' changes since (``TcpMem._mem_replay``; mem12: the log of the pcb's last
        one-peak plan checked here; mem15: no log at all when the request lane counted its steady request as
        nothing), in the order and with the values they would have had.  Called once the reply
        is written (``TcpOutput._output_fast``), at the end of the segment (``fastpath.fast_input``), and before
        anything reads what waits: the full ``_output``, segment input, the timers, the pcb's ``cwnd``/``srtt``...
        properties, ``MemStats`` (its ``pending`` hook), a path MTU change and the pcb's release.  tail15: only
        while a connection is unsettled (``unsettled`` not None): each of those asks first, or knows it (the hook is
        set only meanwhile; a reply's ``_output_one`` is told), so settle does not ask again (2 bytecodes less a
        request)."""
        pcb = self.unsettled
        self.unsettled = None
        mem = self.stack.mem
        mem.pending = None
        # the RTT sample and the congestion window: (acked, tsecr) (s12: unpacked here: a call with its arguments
        # costs half of one with ``*args``, which CPython 3.11 does not inline; settle14c: snd_max left out, both
        # callers hand off only an ACK of everything sent, so it is the ACK: one bytecode less each side).  tail15:
        # the ACK and its time not kept either: they are the pcb's snd_una and last_activity, which both callers set
        # to them and nothing writes before this (only a segment's input does, and it settles first), each read once
        # where it is used (2 bytecodes less a request than two more in the tuple)
        acked, tsecr = self._settle_args
        cc = pcb.cc
        # (settle14c: never in fast recovery here, not tested: both callers hand off only outside it, and whatever
        # enters it - segment input's duplicate ACKs, the timers, the pcb's ``recover`` property - settles first;
        # test_tcp_rr_settle's watched settle holds it)
        if tsecr or cc.rto_recover is not None:
            ack = pcb.snd_una  # a timestamp's sample, or congestion control's own (snd_max: the ACK)
            pcb._ack_sample(ack, acked, tsecr, pcb.last_activity, ack)
        else:
            # s12: _ack_sample's steps for a request's ACK (no timestamp, outside recovery), inline: a call less and
            # its tests of the timestamp skipped (test_tcp_rr_settle compares the two over random states)
            rtt = pcb.rtt
            # the timed segment acknowledged (timed < ack; settle13: bit 31 of the difference, the same test as
            # ``(timed - ack) & MASK >= _HALF``: two bytecodes less and no compare of big ints, never specialised;
            # out14: rtt.seq read twice, no local: one less)
            if rtt.seq is not None and (rtt.seq - pcb.snd_una) & _HALF:
                rtt.seq = None
                r = pcb.last_activity - rtt.start
                if r < 120.0 and r >= 0.0:  # (0 <= r < 120: floats, each compare specialised; NaN neither)
                    srtt = rtt.srtt
                    if srtt is None:
                        rtt.sample(r)  # the first
                    else:
                        # settle13: RttEstimator.sample's later sample, inline (a call less a request; the same
                        # steps, test_tcp_settle_rtt holds the two alike bit for bit)
                        rttvar = rtt.rttvar = 0.75 * rtt.rttvar + 0.25 * abs(srtt - r)
                        srtt = rtt.srtt = 0.875 * srtt + 0.125 * r
                        if rttvar > VAR_FLOOR:
                            rto = srtt + 4.0 * rttvar
                            if rto > RTO_MIN:
                                rtt.rto = rto if rto < RTO_MAX else RTO_MAX
                            else:
                                rtt.rto = RTO_MIN
                        elif srtt > SRTT_AT_RTO_MIN:  # (out2: srtt + G > RTO_MIN, without the sum: 4 less a request)
                            rto = srtt + 0.001
                            rtt.rto = rto if rto < RTO_MAX else RTO_MAX
                        else:
                            rtt.rto = RTO_MIN  # (a LAN's sample)
            cwnd = cc.cwnd
            if cwnd < cc.ssthresh:  # (settle13: the common ACK, below 2 SMSS, the fall-through; snd_mss read in place)
                cc.cwnd = cwnd + (2 * pcb.snd_mss if acked >= 2 * pcb.snd_mss else acked)
            else:
                smss = pcb.snd_mss
                grow = smss * (acked if acked < cwnd else cwnd) // cwnd
                cc.cwnd = cwnd + (grow if grow > 1 else 1)
            cc.dupacks = 0
        # the memory log (never empty: it holds what it counts from and the ACK's change of the send buffer).  mem12:
        # the log of the pcb's last one-peak plan (mem11: both counts and the total as they were, one category's
        # peak raised to its figure plus ``up`` at most, as TcpMem._mem_replay would) checked here, without a call:
        # a request/response's every request (out14: compared in place, the log taken only for a replay: 2 less)
        log = pcb._mem_log
        if log is None:
            return  # mem15: the request lane's steady request, which counts as nothing (TcpInput._fast_request)
        if log == pcb._mem_rise_log:
            pcb._mem_log = None
            # (settle14c: the rise's two fields read in place, no locals: two less)
            if mem.cur[pcb._mem_rise_cat] + pcb._mem_rise_up > mem.peak[pcb._mem_rise_cat]:  # (seldom: below, again)
                mem.peak[pcb._mem_rise_cat] = mem.cur[pcb._mem_rise_cat] + pcb._mem_rise_up
        else:
            pcb._mem_log = None
            pcb._mem_replay(log)

    # --- tx64: output once per batch ---
    def flush_output(self) -> None:
        """The end of a batch of frames: each connection whose ACKs in it freed send buffer tells its application and
        sends what may go now, once for the batch (``TcpPcb.output_due``; before :meth:`flush_acks`, so that the data
        segments carry the ACKs due)."""
        pending, self.output_pending = self.output_pending, []
        for pcb in pending:
            pcb.output_due = False
        guarded = self.stack._guarded
        for pcb in pending:
            if pcb.state != CLOSED:
                guarded(pcb._acked_output)

    def flush_acks(self) -> None:
        """The end of a batch of frames: write the ACKs its segments asked for, one per connection, with the newest
        ``rcv_nxt`` and window (those a data segment sent meanwhile carried already are gone)."""
        pending, self.ack_pending = self.ack_pending, []
        for pcb in pending:
            if pcb.ack_due:
                pcb.ack_due = False
                if pcb.state != CLOSED:
                    pcb._send_ack()

    def _add(self, pcb: TcpPcb) -> None:
        self.conns[pcb.key] = pcb
        self._predict(pcb)
        self._local_ports[pcb.local_port] += 1
        self.stack.mem.alloc(TCP_PCB, self.stack.mem.sizes.tcp_pcb)

    def _predict(self, pcb: TcpPcb) -> None:
        """Header prediction's entry for connection ``pcb`` (``fast_conns``), when its remote can be a peer's
        source: over IPv4 not in 0/8, 127/8, multicast or class E (rr8), and not one of our addresses (in12: kept so
        by :meth:`own4_changed`); over IPv6 (s20) not multicast, loopback or unspecified (what ``ip6_input`` drops
        as a source).  A frame from any other finds no connection and takes the full way, which drops it, so
        fast_input need not look at the source."""
        if pcb.v6:
            remote6 = pcb._remote_packed
            if not (is_multicast6(remote6) or is_loopback6(remote6) or is_unspecified6(remote6)):
                self.fast_conns[fast_key6(remote6, pcb._local_packed, pcb.remote_port, pcb.local_port)] = pcb
            return
        remote = int.from_bytes(pcb._remote_packed, "big")
        if remote >> 24 != 0 and remote >> 24 != 127 and remote < 0xE0000000 and remote not in self.stack._own4:
            self.fast_conns[fast_key(pcb._remote_packed, pcb._local_packed, pcb.remote_port, pcb.local_port)] = pcb

    def own4_changed(self) -> None:
        """Our IPv4 addresses changed (``Stack._own4``): header prediction's entries made again, one for each IPv4
        connection whose remote can be a peer's source now (:meth:`_predict`; IPv6 ones' again as they were)."""
        self.fast_conns.clear()
        for pcb in self.conns.values():
            self._predict(pcb)

    def _remove(self, pcb: TcpPcb) -> None:
        if self.conns.get(pcb.key) is pcb:
            del self.conns[pcb.key]
            self.stack.mem.free(TCP_PCB, self.stack.mem.sizes.tcp_pcb)
            self.fast_conns.pop((fast_key6 if pcb.v6 else fast_key)(pcb._remote_packed, pcb._local_packed,
                                                                     pcb.remote_port, pcb.local_port), None)
            self._local_ports[pcb.local_port] -= 1
            if not self._local_ports[pcb.local_port]:
                del self._local_ports[pcb.local_port]
        self.timers.cancel(pcb)
        self.ack_templates.pop(pcb, None)
        self.tx_templates.pop(pcb, None)  # tx
        self.tx_neighbours.pop(pcb, None)  # tx2
        self.tx_refused.discard(pcb)
        if pcb.listener is not None:
            pcb.listener.half_open.pop(pcb, None)
            pcb.listener = None

    def _remove_listener(self, listener: TcpListener) -> None:
        group = self.listeners.get(listener.local_port, [])
        if listener in group:
            group.remove(listener)
            self.stack.mem.free(TCP_PCB_LISTEN, self.stack.mem.sizes.tcp_pcb_listen)
            if not group:
                del self.listeners[listener.local_port]

    def challenge_allowed(self) -> bool:
        """RFC 5961 7: at most ``tcp_challenge_ack_limit`` challenge ACKs a second across all connections (Linux's
        per-second count), so that a flood of forged RSTs and SYNs spread over many connections cannot make the stack
        a reflector."""
        now = self.stack.now
        if now - self._challenge_second >= 1.0:
            self._challenge_second, self._challenges = now, 0
        if self._challenges >= self.stack.config.tcp_challenge_ack_limit:
            return False
        self._challenges += 1
        return True

    def txnow(self) -> None:
        """``tcp_txnow``: try again to send what a full device queue refused (a driver whose queue drained may call
        it; otherwise the next ACK, the next write or a short retry timer does)."""
        for pcb in list(self.tx_refused):
            pcb._output()

    def path_mtu_changed(self, event: PathMtuChanged) -> None:
        """A subscriber of :class:`~lwipy.core.events.PathMtuChanged`: the connections to that IPv6 destination send
        segments that fit the path MTU from now on (RFC 8201 5.2; 60 bytes of IPv6 and TCP headers)."""
        dst, mss = event.destination, event.mtu - 60
        if self.unsettled is not None:
            self.settle()  # mem12: a memory log is counted in the units it began with (TcpMem._mem_replay)
        for pcb in self.conns.values():
            if pcb.v6 and pcb._remote_packed == dst and pcb.snd_mss > mss:
                pcb.snd_mss = mss
                pcb._mem_lane_token = False  # mem15: its steady request's counts were in the old unit

    # -- time --------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        if self.unsettled is not None:
            self.settle()  # rr2: the timers read what waits
        for pcb in self.timers.pop_due(now):
            pcb.poll(now)

    def poll_at(self) -> float | None:
        return self.timers.next_at()
