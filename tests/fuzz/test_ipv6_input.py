"""Whatever IPv6 arrives, ``Stack(strict=True).input`` never raises, and the stack still answers ping6 afterwards.

Seeds are frames scapy builds (an independent encoder) for every path of the IPv6 input: echo, neighbour and router
discovery with options, redirects, MLD v1 and v2, extension headers (hop-by-hop, destination options, routing,
fragments), unknown next headers.  Mutations flip bytes, cut and extend the frames, and half of the time repair the
ICMPv6 checksum so that a mutated message gets past it into the parsers and the ND/MLD logic behind them.
The ``p2p`` variants feed the same packets, less their Ethernet header, to a point-to-point netif.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers import examples
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6MLQuery, ICMPv6MLQuery2, ICMPv6MLReport, ICMPv6MLReport2,
                                ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_Redirect, ICMPv6ND_RS,
                                ICMPv6NDOptDstLLAddr, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS,
                                ICMPv6NDOptRouteInfo, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IPv6,
                                IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                ICMPv6MLDMultAddrRec)
from scapy.layers.l2 import Ether

import lwipy
from lwipy.apps import AdvertConfig, RouterAdvertiser
from helpers import CaptureDevice
from lwipy.core.addr6 import PREFERRED, interface_id, link_local_from_mac, solicited_node
from lwipy.core.device import POINT_TO_POINT
from lwipy.wire.icmpv6 import fill_checksum

pytestmark = pytest.mark.slow  # fuzzing: the quick tier (-m "not slow") leaves it out

MAC = bytes.fromhex("02000000000b")
PEER_MAC = "02:00:00:00:00:0a"
LL = str(ipaddress.IPv6Address(link_local_from_mac(MAC)))
SNM = str(ipaddress.IPv6Address(solicited_node(link_local_from_mac(MAC))))
PEER = "fe80::a"


def eth(pkt, dst="02:00:00:00:00:0b"):
    return bytes(Ether(src=PEER_MAC, dst=dst) / pkt)


SEEDS = [
    eth(IPv6(src=PEER, dst=LL) / ICMPv6EchoRequest(id=1, seq=1, data=b"x" * 40)),
    eth(IPv6(src=PEER, dst=SNM, hlim=255) / ICMPv6ND_NS(tgt=LL) / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC),
        "33:33:ff:00:00:0b"),
    eth(IPv6(src="::", dst=SNM, hlim=255) / ICMPv6ND_NS(tgt=LL), "33:33:ff:00:00:0b"),
    eth(IPv6(src=PEER, dst=LL, hlim=255) / ICMPv6ND_NA(tgt=PEER, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC)),
    eth(IPv6(src=PEER, dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=1800, chlim=64) /
        ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC) / ICMPv6NDOptMTU(mtu=1400) /
        ICMPv6NDOptPrefixInfo(prefix="2001:db8::", prefixlen=64) / ICMPv6NDOptRDNSS(dns=["2001:db8::53"]) /
        ICMPv6NDOptRouteInfo(prefix="2001:db8:1::", plen=48), "33:33:00:00:00:01"),
    eth(IPv6(src=PEER, dst="ff02::2", hlim=255) / ICMPv6ND_RS(), "33:33:00:00:00:02"),
    eth(IPv6(src=PEER, dst=LL, hlim=255) / ICMPv6ND_Redirect(tgt="fe80::99", dst="2001:db8:5::1")),
    eth(IPv6(src=PEER, dst="ff02::1", hlim=1) / IPv6ExtHdrHopByHop() / ICMPv6MLQuery(mrd=1000), "33:33:00:00:00:01"),
    eth(IPv6(src=PEER, dst="ff02::1", hlim=1) / ICMPv6MLQuery2(mrd=1000), "33:33:00:00:00:01"),
    eth(IPv6(src=PEER, dst=SNM, hlim=1) / ICMPv6MLReport(mladdr=SNM), "33:33:ff:00:00:0b"),
    eth(IPv6(src=PEER, dst="ff02::16", hlim=1) / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst=SNM)]),
        "33:33:00:00:00:16"),
    eth(IPv6(src=PEER, dst=LL) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest()),
    eth(IPv6(src=PEER, dst=LL) / IPv6ExtHdrRouting(addresses=["2001:db8::1"], segleft=1) / ICMPv6EchoRequest()),
    eth(IPv6(src=PEER, dst=LL) / IPv6ExtHdrFragment(offset=0, m=0, id=5) / ICMPv6EchoRequest()),
    eth(IPv6(src=PEER, dst=LL) / IPv6ExtHdrFragment(offset=8, m=1, id=6) / (b"y" * 64)),
    eth(IPv6(src=PEER, dst=LL, nh=253) / (b"z" * 20)),
    eth(IPv6(src=PEER, dst=LL) / ICMPv6PacketTooBig(mtu=1280) / IPv6(src=LL, dst="2001:db8::9") / (b"q" * 20)),
    # for the router: solicitations (one with a link-layer address, one from ::), packets to forward or refuse
    eth(IPv6(src=PEER, dst="ff02::2", hlim=255) / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC),
        "33:33:00:00:00:02"),
    eth(IPv6(src="::", dst="ff02::2", hlim=255) / ICMPv6ND_RS(), "33:33:00:00:00:02"),
    eth(IPv6(src="2001:db8::a", dst="2001:db8:2::9") / ICMPv6EchoRequest(id=2, seq=1, data=b"f" * 30)),
    eth(IPv6(src="2001:db8::a", dst="2001:db8:2::9", hlim=1) / IPv6ExtHdrFragment(m=1, id=9) / (b"h" * 64)),
    eth(IPv6(src=PEER, dst="2001:db8:2::9") / (b"s" * 1500)),
    eth(IPv6(src="2001:db8::a", dst="2001:db8:2::1") / ICMPv6EchoRequest(id=3, seq=1)),
]


class Host6:
    """A host, or with ``router`` a forwarding stack advertising 2001:db8::/64 with a second link (2001:db8:2::/64,
    MTU 1280) behind it.  With ``p2p`` its netif is point-to-point, with the interface identifier of ``MAC`` (so the
    seeds' addresses are its own), and is fed the seeds without their Ethernet header."""

    def __init__(self, router: bool = False, p2p: bool = False) -> None:
        self.p2p = p2p
        self.dev = CaptureDevice(link_kind=POINT_TO_POINT, interface_id=interface_id(MAC)) if p2p else CaptureDevice()
        cfg = lwipy.Config(ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=2, ip6_forward=router)
        self.stack = lwipy.Stack(cfg, seed=1, strict=True)
        self.netif = self.stack.add_netif(self.dev, hwaddr=None if p2p else MAC, ip="10.9.0.2/24",
                                          ip6_linklocal=True, ip6="2001:db8::1/64" if router else None)
        if router:
            self.stack.add_netif(CaptureDevice(), ip6_linklocal=True, ip6="2001:db8:2::1/64", mtu=1280)
            RouterAdvertiser(self.stack).advertise(self.netif, AdvertConfig(rdnss=["2001:db8::53"]))
        self.now = 0.0
        self.poll(3.0)
        assert self.netif.ip6_addrs[0].state == PREFERRED

    def poll(self, dt: float) -> None:
        self.now += dt
        while (t := self.stack.poll_at()) is not None and t <= self.now:
            self.stack.poll(t)

    def feed(self, frame: bytes) -> None:
        self.now += 0.01
        self.stack.input(self.netif, frame[14:] if self.p2p else frame, self.now)

    def assert_answers_ping6(self) -> None:
        self.dev.take()
        self.feed(SEEDS[0])
        # the peer's address may have to be resolved again: answer at once (an entry from earlier mutants may be
        # at the end of its solicitations, and its queue, the reply with it, would then be given up)
        self.feed(eth(IPv6(src=PEER, dst=LL, hlim=255) / ICMPv6ND_NA(tgt=PEER, S=1, O=1) /
                      ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC)))
        self.poll(0.5)
        frames = [IPv6(f) if self.p2p else Ether(f) for f in self.dev.take()]
        assert any(f.haslayer(IPv6) and f[IPv6].nh == 58 and bytes(f[IPv6].payload)[:1] == b"\x81" for f in frames)


