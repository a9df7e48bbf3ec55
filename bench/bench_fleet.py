#!/usr/bin/env python3
"""A fleet in one process: n stacks each take a DHCP lease from one lwipy DHCP server (``Simulation.fleet``).

    python3 bench/bench_fleet.py [--stacks 1000] [--plain 200]

Reported, for virtual time and for real time:

- wall-clock seconds to build the fleet and to run it until every stack is bound (virtual seconds too);
- memory per stack: Python heap allocations (tracemalloc) of the built and bound fleet, divided by the stacks;
- frames delivered per station (link ``recv``), and leases per wall-clock second.

Baseline of the same run: the same fleet on a plain hub (every broadcast reaches every station: n² deliveries) for
``--plain`` stacks, with its figures scaled to n as measured (not extrapolated beyond what ran).
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
    args = ap.parse_args()
    results = [("virtual time, access-point segment", run(args.stacks, False, False, False)),
               ("real time, access-point segment", run(args.stacks, True, False, False)),
               ("memory (virtual time, tracemalloc)", run(args.stacks, False, False, True))]
    if args.plain:
        results.append(("baseline: virtual time, plain hub", run(args.plain, False, True, False)))
    for label, r in results:
        show(label, r)
    return 0 if all(r["bound"] and r["unique"] for _, r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
