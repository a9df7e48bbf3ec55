"""UDP (RFC 768) with lwIP's pcb semantics.

A datagram goes to the pcb that matches it best: one connected to its source, else one bound to its destination port
and address (or to any address).  Broadcast and multicast datagrams go to every matching pcb when the first has
``reuse_addr`` set and ``so_reuse_rxtoall`` is on (``SO_REUSE_RXTOALL``).  A unicast datagram that no pcb takes is
answered with ICMP port unreachable.  A received checksum of 0 means "none" and is accepted (RFC 768).

Dual stack, as lwIP's ``IPADDR_TYPE_ANY`` pcbs: a pcb bound to ``::`` takes IPv6 and, unless ``v6only``
(``IPV6_V6ONLY``), IPv4 datagrams; an IPv4-mapped address (``::ffff:a.b.c.d``, RFC 4291 2.5.5.2) given to bind,
connect or sendto is the IPv4 address it maps.  Over IPv6 the checksum is mandatory: a datagram with 0 is dropped
(RFC 8200 8.1), and one to a port nobody serves is answered with ICMPv6 port unreachable.

udp18, the common datagram's short way out: an IPv4 unicast from a pcb without a named netif keeps its route (netif,
next hop, source) per pcb while ``Stack.way_generation`` (routes, netif settings, the link output), the pcb's local
address and the routing hook stay as they were, and goes down as TCP's segments do (``Ip4.output_routed``: one
struct for the IPv4 header, then ``netif_output``, the full way's own call), with the UDP header packed in place:
the same bytes, counters and errors as ``udp_sendto``'s full way (``tests/core/test_udp_lean_send.py`` compares
them), 1,295 -> 802 bytecodes a datagram.  ``Udp.lean`` False turns it off.

udp19, the common datagram's short way in: an untagged IPv4 unicast to the netif's own MAC and address, without options
or fragments, from a source that can be a peer, to a port one pcb holds and takes it, is delivered from one parse of
the frame (``Udp.fast_input``, tried by ``ethernet_input`` for UDP and by ``Stack.input_many`` for a loop's batch)
with the checks, deliveries and counters of ``ip4_input`` and ``udp_input`` (``tests/core/test_udp_fast_input.py``
compares both ways); anything else takes the full way.  1,022 -> 314 bytecodes a datagram.  Its datagrams' ``src``
and ``dst`` are ``IPv4Address`` objects kept per address and shared between datagrams (immutable, equal to the full
way's).  ``Udp.fast_path`` False turns it off.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Callable

from ..errors import LwipError, Malformed
from ..wire import icmp as icmpw
from ..wire import icmpv6 as icmp6w
from ..wire.checksum import data_sum as _data_sum
from ..wire.checksum import from_bytes as _from_bytes
from ..wire.checksum import pseudo_sum_v4, pseudo_sum_v6
from ..wire.ipv4 import ETH_IP4_WORD, ETH_IP4_WORD_MASK, NOFRAG_PROTO_MASK, PROTO_UDP, Ipv4Header
from ..wire.ipv6 import Ipv6Header
from ..wire.udp import HEADER_LEN, UdpHeader, emit_header
from .addr import ANY4 as ANY
from .addr import ANY6, IpAddress, is_multicast4, unmap
from .addr6 import is_multicast6
from .hooks import esp_ip4_route_src, no_core_check
from .mem import UDP_PCB
from .pbuf import Pbuf
from .ports import PortAllocator, addresses_overlap

from .netif import Netif

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .ip6 import InPacket6
    from .stack import Stack

__all__ = ["Udp", "UdpPcb", "Datagram"]

MAX_PAYLOAD = 65535 - 20 - HEADER_LEN

# udp19 (Udp.fast_input): Ethernet dst (skip src) | type, IPv4 ver/ihl, TOS (one word) | total (ident) | frag, TTL,
# protocol (one word) (checksum) | source | destination | UDP ports, length, checksum
_FRAME = struct.Struct("!6s6xIH2xI2x4s4sHHHH")
_StructError = struct.error
_FOLD = 0xFFFF
_ADDRS_KEPT = 1024  # the most addresses Udp.fast_input keeps as objects (all forgotten at once beyond)

_ICMP6_ERRNO = {
    (icmp6w.DEST_UNREACH, icmp6w.UNREACH_PORT): errno.ECONNREFUSED,
    (icmp6w.DEST_UNREACH, icmp6w.UNREACH_NO_ROUTE): errno.ENETUNREACH,
    (icmp6w.DEST_UNREACH, icmp6w.UNREACH_ADDRESS): errno.EHOSTUNREACH,
    (icmp6w.DEST_UNREACH, icmp6w.UNREACH_ADMIN): errno.EHOSTUNREACH,
    (icmp6w.PACKET_TOO_BIG, 0): errno.EMSGSIZE,
}


_ICMP_ERRNO = {
    (icmpw.DEST_UNREACH, icmpw.UNREACH_PORT): errno.ECONNREFUSED,
    (icmpw.DEST_UNREACH, icmpw.UNREACH_PROTOCOL): errno.ECONNREFUSED,
    (icmpw.DEST_UNREACH, icmpw.UNREACH_NET): errno.ENETUNREACH,
    (icmpw.DEST_UNREACH, icmpw.UNREACH_HOST): errno.EHOSTUNREACH,
    (icmpw.DEST_UNREACH, icmpw.UNREACH_FRAG_NEEDED): errno.EMSGSIZE,
}


@dataclass(slots=True)
class Datagram:
    """A received datagram: its payload and where it came from and went to (``IP_PKTINFO``)."""

    data: bytes
    src: IpAddress
    src_port: int
    dst: IpAddress
    netif_index: int


class UdpPcb:
    """A UDP endpoint.  Make one with :meth:`Udp.new`.

    Received datagrams go to ``on_recv(pcb, datagram)`` when set, else into ``queue`` (at most ``udp_recvmbox_size``;
    more are dropped and counted), after which ``on_event(pcb)`` is called if set.  ``error`` holds the errno of the
    last ICMP error for a connected pcb (ECONNREFUSED for a port unreachable) until :meth:`take_error` reads it.
    """

    def __init__(self, udp: "Udp", ip6: bool = False) -> None:
        self._udp = udp
        #: the local address: 0.0.0.0 (IPv4 only) or :: (IPv6, and IPv4 unless ``v6only``) for any
        self.local_ip: IpAddress = ANY6 if ip6 else ANY
        self.local_port = 0
        self.remote_ip: IpAddress | None = None
        #: ``IPV6_V6ONLY``: a pcb bound to :: takes no IPv4 datagrams
        self.v6only = False
        #: ``IPV6_UNICAST_HOPS`` (None: the netif's hop limit)
        self.hop_limit: int | None = None
        #: ``IPV6_MULTICAST_IF``: the netif multicast goes out of (None: the default one)
        self.multicast_netif6: Netif | None = None
        self.remote_port = 0
        self.netif: Netif | None = None  # SO_BINDTODEVICE
        self.reuse_addr = False  # SO_REUSEADDR
        self.no_checksum = False  # SO_NO_CHECK
        self.ttl: int | None = None
        self.tos = 0
        self.multicast_ttl = 1
        self.multicast_if: IPv4Address | None = None
        self.multicast_loop = True
        self.on_recv: Callable[[UdpPcb, Datagram], None] | None = None
        self.on_event: Callable[[UdpPcb], None] | None = None
        self.queue: deque[Datagram] = deque()
        self.error = 0
        self.closed = False
        self.memberships: list[tuple[Netif, IpAddress]] = []
        #: udp18: the last IPv4 unicast's way out (:meth:`Udp._lean_way`), or None
        self._way: tuple | None = None

    @property
    def connected(self) -> bool:
        return self.remote_ip is not None

    @property
    def is_ip6(self) -> bool:
        """An IPv6 pcb (bound to an IPv6 address or ::), which takes IPv4 too unless ``v6only``."""
        return isinstance(self.local_ip, IPv6Address)

    def takes(self, version: int) -> bool:
        """Whether datagrams of IP ``version`` may reach this pcb."""
        if version == 4:
            return not self.is_ip6 or (self.local_ip == ANY6 and not self.v6only)
        return self.is_ip6

    def bind(self, ip: str | IpAddress | None = None, port: int = 0) -> None:
        """``udp_bind``: a local address (None or 0.0.0.0 for any IPv4, :: for any IPv6 and IPv4) and port (0 picks
        a free ephemeral one)."""
        self._udp.stack.assert_core()
        self._check_open()
        self._udp.bind(self, unmap(ip) if ip is not None else self.local_ip if self.is_ip6 else ANY, port)

    def connect(self, ip: str | IpAddress, port: int) -> None:
        """``udp_connect``: fix the remote end (binding an ephemeral port first if unbound)."""
        self._udp.stack.assert_core()
        self._check_open()
        if not 0 < port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        remote = unmap(ip)
        if remote.version == 6 and not self.is_ip6:
            raise LwipError(errno.EAFNOSUPPORT, "an IPv4 pcb cannot talk to an IPv6 address")
        if remote.version == 4 and self.is_ip6 and not self.takes(4):
            raise LwipError(errno.ENETUNREACH, "a V6ONLY or IPv6-bound pcb cannot talk to an IPv4 address")
        if not self.local_port:
            self.bind(self.local_ip, 0)
        self.remote_ip = remote
        self.remote_port = port

    def disconnect(self) -> None:
        self._udp.stack.assert_core()
        self.remote_ip = None
        self.remote_port = 0

    def sendto(self, data: bytes | bytearray | memoryview, ip: str | IpAddress, port: int) -> None:
        """Send one datagram.  Raises :class:`LwipError` with the errno a socket would see (EHOSTUNREACH, EMSGSIZE,
        ENOMEM when the driver's queue is full...)."""
        if (stack := self._udp.stack).assert_core is not no_core_check:  # call12: the no-op not called
            stack.assert_core()
        self._check_open()
        dst = unmap(ip)
        if isinstance(dst, IPv4Address):
            if self.is_ip6 and not self.takes(4):
                raise LwipError(errno.ENETUNREACH, "a V6ONLY or IPv6-bound pcb cannot send to an IPv4 address")
            self._udp.send(self, data, dst, port)
        else:
            if not self.is_ip6:
                raise LwipError(errno.EAFNOSUPPORT, "an IPv4 pcb cannot send to an IPv6 address")
            self._udp.send6(self, data, dst, port, None)

    def sendto_netif(self, data: bytes | bytearray | memoryview, ip: str | IpAddress, port: int, netif: Netif) -> None:
        """``udp_sendto_if``: send one datagram out of ``netif`` whatever the routes say (an IPv6 link-local or
        multicast destination on that link; an IPv4 broadcast).  From a netif without an IPv4 address it leaves from
        0.0.0.0, as DHCP's DISCOVER does."""
        self._udp.stack.assert_core()
        self._check_open()
        dst = unmap(ip)
        if isinstance(dst, IPv4Address):
            self._udp.send(self, data, dst, port, netif)
        else:
            self._udp.send6(self, data, dst, port, netif)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send to the connected remote end."""
        if (stack := self._udp.stack).assert_core is not no_core_check:  # call12: the no-op not called
            stack.assert_core()
        if self.remote_ip is None:
            raise LwipError(errno.EDESTADDRREQ, "the pcb is not connected; use sendto")
        self.sendto(data, self.remote_ip, self.remote_port)

    def recv(self) -> Datagram | None:
        """The oldest queued datagram, or None."""
        if (stack := self._udp.stack).assert_core is not no_core_check:  # call12: the no-op not called
            stack.assert_core()
        return self.queue.popleft() if self.queue else None

    def take_error(self) -> int:
        """Read and clear the pending error (``SO_ERROR``)."""
        self._udp.stack.assert_core()
        err, self.error = self.error, 0
        return err

    def join_group(self, group: str | IpAddress, interface: str | IPv4Address | Netif | None = None) -> None:
        """``IP_ADD_MEMBERSHIP`` / ``IPV6_JOIN_GROUP``: join ``group`` on the netif with address ``interface`` (for
        IPv6 the netif itself; None: the default netif)."""
        self._udp.stack.assert_core()
        self._check_open()
        netif, addr = self._group_netif(group, interface)
        if addr.version == 6:
            self._udp.stack.mld6.join(netif, addr.packed)
        else:
            self._udp.stack.igmp.join(netif, addr)
        self.memberships.append((netif, addr))

    def leave_group(self, group: str | IpAddress, interface: str | IPv4Address | Netif | None = None) -> None:
        self._udp.stack.assert_core()
        netif, addr = self._group_netif(group, interface)
        if (netif, addr) not in self.memberships:
            raise LwipError(errno.EADDRNOTAVAIL, f"not a member of {addr} on {netif.name}")
        self.memberships.remove((netif, addr))
        _leave(self._udp.stack, netif, addr)

    def _group_netif(self, group: str | IpAddress, interface: str | IPv4Address | Netif | None) -> tuple[Netif, IpAddress]:
        stack = self._udp.stack
        addr = ip_address(group) if not isinstance(group, (IPv4Address, IPv6Address)) else group
        if isinstance(interface, Netif):
            return interface, addr
        if addr.version == 6:
            netif = stack.ip6._default6()
            if netif is None:
                raise LwipError(errno.ENETUNREACH, "no netif for IPv6 multicast")
            return netif, addr
        return stack.netif_for_multicast(IPv4Address(interface) if interface is not None else None), addr

    def close(self) -> None:
        """``udp_remove``: leave joined groups and free the pcb.  Closing twice is harmless."""
        self._udp.stack.assert_core()
        if self.closed:
            return
        for netif, group in self.memberships:
            try:
                _leave(self._udp.stack, netif, group)
            except LwipError:
                pass  # the netif went away and took its memberships with it
        self.memberships.clear()
        self.closed = True
        self._udp.remove(self)

    def _check_open(self) -> None:
        if self.closed:
            raise LwipError(errno.EBADF, "the pcb is closed")

    def __repr__(self) -> str:
        remote = f" -> {self.remote_ip}:{self.remote_port}" if self.remote_ip is not None else ""
        return f"<UdpPcb {self.local_ip}:{self.local_port}{remote}>"


class Udp:
    """The UDP layer of one stack: its pcbs, input and output."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.pcbs: list[UdpPcb] = []
        self.by_port: dict[int, list[UdpPcb]] = {}
        self._ports = PortAllocator(stack.rng, "UDP")
        #: udp18: whether an ordinary IPv4 unicast takes the short way out (module doc); False: the full way always
        self.lean = True
        #: udp19: whether an ordinary IPv4 unicast received takes the short way in (:meth:`fast_input`), and the
        #: datagrams it took (a tally :attr:`Stack.stats <lwipy.core.stack.Stack.stats>` folds into the counters)
        self.fast_path = True
        self.fast_taken = 0
        # the packed IPv4 addresses fast_input met, as objects (shared by the datagrams: IPv4Address is immutable)
        self._addrs4: dict[bytes, IPv4Address] = {}
        cfg = stack.config  # frozen, and a stack's for life
        self._check_udp = cfg.checksum_check_udp
        self._full_input = self.input  # (what fast_input compares the stack's UDP handler with: made once)

    def new(self, ip6: bool = False) -> UdpPcb:
        """``udp_new`` (``udp_new_ip_type(IPADDR_TYPE_ANY)`` with ``ip6``: an IPv6 pcb, IPv4 too unless v6only).
        Raises ENOMEM when ``max_udp_pcbs`` exist."""
        self.stack.assert_core()
        if len(self.pcbs) >= self.stack.config.max_udp_pcbs:
            self.stack._stats.udp.memerr += 1
            self.stack.mem.refused(UDP_PCB)
            raise LwipError(errno.ENOMEM, f"all {self.stack.config.max_udp_pcbs} UDP pcbs are in use (max_udp_pcbs)")
        if ip6 and not self.stack.config.ipv6:
            raise LwipError(errno.EAFNOSUPPORT, "IPv6 is off (Config(ipv6=False))")
        pcb = UdpPcb(self, ip6)
        self.pcbs.append(pcb)
        self.stack.mem.alloc(UDP_PCB, self.stack.mem.sizes.udp_pcb)
        return pcb

    def remove(self, pcb: UdpPcb) -> None:
        if pcb in self.pcbs:
            self.pcbs.remove(pcb)
            self.stack.mem.free(UDP_PCB, self.stack.mem.sizes.udp_pcb)
        users = self.by_port.get(pcb.local_port)
        if users and pcb in users:
            users.remove(pcb)
            if not users:
                del self.by_port[pcb.local_port]

    def bind(self, pcb: UdpPcb, ip: IpAddress, port: int) -> None:
        if not 0 <= port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        if ip.version == 6:
            if ip != ANY6 and not ip.is_multicast and not self.stack.is_own_address6(ip.packed):
                raise LwipError(errno.EADDRNOTAVAIL, f"{ip} is not an address of this stack")
        elif ip != ANY and not ip.is_multicast and not any(
                n.ip4 is not None and n.ip4.ip == ip for n in self.stack.netifs):
            raise LwipError(errno.EADDRNOTAVAIL, f"{ip} is not an address of this stack")
        if pcb.is_ip6 and ip.version == 4:
            if pcb.v6only:
                raise LwipError(errno.EINVAL, "a V6ONLY pcb binds no IPv4 address")
            # an IPv4-mapped address: the pcb is an IPv4 one from now on, as lwIP unmaps it
        if port == 0:
            port = self._ports.allocate(self.by_port.__contains__)
        else:
            for other in self.by_port.get(port, ()):
                if other is pcb:
                    continue
                if addresses_overlap(ip, pcb.v6only, other.local_ip, other.v6only) and not (
                        pcb.reuse_addr and other.reuse_addr):
                    raise LwipError(errno.EADDRINUSE, f"UDP port {port} is in use on {other.local_ip}")
        if pcb.local_port:
            users = self.by_port.get(pcb.local_port, [])
            if pcb in users:
                users.remove(pcb)
                if not users:
                    del self.by_port[pcb.local_port]
        pcb.local_ip = ip
        pcb.local_port = port
        self.by_port.setdefault(port, []).append(pcb)

    # -- input -------------------------------------------------------------------------------------------------------
    def fast_input(self, netif: Netif, frame: bytes | bytearray | memoryview) -> bool:
        """udp19, the common datagram's short way in: an untagged IPv4 unicast to ``netif``'s MAC and address, a
        20-byte header, not a fragment, from a source that can be a peer, to a port that one pcb holds and takes it,
        delivered from one parse of the frame (no header objects, the addresses kept as objects per address), with
        the counters, checks and delivery of ``ethernet_input``, ``ip4_input`` and ``udp_input``.  False, with nothing
        changed, for anything else (a raw pcb, an ``ip4_input`` hook, NAPT on another netif, another UDP handler, a
        bad checksum or length, a port nobody or several pcbs hold...): the full way then takes it, and answers or
        counts what is wrong with it (``tests/core/test_udp_fast_input.py`` compares both ways)."""
        try:
            dst_mac, eth_ip, total, frag_proto, src, dst, sport, dport, ulen, csum = _FRAME.unpack_from(frame)
        except _StructError:
            return False  # shorter than the headers (42 bytes)
        if eth_ip & ETH_IP4_WORD_MASK != ETH_IP4_WORD or frag_proto & NOFRAG_PROTO_MASK != PROTO_UDP \
                or not self.fast_path:
            return False  # (the TOS byte masked out; DF may be set, the TTL is any)
        if dst_mac != netif.rx_mac or dst != netif.ip4_packed:
            return False  # (Netif.rx_mac: None unless the netif is up and untagged)
        end = 34 + ulen
        if ulen < 8 or 14 + total < end or len(frame) < 14 + total:
            return False  # (UdpHeader.parse's lengths, and Ipv4Header.parse's: a datagram cut short)
        s0 = src[0]
        if s0 == 0 or s0 == 127 or s0 >= 224 or src == netif.broadcast4_packed:
            return False  # ip4_input's sources (0.0.0.0 itself is taken there: the full way)
        stack = self.stack
        if stack.tcp.ip4_detour and stack.ip4_detours(netif, frame):
            return False  # a raw pcb, an ip4_input hook, NAPT first, or a bad header checksum (Tcp.ip4_detour)
        if _from_bytes(src) in stack._own4 or stack.protocols.get(PROTO_UDP) != self._full_input:
            return False
        if csum and self._check_udp and not netif.checksum_offload:
            # the sum from the IP source on (the pseudo-header's addresses, then the datagram: 26 and 34 are even)
            # with the pseudo-header's protocol and length added must be 0 modulo 0xFFFF (UdpHeader.verify)
            if end > 426 and type(frame) is not memoryview:
                value = _data_sum(frame[26:end])
            else:
                value = _from_bytes(frame[26:end])
                if ulen & 1:
                    value <<= 8
            if (value + PROTO_UDP + ulen) % _FOLD:
                return False
        pcbs = self.by_port.get(dport)
        if pcbs is None or len(pcbs) != 1:
            return False  # nobody's port (ICMP's port unreachable), or several pcbs to choose from: _match
        pcb = pcbs[0]
        if pcb.netif is not None and pcb.netif is not netif:
            return False
        addrs4 = self._addrs4
        src_ip = addrs4.get(src)
        dst_ip = addrs4.get(dst)
        if src_ip is None or dst_ip is None:
            if len(addrs4) >= _ADDRS_KEPT - 1:
                addrs4.clear()  # (both may be new: at most _ADDRS_KEPT kept)
            if src_ip is None:
                src_ip = addrs4[src] = IPv4Address(src)
            if dst_ip is None:
                dst_ip = addrs4[dst] = IPv4Address(dst)
        local = pcb.local_ip
        if local is not ANY:
            if type(local) is IPv6Address:
                if local != ANY6 or pcb.v6only:
                    return False  # an IPv6 address, or V6ONLY: no IPv4 here
            elif local != ANY and local != dst_ip:
                return False
        if pcb.remote_ip is not None and (pcb.remote_ip != src_ip or pcb.remote_port != sport):
            return False
        self.fast_taken += 1  # link.recv, ip.recv, udp.recv (Stack.stats folds this tally in when read)
        data = frame[42:end]
        self._deliver(pcb, Datagram(data if type(data) is bytes else bytes(data), src_ip, sport, dst_ip,
                                    netif.index))
        return True

    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stack = self.stack
        stats = stack._stats.udp
        stats.recv += 1
        try:
            hdr, payload = UdpHeader.parse(data)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        if hdr.checksum and stack.config.checksum_check_udp and not pkt.netif.checksum_offload:
            pseudo = pseudo_sum_v4(pkt.hdr.src, pkt.hdr.dst, PROTO_UDP, hdr.length)
            if not UdpHeader.verify(data[:hdr.length], pseudo):
                stats.chkerr += 1
                stats.drop += 1
                return
        targets = self._match(pkt, hdr)
        if not targets:
            stats.proterr += 1
            stats.drop += 1
            stack.icmp.send_error(pkt, icmpw.DEST_UNREACH, icmpw.UNREACH_PORT)
            return
        dgram = Datagram(bytes(payload), pkt.src, hdr.src_port, pkt.dst, pkt.netif.index)
        for pcb in targets:
            self._deliver(pcb, dgram)

    def _match(self, pkt: "InPacket", hdr: UdpHeader) -> list[UdpPcb]:
        """lwIP's ``udp_input`` choice: the first connected pcb whose remote end is the sender, else the first
        unconnected one; for broadcast and multicast with ``SO_REUSE_RXTOALL``, every matching pcb that reuses."""
        candidates = self.by_port.get(hdr.dst_port)
        if not candidates:
            return []
        netif = pkt.netif
        subnet = netif.ip4.network if netif.ip4 is not None else None
        exact: UdpPcb | None = None
        matching: list[UdpPcb] = []
        for pcb in candidates:
            if pcb.netif is not None and pcb.netif is not netif:
                continue
            local = pcb.local_ip
            if type(local) is IPv6Address:
                if local != ANY6 or pcb.v6only:
                    continue  # an IPv6 address, or V6ONLY: no IPv4 here
            elif local != ANY and local != pkt.dst and not (pkt.broadcast and subnet is not None and local in subnet):
                continue
            if pcb.remote_ip is None:
                matching.append(pcb)
            elif pcb.remote_ip == pkt.src and pcb.remote_port == hdr.src_port:
                matching.append(pcb)
                if exact is None:
                    exact = pcb
        return self._pick(matching, exact, pkt.dst, pkt.unicast)

    def _pick(self, matching: list[UdpPcb], exact: UdpPcb | None, dst: IpAddress, unicast: bool) -> list[UdpPcb]:
        """lwIP's choice among the pcbs a datagram matches: the connected one, else one bound to the destination,
        else the first unconnected one; every one that reuses for broadcast and multicast with SO_REUSE_RXTOALL."""
        if not matching:
            return []
        first = (exact or next((p for p in matching if p.remote_ip is None and p.local_ip == dst), None)
                 or next((p for p in matching if p.remote_ip is None), matching[0]))
        if not unicast and first.reuse_addr and self.stack.config.so_reuse_rxtoall:
            return [p for p in matching if p.reuse_addr]
        return [first]

    def input6(self, pkt: "InPacket6", data: memoryview) -> None:
        """A datagram over IPv6: checksum required (RFC 8200 8.1), then the same choice of pcb as over IPv4."""
        stack = self.stack
        stats = stack._stats.udp
        stats.recv += 1
        try:
            hdr, payload = UdpHeader.parse(data)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        if not pkt.netif.checksum_offload and (
                not hdr.checksum or not UdpHeader.verify(data[:hdr.length],
                                                         pseudo_sum_v6(pkt.src, pkt.dst, PROTO_UDP, hdr.length))):
            stats.chkerr += 1
            stats.drop += 1
            return
        src, dst = IPv6Address(pkt.src), IPv6Address(pkt.dst)
        exact: UdpPcb | None = None
        matching: list[UdpPcb] = []
        for pcb in self.by_port.get(hdr.dst_port, ()):
            if not pcb.is_ip6 or (pcb.netif is not None and pcb.netif is not pkt.netif):
                continue
            if pcb.local_ip != ANY6 and pcb.local_ip != dst:
                continue
            if pcb.remote_ip is None:
                matching.append(pcb)
            elif pcb.remote_ip == src and pcb.remote_port == hdr.src_port:
                matching.append(pcb)
                exact = exact or pcb
        targets = self._pick(matching, exact, dst, pkt.unicast)
        if not targets:
            stats.proterr += 1
            stats.drop += 1
            stack.icmp6.send_error(pkt, icmp6w.DEST_UNREACH, icmp6w.UNREACH_PORT)
            return
        dgram = Datagram(bytes(payload), src, hdr.src_port, dst, pkt.netif.index)
        for pcb in targets:
            self._deliver(pcb, dgram)

    def icmp6_error(self, type_: int, code: int, rest: int, inner: "Ipv6Header", quoted: memoryview) -> None:
        """An ICMPv6 error quoting a datagram we sent: tell the connected pcb it came from."""
        err = _ICMP6_ERRNO.get((type_, code))
        if err is None or len(quoted) < 4:
            return
        sport, dport = int.from_bytes(quoted[0:2], "big"), int.from_bytes(quoted[2:4], "big")
        dst = IPv6Address(inner.dst)
        for pcb in self.by_port.get(sport, ()):
            if pcb.remote_ip == dst and pcb.remote_port == dport:
                pcb.error = err
                if pcb.on_event is not None:
                    pcb.on_event(pcb)

    def _deliver(self, pcb: UdpPcb, dgram: Datagram) -> None:
        if pcb.on_recv is not None:
            pcb.on_recv(pcb, dgram)
            return
        if len(pcb.queue) >= self.stack.config.udp_recvmbox_size:
            self.stack._stats.udp.memerr += 1
            self.stack._stats.udp.drop += 1
            return
        pcb.queue.append(dgram)
        if pcb.on_event is not None:
            pcb.on_event(pcb)

    def icmp_error(self, type_: int, code: int, inner: Ipv4Header, quoted: memoryview) -> None:
        """An ICMP error quoting a datagram we sent: tell the connected pcb it came from."""
        if len(quoted) < 4:
            return
        sport = int.from_bytes(quoted[0:2], "big")
        dport = int.from_bytes(quoted[2:4], "big")
        err = _ICMP_ERRNO.get((type_, code))
        if err is None:
            return
        dst = IPv4Address(inner.dst)
        for pcb in self.by_port.get(sport, ()):
            if pcb.remote_ip == dst and pcb.remote_port == dport:
                pcb.error = err
                if pcb.on_event is not None:
                    pcb.on_event(pcb)

    # -- output ------------------------------------------------------------------------------------------------------
    def send(self, pcb: UdpPcb, data: bytes | bytearray | memoryview, dst: IPv4Address, dport: int,
             out: Netif | None = None) -> None:
        """``udp_sendto`` (``out`` None: the pcb's netif, else a route) or ``udp_sendto_if`` (out of ``out``).  Out of
        a named netif (``out``, or the pcb's, lwIP's ``netif_idx``) that has no IPv4 address, the datagram leaves
        from 0.0.0.0."""
        stack = self.stack
        stats = stack._stats.udp
        if type(data) is not bytes and type(data) is not bytearray:
            data = memoryview(data).cast("B")  # (a buffer of wider items: its length in bytes, not items)
        if not 0 < dport < 0x10000:
            raise LwipError(errno.EINVAL, f"port {dport} out of range")
        if len(data) > MAX_PAYLOAD:
            stats.err += 1
            raise LwipError(errno.EMSGSIZE, f"{len(data)} bytes exceed the largest UDP payload ({MAX_PAYLOAD})")
        if not pcb.local_port:
            self.bind(pcb, pcb.local_ip, 0)
        if out is None and self.lean and pcb.netif is None:
            way = pcb._way
            if way is None or way[0] != stack.way_generation or way[1] != dst or way[2] is not pcb.local_ip \
                    or way[3] is not stack.hooks.ip4_route_src:
                way = self._lean_way(pcb, dst)
            if way is not None:
                # (the full way's steps below, without its objects: the payload copied once behind room for the
                # headers, the UDP header written in place as UdpHeader.emit writes it)
                _, _, _, _, netif, next_hop, src_b, dst_b = way
                pbuf = Pbuf.with_payload(data)
                length = HEADER_LEN + len(data)
                emit_header(pbuf.buf, pbuf.push(HEADER_LEN), pcb.local_port, dport, length,
                            None if pcb.no_checksum else pseudo_sum_v4(src_b, dst_b, PROTO_UDP, length))
                ttl = pcb.ttl
                stack.ip4.output_routed(pbuf, netif, next_hop, src_b, dst_b, PROTO_UDP,
                                        stack.config.ip_default_ttl if ttl is None else ttl, pcb.tos)
                stats.xmit += 1
                return
        netif = out or pcb.netif
        named = netif is not None
        multicast = is_multicast4(dst)
        if netif is None and multicast:
            netif = stack.netif_for_multicast(pcb.multicast_if)
        src = pcb.local_ip
        if netif is None:
            found = stack.ip4.route(dst, src if type(src) is IPv4Address and src != ANY else None)
            if found is None:
                stats.rterr += 1
                raise stack.routes.unreachable(dst)
            netif = found[0]
        if type(src) is not IPv4Address or src == ANY or is_multicast4(src):
            if netif.ip4 is not None:
                src = netif.ip4.ip
            elif named:
                src = ANY  # udp_sendto_if: "use outgoing network interface IP address", 0.0.0.0 before DHCP
            else:
                stats.rterr += 1
                raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} has no IPv4 address to send from")
        pbuf = Pbuf.with_payload(data)
        length = HEADER_LEN + len(data)
        pseudo = None if pcb.no_checksum else pseudo_sum_v4(src.packed, dst.packed, PROTO_UDP, length)
        UdpHeader(pcb.local_port, dport, length).emit(pbuf.buf, pbuf.push(HEADER_LEN), pseudo)
        ttl = pcb.multicast_ttl if multicast else pcb.ttl
        stack.ip4.output(pbuf, src, dst, PROTO_UDP, ttl=ttl, tos=pcb.tos, netif=netif, any_src=named,
                         multicast_loop=multicast and pcb.multicast_loop)
        stats.xmit += 1

    def _lean_way(self, pcb: UdpPcb, dst: IPv4Address) -> tuple | None:
        """udp18: the way out of an IPv4 unicast from ``pcb`` (no named netif) to ``dst``, as the full way below finds
        it: (what it was found from: ``Stack.way_generation``, ``dst``, the pcb's local address and the routing hook;
        then the netif, the next hop and the source and destination addresses packed), kept in ``pcb._way``.  None,
        and nothing kept, when the full way must send: a multicast destination or source, a routing hook of the
        user's (it may answer differently each time), no route, or no address to send from (the full way counts and
        raises those)."""
        stack = self.stack
        hook = stack.hooks.ip4_route_src
        local = pcb.local_ip
        if is_multicast4(dst) or (hook is not None and hook is not esp_ip4_route_src) or type(local) is not IPv4Address:
            return None
        generation = stack.way_generation  # (read before what it stands for)
        if local == ANY:
            found = stack.routes.lookup(dst)
        elif is_multicast4(local):
            return None
        else:
            found = stack.ip4.route_src(local, dst)
        if found is None:
            return None
        netif = found[0]
        if local != ANY:
            src = local
        elif netif.ip4 is not None:
            src = netif.ip4.ip
        else:
            return None
        way = pcb._way = (generation, dst, local, hook, netif, stack.ip4.next_hop(netif, dst), src.packed, dst.packed)
        return way

    def send6(self, pcb: UdpPcb, data: bytes | bytearray | memoryview, dst: IPv6Address, dport: int,
              netif: Netif | None) -> None:
        """A datagram over IPv6 (its checksum always computed: it is mandatory there)."""
        stack = self.stack
        stats = stack._stats.udp
        if type(data) is not bytes and type(data) is not bytearray:
            data = memoryview(data).cast("B")
        if not 0 < dport < 0x10000:
            raise LwipError(errno.EINVAL, f"port {dport} out of range")
        if len(data) > 65535 - HEADER_LEN:
            stats.err += 1
            raise LwipError(errno.EMSGSIZE, f"{len(data)} bytes exceed the largest UDP payload")
        if not pcb.local_port:
            self.bind(pcb, pcb.local_ip, 0)
        d = dst.packed
        multicast = is_multicast6(d)
        if netif is None:
            netif = pcb.netif or (pcb.multicast_netif6 if multicast else None)
        local = pcb.local_ip
        via = stack.ip6.route(d, netif, local.packed if isinstance(local, IPv6Address) and local != ANY6 else None)
        out = via[0]
        if isinstance(local, IPv6Address) and local != ANY6 and not local.is_multicast:
            src: bytes | None = local.packed
        else:
            src = stack.ip6.select_source(out, d)
        if src is None:
            stats.rterr += 1
            raise LwipError(errno.EADDRNOTAVAIL, f"{out.name} has no usable IPv6 address to send from")
        pbuf = Pbuf.with_payload(data)
        length = HEADER_LEN + len(data)
        UdpHeader(pcb.local_port, dport, length).emit(pbuf.buf, pbuf.push(HEADER_LEN),
                                                      pseudo_sum_v6(src, d, PROTO_UDP, length))
        hops = pcb.multicast_ttl if multicast else pcb.hop_limit
        stack.ip6.output(pbuf, src, d, PROTO_UDP, hop_limit=hops, via=via, multicast_loop=multicast and pcb.multicast_loop)
        stats.xmit += 1


def _leave(stack: "Stack", netif: Netif, group: IpAddress) -> None:
    if group.version == 6:
        stack.mld6.leave(netif, group.packed)
    else:
        assert isinstance(group, IPv4Address)
        stack.igmp.leave(netif, group)

