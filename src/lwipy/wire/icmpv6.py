"""ICMPv6 (RFC 4443): the 8-byte header of echo and error messages, and the checksum every ICMPv6 message carries.

Unlike ICMP for IPv4, the checksum covers the IPv6 pseudo-header (RFC 4443 2.3, RFC 8200 8.1), so parsing and
emitting take the source and destination addresses (16 packed bytes each).  Neighbour discovery
(:mod:`lwipy.wire.ndp`) and MLD (:mod:`lwipy.wire.mld`) messages are ICMPv6 messages too: they are parsed from the
whole message once :func:`verify_checksum` passed, and emitted with the checksum field left zero for
:func:`fill_checksum`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ChecksumError, Malformed
from .checksum import checksum, pseudo_sum_v6, verify

__all__ = [
    "Icmp6Header", "HEADER_LEN", "PROTO_ICMPV6", "DEST_UNREACH", "PACKET_TOO_BIG", "TIME_EXCEEDED", "PARAM_PROBLEM",
    "ECHO_REQUEST", "ECHO_REPLY", "MLD_QUERY", "MLD_REPORT", "MLD_DONE", "ROUTER_SOLICIT", "ROUTER_ADVERT",
    "NEIGHBOR_SOLICIT", "NEIGHBOR_ADVERT", "REDIRECT", "MLDV2_REPORT", "UNREACH_NO_ROUTE", "UNREACH_ADMIN",
    "UNREACH_BEYOND_SCOPE", "UNREACH_ADDRESS", "UNREACH_PORT", "TE_HOP_LIMIT", "TE_FRAG", "PP_HEADER",
    "PP_NEXT_HEADER", "PP_OPTION", "ERROR_TYPES", "fill_checksum", "verify_checksum", "icmp6_checksum",
]

PROTO_ICMPV6 = 58
HEADER_LEN = 8

# types (RFC 4443 2.1; RFC 4861 4; RFC 2710 3; RFC 3810 5)
DEST_UNREACH = 1
PACKET_TOO_BIG = 2
TIME_EXCEEDED = 3
PARAM_PROBLEM = 4
ECHO_REQUEST = 128
ECHO_REPLY = 129
MLD_QUERY = 130
MLD_REPORT = 131
MLD_DONE = 132
ROUTER_SOLICIT = 133
ROUTER_ADVERT = 134
NEIGHBOR_SOLICIT = 135
NEIGHBOR_ADVERT = 136
REDIRECT = 137
MLDV2_REPORT = 143

# codes
UNREACH_NO_ROUTE, UNREACH_ADMIN, UNREACH_BEYOND_SCOPE, UNREACH_ADDRESS, UNREACH_PORT = 0, 1, 2, 3, 4
TE_HOP_LIMIT, TE_FRAG = 0, 1
PP_HEADER, PP_NEXT_HEADER, PP_OPTION = 0, 1, 2

#: "error messages have 0 in the high-order bit of their message Type field" (RFC 4443 2.1)
ERROR_TYPES = frozenset({DEST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED, PARAM_PROBLEM})

_HDR = struct.Struct("!BBHI")
_CSUM = struct.Struct("!H")


def icmp6_checksum(message: bytes | bytearray | memoryview, src: bytes, dst: bytes) -> int:
    """The checksum field value for ``message`` (its checksum field zero) from ``src`` to ``dst``."""
    return checksum(message, pseudo_sum_v6(src, dst, PROTO_ICMPV6, len(message)))


def fill_checksum(buf: bytearray | memoryview, offset: int, length: int, src: bytes, dst: bytes) -> int:
    """Compute and write the checksum of the ``length``-byte ICMPv6 message at ``offset`` (its field zero)."""
    value = icmp6_checksum(memoryview(buf)[offset:offset + length], src, dst)
    _CSUM.pack_into(buf, offset + 2, value)
    return value


def verify_checksum(message: bytes | bytearray | memoryview, src: bytes, dst: bytes) -> bool:
    """Whether the ICMPv6 ``message`` from ``src`` to ``dst`` carries a correct checksum (RFC 4443 2.3)."""
    return len(message) >= 4 and verify(message, pseudo_sum_v6(src, dst, PROTO_ICMPV6, len(message)))


@dataclass(slots=True)
class Icmp6Header:
    """An ICMPv6 echo or error header.  ``rest`` is the second 32-bit word: identifier and sequence for echo, the
    MTU for packet too big, the pointer for parameter problem, unused (zero) otherwise."""

    type: int
    code: int = 0
    rest: int = 0
    checksum: int = 0

    buffer_len = HEADER_LEN

    @classmethod
    def echo(cls, type_: int, ident: int, seq: int) -> "Icmp6Header":
        return cls(type_, 0, (ident << 16) | seq)

    @property
    def ident(self) -> int:
        return self.rest >> 16

    @property
    def seq(self) -> int:
        return self.rest & 0xFFFF

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, src: bytes, dst: bytes,
              check: bool = True) -> tuple["Icmp6Header", memoryview]:
        """The header and what follows it (echo data, or as much of the invoking packet as fits)."""
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"ICMPv6 message of {len(mv)} bytes is shorter than its header")
        if check and not verify_checksum(mv, src, dst):
            raise ChecksumError("ICMPv6 checksum")
        type_, code, csum, rest = _HDR.unpack_from(mv)
        return cls(type_, code, rest, csum), mv[HEADER_LEN:]

    def emit(self, buf: bytearray | memoryview, offset: int, payload_len: int, src: bytes, dst: bytes) -> None:
        """Write the header and the checksum over it and the ``payload_len`` bytes already behind it."""
        _HDR.pack_into(buf, offset, self.type, self.code, 0, self.rest)
        self.checksum = fill_checksum(buf, offset, HEADER_LEN + payload_len, src, dst)
