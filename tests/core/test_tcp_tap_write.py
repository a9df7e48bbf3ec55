"""way13: a reply to a plain TAP (no offload, no queue, its own ``transmit``) is written by ``TcpOutput._output_one``
itself, ``os.write`` to the descriptor the device gives as ``NetDevice.tx_fd``, a write's error going to
``transmit_failed``: what ``TapDevice.transmit`` does, without its call.  Taken for the plain TAP, left to
``transmit`` for every other device or a TAP whose transmit is not its own (``TapDevice.tx_fd`` followed live), and
the same frames, state and counters either way, refusals (a full queue, the interface down) included."""

from __future__ import annotations

import errno
import os

import pytest

from lwipy.netif.tap import TapDevice
from test_tcp_fastpath import established, frame, inject, snapshot
from test_tcp_send_tx3 import _Peer


class _OwnTransmit(TapDevice):
    """A TAP whose transmit is a subclass's (the same write, through TapDevice's): tx_fd stays None."""

    def transmit(self, frame) -> bool:
        return super().transmit(frame)


def _run(monkeypatch, cls=TapDevice, **kwargs):
    """An established connection (timestamps off, as ESP-IDF's defaults) on a TAP over a socketpair."""
    t, pcb, _ = established(ts=False)
    peer = _Peer(monkeypatch, cls, **kwargs)
    t.netif.device = peer.dev
    pcb.nodelay = True
    return t, pcb, peer


def _request(t, pcb, i: int) -> None:
    inject(t, frame(t, t.peer_seq, pcb.snd_max, 0x18, b"r%03d" % i))
    t.peer_seq += 4


def _state(t, pcb) -> dict:
    got = snapshot(t, pcb)
    got.pop("_tx_way", None)
    return got


def _replies(t, pcb, peer, sizes, full_at=()) -> list:
    """Requests answered by writes of ``sizes`` bytes; before the writes numbered in ``full_at`` the socket is
    filled until it refuses (EAGAIN), then drained after it.  What the peer read, and the states after each."""
    out = []
    for i, n in enumerate(sizes):
        _request(t, pcb, i)
        if i in full_at:
            try:  # (frames of zeros from the device's end until the socket refuses: the peer skips them)
                while True:
                    os.write(peer.b.fileno(), b"\x00" * 1000)
            except BlockingIOError:
                pass
        pcb.send(bytes((i * 7 + j) & 0xFF for j in range(n)))
        got = []
        while True:
            try:
                got.append(peer.a.recv(4000, 0x40))  # MSG_DONTWAIT
            except BlockingIOError:
                break
        out.append(([f for f in got if f[:1] != b"\x00"], _state(t, pcb), peer.dev.tx_dropped))
        t.at(t.now + (0.02 if i in full_at else 0.0))  # the retry timer sends a refused reply again
    return out


@pytest.mark.parametrize("full_at", [(), (2,)])
def test_a_plain_taps_replies_are_written_directly_with_the_same_frames_state_and_counters(monkeypatch, full_at):
    """The same requests through a plain TAP (the direct write) and through one whose transmit is a subclass's (the
    call): the same frames, connection state, counters and refusals; the plain one's transmit never called."""
    calls: list = []
    runs = []
    for cls in (TapDevice, _OwnTransmit):
        t, pcb, peer = _run(monkeypatch, cls)
        try:
            assert (peer.dev.tx_fd == peer.b.fileno()) == (cls is TapDevice)
            if cls is TapDevice:
                real = TapDevice.transmit
                monkeypatch.setattr(TapDevice, "transmit",
                                    lambda dev, f, real=real: (type(dev) is TapDevice and calls.append(bytes(f)))
                                    or real(dev, f))
            runs.append(_replies(t, pcb, peer, [64, 1, 300, 64, 1000], full_at))
            fast_sent = t.stack.tcp.fast_sent
            assert fast_sent >= 4
        finally:
            peer.close()
    direct, called = runs
    assert direct == called
    # (the class's transmit replaced after the device was made: its tx_fd stands, by design) called only for pure ACKs
    assert all(len(f) == 54 for f in calls)
    assert any(refused for _, _, refused in direct) == bool(full_at)


