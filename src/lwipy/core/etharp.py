"""ARP over Ethernet (RFC 826), as lwIP's ``etharp``: a bounded cache with deadlines, queues for unresolved addresses.

Theory of operation
-------------------
An entry is PENDING from the first packet that needs it until a reply arrives: the request is sent at once and once a
second until ``arp_maxpending`` passes, and up to ``arp_queue_len`` packets wait on it (when full, the new packet is
dropped, as ESP's ``ESP_LWIP_ARP``).  A reply makes it STABLE for ``arp_maxage``; an entry that is used in its last
30 seconds is asked for again by unicast so that traffic does not stall when it expires.  STATIC entries never expire.
When the table is full, the oldest stable entry gives way, then the oldest pending one; static entries never do.
Every netif with an address announces it with a gratuitous ARP when the address is set and, with
``esp_gratuitous_arp``, every ``garp_tmr_interval`` seconds.
"""

from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from ..errors import LwipError, Malformed
from ..wire.arp import OP_REPLY, OP_REQUEST, PACKET_LEN, ArpPacket
from ..wire.ethernet import BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, mac_from_str
from .events import ArpReplyReceived, Ip4AddressChanged
from .neighbor_entry import RefreshAt
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["Etharp", "ArpEntry", "PENDING", "STABLE", "STATIC"]

PENDING = "pending"
STABLE = "stable"
STATIC = "static"
_REREQUEST_BEFORE = 30.0
_ZERO_MAC = bytes(6)
_NEVER = float("inf")
_ANY = IPv4Address(0)


@dataclass(slots=True, eq=False)
class ArpEntry(RefreshAt):
    ip: IPv4Address
    netif: "Netif"
    state: str
    mac: bytes | None = None
    created: float = 0.0
    expires: float = _NEVER
    next_request: float | None = None
    rerequested: bool = False
    queue: deque = field(default_factory=deque)
    #: way13: from when the next packet asks for the entry again first (:meth:`refresh_due`): ``expires`` less 30 s
    #: for a STABLE entry not asked for again yet, else never; worked out whenever ``state``, ``rerequested`` or
    #: ``expires`` is written, so that the short ways test it in one comparison
    refresh_at: float = field(default=_NEVER, init=False, repr=False)
    _REFRESH_FROM = frozenset(("state", "rerequested", "expires"))  # (not a field: RefreshAt's)

    def _refresh_due(self) -> float:
        return self.expires - _REREQUEST_BEFORE if self.state == STABLE and not self.rerequested else _NEVER

    def refresh_due(self, now: float) -> bool:
        """Whether the next packet to this resolved entry asks for it again first (``etharp_output``: a STABLE
        entry within 30 s of its expiry, not asked for again yet: :attr:`refresh_at`)."""
        return now >= self.refresh_at

    def ready_mac(self, now: float) -> bytes | None:
        """The MAC a short way (a fast path that writes its frames itself) may send to now; None while the entry is
        unresolved or due a refresh, which are :meth:`Etharp.output`'s work."""
        mac = self.mac
        if mac is None or self.refresh_due(now):
            return None
        return mac


