"""Neighbor Discovery (RFC 4861, with RFC 4191 route information and RFC 8106 RDNSS) against scapy.

Every byte vector here is built with scapy 2.5+ (scapy.layers.inet6) as an independent encoder: the whole IPv6
packet, so scapy computes the ICMPv6 checksum over the same pseudo-header, then the ICMPv6 part.  Field meanings
and validity rules are from the RFC sections named at each test.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import UDP  # noqa: E402
from scapy.layers.inet6 import (ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS, IPv6,  # noqa: E402
                                ICMPv6ND_Redirect, ICMPv6NDOptDstLLAddr, ICMPv6NDOptEFA, ICMPv6NDOptMTU,
                                ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, ICMPv6NDOptRedirectedHdr,
                                ICMPv6NDOptRouteInfo, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptUnknown)
from scapy.packet import Raw  # noqa: E402

from .icmp6_vectors import FILL, a6, emitted, icmp6_of, s6, scapy_vector  # noqa: E402
from lwipy.errors import Malformed  # noqa: E402
from lwipy.wire import ndp  # noqa: E402
from lwipy.wire.icmpv6 import fill_checksum, verify_checksum  # noqa: E402
from lwipy.wire.ndp import (PRF_HIGH, PRF_LOW, RA_FLAG_HOME_AGENT, RA_FLAG_PROXY, MtuOption,  # noqa: E402
                            NeighborAdvert, NeighborSolicit, PrefixInfo, Rdnss, Redirect, RedirectedHeader, RouteInfo,
                            RouterAdvert, RouterSolicit, SourceLinkAddr, TargetLinkAddr, UnknownOption, parse_nd,
                            parse_options)

CHECKED = settings(max_examples=examples(150), deadline=None)




def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


MAC_A = bytes.fromhex("02000000000a")
MAC_R = bytes.fromhex("02000000000c")
LL_A, LL_B, LL_R = "fe80::a", "fe80::b", "fe80::c"
GLOBAL_B = "2001:db8::b"
SOLICITED_B = "ff02::1:ff00:b"
PREFIX = a6("2001:db8::")



# A redirected packet as scapy builds it; the option carries it cut to a multiple of 8 bytes (RFC 4861 4.6.3)
REDIRECTED = bytes(IPv6(src=LL_A, dst="2001:db8:5::1") / UDP(sport=5000, dport=53) / Raw(b"abcdefghijkl"))[:56]

# name: (IPv6 src, IPv6 dst, the scapy ICMPv6 layers, what lwipy reads)
VECTORS = {
    "rs": (LL_A, "ff02::2", ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=mac_str(MAC_A)),
           RouterSolicit([SourceLinkAddr(MAC_A)])),
    "rs from unspecified": ("::", "ff02::2", ICMPv6ND_RS(), RouterSolicit([])),
    "ra": (LL_R, "ff02::1",
           ICMPv6ND_RA(chlim=64, M=1, O=1, prf=0, routerlifetime=1800, reachabletime=30000, retranstimer=1000)
           / ICMPv6NDOptSrcLLAddr(lladdr=mac_str(MAC_R)) / ICMPv6NDOptMTU(mtu=1500)
           / ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=86400, preferredlifetime=14400,
                                   prefix="2001:db8::"),
           RouterAdvert(64, True, True, 1800, 30000, 1000,
                        [SourceLinkAddr(MAC_R), MtuOption(1500), PrefixInfo(64, True, True, 86400, 14400, PREFIX)])),
    "ra rfc 4191 and 8106": (LL_R, "ff02::1",
                             ICMPv6ND_RA(chlim=0, prf=1, H=1, P=1, routerlifetime=0)
                             / ICMPv6NDOptPrefixInfo(prefixlen=48, L=0, A=0, R=1, validlifetime=0xFFFFFFFF,
                                                     preferredlifetime=0, prefix="2001:db8::c")
                             / ICMPv6NDOptRouteInfo(plen=0, len=1, prf=3, rtlifetime=600)
                             / ICMPv6NDOptRouteInfo(plen=48, len=2, prf=1, rtlifetime=0xFFFFFFFF, prefix="2001:db8:1::")
                             / ICMPv6NDOptRouteInfo(plen=96, len=3, prf=0, rtlifetime=7, prefix="2001:db8:2::3:0:0")
                             / ICMPv6NDOptRDNSS(lifetime=1200, dns=["2001:db8::53", "2001:db8::35"]),
                             RouterAdvert(0, False, False, 0, 0, 0, [
                                 PrefixInfo(48, False, False, 0xFFFFFFFF, 0, a6("2001:db8::c"), router_addr=True),
                                 RouteInfo(0, PRF_LOW, 600, bytes(16)),
                                 RouteInfo(48, PRF_HIGH, 0xFFFFFFFF, a6("2001:db8:1::")),
                                 RouteInfo(96, 0, 7, a6("2001:db8:2::3:0:0")),
                                 Rdnss(1200, [a6("2001:db8::53"), a6("2001:db8::35")])],
                                 prf=PRF_HIGH, extra_flags=RA_FLAG_HOME_AGENT | RA_FLAG_PROXY)),
    "ns": (LL_A, SOLICITED_B, ICMPv6ND_NS(tgt=GLOBAL_B) / ICMPv6NDOptSrcLLAddr(lladdr=mac_str(MAC_A)),
           NeighborSolicit(a6(GLOBAL_B), [SourceLinkAddr(MAC_A)])),
    "ns dad": ("::", SOLICITED_B, ICMPv6ND_NS(tgt=LL_B), NeighborSolicit(a6(LL_B))),
    "na": (LL_B, LL_A, ICMPv6ND_NA(R=1, S=1, O=1, tgt=GLOBAL_B) / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:0b"),
           NeighborAdvert(a6(GLOBAL_B), True, True, True, [TargetLinkAddr(bytes.fromhex("02000000000b"))])),
    "na unsolicited": (LL_B, "ff02::1", ICMPv6ND_NA(R=0, S=0, O=0, tgt=LL_B), NeighborAdvert(a6(LL_B), False, False,
                                                                                               False)),
    "redirect": (LL_R, LL_A, ICMPv6ND_Redirect(tgt=LL_B, dst="2001:db8:5::1")
                 / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:0b") / ICMPv6NDOptRedirectedHdr(pkt=REDIRECTED),
                 Redirect(a6(LL_B), a6("2001:db8:5::1"),
                          [TargetLinkAddr(bytes.fromhex("02000000000b")), RedirectedHeader(REDIRECTED)])),
    "redirect on-link": (LL_R, LL_A, ICMPv6ND_Redirect(tgt="2001:db8:5::1", dst="2001:db8:5::1"),
                         Redirect(a6("2001:db8:5::1"), a6("2001:db8:5::1"))),
    "unknown options": (LL_R, "ff02::1",
                        ICMPv6ND_RA(prf=0, routerlifetime=9000) / ICMPv6NDOptEFA()
                        / ICMPv6NDOptUnknown(type=200, data=b"0123456789abcd") / ICMPv6NDOptMTU(mtu=9000),
                        RouterAdvert(0, False, False, 9000, 0, 0, [UnknownOption(26, bytes(6)),
                                                                   UnknownOption(200, b"0123456789abcd"),
                                                                   MtuOption(9000)])),
}




@pytest.mark.parametrize("name", VECTORS)
def test_scapy_vector_checksum_verifies(name: str) -> None:
    msg, src, dst = scapy_vector(VECTORS, name)
    assert verify_checksum(msg, src, dst)


@pytest.mark.parametrize("name", VECTORS)
def test_parse_vector(name: str) -> None:
    msg, _, _ = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    assert parse_nd(msg) == expected
    assert type(expected).parse(memoryview(msg)) == expected


@pytest.mark.parametrize("name", VECTORS)
def test_emit_vector(name: str) -> None:
    msg, src, dst = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    assert expected.buffer_len == len(msg)
    assert emitted(expected, src, dst) == msg
    assert emitted(expected, src, dst, offset=0) == msg


def test_emit_over_memoryview() -> None:
    msg, src, dst = scapy_vector(VECTORS, "ra rfc 4191 and 8106")
    buf = bytearray([FILL]) * len(msg)
    VECTORS["ra rfc 4191 and 8106"][3].emit(memoryview(buf), 0)
    fill_checksum(memoryview(buf), 0, len(buf), src, dst)
    assert bytes(buf) == msg


def test_ra_flags_byte() -> None:
    """RFC 4861 4.2 (M, O), RFC 6275 7.1 (H), RFC 4191 2.2 (Prf), RFC 4389 4.1 (P): the byte scapy wrote."""
    msg, _, _ = scapy_vector(VECTORS, "ra rfc 4191 and 8106")
    ra = parse_nd(msg)
    assert isinstance(ra, RouterAdvert)
    assert ra.flags == msg[5] == 0x20 | 0x08 | 0x04
    assert (ra.managed, ra.other, ra.prf) == (False, False, PRF_HIGH)
    assert parse_nd(scapy_vector(VECTORS, "ra")[0]).flags == 0xC0


@pytest.mark.parametrize("name", VECTORS)
def test_truncated_raises(name: str) -> None:
    """Any cut is Malformed, except one on an option boundary, which is a valid message with fewer options."""
    msg, _, _ = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    fixed = len(msg) - ndp.options_len(expected.options)
    boundaries = {fixed + ndp.options_len(expected.options[:k]): k for k in range(len(expected.options))}
    for n in range(len(msg)):
        if n in boundaries:
            assert parse_nd(msg[:n]).options == expected.options[:boundaries[n]]
        else:
            with pytest.raises(Malformed):
                parse_nd(msg[:n])


@pytest.mark.parametrize("name", VECTORS)
def test_nonzero_code_raises(name: str) -> None:
    """RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1: a valid message has "ICMP Code is 0"."""
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    msg[1] = 1
    with pytest.raises(Malformed):
        parse_nd(msg)


@pytest.mark.parametrize("name", VECTORS)
def test_checksum_field_is_not_read(name: str) -> None:
    """The caller verified it with icmpv6.verify_checksum before parsing."""
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    msg[2:4] = b"\x12\x34"
    assert parse_nd(msg) == VECTORS[name][3]


@pytest.mark.parametrize("name", ["rs", "ra", "ns", "na", "redirect"])
def test_wrong_type_raises(name: str) -> None:
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    cls = type(VECTORS[name][3])
    for type_ in (1, 128, 130, 133, 134, 135, 136, 137, 143):
        msg[0] = type_
        if type_ == cls.type:
            assert cls.parse(msg) == VECTORS[name][3]
        else:
            with pytest.raises(Malformed):
                cls.parse(msg)


@pytest.mark.parametrize("type_", [0, 1, 4, 128, 129, 130, 132, 138, 143, 255])
def test_parse_nd_other_types_raise(type_: int) -> None:
    with pytest.raises(Malformed):
        parse_nd(bytes([type_]) + bytes(47))
    with pytest.raises(Malformed):
        parse_nd(b"")


def test_reserved_fields_are_ignored() -> None:
    """RFC 4861 4.1-4.5, 4.6.2, 4.6.4: reserved fields "MUST be ignored by the receiver"."""
    rs = bytearray(scapy_vector(VECTORS, "rs")[0])
    rs[4:8] = b"\xff" * 4
    assert parse_nd(rs) == VECTORS["rs"][3]
    na = bytearray(scapy_vector(VECTORS, "na")[0])
    na[4] |= 0x1F
    na[5:8] = b"\xff" * 3
    assert parse_nd(na) == VECTORS["na"][3]
    ra = bytearray(scapy_vector(VECTORS, "ra")[0])
    ra[16 + 8 + 2:16 + 8 + 4] = b"\xff\xff"  # MTU option reserved
    ra[16 + 16 + 3] |= 0x1F  # prefix information Reserved1
    ra[16 + 16 + 12:16 + 16 + 16] = b"\xff" * 4  # Reserved2
    assert parse_nd(ra) == VECTORS["ra"][3]


# -- options ---------------------------------------------------------------------------------------------------------
def ra_with(options: bytes) -> bytes:
    """An RA (its checksum unset: parse does not read it) carrying the raw ``options``."""
    return icmp6_of(IPv6(src=LL_R, dst="ff02::1") / ICMPv6ND_RA(prf=0)) + options


SLLA = bytes(ICMPv6NDOptSrcLLAddr(lladdr=mac_str(MAC_A)))


@pytest.mark.parametrize("where", ["alone", "first", "middle", "last"])
def test_zero_length_option_raises(where: str) -> None:
    """RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero"."""
    zero = b"\x01\x00" + MAC_A
    options = {"alone": zero, "first": zero + SLLA, "middle": SLLA + zero + SLLA, "last": SLLA + SLLA + zero}[where]
    with pytest.raises(Malformed):
        parse_nd(ra_with(options))
    with pytest.raises(Malformed):
        parse_options(options)
    with pytest.raises(Malformed):
        parse_options(b"\xc8\x00")  # an unknown type too


