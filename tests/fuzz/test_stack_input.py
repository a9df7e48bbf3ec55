"""Whatever arrives, ``Stack(strict=True).input`` never raises, and the stack still answers a ping afterwards.

The stack plays host B of the kernel captures in tests/wire/captures.py (02:00:00:00:00:0b, 10.9.0.2/24), so the
captured Linux frames are valid input as they are: they are the seeds, together with frames scapy builds for paths the
captures do not reach (ICMP errors quoting our datagrams, bad options, unknown protocols, broadcasts, tiny fragments,
packets to route when the stack forwards).
Mutations flip bytes (mostly in the headers), cut and extend frames, and sometimes repair the checksums afterwards so
that a mutated header gets past checksum checks into the code behind them.  Strict mode re-raises any unexpected
exception, so "never raises" means every bad frame was dropped and counted.
The ``p2p`` variants feed the same input, less its Ethernet header, to a point-to-point netif (bare IP packets).
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire import captures as cap  # tests/ is on sys.path (tests/conftest.py; pytest puts it there too)

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, ICMP, IP, UDP, Dot1Q, Ether, IPOption_NOP, IPOption_Router_Alert, Raw, fragment  # noqa: E402
from scapy.layers.igmp import IGMP  # noqa: E402

import lwipy  # noqa: E402
from lwipy.wire.checksum import checksum, pseudo_sum_v4  # noqa: E402
from lwipy.wire.ethernet import EthernetHeader  # noqa: E402
from lwipy.wire.icmp import IcmpHeader  # noqa: E402
from lwipy.wire.ipv4 import Ipv4Header  # noqa: E402
from lwipy.core.device import POINT_TO_POINT  # noqa: E402
from helpers import CaptureDevice, examples  # noqa: E402

pytestmark = pytest.mark.slow  # fuzzing: the quick tier (-m "not slow") leaves it out

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
IP_A, IP_B = "10.9.0.1", "10.9.0.2"
GROUP = "239.1.2.3"

DEFAULT = lwipy.Config()
CHECKING = lwipy.Config(ip4_reassembly=True, checksum_check_ip=True, checksum_check_udp=True)
# a router: a second netif (10.8.0.1/24, MTU 576) so that forwarding, its ICMP errors and re-fragmentation run
FORWARDING = lwipy.Config(ip_forward=True, ip4_reassembly=True)
CONFIGS = pytest.mark.parametrize("config", [DEFAULT, CHECKING, FORWARDING],
                                  ids=["defaults", "reassembly+checksums", "forwarding"])
LINKS = pytest.mark.parametrize("p2p", [False, True], ids=["ethernet", "p2p"])


def strip_link(frame: bytes | bytearray) -> bytes:
    """What a point-to-point netif gets of an Ethernet frame: everything after the (possibly tagged) header."""
    return bytes(frame[18:] if frame[12:14] == b"\x81\x00" else frame[14:])


class Host:
    """A strict stack as host B, with a static ARP entry for A (so a reply never waits on ARP), a UDP echo port 7777,
    a socket on the multicast port 5000 and membership of 239.1.2.3; with ``ip_forward`` a second netif too.  With
    ``p2p`` the netif is point-to-point: frames fed lose their Ethernet header, and what it sends gets one to read."""

    def __init__(self, config: lwipy.Config, p2p: bool = False) -> None:
        self.p2p = p2p
        self.stack = lwipy.Stack(config, seed=1, strict=True)
        if p2p:
            self.dev = CaptureDevice(link_kind=POINT_TO_POINT)
            self.netif = self.stack.add_netif(self.dev, ip=f"{IP_B}/24")
        else:
            self.dev = CaptureDevice()
            self.netif = self.stack.add_netif(self.dev, hwaddr=MAC_B, ip=f"{IP_B}/24")
            self.stack.etharp.add_static(IP_A, bytes.fromhex(MAC_A.replace(":", "")))
        self.echo = self.stack.udp.new()
        self.echo.bind(None, 7777)
        self.group = self.stack.udp.new()
        self.group.reuse_addr = True
        self.group.bind(None, 5000)
        self.group.join_group(GROUP)
        self.udp_out = self.stack.udp.new()
        self.udp_out.bind(None, 7000)
        self.udp_out.connect(IP_A, 9)
        if config.ip_forward:
            self.dev2 = CaptureDevice()
            self.stack.add_netif(self.dev2, hwaddr="02:00:00:00:01:0b", ip="10.8.0.1/24", mtu=576)
            self.stack.etharp.add_static("10.8.0.9", bytes.fromhex("020000000109"))
        self.now = 0.0
        self.pings = 0

    def feed(self, frame: bytes | bytearray, dt: float = 0.01) -> None:
        self.now += dt
        self.stack.input(self.netif, strip_link(frame) if self.p2p else frame, self.now)

    def poll(self, dt: float) -> None:
        self.now += dt
        self.stack.poll(self.now)

    def assert_answers_ping(self) -> None:
        """Send a valid echo request from A; B must transmit the echo reply at once."""
        self.pings += 1
        seq = self.pings
        payload = b"are you alive?" + seq.to_bytes(2, "big")
        self.dev.sent.clear()
        self.feed(ping_frame(0xBEEF, seq, payload))
        sent = [cap.ETH_A + cap.ETH_B + b"\x08\x00" + f for f in self.dev.sent] if self.p2p else self.dev.sent
        replies = [r for r in map(parse_echo_reply, sent) if r is not None]
        assert (0xBEEF, seq, payload) in replies, f"no echo reply among {len(self.dev.sent)} frames sent"
        for _ in range(10):  # drain anything due (looped-back packets) so that it does not pile up
            due = self.stack.poll_at()
            if due is None or due > self.now:
                break
            self.stack.poll(self.now)


def ping_frame(ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request from A to B, built with lwipy's own header classes (checked against scapy in tests/wire)."""
    icmp_len = 8 + len(payload)
    buf = bytearray(14 + 20 + icmp_len)
    buf[42:] = payload
    IcmpHeader.echo(8, ident, seq).emit(buf, 34, len(payload))
    Ipv4Header(cap.IP_A, cap.IP_B, 1, 64, 0, 0x4242, False, False, 0, 20 + icmp_len).emit(buf, 14)
    EthernetHeader(cap.ETH_B, cap.ETH_A, 0x0800).emit(buf, 0)
    return bytes(buf)


