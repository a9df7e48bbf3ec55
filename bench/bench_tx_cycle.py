#!/usr/bin/env python3
"""The sender's CPU per ACK, in process, without a TAP or a loop: chargen on the pcb API sending into a device that
drops every frame, a scripted peer acknowledging two full segments at a time (as the kernel does).

    python3 bench/bench_tx_cycle.py [--acks 20000] [--rounds 1] [--config esp|tuned|offload] [--profile out.prof]
                                    [--trace N] [--top K] [--batch N]

Prints µs per ACK (each ACK lets two segments go) and µs per sent segment: the Python cost of ``stack.input`` of
the ACK, the fast path, the application's ``send`` and ``tcp_output`` of the segments, with nothing else around.
With ``--config offload`` the device finishes checksums and cuts super-segments (a TAP with the virtio-net header),
and each ACK acknowledges one super-segment (a whole 64 KB window), which lets the next go.
With ``--rounds N`` the ACKs are fed in N rounds and the fastest round is reported (on a shared machine the
slowest rounds measure the neighbours).  ``--trace N`` counts instead the Python bytecodes run for ``N`` ACKs (after
the others): per ACK and per sent segment, and by function (the ``--top`` most), a figure that other processes'
load does not move.  ``--batch N`` hands the ACKs to ``Stack.input_many`` N at a time, as the loop hands it what one
turn read (the kernel's ACKs are usually waiting: a turn of a bulk send reads a few dozen), instead of one
``Stack.input`` each.
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

from lwipy.apps import TcpChargenServer  # noqa: E402
from inproc_peer import connected  # noqa: E402
from inproc_peer import segment as _segment  # noqa: E402


def segment(seq: int, ack: int, flags: int, data: bytes = b"", window: int = 65535, opts: bytes = b"") -> bytes:
    return _segment(19, seq, ack, flags, data, window, opts)


def trace(inp, netif, frames: list, now: float, dev) -> tuple[Counter, int]:
    """Bytecodes per function (``file:function``) run while ``inp`` takes ``frames``; and the frames sent meanwhile."""
    counts: Counter = Counter()

    def local(fr, event, arg):
        if event == "opcode":
            code = fr.f_code
            counts[f"{Path(code.co_filename).name}:{code.co_name}"] += 1
        return local

    def glob(fr, event, arg):
        fr.f_trace_opcodes = True
        return local
    sent0 = dev.frames
    sys.settrace(glob)
    try:
        for f in frames:
            inp(netif, f, now)
    finally:
        sys.settrace(None)
    return counts, dev.frames - sent0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=1, help="feed the ACKs in this many rounds; report the best")
    parser.add_argument("--config", default="esp")
    parser.add_argument("--profile")
    parser.add_argument("--trace", type=int, default=0, help="count the bytecodes of this many ACKs (after the rest)")
    parser.add_argument("--top", type=int, default=25, help="with --trace: the functions listed")
    parser.add_argument("--batch", type=int, default=0, help="ACKs per Stack.input_many (0: Stack.input each)")
    args = parser.parse_args()
    stack, netif, dev, pcb = connected(args.config, TcpChargenServer, 19)
    now = 1.0
    mss = pcb.seg_size
    step = pcb._gso_burst(mss) if args.config == "offload" else 2 * mss  # what each ACK acknowledges
    frames = []
    acks = []
    # warm up: acknowledge one segment at a time until cwnd no longer limits
    for _ in range(200):
        stack.input(netif, segment(1001, pcb.snd_una + mss, 0x10), now)
    una = pcb.snd_una
    for _ in range(args.acks):
        una += step
        acks.append(una)
        frames.append(segment(1001, una, 0x10))
    sent0 = dev.frames
    inp = stack.input
    if args.batch:
        many = stack.input_many
        frames = [frames[i:i + args.batch] for i in range(0, len(frames), args.batch)]

        def inp(netif, batch, now):
            many(netif, batch, now)

    def run(part: list) -> float:
        t0 = time.perf_counter()
        for f in part:
            inp(netif, f, now)
        return time.perf_counter() - t0
    if args.profile:
        import cProfile
        cProfile.runctx("run(frames)", globals(), {"run": run, "frames": frames}, args.profile)
        secs = 1.0
    else:
        per = -(-len(frames) // args.rounds)
        parts = [frames[i:i + per] for i in range(0, len(frames), per)]
        secs = min(run(part) / sum(len(b) for b in part) if args.batch else run(part) / len(part) for part in parts) \
            * args.acks  # the best round's pace
    sent = dev.frames - sent0
    assert pcb.snd_una == acks[-1], "the ACKs fell out of step with what was sent"
    if args.trace:
        more = []
        for _ in range(args.trace):
            una += step
            more.append(segment(1001, una, 0x10))
        if args.batch:
            more = [more[i:i + args.batch] for i in range(0, len(more), args.batch)]
        counts, traced = trace(inp, netif, more, now, dev)
        assert pcb.snd_una == una, "the traced ACKs fell out of step with what was sent"
        total = sum(counts.values())
        print(f"{args.config}: {total / args.trace:.1f} bytecodes per ACK, {total / max(1, traced):.1f} per sent "
              f"segment ({traced / args.trace:.2f} segments per ACK); by function, per sent segment:")
        for name, n in counts.most_common(args.top):
            print(f"  {n / max(1, traced):8.1f}  {name}")
    print(f"{args.config}: {secs / args.acks * 1e6:.2f} µs per ACK, {secs / max(1, sent) * 1e6:.2f} µs per sent "
          f"segment ({sent / args.acks:.2f} segments per ACK, fast path {stack.tcp.fast_taken}, "
          f"sent by the fast send {stack.tcp.fast_sent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
