"""ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo, and the error messages the stack sends and reads.

Errors are never sent about an ICMP error, a broadcast or multicast packet, a non-first fragment, or a packet whose
source is not a host (RFC 1122 3.2.2); they are rate-limited by a token bucket (RFC 1812 4.3.2.8), ``icmp_ratelimit_*``.
Echo replies are not limited.  Errors received are passed to the transport that sent the quoted packet
(``stack.icmp_error_handlers[proto]``), so a connected UDP pcb learns of a port unreachable.
"""

from __future__ import annotations

import os
import struct
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable

from ..errors import ChecksumError, LwipError, Malformed
from ..wire import icmp as w
from ..wire.checksum import from_bytes as _from_bytes
from ..wire.icmp import IcmpHeader
from ..wire.ipv4 import PROTO_ICMP, Ipv4Header
from .addr import ANY4 as _ANY, is_multicast4
from .device import NetDevice, RxOffload
from .hooks import esp_ip4_route_src
from .pbuf import Pbuf
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .etharp import ArpEntry
    from .ip4 import InPacket
    from .netif import Netif
    from .stack import Stack

__all__ = ["Icmp", "IcmpErrorHandler"]

# RFC 792 quotes the IP header and the first 8 bytes of the payload; that is what lwIP sends (ICMP_DEST_UNREACH_DATASIZE)
_QUOTE = 8

IcmpErrorHandler = Callable[[int, int, Ipv4Header, memoryview], None]

# the echo fast path (Icmp.fast_echo): Ethernet dst (skip src) type | IPv4 ver/ihl tos total ident frag (ttl proto
# csum: the protocol byte is tested before) src dst | ICMP type code checksum; the source as an integer (a dict keyed
# by an int hashes it for free)
_ECHO_IN = struct.Struct("!6s6xHBBHHH4xI4sBBH")
# the reply's Ethernet, IPv4 and ICMP type/code/checksum fields, packed in one go
_ECHO_OUT = struct.Struct("!6s6sHBBHHHBBH4sIBBH")
_CSUM = struct.Struct("!H")
_FOLD = 0xFFFF
# s24: the quiet echo (Icmp.quiet_echo).  What it holds a request's first 38 bytes to: Ethernet destination (skip the
# source) and type, IPv4 version/IHL, type of service, total length (skip the identification), flags and fragment
# offset (skip the TTL), protocol (skip the header checksum), both addresses, ICMP type and code (skip the checksum);
# and which of those bytes it holds (0xFF), as a mask
_QUIET_HELD = struct.Struct("!6s6xHBBH2xH1xB2xI4sBB2x")
_QUIET_MASK = _QUIET_HELD.pack(b"\xff" * 6, 0xFFFF, 0xFF, 0xFF, 0xFFFF, 0xFFFF, 0xFF, 0xFFFFFFFF, b"\xff" * 4, 0xFF, 0xFF)
# the reply's first 38 bytes, written over the request: both MACs, type, version/IHL, type of service and total length
# | identification | flags and fragment offset, TTL, protocol | header checksum | both addresses, ICMP type and code
# (0, 0: an echo reply) | ICMP checksum
_QUIET_OUT = struct.Struct("!18sH4sH10sH")
# its pieces: type, version/IHL, type of service and total length (after the MACs); flags and fragment offset, TTL and
# protocol
_QUIET_PREFIX = struct.Struct("!HBBH")
_QUIET_MIDDLE = struct.Struct("!HBB")


class _EchoWay:
    """What :meth:`Icmp.fast_echo` keeps per source (an integer): the generations and wiring it was worked out under,
    the netif, the ARP entry of the way back (None: the full way answers), and the sum of the reply's fixed header
    fields."""

    __slots__ = ("source", "routes_generation", "arp_generation", "netif", "entry", "wiring", "header_sum")

    def __init__(self, source: int, routes_generation: int, arp_generation: int, netif: "Netif",
                 entry: "ArpEntry | None", wiring: tuple, header_sum: int) -> None:
        self.source = source
        self.routes_generation = routes_generation
        self.arp_generation = arp_generation
        self.netif = netif
        self.entry = entry
        self.wiring = wiring
        self.header_sum = header_sum


