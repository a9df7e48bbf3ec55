"""An mDNS responder (RFC 6762) with DNS-SD services (RFC 6763), as ESP-IDF's ``mdns`` component is for a device.

Theory of operation.  The responder owns unique names: the host name (``NAME.local``: its A and AAAA records, and with
``mdns_respond_reverse_queries`` the reverse PTRs of its addresses) and one instance name per service
(``Instance._http._tcp.local``: SRV and TXT), and shares the service-type PTRs (``_http._tcp.local`` ->
instance, ``_services._dns-sd._udp.local`` -> ``_http._tcp.local``).  Each unique name is an *owner* that goes
through the states of RFC 6762 8::

    probing (3 probes 250 ms apart, after a random 0-250 ms wait)  --conflict-->  renamed "name-2", probing again
       | no conflict                                                              (lost a tie-break: probing again in 1 s)
    announcing (3 unsolicited responses, 1 s then 2 s apart)
       |
    running (answers queries)  --a conflicting response-->  probing again (RFC 6762 9)

A probe is a query for the name (type ANY, the unicast-response bit set on the first, RFC 6762 8.1) carrying the
proposed records in its authority section.  A response holding a record of the probed name that is not ours, or a
simultaneous probe that wins the lexicographic tie-break (8.2), is a conflict; after 15 conflicts within 10 s the
next probe waits 5 s.  Renaming follows ESP-IDF's ``_mdns_mangle_name``: ``name`` -> ``name-2`` -> ``name-3``.

Queries are answered on the netif they came in on: A, AAAA, PTR (service types, ``_services._dns-sd._udp``, reverse
names), SRV, TXT and ANY, with the additional records of RFC 6763 12 (SRV, TXT and addresses for a PTR; addresses for
an SRV); asked for a type that a unique name of ours does not have, an NSEC (6.1) listing the types it has is the
answer. Known answers (7.1: in the query's answer section with at least half our TTL) are left out, and so are answers
another responder multicasts while ours waits (7.4). A question with the unicast-response bit (QU, 5.4) is answered by
unicast to the asker's port 5353; a query from another port (a one-shot resolver such as lwIP's, 6.7 "legacy unicast")
by unicast to that port, echoing its id and question, TTLs capped at 10 s and no cache-flush bits. Multicast answers
of unique records go at once, shared ones after a random 20-120 ms (6); a record is not multicast again on a netif
within a second (250 ms when answering a probe).

``stop()`` (ESP-IDF's ``mdns_free``) sends goodbyes (every record with TTL 0, 10.1) and leaves the groups;
``service_remove`` sends the service's.  IPv4 uses 224.0.0.251 (joined through IGMP) and IPv6 ff02::fb (through
MLD), port 5353, IP TTL / hop limit 255 (11).  Time comes from ``stack.now`` and randomness from ``stack.rng``.

A query with TC set is held 400-500 ms while the rest of its known answers arrive (7.2).

The querier (``query_ptr``, ``query_srv``, ``query_txt``, ``query_a``, ``query_aaaa``: ESP-IDF's ``mdns_query_*``)
lives in :mod:`.mdns_query`.

Not done: subtypes, delegated hosts, per-netif probing (all netifs probe together, as one), and splitting a response
larger than the MTU into several (it goes fragmented).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..core.addr6 import DEPRECATED, PREFERRED
from ..core.events import Ip4AddressChanged, Ip6AddressAdded, Ip6AddressStateChanged, LinkUp, NetifAdded, NetifUp
from ..errors import LwipError, Malformed
from ..wire import dns as w
from .mdns_query import MdnsResult, MdnsSearch

if TYPE_CHECKING:
    from ..core.netif import Netif
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["MdnsResponder", "MdnsService", "MdnsResult", "MdnsSearch", "HOST_TTL", "SERVICE_TTL", "mangle_name"]

log = logging.getLogger("lwipy.mdns")

# ESP-IDF's mdns_private.h: MDNS_ANSWER_A_TTL / AAAA / SRV 120 s, PTR and TXT 4500 s (RFC 6762 10)
HOST_TTL = 120
SERVICE_TTL = 4500
LEGACY_TTL = 10  # RFC 6762 6.7: "no greater than ten seconds" in a legacy unicast response
PROBE_WAIT = 0.25  # RFC 6762 8.1: probes 250 ms apart, the first after a random 0-250 ms
PROBE_COUNT = 3
ANNOUNCE_COUNT = 3  # ESP-IDF: PCB_ANNOUNCE_1..3
TIEBREAK_DEFER = 1.0  # 8.2: the loser of a tie-break probes again after one second
CONFLICT_LIMIT, CONFLICT_WINDOW, CONFLICT_WAIT = 15, 10.0, 5.0  # 8.1
_LOCAL = "local"
_SERVICES = "_services._dns-sd._udp.local"
_PROBING, _ANNOUNCING, _RUNNING = "probing", "announcing", "running"


def mangle_name(name: str) -> str:
    """ESP-IDF's ``_mdns_mangle_name``: ``name`` becomes ``name-2``, ``name-N`` becomes ``name-(N+1)``."""
    base, dash, num = name.rpartition("-")
    if dash and num.isdigit() and base:
        return f"{base}-{int(num) + 1}"
    return f"{name}-2"


