"""Scapy as an independent codec: what scapy builds, lwipy reads field for field; what lwipy writes (header classes
and whole frames a Stack transmits), scapy reads with the same fields and checksums that scapy itself recomputes."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from helpers import examples

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (ARP, ICMP, IP, UDP, Dot1Q, Ether, IPOption_LSRR, IPOption_NOP, IPOption_Router_Alert,  # noqa: E402
                       IPOption_RR, IPOption_SSRR, Raw, conf, defragment, fragment)
from scapy.layers.igmp import IGMP  # noqa: E402
from scapy.layers.inet import IPerror, UDPerror  # noqa: E402
from scapy.utils import checksum as scapy_checksum  # noqa: E402

from . import captures as cap  # noqa: E402
import lwipy  # noqa: E402
from lwipy.wire.arp import ArpPacket  # noqa: E402
from lwipy.wire.checksum import pseudo_sum_v4  # noqa: E402
from lwipy.wire.ethernet import ETHERTYPE_VLAN, EthernetHeader, mac_to_str  # noqa: E402
from lwipy.wire.icmp import IcmpHeader  # noqa: E402
from lwipy.wire.igmp import IgmpMessage  # noqa: E402
from lwipy.wire.ipv4 import FLAG_DF, FLAG_MF, Ipv4Header  # noqa: E402
from lwipy.wire.udp import UdpHeader  # noqa: E402
from helpers import CaptureDevice  # noqa: E402

conf.verb = 0
FILL = 0xA5
CHECKED = settings(max_examples=examples(60), deadline=None)

macs = st.binary(min_size=6, max_size=6)
ipv4s = st.binary(min_size=4, max_size=4)
u16 = st.integers(0, 0xFFFF)
u8 = st.integers(0, 255)


def ip_str(packed: bytes) -> str:
    return str(IPv4Address(packed))


def recomputed(pkt, layer, field: str = "chksum") -> int:
    """The checksum scapy computes for ``layer`` of the frame ``pkt`` (bytes or a packet) with the field cleared."""
    frame = Ether(bytes(pkt))
    delattr(frame[layer], field)
    return getattr(Ether(bytes(frame))[layer], field)


def assert_checksums(frame: bytes) -> Ether:
    """Every checksum scapy can recompute in ``frame`` equals the one sent; returns the dissected frame."""
    pkt = Ether(frame)
    assert bytes(pkt) == frame
    if IP in pkt:
        assert pkt[IP].chksum == recomputed(frame, IP)
        whole = pkt[IP].flags.MF == 0 and pkt[IP].frag == 0
        if whole and UDP in pkt and not isinstance(pkt[UDP], UDPerror) and pkt[UDP].chksum:
            assert pkt[UDP].chksum == recomputed(frame, UDP)
        if whole and ICMP in pkt:
            assert pkt[ICMP].chksum == recomputed(frame, ICMP)
        if whole and IGMP in pkt:
            assert pkt[IGMP].chksum == recomputed(frame, IGMP)
    return pkt


@pytest.mark.parametrize("frame,where", [(cap.UDP_REQUEST, 14 + 20 + 6), (cap.ECHO_REQUEST, 14 + 20 + 2),
                                         (cap.IGMP_V2_REPORT, 14 + 24 + 2), (cap.UDP_REPLY, 14 + 10)])
def test_assert_checksums_sees_a_bad_checksum(frame: bytes, where: int) -> None:
    """The helper below is only as good as its ability to fail: the kernel's frames pass, a flipped bit does not."""
    assert_checksums(frame)
    bad = bytearray(frame)
    bad[where] ^= 0x01
    with pytest.raises(AssertionError):
        assert_checksums(bytes(bad))


# -- scapy builds, lwipy parses ---------------------------------------------------------------------------------------
@CHECKED
@given(macs, macs, st.sampled_from([0x0800, 0x0806, 0x86DD, 0x88CC, 0x0600]), st.none() | st.integers(0, 4095),
       st.integers(0, 7), st.integers(0, 1), st.binary(max_size=40))
