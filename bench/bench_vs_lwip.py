#!/usr/bin/env python3
"""lwipy against upstream C lwIP, in the same run, with the same kernel-side clients (issue 15's table).

    sudo python3 bench/bench_vs_lwip.py [--rounds 3] [--mb 50] [--configs esp,tuned] [--build DIR]

C lwIP is ``../shared/peers/lwip-bench`` (upstream's unix example app; its README), built by its ``build.sh`` into
``--build`` (default ``$XDG_CACHE_HOME/lwipy/lwip-bench``, outside the repository).  Both stacks run in a process of
their own on a TAP in a namespace made here, one at a time, serving TCP echo (7), discard (9) and chargen (19) and
answering ping; a round runs every measurement against one stack and then against the other, and rounds alternate
which goes first.  The figures are medians over the rounds:

- kernel -> stack: a kernel client sends ``--mb`` MB to discard 9 (connect to the stack's FIN);
- stack -> kernel: a kernel client reads ``--mb`` MB from chargen 19 (connect to the last byte);
- ping ``-c 200 -i 0.01`` average; TCP request/response, 64 bytes, TCP_NODELAY, 2000 round trips, p50 / p99;
- CPU per received segment: the stack process's CPU time (every thread, from ``/proc/PID/task/*/schedstat``)
  during kernel -> stack, over the frames the kernel sent on the TAP (its ``tx_packets``).

Configurations: ``esp`` is ESP-IDF's defaults (MSS 1440, windows 5760; lwipy's ``Config()``), ``tuned`` 64 KB
windows without scaling (C lwIP with MSS 1460, lwipy likewise).  The machine is shared: the load average is printed
with the table, and only ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

PEER = Path(os.environ.get("LWIP_BENCH_PEER", ROOT.parent / "shared" / "peers" / "lwip-bench"))  # run.sh, build.sh
KERNEL_IP, STACK_IP, PREFIX, TAP = "10.77.0.1", "10.77.0.2", 24, "lbtap0"

SEND = r"""
import socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = b"\xa5" * 262144
t0 = time.monotonic()
s = socket.create_connection((dst, port), timeout=60)
left = n
while left:
    left -= s.send(block[:min(left, len(block))])
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(time.monotonic() - t0)
"""

RECEIVE = r"""
import socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
s = socket.create_connection((dst, port), timeout=60)
got = 0
while got < n:
    k = len(s.recv(1 << 20))
    if not k:
        raise SystemExit("closed early")
    got += k
print(time.monotonic() - t0)
s.close()
"""

REQRESP = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"q" * 64
rtts = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    s.sendall(msg)
    got = b""
    while len(got) < 64:
        more = s.recv(64 - len(got))
        if not more:
            raise SystemExit("closed")
        got += more
    rtts.append(time.perf_counter() - t0)
s.close()
rtts.sort()
print(rtts[len(rtts) // 2] * 1e6, rtts[int(len(rtts) * 0.99)] * 1e6)
"""


# -- the lwipy side: a process of its own, as C lwIP's ----------------------------------------------------------------
def lwipy_config(name: str):
    from lwipy import Config
    if name == "esp":
        return Config()  # ESP-IDF's defaults: MSS 1440, TCP_WND = TCP_SND_BUF = 5760
    return Config(tcp_mss=1460, tcp_wnd_default=65535, tcp_snd_buf_default=65535)


def serve(config: str, ns: str, tap: str, fast_path: bool) -> None:
    """``--serve``: run lwipy on ``tap`` in ``ns`` with echo, discard and chargen until SIGTERM."""
    from lwipy import Stack
    from lwipy.api.loop import StackLoop
    from lwipy.apps import TcpChargenServer, TcpDiscardServer, TcpEchoServer
    from lwipy.netif.tap import TapDevice
    stack = Stack(lwipy_config(config), seed=1, name="bench")
    if hasattr(stack.tcp, "fast_path"):
        stack.tcp.fast_path = fast_path
    dev = TapDevice(tap, netns=ns)
    stack.add_netif(dev, ip=f"{STACK_IP}/{PREFIX}")
    TcpEchoServer(stack, 7)
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
    dev.close()


