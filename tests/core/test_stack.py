"""The Stack object: independent instances, deadlines, robustness of the entry points."""

import errno
import logging

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, CaptureDevice, make_stack
from lwipy import Stack
from lwipy.wire.ethernet import mac_to_str


def test_many_stacks_share_no_state():
    s1, n1, d1 = make_stack(ip="10.0.0.1/24", seed=1)
    s2, n2, d2 = make_stack(ip="10.0.0.1/24", seed=1)
    s1.etharp.add_static("10.0.0.9", PEER_MAC)
    p = s1.udp.new()
    p.bind(None, 5000)
    assert s2.etharp.entries() == [] and s2.udp.pcbs == []
    assert s1.udp is not s2.udp and s1.stats is not s2.stats and s2.udp.by_port == {}


def test_same_seed_same_behaviour():
    frames = []
    for _ in range(2):
        stack, netif, dev = make_stack(seed=42)
        pcb = stack.udp.new()
        pcb.bind(None, 0)
        stack.etharp.add_static("10.0.0.9", PEER_MAC)
        pcb.sendto(b"x", "10.0.0.9", 9)
        frames.append(dev.take())
    assert frames[0] == frames[1]  # same ephemeral port, same IP identifier


def test_poll_at_is_none_when_nothing_is_pending():
    stack = Stack(seed=1)
    assert stack.poll_at() is None
    stack.add_netif(CaptureDevice(), ip="10.0.0.1/24")
    assert stack.poll_at() == 60.0  # the periodic gratuitous ARP only


def test_a_failing_callback_is_counted_and_logged_not_raised_when_not_strict(caplog):
    stack, netif, dev = make_stack()
    stack.strict = False
    pcb = stack.udp.new()
    pcb.bind(None, 5000)

    def boom(p, d):
        raise RuntimeError("user bug")

    pcb.on_recv = boom
    frame = bytes(Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC)) / IP(src="10.0.0.9", dst="10.0.0.1") /
                  UDP(sport=1, dport=5000) / b"x")
    with caplog.at_level(logging.ERROR, logger="lwipy"):
        stack.input(netif, frame, 0.0)
    assert stack.stats.link.err == 1
    assert any("internal error" in r.message for r in caplog.records)
    pcb.on_recv = None
    stack.input(netif, frame, 0.1)
    assert len(pcb.queue) == 1


def test_netif_down_drops_input_and_refuses_output():
    stack, netif, dev = make_stack()
    stack.etharp.add_static("10.0.0.9", PEER_MAC)
    netif.set_up(False)
    pcb = stack.udp.new()
    try:
        pcb.sendto(b"x", "10.0.0.9", 9)
    except OSError as e:
        assert e.errno == errno.ENETDOWN  # the netif that would carry it is down (no route at all: EHOSTUNREACH)
    else:
        raise AssertionError("sending on a down netif should fail")
    stack.input(netif, bytes(Ether(dst=mac_to_str(OWN_MAC)) / IP(dst="10.0.0.1") / UDP()), 0.0)
    assert stack.stats.link.drop == 1


def test_remove_netif_forgets_its_state():
    stack, netif, dev = make_stack()
    stack.etharp.add_static("10.0.0.9", PEER_MAC)
    stack.igmp.join(netif, "239.0.0.1")
    stack.remove_netif(netif)
    assert stack.etharp.entries() == [] and stack.igmp.groups == {} and stack.default_netif is None


def test_vlan_ids_are_checked_when_the_netif_is_made():
    import pytest
    stack = Stack(seed=1)
    for bad in (0, 4095, 5000):
        with pytest.raises(ValueError):
            stack.add_netif(CaptureDevice(), vlan_id=bad)


def test_removing_a_netif_sends_nothing_on_it():
    stack, netif, dev = make_stack(esp_gratuitous_arp=False)
    stack.remove_netif(netif)
    assert dev.take() == []


def test_a_poller_that_raises_is_dropped_and_the_rest_still_run(caplog):
    stack, netif, dev = make_stack()
    stack.strict = False

    class Broken:
        def poll(self, now):
            raise RuntimeError("app bug")

        def poll_at(self):
            return 0.0

    stack.add_poller(Broken())
    stack.poll(60.0)  # the gratuitous ARP is due too
    assert stack.stats.link.err == 1 and len(dev.take()) == 1
    assert stack.poll_at() == 120.0  # the broken poller no longer keeps the stack due


def test_timeouts_deinit_stops_every_timer_until_timeouts_init():
    stack, netif, dev = make_stack()
    pcb = stack.udp.new()
    pcb.bind(None, 0)
    pcb.sendto(b"x", "10.0.0.9", 9)  # ARP request sent; retries and the gratuitous ARP are timed
    assert len(dev.take()) == 1 and stack.poll_at() == 1.0
    stack.timeouts_deinit()
    assert stack.poll_at() is None
    stack.poll(30.0)
    assert dev.take() == []  # no retry, no gratuitous ARP: nothing timed runs
    rx = stack.udp.new()
    rx.bind(None, 2)
    stack.input(netif, bytes(Ether(dst=mac_to_str(OWN_MAC), src=PEER_MAC) / IP(src="10.0.0.9", dst="10.0.0.1") /
                             UDP(sport=1, dport=2) / b"hi"), 30.0)
    assert rx.recv().data == b"hi"  # frames are still taken
    assert len(stack.etharp.entries()) == 1  # the pending entry did not expire
    stack.timeouts_init()
    assert stack.poll_at() is not None and stack.poll_at() <= 30.0
    stack.poll(30.0)
    assert stack.etharp.entries() == []  # what fell due meanwhile runs now
    stack.poll(60.0)
    assert len(dev.take()) == 1  # the periodic gratuitous ARP is back
