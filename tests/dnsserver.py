"""A tiny authoritative DNS server on an lwipy stack (a UDP pcb on port 53), for the resolver's in-process tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from lwipy.wire import dns as w


@dataclass
class TinyDns:
    """Answers from ``zone`` (name -> list of (rtype, data, ttl)); names in ``nxdomain`` get NXDOMAIN, in
    ``servfail`` SERVFAIL; ``silent`` drops every query.  ``queries`` records (time, source, port, message)."""

    stack: Any
    port: int = w.PORT
    zone: dict[str, list[tuple[int, Any, int]]] = field(default_factory=dict)
    nxdomain: set[str] = field(default_factory=set)
    servfail: set[str] = field(default_factory=set)
    silent: bool = False
    queries: list[tuple[float, Any, int, w.DnsMessage]] = field(default_factory=list)
    group: str | None = None

    def __post_init__(self) -> None:
        self.pcb = self.stack.udp.new(ip6=True)
        self.pcb.bind("::", self.port)
        if self.group is not None:
            self.pcb.join_group(ip_address(self.group))
        self.pcb.on_recv = self._recv

    def add(self, name: str, rtype: int, data: Any, ttl: int = 300) -> None:
        if rtype == w.A:
            data = IPv4Address(data)
        elif rtype == w.AAAA:
            data = IPv6Address(data)
        self.zone.setdefault(name, []).append((rtype, data, ttl))

    def answer_for(self, msg: w.DnsMessage) -> w.DnsMessage:
        q = msg.questions[0]
        flags = w.QR | w.AA | (msg.flags & w.RD)
        if q.name in self.nxdomain:
            return w.DnsMessage(msg.id, flags | w.NXDOMAIN, [q])
        if q.name in self.servfail:
            return w.DnsMessage(msg.id, flags | w.SERVFAIL, [q])
        answers = []
        name = q.name
        for _ in range(10):
            records = self.zone.get(name, [])
            answers += [w.Record(name, t, 1, ttl, d) for t, d, ttl in records if t == q.qtype]
            alias = next(((d, ttl) for t, d, ttl in records if t == w.CNAME), None)
            if alias is None or any(t == q.qtype for t, _, _ in records):
                break
            answers.append(w.Record(name, w.CNAME, 1, alias[1], alias[0]))
            name = alias[0]
        return w.DnsMessage(msg.id, flags, [q], answers)

    def _recv(self, pcb: Any, dgram: Any) -> None:
        msg = w.DnsMessage.parse(dgram.data)
        self.queries.append((self.stack.now, dgram.src, dgram.src_port, msg))
        if self.silent:
            return
        reply = self.answer_for(msg)
        pcb.sendto(reply.emit(), dgram.src, dgram.src_port)
