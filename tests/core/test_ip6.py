"""IPv6 in the core: link-local addresses and DAD, neighbour discovery, echo, extension headers, router
advertisements with SLAAC/RDNSS/routes, and MLD, in virtual time with exact deadlines; scapy crafts what a peer
sends (an independent encoder)."""

from __future__ import annotations

import ipaddress

from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6MLQuery, ICMPv6MLReport, ICMPv6ND_NA,
                                ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS,
                                ICMPv6NDOptRouteInfo, ICMPv6NDOptSrcLLAddr, ICMPv6ParamProblem, IPv6,
                                IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, HBHOptUnknown)
from scapy.layers.l2 import Ether

from helpers import CaptureDevice
from lwipy import Config, Stack
from lwipy.core.addr6 import (DEPRECATED, DUPLICATED, PREFERRED, TENTATIVE, link_local_from_mac, solicited_node)
from lwipy.core.nd6 import DELAY, PROBE, REACHABLE, STALE
from lwipy.core.pbuf import Pbuf
from lwipy.sim import Simulation
from lwipy.wire import icmpv6 as w6
from lwipy.wire.icmpv6 import Icmp6Header

MAC = bytes.fromhex("020000aabb01")
PEER_MAC = "02:00:00:cc:dd:02"
LL = link_local_from_mac(MAC)
LL_TEXT = str(ipaddress.IPv6Address(LL))
PEER_LL = "fe80::cc:ddff:fe00:2"
ROUTER_LL = "fe80::1"


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def host(**options):
    """A strict stack with a (tentative) link-local address on a CaptureDevice; router solicitations off unless
    asked for, so that tests about something else see no more than it."""
    options.setdefault("ipv6_send_router_solicit", False)
    stack = Stack(Config(**options), seed=5, strict=True)
    dev = CaptureDevice()
    netif = stack.add_netif(dev, hwaddr=MAC, ip6_linklocal=True)
    return stack, netif, dev


def settle(stack, until):
    while (t := stack.poll_at()) is not None and t <= until:
        stack.poll(t)
    stack.now = until


def frames(dev, mld=False):
    """What the stack sent; without ``mld`` its MLD reports (periodic every 40 s, ESP_MLDV6_REPORT) left out."""
    return [f for f in map(Ether, dev.take()) if mld or not f.haslayer(ICMPv6MLReport)]


def send(stack, netif, pkt, now=None):
    stack.input(netif, bytes(Ether(dst=pkt_dst_mac(pkt), src=PEER_MAC) / pkt), stack.now if now is None else now)


def pkt_dst_mac(pkt):
    dst = v6(pkt[IPv6].dst)
    return "33:33:" + ":".join(f"{b:02x}" for b in dst[12:]) if dst[0] == 0xFF else "02:00:00:aa:bb:01"


def test_link_local_is_tentative_then_preferred_after_dad():
    stack, netif, dev = host()
    a = netif.ip6_addrs[0]
    assert a.addr == LL and a.state == TENTATIVE and netif.ip6_groups == {solicited_node(LL): 1}
    out = frames(dev, mld=True)
    assert out[0][ICMPv6MLReport].mladdr == str(ipaddress.IPv6Address(solicited_node(LL)))  # joined at once
    assert out[0][IPv6].hlim == 1 and out[0].haslayer(IPv6ExtHdrHopByHop)
    dad_at = a.dad_at
    assert 0 <= dad_at <= 1.0
    settle(stack, dad_at)
    [ns] = [f for f in frames(dev) if f.haslayer(ICMPv6ND_NS)]
    assert ns[IPv6].src == "::" and ns[IPv6].dst == str(ipaddress.IPv6Address(solicited_node(LL)))
    assert ns[ICMPv6ND_NS].tgt == LL_TEXT and not ns.haslayer(ICMPv6NDOptSrcLLAddr) and ns[IPv6].hlim == 255
    assert a.state == TENTATIVE
    settle(stack, dad_at + 1.0)  # RetransTimer without an answer
    assert a.state == PREFERRED and netif.ip6_preferred() == [ipaddress.IPv6Address(LL)]