class Icmp:
    """The ICMP layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._bucket = TokenBucket(stack)
        #: the echo fast path (:meth:`fast_echo`) on; False sends every ping the full way
        self.fast_path = True
        #: echo requests the fast path answered, and of those the replies the device refused (tallies that
        #: :attr:`Stack.stats <lwipy.core.stack.Stack.stats>` folds into the counters: they only grow)
        self.fast_echoes = 0
        self.fast_refused = 0
        # source (an integer) -> the way back to it (fast_echo)
        self._echo_ways: dict[int, _EchoWay] = {}
        # the way of fast_echo's last answer: what a quiet call may take as it found it (see fast_echo)
        self._answered: _EchoWay | None = None
        #: s24: the answer to the next ping like the one :meth:`fast_echo` last answered in a lent buffer, for a
        #: caller that knows nothing ran on the stack since (its ``quiet``): ``quiet_echo(buffer, length, now) ->
        #: bool``, or None (see :meth:`fast_echo`)
        self.quiet_echo: Callable[[memoryview, int, float], bool] | None = None
        cfg = stack.config  # frozen, and a stack's for life: what the fast path reads of it, read once
        self._echo_on = cfg.icmp and cfg.ipv4
        self._check_ip = cfg.checksum_check_ip
        self._check_icmp = cfg.checksum_check_icmp
        self._ttl = cfg.ip_default_ttl
        # the bound methods the fast path compares with what the stack holds (made once, not per ping)
        self._full_input = self.input
        self._eth_output = stack.ethernet.output
        self._eth_output_ip4 = stack.ethernet.output_ip4
        self._eth_input = stack.ethernet.input

    # -- input -------------------------------------------------------------------------------------------------------
    def fast_echo(self, netif: "Netif", frame: bytes | bytearray | memoryview, now: float | None = None,
                  quiet: bool = False, lent: int | None = None) -> bool:
        """The echo fast path: answer an ordinary ping (an untagged IPv4 echo request without options or fragments,
        unicast to ``netif``'s MAC and address, from an on-link or routed peer whose MAC the ARP cache holds) from one
        parse of the frame, writing the reply's Ethernet, IPv4 and ICMP headers in one struct into one buffer.  The
        reply, the counters and the stack's state are those of the full way (``ethernet_input``, ``ip4_input``,
        ``icmp_input``, ``ip4_output_if``, ``etharp_output``; ``tests/core/test_icmp_fast_echo.py`` compares both).
        False, with nothing changed, for anything else (hooks, raw pcbs, NAPT, an ARP entry to refresh, a bad
        checksum...): the full way then takes the frame and answers or counts what is wrong with it.  ``now``, when
        given, is the stack's time from now on (what :meth:`Stack.input` would set), for a loop that tries this
        first (:attr:`Stack.fast_answer`).

        Short, because a ping to an idle stack meets a process whose caches went cold while it slept: every
        instruction and object on the way to the reply costs several times what it costs warm.  So the way back
        (route, ARP entry, the sum of the reply's fixed header fields) is kept per source until the routes, the ARP
        table or what the stack is wired to (hooks, protocol handlers, outputs, NAPT) change, the configuration is
        read once, the reply's ICMP checksum is the request's adjusted for the type (RFC 1624, as lwIP's
        ``icmp_input`` does) instead of a second sum over the data, and the counters are counted after the write.

        ``quiet`` is the caller's word that nothing has run on the stack since this method last answered (returned
        True): no frame, timer or call, in no thread.  What that answer found of the stack's wiring, routes, ARP
        table, raw pcbs and the netif's state then still holds, and a ping from the same source on the same netif is
        answered without looking at them again; only what belongs to the frame (its addresses, length, checksum)
        and the time (the ARP entry's age) are checked.  :class:`~lwipy.api.loop.StackLoop` says so when the loop
        only slept since the last answer, as between the pings of a ping to an idle stack.

        ``lent``, when given: ``frame`` is a writable buffer lent for this call (a memoryview), its first ``lent``
        bytes the frame, and the reply is written over the request in it instead of into a copy: no buffer is
        allocated for the frame or the reply (the ping lane of :class:`~lwipy.api.loop.StackLoop` reads every
        request into one buffer kept for it: at 10 ms intervals on the VM, p50 4-7 % lower with ping and stack on one
        CPU over three A/B runs, 0-8 % otherwise, within the noise).  It changes only when True is returned; an IPv6
        frame is answered from a copy.

        s24: an IPv4 request answered in a lent buffer (with ``checksum_check_icmp`` on and ``checksum_check_ip`` off,
        ESP-IDF's defaults) leaves
        :attr:`quiet_echo`: the answer to the next request like it, for a caller that knows nothing ran on the stack
        since (its ``quiet``; the loop's ping lane).  Like it: the same length, netif, source, destination, type of
        service, flags, ICMP code and the rest of the headers but the identification, the TTL, the checksums and the
        data, which are all a ping changes.  It checks only those, the ICMP checksum and the ARP entry's age, and
        writes the reply from the pieces this answer worked out: from a cold wake-up on the VM, about 15 us less
        before the write than this method (its reply, counters and time are this method's: the tests compare them).
        Any other call of this method, whatever it returns, takes it away first."""
        self.quiet_echo = None
        if type(frame) is RxOffload or not self.fast_path:
            # (off9: a device with offload hands it a partial checksum or a super-segment as an RxOffload, never an
            # ordinary ping: the full way)
            return False
        size = len(frame) if lent is None else lent
        if size < 42:
            return False
        if frame[23] != PROTO_ICMP:  # (the protocol byte early: the loop tries every frame that wakes it here)
            # s21: an IPv6 frame (its byte 23 is its source's) to ICMPv6's echo answer
            return frame[12] == 0x86 and self.stack.icmp6.fast_echo(netif, frame if lent is None else frame[:lent], now)
        (dst_mac, ethertype, vihl, tos, total, ident, frag, src, dst, type_, code, csum) = _ECHO_IN.unpack_from(frame)
        if type_ != 8 or vihl != 0x45 or ethertype != 0x0800 or frag & 0x3FFF:
            # (frag: no fragment; DF and the reserved flag may be set: the reply keeps them); s21: IPv6's as above
            return ethertype == 0x86DD and self.stack.icmp6.fast_echo(netif, frame if lent is None else frame[:lent], now)
        stack = self.stack
        if now is not None:
            stack.now = now
        way = self._answered
        if not quiet or way is None or way.source != src or way.netif is not netif:
            hooks = stack.hooks
            wiring = (hooks.ip4_input, hooks.ip4_route_src, stack.protocols.get(PROTO_ICMP), stack._link_output,
                      netif.input, netif.output, stack.napt.netif)
            way = self._echo_ways.get(src)
            if way is None or way.netif is not netif or way.routes_generation != stack.routes.generation \
                    or way.arp_generation != stack.etharp.generation or way.wiring != wiring:
                way = self._echo_way(netif, src, wiring)
            if way.entry is None or not netif.link_up or stack.raw.pcbs or stack.rx_offload is not None:
                return False
        end = 14 + total
        # (Netif.rx_mac, as TCP's header prediction compares it: the netif's MAC while it is up and untagged, else
        # None, which no frame's destination equals)
        if dst_mac != netif.rx_mac or dst != netif.ip4_packed or total < 28 or end > size or total > netif.mtu:
            return False
        if self._check_ip and _from_bytes(frame[14:34]) % _FOLD:
            return False  # a right header sums to all ones, 0 modulo 0xFFFF
        reply_csum = 0  # not known yet (a right one is never 0: see below)
        if self._check_icmp:
            v = _from_bytes(frame[34:end])
            if total & 1:
                v <<= 8
            if not v or v % _FOLD:
                return False  # the ones' sum of a right message is all ones (wire.checksum.verify)
            # the reply's sum is the request's (0 modulo 0xFFFF) less its checksum field, type and code (the reply
            # has type 0, code 0); a residue 0 is ambiguous (all ones, or a message of zeros): summed below instead
            r = -(csum + 0x0800 + code) % _FOLD
            if r:
                reply_csum = _FOLD - r
        # ArpEntry.ready_mac, inline: nothing but the reply's own work runs between a wake-up and the reply's write
        # (tests/core/test_loop_latency.py)
        entry = way.entry
        mac = entry.mac
        if mac is None or stack.now >= entry.refresh_at:  # (way13: refresh_due's threshold, ArpEntry.refresh_at)
            return False  # to resolve, or to refresh: etharp_output's work
        # the identifier, sequence number and data echoed; the headers rewritten (call12: the frame copied once when
        # it ends with the packet, as it does but for link padding: no slice copied first, 31 ns), or in the buffer
        # lent
        if lent is not None:
            buf = frame[:end]
        else:
            buf = bytearray(frame) if size == end else bytearray(frame[:end])
        # the header's sum: the fixed fields' (kept with the way) and the four the request gives (lwIP keeps its
        # type of service, identification and flags); 2**16 is 1 modulo 0xFFFF
        v = way.header_sum + tos + total + ident + frag
        _ECHO_OUT.pack_into(buf, 0, mac, dst_mac, 0x0800, 0x45, tos, total, ident, frag, self._ttl, PROTO_ICMP,
                            _FOLD - (v % _FOLD or _FOLD), dst, src, 0, 0, reply_csum)
        if not reply_csum:  # the checksum as wire.checksum.checksum computes it: the complement of the folded sum
            v = _from_bytes(buf[34:])
            if total & 1:
                v <<= 8
            _CSUM.pack_into(buf, 36, _FOLD - ((v % _FOLD or _FOLD) if v else 0))
        device = netif.device
        sent = device.transmit(buf)
        self._answered = way
        if lent is not None and self._check_icmp and not self._check_ip:
            self.quiet_echo = self._quiet_echo(way, device, size, end, dst_mac, tos, total, frag, src, dst, code)
        self._echo_counted(sent)  # (after the write: the reply is on its way first)
        return True

    def _echo_counted(self, sent: bool) -> None:
        """The counters of a reply the echo fast path (:meth:`fast_echo`, :attr:`quiet_echo`) handed to the device, as
        the full way counts them: stats14, by one tally (link.recv, ip.recv, icmp.recv, ip.xmit, etharp.cachehit,
        link.xmit, icmp.xmit) that Stack.stats folds in when read; a refused reply (``sent`` False) also by
        fast_refused (the fold then counts no xmit for it) and here."""
        self.fast_echoes += 1
        if not sent:
            self.fast_refused += 1
            stats = self.stack._stats
            stats.link_refused(stats.icmp)

    def _quiet_echo(self, way: _EchoWay, device: NetDevice, size: int, end: int, dst_mac: bytes, tos: int, total: int,
                    frag: int, src: int, dst: bytes, code: int) -> Callable[[memoryview, int, float], bool]:
        """:attr:`quiet_echo` after :meth:`fast_echo` answered the request of ``size`` bytes (``end``: its packet's)
        with these fields, by ``way`` and ``device``: a request is like it when its first 38 bytes, read as one
        integer with the rest of the packet, equal the answered one's where ``_QUIET_MASK`` holds them.  The reply
        is written to the device's ``tx_fd`` when it has one (a plain TAP: no call of its transmit)."""
        stack = self.stack
        entry = way.entry
        tail = 8 * (end - 38)  # the bits after the headers: the ICMP data
        held = _from_bytes(_QUIET_MASK) << tail
        expect = _from_bytes(_QUIET_HELD.pack(dst_mac, 0x0800, 0x45, tos, total, frag, PROTO_ICMP, src, dst, 8, code)) \
            << tail
        message = (1 << 8 * (end - 34)) - 1  # the ICMP message's bits (for its checksum)
        ident_at, csum_at = tail + 8 * 18, tail  # the identification's and the ICMP checksum's lowest bits
        adjust = 0x0800 + code  # the request's type and code, less the reply's (RFC 1624, as fast_echo)
        prefix = entry.mac + dst_mac + _QUIET_PREFIX.pack(0x0800, 0x45, tos, total)
        middle = _QUIET_MIDDLE.pack(frag, self._ttl, PROTO_ICMP)
        addresses = dst + src.to_bytes(4, "big") + b"\0\0"  # (and the reply's type and code)
        header_sum = way.header_sum + tos + total + frag
        icmp = self
        write = os.write
        counted = self._echo_counted

        def quiet_echo(frame: memoryview, length: int, now: float) -> bool:
            """The reply to ``frame``'s first ``length`` bytes written over them, when it is a request like the one
            answered (else False, nothing changed)."""
            if length != size:
                return False
            packet = frame[:end]
            v = _from_bytes(packet)
            if v & held != expect or now >= entry.refresh_at or not icmp.fast_path:
                return False
            if (v & message) % _FOLD:
                return False  # (a right message sums to 0 modulo 0xFFFF; it is not all zeros: its type is 8)
            ident = v >> ident_at & 0xFFFF
            r = -((v >> csum_at & 0xFFFF) + adjust) % _FOLD
            if not r:
                return False  # (fast_echo sums the reply instead)
            _QUIET_OUT.pack_into(frame, 0, prefix, ident, middle, _FOLD - ((header_sum + ident) % _FOLD or _FOLD),
                                 addresses, _FOLD - r)
            stack.now = now  # (before the write, as fast_echo: a device that raises leaves the same time)
            fd = device.tx_fd
            if fd is None:
                sent = device.transmit(packet)
            else:
                try:
                    write(fd, packet)
                    sent = True
                except OSError as error:
                    sent = device.transmit_failed(error)
            counted(sent)
            return True

        return quiet_echo

    def _echo_way(self, netif: "Netif", source: int, wiring: tuple) -> "_EchoWay":
        """The way back to ``src`` for :meth:`fast_echo`, as ``ip4_input``'s source checks, ``ip4_route_src`` (with
        ESP-IDF's source-based hook) and ``etharp_output`` decide it, with ``entry`` the ARP entry of the next hop,
        or None when the full way must answer (or create the entry), or the stack is wired to anything but the
        plain way (``wiring``: an ``ip4_input`` hook, another ``ip4_route_src`` than ESP-IDF's, another ICMP
        handler, link output or netif input/output than Ethernet's, NAPT on another netif).  Kept per source until
        the routes change (their generation moves on with every netif address, state or route change), ARP entries
        come or go (an entry's MAC and state are read live), or the wiring changes."""
        stack = self.stack
        routes = stack.routes
        etharp = stack.etharp
        entry = None
        header_sum = 0
        src = source.to_bytes(4, "big")
        s0 = src[0]
        found = routes.lookup_packed(src)
        ip4_input, route_src, icmp_input, link_output, netif_input, netif_output, napt_netif = wiring
        if self._echo_on and ip4_input is None and (route_src is None or route_src is esp_ip4_route_src) \
                and icmp_input == self._full_input and link_output == self._eth_output \
                and netif_input == self._eth_input and netif_output == self._eth_output_ip4 \
                and (napt_netif is None or napt_netif is netif) and netif.ip4_packed is not None \
                and not (s0 == 0 or s0 == 127 or s0 >= 224 or src == netif.broadcast4_packed
                         or source in stack._own4) and found is not None and found[0] is netif \
                and routes.netif_with_address(IPv4Address(netif.ip4_packed)) is netif:
            next_hop = found[1]
            nh = next_hop.packed
            if not (nh[0] >= 224 or nh == netif.broadcast4_packed or nh == b"\xff\xff\xff\xff"
                    or stack.loops_back(netif, next_hop)):
                entry = etharp.table.get((netif.index, next_hop))
                # the reply's version and header length, TTL and protocol, and addresses, summed as 16-bit words
                header_sum = (0x4500 + (self._ttl << 8 | PROTO_ICMP) + _from_bytes(netif.ip4_packed)
                              % _FOLD + source % _FOLD)
        ways = self._echo_ways
        if len(ways) >= 64:
            ways.clear()
        way = ways[source] = _EchoWay(source, routes.generation, etharp.generation, netif, entry, wiring, header_sum)
        return way

    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stack = self.stack
        if not stack.config.icmp:  # CONFIG_LWIP_ICMP off: ip4_input knows no such transport (raw pcbs still see it)
            stack._stats.ip.proterr += 1
            stack._stats.ip.drop += 1
            return
        stats = stack._stats.icmp
        stats.recv += 1
        try:
            hdr, body = IcmpHeader.parse(data, stack.config.checksum_check_icmp)
        except ChecksumError:
            stats.chkerr += 1
            stats.drop += 1
            return
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        if hdr.type == w.ECHO_REQUEST:
            # lwIP's icmp_input: a ping to a multicast group or a broadcast address is answered only with
            # LWIP_MULTICAST_PING / LWIP_BROADCAST_PING (both off in ESP-IDF), from the receiving netif's address
            cfg = stack.config
            if (pkt.multicast and not cfg.multicast_ping) or (pkt.broadcast and not cfg.broadcast_ping) \
                    or pkt.link_broadcast and not (pkt.multicast or pkt.broadcast):
                stats.drop += 1
                return
            self._echo_reply(pkt, hdr, body)
        elif hdr.type in (w.DEST_UNREACH, w.TIME_EXCEEDED, w.PARAM_PROBLEM, 4, 5):
            self._error_input(hdr, body)
        elif hdr.type != w.ECHO_REPLY:
            stats.proterr += 1
            stats.drop += 1

    def _echo_reply(self, pkt: "InPacket", req: IcmpHeader, body: memoryview) -> None:
        """The reply as lwIP's ``icmp_input`` makes it: the request turned round, its IPv4 header kept (type of
        service, identification, the flags: don't-fragment and the reserved one, options) but for the addresses,
        swapped, and the TTL, set to ``ICMP_TTL``; sent with ``LWIP_IP_HDRINCL``, so it takes no identification of
        ours."""
        pbuf = Pbuf.with_payload(body)
        off = pbuf.push(w.HEADER_LEN)
        IcmpHeader(w.ECHO_REPLY, 0, req.rest).emit(pbuf.buf, off, len(body))
        src = pkt.netif.ip4_addr if pkt.multicast or pkt.broadcast else pkt.dst
        hdr = pkt.hdr
        try:
            self.stack.ip4.output(pbuf, src, pkt.src, PROTO_ICMP, ttl=self._ttl, tos=hdr.tos, ident=hdr.ident,
                                  dont_fragment=hdr.dont_fragment, options=bytes(hdr.options),
                                  reserved_flag=hdr.reserved_flag)
        except LwipError:
            self.stack._stats.icmp.err += 1
            return
        self.stack._stats.icmp.xmit += 1

    def _error_input(self, hdr: IcmpHeader, body: memoryview) -> None:
        try:
            inner, inner_payload = Ipv4Header.parse(_pad_quote(body), check=False)
        except Malformed:
            self.stack._stats.icmp.lenerr += 1
            self.stack._stats.icmp.drop += 1
            return
        handler = self.stack.icmp_error_handlers.get(inner.proto)
        if handler is not None:
            handler(hdr.type, hdr.code, inner, inner_payload)

    # -- errors we send ----------------------------------------------------------------------------------------------
    def send_error(self, pkt: "InPacket", type_: int, code: int, rest: int = 0) -> None:
        """Answer ``pkt`` with an ICMP error, unless RFC 1122 3.2.2 forbids it or the rate limit says no."""
        hdr = pkt.hdr
        if not pkt.unicast or hdr.frag_offset or pkt.src == _ANY or is_multicast4(pkt.src):
            return
        if pkt.netif.is_broadcast4(pkt.src):
            return
        if hdr.proto == PROTO_ICMP:
            quoted = pkt.packet[hdr.header_len:]
            if len(quoted) < 1 or quoted[0] not in (w.ECHO_REQUEST, w.ECHO_REPLY):
                return  # never an error about an error (or about an ICMP message we cannot read)
        self._send_error(pkt.src, pkt.packet[:hdr.header_len + _QUOTE], type_, code, rest)

    def time_exceeded_reassembly(self, netif: "Netif", first_hdr: Ipv4Header, first_packet: bytes) -> None:
        """RFC 792: a datagram whose fragment zero arrived but which did not complete in time."""
        src = IPv4Address(first_hdr.src)
        if src == _ANY or is_multicast4(src) or netif.is_broadcast4(src) or first_hdr.dst[0] >> 4 == 0xE:
            return
        self._send_error(src, memoryview(first_packet), w.TIME_EXCEEDED, w.TE_FRAG, 0)

    def _send_error(self, dst: IPv4Address, quote: memoryview, type_: int, code: int, rest: int) -> None:
        if not self.stack.config.icmp:
            return  # CONFIG_LWIP_ICMP off: lwIP has no icmp_dest_unreach / icmp_time_exceeded to call
        if not self._bucket.take():
            self.stack._stats.icmp.drop += 1
            return
        pbuf = Pbuf.with_payload(quote)
        IcmpHeader(type_, code, rest).emit(pbuf.buf, pbuf.push(w.HEADER_LEN), len(quote))
        try:
            self.stack.ip4.output(pbuf, None, dst, PROTO_ICMP)
        except LwipError:
            self.stack._stats.icmp.err += 1
            return
        self.stack._stats.icmp.xmit += 1


def _pad_quote(body: memoryview) -> memoryview:
    """A quoted datagram's total length names the original size; the quote is shorter.  Parse what is there."""
    if len(body) < 20:
        return body
    total = _from_bytes(body[2:4])
    if total <= len(body):
        return body
    fixed = bytearray(body)
    fixed[2:4] = len(body).to_bytes(2, "big")
    return memoryview(fixed)
