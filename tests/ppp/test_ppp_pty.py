"""lwipy client and lwipy server on two real ptys joined by a relay that corrupts the serial line: one byte changed
in 5% of the frames in each direction.  Bad FCS frames are counted and dropped, TCP recovers, the transfer is intact
(real time, two StackLoop threads and the relay thread)."""

from __future__ import annotations

import hashlib
import os
import random
import select
import threading
import tty
from ipaddress import IPv4Address

import pytest
from lwip_peer import LwipEnd
from test_ppp_lwip_peer import tcp_echo

from lwipy.apps.tcp_services import TcpEchoServer
from lwipy.ppp import PppSettings

pytestmark = pytest.mark.slow


class NoisyRelay:
    """Copies bytes between two pty slaves, changing one byte of a frame (between 0x7E flags) with probability
    ``rate``; ``corrupted`` counts the frames hit."""

    def __init__(self, fd_a: int, fd_b: int, rate: float, seed: int = 1) -> None:
        self.fds = (fd_a, fd_b)
        self.rate = rate
        self.rng = random.Random(seed)
        self.corrupted = 0
        self.frames = 0
        self._stop_r, self._stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _noisy(self, data: bytes) -> bytes:
        out = bytearray(data)
        start = 0
        for i, b in enumerate(data):
            if b == 0x7E:
                if i - start > 1:
                    self.frames += 1
                    if self.rng.random() < self.rate:
                        j = self.rng.randrange(start + 1, i)
                        out[j] ^= self.rng.randrange(1, 256)
                        self.corrupted += 1
                start = i
        return bytes(out)

    def _run(self) -> None:
        a, b = self.fds
        while True:
            ready, _, _ = select.select([a, b, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for src in ready:
                dst = b if src == a else a
                try:
                    data = os.read(src, 65536)
                except OSError:
                    return
                data = self._noisy(data)
                while data:
                    n = os.write(dst, data)
                    data = data[n:]

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self.thread.join(10)


@pytest.mark.parametrize("vj", [False, True], ids=["vj-off", "vj-on"])
def test_lwipy_to_lwipy_over_noisy_ptys_tcp_intact(vj):
    ma, sa = os.openpty()
    mb, sb = os.openpty()
    for fd in (ma, sa, mb, sb):
        tty.setraw(fd)
    relay = NoisyRelay(sa, sb, rate=0.05)
    server = LwipEnd(mb, PppSettings(server=True, local=IPv4Address("10.64.0.1"), remote=IPv4Address("10.64.0.2"),
                                     vj=vj))
    client = LwipEnd(ma, PppSettings(vj=vj))
    try:
        server.call(lambda: TcpEchoServer(server.stack))
        client.wait_for(lambda: client.pcb.if4_up and server.pcb.if4_up, what="both ends up", timeout=120)
        sent, got, elapsed = tcp_echo(client, "10.64.0.1", 512 << 10)
        assert hashlib.sha256(got).digest() == hashlib.sha256(sent).digest()
        bad = client.pcb.deframer.bad_fcs + server.pcb.deframer.bad_fcs
        assert relay.corrupted > 20 and bad > 20, (relay.corrupted, bad)
        # (a corrupted flag or escape can merge or split frames: the counts need not match exactly)
        assert bad <= relay.corrupted + 5
        assert client.stack.stats.tcp.rexmit + server.stack.stats.tcp.rexmit > 0
    finally:
        client.stop()
        server.stop()
        relay.stop()
        for fd in (ma, sa, mb, sb):
            os.close(fd)
