"""ESP-IDF's ``mdns.h`` API, thread-safe and blocking, over the mDNS responder of a stack run by a :class:`StackLoop`.

:class:`EspMdns` is the ``mdns_*`` family for one stack (ESP-IDF keeps one responder per device in a global; lwipy
keeps no module-level state, so the object stands for it).  Its methods are ESP-IDF's functions without the
``mdns_`` prefix (``EspMdns.hostname_set`` is ``mdns_hostname_set``).  Each runs on the core thread through
:meth:`StackLoop.call` (ESP-IDF posts an action to its mDNS task the same way), so any thread may call it; the
``query_*`` methods block the calling thread until the search ends (its timeout, or enough results) while the core
keeps running.  Called on the core thread itself, a query would wait for itself and raises instead.

Errors raise ESP-IDF's codes (:mod:`lwipy.esp_netif.errors`) where the component returns them:

- ``ESP_ERR_INVALID_STATE``: not initialised (``mdns_init``), a hostname query before the hostname is set, the
  loop not running, or a blocking query on the core thread;
- ``ESP_ERR_INVALID_ARG``: a bad name (empty or above 63 bytes), protocol, port 0, timeout 0, a service that exists
  already (ESP-IDF: "Service already exists"), a name given with ``.local`` to ``query_a``/``query_aaaa``; the
  service functions before a hostname is set (ESP-IDF publishes services under the hostname);
- ``ESP_ERR_NO_MEM``: ``CONFIG_MDNS_MAX_SERVICES`` services published already;
- ``ESP_ERR_NOT_FOUND``: no such service or subtype, ``query_a``/``query_aaaa`` without an answer.

Not done: delegated hosts (``mdns_delegate_hostname_add``; ``*_for_host`` accept only our own hostname or None),
and the responder needs a hostname before it can query (ESP-IDF can query with none set).
"""

from __future__ import annotations

import errno
import threading
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ..apps.mdns import MdnsResponder, MdnsResult, MdnsSearch
from ..errors import LwipError
from ..esp_netif import errors as E
from ..wire import dns as w

if TYPE_CHECKING:
    from ..core.netif import Netif
    from .loop import StackLoop

__all__ = ["EspMdns", "MdnsResult"]

T = TypeVar("T")
Txt = Mapping[str, "str | bytes | None"] | Sequence[tuple[str, "str | bytes | None"]]

_ERRNO_TO_ESP = {errno.EINVAL: E.ESP_ERR_INVALID_ARG, errno.EEXIST: E.ESP_ERR_INVALID_ARG,
                 errno.ENOMEM: E.ESP_ERR_NO_MEM, errno.ENOENT: E.ESP_ERR_NOT_FOUND,
                 errno.ESHUTDOWN: E.ESP_ERR_INVALID_STATE}


def _esp_error(e: LwipError) -> E.EspError:
    return _ERRNO_TO_ESP.get(e.errno, E.ESP_FAIL)(str(e))


def _txt_items(txt: Txt | None) -> dict[str, str | bytes | None]:
    """``mdns_txt_item_t[]`` as a dict or (key, value) pairs."""
    if txt is None:
        return {}
    items = txt.items() if isinstance(txt, Mapping) else txt
    out: dict[str, str | bytes | None] = {}
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise E.ESP_ERR_INVALID_ARG(f"a TXT key is a non-empty string: {key!r}")
        out[key] = value
    return out


