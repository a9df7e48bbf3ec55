"""TCP segments (RFC 9293) and options (RFC 7323, RFC 2018) against Linux kernel captures (see captures.py), with
scapy as an independent codec both ways."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from helpers import examples

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, TCP, Ether, Raw, conf  # noqa: E402

from . import captures as cap  # noqa: E402
from lwipy.errors import ChecksumError, Malformed  # noqa: E402
from lwipy.wire.checksum import pseudo_sum_v4  # noqa: E402
from lwipy.wire.ipv4 import PROTO_TCP, Ipv4Header  # noqa: E402
from lwipy.wire.tcp import (ACK, CWR, ECE, FIN, MAX_HEADER_LEN, MIN_HEADER_LEN, OPT_EOL, OPT_MSS, OPT_NOP,  # noqa: E402
                            OPT_SACK, OPT_SACK_PERMITTED, OPT_TIMESTAMP, OPT_WSCALE, PSH, RST, SYN, URG, TcpHeader,
                            TcpOptions)

conf.verb = 0
FILL = 0xA5


def split(frame: bytes) -> tuple[Ipv4Header, bytes]:
    hdr, payload = Ipv4Header.parse(frame[14:])
    return hdr, bytes(payload)


def pseudo_of(frame: bytes) -> int:
    ip, segment = split(frame)
    return pseudo_sum_v4(ip.src, ip.dst, PROTO_TCP, len(segment))


def ip_str(packed: bytes) -> str:
    return str(IPv4Address(packed))


# SYN and SYN-ACK options as Linux sends them: MSS 1460, SACK permitted, timestamps, window scale 10 (WS=1024)
SYN_OPTIONS = TcpOptions(mss=1460, wscale=10, sack_permitted=True, timestamp=(2807113612, 0))

# name: (frame, header as tshark read it, payload)
CAPTURED = {
    "syn": (cap.TCP_SYN, TcpHeader(40000, 7777, 354634020, 0, SYN, 64240, 0x5131, 0, SYN_OPTIONS), b""),
    "syn-ack": (cap.TCP_SYN_ACK, TcpHeader(7777, 40000, 1564658035, 354634021, SYN | ACK, 65160, 0xEC3C, 0,
                                           TcpOptions(1460, 10, True, (), (3652280547, 2807113612))), b""),
    "ack": (cap.TCP_ACK, TcpHeader(40000, 7777, 354634021, 1564658036, ACK, 63, 0x1956, 0,
                                   TcpOptions(timestamp=(2807113612, 3652280547))), b""),
    "data": (cap.TCP_DATA, TcpHeader(40000, 7777, 354634021, 1564658036, PSH | ACK, 63, 0x3C4A, 0,
                                     TcpOptions(timestamp=(2807113612, 3652280547))), b"lwipy, tcp\n"),
    "fin": (cap.TCP_FIN, TcpHeader(40000, 7777, 354634032, 1564658047, FIN | ACK, 63, 0x18DB, 0,
                                   TcpOptions(timestamp=(2807113712, 3652280547))), b""),
    "syn to closed port": (cap.TCP_SYN_CLOSED, TcpHeader(40001, 9, 2276750858, 0, SYN, 64240, 0xC3DA, 0,
                                                         TcpOptions(1460, 10, True, (), (1167824248, 0))), b""),
    "rst": (cap.TCP_RST, TcpHeader(9, 40001, 0, 2276750859, RST | ACK, 0, 0x01B2, 0, None), b""),
    "sack, one block": (cap.TCP_SACK_1, TcpHeader(7778, 40002, 3431764191, 1360628894, ACK, 64, 0x0AC5, 0, TcpOptions(
        sack_blocks=((1360628904, 1360628916),), timestamp=(2919269697, 3226303652))), b""),
    "sack, two blocks": (cap.TCP_SACK_2, TcpHeader(7778, 40002, 3431764191, 1360628894, ACK, 64, 0x2DA5, 0, TcpOptions(
        sack_blocks=((1360628934, 1360628945), (1360628904, 1360628916)), timestamp=(2919270022, 3226303652))), b""),
}
HEADER_LENS = {"syn": 40, "syn-ack": 40, "ack": 32, "data": 32, "fin": 32, "syn to closed port": 40, "rst": 20,
               "sack, one block": 44, "sack, two blocks": 52}


@pytest.mark.parametrize("name", CAPTURED)
def test_parse_captured(name: str) -> None:
    frame, expected, payload = CAPTURED[name]
    _, segment = split(frame)
    hdr, body = TcpHeader.parse(segment)
    assert hdr == expected
    assert hdr.header_len == HEADER_LENS[name]
    assert isinstance(body, memoryview) and body.obj is segment  # a view, not a copy
    assert bytes(body) == payload
    assert TcpHeader.verify(segment, pseudo_of(frame))


def test_rst_answers_the_syn() -> None:
    """RFC 9293 3.10.7.1: the reset to a SYN for a closed port has seq 0 and acknowledges the SYN."""
    syn, _ = TcpHeader.parse(split(cap.TCP_SYN_CLOSED)[1])
    rst, _ = TcpHeader.parse(split(cap.TCP_RST)[1])
    assert (rst.src_port, rst.dst_port) == (syn.dst_port, syn.src_port)
    assert (rst.seq, rst.ack, rst.flags) == (0, syn.seq + 1, RST | ACK)


@pytest.mark.parametrize("name", CAPTURED)
def test_emit_captured(name: str) -> None:
    frame, expected, payload = CAPTURED[name]
    _, segment = split(frame)
    hlen = len(segment) - len(payload)
    buf = bytearray([FILL]) * (5 + len(segment) + 3)
    buf[5 + hlen:5 + len(segment)] = payload
    hdr = TcpHeader(expected.src_port, expected.dst_port, expected.seq, expected.ack, expected.flags, expected.window,
                    urgent=expected.urgent, options=expected.options)
    assert hdr.header_len == hlen
    hdr.emit(buf, 5, len(payload), pseudo_of(frame))
    assert buf[:5] == b"\xa5" * 5 and buf[5 + len(segment):] == b"\xa5" * 3
    assert bytes(buf[5:5 + len(segment)]) == segment
    assert hdr.checksum == expected.checksum


@pytest.mark.parametrize("name", [n for n in CAPTURED if CAPTURED[n][1].options is not None])
def test_emit_captured_options(name: str) -> None:
    """The options alone, written in the Linux layout: the exact bytes the kernel sent."""
    frame, expected, _ = CAPTURED[name]
    _, segment = split(frame)
    raw = segment[MIN_HEADER_LEN:HEADER_LENS[name]]
    assert TcpOptions.parse(raw) == expected.options
    buf = bytearray([FILL]) * (3 + len(raw) + 2)
    assert expected.options.emit(buf, 3) == expected.options.buffer_len() == len(raw)
    assert buf[:3] == b"\xa5" * 3 and buf[3 + len(raw):] == b"\xa5" * 2
    assert bytes(buf[3:3 + len(raw)]) == raw


def test_emit_without_checksum() -> None:
    """For checksum offload the field is left 0 for the device to complete."""
    _, segment = split(cap.TCP_DATA)
    _, expected, payload = CAPTURED["data"]
    buf = bytearray([FILL]) * 32 + payload
    hdr = TcpHeader(40000, 7777, expected.seq, expected.ack, PSH | ACK, 63, checksum=0x1234, options=expected.options)
    hdr.emit(buf, 0, len(payload), None)
    assert bytes(buf) == segment[:16] + b"\x00\x00" + segment[18:]
    assert hdr.checksum == 0
    assert TcpHeader.parse(buf)[0].checksum == 0


@pytest.mark.parametrize("name", CAPTURED)
def test_truncated_header_raises(name: str) -> None:
    """Every cut inside the header (fixed part or options) is malformed; TCP has no length of its own, so a cut in
    the payload is the IP layer's to see (and the checksum's)."""
    frame, _, payload = CAPTURED[name]
    _, segment = split(frame)
    for n in range(HEADER_LENS[name]):
        with pytest.raises(Malformed) as info:
            TcpHeader.parse(segment[:n])
        assert not isinstance(info.value, ChecksumError)
    for n in range(HEADER_LENS[name], len(segment)):
        hdr, body = TcpHeader.parse(segment[:n])
        assert bytes(body) == payload[:n - HEADER_LENS[name]]
        assert not TcpHeader.verify(segment[:n], pseudo_of(frame))


def option_bounds(raw: bytes) -> set[int]:
    """Offsets where an option starts (and the end): cutting the list anywhere else cuts an option in two."""
    bounds, i = {0}, 0
    while i < len(raw):
        i += 1 if raw[i] in (OPT_EOL, OPT_NOP) else raw[i + 1]
        bounds.add(i)
    return bounds


@pytest.mark.parametrize("name", [n for n in CAPTURED if CAPTURED[n][1].options is not None])
def test_truncated_options_raise(name: str) -> None:
    frame, _, _ = CAPTURED[name]
    raw = split(frame)[1][MIN_HEADER_LEN:HEADER_LENS[name]]
    bounds = option_bounds(raw)
    assert bounds >= {0, len(raw)} and len(bounds) > 2
    for n in range(len(raw)):
        if n in bounds:
            TcpOptions.parse(raw[:n])  # whole options only: a shorter, valid list
        else:
            with pytest.raises(Malformed):
                TcpOptions.parse(raw[:n])


@pytest.mark.parametrize("offset", [0, 1, 4])
def test_data_offset_below_five(offset: int) -> None:
    _, segment = split(cap.TCP_RST)
    bad = bytearray(segment)
    bad[12] = offset << 4 | (bad[12] & 0x0F)
    with pytest.raises(Malformed):
        TcpHeader.parse(bad)


@pytest.mark.parametrize("name,offset", [("rst", 6), ("rst", 15), ("data", 9), ("data", 15), ("syn", 11)])
def test_data_offset_beyond_segment(name: str, offset: int) -> None:
    frame, *_ = CAPTURED[name]
    _, segment = split(frame)
    bad = bytearray(segment)
    bad[12] = offset << 4 | (bad[12] & 0x0F)
    with pytest.raises(Malformed):
        TcpHeader.parse(bad)


def test_reserved_bits_ignored() -> None:
    """RFC 9293 3.1: the reserved bits (and the AccECN AE bit among them) are ignored on input, sent as zero."""
    _, segment = split(cap.TCP_DATA)
    bad = bytearray(segment)
    bad[12] |= 0x0F
    hdr, _ = TcpHeader.parse(bad)
    assert hdr.flags == PSH | ACK and hdr.header_len == 32
    hdr.emit(bad, 0, len(bad) - 32, None)
    assert bad[12] == 0x80


BAD_OPTIONS = {
    "length 0": "02000000",
    "length 1": "1e01",
    "length byte missing": "02",
    "length byte missing after nops": "01010108",
    "unknown kind running past": "1e050000",
    "timestamp running past": "080a00000000",
    "mss length 3": "02030500",
    "mss length 6": "020605b40000",
    "wscale length 2": "0302",
    "wscale length 4": "0304070000000000",
    "sack-permitted length 3": "040300",
    "timestamp length 8": "0101080800000000",
    "timestamp length 12": "080c000000000000000000000000",
    "nop, nop, timestamp length 9": "0101080900000000000000",
    "nop, nop, timestamp length 11": "0101080b0000000000000000",
    "sack without blocks": "01010502",
    "sack length 9": "0101050900000000000000",
    "sack length 12": "0101050c000000000000000000000000",
    "more than 40 bytes": "01" * 44,
}


@pytest.mark.parametrize("name", BAD_OPTIONS)
def test_bad_option_length(name: str) -> None:
    raw = bytes.fromhex(BAD_OPTIONS[name])
    with pytest.raises(Malformed):
        TcpOptions.parse(raw)
    if len(raw) <= 40:  # the same options in a real header
        padded = raw + bytes(-len(raw) % 4)
        _, segment = split(cap.TCP_RST)
        bad = bytearray(segment[:20]) + padded
        bad[12] = (20 + len(padded)) << 2
        with pytest.raises(Malformed):
            TcpHeader.parse(bad)


GOOD_OPTIONS = {
    # unknown kinds are skipped: TCP MD5 (RFC 2385), Fast Open cookie (RFC 7413), user timeout (RFC 5482), kind 254
    "md5 signature": ("1312" + "00" * 16 + "0101080a0000000100000002",
                      TcpOptions(timestamp=(1, 2))),
    "fast open cookie": ("020405b4220a0102030405060708", TcpOptions(mss=1460)),
    "user timeout, experimental": ("1c048001fe020303020000", TcpOptions(wscale=2)),
    "garbage after eol": ("020405dc00ff0102", TcpOptions(mss=1500)),
    "all padding": ("01010000", TcpOptions()),
    "timestamp first": ("080a0000000a0000000b0101", TcpOptions(timestamp=(10, 11))),
    "repeated option keeps the last": ("0204000102040002", TcpOptions(mss=2)),
    "wscale above 14 as sent": ("01030309", TcpOptions(wscale=9)),
    "wscale 255": ("010303ff", TcpOptions(wscale=255)),
    "four sack blocks": ("01010522" + "".join(f"{i:08x}{i + 1:08x}" for i in (1, 3, 5, 7)),
                         TcpOptions(sack_blocks=((1, 2), (3, 4), (5, 6), (7, 8)))),
    "empty": ("", TcpOptions()),
}


@pytest.mark.parametrize("name", GOOD_OPTIONS)
def test_parse_options(name: str) -> None:
    raw, expected = GOOD_OPTIONS[name]
    assert TcpOptions.parse(bytes.fromhex(raw)) == expected
    assert TcpOptions.parse(memoryview(bytearray.fromhex(raw))) == expected


def test_header_with_only_padding_options() -> None:
    """Option bytes that are all NOP/EOL parse to empty options (not None); emitted again they vanish."""
    _, segment = split(cap.TCP_RST)
    seg = bytearray(segment[:20]) + b"\x01\x01\x00\x00"
    seg[12] = 0x60 | (seg[12] & 0x0F)
    hdr, body = TcpHeader.parse(seg)
    assert hdr.options == TcpOptions() and hdr.header_len == 20 and len(body) == 0


LAYOUTS = {
    # Linux tcp_options_write order; each group starts on a 4-byte boundary
    "syn, everything": (SYN_OPTIONS, "020405b40402080aa751278c000000000103030a"),
    "syn without sack": (TcpOptions(mss=1460, wscale=7, timestamp=(1, 0)), "020405b40101080a000000010000000001030307"),
    "syn without timestamps": (TcpOptions(mss=1460, wscale=7, sack_permitted=True), "020405b40101040201030307"),
    "syn, mss only": (TcpOptions(mss=536), "02040218"),
    "sack-permitted only": (TcpOptions(sack_permitted=True), "01010402"),
    "sack-permitted and timestamps": (TcpOptions(sack_permitted=True, timestamp=(5, 6)), "0402080a0000000500000006"),
    "data with timestamps": (TcpOptions(timestamp=(0xFFFFFFFF, 0x80000000)), "0101080affffffff80000000"),
    "sack": (TcpOptions(sack_blocks=((1, 2),)), "0101050a0000000100000002"),
    "timestamps, three sack blocks": (TcpOptions(sack_blocks=((1, 2), (3, 4), (5, 6)), timestamp=(7, 8)),
                                      "0101080a00000007000000080101051a"
                                      "000000010000000200000003000000040000000500000006"),
    "none": (TcpOptions(), ""),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_option_layouts(name: str) -> None:
    opts, raw_hex = LAYOUTS[name]
    raw = bytes.fromhex(raw_hex)
    assert opts.buffer_len() == len(raw) and len(raw) % 4 == 0
    buf = bytearray([FILL]) * (len(raw) + 2)
    assert opts.emit(buf, 1) == len(raw)
    assert buf[0] == FILL and buf[-1] == FILL and bytes(buf[1:-1]) == raw
    assert TcpOptions.parse(raw) == opts


@pytest.mark.parametrize("opts", [
    TcpOptions(sack_blocks=((1, 2),) * 5),
    TcpOptions(sack_blocks=((1, 2),) * 4, timestamp=(1, 2)),
    TcpOptions(mss=1460, wscale=7, sack_blocks=((1, 2),) * 3, timestamp=(1, 2)),
])
def test_options_that_do_not_fit(opts: TcpOptions) -> None:
    buf = bytearray(80)
    with pytest.raises(ValueError):
        opts.emit(buf, 0)
    with pytest.raises(ValueError):
        TcpHeader(1, 2, 3, 4, ACK, 5, options=opts).emit(buf, 0, 0, 0)


def test_largest_options_fit() -> None:
    opts = TcpOptions(mss=1460, wscale=7, sack_permitted=True, sack_blocks=((1, 2), (3, 4)), timestamp=(1, 2))
    hdr = TcpHeader(1, 2, 3, 4, ACK, 5, options=opts)
    assert hdr.header_len == MAX_HEADER_LEN
    buf = bytearray([FILL]) * MAX_HEADER_LEN
    hdr.emit(buf, 0, 0, 0)
    assert buf[12] >> 4 == 15
    assert TcpHeader.parse(buf)[0] == hdr


def test_flags_outside_eight_bits() -> None:
    with pytest.raises(ValueError):
        TcpHeader(1, 2, 3, 4, 0x100 | ACK, 5).emit(bytearray(20), 0, 0, None)


@pytest.mark.parametrize("name", CAPTURED)
@pytest.mark.parametrize("where", [0, 4, 8, 13, 14, 16, 17, 19, 20, -1])
def test_bad_checksum_does_not_verify(name: str, where: int) -> None:
    """The parser leaves checksums to the caller (the pseudo-header is the IP layer's); verify catches a flip, in the
    fixed header, the options or the payload."""
    frame, *_ = CAPTURED[name]
    _, segment = split(frame)
    bad = bytearray(segment)
    bad[where % len(bad)] ^= 0x04
    assert not TcpHeader.verify(bad, pseudo_of(frame))


def test_wrong_pseudo_header_does_not_verify() -> None:
    ip, segment = split(cap.TCP_DATA)
    assert TcpHeader.verify(segment, pseudo_sum_v4(ip.src, ip.dst, PROTO_TCP, len(segment)))
    assert not TcpHeader.verify(segment, pseudo_sum_v4(ip.src, bytes([10, 9, 0, 3]), PROTO_TCP, len(segment)))
    assert not TcpHeader.verify(segment, pseudo_sum_v4(ip.src, ip.dst, 17, len(segment)))
    assert not TcpHeader.verify(segment, pseudo_sum_v4(ip.src, ip.dst, PROTO_TCP, len(segment) + 1))


# -- scapy as the other codec ------------------------------------------------------------------------------------------
def from_scapy(options: list) -> TcpOptions:
    """What scapy's option list means, as TcpOptions (unknown kinds skipped, EOL ends the list)."""
    out = TcpOptions()
    for name, value in options:
        if name == "EOL":
            break
        if name == "MSS":
            out.mss = value
        elif name == "WScale":
            out.wscale = value
        elif name == "SAckOK":
            out.sack_permitted = True
        elif name == "SAck":
            out.sack_blocks = tuple(zip(value[::2], value[1::2], strict=True))
        elif name == "Timestamp":
            out.timestamp = tuple(value)
    return out


def to_scapy(opts: TcpOptions) -> list:
    out: list = []
    if opts.mss is not None:
        out.append(("MSS", opts.mss))
    if opts.wscale is not None:
        out.append(("WScale", opts.wscale))
    if opts.sack_permitted:
        out.append(("SAckOK", b""))
    if opts.sack_blocks:
        out.append(("SAck", tuple(edge for block in opts.sack_blocks for edge in block)))
    if opts.timestamp is not None:
        out.append(("Timestamp", opts.timestamp))
    return out


def scapy_checksum(frame_or_ip: bytes, ether: bool = True) -> int:
    """The TCP checksum scapy computes for the frame (or IP packet) with the field cleared."""
    pkt = Ether(frame_or_ip) if ether else IP(frame_or_ip)
    del pkt[TCP].chksum
    again = Ether(bytes(pkt)) if ether else IP(bytes(pkt))
    return again[TCP].chksum


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_against_scapy(name: str) -> None:
    frame, expected, payload = CAPTURED[name]
    pkt = Ether(frame)[TCP]
    assert (pkt.sport, pkt.dport, pkt.seq, pkt.ack, int(pkt.flags), pkt.window, pkt.chksum, pkt.urgptr) == (
        expected.src_port, expected.dst_port, expected.seq, expected.ack, expected.flags, expected.window,
        expected.checksum, expected.urgent)
    assert pkt.dataofs * 4 == expected.header_len
    assert from_scapy(pkt.options) == (expected.options or TcpOptions())
    assert scapy_checksum(frame) == expected.checksum


def test_crafted_sack_segment() -> None:
    """A segment scapy crafts with the most SACK blocks that fit (4, no timestamps) and one with 3 beside timestamps:
    lwipy reads the blocks scapy wrote and writes the very same bytes, checksum included."""
    blocks4 = ((0xFFFFFF00, 0x00000010), (3000, 4000), (5000, 6000), (0x7FFFFFFF, 0x80000000))
    blocks3 = ((100, 200), (300, 400), (500, 600))
    for opts in (TcpOptions(sack_blocks=blocks4), TcpOptions(sack_blocks=blocks3, timestamp=(123456789, 987654321))):
        layout = ([("NOP", None), ("NOP", None), ("Timestamp", opts.timestamp)] if opts.timestamp else []) + [
            ("NOP", None), ("NOP", None), ("SAck", tuple(e for b in opts.sack_blocks for e in b))]
        wire = bytes(IP(src="10.9.0.2", dst="10.9.0.1") / TCP(sport=7778, dport=40002, seq=1, ack=0xFFFFFFFF,
                                                            flags="A", window=501, options=layout))
        ip, segment = Ipv4Header.parse(wire)
        pseudo = pseudo_sum_v4(ip.src, ip.dst, PROTO_TCP, len(segment))
        hdr, body = TcpHeader.parse(segment)
        assert hdr.options == opts and len(body) == 0
        assert TcpHeader.verify(segment, pseudo)
        buf = bytearray([FILL]) * len(segment)
        TcpHeader(7778, 40002, 1, 0xFFFFFFFF, ACK, 501, options=opts).emit(buf, 0, 0, pseudo)
        assert bytes(buf) == bytes(segment)


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ipv4s = st.binary(min_size=4, max_size=4)
flag_bits = st.integers(0, 0xFF)


@st.composite
def tcp_options(draw) -> TcpOptions:
    """Any options that fit: SACK blocks up to what the other options leave room for (4 alone, 3 with timestamps)."""
    opts = TcpOptions(draw(st.none() | u16), draw(st.none() | u8), draw(st.booleans()), (),
                      draw(st.none() | st.tuples(u32, u32)))
    room = max(0, min(4, (40 - opts.buffer_len() - 4) // 8))
    opts.sack_blocks = tuple(draw(st.lists(st.tuples(u32, u32), max_size=room)))
    return opts


@st.composite
def scapy_options(draw) -> list:
    """A scapy option list in any order, with NOPs and options lwipy does not know mixed in."""
    items = to_scapy(draw(tcp_options()))
    items += [("NOP", None)] * draw(st.integers(0, 3))
    items += [(kind, draw(st.binary(max_size=6))) for kind in draw(st.lists(st.sampled_from([6, 7, 28, 30, 34, 254]),
                                                                            max_size=2))]
    return draw(st.permutations(items))


def scapy_len(options: list) -> int:
    return len(TCP(options=options)) - 20


@settings(max_examples=examples(300), deadline=None)
@given(tcp_options())
def test_options_round_trip(opts: TcpOptions) -> None:
    size = opts.buffer_len()
    assert size % 4 == 0 and size <= 40
    buf = bytearray([FILL]) * (size + 1)
    assert opts.emit(buf, 0) == size
    assert buf[size] == FILL
    assert TcpOptions.parse(bytes(buf[:size])) == opts


@settings(max_examples=examples(200), deadline=None)
@given(u32, u32, st.binary(max_size=4))
def test_timestamp_fast_path_agrees(tsval: int, tsecr: int, tail: bytes) -> None:
    """The one-unpack NOP, NOP, TS reading equals the general loop reading the same option elsewhere in the list."""
    ts = b"\x08\x0a" + tsval.to_bytes(4, "big") + tsecr.to_bytes(4, "big")
    assert TcpOptions.parse(b"\x01\x01" + ts) == TcpOptions(timestamp=(tsval, tsecr))
    assert TcpOptions.parse(ts + b"\x01\x01") == TcpOptions(timestamp=(tsval, tsecr))
    assert TcpOptions.parse(b"\x01" + ts + b"\x00") == TcpOptions(timestamp=(tsval, tsecr))


@settings(max_examples=examples(300), deadline=None)
@given(u16, u16, u32, u32, flag_bits, u16, u16, st.none() | tcp_options(), st.binary(max_size=64), ipv4s, ipv4s,
       st.booleans(), st.integers(0, 7))
def test_header_round_trip(sport: int, dport: int, seq: int, ack: int, flags: int, window: int, urgent: int,
                           opts: TcpOptions | None, payload: bytes, src: bytes, dst: bytes, with_sum: bool,
                           offset: int) -> None:
    hdr = TcpHeader(sport, dport, seq, ack, flags, window, urgent=urgent, options=opts)
    hlen = hdr.header_len
    assert MIN_HEADER_LEN <= hlen <= MAX_HEADER_LEN
    buf = bytearray([FILL]) * (offset + hlen) + payload + b"\xa5"
    pseudo = pseudo_sum_v4(src, dst, PROTO_TCP, hlen + len(payload)) if with_sum else None
    hdr.emit(buf, offset, len(payload), pseudo)
    assert buf[:offset] == b"\xa5" * offset and buf[-1] == FILL
    segment = memoryview(buf)[offset:-1]
    parsed, body = TcpHeader.parse(segment)
    if opts is not None and opts.buffer_len() == 0:
        parsed.options = TcpOptions()  # no option bytes were written, so none come back
    assert parsed == hdr
    assert bytes(body) == payload
    if with_sum:
        assert TcpHeader.verify(segment, pseudo)
    else:
        assert hdr.checksum == 0 == parsed.checksum


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=44))
def test_arbitrary_options_parse_or_raise_malformed(raw: bytes) -> None:
    try:
        opts = TcpOptions.parse(raw)
    except Malformed:
        return
    assert len(opts.sack_blocks) <= 4


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(min_size=12, max_size=12), st.binary(min_size=1, max_size=48))
def test_arbitrary_segments_parse_or_raise_malformed(head: bytes, rest: bytes) -> None:
    seg = head + rest
    try:
        hdr, body = TcpHeader.parse(seg)
    except Malformed:
        return
    assert len(body) == len(seg) - (seg[12] >> 4) * 4


