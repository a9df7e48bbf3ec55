"""A Linux TUN device: a point-to-point link whose other end is the kernel's ``tunN`` interface.

A TUN carries bare IPv4 and IPv6 packets (``IFF_TUN | IFF_NO_PI``: no Ethernet header, no packet-information
prefix), so the netif on it is point-to-point (:data:`~lwipy.core.device.POINT_TO_POINT`): no MAC, no ARP, no
neighbour resolution.  Everything else is as :class:`~lwipy.netif.tap.TapDevice`: opened if it exists (``ip tuntap
add dev tun0 mode tun``) or created for the life of the descriptor (CAP_NET_ADMIN); ``netns`` opens one that lives in
a network namespace; ``offload`` speaks the virtio-net header (``IFF_VNET_HDR``, which the kernel offers on TUN too)
for checksum and TCP segmentation offload.  ``interface_id`` gives the 8-byte IPv6 interface identifier of the
link-local address; None lets the stack pick a random one.
"""

from __future__ import annotations

from ..core.device import POINT_TO_POINT
from .tap import IFF_TUN, TapDevice, ip_checksum_ok

__all__ = ["TunDevice"]


class TunDevice(TapDevice):
    """An open TUN interface.  ``mtu`` sets the interface MTU when given, else it is read from the interface."""

    _MODE = IFF_TUN
    _LINK_HEADER = 0
    _KIND = "TUN"
    link_kind = POINT_TO_POINT

    def __init__(self, name: str, mtu: int | None = None, netns: str | None = None, offload: bool = False,
                 interface_id: bytes | None = None, *, tx_queue: int | None = None, tx_rate: float = 100e6,
                 create: bool = True, kernel_address: str = "10.0.0.1/24") -> None:
        if interface_id is not None and len(interface_id) != 8:
            raise ValueError(f"an IPv6 interface identifier has 8 bytes, not {len(interface_id)}")
        super().__init__(name, mtu, netns, offload, tx_queue=tx_queue, tx_rate=tx_rate, create=create,
                         kernel_address=kernel_address)
        self.interface_id = interface_id

    @staticmethod
    def _is_ipv6(frame: bytes | bytearray | memoryview) -> bool:
        return frame[0] >> 4 == 6

    @staticmethod
    def _checksum_ok(frame: memoryview) -> bool:
        return ip_checksum_ok(frame, frame[0] >> 4) if len(frame) else True
