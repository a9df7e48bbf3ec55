"""UDP (RFC 768) datagrams against Linux kernel captures (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import ChecksumError, Malformed
from lwipy.wire.checksum import checksum, pseudo_sum_v4
from lwipy.wire.ipv4 import PROTO_UDP, Ipv4Header
from lwipy.wire.udp import HEADER_LEN, UdpHeader

FILL = 0xA5


def split(frame: bytes) -> tuple[Ipv4Header, bytes]:
    hdr, payload = Ipv4Header.parse(frame[14:])
    return hdr, bytes(payload)


def pseudo_of(frame: bytes, length: int) -> int:
    ip, _ = split(frame)
    return pseudo_sum_v4(ip.src, ip.dst, PROTO_UDP, length)


# name: (frame, src_port, dst_port, length, checksum, payload)
CAPTURED = {
    "request": (cap.UDP_REQUEST, 40000, 7777, 22, 0x33B1, b"lwipy capture\n"),
    "reply": (cap.UDP_REPLY, 7777, 40000, 22, 0x1452, b"LWIPY CAPTURE\n"),
    "odd length": (cap.UDP_TO_CLOSED_PORT, 40000, 9, 15, 0xD82D, b"closed?"),
    "multicast": (cap.UDP_MULTICAST, 33718, 5000, 20, 0x67E9, b"to the group"),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_parse_captured(name: str) -> None:
    frame, sport, dport, length, csum, payload = CAPTURED[name]
    _, datagram = split(frame)
    hdr, body = UdpHeader.parse(datagram)
    assert hdr == UdpHeader(sport, dport, length, csum)
    assert bytes(body) == payload
    assert UdpHeader.verify(datagram, pseudo_of(frame, length))


@pytest.mark.parametrize("name", CAPTURED)
def test_emit_captured(name: str) -> None:
    frame, sport, dport, length, csum, payload = CAPTURED[name]
    _, datagram = split(frame)
    buf = bytearray([FILL]) * (5 + length + 3)
    buf[5 + HEADER_LEN:5 + length] = payload
    hdr = UdpHeader(sport, dport, length)
    hdr.emit(buf, 5, pseudo_of(frame, length))
    assert buf[:5] == b"\xa5" * 5 and buf[5 + length:] == b"\xa5" * 3
    assert bytes(buf[5:5 + length]) == datagram
    assert hdr.checksum == csum


def test_emit_without_checksum() -> None:
    """SO_NO_CHECK: the field is 0 ("no checksum", allowed over IPv4)."""
    _, datagram = split(cap.UDP_REQUEST)
    buf = bytearray([FILL]) * 22
    buf[8:] = b"lwipy capture\n"
    hdr = UdpHeader(40000, 7777, 22, checksum=0x1234)
    hdr.emit(buf, 0, None)
    assert bytes(buf) == datagram[:6] + b"\x00\x00" + datagram[8:]
    assert hdr.checksum == 0
    assert UdpHeader.parse(buf)[0].checksum == 0


def test_computed_zero_is_sent_as_all_ones() -> None:
    """RFC 768: a checksum that computes to zero is transmitted as all ones."""
    src, dst = cap.IP_A, cap.IP_B
    payload = bytearray(b"ab\x00\x00")
    length = HEADER_LEN + len(payload)
    pseudo = pseudo_sum_v4(src, dst, PROTO_UDP, length)
    header = (1234).to_bytes(2, "big") + (5678).to_bytes(2, "big") + length.to_bytes(2, "big") + b"\x00\x00"
    payload[2:4] = checksum(header + payload, pseudo).to_bytes(2, "big")  # now the whole sums to ffff
    assert checksum(header + payload, pseudo) == 0
    buf = bytearray(HEADER_LEN) + payload
    hdr = UdpHeader(1234, 5678, length)
    hdr.emit(buf, 0, pseudo)
    assert hdr.checksum == 0xFFFF and buf[6:8] == b"\xff\xff"
    assert UdpHeader.verify(buf, pseudo)


@pytest.mark.parametrize("name", CAPTURED)
def test_truncated_raises(name: str) -> None:
    frame, *_, payload = CAPTURED[name]
    _, datagram = split(frame)
    for n in range(len(datagram)):
        with pytest.raises(Malformed) as info:
            UdpHeader.parse(datagram[:n])  # shorter than the header, or than its own length field
        assert not isinstance(info.value, ChecksumError)


@pytest.mark.parametrize("length", [0, 7])
def test_length_below_header(length: int) -> None:
    _, datagram = split(cap.UDP_REQUEST)
    bad = datagram[:4] + length.to_bytes(2, "big") + datagram[6:]
    with pytest.raises(Malformed):
        UdpHeader.parse(bad)


def test_payload_trimmed_to_udp_length() -> None:
    _, datagram = split(cap.UDP_TO_CLOSED_PORT)
    hdr, body = UdpHeader.parse(datagram + b"\x00" * 11)
    assert hdr.length == 15 and bytes(body) == b"closed?"


def test_header_only_datagram() -> None:
    hdr, body = UdpHeader.parse(bytes.fromhex("9c401e6100080000"))
    assert (hdr.length, len(body)) == (8, 0)


@pytest.mark.parametrize("name", CAPTURED)
@pytest.mark.parametrize("where", [0, 3, 5, 6, 7, 8, -1])
def test_bad_checksum_does_not_verify(name: str, where: int) -> None:
    """The parser leaves checksums to the caller (the pseudo-header is the IP layer's); verify catches a flip."""
    frame, *_, length, _csum, _payload = CAPTURED[name]
    _, datagram = split(frame)
    bad = bytearray(datagram)
    bad[where] ^= 0x02
    assert not UdpHeader.verify(bad, pseudo_of(frame, length))


def test_wrong_pseudo_header_does_not_verify() -> None:
    _, datagram = split(cap.UDP_REQUEST)
    assert not UdpHeader.verify(datagram, pseudo_sum_v4(cap.IP_A, bytes([10, 9, 0, 3]), PROTO_UDP, 22))


ports = st.integers(0, 0xFFFF)


@settings(max_examples=examples(300), deadline=None)
@given(ports, ports, st.binary(max_size=100), st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4),
       st.booleans(), st.integers(0, 7))
def test_emit_parse_round_trip(sport: int, dport: int, payload: bytes, src: bytes, dst: bytes, with_sum: bool,
                               offset: int) -> None:
    length = HEADER_LEN + len(payload)
    buf = bytearray([FILL]) * (offset + HEADER_LEN) + payload + b"\xa5"
    pseudo = pseudo_sum_v4(src, dst, PROTO_UDP, length) if with_sum else None
    hdr = UdpHeader(sport, dport, length)
    hdr.emit(buf, offset, pseudo)
    assert buf[:offset] == b"\xa5" * offset and buf[-1] == FILL
    parsed, body = UdpHeader.parse(memoryview(buf)[offset:])
    assert parsed == hdr
    assert bytes(body) == payload
    if with_sum:
        assert parsed.checksum != 0 and UdpHeader.verify(memoryview(buf)[offset:offset + length], pseudo)