def test_ethernet_from_scapy(dst: bytes, src: bytes, ethertype: int, vid: int | None, pcp: int, dei: int,
                             payload: bytes) -> None:
    if vid is None:
        pkt = Ether(dst=mac_to_str(dst), src=mac_to_str(src), type=ethertype) / Raw(payload)
    else:
        pkt = Ether(dst=mac_to_str(dst), src=mac_to_str(src)) / Dot1Q(prio=pcp, dei=dei, vlan=vid, type=ethertype) \
            / Raw(payload)
    eth, rest = EthernetHeader.parse(bytes(pkt))
    assert (eth.dst, eth.src, eth.ethertype) == (dst, src, ethertype)
    if vid is None:
        assert eth.vlan_id is None
    else:
        assert (eth.vlan_id, eth.vlan_pcp) == (vid, pcp)
    assert bytes(rest) == payload


@CHECKED
@given(st.sampled_from([1, 2]), macs, ipv4s, macs, ipv4s)
def test_arp_from_scapy(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> None:
    pkt = ARP(op=op, hwsrc=mac_to_str(sha), psrc=ip_str(spa), hwdst=mac_to_str(tha), pdst=ip_str(tpa))
    assert ArpPacket.parse(bytes(pkt)) == ArpPacket(op, sha, spa, tha, tpa)


option_builders = st.sampled_from([
    lambda draw: IPOption_NOP(),
    lambda draw: IPOption_Router_Alert(),
    lambda draw: IPOption_RR(routers=[ip_str(draw(ipv4s)) for _ in range(draw(st.integers(0, 3)))]),
    lambda draw: IPOption_LSRR(routers=[ip_str(draw(ipv4s)) for _ in range(draw(st.integers(1, 2)))]),
    lambda draw: IPOption_SSRR(routers=[ip_str(draw(ipv4s))]),
])


@st.composite
def scapy_ip(draw, proto: int | None = None):
    options = [draw(option_builders)(draw) for _ in range(draw(st.integers(0, 3)))]
    flags = draw(st.sampled_from([0, 1, 2]))  # none, MF, DF
    pkt = IP(src=ip_str(draw(ipv4s)), dst=ip_str(draw(ipv4s)), ttl=draw(u8), tos=draw(u8), id=draw(u16),
             flags=flags, frag=draw(st.integers(0, 0x1FFF)), proto=draw(u8) if proto is None else proto,
             options=options)
    return pkt


@CHECKED
@given(scapy_ip(), st.binary(max_size=60), st.integers(0, 6))
def test_ipv4_from_scapy(ip, payload: bytes, padding: int) -> None:
    wire = bytes(ip / Raw(payload))
    assume(len(wire) - len(payload) <= 60)
    back = IP(wire)
    hdr, rest = Ipv4Header.parse(wire + bytes(padding))
    assert (ip_str(hdr.src), ip_str(hdr.dst)) == (back.src, back.dst)
    assert (hdr.ttl, hdr.tos, hdr.ident, hdr.proto, hdr.checksum) == (back.ttl, back.tos, back.id, back.proto,
                                                                        back.chksum)
    assert (hdr.dont_fragment, hdr.more_fragments, hdr.frag_offset) == (back.flags.DF, back.flags.MF, back.frag * 8)
    assert (hdr.header_len, hdr.total_len) == (back.ihl * 4, back.len)
    assert hdr.options == wire[20:back.ihl * 4]
    assert bytes(rest) == payload


@CHECKED
@given(st.sampled_from([(0, 0), (8, 0), (3, 3), (3, 4), (11, 0), (12, 0), (3, 1), (5, 1)]), u16, u16,
       st.binary(max_size=48))
def test_icmp_from_scapy(type_code: tuple[int, int], ident: int, seq: int, body: bytes) -> None:
    type_, code = type_code
    if type_ in (0, 8):
        icmp = ICMP(type=type_, code=code, id=ident, seq=seq)
    elif (type_, code) == (3, 4):
        icmp = ICMP(type=3, code=4, nexthopmtu=ident)
    elif type_ == 12:
        icmp = ICMP(type=12, ptr=ident & 0xFF)
    elif type_ == 5:
        icmp = ICMP(type=5, code=1, gw=f"10.0.{ident >> 8}.{ident & 0xFF}")
    else:
        icmp = ICMP(type=type_, code=code)
    wire = bytes(icmp / Raw(body))
    hdr, rest = IcmpHeader.parse(wire)
    assert (hdr.type, hdr.code, hdr.checksum) == (type_, code, ICMP(wire).chksum)
    assert hdr.rest == int.from_bytes(wire[4:8], "big")
    if type_ in (0, 8):
        assert (hdr.ident, hdr.seq) == (ident, seq)
    elif (type_, code) == (3, 4):
        assert hdr.rest & 0xFFFF == ident
    elif type_ == 12:
        assert hdr.rest >> 24 == ident & 0xFF
    assert bytes(rest) == body


@CHECKED
@given(st.sampled_from([0x11, 0x12, 0x16, 0x17]), u8, ipv4s)
def test_igmp_from_scapy(type_: int, mrcode: int, group: bytes) -> None:
    wire = bytes(IGMP(type=type_, mrcode=mrcode, gaddr=ip_str(group)))
    msg = IgmpMessage.parse(wire)
    assert (msg.type, msg.max_resp, msg.group, msg.checksum) == (type_, mrcode, group, IGMP(wire).chksum)


@CHECKED
@given(ipv4s, ipv4s, u16, u16, st.binary(max_size=80))
def test_udp_from_scapy(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> None:
    wire = bytes(IP(src=ip_str(src), dst=ip_str(dst)) / UDP(sport=sport, dport=dport) / Raw(payload))
    ip, datagram = Ipv4Header.parse(wire)
    hdr, body = UdpHeader.parse(datagram)
    back = IP(wire)[UDP]
    assert (hdr.src_port, hdr.dst_port, hdr.length, hdr.checksum) == (sport, dport, back.len, back.chksum)
    assert bytes(body) == payload
    assert UdpHeader.verify(datagram, pseudo_sum_v4(ip.src, ip.dst, 17, hdr.length))


def test_whole_frame_from_scapy() -> None:
    frame = bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / Dot1Q(vlan=7, prio=3)
                  / IP(src="192.0.2.1", dst="192.0.2.2", options=[IPOption_Router_Alert()])
                  / UDP(sport=5353, dport=53) / Raw(b"query"))
    eth, rest = EthernetHeader.parse(frame)
    ip, rest = Ipv4Header.parse(rest)
    udp, body = UdpHeader.parse(rest)
    assert (eth.vlan_id, eth.vlan_pcp, ip.header_len, udp.dst_port, bytes(body)) == (7, 3, 24, 53, b"query")


# -- lwipy emits, scapy parses ---------------------------------------------------------------------------------------
@CHECKED
@given(macs, macs, st.sampled_from([0x0800, 0x0806, 0x86DD]), st.none() | st.integers(0, 4095), st.integers(0, 7))
def test_ethernet_to_scapy(dst: bytes, src: bytes, ethertype: int, vid: int | None, pcp: int) -> None:
    hdr = EthernetHeader(dst, src, ethertype, vid, pcp if vid is not None else 0)
    buf = bytearray([FILL]) * hdr.header_len
    hdr.emit(buf)
    pkt = Ether(bytes(buf))
    assert (pkt.dst, pkt.src) == (mac_to_str(dst), mac_to_str(src))
    if vid is None:
        assert pkt.type == ethertype and Dot1Q not in pkt
    else:
        assert pkt.type == ETHERTYPE_VLAN
        assert (pkt[Dot1Q].vlan, pkt[Dot1Q].prio, pkt[Dot1Q].dei, pkt[Dot1Q].type) == (vid, pcp, 0, ethertype)


@CHECKED
@given(st.sampled_from([1, 2]), macs, ipv4s, macs, ipv4s)
def test_arp_to_scapy(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> None:
    buf = bytearray([FILL]) * 28
    ArpPacket(op, sha, spa, tha, tpa).emit(buf)
    pkt = ARP(bytes(buf))
    assert (pkt.hwtype, pkt.ptype, pkt.hwlen, pkt.plen) == (1, 0x0800, 6, 4)
    assert (pkt.op, pkt.hwsrc, pkt.psrc, pkt.hwdst, pkt.pdst) == (op, mac_to_str(sha), ip_str(spa), mac_to_str(tha),
                                                                  ip_str(tpa))


@st.composite
def lwipy_options(draw) -> bytes:
    """Well-formed option lists: NOPs, Router Alert, record route with room for up to 4 addresses."""
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["nop", "ra", "rr"]))
        if kind == "nop":
            out += b"\x01"
        elif kind == "ra":
            out += b"\x94\x04\x00\x00"
        else:
            n = draw(st.integers(1, 4))
            out += bytes([7, 3 + 4 * n, 4]) + bytes(4 * n)
    out += bytes(-len(out) % 4)
    assume(len(out) <= 40)
    return out


