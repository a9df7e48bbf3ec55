"""Netif events (lwipy.core.events): the exact sequence a subscriber sees through a netif's life, in virtual time;
the core's reactions (gratuitous ARP, DAD) run through the same subscriptions; router advertisements and
solicitations reach apps as events."""

from ipaddress import IPv4Address, IPv4Interface, IPv6Address

import pytest

from helpers import OWN_MAC, CaptureDevice
from lwipy import Config, Stack
from lwipy.core.events import (DefaultNetifChanged, Ip4AddressChanged, Ip6AddressAdded, Ip6AddressRemoved,
                               Ip6AddressStateChanged, LinkDown, LinkUp, NetifAdded, NetifDown, NetifEvent,
                               NetifRemoved, NetifUp, RouterAdvertReceived)
from lwipy.wire.arp import ArpPacket
from lwipy.wire.ethernet import ETHERTYPE_ARP, EthernetHeader


class NoCarrier(CaptureDevice):
    link_up = False


def run_until(stack, done, limit):
    while not done() and (at := stack.poll_at()) is not None and at <= limit:
        stack.poll(at)
    assert done()


def test_a_subscriber_sees_the_exact_sequence_of_a_netif_life_in_virtual_time():
    stack = Stack(Config(), seed=3, strict=True)
    seen = []
    stack.events.subscribe(None, lambda e: seen.append((stack.now, e)))
    dev = NoCarrier()

    netif = stack.add_netif(dev, up=False, hwaddr=OWN_MAC)
    netif.set_up()
    netif.set_link_up()
    netif.set_ipv4("10.0.0.2/24", "10.0.0.1")
    a = netif.add_ip6_address("2001:db8::2", 64)
    probe_at = a.dad_at
    run_until(stack, lambda: a.state != "tentative", 10.0)
    netif.remove_ip6_address("2001:db8::2")
    netif.set_ipv4(None)
    netif.set_link_up(False)
    netif.set_up(False)
    stack.remove_netif(netif)

    addr = IPv6Address("2001:db8::2")
    dad_done = probe_at + 1.0  # one probe (ipv6_dup_detect_attempts), then RetransTimer (1 s) without an answer
    assert seen == [
        (0.0, NetifAdded(netif)),
        (0.0, DefaultNetifChanged(None, netif)),
        (0.0, NetifUp(netif)),
        (0.0, LinkUp(netif)),
        (0.0, Ip4AddressChanged(netif, None, IPv4Interface("10.0.0.2/24"), None, IPv4Address("10.0.0.1"))),
        (0.0, Ip6AddressAdded(netif, addr, 64, "tentative", "static")),
        (dad_done, Ip6AddressStateChanged(netif, addr, "tentative", "preferred")),
        (dad_done, Ip6AddressRemoved(netif, addr, "preferred")),
        (dad_done, Ip4AddressChanged(netif, IPv4Interface("10.0.0.2/24"), None, IPv4Address("10.0.0.1"), None)),
        (dad_done, LinkDown(netif)),
        (dad_done, NetifDown(netif)),
        (dad_done, NetifRemoved(netif)),
        (dad_done, DefaultNetifChanged(netif, None)),
    ]
    assert 0.0 < probe_at < 1.0


def test_subscribing_to_a_kind_or_a_base_class_and_cancelling():
    stack = Stack(Config(), seed=1, strict=True)
    ups, any_netif = [], []
    sub = stack.events.subscribe(NetifUp, ups.append)
    stack.events.subscribe(NetifEvent, any_netif.append)
    netif = stack.add_netif(CaptureDevice(), up=False)
    netif.set_up()
    sub.cancel()
    netif.set_up(False)
    netif.set_up()
    assert ups == [NetifUp(netif)]
    assert [type(e) for e in any_netif] == [NetifAdded, LinkUp, NetifUp, NetifDown, NetifUp]  # not DefaultNetifChanged
    with pytest.raises(TypeError):
        stack.events.subscribe("NetifUp", print)


def test_no_event_when_nothing_changes():
    stack = Stack(Config(), seed=1, strict=True)
    netif = stack.add_netif(CaptureDevice(), ip="10.0.0.2/24")
    seen = []
    stack.events.subscribe(None, seen.append)
    netif.set_up()
    netif.set_link_up()
    netif.set_ipv4("10.0.0.2/24")
    assert seen == []


