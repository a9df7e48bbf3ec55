"""lwipy's DNS resolver against real servers in the test's namespace: dnsmasq and unbound (A, AAAA, CNAME,
NXDOMAIN), a silent MAIN server with dnsmasq as BACKUP, forged answers injected with scapy, urllib under lwipy.patch
reaching a kernel http.server by name, and a ``.local`` name answered by avahi-daemon.  Each daemon runs inside the
namespace, by PID, with its configuration in the test's tmp_path; every capture is checked by tshark."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from interop_netns import GENEROUS
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from test_ipv4_kernel import TSHARK_PROBLEMS, inject, tshark

import lwipy
from lwipy.api import netconn_gethostbyname
from lwipy.core import dns as d

pytestmark = pytest.mark.interop

KERNEL_IP = "10.77.0.1"
BACKUP_IP = "10.77.0.3"
ROGUE_IP = "10.77.0.66"
HOST6 = "2001:db8:77::1"


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (scripts/test installs {package} as root)", pytrace=False)
    return path


class Daemon:
    """A daemon started inside the namespace; stopped by its PID."""

    def __init__(self, ns: str, argv: list[str], log: Path, ready: str | None = None, timeout: float = GENEROUS) -> None:
        self.log = log
        self.out = open(log, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=self.out, stderr=subprocess.STDOUT,
                                     text=True)
        if ready is not None:
            deadline = time.monotonic() + timeout
            while ready not in self.text():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"{argv[0]} did not start:\n{self.text()}")
                time.sleep(0.05)

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()
        return self.text()


def add_kernel_address(lwip, ip: str) -> None:
    lwip.run(["ip", "addr", "add", f"{ip}/24", "dev", lwip.kernel.ifname], check=True)


def start_dnsmasq(lwip, tmp_path: Path, listen: str = KERNEL_IP) -> Daemon:
    dnsmasq = need("dnsmasq", "dnsmasq-base")
    return Daemon(lwip.ns, [dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                            f"--listen-address={listen}", "--bind-interfaces", "--port=53", "--local=/lwipy.test/",
                            f"--host-record=host.lwipy.test,{KERNEL_IP},{HOST6}", "--host-record=v4only.lwipy.test,"
                            f"{KERNEL_IP}", "--cname=www.lwipy.test,host.lwipy.test", "--log-queries",
                            "--log-facility=-", f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--user=root", "--local-ttl=60"],
                  tmp_path / f"dnsmasq-{listen}.log", ready="started")


def start_unbound(lwip, tmp_path: Path) -> Daemon:
    unbound = need("unbound", "unbound")
    conf = tmp_path / "unbound.conf"
    conf.write_text(f"""server:
    interface: {KERNEL_IP}
    port: 53
    access-control: 10.77.0.0/24 allow
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{tmp_path}"
    pidfile: "{tmp_path / 'unbound.pid'}"
    use-syslog: no
    logfile: ""
    verbosity: 1
    log-queries: yes
    do-ip6: no
    module-config: "iterator"
    local-zone: "lwipy.test." static
    local-data: "host.lwipy.test. 120 IN A {KERNEL_IP}"
    local-data: "host.lwipy.test. 120 IN AAAA {HOST6}"
    local-data: "www.lwipy.test. 120 IN CNAME host.lwipy.test."
    local-data: "short.lwipy.test. 2 IN A {KERNEL_IP}"
remote-control:
    control-enable: no
