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
lives in :mod:`.query`; the records in :mod:`.records`, probing and announcing in :mod:`.probe`, answers in
:mod:`.answer`.

Service subtypes (``service_subtype_add``) add shared PTRs ``_printer._sub._http._tcp.local`` -> instance (RFC 6763
7.1).  A message larger than the MTU goes as several packets (:mod:`.packets`: responses split, queries' known
answers continued with TC, legacy replies truncated with TC), never as IP fragments.

Not done: delegated hosts, per-netif probing (all netifs probe together, as one).
"""

from __future__ import annotations

import errno
import logging
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ...core.addr6 import DEPRECATED, PREFERRED
from ...core.events import Ip4AddressChanged, Ip6AddressAdded, Ip6AddressStateChanged, LinkUp, NetifAdded, NetifUp
from ...errors import LwipError, Malformed
from ...wire import dns as w
from .answer import AnswerMixin
from .probe import ProbeMixin
from .query import MdnsSearch, QueryMixin
from .records import _PROBING, MdnsService, _Owner, _txt, subtype_name

if TYPE_CHECKING:
    from ...core.netif import Netif
    from ...core.stack import Stack
    from ...core.udp import Datagram, UdpPcb

__all__ = ["MdnsResponder"]

log = logging.getLogger("lwipy.mdns")


class MdnsResponder(ProbeMixin, AnswerMixin, QueryMixin):
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
        self._check_label(service_type)
        self._check_port(port)
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
        self._check_port(port)
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

    def service_subtype_add(self, service_type: str, proto: str, subtype: str, instance: str | None = None) -> None:
        """``mdns_service_subtype_add_for_host``: browsing ``_printer._sub._http._tcp`` finds the service too (RFC 6763
        7.1); the new PTR is announced."""
        if not subtype.startswith("_"):
            raise LwipError(errno.EINVAL, f"a subtype starts with an underscore: {subtype!r}")
        self._check_label(subtype)
        service = self._find(service_type, proto, instance)
        if subtype in service.subtypes:
            raise LwipError(errno.EEXIST, f"{subtype} is a subtype of {service_type}.{proto} already")
        service.subtypes.append(subtype)
        self._reannounce(self._owner_of(service))

    def service_subtype_remove(self, service_type: str, proto: str, subtype: str, instance: str | None = None) -> None:
        """``mdns_service_subtype_remove_for_host``: goodbye for the subtype's PTR."""
        service = self._find(service_type, proto, instance)
        if subtype not in service.subtypes:
            raise LwipError(errno.ENOENT, f"{subtype} is no subtype of {service_type}.{proto}")
        owner = self._owner_of(service)
        if owner.state != _PROBING:
            gone = subtype_name(service, subtype)
            self._goodbye([owner], only=lambda r: r.rtype == w.PTR and w.names_equal(r.name, gone))
        service.subtypes.remove(subtype)

    def service_instance_name_set(self, service_type: str, proto: str, instance: str,
                                  old_instance: str | None = None) -> None:
        """``mdns_service_instance_name_set``: a new instance name, probed again."""
        self._check_label(instance)
        service = self._find(service_type, proto, old_instance)
        owner = self._owner_of(service)
        self._goodbye([owner])
        service.instance = instance
        self._restart(owner)

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
        self._run_owners(now)

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