def parse_echo_reply(frame: bytes) -> tuple[int, int, bytes] | None:
    eth, rest = EthernetHeader.parse(frame)
    if eth.ethertype != 0x0800 or eth.dst != cap.ETH_A:
        return None
    ip, rest = Ipv4Header.parse(rest)
    if ip.proto != 1 or ip.dst != cap.IP_A or ip.src != cap.IP_B:
        return None
    icmp, body = IcmpHeader.parse(rest)
    if icmp.type != 0:
        return None
    return icmp.ident, icmp.seq, bytes(body)


# -- seeds ----------------------------------------------------------------------------------------------------------
def _eth(dst: str = MAC_B) -> Ether:
    return Ether(dst=dst, src=MAC_A)


def _scapy_seeds() -> list[bytes]:
    quoted = IP(src=IP_B, dst=IP_A, id=3) / UDP(sport=7000, dport=9) / b"quoted payload"
    big = IP(src=IP_A, dst=IP_B, id=0x999) / UDP(sport=40000, dport=7777) / (bytes(range(256)) * 3)
    bad_option = bytearray(20 + 4 + 9)  # option 0x83 (loose source route) with a length of 1
    bad_option[24:] = bytes(UDP(sport=1, dport=7777, len=9, chksum=0) / b"x")
    Ipv4Header(cap.IP_A, cap.IP_B, 17, total_len=len(bad_option), options=b"\x83\x01\x00\x00").emit(bad_option)
    seeds = [
        # ICMP errors about a datagram our connected pcb sent (reaches udp.icmp_error)
        _eth() / IP(src=IP_A, dst=IP_B) / ICMP(type=3, code=3) / bytes(quoted)[:28],
        _eth() / IP(src=IP_A, dst=IP_B) / ICMP(type=3, code=4, nexthopmtu=576) / bytes(quoted),
        _eth() / IP(src=IP_A, dst=IP_B) / ICMP(type=11, code=0) / bytes(quoted)[:28],
        _eth() / IP(src=IP_A, dst=IP_B) / ICMP(type=12, ptr=20) / bytes(quoted)[:24],
        _eth() / IP(src=IP_A, dst=IP_B) / ICMP(type=0, id=1, seq=1) / b"unsolicited reply",
        # options: good, and one with a bad length (parameter problem)
        _eth() / IP(src=IP_A, dst=IP_B, options=[IPOption_NOP(), IPOption_Router_Alert()]) / UDP(sport=1, dport=7777)
        / b"options",
        _eth() / Raw(bytes(bad_option)),
        # an unknown protocol (protocol unreachable), broadcasts, a datagram for someone else
        _eth() / IP(src=IP_A, dst=IP_B, proto=132) / b"sctp?",
        _eth("ff:ff:ff:ff:ff:ff") / IP(src=IP_A, dst="10.9.0.255") / UDP(sport=68, dport=7777) / b"subnet broadcast",
        _eth("ff:ff:ff:ff:ff:ff") / IP(src=IP_A, dst="255.255.255.255") / ICMP() / b"broadcast ping",
        _eth() / IP(src=IP_A, dst="10.9.0.77") / UDP(sport=1, dport=2) / b"not ours",
        # ARP: a gratuitous one, a reply for someone we never asked about, a request for another host
        _eth("ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc="02:00:00:00:00:99", psrc="10.9.0.99", pdst="10.9.0.99"),
        _eth() / ARP(op=2, hwsrc="02:00:00:00:00:98", psrc="10.9.0.98", hwdst=MAC_B, pdst=IP_B),
        _eth("ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=IP_A, pdst="10.9.0.50"),
        # IGMP: a v1 query, a report from another member, a query for a group we are not in
        _eth("01:00:5e:00:00:01") / IP(src=IP_A, dst="224.0.0.1", ttl=1) / IGMP(type=0x11, mrcode=0),
        _eth("01:00:5e:01:02:03") / IP(src="10.9.0.7", dst=GROUP, ttl=1) / IGMP(type=0x16, gaddr=GROUP),
        _eth("01:00:5e:00:00:01") / IP(src=IP_A, dst="224.0.0.1", ttl=1) / IGMP(type=0x11, mrcode=5,
                                                                                  gaddr="239.9.9.9"),
        # a tagged frame (this netif is untagged)
        _eth() / Dot1Q(vlan=5) / IP(src=IP_A, dst=IP_B) / ICMP() / b"tagged",
    ]
    # small fragments of a UDP datagram to the echo port, in order (reassembly when enabled)
    seeds += [_eth() / piece for piece in fragment(big, fragsize=256)]
    return [bytes(s) for s in seeds] + list(_forwarding_seeds().values())


def _forwarding_seeds() -> dict[str, bytes]:
    """Through a router (see FORWARDING): to a resolved and an unresolved host, TTL 1, too big with and without DF,
    nowhere to go."""
    udp = UDP(sport=1, dport=2)
    return {name: bytes(_eth() / pkt) for name, pkt in {
        "forward": IP(src=IP_A, dst="10.8.0.9") / udp / b"forward me",
        "unresolved": IP(src=IP_A, dst="10.8.0.5") / ICMP() / b"who is there",
        "ttl 1": IP(src=IP_A, dst="10.8.0.9", ttl=1) / udp / b"last hop",
        "df too big": IP(src=IP_A, dst="10.8.0.9", flags="DF") / udp / bytes(900),
        "too big": IP(src=IP_A, dst="10.8.0.9", options=[IPOption_Router_Alert()]) / udp / bytes(900),
        "no route": IP(src=IP_A, dst="192.0.2.1") / udp / b"no route",
    }.items()}


CAPTURED_SEEDS = [
    cap.ARP_REQUEST, cap.ARP_REPLY, cap.ECHO_REQUEST, cap.ECHO_REQUEST_RR, cap.ECHO_REQUEST_TS, cap.UDP_REQUEST,
    cap.UDP_TO_CLOSED_PORT, cap.UDP_MULTICAST, cap.IGMP_V2_REPORT, cap.IGMP_LEAVE, cap.IGMP_V2_GENERAL_QUERY,
    cap.IGMP_V2_GROUP_QUERY, cap.IGMP_V3_GENERAL_QUERY, cap.FRAG_ECHO_REQUEST_1, cap.FRAG_ECHO_REQUEST_2,
    cap.VLAN_ECHO_REQUEST, cap.ICMP_PORT_UNREACHABLE,
]
SEEDS = CAPTURED_SEEDS + _scapy_seeds()
SMALL_SEEDS = [s for s in SEEDS if len(s) <= 200]


def fix_checksums(frame: bytearray) -> None:
    """Recompute the IPv4 header checksum and, for an unfragmented ICMP, IGMP or UDP packet, its checksum, when the
    (mutated) lengths still make that possible.  Lets mutations of other fields reach the code past the checks."""
    off = 18 if frame[12:14] == b"\x81\x00" else 14
    if len(frame) < off + 20 or frame[off - 2:off] != b"\x08\x00":
        return
    ihl = (frame[off] & 0x0F) * 4
    if ihl < 20 or off + ihl > len(frame):
        return
    frame[off + 10:off + 12] = b"\x00\x00"
    frame[off + 10:off + 12] = checksum(frame[off:off + ihl]).to_bytes(2, "big")
    total = int.from_bytes(frame[off + 2:off + 4], "big")
    if total < ihl or off + total > len(frame) or int.from_bytes(frame[off + 6:off + 8], "big") & 0x3FFF:
        return
    proto, body, end = frame[off + 9], off + ihl, off + total
    if proto in (1, 2) and end - body >= 4:
        frame[body + 2:body + 4] = b"\x00\x00"
        frame[body + 2:body + 4] = checksum(frame[body:end]).to_bytes(2, "big")
    elif proto == 17 and end - body >= 8:
        length = int.from_bytes(frame[body + 4:body + 6], "big")
        if 8 <= length <= end - body:
            frame[body + 6:body + 8] = b"\x00\x00"
            pseudo = pseudo_sum_v4(bytes(frame[off + 12:off + 16]), bytes(frame[off + 16:off + 20]), 17, length)
            frame[body + 6:body + 8] = (checksum(frame[body:body + length], pseudo) or 0xFFFF).to_bytes(2, "big")


@st.composite
def mutated(draw) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    header_end = min(len(frame), 64)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, header_end - 1) | st.integers(0, len(frame) - 1))
        frame[pos] ^= draw(st.integers(1, 255))
    if draw(st.integers(0, 3)) == 0:
        del frame[draw(st.integers(0, len(frame))):]
    if draw(st.integers(0, 5)) == 0:
        frame += draw(st.binary(max_size=24))
    if draw(st.booleans()):
        fix_checksums(frame)
    return bytes(frame)


