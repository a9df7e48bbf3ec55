"""Ethernet links (lwIP's ``ethernet.c`` and the output half of ``etharp.c``/``ethip6.c``): the header taken off
frames coming in and put on packets going out, the IP next hop mapped to a MAC address.

Coming in, a frame for another VLAN, or unicast to another station (a promiscuous device showed it), is dropped; a
broadcast or multicast frame is passed up marked as such (the IP layer decides whether the group is ours).  Going out,
an IPv4 multicast group maps to 01:00:5e plus its low 23 bits (RFC 1112 6.4), a broadcast to ff:ff:ff:ff:ff:ff, a
unicast next hop goes through ARP (:mod:`.etharp`); an IPv6 group maps to 33:33 plus its low 32 bits (RFC 2464 7), a
unicast next hop goes through neighbour discovery (:mod:`.nd6`).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from ..errors import Malformed
from ..wire.ethernet import (BROADCAST, ETH_HEADER, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADER_LEN,
                             VLAN_HEADER_LEN, EthernetHeader, ipv4_multicast_mac)
from .addr import is_multicast4
from .addr6 import is_multicast6, multicast_mac

if TYPE_CHECKING:
    from .netif import Netif
    from .pbuf import Pbuf
    from .stack import Stack

__all__ = ["Ethernet"]


class Ethernet:
    """The Ethernet link layer of one stack, shared by its Ethernet netifs."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack

    def input(self, netif: "Netif", frame: bytes | bytearray | memoryview) -> None:
        """``ethernet_input``: one frame received on ``netif``."""
        stack = self.stack
        # the protocol byte of an untagged IPv4 packet; s20: none for another Ethernet type (IPv6: its byte 23 is its
        # source's), so that an IPv6 frame is offered to TCP's header prediction below, which tries it as IPv6
        proto = frame[23] if len(frame) > 33 and frame[12] == 8 else 0
        if proto == 1:  # ICMP
            if stack.icmp.fast_echo(netif, frame):
                return  # an ordinary ping, answered from one parse (Icmp.fast_echo)
        elif proto == 17:  # UDP
            if stack.udp.fast_input(netif, frame):
                return  # an ordinary datagram to one of our pcbs, from one parse (Udp.fast_input, udp19)
        else:
            tcp = stack.tcp
            if tcp.unsettled is not None:
                tcp.settle()  # rr2: a frame fed from a callback while an ACK's bookkeeping waits: done first (in2: here)
            if tcp.fast_input(netif, frame):
                return  # header prediction took it: an established connection's next segment (core/tcp/fastpath.py)
            # s21: an echo request over IPv6 (next header 58 in an IPv6 frame), answered from one parse
            if len(frame) > 54 and frame[20] == 58 and frame[12] == 0x86 and stack.icmp6.fast_echo(netif, frame):
                return
        stats = stack._stats.link
        stats.recv += 1
        if not netif.up:
            stats.drop += 1
            return
        try:
            eth, payload = EthernetHeader.parse(frame)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        if (eth.vlan_id or None) != netif.vlan_id:
            stats.drop += 1  # another VLAN's frame (a tag with VID 0 is only a priority tag)
            return
        dst = eth.dst
        if dst == netif.hwaddr:
            link_group = False
        elif dst[0] & 1:
            link_group = True  # broadcast or multicast: the IP layer decides whether the group is ours
        else:
            stats.drop += 1  # unicast to another station: a promiscuous device showed it to us
            return
        if eth.ethertype == ETHERTYPE_IPV4 and stack.config.ipv4:
            stack.ip4.input(netif, payload, link_group)
        elif eth.ethertype == ETHERTYPE_IPV6 and stack.config.ipv6:
            stack.ip6.input(netif, payload, link_group)
        elif eth.ethertype == ETHERTYPE_ARP and stack.config.ipv4:
            stack.etharp.input(netif, payload)
        else:
            stats.proterr += 1
            stats.drop += 1

    def output(self, netif: "Netif", pbuf: "Pbuf", dst_mac: bytes, ethertype: int) -> bool:
        """``ethernet_output``: prepend the Ethernet header and hand the frame to the device."""
        if netif.vlan_id is None:
            ETH_HEADER.pack_into(pbuf.buf, pbuf.push(HEADER_LEN), dst_mac, netif.hwaddr, ethertype)
        else:
            EthernetHeader(dst_mac, netif.hwaddr, ethertype, netif.vlan_id).emit(pbuf.buf, pbuf.push(VLAN_HEADER_LEN))
        # netif.linkoutput, inline: this is every Ethernet frame's way out
        tail = pbuf.csum_tail
        if tail:
            frame = pbuf.view()
            sent = netif.device.transmit_offload(frame, len(frame) - tail, pbuf.csum_offset, pbuf.gso_size)
        else:
            sent = netif.device.transmit(pbuf.view())
        stats = self.stack._stats.link
        if sent:
            stats.xmit += 1
            return True
        stats.memerr += 1
        stats.drop += 1
        return False

    def output_ip4(self, netif: "Netif", pbuf: "Pbuf", next_hop: IPv4Address) -> bool:
        """``etharp_output``: an IPv4 packet to ``next_hop`` (a group, a broadcast, or resolved by ARP)."""
        if is_multicast4(next_hop):
            return self.output(netif, pbuf, ipv4_multicast_mac(next_hop.packed), ETHERTYPE_IPV4)
        if netif.is_broadcast4(next_hop):
            return self.output(netif, pbuf, BROADCAST, ETHERTYPE_IPV4)
        return self.stack.etharp.output(netif, pbuf, next_hop)

    def output_ip6(self, netif: "Netif", pbuf: "Pbuf", next_hop: bytes) -> bool:
        """``ethip6_output``: an IPv6 packet to ``next_hop`` (a group, or resolved by neighbour discovery)."""
        if is_multicast6(next_hop):
            return self.output(netif, pbuf, multicast_mac(next_hop), ETHERTYPE_IPV6)
        return self.stack.nd6.output(netif, pbuf, next_hop)
