"""ARP for IPv4 over Ethernet (RFC 826)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed

__all__ = ["ArpPacket", "OP_REQUEST", "OP_REPLY", "PACKET_LEN"]

OP_REQUEST = 1
OP_REPLY = 2
PACKET_LEN = 28
_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800
_ARP = struct.Struct("!HHBBH6s4s6s4s")


@dataclass(slots=True)
class ArpPacket:
    """An Ethernet/IPv4 ARP packet; addresses are raw bytes (6-byte MACs, 4-byte IPv4 addresses)."""

    op: int
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes

    buffer_len = PACKET_LEN

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "ArpPacket":
        if len(data) < PACKET_LEN:
            raise Malformed(f"ARP packet of {len(data)} bytes, need {PACKET_LEN}")
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(data)
        if htype != _HTYPE_ETHERNET or ptype != _PTYPE_IPV4 or hlen != 6 or plen != 4:
            raise Malformed(f"ARP for hardware {htype}/{hlen} and protocol {ptype:#x}/{plen} is not Ethernet/IPv4")
        if op not in (OP_REQUEST, OP_REPLY):
            raise Malformed(f"ARP opcode {op}")
        return cls(op, sha, spa, tha, tpa)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        _ARP.pack_into(buf, offset, _HTYPE_ETHERNET, _PTYPE_IPV4, 6, 4, self.op,
                       self.sender_mac, self.sender_ip, self.target_mac, self.target_ip)