FUZZ = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the properties --------------------------------------------------------------------------------------------------
@LINKS
@CONFIGS
@FUZZ
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=6))
def test_arbitrary_bytes(config: lwipy.Config, p2p: bool, frames: list[bytes]) -> None:
    host = Host(config, p2p)
    received = host.stack.stats.link.recv
    for frame in frames:
        host.feed(frame)
    assert host.stack.stats.link.recv == received + len(frames)  # each one counted...
    assert host.stack.stats.link.err == 0  # ...and none an internal error
    host.assert_answers_ping()


@CONFIGS
@FUZZ
@given(st.lists(st.tuples(st.sampled_from([b"\x08\x00", b"\x08\x06", b"\x81\x00"]), st.binary(max_size=80)),
                min_size=1, max_size=6))
def test_arbitrary_payload_behind_our_mac(config: lwipy.Config, frames: list[tuple[bytes, bytes]]) -> None:
    """Random bytes that do get past the Ethernet layer (our MAC, an EtherType we read)."""
    host = Host(config)
    for ethertype, payload in frames:
        host.feed(cap.ETH_B + cap.ETH_A + ethertype + payload)
    host.assert_answers_ping()


@LINKS
@CONFIGS
@FUZZ
@given(st.lists(st.tuples(st.integers(0x40, 0x4F), st.binary(min_size=19, max_size=80)), min_size=1, max_size=6))
def test_arbitrary_ipv4_behind_a_version_4_byte(config: lwipy.Config, p2p: bool,
                                                packets: list[tuple[int, bytes]]) -> None:
    host = Host(config, p2p)
    for first, rest in packets:
        packet = bytearray([first]) + rest
        if len(packet) >= 20:
            packet[16:20] = cap.IP_B  # for us, so the checks behind the address test run
        host.feed(cap.ETH_B + cap.ETH_A + b"\x08\x00" + bytes(packet))
    host.assert_answers_ping()


