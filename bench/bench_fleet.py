#!/usr/bin/env python3
"""A fleet in one process: n stacks each take a DHCP lease from one lwipy DHCP server (``Simulation.fleet``).

    python3 bench/bench_fleet.py [--stacks 1000] [--plain 200]
    sudo python3 bench/bench_fleet.py --dnsmasq      # also: the same fleet in real time against dnsmasq over a TAP

Reported, for virtual time and for real time:

- wall-clock seconds to build the fleet and to run it until every stack is bound (virtual seconds too);
- memory per stack: Python heap allocations (tracemalloc) of the built and bound fleet, divided by the stacks;
- frames delivered per station (link ``recv``), and leases per wall-clock second.

Baseline of the same run: the same fleet on a plain hub (every broadcast reaches every station: n² deliveries) for
``--plain`` stacks, as measured (not extrapolated).  With ``--dnsmasq`` (root): the fleet's segment is bridged to a
TAP in a namespace made here (``lwipy-<pid>-<n>``, deleted on exit) whose kernel side runs dnsmasq
(``--no-ping``, lease file in a temporary directory), and the fleet takes its leases from dnsmasq in real time: the
leases per second of lwipy's server beside dnsmasq's, same clients.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lwipy.sim import Simulation  # noqa: E402


def run_dnsmasq(n: int, spread: float) -> dict:
    """The fleet in real time against dnsmasq on the kernel side of a TAP bridged to the fleet's segment."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests" / "interop"))
    import interop_netns as nsx
    from dhcp_peers import dnsmasq

    from lwipy.netif.tap import TapDevice

    with nsx.namespace() as ns, tempfile.TemporaryDirectory() as tmp:
        nsx.add_tap(ns, nsx.TAP, "10.88.0.1", 16)
        server = dnsmasq(ns, nsx.TAP, Path(tmp), "--dhcp-range=10.88.1.0,10.88.8.255,255.255.0.0,1h", "--no-ping",
                         f"--dhcp-lease-max={n + 100}")
        try:
            server.wait_log(lambda t: "started" in t, 30, "dnsmasq to start")
            tap = TapDevice(nsx.TAP, netns=ns)
            t0 = time.perf_counter()
            sim = Simulation(seed=1, realtime=True)
            fleet = sim.fleet(n, server=False, start_within=spread)
            sim.bridge(sim.hubs[-1], tap)
            t1 = time.perf_counter()
            bound = sim.run_until(fleet.all_bound, timeout=120)
            t2 = time.perf_counter()
            tap.close()
            leases = sum(1 for line in (Path(tmp) / "dnsmasq.leases").read_text().splitlines() if line.strip())
        finally:
            server.stop()
    return {"n": n, "bound": bound and fleet.bound() == n and leases >= n, "build_s": t1 - t0, "run_s": t2 - t1,
            "virtual_s": sim.now, "total_s": t2 - t0, "bytes_per_stack": 0,
            "frames_per_station": sum(s.stats.link.recv for s in fleet.stacks) / n,
            "unique": len(set(fleet.addresses())) == n}


def run(n: int, realtime: bool, plain: bool, measure_memory: bool) -> dict:
    if measure_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    sim = Simulation(seed=1, realtime=realtime)
    fleet = sim.fleet(n, sim.hub(queue_len=4 * n + 4096) if plain else None)
    t1 = time.perf_counter()
    bound = sim.run_until(fleet.all_bound, timeout=120)
    t2 = time.perf_counter()
    memory = 0
    if measure_memory:
        memory, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    recv = [s.stats.link.recv for s in fleet.stacks]
    return {"n": n, "bound": bound and fleet.bound() == n, "build_s": t1 - t0, "run_s": t2 - t1, "virtual_s": sim.now,
            "total_s": t2 - t0, "bytes_per_stack": memory / (n + 1) if memory else 0,
            "frames_per_station": sum(recv) / n, "unique": len(set(fleet.addresses())) == n}


def show(label: str, r: dict) -> None:
    mem = f", {r['bytes_per_stack'] / 1024:.1f} KiB per stack" if r["bytes_per_stack"] else ""
    print(f"{label:34} {r['n']:5} stacks: {'all bound' if r['bound'] and r['unique'] else 'NOT ALL BOUND'} in "
          f"{r['total_s']:.2f} s wall ({r['build_s']:.2f} s build, {r['run_s']:.2f} s run, {r['virtual_s']:.2f} s "
          f"simulated), {r['n'] / r['total_s']:.0f} leases/s, {r['frames_per_station']:.1f} frames per station{mem}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stacks", type=int, default=1000)
    ap.add_argument("--plain", type=int, default=200, help="stacks of the plain-hub baseline (0: skip)")
    ap.add_argument("--dnsmasq", action="store_true", help="also lease from dnsmasq over a TAP (root)")
    ap.add_argument("--spread", type=float, default=5.0, help="with --dnsmasq, a second run starting the clients "
                                                               "within this many seconds")
    args = ap.parse_args()
    results = [("virtual time, access-point segment", run(args.stacks, False, False, False)),
               ("real time, access-point segment", run(args.stacks, True, False, False)),
               ("memory (virtual time, tracemalloc)", run(args.stacks, False, False, True))]
    if args.plain:
        results.append(("baseline: virtual time, plain hub", run(args.plain, False, True, False)))
    if args.dnsmasq:
        results.append(("real time, from dnsmasq over a TAP", run_dnsmasq(args.stacks, 0.0)))
        results.append((f"  the same, started within {args.spread:g} s", run_dnsmasq(args.stacks, args.spread)))
    for label, r in results:
        show(label, r)
    return 0 if all(r["bound"] and r["unique"] for _, r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
