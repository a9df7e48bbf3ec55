"""Checksum and segmentation offload: what the stack hands a device that finishes checksums and cuts super-segments,
what it accepts from one, and where offload is refused."""

import io

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, CaptureDevice
from lwipy import Config, Stack
from lwipy.core.device import RxOffload
from lwipy.netif import FaultyDevice, PcapDevice, PcapWriter
from lwipy.netif.tap import _transport_checksum_ok
from lwipy.netif.tun import TunDevice
from lwipy.wire.checksum import checksum, fold, pseudo_sum_v4
from lwipy.wire.ethernet import mac_to_str

PEER_IP, OWN_IP = "10.0.0.9", "10.0.0.1"
ETH = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))


class OffloadDevice(CaptureDevice):
    """A NIC with checksum offload and TSO: finishes each partial checksum as hardware would and keeps the
    segment size it was asked to cut at."""

    checksum_offload = True
    gso_max_size = 65535

    def __init__(self) -> None:
        super().__init__()
        self.gso: list[int] = []
        self.partial: list[int] = []  # the checksum field as the stack left it

    def transmit(self, frame):
        self.gso.append(0)  # gso stays aligned with sent: one entry per frame
        return super().transmit(frame)

    def transmit_offload(self, frame, csum_start, csum_offset, gso_size=0):
        buf = bytearray(frame)
        at = csum_start + csum_offset
        self.partial.append(int.from_bytes(buf[at:at + 2], "big"))
        buf[at:at + 2] = checksum(buf[csum_start:]).to_bytes(2, "big")
        self.sent.append(bytes(buf))
        self.gso.append(gso_size)
        return True


def offload_stack(**options):
    stack = Stack(Config(**options), seed=5, strict=True)
    dev = OffloadDevice()
    netif = stack.add_netif(dev, ip=f"{OWN_IP}/24", hwaddr=OWN_MAC)
    stack.etharp.add_static(PEER_IP, PEER_MAC)
    dev.take()
    dev.gso.clear()
    return stack, netif, dev


def scapy_checksum_ok(frame: bytes) -> bool:
    pkt = Ether(frame)
    seg = pkt[TCP]
    want = seg.chksum
    del seg.chksum
    return Ether(bytes(pkt))[TCP].chksum == want


def handshake(stack, netif, dev, options=(("MSS", 1460), ("WScale", 7))):
    listener = stack.tcp.listen(80)
    stack.input(netif, bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / TCP(sport=4000, dport=80, flags="S", seq=100,
                                                                     window=65535, options=list(options))), 0.0)
    synack = Ether(dev.take()[0])[TCP]
    stack.input(netif, bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / TCP(sport=4000, dport=80, flags="A", seq=101,
                                                                     ack=synack.seq + 1, window=8192)), 0.0)
    pcb = listener.accept()
    assert pcb is not None and pcb.state_name == "ESTABLISHED"
    return pcb, synack.seq + 1


def test_super_segments_carry_many_mss_cut_at_segment_boundaries_with_checksums_the_device_finishes():
    # a 200 KB send buffer and the peer's scaled window: lwipy's faster TCP (window scaling on)
    stack, netif, dev = offload_stack(tcp_snd_buf_default=200000, wnd_scale=True)
    pcb, snd_una = handshake(stack, netif, dev)
    data = bytes((i * 11) & 0xFF for i in range(150000))
    assert pcb.send(data) == len(data)
    stream = bytearray()
    ack = snd_una
    for _ in range(50):  # ack whatever came, the peer's window 8192 << 7 = 1 MiB, until everything was sent
        frames = dev.take()
        sizes = dev.gso[-len(frames):] if frames else []
        for frame, gso in zip(frames, sizes, strict=True):
            seg = Ether(frame)[TCP]
            assert scapy_checksum_ok(frame), "the partial checksum did not complete to a valid one"
            payload = bytes(seg.payload)
            assert seg.seq == (ack + len(stream)) & 0xFFFFFFFF  # in order, nothing sent twice
            stream += payload
            if gso:
                assert gso == pcb.seg_size and len(payload) > gso  # cut at the MSS by the device
                if len(stream) < len(data):
                    assert len(payload) % gso == 0  # only the last super-segment may end short
            else:
                assert len(payload) <= pcb.seg_size
        if len(stream) >= len(data):
            break
        stack.input(netif, bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) /
                                 TCP(sport=4000, dport=80, flags="A", seq=101, ack=ack + len(stream), window=8192)),
                    0.01)
    assert bytes(stream) == data
    assert max(dev.gso) == pcb.seg_size and sum(1 for g in dev.gso if g) >= 2
    # the field held the pseudo-header sum: never a finished checksum (the device adds the data to it)
    assert all(p != 0 for p in dev.partial)


