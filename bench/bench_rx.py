#!/usr/bin/env python3
"""The receive direction alone (kernel -> stack, no offload): the pcb API's discard beside a sockets-API reader.

    sudo python3 bench/bench_rx.py [--rounds 3] [--mb 30] [--configs esp,tuned] [--modes pcb,sock] [--read 1048576]

lwipy runs in a process of its own on a TAP in a namespace made here (as ``bench_tx.py`` runs it), and a kernel
client sends ``--mb`` MB to it.  Modes:

- ``pcb``: the discard server (port 9) on the pcb API, in the core thread;
- ``sock``: a blocking lwipy socket on an application thread, ``recv_into`` a ``--read``-byte buffer (port 21).

Per run: Mbit/s, the stack process's CPU (every thread, schedstat) per frame it received (the TAP's ``tx_packets``
seen from the kernel), split into user and system time, and the core thread's and the reader thread's share (sock
mode: what the two threads' hand-offs cost shows there).  Only figures from one run compare.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_vs_lwip as bv  # noqa: E402  (puts src/ and tests/interop/ on the path)
from bench_tx import user_sys  # noqa: E402

SOCK_PORT = 21


def serve(config: str, ns: str, tap: str, read: int) -> None:
    """``--serve``: lwipy with discard (9) and a socket reader (21) until SIGTERM."""
    from lwipy import Stack
    from lwipy.api import SocketApi
    from lwipy.api.loop import StackLoop
    from lwipy.apps import TcpDiscardServer
    from lwipy.netif.tap import TapDevice
    stack = Stack(bv.lwipy_config(config), seed=1, name="bench-rx")
    dev = TapDevice(tap, netns=ns)
    stack.add_netif(dev, ip=f"{bv.STACK_IP}/{bv.PREFIX}")
    TcpDiscardServer(stack, 9)
    loop = StackLoop(stack)
    api = SocketApi(loop)

    def reader(srv) -> None:
        buf = memoryview(bytearray(read))
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                while conn.recv_into(buf):
                    pass
            except OSError:
                pass
            finally:
                conn.close()

    def ready() -> None:
        while not loop.running:
            time.sleep(0.01)
        srv = api.create_server(("", SOCK_PORT))
        threading.Thread(target=reader, args=(srv,), name="reader", daemon=True).start()
        print(f"ready pid={os.getpid()} core={threading.main_thread().native_id}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: loop.stop(timeout=None))
    threading.Thread(target=ready, daemon=True).start()
    loop.run()
    dev.close()


def thread_cpu(pid: int, tid: int) -> float:
    """On-CPU seconds of one thread (schedstat)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def measure(config: str, modes: list[str], n: int, read: int) -> dict[str, dict[str, float]]:
    import interop_netns as nsx
    out: dict[str, dict[str, float]] = {}
    with nsx.namespace("lbrx") as ns:
        nsx.add_tap(ns, bv.TAP, bv.KERNEL_IP, bv.PREFIX, mtu=1500)
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", config, ns, bv.TAP,
                                 "--read", str(read)], stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise RuntimeError(f"lwipy did not start: {line!r}")
            core = int(line.split("core=")[1])
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", bv.STACK_IP], timeout=30, check=True)
            for mode in modes:
                port = "9" if mode == "pcb" else str(SOCK_PORT)
                cpu0, core0, pk0, us0 = (bv.cpu_seconds(proc.pid), thread_cpu(proc.pid, core),
                                         bv.tap_packets(ns, "tx"), user_sys(proc.pid))
                secs = float(nsx.ns_python(ns, bv.SEND, bv.STACK_IP, port, str(n), timeout=600).stdout)
                cpu1, core1, pk1, us1 = (bv.cpu_seconds(proc.pid), thread_cpu(proc.pid, core),
                                         bv.tap_packets(ns, "tx"), user_sys(proc.pid))
                frames = max(1, pk1 - pk0)
                out[mode] = {"mbit": n * 8 / secs / 1e6, "cpu_us_per_seg": (cpu1 - cpu0) / frames * 1e6,
                             "core_us": (core1 - core0) / frames * 1e6,
                             "user_us": (us1[0] - us0[0]) / frames * 1e6, "sys_us": (us1[1] - us0[1]) / frames * 1e6}
        finally:
            bv.stop_process(proc)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--configs", default="esp,tuned")
    parser.add_argument("--modes", default="pcb,sock")
    parser.add_argument("--read", type=int, default=1 << 20, help="recv_into buffer size in sock mode")
    parser.add_argument("--serve", nargs=3, metavar=("CONFIG", "NETNS", "TAP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, read=args.read)
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    configs = [c for c in args.configs.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    load0 = os.getloadavg()
    res: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for config in configs:
            got = measure(config, modes if r % 2 == 0 else modes[::-1], args.mb * 1_000_000, args.read)
            for mode, vals in got.items():
                res.setdefault((config, mode), []).append(vals)
                print(f"  round {r + 1} {config:5} {mode:4} " + " ".join(f"{k}={v:.1f}" for k, v in vals.items()),
                      flush=True)
    load1 = os.getloadavg()
    print(f"\nkernel -> stack, medians of {args.rounds} rounds, {args.mb} MB, recv_into {args.read} B; load average "
          f"{load0[0]:.1f} before, {load1[0]:.1f} after")
    print("| config | mode | Mbit/s | CPU µs per received frame (user + sys) | of it the core thread's |")
    print("|---|---|---|---|---|")
    for (config, mode), runs in res.items():
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        cpu = f"{med['cpu_us_per_seg']:.1f} ({med['user_us']:.1f} + {med['sys_us']:.1f})"
        print(f"| {config} | {mode} | {med['mbit']:.0f} | {cpu} | {med['core_us']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
