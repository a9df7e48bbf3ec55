"""TCP header prediction (core/tcp/fastpath.py): taken for the common segment, left for every unusual one, and the
same result either way (a differential test: random segment sequences through a stack with the fast path and one
without leave identical connection state, counters and output)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import OWN_MAC, PEER_MAC, CaptureDevice
from lwipy.wire.checksum import checksum, pseudo_sum_v4, verify
from tcp_script import OWN_IP, PEER_IP, TcpScript

PEER_B, OWN_B = bytes(map(int, PEER_IP.split("."))), bytes(map(int, OWN_IP.split(".")))
ACK, PSH, FIN, SYN, RST, URG, ECE = 0x10, 0x08, 0x01, 0x02, 0x04, 0x20, 0x40
TS = ("Timestamp", (100, 0))


def frame(t: TcpScript, seq: int, ack: int, flags: int = ACK, data: bytes = b"", window: int = 65535,
          ts: tuple[int, int] | None = None, opts: bytes | None = None, ip_opts: bytes = b"", frag: int = 0x4000,
          dst_mac: bytes = OWN_MAC, tcp_csum_delta: int = 0, ip_csum_delta: int = 0, vlan: bool = False,
          ethertype: bytes = b"\x08\x00", version: int = 4, tos: int = 0, ttl: int = 64, proto: int = 6,
          off_low: int = 0) -> bytes:
    """An Ethernet frame from the scripted peer to lwipy, built by hand (every field under the test's control;
    ``off_low`` the low bits of the TCP data offset's byte: reserved, and RFC 3540's NS)."""
    if opts is None:
        opts = b"\x01\x01\x08\x0a" + struct.pack("!II", *ts) if ts is not None else b""
    thl = 20 + len(opts)
    tcp = bytearray(struct.pack("!HHIIBBHHH", t.peer_port, t.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                (thl // 4) << 4 | off_low, flags, window, 0, 0) + opts + data)
    csum = checksum(tcp, pseudo_sum_v4(PEER_B, OWN_B, 6, len(tcp)))  # (TCP's, whatever ``proto`` says)
    struct.pack_into("!H", tcp, 16, (csum + tcp_csum_delta) & 0xFFFF)
    ihl = 20 + len(ip_opts)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", version << 4 | ihl // 4, tos, ihl + len(tcp), 1, frag, ttl, proto, 0,
                               PEER_B, OWN_B) + ip_opts)
    struct.pack_into("!H", ip, 10, (checksum(ip) + ip_csum_delta) & 0xFFFF)
    eth = dst_mac + PEER_MAC + (b"\x81\x00\x00\x00" if vlan else b"") + ethertype
    return eth + bytes(ip) + bytes(tcp)


def inject(t: TcpScript, raw: bytes) -> None:
    t.stack.input(t.netif, raw, t.now)


def established(ts: bool = True, sack: bool = False, fast: bool = True, reader: bool = True,
                wscale: int | None = None, **options):
    """A TcpScript with an ESTABLISHED passive pcb (timestamps negotiated or not; with ``wscale`` the peer offers
    window scaling with that shift); its reader takes all data."""
    options.setdefault("tcp_timestamps", ts)  # ESP-IDF's defaults build neither timestamps nor SACK in
    options.setdefault("tcp_sack_out", sack)
    t = TcpScript(**options)
    t.stack.tcp.fast_path = fast
    opts = [("MSS", 1000)] + ([TS] if ts else []) + ([("SAckOK", b"")] if sack else []) \
        + ([("WScale", wscale)] if wscale is not None else [])
    t.stack.tcp.isn = lambda *args: 5000
    listener = t.stack.tcp.listen(t.port)
    t.send("S", options=opts)
    synack = t.sent()[0]
    t.iss = synack.seq
    t.send("A", ack=t.iss + 1, options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))] if ts else [])
    t.dev.take()
    pcb = listener.accept()
    assert pcb is not None and pcb.state_name == "ESTABLISHED"
    got = bytearray()
    if reader:
        def on_event(p):
            while p.readable:
                got.extend(p.recv())
        pcb.on_event = on_event
    return t, pcb, got


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_in_order_data_is_taken_and_acked_every_second_segment(ts):
    t, pcb, got = established(ts=ts)
    una = pcb.snd_una
    for i in range(6):
        inject(t, frame(t, t.peer_seq, una, ACK | PSH, bytes([65 + i]) * 900, ts=(200 + i, 5) if ts else None))
        t.peer_seq += 900
    assert t.stack.tcp.fast_taken == 6
    assert bytes(got) == b"".join(bytes([65 + i]) * 900 for i in range(6))
    assert pcb.rcv_nxt == t.peer_seq
    acks = t.sent()
    assert len(acks) == 3 and all(str(a.flags) == "A" for a in acks)
    # the first read opens the window the SYN-ACK offered (an update), then every second segment; the sixth waits
    assert [a.ack for a in acks] == [t.peer_seq - 5400 + 900 * k for k in (1, 3, 5)]
    assert pcb.delack_at is not None
    if ts:
        assert pcb.ts_recent == 205  # the sixth segment starts at the last ACK sent: RFC 7323 4.3
    assert t.stack.stats.tcp.recv >= 6 and t.stack.stats.link.recv >= 6


@pytest.mark.parametrize("ts", [True, False])
def test_pure_ack_of_new_data_is_taken(ts):
    t, pcb, _ = established(ts=ts)
    pcb.send(b"x" * 3000)
    segs = t.sent()
    assert sum(len(s.payload) for s in segs) > 0
    first = pcb.snd_una
    inject(t, frame(t, t.peer_seq, first + len(segs[0].payload), ts=(300, 1) if ts else None))
    assert t.stack.tcp.fast_taken == 1
    assert pcb.snd_una == first + len(segs[0].payload)
    assert len(pcb.snd_buf) == 3000 - len(segs[0].payload)


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("size", [1, 2, 63, 64, 361, 372, 373, 374, 999, 1000, 1999, 3001])
def test_segments_of_every_length_are_taken(ts, size):
    """in13: the TCP checksum is summed from the IP source on (the pseudo-header's addresses with the segment): a
    right one passes for odd and even lengths, short ones (one integer) and those past 400 bytes (data_sum: its
    bound falls at 361 and 373 bytes of data, with and without timestamps; past 1,536 summed bytes, a jumbo frame's,
    in 512-byte pieces), and a segment one off is refused."""
    t, pcb, got = established(ts=ts)
    for i in range(2):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, bytes([97 + i]) * size, ts=(700 + i, 1) if ts else None))
        t.peer_seq += size
    assert t.stack.tcp.fast_taken == 2
    assert bytes(got) == b"a" * size + b"b" * size
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"c" * size, ts=(702, 1) if ts else None,
                    tcp_csum_delta=1))
    assert t.stack.tcp.fast_taken == 2 and bytes(got) == b"a" * size + b"b" * size  # (dropped by the full path)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(1, 1000).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.sampled_from([0, 1, 0x100, 0xFFFE, 0xFFFF, "pseudo"]) | st.integers(0, 0xFFFF),
       st.sampled_from([bytes, bytearray, memoryview]))
def test_a_segment_is_taken_exactly_when_its_tcp_checksum_is_right(ts, data, delta, kind):
    """in15: fast_input compares the modulo of the segment's sum (from the IP source on) alone with what a right
    segment's comes to, for its end: for any data (odd and even lengths, short ones and those past 400 bytes summed
    by data_sum) and any checksum field, the segment is taken exactly when ``wire.checksum.verify`` (the full
    path's test) finds it right; a wrong one is left to the full path, which drops it.  ("pseudo": the field of a
    sender that left the pseudo-header's protocol and length out, whose sum without them is all ones.)  in2: a short
    segment's sum compared with ``_RIGHT_SUMS`` (an odd length's shift in the table), a long one's as before, and
    frames of each type a device hands over (a memoryview's long ones summed as one integer)."""
    t, pcb, got = established(ts=ts)
    if delta == "pseudo":
        delta = 6 + 20 + (12 if ts else 0) + len(data)
    raw = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, data, ts=(700, 1) if ts else None, tcp_csum_delta=delta)
    right = verify(raw[34:], pseudo_sum_v4(PEER_B, OWN_B, 6, len(raw) - 34))
    inject(t, kind(raw))
    assert t.stack.tcp.fast_taken == right and bytes(got) == (data if right else b"")


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("tos, ttl, frag", [(0, 64, 0x4000), (0xB8, 1, 0), (0xFF, 255, 0x4000), (0x03, 128, 0)])
def test_fields_read_as_words_take_any_tos_ttl_and_df(ts, tos, ttl, frag):
    """in12: fast_input reads the type with the IP version, header length and TOS as one word, the fragment field
    with the TTL and protocol as another, and the TCP header length with the flags as a third: the TOS, the TTL and
    the DF bit are no reason to leave the fast path (the unusual cases below: each other field is)."""
    t, pcb, got = established(ts=ts)
    for i, flags in enumerate((ACK | PSH, ACK)):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, flags, b"k" * 10, ts=(500 + i, 1) if ts else None, tos=tos,
                        ttl=ttl, frag=frag))
        t.peer_seq += 10
    assert t.stack.tcp.fast_taken == 2
    assert bytes(got) == b"k" * 20


