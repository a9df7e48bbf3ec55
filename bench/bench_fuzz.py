#!/usr/bin/env python3
"""A long fuzz run: millions of mutated frames into a stack that holds live state, reporting what it costs.

    python3 bench/bench_fuzz.py [--frames 10000000] [--seed 1] [--coverage]

The victim (``strict=True``, so any exception escapes) is an lwipy host on a virtual hub with a peer lwipy host: it
holds a live TCP connection over IPv4 and one over IPv6 that keep moving data, IPv6 neighbours, IPv4 and IPv6
multicast groups, a UDP echo port, IPv4 reassembly and a listening TCP port.  The seeds are every frame of a warm-up
on that link (TCP, ARP, ND, MLD, IGMP, ping, ping6, UDP, fragments) plus scapy-made ones for rarer paths (ICMP
errors quoting our packets, RAs, redirects, IPv6 extension headers, fragments of both families).  Each frame is a
seed mutated by bit flips (mostly in the first 80 bytes), truncation, extension, splices of other seeds, and, for
half of them, checksums repaired so that the mutation reaches the code behind the checks.

Reported: frames per second, escapes (exceptions out of ``Stack.input``, each printed once with its traceback),
the process's RSS and the live object count after every 100,000 frames, and that both connections still carry data
and ping still works at each report.  With ``--coverage`` (needs the ``coverage`` package) statement coverage of
``lwipy/core`` and ``lwipy/wire`` is measured over the run (several times slower).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import ipaddress
import logging
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
PARTS = ("core", "wire")

# coverage starts before lwipy is imported, so that the module-level statements (def, class) count as run
COVERAGE = None
if "--coverage" in sys.argv:
    import coverage
    COVERAGE = coverage.Coverage(source=[str(ROOT / "src" / "lwipy" / part) for part in PARTS], data_file=None)
    COVERAGE.start()

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from lwipy import Config  # noqa: E402
from lwipy.apps import PingSession, UdpEchoServer  # noqa: E402
from lwipy.core.addr6 import PREFERRED  # noqa: E402
from lwipy.sim import Simulation  # noqa: E402
from lwipy.wire.checksum import checksum, pseudo_sum_v4, pseudo_sum_v6  # noqa: E402

VICTIM_MAC, PEER_MAC = "02:00:00:00:0f:01", "02:00:00:00:0f:02"
VICTIM4, PEER4 = "10.5.0.1", "10.5.0.2"
VICTIM6, PEER6 = "2001:db8:5::1", "2001:db8:5::2"


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


class World:
    """The victim, its peer, their live connections, and the frames seen on the link."""

    def __init__(self, seed: int) -> None:
        self.sim = sim = Simulation(seed=seed)
        hub = sim.hub()
        cfg = Config(ip4_reassembly=True, ipv6_send_router_solicit=True, tcp_wnd_default=65535,
                     tcp_snd_buf_default=65535)
        self.victim = sim.add_stack("victim", hub, cfg, hwaddr=VICTIM_MAC, ip=f"{VICTIM4}/24", ip6_linklocal=True,
                                    ip6=f"{VICTIM6}/64")
        self.peer = sim.add_stack("peer", hub, cfg, hwaddr=PEER_MAC, ip=f"{PEER4}/24", ip6_linklocal=True,
                                  ip6=f"{PEER6}/64")
        self.netif = self.victim.netifs[-1]
        self.seen: list[bytes] = []
        self.hub = hub
        hub.taps.append(lambda port, frame: self.seen.append(frame))
        assert sim.run_until(lambda: all(a.state == PREFERRED for s in (self.victim, self.peer)
                                         for a in s.netifs[-1].ip6_addrs), 10)
        UdpEchoServer(self.victim, 7)
        self.victim.tcp.listen(80)
        for stack in (self.victim, self.peer):
            pcb = stack.udp.new(ip6=True)
            pcb.reuse_addr = True
            pcb.bind(None, 5353)
            pcb.join_group("224.0.0.251")
            pcb.join_group("ff02::fb")
        self.accepted: list = []
        for port, family in ((9000, None), (9001, "::")):
            listener = self.peer.tcp.listen(port, family)
            listener.on_event = lambda lst: self.accepted.append(lst.accept())
        self.targets = [(PEER4, 9000), (PEER6, 9001)]
        self.conns = [self._connect(*t) for t in self.targets]
        self.moved = 0
        self.reconnects = 0
        self._heal = heal_frames(self.peer)

    def _connect(self, target: str, port: int):
        self.accepted.clear()
        client = self.victim.tcp.connect(target, port)
        assert self.sim.run_until(lambda: self.accepted and client.state_name == "ESTABLISHED", 10)
        return client, self.accepted[0]

    def traffic(self, rounds: int = 1) -> None:
        """Move some data both ways on both connections, ping and ping6: the live state the fuzzing runs against."""
        for _ in range(rounds):
            for a, b in self.conns:
                for src in (a, b):
                    if src.state_name == "ESTABLISHED":
                        src.send(random.randbytes(3000))
            pings = [PingSession(self.victim, PEER4, count=1, size=3000),  # fragmented (reassembly)
                     PingSession(self.victim, PEER6, count=1)]
            self.sim.run_until(lambda pings=pings: all(p.done for p in pings), 5)
            for a, b in self.conns:
                for pcb in (a, b):
                    while pcb.readable:
                        self.moved += len(pcb.recv())

    def alive(self) -> bool:
        """The victim still works.  First the peer announces itself again (fuzzed ARP and ND frames may have taught
        the victim a wrong MAC for it, as they would teach lwIP or Linux).  Then each connection must deliver 1000
        bytes within two minutes of virtual time; one that a fuzzed frame ended, or desynchronised (a mutated replay
        that was acceptable: in the window with an acceptable ACK, which any TCP takes), is made again and counted
        in ``reconnects``, and the new one must deliver.  Last, the victim answers ping and ping6."""
        for frame in self._heal:
            self.victim.input(self.netif, frame, self.sim.now)
        self.sim.run(0.1)
        for i in range(len(self.conns)):
            if not self._delivers(i):
                for pcb in self.conns[i]:
                    if pcb.state_name != "CLOSED":
                        pcb.abort()
                self.reconnects += 1
                self.conns[i] = self._connect(*self.targets[i])
                if not self._delivers(i):
                    return False
        pings = [PingSession(self.peer, VICTIM4, count=1), PingSession(self.peer, VICTIM6, count=1)]
        self.sim.run_until(lambda: all(p.done for p in pings), 5)
        self.traffic()
        return all(p.received == 1 for p in pings)

    def _delivers(self, i: int) -> bool:
        a, b = self.conns[i]
        if a.state_name != "ESTABLISHED" or b.state_name != "ESTABLISHED":
            return False
        while b.readable:
            b.recv()
        a.send(b"x" * 1000)
        got = [0]

        def arrived() -> bool:  # a fuzzed but acceptable zero window leaves persist backing off: give it time
            while b.readable:
                got[0] += len(b.recv())
            return got[0] >= 1000

        return self.sim.run_until(arrived, 120)


def heal_frames(peer) -> list[bytes]:
    """What the real peer says to put the victim's caches right: an ARP reply and NAs with the override flag for its
    global and link-local addresses."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import ARP, Ether

    e = Ether(dst=VICTIM_MAC, src=PEER_MAC)
    frames = [e / ARP(op=2, psrc=PEER4, hwsrc=PEER_MAC, pdst=VICTIM4, hwdst=VICTIM_MAC)]
    for a in peer.netifs[-1].ip6_addrs:
        addr = str(ipaddress.IPv6Address(a.addr))
        frames.append(e / IPv6(src=addr, dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt=addr, R=0, S=0, O=1)
                      / ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC))
    return [bytes(f) for f in frames]