# -- measuring -------------------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """On-CPU time of every thread of ``pid`` (schedstat: nanoseconds, not clock ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def tap_tx_packets(ns: str) -> int:
    """Frames the kernel sent into the TAP (towards the stack)."""
    out = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", TAP], capture_output=True, text=True,
                         check=True).stdout
    return int(json.loads(out)[0]["stats64"]["tx"]["packets"])


class Running:
    """One stack serving on the TAP of namespace ``ns``."""

    def __init__(self, which: str, config: str, ns: str, build: Path, fast_path: bool) -> None:
        self.which = which
        if which == "lwipy":
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", config, ns, TAP,
                                          "--fast-path", "1" if fast_path else "0"], stdout=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line.startswith("ready"):
                raise RuntimeError(f"lwipy did not start: {line!r}")
            self.pid = self.proc.pid
        else:
            env = {**os.environ, "LWIP_BENCH_BUILD": str(build),
                   "LWIP_BENCH_LOG": f"/tmp/lwip-bench-vs.{os.getpid()}.log"}
            out = subprocess.run(["sh", str(PEER / "run.sh"), config, ns, TAP, f"{STACK_IP}/{PREFIX}"], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            info = dict(f.split("=", 1) for f in out.split()[1:])
            self.proc = None
            self.pid = int(info["pid"])

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            for _ in range(300):  # not our child (run.sh started it): wait for it to go
                if not os.path.exists(f"/proc/{self.pid}"):
                    break
                time.sleep(0.01)


def measure(which: str, config: str, n: int, build: Path, fast_path: bool) -> dict[str, float]:
    import interop_netns as nsx
    out: dict[str, float] = {}
    with nsx.namespace("lbvs") as ns:
        nsx.add_tap(ns, TAP, KERNEL_IP, PREFIX, mtu=1500)
        stack = Running(which, config, ns, build, fast_path)
        try:
            nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", STACK_IP], timeout=30, check=True)  # ARP, warm-up
            cpu0, pk0 = cpu_seconds(stack.pid), tap_tx_packets(ns)
            secs = float(nsx.ns_python(ns, SEND, STACK_IP, "9", str(n), timeout=600).stdout)
            cpu1, pk1 = cpu_seconds(stack.pid), tap_tx_packets(ns)
            out["in"] = n * 8 / secs / 1e6
            out["cpu_us_per_seg"] = (cpu1 - cpu0) / max(1, pk1 - pk0) * 1e6
            out["segs_per_mb"] = (pk1 - pk0) / (n / 1e6)
            secs = float(nsx.ns_python(ns, RECEIVE, STACK_IP, "19", str(n), timeout=600).stdout)
            out["out"] = n * 8 / secs / 1e6
            ping = nsx.parse_ping(nsx.ns_run(ns, ["ping", "-c", "200", "-i", "0.01", STACK_IP], timeout=60,
                                             check=True).stdout)
            out["ping_ms"] = statistics.mean(ping.rtts_ms)
            p50, p99 = nsx.ns_python(ns, REQRESP, STACK_IP, "7", "2000", timeout=120).stdout.split()
            out["rr_p50"], out["rr_p99"] = float(p50), float(p99)
        finally:
            stack.stop()
    return out


def build_peer(build: Path) -> None:
    done = subprocess.run(["sh", str(PEER / "build.sh"), str(build)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lwip-bench build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def run(configs: list[str], rounds: int, n: int, build: Path, fast_path: bool = True,
        stacks: tuple[str, ...] = ("lwipy", "C lwIP")) -> dict[tuple[str, str], list[dict[str, float]]]:
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(rounds):
        for config in configs:
            order = stacks if r % 2 == 0 else tuple(reversed(stacks))
            for which in order:
                got = measure(which, config, n, build, fast_path)
                results.setdefault((config, which), []).append(got)
                print(f"  round {r + 1} {config:5} {which:6} " + " ".join(f"{k}={v:.1f}" for k, v in got.items()),
                      flush=True)
    return results


def median(results: dict, config: str, which: str, key: str) -> float:
    return statistics.median(r[key] for r in results[(config, which)])


def table(results: dict, configs: list[str], columns: tuple[str, str] = ("lwipy", "C lwIP")) -> str:
    a, b = columns
    rows = [f"| | {a} | {b} | {a} / {b} |", "|---|---|---|---|"]

    def row(label: str, config: str, key: str, fmt: str) -> None:
        if (config, a) not in results or (config, b) not in results:
            return
        x, y = median(results, config, a, key), median(results, config, b, key)
        rows.append(f"| {label} | {fmt.format(x)} | {fmt.format(y)} | {x / y:.2f} |")

    names = {"esp": "ESP-IDF defaults", "tuned": "64 KB windows"}
    for config in configs:
        row(f"kernel → stack, {names[config]}", config, "in", "{:.0f} Mbit/s")
        row(f"stack → kernel, {names[config]}", config, "out", "{:.0f} Mbit/s")
    for config in configs:
        row(f"ping avg at 10 ms intervals, {names[config]}", config, "ping_ms", "{:.3f} ms")
        row(f"TCP request/response 64 B NODELAY p50, {names[config]}", config, "rr_p50", "{:.0f} µs")
        row(f"TCP request/response 64 B NODELAY p99, {names[config]}", config, "rr_p99", "{:.0f} µs")
    for config in configs:
        row(f"CPU per received segment, {names[config]}", config, "cpu_us_per_seg", "{:.1f} µs")
        row(f"segments per MB received, {names[config]}", config, "segs_per_mb", "{:.0f}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--mb", type=int, default=50, help="megabytes per bulk transfer (default 50)")
    parser.add_argument("--configs", default="esp,tuned", help="esp, tuned or both (comma-separated)")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lwipy" / "lwip-bench"
    parser.add_argument("--build", type=Path, default=cache, help="lwip-bench build directory (outside the repo)")
    parser.add_argument("--fast-path", type=int, default=1, help="lwipy's TCP fast path on (1) or off (0)")
    parser.add_argument("--lwipy-only", action="store_true",
                        help="compare lwipy with its fast path against lwipy without it (no C lwIP)")
    parser.add_argument("--serve", nargs=3, metavar=("CONFIG", "NETNS", "TAP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, fast_path=bool(args.fast_path))
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    configs = [c for c in args.configs.split(",") if c]
    n = args.mb * 1_000_000
    load0 = os.getloadavg()
    if args.lwipy_only:
        res = {}
        for r in range(args.rounds):
            for config in configs:
                for fp in ((True, False) if r % 2 == 0 else (False, True)):
                    name = "fast" if fp else "slow"
                    got = measure("lwipy", config, n, args.build, fp)
                    res.setdefault((config, name), []).append(got)
                    print(f"  round {r + 1} {config:5} lwipy-{name} "
                          + " ".join(f"{k}={v:.1f}" for k, v in got.items()), flush=True)
        text = table(res, configs, ("fast", "slow"))
    else:
        build_peer(args.build)
        res = run(configs, args.rounds, n, args.build, bool(args.fast_path))
        text = table(res, configs)
    load1 = os.getloadavg()
    title = "lwipy with its fast path (fast) vs without (slow)" if args.lwipy_only else "lwipy vs C lwIP"
    print(f"\n{title}: medians of {args.rounds} alternating rounds, {args.mb} MB per transfer, "
          f"MTU 1500, no offload, Python {sys.version.split()[0]}; load average {load0[0]:.1f} before, "
          f"{load1[0]:.1f} after (shared machine: {os.cpu_count()} CPUs)")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
