"""The :class:`Stack`: every piece of state of one TCP/IP stack, driven by frames and time from outside.

A program (or :class:`~lwipy.api.loop.StackLoop`, or :class:`~lwipy.sim.Simulation`) feeds it::

    stack.input(netif, frame, now)   # a frame the netif's device received
    stack.poll(now)                  # do what is due: retries, timeouts, reports, looped-back packets
    stack.poll_at()                  # when poll() next has work (None: nothing pending)

and the stack sends by calling ``netif.device.transmit(frame)``.  Time (seconds, any monotonic origin) and randomness
(a :class:`random.Random`) come from outside, so a seeded run repeats exactly.  Nothing here blocks or reads a clock;
``stack.now`` is the time of the event being handled.  Many stacks can live in one process.

A netif is Ethernet or point-to-point, as its device says (:mod:`lwipy.core.device`); the link layers live in
:mod:`.ethernet`, :mod:`.p2p` and :mod:`.loopif`.
"""

from __future__ import annotations

import errno
import logging
import random
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from itertools import chain
from typing import Any, Callable, Iterable, Protocol

from ..config import Config
from ..errors import LwipError
from ..stats import Stats
from ..wire.ipv6 import NH_ICMPV6
from ..wire.checksum import from_bytes as _from_bytes
from ..wire.ipv4 import PROTO_ICMP, PROTO_IGMP, PROTO_TCP, PROTO_UDP
from .addr6 import DUPLICATED, LOOPBACK6, Ip6Addr
from .clock import DeviceClock
from .device import ETHERNET, POINT_TO_POINT, NetDevice, RxOffload
from .dns import Dns
from .etharp import Etharp
from .ethernet import Ethernet
from .events import (DefaultNetifChanged, Events, Ip4AddressChanged, Ip6AddressAdded, Ip6AddressRemoved, LinkDown,
                     LinkUp, NetifAdded, NetifDown, NetifRemoved, NetifUp, PathMtuChanged)
from .hooks import Hooks, esp_ip6_input, no_core_check
from .icmp import Icmp
from .icmp6 import Icmp6
from .igmp import Igmp
from .ip4 import Ip4
from .ip6 import Ip6
from .loopif import Loopback
from .mem import ARP, ND6, MemStats
from .mld6 import Mld6
from .napt import Napt
from .nd6 import Nd6
from .netif import Netif
from .p2p import PointToPoint
from .pbuf import Pbuf
from .raw import Raw
from .route import RouteTable
from .route6 import Route6Table
from .tcp.tcp import Tcp
from .udp import Udp

__all__ = ["Stack", "Poller"]

log = logging.getLogger("lwipy")
_ANY = IPv4Address(0)
_INF = float("inf")
_NO_PACKET = memoryview(b"")  # (what ip6_detours shows ESP-IDF's ip6_input hook, which reads the netif alone)


class Poller(Protocol):
    """Anything with deadlines that the stack should drive (apps: ping sessions, DHCP, DNS...)."""

    def poll(self, now: float) -> None: ...

    def poll_at(self) -> float | None: ...


