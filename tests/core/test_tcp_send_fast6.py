"""s21: the send side over IPv6 (``TcpOutput._tx_way_make``'s IPv6 case): ``_output_fast``'s loop and ``_output_one`` write an
IPv6 connection's data segments from a template, and give way to the full way whenever the neighbour, the netif, the
route or the MTU says so.  As ``test_tcp_fastpath6``: two identical simulations, one with TCP's fast paths on and
one with them off, must put the same frames on the link and leave the same connection state, neighbour entries and
counters."""

from __future__ import annotations

import errno
import ipaddress
import os

import pytest

from lwipy.core.nd6 import DELAY, STALE
from lwipy.errors import LwipError
from test_tcp_fastpath6 import B6, assert_alike, both, connected, en

B6_PACKED = ipaddress.IPv6Address(B6).packed


def _entry_for_b(w):
    """a's neighbour entry for b."""
    return w.a.nd6.neighbors[(en(w.a).index, B6_PACKED)]


def _run_all(worlds, seconds: float) -> None:
    for w, _, _ in worlds:
        w.sim.run(seconds)


def _send(worlds, size: int) -> None:
    """``size`` bytes from a to b in each world (as the send buffer takes them), until b has read them."""
    for w, a_pcb, b_pcb in worlds:
        data = os.urandom(size) if w is worlds[0][0] else worlds[0][1]._last_sent
        a_pcb._last_sent = data
        goal = (b_pcb.rcv_nxt + size) & 0xFFFFFFFF
        sent = [0]

        def pump(_p=None, data=data, a_pcb=a_pcb, sent=sent):
            while sent[0] < len(data):
                k = a_pcb.send(memoryview(data)[sent[0]:])
                if not k:
                    return
                sent[0] += k
        a_pcb.on_event = pump
        pump()
        assert w.sim.run_until(lambda b_pcb=b_pcb, goal=goal: b_pcb.rcv_nxt == goal, 120)
        w.sim.run(0.5)


# -- taken ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [False, True])
@pytest.mark.parametrize("size", [1, 999, 1440, 30_001])  # odd sizes: the checksum pads the last byte
def test_data_segments_over_ipv6_are_written_from_the_template(ts, size):
    worlds = connected(ts=ts)
    fast = worlds[0][0]
    before = fast.a.tcp.fast_sent6
    _send(worlds, size)
    segments = -(-size // worlds[0][1].seg_size)
    assert fast.a.tcp.fast_sent6 - before >= segments  # every data segment from the template
    assert worlds[1][0].a.tcp.fast_sent6 == 0
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])
    frame = next(f for f in reversed(fw.frames) if f[12:14] == b"\x86\xdd" and len(f) > 54 + (32 if ts else 20))
    assert frame[14] >> 4 == 6 and frame[20] == 6 and frame[21] == fa.ttl  # IPv6, TCP, the connection's hop limit


@pytest.mark.parametrize("ts", [False, True])
def test_echo_replies_over_ipv6_are_written_by_output_one(ts):
    worlds = []
    for w in both(tcp_timestamps=ts):
        listener = w.b.tcp.listen(5001, "::")
        served = []

        def on_conn(lst, served=served):
            while (pcb := lst.accept()) is not None:
                served.append(pcb)

                def echo(p):
                    while p.readable:
                        p.send(p.recv())
                pcb.on_event = echo
        listener.on_event = on_conn
        got = bytearray()
        client = w.a.tcp.connect(B6, 5001)

        def read(p, got=got):
            while p.readable:
                got.extend(p.recv())
        client.on_event = read
        assert w.sim.run_until(lambda served=served, client=client: served and client.state_name == "ESTABLISHED", 30)
        sent_before = w.b.tcp.fast_sent6
        for i in range(30):
            client.send(bytes([i]) * 64)
            assert w.sim.run_until(lambda i=i, got=got: len(got) == 64 * (i + 1), 30)
        assert bytes(got) == b"".join(bytes([i]) * 64 for i in range(30))
        w.sim.run(1.0)
        worlds.append((w, client, served[0], w.b.tcp.fast_sent6 - sent_before))
    (fw, fa, fb, fast_replies), (sw, sa, sb, full_replies) = worlds
    assert fast_replies >= 30 and full_replies == 0  # the replies (and b's ACKs) from templates
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])


