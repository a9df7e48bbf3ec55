"""Netif events: what changed on a stack's interfaces, and core messages that apps listen to.

``stack.events.subscribe(kind, callback)`` (on the core thread, as every core call: ``loop.call(...)``) calls
``callback(event)`` for every event of class ``kind`` (or of any class, with ``kind=None``) from then on;
:meth:`Events.unsubscribe` (or the returned handle's ``cancel()``) stops it.  The events are frozen dataclasses:

====================================  ==================================================================================
:class:`NetifAdded` / Removed         ``netif_add`` / ``netif_remove``
:class:`NetifUp` / :class:`NetifDown` ``netif_set_up`` / ``netif_set_down`` (administrative state)
:class:`LinkUp` / :class:`LinkDown`   ``netif_set_link_up`` / ``netif_set_link_down`` (the carrier)
:class:`Ip4AddressChanged`            the IPv4 address, mask or gateway changed (old and new)
:class:`Ip6AddressAdded`              an IPv6 address was added (usually tentative)
:class:`Ip6AddressStateChanged`       tentative -> preferred (DAD done) / duplicated; preferred <-> deprecated
:class:`Ip6AddressRemoved`            an IPv6 address went (by hand, or its valid lifetime ended)
:class:`DefaultNetifChanged`          the default netif changed (by hand or by route priority)
:class:`RouterAdvertReceived`         a valid router advertisement was taken (its M and O flags), for DHCPv6
:class:`RouterSolicitReceived`        a router solicitation arrived, for a router advertisement app
:class:`PathMtuChanged`               a Packet Too Big message set the path MTU to a destination, for the transports
====================================  ==================================================================================

**Delivery is synchronous, on the core thread**, in the order of subscription, before the call that made the change
returns: the stack is sans-I/O and hands nothing to another thread.  An event that a subscriber's reaction causes is
delivered once every subscriber has seen the current one, so all see the same order.  A callback sees the stack
already changed (``netif.up`` is True in :class:`NetifUp`), runs on the thread that owns the stack (with
:class:`~lwipy.api.loop.StackLoop`, the core thread) and must not block; it may call the stack (send, change
addresses).  An application thread that wants the events posts them on (esp_netif style events belong in ``api/``).

The core's own reactions subscribe the same way, first, when the stack is made: gratuitous ARP and IGMP reports on
address and state changes (:mod:`~lwipy.core.etharp`, :mod:`~lwipy.core.igmp`), router solicitation and MLD reports
when a netif becomes usable with IPv6 addresses, and duplicate address detection for an added address
(:mod:`~lwipy.core.nd6`); TCP lowers its segment size on :class:`PathMtuChanged` (RFC 8201 5.2).  A callback
that raises is logged and counted in ``stats.link.err`` (re-raised when the stack is ``strict``); the other
subscribers still run.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Events", "Subscription", "NetifEvent", "NetifAdded", "NetifRemoved", "NetifUp", "NetifDown", "LinkUp",
           "LinkDown", "Ip4AddressChanged", "Ip6AddressAdded", "Ip6AddressStateChanged", "Ip6AddressRemoved",
           "DefaultNetifChanged", "RouterAdvertReceived", "RouterSolicitReceived", "ArpReplyReceived",
           "PathMtuChanged"]

log = logging.getLogger("lwipy")


@dataclass(frozen=True, slots=True)
class NetifEvent:
    """The base of the events about one netif."""

    #: the netif concerned
    netif: "Netif"


@dataclass(frozen=True, slots=True)
class NetifAdded(NetifEvent):
    """``netif_add``: the netif exists (its initial state, addresses and default role follow as their own events)."""


@dataclass(frozen=True, slots=True)
class NetifRemoved(NetifEvent):
    """``netif_remove``: the netif is gone, with its addresses, routes, neighbours and memberships."""


@dataclass(frozen=True, slots=True)
class NetifUp(NetifEvent):
    """``netif_set_up``: administratively up."""


@dataclass(frozen=True, slots=True)
class NetifDown(NetifEvent):
    """``netif_set_down``: administratively down."""


@dataclass(frozen=True, slots=True)
class LinkUp(NetifEvent):
    """``netif_set_link_up``: the driver reports the carrier."""


@dataclass(frozen=True, slots=True)
class LinkDown(NetifEvent):
    """``netif_set_link_down``: the carrier is lost."""


@dataclass(frozen=True, slots=True)
class Ip4AddressChanged(NetifEvent):
    """``netif_set_addr``: the IPv4 settings changed.  None is "no address" (0.0.0.0) or "no gateway"."""

    #: the address with its mask before, or None
    old: IPv4Interface | None
    #: the address with its mask now, or None
    new: IPv4Interface | None
    #: the gateway before, or None
    old_gateway: IPv4Address | None
    #: the gateway now, or None
    new_gateway: IPv4Address | None


@dataclass(frozen=True, slots=True)
class Ip6AddressAdded(NetifEvent):
    """``netif_add_ip6_address``: an address (tentative until duplicate address detection is done, unless DAD is off).
    """

    #: the address
    address: IPv6Address
    #: its prefix length
    prefix_len: int
    #: its state when added: "tentative" (or "preferred" on loopback)
    state: str
    #: where it came from: "link-local", "static" or "slaac"
    origin: str


@dataclass(frozen=True, slots=True)
class Ip6AddressStateChanged(NetifEvent):
    """``netif_ip6_addr_set_state``: tentative -> preferred (DAD done) or duplicated; preferred -> deprecated at the
    end of the preferred lifetime, and back when an advertisement renews it."""

    address: IPv6Address
    #: the state before ("tentative", "preferred", "deprecated")
    old_state: str
    #: the state now ("preferred", "deprecated", "duplicated")
    new_state: str


@dataclass(frozen=True, slots=True)
class Ip6AddressRemoved(NetifEvent):
    """An address was removed (by hand, or its valid lifetime ended)."""

    address: IPv6Address
    #: its state when it went
    state: str


@dataclass(frozen=True, slots=True)
class DefaultNetifChanged:
    """``netif_set_default``: the netif a packet takes when no more specific route says otherwise."""

    #: the default netif before, or None
    old: "Netif | None"
    #: the default netif now, or None
    new: "Netif | None"


@dataclass(frozen=True, slots=True)
class RouterAdvertReceived(NetifEvent):
    """A router advertisement passed RFC 4861 6.1.2's checks and was taken (lwIP's ``nd6`` then calls
    ``dhcp6_nd6_ra_trigger``; here a DHCPv6 client subscribes)."""

    #: the router's link-local address (packed)
    router: bytes
    #: the M flag: addresses from DHCPv6
    managed: bool
    #: the O flag: other configuration (DNS servers...) from DHCPv6
    other: bool
    #: the router lifetime, seconds (0: not a default router)
    router_lifetime: int


@dataclass(frozen=True, slots=True)
class RouterSolicitReceived:
    """A router solicitation arrived (hop limit 255 checked).  A host drops it; a router advertisement app subscribes
    and answers.  When nobody subscribes, the stack counts it dropped."""

    #: the packet it came in (netif, source, destination)
    packet: "InPacket6"
    #: the parsed :class:`~lwipy.wire.ndp.RouterSolicit`
    message: Any


@dataclass(frozen=True, slots=True)
class ArpReplyReceived(NetifEvent):
    """A well-formed ARP reply arrived on ``netif``, whether or not the netif has an address yet (lwIP's
    ``etharp_input`` calls ``dhcp_arp_reply`` for every reply, so that the DHCP client's ARP check sees an offered
    address in use).  Emitted only when someone subscribes."""

    #: the sender's IPv4 address
    sender_ip: IPv4Address
    #: the sender's MAC
    sender_mac: bytes


@dataclass(frozen=True, slots=True)
class PathMtuChanged:
    """A Packet Too Big message set the path MTU towards ``destination`` (RFC 8201 4; lwIP's ``nd6`` keeps it in
    its destination cache).  Emitted for every one taken, with the MTU now in force, which may be the one before: a
    connection opened since then learns it too.  TCP subscribes and sends smaller segments from then on (RFC 8201
    5.2)."""

    #: the destination (packed IPv6 address)
    destination: bytes
    #: the path MTU towards it now (1280 at least)
    mtu: int


Callback = Callable[[Any], None]


class Subscription:
    """What :meth:`Events.subscribe` returns: ``cancel()`` ends it."""

    __slots__ = ("_events", "kind", "callback")

    def __init__(self, events: "Events", kind: type | None, callback: Callback) -> None:
        self._events = events
        self.kind = kind
        self.callback = callback

    def cancel(self) -> None:
        self._events.unsubscribe(self.kind, self.callback)


class Events:
    """The event bus of one stack (``stack.events``); see the module's documentation."""

    def __init__(self, stack: "Stack") -> None:
        self._stack = stack
        self._by_kind: dict[type | None, list[Callback]] = {}
        self._pending: deque[Any] = deque()
        self._delivering = False

    def subscribe(self, kind: type | None, callback: Callback) -> Subscription:
        """Call ``callback(event)`` for every event of class ``kind`` (a subclass counts), or of every class when
        ``kind`` is None, on the core thread, as it happens."""
        self._stack.assert_core()
        if kind is not None and not isinstance(kind, type):
            raise TypeError(f"subscribe takes an event class or None, not {kind!r}")
        self._by_kind.setdefault(kind, []).append(callback)
        return Subscription(self, kind, callback)

    def unsubscribe(self, kind: type | None, callback: Callback) -> None:
        """Stop calling ``callback`` for ``kind`` (nothing happens when it was not subscribed)."""
        self._stack.assert_core()
        callbacks = self._by_kind.get(kind)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)

    def has_subscribers(self, kind: type) -> bool:
        """Whether an event of class ``kind`` would reach anyone."""
        return any(callbacks and (k is None or issubclass(kind, k)) for k, callbacks in self._by_kind.items())

    def emit(self, event: Any) -> None:
        """Deliver ``event`` to its subscribers: those of its class and base classes, then those of every event.
        An event emitted while another is being delivered (a subscriber's reaction) waits until every subscriber
        has seen the first, so that all of them see the events in one order; the outermost emit returns when all
        are delivered."""
        self._pending.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._pending:
                self._deliver(self._pending.popleft())
        finally:
            self._delivering = False
            self._pending.clear()

    def _deliver(self, event: Any) -> None:
        kinds = [k for k in type(event).__mro__ if k in self._by_kind] + ([None] if None in self._by_kind else [])
        for kind in kinds:
            for callback in list(self._by_kind[kind]):
                try:
                    callback(event)
                except Exception:
                    if self._stack.strict:
                        raise
                    self._stack._stats.link.err += 1
                    log.exception("%s: a subscriber of %s raised", self._stack.name, type(event).__name__)
