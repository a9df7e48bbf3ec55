"""The lwipy command: the demo runs without root and its capture reads clean in tshark."""

import os
import shutil
import subprocess
import sys

import pytest

ENV = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "src")}


def lwipy(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "lwipy", *args], capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def test_demo_runs_and_everything_it_shows_succeeds(tmp_path):
    pcap = tmp_path / "demo.pcap"
    r = lwipy("demo", "--pcap", str(pcap))
    assert r.returncode == 0, r.stderr
    assert "4 packets transmitted, 4 received, 0% packet loss" in r.stdout
    assert "ttl=63" in r.stdout  # through the router
    assert "got 'hello from host-a'" in r.stdout
    assert "intact (SHA-256 equal)" in r.stdout
    assert "10.0.1.1 at 02:" in r.stdout  # the ARP entry for the gateway
    # host-a's address came from the router's DHCP server before the ping
    assert "host-a bound 10.0.1.2/24 gateway 10.0.1.1 dns 10.0.1.1 from 10.0.1.1, lease 7200 s" in r.stdout
    assert r.stdout.index("host-a bound") < r.stdout.index("PING 10.0.2.2")
    assert "10.0.1.2 02:" in r.stdout and "(host-a)" in r.stdout  # the server's list of clients
    assert pcap.stat().st_size > 24


