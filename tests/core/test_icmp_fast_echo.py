"""The ICMP echo fast path (Icmp.fast_echo): taken for an ordinary ping, left for every unusual one, and the same reply,
counters and state either way (each case, and random frames, through a stack with the fast path and one without)."""

from __future__ import annotations

import random
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import OWN_MAC, PEER_MAC, arp_from_peer, examples, fast_and_full_stacks
from lwipy.wire.checksum import checksum

OWN, PEER = "10.0.0.1", "10.0.0.2"
OWN_B, PEER_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def echo(data: bytes = bytes(range(56)), *, src: bytes = PEER_B, dst: bytes = OWN_B, dst_mac: bytes = OWN_MAC,
         type_: int = 8, code: int = 0, tos: int = 0, frag: int = 0x4000, ip_opts: bytes = b"", ip_csum: int = 0,
         icmp_csum: int = 0, vlan: bool = False, total_delta: int = 0, pad: bytes = b"", ident: int = 0x1234,
         seq: int = 7, ip_ident: int = 99, ttl: int = 64) -> bytes:
    """An echo request from the peer, every field under the test's control (``*_csum`` are added to the right
    checksums, ``total_delta`` to the IP total length, ``pad`` after the packet as link padding)."""
    icmp = bytearray(struct.pack("!BBHHH", type_, code, 0, ident, seq) + data)
    struct.pack_into("!H", icmp, 2, (checksum(icmp) + icmp_csum) & 0xFFFF)
    ihl = 20 + len(ip_opts)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, tos, ihl + len(icmp) + total_delta, ip_ident, frag,
                               ttl, 1, 0, src, dst) + ip_opts)
    struct.pack_into("!H", ip, 10, (checksum(ip) + ip_csum) & 0xFFFF)
    eth = dst_mac + PEER_MAC + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x00"
    return eth + bytes(ip) + bytes(icmp) + pad


def pair(**options):
    """Two identical stacks, one with the echo fast path and one without, each having learned the peer by ARP."""
    return fast_and_full_stacks(lambda stack, on: setattr(stack.icmp, "fast_path", on), **options)


def run(stacks, frame: bytes, now: float = 2.0) -> list[tuple[list[bytes], dict]]:
    """The same frame into both stacks: what each sent, and its counters."""
    got = []
    for stack, netif, dev in stacks:
        stack.input(netif, frame, now)
        got.append((dev.take(), stack.stats.as_dict(), stack.ip4.next_ident))
    return got


def same(stacks, frame: bytes, now: float = 2.0) -> list[bytes]:
    (fast_out, fast_stats, fast_ident), (slow_out, slow_stats, slow_ident) = run(stacks, frame, now)
    assert fast_out == slow_out
    assert fast_stats == slow_stats
    assert fast_ident == slow_ident
    return fast_out


def test_an_ordinary_ping_takes_the_fast_path_and_gets_the_full_paths_reply():
    stacks = pair()
    out = same(stacks, echo())
    assert stacks[0][0].icmp.fast_echoes == 1 and stacks[1][0].icmp.fast_echoes == 0
    (reply,) = out
    assert reply[:6] == PEER_MAC and reply[6:12] == OWN_MAC and reply[23] == 1 and reply[34] == 0
    assert reply[26:30] == OWN_B and reply[30:34] == PEER_B and reply[38:] == echo()[38:]
    # and again, with the ident moving on, a TOS, link padding, a code, an odd size and a large payload
    for frame in (echo(tos=0x10), echo(pad=b"\0" * 10), echo(code=3), echo(b"xyz"), echo(bytes(1400)),
                  echo(frag=0)):
        same(stacks, frame)
    assert stacks[0][0].icmp.fast_echoes == 7


def test_the_reply_keeps_the_requests_ip_header_as_lwips_icmp_input_does():
    """lwIP turns the request round in place and sends it with LWIP_IP_HDRINCL: the reply's IPv4 header is the
    request's (type of service, identification, don't-fragment, options) with the addresses swapped and the TTL set
    to ICMP_TTL; the stack's own identification does not move on.  Both ways, and the fast way for the plain case."""
    stacks = pair()
    for frame, fast in ((echo(ident=0xBEEF, frag=0x4000, tos=0x28), True),
                        (echo(ident=0x0102, frag=0), True),
                        (echo(ident=0xCAFE, ip_opts=b"\x01\x01\x01\x00"), False)):
        before = [s.icmp.fast_echoes for s, _, _ in stacks]
        ident_before = stacks[1][0].ip4.next_ident
        (reply,) = same(stacks, frame)
        assert stacks[0][0].icmp.fast_echoes - before[0] == int(fast)
        assert stacks[1][0].ip4.next_ident == ident_before  # the reply took no identification of ours
        hlen = (frame[14] & 0x0F) * 4
        assert reply[14] == frame[14] and reply[15] == frame[15]  # version, header length, type of service
        assert reply[18:22] == frame[18:22]  # identification and flags
        assert reply[22] == stacks[1][0].config.ip_default_ttl and reply[23] == 1
        assert reply[26:30] == frame[30:34] and reply[30:34] == frame[26:30]
        assert reply[34:14 + hlen] == frame[34:14 + hlen]  # the options, echoed
        assert checksum(reply[14:14 + hlen]) == 0 and checksum(reply[14 + hlen:]) == 0


