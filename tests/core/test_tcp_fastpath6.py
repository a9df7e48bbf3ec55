"""s20: TCP header prediction over IPv6 (``fastpath.fast_input6``): taken for an established connection's next segment
over IPv6, left for every unusual frame, and the same result either way.  Two identical simulations (same seed, the
same faults), one with the fast path on and one with it off, must put the same frames on the link and leave the same
connection state and counters, for whole transfers with loss, reordering and duplication, and for each hand-made
frame (scapy builds them from the live connection's numbers)."""

from __future__ import annotations

import ipaddress
import os
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.inet import TCP
from scapy.layers.l2 import Dot1Q, Ether

from helpers import send_all, serve_collect
from lwipy import Config
from lwipy.core.addr6 import DEPRECATED, DUPLICATED, TENTATIVE
from lwipy.sim import Simulation
from test_tcp_fastpath import snapshot

A6, B6 = "2001:db8::1", "2001:db8::2"


def en(stack):
    """The stack's Ethernet netif (the loopback netif is the first)."""
    return next(n for n in stack.netifs if not n.is_loopback)


class World:
    """Stacks ``a`` and ``b`` on one hub, every frame the hub carries kept in ``frames``."""

    def __init__(self, fast: bool, faults: dict | None = None, **options) -> None:
        self.sim = sim = Simulation(seed=9)
        hub = sim.hub()
        self.frames: list[bytes] = []
        hub.taps.append(lambda port, frame: self.frames.append(bytes(frame)))
        cfg = Config(ipv6_send_router_solicit=False, **options)
        self.a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", ip6=f"{A6}/64", faults=faults)
        self.b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", ip6=f"{B6}/64")
        for stack in (self.a, self.b):
            stack.tcp.fast_path = fast
        sim.run(3.0)

    def state(self, pcb) -> dict:
        stack = pcb.stack
        return snapshot(types.SimpleNamespace(stack=stack), pcb)


def both(**kwargs) -> tuple[World, World]:
    return World(True, **kwargs), World(False, **kwargs)


def neighbours(stack) -> dict:
    return {key: (n.state, n.mac, n.at, n.touched, n.probes, len(n.queue)) for key, n in stack.nd6.neighbors.items()}


def assert_alike(fast: World, full: World, pcbs) -> None:
    assert fast.frames == full.frames
    for f, s in pcbs:
        assert fast.state(f) == full.state(s)
    for name in ("a", "b"):
        assert getattr(fast, name).stats.as_dict() == getattr(full, name).stats.as_dict()
        assert neighbours(getattr(fast, name)) == neighbours(getattr(full, name))


@pytest.mark.parametrize("ts", [False, True])
@pytest.mark.parametrize("faults", [None, dict(loss=0.03, reorder=0.03, duplicate=0.02)], ids=["clean", "faults"])
@pytest.mark.parametrize("window", [5760, 65535])
def test_transfers_over_ipv6_are_the_same_with_the_fast_path_and_without(ts, faults, window):
    data = os.urandom(150_000)
    worlds = both(faults=faults, tcp_timestamps=ts, tcp_wnd_default=window, tcp_snd_buf_default=window)
    pcbs = []
    for w in worlds:
        _, got, conns = serve_collect(w.b, 5000)
        pcb = w.a.tcp.connect(B6, 5000)
        send_all(w.sim, pcb, data)
        assert w.sim.run_until(lambda got=got: len(got) == len(data), 600)
        assert bytes(got) == data
        w.sim.run(1.0)
        pcbs.append((pcb, conns[0]))
    fast, full = worlds
    assert fast.frames == full.frames
    assert fast.b.tcp.fast_taken6 > 50 and fast.a.tcp.fast_taken6 > 0  # data on b, ACKs on a
    assert fast.b.tcp.fast_sent6 > 0  # b's pure ACKs from their template
    assert fast.a.tcp.fast_sent6 > 50  # s21: a's data segments from theirs
    assert full.a.tcp.fast_taken6 == full.b.tcp.fast_taken6 == full.b.tcp.fast_sent6 == full.a.tcp.fast_sent6 == 0
    assert fast.a.stats.as_dict() == full.a.stats.as_dict() and fast.b.stats.as_dict() == full.b.stats.as_dict()
    assert neighbours(fast.a) == neighbours(full.a) and neighbours(fast.b) == neighbours(full.b)
    assert fast.state(pcbs[0][0]) == full.state(pcbs[1][0])
    assert fast.state(pcbs[0][1]) == full.state(pcbs[1][1])


