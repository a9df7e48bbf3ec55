"""Answering queries: the records a question asks for, known-answer and duplicate suppression, NSEC, the
additional records of RFC 6763 12, unicast / multicast / legacy-unicast replies and their timing (RFC 6762 5-7)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...errors import LwipError
from ...wire import dns as w
from .packets import payload_limit, split_message
from .records import LEGACY_TTL, RecordsMixin, _key

if TYPE_CHECKING:
    from ...core.netif import Netif
    from ...core.udp import Datagram, UdpPcb

log = logging.getLogger("lwipy.mdns")


class AnswerMixin(RecordsMixin):
    """Responses (a part of :class:`~lwipy.apps.mdns.MdnsResponder`)."""

    counters: dict[str, int]
    pcb: "UdpPcb"
    _pending: list[tuple[float, "Netif", Any, int, w.DnsMessage]]
    _last_multicast: dict[tuple[int, int, tuple[str, int, Any]], float]

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
            ip6 = dst.version == 6
            limit = payload_limit(netif.mtu6 if ip6 else netif.mtu, ip6)
            for data in split_message(msg, limit, legacy=port != w.MDNS_PORT):
                self.pcb.sendto_netif(data, dst, port, netif)
                self.counters["sent"] += 1
        except LwipError as e:
            log.debug("%s: mDNS packet to %s on %s not sent: %s", self.stack.name, dst, netif.name, e)

