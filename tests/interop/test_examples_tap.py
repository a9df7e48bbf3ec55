"""The ESP-IDF socket examples in examples/ on a TAP in a test-made namespace, with the kernel as their counterpart:
a kernel client for the servers, kernel servers for the clients, a kernel group member for multicast, and
``python -m http.server`` for http_request."""

import subprocess
import sys
import time
from pathlib import Path

import interop_netns as nsx
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def start_example(kernel_tap, name, *args):
    argv = [sys.executable, str(EXAMPLES / f"{name}.py"), "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
            "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "--gw", nsx.KERNEL_IP, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    return out


def kernel_python(kernel_tap, script, *args, timeout=30):
    done = nsx.ns_python(kernel_tap.ns, script, *args, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


TCP_CLIENT = r"""
import socket, sys, time
deadline = time.monotonic() + 30  # until the example listens, however long it takes to start on a loaded machine
while True:
    try:
        s = socket.create_connection((sys.argv[1], 3333), timeout=30)
        break
    except ConnectionRefusedError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
s.sendall(b"kernel says hi")
print(s.recv(128).decode())
s.close()
"""


def test_tcp_server_example_echoes_a_kernel_client(kernel_tap):
    proc = start_example(kernel_tap, "tcp_server", "--clients", "1")
    try:
        assert kernel_python(kernel_tap, TCP_CLIENT, nsx.LWIP_IP).strip() == "kernel says hi"
        out = finish(proc)
    finally:
        proc.kill()
    assert f"Socket accepted ip address: {nsx.KERNEL_IP}" in out and "Received 14 bytes: kernel says hi" in out


def kernel_server(kernel_tap, script):
    proc = subprocess.Popen(["ip", "netns", "exec", kernel_tap.ns, sys.executable, "-I", "-c", script,
                             nsx.KERNEL_IP], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


TCP_ECHO = r"""
import socket, sys
srv = socket.create_server((sys.argv[1], 3333))
srv.settimeout(20)
print("ready", flush=True)
conn, _ = srv.accept()
while data := conn.recv(1024):
    conn.sendall(data.upper())
"""

UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 3333))
s.settimeout(20)
print("ready", flush=True)
data, addr = s.recvfrom(1500)
s.sendto(data.upper(), addr)
"""


@pytest.mark.parametrize("name, script", [("tcp_client", TCP_ECHO), ("udp_client", UDP_ECHO)],
                         ids=["tcp_client", "udp_client"])
def test_client_examples_talk_to_kernel_servers(kernel_tap, name, script):
    server = kernel_server(kernel_tap, script)
    try:
        out = finish(start_example(kernel_tap, name, "--count", "1"))
    finally:
        server.kill()
        server.wait(5)
    assert f"Received 19 bytes from {nsx.KERNEL_IP}:" in out and "MESSAGE FROM ESP32" in out


UDP_CLIENT = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
deadline = time.monotonic() + 30  # until the example answers, however long it takes to start on a loaded machine
while time.monotonic() < deadline:
    s.sendto(b"kernel datagram", (sys.argv[1], 3333))
    try:
        print(s.recv(128).decode())
        break
    except TimeoutError:
        pass
"""


def test_udp_server_example_echoes_a_kernel_datagram(kernel_tap):
    proc = start_example(kernel_tap, "udp_server", "--datagrams", "1")
    try:
        assert kernel_python(kernel_tap, UDP_CLIENT, nsx.LWIP_IP).strip() == "kernel datagram"
        out = finish(proc)
    finally:
        proc.kill()
    assert f"dest ip: {nsx.LWIP_IP}" in out and f"Received 15 bytes from {nsx.KERNEL_IP}:" in out


MEMBER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 3333))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("232.10.11.12") + socket.inet_aton(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
s.settimeout(20)
print("ready", flush=True)
data, addr = s.recvfrom(128)
print(data.decode(), addr[0], flush=True)
s.sendto(b"Multicast from the kernel", ("232.10.11.12", 3333))
"""


def test_udp_multicast_example_with_a_kernel_group_member(kernel_tap):
    member = kernel_server(kernel_tap, MEMBER)
    try:
        out = finish(start_example(kernel_tap, "udp_multicast", "--rounds", "6", "--want", "1"), timeout=40)
        heard = member.stdout.readline().strip()
    finally:
        member.kill()
        member.wait(5)
    assert heard == f"Multicast from ESP32 {nsx.LWIP_IP}"
    assert f"received 25 bytes from {nsx.KERNEL_IP}: Multicast from the kernel" in out


def test_http_request_example_gets_a_page_from_the_kernels_http_server(kernel_tap, tmp_path):
    (tmp_path / "index.html").write_text("<h1>served by the kernel</h1>\n")
    server = subprocess.Popen(["ip", "netns", "exec", kernel_tap.ns, sys.executable, "-m", "http.server", "8000",
                               "--bind", nsx.KERNEL_IP, "--directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + nsx.GENEROUS
        while time.monotonic() < deadline:  # until the server listens
            probe = nsx.ns_run(kernel_tap.ns, ["curl", "-s", "-o", "/dev/null", f"http://{nsx.KERNEL_IP}:8000/"])
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        out = finish(start_example(kernel_tap, "http_request", "--port", "8000", "--path", "/index.html"))
    finally:
        server.terminate()
        server.wait(10)
    assert "HTTP/1.0 200 OK" in out and "<h1>served by the kernel</h1>" in out
