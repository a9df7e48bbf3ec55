"""ICMPv6 (RFC 4443) for one stack: echo, the errors the stack sends and reads, and the dispatch of neighbour
discovery and MLD messages to :mod:`lwipy.core.nd6` and :mod:`lwipy.core.mld6`.

Errors are not sent (RFC 4443 2.4 (e)) about an ICMPv6 error or a redirect, about a packet sent to a multicast
group or a link-layer multicast or broadcast, or about a packet whose source is unspecified or multicast; except
that a parameter problem for an unknown option whose type asks for it (RFC 8200 4.2, action 10) goes also to a
multicast packet's source.  They carry as much of the invoking packet as fits in the minimum MTU of 1280 and are
rate-limited (2.4 (f)) by a token bucket (``icmp_ratelimit_*``).  Echo requests to a multicast group get no answer
(lwIP's default, LWIP_MULTICAST_PING 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..errors import ChecksumError, LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.icmpv6 import Icmp6Header
from ..wire.ipv6 import HEADER_LEN, Ipv6Header
from .addr6 import is_multicast6, is_unspecified6
from .pbuf import Pbuf
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .stack import Stack

__all__ = ["Icmp6", "EchoHandler"]

MIN_MTU = 1280
#: ``handler(pkt, header, data)`` for an echo reply (ping6 sessions)
EchoHandler = Callable[["InPacket6", Icmp6Header, memoryview], None]
_ND = frozenset({w6.ROUTER_SOLICIT, w6.ROUTER_ADVERT, w6.NEIGHBOR_SOLICIT, w6.NEIGHBOR_ADVERT, w6.REDIRECT})
_MLD = frozenset({w6.MLD_QUERY, w6.MLD_REPORT, w6.MLD_DONE, w6.MLDV2_REPORT})


class Icmp6:
    """The ICMPv6 layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._bucket = TokenBucket(stack)
        #: called for every echo reply received (ping sessions register here)
        self.echo_handlers: list[EchoHandler] = []
        #: ``handler(type, code, rest, inner header, inner payload)`` per upper-layer protocol, for errors received
        self.error_handlers: dict[int, Callable[[int, int, int, Ipv6Header, memoryview], None]] = {}

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
