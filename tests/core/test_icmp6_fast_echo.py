"""s21: the ICMPv6 echo's fast answer (``Icmp6.fast_echo``): an ordinary ping over IPv6 is answered from one parse of
the frame, and anything unusual is left to the full way, with the same result either way.  As
``test_tcp_fastpath6``: two identical simulations, one with the fast paths on and one with them off, must put the
same frames on the link and leave the same counters and neighbour caches, for real ping sessions and for hand-made
frames (scapy builds them)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether

from lwipy.apps.ping import PingSession
from lwipy.core.addr6 import TENTATIVE
from test_tcp_fastpath6 import A6, B6, World, en, neighbours

B6_PACKED = ipaddress.IPv6Address(B6).packed


def worlds() -> tuple[World, World]:
    """Both worlds, the fast paths (TCP's and the echo's) on in the first and off in the second, b's neighbour entry
    for a made REACHABLE by a first ping (answered the full way: b had to solicit a)."""
    out = []
    for fast in (True, False):
        w = World(fast)
        for stack in (w.a, w.b):
            stack.icmp6.fast_path = stack.icmp.fast_path = fast
        session = PingSession(w.a, B6, count=1, interval=0.1)
        assert w.sim.run_until(lambda session=session: session.done, 10) and session.received == 1
        w.frames.clear()
        out.append(w)
    return out[0], out[1]


def request(w: World, size: int = 56, *, src: str = A6, dst: str = B6, tc: int = 0, hlim: int = 64, code: int = 0,
            seq: int = 1) -> Ether:
    """An echo request from a to b as scapy builds it."""
    return (Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / IPv6(src=src, dst=dst, tc=tc, hlim=hlim)
            / ICMPv6EchoRequest(id=0x4242, seq=seq, data=bytes((i * 13) & 0xFF for i in range(size)), code=code))


def feed(pair, make, expect_fast: bool | None) -> None:
    """The frame ``make(world)`` builds, into each world's b, through Ethernet's input; answered by the fast path in
    the first world (or not; None: either), and both worlds alike afterwards."""
    fast, full = pair
    before = fast.b.icmp6.fast_echoes
    for w in pair:
        frame = make(w)
        w.b.input(en(w.b), bytes(frame) if not isinstance(frame, (bytes, bytearray, memoryview)) else frame,
                  w.sim.clock())
        w.sim.run(0.5)
    if expect_fast is not None:
        assert (fast.b.icmp6.fast_echoes - before == 1) is expect_fast
    assert full.b.icmp6.fast_echoes == 0
    assert_alike(fast, full)


def assert_alike(fast: World, full: World) -> None:
    assert fast.frames == full.frames
    for name in ("a", "b"):
        assert getattr(fast, name).stats.as_dict() == getattr(full, name).stats.as_dict()
        assert neighbours(getattr(fast, name)) == neighbours(getattr(full, name))


# -- answered ---------------------------------------------------------------------------------------------------------
def test_a_ping_session_is_answered_alike():
    pair = worlds()
    before = pair[0].b.icmp6.fast_echoes
    for w in pair:
        session = PingSession(w.a, B6, count=20, interval=0.05, size=100)
        assert w.sim.run_until(lambda session=session: session.done, 10) and session.received == 20
    fast, full = pair
    assert fast.b.icmp6.fast_echoes - before == 20 and full.b.icmp6.fast_echoes == 0
    assert_alike(fast, full)


@pytest.mark.parametrize("size", [0, 1, 7, 56, 399, 401, 1000, 1452])  # 1452: the largest a 1500 MTU carries
@pytest.mark.parametrize("tc,code", [(0, 0), (0xB8, 0), (0, 7)])  # (a code other than 0 is answered with code 0)
def test_an_ordinary_echo_request_is_answered_from_one_parse(size, tc, code):
    pair = worlds()
    feed(pair, lambda w: request(w, size, tc=tc, code=code), True)
    reply = Ether(pair[0].frames[-1])
    assert reply[IPv6].src == B6 and reply[IPv6].dst == A6 and reply[IPv6].tc == tc and reply[IPv6].fl == 0
    assert reply[IPv6].hlim == en(pair[0].b).hop_limit6
    assert reply.haslayer(ICMPv6EchoReply) and reply[ICMPv6EchoReply].code == 0
    assert reply[ICMPv6EchoReply].data == bytes((i * 13) & 0xFF for i in range(size))
    assert reply[ICMPv6EchoReply].cksum == ICMPv6EchoReply(bytes(reply[ICMPv6EchoReply])).cksum  # (as scapy sums it)


def test_link_padding_and_a_memoryview_are_answered():
    pair = worlds()
    feed(pair, lambda w: bytes(request(w, 0)) + b"\x00" * 6, True)  # 62 bytes, padded to Ethernet's 68
    feed(pair, lambda w: memoryview(bytes(request(w, 33))), True)


def test_the_loops_fast_answer_hands_an_ipv6_frame_to_icmpv6():
    """``Icmp.fast_echo`` (what the loop tries first after a wake-up) answers an echo request over IPv6 too, whether
    the source's second byte reads as IPv4's ICMP protocol byte (2001:db8::1: byte 23 is 1) or not (a's link-local
    address: 0x80), the worlds alike after it."""
    pair = worlds()
    link_local = str(en(pair[0].a).ip6_addrs[0].address)
    assert link_local.startswith("fe80:")
    # (the first ping from the link-local address is answered the full way: b has no neighbour entry for it yet)
    for src, expect in ((A6, 1), (link_local, None), (link_local, 1)):
        before = pair[0].b.icmp6.fast_echoes
        for w in pair:
            dst = B6 if src == A6 else str(en(w.b).ip6_addrs[0].address)  # (b's link-local for a link-local source)
            frame = bytes(request(w, src=src, dst=dst))
            answered = w.b.icmp.fast_echo(en(w.b), frame, w.sim.clock())
            if not answered:
                w.b.input(en(w.b), frame, w.sim.clock())  # (the loop's way when the fast answer says no)
            w.sim.run(0.5)
        if expect is not None:
            assert pair[0].b.icmp6.fast_echoes - before == expect
        assert_alike(*pair)


# -- the full way's ---------------------------------------------------------------------------------------------------
def _with_bad_sum(w: World) -> bytes:
    frame = request(w)
    frame[ICMPv6EchoRequest].cksum = (ICMPv6EchoRequest(bytes(frame[ICMPv6EchoRequest])).cksum + 1) & 0xFFFF
    return bytes(frame)


def _plen(w: World, plen: int) -> bytes:
    frame = bytearray(bytes(request(w, 8)))
    frame[18:20] = plen.to_bytes(2, "big")
    return bytes(frame)


def _short_message(w: World) -> bytes:
    """A 4-byte ICMPv6 message (type 128, code 0, a right checksum over just those 4 bytes): too short for an echo's
    header (the full way's Malformed)."""
    from lwipy.wire.icmpv6 import icmp6_checksum
    a, b = ipaddress.IPv6Address(A6).packed, B6_PACKED
    message = bytearray(b"\x80\x00\x00\x00")
    message[2:4] = icmp6_checksum(bytes(message), a, b).to_bytes(2, "big")
    ipv6 = bytes(IPv6(src=A6, dst=B6, nh=58, plen=4))
    return bytes(Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr)) + ipv6 + bytes(message) + bytes(8)