def test_dad_fails_when_another_node_answers_or_probes_the_same_address():
    for peer in (IPv6(src=PEER_LL, dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt=LL_TEXT, R=0, S=0, O=1),
                 IPv6(src="::", dst=str(ipaddress.IPv6Address(solicited_node(LL))), hlim=255) / ICMPv6ND_NS(tgt=LL_TEXT)):
        stack, netif, dev = host()
        send(stack, netif, peer, 0.1)
        assert netif.ip6_addrs[0].state == DUPLICATED
        assert not stack.is_own_address6(LL)  # another node's: nothing loops back to it or binds it
        settle(stack, 5)
        assert not [f for f in frames(dev) if f.haslayer(ICMPv6ND_NS) and f[IPv6].src == "::" and
                    f[ICMPv6ND_NS].tgt == LL_TEXT]  # no more probes for it


def ready(**options):
    stack, netif, dev = host(**options)
    settle(stack, 2.0)
    dev.take()
    return stack, netif, dev


def test_echo_and_neighbour_discovery_with_a_peer():
    stack, netif, dev = ready()
    ping = IPv6(src=PEER_LL, dst=LL_TEXT) / ICMPv6EchoRequest(id=7, seq=1, data=b"hello")
    send(stack, netif, ping)
    [ns] = frames(dev)  # the reply waits: the peer's MAC is not known yet
    assert ns[ICMPv6ND_NS].tgt == PEER_LL and ns[IPv6].dst == "ff02::1:ff00:2"
    assert ns[ICMPv6NDOptSrcLLAddr].lladdr == "02:00:00:aa:bb:01"
    n = stack.nd6.lookup(v6(PEER_LL), netif)
    assert n.state == "INCOMPLETE" and len(n.queue) == 1
    send(stack, netif, IPv6(src=PEER_LL, dst=LL_TEXT, hlim=255) / ICMPv6ND_NA(tgt=PEER_LL, S=1, O=1) /
         ICMPv6NDOptDstLL())
    [reply] = frames(dev)
    assert reply.dst == PEER_MAC and reply[ICMPv6EchoReply].id == 7 and reply[ICMPv6EchoReply].data == b"hello"
    assert n.state == REACHABLE and n.at == stack.now + 30.0
    settle(stack, stack.now + 30.0)
    assert n.state == STALE
    send(stack, netif, ping)  # sending to a STALE neighbour: DELAY, then PROBE after 5 s
    assert frames(dev)[0].haslayer(ICMPv6EchoReply) and n.state == DELAY
    t = stack.now
    settle(stack, t + 5.0)
    [probe] = frames(dev)
    assert n.state == PROBE and probe[IPv6].dst == PEER_LL and probe.dst == PEER_MAC  # unicast probe
    settle(stack, t + 5.0 + 3 * 1.0)
    assert stack.nd6.lookup(v6(PEER_LL), netif) is None  # three unanswered probes: gone


def ICMPv6NDOptDstLL():
    from scapy.layers.inet6 import ICMPv6NDOptDstLLAddr
    return ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC)


def test_we_answer_neighbour_solicitations_for_our_address():
    stack, netif, dev = ready()
    send(stack, netif, IPv6(src=PEER_LL, dst=str(ipaddress.IPv6Address(solicited_node(LL))), hlim=255) /
         ICMPv6ND_NS(tgt=LL_TEXT) / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC))
    [na] = frames(dev)
    assert na[IPv6].dst == PEER_LL and na.dst == PEER_MAC  # the solicitation taught us the MAC
    assert na[ICMPv6ND_NA].S == 1 and na[ICMPv6ND_NA].O == 1 and na[ICMPv6ND_NA].tgt == LL_TEXT
    assert stack.nd6.lookup(v6(PEER_LL), netif).state == DELAY  # learnt STALE, then our answer went to it
    before = stack.stats.nd6.drop
    send(stack, netif, IPv6(src=PEER_LL, dst=LL_TEXT, hlim=64) / ICMPv6ND_NS(tgt=LL_TEXT))
    assert frames(dev) == [] and stack.stats.nd6.drop == before + 1  # hop limit not 255: not from this link


