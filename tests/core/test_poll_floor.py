"""pollat11: ``Stack.poll_floor()``, the lower bound of ``poll_at()`` that StackLoop reads in a turn cut short (a
device that never runs dry) instead of asking each module (tests/core/test_poll_at.py checks ``poll_at()`` itself,
and that the floor stays below it through random activity).

- Each place that sets a deadline lowers the floor: one test per place, on a stack whose floor was exact and later
  than the new deadline, so a place that forgot to tell the stack fails its test.
- Strict stacks (as tests make them) check the floor against every module in ``poll()`` and ``poll_at()`` and name
  the module whose deadline is earlier.
- TCP's part is its deadline heap's top and the pollers are asked; ``poll()`` and ``poll_at()`` make the floor exact
  again, so a deadline that was cleared or moved later wakes the loop once, and the loop does not spin on it.
- StackLoop, in virtual time (its sleeps move a clock on instead of sleeping), wakes for each kind of timer exactly when
  it is due, and with a device that always has another frame
  (every turn cut short: the floor read) runs each within a turn or two of its time.  These stacks are not strict:
  the loop is shown to wake in time without the strict check's help.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lwipy.api.loop as loop_module
from helpers import OWN_MAC, PEER_MAC, CaptureDevice, examples
from lwipy import Config, LwipError, Stack
from lwipy.api.loop import StackLoop
from lwipy.netif.device import Device
from lwipy.core.addr6 import PREFERRED
from lwipy.wire.arp import OP_REQUEST, ArpPacket
from lwipy.wire.checksum import checksum
from lwipy.wire.icmpv6 import MLD_QUERY, fill_checksum
from lwipy.wire.ipv6 import Ipv6Header
from lwipy.wire.mld import MldMessage
from lwipy.wire.ndp import PrefixInfo, Rdnss, RouteInfo, RouterAdvert

INF = float("inf")
OWN4, PEER4 = IPv4Address("10.0.0.1").packed, IPv4Address("10.0.0.2").packed
PEER_LL = IPv6Address("fe80::99").packed
PREFIX = IPv6Address("2001:db8:1::").packed
#: no periodic deadlines (gratuitous ARP, MLD reports), so that a settled stack has none at all: its floor is inf
QUIET = dict(esp_gratuitous_arp=False, esp_mldv6_report=False, ip4_reassembly=True, ip6_reassembly=True,
             ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=2)


def settle(stack: Stack, horizon: float = 30.0) -> None:
    """Run (exactly, poll_at() driven) every deadline due in the next ``horizon`` seconds: duplicate address detection,
    router solicitations and the first MLD reports are over."""
    end = stack.now + horizon
    for _ in range(1000):
        due = stack.poll_at()
        if due is None or due > end:
            return
        stack.poll(max(due, stack.now))
    raise AssertionError("the stack did not settle")


def quiet_stack(strict: bool = False, **options) -> tuple[Stack, object, CaptureDevice]:
    """A stack with one Ethernet netif (10.0.0.1/24 and a link-local IPv6 address) whose deadlines have all run out."""
    stack = Stack(Config(**{**QUIET, **options}), seed=3, strict=strict)
    dev = CaptureDevice()
    netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC, ip6_linklocal=stack.config.ipv6)
    settle(stack)
    dev.take()
    return stack, netif, dev


def exact(stack: Stack) -> float:
    """The floor made exact (poll_at() does that) and read: inf when nothing is pending."""
    stack.poll_at()
    floor = stack.poll_floor()
    return INF if floor is None else floor


# -- frames from the peer ----------------------------------------------------------------------------------------------
def eth(ethertype: int, payload: bytes, dst: bytes = OWN_MAC) -> bytes:
    return dst + PEER_MAC + ethertype.to_bytes(2, "big") + payload


def arp_request(sender: str) -> bytes:
    buf = bytearray(ArpPacket.buffer_len)
    ArpPacket(OP_REQUEST, PEER_MAC, IPv4Address(sender).packed, bytes(6), OWN4).emit(buf, 0)
    return eth(0x0806, bytes(buf), b"\xff" * 6)


def lone_fragment4(ident: int) -> bytes:
    """The first fragment of a UDP datagram to us whose rest never comes."""
    payload = bytes(16)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x2000, 64, 17, 0, PEER4, OWN4))
    struct.pack_into("!H", ip, 10, checksum(ip))
    return eth(0x0800, bytes(ip) + payload)


def ip6(netif, next_header: int, payload: bytes, hop_limit: int = 64) -> bytes:
    hdr = bytearray(40)
    Ipv6Header(PEER_LL, netif.ip6_addrs[0].addr, next_header, hop_limit, payload_len=len(payload)).emit(hdr)
    return eth(0x86DD, bytes(hdr) + payload)


def lone_fragment6(netif, ident: int) -> bytes:
    return ip6(netif, 44, struct.pack("!BBHI", 17, 0, 1, ident) + bytes(16))  # offset 0, more fragments


def icmp6(netif, msg, hop_limit: int = 255) -> bytes:
    body = bytearray(msg.buffer_len)
    msg.emit(body, 0)
    fill_checksum(body, 0, len(body), PEER_LL, netif.ip6_addrs[0].addr)
    return ip6(netif, 58, bytes(body), hop_limit)


def advert(netif, router_lifetime: int = 0, options=()) -> bytes:
    return icmp6(netif, RouterAdvert(64, False, False, router_lifetime, 0, 0, list(options)))


# -- each place that sets a deadline ------------------------------------------------------------------------------------
# each takes a quiet stack and ``mark``, prepares what it needs, calls mark() (which makes the floor exact and notes it)
# and then sets one deadline as the stack would, and returns that deadline (read from the object that holds it)
def arp_pending(stack, netif, mark):
    mark()
    stack.udp.new().sendto(b"x", "10.0.0.77", 9)  # nobody answers: ARP asks again in a second
    return stack.etharp.table[(netif.index, IPv4Address("10.0.0.77"))].next_request


def arp_learned(stack, netif, mark):
    mark()
    stack.input(netif, arp_request("10.0.0.9"), stack.now)  # a neighbour asks for us: its entry, until it expires
    return stack.etharp.table[(netif.index, IPv4Address("10.0.0.9"))].expires


def arp_gratuitous(stack, netif, mark):
    netif.set_link_up(False)
    mark()
    netif.set_link_up(True)  # the address announced, and again every garp_tmr_interval
    return netif.garp_at


def ip4_reassembly(stack, netif, mark):
    mark()
    stack.input(netif, lone_fragment4(7), stack.now)
    return next(iter(stack.ip4.reass.pending.values())).deadline


def ip6_reassembly(stack, netif, mark):
    mark()
    stack.input(netif, lone_fragment6(netif, 7), stack.now)
    return next(iter(stack.ip6.reass.buffer.pending.values())).deadline


def igmp_join(stack, netif, mark):
    mark()
    stack.igmp.join(netif, "239.1.2.3")
    return stack.igmp.groups[netif.index][IPv4Address("239.1.2.3")].report_at


def igmp_report_again(stack, netif, mark):
    stack.igmp.join(netif, "239.1.2.3")
    settle(stack)
    mark()
    stack.igmp.report_groups(netif)  # what a query or the netif coming up again does: a report soon
    return stack.igmp.groups[netif.index][IPv4Address("239.1.2.3")].report_at


def mld_join(stack, netif, mark):
    mark()
    group = IPv6Address("ff12::1").packed
    stack.mld6.join(netif, group)
    return stack.mld6.groups[netif.index][group].report_at


def _reports6(stack, netif):
    return min(g.report_at for g in stack.mld6.groups[netif.index].values() if g.report_at is not None)


def mld_query(stack, netif, mark):
    mark()
    stack.input(netif, icmp6(netif, MldMessage(MLD_QUERY, 5000, bytes(16)), hop_limit=1), stack.now)
    return _reports6(stack, netif)


def mld_netif_up(stack, netif, mark):
    mark()
    stack.mld6.netif_up(netif)
    return _reports6(stack, netif)


def mld_periodic(stack, netif, mark):
    all_nodes = IPv6Address("ff02::1").packed
    while stack.mld6.is_member(netif, all_nodes):
        stack.mld6.leave(netif, all_nodes)
    stack.mld6.periodic_at = None  # (cleared: as if no group had been joined yet)
    mark()
    stack.mld6.join(netif, all_nodes)  # never reported itself, but it starts the periodic reports
    return stack.mld6.periodic_at


def nd6_new_neighbour(stack, netif, mark):
    mark()
    stack.udp.new(ip6=True).sendto(b"x", f"fe80::77%{netif.name}", 9)  # solicited, again in retrans_timer
    return stack.nd6.neighbors[(netif.index, IPv6Address("fe80::77").packed)].at


def nd6_delay(stack, netif, mark):
    addr = IPv6Address("fe80::66").packed
    stack.nd6.learn(netif, addr, PEER_MAC)  # STALE: no deadline
    mark()
    stack.udp.new(ip6=True).sendto(b"x", f"fe80::66%{netif.name}", 9)  # DELAY, then a probe
    return stack.nd6.neighbors[(netif.index, addr)].at


def nd6_reachable(stack, netif, mark):
    mark()
    addr = IPv6Address("fe80::55").packed
    stack.nd6.learn(netif, addr, PEER_MAC, reachable=True)
    return stack.nd6.neighbors[(netif.index, addr)].at


def nd6_dad(stack, netif, mark):
    mark()
    # the interface identifier of the link-local address: the same solicited-node group, so no MLD report
    return netif.add_ip6_address(PREFIX[:8] + netif.ip6_iid).dad_at


def rdisc_solicit(stack, netif, mark):
    mark()
    stack.nd6.netif_up(netif)
    return netif.rs_at


def rdisc_router(stack, netif, mark):
    mark()
    stack.input(netif, advert(netif, 100), stack.now)
    return stack.nd6.rdisc.routers[0].until


def rdisc_router_sooner(stack, netif, mark):
    stack.input(netif, advert(netif, 1000), stack.now)
    mark()
    stack.input(netif, advert(netif, 100), stack.now)
    return stack.nd6.rdisc.routers[0].until


def _on_link(valid: int) -> PrefixInfo:
    return PrefixInfo(64, True, False, valid, valid, PREFIX)


def rdisc_prefix(stack, netif, mark):
    mark()
    stack.input(netif, advert(netif, 0, [_on_link(100)]), stack.now)
    return stack.nd6.rdisc.prefixes[0].until


def rdisc_prefix_sooner(stack, netif, mark):
    stack.input(netif, advert(netif, 0, [_on_link(1000)]), stack.now)
    mark()
    stack.input(netif, advert(netif, 0, [_on_link(100)]), stack.now)
    return stack.nd6.rdisc.prefixes[0].until


def slaac_preferred_sooner(stack, netif, mark):
    stack.input(netif, advert(netif, 0, [PrefixInfo(64, False, True, 1000, 500, PREFIX)]), stack.now)
    settle(stack)  # duplicate address detection: the address is preferred
    mark()
    stack.input(netif, advert(netif, 0, [PrefixInfo(64, False, True, 1000, 50, PREFIX)]), stack.now)
    return netif.ip6_addr_of(PREFIX[:8] + netif.ip6_iid).preferred_until


def rdisc_rdnss(stack, netif, mark):
    mark()
    stack.input(netif, advert(netif, 0, [Rdnss(100, [IPv6Address("2001:db8::53").packed])]), stack.now)
    return stack.nd6.rdisc.dns_servers[0][1]


def nd6_dns_servers_set(stack, netif, mark):
    mark()
    stack.nd6.dns_servers = [(IPv6Address("2001:db8::53").packed, stack.now + 30)]
    return stack.now + 30


def _route_info(lifetime: int) -> RouteInfo:
    return RouteInfo(48, 0, lifetime, IPv6Address("2001:db8:99::").packed)


def route6_route(stack, netif, mark):
    mark()
    stack.input(netif, advert(netif, 0, [_route_info(100)]), stack.now)
    return stack.route6.routes[0].until


def route6_route_sooner(stack, netif, mark):
    stack.input(netif, advert(netif, 0, [_route_info(1000)]), stack.now)
    mark()
    stack.input(netif, advert(netif, 0, [_route_info(100)]), stack.now)
    return stack.route6.routes[0].until


def address_lifetime(stack, netif, mark):
    mark()
    # without duplicate address detection the address is preferred at once, its lifetimes counted from now
    return netif.add_ip6_address(PREFIX[:8] + netif.ip6_iid, valid=100, preferred=50).preferred_until


def address_preferred(stack, netif, mark):
    a = netif.add_ip6_address(PREFIX[:8] + netif.ip6_iid, valid=100, preferred=50)
    a.dad_at = None  # (cleared: the detection is not what this test is about)
    mark()  # the valid lifetime counts; the preferred one only once the address is preferred
    netif.ip6_addr_set_state(a, PREFERRED)
    return a.preferred_until


def netif_usable_again(stack, netif, mark):
    a = netif.add_ip6_address(PREFIX[:8] + netif.ip6_iid)  # tentative, detection pending
    netif.set_link_up(False)  # not usable: its detection waits, and poll_at() does not count it
    a.dad_at = stack.now + 0.001  # (sooner than anything the link coming up sets)
    mark()
    netif.set_link_up(True)
    return a.dad_at


def dns_query(stack, netif, mark):
    stack.etharp.add_static("10.0.0.2", PEER_MAC)  # (no ARP retry in the same second as the resolver's tick)
    stack.dns_setserver(0, "10.0.0.2")
    mark()
    stack.dns.gethostbyname("host.example")  # unanswered: the resolver ticks every second
    return stack.dns.poll_at()


SITES = {f.__name__: (f, opts) for f, opts in [
    (arp_pending, {}), (arp_learned, {}), (arp_gratuitous, dict(ipv6=False, esp_gratuitous_arp=True)),
    (ip4_reassembly, {}), (ip6_reassembly, {}), (igmp_join, {}), (igmp_report_again, {}), (mld_join, {}),
    (mld_query, {}), (mld_netif_up, {}), (mld_periodic, dict(esp_mldv6_report=True)), (nd6_new_neighbour, {}),
    (nd6_delay, {}), (nd6_reachable, {}), (nd6_dad, {}), (rdisc_solicit, {}), (rdisc_router, {}),
    (rdisc_router_sooner, {}), (rdisc_prefix, {}), (rdisc_prefix_sooner, {}), (slaac_preferred_sooner, {}),
    (rdisc_rdnss, {}), (nd6_dns_servers_set, {}), (route6_route, {}), (route6_route_sooner, {}),
    (address_lifetime, dict(ipv6_dup_detect_attempts=0)), (address_preferred, {}), (netif_usable_again, {}),
    (dns_query, {})]}


@pytest.mark.parametrize("site", SITES)
def test_each_place_that_sets_a_deadline_lowers_the_floor(site):
    arm, options = SITES[site]
    stack, netif, _ = quiet_stack(**options)
    before = []
    when = arm(stack, netif, lambda: before.append(exact(stack)))
    assert when is not None and len(before) == 1
    assert when < before[0], "not a test: the floor was no later than the new deadline already"
    floor = stack.poll_floor()
    assert floor is not None and floor <= when
    assert floor <= stack.poll_at() <= when  # the exact answer has it too (and makes the floor exact)
    assert stack.poll_floor() == stack.poll_at()


def test_a_lifetime_that_never_ends_leaves_the_floor_as_it_is():
    """``timer_armed(None)``: a lifetime without an end (an infinite route, prefix or address lifetime) is no
    deadline: the floor stays where it was."""
    stack, netif, _ = quiet_stack()
    before = stack.poll_floor()
    stack.timer_armed(None)
    assert stack.poll_floor() == before
    stack.timer_armed(stack.now + 1.0)
    assert stack.poll_floor() is not None and stack.poll_floor() <= stack.now + 1.0


class TimedDevice(CaptureDevice):
    """Records (the stack's time, frame) for every frame sent."""

    stack: Stack

    def transmit(self, frame) -> bool:
        self.sent.append((self.stack.now, bytes(frame)))
        return True


def drive(stack: Stack, until: float, floor: bool) -> None:
    """Poll ``stack`` at each deadline up to ``until``: exactly (``poll_at()``), or as StackLoop does, by
    ``poll_floor()`` (wake-ups for deadlines since cleared and all); then its time is ``until``."""
    ask = stack.poll_floor if floor else stack.poll_at
    for _ in range(10000):
        due = ask()
        if due is None or due > until:
            stack.now = until
            return
        stack.poll(max(due, stack.now))
    raise AssertionError("the stack is due again at once, for ever")


#: the places above that work on any quiet stack (no options of their own), as steps of a random sequence
STEPS = sorted(name for name, (_, options) in SITES.items() if not options)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(STEPS), st.lists(st.floats(0.0, 20.0), min_size=1, max_size=8))
def test_driven_by_the_floor_a_stack_does_what_it_does_driven_exactly(order, gaps):
    """Differential: twin stacks take the same random sequence of deadline-setting steps, one polled at its exact
    deadlines, the other as the loop polls, by its floor.  The floor is never later than the twin's exact answer
    after a step, and both send the same frames at the same times (the floor's extra wake-ups do nothing)."""
    twins = []
    for _ in range(2):
        stack = Stack(Config(**QUIET), seed=3)
        dev = TimedDevice()
        dev.stack = stack
        netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC, ip6_linklocal=True)
        settle(stack)
        twins.append((stack, netif, dev))
    (exact_stack, _, exact_dev), (floor_stack, _, floor_dev) = twins
    for name, dt in zip(order, gaps, strict=False):  # (as many steps as gaps, in a random order)
        for (stack, netif, _), floor in zip(twins, (False, True), strict=True):
            drive(stack, stack.now + dt, floor)
            try:
                SITES[name][0](stack, netif, lambda: None)
            except (LwipError, KeyError, IndexError, StopIteration, ValueError):
                pass  # a step the state refuses (the address there already, no such entry to read back)
        due = exact_stack.poll_at()
        floor_at = floor_stack.poll_floor()  # (not its own poll_at(): that would make it exact)
        assert due is None or (floor_at is not None and floor_at <= due)
    for (stack, _, _), floor in zip(twins, (False, True), strict=True):
        drive(stack, stack.now + 100.0, floor)
    assert floor_dev.sent == exact_dev.sent
    assert floor_stack.poll_at() == exact_stack.poll_at()


