"""DHCPv6 (RFC 8415) messages a stateless client sends and reads.

Byte vectors are built with scapy (scapy.layers.dhcp6), an encoder written independently of lwipy: what we emit must
equal what scapy builds for the same fields, and what scapy builds we must read back field for field.
"""

from __future__ import annotations

import logging
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.dhcp6 import (DHCP6_Advertise, DHCP6_InfoRequest, DHCP6_Reply, DHCP6NTPSubOptSrvAddr,  # noqa: E402
                                DHCP6NTPSubOptSrvFQDN, DHCP6OptClientId, DHCP6OptDNSDomains, DHCP6OptDNSServers,
                                DHCP6OptElapsedTime, DHCP6OptIA_NA, DHCP6OptInfoRefreshTime, DHCP6OptNTPServer,
                                DHCP6OptOptReq, DHCP6OptPref, DHCP6OptServerId, DHCP6OptSNTPServers,
                                DHCP6OptStatusCode, DUID_EN, DUID_LL, DUID_LLT, DUID_UUID)

from lwipy.errors import Malformed  # noqa: E402
from lwipy.wire.dhcp6 import (  # noqa: E402
    ADVERTISE, ALL_DHCP_RELAY_AGENTS_AND_SERVERS, CLIENT_PORT, DNS_SERVERS, DOMAIN_LIST, DUID_EN as EN, DUID_LL as LL,
    DUID_LLT as LLT, DUID_UUID as UUID, ELAPSED_TIME, HEADER_LEN, INFORMATION_REQUEST, IRT_MINIMUM, LWIP_ORO,
    NTP_SERVER, NTP_SUBOPTION_MC_ADDR, NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_SRV_FQDN, RELAY_FORW, RELAY_REPL, REPLY,
    SERVER_PORT, SNTP_SERVERS, STATUS_NO_ADDRS_AVAIL, STATUS_SUCCESS, ClientId, Dhcp6Message, Dhcp6Option,
    DnsServers, DomainList, ElapsedTime, InformationRefreshTime, NtpServer, OptionRequest, ReplyInfo, ServerId,
    SntpServers, StatusCode, duid_ll, duid_llt, information_request, parse_duid, reply_info)

FILL = 0xA5
CLIENT_MAC = bytes.fromhex("24 0a c4 12 34 56")  # an ESP32's station MAC
SERVER_MAC = bytes.fromhex("52 54 00 ab cd ef")
KNOWN = (1, 2, 6, 8, 13, 23, 24, 31, 32, 56)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def wire(msg: Dhcp6Message) -> bytes:
    buf = bytearray(msg.buffer_len)
    msg.emit(buf)
    return bytes(buf)


def boundaries(data: bytes) -> list[int]:
    """Offsets where an option starts or the message ends (a cut there leaves a valid, shorter message)."""
    pos, out = HEADER_LEN, [HEADER_LEN]
    while pos < len(data):
        pos += 4 + int.from_bytes(data[pos + 2:pos + 4], "big")
        out.append(pos)
    return out


# Information-Requests: (xid, client duid or None, oro, elapsed or None, the same built by scapy)
INFO_REQUESTS = {
    "full": (0xABCDEF, duid_ll(CLIENT_MAC), [23, 24, 31], 0,
             DHCP6_InfoRequest(trid=0xABCDEF) / DHCP6OptClientId(duid=DUID_LL(lladdr="24:0a:c4:12:34:56"))
             / DHCP6OptOptReq(reqopts=[23, 24, 31]) / DHCP6OptElapsedTime(elapsedtime=0)),
    "retransmit with ntp": (0x000102, duid_ll(CLIENT_MAC), [23, 56], 150,
                            DHCP6_InfoRequest(trid=0x000102) / DHCP6OptClientId(duid=DUID_LL(lladdr="24:0a:c4:12:34:56"))
                            / DHCP6OptOptReq(reqopts=[23, 56]) / DHCP6OptElapsedTime(elapsedtime=150)),
    # what lwIP's dhcp6_information_request sends: the Option Request alone, with DNS, domain list and SNTP
    "lwip": (0xFFFFFF, None, list(LWIP_ORO), None, DHCP6_InfoRequest(trid=0xFFFFFF) / DHCP6OptOptReq(reqopts=[23, 24, 31])),
}


