"""The DHCP client (RFC 2131), as lwIP's ``dhcp.c`` with ESP-IDF's options: :class:`DhcpClient`.

Theory of operation
-------------------
``start()`` sends a DISCOVER (SELECTING) from 0.0.0.0 to 255.255.255.255 out of the netif by name; the first OFFER
carrying a server identifier is taken and REQUESTed (REQUESTING).  An ACK leads, with ``dhcp_does_arp_check``, to
CHECKING: two ARP probes for the offered address 500 ms apart, and the address is bound (BOUND) 500 ms after the
second unless someone answered; an answer DECLINEs the address (BACKING_OFF) and a new DISCOVER follows 10 s later.
A NAK in any requesting state removes the address and discovers again at once.

Retransmission follows lwIP 2.1 (``dhcp_timeout``): DISCOVER after 2, 4, 8, 16, 32 and then every 60 s (``tries``
counts up, ``(tries < 6 ? 1 << tries : 60) * 1000`` ms); REQUEST likewise, and after its sixth try the client starts
over; INIT-REBOOT's REQUEST after 1 then 2 s, then DISCOVER.  lwIP steps these on a 500-ms tick (``DHCP_FINE_TIMER``);
here they are exact.

The lease runs in ticks of ``dhcp_coarse_timer_secs`` (ESP-IDF's ``CONFIG_LWIP_DHCP_COARSE_TIMER_SECS``, 1 s;
``dhcp_bind`` rounds each time to the nearest tick, at least one, at most 0xffff): T1 (option 58, else half the lease)
RENEWs by unicast to the server (RENEWING), T2 (option 59, else 7/8 of it) REBINDs by broadcast (REBINDING), and the
end of the lease removes the address and starts over (a RELEASE first, as ``dhcp_release_and_stop``).  RFC 2131 4.4.5's
retries: after T1 fires, it fires again half-way to T2 while that half is at least 60 s (``dhcp_t1_timeout``); after
T2, half-way to the end of the lease.  When T1 would not come before T2 (a lease under a minute) only T2 runs.

``dhcp_network_changed``: the link coming up again sends a BOUND, RENEWING, REBINDING or REBOOTING client to
INIT-REBOOT (asking for its address back) and any other one to a new DISCOVER.  A removed netif stops the client.

Options sent: message type; client identifier 61 (type 1 and the MAC unless ``dhcp_disable_client_id``); vendor
class 60 when given and ``dhcp_disable_vendor_class_id`` is off; maximum message size 57 (the MTU); host name 12
(esp_netif's, "espressif" by default); the parameter request list 55 (mask, router, broadcast, DNS, and NTP with
``dhcp_get_ntp_srv``); then what the ``dhcp_append_options`` hook returns.  Options read: mask 1 (else the class's),
router 3, DNS servers 6 (``stack.dns_setserver`` MAIN and BACKUP, never FALLBACK, as ESP-IDF), NTP servers 42
(kept in :attr:`DhcpLease.ntp_servers` for SNTP), lease 51, server 54, T1 58, T2 59, option overload 52; every other
option goes to the ``dhcp_parse_option`` hook.

Events on ``stack.events`` for an esp_netif layer: :class:`DhcpBound` (IP_EVENT_STA_GOT_IP, with ``ip_changed``) at
every bind and renewal, and :class:`DhcpLost` (IP_EVENT_STA_LOST_IP) when a bound address goes (lease expired, NAK,
release, stop).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Any

from ..core.events import ArpReplyReceived, LinkUp, NetifRemoved
from ..errors import LwipError, Malformed
from ..wire import dhcp as w
from ..wire.dhcp import DhcpMessage

if TYPE_CHECKING:
    from ..core.netif import Netif
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["DhcpClient", "DhcpState", "DhcpLease", "DhcpBound", "DhcpLost", "DhcpClientStats"]

log = logging.getLogger("lwipy")
ANY = IPv4Address(0)
BROADCAST = IPv4Address("255.255.255.255")
REBOOT_TRIES = 2
DHCP_MIN_OPTIONS_LEN = 68
DEFAULT_HOSTNAME = "espressif"  # CONFIG_LWIP_LOCAL_HOSTNAME
CONFIGURED = object()  # DhcpClient's hostname when not given: the stack's Config.local_hostname
_INFINITE = 0xFFFFFFFF


class DhcpState(IntEnum):
    """lwIP's ``dhcp_state_enum_t`` (same numbers)."""

    OFF = 0
    REQUESTING = 1
    INIT = 2
    REBOOTING = 3
    REBINDING = 4
    RENEWING = 5
    SELECTING = 6
    INFORMING = 7
    CHECKING = 8
    PERMANENT = 9
    BOUND = 10
    RELEASING = 11
    BACKING_OFF = 12