@pytest.mark.parametrize("options", [SLLA + b"\x01", b"\x01\x02" + MAC_A, SLLA + b"\x05\x01\x00\x00",
                                     b"\xc8\x03" + bytes(20)])
def test_option_past_the_end_raises(options: bytes) -> None:
    with pytest.raises(Malformed):
        parse_nd(ra_with(options))


BAD_LENGTHS = {
    # RFC 4861 4.6.2: Length 4
    "prefix len 3": bytes([3, 3, 64, 0xC0]) + bytes(20),
    "prefix len 5": bytes([3, 5, 64, 0xC0]) + bytes(36),
    "prefix length 129": bytes([3, 4, 129, 0xC0]) + bytes(28),
    # RFC 4861 4.6.4: Length 1
    "mtu len 2": bytes([5, 2]) + bytes(14),
    # RFC 4191 2.3: "If Prefix Length is greater than 64, then Length must be 3.  If Prefix Length is greater than 0,
    # then Length must be 2 or 3."
    "route len 1 for /1": bytes([24, 1, 1, 0]) + bytes(4),
    "route len 2 for /65": bytes([24, 2, 65, 0]) + bytes(12),
    "route len 4": bytes([24, 4, 64, 0]) + bytes(28),
    "route /129": bytes([24, 3, 129, 0]) + bytes(20),
    # RFC 8106 5.1: "The minimum value is 3 if one IPv6 address is contained in the option.  Every additional RDNSS
    # address increases the Length by 2."
    "rdnss len 1": bytes([25, 1]) + bytes(6),
    "rdnss len 2": bytes([25, 2]) + bytes(14),
    "rdnss len 4": bytes([25, 4]) + bytes(30),
}


