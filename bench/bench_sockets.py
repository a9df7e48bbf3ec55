#!/usr/bin/env python3
"""The application APIs' cost: sockets and netconn beside the pcb level, and the kernel beside all, in one run.

    sudo python3 bench/bench_sockets.py [--mb 100] [--window 1024000] [--count 2000]

1. Bulk over a TAP (MTU 1500), kernel -> lwipy and lwipy -> kernel: the pcb-level figure (bench_tcp's code), then the
   same through lwipy sockets (``recv_into`` and ``sendall`` with 1 MB buffers on an application thread); the kernel
   over veth as the baseline.
2. 1-byte request/response (TCP_NODELAY), a kernel client against lwipy echo servers on the pcb, on a netconn and on
   a socket (application thread), and against a kernel echo server over veth; a UDP socket's ``sendto`` rate to a
   kernel receiver.
3. The hop to the core thread: ``StackLoop.call`` of a no-op from an application thread, beside the same round trip
   between two plain Python threads (a queue and an event).

The sockets and netconn rows run twice: with API calls as messages to the core thread (ESP-IDF's default), and with
core locking (``tcpip_core_locking``, ``CONFIG_LWIP_TCPIP_CORE_LOCKING``: the call runs on the application's thread
under the core lock while the loop sleeps).

Everything runs in namespaces made here (``lwipy-<pid>-<n>``), deleted on exit.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_tcp as bt  # noqa: E402
from bench_tcp import kernel_server, lwip_tap, mbit, nsx, pingpong  # noqa: E402

from lwipy import Config  # noqa: E402
from lwipy.api import NETCONN_TCP, Netconn, SocketApi  # noqa: E402

BUF = 1 << 20


def socket_kernel_to_lwip(n: int, cfg: Config) -> str:
    """A kernel client sends ``n`` bytes to an lwipy socket that reads them with recv_into(1 MB)."""
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, cfg)
        api = SocketApi(loop)
        try:
            srv = api.create_server(("", 5001))

            def serve() -> None:
                conn, _ = srv.accept()
                buf = bytearray(BUF)
                while conn.recv_into(buf):
                    pass
                conn.close()
            reader = threading.Thread(target=serve)
            reader.start()
            done = nsx.ns_python(ns, bt.CLIENT, nsx.LWIP_IP, "5001", str(n), timeout=300)
            reader.join(60)
            return mbit(n, float(done.stdout))
        finally:
            api.close_all()
            loop.stop()
            dev.close()


def socket_lwip_to_kernel(n: int, cfg: Config) -> str:
    """An lwipy socket sends ``n`` bytes with sendall(1 MB blocks) to a kernel server."""
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, cfg)
        api = SocketApi(loop)
        try:
            with kernel_server(ns, bt.SERVER, nsx.KERNEL_IP, "5002") as server:
                block = memoryview(b"\x5a" * BUF)
                s = api.create_connection((nsx.KERNEL_IP, 5002))
                left = n
                while left:
                    k = min(left, BUF)
                    s.sendall(block[:k])
                    left -= k
                s.close()
                out, _ = server.communicate(timeout=300)
                total, seconds = out.split()
                return mbit(int(total), float(seconds))
        finally:
            api.close_all()
            loop.stop()
            dev.close()


UDP_SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(2)
print("ready", flush=True)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
"""


def udp_sendto_rate(count: int, locking: bool) -> str:
    """An lwipy UDP socket's ``sendto`` of ``count`` 64-byte datagrams to a kernel receiver, one after another on an
    application thread (each a call into the core: ``netconn_send``), in datagrams per second."""
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, Config(tcpip_core_locking=locking))
        api = SocketApi(loop)
        try:
            with kernel_server(ns, UDP_SINK, nsx.KERNEL_IP, "5005") as sink:
                s = api.socket(api.AF_INET, api.SOCK_DGRAM)
                data, dst = b"\x5a" * 64, (nsx.KERNEL_IP, 5005)
                s.sendto(data, dst)  # the ARP exchange first: lwIP queues one datagram per unresolved entry
                time.sleep(0.5)
                t0 = time.perf_counter()
                for _ in range(count):
                    s.sendto(data, dst)
                seconds = time.perf_counter() - t0
                out, _ = sink.communicate(timeout=60)
                return f"{count / seconds:9.0f} datagrams/s  ({int(out) - 1} of {count} arrived)"
        finally:
            api.close_all()
            loop.stop()
            dev.close()


