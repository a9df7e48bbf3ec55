"""``lwipy iperf``: iperf 2's client and server (``-s``, ``-c HOST``, ``-u``, ``-t``, ``-n``, ``-i``, ``-l``, ``-b``,
``-P``, ``-p``) on a TAP or TUN (the network options of ``lwipy up``) or on the built-in virtual network
(``--virtual``: the other end is a second lwipy stack in this process, on a link of ``--rate`` bits a second, in
virtual time), printing iperf 2.1.8's report format.  Also the pieces ``lwipy up --iperf`` uses."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any, Callable, TextIO

from ..apps.iperf import SUM, IperfClient, IperfConfig, IperfConnected, IperfReport, IperfServer

__all__ = ["add_parser", "cmd_iperf", "parse_size", "byte_text", "IperfPrinter", "start_up_servers"]

_RULE = "-" * 60
_LABEL_BYTE = ["Byte", "KByte", "MByte", "GByte", "TByte"]
_LABEL_BIT = ["bit", "Kbit", "Mbit", "Gbit", "Tbit"]
_HEADER = "[ ID] Interval       Transfer     Bandwidth"
_HEADER_UDP_RX = "[ ID] Interval       Transfer     Bandwidth        Jitter   Lost/Total Datagrams"


def parse_size(text: str) -> float:
    """iperf 2's numbers with suffixes (``byte_atof``): K, M, G are powers of 1024, k, m, g powers of 1000."""
    text = text.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "k": 1e3, "m": 1e6, "g": 1e9}.get(text[-1:], None)
    try:
        return float(text[:-1]) * scale if scale is not None else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number with an optional K, M, G, k, m or g: {text!r}") from None


def byte_text(n: float, bits: bool) -> str:
    """iperf 2's ``byte_snprintf`` in its adaptive formats: bytes by 1024 ('A'), bits by 1000 ('a')."""
    value = n * 8 if bits else float(n)
    step = 1000.0 if bits else 1024.0
    labels = _LABEL_BIT if bits else _LABEL_BYTE
    i = 0
    while value >= step and i < len(labels) - 1:
        value /= step
        i += 1
    if value < 9.995:
        return f"{value:4.2f} {labels[i]}"
    if value < 99.95:
        return f"{value:4.1f} {labels[i]}"
    return f"{value:4.0f} {labels[i]}"


def _ident(stream: int) -> str:
    return "[SUM]" if stream == SUM else f"[{stream:3d}]"


