"""The SNTP client (RFC 4330), as lwIP's ``apps/sntp/sntp.c`` with ESP-IDF's ``esp_sntp`` on top: :class:`Sntp`.

Theory of operation
-------------------
lwIP's client is three timeouts and a receive callback; here they are deadlines (``sys_timeout`` /
``sys_untimeout`` on named functions) run by :meth:`Sntp.poll`:

- ``init()`` in poll mode schedules ``sntp_request`` after the random startup delay (``SNTP_STARTUP_DELAY_FUNC``:
  ``LWIP_RAND() % CONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY`` ms, the stack's rng); in listen-only mode it binds port
  123 and waits for broadcasts (mode 5).
- ``sntp_request`` takes the current server: a name is resolved through ``stack.dns`` every time ("rely on
  dns-internal caching"); an unset server waits ``SNTP_RETRY_TIMEOUT`` and tries the next.  It sends a 48-byte
  request (version 4, mode 3) carrying the device clock in the transmit timestamp, shifts the server's reachability
  register left, and schedules ``sntp_try_next_server`` after ``SNTP_RECV_TIMEOUT``.
- A reply must come from the server asked, from port 123, be 48 bytes or more (lwIP: exactly 48; longer ones carry
  extension fields or a MAC, which are left unread), have mode 4 (5 when listening), echo our transmit timestamp as
  its originate timestamp (``SNTP_CHECK_RESPONSE >= 2``; a Kiss-o'-Death too), not be "unsynchronised" (LI 3) and
  carry a transmit timestamp (RFC 4330 5); anything else is ignored and the receive timeout keeps running.  A good
  reply is taken once: a duplicate of it no longer matches.  A good one sets bit 0 of the reachability register,
  corrects the clock, and schedules the next request after ``CONFIG_LWIP_SNTP_UPDATE_DELAY`` (or
  :meth:`set_sync_interval`'s), with the retry delay reset.
- ``sntp_try_next_server`` moves to the next server that is set and sends at once (retry delay reset); with no other,
  ``sntp_retry`` sends again after the retry delay, which doubles up to ten times ``SNTP_RETRY_TIMEOUT``.
- Stratum 0 is a Kiss-o'-Death: lwIP tries the next server.  Beyond lwIP, as RFC 4330 5 asks: DENY and RSTR stop
  all requests to that server (until ``setserver``/``setservername`` sets it again); RATE doubles that server's
  poll interval factor (up to 64x), which stretches both the wait before asking it again and its update delay.

Offset and delay follow RFC 4330 5 (lwIP's ``SNTP_COMP_ROUNDTRIP``) from T1 (originate), T2 (receive), T3
(transmit) and T4 (arrival by the device clock), differences taken modulo 2**64 so that era 1 (after 2036) is right.
When the clock is more than 2**30 s (34 years) from the server's, lwIP skips the compensation and sets the time to
T3, placed in its era by RFC 4330's rule (bit 0 of the seconds); so does this client.

The time is applied as ESP-IDF's ``sntp_sync_time``: mode IMMED steps the device clock (``settimeofday``), SMOOTH
slews it (``adjtime``; a step when the error is beyond adjtime's limit); the sync status goes COMPLETED or
IN_PROGRESS, and the time-sync notification callback gets the new time.  ``get_sync_status`` reports COMPLETED once
and then RESET, as ESP-IDF's does.  Each good reply is also emitted on ``stack.events`` as :class:`SntpSynced`.

Servers from DHCP (``servermode_dhcp``): lwIP's ``dhcp_set_ntp_servers`` -- each lease with NTP servers (option 42,
asked when ``CONFIG_LWIP_DHCP_GET_NTP_SRV``) sets servers 0.. and clears the rest; ``dhcp6_set_ntp_servers`` does
the same from DHCPv6 (RFC 4075 / RFC 5908 addresses).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import LwipError, Malformed
from ..wire import ntp as w
from ..wire.ntp import NtpHeader, NtpMessage
from .dhcp import DhcpBound
from .dhcp6 import Dhcp6Reply

if TYPE_CHECKING:
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["Sntp", "SntpOpMode", "SntpSyncMode", "SntpSyncStatus", "SntpServer", "SntpSynced", "SNTP_PORT"]

log = logging.getLogger("lwipy")
SNTP_PORT = w.PORT
#: lwIP skips the round-trip compensation when the clock step is larger than about 34 years
_MAX_COMP_STEP = 1 << 30
_RATE_FACTOR_MAX = 64
#: ESP-IDF's sntp_set_sync_interval: below 15 s is raised to 15 s
SNTP_MIN_SYNC_INTERVAL = 15000


class SntpOpMode(IntEnum):
    """``SNTP_OPMODE_*`` (esp_sntp's ``ESP_SNTP_OPMODE_*``)."""

    POLL = 0
    LISTENONLY = 1


class SntpSyncMode(IntEnum):
    """``sntp_sync_mode_t``."""

    IMMED = 0
    SMOOTH = 1


class SntpSyncStatus(IntEnum):
    """``sntp_sync_status_t``."""

    RESET = 0
    COMPLETED = 1
    IN_PROGRESS = 2


@dataclass(slots=True)
class SntpServer:
    """One entry of lwIP's ``sntp_servers``: an address, or a name resolved at every request."""

    addr: IPv4Address | IPv6Address | None = None
    name: str | None = None
    #: ``SNTP_MONITOR_SERVER_REACHABILITY``: shifted left at each request, bit 0 set by a good reply
    reachability: int = 0
    #: the last kiss code it sent (``"RATE"``, ``"DENY"``...), None when none
    kiss: str | None = None
    #: DENY or RSTR received: no more requests to it (RFC 4330 5)
    denied: bool = False
    #: poll interval factor, doubled by each RATE kiss
    rate_factor: int = 1

    @property
    def is_set(self) -> bool:
        return self.name is not None or (self.addr is not None and not self.addr.is_unspecified)


@dataclass(frozen=True, slots=True)
class SntpSynced:
    """A good reply corrected the device clock (emitted on ``stack.events``)."""

    #: the server's address and its index
    server: IPv4Address | IPv6Address
    index: int
    #: server time minus device time, seconds (as ntpdig's "offset")
    offset: float
    #: the round-trip delay, seconds (None when lwIP's rule skipped the compensation, or in listen-only mode)
    delay: float | None
    stratum: int
    #: the corrected Unix time at the reply's arrival
    time: float
    mode: SntpSyncMode
    #: the server's leap indicator and reference id
    li: int = 0
    ref_id: bytes = b""


class Sntp:
    """The SNTP client of one stack (lwIP keeps one per system).  Configure (operating mode, servers), then
    :meth:`init`; :meth:`stop` ends it.  Runs on the core thread; see :mod:`lwipy.esp_netif.sntp` for the
    thread-safe esp_sntp facade."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        cfg = stack.config
        self.opmode = SntpOpMode.POLL
        self.servers = [SntpServer() for _ in range(cfg.sntp_max_servers)]
        self.current = 0
        self.sync_mode = SntpSyncMode.IMMED
        self.sync_status = SntpSyncStatus.RESET
        #: ``sntp_set_time_sync_notification_cb``: called with the new Unix time
        self.time_sync_notification_cb: Callable[[float], None] | None = None
        #: ms between polls after a good reply (``sntp_set_sync_interval``)
        self.sync_interval = cfg.sntp_update_delay
        self.retry_timeout = cfg.sntp_recv_timeout
        self.servermode_dhcp_on = False
        self.pcb: "UdpPcb | None" = None
        #: the transmit timestamp of the last request, which the reply must echo (None: nothing outstanding)
        self.last_timestamp_sent: int | None = None
        self.last_server_address: IPv4Address | IPv6Address | None = None
        #: the last good reply, and counters
        self.last: SntpSynced | None = None
        self.requests = 0
        self.replies = 0
        self.ignored = 0
        self.kisses = 0
        self._timeouts: dict[str, float] = {}
        self._gen = 0  # bumped by init/stop, so that a DNS answer for an earlier run is dropped
        self._subs = [stack.events.subscribe(DhcpBound, self._dhcp_bound),
                      stack.events.subscribe(Dhcp6Reply, self._dhcp6_reply)]
        stack.apps["sntp"] = self

    # -- configuration (lwIP's sntp_* functions) ---------------------------------------------------------------------
    def setoperatingmode(self, mode: SntpOpMode | int) -> None:
        """``sntp_setoperatingmode``; only while stopped (lwIP asserts it)."""
        if self.enabled():
            raise LwipError(errno.EINVAL, "sntp_setoperatingmode: stop SNTP first (lwIP asserts it)")
        self.opmode = SntpOpMode(mode)

    def getoperatingmode(self) -> SntpOpMode:
        return self.opmode

    def _index(self, idx: int) -> SntpServer:
        if not 0 <= idx < len(self.servers):
            raise IndexError(f"SNTP server index {idx} is not 0..{len(self.servers) - 1} "
                             "(CONFIG_LWIP_SNTP_MAX_SERVERS)")
        return self.servers[idx]

    def setserver(self, idx: int, addr: "IPv4Address | IPv6Address | str | None") -> None:
        """``sntp_setserver``: server ``idx`` by address (None clears it)."""
        server = self._index(idx)
        server.addr = ip_address(addr) if isinstance(addr, str) else addr
        server.name = None
        server.denied, server.kiss, server.rate_factor = False, None, 1

    def getserver(self, idx: int) -> IPv4Address | IPv6Address | None:
        """``sntp_getserver``: the address (a name's last resolution), None when unset."""
        return self._index(idx).addr

    def setservername(self, idx: int, name: str | None) -> None:
        """``sntp_setservername``: server ``idx`` by name, resolved through the stack's DNS at each request."""
        server = self._index(idx)
        server.name, server.addr = name, None
        server.denied, server.kiss, server.rate_factor = False, None, 1

    def getservername(self, idx: int) -> str | None:
        return self._index(idx).name

    def getreachability(self, idx: int) -> int:
        """``sntp_getreachability``: the server's 8-bit reachability shift register."""
        return self._index(idx).reachability

    def servermode_dhcp(self, enable: bool) -> None:
        """``sntp_servermode_dhcp``: take servers from DHCP leases (and DHCPv6) from now on."""
        self.servermode_dhcp_on = bool(enable)

    def enabled(self) -> bool:
        """``sntp_enabled``."""
        return self.pcb is not None

    # -- ESP-IDF's esp_sntp additions --------------------------------------------------------------------------------
    def set_sync_mode(self, mode: SntpSyncMode | int) -> None:
        self.sync_mode = SntpSyncMode(mode)

    def set_sync_status(self, status: SntpSyncStatus | int) -> None:
        self.sync_status = SntpSyncStatus(status)

    def get_sync_status(self) -> SntpSyncStatus:
        """ESP-IDF's ``sntp_get_sync_status``: COMPLETED is reported once, then RESET; IN_PROGRESS while a smooth
        correction is still being slewed (COMPLETED, once, when it is over)."""
        status = self.sync_status
        if status == SntpSyncStatus.COMPLETED:
            self.sync_status = SntpSyncStatus.RESET
            return status
        if status == SntpSyncStatus.IN_PROGRESS:
            if self.stack.clock.adjtime(None) == 0.0:
                self.sync_status = SntpSyncStatus.RESET
                return SntpSyncStatus.COMPLETED
            return status
        return SntpSyncStatus.RESET

    def set_sync_interval(self, interval_ms: int) -> None:
        """ESP-IDF's ``sntp_set_sync_interval``: below 15 s is taken as 15 s; it applies from the next reply (or
        :meth:`restart`)."""
        self.sync_interval = max(int(interval_ms), SNTP_MIN_SYNC_INTERVAL)

    def get_sync_interval(self) -> int:
        return self.sync_interval

    def restart(self) -> bool:
        """ESP-IDF's ``sntp_restart``: stop and init again when running (a request soon); False when not running."""
        if not self.enabled():
            return False
        self.stop()
        self.init()
        return True

    # -- start and stop ----------------------------------------------------------------------------------------------
    def init(self) -> None:
        """``sntp_init``: start (no-op when running)."""
        self.stack.assert_core()
        if self.pcb is not None:
            return
        self._gen += 1
        pcb = self.stack.udp.new(ip6=self.stack.config.ipv6)
        pcb.on_recv = self._recv
        self.pcb = pcb
        if self.opmode == SntpOpMode.POLL:
            self.retry_timeout = self.stack.config.sntp_recv_timeout  # SNTP_RESET_RETRY_TIMEOUT
            delay = 0.0
            if self.stack.config.sntp_startup_delay:
                delay = self.stack.rng.randrange(self.stack.config.sntp_maximum_startup_delay) / 1000.0
            self._timeout("request", delay)
        else:
            pcb.reuse_addr = True
            pcb.bind(None, SNTP_PORT)
        self.stack.add_poller(self)

    def stop(self) -> None:
        """``sntp_stop``: cancel every timeout and close the pcb."""
        self.stack.assert_core()
        if self.pcb is None:
            return
        self._gen += 1
        self._timeouts.clear()
        self.pcb.close()
        self.pcb = None
        self.last_timestamp_sent = None
        self.stack.remove_poller(self)

    def close(self) -> None:
        """Stop and forget the stack (the DHCP subscription ends)."""
        self.stop()
        for sub in self._subs:
            sub.cancel()
        if self.stack.apps.get("sntp") is self:
            del self.stack.apps["sntp"]

    # -- deadlines ---------------------------------------------------------------------------------------------------
    def _timeout(self, what: str, delay: float) -> None:
        """``sys_timeout(delay, what)`` (one deadline per function: a second replaces the first)."""
        self._timeouts[what] = self.stack.now + delay

    def _untimeout(self, what: str) -> None:
        self._timeouts.pop(what, None)

    def poll(self, now: float) -> None:
        while self._timeouts:
            what, when = min(self._timeouts.items(), key=lambda kv: kv[1])
            if when > now:
                return
            del self._timeouts[what]
            if what == "request":
                self._request()
            else:
                self._try_next_server()

    def poll_at(self) -> float | None:
        return min(self._timeouts.values()) if self._timeouts else None

    @property
    def next_request_at(self) -> float | None:
        """When the next request is due (stack time), None when none is scheduled."""
        return self._timeouts.get("request")

    # -- the machine -------------------------------------------------------------------------------------------------
    def _request(self) -> None:
        """``sntp_request``: the current server's address (resolving a name), then send."""
        server = self.servers[self.current]
        if server.denied:
            self._try_next_server()
            return
        if server.name is not None:
            server.addr = None  # always resolve: rely on the resolver's caching and timeouts
            gen, index = self._gen, self.current
            try:
                answer = self.stack.dns.gethostbyname(server.name, lambda a, e: self._dns_found(gen, index, a))
            except LwipError as e:
                log.debug("sntp: cannot resolve %s: %s", server.name, e)
                self._untimeout("try_next_server")
                self._timeout("try_next_server", self.retry_timeout / 1000.0)
                return
            if answer is None:
                return  # wait for _dns_found
            server.addr = answer.address
        if server.addr is None or server.addr.is_unspecified:
            # "Invalid server address, trying next server"
            self._untimeout("try_next_server")
            self._timeout("try_next_server", self.retry_timeout / 1000.0)
            return
        self._send_request(server.addr)

    def _dns_found(self, gen: int, index: int, answer: Any) -> None:
        """``sntp_dns_found``."""
        if gen != self._gen or self.pcb is None:
            return
        if answer is not None:
            self.servers[index].addr = answer.address
            if index == self.current:
                self._send_request(answer.address)
        else:
            self._try_next_server()

    def _send_request(self, addr: IPv4Address | IPv6Address) -> None:
        """``sntp_send_request``."""
        assert self.pcb is not None
        ts = w.from_unix(self.stack.clock.time())
        msg = NtpMessage.client_request(ts)
        try:
            self.pcb.sendto(msg.emit(), addr, SNTP_PORT)
        except LwipError as e:
            log.debug("sntp: request to %s failed: %s", addr, e)
            self._timeout("request", self.stack.config.sntp_recv_timeout / 1000.0)
            return
        self.requests += 1
        server = self.servers[self.current]
        server.reachability = (server.reachability << 1) & 0xFF
        self._timeout("try_next_server", self.stack.config.sntp_recv_timeout / 1000.0)
        self.last_server_address = addr
        self.last_timestamp_sent = ts

    def _try_next_server(self) -> None:
        """``sntp_try_next_server``: the next server that is set (and not denied) at once, else a retry later."""
        old = self.current
        n = len(self.servers)
        for _ in range(n - 1):
            self.current = (self.current + 1) % n
            server = self.servers[self.current]
            if server.is_set and not server.denied:
                self.retry_timeout = self.stack.config.sntp_recv_timeout  # new server: reset the retry timeout
                self._untimeout("try_next_server")
                self._request()
                return
        self.current = old
        self._retry()

    def _retry(self) -> None:
        """``sntp_retry``: ask again after the retry timeout, which doubles up to its maximum
        (``SNTP_RETRY_TIMEOUT_EXP``); a server that sent RATE waits its factor times longer."""
        self._untimeout("try_next_server")
        if all(s.denied or not s.is_set for s in self.servers) and any(s.denied for s in self.servers):
            self._untimeout("request")  # every server said DENY/RSTR: demobilised
            return
        factor = self.servers[self.current].rate_factor
        self._timeout("request", self.retry_timeout * factor / 1000.0)
        top = self.stack.config.sntp_recv_timeout * 10  # SNTP_RETRY_TIMEOUT_MAX
        self.retry_timeout = min(self.retry_timeout * 2, top)

    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        """``sntp_recv``."""
        polling = self.opmode == SntpOpMode.POLL
        src = dgram.src
        if isinstance(src, IPv6Address) and src.ipv4_mapped is not None:
            src = src.ipv4_mapped
        if dgram.src_port != SNTP_PORT or (polling and src != self.last_server_address):
            self.ignored += 1  # SNTP_CHECK_RESPONSE >= 1: not from the server asked
            return
        try:
            hdr = NtpHeader.parse(dgram.data)
        except Malformed:
            self.ignored += 1
            return
        if hdr.mode != (w.MODE_SERVER if polling else w.MODE_BROADCAST):
            self.ignored += 1  # "Invalid mode in response": wait for a correct one
            return
        if polling and (self.last_timestamp_sent is None or hdr.originate_ts != self.last_timestamp_sent):
            # SNTP_CHECK_RESPONSE >= 2: "Invalid originate timestamp in response".  Checked before the stratum (lwIP
            # looks at the stratum first), so that a forged Kiss-o'-Death must also echo our request
            self.ignored += 1
            return
        if hdr.stratum == 0:
            if polling:
                self._kiss(hdr.kiss_code or "")
            else:
                self.ignored += 1
            return
        if hdr.li == w.LI_ALARM or hdr.transmit_ts == 0:
            self.ignored += 1  # RFC 4330 5: unsynchronised server, or no time at all
            return
        if polling:
            self.last_timestamp_sent = None  # a duplicate of this reply is no longer a reply
            server = self.servers[self.current]
            server.reachability |= 1
            self._untimeout("try_next_server")
            self._untimeout("request")
            self.retry_timeout = self.stack.config.sntp_recv_timeout  # SNTP_RESET_RETRY_TIMEOUT
            self._timeout("request", self.sync_interval * server.rate_factor / 1000.0)
        # last, so that a callback may stop or restart the client (lwIP sets the time first; the order is invisible
        # but to such a callback)
        self._process(hdr, src)

    def _kiss(self, code: str) -> None:
        """A Kiss-o'-Death: RATE backs off from this server, DENY and RSTR end requests to it; then, as lwIP, the
        next server."""
        self.kisses += 1
        server = self.servers[self.current]
        server.kiss = code
        if code in (w.KOD_DENY, w.KOD_RSTR):
            server.denied = True
        elif code == w.KOD_RATE:
            server.rate_factor = min(server.rate_factor * 2, _RATE_FACTOR_MAX)
        self.last_timestamp_sent = None
        self._try_next_server()

    def _process(self, hdr: NtpHeader, src: IPv4Address | IPv6Address) -> None:
        """``sntp_process`` with ``SNTP_COMP_ROUNDTRIP``, then ESP-IDF's ``sntp_sync_time``."""
        clock = self.stack.clock
        local = clock.time()
        t3 = hdr.transmit_ts
        server_time = w.to_unix(t3)  # RFC 4330's era rule, as lwIP's s32_t seconds
        delay: float | None = None
        if self.opmode == SntpOpMode.POLL and abs(server_time - local) < _MAX_COMP_STEP:
            t4 = w.from_unix(local)
            t1, t2 = hdr.originate_ts, hdr.receive_ts
            offset = (w.diff(t2, t1) + w.diff(t3, t4)) / 2
            delay = w.diff(t4, t1) - w.diff(t3, t2)
        else:
            offset = server_time - local
        new_time = local + offset
        self._sync_time(new_time, offset)
        self.replies += 1
        index = self.current if self.opmode == SntpOpMode.POLL else -1
        self.last = SntpSynced(src, index, offset, delay, hdr.stratum, new_time, self.sync_mode, hdr.li, hdr.ref_id)
        self.stack.events.emit(self.last)

    def _sync_time(self, new_time: float, offset: float) -> None:
        """ESP-IDF's ``sntp_sync_time``: step (IMMED) or slew (SMOOTH, a step when adjtime refuses), then the
        notification callback."""
        clock = self.stack.clock
        if self.sync_mode == SntpSyncMode.IMMED:
            clock.settimeofday(new_time)
            self.sync_status = SntpSyncStatus.COMPLETED
        else:
            try:
                clock.adjtime(offset)
                self.sync_status = SntpSyncStatus.IN_PROGRESS
            except ValueError:
                clock.settimeofday(new_time)
                self.sync_status = SntpSyncStatus.COMPLETED
        if self.time_sync_notification_cb is not None:
            self.time_sync_notification_cb(new_time)

    # -- servers from DHCP -------------------------------------------------------------------------------------------
    def _dhcp_bound(self, event: DhcpBound) -> None:
        self.dhcp_set_ntp_servers(event.lease.ntp_servers)

    def _dhcp6_reply(self, event: Dhcp6Reply) -> None:
        self.dhcp6_set_ntp_servers(event.state.sntp_servers + event.state.ntp_servers)

    def dhcp_set_ntp_servers(self, servers: Iterable[IPv4Address]) -> None:
        """lwIP's ``dhcp_set_ntp_servers``: with ``servermode_dhcp`` on and at least one server, servers 0.. are
        set from the list and the rest cleared."""
        self._set_from_dhcp(list(servers))

    def dhcp6_set_ntp_servers(self, servers: Iterable[IPv6Address | bytes]) -> None:
        """lwIP's ``dhcp6_set_ntp_servers`` (``SNTP_GET_SERVERS_FROM_DHCPV6``): the same from DHCPv6's list."""
        self._set_from_dhcp([IPv6Address(s) for s in servers])

    def _set_from_dhcp(self, servers: list[Any]) -> None:
        if not self.servermode_dhcp_on or not servers:
            return
        for i in range(len(self.servers)):
            self.setserver(i, servers[i] if i < len(servers) else None)
