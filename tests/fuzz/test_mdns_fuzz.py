"""The mDNS and NetBIOS responders fuzzed: arbitrary datagrams, and valid queries, probes and responses mutated byte
by byte, arrive on ports 5353 and 137 of a strict stack (an exception fails the test); each is counted (malformed,
dropped, answered, ignored) and afterwards the responders still hold their names and answer a proper query."""

from __future__ import annotations

from ipaddress import IPv4Address

import dns.message
import dns.rdataclass
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples

from lwipy import Config
from lwipy.apps.mdns import MdnsResponder
from lwipy.apps.netbiosns import NetbiosNameService
from lwipy.sim import Simulation
from lwipy.wire import dns as w
from lwipy.wire import netbios as nb

pytestmark = pytest.mark.slow


def _seeds() -> list[bytes]:
    out = []
    for name, t in (("esp32.local", "A"), ("_http._tcp.local", "PTR"), ("dev._http._tcp.local", "ANY"),
                    ("_services._dns-sd._udp.local", "PTR"), ("1.0.0.10.in-addr.arpa", "PTR")):
        q = dns.message.make_query(name, t)
        q.id, q.flags = 0, 0
        out.append(q.to_wire())
    probe = dns.message.make_query("esp32.local", "ANY")
    probe.id, probe.flags = 0, 0
    probe.authority.append(dns.rrset.from_text("esp32.local.", 120, "IN", "A", "10.0.0.9"))
    out.append(probe.to_wire())
    resp = dns.message.Message(id=0)
    resp.flags = dns.flags.QR | dns.flags.AA
    resp.answer.append(dns.rrset.from_text("dev._http._tcp.local.", 120, "IN", "SRV", "0 0 80 esp32.local."))
    resp.answer.append(dns.rrset.from_text("esp32.local.", 120, "IN", "NSEC", "esp32.local. A"))
    resp.answer.append(dns.rrset.from_text("_http._tcp.local.", 4500, "IN", "PTR", "dev._http._tcp.local."))
    resp.additional.append(dns.rrset.from_text("dev._http._tcp.local.", 4500, "IN", "TXT", '"a=b" "c"'))
    resp.additional.append(dns.rrset.from_text("esp32.local.", 120, "IN", "A", "10.0.0.1"))
    out.append(resp.to_wire())
    out.append(nb.name_query(1, "ESP32"))
    return out


SEEDS = _seeds()


def _net():
    sim = Simulation(seed=3)
    hub = sim.hub()
    a = sim.add_stack("a", hub, Config(mdns_respond_reverse_queries=True, netbios_respond_name_query=True),
                      ip="10.0.0.1/24", ip6_linklocal=True)
    b = sim.add_stack("b", hub, ip="10.0.0.2/24", ip6_linklocal=True)
    m = MdnsResponder(a, "esp32")
    m.service_add("dev", "_http", "_tcp", 80, {"k": "v"})
    ns = NetbiosNameService(a, "esp32")
    sim.run(10)
    for qtype in (w.PTR, w.SRV, w.TXT, w.A):  # searches in progress read every response too
        m.query("dev._http._tcp.local" if qtype in (w.SRV, w.TXT) else "_http._tcp.local" if qtype == w.PTR
                else "esp32.local", qtype, timeout=100)
    pcb = b.udp.new(ip6=True)
    pcb.bind(None, 5353)
    return sim, a, b, m, ns, pcb


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
              st.integers(0, 400)).map(lambda t: _mutate(*t))),
    st.sampled_from(["224.0.0.251", "10.0.0.1", "ff02::fb"]), st.sampled_from([5353, 137]))
def test_any_datagram_is_handled_or_dropped_and_counted(data, dst, port):
    sim, a, b, m, ns, pcb = _net()
    if dst == "ff02::fb" and port == 137:
        dst = "10.0.0.1"
    pcb.sendto(data, dst, port)
    sim.run(2)
    if port == 5353:
        c = m.counters
        assert c["received"] == 1 and c["malformed"] + c["dropped"] + c["queries"] + c["responses"] == 1
    else:
        c = ns.counters
        assert c["received"] == 1 and c["malformed"] + c["ignored"] + c["answered"] + c["status_answered"] == 1
    sim.run(10)  # whatever happened (a conflict, a rename), the responder settles and still answers
    got = []
    b.dns.gethostbyname(m.host_fqdn, lambda ans, err: got.append(ans))
    assert sim.run_until(lambda: got, 5) and got[0] is not None and got[0].address == IPv4Address("10.0.0.1")


def _mutate(seed: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(seed)
    for where, value in flips:
        if b:
            b[where % len(b)] = value
    return bytes(b[:cut]) if cut < len(b) else bytes(b)