@CHECKED
@given(ipv4s, ipv4s, u8, u8, u8, u16, st.booleans(), st.booleans(), st.integers(0, 0x1FFF), lwipy_options(),
       st.binary(max_size=40))
@example(b"\x01\x02\x03\x04", b"\xe0\x00\x00\x01", 2, 1, 0, 1, False, False, 0, b"",
         b"\x11\x00\x00\x00\x00\x00\x00\x00")  # an IGMP query, which scapy rewrites when it rebuilds the packet
def test_ipv4_to_scapy(src: bytes, dst: bytes, proto: int, ttl: int, tos: int, ident: int, df: bool, mf: bool,
                       frag: int, options: bytes, payload: bytes) -> None:
    hdr = Ipv4Header(src, dst, proto, ttl, tos, ident, df, mf, frag * 8, 20 + len(options) + len(payload), options)
    buf = bytearray([FILL]) * hdr.header_len + payload
    hdr.emit(buf)
    pkt = IP(bytes(buf))
    assert (pkt.version, pkt.ihl, pkt.len) == (4, hdr.header_len // 4, hdr.total_len)
    assert (pkt.src, pkt.dst, pkt.proto, pkt.ttl, pkt.tos, pkt.id) == (ip_str(src), ip_str(dst), proto, ttl, tos,
                                                                      ident)
    assert (bool(pkt.flags.DF), bool(pkt.flags.MF), pkt.frag) == (df, mf, frag)
    assert pkt.chksum == hdr.checksum
    # scapy's own sum over the header with the field zeroed (rebuilding the packet instead lets scapy's IGMP layer
    # rewrite a proto-2 datagram, adding a Router Alert option)
    zeroed = bytearray(buf[:hdr.header_len])
    zeroed[10:12] = b"\0\0"
    assert scapy_checksum(bytes(zeroed)) == hdr.checksum
    assert int.from_bytes(bytes(buf)[6:8], "big") & ~0x1FFF == (FLAG_DF if df else 0) | (FLAG_MF if mf else 0)


@CHECKED
@given(st.sampled_from([0, 3, 8, 11, 12]), u8, st.integers(0, 0xFFFFFFFF), st.binary(max_size=48))
def test_icmp_to_scapy(type_: int, code: int, rest: int, body: bytes) -> None:
    buf = bytearray([FILL]) * 8 + body
    hdr = IcmpHeader(type_, code, rest)
    hdr.emit(buf, 0, len(body))
    pkt = ICMP(bytes(buf))
    assert (pkt.type, pkt.code, pkt.chksum) == (type_, code, hdr.checksum)
    if type_ in (0, 8):
        assert (pkt.id, pkt.seq) == (rest >> 16, rest & 0xFFFF)
    del pkt.chksum
    assert ICMP(bytes(pkt)).chksum == hdr.checksum


@CHECKED
@given(st.sampled_from([0x11, 0x16, 0x17]), u8, ipv4s)
def test_igmp_to_scapy(type_: int, max_resp: int, group: bytes) -> None:
    buf = bytearray([FILL]) * 8
    msg = IgmpMessage(type_, max_resp, group)
    msg.emit(buf)
    pkt = IGMP(bytes(buf))
    assert (pkt.type, pkt.mrcode, pkt.gaddr, pkt.chksum) == (type_, max_resp, ip_str(group), msg.checksum)
    del pkt.chksum
    assert IGMP(bytes(pkt)).chksum == msg.checksum


@CHECKED
@given(ipv4s, ipv4s, u16, u16, st.binary(max_size=80))
def test_udp_to_scapy(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> None:
    length = 8 + len(payload)
    ip = Ipv4Header(src, dst, 17, total_len=20 + length)
    buf = bytearray([FILL]) * 28 + payload
    udp = UdpHeader(sport, dport, length)
    udp.emit(buf, 20, pseudo_sum_v4(src, dst, 17, length))
    ip.emit(buf)
    pkt = IP(bytes(buf))
    assert (pkt[UDP].sport, pkt[UDP].dport, pkt[UDP].len, pkt[UDP].chksum) == (sport, dport, length, udp.checksum)
    assert bytes(pkt[UDP].payload) == payload
    del pkt[UDP].chksum
    assert IP(bytes(pkt))[UDP].chksum == udp.checksum


# -- whole frames a Stack sends ---------------------------------------------------------------------------------------
Capture = CaptureDevice  # the smallest device: keeps what the stack transmits


MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"
IP_ADDR, PEER = "10.0.0.1", "10.0.0.2"


def make_stack(config: lwipy.Config | None = None, vlan_id: int | None = None, mtu: int | None = None):
    dev = Capture()
    stack = lwipy.Stack(config, seed=7, strict=True)
    netif = stack.add_netif(dev, hwaddr=MAC, ip=f"{IP_ADDR}/24", vlan_id=vlan_id, mtu=mtu)
    return stack, netif, dev


def test_stack_gratuitous_arp() -> None:
    _, _, dev = make_stack()
    (frame,) = dev.take()
    pkt = Ether(frame)
    assert (pkt.dst, pkt.src, pkt.type) == ("ff:ff:ff:ff:ff:ff", MAC, 0x0806)
    assert (pkt[ARP].op, pkt[ARP].hwsrc, pkt[ARP].psrc, pkt[ARP].pdst) == (1, MAC, IP_ADDR, IP_ADDR)
    assert pkt[ARP].hwdst == "00:00:00:00:00:00"


def test_stack_arp_reply() -> None:
    stack, netif, dev = make_stack()
    dev.take()
    request = Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC) / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER, pdst=IP_ADDR)
    stack.input(netif, bytes(request), 1.0)
    (frame,) = dev.take()
    pkt = Ether(frame)
    assert (pkt.dst, pkt.src) == (PEER_MAC, MAC)
    assert (pkt[ARP].op, pkt[ARP].hwsrc, pkt[ARP].psrc, pkt[ARP].hwdst, pkt[ARP].pdst) == (2, MAC, IP_ADDR, PEER_MAC,
                                                                                          PEER)
    assert ArpPacket.parse(bytes(pkt[ARP])).op == 2