# -- left for every unusual one ------------------------------------------------------------------------------------------
UNUSUAL = {
    "out of order": lambda t, p: dict(seq=t.peer_seq + 500, data=b"o" * 100),
    "old data": lambda t, p: dict(seq=t.peer_seq - 50, data=b"o" * 100),
    "FIN": lambda t, p: dict(flags=ACK | FIN, data=b"f"),
    "RST": lambda t, p: dict(flags=RST | ACK),
    "SYN": lambda t, p: dict(flags=SYN | ACK),
    "URG": lambda t, p: dict(flags=ACK | URG, data=b"u"),
    "ECE": lambda t, p: dict(flags=ACK | ECE, data=b"e"),
    "no ACK flag": lambda t, p: dict(flags=PSH, data=b"n"),
    "SACK option": lambda t, p: dict(opts=b"\x01\x01\x05\x0a" + struct.pack("!II", p.rcv_nxt, p.rcv_nxt + 1)),
    "timestamp missing": lambda t, p: dict(ts=None, data=b"m"),
    "timestamp old (PAWS)": lambda t, p: dict(ts=(1, 0), data=b"p"),
    "duplicate ACK": lambda t, p: dict(),
    "window update": lambda t, p: dict(window=1000),
    "ACK of unsent data": lambda t, p: dict(ack=p.snd_max + 10),
    "data beyond the window": lambda t, p: dict(data=b"w" * 9000),
    "bad TCP checksum": lambda t, p: dict(data=b"c", tcp_csum_delta=1),
    # a segment past a few hundred bytes is summed another way (wire.checksum.data_sum): even and odd lengths
    "bad TCP checksum, a full segment": lambda t, p: dict(data=bytes(range(256)) * 5 + b"s" * 120, tcp_csum_delta=1),
    "bad TCP checksum, an odd one": lambda t, p: dict(data=b"\xff" * 1001, tcp_csum_delta=0x100),
    "bad IP checksum": lambda t, p: dict(data=b"c", ip_csum_delta=1),
    "IP options": lambda t, p: dict(data=b"i", ip_opts=b"\x01\x01\x01\x00"),
    "fragment": lambda t, p: dict(data=b"g", frag=0x2000),
    "broadcast MAC": lambda t, p: dict(data=b"b", dst_mac=b"\xff" * 6),
    "VLAN tag": lambda t, p: dict(data=b"v", vlan=True),
    # in12: each field of the words fast_input reads as one (type, version and header length; fragment and protocol;
    # TCP header length and flags) masked in, the TOS and the TTL masked out (test_fields_read_as_words_...)
    "another ethertype": lambda t, p: dict(data=b"e", ethertype=b"\x86\xdd"),
    "ethertype 0x0900": lambda t, p: dict(data=b"e", ethertype=b"\x09\x00"),  # (IPv4's low byte)
    "ethertype ARP": lambda t, p: dict(data=b"e", ethertype=b"\x08\x06"),  # (IPv4's high byte)
    "IP version 5": lambda t, p: dict(data=b"5", version=5),
    "a fragment's offset": lambda t, p: dict(data=b"o", frag=0x4001),
    "a fragment's high offset": lambda t, p: dict(data=b"o", frag=0x1F00),
    "the reserved IP flag": lambda t, p: dict(data=b"r", frag=0xC000),
    "UDP": lambda t, p: dict(data=b"u" * 8, proto=17),
    "CWR": lambda t, p: dict(flags=ACK | PSH | 0x80, data=b"w"),
    "NS": lambda t, p: dict(data=b"n", off_low=1),
    "reserved TCP bits": lambda t, p: dict(data=b"n", off_low=0x0E),
    "a 24-byte TCP header": lambda t, p: dict(data=b"h", ts=None, opts=b"\x01\x01\x01\x00"),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_unusual_segments_take_the_full_path(case):
    t, pcb, _ = established(ts=True, checksum_check_ip=case == "bad IP checksum")  # ESP-IDF's default: unchecked
    pcb.send(b"y" * 500)  # data in flight, so that duplicate ACKs are duplicates
    t.dev.take()
    args = dict(seq=t.peer_seq, ack=pcb.snd_una, flags=ACK | PSH, ts=(400, 1))
    args.update(UNUSUAL[case](t, pcb))
    inject(t, frame(t, **args))
    assert t.stack.tcp.fast_taken == 0


@pytest.mark.parametrize("cut", [2, 4, 30])
def test_a_frame_shorter_than_its_ip_length_takes_the_full_path(cut):
    """A frame cut short of its IPv4 total length, the bytes missing zeros (so that the checksum, summed with the
    length the header says, still passes), or shorter than the headers fast_input reads: left to the full path,
    which drops it (in13: the length read where the end is checked, and a short frame turned away by the struct)."""
    t, pcb, got = established(ts=False)
    raw = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"z" * 10 + bytes(30))
    inject(t, raw[:-cut])
    assert t.stack.tcp.fast_taken == 0 and got == b"" and pcb.rcv_nxt == t.peer_seq
    inject(t, raw[:53])
    assert t.stack.tcp.fast_taken == 0
    inject(t, raw)
    assert t.stack.tcp.fast_taken == 1 and got == b"z" * 10 + bytes(30)


