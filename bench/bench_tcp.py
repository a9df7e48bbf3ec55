#!/usr/bin/env python3
"""TCP bulk throughput: lwipy beside the Linux kernel on the same machine, in the same run.

    sudo python3 bench/bench_tcp.py [--mb 100] [--window 1048576]

1. kernel -> lwipy over a TAP (MTU 1500, then 9000): a kernel client sends, lwipy's pcb reads and discards.
2. lwipy -> kernel over the TAP (MTU 1500, then 9000): lwipy sends, a kernel server reads.
   Both again at MTU 1500 with the TAP's checksum and segmentation offload (``TapDevice(offload=True)``).
3. kernel -> kernel over a veth pair between two namespaces: the baseline, same client and server scripts.
4. lwipy -> lwipy in-process (two stacks on a virtual hub, one thread): the engine without a TAP.

Each figure is bytes over the time from connect to the receiver seeing the sender's FIN.  Everything runs in
namespaces made here (``lwipy-<pid>-<n>``), deleted on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402
from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402
from lwipy.sim import Simulation  # noqa: E402

CLIENT = r"""
import socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = b"\xa5" * 262144
t0 = time.monotonic()
s = socket.create_connection((dst, port), timeout=60)
left = n
while left:
    k = s.send(block[:min(left, len(block))])
    left -= k
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(time.monotonic() - t0)
"""

SERVER = r"""
import socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
srv.settimeout(60)
print("ready", flush=True)
conn, _ = srv.accept()
t0 = time.monotonic()
total = 0
while True:
    got = conn.recv(1 << 20)
    if not got:
        break
    total += len(got)
conn.close()
print(total, time.monotonic() - t0, flush=True)
"""


PINGPONG = r"""
import socket, statistics, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    s.sendall(b"x")
    if s.recv(1) != b"x":
        raise SystemExit("bad echo")
    rtts.append(time.perf_counter() - t0)
s.close()
rtts.sort()
print(rtts[len(rtts) // 2] * 1e3, rtts[int(len(rtts) * 0.99)] * 1e3)
"""

ECHO_SERVER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while (got := conn.recv(4096)):
    conn.sendall(got)
"""


def pingpong(ns: str, ip: str, port: int, count: int) -> str:
    """p50 and p99 of ``count`` 1-byte request/responses from a kernel client in ``ns`` to ``ip``:``port``."""
    p50, p99 = nsx.ns_python(ns, PINGPONG, ip, str(port), str(count), timeout=120).stdout.split()
    return f"p50 {float(p50):.3f} ms   p99 {float(p99):.3f} ms"


def kernel_latency(count: int) -> str:
    """The baseline: the kernel's client against a kernel echo server over veth."""
    with nsx.namespace() as a, nsx.namespace() as b:
        nsx.add_veth_pair(a, "va", "10.78.0.1", b, "vb", "10.78.0.2")
        with kernel_server(b, ECHO_SERVER, "10.78.0.2", "7"):
            return pingpong(a, "10.78.0.2", 7, count)


def latency(count: int) -> list[tuple[str, str]]:
    """1-byte request/response with TCP_NODELAY: a kernel client against lwipy's TCP echo over the TAP, and against
    a kernel echo server over veth."""
    from lwipy.apps import TcpEchoServer
    rows = []
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, Config())
        try:
            loop.call(lambda: TcpEchoServer(stack, 7))
            rows.append(("1-byte req/resp, kernel -> lwipy (TAP)", pingpong(ns, nsx.LWIP_IP, 7, count)))
        finally:
            loop.stop()
            dev.close()
    rows.append(("1-byte req/resp, kernel -> kernel (veth)", kernel_latency(count)))
    return rows


def idle_connections(n: int) -> str:
    """Memory per idle established connection (both ends counted once each), with ``n`` held open in-process."""
    import gc
    import tracemalloc
    cfg = Config(max_active_tcp=n + 16, max_listening_tcp=4, tcp_accept_mbox_size=255)
    sim = Simulation(seed=1, strict=False)
    hub = sim.hub()
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24")
    lst = b.tcp.listen(5000)
    accepted: list = []
    lst.on_event = lambda listener: accepted.extend(iter(listener.accept, None))
    a.tcp.connect("10.0.0.2", 5000)  # resolves ARP first: its queue holds 3 packets, not a burst of SYNs
    sim.run(0.01)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    clients = []
    for i in range(n):
        clients.append(a.tcp.connect("10.0.0.2", 5000))
        if i % 100 == 99:
            sim.run(0.001)
    sim.run(0.1)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    est = sum(1 for c in clients if c.state_name == "ESTABLISHED")
    return f"{est:,} of {n:,} established; {used / (2 * max(est, 1)) / 1024:.1f} KiB per pcb (tracemalloc)"


@contextlib.contextmanager
def kernel_server(ns: str, script: str, *args: str):
    """A Python server inside ``ns`` that prints "ready" once listening; killed (by PID) on the way out."""
    server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-I", "-c", script, *args],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def mbit(nbytes: int, seconds: float) -> str:
    return f"{nbytes * 8 / seconds / 1e6:8.1f} Mbit/s  ({nbytes / 1e6:.0f} MB in {seconds:.2f} s)"


def lwip_tap(ns: str, cfg: Config, mtu: int = 1500, offload: bool = False):
    nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX, mtu=mtu)
    stack = Stack(cfg, seed=1, name="bench-tcp")
    dev = TapDevice(nsx.TAP, netns=ns, offload=offload)
    stack.add_netif(dev, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}")
    return stack, dev, StackLoop(stack).start()