@LINKS
@CONFIGS
@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(mutated(), st.sampled_from([0.0, 0.01, 0.6, 3.5])), min_size=1, max_size=8))
def test_mutated_frames(config: lwipy.Config, p2p: bool, frames: list[tuple[bytes, float]]) -> None:
    host = Host(config, p2p)
    for frame, dt in frames:
        host.feed(frame)
        if dt:
            host.poll(dt)  # let timers run: ARP retries, reassembly timeouts, IGMP reports
    assert host.stack.stats.link.err == 0
    host.assert_answers_ping()
    host.poll(10.0)
    host.assert_answers_ping()


# -- deterministic sweeps --------------------------------------------------------------------------------------------
@LINKS
@CONFIGS
def test_every_truncation_of_every_seed(config: lwipy.Config, p2p: bool) -> None:
    host = Host(config, p2p)
    for seed in SEEDS:
        for n in range(len(seed)):
            host.feed(seed[:n], dt=0.0)
        host.assert_answers_ping()


@LINKS
@CONFIGS
@pytest.mark.parametrize("xor", [0x01, 0x80, 0xFF])
def test_every_header_byte_flipped(config: lwipy.Config, xor: int, p2p: bool) -> None:
    host = Host(config, p2p)
    for seed in SMALL_SEEDS:
        for pos in range(min(len(seed), 64)):
            frame = bytearray(seed)
            frame[pos] ^= xor
            host.feed(frame, dt=0.0)
            fix_checksums(frame)
            host.feed(frame, dt=0.0)
        host.assert_answers_ping()
        host.poll(1.0)