@pytest.mark.parametrize("length", [58, 60, 62, 65])
@pytest.mark.parametrize("ip_total", ["as cut", "as sent"])
def test_a_frame_cut_inside_its_timestamps_takes_the_full_path(length, ip_total):
    """in15: a segment for a predicted connection whose header says timestamps (NOP, NOP, kind 8, length 10) in a
    frame that ends inside them (58 to 65 bytes; its IP length cut to match, or still the whole segment's) is left to
    the full way, which drops it, as it is any frame shorter than its headers: fast_input read the timestamps past
    the frame's end before it compared the end with the headers' (a struct.error: raised by a strict stack, else
    counted in link.err and logged as a bug of ours)."""
    t, pcb, got = established(ts=True)
    raw = bytearray(frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"", ts=(700, 1))[:length])
    if ip_total == "as cut":
        struct.pack_into("!H", raw, 16, length - 14)
        struct.pack_into("!H", raw, 24, 0)
        struct.pack_into("!H", raw, 24, checksum(raw[14:34]))
    errors = t.stack.stats.link.err
    inject(t, bytes(raw))
    t.stack.input_many(t.netif, [bytes(raw)], t.now)
    assert t.stack.tcp.fast_taken == 0 and t.stack.stats.link.err == errors and got == b""
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"t" * 5, ts=(701, 1)))
    assert t.stack.tcp.fast_taken == 1 and got == b"t" * 5


