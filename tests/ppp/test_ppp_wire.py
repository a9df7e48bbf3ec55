"""PPP's wire formats (lwipy.wire.ppp): HDLC-like framing (RFC 1662) and the control packets, checked against
scapy's PPP layers both ways, a real capture of C lwIP's PPP, and hypothesis."""

from __future__ import annotations

import os
import struct
import sys
import zlib

import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.ppp import (HDLC, PPP, PPP_CHAP, PPP_CHAP_ChallengeResponse, PPP_IPCP, PPP_IPCP_Option_DNS1,
                              PPP_IPCP_Option_DNS2, PPP_IPCP_Option_IPAddress, PPP_LCP, PPP_LCP_ACCM_Option,
                              PPP_LCP_Auth_Protocol_Option, PPP_LCP_Configure, PPP_LCP_Echo,
                              PPP_LCP_Magic_Number_Option, PPP_LCP_MRU_Option, PPP_LCP_Protocol_Reject,
                              PPP_LCP_Terminate, PPP_PAP_Request, PPP_PAP_Response)

from lwipy.errors import Malformed
from lwipy.wire.ppp import (ACCM_ALL, PPP_CHAP as P_CHAP, PPP_IP, PPP_IPCP as P_IPCP, PPP_LCP as P_LCP, PPP_PAP as P_PAP,
                            ChapPacket, CpPacket, Deframer, PapPacket, emit_options, fcs16,
                            fcs32, frame_encode, parse_options)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "peers", "lwip-ppp")


def unframe(frame: bytes) -> bytes:
    """Strip flags and escapes (a reference un-stuffer written byte by byte, RFC 1662 4.2)."""
    out = bytearray()
    esc = False
    for b in frame.strip(b"\x7e"):
        if esc:
            out.append(b ^ 0x20)
            esc = False
        elif b == 0x7D:
            esc = True
        else:
            out.append(b)
    return bytes(out)


def test_fcs16_and_fcs32_check_values():
    # CRC-16/X-25 and CRC-32 catalogue check values over "123456789"
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E
    assert fcs32(b"123456789") == 0xCBF43926
    # RFC 1662 C.2: a good frame with its FCS leaves the register at PPPGOODFCS16
    body = b"\xff\x03\xc0\x21abc"
    assert fcs16(body + struct.pack("<H", fcs16(body) ^ 0xFFFF)) == 0xF0B8
    assert fcs16(b"\x03\x01\x02") == fcs16(b"\x01\x02", fcs16(b"\x03"))


def test_lcp_frame_escapes_every_control_character_and_is_scapy_hdlc_ppp_lcp():
    req = CpPacket(1, 7, emit_options([(2, b"\x00\x00\x00\x00"), (5, b"\x11\x22\x33\x44"), (7, b""), (8, b"")]))
    frame = frame_encode(P_LCP, req.emit(), accm=0, acfc=True, pfc=True)  # LCP ignores all three (RFC 1662 7.1)
    assert frame[0] == frame[-1] == 0x7E
    assert not any(b < 0x20 for b in frame[1:-1]), "LCP is sent with the default ACCM"
    body = unframe(frame)
    assert fcs16(body) == 0xF0B8
    pkt = HDLC(body[:-2])
    assert pkt.address == 0xFF and pkt.control == 0x03 and pkt[PPP].proto == 0xC021
    conf = pkt[PPP_LCP_Configure]
    assert (conf.code, conf.id, conf.len) == (1, 7, 4 + 16)
    assert conf.options[0].accm == 0 and conf.options[1].magic_number == 0x11223344
    assert [o.type for o in conf.options] == [2, 5, 7, 8]


def test_scapy_lcp_configure_request_parses_here():
    sc = PPP_LCP_Configure(code=1, id=3, options=[PPP_LCP_MRU_Option(max_recv_unit=1400),
                                                  PPP_LCP_ACCM_Option(accm=0x000A0000),
                                                  PPP_LCP_Auth_Protocol_Option(auth_protocol=0xC223, algorithm=5),
                                                  PPP_LCP_Magic_Number_Option(magic_number=0xDEADBEEF)])
    cp = CpPacket.parse(raw(sc))
    assert (cp.code, cp.ident) == (1, 3)
    assert parse_options(cp.data) == [(1, b"\x05\x78"), (2, b"\x00\x0a\x00\x00"), (3, b"\xc2\x23\x05"),
                                      (5, b"\xde\xad\xbe\xef")]
    # through the framing and back
    frame = frame_encode(P_LCP, raw(sc))
    assert Deframer().feed(frame) == [(P_LCP, raw(sc))]


