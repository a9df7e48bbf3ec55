"""IPv6 input, output and forwarding (RFC 8200), as lwIP's ``ip6.c``.

Input checks the header, accepts what is addressed to one of the netif's addresses (a tentative one only for the
neighbour discovery that DAD needs, RFC 4862 5.4), to all-nodes or to a group the netif joined, then walks the
extension headers: hop-by-hop options only right after the header, unknown options handled as their type's two high
bits say, a routing header with segments left answered with a parameter problem (a host routes nothing; type 0 is
deprecated, RFC 5095), an atomic fragment read on (RFC 6946) and other fragments dropped (no IP6_REASSEMBLY yet).
An unknown upper layer is answered with a parameter problem, code 1 (RFC 8200 4: "the node should discard the
packet and send an ICMP Parameter Problem message ... with an ICMP Code value of 1").

A unicast packet for another node is dropped, or forwarded when ``ip6_forward`` is on (see :meth:`Ip6.forward`);
a packet for our global address on another netif is then taken as ours too (a router is a weak host, RFC 1122
3.3.4.2), and answered out of the netif it came in on.

Output picks the route and the source (RFC 6724, in short: the destination itself, the right scope, preferred over
deprecated, the longest common prefix), writes the header in the room the pbuf reserved and hands the packet to
neighbour discovery (:mod:`lwipy.core.nd6`) or, for a multicast group, to its 33:33 MAC.
"""

from __future__ import annotations

import errno
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Callable

from ..errors import LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.ipv6 import (ACTION_DISCARD, ACTION_DISCARD_ICMP, ACTION_DISCARD_ICMP_UNICAST, ACTION_SKIP, HEADER_LEN,
                         NH_DSTOPTS, NH_FRAGMENT, NH_HOPOPTS, NH_NONE, NH_ROUTING, OPT_ROUTER_ALERT, ExtHeader,
                         FragmentHeader, Ipv6Header, parse_options)
from .addr6 import (ALL_NODES, DUPLICATED, TENTATIVE, is_link_local6, is_loopback6, is_multicast6, is_unspecified6,
                    prefix_match_len, scope6)
from .ip6_frag import Reassembly6, fragment6
from .raw import RAW_INPUT_EATEN, RAW_INPUT_NONE
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["Ip6", "InPacket6", "Protocol6Handler"]

_NS_NA = (w6.NEIGHBOR_SOLICIT, w6.NEIGHBOR_ADVERT)


class InPacket6:
    """The IPv6 packet being delivered (lwIP's ``ip_data`` for IPv6): where it came from and how it was addressed.
    ``packet`` is the whole packet, header included, for ICMPv6 errors that quote it."""

    __slots__ = ("netif", "hdr", "src", "dst", "packet", "multicast", "link_group")

    def __init__(self, netif: "Netif", hdr: Ipv6Header, packet: memoryview, multicast: bool,
                 link_group: bool) -> None:
        self.netif = netif
        self.hdr = hdr
        self.src: bytes = hdr.src
        self.dst: bytes = hdr.dst
        self.packet = packet
        self.multicast = multicast
        self.link_group = link_group

    @property
    def unicast(self) -> bool:
        return not (self.multicast or self.link_group)


Protocol6Handler = Callable[[InPacket6, memoryview], None]


