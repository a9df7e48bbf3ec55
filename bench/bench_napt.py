#!/usr/bin/env python3
"""Forwarding rate of lwipy as a router and as a NAPT gateway, beside the kernel routing the same traffic, same run.

    sudo python3 bench/bench_napt.py [--seconds 5] [--mbytes 200]

Host A and host B are kernels in namespaces made here.  Paths: lwipy forwarding between two TAPs (A and B route
through it), lwipy with NAPT on A's side (B has no route back to A: only translated traffic is answered), and a third
namespace forwarding over veth pairs (the kernel's router).  Each path: 64-byte frames of UDP (18 bytes of payload)
sent by A as fast as one Python process can, counted by B (packets/s that came through), and a TCP stream of kernel
sockets from A to B (Mbit/s); the lwipy paths again with both TAPs opened with offload (virtio-net header: the
kernels send and take TCP super-segments, which lwipy forwards and translates whole).  The sender is one Python
loop, so a path faster than it shows the sender's rate.
"""

from __future__ import annotations

import argparse
import contextlib
import struct
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402
from bench_forward import SINK, SOURCE  # noqa: E402
from bench_tcp import kernel_server, mbit  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.netif.device import Device  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402
from lwipy.wire.checksum import checksum, pseudo_sum_v4  # noqa: E402

A, RA, B, RB = "10.1.0.2", "10.1.0.1", "10.2.0.2", "10.2.0.1"

COUNTER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
s.bind((sys.argv[1], 9000))
s.settimeout(float(sys.argv[2]) + 10)
print("ready", flush=True)
n, first, last = 0, None, None
try:
    while True:
        s.recv(2048)
        last = time.monotonic()
        if first is None:
            first = last
            s.settimeout(1.0)
        n += 1
except socket.timeout:
    pass
print(n, (last - first) if first else 0, flush=True)
"""

BLASTER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 9000))
payload = bytes(18)  # 14 + 20 + 8 + 18 = a 60-byte frame, 64 with the FCS
end = time.monotonic() + float(sys.argv[2])
sent = 0
send = s.send
while time.monotonic() < end:
    for _ in range(1000):
        try:
            send(payload)
            sent += 1
        except OSError:
            pass
print(sent, flush=True)
"""


def routes(ns_a: str, ns_b: str, ifa: str, ifb: str, back: bool = True) -> None:
    nsx.ns_run(ns_a, ["ip", "route", "add", "default", "via", RA, "dev", ifa], check=True)
    if back:
        nsx.ns_run(ns_b, ["ip", "route", "add", "default", "via", RB, "dev", ifb], check=True)


@contextlib.contextmanager
def lwipy_path(napt: bool, offload: bool = False) -> Iterator[tuple[str, str, Stack]]:
    with nsx.namespace("npa") as ns_a, nsx.namespace("npb") as ns_b:
        nsx.add_tap(ns_a, nsx.TAP, A, 24)
        nsx.add_tap(ns_b, nsx.TAP, B, 24)
        cfg = Config(ip_forward=True, ipv4_napt=napt)
        stack = Stack(cfg, seed=1, name="bench-napt" if napt else "bench-router")
        devs = [TapDevice(nsx.TAP, netns=ns_a, offload=offload), TapDevice(nsx.TAP, netns=ns_b, offload=offload)]
        loop = None
        try:
            inside = stack.add_netif(devs[0], name="lana", ip=f"{RA}/24")
            stack.add_netif(devs[1], name="lanb", ip=f"{RB}/24")
            if napt:
                stack.napt.enable(inside)
            loop = StackLoop(stack).start()
            routes(ns_a, ns_b, nsx.TAP, nsx.TAP, back=not napt)
            yield ns_a, ns_b, stack
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            for dev in devs:
                dev.close()


@contextlib.contextmanager
def kernel_path() -> Iterator[tuple[str, str, None]]:
    with nsx.namespace("npr") as ns_r, nsx.namespace("npa") as ns_a, nsx.namespace("npb") as ns_b:
        nsx.write_sysctl(ns_r, "net.ipv4.ip_forward", "1")
        nsx.add_veth_pair(ns_r, "ra", RA, ns_a, "eth0", A)
        nsx.add_veth_pair(ns_r, "rb", RB, ns_b, "eth0", B)
        routes(ns_a, ns_b, "eth0", "eth0")
        yield ns_a, ns_b, None


class _Null(Device):
    """A device that takes every frame and keeps none (the in-process measure: the stack's own cost)."""

    def transmit(self, frame) -> bool:
        return True


