"""IPv4 input, output and forwarding (RFC 791, RFC 1122 3.2, RFC 1812 for the forwarding rules).

Input checks the header once, decides whether the packet is for this stack (a unicast address of any netif, a
broadcast, or a multicast group the netif joined), reassembles fragments, offers the packet to raw pcbs, and hands
the payload to the protocol registered for it in ``stack.protocols`` (ICMP, IGMP, UDP; TCP registers itself the same
way).  A protocol nobody handles gets an ICMP protocol unreachable.  Packets for others are forwarded when
``ip_forward`` is on, and dropped otherwise.
"""

from __future__ import annotations

import errno
import struct
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable

from ..errors import ChecksumError, LwipError, Malformed
from ..wire import icmp as icmpw
from ..wire.checksum import checksum
from ..wire.checksum import from_bytes as _from_bytes
from ..wire.ipv4 import HEADER, MIN_HEADER_LEN, PROTO_UDP, OptionError, Ipv4Header, iter_options
from .addr import ANY4 as _ANY
from .addr import is_multicast4
from .device import RxOffload
from .hooks import esp_ip4_route_src
from .ip4_frag import Reassembly, fragment
from .napt import NAPT_UNREACH
from .pbuf import Pbuf
from .raw import RAW_INPUT_DELIVERED, RAW_INPUT_EATEN

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["InPacket", "Ip4", "ProtocolHandler"]

_LIMITED_BROADCAST_B = b"\xff\xff\xff\xff"
_ANY_B = bytes(4)
_MAX_DATAGRAM = 65535
_CSUM = struct.Struct("!H")
_ALL_SYSTEMS = IPv4Address("224.0.0.1")


class InPacket:
    """The packet being delivered, what lwIP keeps in ``ip_data``: where it came from and how it was addressed.

    ``packet`` is the whole IP datagram (header included), for ICMP errors that quote it and raw pcbs that want it.
    """

    __slots__ = ("netif", "hdr", "src", "dst", "packet", "broadcast", "multicast", "link_broadcast")

    def __init__(self, netif: "Netif", hdr: Ipv4Header, src: IPv4Address, dst: IPv4Address, packet: memoryview,
                 broadcast: bool, multicast: bool, link_broadcast: bool = False) -> None:
        self.netif = netif
        self.hdr = hdr
        self.src = src
        self.dst = dst
        self.packet = packet
        self.broadcast = broadcast
        self.multicast = multicast
        self.link_broadcast = link_broadcast

    @property
    def unicast(self) -> bool:
        """Sent to one of our addresses: only such packets may be answered with ICMP errors."""
        return not (self.broadcast or self.multicast or self.link_broadcast)


ProtocolHandler = Callable[[InPacket, memoryview], None]


