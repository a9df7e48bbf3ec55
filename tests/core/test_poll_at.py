"""stack.poll_at() and stack.poll() per wake-up: the modules answer without building lists, and poll() skips the
modules with nothing due.  Nothing may change what they answer: random activity in virtual time (ARP, IGMP, MLD,
neighbour and router discovery, DNS, reassembly, TCP, links going down and up) checked after every step against
reference implementations (the list-building code they replace), a module's poll() shown to do nothing before its
poll_at(), and no deadline left in the past once the simulation settled (every timer fires on time).  pollat11: the
floor StackLoop reads (``Stack.poll_floor()``) is checked against the exact answer after every step too, before
anything asks poll_at() (which makes it exact): every deadline the random steps set was told to the stack."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy import Config, LwipError
from lwipy.apps import PingSession
from lwipy.apps.router_advert import AdvertConfig, AdvertPrefix, AdvertRoute, RouterAdvertiser
from lwipy.core.addr6 import PREFERRED
from lwipy.sim import Simulation
from lwipy.wire.checksum import checksum

_NEVER = float("inf")


# -- reference implementations: each module's poll_at() as it was written before (min() over a built list) ----------
def ref_etharp(m):
    times = [t for e in m.table.values() for t in (e.expires, e.next_request) if t is not None and t != _NEVER]
    times.extend(n.garp_at for n in m.stack.netifs if n.garp_at is not None)
    return min(times) if times else None


def ref_reass(m):
    return min((d.deadline for d in m.pending.values()), default=None)


def ref_igmp(m):
    return min((x.report_at for g in m.groups.values() for x in g.values() if x.report_at is not None), default=None)


def ref_mld6(m):
    times = [g.report_at for gs in m.groups.values() for g in gs.values() if g.report_at is not None]
    if m.periodic_at is not None:
        times.append(m.periodic_at)
    return min(times) if times else None


def ref_rdisc(m):
    times = []
    for netif in m.stack.netifs:
        if not netif.is_usable:
            continue
        if netif.rs_at is not None:
            times.append(netif.rs_at)
        for a in netif.ip6_addrs:
            times.extend(t for t in (a.valid_until, a.preferred_until if a.state == PREFERRED else None)
                         if t is not None)
    times.extend(r.until for r in m.routers)
    times.extend(p.until for p in m.prefixes if p.until is not None)
    times.extend(t for _, t in m.dns_servers if t is not None)
    return min(times) if times else None


def ref_route6(m):
    times = [r.until for r in m.routes if r.until is not None]
    return min(times) if times else None


def ref_nd6(m):
    times = []
    for netif in m.stack.netifs:
        if netif.is_usable:
            times.extend(a.dad_at for a in netif.ip6_addrs if a.dad_at is not None)
    times.extend(n.at for n in m.neighbors.values() if n.at is not None)
    times.extend(t for t in (ref_rdisc(m.rdisc), ref_route6(m.stack.route6)) if t is not None)
    return min(times) if times else None


def modules(stack):
    """(name, module, reference poll_at) for every timed module of ``stack``."""
    return [("etharp", stack.etharp, ref_etharp), ("ip4.reass", stack.ip4.reass, ref_reass),
            ("igmp", stack.igmp, ref_igmp), ("tcp", stack.tcp, lambda m: m.timers.next_at()),
            ("nd6", stack.nd6, ref_nd6), ("ip6.reass", stack.ip6.reass, lambda m: ref_reass(m.buffer)),
            ("mld6", stack.mld6, ref_mld6), ("dns", stack.dns, lambda m: m._next_tick)]


def ref_stack(stack):
    if stack.loopback.queue:
        return stack.now
    if not stack.timers_running:
        return None
    times = [ref(m) for _, m, ref in modules(stack)] + [p.poll_at() for p in stack._pollers]
    due = [t for t in times if t is not None]
    return min(due) if due else None


def check(stack):
    # pollat11: the loop's floor is never later than the exact answer (asked first: poll_at() makes it exact)
    floor, exact = stack.poll_floor(), ref_stack(stack)
    assert exact is None or (floor is not None and floor <= exact), (floor, exact)
    for name, m, ref in modules(stack):
        assert m.poll_at() == ref(m), name
    assert stack.nd6.rdisc.poll_at() == ref_rdisc(stack.nd6.rdisc)
    assert stack.route6.poll_at() == ref_route6(stack.route6)
    assert stack.poll_at() == ref_stack(stack)


def idle_polls_do_nothing(stack):
    """A module whose poll_at() is not due does nothing when polled (what lets stack.poll() skip it)."""
    now = stack.now
    for name, m, _ in modules(stack):
        due = m.poll_at()
        if due is not None and due <= now:
            continue
        stats = stack.stats.as_dict()
        m.poll(now)
        assert stack.stats.as_dict() == stats, name
        assert m.poll_at() == due, name


# -- a world to disturb -----------------------------------------------------------------------------------------------
def world():
    """``a`` and ``b`` on one link, IPv4 and IPv6 (autoconfiguration, reassembly on); ``b`` advertises itself as
    a router with short lifetimes (a prefix, a route, a DNS server), so router discovery's deadlines come and go."""
    sim = Simulation(seed=5)
    hub = sim.hub()
    cfg = dict(ipv6=True, ipv6_autoconfig=True, ip4_reassembly=True, ip6_reassembly=True)
    a = sim.add_stack("a", hub, Config(**cfg), ip="10.0.0.1/24", gateway="10.0.0.254", ip6_linklocal=True)
    b = sim.add_stack("b", hub, Config(**cfg), ip="10.0.0.2/24", ip6_linklocal=True)
    RouterAdvertiser(b)
    return sim, a, b