def test_without_timestamps_or_with_sack_the_slow_path_also_leaves_the_checksum_to_the_device():
    stack, netif, dev = offload_stack()
    pcb, _ = handshake(stack, netif, dev, options=(("MSS", 1000), ("SAckOK", b"")))
    pcb.send(b"x" * 3000)
    frames = dev.take()
    assert frames and all(scapy_checksum_ok(f) for f in frames)
    assert len(dev.partial) >= len(frames)


def test_a_segment_from_an_offload_device_is_not_checksummed_again():
    """The device vouched for it (or the kernel left it partial because it never leaves the host)."""
    stack, netif, dev = offload_stack()
    stack.tcp.listen(80)
    syn = ETH / IP(src=PEER_IP, dst=OWN_IP) / TCP(sport=4000, dport=80, flags="S", seq=100, chksum=0x1234)
    stack.input(netif, bytes(syn), 0.0)
    assert str(Ether(dev.take()[0])[TCP].flags) == "SA"
    assert stack.stats.tcp.chkerr == 0


def test_a_connection_to_our_own_address_loops_back_with_whole_checksums():
    stack, netif, dev = offload_stack()
    listener = stack.tcp.listen(81)
    client = stack.tcp.connect(OWN_IP, 81)
    for i in range(20):
        stack.poll(i * 0.001)
    server = listener.accept()
    assert server is not None and client.state_name == "ESTABLISHED"
    data = bytes(range(256)) * 400
    sent = 0
    got = bytearray()
    for i in range(2000):
        sent += client.send(memoryview(data)[sent:]) if sent < len(data) else 0
        stack.poll(0.1 + i * 0.001)
        got += server.recv()
        if len(got) == len(data):
            break
    assert bytes(got) == data
    assert dev.take() == [] and stack.stats.tcp.chkerr == 0  # nothing went to the device


def test_offload_is_refused_where_it_would_be_wrong():
    with pytest.raises(ValueError, match="without offload"):
        FaultyDevice(OffloadDevice(), loss=0.1)
    with pytest.raises(ValueError, match="forwarding"):
        Stack(Config(ip6_forward=True)).add_netif(OffloadDevice(), ip="10.0.0.1/24")
    # IPv4 forwarding takes it: partial checksums and super-segments are passed on whole (issue 13)
    Stack(Config(ip_forward=True)).add_netif(OffloadDevice(), ip="10.0.0.1/24")


def test_pcap_passes_offload_on_and_records_the_super_segment():
    out = io.BytesIO()
    dev = PcapDevice(OffloadDevice(), PcapWriter(out))
    assert dev.checksum_offload and dev.gso_max_size == 65535
    frame = bytes(ETH / IP(src=OWN_IP, dst=PEER_IP) / TCP(sport=1, dport=2, chksum=0) / (b"z" * 4000))
    assert dev.transmit_offload(frame, 34, 16, 1460)
    assert dev.inner.gso == [1460] and len(out.getvalue()) > len(frame)


V4_TCP = ETH / IP(src=PEER_IP, dst=OWN_IP) / TCP(sport=1, dport=2) / b"data"
V4_UDP = ETH / IP(src=PEER_IP, dst=OWN_IP) / UDP(sport=1, dport=2) / b"data"
V6_TCP = ETH / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=1, dport=2) / b"data"


@pytest.mark.parametrize("pkt", [V4_TCP, V4_UDP, V6_TCP], ids=["ipv4-tcp", "ipv4-udp", "ipv6-tcp"])
def test_the_nic_check_accepts_good_and_rejects_bad_transport_checksums(pkt):
    good = bytearray(bytes(pkt))
    assert _transport_checksum_ok(memoryview(good))
    bad = bytearray(good)
    bad[-1] ^= 0x40
    assert not _transport_checksum_ok(memoryview(bad))
    # a TUN's packets have no Ethernet header: the same check on the bare IP packet
    assert TunDevice._checksum_ok(memoryview(good)[14:]) and not TunDevice._checksum_ok(memoryview(bad)[14:])
    assert TunDevice._is_ipv6(good[14:]) == (pkt is V6_TCP)


