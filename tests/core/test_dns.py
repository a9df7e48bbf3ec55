"""The DNS resolver (lwipy.core.dns, lwIP's dns.c) in virtual time: a client stack, DNS servers on peer stacks
(tests/dnsserver.py), exact retry times, failover, the cache, forged answers, mDNS, the hooks and server records."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address

import pytest
from dnsserver import TinyDns
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.core import dns as d
from lwipy.errors import LwipError
from lwipy.sim import Simulation
from lwipy.wire import dns as w

MAIN, BACKUP = "10.0.0.53", "10.0.0.54"


class Found:
    def __init__(self) -> None:
        self.calls: list[tuple[float, d.DnsAnswer | None, d.DnsError | None]] = []
        self.sim: Simulation | None = None

    def __call__(self, answer: d.DnsAnswer | None, error: d.DnsError | None) -> None:
        self.calls.append((self.sim.now if self.sim else 0.0, answer, error))

    @property
    def done(self) -> bool:
        return bool(self.calls)


def net(config: Config | None = None, servers: tuple[str, ...] = (MAIN,), loss: float = 0.0):
    sim = Simulation(seed=5)
    hub = sim.hub()
    client = sim.add_stack("client", hub, config or Config(), ip="10.0.0.1/24",
                           faults={"loss": loss} if loss else None)
    dnss = [TinyDns(sim.add_stack(f"dns{i}", hub, ip=f"{ip}/24")) for i, ip in enumerate(servers)]
    for i, ip in enumerate(servers):
        client.dns_setserver(i, ip)
    sim.run(1.0)
    return sim, client, dnss


def resolve(sim, client, name, addrtype=d.LWIP_DNS_ADDRTYPE_DEFAULT, timeout=60.0):
    found = Found()
    found.sim = sim
    now = client.dns.gethostbyname(name, found, addrtype)
    if now is not None:
        return now, None, found
    assert sim.run_until(lambda: found.done, timeout)
    assert len(found.calls) == 1
    _, answer, error = found.calls[0]
    return answer, error, found


def test_a_record_then_cached_then_ttl_expiry_asks_again() -> None:
    sim, client, (srv,) = net()
    srv.add("www.lwipy.test", w.A, "10.0.0.80", ttl=30)
    answer, error, _ = resolve(sim, client, "www.lwipy.test")
    assert error is None and answer.address == IPv4Address("10.0.0.80") and answer.source == "dns"
    assert len(srv.queries) == 1
    _, src, sport, q = srv.queries[0]
    assert src == IPv4Address("10.0.0.1") and sport >= 1024 and q.flags == w.RD
    assert q.questions == [w.Question("www.lwipy.test", w.A, 1)]
    assert client.udp.pcbs == []  # the query's own pcb went with its answer
    sim.run(29.0)
    cached = client.dns.gethostbyname("www.lwipy.test", Found())
    assert cached is not None and cached.source == "cache" and len(srv.queries) == 1
    assert client.dns.poll_at() is None  # an idle resolver sets no timer
    sim.run(1.5)  # the TTL ran out
    answer, error, _ = resolve(sim, client, "www.lwipy.test")
    assert answer.source == "dns" and len(srv.queries) == 2


def test_ttl_is_capped_by_dns_max_ttl_and_zero_is_not_cached() -> None:
    sim, client, (srv,) = net(Config(dns_max_ttl=10))
    srv.add("long.lwipy.test", w.A, "10.0.0.2", ttl=86400)
    srv.add("zero.lwipy.test", w.A, "10.0.0.3", ttl=0)
    resolve(sim, client, "long.lwipy.test")
    sim.run(9.0)
    assert client.dns.gethostbyname("long.lwipy.test").source == "cache"
    sim.run(1.5)
    assert client.dns.gethostbyname("long.lwipy.test", Found()) is None  # asked again
    answer, _, _ = resolve(sim, client, "zero.lwipy.test")
    assert answer.address == IPv4Address("10.0.0.3")
    assert client.dns.gethostbyname("zero.lwipy.test", Found()) is None


def test_address_type_preference() -> None:
    sim, client, (srv,) = net()
    srv.add("both.lwipy.test", w.A, "10.0.0.4")
    srv.add("both.lwipy.test", w.AAAA, "2001:db8::4")
    srv.add("six.lwipy.test", w.AAAA, "2001:db8::6")
    a, _, _ = resolve(sim, client, "both.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV6_IPV4)
    assert a.address == IPv6Address("2001:db8::4")
    a, _, _ = resolve(sim, client, "both.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address("10.0.0.4")
    n = len(srv.queries)
    a, _, _ = resolve(sim, client, "six.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4_IPV6)  # A first, then AAAA
    assert a.address == IPv6Address("2001:db8::6")
    assert [q.questions[0].qtype for _, _, _, q in srv.queries[n:]] == [w.A, w.AAAA]
    a, e, _ = resolve(sim, client, "six.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a is None and isinstance(e, d.DnsNoAddress)


def test_cname_chain_followed_and_requeried_when_it_ends_without_address() -> None:
    sim, client, (srv,) = net()
    srv.add("www.lwipy.test", w.CNAME, "web.lwipy.test", ttl=100)
    srv.add("web.lwipy.test", w.CNAME, "host.lwipy.test", ttl=50)
    srv.add("host.lwipy.test", w.A, "10.0.0.80", ttl=200)
    a, _, _ = resolve(sim, client, "www.lwipy.test")
    assert a.address == IPv4Address("10.0.0.80")
    assert a.chain == ("www.lwipy.test", "web.lwipy.test", "host.lwipy.test") and a.canonical == "host.lwipy.test"
    sim.run(51.0)  # the chain lives as long as its shortest TTL
    assert client.dns.gethostbyname("www.lwipy.test", Found()) is None
    sim.run(1.0)
    # a server that stops at the alias: the resolver asks for the target itself
    srv.zone.clear()
    srv.add("alias.lwipy.test", w.CNAME, "real.lwipy.test")
    srv.answer_for = _stop_at_cname(srv.answer_for)
    srv.add("real.lwipy.test", w.A, "10.0.0.81")
    n = len(srv.queries)
    a, _, _ = resolve(sim, client, "alias.lwipy.test")
    assert a.address == IPv4Address("10.0.0.81") and a.name == "alias.lwipy.test"
    assert [q.questions[0].name for _, _, _, q in srv.queries[n:]] == ["alias.lwipy.test", "real.lwipy.test"]
    # once the target is in the table under its own name, an alias ending there asks for the alias only
    resolve(sim, client, "real.lwipy.test")
    srv.add("other.lwipy.test", w.CNAME, "real.lwipy.test", ttl=20)
    n = len(srv.queries)
    a, _, _ = resolve(sim, client, "other.lwipy.test")
    assert a.address == IPv4Address("10.0.0.81") and a.chain == ("other.lwipy.test", "real.lwipy.test")
    assert [q.questions[0].name for _, _, _, q in srv.queries[n:]] == ["other.lwipy.test"]
    sim.run(20.5)  # the alias's TTL bounds the answer's life
    assert client.dns.lookup("other.lwipy.test") is None and client.dns.lookup("real.lwipy.test") is not None


def _stop_at_cname(inner):
    def answer_for(msg):
        reply = inner(msg)
        if reply.answers and reply.answers[0].rtype == w.CNAME:
            reply.answers = reply.answers[:1]
        return reply
    return answer_for


def test_nxdomain_and_servfail_are_distinct_errors() -> None:
    sim, client, (srv,) = net()
    srv.nxdomain.add("gone.lwipy.test")
    srv.servfail.add("broken.lwipy.test")
    _, e, _ = resolve(sim, client, "gone.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert type(e) is d.DnsNotFound
    _, e, _ = resolve(sim, client, "broken.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert type(e) is d.DnsServerFailure and e.rcode == w.SERVFAIL
    assert not isinstance(e, d.DnsNotFound)


def test_error_rcode_moves_to_the_backup_at_once() -> None:
    sim, client, (main, backup) = net(servers=(MAIN, BACKUP))
    main.servfail.add("x.lwipy.test")
    backup.add("x.lwipy.test", w.A, "10.0.0.9")
    t0 = sim.now
    a, _, found = resolve(sim, client, "x.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address("10.0.0.9") and found.calls[0][0] - t0 < 0.1


def test_main_silent_backup_answers_on_lwips_schedule() -> None:
    """Sends to MAIN at 0, 1, 2, 4 ticks (tmr = retries), then after DNS_MAX_RETRIES (4) BACKUP at 7."""
    sim, client, (main, backup) = net(servers=(MAIN, BACKUP))
    main.silent = True
    backup.add("x.lwipy.test", w.A, "10.0.0.9")
    t0 = sim.now
    a, _, found = resolve(sim, client, "x.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address("10.0.0.9")
    assert [round(t - t0, 3) for t, *_ in main.queries] == [0.0, 1.0, 2.0, 4.0]
    assert [round(t - t0, 3) for t, *_ in backup.queries] == [7.0]
    assert round(found.calls[0][0] - t0, 3) == 7.0
    assert len({q.id for *_, q in main.queries}) == 1  # one id for the query, whatever the server


def test_all_silent_times_out_and_unset_slots_are_skipped() -> None:
    sim, client, (main, fallback) = net(servers=(MAIN, BACKUP))
    client.dns_setserver(1, None)
    client.dns_setserver(2, BACKUP)  # FALLBACK; BACKUP is unset and skipped (ESP_DNS)
    main.silent = fallback.silent = True
    t0 = sim.now
    _, e, found = resolve(sim, client, "x.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert isinstance(e, d.DnsTimeout) and round(found.calls[0][0] - t0, 3) == 14.0
    assert len(main.queries) == 4 and len(fallback.queries) == 4
    assert client.dns.pending() == 0 and client.dns.poll_at() is None
    assert client.udp.pcbs == []  # the query's pcb was freed


def test_loss_is_recovered_by_retries() -> None:
    sim, client, (srv,) = net(loss=0.3)
    srv.add("lossy.lwipy.test", w.A, "10.0.0.10")
    ok = 0
    for i in range(6):
        srv.add(f"n{i}.lwipy.test", w.A, "10.0.0.10")
        a, e, _ = resolve(sim, client, f"n{i}.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
        ok += a is not None
    assert ok >= 5
    assert len(srv.queries) > 6  # some were sent again


def test_random_ports_and_ids_and_the_gethostbyname_errors() -> None:
    sim, client, (srv,) = net(Config(dns_table_size=2))
    srv.silent = True
    for name in ("a.lwipy.test", "b.lwipy.test"):
        assert client.dns.gethostbyname(name, Found(), d.LWIP_DNS_ADDRTYPE_IPV4) is None
    with pytest.raises(LwipError) as e:
        client.dns.gethostbyname("c.lwipy.test", Found())
    assert e.value.errno == errno.ENOMEM  # every entry is asking (ERR_MEM)
    sim.settle()
    ports = {p for _, _, p, _ in srv.queries}
    ids = {q.id for *_, q in srv.queries}
    assert len(ports) == 2 and len(ids) == 2
    with pytest.raises(LwipError):
        client.dns.gethostbyname("", Found())
    with pytest.raises(LwipError):
        client.dns.gethostbyname("x" * 300, Found())
    bare = Simulation(seed=1).new_stack("bare")
    with pytest.raises(d.DnsNoServer):
        bare.dns.gethostbyname("www.lwipy.test", Found())
    assert bare.dns.gethostbyname("10.1.2.3").address == IPv4Address("10.1.2.3")
    assert bare.dns.gethostbyname("localhost", addrtype=d.LWIP_DNS_ADDRTYPE_IPV6).address == IPv6Address(1)


def test_a_second_request_for_a_name_in_flight_joins_it() -> None:
    sim, client, (srv,) = net()
    srv.add("j.lwipy.test", w.A, "10.0.0.11")
    f1, f2 = Found(), Found()
    assert client.dns.gethostbyname("j.lwipy.test", f1, 0) is None
    assert client.dns.gethostbyname("J.LWIPY.TEST", f2, 0) is None
    sim.run(1.0)
    assert len(srv.queries) == 1 and f1.calls[0][1].address == f2.calls[0][1].address


def _forge(client, entry, *, src=MAIN, sport=53, txid=None, qname=None, qtype="A", rr="10.6.6.6"):
    name = qname or entry.qname
    frame = (Ether(dst=client.netifs[1].hwaddr, src="02:00:00:00:00:66") / IP(src=src, dst="10.0.0.1") /
             UDP(sport=sport, dport=entry.pcb.local_port) /
             DNS(id=entry.txid if txid is None else txid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype),
                 an=DNSRR(rrname=name, type=qtype, rdata=rr, ttl=60)))
    client.input(client.netifs[1], bytes(frame), client.now)


def test_forged_answers_with_wrong_source_port_id_or_question_are_ignored() -> None:
    sim, client, (srv,) = net()
    srv.silent = True
    found = Found()
    assert client.dns.gethostbyname("bank.lwipy.test", found, d.LWIP_DNS_ADDRTYPE_IPV4) is None
    sim.settle()
    entry = next(e for e in client.dns.table if e.state == d._ASKING)
    before = client.dns.counters["ignored"]
    _forge(client, entry, src="10.0.0.66")  # from another address
    _forge(client, entry, sport=5353)  # from another port
    _forge(client, entry, txid=(entry.txid + 1) & 0xFFFF)  # another id
    _forge(client, entry, qname="other.lwipy.test")  # another question
    _forge(client, entry, qtype="AAAA", rr="2001:db8::66")  # another type
    assert client.dns.counters["ignored"] == before + 5 and not found.calls
    _forge(client, entry, rr="10.0.0.77")  # the real answer (as the server would send it)
    assert found.calls and found.calls[0][1].address == IPv4Address("10.0.0.77")


def test_mdns_one_shot_query_for_dot_local() -> None:
    sim = Simulation(seed=3)
    hub = sim.hub()
    client = sim.add_stack("client", hub, ip="10.0.0.1/24")
    responder = sim.add_stack("printer", hub, ip="10.0.0.7/24")
    mdns = TinyDns(responder, port=w.MDNS_PORT, group="224.0.0.251")
    mdns.add("printer.local", w.A, "10.0.0.7", ttl=120)
    sim.run(1.0)
    a, e, _ = resolve(sim, client, "printer.local", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address("10.0.0.7") and a.source == "mdns"
    (t, src, sport, q), = mdns.queries
    assert q.flags == 0 and sport != w.MDNS_PORT  # one-shot: not from 5353, RD clear
    off = Simulation(seed=3).new_stack("off", Config(dns_support_mdns_queries=False))
    with pytest.raises(d.DnsNoServer):
        off.dns.gethostbyname("printer.local", Found())


def test_mdns_over_ipv6_asks_ff02_fb() -> None:
    sim = Simulation(seed=4)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False)
    client = sim.add_stack("client", hub, cfg, ip6_linklocal=True)
    responder = sim.add_stack("printer", hub, cfg, ip6_linklocal=True)
    mdns = TinyDns(responder, port=w.MDNS_PORT, group="ff02::fb")
    mdns.add("printer.local", w.AAAA, "fe80::7")
    sim.run(3.0)
    a, e, _ = resolve(sim, client, "printer.local", d.LWIP_DNS_ADDRTYPE_IPV6)
    assert a.address == IPv6Address("fe80::7") and a.source == "mdns"
    (t, src, sport, q), = mdns.queries
    assert src.is_link_local and q.questions == [w.Question("printer.local", w.AAAA, 1)]


def test_a_bad_fallback_address_is_a_config_error() -> None:
    from lwipy.errors import ConfigError
    with pytest.raises(ConfigError):
        Simulation(seed=1).new_stack("s", Config(fallback_dns_server_address="not-an-address"))


def test_local_hostlist_and_external_resolve_hook() -> None:
    sim, client, (srv,) = net(Config(dns_local_hostlist=True))
    client.dns.local_addhost("nas.lwipy.test", "10.0.0.20")
    assert client.dns.gethostbyname("NAS.lwipy.test").source == "hostlist"
    assert client.dns.local_removehost("nas.lwipy.test") == 1
    seen = []

    def hook(stack, name, addrtype):
        seen.append((name, addrtype))
        return "10.0.0.30" if name.endswith(".corp") else None
    client.hooks.install({"dns_external_resolve": hook})
    assert client.dns.gethostbyname("wiki.corp").address == IPv4Address("10.0.0.30")
    assert client.dns.gethostbyname("other.lwipy.test", Found()) is None
    assert seen == [("wiki.corp", 2), ("other.lwipy.test", 2)]
    sim.settle()
    assert {q.questions[0].name for *_, q in srv.queries} == {"other.lwipy.test"}  # the hook's name went nowhere
    bare = Simulation(seed=1).new_stack("bare")
    with pytest.raises(LwipError):
        bare.dns.local_addhost("x", "10.0.0.1")


def test_fallback_server_servers_by_index_and_ipv6_servers_fill_unset_slots() -> None:
    s = Simulation(seed=1).new_stack("s", Config(fallback_dns_server_address="114.114.114.114"))
    assert s.dns_getserver(d.DNS_FALLBACK) == IPv4Address("114.114.114.114")
    assert s.dns_getserver(d.DNS_MAIN) is None and s.dns_getserver(7) is None
    s.dns_setserver(7, "10.0.0.1")  # beyond CONFIG_LWIP_DNS_MAX_SERVERS: ignored, as lwIP does
    s.dns_setserver(d.DNS_MAIN, "10.0.0.53")
    s.dns_sources6.append(lambda: [IPv6Address("2001:db8::53")])
    assert s.dns.effective_servers() == [IPv4Address("10.0.0.53"), IPv6Address("2001:db8::53"),
                                         IPv4Address("114.114.114.114")]
    assert s.dns_getserver(d.DNS_BACKUP) is None


def test_per_netif_servers_restored_when_the_default_netif_changes() -> None:
    sim = Simulation(seed=2)
    wifi, eth = sim.hub(), sim.hub()
    s = sim.new_stack("dev", Config(dns_per_default_netif=True))
    sta = sim.attach(s, wifi, name="sta", ip="10.0.0.1/24", route_prio=100)
    e = sim.attach(s, eth, name="eth", ip="10.1.0.1/24", route_prio=50)
    assert s.default_netif is sta
    s.dns_setserver(0, "10.0.0.53", sta)
    s.dns_setserver(0, "10.1.0.53", e)  # eth's lease: recorded, but sta is the default
    s.dns_setserver(1, "10.1.0.54", e)
    assert s.dns_getserver(0) == IPv4Address("10.0.0.53") and s.dns_getserver(1) is None
    sta.set_link_up(False)
    assert s.default_netif is e
    assert (s.dns_getserver(0), s.dns_getserver(1)) == (IPv4Address("10.1.0.53"), IPv4Address("10.1.0.54"))
    sta.set_link_up()
    assert s.default_netif is sta
    assert (s.dns_getserver(0), s.dns_getserver(1)) == (IPv4Address("10.0.0.53"), None)
    # without the option the list stays global: the last lease wins, as the ESP-IDF guide warns
    g = sim.new_stack("global")
    a = sim.attach(g, wifi, name="sta", ip="10.0.0.2/24", route_prio=100)
    b = sim.attach(g, eth, name="eth", ip="10.1.0.2/24")
    g.dns_setserver(0, "10.0.0.53", a)
    g.dns_setserver(0, "10.1.0.53", b)
    assert g.dns_getserver(0) == IPv4Address("10.1.0.53")


replies = st.fixed_dictionaries({
    "flags": st.integers(0, 0xFFFF), "id_ok": st.booleans(), "q_ok": st.booleans(),
    "answers": st.lists(st.tuples(st.sampled_from(["q", "alias", "other"]),
                                  st.sampled_from([w.A, w.AAAA, w.CNAME, w.TXT]), st.integers(0, 2**31 - 1)),
                        max_size=4),
    "junk": st.one_of(st.none(), st.binary(max_size=40)),
})


@pytest.mark.slow
@settings(max_examples=examples(150), deadline=None)
@given(st.lists(replies, min_size=1, max_size=6), st.sampled_from([0, 1, 2, 3]))
def test_random_replies_never_raise_and_every_query_ends_once(script, addrtype) -> None:
    """Whatever the server sends back, the resolver neither raises nor leaks: found is called exactly once."""
    sim, client, (srv, backup) = net(servers=(MAIN, BACKUP))
    it = iter(script)

    def answer_for(msg):
        spec = next(it, None)
        if spec is None:
            return None
        if spec["junk"] is not None:
            return spec["junk"]
        q = msg.questions[0] if spec["q_ok"] else w.Question("zz.test", w.A)
        names = {"q": q.name, "alias": "alias.test", "other": "other.test"}
        data = {w.A: IPv4Address("10.9.9.9"), w.AAAA: IPv6Address("2001:db8::9"), w.CNAME: "alias.test",
                w.TXT: (b"x",)}
        answers = [w.Record(names[n], t, 1, ttl, data[t]) for n, t, ttl in spec["answers"]]
        return w.DnsMessage(msg.id if spec["id_ok"] else msg.id ^ 1, spec["flags"] | w.QR, [q], answers)

    def recv(pcb, dgram):
        msg = w.DnsMessage.parse(dgram.data)
        srv.queries.append((sim.now, dgram.src, dgram.src_port, msg))
        reply = answer_for(msg)
        if reply is not None:
            pcb.sendto(reply if isinstance(reply, bytes) else reply.emit(), dgram.src, dgram.src_port)
    srv.pcb.on_recv = backup.pcb.on_recv = recv
    found = Found()
    assert client.dns.gethostbyname("fuzz.lwipy.test", found, addrtype) is None
    sim.run(40.0)
    assert len(found.calls) == 1
    _, answer, error = found.calls[0]
    assert (answer is None) != (error is None)
    assert client.dns.pending() == 0