def test_the_reply_keeps_the_reserved_flag_as_lwips_does_both_ways():
    """RFC 791's reserved flag is ignored on input; lwIP's reply is the request's header sent back, so it keeps the
    flag (and DF beside it).  The fast way takes such a request too, and answers as the full way does."""
    stacks = pair()
    for n, flags in enumerate((0x8000, 0xC000), 1):
        frame = echo(frag=flags)
        (reply,) = same(stacks, frame)
        assert reply[20:22] == frame[20:22] == flags.to_bytes(2, "big")
        assert checksum(reply[14:34]) == 0 and checksum(reply[34:]) == 0
        assert stacks[0][0].icmp.fast_echoes == n


def fragments(frame: bytes, first_flags: int) -> list[bytes]:
    """``frame``'s datagram in two fragments (the first 32 bytes of its payload, then the rest), the first with
    ``first_flags`` beside MF."""
    eth, ip, payload = frame[:14], frame[14:34], frame[34:]
    out = []
    for off, part, flags in ((0, payload[:32], first_flags | 0x2000), (32, payload[32:], 0)):
        hdr = bytearray(ip)
        struct.pack_into("!HHH", hdr, 2, 20 + len(part), 99, flags | off // 8)
        struct.pack_into("!H", hdr, 10, 0)
        struct.pack_into("!H", hdr, 10, checksum(hdr))
        out.append(eth + bytes(hdr) + part)
    return out


@pytest.mark.parametrize("first_flags", [0x4000, 0x8000, 0])
def test_a_reassembled_request_is_answered_with_its_flags_cleared_as_lwip_does(first_flags):
    """lwIP's ip4_reass gives the datagram fragment zero's header with the whole flags/offset field set to 0, and the
    echo reply sends that header back: no DF and no reserved flag, whatever fragment zero had."""
    stacks = pair(ip4_reassembly=True)  # (CONFIG_LWIP_IP4_REASSEMBLY: off in ESP-IDF's defaults)
    first, second = fragments(echo(), first_flags)
    assert same(stacks, first) == []
    (reply,) = same(stacks, second)
    assert reply[20:22] == b"\x00\x00"
    assert reply[38:] == echo()[38:] and checksum(reply[14:34]) == 0 and checksum(reply[34:]) == 0


UNUSUAL = {
    "ip options": dict(ip_opts=b"\x01\x01\x01\x00"),
    "more fragments": dict(frag=0x2000),
    "a later fragment": dict(frag=0x0010),
    "bad IP checksum": dict(ip_csum=1),
    "bad ICMP checksum": dict(icmp_csum=1),
    "echo reply": dict(type_=0),
    "another type": dict(type_=13),
    "broadcast MAC": dict(dst_mac=b"\xff" * 6),
    "another station's MAC": dict(dst_mac=bytes.fromhex("020000000042")),
    "subnet broadcast": dict(dst=bytes([10, 0, 0, 255]), dst_mac=b"\xff" * 6),
    "another address": dict(dst=bytes([10, 0, 0, 9])),
    "from ourselves": dict(src=OWN_B),
    "from loopback": dict(src=bytes([127, 0, 0, 1])),
    "from multicast": dict(src=bytes([224, 0, 0, 1])),
    "from 0.0.0.0": dict(src=bytes(4)),
    "from the broadcast address": dict(src=bytes([10, 0, 0, 255])),
    "VLAN tag": dict(vlan=True),
    "total length past the frame": dict(total_delta=4),
    "too short for ICMP": dict(data=b"", total_delta=-4),
    "from an unknown peer": dict(src=bytes([10, 0, 0, 3])),
    "from a routed peer without ARP": dict(src=bytes([192, 0, 2, 1])),
}


@pytest.mark.parametrize("case", list(UNUSUAL))
def test_unusual_frames_take_the_full_path(case):
    stacks = pair(checksum_check_ip=True, checksum_check_icmp=True)
    same(stacks, echo(**UNUSUAL[case]))
    assert stacks[0][0].icmp.fast_echoes == 0


def _raw_pcb(stack):
    stack.raw.new(1)


def _hook(stack):
    stack.hooks.ip4_input = lambda s, packet, netif: False


def _route_src(stack):
    stack.hooks.ip4_route_src = lambda s, src, dst: None


def _link_down(stack):
    stack.netifs[-1].set_link_up(False)


def _netif_down(stack):
    stack.netifs[-1].set_up(False)


def _netif_vlan(stack):
    stack.netifs[-1].vlan_id = 5  # (the frame untagged: a netif on a VLAN takes only tagged ones)


def _link_output(stack):
    real = stack.link_output
    stack.link_output = lambda *args: real(*args)


def _napt(stack):
    stack.napt.netif = object()  # NAPT on another netif: ip_napt_recv sees the packet before ICMP


def _refresh(stack):
    entry = stack.etharp.table[next(k for k in stack.etharp.table if str(k[1]) == PEER)]
    stack.now = entry.expires - 1.0  # within the re-request window: etharp_output asks the peer again


def _protocol(stack):
    real = stack.icmp.input
    stack.protocols[1] = lambda pkt, data: real(pkt, data)


SETUPS = {"raw pcb": _raw_pcb, "ip4_input hook": _hook, "ip4_route_src hook": _route_src, "link down": _link_down,
          "netif down": _netif_down, "netif on a VLAN": _netif_vlan,
          "link output wrapped": _link_output, "NAPT on another netif": _napt, "ARP entry to refresh": _refresh,
          "ICMP handler replaced": _protocol}


@pytest.mark.parametrize("case", list(SETUPS))
def test_unusual_stacks_take_the_full_path(case):
    stacks = pair()
    now = 2.0
    for stack, _, _ in stacks:
        SETUPS[case](stack)
        now = max(now, stack.now)
    if case == "NAPT on another netif":
        for stack, _, _ in stacks:  # the state only matters to the check: nothing else may look at it
            assert stacks[0][0].icmp.fast_echo(stack.netifs[-1], echo()) is False
            stack.napt.netif = None
        return
    if case == "netif down":  # (the stack's input drops the frame first: the loop asks fast_echo before it)
        assert stacks[0][0].icmp.fast_echo(stacks[0][0].netifs[-1], echo()) is False
    same(stacks, echo(), now)
    assert stacks[0][0].icmp.fast_echoes == 0


def _netif_input(stack):
    real = stack.netifs[-1].input
    stack.netifs[-1].input = lambda netif, frame: real(netif, frame)


def _netif_output(stack):
    real = stack.netifs[-1].output
    stack.netifs[-1].output = lambda *args: real(*args)


def _napt_here(stack):
    stack.napt.netif = stack.netifs[-1]  # NAPT on the netif the ping came in on: nothing for ip_napt_recv to do


REWIRED = {**{case: SETUPS[case] for case in ("raw pcb", "ip4_input hook", "ip4_route_src hook", "link output wrapped",
                                              "ICMP handler replaced")},
           "netif input wrapped": _netif_input, "netif output wrapped": _netif_output}


def _fields(obj) -> dict:
    """An object's fields: its slots (slots11: a netif's are) and what is in its ``__dict__``."""
    slots = [k for k in getattr(type(obj), "__slots__", ()) if k != "__dict__" and hasattr(obj, k)]
    return {**{k: getattr(obj, k) for k in slots}, **vars(obj)}


@pytest.mark.parametrize("case", list(REWIRED))
def test_a_stack_rewired_after_the_way_was_kept_takes_the_full_path(case):
    """The way back is kept per source with what the stack was wired to then: a hook, raw pcb, handler or output
    set afterwards sends the next ping the full way, and taking it away again brings the fast path back."""
    stacks = pair()
    same(stacks, echo())
    assert stacks[0][0].icmp.fast_echoes == 1
    saved = []
    for stack, netif, _ in stacks:
        saved.append((dict(vars(stack.hooks)), dict(stack.protocols), stack.link_output, _fields(netif),
                      list(stack.raw.pcbs)))
        REWIRED[case](stack)
    same(stacks, echo(seq=8))
    assert stacks[0][0].icmp.fast_echoes == 1
    for (stack, netif, _), (hooks, protocols, link_output, netif_vars, pcbs) in zip(stacks, saved, strict=True):
        vars(stack.hooks).update(hooks)
        stack.protocols.clear()
        stack.protocols.update(protocols)
        stack.link_output = link_output
        for name, value in netif_vars.items():
            setattr(netif, name, value)
        for pcb in [pcb for pcb in stack.raw.pcbs if pcb not in pcbs]:
            pcb.close()
    same(stacks, echo(seq=9))
    assert stacks[0][0].icmp.fast_echoes == 2


def test_napt_on_the_receiving_netif_keeps_the_fast_path():
    stacks = pair()
    same(stacks, echo())
    for stack, _, _ in stacks:
        _napt_here(stack)
    out = same(stacks, echo(seq=8))
    assert out and stacks[0][0].icmp.fast_echoes == 2
    for stack, _, _ in stacks:
        stack.napt.netif = None


def test_switched_off_and_full_device():
    stacks = pair()
    stacks[0][0].icmp.fast_path = False
    same(stacks, echo())
    assert stacks[0][0].icmp.fast_echoes == 0
    stacks[0][0].icmp.fast_path = True
    for _, _, dev in stacks:
        dev.full = True
    same(stacks, echo())  # refused by the device: counted as the full way counts it
    assert stacks[0][0].icmp.fast_echoes == 1


def test_static_arp_entry_and_checks_off():
    for options in ({"checksum_check_ip": True, "checksum_check_icmp": True},
                    {"checksum_check_ip": False, "checksum_check_icmp": False}):
        stacks = pair(**options)
        for stack, _, _ in stacks:
            stack.etharp.add_static("10.0.0.7", "02:00:00:00:00:07")
        same(stacks, echo(src=bytes([10, 0, 0, 7])))
        same(stacks, echo(ip_csum=1))
        same(stacks, echo(icmp_csum=1))
        assert stacks[0][0].icmp.fast_echoes == (1 if options["checksum_check_ip"] else 3)


FIELDS = st.fixed_dictionaries({}, optional={
    "data": st.binary(max_size=200), "src": st.sampled_from([PEER_B, OWN_B, bytes(4), bytes([10, 0, 0, 255]),
                                                            bytes([127, 0, 0, 1]), bytes([10, 0, 0, 3])]),
    "dst": st.sampled_from([OWN_B, bytes([10, 0, 0, 255]), bytes([255] * 4), bytes([224, 0, 0, 1])]),
    "dst_mac": st.sampled_from([OWN_MAC, b"\xff" * 6, bytes.fromhex("01005e000001")]),
    "type_": st.sampled_from([8, 8, 0, 3, 13]), "code": st.integers(0, 255), "tos": st.integers(0, 255),
    "frag": st.sampled_from([0, 0x4000, 0x2000, 0x0001]), "ip_opts": st.sampled_from([b"", b"\x01\x01\x01\x00"]),
    "ip_csum": st.sampled_from([0, 0, 1]), "icmp_csum": st.sampled_from([0, 0, 1]), "vlan": st.booleans(),
    "total_delta": st.sampled_from([0, 0, -1, 1, -9]), "pad": st.binary(max_size=20),
    "ident": st.sampled_from([0, 0x1234, 0xFFFF]), "seq": st.sampled_from([0, 7, 0xF7FF])})


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FIELDS, st.floats(0.0, 400.0)), min_size=1, max_size=8))
@pytest.mark.parametrize("checks", [False, True])
def test_differential_random_frames(checks, frames):
    """Random echo requests, good and bad, at random times (the ARP entry ages, is re-requested, expires): both
    stacks send the same frames and count the same."""
    stacks = pair(checksum_check_ip=checks, checksum_check_icmp=checks)
    now = 2.0
    for fields, dt in frames:
        now += dt
        for stack, _, _ in stacks:
            stack.poll(now)
        same(stacks, echo(**fields), now)


