"""udp18: an IPv4 unicast's short way out (``Udp.send`` with ``Udp.lean``) sends what the full way sends.

Two identical stacks, one with the short way and one without, take the same steps (sends, and changes to what the
way is made from: addresses, gateways, routes, ARP entries, the pcb's settings, hooks, the driver's queue); after
each step both sent the same frames, raised the same errors and count the same."""

from __future__ import annotations

import errno
import struct
from array import array
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import OWN_MAC, PEER_MAC, CaptureDevice, examples, make_stack
from lwipy import LwipError
from lwipy.core.hooks import esp_ip4_route_src

OWN, PEER, FAR, OTHER = "10.0.0.1", "10.0.0.2", "192.0.2.9", "10.1.0.1"


def arp_reply(ip: str, mac: bytes) -> bytes:
    return OWN_MAC + mac + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac,
                                                      IPv4Address(ip).packed, OWN_MAC, IPv4Address(OWN).packed)


def pair():
    """Two identical stacks (the short way on, then off), each with a UDP pcb bound to port 5000, the peer and the
    gateway learned by ARP, and a second netif (10.1.0.1/24, on a device of its own)."""
    out = []
    for lean in (True, False):
        stack, netif, dev = make_stack(ip=f"{OWN}/24", gateway="10.0.0.254", seed=3)
        stack.add_netif(CaptureDevice(), ip=f"{OTHER}/24", hwaddr=b"\x02\x00\x00\x00\x00\x11")
        stack.udp.lean = lean
        stack.input(netif, arp_reply(PEER, PEER_MAC), 1.0)
        stack.input(netif, arp_reply("10.0.0.254", b"\x02\x00\x00\x00\x00\xfe"), 1.0)
        pcb = stack.udp.new()
        pcb.bind(None, 5000)
        dev.take()
        out.append((stack, netif, dev, pcb))
    return out