@pytest.mark.parametrize("name", BAD_LENGTHS)
def test_impossible_option_length_raises(name: str) -> None:
    options = BAD_LENGTHS[name]
    assert len(options) % 8 == 0 and len(options) == 8 * options[1]
    with pytest.raises(Malformed):
        parse_nd(ra_with(options))
    with pytest.raises(Malformed):
        parse_nd(ra_with(SLLA + options + SLLA))


def test_route_info_longer_than_needed_is_valid() -> None:
    """RFC 4191 2.3: a /0 route may use Length 1, 2 or 3 and a /48 Length 2 or 3; bytes past 16 are not read."""
    opts = bytes(ICMPv6NDOptRouteInfo(plen=48, len=3, prf=3, rtlifetime=1, prefix="2001:db8:1::"))
    assert len(opts) == 24
    assert parse_options(opts) == [RouteInfo(48, PRF_LOW, 1, a6("2001:db8:1::"))]
    opts = bytes(ICMPv6NDOptRouteInfo(plen=0, len=2, prf=0, rtlifetime=1, prefix="::"))
    assert parse_options(opts) == [RouteInfo(0, 0, 1, bytes(16))]


def test_unknown_options_are_kept_and_skipped() -> None:
    """RFC 4861 4.6: "Receivers MUST silently ignore any options they do not recognize and continue processing"."""
    unknown = bytes(ICMPv6NDOptUnknown(type=201, data=bytes(range(22))))
    opts = parse_options(SLLA + unknown + unknown[:1] + b"\x01" + bytes(6) + SLLA)
    assert opts == [SourceLinkAddr(MAC_A), UnknownOption(201, bytes(range(22))), UnknownOption(201, bytes(6)),
                    SourceLinkAddr(MAC_A)]
    ra = RouterAdvert(1, False, False, 0, 0, 0, opts)
    buf = bytearray(ra.buffer_len)
    ra.emit(buf, 0)
    assert bytes(buf[16:]) == SLLA + unknown + unknown[:1] + b"\x01" + bytes(6) + SLLA


