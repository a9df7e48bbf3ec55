"""The send side's next-hop cache (issue 15): ``TcpOutput._neighbour_mac`` keeps the next hop's ARP entry in
``Tcp.tx_neighbours`` instead of hashing an ``IPv4Address`` per call, and looks it up again exactly when the ARP table
gained or lost an entry (``Etharp.generation``) or the route gave another next hop or netif.  Each test changes one
thing a stale cache would miss and checks where the next segment goes.  In virtual time, against a scripted peer."""

from __future__ import annotations

from ipaddress import IPv4Address

from scapy.layers.l2 import ARP, Ether

from helpers import OWN_MAC, PEER_MAC
from lwipy.wire.ethernet import mac_to_str
from test_tcp_fastpath import established, frame, inject

NEW_MAC = bytes.fromhex("0200000000aa")
GW_MAC = bytes.fromhex("0200000000fe")


def arp_reply(t, mac: bytes, ip: str = "10.0.0.9") -> None:
    """An ARP reply from ``ip`` at ``mac`` to lwipy."""
    raw = bytes(Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(mac)) /
                ARP(op=2, hwsrc=mac_to_str(mac), psrc=ip, hwdst=mac_to_str(OWN_MAC), pdst="10.0.0.1"))
    inject(t, raw)


def ipv4_frames(t) -> list[bytes]:
    return [bytes(f) for f in t.dev.take() if f[12:14] == b"\x08\x00"]


def arp_requests(frames) -> list[bytes]:
    return [f for f in frames if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01"]


def send_some(t, pcb, n: int = 300) -> list[bytes]:
    """Send ``n`` bytes (nodelay: at once), then let the peer acknowledge everything; the frames sent."""
    pcb.nodelay = True
    pcb.send(b"z" * n)
    frames = [bytes(f) for f in t.dev.take()]
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ts=(900, 0)))
    t.dev.take()
    return frames


def dynamic_peer(t) -> None:
    """Replace the script's static ARP entry for the peer by one learnt from a reply (STABLE, it expires)."""
    t.stack.etharp.remove("10.0.0.9")
    arp_reply(t, PEER_MAC)
    entry = t.stack.etharp.table[(t.netif.index, IPv4Address("10.0.0.9"))]
    assert entry.state == "stable" and entry.mac == PEER_MAC


# -- taken for the common case --------------------------------------------------------------------------------------
def test_the_entry_is_looked_up_once_and_forgotten_with_the_connection():
    t, pcb, _ = established(ts=True)
    table = t.stack.etharp.table
    lookups = []

    class Counting(dict):
        def get(self, key, default=None):
            lookups.append(key)
            return super().get(key, default)

    t.stack.etharp.table = Counting(table)
    before = t.stack.tcp.fast_sent
    for _ in range(3):
        frames = send_some(t, pcb)
        assert frames and all(f[:6] == PEER_MAC for f in frames)
    assert t.stack.tcp.fast_sent > before
    assert len(lookups) <= 1  # the first call's (when the handshake's ACK did not already make it)
    assert t.stack.tcp.tx_neighbours[pcb][0] is t.stack.etharp.table[lookups[0] if lookups else
                                                                       (t.netif.index, pcb._next_hop)]
    pcb.abort()
    assert pcb not in t.stack.tcp.tx_neighbours


# -- looked up again when it must be ---------------------------------------------------------------------------------
def test_a_removed_entry_is_not_used():
    t, pcb, _ = established(ts=True)
    send_some(t, pcb)
    assert pcb in t.stack.tcp.tx_neighbours
    t.stack.etharp.remove("10.0.0.9")
    before = t.stack.tcp.fast_sent
    send_through_etharp(t, pcb, "removed")  # etharp_output asks, and queues the segment
    arp_reply(t, NEW_MAC)  # the queue leaves to the new MAC, and so does what follows, the fast way
    queued = ipv4_frames(t)
    assert queued and all(f[:6] == NEW_MAC for f in queued)
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ts=(901, 0)))
    t.dev.take()
    frames = send_some(t, pcb)
    assert frames and all(f[:6] == NEW_MAC for f in frames) and t.stack.tcp.fast_sent > before


def ipv4_frames_of(frames) -> list[bytes]:
    return [f for f in frames if f[12:14] == b"\x08\x00"]