@pytest.mark.parametrize("name", ["etharp", "ip4.reass", "igmp", "nd6", "mld6", "ip6.reass", "dns", "tcp"])
def test_a_strict_stack_checks_every_module(name, monkeypatch):
    """Each module's deadline is checked against the floor (TCP's against its heap's top): one that was never told
    to the stack (here: a module that says it is due soon) fails poll_at() and poll(), naming the module."""
    stack, _, _ = quiet_stack(strict=True)
    exact(stack)
    module = stack
    for part in name.split("."):
        module = getattr(module, part)
    monkeypatch.setattr(module, "poll_at", lambda: stack.now + 0.01)
    with pytest.raises(AssertionError, match=name):
        stack.poll_at()
    with pytest.raises(AssertionError, match=name):
        stack.poll(stack.now)


def test_a_strict_stack_names_the_module_whose_deadline_was_not_reported():
    stack, netif, _ = quiet_stack(strict=True)
    exact(stack)
    stack.igmp.join(netif, "239.1.2.3")
    stack.igmp.groups[netif.index][IPv4Address("239.1.2.3")].report_at = stack.now + 0.01  # not told to the stack
    with pytest.raises(AssertionError, match="igmp"):
        stack.poll_at()
    stack.timer_armed(stack.now + 0.01)
    stack.poll_at()  # told: fine
    stack.nd6.learn(netif, PEER_LL, PEER_MAC)
    stack.nd6.neighbors[(netif.index, PEER_LL)].at = stack.now + 0.005
    with pytest.raises(AssertionError, match="nd6"):
        stack.poll(stack.now)  # poll() checks too, before it runs anything


