"""Stateless DHCPv6 (RFC 8415 18.2.6): a client stack and a server stack on a virtual hub in virtual time.  The
server side is a UDP pcb on port 547 answering with Replies built by lwipy.wire.dhcp6; the router advertisement
with O=1 is crafted with scapy."""

from __future__ import annotations

import ipaddress

from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

from lwipy import Config
from lwipy.apps import Dhcp6
from lwipy.sim import Simulation
from lwipy.wire import dhcp6 as d6

DNS = "2001:db8::53"


def setup(answer=True, refresh=None):
    sim = Simulation(seed=9)
    hub = sim.hub()
    client = sim.add_stack("client", hub, Config(ipv6_send_router_solicit=False), ip6_linklocal=True)
    server = sim.add_stack("server", hub, Config(ipv6_send_router_solicit=False), ip6_linklocal=True)
    sim.run(3.0)
    requests = []
    srv = server.udp.new(ip6=True)
    srv.bind("::", d6.SERVER_PORT)
    srv.join_group(ipaddress.IPv6Address(d6.ALL_DHCP_RELAY_AGENTS_AND_SERVERS))

    def serve(pcb, dgram):
        msg = d6.Dhcp6Message.parse(dgram.data)
        requests.append((sim.now, msg))
        if not answer:
            return
        options = [d6.ServerId(d6.duid_ll(bytes(6))), msg.find(d6.ClientId),
                   d6.DnsServers([ipaddress.IPv6Address(DNS).packed]), d6.DomainList(["lwipy.test"])]
        if refresh is not None:
            options.append(d6.InformationRefreshTime(refresh))
        reply = d6.Dhcp6Message(d6.REPLY, msg.transaction_id, [o for o in options if o is not None])
        buf = bytearray(reply.buffer_len)
        reply.emit(buf)
        pcb.sendto(buf, dgram.src, dgram.src_port)
    srv.on_recv = serve
    dhcp = Dhcp6(client)
    netif = client.netifs[-1]
    return sim, client, server, dhcp, netif, requests


def send_ra(sim, stack, netif, other=True, managed=False):
    ra = Ether(src="02:00:00:00:00:fe", dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255) / \
        ICMPv6ND_RA(O=int(other), M=int(managed), routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe")
    stack.input(netif, bytes(ra), sim.now)


def test_an_ra_with_o_set_brings_the_dns_servers_and_search_list():
    sim, client, server, dhcp, netif, requests = setup()
    state = dhcp.enable_stateless(netif)
    assert state.send_at is None  # no advertisement yet: nothing asked
    send_ra(sim, client, netif)
    assert state.requesting and sim.now <= state.send_at <= sim.now + 1.0  # INF_MAX_DELAY
    sim.run(1.5)
    [(_, req)] = requests
    assert req.msg_type == d6.INFORMATION_REQUEST and req.transaction_id == state.xid
    assert req.find(d6.ClientId).duid == d6.duid_ll(netif.hwaddr)
    assert set(req.find(d6.OptionRequest).codes) >= {d6.DNS_SERVERS, d6.DOMAIN_LIST}
    assert state.dns_servers == [ipaddress.IPv6Address(DNS)] and state.domains == ["lwipy.test"]
    assert client.dns_servers6() == [ipaddress.IPv6Address(DNS)]
    assert not state.requesting and state.send_at is None  # answered: no more retransmissions
    assert abs(state.refresh_at - (requests[0][0] + d6.IRT_DEFAULT)) < 0.01  # no refresh time sent: a day


def test_retransmissions_back_off_per_rfc_8415_and_managed_ras_are_left_alone():
    sim, client, server, dhcp, netif, requests = setup(answer=False)
    dhcp.enable_stateless(netif)
    send_ra(sim, client, netif, managed=True)
    sim.run(2.0)
    assert requests == []  # M=1: addresses come from stateful DHCPv6, which lwIP does not do
    send_ra(sim, client, netif)
    sim.run(40.0)
    times = [t for t, _ in requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 5 and len({m.transaction_id for _, m in requests}) == 1
    expected = 1.0
    for gap in gaps:  # RT doubles, each within +-10 % (RFC 8415 15)
        assert 0.9 * expected - 0.01 <= gap <= 1.1 * expected + 0.01
        expected = gap * 2
    elapsed = [m.find(d6.ElapsedTime).centiseconds for _, m in requests]
    assert elapsed[0] <= 100 and elapsed == sorted(elapsed)


def test_the_information_refresh_time_has_a_600_second_floor():
    sim, client, server, dhcp, netif, requests = setup(refresh=60)
    state = dhcp.enable_stateless(netif)
    send_ra(sim, client, netif)
    sim.run(2.0)
    assert state.replies == 1
    got = requests[0][0]
    assert 600 - 2 <= state.refresh_at - got <= 600 + 0.01  # 60 was asked; RFC 8415 21.23 says at least 600
    sim.run(600.0)
    assert state.replies == 2 and len(requests) == 2
