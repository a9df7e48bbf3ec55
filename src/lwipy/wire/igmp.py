"""IGMPv2 (RFC 2236) messages; IGMPv1 queries (max response time 0) and v3 queries are read as v2 queries."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ChecksumError, Malformed
from .checksum import checksum, verify

__all__ = ["IgmpMessage", "MEMB_QUERY", "V1_MEMB_REPORT", "V2_MEMB_REPORT", "LEAVE_GROUP", "MESSAGE_LEN"]

MEMB_QUERY = 0x11
V1_MEMB_REPORT = 0x12
V2_MEMB_REPORT = 0x16
LEAVE_GROUP = 0x17
MESSAGE_LEN = 8
_MSG = struct.Struct("!BBH4s")


@dataclass(slots=True)
class IgmpMessage:
    """An IGMP message; ``max_resp`` is in tenths of a second; ``group`` the 4 packed bytes."""

    type: int
    max_resp: int
    group: bytes
    checksum: int = 0

    buffer_len = MESSAGE_LEN

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "IgmpMessage":
        if len(data) < MESSAGE_LEN:
            raise Malformed(f"IGMP message of {len(data)} bytes")
        if not verify(data):
            raise ChecksumError("IGMP checksum")
        type_, max_resp, csum, group = _MSG.unpack_from(data)
        return cls(type_, max_resp, group, csum)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        _MSG.pack_into(buf, offset, self.type, self.max_resp, 0, self.group)
        self.checksum = checksum(memoryview(buf)[offset:offset + MESSAGE_LEN])
        struct.pack_into("!H", buf, offset + 2, self.checksum)
