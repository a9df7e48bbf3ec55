"""Ping sessions, as ESP-IDF's ``esp_ping``: echo requests on an interval, a callback per reply, timeout and end.

A session is a poller of the stack: it sends request ``n`` at ``start + n * interval`` and gives each ``timeout``
seconds; it ends after ``count`` requests (0: until :meth:`stop`).  Replies are matched by identifier and sequence,
and their round-trip time is measured with the stack's clock.  The target may be IPv4 or IPv6 (ICMPv6 echo, RFC
4443 4.1; a link-local one may name its netif, ``fe80::1%en0``).
"""

from __future__ import annotations

import errno
import statistics
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Callable

from ..errors import LwipError, Malformed
from ..wire import icmp as w
from ..wire.icmp import IcmpHeader
from ..wire import icmpv6 as w6
from ..wire.icmpv6 import Icmp6Header
from ..wire.ipv4 import PROTO_ICMP

if TYPE_CHECKING:
    from ..core.ip4 import InPacket
    from ..core.ip6 import InPacket6
    from ..core.netif import Netif
    from ..core.raw import RawPcb
    from ..core.stack import Stack

__all__ = ["PingSession", "PingReply"]


@dataclass(slots=True)
class PingReply:
    """One answered request: ``rtt`` in seconds, ``size`` the ICMP payload bytes, ``ttl`` (hop limit) of the reply."""

    seq: int
    rtt: float
    size: int
    ttl: int
    src: IPv4Address | IPv6Address