# -- one frame at a time ---------------------------------------------------------------------------------------------
def connected(ts: bool = False, **options) -> list[tuple[World, object, object]]:
    """Both worlds with an established connection a -> b (b's pcb reads everything), some data through it."""
    out = []
    for w in both(tcp_timestamps=ts, **options):
        _, got, conns = serve_collect(w.b, 5000)
        pcb = w.a.tcp.connect(B6, 5000)
        assert w.sim.run_until(lambda conns=conns: conns and conns[0].state_name == "ESTABLISHED", 30)
        pcb.send(b"warm" * 100)
        w.sim.run(1.0)
        assert bytes(got) == b"warm" * 100
        w.frames.clear()
        out.append((w, pcb, conns[0]))
    return out


def segment(w: World, a_pcb, b_pcb, data: bytes = b"q" * 100, flags: str = "PA", *, ts: bool = False,
            options: list | None = None) -> Ether:
    """b's next in-order segment from a, as scapy builds it from the connection's numbers."""
    opts = options if options is not None else ([("NOP", None), ("NOP", None),
                                                 ("Timestamp", (a_pcb.ts_recent + 1000, b_pcb.ts_recent))]
                                                if ts else [])
    netif_a, netif_b = en(w.a), en(w.b)
    return (Ether(src=netif_a.hwaddr, dst=netif_b.hwaddr) / IPv6(src=A6, dst=B6)
            / TCP(sport=a_pcb.local_port, dport=b_pcb.local_port, seq=b_pcb.rcv_nxt, ack=b_pcb.snd_nxt, flags=flags,
                  window=8000, options=opts) / data)


def step(worlds, act, tally: str, expect: bool | None) -> None:
    """``act(world, a_pcb, b_pcb)`` in each world; b's ``tcp.<tally>`` moved on by one in the fast world (or not;
    None: either); both worlds alike afterwards (once their timers ran)."""
    before = getattr(worlds[0][0].b.tcp, tally)
    for w, a_pcb, b_pcb in worlds:
        act(w, a_pcb, b_pcb)
    if expect is not None:
        assert (getattr(worlds[0][0].b.tcp, tally) - before == 1) is expect
    for w, _, _ in worlds:
        w.sim.run(0.5)
    (fast, fa, fb), (full, sa, sb) = worlds
    assert_alike(fast, full, [(fa, sa), (fb, sb)])


def inject(worlds, make, expect_fast: bool | None) -> None:
    """The frame ``make(world, a_pcb, b_pcb)`` builds, into each world's b: taken by the fast path (or not)."""
    step(worlds, lambda w, a, b: w.b.input(en(w.b), make(w, a, b), w.sim.clock()), "fast_taken6", expect_fast)


def _b(frame: Ether) -> bytes:
    return bytes(frame)


@pytest.mark.parametrize("ts", [False, True])
@pytest.mark.parametrize("size", [1, 2, 63, 372, 373, 1000, 1440])
def test_an_in_order_segment_is_taken(ts, size):
    worlds = connected(ts=ts)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b, bytes((i * 7) & 0xFF for i in range(size)), ts=ts)), True)


def test_a_pure_ack_of_new_data_is_taken():
    worlds = connected()
    for _, _, b_pcb in worlds:
        b_pcb.send(b"r" * 1000)  # b sends; a's ACK of it is the pure ACK, sent to b by hand below

    def ack(w, a_pcb, b_pcb):
        return _b(Ether(src=en(w.a).hwaddr, dst=en(w.b).hwaddr) / IPv6(src=A6, dst=B6)
                  / TCP(sport=a_pcb.local_port, dport=b_pcb.local_port, seq=b_pcb.rcv_nxt, ack=b_pcb.snd_nxt,
                        flags="A", window=8000))
    for w, _, _ in worlds:
        w.frames.clear()
    inject(worlds, ack, True)


