"""lwipy's DHCP server (ESP-IDF's dhcpserver) on a TAP, serving busybox udhcpc, isc-dhclient and dhcpcd, each in its
own namespace behind a veth pair bridged to the TAP: each gets a lease that ``ip addr`` shows, renewals are answered,
MAX_STATION_NUM + 1 clients evict the oldest, a static lease holds.  The clients run with our own hook scripts (which
configure the address with ``ip`` and log), so nothing outside the namespaces (resolv.conf) is touched."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from pathlib import Path
from typing import Iterator

import interop_netns as nsx
import pytest
from conftest import require_interop
from dhcp_peers import Daemon, need
from test_ipv4_kernel import TSHARK_PROBLEMS, tshark

from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.apps import DhcpsAssigned, DhcpServer
from lwipy.netif.pcap import PcapDevice
from lwipy.netif.tap import TapDevice

IP = ipaddress.IPv4Address
SERVER_IP = "10.77.0.2"
# the hooks log an event after acting on it: a test that sees "renew" finds the address back in place
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface" ;;
  deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
esac
echo "$1 $ip $lease" >> {log}
"""
DHCLIENT_SCRIPT = """#!/bin/sh
case "$reason" in
  PREINIT) ip link set "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    [ "$old_ip_address" = "$new_ip_address" ] || ip addr flush dev "$interface"
    ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface" ;;
esac
echo "$reason $new_ip_address $new_dhcp_lease_time" >> {log}
exit 0
"""
DHCPCD_SCRIPT = """#!/bin/sh
echo "$reason $new_ip_address $new_dhcp_lease_time" >> {log}
"""


class Segment:
    """Namespace ``ns`` with the TAP bridged to a veth per client namespace; lwipy's server on the TAP."""

    def __init__(self, tmp: Path, config: Config, **server) -> None:
        self.tmp = tmp
        self.namespaces: list[str] = []
        self.daemons: list[Daemon] = []
        self.ns = self._namespace()
        nsx.add_tap(self.ns, nsx.TAP)
        self.ip(self.ns, "link", "add", "br0", "type", "bridge")
        self.ip(self.ns, "link", "set", nsx.TAP, "master", "br0")
        self.ip(self.ns, "link", "set", "br0", "up")
        self.stack = Stack(config, seed=3, name="lwip-dhcps")
        self.pcap = tmp / "lwip.pcap"
        self.device = PcapDevice(TapDevice(nsx.TAP, netns=self.ns), str(self.pcap))
        self.netif = self.stack.add_netif(self.device, ip=f"{SERVER_IP}/24")
        self.loop = StackLoop(self.stack).start()
        self.assigned: list[DhcpsAssigned] = []

        def setup() -> DhcpServer:
            self.stack.events.subscribe(DhcpsAssigned, self.assigned.append)
            s = DhcpServer(self.stack, self.netif, **server)
            s.start()
            return s
        self.server = self.loop.call(setup)

    def _namespace(self) -> str:
        name = nsx.unique_name()
        nsx.create(name)
        self.namespaces.append(name)
        return name

    @staticmethod
    def ip(ns: str, *args: str) -> str:
        return nsx.ns_run(ns, ["ip", *args], check=True).stdout

    def host(self, n: int, mac: str) -> tuple[str, str]:
        """A client namespace with interface ``c<pid>x<n>`` (MAC ``mac``) bridged to the TAP."""
        ns = self._namespace()
        peer, ifname = f"p{os.getpid()}x{n}", f"c{os.getpid()}x{n}"  # unique: dhcpcd names its files after it
        self.ip(self.ns, "link", "add", peer, "type", "veth", "peer", "name", ifname, "netns", ns)
        self.ip(self.ns, "link", "set", peer, "master", "br0", "up")
        self.ip(ns, "link", "set", ifname, "address", mac, "up")
        return ns, ifname

    def script(self, name: str, template: str) -> tuple[Path, Path]:
        log = self.tmp / f"{name}.events"
        path = self.tmp / f"{name}.sh"
        path.write_text(template.format(log=log))
        path.chmod(0o755)
        log.touch()
        return path, log

    def udhcpc(self, n: int, mac: str) -> tuple[str, str, Path]:
        busybox = need("busybox", "busybox")
        ns, ifname = self.host(n, mac)
        script, log = self.script(f"udhcpc{n}", UDHCPC_SCRIPT)
        self.daemons.append(Daemon(ns, [busybox, "udhcpc", "-f", "-i", ifname, "-s", str(script), "-t", "20", "-T",
                                        "1", "-x", f"hostname:udhcpc{n}"], self.tmp / f"udhcpc{n}.log"))
        return ns, ifname, log

    def dhclient(self, n: int, mac: str) -> tuple[str, str, Path]:
        exe = need("dhclient", "isc-dhcp-client")
        ns, ifname = self.host(n, mac)
        script, log = self.script(f"dhclient{n}", DHCLIENT_SCRIPT)
        self.daemons.append(Daemon(ns, [exe, "-4", "-d", "-v", "-lf", str(self.tmp / f"dhclient{n}.leases"), "-pf",
                                        str(self.tmp / f"dhclient{n}.pid"), "-sf", str(script), ifname],
                                   self.tmp / f"dhclient{n}.log"))
        return ns, ifname, log

    def dhcpcd(self, n: int, mac: str) -> tuple[str, str, Path]:
        exe = need("dhcpcd", "dhcpcd-base")
        ns, ifname = self.host(n, mac)
        script, log = self.script(f"dhcpcd{n}", DHCPCD_SCRIPT)
        self.daemons.append(Daemon(ns, [exe, "-B", "-4", "-d", "-L", "-A", "-f", "/dev/null", "-c", str(script),
                                        "-h", f"dhcpcd{n}", "-t", "30", ifname], self.tmp / f"dhcpcd{n}.log"))
        return ns, ifname, log

    def address(self, ns: str, ifname: str) -> str | None:
        out = nsx.ns_run(ns, ["ip", "-4", "-o", "addr", "show", "dev", ifname]).stdout
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
        return m.group(1) if m else None

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        logs = "\n".join(f"--- {d.log_path.name}\n{d.log[-2000:]}" for d in self.daemons)
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def acks_for(self, mac: str) -> int:
        raw = bytes.fromhex(mac.replace(":", ""))
        return sum(1 for e in list(self.assigned) if e.mac == raw)

    def close(self) -> None:
        for d in self.daemons:
            d.stop()
            print(f"--- {d.log_path.name}\n{d.log[-3000:]}")  # captured: pytest shows it when the test failed
        self.loop.stop()
        self.loop.close()
        self.device.close()
        for ns in self.namespaces:
            nsx.remove(ns)
        for d in ("/var/lib/dhcpcd", "/run/dhcpcd"):  # dhcpcd's files for our interfaces (named with our pid)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                if name.startswith(f"c{os.getpid()}x"):
                    try:
                        os.unlink(os.path.join(d, name))
                    except OSError:
                        pass