@pytest.mark.parametrize("name", INFO_REQUESTS)
def test_information_request_equals_scapy(name: str) -> None:
    xid, duid, oro, elapsed, scapy_pkt = INFO_REQUESTS[name]
    msg = information_request(xid, duid, oro, elapsed)
    assert wire(msg) == bytes(scapy_pkt)
    assert msg.buffer_len == len(bytes(scapy_pkt))
    assert Dhcp6Message.parse(bytes(scapy_pkt)) == msg


def test_lwip_request_layout() -> None:
    """dhcp6.c: type 11, the 24-bit xid, then option 6 of length 6 holding 23, 24, 31."""
    assert wire(information_request(0x123456, None, elapsed_cs=None)) == bytes.fromhex("0b123456 0006 0006 0017 0018 001f")


def test_default_request() -> None:
    msg = information_request(7, duid_ll(CLIENT_MAC))
    assert [type(o) for o in msg.options] == [ClientId, OptionRequest, ElapsedTime]
    assert msg.msg_type == INFORMATION_REQUEST and msg.find(OptionRequest) == OptionRequest([23, 24, 31])
    assert msg.find(ElapsedTime) == ElapsedTime(0)


SCAPY_REPLY = bytes(
    DHCP6_Reply(trid=0xABCDEF)
    / DHCP6OptServerId(duid=DUID_LL(lladdr="52:54:00:ab:cd:ef"))
    / DHCP6OptClientId(duid=DUID_LL(lladdr="24:0a:c4:12:34:56"))
    / DHCP6OptStatusCode(statuscode=0, statusmsg=b"all good")
    / DHCP6OptDNSServers(dnsservers=["2001:db8::53", "2001:db8:1::53"])
    / DHCP6OptDNSDomains(dnsdomains=["example.com", "lab.example.org"])
    / DHCP6OptSNTPServers(sntpservers=["2001:db8::123"])
    / DHCP6OptInfoRefreshTime(reftime=7200))

# A Reply as dnsmasq's rfc3315.c answers an Information-Request (built with scapy, not captured): its Server Identifier
# first (a DUID-LLT, hardware type 1, time in seconds since 2000), the Client Identifier echoed, the configured
# dns-server and domain-search options, then the Information Refresh Time it derives from the lease time.
DNSMASQ_REPLY = bytes(
    DHCP6_Reply(trid=0x5A5A01)
    / DHCP6OptServerId(duid=DUID_LLT(hwtype=1, timeval=0x2D5E8B3C, lladdr="52:54:00:ab:cd:ef"))
    / DHCP6OptClientId(duid=DUID_LL(lladdr="24:0a:c4:12:34:56"))
    / DHCP6OptDNSServers(dnsservers=["fd00:1::1"])
    / DHCP6OptDNSDomains(dnsdomains=["lan", "example.org"])
    / DHCP6OptInfoRefreshTime(reftime=3600))

NTP_REPLY = bytes(
    DHCP6_Advertise(trid=0x010203)
    / DHCP6OptServerId(duid=DUID_EN(enterprisenum=32473, id=b"srv"))
    / DHCP6OptIA_NA(iaid=5) / DHCP6OptPref(prefval=255)
    / DHCP6OptNTPServer(ntpserver=[DHCP6NTPSubOptSrvAddr(addr="2001:db8::7b"), DHCP6NTPSubOptSrvFQDN(fqdn="ntp.example.com")])
    / DHCP6OptStatusCode(statuscode=STATUS_NO_ADDRS_AVAIL, statusmsg="ñ no addresses".encode()))

VECTORS = {"scapy reply": SCAPY_REPLY, "dnsmasq reply": DNSMASQ_REPLY, "ntp advertise": NTP_REPLY,
           **{f"request {k}": bytes(v[-1]) for k, v in INFO_REQUESTS.items()}}