# -- the seeds are good input: each reaches the code it is meant to -------------------------------------------------
def _sent(host: Host) -> list[Ether]:
    frames = [Ether(f) for f in host.dev.sent]
    host.dev.sent.clear()
    return frames


@CONFIGS
def test_captured_seeds_get_the_kernel_s_answers(config: lwipy.Config) -> None:
    host = Host(config)
    host.dev.sent.clear()
    host.feed(cap.ARP_REQUEST)
    (reply,) = _sent(host)
    assert (reply[ARP].op, reply[ARP].psrc, reply[ARP].pdst, reply[ARP].hwsrc) == (2, IP_B, IP_A, MAC_B)
    assert bytes(reply)[:42] == cap.ARP_REPLY  # byte for byte what Linux answered
    for request, linux_reply in ((cap.ECHO_REQUEST, cap.ECHO_REPLY), (cap.ECHO_REQUEST_RR, cap.ECHO_REPLY_RR),
                                 (cap.ECHO_REQUEST_TS, cap.ECHO_REPLY_TS)):
        host.feed(request)
        (reply,) = _sent(host)
        # the ICMP message is byte for byte the kernel's (the IP header differs: ident, flags, no copied options)
        assert bytes(reply[ICMP]) == bytes(Ipv4Header.parse(linux_reply[14:])[1])
    host.feed(cap.UDP_REQUEST)
    assert _sent(host) == [] and host.echo.recv().data == b"lwipy capture\n"
    host.feed(cap.UDP_TO_CLOSED_PORT)
    (unreach,) = _sent(host)
    assert (unreach[ICMP].type, unreach[ICMP].code) == (3, 3)
    host.feed(cap.UDP_MULTICAST)
    assert host.group.recv().data == b"to the group"
    host.feed(cap.IGMP_V2_GENERAL_QUERY)
    host.poll(10.5)
    reports = [f for f in _sent(host) if IGMP in f]
    assert reports and reports[-1][IGMP].type == 0x16 and reports[-1][IGMP].gaddr == GROUP
    host.feed(cap.FRAG_ECHO_REQUEST_1)
    host.feed(cap.FRAG_ECHO_REQUEST_2)
    replies = _sent(host)
    if config.ip4_reassembly:
        assert len(replies) == 2 and all(f[IP].id == replies[0][IP].id for f in replies)
    else:
        assert replies == [] and host.stack.stats.ip.drop > 0


