"""lwipy on a TAP with checksum and TCP segmentation offload (the virtio-net header), against the Linux kernel.

The kernel then sends 64 KiB TCP super-segments and UDP datagrams whose checksums it left undone; lwipy sends TCP
super-segments for the kernel to cut.  Everything else (ARP, ICMP, lwipy's UDP) crosses with a zero header.  The
100 MB transfers with offload are in test_tcp_kernel.py; here every protocol crosses once and the capture is read.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest
from test_ipv4_kernel import UDP_ECHO_CLIENT, require_tshark, snmp

from interop_netns import KERNEL_IP, LWIP_IP

if TYPE_CHECKING:
    from conftest import Lwip

pytestmark = [pytest.mark.interop, pytest.mark.lwip_device(offload=True),
              pytest.mark.lwip_config(tcp_wnd_default=262144, tcp_snd_buf_default=262144, tcp_sack_out=True,
                                      wnd_scale=True, tcp_rcv_scale=3, tcp_timestamps=True)]  # lwipy's faster TCP

TCP_ECHO_CLIENT = r"""
import hashlib, socket, sys, threading
data = bytes((i * 29) & 0xFF for i in range(int(sys.argv[2])))
s = socket.create_connection((sys.argv[1], 7), timeout=20)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send).start()
got = bytearray()
while (chunk := s.recv(1 << 20)):
    got += chunk
print(len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest())
"""


def test_every_protocol_crosses_an_offload_tap_and_the_capture_reads_clean(lwip: Lwip) -> None:
    from lwipy.apps import TcpEchoServer, UdpEchoServer
    lwip.call(lambda: (UdpEchoServer(lwip.stack, 7), TcpEchoServer(lwip.stack, 7)))
    result = lwip.kernel_ping("-c", "20", "-i", "0.005", "-W", "2", "-q")
    assert result.received == 20, result.text
    session = lwip.stack_ping(KERNEL_IP, count=5, interval=0.005)
    assert session.received == 5, session.summary()
    before = snmp(lwip)
    udp = json.loads(lwip.python(UDP_ECHO_CLIENT, LWIP_IP, "7", "0,1,1472,4000").stdout)
    assert all(r["ok"] for r in udp), udp
    after = snmp(lwip)
    assert after["Udp"]["InCsumErrors"] == before["Udp"]["InCsumErrors"]  # lwipy's own UDP checksums are whole
    n = 4 * 1024 * 1024
    count, same = lwip.python(TCP_ECHO_CLIENT, LWIP_IP, str(n), timeout=60).stdout.split()
    assert (int(count), same) == (n, "True")
    tap = lwip.device.inner  # under the pcap wrapper
    assert lwip.call(lambda: (tap.rx_gso > 0, tap.tx_gso > 0, tap.rx_csum_errors)) == (True, True, 0)
    lwip.stop()
    # partial checksums are recorded as the wire never sees them, so tshark checks structure here, not checksums
    done = subprocess.run([require_tshark(), "-n", "-r", str(lwip.pcap_path), "-Y",
                           '_ws.malformed || _ws.expert.severity >= "Error"'], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout[-2000:] + done.stderr
    big = subprocess.run([require_tshark(), "-n", "-r", str(lwip.pcap_path), "-Y",
                          f"ip.src == {LWIP_IP} && tcp.len > 1448", "-T", "fields", "-e", "tcp.len"],
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert big and max(int(x) for x in big) > 8000  # lwipy's super-segments, as tshark reads them