def _txt(items: Mapping[str, str | bytes | None] | None) -> tuple[bytes, ...]:
    out = []
    for k, v in (items or {}).items():
        key = k.encode()
        out.append(key if v is None else key + b"=" + (v if isinstance(v, bytes) else v.encode()))
    return tuple(out) or (b"",)  # RFC 6763 6.1: an empty TXT record holds one empty string


@dataclass(eq=False)
class MdnsService:
    """One service (``mdns_service_add``): ``instance`` (None: the responder's instance name, else its host name),
    ``service_type`` such as ``"_http"``, ``proto`` ``"_tcp"`` or ``"_udp"``, the port and the TXT items."""

    instance: str | None
    service_type: str
    proto: str
    port: int
    txt: dict[str, str | bytes | None] = field(default_factory=dict)


@dataclass(eq=False)
class _Owner:
    """A unique name and where it is in probing and announcing."""

    service: MdnsService | None  # None: the host name
    state: str = _PROBING
    count: int = 0
    next_at: float | None = None


def _key(r: w.Record) -> tuple[str, int, Any]:
    return (r.name.lower(), r.rtype, r.data.lower() if isinstance(r.data, str) else r.data)


class MdnsResponder:
    """The mDNS responder of one stack (``stack.apps["mdns"]``): ``mdns_init`` and ``mdns_hostname_set`` in one.

    :param hostname: the host name, without ``.local`` (ESP-IDF's ``mdns_hostname_set``).
    :param instance: the default instance name of services (``mdns_instance_name_set``).
    :param netifs: the netifs it serves (None: every netif but loopback, also those added later), at most
        ``mdns_max_interfaces``.
    :param on_renamed: called with (old, new) name when a conflict renames the host or an instance.

    ``counters`` counts ``received``, ``malformed``, ``queries``, ``responses``, ``sent``, ``conflicts``,
    ``suppressed`` (known answers left out) and ``dropped`` (a packet we do not handle: opcode, own, wrong port).
    """

    def __init__(self, stack: "Stack", hostname: str, instance: str | None = None, *,
                 netifs: Iterable["Netif"] | None = None,
                 on_renamed: Callable[[str, str], None] | None = None) -> None:
        if "mdns" in stack.apps:
            raise ValueError(f"{stack.name} has an mDNS responder already: use stack.apps['mdns']")
        self.stack = stack
        self.config = stack.config
        self._check_label(hostname)
        self.hostname = hostname
        self.instance = instance
        self.on_renamed = on_renamed
        self.services: list[MdnsService] = []
        self.counters = dict.fromkeys(("received", "malformed", "queries", "responses", "sent", "conflicts",
                                       "suppressed", "dropped"), 0)
        self._all_netifs = netifs is None
        self.netifs: list[Netif] = []
        self._owners: list[_Owner] = [_Owner(None)]
        self._pending: list[tuple[float, "Netif", Any, int, w.DnsMessage]] = []
        #: queries with TC set, waiting for their known answers (RFC 6762 7.2): (netif, source, port) -> due, query
        self._held: dict[tuple[int, Any, int], tuple[float, w.DnsMessage, "Datagram", "Netif"]] = {}
        self._last_multicast: dict[tuple[int, int, tuple[str, int, Any]], float] = {}
        self._conflict_times: list[float] = []
        #: searches in progress (``query*``)
        self.searches: list[MdnsSearch] = []
        self.running = True
        pcb = stack.udp.new(ip6=stack.config.ipv6)
        pcb.reuse_addr = True
        pcb.bind(None, w.MDNS_PORT)
        pcb.multicast_ttl = 255  # RFC 6762 11: IP TTL 255, multicast and unicast alike
        pcb.ttl = pcb.hop_limit = 255
        pcb.multicast_loop = False
        pcb.on_recv = self._recv
        self.pcb: UdpPcb = pcb
        for netif in (netifs if netifs is not None else [n for n in stack.netifs if not n.is_loopback]):
            self._add_netif(netif)
        events = stack.events
        self._subscriptions = [events.subscribe(kind, self._netif_event) for kind in
                               (NetifAdded, NetifUp, LinkUp, Ip4AddressChanged, Ip6AddressAdded,
                                Ip6AddressStateChanged)]
        stack.apps["mdns"] = self
        stack.add_poller(self)
        self._restart(self._owners[0])

    # -- the API (ESP-IDF's mdns.h) -----------------------------------------------------------------------------------
    @property
    def host_fqdn(self) -> str:
        """``NAME.local``."""
        return w.join_labels([self.hostname.encode(), b"local"])

    def hostname_set(self, hostname: str) -> None:
        """``mdns_hostname_set``: a new host name, probed and announced (services re-announce their SRV)."""
        self._check_label(hostname)
        if hostname == self.hostname:
            return
        # goodbye for the old names: the host's, and the instances named after it
        self._goodbye([o for o in self._owners if o.service is None or (o.service.instance is None
                                                                         and self.instance is None)])
        self.hostname = hostname
        self._host_changed()

    def instance_name_set(self, instance: str | None) -> None:
        """``mdns_instance_name_set``: the default instance name of services that have none of their own."""
        if instance is not None:
            self._check_label(instance)
        renamed = [o for o in self._owners if o.service is not None and o.service.instance is None]
        self._goodbye(renamed)
        self.instance = instance
        for o in renamed:
            self._restart(o)

    def service_add(self, instance: str | None, service_type: str, proto: str, port: int,
                    txt: Mapping[str, str | bytes | None] | None = None) -> MdnsService:
        """``mdns_service_add``: publish a service (``"_http"``, ``"_tcp"``, 80); its instance name is probed."""
        if proto not in ("_tcp", "_udp"):
            raise LwipError(errno.EINVAL, f"proto must be _tcp or _udp, not {proto!r}")
        if not service_type.startswith("_"):
            raise LwipError(errno.EINVAL, f"a service type starts with an underscore: {service_type!r}")
        if not 0 <= port <= 0xFFFF:
            raise LwipError(errno.EINVAL, f"port {port} out of range")
        if instance is not None:
            self._check_label(instance)
        if self._find(service_type, proto, instance, missing_ok=True) is not None:
            raise LwipError(errno.EEXIST, f"{service_type}.{proto} is published already")
        if len(self.services) >= self.config.mdns_max_services:
            raise LwipError(errno.ENOMEM, f"CONFIG_MDNS_MAX_SERVICES ({self.config.mdns_max_services}) reached")
        service = MdnsService(instance, service_type, proto, port, dict(txt or {}))
        _txt(service.txt)  # checks the items encode
        self.services.append(service)
        owner = _Owner(service)
        self._owners.append(owner)
        self._restart(owner)
        return service

    def service_remove(self, service_type: str, proto: str, instance: str | None = None) -> None:
        """``mdns_service_remove``: goodbye for its records, then it is gone."""
        service = self._find(service_type, proto, instance)
        owner = self._owner_of(service)
        self._goodbye([owner])
        self._owners.remove(owner)
        self.services.remove(service)

    def service_remove_all(self) -> None:
        """``mdns_service_remove_all``."""
        for s in list(self.services):
            self.service_remove(s.service_type, s.proto, s.instance)

    def service_port_set(self, service_type: str, proto: str, port: int, instance: str | None = None) -> None:
        """``mdns_service_port_set``: the SRV changes and is announced again."""
        service = self._find(service_type, proto, instance)
        service.port = port
        self._reannounce(self._owner_of(service))

    def service_txt_set(self, service_type: str, proto: str, txt: Mapping[str, str | bytes | None],
                        instance: str | None = None) -> None:
        """``mdns_service_txt_set``: replace the TXT items; the new TXT is announced (RFC 6762 8.4)."""
        service = self._find(service_type, proto, instance)
        _txt(txt)
        service.txt = dict(txt)
        self._reannounce(self._owner_of(service))

    def service_txt_item_set(self, service_type: str, proto: str, key: str, value: str | bytes | None,
                             instance: str | None = None) -> None:
        """``mdns_service_txt_item_set``: set one TXT item."""
        service = self._find(service_type, proto, instance)
        self.service_txt_set(service_type, proto, {**service.txt, key: value}, instance)

    def service_txt_item_remove(self, service_type: str, proto: str, key: str, instance: str | None = None) -> None:
        """``mdns_service_txt_item_remove``."""
        service = self._find(service_type, proto, instance)
        self.service_txt_set(service_type, proto, {k: v for k, v in service.txt.items() if k != key}, instance)

    def service_instance_name_set(self, service_type: str, proto: str, instance: str,
                                  old_instance: str | None = None) -> None:
        """``mdns_service_instance_name_set``: a new instance name, probed again."""
        self._check_label(instance)
        service = self._find(service_type, proto, old_instance)
        owner = self._owner_of(service)
        self._goodbye([owner])
        service.instance = instance
        self._restart(owner)

    # -- the querier (mdns_query_*) ---------------------------------------------------------------------------------------
    def query(self, name: str, qtype: int, timeout: float = 3.0, max_results: int = 1,
              on_done: Callable[[list[MdnsResult]], Any] | None = None, *, service_type: str | None = None,
              proto: str | None = None) -> MdnsSearch:
        """``mdns_query_async_new``: search for ``name`` (a full name) of type ``qtype``; ``on_done(results)`` after
        ``timeout`` seconds or once ``max_results`` are complete."""
        if not self.running:
            raise LwipError(errno.ESHUTDOWN, "the mDNS responder is stopped")
        search = MdnsSearch(name, qtype, timeout, max_results, self.stack.now, on_done, service_type, proto)
        self.searches.append(search)
        return search

    def query_ptr(self, service_type: str, proto: str, timeout: float = 3.0, max_results: int = 20,
                  on_done: Callable[[list[MdnsResult]], Any] | None = None) -> MdnsSearch:
        """``mdns_query_ptr``: browse ``_http._tcp``; each result with its instance, host, port, TXT and addresses."""
        name = w.join_labels([service_type.encode(), proto.encode(), b"local"])
        return self.query(name, w.PTR, timeout, max_results, on_done, service_type=service_type, proto=proto)

    def query_srv(self, instance: str, service_type: str, proto: str, timeout: float = 3.0,
                  on_done: Callable[[list[MdnsResult]], Any] | None = None) -> MdnsSearch:
        """``mdns_query_srv``."""
        name = w.join_labels([instance.encode(), service_type.encode(), proto.encode(), b"local"])
        return self.query(name, w.SRV, timeout, 1, on_done, service_type=service_type, proto=proto)

    def query_txt(self, instance: str, service_type: str, proto: str, timeout: float = 3.0,
                  on_done: Callable[[list[MdnsResult]], Any] | None = None) -> MdnsSearch:
        """``mdns_query_txt``."""
        name = w.join_labels([instance.encode(), service_type.encode(), proto.encode(), b"local"])
        return self.query(name, w.TXT, timeout, 1, on_done, service_type=service_type, proto=proto)

    def query_a(self, host: str, timeout: float = 3.0,
                on_done: Callable[[list[MdnsResult]], Any] | None = None) -> MdnsSearch:
        """``mdns_query_a``: the IPv4 address of ``host`` (without ``.local``)."""
        return self.query(w.join_labels([host.encode(), b"local"]), w.A, timeout, 1, on_done)

    def query_aaaa(self, host: str, timeout: float = 3.0,
                   on_done: Callable[[list[MdnsResult]], Any] | None = None) -> MdnsSearch:
        """``mdns_query_aaaa``."""
        return self.query(w.join_labels([host.encode(), b"local"]), w.AAAA, timeout, 1, on_done)

    def _run_searches(self, now: float) -> None:
        for search in list(self.searches):
            if search.complete() or now >= search.deadline:
                self.searches.remove(search)
                search.finish()
            elif now >= search.next_send:
                msg = search.question()
                for netif in self.netifs:
                    for dst in self._destinations(netif):
                        self._send(msg, netif, dst, w.MDNS_PORT)
                search.sent(now)

    def stop(self) -> None:
        """``mdns_free``: goodbye packets for every record announced (TTL 0), then leave the groups and close."""
        if not self.running:
            return
        self._goodbye(self._owners)
        self.running = False
        for search in self.searches:
            search.finish()
        self.searches.clear()
        for sub in self._subscriptions:
            sub.cancel()
        self.pcb.close()
        self.stack.remove_poller(self)
        if self.stack.apps.get("mdns") is self:
            del self.stack.apps["mdns"]

    free = stop

    def state_of(self, service: MdnsService | None = None) -> str:
        """Where the host name (or a service's instance name) is: ``probing``, ``announcing`` or ``running``."""
        return self._owner_of(service).state

    def instance_of(self, service: MdnsService) -> str:
        """The instance name a service is published under (its own, the default, or the host name)."""
        return service.instance or self.instance or self.hostname

    def service_fqdn(self, service: MdnsService) -> str:
        return w.join_labels([self.instance_of(service).encode(), service.service_type.encode(),
                              service.proto.encode(), b"local"])

    # -- netifs ---------------------------------------------------------------------------------------------------------
    def _add_netif(self, netif: "Netif") -> None:
        if netif in self.netifs or netif.is_loopback:
            return
        if len(self.netifs) >= self.config.mdns_max_interfaces:
            log.warning("%s: mDNS serves %d netifs at most (CONFIG_MDNS_MAX_INTERFACES); %s left out",
                        self.stack.name, self.config.mdns_max_interfaces, netif.name)
            return
        self.netifs.append(netif)
        self.pcb.join_group(w.MDNS_GROUP4, netif)
        if self.pcb.is_ip6:
            self.pcb.join_group(w.MDNS_GROUP6, netif)

    def _netif_event(self, event: Any) -> None:
        netif = event.netif
        if isinstance(event, NetifAdded):
            if self._all_netifs:
                self._add_netif(netif)
            return
        if netif not in self.netifs:
            return
        if isinstance(event, Ip4AddressChanged) and event.new is None:
            return
        if isinstance(event, Ip6AddressAdded) and event.state not in (PREFERRED, DEPRECATED):
            return
        if isinstance(event, Ip6AddressStateChanged) and (event.new_state not in (PREFERRED, DEPRECATED)
                                                          or event.old_state in (PREFERRED, DEPRECATED)):
            return
        # ESP-IDF enables (probes) its pcb again whenever an interface gets an address
        for o in self._owners:
            self._restart(o)

    def _destinations(self, netif: "Netif") -> list[Any]:
        if not netif.is_usable or netif not in self.stack.netifs:
            return []
        out: list[Any] = []
        if netif.ip4 is not None and netif.ip4.ip != IPv4Address(0):
            out.append(w.MDNS_GROUP4)
        if self.pcb.is_ip6 and any(a.usable and a.address.is_link_local for a in netif.ip6_addrs):
            out.append(w.MDNS_GROUP6)
        return out

    # -- records ----------------------------------------------------------------------------------------------------------
    def _records(self, owner: _Owner, netif: "Netif | None", ttl_scale: bool = True) -> list[tuple[w.Record, bool]]:
        """(record, unique) of an owner on a netif (None: on every netif)."""
        flush = w.CLASS_IN | w.CACHE_FLUSH
        out: list[tuple[w.Record, bool]] = []
        if owner.service is None:
            host = self.host_fqdn
            for n in ([netif] if netif is not None else self.netifs):
                if n.ip4 is not None and n.ip4.ip != IPv4Address(0):
                    out.append((w.Record(host, w.A, flush, HOST_TTL, n.ip4.ip), True))
                    if self.config.mdns_respond_reverse_queries:
                        out.append((w.Record(n.ip4.ip.reverse_pointer, w.PTR, flush, HOST_TTL, host), True))
                for a in n.ip6_addrs:
                    if a.usable:
                        out.append((w.Record(host, w.AAAA, flush, HOST_TTL, a.address), True))
                        if self.config.mdns_respond_reverse_queries:
                            out.append((w.Record(a.address.reverse_pointer, w.PTR, flush, HOST_TTL, host), True))
            return out
        s = owner.service
        name = self.service_fqdn(s)
        stype = w.join_labels([s.service_type.encode(), s.proto.encode(), b"local"])
        out.append((w.Record(name, w.SRV, flush, HOST_TTL, w.Srv(0, 0, s.port, self.host_fqdn)), True))
        out.append((w.Record(name, w.TXT, flush, SERVICE_TTL, _txt(s.txt)), True))
        out.append((w.Record(stype, w.PTR, w.CLASS_IN, SERVICE_TTL, name), False))
        out.append((w.Record(_SERVICES, w.PTR, w.CLASS_IN, SERVICE_TTL, stype), False))
        return out

    def _owner_name(self, owner: _Owner) -> str:
        return self.host_fqdn if owner.service is None else self.service_fqdn(owner.service)

    def _answering(self, netif: "Netif") -> list[tuple[w.Record, bool]]:
        out: list[tuple[w.Record, bool]] = []
        seen: set[Any] = set()
        for o in self._owners:
            if o.state == _PROBING:
                continue  # RFC 6762 8.1: not until the name is ours
            for r, unique in self._records(o, netif):
                if _key(r) not in seen:  # one _services PTR per service type
                    seen.add(_key(r))
                    out.append((r, unique))
        return out

    # -- the state machine -----------------------------------------------------------------------------------------------
    def _restart(self, owner: _Owner, delay: float | None = None) -> None:
        now = self.stack.now
        if delay is None:
            self._conflict_times = [t for t in self._conflict_times if now - t < CONFLICT_WINDOW]
            delay = CONFLICT_WAIT if len(self._conflict_times) >= CONFLICT_LIMIT else \
                self.stack.rng.uniform(0, PROBE_WAIT)
        owner.state, owner.count, owner.next_at = _PROBING, 0, now + delay

    def _reannounce(self, owner: _Owner) -> None:
        if owner.state != _PROBING:
            owner.state, owner.count, owner.next_at = _ANNOUNCING, 0, self.stack.now

    def _host_changed(self) -> None:
        for o in self._owners:
            if o.service is None or (o.service.instance is None and self.instance is None):
                self._restart(o)  # the host name, or an instance named after it: a new name to probe
            else:
                self._reannounce(o)  # the SRV's target changed

    def poll_at(self) -> float | None:
        times = [o.next_at for o in self._owners if o.next_at is not None]
        times += [p[0] for p in self._pending]
        times += [h[0] for h in self._held.values()]
        times += [t for s in self.searches if (t := s.poll_at()) is not None]
        return min(times) if times else None

    def poll(self, now: float) -> None:
        if self.searches:
            self._run_searches(now)
        for key, (due, msg, dgram, netif) in list(self._held.items()):
            if due <= now:
                del self._held[key]
                if netif in self.netifs:
                    self._answer(msg, dgram, netif)
        if self._pending:
            due = [p for p in self._pending if p[0] <= now]
            self._pending = [p for p in self._pending if p[0] > now]
            for _, netif, dst, port, msg in due:
                self._send(msg, netif, dst, port)
        for o in list(self._owners):
            if o.next_at is None or o.next_at > now:
                continue
            if o.state == _PROBING:
                if o.count < PROBE_COUNT:
                    self._send_probe(o)
                    o.count += 1
                    o.next_at = now + PROBE_WAIT
                else:
                    o.state, o.count = _ANNOUNCING, 0
            if o.state == _ANNOUNCING:
                if o.count < ANNOUNCE_COUNT:
                    self._announce(o)
                    o.count += 1
                    o.next_at = now + (2 ** (o.count - 1))  # 1 s, then 2 s (RFC 6762 8.3: doubling)
                    if o.count == ANNOUNCE_COUNT:
                        o.state, o.next_at = _RUNNING, None
            elif o.state == _RUNNING:
                o.next_at = None

    def _send_probe(self, owner: _Owner) -> None:
        name = self._owner_name(owner)
        qclass = w.CLASS_IN | (w.UNICAST_RESPONSE if owner.count == 0 else 0)
        for netif in self.netifs:
            dests = self._destinations(netif)
            if not dests:
                continue
            auth = [r for r, unique in self._records(owner, netif) if unique and w.names_equal(r.name, name)]
            msg = w.DnsMessage(0, 0, [w.Question(name, w.ANY, qclass)], [], auth)
            for dst in dests:
                self._send(msg, netif, dst, w.MDNS_PORT)

    def _announce(self, owner: _Owner) -> None:
        for netif in self.netifs:
            records = [r for r, _ in self._records(owner, netif)]
            msg = w.DnsMessage(0, w.QR | w.AA, [], records)
            for dst in self._destinations(netif):
                self._send(msg, netif, dst, w.MDNS_PORT)
                self._note_multicast(netif, dst, records)

    def _goodbye(self, owners: Iterable[_Owner]) -> None:
        """RFC 6762 10.1: the records announced, again with TTL 0."""
        for netif in self.netifs:
            records = [w.Record(r.name, r.rtype, r.rclass, 0, r.data) for o in owners if o.state != _PROBING
                       for r, _ in self._records(o, netif)]
            if not records:
                continue
            msg = w.DnsMessage(0, w.QR | w.AA, [], records)
            for dst in self._destinations(netif):
                self._send(msg, netif, dst, w.MDNS_PORT)

    def _conflict(self, owner: _Owner) -> None:
        """Our name is taken: rename (``_mdns_mangle_name``) and probe the new name."""
        self.counters["conflicts"] += 1
        self._conflict_times.append(self.stack.now)
        if owner.service is None:
            old = self.hostname
            self.hostname = mangle_name(old)
            self._host_changed()
        else:
            old = self.instance_of(owner.service)
            owner.service.instance = mangle_name(old)
            self._restart(owner)
        new = self.hostname if owner.service is None else owner.service.instance
        log.info("%s: mDNS name conflict: %s renamed %s", self.stack.name, old, new)
        if self.on_renamed is not None and new is not None:
            self.on_renamed(old, new)

    # -- input ------------------------------------------------------------------------------------------------------------
    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        self.counters["received"] += 1
        try:
            msg = w.DnsMessage.parse(dgram.data)
        except (Malformed, ValueError, UnicodeError):
            self.counters["malformed"] += 1
            return
        netif = self.stack.netif_by_index(dgram.netif_index)
        src = dgram.src
        own = self.stack.is_own_address(src) if src.version == 4 else self.stack.is_own_address6(src.packed)
        # our own packets coming back (a reflector) are dropped; the stack's own resolver (another port) is answered
        if (netif is None or netif not in self.netifs or msg.opcode != 0
                or (own and (msg.is_response or dgram.src_port == w.MDNS_PORT))):
            self.counters["dropped"] += 1
            return
        if msg.is_response:
            if dgram.src_port != w.MDNS_PORT:  # RFC 6762 6: responses from another port are ignored
                self.counters["dropped"] += 1
                return
            self.counters["responses"] += 1
            self._check_response(msg)
            if self._pending:
                self._suppress_duplicates(msg, netif)
            for search in list(self.searches):
                search.input(msg, netif)
                if search.complete():
                    self.searches.remove(search)
                    search.finish()
        else:
            self.counters["queries"] += 1
            key = (netif.index, src, dgram.src_port)
            held = self._held.get(key)
            if held is not None and not msg.questions:  # 7.2: more known answers for the held query
                held[1].answers.extend(msg.answers)
                return
            self._check_probes(msg)
            if msg.truncated and msg.questions:
                # 7.2: "the responder SHOULD delay its response by a random amount of time selected with uniform
                # random distribution in the range 400-500 ms", to hear the rest of the known answers
                self._held[key] = (self.stack.now + self.stack.rng.uniform(0.4, 0.5), msg, dgram, netif)
                return
            self._answer(msg, dgram, netif)

    def _ours(self, owner: _Owner) -> set[tuple[int, Any]]:
        return {(r.rtype, _key(r)[2]) for r, _ in self._records(owner, None)}

    def _check_response(self, msg: w.DnsMessage) -> None:
        for owner in list(self._owners):
            if owner not in self._owners:
                continue
            name = self._owner_name(owner)
            ours = None
            for r in (*msg.answers, *msg.additionals):
                if (r.rclass & 0x7FFF) != w.CLASS_IN or not w.names_equal(r.name, name):
                    continue
                ours = self._ours(owner) if ours is None else ours
                if (r.rtype, _key(r)[2]) in ours:
                    continue
                if r.rtype not in (w.A, w.AAAA, w.SRV, w.TXT, w.NSEC) and owner.state != _PROBING:
                    continue
                if r.ttl == 0:
                    continue  # someone's goodbye
                if owner.state == _PROBING:
                    self._conflict(owner)
                else:
                    self._restart(owner)  # RFC 6762 9: probe again; the probes find the conflict
                break

    def _check_probes(self, msg: w.DnsMessage) -> None:
        """RFC 6762 8.2: a probe for a name we are probing too; the lexicographically later records win."""
        if not msg.authorities:
            return
        for owner in self._owners:
            if owner.state != _PROBING or owner.count == 0:
                continue
            name = self._owner_name(owner)
            if not any(w.names_equal(q.name, name) for q in msg.questions):
                continue
            theirs = sorted((r.rclass & 0x7FFF, r.rtype, w.rdata_bytes(r)) for r in msg.authorities
                            if w.names_equal(r.name, name))
            if not theirs:
                continue
            mine = sorted((r.rclass & 0x7FFF, r.rtype, w.rdata_bytes(r)) for r, unique in self._records(owner, None)
                          if unique and w.names_equal(r.name, name))
            if mine < theirs:
                self._restart(owner, TIEBREAK_DEFER)

    def _answer(self, msg: w.DnsMessage, dgram: "Datagram", netif: "Netif") -> None:
        legacy = dgram.src_port != w.MDNS_PORT
        records = self._answering(netif)
        if not records:
            return
        known = {_key(r): r.ttl for r in msg.answers}
        probe = bool(msg.authorities)
        unicast: list[w.Record] = []
        multicast: list[w.Record] = []
        shared = False
        names: dict[str, tuple[str, set[int]]] = {}  # unique owner name -> (name, its types), for NSEC
        for r, unique in records:
            if unique:
                names.setdefault(r.name.lower(), (r.name, set()))[1].add(r.rtype)
        for q in msg.questions:
            qclass = q.qclass & 0x7FFF
            if qclass not in (w.CLASS_IN, w.ANY):
                continue
            hits = [(r, unique) for r, unique in records if w.names_equal(r.name, q.name)
                    and (q.qtype in (r.rtype, w.ANY))]
            if not hits:
                found = names.get(q.name.lower().rstrip("."))
                if found is None or q.qtype == w.ANY:
                    continue  # not a name of ours
                hits = [(self._nsec(*found), True)]
            target = unicast if (q.qclass & w.UNICAST_RESPONSE or legacy) else multicast
            for r, unique in hits:
                ttl = known.get(_key(r))
                if ttl is not None and ttl >= r.ttl / 2:
                    self.counters["suppressed"] += 1  # RFC 6762 7.1
                    continue
                if r not in target:
                    target.append(r)
                    shared |= not unique and target is multicast
        if legacy:
            if unicast:
                self._reply_legacy(msg, dgram, netif, unicast)
            return
        if unicast:
            self._queue(self._response(unicast, records), netif, dgram.src, w.MDNS_PORT, 0.0)
        if multicast:
            fam = w.MDNS_GROUP4 if dgram.src.version == 4 else w.MDNS_GROUP6
            gap = 0.25 if probe else 1.0
            now = self.stack.now
            fresh = [r for r in multicast
                     if now - self._last_multicast.get((netif.index, fam.version, _key(r)), -1e9) >= gap]
            if fresh:
                delay = self.stack.rng.uniform(0.02, 0.12) if shared else 0.0
                self._note_multicast(netif, fam, fresh)
                self._queue(self._response(fresh, records), netif, fam, w.MDNS_PORT, delay)

    def _suppress_duplicates(self, msg: w.DnsMessage, netif: "Netif") -> None:
        """RFC 6762 7.4: another responder multicast an answer we were about to give (at least half our TTL): ours
        is left out of the delayed response."""
        heard = {_key(r): r.ttl for r in msg.answers}
        keep = []
        for due, n, dst, port, pending in self._pending:
            if n is netif and dst.is_multicast:
                left = [r for r in pending.answers if heard.get(_key(r), -1) < r.ttl / 2]
                self.counters["suppressed"] += len(pending.answers) - len(left)
                if not left:
                    continue
                pending.answers = left
            keep.append((due, n, dst, port, pending))
        self._pending = keep

    def _nsec(self, name: str, types: set[int]) -> w.Record:
        return w.Record(name, w.NSEC, w.CLASS_IN | w.CACHE_FLUSH, HOST_TTL, w.Nsec(name, tuple(sorted(types))))

    def _response(self, answers: list[w.Record], records: list[tuple[w.Record, bool]]) -> w.DnsMessage:
        """A response with RFC 6763 12's additional records."""
        extra: list[w.Record] = []
        have = {_key(r) for r in answers}

        def add(r: w.Record) -> None:
            if _key(r) not in have:
                have.add(_key(r))
                extra.append(r)

        for a in answers:
            if a.rtype == w.PTR and isinstance(a.data, str):
                for r, _ in records:
                    if w.names_equal(r.name, a.data) and r.rtype in (w.SRV, w.TXT):
                        add(r)
        for a in (*answers, *extra):
            if a.rtype == w.SRV:
                for r, _ in records:
                    if w.names_equal(r.name, a.data.target) and r.rtype in (w.A, w.AAAA):
                        add(r)
        return w.DnsMessage(0, w.QR | w.AA, [], list(answers), [], extra)

    def _reply_legacy(self, msg: w.DnsMessage, dgram: "Datagram", netif: "Netif", answers: list[w.Record]) -> None:
        """RFC 6762 6.7: the id and question echoed, TTLs at most 10 s, no cache-flush bit."""
        def legacy(r: w.Record) -> w.Record:
            return w.Record(r.name, r.rtype, r.rclass & 0x7FFF, min(r.ttl, LEGACY_TTL), r.data)

        full = self._response(answers, self._answering(netif))
        reply = w.DnsMessage(msg.id, w.QR | w.AA, list(msg.questions), [legacy(r) for r in full.answers], [],
                             [legacy(r) for r in full.additionals])
        self._send(reply, netif, dgram.src, dgram.src_port)

    def _note_multicast(self, netif: "Netif", dst: Any, records: list[w.Record]) -> None:
        now = self.stack.now
        if len(self._last_multicast) > 1024:  # only the last second matters
            self._last_multicast = {k: t for k, t in self._last_multicast.items() if now - t < 1.0}
        for r in records:
            self._last_multicast[(netif.index, dst.version, _key(r))] = self.stack.now

    def _queue(self, msg: w.DnsMessage, netif: "Netif", dst: Any, port: int, delay: float) -> None:
        if delay <= 0:
            self._send(msg, netif, dst, port)
        else:
            self._pending.append((self.stack.now + delay, netif, dst, port, msg))

    def _send(self, msg: w.DnsMessage, netif: "Netif", dst: Any, port: int) -> None:
        if self.pcb.closed:
            return
        try:
            self.pcb.sendto_netif(msg.emit(), dst, port, netif)
            self.counters["sent"] += 1
        except LwipError as e:
            log.debug("%s: mDNS packet to %s on %s not sent: %s", self.stack.name, dst, netif.name, e)

    # -- helpers ----------------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_label(name: str) -> None:
        if not name or len(name.encode()) > 63:
            raise LwipError(errno.EINVAL, f"an mDNS name is 1 to 63 bytes: {name!r}")

    def _find(self, service_type: str, proto: str, instance: str | None,
              missing_ok: bool = False) -> Any:
        for s in self.services:
            if s.service_type == service_type and s.proto == proto and (instance is None or s.instance == instance):
                return s
        if missing_ok:
            return None
        raise LwipError(errno.ENOENT, f"no service {service_type}.{proto}")

    def _owner_of(self, service: MdnsService | None) -> _Owner:
        return next(o for o in self._owners if o.service is service)
