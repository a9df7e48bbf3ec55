"""NAPT and port forwarding (esp-lwip's ip4_napt) in virtual time.

A gateway stack has an inside netif (192.168.4.1/24, NAPT on) and an outside one (10.0.0.2/24), each on a capturing
device; frames are made and read with scapy, whose own checksum computation is the independent check of the
incremental updates (a packet is rebuilt with its checksums deleted and compared).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.l2 import Ether

from helpers import CaptureDevice, examples
from lwipy import Config, Stack
from lwipy.core.napt import IP_PROTO_TCP, IP_PROTO_UDP, csum_adjust
from lwipy.wire.checksum import checksum

GW_IN_MAC = bytes.fromhex("020000000001")
GW_OUT_MAC = bytes.fromhex("020000000002")
A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
A, A2, B, GW_OUT, GW_IN = "192.168.4.2", "192.168.4.3", "10.0.0.9", "10.0.0.2", "192.168.4.1"


class Gateway:
    def __init__(self, **options):
        opts = dict(ip_forward=True, ipv4_napt=True)
        opts.update(options)
        self.stack = Stack(Config(**opts), seed=3, strict=True)
        self.din, self.dout = CaptureDevice(), CaptureDevice()
        self.inside = self.stack.add_netif(self.din, name="ap", ip=f"{GW_IN}/24", hwaddr=GW_IN_MAC)
        self.outside = self.stack.add_netif(self.dout, name="sta", ip=f"{GW_OUT}/24", hwaddr=GW_OUT_MAC)
        self.stack.etharp.add_static(A, bytes.fromhex(A_MAC.replace(":", "")), self.inside)
        self.stack.etharp.add_static(A2, bytes.fromhex("02000000000c"), self.inside)
        self.stack.etharp.add_static(B, bytes.fromhex(B_MAC.replace(":", "")), self.outside)
        self.stack.napt.enable(self.inside)
        self.din.take()
        self.dout.take()
        self.now = 0.0

    def from_inside(self, pkt):
        self.stack.input(self.inside, bytes(Ether(src=A_MAC, dst=GW_IN_MAC) / pkt), self.now)

    def from_outside(self, pkt):
        self.stack.input(self.outside, bytes(Ether(src=B_MAC, dst=GW_OUT_MAC) / pkt), self.now)

    def advance(self, seconds):
        end = self.now + seconds
        while True:
            due = self.stack.poll_at()
            if due is None or due > end:
                break
            self.now = max(self.now, due)
            self.stack.poll(self.now)
        self.now = end
        self.stack.poll(end)

    def out(self):
        return [Ether(f)[IP] for f in self.dout.take() if Ether(f).type == 0x0800]

    def inn(self):
        return [Ether(f)[IP] for f in self.din.take() if Ether(f).type == 0x0800]


def checksums_ok(ip):
    """scapy recomputes every checksum of ``ip`` (the quoted packet of an ICMP error too); equal bytes: all valid."""
    raw = bytes(ip)
    again = IP(raw)
    del again.chksum
    layer = again.payload
    if layer.haslayer(TCP) and not layer.haslayer(IPerror):
        del again[TCP].chksum
    elif layer.haslayer(UDP) and not layer.haslayer(IPerror) and again[UDP].chksum != 0:
        del again[UDP].chksum
    elif layer.haslayer(ICMP):
        del again[ICMP].chksum
        if again.haslayer(IPerror):
            q = again[IPerror]
            qraw = bytes(q)
            assert checksum(qraw[:(qraw[0] & 15) * 4]) == 0, "quoted IP header checksum"
    return bytes(IP(bytes(again))) == raw


@pytest.fixture
def gw():
    return Gateway()


def test_udp_is_translated_out_and_back_with_valid_checksums(gw):
    gw.from_inside(IP(src=A, dst=B, ttl=64) / UDP(sport=5000, dport=53) / b"query")
    [p] = gw.out()
    assert p.src == GW_OUT and p.dst == B and p.ttl == 63
    mport = p[UDP].sport
    assert 49152 <= mport <= 61439  # 5000 is outside IP_NAPT_PORT_RANGE: a mapped port is chosen
    assert p[UDP].dport == 53 and bytes(p[UDP].payload) == b"query"
    assert checksums_ok(p)
    gw.from_outside(IP(src=B, dst=GW_OUT) / UDP(sport=53, dport=mport) / b"answer")
    [r] = gw.inn()
    assert (r.src, r.dst, r[UDP].sport, r[UDP].dport) == (B, A, 53, 5000)
    assert checksums_ok(r) and bytes(r[UDP].payload) == b"answer"
    s = gw.stack.napt.get_stats()
    assert s.nr_active_udp == 1 and s.out == 1 and s.inbound == 1


def test_a_port_in_the_range_is_kept_and_a_zero_udp_checksum_stays_zero(gw):
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=7, chksum=0) / b"x")
    [p] = gw.out()
    assert p[UDP].sport == 50000 and p[UDP].chksum == 0


def test_a_flow_follows_a_new_outside_address(gw):
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53) / b"q")
    [p] = gw.out()
    gw.outside.set_ipv4("10.0.0.3/24")
    gw.dout.take()
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53) / b"q2")
    [p2] = gw.out()
    assert p2.src == "10.0.0.3" and p2[UDP].sport == p[UDP].sport and checksums_ok(p2)
    gw.from_outside(IP(src=B, dst="10.0.0.3") / UDP(sport=53, dport=p[UDP].sport) / b"a")
    [r] = gw.inn()
    assert (r.dst, r[UDP].dport) == (A, 50000) and checksums_ok(r)


def test_reply_from_another_remote_port_is_not_translated(gw):
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50001, dport=53) / b"q")
    [p] = gw.out()
    gw.from_outside(IP(src=B, dst=GW_OUT) / UDP(sport=54, dport=p[UDP].sport) / b"a")
    assert gw.inn() == []  # for the gateway itself: nothing forwarded (it answers port unreachable outside)


def tcp_open(gw, sport=40000, dport=80, seq=1000):
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=sport, dport=dport, flags="S", seq=seq))
    [syn] = gw.out()
    mport = syn[TCP].sport
    gw.from_outside(IP(src=B, dst=GW_OUT) / TCP(sport=dport, dport=mport, flags="SA", seq=5000, ack=seq + 1))
    [synack] = gw.inn()
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=sport, dport=dport, flags="A", seq=seq + 1, ack=5001))
    gw.out()
    return syn, synack, mport


def test_tcp_handshake_is_translated_with_valid_checksums(gw):
    syn, synack, mport = tcp_open(gw)
    assert syn.src == GW_OUT and checksums_ok(syn) and syn[TCP].seq == 1000
    assert synack.dst == A and synack[TCP].dport == 40000 and checksums_ok(synack)
    [e] = gw.stack.napt.entries()
    assert e.synack and not (e.fin1 or e.fin2 or e.rst)


def test_tcp_of_an_unknown_session_is_dropped_with_port_unreachable(gw):
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=40000, dport=80, flags="A", seq=1, ack=1))
    assert gw.out() == []
    [err] = gw.inn()
    assert err.dst == A and err[ICMP].type == 3 and err[ICMP].code == 3


def test_established_tcp_lives_30_minutes_closed_tcp_20_seconds(gw):
    tcp_open(gw, sport=40000)
    tcp_open(gw, sport=40001)
    # the second closes: FIN from inside, ACK from outside, FIN from outside, ACK from inside
    m = [e for e in gw.stack.napt.entries() if e.sport == 40001][0].mport
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=40001, dport=80, flags="FA", seq=1001, ack=5001))
    gw.from_outside(IP(src=B, dst=GW_OUT) / TCP(sport=80, dport=m, flags="FA", seq=5001, ack=1002))
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=40001, dport=80, flags="A", seq=1002, ack=5002))
    e = [e for e in gw.stack.napt.entries() if e.sport == 40001][0]
    assert e.fin1 and e.fin2 and e.finack1 and e.finack2
    gw.advance(19)
    assert len(gw.stack.napt.entries()) == 2
    gw.advance(4)  # past 20 s (and the next 2-s sweep)
    assert [e.sport for e in gw.stack.napt.entries()] == [40000]
    gw.advance(29 * 60 - 23)
    assert len(gw.stack.napt.entries()) == 1
    gw.advance(60 + 3)
    assert gw.stack.napt.entries() == []
    assert gw.stack.poll_at() is None or gw.stack.napt.poll_at() is None


def test_rst_shortens_the_tcp_timeout(gw):
    _, _, m = tcp_open(gw)
    gw.from_outside(IP(src=B, dst=GW_OUT) / TCP(sport=80, dport=m, flags="R", seq=5001))
    assert gw.stack.napt.entries()[0].rst
    gw.advance(23)
    assert gw.stack.napt.entries() == []


def test_a_syn_never_answered_expires_after_the_short_timeout(gw):
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=40000, dport=80, flags="S"))
    gw.advance(19)
    assert len(gw.stack.napt.entries()) == 1
    gw.advance(4)
    assert gw.stack.napt.entries() == []


@pytest.mark.parametrize("proto", ["udp", "icmp"])
def test_udp_and_icmp_entries_expire_after_2_seconds_idle(proto):
    gw = Gateway()
    pkt = UDP(sport=50000, dport=53) if proto == "udp" else ICMP(type=8, id=77, seq=1)
    gw.from_inside(IP(src=A, dst=B) / pkt)
    gw.advance(1.5)
    assert len(gw.stack.napt.entries()) == 1
    gw.from_inside(IP(src=A, dst=B) / pkt)  # used again: idle from now
    gw.advance(1.9)
    assert len(gw.stack.napt.entries()) == 1
    gw.advance(2.5)
    assert gw.stack.napt.entries() == []


def test_timeouts_follow_the_config():
    gw = Gateway(ip_napt_timeout_ms_udp=10000, ip_napt_tmr_interval=500)
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53))
    gw.advance(9.5)
    assert len(gw.stack.napt.entries()) == 1
    gw.advance(1.1)
    assert gw.stack.napt.entries() == []


def test_ping_is_translated_both_ways(gw):
    gw.from_inside(IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=7) / b"ping")
    [p] = gw.out()
    assert p.src == GW_OUT and p[ICMP].id == 0x1234 and checksums_ok(p)
    gw.from_outside(IP(src=B, dst=GW_OUT) / ICMP(type=0, id=0x1234, seq=7) / b"ping")
    [r] = gw.inn()
    assert r.dst == A and r[ICMP].type == 0 and r[ICMP].id == 0x1234 and checksums_ok(r)
    assert gw.stack.napt.get_stats().nr_active_icmp == 1


def test_two_inside_hosts_pinging_with_one_identifier_get_distinct_ones(gw):
    gw.from_inside(IP(src=A, dst=B) / ICMP(type=8, id=9, seq=1))
    gw.stack.input(gw.inside, bytes(Ether(src="02:00:00:00:00:0c", dst=GW_IN_MAC) /
                                    IP(src=A2, dst=B) / ICMP(type=8, id=9, seq=1)), gw.now)
    p1, p2 = gw.out()
    assert p1[ICMP].id == 9 and p2[ICMP].id != 9 and checksums_ok(p2)
    gw.from_outside(IP(src=B, dst=GW_OUT) / ICMP(type=0, id=p2[ICMP].id, seq=1))
    [r] = gw.inn()
    assert r.dst == A2 and r[ICMP].id == 9 and checksums_ok(r)


def test_the_table_is_bounded_and_evicts_the_least_recently_used():
    gw = Gateway(ip_napt_max=4)
    for i in range(4):
        gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000 + i, dport=53))
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53))  # 50000 used again: 50001 is now the oldest
    gw.out()
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50010, dport=53))
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50011, dport=53))
    assert len(gw.out()) == 2
    ports = sorted(e.sport for e in gw.stack.napt.entries())
    assert ports == [50000, 50003, 50010, 50011]
    s = gw.stack.napt.get_stats()
    assert s.nr_forced_evictions == 2 and s.nr_active_udp == 4


def test_an_expired_entry_goes_before_the_least_recently_used_one():
    gw = Gateway(ip_napt_max=2)
    gw.from_inside(IP(src=A, dst=B) / ICMP(type=8, id=1))
    gw.now += 1
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=40000, dport=80, flags="S"))
    gw.now += 1.5  # the ICMP entry (2.5 s idle) has expired, though the sweep has not run; the TCP one has not
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53))
    assert sorted(e.proto for e in gw.stack.napt.entries()) == [IP_PROTO_TCP, IP_PROTO_UDP]
    assert gw.stack.napt.get_stats().nr_forced_evictions == 0


def test_evicting_an_established_tcp_flow_resets_both_ends():
    gw = Gateway(ip_napt_max=1)
    _, _, m = tcp_open(gw)
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53))
    rst_in = [p for p in gw.inn() if p.haslayer(TCP)]
    rst_out = [p for p in gw.out() if p.haslayer(TCP)]
    assert len(rst_in) == 1 and len(rst_out) == 1
    ri, ro = rst_in[0], rst_out[0]
    assert (ri.src, ri[TCP].sport, ri.dst, ri[TCP].dport) == (B, 80, A, 40000) and "R" in str(ri[TCP].flags)
    assert ri[TCP].seq == 5001 and ri[TCP].ack == 1001
    assert (ro.src, ro[TCP].sport, ro.dst, ro[TCP].dport) == (GW_OUT, m, B, 80) and "R" in str(ro[TCP].flags)
    assert checksums_ok(ri) and checksums_ok(ro)


def test_icmp_errors_about_translated_flows_are_translated_back(gw):
    gw.from_inside(IP(src=A, dst=B, ttl=5) / UDP(sport=5000, dport=33434) / b"probe")
    [p] = gw.out()
    for type_, code in ((3, 3), (11, 0)):
        gw.from_outside(IP(src=B, dst=GW_OUT) / ICMP(type=type_, code=code) / bytes(p)[:28])
        [e] = gw.inn()
        assert e.dst == A and e[ICMP].type == type_ and e[ICMP].code == code
        q = e[IPerror]
        assert q.src == A and q.dst == B and q[UDPerror].sport == 5000 and q[UDPerror].dport == 33434
        assert checksums_ok(e)
        # the quoted UDP checksum is the original one again
        orig = IP(bytes(IP(src=A, dst=B, ttl=4) / UDP(sport=5000, dport=33434) / b"probe"))
        assert q[UDPerror].chksum == orig[UDP].chksum
    assert gw.stack.napt.get_stats().icmp_errors == 2


def test_icmp_error_quoting_a_whole_tcp_header_gets_the_tcp_checksum_restored(gw):
    syn, _, _ = tcp_open(gw)
    gw.from_outside(IP(src=B, dst=GW_OUT) / ICMP(type=3, code=1) / bytes(syn))
    [e] = gw.inn()
    q = e[IPerror]
    assert q.src == A and q[TCPerror].sport == 40000
    orig = IP(bytes(IP(src=A, dst=B, ttl=64) / TCP(sport=40000, dport=80, flags="S", seq=1000)))
    assert q[TCPerror].chksum == orig[TCP].chksum
    assert checksums_ok(e)


def test_icmp_error_about_a_flow_nobody_has_is_for_the_gateway(gw):
    fake = IP(src=GW_OUT, dst=B) / UDP(sport=55555, dport=53)
    gw.from_outside(IP(src=B, dst=GW_OUT) / ICMP(type=3, code=3) / bytes(fake)[:28])
    assert gw.inn() == []


def test_port_map_reaches_an_inside_server_and_its_replies_leave_mapped(gw):
    napt = gw.stack.napt
    assert napt.portmap_add(IP_PROTO_TCP, GW_OUT, 8080, A, 80)
    gw.from_outside(IP(src=B, dst=GW_OUT) / TCP(sport=33000, dport=8080, flags="S", seq=9))
    [p] = gw.inn()
    assert (p.dst, p[TCP].dport) == (A, 80) and checksums_ok(p)
    gw.from_inside(IP(src=A, dst=B) / TCP(sport=80, dport=33000, flags="SA", seq=1, ack=10))
    [r] = gw.out()
    assert (r.src, r[TCP].sport) == (GW_OUT, 8080) and checksums_ok(r)
    got = napt.portmap_get(IP_PROTO_TCP, 8080)
    assert str(got.daddr) == A and got.dport == 80 and str(got.maddr) == GW_OUT
    assert napt.portmap_remove(IP_PROTO_TCP, 8080) and not napt.portmap_remove(IP_PROTO_TCP, 8080)
    gw.from_outside(IP(src=B, dst=GW_OUT) / TCP(sport=33000, dport=8080, flags="S", seq=9))
    assert gw.inn() == []


def test_udp_port_map_and_the_map_limit():
    gw = Gateway(ip_portmap_max=2)
    napt = gw.stack.napt
    assert napt.portmap_add(IP_PROTO_UDP, GW_OUT, 5353, A, 53)
    assert napt.portmap_add(IP_PROTO_TCP, GW_OUT, 22, A, 22)
    assert not napt.portmap_add(IP_PROTO_UDP, GW_OUT, 6000, A, 60)
    assert napt.portmap_add(IP_PROTO_UDP, GW_OUT, 5353, A2, 54)  # replaces the map of that port
    gw.from_outside(IP(src=B, dst=GW_OUT) / UDP(sport=1000, dport=5353) / b"hi")
    [p] = gw.inn()
    assert (p.dst, p[UDP].dport) == (A2, 54) and checksums_ok(p)
    with pytest.raises(ValueError):
        napt.portmap_add(1, GW_OUT, 1, A, 1)


def test_only_one_netif_at_a_time_and_the_error_says_why(gw):
    with pytest.raises(ValueError, match="one netif at a time, the inside one"):
        gw.stack.napt.enable(gw.outside)
    gw.stack.napt.enable(gw.inside)  # again on the same: nothing changes
    gw.stack.napt.disable(gw.inside)
    assert not gw.stack.napt.enabled
    gw.stack.napt.enable(gw.outside)
    assert gw.stack.napt.netif is gw.outside


def test_the_config_comes_from_an_sdkconfig_and_a_bad_port_range_is_refused():
    cfg = Config.from_sdkconfig("CONFIG_LWIP_IP_FORWARD=y\nCONFIG_LWIP_IPV4_NAPT=y\nCONFIG_LWIP_IPV4_NAPT_PORTMAP=n\n")
    assert cfg.ipv4_napt and cfg.ip_forward and not cfg.ipv4_napt_portmap
    s = Stack(cfg.replace(ip_napt_port_range_start=60000, ip_napt_port_range_end=50000), seed=1)
    n = s.add_netif(CaptureDevice(), ip="192.168.4.1/24")
    with pytest.raises(ValueError, match="IP_NAPT_PORT_RANGE_START"):
        s.napt.enable(n)
    s2 = Stack(cfg, seed=1)
    n2 = s2.add_netif(CaptureDevice(), ip="192.168.4.1/24")
    s2.napt.enable(n2)
    with pytest.raises(ValueError, match="CONFIG_LWIP_IPV4_NAPT_PORTMAP"):
        s2.napt.portmap_add(IP_PROTO_TCP, "10.0.0.2", 80, A, 80)


def test_enable_needs_the_config():
    s = Stack(Config(ip_forward=True), seed=1)
    n = s.add_netif(CaptureDevice(), ip="192.168.4.1/24")
    with pytest.raises(ValueError, match="CONFIG_LWIP_IPV4_NAPT"):
        s.napt.enable(n)


def test_without_napt_forwarding_is_unchanged():
    gw = Gateway()
    gw.stack.napt.disable()
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=5000, dport=53) / b"q")
    [p] = gw.out()
    assert p.src == A and p[UDP].sport == 5000 and p.ttl == 63 and checksums_ok(p)


def test_fragments_from_inside_are_dropped_and_counted(gw):
    gw.from_inside(IP(src=A, dst=B, flags="MF", id=5) / UDP(sport=5000, dport=53) / (b"x" * 16))
    gw.from_inside(IP(src=A, dst=B, frag=3, id=5, proto=17) / (b"y" * 16))
    assert gw.out() == []
    assert gw.stack.napt.get_stats().frag_drop == 2


def test_fragments_from_outside_are_reassembled_then_translated_when_reassembly_is_on():
    gw = Gateway(ip4_reassembly=True)
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53) / b"q")
    [p] = gw.out()
    whole = IP(src=B, dst=GW_OUT, id=77) / UDP(sport=53, dport=p[UDP].sport) / (b"z" * 2000)
    from scapy.layers.inet import fragment
    for frag in fragment(whole, fragsize=1000):
        gw.from_outside(frag)
    frames = gw.inn()
    assert len(frames) == 2  # fragmented again to the inside MTU
    assert all(f.dst == A for f in frames)
    from scapy.layers.inet import defragment
    [back] = defragment(frames)
    back = IP(bytes(back))
    assert back[UDP].dport == 50000 and len(back[UDP].payload) == 2000 and checksums_ok(back)


def test_fragments_from_outside_are_dropped_without_reassembly(gw):
    gw.from_inside(IP(src=A, dst=B) / UDP(sport=50000, dport=53) / b"q")
    [p] = gw.out()
    gw.from_outside(IP(src=B, dst=GW_OUT, flags="MF", id=1) / UDP(sport=53, dport=p[UDP].sport) / (b"z" * 16))
    assert gw.inn() == []


def test_ttl_expiry_at_the_gateway_is_answered_before_translation(gw):
    gw.from_inside(IP(src=A, dst=B, ttl=1) / UDP(sport=5000, dport=33434))
    assert gw.out() == []
    [e] = gw.inn()
    assert e[ICMP].type == 11 and e.dst == A and gw.stack.napt.entries() == []


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(csum=st.integers(0, 0xFFFF), words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8),
       new=st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8))
def test_rfc1624_adjustment_matches_a_full_recomputation(csum, words, new):
    rest = b"".join(w.to_bytes(2, "big") for w in words)
    old_field, new_field = rest[:4].ljust(4, b"\0"), b"".join(w.to_bytes(2, "big") for w in new[:2])
    data = old_field + rest[4:]
    c = checksum(data)
    adjusted = csum_adjust(c, int.from_bytes(old_field[:2], "big") + int.from_bytes(old_field[2:], "big"),
                           int.from_bytes(new_field[:2], "big") + int.from_bytes(new_field[2:], "big"))
    full = checksum(new_field + rest[4:])
    # equal as ones'-complement numbers (0x0000 and 0xFFFF are both zero)
    assert adjusted % 0xFFFF == full % 0xFFFF


_gw_for_fuzz = None


@settings(max_examples=examples(400), deadline=None)
@given(data=st.binary(min_size=0, max_size=120), proto=st.sampled_from([1, 6, 17, 2, 50]),
       inside=st.booleans(), frag=st.sampled_from([0, 0, 0x2000, 0x0003]), ttl=st.integers(0, 3))
def test_arbitrary_forwarded_packets_never_raise(data, proto, inside, frag, ttl):
    global _gw_for_fuzz
    if _gw_for_fuzz is None:
        _gw_for_fuzz = Gateway(ip4_reassembly=True)
        _gw_for_fuzz.stack.napt.portmap_add(IP_PROTO_TCP, GW_OUT, 8080, A, 80)
        _gw_for_fuzz.stack.napt.portmap_add(IP_PROTO_UDP, GW_OUT, 8080, A, 80)
    gw = _gw_for_fuzz
    src, dst = (A, B) if inside else (B, GW_OUT)
    hdr = IP(src=src, dst=dst, proto=proto, ttl=ttl + 1, flags=frag >> 13, frag=frag & 0x1FFF)
    raw = bytearray(bytes(hdr / data))
    (gw.from_inside if inside else gw.from_outside)(IP(bytes(raw)))
    # also with the transport bytes as found (a truncated/garbled header after a valid IP header)
    gw.now += 0.01
    gw.stack.poll(gw.now)
    gw.din.take()
    gw.dout.take()
    assert len(gw.stack.napt.table) <= gw.stack.config.ip_napt_max


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(min_size=0, max_size=80), proto=st.sampled_from([1, 6, 17]), inside=st.booleans(),
       csum_start=st.one_of(st.just(34), st.integers(0, 120)),
       csum_offset=st.one_of(st.sampled_from([6, 16]), st.integers(0, 40)), gso=st.sampled_from([0, 0, 1448]),
       napt=st.booleans())
def test_arbitrary_offloaded_frames_never_raise(data, proto, inside, csum_start, csum_offset, gso, napt):
    from lwipy.core.device import RxOffload
    global _gw_for_fuzz
    if _gw_for_fuzz is None:
        _gw_for_fuzz = Gateway(ip4_reassembly=True)
    gw = _gw_for_fuzz
    if napt != gw.stack.napt.enabled:
        gw.stack.napt.enable(gw.inside) if napt else gw.stack.napt.disable()
    src, dst = (A, B) if inside else (B, GW_OUT)
    mac_src, mac_dst = (A_MAC, GW_IN_MAC) if inside else (B_MAC, GW_OUT_MAC)
    frame = bytes(Ether(src=mac_src, dst=mac_dst) / IP(src=src, dst=dst, proto=proto) / data)
    gw.stack.input(gw.inside if inside else gw.outside, RxOffload(frame, csum_start, csum_offset, gso), gw.now)
    gw.din.take()
    gw.dout.take()