def scapy_seeds() -> list[bytes]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
    from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA,
                                    ICMPv6ND_Redirect, ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, ICMPv6NDOptSrcLLAddr,
                                    ICMPv6PacketTooBig, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                    IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    e4 = Ether(dst=VICTIM_MAC, src=PEER_MAC)
    ip4 = IP(src=PEER4, dst=VICTIM4)
    ip6 = IPv6(src=PEER6, dst=VICTIM6)
    ll = IPv6(src="fe80::f:2", dst="ff02::1", hlim=255)
    quoted4 = bytes(IP(src=VICTIM4, dst=PEER4) / UDP(sport=7, dport=40000) / (b"q" * 8))
    quoted6 = bytes(IPv6(src=VICTIM6, dst=PEER6) / TCP(sport=9000, dport=40000))
    seeds = [
        e4 / ARP(op=1, psrc=PEER4, pdst=VICTIM4, hwsrc=PEER_MAC), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=2),
        e4 / ip4 / ICMP(type=3, code=4, nexthopmtu=576) / quoted4, e4 / ip4 / ICMP(type=11) / quoted4,
        e4 / ip4 / ICMP(type=5, gw="10.5.0.9") / quoted4, e4 / ip4 / TCP(dport=80, flags="S", options=[
            ("MSS", 1460), ("WScale", 14), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None)]),
        e4 / ip4 / UDP(dport=7) / b"echo", e4 / Dot1Q(vlan=5) / ip4 / UDP(dport=7),
        e4 / ip6 / ICMPv6PacketTooBig(mtu=1280) / quoted6, e4 / ip6 / ICMPv6DestUnreach() / quoted6,
        e4 / ll / ICMPv6ND_RA(routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC)
        / ICMPv6NDOptPrefixInfo(prefix="2001:db8:6::", prefixlen=64) / ICMPv6NDOptRDNSS(dns=["2001:db8::53"]),
        e4 / IPv6(src="fe80::f:2", dst=VICTIM6, hlim=255) / ICMPv6ND_Redirect(tgt="fe80::9", dst=PEER6),
        e4 / IPv6(src="fe80::f:2", dst=VICTIM6, hlim=255) / ICMPv6ND_NS(tgt=VICTIM6),
        e4 / IPv6(src="fe80::f:2", dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt="fe80::f:2", R=1),
        e4 / ip6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / ICMPv6EchoRequest(),
        e4 / ip6 / IPv6ExtHdrFragment(m=1, id=7) / ICMPv6EchoRequest(data=b"x" * 64),
    ]
    seeds += [e4 / f for f in fragment(ip4 / UDP(dport=7) / (b"f" * 3000), fragsize=1000)]
    return [bytes(s) for s in seeds]


