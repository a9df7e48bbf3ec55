"""Ethernet II frames (IEEE 802.3 with an EtherType), with the 802.1Q VLAN tag recognised."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed

__all__ = [
    "ETH_HEADER", "ETHERTYPE_IPV4", "ETHERTYPE_ARP", "ETHERTYPE_VLAN", "ETHERTYPE_IPV6", "BROADCAST", "HEADER_LEN",
    "VLAN_HEADER_LEN",
    "EthernetHeader", "mac_from_str", "mac_to_str", "ipv4_multicast_mac", "is_multicast_mac",
]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
HEADER_LEN = 14
VLAN_HEADER_LEN = 18

_HDR = ETH_HEADER = struct.Struct("!6s6sH")  # an untagged header, for the output fast path
_TAG = struct.Struct("!HH")


def mac_from_str(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or with ``-``) to six bytes."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def mac_to_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ipv4_multicast_mac(group_packed: bytes) -> bytes:
    """RFC 1112 6.4: 01:00:5e followed by the low 23 bits of the group address."""
    return b"\x01\x00\x5e" + bytes((group_packed[1] & 0x7F,)) + group_packed[2:4]


def is_multicast_mac(mac: bytes | memoryview) -> bool:
    return bool(mac[0] & 1)


@dataclass(slots=True)
class EthernetHeader:
    """An Ethernet II header; ``vlan_id`` is set when the frame carried an 802.1Q tag."""

    dst: bytes
    src: bytes
    ethertype: int
    vlan_id: int | None = None
    vlan_pcp: int = 0
    vlan_dei: bool = False

    @property
    def header_len(self) -> int:
        return HEADER_LEN if self.vlan_id is None else VLAN_HEADER_LEN

    @classmethod
    def parse(cls, frame: bytes | bytearray | memoryview) -> tuple["EthernetHeader", memoryview]:
        """The header and the payload (Ethernet padding, if any, is left in the payload for the next layer to trim)."""
        mv = memoryview(frame)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"ethernet frame of {len(mv)} bytes is shorter than its header")
        dst, src, ethertype = _HDR.unpack_from(mv)
        if ethertype != ETHERTYPE_VLAN:
            return cls(dst, src, ethertype), mv[HEADER_LEN:]
        if len(mv) < VLAN_HEADER_LEN:
            raise Malformed("802.1Q frame shorter than its tag")
        tci, ethertype = _TAG.unpack_from(mv, HEADER_LEN)
        return cls(dst, src, ethertype, tci & 0x0FFF, tci >> 13, bool(tci & 0x1000)), mv[VLAN_HEADER_LEN:]

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        if self.vlan_id is None:
            _HDR.pack_into(buf, offset, self.dst, self.src, self.ethertype)
        else:
            if not 0 <= self.vlan_id <= 0x0FFF or not 0 <= self.vlan_pcp <= 7:
                raise ValueError(f"VLAN id {self.vlan_id} / priority {self.vlan_pcp} out of range")
            _HDR.pack_into(buf, offset, self.dst, self.src, ETHERTYPE_VLAN)
            tci = (self.vlan_pcp << 13) | (0x1000 if self.vlan_dei else 0) | self.vlan_id
            _TAG.pack_into(buf, offset + HEADER_LEN, tci, self.ethertype)
