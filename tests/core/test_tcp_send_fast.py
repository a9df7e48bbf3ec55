"""The send side (issue 15, items 1, 3 and 4): ``TcpOutput._output_fast`` is taken for the common ``tcp_output`` call
and left for each unusual one, and the sender never splits what fits: segments are full (MSS less options) whatever
the write pattern, with Nagle holding a partial one while data is in flight, as lwIP does.  In virtual time, against
a scripted peer."""

from __future__ import annotations

import pytest

from helpers import OWN_MAC, PEER_MAC
from lwipy.core.tcp.tcp_out import NO_WAY
from lwipy.wire.checksum import pseudo_sum_v4, verify
from test_tcp_fastpath import ACK, OWN_B, PEER_B, established, frame, inject


def watch_fast(pcb) -> list:
    """Record what every call of the send fast path returned (True: it handled the call): ``_output_fast``'s, or
    ``_output_one``'s when ``send`` asks it first for an idle connection and it takes the call (rr11; one it declines
    goes on to ``_output_fast``, whose answer is recorded)."""
    calls: list = []
    inside = []
    real_fast, real_one = pcb._output_fast, pcb._output_one

    def fast(*args):
        inside.append(True)
        try:
            took = real_fast(*args)
        finally:
            inside.pop()
        calls.append(took)
        return took

    def one(*args):
        took = real_one(*args)
        if took and not inside:
            calls.append(took)
        return took
    pcb._output_fast, pcb._output_one = fast, one
    return calls


def data_frames(t) -> list[bytes]:
    return [bytes(f) for f in t.dev.take() if len(f) > 54 and f[12:14] == b"\x08\x00" and f[23] == 6]


def payloads(frames, ts: bool) -> list[int]:
    hlen = 32 if ts else 20
    return [len(f) - 34 - hlen for f in frames if len(f) - 34 - hlen > 0]


def ack_all(t, pcb, ts: bool, tsval: int = 900) -> None:
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ts=(tsval, 0) if ts else None))


# -- taken for the common case -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("size", [1, 999, 2001, 4001])  # odd payloads: the checksum pads the last byte
def test_bulk_send_is_taken_and_every_frame_is_right(ts, size):
    t, pcb, _ = established(ts=ts)
    calls = watch_fast(pcb)
    pcb.nodelay = True
    data = bytes((i * 7) & 0xFF for i in range(size))
    pcb.send(data)
    frames = data_frames(t)
    assert calls and all(calls) and t.stack.tcp.fast_sent == len(frames) >= 1
    hlen = 32 if ts else 20
    assert b"".join(f[34 + hlen:] for f in frames) == data
    idents = []
    for f in frames:
        assert f[:6] == PEER_MAC and f[6:12] == OWN_MAC
        assert verify(f[14:34])  # the IPv4 header checksum, computed from the fields
        assert verify(f[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(f) - 34))  # the TCP one, from fields and payload
        assert int.from_bytes(f[16:18], "big") == len(f) - 14
        idents.append(int.from_bytes(f[18:20], "big"))
    assert idents == [(idents[0] + i) & 0xFFFF for i in range(len(frames))]
    assert frames[-1][47] == ACK | 0x08 and all(f[47] == ACK for f in frames[:-1])  # PSH on the last only
    assert pcb.snd_nxt == pcb.snd_max == pcb.snd_una + size and pcb.rto_at is not None


def test_the_send_after_an_ack_that_freed_nothing_new_is_handled_without_sending():
    t, pcb, _ = established(ts=False)
    calls = watch_fast(pcb)
    pcb.send(b"a" * 500)
    t.dev.take()
    pcb._output()  # nothing left to send
    assert calls == [True, True] and t.dev.take() == []


# -- left for every unusual one ------------------------------------------------------------------------------------------
def _fin(t, pcb):
    pcb.shutdown()


def _vlan(t, pcb):
    t.netif.vlan_id = 5


def _arp_refresh(t, pcb):
    entry = t.stack.etharp.table[(t.netif.index, pcb._next_hop)]
    entry.state, entry.expires, entry.rerequested = "stable", t.now + 10.0, False


def _disabled(t, pcb):
    t.stack.tcp.fast_path = False


def _route_changed(t, pcb):
    t.stack.routes.generation += 1


