"""VJ TCP/IP header compression (RFC 1144, lwipy.ppp.vj): compressor and decompressor round trips under hypothesis,
the encodings RFC 1144 names (SPECIAL_D, the slot id left out), loss recovery, and two lwipy ends with VJ on."""

from __future__ import annotations

import os
import struct

from helpers import connected, examples, transfer
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ppp_session import Pair, server_settings

from lwipy.ppp import PppSettings
from lwipy.ppp.vj import NEW_C, SPECIAL_D, VjCompressor, VjDecompressor
from lwipy.wire.ppp import PPP_IP, PPP_VJC_COMP, PPP_VJC_UNCOMP


def ip_tcp(src=1, dst=2, sport=1000, dport=80, seq=0, ack=0, flags=0x10, win=8000, ident=1, payload=b"",
           urp=0, tcp_opts=b"", csum=0x1234) -> bytes:
    thl = 20 + len(tcp_opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (thl // 4) << 4, flags, win, csum, urp) + tcp_opts
    total = 20 + len(tcp) + len(payload)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000, 64, 6, 0, bytes([10, 0, 0, src]),
                                bytes([10, 0, 0, dst])))
    s = int.from_bytes(hdr, "big") % 0xFFFF
    hdr[10:12] = struct.pack("!H", (~s) & 0xFFFF if s else 0)
    return bytes(hdr) + tcp + payload


def test_first_packet_uncompressed_then_special_d_with_the_slot_left_out():
    c, d = VjCompressor(15, True), VjDecompressor(15)
    p1 = ip_tcp(seq=1000, ack=5, payload=b"a" * 100)
    proto, data = c.compress(p1)
    assert proto == PPP_VJC_UNCOMP and data[9] < 16 and data[:9] + b"\x06" + data[10:] == p1  # slot in proto
    assert d.uncompressed(data) == p1
    p2 = ip_tcp(seq=1100, ack=5, ident=2, payload=b"b" * 100)
    proto, data = c.compress(p2)
    assert proto == PPP_VJC_COMP
    assert data[0] == SPECIAL_D and len(data) == 3 + 100  # mask, TCP checksum, payload: the slot id left out
    assert d.compressed(data) == p2
    # SYN, FIN and non-TCP go as plain IP
    assert c.compress(ip_tcp(flags=0x02))[0] == PPP_IP
    assert c.compress(ip_tcp(flags=0x11))[0] == PPP_IP


def test_loss_tosses_until_the_slot_is_named():
    c, d = VjCompressor(15, True), VjDecompressor(15)
    d.uncompressed(c.compress(ip_tcp(seq=0, payload=b"x" * 10))[1])
    lost = c.compress(ip_tcp(seq=10, ident=2, payload=b"y" * 10))[1]
    assert lost[0] & NEW_C == 0
    d.error()  # that frame had a bad FCS
    nxt = c.compress(ip_tcp(seq=20, ident=3, payload=b"z" * 10))[1]
    assert d.compressed(nxt) is None and d.tossed == 1
    # another flow names its slot (uncompressed first), then the first flow's next packet names slot 0 again
    d.uncompressed(c.compress(ip_tcp(sport=2000, seq=0, payload=b"q"))[1])
    p4 = ip_tcp(seq=30, ident=4, payload=b"w" * 10)
    again = c.compress(p4)
    assert again[0] == PPP_VJC_COMP and again[1][0] & NEW_C
    # the decompressor's slot missed the lost deltas: the rebuilt header is wrong (RFC 1144 4.3 leaves it to TCP's
    # checksum to reject it) ...
    stale = d.compressed(again[1])
    assert stale is not None and stale != p4 and stale[24:28] != p4[24:28]
    # ... and the sender's retransmission (nothing changed) goes uncompressed and puts the slot right again
    resent = c.compress(p4)
    assert resent[0] == PPP_VJC_UNCOMP and d.uncompressed(resent[1]) == p4
    p5 = ip_tcp(seq=40, ident=5, payload=b"v" * 10)
    assert d.compressed(c.compress(p5)[1]) == p5


@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 70000), st.integers(0, 70000), st.integers(-3, 3),
                          st.booleans(), st.booleans(), st.integers(0, 3), st.binary(max_size=40)),
                min_size=1, max_size=40),
       st.booleans(), st.integers(2, 15))
def test_round_trip_of_any_flow_sequence(steps, compress_slot, maxslot):
    c, d = VjCompressor(maxslot, compress_slot), VjDecompressor(15)
    state = {}
    for flow, dseq, dack, dwin, psh, urg, did, payload in steps:
        seq, ack, win, ident = state.get(flow, (1000, 2000, 8000, 1))
        seq, ack = (seq + dseq) & 0xFFFFFFFF, (ack + dack) & 0xFFFFFFFF
        win = max(0, min(65535, win + dwin * 1000))
        ident = (ident + did) & 0xFFFF
        state[flow] = (seq, ack, win, ident)
        flags = 0x10 | (0x08 if psh else 0) | (0x20 if urg else 0)
        pkt = ip_tcp(sport=1000 + flow, seq=seq, ack=ack, win=win, ident=ident, flags=flags, payload=payload,
                     urp=7 if urg else 0, csum=len(payload))
        proto, data = c.compress(pkt)
        if proto == PPP_IP:
            assert data == pkt
            continue
        out = d.uncompressed(data) if proto == PPP_VJC_UNCOMP else d.compressed(data)
        assert out == pkt, (proto, data.hex())


@settings(max_examples=examples(300))
@given(st.binary(max_size=200), st.booleans())
def test_decompressor_takes_any_bytes(data, uncomp):
    d = VjDecompressor(15)
    d.uncompressed(ip_tcp(payload=b"seed"))
    out = d.uncompressed(data) if uncomp else d.compressed(data)
    assert out is None or isinstance(out, bytes)


def vj_pair(corrupt: float = 0.0, seed: int = 1) -> Pair:
    p = Pair(PppSettings(vj=True), server_settings(vj=True), seed=seed)
    assert p.up()
    for end in (p.da.serial, p.db.serial):
        end.corrupt = corrupt
    return p


def test_two_lwipy_ends_with_vj_transfer_both_ways():
    p = vj_pair()
    assert p.ca.vj is not None and p.ca.vj.tx_enabled and p.cb.vj.tx_enabled
    client_pcb, server_pcb, _ = connected(p.sim, p.a, p.b, ip="10.64.0.1")
    data = os.urandom(300_000)
    assert transfer(p.sim, client_pcb, server_pcb, data) == data
    assert transfer(p.sim, server_pcb, client_pcb, data[:50_000]) == data[:50_000]
    assert p.ca.vj.comp.compressed > 100 and p.cb.stats_vj_rx_compressed == p.ca.vj.comp.compressed
    assert p.cb.vj.comp.compressed > 10  # the acks and the return data


def test_vj_with_five_percent_of_frames_corrupted_recovers():
    p = vj_pair(0.05, seed=7)
    client_pcb, server_pcb, _ = connected(p.sim, p.a, p.b, ip="10.64.0.1")
    data = os.urandom(200_000)
    assert transfer(p.sim, client_pcb, server_pcb, data, timeout=3600) == data
    assert p.cb.deframer.bad_fcs > 5
    assert p.cb.vj.decomp.tossed > 0  # compressed packets after a loss were tossed, then the flow resynced
