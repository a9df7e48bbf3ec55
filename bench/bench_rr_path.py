#!/usr/bin/env python3
"""The request/response path in process, without a TAP or a loop: lwipy's TCP echo app (port 7) at ESP-IDF's
defaults (or 64 KB windows) answering a scripted kernel-like client that sends 64-byte requests, each carrying the
ACK of the reply before it (the kernel's ping-pong mode piggybacks its ACK on the next request).

    python3 bench/bench_rr_path.py [--rounds 20000] [--config esp|tuned] [--trace] [--gap US] [--cold]
                                   [--profile out.prof]

``--loop`` runs the requests through :class:`StackLoop` instead, read from a socketpair standing in for the TAP.

Prints µs per request (``Stack.input_many`` of one frame, as the loop hands it a frame that woke it, the echo app's
reply written to a device that keeps nothing), and with ``--trace`` the Python bytecodes run for one request by
function: those before the reply's ``transmit`` (the latency path: after an idle sleep each one costs) and those
after it, until ``input_many`` returns.  ``--cold`` evicts the CPU's caches before each request (a 64 MB write at a
64-byte stride) and prints the median µs from ``input_many``'s call to the reply's ``transmit``, cold and warm;
``--cold --sleep-ms 10`` really sleeps instead (closer to what the network measures: see bench_echo_path.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from lwipy.apps import TcpEchoServer  # noqa: E402
from inproc_peer import connected  # noqa: E402
from inproc_peer import segment as _segment  # noqa: E402


def segment(seq: int, ack: int, flags: int, data: bytes = b"", window: int = 64240, opts: bytes = b"") -> bytes:
    return _segment(7, seq, ack, flags, data, window, opts)


def setup(config: str, partial: bool | None = None):
    """A stack with the echo app and one connection from the scripted client, established and warmed up; returns
    (stack, netif, device, pcb, request maker).  With ``config`` "offload" (or ``partial``) the requests come as a TAP
    with offload hands them over: frames whose TCP checksum is partial (``RxOffload``)."""
    from lwipy.core.device import RxOffload
    stack, netif, dev, pcb = connected(config, TcpEchoServer, 7)
    if partial is None:
        partial = config == "offload"
    now = 1.0
    state = {"seq": 1001, "ack": pcb.snd_max}

    def request() -> bytes:
        """The next request: 64 bytes at the client's next sequence number, acknowledging every reply before it
        (requests may be made ahead: each assumes the one before was answered)."""
        f = segment(state["seq"], state["ack"], 0x18, b"q" * 64)
        state["seq"] += 64
        state["ack"] += 64
        return RxOffload(f, 34, 16) if partial else f
    for _ in range(50):
        stack.input_many(netif, [request()], now)
    assert pcb.snd_una == pcb.snd_max - 64 and dev.frames >= 50, "the echo app did not answer"
    return stack, netif, dev, pcb, request


def trace(stack, netif, dev, request) -> tuple[Counter, Counter]:
    """Bytecodes per function (``file:function``) for one request: before the reply's transmit, and after it."""
    frame = request()
    before: Counter = Counter()
    after: Counter = Counter()
    phase = [before]
    real = dev.transmit

    def transmit(f) -> bool:
        phase[0] = after
        return real(f)
    dev.transmit = transmit

    def local(fr, event, arg):
        if event == "opcode":
            code = fr.f_code
            phase[0][f"{Path(code.co_filename).name}:{code.co_name}"] += 1
        return local

    def glob(fr, event, arg):
        fr.f_trace_opcodes = True
        return local
    sys.settrace(glob)
    try:
        stack.input_many(netif, [frame], 1.0)
    finally:
        sys.settrace(None)
        del dev.transmit
    return before, after