def repair(frame: bytearray) -> None:
    """Recompute the IPv4 header checksum and the TCP/UDP/ICMP(v6) checksum of a frame, where the headers still
    say where they are, so that a mutated header reaches the code behind the checksum checks."""
    off = 14
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x8100 and len(frame) >= 18:
        ethertype, off = int.from_bytes(frame[16:18], "big"), 18
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0xF) * 4
        if ihl < 20 or len(frame) < off + ihl:
            return
        frame[off + 10:off + 12] = b"\0\0"
        frame[off + 10:off + 12] = checksum(frame[off:off + ihl]).to_bytes(2, "big")
        total = min(int.from_bytes(frame[off + 2:off + 4], "big"), len(frame) - off)
        proto, l4 = frame[off + 9], off + ihl
        if int.from_bytes(frame[off + 6:off + 8], "big") & 0x3FFF or total <= ihl:
            return  # a fragment: no transport header to repair
        field = {6: 16, 17: 6, 1: 2}.get(proto)
        if field is None or l4 + field + 2 > off + total:
            return
        frame[l4 + field:l4 + field + 2] = b"\0\0"
        pseudo = 0 if proto == 1 else pseudo_sum_v4(bytes(frame[off + 12:off + 16]), bytes(frame[off + 16:off + 20]),
                                                      proto, total - ihl)
        frame[l4 + field:l4 + field + 2] = checksum(frame[l4:off + total], pseudo).to_bytes(2, "big")
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        nh, l4 = frame[off + 6], off + 40
        plen = min(int.from_bytes(frame[off + 4:off + 6], "big"), len(frame) - l4)
        field = {6: 16, 17: 6, 58: 2}.get(nh)
        if field is None or l4 + field + 2 > l4 + plen:
            return
        frame[l4 + field:l4 + field + 2] = b"\0\0"
        pseudo = pseudo_sum_v6(bytes(frame[off + 8:off + 24]), bytes(frame[off + 24:off + 40]), nh, plen)
        frame[l4 + field:l4 + field + 2] = checksum(frame[l4:l4 + plen], pseudo).to_bytes(2, "big")


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    f = bytearray(rng.choice(seeds))
    kind = rng.random()
    if kind < 0.6:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(min(len(f), 80)) if rng.random() < 0.85 else rng.randrange(len(f))
            f[i] = rng.randrange(256) if rng.random() < 0.5 else f[i] ^ (1 << rng.randrange(8))
    elif kind < 0.75:
        del f[rng.randrange(1, len(f)):]
    elif kind < 0.85:
        f += rng.randbytes(rng.randrange(1, 200))
    elif kind < 0.95:
        other = rng.choice(seeds)
        cut = rng.randrange(len(f))
        f[cut:] = other[cut:] if len(other) > cut else other[rng.randrange(len(other)):]
    else:
        i = rng.randrange(len(f))
        f[i:i + 2] = rng.choice([b"\xff\xff", b"\0\0", b"\x7f\xff", b"\x80\x00"])
    if rng.random() < 0.5:
        repair(f)
    return bytes(f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", type=int, default=100_000, help="frames between reports")
    ap.add_argument("--coverage", action="store_true", help="measure statement coverage of lwipy/core and wire")
    args = ap.parse_args()

    cov = COVERAGE
    world = World(args.seed)
    world.traffic(5)
    world.hub.taps.clear()
    seeds = list(dict.fromkeys(world.seen)) + scapy_seeds()
    print(f"{len(seeds)} seeds ({len(world.seen)} frames of live traffic, the rest from scapy); "
          f"fuzzing {args.frames:,} frames")
    rng = random.Random(args.seed)
    victim, netif, sim = world.victim, world.netif, world.sim
    escapes: dict[str, int] = {}
    start = time.monotonic()
    rss0 = rss_mib()
    print(f"{'frames':>11} {'frames/s':>9} {'RSS MiB':>8} {'objects':>9} {'alive':>6} {'escapes':>8} "
          f"{'reconnects':>10}")
    done = 0
    while done < args.frames:
        batch = min(args.report, args.frames - done)
        t0 = time.monotonic()
        for i in range(batch):
            frame = mutate(rng, seeds)
            try:
                victim.input(netif, frame, sim.now)
            except Exception as e:  # an escape: the bug this bench exists to find
                key = f"{type(e).__name__}: {e}"[:200]
                if key not in escapes:
                    print(f"ESCAPE after {done + i} frames: frame {frame.hex()}")
                    traceback.print_exc()
                escapes[key] = escapes.get(key, 0) + 1
            if i % 200 == 199:
                sim.run(0.05)  # timers, retransmissions, and the replies the victim sent reach the peer
        done += batch
        rate = batch / (time.monotonic() - t0)
        alive = world.alive()
        gc.collect()
        print(f"{done:>11,} {rate:>9,.0f} {rss_mib():>8.1f} {len(gc.get_objects()):>9,} {str(alive):>6} "
              f"{sum(escapes.values()):>8} {world.reconnects:>10}", flush=True)
    took = time.monotonic() - start
    print(f"\n{done:,} frames in {took:.0f} s ({done / took:,.0f} frames/s); escapes: {sum(escapes.values())}; "
          f"RSS {rss0:.1f} -> {rss_mib():.1f} MiB; victim counters: link.recv {victim.stats.link.recv:,}, "
          f"drops ip {victim.stats.ip.drop:,} ip6 {victim.stats.ip6.drop:,} tcp {victim.stats.tcp.drop:,}; taken by "
          f"the fast paths: TCP over IPv4 {victim.tcp.fast_taken:,}, over IPv6 {victim.tcp.fast_taken6:,}, UDP "
          f"{victim.udp.fast_taken:,}, echo {victim.icmp.fast_echoes:,}, echo over IPv6 {victim.icmp6.fast_echoes:,}")
    for key, n in escapes.items():
        print(f"  {n} x {key}")
    if cov is not None:
        cov.stop()
        import io
        out = io.StringIO()
        for part in PARTS:
            total = cov.report(include=[str(ROOT / "src" / "lwipy" / part / "*")], file=out)
            print(f"statement coverage of lwipy/{part}: {total:.1f}%")
        detail = ROOT / "bench" / "fuzz-coverage.txt"
        detail.write_text(out.getvalue())
        print(f"(per file: {detail})")
    digest = hashlib.sha256(repr(sorted(escapes.items())).encode()).hexdigest()[:12]
    print(f"escape digest {digest}")
    return 1 if escapes or not alive else 0


if __name__ == "__main__":
    raise SystemExit(main())
