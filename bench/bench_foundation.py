#!/usr/bin/env python3
"""Foundation benchmarks: lwipy beside the Linux kernel on the same machine, in the same run.

    sudo python3 bench/bench_foundation.py                 # everything, default sizes
    sudo python3 bench/bench_foundation.py --only input    # the in-process part only (needs no root)

Three measurements, each bounded in count and in time:

1. ping RTT: ``ping -c N -i 0.002`` from the kernel to lwipy over a TAP, beside kernel-to-kernel over a veth pair
   between two namespaces; p50/p99 from ping's own per-reply times.
2. UDP receive rate: a Python sender in a namespace blasts small datagrams at lwipy's UDP pcb over the TAP (the rate
   is what lwipy's pcb received over the time between its first and last datagram), beside the same sender aimed
   at a Python kernel-socket receiver in a second namespace over veth.  Both receivers are Python loops, so the
   kernel line is a ceiling for "Python application on the kernel's stack", not for the kernel itself.
3. ``stack.input`` in-process: pre-built frames fed straight into a stack whose device discards what it sends.

All traffic stays in namespaces made here (``lwipy-<pid>-<n>``), deleted on exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))  # the namespace helpers the interop tests use

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.apps import UdpEchoServer  # noqa: E402
from lwipy.netif.device import Device  # noqa: E402
from lwipy.wire.checksum import checksum, pseudo_sum_v4  # noqa: E402

try:
    import interop_netns as nsx  # noqa: E402
except ImportError as e:  # pragma: no cover
    nsx = None  # type: ignore[assignment]
    _NSX_ERROR = e

VETH_A, VETH_B = "10.78.0.1", "10.78.0.2"
UDP_PORT = 9000

# -- kernel-side helper scripts (run with `ip netns exec`) -------------------------------------------------------------
SENDER = r"""
import socket, sys, time
dst, port, count, size, limit, rate = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                       float(sys.argv[5]), float(sys.argv[6]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((dst, port))
payload = b"\xa5" * size
send, clock, sleep = s.send, time.monotonic, time.sleep
sent = errors = 0
start = clock()
deadline = start + limit
for i in range(count):
    if not i & 63:
        now = clock()
        if now > deadline:
            break
        if rate > 0 and i / rate > now - start:  # paced: bursts of 64, then wait for the schedule
            sleep(i / rate - (now - start))
    try:
        send(payload)
        sent += 1
    except OSError:
        errors += 1
print(f"{sent} {errors} {clock() - start:.6f}")
"""

RECEIVER = r"""
import socket, sys, time
ip, port, idle, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, port))
print("ready", flush=True)
s.settimeout(limit)
recv, clock = s.recv, time.monotonic
count, first, last = 0, 0.0, 0.0
try:
    recv(65535)
    first = clock()
    count = 1
    s.settimeout(idle)
    end = first + limit
    while True:
        recv(65535)
        count += 1
        if not count & 1023 and clock() > end:
            last = clock()
            break
except socket.timeout:
    if count:
        last = clock() - idle  # the wait that timed out began right after the last datagram
