"""The DNS resolver (lwIP's ``core/dns.c`` with ESP-IDF's additions): ``stack.dns``.

Theory of operation
-------------------
:meth:`Dns.gethostbyname` (``dns_gethostbyname_addrtype``) answers at once when it can: a numeric address,
``localhost``, the ``dns_external_resolve`` hook, the local host list (``DNS_LOCAL_HOSTLIST``) or an unexpired entry of
the table.  Otherwise it takes an entry of the table (``DNS_TABLE_SIZE`` entries, which are both the pending queries
and the cache: a free one, else the oldest answered one, else ``ERR_MEM``) or joins a query already asking for the same
name and type, sends the query, and calls ``found(answer, error)`` later, from :meth:`Dns.poll` or from the packet
that answered.

Each query gets a random 16-bit id unique among those asking, and its own UDP pcb on a random port >= 1024 (lwIP's
``LWIP_DNS_SECURE``: ``RAND_XID``, ``RAND_SRC_PORT``, ``NO_MULTIPLE_OUTSTANDING``; RFC 5452).  An answer is taken only
when it arrives on that pcb from the address and port 53 the query went to (lwIP checks the address; RFC 5452 9.1 asks
for the port too), is a response, has the query's id, exactly one question, and that question is the name, type and
class asked (case-insensitively).  Everything else is dropped and counted in :attr:`Dns.counters`.

Timing is lwIP's: ``dns_tmr`` ticks every second (``DNS_TMR_INTERVAL``), started by the first query and stopped
when none is left, as ESP-IDF's ``ESP_LWIP_DNS_TIMERS_ONDEMAND`` does (an idle resolver sets no timer).  A query is
sent at once; while unanswered it is sent again after 1, 1, 2 and 3 ticks (``tmr = retries``), and after
``DNS_MAX_RETRIES`` (4) sends the next server that is set is tried the same way (ESP-IDF skips unset ones); with none
left the query fails with :class:`DnsTimeout`.  An error RCODE makes lwIP try the next server at once; from the last
one NXDOMAIN is :class:`DnsNotFound` and any other RCODE :class:`DnsServerFailure`.  A positive answer is kept for its
TTL, at most ``DNS_MAX_TTL`` (a TTL of 0: used once, not kept).

Answers: the A or AAAA record of the name asked, following CNAME records within the answer (lwIP takes the first
address record whatever its owner; lwipy follows the chain from the question, which is what a forged extra record
cannot satisfy).  A chain that ends in a name without an address is answered from the table when that name is
cached, else asked for again by that name, up to 8 times.
With ``IPV4_IPV6`` (the default) or ``IPV6_IPV4`` an answer without an address of the first type asks for the other
(``LWIP_DNS_ADDRTYPE_*``).

Servers: ``dns_setserver(index, addr)`` / ``dns_getserver(index)`` with lwIP's indexes: ``DNS_MAIN`` (0),
``DNS_BACKUP`` (1) and ``DNS_FALLBACK`` (``CONFIG_LWIP_DNS_MAX_SERVERS - 1``), which ESP-IDF fills from
``CONFIG_LWIP_FALLBACK_DNS_SERVER_ADDRESS`` when that is set and a DHCP client never overwrites.  The list is global
(the limitation the ESP-IDF guide states: a second netif's DHCP lease replaces the first one's servers); the workaround
it describes is here: ``dns_setserver(index, addr, netif)`` records a server for a netif, and with
``dns_per_default_netif`` (``CONFIG_ESP_NETIF_SET_DNS_PER_DEFAULT_NETIF``) a netif's record is what the global list
holds whenever that netif is the default one (restored on :class:`~lwipy.core.events.DefaultNetifChanged`).  IPv6
servers learned from router advertisements (RDNSS) and stateless DHCPv6 (:meth:`Stack.dns_servers6`) take the slots
left unset, in order (lwIP's nd6 and dhcp6 write them over slots 0.., which would replace a DHCPv4 lease's MAIN).

Names ending in ``.local`` go, with ``CONFIG_LWIP_DNS_SUPPORT_MDNS_QUERIES``, as one-shot multicast DNS queries (RFC
6762 5.1) to 224.0.0.251 (A) or ff02::fb (AAAA) port 5353; the answer may come from any address, from port 5353.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError, LwipError, Malformed
from ..wire import dns as wire
from .addr import IpAddress, ip_any, unmap
from .events import DefaultNetifChanged, NetifRemoved

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack
    from .udp import Datagram, UdpPcb

__all__ = ["Dns", "DnsAnswer", "DnsError", "DnsNotFound", "DnsServerFailure", "DnsTimeout", "DnsNoAddress",
           "DnsNoServer", "LWIP_DNS_ADDRTYPE_IPV4", "LWIP_DNS_ADDRTYPE_IPV6", "LWIP_DNS_ADDRTYPE_IPV4_IPV6",
           "LWIP_DNS_ADDRTYPE_IPV6_IPV4", "LWIP_DNS_ADDRTYPE_DEFAULT", "DNS_MAIN", "DNS_BACKUP", "DNS_FALLBACK"]

log = logging.getLogger("lwipy")

#: lwIP's address types (dns.h)
LWIP_DNS_ADDRTYPE_IPV4, LWIP_DNS_ADDRTYPE_IPV6, LWIP_DNS_ADDRTYPE_IPV4_IPV6, LWIP_DNS_ADDRTYPE_IPV6_IPV4 = 0, 1, 2, 3
LWIP_DNS_ADDRTYPE_DEFAULT = LWIP_DNS_ADDRTYPE_IPV4_IPV6
#: esp_netif's ``esp_netif_dns_type_t`` (DNS_FALLBACK is lwIP's ``DNS_FALLBACK_SERVER_INDEX`` with 3 servers)
DNS_MAIN, DNS_BACKUP, DNS_FALLBACK = 0, 1, 2
DNS_TMR_INTERVAL = 1.0
MAX_CNAME_REQUERIES = 8

_UNUSED, _NEW, _ASKING, _DONE = range(4)


class DnsError(LwipError):
    """A name that did not resolve (lwIP calls ``found`` with a NULL address; ``netconn_gethostbyname`` then returns
    ``ERR_VAL``, errno EINVAL).  The subclass says why."""

    def __init__(self, name: str, detail: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, f"{name!r}: {detail}")
        self.name = name


class DnsNotFound(DnsError):
    """The server answered NXDOMAIN: the name does not exist."""


class DnsServerFailure(DnsError):
    """The server answered with an error RCODE other than NXDOMAIN (SERVFAIL, REFUSED...); ``rcode`` holds it."""

    def __init__(self, name: str, rcode: int) -> None:
        super().__init__(name, f"the DNS server answered RCODE {rcode}")
        self.rcode = rcode


class DnsTimeout(DnsError):
    """No server answered within the retries (``DNS_MAX_RETRIES`` per server)."""


class DnsNoAddress(DnsError):
    """The name exists but has no address of the type asked (NOERROR without data)."""


class DnsNoServer(DnsError):
    """No DNS server is set (``dns_gethostbyname`` returns ``ERR_VAL`` at once)."""


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """A resolved name."""

    #: the name asked
    name: str
    #: its address
    address: IpAddress
    #: the names from the one asked to the canonical one, following CNAME records (``chain[-1]`` is canonical)
    chain: tuple[str, ...] = ()
    #: where it came from: "numeric", "localhost", "hook", "hostlist", "cache", "dns", "mdns"
    source: str = "dns"

    @property
    def canonical(self) -> str:
        return self.chain[-1] if self.chain else self.name


Found = Callable[[DnsAnswer | None, DnsError | None], None]


@dataclass(slots=True, eq=False)
class DnsEntry:
    """One row of lwIP's ``dns_table``: a query in progress or a cached answer."""

    state: int = _UNUSED
    name: str = ""
    qname: str = ""
    reqaddrtype: int = LWIP_DNS_ADDRTYPE_DEFAULT
    txid: int = 0
    server_idx: int = 0
    server: IpAddress | None = None
    tmr: int = 0
    retries: int = 0
    seqno: int = 0
    is_mdns: bool = False
    pcb: "UdpPcb | None" = None
    address: IpAddress | None = None
    expires: float = 0.0
    chain: list[str] = field(default_factory=list)
    requeries: int = 0
    requests: list[tuple[Found, int]] = field(default_factory=list)


