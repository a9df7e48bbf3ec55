"""`lwipy up` and `lwipy ping` on a TAP (and with ``--tun`` on a TUN) in a test-made namespace: the kernel pings the
command's stack, the command's stack pings the kernel, and Ctrl-C (SIGINT) ends `up` cleanly with its stats."""

import os
import signal
import subprocess
import sys

import interop_netns as nsx
import pytest

ENV = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}


def start_up(kernel_tap, *extra, link="--tap"):
    cmd = [sys.executable, "-m", "lwipy", "up", link, kernel_tap.ifname, "--netns", kernel_tap.ns,
           "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    line = proc.stdout.readline()  # the banner says it is serving
    assert "lwipy up on" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    proc.banner = line
    return proc


def test_up_answers_kernel_ping_and_stops_cleanly_on_sigint(kernel_tap, tmp_path):
    pcap = tmp_path / "up.pcap"
    proc = start_up(kernel_tap, "--pcap", str(pcap))
    try:
        ping = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, "ping", "-c", "5", "-i", "0.05", "-W", "2",
                               nsx.LWIP_IP], capture_output=True, text=True, timeout=30)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert " 0% packet loss" in ping.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err, err
    assert "stats:" in out and "icmp" in out
    assert "MEM      total" in out and "STATIC   arp" in out  # lwIP's MEM/MEMP rows (stack.memory())
    assert pcap.stat().st_size > 24 + 5 * (16 + 98)


def test_up_stops_on_sigterm(kernel_tap):
    proc = start_up(kernel_tap)  # its SIGTERM handler is in place before the banner
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_ping_command_reaches_the_kernel(kernel_tap):
    r = subprocess.run([sys.executable, "-m", "lwipy", "ping", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                        "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "-c", "3", "-i", "0.1", nsx.KERNEL_IP],
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 packets transmitted, 3 received, 0% packet loss" in r.stdout
    assert r.stdout.count("bytes from 10.77.0.1: icmp_seq=") == 3


@pytest.mark.parametrize("command", [("up",), ("ping", "10.77.0.1", "-c", "1")], ids=["up", "ping"])
@pytest.mark.parametrize("link", ["--tap", "--tun"])
def test_a_missing_tap_or_tun_is_not_created_and_the_error_says_how_to_make_it(netns, command, link):
    r = subprocess.run([sys.executable, "-m", "lwipy", *command, link, "newtap9", "--netns", netns, "--ip",
                        "10.77.0.2/24", "--duration" if command == ("up",) else "-W", "0.2"],
                       capture_output=True, text=True, timeout=30, env=ENV)
    mode = link[2:]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"lwipy {command[0]}: there is no {mode.upper()} 'newtap9'")
    assert f"ip -n {netns} tuntap add dev newtap9 mode {mode} user " in r.stderr  # how to make it, no sudo needed
    assert f"ip -n {netns} link set newtap9 up" in r.stderr
    assert f"ip -n {netns} addr add 10.77.0.1/24 dev newtap9" in r.stderr  # the kernel's side in --ip's subnet
    links = subprocess.run(["ip", "-n", netns, "link", "show", "newtap9"], capture_output=True, text=True)
    assert links.returncode != 0  # nothing was made, not even for the command's lifetime
    made = subprocess.run(["ip", "-n", netns, "tuntap", "add", "dev", "newtap9", "mode", mode], capture_output=True)
    assert made.returncode == 0  # and the advice works


def test_ping_off_link_without_a_gateway_says_to_give_one(kernel_tap):
    r = subprocess.run([sys.executable, "-m", "lwipy", "ping", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                        "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "-c", "1", "192.0.2.1"],
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "no route to 192.0.2.1" in r.stderr and "--gw" in r.stderr


def test_up_in_a_missing_namespace_is_a_clear_error(netns):
    missing = netns + "-missing"  # a name derived from ours, so no other run's namespace can be hit
    r = subprocess.run([sys.executable, "-m", "lwipy", "up", "--tap", "t0", "--netns", missing, "--ip",
                        "10.77.0.2/24"], capture_output=True, text=True, timeout=30, env=ENV)
    assert r.returncode == 2 and "Traceback" not in r.stderr and missing in r.stderr
    assert f"ip netns add {missing}" in r.stderr  # what to do


@pytest.mark.parametrize("extra", [(), ("--offload",)], ids=["plain", "offload"])
def test_up_serves_tcp_echo_discard_and_chargen_to_the_kernel(kernel_tap, extra):
    proc = start_up(kernel_tap, *extra)
    try:
        client = r"""
import socket, sys, threading
ip = sys.argv[1]
data = bytes((i * 7) & 0xFF for i in range(300000))
s = socket.create_connection((ip, 7), timeout=10)
def send():  # while the echo is read: a writer that reads nothing only at the end deadlocks once both windows fill
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
writer = threading.Thread(target=send)
writer.start()
back = bytearray()
while (got := s.recv(65536)):
    back += got
writer.join()
print("echo", back == data)
s = socket.create_connection((ip, 9), timeout=10)
s.sendall(b"d" * 2000000)
s.shutdown(socket.SHUT_WR)
print("discard", s.recv(10) == b"")
s = socket.create_connection((ip, 19), timeout=10)
got = bytearray()
while len(got) < 100000:
    got += s.recv(65536)
print("chargen", got[:72] == bytes(range(32, 104)) and got[72:74] == b"\r\n")
s.close()
"""
        done = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, sys.executable, "-I", "-c", client, nsx.LWIP_IP],
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.split() == ["echo", "True", "discard", "True", "chargen", "True"], done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "tcp" in out


HOOKS = '''
def ip4_input(stack, packet, netif):
    return packet[9] == 1 and packet[20] == 8        # eat ICMP echo requests: ping goes unanswered

def tcp_isn(stack, local_ip, local_port, remote_ip, remote_port):
    return 0x12345678
'''


def test_up_loads_a_hooks_file_that_changes_the_wire(kernel_tap, tmp_path):
    import shutil
    hooks = tmp_path / "my_hooks.py"
    hooks.write_text(HOOKS)
    proc = start_up(kernel_tap, "--hooks", str(hooks))
    dump = None
    try:
        ping = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, "ping", "-c", "2", "-i", "0.2", "-W", "1",
                               nsx.LWIP_IP], capture_output=True, text=True, timeout=30)
        assert "2 packets transmitted, 0 received" in ping.stdout, ping.stdout + ping.stderr
        dump = subprocess.Popen(["ip", "netns", "exec", kernel_tap.ns, shutil.which("tcpdump"), "-l", "-n", "-S",
                                 "-c", "1", "-i", kernel_tap.ifname,
                                 f"src host {nsx.LWIP_IP} and tcp[tcpflags] & tcp-syn != 0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while "listening on" not in dump.stderr.readline():
            assert dump.poll() is None, "tcpdump exited"
        client = ("import socket, sys\ns = socket.create_connection((sys.argv[1], 7), timeout=10)\n"
                  "s.sendall(b'hi')\nprint(s.recv(10))\n")
        done = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, sys.executable, "-I", "-c", client,
                               nsx.LWIP_IP], capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == "b'hi'", done.stdout + done.stderr
        line = dump.communicate(timeout=10)[0]
        assert f"seq {0x12345678}," in line, line  # the SYN-ACK carries the hook's ISN
    finally:
        if dump is not None and dump.poll() is None:
            dump.kill()
            dump.wait(5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "hooks ip4_input, tcp_isn" in proc.banner and "icmp" in out


@pytest.mark.lwip_device(tun=True)
def test_up_on_a_tun_answers_kernel_ping_and_tcp_echo(kernel_tap, tmp_path):
    pcap = tmp_path / "tun.pcap"
    proc = start_up(kernel_tap, "--pcap", str(pcap), link="--tun")
    try:
        ping = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, "ping", "-c", "20", "-i", "0.01", "-W", "2",
                               nsx.LWIP_IP], capture_output=True, text=True, timeout=30)
        assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
        echo = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=10)