def bulk_in(stack: Stack, loop: StackLoop, ns: str, lwip_ip: str, port: int, n: int,
            listen_ip: str | None = None) -> str:
    """A kernel client in ``ns`` sends ``n`` bytes to a pcb-level lwipy sink on ``port``."""
    def setup():
        lst = stack.tcp.listen(port, listen_ip)

        def on_conn(lst):
            while (pcb := lst.accept()) is not None:
                def on_event(p):
                    while p.readable:
                        p.recv()
                    if p.at_eof and p.state_name == "CLOSE_WAIT":
                        p.close()
                pcb.on_event = on_event
                on_event(pcb)
        lst.on_event = on_conn
    loop.call(setup)
    done = nsx.ns_python(ns, CLIENT, lwip_ip, str(port), str(n), timeout=300)
    return mbit(n, float(done.stdout))


def bulk_out(stack: Stack, loop: StackLoop, ns: str, kernel_ip: str, port: int, n: int, ipv6: bool = False) -> str:
    """lwipy's pcb sends ``n`` bytes to a kernel server in ``ns`` on ``port``."""
    script = SERVER.replace("srv = socket.socket()", "srv = socket.socket(socket.AF_INET6)") if ipv6 else SERVER
    with kernel_server(ns, script, kernel_ip, str(port)) as server:
        block = b"\x5a" * 262144
        state = {"sent": 0, "closed": False}

        def pump(p):
            while state["sent"] < n:
                k = p.send(memoryview(block)[: min(len(block), n - state["sent"])])
                if not k:
                    return
                state["sent"] += k
            if not state["closed"]:
                state["closed"] = True
                p.close()

        def start():
            pcb = stack.tcp.connect(kernel_ip, port)
            pcb.on_event = pump
        loop.call(start)
        out, _ = server.communicate(timeout=300)
        total, seconds = out.split()
        return mbit(int(total), float(seconds))


def kernel_to_lwip(n: int, cfg: Config, mtu: int = 1500, offload: bool = False) -> str:
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, cfg, mtu, offload)
        try:
            return bulk_in(stack, loop, ns, nsx.LWIP_IP, 5001, n)
        finally:
            loop.stop()
            dev.close()


