"""IPv4 headers (RFC 791) against the classic header example and kernel captures (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import ChecksumError, Malformed
from lwipy.wire.checksum import checksum
from lwipy.wire.ipv4 import (MAX_HEADER_LEN, MIN_HEADER_LEN, OPTION_ROUTER_ALERT, PROTO_ICMP, PROTO_IGMP, PROTO_UDP,
                             Ipv4Header, OptionError, iter_options)

FILL = 0xA5

# The classic example (Wikipedia "IPv4 header checksum"): 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7,
# a UDP datagram of 115 bytes from 192.168.0.1 to 192.168.0.199 with DF set.  Only the header is given there.
CLASSIC = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")
CLASSIC_BODY = bytes(range(95))  # any 95 bytes make up the total length of 0x73


def ip_of(frame: bytes) -> bytes:
    return frame[14:]


def test_parse_classic_example() -> None:
    hdr, payload = Ipv4Header.parse(CLASSIC + CLASSIC_BODY)
    assert (hdr.src, hdr.dst) == (bytes([192, 168, 0, 1]), bytes([192, 168, 0, 199]))
    assert (hdr.proto, hdr.ttl, hdr.tos, hdr.ident) == (PROTO_UDP, 64, 0, 0)
    assert (hdr.dont_fragment, hdr.more_fragments, hdr.frag_offset, hdr.is_fragment) == (True, False, 0, False)
    assert (hdr.total_len, hdr.header_len, hdr.payload_len, hdr.options) == (0x73, 20, 95, b"")
    assert hdr.checksum == 0xB861
    assert bytes(payload) == CLASSIC_BODY


def test_emit_classic_example() -> None:
    hdr = Ipv4Header(bytes([192, 168, 0, 1]), bytes([192, 168, 0, 199]), PROTO_UDP, ttl=64, dont_fragment=True,
                     total_len=0x73)
    buf = bytearray([FILL]) * 24
    hdr.emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5" and buf[22:] == b"\xa5\xa5"
    assert bytes(buf[2:22]) == CLASSIC
    assert hdr.checksum == 0xB861


def test_classic_header_alone_is_truncated() -> None:
    with pytest.raises(Malformed):
        Ipv4Header.parse(CLASSIC)  # total length 115 in 20 bytes


# (frame, expected fields): header fields as the kernel sent them
CAPTURED = {
    "echo": (cap.ECHO_REQUEST, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_ICMP, ttl=64, tos=0, ident=0x56E9,
                                     dont_fragment=True, more_fragments=False, frag_offset=0, total_len=84,
                                     options=b"", checksum=0xCFAB)),
    "echo reply": (cap.ECHO_REPLY, dict(src=cap.IP_B, dst=cap.IP_A, proto=PROTO_ICMP, ttl=64, tos=0, ident=0x366A,
                                        dont_fragment=False, more_fragments=False, frag_offset=0, total_len=84,
                                        options=b"", checksum=0x302B)),
    "record route": (cap.ECHO_REQUEST_RR, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_ICMP, ttl=64, tos=0,
                                               ident=0x56EA, dont_fragment=True, more_fragments=False, frag_offset=0,
                                               total_len=124, checksum=0x9369,
                                               options=bytes.fromhex("01072708") + cap.IP_A + bytes(32))),
    "timestamp": (cap.ECHO_REQUEST_TS, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_ICMP, ttl=64, tos=0,
                                            ident=0x56EB, dont_fragment=True, more_fragments=False, frag_offset=0,
                                            total_len=124, checksum=0xA1AD,
                                            options=bytes.fromhex("442809000244d467") + bytes(32))),
    "udp": (cap.UDP_REQUEST, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_UDP, ttl=64, tos=0, ident=0xD151,
                                  dont_fragment=True, more_fragments=False, frag_offset=0, total_len=42,
                                  options=b"", checksum=0x555D)),
    "udp multicast": (cap.UDP_MULTICAST, dict(src=cap.IP_A, dst=cap.GROUP, proto=PROTO_UDP, ttl=1, tos=0,
                                              ident=0x1171, dont_fragment=True, more_fragments=False, frag_offset=0,
                                              total_len=40, options=b"", checksum=0x6D46)),
    "port unreachable": (cap.ICMP_PORT_UNREACHABLE, dict(src=cap.IP_B, dst=cap.IP_A, proto=PROTO_ICMP, ttl=64,
                                                         tos=0xC0, ident=0x366D, dont_fragment=False,
                                                         more_fragments=False, frag_offset=0, total_len=63,
                                                         options=b"", checksum=0x2F7D)),
    "igmp report": (cap.IGMP_V2_REPORT, dict(src=cap.IP_A, dst=cap.GROUP, proto=PROTO_IGMP, ttl=1, tos=0xC0,
                                             ident=0, dont_fragment=True, more_fragments=False, frag_offset=0,
                                             total_len=32, options=OPTION_ROUTER_ALERT, checksum=0xE909)),
    "igmp v3 query": (cap.IGMP_V3_GENERAL_QUERY, dict(src=bytes(4), dst=bytes([224, 0, 0, 1]), proto=PROTO_IGMP,
                                                      ttl=1, tos=0xC0, ident=0, dont_fragment=True,
                                                      more_fragments=False, frag_offset=0, total_len=36,
                                                      options=OPTION_ROUTER_ALERT, checksum=0x0413)),
    "first fragment": (cap.FRAG_ECHO_REQUEST_1, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_ICMP, ttl=64, tos=0,
                                                     ident=0x5A66, dont_fragment=False, more_fragments=True,
                                                     frag_offset=0, total_len=1500, options=b"", checksum=0xE6A6)),
    "last fragment": (cap.FRAG_ECHO_REQUEST_2, dict(src=cap.IP_A, dst=cap.IP_B, proto=PROTO_ICMP, ttl=64, tos=0,
                                                    ident=0x5A66, dont_fragment=False, more_fragments=False,
                                                    frag_offset=1480, total_len=548, options=b"",
                                                    checksum=0x09A6)),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_parse_captured(name: str) -> None:
    frame, fields = CAPTURED[name]
    hdr, payload = Ipv4Header.parse(ip_of(frame))
    for key, value in fields.items():
        assert getattr(hdr, key) == value, key
    assert hdr.header_len == 20 + len(fields["options"])
    assert hdr.payload_len == fields["total_len"] - hdr.header_len
    assert bytes(payload) == ip_of(frame)[hdr.header_len:fields["total_len"]]
    assert hdr.is_fragment == name.endswith("fragment")


@pytest.mark.parametrize("name", CAPTURED)
def test_emit_captured(name: str) -> None:
    frame, fields = CAPTURED[name]
    fields = dict(fields)
    expected_checksum = fields.pop("checksum")
    hdr = Ipv4Header(**fields)
    hlen = hdr.header_len
    buf = bytearray([FILL]) * (hlen + 8)
    hdr.emit(buf, 4)
    assert buf[:4] == b"\xa5" * 4 and buf[4 + hlen:] == b"\xa5" * 4
    assert bytes(buf[4:4 + hlen]) == ip_of(frame)[:hlen]
    assert hdr.checksum == expected_checksum


def test_fragment_offsets_of_captured_pair() -> None:
    first, _ = Ipv4Header.parse(ip_of(cap.FRAG_ECHO_REQUEST_1))
    last, last_payload = Ipv4Header.parse(ip_of(cap.FRAG_ECHO_REQUEST_2))
    assert first.payload_len == last.frag_offset == 1480
    assert first.payload_len + last.payload_len == 8 + 2000  # ICMP header + ping -s 2000
    assert len(last_payload) == 528


@pytest.mark.parametrize("flags", [0x8000, 0xC000, 0xA000 | 0x00B9])
def test_the_reserved_flag_is_read_and_written_back(flags: int) -> None:
    """RFC 791's reserved flag (bit 0 of the flags): parsed into ``reserved_flag`` beside DF, MF and the offset, and
    emitted again as it was (lwIP's echo reply sends a request's header back with it)."""
    packet = bytearray(CLASSIC + CLASSIC_BODY)
    packet[6:8] = flags.to_bytes(2, "big")
    packet[10:12] = b"\0\0"
    packet[10:12] = checksum(packet[:20]).to_bytes(2, "big")
    hdr, _ = Ipv4Header.parse(packet)
    assert (hdr.reserved_flag, hdr.dont_fragment, hdr.more_fragments) == (True, bool(flags & 0x4000), bool(flags & 0x2000))
    assert hdr.frag_offset == (flags & 0x1FFF) * 8
    buf = bytearray(20)
    hdr.emit(buf)
    assert bytes(buf) == bytes(packet[:20])
    hdr.reserved_flag = False
    hdr.emit(buf)
    assert buf[6:8] == (flags & 0x7FFF).to_bytes(2, "big")


@pytest.mark.parametrize("name", CAPTURED)
def test_truncated_raises(name: str) -> None:
    frame, fields = CAPTURED[name]
    packet = ip_of(frame)
    for n in range(fields["total_len"]):
        for check in (True, False):
            with pytest.raises(Malformed) as info:
                Ipv4Header.parse(packet[:n], check)
            assert not isinstance(info.value, ChecksumError)


@pytest.mark.parametrize("frame", [cap.UDP_TO_CLOSED_PORT, cap.IGMP_LEAVE, cap.UDP_REQUEST])
def test_link_padding_is_trimmed(frame: bytes) -> None:
    padded = ip_of(frame) + bytes(max(0, 46 - len(ip_of(frame)))) + b"\x00" * 3
    hdr, payload = Ipv4Header.parse(padded)
    assert len(payload) == hdr.payload_len
    assert bytes(payload) == ip_of(frame)[hdr.header_len:]


@pytest.mark.parametrize("name", ["echo", "igmp report", "record route", "last fragment"])
@pytest.mark.parametrize("where", [1, 5, 8, 10, 11, 12, 19])
def test_bad_header_checksum(name: str, where: int) -> None:
    packet = bytearray(ip_of(CAPTURED[name][0]))
    packet[where] ^= 0x10  # TOS, ident, TTL, the checksum itself, source, destination
    with pytest.raises(ChecksumError):
        Ipv4Header.parse(packet)
    hdr, _ = Ipv4Header.parse(packet, check=False)
    assert hdr.checksum == int.from_bytes(packet[10:12], "big")


def test_bad_option_byte_is_covered_by_the_checksum() -> None:
    packet = bytearray(ip_of(cap.ECHO_REQUEST_RR))
    packet[30] ^= 0xFF  # inside the record route data
    with pytest.raises(ChecksumError):
        Ipv4Header.parse(packet)


def test_payload_is_not_covered_by_the_header_checksum() -> None:
    packet = bytearray(ip_of(cap.ECHO_REQUEST))
    packet[-1] ^= 0xFF
    hdr, payload = Ipv4Header.parse(packet)
    assert payload[-1] == packet[-1]


@pytest.mark.parametrize("first_byte", [0x65, 0x05, 0x44, 0x40, 0xF5, 0x00])
def test_bad_version_or_ihl(first_byte: int) -> None:
    packet = bytearray(ip_of(cap.ECHO_REQUEST))
    packet[0] = first_byte
    with pytest.raises(Malformed):
        Ipv4Header.parse(packet, check=False)


def test_ihl_beyond_total_length() -> None:
    packet = bytearray(ip_of(cap.UDP_REQUEST))
    packet[0] = 0x4F  # a 60-byte header in a 42-byte packet
    with pytest.raises(Malformed):
        Ipv4Header.parse(packet, check=False)


@pytest.mark.parametrize("total", [0, 19, 43, 0xFFFF])
def test_bad_total_length(total: int) -> None:
    packet = bytearray(ip_of(cap.UDP_REQUEST))  # 42 bytes
    packet[2:4] = total.to_bytes(2, "big")
    with pytest.raises(Malformed):
        Ipv4Header.parse(packet, check=False)


def test_total_length_equal_to_header_length_is_an_empty_packet() -> None:
    hdr = Ipv4Header(cap.IP_A, cap.IP_B, 253, total_len=20)
    buf = bytearray(20)
    hdr.emit(buf)
    parsed, payload = Ipv4Header.parse(buf)
    assert parsed.payload_len == 0 and len(payload) == 0


def test_reserved_flag_bit_is_ignored() -> None:
    hdr = Ipv4Header(cap.IP_A, cap.IP_B, PROTO_UDP, total_len=20)
    buf = bytearray(20)
    hdr.emit(buf)
    buf[6] |= 0x80
    parsed, _ = Ipv4Header.parse(buf, check=False)
    assert (parsed.dont_fragment, parsed.more_fragments, parsed.frag_offset) == (False, False, 0)


# -- options --------------------------------------------------------------------------------------------------------
def test_iter_options_record_route() -> None:
    hdr, _ = Ipv4Header.parse(ip_of(cap.ECHO_REQUEST_RR))
    opts = list(iter_options(hdr.options))
    assert [kind for kind, _ in opts] == [7]  # the NOP is skipped
    assert bytes(opts[0][1]) == b"\x08" + cap.IP_A + bytes(32)  # pointer, one address recorded, 8 free slots


def test_iter_options_record_route_reply() -> None:
    hdr, _ = Ipv4Header.parse(ip_of(cap.ECHO_REPLY_RR))
    (kind, value), = iter_options(hdr.options)
    assert kind == 7 and value[0] == 16  # the pointer moved past the two addresses the kernel recorded
    assert bytes(value[1:9]) == cap.IP_A + cap.IP_B


def test_iter_options_timestamp() -> None:
    hdr, _ = Ipv4Header.parse(ip_of(cap.ECHO_REQUEST_TS))
    (kind, value), = iter_options(hdr.options)
    assert kind == 0x44 and len(value) == 38 and value[:2] == b"\x09\x00"


def test_iter_options_router_alert() -> None:
    assert list(iter_options(OPTION_ROUTER_ALERT)) == [(0x94, b"\x00\x00")]


def test_iter_options_end_of_list_stops() -> None:
    assert list(iter_options(b"\x01\x00\xff\xff")) == []
    assert list(iter_options(b"\x01\x01\x01\x01")) == []


@pytest.mark.parametrize("options,offset", [
    (b"\x07", 0),  # no length byte
    (b"\x01\x07", 1),
    (b"\x07\x00\x00\x00", 0),  # length 0
    (b"\x07\x01\x00\x00", 0),  # length 1
    (b"\x07\x05\x04\x00", 0),  # runs past the end
    (b"\x94\x04\x00\x00\x83\x09\x04\x00", 4),
])
def test_iter_options_malformed(options: bytes, offset: int) -> None:
    with pytest.raises(OptionError) as info:
        list(iter_options(options))
    assert info.value.offset == offset
    assert isinstance(info.value, Malformed)


def test_emit_rejects_misaligned_or_long_options() -> None:
    for options in (b"\x01", b"\x01" * 41, b"\x01" * 44):
        with pytest.raises(ValueError):
            Ipv4Header(cap.IP_A, cap.IP_B, 1, total_len=64, options=options).emit(bytearray(80))


# -- round trip -----------------------------------------------------------------------------------------------------
addr = st.binary(min_size=4, max_size=4)


@st.composite
def headers(draw) -> tuple[Ipv4Header, bytes]:
    options = draw(st.binary(max_size=40).map(lambda b: b[:len(b) & ~3]))
    payload = draw(st.binary(max_size=64))
    hdr = Ipv4Header(draw(addr), draw(addr), draw(st.integers(0, 255)), draw(st.integers(0, 255)),
                     draw(st.integers(0, 255)), draw(st.integers(0, 0xFFFF)), draw(st.booleans()), draw(st.booleans()),
                     draw(st.integers(0, 0x1FFF)) * 8, 20 + len(options) + len(payload), options)
    return hdr, payload


@settings(max_examples=examples(300), deadline=None)
@given(headers(), st.integers(0, 8), st.booleans())
def test_emit_parse_round_trip(case: tuple[Ipv4Header, bytes], offset: int, as_view: bool) -> None:
    hdr, payload = case
    hlen = hdr.header_len
    buf = bytearray([FILL]) * (offset + hlen) + payload
    hdr.emit(memoryview(buf) if as_view else buf, offset)
    assert buf[:offset] == b"\xa5" * offset
    parsed, rest = Ipv4Header.parse(memoryview(buf)[offset:])
    assert parsed == hdr
    assert bytes(rest) == payload
    assert MIN_HEADER_LEN <= parsed.header_len <= MAX_HEADER_LEN
