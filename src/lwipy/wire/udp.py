"""UDP (RFC 768)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed
from .checksum import checksum, fold, ones_sum

__all__ = ["UdpHeader", "HEADER_LEN", "emit_header"]

HEADER_LEN = 8
_HDR = struct.Struct("!HHHH")
_CSUM = struct.Struct("!H")


def emit_header(buf: bytearray | memoryview, offset: int, src_port: int, dst_port: int, length: int,
                pseudo: int | None) -> int:
    """Write a UDP header at ``offset``, in front of the ``length - 8`` payload bytes already behind it, and return
    its checksum: with ``pseudo`` (the pseudo-header's partial sum) computed over header and payload, a result of 0
    sent as 0xFFFF (RFC 768); with None left 0 (no checksum, IPv4 only)."""
    _HDR.pack_into(buf, offset, src_port, dst_port, length, 0)
    if pseudo is None:
        return 0
    csum = checksum(memoryview(buf)[offset:offset + length], pseudo) or 0xFFFF
    _CSUM.pack_into(buf, offset + 6, csum)
    return csum


@dataclass(slots=True)
class UdpHeader:
    """A UDP header.  A received ``checksum`` of 0 means the sender computed none (allowed over IPv4)."""

    src_port: int
    dst_port: int
    length: int = 0
    checksum: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> tuple["UdpHeader", memoryview]:
        """The header and the payload trimmed to the UDP length."""
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"UDP datagram of {len(mv)} bytes is shorter than its header")
        sport, dport, length, csum = _HDR.unpack_from(mv)
        if length < HEADER_LEN or length > len(mv):
            raise Malformed(f"UDP length {length} in {len(mv)} bytes")
        return cls(sport, dport, length, csum), mv[HEADER_LEN:length]

    @staticmethod
    def verify(datagram: bytes | bytearray | memoryview, pseudo: int) -> bool:
        """Check a received datagram (header and payload) against the partial sum of its pseudo-header."""
        return fold(pseudo + ones_sum(datagram)) == 0xFFFF

    def emit(self, buf: bytearray | memoryview, offset: int, pseudo: int | None) -> None:
        """Write the header; ``length`` must cover the payload already behind it.  With ``pseudo`` (the pseudo-header
        partial sum) the checksum is computed, a result of 0 sent as 0xFFFF (RFC 768); with None it is left 0
        (:func:`emit_header`)."""
        self.checksum = emit_header(buf, offset, self.src_port, self.dst_port, self.length, pseudo)
