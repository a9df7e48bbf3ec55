"""``lwipy ppp``: a stack whose one netif is PPP over a serial device (a pty, or a real port with ``--baud``).

    lwipy ppp --device /dev/ttyUSB0 --baud 115200 --user U --password P       # a client (a modem's data mode)
    lwipy ppp --device /dev/pts/5 --server --local 10.64.0.1 --remote 10.64.0.2 --dns 10.64.0.53

It answers ping and serves UDP echo 7, TCP echo 7, discard 9 and chargen 19, as ``lwipy up`` does; one line per
event (``up``, ``down``) on stdout.  The command ends with the session: exit status 0 when the peer or a signal
(SIGTERM/SIGINT: LCP Terminate-Request first) ended it, 1 for any other end (authentication failed, no answer, the
peer stopped answering LCP echoes).
"""

from __future__ import annotations

import argparse
import signal
from ipaddress import IPv4Address
from typing import Any

__all__ = ["add_parser", "cmd_ppp"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ppp", help="run a stack on PPP over a serial device or pty (client, or --server)")
    p.add_argument("--device", required=True, metavar="PATH", help="the serial device or pty (e.g. /dev/pts/3)")
    p.add_argument("--baud", type=int, help="open PATH through pyserial at this speed (a real port); else as a tty")
    p.add_argument("--server", action="store_true", help="lwIP's PPP_SERVER role: wait for the peer, assign --remote")
    p.add_argument("--local", type=IPv4Address, metavar="ADDR", help="our IPv4 address (server: required)")
    p.add_argument("--remote", type=IPv4Address, metavar="ADDR", help="the peer's IPv4 address (server: required)")
    p.add_argument("--dns", type=IPv4Address, action="append", metavar="ADDR",
                   help="server: a DNS server offered in IPCP (RFC 1877); up to two")
    p.add_argument("--user", default="", help="client: our name; server: the account the peer must use")
    p.add_argument("--password", default="", help="the secret of --user")
    p.add_argument("--auth", choices=["pap", "chap", "any"], default="any",
                   help="client: the methods accepted (default any); server with --user: the one required "
                        "(any: CHAP)")
    p.add_argument("--ipv6", action=argparse.BooleanOptionalAction, default=True,
                   help="negotiate IPV6CP (a link-local address; default on, as CONFIG_LWIP_PPP_ENABLE_IPV6)")
    p.add_argument("--vj", action=argparse.BooleanOptionalAction, default=True,
                   help="VJ header compression (default on, as CONFIG_LWIP_PPP_VJ_HEADER_COMPRESSION)")
    p.add_argument("--lcp-echo", type=float, default=0.0, metavar="SECONDS",
                   help="LCP echo interval (0: off); --lcp-echo-fails misses end the link")
    p.add_argument("--lcp-echo-fails", type=int, default=3, metavar="N")
    p.add_argument("--duration", type=float, help="close the link after this many seconds")
    p.add_argument("-o", "--option", action="append", metavar="NAME=VALUE",
                   help="a Config option (see 'lwipy config'); repeatable")
    p.set_defaults(func=cmd_ppp)


def cmd_ppp(args: argparse.Namespace) -> int:
    from ..api.loop import StackLoop
    from ..apps import TcpChargenServer, TcpDiscardServer, TcpEchoServer, UdpEchoServer
    from ..core.stack import Stack
    from ..netif.pppos import PtySerial, PySerial, pppos_create
    from ..ppp import PppSettings, PppStatus
    from . import _parse_options

    if args.server and (args.local is None or args.remote is None):
        raise ValueError("--server needs --local and --remote")
    if args.dns and not args.server:
        raise ValueError("--dns is what a server offers; a client takes the server's")
    if args.dns and len(args.dns) > 2:
        raise ValueError("IPCP carries two DNS servers at most (RFC 1877)")
    methods = ("chap", "pap") if args.auth == "any" else (args.auth,)
    config = _parse_options(args.option or [], {
        "ppp_support": True, "ppp_server_support": args.server, "ppp_pap_support": "pap" in methods,
        "ppp_chap_support": "chap" in methods, "ppp_enable_ipv6": args.ipv6, "ppp_vj_header_compression": args.vj,
        "enable_lcp_echo": args.lcp_echo > 0, "lcp_echointerval": int(args.lcp_echo) if args.lcp_echo >= 1 else 0,
        "lcp_maxechofails": args.lcp_echo_fails})
    settings = PppSettings.from_config(config, server=args.server, local=args.local, remote=args.remote,
                                       dns=list(args.dns or []), user=args.user, password=args.password,
                                       auth_required=bool(args.server and args.user), auth=methods,
                                       lcp_echo_interval=args.lcp_echo)
    serial = PySerial(args.device, args.baud) if args.baud else PtySerial.open(args.device)
    stack = Stack(config)
    netif, device = pppos_create(stack, serial, settings, name="ppp0", default=True)
    pcb = device.pcb
    loop = StackLoop(stack)
    UdpEchoServer(stack, 7)
    TcpEchoServer(stack, 7)
    TcpDiscardServer(stack, 9)
    TcpChargenServer(stack, 19)
    ended: list[int] = []

    def on_status(event: PppStatus) -> None:
        if event.err == 0:
            dns = ",".join(str(stack.dns_getserver(i)) for i in (0, 1) if stack.dns_getserver(i) is not None)
            ll = [str(a.address) for a in netif.ip6_addrs if a.addr[:2] == b"\xfe\x80"]
            print(f"up local={netif.ip4.ip if netif.ip4 else 'none'} remote={netif.gateway or 'none'} "
                  f"dns={dns or ('offered' if args.server and args.dns else 'none')} "
                  f"local6={ll[0] if ll else 'none'} auth={pcb.auth_used} "
                  f"vj={'on' if pcb.vj is not None and pcb.vj.tx_enabled else 'off'}", flush=True)
            return
        print(f"down reason={event.name} code={event.err}", flush=True)
        ended.append(event.err)
        loop.stop(timeout=None)

    stack.events.subscribe(PppStatus, on_status)
    signal.signal(signal.SIGTERM, lambda *_: loop.call_soon(lambda: pcb.close("User request")))
    signal.signal(signal.SIGINT, lambda *_: loop.call_soon(lambda: pcb.close("User request")))
    role = f"server {args.local} -> {args.remote}" if args.server else "client"
    print(f"lwipy ppp on {args.device}: {role}; answering ping; UDP echo 7; TCP echo 7, discard 9, chargen 19",
          flush=True)
    if args.duration is not None:
        deadline = loop.clock() + args.duration
        stack.add_poller(_CloseAt(pcb, deadline))
    try:
        loop.run()
    finally:
        device.close()
        loop.close()
    print("\nstats:\n" + stack.stats.format() + f"\nppp: bad_fcs={pcb.deframer.bad_fcs} "
          f"frames_in={pcb.deframer.frames} frames_out={pcb.stats_tx_frames}", flush=True)
    code = ended[0] if ended else 5
    return 0 if code in (pcb.PPPERR_USER, pcb.PPPERR_CONNECT) else 1


class _CloseAt:
    """Close the link at ``when`` (``--duration``): a poller of the stack."""

    def __init__(self, pcb: Any, when: float) -> None:
        self.pcb, self.when = pcb, when

    def poll(self, now: float) -> None:
        if self.when is not None and now >= self.when:
            self.when = None  # type: ignore[assignment]
            self.pcb.close("User request")

    def poll_at(self) -> float | None:
        return self.when