def test_the_floor_is_exact_after_poll_and_a_stale_one_wakes_once():
    """A deadline cleared (a report another member sent first) leaves the floor early: poll() at that time does
    nothing due and makes the floor exact again."""
    stack, netif, _ = quiet_stack()
    exact(stack)
    stack.igmp.join(netif, "239.1.2.3")
    report_at = stack.igmp.groups[netif.index][IPv4Address("239.1.2.3")].report_at
    stack.igmp.leave(netif, "239.1.2.3")
    assert stack.poll_floor() == report_at and stack.poll_at() is None
    stack.poll(report_at)
    assert stack.poll_floor() is None


def test_tcp_counts_by_its_heap_top_which_is_never_later_than_its_deadline():
    stack, netif, _ = quiet_stack()
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    exact(stack)
    pcb = stack.tcp.connect("10.0.0.2", 80)  # the SYN's retransmission timer
    assert stack.poll_floor() == pcb.rto_at == stack.poll_at()
    stack.now += 0.5
    pcb.delack_at = None
    pcb._arm_rto()  # moved later: the heap keeps the old entry until it surfaces
    assert stack.poll_floor() < pcb.rto_at == stack.tcp.poll_at()
    assert stack.poll_floor() == pcb.rto_at  # (asking the exact answer moved the entry)
    pcb.abort()
    assert stack.poll_floor() is not None  # a stale entry of a connection that is gone: early, never late
    stack.poll(stack.poll_floor())
    assert stack.poll_floor() is None and stack.poll_at() is None


