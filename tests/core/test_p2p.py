"""Point-to-point netifs: two stacks on a virtual point-to-point link (bare IP packets, no link-layer address) ping,
exchange UDP and TCP over IPv4 and IPv6 without any address resolution; the device contract; link-local addresses
from the device's interface identifier or a random one; the capture's link type."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import subprocess

import pytest

from helpers import CaptureDevice, send_all, serve_collect
from lwipy import Config, Stack
from lwipy.apps import AdvertConfig, PingSession, RouterAdvertiser
from lwipy.core.addr6 import ORIGIN_SLAAC, PREFERRED
from lwipy.core.device import ETHERNET, POINT_TO_POINT, NetDevice
from lwipy.netif import PcapDevice, VirtualHub
from lwipy.netif.pcap import LINKTYPE_ETHERNET, LINKTYPE_RAW
from lwipy.netif.virtual import p2p_link
from lwipy.sim import Simulation
from lwipy.wire.ipv6 import Ipv6Header
from lwipy.wire.ndp import NeighborAdvert, NeighborSolicit, RouterAdvert, RouterSolicit, parse_nd

IID_B = bytes.fromhex("0000000000000b0b")


def p2p_pair(pcap=None, **options):
    sim = Simulation(seed=3)
    link = sim.hub(link_kind=POINT_TO_POINT, pcap=pcap)
    seen: list[bytes] = []
    link.taps.append(lambda port, packet: seen.append(packet))
    cfg = Config(**options)
    a = sim.add_stack("a", link, cfg, ip="10.0.0.1/24", ip6_linklocal=True, ip6="2001:db8::1/64")
    b = sim.new_stack("b", cfg)
    port = link.port("b")
    port.interface_id = IID_B  # the driver gives this one (as IPV6CP would)
    nif = b.add_netif(port, ip="10.0.0.2/24", ip6_linklocal=True, ip6="2001:db8::2/64")
    sim.attachments.append((b, nif, port))
    sim.run(3.0)  # duplicate address detection
    return sim, seen, a, b


def nd_messages(packets):
    """The neighbour discovery messages among ``packets``: (source address, message)."""
    out = []
    for p in packets:
        if p[0] >> 4 != 6:
            continue
        hdr, payload = Ipv6Header.parse(p)
        if hdr.next_header == 58 and payload[0] in (133, 134, 135, 136, 137):
            out.append((hdr.src, parse_nd(payload)))
    return out


def test_two_stacks_on_a_p2p_link_ping_udp_and_tcp_over_ipv4_and_ipv6_without_resolving_anything():
    sim, seen, a, b = p2p_pair()
    na, nb = a.netif_by_name("pp0"), b.netif_by_name("pp0")
    assert na.is_p2p and not na.is_ethernet and na.hwaddr == b"" and na.link_kind == POINT_TO_POINT
    assert all(x.state == PREFERRED for x in na.ip6_addrs + nb.ip6_addrs)
    ll_b = nb.ip6_addrs[0].address
    assert ll_b == ipaddress.IPv6Address("fe80::b0b")  # the driver's interface identifier
    for target in ("10.0.0.2", "2001:db8::2", f"{ll_b}%pp0"):
        ping = PingSession(a, target, count=3, interval=0.1)
        assert sim.run_until(lambda ping=ping: ping.done, 5) and ping.received == 3, target
    for dst in ("10.0.0.2", "2001:db8::2"):
        server = b.udp.new(ip6=":" in dst)
        server.bind(None, 7000 + len(dst))
        client = a.udp.new(ip6=":" in dst)
        client.sendto(b"over the link " + dst.encode(), dst, 7000 + len(dst))
        assert sim.run_until(lambda server=server: bool(server.queue), 2)
        assert server.recv().data == b"over the link " + dst.encode()
    for port, dst in ((5001, "10.0.0.2"), (5002, "2001:db8::2")):
        lst, got, conns = serve_collect(b, port)
        data = os.urandom(300_000)
        send_all(sim, a.tcp.connect(dst, port), data)
        assert sim.run_until(lambda got=got, data=data: len(got) == len(data), 60)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # every packet on the link is bare IPv4 or IPv6; nothing was resolved
    assert seen and all(p[0] >> 4 in (4, 6) for p in seen)
    for s in (a, b):
        assert s.stats.etharp.xmit == s.stats.etharp.recv == 0 and not s.etharp.table and not s.nd6.neighbors
    nd = nd_messages(seen)
    solicitations = [(src, m) for src, m in nd if isinstance(m, NeighborSolicit)]
    assert len(solicitations) == 4 and all(src == bytes(16) for src, _ in solicitations)  # DAD only, from ::
    assert any(isinstance(m, RouterSolicit) for _, m in nd)  # routers are still solicited (RFC 4861 6.3.7)
    assert all(not m.options for _, m in nd)  # no link-layer address options: there is no link-layer address
    assert not any(isinstance(m, NeighborAdvert) for _, m in nd)


def test_a_p2p_netif_answers_a_solicitation_without_a_link_layer_address():
    sim, seen, a, b = p2p_pair()
    na = a.netif_by_name("pp0")
    # a peer that does solicit (address resolution is not performed on p2p links, but NUD may still probe)
    a.nd6.send(na, NeighborSolicit(ipaddress.IPv6Address("2001:db8::2").packed, []),
               ipaddress.IPv6Address("2001:db8::1").packed, ipaddress.IPv6Address("2001:db8::2").packed)
    sim.run(0.1)
    adverts = [m for _, m in nd_messages(seen) if isinstance(m, NeighborAdvert)]
    assert len(adverts) == 1 and adverts[0].solicited and adverts[0].options == []


def test_slaac_on_a_p2p_link_uses_the_interface_identifier_and_the_ra_has_no_link_layer_option():
    sim = Simulation(seed=4)
    link = sim.hub(link_kind=POINT_TO_POINT)
    seen: list[bytes] = []
    link.taps.append(lambda port, packet: seen.append(packet))
    router = sim.add_stack("r", link, Config(ip6_forward=True), ip6_linklocal=True, ip6="2001:db8:9::1/64")
    host = sim.add_stack("h", link, Config(ipv6_autoconfig=True), ip6_linklocal=True)
    RouterAdvertiser(router).advertise(router.netif_by_name("pp0"), AdvertConfig())
    nif = host.netif_by_name("pp0")
    assert sim.run_until(lambda: any(x.origin == ORIGIN_SLAAC and x.state == PREFERRED for x in nif.ip6_addrs), 30)
    slaac = next(x for x in nif.ip6_addrs if x.origin == ORIGIN_SLAAC)
    assert slaac.addr[:8] == bytes.fromhex("20010db800090000") and slaac.addr[8:] == nif.ip6_iid
    assert nif.ip6_addrs[0].addr[8:] == nif.ip6_iid  # the link-local address has the same identifier
    ras = [m for _, m in nd_messages(seen) if isinstance(m, RouterAdvert)]
    assert ras and all(not any(o.__class__.__name__ == "SourceLinkAddr" for o in m.options) for m in ras)
    ping = PingSession(host, "2001:db8:9::1", count=2, interval=0.1)
    assert sim.run_until(lambda: ping.done, 5) and ping.received == 2  # through the default router, unresolved


def test_random_interface_identifiers_differ_and_say_not_universal():
    iids = set()
    for seed in range(20):
        s = Stack(Config(), seed=seed, strict=True)
        nif = s.add_netif(CaptureDevice(link_kind=POINT_TO_POINT), ip6_linklocal=True)
        assert len(nif.ip6_iid) == 8 and not nif.ip6_iid[0] & 0x02 and any(nif.ip6_iid)  # the u bit clear (RFC 4291)
        assert nif.ip6_addrs[0].addr == b"\xfe\x80" + bytes(6) + nif.ip6_iid
        iids.add(nif.ip6_iid)
    assert len(iids) == 20


def test_add_netif_checks_the_device_contract():
    s = Stack(Config(), seed=1, strict=True)

    class NotADevice:
        mtu = 1500

        def transmit(self, frame):
            return True

    with pytest.raises(TypeError):
        s.add_netif(NotADevice())
    with pytest.raises(ValueError):
        s.add_netif(CaptureDevice(link_kind=POINT_TO_POINT), hwaddr="02:00:00:00:00:01")
    with pytest.raises(ValueError):
        s.add_netif(CaptureDevice(link_kind=POINT_TO_POINT), vlan_id=5)
    with pytest.raises(ValueError):
        s.add_netif(CaptureDevice(link_kind="token-ring"))
    with pytest.raises(ValueError):
        s.add_netif(CaptureDevice(link_kind=POINT_TO_POINT, interface_id=b"\x01" * 4))
    eth = s.add_netif(CaptureDevice(), ip="10.1.0.1/24")
    p2p = s.add_netif(CaptureDevice(link_kind=POINT_TO_POINT), ip="10.2.0.1/24")
    assert (eth.name, p2p.name) == ("en0", "pp0") and eth.is_ethernet and not p2p.is_ethernet
    assert isinstance(eth.device, NetDevice) and eth.device.link_kind == ETHERNET


def test_p2p_output_sends_bare_packets_and_no_gratuitous_arp():
    s = Stack(Config(), seed=1, strict=True)
    dev = CaptureDevice(link_kind=POINT_TO_POINT)
    nif = s.add_netif(dev, ip="10.2.0.1/30", gateway="10.2.0.2")
    assert dev.sent == [] and nif.garp_at is None  # no gratuitous ARP, now or later
    pcb = s.udp.new()
    pcb.sendto(b"to the world", "192.0.2.9", 9)  # via the gateway: no resolution, the packet goes at once
    pcb.sendto(b"broadcast", "255.255.255.255", 9)
    pcb.join_group("239.1.1.1")
    assert [p[0] >> 4 for p in dev.sent] == [4, 4, 4]  # bare IPv4: two datagrams and an IGMP report
    assert [p[9] for p in dev.sent] == [17, 17, 2]
    assert [p[16:20] for p in dev.sent] == [bytes([192, 0, 2, 9]), b"\xff" * 4, bytes([239, 1, 1, 1])]


class FilteringDevice(CaptureDevice):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.filters: list[tuple[str, bytes]] = []

    def add_multicast(self, mac):
        self.filters.append(("add", mac))

    def remove_multicast(self, mac):
        self.filters.append(("remove", mac))


def test_multicast_filters_reach_an_ethernet_driver_through_a_wrapper_and_never_a_p2p_one(tmp_path):
    s = Stack(Config(), seed=1, strict=True)
    eth_dev = FilteringDevice()
    s.add_netif(PcapDevice(eth_dev, str(tmp_path / "eth.pcap")), ip="10.1.0.1/24")
    p2p_dev = FilteringDevice(link_kind=POINT_TO_POINT)
    p2p = s.add_netif(p2p_dev, ip="10.2.0.1/24")
    pcb = s.udp.new()
    pcb.join_group("239.1.2.3")  # on the default netif (the Ethernet one)
    pcb.join_group("239.1.2.4", "10.2.0.1")
    pcb.leave_group("239.1.2.3")
    assert eth_dev.filters == [("add", bytes.fromhex("01005e010203")), ("remove", bytes.fromhex("01005e010203"))]
    assert p2p_dev.filters == [] and s.igmp.is_member(p2p, ipaddress.IPv4Address("239.1.2.4"))


def test_virtual_p2p_link_has_two_ends_and_carries_ip_packets_up_to_the_mtu():
    a, b = p2p_link(mtu=1280)
    assert a.link_kind == b.link_kind == POINT_TO_POINT and a.mtu == 1280
    with pytest.raises(ValueError):
        a.hub.port("c")
    assert a.transmit(b"\x45" + bytes(1279)) and b.receive() == [b"\x45" + bytes(1279)]
    assert not a.transmit(b"\x45" + bytes(1280)) and a.dropped == 1
    assert VirtualHub().port().link_kind == ETHERNET


def pcap_linktype(path) -> int:
    with open(path, "rb") as f:
        return int.from_bytes(f.read(24)[20:24], "little")


def test_a_p2p_capture_is_raw_ip_and_reads_clean_in_tshark(tmp_path):
    path = tmp_path / "p2p.pcap"
    sim, seen, a, b = p2p_pair(pcap=str(path))
    ping = PingSession(a, "2001:db8::2", count=2, interval=0.1)
    ping4 = PingSession(a, "10.0.0.2", count=2, interval=0.1)
    assert sim.run_until(lambda: ping.done and ping4.done, 5) and ping.received == ping4.received == 2
    sim.close()
    assert pcap_linktype(path) == LINKTYPE_RAW
    dev_path = tmp_path / "dev.pcap"
    PcapDevice(CaptureDevice(link_kind=POINT_TO_POINT), str(dev_path)).close()
    PcapDevice(CaptureDevice(), str(tmp_path / "eth.pcap")).close()
    assert pcap_linktype(dev_path) == LINKTYPE_RAW and pcap_linktype(tmp_path / "eth.pcap") == LINKTYPE_ETHERNET
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is missing under CI=true")
        pytest.skip("tshark not installed")
    done = subprocess.run([tshark, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE", "-o",
                           "udp.check_checksum:TRUE", "-Y",
                           '_ws.malformed || _ws.expert.severity >= "Error" || _ws.expert.group == "Checksum"'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr
    listed = subprocess.run([tshark, "-n", "-r", str(path), "-Y", "icmp.type == 0 || icmpv6.type == 129"],
                            capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert len(listed) == 4