def test_longer_link_layer_address() -> None:
    """RFC 4861 4.6.1: the address field is as long as the link needs (e.g. RFC 4944's 8-byte EUI-64, Length 2):
    ``mac`` is the whole field, padding included."""
    eui64 = bytes.fromhex("0211223344556677")
    opt = bytes(ICMPv6NDOptUnknown(type=1, data=eui64 + bytes(6)))
    assert opt[1] == 2
    assert parse_options(opt) == [SourceLinkAddr(eui64 + bytes(6))]
    buf = bytearray([FILL]) * 16
    SourceLinkAddr(eui64).emit(buf, 0)
    assert bytes(buf) == opt and SourceLinkAddr(eui64).buffer_len == 16


def test_padding_on_emit() -> None:
    buf = bytearray([FILL]) * 16
    UnknownOption(7, b"xyz").emit(buf, 0)
    assert bytes(buf) == b"\x07\x01xyz\0\0\0" + bytes([FILL]) * 8
    buf = bytearray([FILL]) * 24
    RedirectedHeader(b"abc").emit(buf, 0)
    assert bytes(buf) == b"\x04\x02" + bytes(6) + b"abc" + bytes(5) + bytes([FILL]) * 8
    assert parse_options(buf[:16]) == [RedirectedHeader(b"abc" + bytes(5))]


