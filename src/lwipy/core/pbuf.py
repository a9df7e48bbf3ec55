"""Outgoing packet buffers with header room reserved up front (lwIP's ``pbuf`` with ``PBUF_LINK`` headroom).

A layer writes its payload once into a :class:`Pbuf`; each lower layer then claims room in front with :meth:`Pbuf.push`
and writes its header in place, so a datagram is copied once on its way down however many layers it crosses.
"""

from __future__ import annotations

__all__ = ["Pbuf", "HEADROOM"]

# Ethernet with an 802.1Q tag (18) + IPv6 with extension headers (40 + 32) + TCP with options (60): rounded up.
HEADROOM = 160


class Pbuf:
    """A byte buffer holding a packet in ``buf[start:]`` with ``start`` bytes of free room in front.

    A transport layer sending through a netif with checksum offload leaves its checksum partial and marks where:
    ``csum_tail`` counts the bytes from its header to the end of the buffer (0: the checksum is complete), so the mark
    survives the buffer growing in front; ``csum_offset`` is the field's place in that header; ``gso_size`` is the
    segment size when the packet is a TCP super-segment for the device to cut (0: it is not).
    """

    __slots__ = ("buf", "start", "csum_tail", "csum_offset", "gso_size")

    def __init__(self, buf: bytearray, start: int) -> None:
        self.buf = buf
        self.start = start
        self.csum_tail = 0
        self.csum_offset = 0
        self.gso_size = 0

    @classmethod
    def alloc(cls, length: int, headroom: int = HEADROOM) -> "Pbuf":
        """A zeroed packet of ``length`` bytes."""
        return cls(bytearray(headroom + length), headroom)

    @classmethod
    def with_payload(cls, payload: bytes | bytearray | memoryview, headroom: int = HEADROOM) -> "Pbuf":
        """A packet holding a copy of ``payload`` (the one copy on the way down)."""
        buf = bytearray(headroom + len(payload))
        buf[headroom:] = payload
        return cls(buf, headroom)

    def push(self, n: int) -> int:
        """Claim ``n`` bytes in front of the packet and return their offset in ``buf``."""
        if n > self.start:  # not enough room reserved: grow once, at the cost of a copy
            grow = max(n, HEADROOM)
            self.buf[0:0] = bytes(grow)
            self.start += grow
        self.start -= n
        return self.start

    def pull(self, n: int) -> None:
        """Drop ``n`` bytes from the front (a header a lower layer no longer wants)."""
        self.start += n

    def leave_checksum(self, header_at: int, field_offset: int, gso_size: int = 0) -> None:
        """Mark the transport header at ``header_at`` (an offset in ``buf``) as having its checksum field, at
        ``field_offset`` in it, left partial for the device to finish (and ``gso_size`` for it to segment)."""
        self.csum_tail = len(self.buf) - header_at
        self.csum_offset = field_offset
        self.gso_size = gso_size

    def view(self) -> memoryview:
        return memoryview(self.buf)[self.start:]

    def __len__(self) -> int:
        return len(self.buf) - self.start

    def __repr__(self) -> str:
        return f"<Pbuf {len(self)} bytes, {self.start} free in front>"