def test_pollers_and_the_loopback_queue_are_asked_every_time():
    stack, netif, _ = quiet_stack()
    exact(stack)

    class Due:
        at = stack.now + 5.0

        def poll(self, now):
            pass

        def poll_at(self):
            return self.at

    due = Due()
    stack.add_poller(due)
    assert stack.poll_floor() == due.at
    due.at -= 1.0  # a poller is asked each time: nothing to report
    assert stack.poll_floor() == due.at
    stack.timeouts_deinit()
    assert stack.poll_floor() is None
    stack.timeouts_init()
    stack.udp.new().sendto(b"x", "10.0.0.1", 9)  # to ourselves: looped back on the next poll
    assert stack.poll_floor() == stack.now == stack.poll_at()


# -- StackLoop in virtual time -------------------------------------------------------------------------------------------
def virtual_loop(monkeypatch, stack: Stack) -> tuple[StackLoop, list[float], list[float]]:
    """A loop on a virtual clock (``t[0]``): a sleep that finds nothing ready moves the clock on by its timeout
    (logged in ``sleeps``) instead of sleeping.  Run it on the test's thread with ``loop.run(duration)``."""
    t = [stack.now]
    sleeps: list[float] = []
    spins = [0]

    class VirtualSleep(loop_module._Poller):
        def __init__(self, wake_fd: int) -> None:
            super().__init__(wake_fd)
            real = self.wait

            def wait(timeout: float, maxevents: int) -> list:
                ready = real(0.0, maxevents)
                if ready or timeout == 0.0:
                    if not ready:  # a turn at once, the clock standing still: a few in a row at most
                        spins[0] += 1
                        assert spins[0] < 100, "the loop spins: due again at once, for ever"
                    return ready
                assert timeout > 0.0, "the loop would sleep for ever"
                spins[0] = 0
                sleeps.append(t[0])
                t[0] += timeout
                return []
            self.wait = wait
    monkeypatch.setattr(loop_module, "_Poller", VirtualSleep)
    return StackLoop(stack, clock=lambda: t[0]), t, sleeps