def test_extension_headers_and_parameter_problems():
    stack, netif, dev = ready()
    stack.nd6.learn(netif, v6(PEER_LL), bytes.fromhex(PEER_MAC.replace(":", "")))
    base = IPv6(src=PEER_LL, dst=LL_TEXT)
    send(stack, netif, base / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=1))
    assert frames(dev)[0].haslayer(ICMPv6EchoReply)  # options header with only padding: read on
    send(stack, netif, IPv6(src=PEER_LL, dst=LL_TEXT, nh=253) / b"unknown upper layer")
    [pp] = frames(dev)
    assert pp[ICMPv6ParamProblem].code == 1 and pp[ICMPv6ParamProblem].ptr == 6
    send(stack, netif, base / IPv6ExtHdrRouting(addresses=["2001:db8::1"], segleft=1) / ICMPv6EchoRequest())
    [pp] = frames(dev)
    assert pp[ICMPv6ParamProblem].code == 0 and pp[ICMPv6ParamProblem].ptr == 42
    send(stack, netif, base / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x9E, optdata=b"x")]) /
         ICMPv6EchoRequest())
    [pp] = frames(dev)
    assert pp[ICMPv6ParamProblem].code == 2 and pp[ICMPv6ParamProblem].ptr == 42
    send(stack, netif, base / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x1E, optdata=b"x")]) /
         ICMPv6EchoRequest())
    assert frames(dev)[0].haslayer(ICMPv6EchoReply)  # action 00: skipped
    send(stack, netif, base / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest())
    [pp] = frames(dev)
    assert pp[ICMPv6ParamProblem].code == 1 and pp[ICMPv6ParamProblem].ptr == 40
    send(stack, netif, IPv6(src=PEER_LL, dst="ff02::1") / ICMPv6EchoRequest())
    assert frames(dev) == []  # no answer to a multicast ping (LWIP_MULTICAST_PING 0)
    send(stack, netif, IPv6(src=PEER_LL, dst="ff02::1", nh=253) / b"x")
    assert frames(dev) == []  # no error about a multicast packet


RA_SRC = ROUTER_LL
ROUTER_MAC = "02:00:00:00:00:fe"


def ra(*options, lifetime=1800, **fields):
    pkt = IPv6(src=RA_SRC, dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=lifetime, **fields) / \
        ICMPv6NDOptSrcLLAddr(lladdr=ROUTER_MAC)
    for o in options:
        pkt = pkt / o
    return pkt


def test_router_solicitations_until_an_advertisement_and_slaac():
    stack, netif, dev = host(ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=2, ipv6_send_router_solicit=True)
    first = netif.rs_at
    settle(stack, first)
    rs = [f for f in frames(dev) if f[IPv6].dst == "ff02::2"]
    assert len(rs) == 1 and rs[0][IPv6].src == "::"  # before DAD finished: from the unspecified address
    settle(stack, first + 4.0)
    rs = [f for f in frames(dev) if f[IPv6].dst == "ff02::2"]
    assert len(rs) == 1 and rs[0][IPv6].src == LL_TEXT and rs[0].haslayer(ICMPv6NDOptSrcLLAddr)
    send(stack, netif, ra(ICMPv6NDOptMTU(mtu=1400),
                          ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64, validlifetime=86400,
                                                preferredlifetime=1800),
                          ICMPv6NDOptRDNSS(dns=["2001:db8::53"], lifetime=600),
                          ICMPv6NDOptRouteInfo(prefix="2001:db8:ff::", plen=48, rtlifetime=900), chlim=33))
    assert netif.rs_at is None and netif.hop_limit6 == 33 and netif.mtu6 == 1400
    slaac = next(a for a in netif.ip6_addrs if a.origin == "slaac")
    assert slaac.address == ipaddress.IPv6Address("2001:db8:1::ff:feaa:bb01") and slaac.state == TENTATIVE  # EUI-64
    assert stack.nd6.dns_servers == [(v6("2001:db8::53"), stack.now + 600)]
    assert [(r.addr, r.until) for r in stack.nd6.routers] == [(v6(ROUTER_LL), stack.now + 1800)]
    assert stack.ip6.route(v6("2001:db8:1::99")) == (netif, v6("2001:db8:1::99"))  # on-link prefix
    assert stack.ip6.route(v6("2001:db8:ff::9")) == (netif, v6(ROUTER_LL))  # the RFC 4191 route
    assert stack.ip6.route(v6("2600::1")) == (netif, v6(ROUTER_LL))  # the default router
    t = stack.now
    settle(stack, t + 2.0)
    assert slaac.state == PREFERRED
    assert stack.ip6.select_source(netif, v6("2600::1")) == slaac.addr
    assert stack.ip6.select_source(netif, v6("fe80::9")) == LL
    settle(stack, t + 1800)
    assert slaac.state == DEPRECATED and stack.nd6.routers == []  # preferred lifetime over; router lifetime over
    send(stack, netif, ra(ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64, validlifetime=60,
                                                preferredlifetime=30)))
    assert slaac.state == PREFERRED and slaac.valid_until == stack.now + 7200  # RFC 4862 5.5.3 e): not 60 s
    settle(stack, stack.now + 7200)
    assert slaac not in netif.ip6_addrs


