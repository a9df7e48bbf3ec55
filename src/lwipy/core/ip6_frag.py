"""IPv6 fragmentation (``IP6_FRAG``) and reassembly (``IP6_REASSEMBLY``), RFC 8200 4.5.

Only the source fragments over IPv6.  A packet larger than the path MTU (the netif's, or less after a packet too
big, RFC 8201) is cut into fragments of a multiple of 8 bytes, each the unfragmentable part (the header) then a
fragment header sharing one identification.  Reassembly keeps the fragments of each (source, destination,
identification) in the buffer IPv4 uses (:class:`~lwipy.core.ip4_frag.Reassembly`: ``ip_reass_max_pbufs``
fragments at most, the oldest packet given up first, overlaps drop the whole packet as RFC 5722 asks) for
``ip6_reass_maxage`` seconds, then answers with a time exceeded (code 1) when the first fragment had come.  The
reassembled packet is the first fragment's unfragmentable part, its last next-header field naming what the
fragment header named, and the data in order; it is then read as any packet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ..wire import icmpv6 as w6
from ..wire.ipv6 import HEADER_LEN, NH_FRAGMENT, FragmentHeader, Ipv6Header
from .ip4_frag import Reassembly
from .pbuf import HEADROOM, Pbuf

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .stack import Stack

__all__ = ["Reassembly6", "fragment6"]


class Reassembly6:
    """IPv6 fragments waiting to become packets, for one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.buffer = Reassembly(stack, stack._stats.ip6_frag, lambda: stack.config.ip6_reass_maxage)

    def input(self, pkt: "InPacket6", frag: FragmentHeader, unfrag_len: int, field_at: int,
              data: memoryview) -> bytearray | None:
        """One fragment (``data`` after its fragment header, which sits ``unfrag_len`` bytes into the packet and is
        named by the next-header field at ``field_at``); the whole packet when this one completes it."""
        key = (pkt.src, pkt.dst, frag.ident)
        first = timeout = None
        if frag.offset == 0:
            first = (bytes(pkt.packet[:unfrag_len]), field_at, frag.next_header)
            if pkt.unicast:
                def timeout() -> None:
                    self.stack.icmp6.send_error(pkt, w6.TIME_EXCEEDED, w6.TE_FRAG)
        done = self.buffer.add(key, pkt.netif, frag.offset, data, frag.more, unfrag_len, first, timeout)
        if done is None:
            return None
        (unfrag, at, next_header), payload = done
        whole = bytearray(unfrag) + payload
        whole[at] = next_header
        whole[4:6] = (len(whole) - HEADER_LEN).to_bytes(2, "big")
        return whole

    def poll(self, now: float) -> None:
        self.buffer.poll(now)

    def poll_at(self) -> float | None:
        return self.buffer.poll_at()


def fragment6(hdr: Ipv6Header, payload: memoryview, mtu: int, ident: int) -> Iterator[Pbuf]:
    """Cut a packet (``hdr``, whose next header is the fragmentable part's first, and its ``payload``) into
    fragments that fit ``mtu``."""
    room = (mtu - HEADER_LEN - 8) & ~7
    offset, total = 0, len(payload)
    while offset < total:
        size = min(room, total - offset)
        more = offset + size < total
        pbuf = Pbuf.alloc(HEADER_LEN + 8 + size, HEADROOM)
        at = pbuf.start
        Ipv6Header(hdr.src, hdr.dst, NH_FRAGMENT, hdr.hop_limit, hdr.traffic_class, hdr.flow_label,
                   8 + size).emit(pbuf.buf, at)
        FragmentHeader(hdr.next_header, offset, more, ident).emit(pbuf.buf, at + HEADER_LEN)
        pbuf.buf[at + HEADER_LEN + 8:at + HEADER_LEN + 8 + size] = payload[offset:offset + size]
        yield pbuf
        offset += size
