#!/usr/bin/env python3
"""What a wake-up from idle costs on this machine: ping round trips against the time between pings.

    sudo python3 bench/bench_wake.py [--intervals 0.01,0.002,0.0005,0.0002] [--count 300]

A namespace made here (``lwipy-<pid>-<n>``, deleted on exit) holds a TAP.  For each interval, ``ping -i INTERVAL`` from
the namespace against, one after the other:

- the floor's ping responder (``floor_stack.Floor.ping``: epoll, one read, a few slices, one write), timed inside its
  own process: from epoll's return to the reply's write, and the ``read`` and ``write`` system calls themselves;
- lwipy (``bench_vs_lwip.py --serve esp``) and C lwIP (``../shared/peers/lwip-bench``, ESP-IDF-like, built as
  ``bench_vs_lwip.py`` builds it), the round trip only.

On a machine whose idle CPUs sleep deeply (a VM whose vCPU halts when idle) every instruction after a long idle
runs several times slower than when the process was busy a moment before, the kernel's own system calls included:
the per-step figures grow with the interval while the work stays the same.  So a stack's ping p50 at the bench's 10
ms interval measures how much work it does cold, and C lwIP, doing less, pays less for it (the ratio at 10 ms is
then larger than at short intervals).  Prints a table of p50s in microseconds (the floor's steps
inside its process after its ping).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_vs_lwip as bv  # noqa: E402  (puts src/ and tests/interop/ on the path)
from floor_stack import MAC, Floor  # noqa: E402


class TimedFloor(Floor):
    """The floor's ping answer with its steps timed: after epoll's return, after the read, before and after the
    write (``perf_counter_ns``); SIGUSR1 writes the p50s of the pings since the last report as one JSON line."""

    def run(self) -> None:
        ep = select.epoll()
        ep.register(self.fd, select.EPOLLIN)
        read, write, fd, now = os.read, os.write, self.fd, time.perf_counter_ns
        steps: list[tuple[int, int, int]] = []

        def report(*_: object) -> None:
            got = list(zip(*steps, strict=True)) if steps else [(), (), ()]
            print(json.dumps({name: statistics.median(v) / 1000 if v else None
                              for name, v in zip(("wake_to_write", "read", "write"), got, strict=True)}),
                             flush=True)
            steps.clear()

        signal.signal(signal.SIGUSR1, report)
        while True:
            ep.poll()
            t0 = now()
            try:
                f = read(fd, 1518)
            except BlockingIOError:
                continue
            t1 = now()
            if len(f) >= 42 and f[23] == 1 and f[34] == 8 and f[12:14] == b"\x08\x00" and f[30:34] == self.me:
                buf = bytearray(f)
                buf[0:6], buf[6:12], buf[26:30], buf[30:34], buf[34] = f[6:12], MAC, f[30:34], f[26:30], 0
                csum = int.from_bytes(buf[36:38], "big") + 0x0800
                buf[36:38] = ((csum & 0xFFFF) + (csum >> 16)).to_bytes(2, "big")
                t2 = now()
                write(fd, buf)
                steps.append((t2 - t0, t1 - t0, now() - t2))
                continue
            self.frame(f)


def serve(ns: str, tap: str, ip: str) -> None:
    """``--serve``: the timed floor on ``tap`` in ``ns`` until SIGTERM."""
    from lwipy.netif.tap import TapDevice
    dev = TapDevice(tap, netns=ns)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready pid={os.getpid()}", flush=True)
    TimedFloor(dev.fd, bytes(int(x) for x in ip.split("."))).run()


def ping_p50(ns: str, interval: str, count: int) -> float:
    """``ping -c COUNT -i INTERVAL`` of the stack from the namespace: the p50 round trip in microseconds."""
    return bv.ping_figures(ns, interval=interval, count=count)[1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", default="0.01,0.002,0.0005,0.0002", help="ping intervals in seconds")
    parser.add_argument("--count", type=int, default=300, help="pings per interval")
    parser.add_argument("--serve", nargs=3, metavar=("NETNS", "TAP", "IP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    intervals = [i for i in args.intervals.split(",") if i]
    rows = []
    with nsx.namespace() as ns:
        nsx.add_tap(ns, bv.TAP, bv.KERNEL_IP, bv.PREFIX, mtu=1500)
        floor = subprocess.Popen([sys.executable, __file__, "--serve", ns, bv.TAP, bv.STACK_IP],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert floor.stdout is not None and floor.stdout.readline().startswith("ready")
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", bv.STACK_IP], timeout=30, check=True)  # ARP first
            os.kill(floor.pid, signal.SIGUSR1)
            floor.stdout.readline()  # (the warm-up's report)
            for interval in intervals:
                p50 = ping_p50(ns, interval, args.count)
                os.kill(floor.pid, signal.SIGUSR1)
                rows.append([interval, p50, json.loads(floor.stdout.readline())])
        finally:
            bv.stop_process(floor)
        build = bv.default_build()
        bv.build_peer(build)
        for which in ("lwipy", "C lwIP"):
            stack = bv.Running(which, "esp", ns, build, True)
            try:
                nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", bv.STACK_IP], timeout=30, check=True)
                for row in rows:
                    row.append(ping_p50(ns, row[0], args.count))
            finally:
                stack.stop()
    print(f"\nping p50 by interval, µs (Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.1f})")
    print("| interval | floor: ping | wake-up to write | read() | write() | lwipy: ping | C lwIP: ping | lwipy / C |")
    print("|---|---|---|---|---|---|---|---|")
    for interval, p50, steps, lwipy_p50, c_p50 in rows:
        print(f"| {float(interval) * 1000:g} ms | {p50:.0f} | {steps['wake_to_write']:.1f} | {steps['read']:.1f} | "
              f"{steps['write']:.1f} | {lwipy_p50:.0f} | {c_p50:.0f} | {lwipy_p50 / c_p50:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
