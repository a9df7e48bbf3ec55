"""Raw IP pcbs (lwIP's ``raw.c``): see every packet of one protocol, and send payloads with a header we build.

Every raw pcb of the packet's protocol sees it before the protocol's own handler.  ``on_recv`` gets the whole IPv4
packet, header included, as lwIP's raw API does; returning True "eats" it, so the core does not process it further.
Without a callback the packet is queued (``udp_recvmbox_size`` at most).

An IPv6 raw pcb (``Raw.new(proto, ip6=True)``) sees the upper-layer message only, as RFC 3542 3 has raw IPv6
sockets do, as a :class:`RawPacket` with IPv6 addresses.  With ``checksum_offset`` (``IPV6_CHECKSUM``; always 2 for
ICMPv6, RFC 3542 3.1) the stack computes the checksum over the IPv6 pseudo-header on send and drops what fails it
on receive.
"""

from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LwipError
from ..wire.checksum import checksum, pseudo_sum_v6, verify
from .addr import ANY4 as ANY
from .addr import ANY6 as _ANY6
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Raw", "RawPcb", "RawPacket", "RAW_INPUT_NONE", "RAW_INPUT_EATEN", "RAW_INPUT_DELIVERED"]

# what raw_input did with a packet (lwIP's raw_input_state_t)
RAW_INPUT_NONE = 0  # no raw pcb wanted it
RAW_INPUT_EATEN = 1  # a pcb's callback consumed it: nothing else sees it
RAW_INPUT_DELIVERED = 2  # a pcb took a copy: the protocol still gets it, and no "protocol unreachable" goes back


@dataclass(slots=True)
class RawPacket:
    """A received packet: over IPv4 the whole packet, header included; over IPv6 the upper-layer message."""

    packet: bytes
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    netif_index: int

ICMPV6 = 58


class RawPcb:
    """A raw endpoint for one IP protocol number.  Make one with :meth:`Raw.new`."""

    def __init__(self, raw: "Raw", proto: int, ip6: bool = False) -> None:
        self._raw = raw
        self.proto = proto
        #: an IPv6 raw pcb (the upper-layer message only, IPv6 addresses)
        self.ip6 = ip6
        #: ``IPV6_CHECKSUM``: where the stack puts and checks the checksum in the message (-1: nowhere)
        self.checksum_offset = 2 if ip6 and proto == ICMPV6 else -1
        self.local_ip: Any = _ANY6 if ip6 else ANY
        self.remote_ip: Any = None
        self.netif: Netif | None = None
        self.ttl: int | None = None
        self.tos = 0
        #: ``RAW_FLAGS_MULTICAST_LOOP``: what this pcb sends to a multicast group the netif joined comes back to this
        #: stack too (IP output loops it); off by default, as lwIP's ``raw_new`` leaves it
        self.multicast_loop = False
        self.on_recv: Callable[[RawPcb, "InPacket"], bool] | None = None
        self.on_event: Callable[[RawPcb], None] | None = None
        self.queue: deque[RawPacket] = deque()
        self.closed = False

    def bind(self, ip: str | IPv4Address | IPv6Address) -> None:
        self._raw.stack.assert_core()
        self.local_ip = self._addr(ip)

    def connect(self, ip: str | IPv4Address | IPv6Address) -> None:
        self._raw.stack.assert_core()
        self.remote_ip = self._addr(ip)

    def _addr(self, ip: Any) -> Any:
        return IPv6Address(ip) if self.ip6 else IPv4Address(ip)

    def sendto(self, payload: bytes | bytearray | memoryview, ip: str | IPv4Address) -> None:
        """Send ``payload`` as the body of an IPv4 packet of this pcb's protocol (checksums are the caller's)."""
        self._raw.stack.assert_core()
        if self.closed:
            raise LwipError(errno.EBADF, "the pcb is closed")
        stack = self._raw.stack
        if self.ip6:
            self._sendto6(payload, IPv6Address(ip))
            return
        dst = IPv4Address(ip)
        pbuf = Pbuf.with_payload(payload)
        src = self.local_ip if self.local_ip != ANY else None
        stack.ip4.output(pbuf, src, dst, self.proto, ttl=self.ttl, tos=self.tos, netif=self.netif,
                         multicast_loop=self.multicast_loop)
        stack._stats.raw.xmit += 1

    def _sendto6(self, payload: bytes | bytearray | memoryview, dst: IPv6Address) -> None:
        stack = self._raw.stack
        via = stack.ip6.route(dst.packed, self.netif)
        out = via[0]
        src = self.local_ip.packed if self.local_ip != _ANY6 else stack.ip6.select_source(out, dst.packed)
        if src is None:
            raise LwipError(errno.EADDRNOTAVAIL, f"{out.name} has no usable IPv6 address")
        pbuf = Pbuf.with_payload(payload)
        at = self.checksum_offset
        if at >= 0:
            if at + 2 > len(payload):
                raise LwipError(errno.EINVAL, "the message is too short for its checksum field")
            body = pbuf.view()
            body[at:at + 2] = b"\0\0"
            body[at:at + 2] = checksum(body, pseudo_sum_v6(src, dst.packed, self.proto, len(body))).to_bytes(2, "big")
        stack.ip6.output(pbuf, src, dst.packed, self.proto, hop_limit=self.ttl, traffic_class=self.tos, via=via,
                         multicast_loop=self.multicast_loop)
        stack._stats.raw.xmit += 1

    def recv(self) -> RawPacket | None:
        self._raw.stack.assert_core()
        return self.queue.popleft() if self.queue else None

    def close(self) -> None:
        self._raw.stack.assert_core()
        if not self.closed:
            self.closed = True
            self._raw.pcbs.remove(self)
            self._raw.stack._ip4_detours_changed()


