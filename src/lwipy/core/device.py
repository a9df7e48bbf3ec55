"""The device contract: what the core asks of the driver under a netif, and nothing more.

A driver (``lwipy.netif``: TAP, TUN, virtual links, wrappers) subclasses :class:`NetDevice` and overrides
:meth:`~NetDevice.transmit` at least; the class attributes are the defaults the core reads without probing.  Two kinds
of link exist, as lwIP's netif flags tell them apart (``NETIF_FLAG_ETHARP`` set or not):

``ETHERNET``
    frames with an Ethernet header; IPv4 next hops resolved by ARP, IPv6 ones by neighbour discovery; a MAC address.
``POINT_TO_POINT``
    bare IP packets in and out (as a Linux TUN or PPP carries them): no link-layer address, no address resolution
    (RFC 4861 7.2: "address resolution is not performed on point-to-point links"); IPv6 still does duplicate address
    detection and router solicitation, its link-local address built from :attr:`~NetDevice.interface_id`.

How frames come in (``receive``, ``fileno``, wakers) is the business of the loop driving the stack, not of the core:
see :class:`lwipy.netif.device.Device`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["NetDevice", "RxOffload", "ETHERNET", "POINT_TO_POINT", "LINK_KINDS"]

ETHERNET = "ethernet"
POINT_TO_POINT = "point-to-point"
LINK_KINDS = (ETHERNET, POINT_TO_POINT)


class NetDevice(ABC):
    """The driver of one netif, as the core sees it (lwIP's ``netif->linkoutput`` and the driver's netif flags).
    :meth:`transmit` is abstract; every other member has a default here, which the core reads as it is."""

    link_kind: str = ETHERNET
    """:data:`ETHERNET` (frames with an Ethernet header) or :data:`POINT_TO_POINT` (bare IPv4/IPv6 packets)."""
    mtu: int = 1500
    """The largest IP packet the link carries (the Ethernet header not counted)."""
    link_up: bool = True
    """The carrier, as the driver last saw it (the netif starts with it; later changes go through
    ``Netif.set_link_up``)."""
    checksum_offload: bool = False
    """The device finishes the TCP and UDP checksums of frames given to :meth:`transmit_offload` and has checked
    those of the frames it delivers, as a NIC with checksum offload does (lwIP's ``NETIF_CHECKSUM_CTRL`` with the
    GEN/CHECK flags for TCP and UDP cleared): the stack then neither computes nor verifies them."""
    gso_max_size: int = 0
    """The largest IP packet the device cuts into TCP segments itself (TSO); 0 when it cannot."""
    interface_id: bytes | None = None
    """Point-to-point links: the 8-byte IPv6 interface identifier the link gave (IPV6CP negotiates one on PPP), or
    None for a random one.  Ethernet links derive theirs from the MAC."""

    tx_fd: int | None = None
    """way13: a file descriptor a frame may be written to with ``os.write`` in place of :meth:`transmit`, or None (the
    default).  A device sets it only while ``transmit(frame)`` is exactly ``os.write(tx_fd, frame)`` followed by
    ``return True``, with a write's OSError going to :meth:`transmit_failed`, and sets it to None before it closes
    the descriptor (the stack writes to the number it holds: a reused one would get TCP frames).  A plain TAP does
    (``lwipy.netif.tap`` keeps it in step with its descriptor and its ``transmit``), so that the TCP send fast paths
    (``TcpOutput._output_one``, ``_output_fast``) save the call."""

    @abstractmethod
    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        """Send one frame (an Ethernet frame, or an IP packet on a point-to-point link); False when it was dropped
        (a full queue, the link down).  The buffer is only valid during the call."""

    def transmit_failed(self, error: OSError) -> bool:
        """What :meth:`transmit` makes of ``error``, its write to :attr:`tx_fd` failing: False for a refusal (the
        device counts its own drops; the stack's counters are the caller's), else the error raised; never True.
        Asked only of a device that sets :attr:`tx_fd`."""
        raise error

    def transmit_offload(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int,
                         gso_size: int = 0) -> bool:
        """Send ``frame`` whose transport checksum is left to the device (only when :attr:`checksum_offload`): the
        field at ``csum_start + csum_offset`` holds the pseudo-header sum, and the device completes it over the bytes
        from ``csum_start`` on (Linux's CHECKSUM_PARTIAL).  With ``gso_size`` the frame is a TCP super-segment the
        device cuts into segments of ``gso_size`` payload bytes."""
        raise NotImplementedError

    def transmit_gso(self, head: bytes | bytearray | memoryview, payload: bytes | bytearray | memoryview,
                     csum_start: int, csum_offset: int, gso_size: int = 0) -> bool:
        """:meth:`transmit_offload` for the frame ``head + payload`` given in two pieces, as a NIC gathers a packet
        from a header buffer and a data buffer (scatter-gather DMA), so that the stack need not copy its send buffer
        into the frame: ``head`` holds the link, IP and TCP headers, ``payload`` the TCP data (only valid during the
        call).  The default joins them and calls :meth:`transmit_offload`."""
        return self.transmit_offload(bytes(head) + bytes(payload), csum_start, csum_offset, gso_size)

    def add_multicast(self, mac: bytes) -> None:  # noqa: B027 - optional: a device without a filter does nothing
        """Let frames for the multicast ``mac`` through a filtering NIC (``igmp_mac_filter``/``mld_mac_filter``);
        Ethernet only.  The default accepts every frame already."""

    def remove_multicast(self, mac: bytes) -> None:  # noqa: B027 - optional, as add_multicast
        """Stop letting ``mac`` through (the last member of its group left)."""


class RxOffload:
    """A received frame with the offload notes of a device with :attr:`NetDevice.checksum_offload` (a TAP's
    virtio-net header): its transport checksum is partial, the field at ``csum_start + csum_offset`` (offsets in the
    frame) holding the pseudo-header sum (Linux's CHECKSUM_PARTIAL), and with ``gso_size`` it is a TCP super-segment
    of segments of that many payload bytes.  A driver hands such a frame to the stack in place of the bare one; the
    stack reads the notes only to forward the frame whole (:meth:`lwipy.core.ip4.Ip4.forward`)."""

    __slots__ = ("frame", "csum_start", "csum_offset", "gso_size")

    def __init__(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int,
                 gso_size: int = 0) -> None:
        self.frame = frame
        self.csum_start = csum_start
        self.csum_offset = csum_offset
        self.gso_size = gso_size

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        gso = f" gso {self.gso_size}" if self.gso_size else ""
        return f"<RxOffload {len(self.frame)} bytes csum {self.csum_start}+{self.csum_offset}{gso}>"
