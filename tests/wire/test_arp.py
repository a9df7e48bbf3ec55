"""ARP (RFC 826) packets against the Linux kernel's request and reply (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import ChecksumError, Malformed
from lwipy.wire.arp import OP_REPLY, OP_REQUEST, PACKET_LEN, ArpPacket

FILL = 0xA5
REQUEST = cap.ARP_REQUEST[14:]
REPLY = cap.ARP_REPLY[14:]


def test_parse_captured_request() -> None:
    pkt = ArpPacket.parse(REQUEST)
    assert pkt == ArpPacket(OP_REQUEST, cap.ETH_A, cap.IP_A, bytes(6), cap.IP_B)
    assert ArpPacket.buffer_len == PACKET_LEN == 28


def test_parse_captured_reply() -> None:
    pkt = ArpPacket.parse(REPLY)
    assert (pkt.op, pkt.sender_mac, pkt.sender_ip, pkt.target_mac, pkt.target_ip) == (
        OP_REPLY, cap.ETH_B, cap.IP_B, cap.ETH_A, cap.IP_A)


@pytest.mark.parametrize("wire", [REQUEST, REPLY])
def test_emit_captured(wire: bytes) -> None:
    pkt = ArpPacket.parse(wire)
    buf = bytearray([FILL]) * (PACKET_LEN + 6)
    pkt.emit(buf, 3)
    assert buf[:3] == b"\xa5" * 3
    assert bytes(buf[3:3 + PACKET_LEN]) == wire
    assert buf[3 + PACKET_LEN:] == b"\xa5" * 3


def test_emit_default_offset() -> None:
    buf = bytearray([FILL]) * PACKET_LEN
    ArpPacket.parse(REPLY).emit(buf)
    assert bytes(buf) == REPLY


@pytest.mark.parametrize("wire", [REQUEST, REPLY])
def test_truncated_raises(wire: bytes) -> None:
    for n in range(PACKET_LEN):
        with pytest.raises(Malformed) as info:
            ArpPacket.parse(wire[:n])
        assert not isinstance(info.value, ChecksumError)


def test_ethernet_padding_is_ignored() -> None:
    padded = REQUEST + bytes(18)  # a NIC pads the 42-byte frame to 60
    assert ArpPacket.parse(padded) == ArpPacket.parse(REQUEST)


def test_parse_memoryview_slice_of_frame() -> None:
    assert ArpPacket.parse(memoryview(cap.ARP_REQUEST)[14:]).target_ip == cap.IP_B


@pytest.mark.parametrize("offset,value", [
    (0, b"\x00\x06"),  # hardware type IEEE 802 networks, not Ethernet
    (2, b"\x86\xdd"),  # protocol type IPv6
    (4, b"\x08"),  # hardware length 8
    (5, b"\x10"),  # protocol length 16
    (6, b"\x00\x03"),  # RARP request (RFC 903)
    (6, b"\x00\x00"),
    (6, b"\x00\x08"),  # InARP request
])
def test_not_ethernet_ipv4_request_or_reply_raises(offset: int, value: bytes) -> None:
    bad = REQUEST[:offset] + value + REQUEST[offset + len(value):]
    with pytest.raises(Malformed):
        ArpPacket.parse(bad)


@settings(max_examples=examples(200), deadline=None)
@given(st.sampled_from([OP_REQUEST, OP_REPLY]), st.binary(min_size=6, max_size=6), st.binary(min_size=4, max_size=4),
       st.binary(min_size=6, max_size=6), st.binary(min_size=4, max_size=4))
def test_emit_parse_round_trip(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> None:
    pkt = ArpPacket(op, sha, spa, tha, tpa)
    buf = bytearray([FILL]) * (PACKET_LEN + 1)
    pkt.emit(buf)
    assert buf[PACKET_LEN] == FILL
    assert bytes(buf[:8]) == b"\x00\x01\x08\x00\x06\x04" + op.to_bytes(2, "big")
    assert ArpPacket.parse(buf) == pkt
