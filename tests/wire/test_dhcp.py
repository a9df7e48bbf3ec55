"""BOOTP/DHCP messages (RFC 2131/2132): byte vectors against scapy's BOOTP/DHCP layers (an independent encoder) both
ways, option overload (RFC 2132 9.3), split options (RFC 3396), and hypothesis round trips and garbage."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from helpers import examples  # noqa: E402
from scapy.layers.dhcp import BOOTP, DHCP  # noqa: E402

from lwipy.errors import Malformed  # noqa: E402
from lwipy.wire import dhcp as w  # noqa: E402
from lwipy.wire.dhcp import DhcpMessage  # noqa: E402

MAC = bytes.fromhex("240ac4123456")  # an ESP32's station MAC
IP = IPv4Address


def scapy_options(pkt) -> list:
    return [o for o in pkt[DHCP].options if o not in ("end", "pad")]


def test_a_discover_as_lwip_sends_it_reads_in_scapy_field_for_field():
    msg = DhcpMessage(xid=0x12345678, chaddr=MAC)
    msg.add(w.MESSAGE_TYPE, w.DISCOVER).add(w.CLIENT_ID, b"\x01" + MAC).add(w.MAX_MESSAGE_SIZE, b"\x05\xdc")
    msg.add(w.HOSTNAME, "espressif").add(w.PARAMETER_REQUEST, bytes([1, 3, 28, 6]))
    data = bytes(msg.emit(68))
    assert len(data) == 240 + 68  # lwIP's dhcp_option_trailer pads to DHCP_MIN_OPTIONS_LEN
    pkt = BOOTP(data)
    assert (pkt.op, pkt.xid, pkt.chaddr[:6], pkt.ciaddr, pkt.flags) == (1, 0x12345678, MAC, "0.0.0.0", 0)
    assert scapy_options(pkt) == [("message-type", 1), ("client_id", b"\x01" + MAC), ("max_dhcp_size", 1500),
                                  ("hostname", b"espressif"), ("param_req_list", [1, 3, 28, 6])]
    # and scapy builds the same bytes for the same fields (pads aside)
    built = bytes(BOOTP(op=1, xid=0x12345678, chaddr=MAC + bytes(10), options=b"c\x82Sc") / DHCP(options=[
        ("message-type", "discover"), ("client_id", b"\x01" + MAC), ("max_dhcp_size", 1500),
        ("hostname", b"espressif"), ("param_req_list", [1, 3, 28, 6]), "end"]))
    assert data[:len(built)] == built and set(data[len(built):]) <= {0}


def test_an_ack_scapy_builds_parses_with_every_option_the_client_reads():
    pkt = BOOTP(op=2, xid=0xCAFEBABE, yiaddr="10.0.0.50", siaddr="10.0.0.1", chaddr=MAC + bytes(10),
                options=b"c\x82Sc") / DHCP(options=[
                    ("message-type", "ack"), ("server_id", "10.0.0.1"), ("lease_time", 3600),
                    ("renewal_time", 1800), ("rebinding_time", 3150), ("subnet_mask", "255.255.255.0"),
                    ("router", "10.0.0.1"), ("name_server", "10.0.0.53", "10.0.0.54"),
                    ("NTP_server", "10.0.0.123"), ("broadcast_address", "10.0.0.255"), "end"])
    msg = DhcpMessage.parse(bytes(pkt))
    assert (msg.op, msg.xid, msg.chaddr, msg.yiaddr, msg.siaddr) == (2, 0xCAFEBABE, MAC, IP("10.0.0.50"),
                                                                    IP("10.0.0.1"))
    assert msg.message_type == w.ACK and msg.end_seen
    assert w.ip_of(msg.get(w.SERVER_ID)) == IP("10.0.0.1")
    assert (w.u32(msg.get(w.LEASE_TIME)), w.u32(msg.get(w.T1)), w.u32(msg.get(w.T2))) == (3600, 1800, 3150)
    assert w.ip_of(msg.get(w.SUBNET_MASK)) == IP("255.255.255.0")
    assert w.ip_list(msg.get(w.ROUTER)) == [IP("10.0.0.1")]
    assert w.ip_list(msg.get(w.DNS_SERVER)) == [IP("10.0.0.53"), IP("10.0.0.54")]
    assert w.ip_list(msg.get(w.NTP_SERVER)) == [IP("10.0.0.123")]
    assert "ACK" in repr(msg)


def test_server_options_as_dhcps_sends_them_read_in_scapy():
    msg = DhcpMessage(op=w.BOOTREPLY, xid=7, chaddr=MAC, yiaddr=IP("192.168.4.2"))
    msg.add(w.MESSAGE_TYPE, w.OFFER).add(w.SERVER_ID, IP("192.168.4.1"))
    msg.add(w.LEASE_TIME, (7200).to_bytes(4, "big")).add(w.CAPTIVE_PORTAL, "http://192.168.4.1/portal")
    msg.add(w.DNS_SERVER, [IP("192.168.4.1"), IP("8.8.8.8")])
    pkt = BOOTP(bytes(msg.emit()))
    opts = dict((o[0], o[1:]) for o in scapy_options(pkt))
    assert opts["message-type"] == (2,) and opts["server_id"] == ("192.168.4.1",)
    assert opts["lease_time"] == (7200,) and opts["name_server"] == ("192.168.4.1", "8.8.8.8")
    assert opts["captive-portal"] == (b"http://192.168.4.1/portal",)
    assert pkt.yiaddr == "192.168.4.2" and pkt.op == 2


def test_option_overload_reads_file_then_sname_after_the_options_field():
    # RFC 2131 4.1: options, then file, then sname, each with its own End
    msg = DhcpMessage(op=w.BOOTREPLY, xid=1, chaddr=MAC)
    msg.add(w.MESSAGE_TYPE, w.ACK)
    msg.file_options = [(w.ROUTER, IP("10.0.0.1").packed), (w.LEASE_TIME, (60).to_bytes(4, "big"))]
    msg.sname_options = [(w.DNS_SERVER, IP("10.0.0.53").packed)]
    data = bytes(msg.emit())
    assert data[240:243] == bytes((52, 1, 3))  # overload: file and sname
    assert data[108] == w.ROUTER and data[44] == w.DNS_SERVER  # the file field at 108, sname at 44
    back = DhcpMessage.parse(data)
    assert back.overload == 3 and back.file == b"" and back.sname == b""
    assert [c for c, _ in back.options] == [w.MESSAGE_TYPE, w.ROUTER, w.LEASE_TIME, w.DNS_SERVER]
    assert BOOTP(data).file[0] == w.ROUTER  # scapy sees the same bytes where the file name goes


@pytest.mark.parametrize("where", [108, 44])
def test_an_overload_option_inside_an_overloaded_field_is_a_loop(where):
    msg = DhcpMessage(op=w.BOOTREPLY, xid=1, chaddr=MAC)
    msg.add(w.MESSAGE_TYPE, w.ACK)
    msg.file_options = [(w.ROUTER, bytes(4))]
    msg.sname_options = [(w.DNS_SERVER, bytes(4))]
    data = bytearray(msg.emit())
    data[where:where + 3] = bytes((52, 1, 3))
    with pytest.raises(Malformed):
        DhcpMessage.parse(data)


def test_an_option_longer_than_255_bytes_goes_in_pieces_and_comes_back_whole():
    msg = DhcpMessage(chaddr=MAC)
    msg.add(w.MESSAGE_TYPE, w.REQUEST).add(w.VENDOR_CLASS, b"x" * 600)
    data = msg.emit()
    back = DhcpMessage.parse(data)
    assert [len(v) for c, v in back.options if c == w.VENDOR_CLASS] == [255, 255, 90]
    assert back.get(w.VENDOR_CLASS) == b"x" * 600  # RFC 3396 concatenation


@pytest.mark.parametrize("cut, reason", [
    (lambda d: d[:239], "short"),
    (lambda d: d[:236] + b"\x63\x82\x53\x64" + d[240:], "cookie"),
    (lambda d: d[:240] + bytes((53, 5, 1)), "option past the end"),
    (lambda d: d[:240] + bytes((53,)), "no length"),
    (lambda d: d[:240] + bytes((52, 1, 9, 255)), "overload value"),
    (lambda d: d[:240] + bytes((52, 1, 1, 52, 1, 1, 255)), "two overloads"),
])
def test_malformed_messages(cut, reason):
    good = bytes(DhcpMessage(chaddr=MAC).add(w.MESSAGE_TYPE, w.DISCOVER).emit())
    with pytest.raises(Malformed):
        DhcpMessage.parse(cut(good))


def test_no_end_is_reported_not_malformed():
    good = bytes(DhcpMessage(chaddr=MAC).add(w.MESSAGE_TYPE, w.DISCOVER).emit())
    msg = DhcpMessage.parse(good[:243])  # the type option, no End
    assert msg.message_type == w.DISCOVER and not msg.end_seen
    assert DhcpMessage.parse(good).end_seen


options = st.lists(st.tuples(st.integers(1, 254).filter(lambda c: c != w.OVERLOAD), st.binary(max_size=300)),
                   max_size=8)
addr = st.integers(0, 2**32 - 1).map(IPv4Address)


@settings(max_examples=examples(200), deadline=None)
@given(op=st.sampled_from([1, 2]), xid=st.integers(0, 2**32 - 1), chaddr=st.binary(min_size=6, max_size=6),
       ci=addr, yi=addr, secs=st.integers(0, 0xFFFF), flags=st.integers(0, 0xFFFF), opts=options,
       file_opts=st.lists(st.tuples(st.integers(1, 254).filter(lambda c: c != w.OVERLOAD), st.binary(max_size=20)),
                          max_size=3))
def test_emit_then_parse_round_trips(op, xid, chaddr, ci, yi, secs, flags, opts, file_opts):
    msg = DhcpMessage(op=op, xid=xid, chaddr=chaddr, ciaddr=ci, yiaddr=yi, secs=secs, flags=flags,
                      options=list(opts), file_options=list(file_opts))
    back = DhcpMessage.parse(msg.emit())
    assert (back.op, back.xid, back.chaddr, back.ciaddr, back.yiaddr, back.secs, back.flags) == (
        op, xid, chaddr, ci, yi, secs, flags)
    for code in {c for c, _ in opts + file_opts}:
        assert back.get(code) == b"".join(v for c, v in opts + file_opts if c == code)


@settings(max_examples=examples(500), deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_arbitrary_bytes_only_raise_malformed(data, with_header):
    if with_header:  # get past the header and cookie so the option parser is what is exercised
        data = bytes(236) + w.COOKIE + data
    try:
        msg = DhcpMessage.parse(data)
    except Malformed:
        return
    assert repr(msg).startswith("<DHCP")
    assert msg.message_type is None or 0 <= msg.message_type <= 255
    DhcpMessage.parse(msg.emit())  # what parsed emits again and parses
