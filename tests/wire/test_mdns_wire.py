"""The mDNS parts of wire/dns.py against dnspython and scapy, both ways: NSEC, the cache-flush and QU bits, SRV/TXT/PTR
records with escaped instance names, and a whole announcement of the responder."""

from __future__ import annotations

from ipaddress import IPv4Address

import dns.message
import dns.rdata
import dns.rdataclass
import dns.rrset
import pytest
from hypothesis import given, strategies as st
from scapy.layers.dns import DNS, DNSRRNSEC

from lwipy.errors import Malformed
from lwipy.wire import dns as w


def test_nsec_written_as_dnspython_reads_it():
    m = w.DnsMessage(0, w.QR | w.AA, [], [w.Record("esp32.local", w.NSEC, w.CLASS_IN | w.CACHE_FLUSH, 120,
                                                    w.Nsec("esp32.local", (w.A, w.AAAA, 300)))])
    d = dns.message.from_wire(m.emit())
    (rrset,) = d.answer
    assert rrset.rdclass == 0x8001 and rrset.ttl == 120
    rd = dns.rdata.from_text(dns.rdataclass.IN, rrset.rdtype, rrset[0].to_text())
    assert rd.to_text() == "esp32.local. A AAAA TYPE300"


def test_nsec_from_dnspython_and_scapy_read():
    rr = dns.rrset.from_text("h.local.", 120, "IN", "NSEC", "h.local. A TXT AAAA SRV NSEC TYPE1234")
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR
    msg.answer.append(rr)
    (r,) = w.DnsMessage.parse(msg.to_wire()).answers
    assert r.data == w.Nsec("h.local", (w.A, w.TXT, w.AAAA, w.SRV, w.NSEC, 1234))
    scapy = DNS(qr=1, an=DNSRRNSEC(rrname="h.local", ttl=120, nextname="h.local", typebitmaps=[1, 28]))
    (r,) = w.DnsMessage.parse(bytes(scapy)).answers
    assert r.data == w.Nsec("h.local", (w.A, w.AAAA))
    # and scapy reads ours
    back = DNS(w.DnsMessage(0, w.QR, [], [r]).emit())
    assert back.an[0].typebitmaps == b"\x00\x04\x40\x00\x00\x08" and back.an[0].nextname == b"h.local."


def test_cache_flush_and_qu_bits_kept_through_parse():
    q = dns.message.make_query("esp32.local", "ANY")
    q.question[0].rdclass = dns.rdataclass.RdataClass(0x8001)
    msg = w.DnsMessage.parse(q.to_wire())
    assert msg.questions[0].qclass == w.CLASS_IN | w.UNICAST_RESPONSE
    out = w.DnsMessage(0, w.QR, [], [w.Record("x.local", w.A, w.CLASS_IN | w.CACHE_FLUSH, 120,
                                              IPv4Address("10.0.0.1"))]).emit()
    assert dns.message.from_wire(out).answer[0].rdclass == 0x8001


def test_instance_names_with_spaces_and_dots_compare_as_read():
    name = w.join_labels([b"My Dev.ice", b"_http", b"_tcp", b"local"])
    m = w.DnsMessage(0, w.QR, [], [w.Record("_http._tcp.local", w.PTR, w.CLASS_IN, 4500, name)])
    d = dns.message.from_wire(m.emit())
    assert d.answer[0][0].target.labels[0] == b"My Dev.ice"
    assert w.DnsMessage.parse(m.emit()).answers[0].data == name
    assert w.rdata_bytes(m.answers[0]) == b"\x0aMy Dev.ice\x05_http\x04_tcp\x05local\x00"


def test_empty_txt_and_srv_written_as_dnspython_reads_them():
    m = w.DnsMessage(0, w.QR, [], [w.Record("a._x._tcp.local", w.TXT, w.CLASS_IN, 4500, (b"",)),
                                   w.Record("a._x._tcp.local", w.SRV, w.CLASS_IN, 120, w.Srv(0, 0, 80, "h.local"))])
    d = dns.message.from_wire(m.emit())
    assert [r[0].to_text() for r in d.answer] == ['""', "0 0 80 h.local."]


@pytest.mark.parametrize("data", [
    bytes.fromhex("0000840000000001000000000568000001002f0001000000780003"),  # NSEC rdata cut short
    bytes.fromhex("0000840000000001000000000000002f000100000078000400000300"),  # NSEC window of 0 bytes
])
def test_bad_nsec_is_malformed(data):
    with pytest.raises(Malformed):
        w.DnsMessage.parse(data)


@given(st.binary(max_size=40))
def test_arbitrary_nsec_rdata_only_raises_malformed(rdata):
    msg = bytes.fromhex("000084000000000100000000") + b"\x00" + bytes.fromhex("002f000100000078") + \
        len(rdata).to_bytes(2, "big") + rdata
    try:
        w.DnsMessage.parse(msg)
    except Malformed:
        pass


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=20))
def test_nsec_type_bitmaps_round_trip_through_dnspython(types):
    r = w.Record("n.local", w.NSEC, w.CLASS_IN, 1, w.Nsec("n.local", tuple(types)))
    wire = w.DnsMessage(0, w.QR, [], [r]).emit()
    assert w.DnsMessage.parse(wire).answers[0].data.types == tuple(sorted(set(types)))
    d = dns.message.from_wire(wire)
    assert sorted(set(types)) == sorted(t for window in d.answer[0][0].windows
                                        for t in _window_types(window))


def _window_types(window):
    base, bits = window
    return [base * 256 + i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte & (0x80 >> b)]
