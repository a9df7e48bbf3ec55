"""ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo, and the error messages the stack sends and reads.

Errors are never sent about an ICMP error, a broadcast or multicast packet, a non-first fragment, or a packet whose
source is not a host (RFC 1122 3.2.2); they are rate-limited by a token bucket (RFC 1812 4.3.2.8), ``icmp_ratelimit_*``.
Echo replies are not limited.  Errors received are passed to the transport that sent the quoted packet
(``stack.icmp_error_handlers[proto]``), so a connected UDP pcb learns of a port unreachable.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable

from ..errors import ChecksumError, LwipError, Malformed
from ..wire import icmp as w
from ..wire.icmp import IcmpHeader
from ..wire.ipv4 import PROTO_ICMP, Ipv4Header
from .addr import ANY4 as _ANY, is_multicast4
from .pbuf import Pbuf
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .netif import Netif
    from .stack import Stack

__all__ = ["Icmp", "IcmpErrorHandler"]

# RFC 792 quotes the IP header and the first 8 bytes of the payload; that is what lwIP sends (ICMP_DEST_UNREACH_DATASIZE)
_QUOTE = 8

IcmpErrorHandler = Callable[[int, int, Ipv4Header, memoryview], None]


class Icmp:
    """The ICMP layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._bucket = TokenBucket(stack)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stack = self.stack
        if not stack.config.icmp:  # CONFIG_LWIP_ICMP off: ip4_input knows no such transport (raw pcbs still see it)
            stack.stats.ip.proterr += 1
            stack.stats.ip.drop += 1
            return
        stats = stack.stats.icmp
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
        pbuf = Pbuf.with_payload(body)
        off = pbuf.push(w.HEADER_LEN)
        IcmpHeader(w.ECHO_REPLY, 0, req.rest).emit(pbuf.buf, off, len(body))
        src = pkt.netif.ip4_addr if pkt.multicast or pkt.broadcast else pkt.dst
        try:
            self.stack.ip4.output(pbuf, src, pkt.src, PROTO_ICMP, tos=pkt.hdr.tos)
        except LwipError:
            self.stack.stats.icmp.err += 1
            return
        self.stack.stats.icmp.xmit += 1

    def _error_input(self, hdr: IcmpHeader, body: memoryview) -> None:
        try:
            inner, inner_payload = Ipv4Header.parse(_pad_quote(body), check=False)
        except Malformed:
            self.stack.stats.icmp.lenerr += 1
            self.stack.stats.icmp.drop += 1
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
            self.stack.stats.icmp.drop += 1
            return
        pbuf = Pbuf.with_payload(quote)
        IcmpHeader(type_, code, rest).emit(pbuf.buf, pbuf.push(w.HEADER_LEN), len(quote))
        try:
            self.stack.ip4.output(pbuf, None, dst, PROTO_ICMP)
        except LwipError:
            self.stack.stats.icmp.err += 1
            return
        self.stack.stats.icmp.xmit += 1


def _pad_quote(body: memoryview) -> memoryview:
    """A quoted datagram's total length names the original size; the quote is shorter.  Parse what is there."""
    if len(body) < 20:
        return body
    total = int.from_bytes(body[2:4], "big")
    if total <= len(body):
        return body
    fixed = bytearray(body)
    fixed[2:4] = len(body).to_bytes(2, "big")
    return memoryview(fixed)