@pytest.mark.parametrize("refuse_at", [None, 3])
def test_a_bulk_send_to_a_plain_tap_is_written_directly_with_the_same_frames_state_and_counters(monkeypatch,
                                                                                                 refuse_at):
    """``_output_fast``'s loop (a write of several segments) writes each frame to the plain TAP's descriptor itself:
    the same frames, state and counters as through a subclass's transmit, a refusal in the middle of a burst (the
    third write: EAGAIN) included; the plain TAP's transmit never called for a data segment."""
    real_write = os.write
    calls: list = []
    runs = []
    for cls in (TapDevice, _OwnTransmit):
        t, pcb, peer = _run(monkeypatch, cls)
        writes = [0, peer.b.fileno()]

        def write(fd, data, writes=writes):
            if fd == writes[1]:
                writes[0] += 1
                if writes[0] == refuse_at:
                    raise BlockingIOError(errno.EAGAIN, "full")
            return real_write(fd, data)
        try:
            if cls is TapDevice:
                real = TapDevice.transmit
                monkeypatch.setattr(TapDevice, "transmit", lambda dev, f, real=real: (
                    type(dev) is TapDevice and calls.append(bytes(f))) or real(dev, f))
            monkeypatch.setattr(os, "write", write)
            out = []
            for i in range(4):
                _request(t, pcb, i)
                pcb.send(bytes((i + j) & 0xFF for j in range(4500)))
                t.at(t.now + 0.02)  # (the retry timer, after a refusal)
                for _ in range(8):  # the peer acknowledges everything sent, until all went
                    inject(t, frame(t, t.peer_seq, pcb.snd_max))
                got = []
                while True:
                    try:
                        got.append(peer.a.recv(4000, 0x40))
                    except BlockingIOError:
                        break
                out.append((got, _state(t, pcb), peer.dev.tx_dropped))
            monkeypatch.setattr(os, "write", real_write)
            runs.append(out)
            assert t.stack.tcp.fast_sent >= 16
        finally:
            peer.close()
    direct, called = runs
    assert direct == called and sum(len(got) for got, _, _ in direct) >= 20
    assert all(len(f) == 54 for f in calls)
    assert direct[-1][2] == (1 if refuse_at else 0)


def _instance_transmit(dev):
    real = dev.transmit
    dev.transmit = lambda f: real(f)


UNUSUAL = {
    "transmit set on the instance": (_instance_transmit, {}),
    "plain way turned off": (lambda dev: setattr(dev, "_plain", False), {}),
    "closed": (lambda dev: dev.close(), {}),
    "a subclass's transmit": (None, {"cls": _OwnTransmit}),
    "offload": (None, {"offload": True}),
    "a transmit queue": (None, {"tx_queue": 8}),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_the_write_is_left_to_transmit_for_every_other_tap(monkeypatch, case):
    """tx_fd is None (the reply goes through ``transmit``) for a TAP with offload or a queue, a subclass's transmit, one
    set on the instance after the way was made, the plain way turned off, or the device closed (whose transmit then
    raises, as before)."""
    change, kwargs = UNUSUAL[case]
    t, pcb, peer = _run(monkeypatch, **kwargs)
    try:
        _request(t, pcb, 0)
        pcb.send(b"a" * 64)  # (the way made)
        if change is not None:
            change(peer.dev)
        if case == "closed":
            peer.b.detach()  # (closed by the device)
        assert peer.dev.tx_fd is None
        seen = []
        cls = type(peer.dev)
        real = cls.transmit
        monkeypatch.setattr(cls, "transmit", lambda dev, f: seen.append(bytes(f)) or real(dev, f))
        if "transmit" in vars(peer.dev):
            inner = peer.dev.transmit
            peer.dev.transmit = lambda f: seen.append(bytes(f)) or inner(f)
        _request(t, pcb, 1)
        if case == "closed":
            with pytest.raises(OSError) as raised:
                pcb.send(b"b" * 64)
            assert raised.value.errno == errno.EBADF
        else:
            pcb.send(b"b" * 64)
        assert len(seen) == 1 and seen[0].endswith(b"b" * 64)
    finally:
        peer.close()


@pytest.fixture
def plain_tap(monkeypatch):
    peer = _Peer(monkeypatch)
    yield peer
    peer.close()


def test_tx_fd_follows_the_descriptor_and_the_instances_transmit(plain_tap):
    dev = plain_tap.dev
    assert dev.tx_fd == dev.fd >= 0
    dev.transmit = lambda f: True
    assert dev.tx_fd is None
    del dev.transmit
    assert dev.tx_fd == dev.fd
    dev.fd = 99
    assert dev.tx_fd == 99
    dev.fd = -1
    assert dev.tx_fd is None
    dev.fd = plain_tap.b.fileno()


@pytest.mark.parametrize("err", [errno.EIO, errno.EAGAIN, errno.EBADF])
def test_a_failed_direct_write_is_what_transmit_makes_of_it(monkeypatch, err):
    """The interface down (EIO) and a full queue (EAGAIN): a refusal, counted by the device, the reply kept for the
    retry; anything else (EBADF) raised, as ``TapDevice.transmit`` does."""
    t, pcb, peer = _run(monkeypatch)
    try:
        _request(t, pcb, 0)
        pcb.send(b"a" * 64)
        _request(t, pcb, 1)

        def fail(fd, data):
            raise OSError(err, os.strerror(err)) if err != errno.EAGAIN else BlockingIOError(err, "full")
        monkeypatch.setattr(os, "write", fail)
        if err == errno.EBADF:
            with pytest.raises(OSError):
                pcb.send(b"b" * 64)
            return
        pcb.send(b"b" * 64)
        assert peer.dev.tx_dropped == 1 and pcb.txretry_at is not None and pcb.snd_nxt == pcb.snd_una
        assert t.stack.stats.link.drop >= 1
    finally:
        peer.close()
