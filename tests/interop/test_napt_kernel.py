"""lwipy as a NAPT gateway between two kernels, each in a namespace this test makes.

Host A (namespace ``A``, TAP lan0, 192.168.4.2/24, default route via lwipy's 192.168.4.1) sits behind lwipy; server B
(namespace ``B``, TAP wan0, 10.0.0.9/24) has no route back to 192.168.4.0/24, so only translated traffic can be
answered.  lwipy runs in this process on both TAPs (10.0.0.2/24 outside) with NAPT on lan0.  B also forwards to a
network on an unopened TAP (10.99.0.0/24) so that a probe with a small TTL expires at B.  The CLI test runs the same gateway as
``lwipy up --tap ... --napt ... --portmap ...``.

What is checked is what the peers saw with their own tools: curl's bytes and B's http.server access log, dnsmasq's
query log, ping's replies, and the ICMP time-exceeded a raw socket on A receives.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import interop_netns as nsx
from conftest import require_interop
from interop_netns import GENEROUS
from test_dns_kernel import Daemon, need

from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.netif.tap import TapDevice

pytestmark = pytest.mark.interop

A, GW_IN, B, GW_OUT = "192.168.4.2", "192.168.4.1", "10.0.0.9", "10.0.0.2"
BIG = 100 * 1000 * 1000
NAPT_MAX = 300

HTTP = r"""
import http.server, sys, functools
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), handler)
print("ready", flush=True)
srv.serve_forever()
"""

ECHO = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(512)
print("ready", flush=True)
def serve(c):
    with c:
        while data := c.recv(65536):
            c.sendall(data)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

PARALLEL = r"""
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=60) for _ in range(n)]  # all open at once
ok = []
def run(i, s):
    msg = (b"%05d" % i) * 200
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    ok.append(got == msg)
threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(socks)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(ok), flush=True)
"""

PROBE = r"""
import socket, struct, sys
dst, sport = sys.argv[1], int(sys.argv[2])
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(10)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", sport))
u.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 2)
u.sendto(b"probe", (dst, 33434))
while True:
    pkt, (src, _) = icmp.recvfrom(2048)
    ihl = (pkt[0] & 15) * 4
    t, code = pkt[ihl], pkt[ihl + 1]
    q = pkt[ihl + 8:]
    qihl = (q[0] & 15) * 4
    qsrc = socket.inet_ntoa(q[12:16]); qdst = socket.inet_ntoa(q[16:20])
    qs, qd = struct.unpack("!HH", q[qihl:qihl + 4])
    if t == 11:
        print(src, t, code, qsrc, qdst, qs, qd, flush=True)
        break
