"""off9: segments from a device with offload (a TAP's virtio-net header) on the TCP fast path.

A kernel hands a TAP with offload its TCP segments with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM, Linux's
CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the data is the kernel's own and trusted), which the TAP
passes on as :class:`~lwipy.core.device.RxOffload`.  ``Stack.input_many`` offers such a frame to header prediction as
it offers a bare one; the notes are read only by forwarding and NAPT, which header prediction never takes a frame
from.  Tested: the fast path is taken for the common segment, left for a frame to forward, one NAPT may want and a
partial checksum on a netif that checks checksums itself; and a differential test (random segment sequences as
RxOffload through a stack with the fast path and one without: the same output, state and counters).  Also
``_output_one`` on a netif that offloads (a reply written whole to ``transmit``): the same frames, once the device
completed the loop's partial checksums, as ``_output_fast``'s loop sends (test_tcp_rr_one's differential)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcp_script
from helpers import OWN_MAC, CaptureDevice
from lwipy import Config, Stack
from lwipy.core.device import RxOffload
from lwipy.wire.checksum import checksum, fold, pseudo_sum_v4
from test_tcp_fastpath import ACK, PSH, STEP, established, frame, run_both
from test_tcp_rr_one import STEP as RR_STEP
from test_tcp_rr_one import WND, run_steps

_SEGMENT_STEPS = STEP


class OffloadCapture(CaptureDevice):
    """A NIC with checksum offload and TSO that records each frame whole: a partial checksum completed as hardware
    would (so that output through ``transmit`` and ``transmit_offload`` compares byte for byte)."""

    checksum_offload = True
    gso_max_size = 65535

    def transmit_offload(self, frame, csum_start, csum_offset, gso_size=0):
        buf = bytearray(frame)
        at = csum_start + csum_offset
        buf[at:at + 2] = checksum(buf[csum_start:]).to_bytes(2, "big")
        return self.transmit(bytes(buf))


def _offload_make_stack(ip: str = "10.0.0.1/24", gateway: str | None = None, seed: int = 7, **options):
    stack = Stack(Config(**options), seed=seed, strict=True)
    dev = OffloadCapture()
    netif = stack.add_netif(dev, ip=ip, gateway=gateway, hwaddr=OWN_MAC)
    dev.take()
    return stack, netif, dev


def offload_established(monkeypatch, **kw):
    """test_tcp_fastpath's ``established`` on a netif whose device offloads checksums."""
    with monkeypatch.context() as m:
        m.setattr(tcp_script, "make_stack", _offload_make_stack)
        t, pcb, got = established(**kw)
    assert t.netif.checksum_offload and pcb._offload
    return t, pcb, got


def partial(raw: bytes) -> RxOffload:
    """``raw`` (an untagged IPv4 TCP frame) as a TAP with offload hands it over: its TCP checksum field holding the
    pseudo-header sum alone, with the notes."""
    buf = bytearray(raw)
    ihl = (buf[14] & 0x0F) * 4
    start = 14 + ihl
    buf[start + 16:start + 18] = fold(pseudo_sum_v4(bytes(buf[26:30]), bytes(buf[30:34]), 6,
                                                    len(buf) - start)).to_bytes(2, "big")
    return RxOffload(bytes(buf), start, 16)


def feed(t, rx) -> None:
    t.stack.input_many(t.netif, [rx], t.now)


# -- taken for the common case, left for the unusual ones --------------------------------------------------------------
def test_a_partial_checksum_segment_goes_from_input_many_straight_to_header_prediction(monkeypatch):
    """In-order data and a pure ACK of new data, each an RxOffload: taken by the fast path from ``input_many``
    itself (not through ``input`` and ``ethernet_input``), the data delivered and acknowledged."""
    t, pcb, got = offload_established(monkeypatch, ts=False)
    full = []
    monkeypatch.setattr(t.stack, "input", lambda *args: full.append(args))
    feed(t, partial(frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"a" * 100)))
    assert t.stack.tcp.fast_taken == 1 and bytes(got) == b"a" * 100 and pcb.rcv_nxt == t.peer_seq + 100
    t.peer_seq += 100
    pcb.send(b"r" * 50)
    sent = t.dev.take()
    assert len(sent[-1]) == 54 + 50  # the reply (after the data's ACK, when one went)
    for f in sent:
        assert checksum(f[34:], pseudo_sum_v4(f[26:30], f[30:34], 6, len(f) - 34)) == 0  # completed
    feed(t, partial(frame(t, t.peer_seq, pcb.snd_max)))
    assert t.stack.tcp.fast_taken == 2 and pcb.snd_una == pcb.snd_max
    assert full == []


def test_a_partial_checksum_on_a_netif_that_checks_checksums_is_left_and_dropped(monkeypatch):
    """A netif whose device does not say it offloads checks every TCP checksum: a partial one (from a wrapper that
    hides a TAP's offload, say) is wrong for it, on either path."""
    t, pcb, got = established(ts=False)
    assert not t.netif.checksum_offload
    feed(t, partial(frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"a" * 100)))
    assert t.stack.tcp.fast_taken == 0 and got == b"" and t.stack.stats.tcp.chkerr == 1