class _Waiter:
    """A blocking query: woken by the search's end, or by the loop's."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.results: list[MdnsResult] | None = None

    def found(self, results: list[MdnsResult]) -> None:
        # on the core thread: copies, so that the caller reads objects the core no longer touches
        self.results = [replace(r, txt=dict(r.txt), addr=list(r.addr)) for r in results]
        self.done.set()

    def loop_stopped(self) -> None:
        self.done.set()


class EspMdns:
    """ESP-IDF's mDNS component for the stack of ``loop``.

    :param loop: the :class:`~lwipy.api.loop.StackLoop` running the stack.
    :param netifs: the netifs to serve (None: every netif but loopback, as ESP-IDF's predefined interfaces).
    """

    def __init__(self, loop: "StackLoop", netifs: Iterable["Netif"] | None = None) -> None:
        self.loop = loop
        self.stack = loop.stack
        self._netifs = list(netifs) if netifs is not None else None
        # state below is read and written on the core thread only
        self._initialised = False
        self._instance: str | None = None
        self.responder: MdnsResponder | None = None

    # -- the core thread ---------------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the core thread; LwipErrors become ESP-IDF's codes."""
        def api() -> T:
            try:
                return fn()
            except LwipError as e:
                raise _esp_error(e) from e

        try:
            return self.loop.call(api)
        except LwipError as e:  # the loop is not running
            raise E.ESP_ERR_INVALID_STATE(str(e)) from e

    def _ready(self, missing: type[E.EspError] = E.ESP_ERR_INVALID_STATE) -> MdnsResponder:
        if not self._initialised:
            raise missing("mdns_init first")
        if self.responder is None:
            raise missing("mdns_hostname_set first")
        return self.responder

    def _service(self, hostname: str | None) -> MdnsResponder:
        r = self._ready(E.ESP_ERR_INVALID_ARG)
        if hostname is not None and hostname != r.hostname:
            raise E.ESP_ERR_NOT_FOUND(f"{hostname} is not our hostname (delegated hosts are not supported)")
        return r

    @staticmethod
    def _name(name: Any, what: str) -> str:
        if not isinstance(name, str) or not name or len(name.encode()) > 63:
            raise E.ESP_ERR_INVALID_ARG(f"{what} is 1 to 63 bytes: {name!r}")
        return name

    @staticmethod
    def _type(service_type: Any, proto: Any) -> None:
        if not isinstance(service_type, str) or not service_type or not isinstance(proto, str) or not proto:
            raise E.ESP_ERR_INVALID_ARG("service type and protocol are required")

    # -- init, names ---------------------------------------------------------------------------------------------------
    def init(self) -> None:
        """``mdns_init``: ready for a hostname (ESP_OK if done already)."""
        def api() -> None:
            if self._initialised:
                return
            if "mdns" in self.stack.apps:
                raise E.ESP_ERR_INVALID_STATE(f"{self.stack.name} runs another mDNS responder")
            self._initialised = True

        self._call(api)

    def free(self) -> None:
        """``mdns_free``: goodbye packets for everything announced, then the responder is gone; queries in progress
        return what they found so far."""
        def api() -> None:
            if self.responder is not None:
                self.responder.stop()
            self.responder = None
            self._initialised = False
            self._instance = None

        self._call(api)

    def hostname_set(self, hostname: str) -> None:
        """``mdns_hostname_set``: the first one starts the responder (probing, announcing); later ones rename."""
        name = self._name(hostname, "a hostname")

        def api() -> None:
            if not self._initialised:
                raise E.ESP_ERR_INVALID_STATE("mdns_init first")
            if self.responder is None:
                self.responder = MdnsResponder(self.stack, name, self._instance, netifs=self._netifs)
            else:
                self.responder.hostname_set(name)

        self._call(api)

    def hostname_get(self) -> str:
        """``mdns_hostname_get``: the hostname in use (after a conflict, the renamed one)."""
        return self._call(lambda: self._ready().hostname)

    def instance_name_set(self, instance_name: str) -> None:
        """``mdns_instance_name_set``: the default instance name of services."""
        name = self._name(instance_name, "an instance name")

        def api() -> None:
            if not self._initialised:
                raise E.ESP_ERR_INVALID_STATE("mdns_init first")
            self._instance = name
            if self.responder is not None:
                self.responder.instance_name_set(name)

        self._call(api)

    # -- services ------------------------------------------------------------------------------------------------------
    def service_add(self, instance_name: str | None, service_type: str, proto: str, port: int,
                    txt: Txt | None = None) -> None:
        """``mdns_service_add``: publish ``_http._tcp`` on ``port`` with TXT items (a dict or (key, value) pairs)."""
        self._type(service_type, proto)
        if instance_name is not None:
            self._name(instance_name, "an instance name")
        if not isinstance(port, int) or not 0 < port <= 0xFFFF:
            raise E.ESP_ERR_INVALID_ARG(f"port {port!r}")
        items = _txt_items(txt)
        def api() -> None:
            self._service(None).service_add(instance_name, service_type, proto, port, items)

        self._call(api)

    def service_add_for_host(self, instance_name: str | None, service_type: str, proto: str, hostname: str | None,
                             port: int, txt: Txt | None = None) -> None:
        """``mdns_service_add_for_host``: only our own hostname (or None)."""
        def api() -> None:
            self._service(hostname)

        self._call(api)
        self.service_add(instance_name, service_type, proto, port, txt)

    def service_exists(self, service_type: str, proto: str, hostname: str | None = None) -> bool:
        """``mdns_service_exists``."""
        def api() -> bool:
            r = self.responder
            if not self._initialised or r is None or (hostname is not None and hostname != r.hostname):
                return False
            return any(s.service_type == service_type and s.proto == proto for s in r.services)

        return self._call(api)

    def service_remove(self, service_type: str, proto: str) -> None:
        """``mdns_service_remove``: goodbye for its records."""
        self._type(service_type, proto)
        self._call(lambda: self._service(None).service_remove(service_type, proto))

    def service_remove_all(self) -> None:
        """``mdns_service_remove_all``."""
        self._call(lambda: self._service(None).service_remove_all())

    def service_port_set(self, service_type: str, proto: str, port: int) -> None:
        """``mdns_service_port_set``."""
        self._type(service_type, proto)
        if not isinstance(port, int) or not 0 < port <= 0xFFFF:
            raise E.ESP_ERR_INVALID_ARG(f"port {port!r}")
        self._call(lambda: self._service(None).service_port_set(service_type, proto, port))

    def service_instance_name_set(self, service_type: str, proto: str, instance_name: str) -> None:
        """``mdns_service_instance_name_set``."""
        self._type(service_type, proto)
        name = self._name(instance_name, "an instance name")
        self._call(lambda: self._service(None).service_instance_name_set(service_type, proto, name))

    def service_txt_set(self, service_type: str, proto: str, txt: Txt | None) -> None:
        """``mdns_service_txt_set``: replace every TXT item."""
        self._type(service_type, proto)
        items = _txt_items(txt)
        self._call(lambda: self._service(None).service_txt_set(service_type, proto, items))

    def service_txt_item_set(self, service_type: str, proto: str, key: str, value: str | bytes | None) -> None:
        """``mdns_service_txt_item_set`` (``value`` None: a key without ``=``)."""
        self._type(service_type, proto)
        _txt_items([(key, value)])
        self._call(lambda: self._service(None).service_txt_item_set(service_type, proto, key, value))

    def service_txt_item_remove(self, service_type: str, proto: str, key: str) -> None:
        """``mdns_service_txt_item_remove``."""
        self._type(service_type, proto)
        _txt_items([(key, None)])

        def api() -> None:
            r = self._service(None)
            service = r._find(service_type, proto, None)
            if key not in service.txt:
                raise E.ESP_ERR_NOT_FOUND(f"no TXT item {key!r}")
            r.service_txt_item_remove(service_type, proto, key)

        self._call(api)

    def service_subtype_add_for_host(self, instance_name: str | None, service_type: str, proto: str,
                                     hostname: str | None, subtype: str) -> None:
        """``mdns_service_subtype_add_for_host``: browsing ``_printer._sub._http._tcp`` finds the service too."""
        self._type(service_type, proto)
        self._name(subtype, "a subtype")
        self._call(lambda: self._service(hostname).service_subtype_add(service_type, proto, subtype, instance_name))

    def service_subtype_remove_for_host(self, instance_name: str | None, service_type: str, proto: str,
                                        hostname: str | None, subtype: str) -> None:
        """``mdns_service_subtype_remove_for_host``: goodbye for the subtype's PTR."""
        self._type(service_type, proto)
        self._call(lambda: self._service(hostname).service_subtype_remove(service_type, proto, subtype,
                                                                         instance_name))

    # -- queries -------------------------------------------------------------------------------------------------------
    def _search(self, start: Callable[[MdnsResponder, Callable[[list[MdnsResult]], None]], MdnsSearch],
                timeout_ms: int) -> list[MdnsResult]:
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise E.ESP_ERR_INVALID_ARG(f"timeout {timeout_ms!r} ms")
        if self.loop.is_core_thread():
            raise E.ESP_ERR_INVALID_STATE("a blocking mdns_query on the core thread would wait for itself; use "
                                          "MdnsResponder.query* with on_done there")
        waiter = _Waiter()
        self.loop.add_stop_listener(waiter)
        try:
            self._call(lambda: start(self._ready(), waiter.found))
            if not self.loop.running:
                waiter.loop_stopped()
            waiter.done.wait()
        finally:
            self.loop.discard_stop_listener(waiter)
        if waiter.results is None:
            raise E.ESP_ERR_INVALID_STATE("the stack's loop stopped during the query")
        return waiter.results

    def query(self, name: str | None, service_type: str | None, proto: str | None, qtype: int, timeout_ms: int,
              max_results: int) -> list[MdnsResult]:
        """``mdns_query``: a host (``name``, with A/AAAA), an instance (``name`` with SRV/TXT and the type) or a
        service type (PTR: ``name`` None); blocks up to ``timeout_ms``."""
        if not name and not service_type:
            raise E.ESP_ERR_INVALID_ARG("a name or a service type is required")
        if not isinstance(max_results, int) or max_results <= 0:
            raise E.ESP_ERR_INVALID_ARG(f"max_results {max_results!r}")
        labels = [x.encode() for x in (name, service_type, proto) if x] + [b"local"]
        fqdn = w.join_labels(labels)
        return self._search(lambda r, done: r.query(fqdn, qtype, timeout_ms / 1000, max_results, done,
                                                    service_type=service_type, proto=proto), timeout_ms)

    def query_ptr(self, service_type: str, proto: str, timeout_ms: int, max_results: int, *,
                  subtype: str | None = None) -> list[MdnsResult]:
        """``mdns_query_ptr``: browse; each result with instance, host, port, TXT and addresses (may be empty).
        ``subtype`` (a lwipy addition) browses ``_printer._sub._http._tcp``."""
        self._type(service_type, proto)
        if subtype is not None:
            self._name(subtype, "a subtype")
        if not isinstance(max_results, int) or max_results <= 0:
            raise E.ESP_ERR_INVALID_ARG(f"max_results {max_results!r}")
        return self._search(lambda r, done: r.query_ptr(service_type, proto, timeout_ms / 1000, max_results, done,
                                                        subtype=subtype), timeout_ms)

    def query_srv(self, instance_name: str, service_type: str, proto: str, timeout_ms: int) -> list[MdnsResult]:
        """``mdns_query_srv``: at most one result (host and port)."""
        self._type(service_type, proto)
        self._name(instance_name, "an instance name")
        return self._search(lambda r, done: r.query_srv(instance_name, service_type, proto, timeout_ms / 1000,
                                                        done), timeout_ms)

    def query_txt(self, instance_name: str, service_type: str, proto: str, timeout_ms: int) -> list[MdnsResult]:
        """``mdns_query_txt``: at most one result (its TXT items)."""
        self._type(service_type, proto)
        self._name(instance_name, "an instance name")
        return self._search(lambda r, done: r.query_txt(instance_name, service_type, proto, timeout_ms / 1000,
                                                        done), timeout_ms)

    def _host(self, host_name: str) -> str:
        self._name(host_name, "a host name")
        if ".local" in host_name:
            raise E.ESP_ERR_INVALID_ARG("give the host name without the .local domain")
        return host_name

    def query_a(self, host_name: str, timeout_ms: int) -> IPv4Address:
        """``mdns_query_a``: the IPv4 address of ``host_name`` (without ``.local``); ``ESP_ERR_NOT_FOUND`` if none
        came within ``timeout_ms``."""
        host = self._host(host_name)
        results = self._search(lambda r, done: r.query_a(host, timeout_ms / 1000, done), timeout_ms)
        for res in results:
            for a in res.addr:
                if isinstance(a, IPv4Address):
                    return a
        raise E.ESP_ERR_NOT_FOUND(f"no A record for {host}.local")

    def query_aaaa(self, host_name: str, timeout_ms: int) -> IPv6Address:
        """``mdns_query_aaaa``: as :meth:`query_a`, for IPv6."""
        host = self._host(host_name)
        results = self._search(lambda r, done: r.query_aaaa(host, timeout_ms / 1000, done), timeout_ms)
        for res in results:
            for a in res.addr:
                if isinstance(a, IPv6Address):
                    return a
        raise E.ESP_ERR_NOT_FOUND(f"no AAAA record for {host}.local")