class Etharp:
    """The ARP cache and ARP protocol of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.table: dict[tuple[int, IPv4Address], ArpEntry] = {}
        #: moves on whenever an entry enters or leaves :attr:`table` (the ICMP echo fast path and
        #: TcpOutput._neighbour_mac keep entries by it)
        self.generation = 0

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "generation":  # way13: kept ways out hold entries (Stack.way_generation)
            self.stack.way_generation += 1

    # -- public ------------------------------------------------------------------------------------------------------
    def add_static(self, ip: str | IPv4Address, mac: bytes | str, netif: "Netif | None" = None) -> ArpEntry:
        """``etharp_add_static_entry``: a permanent mapping (the netif is found by route when not given).  ``mac``
        is six bytes or text (``"02:00:00:00:00:01"``), as :meth:`Stack.add_netif`'s ``hwaddr``."""
        self.stack.assert_core()
        ip = IPv4Address(ip)
        if isinstance(mac, str):
            mac = mac_from_str(mac)
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(mac)}")
        if netif is None:
            found = self.stack.routes.lookup(ip)
            if found is None:
                raise ValueError(f"no netif reaches {ip}; give the netif")
            netif = found[0]
        entry = self.table.get((netif.index, ip)) or self._new_entry(netif, ip, STATIC)
        if entry is None:
            raise LwipError(errno.ENOMEM, "the ARP table is full of static entries (arp_table_size)")
        entry.state, entry.mac, entry.expires = STATIC, bytes(mac), _NEVER
        entry.next_request, entry.rerequested = None, False
        self._flush_queue(entry)
        return entry

    def remove(self, ip: str | IPv4Address, netif: "Netif | None" = None) -> None:
        self.stack.assert_core()
        ip = IPv4Address(ip)
        for key in [k for k, e in self.table.items() if e.ip == ip and (netif is None or e.netif is netif)]:
            del self.table[key]
            self.generation += 1

    def lookup(self, ip: str | IPv4Address, netif: "Netif | None" = None) -> bytes | None:
        """The MAC resolved for ``ip`` (None when unknown or still pending)."""
        ip = IPv4Address(ip)
        for entry in self.table.values():
            if entry.ip == ip and entry.mac is not None and (netif is None or entry.netif is netif):
                return entry.mac
        return None

    def entries(self) -> list[ArpEntry]:
        return list(self.table.values())

    # -- output ------------------------------------------------------------------------------------------------------
    def output(self, netif: "Netif", pbuf: Pbuf, next_hop: IPv4Address) -> bool:
        """Send an IP packet to ``next_hop`` (unicast) on ``netif``, resolving it first.  False when dropped."""
        stack = self.stack
        entry = self.table.get((netif.index, next_hop))
        if entry is not None and entry.mac is not None:
            stack._stats.etharp.cachehit += 1
            if entry.refresh_due(stack.now):
                entry.rerequested = True
                self.request(netif, next_hop, entry.mac)
            return stack._link_output(netif, pbuf, entry.mac, ETHERTYPE_IPV4)  # (way14: the property's field)
        if entry is None:
            entry = self._new_entry(netif, next_hop, PENDING)
            if entry is None:
                stack._stats.etharp.memerr += 1
                stack._stats.etharp.drop += 1
                return False
            entry.expires = stack.now + stack.config.arp_maxpending
            entry.next_request = stack.now + 1.0
            stack.timer_armed(min(entry.expires, entry.next_request))
            self.request(netif, next_hop)
        if len(entry.queue) >= stack.config.arp_queue_len:
            stack._stats.etharp.memerr += 1
            stack._stats.etharp.drop += 1
            return False
        entry.queue.append(pbuf)
        return True

    def request(self, netif: "Netif", target: IPv4Address, unicast_mac: bytes | None = None) -> None:
        """``etharp_request``: ask who has ``target`` (broadcast, or unicast to refresh a known entry)."""
        if netif.ip4 is None:
            return
        self._send(netif, OP_REQUEST, unicast_mac or BROADCAST, netif.ip4.ip.packed, _ZERO_MAC, target.packed)

    def probe(self, netif: "Netif", target: IPv4Address) -> None:
        """An ARP request for ``target`` from a netif that may have no address yet: the sender address is the
        netif's, or 0.0.0.0 (RFC 5227 2.1.1's probe; what lwIP's ``dhcp_check`` sends through ``etharp_query``)."""
        spa = netif.ip4.ip.packed if netif.ip4 is not None else bytes(4)
        self._send(netif, OP_REQUEST, BROADCAST, spa, _ZERO_MAC, target.packed)

    @property
    def _reply_watched(self) -> bool:
        return self.stack.events.has_subscribers(ArpReplyReceived)

    def gratuitous(self, netif: "Netif") -> None:
        """``etharp_gratuitous``: a broadcast request for our own address, telling the segment our MAC."""
        if netif.ip4 is not None and netif.is_usable and netif.is_ethernet:
            own = netif.ip4.ip.packed
            self._send(netif, OP_REQUEST, BROADCAST, own, _ZERO_MAC, own)

    def netif_event(self, event: Any) -> None:
        """A netif came up, got its link, or changed its address (a subscriber of :mod:`.events`): announce the
        address with a gratuitous ARP now and, with ``esp_gratuitous_arp``, every ``garp_tmr_interval``."""
        netif = event.netif
        if not netif.is_ethernet or netif not in self.stack.netifs:
            return  # the loopback and point-to-point netifs have no ARP
        if netif.ip4 is not None and netif.is_usable and (isinstance(event, Ip4AddressChanged) or netif.garp_at is None):
            self.gratuitous(netif)
            cfg = self.stack.config
            netif.garp_at = self.stack.now + cfg.garp_tmr_interval if cfg.esp_gratuitous_arp else None
            if netif.garp_at is not None:
                self.stack.timer_armed(netif.garp_at)
        elif netif.ip4 is None or not netif.is_usable:
            netif.garp_at = None

    def _send(self, netif: "Netif", op: int, eth_dst: bytes, spa: bytes, tha: bytes, tpa: bytes) -> None:
        pbuf = Pbuf.alloc(PACKET_LEN)
        ArpPacket(op, netif.hwaddr, spa, tha, tpa).emit(pbuf.buf, pbuf.start)
        self.stack._stats.etharp.xmit += 1
        self.stack.link_output(netif, pbuf, eth_dst, ETHERTYPE_ARP)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, netif: "Netif", data: memoryview) -> None:
        stats = self.stack._stats.etharp
        stats.recv += 1
        try:
            pkt = ArpPacket.parse(data)
        except Malformed:
            if len(data) < PACKET_LEN:
                stats.lenerr += 1
            else:
                stats.proterr += 1
            stats.drop += 1
            return
        if pkt.sender_mac == netif.hwaddr or pkt.sender_mac[0] & 1:
            stats.drop += 1  # our own frame looped back, or a multicast sender MAC (RFC 1812 3.3.2)
            return
        if pkt.op == OP_REPLY and self._reply_watched:
            self.stack.events.emit(ArpReplyReceived(netif, IPv4Address(pkt.sender_ip), pkt.sender_mac))
        if netif.ip4 is None:
            # lwIP's etharp_input still refreshes an entry it has (ETHARP_FLAG_FIND_ONLY), so that a packet queued
            # before the address went (DHCP's RELEASE) leaves; it answers nothing and learns nothing new
            entry = self.table.get((netif.index, IPv4Address(pkt.sender_ip)))
            if entry is not None and entry.state != STATIC:
                self._resolved(entry, pkt.sender_mac)
            stats.drop += 1
            return
        own = netif.ip4.ip.packed
        sender = IPv4Address(pkt.sender_ip)
        if pkt.sender_ip == own:
            stats.err += 1  # someone else claims our address; a conflict, not to be cached
            stats.drop += 1
            return
        if sender == _ANY and pkt.op == OP_REQUEST and pkt.target_ip == own:
            # an RFC 5227 probe for our address (a DHCP client's ARP check): lwIP's etharp_input answers it, to the
            # prober's MAC, and learns nothing from it
            stats.drop += 1
            self._send(netif, OP_REPLY, pkt.sender_mac, own, pkt.sender_mac, pkt.sender_ip)
            return
        if sender == _ANY or sender.is_multicast or netif.is_broadcast4(sender) or sender.is_reserved:
            stats.drop += 1  # lwIP's etharp_update_arp_entry refuses these: they are no neighbour's address
            return
        for_us = pkt.target_ip == own
        entry = self.table.get((netif.index, sender))
        if entry is not None and entry.state != STATIC:
            self._resolved(entry, pkt.sender_mac)
        elif entry is None and for_us:
            entry = self._new_entry(netif, sender, STABLE)
            if entry is not None:
                self._resolved(entry, pkt.sender_mac)
        if pkt.op == OP_REQUEST and for_us:
            self._send(netif, OP_REPLY, pkt.sender_mac, own, pkt.sender_mac, pkt.sender_ip)

    def _resolved(self, entry: ArpEntry, mac: bytes) -> None:
        entry.created = self.stack.now  # the age eviction goes by, as lwIP's ctime: reset on every update
        entry.mac = mac
        entry.state = STABLE
        entry.expires = self.stack.now + self.stack.config.arp_maxage
        self.stack.timer_armed(entry.expires)
        entry.next_request = None
        entry.rerequested = False
        self._flush_queue(entry)

    def _flush_queue(self, entry: ArpEntry) -> None:
        mac = entry.mac
        assert mac is not None
        while entry.queue:
            self.stack.link_output(entry.netif, entry.queue.popleft(), mac, ETHERTYPE_IPV4)

    def _new_entry(self, netif: "Netif", ip: IPv4Address, state: str) -> ArpEntry | None:
        if len(self.table) >= self.stack.config.arp_table_size and not self._evict():
            return None
        entry = ArpEntry(ip, netif, state, created=self.stack.now)
        self.table[(netif.index, ip)] = entry
        self.generation += 1
        return entry

    def _evict(self) -> bool:
        for state in (STABLE, PENDING):
            victims = [e for e in self.table.values() if e.state == state]
            if victims:
                oldest = min(victims, key=lambda e: e.created)
                self._drop(oldest)
                return True
        return False

    def _drop(self, entry: ArpEntry) -> None:
        del self.table[(entry.netif.index, entry.ip)]
        self.generation += 1
        if entry.queue:
            self.stack._stats.etharp.drop += len(entry.queue)
            entry.queue.clear()

    # -- time --------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        for entry in list(self.table.values()):
            if now >= entry.expires:
                self._drop(entry)
            elif entry.next_request is not None and now >= entry.next_request:
                entry.next_request = now + 1.0
                self.request(entry.netif, entry.ip)
        garp = self.stack.config.esp_gratuitous_arp
        for netif in self.stack.netifs:
            if netif.garp_at is not None and now >= netif.garp_at:
                self.gratuitous(netif)
                netif.garp_at = now + self.stack.config.garp_tmr_interval if garp else None

    def poll_at(self) -> float | None:
        due = _NEVER  # expires is _NEVER for static entries, which never time out
        for e in self.table.values():
            t = e.expires
            if t < due:
                due = t
            t = e.next_request
            if t is not None and t < due:
                due = t
        for n in self.stack.netifs:
            t = n.garp_at
            if t is not None and t < due:
                due = t
        return None if due == _NEVER else due
