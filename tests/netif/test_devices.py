"""Device wrappers: the fault injector is seeded and does what it says; pcap files are well formed."""

import struct

import pytest

from lwipy.netif import FaultyDevice, PcapDevice, PcapWriter, TapDevice, VirtualHub


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def pair():
    hub = VirtualHub()
    return hub.port("a"), hub.port("b")


def run_faults(seed, n=2000, **faults):
    a, b = pair()
    clock = Clock()
    fa = FaultyDevice(a, seed=seed, clock=clock, ingress=False, **faults)
    for i in range(n):
        fa.transmit(i.to_bytes(4, "big") + bytes(60))
    clock.t = 10.0
    fa.poll(10.0)
    return [int.from_bytes(f[:4], "big") for f in b.receive()], fa.counts, fa


def test_same_seed_same_faults_and_rates_roughly_as_asked():
    got1, counts1, _ = run_faults(5, loss=0.1, duplicate=0.05, reorder=0.05, delay=0.001)
    got2, counts2, _ = run_faults(5, loss=0.1, duplicate=0.05, reorder=0.05, delay=0.001)
    assert got1 == got2 and counts1 == counts2
    assert 140 <= counts1["lost"] <= 260 and 60 <= counts1["duplicated"] <= 140 and 50 <= counts1["reordered"] <= 160
    assert len(got1) == 2000 - counts1["lost"] + counts1["duplicated"]
    assert got1 != sorted(got1)  # reordering happened


def test_delay_holds_frames_until_due():
    a, b = pair()
    clock = Clock()
    fa = FaultyDevice(a, clock=clock, delay=0.5, ingress=False)
    fa.transmit(b"x" * 60)
    assert b.receive() == [] and fa.poll_at() == 0.5
    clock.t = 0.49
    fa.poll(0.49)
    assert b.receive() == []
    clock.t = 0.5
    fa.poll(0.5)
    assert b.receive() == [b"x" * 60] and fa.poll_at() is None


def test_corruption_flips_exactly_one_bit():
    got, counts, _ = run_faults(1, n=200, corrupt=1.0)
    assert counts["corrupted"] == 200
    a, b = pair()
    fa = FaultyDevice(a, seed=3, corrupt=1.0, ingress=False)
    frame = bytes(64)
    fa.transmit(frame)
    (out,) = b.receive()
    assert sum(bin(x).count("1") for x in out) == 1


def test_ingress_faults_apply_to_received_frames():
    a, b = pair()
    fb = FaultyDevice(b, seed=1, loss=1.0, egress=False)
    a.transmit(b"y" * 60)
    assert fb.receive() == [] and fb.counts["lost"] == 1


def test_probabilities_are_checked():
    with pytest.raises(ValueError):
        FaultyDevice(VirtualHub().port(), loss=1.5)


def test_pcap_file_format(tmp_path):
    path = tmp_path / "x.pcap"
    a, b = pair()
    dev = PcapDevice(a, str(path), clock=lambda: 1700000000.25)
    dev.transmit(b"\x01" * 60)
    b.transmit(b"\x02" * 70)
    assert dev.receive() == [b"\x02" * 70]
    dev.close()
    data = path.read_bytes()
    magic, major, minor, _, _, snap, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, 24)
    assert (sec, usec, incl, orig) == (1700000000, 250000, 60, 60)
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, 24 + 16 + 60)
    assert (incl, orig) == (70, 70) and len(data) == 24 + 16 + 60 + 16 + 70


def test_pcap_writer_counts_and_truncates_to_snaplen(tmp_path):
    w = PcapWriter(str(tmp_path / "s.pcap"), snaplen=10)
    w.write(b"z" * 50, 1.0)
    w.close()
    data = (tmp_path / "s.pcap").read_bytes()
    assert struct.unpack_from("<IIII", data, 24)[2:] == (10, 50) and w.count == 1


def test_tap_names_are_checked_before_any_syscall():
    with pytest.raises(ValueError):
        TapDevice("a-name-that-is-far-too-long")


def test_hub_mtu_refuses_oversize_frames_and_bounds_queues():
    hub = VirtualHub(mtu=100, queue_len=2)
    a, b = hub.port(), hub.port()
    assert not a.transmit(bytes(200))
    for _ in range(3):
        assert a.transmit(bytes(60))
    assert len(b.receive()) == 2 and b.dropped == 1