def test_forwarding_seeds_are_forwarded() -> None:
    host = Host(FORWARDING)
    seeds = _forwarding_seeds()

    def sent() -> tuple[list[Ether], list[Ether]]:
        out = [Ether(f) for f in host.dev.sent], [Ether(f) for f in host.dev2.sent]
        host.dev.sent.clear()
        host.dev2.sent.clear()
        return out

    sent()
    host.feed(seeds["forward"])
    assert [(f.dst, f[IP].ttl, bytes(f[UDP].payload)) for f in sent()[1]] == [("02:00:00:00:01:09", 63, b"forward me")]
    host.feed(seeds["unresolved"])
    assert [f[ARP].pdst for f in sent()[1]] == ["10.8.0.5"]
    host.feed(seeds["ttl 1"])
    assert [(f[ICMP].type, f[ICMP].code) for f in sent()[0]] == [(11, 0)]
    host.feed(seeds["df too big"])
    assert [(f[ICMP].type, f[ICMP].code, f[ICMP].nexthopmtu) for f in sent()[0]] == [(3, 4, 576)]
    host.feed(seeds["too big"])
    pieces = sent()[1]
    assert len(pieces) == 2 and all(len(f[IP]) <= 576 for f in pieces)
    host.feed(seeds["no route"])
    assert [(f[ICMP].type, f[ICMP].code) for f in sent()[0]] == [(3, 1)]


def test_icmp_error_seed_reaches_the_connected_pcb() -> None:
    host = Host(DEFAULT)
    host.feed(_scapy_seeds()[0])
    assert host.udp_out.take_error() != 0


# -- regressions found by these tests ----------------------------------------------------------------------------------
@CONFIGS
def test_reassembly_longer_than_64k_with_options_on_the_first_fragment(config: lwipy.Config) -> None:
    """Fragment checks used each fragment's own header length; the datagram is rebuilt with the first fragment's
    header, 40 bytes longer here, so the rebuilt total length passed 65,535 and emitting it raised struct.error."""
    config = config.replace(ip4_reassembly=True)
    host = Host(config)
    first = _eth() / IP(src=IP_A, dst=IP_B, id=7, flags="MF", proto=17, options=[IPOption_NOP()] * 40) / Raw(
        bytes(65472))
    last = _eth() / IP(src=IP_A, dst=IP_B, id=7, frag=65472 // 8, proto=17) / Raw(bytes(43))
    host.feed(bytes(first))
    host.feed(bytes(last))
    assert host.stack.stats.ip_frag.drop >= 1
    assert not host.stack.ip4.reass.pending and host.stack.ip4.reass.held == 0
    host.assert_answers_ping()


def _bad_option_packet(dst: bytes) -> bytes:
    packet = bytearray(20 + 4 + 9)  # option 0x83 with a length of 1, then a UDP datagram to the echo port
    packet[24:] = bytes(UDP(sport=1, dport=7777, len=9, chksum=0) / b"x")
    Ipv4Header(cap.IP_A, dst, 17, total_len=len(packet), options=b"\x83\x01\x00\x00").emit(packet)
    return bytes(packet)


@pytest.mark.parametrize("dst", ["10.9.0.77", "10.9.0.255", "255.255.255.255", "127.0.0.1", "239.9.9.9"])
def test_no_parameter_problem_for_packets_not_ours_or_broadcast(dst: str) -> None:
    """RFC 1122 3.2.2: no ICMP error about a datagram to a broadcast or multicast address; and a host drops a datagram
    for another host without a word.  Options used to be checked (and answered) before the destination was."""
    host = Host(DEFAULT)
    host.dev.sent.clear()
    host.feed(cap.ETH_B + cap.ETH_A + b"\x08\x00" + _bad_option_packet(bytes(int(x) for x in dst.split("."))))
    assert host.dev.sent == []
    assert host.stack.stats.ip.drop == 1


def test_parameter_problem_for_a_bad_option_sent_to_us() -> None:
    host = Host(DEFAULT)
    host.dev.sent.clear()
    host.feed(cap.ETH_B + cap.ETH_A + b"\x08\x00" + _bad_option_packet(cap.IP_B))
    (frame,) = host.dev.sent
    pkt = Ether(frame)
    assert (pkt[ICMP].type, pkt[ICMP].code, pkt[ICMP].ptr) == (12, 0, 20)
    assert host.stack.stats.ip.opterr == 1
