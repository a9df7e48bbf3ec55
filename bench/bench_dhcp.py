#!/usr/bin/env python3
"""DHCP: time from up to bound, lwipy's client beside the kernel's dhclient against the same dnsmasq; and the leases
per second lwipy's DHCP server hands to many lwipy clients in one process.

    sudo python3 bench/bench_dhcp.py [--runs 10] [--clients 100] [--rounds 5]

1. One namespace holds dnsmasq (``--no-ping``, so that its own conflict check does not weigh in) on a bridge with
   lwipy's TAP and a veth to a second namespace where isc-dhclient runs.  Each run takes a fresh MAC (a new lease):
   lwipy from ``DhcpClient.start()`` to BOUND (with CONFIG_LWIP_DHCP_DOES_ARP_CHECK, its default: two ARP probes and a
   second of waiting, and without), dhclient from its start to its exit with ``-1`` (it exits once bound; no ARP check).
2. In process, virtual time: ``--clients`` lwipy stacks (ESP-IDF's pool holds 100 at most) on one hub with a lwipy
   DhcpServer, all started at once; wall-clock seconds until all are bound, over ``--rounds`` rounds: leases/s.

Everything runs in namespaces made here (``lwipy-<pid>-<n>``), deleted on exit; daemons are stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.apps import DhcpBound, DhcpClient, DhcpServer, DhcpState  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402
from lwipy.sim import Simulation  # noqa: E402

DHCLIENT_SCRIPT = """#!/bin/sh
case "$reason" in
  PREINIT) ip link set "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
exit 0
"""


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {statistics.median(values) * 1000:.0f} ms, min {min(values) * 1000:.0f}, "
            f"max {max(values) * 1000:.0f} (n={len(values)})")


def lwip_once(stack: Stack, loop: StackLoop, dev: TapDevice, i: int, check: bool) -> float:
    """One lwipy client on a fresh netif (a new MAC) over the TAP: seconds from start() to DhcpBound."""
    done = threading.Event()
    t: dict[str, float] = {}

    def bound(event: DhcpBound) -> None:
        t.setdefault("end", time.perf_counter())
        done.set()

    def begin():
        stack.config = Config(dhcp_does_arp_check=check)
        netif = stack.add_netif(dev, name=f"en{i}", hwaddr=bytes([2, 0x77, 0, 0, i // 256, i % 256]))
        client = DhcpClient(stack, netif)
        sub = stack.events.subscribe(DhcpBound, bound)
        t["start"] = time.perf_counter()
        client.start()
        return client, netif, sub
    client, netif, sub = loop.call(begin)
    if not done.wait(30):
        raise RuntimeError("lwipy's client did not bind within 30 s")

    def end() -> None:
        sub.cancel()
        client.stop()
        stack.remove_netif(netif)
    loop.call(end)
    return t["end"] - t["start"]


def up_to_bound(runs: int) -> list[tuple[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="lwipy-bench-dhcp-"))
    script = tmp / "dhclient.sh"
    script.write_text(DHCLIENT_SCRIPT)
    script.chmod(0o755)
    lw_check: list[float] = []
    lw_nocheck: list[float] = []
    kernel: list[float] = []
    with nsx.namespace() as ns, nsx.namespace() as cns:
        nsx.add_tap(ns, nsx.TAP)
        run = lambda n, *a: nsx.ns_run(n, ["ip", *a], check=True)  # noqa: E731
        run(ns, "link", "add", "br0", "type", "bridge")
        run(ns, "link", "set", nsx.TAP, "master", "br0")
        run(ns, "addr", "add", "10.77.0.1/24", "dev", "br0")
        run(ns, "link", "set", "br0", "up")
        run(ns, "link", "add", "p0", "type", "veth", "peer", "name", "c0", "netns", cns)
        run(ns, "link", "set", "p0", "master", "br0", "up")
        log = open(tmp / "dnsmasq.log", "w")
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--no-resolv",
                                    "--no-hosts", "--port=0", "--interface=br0", "--bind-interfaces", "--no-ping",
                                    "--dhcp-authoritative", "--dhcp-range=10.77.0.10,10.77.0.250,255.255.255.0,1h",
                                    f"--dhcp-leasefile={tmp / 'leases'}", f"--pid-file={tmp / 'dnsmasq.pid'}",
                                    "--log-facility=-"], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            time.sleep(0.5)  # dnsmasq binds its socket (its first DISCOVER would otherwise wait 2 s for a retry)
            stack = Stack(Config(), seed=1, name="bench-dhcp")
            dev = TapDevice(nsx.TAP, netns=ns)
            loop = StackLoop(stack).start()
            try:
                for i in range(2 * runs):
                    check = i % 2 == 0
                    (lw_check if check else lw_nocheck).append(lwip_once(stack, loop, dev, i, check))
            finally:
                loop.stop()
                loop.close()
                dev.close()
            for i in range(runs):
                run(cns, "link", "set", "c0", "down")
                run(cns, "link", "set", "c0", "address", f"02:78:00:00:00:{i:02x}")
                run(cns, "addr", "flush", "dev", "c0")
                run(cns, "link", "set", "c0", "up")
                pidfile = tmp / f"dhclient{i}.pid"
                start = time.perf_counter()
                nsx.ns_run(cns, ["dhclient", "-1", "-4", "-sf", str(script), "-lf", str(tmp / f"dhclient{i}.leases"),
                                 "-pf", str(pidfile), "c0"], timeout=60, check=True)
                kernel.append(time.perf_counter() - start)
                if pidfile.exists():  # the daemon dhclient became once bound: stopped by its PID
                    try:
                        os.kill(int(pidfile.read_text().strip()), 15)
                    except (ValueError, ProcessLookupError):
                        pass
        finally:
            os.killpg(dnsmasq.pid, 15)
            dnsmasq.wait(timeout=10)
            log.close()
    return [("lwipy DhcpClient, ARP check (default)", ms(lw_check)),
            ("lwipy DhcpClient, no ARP check", ms(lw_nocheck)),
            ("kernel isc-dhclient -1 (baseline)", ms(kernel))]


def leases_per_second(clients: int, rounds: int) -> list[tuple[str, str]]:
    rates = []
    for r in range(rounds):
        sim = Simulation(seed=r)
        hub = sim.hub()
        ap = sim.add_stack("ap", hub, Config(dhcps_max_station_num=clients), ip="192.168.4.1/24")
        DhcpServer(ap, ap.netif_by_name("en0")).start()
        dhcp = []
        for n in range(clients):
            s = sim.add_stack(f"sta{n}", hub, Config(dhcp_does_arp_check=False, ipv6=False))
            c = DhcpClient(s, s.netif_by_name("en0"))
            dhcp.append(c)
        start = time.perf_counter()
        for c in dhcp:
            c.start()
        if not sim.run_until(lambda clients=dhcp: all(c.state == DhcpState.BOUND for c in clients), 600):
            raise RuntimeError("not every client bound")
        rates.append(clients / (time.perf_counter() - start))
    return [(f"lwipy DhcpServer, {clients} lwipy clients in one process, {rounds} rounds",
             f"median {statistics.median(rates):.0f} leases/s (min {min(rates):.0f}, max {max(rates):.0f})")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-tap", action="store_true", help="only the in-process part (no root needed)")
    args = parser.parse_args()
    rows = []
    if not args.skip_tap:
        problem = nsx.requirements_problem()
        if problem:
            print(f"skipping the TAP part: {problem}", file=sys.stderr)
        else:
            rows += up_to_bound(args.runs)
    rows += leases_per_second(min(args.clients, 100), args.rounds)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
