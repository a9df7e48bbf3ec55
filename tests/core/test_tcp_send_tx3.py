"""The send side's shortcuts of issue 15's tx3 work: ``_output_fast`` times one new segment per flight as the full
``tcp_output`` does (Karn) when a timeout sent it back below ``snd_max``, counts a refused segment as the full way
does, and ``TapDevice.transmit`` writes a frame in one Python call when nothing (a queue, the virtio-net header, a
subclass's ``_write``) asks for the general way."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from lwipy.netif.tap import TapDevice
from test_tcp_fastpath import established, frame, inject, snapshot
from test_tcp_send_fast import data_frames, watch_fast


def state(t, pcb) -> dict:
    """The pcb's fields, counters and deadline (test_tcp_fastpath's snapshot), without watch_fast's wrapper."""
    got = snapshot(t, pcb)
    got.pop("_output_fast", None)
    got.pop("_output_one", None)
    return got


def both(ts: bool):
    """The same connection twice: with the fast paths and without."""
    return [established(ts=ts, fast=fast, tcp_snd_buf_default=20000) for fast in (True, False)]


@pytest.mark.parametrize("ts", [True, False])
def test_after_a_timeout_the_first_new_segment_is_timed_as_the_full_way_times_it(ts):
    """A timeout sends the first segment again and goes back (snd_nxt below snd_max); the ACKs that follow let
    segments go that were sent before (never timed: Karn) and then new ones (the first timed).  _output_fast
    handles those calls and leaves the same frames, state and RTT sample behind as the full output."""
    runs = both(ts)
    for _t, pcb, _ in runs:
        pcb.send(bytes(range(256)) * 30)  # 7680 bytes: 8 segments of 1000 (less options), 4 sent (cwnd)
    (ta, pa, _), (tb, pb, _) = runs
    assert data_frames(ta) == data_frames(tb) and pa.snd_max == pb.snd_max
    for t, pcb, _ in runs:
        t.at(pcb.rto_at + 0.001)  # the timeout: the first segment again, cwnd one segment
    assert data_frames(ta) == data_frames(tb)
    assert pa.snd_nxt != pa.snd_max and pa.rtt.seq is None  # gone back, nothing timed
    calls = watch_fast(pa)
    steps = 0
    while pa.snd_una != pa.snd_max or len(pa.snd_buf):
        for t, pcb, _ in runs:
            t.now += 0.01
            inject(t, frame(t, t.peer_seq, min(pcb.snd_nxt, pcb.snd_una + 2 * pcb.seg_size),
                            ts=(500 + steps, 0) if ts else None))
        fa, fb = data_frames(ta), data_frames(tb)
        assert fa == fb
        assert state(ta, pa) == state(tb, pb)
        steps += 1
        assert steps < 50, "stalled"
    assert any(calls) and ta.stack.tcp.fast_sent > 0 and tb.stack.tcp.fast_sent == 0
    assert pa.rtt.srtt == pb.rtt.srtt and pa.rtt.srtt is not None  # a sample from a new segment, as the full way


@pytest.mark.parametrize("ts", [True, False])
def test_a_refused_segment_is_counted_and_numbered_as_the_full_way_does(ts):
    """The device refuses the second segment of a call: the first went, the second stays unsent; the IPv4
    identification it took, the counters (ip.xmit counts it, link.xmit not) and the retry are the full way's."""
    runs = both(ts)
    for t, pcb, _ in runs:
        real = t.dev.transmit
        seen = []

        def transmit(f, real=real, seen=seen):
            seen.append(1)
            return real(f) if len(seen) != 2 else False
        t.dev.transmit = transmit
        pcb.send(b"q" * 2500)
    (ta, pa, _), (tb, pb, _) = runs
    fa, fb = data_frames(ta), data_frames(tb)
    assert fa == fb and len(fa) == 1  # the first segment; the device refused the second
    assert ta.stack.tcp.fast_sent == 1 and pa.txretry_at is not None
    assert state(ta, pa) == state(tb, pb)  # counters included
    assert ta.stack.ip4.next_ident == tb.stack.ip4.next_ident
    for t, pcb, _ in runs:
        t.at(pcb.txretry_at)
    fa, fb = data_frames(ta), data_frames(tb)
    assert fa == fb and len(fa) >= 1  # the refused segment, then what Nagle lets go
    assert state(ta, pa) == state(tb, pb) and pa.txretry_at is None