def test_lcp_terminate_echo_and_protocol_reject_both_ways():
    for sc, ours in [
        (PPP_LCP_Terminate(code=5, id=2, data=b"User request"), CpPacket(5, 2, b"User request")),
        (PPP_LCP_Terminate(code=6, id=2), CpPacket(6, 2)),
        (PPP_LCP_Echo(code=9, id=4, magic_number=0x01020304, data=b"xy"), CpPacket(9, 4, b"\x01\x02\x03\x04xy")),
        (PPP_LCP_Protocol_Reject(id=9, rejected_protocol=0x8057, rejected_information=b"\x01\x01\x00\x04"),
         CpPacket(8, 9, b"\x80\x57\x01\x01\x00\x04")),
    ]:
        assert ours.emit() == raw(sc)
        assert CpPacket.parse(raw(sc)) == ours
        assert PPP_LCP(ours.emit()).code == sc.code


def test_ipcp_with_dns_both_ways():
    sc = PPP_IPCP(code=3, id=2, options=[PPP_IPCP_Option_IPAddress(data="10.64.0.2"),
                                         PPP_IPCP_Option_DNS1(data="10.64.0.53"),
                                         PPP_IPCP_Option_DNS2(data="10.64.0.54")])
    ours = CpPacket(3, 2, emit_options([(3, bytes([10, 64, 0, 2])), (129, bytes([10, 64, 0, 53])),
                                        (131, bytes([10, 64, 0, 54]))]))
    assert ours.emit() == raw(sc)
    parsed = PPP_IPCP(ours.emit())
    assert [o.data for o in parsed.options] == ["10.64.0.2", "10.64.0.53", "10.64.0.54"]
    # inside a frame with ACFC and PFC negotiated: scapy's PPP reads the one-byte protocol field... of 0x8021? no:
    # PFC only compresses protocols below 0x100, so IPCP keeps two bytes and ACFC drops FF 03
    frame = frame_encode(P_IPCP, ours.emit(), accm=0, acfc=True, pfc=True)
    body = unframe(frame)[:-2]
    assert body[:2] == b"\x80\x21"
    assert PPP(body).proto == 0x8021 and PPP(body)[PPP_IPCP].options[0].data == "10.64.0.2"


def test_pap_both_ways():
    sc = PPP_PAP_Request(id=1, username=b"alice", password=b"s3cret")
    ours = PapPacket(1, 1, b"alice", b"s3cret")
    assert ours.emit() == raw(sc)
    assert PapPacket.parse(raw(sc)) == ours
    ack = PPP_PAP_Response(code=2, id=1, message=b"Login ok")
    assert PapPacket(2, 1, message=b"Login ok").emit() == raw(ack)
    assert PapPacket.parse(raw(ack)).message == b"Login ok"
    with pytest.raises(Malformed):
        PapPacket.parse(b"\x01\x01\x00\x06\x09a")  # name length overruns


def test_chap_both_ways():
    value = bytes(range(16))
    sc = PPP_CHAP_ChallengeResponse(code=1, id=0x42, value=value, optional_name=b"lwip_pppd")
    ours = ChapPacket(1, 0x42, value, b"lwip_pppd")
    assert ours.emit() == raw(sc)
    assert ChapPacket.parse(raw(sc)) == ours
    ok = PPP_CHAP(code=3, id=0x42, data=b"Access granted")
    assert ChapPacket(3, 0x42, message=b"Access granted").emit() == raw(ok)
    assert ChapPacket.parse(raw(ok)).message == b"Access granted"
    frame = frame_encode(P_CHAP, ours.emit(), accm=0)
    assert HDLC(unframe(frame)[:-2])[PPP_CHAP_ChallengeResponse].value == value


def test_ipv6cp_interface_identifier_vector():
    # RFC 5072 4.1: Type 1, Length 10, the 64-bit identifier (captured from lwip_pppd, samples/)
    iid = bytes.fromhex("a5397000e769f1d7")
    cp = CpPacket(1, 1, emit_options([(1, iid)]))
    assert cp.emit() == b"\x01\x01\x00\x0e\x01\x0a" + iid
    assert parse_options(CpPacket.parse(cp.emit()).data) == [(1, iid)]


def test_deframer_counts_bad_fcs_aborts_and_drops_accm_noise():
    good = frame_encode(PPP_IP, b"\x45" + bytes(19), accm=0)
    bad = bytearray(good)
    bad[5] ^= 0x01
    d = Deframer()
    assert d.feed(bytes(bad)) == [] and d.bad_fcs == 1
    assert d.feed(good) == [(PPP_IP, b"\x45" + bytes(19))]
    assert d.feed(b"\x7e\xff\x03\x00\x21\x7d\x7e") == [] and d.aborts == 1  # RFC 1662 4.2: 7D 7E aborts
    # our receive ACCM is 0x000A0000: XON/XOFF (0x11, 0x13) on the line are noise and dropped (RFC 1662 7.1)
    d2 = Deframer(accm=0x000A0000)
    noisy = good[:4] + b"\x11" + good[4:9] + b"\x13" + good[9:]
    assert d2.feed(noisy) == [(PPP_IP, b"\x45" + bytes(19))]
    # with ACCM 0 the same bytes are data: the FCS fails
    assert Deframer().feed(noisy) == []


