"""NAPT and port forwarding for IPv4, as esp-lwip's ``ip4_napt.c`` (driven by ESP-IDF's ``esp_netif_napt_enable``).

Theory of operation
-------------------
NAPT is enabled on exactly one netif, the **inside** one: the netif facing the hosts whose traffic is translated (a
SoftAP's netif, or the LAN side of an Ethernet-to-Wi-Fi gateway).  This is the opposite of Linux's ``MASQUERADE``,
which one sets on the *outgoing* interface, and the source of a common confusion: on an ESP32 gateway one enables NAPT
on the AP netif, not on the station netif that holds the public address.  esp-lwip keeps one table for all netifs
and ESP-IDF allows one NAPT netif at a time, so :meth:`Napt.enable` refuses a second one.

A packet forwarded *from* the inside netif to any other netif (``ip_napt_forward``) has its source address replaced by
the outgoing netif's address and its source port (TCP, UDP) or echo identifier (ICMP) by a mapped port taken from
``ip_napt_port_range_start..end`` (the inside port is kept when it is in that range and free).  A packet arriving on a
netif other than the inside one and addressed to that netif's own address (``ip_napt_recv``) is looked up by protocol,
mapped port, and the remote address and port the entry last talked to; when found, its destination goes back to the
inside host and port and the packet is forwarded.  A port map (``ip_portmap_add``) sends what arrives for a mapped
port to a fixed inside host and port, and gives that host's replies the mapped address and port.

Table: up to ``ip_napt_max`` entries kept in least-recently-used order.  Every ``ip_napt_tmr_interval`` ms the table
is swept (``ip_napt_tmr``): a UDP or ICMP entry idle longer than its timeout goes; a TCP entry goes after
``ip_napt_timeout_ms_tcp_discon`` of idleness once it is closing (a FIN acknowledged either way), was reset, or never
saw a SYN-ACK, and after ``ip_napt_timeout_ms_tcp`` otherwise.  When a new flow finds the table full, the sweep runs
at once and frees one expired entry, else the least recently used one (``ip_napt_gc(now, force)``; counted in
``nr_forced_evictions``).  Evicting an established TCP flow sends a RST each way, so neither end waits on a dead
connection.  A new TCP entry is only made by a SYN (without ACK) from port 1024 or above, a new UDP entry by a datagram
from port 1024 or above; other packets of unknown flows are dropped with an ICMP port unreachable, as esp-lwip does.

Checksums are updated incrementally (RFC 1624 eqn. 3: ``HC' = ~(~HC + ~m + m')``): the IP header for the address, the
TCP/UDP checksum for the address (pseudo-header) and port, the ICMP checksum for the identifier.  A UDP checksum of
zero (none) stays zero.

ICMP errors (destination unreachable, source quench, redirect, time exceeded, parameter problem) about a translated
flow are translated back, which esp-lwip does not do: the outer destination and the quoted header's source address
and port become the inside host's again, the quoted IP header and transport checksums are adjusted, and the ICMP
checksum is computed afresh.  Errors an inside host sends about a flow coming in through the translation are
translated the other way.

Fragments: esp-lwip reads a transport header at the start of every forwarded fragment, so the second and later
fragments of a datagram are misread (and dropped or mistranslated).  lwipy instead drops fragments of translated
traffic coming from the inside (counted in ``frag_drop``), and handles those arriving from outside for the outside
address by reassembling them first when ``ip4_reassembly`` (CONFIG_LWIP_IP4_REASSEMBLY) is on: the whole datagram is
translated and forwarded (fragmented again to the inside MTU); with reassembly off they are dropped.

Everything here runs on the core thread, and time comes from ``stack.now``; the sweep is a deadline in
:meth:`poll_at`.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, fields
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from ..errors import LwipError
from ..wire.checksum import checksum, pseudo_sum_v4
from .events import NetifRemoved
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["Napt", "NaptEntry", "NaptStats", "PortmapEntry", "IP_PROTO_TCP", "IP_PROTO_UDP", "IP_PROTO_ICMP",
           "NAPT_PASS", "NAPT_DROP", "NAPT_UNREACH", "csum_adjust"]

IP_PROTO_ICMP = 1
IP_PROTO_TCP = 6
IP_PROTO_UDP = 17

#: :meth:`Napt.forward` verdicts: send the (possibly rewritten) packet, drop it, drop it with ICMP port unreachable
NAPT_PASS = 0
NAPT_DROP = 1
NAPT_UNREACH = 2

_TCP_FIN, _TCP_SYN, _TCP_RST, _TCP_ACK = 0x01, 0x02, 0x04, 0x10
_ICMP_ECHO_REPLY, _ICMP_ECHO = 0, 8
_ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))
_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_I = struct.Struct("!I")
_TCP_RST_HDR = struct.Struct("!HHIIBBHHH")
_ADDRS = struct.Struct("!4s4s")


def _sum32(b: bytes | bytearray | memoryview, at: int = 0) -> int:
    """The ones'-complement sum of the 4 bytes at ``at`` (an address), as an unfolded integer."""
    return (b[at] << 8 | b[at + 1]) + (b[at + 2] << 8 | b[at + 3])


