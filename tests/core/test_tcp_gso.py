"""TCP segmentation offload (TSO/GSO) in the core, in virtual time against a scripted peer: what goes to a device that
cuts super-segments, how losses inside one are repaired (per MSS, never the whole super-segment again), and that
nothing changes on a device that does not offload."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, CaptureDevice, examples
from lwipy import Config, Stack
from lwipy.core.device import RxOffload
from lwipy.netif.device import Wrapper
from lwipy.wire.checksum import checksum, fold, pseudo_sum_v4
from lwipy.wire.ethernet import mac_to_str
from test_tcp_fastpath import snapshot
from test_tcp_send_fast import watch_fast

PEER_IP, OWN_IP = "10.0.0.9", "10.0.0.1"
ETH = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))
MSS = 1460


class GsoDevice(CaptureDevice):
    """A NIC with checksum offload and TSO that records what it is asked: each frame with its ``gso_size`` (0 for
    a plain one), completing the partial checksum as hardware would."""

    checksum_offload = True
    gso_max_size = 65535

    def __init__(self) -> None:
        super().__init__()
        self.gso: list[int] = []
        self.gathered = 0  # frames given as headers + payload (transmit_gso)

    def transmit(self, frame):
        if not super().transmit(frame):
            return False
        self.gso.append(0)  # (one entry per frame taken)
        return True

    def transmit_offload(self, frame, csum_start, csum_offset, gso_size=0):
        if self.full:  # a full queue refuses every frame, whole or partial (off9: replies go whole)
            return False
        buf = bytearray(frame)
        at = csum_start + csum_offset
        buf[at:at + 2] = checksum(buf[csum_start:]).to_bytes(2, "big")
        self.sent.append(bytes(buf))
        self.gso.append(gso_size)
        return True

    def transmit_gso(self, head, payload, csum_start, csum_offset, gso_size=0):
        self.gathered += 1
        assert len(head) == csum_start + (head[csum_start + 12] >> 4) * 4  # the headers alone, then the data
        return super().transmit_gso(head, payload, csum_start, csum_offset, gso_size)

    def segments(self):
        """(seq, payload length, gso_size) of what was sent since the last call."""
        frames, sizes = self.take(), self.gso
        self.gso = []
        assert len(frames) == len(sizes)
        out = []
        for f, g in zip(frames, sizes, strict=True):
            seg = Ether(f)[TCP]
            out.append((seg.seq, len(seg.payload), g))
        return out


def stack_on(dev, **options):
    options = {"tcp_mss": MSS, "tcp_snd_buf_default": 400000, "tcp_wnd_default": 65535, "wnd_scale": True, "tcp_sack_out": True,
               **options}
    stack = Stack(Config(**options), seed=5, strict=True)
    netif = stack.add_netif(dev, ip=f"{OWN_IP}/24", hwaddr=OWN_MAC)
    stack.etharp.add_static(PEER_IP, PEER_MAC)
    dev.take()
    if hasattr(dev, "gso"):
        dev.gso.clear()
    return stack, netif


class Peer:
    """The scripted far end of one connection (window 8192 << 7 = 1 MiB, SACK permitted)."""

    def __init__(self, stack, netif, dev, window: int = 8192, ts: bool = False) -> None:
        self.stack, self.netif, self.dev = stack, netif, dev
        self.now = 0.0
        self.ts = [("Timestamp", (1000, 0))] if ts else []  # (its segments' timestamps: never an echo)
        listener = stack.tcp.listen(80)
        self.input(TCP(sport=4000, dport=80, flags="S", seq=100, window=65535,
                       options=[("MSS", MSS), ("WScale", 7), ("SAckOK", b""), *self.ts]))
        synack = Ether(dev.take()[0])[TCP]
        if hasattr(dev, "gso"):
            dev.gso.clear()
        self.iss = synack.seq + 1
        self.window = window
        self.input(TCP(sport=4000, dport=80, flags="A", seq=101, ack=self.iss, window=window, options=self.ts))
        self.pcb = listener.accept()
        assert self.pcb is not None and self.pcb.state_name == "ESTABLISHED"

    def input(self, seg, payload=b""):
        self.stack.input(self.netif, bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / seg / payload), self.now)

    def ack(self, ack, sack=()):
        opts = [("SAck", tuple(x for block in sack for x in block))] if sack else []
        opts += self.ts
        self.input(TCP(sport=4000, dport=80, flags="A", seq=101, ack=ack & 0xFFFFFFFF, window=self.window,
                       options=opts))

    def at(self, t):
        self.now = t
        self.stack.poll(t)


def open_wide(dev):
    """An ESTABLISHED connection whose cwnd no longer limits a burst (as after slow start)."""
    stack, netif = stack_on(dev)
    peer = Peer(stack, netif, dev)
    peer.pcb.cc.cwnd = 1 << 20
    return peer


DATA = bytes((i * 13 + (i >> 9)) & 0xFF for i in range(200000))


def test_a_super_segment_is_as_many_whole_segments_as_the_device_cuts():
    dev = GsoDevice()
    peer = open_wide(dev)
    assert peer.pcb.send(DATA[:150000]) == 150000
    segs = dev.segments()
    burst = (65535 - 120) // MSS * MSS  # 44 segments: the TAP's 64 KiB less room for the headers
    assert segs[0] == (peer.iss, burst, MSS)
    assert all(g == MSS and n % MSS == 0 for _, n, g in segs[:-1])
    assert sum(n for _, n, _ in segs) == 150000 and dev.gathered == len(segs)


def test_with_a_64k_window_one_super_segment_fills_it():
    dev = GsoDevice()
    stack, netif = stack_on(dev)
    peer = Peer(stack, netif, dev, window=65535 >> 7)  # 65,408 bytes, the most it ever offers
    peer.pcb.cc.cwnd = 1 << 20
    peer.pcb.send(DATA[:100000])
    segs = dev.segments()
    assert [(n, g) for _, n, g in segs] == [(44 * MSS, MSS)]  # 64,240 bytes; the rest waits for the window


def test_the_loss_of_one_segment_inside_a_super_segment_is_repaired_by_sending_that_segment_alone():
    dev = GsoDevice()
    peer = open_wide(dev)
    peer.pcb.send(DATA[:44 * MSS])
    [(seq0, n, gso)] = dev.segments()
    assert (n, gso) == (44 * MSS, MSS)
    lost = seq0 + 3 * MSS  # the device cut it; the fourth segment was lost on the wire
    peer.at(0.001)
    peer.ack(lost)  # the first three arrived
    assert dev.segments() == []
    for k in range(5, 8):  # later segments arrive: duplicate ACKs with SACK blocks
        peer.ack(lost, sack=[(lost + MSS, lost + k * MSS)])
    resent = dev.segments()
    assert resent[0] == (lost & 0xFFFFFFFF, MSS, 0), resent  # one segment, not the rest of the super-segment
    assert all(n <= MSS and g == 0 for _, n, g in resent)
    peer.ack(seq0 + 44 * MSS)  # everything in: the full ACK ends recovery
    assert peer.pcb.snd_una == peer.pcb.snd_max == (seq0 + 44 * MSS) & 0xFFFFFFFF
    assert peer.pcb.cc.recover is None


def test_a_retransmission_timeout_sends_one_segment_not_a_super_segment():
    """After a timeout cwnd is one segment (RFC 5681 3.1): a super-segment of 44 would be a burst into a path that
    just lost everything."""
    dev = GsoDevice()
    peer = open_wide(dev)
    peer.pcb.send(DATA[:88 * MSS])
    first = dev.segments()
    assert first[0][1] > MSS
    rto_at = peer.pcb.rto_at
    peer.at(rto_at)
    assert dev.segments() == [(first[0][0], MSS, 0)]  # snd_una, one MSS, sent as a plain segment
    peer.ack(first[0][0] + MSS)  # slow start from one segment: the next flight is two
    assert [(n, g) for _, n, g in dev.segments()] == [(2 * MSS, MSS)]


def test_a_lossy_transfer_through_a_cutting_device_arrives_intact():
    """End to end: super-segments cut on the wire, one segment in 12 lost, repaired by SACK recovery and timeouts,
    the scripted receiver taking what arrives in order."""
    import random
    rng = random.Random(3)
    dev = GsoDevice()
    peer = open_wide(dev)
    pcb = peer.pcb
    base = peer.iss
    held: dict[int, int] = {}  # seq offset -> length, out of order at the receiver
    rcv = 0  # bytes received in order
    sent = 0
    t = 0.0
    top = 0  # the highest offset sent so far
    resent = recovery_resent = lost = 0
    recovering = False
    for _ in range(4000):
        if sent < len(DATA):
            sent += pcb.send(DATA[sent:])
        for seq, n, gso in dev.segments():
            off = (seq - base) & 0xFFFFFFFF
            if n and off < top:
                resent += 1
                if recovering:  # SACK recovery fills holes a segment at a time
                    assert n <= MSS and gso == 0, (off, n, gso)
                    recovery_resent += 1
            top = max(top, off + n)
            for cut in range(0, max(n, 1), gso or max(n, 1)):  # the device's cut
                piece = min(gso or n, n - cut)
                assert piece <= MSS
                if rng.random() < 1 / 12:
                    lost += 1
                    continue
                held[off + cut] = max(held.get(off + cut, 0), piece)
        while rcv in held:
            rcv += held.pop(rcv)
        blocks = sorted((o, o + n) for o, n in held.items() if o > rcv)[:3]
        t += 0.0005
        peer.now = t
        peer.ack(base + rcv, sack=[(base + a, base + b) for a, b in blocks])
        recovering = pcb.cc.recover is not None
        if rcv >= len(DATA):
            break
        if pcb.rto_at is not None and dev.sent == []:
            peer.at(max(t, pcb.rto_at))  # nothing moves: let the timer fire
            t = peer.now
    assert rcv == len(DATA) and pcb.snd_una == (base + len(DATA)) & 0xFFFFFFFF
    assert lost > 5 and resent >= lost and recovery_resent > 0


def test_writes_from_an_acks_notification_go_out_as_one_super_segment():
    dev = GsoDevice()
    peer = open_wide(dev)
    pcb = peer.pcb
    pcb.send(DATA[:44 * MSS])
    [(seq0, _, _)] = dev.segments()
    writes = []

    def on_event(p):  # an application writing in small pieces, as chargen does
        while len(writes) < 8 and p.send_space:
            writes.append(p.send(DATA[:4000]))
    pcb.on_event = on_event
    peer.ack(seq0 + 44 * MSS)
    segs = dev.segments()
    assert len(writes) == 8
    assert [(n, g) for _, n, g in segs] == [(32000, MSS)]  # one, not eight


def test_without_offload_nothing_changes_segments_are_mss_sized():
    for dev in (CaptureDevice(), Wrapper(GsoDevice())):  # no offload, or a wrapper that hides it
        stack, netif = stack_on(dev)
        peer = Peer(stack, netif, dev)
        peer.pcb.cc.cwnd = 1 << 20
        assert not peer.pcb._offload and peer.pcb._gso_max == 0
        peer.pcb.send(DATA[:30 * MSS])
        frames = dev.take() if isinstance(dev, CaptureDevice) else dev.inner.take()
        lengths = [len(Ether(f)[TCP].payload) for f in frames]
        assert lengths == [MSS] * 30
        for f in frames:  # whole checksums: nothing was left for a device
            seg = Ether(f)[TCP]
            want = seg.chksum
            del seg.chksum
            assert Ether(bytes(Ether(f)))[TCP].chksum == want
        if not isinstance(dev, CaptureDevice):
            assert dev.inner.gathered == 0 and set(dev.inner.gso) <= {0}


def test_the_super_segments_ident_skips_the_ones_the_device_gives_its_segments():
    dev = GsoDevice()
    peer = open_wide(dev)
    peer.pcb.send(DATA[:44 * MSS + 10 * MSS])
    frames = dev.take()
    ids = [Ether(f)[IP].id for f in frames]
    assert len(ids) == 2 and ids[1] == (ids[0] + 44) & 0xFFFF  # Linux's ip_select_ident_segs


def test_the_checksum_field_holds_the_pseudo_header_sum_the_device_completes():
    captured = []

    class Raw(GsoDevice):
        def transmit_gso(self, head, payload, csum_start, csum_offset, gso_size=0):
            captured.append((bytes(head), bytes(payload), csum_start, csum_offset, gso_size))
            return super().transmit_gso(head, payload, csum_start, csum_offset, gso_size)

    dev = Raw()
    peer = open_wide(dev)
    peer.pcb.send(DATA[:5 * MSS])
    [(head, payload, start, offset, gso)] = captured
    assert (start, offset, gso, len(head), len(payload)) == (34, 16, MSS, 54, 5 * MSS)
    tcp_len = len(head) - start + len(payload)
    pseudo = fold(pseudo_sum_v4(head[26:30], head[30:34], 6, tcp_len))
    assert int.from_bytes(head[start + offset:start + offset + 2], "big") == pseudo
    assert int.from_bytes(head[16:18], "big") == 20 + tcp_len  # the IPv4 total length of the super-segment
    assert checksum(head[14:34]) == 0  # its IPv4 header checksum is whole


@pytest.mark.parametrize("offload", [True, False])
def test_a_large_received_frame_takes_the_fast_path_and_is_acknowledged(offload):
    """A 64 KB frame from a kernel's GRO (with its offload notes, or plain) is one in-order segment to the fast
    path; reading it opens the window and the ACK goes at once."""
    dev = GsoDevice() if offload else CaptureDevice(mtu=65535)
    stack, netif = stack_on(dev, tcp_wnd_default=262144, tcp_rcv_scale=3)
    peer = Peer(stack, netif, dev)
    pcb = peer.pcb
    got = bytearray()

    def on_event(p):
        while p.readable:
            got.extend(p.recv())
    pcb.on_event = on_event
    payload = DATA[:44 * 1448]
    frame = bytes(ETH / IP(src=PEER_IP, dst=OWN_IP, flags="DF") /
                  TCP(sport=4000, dport=80, flags="PA", seq=101, ack=peer.iss, window=8192) / payload)
    taken = stack.tcp.fast_taken
    stack.input(netif, RxOffload(frame, 34, 16, 1448) if offload else frame, 0.01)
    assert stack.tcp.fast_taken == taken + 1
    assert bytes(got) == payload
    acks = [Ether(f)[TCP] for f in dev.take()]
    assert len(acks) == 1 and acks[0].ack == 101 + len(payload)


# -- tx8: _output_fast sends super-segments too ------------------------------------------------------------------------
def test_the_send_fast_path_takes_a_super_segment_and_leaves_the_unusual_call():
    """With offload, _output_fast hands the device the headers and the data apart (transmit_gso), a super-segment of
    whole segments; a call with out-of-order data held and SACK agreed (blocks to send), or after the route table
    changed, is left to the full output, which sends the same."""
    dev = GsoDevice()
    peer = open_wide(dev)
    calls = watch_fast(peer.pcb)
    peer.pcb.send(DATA[:50 * MSS])
    assert [(n, g) for _, n, g in dev.segments()] == [(44 * MSS, MSS), (6 * MSS, MSS)]
    assert calls == [True] and peer.stack.tcp.fast_sent == 2 and dev.gathered == 2
    peer.ack(peer.iss + 50 * MSS)
    peer.stack.routes.changed()
    peer.pcb.send(DATA[:10 * MSS])
    assert calls[-1] is False and [(n, g) for _, n, g in dev.segments()] == [(10 * MSS, MSS)]
    peer.pcb.send(DATA[:3 * MSS])  # the route looked up again: the fast way once more
    assert calls[-1] is True and [(n, g) for _, n, g in dev.segments()] == [(3 * MSS, MSS)]
    peer.input(TCP(sport=4000, dport=80, flags="A", seq=2000, ack=peer.iss + 63 * MSS, window=peer.window),
               b"x" * 10)  # out of order: held, with SACK blocks to send from now on
    dev.segments()
    peer.pcb.send(DATA[:5 * MSS])
    seg = peer.pcb.seg_size  # room for the blocks: the full way cuts the super-segment by the smaller size
    assert calls[-1] is False and seg < MSS and [(n, g) for _, n, g in dev.segments()] == [(5 * MSS, seg)]


def _state(peer) -> dict:
    got = snapshot(peer, peer.pcb)
    got.pop("_output_fast", None)  # the wrappers
    got.pop("_output_one", None)
    return got


def _gso_runs(ts: bool = False) -> list:
    """The same connection on two stacks: one whose output takes _output_fast, and one whose _output_fast always
    declines, so that its output goes the way it went before tx8 (_output_whole, _send_segment and _fast_send, which
    numbers a super-segment's IPv4 identifications as the device's segments; the way without any fast path,
    ip4.output_routed, numbers it as one packet)."""
    runs = []
    for fast in (True, False):
        dev = GsoDevice()
        stack, netif = stack_on(dev, tcp_timestamps=ts)
        peer = Peer(stack, netif, dev, ts=ts)
        assert peer.pcb.ts_ok == ts
        if not fast:  # (rr11: send asks _output_one itself first, so it declines too)
            peer.pcb._output_fast = lambda *args: False
            peer.pcb._output_one = lambda *args: False
        runs.append(peer)
    return runs


# (kind, ACK advance in segments or bytes, the peer's window field, a write's size, dt)
GSO_STEP = st.tuples(
    st.sampled_from(["ack"] * 6 + ["write", "write", "nodelay", "time", "full"]),
    st.sampled_from([1, 2, 5, 44, 10 ** 6, -7]),
    st.sampled_from([8192] * 6 + [100, 10, 0]),  # scaled by 7: 1 MiB, 12,800 bytes, 1,280 (below a segment), none
    st.sampled_from([1, 700, MSS, 3 * MSS + 5, 44 * MSS, 100000]),
    st.sampled_from([0.0, 0.01, 0.5, 3.0]),
)


@settings(max_examples=examples(150), deadline=None)
@given(ts=st.booleans(), steps=st.lists(GSO_STEP, min_size=1, max_size=25))
def test_fast_and_full_output_agree_with_offload(ts, steps):
    """Random writes, ACKs, window changes, timeouts and device refusals through a stack whose output takes the fast
    path to a device that cuts super-segments and one whose output goes the full way (_output_whole): the same
    frames (checksums completed as the device does), the same super-segment sizes, identifications, state and
    counters after every step."""
    runs = _gso_runs(ts)
    for peer in runs:
        peer.pcb.send(DATA[:20000])
    for step in steps:
        kind, advance, window, size, dt = step
        for peer in runs:
            pcb = peer.pcb
            peer.window = window
            flight = (pcb.snd_max - pcb.snd_una) & 0xFFFFFFFF
            if kind == "ack":
                n = 7 if advance == -7 else advance * MSS
                peer.now += 0.001
                peer.ack(pcb.snd_una + min(n, flight))
            elif kind == "write":
                pcb.send(DATA[:size])
            elif kind == "nodelay":
                pcb.nodelay = not pcb.nodelay
            elif kind == "full":
                peer.dev.full = not peer.dev.full
            else:
                peer.at(peer.now + dt)
        a, b = runs
        assert a.dev.take() == b.dev.take(), f"different frames after {step}"
        assert a.dev.gso == b.dev.gso, f"different super-segments after {step}"
        a.dev.gso, b.dev.gso = [], []
        assert _state(a) == _state(b), f"different state after {step}"
        assert a.stack.ip4.next_ident == b.stack.ip4.next_ident


@pytest.mark.parametrize("ts", [True, False])
def test_the_offload_differential_exercises_the_fast_path(ts):
    runs = _gso_runs(ts)
    calls = watch_fast(runs[0].pcb)
    for peer in runs:
        peer.pcb.send(DATA[:100000])
        for _ in range(6):
            peer.now += 0.001
            peer.ack(peer.pcb.snd_max)  # slow start: the flights grow, each a super-segment
    a, b = runs
    assert a.dev.take() == b.dev.take() and a.dev.gso == b.dev.gso and a.pcb.seg_size in a.dev.gso
    assert _state(a) == _state(b)
    assert sum(calls) >= 6 and a.stack.tcp.fast_sent >= 6
