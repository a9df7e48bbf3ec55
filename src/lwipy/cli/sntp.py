"""``lwipy sntp``: ask an NTP server for the time from a lwipy stack on a TAP or TUN (lwIP's SNTP client, poll mode),
printing offset, delay, stratum and the corrected time of the stack's device clock, one line per exchange."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from datetime import datetime, timezone
from typing import Any

__all__ = ["add_parser", "cmd_sntp"]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _line(ev: Any) -> str:
    delay = f"{ev.delay:+.6f}" if ev.delay is not None else "-"
    return (f"{_iso(ev.time)} server {ev.server} stratum {ev.stratum} offset {ev.offset:+.6f} s "
            f"delay {delay} s")


def cmd_sntp(args: argparse.Namespace) -> int:
    from ..api.loop import StackLoop
    from ..apps import DhcpBound, Sntp, SntpSynced, SntpSyncMode
    from . import _start_dhcp, _tap_stack

    if not args.server and not args.dhcp:
        raise ValueError("give a server with --server ADDR|NAME, or take the lease's NTP servers with --dhcp")
    if args.count < 1:
        raise ValueError("--count is at least 1")
    # a measuring tool asks at once (no SNTP_STARTUP_DELAY); -o options given by the user come later and win
    args.option = ["sntp_startup_delay=false", f"dhcp_get_ntp_srv={bool(args.dhcp)}",
                   f"sntp_max_servers={max(1, len(args.server or []))}"] + (args.option or [])
    stack, netif, device = _tap_stack(args)
    if args.epoch != "host":
        stack.clock.settimeofday(float(args.epoch))
    else:
        stack.clock.settimeofday(time.time())  # read once: from here the device clock runs on its own
    loop = StackLoop(stack)
    results: list[Any] = []
    sntp_box: list[Sntp] = []

    def synced(ev: SntpSynced) -> None:
        results.append(ev)
        print(_line(ev), flush=True)
        if len(results) >= args.count:
            loop.stop()
        else:
            sntp_box[0].restart()  # the next exchange at once (the tool measures; a device waits the update delay)

    def start() -> None:
        sntp = Sntp(stack)
        sntp_box.append(sntp)
        if args.smooth:
            sntp.set_sync_mode(SntpSyncMode.SMOOTH)
        for index, server in enumerate(args.server or []):
            try:
                sntp.setserver(index, ipaddress.ip_address(server))
            except ValueError:
                sntp.setservername(index, server)
        for index, addr in enumerate(args.dns or []):
            stack.dns_setserver(index, ipaddress.ip_address(addr))
        stack.events.subscribe(SntpSynced, synced)
        if args.dhcp:
            sntp.servermode_dhcp(not args.server)

            def bound(e: DhcpBound) -> None:
                if not sntp.enabled():
                    sntp.init()  # as ESP-IDF's examples: SNTP once the address is there
            stack.events.subscribe(DhcpBound, bound)
            _start_dhcp(stack, netif, args.hostname, sys.stderr)
        else:
            sntp.init()

    loop.call_soon(start)
    try:
        loop.run(args.timeout)
    except KeyboardInterrupt:
        pass
    finally:
        device.close()
        loop.close()
    if len(results) < args.count:
        print(f"lwipy sntp: {len(results)} of {args.count} exchanges answered within {args.timeout:g} s",
              file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any) -> None:
    from . import _add_tap_args

    p = sub.add_parser("sntp", help="ask an NTP server for the time (lwIP's SNTP client) from a stack on a TAP or TUN")
    _add_tap_args(p)
    p.add_argument("--server", action="append", metavar="ADDR|NAME",
                   help="an NTP server by address or by name (resolved through lwipy's DNS); repeatable, tried in "
                        "order (CONFIG_LWIP_SNTP_MAX_SERVERS follows)")
    p.add_argument("--dhcp", action="store_true",
                   help="take the address from DHCP, and the NTP servers too (option 42) unless --server is given")
    p.add_argument("--hostname", default="espressif", help="the DHCP client's host name (option 12)")
    p.add_argument("--dns", action="append", metavar="ADDR", help="a DNS server for server names; repeatable")
    p.add_argument("-c", "--count", type=int, default=1, help="exchanges to make (default %(default)s)")
    p.add_argument("--epoch", default="host",
                   help="the device clock's start: 'host' (the host's time, read once; default) or Unix seconds "
                        "(0: 1970, as an ESP32 boots)")
    p.add_argument("--smooth", action="store_true", help="SNTP_SYNC_MODE_SMOOTH: slew the device clock (adjtime)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for all the answers")
    p.set_defaults(func=cmd_sntp)