def latency(count: int, locking: bool = False) -> list[tuple[str, str]]:
    """1-byte request/response against lwipy's echo servers (the pcb's only without core locking: it never leaves
    the core thread) and, without core locking, the kernel's."""
    from lwipy.apps import TcpEchoServer
    rows = []
    how = ", core locking" if locking else ""
    with nsx.namespace() as ns:
        stack, dev, loop = lwip_tap(ns, Config(tcpip_core_locking=locking))
        api = SocketApi(loop)
        try:
            if not locking:
                loop.call(lambda: TcpEchoServer(stack, 7))
                rows.append(("1-byte req/resp, lwipy pcb echo (core thread)", pingpong(ns, nsx.LWIP_IP, 7, count)))

            nc = Netconn(loop, NETCONN_TCP)
            nc.bind(None, 8)
            nc.listen()

            def netconn_echo() -> None:
                conn = nc.accept()
                while chunk := conn.recv():
                    conn.write(chunk)
                conn.delete()
            t = threading.Thread(target=netconn_echo)
            t.start()
            rows.append((f"1-byte req/resp, lwipy netconn echo (app thread{how})", pingpong(ns, nsx.LWIP_IP, 8, count)))
            t.join(10)
            nc.delete()

            srv = api.create_server(("", 9))

            def socket_echo() -> None:
                conn, _ = srv.accept()
                conn.setsockopt(api.IPPROTO_TCP, api.TCP_NODELAY, 1)
                while chunk := conn.recv(4096):
                    conn.sendall(chunk)
                conn.close()
            t = threading.Thread(target=socket_echo)
            t.start()
            rows.append((f"1-byte req/resp, lwipy socket echo (app thread{how})", pingpong(ns, nsx.LWIP_IP, 9, count)))
            t.join(10)
        finally:
            api.close_all()
            loop.stop()
            dev.close()
    if not locking:
        rows.append(("1-byte req/resp, kernel echo (veth)", bt.kernel_latency(count)))
    return rows


def hop_cost(count: int) -> list[tuple[str, str]]:
    """StackLoop.call(no-op) from an application thread (messages, then core locking), and the same round trip
    between two plain threads."""
    from lwipy import Stack
    from lwipy.api import StackLoop
    hops = []
    for locking in (False, True):
        loop = StackLoop(Stack(Config(tcpip_core_locking=locking), seed=1)).start()
        try:
            samples = []
            for _ in range(count):
                t0 = time.perf_counter()
                loop.call(lambda: None)
                samples.append(time.perf_counter() - t0)
        finally:
            loop.stop()
            loop.close()
        hops.append(samples)
    calls: queue.SimpleQueue = queue.SimpleQueue()

    def worker() -> None:
        while (item := calls.get()) is not None:
            item.set()
    t = threading.Thread(target=worker)
    t.start()
    base = []
    for _ in range(count):
        done = threading.Event()
        t0 = time.perf_counter()
        calls.put(done)
        done.wait()
        base.append(time.perf_counter() - t0)
    calls.put(None)
    t.join()

    def fmt(xs: list[float]) -> str:
        xs.sort()
        return f"p50 {statistics.median(xs) * 1e6:6.1f} us   p99 {xs[int(len(xs) * 0.99)] * 1e6:6.1f} us"
    return [("StackLoop.call(no-op), app thread -> core", fmt(hops[0])),
            ("StackLoop.call(no-op), core locking", fmt(hops[1])),
            ("queue + Event round trip, two plain threads", fmt(base))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="megabytes per transfer (default 100)")
    parser.add_argument("--window", type=int, default=1024000, help="lwipy's TCP_WND and TCP_SND_BUF")
    parser.add_argument("--count", type=int, default=2000, help="request/response rounds and hops")
    args = parser.parse_args()
    n = args.mb * 1_000_000
    cfg = Config.fast(tcp_wnd_default=args.window, tcp_snd_buf_default=args.window)  # lwipy's faster TCP
    locked = cfg.replace(tcpip_core_locking=True)
    rows = []
    problem = nsx.requirements_problem()
    if problem is None:
        rows.append(("kernel -> lwipy pcb     (TAP, MTU 1500)", bt.kernel_to_lwip(n, cfg)))
        rows.append(("kernel -> lwipy socket  (TAP, MTU 1500)", socket_kernel_to_lwip(n, cfg)))
        rows.append(("kernel -> lwipy socket, core locking", socket_kernel_to_lwip(n, locked)))
        rows.append(("lwipy pcb -> kernel     (TAP, MTU 1500)", bt.lwip_to_kernel(n, cfg)))
        rows.append(("lwipy socket -> kernel  (TAP, MTU 1500)", socket_lwip_to_kernel(n, cfg)))
        rows.append(("lwipy socket -> kernel, core locking", socket_lwip_to_kernel(n, locked)))
        rows.append(("kernel -> kernel        (veth, baseline)", bt.kernel_to_kernel(n)))
        rows.extend(latency(args.count))
        rows.extend(latency(args.count, locking=True))
        rows.append(("UDP sendto, 64 bytes, lwipy socket", udp_sendto_rate(args.count * 10, False)))
        rows.append(("UDP sendto, 64 bytes, core locking", udp_sendto_rate(args.count * 10, True)))
    else:
        print(f"skipping the TAP and veth runs: {problem}")
    rows.extend(hop_cost(args.count * 5))
    print(f"\nApplication APIs, lwipy window {args.window} bytes, Python {sys.version.split()[0]}")
    for name, result in rows:
        print(f"  {name:48} {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
