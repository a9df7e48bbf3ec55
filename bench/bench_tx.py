#!/usr/bin/env python3
"""The send direction alone (stack -> kernel, no offload): the pcb API's chargen beside a sockets-API sender.

    sudo python3 bench/bench_tx.py [--rounds 3] [--mb 50] [--configs esp,tuned] [--modes pcb,sock] [--write 65536]

lwipy runs in a process of its own on a TAP in a namespace made here (as ``bench_vs_lwip.py`` runs it), and a kernel
client reads ``--mb`` MB from it.  Modes:

- ``pcb``: the chargen server (port 19) on the pcb API, in the core thread;
- ``sock``: a blocking lwipy socket on an application thread, ``sendall`` of ``--write``-byte blocks (port 20).

Per run: Mbit/s, the stack process's CPU (every thread, schedstat) per frame it sent (the TAP's ``rx_packets`` seen
from the kernel), and frames per MB (full segments would make 1e6 / MSS-less-options).  ``LWIPY_BENCH_PROFILE=path``
writes a cProfile of the core thread, and ``path.sender`` one of the sender thread (sock mode).  Only figures from one
run compare.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_vs_lwip as bv  # noqa: E402  (puts src/ and tests/interop/ on the path)

SOCK_PORT = 20


def tap_stack(config: str, ns: str, tap: str, name: str) -> tuple:
    """``--serve``'s lwipy: a stack of ``config`` (``bench_vs_lwip.lwipy_config``) on ``tap`` in ``ns``, its loop
    (not started) and its sockets: (stack, device, loop, SocketApi)."""
    from lwipy import Stack
    from lwipy.api import SocketApi
    from lwipy.api.loop import StackLoop
    from lwipy.netif.tap import TapDevice
    stack = Stack(bv.lwipy_config(config), seed=1, name=name)
    dev = TapDevice(tap, netns=ns)
    stack.add_netif(dev, ip=f"{bv.STACK_IP}/{bv.PREFIX}")
    loop = StackLoop(stack)
    return stack, dev, loop, SocketApi(loop)


def serve(config: str, ns: str, tap: str, write: int) -> None:
    """``--serve``: lwipy with chargen (19) and a socket sender (20) until SIGTERM."""
    from lwipy.apps import TcpChargenServer
    stack, dev, loop, api = tap_stack(config, ns, tap, "bench-tx")
    TcpChargenServer(stack, 19)
    srv_box: list = []
    profile = os.environ.get("LWIPY_BENCH_PROFILE")

    def sender() -> None:
        srv = srv_box[0]
        block = memoryview(b"\x5a" * write)
        prof = None
        if profile:  # the sender thread's own profile beside the core thread's, written after each connection
            import cProfile
            prof = cProfile.Profile()
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if prof is not None:
                prof.enable()
            try:
                while True:
                    conn.sendall(block)
            except OSError:
                pass
            finally:
                conn.close()
                if prof is not None:
                    prof.disable()
                    prof.dump_stats(f"{profile}.sender")

    signal.signal(signal.SIGTERM, lambda *_: loop.stop(timeout=None))
    if profile:
        import cProfile

        def run() -> None:
            cProfile.runctx("loop.run()", globals(), {"loop": loop}, profile)
    else:
        run = loop.run

    def start_sender() -> None:
        srv_box.append(api.create_server(("", SOCK_PORT)))
        threading.Thread(target=sender, daemon=True).start()
    def ready() -> None:
        while not loop.running:
            time.sleep(0.01)
        start_sender()
        print(f"ready pid={os.getpid()}", flush=True)
    threading.Thread(target=ready, daemon=True).start()
    run()
    dev.close()


def user_sys(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of every thread of ``pid`` (clock ticks: coarse, fine over a second)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


@contextlib.contextmanager
def served(script: str, ns_name: str, config: str, extra: list[str]) -> Iterator[tuple[str, subprocess.Popen, str]]:
    """``script --serve config NS TAP extra...`` (lwipy in a process of its own) on a TAP in a namespace made here,
    started, ARP warmed up by a ping, stopped on exit: (namespace, process, its ready line)."""
    import interop_netns as nsx
    with nsx.namespace(ns_name) as ns:
        nsx.add_tap(ns, bv.TAP, bv.KERNEL_IP, bv.PREFIX, mtu=1500)
        proc = subprocess.Popen([sys.executable, script, "--serve", config, ns, bv.TAP, *extra],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise RuntimeError(f"lwipy did not start: {line!r}")
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", bv.STACK_IP], timeout=30, check=True)
            yield ns, proc, line
        finally:
            bv.stop_process(proc)


def measure(config: str, modes: list[str], n: int, write: int) -> dict[str, dict[str, float]]:
    import interop_netns as nsx
    out: dict[str, dict[str, float]] = {}
    with served(str(Path(__file__).resolve()), "lbtx", config, ["--write", str(write)]) as (ns, proc, _):
        for mode in modes:
            port = "19" if mode == "pcb" else str(SOCK_PORT)
            cpu0, pk0, us0 = bv.cpu_seconds(proc.pid), bv.tap_packets(ns, "rx"), user_sys(proc.pid)
            secs = float(nsx.ns_python(ns, bv.RECEIVE, bv.STACK_IP, port, str(n), timeout=600).stdout)
            cpu1, pk1, us1 = bv.cpu_seconds(proc.pid), bv.tap_packets(ns, "rx"), user_sys(proc.pid)
            frames = max(1, pk1 - pk0)
            out[mode] = {"mbit": n * 8 / secs / 1e6, "cpu_us_per_seg": (cpu1 - cpu0) / frames * 1e6,
                         "user_us": (us1[0] - us0[0]) / frames * 1e6, "sys_us": (us1[1] - us0[1]) / frames * 1e6,
                         "segs_per_mb": (pk1 - pk0) / (n / 1e6)}
    return out


def run_rounds(measure_one: Callable[[str, list[str]], dict[str, dict[str, float]]], configs: list[str],
               modes: list[str], rounds: int) -> dict[tuple[str, str], dict[str, float]]:
    """Every configuration each round (the modes in turn, their order reversed every other round), each result
    printed as it comes; the medians per (configuration, mode)."""
    res: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(rounds):
        for config in configs:
            for mode, vals in measure_one(config, modes if r % 2 == 0 else modes[::-1]).items():
                res.setdefault((config, mode), []).append(vals)
                print(f"  round {r + 1} {config:5} {mode:4} " + " ".join(f"{k}={v:.1f}" for k, v in vals.items()),
                      flush=True)
    return {key: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for key, runs in res.items()}


def bench_main(doc: str, mb: int, knob: tuple[str, int, str], serve_fn: Callable[..., None],
               measure_fn: Callable[[str, list[str], int, int], dict[str, dict[str, float]]], title: str,
               column: tuple[str, str, str], per: str) -> int:
    """The command line bench_tx.py and bench_rx.py share: ``--rounds``, ``--mb`` (default ``mb``), ``--configs``,
    ``--modes`` and the size ``knob`` (name, default, help) handed to ``serve_fn`` and ``measure_fn``; the
    medians printed under ``title`` (formatted with rounds, mb, the knob's value and the load before and after),
    the last column ``column`` (heading, key, format), CPU per ``per`` ("sent", "received") frame."""
    name, default, help_text = knob
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=mb)
    parser.add_argument("--configs", default="esp,tuned")
    parser.add_argument("--modes", default="pcb,sock")
    parser.add_argument(f"--{name}", type=int, default=default, help=help_text)
    parser.add_argument("--serve", nargs=3, metavar=("CONFIG", "NETNS", "TAP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = getattr(args, name)
    if args.serve:
        serve_fn(*args.serve, size)
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    configs = [c for c in args.configs.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    load0 = os.getloadavg()
    medians = run_rounds(lambda config, order: measure_fn(config, order, args.mb * 1_000_000, size), configs,
                         modes, args.rounds)
    load1 = os.getloadavg()
    print("\n" + title.format(rounds=args.rounds, mb=args.mb, size=size, load0=load0[0], load1=load1[0]))
    heading, key, fmt = column
    print(f"| config | mode | Mbit/s | CPU µs per {per} frame (user + sys) | {heading} |")
    print("|---|---|---|---|---|")
    for (config, mode), med in medians.items():
        cpu = f"{med['cpu_us_per_seg']:.1f} ({med['user_us']:.1f} + {med['sys_us']:.1f})"
        print(f"| {config} | {mode} | {med['mbit']:.0f} | {cpu} | {med[key]:{fmt}} |")
    return 0


def main() -> int:
    return bench_main(__doc__, 50, ("write", 65536, "sendall block size in sock mode"), serve, measure,
                      "stack -> kernel, medians of {rounds} rounds, {mb} MB, sendall {size} B; load average "
                      "{load0:.1f} before, {load1:.1f} after", ("frames per MB", "segs_per_mb", ".0f"), "sent")


if __name__ == "__main__":
    sys.exit(main())
