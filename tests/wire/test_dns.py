"""DNS messages (lwipy.wire.dns) checked against dnspython, an encoder and decoder written independently of lwipy:
what dnspython writes we read field for field, what we write dnspython reads back to the same records, and our
compressed output equals dnspython's byte for byte where both compress the same way."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from lwipy.errors import Malformed
from lwipy.wire import dns as w
from lwipy.wire.dns import DnsMessage, Question, Record, Soa, Srv


def response(qname: str, qtype: str, *rrsets: tuple[str, int, str, str], rcode: int = 0, section: str = "answer",
             edns: bool = False) -> dns.message.Message:
    q = dns.message.make_query(qname, qtype, use_edns=edns)
    q.id = 0x1234
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for name, ttl, rtype, text in rrsets:
        getattr(r, section).append(dns.rrset.from_text(name, ttl, "IN", rtype, text))
    return r


def test_query_bytes_equal_dnspython_s() -> None:
    """lwIP's query: RD, one question, class IN, no EDNS: the bytes dnspython makes for the same query."""
    ours = w.query(0xBEEF, "www.lwipy.test", w.AAAA)
    theirs = dns.message.make_query("www.lwipy.test.", "AAAA", use_edns=False)
    theirs.id = 0xBEEF
    theirs.flags = dns.flags.RD
    assert ours == theirs.to_wire()


@pytest.mark.parametrize("rtype, text, expected", [
    ("A", "192.0.2.7", IPv4Address("192.0.2.7")),
    ("AAAA", "2001:db8::53", IPv6Address("2001:db8::53")),
    ("CNAME", "target.lwipy.test.", "target.lwipy.test"),
    ("PTR", "host.lwipy.test.", "host.lwipy.test"),
    ("NS", "ns1.lwipy.test.", "ns1.lwipy.test"),
    ("SRV", "10 60 5060 sip.lwipy.test.", Srv(10, 60, 5060, "sip.lwipy.test")),
    ("TXT", '"v=spf1 -all" "second"', (b"v=spf1 -all", b"second")),
    ("SOA", "ns1.lwipy.test. admin.lwipy.test. 2024010101 3600 600 86400 300",
     Soa("ns1.lwipy.test", "admin.lwipy.test", 2024010101, 3600, 600, 86400, 300)),
])
def test_records_read_from_dnspython_and_written_back(rtype: str, text: str, expected: object) -> None:
    r = response("x.lwipy.test.", rtype, ("x.lwipy.test.", 3600, rtype, text))
    data = r.to_wire()
    msg = DnsMessage.parse(data)
    assert msg.id == 0x1234 and msg.is_response and msg.rcode == 0
    assert msg.questions == [Question("x.lwipy.test", dns.rdatatype.from_text(rtype), 1)]
    assert msg.answers == [Record("x.lwipy.test", dns.rdatatype.from_text(rtype), 1, 3600, expected)]
    back = dns.message.from_wire(msg.emit())
    assert back == r
    if rtype != "SRV":  # dnspython compresses an SRV target, which RFC 2782 says not to
        assert msg.emit() == data


def test_cname_chain_and_compression_pointers() -> None:
    r = response("www.lwipy.test.", "A", ("www.lwipy.test.", 60, "CNAME", "web.lwipy.test."),
                 ("web.lwipy.test.", 60, "CNAME", "host.lwipy.test."), ("host.lwipy.test.", 30, "A", "10.0.0.80"))
    data = r.to_wire()
    assert data.count(b"\xc0") >= 3  # dnspython compressed the names
    msg = DnsMessage.parse(data)
    assert [(a.name, a.rtype, a.data) for a in msg.answers] == [
        ("www.lwipy.test", w.CNAME, "web.lwipy.test"), ("web.lwipy.test", w.CNAME, "host.lwipy.test"),
        ("host.lwipy.test", w.A, IPv4Address("10.0.0.80"))]
    assert msg.emit() == data


def test_nxdomain_with_soa_in_authority_and_edns_tolerated() -> None:
    r = response("nope.lwipy.test.", "A", ("lwipy.test.", 300, "SOA", "ns. admin. 1 2 3 4 5"),
                 rcode=dns.rcode.NXDOMAIN, section="authority", edns=True)
    msg = DnsMessage.parse(r.to_wire())
    assert msg.rcode == w.NXDOMAIN and msg.answers == []
    assert msg.authorities[0].data == Soa("ns", "admin", 1, 2, 3, 4, 5)
    opt = msg.additionals[0]
    assert opt.rtype == w.OPT and opt.name == "" and opt.rclass == r.payload
    assert dns.message.from_wire(msg.emit()) == r


def test_escaped_labels_round_trip() -> None:
    name = dns.name.Name([b"a.b", b"c\\d", b"\x00\xff sp", b"test", b""])
    r = response("q.test.", "A")
    r.answer.append(dns.rrset.from_text(name, 5, "IN", "A", "10.1.2.3"))
    msg = DnsMessage.parse(r.to_wire())
    assert msg.answers[0].name == "a\\.b.c\\\\d.\\000\\255\\032sp.test"
    assert dns.message.from_wire(msg.emit()) == r


@pytest.mark.parametrize("data", [
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x01a\xc0\x0e\x00\x01\x00\x01",  # a pointer forwards
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x01a\xc0\x0c\x00\x01\x00\x01",  # a loop back to its start
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # label type 01
    b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x05ab",  # truncated label
    b"\x12\x34\x81\x80\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x05\x01\x02\x03\x04\x05",
    b"\x12\x34",
])
def test_malformed_messages_raise_malformed(data: bytes) -> None:
    with pytest.raises(Malformed):
        DnsMessage.parse(data)
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(data)  # dnspython refuses them too


