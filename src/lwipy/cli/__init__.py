"""The ``lwipy`` command: ``demo`` (a virtual network, no root), ``up`` (serve on a TAP or TUN, with a static
address or DHCP, optionally a DHCP server), ``ping``, ``resolve`` (names through lwipy's resolver, printed as
``getent ahosts``), ``config``."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import ipaddress
import signal
import sys
from typing import Any, Sequence

from ..config import Config
from ..errors import ConfigError
from . import gateway

__all__ = ["main"]


def _parse_options(pairs: Sequence[str], base: dict[str, Any], sdkconfig: str | None = None) -> Config:
    """The stack's Config: ``base`` (the CLI's defaults) or, with ``--sdkconfig``, that file; then each ``-o``."""
    from .config import options_from
    return options_from(pairs, base, sdkconfig)


# The CLI's stacks reassemble fragments (ESP-IDF's default is off) so that `ping -s 4000` is answered.
_CLI_DEFAULTS: dict[str, Any] = {"ip4_reassembly": True, "ip_reass_max_pbufs": 64}


def _lease_text(lease: Any) -> str:
    """One line about a DHCP lease: address, gateway, DNS servers, server, times."""
    dns = ", ".join(map(str, lease.dns_servers)) or "-"
    times = ("infinite" if lease.lease_time == 0xFFFFFFFF else
             f"{lease.lease_time} s (T1 {lease.t1} s, T2 {lease.t2} s)")
    return (f"{lease.interface.with_prefixlen} gateway {lease.gateway or '-'} dns {dns} from {lease.server}, "
            f"lease {times}")


def cmd_demo(args: argparse.Namespace) -> int:
    from ..apps import AdvertConfig, DhcpBound, DhcpClient, DhcpServer, PingSession, RouterAdvertiser, UdpEchoServer
    from ..sim import Simulation
    from ..wire.ethernet import mac_to_str

    cfg = Config(ip4_reassembly=True, ip_reass_max_pbufs=32, ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=1)
    sim = Simulation(seed=args.seed, realtime=True, strict=False)
    lan1 = sim.hub(pcap=args.pcap)
    lan2 = sim.hub()
    host_a = sim.add_stack("host-a", lan1, cfg)
    router = sim.new_stack("router", cfg.replace(ip_forward=True, ip6_forward=True))
    r_lan1 = sim.attach(router, lan1, ip="10.0.1.1/24", name="lan1")
    sim.attach(router, lan2, ip="10.0.2.1/24", name="lan2")
    host_b = sim.add_stack("host-b", lan2, cfg, ip="10.0.2.2/24", gateway="10.0.2.1")
    print("lwipy demo: host-a (DHCP) -- router 10.0.1.1 | 10.0.2.1 -- host-b 10.0.2.2 (two virtual Ethernet hubs)\n")

    print("DHCP: host-a asks the router's DHCP server (ESP-IDF's dhcpserver, pool 10.0.1.2-10.0.1.101) for an address:")
    server = DhcpServer(router, r_lan1)
    server.start()
    dhcp = DhcpClient(host_a, host_a.netifs[-1], hostname="host-a")
    bound: list[Any] = []
    host_a.events.subscribe(DhcpBound, bound.append)
    started = sim.now
    dhcp.start()
    sim.run_until(lambda: bool(bound), 30)
    if not bound:
        print("  no lease came\n")
        return 1
    lease = bound[0].lease
    print(f"  DISCOVER, OFFER, REQUEST, ACK, two ARP probes: host-a bound {_lease_text(lease)} "
          f"after {sim.now - started:.3f} s")
    print("  the server's clients: " + ", ".join(f"{c.ip} {mac_to_str(c.mac)} ({c.hostname})" for c in server.clients())
          + "\n")

    print("PING 10.0.2.2 from host-a, through the router:")
    ping = PingSession(host_a, "10.0.2.2", count=4, interval=0.25, size=56,
                       on_reply=lambda r: print(f"  {r.size + 8} bytes from {r.src}: icmp_seq={r.seq} ttl={r.ttl} "
                                                f"time={r.rtt * 1000:.3f} ms"),
                       on_timeout=lambda seq: print(f"  icmp_seq={seq} timed out"))
    sim.run_until(lambda: ping.done, 10)
    print("  " + ping.summary().replace("\n", "\n  ") + "\n")

    print("ARP cache of host-a (resolved on the first ping):")
    for entry in host_a.etharp.entries():
        print(f"  {entry.ip} at {mac_to_str(entry.mac) if entry.mac else '(incomplete)'} on {entry.netif.name}, "
              f"{entry.state}")
    print()

    UdpEchoServer(host_b, 7)
    client = host_a.udp.new()
    client.bind(None, 0)
    client.sendto(b"hello from host-a", "10.0.2.2", 7)
    sim.run_until(lambda: bool(client.queue), 5)
    reply = client.recv()
    print("UDP echo (port 7):")
    print(f"  sent 'hello from host-a', got {reply.data.decode()!r} from {reply.src}:{reply.src_port}"
          if reply else "  no echo came back")

    big = bytes(i * 7 & 0xFF for i in range(20000))
    frags_before = host_a.stats.ip_frag.xmit
    client.sendto(big, "10.0.2.2", 7)
    sim.run_until(lambda: bool(client.queue), 5)
    back = client.recv()
    sent_frags = host_a.stats.ip_frag.xmit - frags_before
    same = back is not None and hashlib.sha256(back.data).digest() == hashlib.sha256(big).digest()
    print(f"  a 20000-byte datagram left host-a as {sent_frags} fragments, host-b reassembled it "
          f"({host_b.stats.ip_frag.recv} fragments in), and the echo came back "
          f"{'intact (SHA-256 equal)' if same else 'DAMAGED or lost'}\n")

    print("IPv6: link-local addresses from the MACs and duplicate address detection; the router advertises "
          "2001:db8:1::/64 on lan1 and 2001:db8:2::/64 on lan2, the hosts form SLAAC addresses; PING6 host-b:")
    radv = RouterAdvertiser(router)
    for name, address in (("lan1", "2001:db8:1::1"), ("lan2", "2001:db8:2::1")):
        r_if = router.netif_by_name(name)
        assert r_if is not None
        r_if.create_ip6_linklocal()
        r_if.add_ip6_address(address, 64)
        radv.advertise(r_if, AdvertConfig(rdnss=["2001:db8:1::53"] if name == "lan1" else []))
    for host in (host_a, host_b):
        en0 = host.netif_by_name("en0")
        assert en0 is not None
        en0.create_ip6_linklocal()

    def global6(host: Any) -> Any:
        en0 = host.netif_by_name("en0")
        return next((a for a in en0.ip6_addrs if a.origin == "slaac" and a.state == "preferred"), None)
    sim.run_until(lambda: global6(host_a) is not None and global6(host_b) is not None, 10)
    a6, b6 = global6(host_a), global6(host_b)
    for label, addr in (("host-a", a6), ("host-b", b6)):
        print(f"  {label}: {addr.address if addr else 'no SLAAC address'}")
    print(f"  host-a's default router {ipaddress.IPv6Address(host_a.nd6.routers[0].addr) if host_a.nd6.routers else '-'}"
          f", DNS server (RDNSS) {', '.join(map(str, host_a.dns_servers6())) or '-'}")
    ping6 = PingSession(host_a, b6.address if b6 else "2001:db8:2::2", count=3, interval=0.25,
                        on_reply=lambda r: print(f"  {r.size + 8} bytes from {r.src}: icmp_seq={r.seq} hlim={r.ttl} "
                                                 f"time={r.rtt * 1000:.3f} ms"))
    sim.run_until(lambda: ping6.done, 10)
    print("  " + ping6.summary().replace("\n", "\n  "))
    for n in host_a.nd6.neighbors.values():
        print(f"  neighbour {ipaddress.IPv6Address(n.addr)} at {mac_to_str(n.mac) if n.mac else '?'} {n.state}"
              f"{' (router)' if n.is_router else ''}")
    print()

    for stack in (host_a, router, host_b):
        print(f"stats of {stack.name}:")
        print("  " + stack.stats.format(stack.mem).replace("\n", "\n  "))
    sim.close()
    if args.pcap:
        print(f"\ncapture of lan1 written to {args.pcap} (open it with Wireshark or tshark -r)")
    return 0 if ping.received == 4 and same and ping6.received == 3 else 1


def _tap_stack(args: argparse.Namespace):
    from ..core.stack import Stack
    from ..netif.pcap import PcapDevice
    from ..netif.tap import TapDevice
    from ..netif.tun import TunDevice

    if not (args.ip or args.ip6 or args.slaac or getattr(args, "dhcp", False)):
        raise ValueError("give the stack an address: --ip ADDR/LEN, --dhcp, --ip6 ADDR/LEN or --slaac")
    if getattr(args, "dhcp", False) and args.ip:
        raise ValueError("--dhcp asks a DHCP server for the address: leave out --ip")
    if args.tun and (getattr(args, "dhcp", False) or getattr(args, "dhcp_server", False)):
        raise ValueError("DHCP needs an Ethernet link (--tap): a TUN is point-to-point")
    if args.tun and args.mac:
        raise ValueError("a TUN is a point-to-point link: it has no MAC address (drop --mac)")
    _check_addresses(args)  # before the device is touched
    # an sdkconfig says all: the CLI's own defaults apply only without one; the flags given apply over it
    base: dict[str, Any] = {} if getattr(args, "sdkconfig", None) else dict(_CLI_DEFAULTS)
    if args.slaac:
        base["ipv6_autoconfig"] = True
    if getattr(args, "hooks", None):
        from ..core.hooks import load_hooks_file
        load_hooks_file(args.hooks)  # a bad hook file is reported before the device is touched
        base["hooks_file"] = args.hooks
    base.update(gateway.config_options(args))
    cfg = _parse_options(args.option or [], base, getattr(args, "sdkconfig", None))
    opener = TunDevice if args.tun else TapDevice
    # a missing device is reported with how to make it, never made for the command's lifetime (as root, the kernel
    # would make a transient one, with no address on its side and gone at exit)
    device: Any = opener(args.tun or args.tap, mtu=args.mtu, netns=args.netns, offload=args.offload, create=False,
                         kernel_address=_kernel_side(args.ip, args.gw))
    _wait_kernel_link(args.tun or args.tap, args.netns)
    if args.pcap:
        device = PcapDevice(device, args.pcap)
    stack = Stack(cfg, name=args.tun or args.tap)
    netif = stack.add_netif(device, ip=args.ip, gateway=args.gw, hwaddr=args.mac, ip6_linklocal=cfg.ipv6,
                            ip6=args.ip6)
    return stack, netif, device


def _kernel_side(ip: str | None, gw: str | None) -> str:
    """An address for the kernel's side of the link in --ip's subnet (the gateway if given, else the first address
    that is not --ip's), as the missing-device message suggests it; 10.0.0.1/24 without --ip."""
    if not ip:
        return gw and f"{gw}/24" or "10.0.0.1/24"
    iface = ipaddress.IPv4Interface(ip if "/" in ip else f"{ip}/24")
    if gw and ipaddress.IPv4Address(gw) in iface.network:
        return f"{gw}/{iface.network.prefixlen}"
    host = next((h for h in iface.network.hosts() if h != iface.ip), iface.ip)
    return f"{host}/{iface.network.prefixlen}"


def _check_addresses(args: argparse.Namespace) -> None:
    """Each address option parsed, with an error saying what the option takes."""
    def check(option: str, value: str | None, parse: Any, takes: str) -> None:
        if value is None:
            return
        try:
            parse(value)
        except ValueError as e:
            raise ValueError(f"{option} takes {takes}, not {value!r} ({e})") from None
    check("--ip", args.ip, lambda v: ipaddress.IPv4Interface(v) if "/" in v else ipaddress.IPv4Address(v),
          "an IPv4 address with its prefix length, such as 10.0.0.2/24")
    for six in args.ip6 or []:
        check("--ip6", six, ipaddress.IPv6Interface, "an IPv6 address with its prefix length, such as 2001:db8::2/64")
    check("--gw", args.gw, ipaddress.IPv4Address, "the IPv4 address of the default gateway, such as 10.0.0.1")
    if args.mac is not None:
        from ..wire.ethernet import mac_from_str
        check("--mac", args.mac, mac_from_str, "a MAC address such as 02:00:00:00:00:01")


def _wait_kernel_link(name: str, netns: str | None, limit: float = 2.0) -> None:
    """Wait (up to ``limit`` s) until the kernel's side of a TAP or TUN just opened is running (IFF_RUNNING), when it
    is up.  Linux turns the carrier on in its link watch, up to a second after the open, and until then drops what it
    sends there: the first ARP reply or echo reply of a command would be lost."""
    import fcntl
    import socket
    import struct
    import time

    from ..netif.tap import in_netns

    iff_up, iff_running, siocgifflags = 0x1, 0x40, 0x8913
    try:
        sock = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    except OSError:
        return
    with sock:
        deadline = time.monotonic() + limit
        while True:
            try:
                flags = struct.unpack_from("16sH", fcntl.ioctl(sock, siocgifflags,
                                                               struct.pack("16sH", name.encode()[:15], 0)))[1]
            except OSError:
                return
            if not flags & iff_up or flags & iff_running or time.monotonic() > deadline:
                return
            time.sleep(0.01)


def _wait_for_ipv6(loop: Any, netif: Any, limit: float = 5.0) -> None:
    """Run the loop until no IPv6 address of the netif is tentative any more (duplicate address detection takes a
    second or two), so that the addresses and the prefixes they put on the link are usable."""
    waited = 0.0
    while any(a.state == "tentative" for a in netif.ip6_addrs) and waited < limit:
        loop.run(0.1)
        waited += 0.1


def _addresses(netif: Any) -> str:
    six = ", ".join(f"{a.address}/{a.prefix_len}" for a in netif.ip6_addrs)
    return " ".join(x for x in (str(netif.ip4) if netif.ip4 else "", six) if x)


def _parse_pool(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    first, sep, last = text.partition("-")
    if not sep:
        raise ValueError(f"--pool takes FIRST-LAST, not {text!r}")
    ipaddress.IPv4Address(first.strip())
    ipaddress.IPv4Address(last.strip())
    return first.strip(), last.strip()


def _start_dhcp(stack: Any, netif: Any, hostname: str | None, out: Any = None) -> Any:
    """A DHCP client on ``netif`` printing each lease, renewal and loss to ``out`` (stdout) on the core thread."""
    from ..apps import DhcpBound, DhcpClient, DhcpLost

    def bound(e: DhcpBound) -> None:
        if e.netif is netif:
            word = "renewed" if e.renewed else "lease"
            print(f"{word} {_lease_text(e.lease)}", file=out or sys.stdout, flush=True)

    def lost(e: DhcpLost) -> None:
        if e.netif is netif:
            print(f"lost {e.address} ({e.reason})", file=out or sys.stdout, flush=True)
    stack.events.subscribe(DhcpBound, bound)
    stack.events.subscribe(DhcpLost, lost)
    client = DhcpClient(stack, netif, **({} if hostname is None else {"hostname": hostname}))
    client.start()
    return client


def _start_dhcp_server(stack: Any, netif: Any, pool: tuple[str, str] | None, lease_time: int | None) -> Any:
    from ..apps import DhcpsAssigned, DhcpServer
    from ..wire.ethernet import mac_to_str

    def assigned(e: DhcpsAssigned) -> None:
        if e.netif is netif:
            print(f"assigned {e.ip} to {mac_to_str(e.mac)}{f' ({e.hostname})' if e.hostname else ''}", flush=True)
    stack.events.subscribe(DhcpsAssigned, assigned)
    kwargs: dict[str, Any] = {"pool": pool}
    if lease_time is not None:
        kwargs["lease_time"] = lease_time
    server = DhcpServer(stack, netif, **kwargs)
    server.start()
    return server


def cmd_up(args: argparse.Namespace) -> int:
    from ..api.loop import StackLoop
    from ..apps import TcpChargenServer, TcpDiscardServer, TcpEchoServer, UdpEchoServer

    if args.advertise and not args.ip6:
        raise ValueError("--advertise announces the prefixes of --ip6 addresses: give at least one")
    if args.rdnss and not args.advertise:
        raise ValueError("--rdnss goes into router advertisements: add --advertise")
    if args.dhcp_server and not args.ip:
        raise ValueError("--dhcp-server serves from the stack's own address: give --ip ADDR/LEN")
    if (args.pool or args.lease_time) and not args.dhcp_server:
        raise ValueError("--pool and --lease-time are the DHCP server's: add --dhcp-server")
    pool = _parse_pool(args.pool)
    stack, netif, device = _tap_stack(args)
    from ..netif.tap import TapDevice
    more, routing = gateway.setup(stack, args, netif,
                                  lambda name, ns: TapDevice(name, mtu=args.mtu, netns=ns, offload=args.offload,
                                                             create=False))
    loop = StackLoop(stack)
    UdpEchoServer(stack, 7)
    TcpEchoServer(stack, 7)
    TcpDiscardServer(stack, 9)
    TcpChargenServer(stack, 19)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    from ..wire.ethernet import mac_to_str
    serving = "answering ping; UDP echo 7; TCP echo 7, discard 9, chargen 19"
    if args.advertise:
        from ..apps import AdvertConfig, RouterAdvertiser
        config = AdvertConfig(rdnss=args.rdnss or [])
        RouterAdvertiser(stack).advertise(netif, config)
        serving += "; advertising " + ", ".join(p.prefix for p in RouterAdvertiser.prefixes_of(netif, config))
    if stack.hooks.installed:
        serving += "; hooks " + ", ".join(stack.hooks.installed)
    if routing:
        serving += "; " + routing
    if args.iperf:
        from .iperf import start_up_servers
        start_up_servers(stack)
        serving += "; iperf 2 server 5001 (TCP and UDP)"
    if args.dhcp_server:
        server = _start_dhcp_server(stack, netif, pool, args.lease_time)
        assert server.pool is not None
        serving += (f"; DHCP server, pool {server.pool[0]}-{server.pool[1]}, lease "
                    f"{server.lease_time * stack.config.dhcps_lease_unit} s")
    if args.hostname:
        from .announce import start_announcing
        serving += "; " + start_announcing(stack, args.hostname, args.mdns_service)
    elif args.mdns_service:
        raise ValueError("--mdns-service is published under --hostname: give one")
    addresses = _addresses(netif) or "no address yet"
    if args.dhcp:
        addresses += ", DHCP"
    link = f"mac {mac_to_str(netif.hwaddr)}" if netif.hwaddr else "point-to-point"
    print(f"lwipy up on {args.tun or args.tap}: {addresses} {link} mtu {netif.mtu}; "
          f"{serving}. Ctrl-C stops.", flush=True)
    if args.dhcp:
        _start_dhcp(stack, netif, args.hostname)
    try:
        loop.run(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        device.close()
        for dev in more:
            dev.close()
        loop.close()
    print("\nstats:\n" + stack.stats.format(stack.mem), flush=True)
    if stack.napt.enabled:
        print("napt: " + ", ".join(f"{k} {v}" for k, v in stack.napt.get_stats().as_dict().items()), flush=True)
    return 0


def _ping_header(target: str, size: int) -> str:
    """iputils ping's first line."""
    if ":" in target:
        return f"PING {target}({target.split('%')[0]}) {size} data bytes"
    return f"PING {target} ({target}) {size}({size + 28}) bytes of data."


def _ping_reply_line(r: Any) -> str:
    return f"{r.size + 8} bytes from {r.src}: icmp_seq={r.seq} ttl={r.ttl} time={r.rtt * 1000:.3f} ms"


def _ping_summary(target: str, session: Any, elapsed: float) -> str:
    """iputils ping's statistics: the transmitted/received line with the run's time, and the rtt line."""
    text = session.summary().replace("packet loss", f"packet loss, time {elapsed * 1000:.0f}ms", 1)
    return f"--- {target.split('%')[0]} ping statistics ---\n{text}"


def cmd_ping(args: argparse.Namespace) -> int:
    from ..api.loop import StackLoop
    from ..apps import PingSession

    if args.virtual:
        from .virtual import ping_virtual
        return ping_virtual(args)
    try:
        target = ipaddress.ip_address(args.target.split("%")[0])
    except ValueError:
        raise ValueError(f"ping takes an IPv4 or IPv6 address, not {args.target!r} (find a name's address with "
                         f"'lwipy resolve NAME --dns SERVER ...')") from None
    stack, netif, device = _tap_stack(args)
    from ..netif.tap import TapDevice
    more, routing = gateway.setup(stack, args, netif,
                                  lambda name, ns: TapDevice(name, mtu=args.mtu, netns=ns, offload=args.offload,
                                                             create=False))
    if target.version == 4 and not target.is_multicast and target != ipaddress.IPv4Address("255.255.255.255") \
            and stack.routes.lookup(target) is None:
        for dev in [device, *more]:
            dev.close()
        where = f" from {netif.ip4}" if netif.ip4 else ""
        hint = "give a gateway with --gw ADDR" if netif.ip4 else "give the stack an IPv4 address with --ip ADDR/LEN"
        raise ValueError(f"no route to {target}{where}: {hint}")
    loop = StackLoop(stack)
    if ":" in args.target:
        _wait_for_ipv6(loop, netif)
        source = stack.ip6.select_source(netif, ipaddress.IPv6Address(args.target.split("%")[0]).packed)
        shown = ipaddress.IPv6Address(source) if source else "?"
    else:
        shown = netif.ip4.ip if netif.ip4 else "?"
    print(f"PING {args.target} from {shown}: {args.size} data bytes", flush=True)  # the source the stack chose

    def start() -> PingSession:
        return PingSession(stack, args.target, count=args.count, interval=args.interval, timeout=args.timeout,
                           size=args.size,
                           on_reply=lambda r: print(_ping_reply_line(r), flush=True),
                           on_timeout=lambda seq: print(f"icmp_seq={seq} timed out", flush=True),
                           on_end=lambda s: loop.stop())

    failed: list[Exception] = []

    def begin() -> None:
        try:
            sessions.append(start())
        except Exception as e:  # reported by the command, not left to a loop that would wait forever
            failed.append(e)
            loop.stop()
    loop.call_soon(begin)
    sessions: list[PingSession] = []
    began = loop.clock()
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        device.close()
        loop.close()
    if failed:
        raise failed[0]
    if not sessions:
        return 1
    print(_ping_summary(args.target, sessions[0], loop.clock() - began))
    return 0 if sessions[0].received else 1


def _ahosts(results: list[tuple[Any, ...]], name: str) -> list[str]:
    """``getent ahosts``'s lines: each address as STREAM (with the canonical name on the first line), DGRAM, RAW
    (glibc's ``printf("%-15s %-6s %s\\n", ...)``)."""
    lines = []
    first = True
    for _family, _type, _proto, canon, sockaddr in results:
        for kind in ("STREAM", "DGRAM", "RAW"):
            lines.append(f"{sockaddr[0]:<15} {kind:<6} {(canon or name) if first else ''}")
            first = False
    return lines


def cmd_resolve(args: argparse.Namespace) -> int:
    import socket as _socket
    import threading

    from ..api.loop import StackLoop
    from ..api.sockdefs import AF_INET, AF_INET6, AI_CANONNAME, SOCK_STREAM
    from ..api.sockets import SocketApi

    if not (args.ip or args.dhcp):
        raise ValueError("give the stack an address: --ip ADDR/LEN or --dhcp")
    if not (args.dns or args.dhcp):
        raise ValueError("give a DNS server with --dns ADDR, or take the lease's with --dhcp")
    stack, netif, device = _tap_stack(args)
    from ..netif.tap import TapDevice
    more, routing = gateway.setup(stack, args, netif,
                                  lambda name, ns: TapDevice(name, mtu=args.mtu, netns=ns, offload=args.offload,
                                                             create=False))
    loop = StackLoop(stack).start()
    try:
        if args.dhcp:
            got = threading.Event()

            def start() -> None:
                from ..apps import DhcpBound
                stack.events.subscribe(DhcpBound, lambda e: got.set())
                _start_dhcp(stack, netif, args.hostname, sys.stderr)  # stdout is getent's lines only
            loop.call(start)
            if not got.wait(args.timeout):
                print(f"lwipy resolve: no DHCP lease within {args.timeout:g} s", file=sys.stderr)
                return 2
        for index, server in enumerate(args.dns or []):
            loop.call(lambda i=index, a=server: stack.dns_setserver(i, ipaddress.ip_address(a)))
        net = SocketApi(loop)
        families = {"4": [AF_INET], "6": [AF_INET6]}.get(args.family, [AF_INET, AF_INET6])
        results: list[tuple[Any, ...]] = []
        errors = []
        for family in families:
            try:
                results += net.getaddrinfo(args.name, None, family, SOCK_STREAM, 0, AI_CANONNAME)
            except _socket.gaierror as e:
                errors.append(e)
        if not results:
            print(f"lwipy resolve: {args.name}: {errors[-1] if errors else 'no address'}", file=sys.stderr)
            return 2  # getent's "key not found"
        for line in _ahosts(results, args.name):
            print(line, flush=True)
        return 0
    finally:
        loop.stop()  # before the device closes: a loop still reading it would die with EBADF
        loop.close()
        device.close()


def _add_tap_args(p: argparse.ArgumentParser, virtual: bool = False) -> None:
    link = p.add_mutually_exclusive_group(required=True)
    if virtual:
        link.add_argument("--virtual", action="store_true",
                          help="the built-in virtual network (no root): the target is a second lwipy stack on a "
                               "virtual Ethernet link in this process")
    link.add_argument("--tap", action=gateway.TapAction,
                      help="an existing TAP device, an Ethernet link (make it with: ip tuntap add dev NAME mode tap "
                           "user YOU; ip addr add 10.0.0.1/24 dev NAME; ip link set NAME up); NAME@NETNS: in that "
                           "namespace. 'up' takes several, each followed by its --ip")
    link.add_argument("--tun", help="a TUN device, a point-to-point link carrying bare IP packets (ip tuntap add dev "
                                    "NAME mode tun): no MAC, no ARP")
    p.add_argument("--ip", action=gateway.IpAction,
                   help="the stack's IPv4 address with prefix, e.g. 10.0.0.2/24 (of the --tap before it)")
    p.add_argument("--ip6", action="append", metavar="ADDR/LEN",
                   help="a static IPv6 address (repeatable); a link-local address is always made")
    p.add_argument("--slaac", action="store_true", help="form IPv6 addresses from router advertisements (SLAAC)")
    p.add_argument("--gw", action=gateway.GwAction, help="default gateway (through the --tap before it)")
    p.add_argument("--mac", help="the stack's MAC (random locally administered when absent; TAP only)")
    p.add_argument("--mtu", type=int, help="set the device's MTU")
    p.add_argument("--netns", help="the network namespace the TAP or TUN lives in")
    p.add_argument("--offload", action="store_true",
                   help="checksum and TCP segmentation offload on the TAP or TUN (virtio-net header): much faster TCP")
    p.add_argument("--pcap", help="write every frame to this pcap file")
    p.add_argument("-o", "--option", action="append", metavar="NAME=VALUE",
                   help="a Config option by name or CONFIG_ symbol (see 'lwipy config'); bools take y/n, 1/0, "
                        "true/false; repeatable, after --sdkconfig")
    p.add_argument("--sdkconfig", metavar="FILE", help="an ESP-IDF project's sdkconfig: its CONFIG_LWIP_* options")
    p.add_argument("--hooks", metavar="FILE.py",
                   help="a Python file of lwIP hooks (ESP_IDF_LWIP_HOOK_FILENAME): its functions named ip4_input, "
                        "ip4_route_src, tcp_isn, ... are installed (see lwipy.core.hooks)")


# Subcommands that live in modules of their own (lwipy/cli/NAME.py), one per line.  Each module has
# ``add_parser(sub)``, which adds its subparser and sets ``func`` to its command.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "config",
    "ppp",
    "iperf",
    "sntp",
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(prog="lwipy", description="a TCP/IP stack in pure Python, modelled on lwIP")
    parser.add_argument("--version", action="version", version=f"lwipy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="a virtual network in this process: ARP, ping, UDP echo, fragmentation, SLAAC, ping6")
    p.add_argument("--pcap", default="lwipy-demo.pcap", help="capture file (default %(default)s; '' for none)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("up", help="run a stack on a TAP or TUN device: ping, UDP echo 7, TCP echo 7/discard 9/"
                                  "chargen 19")
    _add_tap_args(p)
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--advertise", action="store_true",
                   help="be the link's IPv6 router: send router advertisements of the --ip6 prefixes (hosts form "
                        "SLAAC addresses in them)")
    p.add_argument("--rdnss", action="append", metavar="ADDR", help="a DNS server to advertise (RFC 8106); repeatable")
    p.add_argument("--dhcp", action="store_true", help="take the address from a DHCP server (prints the lease and each "
                                                       "renewal); no --ip")
    p.add_argument("--hostname", help="the DHCP client's host name (option 12; default: local_hostname, "
                                      "CONFIG_LWIP_LOCAL_HOSTNAME, espressif); given, the stack also announces "
                                      "NAME.local over mDNS and NAME over NetBIOS")
    p.add_argument("--mdns-service", action="append", default=[], metavar="_TYPE._PROTO:PORT[:K=V,...]",
                   help="a service to publish over mDNS with --hostname (say _http._tcp:80:path=/); repeatable")
    p.add_argument("--dhcp-server", action="store_true",
                   help="serve DHCP from --ip (ESP-IDF's dhcpserver; prints each address it assigns)")
    p.add_argument("--pool", metavar="FIRST-LAST", help="the DHCP server's pool (default: ESP-IDF's, the 100 "
                                                        "addresses after --ip's)")
    p.add_argument("--lease-time", type=int, metavar="UNITS",
                   help="the DHCP server's lease in CONFIG_LWIP_DHCPS_LEASE_UNIT units (60 s; default 120)")
    gateway.add_gateway_args(p)
    p.add_argument("--iperf", action="store_true", help="an iperf 2 server on port 5001, TCP and UDP (iperf -c ADDR)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("ping", help="ping from a stack on a TAP or TUN device, or on the virtual network (--virtual)")
    _add_tap_args(p, virtual=True)
    p.add_argument("target")
    p.add_argument("-c", "--count", type=int, default=4)
    p.add_argument("-i", "--interval", type=float, default=1.0)
    p.add_argument("-s", "--size", type=int, default=56)
    p.add_argument("-W", "--timeout", type=float, default=1.0)
    from .virtual import add_virtual_args
    add_virtual_args(p)
    p.set_defaults(func=cmd_ping)
    p = sub.add_parser("resolve", help="resolve a name through lwipy's DNS resolver on a TAP, printed as getent ahosts")
    _add_tap_args(p)
    p.add_argument("name")
    p.add_argument("--dns", action="append", metavar="ADDR", help="DNS server (MAIN, then BACKUP...); repeatable")
    p.add_argument("--dhcp", action="store_true", help="take the address and the DNS servers from a DHCP lease")
    p.add_argument("--hostname", help="the DHCP client's host name (option 12; default: local_hostname)")
    p.add_argument("-4", dest="family", action="store_const", const="4", help="IPv4 addresses only (A)")
    p.add_argument("-6", dest="family", action="store_const", const="6", help="IPv6 addresses only (AAAA)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a DHCP lease")
    p.set_defaults(func=cmd_resolve)
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "pcap", None) == "":
        args.pcap = None
    try:
        return args.func(args)
    except (ConfigError, OSError, ValueError) as e:
        text = e.strerror if isinstance(e, OSError) and e.strerror and not e.filename else str(e)
        if isinstance(e, ConfigError) and "lwipy config" not in text:
            text += " ('lwipy config' lists every option with its symbol and default)"
        print(f"lwipy {args.command}: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
