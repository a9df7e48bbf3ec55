#!/usr/bin/env python3
"""DNS query latency, lwipy's resolver beside the kernel's sockets, against the same dnsmasq, same run.

    sudo python3 bench/bench_dns.py [--queries 500]

A namespace made here (``lwipy-<pid>-<n>``, deleted on exit) holds a TAP whose kernel side (10.77.0.1) runs dnsmasq
answering every name under lwipy.test with a TTL of an hour.  Measured, per query, from the application's call to its
answer:

- lwipy: ``netconn_gethostbyname`` from an application thread on a :class:`~lwipy.api.loop.StackLoop` over the TAP;
  cold (a new name each time: a query on the wire) and cached (the same name again: answered from lwIP's table);
- the kernel: dnspython in the namespace (kernel UDP sockets, loopback-free: it asks 10.77.0.1 too); cold (new names)
  and cached (dnspython's LRU cache), the baseline for both.

Prints p50 and p99 in microseconds for each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api import netconn_gethostbyname  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.core.dns import LWIP_DNS_ADDRTYPE_IPV4  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402

KERNEL_CLIENT = r"""
import json, sys, time
import dns.resolver
n = int(sys.argv[1])
r = dns.resolver.Resolver(configure=False)
r.nameservers = [sys.argv[2]]
r.lifetime = 5
cold = []
for i in range(n):
    t = time.perf_counter()
    r.resolve(f"k{i}.lwipy.test", "A")
    cold.append(time.perf_counter() - t)
r.cache = dns.resolver.LRUCache()
r.resolve("kcached.lwipy.test", "A")
cached = []
for i in range(n):
    t = time.perf_counter()
    r.resolve("kcached.lwipy.test", "A")
    cached.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "cached": cached}))
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


def row(label: str, samples: list[float]) -> str:
    return (f"{label:<34} p50 {pct(samples, 0.50):9.1f} us   p99 {pct(samples, 0.99):9.1f} us   "
            f"mean {statistics.fmean(samples) * 1e6:9.1f} us   n={len(samples)}")


def run(queries: int) -> list[str]:
    with nsx.namespace() as ns:
        nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--no-resolv",
                                    "--no-hosts", "--conf-file=/dev/null", f"--listen-address={nsx.KERNEL_IP}",
                                    "--bind-interfaces", "--port=53", f"--address=/lwipy.test/{nsx.KERNEL_IP}",
                                    "--local-ttl=3600", "--cache-size=10000", "--pid-file=", "--user=root"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack = Stack(Config(), seed=1, name="bench-dns")
        dev = TapDevice(nsx.TAP, netns=ns)
        loop = None
        try:
            stack.add_netif(dev, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}")
            loop = StackLoop(stack).start()
            loop.call(lambda: stack.dns_setserver(0, nsx.KERNEL_IP))
            deadline = time.monotonic() + 10
            while True:  # dnsmasq is up once it answers
                try:
                    netconn_gethostbyname(loop, "warmup.lwipy.test", LWIP_DNS_ADDRTYPE_IPV4)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
            cold, cached = [], []
            sent0 = loop.call(lambda: stack.dns.counters["sent"])
            for i in range(queries):
                t = time.perf_counter()
                netconn_gethostbyname(loop, f"l{i}.lwipy.test", LWIP_DNS_ADDRTYPE_IPV4)
                cold.append(time.perf_counter() - t)
            sent1 = loop.call(lambda: stack.dns.counters["sent"])
            # the cold names pushed warmup.lwipy.test out of the table (DNS_TABLE_SIZE 4): ask it once again
            netconn_gethostbyname(loop, "warmup.lwipy.test", LWIP_DNS_ADDRTYPE_IPV4)
            primed = loop.call(lambda: stack.dns.counters["sent"])
            for _ in range(queries):
                t = time.perf_counter()
                answer = netconn_gethostbyname(loop, "warmup.lwipy.test", LWIP_DNS_ADDRTYPE_IPV4)
                cached.append(time.perf_counter() - t)
            assert answer.source == "cache"
            sent2 = loop.call(lambda: stack.dns.counters["sent"])
            kernel = json.loads(nsx.ns_python(ns, KERNEL_CLIENT, str(queries), nsx.KERNEL_IP, timeout=300).stdout)
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            dev.close()
            dnsmasq.terminate()
            dnsmasq.wait(10)
    return [row("lwipy cold (query on the wire)", cold), row("kernel+dnspython cold", kernel["cold"]),
            row("lwipy cached (lwIP's table)", cached), row("kernel+dnspython cached (LRU)", kernel["cached"]),
            f"lwipy sent {sent1 - sent0} queries for {queries} cold names and {sent2 - primed} for {queries} cached "
            "look-ups"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    problem = nsx.requirements_problem()
    if problem is not None:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    for line in run(args.queries):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