print(f"{count} {last - first:.6f}")
"""


# -- results ------------------------------------------------------------------------------------------------------------
class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, what: str, path: str, result: str) -> None:
        self.rows.append((what, path, result))
        print(f"  {what:<28} {path:<34} {result}", flush=True)

    def render(self) -> str:
        w1 = max(len(r[0]) for r in self.rows)
        w2 = max(len(r[1]) for r in self.rows)
        lines = [f"{'measurement':<{w1}}  {'path':<{w2}}  result", "-" * (w1 + w2 + 50)]
        lines += [f"{a:<{w1}}  {b:<{w2}}  {c}" for a, b, c in self.rows]
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100.0 * len(ordered) + 0.5))))
    return ordered[rank - 1]


# -- the lwipy side on a TAP ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def lwip_on_tap(ns: str):
    """A lwipy stack at 10.77.0.2/24 on a TAP in ``ns`` (kernel side 10.77.0.1), served on its own thread."""
    from lwipy.netif.tap import TapDevice
    nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
    stack = Stack(Config(ip4_reassembly=True, ip_reass_max_pbufs=64), seed=1, name="bench")
    dev = TapDevice(nsx.TAP, netns=ns)
    loop = None
    try:
        stack.add_netif(dev, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}")
        loop = StackLoop(stack).start()
        yield stack, loop
    finally:
        if loop is not None:
            loop.stop()
            loop.close()
        dev.close()


def ping_rtts(ns: str, target: str, count: int, limit: float) -> tuple[list[float], str]:
    deadline = max(5, int(limit))
    done = nsx.ns_run(ns, ["ping", "-c", str(count), "-i", "0.002", "-W", "1", "-w", str(deadline), target],
                      timeout=deadline + 10)
    stats = nsx.parse_ping(done.stdout + done.stderr)
    return stats.rtts_ms, f"{stats.received}/{stats.transmitted}"


def fmt_rtt(rtts: list[float], received: str) -> str:
    if not rtts:
        return f"no replies ({received})"
    return (f"p50 {percentile(rtts, 50):7.3f} ms   p99 {percentile(rtts, 99):7.3f} ms   "
            f"mean {statistics.fmean(rtts):7.3f} ms   replies {received}")


def bench_ping(table: Table, args: argparse.Namespace) -> None:
    limit = args.max_seconds
    with nsx.namespace() as ns_tap:
        with lwip_on_tap(ns_tap):
            nsx.ns_run(ns_tap, ["ping", "-c", "3", "-i", "0.01", "-W", "1", nsx.LWIP_IP], timeout=10)  # warm ARP
            rtts, received = ping_rtts(ns_tap, nsx.LWIP_IP, args.pings, limit)
            table.add(f"ping RTT ({args.pings} x -i 0.002)", "kernel -> lwipy (TAP)", fmt_rtt(rtts, received))
    with nsx.namespace() as ns_a, nsx.namespace() as ns_b:
        nsx.add_veth_pair(ns_a, "va", VETH_A, ns_b, "vb", VETH_B)
        nsx.ns_run(ns_a, ["ping", "-c", "3", "-i", "0.01", "-W", "1", VETH_B], timeout=10)
        rtts, received = ping_rtts(ns_a, VETH_B, args.pings, limit)
        table.add(f"ping RTT ({args.pings} x -i 0.002)", "kernel -> kernel (veth)", fmt_rtt(rtts, received))


def run_sender(ns: str, dst: str, args: argparse.Namespace) -> tuple[int, int, float]:
    done = nsx.ns_python(ns, SENDER, dst, str(UDP_PORT), str(args.udp_count), str(args.udp_size),
                         str(args.max_seconds), str(args.udp_rate), timeout=args.max_seconds + 30)
    sent, errors, elapsed = done.stdout.split()
    return int(sent), int(errors), float(elapsed)


def fmt_udp(received: int, span: float, sent: int, send_time: float) -> str:
    rate = received / span if span > 0 else float("nan")
    loss = 100.0 * (sent - received) / sent if sent else 0.0
    return (f"{rate:10,.0f} dgram/s   received {received:,} of {sent:,} ({loss:.1f}% lost)   "
            f"sender {sent / send_time if send_time else 0:,.0f}/s")


def bench_udp(table: Table, args: argparse.Namespace) -> None:
    pace = f" @ {args.udp_rate:,.0f}/s" if args.udp_rate > 0 else ""
    what = f"UDP rx ({args.udp_count:,} x {args.udp_size} B{pace})"
    with nsx.namespace() as ns_tap:
        with lwip_on_tap(ns_tap) as (stack, loop):
            state = {"count": 0, "first": 0.0, "last": 0.0}

            def on_recv(pcb, dgram) -> None:
                if not state["count"]:
                    state["first"] = stack.now
                state["count"] += 1
                state["last"] = stack.now

            def setup():
                pcb = stack.udp.new()
                pcb.bind(None, UDP_PORT)
                pcb.on_recv = on_recv
                return pcb

            loop.call(setup)
            nsx.ns_run(ns_tap, ["ping", "-c", "2", "-i", "0.01", "-W", "1", nsx.LWIP_IP], timeout=10)  # warm ARP
            sent, errors, send_time = run_sender(ns_tap, nsx.LWIP_IP, args)
            # wait until lwipy has drained the TAP: the count stops moving (bounded)
            deadline = time.monotonic() + args.max_seconds
            seen = -1
            while time.monotonic() < deadline:
                now = loop.call(lambda: state["count"])
                if now == seen:
                    break
                seen = now
                time.sleep(0.3)
            got = loop.call(lambda: dict(state))
            udp_drop = loop.call(lambda: stack.stats.udp.drop)
            table.add(what, "kernel -> lwipy pcb (TAP)",
                      fmt_udp(got["count"], got["last"] - got["first"], sent, send_time)
                      + (f"   lwipy udp drops {udp_drop}" if udp_drop else ""))
    with nsx.namespace() as ns_a, nsx.namespace() as ns_b:
        nsx.add_veth_pair(ns_a, "va", VETH_A, ns_b, "vb", VETH_B)
        nsx.ns_run(ns_a, ["ping", "-c", "2", "-i", "0.01", "-W", "1", VETH_B], timeout=10)
        receiver = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, "-I", "-c", RECEIVER, VETH_B,
                                     str(UDP_PORT), "0.5", str(args.max_seconds)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready = receiver.stdout.readline()  # type: ignore[union-attr]
            if ready.strip() != "ready":
                raise RuntimeError(f"the receiver did not start: {ready!r} {receiver.stderr.read()}")  # type: ignore
            sent, errors, send_time = run_sender(ns_a, VETH_B, args)
            out, err = receiver.communicate(timeout=args.max_seconds + 30)
            count, span = out.split()
            table.add(what, "kernel -> kernel socket (veth)", fmt_udp(int(count), float(span), sent, send_time))
        finally:
            if receiver.poll() is None:
                receiver.kill()  # by its PID
                receiver.wait()


# -- in-process ----------------------------------------------------------------------------------------------------------
class Discard(Device):
    """A device that accepts and forgets every frame (counting them)."""

    def __init__(self) -> None:
        self.sent = 0

    def transmit(self, frame) -> bool:
        self.sent += 1
        return True


def _frames(kind: str, lw_mac: bytes, peer_mac: bytes, src: bytes, dst: bytes, n: int, size: int) -> list[bytes]:
    out = []
    for seq in range(n):
        if kind == "icmp":
            body = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + bytes(size))
            struct.pack_into("!H", body, 2, checksum(body))
            proto = 1
        else:
            length = 8 + size
            body = bytearray(struct.pack("!HHHH", 40000 + seq, 7 if kind == "udp-echo" else UDP_PORT, length, 0)
                             + bytes(size))
            struct.pack_into("!H", body, 6, checksum(body, pseudo_sum_v4(src, dst, 17, length)) or 0xFFFF)
            proto = 17
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), seq, 0, 64, proto, 0, src, dst))
        struct.pack_into("!H", ip, 10, checksum(ip))
        out.append(lw_mac + peer_mac + b"\x08\x00" + bytes(ip) + bytes(body))
    return out


def bench_input(table: Table, args: argparse.Namespace) -> None:
    src, dst = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
    peer_mac = bytes.fromhex("020000000001")
    for kind, label in (("icmp", "ICMP echo request -> reply"), ("udp", "UDP to a bound pcb (no reply)"),
                        ("udp-echo", "UDP echo server (rx + tx)")):
        stack = Stack(Config(), seed=1, name="inproc")
        dev = Discard()
        netif = stack.add_netif(dev, ip="10.77.0.2/24")
        stack.etharp.add_static("10.77.0.1", peer_mac, netif)
        got = [0]
        if kind == "udp":
            pcb = stack.udp.new()
            pcb.bind(None, UDP_PORT)
            pcb.on_recv = lambda p, d, got=got: got.__setitem__(0, got[0] + 1)
        elif kind == "udp-echo":
            UdpEchoServer(stack, 7)
        frames = _frames(kind, netif.hwaddr, peer_mac, src, dst, 256, args.input_size)
        rates = []
        dev.sent = 0  # forget the gratuitous ARP of add_netif
        for _ in range(args.repeat):
            done, elapsed = _feed(stack, netif, frames, args.frames, args.max_seconds)
            rates.append(done / elapsed)
            delivered = got[0] if kind == "udp" else dev.sent
            assert stack.stats.link.err == 0 and delivered == done, (stack.stats.format(), delivered, done)
            got[0] = dev.sent = 0
        med = statistics.median(rates)
        table.add(f"stack.input ({done:,} x {args.input_size} B)", label,
                  f"{med:10,.0f} frames/s   {1e6 / med:6.1f} us/frame   "
                  f"(median of {len(rates)}: {min(rates):,.0f}..{max(rates):,.0f})")


def _feed(stack: Stack, netif, frames: list[bytes], n: int, limit: float) -> tuple[int, float]:
    """Feed ``n`` frames (cycling through ``frames``) into ``stack.input``; stop early after ``limit`` seconds."""
    inp = stack.input
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + limit
    while done < n:
        batch = frames[:min(len(frames), n - done)]
        for frame in batch:
            inp(netif, frame, 1.0)
        done += len(batch)
        if time.perf_counter() > deadline:
            break
    return done, time.perf_counter() - t0


_MAIN_PID = os.getpid()


def _interrupt(signum, frame) -> None:
    if os.getpid() != _MAIN_PID:  # a forked helper (pyroute2 forks to enter a namespace) must not unwind our stack
        os._exit(128 + signum)
    raise KeyboardInterrupt


# -- main ----------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pings", type=int, default=1000, help="pings per RTT measurement (default 1000)")
    parser.add_argument("--udp-count", type=int, default=500_000, help="datagrams the sender sends (default 500000)")
    parser.add_argument("--udp-size", type=int, default=16, help="UDP payload bytes (default 16)")
    parser.add_argument("--udp-rate", type=float, default=0.0,
                        help="pace the sender to this many datagrams/s (default 0: as fast as it can)")
    parser.add_argument("--frames", type=int, default=100_000, help="frames per in-process run (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs per measurement, median shown (default 3)")
    parser.add_argument("--input-size", type=int, default=56, help="payload bytes of in-process frames (default 56)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time bound of each measurement (default 20)")
    parser.add_argument("--only", choices=["ping", "udp", "input"], action="append",
                        help="run only this part (repeatable)")
    args = parser.parse_args(argv)
    parts = args.only or ["ping", "udp", "input"]
    needs_netns = any(p in parts for p in ("ping", "udp"))
    if needs_netns:
        if nsx is None:
            parser.error(f"cannot import the namespace helpers from tests/interop: {_NSX_ERROR}")
        problem = nsx.requirements_problem()
        if problem:
            parser.error(f"{problem} (or run with --only input)")

    # SIGTERM unwinds like Ctrl-C, so the namespaces' finally blocks run
    signal.signal(signal.SIGTERM, _interrupt)

    uname = platform.uname()
    print(f"lwipy foundation bench: Python {platform.python_version()} ({sys.implementation.name}), "
          f"Linux {uname.release}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    table = Table()
    try:
        if "ping" in parts:
            bench_ping(table, args)
        if "udp" in parts:
            bench_udp(table, args)
        if "input" in parts:
            bench_input(table, args)
    except KeyboardInterrupt:
        print("interrupted; namespaces deleted", file=sys.stderr)
        return 130
    print()
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
