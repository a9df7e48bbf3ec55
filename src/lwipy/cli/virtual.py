"""The built-in virtual network of ``lwipy ping --virtual`` and ``lwipy iperf --virtual``: our stack and a peer stack
holding the target address, on one virtual Ethernet link (a hub behind a transmit queue of ``--rate`` bits a second,
with ``--delay`` and ``--loss`` on our side), in this process, with no root needed."""

from __future__ import annotations

import argparse
import ipaddress
import time
from typing import Any

__all__ = ["add_virtual_args", "virtual_network", "ping_virtual"]


def add_virtual_args(p: argparse.ArgumentParser) -> None:
    from .iperf import parse_size

    p.add_argument("--rate", type=parse_size, default=100e6, help="--virtual: the link's bits/s (default 100m)")
    p.add_argument("--delay", type=float, default=0.0005, help="--virtual: one-way delay in seconds (default 0.0005)")
    p.add_argument("--loss", type=float, default=0.0, help="--virtual: frame loss probability (0..1)")
    p.add_argument("--seed", type=int, default=1, help="--virtual: the simulation's seed")


def virtual_network(args: argparse.Namespace, peer_ip: str, realtime: bool = False) -> tuple[Any, Any, Any]:
    """A :class:`~lwipy.sim.Simulation` with two stacks on one link: ours (``--ip``, else the first other host of the
    target's /24 or /64) and the peer at ``peer_ip``.  Returns (simulation, our stack, the peer's)."""
    from ..sim import Simulation

    from . import _CLI_DEFAULTS, _parse_options

    target = ipaddress.ip_address(peer_ip.split("%")[0])
    plen = 24 if target.version == 4 else 64
    net = ipaddress.ip_network(f"{target}/{plen}", strict=False)
    ours = args.ip if getattr(args, "ip", None) else f"{next(h for h in net.hosts() if h != target)}/{plen}"
    cfg = _parse_options(getattr(args, "option", None) or [], dict(_CLI_DEFAULTS))
    sim = Simulation(seed=args.seed, realtime=realtime)
    hub = sim.hub(pcap=getattr(args, "pcap", None))
    link = dict(txqueue=dict(rate=args.rate, limit=64))
    faults: dict[str, Any] = {"delay": args.delay} if args.delay else {}
    if args.loss:
        faults["loss"] = args.loss
    addr = "ip" if target.version == 4 else "ip6"
    me = sim.add_stack("lwipy", hub, cfg, faults=faults or None, **link,
                       **{addr: ours if addr == "ip" else [ours]})
    peer = sim.add_stack("peer", hub, cfg, **link, **{addr: f"{target}/{plen}" if addr == "ip" else
                                                      [f"{target}/{plen}"]})
    if target.version == 6:
        sim.run_until(lambda: not any(a.state == "tentative" for s in (me, peer) for n in s.netifs
                                      for a in n.ip6_addrs), 5)  # duplicate address detection
    return sim, me, peer


def ping_virtual(args: argparse.Namespace) -> int:
    """``lwipy ping --virtual TARGET``: ping a peer stack at TARGET, in real time, printed as iputils ping."""
    from ..apps import PingSession

    from . import _ping_header, _ping_reply_line, _ping_summary

    sim, me, _peer = virtual_network(args, args.target, realtime=True)
    print(_ping_header(args.target, args.size), flush=True)
    began = time.monotonic()
    session = PingSession(me, args.target.split("%")[0], count=args.count, interval=args.interval,
                          timeout=args.timeout, size=args.size,
                          on_reply=lambda r: print(_ping_reply_line(r), flush=True),
                          on_timeout=lambda seq: print(f"icmp_seq={seq} timed out", flush=True))
    try:
        sim.run_until(lambda: session.done, args.count * (args.interval + args.timeout) + 10 if args.count else 1e9)
    except KeyboardInterrupt:
        session.stop()
    sim.close()
    print(_ping_summary(args.target, session, time.monotonic() - began))
    return 0 if session.received else 1