def loop_arp(stack, netif):
    stack.udp.new().sendto(b"x", "10.0.0.77", 9)
    return stack.etharp


def loop_reassembly(stack, netif):
    stack.input(netif, lone_fragment4(9), stack.now)
    return stack.ip4.reass


def loop_igmp(stack, netif):
    stack.igmp.join(netif, "239.1.2.3")
    return stack.igmp


def loop_router_solicitation(stack, netif):
    stack.nd6.netif_up(netif)
    return stack.nd6


def loop_mld(stack, netif):
    stack.mld6.join(netif, IPv6Address("ff12::1").packed)
    return stack.mld6


def loop_dns(stack, netif):
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    stack.dns_setserver(0, "10.0.0.2")
    stack.dns.gethostbyname("host.example")
    return stack.dns


def loop_tcp(stack, netif):
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    stack.tcp.connect("10.0.0.2", 80)
    return stack.tcp


class _Poller:
    def __init__(self, at: float) -> None:
        self.at = at
        self.polled: list[float] = []

    def poll(self, now: float) -> None:
        self.polled.append(now)
        if now >= self.at:
            self.at = None

    def poll_at(self) -> float | None:
        return self.at


def loop_poller(stack, netif):
    poller = _Poller(stack.now + 2.5)
    stack.add_poller(poller)
    return poller