"""


class Server:
    """A Python server in a namespace that prints "ready"; its stderr (an access log) kept; killed by its PID."""

    def __init__(self, ns: str, script: str, *args: str, log: Path | None = None) -> None:
        self.log = log
        self.err = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-I", "-c", script, *args],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.log:
            self.err.close()


def hosts(ns_a: str, ns_b: str) -> None:
    nsx.add_tap(ns_a, "lan0", A, 24)
    nsx.add_tap(ns_b, "wan0", B, 24)
    nsx.ns_run(ns_a, ["ip", "route", "add", "default", "via", GW_IN], check=True)
    # B routes 10.99.0.0/24 to a TAP of its own, so a packet for it arriving with TTL 1 expires at B
    nsx.write_sysctl(ns_b, "net.ipv4.ip_forward", "1")
    nsx.add_tap(ns_b, "far0", "10.99.0.1", 24)  # nobody opens it: a link without carrier, its route still there


def wait_for(predicate, timeout: float = GENEROUS) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def gateway():
    require_interop()
    with nsx.namespace("napta") as ns_a, nsx.namespace("naptb") as ns_b:
        hosts(ns_a, ns_b)
        cfg = Config(ip_forward=True, ipv4_napt=True, ip_napt_max=NAPT_MAX, ip_napt_timeout_ms_tcp_discon=3000)
        stack = Stack(cfg, seed=5, name="napt-gw")
        devs = [TapDevice("lan0", netns=ns_a), TapDevice("wan0", netns=ns_b)]
        loop = None
        try:
            inside = stack.add_netif(devs[0], name="lan0", ip=f"{GW_IN}/24")
            stack.add_netif(devs[1], name="wan0", ip=f"{GW_OUT}/24", gateway=B, default=True)
            stack.napt.enable(inside)
            loop = StackLoop(stack).start()
            sizes = []
            done = threading.Event()

            def watch():  # the table's size, sampled on the core thread while the tests run
                while not done.is_set():
                    try:
                        sizes.append(loop.call(lambda: len(stack.napt.table), timeout=5))
                    except Exception:
                        return
                    done.wait(0.05)
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            yield ns_a, ns_b, stack, loop, sizes
            done.set()
            watcher.join(10)
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            for d in devs:
                d.close()


def test_ping_from_behind_the_gateway(gateway):
    ns_a, ns_b, stack, loop, _ = gateway
    r = nsx.ns_run(ns_a, ["ping", "-c", "3", "-i", "0.2", "-W", "5", B], timeout=60)
    assert nsx.parse_ping(r.stdout).received == 3, r.stdout + r.stderr


def fetch_big(ns_a: str, ns_b: str, tmp_path: Path) -> None:
    """curl on A fetches 100 MB from B's http.server: the same SHA-256, and B's access log names only lwipy's
    outside address."""
    www = tmp_path / "www"
    www.mkdir()
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(www / "big", "wb") as f:
        left = BIG
        while left:
            chunk = block[:min(left, len(block))]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    log = tmp_path / "access.log"
    server = Server(ns_b, HTTP, B, "8000", str(www), log=log)
    try:
        curl = subprocess.Popen(["ip", "netns", "exec", ns_a, "curl", "-sS", "--max-time", "600",
                                 f"http://{B}:8000/big"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = hashlib.sha256()
        n = 0
        assert curl.stdout is not None
        while chunk := curl.stdout.read(1 << 20):
            got.update(chunk)
            n += len(chunk)
        assert curl.wait(60) == 0, curl.stderr.read() if curl.stderr else ""
    finally:
        server.stop()
    assert n == BIG and got.hexdigest() == h.hexdigest()
    lines = [ln for ln in log.read_text().splitlines() if "GET /big" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"{GW_OUT} "), log.read_text()
    assert A not in log.read_text()


def test_curl_fetches_100_mb_through_napt_and_b_sees_only_the_outside_address(gateway, tmp_path):
    ns_a, ns_b, stack, loop, _ = gateway
    fetch_big(ns_a, ns_b, tmp_path)


def test_with_tap_offload_super_segments_are_translated_whole(tmp_path):
    """Both TAPs with offload (virtio-net header): B's kernel sends TCP super-segments, lwipy translates each whole
    (its partial checksum follows the address) and A's kernel takes them as they are; the bytes arrive intact."""
    require_interop()
    with nsx.namespace("naptoa") as ns_a, nsx.namespace("naptob") as ns_b:
        hosts(ns_a, ns_b)
        stack = Stack(Config(ip_forward=True, ipv4_napt=True), seed=6, name="napt-offload")
        devs = [TapDevice("lan0", netns=ns_a, offload=True), TapDevice("wan0", netns=ns_b, offload=True)]
        loop = None
        try:
            inside = stack.add_netif(devs[0], name="lan0", ip=f"{GW_IN}/24")
            stack.add_netif(devs[1], name="wan0", ip=f"{GW_OUT}/24", gateway=B, default=True)
            stack.napt.enable(inside)
            loop = StackLoop(stack).start()
            fetch_big(ns_a, ns_b, tmp_path)
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            for d in devs:
                d.close()
        assert devs[1].rx_gso > 0 and devs[0].tx_gso > 0  # super-segments came in from B and went out to A whole
        assert stack.stats.ip.fw < BIG // 1448  # fewer packets forwarded than 1448-byte segments make up


