"""Raw IP pcbs (lwIP's ``raw.c``): see every packet of one protocol, and send payloads with a header we build.

Every raw pcb of the packet's protocol sees it before the protocol's own handler.  ``on_recv`` gets the whole IPv4
packet, header included, as lwIP's raw API does; returning True "eats" it, so the core does not process it further.
Without a callback the packet is queued (``udp_recvmbox_size`` at most).
"""

from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable

from ..errors import LwipError
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .netif import Netif
    from .stack import Stack

__all__ = ["Raw", "RawPcb", "RawPacket", "RAW_INPUT_NONE", "RAW_INPUT_EATEN", "RAW_INPUT_DELIVERED"]

# what raw_input did with a packet (lwIP's raw_input_state_t)
RAW_INPUT_NONE = 0  # no raw pcb wanted it
RAW_INPUT_EATEN = 1  # a pcb's callback consumed it: nothing else sees it
RAW_INPUT_DELIVERED = 2  # a pcb took a copy: the protocol still gets it, and no "protocol unreachable" goes back

ANY = IPv4Address(0)


@dataclass(slots=True)
class RawPacket:
    """A received packet, IPv4 header included."""

    packet: bytes
    src: IPv4Address
    dst: IPv4Address
    netif_index: int


class RawPcb:
    """A raw endpoint for one IP protocol number.  Make one with :meth:`Raw.new`."""

    def __init__(self, raw: "Raw", proto: int) -> None:
        self._raw = raw
        self.proto = proto
        self.local_ip: IPv4Address = ANY
        self.remote_ip: IPv4Address | None = None
        self.netif: Netif | None = None
        self.ttl: int | None = None
        self.tos = 0
        self.on_recv: Callable[[RawPcb, "InPacket"], bool] | None = None
        self.on_event: Callable[[RawPcb], None] | None = None
        self.queue: deque[RawPacket] = deque()
        self.closed = False

    def bind(self, ip: str | IPv4Address) -> None:
        self._raw.stack.assert_core()
        self.local_ip = IPv4Address(ip)

    def connect(self, ip: str | IPv4Address) -> None:
        self._raw.stack.assert_core()
        self.remote_ip = IPv4Address(ip)

    def sendto(self, payload: bytes | bytearray | memoryview, ip: str | IPv4Address) -> None:
        """Send ``payload`` as the body of an IPv4 packet of this pcb's protocol (checksums are the caller's)."""
        self._raw.stack.assert_core()
        if self.closed:
            raise LwipError(errno.EBADF, "the pcb is closed")
        dst = IPv4Address(ip)
        pbuf = Pbuf.with_payload(payload)
        stack = self._raw.stack
        src = self.local_ip if self.local_ip != ANY else None
        stack.ip4.output(pbuf, src, dst, self.proto, ttl=self.ttl, tos=self.tos, netif=self.netif)
        stack.stats.raw.xmit += 1

    def recv(self) -> RawPacket | None:
        self._raw.stack.assert_core()
        return self.queue.popleft() if self.queue else None

    def close(self) -> None:
        self._raw.stack.assert_core()
        if not self.closed:
            self.closed = True
            self._raw.pcbs.remove(self)


class Raw:
    """The raw pcbs of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.pcbs: list[RawPcb] = []

    def new(self, proto: int) -> RawPcb:
        """``raw_new``: raises ENOMEM when ``max_raw_pcbs`` exist."""
        self.stack.assert_core()
        if len(self.pcbs) >= self.stack.config.max_raw_pcbs:
            self.stack.stats.raw.memerr += 1
            raise LwipError(errno.ENOMEM, f"all {self.stack.config.max_raw_pcbs} raw pcbs are in use (max_raw_pcbs)")
        pcb = RawPcb(self, proto)
        self.pcbs.append(pcb)
        return pcb

    def input(self, pkt: "InPacket") -> int:
        """``raw_input``: offer a packet to the raw pcbs of its protocol; RAW_INPUT_EATEN when a callback consumed
        it, RAW_INPUT_DELIVERED when a pcb queued a copy, else RAW_INPUT_NONE."""
        if not self.pcbs:
            return RAW_INPUT_NONE
        result = RAW_INPUT_NONE
        proto = pkt.hdr.proto
        for pcb in self.pcbs:
            if pcb.proto != proto:
                continue
            if pcb.local_ip != ANY and pcb.local_ip != pkt.dst:
                continue
            if pcb.remote_ip is not None and pcb.remote_ip != pkt.src:
                continue
            if pcb.netif is not None and pcb.netif is not pkt.netif:
                continue
            self.stack.stats.raw.recv += 1
            if pcb.on_recv is not None:
                if pcb.on_recv(pcb, pkt):
                    return RAW_INPUT_EATEN
                result = RAW_INPUT_DELIVERED
                continue
            if len(pcb.queue) >= self.stack.config.udp_recvmbox_size:
                self.stack.stats.raw.drop += 1
                continue
            pcb.queue.append(RawPacket(bytes(pkt.packet), pkt.src, pkt.dst, pkt.netif.index))
            result = RAW_INPUT_DELIVERED
            if pcb.on_event is not None:
                pcb.on_event(pcb)
        return result
