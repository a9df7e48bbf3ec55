#!/usr/bin/env python3
"""The peak memory of ESP-IDF's lwIP guide beside lwipy's measured peak (``stack.memory()``).

    python3 bench/bench_memory.py [--connections 1 4 16] [--udp 1]

The guide ("Peak Buffer Usage") gives ``lwip_dynamic_peek_memory = udp_con_num * udp_conn + tcp_con_num *
(tx_win + rx_win + tcp_conn)``.  Here a device stack opens ``udp`` UDP sockets and ``connections`` TCP sockets to a
peer stack, each TCP connection with both windows full (device and peer both send until their send buffers are full
and neither reads), with ESP-IDF's windows (CONFIG_LWIP_TCP_SND_BUF_DEFAULT = CONFIG_LWIP_TCP_WND_DEFAULT = 5760,
MSS 1440).  Both stacks run on core threads over a virtual hub in virtual time.  The device's peak is what lwIP would
have allocated (:mod:`lwipy.core.mem`: MEMP element sizes of a 32-bit build with ESP-IDF's options, pbuf bytes); the
static tables (ARP, ND) and the tcpip thread's mailbox are left out, as the guide's dynamic figure does.

Prints the per-pcb figures, then per workload the formula, the measured peak by category and the difference (the
pbufs' and tcp_segs' own bytes, which the formula's window sizes leave out).
"""

from __future__ import annotations

import argparse
import errno
import json
import socket as pysocket
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lwipy import Config, Stack  # noqa: E402
from lwipy.api import SocketApi, StackLoop  # noqa: E402
from lwipy.core.mem import ARP, CATEGORIES, ND6  # noqa: E402
from lwipy.netif import VirtualHub  # noqa: E402

PORT = 5001


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fill(sock: Any) -> int:
    """Send without blocking until the send buffer refuses; the bytes it took."""
    sent = 0
    while True:
        try:
            sent += sock.send(bytes(1440))
        except BlockingIOError:
            return sent
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return sent
            raise


def measure(connections: int, udp: int = 1, config: Config | None = None) -> dict[str, Any]:
    """Run the workload; the device's figures (bytes) and the guide's formula for it."""
    cfg = config or Config(max_sockets=max(10, connections + udp + 1), max_active_tcp=max(16, connections + 1),
                           tcp_accept_mbox_size=max(6, connections))
    clock = VirtualClock()
    hub = VirtualHub()
    device, peer = Stack(cfg, seed=1, name="device"), Stack(cfg, seed=2, name="peer")
    device.add_netif(hub.port("device"), ip="10.0.0.1/24")
    peer.add_netif(hub.port("peer"), ip="10.0.0.2/24")
    ld, lp = StackLoop(device, clock=clock).start(), StackLoop(peer, clock=clock).start()
    dev_api, peer_api = SocketApi(ld), SocketApi(lp)
    try:
        ld.call(device.mem.reset_peak)
        baseline = ld.call(lambda: device.mem.total)  # static tables and the tcpip mailbox
        server = peer_api.socket()
        server.bind(("", PORT))
        server.listen(connections)
        udps = [dev_api.socket(type=pysocket.SOCK_DGRAM) for _ in range(udp)]
        clients, accepted = [], []
        for _ in range(connections):
            c = dev_api.socket()
            c.connect(("10.0.0.2", PORT))
            c.setblocking(False)
            clients.append(c)
            s, _ = server.accept()
            s.setblocking(False)
            accepted.append(s)

        def full() -> bool:
            pcbs = [c.netconn.pcb for c in clients]
            return all(p is not None and len(p.snd_buf) == p.snd_buf_limit and
                       len(p.rcv_buf) + p.rcv_held == p.rcv_buf_limit for p in pcbs)
        for _ in range(200):
            for sock in clients + accepted:
                _fill(sock)
            if ld.call(full):
                break
            clock.now += 0.25  # delayed ACKs and persist probes
            ld.call(lambda: device.poll(clock.now))
            lp.call(lambda: peer.poll(clock.now))
        else:
            raise AssertionError("the windows did not fill")
        report = ld.call(device.memory)
        mem = device.mem
        sizes = mem.sizes
        static = mem.cur[ARP] + mem.cur[ND6]
        tcp_conn = sizes.tcp_conn(cfg.tcp_recvmbox_size)
        udp_conn = sizes.udp_conn(cfg.udp_recvmbox_size)
        formula = udp * udp_conn + connections * (cfg.tcp_snd_buf_default + cfg.tcp_wnd_default + tcp_conn)
        dynamic_peak = report["total"]["peak"] - baseline
        for c in clients + accepted + udps:
            c.close()
        server.close()
        after_close = ld.call(lambda: device.mem.total) - baseline  # unread data: the closes reset, nothing lingers
        return {
            "tcp_connections": connections, "udp_sockets": udp, "tx_win": cfg.tcp_snd_buf_default,
            "rx_win": cfg.tcp_wnd_default, "tcp_conn": tcp_conn, "udp_conn": udp_conn, "formula": formula,
            "measured_peak": dynamic_peak, "difference": dynamic_peak - formula,
            "static": static, "tcpip_mbox": baseline - static, "after_close": after_close,
            "peak_by_category": {name: report[name]["peak"] for name in CATEGORIES if name not in ("arp", "nd6")},
            "mbox_peak_without_tcpip": report["mbox"]["peak"] - (baseline - static),
            "per_pcb": {"tcp_pcb": sizes.tcp_pcb, "tcp_pcb_listen": sizes.tcp_pcb_listen, "udp_pcb": sizes.udp_pcb,
                        "netconn": sizes.netconn, "tcp_recvmbox": sizes.mbox(cfg.tcp_recvmbox_size),
                        "udp_recvmbox": sizes.mbox(cfg.udp_recvmbox_size), "tcp_seg": sizes.tcp_seg,
                        "pbuf": sizes.pbuf, "tx_segment_overhead": sizes.tcp_snd_segment(),
                        "rx_segment_overhead": sizes.tcp_rx_segment()},
        }
    finally:
        dev_api.close_all()
        peer_api.close_all()
        for loop in (ld, lp):
            loop.stop()
            loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--udp", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = [measure(n, args.udp) for n in args.connections]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    first = results[0]
    print("per pcb (bytes, 32-bit lwIP with ESP-IDF's options): " +
          ", ".join(f"{k} {v}" for k, v in first["per_pcb"].items()))
    print(f"tcp_conn = tcp_pcb + netconn + recvmbox = {first['tcp_conn']}, udp_conn = {first['udp_conn']}, "
          f"tx_win = {first['tx_win']}, rx_win = {first['rx_win']}")
    print(f"{'TCP':>4} {'UDP':>4} {'formula':>9} {'measured':>9} {'diff':>6}  peak by category")
    for r in results:
        cats = " ".join(f"{k}={v}" for k, v in r["peak_by_category"].items() if v)
        print(f"{r['tcp_connections']:>4} {r['udp_sockets']:>4} {r['formula']:>9} {r['measured_peak']:>9} "
              f"{r['difference']:>+6}  {cats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
