"""lwIP's ``netbuf``: one received UDP datagram or raw packet, with where it came from and where it went."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

__all__ = ["NetBuf"]


class NetBuf:
    """A received datagram as :meth:`Netconn.recv <lwipy.api.netconn.Netconn.recv>` returns it for UDP and RAW.

    ``data`` is a read-only memoryview of the payload (for RAW: the whole IPv4 packet, header included, as lwIP's
    raw pcbs see it); no copy is made on the way to the application.
    """

    __slots__ = ("data", "fromaddr", "fromport", "destaddr", "if_idx")

    def __init__(self, data: memoryview, fromaddr: IPv4Address | IPv6Address, fromport: int,
                 destaddr: IPv4Address | IPv6Address, if_idx: int) -> None:
        #: the payload (``netbuf_data``)
        self.data = data
        #: the sender's address (``netbuf_fromaddr``)
        self.fromaddr = fromaddr
        #: the sender's port (``netbuf_fromport``); for RAW, the IP protocol number, as lwIP fills it
        self.fromport = fromport
        #: the address the packet was sent to: ours, a broadcast or a group (``netbuf_destaddr``,
        #: ``LWIP_NETBUF_RECVINFO``; what ``IP_PKTINFO`` reports)
        self.destaddr = destaddr
        #: the index of the netif it arrived on (``ipi_ifindex``)
        self.if_idx = if_idx

    def __len__(self) -> int:
        """``netbuf_len``."""
        return len(self.data)

    def __bytes__(self) -> bytes:
        """A copy of the payload (``netbuf_copy``)."""
        return bytes(self.data)

    def __repr__(self) -> str:
        return f"<NetBuf {len(self.data)} bytes from {self.fromaddr}:{self.fromport} to {self.destaddr}>"