def test_the_way_back_follows_route_changes():
    """The fast path keeps the way back per source until the routes change: a host route through the gateway (whose
    MAC is unknown), then its removal, then a new address for the netif, each seen at the next ping."""
    stacks = pair()
    same(stacks, echo())
    routes = []
    for stack, netif, _ in stacks:
        routes.append(stack.routes.add(f"{PEER}/32", netif, "10.0.0.254"))
    out = same(stacks, echo())
    assert out and out[0][12:14] == b"\x08\x06"  # an ARP request for the gateway, the ping queued behind it
    assert stacks[0][0].icmp.fast_echoes == 1
    for (stack, _, _), route in zip(stacks, routes, strict=True):
        stack.routes.remove(route)
    same(stacks, echo())
    assert stacks[0][0].icmp.fast_echoes == 2
    for _, netif, _ in stacks:
        netif.set_ipv4("10.0.0.5/24")
    same(stacks, echo())  # to the old address: not ours any more
    same(stacks, echo(dst=bytes([10, 0, 0, 5])))
    assert stacks[0][0].icmp.fast_echoes == 3


# --- the reply's checksum from the request's (RFC 1624), and the way back kept with its ARP entry ---

@pytest.mark.parametrize("fields", [
    dict(data=b"", ident=0, seq=0),  # a reply of zeros: its checksum is 0xFFFF, which the adjustment cannot tell
    dict(data=bytes(7), ident=0, seq=0),  # the same, odd
    dict(data=b"", ident=0, seq=0, code=1),
    dict(data=b"\xff\xff", ident=0xFFFF, seq=0xFFFF),
    dict(data=b"\x08", ident=0xF7FF, seq=0),
    dict(code=255), dict(data=bytes(range(255)) * 5), dict(data=b"\x00"),
])
def test_the_reply_checksum_is_the_full_paths_for_edge_messages(fields):
    """The fast path adjusts the request's checksum for the new type and code instead of summing the message: the
    ambiguous residue (a reply message of zeros, whose checksum is 0xFFFF) and the other edges still give the
    full way's bytes."""
    stacks = pair(checksum_check_icmp=True)
    (reply,) = same(stacks, echo(**fields))
    assert stacks[0][0].icmp.fast_echoes == 1
    assert checksum(reply[34:]) == 0  # and it is a right checksum
    if fields.get("ident") == 0 and fields.get("seq") == 0 and not any(fields["data"]) and not fields.get("code"):
        assert reply[36:38] == b"\xff\xff"