def _link_down(t, pcb):
    t.netif.link_up = False


UNUSUAL = {"FIN queued": _fin, "VLAN": _vlan, "ARP refresh due": _arp_refresh, "fast path off": _disabled,
           "route table changed": _route_changed, "link down": _link_down}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_unusual_calls_take_the_full_output(case):
    t, pcb, _ = established(ts=True)
    calls = watch_fast(pcb)
    pcb.send(b"x" * 300)
    t.dev.take()
    UNUSUAL[case](t, pcb)
    calls.clear()
    before = t.stack.tcp.fast_sent
    pcb.nodelay = True  # the second block goes at once, without waiting for an ACK (which a VLAN netif drops)
    if case != "FIN queued":
        pcb.send(b"y" * 300)
    # the first call after the change goes the full way (which re-routes, or asks ARP again: later ones may not)
    assert not calls or calls[0] is False, f"the fast output took {case}"
    if case not in ("route table changed", "ARP refresh due"):
        assert not any(calls) and t.stack.tcp.fast_sent == before
    if case != "link down":  # (where the full way keeps it for later)
        end = (pcb.buf_seq + len(pcb.snd_buf)) & 0xFFFFFFFF
        assert pcb.snd_max in (end, end + 1)  # everything went (the FIN too, when queued)


def test_sack_blocks_due_take_the_full_output():
    t, pcb, _ = established(ts=True, sack=True)
    inject(t, frame(t, t.peer_seq + 500, pcb.snd_una, data=b"o" * 100, ts=(400, 0)))  # out of order: SACK due
    t.dev.take()
    calls = watch_fast(pcb)
    pcb.nodelay = True
    pcb.send(b"s" * 300)
    frames = data_frames(t)
    assert calls == [False] and frames
    assert any(f[54:56] == b"\x01\x01" and b"\x05" in f[54:66 + 28] for f in frames)  # SACK option on the data


def test_retransmission_timeout_forces_the_full_output():
    t, pcb, _ = established(ts=False)
    pcb.send(b"r" * 800)
    t.dev.take()
    calls = watch_fast(pcb)
    t.at(pcb.rto_at + 0.001)
    frames = data_frames(t)
    assert frames and payloads(frames, False)[0] == 800
    assert calls == [] or not any(calls)


# -- never split what fits -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("write", [100, 1000, 1500, 2160, 4096])
def test_writes_of_any_size_leave_as_full_segments(ts, write, fast):
    """A sender writing ``write``-byte blocks whenever there is room, the peer acknowledging every second segment:
    every segment is full (MSS less options) but the last; the blocks' boundaries and the send buffer's never
    make a runt.  ESP-IDF's defaults: MSS 1440, TCP_SND_BUF 5760 (with timestamps not a multiple of 1428)."""
    t, pcb, _ = established(ts=ts, tcp_snd_buf_default=5760)
    t.stack.tcp.fast_path = fast
    # the peer says MSS 1000 in established(); take ESP-IDF's 1440 here
    pcb.snd_mss = 1440
    pcb.cc.cwnd = 100000
    full = pcb.seg_size
    assert full == (1428 if ts else 1440)
    total = 200_000
    written = 0

    def fill():
        nonlocal written
        while written < total:
            n = pcb.send(b"w" * min(write, total - written))
            written += n
            if n < min(write, total - written + n):
                break
    sizes: list[int] = []
    fill()
    sizes += payloads(data_frames(t), ts)
    tsval = 1000
    while pcb.snd_una != (pcb.buf_seq + len(pcb.snd_buf)) & 0xFFFFFFFF or written < total:
        tsval += 1
        inflight = (pcb.snd_nxt - pcb.snd_una) & 0xFFFFFFFF
        ack = pcb.snd_una + min(2 * full, inflight) if inflight else pcb.snd_una
        inject(t, frame(t, t.peer_seq, ack, ts=(tsval, 0) if ts else None))
        fill()
        if not inflight and written >= total:
            pcb.nodelay = True  # the tail: let the last partial segment go
            pcb._output()
        sizes += payloads(data_frames(t), ts)
        assert len(sizes) < 2 * total // full, "stalled"
    assert sum(sizes) == total
    # the first block goes alone when it is all there is (nothing in flight: Nagle lets it go), then never again
    runts = [s for s in sizes[(1 if write < full else 0):-1] if s != full]
    assert runts == [], f"segments below {full}: {runts[:10]} (of {len(sizes)})"
    assert (t.stack.tcp.fast_sent > 0) == fast