def in_process(napt: bool, n: int = 200_000) -> tuple[str, str]:
    """64-byte UDP frames fed straight to ``stack.input`` of a router (or NAPT gateway) with two null devices."""
    stack = Stack(Config(ip_forward=True, ipv4_napt=napt), seed=1)
    inside = stack.add_netif(_Null(), ip=f"{RA}/24", hwaddr=bytes.fromhex("020000000001"))
    outside = stack.add_netif(_Null(), ip=f"{RB}/24", hwaddr=bytes.fromhex("020000000002"))
    stack.etharp.add_static(B, bytes.fromhex("02000000000b"), outside)
    if napt:
        stack.napt.enable(inside)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 46, 1, 0, 64, 17, 0, bytes(map(int, A.split("."))),
                               bytes(map(int, B.split(".")))))
    ip[10:12] = checksum(ip).to_bytes(2, "big")
    udp = bytearray(struct.pack("!HHHH", 50000, 9000, 26, 0) + bytes(18))
    udp[6:8] = (checksum(udp, pseudo_sum_v4(bytes(ip[12:16]), bytes(ip[16:20]), 17, 26)) or 0xFFFF).to_bytes(2, "big")
    frame = bytes.fromhex("020000000001" "02000000000a" "0800") + bytes(ip) + bytes(udp)
    frames = [frame] * n
    t = time.process_time()  # CPU time: the stack's cost, whatever else the machine is doing
    stack.input_many(inside, frames, 1.0)
    dt = time.process_time() - t
    assert stack.stats.ip.fw == n
    return (f"UDP 64-byte frames in-process, lwipy {'NAPT gateway' if napt else 'router'}",
            f"{n / dt:10,.0f} packets per CPU second (stack.input to device.transmit, no I/O)")


def measure(name: str, path, seconds: float, nbytes: int) -> list[tuple[str, str]]:
    rows = []
    with path() as (ns_a, ns_b, stack):
        nsx.ns_run(ns_a, ["ping", "-c", "2", "-i", "0.2", "-W", "2", B], timeout=20)  # resolve neighbours
        with kernel_server(ns_b, COUNTER, B, str(seconds)) as counter:
            sent = int(nsx.ns_python(ns_a, BLASTER, B, str(seconds), timeout=seconds + 60).stdout)
            out, _ = counter.communicate(timeout=seconds + 60)
        n, span = out.split()
        rate = int(n) / float(span) if float(span) else 0.0
        rows.append((f"UDP 64-byte frames A -> B, {name}",
                     f"{rate:10,.0f} packets/s through ({int(n):,} of {sent:,} sent, {sent / seconds:,.0f}/s offered)"))
        with kernel_server(ns_b, SINK, B) as sink:
            nsx.ns_python(ns_a, SOURCE, B, str(nbytes), timeout=600)
            out, _ = sink.communicate(timeout=600)
        n, secs = out.split()
        rows.append((f"TCP A -> B, {name}", mbit(int(n), float(secs))))
        if stack is not None:
            extra = f"; NAPT {stack.napt.get_stats().out:,} out, {stack.napt.get_stats().inbound:,} in" \
                if stack.napt.enabled else ""
            rows.append((f"  {name} counters", f"forwarded {stack.stats.ip.fw:,}, dropped {stack.stats.ip.drop:,}"
                                               f"{extra}"))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of UDP blasting per path")
    p.add_argument("--mbytes", type=int, default=200, help="megabytes of TCP per path")
    p.add_argument("--no-offload", action="store_true", help="skip the paths with TAP offload (virtio-net header)")
    args = p.parse_args()
    problem = nsx.requirements_problem()
    if problem:  # the in-process figures need no root
        print("\n".join(f"{a}  {b}" for a, b in (in_process(False), in_process(True))))
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    nbytes = args.mbytes * 1_000_000
    rows = [in_process(False), in_process(True)]
    rows += measure("lwipy router", lambda: lwipy_path(False), args.seconds, nbytes)
    rows += measure("lwipy NAPT gateway", lambda: lwipy_path(True), args.seconds, nbytes)
    if not args.no_offload:
        rows += measure("lwipy router, TAP offload", lambda: lwipy_path(False, True), args.seconds, nbytes)
        rows += measure("lwipy NAPT gateway, TAP offload", lambda: lwipy_path(True, True), args.seconds, nbytes)
    rows += measure("kernel router", kernel_path, args.seconds, nbytes)
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{a:<{width}}  {b}" for a, b in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
