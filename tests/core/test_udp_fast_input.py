"""udp19: UDP's short way in (``Udp.fast_input``): taken for an ordinary datagram, left for every unusual one, and the
same deliveries, answers, counters and state either way.

Two identical stacks, one with the short way and one without, take the same frames (through ``Stack.input`` and
through ``Stack.input_many``, as a loop feeds them); after each both must have delivered the same datagrams to the
same pcbs, sent the same frames (ICMP's port unreachable) and count the same."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import OWN_MAC, PEER_MAC, CaptureDevice, examples, fast_and_full_stacks
from lwipy.wire.checksum import checksum, pseudo_sum_v4

OWN, PEER = "10.0.0.1", "10.0.0.2"
OWN_B, PEER_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
OTHER_B = bytes([10, 0, 0, 3])
PORT = 5000


def datagram(data: bytes = b"hello, datagram", *, src: bytes = PEER_B, dst: bytes = OWN_B, dst_mac: bytes = OWN_MAC,
             sport: int = 4000, dport: int = PORT, tos: int = 0, frag: int = 0x4000, ttl: int = 64,
             ip_opts: bytes = b"", ip_csum: int = 0, udp_csum: int = 0, no_csum: bool = False, vlan: bool = False,
             total_delta: int = 0, ulen_delta: int = 0, pad: bytes = b"", proto: int = 17, ethertype: int = 0x0800,
             version: int = 4) -> bytes:
    """A datagram from the peer, every field under the test's control (``*_csum`` are added to the right checksums,
    ``total_delta`` to the IP total length, ``ulen_delta`` to the UDP length, ``pad`` after the packet as link
    padding; ``no_csum`` sends the UDP checksum 0, "none")."""
    ulen = 8 + len(data)
    udp = bytearray(struct.pack("!HHHH", sport, dport, (ulen + ulen_delta) & 0xFFFF, 0) + data)
    if not no_csum:
        right = checksum(udp[:ulen], pseudo_sum_v4(src, dst, 17, ulen)) or 0xFFFF
        struct.pack_into("!H", udp, 6, (right + udp_csum) & 0xFFFF)
    ihl = 20 + len(ip_opts)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", version << 4 | ihl // 4, tos, ihl + len(udp) + total_delta, 99, frag, ttl,
                               proto, 0, src, dst) + ip_opts)
    struct.pack_into("!H", ip, 10, (checksum(ip) + ip_csum) & 0xFFFF)
    eth = dst_mac + PEER_MAC + (b"\x81\x00\x00\x05" if vlan else b"") + struct.pack("!H", ethertype)
    return eth + bytes(ip) + bytes(udp) + pad


class Setup:
    """One stack's pcbs: ``pcbs`` of (name, pcb); what each received, in ``got`` (on_recv) or its queue."""

    def __init__(self, stack, netif) -> None:
        self.stack, self.netif = stack, netif
        self.pcbs: list = []
        self.got: list = []

    def pcb(self, name: str, ip: str | None = None, port: int = PORT, *, ip6: bool = False, queue: bool = False,
            remote: tuple[str, int] | None = None, v6only: bool = False, reuse: bool = False, netif=None):
        pcb = self.stack.udp.new(ip6=ip6)
        pcb.v6only = v6only
        pcb.reuse_addr = reuse
        pcb.netif = netif
        pcb.bind(ip, port)
        if remote is not None:
            pcb.connect(*remote)
        if queue:
            pcb.on_event = lambda p, name=name: self.got.append((name, "event", len(p.queue)))
        else:
            pcb.on_recv = lambda p, d, name=name: self.got.append((name, d))
        self.pcbs.append((name, pcb))
        return pcb

    def state(self) -> tuple:
        return (self.got, [(name, list(pcb.queue)) for name, pcb in self.pcbs])


def one_pcb(s: Setup) -> None:
    s.pcb("any")


def pair(setup=one_pcb, **options) -> list[tuple]:
    """Two identical stacks (the short way on, then off), each set up by ``setup(Setup)`` and having learned the peer
    by ARP."""
    out = []
    for stack, netif, dev in fast_and_full_stacks(lambda stack, on: setattr(stack.udp, "fast_path", on), **options):
        s = Setup(stack, netif)
        setup(s)
        out.append((stack, netif, dev, s))
    return out


def same(stacks, frame: bytes, now: float = 2.0, many: bool = False) -> None:
    """The same frame into both stacks (``many``: through input_many, as a loop feeds a batch): the same frames sent,
    datagrams delivered, counters and next IP identification."""
    got = []
    for stack, netif, dev, s in stacks:
        if many:
            stack.input_many(netif, [frame], now, None, True)
        else:
            stack.input(netif, frame, now)
        got.append((dev.take(), s.state(), stack.stats.as_dict(), stack.ip4.next_ident))
    assert got[0] == got[1]