def test_frame_escapes_accm_characters_and_compresses_when_told():
    info = bytes(range(0x20)) + b"\x7d\x7e"
    frame = frame_encode(PPP_IP, info, accm=0x00000001, acfc=True, pfc=True)
    inner = frame[1:-1]
    assert b"\x00" not in inner and b"\x01" in inner  # only 0x00 is in the map
    assert b"\x7e" not in inner
    body = unframe(frame)
    assert body[0] == 0x21 and fcs16(body) == 0xF0B8  # no FF 03, one-byte protocol
    assert Deframer().feed(frame) == [(PPP_IP, info)]


def test_fcs32_frames():
    frame = frame_encode(PPP_IP, b"hello", accm=0, fcs32_=True)
    body = unframe(frame)
    assert zlib.crc32(body[:-4]).to_bytes(4, "little") == body[-4:]
    d = Deframer()
    d.fcs32 = True
    assert d.feed(frame) == [(PPP_IP, b"hello")]


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/peers/lwip-ppp is absent")
def test_real_capture_of_c_lwip_decodes():
    """The socat capture in the peer's samples/ (C lwIP both sides): every frame deframes with a good FCS here."""
    sys.path.insert(0, SHARED)
    import hdlc_decode  # the peer's own decoder, for the frame count

    path = os.path.join(SHARED, "samples", "pap-ipv6-vj.socat.log")
    with open(path) as f:
        blocks = list(hdlc_decode.parse_socat_log(f.read()))
    total = 0
    protocols = set()
    for direction in "<>":
        d = Deframer()
        for _, _, data in (b for b in blocks if b[1] == direction):
            for protocol, _info in d.feed(data):
                protocols.add(protocol)
                total += 1
        assert d.bad_fcs == 0 and d.lenerr == 0
    assert total == 34  # the decoder's own count in samples/pap-ipv6-vj.decoded.txt
    assert {0xC021, 0xC023, 0x8021, 0x8057, 0x21, 0x2D, 0x2F} <= protocols


@settings(max_examples=examples(300))
@given(protocol=st.sampled_from([0x21, 0x57, 0x2D, 0x2F, 0xC021, 0x8021, 0xC023, 0xC223, 0x8057]),
       info=st.binary(max_size=300), accm=st.integers(0, ACCM_ALL), acfc=st.booleans(), pfc=st.booleans(),
       use32=st.booleans(), cuts=st.lists(st.integers(0, 700), max_size=6))
def test_frame_round_trip_in_any_pieces(protocol, info, accm, acfc, pfc, use32, cuts):
    frame = frame_encode(protocol, info, accm=accm, acfc=acfc, pfc=pfc, fcs32_=use32)
    d = Deframer(accm=accm)
    d.fcs32 = use32
    out = []
    last = 0
    for c in sorted(c for c in cuts if c < len(frame)):
        out += d.feed(frame[last:c])
        last = c
    out += d.feed(frame[last:])
    assert out == [(protocol, info)]
    assert d.bad_fcs == 0


@settings(max_examples=examples(500))
@given(st.lists(st.binary(max_size=200), max_size=8), st.integers(0, ACCM_ALL))
def test_deframer_takes_any_bytes(chunks, accm):
    d = Deframer(max_frame=100, accm=accm)
    for c in chunks:
        for protocol, info in d.feed(c):
            assert protocol & 1 and len(info) <= 100
    assert d.frames + d.bad_fcs + d.lenerr + d.aborts + d.proterr >= 0


@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_every_control_frame_of_a_session_reads_the_same_in_scapy(auth):
    """A whole lwipy-to-lwipy session (tests/ppp_link.py): each LCP, IPCP, PAP and CHAP packet on the line, parsed by
    scapy, has our code, identifier and length, and scapy writes it back byte for byte."""
    from test_ppp_session import Pair, server_settings

    from lwipy.ppp import PppSettings

    p = Pair(PppSettings(user="alice", password="s3cret", vj=True),
             server_settings(auth_required=True, auth=(auth,), vj=True, lcp_echo_interval=1.0))
    assert p.up()
    p.sim.run(3)  # a few echoes
    p.ca.close()
    p.sim.run(5)
    layers = {P_LCP, P_IPCP, P_PAP, P_CHAP}
    seen = set()
    for _, _, protocol, info in p.link.log:
        if protocol not in layers:
            continue
        cp = CpPacket.parse(info)
        pkt = PPP(struct.pack("!H", protocol) + info)
        layer = pkt.payload
        assert (layer.code, layer.id, layer.len) == (cp.code, cp.ident, len(info)), layer.summary()
        assert raw(layer) == info
        seen.add((protocol, cp.code))
    assert {(P_LCP, 1), (P_LCP, 2), (P_LCP, 5), (P_LCP, 6), (P_LCP, 9), (P_LCP, 10), (P_IPCP, 1), (P_IPCP, 2),
            (P_IPCP, 3)} <= seen
    assert {(P_PAP, 1), (P_PAP, 2)} <= seen if auth == "pap" else {(P_CHAP, 1), (P_CHAP, 2), (P_CHAP, 3)} <= seen