""")
    return Daemon(lwip.ns, [unbound, "-d", "-c", str(conf)], tmp_path / "unbound.log", ready="start of service")


def resolve(lwip, name: str, addrtype: int = d.LWIP_DNS_ADDRTYPE_DEFAULT):
    try:
        return netconn_gethostbyname(lwip.loop, name, addrtype), None
    except d.DnsError as e:
        return None, e


def check_answers(lwip) -> None:
    a, _ = resolve(lwip, "host.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address(KERNEL_IP)
    a, _ = resolve(lwip, "host.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV6)
    assert a.address == IPv6Address(HOST6)
    a, _ = resolve(lwip, "www.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.address == IPv4Address(KERNEL_IP) and a.canonical == "host.lwipy.test"
    _, e = resolve(lwip, "nope.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert type(e) is d.DnsNotFound
    a, _ = resolve(lwip, "host.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    assert a.source == "cache"


def test_dnsmasq_answers_a_aaaa_cname_nxdomain(lwip, tmp_path):
    server = start_dnsmasq(lwip, tmp_path)
    try:
        lwip.call(lambda: lwip.stack.dns_setserver(0, KERNEL_IP))
        check_answers(lwip)
    finally:
        log = server.stop()
    # dnsmasq's own account: one query for each, none for the cached answer
    assert log.count(f"query[A] host.lwipy.test from {lwip.ip}") == 1, log
    assert log.count(f"query[AAAA] host.lwipy.test from {lwip.ip}") == 1, log
    assert f"query[A] www.lwipy.test from {lwip.ip}" in log and "nope.lwipy.test is NXDOMAIN" in log, log
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, "dns.flags.response == 0 && ip.src == " + lwip.ip)) == 4
    assert tshark(lwip.pcap_path, "dns.flags.rcode == 3", "dns.qry.name") == ["nope.lwipy.test"]


def test_unbound_answers_a_aaaa_cname_nxdomain_and_a_ttl_expiry_asks_again(lwip, tmp_path):
    server = start_unbound(lwip, tmp_path)
    try:
        lwip.call(lambda: lwip.stack.dns_setserver(0, KERNEL_IP))
        check_answers(lwip)
        a, _ = resolve(lwip, "short.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
        assert a.source == "dns"
        lwip.wait_for(lambda: lwip.stack.dns.lookup("short.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4) is None,
                      timeout=GENEROUS, what="the 2 s TTL to run out")
        a, _ = resolve(lwip, "short.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
        assert a.source == "dns" and a.address == IPv4Address(KERNEL_IP)
    finally:
        log = server.stop()
    queries = [line.split(f"{lwip.ip} ", 1)[1] for line in log.splitlines() if f"info: {lwip.ip} " in line]
    # unbound's static zone answers www with the CNAME alone: its target, host, is in lwipy's table already, so
    # nobody is asked for it (nor for the last host A, a cached answer)
    assert queries[:4] == ["host.lwipy.test. A IN", "host.lwipy.test. AAAA IN", "www.lwipy.test. A IN",
                           "nope.lwipy.test. A IN"], log
    assert log.count("short.lwipy.test. A IN") == 2, log  # the expired one was asked again
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, "dns.flags.rcode == 3", "dns.qry.name") == ["nope.lwipy.test"]


SILENT_SERVER = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print(json.dumps([time.monotonic(), peer[1], data.hex()]), flush=True)
"""


def test_main_silent_backup_dnsmasq_answers_within_the_retry_budget(lwip, tmp_path):
    add_kernel_address(lwip, BACKUP_IP)
    silent = Daemon(lwip.ns, [sys.executable, "-I", "-c", SILENT_SERVER, KERNEL_IP], tmp_path / "silent.log",
                    ready="ready")
    backup = start_dnsmasq(lwip, tmp_path, listen=BACKUP_IP)
    try:
        lwip.call(lambda: (lwip.stack.dns_setserver(d.DNS_MAIN, KERNEL_IP),
                           lwip.stack.dns_setserver(d.DNS_BACKUP, BACKUP_IP)))
        t0 = time.monotonic()
        a, _ = resolve(lwip, "host.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
        took = time.monotonic() - t0
    finally:
        silent_log = silent.stop()
        backup_log = backup.stop()
    assert a.address == IPv4Address(KERNEL_IP)
    sends = [json.loads(line) for line in silent_log.splitlines()[1:] if line.startswith("[")]
    assert len(sends) == 4  # DNS_MAX_RETRIES tries of MAIN
    gaps = [round(b[0] - a[0]) for a, b in zip(sends, sends[1:], strict=False)]
    assert gaps == [1, 1, 2], gaps  # lwIP's schedule: 0, 1, 2, 4 s
    assert 6.0 < took < 14.0  # BACKUP asked at 7 s, inside the retry budget (14 s for two servers)
    assert backup_log.count(f"query[A] host.lwipy.test from {lwip.ip}") == 1, backup_log
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, f"dns.flags.response == 0 && ip.dst == {KERNEL_IP}")) == 4
    assert len(tshark(lwip.pcap_path, f"dns.flags.response == 1 && ip.src == {BACKUP_IP}")) == 1


