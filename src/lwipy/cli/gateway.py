"""``lwipy up`` as a gateway: several netifs, forwarding, NAPT and port forwarding, without writing Python::

    lwipy up --tap lan0@nsa --ip 192.168.4.1/24 --tap wan0@nsb --ip 10.0.0.2/24 --gw 10.0.0.1 \\
             --napt lan0 --portmap tcp:8080=192.168.4.2:80

Each ``--tap NAME[@NETNS]`` is one netif (the TAP in namespace NETNS, else in ``--netns``); each ``--ip`` belongs to
the ``--tap`` before it, and so does ``--gw`` (whose netif becomes the default one).  ``--forward`` forwards IPv4 (and
IPv6) between them; ``--napt NAME`` enables NAPT on the netif of TAP NAME, the *inside* one, the hosts behind it
sharing the other netifs' addresses (it implies ``--forward``; ESP-IDF's rule, one netif at a time, see
:mod:`lwipy.core.napt`); ``--portmap tcp|udp:OUTSIDE_PORT=INSIDE_ADDR:INSIDE_PORT`` (repeatable) sends what reaches
the outside address on OUTSIDE_PORT to an inside server.
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

__all__ = ["TapAction", "IpAction", "GwAction", "add_gateway_args", "config_options", "parse_portmap", "setup"]


class TapAction(argparse.Action):
    """``--tap NAME[@NETNS]``, repeatable: ``namespace.taps`` collects [name, netns, ip] per TAP; ``namespace.tap``
    (and ``netns`` when given with ``@``) is the first, as the single-netif commands read it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        name, _, netns = str(values).partition("@")
        if not name:
            parser.error(f"--tap takes NAME or NAME@NETNS, not {values!r}")
        taps = getattr(namespace, "taps", None) or []
        taps.append([name, netns or None, None, None])
        namespace.taps = taps
        if len(taps) == 1:
            namespace.tap = name
            if netns:
                namespace.netns = netns


class IpAction(argparse.Action):
    """``--ip ADDR/LEN``: the address of the ``--tap`` given last (with one TAP, wherever it stands)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        taps = getattr(namespace, "taps", None) or []
        if taps:
            if taps[-1][2] is not None:
                parser.error(f"--tap {taps[-1][0]} has an --ip already: give each --tap its own --ip after it")
            taps[-1][2] = values
        else:
            namespace.ip_before_tap = values
        if len(taps) <= 1:
            namespace.ip = values


class GwAction(argparse.Action):
    """``--gw ADDR``: the default gateway, reached through the ``--tap`` given last, whose netif becomes the default
    one (with one TAP, wherever it stands)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        taps = getattr(namespace, "taps", None) or []
        if taps:
            taps[-1][3] = values
        if len(taps) <= 1:
            namespace.gw = values


def add_gateway_args(p: argparse.ArgumentParser) -> None:
    """The gateway options of ``lwipy up``."""
    p.add_argument("--forward", action="store_true", help="forward IPv4 and IPv6 between the netifs (ip_forward)")
    p.add_argument("--napt", metavar="NAME",
                   help="enable NAPT on the netif of TAP NAME, the inside one (the hosts behind it share the other "
                        "netifs' addresses); implies --forward")
    p.add_argument("--portmap", action="append", metavar="tcp|udp:OUTSIDE_PORT=INSIDE_ADDR:INSIDE_PORT",
                   help="forward a port of the outside address to an inside server (needs --napt); repeatable")


def _taps(args: argparse.Namespace) -> list[list[Any]]:
    return getattr(args, "taps", None) or []


def is_gateway(args: argparse.Namespace) -> bool:
    return len(_taps(args)) > 1 or bool(getattr(args, "forward", False) or getattr(args, "napt", None)
                                        or getattr(args, "portmap", None))


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """Config options the gateway options need (before the stack is made); checks the options' consistency."""
    taps = _taps(args)
    if len(taps) > 1:
        if not hasattr(args, "forward"):
            raise ValueError("only 'lwipy up' takes several --tap")
        if args.tun:
            raise ValueError("several netifs are TAPs: give every one with --tap")
        if getattr(args, "ip_before_tap", None):
            raise ValueError("with several --tap, each --ip follows the --tap it belongs to")
    if not is_gateway(args):
        return {}
    if args.portmap and not args.napt:
        raise ValueError("--portmap forwards ports of a NAPT gateway: add --napt NAME (the inside netif)")
    if args.napt and args.napt not in [t[0] for t in taps]:
        raise ValueError(f"--napt {args.napt}: no --tap of that name (--napt names the inside TAP)")
    for text in args.portmap or []:
        parse_portmap(text)
    # IPv6 forwarding cannot pass on the partial checksums of a TAP with offload; IPv4 forwarding can
    options: dict[str, Any] = {"ip_forward": True, "ip6_forward": not getattr(args, "offload", False)}
    if args.napt:
        options["ipv4_napt"] = True
    return options


def parse_portmap(text: str) -> tuple[int, int, str, int]:
    """``tcp:8080=192.168.4.2:80`` -> (6, 8080, "192.168.4.2", 80)."""
    try:
        proto_s, _, rest = text.partition(":")
        outside, _, inside = rest.partition("=")
        addr, _, port = inside.rpartition(":")
        proto = {"tcp": 6, "udp": 17}[proto_s.lower()]
        ipaddress.IPv4Address(addr)
        mport, dport = int(outside), int(port)
        if not (0 < mport < 0x10000 and 0 < dport < 0x10000):
            raise ValueError
    except (KeyError, ValueError):
        raise ValueError(f"--portmap takes tcp|udp:OUTSIDE_PORT=INSIDE_ADDR:INSIDE_PORT, not {text!r}") from None
    return proto, mport, addr, dport


def setup(stack: Any, args: argparse.Namespace, first: Any, device_factory: Any) -> tuple[list[Any], str]:
    """Add the netifs of the second and later ``--tap`` (``device_factory(name, netns)`` opens one), enable NAPT and
    the port maps.  Returns the devices opened here (for the caller to close) and a line saying what runs."""
    taps = _taps(args)
    devices: list[Any] = []
    netifs = {taps[0][0]: first} if taps else {}
    for name, netns, ip, gw in taps[1:]:
        device = device_factory(name, netns if netns is not None else args.netns)
        devices.append(device)
        netifs[name] = stack.add_netif(device, name=_unique(stack, name), ip=ip, gateway=gw,
                                       default=gw is not None or None, ip6_linklocal=stack.config.ipv6)
    if not is_gateway(args):
        return devices, ""
    words = ["forwarding between " + ", ".join(f"{n} ({netifs[n].ip4 or 'no address'})" for n in netifs)]
    if args.napt:
        inside = netifs[args.napt]
        stack.napt.enable(inside)
        words.append(f"NAPT for the hosts behind {args.napt}")
        outside = next((n for n in netifs.values() if n is not inside and n.ip4 is not None), None)
        for text in args.portmap or []:
            proto, mport, addr, dport = parse_portmap(text)
            if outside is None:
                raise ValueError("--portmap needs an outside netif with an address")
            if not stack.napt.portmap_add(proto, outside.ip4.ip, mport, addr, dport):
                raise ValueError(f"more than {stack.config.ip_portmap_max} port maps (ip_portmap_max)")
            words.append(f"{text.split(':')[0]} {outside.ip4.ip}:{mport} -> {addr}:{dport}")
    return devices, "; ".join(words)


def _unique(stack: Any, name: str) -> str:
    names = {n.name for n in stack.netifs}
    return name if name not in names else f"{name}.{len(names)}"