class Stack:
    """One TCP/IP stack.

    :param config: the options (:class:`~lwipy.config.Config`); ESP-IDF's defaults when None.
    :param rng: the source of randomness (ports, IP identifiers, report delays); seeded from ``seed`` when None.
    :param strict: re-raise an unexpected internal exception instead of counting it in ``stats.link.err`` and
        carrying on.  Tests set it, so that a bug shows; a deployed stack keeps serving.
    """

    # slots11: the fields __init__ sets, as slots: a stack has more than CPython's shared-key instance dicts hold (30),
    # so each read or write went through an unshared dict (a request reads ~23).  ``__dict__`` stays, for what users
    # and tests set on a stack (an instance attribute shadowing a method: ``stack.assert_core``, ``stack.poll_at``).
    # A slot hides a class default of its name, so __init__ sets every one
    __slots__ = (
        "config", "rng", "name", "strict", "now", "rx_offload", "_stats", "_stats_folded", "mem", "mem_tcp_snd_seg",
        "mem_tcp_rx_seg", "_timer_floor", "assert_core", "_eth_input", "way_generation",
        "netifs", "routes", "_own4", "_next_index", "netif_generation", "ethernet", "p2p", "loopback", "_link_output",
        "loop_output", "loops_back", "_pollers", "timers_running", "events", "hooks", "_default_manual", "etharp",
        "ip4", "napt", "icmp", "fast_answer", "igmp", "udp", "raw", "tcp", "ip6", "icmp6", "nd6", "route6", "mld6",
        "dns", "clock", "apps", "dns_sources6", "_own6", "protocols6", "_tcp_input6", "_handlers6", "protocols",
        "icmp_error_handlers", "loopif", "_after_batch", "__dict__",
    )

    def __init__(self, config: Config | None = None, *, rng: random.Random | None = None, seed: int | None = None,
                 name: str = "lwipy", strict: bool = False) -> None:
        #: ``LWIP_ASSERT_CORE_LOCKED()``: the core's entry points call ``stack.assert_core()`` first.  A no-op
        #: (:func:`~lwipy.core.hooks.no_core_check`) unless ``check_thread_safety`` is on, when the loop owning the
        #: stack replaces it with a check that raises :class:`~lwipy.errors.ThreadSafetyError` off the core thread
        #: (see :mod:`lwipy.api.core_lock`); users and tests may set their own.  call12: a slot, so that the
        #: per-packet entry points (``input``, ``input_many``, a TCP connection's ``recv``, ``send`` and ``recved``, a
        #: UDP pcb's ``send``, ``sendto`` and ``recv``) call it only when it is not the no-op, whatever set it
        self.assert_core: Callable[[], None] = no_core_check
        self.config = config if config is not None else Config()
        self.rng = rng if rng is not None else random.Random(seed)
        self.name = name
        self.strict = strict
        self._after_batch: list[Callable[[], Any]] = []  # (after_batch)
        self.now = 0.0
        #: the offload notes of the frame being handled (:class:`~lwipy.core.device.RxOffload`), or None
        self.rx_offload: RxOffload | None = None
        # stats14: the counters the stack's own code counts in (``self._stats.ip.drop += 1``, as fast as a plain
        # attribute); users read them through :attr:`stats`, which folds the fast paths' tallies in first
        self._stats = Stats()
        # the tallies (Tcp.fast_taken, Tcp.fast_sent, Icmp.fast_echoes, Icmp.fast_refused, Udp.fast_taken,
        # Tcp.fast_taken6, Tcp.fast_sent6) at the last fold
        self._stats_folded = (0, 0, 0, 0, 0, 0, 0, 0, 0)
        self._init_memory()
        self.netifs: list[Netif] = []
        #: way13: moves on with every write to what a TCP connection's kept way out (``TcpOutput._tx_way``) is made
        #: from, besides the connection's own fields: the routes' and the ARP table's generations, an ARP entry's
        #: MAC, a netif's state, MAC, MTU, VLAN and device (their classes' ``__setattr__`` move it on) and, way14,
        #: :attr:`link_output` (its setter), so that the way is checked by one comparison (and the peer's MSS)
        self.way_generation = 0
        self.routes = RouteTable()
        self.routes._moved = self._way_moved
        self.routes.netifs = self.netifs
        self._own4: set[int] = set()  # our addresses as integers (cheaper to hash than IPv4Address)
        self._next_index = 1
        #: bumped whenever a netif is added or removed, so a loop knows to watch the new set of devices
        self.netif_generation = 0
        #: the link layers: Ethernet (with ARP below), point-to-point, and the loopback queue
        self.ethernet = Ethernet(self)
        # call12: ethernet_input as the netifs added from now on get it (Stack._add), made once: input_many compares
        # a netif's input with it (a bound method made at every batch and compared cost 32 ns, this 8)
        self._eth_input = self.ethernet.input
        self.p2p = PointToPoint(self)
        self.loopback = Loopback(self)
        #: for the IP layers: ``ethernet_output`` (ARP and ND send through it), ``netif_loop_output``, and whether a
        #: next hop is our own (:meth:`Loopback.loops_back <lwipy.core.loopif.Loopback.loops_back>`)
        self._link_output = self.ethernet.output  # (way14: the property link_output)
        self.loop_output = self.loopback.output
        self.loops_back = self.loopback.loops_back
        self._pollers: list[Poller] = []
        #: whether timers run (:meth:`timeouts_deinit` stops them, :meth:`timeouts_init` starts them again)
        self.timers_running = True
        #: pollat11: a time no later than any deadline the core's timed modules besides TCP (ARP, reassembly, IGMP,
        #: neighbour and router discovery with the IPv6 routes, MLD, DNS) report in their ``poll_at()``: every place
        #: that sets or brings forward such a deadline lowers it (:meth:`timer_armed`), :meth:`poll_at` and
        #: :meth:`poll` make it their exact earliest again, and :meth:`poll_floor` reads it instead of asking each
        #: module (inf: none)
        self._timer_floor = _INF
        #: netif events and core messages: ``stack.events.subscribe(kind, callback)`` (see :mod:`lwipy.core.events`)
        self.events = Events(self)
        #: ESP-IDF's lwIP hooks (see :mod:`lwipy.core.hooks`); ``config.hooks_file`` fills them
        self.hooks = Hooks()
        #: the default netif ``set_default_netif`` chose by hand (it stays while it exists), else None: by route priority
        self._default_manual: Netif | None = None
        self.etharp = Etharp(self)
        self.ip4 = Ip4(self)
        #: NAPT and port forwarding (esp-lwip's ip4_napt; see :mod:`lwipy.core.napt`)
        self.napt = Napt(self)
        self.icmp = Icmp(self)
        #: what a loop driving the stack may try first on the lone frame that woke it from an idle sleep,
        #: ``fast_answer(netif, frame, now, quiet) -> bool``: True when the frame was answered and taken entirely (an
        #: ordinary ping, :meth:`Icmp.fast_echo <lwipy.core.icmp.Icmp.fast_echo>`), else False with nothing changed but
        #: the stack's time (the frame then goes to :meth:`input_many`; it may be an
        #: :class:`~lwipy.core.device.RxOffload`, from a device with offload).  ``quiet``: nothing has run on the stack since
        #: it last returned True (what that answer checked of the stack holds still).  Called directly: after an idle
        #: sleep every layer between the read and the reply costs microseconds.  A bug it raises is the caller's to
        #: pass to :meth:`frame_failed`.  (StackLoop's ping lane lends the stack's own echo answer the buffer it read
        #: into, ``Icmp.fast_echo``'s ``lent``; anything else here gets a frame of its own, as above.)
        self.fast_answer: Callable[[Netif, Any, float, bool], bool] = self.icmp.fast_echo
        self.igmp = Igmp(self)
        self.udp = Udp(self)
        self.raw = Raw(self)
        self.tcp = Tcp(self)
        self.ip6 = Ip6(self)
        self.icmp6 = Icmp6(self)
        self.nd6 = Nd6(self)
        #: IPv6 routes, redirects and path MTU (see :mod:`lwipy.core.route6`)
        self.route6 = Route6Table(self)
        self.mld6 = Mld6(self)
        #: the DNS resolver (lwIP's dns.c; see :mod:`lwipy.core.dns`)
        self.dns = Dns(self)
        #: the device's wall clock (Unix time as an offset on ``now``; 1970 at start, as an ESP32 boots), which SNTP
        #: corrects (see :mod:`lwipy.core.clock`); never the host's clock
        self.clock = DeviceClock(self)
        #: apps that are one per stack register here by name (the core never reads it)
        self.apps: dict[str, Any] = {}
        #: callables giving IPv6 DNS servers learned by apps (stateless DHCPv6), for :meth:`dns_servers6`
        self.dns_sources6: list[Callable[[], list[IPv6Address]]] = []
        self._own6: set[bytes] = set()
        #: IPv6 next header -> handler(InPacket6, payload)
        self.protocols6: dict[int, Any] = {NH_ICMPV6: self.icmp6.input, PROTO_UDP: self.udp.input6,
                                           PROTO_TCP: self.tcp.input6}
        self._tcp_input6 = self.tcp.input6  # (what fastpath.fast_input6 compares the handler with)
        self._handlers6 = dict(self.protocols6)  # s21: the stack's own (what ip6_detours compares the handlers with)
        self.icmp6.error_handlers[PROTO_UDP] = self.udp.icmp6_error
        #: IP protocol number -> handler(InPacket, payload); transports register here (TCP does too).
        self.protocols: dict[int, Any] = {PROTO_ICMP: self.icmp.input, PROTO_IGMP: self.igmp.input,
                                          PROTO_UDP: self.udp.input, PROTO_TCP: self.tcp.input}
        #: IP protocol number -> handler(type, code, quoted header, quoted payload) for ICMP errors received.
        self.icmp_error_handlers: dict[int, Any] = {PROTO_UDP: self.udp.icmp_error}
        self.loopif: Netif | None = None
        if self.config.netif_loopback:
            self.loopif = self._add(None, "lo", bytes(6), 65535, None, is_loopback=True)
            if self.config.ipv4:
                self.loopif.set_ipv4("127.0.0.1/8")
            self.loopif.up = self.loopif.link_up = True
            if self.config.ipv6:
                self.loopif.add_ip6_address(LOOPBACK6, 128)
            self.routes.changed()
        self._subscribe_core()
        # (Tcp.ip4_detour, set from the configuration by Tcp, kept by _ip4_detours_changed)
        self.hooks._ip4_input_watcher = self._ip4_detours_changed
        if self.config.hooks_file:
            self.hooks.load_file(self.config.hooks_file)

    def _ip4_detours_changed(self) -> None:
        """A raw pcb came or went, the ``ip4_input`` or ``ip6_input`` hook was set, or NAPT was enabled or disabled:
        :attr:`Tcp.ip4_detour <lwipy.core.tcp.tcp.Tcp.ip4_detour>` made exact again, and s21 :attr:`way_generation`
        moved on (``fastpath.fast_input6`` asks :meth:`ip6_detours` again)."""
        self._way_moved()
        self.tcp.ip4_detour = bool(self.raw.pcbs) or self.hooks.ip4_input is not None or self.napt.netif is not None \
            or self.config.checksum_check_ip

    def ip4_detours(self, netif: Netif, frame: bytes | bytearray | memoryview) -> bool:
        """For a fast path (TCP's header prediction, UDP's short way in) that found ``Tcp.ip4_detour`` set: whether
        ``ip4_input`` would do more with ``frame``, an untagged IPv4 unicast to ``netif``'s address with a 20-byte
        header, than hand it to its protocol: a raw pcb or the ``ip4_input`` hook may want it, NAPT on another netif
        sees it first (``ip_napt_recv``: its port maps and replies), or its header checksum (checked when
        ``checksum_check_ip``) is wrong.  Such a frame takes the full way."""
        if self.raw.pcbs or self.hooks.ip4_input is not None:
            return True
        napt = self.napt.netif
        if napt is not None and netif is not napt:
            return True
        # the ones' sum of a right header is all ones, 0 modulo 0xFFFF (a zero header is malformed)
        return self.config.checksum_check_ip and _from_bytes(frame[14:34]) % 0xFFFF != 0

    def ip6_detours(self, netif: Netif, dst: bytes, nh: int = PROTO_TCP) -> bool:
        """s20: for TCP's header prediction over IPv6 (``fastpath.fast_input6``; s21: and the ICMPv6 echo's fast
        answer, ``nh`` 58): whether ``ip6_input`` would do anything with an untagged unicast frame to ``netif``'s MAC,
        next header ``nh`` right after the IPv6 header, to our address ``dst`` but hand it to the stack's own handler
        for ``nh``: IPv6 off, an ``ip6_input`` hook that may eat it (any but ESP-IDF's default, or that one on a netif
        without a link-local address), a raw pcb that may want it, another handler for ``nh``, or ``dst`` not one of
        ``netif``'s addresses in a usable state (tentative, duplicated or gone: dropped).  Such a frame takes the full
        way.  s21: asked once per connection and netif while :attr:`way_generation` stands
        (``TcpPcb._rx6_ok``: each of these but the handler moves it on, our addresses and their states by the routes'
        generation), the handler and the address's state every segment (an ``Ip6Addr`` written directly moves no
        generation); the ICMPv6 echo's fast answer asks it every echo."""
        hook = self.hooks.ip6_input
        if hook is not None and (hook is not esp_ip6_input or esp_ip6_input(self, _NO_PACKET, netif)):
            return True
        if self.raw.pcbs or not self.config.ipv6 or self.protocols6.get(nh) != self._handlers6.get(nh):
            return True
        a = netif.ip6_addr_of(dst)
        return a is None or not a.usable

    def _subscribe_core(self) -> None:
        """The core's own reactions to netif events, subscribed before anyone else's (see :mod:`.events`)."""
        on = self.events.subscribe
        for kind in (NetifAdded, NetifRemoved, NetifUp, NetifDown, LinkUp, LinkDown):
            on(kind, self._update_default_netif)
        for kind in (NetifUp, NetifDown, LinkUp, LinkDown, Ip4AddressChanged):
            on(kind, self.etharp.netif_event)  # gratuitous ARP
            on(kind, self.igmp.netif_event)  # IGMP reports again
        on(Ip6AddressAdded, self.nd6.address_event)  # solicited-node group, duplicate address detection
        on(Ip6AddressRemoved, self.nd6.address_event)
        on(PathMtuChanged, self.tcp.path_mtu_changed)  # RFC 8201 5.2: smaller segments from now on
        for kind in (Ip6AddressAdded, NetifUp, NetifDown, LinkUp, LinkDown):
            on(kind, self._ip6_came_up)  # router solicitation, MLD reports
        on(DefaultNetifChanged, self.dns.default_netif_changed)  # per-netif DNS servers (ESP-IDF's workaround)
        on(NetifRemoved, self.dns.netif_removed)

    # -- netifs ------------------------------------------------------------------------------------------------------
    def add_netif(self, device: NetDevice, *, name: str | None = None, hwaddr: bytes | str | None = None,
                  ip: str | IPv4Interface | None = None, gateway: str | IPv4Address | None = None,
                  mtu: int | None = None, vlan_id: int | None = None, default: bool | None = None,
                  up: bool = True, ip6_linklocal: bool = False, ip6: str | list[str] | None = None,
                  route_prio: int = 0) -> Netif:
        """``netif_add``: attach a device (a :class:`~lwipy.core.device.NetDevice`).  ``ip`` is ``"10.0.0.2/24"``;
        the MTU is the device's.  An Ethernet device's MAC is random (locally administered) unless given; a
        point-to-point device (``device.link_kind == POINT_TO_POINT``, as a TUN) has none, nor a VLAN.  The default
        netif is the usable one with the highest ``route_prio`` (esp_netif's route priority; on a tie the current
        default stays, so the first netif added is it), unless ``default=True`` (or :meth:`set_default_netif`) fixes
        it (None or False: route priority decides).  IPv6: as in lwIP a netif has no IPv6 address until asked:
        ``ip6_linklocal`` makes the link-local one (as
        ``netif_create_ip6_linklocal_address``: from the MAC, or on a point-to-point link from the device's
        ``interface_id`` or a random one), ``ip6`` adds static ones (``"2001:db8::2/64"``).  Events:
        :class:`NetifAdded`, then NetifUp, LinkUp and Ip4AddressChanged as they apply."""
        self.assert_core()
        if not isinstance(device, NetDevice):
            raise TypeError(f"{device!r} is not a device: subclass lwipy.netif.Device (lwipy.core.device.NetDevice)")
        kind = device.link_kind
        if kind == POINT_TO_POINT:
            if hwaddr is not None or vlan_id is not None:
                raise ValueError(f"{device!r} is point-to-point: it has no MAC address and no VLAN")
            mtu = self._check_device(device, mtu)
            netif = self._add(device, name or f"pp{sum(n.is_p2p for n in self.netifs)}", b"", mtu, None,
                              link_kind=POINT_TO_POINT, ip6_iid=self._p2p_interface_id(device))
            return self._setup(netif, device, ip, gateway, default, up, ip6_linklocal, ip6, route_prio)
        if kind != ETHERNET:
            raise ValueError(f"{device!r} has link kind {kind!r}, neither {ETHERNET!r} nor {POINT_TO_POINT!r}")
        if isinstance(hwaddr, str):
            from ..wire.ethernet import mac_from_str
            hwaddr = mac_from_str(hwaddr)
        if hwaddr is None:
            hwaddr = bytes([0x02]) + self.rng.randbytes(5)
        if len(hwaddr) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(hwaddr)}")
        if vlan_id is not None and not 1 <= vlan_id <= 4094:
            raise ValueError(f"VLAN id {vlan_id} is not 1..4094 (0 is a priority tag, read as untagged; 4095 is reserved)")
        mtu = self._check_device(device, mtu)
        netif = self._add(device, name or f"en{sum(n.is_ethernet for n in self.netifs)}", hwaddr, mtu, vlan_id)
        return self._setup(netif, device, ip, gateway, default, up, ip6_linklocal, ip6, route_prio)

    def _p2p_interface_id(self, device: NetDevice) -> bytes:
        iid = device.interface_id
        if iid is None:
            # RFC 5072 4.1: a random identifier, not all zeros, with the "u" bit clear (RFC 4291 2.5.1: not global)
            iid = bytes([self.rng.randrange(256) & ~0x02]) + self.rng.randbytes(7)
            if not any(iid):
                iid = iid[:7] + b"\x01"
        elif len(iid) != 8:
            raise ValueError(f"{device!r} gives an interface identifier of {len(iid)} bytes, not 8")
        return bytes(iid)

    def _check_device(self, device: NetDevice, mtu: int | None) -> int:
        if mtu is None:
            mtu = device.mtu
        if mtu < 68:
            raise ValueError(f"MTU {mtu} is below IPv4's minimum of 68 (RFC 791)")
        if self.config.ip6_forward and device.checksum_offload:
            raise ValueError(f"{device!r} has checksum/segmentation offload, which an IPv6 forwarding stack "
                             "(ip6_forward) cannot use: it would pass on partial checksums; open it without offload "
                             "(IPv4 forwarding, ip_forward, forwards them whole)")
        return mtu

    def _setup(self, netif: Netif, device: NetDevice, ip: str | IPv4Interface | None,
               gateway: str | IPv4Address | None, default: bool | None, up: bool, ip6_linklocal: bool,
               ip6: str | list[str] | None, route_prio: int) -> Netif:
        netif.route_prio = route_prio
        if default:
            self._default_manual = netif
        self._netif_changed(netif)
        self.events.emit(NetifAdded(netif))
        if up:
            netif.set_up()
        if device.link_up:
            netif.set_link_up()
        if ip is not None:
            netif.set_ipv4(ip, gateway)
        if ip6_linklocal or ip6:
            if not self.config.ipv6:
                raise ValueError("IPv6 is off (Config(ipv6=False))")
            netif.create_ip6_linklocal()
            for text in [ip6] if isinstance(ip6, str) else (ip6 or []):
                addr, _, plen = text.partition("/")
                netif.add_ip6_address(addr, int(plen or 64))
        return netif

    def _add(self, device: NetDevice | None, name: str, hwaddr: bytes, mtu: int, vlan_id: int | None,
             is_loopback: bool = False, link_kind: str = ETHERNET, ip6_iid: bytes | None = None) -> Netif:
        if any(n.name == name for n in self.netifs):
            raise ValueError(f"a netif named {name!r} exists already")
        netif = Netif(self, name, self._next_index, device, bytes(hwaddr), mtu, vlan_id, is_loopback, link_kind,
                      ip6_iid)
        link = self.loopback if is_loopback else self.p2p if netif.is_p2p else self.ethernet
        netif.input, netif.output, netif.output_ip6 = link.input, link.output_ip4, link.output_ip6
        self._next_index += 1
        self.netifs.append(netif)
        self.netif_generation += 1
        return netif

    def remove_netif(self, netif: Netif) -> None:
        """``netif_remove``: forget the netif, its routes, ARP entries and memberships."""
        self.assert_core()
        self.netifs.remove(netif)
        self.netif_generation += 1
        self.routes.static = [r for r in self.routes.static if r.netif is not netif]
        for entry in [e for e in self.etharp.table.values() if e.netif is netif]:
            self.etharp.remove(entry.ip, netif)
        self.igmp.netif_removed(netif)
        self.nd6.netif_removed(netif)
        self.mld6.netif_removed(netif)
        self.own6_changed()
        self._netif_changed(netif)
        self.events.emit(NetifRemoved(netif))

    def set_default_netif(self, netif: Netif | None) -> None:
        """``netif_set_default`` as esp_netif's ``esp_netif_set_default_netif``: ``netif`` is the default from now
        on, whatever its state and priority, until it is removed; None goes back to the choice by route priority."""
        self.assert_core()
        self._default_manual = netif
        self._update_default_netif()

    def _update_default_netif(self, event: Any = None) -> None:
        """esp_netif's ``esp_netif_update_default_netif``: the netif set by hand while it exists; else, among the
        usable netifs (up, with the link), the one with the highest ``route_prio``, the current default keeping its
        place on a tie; with none usable, the current default stays (the first netif added when there is none)."""
        manual = self._default_manual
        if manual is not None and manual not in self.netifs:
            manual = self._default_manual = None
        current = self.routes.default_netif
        if current is not None and current not in self.netifs:
            current = None
        if manual is not None:
            best: Netif | None = manual
        else:
            best = current if current is not None and current.is_usable else None
            for n in self.netifs:
                if n.is_usable and not n.is_loopback and (best is None or n.route_prio > best.route_prio):
                    best = n
            if best is None:
                best = current or next((n for n in self.netifs if not n.is_loopback), None)
        if best is not self.routes.default_netif:
            old = self.routes.default_netif
            self.routes.default_netif = best
            self.routes.changed()
            self.events.emit(DefaultNetifChanged(old, best))

    @property
    def stats(self) -> Stats:
        """The protocol counters (lwIP's ``lwip_stats``: ``stack.stats.ip.drop`` and so on), exact whenever read.

        stats14: the fast paths (TCP header prediction's ``fast_input``, the short ways out ``_output_one``,
        ``_output_fast`` and ``fast_ack``, ICMP's ``fast_echo``) count a frame by one tally each instead of the four to
        seven counters the full way would bump (those cost ~70 bytecodes of a request/response round trip): the
        counters each tally stands for are folded in here, when anything reads them, as Linux sums its per-CPU
        SNMP counters when they are read (``snmp_fold_field``).  Each tally stands for a fixed set of increments:

        - ``tcp.fast_taken``, a segment the fast path took: ``link.recv``, ``ip.recv``, ``tcp.recv``;
        - ``tcp.fast_sent``, a segment a short way handed to a device that took it: ``ip.xmit``, ``etharp.cachehit``,
          ``link.xmit``, ``tcp.xmit``;
        - ``icmp.fast_echoes``, an echo request the fast path answered: ``link.recv``, ``ip.recv``, ``icmp.recv``,
          ``ip.xmit``, ``etharp.cachehit``, and ``link.xmit`` and ``icmp.xmit`` unless ``icmp.fast_refused`` (of those,
          replies the device refused: counted in ``link.memerr``, ``link.drop``, ``icmp.err`` where refused);
        - ``udp.fast_taken``, a datagram UDP's short way in took (udp19): ``link.recv``, ``ip.recv``, ``udp.recv``;
        - ``tcp.fast_taken6``, a segment over IPv6 the fast path took (s20): ``link.recv``, ``ip6.recv``, ``tcp.recv``;
        - ``tcp.fast_sent6``, a segment over IPv6 written from its template that the device took (s20 pure ACKs, s21
          data): ``ip6.xmit``, ``link.xmit``, ``tcp.xmit``;
        - ``icmp6.fast_echoes``, an echo request over IPv6 the fast path answered (s21): ``link.recv``, ``ip6.recv``,
          ``icmp6.recv``, ``ip6.xmit``, ``icmp6.xmit``, and ``link.xmit`` unless ``icmp6.fast_refused`` (of those,
          replies the device refused: counted in ``link.memerr`` and ``link.drop`` where refused).

        A frame that fits none of those (a segment refused or whose write raised) is counted in full where it happens.
        The same :class:`~lwipy.stats.Stats` object is returned every time, its fields brought up to date: read
        through ``stack.stats`` each time (one of its protocol objects kept from an earlier read does not move with
        the fast paths' traffic until the next read); and on the stack's thread, as anything of it (a loop's
        ``loop.call(lambda: stack.stats.as_dict())``): the fold writes the counters.  The stack's own code counts in
        ``_stats``, the same object without the fold, so that the slow paths' increments cost no call."""
        tcp, icmp, icmp6 = self.tcp, self.icmp, self.icmp6
        tallies = (tcp.fast_taken, tcp.fast_sent, icmp.fast_echoes, icmp.fast_refused, self.udp.fast_taken,
                   tcp.fast_taken6, tcp.fast_sent6, icmp6.fast_echoes, icmp6.fast_refused)
        stats = self._stats
        folded = self._stats_folded
        if tallies != folded:
            # (straight-line, no call in it: on CPython with the GIL no other thread runs in the middle of a fold)
            self._stats_folded = tallies
            taken, sent = tallies[0] - folded[0], tallies[1] - folded[1]
            echoes, refused = tallies[2] - folded[2], tallies[3] - folded[3]
            datagrams, taken6, sent6 = tallies[4] - folded[4], tallies[5] - folded[5], tallies[6] - folded[6]
            echoes6, refused6 = tallies[7] - folded[7], tallies[8] - folded[8]
            link, ip, etharp = stats.link, stats.ip, stats.etharp
            link.recv += taken + echoes + datagrams + taken6 + echoes6
            ip.recv += taken + echoes + datagrams
            stats.ip6.recv += taken6 + echoes6
            stats.ip6.xmit += sent6 + echoes6
            link.xmit += sent6 + echoes6 - refused6
            stats.icmp6.recv += echoes6
            stats.icmp6.xmit += echoes6
            stats.tcp.recv += taken + taken6
            stats.tcp.xmit += sent6
            stats.udp.recv += datagrams
            stats.icmp.recv += echoes
            ip.xmit += sent + echoes
            etharp.cachehit += sent + echoes
            link.xmit += sent + echoes - refused
            stats.tcp.xmit += sent
            stats.icmp.xmit += echoes - refused
        return stats

    @property
    def default_netif(self) -> Netif | None:
        return self.routes.default_netif

    def netif_by_index(self, index: int) -> Netif | None:
        return next((n for n in self.netifs if n.index == index), None)

    def netif_by_name(self, name: str) -> Netif | None:
        return next((n for n in self.netifs if n.name == name), None)

    def netif_for_multicast(self, ifaddr: IPv4Address | None) -> Netif:
        """The netif a multicast option names by its address (``IP_MULTICAST_IF``), else the default one."""
        if ifaddr is not None and ifaddr != _ANY:
            for netif in self.netifs:
                if netif.ip4 is not None and netif.ip4.ip == ifaddr:
                    return netif
            raise LwipError(errno.EADDRNOTAVAIL, f"no netif has the address {ifaddr}")
        chosen = self.default_netif or next((n for n in self.netifs if not n.is_loopback), None)
        if chosen is None:
            raise LwipError(errno.ENETUNREACH, "no netif for multicast")
        return chosen

    def is_own_address(self, addr: IPv4Address) -> bool:
        return int(addr) in self._own4

    def dns_servers6(self) -> list[IPv6Address]:
        """The IPv6 DNS servers learned so far, for the resolver: from router advertisements (RDNSS, RFC 8106) and
        from stateless DHCPv6, without repeats."""
        found = [IPv6Address(s) for s, _ in self.nd6.rdisc.dns_servers]
        for source in self.dns_sources6:
            found += [s for s in source() if s not in found]
        return found

    def dns_setserver(self, index: int, addr: "IPv4Address | IPv6Address | str | None",
                      netif: Netif | None = None) -> None:
        """lwIP's ``dns_setserver``: the DNS server at ``index`` (0 ``DNS_MAIN``, 1 ``DNS_BACKUP``, the last
        ``DNS_FALLBACK``), None to clear it.  A DHCP client sets MAIN and BACKUP from its lease (passing its
        ``netif``, so that ``dns_per_default_netif`` can restore them); see :meth:`lwipy.core.dns.Dns.setserver`."""
        self.dns.setserver(index, addr, netif)

    def dns_getserver(self, index: int) -> "IPv4Address | IPv6Address | None":
        """lwIP's ``dns_getserver``: the DNS server at ``index``, or None when unset."""
        return self.dns.getserver(index)

    def is_own_address6(self, packed: bytes) -> bool:
        """Whether ``packed`` is one of our IPv6 addresses (tentative ones included, duplicated ones not)."""
        return packed in self._own6

    def _netif6_address_added(self, netif: Netif, a: Ip6Addr) -> None:
        self._own6.add(a.addr)
        self.routes.changed()
        self.timers_changed()  # its lifetimes
        self.events.emit(Ip6AddressAdded(netif, a.address, a.prefix_len, a.state, a.origin))

    def _ip6_came_up(self, event: Any) -> None:
        """A netif usable with IPv6 addresses, for the first time or again: solicit routers, report groups."""
        netif = event.netif
        if netif.is_loopback or netif.device is None or netif not in self.netifs:
            return
        if netif.is_usable and not netif.ip6_was_up and netif.ip6_addrs:
            self.nd6.netif_up(netif)
            self.mld6.netif_up(netif)
        netif.ip6_was_up = netif.is_usable and bool(netif.ip6_addrs)

    def own6_changed(self) -> None:
        """Our IPv6 addresses changed (one removed, one found duplicated): count them again."""
        self._own6 = {a.addr for n in self.netifs for a in n.ip6_addrs if a.state != DUPLICATED}

    def _netif6_address_removed(self, netif: Netif, a: Ip6Addr) -> None:
        self.own6_changed()
        self.routes.changed()
        self.events.emit(Ip6AddressRemoved(netif, a.address, a.state))

    @property
    def link_output(self) -> Callable[..., bool]:
        """``ethernet_output(netif, pbuf, dst_mac, ethertype)``, through which ARP, ND and the IP layers send on
        Ethernet (tests and hooks may wrap it).  way14: a write moves :attr:`way_generation` on (the short ways out
        write frames themselves only while it is Ethernet's own); the per-packet code reads ``_link_output``."""
        return self._link_output

    @link_output.setter
    def link_output(self, output: Callable[..., bool]) -> None:
        self._link_output = output
        self.way_generation += 1

    def _way_moved(self) -> None:
        """way13: something a kept way out is made from changed (see :attr:`way_generation`)."""
        self.way_generation += 1

    def _netif_changed(self, netif: Netif) -> None:
        """A netif's state or IPv4 settings changed: forget cached routes, count our addresses again (the reactions
        to the change subscribe to its event)."""
        self.routes.changed()
        own4 = {int(n.ip4.ip) for n in self.netifs if n.ip4 is not None}
        if own4 != self._own4:
            self._own4 = own4
            self.tcp.own4_changed()  # in12: no header prediction for a connection to one of our addresses
        self.timers_changed()  # deadlines of a netif usable again count once more (router solicitation, DAD...)

    # -- input -------------------------------------------------------------------------------------------------------
    def input(self, netif: Netif, frame: bytes | bytearray | memoryview, now: float) -> None:
        """``netif->input``: one frame received on ``netif`` at time ``now`` (an Ethernet frame, or an IP packet on a
        point-to-point netif).  Never raises for what a peer sends: bad frames are dropped and counted in
        :attr:`stats`."""
        if self.assert_core is not no_core_check:
            self.assert_core()
        self.now = now
        if type(frame) is RxOffload:  # a partial checksum or a super-segment: the notes for ip4_forward
            self.rx_offload = frame
            frame = frame.frame
        try:
            netif.input(netif, frame)
        except Exception:
            self.frame_failed(netif)
        finally:
            self.rx_offload = None

    def frame_failed(self, netif: Netif) -> None:
        """A bug met while handling a frame received on ``netif`` (called from the ``except`` that caught it, by the
        stack or a loop driving it): raised again when strict, else counted and logged, and the frame dropped."""
        if self.strict:
            raise
        self._stats.link.err += 1
        log.exception("%s: internal error handling a frame on %s; frame dropped", self.name, netif.name)

    def input_many(self, netif: Netif, frames: Iterable[bytes], now: float, first: Any = None,
                   bare: bool = False) -> None:
        """:meth:`input` for a batch of frames received together: ``first`` when given (a frame read already: the one
        that woke a loop, taken before anything of ``frames`` runs), then ``frames``.  ``bare``: the caller knows
        every frame is one (bytes, a bytearray or a memoryview), none an :class:`RxOffload` (a plain device's
        reads): not asked of each."""
        if self.assert_core is not no_core_check:
            self.assert_core()
        if first is not None:
            frames = chain((first,), frames)
        # --- rx: TCP acknowledges a batch once, after its last segment (tcp_in's "ACKs per batch") ---
        tcp = self.tcp
        if tcp.unsettled is not None:
            # rr2: a batch fed from a callback while an ACK's bookkeeping waits: done first.  in2: here, once a batch,
            # not by fast_input at each frame (nothing is left waiting between frames: fast_input settles what its
            # ways leave, and only they leave any)
            tcp.settle()
        outer = tcp.batching  # a batch taken inside another (a callback feeding frames) ends with the outer one
        tcp.batching = True
        # an established connection's next segment straight to TCP's header prediction (what ethernet_input would
        # try first for a frame that is not ICMP), the rest the whole way (input).  off9: a frame with offload notes
        # (RxOffload) too, as ethernet_input tries it under input: header prediction takes only a segment for one of
        # our connections, which the notes (read by forwarding and NAPT alone) have nothing to say about
        # (call12: a netif's input compared with ethernet_input as _add gave it; should ``ethernet.input`` be replaced
        # since, that netif's input still is the ethernet_input that tries header prediction first: the same way)
        fast = tcp.fast_input if netif.input == self._eth_input else None
        try:
            if fast is None:
                for frame in frames:
                    self.input(netif, frame, now)
            else:
                # in12: every frame offered, its first tests fast_input's own (the length, the Ethernet type, IPv4 and
                # TCP: a frame of another kind is turned away by them, before the full way): 39 -> 20 bytecodes per
                # segment; in13: 5 less when ``bare`` (no type() asked of each frame).  One loop for both kinds of
                # batch (a second copy for bare ones would save 2 bytecodes a frame: not worth the copy)
                udp_fast = self.udp.fast_input
                for frame in frames:
                    self.now = now
                    try:
                        if fast(netif, frame if bare or type(frame) is not RxOffload else frame.frame):
                            continue
                        # udp19: a datagram of a bare batch offered to UDP's short way here, as ethernet_input offers
                        # it first (Ethernet.input): the way there 91 -> 42 bytecodes a datagram
                        if bare and len(frame) > 33 and frame[23] == 17 and udp_fast(netif, frame):
                            continue
                    except Exception:
                        self.frame_failed(netif)  # as input handles it
                        continue
                    self.input(netif, frame, now)
        finally:
            tcp.batching = outer
            if not outer:
                try:
                    if tcp.output_pending:  # tx64: the sends the batch's ACKs let go, data carrying ACKs due
                        tcp.flush_output()
                    if tcp.ack_pending:
                        self._guarded(tcp.flush_acks)
                finally:
                    if self._after_batch:
                        self._run_after_batch()

    def after_batch(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the batch of frames being taken now (:meth:`input_many`) ends, after its ACKs and sends; at
        once when no batch runs.  For work above the core that is worth doing once per batch rather than once per
        frame: a netconn wakes a reader waiting for data once for what the batch's segments brought (rx17), not once
        per segment, so the reader's thread does not contend for the interpreter with the core's every system call
        in between."""
        if self.tcp.batching:
            self._after_batch.append(fn)
        else:
            fn()

    def _run_after_batch(self) -> None:
        calls, self._after_batch = self._after_batch, []
        for fn in calls:
            self._guarded(fn)

    # -- output ------------------------------------------------------------------------------------------------------
    def netif_output(self, netif: Netif, pbuf: Pbuf, next_hop: IPv4Address) -> bool:
        """Send an IPv4 packet out of ``netif`` towards ``next_hop``: looped back when it is our own address, else
        ``netif->output`` (on Ethernet resolved to a MAC: broadcast, multicast mapping or ARP; on a point-to-point
        link sent as it is).  False when it was dropped."""
        if self.loops_back(netif, next_hop):
            return self.loop_output(netif, pbuf)
        if not netif.is_usable:
            self._stats.ip.rterr += 1
            self._stats.ip.drop += 1
            return False
        return netif.output(netif, pbuf, next_hop)

    # -- time --------------------------------------------------------------------------------------------------------
    def timeouts_deinit(self) -> None:
        """``sys_timeouts_deinit`` (ESP-IDF): stop every timer.  Until :meth:`timeouts_init`, :meth:`poll` does
        nothing that is timed (ARP, reassembly, IGMP, TCP, apps) and :meth:`poll_at` reports nothing pending, so a
        loop driving the stack sleeps; frames are still taken.  What fell due meanwhile runs once the timers are back.
        """
        self.timers_running = False

    def timeouts_init(self) -> None:
        """``sys_timeouts_init``: run the timers again (they run from the start)."""
        self.timers_running = True

    def poll(self, now: float) -> None:
        """Do everything due at ``now``: looped-back packets, ARP retries and expiry, reassembly timeouts, IGMP
        reports, gratuitous ARP, and the registered pollers (apps)."""
        self.now = now
        if self.loopback.queue:
            self.loopback.poll()
        if not self.timers_running:
            return
        if self.strict:
            self._check_floor()
        # each module's poll() only when its poll_at() says something is due (a module's poll does nothing before its
        # poll_at: tests/core/test_poll_at.py), in the order lwIP's timers have always run here
        for module in (self.etharp, self.ip4.reass, self.igmp, self.tcp, self.nd6, self.ip6.reass, self.mld6,
                       self.dns):
            due = module.poll_at()
            if due is not None and due <= now:
                self._guarded(module.poll, now)
        for poller in list(self._pollers):
            if not self._guarded(poller.poll, now):
                # a poller that raises would stay due and spin the loop: it is dropped, once, loudly
                log.error("%s: removing poller %r after it raised", self.name, poller)
                self.remove_poller(poller)
        # the floor exact again: one that was low only for deadlines since cleared or moved later woke the loop once
        self._timer_floor = self._modules_at()

    def _guarded(self, fn: Any, *args: Any) -> bool:
        """Run one piece of work so that a bug in it neither stops the others nor leaves the core (unless strict)."""
        try:
            fn(*args)
            return True
        except Exception:
            if self.strict:
                raise
            self._stats.link.err += 1
            log.exception("%s: internal error in %s", self.name, getattr(fn, "__qualname__", fn))
            return False

    def poll_at(self) -> float | None:
        """The time :meth:`poll` next has work, or None when nothing is pending (``sys_timeouts_sleeptime``)."""
        if self.loopback.queue:
            return self.now
        if not self.timers_running:
            return None
        if self.strict:
            self._check_floor()
        # each module answers from its own state without building lists, and the earliest wins (no list of deadlines
        # built here either); the modules' earliest besides TCP is the floor from now on
        due = self.tcp.poll_at()
        self._timer_floor = t = self._modules_at()
        if t != _INF and (due is None or t < due):
            due = t
        for p in self._pollers:
            t = p.poll_at()
            if t is not None and (due is None or t < due):
                due = t
        return due

    def poll_floor(self) -> float | None:
        """A time no later than :meth:`poll_at`'s (None only when that is None), found cheaply: what a loop asks every
        turn (:class:`~lwipy.api.loop.StackLoop`).  The modules besides TCP are not asked: a floor of their deadlines
        is kept as they are set (:meth:`timer_armed`); TCP's part is its deadline heap's top (no later than its
        earliest deadline: an entry moves only later, when it surfaces); the pollers are asked.  It is earlier than
        poll_at() after deadlines were cleared or moved later: the loop then runs :meth:`poll` for nothing, once,
        which makes it exact again."""
        if self.loopback.queue:
            return self.now
        if not self.timers_running:
            return None
        due = self._timer_floor
        heap = self.tcp.timers._heap
        if heap:
            t = heap[0][0]
            if t < due:
                due = t
        for p in self._pollers:
            t = p.poll_at()
            if t is not None and t < due:
                due = t
        return None if due == _INF else due

    def timer_armed(self, when: float | None) -> None:
        """A module set or brought forward a deadline that its ``poll_at()`` reports, to ``when`` (None: a lifetime
        that never ends, nothing to learn): :meth:`poll_floor` is no later than that from now on.  Deadlines cleared or
        moved later need nothing, nor those a module's ``poll()`` sets (:meth:`poll` makes the floor exact after the
        modules ran; nothing else polls them)."""
        if when is not None and when < self._timer_floor:
            self._timer_floor = when

    def timers_changed(self) -> None:
        """Deadlines may have come into view without being set (a netif usable again, an address added): the floor
        takes in the modules' earliest (each asked)."""
        t = self._modules_at()
        if t < self._timer_floor:
            self._timer_floor = t

    def _floor_modules(self) -> tuple[tuple[str, Any], ...]:
        """The timed modules besides TCP whose deadlines the floor covers (:meth:`timer_armed`), with their names."""
        return (("etharp", self.etharp), ("ip4.reass", self.ip4.reass), ("igmp", self.igmp), ("nd6", self.nd6),
                ("mld6", self.mld6), ("ip6.reass", self.ip6.reass), ("dns", self.dns))

    def _modules_at(self) -> float:
        """The earliest deadline of the timed modules besides TCP (inf: none), each asked (``poll_at()``)."""
        due = _INF
        for _, module in self._floor_modules():
            t = module.poll_at()
            if t is not None and t < due:
                due = t
        return due

    def _check_floor(self) -> None:
        """Strict stacks (tests): the floor is no later than any module's deadline and TCP's heap top no later than
        its earliest deadline; else the module whose deadline was set without :meth:`timer_armed` is named."""
        floor = self._timer_floor
        for name, module in self._floor_modules():
            t = module.poll_at()
            if t is not None and t < floor:
                raise AssertionError(f"{self.name}: {name} has a deadline at {t}, before the stack's timer floor "
                                     f"{floor}: a place that sets it does not call stack.timer_armed()")
        heap = self.tcp.timers._heap
        top = heap[0][0] if heap else _INF
        t = self.tcp.poll_at()
        if t is not None and t < top:
            raise AssertionError(f"{self.name}: tcp has a deadline at {t}, before its deadline heap's top {top}")

    def add_poller(self, poller: Poller) -> None:
        """Drive ``poller.poll(now)`` from :meth:`poll` and include its ``poll_at()`` in :meth:`poll_at`."""
        self.assert_core()
        self._pollers.append(poller)

    def remove_poller(self, poller: Poller) -> None:
        self.assert_core()
        if poller in self._pollers:
            self._pollers.remove(poller)

    # --- memory (issue 14 item 5: lwIP's MEM/MEMP accounting, see lwipy.core.mem) ---
    def _init_memory(self) -> None:
        cfg = self.config
        #: what lwIP would have allocated for this stack's state (:class:`lwipy.core.mem.MemStats`)
        self.mem = mem = MemStats()
        sizes = mem.sizes
        self.mem_tcp_snd_seg = sizes.tcp_snd_segment()  # per queued segment beyond its data
        self.mem_tcp_rx_seg = sizes.tcp_rx_segment()  # per received segment beyond its data
        # static arrays in lwIP: there from the start, never more
        mem.alloc(ARP, cfg.arp_table_size * sizes.etharp_entry, cfg.arp_table_size)
        if cfg.ipv6:
            mem.alloc(ND6, cfg.nd6_num_neighbors * sizes.nd6_neighbor + cfg.nd6_num_destinations *
                      sizes.nd6_destination + cfg.nd6_num_prefixes * sizes.nd6_prefix + cfg.nd6_num_routers *
                      sizes.nd6_router, cfg.nd6_num_neighbors)

    def memory(self) -> dict[str, Any]:
        """Current and peak bytes by category, as lwIP would count them on an ESP32 (MEMP element sizes for the
        pcbs, netconns and mailboxes, pbuf bytes for the buffers; see :mod:`lwipy.core.mem`):
        ``{"total": {"cur", "peak"}, "tcp_pcb": {"cur", "peak", "used", "max", "err"}, ...}``."""
        return self.mem.report()

    def __repr__(self) -> str:
        return f"<Stack {self.name} {len(self.netifs)} netifs>"
