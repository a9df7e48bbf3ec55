"""The Internet checksum (RFC 1071) against RFC vectors, kernel captures and a word-by-word reference."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.wire.checksum import checksum, data_sum, fold, ones_sum, pseudo_sum_v4, pseudo_sum_v6, verify


def reference_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 section 4.1 written out: add 16-bit words, fold the carries back in (end-around carry)."""
    if len(data) & 1:
        data += b"\x00"
    total = initial
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


# RFC 1071 section 3, "Numerical Examples": the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (2ddf0 with the carry
# folded in); with the byte order swapped the sum is f2dd, the bytes of ddf2 swapped.
RFC1071_BYTES = bytes.fromhex("0001f203f4f5f6f7")


def test_rfc1071_numeric_example_sum() -> None:
    assert fold(ones_sum(RFC1071_BYTES)) == 0xDDF2
    assert checksum(RFC1071_BYTES) == 0xDDF2 ^ 0xFFFF == 0x220D


def test_rfc1071_byte_order_independence() -> None:
    swapped = bytes(b for i in range(0, 8, 2) for b in (RFC1071_BYTES[i + 1], RFC1071_BYTES[i]))
    assert fold(ones_sum(swapped)) == 0xF2DD


def test_rfc1071_numeric_example_verifies_with_its_checksum() -> None:
    assert verify(RFC1071_BYTES + (0x220D).to_bytes(2, "big"))
    assert not verify(RFC1071_BYTES + (0x220C).to_bytes(2, "big"))


def test_rfc1071_partial_sums_add() -> None:
    """RFC 1071 2(B) and (C): sums of (even-length) pieces add up to the sum of the whole."""
    assert fold(ones_sum(RFC1071_BYTES[:4]) + ones_sum(RFC1071_BYTES[4:])) == 0xDDF2
    assert fold(ones_sum(RFC1071_BYTES[:2]) + ones_sum(RFC1071_BYTES[2:6]) + ones_sum(RFC1071_BYTES[6:])) == 0xDDF2


# The classic IPv4 header example (Wikipedia "Internet checksum" / "IPv4 header checksum"):
# 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 -- the checksum field is b861.
CLASSIC_IPV4 = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")


def test_classic_ipv4_header_checksum() -> None:
    assert checksum(CLASSIC_IPV4) == 0xB861
    with_sum = CLASSIC_IPV4[:10] + b"\xb8\x61" + CLASSIC_IPV4[12:]
    assert verify(with_sum)
    assert fold(ones_sum(with_sum)) == 0xFFFF


def test_odd_length_is_padded_with_a_zero_byte() -> None:
    """RFC 1071 4.1: a trailing odd byte is added as the high byte of a word."""
    assert ones_sum(b"\x01") == 0x0100
    assert fold(ones_sum(b"\x12\x34\x56")) == 0x1234 + 0x5600
    assert checksum(b"\x12\x34\x56") == ~(0x1234 + 0x5600) & 0xFFFF


def test_zero_and_all_ones() -> None:
    # +0 and -0: all-zero data sums to 0 (checksum ffff), a word of ffff sums to ffff (checksum 0)
    assert checksum(b"") == 0xFFFF
    assert checksum(bytes(20)) == 0xFFFF
    assert checksum(b"\xff\xff") == 0x0000
    assert fold(0xFFFF) == 0xFFFF
    assert fold(0x1FFFE) == 0xFFFF  # ffff + ffff = 1fffe -> fffe + 1
    assert not verify(bytes(8))
    assert verify(b"\xff\xff")


@pytest.mark.parametrize("frame", [cap.ECHO_REQUEST, cap.ECHO_REPLY_RR, cap.IGMP_V2_REPORT, cap.UDP_REQUEST,
                                   cap.ICMP_PORT_UNREACHABLE, cap.FRAG_ECHO_REQUEST_2, cap.IGMP_V3_GENERAL_QUERY])
def test_captured_ipv4_headers_verify(frame: bytes) -> None:
    ihl = (frame[14] & 0x0F) * 4
    header = frame[14:14 + ihl]
    assert verify(header)
    zeroed = header[:10] + b"\x00\x00" + header[12:]
    assert checksum(zeroed) == int.from_bytes(header[10:12], "big")


@pytest.mark.parametrize("frame", [cap.ECHO_REQUEST, cap.ECHO_REPLY, cap.ECHO_REQUEST_TS, cap.ICMP_PORT_UNREACHABLE])
def test_captured_icmp_messages_verify(frame: bytes) -> None:
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    assert verify(frame[14 + ihl:14 + total])