def test_a_partial_checksum_segment_for_napt_is_left_to_the_full_path(monkeypatch):
    """NAPT inside on another netif: ip_napt_recv sees the segment (with its notes) before TCP."""
    t, pcb, got = offload_established(monkeypatch, ts=False, ipv4_napt=True, ip_forward=True)
    inside = t.stack.add_netif(CaptureDevice(), ip="192.168.4.1/24", hwaddr=b"\x02\x00\x00\x00\x04\x01")
    t.stack.napt.enable(inside)
    seen = []
    real = t.stack.napt.recv
    monkeypatch.setattr(t.stack.napt, "recv", lambda packet, offload: (seen.append(offload), real(packet, offload))[1])
    feed(t, partial(frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"a" * 100)))
    assert t.stack.tcp.fast_taken == 0 and seen == [True]
    assert bytes(got) == b"a" * 100  # not a NAPT flow: the full path delivered it


@pytest.mark.parametrize("out_offload", [True, False])
def test_a_partial_checksum_segment_to_forward_keeps_its_notes_through_input_many(out_offload):
    """A segment for another host (forwarding): never taken by header prediction, and forwarded from
    ``input_many`` with its notes: left partial for a device that completes it, completed here for one that does
    not (the notes say where the field is and that it holds the pseudo-header sum)."""
    stack = Stack(Config(ip_forward=True), seed=5, strict=True)
    din, dout = OffloadCapture(), (OffloadCapture() if out_offload else CaptureDevice())
    inside = stack.add_netif(din, ip="192.168.4.1/24", hwaddr=OWN_MAC)
    stack.add_netif(dout, ip="10.0.0.2/24", hwaddr=bytes.fromhex("020000000002"))
    stack.etharp.add_static("10.0.0.9", bytes.fromhex("020000000099"))
    dout.take()
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    raw = bytes(Ether(src="02:00:00:00:00:99", dst="02:00:00:00:00:01") / IP(src="192.168.4.2", dst="10.0.0.9") /
                TCP(sport=40000, dport=80, flags="PA", seq=1000, ack=1) / (b"x" * 300))
    stack.input_many(inside, [partial(raw)], 0.0)
    [sent] = dout.take()
    assert stack.tcp.fast_taken == 0
    ip = Ether(sent)[IP]
    assert ip.ttl == 63
    again = IP(bytes(ip))
    del again.chksum
    del again[TCP].chksum
    assert bytes(IP(bytes(again))) == bytes(ip)  # the checksum right, completed from the pseudo-header sum


# -- the differential test ---------------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(ts=st.booleans(), reader=st.booleans(), steps=st.lists(_SEGMENT_STEPS, min_size=1, max_size=30))
def test_fast_and_full_paths_agree_on_partial_checksum_segments(monkeypatch, ts, reader, steps):
    run_both_offload(monkeypatch, ts, reader, steps)


def run_both_offload(monkeypatch, ts: bool, reader: bool, steps: list) -> int:
    """test_tcp_fastpath's run_both on netifs that offload, every segment an RxOffload with a partial checksum fed to
    ``input_many``: a stack with header prediction and one without, compared after each step; returns the segments
    the fast path took."""
    runs = [offload_established(monkeypatch, ts=ts, reader=reader) for _ in range(2)]
    # the second without header prediction only: both send alike (the send fast path numbers a super-segment's
    # IPv4 identifications as the device's segments, the way without any fast path as one packet: tx8)
    runs[1][0].stack.tcp.fast_input = lambda netif, frame: False
    return run_both(ts, False, reader, steps, runs, lambda t, raw: feed(t, partial(raw)))


@pytest.mark.parametrize("ts", [True, False])
def test_the_offload_differential_exercises_the_fast_path(monkeypatch, ts):
    def step(kind, n=1000, delta=4000, send_n=3000, dt=0.0, off=0, tsk="ok", flags=ACK):
        return (kind, off, n, tsk, flags, delta, 65535, send_n, 4000, dt)
    steps = [step("data"), step("data"), step("send"), step("ack", delta=1000), step("data"), step("ack"),
             step("time", dt=0.2), step("data", off=300), step("data"), step("data"), step("send", send_n=500),
             step("ack", delta=1), step("data", tsk="old"), step("data"), step("time", dt=1.5), step("data"),
             step("send", send_n=64), step("data", n=64, flags=ACK | PSH), step("send", send_n=64)]
    assert run_both_offload(monkeypatch, ts, True, steps) >= 8


# -- _output_one on a netif that offloads: the same as the loop's transmit_gso, once the device completed it -----------
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ts=st.booleans(), wnd=WND, steps=st.lists(RR_STEP, min_size=1, max_size=30))
def test_output_one_and_the_offload_loop_agree(monkeypatch, ts, wnd, steps):
    with monkeypatch.context() as m:
        m.setattr(tcp_script, "make_stack", _offload_make_stack)
        run_steps(ts, steps, "loop", wnd)


@pytest.mark.parametrize("ts", [True, False])
def test_the_offload_reply_differential_exercises_output_one(monkeypatch, ts):
    def step(kind="request", size=64, share=1.0, window=65535, dt=0.0):
        return (kind, size, share, window, dt)
    steps = [step(), step(), step(size=401), step(size=987), step("full"), step(), step("time", dt=0.01),
             step("full"), step(), step("time", dt=2.0), step("send", size=1), step(), step("ack"), step(window=64),
             step(), step(), step()]
    with monkeypatch.context() as m:
        m.setattr(tcp_script, "make_stack", _offload_make_stack)
        assert run_steps(ts, steps, "loop", 65535) >= 8
