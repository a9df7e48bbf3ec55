"""IPv4 headers (RFC 791), options carried as raw bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ChecksumError, Malformed
from .checksum import checksum, verify

__all__ = [
    "Ipv4Header", "MIN_HEADER_LEN", "MAX_HEADER_LEN", "FLAG_RF", "FLAG_DF", "FLAG_MF",
    "PROTO_ICMP", "PROTO_IGMP", "PROTO_TCP", "PROTO_UDP", "OPTION_ROUTER_ALERT", "ETH_IP4_WORD", "ETH_IP4_WORD_MASK",
    "NOFRAG_PROTO_MASK",
]

MIN_HEADER_LEN = 20
MAX_HEADER_LEN = 60
FLAG_RF = 0x8000  # reserved (RFC 791: must be zero); read and kept, as lwIP keeps a header it sends back
FLAG_DF = 0x4000
FLAG_MF = 0x2000
PROTO_ICMP = 1
PROTO_IGMP = 2
PROTO_TCP = 6
PROTO_UDP = 17
# The fast paths' one-word tests of an untagged Ethernet frame (core/tcp/fastpath.py, core/udp.py), each word read
# big-endian by their struct: bytes 12-15 (the Ethernet type, version and header length, TOS) masked to the first
# three are IPv4 with a 20-byte header; bytes 20-23 (flags and fragment offset, TTL, protocol) masked are no fragment
# (DF kept out of the mask: it may be set; the reserved flag in it) and the protocol alone
ETH_IP4_WORD = 0x08004500
ETH_IP4_WORD_MASK = 0xFFFFFF00
NOFRAG_PROTO_MASK = 0xBFFF00FF
# RFC 2113 Router Alert, carried by IGMP messages (RFC 2236 section 2)
OPTION_ROUTER_ALERT = b"\x94\x04\x00\x00"

_HDR = struct.Struct("!BBHHHBBH4s4s")
HEADER = _HDR  # version/IHL, TOS, total length, ident, flags/fragment, TTL, protocol, checksum, source, destination


@dataclass(slots=True)
class Ipv4Header:
    """An IPv4 header.  ``src`` and ``dst`` are the 4 packed bytes; ``frag_offset`` is in bytes (a multiple of 8).
    ``reserved_flag`` is the flags' high bit, which RFC 791 reserves: a receiver ignores it, and lwIP's echo reply
    (the request's header sent back with ``LWIP_IP_HDRINCL``) keeps it."""

    src: bytes
    dst: bytes
    proto: int
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    dont_fragment: bool = False
    more_fragments: bool = False
    frag_offset: int = 0
    total_len: int = 0
    options: bytes = b""
    checksum: int = 0
    reserved_flag: bool = False

    @property
    def header_len(self) -> int:
        return MIN_HEADER_LEN + len(self.options)

    @property
    def payload_len(self) -> int:
        return self.total_len - self.header_len

    @property
    def is_fragment(self) -> bool:
        return self.more_fragments or self.frag_offset != 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, check: bool = True) -> tuple["Ipv4Header", memoryview]:
        """The header and the payload, trimmed to the total length (dropping any link-layer padding).

        With ``check`` the header checksum is verified; a mismatch raises :class:`ChecksumError`.
        """
        mv = memoryview(data)
        if len(mv) < MIN_HEADER_LEN:
            raise Malformed(f"IPv4 packet of {len(mv)} bytes is shorter than a header")
        vihl, tos, total_len, ident, frag, ttl, proto, csum, src, dst = _HDR.unpack_from(mv)
        if vihl >> 4 != 4:
            raise Malformed(f"IP version {vihl >> 4} in an IPv4 packet")
        hlen = (vihl & 0x0F) * 4
        if hlen < MIN_HEADER_LEN:
            raise Malformed(f"IPv4 header length {hlen} is below 20")
        if total_len < hlen or total_len > len(mv):
            raise Malformed(f"IPv4 total length {total_len} with a {hlen}-byte header in {len(mv)} bytes")
        if check and not verify(mv[:hlen]):
            raise ChecksumError("IPv4 header checksum")
        hdr = cls(src, dst, proto, ttl, tos, ident, bool(frag & FLAG_DF), bool(frag & FLAG_MF),
                  (frag & 0x1FFF) << 3, total_len, bytes(mv[MIN_HEADER_LEN:hlen]) if hlen > MIN_HEADER_LEN else b"",
                  csum, bool(frag & FLAG_RF))
        return hdr, mv[hlen:total_len]

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the header with a fresh checksum; ``total_len`` must already be set."""
        hlen = self.header_len
        if hlen & 3 or hlen > MAX_HEADER_LEN:
            raise ValueError(f"IPv4 options of {len(self.options)} bytes are not a multiple of 4 up to 40")
        if self.frag_offset & 7 or not 0 <= self.frag_offset <= 0xFFF8:
            raise ValueError(f"fragment offset {self.frag_offset} is not a multiple of 8 below 65536")
        frag = (self.frag_offset >> 3) | (FLAG_DF if self.dont_fragment else 0) | (FLAG_MF if self.more_fragments else 0) \
            | (FLAG_RF if self.reserved_flag else 0)
        _HDR.pack_into(buf, offset, 0x40 | (hlen >> 2), self.tos, self.total_len, self.ident, frag, self.ttl,
                       self.proto, 0, self.src, self.dst)
        if self.options:
            buf[offset + MIN_HEADER_LEN:offset + hlen] = self.options
        self.checksum = checksum(memoryview(buf)[offset:offset + hlen])
        struct.pack_into("!H", buf, offset + 10, self.checksum)


def iter_options(options: bytes):
    """Yield (type, value) for each option, raising :class:`Malformed` with the offending offset on a bad length.

    RFC 791: type 0 ends the list, type 1 is a one-byte no-op; every other option has a length byte that counts the
    type and length bytes too.
    """
    i = 0
    n = len(options)
    while i < n:
        kind = options[i]
        if kind == 0:
            return
        if kind == 1:
            i += 1
            continue
        if i + 1 >= n or options[i + 1] < 2 or i + options[i + 1] > n:
            raise OptionError(i)
        length = options[i + 1]
        yield kind, options[i + 2:i + length]
        i += length


class OptionError(Malformed):
    """A malformed IPv4 option; ``offset`` is its position within the options, for ICMP parameter problem."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"malformed IPv4 option at options offset {offset}")
        self.offset = offset
