"""IPv6 (RFC 8200) headers and extension headers, and ICMPv6 (RFC 4443) echo and errors, against scapy as an
independent encoder (scapy.layers.inet6), with 0xa5-filled emit buffers, truncations and hypothesis round trips."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples
from scapy.layers.inet6 import (IPv6, ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                                ICMPv6ParamProblem, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting, PadN, RouterAlert)

from lwipy.errors import ChecksumError, Malformed
from lwipy.wire import icmpv6
from lwipy.wire.icmpv6 import Icmp6Header, verify_checksum
from lwipy.wire.ipv6 import (ACTION_DISCARD_ICMP, ACTION_SKIP, HEADER_LEN, NH_DSTOPTS, NH_FRAGMENT, NH_HOPOPTS,
                             NH_ROUTING, NH_UDP, ExtHeader, FragmentHeader, Ipv6Header, Ipv6Option,
                             emit_padded_options, parse_options)

FILL = 0xA5
SRC, DST = "fe80::200:ff:fe00:1", "2001:db8::42"
S, D = ipaddress.IPv6Address(SRC).packed, ipaddress.IPv6Address(DST).packed


def test_header_emit_and_parse_match_scapy():
    wire = bytes(IPv6(src=SRC, dst=DST, nh=NH_UDP, hlim=17, tc=0xB8, fl=0x12345, plen=4) / b"abcd")
    buf = bytearray([FILL]) * (HEADER_LEN + 4)
    Ipv6Header(S, D, NH_UDP, 17, 0xB8, 0x12345, 4).emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5" and buf[42:] == b"\xa5\xa5"
    assert bytes(buf[2:42]) == wire[:40]
    hdr, payload = Ipv6Header.parse(wire + b"\0\0")  # link padding is cut off by the payload length
    assert hdr == Ipv6Header(S, D, NH_UDP, 17, 0xB8, 0x12345, 4) and bytes(payload) == b"abcd"


@pytest.mark.parametrize("bad, why", [
    (bytes(IPv6(src=SRC, dst=DST))[:39], "short"),
    (b"\x45" + bytes(IPv6(src=SRC, dst=DST))[1:], "version 4"),
    (bytes(IPv6(src=SRC, dst=DST, plen=8, nh=59)) + b"1234", "payload length past the end"),
    (bytes(IPv6(src=SRC, dst=DST, plen=0, nh=0)), "jumbogram"),
])
def test_bad_headers_are_malformed(bad, why):
    with pytest.raises(Malformed):
        Ipv6Header.parse(bad)


def test_extension_headers_from_scapy():
    pkt = bytes(IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
                IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")]) /
                IPv6ExtHdrRouting(addresses=[DST], segleft=1) / IPv6ExtHdrFragment(offset=185, m=1, id=0xDEADBEEF) /
                b"payload!")
    hdr, rest = Ipv6Header.parse(pkt)
    assert hdr.next_header == NH_HOPOPTS
    hop, n = ExtHeader.parse(NH_HOPOPTS, rest)
    assert n == 8 and hop.next_header == NH_DSTOPTS
    assert parse_options(hop.body) == [Ipv6Option(5, b"\0\0")]  # router alert, MLD (RFC 2711); padding left out
    assert parse_options(hop.body)[0].at == 2
    dst, n2 = ExtHeader.parse(NH_DSTOPTS, rest[n:])
    assert dst.next_header == NH_ROUTING and parse_options(dst.body) == []
    rt, n3 = ExtHeader.parse(NH_ROUTING, rest[n + n2:])
    assert rt.next_header == NH_FRAGMENT and rt.body[0] == 0 and rt.body[1] == 1  # type 0, segments left 1
    frag = FragmentHeader.parse(rest[n + n2 + n3:])
    assert frag == FragmentHeader(59, 185 * 8, True, 0xDEADBEEF)
    buf = bytearray([FILL]) * 10
    frag.emit(buf, 1)
    assert bytes(buf[1:9]) == bytes(rest[n + n2 + n3:n + n2 + n3 + 8]) and buf[0] == buf[9] == FILL
    out = bytearray(8)
    hop.emit(out)
    assert bytes(out) == bytes(rest[:8])


def test_option_actions_and_padding():
    assert Ipv6Option(0x1E).action == ACTION_SKIP and Ipv6Option(0x9E).action == ACTION_DISCARD_ICMP
    for opts in ([], [Ipv6Option(5, b"\0\0")], [Ipv6Option(0xC2, b"x" * 5)], [Ipv6Option(0x1E, b"")]):
        body = emit_padded_options(opts)
        assert (2 + len(body)) % 8 == 0
        assert parse_options(body) == opts
    with pytest.raises(Malformed):
        parse_options(b"\x1e\x05abc")  # runs past the header
    with pytest.raises(Malformed):
        ExtHeader.parse(NH_DSTOPTS, b"\x3b\x01" + bytes(6))  # says 16 bytes, has 8


@given(st.lists(st.tuples(st.integers(2, 255), st.binary(max_size=20)), max_size=4))
def test_options_round_trip(pairs):
    opts = [Ipv6Option(t, v) for t, v in pairs]
    assert parse_options(emit_padded_options(opts)) == opts


@given(st.binary(max_size=80))
@settings(max_examples=examples(300))
def test_arbitrary_bytes_only_ever_malformed(data):
    for fn in (Ipv6Header.parse, lambda d: ExtHeader.parse(NH_HOPOPTS, d), FragmentHeader.parse, parse_options,
               lambda d: Icmp6Header.parse(d, S, D)):
        try:
            fn(data)
        except Malformed:
            pass


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16), st.integers(0, 255),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFFF), st.integers(0, 0xFFFF))
def test_header_round_trip(src, dst, nh, hops, tc, fl, plen):
    hdr = Ipv6Header(src, dst, nh, hops, tc, fl, plen)
    buf = bytearray(HEADER_LEN + plen)
    hdr.emit(buf)
    if plen == 0 and nh == NH_HOPOPTS:
        with pytest.raises(Malformed):
            Ipv6Header.parse(buf)
        return
    assert Ipv6Header.parse(buf)[0] == hdr


@pytest.mark.parametrize("layer, header", [
    (ICMPv6EchoRequest(id=0x1234, seq=7, data=b"ping data"), Icmp6Header(icmpv6.ECHO_REQUEST, 0, 0x12340007)),
    (ICMPv6EchoReply(id=1, seq=0xFFFF, data=b"ping data"), Icmp6Header(icmpv6.ECHO_REPLY, 0, 0x0001FFFF)),
    (ICMPv6PacketTooBig(mtu=1280) / b"ping data", Icmp6Header(icmpv6.PACKET_TOO_BIG, 0, 1280)),
    (ICMPv6DestUnreach(code=4) / b"ping data", Icmp6Header(icmpv6.DEST_UNREACH, icmpv6.UNREACH_PORT, 0)),
    (ICMPv6ParamProblem(code=1, ptr=40) / b"ping data", Icmp6Header(icmpv6.PARAM_PROBLEM, 1, 40)),
])
def test_icmpv6_emit_and_parse_match_scapy(layer, header):
    wire = bytes(IPv6(src=SRC, dst=DST) / layer)[HEADER_LEN:]
    body = b"ping data"
    buf = bytearray([FILL]) * (len(wire) + 3)
    buf[3 + 8:3 + 8 + len(body)] = body
    header.emit(buf, 3, len(body), S, D)
    assert buf[:3] == b"\xa5" * 3 and bytes(buf[3:]) == wire
    parsed, rest = Icmp6Header.parse(wire, S, D)
    assert (parsed.type, parsed.code, parsed.rest) == (header.type, header.code, header.rest)
    assert bytes(rest) == body and verify_checksum(wire, S, D)
    bad = bytearray(wire)
    bad[-1] ^= 1
    with pytest.raises(ChecksumError):
        Icmp6Header.parse(bad, S, D)
    with pytest.raises(ChecksumError):
        Icmp6Header.parse(wire, D, D)  # the pseudo-header counts: another source, another sum
    for cut in range(8):
        with pytest.raises(Malformed):
            Icmp6Header.parse(wire[:cut], S, D)
    assert Icmp6Header.echo(icmpv6.ECHO_REQUEST, 0x1234, 7).ident == 0x1234
