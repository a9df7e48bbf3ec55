#!/usr/bin/env python3
"""IPv6 beside IPv4, same run: ping RTT over a TAP, and the cost of one echo in ``stack.input``.

    sudo python3 bench/bench_ipv6.py [--pings 1000]

1. ``ping -c N -i 0.002`` from the kernel to lwipy over a TAP: IPv4 (10.77.0.2) and IPv6 (lwipy's link-local), one
   after the other on the same stack; then the kernel pinging the kernel over veth, both families, as the baseline.
2. TCP bulk (pcb level, as bench_tcp) kernel -> lwipy and lwipy -> kernel over the TAP, IPv4 then IPv6.
3. In-process: ICMP echo requests and ICMPv6 echo requests fed to ``stack.input`` (the reply goes to a device that
   discards it), frames per second.

Everything runs in namespaces made here (``lwipy-<pid>-<n>``), deleted on exit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402
from bench_foundation import fmt_rtt, ping_rtts  # noqa: E402
from bench_tcp import bulk_in, bulk_out  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.core.addr6 import PREFERRED  # noqa: E402
from lwipy.netif.device import Device  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402


def tcp_rows(n: int, offload: bool = False) -> list[tuple[str, str]]:
    """Bulk TCP kernel -> lwipy and lwipy -> kernel over the TAP, IPv4 then IPv6, the same pcb-level code (with
    ``offload``, the TAP's checksum and segmentation offload)."""
    rows = []
    with nsx.namespace(ipv6=True) as ns:
        nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
        nsx.ns_run(ns, ["ip", "-6", "addr", "add", "2001:db8:77::1/64", "dev", nsx.TAP], check=True)
        cfg = Config.fast(tcp_wnd_default=1024000, tcp_snd_buf_default=1024000, ipv6_dup_detect_attempts=0,
                     ipv6_send_router_solicit=False)
        stack = Stack(cfg, seed=1, name="bench6-tcp")
        dev = TapDevice(nsx.TAP, netns=ns, offload=offload)
        loop = None
        try:
            stack.add_netif(dev, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}", ip6="2001:db8:77::2/64")
            loop = StackLoop(stack).start()
            for family, lwip_ip, kernel_ip, port in (("IPv4", nsx.LWIP_IP, nsx.KERNEL_IP, 5001),
                                                     ("IPv6", "2001:db8:77::2", "2001:db8:77::1", 5003)):
                six = family == "IPv6"
                how = f"{family}, TAP{' offload' if offload else ''}"
                rows.append((f"TCP kernel -> lwipy, {how}", bulk_in(stack, loop, ns, lwip_ip, port, n,
                                                                     "::" if six else None)))
                rows.append((f"TCP lwipy -> kernel, {how}", bulk_out(stack, loop, ns, kernel_ip, port + 1, n, six)))
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            dev.close()
    return rows


def tap_rows(pings: int) -> list[tuple[str, str]]:
    rows = []
    with nsx.namespace(ipv6=True) as ns:
        nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
        stack = Stack(Config(), seed=1, name="bench6")
        dev = TapDevice(nsx.TAP, netns=ns)
        loop = None
        try:
            netif = stack.add_netif(dev, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}", ip6_linklocal=True)
            loop = StackLoop(stack).start()
            deadline = time.monotonic() + 5
            while loop.call(lambda: netif.ip6_addrs[0].state) != PREFERRED and time.monotonic() < deadline:
                time.sleep(0.05)
            ll = f"{netif.ip6_addrs[0].address}%{nsx.TAP}"
            for name, target in (("IPv4", nsx.LWIP_IP), ("IPv6", ll)):
                nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.01", "-W", "1", target], timeout=10)  # resolve first
                rtts, received = ping_rtts(ns, target, pings, 30)
                rows.append((f"ping RTT kernel -> lwipy, {name} (TAP)", fmt_rtt(rtts, received)))
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            dev.close()
    with nsx.namespace(ipv6=True) as a, nsx.namespace(ipv6=True) as b:
        nsx.add_veth_pair(a, "va", "10.78.0.1", b, "vb", "10.78.0.2")
        nsx.ns_run(b, ["ip", "-6", "addr", "add", "2001:db8:78::2/64", "dev", "vb"], check=True)
        nsx.ns_run(a, ["ip", "-6", "addr", "add", "2001:db8:78::1/64", "dev", "va"], check=True)
        for name, target in (("IPv4", "10.78.0.2"), ("IPv6", "2001:db8:78::2")):
            nsx.ns_run(a, ["ping", "-c", "3", "-i", "0.01", "-W", "1", target], timeout=10)
            rtts, received = ping_rtts(a, target, pings, 30)
            rows.append((f"ping RTT kernel -> kernel, {name} (veth)", fmt_rtt(rtts, received)))
    return rows


class Sink(Device):
    def transmit(self, frame) -> bool:
        return True


def input_rows(n: int) -> list[tuple[str, str]]:
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether
    stack = Stack(Config(), seed=1)
    mac = bytes.fromhex("02000000000b")
    netif = stack.add_netif(Sink(), hwaddr=mac, ip="10.9.0.2/24", ip6_linklocal=True)
    t = 0.0
    while (due := stack.poll_at()) is not None and due < 3.0:
        stack.poll(due)
    t = 3.0
    stack.etharp.add_static("10.9.0.1", bytes.fromhex("02000000000a"))
    stack.nd6.learn(netif, bytes.fromhex("fe80000000000000000000000000000a"), bytes.fromhex("02000000000a"))
    ll = str(netif.ip6_addrs[0].address)
    frames = {
        "ICMP echo request -> reply": bytes(Ether(dst="02:00:00:00:00:0b", src="02:00:00:00:00:0a") /
                                            IP(src="10.9.0.1", dst="10.9.0.2") / ICMP(id=1, seq=1) / (b"x" * 56)),
        "ICMPv6 echo request -> reply": bytes(Ether(dst="02:00:00:00:00:0b", src="02:00:00:00:00:0a") /
                                              IPv6(src="fe80::a", dst=ll) / ICMPv6EchoRequest(id=1, seq=1,
                                                                                              data=b"x" * 56)),
    }
    rows = []
    for name, frame in frames.items():
        start = time.perf_counter()
        for _ in range(n):
            t += 0.00001
            stack.input(netif, frame, t)
        dt = time.perf_counter() - start
        rows.append((f"stack.input, {name}", f"{n / dt:9,.0f} frames/s ({dt / n * 1e6:.1f} us each)"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=50000)
    parser.add_argument("--mb", type=int, default=100, help="megabytes per TCP transfer")
    args = parser.parse_args()
    rows = []
    problem = nsx.requirements_problem()
    if problem is None:
        rows += tap_rows(args.pings)
        rows += tcp_rows(args.mb * 1_000_000)
        rows += tcp_rows(args.mb * 1_000_000, offload=True)
    else:
        print(f"skipping the TAP and veth runs: {problem}")
    rows += input_rows(args.frames)
    print(f"\nIPv6 beside IPv4, Python {sys.version.split()[0]}")
    for name, result in rows:
        print(f"  {name:44} {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
