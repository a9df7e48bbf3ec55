"""IPv4 fragmentation on send and reassembly on receive (RFC 791 section 3.2, RFC 815).

Reassembly holds at most ``ip_reass_max_pbufs`` fragments across all datagrams (lwIP's ``IP_REASS_MAX_PBUFS``); a new
fragment that does not fit evicts the oldest other datagram, as lwIP's ``ip_reass_remove_oldest_datagram`` does.  A
datagram that is not complete ``ip_reass_maxage`` seconds after its first fragment is dropped, with an ICMP time
exceeded (code 1) when its first fragment had arrived (RFC 792).  Exact duplicates (a duplicating link) are ignored; a
fragment that partly overlaps another drops the whole datagram, in the spirit of RFC 5722: overlaps are only ever made
by attackers.  A datagram that would end beyond 65,535 bytes is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..wire.ipv4 import MIN_HEADER_LEN, Ipv4Header
from .mem import REASS
from .pbuf import HEADROOM, Pbuf

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["Reassembly", "fragment"]

_MAX_DATAGRAM = 65535


@dataclass(slots=True, eq=False)
class _Datagram:
    key: tuple
    netif: "Netif"
    deadline: float
    first: Any = None  # what the family's layer keeps of fragment 0 (to rebuild the header)
    on_timeout: Callable[[], None] | None = None  # the time exceeded to send, once fragment 0 arrived
    first_len: int = 0  # the header length of fragment 0, which the whole datagram will have
    total: int | None = None  # payload length, known once the last fragment arrived
    have: int = 0
    frags: dict[int, bytes] = field(default_factory=dict)  # offset -> payload
    mem: int = 0  # bytes counted in the stack's memory (ip_reassdata and the fragments' pbufs)


class Reassembly:
    """Fragments waiting to become datagrams, for one stack and one IP version (``stats`` are its counters:
    ``ip_frag`` or ``ip6_frag``).  :meth:`add` is family-neutral; :meth:`input` is IPv4's."""

    def __init__(self, stack: "Stack", stats: Any = None, maxage: Callable[[], float] | None = None) -> None:
        self.stack = stack
        self.stats = stats if stats is not None else stack._stats.ip_frag
        self._maxage = maxage or (lambda: stack.config.ip_reass_maxage)
        self.pending: dict[tuple, _Datagram] = {}
        self.held = 0

    def input(self, netif: "Netif", hdr: Ipv4Header, payload: memoryview, packet: memoryview, unicast: bool = True
              ) -> tuple[Ipv4Header, bytearray] | None:
        """Take one IPv4 fragment; return the reassembled (header, whole packet) when it completes the datagram."""
        key = (hdr.src, hdr.dst, hdr.ident, hdr.proto)
        first = None
        timeout = None
        if hdr.frag_offset == 0:
            first = hdr
            if unicast:  # RFC 1122 3.2.2: no time exceeded about a broadcast or multicast
                first_packet = bytes(packet[:hdr.header_len + 8])
                timeout = lambda: self.stack.icmp.time_exceeded_reassembly(netif, hdr, first_packet)  # noqa: E731
        done = self.add(key, netif, hdr.frag_offset, payload, hdr.more_fragments, hdr.header_len, first, timeout)
        if done is None:
            return None
        first_hdr, data = done
        # fragment zero's header with the flags and offset cleared, as lwIP's ip4_reass gives it (an echo reply
        # sends it back: no DF, no reserved flag)
        whole = Ipv4Header(first_hdr.src, first_hdr.dst, first_hdr.proto, first_hdr.ttl, first_hdr.tos,
                           first_hdr.ident, False, False, 0, first_hdr.header_len + len(data), first_hdr.options)
        out = bytearray(whole.total_len)
        whole.emit(out, 0)
        out[whole.header_len:] = data
        return whole, out

    def add(self, key: tuple, netif: "Netif", start: int, payload: memoryview, more: bool, header_len: int,
            first: Any, on_timeout: Callable[[], None] | None) -> tuple[Any, bytearray] | None:
        """Take one fragment of the datagram ``key`` (``first`` and ``on_timeout`` given with fragment 0); return
        (``first``, the payload in order) when it completes the datagram."""
        stats = self.stats
        stats.recv += 1
        size = len(payload)
        end = start + size
        if end + header_len > _MAX_DATAGRAM or (more and (size == 0 or size & 7)):
            stats.lenerr += 1
            stats.drop += 1
            self._discard(self.pending.get(key))
            return None
        dgram = self.pending.get(key)
        if dgram is None:
            if not self._make_room(1, None):
                stats.memerr += 1
                stats.drop += 1
                return None
            dgram = _Datagram(key, netif, self.stack.now + self._maxage())
            self.stack.timer_armed(dgram.deadline)
            self.pending[key] = dgram
            mem = self.stack.mem
            dgram.mem = mem.sizes.ip_reassdata  # memp_malloc(MEMP_REASSDATA)
            mem.alloc(REASS, dgram.mem)
        if start in dgram.frags and len(dgram.frags[start]) == size:
            stats.drop += 1  # an exact duplicate
            return None
        if self._overlaps(dgram, start, end) or (dgram.total is not None and end > dgram.total) or (
                not more and (dgram.total is not None and dgram.total != end
                              or any(o + len(d) > end for o, d in dgram.frags.items()))):
            stats.proterr += 1
            stats.drop += 1
            self._discard(dgram)
            return None
        if not self._make_room(1, dgram):
            stats.memerr += 1
            stats.drop += 1
            return None
        dgram.frags[start] = bytes(payload)
        dgram.have += size
        self.held += 1
        mem = self.stack.mem
        counted = mem.sizes.pbuf + 14 + header_len + size  # the fragment's frame stays in its pbuf
        dgram.mem += counted
        mem.alloc(REASS, counted, 0)
        if start == 0:
            dgram.first, dgram.on_timeout, dgram.first_len = first, on_timeout, header_len
        if not more:
            dgram.total = end
        if dgram.total is None or dgram.have != dgram.total:
            return None
        self._discard(dgram)
        if dgram.first_len + dgram.total > _MAX_DATAGRAM:
            # each fragment was checked against its own header; the first one's (with options) may be longer
            stats.lenerr += 1
            stats.drop += 1
            return None
        out = bytearray(dgram.total)
        for offset, chunk in dgram.frags.items():
            out[offset:offset + len(chunk)] = chunk
        return dgram.first, out

    @staticmethod
    def _overlaps(dgram: _Datagram, start: int, end: int) -> bool:
        for offset, data in dgram.frags.items():
            if start < offset + len(data) and offset < end:
                return True
        return False

    def _make_room(self, n: int, keep: _Datagram | None) -> bool:
        limit = self.stack.config.ip_reass_max_pbufs
        while self.held + n > limit:
            others = [d for d in self.pending.values() if d is not keep and d.frags]
            if not others:
                return False
            oldest = min(others, key=lambda d: d.deadline)
            self.stats.drop += 1
            self._discard(oldest)
        return True

    def _discard(self, dgram: _Datagram | None) -> None:
        if dgram is None or self.pending.get(dgram.key) is not dgram:
            return
        del self.pending[dgram.key]
        self.held -= len(dgram.frags)
        self.stack.mem.free(REASS, dgram.mem)

    def poll(self, now: float) -> None:
        for dgram in [d for d in self.pending.values() if now >= d.deadline]:
            self.stats.drop += 1
            self._discard(dgram)
            if dgram.on_timeout is not None:
                dgram.on_timeout()

    def poll_at(self) -> float | None:
        if not self.pending:
            return None  # the common case: nothing being reassembled
        return min(d.deadline for d in self.pending.values())