@pytest.mark.skipif(not shutil.which("tshark") and os.environ.get("CI") != "true", reason="tshark not installed")
def test_demo_capture_reads_clean_in_tshark(tmp_path):
    pcap = tmp_path / "demo.pcap"
    assert lwipy("demo", "--pcap", str(pcap)).returncode == 0
    args = ["tshark", "-r", str(pcap), "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    listing = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    replies = [line for line in listing.stdout.splitlines() if "Echo (ping) reply" in line]
    assert sum(" ICMP " in line for line in replies) == 4 and sum(" ICMPv6 " in line for line in replies) == 3
    assert "Fragmented IP protocol" in listing.stdout
    for kind in ("DHCP Discover", "DHCP Offer", "DHCP Request", "DHCP ACK"):
        assert sum(kind in line for line in listing.stdout.splitlines()) == 1, kind
    bad = subprocess.run(args + ["-Y", "_ws.malformed || _ws.expert.severity >= \"Warning\""],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout


def test_config_lists_the_options():
    r = lwipy("config")
    assert r.returncode == 0 and "CONFIG_LWIP_IP_DEFAULT_TTL" in r.stdout and "ip4_reassembly" in r.stdout


def test_bad_option_is_a_clear_error_not_a_traceback():
    r = lwipy("up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "-o", "ip_default_tll=3")
    assert r.returncode == 2
    assert "ip_default_tll" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("text, word", [("def ip4_inptu(stack, packet, netif):\n    return False\n", "ip4_input"),
                                        ("def tcp_isn(stack):\n    return 1\n", "local_ip")])
def test_up_with_a_bad_hooks_file_is_a_clear_error_before_any_tap(tmp_path, text, word):
    hooks = tmp_path / "hooks.py"
    hooks.write_text(text)
    r = lwipy("up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--hooks", str(hooks))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "hooks file" in r.stderr and word in r.stderr


@pytest.mark.parametrize("args, word", [
    (["up", "--tap", "nonexistent0", "--dhcp", "--ip", "10.9.9.9/24"], "--dhcp"),
    (["up", "--tap", "nonexistent0", "--dhcp-server"], "--ip"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--dhcp-server", "--pool", "10.9.9.20"], "FIRST-LAST"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--pool", "10.9.9.20-10.9.9.30"], "--dhcp-server"),
    (["up", "--tun", "nonexistent0", "--dhcp"], "--tap"),
    (["resolve", "example.lan", "--tap", "nonexistent0", "--ip", "10.9.9.9/24"], "--dns"),
    (["resolve", "example.lan", "--tap", "nonexistent0", "--dns", "10.9.9.1"], "--ip"),
    (["sntp", "--tap", "nonexistent0", "--ip", "10.9.9.9/24"], "--server"),
    (["sntp", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--server", "10.9.9.1", "-c", "0"], "--count"),
])
def test_dhcp_and_resolve_misuse_is_a_clear_error_before_any_tap(args, word):
    r = lwipy(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert word in r.stderr


@pytest.mark.parametrize("args, word", [
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--tap", "nonexistent1", "--ip", "10.8.8.8/24",
      "--napt", "other"], "--napt"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--tap", "nonexistent1", "--ip", "10.8.8.8/24",
      "--portmap", "tcp:80=10.9.9.2:80"], "--napt"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--tap", "nonexistent1", "--ip", "10.8.8.8/24",
      "--napt", "nonexistent0", "--portmap", "sctp:80=10.9.9.2:80"], "tcp|udp"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--tap", "nonexistent1", "--ip", "10.8.8.8/24",
      "--napt", "nonexistent0", "--portmap", "tcp:80=10.9.9.2"], "INSIDE_ADDR:INSIDE_PORT"),
    (["up", "--ip", "10.9.9.9/24", "--tap", "nonexistent0", "--tap", "nonexistent1", "--ip", "10.8.8.8/24"],
     "follows the --tap"),
    (["ping", "10.9.9.1", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--tap", "nonexistent1"], "only 'lwipy up'"),
])
def test_gateway_misuse_is_a_clear_error_before_any_tap(args, word):
    r = lwipy(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert word in r.stderr


def test_each_ip_belongs_to_the_tap_before_it():
    from lwipy.cli import build_parser
    from lwipy.cli.gateway import config_options, parse_portmap
    args = build_parser().parse_args(["up", "--tap", "lan0@nsa", "--ip", "192.168.4.1/24", "--tap", "wan0",
                                      "--ip", "10.0.0.2/24", "--gw", "10.0.0.1", "--netns", "nsb", "--napt", "lan0",
                                      "--portmap", "tcp:8080=192.168.4.2:80", "--portmap", "udp:53=192.168.4.3:5353"])
    assert args.taps == [["lan0", "nsa", "192.168.4.1/24", None], ["wan0", None, "10.0.0.2/24", "10.0.0.1"]]
    assert args.gw is None
    assert (args.tap, args.ip) == ("lan0", "192.168.4.1/24")
    assert config_options(args) == {"ip_forward": True, "ip6_forward": True, "ipv4_napt": True}
    assert parse_portmap("udp:53=192.168.4.3:5353") == (17, 53, "192.168.4.3", 5353)
    one = build_parser().parse_args(["up", "--ip", "10.0.0.2/24", "--gw", "10.0.0.1", "--tap", "t0"])
    assert (one.tap, one.ip, one.gw, config_options(one)) == ("t0", "10.0.0.2/24", "10.0.0.1", {})


def test_version():
    r = lwipy("--version")
    from lwipy import __version__
    assert r.returncode == 0 and r.stdout.strip() == f"lwipy {__version__}"


@pytest.mark.parametrize("args, says", [
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.300/24"], "--ip takes an IPv4 address with its prefix length"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--gw", "10.9.9"], "--gw takes the IPv4 address"),
    (["up", "--tap", "nonexistent0", "--ip6", "2001:db8::zz/64"], "--ip6 takes an IPv6 address"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--mac", "02:00"], "--mac takes a MAC address"),
    (["ping", "www.example.com", "--tap", "nonexistent0", "--ip", "10.9.9.9/24"], "lwipy resolve"),
    (["up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "-o", "no_such_option=1"], "'lwipy config' lists"),
])
def test_misuse_says_what_to_do_before_any_tap(args, says):
    r = lwipy(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"lwipy {args[0]}: ") and says in r.stderr


def test_ping_on_the_virtual_network_prints_as_iputils():
    r = lwipy("ping", "--virtual", "10.0.0.2", "-c", "3", "-i", "0.05", "-s", "100")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "PING 10.0.0.2 (10.0.0.2) 100(128) bytes of data."
    assert [ln.split(" time=")[0] for ln in lines[1:4]] == [
        f"108 bytes from 10.0.0.2: icmp_seq={i} ttl=64" for i in (1, 2, 3)]
    assert lines[4] == "--- 10.0.0.2 ping statistics ---"
    assert lines[5].startswith("3 packets transmitted, 3 received, 0% packet loss, time ")
    assert lines[6].startswith("rtt min/avg/max/mdev = ")


def test_iperf_on_the_virtual_network_tcp_and_udp():
    r = lwipy("iperf", "--virtual", "-c", "10.0.0.2", "-t", "1", "-i", "0.5", "--rate", "20m")
    assert r.returncode == 0, r.stderr
    assert "Client connecting to 10.0.0.2, TCP port 5001" in r.stdout
    assert "[ ID] Interval       Transfer     Bandwidth" in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("[  1] 0.")]
    assert [ln.split(" sec")[0] for ln in lines] == ["[  1] 0.0000-0.5000", "[  1] 0.5000-1.0000",
                                                     "[  1] 0.0000-1.0000"]
    rate = float(lines[-1].split("MBytes")[1].split()[0])
    assert 5 < rate <= 20  # Mbits/sec on a 20 Mbit/s link
    r = lwipy("iperf", "--virtual", "-c", "10.0.0.2", "-u", "-b", "5m", "-t", "1", "--loss", "0.1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Sending 1470 byte datagrams" in out and "[  1] Server Report:" in out
    report = out.split("Server Report:")[1].splitlines()[2]
    lost, total = report.split(" ms ")[1].split(" (")[0].split("/")
    assert int(total) == 426 and 15 < int(lost) < 70  # 10 % of 426 lost, seeded
