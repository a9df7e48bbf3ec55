#!/usr/bin/env python3
"""TCP bulk throughput of lwipy on a TAP with checksum and segmentation offload (the virtio-net header), each way.

    sudo python3 bench/bench_offload.py [--mb 200] [--rounds 3] [--config tuned|esp|big] [--plain] [--kernel]

lwipy runs in a process of its own (``--serve``), on a TAP opened with ``offload=True`` in a namespace made here,
with the discard (9) and chargen (19) services, as ``bench_vs_lwip.py`` runs it.  A kernel client in the namespace
sends ``--mb`` megabytes to port 9 (kernel -> stack) and reads as many from port 19 (stack -> kernel).  Printed per
direction: Mbit/s, lwipy's CPU time per megabyte, and frames per megabyte through the TAP (a super-segment counts
once).  ``--plain`` adds the same rows without offload, ``--kernel`` the kernel against itself over a veth pair (the
same client scripts, the ceiling of this machine).  Configurations: ``tuned`` is bench_vs_lwip's "64 KB windows"
(MSS 1460, TCP_WND = TCP_SND_BUF = 65535), ``esp`` ESP-IDF's defaults, ``big`` 1 MB windows with scaling.
Medians of ``--rounds`` rounds, the variants alternating within a round; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_vs_lwip import RECEIVE, SEND, cpu_seconds, stop_process, tap_packets  # noqa: E402  (no lwipy imported)

sys.path.insert(0, os.environ.get("LWIPY_BENCH_SRC") or str(ROOT / "src"))  # --base: another tree's lwipy
sys.path.insert(0, str(ROOT / "tests" / "interop"))

KERNEL_IP, STACK_IP, PREFIX, TAP = "10.77.0.1", "10.77.0.2", 24, "lotap0"

SINK = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(2)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    if sys.argv[3] == "discard":
        while conn.recv(1 << 20):
            pass
    else:
        block = b"\x5a" * 262144
        try:
            while True:
                conn.send(block)
        except OSError:
            pass
    conn.close()
"""


def lwipy_config(name: str):
    from lwipy import Config
    if name == "esp":
        return Config()
    if name == "big":
        return Config.fast(tcp_wnd_default=1024000, tcp_snd_buf_default=1024000)
    return Config(tcp_mss=1460, tcp_wnd_default=65535, tcp_snd_buf_default=65535)  # bench_vs_lwip's "64 KB windows"


def serve(config: str, ns: str, tap: str, offload: bool) -> None:
    """``--serve``: lwipy on ``tap`` in ``ns`` with discard and chargen until SIGTERM."""
    from lwipy import Stack
    from lwipy.api.loop import StackLoop
    from lwipy.apps import TcpChargenServer, TcpDiscardServer
    from lwipy.netif.tap import TapDevice
    stack = Stack(lwipy_config(config), seed=1, name="bench-offload")
    dev = TapDevice(tap, netns=ns, offload=offload)
    stack.add_netif(dev, ip=f"{STACK_IP}/{PREFIX}")
    TcpDiscardServer(stack, 9)
    TcpChargenServer(stack, 19)
    loop = StackLoop(stack)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop(timeout=None))
    print(f"ready pid={os.getpid()}", flush=True)
    profile = os.environ.get("LWIPY_BENCH_PROFILE")  # a path: cProfile the core thread into it
    if profile:
        import cProfile
        cProfile.runctx("loop.run()", globals(), {"loop": loop}, profile)
    else:
        loop.run()
    print(f"gso rx={dev.rx_gso} tx={dev.tx_gso}", file=sys.stderr, flush=True)
    dev.close()