# -- TapDevice.transmit: one Python call a frame when nothing asks for more ---------------------------------------------
class _Peer:
    """A TapDevice over one end of a SOCK_SEQPACKET socketpair (frames kept whole), opened by TapDevice.__init__."""

    def __init__(self, monkeypatch, cls=TapDevice, **kwargs) -> None:
        self.a, self.b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.b.setblocking(False)
        fd = self.b.fileno()
        monkeypatch.setattr(TapDevice, "_open", lambda dev, mtu: (fd, 1500))
        self.dev = cls("tx3tap0", **kwargs)

    def close(self) -> None:
        self.a.close()
        self.b.close()


def test_a_plain_tap_writes_the_frame_itself(monkeypatch):
    peer = _Peer(monkeypatch)
    try:
        dev = peer.dev
        assert dev._plain
        called = []
        monkeypatch.setattr(TapDevice, "_write", lambda *a: called.append(a) or True)
        assert dev.transmit(b"\x01" * 60) and dev.transmit(bytearray(b"\x02" * 70)) and dev.transmit(
            memoryview(b"\x03" * 80))
        assert [peer.a.recv(2000) for _ in range(3)] == [b"\x01" * 60, b"\x02" * 70, b"\x03" * 80]
        assert called == []  # not through _write
    finally:
        peer.close()


def test_a_full_queue_refuses_and_counts_and_other_errors_raise(monkeypatch):
    peer = _Peer(monkeypatch)
    try:
        dev = peer.dev
        frames = 0
        while dev.transmit(b"\x05" * 1000):
            frames += 1
            assert frames < 100_000
        assert dev.tx_dropped == 1  # EAGAIN: refused, the stack keeps the segment (ENOMEM)
        assert frames > 0 and len(peer.a.recv(2000)) == 1000
        peer.a.close()
        peer.b.close()
        with pytest.raises(OSError) as raised:
            dev.transmit(b"\x06" * 60)  # a closed descriptor: a bug, not a refusal
        assert raised.value.errno == errno.EBADF and dev.tx_dropped == 1
    finally:
        peer.close()


def test_the_interface_down_is_a_refusal(monkeypatch):
    peer = _Peer(monkeypatch)
    try:
        def eio(fd, data):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        monkeypatch.setattr(os, "write", eio)
        assert not peer.dev.transmit(b"\x07" * 60) and peer.dev.tx_dropped == 1
    finally:
        peer.close()


class _LoggingTap(TapDevice):
    def _write(self, frame, vnet_hdr) -> bool:
        self.log = [*getattr(self, "log", []), bytes(frame)]
        return super()._write(frame, vnet_hdr)


@pytest.mark.parametrize("case", ["queue", "offload", "subclass _write"])
def test_the_general_way_is_kept_when_something_asks_for_it(monkeypatch, case):
    kwargs = {"queue": dict(tx_queue=4), "offload": dict(offload=True), "subclass _write": {}}[case]
    peer = _Peer(monkeypatch, _LoggingTap if case == "subclass _write" else TapDevice, **kwargs)
    try:
        dev = peer.dev
        assert not dev._plain
        assert dev.transmit(b"\x08" * 60)
        if case == "queue":
            dev.tx_ring.poll(1e9)  # the queue writes it out
        got = peer.a.recv(2000)
        if case == "offload":
            assert got[10:] == b"\x08" * 60 and got[:10] == bytes(10)
        else:
            assert got == b"\x08" * 60
        if case == "subclass _write":
            assert dev.log == [b"\x08" * 60]
    finally:
        peer.close()
