"""lwipy's SNTP client on a TAP against chronyd and ntpsec's ntpd in the test's namespace: the offset lwipy computes
agrees with ntpdig's measurement from the kernel side; the servers from a dnsmasq lease's option 42; a scapy-forged
server whose wrong replies (mode, originate, leap alarm) are ignored and whose era-1 time decodes to 2040; and a KoD
RATE server backed off."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from conftest import KernelTap, Lwip
from dhcp_peers import Daemon, dnsmasq
from ntp_peers import chronyd, ntpdig, ntpsec_ntpd, wait_serving

from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.apps import DhcpClient, Sntp, SntpSynced
from lwipy.netif.pcap import PcapDevice
from lwipy.netif.tap import TapDevice

SKEW = 1000.125  # the device clock starts this far behind the host's


def exchanges(lw: Lwip, server: str, n: int, timeout: float = 60.0) -> list[SntpSynced]:
    """``n`` SNTP exchanges with ``server`` one after the other (a restart after each reply), the device clock set
    SKEW seconds behind the host's before each (so that every exchange measures SKEW plus the host's own offset)."""
    got: list[SntpSynced] = []
    done = threading.Event()

    def setup() -> Sntp:
        lw.stack.clock.settimeofday(time.time() - SKEW)
        sntp = Sntp(lw.stack)

        def synced(ev: SntpSynced) -> None:
            got.append(ev)
            if len(got) >= n:
                sntp.stop()
                done.set()
            else:
                lw.stack.clock.settimeofday(time.time() - SKEW)
                sntp.restart()
        lw.stack.events.subscribe(SntpSynced, synced)
        sntp.setserver(0, server)
        sntp.init()
        return sntp
    sntp = lw.call(setup)
    assert done.wait(timeout), f"only {len(got)} of {n} SNTP exchanges within {timeout} s"
    assert lw.call(lambda: sntp.getreachability(0)) & 1
    return got


@pytest.mark.lwip_config(sntp_startup_delay=False)
@pytest.mark.parametrize("daemon", ["chrony", "ntpsec"])
def test_offset_agrees_with_ntpdig(lwip: Lwip, tmp_path: Path, daemon: str) -> None:
    server = (chronyd if daemon == "chrony" else ntpsec_ntpd)(lwip.ns, tmp_path)
    try:
        before = wait_serving(lwip.ns, lwip.kernel_ip, server)
        # ntpd drops a client's requests beyond about ten in a burst: 7 exchanges back to back stay below
        got = exchanges(lwip, lwip.kernel_ip, 7)
        after = ntpdig(lwip.ns, lwip.kernel_ip, samples=3)
        after += ntpdig(lwip.ns, lwip.kernel_ip, samples=3)
    finally:
        server.stop()
    kernel = statistics.median([before["offset"]] + [m["offset"] for m in after])
    assert all(e.stratum == 10 and e.server == IPv4Address(lwip.kernel_ip) for e in got)
    # every exchange measures the SKEW the device clock was set to, plus the host's own offset that ntpdig measures;
    # medians, since one exchange of either can take a few ms of scheduling delay on a loaded machine
    lw_median = statistics.median(e.offset - SKEW for e in got)
    assert abs(lw_median - kernel) < 0.005, ([e.offset - SKEW for e in got], kernel)
    assert all(e.delay is not None and 0 <= e.delay < 0.05 for e in got)
    # the last exchange stepped the device clock to the server's, the host's
    assert abs(lwip.call(lambda: lwip.stack.clock.time()) - time.time()) < 0.01


def test_dhcp_option_42_from_dnsmasq_configures_the_server(kernel_tap: KernelTap, tmp_path: Path) -> None:
    server = chronyd(kernel_tap.ns, tmp_path)
    dhcpd = dnsmasq(kernel_tap.ns, kernel_tap.ifname, tmp_path, "--dhcp-range=10.77.0.50,10.77.0.60,1h",
                    f"--dhcp-option=option:ntp-server,{kernel_tap.ip}")
    stack = Stack(Config(dhcp_get_ntp_srv=True, sntp_recv_timeout=2000), seed=7, name="lwip-sntp-dhcp")
    device = PcapDevice(TapDevice(kernel_tap.ifname, netns=kernel_tap.ns), str(tmp_path / "lwip.pcap"))
    loop = None
    try:
        wait_serving(kernel_tap.ns, kernel_tap.ip, server)
        netif = stack.add_netif(device)
        loop = StackLoop(stack).start()
        synced = threading.Event()
        events: list[SntpSynced] = []

        def setup() -> Sntp:
            sntp = Sntp(stack)
            sntp.servermode_dhcp(True)
            stack.events.subscribe(SntpSynced, lambda e: (events.append(e), synced.set()))
            DhcpClient(stack, netif).start()
            sntp.init()  # before the lease: no server yet, lwIP's retry finds the one DHCP sets
            return sntp
        sntp = loop.call(setup)
        assert synced.wait(60), f"no SNTP sync:\n{dhcpd.log}"
        assert events[0].server == IPv4Address(kernel_tap.ip) and events[0].stratum == 10
        assert loop.call(lambda: sntp.getserver(0)) == IPv4Address(kernel_tap.ip)
        assert "ntp-server" in dhcpd.log or "option: 42" in dhcpd.log
    finally:
        if loop is not None:
            loop.stop()
            loop.close()
        device.close()
        dhcpd.stop()
        server.stop()


# A kernel-side NTP server forging its replies with scapy's NTP layer.  For each request it sends, in order, the
# replies named on the command line: "mode" (mode 3), "orig" (originate off by one), "alarm" (LI 3), "rate" (KoD
# RATE), "good" (a proper reply whose time is FAKE, 2040-01-01, era 1); it prints each request's arrival time.
FORGER = r"""
import socket, sys, time
from scapy.layers.ntp import NTPHeader
FAKE = 2208988800 + 2208988800  # 2040-01-01 in NTP seconds (era 1 once taken modulo 2**32)
kinds = sys.argv[1].split(",")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 123))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(512)
    print("request", time.monotonic(), flush=True)
    orig = int.from_bytes(data[40:48], "big")
    for kind in kinds:
        now = FAKE % 2**32 + 0.5
        h = NTPHeader(leap=0, version=4, mode=4, stratum=1, poll=6, precision=-20, ref_id="GPS", ref=now,
                      orig=0, recv=now, sent=now)
        raw = bytearray(bytes(h))
        raw[24:32] = orig.to_bytes(8, "big")
        if kind == "mode":
            raw[0] = (raw[0] & ~7) | 3
        elif kind == "orig":
            raw[24:32] = ((orig + 1) % 2**64).to_bytes(8, "big")
        elif kind == "alarm":
            raw[0] = raw[0] | 0xC0
        elif kind == "rate":
            raw = bytearray(bytes(NTPHeader(leap=3, version=4, mode=4, stratum=0, ref_id="RATE", ref=0, orig=0,
                                             recv=0, sent=0)))
            raw[24:32] = orig.to_bytes(8, "big")
        s.sendto(bytes(raw), peer)
