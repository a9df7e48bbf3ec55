#!/usr/bin/env python3
"""iperf throughput: ``lwipy iperf`` against iperf 2 over a TAP, beside kernel iperf to kernel iperf over veth in the
same run, and beside ESP32's published figures.

    sudo python3 bench/bench_iperf.py [--seconds 5] [--udp-rate 100m] [--offload]

For each lwipy configuration (ESP-IDF's default windows, then the tuned ones of ESP-IDF's Wi-Fi throughput guide:
``CONFIG_LWIP_TCP_SND_BUF_DEFAULT=65534``, ``CONFIG_LWIP_TCP_WND_DEFAULT=65534``, ``CONFIG_LWIP_TCP_RECVMBOX_SIZE=12``,
``CONFIG_LWIP_UDP_RECVMBOX_SIZE=12``, ``CONFIG_LWIP_TCPIP_RECVMBOX_SIZE=64``):

- TCP TX: ``lwipy iperf -c`` (the command, on the TAP) -> ``iperf -s`` in the namespace; the figure is iperf's.
- TCP RX: ``iperf -c`` -> ``lwipy iperf -s``; the figure is iperf's client's.
- UDP TX: ``lwipy iperf -c -u -b RATE`` -> ``iperf -s -u``: what iperf's server received, and its loss.
- UDP RX: ``iperf -c -u -b RATE`` -> ``lwipy iperf -s -u``: what lwipy's server received (iperf's server report).

"TX"/"RX" are the device's view, as ESP-IDF's table has them.  The baseline is iperf to iperf over a veth pair between
two namespaces (TCP, and UDP at the same RATE).  Everything runs in namespaces made here, deleted on exit.  Figures
are Mbit/s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
#: ESP-IDF's published ESP32 iperf figures (Wi-Fi driver guide, "ESP32 throughput"), Mbit/s
ESP32 = {"TCP TX": 74.6, "TCP RX": 63.6, "UDP TX": 76.2, "UDP RX": 83.1}
TUNED = ["-o", "tcp_snd_buf_default=65534", "-o", "tcp_wnd_default=65534", "-o", "tcp_recvmbox_size=12",
         "-o", "udp_recvmbox_size=12", "-o", "tcpip_recvmbox_size=64"]


def ns_iperf(ns: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "iperf", *args, "-y", "C"], capture_output=True, text=True,
                          timeout=timeout)


def csv_last(text: str, min_fields: int = 9) -> list[str]:
    rows = [ln.split(",") for ln in text.strip().splitlines() if ln.count(",") >= min_fields - 1]
    if not rows:
        raise RuntimeError(f"no iperf CSV report in:\n{text}")
    return rows[-1]


def wait_port(ns: str, port: int, udp: bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hln" + ("u" if udp else "t"), f"sport = :{port}"],
                             capture_output=True, text=True).stdout
        if f":{port}" in out:
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} in {ns}")


def start_kernel_server(ns: str, udp: bool) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "stdbuf", "-oL", "iperf", "-s", *(["-u"] if udp else []),
                             "-y", "C"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_port(ns, 5001, udp)
    return proc


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=5)
    return out


def lwipy(ns: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "lwipy", "iperf", "--tap", nsx.TAP, "--netns", ns, "--ip",
            f"{nsx.LWIP_IP}/{nsx.PREFIX}", *args]


def run_tx(ns: str, udp: bool, extra: list[str], seconds: str, rate: str) -> tuple[float, str]:
    server = start_kernel_server(ns, udp)
    try:
        args = ["-c", nsx.KERNEL_IP, "-t", seconds, *(["-u", "-b", rate] if udp else []), *extra]
        done = subprocess.run(lwipy(ns, *args), capture_output=True, text=True, timeout=300, env=ENV)
        if done.returncode != 0:
            raise RuntimeError(done.stdout + done.stderr)
        time.sleep(0.5)  # iperf -s writes its report when the test ends; it is line-buffered
    finally:
        out = stop(server)
    row = csv_last(out, 14 if udp else 9)
    note = f"loss {row[10]}/{row[11]}" if udp else ""
    return int(row[8]) / 1e6, note


def run_rx(ns: str, udp: bool, extra: list[str], seconds: str, rate: str) -> tuple[float, str]:
    server = subprocess.Popen(lwipy(ns, "-s", *(["-u"] if udp else []), *extra), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_port_lwipy = time.monotonic() + 30
        while "Server listening" not in (server.stdout.readline() or "Server listening"):
            if time.monotonic() > wait_port_lwipy:
                raise RuntimeError("lwipy iperf -s did not start")
        time.sleep(0.3)  # the banner is printed as the loop starts
        if udp:
            done = subprocess.run(["ip", "netns", "exec", ns, "iperf", "-c", nsx.LWIP_IP, "-u", "-b", rate, "-t",
                                   seconds], capture_output=True, text=True, timeout=120)
            text = done.stdout.split("Server Report:")
            if len(text) < 2:
                raise RuntimeError(done.stdout + done.stderr)
            line = text[1].strip().splitlines()[1]
            mbits = float(line.split("Bytes")[1].split()[0]) * {"K": 1e-3, "M": 1, "G": 1e3}[
                line.split("bits/sec")[0].split()[-1][0]]
            return mbits, "loss " + line.split(" ms ")[1].split(" (")[0]
        done = ns_iperf(ns, "-c", nsx.LWIP_IP, "-t", seconds)
        return int(csv_last(done.stdout)[8]) / 1e6, ""
    finally:
        stop(server)


def kernel_veth(seconds: str, rate: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with nsx.namespace() as ns_a, nsx.namespace() as ns_b:
        nsx.add_veth_pair(ns_a, "va", "10.78.0.1", ns_b, "vb", "10.78.0.2")
        for udp in (False, True):
            server = start_kernel_server(ns_b, udp)
            try:
                done = ns_iperf(ns_a, "-c", "10.78.0.2", "-t", seconds, *(["-u", "-b", rate] if udp else []))
                time.sleep(0.5)
            finally:
                srv = stop(server)
            out["UDP" if udp else "TCP"] = int(csv_last(srv if udp else done.stdout, 14 if udp else 9)[8]) / 1e6
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", default="5", help="seconds of traffic per figure (default 5)")
    p.add_argument("--udp-rate", default="500m", help="iperf -b for the UDP tests (default 500m: above what lwipy reaches)")
    p.add_argument("--offload", action="store_true", help="also the tuned configuration with the TAP's offload")
    args = p.parse_args()
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    configs = [("ESP-IDF default windows (5760)", []), ("tuned (65534, ESP-IDF's guide)", TUNED)]
    if args.offload:
        configs.append(("tuned + TAP offload", TUNED + ["--offload"]))
    rows: list[tuple[str, str, float, str]] = []
    for label, extra in configs:
        for kind in ("TCP TX", "TCP RX", "UDP TX", "UDP RX"):
            with nsx.namespace() as ns:
                nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
                udp = kind.startswith("UDP")
                fn = run_tx if kind.endswith("TX") else run_rx
                mbits, note = fn(ns, udp, extra, args.seconds, args.udp_rate)
            rows.append((label, kind, mbits, note))
            print(f"  {label:32} {kind}: {mbits:8.1f} Mbit/s {note}", file=sys.stderr, flush=True)
    veth = kernel_veth(args.seconds, args.udp_rate)
    print(f"\niperf throughput, Mbit/s ({args.seconds} s each; UDP offered at -b {args.udp_rate}; "
          f"{os.cpu_count()} CPUs shared)\n")
    print(f"{'':34}{'TCP TX':>10}{'TCP RX':>10}{'UDP TX':>10}{'UDP RX':>10}")
    for label, _ in configs:
        figs = {k: f"{m:10.1f}" for lab, k, m, _ in rows if lab == label}
        print(f"{'lwipy, ' + label:34}" + "".join(figs[k] for k in ESP32))
    notes = "; ".join(f"{lab.split(' ')[0]} {k}: {n}" for lab, k, _, n in rows if n)
    print(f"{'kernel -> kernel (veth, iperf 2)':34}{veth['TCP']:10.1f}{veth['TCP']:10.1f}{veth['UDP']:10.1f}"
          f"{veth['UDP']:10.1f}")
    print(f"{'ESP32 (ESP-IDF published)':34}" + "".join(f"{v:10.1f}" for v in ESP32.values()))
    print(f"\nUDP loss as iperf reported it: {notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
