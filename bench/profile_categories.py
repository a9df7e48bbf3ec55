#!/usr/bin/env python3
"""Where a profiled lwipy spends its CPU, by the categories of issue 15's profile.

    python3 bench/profile_categories.py PROFILE [TOTAL_US]

``PROFILE`` is a cProfile file of a stack's core thread (``bench_vs_lwip.py --profile`` writes them: one for a
kernel -> stack transfer, one for stack -> kernel).  Each function's own time (``tottime``) goes to the first
category whose rule matches its file and name; the table gives each category's share, and, with ``TOTAL_US`` (the
CPU per segment measured without the profiler, which slows Python functions more than system calls), that share of
it in µs.  The shares are approximate: cProfile's overhead is per call, so many small calls weigh more than they
cost unprofiled.
"""

from __future__ import annotations

import pstats
import sys

# (category, file substrings, function-name substrings): the first rule that matches a function takes its time;
# a rule with no file substrings matches any file, one with no name substrings any name
RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (WAIT := "(waiting)", ("~",), ("select.", "epoll", "poll' of 'select")),  # sleeping, not CPU: left out
    ("TAP write", ("netif/tap.py", "netif/txqueue.py"), ("transmit", "_write")),
    ("TAP write", ("~",), ("posix.write", "posix.writev")),
    ("TAP reads", ("netif/tap.py",), ("receive",)),
    ("TAP reads", ("~",), ("posix.read", "posix.readv")),
    ("Checksums", ("checksum",), ()),
    ("Checksums", ("~",), ("from_bytes",)),
    ("Loop and timers", ("api/loop.py", "selectors.py", "core/timers.py", "core/tcp/tcp_timers.py"), ()),
    ("Loop and timers", ("~",), ("monotonic", "perf_counter", "heapq", "heappush", "heappop")),
    ("Loop and timers", ("lwipy/",), ("poll_at", "poll")),
    ("Header parsing", ("lwipy/wire/",), ()),
    ("Header parsing", ("~",), ("unpack", "unpack_from")),
    ("ACK and data output", ("core/tcp/tcp_out.py",), ()),
    ("ACK and data output", ("~",), ("pack_into", "pack")),
    ("IP/Ethernet output", ("core/ip4.py", "core/ip6.py", "core/etharp.py", "core/ethernet.py", "core/netif.py",
                            "core/nd6.py"), ("output", "send", "transmit", "resolve")),
    ("Ethernet/IP input", ("core/ethernet.py", "core/ip4.py", "core/ip6.py", "core/etharp.py", "core/netif.py",
                           "core/device.py", "core/addr.py", "ipaddress.py"), ()),
    ("TCP demux and input", ("core/tcp/fastpath.py", "core/tcp/tcp_in.py", "core/tcp/tcp.py",
                             "core/tcp/congestion.py", "core/tcp/seq.py", "core/tcp/listener.py"), ()),
    ("Application and window update", ("lwipy/apps/", "core/tcp/pcb.py", "core/tcp/tcp_mem.py", "lwipy/api/"), ()),
    ("Stack input dispatch", ("core/stack.py",), ()),
    ("Memory accounting", ("core/mem.py",), ()),
]


def categorise(filename: str, func: str) -> str:
    for category, files, names in RULES:
        if files and not any(f in filename for f in files):
            continue
        if names and not any(n in func for n in names):
            continue
        return category
    return "Other"


def shares(profile: str) -> dict[str, float]:
    """Each category's share (0..1) of the profile's total own time, largest first.  A built-in no rule names
    (``len``, ``min``, ``dict.get``...) counts for the category of the function that called it, in proportion to
    each caller's calls' time."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by: dict[str, float] = {}

    def add(cat: str, t: float) -> None:
        by[cat] = by.get(cat, 0.0) + t

    for (filename, _line, func), (_cc, _nc, tottime, _ct, callers) in stats.items():
        if func == "<module>" or "cProfile" in filename or "lsprof" in func:
            continue
        cat = categorise(filename, func)
        if cat == WAIT:
            continue  # cProfile's clock is the wall clock: time asleep in select is not CPU
        if cat == "Other" and filename == "~" and callers:
            edge_total = sum(edge[2] for edge in callers.values()) or 1.0
            for (cfile, _cline, cfunc), edge in callers.items():
                add(categorise(cfile, cfunc), tottime * edge[2] / edge_total)
            continue
        add(cat, tottime)
    total = sum(by.values()) or 1.0
    return dict(sorted(((k, v / total) for k, v in by.items()), key=lambda kv: -kv[1]))


def category_table(profile: str, total_us: float | None = None) -> str:
    """A markdown table of :func:`shares`, in µs when ``total_us`` is given."""
    rows = ["| category | share | µs |" if total_us else "| category | share |",
            "|---|---|---|" if total_us else "|---|---|"]
    for cat, share in shares(profile).items():
        if total_us:
            rows.append(f"| {cat} | {share * 100:.0f}% | {share * total_us:.1f} |")
        else:
            rows.append(f"| {cat} | {share * 100:.0f}% |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(category_table(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None))
