"""mDNS messages larger than the MTU go as several packets, never as IP fragments (RFC 6762 17, 18.5, 7.2), in
virtual time: a browse answered by 24 services spreads its answers and additionals over complete responses; our
querier's known answers that do not fit follow the question with TC set on all but the last packet, and the
responder, having waited for them, suppresses every answer the querier knows; a legacy unicast reply is truncated
with TC.  Every frame is read with scapy and dnspython."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from test_mdns import Peer, query, running

from lwipy import Config
from lwipy.apps.mdns import MdnsResponder
from lwipy.apps.mdns.packets import payload_limit, split_message
from lwipy.sim import Simulation
from lwipy.wire import dns as w

N = 24
NAMES = [f"Instance {i:02d} with a long name that fills the packet quickly-" + "x" * 4 for i in range(N)]


class Frames:
    """(time, scapy IP packet, dnspython message) of every mDNS frame on the hub."""

    def __init__(self, sim, hub) -> None:
        self.sim, self.seen = sim, []
        hub.taps.append(self._tap)

    def _tap(self, port, frame: bytes) -> None:
        ip = Ether(frame).getlayer(IP)
        if ip is None:
            return
        assert len(frame) - 14 <= 1500 and ip.flags.MF == 0 and ip.frag == 0  # no IP fragments
        udp = ip.getlayer(UDP)
        if udp is not None and 5353 in (udp.sport, udp.dport):
            self.seen.append((self.sim.now, ip, dns.message.from_wire(bytes(udp.payload))))


def published():
    sim = Simulation(seed=3)
    hub = sim.hub()
    cfg = Config(mdns_max_services=32)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24")
    frames = Frames(sim, hub)
    m = MdnsResponder(a, "esp32")
    services = [m.service_add(name, "_http", "_tcp", 8000 + i, {"k": "v" * 40}) for i, name in enumerate(NAMES)]
    sim.run_until(lambda: all(m.state_of(s) == "running" for s in services), 30)
    running(sim, m, services[-1])
    return sim, hub, a, b, m, frames


def test_a_large_response_is_split_into_complete_responses():
    sim, hub, a, b, m, frames = published()
    assert len(frames.seen) > 0  # the announcements went through the tap's checks
    peer = Peer(b)
    t0 = sim.now
    peer.ask(query("_http._tcp.local", "PTR"))
    sim.run(0.3)
    replies = [msg for t, ip, msg in frames.seen if t >= t0 and ip.src == "10.0.0.1"]
    assert len(replies) >= 3
    answers = {(r.name.to_text(), r.rdtype, rd.to_text()) for msg in replies for r in msg.answer for rd in r}
    extra = {(r.name.to_text(), r.rdtype) for msg in replies for r in msg.additional}
    assert len({a for a in answers if a[1] == dns.rdatatype.PTR}) == N
    assert sum(1 for _, t in extra if t == dns.rdatatype.SRV) == N
    assert sum(1 for _, t in extra if t == dns.rdatatype.TXT) == N
    assert all(msg.flags & dns.flags.QR and msg.flags & dns.flags.AA and not msg.flags & dns.flags.TC
               for msg in replies)
    assert len(peer.take()) == len(replies)


def test_known_answers_beyond_the_mtu_follow_with_tc_and_are_all_suppressed():
    sim, hub, a, b, m, frames = published()
    mb = MdnsResponder(b, "browser")
    sim.run_until(lambda: mb.state_of() == "running", 10)
    t0 = sim.now
    suppressed = m.counters["suppressed"]
    done = []
    mb.query_ptr("_http", "_tcp", timeout=2.5, max_results=64, on_done=done.append)
    sim.run(1.5)
    queries = [(t, msg) for t, ip, msg in frames.seen if t >= t0 and ip.src == "10.0.0.2" and not msg.flags & dns.flags.QR
               and not msg.authority]
    first = [(t, msg) for t, msg in queries if msg.question]
    assert len(first) == 2 and not first[0][1].flags & dns.flags.TC  # the first query knows nothing yet
    t1, second = first[1]
    assert second.flags & dns.flags.TC  # RFC 6762 7.2: more known answers follow
    rest = [msg for t, msg in queries if t == t1 and not msg.question]
    assert rest and not rest[-1].flags & dns.flags.TC and all(m.flags & dns.flags.TC for m in rest[:-1])
    known = [rd for msg in (second, *rest) for r in msg.answer for rd in r]
    assert len(known) == N
    sim.run(1.1)
    after = [msg for t, ip, msg in frames.seen if t > t1 and ip.src == "10.0.0.1" and msg.answer]
    assert m.counters["suppressed"] - suppressed == N and after == []  # the held query got all its known answers
    (results,) = done
    assert sorted(r.instance_name for r in results) == sorted(NAMES) and all(r.txt == {"k": b"v" * 40}
                                                                             for r in results)


def test_a_legacy_unicast_reply_is_truncated_with_tc():
    sim, hub, a, b, m, frames = published()
    peer = Peer(b, port=40000)
    q = query("_http._tcp.local", "PTR")
    q.id = 0x1234
    peer.ask(q)
    sim.run(0.3)
    (dg, msg), = peer.take()
    assert msg.id == 0x1234 and msg.flags & dns.flags.TC and 0 < len(msg.answer[0]) < N
    assert len(dg.data) <= payload_limit(1500, False)


def test_split_message_keeps_small_messages_whole_and_tc_on_all_query_packets_but_the_last():
    rec = [w.Record(f"i{i}._http._tcp.local", w.TXT, w.CLASS_IN, 120, (b"x" * 100,)) for i in range(30)]
    small = w.DnsMessage(0, w.QR | w.AA, [], rec[:2])
    assert split_message(small, 1472) == [small.emit()]
    q = w.DnsMessage(0, 0, [w.Question("_http._tcp.local", w.PTR, w.CLASS_IN)], rec)
    parts = [w.DnsMessage.parse(p) for p in split_message(q, 500)]
    assert len(parts) >= 4 and all(len(p.emit()) <= 500 for p in parts)
    assert [bool(p.flags & w.TC) for p in parts] == [True] * (len(parts) - 1) + [False]
    assert parts[0].questions and not any(p.questions for p in parts[1:])
    assert [r.name for p in parts for r in p.answers] == [r.name for r in rec]
