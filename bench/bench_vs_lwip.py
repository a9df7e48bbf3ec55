#!/usr/bin/env python3
"""lwipy against upstream C lwIP, in the same run, with the same kernel-side clients (issue 15's table).

    sudo python3 bench/bench_vs_lwip.py [--rounds 3] [--mb 50] [--configs esp,tuned] [--build DIR]

C lwIP is ``../shared/peers/lwip-bench`` (upstream's unix example app; its README), built by its ``build.sh`` into
``--build`` (default ``$XDG_CACHE_HOME/lwipy/lwip-bench-HASH``, outside the repository).  Both stacks run in a process of
their own on a TAP in a namespace made here, one at a time, serving TCP echo (7), discard (9) and chargen (19) and
answering ping; a round runs every measurement against one stack and then against the other, and rounds alternate
which goes first.  The figures are medians over the rounds:

- kernel -> stack: a kernel client sends ``--mb`` MB to discard 9 (connect to the stack's FIN);
- stack -> kernel: a kernel client reads ``--mb`` MB from chargen 19 (connect to the last byte);
  the clients send from a view of one block and read into one buffer, so that their own CPU per call stays small
  (a client that shares the stack's CPU takes its time from the stack's); each transfer where the scheduler puts
  client and stack, and then pinned as for rr below (``bulk_placements``): separate CPUs and one CPU;
- ping ``-i 0.01`` average, p50 and p99 (the issue's aims are on p50 and p99), where the scheduler puts ping, and
  then pinned as for rr below: apart and together (a coin toss unpinned as well).  s23: both stacks run at once, each
  on a TAP of its own, and are pinged in turns of 25 (``ping_interleaved``), 200 pings per stack, placement and round,
  so that both meet the same stretches of the machine's drifting latency (one after the other, a round's ratio was
  whichever stretch each stack met: 0.48 to 1.58 x in three runs of one session, the pinned rows alike);
- TCP request/response, 64 bytes, TCP_NODELAY, ``RR_ROUND_TRIPS`` (10,000) round trips, p50 / p99,
  where the scheduler puts client and stack, and then pinned (``rr_placements``): client and stack on separate
  CPUs (each way round) and on one CPU (each CPU in turn), as many round trips per placement, every thread of the
  stack's process (C lwIP's tcpip and TAP threads too) on the stack's CPU.  Unpinned, the figure is a coin toss
  for both stacks (the same CPU gives about half the round trip that two CPUs give, and which one a run gets is
  the scheduler's choice), so compare the pinned rows.  On one CPU the round trip is the CPU both sides spend
  (nothing to wake: the client sends its next request while the stack finishes the reply, and lwipy's loop reads
  it in the same batch, without epoll or timers); on two it adds each side's wake-up of an idle CPU, and the stack
  runs with cold caches.  With both on one CPU the stack's process CPU per request is printed too (every thread's,
  from ``schedstat``, as for the bulk rows: the kernel's work in its system calls included): steadier than the
  p50 on a shared machine, and what the p50 follows there.  A
  pinned process cannot move away from a neighbour's busy CPU: on a loaded machine the pinned p99s measure the
  neighbours (milliseconds: a scheduler slice), so read them with the load average;
- iperf 2 (``iperf -c STACK -r -t 5``: kernel -> stack, then stack -> kernel as the server tests back) against
  each stack's iperf server on 5001 (lwiperf, lwipy's ``IperfServer``);
- CPU per received segment: the stack process's CPU time (every thread, from ``/proc/PID/task/*/schedstat``)
  during kernel -> stack, over the frames the kernel sent on the TAP (its ``tx_packets``); CPU per sent segment
  likewise during stack -> kernel, over the frames the kernel took from the TAP (``rx_packets``).

Configurations: ``esp`` is ESP-IDF's defaults (MSS 1440, windows 5760; lwipy's ``Config()``), ``tuned`` 64 KB
windows without scaling (C lwIP with MSS 1460, lwipy likewise), ``offload`` the tuned windows with the TAP's
offload (virtio-net header: checksums, GSO/GRO) for lwipy.  lwip-bench has no offload, so ``offload`` compares
lwipy with the kernel itself: the same clients against a Python server on kernel sockets in a second namespace over
a veth pair (checksum offload and GSO/GRO on, as veth has them).  The machine is shared: the load average is
printed with the table, and only ratios within one run mean anything.

``--only bulk,iperf,ping,rr`` makes only some of the measurements (``--only rr``: request/response alone, a few
seconds a round); ``bulk6``, not made by default, adds kernel -> stack and stack -> kernel over IPv6 to the stack's
link-local address (both stacks then have one; unpinned, with CPU per segment).  ``--baseline-tree DIR`` compares
this tree's lwipy with the lwipy of another checkout (e.g. a worktree of the commit before a change) instead of C
lwIP: the before/after table of one run.  ``--profile DIR`` runs one more
kernel -> stack and stack -> kernel transfer per configuration under cProfile and prints where lwipy's CPU per
segment goes by category (``bench/profile_categories.py``).  ``--floor`` also measures the pure-Python floor
(``bench/floor_stack.py``: the same exchanges with no stack behind them, at ESP-IDF's sizes) and prints it against C
lwIP: where even the floor is far from C lwIP (a bulk send with the client on the stack's CPU), the distance is
CPython's per system call and per byte, not the stack's; where the floor matches C lwIP (request/response on one
CPU), all of lwipy's distance is its own work.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))
sys.path.insert(0, str(ROOT / "bench"))

PEER = Path(os.environ.get("LWIP_BENCH_PEER", ROOT.parent / "shared" / "peers" / "lwip-bench"))  # run.sh, build.sh
KERNEL_IP, STACK_IP, PREFIX, TAP = "10.77.0.1", "10.77.0.2", 24, "lbtap0"

SEND = r"""
import os, socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if len(sys.argv) > 4 and sys.argv[4] != "-":
    os.sched_setaffinity(0, {int(sys.argv[4])})  # the client on this CPU (bulk_placements)
