"""iperf against iperf 2.1.8 (Debian's ``iperf``) over a TAP in a test-made namespace, all four combinations: lwipy's
client (``lwipy iperf``) against ``iperf -s`` and ``iperf -c`` against lwipy's server (``lwipy up --iperf``, or an
in-process :class:`~lwipy.apps.iperf.IperfServer` behind a lossy device), TCP and UDP.  iperf's own report agrees with
lwipy's within 5 %; UDP loss and jitter come back in the server's report.  Also ESP-IDF's ping sessions seen by a
kernel-side capture: the size, TOS and TTL asked for."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import interop_netns as nsx
import pytest

from lwipy.apps.iperf import IperfConfig, IperfServer
from lwipy.esp_netif.ping import EspPingCallbacks, EspPingConfig, EspPingProfile, esp_ping_get_profile, \
    esp_ping_new_session, esp_ping_start

ENV = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
IPERF = shutil.which("iperf") or "iperf"
SECONDS = "2"  # of traffic per test: enough for a rate, short on a shared machine
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_LINE = re.compile(r"^\[\s*(\d+|SUM)\] (\d+\.\d+)-(\d+\.\d+) sec\s+([\d.]+) (\w?)Bytes\s+([\d.]+) (\w?)bits/sec"
                   r"(?:\s+([\d.]+) ms (\d+)/(\d+))?", re.M)


def report_lines(text: str) -> list[dict]:
    """iperf 2's report lines (iperf's own and lwipy's, which prints the same format)."""
    out = []
    for m in _LINE.finditer(text):
        out.append({"id": m.group(1), "start": float(m.group(2)), "end": float(m.group(3)),
                    "bytes": float(m.group(4)) * _UNITS[m.group(5)],
                    "bps": float(m.group(6)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(7)],
                    "jitter_ms": float(m.group(8)) if m.group(8) else None,
                    "lost": int(m.group(9)) if m.group(9) else None, "total": int(m.group(10)) if m.group(10) else None,
                    "line": m.group(0)})
    return out


class Lines:
    """A process's stdout lines, read on a thread, so that a test can wait for one with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                self._q.put(line)
        except ValueError:  # stop()'s communicate() closed the pipe meanwhile: the process is being ended
            pass
        self._q.put(None)

    def wait(self, pred, timeout: float = nsx.GENEROUS) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such line within {timeout} s; got:\n{''.join(self.seen)}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended first; got:\n{''.join(self.seen)}")
            self.seen.append(line)
            if pred(line):
                return line


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    """End a process we started (by its PID) and return its stderr."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    return err or ""


def wait_listening(ns: str, udp: bool, port: int = 5001) -> None:
    deadline = time.monotonic() + nsx.GENEROUS
    while time.monotonic() < deadline:
        done = nsx.ns_run(ns, ["ss", "-Hln" + ("u" if udp else "t"), f"sport = :{port}"])
        if f":{port}" in done.stdout:
            return
        time.sleep(0.02)
    raise AssertionError("iperf -s did not start listening")


def kernel_server(ns: str, udp: bool) -> tuple[subprocess.Popen, Lines]:
    """``iperf -s`` in the namespace, reporting in CSV (``-y C``: exact byte counts), line-buffered."""
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "stdbuf", "-oL", IPERF, "-s", *(["-u"] if udp else []),
                             "-y", "C", "-p", "5001"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_listening(ns, udp)
    return proc, Lines(proc)


def lwipy_iperf(kernel_tap, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lwipy", "iperf", "--tap", kernel_tap.ifname, "--netns",
                           kernel_tap.ns, "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", *args], capture_output=True,
                          text=True, timeout=120, env=ENV)


def csv_fields(line: str) -> list[str]:
    return line.strip().split(",")


