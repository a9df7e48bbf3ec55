"""What the in-process benches share (``bench_tx_cycle.py``, ``bench_rr_path.py``): a device that counts what the stack
sends, and TCP segments from a scripted peer at 10.0.0.2 to the stack at 10.0.0.1, as Ethernet frames."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lwipy import Config, Stack  # noqa: E402
from lwipy.netif.device import Device  # noqa: E402
from lwipy.wire.checksum import checksum, pseudo_sum_v4  # noqa: E402

OWN_MAC, PEER_MAC = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
OWN, PEER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


class NullDevice(Device):
    """Takes every frame; counts them and keeps the last.  With ``offload`` it says it finishes checksums and cuts
    super-segments of up to 64 KB (as a TAP with the virtio-net header does), and takes those frames too."""

    mtu = 1500

    def __init__(self, offload: bool = False) -> None:
        self.frames = 0
        self.last = b""
        if offload:
            self.checksum_offload = True
            self.gso_max_size = 65536

    def transmit(self, frame) -> bool:
        self.frames += 1
        self.last = frame
        return True

    def transmit_offload(self, frame, csum_start: int, csum_offset: int, gso_size: int = 0) -> bool:
        return self.transmit(frame)

    def transmit_gso(self, head, payload, csum_start: int, csum_offset: int, gso_size: int = 0) -> bool:
        self.frames += 1
        self.last = head
        return True


def segment(dport: int, seq: int, ack: int, flags: int, data: bytes = b"", window: int = 65535,
            opts: bytes = b"") -> bytes:
    """A TCP segment from the peer's port 40000 to the stack's ``dport``, checksums right."""
    thl = 20 + len(opts)
    tcp = bytearray(struct.pack("!HHIIBBHHH", 40000, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (thl // 4) << 4, flags,
                                window, 0, 0) + opts + data)
    struct.pack_into("!H", tcp, 16, checksum(tcp, pseudo_sum_v4(PEER, OWN, 6, len(tcp))))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, PEER, OWN))
    struct.pack_into("!H", ip, 10, checksum(ip))
    return OWN_MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + bytes(tcp)


def connected(config: str, app, port: int):
    """A stack (ESP-IDF's defaults for ``config`` "esp", else 64 KB windows with MSS 1460, for "offload" on a device
    that offloads checksums and segmentation) on a :class:`NullDevice`,
    ``app(stack, port)`` serving, and one connection from the peer to ``port`` established at time 1.0 (SYN with
    MSS 1460, then the handshake's ACK): (stack, netif, device, pcb)."""
    cfg = Config() if config == "esp" else Config(tcp_mss=1460, tcp_wnd_default=65535, tcp_snd_buf_default=65535)
    stack = Stack(cfg, seed=1)
    dev = NullDevice(offload=config == "offload")
    netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC)
    stack.etharp.add_static("10.0.0.2", PEER_MAC)
    app(stack, port)
    stack.input(netif, segment(port, 1000, 0, 0x02, opts=struct.pack("!BBH", 2, 4, 1460)), 1.0)
    (pcb,) = stack.tcp.conns.values()
    stack.input(netif, segment(port, 1001, pcb.iss + 1, 0x10), 1.0)
    return stack, netif, dev, pcb