def advert(n: int) -> AdvertConfig:
    return AdvertConfig(max_interval=4.0 + n % 5, router_lifetime=9 + n % 7, rdnss=["2001:db8:1::53"],
                        rdnss_lifetime=5 + n % 11, routes=[AdvertRoute("2001:db8:99::/48", lifetime=3 + n % 13)],
                        prefixes=[AdvertPrefix("2001:db8:1::/64", valid_lifetime=8 + n % 17,
                                               preferred_lifetime=4 + n % 5)])


def lone_fragment(a, b, ident: int) -> bytes:
    """The first fragment of a UDP datagram from ``a`` to ``b`` whose rest never comes (reassembly waits)."""
    payload = bytes(16)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x2000, 64, 17, 0,
                               a.netifs[-1].ip4_packed, b.netifs[-1].ip4_packed))
    struct.pack_into("!H", ip, 10, checksum(ip))
    return b.netifs[-1].hwaddr + a.netifs[-1].hwaddr + b"\x08\x00" + bytes(ip) + payload


LISTENING: dict[int, set[int]] = {}


def act(sim, a, b, action: int, n: int) -> None:
    na, nb = a.netifs[-1], b.netifs[-1]
    if action == 0:
        PingSession(a, "10.0.0.2", count=1 + n % 3, interval=0.2)
    elif action == 1:
        pcb = a.udp.new()
        try:
            pcb.sendto(b"x", f"10.0.0.{50 + n % 20}", 9)  # nobody: ARP retries, then the entry times out
        finally:
            pcb.close()
    elif action == 2:
        a.igmp.join(na, f"239.1.1.{n % 5 + 1}")
    elif action == 3:
        group = IPv4Address(f"239.1.1.{n % 5 + 1}")
        if a.igmp.is_member(na, group):
            a.igmp.leave(na, group)
    elif action == 4:
        a.mld6.join(na, IPv6Address(f"ff12::{n % 5 + 1}").packed)
    elif action == 5:
        pcb = a.udp.new(ip6=True)
        try:
            pcb.sendto(b"x", f"fe80::{n % 7 + 100}%{na.name}", 9)  # neighbour discovery, unanswered
        finally:
            pcb.close()
    elif action == 6:
        a.dns_setserver(0, "10.0.0.2")
        a.dns.gethostbyname(f"host{n}.example")  # unanswered: the resolver ticks, then gives up
    elif action == 7:
        b.input(nb, lone_fragment(a, b, n), sim.now)
    elif action == 8:
        port = 7000 + n % 50
        if port not in LISTENING.setdefault(id(b), set()):
            LISTENING[id(b)].add(port)
            b.tcp.listen(port)
        pcb = a.tcp.connect("10.0.0.2", port)
        pcb.send(b"data" * (n % 10 + 1))
        if n % 2:
            pcb.close()
    elif action == 9:
        na.set_link_up(not na.link_up)
    elif action == 10:
        nb.set_link_up(False)
        nb.set_link_up(True)
    elif action == 11:
        b.apps["radv"].advertise(nb, advert(n))
    elif action == 12:
        b.apps["radv"].stop(nb)
    elif action == 13:
        a.igmp.report_groups(na)  # as a query or the netif coming up again
    elif action == 14:
        a.mld6.netif_up(na)
    elif action == 15:
        a.nd6.learn(na, IPv6Address(f"fe80::{n % 7 + 200}").packed, nb.hwaddr, reachable=n % 2 == 0)


ACTIONS = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 1000), st.floats(0.0, 30.0)), min_size=1, max_size=12)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_poll_at_is_the_earliest_deadline_of_every_module(steps):
    sim, a, b = world()
    for stack in (a, b):
        check(stack)
    for action, n, dt in steps:
        try:
            act(sim, a, b, action, n)
        except LwipError:  # an action the state refuses (no route while the link is down, no pcb left) is no test
            pass
        for stack in (a, b):
            check(stack)
        sim.run(dt)
        for stack in (a, b):
            check(stack)
            idle_polls_do_nothing(stack)
            due = stack.poll_at()
            assert due is None or due > sim.now  # settled: nothing due is left waiting (every timer fired on time)


def test_timers_fire_on_time_in_virtual_time():
    """The stack is polled exactly at its deadlines: the ARP retries of an unanswered address go at 1 s intervals
    from the first request, and the entry is dropped at arp_maxpending, each at the deadline poll_at() named."""
    sim, a, _ = world()
    sim.run(1.0)
    requests = []
    real = a.etharp.request

    def spy(netif, target, unicast_mac=None):
        if str(target) == "10.0.0.77":
            requests.append(sim.now)
        real(netif, target, unicast_mac)

    a.etharp.request = spy
    start = sim.now
    a.udp.new().sendto(b"x", "10.0.0.77", 9)
    sim.run(a.config.arp_maxpending + 2.0)
    assert requests[0] == start
    assert requests[1:] == [start + k for k in range(1, len(requests))]
    assert len(requests) >= 2
    assert not any(str(k[1]) == "10.0.0.77" for k in a.etharp.table)