LOOP_KINDS = [loop_arp, loop_reassembly, loop_igmp, loop_router_solicitation, loop_mld, loop_dns, loop_tcp,
              loop_poller]


def watch(stack: Stack, netif, arm, armed: dict) -> None:
    """Arm one kind of timer (``arm``, one of LOOP_KINDS) and log when its module is polled: ``armed["due"]`` the
    deadline it reports, ``armed["polled"]`` the times of its polls."""
    module = arm(stack, netif)
    armed["due"] = due = module.poll_at()
    assert due is not None and due > stack.now
    polled = armed["polled"] = []
    if isinstance(module, _Poller):
        armed["polled"] = module.polled
        return
    real = module.poll
    module.poll = lambda now: (polled.append(now), real(now))[1]


@pytest.mark.parametrize("arm", LOOP_KINDS, ids=[f.__name__[5:] for f in LOOP_KINDS])
def test_the_loop_wakes_for_each_kind_of_timer_when_it_is_due(monkeypatch, arm):
    stack, netif, _ = quiet_stack()
    loop, t, sleeps = virtual_loop(monkeypatch, stack)
    loop.run(5.0)  # an idle stack: one sleep
    assert len(sleeps) == 1 and stack.poll_floor() is None
    armed: dict = {}
    loop.call_soon(lambda: watch(stack, netif, arm, armed))
    sleeps.clear()
    loop.run(10.0)
    due, polled = armed["due"], armed["polled"]
    assert polled, "the timer never ran"
    assert polled[0] == pytest.approx(due, abs=1e-9)  # on time: the loop slept until then, not past it
    assert len(sleeps) <= 30  # no spinning (a few deadlines in 10 s: retries, reports, the end)