def test_name_longer_than_255_bytes_is_malformed() -> None:
    labels = b"".join(b"\x3f" + b"x" * 63 for _ in range(4))  # 256 bytes with the root
    data = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"
    with pytest.raises(Malformed):
        DnsMessage.parse(data)
    with pytest.raises(ValueError):
        w.query(1, ".".join(["x" * 63] * 4))


label = st.binary(min_size=1, max_size=20)
name_st = st.lists(label, min_size=0, max_size=5).map(lambda ls: dns.name.Name([*ls, b""]))


@st.composite
def messages(draw: st.DrawFn) -> dns.message.Message:
    r = dns.message.Message(id=draw(st.integers(0, 0xFFFF)))
    r.flags = draw(st.integers(0, 0xFFFF)) & 0x87B0  # QR, opcode 0, AA, TC, RD, RA, AD, CD
    r.set_rcode(draw(st.integers(0, 5)))
    r.question.append(dns.rrset.RRset(draw(name_st), dns.rdataclass.IN, dns.rdatatype.A))
    for section in (r.answer, r.authority, r.additional):
        for _ in range(draw(st.integers(0, 3))):
            rtype = draw(st.sampled_from(["A", "AAAA", "CNAME", "PTR", "TXT", "SRV", "SOA", "MX"]))
            text = {"A": draw(st.ip_addresses(v=4)).exploded, "AAAA": draw(st.ip_addresses(v=6)).exploded,
                    "CNAME": draw(name_st).to_text(), "PTR": draw(name_st).to_text(),
                    "TXT": '"' + draw(st.text("abc xyz", max_size=10)) + '"',
                    "SRV": f"1 2 {draw(st.integers(0, 65535))} {draw(name_st).to_text()}",
                    "SOA": f"{draw(name_st).to_text()} {draw(name_st).to_text()} 1 2 3 4 5",
                    "MX": f"10 {draw(name_st).to_text()}"}[rtype]
            rrset = dns.rrset.from_text(draw(name_st), draw(st.integers(0, 2**31 - 1)), "IN", rtype, text)
            if not any(x.name == rrset.name and x.rdtype == rrset.rdtype for x in section):
                section.append(rrset)
    return r


@settings(max_examples=examples(300), deadline=None)
@given(messages())
def test_dnspython_messages_round_trip(m: dns.message.Message) -> None:
    """Whatever dnspython writes, we read, write back, and dnspython reads the same message again."""
    msg = DnsMessage.parse(m.to_wire())
    assert msg.id == m.id and msg.flags == m.flags
    assert len(msg.answers) == sum(len(x) for x in m.answer)
    again = DnsMessage.parse(msg.emit())
    assert again == msg
    assert dns.message.from_wire(msg.emit()) == m


@pytest.mark.slow
@settings(max_examples=examples(2000), deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        msg = DnsMessage.parse(data)
    except Malformed:
        return
    assert DnsMessage.parse(msg.emit()) == msg  # whatever parsed writes back to the same message


@settings(max_examples=examples(1000), deadline=None)
@given(st.binary(min_size=12, max_size=120), st.integers(0, 119), st.integers(0, 255))
def test_mutated_responses_only_raise_malformed(tail: bytes, where: int, value: int) -> None:
    base = bytearray(response("www.lwipy.test.", "A", ("www.lwipy.test.", 60, "CNAME", "h.lwipy.test."),
                              ("h.lwipy.test.", 60, "A", "10.0.0.1")).to_wire())
    base[where % len(base)] = value
    for data in (bytes(base), bytes(base[:where % len(base)]) + tail):
        try:
            DnsMessage.parse(data)
        except Malformed:
            pass


def test_scapy_reads_ours_and_we_read_scapys() -> None:
    """scapy's DNS layer, a third independent encoder: its response read field for field, ours read back by it."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    theirs = DNS(id=0x4242, qr=1, aa=1, rd=1, ra=1, rcode=0, qd=DNSQR(qname="www.lwipy.test", qtype="A"),
                 an=[DNSRR(rrname="www.lwipy.test", type="CNAME", ttl=60, rdata="host.lwipy.test"),
                     DNSRR(rrname="host.lwipy.test", type="A", ttl=30, rdata="10.0.0.80")])
    msg = DnsMessage.parse(bytes(theirs))
    assert (msg.id, msg.is_response, msg.rcode) == (0x4242, True, 0)
    assert msg.answers == [Record("www.lwipy.test", w.CNAME, 1, 60, "host.lwipy.test"),
                           Record("host.lwipy.test", w.A, 1, 30, IPv4Address("10.0.0.80"))]
    back = DNS(msg.emit())
    assert back.id == 0x4242 and back.qd[0].qname == b"www.lwipy.test."
    assert [(rr.rrname, rr.type, rr.ttl, rr.rdata) for rr in back.an] == [
        (b"www.lwipy.test.", 5, 60, b"host.lwipy.test."), (b"host.lwipy.test.", 1, 30, "10.0.0.80")]
    q = DNS(w.query(7, "printer.local", w.AAAA, recursion_desired=False))
    assert (q.id, q.qr, q.rd, q.qd[0].qname, q.qd[0].qtype) == (7, 0, 0, b"printer.local.", 28)