def test_route_info_emits_only_the_prefix_bytes_its_length_needs() -> None:
    buf = bytearray([FILL]) * 24
    RouteInfo(40, PRF_HIGH, 5, a6("2001:db8:ffff:ffff::")).emit(buf, 0)
    assert bytes(buf[:16]) == bytes([24, 2, 40, 0x08, 0, 0, 0, 5]) + a6("2001:db8:ffff:ffff::")[:8]
    assert buf[16:] == bytes([FILL]) * 8


def test_rdnss_needs_a_server() -> None:
    with pytest.raises(ValueError):
        Rdnss(1, []).emit(bytearray(8), 0)


# -- hypothesis ------------------------------------------------------------------------------------------------------
addrs = st.binary(min_size=16, max_size=16)
u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)


@st.composite
def route_infos(draw) -> RouteInfo:
    plen = draw(st.integers(0, 128))
    sent = 0 if plen == 0 else 8 if plen <= 64 else 16
    return RouteInfo(plen, draw(st.integers(0, 3)), draw(u32), draw(addrs)[:sent].ljust(16, b"\0"))


# options whose emit-then-parse gives them back (padded fields drawn already padded)
options = st.one_of(
    st.builds(SourceLinkAddr, macs), st.builds(TargetLinkAddr, macs),
    st.builds(PrefixInfo, st.integers(0, 128), st.booleans(), st.booleans(), u32, u32, addrs, st.booleans()),
    st.builds(RedirectedHeader, st.integers(0, 8).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n))),
    st.builds(MtuOption, u32), route_infos(), st.builds(Rdnss, u32, st.lists(addrs, min_size=1, max_size=4)),
    st.builds(UnknownOption, st.integers(0, 255).filter(lambda t: t not in (1, 2, 3, 4, 5, 24, 25)),
              st.integers(0, 3).map(lambda n: 6 + 8 * n).flatmap(lambda n: st.binary(min_size=n, max_size=n))),
)
option_lists = st.lists(options, max_size=6)
messages = st.one_of(
    st.builds(RouterSolicit, option_lists),
    st.builds(RouterAdvert, st.integers(0, 255), st.booleans(), st.booleans(), st.integers(0, 0xFFFF), u32, u32,
              option_lists, st.integers(0, 3), st.sampled_from([0, 0x20, 0x04, 0x03, 0x27])),
    st.builds(NeighborSolicit, addrs, option_lists),
    st.builds(NeighborAdvert, addrs, st.booleans(), st.booleans(), st.booleans(), option_lists),
    st.builds(Redirect, addrs, addrs, option_lists),
)


@CHECKED
@given(messages, st.integers(0, 7))
def test_emit_parse_round_trip(msg, offset: int) -> None:
    buf = bytearray([FILL]) * (offset + msg.buffer_len + 3)
    msg.emit(buf, offset)
    assert buf[:offset] == bytes([FILL]) * offset and buf[-3:] == bytes([FILL]) * 3
    assert parse_nd(memoryview(buf)[offset:offset + msg.buffer_len]) == msg