def test_the_nic_check_leaves_fragments_zero_udp_checksums_and_other_protocols_to_the_stack():
    frag = bytearray(bytes(ETH / IP(src=PEER_IP, dst=OWN_IP, flags="MF") / UDP(sport=1, dport=2) / b"data"))
    frag[-1] ^= 1
    assert _transport_checksum_ok(memoryview(frag))
    nocsum = bytearray(bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / UDP(sport=1, dport=2, chksum=0) / b"data"))
    assert _transport_checksum_ok(memoryview(nocsum))
    truncated = bytes(V4_TCP)[:40]
    assert _transport_checksum_ok(memoryview(truncated))  # malformed: the stack drops and counts it


# -- forwarding with offload (issue 13): a partial checksum and a super-segment passed on whole, NAPT or not ----------
def _gateway(napt, out_offload=True):
    stack = Stack(Config(ip_forward=True, ipv4_napt=napt), seed=5, strict=True)
    din, dout = OffloadDevice(), (OffloadDevice() if out_offload else CaptureDevice())
    inside = stack.add_netif(din, ip="192.168.4.1/24", hwaddr=OWN_MAC)
    outside = stack.add_netif(dout, ip="10.0.0.2/24", hwaddr=bytes.fromhex("020000000002"))
    stack.etharp.add_static("10.0.0.9", PEER_MAC, outside)
    stack.etharp.add_static("192.168.4.2", PEER_MAC, inside)
    if napt:
        stack.napt.enable(inside)
    din.take()
    dout.take()
    return stack, inside, outside, din, dout


def _partial_super_segment(payload_len, flags="A"):
    """A kernel's TSO super-segment as a TAP delivers it: the TCP checksum field holds the pseudo-header sum."""
    raw = bytearray(bytes(Ether(src="02:00:00:00:00:99", dst="02:00:00:00:00:01") /
                          IP(src="192.168.4.2", dst="10.0.0.9", flags="DF") /
                          TCP(sport=40000, dport=80, flags=flags, seq=1000, ack=1) / (b"x" * payload_len)))
    ip_len = len(raw) - 14
    tcp_len = ip_len - 20
    pseudo = fold(pseudo_sum_v4(bytes(raw[26:30]), bytes(raw[30:34]), 6, tcp_len))
    raw[14 + 20 + 16:14 + 20 + 18] = pseudo.to_bytes(2, "big")
    return raw


@pytest.mark.parametrize("napt", [False, True])
def test_a_tcp_super_segment_is_forwarded_whole_with_its_checksum_left_partial(napt):
    from lwipy.core.device import RxOffload
    stack, inside, outside, din, dout = _gateway(napt)
    if napt:  # the flow exists (its SYN went through)
        syn = _partial_super_segment(0, "S")
        stack.input(inside, RxOffload(bytes(syn) + bytes(6), 34, 16), 0.0)  # padded to Ethernet's 60 bytes
        [out_syn] = dout.take()
        again = IP(bytes(Ether(out_syn)[IP]))
        del again[TCP].chksum
        assert bytes(IP(bytes(again))) == bytes(Ether(out_syn)[IP])  # completed by the device, and right
    frame = _partial_super_segment(20000)
    stack.input(inside, RxOffload(bytes(frame), 34, 16, 1448), 0.0)
    [sent] = dout.take()
    assert dout.gso[-1] == 1448  # handed to the device whole, to be cut there
    assert len(sent) == len(frame)
    ip = Ether(sent)[IP]
    assert ip.ttl == 63 and ip.len == len(frame) - 14
    assert ip.src == ("10.0.0.2" if napt else "192.168.4.2")
    # the device completed the checksum from the (translated) pseudo-header sum: scapy's own computation agrees
    again = IP(bytes(ip))
    del again.chksum
    del again[TCP].chksum
    assert bytes(IP(bytes(again))) == bytes(ip)