_SUPPLIED = (DhcpState.BOUND, DhcpState.RENEWING, DhcpState.REBINDING)


@dataclass(slots=True)
class DhcpLease:
    """What the last ACK gave (``dhcp_get_...``)."""

    address: IPv4Address
    netmask: IPv4Address
    gateway: IPv4Address | None
    server: IPv4Address
    #: seconds, as offered (0xffffffff: infinite)
    lease_time: int
    t1: int
    t2: int
    dns_servers: list[IPv4Address] = field(default_factory=list)
    ntp_servers: list[IPv4Address] = field(default_factory=list)
    #: when it was bound or last renewed (stack time)
    bound_at: float = 0.0

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.address}/{self.netmask}")


@dataclass(frozen=True, slots=True)
class DhcpBound:
    """The client bound an address or renewed its lease (esp_netif's IP_EVENT_STA_GOT_IP)."""

    netif: "Netif"
    lease: DhcpLease
    #: whether the address, mask or gateway differ from before (esp_netif's ``ip_changed``)
    ip_changed: bool
    #: True for a renewal or rebinding of the same lease
    renewed: bool


@dataclass(frozen=True, slots=True)
class DhcpLost:
    """A bound address was removed (esp_netif's IP_EVENT_STA_LOST_IP)."""

    netif: "Netif"
    address: IPv4Address
    #: "expired", "nak", "released", "stopped"
    reason: str


@dataclass(slots=True)
class DhcpClientStats:
    xmit: int = 0
    recv: int = 0
    #: datagrams dropped: malformed, not for us (xid, chaddr, op) or not expected in the state
    drop: int = 0
    malformed: int = 0
    declines: int = 0
    naks: int = 0


class _Port68:
    """The stack's one pcb on port 68 (lwIP's ``dhcp_pcb``), shared by the clients of its netifs."""

    def __init__(self, stack: "Stack") -> None:
        self.pcb: "UdpPcb" = stack.udp.new()
        self.pcb.bind(None, w.CLIENT_PORT)
        self.pcb.on_recv = self._recv
        self.clients: dict[int, DhcpClient] = {}

    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        client = self.clients.get(dgram.netif_index)
        if client is not None:
            client._recv(dgram)

    @staticmethod
    def of(stack: "Stack") -> "_Port68":
        port = stack.apps.get("dhcp_pcb")
        if port is None or port.pcb.closed:
            port = stack.apps["dhcp_pcb"] = _Port68(stack)
        return port

    def release(self, client: "DhcpClient", stack: "Stack") -> None:
        if self.clients.get(client.netif.index) is client:
            del self.clients[client.netif.index]
        if not self.clients:
            self.pcb.close()
            stack.apps.pop("dhcp_pcb", None)


