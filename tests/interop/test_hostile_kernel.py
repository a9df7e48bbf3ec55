"""A hostile peer on a real link: 20,000 spoofed SYNs from the kernel's side of the TAP to lwipy's echo port, then
the kernel's own connect and a 1 MB echo must succeed within 5 s of the flood's end."""

from __future__ import annotations

import time

import pytest

from lwipy.apps import TcpEchoServer

pytestmark = pytest.mark.hostile

# Frames from one scapy template, each given a spoofed source on the link (so lwipy's ARP churns too), a source
# port and an ISN, written by an AF_PACKET socket on the kernel's end of the TAP (scapy takes a millisecond a frame).
FLOOD = r"""
import random, socket, sys, time
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

ifname, dst_mac, dst_ip, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def csum(data, initial=0):
    if len(data) % 2:
        data += b"\0"
    total = initial
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF

rng = random.Random(20000)
template = bytearray(bytes(Ether(dst=dst_mac) / IP(src="10.77.0.3", dst=dst_ip)
                           / TCP(sport=1024, dport=7, flags="S", options=[("MSS", 1460)])))
dst = bytes(template[30:34])
frames = []
for _ in range(count):
    f = bytearray(template)
    src = bytes([10, 77, 0, rng.randrange(3, 255)])
    f[6:12] = bytes([2, 0x66, 0, 0, rng.randrange(256), rng.randrange(256)])
    f[26:30] = src
    f[24:26] = b"\0\0"
    f[24:26] = csum(bytes(f[14:34])).to_bytes(2, "big")
    f[34:36] = rng.randrange(1024, 65536).to_bytes(2, "big")
    f[38:42] = rng.getrandbits(32).to_bytes(4, "big")
    f[50:52] = b"\0\0"
    pseudo = sum(int.from_bytes(x, "big") for x in (src[:2], src[2:], dst[:2], dst[2:])) + 6 + len(f) - 34
    f[50:52] = csum(bytes(f[34:]), pseudo).to_bytes(2, "big")
    frames.append(bytes(f))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
rate = float(sys.argv[5])  # frames a second, so that the TAP's queue does not simply drop the flood
start = time.monotonic()
sent = 0
for i, f in enumerate(frames):
    ahead = start + i / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
    while True:
        try:
            s.send(f)
            sent += 1
            break
        except OSError:  # the TAP's queue is full: give lwipy a moment
            time.sleep(0.0005)
print(sent, round(time.monotonic() - start, 3), flush=True)
"""

ECHO_CLIENT = r"""
import hashlib, socket, sys, threading, time
n = int(sys.argv[2])
data = bytes((i * 13) & 0xFF for i in range(n))
start = time.monotonic()
s = socket.create_connection((sys.argv[1], 7), timeout=30)
connected = time.monotonic() - start
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send, daemon=True).start()
back = bytearray()
while True:
    got = s.recv(65536)
    if not got:
        break
    back += got
intact = hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
print(round(connected, 3), round(time.monotonic() - start, 3), intact, len(back))
"""


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.lwip_device(pcap=False)
def test_a_20000_syn_flood_then_the_kernel_connects_and_echoes_1mb_within_5s(lwip, capsys):
    server = lwip.call(lambda: TcpEchoServer(lwip.stack, 7))
    before = rss_kib()
    done = lwip.python(FLOOD, lwip.kernel.ifname, lwip.mac, lwip.ip, "20000", "5000", timeout=120)
    flood_end = time.monotonic()
    sent, took = done.stdout.split()
    assert int(sent) == 20000
    echo = lwip.python(ECHO_CLIENT, lwip.ip, str(1 << 20), timeout=60)
    since_flood = time.monotonic() - flood_end
    connect_s, total_s, intact, length = echo.stdout.split()
    assert intact == "True" and int(length) == 1 << 20
    assert since_flood < 5.0, f"the echo finished {since_flood:.2f} s after the flood"
    after = rss_kib()
    stats = lwip.stats()["tcp"]
    with capsys.disabled():
        print(f"\n20,000-SYN flood in {took} s; lwipy took {stats['recv']} segments, evicted {stats['half_open_evicted']} "
              f"half-open, dropped {stats['listen_drop']} SYNs; then connect {connect_s} s, 1 MB echo {total_s} s "
              f"({since_flood:.2f} s after the flood); RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB")
    assert server.connections >= 1
    assert stats["recv"] >= 10000  # most of the flood reached lwipy (the TAP drops what a busy reader leaves)
    assert stats["half_open_evicted"] > 0
    assert after - before < 64 * 1024, f"RSS grew from {before} to {after} KiB"
    assert lwip.call(lambda: len(lwip.stack.tcp.conns)) <= lwip.stack.config.max_active_tcp
