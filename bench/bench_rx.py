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

import os
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_vs_lwip as bv  # noqa: E402  (puts src/ and tests/interop/ on the path)
from bench_tx import bench_main, served, tap_stack, user_sys  # noqa: E402

SOCK_PORT = 21


def serve(config: str, ns: str, tap: str, read: int) -> None:
    """``--serve``: lwipy with discard (9) and a socket reader (21) until SIGTERM."""
    from lwipy.apps import TcpDiscardServer
    stack, dev, loop, api = tap_stack(config, ns, tap, "bench-rx")
    TcpDiscardServer(stack, 9)

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
    with served(str(Path(__file__).resolve()), "lbrx", config, ["--read", str(read)]) as (ns, proc, line):
        core = int(line.split("core=")[1])
        for mode in modes:
            port = "9" if mode == "pcb" else str(SOCK_PORT)
            cpu0, core0, pk0, us0 = (bv.cpu_seconds(proc.pid), thread_cpu(proc.pid, core), bv.tap_packets(ns, "tx"),
                                     user_sys(proc.pid))
            secs = float(nsx.ns_python(ns, bv.SEND, bv.STACK_IP, port, str(n), timeout=600).stdout)
            cpu1, core1, pk1, us1 = (bv.cpu_seconds(proc.pid), thread_cpu(proc.pid, core), bv.tap_packets(ns, "tx"),
                                     user_sys(proc.pid))
            frames = max(1, pk1 - pk0)
            out[mode] = {"mbit": n * 8 / secs / 1e6, "cpu_us_per_seg": (cpu1 - cpu0) / frames * 1e6,
                         "core_us": (core1 - core0) / frames * 1e6,
                         "user_us": (us1[0] - us0[0]) / frames * 1e6, "sys_us": (us1[1] - us0[1]) / frames * 1e6}
    return out


def main() -> int:
    return bench_main(__doc__, 30, ("read", 1 << 20, "recv_into buffer size in sock mode"), serve, measure,
                      "kernel -> stack, medians of {rounds} rounds, {mb} MB, recv_into {size} B; load average "
                      "{load0:.1f} before, {load1:.1f} after", ("of it the core thread's", "core_us", ".1f"),
                      "received")


if __name__ == "__main__":
    sys.exit(main())