def test_a_cleared_deadline_wakes_the_loop_once(monkeypatch):
    """The floor keeps a deadline cleared since (an IGMP report another member sent first, a connection gone): the loop
    wakes then, polls once, finds the floor exact again (nothing) and sleeps to the end."""
    stack, netif, _ = quiet_stack()
    loop, t, sleeps = virtual_loop(monkeypatch, stack)
    polls = []
    real = stack.poll
    stack.poll = lambda now: (polls.append(now), real(now))[1]

    def arm_and_clear() -> None:
        stack.igmp.join(netif, "239.1.2.3")
        stack.etharp.add_static("10.0.0.2", PEER_MAC)
        stack.tcp.connect("10.0.0.2", 80).abort()
        stack.igmp.leave(netif, "239.1.2.3")
        assert stack.poll_floor() is not None
    loop.call_soon(arm_and_clear)
    loop.run(10.0)
    assert len(polls) == 1  # once for the stale floor, then asleep to the end
    assert len(sleeps) == 2
    assert stack.poll_floor() is None


class _Endless(Device):
    """A device that always has another frame (for another station: dropped), each moving the virtual clock ``t``
    on by ``step``: every turn of the loop is cut short (BATCH_TIME)."""

    lazy_frames = True

    def __init__(self, t: list[float], step: float) -> None:
        self.t, self.step = t, step
        self.frame = bytes.fromhex("020000000042") + PEER_MAC + b"\x08\x00" + bytes(46)

    def transmit(self, frame) -> bool:
        return True

    def frames(self):
        while True:
            self.t[0] += self.step
            yield self.frame


@pytest.mark.parametrize("arm", LOOP_KINDS, ids=[f.__name__[5:] for f in LOOP_KINDS])
def test_turns_cut_short_run_each_kind_of_timer_within_a_turn_or_two(monkeypatch, arm):
    """s11: with a device that never runs dry the loop never sleeps; its turns read the floor (never the exact
    poll_at()), and each kind of timer still runs no more than a couple of turns after it is due."""
    stack, netif, _ = quiet_stack()
    loop, t, sleeps = virtual_loop(monkeypatch, stack)
    stack.add_netif(_Endless(t, loop_module.BATCH_TIME / 10), ip="10.9.0.1/24", hwaddr=bytes.fromhex("020000000099"))
    exact = []
    real_poll_at = stack.poll_at
    armed: dict = {}

    def go() -> None:
        watch(stack, netif, arm, armed)
        stack.poll_at = lambda: (exact.append(stack.now), real_poll_at())[1]  # from now on: not asked
    loop.call_soon(go)
    loop.run(12.0)  # (MLD waits up to UNSOLICITED_REPORT_INTERVAL, 10 s, with its first report)
    due, polled = armed["due"], armed["polled"]
    assert polled, "the timer never ran"
    assert due <= polled[0] <= due + 3 * loop_module.BATCH_TIME
    assert not sleeps  # every turn cut short
    assert not exact, "a turn cut short asked the exact poll_at()"