@pytest.mark.parametrize("size", [0, 1, 56, 1000, 1472])
def test_stack_echo_reply(size: int) -> None:
    stack, netif, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    body = bytes((i * 7) & 0xFF for i in range(size))
    request = Ether(dst=MAC, src=PEER_MAC) / IP(src=PEER, dst=IP_ADDR, tos=0x10, id=99) / ICMP(id=0x4242, seq=9) / body
    stack.input(netif, bytes(request), 1.0)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt.dst, pkt.src) == (PEER_MAC, MAC)
    assert (pkt[IP].src, pkt[IP].dst, pkt[IP].proto, pkt[IP].ttl) == (IP_ADDR, PEER, 1, 64)
    assert (pkt[ICMP].type, pkt[ICMP].code, pkt[ICMP].id, pkt[ICMP].seq) == (0, 0, 0x4242, 9)
    assert bytes(pkt[ICMP].payload) == body


def test_stack_echo_reply_to_request_with_options() -> None:
    stack, netif, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    request = (Ether(dst=MAC, src=PEER_MAC) / IP(src=PEER, dst=IP_ADDR, options=[IPOption_NOP(), IPOption_RR(
        routers=["0.0.0.0"] * 3)]) / ICMP(id=1, seq=2) / b"with options")
    stack.input(netif, bytes(request), 1.0)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert pkt[ICMP].type == 0 and bytes(pkt[ICMP].payload) == b"with options"