class Ip6:
    """The IPv6 layer of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.reass = Reassembly6(stack)
        self.next_ident = stack.rng.randrange(1 << 32)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, netif: "Netif", data: memoryview, link_group: bool = False) -> None:
        """``ip6_input``: one IPv6 packet (link header removed) arriving on ``netif``."""
        stack = self.stack
        stats = stack._stats.ip6
        stats.recv += 1
        hook = stack.hooks.ip6_input
        if hook is not None and hook(stack, data, netif):
            return  # LWIP_HOOK_IP6_INPUT: eaten (ESP-IDF's default eats all on a netif without a link-local address)
        try:
            hdr, payload = Ipv6Header.parse(data)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        src, dst = hdr.src, hdr.dst
        if is_multicast6(src) or (is_loopback6(src) and not netif.is_loopback):
            stats.err += 1  # RFC 4291 2.5.3 and 2.7: never a source
            stats.drop += 1
            return
        tentative_only = False
        if is_multicast6(dst):
            if dst != ALL_NODES and not netif.ip6_groups.get(dst):
                stats.drop += 1  # a group we did not join
                return
            multicast = True
        else:
            multicast = False
            state = netif.ip6_state_of(dst)
            if state is None and stack.config.ip6_forward and not link_group:
                if not stack.is_own_address6(dst) or is_link_local6(dst) or is_loopback6(dst):
                    self.forward(netif, hdr, data[:HEADER_LEN + hdr.payload_len])
                    return
                state = self._state_elsewhere(dst)  # a router is a weak host: our address on another netif
            if state is None or state == DUPLICATED:
                stats.drop += 1  # not ours: a host forwards nothing
                return
            tentative_only = state == TENTATIVE
        packet = data[:HEADER_LEN + hdr.payload_len]
        pkt = InPacket6(netif, hdr, packet, multicast, link_group)
        nh = hdr.next_header
        field_at = 6  # where the next-header field naming the current header sits (a parameter problem points there)
        off = 0  # offset of the current header in the payload
        try:
            while nh in (NH_HOPOPTS, NH_DSTOPTS, NH_ROUTING, NH_FRAGMENT):
                at = HEADER_LEN + off
                if nh == NH_FRAGMENT:
                    frag = FragmentHeader.parse(payload[off:])
                    if frag.offset or frag.more:
                        self._fragment_input(pkt, frag, at, field_at, payload[off + 8:])
                        return
                    field_at, nh, off = at, frag.next_header, off + 8  # an atomic fragment (RFC 6946)
                    continue
                if nh == NH_HOPOPTS and off:
                    self._param_problem(pkt, w6.PP_NEXT_HEADER, field_at)  # hop-by-hop only right after the header
                    stats.proterr += 1
                    stats.drop += 1
                    return
                ext, length = ExtHeader.parse(nh, payload[off:])
                if nh == NH_ROUTING:
                    if len(ext.body) >= 2 and ext.body[1]:  # segments left: a host cannot route it
                        self._param_problem(pkt, w6.PP_HEADER, at + 2)
                        stats.proterr += 1
                        stats.drop += 1
                        return
                elif not self._options_ok(pkt, nh, ext, at):
                    stats.opterr += 1
                    stats.drop += 1
                    return
                field_at, nh, off = at, ext.next_header, off + length
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        upper = payload[off:]
        if tentative_only and not (nh == w6.PROTO_ICMPV6 and len(upper) and upper[0] in _NS_NA):
            stats.drop += 1  # RFC 4862 5.4: a tentative address takes nothing but neighbour discovery
            return
        raw = stack.raw.input6(pkt, nh, upper) if stack.raw.pcbs else RAW_INPUT_NONE
        if raw == RAW_INPUT_EATEN:
            return
        handler = stack.protocols6.get(nh)
        if handler is None:
            if nh != NH_NONE and raw == RAW_INPUT_NONE:
                self._param_problem(pkt, w6.PP_NEXT_HEADER, field_at)
                stats.proterr += 1
            stats.drop += 1
            return
        handler(pkt, upper)

    def _fragment_input(self, pkt: InPacket6, frag: FragmentHeader, at: int, field_at: int, data: memoryview) -> None:
        stats = self.stack._stats.ip6
        if not self.stack.config.ip6_reassembly:
            stats.drop += 1  # IP6_REASSEMBLY off (ESP-IDF's default): fragments are not put together
            return
        if frag.more and len(data) & 7:
            # RFC 8200 4.5: not a multiple of 8 bytes and not the last: parameter problem at the payload length
            self._param_problem(pkt, w6.PP_HEADER, 4)
            stats.drop += 1
            return
        whole = self.reass.input(pkt, frag, at, field_at, data)
        if whole is not None:
            self.input(pkt.netif, memoryview(whole), pkt.link_group)

    def _options_ok(self, pkt: InPacket6, nh: int, ext: ExtHeader, at: int) -> bool:
        """Whether processing goes on past this options header (RFC 8200 4.2)."""
        for opt in parse_options(ext.body):
            if nh == NH_HOPOPTS and opt.type == OPT_ROUTER_ALERT:
                continue  # MLD's router alert (RFC 2711): known, nothing to do for a host
            action = opt.action
            if action == ACTION_SKIP:
                continue
            if action == ACTION_DISCARD_ICMP or (action == ACTION_DISCARD_ICMP_UNICAST and not pkt.multicast):
                self._param_problem(pkt, w6.PP_OPTION, at + opt.at, any_dst=action == ACTION_DISCARD_ICMP)
            assert action in (ACTION_DISCARD, ACTION_DISCARD_ICMP, ACTION_DISCARD_ICMP_UNICAST)
            return False
        return True

    def _param_problem(self, pkt: InPacket6, code: int, pointer: int, any_dst: bool = False) -> None:
        self.stack.icmp6.send_error(pkt, w6.PARAM_PROBLEM, code, pointer, to_multicast=any_dst)

    # -- forwarding ------------------------------------------------------------------------------------------------
    def forward(self, inp: "Netif", hdr: Ipv6Header, packet: memoryview) -> None:
        """``ip6_forward``: send on a packet addressed to another node, its hop limit one less.

        Never forwarded: an unspecified source, a loopback or link-local destination (RFC 4291 2.5.2, 2.5.6); a
        link-local source leaving its link gets destination unreachable "beyond scope of source address" (RFC 4443
        3.1).  Hop limit 1 gets time exceeded; no route, destination unreachable "no route"; a packet above the
        next link's MTU, packet too big with that MTU: routers do not fragment (RFC 8200 5).  As lwIP, nothing goes
        back out of the netif it came in on, and extension headers are not looked at (RFC 8200 4: hop-by-hop
        options only when configured to)."""
        stack = self.stack
        stats = stack._stats.ip6
        src, dst = hdr.src, hdr.dst
        if is_unspecified6(src) or is_link_local6(dst) or is_loopback6(dst) or is_unspecified6(dst):
            stats.drop += 1
            return
        pkt = InPacket6(inp, hdr, packet, False, False)
        if hdr.hop_limit <= 1:
            stats.drop += 1
            stack.icmp6.send_error(pkt, w6.TIME_EXCEEDED, w6.TE_HOP_LIMIT)
            return
        try:
            out, next_hop = self.route(dst)
        except LwipError:
            stats.rterr += 1
            stats.drop += 1
            stack.icmp6.send_error(pkt, w6.DEST_UNREACH, w6.UNREACH_NO_ROUTE)
            return
        if out is inp or out.is_loopback:
            stats.drop += 1
            return
        if is_link_local6(src):
            stats.drop += 1
            stack.icmp6.send_error(pkt, w6.DEST_UNREACH, w6.UNREACH_BEYOND_SCOPE)
            return
        if len(packet) > out.mtu6:
            stats.drop += 1
            stack.icmp6.send_error(pkt, w6.PACKET_TOO_BIG, 0, out.mtu6)
            return
        pbuf = Pbuf.with_payload(packet)
        pbuf.buf[pbuf.start + 7] = hdr.hop_limit - 1
        stats.fw += 1
        self.netif_output(out, pbuf, next_hop)

    def _state_elsewhere(self, dst: bytes) -> str | None:
        return next((state for n in self.stack.netifs if (state := n.ip6_state_of(dst)) not in (None, DUPLICATED)),
                    None)

    # -- routing and source selection --------------------------------------------------------------------------------
    def route(self, dst: bytes, netif: "Netif | None" = None, src: bytes | None = None) -> tuple["Netif", bytes]:
        """``ip6_route`` and ``nd6_get_next_hop_addr_or_queue``'s first half: the netif and next hop for ``dst``.
        The ``ip6_route`` hook may choose the netif (after loopback, link-local and multicast destinations), the
        ``nd6_get_gw`` hook the next hop of an off-link destination (before the routers router discovery found)."""
        stack = self.stack
        if netif is not None:
            if is_multicast6(dst) or is_link_local6(dst) or stack.route6.on_link(netif, dst):
                return netif, dst
            via = self._gateway(netif, dst) or stack.route6.router_for(dst, netif)
            if via is None:
                raise LwipError(errno.EHOSTUNREACH, f"no route out of {netif.name}: no default router there")
            return via
        if is_loopback6(dst) or stack.is_own_address6(dst):
            if stack.loopif is None:
                raise LwipError(errno.EHOSTUNREACH, "loopback is off (netif_loopback)")
            own = next((n for n in stack.netifs if n.ip6_state_of(dst) is not None and not n.is_loopback), None)
            return own or stack.loopif, dst
        if is_multicast6(dst) or is_link_local6(dst):
            out = self._default6()
            if out is None:
                raise LwipError(errno.EHOSTUNREACH, "no netif for a link-local or multicast destination")
            return out, dst
        hook = stack.hooks.ip6_route
        if hook is not None:
            chosen = hook(stack, IPv6Address(src) if src is not None else None, IPv6Address(dst))
            if chosen is not None:
                return self.route(dst, chosen)
        for n in stack.netifs:
            if n.is_usable and not n.is_loopback and stack.route6.on_link(n, dst):
                return n, dst
        found = stack.route6.router_for(dst)
        if found is not None and stack.hooks.nd6_get_gw is not None:
            found = self._gateway(found[0], dst) or found
        if found is None:
            default = self._default6() if stack.hooks.nd6_get_gw is not None else None
            found = self._gateway(default, dst) if default is not None else None
            if found is None:
                raise LwipError(errno.EHOSTUNREACH, "no route: no on-link prefix and no default router")
        return found

    def _gateway(self, netif: "Netif", dst: bytes) -> tuple["Netif", bytes] | None:
        """``LWIP_HOOK_ND6_GET_GW``: the next hop the ``nd6_get_gw`` hook gives for an off-link ``dst``, or None."""
        hook = self.stack.hooks.nd6_get_gw
        if hook is None:
            return None
        gw = hook(self.stack, netif, IPv6Address(dst))
        return (netif, IPv6Address(gw).packed) if gw is not None else None

    def _default6(self) -> "Netif | None":
        stack = self.stack
        default = stack.default_netif
        if default is not None and default.is_usable and not default.is_loopback:
            return default
        return next((n for n in stack.netifs if n.is_usable and not n.is_loopback), None)

    def select_source(self, netif: "Netif", dst: bytes) -> bytes | None:
        """RFC 6724 5 in short: the destination itself; then the smallest scope not below the destination's; then
        preferred before deprecated; then the longest common prefix.  None when the netif has no usable address."""
        hook = self.stack.hooks.ip6_select_source_address
        if hook is not None:
            chosen = hook(self.stack, netif, IPv6Address(dst))  # LWIP_HOOK_IP6_SELECT_SRC_ADDR
            if chosen is not None:
                return IPv6Address(chosen).packed
        best: tuple[int, ...] | None = None
        choice = None
        want = scope6(dst)
        for a in netif.ip6_addrs:
            if not a.usable:
                continue
            s = scope6(a.addr)
            rank = (a.addr == dst, s >= want, -s if s >= want else s, a.state != "deprecated",
                    prefix_match_len(a.addr, dst))
            if best is None or rank > best:
                best, choice = rank, a.addr
        return choice

    # -- output ------------------------------------------------------------------------------------------------------
    def output(self, pbuf: Pbuf, src: bytes | None, dst: bytes, nh: int, hop_limit: int | None = None,
               netif: "Netif | None" = None, traffic_class: int = 0,
               via: tuple["Netif", bytes] | None = None, multicast_loop: bool = False) -> bool:
        """``ip6_output_if``: prepend the header and send.  ``via`` is the (netif, next hop) :meth:`route` gave
        the caller already, else it is looked up (out of ``netif`` when given).  ``src`` None picks one
        (EADDRNOTAVAIL when there is none); EHOSTUNREACH without a route; a packet above the path MTU is fragmented,
        or EMSGSIZE without ``ip6_frag``.  With ``multicast_loop`` (lwIP's ``PBUF_FLAG_MCASTLOOP``: the sender's
        ``IPV6_MULTICAST_LOOP``), a packet to a multicast group the netif joined is also looped back to this stack,
        whole, before any fragmenting (``ip6_output_if_src``: ``mld6_lookfor_group``, then ``netif_loop_output``)."""
        out, next_hop = via if via is not None else self.route(dst, netif)
        if src is None:
            src = self.select_source(out, dst) if not out.is_loopback else dst
            if src is None:
                raise LwipError(errno.EADDRNOTAVAIL, f"{out.name} has no usable IPv6 address")
        hdr = Ipv6Header(src, dst, nh, out.hop_limit6 if hop_limit is None else hop_limit, traffic_class, 0, len(pbuf))
        if multicast_loop and dst[0] == 0xFF and out.ip6_groups.get(dst):
            copy = Pbuf.with_payload(pbuf.view())
            hdr.emit(copy.buf, copy.push(HEADER_LEN))
            self.stack.loop_output(out, copy)
        mtu = min(out.mtu6, self.stack.route6.path_mtus.get(dst, 0xFFFF)) if not out.is_loopback else 0xFFFF
        if HEADER_LEN + len(pbuf) > mtu and not pbuf.gso_size:  # a TCP super-segment is the device's to cut
            return self._fragment_output(out, hdr, pbuf, next_hop, mtu)
        hdr.emit(pbuf.buf, pbuf.push(HEADER_LEN))
        self.stack._stats.ip6.xmit += 1
        return self.netif_output(out, pbuf, next_hop)

    def _fragment_output(self, out: "Netif", hdr: Ipv6Header, pbuf: Pbuf, next_hop: bytes, mtu: int) -> bool:
        """``ip6_frag``: fragments that fit ``mtu`` (EMSGSIZE without IP6_FRAG, or for a hop-by-hop header, which
        belongs in every fragment and is not split here)."""
        stack = self.stack
        if not stack.config.ip6_frag or hdr.next_header == NH_HOPOPTS or len(pbuf) > 0xFFFF:
            stack._stats.ip6.err += 1
            raise LwipError(errno.EMSGSIZE, f"{HEADER_LEN + len(pbuf)} bytes exceed the path MTU of {mtu} to "
                                            f"{hdr.dst.hex()} (ip6_frag)")
        ident, self.next_ident = self.next_ident, (self.next_ident + 1) & 0xFFFFFFFF
        sent = True
        for part in fragment6(hdr, pbuf.view(), mtu, ident):
            stack._stats.ip6_frag.xmit += 1
            stack._stats.ip6.xmit += 1
            sent = self.netif_output(out, part, next_hop) and sent
        return sent

    def netif_output(self, netif: "Netif", pbuf: Pbuf, next_hop: bytes) -> bool:
        stack = self.stack
        if netif.is_loopback or stack.is_own_address6(next_hop):
            return stack.loop_output(netif, pbuf)
        if not netif.is_usable:
            stack._stats.ip6.rterr += 1
            stack._stats.ip6.drop += 1
            return False
        return netif.output_ip6(netif, pbuf, next_hop)