class DhcpClient:
    """lwIP's DHCP client on one netif: ``DhcpClient(stack, netif, hostname="espressif").start()``.

    :param hostname: option 12 (None: none; by default the Config's ``local_hostname``)
    :param vendor_class: option 60, sent unless ``config.dhcp_disable_vendor_class_id`` (ESP-IDF's default)
    :param client_id: option 61's value (default: hardware type 1 and the MAC)
    :param last_ip: the address to ask for first with ``config.dhcp_restore_last_ip`` (ESP-IDF keeps it in NVS);
        updated at every bind
    """

    def __init__(self, stack: "Stack", netif: "Netif", *, hostname: str | None | object = CONFIGURED,
                 vendor_class: str | bytes | None = None, client_id: bytes | None = None,
                 last_ip: str | IPv4Address | None = None) -> None:
        self.stack = stack
        self.netif = netif
        #: option 12; by default ``Config.local_hostname`` (CONFIG_LWIP_LOCAL_HOSTNAME, "espressif")
        self.hostname: str | None = stack.config.local_hostname if hostname is CONFIGURED else hostname  # type: ignore
        self.vendor_class = vendor_class.encode() if isinstance(vendor_class, str) else vendor_class
        self.client_id = client_id if client_id is not None else b"\x01" + netif.hwaddr
        self.last_ip: IPv4Address | None = IPv4Address(last_ip) if last_ip is not None else None
        self.state = DhcpState.OFF
        self.tries = 0
        self.xid = 0
        #: the address offered (SELECTING) and then being requested
        self.offered: IPv4Address | None = None
        self.server: IPv4Address | None = None
        self._offer: DhcpMessage | None = None
        #: the lease in force (None before the first bind and after the address went)
        self.lease: DhcpLease | None = None
        self.stats = DhcpClientStats()
        self._request_at: float | None = None  # lwIP's request_timeout (the fine timer)
        self._t0_at: float | None = None  # end of lease
        self._t1_at: float | None = None
        self._t2_at: float | None = None
        self._bound_tick = 0.0
        self._t0_ticks = self._t1_ticks = self._t2_ticks = 0
        self._inform_xid: int | None = None
        self._port: _Port68 | None = None
        self._subs: list[Any] = []

    # -- public -------------------------------------------------------------------------------------------------------
    @property
    def supplied_address(self) -> bool:
        """``dhcp_supplied_address``: BOUND, RENEWING or REBINDING."""
        return self.state in _SUPPLIED

    @property
    def started(self) -> bool:
        """Whether the client runs (any state but OFF): esp_netif's DHCP client status STARTED vs STOPPED."""
        return self.state != DhcpState.OFF

    def start(self) -> None:
        """``dhcp_start``: begin (again) on the netif; with the link down, wait in INIT for it to come up."""
        stack = self.stack
        stack.assert_core()
        if self.netif not in stack.netifs:
            raise LwipError(19, f"{self.netif.name} is not a netif of this stack")  # ENODEV
        if self._port is None:
            self._port = _Port68.of(stack)
            other = self._port.clients.get(self.netif.index)
            if other is not None and other is not self:
                other.stop()
                self._port = _Port68.of(stack)
            self._port.clients[self.netif.index] = self
            on = stack.events.subscribe
            self._subs = [on(ArpReplyReceived, self._arp_reply), on(LinkUp, self._link_up),
                          on(NetifRemoved, self._netif_removed)]
            stack.add_poller(self)
        self._t0_at = self._t1_at = self._t2_at = None
        self._request_at = None
        self._set_state(DhcpState.INIT)
        if not self.netif.link_up:
            return
        if stack.config.dhcp_restore_last_ip and self.last_ip is not None:
            self._reboot()
        else:
            self._discover()

    def stop(self) -> None:
        """``dhcp_stop`` (``dhcp_release_and_stop``): send a RELEASE when an address is bound, remove it, and detach
        from the stack."""
        self.stack.assert_core()
        self._release_and_stop("stopped")
        if self._port is not None:
            self._port.release(self, self.stack)
            self._port = None
        for sub in self._subs:
            sub.cancel()
        self._subs = []
        self.stack.remove_poller(self)

    def release(self) -> None:
        """``dhcp_release``: give the lease back (RELEASE to the server), remove the address; the client stays
        attached but OFF until :meth:`start`."""
        self.stack.assert_core()
        self._release_and_stop("released")

    def renew(self) -> None:
        """``dhcp_renew``: ask the server to extend the lease now."""
        self.stack.assert_core()
        if self.state in _SUPPLIED:
            self._renew()

    def inform(self) -> None:
        """``dhcp_inform``: with an address set by hand, ask for the other parameters (RFC 2131 3.4): an INFORM
        broadcast from our address; an ACK for it fills the DNS (and NTP) servers, never the address."""
        self.stack.assert_core()
        if self.netif.ip4 is None:
            raise LwipError(99, f"{self.netif.name} has no address to INFORM from")  # EADDRNOTAVAIL
        if self._port is None:
            self._port = _Port68.of(self.stack)
            self._port.clients[self.netif.index] = self
        self._inform_xid = self.stack.rng.getrandbits(32)
        msg = self._create(w.INFORM, self._inform_xid)
        msg.ciaddr = self.netif.ip4.ip
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        self._send(msg, BROADCAST)

    def __repr__(self) -> str:
        return f"<DhcpClient {self.netif.name} {self.state.name} {self.lease.address if self.lease else '-'}>"

    # -- poller -------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        if self._t0_at is not None and now >= self._t0_at:
            self._t0_at = None
            self._expired()
        elif self._t2_at is not None and now >= self._t2_at:
            self._t2_at = None
            self._t2_timeout(now)
        elif self._t1_at is not None and now >= self._t1_at:
            self._t1_at = None
            self._t1_timeout(now)
        if self._request_at is not None and now >= self._request_at:
            self._request_at = None
            self._timeout()

    def poll_at(self) -> float | None:
        due = [t for t in (self._request_at, self._t0_at, self._t1_at, self._t2_at) if t is not None]
        return min(due) if due else None

    # -- the state machine (lwIP's function names) --------------------------------------------------------------------
    def _set_state(self, state: DhcpState) -> None:
        """``dhcp_set_state``: a new state restarts the retry count (and so the transaction id)."""
        if state != self.state:
            self.state = state
            self.tries = 0
            self._request_at = None

    def _backoff(self) -> float:
        if self.tries < 255:
            self.tries += 1
        return (1 << self.tries if self.tries < 6 else 60) * 1.0

    def _discover(self) -> None:
        """``dhcp_discover``."""
        self.offered = None
        self._set_state(DhcpState.SELECTING)
        msg = self._create(w.DISCOVER)
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        self._add_hostname(msg)
        msg.add(w.PARAMETER_REQUEST, self._request_list())
        self._send(msg, BROADCAST)
        self._request_at = self.stack.now + self._backoff()

    def _select(self) -> None:
        """``dhcp_select``: REQUEST the offered address from the server that offered it."""
        self._set_state(DhcpState.REQUESTING)
        assert self.offered is not None and self.server is not None
        msg = self._create(w.REQUEST)
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        msg.add(w.REQUESTED_IP, self.offered)
        msg.add(w.SERVER_ID, self.server)
        msg.add(w.PARAMETER_REQUEST, self._request_list())
        self._add_hostname(msg)
        self._send(msg, BROADCAST)
        self._request_at = self.stack.now + self._backoff()

    def _reboot(self) -> None:
        """``dhcp_reboot`` (INIT-REBOOT): REQUEST the last address without a server identifier."""
        self._set_state(DhcpState.REBOOTING)
        if self.offered is None:
            self.offered = self.lease.address if self.lease is not None else self.last_ip
        assert self.offered is not None
        msg = self._create(w.REQUEST)
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        msg.add(w.REQUESTED_IP, self.offered)
        msg.add(w.PARAMETER_REQUEST, self._request_list())
        self._add_hostname(msg)
        self._send(msg, BROADCAST)
        if self.tries < 255:
            self.tries += 1
        self._request_at = self.stack.now + (self.tries if self.tries < 10 else 10) * 1.0

    def _renew(self) -> None:
        """``dhcp_renew``: REQUEST by unicast to the server, from our address (RENEWING)."""
        self._set_state(DhcpState.RENEWING)
        msg = self._create(w.REQUEST)
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        msg.add(w.PARAMETER_REQUEST, self._request_list())
        self._add_hostname(msg)
        assert self.lease is not None
        self._send(msg, self.lease.server)
        if self.tries < 255:
            self.tries += 1

    def _rebind(self) -> None:
        """``dhcp_rebind``: REQUEST by broadcast to any server (REBINDING)."""
        self._set_state(DhcpState.REBINDING)
        msg = self._create(w.REQUEST)
        msg.add(w.MAX_MESSAGE_SIZE, self.netif.mtu.to_bytes(2, "big"))
        msg.add(w.PARAMETER_REQUEST, self._request_list())
        self._add_hostname(msg)
        self._send(msg, BROADCAST)
        if self.tries < 255:
            self.tries += 1

    def _check(self) -> None:
        """``dhcp_check``: an ARP probe for the offered address; nobody should answer."""
        self._set_state(DhcpState.CHECKING)
        assert self.offered is not None
        self.stack.etharp.probe(self.netif, self.offered)
        if self.tries < 255:
            self.tries += 1
        self._request_at = self.stack.now + 0.5

    def _decline(self) -> None:
        """``dhcp_decline``: the offered address answered ARP; tell the server, DISCOVER again in 10 s."""
        self._set_state(DhcpState.BACKING_OFF)
        self.stats.declines += 1
        msg = self._create(w.DECLINE)
        assert self.offered is not None
        msg.add(w.REQUESTED_IP, self.offered)
        if self.server is not None:
            msg.add(w.SERVER_ID, self.server)  # RFC 2131 table 5: MUST (lwIP 2.1 leaves it out)
        self._send(msg, BROADCAST)
        if self.tries < 255:
            self.tries += 1
        self._request_at = self.stack.now + 10.0

    def _timeout(self) -> None:
        """``dhcp_timeout``: the fine timer ran out in a waiting state."""
        state = self.state
        if state in (DhcpState.BACKING_OFF, DhcpState.SELECTING):
            self._discover()
        elif state == DhcpState.REQUESTING:
            if self.tries <= 5:
                self._select()
            else:
                self._release_and_stop("expired")
                self.start()
        elif state == DhcpState.CHECKING:
            if self.tries <= 1:
                self._check()
            else:
                self._bind()
        elif state == DhcpState.REBOOTING:
            if self.tries < REBOOT_TRIES:
                self._reboot()
            else:
                self._discover()

    def _ticks_used(self, now: float) -> int:
        return int((now - self._bound_tick) // self.stack.config.dhcp_coarse_timer_secs)

    def _t1_timeout(self, now: float) -> None:
        """``dhcp_t1_timeout``: RENEW, and again half-way to T2 while that is a minute or more away."""
        if self.state in (DhcpState.REQUESTING, DhcpState.BOUND, DhcpState.RENEWING):
            self._renew()
            half = (self._t2_ticks - self._ticks_used(now)) // 2
            if half >= self._minute_ticks():
                self._t1_at = now + half * self.stack.config.dhcp_coarse_timer_secs

    def _t2_timeout(self, now: float) -> None:
        """``dhcp_t2_timeout``: REBIND, and again half-way to the end of the lease while a minute or more."""
        if self.state in (DhcpState.REQUESTING, DhcpState.BOUND, DhcpState.RENEWING, DhcpState.REBINDING):
            self._rebind()
            half = (self._t0_ticks - self._ticks_used(now)) // 2
            if half >= self._minute_ticks():
                self._t2_at = now + half * self.stack.config.dhcp_coarse_timer_secs

    def _minute_ticks(self) -> int:
        c = self.stack.config.dhcp_coarse_timer_secs
        return (60 + c // 2) // c

    def _expired(self) -> None:
        """``dhcp_coarse_tmr``: the lease ran out: release and stop, then start over."""
        self._release_and_stop("expired")
        self.start()

    def _release_and_stop(self, reason: str) -> None:
        """``dhcp_release_and_stop``: a RELEASE when an address is supplied, then no address, state OFF."""
        supplied = self.state in _SUPPLIED and self.lease is not None
        if supplied:
            assert self.lease is not None
            msg = self._create(w.RELEASE, self.stack.rng.getrandbits(32))
            msg.ciaddr = self.lease.address
            msg.add(w.SERVER_ID, self.lease.server)
            self._send(msg, self.lease.server)
        self._set_state(DhcpState.OFF)
        self._t0_at = self._t1_at = self._t2_at = self._request_at = None
        self.offered = None
        if self.lease is not None:  # bound, or asking for it back (REBOOTING after a link change): it goes
            self._remove_address(reason)

    def _remove_address(self, reason: str) -> None:
        lease, self.lease = self.lease, None
        if self.netif in self.stack.netifs and self.netif.ip4 is not None:
            self.netif.set_ipv4(None)
        if lease is not None:
            self.stack.events.emit(DhcpLost(self.netif, lease.address, reason))

    def _bind(self) -> None:
        """``dhcp_bind``: set the address, mask and gateway, start the lease's timers."""
        offer = self._offer
        assert offer is not None and self.offered is not None
        now = self.stack.now
        c = self.stack.config.dhcp_coarse_timer_secs
        lease_time = w.u32(offer.get(w.LEASE_TIME)) or 0
        t1 = w.u32(offer.get(w.T1))
        t2 = w.u32(offer.get(w.T2))
        if t1 is None:
            t1 = lease_time // 2
        if t2 is None:
            t2 = lease_time * 7 // 8
        self._bound_tick = now
        self._t0_ticks = self._t1_ticks = self._t2_ticks = 0
        self._t0_at = self._t1_at = self._t2_at = None

        def ticks(seconds: int) -> int:
            return max(1, min(0xFFFF, (seconds + c // 2) // c))
        if lease_time != _INFINITE:
            self._t0_ticks = ticks(lease_time)
            self._t0_at = now + self._t0_ticks * c
        if t1 != _INFINITE:
            self._t1_ticks = ticks(t1)
        if t2 != _INFINITE:
            self._t2_ticks = ticks(t2)
        if self._t1_ticks >= self._t2_ticks > 0:
            self._t1_ticks = 0  # "if we have sub 1 minute lease, t2 and t1 will kick in at the same time"
        if self._t1_ticks:
            self._t1_at = now + self._t1_ticks * c
        if self._t2_ticks:
            self._t2_at = now + self._t2_ticks * c
        mask = w.ip_of(offer.get(w.SUBNET_MASK))
        if mask is None:  # the class's mask (lwIP: "subnet mask not given, choose a safe subnet mask")
            first = self.offered.packed[0]
            mask = IPv4Address("255.0.0.0" if first < 128 else "255.255.0.0" if first < 192 else "255.255.255.0")
        routers = w.ip_list(offer.get(w.ROUTER))
        gateway = routers[0] if routers else None
        renewed = self.state in (DhcpState.RENEWING, DhcpState.REBINDING) and self.lease is not None
        old = (self.netif.ip4, self.netif.gateway)
        lease = DhcpLease(self.offered, mask, gateway, self.server or ANY, lease_time, t1, t2,
                          self._dns_from(offer), self._ntp_from(offer), now)
        self.lease = lease
        self.last_ip = self.offered
        self._set_state(DhcpState.BOUND)
        self.netif.set_ipv4(lease.interface, gateway)
        self.stack.events.emit(DhcpBound(self.netif, lease, old != (self.netif.ip4, self.netif.gateway), renewed))

    def _dns_from(self, offer: DhcpMessage) -> list[IPv4Address]:
        servers = w.ip_list(offer.get(w.DNS_SERVER))
        # dns_setserver(n, ...) for MAIN and BACKUP, never FALLBACK (ESP-IDF: n < DNS_FALLBACK_SERVER_INDEX)
        for n, addr in enumerate(servers[:min(2, self.stack.dns.fallback_index)]):
            self.stack.dns_setserver(n, addr, self.netif)
        return servers

    def _ntp_from(self, offer: DhcpMessage) -> list[IPv4Address]:
        cfg = self.stack.config
        return w.ip_list(offer.get(w.NTP_SERVER))[:cfg.dhcp_max_ntp_servers] if cfg.dhcp_get_ntp_srv else []

    # -- input --------------------------------------------------------------------------------------------------------
    def _recv(self, dgram: "Datagram") -> None:
        """``dhcp_recv``."""
        stats = self.stats
        stats.recv += 1
        data = dgram.data
        if len(data) >= 34 and data[28:34] != self.netif.hwaddr:
            stats.drop += 1  # another client's reply, broadcast: not worth parsing (chaddr is at offset 28)
            return
        try:
            msg = DhcpMessage.parse(data)
        except Malformed:
            stats.malformed += 1
            stats.drop += 1
            return
        mtype = msg.message_type
        if msg.op != w.BOOTREPLY or bytes(msg.chaddr) != self.netif.hwaddr or mtype is None:
            stats.drop += 1
            return
        if self._inform_xid is not None and msg.xid == self._inform_xid and mtype == w.ACK:
            self._inform_xid = None
            self._parse_hook(msg, mtype)
            self._dns_from(msg)
            return
        if msg.xid != self.xid:
            stats.drop += 1
            return
        self._parse_hook(msg, mtype)
        state = self.state
        if mtype == w.ACK and state in (DhcpState.REQUESTING, DhcpState.REBOOTING, DhcpState.RENEWING,
                                        DhcpState.REBINDING):
            if msg.yiaddr != ANY:
                self.offered = msg.yiaddr
            server = w.ip_of(msg.get(w.SERVER_ID))
            if server is not None:
                self.server = server
            self._offer = msg
            self._request_at = None
            if state == DhcpState.REQUESTING and self.stack.config.dhcp_does_arp_check:
                self._check()
            else:
                self._bind()
        elif mtype == w.NAK and state in (DhcpState.REBOOTING, DhcpState.REQUESTING, DhcpState.REBINDING,
                                          DhcpState.RENEWING):
            self._handle_nak()
        elif mtype == w.OFFER and state == DhcpState.SELECTING:
            self._handle_offer(msg)
        else:
            stats.drop += 1

    def _handle_offer(self, msg: DhcpMessage) -> None:
        """``dhcp_handle_offer``: an offer without a server identifier is ignored."""
        server = w.ip_of(msg.get(w.SERVER_ID))
        if server is None or msg.yiaddr == ANY:
            self.stats.drop += 1
            return
        self.server = server
        self.offered = msg.yiaddr
        self._select()

    def _handle_nak(self) -> None:
        """``dhcp_handle_nak``: the address must no longer be used; DISCOVER at once."""
        self.stats.naks += 1
        had = self.lease is not None
        self._set_state(DhcpState.BACKING_OFF)
        self._t0_at = self._t1_at = self._t2_at = None
        if had:
            self._remove_address("nak")
        self._discover()

    def _arp_reply(self, event: ArpReplyReceived) -> None:
        """``dhcp_arp_reply``: a reply from the address we are checking means it is taken."""
        if (event.netif is self.netif and self.state == DhcpState.CHECKING and self.offered is not None
                and event.sender_ip == self.offered):
            self._decline()

    def _link_up(self, event: LinkUp) -> None:
        """``dhcp_network_changed``."""
        if event.netif is not self.netif:
            return
        state = self.state
        if state in (DhcpState.REBINDING, DhcpState.RENEWING, DhcpState.BOUND, DhcpState.REBOOTING):
            self.tries = 0
            if self.lease is not None:
                self.offered = self.lease.address
            self._reboot()
        elif state != DhcpState.OFF:
            self.tries = 0
            self._discover()

    def _netif_removed(self, event: NetifRemoved) -> None:
        if event.netif is self.netif:
            self.lease = None
            self.state = DhcpState.OFF
            self.stop()

    # -- output -------------------------------------------------------------------------------------------------------
    def _request_list(self) -> bytes:
        codes = [w.SUBNET_MASK, w.ROUTER, w.BROADCAST_ADDR, w.DNS_SERVER]
        if self.stack.config.dhcp_get_ntp_srv:
            codes.append(w.NTP_SERVER)
        return bytes(codes)

    def _add_hostname(self, msg: DhcpMessage) -> None:
        if self.hostname:
            msg.add(w.HOSTNAME, self.hostname.encode()[:255])

    def _create(self, mtype: int, xid: int | None = None) -> DhcpMessage:
        """``dhcp_create_msg``: a new transaction id on the first try of an exchange; ciaddr set when bound."""
        if xid is None:
            if self.tries == 0:
                self.xid = self.stack.rng.getrandbits(32)
            xid = self.xid
        msg = DhcpMessage(op=w.BOOTREQUEST, xid=xid, chaddr=self.netif.hwaddr)
        if mtype == w.REQUEST and self.state in (DhcpState.RENEWING, DhcpState.REBINDING) and self.lease is not None:
            msg.ciaddr = self.lease.address
        msg.add(w.MESSAGE_TYPE, mtype)
        cfg = self.stack.config
        if not cfg.dhcp_disable_client_id:
            msg.add(w.CLIENT_ID, self.client_id)
        if self.vendor_class and not cfg.dhcp_disable_vendor_class_id:
            msg.add(w.VENDOR_CLASS, self.vendor_class)
        return msg

    def _send(self, msg: DhcpMessage, dst: IPv4Address) -> None:
        hook = self.stack.hooks.dhcp_append_options
        mtype = msg.message_type or 0
        if hook is not None:
            extra = hook(self.stack, self.netif, self, int(self.state), msg, mtype)
            if extra:
                room = self.stack.config.dhcp_options_len - sum(2 + len(v) for _, v in msg.options) - 1
                if isinstance(extra, (bytes, bytearray)) and len(extra) <= room:
                    msg.options.extend(_options_of(bytes(extra)))
                elif isinstance(extra, (bytes, bytearray)):
                    log.warning("%s: dhcp_append_options gave %d bytes, %d fit (dhcp_options_len)",
                                self.stack.name, len(extra), room)
        data = msg.emit(DHCP_MIN_OPTIONS_LEN)
        assert self._port is not None
        try:
            self._port.pcb.sendto_netif(data, dst, w.SERVER_PORT, self.netif)
            self.stats.xmit += 1
        except LwipError as e:
            log.debug("%s: DHCP %s not sent: %s", self.stack.name, w.MESSAGE_TYPES.get(mtype), e)

    def _parse_hook(self, msg: DhcpMessage, mtype: int) -> None:
        """LWIP_HOOK_DHCP_PARSE_OPTION: called for every option lwIP does not decode itself."""
        hook = self.stack.hooks.dhcp_parse_option
        if hook is None:
            return
        for code, value in msg.options:
            if code not in _DECODED:
                hook(self.stack, self.netif, self, int(self.state), msg, mtype, code, value)


_DECODED = frozenset((w.SUBNET_MASK, w.ROUTER, w.DNS_SERVER, w.NTP_SERVER, w.LEASE_TIME, w.OVERLOAD,
                      w.MESSAGE_TYPE, w.SERVER_ID, w.T1, w.T2))


def _options_of(raw: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 1 < len(raw):
        code, length = raw[i], raw[i + 1]
        if code in (w.PAD, w.END):
            i += 1
            continue
        out.append((code, raw[i + 2:i + 2 + length]))
        i += 2 + length
    return out
