"""The command line's DHCP and DNS against real peers in a test-made namespace: `lwipy up --dhcp` takes a lease from
dnsmasq (in its lease file, pinged by the kernel) and prints it and its renewal; `lwipy resolve` asks dnsmasq (with
the DNS server from a lease, or one given) and prints getent ahosts' lines; `lwipy up --dhcp-server` serves busybox
udhcpc on the kernel side of the TAP (its address in `ip addr`, the assignment printed)."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import interop_netns as nsx
from dhcp_peers import Daemon, dnsmasq, need

ENV = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
LWIP_MAC = "02:00:00:77:00:02"


def lwipy(*args, timeout=nsx.GENEROUS * 2):
    return subprocess.run([sys.executable, "-m", "lwipy", *args], capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def start(*args):
    proc = subprocess.Popen([sys.executable, "-m", "lwipy", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    proc.lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            proc.lines.put(line)
        proc.lines.put(None)
    threading.Thread(target=reader, daemon=True).start()
    banner = proc.lines.get(timeout=nsx.GENEROUS)
    assert banner and "lwipy up on" in banner, banner
    proc.banner = banner
    return proc


def read_until(proc, pattern, lines, timeout=nsx.GENEROUS):
    """The command's output lines (it prints as things happen) until one matches ``pattern``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = proc.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no line matching {pattern!r} within {timeout} s: {lines}") from None
        if line is None:
            raise AssertionError(f"the command ended before {pattern!r}: {lines}")
        lines.append(line)
        m = re.search(pattern, line)
        if m:
            return m


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=nsx.GENEROUS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=nsx.GENEROUS)
    err = proc.stderr.read()
    assert "Traceback" not in err, err


def test_up_dhcp_takes_a_lease_from_dnsmasq_and_prints_it_and_its_renewal(kernel_tap, tmp_path):
    server = dnsmasq(kernel_tap.ns, kernel_tap.ifname, tmp_path, "--dhcp-range=10.77.0.50,10.77.0.60,2m",
                     "--dhcp-option=option:T1,4", "--dhcp-option=option:T2,90")
    proc = None
    try:
        server.wait_log(lambda t: "started" in t, nsx.GENEROUS, "dnsmasq to start")
        proc = start("up", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns, "--dhcp", "--hostname", "lwipy-cli",
                     "--mac", LWIP_MAC)
        lines = []
        # dnsmasq with --port=0 offers no DNS server
        m = read_until(proc, r"^lease (10\.77\.0\.\d+)/24 gateway 10\.77\.0\.1 dns - from 10\.77\.0\.1, "
                             r"lease 120 s \(T1 4 s, T2 90 s\)", lines)
        leased = m.group(1)
        assert 50 <= int(leased.split(".")[-1]) <= 60
        leases = (tmp_path / "dnsmasq.leases").read_text()
        assert f"{LWIP_MAC} {leased} lwipy-cli" in leases, leases
        ping = nsx.ns_run(kernel_tap.ns, ["ping", "-c", "3", "-i", "0.1", "-W", "2", leased])
        assert ping.returncode == 0, ping.stdout
        read_until(proc, rf"^renewed {re.escape(leased)}/24 .* lease 120 s", lines)  # at T1, 4 s later
        server.wait_log(lambda t: f"DHCPACK(ltap0) {leased}" in t and t.count("DHCPREQUEST") >= 2, nsx.GENEROUS,
                        "the renewal in dnsmasq's log")
    finally:
        if proc is not None:
            stop(proc)
        server.stop()


def test_resolve_with_the_dns_server_from_a_lease_prints_like_getent_ahosts(kernel_tap, tmp_path):
    exe = need("dnsmasq", "dnsmasq-base")
    server = Daemon(kernel_tap.ns, [exe, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                                    f"--interface={kernel_tap.ifname}", "--bind-interfaces", "--log-facility=-",
                                    "--log-queries", "--dhcp-range=10.77.0.50,10.77.0.60,2m",
                                    f"--pid-file={tmp_path / 'dnsmasq.pid'}",
                                    f"--dhcp-leasefile={tmp_path / 'dnsmasq.leases'}",
                                    "--address=/www.lwipy.test/10.77.0.80",
                                    "--cname=alias.lwipy.test,www.lwipy.test"], tmp_path / "dnsmasq.log")
    try:
        server.wait_log(lambda t: "started" in t, nsx.GENEROUS, "dnsmasq to start")
        r = lwipy("resolve", "alias.lwipy.test", "-4", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                  "--dhcp")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.splitlines() == ["10.77.0.80      STREAM www.lwipy.test",
                                         "10.77.0.80      DGRAM  ",
                                         "10.77.0.80      RAW    "]
        asked_from = re.search(r"query\[A\] alias\.lwipy\.test from 10\.77\.0\.(\d+)\n", server.log)
        assert asked_from and 50 <= int(asked_from[1]) <= 60, server.log   # from the leased address, .50 to .60
        missing = lwipy("resolve", "nothing.lwipy.test", "-4", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                        "--ip", "10.77.0.2/24", "--dns", "10.77.0.1")
        assert missing.returncode == 2 and missing.stdout == "" and "Traceback" not in missing.stderr
        assert "query[A] nothing.lwipy.test from 10.77.0.2" in server.log
    finally:
        server.stop()


def test_up_dhcp_server_serves_busybox_udhcpc(netns, tmp_path):
    busybox = need("busybox", "busybox")
    nsx.add_tap(netns, nsx.TAP)  # the kernel's side has no address: udhcpc asks lwipy for one
    events = tmp_path / "udhcpc.events"
    script = tmp_path / "udhcpc.sh"
    script.write_text(f"""#!/bin/sh
echo "$1 $ip $lease" >> {events}
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface" ;;
  deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
esac
echo "script done: $1"
""")
    script.chmod(0o755)
    proc = start("up", "--tap", nsx.TAP, "--netns", netns, "--ip", "10.77.0.2/24", "--dhcp-server", "--pool",
                 "10.77.0.100-10.77.0.110")
    client = None
    try:
        assert "DHCP server, pool 10.77.0.100-10.77.0.110, lease 7200 s" in proc.banner
        client = Daemon(netns, [busybox, "udhcpc", "-f", "-i", nsx.TAP, "-s", str(script), "-t", "20", "-T", "1",
                                "-x", "hostname:udhcpc-cli"], tmp_path / "udhcpc.log")
        kernel_mac = nsx.link_mac(netns, nsx.TAP)
        lines = []
        read_until(proc, rf"^assigned 10\.77\.0\.100 to {kernel_mac} \(udhcpc-cli\)", lines)
        client.wait_log(lambda t: "lease of 10.77.0.100 obtained" in t, nsx.GENEROUS, "udhcpc's lease")
        # udhcpc logs the lease before it runs its script's "bound": wait for the script to have set the address
        client.wait_log(lambda t: "script done: bound" in t, nsx.GENEROUS, "udhcpc's bound script")
        shown = nsx.ns_run(netns, ["ip", "-4", "-o", "addr", "show", "dev", nsx.TAP]).stdout
        assert "inet 10.77.0.100/24" in shown, shown
    finally:
        if client is not None:
            client.stop()
        stop(proc)
