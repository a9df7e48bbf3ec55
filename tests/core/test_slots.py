"""slots11: the core objects a request or a bulk transfer reads most keep their fields in ``__slots__`` (``Stack`` and
``Netif`` have more fields than CPython's shared-key instance dicts hold, so each read or write went through an
unshared dict, and a method call on them was not specialised).  A slot hides any class default or descriptor of its
name, so every slot must be set by ``__init__``; and a field set later and not declared would go back to the dict."""

from __future__ import annotations

import pytest

from helpers import connected, send_all, serve_collect, transfer
from lwipy.core.netif import Netif
from lwipy.core.stack import Stack
from lwipy.core.tcp.tcp import Tcp

SLOTTED = [Stack, Netif, Tcp]


def _slots(cls: type) -> list[str]:
    return [name for name in cls.__slots__ if name != "__dict__"]


def _objects(stack: Stack) -> list:
    return [stack, stack.tcp, *stack.netifs]


@pytest.mark.parametrize("cls", SLOTTED, ids=lambda c: c.__name__)
def test_no_slot_hides_a_bases_attribute(cls):
    """A slot named as a base's property, method or class default would hide it (the class's own are refused by
    Python when the class is made)."""
    for name in cls.__slots__:
        for base in cls.__mro__[1:]:
            assert name == "__dict__" or name not in vars(base), f"the slot {name} hides {base.__name__}'s"


@pytest.mark.parametrize("options", [{}, {"netif_loopback": False}, {"ipv6": False}], ids=str)
def test_every_slot_is_set_from_the_start(options):
    from lwipy.config import Config
    from helpers import CaptureDevice
    stack = Stack(Config(**options), seed=1)
    stack.add_netif(CaptureDevice(), ip="10.0.0.1/24")
    for obj in _objects(stack):
        assert [name for name in _slots(type(obj)) if not hasattr(obj, name)] == [], type(obj).__name__


def test_a_stacks_life_leaves_nothing_in_the_instance_dicts():
    """Two stacks on a hub: ARP, ping, TCP both ways over IPv4 and IPv6, UDP, a netif down and up again, a new
    address, timers: every field the core sets on a stack, its TCP and its netifs is a slot."""
    from lwipy.apps import PingSession
    from lwipy.sim import Simulation
    sim = Simulation(seed=4)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24", gateway="10.0.0.254", ip6_linklocal=True)
    b = sim.add_stack("b", hub, ip="10.0.0.2/24", ip6_linklocal=True)
    ping = PingSession(a, "10.0.0.2", count=3, interval=0.2, timeout=0.5)
    assert sim.run_until(lambda: ping.done, 10) and ping.received == 3
    client, server, _ = connected(sim, a, b)
    assert transfer(sim, client, server, b"x" * 50000) == b"x" * 50000
    assert transfer(sim, server, client, b"y" * 20000) == b"y" * 20000
    sim.run_until(lambda: False, 5)  # duplicate address detection: the link-local addresses become usable
    b6 = str(b.netifs[-1].ip6_addrs[0].address)
    listener6, got6, _ = serve_collect(b, 5001)
    client6 = a.tcp.connect(b6, 5001)
    sent6 = send_all(sim, client6, b"z" * 8000)
    assert sim.run_until(lambda: len(got6) == 8000, 30) and sent6[0] == 8000
    udp = a.udp.new()
    udp.sendto(b"hello", "10.0.0.2", 9)
    client.close()
    netif = a.netifs[-1]
    netif.set_link_up(False)
    netif.set_link_up(True)
    netif.set_ipv4("10.0.0.3/24", "10.0.0.254")
    sim.run_until(lambda: False, 200)  # TIME_WAIT, retransmissions, ARP and ND timers
    assert a.tcp.fast_taken and b.tcp.fast_taken and b.icmp.fast_echoes == 3
    for stack in (a, b):
        for obj in _objects(stack):
            assert vars(obj) == {}, type(obj).__name__


def test_an_instance_attribute_still_shadows_a_method():
    """Users and tests set attributes on a stack, a netif or its TCP, methods included (``stack.assert_core`` by the
    loop's thread check, ``stack.poll_at``, ``netif.linkoutput`` in tests): ``__dict__`` is kept for them."""
    from helpers import make_stack
    stack, netif, _ = make_stack()
    for obj, name in ((stack, "poll_at"), (stack, "assert_core"), (netif, "linkoutput"), (stack.tcp, "flush_acks"),
                      (stack, "user_note")):
        marker = object()
        had = getattr(type(obj), name, None)
        setattr(obj, name, marker)
        assert getattr(obj, name) is marker
        delattr(obj, name)
        assert getattr(type(obj), name, None) is had
        assert name not in vars(obj)