def _is_ipv6(addrtype: int) -> bool:
    return addrtype in (LWIP_DNS_ADDRTYPE_IPV6, LWIP_DNS_ADDRTYPE_IPV6_IPV4)


def _matches(addrtype: int, addr: IpAddress) -> bool:
    """``LWIP_DNS_ADDRTYPE_MATCH_IP``."""
    return _is_ipv6(addrtype) == (addr.version == 6)


class Dns:
    """The resolver of one stack (``stack.dns``); see the module's documentation."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        cfg = stack.config
        self.max_servers = cfg.dns_max_servers
        #: ``dns_servers``: the global list, by index (None: not set, lwIP's IP_ADDR_ANY)
        self.servers: list[IpAddress | None] = [None] * self.max_servers
        #: per-netif server records (netif index -> servers by index), ESP-IDF's workaround for the global list
        self.netif_servers: dict[int, list[IpAddress | None]] = {}
        self.table = [DnsEntry() for _ in range(cfg.dns_table_size)]
        self.local_hostlist: list[tuple[str, IpAddress]] = []
        self._seqno = 0
        self._next_tick: float | None = None
        #: what the resolver did: queries sent, answers taken, replies dropped as malformed or as not matching
        self.counters = {"sent": 0, "answers": 0, "malformed": 0, "ignored": 0, "failed": 0}
        if cfg.fallback_dns_server_address:
            try:
                fallback = ip_address(cfg.fallback_dns_server_address)
            except ValueError:
                raise ConfigError(f"fallback_dns_server_address (CONFIG_LWIP_FALLBACK_DNS_SERVER_ADDRESS) "
                                  f"{cfg.fallback_dns_server_address!r} is no IP address") from None
            self.setserver(self.fallback_index, fallback)

    # -- servers -----------------------------------------------------------------------------------------------------
    @property
    def fallback_index(self) -> int:
        """``DNS_FALLBACK_SERVER_INDEX``: the last slot."""
        return self.max_servers - 1

    def setserver(self, index: int, addr: IpAddress | str | None, netif: "Netif | None" = None) -> None:
        """``dns_setserver``: set (or with None clear) the server at ``index``; an index beyond
        ``CONFIG_LWIP_DNS_MAX_SERVERS`` is ignored, as in lwIP.  With ``netif`` the server is also recorded for that
        netif; with ``dns_per_default_netif`` on, the global list changes only while the netif is the default one."""
        self.stack.assert_core()
        if not 0 <= index < self.max_servers:
            return
        value = ip_any(addr)
        if value is not None and (value.is_unspecified):
            value = None
        if netif is not None:
            self.netif_servers.setdefault(netif.index, [None] * self.max_servers)[index] = value
            if self.stack.config.dns_per_default_netif and netif is not self.stack.default_netif:
                return
        self.servers[index] = value

    def getserver(self, index: int) -> IpAddress | None:
        """``dns_getserver``: the server at ``index``, or None when unset (lwIP: IP_ADDR_ANY)."""
        return self.servers[index] if 0 <= index < self.max_servers else None

    def effective_servers(self) -> list[IpAddress | None]:
        """The servers queries go to, by index: the global list, its unset slots filled with the IPv6 servers learned
        from RDNSS and DHCPv6 (:meth:`Stack.dns_servers6`) in order."""
        learned = [s for s in self.stack.dns_servers6() if s not in self.servers]
        out = list(self.servers)
        for i, s in enumerate(out):
            if s is None and learned:
                out[i] = learned.pop(0)
        return out

    def default_netif_changed(self, event: DefaultNetifChanged) -> None:
        """With ``dns_per_default_netif``: the new default netif's recorded servers become the global ones (each
        index it recorded; the others, FALLBACK among them, stay)."""
        if not self.stack.config.dns_per_default_netif or event.new is None:
            return
        record = self.netif_servers.get(event.new.index)
        if record is None:
            return
        for i, s in enumerate(record):
            if s is not None or i != self.fallback_index:
                self.servers[i] = s

    def netif_removed(self, event: NetifRemoved) -> None:
        self.netif_servers.pop(event.netif.index, None)

    # -- the local host list -----------------------------------------------------------------------------------------
    def local_addhost(self, name: str, addr: IpAddress | str) -> None:
        """``dns_local_addhost`` (``DNS_LOCAL_HOSTLIST_IS_DYNAMIC``): answer ``name`` with ``addr`` without asking."""
        self.stack.assert_core()
        if not self.stack.config.dns_local_hostlist:
            raise LwipError(errno.EOPNOTSUPP, "the local host list is off (Config(dns_local_hostlist=True), "
                                              "DNS_LOCAL_HOSTLIST)")
        self.local_hostlist.insert(0, (name, ip_any(addr)))

    def local_removehost(self, name: str | None = None, addr: IpAddress | None = None) -> int:
        """``dns_local_removehost``: remove the entries with that name and/or address; returns how many went."""
        self.stack.assert_core()
        keep = [(n, a) for n, a in self.local_hostlist
                if not ((name is None or n.lower() == name.lower()) and (addr is None or a == addr))]
        removed = len(self.local_hostlist) - len(keep)
        self.local_hostlist = keep
        return removed

    def local_lookup(self, name: str, addrtype: int = LWIP_DNS_ADDRTYPE_DEFAULT) -> IpAddress | None:
        """``dns_local_lookup``: the address the local host list gives ``name`` for that address type (the first
        of the two types only: lwIP does not fall back here)."""
        if not self.stack.config.dns_local_hostlist:
            return None
        return next((a for n, a in self.local_hostlist if n.lower() == name.lower() and _matches(addrtype, a)), None)

    # -- lookups -----------------------------------------------------------------------------------------------------
    def lookup(self, name: str, addrtype: int = LWIP_DNS_ADDRTYPE_DEFAULT) -> DnsAnswer | None:
        """``dns_lookup``: the local host list, then an unexpired table entry of that address type."""
        addr = self.local_lookup(name, addrtype)
        if addr is not None:
            return DnsAnswer(name, addr, (name,), "hostlist")
        e = self._cached(name, addrtype)
        if e is None or e.address is None:
            return None
        return DnsAnswer(name, e.address, tuple(e.chain) or (name,), "cache")

    def _cached(self, name: str, addrtype: int) -> DnsEntry | None:
        now = self.stack.now
        return next((e for e in self.table if e.state == _DONE and e.expires > now and wire.names_equal(e.name, name)
                     and e.address is not None and _matches(addrtype, e.address)), None)

    def clear_cache(self) -> None:
        """``dns_clear_cache`` (ESP-IDF): forget every answered entry."""
        self.stack.assert_core()
        for e in self.table:
            if e.state == _DONE:
                e.state = _UNUSED

    def gethostbyname(self, name: str, found: Found | None = None,
                      addrtype: int = LWIP_DNS_ADDRTYPE_DEFAULT) -> DnsAnswer | None:
        """``dns_gethostbyname_addrtype``: the answer now, or None when a query was sent and ``found(answer, error)``
        will be called (once, on the core thread).  Raises at once, as lwIP returns at once: LwipError(EINVAL) for an
        empty or over-long name (``ERR_ARG``), :class:`DnsNoServer` when no server is set (``ERR_VAL``),
        LwipError(ENOMEM) when the table is full of queries in progress (``ERR_MEM``); and whatever the
        ``dns_external_resolve`` hook raises."""
        self.stack.assert_core()
        if addrtype not in (0, 1, 2, 3):
            raise LwipError(errno.EINVAL, f"DNS address type {addrtype} is not one of LWIP_DNS_ADDRTYPE_*")
        if not name or len(name) >= self.stack.config.dns_max_name_length:
            raise LwipError(errno.EINVAL, f"host name {name!r} is empty or too long (DNS_MAX_NAME_LENGTH)")
        if name == "localhost" and self.stack.config.netif_loopback:
            return DnsAnswer(name, IPv6Address(1) if _is_ipv6(addrtype) else IPv4Address("127.0.0.1"), (name,),
                             "localhost")
        try:
            numeric = ip_address(name)
        except (AddressValueError, ValueError):
            numeric = None
        if numeric is not None:
            if (numeric.version == 6 and addrtype != LWIP_DNS_ADDRTYPE_IPV4) or (
                    numeric.version == 4 and addrtype != LWIP_DNS_ADDRTYPE_IPV6):
                return DnsAnswer(name, numeric, (name,), "numeric")
        hook = self.stack.hooks.dns_external_resolve
        if hook is not None:
            addr = hook(self.stack, name, addrtype)
            if addr is not None:
                addr = ip_any(addr)
                return DnsAnswer(name, addr, (name,), "hook")
        try:
            wire.encode_name(name)
        except ValueError as e:
            raise LwipError(errno.EINVAL, str(e)) from None
        cached = self.lookup(name, addrtype)
        if cached is None and addrtype in (LWIP_DNS_ADDRTYPE_IPV4_IPV6, LWIP_DNS_ADDRTYPE_IPV6_IPV4):
            cached = self.lookup(name, LWIP_DNS_ADDRTYPE_IPV6 if addrtype == LWIP_DNS_ADDRTYPE_IPV4_IPV6
                                 else LWIP_DNS_ADDRTYPE_IPV4)
        if cached is not None:
            return cached
        is_mdns = self.stack.config.dns_support_mdns_queries and name.lower().rstrip(".").endswith(".local")
        if not is_mdns and not any(s is not None for s in self.effective_servers()):
            raise DnsNoServer(name, "no DNS server is set", errno.EINVAL)
        self._enqueue(name, found, addrtype, is_mdns)
        return None

    # -- the table ---------------------------------------------------------------------------------------------------
    def _enqueue(self, name: str, found: Found | None, addrtype: int, is_mdns: bool) -> None:
        """``dns_enqueue``."""
        requests = sum(len(e.requests) for e in self.table)
        for e in self.table:
            if e.state == _ASKING and wire.names_equal(e.name, name) and e.reqaddrtype == addrtype:
                if requests >= len(self.table):
                    raise LwipError(errno.ENOMEM, "DNS request entries table is full (DNS_MAX_REQUESTS)")
                e.requests.append((found or _ignore, addrtype))
                return
        now = self.stack.now
        entry = next((e for e in self.table if e.state == _UNUSED or (e.state == _DONE and e.expires <= now)), None)
        if entry is None:
            done = [e for e in self.table if e.state == _DONE]
            if not done:
                raise LwipError(errno.ENOMEM, "DNS entries table is full (DNS_TABLE_SIZE)")
            entry = min(done, key=lambda e: e.seqno)
        pcb = self._alloc_pcb()
        if pcb is None:
            raise LwipError(errno.ENOMEM, "no UDP pcb for a DNS query")
        entry.__init__()  # type: ignore[misc]
        entry.state = _NEW
        entry.name = entry.qname = name
        entry.chain = [name]
        entry.reqaddrtype = addrtype
        entry.seqno = self._seqno
        entry.is_mdns = is_mdns
        entry.pcb = pcb
        entry.requests = [(found or _ignore, addrtype)]
        self._seqno += 1
        if self._next_tick is None:
            self._next_tick = self.stack.now + DNS_TMR_INTERVAL
            self.stack.timer_armed(self._next_tick)
        self._check_entry(entry)

    def _alloc_pcb(self) -> "UdpPcb | None":
        """``dns_alloc_pcb`` / ``dns_alloc_random_port``: a new pcb on a random port >= 1024 (``DNS_PORT_ALLOWED``),
        or, when no pcb can be made, one of the queries in progress."""
        udp = self.stack.udp
        rng = self.stack.rng
        try:
            pcb = udp.new(ip6=self.stack.config.ipv6)
        except LwipError:
            return next((e.pcb for e in self.table if e.state == _ASKING and e.pcb is not None), None)
        for _ in range(64):
            port = rng.randrange(1024, 65536)
            try:
                pcb.bind(IPv6Address(0) if self.stack.config.ipv6 else IPv4Address(0), port)
                break
            except LwipError:
                continue
        else:
            pcb.close()
            return None
        pcb.on_recv = self._recv
        return pcb

    def _free_pcb(self, entry: DnsEntry) -> None:
        pcb, entry.pcb = entry.pcb, None
        if pcb is not None and not any(e.pcb is pcb for e in self.table if e is not entry):
            pcb.close()

    def _new_txid(self) -> int:
        """``dns_create_txid``: random, unique among the queries in progress."""
        while True:
            txid = self.stack.rng.randrange(0x10000)
            if not any(e.state == _ASKING and e.txid == txid for e in self.table):
                return txid

    def _check_entry(self, e: DnsEntry) -> None:
        """``dns_check_entry`` for NEW and ASKING entries (one timer tick for ASKING ones)."""
        servers = self.effective_servers()
        if e.state == _NEW:
            e.txid = self._new_txid()
            e.state = _ASKING
            e.server_idx = 0
            e.tmr = 1
            e.retries = 0
            while e.server_idx + 1 < len(servers) and servers[e.server_idx] is None:  # ESP_DNS: skip unset ones
                e.server_idx += 1
            self._send(e, servers)
        elif e.state == _ASKING:
            e.tmr -= 1
            if e.tmr > 0:
                return
            e.retries += 1
            if e.retries == self.stack.config.dns_max_retries:
                while e.server_idx + 1 < len(servers) and servers[e.server_idx + 1] is None:
                    e.server_idx += 1
                if not e.is_mdns and e.server_idx + 1 < len(servers) and servers[e.server_idx + 1] is not None:
                    e.server_idx += 1
                    e.tmr = 1
                    e.retries = 0
                else:
                    self._finish(e, None, DnsTimeout(e.name, f"no answer after {self.stack.config.dns_max_retries} "
                                                             "tries of every DNS server"))
                    return
            else:
                e.tmr = e.retries
            self._send(e, servers)

    def _send(self, e: DnsEntry, servers: list[IpAddress | None]) -> None:
        """``dns_send``."""
        if e.is_mdns:
            dst: IpAddress = wire.MDNS_GROUP6 if _is_ipv6(e.reqaddrtype) else wire.MDNS_GROUP4
            port = wire.MDNS_PORT
        else:
            server = servers[e.server_idx] if e.server_idx < len(servers) else None
            if server is None:
                self._finish(e, None, DnsNoServer(e.name, "the DNS server went away"))  # e.g. the PPP link went down
                return
            dst, port = server, wire.PORT
        e.server = dst
        qtype = wire.AAAA if _is_ipv6(e.reqaddrtype) else wire.A
        assert e.pcb is not None
        try:
            e.pcb.sendto(wire.query(e.txid, e.qname, qtype, not e.is_mdns), dst, port)
            self.counters["sent"] += 1
        except LwipError as err:
            log.debug("%s: DNS query for %s to %s not sent: %s", self.stack.name, e.qname, dst, err)

    def _finish(self, e: DnsEntry, answer: DnsAnswer | None, error: DnsError | None) -> None:
        """``dns_call_found``, then the entry is cached (an answer with a TTL) or freed."""
        requests, e.requests = e.requests, []
        self._free_pcb(e)
        if answer is None:
            e.state = _UNUSED
            self.counters["failed"] += 1
        else:
            e.state = _DONE if e.expires > self.stack.now else _UNUSED
            self.counters["answers"] += 1
        for found, _ in requests:
            try:
                found(answer, error)
            except Exception:
                if self.stack.strict:
                    raise
                log.exception("%s: a DNS found callback raised", self.stack.name)

    # -- input -------------------------------------------------------------------------------------------------------
    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        """``dns_recv``."""
        try:
            msg = wire.DnsMessage.parse(dgram.data)
        except Malformed:
            self.counters["malformed"] += 1
            return
        for e in self.table:
            if e.state == _ASKING and e.txid == msg.id and e.pcb is pcb:
                break
        else:
            self.counters["ignored"] += 1
            return
        src = unmap(dgram.src)
        qtype = wire.AAAA if _is_ipv6(e.reqaddrtype) else wire.A
        if (not msg.is_response or len(msg.questions) != 1 or msg.opcode != 0
                or (not e.is_mdns and src != e.server)
                or dgram.src_port != (wire.MDNS_PORT if e.is_mdns else wire.PORT)
                or not wire.names_equal(msg.questions[0].name, e.qname)
                or msg.questions[0].qtype != qtype or (msg.questions[0].qclass & 0x7FFF) != wire.CLASS_IN):
            self.counters["ignored"] += 1
            return
        servers = self.effective_servers()
        if msg.rcode != wire.NOERROR:
            if not e.is_mdns and self._backup_available(e, servers):
                e.retries = self.stack.config.dns_max_retries - 1  # "avoid retrying the same server"
                e.tmr = 1
                self._check_entry(e)
                return
            err: DnsError = (DnsNotFound(e.name, "the name does not exist (NXDOMAIN)") if msg.rcode == wire.NXDOMAIN
                             else DnsServerFailure(e.name, msg.rcode))
            self._finish(e, None, err)
            return
        self._answer(e, msg, qtype)

    def _backup_available(self, e: DnsEntry, servers: list[IpAddress | None]) -> bool:
        """``dns_backupserver_available`` (with ESP-IDF's skipping of unset slots)."""
        return any(s is not None for s in servers[e.server_idx + 1:])

    def _answer(self, e: DnsEntry, msg: wire.DnsMessage, qtype: int) -> None:
        target = e.qname
        ttl: int | None = None
        for _ in range(MAX_CNAME_REQUERIES * 2):
            addr = next((r for r in msg.answers if r.rtype == qtype and (r.rclass & 0x7FFF) == wire.CLASS_IN
                         and wire.names_equal(r.name, target)), None)
            if addr is not None:
                ttl = addr.ttl if ttl is None else min(ttl, addr.ttl)
                ttl = min(ttl, self.stack.config.dns_max_ttl)
                e.address = addr.data
                e.expires = self.stack.now + ttl
                self._finish(e, DnsAnswer(e.name, addr.data, tuple(e.chain), "mdns" if e.is_mdns else "dns"), None)
                return
            alias = next((r for r in msg.answers if r.rtype == wire.CNAME and wire.names_equal(r.name, target)), None)
            if alias is None or any(wire.names_equal(alias.data, n) for n in e.chain):
                break
            ttl = alias.ttl if ttl is None else min(ttl, alias.ttl)
            target = alias.data
            e.chain.append(target)
        if not wire.names_equal(target, e.qname) and e.requeries < MAX_CNAME_REQUERIES:
            hit = self._cached(target, e.reqaddrtype)
            if hit is not None and hit.address is not None:  # the chain ends in a name we know: no need to ask
                e.address = hit.address
                e.expires = min(hit.expires, self.stack.now + min(ttl or 0, self.stack.config.dns_max_ttl))
                e.chain.extend(hit.chain[1:])
                self._finish(e, DnsAnswer(e.name, hit.address, tuple(e.chain), "mdns" if e.is_mdns else "dns"), None)
                return
            e.requeries += 1  # the chain ends in a name the server gave no address for: ask for that name
            e.qname = target
            self._restart(e, e.reqaddrtype)
            return
        if e.reqaddrtype in (LWIP_DNS_ADDRTYPE_IPV4_IPV6, LWIP_DNS_ADDRTYPE_IPV6_IPV4):
            other = LWIP_DNS_ADDRTYPE_IPV6 if e.reqaddrtype == LWIP_DNS_ADDRTYPE_IPV4_IPV6 else LWIP_DNS_ADDRTYPE_IPV4
            e.qname = e.name
            e.chain = [e.name]
            self._restart(e, other)
            return
        self._finish(e, None, DnsNoAddress(e.name, f"no {'AAAA' if qtype == wire.AAAA else 'A'} record"))

    def _restart(self, e: DnsEntry, addrtype: int) -> None:
        """The entry asks again (a new id, from the first server), as lwIP's ``state = DNS_STATE_NEW``."""
        e.reqaddrtype = addrtype
        e.state = _NEW
        self._check_entry(e)

    # -- timer -------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """``dns_tmr`` for every tick due by ``now``."""
        while self._next_tick is not None and self._next_tick <= now:
            for e in self.table:
                if e.state == _ASKING:
                    self._check_entry(e)
            if any(e.state == _ASKING for e in self.table):
                self._next_tick += DNS_TMR_INTERVAL
            else:
                self._next_tick = None

    def poll_at(self) -> float | None:
        """The next tick while a query is in progress (an idle resolver needs no timer: cached entries are checked
        against their expiry when looked up)."""
        return self._next_tick

    def pending(self) -> int:
        """Queries in progress."""
        return sum(e.state == _ASKING for e in self.table)


def _ignore(answer: Any, error: Any) -> None:
    pass