def cold(stack, netif, dev, request, rounds: int, sleep_ms: float = 0.0) -> int:
    """µs from ``input_many``'s call to the reply's transmit, after the caches were evicted (or, with ``sleep_ms``,
    after a real sleep; ``rounds`` requests) and warm (as many, back to back): the medians."""
    clock = time.perf_counter_ns
    sent_at = [0]
    real = dev.transmit

    def transmit(f) -> bool:
        sent_at[0] = clock()
        return real(f)
    dev.transmit = transmit
    junk = bytearray(64 << 20)
    ones = b"\x01" * (len(junk) // 64)
    inp = stack.input_many
    figures = {}
    try:
        for name in ("cold", "warm"):
            frames = [request() for _ in range(rounds)]
            times = []
            for f in frames:
                batch = [f]
                if name == "cold":
                    if sleep_ms:
                        time.sleep(sleep_ms / 1000)
                    else:
                        junk[::64] = ones
                t0 = clock()
                inp(netif, batch, 1.0)
                times.append(sent_at[0] - t0)
            times.sort()
            figures[name] = times[len(times) // 2] / 1000
    finally:
        del dev.transmit
    how = f"after {sleep_ms:g} ms asleep" if sleep_ms else "cold"
    print(f"to the reply's transmit: {how} {figures['cold']:.1f} µs, warm {figures['warm']:.2f} µs (medians of "
          f"{rounds}; fast path {stack.tcp.fast_taken})")
    return 0


def through_loop(stack, netif, request, rounds: int, offload: bool = False) -> int:
    """µs per request with the loop's part: ``rounds`` requests wait in a SOCK_SEQPACKET socketpair (a TAP's
    stand-in: one frame per read) that the netif's device reads and writes as a TAP without offload does, and
    :class:`StackLoop` runs until the last reply is written; the turns read every waiting request as a batch, as
    they do with the client on the stack's CPU (bench_vs_lwip.py's ``rr_together``).  With ``offload`` the device
    reads and writes the virtio-net header as a TAP with offload does, each request marked NEEDS_CSUM."""
    import socket

    from lwipy.api.loop import StackLoop
    from lwipy.netif.tap import VNET_HDR, TapDevice

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (a, b):
        for opt, plain in ((32, socket.SO_SNDBUF), (33, socket.SO_RCVBUF)):  # SO_SNDBUFFORCE, SO_RCVBUFFORCE
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, 1 << 28)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, plain, 1 << 28)
    b.setblocking(False)
    state = {"left": rounds}

    class SocketTap(TapDevice):
        _plain = True

        def __init__(self, fd: int) -> None:  # (no TAP opened: the socket's end instead)
            self.name, self.netns, self.fd, self.mtu, self.offload = "sock", None, fd, 1500, offload
            self.checksum_offload, self.gso_max_size = offload, 65535 if offload else 0
            self._plain, self._vnet_plain = not offload, offload
            self.rx_dropped = self.tx_dropped = self.rx_csum_errors = self.rx_gso = self.tx_gso = 0
            self.tx_ring = None

        def transmit(self, frame) -> bool:
            state["left"] -= 1
            if not state["left"]:
                loop.stop()
            return TapDevice.transmit(self, frame)

        def transmit_gso(self, head, payload, csum_start: int, csum_offset: int, gso_size: int = 0) -> bool:
            state["left"] -= 1
            if not state["left"]:
                loop.stop()
            return TapDevice.transmit_gso(self, head, payload, csum_start, csum_offset, gso_size)

        def close(self) -> None:
            pass

    netif.device = SocketTap(b.fileno())
    frames = [request() for _ in range(rounds)]
    head = VNET_HDR.pack(1, 0, 0, 0, 34, 16) if offload else b""  # NEEDS_CSUM at the TCP checksum
    for f in frames:
        a.send(head + f)
    loop = StackLoop(stack)
    t0 = time.perf_counter()
    loop.run()
    secs = time.perf_counter() - t0
    a.close()
    b.close()
    assert state["left"] <= 0, "a request went unanswered"  # (a window update may follow the last reply)
    print(f"through the loop: {secs / rounds * 1e6:.2f} µs per request (fast path {stack.tcp.fast_taken})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--config", default="esp", choices=("esp", "tuned", "offload"),
                        help="offload: tuned windows on a device with checksum offload and TSO; with --loop the "
                             "stand-in TAP speaks the virtio-net header and each request comes with a partial "
                             "checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), as a kernel client's do")
    parser.add_argument("--trace", action="store_true", help="print the bytecodes per function for one request")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="sleep this many µs before each request and report the median request instead (the "
                             "process wakes with cold caches, as it does between a client's requests)")
    parser.add_argument("--cold", action="store_true",
                        help="evict the caches before each request; print the median µs to the reply's transmit")
    parser.add_argument("--sleep-ms", type=float, default=0.0,
                        help="with --cold: really sleep this long before each request instead of evicting the caches "
                             "(an idle process's wake-up: TLBs and the CPU's clock too, as bench_echo_path.py finds)")
    parser.add_argument("--profile")
    parser.add_argument("--loop", action="store_true",
                        help="through StackLoop: the requests read from a socketpair standing in for a TAP, the "
                             "replies written to it (the loop's reading and batching included)")
    args = parser.parse_args()
    stack, netif, dev, pcb, request = setup(args.config, False if args.loop else None)
    if args.loop:
        return through_loop(stack, netif, request, args.rounds, args.config == "offload")
    if args.trace:
        before, after = trace(stack, netif, dev, request)
        for name, counts in (("before the reply's transmit", before), ("after it", after)):
            print(f"{name}: {sum(counts.values())} bytecodes")
            for fn, k in counts.most_common():
                print(f"  {k:5d}  {fn}")
        return 0
    if args.cold:
        return cold(stack, netif, dev, request, min(args.rounds, 300 if args.sleep_ms else 2000), args.sleep_ms)
    frames = [request() for _ in range(args.rounds)]
    inp = stack.input_many
    sent0 = dev.frames

    def run() -> float:
        t0 = time.perf_counter()
        for f in frames:
            inp(netif, [f], 1.0)
        return time.perf_counter() - t0
    if args.gap:
        sleep, clock, gap = time.sleep, time.perf_counter, args.gap / 1e6
        times = []
        for f in frames:
            sleep(gap)
            t0 = clock()
            inp(netif, [f], 1.0)
            times.append(clock() - t0)
        times.sort()
        secs = times[len(times) // 2] * args.rounds
    elif args.profile:
        import cProfile
        cProfile.runctx("run()", globals(), {"run": run}, args.profile)
        secs = 1.0
    else:
        secs = run()
    assert dev.frames - sent0 == args.rounds and pcb.snd_una == pcb.snd_max - 64, "a request went unanswered"
    what = f"median request after {args.gap:.0f} µs asleep" if args.gap else "per request"
    print(f"{args.config}: {secs / args.rounds * 1e6:.2f} µs {what} (fast path {stack.tcp.fast_taken})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
