#!/usr/bin/env python3
"""Ping latency of several stacks measured at the same time (issue 15 item 5: an idle stack waking fast).

    sudo python3 bench/bench_latency.py [--count 1000] [--interval 0.01] [--config esp] [--baseline-tree DIR]

Each stack runs on a TAP in a namespace of its own, and all of them are pinged at once (the pings' starts staggered
across the interval), so every stack meets the same machine: on this shared machine a figure taken a minute later
moves with the other users' load by more than the differences looked for, while figures taken at the same time
compare.  Between two pings each stack sleeps ``--interval`` seconds, long enough for a virtual CPU to halt and for
the process's caches to go cold; ``--interval 0.0002`` measures the warm case.

The stacks: lwipy of this tree; C lwIP (``../shared/peers/lwip-bench``, as ``bench_vs_lwip.py`` builds it); with
``--baseline-tree DIR`` (once or more) the lwipy of that checkout too; and the *floor*: ``floor_stack.py``, a
minimal pure-Python responder (epoll, one read, one struct, one write, no stack), which shows how fast CPython itself
answers after the same sleep.
Printed: average, p50, p90 and p99 of ping's round-trip times (the kernel's timestamps) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))
sys.path.insert(0, str(ROOT / "bench"))



def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> int:
    import bench_vs_lwip as b
    import interop_netns as nsx
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="pings per stack (default 1000)")
    parser.add_argument("--interval", default="0.01", help="seconds between one stack's pings (default 0.01)")
    parser.add_argument("--config", default="esp", choices=("esp", "tuned"))
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR", action="append", default=[],
                        help="also the lwipy of checkout DIR (may be given more than once)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs, each starting the pings in another order (default 1); with more, the medians")
    parser.add_argument("--no-c", action="store_true", help="leave C lwIP out")
    parser.add_argument("--no-floor", action="store_true", help="leave the minimal Python responder out")
    parser.add_argument("--build", type=Path, default=None, help="lwip-bench build directory (bench_vs_lwip's)")
    args = parser.parse_args()
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    stacks: list[tuple[str, str | None]] = [("lwipy", None)]
    for tree in args.baseline_tree:
        stacks.append((f"baseline {tree.name}" if len(args.baseline_tree) > 1 else "baseline",
                       str((tree / "src").resolve())))
    if not args.no_c:
        stacks.append(("C lwIP", None))
    if not args.no_floor:
        stacks.append(("floor", None))
    build = args.build
    if build is None and not args.no_c:
        build = b.default_build()
        b.build_peer(build)
    results: dict[str, list[list[float]]] = {name: [] for name, _ in stacks}
    loads: list[tuple[float, float]] = []
    with ExitStack() as cleanup:
        namespaces = []
        for i, (name, src) in enumerate(stacks):
            ns = cleanup.enter_context(nsx.namespace(f"lblat{i}"))
            nsx.add_tap(ns, b.TAP, b.KERNEL_IP, b.PREFIX, mtu=1500)
            if name == "floor":
                running = b.Running("floor", args.config, ns, Path("."), True)
                cleanup.callback(running.stop)
            else:
                running = b.Running(name if name == "C lwIP" else "lwipy", args.config, ns, build or Path("."),
                                    True, src)
                cleanup.callback(running.stop)
            namespaces.append(ns)
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", b.STACK_IP], timeout=30, check=True)  # ARP, warm-up
        for run in range(args.repeat):
            # each run starts the pings in another order: a stack's place in the interval moves round
            order = [(i + run) % len(stacks) for i in range(len(stacks))]
            load0 = os.getloadavg()[0]
            pings = {}
            for i in order:
                pings[i] = subprocess.Popen(["ip", "netns", "exec", namespaces[i], "ping", "-c", str(args.count),
                                             "-i", args.interval, b.STACK_IP], stdout=subprocess.PIPE, text=True)
                time.sleep(float(args.interval) / len(namespaces))
            for i, proc in pings.items():
                text = proc.communicate(timeout=args.count * float(args.interval) * 4 + 120)[0]
                results[stacks[i][0]].append([x * 1000 for x in nsx.parse_ping(text).rtts_ms])
            loads.append((load0, os.getloadavg()[0]))
    for run, (load0, load1) in enumerate(loads):
        print(f"run {run + 1} of {len(loads)}: ping every {args.interval} s, {args.count} per stack, all stacks at "
              f"once ({args.config}); load average {load0:.1f} before, {load1:.1f} after ({os.cpu_count()} CPUs)")
        print("| | avg | p50 | p90 | p99 |\n|---|---|---|---|---|")
        for name, _ in stacks:
            rtts = results[name][run]
            print(f"| {name} | {statistics.mean(rtts):.0f} µs | {pct(rtts, .5):.0f} µs | {pct(rtts, .9):.0f} µs | "
                  f"{pct(rtts, .99):.0f} µs |")
    if len(loads) > 1:
        print(f"median over the {len(loads)} runs of each run's figure, and p50 against C lwIP's in the same run")
        print("| | avg | p50 | p99 | p50 / C lwIP |\n|---|---|---|---|---|")
        c_runs = results.get("C lwIP")
        for name, _ in stacks:
            runs = results[name]
            ratio = ""
            if c_runs:
                ratio = f"{statistics.median(pct(r, .5) / pct(c, .5) for r, c in zip(runs, c_runs, strict=True)):.2f}"
            print(f"| {name} | {statistics.median(statistics.mean(r) for r in runs):.0f} µs | "
                  f"{statistics.median(pct(r, .5) for r in runs):.0f} µs | "
                  f"{statistics.median(pct(r, .99) for r in runs):.0f} µs | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