CHECKED = settings(max_examples=examples(60), deadline=None)


@CHECKED
@given(ipv4s, ipv4s, u16, u16, u32, u32, flag_bits, u16, u16, scapy_options(), st.binary(max_size=40))
def test_tcp_from_scapy(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                        urgent: int, options: list, payload: bytes) -> None:
    assume(scapy_len(options) <= 40)
    wire = bytes(IP(src=ip_str(src), dst=ip_str(dst)) / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                                                            window=window, urgptr=urgent, options=options)
                 / Raw(payload))
    ip, segment = Ipv4Header.parse(wire)
    hdr, body = TcpHeader.parse(segment)
    back = IP(wire)[TCP]
    assert (hdr.src_port, hdr.dst_port, hdr.seq, hdr.ack, hdr.flags, hdr.window, hdr.urgent, hdr.checksum) == (
        sport, dport, seq, ack, flags, window, urgent, back.chksum)
    assert hdr.header_len >= MIN_HEADER_LEN and back.dataofs * 4 == len(segment) - len(payload)
    assert (hdr.options or TcpOptions()) == from_scapy(back.options) == from_scapy(options)
    assert bytes(body) == payload
    assert TcpHeader.verify(segment, pseudo_sum_v4(ip.src, ip.dst, PROTO_TCP, len(segment)))