def test_link_padding_and_a_memoryview_are_taken():
    worlds = connected()
    inject(worlds, lambda w, a, b: _b(segment(w, a, b, b"x" * 3)) + bytes(20), True)
    inject(worlds, lambda w, a, b: memoryview(_b(segment(w, a, b, b"y" * 500))), True)


UNUSUAL = {
    "bad TCP checksum": lambda w, a, b: _bad_sum(w, a, b),
    "another MAC": lambda w, a, b: _b(_to_mac(segment(w, a, b), "02:99:99:99:99:99")),
    "VLAN tag": lambda w, a, b: _b(_vlan(segment(w, a, b))),
    "hop-by-hop header": lambda w, a, b: _b(_hbh(w, a, b)),
    "payload length beyond the frame": lambda w, a, b: _b(segment(w, a, b))[:-10],
    "payload length short of the TCP header": lambda w, a, b: _short(w, a, b),
    "SYN": lambda w, a, b: _b(segment(w, a, b, flags="S")),
    "FIN": lambda w, a, b: _b(segment(w, a, b, flags="FA")),
    "RST": lambda w, a, b: _b(segment(w, a, b, b"", flags="R")),
    "URG": lambda w, a, b: _b(segment(w, a, b, flags="PAU")),
    "an MSS option": lambda w, a, b: _b(segment(w, a, b, options=[("MSS", 1000)])),
    "out of order": lambda w, a, b: _b(_seq(segment(w, a, b), 2000)),
    "old data": lambda w, a, b: _b(_seq(segment(w, a, b), -100)),
    "a duplicate ACK": lambda w, a, b: _b(segment(w, a, b, b"", flags="A")),
}


def _bad_sum(w, a, b) -> bytes:
    frame = segment(w, a, b)
    frame[TCP].chksum = (TCP(bytes(frame[TCP])).chksum + 1) & 0xFFFF  # (scapy's sum, one off)
    return _b(frame)


def _to_mac(frame: Ether, mac: str) -> Ether:
    frame.dst = mac
    return frame


def _vlan(frame: Ether) -> Ether:
    return Ether(src=frame.src, dst=frame.dst) / Dot1Q(vlan=5) / frame[IPv6]


def _hbh(w, a, b) -> Ether:
    frame = segment(w, a, b)
    return Ether(src=frame.src, dst=frame.dst) / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / frame[TCP]


def _short(w, a, b) -> bytes:
    b.send(b"s" * 10)  # (data of b's that the frame acknowledges: an ACK of new data, which the fast path would take)
    raw = bytearray(_b(segment(w, a, b, b"")))
    raw[18:20] = (12).to_bytes(2, "big")  # payload length 12: less than the TCP header's 20
    return bytes(raw)


def _seq(frame: Ether, delta: int) -> Ether:
    frame[TCP].seq = (frame[TCP].seq + delta) & 0xFFFFFFFF
    return frame


#: what leaves the connection unusual itself: closing (FIN), reset (RST), out-of-order data held
CHANGES_THE_CONNECTION = {"FIN", "RST", "out of order"}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_every_unusual_frame_takes_the_full_way_alike(case):
    worlds = connected()
    inject(worlds, UNUSUAL[case], False)
    # and the next ordinary one is taken again, unless the frame left the connection unusual (both worlds alike)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), None if case in CHANGES_THE_CONNECTION else True)


def _set_state(w: World, state: str) -> None:
    netif = en(w.b)
    addr = next(x for x in netif.ip6_addrs if str(x.address) == B6)
    netif.ip6_addr_set_state(addr, state)


