"""NetBIOS name service packets against scapy's NBNS layers, both ways."""

from ipaddress import IPv4Address

import pytest
from hypothesis import given, strategies as st
from scapy.layers.netbios import (NBNSHeader, NBNSNodeStatusRequest, NBNSNodeStatusResponse, NBNSQueryRequest,
                                  NBNSQueryResponse)

from lwipy.errors import Malformed
from lwipy.wire import netbios as nb


def test_name_query_is_byte_identical_to_scapys():
    scapy = bytes(NBNSHeader(NAME_TRN_ID=0x1234) / NBNSQueryRequest(QUESTION_NAME="ESP32"))
    assert nb.name_query(0x1234, "ESP32") == scapy


def test_scapy_query_parsed():
    # scapy's SUFFIX is the encoded pair: "CA" is 0x20, the file server
    q = nb.parse_question(bytes(NBNSHeader(NAME_TRN_ID=7) / NBNSQueryRequest(QUESTION_NAME="MYHOST", SUFFIX=0x4341)))
    assert (q.trans_id, q.name, q.suffix, q.qtype, q.qclass) == (7, b"MYHOST", 0x20, nb.QTYPE_NB, nb.QCLASS_IN)


def test_name_query_response_read_by_scapy():
    q = nb.parse_question(nb.name_query(0x4242, "ESP32"))
    pkt = NBNSHeader(nb.name_query_response(q, IPv4Address("10.0.0.7")))
    assert pkt.RESPONSE == 1 and pkt.NAME_TRN_ID == 0x4242 and pkt.ANCOUNT == 1 and pkt.QDCOUNT == 0
    ans = pkt[NBNSQueryResponse]
    assert ans.RR_NAME.rstrip(b" ") == b"ESP32" and ans.TTL == nb.NAME_TTL and ans.ADDR_ENTRY[0].NB_ADDRESS == "10.0.0.7"


def test_node_status_response_read_by_scapy():
    query = bytes(NBNSHeader(NAME_TRN_ID=9) / NBNSNodeStatusRequest())
    q = nb.parse_question(query)
    assert q.name == b"*" and q.qtype == nb.QTYPE_NBSTAT
    pkt = NBNSHeader(nb.node_status_response(q, b"ESP32", bytes.fromhex("02aabbccddee")))
    st_ = pkt[NBNSNodeStatusResponse]
    assert st_.NUM_NAMES == 1 and st_.NODE_NAME[0].NETBIOS_NAME.rstrip(b" ") == b"ESP32"
    assert st_.MAC_ADDRESS == "02:aa:bb:cc:dd:ee"


@pytest.mark.parametrize("name", ["A", "ESP32", "FIFTEENCHARSXYZ"])
def test_encode_decode_round_trip(name):
    enc = nb.encode_name(name, 0x20)
    assert len(enc) == 34 and nb.decode_name(enc) == (name.encode(), 0x20, 34)


def test_bad_names():
    with pytest.raises(ValueError):
        nb.encode_name("SIXTEENCHARSXYZW")
    for bad in (b"\x21" + b"A" * 32 + b"\x00", b"\x20" + b"A" * 32 + b"\x01", b"\x20" + b"Z" * 32 + b"\x00", b"\x20AA"):
        with pytest.raises(Malformed):
            nb.decode_name(bad)


@given(st.binary(max_size=80))
def test_parse_question_only_raises_malformed(data):
    try:
        nb.parse_question(data)
    except Malformed:
        pass
