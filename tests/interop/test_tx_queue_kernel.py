"""The TAP driver's bounded transmit queue against the kernel: a UDP flood from lwipy's sockets gets ENOMEM when the
queue is full, recovers as it drains, and the kernel receives exactly the datagrams whose sendto succeeded."""

import errno
import subprocess
import sys

import pytest

import interop_netns as nsx
from lwipy.api import SocketApi

RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 6000))
print("ready", flush=True)
seqs = []
while True:
    data = s.recv(2048)
    if data == b"END":
        break
    seqs.append(int.from_bytes(data[:4], "big"))
print(len(seqs), int(seqs == sorted(set(seqs))), flush=True)
"""

LIMIT, WANTED = 8, 300


@pytest.mark.lwip_device(tx_queue=LIMIT, tx_rate=2e6, pcap=False)
def test_a_udp_flood_through_a_bounded_tap_queue_gets_enomem_and_every_accepted_datagram_arrives(lwip):
    receiver = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-c", RECEIVER, lwip.kernel_ip],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready"
        assert lwip.kernel_ping("-c", "1", "-W", "5").received == 1  # both sides know each other's MAC now
        api = SocketApi(lwip.loop)
        ring = lwip.device.tx_ring
        tx = api.socket(type=api.SOCK_DGRAM)
        sent = refusals = seq = 0
        while sent < WANTED:
            try:
                tx.sendto(seq.to_bytes(4, "big") + bytes(96), (lwip.kernel_ip, 6000))
                sent += 1
                seq += 1
            except OSError as e:
                assert e.errno == errno.ENOMEM, e
                refusals += 1
                lwip.wait_for(lambda: len(ring) < LIMIT, what="the queue to drain")  # recovers as soon as it drains
        while True:
            try:
                tx.sendto(b"END", (lwip.kernel_ip, 6000))
                break
            except OSError as e:
                assert e.errno == errno.ENOMEM
                lwip.wait_for(lambda: len(ring) < LIMIT, what="the queue to drain")
        out, _ = receiver.communicate(timeout=nsx.GENEROUS)
        count, ordered = map(int, out.split())
        # every ENOMEM was a refusal of the ring; the stack's own frames (an MLD report, a router solicitation...)
        # may also have found it full, so the ring can count a few more
        assert 0 < refusals <= ring.refused and ring.peak == LIMIT
        assert count == sent == WANTED and ordered  # exactly the accepted datagrams, none lost, none duplicated
        api.close_all()
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