def test_an_arp_entry_removed_or_added_is_seen_at_the_next_ping():
    """The way back keeps the ARP entry it found until entries come or go: a removed entry is not used (the full
    way asks again), an added one is (a source first without an entry, then with a static one)."""
    stacks = pair()
    same(stacks, echo())
    generations = [stack.etharp.generation for stack, _, _ in stacks]
    for stack, _, _ in stacks:
        stack.etharp.remove(PEER)
    assert [stack.etharp.generation for stack, _, _ in stacks] == [g + 1 for g in generations]
    out = same(stacks, echo())
    assert out and out[0][12:14] == b"\x08\x06"  # an ARP request, the ping queued behind it
    assert stacks[0][0].icmp.fast_echoes == 1
    other = bytes([10, 0, 0, 7])
    same(stacks, echo(src=other))  # no entry for it: the full way (an ARP request)
    assert stacks[0][0].icmp.fast_echoes == 1
    for stack, _, dev in stacks:
        stack.etharp.add_static("10.0.0.7", "02:00:00:00:00:07")
        assert len(dev.take()) == 1  # the ping that waited for the address is answered
    (reply,) = same(stacks, echo(src=other))
    assert reply[:6] == bytes.fromhex("020000000007")
    assert stacks[0][0].icmp.fast_echoes == 2


