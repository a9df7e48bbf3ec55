"""lwipy as the IPv6 router of Linux hosts: lwipy on TAPs in test-made namespaces advertises prefixes, a route, an
MTU and a DNS server; the kernel forms SLAAC addresses and routes from them, ``rdisc6`` (ndisc6, an independent
decoder) reads the advertisement it solicited, a final advertisement takes the kernel's default route away; and
lwipy forwards between two namespaces: ping with the hop limit one less, packet too big for a smaller link that
the kernel's path MTU takes up, and a TCP stream, SHA-256 equal.  tshark reads the capture clean."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import time

import pytest
from test_ipv4_kernel import TSHARK_PROBLEMS, tshark

import interop_netns as nsx
from lwipy.apps import AdvertConfig, AdvertRoute, RouterAdvertiser
from lwipy.core.addr6 import PREFERRED
from lwipy.netif.tap import TapDevice

pytestmark = [pytest.mark.interop, pytest.mark.ipv6]

DNS = "2001:db8:88::53"


def host_accepts_ras(ns: str, ifname: str) -> None:
    """The test namespaces forward (radvd wants it), and a forwarding Linux takes advertisements only with
    accept_ra=2; route information options only up to accept_ra_rt_info_max_plen."""
    nsx.write_sysctl(ns, f"net.ipv6.conf.{ifname}.accept_ra", "2")
    nsx.write_sysctl(ns, f"net.ipv6.conf.{ifname}.accept_ra_rt_info_max_plen", "64")


def kernel_global(ns: str, ifname: str, prefix: str, timeout: float = 20.0) -> str:
    """Wait for the kernel's SLAAC address in ``prefix`` on ``ifname`` and return it."""
    net = ipaddress.IPv6Network(prefix)
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = nsx.ns_run(ns, ["ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "global"], check=True).stdout
        for line in out.splitlines():
            addr = line.split()[3].split("/")[0]
            if ipaddress.IPv6Address(addr) in net and "dynamic" in line:
                return addr
        time.sleep(0.1)
    raise AssertionError(f"the kernel formed no address in {prefix} within {timeout} s:\n{out}")


def routes6(ns: str, ifname: str) -> str:
    return nsx.ns_run(ns, ["ip", "-6", "route", "show", "dev", ifname], check=True).stdout


def router_link_local(lwip, netif) -> str:
    def ll():
        return next((a for a in netif.ip6_addrs if a.address.is_link_local), None) or netif.create_ip6_linklocal()
    a = lwip.call(ll)
    lwip.wait_for(lambda: a.state == PREFERRED, what="the router's link-local address to pass DAD")
    return str(a.address)


@pytest.mark.lwip_config(ip6_forward=True)
def test_the_kernel_configures_itself_from_lwipys_advertisements_and_rdisc6_reads_them(lwip):
    rdisc6 = shutil.which("rdisc6")
    if rdisc6 is None:
        pytest.fail("rdisc6 is not installed (scripts/test installs ndisc6 as root)", pytrace=False)
    ifname = lwip.kernel.ifname
    host_accepts_ras(lwip.ns, ifname)
    config = AdvertConfig(rdnss=[DNS], routes=[AdvertRoute("2001:db8:99::/48")], link_mtu=1400)
    lwip.call(lambda: lwip.netif.add_ip6_address("2001:db8:88::1", 64))
    ll = router_link_local(lwip, lwip.netif)
    radv = lwip.call(lambda: RouterAdvertiser(lwip.stack))
    lwip.call(lambda: radv.advertise(lwip.netif, config))

    addr = kernel_global(lwip.ns, ifname, "2001:db8:88::/64")
    lwip.wait_for(lambda: "default" in routes6(lwip.ns, ifname), what="the kernel's default route")
    table = routes6(lwip.ns, ifname)
    assert re.search(rf"^default via {ll} proto ra", table, re.M), table
    assert re.search(rf"^2001:db8:99::/48 via {ll} proto ra", table, re.M), table
    mtu = nsx.ns_run(lwip.ns, ["cat", f"/proc/sys/net/ipv6/conf/{ifname}/mtu"], check=True).stdout.strip()
    assert mtu == "1400"

    seen = lwip.run([rdisc6, "-1", "-w", "1500", "-r", "3", ifname], timeout=20)
    text = seen.stdout
    assert seen.returncode == 0, text + seen.stderr
    for pattern in (r"Hop limit\s*:\s*64", r"Router lifetime\s*:\s*1800", r"Prefix\s*:\s*2001:db8:88::/64",
                    r"Valid time\s*:\s*2592000", r"Pref\. time\s*:\s*604800", r"Route\s*:\s*2001:db8:99::/48",
                    r"MTU\s*:\s*1400 bytes", rf"Recursive DNS server\s*:\s*{DNS}",
                    rf"Source link-layer address\s*:\s*{lwip.mac.upper()}", rf"from {ll}"):
        assert re.search(pattern, text, re.I), f"{pattern!r} not in rdisc6's output:\n{text}"
    assert lwip.call(lambda: radv.interfaces[lwip.netif.index].solicitations) >= 1

    done = lwip.run(["ping", "-6", "-c", "5", "-i", "0.05", "-W", "2", "2001:db8:88::1"], timeout=30)
    assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
    neigh = lwip.run(["ip", "-6", "neigh", "show", "dev", ifname], check=True).stdout
    assert re.search(rf"^{ll} lladdr {lwip.mac} router", neigh, re.M), neigh  # R from lwipy's advertisements

    lwip.call(lambda: radv.stop(lwip.netif))
    lwip.wait_for(lambda: "default" not in routes6(lwip.ns, ifname),
                  what="the final advertisement to remove the kernel's default route")
    assert addr in lwip.run(["ip", "-6", "-o", "addr", "show", "dev", ifname], check=True).stdout
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    ras = tshark(lwip.pcap_path, f"icmpv6.type == 134 && ipv6.src == {ll}", "icmpv6.nd.ra.router_lifetime")
    assert ras and ras[-1] == "0" and "1800" in ras


SINK = r"""
import hashlib, socket, sys
srv = socket.socket(socket.AF_INET6)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", 5007))
srv.listen(1)
print("listening", flush=True)
conn, peer = srv.accept()
h, n = hashlib.sha256(), 0
while chunk := conn.recv(1 << 16):
    h.update(chunk)
    n += len(chunk)
print(n, h.hexdigest(), peer[0], flush=True)
"""

SOURCE = r"""
import hashlib, socket, sys, time
data = b"".join(b"%09d\n" % i for i in range(int(sys.argv[2]) // 10))  # numbered lines: tshark reads them as data
deadline = time.monotonic() + 30  # until lwipy's listener is reachable, however loaded the machine
while True:
    try:
        s = socket.create_connection((sys.argv[1], 5007), timeout=30)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
s.sendall(data)
s.close()
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""


@pytest.mark.lwip_config(ip6_forward=True)
def test_lwipy_routes_between_two_kernels_ping_packet_too_big_and_tcp(lwip):
    tap = lwip.kernel.ifname
    host_accepts_ras(lwip.ns, tap)
    with nsx.namespace("lwipy-b", ipv6=True) as ns_b:
        nsx.add_tap(ns_b, tap)
        host_accepts_ras(ns_b, tap)
        device_b = TapDevice(tap, netns=ns_b)
        try:
            lan_b = lwip.call(lambda: lwip.stack.add_netif(device_b, name="lanb", mtu=1280, ip6_linklocal=True,
                                                           ip6="2001:db8:b::1/64"))
            lwip.call(lambda: lwip.netif.add_ip6_address("2001:db8:a::1", 64))
            router_link_local(lwip, lwip.netif)
            router_link_local(lwip, lan_b)
            radv = lwip.call(lambda: RouterAdvertiser(lwip.stack))
            lwip.call(lambda: radv.advertise(lwip.netif))
            lwip.call(lambda: radv.advertise(lan_b, AdvertConfig(link_mtu=1280)))
            addr_a = kernel_global(lwip.ns, tap, "2001:db8:a::/64")
            addr_b = kernel_global(ns_b, tap, "2001:db8:b::/64")
            for ns in (lwip.ns, ns_b):
                lwip.wait_for(lambda ns=ns: "default" in routes6(ns, tap), what="default routes")

            done = lwip.run(["ping", "-6", "-c", "5", "-i", "0.1", "-W", "2", addr_b], timeout=30)
            assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
            assert re.search(r"(ttl|hlim)=63\b", done.stdout), done.stdout  # b's 64, one less through lwipy
            assert lwip.stats()["ip6"]["fw"] >= 10

            # 1400-byte echoes do not fit lanb (1280): lwipy says packet too big, the kernel fragments from then on
            big = lwip.run(["ping", "-6", "-c", "4", "-i", "0.3", "-W", "2", "-s", "1400", addr_b], timeout=30)
            stats = nsx.parse_ping(big.stdout + big.stderr)
            assert stats.received >= 3, big.stdout + big.stderr
            route = lwip.run(["ip", "-6", "route", "get", addr_b], check=True).stdout
            assert "mtu 1280" in route, route

            sink = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, "-I", "-c", SINK],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert sink.stdout is not None and sink.stdout.readline().strip() == "listening"
                sent = lwip.python(SOURCE, addr_b, str(20_000_000), timeout=120).stdout.split()
                out, err = sink.communicate(timeout=60)
            finally:
                if sink.poll() is None:
                    sink.kill()
                    sink.wait(timeout=10)
            got = out.split()
            assert got[:2] == sent[:2], f"sent {sent}, received {got} ({err})"
            assert ipaddress.IPv6Address(got[2]) == ipaddress.IPv6Address(addr_a)
            counters = lwip.stats()
            assert counters["ip6"]["fw"] > 10_000 and counters["icmp6"]["xmit"] >= 1
        finally:
            if lwip.call(lambda: device_b in [n.device for n in lwip.stack.netifs]):
                lwip.call(lambda: lwip.stack.remove_netif(lwip.stack.netif_by_name("lanb")))
            device_b.close()
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, "icmpv6.type == 2 && icmpv6.mtu == 1280", "frame.number")


def test_lwipy_up_advertise_is_the_kernels_router(kernel_tap):
    import os
    import signal
    host_accepts_ras(kernel_tap.ns, kernel_tap.ifname)
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
    proc = subprocess.Popen([sys.executable, "-m", "lwipy", "up", "--tap", kernel_tap.ifname, "--netns",
                             kernel_tap.ns, "--ip6", "2001:db8:66::1/64", "--advertise", "--rdnss", "2001:db8:66::53"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "advertising 2001:db8:66::/64" in banner, banner
        kernel_global(kernel_tap.ns, kernel_tap.ifname, "2001:db8:66::/64")
        done = nsx.ns_run(kernel_tap.ns, ["ping", "-6", "-c", "3", "-i", "0.1", "-W", "2", "2001:db8:66::1"])
        assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