def csum_adjust(csum: int, old: int, new: int) -> int:
    """RFC 1624 eqn. 3: the checksum field ``csum`` after data summing to ``old`` was replaced by data summing to
    ``new`` (``old`` and ``new`` are ones'-complement sums, folded or not)."""
    old = (old & 0xFFFF) + (old >> 16)
    old = (old & 0xFFFF) + (old >> 16)
    x = (~csum & 0xFFFF) + (~old & 0xFFFF) + new
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    return ~x & 0xFFFF


def _fold(x: int) -> int:
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    return (x & 0xFFFF) + (x >> 16)


def _delta(old: int, new: int) -> int:
    """``~m + m'`` of RFC 1624 eqn. 3 for fields summing to ``old`` and then ``new``, folded to 16 bits."""
    return _fold((~_fold(old) & 0xFFFF) + new)


def _apply(csum: int, delta: int) -> int:
    """RFC 1624 eqn. 3 with a precomputed ``delta``: ``~(~HC + delta)``."""
    return ~_fold((~csum & 0xFFFF) + delta) & 0xFFFF



def _next_seqno(buf: bytearray | memoryview, t_off: int, tlen: int, flags: int, current: int) -> int:
    """The next sequence number one side of a translated TCP flow is expected to send, from its segment at ``t_off``
    (``tlen`` bytes of TCP) when that segment is not behind ``current``.  esp-lwip counts data only; SYN and FIN
    count too here, so that the RST sent on eviction is exactly in window (RFC 5961 3.2)."""
    seqno = _I.unpack_from(buf, t_off + 4)[0]
    if (seqno - current) & 0xFFFFFFFF >= 0x80000000:
        return current
    return (seqno + tlen - ((buf[t_off + 12] >> 4) << 2) + (flags & _TCP_SYN) // _TCP_SYN
            + (flags & _TCP_FIN)) & 0xFFFFFFFF

class NaptEntry:
    """One translation (esp-lwip's ``struct ip_napt_entry``): inside ``src:sport`` seen outside as ``mport`` on the
    outgoing netif's address, last talking to ``dest:dport``.  Addresses are the 4 packed bytes."""

    __slots__ = ("proto", "src", "sport", "dest", "dport", "mport", "last", "fin1", "fin2", "finack1", "finack2",
                 "synack", "rst", "src_seqno", "dest_seqno", "maddr", "d_ip", "d_t", "d_ip_back", "d_t_back")

    def __init__(self, proto: int, src: bytes, sport: int, dest: bytes, dport: int, mport: int, now: float,
                 maddr: bytes) -> None:
        self.proto = proto
        self.src = src
        self.sport = sport
        self.dest = dest
        self.dport = dport
        self.mport = mport
        self.last = now
        #: FIN seen from outside / inside, and each acknowledged; SYN-ACK seen from outside; RST seen either way
        self.fin1 = self.fin2 = self.finack1 = self.finack2 = self.synack = self.rst = False
        self.src_seqno = 0
        self.dest_seqno = 0
        #: the outside address the flow was translated to (the outgoing netif's, when it was made)
        self.maddr = maddr
        # RFC 1624's ~m + m' is the same for every packet of the flow: the IP header's (the address) and the
        # transport checksum's (address and port; the ICMP checksum: the identifier alone), each way
        a_in, a_out = _sum32(src), _sum32(maddr)
        self.d_ip, self.d_ip_back = _delta(a_in, a_out), _delta(a_out, a_in)
        if proto == IP_PROTO_ICMP:
            self.d_t, self.d_t_back = _delta(sport, mport), _delta(mport, sport)
        else:
            self.d_t, self.d_t_back = _delta(a_in + sport, a_out + mport), _delta(a_out + mport, a_in + sport)

    def __repr__(self) -> str:
        name = {IP_PROTO_TCP: "TCP", IP_PROTO_UDP: "UDP", IP_PROTO_ICMP: "ICMP"}.get(self.proto, str(self.proto))
        flags = "".join(c for c, on in zip("fFaASR", (self.fin1, self.fin2, self.finack1, self.finack2, self.synack,
                                                      self.rst), strict=True) if on)
        return (f"<NaptEntry {name} {IPv4Address(self.src)}:{self.sport} -> {IPv4Address(self.dest)}:{self.dport} "
                f"as :{self.mport} {flags}>")


@dataclass(slots=True, frozen=True)
class PortmapEntry:
    """One port forward (esp-lwip's ``struct ip_portmap_entry``): ``proto`` traffic for ``maddr:mport`` goes to the
    inside host ``daddr:dport``."""

    proto: int
    maddr: IPv4Address
    mport: int
    daddr: IPv4Address
    dport: int


