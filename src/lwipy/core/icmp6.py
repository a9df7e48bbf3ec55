"""ICMPv6 (RFC 4443) for one stack: echo, the errors the stack sends and reads, and the dispatch of neighbour
discovery and MLD messages to :mod:`lwipy.core.nd6` and :mod:`lwipy.core.mld6`.

Errors are not sent (RFC 4443 2.4 (e)) about an ICMPv6 error or a redirect, about a packet sent to a multicast
group or a link-layer multicast or broadcast, or about a packet whose source is unspecified or multicast; except
that a parameter problem for an unknown option whose type asks for it (RFC 8200 4.2, action 10) goes also to a
multicast packet's source.  They carry as much of the invoking packet as fits in the minimum MTU of 1280 and are
rate-limited (2.4 (f)) by a token bucket (``icmp_ratelimit_*``).  Echo requests to a multicast group get no answer
(lwIP's default, LWIP_MULTICAST_PING 0).

s21: an ordinary echo request (to one of the netif's usable unicast addresses, ICMPv6 right after the IPv6 header,
from a neighbour ready to be written to) is answered by :meth:`Icmp6.fast_echo` from one parse of the frame, as
:meth:`Icmp.fast_echo <lwipy.core.icmp.Icmp.fast_echo>` answers IPv4's: the same reply, counters and neighbour
cache as the full way (``tests/core/test_icmp6_fast_echo.py`` compares both).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable

from ..errors import ChecksumError, LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.icmpv6 import Icmp6Header
from ..wire.checksum import data_sum as _data_sum
from ..wire.ipv6 import HEADER_LEN, Ipv6Header
from .addr6 import is_multicast6, is_unspecified6
from .device import RxOffload
from .pbuf import Pbuf
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Icmp6", "EchoHandler"]

MIN_MTU = 1280
#: ``handler(pkt, header, data)`` for an echo reply (ping6 sessions)
EchoHandler = Callable[["InPacket6", Icmp6Header, memoryview], None]
_ND = frozenset({w6.ROUTER_SOLICIT, w6.ROUTER_ADVERT, w6.NEIGHBOR_SOLICIT, w6.NEIGHBOR_ADVERT, w6.REDIRECT})
_MLD = frozenset({w6.MLD_QUERY, w6.MLD_REPORT, w6.MLD_DONE, w6.MLDV2_REPORT})
# the echo fast path (Icmp6.fast_echo): Ethernet dst (skip src) type | IPv6 version, traffic class and flow label,
# payload length, next header, hop limit, source, destination | ICMPv6 type, code, checksum
_ECHO_IN = struct.Struct("!6s6xHIHBB16s16sBBH")
# the reply's Ethernet, IPv6 and ICMPv6 type/code/checksum fields, packed in one go
_ECHO_OUT = struct.Struct("!6s6sHIHBB16s16sBBH")
_CSUM = struct.Struct("!H")
_FOLD = 0xFFFF


class Icmp6:
    """The ICMPv6 layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._bucket = TokenBucket(stack)
        #: called for every echo reply received (ping sessions register here)
        self.echo_handlers: list[EchoHandler] = []
        #: ``handler(type, code, rest, inner header, inner payload)`` per upper-layer protocol, for errors received
        self.error_handlers: dict[int, Callable[[int, int, int, Ipv6Header, memoryview], None]] = {}
        #: s21: the echo fast path (:meth:`fast_echo`) on; False answers every ping the full way
        self.fast_path = True
        #: echo requests the fast path answered, and of those the replies the device refused (tallies that
        #: :attr:`Stack.stats <lwipy.core.stack.Stack.stats>` folds into the counters)
        self.fast_echoes = 0
        self.fast_refused = 0
        # source -> (routes' generation, netif, next hop): the way back (fast_echo)
        self._echo_ways: dict[bytes, tuple] = {}

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, pkt: "InPacket6", data: memoryview) -> None:
        stats = self.stack._stats.icmp6
        stats.recv += 1
        try:
            hdr, body = Icmp6Header.parse(data, pkt.src, pkt.dst)
        except ChecksumError:
            stats.chkerr += 1
            stats.drop += 1
            return
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        t = hdr.type
        if t == w6.ECHO_REQUEST:
            # lwIP's icmp6_input: a ping to a multicast group is answered only with LWIP_MULTICAST_PING
            if not pkt.unicast and not (pkt.multicast and self.stack.config.multicast_ping):
                stats.drop += 1
                return
            self._echo_reply(pkt, hdr, body)
        elif t == w6.ECHO_REPLY:
            for handler in list(self.echo_handlers):
                handler(pkt, hdr, body)
        elif t in _ND:
            self.stack.nd6.input(pkt, data)
        elif t in _MLD:
            self.stack.mld6.input(pkt, data)
        elif t in w6.ERROR_TYPES:
            self._error_input(hdr, body)
        else:
            stats.proterr += 1  # informational messages we do not know are silently discarded (RFC 4443 2.4 (b))
            stats.drop += 1

    def fast_echo(self, netif: "Netif", frame: bytes | bytearray | memoryview, now: float | None = None) -> bool:
        """s21: answer an ordinary ping over IPv6 (an untagged echo request, ICMPv6 right after the IPv6 header, to
        ``netif``'s MAC and one of its usable unicast addresses, from a unicast source whose next hop's neighbour
        entry is ready: ``Nd6.ready``) from one parse of the frame, the reply's Ethernet, IPv6 and ICMPv6 headers
        written by one struct over a copy of the request.  The reply (traffic class kept, flow label 0, the netif's
        hop limit, the checksum the request's adjusted for the type and code: RFC 1624), the counters and the
        neighbour cache are the full way's (``ip6_input``, ``icmp6_input``, ``ip6_output_if``, ``nd6``, Ethernet).
        False, with nothing changed, for anything else (an extension header, a multicast destination, a tentative
        address, hooks, raw pcbs, another ICMPv6 handler, a bad checksum, a reply above the path's MTU, a neighbour
        to resolve or move on...): the full way then takes the frame.  Tried by :meth:`Icmp.fast_echo
        <lwipy.core.icmp.Icmp.fast_echo>` (the loop's fast answer) and by Ethernet's input for an IPv6 frame TCP's
        header prediction did not take.  ``now``, when given, is the stack's time from now on."""
        if not self.fast_path or type(frame) is RxOffload:
            return False
        try:
            dst_mac, ethertype, vtf, plen, nh, _, src, dst, type_, code, csum = _ECHO_IN.unpack_from(frame)
        except struct.error:
            return False
        if type_ != w6.ECHO_REQUEST or nh != w6.PROTO_ICMPV6 or ethertype != 0x86DD or vtf >> 28 != 6:
            return False
        stack = self.stack
        if now is not None:
            stack.now = now
        end = HEADER_LEN + 14 + plen
        if dst_mac != netif.rx_mac or plen < w6.HEADER_LEN or end > len(frame):
            return False
        # (ip6_input's hook, raw pcbs, the handler for next header 58, the destination a usable address of netif:
        # never a group, which no netif holds as an address)
        if stack.ip6_detours(netif, dst, w6.PROTO_ICMPV6):
            return False
        # the sum from the IPv6 source on: a right message and its pseudo-header (its length, next header 58) sum
        # to 0 modulo 0xFFFF (wire.checksum's one integer up to 400 bytes, adler32 beyond)
        if type(frame) is memoryview:
            frame = bytes(frame[:end])
        if (_data_sum(frame[22:end]) + plen + w6.PROTO_ICMPV6) % _FOLD:
            return False
        # the way back: a source the full way drops or cannot answer (a group, ::1, ::) finds no route out of this
        # netif to a neighbour that is ready (the loopback netif, a group's next hop, no entry): the full way's
        way = self._echo_ways.get(src)
        if way is None or way[0] != stack.routes.generation or way[1] is not netif:
            way = self._echo_way(netif, src)
            if way is None:
                return False
        n = stack.nd6.ready(netif, way[2])
        if n is None or HEADER_LEN + plen > min(netif.mtu6, stack.route6.path_mtus.get(src, 0xFFFF)):
            return False  # a neighbour to resolve or move on, or a reply to fragment: the full way's
        # the reply's sum is the request's (0 modulo 0xFFFF) with type 129 for 128 and code 0 for the request's; a
        # residue 0 is ambiguous (all ones, or a message of zeros): summed below instead
        r = (0x0100 - code - csum) % _FOLD
        reply_csum = _FOLD - r if r else 0
        buf = bytearray(frame) if len(frame) == end else bytearray(frame[:end])
        _ECHO_OUT.pack_into(buf, 0, n.mac, netif.hwaddr, 0x86DD, 0x60000000 | (vtf & 0x0FF00000), plen,
                            w6.PROTO_ICMPV6, netif.hop_limit6, dst, src, w6.ECHO_REPLY, 0, reply_csum)
        if not reply_csum:  # the checksum as wire.checksum.checksum computes it: the complement of the folded sum
            v = _data_sum(bytes(buf[22:])) + plen + w6.PROTO_ICMPV6
            _CSUM.pack_into(buf, 56, _FOLD - ((v % _FOLD or _FOLD) if v else 0))
        n.touched = stack.now  # (nd6_output's)
        sent = netif.device.transmit(buf)
        # the counters after the write, as the full way counts them: by one tally (link.recv, ip6.recv, icmp6.recv,
        # ip6.xmit, icmp6.xmit, and link.xmit unless refused) that Stack.stats folds in when read
        self.fast_echoes += 1
        if not sent:
            self.fast_refused += 1
            stack._stats.link_refused()
        return True

    def _echo_way(self, netif: "Netif", src: bytes) -> tuple | None:
        """The way back to ``src`` out of ``netif`` (``ip6.route``'s next hop, as ``_echo_reply``'s output finds it),
        kept per source with the routes' generation; None when there is none (the full way counts that)."""
        stack = self.stack
        generation = stack.routes.generation  # (read before what it stands for)
        try:
            out, next_hop = stack.ip6.route(src, netif)
        except LwipError:
            return None
        if out is not netif:
            return None
        if len(self._echo_ways) >= 64:  # (a bounded memo: forged sources cannot grow it)
            self._echo_ways.clear()
        way = self._echo_ways[src] = (generation, netif, next_hop)
        return way

    def _echo_reply(self, pkt: "InPacket6", req: Icmp6Header, body: memoryview) -> None:
        pbuf = Pbuf.with_payload(body)
        off = pbuf.push(w6.HEADER_LEN)
        src = pkt.dst
        if pkt.multicast:  # LWIP_MULTICAST_PING: from the address ip6_select_source_address picks
            src = self.stack.ip6.select_source(pkt.netif, pkt.src)
            if src is None:
                self.stack._stats.icmp6.rterr += 1
                return
        Icmp6Header(w6.ECHO_REPLY, 0, req.rest).emit(pbuf.buf, off, len(body), src, pkt.src)
        try:
            self.stack.ip6.output(pbuf, src, pkt.src, w6.PROTO_ICMPV6, netif=pkt.netif,
                                  traffic_class=pkt.hdr.traffic_class)
        except LwipError:
            self.stack._stats.icmp6.err += 1
            return
        self.stack._stats.icmp6.xmit += 1

    def _error_input(self, hdr: Icmp6Header, body: memoryview) -> None:
        if len(body) < HEADER_LEN:
            self.stack._stats.icmp6.lenerr += 1
            self.stack._stats.icmp6.drop += 1
            return
        inner = Ipv6Header(bytes(body[8:24]), bytes(body[24:40]), body[6], body[7])
        if hdr.type == w6.PACKET_TOO_BIG:
            self.stack.route6.path_mtu(inner.dst, hdr.rest)
        handler = self.error_handlers.get(inner.next_header)
        if handler is not None:
            handler(hdr.type, hdr.code, hdr.rest, inner, body[HEADER_LEN:])

    # -- errors we send ----------------------------------------------------------------------------------------------
    def send_error(self, pkt: "InPacket6", type_: int, code: int, rest: int = 0, to_multicast: bool = False) -> None:
        """Answer ``pkt`` with an ICMPv6 error unless RFC 4443 2.4 (e) forbids it or the rate limit says no."""
        src = pkt.src
        if is_unspecified6(src) or is_multicast6(src):
            return
        if not pkt.unicast and not (to_multicast or type_ == w6.PACKET_TOO_BIG):
            return
        upper = _upper_type(pkt)
        if upper is not None and (upper in w6.ERROR_TYPES or upper == w6.REDIRECT):
            return  # never an error about an error
        if not self._bucket.take():
            self.stack._stats.icmp6.drop += 1
            return
        quote = pkt.packet[:MIN_MTU - HEADER_LEN - w6.HEADER_LEN]
        pbuf = Pbuf.with_payload(quote)
        off = pbuf.push(w6.HEADER_LEN)
        out_src = pkt.dst if self.stack.is_own_address6(pkt.dst) else None  # not so for a packet we forward
        if out_src is None:
            out_src = self.stack.ip6.select_source(pkt.netif, src)
            if out_src is None:
                return
        Icmp6Header(type_, code, rest).emit(pbuf.buf, off, len(quote), out_src, src)
        try:
            self.stack.ip6.output(pbuf, out_src, src, w6.PROTO_ICMPV6, netif=pkt.netif)
        except LwipError:
            self.stack._stats.icmp6.err += 1
            return
        self.stack._stats.icmp6.xmit += 1


def _upper_type(pkt: "InPacket6") -> int | None:
    """The ICMPv6 type of ``pkt`` when it is an ICMPv6 message right behind the header, else None."""
    if pkt.hdr.next_header == w6.PROTO_ICMPV6 and len(pkt.packet) > HEADER_LEN:
        return pkt.packet[HEADER_LEN]
    return None