def test_parse_scapy_reply() -> None:
    msg = Dhcp6Message.parse(SCAPY_REPLY)
    assert (msg.msg_type, msg.transaction_id) == (REPLY, 0xABCDEF)
    assert msg.options == [
        ServerId(duid_ll(SERVER_MAC)), ClientId(duid_ll(CLIENT_MAC)), StatusCode(STATUS_SUCCESS, "all good"),
        DnsServers([ip6("2001:db8::53"), ip6("2001:db8:1::53")]), DomainList(["example.com", "lab.example.org"]),
        SntpServers([ip6("2001:db8::123")]), InformationRefreshTime(7200)]
    assert reply_info(msg) == ReplyInfo(
        dns_servers=[ip6("2001:db8::53"), ip6("2001:db8:1::53")], domains=["example.com", "lab.example.org"],
        sntp_servers=[ip6("2001:db8::123")], refresh_time=7200, status=StatusCode(0, "all good"),
        server_id=duid_ll(SERVER_MAC), client_id=duid_ll(CLIENT_MAC))
    assert wire(msg) == SCAPY_REPLY


def test_parse_dnsmasq_reply() -> None:
    msg = Dhcp6Message.parse(DNSMASQ_REPLY)
    info = reply_info(msg)
    assert info.dns_servers == [ip6("fd00:1::1")] and info.domains == ["lan", "example.org"]
    assert info.refresh_time == 3600 and info.sntp_servers == [] and info.ntp_servers == []
    assert info.status == StatusCode(STATUS_SUCCESS, "")  # absent: Success (RFC 8415 21.13)
    assert info.client_id == duid_ll(CLIENT_MAC)
    assert info.server_id == duid_llt(SERVER_MAC, 0x2D5E8B3C)
    assert parse_duid(info.server_id) == (LLT, 1, 0x2D5E8B3C, SERVER_MAC)
    assert parse_duid(info.client_id) == (LL, 1, CLIENT_MAC)


def test_parse_advertise_with_ntp_and_unknown_options() -> None:
    msg = Dhcp6Message.parse(NTP_REPLY)
    assert msg.msg_type == ADVERTISE
    assert msg.option(3) == Dhcp6Option(3, bytes.fromhex("00000005 00000000 00000000"))  # IA_NA, kept raw
    assert msg.option(7) == Dhcp6Option(7, b"\xff")  # Preference
    ntp = msg.find(NtpServer)
    assert ntp is not None and ntp.addresses == [ip6("2001:db8::7b")] and ntp.fqdns == ["ntp.example.com"]
    info = reply_info(msg)
    assert info.ntp_servers == [ip6("2001:db8::7b")] and info.status == StatusCode(STATUS_NO_ADDRS_AVAIL, "ñ no addresses")
    assert parse_duid(info.server_id or b"") == (EN, 32473, b"srv")
    assert wire(msg) == NTP_REPLY


def test_emit_reply_equals_scapy() -> None:
    msg = Dhcp6Message(REPLY, 0x5A5A01, [
        ServerId(duid_llt(SERVER_MAC, 0x2D5E8B3C)), ClientId(duid_ll(CLIENT_MAC)), DnsServers([ip6("fd00:1::1")]),
        DomainList(["lan.", "example.org"]), InformationRefreshTime(3600)])  # a trailing dot is allowed on emit
    assert wire(msg) == DNSMASQ_REPLY


@pytest.mark.parametrize("offset", [0, 1, 7])
def test_emit_into_prefilled_buffer(offset: int) -> None:
    msg = Dhcp6Message.parse(SCAPY_REPLY)
    buf = bytearray([FILL]) * (offset + len(SCAPY_REPLY) + 5)
    msg.emit(buf, offset)
    assert buf[:offset] == b"\xa5" * offset and buf[offset + len(SCAPY_REPLY):] == b"\xa5" * 5
    assert bytes(buf[offset:offset + len(SCAPY_REPLY)]) == SCAPY_REPLY
    view = memoryview(bytearray([FILL]) * (offset + msg.buffer_len))
    msg.emit(view, offset)
    assert bytes(view[offset:]) == SCAPY_REPLY


