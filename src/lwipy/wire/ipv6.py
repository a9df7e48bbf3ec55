"""IPv6 (RFC 8200): the fixed header and the extension headers a host reads and writes.

A packet is the 40-byte header, then a chain of extension headers, each naming the next (``next_header``), then the
upper-layer message.  Hop-by-hop and destination options headers carry TLV options (:func:`parse_options`); the two
high bits of an option's type say what a node that does not know it must do (RFC 8200 4.2): skip it, discard the
packet, or discard it and send a parameter problem (for the last, only when the destination was not multicast).
Lengths: hop-by-hop, destination options and routing headers count 8-octet units beyond the first 8 octets; the
fragment header is always 8 octets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..errors import Malformed

__all__ = [
    "Ipv6Header", "ExtHeader", "FragmentHeader", "HEADER_LEN", "NH_HOPOPTS", "NH_TCP", "NH_UDP", "NH_ROUTING",
    "NH_FRAGMENT", "NH_ICMPV6", "NH_NONE", "NH_DSTOPTS", "EXT_HEADERS", "OPT_PAD1", "OPT_PADN",
    "OPT_ROUTER_ALERT", "ACTION_SKIP", "ACTION_DISCARD", "ACTION_DISCARD_ICMP", "ACTION_DISCARD_ICMP_UNICAST",
    "parse_options", "emit_padded_options",
]

HEADER_LEN = 40
NH_HOPOPTS, NH_TCP, NH_UDP, NH_ROUTING, NH_FRAGMENT, NH_ICMPV6, NH_NONE, NH_DSTOPTS = 0, 6, 17, 43, 44, 58, 59, 60
#: the extension headers :meth:`ExtHeader.parse` reads (ESP and AH are not processed by lwIP)
EXT_HEADERS = frozenset({NH_HOPOPTS, NH_ROUTING, NH_FRAGMENT, NH_DSTOPTS})
OPT_PAD1, OPT_PADN, OPT_ROUTER_ALERT = 0, 1, 5
# what to do with an unknown option: the two high-order bits of its type (RFC 8200 4.2)
ACTION_SKIP, ACTION_DISCARD, ACTION_DISCARD_ICMP, ACTION_DISCARD_ICMP_UNICAST = 0, 1, 2, 3

_HDR = struct.Struct("!IHBB16s16s")  # version/class/flow, payload length, next header, hop limit, source, destination
_FRAG = struct.Struct("!BBHI")


@dataclass(slots=True)
class Ipv6Header:
    """An IPv6 header; ``src`` and ``dst`` are the 16 packed bytes, ``payload_len`` what follows the 40 bytes."""

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0
    payload_len: int = 0

    buffer_len = HEADER_LEN

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> tuple["Ipv6Header", memoryview]:
        """The header and its payload (bytes beyond ``payload_len``, link padding, are cut off)."""
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"IPv6 packet of {len(mv)} bytes is shorter than its header")
        vcf, plen, nh, hops, src, dst = _HDR.unpack_from(mv)
        if vcf >> 28 != 6:
            raise Malformed(f"IP version {vcf >> 28} in an IPv6 packet")
        if plen == 0 and nh == NH_HOPOPTS:
            raise Malformed("a jumbogram (RFC 2675), which lwipy does not take")
        if HEADER_LEN + plen > len(mv):
            raise Malformed(f"IPv6 payload length {plen} runs past the {len(mv)}-byte packet")
        return cls(src, dst, nh, hops, (vcf >> 20) & 0xFF, vcf & 0xFFFFF, plen), mv[HEADER_LEN:HEADER_LEN + plen]

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        if not 0 <= self.payload_len <= 0xFFFF:
            raise ValueError(f"IPv6 payload length {self.payload_len} out of range")
        vcf = (6 << 28) | ((self.traffic_class & 0xFF) << 20) | (self.flow_label & 0xFFFFF)
        _HDR.pack_into(buf, offset, vcf, self.payload_len, self.next_header, self.hop_limit, self.src, self.dst)


@dataclass(slots=True)
class ExtHeader:
    """A hop-by-hop, destination options or routing header: what it names next, and its body (the bytes after its
    first two, for the routing header starting at the routing type)."""

    type: int
    next_header: int
    body: bytes = b""

    @property
    def buffer_len(self) -> int:
        return 2 + len(self.body)

    @classmethod
    def parse(cls, type_: int, data: bytes | bytearray | memoryview) -> tuple["ExtHeader", int]:
        """The header of type ``type_`` at the start of ``data``, and its length in bytes."""
        mv = memoryview(data)
        if type_ == NH_FRAGMENT:
            raise ValueError("use FragmentHeader.parse for the fragment header")
        if len(mv) < 8:
            raise Malformed(f"IPv6 extension header {type_} truncated ({len(mv)} bytes)")
        length = (mv[1] + 1) * 8
        if length > len(mv):
            raise Malformed(f"IPv6 extension header {type_} of {length} bytes runs past the packet")
        return cls(type_, mv[0], bytes(mv[2:length])), length

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        if (2 + len(self.body)) % 8:
            raise ValueError("an IPv6 extension header is a multiple of 8 bytes long")
        struct.pack_into("!BB", buf, offset, self.next_header, (2 + len(self.body)) // 8 - 1)
        buf[offset + 2:offset + 2 + len(self.body)] = self.body


@dataclass(slots=True)
class FragmentHeader:
    """The fragment header (RFC 8200 4.5): ``offset`` in bytes (a multiple of 8), ``more`` (the M flag), ``ident``."""

    next_header: int
    offset: int = 0
    more: bool = False
    ident: int = 0

    buffer_len = 8

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "FragmentHeader":
        if len(data) < 8:
            raise Malformed(f"IPv6 fragment header truncated ({len(data)} bytes)")
        nh, _, off_flags, ident = _FRAG.unpack_from(data)
        return cls(nh, off_flags & 0xFFF8, bool(off_flags & 1), ident)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        if self.offset % 8 or not 0 <= self.offset <= 0xFFF8:
            raise ValueError(f"fragment offset {self.offset} is not a multiple of 8 in 0..65528")
        _FRAG.pack_into(buf, offset, self.next_header, 0, self.offset | int(self.more), self.ident)


@dataclass(slots=True)
class Ipv6Option:
    """A TLV option of a hop-by-hop or destination options header, and where its type byte sits in the header
    (``at``, counted from the header's first byte: what a parameter problem points to)."""

    type: int
    value: bytes = b""
    at: int = field(default=0, compare=False)

    @property
    def action(self) -> int:
        """What a node that does not know the option does (ACTION_*)."""
        return self.type >> 6


def parse_options(body: bytes | bytearray | memoryview, first_at: int = 2) -> list[Ipv6Option]:
    """The options in ``body`` (an options header less its first two bytes), padding left out."""
    mv = memoryview(body)
    out = []
    i = 0
    while i < len(mv):
        t = mv[i]
        if t == OPT_PAD1:
            i += 1
            continue
        if i + 2 > len(mv) or i + 2 + mv[i + 1] > len(mv):
            raise Malformed("an IPv6 option runs past its header")
        n = mv[i + 1]
        if t != OPT_PADN:
            out.append(Ipv6Option(t, bytes(mv[i + 2:i + 2 + n]), first_at + i))
        i += 2 + n
    return out


def emit_padded_options(options: list[Ipv6Option]) -> bytes:
    """The body of an options header holding ``options``, padded (PadN/Pad1) to a multiple of 8 with its 2 bytes."""
    body = bytearray()
    for opt in options:
        body += bytes((opt.type, len(opt.value))) + opt.value
    pad = (-(2 + len(body))) % 8
    if pad == 1:
        body.append(OPT_PAD1)
    elif pad:
        body += bytes((OPT_PADN, pad - 2)) + bytes(pad - 2)
    return bytes(body)
