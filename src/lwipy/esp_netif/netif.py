"""ESP-IDF's network interface API (``esp_netif``, its lwIP implementation ``esp_netif_lwip.c``) over a stack.

::

    events = EspEventLoop()                                   # esp_event_loop_create_default()
    sta = EspNetif(stack, ESP_NETIF_DEFAULT_WIFI_STA, device, event_loop=events, loop=stack_loop)
    events.handler_register(IP_EVENT, IpEvent.STA_GOT_IP, lambda arg, base, id, e: print(e.ip_info.ip))
    sta.start()                                               # esp_netif_start + esp_netif_action_connected

Theory of operation
-------------------
An :class:`EspNetif` owns one netif of the stack (made from ``device`` when none is given) and, by its flags, a DHCP
client (:class:`~lwipy.apps.dhcp.DhcpClient`) or server (:class:`~lwipy.apps.dhcps.DhcpServer`).  Every call runs on
the core thread (through ``loop.call`` when a :class:`~lwipy.api.loop.StackLoop` owns the stack, else directly: a
:class:`~lwipy.sim.Simulation` or a single-threaded program), as ESP-IDF runs its ``*_api`` functions in the tcpip
task.  Errors raise ESP-IDF's codes as exceptions (:mod:`lwipy.esp_netif.errors`).

The lwIP netif exists from construction (down); :meth:`EspNetif.start` is ``esp_netif_start`` (an AUTOUP netif goes
up, a DHCP server starts) followed, for a netif without AUTOUP whose device has carrier, by
``esp_netif_action_connected`` (up, then the DHCP client starts, or a static address is announced);
:meth:`EspNetif.action_disconnected` is ``esp_netif_down``; :meth:`EspNetif.stop` is ``esp_netif_stop`` (the netif
stays in the stack, down, so that its driver stays attached).

IP events are posted to the event loop from the core thread as ``esp_netif_lwip.c`` posts them:

- GOT_IP (``get_ip_event``: IP_EVENT_STA_GOT_IP, IP_EVENT_ETH_GOT_IP) from the DHCP client's callback
  (``esp_netif_internal_dhcpc_cb``) when the address, mask or gateway differ from ``ip_info`` (a renewal of the same
  lease posts nothing), with ``ip_changed`` when they differ from ``ip_info_old``; from ``set_ip_info`` on a netif
  with ESP_NETIF_FLAG_EVENT_IP_MODIFIED; from ``action_connected`` with a static address;
- LOST_IP (``lost_ip_event``) when the lost-IP timer (``CONFIG_ESP_NETIF_IP_LOST_TIMER_INTERVAL``, 120 s) fires and
  the netif still has no address; it starts when the DHCP client loses its address, when the client starts or stops,
  and when a DHCP client netif goes down; the payload is an all-zero ``ip_info`` and ``ip_info_old`` is cleared, so the
  next GOT_IP says ``ip_changed``;
- ASSIGNED_IP_TO_CLIENT (AP_STAIPASSIGNED) when the DHCP server ACKs an address (``esp_netif_dhcps_cb``);
- GOT_IP6 when an IPv6 address of the netif becomes valid (preferred or deprecated), with its index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..apps.dhcp import DhcpBound, DhcpClient, DhcpLost
from ..apps.dhcps import DHCPS_LEASE_TIME_DEF, DhcpsAssigned, DhcpServer
from ..core.addr6 import DEPRECATED, PREFERRED
from ..core.events import Ip6AddressAdded, Ip6AddressStateChanged
from ..errors import ConfigError
from . import errors as E
from .event import EspEventLoop
from .types import (ESP_NETIF_HOSTNAME_MAX_SIZE, IP_EVENT, DhcpsLeaseRange, EspNetifDhcpOptionId,
                    EspNetifDhcpOptionMode, EspNetifDhcpStatus, EspNetifDnsType, EspNetifFlags, EspNetifIp6Info,
                    EspNetifIpInfo, IpEvent, IpEventAssignedIpToClient, IpEventGotIp, IpEventGotIp6)

if TYPE_CHECKING:
    from ..core.netif import Netif
    from ..core.stack import Stack

__all__ = ["EspNetif", "EspNetifInherentConfig", "ESP_NETIF_DEFAULT_WIFI_STA", "ESP_NETIF_DEFAULT_WIFI_AP",
           "ESP_NETIF_DEFAULT_ETH", "IP_LOST_TIMER_INTERVAL", "DEFAULT_HOSTNAME"]

log = logging.getLogger("lwipy")
T = TypeVar("T")
_ZERO = IPv4Address(0)
_ZERO_INFO = EspNetifIpInfo()
#: ``CONFIG_ESP_NETIF_IP_LOST_TIMER_INTERVAL``: seconds from losing the address to IP_EVENT_STA_LOST_IP (0: never)
IP_LOST_TIMER_INTERVAL = 120
#: ``CONFIG_LWIP_LOCAL_HOSTNAME``
DEFAULT_HOSTNAME = "espressif"
F = EspNetifFlags
Status = EspNetifDhcpStatus
Opt = EspNetifDhcpOptionId


@dataclass(frozen=True, slots=True)
class EspNetifInherentConfig:
    """``esp_netif_inherent_config_t``: how an interface behaves."""

    flags: EspNetifFlags
    #: the event posted when it gets an address (an :class:`IpEvent`)
    get_ip_event: int
    #: the event posted when it lost its address (0: none)
    lost_ip_event: int
    #: ``if_key``: a unique name ("WIFI_STA_DEF")
    if_key: str
    #: ``if_desc``: a short description, also the lwIP netif's name
    if_desc: str
    #: the usable netif with the highest priority is the default one
    route_prio: int
    #: the initial address (the access point's 192.168.4.1/24)
    ip_info: EspNetifIpInfo | None = None
    #: the MAC (None: the device's or a random one)
    mac: bytes | None = None


#: ``ESP_NETIF_DEFAULT_WIFI_STA``: DHCP client, gratuitous ARP, MLD reports, GOT_IP on a static address too
ESP_NETIF_DEFAULT_WIFI_STA = EspNetifInherentConfig(
    F.DHCP_CLIENT | F.GARP | F.MLDV6_REPORT | F.EVENT_IP_MODIFIED, IpEvent.STA_GOT_IP, IpEvent.STA_LOST_IP,
    "WIFI_STA_DEF", "sta", 100)
#: ``ESP_NETIF_DEFAULT_WIFI_AP``: 192.168.4.1/24 with the DHCP server, up as soon as started
ESP_NETIF_DEFAULT_WIFI_AP = EspNetifInherentConfig(
    F.DHCP_SERVER | F.AUTOUP, 0, 0, "WIFI_AP_DEF", "ap", 10,
    EspNetifIpInfo.of("192.168.4.1", "255.255.255.0", "192.168.4.1"))
#: ``ESP_NETIF_DEFAULT_ETH``: DHCP client, gratuitous ARP, ETH_GOT_IP / ETH_LOST_IP
ESP_NETIF_DEFAULT_ETH = EspNetifInherentConfig(
    F.DHCP_CLIENT | F.GARP | F.EVENT_IP_MODIFIED, IpEvent.ETH_GOT_IP, IpEvent.ETH_LOST_IP, "ETH_DEF", "eth", 50)


def _info_of(netif: "Netif") -> EspNetifIpInfo:
    if netif.ip4 is None:
        return _ZERO_INFO
    return EspNetifIpInfo(netif.ip4.ip, netif.ip4.netmask, netif.gateway or _ZERO)


class EspNetif:
    """One ``esp_netif_t``; see the module's documentation.

    :param stack: the stack
    :param config: an :class:`EspNetifInherentConfig` (``ESP_NETIF_DEFAULT_WIFI_STA``, ``..._WIFI_AP``, ``..._ETH``)
    :param device: the driver to attach (``esp_netif_attach``); or give ``netif``, a netif of the stack made down
    :param event_loop: where IP events go (None: a new :class:`EspEventLoop` with its own task)
    :param loop: the :class:`~lwipy.api.loop.StackLoop` owning the stack, when a thread other than the caller's does
    :param ip_lost_timer_interval: ``CONFIG_ESP_NETIF_IP_LOST_TIMER_INTERVAL`` in seconds
    """

    def __init__(self, stack: "Stack", config: EspNetifInherentConfig = ESP_NETIF_DEFAULT_WIFI_STA,
                 device: Any = None, *, netif: "Netif | None" = None, event_loop: EspEventLoop | None = None,
                 loop: Any = None, ip_lost_timer_interval: float = IP_LOST_TIMER_INTERVAL) -> None:
        if (config.flags & F.DHCP_SERVER) and (config.flags & F.DHCP_CLIENT):
            raise E.ESP_FAIL("DHCP server and client cannot be configured together")
        if (device is None) == (netif is None):
            raise E.ESP_ERR_INVALID_ARG("give a device to attach or a netif, one of them")
        self.stack = stack
        self.config = config
        self.flags = EspNetifFlags(config.flags)
        self.if_key = config.if_key
        self.if_desc = config.if_desc
        self.route_prio = config.route_prio
        self.get_ip_event = int(config.get_ip_event)
        self.lost_ip_event = int(config.lost_ip_event)
        self.event_loop = event_loop if event_loop is not None else EspEventLoop()
        self.ip_lost_timer_interval = ip_lost_timer_interval
        self._loop = loop
        #: ``esp_netif->ip_info``: the address in force (the static one, or the last the DHCP client gave)
        self.ip_info = config.ip_info or _ZERO_INFO
        #: ``esp_netif->ip_info_old``: the address GOT_IP last announced (``ip_changed`` compares with it)
        self.ip_info_old = self.ip_info
        self.dhcpc_status = Status.INIT
        self.dhcps_status = Status.INIT
        #: ``CONFIG_LWIP_LOCAL_HOSTNAME`` until ``set_hostname`` (Config.local_hostname; "espressif" by default)
        self.hostname: str = stack.config.local_hostname or ""
        self.dhcpc: DhcpClient | None = None
        self.dhcps: DhcpServer | None = None
        self._dhcps_dns: IPv4Address | None = None
        self._lost_at: float | None = None
        self._subs: list[Any] = []
        self.netif: Netif = self._call(lambda: self._new(device, netif))

    # -- the core thread ---------------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the core thread (``esp_netif_lwip_ipc_call``)."""
        return self._loop.call(fn) if self._loop is not None else fn()

    def _new(self, device: Any, netif: "Netif | None") -> "Netif":
        stack = self.stack
        if netif is None:
            names = {n.name for n in stack.netifs}
            name = self.if_desc if self.if_desc not in names else f"{self.if_desc}{len(stack.netifs)}"
            netif = stack.add_netif(device, name=name, hwaddr=self.config.mac, up=False, route_prio=self.route_prio)
        else:
            if netif not in stack.netifs:
                raise E.ESP_ERR_INVALID_ARG(f"{netif!r} is not a netif of {stack!r}")
            netif.set_route_prio(self.route_prio)
        if self.flags & F.DHCP_CLIENT:
            self.dhcpc = DhcpClient(stack, netif, hostname=self.hostname)
        if self.flags & F.DHCP_SERVER:
            self.dhcps = DhcpServer(stack, netif)
        on = stack.events.subscribe
        self._subs = [on(DhcpBound, self._dhcp_event), on(DhcpLost, self._dhcp_event),
                      on(DhcpsAssigned, self._dhcps_cb), on(Ip6AddressStateChanged, self._ip6_event),
                      on(Ip6AddressAdded, self._ip6_event)]
        stack.add_poller(self)
        return netif

    def _post(self, event_id: int, data: Any) -> None:
        self.event_loop.post_from_core(IP_EVENT, event_id, data)

    # -- start, stop, up, down ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """``esp_netif_start``, then ``esp_netif_action_connected`` for a netif that is not AUTOUP when its device
        has carrier (lwipy has no Wi-Fi association to wait for)."""
        self._call(self._start_api)
        if not self.flags & F.AUTOUP and getattr(self.netif.device, "link_up", True):
            self.action_connected()

    def _start_api(self) -> None:
        netif = self.netif
        if self.flags & F.AUTOUP:
            self._set_addr(self.ip_info)
            netif.set_up()
            netif.set_link_up()
        if self.flags & F.DHCP_SERVER:
            if self.dhcps_status == Status.STARTED:
                raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED()
            if self.dhcps_status == Status.INIT and netif.up:
                self._dhcps_start()

    def stop(self) -> None:
        """``esp_netif_stop``: the DHCP server stops (its status back to INIT unless stopped by hand), or the DHCP
        client releases its lease and stops (INIT); the netif goes down."""
        self._call(self._stop_api)

    def _stop_api(self) -> None:
        netif = self.netif
        if not netif.up:
            raise E.ESP_ERR_ESP_NETIF_IF_NOT_READY(f"{netif.name} is not up")
        if self.flags & F.DHCP_SERVER:
            if self.dhcps is not None and self.dhcps.started:
                self.dhcps.stop()
            if self.dhcps_status != Status.STOPPED:
                self.dhcps_status = Status.INIT
        elif self.flags & F.DHCP_CLIENT:
            if self.dhcpc is not None and self.dhcpc.started:
                self.dhcpc.stop()
            self.dhcpc_status = Status.INIT
            self.ip_info = _ZERO_INFO
        netif.set_up(False)

    def up(self) -> None:
        """``esp_netif_up``: the address in ``ip_info`` (the last obtained or the static one), netif and link up."""
        def api() -> None:
            self._set_addr(self.ip_info)
            self.netif.set_up()
            self.netif.set_link_up()
        self._call(api)

    def down(self) -> None:
        """``esp_netif_down``: a running DHCP client stops (INIT), addresses go, netif and link down; on a DHCP client
        netif the lost-IP timer starts."""
        def api() -> None:
            netif = self.netif
            if self.flags & F.DHCP_CLIENT and self.dhcpc_status == Status.STARTED:
                assert self.dhcpc is not None
                self.dhcpc.stop()
                self.dhcpc_status = Status.INIT
                self.ip_info = _ZERO_INFO
            for a in list(netif.ip6_addrs):
                netif.remove_ip6_address(a.addr)
            netif.set_ipv4(None)
            netif.set_up(False)
            netif.set_link_up(False)
            if self.flags & F.DHCP_CLIENT:
                self._start_ip_lost_timer()
        self._call(api)

    def action_connected(self) -> None:
        """``esp_netif_action_connected`` (the driver's "connected" event): up; a DHCP client netif then starts its
        client (status INIT), or with the client stopped announces a valid static address as GOT_IP."""
        self.up()
        if not self.flags & F.DHCP_CLIENT:
            return
        if self.dhcpc_status == Status.INIT:
            self.dhcpc_start()
        elif self.dhcpc_status == Status.STOPPED:
            def api() -> None:
                ip = self._get_ip_info()
                if int(ip.ip) and int(ip.netmask):
                    self._post(self.get_ip_event, IpEventGotIp(self, ip, ip != self.ip_info_old))
                    self.ip_info_old = ip
            self._call(api)

    def action_disconnected(self) -> None:
        """``esp_netif_action_disconnected``: :meth:`down`."""
        self.down()

    def is_netif_up(self) -> bool:
        """``esp_netif_is_netif_up``."""
        return self.netif.up

    # -- DHCP client -------------------------------------------------------------------------------------------------
    def dhcpc_start(self) -> None:
        """``esp_netif_dhcpc_start``: ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED when it runs.  DNS servers but the
        FALLBACK one are cleared; on a netif that is up the address goes to 0.0.0.0, the lost-IP timer starts and the
        client starts; on one that is down the status becomes INIT (the client starts at ``action_connected``)."""
        self._call(self._dhcpc_start_api)

    def _dhcpc_start_api(self) -> None:
        if not self.flags & F.DHCP_CLIENT or self.dhcpc is None:
            raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} has no DHCP client")
        if self.dhcpc_status == Status.STARTED:
            raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED()
        self.ip_info = _ZERO_INFO
        self._dns_clear_servers()
        if not self.netif.up:
            self.dhcpc_status = Status.INIT
            return
        self._set_addr(_ZERO_INFO)
        self._start_ip_lost_timer()
        self.dhcpc.hostname = self.hostname
        try:
            self.dhcpc.start()
        except Exception as e:
            raise E.ESP_ERR_ESP_NETIF_DHCPC_START_FAILED(str(e)) from e
        self.dhcpc_status = Status.STARTED

    def dhcpc_stop(self) -> None:
        """``esp_netif_dhcpc_stop``: ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED when stopped; a running client releases
        its lease and stops, ``ip_info`` is cleared and the lost-IP timer starts; the status is STOPPED (needed
        before ``set_ip_info``)."""
        def api() -> None:
            if not self.flags & F.DHCP_CLIENT or self.dhcpc is None:
                raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} has no DHCP client")
            if self.dhcpc_status == Status.STARTED:
                self.dhcpc.stop()
                self.ip_info = _ZERO_INFO
                self._start_ip_lost_timer()
            elif self.dhcpc_status == Status.STOPPED:
                raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED()
            self.dhcpc_status = Status.STOPPED
        self._call(api)

    def dhcpc_get_status(self) -> EspNetifDhcpStatus:
        """``esp_netif_dhcpc_get_status`` (ESP_ERR_INVALID_ARG on a DHCP server netif)."""
        if self.flags & F.DHCP_SERVER:
            raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} is a DHCP server netif")
        return self.dhcpc_status

    def dhcpc_option(self, op: EspNetifDhcpOptionMode, option: EspNetifDhcpOptionId, value: Any = None) -> Any:
        """``esp_netif_dhcpc_option``: VENDOR_CLASS_IDENTIFIER (option 60) can be set and read; the rest is
        ESP_ERR_NOT_SUPPORTED, as in ESP-IDF."""
        if self.dhcpc is None:
            raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} has no DHCP client")
        if option != Opt.VENDOR_CLASS_IDENTIFIER:
            raise E.ESP_ERR_NOT_SUPPORTED(f"DHCP client option {option}")
        if op == EspNetifDhcpOptionMode.OP_GET:
            vc = self.dhcpc.vendor_class
            return vc.decode() if vc is not None else None
        if op != EspNetifDhcpOptionMode.OP_SET:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS(f"mode {op}")
        text = value.encode() if isinstance(value, str) else value

        def api() -> None:
            assert self.dhcpc is not None
            self.dhcpc.vendor_class = text
        return self._call(api)

    def _dhcp_event(self, event: DhcpBound | DhcpLost) -> None:
        """``esp_netif_internal_dhcpc_cb``: the DHCP client set or removed the address."""
        if event.netif is not self.netif:
            return
        current = _info_of(self.netif)
        if current.ip != _ZERO:
            if current != self.ip_info:
                self.ip_info = current
                changed = current != self.ip_info_old
                self.ip_info_old = current
                self._post(self.get_ip_event, IpEventGotIp(self, current, changed))
        elif self.ip_info.ip != _ZERO:
            self._start_ip_lost_timer()

    # -- the lost-IP timer (a sys_timeout on the tcpip thread) -------------------------------------------------------
    def _start_ip_lost_timer(self) -> None:
        """``esp_netif_start_ip_lost_timer``: once, while not running, when the interval is not 0."""
        if self._lost_at is None and self.ip_lost_timer_interval > 0:
            self._lost_at = self.stack.now + self.ip_lost_timer_interval

    def poll(self, now: float) -> None:
        """``esp_netif_ip_lost_timer``: still no address: ``ip_info_old`` cleared, LOST_IP posted."""
        if self._lost_at is None or now < self._lost_at:
            return
        self._lost_at = None
        if self.netif.ip4 is None:
            self.ip_info_old = _ZERO_INFO
            if self.lost_ip_event:
                self._post(self.lost_ip_event, IpEventGotIp(self, _ZERO_INFO, False))

    def poll_at(self) -> float | None:
        return self._lost_at

    # -- DHCP server -------------------------------------------------------------------------------------------------
    def _dhcps_start(self) -> None:
        assert self.dhcps is not None
        try:
            self.dhcps.start()
        except (ConfigError, OSError) as e:
            self.dhcps_status = Status.INIT
            raise E.ESP_ERR_ESP_NETIF_DHCPS_START_FAILED(str(e)) from e
        self.dhcps_status = Status.STARTED

    def dhcps_start(self) -> None:
        """``esp_netif_dhcps_start``: ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED when it runs; on a netif that is down
        the status becomes INIT (it starts with the netif); ESP_ERR_ESP_NETIF_DHCPS_START_FAILED for a pool the
        server refuses."""
        def api() -> None:
            if self.dhcps is None:
                raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} has no DHCP server")
            if self.dhcps_status == Status.STARTED:
                raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED()
            if self.netif.up:
                self._dhcps_start()
            else:
                self.dhcps_status = Status.INIT
        self._call(api)

    def dhcps_stop(self) -> None:
        """``esp_netif_dhcps_stop``: ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED when stopped; the status is STOPPED."""
        def api() -> None:
            if self.dhcps is None:
                raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} has no DHCP server")
            if self.dhcps_status == Status.STARTED:
                self.dhcps.stop()
            elif self.dhcps_status == Status.STOPPED:
                raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED()
            self.dhcps_status = Status.STOPPED
        self._call(api)

    def dhcps_get_status(self) -> EspNetifDhcpStatus:
        """``esp_netif_dhcps_get_status`` (ESP_ERR_INVALID_ARG on a DHCP client netif)."""
        if self.flags & F.DHCP_CLIENT:
            raise E.ESP_ERR_INVALID_ARG(f"{self.if_key} is a DHCP client netif")
        return self.dhcps_status

    def dhcps_option(self, op: EspNetifDhcpOptionMode, option: EspNetifDhcpOptionId, value: Any = None) -> Any:
        """``esp_netif_dhcps_option``.  OP_GET while the server is STOPPED raises
        ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED and OP_SET while it is STARTED ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED,
        as ESP-IDF.  Options: IP_ADDRESS_LEASE_TIME (units of ``CONFIG_LWIP_DHCPS_LEASE_UNIT``; 0 sets the default
        120), REQUESTED_IP_ADDRESS (a :class:`~lwipy.esp_netif.types.DhcpsLeaseRange`; containing the server's
        address, outside its /24 or more than 100 addresses is ESP_ERR_ESP_NETIF_INVALID_PARAMS),
        ROUTER_SOLICITATION_ADDRESS and DOMAIN_NAME_SERVER (offer them or not), CAPTIVEPORTAL_URI (option 114),
        SUBNET_MASK (read only).  Anything else is ESP_ERR_ESP_NETIF_INVALID_PARAMS."""
        return self._call(lambda: self._dhcps_option_api(op, option, value))

    def _dhcps_option_api(self, op: EspNetifDhcpOptionMode, option: EspNetifDhcpOptionId, value: Any) -> Any:
        server = self.dhcps
        if server is None:
            raise E.ESP_ERR_ESP_NETIF_IF_NOT_READY(f"{self.if_key} has no DHCP server")
        known = (Opt.IP_ADDRESS_LEASE_TIME, Opt.REQUESTED_IP_ADDRESS, Opt.ROUTER_SOLICITATION_ADDRESS,
                 Opt.DOMAIN_NAME_SERVER, Opt.CAPTIVEPORTAL_URI, Opt.SUBNET_MASK)
        if option not in known:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS(f"DHCP server option {option}")
        if op == EspNetifDhcpOptionMode.OP_GET:
            if self.dhcps_status == Status.STOPPED:
                raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED()
            if option == Opt.REQUESTED_IP_ADDRESS:
                pool = server.pool if server.started else server.pool_request
                if pool is None:
                    return DhcpsLeaseRange(False, _ZERO, _ZERO)
                return DhcpsLeaseRange(True, pool[0], pool[1])
            if option == Opt.SUBNET_MASK:
                return self.netif.ip4.netmask if self.netif.ip4 is not None else self.ip_info.netmask
            return server.get_option(int(option))
        if op != EspNetifDhcpOptionMode.OP_SET:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS(f"mode {op}")
        if self.dhcps_status == Status.STARTED:
            raise E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED()
        if option == Opt.IP_ADDRESS_LEASE_TIME:
            server.set_option(int(option), int(value) or DHCPS_LEASE_TIME_DEF)
        elif option == Opt.REQUESTED_IP_ADDRESS:
            if not isinstance(value, DhcpsLeaseRange):
                raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("REQUESTED_IP_ADDRESS takes a DhcpsLeaseRange")
            if not value.enable:
                server.pool_request = None
                return None
            own = int(self._get_ip_info().ip)
            start, end = int(value.start_ip), int(value.end_ip)
            if start <= own <= end:
                raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("the pool holds the server's address")
            if start >> 8 != own >> 8 or end >> 8 != own >> 8:
                raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("the pool is not in the server's /24")
            if end - start > 100:
                raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("the pool has more than DHCPS_MAX_LEASE addresses")
            server.pool_request = (value.start_ip, value.end_ip)
        elif option == Opt.SUBNET_MASK:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("the subnet mask is the netif's (set_ip_info)")
        else:
            server.set_option(int(option), value)
        return None

    def dhcps_get_clients_by_mac(self, macs: list[bytes]) -> list[tuple[bytes, IPv4Address]]:
        """``esp_netif_dhcps_get_clients_by_mac``: for each MAC, its leased address (0.0.0.0 when it has none)."""
        def api() -> list[tuple[bytes, IPv4Address]]:
            out = []
            for mac in macs:
                lease = self.dhcps.client_by_mac(mac) if self.dhcps is not None else None
                out.append((bytes(mac), lease.ip if lease is not None and lease.bound else _ZERO))
            return out
        return self._call(api)

    # -- NAPT (esp_netif_napt_enable / esp_netif_napt_disable) ------------------------------------------------------
    def napt_enable(self) -> None:
        """``esp_netif_napt_enable``: translate the traffic of the hosts behind this netif (the inside one: the SoftAP
        of a Wi-Fi router, the LAN side of a gateway) to the address of whichever netif it leaves by.  One netif at a
        time: ESP_ERR_INVALID_STATE when another has NAPT (disable it there first), ESP_FAIL when this netif is down,
        ESP_ERR_NOT_SUPPORTED when the stack's Config has ``ipv4_napt`` (CONFIG_LWIP_IPV4_NAPT) or ``ip_forward`` off.
        """
        def api() -> None:
            stack = self.stack
            if not (stack.config.ipv4_napt and stack.config.ip_forward):
                raise E.ESP_ERR_NOT_SUPPORTED("NAPT needs CONFIG_LWIP_IPV4_NAPT and CONFIG_LWIP_IP_FORWARD "
                                              "(Config(ipv4_napt=True, ip_forward=True))")
            if not self.netif.up:
                raise E.ESP_FAIL(f"{self.if_key} is down: start it before enabling NAPT")
            try:
                stack.napt.enable(self.netif)
            except ValueError as e:
                raise E.ESP_ERR_INVALID_STATE(str(e)) from None
        self._call(api)

    def napt_disable(self) -> None:
        """``esp_netif_napt_disable``: stop translating (the table and the port maps are forgotten); a no-op when
        this netif does not have NAPT."""
        self._call(lambda: self.stack.napt.disable(self.netif))

    def _dhcps_cb(self, event: DhcpsAssigned) -> None:
        """``esp_netif_dhcps_cb``: IP_EVENT_ASSIGNED_IP_TO_CLIENT."""
        if event.netif is self.netif:
            self._post(IpEvent.ASSIGNED_IP_TO_CLIENT,
                       IpEventAssignedIpToClient(self, event.ip, bytes(event.mac), event.hostname or ""))

    # -- addresses ---------------------------------------------------------------------------------------------------
    def _set_addr(self, info: EspNetifIpInfo) -> None:
        if int(info.ip) and int(info.netmask):
            self.netif.set_ipv4(IPv4Interface(f"{info.ip}/{info.netmask}"), info.gw if int(info.gw) else None)
        else:
            self.netif.set_ipv4(None)

    def _get_ip_info(self) -> EspNetifIpInfo:
        return _info_of(self.netif) if self.netif.up else self.ip_info

    def get_ip_info(self) -> EspNetifIpInfo:
        """``esp_netif_get_ip_info``: the netif's address when it is up, else ``ip_info``."""
        return self._call(self._get_ip_info)

    def get_old_ip_info(self) -> EspNetifIpInfo:
        """``esp_netif_get_old_ip_info``."""
        return self.ip_info_old

    def set_old_ip_info(self, info: EspNetifIpInfo) -> None:
        """``esp_netif_set_old_ip_info``."""
        self.ip_info_old = info

    def set_ip_info(self, info: EspNetifIpInfo) -> None:
        """``esp_netif_set_ip_info``: a static address.  ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED unless the netif's DHCP
        client or server is STOPPED (a DHCP client netif also loses its DNS servers but FALLBACK).  On a netif that is
        up the address is set; with ESP_NETIF_FLAG_EVENT_IP_MODIFIED and an address, mask and gateway all set, GOT_IP
        is posted (``ip_changed`` against ``ip_info_old``)."""
        def api() -> None:
            if self.flags & F.DHCP_SERVER:
                if self.dhcps_status != Status.STOPPED:
                    raise E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED("stop the DHCP server first")
            elif self.flags & F.DHCP_CLIENT:
                if self.dhcpc_status != Status.STOPPED:
                    raise E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED("stop the DHCP client first")
                self._dns_clear_servers()
            self.ip_info = info
            if self.netif.up:
                self._set_addr(info)
                if self.flags & F.EVENT_IP_MODIFIED and int(info.ip) and int(info.netmask) and int(info.gw):
                    changed = info != self.ip_info_old
                    self.ip_info_old = info
                    self._post(self.get_ip_event, IpEventGotIp(self, info, changed))
        self._call(api)

    # -- DNS ---------------------------------------------------------------------------------------------------------
    def _dns_index(self, kind: EspNetifDnsType) -> int:
        try:
            kind = EspNetifDnsType(kind)
        except ValueError:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS(f"DNS type {kind}") from None
        return self.stack.dns.fallback_index if kind == EspNetifDnsType.FALLBACK else int(kind)

    def _dns_clear_servers(self) -> None:
        """``dns_clear_servers(true)``: every server but FALLBACK."""
        for i in range(self.stack.dns.max_servers):
            if i != self.stack.dns.fallback_index:
                self.stack.dns_setserver(i, None)

    def set_dns_info(self, kind: EspNetifDnsType, ip: str | IPv4Address | IPv6Address) -> None:
        """``esp_netif_set_dns_info``: 0.0.0.0 is ESP_ERR_ESP_NETIF_INVALID_PARAMS; on a DHCP server netif only MAIN
        is taken, and it is the DNS server offered to clients; elsewhere the stack's server at that index."""
        addr = ip_address(ip) if isinstance(ip, str) else ip
        if addr.is_unspecified:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("an unspecified DNS server")

        def api() -> None:
            index = self._dns_index(kind)
            if self.flags & F.DHCP_SERVER:
                if kind != EspNetifDnsType.MAIN or addr.version != 4:
                    raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS("a DHCP server offers one IPv4 DNS server (MAIN)")
                assert self.dhcps is not None
                self._dhcps_dns = addr  # type: ignore[assignment]
                self.dhcps.dns_servers = [addr]
            else:
                self.stack.dns_setserver(index, addr)
        self._call(api)

    def get_dns_info(self, kind: EspNetifDnsType) -> IPv4Address | IPv6Address:
        """``esp_netif_get_dns_info``: the server (0.0.0.0 when none); on a DHCP server netif the one it offers."""
        def api() -> IPv4Address | IPv6Address:
            index = self._dns_index(kind)
            if self.flags & F.DHCP_SERVER:
                return self._dhcps_dns or _ZERO
            found = self.stack.dns_getserver(index)
            return found if found is not None else _ZERO
        return self._call(api)

    # -- host name ---------------------------------------------------------------------------------------------------
    def set_hostname(self, hostname: str) -> None:
        """``esp_netif_set_hostname``: the DHCP client's option 12 from its next message (longer than
        ESP_NETIF_HOSTNAME_MAX_SIZE is ESP_ERR_ESP_NETIF_INVALID_PARAMS)."""
        if len(hostname) > ESP_NETIF_HOSTNAME_MAX_SIZE:
            raise E.ESP_ERR_ESP_NETIF_INVALID_PARAMS(f"host name longer than {ESP_NETIF_HOSTNAME_MAX_SIZE}")

        def api() -> None:
            self.hostname = hostname
            if self.dhcpc is not None:
                self.dhcpc.hostname = hostname
        self._call(api)

    def get_hostname(self) -> str:
        """``esp_netif_get_hostname``."""
        return self.hostname

    # -- IPv6 --------------------------------------------------------------------------------------------------------
    def create_ip6_linklocal(self) -> None:
        """``esp_netif_create_ip6_linklocal``: the link-local address from the MAC (ESP_FAIL on a netif that is
        down); GOT_IP6 follows when duplicate address detection is done."""
        def api() -> None:
            if not self.netif.up:
                raise E.ESP_FAIL(f"{self.netif.name} is down")
            self.netif.create_ip6_linklocal()
        self._call(api)

    def get_ip6_linklocal(self) -> IPv6Address:
        """``esp_netif_get_ip6_linklocal``: ESP_FAIL unless the netif is up with a preferred link-local address."""
        def api() -> IPv6Address:
            addrs = self.netif.ip6_addrs
            if self.netif.up and addrs and addrs[0].address.is_link_local and addrs[0].state == PREFERRED:
                return addrs[0].address
            raise E.ESP_FAIL("no preferred link-local address")
        return self._call(api)

    def get_ip6_global(self) -> IPv6Address:
        """``esp_netif_get_ip6_global``: the first preferred address that is not link-local (ESP_FAIL: none)."""
        def api() -> IPv6Address:
            for a in self.netif.ip6_addrs:
                if a.state == PREFERRED and not a.address.is_link_local:
                    return a.address
            raise E.ESP_FAIL("no preferred global IPv6 address")
        return self._call(api)

    def get_all_ip6(self) -> list[IPv6Address]:
        """``esp_netif_get_all_ip6``: every valid (preferred or deprecated) address."""
        return self._call(lambda: [a.address for a in self.netif.ip6_addrs if a.state in (PREFERRED, DEPRECATED)])

    def _ip6_event(self, event: Ip6AddressAdded | Ip6AddressStateChanged) -> None:
        """``esp_netif_internal_nd6_cb``: GOT_IP6 when an address becomes valid."""
        if event.netif is not self.netif:
            return
        state = event.state if isinstance(event, Ip6AddressAdded) else event.new_state
        if state not in (PREFERRED, DEPRECATED):
            return
        index = next((i for i, a in enumerate(self.netif.ip6_addrs) if a.address == event.address), -1)
        self._post(IpEvent.GOT_IP6, IpEventGotIp6(self, EspNetifIp6Info(event.address), index))

    # -- the rest ----------------------------------------------------------------------------------------------------
    def get_mac(self) -> bytes:
        """``esp_netif_get_mac``."""
        return self.netif.hwaddr

    def get_netif_impl_index(self) -> int:
        """``esp_netif_get_netif_impl_index``: the lwIP netif's index."""
        return self.netif.index

    def get_flags(self) -> EspNetifFlags:
        return self.flags

    def get_ifkey(self) -> str:
        return self.if_key

    def get_desc(self) -> str:
        return self.if_desc

    def get_route_prio(self) -> int:
        return self.route_prio

    def get_event_id(self, lost: bool = False) -> int:
        """``esp_netif_get_event_id``: the GOT_IP event id (or with ``lost`` the LOST_IP one)."""
        return self.lost_ip_event if lost else self.get_ip_event

    def set_default_netif(self) -> None:
        """``esp_netif_set_default_netif``: this netif is the default until it is removed."""
        self._call(lambda: self.stack.set_default_netif(self.netif))

    def destroy(self) -> None:
        """``esp_netif_destroy``: DHCP stopped, subscriptions and timer gone, the netif removed from the stack."""
        def api() -> None:
            if self.dhcpc is not None and self.dhcpc.started:
                self.dhcpc.stop()
            if self.dhcps is not None and self.dhcps.started:
                self.dhcps.stop()
            for sub in self._subs:
                sub.cancel()
            self._subs = []
            self.stack.remove_poller(self)
            if self.netif in self.stack.netifs:
                self.stack.remove_netif(self.netif)
        self._call(api)

    def __repr__(self) -> str:
        return f"<EspNetif {self.if_key} {self.netif.name} {self.ip_info.ip}>"