class IperfPrinter:
    """Print an iperf client's or server's events as iperf 2.1.8 does."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self._headers: set[bool] = set()  # printed: the sender's header (False), the UDP receiver's (True)

    def _print(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def banner_client(self, host: str, port: int, udp: bool, window: int, length: int, bandwidth: float) -> None:
        lines = [_RULE, f"Client connecting to {host}, {'UDP' if udp else 'TCP'} port {port}"]
        if udp:
            lines.append(f"Sending {length} byte datagrams, IPG target: {length * 8 / bandwidth * 1e6:.2f} us")
            lines.append(f"UDP buffer size: {byte_text(window, False)} (default)")
        else:
            lines.append(f"TCP window size: {byte_text(window, False)} (default)")
        self._print("\n".join(lines + [_RULE]))

    def banner_server(self, port: int, udp: bool, window: int) -> None:
        kind = "UDP buffer size" if udp else "TCP window size"
        self._print("\n".join([_RULE, f"Server listening on {'UDP' if udp else 'TCP'} port {port}",
                               f"{kind}: {byte_text(window, False)} (default)", _RULE]))

    def __call__(self, event: Any) -> None:
        if isinstance(event, IperfConnected):
            self._print(f"{_ident(event.stream)} local {event.local[0]} port {event.local[1]} connected with "
                        f"{event.peer[0]} port {event.peer[1]}")
            return
        if not isinstance(event, IperfReport):
            return
        r = event
        if r.server_report:
            self._print(f"{_ident(r.stream)} Server Report:")
            self._print(_HEADER_UDP_RX)
        elif r.receiver not in self._headers:
            self._headers.add(r.receiver)
            self._print(_HEADER_UDP_RX if r.receiver else _HEADER)
        line = (f"{_ident(r.stream)} {r.start:.4f}-{r.end:.4f} sec  {byte_text(r.bytes, False)}s  "
                f"{byte_text(r.bits_per_second / 8, True)}s/sec")
        if r.receiver and r.jitter is not None:
            total = r.total or 0
            loss = 100.0 * (r.lost or 0) / total if total else 0.0
            line += f"  {r.jitter * 1000:6.3f} ms {r.lost}/{total} ({loss:.2g}%)"
            if r.outorder:
                line += f"\n{_ident(r.stream)} {r.start:.4f}-{r.end:.4f} sec  {r.outorder} datagrams received " \
                        "out-of-order"
        self._print(line)
        if r.final and r.sent is not None:
            self._print(f"{_ident(r.stream)} Sent {r.sent} datagrams")


def _config(args: argparse.Namespace) -> IperfConfig:
    if args.parallel < 1:
        raise ValueError("-P takes 1 or more streams")
    return IperfConfig(host=args.client, port=args.port, udp=args.udp, time=args.time,
                       amount=int(args.num) if args.num is not None else None, interval=args.interval,
                       length=int(args.len) if args.len is not None else None,
                       bandwidth=args.bandwidth if args.bandwidth is not None else 1_000_000.0,
                       parallel=args.parallel, epoch=time.time() - time.monotonic())


def _windows(stack: Any, udp: bool, client: bool) -> int:
    cfg = stack.config
    if udp:
        return cfg.udp_recvmbox_size * 1500
    return cfg.tcp_snd_buf_default if client else cfg.tcp_wnd_default


def start_up_servers(stack: Any, port: int = 5001, out: TextIO | None = None) -> list[IperfServer]:
    """``lwipy up --iperf``: iperf 2 servers on ``port``, TCP and UDP, printing their reports."""
    printer = IperfPrinter(out)
    return [IperfServer(stack, IperfConfig(port=port, udp=udp), on_event=printer) for udp in (False, True)]


def _run_virtual(args: argparse.Namespace, printer: IperfPrinter, cfg: IperfConfig) -> int:
    if args.server:
        raise ValueError("--virtual runs the client against an iperf server on a second stack: use -c ADDR")
    from .virtual import virtual_network
    sim, me, peer = virtual_network(args, args.client)
    IperfServer(peer, IperfConfig(port=cfg.port, udp=cfg.udp))
    printer.banner_client(args.client, cfg.port, cfg.udp, _windows(me, cfg.udp, True),
                          cfg.buffer_len(":" in args.client), cfg.bandwidth)
    client = IperfClient(me, cfg, on_event=printer)
    limit = (cfg.time if cfg.amount is None else 3600.0) + 30.0
    sim.run_until(lambda: client.done, limit)
    sim.close()
    return _client_status(client)


def _client_status(client: IperfClient | None) -> int:
    """The exit status, after saying why a client failed as iperf does (``connect failed: ...``)."""
    if client is None or not client.done:
        return 1
    if client.error:
        print(f"connect failed: {os.strerror(client.error)}", file=sys.stderr, flush=True)
        return 1
    return 0


# -- a TAP or TUN ----------------------------------------------------------------------------------------------------
class _DoneWatch:
    """A poller that stops the loop once ``done()`` holds."""

    def __init__(self, stack: Any, loop: Any, done: Callable[[], bool]) -> None:
        self.stack, self.loop, self.done = stack, loop, done

    def poll_at(self) -> float:
        return self.stack.now + 0.05

    def poll(self, now: float) -> None:
        if self.done():
            self.stack.remove_poller(self)
            self.loop.stop()


def _run_tap(args: argparse.Namespace, printer: IperfPrinter, cfg: IperfConfig) -> int:
    from ..api.loop import StackLoop

    from . import _tap_stack, _wait_for_ipv6

    stack, netif, device = _tap_stack(args)
    loop = StackLoop(stack)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    if netif.ip6_addrs:
        _wait_for_ipv6(loop, netif)
    made: list[Any] = []
    if args.server:
        server = IperfServer(stack, cfg, on_event=printer)
        made.append(server)
        printer.banner_server(cfg.port, cfg.udp, _windows(stack, cfg.udp, False))
    else:
        printer.banner_client(args.client, cfg.port, cfg.udp, _windows(stack, cfg.udp, True),
                              cfg.buffer_len(":" in args.client), cfg.bandwidth)

        def start() -> None:
            client = IperfClient(stack, cfg, on_event=printer)
            made.append(client)
            stack.add_poller(_DoneWatch(stack, loop, lambda: client.done))
        loop.call_soon(start)
    try:
        loop.run(args.duration if args.server else None)
    except KeyboardInterrupt:
        if made and isinstance(made[0], IperfClient):
            made[0].close()
    finally:
        device.close()
        loop.close()
    if args.server:
        return 0
    return _client_status(made[0] if made else None)


def cmd_iperf(args: argparse.Namespace) -> int:
    cfg = _config(args)
    printer = IperfPrinter()
    if args.virtual:
        return _run_virtual(args, printer, cfg)
    return _run_tap(args, printer, cfg)


def add_parser(sub: Any) -> None:
    from . import _add_tap_args
    from .virtual import add_virtual_args

    p = sub.add_parser("iperf", help="iperf 2's client and server (TCP and UDP) on a TAP, a TUN or the virtual network",
                       description="iperf 2 compatible: 'lwipy iperf --tap T --ip A/L -s', 'lwipy iperf --tap T "
                                   "--ip A/L -c ADDR -t 10 -i 1', '... -u -b 50M'; '--virtual -c 10.0.0.2' needs no "
                                   "root.")
    _add_tap_args(p, virtual=True)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("-s", "--server", action="store_true", help="run a server")
    mode.add_argument("-c", "--client", metavar="HOST", help="run a client against HOST")
    p.add_argument("-u", "--udp", action="store_true", help="UDP rather than TCP")
    p.add_argument("-p", "--port", type=int, default=5001, help="server port (default %(default)s)")
    p.add_argument("-t", "--time", type=float, default=10.0, help="seconds to send (default %(default)s)")
    p.add_argument("-n", "--num", type=parse_size, help="bytes to send instead of -t (K, M, G: 1024s)")
    p.add_argument("-i", "--interval", type=float, default=0.0, help="seconds between periodic reports")
    p.add_argument("-l", "--len", type=parse_size, help="bytes per write or datagram (default 128K TCP, 1470 UDP)")
    p.add_argument("-b", "--bandwidth", type=parse_size, help="UDP bits/s (default 1m; M = 2**20, m = 10**6)")
    p.add_argument("-P", "--parallel", type=int, default=1, help="parallel client streams")
    p.add_argument("--duration", type=float, help="a server stops after this many seconds")
    add_virtual_args(p)
    p.set_defaults(func=cmd_iperf)