@dataclass(slots=True)
class NaptStats:
    """esp-lwip's ``struct stats_ip_napt`` (``ip_napt_get_stats``) and lwipy's own counters."""

    nr_active_tcp: int = 0
    nr_active_udp: int = 0
    nr_active_icmp: int = 0
    nr_forced_evictions: int = 0
    #: lwipy's: packets translated on the way out / in, dropped (unknown flow, table full), fragments dropped
    out: int = 0
    inbound: int = 0
    drop: int = 0
    frag_drop: int = 0
    icmp_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Napt:
    """The NAPT table, port maps and their timer of one stack (``stack.napt``)."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        #: the inside netif (the one NAPT is enabled on), or None
        self.netif: "Netif | None" = None
        #: (proto, inside address, inside port) -> entry, least recently used first
        self.table: OrderedDict[tuple[int, bytes, int], NaptEntry] = OrderedDict()
        #: (proto, mapped port) -> entry
        self.by_mport: dict[tuple[int, int], NaptEntry] = {}
        self.portmaps: list[PortmapEntry] = []
        #: (proto, mapped port) -> port map, and (proto, inside address, inside port) -> port map
        self._pm_in: dict[tuple[int, int], PortmapEntry] = {}
        self._pm_out: dict[tuple[int, bytes, int], tuple[PortmapEntry, bytes]] = {}
        self.stats = NaptStats()
        self._next_sweep: float | None = None
        stack.events.subscribe(NetifRemoved, self._netif_removed)

    def _netif_removed(self, event: NetifRemoved) -> None:
        if event.netif is self.netif:
            self.disable()

    # -- enabling ----------------------------------------------------------------------------------------------------
    def enable(self, netif: "Netif") -> None:
        """``ip_napt_enable_netif(netif, 1)``: translate what comes in on ``netif`` (the inside netif) and leaves by
        another.  Raises ValueError when NAPT is off in the configuration, when ``netif`` is down, or when another
        netif has it already (one at a time, as ESP-IDF allows)."""
        stack = self.stack
        stack.assert_core()
        cfg = stack.config
        if not cfg.ipv4_napt:
            raise ValueError("NAPT is off: Config(ipv4_napt=True) (CONFIG_LWIP_IPV4_NAPT), with ip_forward=True")
        if not cfg.ip_forward:
            raise ValueError("NAPT translates forwarded packets: turn on ip_forward (CONFIG_LWIP_IP_FORWARD)")
        if cfg.ip_napt_port_range_start > cfg.ip_napt_port_range_end:
            raise ValueError(f"IP_NAPT_PORT_RANGE_START {cfg.ip_napt_port_range_start} is above "
                             f"IP_NAPT_PORT_RANGE_END {cfg.ip_napt_port_range_end}")
        if netif not in stack.netifs:
            raise ValueError(f"{netif!r} is not a netif of {stack!r}")
        if not netif.up:
            raise ValueError(f"{netif.name} is down: NAPT can only be enabled on a netif that is up")
        if self.netif is not None and self.netif is not netif:
            raise ValueError(
                f"NAPT is enabled on {self.netif.name} already; it runs on one netif at a time, the inside one "
                f"(facing the hosts to translate, e.g. the SoftAP), never on the uplink. Disable it on "
                f"{self.netif.name} first")
        if self.netif is None:
            self.netif = netif
            stack._ip4_detours_changed()
            self._next_sweep = stack.now + cfg.ip_napt_tmr_interval / 1000
            stack.add_poller(self)

    def disable(self, netif: "Netif | None" = None) -> None:
        """``ip_napt_enable_netif(netif, 0)``: stop translating and forget the table (``ip_napt_deinit``; the port
        maps go with it, as there).  A netif other than the inside one is a no-op."""
        self.stack.assert_core()
        if self.netif is None or (netif is not None and netif is not self.netif):
            return
        self.netif = None
        self.stack._ip4_detours_changed()
        self.table.clear()
        self.by_mport.clear()
        self.portmaps.clear()
        self._pm_in.clear()
        self._pm_out.clear()
        self.stats.nr_active_tcp = self.stats.nr_active_udp = self.stats.nr_active_icmp = 0
        self._next_sweep = None
        self.stack.remove_poller(self)

    @property
    def enabled(self) -> bool:
        return self.netif is not None

    # -- port maps ---------------------------------------------------------------------------------------------------
    def portmap_add(self, proto: int, maddr: str | IPv4Address, mport: int, daddr: str | IPv4Address,
                    dport: int) -> bool:
        """``ip_portmap_add``: ``proto`` (6 TCP, 17 UDP) traffic for ``maddr:mport`` goes to ``daddr:dport``.  A map
        of the same protocol and port is replaced.  False when ``ip_portmap_max`` maps exist already."""
        self.stack.assert_core()
        if proto not in (IP_PROTO_TCP, IP_PROTO_UDP):
            raise ValueError(f"a port map is for TCP (6) or UDP (17), not protocol {proto}")
        if not self.stack.config.ipv4_napt_portmap:
            raise ValueError("port maps are off: Config(ipv4_napt_portmap=True) (CONFIG_LWIP_IPV4_NAPT_PORTMAP)")
        for port in (mport, dport):
            if not 0 < port < 0x10000:
                raise ValueError(f"port {port} is not 1..65535")
        entry = PortmapEntry(proto, IPv4Address(maddr), mport, IPv4Address(daddr), dport)
        old = self._pm_in.get((proto, mport))
        if old is not None:
            self.portmaps[self.portmaps.index(old)] = entry
        elif len(self.portmaps) >= self.stack.config.ip_portmap_max:
            return False
        else:
            self.portmaps.append(entry)
        self._index_portmaps()
        return True

    def portmap_remove(self, proto: int, mport: int) -> bool:
        """``ip_portmap_remove``: False when no such map exists."""
        self.stack.assert_core()
        old = self._pm_in.get((proto, mport))
        if old is None:
            return False
        self.portmaps.remove(old)
        self._index_portmaps()
        return True

    def portmap_get(self, proto: int, mport: int) -> PortmapEntry | None:
        """``ip_portmap_get``: the map for ``proto`` and ``mport``, or None."""
        return self._pm_in.get((proto, mport))

    def _index_portmaps(self) -> None:
        self._pm_in = {(p.proto, p.mport): p for p in self.portmaps}
        self._pm_out = {(p.proto, p.daddr.packed, p.dport): (p, p.maddr.packed) for p in self.portmaps}

    # -- the table ---------------------------------------------------------------------------------------------------
    def entries(self) -> list[NaptEntry]:
        """The entries, least recently used first."""
        return list(self.table.values())

    def get_stats(self) -> NaptStats:
        """``ip_napt_get_stats``: a copy of the counters."""
        return NaptStats(**self.stats.as_dict())

    def _count(self, proto: int, delta: int) -> None:
        s = self.stats
        if proto == IP_PROTO_TCP:
            s.nr_active_tcp += delta
        elif proto == IP_PROTO_UDP:
            s.nr_active_udp += delta
        else:
            s.nr_active_icmp += delta

    def _listening(self, proto: int, port: int) -> bool:
        """esp-lwip's ``tcp_listening``/``udp_listening``: a local server or a port map owns ``port``."""
        stack = self.stack
        if (proto, port) in self._pm_in:
            return True
        if proto == IP_PROTO_TCP:
            return port in stack.tcp.listeners
        if proto == IP_PROTO_UDP:
            return port in stack.udp.by_port
        return False

    def _new_port(self, proto: int, port: int) -> int:
        """``ip_napt_new_port``: keep ``port`` when it is in the range and free, else a random free one."""
        cfg = self.stack.config
        lo, hi = cfg.ip_napt_port_range_start, cfg.ip_napt_port_range_end
        by = self.by_mport
        if (lo <= port <= hi or proto == IP_PROTO_ICMP) and (proto, port) not in by \
                and not self._listening(proto, port):
            return port  # an echo identifier is kept whenever it is free (esp-lwip keeps it always)
        rand = self.stack.rng.randint
        for _ in range(64):
            port = rand(lo, hi)
            if (proto, port) not in by and not self._listening(proto, port):
                return port
        for port in range(lo, hi + 1):
            if (proto, port) not in by and not self._listening(proto, port):
                return port
        return 0

    def _add(self, proto: int, src: bytes, sport: int, dest: bytes, dport: int, maddr: bytes,
             seqno: int = 0) -> NaptEntry | None:
        """``ip_napt_add``: the entry for inside ``src:sport`` (made, or refreshed with the new destination)."""
        key = (proto, src, sport)
        t = self.table.get(key)
        now = self.stack.now
        if t is not None:
            t.last = now
            t.dest, t.dport = dest, dport
            self.table.move_to_end(key)
            return t
        if len(self.table) >= self.stack.config.ip_napt_max:
            self._gc(now, True)
            if len(self.table) >= self.stack.config.ip_napt_max:
                return None
        mport = self._new_port(proto, sport)
        if not mport:
            return None
        t = NaptEntry(proto, src, sport, dest, dport, mport, now, maddr)
        t.src_seqno = seqno
        self.table[key] = t
        self.by_mport[(proto, mport)] = t
        self._count(proto, 1)
        return t

    def _free(self, t: NaptEntry) -> None:
        """``ip_napt_free``: forget ``t``; an established TCP flow gets a RST each way."""
        del self.table[(t.proto, t.src, t.sport)]
        del self.by_mport[(t.proto, t.mport)]
        self._count(t.proto, -1)
        if t.proto == IP_PROTO_TCP and t.synack and not (t.fin1 or t.fin2 or t.rst):
            # to the inside host, as if from the remote end; to the remote end, from the mapped address and port
            self._send_rst(t.dest, t.dport, t.src, t.sport, t.dest_seqno, t.src_seqno)
            self._send_rst(t.maddr, t.mport, t.dest, t.dport, t.src_seqno, t.dest_seqno)

    def _send_rst(self, src: bytes, sport: int, dst: bytes, dport: int, seqno: int, ackno: int) -> None:
        """``ip_napt_send_rst``: a bare RST|ACK from ``src:sport`` to ``dst:dport``."""
        pbuf = Pbuf.alloc(20)
        buf, off = pbuf.buf, pbuf.start
        _TCP_RST_HDR.pack_into(buf, off, sport, dport, seqno & 0xFFFFFFFF, ackno & 0xFFFFFFFF, 5 << 4,
                               _TCP_RST | _TCP_ACK, 512, 0, 0)
        _H.pack_into(buf, off + 16, checksum(memoryview(buf)[off:off + 20], pseudo_sum_v4(src, dst, IP_PROTO_TCP,
                                                                                           20)))
        try:
            self.stack.ip4.output(pbuf, IPv4Address(src), IPv4Address(dst), IP_PROTO_TCP)
        except LwipError:
            pass

    def _gc(self, now: float, force: bool) -> None:
        """``ip_napt_gc``: free the entries past their timeout; with ``force`` (a new flow finds the table full) stop
        after the first, and when none has expired free the least recently used one."""
        cfg = self.stack.config
        discon = cfg.ip_napt_timeout_ms_tcp_discon / 1000
        tcp = cfg.ip_napt_timeout_ms_tcp / 1000
        udp = cfg.ip_napt_timeout_ms_udp / 1000
        icmp = cfg.ip_napt_timeout_ms_icmp / 1000
        for t in list(self.table.values()):
            age = now - t.last
            if t.proto == IP_PROTO_TCP:
                expired = age > discon and (t.finack1 or t.finack2 or not t.synack or t.rst or age > tcp)
            else:
                expired = age > (udp if t.proto == IP_PROTO_UDP else icmp)
            if expired:
                self._free(t)
                if force:
                    return
        if force and self.table:
            self._free(next(iter(self.table.values())))
            self.stats.nr_forced_evictions += 1

    def poll(self, now: float) -> None:
        """``ip_napt_tmr``: sweep the table every ``ip_napt_tmr_interval`` ms."""
        due = self._next_sweep
        if due is None or now < due:
            return
        self._gc(now, False)
        self._next_sweep = now + self.stack.config.ip_napt_tmr_interval / 1000

    def poll_at(self) -> float | None:
        """The next sweep, while the table holds entries."""
        return self._next_sweep if self.table else None

    # -- the way out -------------------------------------------------------------------------------------------------
    def forward(self, buf: bytearray, off: int, out: "Netif", partial: bool = False) -> int:
        """``ip_napt_forward``: the packet at ``buf[off:]`` (an IPv4 header, TTL already lowered) came in on the inside
        netif and leaves by ``out``: translate its source in place.  ``partial``: the transport checksum field holds
        the pseudo-header sum for the device to complete (a frame from a device with offload).  Returns
        :data:`NAPT_PASS`, :data:`NAPT_DROP` or :data:`NAPT_UNREACH` (drop and answer with ICMP port unreachable)."""
        if out.ip4 is None:
            return NAPT_PASS
        ihl = (buf[off] & 0x0F) << 2
        proto = buf[off + 9]
        if proto != IP_PROTO_TCP and proto != IP_PROTO_UDP and proto != IP_PROTO_ICMP:
            return NAPT_PASS  # esp-lwip passes other protocols on untranslated
        if buf[off + 6] & 0x3F or buf[off + 7]:
            self.stats.frag_drop += 1  # a fragment: its transport header may be elsewhere (see the module's notes)
            return NAPT_DROP
        total = buf[off + 2] << 8 | buf[off + 3]
        t_off = off + ihl
        tlen = total - ihl
        src, dst = _ADDRS.unpack_from(buf, off + 12)
        maddr = out.ip4_packed
        stats = self.stats
        if proto == IP_PROTO_ICMP:
            if tlen < 8:
                return NAPT_PASS
            kind = buf[t_off]
            if kind == _ICMP_ECHO:
                ident = buf[t_off + 4] << 8 | buf[t_off + 5]
                t = self._add(IP_PROTO_ICMP, src, ident, dst, ident, maddr)
                if t is None:
                    stats.drop += 1
                    return NAPT_DROP
                if t.mport != ident:
                    _H.pack_into(buf, t_off + 2, csum_adjust(buf[t_off + 2] << 8 | buf[t_off + 3], ident, t.mport))
                    _H.pack_into(buf, t_off + 4, t.mport)
                self._set_src(buf, off, src, maddr)
                stats.out += 1
                return NAPT_PASS
            if kind in _ICMP_ERRORS:
                self._icmp_error_out(buf, off, t_off, tlen, src, maddr)
            return NAPT_PASS
        if tlen < (20 if proto == IP_PROTO_TCP else 8):
            stats.drop += 1
            return NAPT_DROP
        sport = buf[t_off] << 8 | buf[t_off + 1]
        pm = self._pm_out.get((proto, src, sport)) if self._pm_out else None
        if pm is not None:
            # a reply of a port-mapped server: from the mapped address and port
            self._rewrite_src(buf, off, t_off, proto, src, sport, pm[1], pm[0].mport, partial)
            stats.out += 1
            return NAPT_PASS
        dport = buf[t_off + 2] << 8 | buf[t_off + 3]
        if proto == IP_PROTO_TCP:
            flags = buf[t_off + 13]
            if flags & (_TCP_SYN | _TCP_ACK) == _TCP_SYN and sport >= 1024:
                t = self._add(IP_PROTO_TCP, src, sport, dst, dport, maddr, _I.unpack_from(buf, t_off + 4)[0] + 1)
                if t is None:
                    stats.drop += 1
                    return NAPT_UNREACH
            else:
                t = self._session(IP_PROTO_TCP, src, sport, dst, dport)
                if t is None:
                    stats.drop += 1
                    return NAPT_UNREACH  # drop unknown TCP session
                if flags & _TCP_FIN:
                    t.fin2 = True
                if t.fin1 and flags & _TCP_ACK:
                    t.finack1 = True
                if flags & _TCP_RST:
                    t.rst = True
                t.src_seqno = _next_seqno(buf, t_off, tlen, flags, t.src_seqno)
        else:
            if sport >= 1024:
                t = self._add(IP_PROTO_UDP, src, sport, dst, dport, maddr)
                if t is None:
                    stats.drop += 1
                    return NAPT_DROP
            else:
                t = self._session(IP_PROTO_UDP, src, sport, dst, dport)
                if t is None:
                    stats.drop += 1
                    return NAPT_UNREACH  # drop unknown UDP session
        if t.maddr != maddr:  # the outgoing address changed since the flow began
            self._rewrite_src(buf, off, t_off, proto, src, sport, maddr, t.mport, partial)
            stats.out += 1
            return NAPT_PASS
        # the fast way: the flow's precomputed checksum deltas (RFC 1624)
        at = t_off + 16 if proto == IP_PROTO_TCP else t_off + 6
        csum = buf[at] << 8 | buf[at + 1]
        if partial:
            _H.pack_into(buf, at, _fold(csum + t.d_ip))  # the pseudo-header sum follows the address alone
        elif proto == IP_PROTO_TCP:
            _H.pack_into(buf, at, _apply(csum, t.d_t))
        elif csum:
            _H.pack_into(buf, at, _apply(csum, t.d_t) or 0xFFFF)
        _H.pack_into(buf, t_off, t.mport)
        _H.pack_into(buf, off + 10, _apply(buf[off + 10] << 8 | buf[off + 11], t.d_ip))
        buf[off + 12:off + 16] = maddr
        stats.out += 1
        return NAPT_PASS

    @staticmethod
    def _set_src(buf: bytearray, off: int, old: bytes, new: bytes) -> None:
        """The IP source address replaced, the header checksum adjusted."""
        _H.pack_into(buf, off + 10, csum_adjust(buf[off + 10] << 8 | buf[off + 11], _sum32(old), _sum32(new)))
        buf[off + 12:off + 16] = new

    @staticmethod
    def _set_dst(buf: bytearray, off: int, old: bytes, new: bytes) -> None:
        _H.pack_into(buf, off + 10, csum_adjust(buf[off + 10] << 8 | buf[off + 11], _sum32(old), _sum32(new)))
        buf[off + 16:off + 20] = new

    def _rewrite_src(self, buf: bytearray, off: int, t_off: int, proto: int, src: bytes, sport: int, maddr: bytes,
                     mport: int, partial: bool = False) -> None:
        """Source address and port of a TCP or UDP packet replaced, both checksums adjusted (RFC 1624); a partial
        transport checksum (the pseudo-header sum, not complemented) follows the address alone."""
        at = t_off + (16 if proto == IP_PROTO_TCP else 6)
        csum = buf[at] << 8 | buf[at + 1]
        if partial:
            _H.pack_into(buf, at, ~csum_adjust(~csum & 0xFFFF, _sum32(src), _sum32(maddr)) & 0xFFFF)
        elif proto == IP_PROTO_TCP or csum:
            csum = csum_adjust(csum, _sum32(src) + sport, _sum32(maddr) + mport)
            _H.pack_into(buf, at, csum if csum or proto == IP_PROTO_TCP else 0xFFFF)
        _H.pack_into(buf, t_off, mport)
        self._set_src(buf, off, src, maddr)

    def _rewrite_dst(self, buf: bytearray, off: int, t_off: int, proto: int, dst: bytes, dport: int, daddr: bytes,
                     port: int, partial: bool = False) -> None:
        at = t_off + (16 if proto == IP_PROTO_TCP else 6)
        csum = buf[at] << 8 | buf[at + 1]
        if partial:
            _H.pack_into(buf, at, ~csum_adjust(~csum & 0xFFFF, _sum32(dst), _sum32(daddr)) & 0xFFFF)
        elif proto == IP_PROTO_TCP or csum:
            csum = csum_adjust(csum, _sum32(dst) + dport, _sum32(daddr) + port)
            _H.pack_into(buf, at, csum if csum or proto == IP_PROTO_TCP else 0xFFFF)
        _H.pack_into(buf, t_off + 2, port)
        self._set_dst(buf, off, dst, daddr)

    # -- the way in --------------------------------------------------------------------------------------------------
    def recv(self, packet: memoryview, partial: bool = False) -> Pbuf | None:
        """``ip_napt_recv``: ``packet`` (a whole IPv4 datagram) came in on an outside netif for that netif's address.
        When it belongs to a translated flow or a port map, a copy with the destination translated back (ready to be
        forwarded, headroom in front); else None (it is for this stack).  ``partial`` as for :meth:`forward`."""
        ihl = (packet[0] & 0x0F) << 2
        proto = packet[9]
        tlen = len(packet) - ihl
        if proto == IP_PROTO_ICMP:
            if tlen < 8:
                return None
            kind = packet[ihl]
            if kind == _ICMP_ECHO_REPLY:
                ident = packet[ihl + 4] << 8 | packet[ihl + 5]
                t = self.by_mport.get((IP_PROTO_ICMP, ident))
                if t is None or t.dest != packet[12:16]:
                    return None
                self._touch(t)
                pbuf = Pbuf.with_payload(packet)
                buf, off = pbuf.buf, pbuf.start
                t_off = off + ihl
                if t.sport != ident:
                    _H.pack_into(buf, t_off + 2, csum_adjust(buf[t_off + 2] << 8 | buf[t_off + 3], ident, t.sport))
                    _H.pack_into(buf, t_off + 4, t.sport)
                self._set_dst(buf, off, bytes(packet[16:20]), t.src)
                self.stats.inbound += 1
                return pbuf
            if kind in _ICMP_ERRORS:
                return self._icmp_error_in(packet, ihl, tlen)
            return None
        if proto != IP_PROTO_TCP and proto != IP_PROTO_UDP:
            return None
        if tlen < (20 if proto == IP_PROTO_TCP else 8):
            return None
        sport = packet[ihl] << 8 | packet[ihl + 1]
        dport = packet[ihl + 2] << 8 | packet[ihl + 3]
        dst = bytes(packet[16:20])
        pm = self._pm_in.get((proto, dport)) if self._pm_in else None
        if pm is not None:
            pbuf = Pbuf.with_payload(packet)
            self._rewrite_dst(pbuf.buf, pbuf.start, pbuf.start + ihl, proto, dst, dport, pm.daddr.packed, pm.dport,
                              partial)
            self.stats.inbound += 1
            return pbuf
        t = self.by_mport.get((proto, dport))
        if t is None or t.dport != sport or t.dest != packet[12:16]:
            return None  # unknown session: for this stack
        self._touch(t)
        pbuf = Pbuf.with_payload(packet)
        buf, off = pbuf.buf, pbuf.start
        t_off = off + ihl
        if proto == IP_PROTO_TCP:
            flags = buf[t_off + 13]
            if flags & (_TCP_SYN | _TCP_ACK) == _TCP_SYN | _TCP_ACK:
                t.synack = True
            if flags & _TCP_FIN:
                t.fin1 = True
            if t.fin2 and flags & _TCP_ACK:
                t.finack2 = True
            if flags & _TCP_RST:
                t.rst = True
            t.dest_seqno = _next_seqno(buf, t_off, tlen, flags, t.dest_seqno)
        if t.maddr != dst:
            self._rewrite_dst(buf, off, t_off, proto, dst, dport, t.src, t.sport, partial)
            self.stats.inbound += 1
            return pbuf
        at = t_off + 16 if proto == IP_PROTO_TCP else t_off + 6
        csum = buf[at] << 8 | buf[at + 1]
        if partial:
            _H.pack_into(buf, at, _fold(csum + t.d_ip_back))
        elif proto == IP_PROTO_TCP:
            _H.pack_into(buf, at, _apply(csum, t.d_t_back))
        elif csum:
            _H.pack_into(buf, at, _apply(csum, t.d_t_back) or 0xFFFF)
        _H.pack_into(buf, t_off + 2, t.sport)
        _H.pack_into(buf, off + 10, _apply(buf[off + 10] << 8 | buf[off + 11], t.d_ip_back))
        buf[off + 16:off + 20] = t.src
        self.stats.inbound += 1
        return pbuf

    def _touch(self, t: NaptEntry) -> None:
        t.last = self.stack.now
        self.table.move_to_end((t.proto, t.src, t.sport))

    def _session(self, proto: int, src: bytes, sport: int, dst: bytes, dport: int) -> NaptEntry | None:
        """The entry of inside ``src:sport``'s flow to ``dst:dport``, touched; None when there is no such flow."""
        t = self.table.get((proto, src, sport))
        if t is None or t.dest != dst or t.dport != dport:
            return None
        self._touch(t)
        return t

    # -- ICMP errors -------------------------------------------------------------------------------------------------
    def _icmp_error_in(self, packet: memoryview, ihl: int, tlen: int) -> Pbuf | None:
        """An ICMP error from outside quoting a packet we translated (from our address and a mapped port): the
        destination and the quoted source go back to the inside host's."""
        q = ihl + 8  # the quoted IP header
        if tlen < 8 + 20 + 8 or packet[q] >> 4 != 4:
            return None
        qihl = (packet[q] & 0x0F) << 2
        qt = q + qihl
        if qihl < 20 or qt + 8 > len(packet):
            return None
        qproto = packet[q + 9]
        if packet[q + 12:q + 16] != packet[16:20]:
            return None  # it quotes a packet from another address than the one the error came to
        qsport = packet[qt] << 8 | packet[qt + 1]
        if qproto == IP_PROTO_ICMP:
            if packet[qt] != _ICMP_ECHO:
                return None
            qsport = packet[qt + 4] << 8 | packet[qt + 5]
        elif qproto != IP_PROTO_TCP and qproto != IP_PROTO_UDP:
            return None
        pm = self._pm_in.get((qproto, qsport)) if qproto != IP_PROTO_ICMP else None
        if pm is not None:
            new_src, new_port = pm.daddr.packed, pm.dport
        else:
            t = self.by_mport.get((qproto, qsport))
            if t is None or t.dest != packet[q + 16:q + 20]:
                return None
            new_src, new_port = t.src, t.sport
        pbuf = Pbuf.with_payload(packet)
        buf, off = pbuf.buf, pbuf.start
        self._rewrite_quoted(buf, off + q, off + len(packet), qproto, True, new_src, new_port)
        _H.pack_into(buf, off + ihl + 2, 0)
        _H.pack_into(buf, off + ihl + 2, checksum(memoryview(buf)[off + ihl:off + len(packet)]))
        self._set_dst(buf, off, bytes(packet[16:20]), new_src)
        self.stats.icmp_errors += 1
        self.stats.inbound += 1
        return pbuf

    def _icmp_error_out(self, buf: bytearray, off: int, t_off: int, tlen: int, src: bytes, maddr: bytes) -> None:
        """An ICMP error from an inside host quoting a packet that came in through the translation (to the inside host
        and port): the source and the quoted destination become the mapped address and port."""
        q = t_off + 8
        end = off + (buf[off + 2] << 8 | buf[off + 3])
        if tlen < 8 + 20 + 8 or buf[q] >> 4 != 4:
            return
        qihl = (buf[q] & 0x0F) << 2
        qt = q + qihl
        if qihl < 20 or qt + 8 > end or buf[q + 16:q + 20] != src:
            return
        qproto = buf[q + 9]
        if qproto == IP_PROTO_ICMP:
            if buf[qt] != _ICMP_ECHO_REPLY:
                return
            qdport = buf[qt + 4] << 8 | buf[qt + 5]
        elif qproto == IP_PROTO_TCP or qproto == IP_PROTO_UDP:
            qdport = buf[qt + 2] << 8 | buf[qt + 3]
        else:
            return
        pm = self._pm_out.get((qproto, src, qdport)) if qproto != IP_PROTO_ICMP else None
        if pm is not None:
            new_addr, new_port = pm[1], pm[0].mport
        else:
            t = self.table.get((qproto, src, qdport))
            if t is None or t.dest != buf[q + 12:q + 16]:
                return
            new_addr, new_port = t.maddr, t.mport
        self._rewrite_quoted(buf, q, end, qproto, False, new_addr, new_port)
        _H.pack_into(buf, t_off + 2, 0)
        _H.pack_into(buf, t_off + 2, checksum(memoryview(buf)[t_off:end]))
        self._set_src(buf, off, src, new_addr)
        self.stats.icmp_errors += 1

    @staticmethod
    def _rewrite_quoted(buf: bytearray, q: int, end: int, qproto: int, source: bool, addr: bytes, port: int) -> None:
        """In a quoted packet at ``buf[q:]``, the source (``source``) or destination address and port replaced, with
        the quoted IP header checksum and, when quoted, the transport checksum adjusted."""
        qihl = (buf[q] & 0x0F) << 2
        qt = q + qihl
        a_at = q + (12 if source else 16)
        old_addr = bytes(buf[a_at:a_at + 4])
        _H.pack_into(buf, q + 10, csum_adjust(buf[q + 10] << 8 | buf[q + 11], _sum32(old_addr), _sum32(addr)))
        buf[a_at:a_at + 4] = addr
        if qproto == IP_PROTO_ICMP:
            old_port = buf[qt + 4] << 8 | buf[qt + 5]
            _H.pack_into(buf, qt + 2, csum_adjust(buf[qt + 2] << 8 | buf[qt + 3], old_port, port))
            _H.pack_into(buf, qt + 4, port)
            return
        p_at = qt + (0 if source else 2)
        old_port = buf[p_at] << 8 | buf[p_at + 1]
        _H.pack_into(buf, p_at, port)
        c_at = qt + (16 if qproto == IP_PROTO_TCP else 6)
        if c_at + 2 <= end:
            csum = buf[c_at] << 8 | buf[c_at + 1]
            if qproto == IP_PROTO_TCP or csum:
                csum = csum_adjust(csum, _sum32(old_addr) + old_port, _sum32(addr) + port)
                _H.pack_into(buf, c_at, csum if csum or qproto == IP_PROTO_TCP else 0xFFFF)

