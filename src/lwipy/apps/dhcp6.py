"""Stateless DHCPv6 (RFC 8415 18.2.6, 18.2.10), as lwIP's ``dhcp6.c`` with LWIP_IPV6_DHCP6_STATELESS.

A netif for which :meth:`Dhcp6.enable_stateless` was called asks for "other configuration" when a router
advertisement says M=0, O=1: after a random delay of up to INF_MAX_DELAY (1 s) it multicasts an
Information-Request to All_DHCP_Relay_Agents_and_Servers from its link-local address, port 546 to 547, and sends it
again with RFC 8415 15's backoff (INF_TIMEOUT 1 s doubling up to INF_MAX_RT 3600 s, each time within +-10 %) until a
Reply with its transaction id comes.  The Reply's DNS servers (RFC 3646), search list and SNTP servers are kept, and
the request is made again after its Information Refresh Time (RFC 8415 21.23: at least 600 s, 86400 s when absent).
The DNS servers feed :meth:`lwipy.core.stack.Stack.dns_servers6`.  The client sends a Client Identifier (DUID-LL of
the netif's MAC) and Elapsed Time besides lwIP's Option Request, as RFC 8415 18.2.6 asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Callable

from ..core.events import RouterAdvertReceived
from ..errors import LwipError, Malformed
from ..wire.dhcp6 import (ALL_DHCP_RELAY_AGENTS_AND_SERVERS, CLIENT_PORT, DNS_SERVERS, DOMAIN_LIST, IRT_DEFAULT,
                          IRT_MINIMUM, REPLY, SERVER_PORT, SNTP_SERVERS, STATUS_SUCCESS, Dhcp6Message, duid_ll,
                          information_request, reply_info)

if TYPE_CHECKING:
    from ..core.netif import Netif
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["Dhcp6", "Dhcp6State", "Dhcp6Reply"]

INF_MAX_DELAY = 1.0
INF_TIMEOUT = 1.0
INF_MAX_RT = 3600.0


@dataclass(slots=True, eq=False)
class Dhcp6State:
    """One netif's stateless DHCPv6: what the last Reply said, and the request in progress."""

    netif: "Netif"
    duid: bytes
    xid: int = 0
    requesting: bool = False
    started: float = 0.0
    send_at: float | None = None
    rt: float = 0.0
    refresh_at: float | None = None
    #: what the last Reply gave
    dns_servers: list[IPv6Address] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    sntp_servers: list[IPv6Address] = field(default_factory=list)
    #: RFC 5908 NTP Server options' addresses (sub-option 1)
    ntp_servers: list[IPv6Address] = field(default_factory=list)
    replies: int = 0


@dataclass(frozen=True, slots=True)
class Dhcp6Reply:
    """A Reply was taken (emitted on ``stack.events`` after ``on_update``): SNTP takes its servers from it, as lwIP's
    ``dhcp6_set_ntp_servers``."""

    state: Dhcp6State