@pytest.mark.parametrize("offload", [False, True])
@pytest.mark.parametrize("ts, ip_total", [(False, 36), (False, 38), (True, 40), (True, 44), (True, 50)])
def test_an_ip_length_short_of_the_tcp_header_takes_the_full_path(ts, ip_total, offload):
    """in15: a segment whose IP length ends inside its own TCP header (20 or 32 bytes), in a frame long enough to
    hold the header (the rest padding) and with a checksum right for that length (the window picked to make it so),
    is left to the full way, which drops it: fast_input compares the end with each kind's header (start) as it
    picks it.  in2: a plain segment's with its sum (the table's -1 below 54), or, when the netif offloads the
    checksum (nothing summed), with the header's end."""
    t, pcb, got = established(ts=ts)
    t.netif.checksum_offload = offload
    pcb.send(b"y" * 100)
    t.dev.take()
    una = pcb.snd_una
    raw = bytearray(frame(t, t.peer_seq, una + 100, ACK, b"", window=0, ts=(700, 1) if ts else None) + bytes(20))
    end = 14 + ip_total
    struct.pack_into("!H", raw, 16, ip_total)
    struct.pack_into("!H", raw, 24, 0)
    struct.pack_into("!H", raw, 24, checksum(raw[14:34]))
    # the sum from the IP source to the end, with the pseudo-header's protocol and length, must be 0 modulo 0xFFFF
    struct.pack_into("!H", raw, 48, -(int.from_bytes(raw[26:end], "big") + end - 28) % 0xFFFF)
    assert verify(raw[34:end], pseudo_sum_v4(PEER_B, OWN_B, 6, end - 34))
    inject(t, bytes(raw))
    assert t.stack.tcp.fast_taken == 0 and pcb.snd_una == una
    inject(t, frame(t, t.peer_seq, una + 100, ACK, ts=(701, 1) if ts else None))
    assert t.stack.tcp.fast_taken == 1 and pcb.snd_una == una + 100


@pytest.mark.parametrize("case", ["close_wait", "ooseq held", "raw pcb", "ip4_input hook", "disabled", "napt"])
def test_unusual_connections_take_the_full_path(case):
    options = dict(ipv4_napt=True, ip_forward=True) if case == "napt" else {}
    t, pcb, _ = established(ts=False, **options)
    if case == "close_wait":
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | FIN))
        t.peer_seq += 1
        assert pcb.state_name == "CLOSE_WAIT"
    elif case == "ooseq held":
        inject(t, frame(t, t.peer_seq + 100, pcb.snd_una, ACK, b"z" * 50))
        assert pcb.ooseq
    elif case == "raw pcb":
        t.stack.raw.new(6)
    elif case == "ip4_input hook":
        t.stack.hooks.ip4_input = lambda stack, data, netif: False
    elif case == "napt":  # NAPT inside on another netif: ip_napt_recv sees the segment before TCP
        inside = t.stack.add_netif(CaptureDevice(), ip="192.168.4.1/24", hwaddr=b"\x02\x00\x00\x00\x04\x01")
        t.stack.napt.enable(inside)
    else:
        t.stack.tcp.fast_path = False
    t.dev.take()
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"d" * 10))
    assert t.stack.tcp.fast_taken == 0
    if case in ("raw pcb", "ip4_input hook", "disabled", "napt"):
        assert pcb.rcv_nxt == t.peer_seq + 10  # the full path took the data


NETIF_WRITERS = {
    "set_up(False)": (lambda t: t.netif.set_up(False), lambda t: t.netif.set_up(True)),
    "up = False": (lambda t: setattr(t.netif, "up", False), lambda t: setattr(t.netif, "up", True)),
    "vlan_id = 5": (lambda t: setattr(t.netif, "vlan_id", 5), lambda t: setattr(t.netif, "vlan_id", None)),
    "vlan_id = 0": (lambda t: setattr(t.netif, "vlan_id", 0), lambda t: setattr(t.netif, "vlan_id", None)),
    "another MAC": (lambda t: setattr(t.netif, "hwaddr", b"\x02\x00\x00\x00\x00\x42"),
                    lambda t: setattr(t.netif, "hwaddr", OWN_MAC)),
}


@pytest.mark.parametrize("writer", sorted(NETIF_WRITERS))
def test_a_netif_down_tagged_or_with_another_mac_takes_no_segment_by_prediction(writer):
    """in13: fast_input compares a frame's destination with ``Netif.rx_mac`` alone (the MAC while the netif is up and
    untagged, else None): each way of taking the netif down, tagging it or changing its MAC leaves the segment to
    the full path, and undoing it lets the next be taken again."""
    change, undo = NETIF_WRITERS[writer]
    t, pcb, got = established(ts=False)
    change(t)
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"d" * 10))
    assert t.stack.tcp.fast_taken == 0
    if writer == "another MAC":  # (to the new MAC: taken, as the full path takes it)
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"d" * 10, dst_mac=t.netif.hwaddr))
        t.peer_seq += 10
        assert t.stack.tcp.fast_taken == 1 and got == b"d" * 10
    undo(t)
    before = t.stack.tcp.fast_taken
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"e" * 10))
    assert t.stack.tcp.fast_taken == before + 1 and got.endswith(b"e" * 10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["up", "vlan_id", "hwaddr", "set_up"]), st.integers(0, 2)), max_size=12))