@pytest.mark.parametrize("state,taken", [(DEPRECATED, True), (TENTATIVE, False), (DUPLICATED, False)])
def test_the_destination_address_state_decides(state, taken):
    worlds = connected()
    for w, _, _ in worlds:
        _set_state(w, state)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), taken)


@pytest.mark.parametrize("state", [TENTATIVE, DUPLICATED])
def test_an_address_state_written_directly_still_decides(state):
    """s21: an ``Ip6Addr.state`` written without ``ip6_addr_set_state`` (which moves no generation) is read by the
    next segment all the same."""
    worlds = connected()
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)
    for w, _, _ in worlds:
        next(x for x in en(w.b).ip6_addrs if str(x.address) == B6).state = state
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), False)


def test_an_ip6_input_hook_a_raw_pcb_or_another_tcp_handler_sends_the_frame_the_full_way():
    worlds = connected()
    seen = []
    for w, _, _ in worlds:
        w.b.hooks.ip6_input = lambda stack, packet, netif: seen.append(len(packet)) and False
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), False)
    assert seen.count(160) == 2  # the segment once in each world: the fast path did not call the user's hook
    from lwipy.core.hooks import esp_ip6_input
    for w, _, _ in worlds:
        w.b.hooks.ip6_input = esp_ip6_input  # ESP-IDF's default again: the netif has a link-local address
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)
    for w, _, _ in worlds:
        w.b.hooks.ip6_input = None
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)
    for w, _, _ in worlds:
        w.b.raw.new(58, ip6=True)  # (an ICMPv6 raw pcb: any raw pcb sends IPv6 the full way, as raw_input sees it)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), False)


def test_a_segment_on_a_netif_without_its_address_takes_the_full_way():
    """s21: whether ip6_input hands a connection's segments straight to TCP is kept per netif (``TcpPcb._rx6_ok``):
    the same connection's next segment arriving on b's second netif, which does not hold the destination address,
    is ip6_input's to judge, before and after one on the first netif was taken."""
    worlds = connected()
    for w, _, _ in worlds:
        w.second = w.sim.attach(w.b, w.sim.hub(), name="en9", ip6_linklocal=True)
        w.sim.run(3.0)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)

    def on_second(w, a, b):
        frame = segment(w, a, b)
        frame[Ether].dst = w.second.hwaddr
        w.b.input(w.second, _b(frame), w.sim.clock())
    step(worlds, on_second, "fast_taken6", False)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)


def test_a_replaced_tcp_handler_gets_the_segment():
    worlds = connected()
    got = []
    for w, _, _ in worlds:
        real = w.b.protocols6[6]
        w.b.protocols6[6] = lambda pkt, data, real=real: (got.append(len(data)), real(pkt, data))
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), False)
    assert got.count(120) == 2  # the segment (20 + 100 bytes) in each world, by the replacement


def test_the_fast_path_off_takes_nothing():
    worlds = connected()
    for w, _, _ in worlds:
        w.b.tcp.fast_path = False
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), False)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=200), st.integers(0, 120), st.sampled_from([0, 1, 2, 3]))
def test_arbitrary_bytes_over_a_live_connections_headers_are_a_clean_drop_or_alike(noise, at, kind):
    """A real segment with bytes overwritten (or cut, or extended) anywhere: never an exception, and both worlds
    alike (each mutation with the checksum left as it was, or made right again)."""
    worlds = connected()

    def make(w, a, b):
        raw = bytearray(_b(segment(w, a, b, b"z" * 64)))
        if kind == 0:
            raw[at:at + len(noise)] = noise[:max(0, len(raw) - at)]
        elif kind == 1:
            raw = raw[:at]
        elif kind == 2:
            raw += noise
        else:  # the headers mutated and the TCP checksum made right again (scapy), so the mutation reaches past it
            raw[14 + at % 60:14 + at % 60 + min(len(noise), 4)] = noise[:4]
            try:
                frame = Ether(bytes(raw))
                if TCP in frame:
                    del frame[TCP].chksum
                raw = bytearray(bytes(frame))
            except Exception:
                pass
        return bytes(raw)

    before = worlds[0][0].b.tcp.fast_taken6
    inject(worlds, make, None)  # (taken or not, both worlds alike)
    assert worlds[0][0].b.tcp.fast_taken6 - before in (0, 1)