class Alternating:
    """A routing hook of the user's that answers each packet differently: the second netif, then none."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, stack, src, dst):
        self.calls += 1
        return stack.netifs[-1] if self.calls % 2 else None


def step(stacks, action) -> list[bytes]:
    """``action(stack, netif, dev, pcb)`` on both; the same frames, error, counters and next IP identification."""
    got = []
    for stack, netif, dev, pcb in stacks:
        try:
            action(stack, netif, dev, pcb)
            err = None
        except LwipError as e:
            err = e.errno
        got.append((dev.take(), stack.netifs[-1].device.take(), err, stack.stats.as_dict(), stack.ip4.next_ident))
    assert got[0] == got[1]
    return got[0][0]


def send(dst: str = PEER, data: bytes = b"datagram", port: int = 9):
    return lambda stack, netif, dev, pcb: pcb.sendto(data, dst, port)


def test_an_ordinary_datagram_takes_the_short_way_and_sends_the_full_ways_frame():
    stacks = pair()
    frames = step(stacks, send())
    assert len(frames) == 1 and frames[0][:6] == PEER_MAC and frames[0][23] == 17
    assert stacks[0][3]._way is not None and stacks[1][3]._way is None  # (taken, and not by the other)
    frames = step(stacks, send(FAR, b"x" * 100))  # through the gateway
    assert frames[0][:6] == b"\x02\x00\x00\x00\x00\xfe"


CHANGES = {
    "another address": lambda s, n, d, p: n.set_ipv4("10.0.0.7/24", "10.0.0.254"),
    "another gateway": lambda s, n, d, p: n.set_ipv4(f"{OWN}/24", "10.0.0.2"),
    "no gateway": lambda s, n, d, p: n.set_ipv4(f"{OWN}/24", None),
    "netif down": lambda s, n, d, p: n.set_up(False),
    "netif up": lambda s, n, d, p: n.set_up(True),
    "link down": lambda s, n, d, p: n.set_link_up(False),
    "link up": lambda s, n, d, p: n.set_link_up(True),
    "ARP entries gone": lambda s, n, d, p: [s.etharp.remove(e.ip) for e in list(s.etharp.entries())],
    "peer resolved": lambda s, n, d, p: s.input(n, arp_reply(PEER, PEER_MAC), s.now),
    "peer moved": lambda s, n, d, p: s.input(n, arp_reply(PEER, b"\x02\x00\x00\x00\x00\x77"), s.now),
    "bound to our address": lambda s, n, d, p: setattr(p, "local_ip", IPv4Address(OWN)),
    "bound to any": lambda s, n, d, p: setattr(p, "local_ip", IPv4Address(0)),
    "bound to the other netif's address": lambda s, n, d, p: setattr(p, "local_ip", IPv4Address(OTHER)),
    "bound to a group": lambda s, n, d, p: setattr(p, "local_ip", IPv4Address("239.1.2.3")),
    "no checksum": lambda s, n, d, p: setattr(p, "no_checksum", True),
    "checksum": lambda s, n, d, p: setattr(p, "no_checksum", False),
    "ttl 5": lambda s, n, d, p: setattr(p, "ttl", 5),
    "default ttl": lambda s, n, d, p: setattr(p, "ttl", None),
    "tos": lambda s, n, d, p: setattr(p, "tos", 0xB8),
    "bound to the netif": lambda s, n, d, p: setattr(p, "netif", n),
    "not bound to the netif": lambda s, n, d, p: setattr(p, "netif", None),
    "a routing hook": lambda s, n, d, p: setattr(s.hooks, "ip4_route_src", Alternating()),
    "no routing hook": lambda s, n, d, p: setattr(s.hooks, "ip4_route_src", None),
    "ESP-IDF's routing hook": lambda s, n, d, p: setattr(s.hooks, "ip4_route_src", esp_ip4_route_src),
    "driver queue full": lambda s, n, d, p: setattr(d, "full", True),
    "driver queue free": lambda s, n, d, p: setattr(d, "full", False),
    "time passes": lambda s, n, d, p: (setattr(s, "now", s.now + 400.0), s.poll(s.now)),
    "a smaller MTU": lambda s, n, d, p: setattr(n, "mtu", 576),
}
SENDS = {
    "to the peer": send(),
    "to a far host": send(FAR),
    "to ourselves": send(OWN),
    "to the subnet's broadcast": send("10.0.0.255"),
    "to the broadcast": send("255.255.255.255"),
    "to a group": send("239.1.2.3"),
    "to loopback": send("127.0.0.1"),
    "to an unknown on-link host": send("10.0.0.77"),
    "a large one (fragments)": send(PEER, bytes(range(256)) * 8),
    "an empty one": send(PEER, b""),
    "an odd-sized one": send(PEER, b"abc"),
    "to port 0": send(PEER, b"x", 0),
    "a buffer of 16-bit items": send(PEER, array("H", [1, 2, 3])),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_to_the_way_gives_the_full_ways_frames(change):
    stacks = pair()
    step(stacks, send())  # a way kept
    step(stacks, CHANGES[change])
    for name in SENDS:
        step(stacks, SENDS[name])


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(CHANGES) + sorted(SENDS) * 2), min_size=1, max_size=30))
def test_random_sequences_of_sends_and_changes_match_the_full_way(steps):
    stacks = pair()
    for name in steps:
        step(stacks, CHANGES.get(name) or SENDS[name])


def test_the_routing_hook_decides_each_datagram_as_on_the_full_way():
    """A way made without a hook is not used under ESP-IDF's (which routes by the source address), and none is kept
    under a hook of the user's, which may answer each packet differently."""
    stacks = pair()
    for name in ("bound to the other netif's address", "no routing hook", "to the peer", "ESP-IDF's routing hook",
                 "to the peer", "a routing hook", "to the peer", "to the peer", "to the peer"):
        step(stacks, CHANGES.get(name) or SENDS[name])


def test_a_buffer_of_wider_items_is_sent_as_its_bytes():
    """A payload whose items are wider than a byte (an array of 16-bit numbers) is its bytes on the wire, its UDP
    and IP lengths counted in bytes (both ways: they counted items before)."""
    frames = step(pair(), send(PEER, array("H", [1, 2, 3])))
    assert struct.unpack_from("!H", frames[0], 38)[0] == 8 + 6 and frames[0][42:] == array("H", [1, 2, 3]).tobytes()


def test_a_refused_datagram_raises_enomem_as_the_full_way():
    stacks = pair()
    step(stacks, send())
    for _, _, dev, pcb in stacks:
        dev.full = True
        with pytest.raises(LwipError) as e:
            pcb.sendto(b"x", PEER, 9)
        assert e.value.errno == errno.ENOMEM