@pytest.mark.parametrize("frame", [cap.UDP_REQUEST, cap.UDP_REPLY, cap.UDP_TO_CLOSED_PORT, cap.UDP_MULTICAST])
def test_captured_udp_pseudo_header_checksums(frame: bytes) -> None:
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    udp = ip[ihl:]
    length = int.from_bytes(udp[4:6], "big")
    pseudo = pseudo_sum_v4(ip[12:16], ip[16:20], 17, length)
    assert verify(udp[:length], pseudo)
    stored = int.from_bytes(udp[6:8], "big")
    assert checksum(udp[:6] + b"\x00\x00" + udp[8:length], pseudo) == stored


def test_pseudo_header_layout() -> None:
    """RFC 768: source, destination, zero, protocol, UDP length -- 12 bytes summed as words."""
    src, dst = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
    expected = int.from_bytes(src + dst + b"\x00\x11" + (22).to_bytes(2, "big"), "big")
    assert pseudo_sum_v4(src, dst, 17, 22) == expected
    assert fold(pseudo_sum_v4(src, dst, 17, 22)) == reference_sum(src + dst + b"\x00\x11\x00\x16")


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_matches_word_by_word_reference(data: bytes, initial: int) -> None:
    ref = reference_sum(data, initial)
    got = fold(initial + ones_sum(data))
    # the loop gives 0 only when every word and initial were 0 (no +0/-0 ambiguity otherwise)
    assert got == ref
    assert checksum(data, initial) == ~ref & 0xFFFF


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=200).map(lambda b: b[:len(b) & ~1]), st.integers(0, 2**40))
def test_appending_the_checksum_verifies(data: bytes, pseudo: int) -> None:
    csum = checksum(data, pseudo)
    assert verify(data + csum.to_bytes(2, "big"), pseudo)
    assert verify(csum.to_bytes(2, "big") + data, pseudo)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b[:len(b) & ~1]), max_size=6), st.binary(max_size=41))
def test_partial_sums_of_even_pieces_add(pieces: list[bytes], tail: bytes) -> None:
    whole = b"".join(pieces) + tail
    assert fold(sum(ones_sum(p) for p in pieces) + ones_sum(tail)) == fold(ones_sum(whole))


@given(st.binary(max_size=200), st.sampled_from([6, 17, 58]))
@settings(max_examples=examples(50), deadline=None)
def test_pseudo_sum_v6_gives_the_checksum_scapy_computes(payload, next_header):
    """RFC 8200 8.1's pseudo-header, checked against scapy's in6_chksum (an independent implementation)."""
    import ipaddress

    from scapy.layers.inet6 import in6_chksum
    from scapy.layers.inet6 import IPv6
    src, dst = "2001:db8::1", "fe80::a5:42"
    upper = b"\x00" * 8 + payload
    ours = checksum(upper, pseudo_sum_v6(ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed,
                                         next_header, len(upper)))
    theirs = in6_chksum(next_header, IPv6(src=src, dst=dst, nh=next_header), upper)
    assert ours == theirs


# -- data_sum: the same partial sum from zlib.adler32's byte sums (issue 15, tx8) -------------------------------------
def _data_sum_agrees(data: bytes) -> None:
    for d in (data, bytearray(data)):
        got, want = data_sum(d), ones_sum(d)
        assert got % 0xFFFF == want % 0xFFFF and (got == 0) == (want == 0), len(d)
        assert fold(got) == reference_sum(bytes(d)) or not any(d)
        assert checksum(d) == ~fold(got) & 0xFFFF


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=4000))
def test_data_sum_matches_ones_sum(data: bytes) -> None:
    _data_sum_agrees(data)


@pytest.mark.parametrize("n", [0, 1, 399, 400, 401, 511, 512, 513, 1023, 1024, 1025, 1428, 1439, 1440, 1460, 1535,
                               1536, 1537, 2048, 4001, 9000])
@pytest.mark.parametrize("byte", [0x00, 0x01, 0x80, 0xFF])
def test_data_sum_of_extreme_bytes_at_every_piece_boundary(n: int, byte: int) -> None:
    """All bytes 0xFF make each 256-byte piece's sum as large as it gets (65,280, just under adler32's modulus):
    a piece one byte longer would wrap.  All zero must sum to zero (a checksum field of 0, not 0xFFFF)."""
    _data_sum_agrees(bytes([byte]) * n)
    _data_sum_agrees(bytes([byte]) * (n - 1) + b"\x01" if n else b"")