def send_through_etharp(t, pcb, why: str) -> None:
    """A small segment sent now leaves the fast path: no IPv4 frame goes out, an ARP request does."""
    before = t.stack.tcp.fast_sent
    pcb.nodelay = True
    pcb.send(b"y" * 300)
    frames = [bytes(f) for f in t.dev.take()]
    assert t.stack.tcp.fast_sent == before
    assert not ipv4_frames_of(frames), f"a segment went to the {why} entry's MAC"
    assert arp_requests(frames)


def test_an_expired_entry_is_not_used():
    """A refresh asked and never answered: the entry (STABLE, rerequested) expires and is dropped; the cached object
    still holds its MAC, but the next segment must go through etharp_output (a new request)."""
    t, pcb, _ = established(ts=True)
    dynamic_peer(t)
    send_some(t, pcb)
    entry = t.stack.etharp.table[(t.netif.index, IPv4Address("10.0.0.9"))]
    assert t.stack.tcp.tx_neighbours[pcb][0] is entry
    entry.rerequested = True  # as etharp_output leaves it once it asked again
    t.at(entry.expires + 0.5)
    assert (t.netif.index, IPv4Address("10.0.0.9")) not in t.stack.etharp.table
    t.dev.take()
    send_through_etharp(t, pcb, "expired")


def test_a_changed_mac_is_used_at_once():
    t, pcb, _ = established(ts=True)
    dynamic_peer(t)
    send_some(t, pcb)
    arp_reply(t, NEW_MAC)  # the peer's MAC changed: the same entry, updated
    frames = send_some(t, pcb)
    assert frames and all(f[:6] == NEW_MAC for f in frames)


def test_a_replaced_static_entry_is_used():
    t, pcb, _ = established(ts=False)
    send_some(t, pcb)
    t.stack.etharp.remove("10.0.0.9")
    t.stack.etharp.add_static("10.0.0.9", NEW_MAC)
    before = t.stack.tcp.fast_sent
    frames = send_some(t, pcb)
    assert frames and all(f[:6] == NEW_MAC for f in frames) and t.stack.tcp.fast_sent > before


def test_a_new_route_with_another_next_hop_is_followed():
    """The gateway's entry is in the table before the route changes (no ARP table change to notice): the cache
    must follow the route's new next hop, not the peer's entry."""
    t, pcb, _ = established(ts=True)
    t.stack.etharp.add_static("10.0.0.254", GW_MAC)
    frames = send_some(t, pcb)
    assert frames and all(f[:6] == PEER_MAC for f in frames)
    frames = send_some(t, pcb)  # the cache now holds the peer's entry, at the table's generation
    assert pcb in t.stack.tcp.tx_neighbours
    t.stack.routes.add("10.0.0.9/32", t.netif, gateway="10.0.0.254")
    before = t.stack.tcp.fast_sent
    send_some(t, pcb)  # the first goes the full way (which looks the route up again)
    frames = send_some(t, pcb)
    assert frames and all(f[:6] == GW_MAC for f in frames)
    assert t.stack.tcp.fast_sent > before


def test_an_entry_about_to_expire_is_refreshed_by_the_next_write_to_an_idle_connection():
    """out12: ``_output_one`` checks the way out itself (``_tx_way_now``'s body, inline), the neighbour's age too: a
    write to an idle connection (a reply's case) when the entry is within ``_REREQUEST_BEFORE`` of expiring goes
    through ``etharp_output``, which asks the peer again, as without the fast paths; the write after it is fast."""
    from lwipy.core.etharp import _REREQUEST_BEFORE
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=True, fast=fast)
        dynamic_peer(t)
        send_some(t, pcb, 100)
        entry = t.stack.etharp.table[(t.netif.index, IPv4Address("10.0.0.9"))]
        before = t.stack.tcp.fast_sent
        t.at(entry.expires - _REREQUEST_BEFORE + 0.5)
        frames = send_some(t, pcb, 100)
        assert t.stack.tcp.fast_sent == before
        runs.append((frames, send_some(t, pcb, 100)))
    (fast_first, fast_then), (full_first, full_then) = runs
    assert fast_first == full_first and arp_requests(fast_first) and ipv4_frames_of(fast_first)
    assert fast_then == full_then and not arp_requests(fast_then)