s.sendall(b"over the tun" * 1000)
s.shutdown(socket.SHUT_WR)
back = b""
while (got := s.recv(65536)):
    back += got
print(back == b"over the tun" * 1000)
"""
        done = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, sys.executable, "-I", "-c", echo, nsx.LWIP_IP],
                              capture_output=True, text=True, timeout=30)
        assert done.stdout.split() == ["True"], done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "etharp   -" in out  # nothing resolved on a point-to-point link
    with open(pcap, "rb") as f:
        assert int.from_bytes(f.read(24)[20:24], "little") == 101  # LINKTYPE_RAW


@pytest.mark.lwip_device(tun=True)
def test_ping_command_over_a_tun_reaches_the_kernel(kernel_tap):
    r = subprocess.run([sys.executable, "-m", "lwipy", "ping", "--tun", kernel_tap.ifname, "--netns", kernel_tap.ns,
                        "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "-c", "3", "-i", "0.1", nsx.KERNEL_IP],
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 packets transmitted, 3 received, 0% packet loss" in r.stdout
    assert r.stdout.count("bytes from 10.77.0.1: icmp_seq=") == 3


def test_tun_and_tap_exclude_each_other_and_a_tun_takes_no_mac(netns):
    both = subprocess.run([sys.executable, "-m", "lwipy", "up", "--tap", "t0", "--tun", "t1", "--netns", netns,
                           "--ip", "10.77.0.2/24"], capture_output=True, text=True, timeout=30, env=ENV)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    mac = subprocess.run([sys.executable, "-m", "lwipy", "up", "--tun", "t1", "--netns", netns, "--mac",
                          "02:00:00:00:00:01", "--ip", "10.77.0.2/24"], capture_output=True, text=True, timeout=30,
                         env=ENV)
    assert mac.returncode == 2 and "Traceback" not in mac.stderr and "--mac" in mac.stderr


def test_a_tap_of_another_user_says_how_to_make_one_for_yours(kernel_tap):
    """As an unprivileged user (nobody, inside the test's namespace) on a TAP root made for itself: EPERM, with the
    command that makes one this user may attach to."""
    import pwd
    import shutil
    nobody = pwd.getpwnam("nobody")
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 for an unprivileged user")
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    r = subprocess.run(["ip", "netns", "exec", kernel_tap.ns, "setpriv", f"--reuid={nobody.pw_uid}",
                        f"--regid={nobody.pw_gid}", "--clear-groups", "env", f"PYTHONPATH={os.path.abspath(src)}",
                        python, "-m", "lwipy", "up", "--tap", kernel_tap.ifname, "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}",
                        "--duration", "0.2"], capture_output=True, text=True, timeout=30, cwd="/")
    if "No module named" in r.stderr or "Permission denied" in r.stderr and "lwipy up:" not in r.stderr:
        pytest.skip(f"the source tree is not readable by nobody: {r.stderr.strip()}")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "run as root" in r.stderr
    if os.stat("/dev/net/tun").st_mode & 0o006 != 0o006:  # this machine keeps /dev/net/tun to root: that is said
        assert r.stderr.startswith("lwipy up: cannot open /dev/net/tun (Permission denied)")
        return
    assert f"cannot attach to TAP '{kernel_tap.ifname}'" in r.stderr
    assert f"ip tuntap add dev {kernel_tap.ifname} mode tap user nobody" in r.stderr