block = memoryview(b"\xa5" * 262144)  # sent from a view: no copy of the block per send()
t0 = time.monotonic()
s = socket.create_connection((dst, port), timeout=60)
send = s.send
left = n
while left:
    left -= send(block[:left])
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(time.monotonic() - t0)
"""

RECEIVE = r"""
import os, socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if len(sys.argv) > 4 and sys.argv[4] != "-":
    os.sched_setaffinity(0, {int(sys.argv[4])})  # the client on this CPU (bulk_placements)
buf = memoryview(bytearray(1 << 20))  # read into one buffer: nothing allocated per recv
t0 = time.monotonic()
s = socket.create_connection((dst, port), timeout=60)
recv_into = s.recv_into
got = 0
while got < n:
    k = recv_into(buf)
    if not k:
        raise SystemExit("closed early")
    got += k
print(time.monotonic() - t0)
s.close()
"""

#: round trips per request/response run: s12, 10,000 (was 2,000, whose p99 is only the 20th slowest: session 11's
#: one-CPU p99 ratio was 1.35 x C from the bench and 1.94 x from 5,000-request runs); they take about 0.15 s on one
#: CPU and 0.9 s on two
RR_ROUND_TRIPS = 10_000

REQRESP = r"""
import os, socket, sys, time
if len(sys.argv) > 4 and sys.argv[4] != "-":
    os.sched_setaffinity(0, {int(sys.argv[4])})  # the client on this CPU (rr_placements)
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
KERNEL_SERVE = r"""
import os, signal, socket, sys, threading
def serve(port, handle):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    def accept():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
def discard(c):
    buf = bytearray(1 << 20)
    while c.recv_into(buf):
        pass
    c.close()
def chargen(c):
    block = bytes(range(256)) * 1024
    try:
        while True:
            c.sendall(block)
    except OSError:
        pass
    c.close()
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := c.recv(65536):
        c.sendall(data)
    c.close()
serve(9, discard); serve(19, chargen); serve(7, echo)
print(f"ready pid={os.getpid()}", flush=True)
signal.sigwait({signal.SIGTERM})
"""


def lwipy_config(name: str):
    """lwipy's Config for a configuration's name; ``NAME+lock`` (bench_tx and bench_rx: ``--configs esp+lock``) is
    NAME with core locking (``tcpip_core_locking``), which only the sockets' and netconns' threads use."""
    from lwipy import Config
    name, _, locking = name.partition("+")
    if name == "esp":
        cfg = Config()  # ESP-IDF's defaults: MSS 1440, TCP_WND = TCP_SND_BUF = 5760
    else:
        cfg = Config(tcp_mss=1460, tcp_wnd_default=65535, tcp_snd_buf_default=65535)
    return cfg.replace(tcpip_core_locking=True) if locking == "lock" else cfg


def serve(config: str, ns: str, tap: str, fast_path: bool, src: str | None = None, ip6: bool = False) -> None:
    """``--serve``: run lwipy on ``tap`` in ``ns`` with echo, discard, chargen and an iperf server until SIGTERM;
    ``src``: import lwipy from that source directory (``--baseline-tree``); ``ip6``: with an IPv6 link-local address
    too (``bulk6``), as C lwIP's example app always has."""
    if src:
        sys.path.insert(0, src)
    from lwipy import Stack
    from lwipy.api.loop import StackLoop
    from lwipy.apps import TcpChargenServer, TcpDiscardServer, TcpEchoServer
    from lwipy.apps.iperf import IperfServer
    from lwipy.netif.tap import TapDevice
    stack = Stack(lwipy_config(config), seed=1, name="bench")
    if hasattr(stack.tcp, "fast_path"):
        stack.tcp.fast_path = fast_path
    dev = TapDevice(tap, netns=ns, offload=config == "offload")
    stack.add_netif(dev, ip=f"{STACK_IP}/{PREFIX}", ip6_linklocal=ip6)
    TcpEchoServer(stack, 7)
    TcpDiscardServer(stack, 9)
    TcpChargenServer(stack, 19)
    IperfServer(stack)
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


def tap_packets(ns: str, direction: str = "tx", dev: str = TAP) -> int:
    """Frames the kernel sent into the TAP ``dev`` (``tx``: towards the stack) or took from it (``rx``)."""
    out = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev], capture_output=True, text=True,
                         check=True).stdout
    return int(json.loads(out)[0]["stats64"][direction]["packets"])


