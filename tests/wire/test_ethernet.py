"""Ethernet II and 802.1Q headers against frames captured from the Linux kernel (see captures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

from . import captures as cap
from lwipy.errors import Malformed
from lwipy.wire.ethernet import (BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, HEADER_LEN,
                                 VLAN_HEADER_LEN, EthernetHeader, ipv4_multicast_mac, is_multicast_mac,
                                 mac_from_str, mac_to_str)

FILL = 0xA5


def filled(n: int) -> bytearray:
    return bytearray([FILL]) * n


UNTAGGED = [
    (cap.ARP_REQUEST, BROADCAST, cap.ETH_A, ETHERTYPE_ARP),
    (cap.ARP_REPLY, cap.ETH_A, cap.ETH_B, ETHERTYPE_ARP),
    (cap.ECHO_REQUEST, cap.ETH_B, cap.ETH_A, ETHERTYPE_IPV4),
    (cap.UDP_TO_CLOSED_PORT, cap.ETH_B, cap.ETH_A, ETHERTYPE_IPV4),
    (cap.IGMP_V2_REPORT, bytes.fromhex("01005e010203"), cap.ETH_A, ETHERTYPE_IPV4),
    (cap.IGMP_LEAVE, bytes.fromhex("01005e000002"), cap.ETH_A, ETHERTYPE_IPV4),
    (cap.IGMP_V2_GENERAL_QUERY, bytes.fromhex("01005e000001"), cap.ETH_BRIDGE, ETHERTYPE_IPV4),
]


@pytest.mark.parametrize("frame,dst,src,ethertype", UNTAGGED)
def test_parse_captured(frame: bytes, dst: bytes, src: bytes, ethertype: int) -> None:
    eth, payload = EthernetHeader.parse(frame)
    assert (eth.dst, eth.src, eth.ethertype) == (dst, src, ethertype)
    assert eth.vlan_id is None and eth.vlan_pcp == 0
    assert eth.header_len == HEADER_LEN
    assert isinstance(payload, memoryview)
    assert bytes(payload) == frame[HEADER_LEN:]


@pytest.mark.parametrize("frame,dst,src,ethertype", UNTAGGED)
def test_emit_captured(frame: bytes, dst: bytes, src: bytes, ethertype: int) -> None:
    buf = filled(HEADER_LEN + 4)
    EthernetHeader(dst, src, ethertype).emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5"
    assert bytes(buf[2:2 + HEADER_LEN]) == frame[:HEADER_LEN]
    assert buf[2 + HEADER_LEN:] == b"\xa5\xa5"


def test_parse_802_1q_captured_echo() -> None:
    eth, payload = EthernetHeader.parse(cap.VLAN_ECHO_REQUEST)
    assert (eth.dst, eth.src, eth.ethertype) == (cap.ETH_B, cap.ETH_A, ETHERTYPE_IPV4)
    assert (eth.vlan_id, eth.vlan_pcp) == (100, 5)
    assert eth.header_len == VLAN_HEADER_LEN
    assert bytes(payload) == cap.ECHO_REQUEST[HEADER_LEN:]


def test_parse_802_1q_captured_arp() -> None:
    eth, payload = EthernetHeader.parse(cap.VLAN_ARP_REQUEST)
    assert (eth.dst, eth.src, eth.ethertype, eth.vlan_id, eth.vlan_pcp) == (BROADCAST, cap.ETH_A, ETHERTYPE_ARP, 100, 0)
    assert bytes(payload) == cap.ARP_REQUEST[HEADER_LEN:]


@pytest.mark.parametrize("frame,pcp", [(cap.VLAN_ECHO_REQUEST, 5), (cap.VLAN_ARP_REQUEST, 0)])
def test_emit_802_1q(frame: bytes, pcp: int) -> None:
    eth, _ = EthernetHeader.parse(frame)
    buf = filled(VLAN_HEADER_LEN + 3)
    EthernetHeader(eth.dst, eth.src, eth.ethertype, 100, pcp).emit(buf, 1)
    assert buf[0] == FILL
    assert bytes(buf[1:1 + VLAN_HEADER_LEN]) == frame[:VLAN_HEADER_LEN]
    assert buf[1 + VLAN_HEADER_LEN:] == b"\xa5\xa5"


def test_priority_tag_vid_0() -> None:
    """A tag with VID 0 (802.1p priority only) still parses as a tag."""
    frame = cap.ECHO_REQUEST[:12] + bytes.fromhex("8100e000") + cap.ECHO_REQUEST[12:]
    eth, payload = EthernetHeader.parse(frame)
    assert (eth.vlan_id, eth.vlan_pcp, eth.ethertype) == (0, 7, ETHERTYPE_IPV4)
    assert bytes(payload) == cap.ECHO_REQUEST[14:]


def test_dei_bit_does_not_leak_into_vid_or_pcp() -> None:
    frame = cap.ECHO_REQUEST[:12] + bytes.fromhex("8100bfff") + cap.ECHO_REQUEST[12:]  # PCP 5, DEI 1, VID 4095
    eth, _ = EthernetHeader.parse(frame)
    assert (eth.vlan_id, eth.vlan_pcp) == (4095, 5)


@pytest.mark.parametrize("frame", [cap.ARP_REQUEST, cap.ECHO_REQUEST, cap.IGMP_V2_REPORT])
def test_truncated_untagged_raises(frame: bytes) -> None:
    for n in range(HEADER_LEN):
        with pytest.raises(Malformed):
            EthernetHeader.parse(frame[:n])
    eth, payload = EthernetHeader.parse(frame[:HEADER_LEN])  # a bare header is a frame with no payload
    assert len(payload) == 0 and eth.ethertype == int.from_bytes(frame[12:14], "big")


@pytest.mark.parametrize("frame", [cap.VLAN_ECHO_REQUEST, cap.VLAN_ARP_REQUEST])
def test_truncated_tagged_raises(frame: bytes) -> None:
    for n in range(VLAN_HEADER_LEN):
        with pytest.raises(Malformed):
            EthernetHeader.parse(frame[:n])
    assert len(EthernetHeader.parse(frame[:VLAN_HEADER_LEN])[1]) == 0


def test_parse_accepts_bytearray_and_memoryview() -> None:
    for data in (bytearray(cap.ARP_REPLY), memoryview(cap.ARP_REPLY)):
        eth, payload = EthernetHeader.parse(data)
        assert eth.ethertype == ETHERTYPE_ARP and len(payload) == 28


def test_padding_stays_in_payload() -> None:
    padded = cap.ARP_REQUEST + bytes(60 - len(cap.ARP_REQUEST))
    _, payload = EthernetHeader.parse(padded)
    assert len(payload) == 46


def test_ipv4_multicast_mac_rfc1112() -> None:
    """RFC 1112 6.4: 01-00-5E plus the low-order 23 bits of the group (the captured report went to 01:00:5e:01:02:03)."""
    assert ipv4_multicast_mac(cap.GROUP) == cap.IGMP_V2_REPORT[:6]
    assert ipv4_multicast_mac(bytes([224, 0, 0, 2])) == cap.IGMP_LEAVE[:6]
    assert ipv4_multicast_mac(bytes([239, 129, 2, 3])) == bytes.fromhex("01005e010203")  # the 24th bit is dropped
    assert ipv4_multicast_mac(bytes([224, 255, 255, 255])) == bytes.fromhex("01005e7fffff")


def test_is_multicast_mac() -> None:
    assert is_multicast_mac(BROADCAST)
    assert is_multicast_mac(cap.IGMP_V2_REPORT[:6])
    assert not is_multicast_mac(cap.ETH_A)
    assert is_multicast_mac(memoryview(cap.ARP_REQUEST)[:6])


def test_mac_strings() -> None:
    assert mac_from_str("02:00:00:00:00:0a") == cap.ETH_A
    assert mac_from_str("02-00-00-00-00-0B") == cap.ETH_B
    assert mac_to_str(cap.ETH_B) == "02:00:00:00:00:0b"
    for bad in ("02:00:00:00:00", "02:00:00:00:00:00:01", "zz:00:00:00:00:00"):
        with pytest.raises(ValueError):
            mac_from_str(bad)


macs = st.binary(min_size=6, max_size=6)
ethertypes = st.integers(0, 0xFFFF).filter(lambda t: t != ETHERTYPE_VLAN)


@settings(max_examples=examples(200), deadline=None)
@given(macs, macs, ethertypes, st.one_of(st.none(), st.integers(0, 4095)), st.integers(0, 7),
       st.binary(max_size=64))
def test_emit_parse_round_trip(dst: bytes, src: bytes, ethertype: int, vid: int | None, pcp: int,
                               payload: bytes) -> None:
    hdr = EthernetHeader(dst, src, ethertype, vid, pcp if vid is not None else 0)
    buf = filled(hdr.header_len) + payload
    hdr.emit(buf)
    parsed, rest = EthernetHeader.parse(buf)
    assert parsed == hdr
    assert bytes(rest) == payload
    assert (buf[12:14] == b"\x81\x00") == (vid is not None)