def test_netif_rx_mac_follows_every_write_of_its_fields(writes):
    """in13: whatever is written to ``hwaddr``, ``vlan_id`` and ``up`` (directly or by ``set_up``), in any order,
    ``rx_mac`` is ``hwaddr`` while the netif is up and untagged, else None; a new netif (down) has None."""
    from helpers import CaptureDevice
    from lwipy.core.stack import Stack
    stack = Stack(seed=1)
    netif = stack.add_netif(CaptureDevice(), hwaddr=OWN_MAC, up=False)
    assert netif.rx_mac is None
    values = {"up": [False, True, True], "vlan_id": [None, 7, 0], "hwaddr": [OWN_MAC, PEER_MAC, b"\x02" * 6],
              "set_up": [False, True, True]}
    for name, pick in writes:
        if name == "set_up":
            netif.set_up(values[name][pick])
        else:
            setattr(netif, name, values[name][pick])
        assert netif.rx_mac == (netif.hwaddr if netif.up and netif.vlan_id is None else None)


def _detour(stack) -> bool:
    """What ``Tcp.ip4_detour`` stands for: anything that may take an IPv4 packet before TCP, or (in15) the IP
    header's checksum to check."""
    return bool(stack.raw.pcbs) or stack.hooks.ip4_input is not None or stack.napt.netif is not None \
        or stack.config.checksum_check_ip


def _data_taken(t, pcb) -> bool:
    """A segment of data sent now: whether header prediction took it (the data reaches the connection either way)."""
    before, seq = t.stack.tcp.fast_taken, t.peer_seq
    inject(t, frame(t, seq, pcb.snd_una, ACK | PSH, b"d" * 10))
    t.peer_seq += 10
    assert pcb.rcv_nxt == t.peer_seq
    return t.stack.tcp.fast_taken == before + 1


@pytest.mark.parametrize("detour", ["raw pcb", "ip4_input hook", "installed hook", "napt", "napt's netif removed"])
def test_the_stacks_ip4_detour_flag_follows_each_of_its_inputs(detour):
    """in12: fast_input looks at raw pcbs, the ip4_input hook and NAPT only when ``Tcp.ip4_detour`` is set; each
    of the three sets it as it comes and clears it as it goes (the segment then taken again)."""
    t, pcb, _ = established(ts=False, ipv4_napt=True, ip_forward=True)
    stack = t.stack
    assert stack.tcp.ip4_detour is False and _data_taken(t, pcb)
    if detour == "raw pcb":
        raw = stack.raw.new(17)  # (a UDP one: any raw pcb sends TCP the full way)
        undo = raw.close
    elif detour == "ip4_input hook":
        stack.hooks.ip4_input = lambda stack, data, netif: False
        undo = lambda: setattr(stack.hooks, "ip4_input", None)  # noqa: E731
    elif detour == "installed hook":
        stack.hooks.install({"ip4_input": lambda stack, packet, netif: False})
        undo = lambda: setattr(stack.hooks, "ip4_input", None)  # noqa: E731
    else:
        inside = stack.add_netif(CaptureDevice(), ip="192.168.4.1/24", hwaddr=b"\x02\x00\x00\x00\x04\x01")
        stack.napt.enable(inside)
        undo = stack.napt.disable if detour == "napt" else lambda: stack.remove_netif(inside)
    assert stack.tcp.ip4_detour is True is _detour(stack)
    t.dev.take()
    assert not _data_taken(t, pcb)
    undo()
    assert stack.tcp.ip4_detour is False is _detour(stack)
    assert _data_taken(t, pcb)


@pytest.mark.parametrize("check", [False, True])
def test_the_ip_header_checksum_is_checked_behind_the_detour_flag_exactly_when_configured(check):
    """in15: fast_input checks the IP header's checksum behind ``Tcp.ip4_detour``, which a stack that checks it
    (``Config.checksum_check_ip``) has set from the start and keeps set when a raw pcb comes and goes: a header one
    off is refused by prediction with the check (the full way drops it too) and taken without it (as ip4_input
    takes it); a right one is taken either way."""
    t, pcb, got = established(ts=False, checksum_check_ip=check)
    stack = t.stack
    assert stack.tcp.ip4_detour is check is _detour(stack)
    stack.raw.new(17).close()
    assert stack.tcp.ip4_detour is check is _detour(stack)
    assert _data_taken(t, pcb)
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"i" * 10, ip_csum_delta=1))
    assert stack.tcp.fast_taken == (1 if check else 2) and got.endswith(b"d" * 10 if check else b"i" * 10)


def test_two_detours_clear_the_flag_only_when_both_are_gone():
    t, pcb, _ = established(ts=False)
    stack = t.stack
    raw = stack.raw.new(6)
    stack.hooks.ip4_input = lambda stack, data, netif: False
    raw.close()
    assert stack.tcp.ip4_detour is True and not _data_taken(t, pcb)
    stack.hooks.ip4_input = None
    assert stack.tcp.ip4_detour is False and _data_taken(t, pcb)