def taken(stacks) -> int:
    assert stacks[1][0].udp.fast_taken == 0
    return stacks[0][0].udp.fast_taken


@pytest.mark.parametrize("checks", [False, True])
def test_an_ordinary_datagram_takes_the_short_way_and_is_delivered_as_the_full_way_delivers_it(checks):
    stacks = pair(checksum_check_ip=checks, checksum_check_udp=checks)  # (ESP-IDF checks neither by default)
    same(stacks, datagram())
    assert taken(stacks) == 1
    ((name, dgram),) = stacks[0][3].got
    assert name == "any" and dgram.data == b"hello, datagram" and str(dgram.src) == PEER and dgram.src_port == 4000
    assert str(dgram.dst) == OWN and dgram.netif_index == stacks[0][1].index and type(dgram.data) is bytes
    # and again: through input_many, with a TOS, no DF, link padding, an odd size, nothing, a large payload (summed
    # by data_sum), no checksum, and a checksum whose sum came to 0 (sent as 0xFFFF)
    frames = [datagram(tos=0x10), datagram(frag=0), datagram(pad=b"\0" * 10), datagram(b"xyz"), datagram(b""),
              datagram(bytes(range(256)) * 5 + b"!"), datagram(bytes(1400)), datagram(no_csum=True),
              datagram(bytes(2) + b"\xff\xff", sport=0)]
    for frame in frames:
        same(stacks, frame, many=True)
    assert taken(stacks) == 1 + len(frames)


def test_every_kind_of_pcb_that_takes_the_datagram_takes_it_the_short_way():
    def setup(s: Setup) -> None:
        s.pcb("queue", queue=True)
        s.pcb("own address", OWN, PORT + 1)
        s.pcb("connected", None, PORT + 2, remote=(PEER, 4000))
        s.pcb("dual stack", "::", PORT + 3, ip6=True)
        s.pcb("this netif", None, PORT + 4, netif=s.netif)
        s.pcb("0.0.0.0 by name", "0.0.0.0", PORT + 5)

    stacks = pair(setup)
    for port in range(PORT, PORT + 6):
        for _ in range(2):
            same(stacks, datagram(dport=port))
    assert taken(stacks) == 12
    queue = dict(stacks[0][3].pcbs)["queue"].queue
    assert [d.data for d in queue] == [b"hello, datagram"] * 2


UNUSUAL = {
    "broadcast MAC": dict(dst_mac=b"\xff" * 6),
    "another station's MAC": dict(dst_mac=bytes.fromhex("020000000042")),
    "subnet broadcast": dict(dst=bytes([10, 0, 0, 255]), dst_mac=b"\xff" * 6),
    "limited broadcast": dict(dst=b"\xff" * 4, dst_mac=b"\xff" * 6),
    "multicast": dict(dst=bytes([224, 0, 0, 1]), dst_mac=bytes.fromhex("01005e000001")),
    "another address": dict(dst=bytes([10, 0, 0, 9])),
    "from ourselves": dict(src=OWN_B),
    "from loopback": dict(src=bytes([127, 0, 0, 1])),
    "from 127/8": dict(src=bytes([127, 0, 0, 5])),
    "from multicast": dict(src=bytes([224, 0, 0, 1])),
    "from 0.0.0.0": dict(src=bytes(4)),
    "from 0/8": dict(src=bytes([0, 0, 0, 5])),
    "from the broadcast address": dict(src=bytes([10, 0, 0, 255])),
    "VLAN tag": dict(vlan=True),
    "IP options": dict(ip_opts=b"\x01\x01\x01\x00"),
    "more fragments": dict(frag=0x2000),
    "a later fragment": dict(frag=0x0001),
    "the reserved flag": dict(frag=0x8000),
    "IP total past the frame": dict(total_delta=4),
    "IP total short of the UDP length": dict(total_delta=-1),
    "UDP length past the IP packet": dict(ulen_delta=1),
    "UDP length under its header": dict(ulen_delta=-16),
    "UDP length zero": dict(data=b"", ulen_delta=-8),
    "UDP length under its header, no checksum": dict(ulen_delta=-16, no_csum=True),
    "UDP length past the IP packet, no checksum": dict(ulen_delta=1, no_csum=True),
    "bad UDP checksum": dict(udp_csum=1),
    "bad IP checksum": dict(ip_csum=1),
    "a port nobody holds": dict(dport=PORT + 100),
    "TCP": dict(proto=6),
    "another Ethernet type": dict(ethertype=0x88B5),
    "IP version 5": dict(version=5),
}