def lwip_to_kernel(n: int, cfg: Config, mtu: int = 1500, offload: bool = False) -> str:
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, cfg, mtu, offload)
        try:
            return bulk_out(stack, loop, ns, nsx.KERNEL_IP, 5002, n)
        finally:
            loop.stop()
            dev.close()


def kernel_to_kernel(n: int) -> str:
    with nsx.namespace() as a, nsx.namespace() as b:
        nsx.add_veth_pair(a, "va", "10.78.0.1", b, "vb", "10.78.0.2")
        with kernel_server(b, SERVER, "10.78.0.2", "5003") as server:
            nsx.ns_python(a, CLIENT, "10.78.0.2", "5003", str(n), timeout=300)
            out, _ = server.communicate(timeout=300)
            total, seconds = out.split()
            return mbit(int(total), float(seconds))


def in_process(n: int, cfg: Config, mtu: int = 1500) -> str:
    sim = Simulation(seed=1, strict=False)
    hub = sim.hub(mtu=mtu)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24")
    lst = b.tcp.listen(5000)
    got = [0]
    server = []

    def on_conn(lst):
        while (pcb := lst.accept()) is not None:
            server.append(pcb)

            def on_event(p):
                while p.readable:
                    got[0] += len(p.recv())
            pcb.on_event = on_event
    lst.on_event = on_conn
    block = b"\x77" * 262144
    sent = [0]

    def pump(p=None):
        while sent[0] < n:
            k = c.send(memoryview(block)[: min(len(block), n - sent[0])])
            if not k:
                break
            sent[0] += k
    t0 = time.perf_counter()
    c = a.tcp.connect("10.0.0.2", 5000)
    c.on_event = pump
    sim.run_until(lambda: got[0] >= n, 600)
    return mbit(got[0], time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="megabytes per transfer (default 100)")
    parser.add_argument("--window", type=int, default=1024000, help="lwipy's TCP_WND and TCP_SND_BUF")
    args = parser.parse_args()
    n = args.mb * 1_000_000
    cfg = Config.fast(tcp_wnd_default=args.window, tcp_snd_buf_default=args.window)  # lwipy's faster TCP
    problem = nsx.requirements_problem()
    rows = []
    if problem is None:
        rows.append(("kernel -> lwipy  (TAP, MTU 1500)", kernel_to_lwip(n, cfg)))
        rows.append(("lwipy -> kernel  (TAP, MTU 1500)", lwip_to_kernel(n, cfg)))
        rows.append(("kernel -> lwipy  (TAP, MTU 1500, offload)", kernel_to_lwip(n, cfg, offload=True)))
        rows.append(("lwipy -> kernel  (TAP, MTU 1500, offload)", lwip_to_kernel(n, cfg, offload=True)))
        jumbo = cfg.replace(tcp_mss=8960)
        rows.append(("kernel -> lwipy  (TAP, MTU 9000)", kernel_to_lwip(n, jumbo, 9000)))
        rows.append(("lwipy -> kernel  (TAP, MTU 9000)", lwip_to_kernel(n, jumbo, 9000)))
        rows.append(("kernel -> kernel (veth, baseline)", kernel_to_kernel(n)))
        rows.extend(latency(2000))
    else:
        print(f"skipping the TAP and veth runs: {problem}")
    rows.append(("idle connections held in-process", idle_connections(10_000)))
    rows.append(("lwipy -> lwipy   (in-process, MTU 1500)", in_process(n // 4, cfg)))
    rows.append(("lwipy -> lwipy   (in-process, MTU 9000)", in_process(n // 4, cfg.replace(tcp_mss=8960), 9000)))
    rows.append(("lwipy -> lwipy   (in-process, MTU 65000)", in_process(n // 4, cfg.replace(tcp_mss=64960), 65000)))
    print(f"\nTCP bulk, lwipy window {args.window} bytes, Python {sys.version.split()[0]}")
    for name, result in rows:
        print(f"  {name:42} {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