def test_forged_answers_sent_with_scapy_are_ignored(lwip, tmp_path):
    silent = Daemon(lwip.ns, [sys.executable, "-I", "-c", SILENT_SERVER, KERNEL_IP], tmp_path / "silent.log",
                    ready="ready")
    result: list = []
    try:
        lwip.call(lambda: lwip.stack.dns_setserver(0, KERNEL_IP))
        worker = threading.Thread(target=lambda: result.append(resolve(lwip, "bank.lwipy.test",
                                                                        d.LWIP_DNS_ADDRTYPE_IPV4)))
        worker.start()
        lwip.wait_for(lambda: lwip.stack.dns.pending() == 1, what="the query in flight")
        txid, port = lwip.call(lambda: next((e.txid, e.pcb.local_port) for e in lwip.stack.dns.table
                                            if e.pcb is not None))
        ignored = lwip.call(lambda: lwip.stack.dns.counters["ignored"])

        def answer(src=KERNEL_IP, sport=53, ident=txid, qname="bank.lwipy.test", rr="10.66.66.66"):
            return bytes(Ether(dst=lwip.mac, src=lwip.kernel.mac) / IP(src=src, dst=lwip.ip) /
                         UDP(sport=sport, dport=port) /
                         DNS(id=ident, qr=1, aa=1, rd=1, qd=DNSQR(qname=qname), an=DNSRR(rrname=qname, rdata=rr)))
        inject(lwip, [answer(src=ROGUE_IP), answer(sport=5353), answer(ident=txid ^ 0x5A5A),
                      answer(qname="other.lwipy.test")])
        lwip.wait_for(lambda: lwip.stack.dns.counters["ignored"] == ignored + 4, what="four forgeries dropped")
        assert not result and lwip.call(lambda: lwip.stack.dns.pending()) == 1
        inject(lwip, [answer(rr="10.77.0.42")])  # the one a real server would send
        worker.join(GENEROUS)
    finally:
        silent.stop()
    (a, e), = result
    assert e is None and a.address == IPv4Address("10.77.0.42")
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, "dns.flags.response == 1 && dns.a == 10.66.66.66")) == 4  # they did arrive


def test_urllib_under_patch_reaches_a_kernel_http_server_by_name(lwip, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the kernel by name\n")
    server = start_dnsmasq(lwip, tmp_path)
    http = Daemon(lwip.ns, [sys.executable, "-I", "-u", "-m", "http.server", "8000", "--bind", KERNEL_IP,
                            "--directory", str(tmp_path / "www")], tmp_path / "http.log", ready="Serving HTTP")
    try:
        lwip.call(lambda: lwip.stack.dns_setserver(0, KERNEL_IP))
        with lwipy.patch(lwip.loop):
            with urllib.request.urlopen("http://www.lwipy.test:8000/", timeout=GENEROUS) as r:
                body = r.read()
            assert socket.gethostbyname_ex("www.lwipy.test") == ("host.lwipy.test", ["www.lwipy.test"], [KERNEL_IP])
    finally:
        http_log = http.stop()
        dns_log = server.stop()
    assert body == b"hello from the kernel by name\n"
    assert f"{lwip.ip} - -" in http_log and '"GET / HTTP/1.1" 200' in http_log, http_log
    assert f"query[A] www.lwipy.test from {lwip.ip}" in dns_log, dns_log
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, 'http.host == "www.lwipy.test:8000"')


AVAHI_CONF = """[server]
host-name=lwipyhost
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces={ifname}
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
[reflector]
[rlimits]
"""


def test_dot_local_resolved_by_avahi_daemon(lwip, tmp_path):
    avahi = need("avahi-daemon", "avahi-daemon")
    conf = tmp_path / "avahi-daemon.conf"
    conf.write_text(AVAHI_CONF.format(ifname=lwip.kernel.ifname))
    # a private /run (its own mount namespace) so the daemon's PID file cannot meet another run's
    daemon = Daemon(lwip.ns, ["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs /run && exec {avahi} --no-drop-root "
                              f"--no-chroot --no-proc-title --no-rlimits -f {conf}"], tmp_path / "avahi.log",
                    ready="Server startup complete")
    try:
        assert lwip.call(lambda: lwip.stack.dns.effective_servers()) == [None, None, None]  # no unicast server at all
        a, e = resolve(lwip, "lwipyhost.local", d.LWIP_DNS_ADDRTYPE_IPV4)
    finally:
        log = daemon.stop()
    assert e is None and a.address == IPv4Address(KERNEL_IP) and a.source == "mdns", log
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, f"ip.dst == 224.0.0.251 && udp.dstport == 5353 && ip.src == {lwip.ip}"
                                  ' && dns.qry.name == "lwipyhost.local"')
    assert tshark(lwip.pcap_path, f'dns.flags.response == 1 && dns.a == {KERNEL_IP} && ip.dst == {lwip.ip}')