@CHECKED
@given(ipv4s, ipv4s, u16, u16, u32, u32, flag_bits, u16, u16, st.none() | tcp_options(), st.binary(max_size=40))
def test_tcp_to_scapy(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                      urgent: int, opts: TcpOptions | None, payload: bytes) -> None:
    tcp = TcpHeader(sport, dport, seq, ack, flags, window, urgent=urgent, options=opts)
    hlen = tcp.header_len
    ip = Ipv4Header(src, dst, PROTO_TCP, total_len=20 + hlen + len(payload))
    buf = bytearray([FILL]) * (20 + hlen) + payload
    tcp.emit(buf, 20, len(payload), pseudo_sum_v4(src, dst, PROTO_TCP, hlen + len(payload)))
    ip.emit(buf)
    pkt = IP(bytes(buf))[TCP]
    assert (pkt.sport, pkt.dport, pkt.seq, pkt.ack, int(pkt.flags), pkt.window, pkt.urgptr, pkt.chksum) == (
        sport, dport, seq, ack, flags, window, urgent, tcp.checksum)
    assert pkt.dataofs * 4 == hlen and pkt.reserved == 0
    assert from_scapy(pkt.options) == (opts or TcpOptions())
    assert bytes(pkt.payload) == payload
    assert scapy_checksum(bytes(buf), ether=False) == tcp.checksum


def test_flag_constants_match_scapy() -> None:
    assert [int(TCP(flags=f).flags) for f in "FSRPAUEC"] == [FIN, SYN, RST, PSH, ACK, URG, ECE, CWR]
    assert (OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERMITTED, OPT_SACK, OPT_TIMESTAMP) == (0, 1, 2, 3, 4, 5, 8)