def test_napt_on_the_receiving_netif_leaves_the_flag_set_and_the_segment_taken():
    """NAPT enabled on the netif the segment came in on (the inside one): header prediction takes it as before in12
    (ip4_input offers NAPT what comes in on the other netifs first); the flag only makes fast_input look."""
    t, pcb, _ = established(ts=False, ipv4_napt=True, ip_forward=True)
    t.stack.napt.enable(t.netif)
    assert t.stack.tcp.ip4_detour is True
    assert _data_taken(t, pcb)


def test_a_hooks_file_with_ip4_input_sets_the_flag_from_the_start(tmp_path):
    path = tmp_path / "hooks.py"
    path.write_text("def ip4_input(stack, packet, netif):\n    return False\n")
    t, pcb, _ = established(ts=False, hooks_file=str(path))
    assert t.stack.tcp.ip4_detour is True and not _data_taken(t, pcb)


def test_a_connection_whose_remote_becomes_one_of_our_addresses_is_not_predicted_until_it_is_ours_no_more():
    """in12: fast_input does not look up the source among our addresses: Tcp.own4_changed keeps header prediction's
    entry only for a connection whose remote is not one of them, so a frame from such a source takes the full way
    (ip4_input drops it: a source of ours) as before; with the address gone again the segment is taken again."""
    t, pcb, got = established(ts=False)
    stack = t.stack
    assert _data_taken(t, pcb)
    other = stack.add_netif(CaptureDevice(), ip=PEER_IP + "/32", hwaddr=b"\x02\x00\x00\x00\x04\x01")
    other.set_up()
    dropped, rcv_nxt = stack.stats.ip.drop, pcb.rcv_nxt
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"x" * 10))
    assert stack.tcp.fast_taken == 1 and pcb.rcv_nxt == rcv_nxt and stack.stats.ip.drop == dropped + 1
    other.set_ipv4(None)
    assert _data_taken(t, pcb)
    assert bytes(got).endswith(b"d" * 10) and b"x" not in bytes(got)


def test_a_connection_added_to_one_of_our_addresses_gets_no_prediction_entry():
    from lwipy.core.tcp.fastpath import fast_key
    t, pcb, _ = established(ts=False)
    tcp = t.stack.tcp
    key = fast_key(pcb._remote_packed, pcb._local_packed, pcb.remote_port, pcb.local_port)
    assert tcp.fast_conns.get(key) is pcb
    tcp._remove(pcb)
    t.stack.add_netif(CaptureDevice(), ip=PEER_IP + "/32", hwaddr=b"\x02\x00\x00\x00\x04\x01")
    tcp._add(pcb)
    assert pcb in tcp.conns.values() and key not in tcp.fast_conns


def test_a_segment_to_our_address_on_another_netif_takes_the_full_path():
    """in15: fast_input finds the connection by the frame's addresses and ports as one field of its struct and
    compares the connection's local address (the frame's destination) with the receiving netif's: a segment that
    arrives on one netif for an address of ours that another netif holds is left to the full way (ip4_input's
    choice of netif), the same then taking it as it took it before; given back, the address lets the next be taken."""
    t, pcb, got = established(ts=False)
    stack = t.stack
    assert _data_taken(t, pcb)
    other = stack.add_netif(CaptureDevice(), hwaddr=b"\x02\x00\x00\x00\x04\x01")
    t.netif.set_ipv4("10.0.0.2/24")
    other.set_ipv4(OWN_IP + "/32")
    other.set_up()
    assert stack.tcp.fast_conns and pcb.state_name == "ESTABLISHED"
    before, rcv_nxt = stack.tcp.fast_taken, pcb.rcv_nxt
    inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"x" * 10))
    assert stack.tcp.fast_taken == before and pcb.rcv_nxt == rcv_nxt + 10 and got.endswith(b"x" * 10)
    t.peer_seq += 10
    other.set_ipv4(None)
    t.netif.set_ipv4(OWN_IP + "/24")
    assert _data_taken(t, pcb)


def test_an_address_change_that_leaves_our_addresses_as_they_were_keeps_the_entries():
    t, pcb, _ = established(ts=False)
    tcp = t.stack.tcp
    entries = dict(tcp.fast_conns)
    t.netif.set_link_up(False)
    t.netif.set_link_up(True)
    t.netif.set_ipv4(str(t.netif.ip4), str(t.netif.gateway) if t.netif.gateway else None)
    assert tcp.fast_conns == entries and _data_taken(t, pcb)


# -- the differential test ---------------------------------------------------------------------------------------------
def unusual_as_fields(pcb) -> tuple[bool, bool]:
    """guard15: ``(pcb._unusual_in, pcb._unusual)`` as the fields they stand for say (header prediction's tests of
    them before guard15, written out here apart from ``TcpPcb._unusual_check``)."""
    from lwipy.core.tcp.states import ESTABLISHED
    unusual_in = pcb.state != ESTABLISHED or len(pcb.ooseq) > 0 or pcb.rx_closed is True \
        or pcb.cc.recover is not None or len(pcb.scoreboard.ranges) > 0
    return unusual_in, unusual_in or pcb.buf_seq != pcb.snd_una or pcb.txretry_at is not None \
        or pcb._tx_source is not None or pcb.retries > 0 or pcb.persist_probes > 0