class PingSession:
    """Ping ``target`` from ``stack`` (``esp_ping_new_session`` + ``esp_ping_start``)."""

    def __init__(self, stack: "Stack", target: str | IPv4Address | IPv6Address, *, count: int = 5,
                 interval: float = 1.0,
                 timeout: float = 1.0, size: int = 56, ttl: int | None = None, ident: int | None = None,
                 on_reply: Callable[[PingReply], None] | None = None,
                 on_timeout: Callable[[int], None] | None = None,
                 on_end: Callable[["PingSession"], None] | None = None) -> None:
        if not 8 <= size <= 65507:
            raise ValueError(f"size {size} is not 8..65507 bytes (the payload carries a timestamp; an IPv4 datagram "
                             "holds at most 65535 bytes)")
        self.stack = stack
        self.target = ip_address(target) if not isinstance(target, (IPv4Address, IPv6Address)) else target
        self._netif6: "Netif | None" = None
        if isinstance(self.target, IPv6Address) and self.target.scope_id:
            self._netif6 = stack.netif_by_name(self.target.scope_id)
            if self._netif6 is None:
                raise ValueError(f"no netif named {self.target.scope_id!r}")
            self.target = IPv6Address(self.target.packed)
        self.count, self.interval, self.timeout, self.size, self.ttl = count, interval, timeout, size, ttl
        self.ident = ident if ident is not None else stack.rng.randrange(1, 0x10000)
        self.on_reply, self.on_timeout, self.on_end = on_reply, on_timeout, on_end
        self.replies: list[PingReply] = []
        self.timeouts: list[int] = []
        self.errors: list[int] = []
        self.sent = 0
        self.done = False
        self._outstanding: dict[int, float] = {}
        self._next_send: float | None = stack.now
        self._pcb: RawPcb | None = None
        if self.target.version == 4:
            self._pcb = stack.raw.new(PROTO_ICMP)
            self._pcb.on_recv = self._on_packet
        else:
            stack.icmp6.echo_handlers.append(self._on_echo6)
        stack.add_poller(self)

    # -- poller ------------------------------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        for seq, sent_at in list(self._outstanding.items()):
            if now >= sent_at + self.timeout:
                del self._outstanding[seq]
                self.timeouts.append(seq)
                if self.on_timeout is not None:
                    self.on_timeout(seq)
        if self._next_send is not None and now >= self._next_send:
            self._send(now)
        if self._next_send is None and not self._outstanding:
            self._finish()

    def poll_at(self) -> float | None:
        if self.done:
            return None
        times = [t + self.timeout for t in self._outstanding.values()]
        if self._next_send is not None:
            times.append(self._next_send)
        return min(times) if times else self.stack.now

    def _send(self, now: float) -> None:
        seq = (self.sent + 1) & 0xFFFF
        self.sent += 1
        payload = bytearray(w.HEADER_LEN + self.size)
        struct.pack_into("!d", payload, w.HEADER_LEN, now)
        for i in range(w.HEADER_LEN + 8, len(payload)):
            payload[i] = i & 0xFF
        try:
            if self._pcb is not None:
                IcmpHeader.echo(w.ECHO_REQUEST, self.ident, seq).emit(payload, 0, self.size)
                self._pcb.ttl = self.ttl
                assert isinstance(self.target, IPv4Address)
                self._pcb.sendto(payload, self.target)
            else:
                self._send6(payload, seq)
            self._outstanding[seq] = now
        except LwipError as e:
            self.errors.append(e.errno or 0)
            self.timeouts.append(seq)
            if self.on_timeout is not None:
                self.on_timeout(seq)
        more = self.count == 0 or self.sent < self.count
        self._next_send = now + self.interval if more else None

    def _send6(self, payload: bytearray, seq: int) -> None:
        from ..core.pbuf import Pbuf
        ip6 = self.stack.ip6
        dst = self.target.packed
        via = ip6.route(dst, self._netif6)
        netif = via[0]
        src = ip6.select_source(netif, dst)
        if src is None:
            raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} has no usable IPv6 address")
        Icmp6Header.echo(w6.ECHO_REQUEST, self.ident, seq).emit(payload, 0, self.size, src, dst)
        ip6.output(Pbuf.with_payload(payload), src, dst, w6.PROTO_ICMPV6, hop_limit=self.ttl, via=via)
        self.stack._stats.icmp6.xmit += 1

    def _on_echo6(self, pkt: "InPacket6", hdr: Icmp6Header, data: memoryview) -> None:
        if hdr.ident == self.ident and pkt.src == self.target.packed:
            self._answered(hdr.seq, len(data), pkt.hdr.hop_limit)

    def _answered(self, seq: int, size: int, ttl: int) -> None:
        sent_at = self._outstanding.pop(seq, None)
        if sent_at is None:
            return  # late or duplicated: ours, but already counted
        reply = PingReply(seq, self.stack.now - sent_at, size, ttl, self.target)
        self.replies.append(reply)
        if self.on_reply is not None:
            self.on_reply(reply)

    def _on_packet(self, pcb: "RawPcb", pkt: "InPacket") -> bool:
        body = pkt.packet[pkt.hdr.header_len:]
        try:
            hdr, payload = IcmpHeader.parse(body)
        except Malformed:
            return False
        if hdr.type != w.ECHO_REPLY or hdr.ident != self.ident or pkt.src != self.target:
            return False
        self._answered(hdr.seq, len(payload), pkt.hdr.ttl)
        return True

    # -- control and results -----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """``esp_ping_stop``: send no more; outstanding requests still get their timeout."""
        self._next_send = None

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.stack.remove_poller(self)
        if self._pcb is not None:
            self._pcb.close()
        elif self._on_echo6 in self.stack.icmp6.echo_handlers:
            self.stack.icmp6.echo_handlers.remove(self._on_echo6)
        if self.on_end is not None:
            self.on_end(self)

    @property
    def received(self) -> int:
        return len(self.replies)

    def summary(self) -> str:
        """A line like ping(8)'s last two."""
        loss = 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0
        line = f"{self.sent} packets transmitted, {self.received} received, {loss:.0f}% packet loss"
        if self.replies:
            rtts = [r.rtt * 1000 for r in self.replies]
            line += (f"\nrtt min/avg/max/mdev = {min(rtts):.3f}/{statistics.fmean(rtts):.3f}/{max(rtts):.3f}/"
                     f"{statistics.pstdev(rtts):.3f} ms")
        return line