def test_an_expired_and_relearned_arp_entry_is_the_one_used():
    """An entry that expires (ARP's poll drops it) and is learned again with another MAC: the reply goes to the new
    MAC, as the full way sends it."""
    stacks = pair()
    same(stacks, echo())
    entry = stacks[0][0].etharp.table[next(k for k in stacks[0][0].etharp.table if str(k[1]) == PEER)]
    later = entry.expires + 1.0
    for stack, netif, dev in stacks:
        stack.poll(later)
        dev.take()
        stack.input(netif, arp_from_peer(mac=bytes.fromhex("020000000077")), later)
        dev.take()
    (reply,) = same(stacks, echo(), later)
    assert reply[:6] == bytes.fromhex("020000000077")
    assert stacks[0][0].icmp.fast_echoes == 2


def test_an_arp_entry_changing_its_mac_in_place_is_followed():
    """A peer that answers ARP with a new MAC updates its entry in place (no entry comes or goes): the kept way
    reads the entry's MAC live."""
    stacks = pair()
    same(stacks, echo())
    for stack, netif, dev in stacks:
        stack.input(netif, arp_from_peer(mac=bytes.fromhex("020000000055")), 2.0)
        dev.take()
    (reply,) = same(stacks, echo())
    assert reply[:6] == bytes.fromhex("020000000055")
    assert stacks[0][0].icmp.fast_echoes == 2


# --- quiet: the caller's word that nothing ran on the stack since the last answer (StackLoop after a sleep) ---

def alike_after(stacks, frame: bytes, now: float, answered: bool) -> bool:
    """``frame`` to the fast stack's full way unless its fast_echo ``answered`` it, and to the other stack's full way:
    the same reply, counters and state; ``answered``."""
    (fast, fnetif, fdev), (slow, snetif, sdev) = stacks
    if not answered:
        fast.input(fnetif, frame, now)
    slow.input(snetif, frame, now)
    assert fdev.take() == sdev.take()
    assert fast.stats.as_dict() == slow.stats.as_dict()
    assert fast.ip4.next_ident == slow.ip4.next_ident
    return answered


def quiet_same(stacks, frame: bytes, now: float = 2.0) -> bool:
    """``frame`` to the fast stack's fast_echo with ``quiet=True`` and to the other stack's full way: the same reply,
    counters and state; whether the fast path answered."""
    fast, fnetif, _ = stacks[0]
    return alike_after(stacks, frame, now, fast.icmp.fast_echo(fnetif, frame, now, quiet=True))


def test_a_quiet_ping_after_an_answer_gets_the_full_paths_reply():
    """A quiet call from the source of the last answer, on its netif, is answered as a checked one is: the same
    reply, counters and state as the full way, ping after ping (sizes, TOS, DF, odd lengths)."""
    stacks = pair()
    same(stacks, echo())
    frames = [echo(seq=s) for s in range(8, 12)] + [echo(bytes(7), tos=0x10), echo(b"", frag=0), echo(bytes(1400))]
    assert all(quiet_same(stacks, f) for f in frames)
    assert stacks[0][0].icmp.fast_echoes == 1 + len(frames)


def test_a_quiet_ping_still_checks_the_frame_and_the_arp_entrys_age():
    """Under ``quiet`` only what the last answer found of the stack is taken as still so: a frame to another MAC or
    address, too long for the MTU, with a bad checksum or truncated, and an ARP entry now due for a refresh, each go the
    full way (which answers or drops it as it would any other)."""
    stacks = pair()
    same(stacks, echo())
    for frame in (echo(dst_mac=bytes.fromhex("02aaaaaaaaaa")), echo(dst=bytes([10, 0, 0, 9])), echo(icmp_csum=1),
                  echo(bytes(1600)), echo(total_delta=4)):
        assert not quiet_same(stacks, frame)
    entry = next(e for k, e in stacks[0][0].etharp.table.items() if str(k[1]) == PEER)
    assert not quiet_same(stacks, echo(), entry.expires - 1.0)  # the full way asks the peer again
    assert stacks[0][0].icmp.fast_echoes == 1


def test_a_quiet_ping_from_another_source_or_netif_is_checked():
    """``quiet`` covers the way of the last answer only: a ping from another source is checked (here one whose way
    back is unknown to ARP: the full way), and so is one from the same source on another netif."""
    stacks = pair()
    same(stacks, echo())
    assert not quiet_same(stacks, echo(src=bytes([10, 0, 0, 3])))
    fast, fnetif, _ = stacks[0]
    other = fast.add_netif(type(fnetif.device)(), ip="10.9.0.1/24", hwaddr=OWN_MAC)
    assert fast.icmp.fast_echo(other, echo(), 2.0, quiet=True) is False  # not from that netif's way
    assert stacks[0][0].icmp.fast_echoes == 1


