"""The ESP-IDF socket examples in examples/, each run as a program on the built-in virtual network (its counterpart on
a peer stack); tests/interop/test_examples_tap.py runs them on a TAP against the kernel."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args, timeout=60):
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.mark.parametrize("name, expected", [
    ("tcp_server", ["Socket accepted ip address: 192.168.4.1", "Received 19 bytes: Hello from the peer",
                    "got the echo 'Hello from the peer'", "Connection closed"]),
    ("tcp_client", ["Successfully connected", "Received 19 bytes from 192.168.4.1:", "Shutting down socket"]),
    ("udp_server", ["dest ip: 192.168.4.2", "Received 14 bytes from 192.168.4.1:", "got the echo 'Hello over UDP'"]),
    ("udp_client", ["Received 19 bytes from 192.168.4.1:"]),
    ("udp_multicast", ["heard 'Multicast from ESP32' from 192.168.4.2 on the group",
                       "received 23 bytes from 192.168.4.1: Multicast from the peer"]),
    ("http_request", ["peer: GET / HTTP/1.0", "HTTP/1.0 200 OK", "<h1>Hello from the peer</h1>"]),
])
def test_example_on_the_virtual_network(name, expected):
    out = run_example(name)
    for text in expected:
        assert text in out, out
    if name == "tcp_client":
        assert out.count("Received 19 bytes") == 3