class Ip4:
    """The IPv4 layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.reass = Reassembly(stack)
        self.next_ident = stack.rng.randrange(0x10000)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, netif: "Netif", data: memoryview, link_broadcast: bool = False, looped: bool = False) -> None:
        """``ip4_input``: one IPv4 packet (link header already removed) arriving on ``netif``; ``looped`` when the
        stack sent it to itself (then our own and loopback source addresses are expected)."""
        stack = self.stack
        stats = stack._stats.ip
        stats.recv += 1
        hook = stack.hooks.ip4_input
        if hook is not None and len(data) and data[0] >> 4 == 4 and hook(stack, data, netif):
            return  # LWIP_HOOK_IP4_INPUT: "the packet has been eaten"
        try:
            hdr, payload = Ipv4Header.parse(data, stack.config.checksum_check_ip)
        except ChecksumError:
            stats.chkerr += 1
            stats.drop += 1
            return
        except Malformed:
            if len(data) and data[0] >> 4 != 4:
                stats.err += 1
            else:
                stats.lenerr += 1
            stats.drop += 1
            return
        packet = data[:hdr.total_len]
        if hdr.frag_offset + hdr.total_len > _MAX_DATAGRAM:
            stats.lenerr += 1  # a fragment reaching past the largest datagram: the ping of death
            stats.drop += 1
            return
        src_b, dst_b = hdr.src, hdr.dst
        s0 = src_b[0]
        if s0 >= 224 or src_b == netif.broadcast4_packed or (not looped and (
                s0 == 127 or (s0 == 0 and src_b != _ANY_B) or _from_bytes(src_b) in stack._own4)):
            # RFC 1122 3.2.1.3: a source that cannot be a host (multicast, class E, broadcast); and from outside, one
            # that can only be ours (127/8, our own addresses: answering those loops the stack into itself)
            stats.drop += 1
            return
        if (dst_b != netif.ip4_packed and stack.config.ip_forward and not link_broadcast and not hdr.options
                and dst_b[0] < 224 and dst_b[0] != 127 and dst_b != netif.broadcast4_packed and not netif.is_loopback
                and _from_bytes(dst_b) not in stack._own4
                and (hdr.proto != PROTO_UDP or hdr.frag_offset or len(payload) < 4
                     or _from_bytes(payload[2:4]) not in (68, stack.config.ip_accept_udp_port))):
            self.forward(netif, hdr, packet)  # the forwarding fast path: for none of our addresses, nothing to ask
            return
        src = IPv4Address(src_b)
        dst = IPv4Address(dst_b)
        broadcast = multicast = False
        if dst_b == netif.ip4_packed:
            pass  # the common case first: unicast to this netif's address
        elif 224 <= dst_b[0] < 240:
            if not (dst == _ALL_SYSTEMS or stack.igmp.is_member(netif, dst)):
                stats.drop += 1
                return
            multicast = True
        elif dst_b == _LIMITED_BROADCAST_B or dst_b == netif.broadcast4_packed:
            broadcast = True
        elif dst_b[0] == 127 and not netif.is_loopback:
            stats.drop += 1  # RFC 1122 3.2.1.3: 127/8 never arrives from outside
            return
        elif not self._is_ours(netif, dst):
            if hdr.proto == PROTO_UDP and not hdr.frag_offset and len(payload) >= 4 and \
                    _from_bytes(payload[2:4]) in (68, stack.config.ip_accept_udp_port):
                # lwIP's IP_ACCEPT_LINK_LAYER_ADDRESSED_PORT: DHCP's replies (port 68, and LWIP_IP_ACCEPT_UDP_PORT)
                # come to an address the netif does not have yet; taken, never answered with an ICMP error
                pkt = InPacket(netif, hdr, src, dst, packet, False, False, True)
                stack.udp.input(pkt, payload)
                return
            if stack.config.ip_forward and not link_broadcast:
                if not (hdr.options and self._bad_options(netif, hdr, src, dst, packet, False, False, False)):
                    self.forward(netif, hdr, packet)
            else:
                stats.drop += 1  # not ours: dropped without a word, whatever its options (RFC 1122 3.2.2)
            return
        if hdr.options and self._bad_options(netif, hdr, src, dst, packet, broadcast, multicast, link_broadcast):
            return
        if hdr.is_fragment:
            if not stack.config.ip4_reassembly:
                stats.opterr += 1
                stats.drop += 1
                return
            done = self.reass.input(netif, hdr, payload, packet, not (broadcast or multicast or link_broadcast))
            if done is None:
                return
            hdr, whole = done
            packet = memoryview(whole)
            payload = packet[hdr.header_len:]
        napt = stack.napt
        if napt.netif is not None and netif is not napt.netif and dst_b == netif.ip4_packed:
            translated = napt.recv(packet, stack.rx_offload is not None)  # ip_napt_recv: a reply, or a port map
            if translated is not None:
                hdr.dst = bytes(translated.buf[translated.start + 16:translated.start + 20])
                self.forward(netif, hdr, packet, translated)
                return
        pkt = InPacket(netif, hdr, src, dst, packet, broadcast, multicast, link_broadcast)
        raw = stack.raw.input(pkt)
        if raw == RAW_INPUT_EATEN:
            return
        handler = stack.protocols.get(hdr.proto)
        if handler is None:
            if raw == RAW_INPUT_DELIVERED:
                return  # a raw pcb took it: the protocol is not unreachable (lwIP's ip4_input)
            stats.proterr += 1
            stats.drop += 1
            stack.icmp.send_error(pkt, icmpw.DEST_UNREACH, icmpw.UNREACH_PROTOCOL)
            return
        handler(pkt, payload)

    def _bad_options(self, netif: "Netif", hdr: Ipv4Header, src: IPv4Address, dst: IPv4Address, packet: memoryview,
                     broadcast: bool, multicast: bool, link_broadcast: bool) -> bool:
        """Check the options' lengths; a bad one drops the packet with a parameter problem (never about a broadcast
        or multicast, which ``send_error`` refuses)."""
        try:
            for _ in iter_options(hdr.options):
                pass
        except OptionError as e:
            stats = self.stack._stats.ip
            stats.opterr += 1
            stats.drop += 1
            pkt = InPacket(netif, hdr, src, dst, packet, broadcast, multicast, link_broadcast)
            self.stack.icmp.send_error(pkt, icmpw.PARAM_PROBLEM, 0, (MIN_HEADER_LEN + e.offset) << 24)
            return True
        return False

    def _is_ours(self, netif: "Netif", dst: IPv4Address) -> bool:
        if netif.ip4 is not None and netif.ip4.ip == dst:
            return True
        if netif.is_loopback:
            return dst.is_loopback
        # lwIP accepts a packet for any of the stack's addresses on any netif (the weak host model, RFC 1122 3.3.4.2)
        return any(n.ip4 is not None and n.ip4.ip == dst and n.up for n in self.stack.netifs)

    # -- output ------------------------------------------------------------------------------------------------------
    def route(self, dst: IPv4Address, src: IPv4Address | None = None) -> tuple["Netif", IPv4Address] | None:
        """``ip4_route_src``: the netif and next hop for ``dst`` (from ``src`` when known); counts a routing error
        when there is none."""
        found = self.route_src(src, dst) if src is not None else self.stack.routes.lookup(dst)
        if found is None:
            self.stack._stats.ip.rterr += 1
        return found

    def route_src(self, src: IPv4Address | None, dst: IPv4Address) -> tuple["Netif", IPv4Address] | None:
        """``ip4_route_src`` with ESP-IDF's ``LWIP_HOOK_IP4_ROUTE_SRC``: the ``ip4_route_src`` hook chooses the netif
        for a packet from ``src`` (by default the up netif holding that address, "IPV4-source-based routing"), else
        the routing table does.  Destinations that loop back (127/8, our own addresses) are the table's."""
        stack = self.stack
        hook = stack.hooks.ip4_route_src
        found = stack.routes.lookup(dst)
        if hook is None or src is None:
            return found
        if hook is esp_ip4_route_src:
            netif = stack.routes.netif_with_address(src)  # the default, without a call (the fast path)
            if netif is None or (found is not None and found[0] is netif):
                return found  # no netif has the source, or the table agrees (and has the next hop cached)
        elif not int(src):
            return found
        d = int(dst)
        if d >> 24 == 127 or d in stack._own4:
            return found
        if hook is not esp_ip4_route_src:
            netif = hook(stack, src, dst)
            if netif is None or (found is not None and found[0] is netif):
                return found
        return netif, self.next_hop(netif, dst)

    def output(self, pbuf: Pbuf, src: IPv4Address | None, dst: IPv4Address, proto: int, *, ttl: int | None = None,
               tos: int = 0, options: bytes = b"", dont_fragment: bool = False, netif: "Netif | None" = None,
               next_hop: IPv4Address | None = None, any_src: bool = False, multicast_loop: bool = False,
               ident: int | None = None, reserved_flag: bool = False) -> None:
        """``ip4_output_if``: prepend an IPv4 header to ``pbuf`` and send it, fragmenting when it exceeds the MTU.
        ``ident`` and ``reserved_flag``: the identification and the reserved flag to send (a header kept from
        elsewhere, as ``LWIP_IP_HDRINCL`` sends it), else the stack's next identification and no flag.
        With ``multicast_loop`` (lwIP's ``PBUF_FLAG_MCASTLOOP``: the sender's ``IP_MULTICAST_LOOP``), a datagram to a
        multicast group that ``netif`` joined is also looped back to this stack, whole, before any fragmenting.

        Raises :class:`LwipError` EHOSTUNREACH when no route exists, EADDRNOTAVAIL when the netif has no address
        (unless ``any_src``: then the packet leaves from 0.0.0.0, as ``udp_sendto_if`` sends DHCP's), EMSGSIZE when the
        packet is too big and may not be fragmented.
        """
        stack = self.stack
        if netif is None:
            found = self.route(dst, src)
            if found is None:
                raise stack.routes.unreachable(dst)
            netif, next_hop = found
        elif next_hop is None:
            next_hop = self.next_hop(netif, dst)
        if src is None or src == _ANY:
            if netif.ip4 is not None:
                src = netif.ip4.ip
            elif any_src and stack.config.ipv4:  # an IPv6-only stack (CONFIG_LWIP_IPV4 off) sends no IPv4 at all
                src = _ANY
            else:
                raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} has no IPv4 address")
        hdr = Ipv4Header(src.packed, dst.packed, proto, stack.config.ip_default_ttl if ttl is None else ttl, tos,
                         self._ident() if ident is None else ident, dont_fragment, False, 0, 0, options, 0,
                         reserved_flag)
        self.send(netif, hdr, pbuf, next_hop, multicast_loop and is_multicast4(dst)
                  and stack.igmp.is_member(netif, dst))

    def output_routed(self, pbuf: Pbuf, netif: "Netif", next_hop: IPv4Address, src: bytes, dst: bytes, proto: int,
                      ttl: int, tos: int = 0, neighbour: bool = False) -> None:
        """:meth:`output` for a transport that keeps its own route (TCP): a 20-byte header packed straight into place
        when the packet needs no fragmenting; the same counters and errors.  ``neighbour`` says the caller found
        ``next_hop`` to be a unicast neighbour on ``netif`` (not our own address, not broadcast or multicast), so only
        ARP stands between the packet and the link."""
        total = len(pbuf) + MIN_HEADER_LEN
        stack = self.stack
        if total > netif.mtu and not pbuf.gso_size and not stack.loops_back(netif, next_hop):
            self.output(pbuf, IPv4Address(src), IPv4Address(dst), proto, ttl=ttl, tos=tos, netif=netif,
                        next_hop=next_hop)
            return
        if total > _MAX_DATAGRAM:
            stack._stats.ip.err += 1
            raise LwipError(errno.EMSGSIZE, f"{total} bytes exceed the largest IPv4 datagram (65535)")
        off = pbuf.push(MIN_HEADER_LEN)
        buf = pbuf.buf
        ident = self.next_ident
        self.next_ident = (ident + 1) & 0xFFFF
        HEADER.pack_into(buf, off, 0x45, tos, total, ident, 0, ttl, proto, 0, src, dst)
        _CSUM.pack_into(buf, off + 10, checksum(memoryview(buf)[off:off + MIN_HEADER_LEN]))
        stack._stats.ip.xmit += 1
        if neighbour and netif.up and netif.link_up:
            sent = stack.etharp.output(netif, pbuf, next_hop)
        else:
            sent = stack.netif_output(netif, pbuf, next_hop)
        if not sent:
            raise LwipError(errno.ENOMEM, f"{netif.name} dropped the packet: transmit or ARP queue full, or link down")

    @staticmethod
    def next_hop(netif: "Netif", dst: IPv4Address) -> IPv4Address:
        """Where a packet for ``dst`` sent out of ``netif`` goes first: ``dst`` itself when on-link, else the gateway."""
        if (is_multicast4(dst) or netif.ip4 is None or netif.is_broadcast4(dst) or dst in netif.ip4.network
                or netif.gateway is None):
            return dst
        return netif.gateway

    def send(self, netif: "Netif", hdr: Ipv4Header, pbuf: Pbuf, next_hop: IPv4Address, loop: bool = False) -> None:
        """Put ``hdr`` in front of ``pbuf`` (fragmenting to the netif's MTU) and pass it to the netif for
        ``next_hop``; with ``loop``, a copy of the whole datagram to ``netif_loop_output`` first (``ip4_output_if``
        does so for ``PBUF_FLAG_MCASTLOOP``)."""
        stack = self.stack
        hlen = hdr.header_len
        if hlen + len(pbuf) > _MAX_DATAGRAM:
            stack._stats.ip.err += 1
            raise LwipError(errno.EMSGSIZE, f"{hlen + len(pbuf)} bytes exceed the largest IPv4 datagram (65535)")
        stack._stats.ip.xmit += 1
        if loop:
            hdr.total_len = hlen + len(pbuf)
            copy = Pbuf.with_payload(pbuf.view())
            hdr.emit(copy.buf, copy.push(hlen))
            stack.loop_output(netif, copy)
        if hlen + len(pbuf) > netif.mtu and not pbuf.gso_size and not stack.loops_back(netif, next_hop):
            if hdr.dont_fragment or not stack.config.ip4_frag:
                stack._stats.ip.err += 1
                raise LwipError(errno.EMSGSIZE, f"{hlen + len(pbuf)} bytes exceed the MTU {netif.mtu} of {netif.name}")
            payload = pbuf.view()
            sent = True
            for frag in fragment(hdr, payload, netif.mtu):
                stack._stats.ip_frag.xmit += 1
                sent = stack.netif_output(netif, frag, next_hop) and sent
        else:
            hdr.total_len = hlen + len(pbuf)
            hdr.emit(pbuf.buf, pbuf.push(hlen))
            sent = stack.netif_output(netif, pbuf, next_hop)
        if not sent:
            raise LwipError(errno.ENOMEM, f"{netif.name} dropped the packet: transmit or ARP queue full, or link down")

    def _ident(self) -> int:
        ident = self.next_ident
        self.next_ident = (ident + 1) & 0xFFFF
        return ident

    # -- forwarding --------------------------------------------------------------------------------------------------
    def forward(self, inp: "Netif", hdr: Ipv4Header, packet: memoryview, pbuf: Pbuf | None = None) -> None:
        """``ip4_forward`` (RFC 1812 5.2): decrement the TTL, route, translate (NAPT), fragment or refuse, and send on.

        The packet is copied once, whole, into a buffer with link headroom, and changed there in place: the TTL and
        the header checksum as lwIP does (incrementally), the addresses and ports by :mod:`.napt`.  ``pbuf`` is that
        copy when the caller made it already (NAPT translated the destination of an incoming packet)."""
        stack = self.stack
        dst_b = hdr.dst
        src_b = hdr.src
        d0 = dst_b[0]
        s0 = src_b[0]
        hook = stack.hooks.ip4_canforward
        verdict = hook(stack, packet, IPv4Address(dst_b)) if hook is not None else -1  # LWIP_HOOK_IP4_CANFORWARD
        if verdict == 0 or (verdict < 0 and (d0 == 0 or d0 == 127 or d0 >= 240)):
            stack._stats.ip.drop += 1  # ip4_canforward: not this one
            return
        if src_b == _ANY_B or s0 == 127 or (s0 == 169 and src_b[1] == 254) or (d0 == 169 and dst_b[1] == 254):
            stack._stats.ip.drop += 1  # RFC 1812 5.3.7 and RFC 3927 7: never forwarded
            return
        if hdr.ttl <= 1:
            stack._stats.ip.drop += 1
            stack.icmp.send_error(self._in_packet(inp, hdr, packet), icmpw.TIME_EXCEEDED, icmpw.TE_TTL)
            return
        found = stack.routes.lookup_packed(dst_b)
        if found is None:
            stack._stats.ip.rterr += 1
            stack._stats.ip.drop += 1
            stack.icmp.send_error(self._in_packet(inp, hdr, packet), icmpw.DEST_UNREACH, icmpw.UNREACH_HOST)
            return
        out, next_hop = found
        if out is inp or out.is_loopback or (out.broadcast4_packed is not None and dst_b == out.broadcast4_packed):
            # lwIP's default: never back out of the netif it came in on; and no directed broadcast (RFC 2644)
            stack._stats.ip.drop += 1
            return
        napt = stack.napt
        translate = napt.netif is inp  # ip_napt_forward: from the inside netif to another
        if pbuf is None:
            pbuf = Pbuf.with_payload(packet)
        buf = pbuf.buf
        off = pbuf.start
        buf[off + 8] -= 1  # the TTL, and the checksum incrementally (lwIP's ip4_forward, RFC 1624)
        csum = (buf[off + 10] << 8 | buf[off + 11]) + 0x100
        _CSUM.pack_into(buf, off + 10, (csum & 0xFFFF) + (csum >> 16))
        rx = stack.rx_offload
        if translate:
            verdict = napt.forward(buf, off, out, rx is not None)
            if verdict:
                stack._stats.ip.drop += 1
                if verdict == NAPT_UNREACH:
                    stack.icmp.send_error(self._in_packet(inp, hdr, packet), icmpw.DEST_UNREACH, icmpw.UNREACH_PORT)
                return
        if rx is not None and not self._pass_offload(rx, pbuf, out, inp):
            return
        if len(pbuf) > out.mtu and not pbuf.gso_size:
            if hdr.dont_fragment:
                stack._stats.ip.drop += 1
                stack.icmp.send_error(self._in_packet(inp, hdr, packet), icmpw.DEST_UNREACH,
                                      icmpw.UNREACH_FRAG_NEEDED, out.mtu)
                return
            stack._stats.ip.fw += 1
            whole, payload = Ipv4Header.parse(pbuf.view(), False)
            for frag in fragment(whole, payload, out.mtu):
                stack._stats.ip_frag.xmit += 1
                stack.netif_output(out, frag, next_hop)
            return
        stack._stats.ip.fw += 1
        if out.is_ethernet and out.up and out.link_up and int(next_hop) not in stack._own4:
            stack.etharp.output(out, pbuf, next_hop)  # a unicast neighbour (multicast and broadcast were refused)
        else:
            stack.netif_output(out, pbuf, next_hop)

    def _pass_offload(self, rx: RxOffload, pbuf: Pbuf, out: "Netif", inp: "Netif") -> bool:
        """A frame that came with a partial transport checksum (and perhaps as a TCP super-segment): handed on as it
        is to a device that completes the checksum (and cuts the segments), never cut and rebuilt here; to another
        device its checksum is completed here, and a super-segment is dropped (counted in ``ip.drop``)."""
        ihl = (pbuf.buf[pbuf.start] & 0x0F) << 2
        link = (18 if inp.vlan_id is not None else 14) if inp.is_ethernet else 0
        field = rx.csum_start + rx.csum_offset - link  # the field's place in the IP packet (frame padding aside)
        if (field != ihl + 16 and field != ihl + 6) or field + 2 > len(pbuf):
            self.stack._stats.ip.drop += 1  # not a TCP or UDP checksum after this header: nothing we can vouch for
            return False
        if out.checksum_offload and (not rx.gso_size or out.gso_max_size):
            pbuf.leave_checksum(pbuf.start + ihl, field - ihl, rx.gso_size)
            return True
        if rx.gso_size:
            self.stack._stats.ip.drop += 1
            return False
        buf, start = pbuf.buf, pbuf.start
        view = memoryview(buf)[start + ihl:]
        _CSUM.pack_into(buf, start + field, checksum(view) or 0xFFFF)  # the pseudo-header sum is in the field
        return True

    @staticmethod
    def _in_packet(inp: "Netif", hdr: Ipv4Header, packet: memoryview) -> InPacket:
        """The packet being forwarded as ICMP errors want it (made only when one is sent)."""
        return InPacket(inp, hdr, IPv4Address(hdr.src), IPv4Address(hdr.dst), packet, False, False)