@pytest.mark.parametrize("ts", [True, False])
def test_nagle_holds_a_partial_segment_while_data_is_in_flight(ts):
    t, pcb, _ = established(ts=ts)
    pcb.snd_mss = 1440
    full = pcb.seg_size
    pcb.send(b"a" * 100)  # nothing in flight: it goes at once
    assert payloads(data_frames(t), ts) == [100]
    for _ in range(5):
        pcb.send(b"b" * 100)  # in flight: held (Nagle), none goes
    assert data_frames(t) == []
    ack_all(t, pcb, ts)  # acknowledged: the 500 held go as one segment
    assert payloads(data_frames(t), ts) == [500]
    pcb.send(b"c" * (full + 10))  # a full one goes although 500 are in flight; the 10 over wait for the ACK
    assert payloads(data_frames(t), ts) == [full]
    ack_all(t, pcb, ts, 901)
    assert payloads(data_frames(t), ts) == [10]


# -- tx8: the payload's sum from zlib.adler32 (wire.checksum.data_sum) ---------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("byte", [0x00, 0xFF, None])
@pytest.mark.parametrize("mss", [1460, 1549, 4000])
def test_full_segments_of_extreme_bytes_are_summed_as_the_full_way_sums_them(ts, byte, mss):
    """Segments of the largest payload an Ethernet MTU allows (1,460 bytes less options: three 512-byte pieces, the
    last short), of a jumbo MTU's (1,537 bytes and more: past the unrolled pieces) and of odd sizes, made of bytes
    that sum as high as a piece can (0xFF), to zero, or of every value: ``_output_fast`` writes the same frames as
    the full way (which sums with ``int.from_bytes``), every checksum right."""
    runs = [established(ts=ts, fast=fast, tcp_snd_buf_default=20000) for fast in (True, False)]
    data = bytes(range(256)) * 80 if byte is None else bytes([byte]) * 20480
    for t, pcb, _ in runs:
        t.netif.mtu = 9000
        pcb.snd_mss = mss
        pcb.cc.cwnd = 100000
        pcb.nodelay = True
        pcb.send(data[:(mss + 1) * 3 + 401])  # three full segments and a short one of odd size
        pcb.send(data[:1])
    (ta, pa, _), (tb, pb, _) = runs
    fa, fb = data_frames(ta), data_frames(tb)
    assert fa == fb and len(fa) >= 4 and ta.stack.tcp.fast_sent == len(fa) and tb.stack.tcp.fast_sent == 0
    assert max(payloads(fa, ts)) == pa.seg_size == (mss - 12 if ts else mss)
    for f in fa:
        assert verify(f[34:], pseudo_sum_v4(OWN_B, PEER_B, 6, len(f) - 34))


def test_send_space_is_the_free_send_buffer_and_never_below_zero():
    """``send_space`` (``tcp_sndbuf``): the free send buffer, 0 when it is full or when its limit was lowered below
    what it holds (tx8 computes it without max())."""
    t, pcb, _ = established(ts=False, tcp_snd_buf_default=5000)
    assert pcb.send_space == 5000
    pcb.send(b"a" * 1200)
    assert pcb.send_space == 3800
    pcb.send(b"b" * 9000)  # takes what fits
    assert pcb.send_space == 0 and len(pcb.snd_buf) == 5000
    pcb.snd_buf_limit = 3000
    assert pcb.send_space == 0
    pcb.snd_buf_limit = 8000
    assert pcb.send_space == 3000
    pcb.shutdown()
    assert pcb.send_space == 0