def test_quiet_is_taken_at_its_word():
    """What ``quiet`` skips: with a raw pcb opened since the last answer (so the caller's word is wrong: something
    ran) a quiet call still answers on the fast path, where a checked one leaves the ping to the full way, which
    gives it to the raw pcb.  This is why StackLoop says quiet only after a sleep that nothing but a frame ended."""
    stacks = pair()
    same(stacks, echo())
    fast, fnetif, fdev = stacks[0]
    fast.raw.new(1)
    assert fast.icmp.fast_echo(fnetif, echo(seq=8), 2.0) is False
    assert fast.icmp.fast_echo(fnetif, echo(seq=9), 2.0, quiet=True) is True
    assert fdev.take()


# --- lent: the loop's ping lane lends the buffer it read the frame into (s22), and the reply is written over it ---

def lent_same(stacks, frame: bytes, now: float = 2.0, stale: bytes = b"", quiet: bool = False) -> bool:
    """``frame`` lent to the fast stack's fast_echo in a buffer that holds ``stale`` bytes after it (what an earlier,
    longer read left there), and to the other stack's full way: the same reply, counters and state; the buffer
    untouched when the fast path declined, and the reply over the request in it when it answered."""
    fast, fnetif, fdev = stacks[0]
    buf = bytearray(frame + stale)
    before = bytes(buf)
    answered = fast.icmp.fast_echo(fnetif, memoryview(buf), now, quiet, len(frame))
    if answered:
        (reply,) = fdev.sent[-1:]
        assert buf[:len(reply)] == reply and buf[len(reply):] == before[len(reply):]
    else:
        assert buf == before
    return alike_after(stacks, frame, now, answered)


def test_a_lent_buffer_is_answered_in_place_with_the_full_paths_reply():
    """A lent request gets the reply a copied one gets (sizes, TOS, DF, odd lengths, link padding), whatever stale
    bytes follow it in the buffer: a checksum over them, or a length read from them, would answer wrongly."""
    stacks = pair()
    stale = echo(bytes(range(200)))  # (a longer request read before)
    for frame in (echo(), echo(bytes(7), tos=0x10), echo(b"", frag=0), echo(bytes(1400)), echo(pad=b"\0" * 10),
                  echo(b"xyz", code=3)):
        assert lent_same(stacks, frame, stale=stale)
        assert lent_same(stacks, frame, stale=stale, quiet=True)
    assert stacks[0][0].icmp.fast_echoes == 12


def test_a_lent_buffer_declined_is_left_as_it_was():
    """What the fast path leaves to the full way is not written to: a bad checksum, a truncated packet whose rest
    the stale bytes would fill, an ARP entry due for a refresh, and a read that gave nothing (``lent`` 0 over a buffer
    that still holds a request: never answered again)."""
    stacks = pair(checksum_check_ip=True, checksum_check_icmp=True)
    whole = echo(bytes(64))
    for frame in (echo(icmp_csum=1), echo(ip_csum=1), whole[:-8]):
        assert not lent_same(stacks, frame, stale=whole[len(frame):])
    entry = next(e for k, e in stacks[0][0].etharp.table.items() if str(k[1]) == PEER)
    assert not lent_same(stacks, echo(), entry.expires - 1.0)
    fast, fnetif, fdev = stacks[0]
    buf = bytearray(whole)
    assert fast.icmp.fast_echo(fnetif, memoryview(buf), 2.0, False, 0) is False
    assert buf == whole and not fdev.sent and fast.icmp.fast_echoes == 0


def test_a_lent_ipv6_frame_is_answered_from_a_copy():
    """An IPv6 frame lent to the (IPv4) echo answer goes to ICMPv6's with the lent bytes alone, which answers from a
    copy: the buffer is not written to.  (What ICMPv6 does with the frame is test_icmp6_fast_echo's.)"""
    stacks = pair()
    fast, fnetif, _ = stacks[0]
    seen = []
    fast.icmp6.fast_echo = lambda netif, frame, now=None: seen.append(bytes(frame)) or False
    frame = OWN_MAC + PEER_MAC + b"\x86\xdd" + bytes(40 + 8)
    buf = bytearray(frame + b"\x01" * 30)
    for third in (frame[23], 1):  # (its byte 23, the IPv4 protocol's place, is ICMP's or not)
        buf[23] = third
        before = bytes(buf)
        assert fast.icmp.fast_echo(fnetif, memoryview(buf), 2.0, False, len(frame)) is False
        assert buf == before and seen.pop() == before[:len(frame)]


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FIELDS, st.floats(0.0, 400.0), st.binary(max_size=64)), min_size=1, max_size=8))
def test_differential_random_frames_lent(frames):
    """Random echo requests, good and bad, lent with random stale bytes after them at random times: the same frames
    and counters as the full way, and the buffer written only when answered."""
    stacks = pair(checksum_check_ip=True, checksum_check_icmp=True)
    now = 2.0
    for fields, dt, stale in frames:
        now += dt
        for stack, _, _ in stacks:
            stack.poll(now)
        lent_same(stacks, echo(**fields), now, stale)


