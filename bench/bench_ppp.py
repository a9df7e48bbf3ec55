#!/usr/bin/env python3
"""PPP over a pty: TCP throughput of lwipy's PPPoS against C lwIP's (``lwip_pppd`` from ../shared/peers/lwip-ppp,
built on demand as the tests build it), with the C-to-C figure of the same run as the baseline.

    python3 bench/bench_ppp.py [--bytes 4194304] [--runs 3]

A pty has no baud rate: it moves bytes as fast as the two processes read and write, so the figures are what each
implementation's framing, negotiation-free data path and TCP reach on this machine.  For each of VJ off and on:

1. C client -> C server: the client's ``--discard-test`` (one way) and ``--tcp-echo-test`` (both ways) self-tests;
2. lwipy client -> C server: lwipy's sockets send ``--bytes`` to the C discard server (port 9) and through the C
   echo server (port 7);
3. C client -> lwipy server: the C client's self-tests against lwipy's discard and echo services.

There is no kernel baseline: Linux's pppd needs /dev/ppp, which this machine (a container) does not have.  Figures
are Mbit/s of TCP payload (echo: each byte counted once, though it crossed the line twice); the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import tty
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "ppp"))

from lwip_peer import LwipEnd, Peer, parse_line, peer_binary  # noqa: E402

from lwipy.api.sockets import SocketApi  # noqa: E402
from lwipy.apps.tcp_services import TcpDiscardServer, TcpEchoServer  # noqa: E402
from lwipy.ppp import PppSettings  # noqa: E402

SERVER, CLIENT = "10.64.0.1", "10.64.0.2"


def c_to_c(size: int, vj: bool) -> tuple[float, float]:
    """Two lwip_pppd on one pty: the client's discard and echo self-tests, in Mbit/s."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    vjflag = "--vj" if vj else "--no-vj"
    server = subprocess.Popen([peer_binary(), "--fd", str(master), "--server", "--local", SERVER, "--remote", CLIENT,
                               vjflag], pass_fds=(master,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = subprocess.Popen([peer_binary(), "--fd", str(slave), "--discard-test", "peer", "--tcp-echo-test", "peer",
                               "--test-bytes", str(size), "--test-timeout", "300", "--exit-after-tests", vjflag],
                              pass_fds=(slave,), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    os.close(master)
    os.close(slave)
    out, _ = client.communicate(timeout=600)
    server.terminate()
    server.wait(30)
    return _results(out)


def _results(out: str) -> tuple[float, float]:
    res = {f["test"]: f for k, f in (parse_line(x) for x in out.splitlines()) if k == "RESULT"}
    for name in ("discard", "tcp-echo"):
        if res.get(name, {}).get("ok") != "1":
            raise SystemExit(f"the C client's {name} test failed: {out}")
    return float(res["discard"]["kbps"]) / 1000, float(res["tcp-echo"]["kbps"]) / 1000


def lwipy_client(size: int, vj: bool) -> tuple[float, float]:
    peer = Peer(["--server", "--local", SERVER, "--remote", CLIENT, "--vj" if vj else "--no-vj"])
    end = LwipEnd(peer.master, PppSettings(vj=vj))
    try:
        peer.wait("UP")
        end.wait_for(lambda: end.pcb.if4_up, what="IPCP up")
        api = SocketApi(end.loop)
        data = os.urandom(size)
        # discard: one way
        s = api.socket(api.AF_INET, api.SOCK_STREAM)
        s.connect((SERVER, 9))
        t0 = time.monotonic()
        s.sendall(data)
        s.shutdown(api.SHUT_WR)
        closed = peer.wait("TCP_CLOSE", port="9", timeout=300)
        if closed["rx"] != str(size):
            raise SystemExit(f"the discard server took {closed['rx']} of {size} bytes")
        discard = size * 8 / (time.monotonic() - t0) / 1e6
        s.close()
        # echo: both ways at once
        s = api.socket(api.AF_INET, api.SOCK_STREAM)
        s.connect((SERVER, 7))
        got = bytearray()

        def reader() -> None:
            while len(got) < size:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got.extend(chunk)
        th = threading.Thread(target=reader)
        t0 = time.monotonic()
        th.start()
        s.sendall(data)
        th.join(300)
        echo = size * 8 / (time.monotonic() - t0) / 1e6
        s.close()
        if bytes(got) != data:
            raise SystemExit("the echo came back different")
        return discard, echo
    finally:
        peer.close()
        end.stop()


def lwipy_server(size: int, vj: bool) -> tuple[float, float]:
    peer = Peer(["--discard-test", "peer", "--tcp-echo-test", "peer", "--test-bytes", str(size), "--test-timeout",
                 "300", "--exit-after-tests", "--vj" if vj else "--no-vj"])
    end = LwipEnd(peer.master, PppSettings(server=True, local=IPv4Address(SERVER), remote=IPv4Address(CLIENT), vj=vj))
    try:
        end.call(lambda: (TcpEchoServer(end.stack), TcpDiscardServer(end.stack)))
        peer.wait("TESTS_DONE", timeout=600)
        res = {f["test"]: f for f in peer.all("RESULT")}
        return float(res["discard"]["kbps"]) / 1000, float(res["tcp-echo"]["kbps"]) / 1000
    finally:
        peer.close()
        end.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bytes", type=int, default=4 << 20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"PPP over a pty, {args.bytes} bytes per test, median of {args.runs} runs (Mbit/s of TCP payload)")
    print(f"{'':28} {'discard':>9} {'echo':>9}")
    for vj in (False, True):
        for name, fn in (("C client -> C server", c_to_c), ("lwipy client -> C server", lwipy_client),
                         ("C client -> lwipy server", lwipy_server)):
            runs = [fn(args.bytes, vj) for _ in range(args.runs)]
            d = statistics.median(r[0] for r in runs)
            e = statistics.median(r[1] for r in runs)
            print(f"{name + (' (VJ)' if vj else ''):28} {d:9.1f} {e:9.1f}", flush=True)


if __name__ == "__main__":
    main()