@pytest.mark.parametrize("case", list(UNUSUAL))
def test_unusual_frames_take_the_full_way(case):
    stacks = pair(checksum_check_ip=True, checksum_check_udp=True)
    same(stacks, datagram(**UNUSUAL[case]))
    same(stacks, datagram(**UNUSUAL[case]), many=True)
    assert taken(stacks) == 0


def test_frames_cut_short_take_the_full_way():
    stacks = pair()
    for n in (0, 14, 33, 34, 41):
        same(stacks, datagram()[:n])
    assert taken(stacks) == 0


def _connected_elsewhere(s: Setup) -> None:
    s.pcb("connected", None, PORT, remote=("10.0.0.3", 4000))


def _connected_other_port(s: Setup) -> None:
    s.pcb("connected", None, PORT, remote=(PEER, 4001))


def _other_netif(s: Setup) -> None:
    other = s.stack.add_netif(CaptureDevice(), ip="10.1.0.1/24", hwaddr=b"\x02\x00\x00\x00\x00\x11")
    s.pcb("bound to another netif", None, PORT, netif=other)


def _v6only(s: Setup) -> None:
    s.pcb("v6only", "::", PORT, ip6=True, v6only=True)


def _other_address(s: Setup) -> None:
    s.stack.add_netif(CaptureDevice(), ip="10.1.0.1/24", hwaddr=b"\x02\x00\x00\x00\x00\x11")
    s.pcb("another address of ours", "10.1.0.1", PORT)


def _two_pcbs(s: Setup) -> None:
    s.pcb("first", None, PORT, reuse=True)
    s.pcb("second", None, PORT, reuse=True)


def _connected_and_not(s: Setup) -> None:
    s.pcb("any", None, PORT, reuse=True)
    s.pcb("connected", None, PORT, reuse=True, remote=(PEER, 4000))


def _raw_pcb(s: Setup) -> None:
    s.pcb("any")
    raw = s.stack.raw.new(17)
    raw.on_recv = lambda pcb, pkt: s.got.append(("raw", bytes(pkt.packet)))  # (not eaten: None)


def _hook(s: Setup) -> None:
    s.pcb("any")
    s.stack.hooks.ip4_input = lambda stack, packet, netif: (s.got.append(("hook", bytes(packet))), False)[1]


def _protocol(s: Setup) -> None:
    s.pcb("any")
    real = s.stack.udp.input
    s.stack.protocols[17] = lambda pkt, data: (s.got.append(("handler", bytes(data))), real(pkt, data))[1]


def _netif_down(s: Setup) -> None:
    s.pcb("any")
    s.netif.set_up(False)


SETUPS = {"connected to another peer": _connected_elsewhere, "connected to another port": _connected_other_port,
          "bound to another netif": _other_netif, "v6only": _v6only, "bound to another address": _other_address,
          "two pcbs on the port": _two_pcbs, "a connected and an unconnected pcb": _connected_and_not,
          "raw pcb": _raw_pcb, "ip4_input hook": _hook, "UDP handler replaced": _protocol, "netif down": _netif_down}


@pytest.mark.parametrize("case", list(SETUPS))
def test_unusual_stacks_take_the_full_way(case):
    stacks = pair(SETUPS[case])
    for _ in range(2):
        same(stacks, datagram())
        same(stacks, datagram(), many=True)
    assert taken(stacks) == 0
    if case in ("raw pcb", "ip4_input hook", "UDP handler replaced", "a connected and an unconnected pcb"):
        assert stacks[0][3].got  # (the setup's own witness saw the datagrams: the full way ran)


def test_napt_on_another_netif_takes_the_full_way_and_napt_on_this_one_the_short_way():
    stacks = pair(ipv4_napt=True, ip_forward=True)
    for stack, _, _, _ in stacks:
        other = stack.add_netif(CaptureDevice(), ip="10.1.0.1/24", hwaddr=b"\x02\x00\x00\x00\x00\x11")
        stack.napt.enable(other)
    same(stacks, datagram())
    assert taken(stacks) == 0
    for stack, netif, _, _ in stacks:
        stack.napt.disable()
        stack.napt.enable(netif)
    same(stacks, datagram())
    assert taken(stacks) == 1


def test_a_checksum_offloading_netif_takes_a_bad_checksum_as_the_full_way_does():
    stacks = pair(checksum_check_udp=True)
    for _, netif, _, _ in stacks:
        netif.checksum_offload = True
    same(stacks, datagram(udp_csum=1))
    assert taken(stacks) == 1 and len(stacks[0][3].got) == 1


