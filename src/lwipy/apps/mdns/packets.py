"""An mDNS message too large for the link cut into several packets instead of IP fragments (RFC 6762 17: "a
Multicast DNS packet ... MUST NOT exceed [the] MTU"; 18.5; 7.2).

- A response is sent as several responses: its answers, then its additional records, packed in order into as
  many packets as they need (each packet a complete response a cache may take on its own).
- A query (a probe, or a question with its known answers) keeps its questions and authority records in the first
  packet; the known answers that do not fit follow in packets without questions, each but the last with the TC bit
  set, so the responder waits for the rest (RFC 6762 7.2: "the querier ... MUST set the TC bit in the header of all
  but the last packet").
- A legacy unicast response (to a resolver's own port, RFC 6762 6.7) is truncated as unicast DNS is: what fits, with
  TC set (RFC 1035 4.1.1); the resolver may ask again over TCP, which mDNS does not offer.

A single record larger than the limit still goes alone in its own (fragmented) packet.
"""

from __future__ import annotations

from ...wire import dns as w

__all__ = ["split_message", "payload_limit"]

_UDP = 8


def payload_limit(mtu: int, ip6: bool) -> int:
    """The DNS bytes that fit one IP packet of ``mtu`` bytes (9000 at most, RFC 6762 17)."""
    return min(mtu, 9000) - (40 if ip6 else 20) - _UDP


def split_message(msg: w.DnsMessage, limit: int, legacy: bool = False) -> list[bytes]:
    """``msg`` emitted as one packet when it fits ``limit`` bytes, else as the packets described above."""
    data = msg.emit()
    if len(data) <= limit:
        return [data]
    if msg.is_response:
        first = w.DnsMessage(msg.id, msg.flags, list(msg.questions), [], list(msg.authorities))
        packets = _pack(first, [("answers", r) for r in msg.answers] + [("additionals", r) for r in msg.additionals],
                        lambda: w.DnsMessage(msg.id, msg.flags, list(msg.questions) if legacy else []), limit)
        if legacy:
            packets[0].flags |= w.TC
            packets = packets[:1]
    else:
        first = w.DnsMessage(msg.id, msg.flags, list(msg.questions), [], list(msg.authorities))
        packets = _pack(first, [("answers", r) for r in msg.answers],
                        lambda: w.DnsMessage(msg.id, msg.flags & ~w.TC), limit)
        for p in packets[:-1]:
            p.flags |= w.TC
    return [p.emit() for p in packets]


def _pack(first: w.DnsMessage, records: list[tuple[str, w.Record]], new, limit: int) -> list[w.DnsMessage]:
    out = [first]
    placed = 1 if first.questions or first.authorities else 0  # what the current packet holds besides the header
    for section, r in records:
        cur = out[-1]
        getattr(cur, section).append(r)
        if placed and len(cur.emit()) > limit:
            getattr(cur, section).pop()
            cur = new()
            getattr(cur, section).append(r)
            out.append(cur)
            placed = 0
        placed += 1
    return out
