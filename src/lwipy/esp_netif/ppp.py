"""esp_netif's PPP netif (``esp_netif_lwip_ppp.c``, ``esp_netif_ppp.h``) over lwipy's PPPoS.

::

    events = EspEventLoop()
    ppp = EspNetifPpp(stack, PtySerial.open("/dev/ttyUSB0"), event_loop=events, loop=stack_loop)
    ppp.set_auth(EspNetifAuthType.CHAP, "user", "secret")          # esp_netif_ppp_set_auth
    events.handler_register(IP_EVENT, IpEvent.PPP_GOT_IP, on_got_ip)
    ppp.start()                                                      # esp_netif_action_start: ppp_connect

Events, as ``on_ppp_status_changed`` and ``on_ppp_notify_phase`` post them:

- the session connected (lwIP status PPPERR_NONE): IP_EVENT_PPP_GOT_IP with the netif's address (mask
  255.255.255.255, the peer as gateway) when IPv4 is up, else IP_EVENT_GOT_IP6 with the link-local address;
- the connection lost (PPPERR_CONNECT: the peer terminated, the line went away): IP_EVENT_PPP_LOST_IP;
- any other end (PPPERR_USER, AUTHFAIL, PEERDEAD, LOOPBACK...): NETIF_PPP_STATUS with that code, when
  ``ppp_error_event_enabled`` (ESP-IDF's default);
- a phase change: NETIF_PPP_STATUS with ``NETIF_PP_PHASE_OFFSET + phase``, when ``ppp_phase_event_enabled``
  (``CONFIG_LWIP_PPP_NOTIFY_PHASE_SUPPORT``).

The payload of NETIF_PPP_STATUS is the :class:`EspNetifPpp` (ESP-IDF passes the ``esp_netif_t *``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..netif.pppos import pppos_create
from ..ppp import PppPhaseChanged, PppSettings, PppStatus
from . import errors as E
from .event import EspEventLoop
from .types import IP_EVENT, EspNetifIp6Info, EspNetifIpInfo, IpEvent, IpEventGotIp, IpEventGotIp6

if TYPE_CHECKING:
    from ..core.stack import Stack

__all__ = ["EspNetifPpp", "EspNetifPppConfig", "EspNetifAuthType", "EspNetifPppStatusEvent", "NETIF_PPP_STATUS",
           "NETIF_PP_PHASE_OFFSET"]

T = TypeVar("T")
#: ``NETIF_PPP_STATUS``: the event base of PPP errors and phases
NETIF_PPP_STATUS = "NETIF_PPP_STATUS"
NETIF_PP_PHASE_OFFSET = 0x100


class EspNetifPppStatusEvent(IntEnum):
    """``esp_netif_ppp_status_event_t``, same numbers."""

    ERRORNONE = 0
    ERRORPARAM = 1
    ERROROPEN = 2
    ERRORDEVICE = 3
    ERRORALLOC = 4
    ERRORUSER = 5
    ERRORCONNECT = 6
    ERRORAUTHFAIL = 7
    ERRORPROTOCOL = 8
    ERRORPEERDEAD = 9
    ERRORIDLETIMEOUT = 10
    ERRORCONNECTTIME = 11
    ERRORLOOPBACK = 12
    PHASE_DEAD = NETIF_PP_PHASE_OFFSET
    PHASE_MASTER = NETIF_PP_PHASE_OFFSET + 1
    PHASE_HOLDOFF = NETIF_PP_PHASE_OFFSET + 2
    PHASE_INITIALIZE = NETIF_PP_PHASE_OFFSET + 3
    PHASE_SERIALCONN = NETIF_PP_PHASE_OFFSET + 4
    PHASE_DORMANT = NETIF_PP_PHASE_OFFSET + 5
    PHASE_ESTABLISH = NETIF_PP_PHASE_OFFSET + 6
    PHASE_AUTHENTICATE = NETIF_PP_PHASE_OFFSET + 7
    PHASE_CALLBACK = NETIF_PP_PHASE_OFFSET + 8
    PHASE_NETWORK = NETIF_PP_PHASE_OFFSET + 9
    PHASE_RUNNING = NETIF_PP_PHASE_OFFSET + 10
    PHASE_TERMINATE = NETIF_PP_PHASE_OFFSET + 11
    PHASE_DISCONNECT = NETIF_PP_PHASE_OFFSET + 12
    CONNECT_FAILED = NETIF_PP_PHASE_OFFSET + 13


class EspNetifAuthType(IntFlag):
    """``esp_netif_auth_type_t``."""

    NONE = 0x00
    PAP = 0x01
    CHAP = 0x02
    MSCHAP = 0x04
    MSCHAP_V2 = 0x08
    EAP = 0x10


@dataclass
class EspNetifPppConfig:
    """``esp_netif_ppp_config_t``."""

    ppp_phase_event_enabled: bool = True
    ppp_error_event_enabled: bool = True
    #: server role (CONFIG_LWIP_PPP_SERVER_SUPPORT): our address and the one the peer gets
    our_ip4_addr: IPv4Address | None = None
    their_ip4_addr: IPv4Address | None = None
    ppp_lcp_echo_disabled: bool = False


class EspNetifPpp:
    """One PPP ``esp_netif_t`` with its PPPoS driver on ``serial`` (see the module's documentation).

    :param server: lwIP's ``PPP_SERVER`` role (``ppp_listen`` instead of ``ppp_connect``)
    :param loop: the :class:`~lwipy.api.loop.StackLoop` owning the stack (None: calls run on the caller's thread)
    """

    def __init__(self, stack: "Stack", serial: Any, *, event_loop: EspEventLoop | None = None, loop: Any = None,
                 server: bool = False, dns: list[IPv4Address] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.stack = stack
        self.serial = serial
        self.event_loop = event_loop if event_loop is not None else EspEventLoop()
        self._loop = loop
        self.server = server
        self.dns = list(dns or [])
        self.clock = clock
        self.params = EspNetifPppConfig(ppp_phase_event_enabled=bool(stack.config.ppp_notify_phase_support))
        self.authtype = EspNetifAuthType.NONE
        self.user = ""
        self.password = ""
        self.netif: Any = None
        self.device: Any = None
        self._subs: list[Any] = []

    def _call(self, fn: Callable[[], T]) -> T:
        return self._loop.call(fn) if self._loop is not None else fn()

    # -- esp_netif_ppp.h ---------------------------------------------------------------------------------------------
    def set_auth(self, authtype: EspNetifAuthType | int, user: str | None, passwd: str | None) -> None:
        """``esp_netif_ppp_set_auth``: the method(s) and credentials (client: what we authenticate with; server:
        what the peer must use); before :meth:`start`."""
        authtype = EspNetifAuthType(authtype)
        cfg = self.stack.config
        if authtype & (EspNetifAuthType.MSCHAP | EspNetifAuthType.MSCHAP_V2 | EspNetifAuthType.EAP):
            raise E.ESP_ERR_NOT_SUPPORTED("MS-CHAP and EAP are not built (CONFIG_LWIP_PPP_MSCHAP_SUPPORT)")
        if authtype & EspNetifAuthType.PAP and not cfg.ppp_pap_support:
            raise E.ESP_ERR_NOT_SUPPORTED("PAP is off (CONFIG_LWIP_PPP_PAP_SUPPORT)")
        if authtype & EspNetifAuthType.CHAP and not cfg.ppp_chap_support:
            raise E.ESP_ERR_NOT_SUPPORTED("CHAP is off (CONFIG_LWIP_PPP_CHAP_SUPPORT)")
        self.authtype = authtype
        self.user = user or ""
        self.password = passwd or ""

    def set_params(self, config: EspNetifPppConfig) -> None:
        """``esp_netif_ppp_set_params``."""
        if (config.our_ip4_addr or config.their_ip4_addr) and not self.stack.config.ppp_server_support:
            raise E.ESP_ERR_NOT_SUPPORTED("addresses are the server's: CONFIG_LWIP_PPP_SERVER_SUPPORT")
        self.params = config

    def get_params(self) -> EspNetifPppConfig:
        """``esp_netif_ppp_get_params``."""
        return self.params

    # -- esp_netif_action_start / stop -------------------------------------------------------------------------------
    def settings(self) -> PppSettings:
        methods = tuple(m for m, bit in (("chap", EspNetifAuthType.CHAP), ("pap", EspNetifAuthType.PAP))
                        if self.authtype & bit)
        kw: dict[str, Any] = dict(user=self.user, password=self.password, server=self.server)
        kw["auth"] = methods if methods else PppSettings.from_config(self.stack.config).auth
        if self.server:
            kw.update(local=self.params.our_ip4_addr, remote=self.params.their_ip4_addr, dns=self.dns,
                      auth_required=bool(methods))
        settings = PppSettings.from_config(self.stack.config, **kw)
        if self.params.ppp_lcp_echo_disabled:
            settings.lcp_echo_interval = 0.0
        return settings

    def start(self) -> None:
        """``esp_netif_action_start``: create the netif on first use and start the session (``pppapi_connect``, or
        ``pppapi_listen`` for a server)."""
        def api() -> None:
            if self.netif is None:
                self.netif, self.device = pppos_create(self.stack, self.serial, self.settings(), connect=False,
                                                       name="ppp", clock=self.clock)
                on = self.stack.events.subscribe
                self._subs = [on(PppStatus, self._status), on(PppPhaseChanged, self._phase)]
            else:
                self.device.pcb.settings = self.settings()
            self.device.pcb.connect()
        self._call(api)

    def stop(self) -> None:
        """``esp_netif_action_stop``: ``pppapi_close`` (LCP Terminate-Request)."""
        self._call(lambda: self.device.pcb.close() if self.device is not None else None)

    def get_ip_info(self) -> EspNetifIpInfo:
        def api() -> EspNetifIpInfo:
            n = self.netif
            if n is None or n.ip4 is None:
                return EspNetifIpInfo()
            return EspNetifIpInfo(n.ip4.ip, IPv4Address("255.255.255.255"), n.gateway or IPv4Address(0))
        return self._call(api)

    # -- the status and phase callbacks (core thread) ----------------------------------------------------------------
    def _status(self, event: PppStatus) -> None:
        if event.netif is not self.netif:
            return
        pcb = self.device.pcb
        post = self.event_loop.post_from_core
        if event.err == 0:
            if pcb.if4_up and self.netif.ip4 is not None:
                info = EspNetifIpInfo(self.netif.ip4.ip, IPv4Address("255.255.255.255"),
                                      self.netif.gateway or IPv4Address(0))
                post(IP_EVENT, IpEvent.PPP_GOT_IP, IpEventGotIp(self, info, False))  # type: ignore[arg-type]
            elif pcb.if6_up and self.netif.ip6_addrs:
                post(IP_EVENT, IpEvent.GOT_IP6,
                     IpEventGotIp6(self, EspNetifIp6Info(self.netif.ip6_addrs[0].address), 0))  # type: ignore[arg-type]
            return
        if event.err == EspNetifPppStatusEvent.ERRORCONNECT:
            post(IP_EVENT, IpEvent.PPP_LOST_IP, IpEventGotIp(self, EspNetifIpInfo(), False))  # type: ignore[arg-type]
            return
        if self.params.ppp_error_event_enabled:
            post(NETIF_PPP_STATUS, event.err, self)

    def _phase(self, event: PppPhaseChanged) -> None:
        if event.netif is self.netif and self.params.ppp_phase_event_enabled:
            self.event_loop.post_from_core(NETIF_PPP_STATUS, NETIF_PP_PHASE_OFFSET + event.phase, self)