def test_emit_refuses_what_does_not_fit() -> None:
    msg = information_request(1, None)
    with pytest.raises(ValueError):
        msg.emit(bytearray(msg.buffer_len - 1))
    with pytest.raises(ValueError):
        information_request(1 << 24, None).emit(bytearray(64))
    with pytest.raises(ValueError):
        DomainList(["a" * 64]).encode()
    with pytest.raises(ValueError):
        DnsServers([b"\x00" * 4]).encode()


@pytest.mark.parametrize("name", VECTORS)
def test_every_truncation(name: str) -> None:
    """A cut inside the header or an option is malformed; one between options leaves the options before it."""
    data = VECTORS[name]
    whole = Dhcp6Message.parse(data)
    cuts = boundaries(data)
    assert cuts[-1] == len(data)
    for n in range(len(data)):
        if n in cuts:
            assert Dhcp6Message.parse(data[:n]).options == whole.options[:cuts.index(n)]
        else:
            with pytest.raises(Malformed):
                Dhcp6Message.parse(data[:n])


@pytest.mark.parametrize("msg_type", [RELAY_FORW, RELAY_REPL])
def test_relay_messages_are_malformed_for_a_client(msg_type: int) -> None:
    with pytest.raises(Malformed):
        Dhcp6Message.parse(bytes([msg_type]) + SCAPY_REPLY[1:])


def header(*options: tuple[int, bytes]) -> bytes:
    return bytes.fromhex("07000001") + b"".join(c.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for c, d in options)


BAD_OPTIONS = {
    "dns not a multiple of 16": (DNS_SERVERS, b"\x20" * 17),
    "sntp not a multiple of 16": (SNTP_SERVERS, b"\x20" * 15),
    "odd option request": (6, b"\x00\x17\x00"),
    "elapsed time of 1 byte": (ELAPSED_TIME, b"\x01"),
    "elapsed time of 3 bytes": (ELAPSED_TIME, b"\x00\x01\x02"),
    "refresh time of 2 bytes": (32, b"\x0e\x10"),
    "status code of 1 byte": (13, b"\x00"),
    "status message not UTF-8": (13, b"\x00\x00\xff\xfe"),
    "empty client id": (1, b""),
    "server id of 1 byte": (2, b"\x00"),
    "ntp address of 4 bytes": (NTP_SERVER, bytes.fromhex("0001 0004 0a000001")),
    "ntp suboption truncated": (NTP_SERVER, bytes.fromhex("0002 0010 ff02")),
    "ntp fqdn compressed": (NTP_SERVER, bytes.fromhex("0003 0002 c00c")),
    "ntp fqdn of two names": (NTP_SERVER, bytes.fromhex("0003 0004 01610000")),
}


@pytest.mark.parametrize("name", BAD_OPTIONS)
def test_bad_option_shapes(name: str) -> None:
    with pytest.raises(Malformed):
        Dhcp6Message.parse(header(BAD_OPTIONS[name]))


BAD_NAMES = {
    "compression pointer": bytes.fromhex("076578616d706c65 c00c"),
    "pointer first": bytes.fromhex("c000"),
    "label of 64": b"\x40" + b"a" * 64 + b"\x00",
    "extended label type": b"\x41" + b"a" * 65 + b"\x00",
    "label past the end": b"\x07example\x05co\x00",
    "no terminating zero": b"\x07example\x03com",
    "256 bytes": (b"\x3f" + b"a" * 63) * 4 + b"\x00",
    "non-ascii label": b"\x03caf\xc3\x00",
    "dot inside a label": b"\x03a.b\x00",
}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_domain_names(name: str) -> None:
    with pytest.raises(Malformed):
        Dhcp6Message.parse(header((DOMAIN_LIST, BAD_NAMES[name])))


