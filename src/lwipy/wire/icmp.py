"""ICMP for IPv4 (RFC 792): the 8-byte header whose second word depends on the type."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ChecksumError, Malformed
from .checksum import checksum, verify

__all__ = [
    "IcmpHeader", "HEADER_LEN", "ECHO_REPLY", "DEST_UNREACH", "ECHO_REQUEST", "TIME_EXCEEDED", "PARAM_PROBLEM",
    "UNREACH_NET", "UNREACH_HOST", "UNREACH_PROTOCOL", "UNREACH_PORT", "UNREACH_FRAG_NEEDED",
    "TE_TTL", "TE_FRAG", "ERROR_TYPES",
]

HEADER_LEN = 8
ECHO_REPLY = 0
DEST_UNREACH = 3
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAM_PROBLEM = 12
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_FRAG_NEEDED = 4
TE_TTL = 0
TE_FRAG = 1
ERROR_TYPES = frozenset({DEST_UNREACH, 4, 5, TIME_EXCEEDED, PARAM_PROBLEM})

_HDR = struct.Struct("!BBHI")
_ECHO = struct.Struct("!HH")


@dataclass(slots=True)
class IcmpHeader:
    """An ICMP header.  ``rest`` is the second 32-bit word: identifier and sequence for echo, the pointer (top byte)
    for parameter problem, the next-hop MTU (low 16 bits) for fragmentation needed, zero otherwise."""

    type: int
    code: int = 0
    rest: int = 0
    checksum: int = 0

    @classmethod
    def echo(cls, type_: int, ident: int, seq: int) -> "IcmpHeader":
        return cls(type_, 0, (ident << 16) | seq)

    @property
    def ident(self) -> int:
        return self.rest >> 16

    @property
    def seq(self) -> int:
        return self.rest & 0xFFFF

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, check: bool = True) -> tuple["IcmpHeader", memoryview]:
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"ICMP message of {len(mv)} bytes is shorter than its header")
        if check and not verify(mv):
            raise ChecksumError("ICMP checksum")
        type_, code, csum, rest = _HDR.unpack_from(mv)
        return cls(type_, code, rest, csum), mv[HEADER_LEN:]

    def emit(self, buf: bytearray | memoryview, offset: int, payload_len: int) -> None:
        """Write the header and the checksum over it and the ``payload_len`` bytes already behind it."""
        _HDR.pack_into(buf, offset, self.type, self.code, 0, self.rest)
        self.checksum = checksum(memoryview(buf)[offset:offset + HEADER_LEN + payload_len])
        struct.pack_into("!H", buf, offset + 2, self.checksum)