@pytest.mark.parametrize("payload", [b"", b"x", b"odd!!", bytes(range(256)) * 5])
def test_stack_udp_send(payload: bytes) -> None:
    stack, _, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    pcb.sendto(payload, PEER, 6000)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt.dst, pkt.src, pkt[IP].src, pkt[IP].dst) == (PEER_MAC, MAC, IP_ADDR, PEER)
    assert (pkt[UDP].sport, pkt[UDP].dport, pkt[UDP].len) == (5000, 6000, 8 + len(payload))
    assert pkt[UDP].chksum != 0
    assert bytes(pkt[UDP].payload) == payload


def test_stack_udp_no_checksum() -> None:
    stack, _, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    pcb = stack.udp.new()
    pcb.no_checksum = True
    pcb.sendto(b"unchecked", PEER, 6000)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert pkt[UDP].chksum == 0


def test_stack_udp_fragments_reassemble_in_scapy() -> None:
    stack, _, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    payload = bytes((i * 13) & 0xFF for i in range(4000))
    pcb = stack.udp.new()
    pcb.sendto(payload, PEER, 6000)
    frames = dev.take()
    assert len(frames) == 3
    for frame in frames:
        pkt = assert_checksums(frame)
        assert len(pkt[IP]) <= 1500
    ips = [Ether(f)[IP] for f in frames]
    assert [bool(p.flags.MF) for p in ips] == [True, True, False]
    assert len({p.id for p in ips}) == 1
    whole = defragment(ips)[0]
    assert bytes(whole[UDP].payload) == payload
    chksum = whole[UDP].chksum
    del whole[UDP].chksum
    assert IP(bytes(whole))[UDP].chksum == chksum


