"""ICMP (RFC 792) messages against Linux kernel captures (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import ChecksumError, Malformed
from lwipy.wire import icmp as w
from lwipy.wire.icmp import HEADER_LEN, IcmpHeader
from lwipy.wire.ipv4 import Ipv4Header

FILL = 0xA5


def icmp_of(frame: bytes) -> bytes:
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    return frame[14 + ihl:14 + total]


PING_BODY = bytes.fromhex("b1b9066b000000007dcc030000000000") + bytes(range(0x10, 0x38))

# name: (message, type, code, rest, checksum)
CAPTURED = {
    "echo request": (icmp_of(cap.ECHO_REQUEST), w.ECHO_REQUEST, 0, 0x1A080001, 0xE632),
    "echo reply": (icmp_of(cap.ECHO_REPLY), w.ECHO_REPLY, 0, 0x1A080001, 0xEE32),
    "echo request rr": (icmp_of(cap.ECHO_REQUEST_RR), w.ECHO_REQUEST, 0, 0x1A090001, 0x0E24),
    "echo reply ts": (icmp_of(cap.ECHO_REPLY_TS), w.ECHO_REPLY, 0, 0x1A0A0001, 0x4417),
    "port unreachable": (icmp_of(cap.ICMP_PORT_UNREACHABLE), w.DEST_UNREACH, w.UNREACH_PORT, 0, 0x1132),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_parse_captured(name: str) -> None:
    msg, type_, code, rest, csum = CAPTURED[name]
    hdr, body = IcmpHeader.parse(msg)
    assert (hdr.type, hdr.code, hdr.rest, hdr.checksum) == (type_, code, rest, csum)
    assert bytes(body) == msg[HEADER_LEN:]


def test_echo_fields() -> None:
    hdr, body = IcmpHeader.parse(icmp_of(cap.ECHO_REQUEST))
    assert (hdr.ident, hdr.seq) == (0x1A08, 1)
    assert bytes(body) == PING_BODY  # 16-byte timestamp then iputils' 0x10, 0x11, ... pattern
    assert IcmpHeader.echo(w.ECHO_REQUEST, 0x1A08, 1) == IcmpHeader(w.ECHO_REQUEST, 0, 0x1A080001)


def test_port_unreachable_quotes_the_datagram() -> None:
    hdr, body = IcmpHeader.parse(icmp_of(cap.ICMP_PORT_UNREACHABLE))
    assert hdr.type in w.ERROR_TYPES
    assert bytes(body) == cap.UDP_TO_CLOSED_PORT[14:]  # Linux quotes the whole (short) datagram
    inner, inner_payload = Ipv4Header.parse(body)
    assert (inner.src, inner.dst, inner.proto) == (cap.IP_A, cap.IP_B, 17)
    assert bytes(inner_payload[:4]) == bytes.fromhex("9c400009")  # ports 40000 -> 9


@pytest.mark.parametrize("name", CAPTURED)
def test_emit_captured(name: str) -> None:
    msg, type_, code, rest, csum = CAPTURED[name]
    body = msg[HEADER_LEN:]
    buf = bytearray([FILL]) * (3 + len(msg) + 5)
    buf[3 + HEADER_LEN:3 + len(msg)] = body
    hdr = IcmpHeader(type_, code, rest)
    hdr.emit(buf, 3, len(body))
    assert buf[:3] == b"\xa5" * 3 and buf[3 + len(msg):] == b"\xa5" * 5
    assert bytes(buf[3:3 + len(msg)]) == msg
    assert hdr.checksum == csum


def test_emit_over_memoryview() -> None:
    msg = icmp_of(cap.ECHO_REPLY)
    buf = bytearray([FILL]) * len(msg)
    buf[HEADER_LEN:] = msg[HEADER_LEN:]
    IcmpHeader.echo(w.ECHO_REPLY, 0x1A08, 1).emit(memoryview(buf), 0, len(msg) - HEADER_LEN)
    assert bytes(buf) == msg


@pytest.mark.parametrize("name", CAPTURED)
def test_truncated_raises(name: str) -> None:
    msg = CAPTURED[name][0]
    for n in range(HEADER_LEN):
        for check in (True, False):
            with pytest.raises(Malformed) as info:
                IcmpHeader.parse(msg[:n], check)
            assert not isinstance(info.value, ChecksumError)
    for n in range(HEADER_LEN, len(msg)):
        with pytest.raises(ChecksumError):
            IcmpHeader.parse(msg[:n])  # the checksum covers the whole message: a cut one does not verify
        hdr, body = IcmpHeader.parse(msg[:n], check=False)
        assert len(body) == n - HEADER_LEN


@pytest.mark.parametrize("name", CAPTURED)
@pytest.mark.parametrize("where", [0, 1, 2, 3, 4, 7, -1])
def test_bad_checksum(name: str, where: int) -> None:
    msg = bytearray(CAPTURED[name][0])
    msg[where] ^= 0x01
    with pytest.raises(ChecksumError):
        IcmpHeader.parse(msg)
    hdr, _ = IcmpHeader.parse(msg, check=False)
    assert hdr.checksum == int.from_bytes(msg[2:4], "big")


def test_fragmented_echo_checksum_covers_the_reassembled_message() -> None:
    first, p1 = Ipv4Header.parse(cap.FRAG_ECHO_REQUEST_1[14:])
    last, p2 = Ipv4Header.parse(cap.FRAG_ECHO_REQUEST_2[14:])
    with pytest.raises(ChecksumError):
        IcmpHeader.parse(p1)  # one fragment alone is not the message
    whole = bytes(p1) + bytes(p2)
    assert len(whole) == 2008
    hdr, body = IcmpHeader.parse(whole)
    assert (hdr.type, hdr.ident, hdr.seq, hdr.checksum) == (w.ECHO_REQUEST, 0x1A5D, 1, 0xA23F)
    reply = bytes(Ipv4Header.parse(cap.FRAG_ECHO_REPLY_1[14:])[1]) + bytes(Ipv4Header.parse(cap.FRAG_ECHO_REPLY_2[14:])[1])
    rhdr, rbody = IcmpHeader.parse(reply)
    assert (rhdr.type, rhdr.ident, rhdr.seq) == (w.ECHO_REPLY, 0x1A5D, 1)
    assert bytes(rbody) == bytes(body)


def test_all_zero_message_gets_checksum_ffff() -> None:
    """An all-zero message sums to 0, so its checksum field is ffff, which verifies."""
    buf = bytearray(HEADER_LEN)
    IcmpHeader(0, 0, 0).emit(buf, 0, 0)
    assert buf[2:4] == b"\xff\xff"
    assert IcmpHeader.parse(buf)[0].checksum == 0xFFFF


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFFFFFF), st.binary(max_size=80),
       st.integers(0, 6))
def test_emit_parse_round_trip(type_: int, code: int, rest: int, body: bytes, offset: int) -> None:
    buf = bytearray([FILL]) * (offset + HEADER_LEN) + body + b"\xa5\xa5"
    hdr = IcmpHeader(type_, code, rest)
    hdr.emit(buf, offset, len(body))
    assert buf[:offset] == b"\xa5" * offset and buf[-2:] == b"\xa5\xa5"
    parsed, rest_view = IcmpHeader.parse(memoryview(buf)[offset:len(buf) - 2])
    assert parsed == hdr
    assert bytes(rest_view) == body
