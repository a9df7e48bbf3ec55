"""UDP (RFC 768) with lwIP's pcb semantics.

A datagram goes to the pcb that matches it best: one connected to its source, else one bound to its destination port
and address (or to any address).  Broadcast and multicast datagrams go to every matching pcb when the first has
``reuse_addr`` set and ``so_reuse_rxtoall`` is on (``SO_REUSE_RXTOALL``).  A unicast datagram that no pcb takes is
answered with ICMP port unreachable.  A received checksum of 0 means "none" and is accepted (RFC 768).
"""

from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable

from ..errors import LwipError, Malformed
from ..wire import icmp as icmpw
from ..wire.checksum import pseudo_sum_v4
from ..wire.ipv4 import PROTO_UDP, Ipv4Header
from ..wire.udp import HEADER_LEN, UdpHeader
from .addr import ip4, is_multicast4
from .pbuf import Pbuf
from .ports import PortAllocator

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .netif import Netif
    from .stack import Stack

__all__ = ["Udp", "UdpPcb", "Datagram"]

ANY = IPv4Address(0)
MAX_PAYLOAD = 65535 - 20 - HEADER_LEN

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
    src: IPv4Address
    src_port: int
    dst: IPv4Address
    netif_index: int


class UdpPcb:
    """A UDP endpoint.  Make one with :meth:`Udp.new`.

    Received datagrams go to ``on_recv(pcb, datagram)`` when set, else into ``queue`` (at most ``udp_recvmbox_size``;
    more are dropped and counted), after which ``on_event(pcb)`` is called if set.  ``error`` holds the errno of the
    last ICMP error for a connected pcb (ECONNREFUSED for a port unreachable) until :meth:`take_error` reads it.
    """

    def __init__(self, udp: "Udp") -> None:
        self._udp = udp
        self.local_ip: IPv4Address = ANY
        self.local_port = 0
        self.remote_ip: IPv4Address | None = None
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
        self.memberships: list[tuple[Netif, IPv4Address]] = []

    @property
    def connected(self) -> bool:
        return self.remote_ip is not None

    def bind(self, ip: str | IPv4Address | None = None, port: int = 0) -> None:
        """``udp_bind``: a local address (None or 0.0.0.0 for any) and port (0 picks a free ephemeral one)."""
        self._udp.stack.assert_core()
        self._check_open()
        self._udp.bind(self, IPv4Address(ip) if ip is not None else ANY, port)

    def connect(self, ip: str | IPv4Address, port: int) -> None:
        """``udp_connect``: fix the remote end (binding an ephemeral port first if unbound)."""
        self._udp.stack.assert_core()
        self._check_open()
        if not 0 < port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        if not self.local_port:
            self.bind(self.local_ip, 0)
        self.remote_ip = IPv4Address(ip)
        self.remote_port = port

    def disconnect(self) -> None:
        self._udp.stack.assert_core()
        self.remote_ip = None
        self.remote_port = 0

    def sendto(self, data: bytes | bytearray | memoryview, ip: str | IPv4Address, port: int) -> None:
        """Send one datagram.  Raises :class:`LwipError` with the errno a socket would see (EHOSTUNREACH, EMSGSIZE,
        ENOMEM when the driver's queue is full...)."""
        self._udp.stack.assert_core()
        self._check_open()
        self._udp.send(self, data, ip4(ip), port)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send to the connected remote end."""
        self._udp.stack.assert_core()
        if self.remote_ip is None:
            raise LwipError(errno.EDESTADDRREQ, "the pcb is not connected; use sendto")
        self.sendto(data, self.remote_ip, self.remote_port)

    def recv(self) -> Datagram | None:
        """The oldest queued datagram, or None."""
        self._udp.stack.assert_core()
        return self.queue.popleft() if self.queue else None

    def take_error(self) -> int:
        """Read and clear the pending error (``SO_ERROR``)."""
        self._udp.stack.assert_core()
        err, self.error = self.error, 0
        return err

    def join_group(self, group: str | IPv4Address, interface: str | IPv4Address | None = None) -> None:
        """``IP_ADD_MEMBERSHIP``: join ``group`` on the netif with address ``interface`` (None: the default netif)."""
        self._udp.stack.assert_core()
        self._check_open()
        netif = self._udp.stack.netif_for_multicast(IPv4Address(interface) if interface is not None else None)
        group = IPv4Address(group)
        self._udp.stack.igmp.join(netif, group)
        self.memberships.append((netif, group))

    def leave_group(self, group: str | IPv4Address, interface: str | IPv4Address | None = None) -> None:
        self._udp.stack.assert_core()
        netif = self._udp.stack.netif_for_multicast(IPv4Address(interface) if interface is not None else None)
        group = IPv4Address(group)
        if (netif, group) not in self.memberships:
            raise LwipError(errno.EADDRNOTAVAIL, f"not a member of {group} on {netif.name}")
        self.memberships.remove((netif, group))
        self._udp.stack.igmp.leave(netif, group)

    def close(self) -> None:
        """``udp_remove``: leave joined groups and free the pcb.  Closing twice is harmless."""
        self._udp.stack.assert_core()
        if self.closed:
            return
        for netif, group in self.memberships:
            try:
                self._udp.stack.igmp.leave(netif, group)
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

    def new(self) -> UdpPcb:
        """``udp_new``: a fresh pcb.  Raises ENOMEM when ``max_udp_pcbs`` exist."""
        self.stack.assert_core()
        if len(self.pcbs) >= self.stack.config.max_udp_pcbs:
            self.stack.stats.udp.memerr += 1
            raise LwipError(errno.ENOMEM, f"all {self.stack.config.max_udp_pcbs} UDP pcbs are in use (max_udp_pcbs)")
        pcb = UdpPcb(self)
        self.pcbs.append(pcb)
        return pcb

    def remove(self, pcb: UdpPcb) -> None:
        if pcb in self.pcbs:
            self.pcbs.remove(pcb)
        users = self.by_port.get(pcb.local_port)
        if users and pcb in users:
            users.remove(pcb)
            if not users:
                del self.by_port[pcb.local_port]

    def bind(self, pcb: UdpPcb, ip: IPv4Address, port: int) -> None:
        if not 0 <= port < 0x10000:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        if ip != ANY and not ip.is_multicast and not any(
                n.ip4 is not None and n.ip4.ip == ip for n in self.stack.netifs):
            raise LwipError(errno.EADDRNOTAVAIL, f"{ip} is not an address of this stack")
        if port == 0:
            port = self._ports.allocate(self.by_port.__contains__)
        else:
            for other in self.by_port.get(port, ()):
                if other is pcb:
                    continue
                if (other.local_ip == ANY or ip == ANY or other.local_ip == ip) and not (
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
    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stack = self.stack
        stats = stack.stats.udp
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
            if local != ANY and local != pkt.dst and not (pkt.broadcast and subnet is not None and local in subnet):
                continue
            if pcb.remote_ip is None:
                matching.append(pcb)
            elif pcb.remote_ip == pkt.src and pcb.remote_port == hdr.src_port:
                matching.append(pcb)
                if exact is None:
                    exact = pcb
        if not matching:
            return []
        first = (exact or next((p for p in matching if p.remote_ip is None and p.local_ip == pkt.dst), None)
                 or next((p for p in matching if p.remote_ip is None), matching[0]))
        if not pkt.unicast and first.reuse_addr and self.stack.config.so_reuse_rxtoall:
            return [p for p in matching if p.reuse_addr]
        return [first]

    def _deliver(self, pcb: UdpPcb, dgram: Datagram) -> None:
        if pcb.on_recv is not None:
            pcb.on_recv(pcb, dgram)
            return
        if len(pcb.queue) >= self.stack.config.udp_recvmbox_size:
            self.stack.stats.udp.memerr += 1
            self.stack.stats.udp.drop += 1
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
    def send(self, pcb: UdpPcb, data: bytes | bytearray | memoryview, dst: IPv4Address, dport: int) -> None:
        stack = self.stack
        stats = stack.stats.udp
        if not 0 < dport < 0x10000:
            raise LwipError(errno.EINVAL, f"port {dport} out of range")
        if len(data) > MAX_PAYLOAD:
            stats.err += 1
            raise LwipError(errno.EMSGSIZE, f"{len(data)} bytes exceed the largest UDP payload ({MAX_PAYLOAD})")
        if not pcb.local_port:
            self.bind(pcb, pcb.local_ip, 0)
        netif = pcb.netif
        multicast = is_multicast4(dst)
        if netif is None and multicast:
            netif = stack.netif_for_multicast(pcb.multicast_if)
        if netif is None:
            found = stack.ip4.route(dst)
            if found is None:
                stats.rterr += 1
                raise stack.routes.unreachable(dst)
            netif = found[0]
        src = pcb.local_ip
        if src == ANY or is_multicast4(src):
            if netif.ip4 is None:
                stats.rterr += 1
                raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} has no IPv4 address to send from")
            src = netif.ip4.ip
        pbuf = Pbuf.with_payload(data)
        length = HEADER_LEN + len(data)
        pseudo = None if pcb.no_checksum else pseudo_sum_v4(src.packed, dst.packed, PROTO_UDP, length)
        UdpHeader(pcb.local_port, dport, length).emit(pbuf.buf, pbuf.push(HEADER_LEN), pseudo)
        if multicast and pcb.multicast_loop and stack.igmp.is_member(netif, dst):
            stack.loop_output(netif, _ip_copy(stack, pbuf, src, dst, pcb.multicast_ttl, pcb.tos))
        ttl = pcb.multicast_ttl if multicast else pcb.ttl
        stack.ip4.output(pbuf, src, dst, PROTO_UDP, ttl=ttl, tos=pcb.tos, netif=netif)
        stats.xmit += 1


def _ip_copy(stack: "Stack", pbuf: Pbuf, src: IPv4Address, dst: IPv4Address, ttl: int, tos: int) -> Pbuf:
    """A full IP packet copy of a UDP datagram, for the multicast loopback (``IP_MULTICAST_LOOP``)."""
    copy = Pbuf.with_payload(pbuf.view())
    hdr = Ipv4Header(src.packed, dst.packed, PROTO_UDP, ttl, tos, 0, False, False, 0, 20 + len(pbuf))
    hdr.emit(copy.buf, copy.push(20))
    return copy
