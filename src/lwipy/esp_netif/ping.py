"""ESP-IDF's ping sessions (``ping/ping_sock.h``, ``components/lwip/apps/ping/ping_sock.c``) over a lwipy stack.

::

    config = EspPingConfig(target_addr="10.0.0.2", count=3)          # ESP_PING_DEFAULT_CONFIG() and changes
    cbs = EspPingCallbacks(on_ping_success=ok, cb_args="foo")         # ok(hdl, args)
    hdl = esp_ping_new_session(config, cbs, stack=stack, loop=loop)
    esp_ping_start(hdl)
    ...
    esp_ping_get_profile(hdl, EspPingProfile.ESP_PING_PROF_TIMEGAP)   # ms between the request and its reply

Theory of operation
-------------------
ESP-IDF runs each session in a task of its own.  Here a session is a poller of the stack: its "task" is a small state
machine that does what ``esp_ping_thread`` does, at the same moments:

- idle, it waits for a start (``ulTaskNotifyTake``, a notification count: several starts make one);
- a start resets the statistics (seqno, transmitted, received, duration) and runs a batch:
  ``while started and (count == 0 or seqno < count)``: send request ``seqno + 1``; wait for the reply carrying the
  session's identifier and that sequence number, up to ``timeout_ms`` (later replies of earlier requests are ignored);
  ``on_ping_success`` or ``on_ping_timeout``; then sleep until ``last_wake + interval_ms`` (``vTaskDelayUntil``: no
  sleep when that time has passed already, the exchange took longer than the interval);
- when the batch ends (count reached, or :func:`esp_ping_stop`: the exchange in flight and the sleep after it
  complete first) ``on_ping_end`` runs; a start made meanwhile starts the next batch at once;
- :func:`esp_ping_delete_session` does not interrupt a batch (as in ESP-IDF, where it only clears ``PING_FLAGS_INIT``):
  the batch runs to its end (so stop an endless one), then the task notices within ``PING_CHECK_START_TIMEOUT_MS``
  (1 s), closes its socket and is gone; every later call on the handle raises ``ESP_ERR_INVALID_ARG``.

Profile values (``esp_ping_get_profile``): SEQNO the last request's sequence number; TOS and TTL the configured TOS
and the TTL (IPv6: hop limit) of the last reply; REQUEST and REPLY the requests sent and replies received in this
batch; IPADDR where the last reply came from (the target until one did); SIZE the ICMP data bytes of the last reply
(IPv4: total length - 20 - 8, as ``esp_ping_receive`` computes it); TIMEGAP the milliseconds between the last request
and its reply (the timeout when none came); DURATION the sum of the TIMEGAPs of this batch.

Callbacks run on the core thread (ESP-IDF's run on the ping task): they may call ``esp_ping_get_profile`` and the
other functions of this module, which then run directly.  From other threads the functions go through ``loop.call``
when the session was made with a :class:`~lwipy.api.loop.StackLoop`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import LwipError, Malformed
from ..wire import icmp as w
from ..wire import icmpv6 as w6
from ..wire.icmp import IcmpHeader
from ..wire.ipv4 import PROTO_ICMP
from . import errors as E

if TYPE_CHECKING:
    from ..core.ip4 import InPacket
    from ..core.ip6 import InPacket6
    from ..core.raw import RawPcb
    from ..core.stack import Stack
    from ..wire.icmpv6 import Icmp6Header

__all__ = ["EspPingConfig", "EspPingCallbacks", "EspPingProfile", "EspPingHandle", "ESP_PING_DEFAULT_CONFIG",
           "ESP_PING_COUNT_INFINITE", "esp_ping_new_session", "esp_ping_start", "esp_ping_stop",
           "esp_ping_delete_session", "esp_ping_get_profile"]

T = TypeVar("T")
#: ``ESP_PING_COUNT_INFINITE``: a count of 0 pings until stopped
ESP_PING_COUNT_INFINITE = 0
#: ``PING_CHECK_START_TIMEOUT_MS``: how often an idle ping task looks whether it was deleted
PING_CHECK_START_TIMEOUT = 1.0
_IP4_HEAD = 20 + 8  # sizeof(struct ip_hdr) + sizeof(struct icmp_echo_hdr): esp_ping_receive's data_head


class EspPingProfile(enum.IntEnum):
    """``esp_ping_profile_t``."""

    ESP_PING_PROF_SEQNO = 0
    ESP_PING_PROF_TOS = 1
    ESP_PING_PROF_TTL = 2
    ESP_PING_PROF_REQUEST = 3
    ESP_PING_PROF_REPLY = 4
    ESP_PING_PROF_IPADDR = 5
    ESP_PING_PROF_SIZE = 6
    ESP_PING_PROF_TIMEGAP = 7
    ESP_PING_PROF_DURATION = 8


@dataclass(frozen=True, slots=True)
class EspPingConfig:
    """``esp_ping_config_t``; the defaults are ``ESP_PING_DEFAULT_CONFIG()``'s (``ttl`` None: the stack's
    ``IP_DEFAULT_TTL``, ``CONFIG_LWIP_IP_DEFAULT_TTL``)."""

    #: the target, IPv4 or IPv6 (an IPv4-mapped IPv6 address pings over IPv4); ``ESP_PING_DEFAULT_CONFIG`` has "any"
    target_addr: str | IPv4Address | IPv6Address | None = None
    #: requests per batch; 0 (``ESP_PING_COUNT_INFINITE``) pings until stopped
    count: int = 5
    #: milliseconds from one request to the next
    interval_ms: int = 1000
    #: milliseconds to wait for each reply
    timeout_ms: int = 1000
    #: ICMP data bytes after the 8-byte echo header
    data_size: int = 64
    #: the IP TOS (IPv6: traffic class) of the requests
    tos: int = 0
    #: the TTL (IPv6: hop limit) of the requests; None is ``IP_DEFAULT_TTL``
    ttl: int | None = None
    #: the netif index to send from (``SO_BINDTODEVICE``); 0 lets the routing decide
    interface: int = 0
    #: accepted for the shape of ``esp_ping_config_t``; a session has no task here
    task_stack_size: int = 2048 + 1024
    task_prio: int = 2


ESP_PING_DEFAULT_CONFIG = EspPingConfig()


@dataclass(frozen=True, slots=True)
class EspPingCallbacks:
    """``esp_ping_callbacks_t``: each callback gets ``(handle, cb_args)``."""

    cb_args: Any = None
    on_ping_success: Callable[["EspPingHandle", Any], None] | None = None
    on_ping_timeout: Callable[["EspPingHandle", Any], None] | None = None
    on_ping_end: Callable[["EspPingHandle", Any], None] | None = None


_IDLE, _WAIT_REPLY, _WAIT_INTERVAL, _GONE = "idle", "wait_reply", "wait_interval", "gone"


class EspPingHandle:
    """``esp_ping_handle_t``: one session, a poller of its stack (see the module's theory of operation)."""

    def __init__(self, stack: "Stack", config: EspPingConfig, cbs: EspPingCallbacks | None, loop: Any = None) -> None:
        if config.target_addr is None:
            raise E.ESP_ERR_INVALID_ARG("ping config has no target_addr")
        target = ip_address(config.target_addr) if isinstance(config.target_addr, str) else config.target_addr
        if isinstance(target, IPv6Address) and target.ipv4_mapped is not None:
            target = target.ipv4_mapped  # ping_sock.c: ip6_addr_isipv4mappedipv6 -> an AF_INET socket
        if not 0 <= config.data_size <= 65507 or config.count < 0 or config.interval_ms < 0 or config.timeout_ms < 0:
            raise E.ESP_ERR_INVALID_ARG("data_size, count, interval_ms and timeout_ms must be >= 0")
        self.stack = stack
        self.config = config
        self.cbs = cbs or EspPingCallbacks()
        self._loop = loop
        self.target: IPv4Address | IPv6Address = target
        # ping_sock.c takes the task handle's low 16 bits as the identifier: unique per session
        self.ident = stack.rng.randrange(1, 0x10000)
        self.ttl_out = config.ttl if config.ttl is not None else stack.config.ip_default_ttl
        # the profile
        self.seqno = 0
        self.transmitted = 0
        self.received = 0
        self.ttl = 0
        self.recv_addr: IPv4Address | IPv6Address = target
        self.recv_len = 0
        self.elapsed_time_ms = 0
        self.total_time_ms = 0
        # the task
        self._started = False  # PING_FLAGS_START
        self._deleted = False  # PING_FLAGS_INIT cleared
        self._notified = False  # a pending task notification (ulTaskNotifyTake clears the count)
        self._state = _IDLE
        self._due: float | None = stack.now + PING_CHECK_START_TIMEOUT
        self._sent_at = 0.0
        self._last_wake = 0.0
        self._pcb: RawPcb = self._open()
        stack.add_poller(self)

    def _open(self) -> "RawPcb":
        stack = self.stack
        v6 = self.target.version == 6
        pcb = stack.raw.new(w6.PROTO_ICMPV6 if v6 else PROTO_ICMP, ip6=v6)
        pcb.tos = self.config.tos
        pcb.ttl = self.ttl_out
        if self.config.interface:
            netif = stack.netif_by_index(self.config.interface)
            if netif is None:
                pcb.close()
                raise E.ESP_FAIL(f"no netif with index {self.config.interface}")
            pcb.netif = netif
        if v6:
            pcb.on_recv = lambda _pcb, _pkt: False  # replies are taken from ICMPv6 (which knows the hop limit)
            stack.icmp6.echo_handlers.append(self._on_echo6)
        else:
            pcb.on_recv = self._on_packet
        return pcb

    # -- the calls (any thread) --------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        if self._loop is not None and not self._loop.is_core_thread():
            return self._loop.call(fn)
        return fn()

    def _alive(self) -> None:
        if self._state == _GONE:
            raise E.ESP_ERR_INVALID_ARG("the ping session was deleted")

    def start(self) -> None:
        """``esp_ping_start``."""
        def run() -> None:
            self._alive()
            if self._deleted:
                raise E.ESP_ERR_INVALID_ARG("the ping session was deleted")
            self._started = True
            self._notified = True
            if self._state == _IDLE:
                self._due = self.stack.now
        self._call(run)

    def stop(self) -> None:
        """``esp_ping_stop``: no request after the one in flight; ``on_ping_end`` follows."""
        def run() -> None:
            self._alive()
            self._started = False
        self._call(run)

    def delete(self) -> None:
        """``esp_ping_delete_session``."""
        def run() -> None:
            self._alive()
            self._deleted = True
        self._call(run)

    def profile(self, profile: EspPingProfile | int) -> Any:
        """``esp_ping_get_profile``: the value (an int; IPADDR an address)."""
        def run() -> Any:
            self._alive()
            try:
                which = EspPingProfile(profile)
            except ValueError:
                raise E.ESP_ERR_INVALID_ARG(f"unknown profile: {profile}") from None
            return {
                EspPingProfile.ESP_PING_PROF_SEQNO: self.seqno,
                EspPingProfile.ESP_PING_PROF_TOS: self.config.tos,
                EspPingProfile.ESP_PING_PROF_TTL: self.ttl,
                EspPingProfile.ESP_PING_PROF_REQUEST: self.transmitted,
                EspPingProfile.ESP_PING_PROF_REPLY: self.received,
                EspPingProfile.ESP_PING_PROF_IPADDR: self.recv_addr,
                EspPingProfile.ESP_PING_PROF_SIZE: self.recv_len,
                EspPingProfile.ESP_PING_PROF_TIMEGAP: self.elapsed_time_ms,
                EspPingProfile.ESP_PING_PROF_DURATION: self.total_time_ms,
            }[which]
        return self._call(run)

    @property
    def running(self) -> bool:
        """A batch is in progress."""
        return self._state in (_WAIT_REPLY, _WAIT_INTERVAL)

    @property
    def deleted(self) -> bool:
        """The task is gone (deleted, and its last batch over)."""
        return self._state == _GONE

    # -- the task (core thread) --------------------------------------------------------------------------------------
    def poll_at(self) -> float | None:
        return self._due

    def poll(self, now: float) -> None:
        if self._due is None or now < self._due:
            return
        if self._state == _IDLE:
            if self._notified:
                self._notified = False
                self._begin(now)
            elif self._deleted:
                self._free()
            else:
                self._due = now + PING_CHECK_START_TIMEOUT
        elif self._state == _WAIT_REPLY:  # no reply within the timeout
            self._exchanged(now, success=False)
        elif self._state == _WAIT_INTERVAL:
            self._loop_top(now)

    def _begin(self, now: float) -> None:
        self.seqno = self.transmitted = self.received = self.total_time_ms = 0
        self._last_wake = now
        self._loop_top(now)

    def _loop_top(self, now: float) -> None:
        count = self.config.count
        if self._started and (count == 0 or self.seqno < count):
            self._send(now)
            self._state = _WAIT_REPLY
            self._due = now + self.config.timeout_ms / 1000.0
            return
        self._state = _IDLE
        self._due = now if self._notified else now + PING_CHECK_START_TIMEOUT
        if self.cbs.on_ping_end is not None:
            self.cbs.on_ping_end(self, self.cbs.cb_args)

    def _send(self, now: float) -> None:
        self.seqno = (self.seqno + 1) & 0xFFFF
        size = self.config.data_size
        packet = bytearray(w.HEADER_LEN + size)
        for i in range(size):  # ping_sock.c: d[i] = 'A' + i
            packet[w.HEADER_LEN + i] = (0x41 + i) & 0xFF
        self._sent_at = now
        try:
            if self.target.version == 4:
                IcmpHeader.echo(w.ECHO_REQUEST, self.ident, self.seqno).emit(packet, 0, size)
            else:
                packet[0], packet[1] = w6.ECHO_REQUEST, 0  # the raw pcb fills the checksum (IPV6_CHECKSUM 2)
                packet[4:8] = self.ident.to_bytes(2, "big") + self.seqno.to_bytes(2, "big")
            self._pcb.sendto(packet, self.target)
            self.transmitted += 1
        except LwipError:
            pass  # "send error": not counted; the wait for a reply still runs (and times out)

    def _exchanged(self, now: float, success: bool) -> None:
        if success:
            # PING_TIME_DIFF_MS: whole milliseconds
            self.elapsed_time_ms = int(round((now - self._sent_at) * 1e6)) // 1000
        else:
            self.elapsed_time_ms = self.config.timeout_ms
        self.total_time_ms += self.elapsed_time_ms
        self._state = _WAIT_INTERVAL
        interval = self.config.interval_ms / 1000.0
        if interval > 0:
            self._last_wake += interval  # vTaskDelayUntil: no sleep when that moment has passed
        self._due = max(now, self._last_wake) if interval > 0 else now
        cb = self.cbs.on_ping_success if success else self.cbs.on_ping_timeout
        if cb is not None:
            cb(self, self.cbs.cb_args)

    def _answered(self, ident: int, seq: int, src: IPv4Address | IPv6Address, ttl: int, data_len: int) -> bool:
        if self._state != _WAIT_REPLY or ident != self.ident or seq != self.seqno:
            return False
        self.received += 1
        self.ttl = ttl
        self.recv_addr = src
        self.recv_len = data_len
        self._exchanged(self.stack.now, success=True)
        return True

    def _on_packet(self, _pcb: "RawPcb", pkt: "InPacket") -> bool:
        body = pkt.packet[pkt.hdr.header_len:]
        try:
            hdr, _payload = IcmpHeader.parse(body)
        except Malformed:
            return False
        if hdr.type != w.ECHO_REPLY:
            return False
        return self._answered(hdr.ident, hdr.seq, pkt.src, pkt.hdr.ttl, pkt.hdr.total_len - _IP4_HEAD)

    def _on_echo6(self, pkt: "InPacket6", hdr: "Icmp6Header", data: memoryview) -> None:
        self._answered(hdr.ident, hdr.seq, IPv6Address(pkt.src), pkt.hdr.hop_limit, len(data))

    def _free(self) -> None:
        self._state = _GONE
        self._due = None
        self.stack.remove_poller(self)
        self._pcb.close()
        if self._on_echo6 in self.stack.icmp6.echo_handlers:
            self.stack.icmp6.echo_handlers.remove(self._on_echo6)

    def __repr__(self) -> str:
        return f"<EspPingHandle {self.target} {self._state} seqno={self.seqno}>"


# -- the C-shaped functions -------------------------------------------------------------------------------------------
def esp_ping_new_session(config: EspPingConfig, cbs: EspPingCallbacks | None = None, *, stack: "Stack",
                         loop: Any = None) -> EspPingHandle:
    """``esp_ping_new_session``: a session on ``stack`` (run through ``loop.call`` when ``loop``, a
    :class:`~lwipy.api.loop.StackLoop`, owns it).  Raises ``ESP_ERR_INVALID_ARG`` for a missing target or bad sizes,
    ``ESP_FAIL`` for an unknown interface or when no raw pcb is left."""
    if config is None:
        raise E.ESP_ERR_INVALID_ARG("ping config can't be null")

    def make() -> EspPingHandle:
        try:
            return EspPingHandle(stack, config, cbs, loop)
        except LwipError as e:
            raise E.ESP_FAIL(f"create socket failed: {e}") from e
    if loop is not None and not loop.is_core_thread():
        return loop.call(make)
    return make()


def _handle(hdl: EspPingHandle | None) -> EspPingHandle:
    if hdl is None:
        raise E.ESP_ERR_INVALID_ARG("ping handle can't be null")
    return hdl


def esp_ping_start(hdl: EspPingHandle) -> None:
    """``esp_ping_start``: start a batch (restarts a stopped session, with fresh statistics)."""
    _handle(hdl).start()


def esp_ping_stop(hdl: EspPingHandle) -> None:
    """``esp_ping_stop``."""
    _handle(hdl).stop()


def esp_ping_delete_session(hdl: EspPingHandle) -> None:
    """``esp_ping_delete_session``."""
    _handle(hdl).delete()


def esp_ping_get_profile(hdl: EspPingHandle, profile: EspPingProfile | int) -> Any:
    """``esp_ping_get_profile``: the profile's value (C copies it into ``data``)."""
    return _handle(hdl).profile(profile)
