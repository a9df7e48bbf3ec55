"""way13: a TCP connection's kept way out (``TcpOutput._tx_way``: netif, ARP entry, template, sizes) is checked by
one figure for everything the stack, the netif and the neighbour contribute to it, ``Stack.way_generation``, which
every write to those fields moves on (the routes' and the ARP table's generations, an ARP entry's MAC, a netif's
state, MAC, MTU, VLAN and device: ``RouteTable``'s, ``Etharp``'s, ``ArpEntry``'s and ``Netif``'s ``__setattr__``),
and the connection's own fields and the stack's link output compared live (way14: the link output's setter moves the
generation on too, the connection's TOS, TTL and timestamps drop its way when written, and its peer's MSS alone is
compared).  Each test changes one field, through each public way of changing it, between two writes, and sees the
next write make the way again and send what a stack without the fast paths sends.  In virtual time, against a
scripted peer."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import CaptureDevice
from lwipy.core.etharp import _REREQUEST_BEFORE, PENDING, STABLE, STATIC, ArpEntry
from lwipy.core.netif import _WAY_FIELDS, Netif
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.tcp_out import NO_WAY
from test_tcp_fastpath import established
from test_tcp_send_fast import ack_all
from test_tcp_send_neighbour import NEW_MAC, arp_reply, dynamic_peer

PEER = IPv4Address("10.0.0.9")


def _entry(t):
    return t.stack.etharp.table[(t.netif.index, PEER)]


def _route_removed(t, pcb):
    t.stack.routes.remove(t.stack.routes.static[-1])


def _entry_expired(t, pcb):
    t.stack.etharp.poll(t.stack.etharp.table[(t.netif.index, IPv4Address("10.0.0.50"))].expires)


def _new_device(t, pcb):
    t.dev = t.netif.device = CaptureDevice()


def _link_output_wrapped(t, pcb):
    real = t.stack.link_output
    t.stack.link_output = lambda *args: real(*args)


def _routes_generation_written(t, pcb):
    t.stack.routes.generation += 1


def _arp_generation_written(t, pcb):
    t.stack.etharp.generation += 1


def _mac_written(t, pcb):
    _entry(t).mac = NEW_MAC


# name: (prepare (before the way is made), the change, how the way learns of it: True, Stack.way_generation stands for the
# field; "dropped", the write drops the connection's way (way14); False, compared live; None, nothing changed)
CHANGES = {
    "nothing": (None, lambda t, pcb: None, None),
    # the routes' generation
    "routes changed": (None, lambda t, pcb: t.stack.routes.changed(), True),
    "a route added": (None, lambda t, pcb: t.stack.routes.add("192.168.5.0/24", t.netif, "10.0.0.254"), True),
    "a route removed": (lambda t, pcb: t.stack.routes.add("192.168.5.0/24", t.netif, "10.0.0.254"), _route_removed,
                        True),
    "the routes' generation written": (None, _routes_generation_written, True),
    "the netif's address set again": (None, lambda t, pcb: t.netif.set_ipv4("10.0.0.1/24"), True),
    # the ARP table's generation
    "a static entry added": (None, lambda t, pcb: t.stack.etharp.add_static("10.0.0.77", NEW_MAC), True),
    "a neighbour learnt from a reply": (None, lambda t, pcb: arp_reply(t, NEW_MAC, "10.0.0.51"), True),
    "the neighbour's entry removed": (None, lambda t, pcb: t.stack.etharp.remove(str(PEER)), True),
    "an entry expired": (lambda t, pcb: arp_reply(t, NEW_MAC, "10.0.0.50"), _entry_expired, True),
    "the ARP table's generation written": (None, _arp_generation_written, True),
    # the neighbour's MAC, in its entry
    "the neighbour's MAC from a reply": (lambda t, pcb: dynamic_peer(t), lambda t, pcb: arp_reply(t, NEW_MAC), True),
    "the neighbour's MAC made static anew": (None, lambda t, pcb: t.stack.etharp.add_static(str(PEER), NEW_MAC),
                                             True),
    "the neighbour's MAC written": (None, _mac_written, True),
    # the netif's
    "netif set down": (None, lambda t, pcb: t.netif.set_up(False), True),
    "link set down": (None, lambda t, pcb: t.netif.set_link_up(False), True),
    "up written": (None, lambda t, pcb: setattr(t.netif, "up", False), True),
    "link_up written": (None, lambda t, pcb: setattr(t.netif, "link_up", False), True),
    "vlan_id written": (None, lambda t, pcb: setattr(t.netif, "vlan_id", 7), True),
    "hwaddr written": (None, lambda t, pcb: setattr(t.netif, "hwaddr", b"\x02\x00\x00\x00\x00\x42"), True),
    "mtu written": (None, lambda t, pcb: setattr(t.netif, "mtu", 576), True),
    "device written": (None, _new_device, True),
    # way14: the stack's link output (its setter)
    "link_output wrapped": (None, _link_output_wrapped, True),
    # the connection's own fields: TOS and TTL (their setters) and the timestamps (_rcv_sws, as the handshake calls it)
    # drop its way, the peer's MSS is compared live
    "tos written": (None, lambda t, pcb: setattr(pcb, "tos", 0x20), "dropped"),
    "ttl written": (None, lambda t, pcb: setattr(pcb, "ttl", 9), "dropped"),
    "timestamps off": (None, lambda t, pcb: (setattr(pcb, "ts_ok", False), pcb._rcv_sws()), "dropped"),
    # out2: the window's threshold (_rcv_opens_at, _output_one's from the way), set by _rcv_sws from the buffer limit,
    # and a scaled window (rcv_wscale, written only before _rcv_sws: when the pcb is made and by the handshake)
    "buffer limit written": (None, lambda t, pcb: (setattr(pcb, "rcv_buf_limit", 2000), pcb._rcv_sws()), "dropped"),
    "window scaled": (None, lambda t, pcb: (setattr(pcb, "rcv_wscale", 2), pcb._rcv_sws()), "dropped"),
    "snd_mss written": (None, lambda t, pcb: setattr(pcb, "snd_mss", 700), False),
}


@pytest.mark.parametrize("in_flight", [False, True])
@pytest.mark.parametrize("case", sorted(CHANGES))
def test_a_change_between_two_writes_makes_the_way_again(case, in_flight):
    """The write after the change makes the way again (``_tx_way_make`` called: the kept one is not used) and sends
    what the full way sends (a stack without the fast paths, changed alike); with nothing changed the way is kept
    and the generation stands still.  Idle (``_output_one``, a reply's case) or with a segment in flight
    (``_output_fast``'s ``_tx_way_now``)."""
    prepare, change, counted = CHANGES[case]
    runs = [established(ts=True, fast=fast) for fast in (True, False)]
    for t, pcb, _ in runs:
        if prepare is not None:
            prepare(t, pcb)
        pcb.nodelay = True
        for _ in range(2):  # (the first after a change of the routes goes the full way, which looks the route up)
            pcb.send(b"a" * 100)  # (by _output_one: the way made and kept)
            ack_all(t, pcb, True)
        if in_flight:
            pcb.send(b"f" * 100)
        t.dev.take()
    ta, pa, _ = runs[0]
    way, generation = pa._tx_way, ta.stack.way_generation
    assert way is not NO_WAY and (pa.snd_una != pa.snd_max) == in_flight
    makes = []
    real_make = pa._tx_way_make
    pa._tx_way_make = lambda: makes.append(True) or real_make()
    for t, pcb, _ in runs:
        change(t, pcb)
    assert (ta.stack.way_generation != generation) == (counted is True)
    assert (pa._tx_way is NO_WAY) == (counted == "dropped")
    for _t, pcb, _ in runs:
        pcb.send(bytes(range(180)) * 5)
    fast, full = ta.dev.take(), runs[1][0].dev.take()
    assert fast == full
    if counted is None:
        assert not makes and pa._tx_way is way and fast and ta.stack.way_generation == generation
    else:
        assert makes


def test_the_generation_stands_still_while_requests_are_answered():
    """A connection's requests and replies write none of the watched fields: the way made for the first reply is
    the one every later reply uses."""
    t, pcb, _ = established(ts=True)
    pcb.nodelay = True
    pcb.send(b"a" * 64)
    generation, way = t.stack.way_generation, pcb._tx_way
    for i in range(5):
        ack_all(t, pcb, True, tsval=901 + i)
        pcb.send(b"b" * 64)
    assert t.stack.way_generation == generation and pcb._tx_way is way and len(t.dev.take()) >= 6


def _reading(cls: type) -> type:
    """A subclass of ``cls`` with its layout (so that an object's ``__class__`` may be set to it) that notes the name
    of every attribute read in ``read``."""
    def __getattribute__(self, name):
        read.add(name)
        return object.__getattribute__(self, name)
    read: set = set()
    return type(f"Reading{cls.__name__}", (cls,), {"__slots__": (), "read": read,
                                                   "__getattribute__": __getattribute__})


_ReadNetif, _ReadEntry = _reading(Netif), _reading(ArpEntry)


# what the way reads of a netif or an ARP entry besides the watched fields: the netif's owner and index (set once,
# by Stack.add_netif), and the entry's refresh time (read live each call: ArpEntry.refresh_at)
NETIF_FIXED = {"stack", "index", "__class__"}
ENTRY_LIVE = {"mac", "refresh_at", "__class__"}


@pytest.mark.parametrize("in_flight", [False, True])
def test_the_way_reads_of_the_netif_and_the_entry_only_what_a_write_shows_or_what_it_reads_live(in_flight):
    """Every field of the netif that making or checking the way reads is one whose writes move the generation on
    (``netif._WAY_FIELDS``) or one never written after the netif is made; of the ARP entry, its MAC (watched) and its
    refresh time (read live: ``ArpEntry.refresh_at``).  A new read of a netif's or an entry's field added to the way
    without a watch fails here."""
    t, pcb, _ = established(ts=True)
    pcb.nodelay = True
    if in_flight:
        pcb.send(b"f" * 100)
    entry = _entry(t)
    t.netif.__class__, entry.__class__ = _ReadNetif, _ReadEntry
    _ReadNetif.read.clear()
    _ReadEntry.read.clear()
    try:
        pcb._tx_way = NO_WAY
        pcb.send(b"a" * 100)  # made
        pcb.send(b"b" * 100)  # checked
    finally:
        t.netif.__class__, entry.__class__ = Netif, ArpEntry
    assert _ReadNetif.read and _ReadEntry.read
    assert _ReadNetif.read - NETIF_FIXED <= _WAY_FIELDS, _ReadNetif.read - NETIF_FIXED - _WAY_FIELDS
    assert _ReadEntry.read <= ENTRY_LIVE


# way14: what making or checking the way reads of the connection itself: set once, when it is made; its route (written
# by _route alone, which runs only once the routes' generation moved on: Stack.way_generation moved too); fields whose
# writes drop the way (the TOS's and the TTL's setters keep _tos and _ttl; whatever sets ts_ok calls _rcv_sws; out2:
# _rcv_opens_at is set by _rcv_sws alone, rcv_wscale only before it); and the peer's MSS, compared each call
PCB_FIXED = {"stack", "tcp", "v6", "local_port", "remote_port", "_local_packed", "_remote_packed", "_pseudo_base",
             "__class__"}
PCB_ROUTE = {"_neighbour", "_netif", "_next_hop", "_route_gen"}
PCB_DROPPING = {"_tos", "_ttl", "ts_ok", "_rcv_opens_at", "rcv_wscale"}
PCB_LIVE = {"snd_mss", "_tx_way"}
_ReadPcb = _reading(TcpPcb)


@pytest.mark.parametrize("ts", [True, False])
def test_the_way_reads_of_the_connection_only_fields_that_drop_it_or_are_compared(ts):
    """Every field of the connection that making or checking the way reads (methods aside) is fixed, its route, one
    whose writes drop the way, or the peer's MSS: a new read of a pcb's field added to the way without dropping it
    fails here."""
    t, pcb, _ = established(ts=ts)
    pcb.nodelay = True
    pcb.send(b"a" * 100)
    ack_all(t, pcb, True)
    pcb.__class__ = _ReadPcb
    _ReadPcb.read.clear()
    try:
        pcb._tx_way = NO_WAY
        way = pcb._tx_way_now()  # made
        assert way is not None and pcb._tx_way_now() is way  # checked
    finally:
        pcb.__class__ = TcpPcb
    read = {name for name in _ReadPcb.read if not callable(getattr(TcpPcb, name, None))}
    assert read >= PCB_DROPPING | PCB_LIVE
    assert read <= PCB_FIXED | PCB_ROUTE | PCB_DROPPING | PCB_LIVE, read - PCB_FIXED - PCB_ROUTE - PCB_DROPPING - PCB_LIVE


# -- way13: ArpEntry.refresh_at, the refresh threshold kept as the entry is written --------------------------------------
WRITES = st.lists(st.one_of(
    st.tuples(st.just("state"), st.sampled_from([PENDING, STABLE, STATIC])),
    st.tuples(st.just("rerequested"), st.booleans()),
    st.tuples(st.just("expires"), st.one_of(st.just(float("inf")), st.floats(0, 1000, allow_nan=False))),
    st.tuples(st.just("mac"), st.just(NEW_MAC)),
    st.tuples(st.just("arp reply"), st.just(None)),
    st.tuples(st.just("static"), st.just(None)),
    st.tuples(st.just("output"), st.floats(0, 1000, allow_nan=False)),
), max_size=12)


@settings(max_examples=200, deadline=None)
@given(WRITES, st.lists(st.floats(0, 2000, allow_nan=False), min_size=1, max_size=4))
def test_refresh_at_says_what_the_three_fields_say_after_any_writes(writes, nows):
    """Whatever writes the peer's entry sees (its fields directly, an ARP reply, a static entry, ``etharp_output``
    asking again), ``refresh_due`` (``now >= refresh_at``) answers as the fields it stands for do."""
    t, pcb, _ = established(ts=True)
    dynamic_peer(t)
    for kind, value in writes:
        entry = _entry(t) if (t.netif.index, PEER) in t.stack.etharp.table else None
        if kind == "arp reply":
            arp_reply(t, NEW_MAC)
        elif kind == "static":
            t.stack.etharp.add_static(str(PEER), NEW_MAC)
        elif kind == "output" and entry is not None:
            t.stack.now = value
            pcb.nodelay = True
            pcb.send(b"o" * 10)  # (through etharp_output when the refresh is due: it asks again)
        elif entry is not None and kind in ("state", "rerequested", "expires", "mac"):
            setattr(entry, kind, value)
        entry = t.stack.etharp.table.get((t.netif.index, PEER))
        if entry is None:
            continue
        edge = entry.expires - _REREQUEST_BEFORE
        for now in nows + ([edge - 0.5, edge, edge + 0.5] if edge < float("inf") else []):
            due = entry.state == STABLE and not entry.rerequested and now >= entry.expires - _REREQUEST_BEFORE
            assert entry.refresh_due(now) == due
            assert (now >= entry.refresh_at) == due


@pytest.mark.parametrize("state, rerequested, due", [(STABLE, False, 70.0), (STABLE, True, None),
                                                     (STATIC, False, None), (PENDING, False, None)])
def test_an_entry_made_with_its_fields_has_its_refresh_time(state, rerequested, due):
    t, _, _ = established(ts=False)
    entry = ArpEntry(PEER, t.netif, state, NEW_MAC, expires=100.0, rerequested=rerequested)
    assert entry.refresh_at == (due if due is not None else float("inf"))


@pytest.mark.parametrize("in_flight", [False, True])
def test_a_refresh_due_leaves_the_write_to_etharp_output_and_the_next_is_fast(in_flight):
    """The neighbour's entry comes within ``_REREQUEST_BEFORE`` of expiring between two writes: the write goes the
    full way (``etharp_output`` asks again), as without the fast paths, idle or with a segment in flight; once asked
    (``rerequested``), the next write takes the fast way again."""
    runs = [established(ts=True, fast=fast) for fast in (True, False)]
    for t, pcb, _ in runs:
        dynamic_peer(t)
        pcb.nodelay = True
        for _ in range(2):
            pcb.send(b"a" * 100)
            ack_all(t, pcb, True)
        if in_flight:
            pcb.send(b"f" * 100)
        t.dev.take()
    ta, pa, _ = runs[0]
    assert pa._tx_way is not NO_WAY
    for t, _pcb, _ in runs:
        _entry(t).expires = t.stack.now + _REREQUEST_BEFORE - 0.5  # (as a reply learnt 270 s ago: no timer runs)
    before = ta.stack.tcp.fast_sent
    out = []
    for t, pcb, _ in runs:
        pcb.send(b"b" * 100)
        out.append([bytes(f) for f in t.dev.take()])
    assert out[0] == out[1] and any(f[12:14] == b"\x08\x06" for f in out[0])  # an ARP request
    assert ta.stack.tcp.fast_sent == before and _entry(ta).rerequested
    for t, pcb, _ in runs:
        ack_all(t, pcb, True, tsval=901)
        t.dev.take()
        pcb.send(b"c" * 100)
    assert ta.dev.take() == runs[1][0].dev.take() and ta.stack.tcp.fast_sent > before