# --- s24: the quiet echo a lent answer leaves for the next request like it (Icmp.quiet_echo) ---

def lane_same(stacks, frame: bytes, now: float, stale: bytes = b"", quiet: bool = True) -> str | None:
    """``frame`` as the loop's ping lane takes it, lent with ``stale`` bytes after it: to the quiet echo the fast
    stack's last answer left when ``quiet`` (and there is one), else, or when it declines, to fast_echo, else to the
    full way; and to the other stack's full way.  The same reply, counters, time and state either way; the buffer
    written only when answered; a declining quiet echo changed nothing.  Which answered: "quiet", "fast" or None."""
    (fast, fnetif, fdev), (slow, _, _) = stacks
    buf = bytearray(frame + stale)
    before = bytes(buf)
    quiet_echo = fast.icmp.quiet_echo if quiet else None
    by = None
    if quiet_echo is not None:
        counters, time_before = fast.stats.as_dict(), fast.now
        if quiet_echo(memoryview(buf), len(frame), now):
            by = "quiet"
            assert fast.icmp.quiet_echo is quiet_echo  # (kept for the next one)
        else:
            assert buf == before and not fdev.sent and fast.stats.as_dict() == counters and fast.now == time_before
    if by is None and fast.icmp.fast_echo(fnetif, memoryview(buf), now, quiet, len(frame)):
        by = "fast"
    if by is not None:
        (reply,) = fdev.sent[-1:]
        assert buf[:len(reply)] == reply and buf[len(reply):] == before[len(reply):]
    else:
        assert buf == before
    alike_after(stacks, frame, now, by is not None)
    assert fast.now == slow.now
    return by


def test_a_lent_answer_leaves_a_quiet_echo_that_answers_the_next_pings_as_the_full_way():
    """After a request answered in a lent buffer, the next ones like it (the same length and headers but for the
    identification, TTL, checksums, data and the source MAC) are answered by the quiet echo with the full way's reply,
    counters and time, whatever stale bytes follow them; for odd lengths, link padding and an ICMP code (the reply's
    is 0) too."""
    for body, tos, frag, pad, code in ((56, 0, 0x4000, b"", 0), (7, 0x10, 0x4000, b"", 0), (0, 0, 0, bytes(18), 0),
                                       (56, 0, 0x4000, b"", 3)):
        stacks = pair()
        assert lane_same(stacks, echo(bytes(body), tos=tos, frag=frag, pad=pad, code=code), 2.0, quiet=False) == "fast"
        assert stacks[0][0].icmp.quiet_echo is not None
        rng = random.Random(body)
        for i in range(12):
            frame = bytearray(echo(rng.randbytes(body), ip_ident=rng.getrandbits(16), ttl=rng.randrange(1, 256),
                                   ident=rng.getrandbits(16), seq=rng.getrandbits(16), tos=tos, frag=frag,
                                   pad=rng.randbytes(len(pad)), code=code))
            frame[6:12] = rng.randbytes(6)  # (the source MAC: the reply goes to the ARP entry's)
            assert lane_same(stacks, bytes(frame), 2.0 + i, stale=rng.randbytes(rng.randrange(40))) == "quiet"
        assert stacks[0][0].icmp.fast_echoes == 13


def test_the_quiet_echo_declines_every_request_unlike_the_last_answered():
    """What a ping does not change is held to the answered request's: the length, destination MAC, ethertype, IP
    version and header length, type of service, total length, flags and offset, protocol, addresses, ICMP type and
    code; and the ICMP checksum is checked, the ARP entry's age, the fast path's switch.  A request whose reply's
    checksum fast_echo must sum (it adjusts to 0) is left to it too.  Each declined one goes on to fast_echo (quiet)
    and gets the full way's answer."""
    base = echo(bytes(56))
    udp = bytearray(base)
    udp[23] = 17
    unlike = [echo(bytes(57)), echo(bytes(56), dst_mac=bytes.fromhex("02aaaaaaaaaa")),
              echo(bytes(56), dst=bytes([10, 0, 0, 9])), echo(bytes(56), src=bytes([10, 0, 0, 3])),
              echo(bytes(56), tos=0x10), echo(bytes(56), frag=0), echo(bytes(56), frag=0x6000),
              echo(bytes(56), code=3), echo(bytes(56), type_=13), echo(bytes(56), type_=0),
              echo(bytes(52), vlan=True), echo(bytes(52), ip_opts=b"\x01\x01\x01\x00"),
              echo(bytes(55), total_delta=0, pad=b"\0"), echo(bytes(56), icmp_csum=1), bytes(udp),
              echo(bytes(56), ident=0, seq=0)]  # (the last: its reply's checksum adjusts to 0)
    assert all(len(f) == len(base) for f in unlike[1:])
    stacks = pair()
    for frame in unlike:
        assert lane_same(stacks, base, 2.0, quiet=False) == "fast"
        assert lane_same(stacks, frame, 2.0) != "quiet", frame.hex()
    # a frame a byte short of the answered one, its last byte the previous read's in the buffer: the same bytes as a
    # request like it, but a frame too short for its IP length, which the full way drops
    whole = echo(bytes(range(56)), seq=9)
    assert lane_same(stacks, base, 2.0, quiet=False) == "fast"
    assert lane_same(stacks, whole[:-1], 2.0, stale=whole[-1:]) is None
    entry = next(e for k, e in stacks[0][0].etharp.table.items() if str(k[1]) == PEER)
    assert lane_same(stacks, base, 2.0, quiet=False) == "fast"
    assert lane_same(stacks, base, entry.refresh_at) is None  # (due for a refresh: the full way asks the peer)
    assert lane_same(stacks, base, 2.0, quiet=False) == "fast"
    stacks[0][0].icmp.fast_path = False
    assert lane_same(stacks, base, 2.0) is None