def to_scapy(msg):
    """The same message built with scapy, field by field."""
    if isinstance(msg, RouterSolicit):
        pkt = ICMPv6ND_RS()
    elif isinstance(msg, RouterAdvert):
        extra = msg.extra_flags
        pkt = ICMPv6ND_RA(chlim=msg.cur_hop_limit, M=msg.managed, O=msg.other, H=extra >> 5 & 1, prf=msg.prf,
                          P=extra >> 2 & 1, res=extra & 3, routerlifetime=msg.router_lifetime,
                          reachabletime=msg.reachable_time, retranstimer=msg.retrans_timer)
    elif isinstance(msg, NeighborSolicit):
        pkt = ICMPv6ND_NS(tgt=s6(msg.target))
    elif isinstance(msg, NeighborAdvert):
        pkt = ICMPv6ND_NA(R=msg.router, S=msg.solicited, O=msg.override, tgt=s6(msg.target))
    else:
        pkt = ICMPv6ND_Redirect(tgt=s6(msg.target), dst=s6(msg.destination))
    for opt in msg.options:
        if isinstance(opt, SourceLinkAddr):
            pkt /= ICMPv6NDOptSrcLLAddr(lladdr=mac_str(opt.mac))
        elif isinstance(opt, TargetLinkAddr):
            pkt /= ICMPv6NDOptDstLLAddr(lladdr=mac_str(opt.mac))
        elif isinstance(opt, PrefixInfo):
            pkt /= ICMPv6NDOptPrefixInfo(prefixlen=opt.prefix_len, L=opt.on_link, A=opt.autonomous, R=opt.router_addr,
                                         validlifetime=opt.valid_lifetime, preferredlifetime=opt.preferred_lifetime,
                                         prefix=s6(opt.prefix))
        elif isinstance(opt, RedirectedHeader):
            pkt /= ICMPv6NDOptRedirectedHdr(pkt=opt.data)
        elif isinstance(opt, MtuOption):
            pkt /= ICMPv6NDOptMTU(mtu=opt.mtu)
        elif isinstance(opt, RouteInfo):
            pkt /= ICMPv6NDOptRouteInfo(plen=opt.prefix_len, len=opt.buffer_len // 8, prf=opt.prf,
                                        rtlifetime=opt.route_lifetime, prefix=s6(opt.prefix))
        elif isinstance(opt, Rdnss):
            pkt /= ICMPv6NDOptRDNSS(lifetime=opt.lifetime, dns=[s6(a) for a in opt.servers])
        else:
            pkt /= ICMPv6NDOptUnknown(type=opt.type, data=opt.data)
    return pkt


@CHECKED
@given(messages, addrs, addrs)
def test_emit_matches_scapy(msg, src: bytes, dst: bytes) -> None:
    """Random messages: lwipy's bytes (checksum filled) equal scapy's for the same fields and addresses."""
    assert emitted(msg, src, dst) == icmp6_of(IPv6(src=s6(src), dst=s6(dst)) / to_scapy(msg))


@settings(max_examples=examples(500), deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        parse_nd(data)
    except Malformed:
        pass


raw_options = st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5, 24, 25, 26, 200]), st.integers(0, 5),
                                 st.binary(max_size=48)), max_size=5)


@settings(max_examples=examples(500), deadline=None)
@given(st.integers(133, 137), st.binary(min_size=38, max_size=38), raw_options, st.binary(max_size=3))
def test_option_chains_only_raise_malformed(type_: int, fixed: bytes, chain, tail: bytes) -> None:
    """Near-valid input reaches every option parser: right type and code, option lengths mostly consistent."""
    opts = b"".join(bytes([t, n]) + body[:max(8 * n - 2, 0)].ljust(max(8 * n - 2, 0), b"\0") for t, n, body in chain)
    fixed_len = {133: 4, 134: 12, 135: 20, 136: 20, 137: 36}[type_]
    try:
        msg = parse_nd(bytes([type_, 0]) + fixed[:2 + fixed_len] + opts + tail)
    except Malformed:
        return
    assert len(msg.options) == len(chain) and not tail


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(sorted(VECTORS)), st.data())
def test_corrupted_vectors_only_raise_malformed(name: str, data) -> None:
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    for _ in range(data.draw(st.integers(1, 4))):
        msg[data.draw(st.integers(0, len(msg) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_nd(msg)
    except Malformed:
        pass