def test_ra_needs_a_link_local_source_and_hop_limit_255():
    stack, netif, dev = ready(ipv6_autoconfig=True)
    bad = ra(ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64))
    bad[IPv6].src = "2001:db8::1"
    send(stack, netif, bad)
    bad = ra(ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64))
    bad[IPv6].hlim = 64
    send(stack, netif, bad)
    assert stack.nd6.routers == [] and len(netif.ip6_addrs) == 1


def test_mld_answers_queries_with_a_random_delay_and_suppresses_on_another_report():
    stack, netif, dev = ready()
    group = v6("ff02::1234")
    stack.mld6.join(netif, group)
    out = frames(dev, mld=True)
    assert out[0][ICMPv6MLReport].mladdr == "ff02::1234" and out[0][IPv6].dst == "ff02::1234"
    settle(stack, stack.now + 10.0)
    assert len([f for f in frames(dev, mld=True) if f.haslayer(ICMPv6MLReport)]) == 1  # the repeated one
    send(stack, netif, IPv6(src=ROUTER_LL, dst="ff02::1", hlim=1) / ICMPv6MLQuery(mrd=5000, mladdr="::"))
    due = [g.report_at for g in stack.mld6.groups[netif.index].values() if g.report_at is not None]
    assert len(due) == 2 and all(stack.now <= t <= stack.now + 5.0 for t in due)  # ours and the solicited-node
    send(stack, netif, IPv6(src=PEER_LL, dst="ff02::1234", hlim=1) / ICMPv6MLReport(mladdr="ff02::1234"))
    settle(stack, stack.now + 5.0)
    reported = [f[ICMPv6MLReport].mladdr for f in frames(dev, mld=True) if f.haslayer(ICMPv6MLReport)]
    assert reported == [str(ipaddress.IPv6Address(solicited_node(LL)))]  # ff02::1234 was suppressed
    stack.mld6.leave(netif, group)
    assert not frames(dev, mld=True)  # we were not the last to report it: no Done
    assert group not in netif.ip6_groups


def test_input_to_another_address_or_a_group_not_joined_is_dropped():
    stack, netif, dev = ready()
    drops = stack.stats.ip6.drop
    send(stack, netif, IPv6(src=PEER_LL, dst="fe80::9999") / ICMPv6EchoRequest())
    send(stack, netif, IPv6(src=PEER_LL, dst="ff02::4242") / ICMPv6EchoRequest())
    send(stack, netif, IPv6(src="ff02::1", dst=LL_TEXT) / ICMPv6EchoRequest())
    assert frames(dev) == [] and stack.stats.ip6.drop == drops + 3


def test_two_stacks_ping_each_other_over_ipv6_under_loss():
    sim = Simulation(seed=3)
    hub = sim.hub()
    a = sim.add_stack("a", hub, Config(), ip6_linklocal=True, faults=dict(loss=0.1))
    b = sim.add_stack("b", hub, Config(), ip6_linklocal=True)
    na, nb = a.netifs[-1], b.netifs[-1]
    sim.run(3.0)
    assert na.ip6_addrs[0].state == PREFERRED and nb.ip6_addrs[0].state == PREFERRED
    replies = []
    a.icmp6.echo_handlers.append(lambda pkt, hdr, data: replies.append(hdr.seq))
    for seq in range(20):
        pbuf = Pbuf.with_payload(b"x" * 56)
        off = pbuf.push(8)
        src, dst = na.ip6_addrs[0].addr, nb.ip6_addrs[0].addr
        Icmp6Header.echo(w6.ECHO_REQUEST, 1, seq).emit(pbuf.buf, off, 56, src, dst)
        a.ip6.output(pbuf, src, dst, w6.PROTO_ICMPV6)
        sim.run(0.5)
    assert 10 <= len(set(replies)) <= 20  # a 10% lossy link each way, resolution included
    assert b.nd6.lookup(na.ip6_addrs[0].addr, nb) is not None
