"""What the ICMPv6 message tests (ND, MLD) share: addresses as bytes, the ICMPv6 part of a scapy packet (scapy is the
independent encoder of the vectors), and emitting a message into a 0xA5-filled buffer."""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

from lwipy.wire.icmpv6 import fill_checksum

FILL = 0xA5


def a6(text: str) -> bytes:
    return IPv6Address(text).packed


def s6(packed: bytes) -> str:
    return str(IPv6Address(packed))


def icmp6_of(pkt: Any) -> bytes:
    """The ICMPv6 message of a scapy IPv6 packet built without extension headers (so it starts at byte 40)."""
    raw = bytes(pkt)
    assert raw[6] == 58
    return raw[40:]


def scapy_vector(vectors: dict, name: str) -> tuple[bytes, bytes, bytes]:
    """(message, src, dst) of the vector ``name``: ``vectors[name]`` is (src, dst, scapy layers, what lwipy reads)."""
    from scapy.layers.inet6 import IPv6
    src, dst, layers, _ = vectors[name]
    return icmp6_of(IPv6(src=src, dst=dst) / layers), a6(src), a6(dst)


def emitted(msg: Any, src: bytes, dst: bytes, offset: int = 3) -> bytes:
    """``msg`` emitted at ``offset`` in a 0xA5-filled buffer, checked to stay in its bytes, then checksummed."""
    n = msg.buffer_len
    buf = bytearray([FILL]) * (offset + n + 5)
    msg.emit(buf, offset)
    assert buf[:offset] == bytes([FILL]) * offset and buf[offset + n:] == bytes([FILL]) * 5
    assert buf[offset + 2:offset + 4] == b"\0\0"  # the caller fills the checksum
    fill_checksum(buf, offset, n, src, dst)
    return bytes(buf[offset:offset + n])
