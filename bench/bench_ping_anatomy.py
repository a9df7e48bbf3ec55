#!/usr/bin/env python3
"""Where a ping's round trip goes, step by step, from the kernel's own timestamps (ftrace), for lwipy, the pure-Python
floor and C lwIP side by side.

    sudo python3 bench/bench_ping_anatomy.py [--turns 12] [--stacks lwipy,floor,C lwIP] [--baseline-tree DIR]

Each stack runs on its own TAP in namespaces of its own (``bench_vs_lwip.stack_link``), all at once, and is pinged
(``ping -i 0.01``, unpinned) in turns of 25, so that all meet the same stretches of the host's drifting latency.
Meanwhile ftrace records, with the monotonic clock: the request queued on a TAP (``net:net_dev_queue``, 98 bytes: in
ping's context), the stack's thread woken (``sched_waking``) and run (``sched_switch``), its system calls
(``raw_syscalls``, the stacks' threads only) and the reply entering the kernel (``net:netif_rx`` or
``netif_receive_skb``, in the stack's write).  Per ping, the steps:

- queue>waking, waking>run, run>wait exit: the kernel's (the wake-up of an idle virtual CPU is most of it);
- exit>read: from the wait's return (epoll, select) to the read's entry: the stack's own code (CPython's return from
  one system call and call of the next, for lwipy and the floor; C lwIP's tapif thread for C lwIP);
- read: the read system call;
- read>write: from the read's return to the reply's write (C lwIP's includes its hand-over to the tcpip thread);
- write>rx: the write until the kernel takes the reply.

Prints the medians in microseconds (and p25/p75 of the stack's own steps).  Needs root and tracefs (mounted at
``/sys/kernel/tracing`` when it is not; what this changes there is put back).  The tracing adds about a microsecond a
traced event, more to C lwIP (it makes more system calls a ping); only the steps compare across stacks, and a round
trip here is not ping's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_vs_lwip as bv  # noqa: E402  (puts src/ and tests/interop/ on the path)

TRACEFS = Path("/sys/kernel/tracing")
STEPS = ("queue>waking", "waking>run", "run>wait exit", "exit>read", "read", "read>write", "write>rx")
EVENTS = ("sched/sched_waking", "sched/sched_switch", "raw_syscalls/sys_enter", "raw_syscalls/sys_exit",
          "net/netif_rx", "net/netif_receive_skb", "net/net_dev_queue")
# x86-64 system call numbers: the waits (select, poll, epoll_wait, pselect6, ppoll, epoll_pwait), the reads (read,
# readv) and the writes (write, writev)
WAITS, READS, WRITES = {23, 7, 232, 270, 271, 281}, {0, 19}, {1, 20}
_LINE = re.compile(r"-(\d+)\s+\[\d+\]\s.*?\s(\d+\.\d+): (\w+): (.*)$")
_NR = re.compile(r"NR (\d+) ")


def parse_events(text: str) -> list[tuple[float, int, str, str]]:
    """The events of an ftrace text as (seconds, pid, event, the rest of its line), in time order."""
    events = []
    for line in text.splitlines():
        m = _LINE.search(line)
        if m:
            events.append((float(m.group(2)), int(m.group(1)), m.group(3), m.group(4)))
    events.sort()
    return events


def ping_steps(events: list[tuple[float, int, str, str]], tids: set[int]) -> list[list[float]]:
    """Per request queued (``net_dev_queue``) in ``events``: the :data:`STEPS` in microseconds, and the whole from the
    queue to the reply, as the threads ``tids`` of the stack pinged went through them; a request whose steps are not
    all there (the stack was not asleep, a step fell outside the window) is left out."""
    out = []
    starts = [i for i, e in enumerate(events) if e[2] == "net_dev_queue"] + [len(events)]
    for i, j in zip(starts, starts[1:], strict=False):
        marks: dict[str, float] = {}
        for t, pid, name, rest in events[i + 1:j]:
            nr_match = _NR.search(rest)
            nr = int(nr_match.group(1)) if nr_match else -1
            ours = pid in tids
            if name == "sched_waking" and "wk" not in marks:
                marks["wk"] = t
            elif name == "sched_switch" and "wk" in marks and "run" not in marks:
                marks["run"] = t
            elif name == "sys_exit" and ours and nr in WAITS and "run" in marks and "exit" not in marks:
                marks["exit"] = t
            elif name == "sys_enter" and ours and nr in READS and "exit" in marks and "read" not in marks:
                marks["read"] = t
            elif name == "sys_exit" and ours and nr in READS and "read" in marks and "read_end" not in marks:
                marks["read_end"] = t
            elif name == "sys_enter" and ours and nr in WRITES and "read_end" in marks and "write" not in marks:
                marks["write"] = t
            elif name in ("netif_rx", "netif_receive_skb") and ours and "write" in marks and "rx" not in marks:
                marks["rx"] = t
        if len(marks) == 7:
            times = [events[i][0]] + [marks[k] for k in ("wk", "run", "exit", "read", "read_end", "write", "rx")]
            out.append([(b - a) * 1e6 for a, b in zip(times, times[1:], strict=False)] + [(times[-1] - times[0]) * 1e6])
    return out


@contextlib.contextmanager
def tracing(tids: list[int]) -> "contextlib.AbstractContextManager[Path]":
    """tracefs set to record :data:`EVENTS` (the stack's threads ``tids`` only, but the requests), with the monotonic
    clock; everything it changed put back after (tracefs unmounted if it was mounted here)."""
    mounted = not (TRACEFS / "trace").exists()
    if mounted:
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], check=True)
    saved: dict[Path, str] = {}

    def put(name: str, value: str) -> None:
        path = TRACEFS / name
        if path not in saved:
            text = path.read_text()
            # (a clock file lists them all, the one in use in brackets; a filter file says "none" when unset)
            chosen = re.search(r"\[(\w+)\]", text)
            if chosen:
                saved[path] = chosen.group(1)
            elif text.strip() == "none":
                saved[path] = "0"
            else:  # (a size reads "7 (expanded: 1408)")
                saved[path] = text.split()[0] if text.split() else ""
        path.write_text(value)

    ours = " || ".join(f"common_pid == {t}" for t in tids)
    try:
        put("tracing_on", "0")
        (TRACEFS / "trace").write_text("")
        put("trace_clock", "mono")
        put("buffer_size_kb", "20000")
        put("events/sched/sched_waking/filter", " || ".join(f"pid == {t}" for t in tids))
        put("events/sched/sched_switch/filter", " || ".join(f"next_pid == {t}" for t in tids))
        for name in ("raw_syscalls/sys_enter", "raw_syscalls/sys_exit", "net/netif_rx", "net/netif_receive_skb"):
            put(f"events/{name}/filter", ours)
        put("events/net/net_dev_queue/filter", "len == 98")
        for name in EVENTS:
            put(f"events/{name}/enable", "1")
        put("tracing_on", "1")
        yield TRACEFS
    finally:
        (TRACEFS / "tracing_on").write_text("0")
        for path, value in reversed(list(saved.items())):
            with contextlib.suppress(OSError):
                path.write_text(value)
        (TRACEFS / "trace").write_text("")
        if mounted:
            subprocess.run(["umount", str(TRACEFS)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=12, help="turns of 25 pings per stack")
    parser.add_argument("--stacks", default="lwipy,floor,C lwIP", help="of lwipy, floor, C lwIP, baseline")
    parser.add_argument("--baseline-tree", metavar="DIR", help="the lwipy of this checkout as 'baseline'")
    parser.add_argument("--build", type=Path, default=None, help="where C lwIP is built (bench_vs_lwip's default)")
    args = parser.parse_args()
    import interop_netns as nsx
    problem = nsx.requirements_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 1
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    if "baseline" in stacks and not args.baseline_tree:
        parser.error("--stacks baseline needs --baseline-tree")
    build = args.build or bv.default_build()
    if "C lwIP" in stacks:
        bv.build_peer(build)
    src = str(Path(args.baseline_tree).resolve() / "src") if args.baseline_tree else None
    with contextlib.ExitStack() as held:
        running: list[tuple[str, str, set[int]]] = []
        for which in stacks:
            ns, _ = held.enter_context(bv.stack_link(which))
            stack = bv.Running("lwipy" if which == "baseline" else which, "esp", ns, build, True,
                               src if which == "baseline" else None)
            held.callback(stack.stop)
            bv.warm_up(ns)
            running.append((which, ns, {int(t) for t in os.listdir(f"/proc/{stack.pid}/task")}))
        windows: list[tuple[str, float, float]] = []
        with tracing(sorted(t for _, _, tids in running for t in tids)) as tracefs:
            for _ in range(args.turns):
                for which, ns, _ in running:
                    start = time.clock_gettime(time.CLOCK_MONOTONIC)
                    bv.ping_rtts(ns, None, count=bv.PING_CHUNK)
                    windows.append((which, start, time.clock_gettime(time.CLOCK_MONOTONIC)))
            (tracefs / "tracing_on").write_text("0")
            events = parse_events((tracefs / "trace").read_text())
    steps: dict[str, list[list[float]]] = {which: [] for which, _, _ in running}
    for which, start, end in windows:
        tids = next(t for w, _, t in running if w == which)
        steps[which] += ping_steps([e for e in events if start <= e[0] <= end], tids)
    print(f"\nping's request to its reply in the kernel, µs (medians; ftrace, unpinned, {args.turns} turns of "
          f"{bv.PING_CHUNK}; Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f})")
    print("| step | " + " | ".join(which for which, _, _ in running) + " |")
    print("|---|" + "---|" * len(running))
    for k, name in enumerate((*STEPS, "request to reply")):
        cells = []
        for which, _, _ in running:
            v = sorted(r[k] for r in steps[which])
            cells.append(f"{statistics.median(v):.1f}" + (f" ({v[len(v) // 4]:.0f}-{v[3 * len(v) // 4]:.0f})"
                                                           if name in ("exit>read", "read>write") else "")
                         if v else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| pings traced | " + " | ".join(str(len(steps[which])) for which, _, _ in running) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