def test_stack_port_unreachable() -> None:
    stack, netif, dev = make_stack()
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    dgram = Ether(dst=MAC, src=PEER_MAC) / IP(src=PEER, dst=IP_ADDR, id=5) / UDP(sport=1111, dport=9) / b"anyone?"
    stack.input(netif, bytes(dgram), 1.0)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt[ICMP].type, pkt[ICMP].code) == (3, 3)
    assert (pkt[IPerror].src, pkt[IPerror].dst, pkt[IPerror].id) == (PEER, IP_ADDR, 5)
    assert (pkt[UDPerror].sport, pkt[UDPerror].dport) == (1111, 9)
    assert bytes(pkt[IPerror])[:28] == bytes(dgram[IP])[:28]  # RFC 792: the header and the first 8 data bytes


def test_stack_igmp_report_query_and_leave() -> None:
    stack, netif, dev = make_stack()
    dev.take()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    pcb.join_group("239.1.2.3")
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert pkt.dst == "01:00:5e:01:02:03"
    assert (pkt[IP].src, pkt[IP].dst, pkt[IP].ttl, pkt[IP].proto) == (IP_ADDR, "239.1.2.3", 1, 2)
    assert bytes(pkt[IP])[20:24] == b"\x94\x04\x00\x00"  # RFC 2236 2: the Router Alert option
    assert (pkt[IGMP].type, pkt[IGMP].mrcode, pkt[IGMP].gaddr) == (0x16, 0, "239.1.2.3")
    stack.poll(1.0)  # the second, delayed report of a join
    (frame,) = dev.take()
    assert assert_checksums(frame)[IGMP].type == 0x16
    query = (Ether(dst="01:00:5e:00:00:01", src=PEER_MAC) / IP(src=PEER, dst="224.0.0.1", ttl=1,
                                                               options=[IPOption_Router_Alert()])
             / IGMP(type=0x11, mrcode=20, gaddr="0.0.0.0"))
    stack.input(netif, bytes(query), 2.0)
    assert dev.take() == []
    stack.poll(4.1)  # within the 2 s max response time
    (frame,) = dev.take()
    assert assert_checksums(frame)[IGMP].type == 0x16
    pcb.leave_group("239.1.2.3")
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt.dst, pkt[IP].dst, pkt[IGMP].type, pkt[IGMP].gaddr) == ("01:00:5e:00:00:02", "224.0.0.2", 0x17,
                                                                     "239.1.2.3")