def test_lwipy_tcp_client_to_iperf_server(kernel_tap):
    server, lines = kernel_server(kernel_tap.ns, udp=False)
    try:
        r = lwipy_iperf(kernel_tap, "-c", nsx.KERNEL_IP, "-t", SECONDS, "-i", "1")
        assert r.returncode == 0, r.stdout + r.stderr
        csv = csv_fields(lines.wait(lambda ln: ln.count(",") >= 8))
    finally:
        stop(server)
    ours = report_lines(r.stdout)
    assert [(x["start"], x["end"]) for x in ours[:2]] == [(0.0, 1.0), (1.0, 2.0)]
    assert (ours[2]["start"], ours[2]["end"]) == (0.0, pytest.approx(2.0, abs=0.05))
    theirs_bytes = int(csv[7])
    assert csv[3] == nsx.KERNEL_IP and csv[1] == nsx.LWIP_IP
    assert ours[-1]["bytes"] == pytest.approx(theirs_bytes, rel=0.05)
    assert theirs_bytes > 100_000


def test_lwipy_udp_client_to_iperf_server_gets_its_report(kernel_tap):
    server, lines = kernel_server(kernel_tap.ns, udp=True)
    try:
        r = lwipy_iperf(kernel_tap, "-c", nsx.KERNEL_IP, "-u", "-b", "4m", "-t", SECONDS)
        assert r.returncode == 0, r.stdout + r.stderr
        csv = csv_fields(lines.wait(lambda ln: ln.count(",") >= 12))
    finally:
        stop(server)
    assert "Server Report:" in r.stdout, r.stdout
    sent, back = report_lines(r.stdout)
    # iperf's CSV: ..., bytes, bits/s, jitter (ms), lost, total, percent, out of order
    their_bytes, jitter_ms, lost, total = int(csv[7]), float(csv[9]), int(csv[10]), int(csv[11])
    assert (back["lost"], back["total"]) == (lost, total)  # the report lwipy printed is iperf's
    assert back["jitter_ms"] == pytest.approx(jitter_ms, abs=0.0015)
    assert back["bytes"] == pytest.approx(their_bytes, rel=0.01)
    assert sent["bytes"] == pytest.approx(their_bytes, rel=0.05)
    assert total == pytest.approx(4e6 * 2 / (1470 * 8), rel=0.2)  # 4 Mbit/s for 2 s, as -b asked (a loaded machine
    # may stall the sender: what it could not send in time it leaves out, as iperf does)
    m = re.search(r"Sent (\d+) datagrams", r.stdout)
    # lwipy counts its FIN among those sent, as iperf does; iperf's total starts at the first datagram it got (a
    # TAP just opened may drop the first ones: the kernel activates its queue after the carrier's link-watch delay)
    assert m and total <= int(m.group(1)) - 1 <= total + 20