def test_domain_name_limits() -> None:
    longest = b"\x3f" + b"a" * 63  # 4 such labels and the root: 257 bytes; 3 and a 61-byte one: 255
    data = longest * 3 + b"\x3d" + b"b" * 61 + b"\x00" + b"\x00"
    names = Dhcp6Message.parse(header((DOMAIN_LIST, data))).find(DomainList)
    assert names == DomainList([".".join(["a" * 63] * 3 + ["b" * 61]), ""])
    assert names.encode() == data
    assert DomainList(["."]).encode() == b"\x00"


def test_unknown_options_kept_in_order() -> None:
    data = header((0xFFFF, b"vendor"), (DNS_SERVERS, ip6("::1")), (39, b"\x01\x00"), (0, b""), (DNS_SERVERS, ip6("::2")))
    msg = Dhcp6Message.parse(data)
    assert msg.options == [Dhcp6Option(0xFFFF, b"vendor"), DnsServers([ip6("::1")]), Dhcp6Option(39, b"\x01\x00"),
                           Dhcp6Option(0, b""), DnsServers([ip6("::2")])]
    assert msg.option(DNS_SERVERS) == DnsServers([ip6("::1")]) and len(msg.options_of(DNS_SERVERS)) == 2
    assert msg.option(42) is None and msg.find(SntpServers) is None
    assert reply_info(msg).dns_servers == [ip6("::1")]  # the first of each kind counts
    assert wire(msg) == data


def test_refresh_time_kept_raw() -> None:
    """RFC 8415 21.23: raising a short refresh time to IRT_MINIMUM is the client's rule, not the parser's."""
    msg = Dhcp6Message.parse(bytes(DHCP6_Reply(trid=1) / DHCP6OptInfoRefreshTime(reftime=10)))
    assert reply_info(msg).refresh_time == 10 < IRT_MINIMUM
    assert reply_info(Dhcp6Message(REPLY, 1)).refresh_time is None


def test_elapsed_time_caps_at_ffff() -> None:
    assert ElapsedTime(10**6) == ElapsedTime(0xFFFF)
    assert wire(information_request(1, None, [], 10**6)) == bytes(DHCP6_InfoRequest(trid=1) / DHCP6OptOptReq(reqopts=[])
                                                                  / DHCP6OptElapsedTime(elapsedtime=0xFFFF))
    with pytest.raises(ValueError):
        ElapsedTime(-1)


def test_duids_equal_scapy() -> None:
    assert duid_ll(CLIENT_MAC) == bytes(DUID_LL(lladdr="24:0a:c4:12:34:56"))
    assert duid_llt(SERVER_MAC, 0x2D5E8B3C) == bytes(DUID_LLT(hwtype=1, timeval=0x2D5E8B3C, lladdr="52:54:00:ab:cd:ef"))
    uuid = bytes(DUID_UUID(uuid="12345678-1234-5678-1234-567812345678"))
    assert parse_duid(uuid) == (UUID, bytes.fromhex("12345678123456781234567812345678"))
    assert parse_duid(bytes(DUID_EN(enterprisenum=32473, id=b"ab"))) == (EN, 32473, b"ab")
    assert parse_duid(b"\x00\x09xyz") == (9, b"xyz")
    for bad in (b"", b"\x00", b"\x00\x01\x00\x01\x00\x00\x00", b"\x00\x02\x00\x00\x7e", b"\x00\x03\x00", uuid[:-1]):
        with pytest.raises(Malformed):
            parse_duid(bad)


def test_constants() -> None:
    assert ALL_DHCP_RELAY_AGENTS_AND_SERVERS == ip6("ff02::1:2")
    assert (CLIENT_PORT, SERVER_PORT) == (546, 547)
    assert (NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_MC_ADDR, NTP_SUBOPTION_SRV_FQDN) == (1, 2, 3)