# -- tx9: a write that says more (TCP_WRITE_FLAG_MORE) -------------------------------------------------------------------
@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("size", [300, 4001])
def test_a_write_that_says_more_leaves_without_push_both_ways(ts, size):
    """``send(..., more=True)``: no PSH on the segment that empties the send buffer, and the same frames through the
    fast output (300 bytes from an idle connection: ``_output_one``; 4001: the loop) as through the full one; the next
    plain write pushes again."""
    runs = [established(ts=ts, fast=fast) for fast in (True, False)]
    out = []
    for t, pcb, _ in runs:
        pcb.nodelay = True
        pcb.send(bytes(range(256)) * (size // 256) + bytes(size % 256), more=True)
        first = data_frames(t)
        ack_all(t, pcb, ts)
        pcb.send(b"z" * 100)
        out.append((first, data_frames(t)))
    (fast_a, fast_b), (full_a, full_b) = out
    assert fast_a == full_a and fast_b == full_b
    assert fast_a and not [f for f in fast_a if f[47] & 0x08]
    assert len(fast_b) == 1 and fast_b[0][47] == ACK | 0x08
    assert runs[0][0].stack.tcp.fast_sent == len(fast_a) + 1 and runs[1][0].stack.tcp.fast_sent == 0


# -- tx9: the way out kept per connection (_tx_way) ----------------------------------------------------------------------
def _wrapped_link_output(t, pcb):
    real = t.stack.link_output
    t.stack.link_output = lambda *args: real(*args)


def _their_mac_in_place(t, pcb):
    t.stack.etharp.table[(t.netif.index, pcb._next_hop)].mac = b"\x02\x00\x00\x00\x00\x43"


WAY_CHANGES = {
    # (the change, whether the fast output must leave the next call to the full way)
    "MTU below the segments": (lambda t, pcb: setattr(t.netif, "mtu", 576), True),
    # (one byte short of a full segment with its IPv4 and TCP headers; None: the loop leaves the call, and the full
    # way's own short way, _fast_send, still writes the last segment, which fits)
    "MTU one byte short": (lambda t, pcb: setattr(t.netif, "mtu", 20 + (32 if pcb.ts_ok else 20) + pcb.seg_size - 1),
                           None),
    "our MAC": (lambda t, pcb: setattr(t.netif, "hwaddr", b"\x02\x00\x00\x00\x00\x42"), False),
    "their MAC, in the entry": (_their_mac_in_place, False),
    "TOS": (lambda t, pcb: setattr(pcb, "tos", 0x20), False),
    "TTL": (lambda t, pcb: setattr(pcb, "ttl", 9), False),
    "MSS": (lambda t, pcb: setattr(pcb, "snd_mss", 700), False),
    "netif down": (lambda t, pcb: setattr(t.netif, "up", False), True),
    "link output wrapped": (_wrapped_link_output, True),
    "VLAN": (lambda t, pcb: setattr(t.netif, "vlan_id", 7), True),
    "ARP table changed": (lambda t, pcb: setattr(t.stack.etharp, "generation", t.stack.etharp.generation + 1), False),
    # tx10: the figures compared as one tuple
    "link down": (lambda t, pcb: setattr(t.netif, "link_up", False), True),
    # out12: the two figures no case above moved
    # (None: the first look leaves it to the full way, which looks the route up again and may hand it back)
    "routes changed": (lambda t, pcb: t.stack.routes.changed(), None),
    "timestamps off": (lambda t, pcb: (setattr(pcb, "ts_ok", False), pcb._rcv_sws()), False),  # (as the handshake)
}


@pytest.mark.parametrize("in_flight", [False, True])
@pytest.mark.parametrize("case", sorted(WAY_CHANGES))
def test_a_change_to_what_the_way_out_was_made_from_shows_at_the_next_call(case, in_flight):
    """``_output_fast`` keeps its way out (netif, ARP entry, template, sizes: ``_tx_way``) from call to call: a change
    to anything it was made from is seen by the very next call, which writes what the full way writes (a stack
    without the fast paths, changed alike), or leaves the call to it.  out12: also with a segment in flight, so that
    ``send`` goes to ``_output_fast`` (and its ``_tx_way_now``) straight away (``_output_one``, which checks the way
    itself, is asked first only for an idle connection)."""
    change, leaves = WAY_CHANGES[case]
    runs = [established(ts=True, fast=fast) for fast in (True, False)]
    for t, pcb, _ in runs:
        pcb.nodelay = True
        pcb.send(b"a" * 2500)
        ack_all(t, pcb, True)
        if in_flight:
            pcb.send(b"f" * 100)
            t.dev.take()
    pa = runs[0][1]
    way = pa._tx_way
    assert way is not NO_WAY and pa._output_fast() is True and pa._tx_way is way  # kept: nothing changed
    assert (pa.snd_una != pa.snd_max) == in_flight
    before = runs[0][0].stack.tcp.fast_sent
    calls = watch_fast(pa)
    for t, pcb, _ in runs:
        change(t, pcb)
        pcb.send(bytes(range(256)) * 10)
    (ta, pa, _), (tb, pb, _) = runs
    fast, full = ta.dev.take(), tb.dev.take()
    assert fast == full and (fast or case in ("netif down", "link down"))
    if leaves or leaves is None:
        assert calls[0] is False
    if leaves:
        assert ta.stack.tcp.fast_sent == before
    elif leaves is False:
        assert calls[0] is True and ta.stack.tcp.fast_sent > before and pa._tx_way is not way


@pytest.mark.parametrize("case", sorted(WAY_CHANGES))
def test_a_change_to_the_way_out_shows_at_the_next_write_to_an_idle_connection(case):
    """out12: ``_output_one`` checks the way out itself (``_tx_way_now``'s body, inline): a change to anything the way
    was made from, between two writes to an idle connection (a reply's case), is seen by the very next write, which
    writes what the full way writes.  The write (900 bytes) is one segment, but more than the changed MSS's, so a way
    kept stale by any of the figures writes other frames than the full way, or takes what it must leave."""
    change, leaves = WAY_CHANGES[case]
    runs = [established(ts=True, fast=fast) for fast in (True, False)]
    for t, pcb, _ in runs:
        pcb.nodelay = True
        pcb.send(b"a" * 100)  # (written by _output_one: the way out made and kept)
        ack_all(t, pcb, True)
        t.dev.take()
    ta, pa, _ = runs[0]
    way = pa._tx_way
    assert way is not None and pa.snd_una == pa.snd_max
    before = ta.stack.tcp.fast_sent
    ones = []
    real_one = pa._output_one
    pa._output_one = lambda *args: ones.append(real_one(*args)) or ones[-1]
    for t, pcb, _ in runs:
        change(t, pcb)
        pcb.send(bytes(range(180)) * 5)
    fast, full = ta.dev.take(), runs[1][0].dev.take()
    assert fast == full and (fast or case in ("netif down", "link down"))  # (down: nothing goes, either way)
    assert ones == [leaves is False and case != "MSS"]  # (the changed MSS leaves 900 bytes to _output_fast's loop)
    if leaves:
        assert ta.stack.tcp.fast_sent == before
    elif leaves is False:
        assert ta.stack.tcp.fast_sent > before and pa._tx_way is not way


@pytest.mark.parametrize("ts", [True, False])
def test_the_window_a_segment_offers_follows_a_read_between_two_calls(ts):
    """``_output_fast`` replays the window it offered while the receive side stands still (tx9): a read between two
    calls (its window update left for a batch's end) opens it in the next call's segment, as the full way offers it."""
    runs = [established(ts=ts, fast=fast, reader=False, tcp_wnd_default=5760) for fast in (True, False)]
    for t, pcb, _ in runs:
        pcb.nodelay = True
        for _ in range(2):  # the second is acknowledged at once, with the window 2000 bytes held leave
            inject(t, frame(t, t.peer_seq, pcb.snd_una, ACK | 0x08, b"d" * 1000, ts=(700, 0) if ts else None))
            t.peer_seq += 1000
        pcb.send(b"a" * 2500)  # offers the same window (the room cannot open it by a segment)
        ack_all(t, pcb, ts, tsval=701)
        pcb.ack_due = True  # as inside a batch: the read's window update waits for the batch's end
        assert len(pcb.recv()) == 2000
        pcb.send(b"b" * 2500)  # carries the window as it stands now
    (ta, pa, _), (tb, pb, _) = runs
    hlen = 32 if ts else 20
    fast, full = data_frames(ta), data_frames(tb)
    assert fast == full
    fast = [f for f in fast if len(f) > 34 + hlen]  # (the data segments, not the ACK)
    assert len(fast) == 6 and ta.stack.tcp.fast_sent >= 6
    assert int.from_bytes(fast[3][48:50], "big") > int.from_bytes(fast[2][48:50], "big")  # opened
    assert pa.stack.tcp.tx_templates[pa][6][0][2] == 0  # (the memo the second call made: nothing held)