class Raw:
    """The raw pcbs of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.pcbs: list[RawPcb] = []

    def new(self, proto: int, ip6: bool = False) -> RawPcb:
        """``raw_new`` (``raw_new_ip_type(IPADDR_TYPE_V6)`` with ``ip6``): raises ENOMEM when ``max_raw_pcbs``
        exist."""
        self.stack.assert_core()
        if len(self.pcbs) >= self.stack.config.max_raw_pcbs:
            self.stack._stats.raw.memerr += 1
            raise LwipError(errno.ENOMEM, f"all {self.stack.config.max_raw_pcbs} raw pcbs are in use (max_raw_pcbs)")
        pcb = RawPcb(self, proto, ip6)
        self.pcbs.append(pcb)
        self.stack._ip4_detours_changed()
        return pcb

    def input(self, pkt: "InPacket") -> int:
        """``raw_input``: offer a packet to the raw pcbs of its protocol; RAW_INPUT_EATEN when a callback consumed
        it, RAW_INPUT_DELIVERED when a pcb queued a copy, else RAW_INPUT_NONE."""
        if not self.pcbs:
            return RAW_INPUT_NONE
        result = RAW_INPUT_NONE
        proto = pkt.hdr.proto
        for pcb in self.pcbs:
            if pcb.proto != proto or pcb.ip6:
                continue
            if pcb.local_ip != ANY and pcb.local_ip != pkt.dst:
                continue
            if pcb.remote_ip is not None and pcb.remote_ip != pkt.src:
                continue
            if pcb.netif is not None and pcb.netif is not pkt.netif:
                continue
            got = self._offer(pcb, pkt, lambda: RawPacket(bytes(pkt.packet), pkt.src, pkt.dst, pkt.netif.index))
            if got == RAW_INPUT_EATEN:
                return got
            result = got or result
        return result

    def _offer(self, pcb: RawPcb, seen: Any, packet: RawPacket | Callable[[], RawPacket]) -> int:
        """Give a matching pcb the packet: to its callback as ``seen``, else into its queue as ``packet`` (made by
        calling it, when it is a function: a copy only when one is queued)."""
        self.stack._stats.raw.recv += 1
        if pcb.on_recv is not None:
            return RAW_INPUT_EATEN if pcb.on_recv(pcb, seen) else RAW_INPUT_DELIVERED
        if len(pcb.queue) >= self.stack.config.udp_recvmbox_size:
            self.stack._stats.raw.drop += 1
            return RAW_INPUT_NONE
        pcb.queue.append(packet if isinstance(packet, RawPacket) else packet())
        if pcb.on_event is not None:
            pcb.on_event(pcb)
        return RAW_INPUT_DELIVERED

    def input6(self, pkt: "InPacket6", nh: int, message: memoryview) -> int:
        """``raw_input`` over IPv6: offer the upper-layer ``message`` of next header ``nh`` to the IPv6 raw pcbs."""
        if not self.pcbs:
            return RAW_INPUT_NONE
        result = RAW_INPUT_NONE
        src, dst = IPv6Address(pkt.src), IPv6Address(pkt.dst)
        for pcb in self.pcbs:
            if not pcb.ip6 or pcb.proto != nh:
                continue
            if (pcb.local_ip != _ANY6 and pcb.local_ip != dst) or (pcb.remote_ip is not None and pcb.remote_ip != src):
                continue
            if pcb.netif is not None and pcb.netif is not pkt.netif:
                continue
            at = pcb.checksum_offset
            if at >= 0 and (at + 2 > len(message) or not verify(message, pseudo_sum_v6(pkt.src, pkt.dst, nh,
                                                                                          len(message)))):
                self.stack._stats.raw.chkerr += 1
                self.stack._stats.raw.drop += 1
                continue
            packet = RawPacket(bytes(message), src, dst, pkt.netif.index)
            got = self._offer(pcb, packet, packet)
            if got == RAW_INPUT_EATEN:
                return got
            result = got or result
        return result