def iperf_mbits(ns: str, seconds: int = 5) -> tuple[float, float]:
    """``iperf -c STACK -r -t seconds`` (iperf 2: kernel -> stack, then the stack's server tests back): the two
    rates in Mbit/s (NaN for a direction without a report)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "iperf", "-c", STACK_IP, "-r", "-t", str(seconds), "-y", "C"],
                         capture_output=True, text=True, timeout=2 * seconds + 60).stdout.strip().splitlines()
    rows = [line.split(",") for line in out if line.count(",") >= 8]  # CSV: ...,dst,dport,id,interval,bytes,bits/s
    to_stack = [int(r[8]) / 1e6 for r in rows if r[3] == STACK_IP]
    from_stack = [int(r[8]) / 1e6 for r in rows if r[1] == STACK_IP]
    return (to_stack[-1] if to_stack else float("nan")), (from_stack[-1] if from_stack else float("nan"))


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM a server we started, and wait for it (SIGKILL after 30 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Running:
    """One stack serving on the TAP of namespace ``ns``."""

    def __init__(self, which: str, config: str, ns: str, build: Path, fast_path: bool,
                 src: str | None = None) -> None:
        self.which = which
        if which == "kernel":  # the kernel's own stack in namespace ns (a veth away), a Python server on it
            self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", KERNEL_SERVE],
                                         stdout=subprocess.PIPE, text=True)
            self._started()
        elif which == "floor":  # the least any Python program spends (floor_stack.py): ESP-IDF's sizes only
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "floor_stack.py"), ns,
                                          TAP, STACK_IP], stdout=subprocess.PIPE, text=True)
            self._started()
        elif which != "C lwIP":  # lwipy, of this tree or of ``src``
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve", config, ns, TAP,
                    "--fast-path", "1" if fast_path else "0"] + (["--ip6"] if "bulk6" in ONLY else [])
            if src:
                argv += ["--src", src]
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            self._started()
        else:
            env = {**os.environ, "LWIP_BENCH_BUILD": str(build),
                   "LWIP_BENCH_LOG": f"/tmp/lwip-bench-vs.{os.getpid()}.log"}
            out = subprocess.run(["sh", str(PEER / "run.sh"), config, ns, TAP, f"{STACK_IP}/{PREFIX}"], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            info = dict(f.split("=", 1) for f in out.split()[1:])
            self.proc = None
            self.pid = int(info["pid"])

    def _started(self) -> None:
        line = self.proc.stdout.readline() if self.proc and self.proc.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError(f"{self.which} did not start: {line!r}")
        self.pid = int(line.split("pid=")[1]) if self.which == "kernel" else self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(300):  # not our child (run.sh started it): wait for it to go
            if not os.path.exists(f"/proc/{self.pid}"):
                break
            time.sleep(0.01)


#: the measurements ``measure`` makes (``--only`` picks some)
PARTS = ("bulk", "iperf", "ping", "rr", "bulk6")
#: what a run measures unless ``--only`` says otherwise: all but bulk6 (IPv6: the stacks then run with a link-local
#: address, and their namespaces with IPv6)
DEFAULT_PARTS = ("bulk", "iperf", "ping", "rr")
ONLY = set(DEFAULT_PARTS)


def measure(which: str, config: str, n: int, build: Path, fast_path: bool, src: str | None = None,
            profile: str | None = None) -> dict[str, float]:
    """Every measurement of one stack (``which``: lwipy, C lwIP, kernel or a baseline lwipy from ``src``) in
    configuration ``config``; with ``profile`` (lwipy only) only the two bulk transfers, under cProfile into the files
    ``profile``.in and ``profile``.out."""
    import interop_netns as nsx
    out: dict[str, float] = {}
    six = "bulk6" in ONLY and which != "floor"  # (the floor answers IPv4 alone)
    with stack_link(which, six) as (ns, kns):
        stacks = []

        def start(profile_to: str | None = None) -> Running:
            if profile_to:
                os.environ["LWIPY_BENCH_PROFILE"] = profile_to
            try:
                stacks.append(Running(which, config, kns if which == "kernel" else ns, build, fast_path, src))
            finally:
                os.environ.pop("LWIPY_BENCH_PROFILE", None)
            warm_up(ns)
            return stacks[-1]

        def transfer(stack: Running, script: str, port: str, frames: str, names: tuple[str, ...],
                     client_cpu: str = "-", dst: str = STACK_IP) -> dict[str, float]:
            """One bulk transfer: Mbit/s, CPU per frame the kernel counted on the TAP, frames and CPU per MB
            (``client_cpu``: the CPU the kernel-side client is pinned to, ``-`` for none), under ``names``; to the
            stack at ``dst``."""
            cpu0, pk0 = cpu_seconds(stack.pid), tap_packets(ns, frames)
            secs = float(nsx.ns_python(ns, script, dst, port, str(n), client_cpu, timeout=600).stdout)
            cpu1, pk1 = cpu_seconds(stack.pid), tap_packets(ns, frames)
            figures = (n * 8 / secs / 1e6, (cpu1 - cpu0) / max(1, pk1 - pk0) * 1e6, (pk1 - pk0) / (n / 1e6),
                       (cpu1 - cpu0) / (n / 1e6) * 1e3)
            return dict(zip(names, figures, strict=True))

        try:
            stack = start(f"{profile}.in" if profile else None)
            if profile or "bulk" in ONLY:
                out.update(transfer(stack, SEND, "9", "tx", ("in", "cpu_us_per_seg", "segs_per_mb", "cpu_ms_per_mb")))
                if profile:  # one process per profile file: stop it to have its stats written
                    stack.stop()
                    stack = start(f"{profile}.out")
                out.update(transfer(stack, RECEIVE, "19", "rx",
                                    ("out", "cpu_us_per_sent_seg", "segs_per_mb_sent", "cpu_ms_per_mb_sent")))
            if profile:
                return out
            if "bulk" in ONLY:
                out.update(bulk_placements(stack, transfer))
            if six:
                ll = f"{link_local(ns)}%{TAP}"
                out.update(transfer(stack, SEND, "9", "tx", ("in6", "cpu_us_per_seg6", "segs6", "cpu_ms6"), dst=ll))
                out.update(transfer(stack, RECEIVE, "19", "rx", ("out6", "cpu_us_per_sent_seg6", "segs_sent6",
                                                                 "cpu_ms_sent6"), dst=ll))
            if which not in ("kernel", "floor") and "iperf" in ONLY:
                out["iperf_in"], out["iperf_out"] = iperf_mbits(ns)
            if "ping" in ONLY and not PING_TOGETHER:
                out["ping_ms"], out["ping_p50_ms"], out["ping_p99_ms"] = ping_figures(ns)
                out.update(ping_placements(ns, stack.pid))
            if "rr" in ONLY:
                p50, p99 = nsx.ns_python(ns, REQRESP, STACK_IP, "7", str(RR_ROUND_TRIPS), timeout=300).stdout.split()
                out["rr_p50"], out["rr_p99"] = float(p50), float(p99)
                out.update(rr_placements(ns, stack.pid))
        finally:
            for stack in stacks:
                stack.stop()
    return out


@contextlib.contextmanager
def stack_link(which: str, ipv6: bool = False) -> Iterator[tuple[str, str]]:
    """The namespaces a stack is measured from and (the kernel's server) in: ``ns`` with the kernel's clients on a
    TAP (on a veth pair to ``kns`` for the kernel), made for the measurement and deleted after it."""
    import interop_netns as nsx
    with nsx.namespace("lbvs", ipv6=ipv6) as ns, nsx.namespace("lbvk", ipv6=ipv6) as kns:
        if which == "kernel":
            nsx.add_veth_pair(ns, TAP, KERNEL_IP, kns, "lbveth0", STACK_IP, PREFIX)
        else:
            nsx.add_tap(ns, TAP, KERNEL_IP, PREFIX, mtu=1500)
        yield ns, kns


#: ping, measured for all the stacks of a round at once (:func:`ping_interleaved`); False (``--lwipy-only``): each
#: stack's own in :func:`measure`
PING_TOGETHER = True
#: pings a stack gets before the next stack's turn (:func:`ping_interleaved`), and turns per placement and round
PING_CHUNK, PING_TURNS = 25, 8


def ping_interleaved(stacks: tuple[str, ...], config: str, build: Path, fast_path: bool, src: str | None
                     ) -> dict[str, dict[str, float]]:
    """ping (``-i 0.01``) of every stack in ``stacks`` running at once, each on its own TAP in its own namespaces,
    in turns of ``PING_CHUNK`` pings, ``PING_TURNS`` turns each per placement: unpinned, then pinned as
    :func:`ping_placements` pins them (apart, each way round; together, on each CPU).  The machine's latency drifts
    over seconds (on the VM a run of 50 pings had its median move from 42 to 110 µs and back, for C lwIP as for
    lwipy), more than the stacks differ: measured one after the other, the stacks met different stretches of it,
    and a round's ratio was that stretch's.  Taken in turns, both meet the same ones.  Each stack sleeps while the
    others are pinged (every ping still wakes an idle stack).  The mean, p50 and p99 over a placement's pings, under
    the keys of :func:`ping_figures` and :func:`ping_placements`, per stack."""
    with contextlib.ExitStack() as held:
        serving: list[tuple[str, str, Running]] = []
        for which in stacks:
            ns, kns = held.enter_context(stack_link(which))
            running = Running("lwipy" if which == "baseline" else which, config, kns if which == "kernel" else ns,
                              build, fast_path, src if which == "baseline" else None)
            held.callback(running.stop)
            warm_up(ns)
            serving.append((which, ns, running))
        cpus = sorted(os.sched_getaffinity(0))
        placements: list[tuple[str, int | None, int | None]] = [("", None, None)]
        if len(cpus) >= 2:
            a, b = cpus[:2]
            placements += [("apart", a, b), ("apart", b, a), ("together", a, a), ("together", b, b)]
        rtts: dict[tuple[str, str], list[float]] = {}
        for name, ping_cpu, stack_cpu in placements:
            for turn in range(PING_TURNS):
                for which, ns, running in serving if turn % 2 == 0 else serving[::-1]:
                    allowed = os.sched_getaffinity(running.pid)
                    if stack_cpu is not None:
                        pin(running.pid, {stack_cpu})
                    try:
                        got = ping_rtts(ns, ping_cpu, count=PING_CHUNK)
                    finally:
                        pin(running.pid, allowed)
                    rtts.setdefault((which, name), []).extend(got)
    out: dict[str, dict[str, float]] = {}
    for (which, name), got in rtts.items():
        figures = out.setdefault(which, {})
        key = f"ping_{name}_" if name else "ping_"
        mean, figures[f"{key}p50_ms"], figures[f"{key}p99_ms"] = rtt_figures(got)
        if not name:
            figures["ping_ms"] = mean
    return out


def link_local(ns: str) -> str:
    """The stack's IPv6 link-local address on the TAP (``bulk6``): its modified EUI-64 (RFC 4291 appendix A, as lwIP's
    ``netif_create_ip6_linklocal_address(netif, 1)`` and lwipy make it) from the MAC the kernel learned by ARP."""
    import interop_netns as nsx
    words = nsx.ns_run(ns, ["ip", "neigh", "show", STACK_IP, "dev", TAP], check=True).stdout.split()
    mac = bytes.fromhex(words[words.index("lladdr") + 1].replace(":", ""))
    iid = bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    address = "fe80::" + ":".join(iid[i:i + 2].hex() for i in range(0, 8, 2))
    # both ends' link-local addresses usable (duplicate address detection done, about a second after the TAP came
    # up): until then a SYN would wait for its retransmission in the transfer's time
    deadline = time.monotonic() + 30
    while nsx.ns_run(ns, ["ping", "-6", "-c", "1", "-W", "1", f"{address}%{TAP}"], timeout=10).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack's link-local address {address} does not answer ping")
        time.sleep(0.2)
    return address


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (C lwIP's tcpip, TAP and main threads as lwipy's one)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that ended meanwhile
            pass


def bulk_placements(stack: Running, transfer: Callable[..., dict[str, float]]) -> dict[str, float]:
    """bulk: each transfer again with the client and the stack (every thread of its process) pinned, as for rr
    (:func:`rr_placements`).  Left alone, the scheduler puts the kernel's client on the stack's CPU in some transfers
    (the stack's writes wake it there) and on the other CPU in others: a stack that sleeps between frames (C lwIP)
    shares one CPU with its client cheaply, with warm caches and no cross-CPU wake-ups, while a busy one (lwipy) is
    preempted by it for every frame or two.  So unpinned, a transfer is a coin toss that moves either stack by 2-3x
    on this 2-CPU VM.  ``_apart``: the client on one CPU and the stack on the other, both ways round (the means);
    ``_together``: both on one CPU, each CPU in turn.  Mbit/s and CPU per segment each way."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {}
    a, b = cpus[:2]
    allowed = os.sched_getaffinity(stack.pid)
    out: dict[str, float] = {}
    ways = (("in", SEND, "9", "tx", "cpu_us_per_seg"), ("out", RECEIVE, "19", "rx", "cpu_us_per_sent_seg"))
    try:
        for name, placements in (("apart", ((a, b), (b, a))), ("together", ((a, a), (b, b)))):
            for key, script, port, frames, cpu_key in ways:
                got = []
                for client_cpu, stack_cpu in placements:
                    pin(stack.pid, {stack_cpu})
                    got.append(transfer(stack, script, port, frames, (key, cpu_key, "segs", "cpu_ms"),
                                        str(client_cpu)))
                out[f"{key}_{name}"] = statistics.mean(g[key] for g in got)
                out[f"{cpu_key}_{name}"] = statistics.mean(g[cpu_key] for g in got)
    finally:
        pin(stack.pid, allowed)
    return out


def ping_rtts(ns: str, cpu: int | None = None, interval: str = "0.01", count: int = 200) -> list[float]:
    """``ping -c 200 -i 0.01`` (``count``, ``interval``) of the stack from the kernel's namespace (pinned to ``cpu``
    when given): the round trips in ms, as they came."""
    import interop_netns as nsx
    pinned = [] if cpu is None else ["taskset", "-c", str(cpu)]
    return nsx.parse_ping(nsx.ns_run(ns, [*pinned, "ping", "-c", str(count), "-i", interval, STACK_IP],
                                     timeout=max(60.0, 2 * count * float(interval)), check=True).stdout).rtts_ms


def rtt_figures(rtts: list[float]) -> tuple[float, float, float]:
    """The mean, p50 and p99 of round trips ``rtts``."""
    rtts = sorted(rtts)
    return statistics.mean(rtts), statistics.median(rtts), rtts[int(len(rtts) * 0.99)]


def ping_figures(ns: str, cpu: int | None = None, interval: str = "0.01", count: int = 200
                 ) -> tuple[float, float, float]:
    """:func:`ping_rtts`' mean, p50 and p99 round trip in ms."""
    return rtt_figures(ping_rtts(ns, cpu, interval, count))


def warm_up(ns: str) -> None:
    """A few pings of the stack: the kernel's ARP entry made, and the stack's first answers behind it."""
    import interop_netns as nsx
    nsx.ns_run(ns, ["ping", "-c", "3", "-i", "0.05", STACK_IP], timeout=30, check=True)


def placements(pid: int, one: Callable[[int], list[float]]) -> dict[str, list[float]] | None:
    """``one(client_cpu)`` run with the stack (every thread of ``pid``) pinned: on separate CPUs, both ways round, and
    on one CPU, each in turn; the means of the figures ``one`` returns, under ``apart`` and ``together``.  None when
    fewer than two CPUs are ours."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    a, b = cpus[:2]
    allowed = os.sched_getaffinity(pid)
    out: dict[str, list[float]] = {}
    try:
        for name, pairs in (("apart", ((a, b), (b, a))), ("together", ((a, a), (b, b)))):
            got = []
            for client_cpu, stack_cpu in pairs:
                pin(pid, {stack_cpu})
                got.append(one(client_cpu))
            out[name] = [statistics.mean(g[k] for g in got) for k in range(len(got[0]))]
    finally:
        pin(pid, allowed)
    return out


def ping_placements(ns: str, pid: int) -> dict[str, float]:
    """ping, with ping(8) and the stack pinned as for :func:`rr_placements`: unpinned, where the scheduler puts ping
    decides the round trip for both stacks (the same CPU as the stack's or the other, which must wake from idle), the
    lottery that made earlier tables' ping rows swing by 1.5x between runs.  ``ping_apart``: ping on one CPU and the
    stack on the other, both ways round (the means of the two runs' p50s and p99s); ``ping_together``: both on one
    CPU, each CPU in turn.  200 pings at 10 ms per placement, so that the stack sleeps between them: every ping wakes
    an idle stack."""
    got = placements(pid, lambda cpu: list(ping_figures(ns, cpu)))
    out: dict[str, float] = {}
    for name, (_, p50, p99) in (got or {}).items():
        out[f"ping_{name}_p50_ms"], out[f"ping_{name}_p99_ms"] = p50, p99
    return out


def rr_placements(ns: str, pid: int) -> dict[str, float]:
    """rr: request/response with the client and the stack (every thread of ``pid``) pinned, so that where the
    scheduler happens to put them does not decide the figure.  Left alone, the kernel's client and the stack land on
    the same CPU in some runs and on two in others, and the round trip differs by 3x for BOTH stacks (on this 2-CPU
    VM, with a neighbour's load: about 32 against 100 µs for lwipy, 22-26 against 66-104 for C lwIP): the bimodal
    p50s of earlier tables.
    ``rr_apart``: the client on one CPU and the stack on the other, both ways round (the mean of the two runs'
    p50s and p99s): each side's wake-up crosses CPUs, as a network peer's would; ``rr_together``: both on one CPU,
    each CPU in turn (no idle CPU to wake: the processing alone).  ``RR_ROUND_TRIPS`` per placement; nothing when
    fewer than two CPUs are ours."""
    import interop_netns as nsx

    def one(client_cpu: int) -> list[float]:
        cpu0 = cpu_seconds(pid)
        p50, p99 = (float(x) for x in nsx.ns_python(ns, REQRESP, STACK_IP, "7", str(RR_ROUND_TRIPS), str(client_cpu),
                                                    timeout=300).stdout.split())
        # the stack's CPU per request (with its connection's setup and teardown: the same for both stacks)
        return [p50, p99, (cpu_seconds(pid) - cpu0) / RR_ROUND_TRIPS * 1e6]
    out: dict[str, float] = {}
    for name, (p50, p99, cpu_us) in (placements(pid, one) or {}).items():
        out[f"rr_{name}_p50"], out[f"rr_{name}_p99"], out[f"rr_{name}_cpu_us"] = p50, p99, cpu_us
    return out


def default_build() -> Path:
    """The lwip-bench build directory, outside the repo: one per copy of the peer's sources."""
    own = hashlib.sha1(str(PEER.resolve()).encode()).hexdigest()[:8]
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lwipy" / f"lwip-bench-{own}"


def build_peer(build: Path) -> None:
    done = subprocess.run(["sh", str(PEER / "build.sh"), str(build)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lwip-bench build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def run(configs: list[str], rounds: int, n: int, build: Path, fast_path: bool = True,
        stacks: tuple[str, ...] = ("lwipy", "C lwIP"), src: str | None = None
        ) -> dict[tuple[str, str], list[dict[str, float]]]:
    """``rounds`` alternating rounds of every configuration against each of ``stacks``; an ``offload``
    configuration is measured against the kernel rather than C lwIP (lwip-bench has no offload)."""
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(rounds):
        for config in configs:
            pair = tuple("kernel" if s == "C lwIP" and config == "offload" else s for s in stacks
                         if s != "floor" or config == "esp")  # the floor has ESP-IDF's window and MSS only
            order = pair if r % 2 == 0 else tuple(reversed(pair))
            pings = ping_interleaved(order, config, build, fast_path, src) if "ping" in ONLY else {}
            for which in order:
                got = measure("lwipy" if which == "baseline" else which, config, n, build, fast_path,
                              src if which == "baseline" else None)
                got.update(pings.get(which, {}))
                results.setdefault((config, which), []).append(got)
                print(f"  round {r + 1} {config:7} {which:8} " + " ".join(
                    f"{k}={v:.3f}" if k.startswith("ping") else f"{k}={v:.1f}" for k, v in got.items()), flush=True)
    return results


def median(results: dict, config: str, which: str, key: str) -> float:
    return statistics.median(r[key] for r in results[(config, which)])


NAMES = {"esp": "ESP-IDF defaults", "tuned": "64 KB windows", "offload": "64 KB windows, offload"}


def table(results: dict, configs: list[str], columns: tuple[str, str] = ("lwipy", "C lwIP")) -> str:
    """The issue's table: one row per figure and configuration, ``columns[0]`` against ``columns[1]`` (against the
    kernel for ``offload``)."""
    a = columns[0]
    b_name = f"{columns[1]} (the kernel for offload)" if columns[1] == "C lwIP" else columns[1]
    rows = [f"| | {a} | {b_name} | ratio |", "|---|---|---|---|"]

    def row(label: str, config: str, key: str, fmt: str) -> None:
        b = "kernel" if columns[1] == "C lwIP" and config == "offload" else columns[1]
        if (config, a) not in results or (config, b) not in results:
            return
        if key not in results[(config, a)][0] or key not in results[(config, b)][0]:
            return
        x, y = median(results, config, a, key), median(results, config, b, key)
        if b == "kernel" and key.startswith("cpu"):  # the kernel's work is not charged to its server's process
            rows.append(f"| {label}, {NAMES[config]} | {fmt.format(x)} | - | - |")
            return
        ratio = f"{x / y:.2f}" if y else "-"
        rows.append(f"| {label}, {NAMES[config]} | {fmt.format(x)} | {fmt.format(y)} | {ratio} |")

    for config in configs:
        row("kernel → stack", config, "in", "{:.0f} Mbit/s")
        row("stack → kernel", config, "out", "{:.0f} Mbit/s")
        row("iperf 2, kernel → stack", config, "iperf_in", "{:.0f} Mbit/s")
        row("iperf 2 -r, stack → kernel", config, "iperf_out", "{:.0f} Mbit/s")
        for where, label in (("apart", "client and stack on separate CPUs"), ("together", "client and stack on one CPU")):
            row(f"kernel → stack, {label}", config, f"in_{where}", "{:.0f} Mbit/s")
            row(f"stack → kernel, {label}", config, f"out_{where}", "{:.0f} Mbit/s")
        row("kernel → stack over IPv6 (link-local)", config, "in6", "{:.0f} Mbit/s")
        row("stack → kernel over IPv6 (link-local)", config, "out6", "{:.0f} Mbit/s")
        row("CPU per received segment over IPv6", config, "cpu_us_per_seg6", "{:.1f} µs")
        row("CPU per sent segment over IPv6", config, "cpu_us_per_sent_seg6", "{:.1f} µs")
    for config in configs:
        row("ping avg at 10 ms intervals", config, "ping_ms", "{:.3f} ms")
        row("ping p50 at 10 ms intervals", config, "ping_p50_ms", "{:.3f} ms")
        row("ping p99 at 10 ms intervals", config, "ping_p99_ms", "{:.3f} ms")
        for where, label in (("apart", "ping and stack on separate CPUs"), ("together", "ping and stack on one CPU")):
            row(f"ping p50, {label}", config, f"ping_{where}_p50_ms", "{:.3f} ms")
            row(f"ping p99, {label}", config, f"ping_{where}_p99_ms", "{:.3f} ms")
        row("TCP request/response 64 B NODELAY p50", config, "rr_p50", "{:.0f} µs")
        row("TCP request/response 64 B NODELAY p99", config, "rr_p99", "{:.0f} µs")
        row("TCP request/response p50, client and stack on separate CPUs", config, "rr_apart_p50", "{:.0f} µs")
        row("TCP request/response p99, client and stack on separate CPUs", config, "rr_apart_p99", "{:.0f} µs")
        row("TCP request/response p50, client and stack on one CPU", config, "rr_together_p50", "{:.0f} µs")
        row("TCP request/response p99, client and stack on one CPU", config, "rr_together_p99", "{:.0f} µs")
        row("TCP request/response, the stack's CPU per request, client and stack on one CPU", config,
            "rr_together_cpu_us", "{:.1f} µs")
    for config in configs:
        if config != "offload":  # GSO/GRO frames are not segments
            row("CPU per received segment", config, "cpu_us_per_seg", "{:.1f} µs")
            row("CPU per sent segment", config, "cpu_us_per_sent_seg", "{:.1f} µs")
            for where, label in (("apart", "separate CPUs"), ("together", "one CPU")):
                row(f"CPU per received segment, client and stack on {label}", config, f"cpu_us_per_seg_{where}",
                    "{:.1f} µs")
                row(f"CPU per sent segment, client and stack on {label}", config, f"cpu_us_per_sent_seg_{where}",
                    "{:.1f} µs")
            row("segments per MB received", config, "segs_per_mb", "{:.0f}")
            row("segments per MB sent", config, "segs_per_mb_sent", "{:.0f}")
        row("CPU per MB received", config, "cpu_ms_per_mb", "{:.2f} ms")
        row("CPU per MB sent", config, "cpu_ms_per_mb_sent", "{:.2f} ms")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--mb", type=int, default=50, help="megabytes per bulk transfer (default 50)")
    parser.add_argument("--configs", default="esp,tuned,offload",
                        help="any of esp, tuned, offload (comma-separated)")
    parser.add_argument("--build", type=Path, default=default_build(),
                        help="lwip-bench build directory (outside the repo)")
    parser.add_argument("--fast-path", type=int, default=1, help="lwipy's TCP fast path on (1) or off (0)")
    parser.add_argument("--lwipy-only", action="store_true",
                        help="compare lwipy with its fast path against lwipy without it (no C lwIP)")
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR",
                        help="compare with the lwipy of checkout DIR (before/after) instead of C lwIP")
    parser.add_argument("--floor", action="store_true",
                        help="also measure the pure-Python floor (bench/floor_stack.py, ESP-IDF defaults only) and "
                             "print it against C lwIP: what any Python program spends, the stack's work aside")
    parser.add_argument("--profile", metavar="DIR",
                        help="also profile lwipy's bulk transfers into DIR and print the CPU by category")
    parser.add_argument("--only", default=",".join(DEFAULT_PARTS),
                        help="the measurements to make, any of bulk, iperf, ping, rr, bulk6 (comma-separated; default "
                             "all but bulk6)")
    parser.add_argument("--serve", nargs=3, metavar=("CONFIG", "NETNS", "TAP"), help=argparse.SUPPRESS)
    parser.add_argument("--ip6", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, fast_path=bool(args.fast_path), src=args.src, ip6=args.ip6)
        return 0
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    ONLY.clear()
    ONLY.update(p for p in args.only.split(",") if p)
    if ONLY - set(PARTS):
        parser.error(f"unknown measurement(s) {sorted(ONLY - set(PARTS))}: choose from {list(PARTS)}")
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(NAMES)
    if unknown:
        parser.error(f"unknown configuration(s) {sorted(unknown)}: choose from {sorted(NAMES)}")
    n = args.mb * 1_000_000
    load0 = os.getloadavg()
    if args.lwipy_only:
        global PING_TOGETHER
        PING_TOGETHER = False  # (fast and slow path are one stack each: measured one after the other)
        res = {}
        for r in range(args.rounds):
            for config in configs:
                for fp in ((True, False) if r % 2 == 0 else (False, True)):
                    name = "fast" if fp else "slow"
                    got = measure("lwipy", config, n, args.build, fp)
                    res.setdefault((config, name), []).append(got)
                    print(f"  round {r + 1} {config:7} lwipy-{name} "
                          + " ".join(f"{k}={v:.1f}" for k, v in got.items()), flush=True)
        text = table(res, configs, ("fast", "slow"))
        title = "lwipy with its fast path (fast) vs without (slow)"
    elif args.baseline_tree:
        src = str((args.baseline_tree / "src").resolve())
        if not os.path.isdir(os.path.join(src, "lwipy")):
            parser.error(f"{args.baseline_tree} has no src/lwipy")
        res = run(configs, args.rounds, n, args.build, bool(args.fast_path), ("lwipy", "baseline"), src)
        text = table(res, configs, ("lwipy", "baseline"))
        title = f"lwipy of this tree vs lwipy of {args.baseline_tree} (baseline)"
    else:
        build_peer(args.build)
        res = run(configs, args.rounds, n, args.build, bool(args.fast_path),
                  ("lwipy", "C lwIP", "floor") if args.floor else ("lwipy", "C lwIP"))
        text = table(res, configs)
        title = "lwipy vs C lwIP"
        if args.floor and "esp" in configs:
            text += ("\n\nthe pure-Python floor (bench/floor_stack.py: no stack, the same exchanges) vs C lwIP:\n"
                     + table(res, ["esp"], ("floor", "C lwIP")))
    load1 = os.getloadavg()
    print(f"\n{title}: medians of {args.rounds} alternating rounds, {args.mb} MB per transfer, "
          f"MTU 1500, Python {sys.version.split()[0]}; load average {load0[0]:.1f} before, "
          f"{load1[0]:.1f} after (shared machine: {os.cpu_count()} CPUs)")
    print(text)
    if args.profile:
        from profile_categories import category_table
        os.makedirs(args.profile, exist_ok=True)
        for config in configs:
            base = os.path.join(args.profile, config)
            got = measure("lwipy", config, n, args.build, bool(args.fast_path), profile=base)
            unit = "frame (GSO/GRO)" if config == "offload" else "segment"
            per = {"in": ("cpu_us_per_seg", "segs_per_mb", f"kernel → stack, µs per received {unit}"),
                   "out": ("cpu_us_per_sent_seg", "segs_per_mb_sent", f"stack → kernel, µs per sent {unit}")}
            for way, (cpu_key, _, what) in per.items():
                total = median(res, config, "lwipy", cpu_key) if (config, "lwipy") in res else got[cpu_key]
                print(f"\nwhere lwipy's CPU goes, {NAMES[config]}, {what} "
                      f"(profile shares scaled to the unprofiled {total:.1f} µs):")
                print(category_table(f"{base}.{way}", total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
