"""Point-to-point links (a Linux TUN, PPP): bare IPv4 and IPv6 packets in and out, nobody else on the link.

There is no link-layer header and no link-layer address: the IP version nibble says which protocol a packet is, and
whatever the stack sends reaches the one peer, so nothing is resolved (RFC 4861 7.2: "address resolution is not
performed on point-to-point links"; RFC 1661's PPP and RFC 1332 know no ARP).  The IPv6 link-local address comes from
an interface identifier (the device's, as IPV6CP negotiates one, or a random one, RFC 5072 4.1); duplicate address
detection, router solicitation and MLD run as on any link (RFC 4861 3: neighbor discovery "on point-to-point links"
minus resolution).  Packets reach the IP layer as unicast at the link level: on a point-to-point link nothing marks a
packet as a link-level broadcast, so IPv4 forwarding and the ICMP rules about broadcasts look at the IP destination.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .netif import Netif
    from .pbuf import Pbuf
    from .stack import Stack

__all__ = ["PointToPoint"]


class PointToPoint:
    """The point-to-point link layer of one stack, shared by its point-to-point netifs."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack

    def input(self, netif: "Netif", packet: bytes | bytearray | memoryview) -> None:
        """``netif->input`` of a point-to-point netif (lwIP's ``ip_input``): one IP packet, its version deciding."""
        stack = self.stack
        stats = stack._stats.link
        stats.recv += 1
        if not netif.up:
            stats.drop += 1
            return
        if not packet:
            stats.lenerr += 1
            stats.drop += 1
            return
        version = packet[0] >> 4
        if version == 4 and stack.config.ipv4:
            stack.ip4.input(netif, memoryview(packet))
        elif version == 6 and stack.config.ipv6:
            stack.ip6.input(netif, memoryview(packet))
        else:
            stats.proterr += 1
            stats.drop += 1

    def output_ip4(self, netif: "Netif", pbuf: "Pbuf", next_hop: IPv4Address) -> bool:
        """An IPv4 packet to the peer, whatever the next hop (lwIP's ``pppos_netif_output``)."""
        return netif.linkoutput(pbuf)

    def output_ip6(self, netif: "Netif", pbuf: "Pbuf", next_hop: bytes) -> bool:
        """An IPv6 packet to the peer: no neighbour discovery, no link-layer address."""
        return netif.linkoutput(pbuf)