def test_stack_multicast_datagram() -> None:
    stack, _, dev = make_stack()
    dev.take()
    pcb = stack.udp.new()
    pcb.multicast_ttl = 4
    pcb.sendto(b"to the group", "239.1.2.3", 5000)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt.dst, pkt[IP].dst, pkt[IP].ttl, bytes(pkt[UDP].payload)) == ("01:00:5e:01:02:03", "239.1.2.3", 4,
                                                                           b"to the group")


def test_stack_vlan_frames() -> None:
    stack, netif, dev = make_stack(vlan_id=100)
    (garp,) = dev.take()
    pkt = Ether(garp)
    assert (pkt.type, pkt[Dot1Q].vlan, pkt[Dot1Q].prio, pkt[Dot1Q].type) == (0x8100, 100, 0, 0x0806)
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    request = Ether(dst=MAC, src=PEER_MAC) / Dot1Q(vlan=100) / IP(src=PEER, dst=IP_ADDR) / ICMP(id=3, seq=4) / b"vlan"
    stack.input(netif, bytes(request), 1.0)
    (frame,) = dev.take()
    pkt = assert_checksums(frame)
    assert (pkt[Dot1Q].vlan, pkt[ICMP].type, pkt[ICMP].id, bytes(pkt[ICMP].payload)) == (100, 0, 3, b"vlan")
    other_vlan = Ether(dst=MAC, src=PEER_MAC) / Dot1Q(vlan=101) / IP(src=PEER, dst=IP_ADDR) / ICMP()
    untagged = Ether(dst=MAC, src=PEER_MAC) / IP(src=PEER, dst=IP_ADDR) / ICMP()
    stack.input(netif, bytes(other_vlan), 1.0)
    stack.input(netif, bytes(untagged), 1.0)
    assert dev.take() == []


def test_stack_reassembles_scapy_fragments_and_fragments_its_reply() -> None:
    stack, netif, dev = make_stack(lwipy.Config(ip4_reassembly=True, checksum_check_ip=True, checksum_check_udp=True))
    stack.etharp.add_static(PEER, bytes.fromhex(PEER_MAC.replace(":", "")))
    dev.take()
    body = bytes((i * 3) & 0xFF for i in range(3000))
    request = IP(src=PEER, dst=IP_ADDR, id=0x777) / ICMP(id=77, seq=1) / body
    for piece in reversed(fragment(request, fragsize=1200)):
        stack.input(netif, bytes(Ether(dst=MAC, src=PEER_MAC) / piece), 1.0)
    frames = dev.take()
    assert len(frames) == 3
    for frame in frames:
        assert_checksums(frame)
    whole = defragment([Ether(f)[IP] for f in frames])[0]
    assert (whole[ICMP].type, whole[ICMP].id, whole[ICMP].seq) == (0, 77, 1)
    assert bytes(whole[ICMP].payload) == body
    chksum = whole[ICMP].chksum
    del whole[ICMP].chksum
    assert IP(bytes(whole))[ICMP].chksum == chksum