def assert_unusual_kept(pcb, where: str = "") -> None:
    """guard15: the pcb's two fields as its fields say, and what ``fastpath.fast_pure_ack`` relies on instead of
    testing ``fin_seq``: no FIN queued on an ESTABLISHED connection."""
    assert (pcb._unusual_in, pcb._unusual) == unusual_as_fields(pcb), f"_unusual_in, _unusual not kept {where}"
    assert pcb.state_name != "ESTABLISHED" or pcb.fin_seq is None, f"a FIN queued while ESTABLISHED {where}"


def snapshot(t: TcpScript, pcb) -> dict:
    assert_unusual_kept(pcb, "(snapshot)")  # (guard15: after every step of every differential test)
    # (the memos of the way out, of the send buffer's last count and of the last one-peak memory plan, tx9, tx10 and
    # mem12 (mem15: with the request lane's view of it), are caches, not state: what they hold is compared through what
    # they do, the counts themselves; way14: so is heap_at, the lazy heap's entry, which the two ways may leave at
    # different times: the real deadline is compared)
    skip = {"tcp", "stack", "on_event", "on_recv", "_tx_source", "_tx_way", "_rx6_ok", "listener", "_netif", "rtt", "cc",
            "scoreboard", "_via6", "_mem_snd_len", "_mem_snd_mss", "_mem_rise_log", "_mem_rise_cat",
            "_mem_rise_up", "_mem_lane_held", "_mem_lane_head", "_mem_lane_token", "heap_at"}
    # (rr11: the pcb's fields are slots, anything else set on it in its __dict__: both compared)
    fields = {k: getattr(pcb, k) for k in type(pcb).__slots__ if hasattr(pcb, k)}
    fields.update(vars(pcb))
    state = {k: (bytes(v) if isinstance(v, bytearray) else v) for k, v in fields.items() if k not in skip}
    for name in ("rtt", "cc", "scoreboard"):
        obj = getattr(pcb, name)
        slots = getattr(type(obj), "__slots__", ())
        state[name] = {k: getattr(obj, k) for k in slots} if slots else dict(vars(obj))
        state[name] = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in state[name].items()}
    state["deadline"] = t.stack.tcp.timers.get(pcb)
    state["stats"] = repr(t.stack.stats)
    return state


def assert_alike(fast: tuple, full: tuple, after: str, memory: bool = False) -> None:
    """The two runs of a differential test, ``(script, pcb)`` each: the same frames sent since the last look, the
    same connection state, and with ``memory`` the same memory figures."""
    (ta, pa), (tb, pb) = fast, full
    assert ta.dev.take() == tb.dev.take(), f"different output after {after}"
    assert snapshot(ta, pa) == snapshot(tb, pb), f"different state after {after}"
    if memory:
        assert ta.stack.mem.report() == tb.stack.mem.report(), f"different memory after {after}"


# (kind, data offset from rcv_nxt, data length, timestamp kind, flags, ACK advance, window, send size, read size, dt)
STEP = st.tuples(
    st.sampled_from(["data"] * 6 + ["ack"] * 2 + ["send", "send", "read", "time"]),
    st.sampled_from([0, 0, 0, 0, 0, 300, -200, 1]),
    st.one_of(st.sampled_from([1000, 1000, 536, 1, 0]), st.integers(0, 1500)),
    st.sampled_from(["ok", "ok", "ok", "ok", "none", "old"]),
    st.sampled_from([ACK, ACK | PSH] * 10 + [ACK | FIN]),
    st.sampled_from([4000, 4000, 1000, 1, 0, -3]),
    st.sampled_from([65535, 65535, 65535, 2000, 0]),
    st.integers(1, 5000),
    st.integers(1, 4000),
    st.sampled_from([0.0, 0.05, 0.2, 1.5]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=st.booleans(), sack=st.booleans(), reader=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=30))
def test_fast_and_full_paths_agree(ts, sack, reader, steps):
    run_both(ts, sack, reader, steps)