def test_only_a_lent_answer_leaves_a_quiet_echo_and_any_other_call_takes_it():
    """The quiet echo stands for the stack as fast_echo found it: made by an answer in a lent buffer (with the ICMP
    checksum checked and the IP one not, ESP-IDF's defaults), and taken away by every other call of fast_echo, an
    answer from a copy, a declined frame or an IPv6 answer, so that a caller's quiet after those never meets it."""
    base = echo()
    stacks = pair()
    fast, fnetif, _ = stacks[0]
    assert fast.icmp.quiet_echo is None
    assert fast.icmp.fast_echo(fnetif, base, 2.0) and fast.icmp.quiet_echo is None
    for other in (base, echo(icmp_csum=1), OWN_MAC + PEER_MAC + b"\x86\xdd" + bytes(48)):
        assert fast.icmp.fast_echo(fnetif, memoryview(bytearray(base)), 2.0, True, len(base))
        assert fast.icmp.quiet_echo is not None
        fast.icmp6.fast_echo = lambda netif, frame, now=None: True  # (an IPv6 answer)
        fast.icmp.fast_echo(fnetif, other, 2.0, True)
        assert fast.icmp.quiet_echo is None
        del fast.icmp6.fast_echo
    for options in ({"checksum_check_ip": True}, {"checksum_check_icmp": False}):
        stacks = pair(**options)
        fast, fnetif, _ = stacks[0]
        assert fast.icmp.fast_echo(fnetif, memoryview(bytearray(base)), 2.0, False, len(base))
        assert fast.icmp.quiet_echo is None


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 97), st.integers(0, 255)), max_size=3),
                          st.integers(0, 0xFFFF), st.floats(0.0, 400.0), st.sampled_from([0, 0, -1, 1]),
                          st.binary(max_size=40)), min_size=1, max_size=8))
def test_differential_random_changes_to_a_quiet_request(changes):
    """Requests like the one answered with random bytes changed, truncated or extended, at random times, as the lane
    takes them (quiet while the last was answered): the quiet echo, fast_echo and the full way give the full way's
    replies and counters, and a declining quiet echo changes nothing."""
    stacks = pair()
    assert lane_same(stacks, echo(bytes(56)), 2.0, quiet=False) == "fast"
    now, quiet = 2.0, True
    for edits, ident, dt, grow, stale in changes:
        frame = bytearray(echo(bytes(range(56)), ip_ident=ident, seq=ident ^ 0x5A5A))
        for at, value in edits:
            frame[at] = value
        frame = frame[:len(frame) + grow] if grow < 0 else frame + bytes(grow)
        now += dt
        quiet = lane_same(stacks, bytes(frame), now, stale, quiet) is not None


def test_the_quiet_echo_writes_to_the_devices_tx_fd_and_counts_a_refusal_as_the_full_way():
    """On a device with a ``tx_fd`` (a plain TAP) the quiet echo writes the reply there itself, the full way's frame;
    a write refused (a full queue: the device's ``transmit_failed`` says False) is counted as the full way counts a
    reply its device refused."""
    stacks = pair()
    (fast, fnetif, fdev), (slow, snetif, sdev) = stacks
    assert lane_same(stacks, echo(bytes(56)), 2.0, quiet=False) == "fast"
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, peer:
        ours.setblocking(False)
        fdev.tx_fd = ours.fileno()
        fdev.transmit_failed = lambda error: False  # (a TAP's answer to a full queue)
        for seq in (1, 2):
            frame = echo(bytes(range(56)), seq=seq, ip_ident=seq)
            assert fast.icmp.quiet_echo(memoryview(bytearray(frame)), len(frame), 2.0)
            slow.input(snetif, frame, 2.0)
            assert [peer.recv(2000)] == sdev.take() and not fdev.sent
        while True:  # (the socket's buffer filled: the next write is refused)
            try:
                ours.send(bytes(1000))
            except BlockingIOError:
                break
        sdev.full = True
        frame = echo(bytes(range(56)), seq=3)
        assert fast.icmp.quiet_echo(memoryview(bytearray(frame)), len(frame), 2.0)
        slow.input(snetif, frame, 2.0)
        assert fast.stats.as_dict() == slow.stats.as_dict() and fast.icmp.fast_refused == 1