class Dhcp6:
    """Stateless DHCPv6 for one stack; ``on_update(state)`` after every Reply taken.  It learns of router
    advertisements by subscribing to :class:`~lwipy.core.events.RouterAdvertReceived`, and gives its DNS servers to
    :meth:`~lwipy.core.stack.Stack.dns_servers6` through ``stack.dns_sources6``; :meth:`close` detaches it."""

    def __init__(self, stack: "Stack", on_update: Callable[[Dhcp6State], None] | None = None) -> None:
        self.stack = stack
        self.on_update = on_update
        self.states: dict[int, Dhcp6State] = {}
        self._pcb: "UdpPcb | None" = None
        self._subscription = stack.events.subscribe(RouterAdvertReceived, self._ra_received)
        stack.dns_sources6.append(self.dns_servers)
        stack.add_poller(self)

    def close(self) -> None:
        """Stop on every netif and detach from the stack."""
        self.states.clear()
        self._subscription.cancel()
        if self.dns_servers in self.stack.dns_sources6:
            self.stack.dns_sources6.remove(self.dns_servers)
        self.stack.remove_poller(self)
        if self._pcb is not None:
            self._pcb.close()
            self._pcb = None

    def _ra_received(self, event: RouterAdvertReceived) -> None:
        if event.other:
            self.ra_other_config(event.netif)

    def enable_stateless(self, netif: "Netif") -> Dhcp6State:
        """``dhcp6_enable_stateless``: ask for other configuration whenever a router advertisement sets O."""
        state = self.states.get(netif.index)
        if state is None:
            state = self.states[netif.index] = Dhcp6State(netif, duid_ll(netif.hwaddr))
        if netif.ra_other and not netif.ra_managed:
            self.request(netif)
        return state

    def disable(self, netif: "Netif") -> None:
        """``dhcp6_disable``."""
        self.states.pop(netif.index, None)

    def ra_other_config(self, netif: "Netif") -> None:
        """``dhcp6_nd6_ra_trigger``: an advertisement with O=1 arrived (M=0 too: addresses are not ours to lease)."""
        state = self.states.get(netif.index)
        if state is not None and not state.requesting and not netif.ra_managed and state.refresh_at is None:
            self.request(netif)

    def request(self, netif: "Netif") -> None:
        """Start an Information-Request exchange now (after the RFC's random delay)."""
        state = self.states[netif.index]
        rng = self.stack.rng
        state.xid = rng.randrange(1 << 24)
        state.requesting = True
        state.started = self.stack.now
        state.rt = 0.0
        state.send_at = self.stack.now + rng.uniform(0, INF_MAX_DELAY)

    def _pcb_for_replies(self) -> "UdpPcb":
        if self._pcb is None:
            pcb = self.stack.udp.new()
            pcb.bind(IPv6Address("::"), CLIENT_PORT)
            pcb.on_recv = self._recv
            self._pcb = pcb
        return self._pcb

    def _send(self, state: Dhcp6State) -> None:
        elapsed = int((self.stack.now - state.started) * 100)
        msg = information_request(state.xid, state.duid, (DNS_SERVERS, DOMAIN_LIST, SNTP_SERVERS), min(elapsed, 0xFFFF))
        buf = bytearray(msg.buffer_len)
        msg.emit(buf)
        pcb = self._pcb_for_replies()
        try:
            pcb.sendto_netif(buf, IPv6Address(ALL_DHCP_RELAY_AGENTS_AND_SERVERS), SERVER_PORT, state.netif)
        except LwipError:
            pass  # no usable link-local address yet: the next retransmission tries again

    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        try:
            msg = Dhcp6Message.parse(dgram.data)
        except Malformed:
            return
        state = self.states.get(dgram.netif_index)
        if state is None or not state.requesting or msg.msg_type != REPLY or msg.transaction_id != state.xid:
            return
        info = reply_info(msg)
        if info.client_id is not None and info.client_id != state.duid:
            return  # RFC 8415 16.10: another client's
        if info.status.status != STATUS_SUCCESS:
            return
        state.dns_servers = [IPv6Address(a) for a in info.dns_servers]
        state.domains = list(info.domains)
        state.sntp_servers = [IPv6Address(a) for a in info.sntp_servers]
        state.ntp_servers = [IPv6Address(a) for a in info.ntp_servers]
        state.requesting, state.send_at = False, None
        state.replies += 1
        refresh = IRT_DEFAULT if info.refresh_time is None else max(IRT_MINIMUM, info.refresh_time)
        state.refresh_at = self.stack.now + refresh
        if self.on_update is not None:
            self.on_update(state)
        self.stack.events.emit(Dhcp6Reply(state))

    def dns_servers(self) -> list[IPv6Address]:
        return [a for s in self.states.values() for a in s.dns_servers]

    # -- poller ------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        rng = self.stack.rng
        for state in list(self.states.values()):
            if state.refresh_at is not None and state.refresh_at <= now:
                state.refresh_at = None
                self.request(state.netif)
            if state.send_at is not None and state.send_at <= now:
                self._send(state)
                # RFC 8415 15: RT = 2 * RTprev + RAND * RTprev, capped at MRT; the first is IRT + RAND * IRT
                rt = INF_TIMEOUT if not state.rt else 2 * state.rt
                state.rt = min(rt * (1 + rng.uniform(-0.1, 0.1)), INF_MAX_RT)
                state.send_at = now + state.rt

    def poll_at(self) -> float | None:
        times = [t for s in self.states.values() for t in (s.send_at, s.refresh_at) if t is not None]
        return min(times) if times else None