def run_both(ts: bool, sack: bool, reader: bool, steps: list, runs: list | None = None, send=inject) -> int:
    """Feed the same steps to a stack with the fast path and one without, comparing after each; returns the
    segments the fast path took.  ``runs``: the two (script, pcb, data read) to use instead; ``send(t, raw)``
    hands the peer's frames to the stack."""
    if runs is None:
        runs = [established(ts=ts, sack=sack, fast=fast, reader=reader) for fast in (True, False)]
    assert snapshot(runs[0][0], runs[0][1]) | {"stats": None} == snapshot(runs[1][0], runs[1][1]) | {"stats": None}
    tsval = 1000
    for step in steps:
        kind, off, n, tsk, flags, delta, window, send_n, read_n, dt = step
        tsval += 1
        for t, pcb, _ in runs:
            if kind == "data":
                stamp = {"ok": (tsval, 0), "none": None, "old": (5, 0)}[tsk] if ts else None
                send(t, frame(t, t.peer_seq + off, pcb.snd_una, flags, bytes([n & 0xFF]) * n, ts=stamp))
            elif kind == "ack":
                stamp = (tsval, 0) if ts and tsk == "ok" else None
                send(t, frame(t, t.peer_seq, pcb.snd_una + min(delta, (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF),
                              window=window, ts=stamp))
            elif kind == "send":
                if pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT"):
                    pcb.send(b"s" * send_n)
            elif kind == "read":
                if pcb.state_name != "CLOSED" and pcb.readable:
                    pcb.recv(read_n)
            else:
                t.at(t.now + dt)
        (ta, pa, got_a), (tb, pb, got_b) = runs
        if kind == "data" and off == 0:
            for t, pcb, _ in runs:
                t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else t.peer_seq
        assert_alike((ta, pa), (tb, pb), step, memory=True)
        assert got_a == got_b
    assert runs[1][0].stack.tcp.fast_taken == 0
    return runs[0][0].stack.tcp.fast_taken


@pytest.mark.parametrize("ts", [True, False])
def test_differential_exercises_the_fast_path(ts):
    """The comparison is worth something only when the sequences do take the fast path: a fixed two-way exchange."""
    def step(kind, n=1000, delta=4000, send_n=3000, dt=0.0, off=0, tsk="ok", flags=ACK):
        return (kind, off, n, tsk, flags, delta, 65535, send_n, 4000, dt)
    steps = [step("data"), step("data"), step("send"), step("ack", delta=1000), step("data"), step("ack"),
             step("time", dt=0.2), step("data", off=300), step("data"), step("data"), step("send", send_n=500),
             step("ack", delta=1), step("data", tsk="old"), step("data"), step("time", dt=1.5), step("data")]
    assert run_both(ts, False, True, steps) >= 8


# -- window sizing without runts (issue 15, item 3) ----------------------------------------------------------------------
@pytest.mark.parametrize("ts, window", [(True, 5712), (False, 5760)])
def test_window_is_a_whole_number_of_the_peers_segments(ts, window):
    """ESP-IDF's 5760-byte window with MSS 1440: with timestamps a full segment carries 1428 bytes, so the window
    offered is 4 x 1428 = 5712 (no 48-byte runt after four full segments); without them, 5760 = 4 x 1440."""
    t, pcb, got = established(ts=ts, tcp_wnd_default=5760)
    pcb.mss = 1440
    seg = 1428 if ts else 1440
    for i in range(4):
        inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK, b"r" * seg, ts=(500 + i, 0) if ts else None))
        t.peer_seq += seg
    acks = t.sent()
    assert acks and all(a.window == window for a in acks)
    assert len(got) == 4 * seg


# -- the send side -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
def test_segments_are_sent_from_one_struct_when_the_neighbour_is_resolved(ts):
    t, pcb, _ = established(ts=ts)
    before = t.stack.stats.tcp.xmit
    pcb.nodelay = True  # the last partial segment goes too
    pcb.send(b"k" * 2500)
    frames = t.dev.take()
    assert t.stack.tcp.fast_sent == len(frames) >= 2
    assert t.stack.stats.tcp.xmit - before == len(frames)
    hlen = 32 if ts else 20
    assert b"".join(bytes(f[34 + hlen:]) for f in frames) == b"k" * 2500
    for f in frames:
        f = bytes(f)
        assert f[:6] == PEER_MAC and f[6:12] == OWN_MAC and f[12:14] == b"\x08\x00"
        assert verify(f[14:34])  # the IPv4 header checksum
        assert verify(f[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(f) - 34))  # the TCP checksum


def test_send_side_falls_back_when_arp_must_be_refreshed():
    t, pcb, _ = established(ts=True)
    entry = t.stack.etharp.table[(t.netif.index, pcb._next_hop)]
    entry.state, entry.expires, entry.rerequested = "stable", t.now + 10.0, False  # within 30 s of expiring
    pcb.send(b"a" * 100)
    frames = t.dev.take()
    assert t.stack.tcp.fast_sent == 0
    assert any(f[12:14] == b"\x08\x06" for f in frames)  # etharp_output asked again (unicast refresh)
    assert any(f[12:14] == b"\x08\x00" for f in frames)


def test_syn_offers_the_buffer_and_the_window_is_rounded_once_timestamps_are_agreed():
    """The SYN offers the whole buffer (5760, its options not agreed yet); once timestamps are, every window is whole
    segments of MSS - 12 (5712 = 4 x 1428)."""
    t = TcpScript(tcp_wnd_default=5760, tcp_timestamps=True)
    pcb = t.stack.tcp.connect(PEER_IP, t.peer_port, local_port=t.port)
    assert pcb.mss == 1440
    syn = t.expect("S")
    assert "Timestamp" in dict(syn.options) and syn.window == 5760
    t.send("SA", ack=syn.seq + 1, options=[("MSS", 1440), ("Timestamp", (7, dict(syn.options)["Timestamp"][0]))])
    ack = t.expect("A")
    assert pcb.ts_ok and ack.window == 5712


def test_active_syn_window_without_timestamps_is_whole_mss_segments():
    t = TcpScript(tcp_wnd_default=5760)  # ESP-IDF's defaults: the SYN carries the MSS alone
    t.stack.tcp.connect(PEER_IP, t.peer_port, local_port=t.port)
    syn = t.expect("S")
    assert "Timestamp" not in dict(syn.options) and syn.window == 5760
