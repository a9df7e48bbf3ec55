#!/usr/bin/env python3
"""The *floor*: the least a pure-Python program can do to serve the benches' traffic on a TAP, with no stack.

    python3 bench/floor_stack.py NETNS TAP IP

It answers ARP and ping, and serves TCP echo (7), discard (9) and chargen (19) as ``bench_vs_lwip.py``'s clients use
them: one parse of each frame by one precompiled struct, each reply built by one ``struct.pack`` with both checksums
computed (the payload's sum by lwipy's own ``wire.checksum.data_sum``), one ``os.read`` per frame and one
``os.write`` per reply, epoll between bursts; a ping that wakes it is answered from a few slices and compares, and
the floor sleeps again without another read.
Per connection only the sequence numbers are kept: no options but the MSS, no retransmission, no congestion
control, no out-of-order data (a TAP on an idle machine neither loses nor reorders), a constant window of 5,760
bytes (ESP-IDF's), chargen keeping at most 5,760 bytes in flight (ESP-IDF's send buffer) in segments of 1,440.

It is a yardstick, not a peer to test against: what CPython itself costs for the system calls and the bytes of
each exchange, so that a bench can tell how much of lwipy's time is the stack's own work and how much any Python
program would spend (``bench_vs_lwip.py --floor``).  Prints ``ready pid=N`` once the TAP is open; ends on SIGTERM.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from lwipy.netif.tap import TapDevice  # noqa: E402  (opens the TAP in the namespace: its own thread does the setns)
from lwipy.wire.checksum import data_sum  # noqa: E402  (the payload summed as lwipy sums it)

MAC = bytes.fromhex("02aabbccddee")
MSS = 1440
WINDOW = 5760  # the receive window offered, and the most chargen keeps in flight
MASK = 0xFFFFFFFF
ACK, PSH, SYN, FIN, RST = 0x10, 0x08, 0x02, 0x01, 0x04
_ARP = struct.Struct("!HHBBH6s4s6s4s")
# Ethernet | IPv4: ver/ihl tos total ident frag ttl proto csum src dst | TCP: ports seq ack offset flags window csum urg
_TCP = struct.Struct("!6s6sHBBHHHBBH4s4sHHIIBBHHH")
_PATTERN = bytes(32 + i % 95 for i in range(MSS * 96))  # chargen's lines of printable characters, MSS-aligned


class Floor:
    """The responder on one TAP descriptor, for our address ``me`` (4 bytes)."""

    def __init__(self, fd: int, me: bytes) -> None:
        self.fd = fd
        self.me = me
        self.ident = 0
        # (peer address, peer port, our port) -> [peer MAC, our next seq, our unacknowledged seq, rcv_nxt, start]
        self.conns: dict[tuple[bytes, int, int], list] = {}

    def segment(self, conn: list, key: tuple, seq: int, flags: int, data: bytes = b"", opts: bytes = b"") -> bytes:
        peer, pport, port = key
        self.ident = ident = (self.ident + 1) & 0xFFFF
        hlen = 20 + len(opts)
        total = 20 + hlen + len(data)
        addrs = int.from_bytes(self.me + peer, "big")
        ip_sum = (0x4500 + total + ident + 0x4000 + 0x4006 + addrs) % 0xFFFF
        tcp_sum = (addrs + 6 + hlen + len(data) + (port << 16) + pport + seq + conn[3] + ((hlen << 10) | flags)
                   + WINDOW + int.from_bytes(opts, "big") + data_sum(data)) % 0xFFFF
        return _TCP.pack(conn[0], MAC, 0x0800, 0x45, 0, total, ident, 0x4000, 64, 6, 0xFFFF - ip_sum, self.me, peer,
                         port, pport, seq, conn[3], hlen << 2, flags, WINDOW, 0xFFFF - tcp_sum, 0) + opts + data

    def fill(self, conn: list, key: tuple) -> None:
        """chargen: segments until WINDOW bytes are in flight."""
        write, fd = os.write, self.fd
        nxt, una = conn[1], conn[2]
        while (nxt - una) & MASK < WINDOW:
            at = (nxt - conn[4]) % (MSS * 95)
            write(fd, self.segment(conn, key, nxt, ACK, _PATTERN[at:at + MSS]))
            nxt = (nxt + MSS) & MASK
        conn[1] = nxt

    def frame(self, f: bytes) -> bool:
        """Handle one frame; True when an ACK is due at the end of the burst (discard's data)."""
        if f[12:14] == b"\x08\x06":
            _, _, _, _, op, smac, sip, _, tip = _ARP.unpack_from(f, 14)
            if op == 1 and tip == self.me:
                os.write(self.fd, smac + MAC + b"\x08\x06" + _ARP.pack(1, 0x0800, 6, 4, 2, MAC, self.me, smac, sip))
            return False
        if len(f) < 54 or f[23] != 6:
            if len(f) >= 42 and f[23] == 1:
                self.ping(f)
            return False
        (_, src, etype, vihl, _, total, _, _, _, _, _, peer, dst, pport, port, seq, ack, off, flags, _, _,
         _) = _TCP.unpack_from(f)
        if etype != 0x0800 or vihl != 0x45 or dst != self.me or port not in (7, 9, 19):
            return False
        key = (peer, pport, port)
        if flags & SYN:
            conn = self.conns[key] = [src, 1001, 1001, (seq + 1) & MASK, 1001]
            os.write(self.fd, self.segment(conn, key, 1000, SYN | ACK, b"", b"\x02\x04\x05\xa0"))
            return False
        conn = self.conns.get(key)
        if conn is None:
            return False
        if flags & RST:
            del self.conns[key]
            return False
        data = f[34 + (off >> 4) * 4:14 + total]
        if (ack - conn[2]) & MASK <= (conn[1] - conn[2]) & MASK:
            conn[2] = ack
        if seq == conn[3]:
            conn[3] = (seq + len(data) + (flags & FIN)) & MASK
        if flags & FIN:  # the peer is done: our FIN with the ACK of its
            os.write(self.fd, self.segment(conn, key, conn[1], FIN | ACK))
            conn[1] = (conn[1] + 1) & MASK
            return False
        if port == 7:
            if data:
                os.write(self.fd, self.segment(conn, key, conn[1], ACK | PSH, data))
                conn[1] = (conn[1] + len(data)) & MASK
            return False
        if port == 19:
            self.fill(conn, key)
            return False
        if data:
            self.due = (conn, key)
            return True
        return False

    def ping(self, f: bytes) -> bool:
        """An echo request to us answered (True), from bytes compared and sliced: cheaper than a struct's unpack
        when the process wakes cold (bench_vs_lwip's ping wakes it every 10 ms)."""
        if f[34] != 8 or f[12:14] != b"\x08\x00" or f[14] != 0x45 or f[30:34] != self.me:
            return False
        buf = bytearray(f)
        buf[0:6], buf[6:12], buf[26:30], buf[30:34], buf[34] = f[6:12], MAC, f[30:34], f[26:30], 0
        csum = int.from_bytes(buf[36:38], "big") + 0x0800
        buf[36:38] = ((csum & 0xFFFF) + (csum >> 16)).to_bytes(2, "big")
        os.write(self.fd, buf)
        return True

    def run(self) -> None:
        ep = select.epoll()
        ep.register(self.fd, select.EPOLLIN)
        read, fd = os.read, self.fd
        while True:
            ep.poll()
            # the frame that woke us first: a ping is answered and we sleep again at once, with no read that finds
            # nothing (epoll is level triggered: a frame behind it wakes us at once), as lwipy's loop answers a
            # lone ping (api/loop.py, s8)
            try:
                f = read(fd, 1518)
            except BlockingIOError:
                continue
            if len(f) >= 42 and f[23] == 1 and self.ping(f):
                continue
            ack_due = self.frame(f)
            while True:
                try:
                    f = read(fd, 1518)
                except BlockingIOError:
                    break
                if self.frame(f):
                    ack_due = True
            if ack_due:  # discard: one ACK for the burst's data
                conn, key = self.due
                os.write(fd, self.segment(conn, key, conn[1], ACK))


def main() -> None:
    netns, tap, ip = sys.argv[1:4]
    dev = TapDevice(tap, netns=netns)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready pid={os.getpid()}", flush=True)
    Floor(dev.fd, bytes(int(x) for x in ip.split("."))).run()


if __name__ == "__main__":
    main()
