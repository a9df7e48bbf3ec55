"""Address acquisition plumbing, as DHCP needs it: a datagram from 0.0.0.0 to 255.255.255.255 out of a named netif
that has no address (lwIP's udp_sendto_if); replies to port 68 and to LWIP_IP_ACCEPT_UDP_PORT taken before the
netif has an address, unicast or broadcast; a netif without an address answers no ARP and originates nothing else."""

from ipaddress import IPv4Address

import pytest

from lwipy import Config, LwipError
from lwipy.sim import Simulation
from lwipy.wire.arp import OP_REPLY, ArpPacket
from lwipy.wire.ethernet import ETHERTYPE_ARP, EthernetHeader

ANY = IPv4Address("0.0.0.0")


def network(**options):
    sim = Simulation(seed=9)
    hub = sim.hub()
    frames = []
    hub.taps.append(lambda port, frame: frames.append(bytes(frame)))
    server = sim.add_stack("server", hub, ip="10.0.0.1/24")
    client = sim.add_stack("client", hub, Config(**options))  # no address
    netif = client.netif_by_name("en0")
    return sim, server, client, netif, frames


def from_mac(frames, mac):
    return [EthernetHeader.parse(f) for f in frames if EthernetHeader.parse(f)[0].src == mac]


def test_a_datagram_from_0_0_0_0_to_the_broadcast_leaves_an_address_less_netif_by_name():
    sim, server, client, netif, frames = network()
    got = []
    srv = server.udp.new()
    srv.bind(None, 67)
    srv.on_recv = lambda pcb, d: got.append(d)
    pcb = client.udp.new()
    pcb.bind(None, 68)
    with pytest.raises(LwipError):
        pcb.sendto(b"no route, no address", "255.255.255.255", 67)  # udp_sendto: nothing to send from
    pcb.sendto_netif(b"DISCOVER", "255.255.255.255", 67, netif)
    bound = client.udp.new()
    bound.netif = netif  # SO_BINDTODEVICE, lwIP's netif_idx: sendto goes out of it too
    bound.sendto(b"DISCOVER 2", "255.255.255.255", 67)
    sim.run(1)
    assert [(d.data, d.src, d.src_port, d.dst) for d in got] == [
        (b"DISCOVER", ANY, 68, IPv4Address("255.255.255.255")),
        (b"DISCOVER 2", ANY, bound.local_port, IPv4Address("255.255.255.255"))]
    sent = from_mac(frames, netif.hwaddr)
    assert len(sent) == 2 and all(eth.dst == b"\xff" * 6 for eth, _ in sent)  # nothing else: no ARP, no IGMP


@pytest.mark.parametrize("port, options", [(68, {}), (6800, {"ip_accept_udp_port": 6800})])
def test_replies_to_the_accepted_port_arrive_before_the_netif_has_an_address(port, options):
    sim, server, client, netif, frames = network(**options)
    got = []
    pcb = client.udp.new()
    pcb.bind(None, port)
    pcb.on_recv = lambda p, d: got.append((d.data, d.dst))
    server.etharp.add_static("10.0.0.77", netif.hwaddr)  # as a DHCP server sends to the chaddr
    srv = server.udp.new()
    srv.bind(None, 67)
    srv.sendto(b"OFFER unicast", "10.0.0.77", port)
    srv.sendto(b"OFFER broadcast", "255.255.255.255", port)
    sim.run(1)
    assert got == [(b"OFFER unicast", IPv4Address("10.0.0.77")),
                   (b"OFFER broadcast", IPv4Address("255.255.255.255"))]


def test_other_ports_to_an_address_not_ours_are_dropped_without_an_icmp_error():
    sim, server, client, netif, frames = network(ip_accept_udp_port=6800)
    netif.set_ipv4("10.0.0.5/24")
    got = []
    pcb = client.udp.new()
    pcb.bind(None, 6900)
    pcb.on_recv = lambda p, d: got.append(d)
    server.etharp.add_static("10.0.0.77", netif.hwaddr)
    srv = server.udp.new()
    srv.bind(None, 67)
    srv.sendto(b"not for 6900", "10.0.0.77", 6900)  # a port that is not accepted: not ours
    srv.sendto(b"to 6800, nobody listens", "10.0.0.77", 6800)  # accepted, but no pcb: silently dropped
    frames.clear()
    sim.run(1)
    assert got == [] and client.stats.icmp.xmit == 0
    assert from_mac(frames, netif.hwaddr) == []


def test_an_address_less_netif_answers_no_arp_and_0_0_0_0_means_no_address():
    sim, server, client, netif, frames = network()
    netif.set_ipv4("0.0.0.0/0")
    assert netif.ip4 is None and not client.is_own_address(ANY)
    server.etharp.request(server.netif_by_name("en0"), IPv4Address("10.0.0.77"))
    server.etharp.request(server.netif_by_name("en0"), ANY)
    sim.run(1)
    assert from_mac(frames, netif.hwaddr) == []
    netif.set_ipv4("10.0.0.77/24")  # once it has one, it announces it and answers
    frames.clear()
    server.etharp.request(server.netif_by_name("en0"), IPv4Address("10.0.0.77"))
    sim.run(1)
    arp = [ArpPacket.parse(p) for eth, p in from_mac(frames, netif.hwaddr) if eth.ethertype == ETHERTYPE_ARP]
    assert [a.op for a in arp] == [OP_REPLY]
