"""bench/floor_stack.py, the benches' pure-Python floor, answers as a TCP peer must: scapy (an independent encoder)
finds its frames well formed with right checksums, and each service keeps its rules (echo's bytes back, chargen's
flight within the window, discard's ACK per burst, ping's reply)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from scapy.all import ARP, ICMP, IP, TCP, Ether, raw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from floor_stack import MAC, MSS, WINDOW, Floor  # noqa: E402

ME, PEER, PEER_MAC = "10.77.0.2", "10.77.0.1", "02:00:00:00:00:01"


@pytest.fixture
def floor():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.setblocking(False)
    yield Floor(ours.fileno(), socket.inet_aton(ME)), theirs
    ours.close()
    theirs.close()


def sent(theirs: socket.socket) -> list:
    frames = []
    while True:
        try:
            frames.append(Ether(theirs.recv(2048)))
        except BlockingIOError:
            return frames


def well_formed(frame) -> None:
    """The frame's checksums are what scapy computes for the same fields."""
    assert frame.src == ":".join(f"{b:02x}" for b in MAC)
    again = Ether(raw(frame))
    del again[IP].chksum
    if TCP in again:
        del again[TCP].chksum
    if ICMP in again:
        del again[ICMP].chksum
    again = Ether(raw(again))
    assert again[IP].chksum == frame[IP].chksum
    layer = TCP if TCP in frame else ICMP
    assert again[layer].chksum == frame[layer].chksum


def tcp(port: int, seq: int, ack: int, flags: str, data: bytes = b"") -> bytes:
    return raw(Ether(src=PEER_MAC, dst=":".join(f"{b:02x}" for b in MAC)) / IP(src=PEER, dst=ME)
               / TCP(sport=40000, dport=port, seq=seq, ack=ack, flags=flags, window=64240) / data)


def connect(f: Floor, theirs, port: int) -> int:
    f.frame(tcp(port, 5000, 0, "S"))
    (synack,) = sent(theirs)
    well_formed(synack)
    assert synack[TCP].flags == "SA" and synack[TCP].ack == 5001
    assert dict(synack[TCP].options)["MSS"] == MSS
    return synack[TCP].seq + 1


def test_echo_sends_each_request_back(floor):
    f, theirs = floor
    isn = connect(f, theirs, 7)
    for i, size in enumerate((64, 1, 1440)):
        data = bytes(range(i, i + size)) if size < 256 else os.urandom(size)
        seq = 5001 + sum((64, 1, 1440)[:i])
        f.frame(tcp(7, seq, isn + seq - 5001, "PA", data))
        (reply,) = sent(theirs)
        well_formed(reply)
        assert bytes(reply[TCP].payload) == data and reply[TCP].ack == seq + size and reply[TCP].seq == isn + seq - 5001


def test_chargen_keeps_a_window_in_flight_and_fills_it_as_acks_come(floor):
    f, theirs = floor
    isn = connect(f, theirs, 19)
    f.frame(tcp(19, 5001, isn, "A"))
    first = sent(theirs)
    assert len(first) == WINDOW // MSS and all(len(s[TCP].payload) == MSS for s in first)
    for s in first:
        well_formed(s)
    f.frame(tcp(19, 5001, isn + 2 * MSS, "A"))
    more = sent(theirs)
    assert [s[TCP].seq for s in more] == [isn + 4 * MSS, isn + 5 * MSS]
    f.frame(tcp(19, 5001, isn + 6 * MSS, "FA"))
    (fin,) = sent(theirs)
    assert fin[TCP].flags == "FA" and fin[TCP].ack == 5002


def test_discard_acknowledges_once_per_burst_and_ping_is_answered(floor):
    f, theirs = floor
    isn = connect(f, theirs, 9)
    due = [f.frame(tcp(9, 5001 + i * 100, isn, "A", b"x" * 100)) for i in range(3)]
    assert due == [True, True, True] and sent(theirs) == []  # the ACK waits for the burst's end (run())
    assert f.due[0][3] == 5301
    echo = raw(Ether(src=PEER_MAC, dst=":".join(f"{b:02x}" for b in MAC)) / IP(src=PEER, dst=ME)
               / ICMP(type=8, id=7, seq=1) / b"ping")
    f.frame(echo)
    (reply,) = sent(theirs)
    well_formed(reply)
    assert reply[ICMP].type == 0 and reply[IP].dst == PEER and bytes(reply[ICMP].payload) == b"ping"


def test_the_lone_ping_path_answers_only_an_echo_request_to_us(floor):
    """run() offers a frame whose protocol byte is ICMP's to ping() first: anything else it must refuse (False, with
    nothing sent) so that frame() gets it, an ARP request whose byte 23 (in the sender's MAC) is 1 among them."""
    f, theirs = floor
    ours = ":".join(f"{b:02x}" for b in MAC)
    request = Ether(src=PEER_MAC, dst=ours) / IP(src=PEER, dst=ME) / ICMP(type=8, id=7, seq=2) / b"lone"
    assert f.ping(raw(request))
    (reply,) = sent(theirs)
    well_formed(reply)
    assert reply[ICMP].type == 0 and reply[ICMP].seq == 2 and reply.dst == PEER_MAC
    for other in (Ether(src=PEER_MAC, dst=ours) / IP(src=PEER, dst="10.77.0.9") / ICMP(type=8) / b"x",
                  Ether(src=PEER_MAC, dst=ours) / IP(src=PEER, dst=ME) / ICMP(type=0) / b"x",
                  Ether(src="02:01:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc="02:01:00:00:00:01",
                                                                               psrc=PEER, pdst=ME)):
        assert raw(other)[23] == 1 or ICMP in other
        assert not f.ping(raw(other).ljust(60, b"\0"))
    assert sent(theirs) == []