"""


def forger(ns: str, tmp: Path, kinds: str, ip: str) -> Daemon:
    import sys
    d = Daemon(ns, [sys.executable, "-I", "-c", FORGER, kinds, ip], tmp / "forger.log")
    d.wait_log(lambda t: "ready" in t, what="the forging server to start")
    return d


@pytest.mark.lwip_config(sntp_startup_delay=False)
def test_forged_replies_are_ignored_and_era_1_decodes_to_2040(lwip: Lwip, tmp_path: Path) -> None:
    server = forger(lwip.ns, tmp_path, "mode,orig,alarm,good", lwip.kernel_ip)
    try:
        got: list[SntpSynced] = []
        done = threading.Event()

        def setup() -> Sntp:
            sntp = Sntp(lwip.stack)
            lwip.stack.events.subscribe(SntpSynced, lambda e: (got.append(e), done.set()))
            sntp.setserver(0, lwip.kernel_ip)
            sntp.init()
            return sntp
        sntp = lwip.call(setup)
        assert done.wait(30), server.log
        lwip.wait_for(lambda: sntp.ignored == 3, what="the three forged replies to be counted")
    finally:
        server.stop()
    assert len(got) == 1 and got[0].stratum == 1
    # the device clock started at 1970: more than 34 years from the server, so set to T3, read in era 1
    assert abs(got[0].time - 2208988800.5) < 0.01 and got[0].delay is None
    assert abs(lwip.call(lambda: lwip.stack.clock.time()) - 2208988800.5) < 5


@pytest.mark.lwip_config(sntp_startup_delay=False, sntp_recv_timeout=1000)
def test_kod_rate_is_backed_off(lwip: Lwip, tmp_path: Path) -> None:
    server = forger(lwip.ns, tmp_path, "rate", lwip.kernel_ip)
    try:
        sntp = lwip.call(lambda: Sntp(lwip.stack))
        lwip.call(lambda: (sntp.setserver(0, lwip.kernel_ip), sntp.init()))
        server.wait_log(lambda t: t.count("request") >= 3, timeout=40, what="three requests")
        kisses = lwip.call(lambda: (sntp.kisses, sntp.servers[0].kiss, sntp.servers[0].rate_factor))
    finally:
        server.stop()
        lwip.call(lambda: sntp.stop())
    times = [float(line.split()[1]) for line in server.log.splitlines() if line.startswith("request")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # retry 1 s doubled per RATE kiss: 2 s after the first, 8 s after the second (lwIP alone would retry after 1, 2)
    assert gaps[0] > 1.8 and gaps[1] > 7.5, gaps
    assert kisses[0] >= 2 and kisses[1] == "RATE" and kisses[2] >= 4


CLI_ENV = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
LINE = re.compile(r"^(\S+) server (\S+) stratum (\d+) offset ([-+]\d+\.\d+) s delay (\S+) s$")


def run_cli(*argv: str, timeout: float = 60) -> list[re.Match]:
    r = subprocess.run([sys.executable, "-m", "lwipy", "sntp", *argv], capture_output=True, text=True,
                       timeout=timeout, env=CLI_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [LINE.match(line) for line in r.stdout.splitlines()]
    assert lines and all(lines), r.stdout
    return lines  # type: ignore[return-value]


def test_cli_reports_offset_delay_stratum_and_time(kernel_tap: KernelTap, tmp_path: Path) -> None:
    server = chronyd(kernel_tap.ns, tmp_path)
    try:
        wait_serving(kernel_tap.ns, kernel_tap.ip, server)
        lines = run_cli("--tap", kernel_tap.ifname, "--netns", kernel_tap.ns, "--ip", "10.77.0.2/24",
                        "--server", kernel_tap.ip, "-c", "3", "--epoch", "0")
    finally:
        server.stop()
    assert len(lines) == 3 and all(m[2] == kernel_tap.ip and m[3] == "10" for m in lines)
    # from 1970: the first exchange steps by the whole time since (no compensation), the next ones measure ~0
    assert abs(float(lines[0][4]) - time.time()) < 60 and lines[0][5] == "-"
    assert all(abs(float(m[4])) < 0.005 and 0 <= float(m[5]) < 0.05 for m in lines[1:])
    when = datetime.fromisoformat(lines[-1][1].replace("Z", "+00:00")).timestamp()
    assert abs(when - time.time()) < 60


@pytest.mark.parametrize("by", ["option42", "name"])
def test_cli_with_dhcp_takes_the_server_from_the_lease_or_by_name(kernel_tap: KernelTap, tmp_path: Path,
                                                                   by: str) -> None:
    server = chronyd(kernel_tap.ns, tmp_path)
    dhcpd = dnsmasq(kernel_tap.ns, kernel_tap.ifname, tmp_path, "--dhcp-range=10.77.0.50,10.77.0.60,1h",
                    f"--dhcp-option=option:ntp-server,{kernel_tap.ip}", f"--dhcp-option=option:dns-server,{kernel_tap.ip}",
                    f"--address=/time.lwipy.test/{kernel_tap.ip}", "--log-queries", dns_port=53)
    try:
        wait_serving(kernel_tap.ns, kernel_tap.ip, server)
        extra = ["--server", "time.lwipy.test"] if by == "name" else []
        lines = run_cli("--tap", kernel_tap.ifname, "--netns", kernel_tap.ns, "--dhcp", *extra)
    finally:
        dhcpd.stop()
        server.stop()
    assert lines[0][2] == kernel_tap.ip and lines[0][3] == "10" and abs(float(lines[0][4])) < 0.005
    if by == "name":
        assert "query[A] time.lwipy.test" in dhcpd.log


@pytest.mark.lwip_config(sntp_startup_delay=False)
def test_esp_sntp_from_the_application_thread_against_chrony(lwip: Lwip, tmp_path: Path) -> None:
    """An ESP-IDF application's calls, made from this thread: esp_sntp_setoperatingmode, setserver, the notification
    callback, init, esp_netif_sntp_sync_wait, sntp_get_sync_status."""
    from lwipy.esp_netif import ESP_SNTP_OPMODE_POLL, SNTP_SYNC_STATUS_COMPLETED, SNTP_SYNC_STATUS_RESET, EspSntp

    server = chronyd(lwip.ns, tmp_path)
    try:
        wait_serving(lwip.ns, lwip.kernel_ip, server)
        esp = EspSntp(lwip.stack, lwip.loop)
        notified: list[float] = []
        esp.setoperatingmode(ESP_SNTP_OPMODE_POLL)
        esp.setserver(0, lwip.kernel_ip)
        esp.set_time_sync_notification_cb(notified.append)
        assert esp.time() < 10  # the device clock starts at 1970, as an ESP32's
        esp.init()
        assert esp.sync_wait(30.0), "no sync within 30 s"
        assert esp.get_sync_status() == SNTP_SYNC_STATUS_COMPLETED
        assert esp.get_sync_status() == SNTP_SYNC_STATUS_RESET
        assert esp.getreachability(0) == 1 and len(notified) == 1
        assert abs(notified[0] - time.time()) < 1 and abs(esp.time() - time.time()) < 1
        esp.stop()
        assert not esp.enabled()
    finally:
        server.stop()