@pytest.mark.parametrize("case", ["payload length beyond the frame", "payload length short of the TCP header"])
def test_lengths_are_checked_where_the_netif_offloads_the_checksum(case):
    """A netif whose device checks TCP checksums (``checksum_offload``) leaves the lengths alone to turn such a frame
    away (a wrong length also fails the sum where it is summed)."""
    worlds = connected()
    for w, _, _ in worlds:
        en(w.b).checksum_offload = True
    inject(worlds, UNUSUAL[case], False)
    inject(worlds, lambda w, a, b: _b(segment(w, a, b)), True)


# -- the pure ACK from its template (fastpath._fast_ack6) ----------------------------------------------------------------
def _neighbour_of_a(w: World):
    """b's neighbour entry for a."""
    return w.b.nd6.neighbors[(en(w.b).index, ipaddress.IPv6Address(A6).packed)]


def _ack_from_b(worlds, expect_template: bool | None) -> None:
    """b's pure ACK (``_send_ack``, as a delayed ACK's timer or a batch's end writes it): from the template (or not)."""
    step(worlds, lambda w, a, b: b._send_ack(), "fast_sent6", expect_template)


@pytest.mark.parametrize("state,template", [("REACHABLE", True), ("DELAY", True), ("PROBE", True), ("STALE", False)])
def test_the_neighbours_state_decides_the_template(state, template):
    worlds = connected()
    for w, _, _ in worlds:
        _neighbour_of_a(w).state = state
    _ack_from_b(worlds, template)


@pytest.mark.parametrize("ts", [False, True])
def test_acks_from_the_template_carry_timestamps_and_a_traffic_class_and_hop_limit(ts):
    worlds = connected(ts=ts)
    _ack_from_b(worlds, True)
    for _, _, b_pcb in worlds:
        b_pcb.tos, b_pcb.ttl = 0xB8, 17  # (a template made again for them)
    _ack_from_b(worlds, True)
    assert worlds[0][0].frames[-1][14:16] == bytes((0x6B, 0x80)) and worlds[0][0].frames[-1][21] == 17


def test_no_template_without_a_neighbour_entry_or_with_another_ip6_output():
    worlds = connected()
    for w, _, _ in worlds:
        del w.b.nd6.neighbors[next(k for k, n in w.b.nd6.neighbors.items() if n is _neighbour_of_a(w))]
    _ack_from_b(worlds, False)  # (the full way solicits and queues)
    worlds = connected()
    for w, _, _ in worlds:
        netif = en(w.b)
        real = netif.output_ip6
        netif.output_ip6 = lambda n, p, hop, real=real: real(n, p, hop)
    _ack_from_b(worlds, False)


def test_an_ack_the_device_refuses_is_counted_as_the_full_way_counts_it():
    worlds = connected()
    for w, _, _ in worlds:
        device = en(w.b).device
        real = device.transmit
        device.transmit = lambda frame, real=real: False if frame[54 + 13:54 + 14] == b"\x10" and len(frame) == 74 \
            else real(frame)  # (b's pure ACKs refused)
    _ack_from_b(worlds, None)
    stats = worlds[0][0].b.stats.as_dict()
    assert stats["link"]["memerr"] >= 1 and stats["link"]["memerr"] == worlds[1][0].b.stats.as_dict()["link"]["memerr"]


def test_a_connection_to_our_own_address_loops_its_acks_back():
    """Next hop one of our addresses: the full way loops the frame back (``netif_output``), never the template."""
    for w in both():
        _, got, _ = serve_collect(w.b, 5003)
        pcb = w.b.tcp.connect(B6, 5003)
        send_all(w.sim, pcb, b"self" * 5000)
        assert w.sim.run_until(lambda got=got: len(got) == 20000, 60)
        assert w.b.tcp.fast_sent6 == 0
