#!/usr/bin/env python3
"""SNTP: the accuracy of the offset lwipy's SNTP client measures against chronyd (and ntpsec's ntpd when unpacked),
beside ntpdig's measurements of the same server in the same run.

    sudo python3 bench/bench_sntp.py [--exchanges 100] [--gap 0.1] [--servers chrony,ntpsec] [--ntpsec-exchanges 30]

A namespace made here holds the server (chronyd ``local stratum 10 -x``; ntpd in orphan mode with its clock discipline
off; both without CAP_SYS_TIME) on the kernel side of a TAP, and lwipy at 10.77.0.2 on the TAP, on a StackLoop
thread.  The server serves the host's clock, so the true offset is the host's, which ntpdig measures from the kernel
side (about zero).  Before each of the ``--exchanges`` exchanges lwipy's device clock is set to the host's time minus
1000.125 s; what lwipy measures, less 1000.125, is its error.  Reported: mean, standard deviation, min/max of that and
of ntpdig's offsets (one ``ntpdig -p 1`` per exchange, the same gap apart), the round-trip delays, and how many requests went
unanswered (ntpd drops requests that come too fast).  Everything is removed on exit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import interop_netns as nsx  # noqa: E402
from ntp_peers import NTPSEC_DIR, chronyd, ntpdig, ntpsec_ntpd, wait_serving  # noqa: E402

from lwipy import Config, Stack  # noqa: E402
from lwipy.api.loop import StackLoop  # noqa: E402
from lwipy.apps import Sntp, SntpSynced  # noqa: E402
from lwipy.netif.tap import TapDevice  # noqa: E402

SKEW = 1000.125


def fmt(values: list[float], unit: float = 1e6) -> str:
    """mean ± stdev [min, max] in microseconds."""
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (f"mean {statistics.fmean(values) * unit:+8.1f} µs  sd {sd * unit:7.1f} µs  "
            f"[{min(values) * unit:+8.1f}, {max(values) * unit:+8.1f}]")


def lwipy_exchanges(stack: Stack, loop: StackLoop, server: str, n: int, gap: float) -> tuple[list[SntpSynced], Sntp]:
    """``n`` exchanges ``gap`` seconds apart (ntpd drops a client's requests that come in bursts, as ntpdig's ``-g``
    spaces its own), the device clock set SKEW behind the host's before each."""
    got: list[SntpSynced] = []
    answered = threading.Event()

    def setup() -> Sntp:
        sntp = stack.apps.get("sntp") or Sntp(stack)
        stack.events.subscribe(SntpSynced, lambda ev: (got.append(ev), sntp.stop(), answered.set()))
        sntp.setserver(0, server)
        return sntp
    sntp = loop.call(setup)
    for i in range(n):
        answered.clear()

        def go() -> None:
            stack.clock.settimeofday(time.time() - SKEW)  # the same known skew before every exchange
            sntp.init()
        loop.call(go)
        if not answered.wait(60):
            raise SystemExit(f"exchange {i + 1} of {n} not answered within 60 s")
        time.sleep(gap)
    return got, sntp


def run(kind: str, n: int, gap: float) -> None:
    with nsx.namespace() as ns, tempfile.TemporaryDirectory() as tmp:
        nsx.add_tap(ns, nsx.TAP, nsx.KERNEL_IP, nsx.PREFIX)
        daemon = (chronyd if kind == "chrony" else ntpsec_ntpd)(ns, Path(tmp))
        stack = Stack(Config(sntp_startup_delay=False, sntp_recv_timeout=1000), seed=1, name="bench-sntp")
        device = TapDevice(nsx.TAP, netns=ns)  # opened first: ntpd listens on the TAP's address once it has carrier
        loop = None
        try:
            stack.add_netif(device, ip=f"{nsx.LWIP_IP}/{nsx.PREFIX}")
            wait_serving(ns, nsx.KERNEL_IP, daemon)
            loop = StackLoop(stack).start()
            lw, sntp = lwipy_exchanges(stack, loop, nsx.KERNEL_IP, n, gap)
            requests = loop.call(lambda: sntp.requests)
            kernel = []
            for _ in range(n):
                kernel += [m["offset"] for m in ntpdig(ns, nsx.KERNEL_IP)]
                time.sleep(gap)
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            device.close()
            daemon.stop()
    errors = [e.offset - SKEW for e in lw]
    delays = [e.delay for e in lw if e.delay is not None]
    print(f"{kind}: {n} exchanges {gap} s apart ({requests} requests sent), stratum {lw[0].stratum}")
    print(f"  lwipy offset (less the {SKEW} s skew)  {fmt(errors)}")
    print(f"  ntpdig offset (kernel side)          {fmt(kernel)}  ({len(kernel)} runs)")
    print(f"  lwipy - ntpdig (means)               {(statistics.fmean(errors) - statistics.fmean(kernel)) * 1e6:+.1f} µs")
    print(f"  lwipy round-trip delay               {fmt(delays)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exchanges", type=int, default=100)
    ap.add_argument("--servers", default="chrony,ntpsec")
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between exchanges (default %(default)s)")
    ap.add_argument("--ntpsec-exchanges", type=int, default=30,
                    help="exchanges with ntpd, 2 s apart: its rate limit drops requests that come faster")
    args = ap.parse_args()
    problem = nsx.requirements_problem()
    if problem:
        raise SystemExit(f"cannot run: {problem}")
    for kind in args.servers.split(","):
        if kind == "ntpsec" and not (NTPSEC_DIR / "root" / "usr" / "sbin" / "ntpd").exists():
            print(f"ntpsec: skipped, ntpd not unpacked in {NTPSEC_DIR} (scripts/test does it)")
            continue
        if kind == "ntpsec":
            run(kind, args.ntpsec_exchanges, max(args.gap, 2.0))
        else:
            run(kind, args.exchanges, args.gap)


if __name__ == "__main__":
    main()