def arp_requests(frames):
    out = []
    for f in frames:
        eth, payload = EthernetHeader.parse(f)
        if eth.ethertype == ETHERTYPE_ARP:
            out.append(ArpPacket.parse(payload))
    return out


def test_gratuitous_arp_follows_the_events_and_a_subscriber_that_raises_is_counted_not_fatal():
    stack = Stack(Config(), seed=1)  # not strict: a raising subscriber is logged and counted
    netif = stack.add_netif(NoCarrier(), ip="10.0.0.2/24", hwaddr=OWN_MAC)
    dev = netif.device
    stack.events.subscribe(LinkUp, lambda e: 1 / 0)
    assert arp_requests(dev.take()) == []  # no carrier: no announcement yet
    netif.set_link_up()
    garp = arp_requests(dev.take())
    assert len(garp) == 1 and garp[0].sender_ip == garp[0].target_ip == IPv4Address("10.0.0.2").packed
    assert stack.stats.link.err == 1
    netif.set_ipv4("10.0.0.3/24")
    assert [p.target_ip for p in arp_requests(dev.take())] == [IPv4Address("10.0.0.3").packed]


def test_the_default_netif_follows_route_priority_and_moves_when_one_goes_down():
    stack = Stack(Config(), seed=1, strict=True)
    changes = []
    stack.events.subscribe(DefaultNetifChanged, lambda e: changes.append((e.old and e.old.name, e.new and e.new.name)))
    wifi = stack.add_netif(CaptureDevice(), name="wifi", ip="10.0.1.2/24", gateway="10.0.1.1", route_prio=100)
    eth = stack.add_netif(CaptureDevice(), name="eth", ip="10.0.2.2/24", gateway="10.0.2.1", route_prio=50)
    assert stack.default_netif is wifi
    eth.set_route_prio(200)
    assert stack.default_netif is eth
    eth.set_link_up(False)
    assert stack.default_netif is wifi
    assert stack.ip4.route(IPv4Address("192.0.2.9")) == (wifi, IPv4Address("10.0.1.1"))
    eth.set_link_up(True)
    assert stack.default_netif is eth
    stack.set_default_netif(wifi)  # by hand: it stays, down or not
    eth.set_up(False)
    eth.set_up(True)
    assert stack.default_netif is wifi
    stack.set_default_netif(None)  # back to route priority
    assert stack.default_netif is eth
    assert changes == [(None, "wifi"), ("wifi", "eth"), ("eth", "wifi"), ("wifi", "eth"), ("eth", "wifi"),
                       ("wifi", "eth")]


def test_router_advertisements_reach_subscribers_with_their_flags():
    from lwipy.sim import Simulation
    from lwipy.apps import AdvertConfig, RouterAdvertiser
    sim = Simulation(seed=2)
    hub = sim.hub()
    router = sim.add_stack("r", hub, ip6_linklocal=True, ip6="2001:db8::1/64")
    host = sim.add_stack("h", hub, ip6_linklocal=True)
    got = []
    host.events.subscribe(RouterAdvertReceived, got.append)
    RouterAdvertiser(router).advertise(router.netif_by_name("en0"), AdvertConfig(other=True, max_interval=4))
    sim.run_until(lambda: bool(got), 10)
    ev = got[0]
    assert ev.netif is host.netif_by_name("en0") and ev.other and not ev.managed and ev.router_lifetime == 12
    assert IPv6Address(ev.router).is_link_local


def test_a_duplicate_address_found_by_dad_is_an_event():
    from lwipy.sim import Simulation
    sim = Simulation(seed=4)
    hub = sim.hub()
    sim.add_stack("owner", hub, Config(ipv6_dup_detect_attempts=0), ip6_linklocal=True, ip6="2001:db8::5/64")
    b = sim.add_stack("b", hub, ip6_linklocal=True)
    sim.run(3)
    changes = []
    b.events.subscribe(Ip6AddressStateChanged, changes.append)
    en0 = b.netif_by_name("en0")
    en0.add_ip6_address("2001:db8::5", 64)
    sim.run(3)
    assert changes == [Ip6AddressStateChanged(en0, IPv6Address("2001:db8::5"), "tentative", "duplicated")]
    assert not b.is_own_address6(IPv6Address("2001:db8::5").packed)
