"""The receive direction's batching and sizing (issue 15, items 2 and 3): ACKs per batch of frames, lazily re-armed
timers, advertised windows of whole segments, scaled or not; and a retransmission bug those windows brought out."""

from __future__ import annotations

import pytest

from tcp_script import TcpScript

TS_SACK = [("MSS", 1440), ("NOP", None), ("NOP", None), ("Timestamp", (100, 0)), ("SAckOK", b"")]


def test_a_retransmitted_hole_never_reaches_past_snd_max():
    """A hole is sized by today's seg_size: segments sent while out-of-order data waited carried 1400 bytes (room for
    SACK blocks), once the gap filled a segment carries 1428.  The last hole, sent again, must stop at snd_max: bytes
    beyond it, unsent as far as snd_max knows, would be acknowledged by an ACK that _process_ack then drops as
    acknowledging what was never sent, and both ends stalled for ever (the lossy 50 MB simulation, with scaled
    windows rounded to whole segments)."""
    t = TcpScript(tcp_timestamps=True, tcp_sack_out=True)
    pcb = t.open_passive(options=TS_SACK)
    t.send("A", seq=t.peer_seq + 100, ack=t.iss + 1, data=b"o" * 50, advance=False,
           options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))])
    t.sent()
    assert pcb.ooseq and pcb.seg_size == 1400
    pcb.send(b"x" * 8000)  # three segments of 1400 (the initial window), and more waiting
    first = [s for s in t.sent() if len(s.payload)]
    assert [len(s.payload) for s in first] == [1400] * 3
    una = pcb.snd_una
    # the gap fills, and the peer's window closes to what is in flight: nothing new may go (no limited transmit)
    t.send("A", ack=una, data=b"f" * 100, window=4200, options=[("NOP", None), ("NOP", None), ("Timestamp", (102, 0))])
    assert not pcb.ooseq and pcb.seg_size == 1428
    t.peer_seq = pcb.rcv_nxt  # past the 50 bytes that waited
    t.sent()
    sacked = (una + 1400, una + 2800)  # the second segment only: holes at the first and the third
    ends = []
    for i in range(6):
        t.send("A", ack=una, window=4200,
               options=[("NOP", None), ("NOP", None), ("Timestamp", (103 + i, 0)), ("SAck", sacked)])
        for s in t.sent():
            if len(s.payload):
                ends.append((s.seq - una) & 0xFFFFFFFF)
                assert (pcb.snd_max - (s.seq + len(s.payload))) & 0xFFFFFFFF < 1 << 31, \
                    f"retransmitted {s.seq - una}..{s.seq + len(s.payload) - una} past snd_max {pcb.snd_max - una}"
    assert 0 in ends and 2800 in ends  # both holes were sent again, the last one up to snd_max


# -- windows of whole segments (item 3) ----------------------------------------------------------------------------------
def _scaled(ts: bool, scale: int):
    window = 65535 if not scale else 262144 if scale <= 3 else 1024000
    t = TcpScript(wnd_scale=bool(scale), tcp_rcv_scale=scale, tcp_wnd_default=window, tcp_timestamps=ts)
    opts = [("MSS", 1440)] + ([("WScale", 0)] if scale else []) \
        + ([("NOP", None), ("NOP", None), ("Timestamp", (100, 0))] if ts else [])
    pcb = t.open_passive(options=opts)
    assert pcb.rcv_wscale == scale and pcb.ts_ok == ts
    return t, pcb


def _stamp(ts: bool, i: int) -> list:
    return [("NOP", None), ("NOP", None), ("Timestamp", (200 + i, 0))] if ts else []


@pytest.mark.parametrize("ts, scale, seg", [(True, 3, 1428), (False, 3, 1440), (True, 4, 1428), (False, 0, 1440),
                                            (True, 0, 1428)])
def test_windows_are_whole_segments_the_scale_expresses(ts, scale, seg):
    """The peer reads the window back as ``field << scale``: that must be a whole number of its full segments
    (1428 bytes with timestamps, 1440 without), or its last segment before the edge is a runt.  With scale 3 and
    1428-byte segments the unit is lcm(1428, 8) = 2856, with scale 4 lcm(1428, 16) = 5712; with 1440 (a multiple of
    8 and 16) one segment.  The application reads everything; every third segment the delayed ACK goes alone."""
    t, pcb = _scaled(ts, scale)
    got = bytearray()
    pcb.on_event = lambda p: got.extend(p.recv())
    windows = []
    for i in range(40):
        t.send("A", ack=t.iss + 1, data=bytes([i]) * seg, options=_stamp(ts, i))
        if i % 3 == 0:
            t.at(t.now + 0.2)
        windows += [s.window << scale for s in t.sent()]
    assert len(got) == 40 * seg and len(windows) >= 20
    assert all(w % seg == 0 for w in windows), [w % seg for w in windows]
    unit = seg * (1 << scale) // __import__("math").gcd(seg, 1 << scale)
    assert all(0 <= pcb.rcv_buf_limit - w < unit for w in windows), windows  # rounded down, by less than one unit


@pytest.mark.parametrize("ts, scale", [(True, 3), (True, 4), (False, 3)])
def test_a_kept_scaled_edge_is_what_the_peer_reads_and_never_moves_back(ts, scale):
    """Nothing read (the window closes): each ACK keeps the edge offered before, which the scale may not express
    from today's rcv_nxt.  It is rounded up (to whole segments the scale expresses, else to the scale's unit) while
    the buffer has the room, and cut down to the scale's unit only when it has not (RFC 7323 2.4's truncation); our
    books (rcv_adv) hold the edge as the peer reads it back."""
    t, pcb = _scaled(ts, scale)
    seg = 1428 if ts else 1440
    got = bytearray()
    pcb.on_event = lambda p: got.extend(p.recv(reopen=False))  # read, but hold: nothing is given back
    edges = []
    for i in range(60):
        t.send("A", ack=t.iss + 1, data=bytes([i]) * seg, options=_stamp(ts, i))
        if i % 3 == 0:
            t.at(t.now + 0.2)
        for s in t.sent():
            edge = (s.ack + (s.window << scale)) & 0xFFFFFFFF
            room = pcb.rcv_buf_limit - len(pcb.rcv_buf) - pcb.rcv_held
            assert edge == pcb.rcv_adv  # the peer's edge is the one we keep
            assert edge - s.ack <= room  # and the buffer holds it
            if edges and edge < edges[-1]:
                # moved back only by the scale's cut, when rounding up would have offered more than the buffer holds
                kept = edges[-1] - s.ack
                assert edges[-1] - edge < 1 << scale and -(-kept >> scale) << scale > room
            edges.append(edge)
    assert len(got) == 60 * seg and len(edges) >= 30
