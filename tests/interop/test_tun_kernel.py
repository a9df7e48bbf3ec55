"""lwipy on a Linux TUN (a point-to-point netif: bare IP packets, no MAC, no ARP, no neighbour resolution) in a
test-made namespace, the kernel as the peer: the kernel pings lwipy over IPv4 and IPv6 (link-local and global),
lwipy pings back, and the capture (LINKTYPE_RAW) reads clean in tshark.  The 100 MB TCP runs each way over the TUN
are the TAP's (tests/interop/test_tcp_kernel.py, parameters ``tun`` and ``tun-offload``)."""

from __future__ import annotations

import pytest
from test_ipv4_kernel import TSHARK_PROBLEMS, delta, snmp, tshark
from test_ipv6_kernel import link_local, ping6_from_lwip

from lwipy.core.addr6 import PREFERRED
from lwipy.core.device import POINT_TO_POINT
from lwipy.netif.pcap import LINKTYPE_RAW

pytestmark = [pytest.mark.interop, pytest.mark.lwip_device(tun=True)]

KERNEL_LL, KERNEL_GLOBAL, LWIP_GLOBAL = "fe80::1", "2001:db8:77::1", "2001:db8:77::2"


def pcap_linktype(path) -> int:
    with open(path, "rb") as f:
        return int.from_bytes(f.read(24)[20:24], "little")


def test_kernel_pings_lwipy_200_times_over_the_tun(lwip):
    assert lwip.netif.is_p2p and lwip.netif.hwaddr == b"" and lwip.device.link_kind == POINT_TO_POINT
    before = snmp(lwip)
    result = lwip.kernel_ping("-c", "200", "-i", "0.01", "-W", "2", "-q")
    assert (result.transmitted, result.received, result.loss) == (200, 200, 0.0), result.text
    assert (result.duplicates, result.errors) == (0, 0), result.text
    assert delta(before, snmp(lwip), "Icmp", "InEchoReps") == 200
    big = lwip.kernel_ping("-c", "3", "-s", "4000", "-i", "0.05", "-W", "2")  # fragmented both ways, reassembled
    assert (big.received, big.reply_bytes) == (3, [4008] * 3), big.text
    assert delta(before, snmp(lwip), "Ip", "ReasmOKs") == 3
    session = lwip.stack_ping(lwip.kernel_ip, count=5, interval=0.05)
    assert session.received == 5
    stats = lwip.stats()
    assert stats["etharp"]["xmit"] == stats["etharp"]["recv"] == 0  # nothing to resolve on a point-to-point link
    assert stats["icmp"]["chkerr"] == 0 and stats["link"]["drop"] == 0
    lwip.stop()
    assert pcap_linktype(lwip.pcap_path) == LINKTYPE_RAW
    problems = tshark(lwip.pcap_path, TSHARK_PROBLEMS)
    assert problems == [], "tshark found problems in the capture:\n" + "\n".join(problems)
    assert len(tshark(lwip.pcap_path, f"icmp.type == 0 && ip.src == {lwip.ip}", "frame.number")) == 203
    assert len(tshark(lwip.pcap_path, f"icmp.type == 0 && ip.src == {lwip.kernel_ip}", "frame.number")) == 5
    assert tshark(lwip.pcap_path, "eth || arp") == []


@pytest.mark.ipv6
def test_kernel_pings_lwipy_over_ipv6_on_the_tun(lwip):
    ifname = lwip.kernel.ifname
    lwip.run(["ip", "-6", "addr", "add", f"{KERNEL_LL}/64", "dev", ifname, "nodad"], check=True)
    lwip.run(["ip", "-6", "addr", "add", f"{KERNEL_GLOBAL}/64", "dev", ifname, "nodad"], check=True)
    ll = link_local(lwip)
    assert ll.startswith("fe80::")
    glob = lwip.call(lambda: lwip.netif.add_ip6_address(LWIP_GLOBAL, 64))
    lwip.wait_for(lambda: glob.state == PREFERRED, timeout=5, what="the global address to pass DAD")
    for target in (f"{ll}%{ifname}", LWIP_GLOBAL):
        done = lwip.run(["ping", "-6", "-c", "50", "-i", "0.01", "-W", "2", "-q", target], timeout=30)
        assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
    assert ping6_from_lwip(lwip, KERNEL_LL) == 5
    assert ping6_from_lwip(lwip, KERNEL_GLOBAL) == 5
    stats = lwip.stats()
    assert stats["icmp6"]["chkerr"] == 0 and lwip.call(lambda: len(lwip.stack.nd6.neighbors)) == 0
    lwip.stop()
    problems = tshark(lwip.pcap_path, TSHARK_PROBLEMS)
    assert problems == [], "tshark found problems in the capture:\n" + "\n".join(problems)
    assert len(tshark(lwip.pcap_path, f"icmpv6.type == 129 && ipv6.src == {ll}", "frame.number")) == 50
    assert len(tshark(lwip.pcap_path, f"icmpv6.type == 129 && ipv6.src == {LWIP_GLOBAL}", "frame.number")) == 50
    # duplicate address detection ran (from ::, RFC 4862) but no address resolution: no solicitation from an
    # address, and no link-layer address option anywhere
    assert len(tshark(lwip.pcap_path, f"icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == {ll}",
                      "frame.number")) >= 1
    assert tshark(lwip.pcap_path, "icmpv6.type == 135 && !(ipv6.src == ::)") == []
    assert tshark(lwip.pcap_path, "icmpv6.opt.type == 1 || icmpv6.opt.type == 2") == []
