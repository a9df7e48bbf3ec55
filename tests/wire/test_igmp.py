"""IGMP (RFC 2236, and RFC 3376 queries) against Linux kernel captures (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import ChecksumError, Malformed
from lwipy.wire.igmp import LEAVE_GROUP, MEMB_QUERY, MESSAGE_LEN, V1_MEMB_REPORT, V2_MEMB_REPORT, IgmpMessage
from lwipy.wire.ipv4 import Ipv4Header

FILL = 0xA5


def igmp_of(frame: bytes) -> bytes:
    return bytes(Ipv4Header.parse(frame[14:])[1])


# name: (message, type, max_resp, group, checksum)
CAPTURED = {
    "v2 report": (igmp_of(cap.IGMP_V2_REPORT), V2_MEMB_REPORT, 0, cap.GROUP, 0xF8FA),
    "leave": (igmp_of(cap.IGMP_LEAVE), LEAVE_GROUP, 0, cap.GROUP, 0xF7FA),
    "v2 general query": (igmp_of(cap.IGMP_V2_GENERAL_QUERY), MEMB_QUERY, 100, bytes(4), 0xEE9B),
    "v2 group query": (igmp_of(cap.IGMP_V2_GROUP_QUERY), MEMB_QUERY, 10, cap.GROUP, 0xFDF0),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_parse_captured(name: str) -> None:
    msg, type_, max_resp, group, csum = CAPTURED[name]
    assert len(msg) == MESSAGE_LEN
    assert IgmpMessage.parse(msg) == IgmpMessage(type_, max_resp, group, csum)


def test_parse_captured_v3_query_as_a_query() -> None:
    """RFC 3376 4.1: a 12-byte query; its first 8 bytes read as a v2 query and its checksum covers all 12."""
    msg = igmp_of(cap.IGMP_V3_GENERAL_QUERY)
    assert len(msg) == 12
    assert msg[8:] == bytes.fromhex("02020000")  # S=0 QRV=2, QQIC 2 s (the bridge's query interval), no sources
    assert IgmpMessage.parse(msg) == IgmpMessage(MEMB_QUERY, 100, bytes(4), 0xEC99)
    bad = bytearray(msg)
    bad[9] ^= 1  # a byte beyond the v2 part: still under the checksum
    with pytest.raises(ChecksumError):
        IgmpMessage.parse(bad)


@pytest.mark.parametrize("name", CAPTURED)
def test_emit_captured(name: str) -> None:
    msg, type_, max_resp, group, csum = CAPTURED[name]
    buf = bytearray([FILL]) * (MESSAGE_LEN + 4)
    m = IgmpMessage(type_, max_resp, group)
    m.emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5" and buf[2 + MESSAGE_LEN:] == b"\xa5\xa5"
    assert bytes(buf[2:2 + MESSAGE_LEN]) == msg
    assert m.checksum == csum
    assert IgmpMessage.buffer_len == MESSAGE_LEN


@pytest.mark.parametrize("name", CAPTURED)
def test_truncated_raises(name: str) -> None:
    msg = CAPTURED[name][0]
    for n in range(MESSAGE_LEN):
        with pytest.raises(Malformed) as info:
            IgmpMessage.parse(msg[:n])
        assert not isinstance(info.value, ChecksumError)


@pytest.mark.parametrize("name", CAPTURED)
@pytest.mark.parametrize("where", range(MESSAGE_LEN))
def test_bad_checksum(name: str, where: int) -> None:
    msg = bytearray(CAPTURED[name][0])
    msg[where] ^= 0x40
    with pytest.raises(ChecksumError):
        IgmpMessage.parse(msg)


def test_ipv4_padding_after_message_is_part_of_the_checksum() -> None:
    """The IP layer trims link padding; bytes inside the IP total length count, as RFC 2236 2.3 says."""
    msg = CAPTURED["v2 report"][0]
    assert IgmpMessage.parse(msg + b"\x00\x00").group == cap.GROUP  # zero words do not change the sum
    with pytest.raises(ChecksumError):
        IgmpMessage.parse(msg + b"\x00\x01")


def test_v1_report_type() -> None:
    buf = bytearray(MESSAGE_LEN)
    IgmpMessage(V1_MEMB_REPORT, 0, cap.GROUP).emit(buf)
    assert buf[0] == 0x12 and IgmpMessage.parse(buf).type == V1_MEMB_REPORT


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(min_size=4, max_size=4), st.integers(0, 5))
def test_emit_parse_round_trip(type_: int, max_resp: int, group: bytes, offset: int) -> None:
    buf = bytearray([FILL]) * (offset + MESSAGE_LEN + 1)
    m = IgmpMessage(type_, max_resp, group)
    m.emit(buf, offset)
    assert buf[:offset] == b"\xa5" * offset and buf[-1] == FILL
    assert IgmpMessage.parse(memoryview(buf)[offset:offset + MESSAGE_LEN]) == m
