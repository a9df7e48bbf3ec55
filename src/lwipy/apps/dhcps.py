"""The DHCP server, as ESP-IDF's ``dhcpserver.c`` (a SoftAP's): :class:`DhcpServer`.

Theory of operation
-------------------
The pool: with none given (or one ESP-IDF refuses: containing the server's address, outside its subnet, or more than
DHCPS_MAX_LEASE = 100 addresses) ``dhcps_poll_set`` derives it from the server's address: in its /24, the 100
addresses after it when its last byte is below 128 (192.168.4.1 -> .2 to .101), else the 100 before it.  Lease times
count in ``CONFIG_LWIP_DHCPS_LEASE_UNIT`` seconds (60), 120 units by default (``DHCPS_LEASE_TIME_DEF``).

A client gets an address at its DISCOVER, as ESP-IDF records one (``parse_msg`` adds a pool entry for every new MAC):
its static lease, the one it has, or the lowest free address of the pool (ESP-IDF walks a rotating pointer; the lowest
free one is the same on a fresh server and is stable).  Beyond ``CONFIG_LWIP_DHCPS_MAX_STATION_NUM`` leases, the one
with the least time left goes (``kill_oldest_dhcps_pool``; ESP-IDF does it at its next 1-s tick, here at once);
static leases never do.  With the pool exhausted ESP-IDF answers a NAK, and so does this server.

A REQUEST is ACKed when its requested address (50), or else its ciaddr (a renewal), is the client's lease; otherwise
it is NAKed and the lease dropped (``parse_options``).  A REQUEST naming another server (54) means the client chose
it: its offer is withdrawn silently (RFC 2131 4.3.2; ESP-IDF does not look).  RELEASE frees the lease.  DECLINE frees
it and keeps the address out of use for one lease time (ESP-IDF ignores DECLINE, and would offer the same address
again).  INFORM is answered with an ACK of the options, without an address or lease (RFC 2131 4.3.5), unicast to its
ciaddr.  Replies go to 255.255.255.255:68 as ESP-IDF sends them, except to a client that has an address (ciaddr set:
renewing, rebinding, INFORM): those are unicast to it as RFC 2131 4.1 says (dhcpcd renewing hears nothing else).

Offered options (``add_offer_options``): mask 1, router 3 (the server's address; off with ``router=False``, ESP-IDF's
ROUTER_SOLICITATION_ADDRESS option), DNS 6 (the servers set, else the server's address; off with ``dns=False``), lease
51, server id 54, broadcast 28, interface MTU 26, router discovery 31 = 0, vendor 43, and the captive portal URI
(114, RFC 8910) when set.  ESP-IDF's option ids work with :meth:`DhcpServer.set_option`.

Every request that is malformed (shorter than the header, a wrong cookie, truncated options, an option running past
the end, no End, an overload loop, a message type missing, a requested address or server id not 4 bytes long, a
hardware address that is not Ethernet) is dropped and counted in :attr:`DhcpServer.stats`; the server keeps serving.
An :class:`DhcpsAssigned` event (ESP-IDF's IP_EVENT_AP_STAIPASSIGNED, ``dhcps_cb``) is emitted at every ACK.
"""

from __future__ import annotations

import errno
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Iterable

from ..errors import ConfigError, LwipError, Malformed
from ..wire import dhcp as w
from ..wire.dhcp import DhcpMessage

if TYPE_CHECKING:
    from ..core.netif import Netif
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["DhcpServer", "DhcpsLease", "DhcpsAssigned", "DHCPS_MAX_LEASE", "DHCPS_LEASE_TIME_DEF",
           "SUBNET_MASK", "REQUESTED_IP_ADDRESS", "ROUTER_SOLICITATION_ADDRESS", "DOMAIN_NAME_SERVER",
           "IP_ADDRESS_LEASE_TIME", "CAPTIVEPORTAL_URI"]

DHCPS_MAX_LEASE = 100  # 0x64
DHCPS_LEASE_TIME_DEF = 120
BROADCAST = IPv4Address("255.255.255.255")
# ESP-IDF's esp_netif_dhcp_option_id_t values
SUBNET_MASK = 1
DOMAIN_NAME_SERVER = 6
ROUTER_SOLICITATION_ADDRESS = 32
REQUESTED_IP_ADDRESS = 50
IP_ADDRESS_LEASE_TIME = 51
CAPTIVEPORTAL_URI = 114