def mutate(frame: bytes, data) -> bytes:
    out = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(14, max(14, len(out) - 1)))
        if pos < len(out):
            out[pos] = data.draw(st.integers(0, 255))
    how = data.draw(st.sampled_from(["keep", "cut", "extend"]))
    if how == "cut":
        out = out[:data.draw(st.integers(14, len(out)))]
    elif how == "extend":
        out += data.draw(st.binary(max_size=40))
    if data.draw(st.booleans()) and len(out) >= 54 + 4 and out[20] == 58:  # ICMPv6 right behind the header
        plen = int.from_bytes(out[18:20], "big")
        if 54 + plen <= len(out) and plen >= 4:
            out[56:58] = b"\0\0"
            fill_checksum(out, 54, plen, bytes(out[22:38]), bytes(out[38:54]))
    return bytes(out)


@pytest.mark.parametrize("p2p", [False, True], ids=["ethernet", "p2p"])
@pytest.mark.parametrize("router", [False, True], ids=["host", "router"])
@given(data=st.data())
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_ipv6_frames_are_dropped_or_handled_never_raised(router, p2p, data):
    host = Host6(router, p2p)
    for _ in range(data.draw(st.integers(1, 8))):
        host.feed(mutate(data.draw(st.sampled_from(SEEDS)), data))
        if data.draw(st.booleans()):
            host.poll(data.draw(st.floats(0, 60)))
    host.assert_answers_ping6()


@pytest.mark.parametrize("p2p", [False, True], ids=["ethernet", "p2p"])
@pytest.mark.parametrize("router", [False, True], ids=["host", "router"])
@given(payload=st.binary(min_size=0, max_size=120))
@settings(max_examples=examples(200), deadline=None)
def test_arbitrary_ipv6_payloads_never_raise(router, p2p, payload):
    host = Host6(router, p2p)
    host.feed(bytes.fromhex("02000000000b") + bytes.fromhex(PEER_MAC.replace(":", "")) + b"\x86\xdd" + payload)
    host.assert_answers_ping6()