# -- the way out made again, or left to the full way ------------------------------------------------------------------------
def _replace_ip6_output(w, _pcb):
    """A netif IPv6 output of the user's (it sees every packet: ``w.outputs`` counts them)."""
    netif = en(w.a)
    real = netif.output_ip6
    w.outputs = []
    netif.output_ip6 = lambda n, p, hop, real=real: w.outputs.append(len(p)) or real(n, p, hop)


def _replace_link_output(w, _pcb):
    real = w.a.link_output
    w.outputs = []
    w.a.link_output = lambda netif, p, *args, real=real: w.outputs.append(len(p)) or real(netif, p, *args)


WAY_CHANGES6 = {
    # nd6's states: a STALE entry is moved to DELAY by the next packet (the full way's); REACHABLE turns STALE when
    # its time is over (nd6.poll); a new MAC makes the entry STALE; a dropped entry is solicited again
    "the neighbour stale": lambda w, pcb: setattr(_entry_for_b(w), "state", STALE),
    "the reachable time over": lambda w, pcb: w.sim.run(en(w.a).reachable_time + 1.0),
    "the neighbour in delay": lambda w, pcb: setattr(_entry_for_b(w), "state", DELAY),
    "the neighbour's mac": lambda w, pcb: w.a.nd6.learn(en(w.a), B6_PACKED, bytes.fromhex("020000000099")),
    "the neighbour dropped": lambda w, pcb: w.a.nd6._drop(_entry_for_b(w)),
    # (a solicited override advertisement's: a new MAC, the entry still REACHABLE)
    "the neighbour's mac, still reachable": lambda w, pcb: setattr(_entry_for_b(w), "mac", bytes.fromhex("020000000099")),
    # the netif and the path: the MTUs (ip6.output then fragments), our MAC, the link, the outputs
    "the netif's ipv6 mtu": lambda w, pcb: setattr(en(w.a), "mtu6", 1280),
    # (10 bytes short of a full segment with IPv6's 40-byte header: IPv4's 20 would still fit)
    "the netif's ipv6 mtu, just short": lambda w, pcb: setattr(en(w.a), "mtu6", 1490),
    "the path mtu": lambda w, pcb: w.a.route6.path_mtu(B6_PACKED, 1280),
    "our mac": lambda w, pcb: setattr(en(w.a), "hwaddr", bytes.fromhex("020000000077")),
    "the link down": lambda w, pcb: setattr(en(w.a), "link_up", False),
    "the ipv6 output replaced": _replace_ip6_output,
    "the link output replaced": _replace_link_output,
    "the routes changed": lambda w, pcb: w.a.routes.changed(),
    "the traffic class and hop limit": lambda w, pcb: (setattr(pcb, "tos", 0x28), setattr(pcb, "ttl", 5)),
}


@pytest.mark.parametrize("size", [100, 20_000], ids=["idle write", "bulk"])
@pytest.mark.parametrize("case", sorted(WAY_CHANGES6))
def test_a_change_to_what_the_way_was_made_from_shows_at_the_next_write(case, size):
    worlds = connected(ip6_reassembly=True)  # (b takes the fragments ip6.output makes for a smaller MTU)
    fast = worlds[0][0]
    assert fast.a.tcp.fast_sent6 > 0  # the warm-up's data went from the template: a way was kept
    for w, a_pcb, _ in worlds:
        WAY_CHANGES6[case](w, a_pcb)
    if case == "the link down":
        for _w, a_pcb, _ in worlds:
            a_pcb.send(b"x" * size)
        _run_all(worlds, 0.5)
        for w, _, _ in worlds:
            en(w.a).link_up = True
        _run_all(worlds, 30.0)
    else:
        _send(worlds, size)
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])
    assert fb.rcv_nxt == sb.rcv_nxt == fa.snd_max
    assert getattr(fw, "outputs", None) == getattr(sw, "outputs", None)  # a replaced output saw every packet


@pytest.mark.parametrize("case", ["the neighbour stale", "the neighbour's mac", "the neighbour dropped"])
def test_the_way_is_made_again_once_the_neighbour_is_ready(case):
    worlds = connected()
    for w, a_pcb, _ in worlds:
        WAY_CHANGES6[case](w, a_pcb)
    _send(worlds, 5000)  # (the full way resolves the neighbour again, or moves it on)
    _run_all(worlds, 10.0)
    fast = worlds[0][0]
    before = fast.a.tcp.fast_sent6
    _send(worlds, 5000)
    assert fast.a.tcp.fast_sent6 - before >= 4
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])