def test_a_partial_checksum_is_completed_for_a_device_without_offload():
    from lwipy.core.device import RxOffload
    stack, inside, outside, din, dout = _gateway(False, out_offload=False)
    frame = _partial_super_segment(1000)
    stack.input(inside, RxOffload(bytes(frame), 34, 16), 0.0)
    [sent] = dout.take()
    ip = Ether(sent)[IP]
    again = IP(bytes(ip))
    del again[TCP].chksum
    assert bytes(IP(bytes(again))) == bytes(ip)
    big = _partial_super_segment(20000)
    stack.input(inside, RxOffload(bytes(big), 34, 16, 1448), 0.0)
    assert dout.take() == []  # a super-segment is never cut and rebuilt here: dropped for this device


# -- the virtio-net header a TAP with offload reads and writes ----------------------------------------------------------
def _tap_on(sock):
    """A TapDevice with offload whose descriptor is one end of a socket pair (no /dev/net/tun needed)."""
    from lwipy.netif.tap import TapDevice
    tap = TapDevice.__new__(TapDevice)
    tap.name, tap.netns, tap.offload, tap.fd, tap.mtu = "fake0", None, True, sock.fileno(), 1500
    tap.checksum_offload, tap.gso_max_size, tap.tx_ring = True, 65535, None
    tap.rx_dropped = tap.tx_dropped = tap.rx_csum_errors = tap.rx_gso = tap.tx_gso = 0
    return tap


V4_SUPER = ETH / IP(src=OWN_IP, dst=PEER_IP) / TCP(sport=1, dport=2, options=[("NOP", None), ("NOP", None),
                                                                             ("Timestamp", (1, 2))]) / (b"q" * 4344)
V6_SUPER = ETH / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=1, dport=2) / (b"q" * 4000)


def test_vnet_header_fields_for_a_tcp_super_segment_a_partial_checksum_and_ipv6():
    import struct
    import sys
    from lwipy.netif.tap import vnet_header
    frame = bytes(V4_SUPER)
    # struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (native order)
    assert vnet_header(frame, 34, 16, 1448, False) == struct.pack("=BBHHHH", 1, 1, 34 + 32, 1448, 34, 16)
    assert vnet_header(frame[:66], 34, 16, 1448, False) == vnet_header(frame, 34, 16, 1448, False)  # headers alone
    assert vnet_header(frame, 34, 16, 0, False) == struct.pack("=BBHHHH", 1, 0, 0, 0, 34, 16)
    assert vnet_header(bytes(V6_SUPER), 54, 16, 1440, True) == struct.pack("=BBHHHH", 1, 4, 54 + 20, 1440, 54, 16)
    if sys.byteorder == "little":  # the bytes a little-endian host's kernel reads (VIRTIO_NET_HDR_F_NEEDS_CSUM, TCPV4)
        assert vnet_header(frame, 34, 16, 1448, False) == bytes.fromhex("01 01 4200 a805 2200 1000")


def test_a_tap_writes_header_headers_and_payload_as_one_frame_and_reads_the_notes_back():
    import socket
    import struct
    from lwipy.netif.tap import VNET_HDR
    from lwipy.netif.txqueue import TxRing
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)  # as the TAP is: receive() reads until EAGAIN
    b.settimeout(5)
    try:
        tap = _tap_on(a)
        frame = bytes(V4_SUPER)
        head, payload = frame[:66], memoryview(frame)[66:]
        assert tap.transmit_gso(head, payload, 34, 16, 1448)
        got = b.recv(70000)
        assert got == struct.pack("=BBHHHH", 1, 1, 66, 1448, 34, 16) + frame and tap.tx_gso == 1
        assert tap.transmit_gso(frame[:54], b"", 34, 16, 0)  # a bare ACK: partial checksum, no GSO
        assert b.recv(70000) == struct.pack("=BBHHHH", 1, 0, 0, 0, 34, 16) + frame[:54] and tap.tx_gso == 1
        queued: list[bytes] = []
        tap.tx_ring = TxRing(queued.append, limit=2)
        assert tap.transmit_gso(head, payload, 34, 16, 1448)
        tap.tx_ring.poll(1e9)
        assert queued == [struct.pack("=BBHHHH", 1, 1, 66, 1448, 34, 16) + frame]
        tap.tx_ring = None
        # reading: a kernel's super-segment keeps its notes, a verified frame is bare, a bad unverified one is dropped
        b.send(VNET_HDR.pack(1, 1, 66, 1448, 34, 16) + frame)
        b.send(VNET_HDR.pack(2, 0, 0, 0, 0, 0) + bytes(V4_TCP))
        bad = bytearray(bytes(V4_TCP))
        bad[-1] ^= 1
        b.send(bytes(VNET_HDR.size) + bytes(bad))
        frames = tap.receive()
        assert len(frames) == 2 and tap.rx_csum_errors == 1 and tap.rx_gso == 1
        assert isinstance(frames[0], RxOffload) and (frames[0].csum_start, frames[0].csum_offset,
                                                     frames[0].gso_size) == (34, 16, 1448)
        assert bytes(frames[0].frame) == frame and bytes(frames[1]) == bytes(V4_TCP)
    finally:
        a.close()
        b.close()