UNUSUAL = {
    "a message shorter than an echo's header": _short_message,
    "a bad checksum": _with_bad_sum,
    "an echo reply": lambda w: Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / IPv6(src=A6, dst=B6)
    / ICMPv6EchoReply(id=1, seq=1, data=b"x" * 8),
    "to a group": lambda w: Ether(src=en(w.a).hwaddr, dst="33:33:00:00:00:01") / IPv6(src=A6, dst="ff02::1")
    / ICMPv6EchoRequest(id=1, seq=1),
    "a group's MAC, a unicast address": lambda w: bytes.fromhex("333300000001") + bytes(request(w))[6:],
    "to an address not ours": lambda w: request(w, dst="2001:db8::9"),
    "from a group": lambda w: request(w, src="ff02::5"),
    "from the unspecified address": lambda w: request(w, src="::"),
    "from the loopback address": lambda w: request(w, src="::1"),
    "a hop-by-hop header": lambda w: Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / IPv6(src=A6, dst=B6)
    / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest(id=1, seq=1),
    "a fragment header": lambda w: Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / IPv6(src=A6, dst=B6)
    / IPv6ExtHdrFragment(id=5, m=0, offset=0) / ICMPv6EchoRequest(id=1, seq=1),
    "a payload length beyond the frame": lambda w: _plen(w, 17),
    "a payload length short of the header": lambda w: _plen(w, 6),
    "a VLAN tag": lambda w: Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / Dot1Q(vlan=5) / IPv6(src=A6, dst=B6)
    / ICMPv6EchoRequest(id=1, seq=1),
    "IPv4's version": lambda w: bytes(request(w))[:14] + bytes([0x45]) + bytes(request(w))[15:],
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_every_unusual_frame_takes_the_full_way_alike(case):
    pair = worlds()
    feed(pair, UNUSUAL[case], False)
    feed(pair, lambda w: request(w), True)  # (and the next ordinary one is answered fast again)


def _set_b_address_state(w: World, state: str) -> None:
    netif = en(w.b)
    netif.ip6_addr_set_state(netif.ip6_addr_of(B6_PACKED), state)


def _hook(w: World) -> None:
    w.b.hooks.ip6_input = lambda stack, packet, netif: False  # (a user's hook that eats nothing)


def _raw(w: World) -> None:
    w.b.raw.new(58, ip6=True)


def _handler(w: World) -> None:
    real = w.b.protocols6[58]
    w.b.protocols6[58] = lambda pkt, data, real=real: real(pkt, data)


def _stale(w: World) -> None:
    w.b.nd6.neighbors[(en(w.b).index, ipaddress.IPv6Address(A6).packed)].state = "STALE"


def _no_entry(w: World) -> None:
    w.b.nd6._drop(w.b.nd6.neighbors[(en(w.b).index, ipaddress.IPv6Address(A6).packed)])


def _small_path(w: World) -> None:
    w.b.route6.path_mtu(ipaddress.IPv6Address(A6).packed, 1280)


def _refusing(w: World) -> None:
    device = en(w.b).device
    real = device.transmit
    device.transmit = lambda frame, real=real: False if len(frame) > 100 else real(frame)  # (echo replies refused)


def _fast_off(w: World) -> None:
    w.b.icmp6.fast_path = False


STATES = {
    "the destination tentative": (lambda w: _set_b_address_state(w, TENTATIVE), False),
    "an ip6_input hook": (_hook, False),
    "a raw pcb": (_raw, False),
    "another ICMPv6 handler": (_handler, False),
    "the neighbour stale": (_stale, False),
    "no neighbour entry": (_no_entry, False),
    "a reply above the path MTU": (_small_path, False),
    "the device refusing the reply": (_refusing, True),
    "the fast path off": (_fast_off, False),
}


@pytest.mark.parametrize("case", sorted(STATES))
def test_what_the_stack_is_decides(case):
    change, fast = STATES[case]
    pair = worlds()
    for w in pair:
        change(w)
    feed(pair, lambda w: request(w, 1300), fast)


def test_a_source_off_link_is_answered_through_its_router_and_the_way_follows_the_routes():
    """A ping from another prefix is answered through the default router (a, by its link-local address); once the
    default route names another router (unresolved), the next reply is the full way's (b solicits that router)."""
    pair = worlds()
    off_link = "2001:db9::1"
    for w in pair:
        en(w.a).add_ip6_address(off_link, 64)
        w.sim.run(3.0)
        w.route = w.b.nd6.add_route("::/0", en(w.b), via=str(en(w.a).ip6_addrs[0].address))
    feed(pair, lambda w: request(w, src=off_link), None)  # (b may resolve a's link-local address first)
    feed(pair, lambda w: request(w, src=off_link, seq=2), True)
    reply = Ether(pair[0].frames[-1])
    assert reply[IPv6].dst == off_link and reply.dst == en(pair[0].a).hwaddr.hex(":")
    for w in pair:
        w.b.nd6.remove_route(w.route)
        w.b.nd6.add_route("::/0", en(w.b), via="fe80::99")
    feed(pair, lambda w: request(w, src=off_link, seq=3), False)


@settings(max_examples=80, deadline=None)
@given(st.binary(min_size=1, max_size=8), st.integers(0, 117), st.booleans())
def test_arbitrary_bytes_over_a_request_are_a_clean_drop_or_alike(noise, at, cut):
    pair = worlds()

    def make(w: World) -> bytes:
        frame = bytearray(bytes(request(w, 64)))
        frame[at:at + len(noise)] = noise
        return bytes(frame[:at + len(noise)]) if cut else bytes(frame)
    feed(pair, make, None)