def start_up_iperf(kernel_tap):
    proc = subprocess.Popen([sys.executable, "-m", "lwipy", "up", "--tap", kernel_tap.ifname, "--netns",
                             kernel_tap.ns, "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "--iperf"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    lines = Lines(proc)
    banner = lines.wait(lambda ln: "lwipy up on" in ln)
    assert "iperf 2 server 5001" in banner
    return proc, lines


def test_iperf_tcp_client_to_lwipy_up_iperf(kernel_tap):
    proc, lines = start_up_iperf(kernel_tap)
    try:
        done = nsx.ns_run(kernel_tap.ns, [IPERF, "-c", nsx.LWIP_IP, "-t", SECONDS, "-y", "C"], timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        ours = report_lines(lines.wait(lambda ln: bool(_LINE.search(ln))))[0]
    finally:
        err = stop(proc, signal.SIGINT)
    assert "Traceback" not in err, err
    theirs = int(csv_fields(done.stdout.strip().splitlines()[-1])[7])
    assert ours["bytes"] == pytest.approx(theirs, rel=0.05) and theirs > 100_000
    assert ours["end"] == pytest.approx(float(SECONDS), rel=0.25)


@pytest.mark.parametrize("mode", ["-r", "-d"])
def test_iperf_tradeoff_and_dualtest_get_lwipys_test_back(kernel_tap, mode):
    """``iperf -c -r`` (test back once the client's test is over) and ``-d`` (at once): lwipy's server reads the
    client's settings and connects back to the client's port 5001, sending for the time asked; iperf's own reports
    count both directions."""
    proc, lines = start_up_iperf(kernel_tap)
    try:
        done = nsx.ns_run(kernel_tap.ns, [IPERF, "-c", nsx.LWIP_IP, mode, "-t", SECONDS, "-y", "C"], timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        err = stop(proc, signal.SIGINT)
    assert "Traceback" not in err, err
    rows = [csv_fields(ln) for ln in done.stdout.strip().splitlines() if ln.count(",") >= 8]
    to_lwipy = [r for r in rows if r[3] == nsx.LWIP_IP]
    from_lwipy = [r for r in rows if r[1] == nsx.LWIP_IP]
    assert to_lwipy and from_lwipy, done.stdout
    assert int(to_lwipy[-1][7]) > 100_000 and int(from_lwipy[-1][7]) > 100_000, done.stdout
    assert from_lwipy[-1][4] == "5001"  # lwipy connected to the port the client's settings named
    start, end = map(float, from_lwipy[-1][6].split("-"))
    assert end - start == pytest.approx(float(SECONDS), rel=0.3)  # for the time the client asked


def test_iperf_udp_client_to_lwipy_up_iperf(kernel_tap):
    proc, lines = start_up_iperf(kernel_tap)
    try:
        done = nsx.ns_run(kernel_tap.ns, [IPERF, "-c", nsx.LWIP_IP, "-u", "-b", "4m", "-t", SECONDS], timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        ours = report_lines(lines.wait(lambda ln: bool(_LINE.search(ln))))[0]
    finally:
        err = stop(proc, signal.SIGINT)
    assert "Traceback" not in err, err
    assert "Server Report:" in done.stdout, done.stdout  # the FIN handshake: lwipy's report reached iperf
    theirs = report_lines(done.stdout.split("Server Report:")[1])[0]
    assert (theirs["lost"], theirs["total"]) == (ours["lost"], ours["total"])
    assert theirs["bytes"] == pytest.approx(ours["bytes"], rel=0.01)
    assert theirs["jitter_ms"] == pytest.approx(ours["jitter_ms"], abs=0.0015)
    client_side = report_lines(done.stdout.split("Server Report:")[0])[-1]
    assert client_side["bytes"] == pytest.approx(ours["bytes"], rel=0.05)


@pytest.mark.lwip_device(faults=dict(loss=0.05, egress=False))
def test_iperf_udp_client_sees_the_loss_and_jitter_of_a_lossy_lwipy(lwip):
    server = lwip.call(lambda: IperfServer(lwip.stack, IperfConfig(udp=True)))
    done = lwip.run([IPERF, "-c", lwip.ip, "-u", "-b", "4m", "-t", SECONDS], timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Server Report:" in done.stdout, done.stdout
    theirs = report_lines(done.stdout.split("Server Report:")[1])[0]
    (ours,) = lwip.call(lambda: list(server.finals))
    assert (theirs["lost"], theirs["total"]) == (ours.lost, ours.total)
    assert 0.02 < ours.lost / ours.total < 0.09  # 5 % of what arrives is dropped by the device, seeded
    assert theirs["jitter_ms"] is not None and theirs["jitter_ms"] == pytest.approx(ours.jitter * 1000, abs=0.0015)


def test_esp_ping_session_size_tos_and_ttl_in_a_kernel_capture(lwip, tmp_path):
    pcap = tmp_path / "kernel.pcap"
    dump = subprocess.Popen(["ip", "netns", "exec", lwip.ns, shutil.which("tcpdump") or "tcpdump", "-n", "-U",
                             "--immediate-mode", "-c", "6", "-Z", "root", "-i", lwip.kernel.ifname, "-w", str(pcap), "icmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "listening on" not in dump.stderr.readline():
            assert dump.poll() is None, "tcpdump exited"
        ended = threading.Event()
        seen = []

        def success(hdl, args):
            seen.append({p.name: esp_ping_get_profile(hdl, p) for p in EspPingProfile})
        cbs = EspPingCallbacks(cb_args=None, on_ping_success=success, on_ping_end=lambda h, a: ended.set())
        config = EspPingConfig(target_addr=lwip.kernel_ip, count=3, interval_ms=100, data_size=120, tos=0xB8, ttl=33)
        hdl = esp_ping_new_session(config, cbs, stack=lwip.stack, loop=lwip.loop)
        esp_ping_start(hdl)
        assert ended.wait(nsx.GENEROUS)
        dump.wait(nsx.GENEROUS)  # it ends after 6 packets: the 3 requests and 3 replies
    finally:
        dump_err = stop(dump, signal.SIGINT)
    assert "6 packets captured" in dump_err, dump_err
    assert [s["ESP_PING_PROF_SEQNO"] for s in seen] == [1, 2, 3]
    last = seen[-1]
    assert (last["ESP_PING_PROF_REPLY"], last["ESP_PING_PROF_SIZE"], last["ESP_PING_PROF_TTL"]) == (3, 120, 64)
    fields = subprocess.run(["tshark", "-r", str(pcap), "-Y", f"icmp.type == 8 && ip.src == {lwip.ip}", "-T",
                             "fields", "-e", "ip.dsfield", "-e", "ip.ttl", "-e", "data.len", "-e", "icmp.seq"],
                            capture_output=True, text=True, timeout=60)
    rows = [ln.split("\t") for ln in fields.stdout.strip().splitlines()]
    assert rows == [["0xb8", "33", "120", str(i)] for i in (1, 2, 3)], fields.stdout + fields.stderr


KERNEL6, LWIP6 = "2001:db8:77::1", "2001:db8:77::2"


def kernel_ip6(kernel_tap) -> None:
    nsx.ns_run(kernel_tap.ns, ["ip", "-6", "addr", "add", f"{KERNEL6}/64", "dev", kernel_tap.ifname], check=True)


@pytest.mark.ipv6
def test_ipv6_lwipy_tcp_client_to_iperf_server(kernel_tap):
    kernel_ip6(kernel_tap)
    server = subprocess.Popen(["ip", "netns", "exec", kernel_tap.ns, "stdbuf", "-oL", IPERF, "-s", "-V", "-y", "C",
                               "-p", "5001"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_listening(kernel_tap.ns, udp=False)
    lines = Lines(server)
    try:
        r = subprocess.run([sys.executable, "-m", "lwipy", "iperf", "--tap", kernel_tap.ifname, "--netns",
                            kernel_tap.ns, "--ip6", f"{LWIP6}/64", "-c", KERNEL6, "-t", SECONDS], capture_output=True,
                           text=True, timeout=120, env=ENV)
        assert r.returncode == 0, r.stdout + r.stderr
        csv = csv_fields(lines.wait(lambda ln: ln.count(",") >= 8))
    finally:
        stop(server)
    assert f"local {LWIP6} port" in r.stdout and f"connected with {KERNEL6} port 5001" in r.stdout
    assert report_lines(r.stdout)[-1]["bytes"] == pytest.approx(int(csv[7]), rel=0.05) and int(csv[7]) > 100_000


@pytest.mark.ipv6
def test_ipv6_iperf_udp_client_to_lwipy_server(kernel_tap):
    kernel_ip6(kernel_tap)
    proc = subprocess.Popen([sys.executable, "-m", "lwipy", "iperf", "--tap", kernel_tap.ifname, "--netns",
                             kernel_tap.ns, "--ip6", f"{LWIP6}/64", "-s", "-u"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    lines = Lines(proc)
    try:
        lines.wait(lambda ln: "Server listening on UDP port 5001" in ln)
        # the banner comes once the address passed DAD; the kernel may still need a neighbour solicitation
        done = nsx.ns_run(kernel_tap.ns, [IPERF, "-c", LWIP6, "-V", "-u", "-b", "2m", "-t", SECONDS], timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        ours = report_lines(lines.wait(lambda ln: bool(_LINE.search(ln))))[0]
    finally:
        err = stop(proc, signal.SIGINT)
    assert "Traceback" not in err, err
    assert "Server Report:" in done.stdout, done.stdout
    theirs = report_lines(done.stdout.split("Server Report:")[1])[0]
    assert (theirs["lost"], theirs["total"]) == (ours["lost"], ours["total"]) and ours["total"] > 300
    assert f"connected with {KERNEL6} port" in "".join(lines.seen)
