"""The records an mDNS responder owns: names, TTLs, services (:class:`MdnsService`), and what each unique name
(an *owner*: the host name or a service instance) publishes on a netif (RFC 6762, RFC 6763)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Mapping

from ...errors import LwipError
from ...wire import dns as w

if TYPE_CHECKING:
    from ...config import Config
    from ...core.netif import Netif
    from ...core.stack import Stack

__all__ = ["MdnsService", "HOST_TTL", "SERVICE_TTL", "mangle_name", "subtype_name"]



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
    """The TXT strings of ``items``; an item that cannot be sent is an EINVAL here, at the API call, never later when
    the record is built for a packet (RFC 6763 6.1: each string at most 255 bytes; 6.4: a key is not empty and holds
    no '=')."""
    out = []
    for k, v in (items or {}).items():
        try:
            key = k.encode()
            item = key if v is None else key + b"=" + (v if isinstance(v, bytes) else v.encode())
        except (AttributeError, UnicodeEncodeError) as e:
            raise LwipError(errno.EINVAL, f"TXT item {k!r}: key and value are str or bytes ({e})") from None
        if not key or b"=" in key:
            raise LwipError(errno.EINVAL, f"TXT key {k!r}: a key is not empty and holds no '=' (RFC 6763 6.4)")
        if len(item) > 255:
            raise LwipError(errno.EINVAL, f"TXT item {k!r} is {len(item)} bytes: at most 255 (RFC 6763 6.1)")
        out.append(item)
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
    #: subtypes (``mdns_service_subtype_add_for_host``) such as ``"_printer"``: each adds a shared PTR
    #: ``_printer._sub._http._tcp.local`` -> the instance (RFC 6763 7.1)
    subtypes: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Owner:
    """A unique name and where it is in probing and announcing."""

    service: MdnsService | None  # None: the host name
    state: str = _PROBING
    count: int = 0
    next_at: float | None = None


def subtype_name(service: MdnsService, subtype: str) -> str:
    """``_printer._sub._http._tcp.local``: the name browsed for a subtype (RFC 6763 7.1)."""
    return w.join_labels([subtype.encode(), b"_sub", service.service_type.encode(), service.proto.encode(), b"local"])


def _key(r: w.Record) -> tuple[str, int, Any]:
    return (r.name.lower(), r.rtype, r.data.lower() if isinstance(r.data, str) else r.data)



class RecordsMixin:
    """The responder's names and records (a part of :class:`~lwipy.apps.mdns.MdnsResponder`)."""

    stack: "Stack"
    config: "Config"
    hostname: str
    instance: str | None
    services: list[MdnsService]
    netifs: list["Netif"]
    _owners: list[_Owner]

    @property
    def host_fqdn(self) -> str:
        """``NAME.local``."""
        return w.join_labels([self.hostname.encode(), b"local"])

    def instance_of(self, service: MdnsService) -> str:
        """The instance name a service is published under (its own, the default, or the host name)."""
        return service.instance or self.instance or self.hostname

    def service_fqdn(self, service: MdnsService) -> str:
        return w.join_labels([self.instance_of(service).encode(), service.service_type.encode(),
                              service.proto.encode(), b"local"])

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
        for sub in s.subtypes:  # RFC 6763 7.1: not listed under _services._dns-sd._udp
            out.append((w.Record(subtype_name(s, sub), w.PTR, w.CLASS_IN, SERVICE_TTL, name), False))
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

    def _nsec(self, name: str, types: set[int]) -> w.Record:
        return w.Record(name, w.NSEC, w.CLASS_IN | w.CACHE_FLUSH, HOST_TTL, w.Nsec(name, tuple(sorted(types))))

    # -- helpers ----------------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_port(port: int) -> None:
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise LwipError(errno.EINVAL, f"port {port!r} out of range 0..65535")

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