u16 = st.integers(0, 0xFFFF)
addrs = st.lists(st.binary(min_size=16, max_size=16), max_size=4)
labels = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=50)
names = st.lists(labels, max_size=4).map(".".join)
ntp_subs = st.one_of(
    st.builds(Dhcp6Option, st.sampled_from([NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_MC_ADDR]), st.binary(min_size=16,
                                                                                                     max_size=16)),
    names.map(lambda n: Dhcp6Option(NTP_SUBOPTION_SRV_FQDN, DomainList([n]).encode())),
    st.builds(Dhcp6Option, st.integers(4, 0xFFFF), st.binary(max_size=8)))
options = st.one_of(
    st.builds(ClientId, st.binary(min_size=2, max_size=20)), st.builds(ServerId, st.binary(min_size=2, max_size=20)),
    st.builds(OptionRequest, st.lists(u16, max_size=8)), st.builds(ElapsedTime, u16),
    st.builds(StatusCode, u16, st.text(max_size=20)), st.builds(DnsServers, addrs), st.builds(SntpServers, addrs),
    st.builds(DomainList, st.lists(names, max_size=4)), st.builds(InformationRefreshTime, st.integers(0, 0xFFFFFFFF)),
    st.builds(NtpServer, st.lists(ntp_subs, max_size=3)),
    st.builds(Dhcp6Option, u16.filter(lambda c: c not in KNOWN), st.binary(max_size=40)))
msg_types = st.integers(0, 255).filter(lambda t: t not in (RELAY_FORW, RELAY_REPL))
messages = st.builds(Dhcp6Message, msg_types, st.integers(0, 0xFFFFFF), st.lists(options, max_size=8))


@settings(max_examples=examples(300), deadline=None)
@given(messages, st.integers(0, 5))
def test_emit_parse_round_trip(msg: Dhcp6Message, offset: int) -> None:
    buf = bytearray([FILL]) * (offset + msg.buffer_len + 1)
    msg.emit(buf, offset)
    assert buf[:offset] == b"\xa5" * offset and buf[-1] == FILL
    assert Dhcp6Message.parse(memoryview(buf)[offset:-1]) == msg


@settings(max_examples=examples(500), deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_only_malformed(data: bytes) -> None:
    try:
        Dhcp6Message.parse(data)
    except Malformed:
        pass


@settings(max_examples=examples(500), deadline=None)
@given(u16, st.lists(st.tuples(st.sampled_from(KNOWN + (3, 7, 0xFFFF)), st.binary(max_size=40)), max_size=6))
def test_well_framed_garbage(first: int, tlvs: list[tuple[int, bytes]]) -> None:
    """Options whose framing is right and whose contents are random: Malformed, or a message that emits the same bytes."""
    data = first.to_bytes(2, "big") + header(*tlvs)[2:]
    try:
        msg = Dhcp6Message.parse(data)
    except Malformed:
        return
    assert wire(msg) == data


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(sorted(VECTORS)), st.integers(0, 10**6), st.integers(1, 255))
def test_mutated_vectors_only_malformed(name: str, where: int, xor: int) -> None:
    data = bytearray(VECTORS[name])
    data[where % len(data)] ^= xor
    try:
        Dhcp6Message.parse(data)
    except Malformed:
        pass


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(0, 0xFFFFFF), st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=4),
       st.lists(names.filter(bool), min_size=1, max_size=3), st.integers(0, 0xFFFFFFFF))
def test_scapy_reads_what_we_emit(xid: int, dns: list[bytes], domains: list[str], refresh: int) -> None:
    msg = Dhcp6Message(REPLY, xid, [DnsServers(dns), DomainList(domains), InformationRefreshTime(refresh)])
    pkt = DHCP6_Reply(wire(msg))
    assert pkt.trid == xid
    assert [ip6(a) for a in pkt[DHCP6OptDNSServers].dnsservers] == dns
    assert [d.decode() if isinstance(d, bytes) else d for d in pkt[DHCP6OptDNSDomains].dnsdomains] == [d + "." for d in domains]
    assert pkt[DHCP6OptInfoRefreshTime].reftime == refresh
