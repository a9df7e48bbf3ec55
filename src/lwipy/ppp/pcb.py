"""One PPP session over an asynchronous serial line (lwIP's ``ppp_pcb`` with ``pppos.c``), sans-I/O.

Theory of operation: serial bytes go in through :meth:`PppPcb.input` (the deframer, then the protocol dispatch of
lwIP's ``ppp_input``), serial bytes come out through the ``output`` callable given at creation; the session's
timers are deadlines (:meth:`PppPcb.poll_at`, :meth:`PppPcb.poll`).  The phases follow ``auth.c``: Dead ->
Establish (LCP negotiates) -> Authenticate (PAP/CHAP, each way asked for) -> Network (IPCP, IPV6CP) -> Running (a
network protocol is up) -> Terminate -> Dead.  A network protocol coming up gives the netif its address (IPCP: the
local address /32 with the peer as gateway, DNS servers to the resolver's MAIN/BACKUP when ``usepeerdns``; IPV6CP:
the link-local address from the negotiated interface identifier, preferred at once as lwIP's ``sif6addr`` makes it)
and its link; the last one going down takes them away.  Observers get :class:`PppPhaseChanged` and
:class:`PppStatus` events on the stack's bus (lwIP's ``notify_phase_cb`` and ``link_status_cb``): status
``PPPERR_NONE`` once an address is usable, then the ``PPPERR_*`` reason when the session ends.

Packets of other protocols before LCP is Opened, or of network protocols before the Network phase, are dropped
(``ppp_input``: "discarding proto 0x%x in phase %d"); an unknown protocol in Opened gets an LCP Protocol-Reject.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Any, Callable

from ..wire.ppp import (ACCM_ALL, PPP_CHAP, PPP_IP, PPP_IPCP, PPP_IPV6, PPP_IPV6CP, PPP_LCP, PPP_PAP,
                        PPP_VJC_COMP, PPP_VJC_UNCOMP, PROTREJ, CpPacket, Deframer, frame_encode)
from .auth import Chap, Pap
from .fsm import OPENED, OPT_PASSIVE, OPT_SILENT, Fsm
from .ipcp import IpcpHandler
from .ipv6cp import Ipv6cpHandler
from .vj import VjPair
from .lcp import (CI_ACCOMP, CI_ASYNCMAP, CI_AUTHTYPE, CI_FCSALTERN, CI_MRU, CI_PCOMP, DEF_MRU, FCS_32, LcpHandler,
                  auth_value)

if TYPE_CHECKING:
    from ..core.netif import Netif

__all__ = ["PppPcb", "PppSettings", "PppPhaseChanged", "PppStatus", "PHASE_NAMES", "PPPERR_NAMES"]

# lwIP's PPP_PHASE_*
(PHASE_DEAD, PHASE_MASTER, PHASE_HOLDOFF, PHASE_INITIALIZE, PHASE_SERIALCONN, PHASE_DORMANT, PHASE_ESTABLISH,
 PHASE_AUTHENTICATE, PHASE_CALLBACK, PHASE_NETWORK, PHASE_RUNNING, PHASE_TERMINATE, PHASE_DISCONNECT) = range(13)
PHASE_NAMES = ("dead", "master", "holdoff", "initialize", "serialconn", "dormant", "establish", "authenticate",
               "callback", "network", "running", "terminate", "disconnect")
# lwIP's PPPERR_*
PPPERR_NAMES = ("none", "param", "open", "device", "alloc", "user", "connect", "authfail", "protocol", "peerdead",
                "idletimeout", "connecttime", "loopback")


@dataclass
class PppSettings:
    """The options of one session (lwIP's ``ppp_settings`` and the ``ppp_set_*`` calls)."""

    server: bool = False
    """lwIP's ``PPP_SERVER`` role (``ppp_listen``): silent until the peer's LCP, assigns ``remote``, offers ``dns``,
    may require authentication."""
    user: str = ""
    """Client: the name we authenticate with; server: the one account accepted (``ppp_set_auth``)."""
    password: str = ""
    auth: tuple[str, ...] = ("pap", "chap")
    """Client: the methods we agree to authenticate with (lwIP's PPPAUTHTYPE_PAP/CHAP); needs ``user``.  Server:
    the method required of the peer (the first listed, or none when empty: ``ppp_set_auth_required``)."""
    auth_required: bool = False
    """Server: require the peer to authenticate (``ppp_set_auth_required``)."""
    our_name: str = "lwipy"
    """The name in our CHAP Challenges (lwIP: the hostname)."""
    local: IPv4Address | None = None
    """Our IPv4 address (``ppp_set_ipcp_ouraddr``); None: the peer gives one."""
    remote: IPv4Address | None = None
    """The peer's IPv4 address (server: ``ppp_set_ipcp_hisaddr``)."""
    dns: list[IPv4Address] = field(default_factory=list)
    """Server: up to two DNS servers offered (``ppp_set_ipcp_dnsaddr``)."""
    usepeerdns: bool = True
    """Client: ask for DNS servers and give them to the resolver (``ppp_set_usepeerdns``; esp_netif sets it)."""
    ipv4: bool = True
    """Negotiate IPCP (``CONFIG_LWIP_PPP_ENABLE_IPV4``)."""
    ipv6: bool = False
    """Negotiate IPV6CP (``CONFIG_LWIP_PPP_ENABLE_IPV6``)."""
    vj: bool = False
    """VJ TCP/IP header compression (``CONFIG_LWIP_PPP_VJ_HEADER_COMPRESSION``)."""
    mru: int = DEF_MRU
    accm: int = 0
    pfc: bool = True
    acfc: bool = True
    fcs32: bool = False
    """Ask for FCS-32 (RFC 1570 FCS-Alternatives) and accept it; lwIP knows no such option and Rejects it."""
    lcp_echo_interval: float = 0.0
    """Seconds between LCP Echo-Requests, 0 for none (``CONFIG_LWIP_LCP_ECHOINTERVAL`` when
    ``CONFIG_LWIP_ENABLE_LCP_ECHO``)."""
    lcp_echo_fails: int = 3
    """Unanswered Echo-Requests before the link is dead (``CONFIG_LWIP_LCP_MAXECHOFAILS``)."""
    restart: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5
    loopbackfail: int = 10
    passive: bool = False

    @classmethod
    def from_config(cls, config: Any, **kw: Any) -> "PppSettings":
        """Settings as ESP-IDF's Kconfig makes them (``CONFIG_LWIP_PPP_*``, ``CONFIG_LWIP_*LCP_ECHO*``), with
        ``kw`` on top: the authentication methods built in, IPV6CP and VJ as configured, LCP echo when enabled."""
        methods = tuple(m for m, on in (("chap", config.ppp_chap_support), ("pap", config.ppp_pap_support)) if on)
        base: dict[str, Any] = dict(
            auth=methods, ipv6=bool(config.ppp_enable_ipv6 and config.ipv6), ipv4=bool(config.ppp_enable_ipv4),
            vj=bool(config.ppp_vj_header_compression),
            lcp_echo_interval=float(config.lcp_echointerval) if config.enable_lcp_echo else 0.0,
            lcp_echo_fails=int(config.lcp_maxechofails))
        base.update(kw)
        return cls(**base)

    def check(self, config: Any) -> None:
        """Refuse settings the configuration leaves out (ValueError naming the Kconfig symbol)."""
        if not config.ppp_support:
            raise ValueError("PPP is off: Config(ppp_support=True) (CONFIG_LWIP_PPP_SUPPORT)")
        if self.server and not config.ppp_server_support:
            raise ValueError("the PPP server role is off: Config(ppp_server_support=True) "
                             "(CONFIG_LWIP_PPP_SERVER_SUPPORT)")
        if self.ipv6 and not config.ipv6:
            raise ValueError("IPV6CP needs IPv6 (CONFIG_LWIP_IPV6)")
        for method, flag, symbol in (("pap", config.ppp_pap_support, "CONFIG_LWIP_PPP_PAP_SUPPORT"),
                                     ("chap", config.ppp_chap_support, "CONFIG_LWIP_PPP_CHAP_SUPPORT")):
            if method in self.auth and not flag and (self.user or self.password or self.auth_required):
                raise ValueError(f"{method.upper()} is off: {symbol}")

    def auth_methods_as_client(self) -> tuple[str, ...]:
        return tuple(self.auth) if self.user or self.password else ()

    def auth_methods_as_server(self) -> tuple[str, ...]:
        return tuple(self.auth) if self.server and self.auth_required else ()


@dataclass(frozen=True, slots=True)
class PppPhaseChanged:
    """A session moved to another phase (lwIP's ``ppp_notify_phase_cb``)."""

    netif: "Netif | None"
    phase: int
    name: str


@dataclass(frozen=True, slots=True)
class PppStatus:
    """lwIP's ``link_status_cb``: ``err`` 0 (PPPERR_NONE) once connected, else why the session ended."""

    netif: "Netif | None"
    err: int
    name: str


class PppPcb:
    """One PPPoS session.  ``output(bytes)`` writes to the serial line; ``now`` is the clock; ``netif`` (set by
    :func:`lwipy.ppp.pppos_create`) receives the addresses."""

    PPPERR_NONE, PPPERR_USER, PPPERR_CONNECT, PPPERR_AUTHFAIL, PPPERR_PEERDEAD, PPPERR_LOOPBACK = 0, 5, 6, 7, 9, 12
    PPPERR_PROTOCOL = 8

    def __init__(self, settings: PppSettings, output: Callable[[bytes], Any], *, now: Callable[[], float],
                 rng: random.Random | None = None, emit: Callable[[Any], None] | None = None) -> None:
        self.settings = settings
        self.output = output
        self.now = now
        self.rng = rng or random.Random()
        self.emit = emit or (lambda event: None)
        self.netif: "Netif | None" = None
        self.stack: Any = None
        self.phase = PHASE_DEAD
        self.err_code = 0
        self.deframer = Deframer(max_frame=max(settings.mru, DEF_MRU) + 8)
        # transmit link parameters (what the peer accepts), and the peer's MRU
        self.tx_accm = ACCM_ALL
        self.tx_pfc = self.tx_acfc = self.tx_fcs32 = False
        self.peer_mru = DEF_MRU
        self.lcp_h = LcpHandler(self)
        self.ipcp_h = IpcpHandler(self)
        self.ipv6cp_h = Ipv6cpHandler(self)
        self.lcp = Fsm(PPP_LCP, "LCP", self.lcp_h, self.send_control, now)
        self.ipcp = Fsm(PPP_IPCP, "IPCP", self.ipcp_h, self.send_control, now)
        self.ipv6cp = Fsm(PPP_IPV6CP, "IPV6CP", self.ipv6cp_h, self.send_control, now)
        for f in (self.lcp, self.ipcp, self.ipv6cp):
            f.timeouttime = settings.restart
            f.maxconfreqtransmits = settings.max_configure
            f.maxtermtransmits = settings.max_terminate
            f.maxnakloops = settings.max_failure
        self.pap = Pap(self)
        self.chap = Chap(self)
        self.vj: Any = None  # the VJ compressor/decompressor pair when negotiated
        self.auth_pending: set[str] = set()
        self.auth_used = "none"
        self.peer_name = ""
        self.if4_up = False
        self.if6_up = False
        self.num_np_open = 0
        # counters
        self.stats_tx_frames = 0
        self.stats_tx_bytes = 0
        self.stats_rx_bytes = 0
        self.stats_drop = 0
        self.stats_protrej_sent = 0
        self.stats_echo_replies = 0
        self.stats_echo_answered = 0
        self.stats_vj_rx_compressed = 0
        self.stats_echo_looped = 0
        self.stats_auth_bad = 0

    # -- control ---------------------------------------------------------------------------------------------------
    def auth_required(self) -> str | None:
        methods = self.settings.auth_methods_as_server()
        return methods[0] if methods else None

    def connect(self) -> None:
        """``ppp_connect`` (client) or ``ppp_listen`` (server): start LCP."""
        if self.phase != PHASE_DEAD:
            return
        self.err_code = 0
        self.deframer.set_accm(0)
        self.deframer.fcs32 = False
        self.tx_accm, self.tx_pfc, self.tx_acfc, self.tx_fcs32 = ACCM_ALL, False, False, False
        self.lcp.flags = (OPT_SILENT if self.settings.server else 0) | (OPT_PASSIVE if self.settings.passive else 0)
        self._new_phase(PHASE_INITIALIZE)
        self._new_phase(PHASE_ESTABLISH)
        self.lcp.open()
        self.lcp.lowerup()

    def close(self, reason: str = "User request") -> None:
        """``ppp_close``: LCP Terminate-Request, and the session ends (status PPPERR_USER) when it is answered or
        the Terminate retries run out."""
        if self.phase == PHASE_DEAD:
            return
        self.err_code = self.PPPERR_USER
        self.lcp.close(reason)

    def hangup(self) -> None:
        """The serial line went away (the pty's other side closed): the session ends at once, PPPERR_CONNECT unless
        a reason was set (lwIP's ``ppp_link_end`` after ``pppos_disconnect``)."""
        if self.phase == PHASE_DEAD:
            return
        if not self.err_code:
            self.err_code = self.PPPERR_CONNECT
        if self.lcp.state == OPENED:
            self.lcp.lowerdown()
        self.lcp_finished()

    @property
    def is_up(self) -> bool:
        return self.if4_up or self.if6_up

    def _new_phase(self, phase: int) -> None:
        if phase == self.phase:
            return
        self.phase = phase
        self.emit(PppPhaseChanged(self.netif, phase, PHASE_NAMES[phase]))

    def _status(self, err: int) -> None:
        self.emit(PppStatus(self.netif, err, PPPERR_NAMES[err] if err < len(PPPERR_NAMES) else str(err)))

    # -- timers ----------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        for f in (self.lcp, self.ipcp, self.ipv6cp):
            if f.deadline is not None and now >= f.deadline:
                f.poll(now)
        self.pap.poll(now)
        self.chap.poll(now)
        self.lcp_h.echo_poll(now)

    def poll_at(self) -> float | None:
        ds = [self.lcp.deadline, self.ipcp.deadline, self.ipv6cp.deadline, self.pap.poll_at(), self.chap.poll_at(),
              self.lcp_h.echo_deadline]
        ds2 = [d for d in ds if d is not None]
        return min(ds2) if ds2 else None

    # -- output ----------------------------------------------------------------------------------------------------
    def send_control(self, protocol: int, info: bytes) -> None:
        self._send_frame(protocol, info)

    def _send_frame(self, protocol: int, info: bytes | bytearray | memoryview) -> None:
        frame = frame_encode(protocol, info, accm=self.tx_accm, acfc=self.tx_acfc, pfc=self.tx_pfc,
                             fcs32_=self.tx_fcs32)
        self.stats_tx_frames += 1
        self.stats_tx_bytes += len(frame)
        self.output(frame)

    def output_ip(self, packet: bytes | bytearray | memoryview) -> bool:
        """An IP packet from the netif (lwIP's ``pppos_netif_output``): False when no network protocol carries it."""
        if not packet:
            return False
        version = packet[0] >> 4
        if version == 4:
            if not self.if4_up:
                return False
            if self.vj is not None and self.vj.tx_enabled:
                protocol, data = self.vj.compress(packet)
                self._send_frame(protocol, data)
                return True
            self._send_frame(PPP_IP, packet)
            return True
        if version == 6 and self.if6_up:
            self._send_frame(PPP_IPV6, packet)
            return True
        return False

    # -- input -----------------------------------------------------------------------------------------------------
    def input(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Serial bytes from the line (``pppos_input``); returns the IP packets they completed, for the netif."""
        self.stats_rx_bytes += len(data)
        packets: list[bytes] = []
        d = self.deframer
        lost = d.bad_fcs + d.lenerr + d.aborts + d.proterr
        for protocol, info in d.feed_iter(data):  # frame by frame: LCP coming up changes ACCM and FCS in between
            now_lost = d.bad_fcs + d.lenerr + d.aborts + d.proterr
            if now_lost != lost:
                lost = now_lost
                if self.vj is not None:
                    self.vj.decomp.error()  # pppos_input_drop: vj_uncompress_err, toss until the slot is named
            self._dispatch(protocol, info, packets)
        if self.vj is not None and d.bad_fcs + d.lenerr + d.aborts + d.proterr != lost:
            self.vj.decomp.error()
        return packets

    def _dispatch(self, protocol: int, info: bytes, packets: list[bytes]) -> None:
        if protocol == PPP_IP:
            if self.if4_up:
                packets.append(info)
            else:
                self.stats_drop += 1
            return
        if protocol == PPP_IPV6:
            if self.if6_up:
                packets.append(info)
            else:
                self.stats_drop += 1
            return
        if protocol == PPP_LCP:
            if self.phase == PHASE_DEAD:
                self.stats_drop += 1
                return
            self.lcp.input(info)
            return
        if self.lcp.state != OPENED or self.phase < PHASE_AUTHENTICATE:
            self.stats_drop += 1
            return
        if protocol == PPP_PAP:
            self.pap.input(info)
            return
        if protocol == PPP_CHAP:
            self.chap.input(info)
            return
        if self.phase < PHASE_NETWORK:
            self.stats_drop += 1  # ppp_input: "discarding proto 0x%x in phase %d"
            return
        if protocol == PPP_IPCP and self.settings.ipv4:
            self.ipcp.input(info)
            return
        if protocol == PPP_IPV6CP and self.settings.ipv6:
            self.ipv6cp.input(info)
            return
        if protocol in (PPP_VJC_COMP, PPP_VJC_UNCOMP) and self.vj is not None and self.if4_up:
            packet = self.vj.uncompress(protocol, info)
            if packet is not None:
                if protocol == PPP_VJC_COMP:
                    self.stats_vj_rx_compressed += 1
                packets.append(packet)
            else:
                self.stats_drop += 1
            return
        # RFC 1661 5.7: Protocol-Reject with the rejected protocol and as much of the packet as fits
        self.stats_protrej_sent += 1
        self.lcp.id = (self.lcp.id + 1) & 0xFF
        body = protocol.to_bytes(2, "big") + info[:max(0, self.peer_mru - 6)]
        self.send_control(PPP_LCP, CpPacket(PROTREJ, self.lcp.id, body).emit())

    def protocol_rejected(self, protocol: int) -> None:
        """The peer Protocol-Rejected one of ours (``lcp_rprotrej``)."""
        if protocol == PPP_IPCP:
            self.ipcp.protreject()
        elif protocol == PPP_IPV6CP:
            self.ipv6cp.protreject()
        elif protocol == PPP_LCP:
            self.err_code = self.PPPERR_PROTOCOL
            self.lcp.close("LCP rejected")

    # -- LCP's layer actions (auth.c: link_established, link_down, link_terminated) --------------------------------------
    def lcp_up(self) -> None:
        go, ho = self.lcp_h.go, self.lcp_h.ho
        # lcp_up: what the peer accepts from us, and what we accept from it
        self.tx_accm = int.from_bytes(ho.get(CI_ASYNCMAP, b"\xff\xff\xff\xff"), "big")
        # RFC 1570: an FCS-Alternatives option names the FCS its sender wants to receive
        self.tx_fcs32 = bool(ho.get(CI_FCSALTERN, b"\x00")[0] & FCS_32)
        self.deframer.fcs32 = bool(go.get(CI_FCSALTERN, b"\x00")[0] & FCS_32)
        self.tx_pfc = CI_PCOMP in ho
        self.tx_acfc = CI_ACCOMP in ho
        self.peer_mru = int.from_bytes(ho[CI_MRU], "big") if CI_MRU in ho else DEF_MRU
        self.deframer.set_accm(int.from_bytes(go.get(CI_ASYNCMAP, b"\xff\xff\xff\xff"), "big"))
        if self.netif is not None:
            # ppp_send_config: the netif's MTU is the peer's MRU, capped by ours
            self.netif.mtu = min(self.settings.mru, self.peer_mru)
        for f in (self.ipcp, self.ipv6cp):
            f.lowerup()
        now = self.now()
        self.lcp_h.echo_start(now)
        required = self.auth_required()
        if required is not None and CI_AUTHTYPE not in go:
            self.err_code = self.PPPERR_AUTHFAIL  # auth.c: "peer refused to authenticate: terminating link"
            self.lcp.close("peer refused to authenticate")
            return
        self.auth_pending = set()
        self._new_phase(PHASE_AUTHENTICATE)
        if CI_AUTHTYPE in go:
            method = "chap" if go[CI_AUTHTYPE] == auth_value("chap") else "pap"
            self.auth_pending.add("peer")
            self.auth_used = method
            (self.chap if method == "chap" else self.pap).start_server(now)
        if CI_AUTHTYPE in ho:
            method = "chap" if ho[CI_AUTHTYPE] == auth_value("chap") else "pap"
            self.auth_pending.add("withpeer")
            self.auth_used = method
            (self.chap if method == "chap" else self.pap).start_client(now)
        if not self.auth_pending:
            self.auth_used = "none"
            self._network_phase()

    def _network_phase(self) -> None:
        self._new_phase(PHASE_NETWORK)
        self.num_np_open = (1 if self.settings.ipv4 else 0) + (1 if self.settings.ipv6 else 0)
        if self.settings.ipv4:
            self.ipcp.open()
        if self.settings.ipv6:
            self.ipv6cp.open()

    def auth_peer_success(self, method: str) -> None:
        self.auth_pending.discard("peer")
        if not self.auth_pending and self.phase == PHASE_AUTHENTICATE:
            self._network_phase()

    def auth_withpeer_success(self, method: str) -> None:
        self.auth_pending.discard("withpeer")
        if not self.auth_pending and self.phase == PHASE_AUTHENTICATE:
            self._network_phase()

    def auth_peer_fail(self, method: str) -> None:
        self.err_code = self.PPPERR_AUTHFAIL
        self.lcp.close("Authentication failed")

    def auth_withpeer_fail(self, method: str) -> None:
        self.err_code = self.PPPERR_AUTHFAIL
        self.lcp.close("Failed to authenticate ourselves to peer")

    def lcp_down(self) -> None:
        self.pap.stop()
        self.chap.stop()
        for f in (self.ipcp, self.ipv6cp):
            f.lowerdown()
        self.tx_accm, self.tx_pfc, self.tx_acfc, self.tx_fcs32 = ACCM_ALL, False, False, False
        self.deframer.set_accm(0)
        self.deframer.fcs32 = False
        if self.phase not in (PHASE_DEAD,):
            self._new_phase(PHASE_TERMINATE)

    def lcp_finished(self) -> None:
        """``link_terminated``: the session is over."""
        if self.phase == PHASE_DEAD:
            return
        self._new_phase(PHASE_DEAD)
        self.lcp_h.echo_deadline = None
        self.lcp.lowerdown()
        self.lcp.close()
        self._status(self.err_code or self.PPPERR_CONNECT)

    def np_finished(self) -> None:
        """A network protocol finished (closed or rejected); when none is left open, LCP closes (``np_finished``)."""
        self.num_np_open -= 1
        if self.num_np_open <= 0 and self.lcp.state == OPENED:
            self.lcp.close("No network protocols running")

    # -- network protocols up and down (ppp.c: sifaddr/sifup, sif6addr/sif6up) ------------------------------------------
    def ipcp_up(self) -> None:
        h = self.ipcp_h
        local, remote = h.ouraddr, h.hisaddr
        if local is None:
            self.ipcp.close("Could not determine local IP address")
            return
        if remote is None:
            self.ipcp.close("Could not determine remote IP address")
            return
        self.local4, self.remote4 = local, remote
        self.dns4 = h.dns()
        if self.settings.vj:
            tx, rx = h.vj_tx(), h.vj_rx()
            self.vj = VjPair(tx, rx) if tx or rx else None
        netif = self.netif
        if netif is not None:
            netif.set_ipv4(IPv4Interface(f"{local}/32"), remote)
            if self.settings.usepeerdns and not self.settings.server and self.stack is not None:
                for i, server in enumerate(self.dns4[:2]):
                    self.stack.dns_setserver(i, server, netif)
        self.if4_up = True
        self._sif_up()

    def ipcp_down(self) -> None:
        self.vj = None
        if not self.if4_up:
            return
        self.if4_up = False
        netif = self.netif
        if netif is not None:
            netif.set_ipv4(None)
        self._sif_down()

    def ipv6cp_up(self) -> None:
        netif = self.netif
        if netif is not None:
            from ..core.addr6 import PREFERRED

            old = netif.ip6_addr_of(b"\xfe\x80" + bytes(6) + netif.ip6_iid)
            if old is not None:
                netif.remove_ip6_address(old.addr)
            netif.ip6_iid = self.ipv6cp_h.ourid
            a = netif.create_ip6_linklocal()
            a.dad_at = None  # no duplicate address detection: IPV6CP made the identifiers differ (ppp.c sif6addr)
            netif.ip6_addr_set_state(a, PREFERRED)
        self.if6_up = True
        self._sif_up()

    def ipv6cp_down(self) -> None:
        if not self.if6_up:
            return
        self.if6_up = False
        netif = self.netif
        if netif is not None:
            a = netif.ip6_addr_of(b"\xfe\x80" + bytes(6) + netif.ip6_iid)
            if a is not None:
                netif.remove_ip6_address(a.addr)
        self._sif_down()

    def _sif_up(self) -> None:
        """``sifup``/``sif6up``: the link is up, and the status callback hears PPPERR_NONE (once per protocol, as
        in lwIP: esp_netif tells IPv4 from IPv6 by ``if4_up``/``if6_up``)."""
        self._new_phase(PHASE_RUNNING)
        if self.netif is not None:
            self.netif.set_link_up(True)
        self.err_code = self.PPPERR_NONE
        self._status(self.PPPERR_NONE)

    def _sif_down(self) -> None:
        if not self.is_up:
            if self.netif is not None:
                self.netif.set_link_up(False)
            if self.phase == PHASE_RUNNING:
                self._new_phase(PHASE_NETWORK)

    def __repr__(self) -> str:
        return f"<PppPcb {PHASE_NAMES[self.phase]} lcp={self.lcp!r} ipcp={self.ipcp!r}>"
