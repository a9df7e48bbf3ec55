"""lwIP-style protocol counters (``LWIP_STATS``), one :class:`ProtoStats` per protocol.

The field names are lwIP's ``struct stats_proto``: ``xmit`` and ``recv`` count packets, ``fw`` forwarded, ``drop`` dropped
for any reason, and the error fields say why (``chkerr`` checksum, ``lenerr`` length, ``memerr`` out of memory or a queue
full, ``rterr`` no route, ``proterr`` protocol error, ``opterr`` bad option, ``err`` anything else).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ProtoStats", "IgmpStats", "TcpStats", "Stats"]


@dataclass(slots=True)
class ProtoStats:
    """Counters of one protocol, as lwIP's ``struct stats_proto``."""

    xmit: int = 0
    recv: int = 0
    fw: int = 0
    drop: int = 0
    chkerr: int = 0
    lenerr: int = 0
    memerr: int = 0
    rterr: int = 0
    proterr: int = 0
    opterr: int = 0
    err: int = 0
    cachehit: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class IgmpStats(ProtoStats):
    """IGMP adds lwIP's ``struct stats_igmp`` message counters."""

    rx_v1: int = 0
    rx_group: int = 0
    rx_general: int = 0
    rx_report: int = 0
    tx_join: int = 0
    tx_leave: int = 0
    tx_report: int = 0


@dataclass(slots=True)
class TcpStats(ProtoStats):
    """TCP adds lwipy's own counters: ``rexmit``, segments sent again after a timeout (MIB-II's tcpRetransSegs);
    ``ack_skipped``, ACKs not sent in reply to unacceptable segments or as challenges because of the rate limits
    (Linux's TCPACKSkipped* and TCPChallengeACK limits); ``listen_drop``, SYNs dropped by a listener whose backlog
    or the pcb table was full (Linux's ListenDrops); ``half_open_evicted``, half-open connections a full backlog gave
    up to a new SYN; ``syn_rcvd_timeout``, half-open connections given up after ``tcp_syn_rcvd_timeout``;
    ``tx_refused``, segments a full device queue refused and that stayed queued."""

    rexmit: int = 0
    ack_skipped: int = 0
    listen_drop: int = 0
    half_open_evicted: int = 0
    syn_rcvd_timeout: int = 0
    tx_refused: int = 0


@dataclass(slots=True)
class Stats:
    """All counters of one :class:`~lwipy.Stack`: ``stack.stats.ip.drop`` and so on."""

    link: ProtoStats = field(default_factory=ProtoStats)
    etharp: ProtoStats = field(default_factory=ProtoStats)
    ip_frag: ProtoStats = field(default_factory=ProtoStats)
    ip: ProtoStats = field(default_factory=ProtoStats)
    icmp: ProtoStats = field(default_factory=ProtoStats)
    igmp: IgmpStats = field(default_factory=IgmpStats)
    udp: ProtoStats = field(default_factory=ProtoStats)
    tcp: TcpStats = field(default_factory=TcpStats)
    raw: ProtoStats = field(default_factory=ProtoStats)
    ip6_frag: ProtoStats = field(default_factory=ProtoStats)
    ip6: ProtoStats = field(default_factory=ProtoStats)
    icmp6: ProtoStats = field(default_factory=ProtoStats)
    nd6: ProtoStats = field(default_factory=ProtoStats)
    mld6: ProtoStats = field(default_factory=ProtoStats)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {f.name: getattr(self, f.name).as_dict() for f in fields(self)}

    def link_refused(self, proto: ProtoStats | None = None) -> None:
        """A frame the link refused (a full queue, the link down): ``link.memerr`` and ``link.drop``, as lwIP counts
        a failed ``linkoutput``, and ``proto.err`` for the protocol whose frame it was, when given (the fast paths
        that write without ``Netif.linkoutput`` count their refusals here too)."""
        self.link.memerr += 1
        self.link.drop += 1
        if proto is not None:
            proto.err += 1

    def format(self, mem: Any = None) -> str:
        """A table like lwIP's ``stats_display()``: one row per protocol, only the non-zero counters; with ``mem``
        (``stack.mem``) lwIP's MEM and MEMP rows follow, in bytes as an ESP32 would hold them (current, peak)."""
        lines = []
        for proto, counters in self.as_dict().items():
            shown = " ".join(f"{k}={v}" for k, v in counters.items() if v)
            lines.append(f"{proto:8} {shown or '-'}")
        if mem is not None:
            lines.append(mem.format())
        return "\n".join(lines)
