"""mDNS service subtypes (RFC 6763 7.1, ESP-IDF's ``mdns_service_subtype_add_for_host``) in virtual time: browsing
``_printer._sub._http._tcp`` finds the instance with its SRV, TXT and address; the subtype is announced when added,
never listed under ``_services._dns-sd._udp``, and said goodbye to when removed."""

from __future__ import annotations

import dns.rdatatype
import pytest
from test_mdns import Peer, query, rrs, running, setup

from lwipy.apps.mdns import SERVICE_TTL, MdnsResponder
from lwipy.errors import LwipError
from lwipy.wire import dns as w

INST = "esp32\\032printer._http._tcp.local"


def test_subtype_browse_answers_the_instance_with_its_additionals():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32", "ESP32 Printer")
    svc = m.service_add(None, "_http", "_tcp", 80, {"q": "1"})
    m.service_subtype_add("_http", "_tcp", "_printer")
    running(sim, m, svc)
    peer = Peer(b)
    peer.ask(query("_printer._sub._http._tcp.local", "PTR"))
    sim.run(0.2)
    (dg, msg), = peer.take()
    assert str(dg.dst) == "224.0.0.251"
    assert rrs(msg) == {("_printer._sub._http._tcp.local", dns.rdatatype.PTR, "ESP32\\032Printer._http._tcp.local.")}
    extra = rrs(msg, "additional")
    assert (INST, dns.rdatatype.SRV, "0 0 80 esp32.local.") in extra
    assert (INST, dns.rdatatype.TXT, '"q=1"') in extra
    assert ("esp32.local", dns.rdatatype.A, "10.0.0.1") in extra
    # a subtype nobody registered stays unanswered; the enumeration lists the service type only (RFC 6763 7.1)
    peer.ask(query("_scanner._sub._http._tcp.local", "PTR"))
    peer.ask(query("_services._dns-sd._udp.local", "PTR"))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("_services._dns-sd._udp.local", dns.rdatatype.PTR, "_http._tcp.local.")}
    # the subtype PTR is a shared record: the answer waits 20-120 ms (RFC 6762 6)
    sim.run(1.1)
    t0 = sim.now
    peer.ask(query("_printer._sub._http._tcp.local", "PTR"))
    sim.run(0.2)
    sent = [p for p in wire.responses("10.0.0.1") if p[0] >= t0]
    assert len(sent) == 1 and 0.02 <= sent[0][0] - t0 <= 0.121


def test_subtype_added_later_is_announced_and_removed_with_a_goodbye():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    svc = m.service_add("Printer", "_ipp", "_tcp", 631)
    running(sim, m, svc)
    sub = "_color._sub._ipp._tcp.local"
    before = len(wire.packets)
    m.service_subtype_add("_ipp", "_tcp", "_color")
    sim.run(4)
    ann = [p for p in wire.packets[before:] if p[1] == "10.0.0.1" and p[6].is_response]
    assert len(ann) == 3  # announced again, three times (RFC 6762 8.3)
    for p in ann:
        assert any(r.rtype == w.PTR and w.names_equal(r.name, sub) and r.ttl == SERVICE_TTL for r in p[6].answers)
    with pytest.raises(LwipError):
        m.service_subtype_add("_ipp", "_tcp", "_color")  # already there
    with pytest.raises(LwipError):
        m.service_subtype_add("_ipp", "_tcp", "color")  # no underscore
    with pytest.raises(LwipError):
        m.service_subtype_add("_http", "_tcp", "_color")  # no such service
    before = len(wire.packets)
    m.service_subtype_remove("_ipp", "_tcp", "_color")
    sim.run(0.1)
    bye = [p for p in wire.packets[before:] if p[1] == "10.0.0.1" and p[6].is_response]
    assert len(bye) == 1
    assert [(r.name.lower(), r.rtype, r.ttl) for r in bye[0][6].answers] == [(sub, w.PTR, 0)]
    peer = Peer(b)
    peer.ask(query(sub, "PTR"))
    peer.ask(query("_ipp._tcp.local", "PTR"))
    sim.run(0.2)
    (_, msg), = peer.take()  # only the service type's browse is answered
    assert {n for n, _, _ in rrs(msg)} == {"_ipp._tcp.local"}
    with pytest.raises(LwipError):
        m.service_subtype_remove("_ipp", "_tcp", "_color")


def test_subtypes_said_goodbye_to_on_stop_and_browsed_by_the_querier():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32", "Dev")
    svc = m.service_add(None, "_http", "_tcp", 80)
    m.service_subtype_add("_http", "_tcp", "_printer")
    running(sim, m, svc)
    mb = MdnsResponder(b, "other")
    running(sim, mb)
    found = []
    mb.query_ptr("_http", "_tcp", timeout=2, on_done=found.append, subtype="_printer")
    sim.run(2.1)
    (res,), = found
    assert (res.service_type, res.proto) == ("_http", "_tcp")
    assert (res.instance_name, res.port, res.hostname, [str(x) for x in res.addr]) == ("Dev", 80, "esp32", ["10.0.0.1"])
    before = len(wire.packets)
    m.stop()
    sim.run(0.1)
    bye = [r for p in wire.packets[before:] if p[1] == "10.0.0.1" for r in p[6].answers]
    assert any(w.names_equal(r.name, "_printer._sub._http._tcp.local") and r.ttl == 0 for r in bye)
