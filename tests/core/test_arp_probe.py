"""ARP as DHCP's address check needs it (lwIP's etharp_input with LWIP_DHCP_DOES_ARP_CHECK): a probe from 0.0.0.0 for
our address is answered; an ARP reply reaches subscribers of ArpReplyReceived even on a netif without an address; such
a netif refreshes an entry it has (so a RELEASE queued before the address went still leaves) and learns nothing new."""

from ipaddress import IPv4Address

from lwipy.core.events import ArpReplyReceived
from lwipy.sim import Simulation
from lwipy.wire.arp import OP_REPLY, ArpPacket
from lwipy.wire.ethernet import ETHERTYPE_ARP, EthernetHeader


def segment():
    sim = Simulation(seed=2)
    hub = sim.hub()
    frames = []
    hub.taps.append(lambda port, frame: frames.append(bytes(frame)))
    holder = sim.add_stack("holder", hub, ip="10.0.0.5/24")
    prober = sim.add_stack("prober", hub)
    return sim, frames, holder, prober, prober.netif_by_name("en0")


def arp_from(frames, mac):
    out = []
    for f in frames:
        eth, payload = EthernetHeader.parse(f)
        if eth.ethertype == ETHERTYPE_ARP and eth.src == mac:
            out.append((eth.dst, ArpPacket.parse(payload)))
    return out


def test_a_probe_for_our_address_is_answered_to_the_prober_and_reported_to_subscribers():
    sim, frames, holder, prober, netif = segment()
    got = []
    prober.events.subscribe(ArpReplyReceived, got.append)
    prober.etharp.probe(netif, IPv4Address("10.0.0.5"))
    prober.etharp.probe(netif, IPv4Address("10.0.0.6"))  # nobody has it: no answer
    sim.run(1)
    probe = arp_from(frames, netif.hwaddr)[0][1]
    assert probe.sender_ip == bytes(4) and probe.target_ip == IPv4Address("10.0.0.5").packed
    replies = arp_from(frames, holder.netif_by_name("en0").hwaddr)
    assert [(dst, a.op, a.target_ip) for dst, a in replies if a.op == OP_REPLY] == [(netif.hwaddr, OP_REPLY, bytes(4))]
    assert [(e.netif, e.sender_ip) for e in got] == [(netif, IPv4Address("10.0.0.5"))]
    assert holder.etharp.lookup("0.0.0.0") is None  # a probe teaches nothing


def test_an_address_less_netif_refreshes_a_known_entry_and_learns_no_new_one():
    sim, frames, holder, prober, netif = segment()
    netif.set_ipv4("10.0.0.9/24")
    pcb = prober.udp.new()
    pcb.sendto(b"queued", "10.0.0.5", 9)  # ARP pending for 10.0.0.5, the datagram queued on it
    netif.set_ipv4(None)  # the address goes before the reply comes (as at a RELEASE)
    got = []
    srv = holder.udp.new()
    srv.bind(None, 9)
    srv.on_recv = lambda p, d: got.append(d.data)
    sim.run(1)
    assert got == [b"queued"] and prober.etharp.lookup("10.0.0.5") == holder.netif_by_name("en0").hwaddr
    holder.etharp.request(holder.netif_by_name("en0"), IPv4Address("10.0.0.77"))
    sim.run(1)
    assert prober.etharp.lookup("10.0.0.77") is None
