#!/usr/bin/env python3
"""The ping path in process, after a real idle sleep: what a ping costs the stack from the frame to the reply's write.

    python3 bench/bench_echo_path.py [--rounds 300] [--sleep-ms 10]

Between two pings a stack sleeps; when the next one comes, the process wakes with cold caches (its virtual CPU halted
meanwhile), and every bytecode, call and distinct object on the way to the reply costs many times what it costs warm.
A cache-flushing loop does not reproduce that (it leaves the TLBs and the CPU's clock as they were), so here the
process really sleeps ``--sleep-ms`` before each measurement.  Measured, interleaved in random order so that the host's
drift is shared: ``Icmp.fast_echo`` (what the loop tries first on a frame that woke it), the quiet echo its answer in a
lent buffer leaves (``Icmp.quiet_echo``: what the loop's ping lane tries first while only pings came, s24),
``Stack.input`` (the full way, with the fast path off), and a minimal responder (one struct, a few slices, the write:
about what CPython needs at least).  Each to the moment the reply is handed to the device; the median, p25 and p75 in
µs, and the same warm.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lwipy import Stack  # noqa: E402
from lwipy.netif.device import Device  # noqa: E402
from lwipy.wire.checksum import checksum  # noqa: E402

OWN_MAC, PEER_MAC = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
OWN, PEER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
_CSUM = struct.Struct("!H")


class NullWriteDevice(Device):
    """Writes each frame to /dev/null (one system call, as a TAP's transmit makes) and notes when it was handed over."""

    mtu = 1500

    def __init__(self) -> None:
        self.fd = os.open(os.devnull, os.O_WRONLY)
        self.sent_at = 0

    def transmit(self, frame) -> bool:
        self.sent_at = time.perf_counter_ns()
        os.write(self.fd, frame)
        return True


def echo_request(seq: int) -> bytes:
    icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + bytes(range(56)))
    _CSUM.pack_into(icmp, 2, checksum(icmp))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0x4000, 64, 1, 0, PEER, OWN))
    _CSUM.pack_into(ip, 10, checksum(ip))
    return OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + bytes(icmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--sleep-ms", type=float, default=10.0)
    args = parser.parse_args()
    stack = Stack(seed=1)
    dev = NullWriteDevice()
    netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    frame = echo_request(1)
    perf = time.perf_counter_ns
    now = 1.0

    def fast() -> int:
        t = perf()
        assert stack.fast_answer(netif, frame, now)
        return dev.sent_at - t

    lane = memoryview(bytearray(1518))  # (the loop's lane reads each request into its buffer; here copied untimed)
    lane[:len(frame)] = frame
    assert stack.icmp.fast_echo(netif, lane, now, False, len(frame))
    # (the other ways' calls take it from the stack: kept here.  The full way runs between its calls, so they are out
    # of its quiet contract; nothing the full way changes here is what it holds: the ARP entry is static)
    quiet_echo = stack.icmp.quiet_echo
    assert quiet_echo is not None

    def quiet() -> int:
        lane[:len(frame)] = frame
        t = perf()
        assert quiet_echo(lane, len(frame), now)
        return dev.sent_at - t

    def full() -> int:
        stack.icmp.fast_path = False
        t = perf()
        stack.input(netif, frame, now)
        stack.icmp.fast_path = True
        return dev.sent_at - t

    def minimal() -> int:
        t = perf()
        f = frame
        if f[23] == 1 and f[34] == 8:
            buf = bytearray(f)
            buf[0:6], buf[6:12], buf[26:30], buf[30:34], buf[34] = f[6:12], f[0:6], f[30:34], f[26:30], 0
            c = _CSUM.unpack_from(buf, 36)[0] + 0x0800
            _CSUM.pack_into(buf, 36, (c & 0xFFFF) + (c >> 16))
            dev.transmit(buf)
        return dev.sent_at - t

    ways = {"fast_echo": fast, "quiet echo": quiet, "full way": full, "minimal responder": minimal}
    for fn in ways.values():  # the ARP entry, the fast path's way back: made once
        fn()
    cold: dict[str, list[int]] = {name: [] for name in ways}
    sleep = time.sleep
    for _ in range(args.rounds):
        order = list(ways.items())
        random.shuffle(order)
        for name, fn in order:
            sleep(args.sleep_ms / 1000)
            cold[name].append(fn())
    warm = {name: sorted(fn() for _ in range(2000)) for name, fn in ways.items()}
    print(f"µs from the frame to the reply's transmit, after {args.sleep_ms:g} ms asleep ({args.rounds} each, "
          f"interleaved) and warm; load average {os.getloadavg()[0]:.1f}")
    print("| | cold p50 | p25 | p75 | warm p50 |\n|---|---|---|---|---|")
    for name, v in cold.items():
        v.sort()
        n = len(v)
        print(f"| {name} | {v[n // 2] / 1e3:.1f} | {v[n // 4] / 1e3:.1f} | {v[3 * n // 4] / 1e3:.1f} | "
              f"{warm[name][len(warm[name]) // 2] / 1e3:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