def _copied_options(options: bytes) -> bytes:
    """The options that RFC 791 says go into every fragment: those with the copied flag (0x80) set."""
    out = bytearray()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = options[i + 1] if i + 1 < len(options) else 2
        if kind & 0x80:
            out += options[i:i + length]
        i += max(length, 2)
    out += bytes(-len(out) % 4)
    return bytes(out)


def fragment(hdr: Ipv4Header, payload: memoryview, mtu: int) -> Iterator[Pbuf]:
    """Split a datagram (``hdr`` with ``total_len`` unset and the ``payload``) into packets that fit ``mtu``."""
    later_options = _copied_options(hdr.options)
    offset = 0
    total = len(payload)
    while offset < total:
        options = hdr.options if offset == 0 else later_options
        room = (mtu - MIN_HEADER_LEN - len(options)) & ~7
        size = min(room, total - offset)
        last = offset + size >= total
        part = Ipv4Header(hdr.src, hdr.dst, hdr.proto, hdr.ttl, hdr.tos, hdr.ident, hdr.dont_fragment,
                          hdr.more_fragments or not last, hdr.frag_offset + offset,
                          MIN_HEADER_LEN + len(options) + size, options)
        pbuf = Pbuf.alloc(part.total_len, HEADROOM)
        part.emit(pbuf.buf, pbuf.start)
        body = pbuf.start + part.header_len
        pbuf.buf[body:body + size] = payload[offset:offset + size]
        yield pbuf
        offset += size