def measure_lwipy(config: str, offload: bool, n: int, only: str | None = None, src: Path | None = None
                  ) -> dict[str, float]:
    import interop_netns as nsx
    out: dict[str, float] = {}
    with nsx.namespace("lboff") as ns:
        nsx.add_tap(ns, TAP, KERNEL_IP, PREFIX, mtu=1500)
        env = dict(os.environ, LWIPY_BENCH_SRC=str(src)) if src is not None else None
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", config, ns, TAP,
                                 "1" if offload else "0"], stdout=subprocess.PIPE, text=True, env=env)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise RuntimeError(f"lwipy did not start: {line!r}")
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", STACK_IP], timeout=30, check=True)
            for key, script, port, frames in (("in", SEND, "9", "tx"), ("out", RECEIVE, "19", "rx")):
                if only and key != only:
                    continue
                cpu0, pk0 = cpu_seconds(proc.pid), tap_packets(ns, frames, TAP)
                secs = float(nsx.ns_python(ns, script, STACK_IP, port, str(n), timeout=600).stdout)
                cpu1, pk1 = cpu_seconds(proc.pid), tap_packets(ns, frames, TAP)
                out[key] = n * 8 / secs / 1e6
                out[f"{key}_cpu_ms_per_mb"] = (cpu1 - cpu0) / (n / 1e6) * 1e3
                out[f"{key}_frames_per_mb"] = (pk1 - pk0) / (n / 1e6)
        finally:
            stop_process(proc)
    return out


@contextlib.contextmanager
def _server(ns: str, *args: str):
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-I", "-c", SINK, *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def measure_kernel(n: int) -> dict[str, float]:
    """The kernel on both ends of a veth pair, the same client scripts: the machine's ceiling."""
    import interop_netns as nsx
    out: dict[str, float] = {}
    with nsx.namespace("lbka") as a, nsx.namespace("lbkb") as b:
        nsx.add_veth_pair(a, "va", "10.78.0.1", b, "vb", "10.78.0.2")
        with _server(b, "10.78.0.2", "9", "discard"), _server(b, "10.78.0.2", "19", "chargen"):
            for key, script, port in (("in", SEND, "9"), ("out", RECEIVE, "19")):
                secs = float(nsx.ns_python(a, script, "10.78.0.2", port, str(n), timeout=600).stdout)
                out[key] = n * 8 / secs / 1e6
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", nargs=4, metavar=("CONFIG", "NS", "TAP", "OFFLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--mb", type=int, default=200, help="megabytes each way (default 200)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", default="tuned", choices=("tuned", "esp", "big"))
    parser.add_argument("--plain", action="store_true", help="also lwipy without offload")
    parser.add_argument("--kernel", action="store_true", help="also the kernel over veth")
    parser.add_argument("--base", type=Path, help="also lwipy with offload from this tree (its src/), alternating")
    parser.add_argument("--only", choices=("in", "out"), help="one direction only (with LWIPY_BENCH_PROFILE=path)")
    args = parser.parse_args()
    if args.serve:
        config, ns, tap, offload = args.serve
        serve(config, ns, tap, offload == "1")
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        raise SystemExit(problem)
    n = args.mb * 1_000_000
    variants = ["offload"] + (["base"] if args.base else []) + (["plain"] if args.plain else []) + \
        (["kernel"] if args.kernel else [])
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    load0 = os.getloadavg()
    for r in range(args.rounds):
        for v in (variants if r % 2 == 0 else list(reversed(variants))):
            if v == "kernel":
                got = measure_kernel(n)
            else:
                got = measure_lwipy(args.config, v != "plain", n, args.only,
                                    args.base / "src" if v == "base" else None)
            results[v].append(got)
            print(f"  round {r + 1} {v:8} " + " ".join(f"{k}={x:.1f}" for k, x in got.items()), flush=True)
    load1 = os.getloadavg()
    print(f"\n{args.mb} MB each way, config {args.config}, medians of {args.rounds}; "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after; lwipy from {ROOT}")
    for v in variants:
        rows = results[v]
        keys = rows[0].keys()
        print(f"  {v:8} " + "  ".join(f"{k} {statistics.median(x[k] for x in rows):.1f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