def test_a_dns_query_to_dnsmasq_on_b(gateway, tmp_path):
    ns_a, ns_b, stack, loop, _ = gateway
    dnsmasq = need("dnsmasq", "dnsmasq-base")
    daemon = Daemon(ns_b, [dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                           f"--listen-address={B}", "--bind-interfaces", "--address=/napt.lwipy.test/10.0.0.77",
                           "--log-queries", "--log-facility=-", f"--pid-file={tmp_path / 'dnsmasq.pid'}",
                           "--user=root"], tmp_path / "dnsmasq.log", ready="started")
    try:
        r = nsx.ns_python(ns_a, "import dns.resolver, sys\n"
                                "res = dns.resolver.Resolver(configure=False)\n"
                                "res.nameservers = [sys.argv[1]]\n"
                                "res.lifetime = 20\n"
                                "print(res.resolve('napt.lwipy.test', 'A')[0])", B, timeout=60)
    finally:
        text = daemon.stop()
    assert r.stdout.strip() == "10.0.0.77"
    assert f"query[A] napt.lwipy.test from {GW_OUT}" in text, text
    assert A not in text


def test_200_parallel_connections_all_complete_and_the_table_stays_bounded(gateway):
    ns_a, ns_b, stack, loop, sizes = gateway
    server = Server(ns_b, ECHO, B, "7000")
    try:
        r = nsx.ns_python(ns_a, PARALLEL, B, "7000", "200", timeout=300)
    finally:
        server.stop()
    assert r.stdout.strip() == "200", r.stdout + r.stderr
    assert max(sizes) <= NAPT_MAX
    assert max(sizes) >= 200  # all 200 were in the table at once
    # closed flows leave after ip_napt_timeout_ms_tcp_discon (3 s here) at a sweep
    assert wait_for(lambda: loop.call(lambda: stack.napt.stats.nr_active_tcp) == 0)
    assert loop.call(lambda: stack.napt.stats.nr_forced_evictions) == 0


def test_a_small_ttl_probe_gets_time_exceeded_back_through_the_translation(gateway):
    ns_a, ns_b, stack, loop, _ = gateway
    r = nsx.ns_python(ns_a, PROBE, "10.99.0.5", "40123", timeout=60)
    src, t, code, qsrc, qdst, qs, qd = r.stdout.split()
    assert (src, t, code) == (B, "11", "0")  # expired at B, whose error came back through lwipy
    assert (qsrc, qdst, qs, qd) == (A, "10.99.0.5", "40123", "33434")  # the quoted header is A's own again
    assert loop.call(lambda: stack.napt.stats.icmp_errors) >= 1


def test_cli_gateway_with_a_port_map(tmp_path):
    require_interop()
    with nsx.namespace("naptca") as ns_a, nsx.namespace("naptcb") as ns_b:
        hosts(ns_a, ns_b)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "lwipy", "up", "--tap", f"lan0@{ns_a}", "--ip", f"{GW_IN}/24",
                                 "--tap", f"wan0@{ns_b}", "--ip", f"{GW_OUT}/24", "--gw", B, "--napt", "lan0",
                                 "--portmap", f"tcp:8080={A}:8000", "--portmap", f"udp:5353={A}:53"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        www = tmp_path / "www"
        www.mkdir()
        (www / "hello.txt").write_text("behind the gateway\n")
        server = None
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert "NAPT for the hosts behind lan0" in first and f"tcp {GW_OUT}:8080 -> {A}:8000" in first, first
            server = Server(ns_a, HTTP, A, "8000", str(www), log=tmp_path / "a.log")
            r = nsx.ns_run(ns_b, ["curl", "-sS", "--max-time", "30", f"http://{GW_OUT}:8080/hello.txt"], timeout=60)
            assert r.stdout == "behind the gateway\n", r.stderr
            assert (tmp_path / "a.log").read_text().startswith(f"{B} ")  # A sees B itself: the map keeps the source
            ping = nsx.ns_run(ns_a, ["ping", "-c", "2", "-i", "0.2", "-W", "5", B], timeout=60)
            assert nsx.parse_ping(ping.stdout).received == 2
        finally:
            if server is not None:
                server.stop()
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "napt: " in out and "inbound" in out