# -- off9: a TAP with offload reads lazily, as a plain one does ---------------------------------------------------------
def _partial(pkt) -> bytes:
    """``pkt`` as a kernel's CHECKSUM_PARTIAL frame: its TCP checksum field holds the pseudo-header sum alone."""
    raw = bytearray(bytes(pkt))
    tcp_len = len(raw) - 34
    raw[50:52] = fold(pseudo_sum_v4(bytes(raw[26:30]), bytes(raw[30:34]), 6, tcp_len)).to_bytes(2, "big")
    return bytes(raw)


def test_an_offload_tap_reads_each_frame_when_the_one_before_was_taken_and_sorts_them_by_their_header():
    """``frames()`` with offload reads one frame when it is asked for (the rest wait in the descriptor), as without
    offload: a partial checksum comes as an RxOffload holding a frame of its own (bytes) and its notes, a super-segment
    as an RxOffload over the read, a verified frame bare, and an unverified one bare only when its checksum is right
    (the NIC's check); a wrong one is dropped and counted."""
    import select
    import socket
    from lwipy.netif.tap import VNET_HDR
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    try:
        tap = _tap_on(a)
        assert tap.lazy_frames and tap.frames_in_descriptor and tap.frame_read_size is None
        partial = _partial(V4_TCP)
        b.send(VNET_HDR.pack(1, 0, 0, 0, 34, 16) + partial)
        b.send(VNET_HDR.pack(2, 0, 0, 0, 0, 0) + bytes(V4_TCP))
        frames = tap.frames()
        first = next(frames)
        assert type(first) is RxOffload and type(first.frame) is bytes and first.frame == partial
        assert (first.csum_start, first.csum_offset, first.gso_size) == (34, 16, 0)
        assert select.select([a], [], [], 0)[0] == [a]  # the second still waits in the descriptor
        second = next(frames)
        assert type(second) is bytes and second == bytes(V4_TCP)
        bad = bytearray(bytes(V4_UDP))
        bad[-1] ^= 1
        b.send(bytes(VNET_HDR.size) + bytes(bad))  # neither partial nor verified, and wrong: the NIC drops it
        b.send(bytes(VNET_HDR.size) + bytes(V4_UDP))  # the same, right: handed over bare
        b.send(VNET_HDR.pack(1, 1, 66, 1448, 34, 16) + bytes(V4_SUPER))
        third = next(frames)
        assert type(third) is bytes and third == bytes(V4_UDP) and tap.rx_csum_errors == tap.rx_dropped == 1
        fourth = next(frames)
        assert type(fourth) is RxOffload and fourth.gso_size == 1448 and type(fourth.frame) is memoryview
        assert bytes(fourth.frame) == bytes(V4_SUPER) and tap.rx_gso == 1
        assert next(frames, None) is None  # the empty read ends the batch
        b.send(bytes(VNET_HDR.size) + bytes(V4_UDP))
        assert tap.receive() == [bytes(V4_UDP)]  # receive() is frames() read to the end
    finally:
        a.close()
        b.close()


def test_an_offload_tap_writes_a_whole_frame_after_an_empty_header():
    """``transmit`` of a frame whose checksums are done (a reply from _output_one, an ARP) on a TAP with offload:
    one write of an all-zero virtio-net header (no notes) and the frame."""
    import socket
    from lwipy.netif.tap import VNET_HDR
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.settimeout(5)
    try:
        tap = _tap_on(a)
        for direct in (True, False):  # the straight way (off9) and the general one agree
            tap._vnet_plain = direct
            assert tap.transmit(bytes(V4_TCP))
            assert b.recv(70000) == bytes(VNET_HDR.size) + bytes(V4_TCP)
    finally:
        a.close()
        b.close()
