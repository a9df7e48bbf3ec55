"""Loopback (lwIP's ``netif_loop_output`` and ``netif_poll``): packets the stack sends to itself.

A packet for the loopback netif, or (with ``netif_loopback``) for one of our own addresses on any netif, is queued
instead of sent and received at the next :meth:`Stack.poll <lwipy.core.stack.Stack.poll>` on the netif it left by,
as lwIP's ``netif_poll`` does: never re-entering input from inside output.  At most ``loopback_max_pbufs`` wait
(``LWIP_LOOPBACK_MAX_PBUFS``; 0: no limit).
"""

from __future__ import annotations

from collections import deque
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .netif import Netif
    from .pbuf import Pbuf
    from .stack import Stack

__all__ = ["Loopback"]


class Loopback:
    """The loopback queue of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.queue: deque[tuple["Netif", memoryview]] = deque()
        self._enabled = stack.config.netif_loopback

    def loops_back(self, netif: "Netif", next_hop: IPv4Address) -> bool:
        """Whether a packet for ``next_hop`` out of ``netif`` comes back to this stack: the loopback netif's, or
        with ``netif_loopback`` one for our own address (``ip4_output_if`` sending to ``netif_loop_output``)."""
        return netif.is_loopback or (self._enabled and int(next_hop) in self.stack._own4)

    def output(self, netif: "Netif", pbuf: "Pbuf") -> bool:
        """``netif_loop_output``: queue an IP packet to be received on ``netif`` at the next poll."""
        stack = self.stack
        limit = stack.config.loopback_max_pbufs
        if limit and len(self.queue) >= limit:
            stack._stats.link_refused()
            return False
        self.queue.append((netif, pbuf.view()))
        stack._stats.link.xmit += 1
        return True

    def output_ip4(self, netif: "Netif", pbuf: "Pbuf", next_hop: IPv4Address) -> bool:
        return self.output(netif, pbuf)

    def output_ip6(self, netif: "Netif", pbuf: "Pbuf", next_hop: bytes) -> bool:
        return self.output(netif, pbuf)

    def input(self, netif: "Netif", packet: bytes | bytearray | memoryview) -> None:
        """A packet handed to the loopback netif from outside (``Stack.input`` on it): received at the next poll."""
        self.queue.append((netif, memoryview(packet)))

    def poll(self) -> None:
        """``netif_poll``: receive what was queued before this call (what it loops back again waits a round)."""
        stack = self.stack
        queue = self.queue
        for _ in range(len(queue)):
            netif, packet = queue.popleft()
            stack._stats.link.recv += 1
            if packet[0] >> 4 == 6:
                stack._guarded(stack.ip6.input, netif, packet)
            else:
                stack._guarded(stack.ip4.input, netif, packet, False, True)

    def pending(self) -> bool:
        return bool(self.queue)
