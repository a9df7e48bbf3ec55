#!/usr/bin/env python3
"""lwipy as a router, IPv4 beside IPv6, with the kernel as a router as the baseline, same run.

    sudo python3 bench/bench_forward.py [--pings 500] [--mbytes 50]

Two namespaces (the kernel as hosts A and B) with lwipy between them on two TAPs (``ip_forward``,
``ip6_forward``); then the same hosts behind a third namespace that forwards, over veth pairs.  Each path: ping RTT
from A to B (p50/p99) and a TCP stream of kernel sockets from A to B through the router, for each family.
Everything runs in namespaces made here, deleted on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402
from bench_foundation import fmt_rtt, ping_rtts  # noqa: E402
from bench_tcp import kernel_server, mbit  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402

SINK = r"""
import socket, sys, time
srv = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5009))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
n, first = 0, None
while chunk := conn.recv(1 << 18):
    first = first or time.monotonic()
    n += len(chunk)
print(n, time.monotonic() - first, flush=True)
"""

SOURCE = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 5009), timeout=10)
block, left = bytes(1 << 16), int(sys.argv[2])
while left > 0:
    s.sendall(block[:left])
    left -= len(block)
s.close()
"""

# host A side, host B side, the router's address on each
A4, R4A, B4, R4B = "10.1.0.2", "10.1.0.1", "10.2.0.2", "10.2.0.1"
A6, R6A, B6, R6B = "2001:db8:a::2", "2001:db8:a::1", "2001:db8:b::2", "2001:db8:b::1"


def host(ns: str, ifname: str, gw4: str, ip6: str, gw6: str) -> None:
    """A kernel host: its IPv6 address (the IPv4 one is on already) and default routes through the router."""
    for argv in (["ip", "-6", "addr", "add", f"{ip6}/64", "dev", ifname],
                 ["ip", "route", "add", "default", "via", gw4],
                 ["ip", "-6", "route", "add", "default", "via", gw6]):
        nsx.ns_run(ns, argv, check=True)


@contextlib.contextmanager
def lwipy_router() -> Iterator[tuple[str, str, Stack]]:
    with nsx.namespace("fwa", ipv6=True) as ns_a, nsx.namespace("fwb", ipv6=True) as ns_b:
        nsx.add_tap(ns_a, nsx.TAP, A4, 24)
        nsx.add_tap(ns_b, nsx.TAP, B4, 24)
        cfg = Config(ip_forward=True, ip6_forward=True, ipv6_dup_detect_attempts=0, ipv6_send_router_solicit=False)
        stack = Stack(cfg, seed=1, name="bench-router")
        devs = [TapDevice(nsx.TAP, netns=ns_a), TapDevice(nsx.TAP, netns=ns_b)]
        loop = None
        try:
            stack.add_netif(devs[0], name="lana", ip=f"{R4A}/24", ip6_linklocal=True, ip6=f"{R6A}/64")
            stack.add_netif(devs[1], name="lanb", ip=f"{R4B}/24", ip6_linklocal=True, ip6=f"{R6B}/64")
            loop = StackLoop(stack).start()
            host(ns_a, nsx.TAP, R4A, A6, R6A)
            host(ns_b, nsx.TAP, R4B, B6, R6B)
            yield ns_a, ns_b, stack
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            for dev in devs:
                dev.close()


@contextlib.contextmanager
def kernel_router() -> Iterator[tuple[str, str, None]]:
    with nsx.namespace("fwr", ipv6=True) as ns_r, nsx.namespace("fwa", ipv6=True) as ns_a, \
            nsx.namespace("fwb", ipv6=True) as ns_b:
        nsx.write_sysctl(ns_r, "net.ipv4.ip_forward", "1")
        nsx.add_veth_pair(ns_r, "ra", R4A, ns_a, "eth0", A4)
        nsx.add_veth_pair(ns_r, "rb", R4B, ns_b, "eth0", B4)
        nsx.ns_run(ns_r, ["ip", "-6", "addr", "add", f"{R6A}/64", "dev", "ra"], check=True)
        nsx.ns_run(ns_r, ["ip", "-6", "addr", "add", f"{R6B}/64", "dev", "rb"], check=True)
        host(ns_a, "eth0", R4A, A6, R6A)
        host(ns_b, "eth0", R4B, B6, R6B)
        yield ns_a, ns_b, None


def measure(name: str, router, pings: int, nbytes: int) -> list[tuple[str, str]]:
    rows = []
    with router() as (ns_a, ns_b, stack):
        time.sleep(0.5)
        for family, dst in (("IPv4", B4), ("IPv6", B6)):
            nsx.ns_run(ns_a, ["ping", "-c", "3", "-i", "0.1", "-W", "1", dst], timeout=20)  # resolve neighbours
            rtts, got = ping_rtts(ns_a, dst, pings, 30)
            rows.append((f"ping A -> B, {family}, {name}", fmt_rtt(rtts, got)))
            with kernel_server(ns_b, SINK, dst) as sink:
                nsx.ns_python(ns_a, SOURCE, dst, str(nbytes), timeout=300)
                out, _ = sink.communicate(timeout=300)
            n, seconds = out.split()
            rows.append((f"TCP A -> B, {family}, {name}", mbit(int(n), float(seconds))))
        if stack is not None:
            rows.append((f"forwarded by {name}", f"IPv4 {stack.stats.ip.fw:,} packets, IPv6 {stack.stats.ip6.fw:,}"))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pings", type=int, default=500)
    p.add_argument("--mbytes", type=int, default=50)
    args = p.parse_args()
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    rows = measure("lwipy router", lwipy_router, args.pings, args.mbytes * 1_000_000)
    rows += measure("kernel router", kernel_router, args.pings, args.mbytes * 1_000_000)
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{a:<{width}}  {b}" for a, b in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
