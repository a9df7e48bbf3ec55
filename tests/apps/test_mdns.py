"""The mDNS responder in virtual time: probing timing, announcing, answers (A, AAAA, PTR, SRV, TXT, ANY, reverse,
NSEC), QU and legacy unicast replies, known-answer suppression, conflicts and renaming, the tie-break, goodbyes, and two
stacks finding each other by name through the resolver.  Every packet on the hub is read with scapy and dnspython."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address

import dns.flags
import dns.message
import dns.rdata
import dns.rrset
import dns.rdataclass
import dns.rdatatype
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.apps.mdns import HOST_TTL, SERVICE_TTL, MdnsResponder, mangle_name
from lwipy.core import dns as d
from lwipy.errors import LwipError
from lwipy.sim import Simulation
from lwipy.wire import dns as w


class Wire:
    """Every mDNS/DNS datagram on a hub: (time, src, dst, sport, dport, dnspython message, lwipy message)."""

    def __init__(self, sim: Simulation, hub) -> None:
        self.sim = sim
        self.packets: list[tuple] = []
        hub.taps.append(self._tap)

    def _tap(self, port, frame: bytes) -> None:
        eth = Ether(frame)
        ip = eth.getlayer(IP) or eth.getlayer(IPv6)
        udp = eth.getlayer(UDP)
        if ip is None or udp is None or 5353 not in (udp.sport, udp.dport):
            return
        payload = bytes(udp.payload)
        self.packets.append((self.sim.now, ip.src, ip.dst, udp.sport, udp.dport, dns.message.from_wire(payload),
                             w.DnsMessage.parse(payload), ip))

    def probes(self, src: str | None = None):
        return [p for p in self.packets if not p[6].is_response and p[6].authorities and (src is None or p[1] == src)]

    def responses(self, src: str | None = None):
        return [p for p in self.packets if p[6].is_response and (src is None or p[1] == src)]


def setup(seed=1, config=None, ipv6=False, **kw):
    sim = Simulation(seed=seed)
    hub = sim.hub()
    extra = dict(ip6_linklocal=True) if ipv6 else {}
    a = sim.add_stack("a", hub, config, ip="10.0.0.1/24", **extra)
    b = sim.add_stack("b", hub, config, ip="10.0.0.2/24", **extra)
    return sim, hub, a, b, Wire(sim, hub)


class Peer:
    """A plain mDNS endpoint on stack ``b``: port 5353, the groups joined, sends dnspython-made queries."""

    def __init__(self, stack, port=5353) -> None:
        self.pcb = stack.udp.new(ip6=True)
        self.pcb.bind(None, port)
        if port == 5353:
            self.pcb.join_group("224.0.0.251", stack.netifs[-1])
            if stack.netifs[-1].ip6_addrs:
                self.pcb.join_group("ff02::fb", stack.netifs[-1])
        self.pcb.multicast_ttl = 255
        self.pcb.multicast_loop = False

    def ask(self, q: dns.message.Message, dst="224.0.0.251", port=5353):
        self.pcb.sendto(q.to_wire(), dst, port)

    def take(self):
        out = []
        while (dg := self.pcb.recv()) is not None:
            out.append((dg, dns.message.from_wire(dg.data)))
        return out


def query(name, rdtype, unicast=False, known=()):
    q = dns.message.make_query(name, rdtype)
    q.id = 0
    q.flags = 0
    if unicast:
        q.question[0].rdclass = dns.rdataclass.RdataClass(1 | 0x8000)  # the QU bit
    for rrset in known:
        q.answer.append(rrset)
    return q


def rrs(msg: dns.message.Message, section="answer"):
    """(name, type, data) of a section; data read as class IN whatever the cache-flush bit made of the class."""
    return {(r.name.to_text(omit_final_dot=True).lower(), r.rdtype,
             dns.rdata.from_text(dns.rdataclass.IN, r.rdtype, rd.to_text()).to_text())
            for r in getattr(msg, section) for rd in r}


def running(sim, m, service=None, timeout=10):
    assert sim.run_until(lambda: m.state_of(service) == "running", timeout)
    sim.run(1.01)  # past the one-second floor between multicasts of a record (RFC 6762 6)


def test_mangle_name_as_esp_idf():
    assert [mangle_name("esp32"), mangle_name("esp32-2"), mangle_name("esp32-9"), mangle_name("a-b")] == [
        "esp32-2", "esp32-3", "esp32-10", "a-b-2"]


def test_probes_three_250ms_apart_first_qu_then_three_announcements():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    running(sim, m)
    probes = wire.probes("10.0.0.1")
    assert len(probes) == 3
    t = [p[0] for p in probes]
    assert 0 <= t[0] <= 0.25 and t[1] - t[0] == pytest.approx(0.25) and t[2] - t[1] == pytest.approx(0.25)
    for i, p in enumerate(probes):
        msg = p[6]
        assert p[2] == "224.0.0.251" and p[3] == p[4] == 5353 and p[7].ttl == 255
        assert [(q.name, q.qtype) for q in msg.questions] == [("esp32.local", w.ANY)]
        assert bool(msg.questions[0].qclass & w.UNICAST_RESPONSE) == (i == 0)  # QU on the first probe only
        assert [(r.name, r.rtype, r.data) for r in msg.authorities] == [("esp32.local", w.A, IPv4Address("10.0.0.1"))]
    announces = wire.responses("10.0.0.1")
    assert len(announces) == 3
    ta = [p[0] for p in announces]
    assert ta[0] == pytest.approx(t[2] + 0.25) and ta[1] - ta[0] == pytest.approx(1) and ta[2] - ta[1] == pytest.approx(2)
    for p in announces:
        (r,) = p[6].answers
        assert (r.name, r.rtype, r.rclass, r.ttl, r.data) == ("esp32.local", w.A, w.CLASS_IN | w.CACHE_FLUSH,
                                                              HOST_TTL, IPv4Address("10.0.0.1"))
        assert p[5].flags & dns.flags.QR and p[5].flags & dns.flags.AA
    sim.run(30)
    assert len(wire.packets) == 6  # nothing more unasked


def test_two_stacks_find_each_other_by_name_through_the_resolver():
    sim, hub, a, b, wire = setup(ipv6=True)
    ma, mb = MdnsResponder(a, "alpha"), MdnsResponder(b, "beta")
    running(sim, ma)
    running(sim, mb)
    got = []
    a.dns.gethostbyname("beta.local", lambda ans, err: got.append(("a", ans, err)))
    b.dns.gethostbyname("ALPHA.local", lambda ans, err: got.append(("b", ans, err)))
    b.dns.gethostbyname("alpha.local", lambda ans, err: got.append(("b6", ans, err)), d.LWIP_DNS_ADDRTYPE_IPV6)
    assert sim.run_until(lambda: len(got) == 3, 5)
    by = {k: (ans, err) for k, ans, err in got}
    assert by["a"][1] is None and by["a"][0].address == IPv4Address("10.0.0.2") and by["a"][0].source == "mdns"
    assert by["b"][0].address == IPv4Address("10.0.0.1")
    assert by["b6"][0].address == IPv6Address(a.netifs[-1].ip6_addrs[0].address)
    # the replies were legacy unicast (RFC 6762 6.7): from 5353 to the resolver's port, id and question echoed, TTL 10
    legacy = [p for p in wire.responses() if p[4] != 5353]
    assert legacy and all(len(p[6].questions) == 1 and all(r.ttl <= 10 and not r.rclass & w.CACHE_FLUSH
                                                            for r in p[6].answers) for p in legacy)


def test_service_browse_ptr_srv_txt_and_services_enumeration():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32", "ESP32 Web Server")
    svc = m.service_add(None, "_http", "_tcp", 80, {"board": "esp32", "u": None})
    running(sim, m, svc)
    peer = Peer(b)
    peer.ask(query("_http._tcp.local", "PTR"))
    sim.run(0.2)
    (dg, msg), = peer.take()
    assert str(dg.dst) == "224.0.0.251" and dg.src_port == 5353
    inst = "esp32\\032web\\032server._http._tcp.local"
    assert rrs(msg) == {("_http._tcp.local", dns.rdatatype.PTR, "ESP32\\032Web\\032Server._http._tcp.local.")}
    extra = rrs(msg, "additional")
    assert (inst, dns.rdatatype.SRV, "0 0 80 esp32.local.") in extra
    assert (inst, dns.rdatatype.TXT, '"board=esp32" "u"') in extra
    assert ("esp32.local", dns.rdatatype.A, "10.0.0.1") in extra
    peer.ask(query("_services._dns-sd._udp.local", "PTR"))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("_services._dns-sd._udp.local", dns.rdatatype.PTR, "_http._tcp.local.")}
    # SRV and TXT asked directly, TXT changed and announced again
    before = len(wire.packets)
    m.service_txt_item_set("_http", "_tcp", "path", "/index")
    sim.run(0.1)
    txt = [r for p in wire.packets[before:] if p[1] == "10.0.0.1" for r in p[6].answers if r.rtype == w.TXT]
    assert txt and b"path=/index" in txt[0].data
    sim.run(4)
    assert len(peer.take()) == 3  # the new TXT's three announcements reached the peer
    peer.ask(query("ESP32 Web Server._http._tcp.local".replace(" ", "\\032"), "ANY"))
    sim.run(0.2)
    (_, msg), = peer.take()
    kinds = {t for _, t, _ in rrs(msg)}
    assert kinds == {dns.rdatatype.SRV, dns.rdatatype.TXT}


def test_qu_question_answered_by_unicast_and_a_qm_one_by_multicast():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    running(sim, m)
    peer = Peer(b)
    peer.ask(query("esp32.local", "A", unicast=True))
    sim.run(0.2)
    (dg, msg), = peer.take()
    assert str(dg.dst) == "10.0.0.2" and dg.src_port == 5353
    assert rrs(msg) == {("esp32.local", dns.rdatatype.A, "10.0.0.1")}
    sim.run(2)
    peer.ask(query("esp32.local", "A"))
    sim.run(0.2)
    (dg, msg), = peer.take()
    assert str(dg.dst) == "224.0.0.251"


def test_known_answer_suppression_and_half_ttl_rule():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80)
    m.service_add("dev", "_ipp", "_tcp", 631)
    sim.run(10)
    peer = Peer(b)
    ptr = dns.rrset.from_text("_services._dns-sd._udp.local.", SERVICE_TTL, "IN", "PTR", "_http._tcp.local.")
    peer.ask(query("_services._dns-sd._udp.local", "PTR", known=[ptr]))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("_services._dns-sd._udp.local", dns.rdatatype.PTR, "_ipp._tcp.local.")}
    assert m.counters["suppressed"] == 1
    sim.run(2)
    stale = dns.rrset.from_text("_services._dns-sd._udp.local.", SERVICE_TTL // 2 - 1, "IN", "PTR", "_http._tcp.local.")
    peer.ask(query("_services._dns-sd._udp.local", "PTR", known=[stale]))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert len(rrs(msg)) == 2  # a known answer below half our TTL is answered again


def test_missing_type_answered_with_nsec_and_reverse_ptr():
    sim, hub, a, b, wire = setup(config=Config(mdns_respond_reverse_queries=True))
    m = MdnsResponder(a, "esp32")
    running(sim, m)
    peer = Peer(b)
    peer.ask(query("esp32.local", "AAAA"))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("esp32.local", dns.rdatatype.NSEC, "esp32.local. A")}
    sim.run(2)
    peer.ask(query("1.0.0.10.in-addr.arpa", "PTR"))
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("1.0.0.10.in-addr.arpa", dns.rdatatype.PTR, "esp32.local.")}
    peer.ask(query("other.local", "A"))
    sim.run(1)
    assert peer.take() == []


def test_conflict_with_an_established_host_renames_and_the_owner_keeps_its_name():
    sim, hub, a, b, wire = setup(ipv6=True)
    owner = MdnsResponder(a, "esp32")
    running(sim, owner)
    renamed = []
    late = MdnsResponder(b, "esp32", on_renamed=lambda old, new: renamed.append((old, new)))
    running(sim, late)
    assert (owner.hostname, late.hostname, renamed) == ("esp32", "esp32-2", [("esp32", "esp32-2")])
    assert late.counters["conflicts"] == 1
    names = {p[6].authorities[0].name for p in wire.probes("10.0.0.2")}
    assert names == {"esp32.local", "esp32-2.local"}


def test_simultaneous_probes_tie_break_lexicographically():
    sim, hub, a, b, wire = setup(seed=5)
    ma, mb = MdnsResponder(a, "dup"), MdnsResponder(b, "dup")
    running(sim, ma)
    running(sim, mb)
    # 10.0.0.2 > 10.0.0.1 byte for byte: b's records win (RFC 6762 8.2), a defers, then finds b's and renames
    assert (ma.hostname, mb.hostname) == ("dup-2", "dup")


def test_conflict_after_announcing_reprobes_and_renames():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    running(sim, m)
    peer = Peer(b)
    r = dns.message.make_response(dns.message.make_query("esp32.local", "A"))
    r.question = []
    r.id = 0
    r.flags = dns.flags.QR | dns.flags.AA
    r.answer.append(dns.rrset.from_text("esp32.local.", 120, "IN", "A", "10.0.0.2"))
    peer.ask(r)
    sim.run(0.01)
    assert m.state_of() == "probing"

    def defend(pcb, dg):  # the other host keeps answering probes for the name
        if not dns.message.from_wire(dg.data).flags & dns.flags.QR:
            pcb.sendto(r.to_wire(), "224.0.0.251", 5353)
    peer.pcb.on_recv = defend
    running(sim, m)
    assert m.hostname == "esp32-2"


def test_goodbye_on_stop_and_on_service_remove():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80)
    m.service_add("dev", "_ftp", "_tcp", 21)
    sim.run(10)
    before = len(wire.packets)
    m.service_remove("_ftp", "_tcp")
    sim.run(0.01)
    (bye,) = [p[6] for p in wire.packets[before:]]
    assert {(r.name, r.rtype, r.ttl) for r in bye.answers} == {
        ("dev._ftp._tcp.local", w.SRV, 0), ("dev._ftp._tcp.local", w.TXT, 0), ("_ftp._tcp.local", w.PTR, 0),
        ("_services._dns-sd._udp.local", w.PTR, 0)}
    before = len(wire.packets)
    m.stop()
    sim.run(1)
    (bye,) = [p[6] for p in wire.packets[before:]]
    assert bye.is_response and all(r.ttl == 0 for r in bye.answers)
    assert {(r.name, r.rtype) for r in bye.answers} >= {("esp32.local", w.A), ("dev._http._tcp.local", w.SRV)}
    assert "mdns" not in a.apps and m.pcb.closed and not a.udp.by_port.get(5353)
    assert not a.igmp.is_member(a.netifs[-1], IPv4Address("224.0.0.251"))


def test_ipv6_probing_and_answers_over_ff02_fb():
    sim, hub, a, b, wire = setup(ipv6=True)
    m = MdnsResponder(a, "esp32")
    running(sim, m)
    six = [p for p in wire.packets if p[2] == "ff02::fb"]
    assert len([p for p in six if p[6].authorities]) == 3 and all(p[7].hlim == 255 for p in six)
    addr6 = a.netifs[-1].ip6_addrs[0].address
    peer = Peer(b)
    peer.ask(query("esp32.local", "AAAA"), "ff02::fb")
    sim.run(0.2)
    (dg, msg), = peer.take()
    assert str(dg.dst) == "ff02::fb" and rrs(msg) == {("esp32.local", dns.rdatatype.AAAA, str(addr6))}


def test_api_errors_and_limits():
    sim, hub, a, b, wire = setup(config=Config(mdns_max_services=1))
    m = MdnsResponder(a, "esp32")
    with pytest.raises(ValueError):
        MdnsResponder(a, "again")
    with pytest.raises(LwipError):
        m.service_add(None, "http", "_tcp", 80)
    with pytest.raises(LwipError):
        m.service_add(None, "_http", "_sctp", 80)
    m.service_add(None, "_http", "_tcp", 80)
    with pytest.raises(LwipError):
        m.service_add(None, "_http", "_tcp", 81)
    with pytest.raises(LwipError):
        m.service_add(None, "_ftp", "_tcp", 21)
    with pytest.raises(LwipError):
        m.service_remove("_ftp", "_tcp")
    with pytest.raises(LwipError):
        m.hostname_set("x" * 64)


def test_values_that_cannot_be_sent_are_refused_at_the_call_and_the_responder_keeps_answering():
    """Each of these used to be accepted and then raise in every poll of the stack, killing its loop."""
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80, {"path": "/"})
    refused = [
        lambda: m.service_port_set("_http", "_tcp", 70000),
        lambda: m.service_port_set("_http", "_tcp", -1),
        lambda: m.service_add(None, "_ipp", "_tcp", 631, {"k": "v" * 300}),
        lambda: m.service_txt_set("_http", "_tcp", {"k": "v" * 254}),
        lambda: m.service_txt_item_set("_http", "_tcp", "big", b"x" * 256),
        lambda: m.service_txt_item_set("_http", "_tcp", "a=b", "c"),
        lambda: m.service_txt_item_set("_http", "_tcp", "", "c"),
        lambda: m.service_add(None, "_" + "x" * 70, "_tcp", 1),
    ]
    for call in refused:
        with pytest.raises(LwipError) as e:
            call()
        assert e.value.errno == errno.EINVAL
    m.service_txt_item_set("_http", "_tcp", "fits", "v" * 250)  # 4 + 1 + 250 = 255 bytes: the largest item
    running(sim, m)
    got = []
    b.dns.gethostbyname("esp32.local", lambda ans, err: got.append(ans))
    assert sim.run_until(lambda: got, 5) and got[0].address == IPv4Address("10.0.0.1")
    txt = [r.data for p in wire.responses("10.0.0.1") for r in p[6].answers if r.rtype == w.TXT and r.ttl]
    assert set(txt[-1]) == {b"path=/", b"fits=" + b"v" * 250}
    srv = [r.data for p in wire.responses("10.0.0.1") for r in p[6].answers if r.rtype == w.SRV and r.ttl]
    assert srv[-1].port == 80


def test_hostname_set_probes_the_new_name_and_services_follow():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    svc = m.service_add("dev", "_http", "_tcp", 80)
    sim.run(10)
    m.hostname_set("newname")
    running(sim, m)
    got = []
    b.dns.gethostbyname("newname.local", lambda ans, err: got.append(ans))
    assert sim.run_until(lambda: got, 5) and got[0].address == IPv4Address("10.0.0.1")
    srv = [r for p in wire.responses("10.0.0.1") for r in p[6].answers if r.rtype == w.SRV and r.ttl]
    assert srv[-1].data.target == "newname.local"
    assert m.state_of(svc) == "running"


def test_address_arriving_later_is_probed_and_announced_as_after_a_dhcp_lease():
    sim = Simulation(seed=4)
    hub = sim.hub()
    a = sim.add_stack("a", hub)  # no address yet
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    wire = Wire(sim, hub)
    m = MdnsResponder(a, "late")
    sim.run(5)
    assert wire.packets == []  # nothing to say without an address
    a.netifs[-1].set_ipv4("10.0.0.7/24")
    running(sim, m)
    assert len(wire.probes("10.0.0.7")) == 3 and len(wire.responses("10.0.0.7")) == 3
    got = []
    b.dns.gethostbyname("late.local", lambda ans, err: got.append(ans))
    assert sim.run_until(lambda: got, 5) and got[0].address == IPv4Address("10.0.0.7")


def test_service_instance_conflict_renames_the_instance_only():
    sim, hub, a, b, wire = setup()
    ma = MdnsResponder(a, "host-a")
    sa = ma.service_add("Printer", "_ipp", "_tcp", 631)
    running(sim, ma, sa)
    mb = MdnsResponder(b, "host-b")
    sb = mb.service_add("Printer", "_ipp", "_tcp", 631)
    running(sim, mb, sb)
    assert (mb.hostname, mb.instance_of(sb), ma.instance_of(sa)) == ("host-b", "Printer-2", "Printer")
    peer = Peer(sim.add_stack("c", hub, ip="10.0.0.3/24"))
    peer.ask(query("_ipp._tcp.local", "PTR"))
    sim.run(0.3)
    answers = {rd for _, msg in peer.take() for _, t, rd in rrs(msg) if t == dns.rdatatype.PTR}
    assert answers == {"Printer._ipp._tcp.local.", "Printer-2._ipp._tcp.local."}


def test_scapy_reads_the_announcement_and_a_scapy_qu_query_is_answered():
    from scapy.layers.dns import DNS, DNSQR

    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    svc = m.service_add("web", "_http", "_tcp", 80, {"a": "1"})
    running(sim, m, svc)
    ann = next(p for p in wire.responses("10.0.0.1") if any(r.rtype == w.SRV for r in p[6].answers))
    d = DNS(bytes(ann[7][UDP].payload))
    recs = {(rr.rrname, rr.type, rr.cacheflush): rr for rr in d.an}
    srv = recs[(b"web._http._tcp.local.", 33, 1)]
    assert (srv.port, srv.target, srv.ttl) == (80, b"esp32.local.", HOST_TTL)
    assert recs[(b"web._http._tcp.local.", 16, 1)].rdata == [b"a=1"]
    assert recs[(b"_http._tcp.local.", 12, 0)].rdata == b"web._http._tcp.local."  # shared: no cache-flush bit
    assert d.qr == 1 and d.aa == 1
    peer = Peer(b)
    peer.pcb.sendto(bytes(DNS(qr=0, qd=DNSQR(qname="esp32.local", qtype="A", unicastresponse=1))), "224.0.0.251", 5353)
    sim.run(0.2)
    ((dg, msg),) = peer.take()
    r = DNS(dg.data)
    assert str(dg.dst) == "10.0.0.2" and r.an[0].rdata == "10.0.0.1" and r.an[0].cacheflush == 1


def test_truncated_query_waits_for_the_rest_of_its_known_answers():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80)
    m.service_add("dev", "_ipp", "_tcp", 631)
    sim.run(10)
    peer = Peer(b)
    http = dns.rrset.from_text("_services._dns-sd._udp.local.", SERVICE_TTL, "IN", "PTR", "_http._tcp.local.")
    ipp = dns.rrset.from_text("_services._dns-sd._udp.local.", SERVICE_TTL, "IN", "PTR", "_ipp._tcp.local.")
    q = query("_services._dns-sd._udp.local", "PTR", known=[http])
    q.flags |= dns.flags.TC
    rest = dns.message.Message(id=0)
    rest.flags = 0
    rest.answer.append(ipp)
    peer.ask(q)
    sim.run(0.3)
    assert peer.take() == []  # held, not answered at once
    peer.ask(rest)
    sim.run(1)
    assert peer.take() == [] and m.counters["suppressed"] == 2  # both known: nothing to say
    peer.ask(q)  # a truncated query whose rest never comes is answered after 400-500 ms
    sim.run(0.39)
    assert peer.take() == []
    sim.run(0.2)
    (_, msg), = peer.take()
    assert rrs(msg) == {("_services._dns-sd._udp.local", dns.rdatatype.PTR, "_ipp._tcp.local.")}


def test_the_stacks_own_resolver_finds_its_own_name():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "myself")
    running(sim, m)
    got = []
    a.dns.gethostbyname("myself.local", lambda ans, err: got.append((ans, err)))
    assert sim.run_until(lambda: got, 5)
    assert got[0][1] is None and got[0][0].address == IPv4Address("10.0.0.1")


def test_querier_browses_resolves_and_times_out_as_mdns_query_does():
    sim, hub, a, b, wire = setup()
    ma = MdnsResponder(a, "esp32-a")
    ma.service_add("Kitchen Light", "_hap", "_tcp", 8080, {"c#": "2", "flag": None})
    mb = MdnsResponder(b, "esp32-b")
    mb.service_add("Hall Light", "_hap", "_tcp", 8081)
    sim.run(8)
    c = sim.add_stack("c", hub, ip="10.0.0.3/24")
    mc = MdnsResponder(c, "browser")
    done = []
    search = mc.query_ptr("_hap", "_tcp", timeout=3.5, on_done=done.append)
    sim.run(3.4)
    assert not search.finished  # two results, but a browse runs to its timeout for more (max_results 20)
    sim.run(0.2)
    assert search.finished and done == [search.results]
    got = {r.instance_name: (r.hostname, r.port, r.txt, r.addr) for r in search.results}
    assert got == {"Kitchen Light": ("esp32-a", 8080, {"c#": b"2", "flag": None}, [IPv4Address("10.0.0.1")]),
                   "Hall Light": ("esp32-b", 8081, {}, [IPv4Address("10.0.0.2")])}
    queries = [p for p in wire.packets if p[1] == "10.0.0.3" and not p[6].is_response and not p[6].authorities]
    # continuous querying: at 0, 1 and 3 s, the later ones carrying both PTRs as known answers, which suppress them
    assert [round(p[0] - queries[0][0], 3) for p in queries] == [0, 1, 3]
    assert len(queries[1][6].answers) == 2 and ma.counters["suppressed"] >= 1 and mb.counters["suppressed"] >= 1
    a_search = mc.query_a("esp32-b", timeout=2)
    sim.run(0.5)
    assert a_search.finished and a_search.results[0].addr == [IPv4Address("10.0.0.2")]  # ended at the first answer
    srv = mc.query_srv("Kitchen Light", "_hap", "_tcp", timeout=2)
    txt = mc.query_txt("Kitchen Light", "_hap", "_tcp", timeout=2)
    none = mc.query_a("nobody", timeout=2)
    sim.run(0.5)
    assert srv.results[0].port == 8080 and txt.results[0].txt["c#"] == b"2"
    assert not none.finished
    sim.run(2)
    assert none.finished and none.results == []


def test_instance_name_set_says_goodbye_to_the_old_name_and_probes_the_new():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32", "Old Name")
    svc = m.service_add(None, "_http", "_tcp", 80)
    running(sim, m, svc)
    before = len(wire.packets)
    m.instance_name_set("New Name")
    running(sim, m, svc)
    later = [p[6] for p in wire.packets[before:]]
    assert {(r.name, r.ttl) for r in later[0].answers if r.rtype == w.SRV} == {("Old\\032Name._http._tcp.local", 0)}
    assert [q.name for p in later if not p.is_response for q in p.questions] == ["New\\032Name._http._tcp.local"] * 3
    assert m.service_fqdn(svc) == "New\\032Name._http._tcp.local"


def test_duplicate_answer_from_another_responder_suppresses_our_delayed_one():
    sim, hub, a, b, wire = setup()
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80)
    sim.run(10)
    peer = Peer(b)
    other = dns.message.Message(id=0)
    other.flags = dns.flags.QR | dns.flags.AA
    other.answer.append(dns.rrset.from_text("_services._dns-sd._udp.local.", SERVICE_TTL, "IN", "PTR",
                                            "_http._tcp.local."))
    for duplicate, expect in ((False, 1), (True, 0)):
        before = len(wire.packets)
        peer.ask(query("_services._dns-sd._udp.local", "PTR"))  # a shared answer: it waits 20-120 ms
        sim.run(0.01)
        if duplicate:
            peer.ask(other)
        sim.run(2)
        ours = [p for p in wire.packets[before:] if p[1] == "10.0.0.1"]
        assert len(ours) == expect
    assert m.counters["suppressed"] == 1
