"""Probing, announcing, goodbyes and conflicts of the responder's unique names (RFC 6762 8, 9, 10.1).

Each unique name is an owner going ``probing -> announcing -> running``; a conflict renames it
(``_mdns_mangle_name``) and probes again.  See :mod:`lwipy.apps.mdns` for the theory of operation."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ...wire import dns as w
from .records import (_ANNOUNCING, _PROBING, _RUNNING, ANNOUNCE_COUNT, CONFLICT_LIMIT, CONFLICT_WAIT, CONFLICT_WINDOW,
                      PROBE_COUNT, PROBE_WAIT, TIEBREAK_DEFER, RecordsMixin, _key, _Owner, mangle_name)

if TYPE_CHECKING:
    from ...core.netif import Netif

log = logging.getLogger("lwipy.mdns")


class ProbeMixin(RecordsMixin):
    """Owners' state machine (a part of :class:`~lwipy.apps.mdns.MdnsResponder`)."""

    counters: dict[str, int]
    on_renamed: Callable[[str, str], None] | None
    _conflict_times: list[float]

    if TYPE_CHECKING:  # provided by the other parts of MdnsResponder
        def _destinations(self, netif: "Netif") -> list[Any]:
            ...

        def _send(self, msg: w.DnsMessage, netif: "Netif", dst: Any, port: int) -> None:
            ...

        def _note_multicast(self, netif: "Netif", dst: Any, records: list[w.Record]) -> None:
            ...

    def _restart(self, owner: _Owner, delay: float | None = None) -> None:
        now = self.stack.now
        if delay is None:
            self._conflict_times = [t for t in self._conflict_times if now - t < CONFLICT_WINDOW]
            delay = CONFLICT_WAIT if len(self._conflict_times) >= CONFLICT_LIMIT else \
                self.stack.rng.uniform(0, PROBE_WAIT)
        owner.state, owner.count, owner.next_at = _PROBING, 0, now + delay

    def _reannounce(self, owner: _Owner) -> None:
        if owner.state != _PROBING:
            owner.state, owner.count, owner.next_at = _ANNOUNCING, 0, self.stack.now

    def _host_changed(self) -> None:
        for o in self._owners:
            if o.service is None or (o.service.instance is None and self.instance is None):
                self._restart(o)  # the host name, or an instance named after it: a new name to probe
            else:
                self._reannounce(o)  # the SRV's target changed

    def _run_owners(self, now: float) -> None:
        """Probes and announcements due now."""
        for o in list(self._owners):
            if o.next_at is None or o.next_at > now:
                continue
            if o.state == _PROBING:
                if o.count < PROBE_COUNT:
                    self._send_probe(o)
                    o.count += 1
                    o.next_at = now + PROBE_WAIT
                else:
                    o.state, o.count = _ANNOUNCING, 0
            if o.state == _ANNOUNCING:
                if o.count < ANNOUNCE_COUNT:
                    self._announce(o)
                    o.count += 1
                    o.next_at = now + (2 ** (o.count - 1))  # 1 s, then 2 s (RFC 6762 8.3: doubling)
                    if o.count == ANNOUNCE_COUNT:
                        o.state, o.next_at = _RUNNING, None
            elif o.state == _RUNNING:
                o.next_at = None

    def _send_probe(self, owner: _Owner) -> None:
        name = self._owner_name(owner)
        qclass = w.CLASS_IN | (w.UNICAST_RESPONSE if owner.count == 0 else 0)
        for netif in self.netifs:
            dests = self._destinations(netif)
            if not dests:
                continue
            auth = [r for r, unique in self._records(owner, netif) if unique and w.names_equal(r.name, name)]
            msg = w.DnsMessage(0, 0, [w.Question(name, w.ANY, qclass)], [], auth)
            for dst in dests:
                self._send(msg, netif, dst, w.MDNS_PORT)

    def _announce(self, owner: _Owner) -> None:
        for netif in self.netifs:
            records = [r for r, _ in self._records(owner, netif)]
            msg = w.DnsMessage(0, w.QR | w.AA, [], records)
            for dst in self._destinations(netif):
                self._send(msg, netif, dst, w.MDNS_PORT)
                self._note_multicast(netif, dst, records)

    def _goodbye(self, owners: Iterable[_Owner], only: Callable[[w.Record], bool] | None = None) -> None:
        """RFC 6762 10.1: the records announced (those ``only`` keeps), again with TTL 0."""
        owners = list(owners)
        for netif in self.netifs:
            records = [w.Record(r.name, r.rtype, r.rclass, 0, r.data) for o in owners if o.state != _PROBING
                       for r, _ in self._records(o, netif) if only is None or only(r)]
            if not records:
                continue
            msg = w.DnsMessage(0, w.QR | w.AA, [], records)
            for dst in self._destinations(netif):
                self._send(msg, netif, dst, w.MDNS_PORT)

    def _conflict(self, owner: _Owner) -> None:
        """Our name is taken: rename (``_mdns_mangle_name``) and probe the new name."""
        self.counters["conflicts"] += 1
        self._conflict_times.append(self.stack.now)
        if owner.service is None:
            old = self.hostname
            self.hostname = mangle_name(old)
            self._host_changed()
        else:
            old = self.instance_of(owner.service)
            owner.service.instance = mangle_name(old)
            self._restart(owner)
        new = self.hostname if owner.service is None else owner.service.instance
        log.info("%s: mDNS name conflict: %s renamed %s", self.stack.name, old, new)
        if self.on_renamed is not None and new is not None:
            self.on_renamed(old, new)

    def _ours(self, owner: _Owner) -> set[tuple[int, Any]]:
        return {(r.rtype, _key(r)[2]) for r, _ in self._records(owner, None)}

    def _check_response(self, msg: w.DnsMessage) -> None:
        for owner in list(self._owners):
            if owner not in self._owners:
                continue
            name = self._owner_name(owner)
            ours = None
            for r in (*msg.answers, *msg.additionals):
                if (r.rclass & 0x7FFF) != w.CLASS_IN or not w.names_equal(r.name, name):
                    continue
                ours = self._ours(owner) if ours is None else ours
                if (r.rtype, _key(r)[2]) in ours:
                    continue
                if r.rtype not in (w.A, w.AAAA, w.SRV, w.TXT, w.NSEC) and owner.state != _PROBING:
                    continue
                if r.ttl == 0:
                    continue  # someone's goodbye
                if owner.state == _PROBING:
                    self._conflict(owner)
                else:
                    self._restart(owner)  # RFC 6762 9: probe again; the probes find the conflict
                break

    def _check_probes(self, msg: w.DnsMessage) -> None:
        """RFC 6762 8.2: a probe for a name we are probing too; the lexicographically later records win."""
        if not msg.authorities:
            return
        for owner in self._owners:
            if owner.state != _PROBING or owner.count == 0:
                continue
            name = self._owner_name(owner)
            if not any(w.names_equal(q.name, name) for q in msg.questions):
                continue
            theirs = sorted((r.rclass & 0x7FFF, r.rtype, w.rdata_bytes(r)) for r in msg.authorities
                            if w.names_equal(r.name, name))
            if not theirs:
                continue
            mine = sorted((r.rclass & 0x7FFF, r.rtype, w.rdata_bytes(r)) for r, unique in self._records(owner, None)
                          if unique and w.names_equal(r.name, name))
            if mine < theirs:
                self._restart(owner, TIEBREAK_DEFER)