@pytest.fixture
def segment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Segment]:
    require_interop()
    marker = request.node.get_closest_marker("lwip_config")
    seg = Segment(tmp_path, Config(**(marker.kwargs if marker else {"dhcps_lease_unit": 1})), lease_time=20,
                  static_leases={"24:0a:c4:99:00:03": "10.77.0.77"})
    try:
        yield seg
    finally:
        seg.close()
    assert seg.stack.stats.link.err == 0


def test_udhcpc_dhclient_and_dhcpcd_get_leases_renew_them_and_a_static_lease_holds(segment: Segment):
    macs = ["24:0a:c4:99:00:01", "24:0a:c4:99:00:02", "24:0a:c4:99:00:03"]
    hosts = [segment.udhcpc(1, macs[0]), segment.dhclient(2, macs[1]), segment.dhcpcd(3, macs[2])]
    pool = segment.server.pool
    addrs = [segment.wait(lambda h=h: segment.address(h[0], h[1]), 40, f"an address on {h[1]}") for h in hosts]
    assert all(pool[0] <= IP(a) <= pool[1] for a in addrs[:2]) and len(set(addrs)) == 3
    assert addrs[2] == "10.77.0.77"  # dhcpcd's MAC has the static lease
    clients = segment.loop.call(lambda: {c.mac.hex(":"): (str(c.ip), c.hostname) for c in segment.server.clients()})
    assert clients[macs[0]] == (addrs[0], "udhcpc1") and clients[macs[2]] == ("10.77.0.77", "dhcpcd3")
    assert clients[macs[1]][0] == addrs[1]
    # 20-s leases: each client renews at about 10 s and is answered (an ACK, and the client's own account)
    for mac in macs:
        segment.wait(lambda mac=mac: segment.acks_for(mac) >= 2, 40, f"a renewal from {mac}")
    segment.wait(lambda: "renew" in (segment.tmp / "udhcpc1.events").read_text(), 10, "udhcpc's renew")
    segment.wait(lambda: "RENEW" in (segment.tmp / "dhclient2.events").read_text(), 10, "dhclient's RENEW")
    segment.wait(lambda: "RENEW" in (segment.tmp / "dhcpcd3.events").read_text(), 10, "dhcpcd's RENEW")
    assert [segment.address(h[0], h[1]) for h in hosts] == addrs
    segment.loop.stop()
    assert tshark(segment.pcap, TSHARK_PROBLEMS) == []
    assert tshark(segment.pcap, "dhcp.option.dhcp == 5 && dhcp.ip.your == 10.77.0.77", "frame.number")


@pytest.mark.lwip_config(dhcps_lease_unit=1, dhcps_max_station_num=2)
def test_max_station_num_plus_one_clients_evict_the_oldest(segment: Segment):
    macs = [f"24:0a:c4:99:01:0{n}" for n in (1, 2, 3)]
    hosts = []
    for n, mac in enumerate(macs, 1):
        hosts.append(segment.udhcpc(10 + n, mac))
        h = hosts[-1]
        segment.wait(lambda h=h: segment.address(h[0], h[1]), 40, f"an address on {h[1]}")
    stats = segment.loop.call(lambda: (segment.server.stats.evicted,
                                       [c.mac.hex(":") for c in segment.server.leases.values()]))
    assert stats[0] >= 1 and macs[0] not in stats[1] and macs[2] in stats[1]
    segment.loop.stop()
    assert tshark(segment.pcap, TSHARK_PROBLEMS) == []