@pytest.mark.parametrize("size", [100, 20_000], ids=["idle write", "bulk"])
def test_segments_the_device_refuses_are_kept_and_sent_again_as_over_ipv4(size):
    """A full device queue (ENOMEM) keeps a segment unsent and tries it again soon, over IPv6 as over IPv4, whichever
    way wrote it (s21: the full way over IPv6 used to count it sent and leave it to the retransmission timer)."""
    worlds = connected()
    for w, _, _ in worlds:
        device = en(w.a).device
        real = device.transmit
        refusals = [3]

        def refusing(frame, real=real, refusals=refusals):
            if len(frame) > 100 and refusals[0]:  # (a's data segments, the first three tries)
                refusals[0] -= 1
                return False
            return real(frame)
        device.transmit = refusing
    _send(worlds, size)
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])
    for w, _, _ in worlds:
        tcp = w.a.stats.as_dict()["tcp"]
        assert tcp["tx_refused"] == 3 and tcp["rexmit"] == 0  # tried again by TX_RETRY, not retransmitted
        assert w.a.stats.as_dict()["link"]["memerr"] == 3


def test_no_way_over_ipv6_where_the_netif_offloads():
    """A netif that offloads checksums and cuts super-segments gets IPv6 data from the full way (its pbufs say where
    the checksum goes); the way over IPv6 is made for plain frames alone."""
    (w, a_pcb, _), _ = connected()
    assert a_pcb._tx_way_make() is not None
    a_pcb._offload = True  # (as _route finds it for such a netif)
    assert a_pcb._tx_way_make() is None


@pytest.mark.parametrize("size", [100, 20_000], ids=["idle write", "bulk"])
def test_the_neighbour_is_touched_as_nd6s_output_touches_it(size):
    """Which entry gives way in a full cache follows ``touched``: each write from the template moves it on."""
    worlds = connected()
    _run_all(worlds, 2.0)
    for w, a_pcb, _ in worlds:
        assert _entry_for_b(w).touched < w.a.now
        a_pcb.send(b"t" * size)  # (written at once: the idle write's one segment, or the loop's first flight)
        assert _entry_for_b(w).touched == w.a.now
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert fw.a.tcp.fast_sent6 > sw.a.tcp.fast_sent6 == 0
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])


@pytest.mark.parametrize("field", ["tos", "ttl"])
@pytest.mark.parametrize("value", [-1, 256, 300, 1.5, None, "64"])
def test_a_tos_or_ttl_that_is_no_byte_is_einval_and_changes_nothing(field, value):
    """The pcb API's ``tos`` and ``ttl`` (lwIP's u8 fields): a value no IP header can carry is refused at once with
    EINVAL, not accepted to fail on the next segment (with another exception on each way out)."""
    (w, a_pcb, _), _ = connected()
    before = getattr(a_pcb, field)
    with pytest.raises(LwipError) as raised:
        setattr(a_pcb, field, value)
    assert raised.value.errno == errno.EINVAL and "0..255" in str(raised.value)
    assert getattr(a_pcb, field) == before
    setattr(a_pcb, field, 255)  # the byte's largest value is taken
    a_pcb.send(b"x" * 100)
    assert w.sim.run_until(lambda: a_pcb.snd_una == a_pcb.snd_max, 10)


def test_a_device_that_says_how_many_bytes_it_took_is_counted_as_the_full_way_counts_it():
    """A device's transmit may return the bytes it took (as ``os.write`` does) instead of True: one frame each."""
    worlds = connected()
    for w, _, _ in worlds:
        for stack in (w.a, w.b):
            device = en(stack).device
            real = device.transmit
            device.transmit = lambda frame, real=real: len(frame) if real(frame) else 0
    _send(worlds, 20_000)
    (fw, fa, fb), (sw, sa, sb) = worlds
    assert fw.a.tcp.fast_sent6 > 10 and fw.b.tcp.fast_sent6 > 0
    assert_alike(fw, sw, [(fa, sa), (fb, sb)])