def test_switched_off_and_checks_off():
    stacks = pair(checksum_check_ip=False, checksum_check_udp=False)
    same(stacks, datagram(udp_csum=1, ip_csum=1))  # neither checksum looked at, either way
    assert taken(stacks) == 1
    stacks[0][0].udp.fast_path = False
    same(stacks, datagram())
    assert taken(stacks) == 1


def test_the_addresses_kept_as_objects_are_forgotten_past_their_bound_and_remade():
    from lwipy.core import udp as udp_module

    stacks = pair()
    n = udp_module._ADDRS_KEPT + 10
    for i in range(n):
        src = bytes([10, 0, 1 + i // 250, 1 + i % 250])
        same(stacks, datagram(src=src))
    assert taken(stacks) == n
    assert len(stacks[0][0].udp._addrs4) <= udp_module._ADDRS_KEPT
    assert [str(d.src) for _, d in stacks[0][3].got[-2:]] == [str(d.src) for _, d in stacks[1][3].got[-2:]]
    # a new source to a new address of ours (both kept objects new) while one short of the bound are kept
    while len(stacks[0][0].udp._addrs4) < udp_module._ADDRS_KEPT - 1:
        n += 1
        same(stacks, datagram(src=bytes([10, 0, 1 + n // 250, 1 + n % 250])))
    for _, netif, _, _ in stacks:
        netif.set_ipv4("10.0.0.7/24", "10.0.0.254")
    same(stacks, datagram(src=bytes([10, 0, 0, 99]), dst=bytes([10, 0, 0, 7])))
    assert taken(stacks) == n + 1 and len(stacks[0][0].udp._addrs4) <= udp_module._ADDRS_KEPT
    assert str(stacks[0][3].got[-1][1].dst) == "10.0.0.7"


FIELDS = st.fixed_dictionaries({}, optional={
    "data": st.binary(max_size=600),
    "src": st.sampled_from([PEER_B, OWN_B, OTHER_B, bytes(4), bytes([10, 0, 0, 255]), bytes([127, 0, 0, 1])]),
    "dst": st.sampled_from([OWN_B, bytes([10, 0, 0, 255]), bytes([255] * 4), bytes([224, 0, 0, 1])]),
    "dst_mac": st.sampled_from([OWN_MAC, b"\xff" * 6, bytes.fromhex("01005e000001")]),
    "sport": st.sampled_from([4000, 4001, 67, 0]), "dport": st.sampled_from([PORT, PORT + 1, PORT + 2, 9, 68]),
    "tos": st.integers(0, 255), "frag": st.sampled_from([0, 0x4000, 0x2000, 0x0001]),
    "ip_opts": st.sampled_from([b"", b"\x01\x01\x01\x00"]), "ip_csum": st.sampled_from([0, 0, 1]),
    "udp_csum": st.sampled_from([0, 0, 1]), "no_csum": st.booleans(), "vlan": st.booleans(),
    "total_delta": st.sampled_from([0, 0, -1, 1, -9]), "ulen_delta": st.sampled_from([0, 0, -1, 1, -9]),
    "pad": st.binary(max_size=20), "proto": st.sampled_from([17, 17, 17, 6])})


def _mixed(s: Setup) -> None:
    s.pcb("any", queue=True)
    s.pcb("connected", None, PORT + 1, remote=(PEER, 4000))
    s.pcb("dual stack", "::", PORT + 2, ip6=True)


KINDS = st.sampled_from([bytes, bytearray, memoryview])  # what a device may hand the stack


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FIELDS, st.booleans(), st.booleans(), KINDS), min_size=1, max_size=10))
@pytest.mark.parametrize("checks", [False, True])
def test_differential_random_frames(checks, frames):
    """Random datagrams, good and bad, one at a time or in batches, each maybe cut short, as bytes, a bytearray or
    a memoryview: both stacks deliver, send and count the same."""
    stacks = pair(_mixed, checksum_check_ip=checks, checksum_check_udp=checks)
    for fields, many, cut, kind in frames:
        frame = datagram(**fields)
        same(stacks, kind(frame[:len(frame) // 2] if cut else frame), many=many)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 80), st.binary(min_size=1, max_size=12), st.booleans(), KINDS),
                min_size=1, max_size=6))
def test_arbitrary_bytes_in_a_datagram_are_taken_or_dropped_alike(edits):
    """Arbitrary bytes written over an ordinary datagram anywhere in its first 80 bytes (headers and lengths
    included), the frame maybe cut there: never an exception (the stacks are strict), the same deliveries and
    counters both ways."""
    stacks = pair(_mixed, checksum_check_ip=True, checksum_check_udp=True)
    base = datagram(bytes(range(100)))
    for at, junk, cut, kind in edits:
        frame = base[:at] + junk + (b"" if cut else base[at + len(junk):])
        same(stacks, kind(frame), many=True)
        same(stacks, kind(frame))

