"""ESP-IDF's mDNS querier (``mdns_query_ptr``, ``_srv``, ``_txt``, ``_a``, ``_aaaa``; the async ``mdns_query_async_*``
in sans-I/O shape): a search multicasts a question from port 5353 (RFC 6762 5.2, continuous querying: again after
1 s, 2 s, 4 s..., each time with the answers it already holds as known answers, 7.1) and gathers what the responses
carry, in their answer and additional sections, into :class:`MdnsResult` entries (the ``mdns_result_t`` fields) until
``timeout`` or ``max_results``.  :class:`~lwipy.apps.mdns.MdnsResponder` runs the searches on its pcb (:class:`QueryMixin`)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

from ...errors import LwipError
from ...wire import dns as w

if TYPE_CHECKING:
    from ...core.netif import Netif
    from ...core.stack import Stack

__all__ = ["MdnsResult", "MdnsSearch", "QueryMixin"]


@dataclass
class MdnsResult:
    """One answer (ESP-IDF's ``mdns_result_t``): what is known of an instance or a host."""

    instance_name: str | None = None
    service_type: str | None = None
    proto: str | None = None
    hostname: str | None = None
    port: int = 0
    txt: dict[str, bytes | None] = field(default_factory=dict)
    addr: list[IPv4Address | IPv6Address] = field(default_factory=list)
    netif: "Netif | None" = None
    ttl: int = 0
    #: the instance's full name and its SRV target, as on the wire
    fqdn: str | None = field(default=None, repr=False)
    target: str | None = field(default=None, repr=False)


def _first_label(name: str) -> str:
    """The first label of a name in text form, unescaped (``My\\032Dev\\.ice._http...`` -> ``My Dev.ice``)."""
    out = bytearray()
    i = 0
    while i < len(name) and name[i] != ".":
        digits = name[i + 1:i + 4]
        if name[i] == "\\" and len(digits) == 3 and digits.isdigit() and int(digits) < 256:
            out.append(int(name[i + 1:i + 4]))
            i += 4
        elif name[i] == "\\" and i + 1 < len(name):
            out += name[i + 1].encode("utf-8")
            i += 2
        else:
            out += name[i].encode("utf-8")
            i += 1
    return out.decode("utf-8", errors="replace")


def _txt_dict(strings: tuple[bytes, ...]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for s in strings:
        if not s:
            continue
        key, eq, value = s.partition(b"=")
        out.setdefault(key.decode(errors="replace"), value if eq else None)
    return out


class MdnsSearch:
    """A search in progress; ``results`` fill as responses come, ``finished`` once it ends, when ``on_done(results)``
    is called.  Made by the responder's ``query*`` methods."""

    def __init__(self, name: str, qtype: int, timeout: float, max_results: int, now: float,
                 on_done: Callable[[list[MdnsResult]], Any] | None, service_type: str | None = None,
                 proto: str | None = None) -> None:
        self.name = name
        self.qtype = qtype
        self.service_type = service_type
        self.proto = proto
        self.max_results = max_results
        self.deadline = now + timeout
        self.next_send = now
        self.interval = 1.0
        self.on_done = on_done
        self.results: list[MdnsResult] = []
        self.finished = False
        self._known: list[w.Record] = []

    def question(self) -> w.DnsMessage:
        """The query to send now, with the PTRs already known (RFC 6762 7.1)."""
        return w.DnsMessage(0, 0, [w.Question(self.name, self.qtype, w.CLASS_IN)], list(self._known))

    def sent(self, now: float) -> None:
        self.next_send = now + self.interval
        self.interval *= 2

    def poll_at(self) -> float | None:
        return None if self.finished else min(self.deadline, self.next_send)

    def input(self, msg: w.DnsMessage, netif: "Netif") -> None:
        """Take what a response says about the names searched for."""
        records = [r for r in (*msg.answers, *msg.additionals) if (r.rclass & 0x7FFF) == w.CLASS_IN and r.ttl > 0]
        if self.qtype == w.PTR:
            for r in records:
                if r.rtype == w.PTR and w.names_equal(r.name, self.name) and isinstance(r.data, str):
                    self._instance(r.data, netif, r.ttl)
                    if not any(_key_eq(r, k) for k in self._known):
                        self._known.append(r)
        elif self.qtype in (w.SRV, w.TXT):
            if any(r.rtype == self.qtype and w.names_equal(r.name, self.name) for r in records):
                self._instance(self.name, netif, 0)
        elif self.qtype in (w.A, w.AAAA):
            addrs = [r.data for r in records if r.rtype == self.qtype and w.names_equal(r.name, self.name)]
            if addrs:
                res = self._result(lambda x: True, MdnsResult(hostname=_first_label(self.name), netif=netif))
                res.addr += [a for a in addrs if a not in res.addr]
        for res in self.results:
            self._fill(res, records)

    def _instance(self, fqdn: str, netif: "Netif", ttl: int) -> None:
        self._result(lambda x: x.fqdn is not None and w.names_equal(x.fqdn, fqdn),
                     MdnsResult(_first_label(fqdn), self.service_type, self.proto, netif=netif, ttl=ttl, fqdn=fqdn))

    def _result(self, match: Callable[[MdnsResult], bool], new: MdnsResult) -> MdnsResult:
        for res in self.results:
            if match(res):
                return res
        if len(self.results) < self.max_results:
            self.results.append(new)
        return new

    def _fill(self, res: MdnsResult, records: list[w.Record]) -> None:
        if res.fqdn is not None:
            for r in records:
                if not w.names_equal(r.name, res.fqdn):
                    continue
                if r.rtype == w.SRV:
                    res.port = r.data.port
                    res.hostname = _first_label(r.data.target)
                    res.target = r.data.target
                elif r.rtype == w.TXT:
                    res.txt = _txt_dict(r.data)
        host = res.target
        if host is not None:
            for r in records:
                if r.rtype in (w.A, w.AAAA) and w.names_equal(r.name, host) and r.data not in res.addr:
                    res.addr.append(r.data)

    def complete(self) -> bool:
        """Whether enough is known to stop early: ``max_results`` found, each with what was asked."""
        if len(self.results) < self.max_results:
            return False
        if self.qtype == w.PTR:
            return all(r.hostname is not None and r.addr for r in self.results)
        return True

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.on_done is not None:
            self.on_done(self.results)


def _key_eq(a: w.Record, b: w.Record) -> bool:
    return a.rtype == b.rtype and w.names_equal(a.name, b.name) and a.data == b.data


class QueryMixin:
    """The querier of :class:`~lwipy.apps.mdns.MdnsResponder` (ESP-IDF's ``mdns_query_*``)."""

    stack: "Stack"
    running: bool
    searches: list[MdnsSearch]
    netifs: list["Netif"]

    if TYPE_CHECKING:  # provided by the other parts of MdnsResponder
        def _destinations(self, netif: "Netif") -> list[Any]:
            ...

        def _send(self, msg: w.DnsMessage, netif: "Netif", dst: Any, port: int) -> None:
            ...

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
                  on_done: Callable[[list[MdnsResult]], Any] | None = None, *,
                  subtype: str | None = None) -> MdnsSearch:
        """``mdns_query_ptr``: browse ``_http._tcp``; each result with its instance, host, port, TXT and addresses.
        With ``subtype`` (``"_printer"``) it browses ``_printer._sub._http._tcp`` (RFC 6763 7.1)."""
        sub = [subtype.encode(), b"_sub"] if subtype else []
        name = w.join_labels([*sub, service_type.encode(), proto.encode(), b"local"])
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