@dataclass(slots=True, eq=False)
class DhcpsLease:
    """One client of the server (ESP-IDF's ``struct dhcps_pool``), by MAC."""

    mac: bytes
    ip: IPv4Address
    #: stack time the lease ends (None: a static lease)
    expires: float | None
    hostname: str | None = None
    client_id: bytes | None = None
    #: ACKed at least once (else only offered)
    bound: bool = False
    static: bool = False


@dataclass(frozen=True, slots=True)
class DhcpsAssigned:
    """The server ACKed an address to a client (ESP-IDF's IP_EVENT_AP_STAIPASSIGNED)."""

    netif: "Netif"
    ip: IPv4Address
    mac: bytes
    hostname: str | None


@dataclass(slots=True)
class DhcpsStats:
    recv: int = 0
    offers: int = 0
    acks: int = 0
    naks: int = 0
    releases: int = 0
    declines: int = 0
    informs: int = 0
    evicted: int = 0
    expired: int = 0
    #: requests dropped because they were malformed, by reason
    malformed: Counter = field(default_factory=Counter)
    #: other requests ignored (not for us, another server's, replies)
    ignored: int = 0

    @property
    def dropped(self) -> int:
        return sum(self.malformed.values()) + self.ignored


class DhcpServer:
    """ESP-IDF's DHCP server on one netif: ``DhcpServer(stack, netif).start()``.

    :param pool: ``(first, last)`` addresses (None: derived from the netif's address, as ESP-IDF)
    :param lease_time: in ``dhcps_lease_unit`` units (ESP-IDF's IP_ADDRESS_LEASE_TIME option)
    :param router: offer the server's address as router (ESP-IDF's ROUTER_SOLICITATION_ADDRESS, on by default)
    :param dns: offer DNS servers (``dns_servers``, else the server's address)
    :param static_leases: ``{mac: address}``, held for ever and never given to another
    """

    def __init__(self, stack: "Stack", netif: "Netif", *, pool: tuple[str | IPv4Address, str | IPv4Address] | None = None,
                 lease_time: int = DHCPS_LEASE_TIME_DEF, router: bool = True, dns: bool = True,
                 dns_servers: Iterable[str | IPv4Address] = (), captive_portal_uri: str | None = None,
                 static_leases: dict[bytes | str, str | IPv4Address] | None = None) -> None:
        self.stack = stack
        self.netif = netif
        self.pool_request = (IPv4Address(pool[0]), IPv4Address(pool[1])) if pool is not None else None
        self.lease_time = lease_time
        self.router = router
        self.dns = dns
        self.dns_servers = [IPv4Address(a) for a in dns_servers]
        self.captive_portal_uri = captive_portal_uri
        self.static: dict[bytes, IPv4Address] = {}
        self.started = False
        for mac, ip in (static_leases or {}).items():
            self.add_static_lease(mac, ip)
        #: (first, last) in force once started
        self.pool: tuple[IPv4Address, IPv4Address] | None = None
        #: the clients by MAC, oldest first
        self.leases: dict[bytes, DhcpsLease] = {}
        self._declined: dict[IPv4Address, float] = {}
        self.stats = DhcpsStats()
        self._pcb: "UdpPcb | None" = None

    # -- configuration ------------------------------------------------------------------------------------------------
    def add_static_lease(self, mac: bytes | str, ip: str | IPv4Address) -> None:
        """A fixed address for a MAC (``CONFIG_LWIP_DHCPS_STATIC_ENTRIES``)."""
        if not self.stack.config.dhcps_static_entries:
            raise ConfigError("static leases are off (CONFIG_LWIP_DHCPS_STATIC_ENTRIES)")
        key = _mac(mac)
        addr = IPv4Address(ip)
        if any(a == addr and m != key for m, a in self.static.items()):
            raise ConfigError(f"{addr} is the static lease of another MAC")
        self.static[key] = addr
        if self.started:
            self._check_static(key, addr)
            self.leases.pop(key, None)
            for m, lease in list(self.leases.items()):
                if lease.ip == addr:
                    del self.leases[m]

    def set_option(self, option: int, value: object) -> None:
        """``dhcps_set_option_info`` with ESP-IDF's option ids: SUBNET_MASK is the netif's (read only here),
        REQUESTED_IP_ADDRESS a ``(first, last)`` pool, IP_ADDRESS_LEASE_TIME units, ROUTER_SOLICITATION_ADDRESS and
        DOMAIN_NAME_SERVER whether to offer them, CAPTIVEPORTAL_URI a string or None.  A pool takes effect at the
        next :meth:`start`, as in ESP-IDF (it refuses pool changes while started)."""
        if option == REQUESTED_IP_ADDRESS:
            if self.started:
                raise LwipError(errno.EBUSY, "stop the DHCP server before changing its pool")
            first, last = value  # type: ignore[misc]
            self.pool_request = (IPv4Address(first), IPv4Address(last))
        elif option == IP_ADDRESS_LEASE_TIME:
            if not isinstance(value, int) or not 0 < value <= 0xFFFF:
                raise ConfigError(f"lease time {value!r} is not 1..65535 units")
            self.lease_time = value
        elif option == ROUTER_SOLICITATION_ADDRESS:
            self.router = bool(value)
        elif option == DOMAIN_NAME_SERVER:
            self.dns = bool(value)
        elif option == CAPTIVEPORTAL_URI:
            self.captive_portal_uri = None if value is None else str(value)
        else:
            raise ConfigError(f"DHCP server option {option} is none of ESP-IDF's")

    def get_option(self, option: int) -> object:
        if option == REQUESTED_IP_ADDRESS:
            return self.pool if self.pool is not None else self.pool_request
        if option == IP_ADDRESS_LEASE_TIME:
            return self.lease_time
        if option == ROUTER_SOLICITATION_ADDRESS:
            return self.router
        if option == DOMAIN_NAME_SERVER:
            return self.dns
        if option == CAPTIVEPORTAL_URI:
            return self.captive_portal_uri
        if option == SUBNET_MASK:
            return self.netif.ip4.netmask if self.netif.ip4 is not None else None
        raise ConfigError(f"DHCP server option {option} is none of ESP-IDF's")

    # -- start / stop -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """``dhcps_start``: the netif must have an address; the pool is checked (ConfigError) and derived when
        needed, and port 67 is taken on the netif."""
        self.stack.assert_core()
        if not self.stack.config.dhcps:
            raise ConfigError("the DHCP server is off (CONFIG_LWIP_DHCPS)")
        if self.started:
            raise LwipError(errno.EALREADY, "the DHCP server is started already")
        iface = self.netif.ip4
        if iface is None:
            raise ConfigError(f"{self.netif.name} has no IPv4 address to serve from")
        if iface.network.prefixlen > 30:
            raise ConfigError(f"a /{iface.network.prefixlen} leaves no address to lease")
        self.pool = self._poll_set(iface)
        for mac, addr in self.static.items():
            self._check_static(mac, addr)
        pcb = self.stack.udp.new()
        pcb.netif = self.netif
        pcb.bind(None, w.SERVER_PORT)
        pcb.on_recv = self._recv
        self._pcb = pcb
        self.started = True
        self.stack.add_poller(self)

    def stop(self) -> None:
        """``dhcps_stop``: close the port; leases are forgotten, as ESP-IDF frees its pool list."""
        self.stack.assert_core()
        if self._pcb is not None:
            self._pcb.close()
            self._pcb = None
        self.leases.clear()
        self._declined.clear()
        self.started = False
        self.stack.remove_poller(self)

    def _poll_set(self, iface: IPv4Interface) -> tuple[IPv4Address, IPv4Address]:
        """``dhcps_poll_set``: the requested pool when ESP-IDF accepts it, else the default around our address."""
        own = int(iface.ip)
        net = iface.network
        if self.pool_request is not None:
            first, last = (int(a) for a in self.pool_request)
            if first > last:
                raise ConfigError(f"pool {self.pool_request[0]}-{self.pool_request[1]}: the first is after the last")
            if IPv4Address(first) not in net or IPv4Address(last) not in net:
                raise ConfigError(f"pool {self.pool_request[0]}-{self.pool_request[1]} is not in {net}")
            limit = self.stack.config.dhcps_max_lease
            if last - first + 1 > limit:
                raise ConfigError(f"pool of {last - first + 1} addresses: at most {limit} (dhcps_max_lease)")
            if first <= own <= last:
                raise ConfigError(f"pool {self.pool_request[0]}-{self.pool_request[1]} holds the server's {iface.ip}")
            if first in (int(net.network_address), int(net.broadcast_address)) or \
                    last in (int(net.network_address), int(net.broadcast_address)):
                raise ConfigError(f"pool {self.pool_request[0]}-{self.pool_request[1]} holds the network or "
                                  "broadcast address")
            return IPv4Address(first), IPv4Address(last)
        base, low = own & 0xFFFFFF00, own & 0xFF
        low = low - DHCPS_MAX_LEASE if low >= 0x80 else low + 1
        first, last = base | low, base | min(low + DHCPS_MAX_LEASE - 1, 0xFE)
        first = max(first, int(net.network_address) + 1)
        last = min(last, int(net.broadcast_address) - 1)
        if first > last:
            raise ConfigError(f"no default pool fits {net} beside {iface.ip}; give one")
        return IPv4Address(first), IPv4Address(last)

    def _check_static(self, mac: bytes, addr: IPv4Address) -> None:
        iface = self.netif.ip4
        if iface is not None and (addr not in iface.network or addr == iface.ip or addr in (
                iface.network.network_address, iface.network.broadcast_address)):
            raise ConfigError(f"static lease {addr} for {mac.hex(':')} is not a usable address of {iface.network}")

    # -- clients ------------------------------------------------------------------------------------------------------
    def clients(self) -> list[DhcpsLease]:
        """The clients with an address (ACKed), oldest first (``esp_netif_dhcps_get_clients_by_mac``)."""
        return [lease for lease in self.leases.values() if lease.bound]

    def client_by_mac(self, mac: bytes | str) -> DhcpsLease | None:
        return self.leases.get(_mac(mac))

    # -- poller -------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """``dhcps_coarse_tmr``: leases that ran out go."""
        for mac, lease in list(self.leases.items()):
            if lease.expires is not None and lease.expires <= now:
                del self.leases[mac]
                self.stats.expired += 1
        for addr, until in list(self._declined.items()):
            if until <= now:
                del self._declined[addr]

    def poll_at(self) -> float | None:
        times = [lease.expires for lease in self.leases.values() if lease.expires is not None]
        times.extend(self._declined.values())
        return min(times) if times else None

    # -- input --------------------------------------------------------------------------------------------------------
    def _drop(self, reason: str) -> None:
        self.stats.malformed[reason] += 1

    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        """``handle_dhcp``."""
        stats = self.stats
        stats.recv += 1
        try:
            msg = DhcpMessage.parse(dgram.data)
        except Malformed as e:
            text = str(e)
            self._drop("cookie" if "cookie" in text else "overload" if "overload" in text else
                       "short" if "at least" in text else "hlen" if "hlen" in text else "options")
            return
        if not msg.end_seen:
            return self._drop("no end")
        if msg.op != w.BOOTREQUEST:
            stats.ignored += 1
            return
        if msg.htype != 1 or msg.hlen != 6:
            return self._drop("hardware type")
        mtype = msg.message_type
        if mtype is None:
            return self._drop("message type")
        requested_raw = msg.get(w.REQUESTED_IP)
        if requested_raw is not None and len(requested_raw) != 4:
            return self._drop("requested address")
        server_raw = msg.get(w.SERVER_ID)
        if server_raw is not None and len(server_raw) != 4:
            return self._drop("server id")
        own = self.netif.ip4
        if own is None:
            stats.ignored += 1
            return
        mac = bytes(msg.chaddr)
        requested = w.ip_of(requested_raw)
        server = w.ip_of(server_raw)
        hostname = _text(msg.get(w.HOSTNAME))
        now = self.stack.now
        if mtype == w.DISCOVER:
            lease = self._lease_for(mac, now)
            if lease is None:
                self._reply(msg, w.NAK, None)  # ESP-IDF: no address left is a NAK
                return
            if hostname:
                lease.hostname = hostname
            lease.client_id = msg.get(w.CLIENT_ID)
            stats.offers += 1
            self._reply(msg, w.OFFER, lease)
        elif mtype == w.REQUEST:
            if server is not None and server != own.ip:
                old = self.leases.get(mac)
                if old is not None and not old.bound and not old.static:
                    del self.leases[mac]  # the client took another server's offer
                stats.ignored += 1
                return
            lease = self._lease_for(mac, now)
            wanted = requested if requested is not None else msg.ciaddr
            if lease is None or wanted != lease.ip:
                if lease is not None and not lease.static:
                    del self.leases[mac]
                stats.naks += 1
                self._reply(msg, w.NAK, None)
                return
            lease.bound = True
            if hostname:
                lease.hostname = hostname
            lease.client_id = msg.get(w.CLIENT_ID) or lease.client_id
            stats.acks += 1
            self._reply(msg, w.ACK, lease)
            self.stack.events.emit(DhcpsAssigned(self.netif, lease.ip, mac, lease.hostname))
        elif mtype == w.RELEASE:
            lease = self.leases.get(mac)
            if lease is not None and not lease.static and lease.ip == msg.ciaddr:
                del self.leases[mac]
            stats.releases += 1
        elif mtype == w.DECLINE:
            lease = self.leases.get(mac)
            if lease is not None and (requested is None or requested == lease.ip):
                if not lease.static:
                    del self.leases[mac]
                    self._declined[lease.ip] = now + self.lease_time * self.stack.config.dhcps_lease_unit
            stats.declines += 1
        elif mtype == w.INFORM:
            stats.informs += 1
            self._reply(msg, w.ACK, None, inform=True)
        else:
            stats.ignored += 1

    def _lease_for(self, mac: bytes, now: float) -> DhcpsLease | None:
        """The client's lease, refreshed, or a new one from the pool (evicting the oldest beyond the limit)."""
        cfg = self.stack.config
        expires = now + self.lease_time * cfg.dhcps_lease_unit
        lease = self.leases.get(mac)
        if lease is not None:
            if not lease.static:
                lease.expires = expires
            return lease
        static = self.static.get(mac)
        if static is not None:
            lease = self.leases[mac] = DhcpsLease(mac, static, None, static=True)
            return lease
        assert self.pool is not None
        taken = {lease.ip for lease in self.leases.values()} | set(self.static.values()) | set(self._declined)
        first, last = int(self.pool[0]), int(self.pool[1])
        addr = next((IPv4Address(a) for a in range(first, last + 1) if IPv4Address(a) not in taken), None)
        if addr is None:
            return None
        lease = self.leases[mac] = DhcpsLease(mac, addr, expires)
        if sum(not x.static for x in self.leases.values()) > cfg.dhcps_max_station_num:
            self._evict(keep=lease)
        return lease

    def _evict(self, keep: DhcpsLease | None = None) -> bool:
        """``kill_oldest_dhcps_pool``: drop the lease with the least time left."""
        candidates = [x for x in self.leases.values() if not x.static and x is not keep]
        if not candidates:
            return False
        oldest = min(candidates, key=lambda x: x.expires or 0.0)
        del self.leases[oldest.mac]
        self.stats.evicted += 1
        return True

    # -- output -------------------------------------------------------------------------------------------------------
    def _reply(self, req: DhcpMessage, mtype: int, lease: DhcpsLease | None, inform: bool = False) -> None:
        own = self.netif.ip4
        assert own is not None and self._pcb is not None
        msg = DhcpMessage(op=w.BOOTREPLY, xid=req.xid, chaddr=req.chaddr, flags=req.flags, giaddr=req.giaddr,
                          htype=req.htype, hlen=req.hlen)
        if lease is not None:
            msg.yiaddr = lease.ip
        if inform:
            msg.ciaddr = req.ciaddr
        msg.add(w.MESSAGE_TYPE, mtype)
        msg.add(w.SERVER_ID, own.ip)
        if mtype != w.NAK:
            if not inform:
                msg.add(w.LEASE_TIME, (self.lease_time * self.stack.config.dhcps_lease_unit).to_bytes(4, "big"))
            msg.add(w.SUBNET_MASK, own.netmask)
            if self.router:
                msg.add(w.ROUTER, own.ip)
            if self.dns:
                msg.add(w.DNS_SERVER, self.dns_servers or [own.ip])
            msg.add(w.BROADCAST_ADDR, own.network.broadcast_address)
            msg.add(w.INTERFACE_MTU, self.netif.mtu.to_bytes(2, "big"))
            msg.add(w.ROUTER_DISCOVERY, 0)
            msg.add(w.VENDOR_SPECIFIC, b"\x01\x04\x00\x00\x00\x02")
            if self.captive_portal_uri:
                msg.add(w.CAPTIVE_PORTAL, self.captive_portal_uri.encode())
        # RFC 2131 4.1: to ciaddr when the client has one (renewing, rebinding, INFORM), else broadcast; ESP-IDF
        # broadcasts every reply, which a client listening on its bound address (dhcpcd renewing) never hears
        dst = req.ciaddr if req.ciaddr != IPv4Address(0) and mtype != w.NAK else BROADCAST
        try:
            self._pcb.sendto_netif(msg.emit(), dst, w.CLIENT_PORT, self.netif)
        except LwipError:
            pass  # the driver's queue is full: the client asks again


def _mac(mac: bytes | str) -> bytes:
    if isinstance(mac, str):
        mac = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(mac) != 6:
        raise ConfigError(f"a MAC has 6 bytes, not {len(mac)}")
    return bytes(mac)


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.rstrip(b"\0").decode("utf-8", "replace")
