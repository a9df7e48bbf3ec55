"""iperf, compatible on the wire with iperf 2 as ESP-IDF's iperf example is: TCP and UDP, client and server.

::

    server = IperfServer(stack, IperfConfig(udp=True, interval=1.0), on_event=print)
    client = IperfClient(stack, IperfConfig(host="10.0.0.1", time=10, interval=1, parallel=2), on_event=print)
    sim.run_until(lambda: client.done)

Theory of operation
-------------------
Both are sans-I/O machines on the stack's pcbs, driven by pcb events and by ``poll``/``poll_at`` (a poller of the
stack); they hand their results to ``on_event`` as :class:`IperfConnected` and :class:`IperfReport` (interval reports
every ``interval`` seconds of a stream, a final one at its end, "[SUM]" ones over parallel streams, and on a UDP
client the server's report).

- TCP client: ``parallel`` connections; each, once connected, writes ``length``-byte buffers as fast as its send
  buffer takes them, for ``time`` seconds (or until ``amount`` bytes), then closes.  The byte counts are what the
  connection took (iperf counts its ``write`` calls).  The payload is zeros: the first word (``flags``) 0 tells an
  iperf 2 server that no test header follows.
- TCP server: counts what each connection delivers until the peer closes.  A client whose stream starts with
  settings asking for a test back (``iperf -r``, ``-d``: :class:`~lwipy.wire.iperf.ClientHeader` with
  ``HEADER_VERSION1``) gets one, as iperf 2's server and lwIP's lwiperf give it: a TCP client of ours connects to
  the client's address at the port it named, at once (``-d``) or once its test is over (``-r``), and sends for the
  time or amount it asked; its reports go to the server's ``on_event`` (``answer_tests=False`` declines).
- UDP client: ``length``-byte datagrams at ``bandwidth`` bits/s, each starting with ``struct UDP_datagram``
  (:mod:`lwipy.wire.iperf`: sequence number from 0, send time); at the end a FIN (the sequence number negated),
  repeated every 250 ms up to 10 times until the server's report (:class:`~lwipy.wire.iperf.ServerReport`) comes
  back, as iperf 2's ``Client::FinishTrafficActions`` does.
- UDP server: per sender, counts datagrams and bytes, losses (gaps in the sequence numbers; a late datagram is
  counted out of order and no longer lost), and the RFC 1889 interarrival jitter (J += (|D| - J) / 16, where D is the
  change of transit time between consecutive datagrams); answers each FIN with its report.

Times: ``epoch`` is the wall-clock time (seconds since 1970) at the stack's time 0; the UDP timestamps are
``epoch + now`` (only their differences matter to the jitter).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LwipError, Malformed
from ..wire.iperf import CLIENT_HEADER_LEN, UDP_DATAGRAM_LEN, ClientHeader, ServerReport, UdpDatagram

if TYPE_CHECKING:
    from ..core.stack import Stack
    from ..core.tcp.pcb import TcpListener, TcpPcb
    from ..core.udp import Datagram, UdpPcb

__all__ = ["IperfConfig", "IperfConnected", "IperfReport", "IperfClient", "IperfServer", "IPERF_DEFAULT_PORT"]

IPERF_DEFAULT_PORT = 5001
FIN_RETRY_INTERVAL = 0.25  # iperf 2: the client waits 250 ms for the server's report...
FIN_RETRIES = 10  # ... and sends the FIN at most 10 times
UDP_BURST = 64  # datagrams sent per poll at most (then input is handled before the rest)
SUM = -1  # the stream id of a "[SUM]" report


@dataclass(frozen=True, slots=True)
class IperfConfig:
    """What iperf 2's options say (see ``lwipy iperf --help``)."""

    #: ``-c``: the server to test against (a client); None for a server
    host: str | IPv4Address | IPv6Address | None = None
    #: ``-p``
    port: int = IPERF_DEFAULT_PORT
    #: ``-u``
    udp: bool = False
    #: ``-t``: seconds to send
    time: float = 10.0
    #: ``-n``: bytes to send instead of a time (None: by time)
    amount: int | None = None
    #: ``-i``: seconds between interval reports (0: none)
    interval: float = 0.0
    #: ``-l``: bytes per write or datagram (None: iperf 2's 128 KiB for TCP, 1470 for UDP, 1450 over IPv6)
    length: int | None = None
    #: ``-b``: UDP bits per second (iperf 2's default is 1 Mbit/s)
    bandwidth: float = 1_000_000.0
    #: ``-P``: parallel streams
    parallel: int = 1
    #: wall-clock seconds at the stack's time 0 (the UDP timestamps)
    epoch: float = 0.0
    #: a TCP server tests back when a client's settings ask (``iperf -r`` / ``-d``)
    answer_tests: bool = True

    def buffer_len(self, v6: bool) -> int:
        if self.length is not None:
            return self.length
        return (1450 if v6 else 1470) if self.udp else 128 * 1024


@dataclass(frozen=True, slots=True)
class IperfConnected:
    """``[  1] local ADDR port P connected with ADDR port P``."""

    stream: int
    local: tuple[IPv4Address | IPv6Address, int]
    peer: tuple[IPv4Address | IPv6Address, int]
    udp: bool


@dataclass(frozen=True, slots=True)
class IperfReport:
    """One line of iperf's report: ``stream`` (``SUM``: over the parallel streams), ``start``-``end`` seconds from the
    stream's start, ``bytes``; receivers of UDP also ``jitter`` (s), ``lost``, ``total``, ``outorder``; a UDP
    client's final report gives ``sent`` datagrams; ``server_report`` marks the server's report a client got."""

    stream: int
    start: float
    end: float
    bytes: int
    final: bool = False
    udp: bool = False
    receiver: bool = False
    jitter: float | None = None
    lost: int | None = None
    total: int | None = None
    outorder: int | None = None
    sent: int | None = None
    server_report: bool = False

    @property
    def bits_per_second(self) -> float:
        span = self.end - self.start
        return self.bytes * 8 / span if span > 0 else 0.0


Handler = Callable[[Any], None]


@dataclass
class _Stream:
    """What one stream has counted, and its interval bookkeeping."""

    ident: int
    start: float
    bytes: int = 0
    last_bytes: int = 0  # at the last interval report
    next_report: float | None = None
    done: bool = False
    # UDP receiver
    datagrams: int = 0
    last_datagrams: int = 0
    lost: int = 0
    last_lost: int = 0
    outorder: int = 0
    next_seq: int = 0
    jitter: float = 0.0
    transit: float | None = None
    last_arrival: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class _Reporter:
    """Interval reports for a set of streams (a poller's helper)."""

    def __init__(self, stack: "Stack", interval: float, on_event: Handler | None) -> None:
        self.stack = stack
        self.interval = interval
        self.on_event = on_event
        self.events: list[Any] = []

    def emit(self, event: Any) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def arm(self, s: _Stream) -> None:
        s.next_report = s.start + self.interval if self.interval > 0 else None

    def due(self, streams: list[_Stream], now: float, udp_rx: bool) -> None:
        for s in streams:
            while not s.done and s.next_report is not None and now >= s.next_report:
                end = s.next_report - s.start
                self.emit(_interval_report(s, end - self.interval, end, udp_rx))
                s.next_report += self.interval


def _interval_report(s: _Stream, start: float, end: float, udp_rx: bool, final: bool = False) -> IperfReport:
    if final:
        got, lost, dgrams = s.bytes, s.lost, s.datagrams
    else:
        got, lost, dgrams = s.bytes - s.last_bytes, s.lost - s.last_lost, s.datagrams - s.last_datagrams
        s.last_bytes, s.last_lost, s.last_datagrams = s.bytes, s.lost, s.datagrams
    start, end = round(start, 9), round(end, 9)
    if udp_rx:
        return IperfReport(s.ident, start, end, got, final, True, True, s.jitter, lost, dgrams + lost, s.outorder)
    return IperfReport(s.ident, start, end, got, final, udp=False)


def _sum(reports: list[IperfReport]) -> IperfReport:
    first = reports[0]
    return IperfReport(SUM, min(r.start for r in reports), max(r.end for r in reports), sum(r.bytes for r in reports),
                       first.final, first.udp,
                       sent=sum(r.sent for r in reports if r.sent is not None) if first.sent is not None else None)


# -- client -----------------------------------------------------------------------------------------------------------
class IperfClient:
    """An iperf 2 client on ``stack`` (``iperf -c``): ``parallel`` TCP connections or UDP flows to ``config.host``.
    ``done`` once every stream ended (and, for UDP, the server's report came or the FIN went unanswered);
    ``events`` holds what was given to ``on_event``."""

    def __init__(self, stack: "Stack", config: IperfConfig, on_event: Handler | None = None,
                 first_stream_id: int = 1) -> None:
        if config.host is None:
            raise ValueError("an iperf client needs a host (-c)")
        self.stack = stack
        self.config = config
        self.target = ip_address(config.host) if isinstance(config.host, str) else config.host
        self.length = config.buffer_len(self.target.version == 6)
        if self.length < (UDP_DATAGRAM_LEN if config.udp else 1):
            raise ValueError(f"-l {self.length}: a UDP datagram carries at least the {UDP_DATAGRAM_LEN}-byte header")
        self.reporter = _Reporter(stack, config.interval, on_event)
        self.events = self.reporter.events
        self.streams: list[_Stream] = []
        self.finals: list[IperfReport] = []
        self.server_reports: list[ServerReport] = []
        self.error: int = 0
        self._buf = memoryview(bytes(self.length))
        self._tcp: dict[int, TcpPcb] = {}
        self._udp: dict[int, UdpPcb] = {}
        self._sum_pending: dict[float, list[IperfReport]] = {}
        for i in range(config.parallel):
            ident = first_stream_id + i
            s = _Stream(ident, stack.now)
            self.streams.append(s)
            if config.udp:
                self._open_udp(s)
            else:
                self._open_tcp(s)
        stack.add_poller(self)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.streams)

    def _retire(self) -> None:
        """Leave the stack's pollers once every stream is over."""
        if self.done:
            self.stack.remove_poller(self)

    # -- TCP
    def _open_tcp(self, s: _Stream) -> None:
        pcb = self.stack.tcp.connect(self.target, self.config.port)
        s.extra["connected"] = False
        self._tcp[s.ident] = pcb
        pcb.on_event = lambda p, s=s: self._tcp_event(s, p)

    def _tcp_event(self, s: _Stream, pcb: "TcpPcb") -> None:
        if s.done:
            return
        if pcb.readable:
            pcb.recv()  # nothing is expected from the server: read and forget, so a close stays a close
        if pcb.error or pcb.state_name == "CLOSED":
            self.error = self.error or pcb.error or errno.ECONNRESET
            self._end_stream(s, self.stack.now)
            return
        if not s.extra["connected"]:
            if pcb.state_name != "ESTABLISHED":
                return
            s.extra["connected"] = True
            s.start = self.stack.now
            self.reporter.arm(s)
            s.extra["end_at"] = s.start + self.config.time
            self.reporter.emit(IperfConnected(s.ident, (pcb.local_ip, pcb.local_port),
                                              (pcb.remote_ip, pcb.remote_port), False))
        self._tcp_fill(s, pcb)

    def _tcp_fill(self, s: _Stream, pcb: "TcpPcb") -> None:
        amount = self.config.amount
        buf = self._buf
        try:
            while True:
                want = len(buf) if amount is None else min(len(buf), amount - s.bytes)
                if want <= 0:
                    self._end_stream(s, self.stack.now)
                    return
                took = pcb.send(buf[:want] if want < len(buf) else buf)
                s.bytes += took
                if took < want:
                    return  # tx3: the send buffer is full (a second send would take nothing: one call an ACK saved)
        except LwipError as e:
            self.error = self.error or e.errno or errno.EPIPE
            self._end_stream(s, self.stack.now)

    # -- UDP
    def _open_udp(self, s: _Stream) -> None:
        pcb = self.stack.udp.new(ip6=self.target.version == 6)
        pcb.bind(None, 0)
        pcb.connect(self.target, self.config.port)
        pcb.on_recv = lambda p, d, s=s: self._udp_recv(s, d)
        self._udp[s.ident] = pcb
        s.extra.update(next_send=self.stack.now, base=self.stack.now, end_at=self.stack.now + self.config.time, fin_sent=0,
                       fin_at=None, gap=self.length * 8 / self.config.bandwidth, sent=0, fin_seq=None)
        self.reporter.arm(s)
        self.reporter.emit(IperfConnected(s.ident, (self._source(), pcb.local_port), (self.target, self.config.port),
                                          True))

    def _source(self) -> IPv4Address | IPv6Address:
        """The address our datagrams leave from (the pcb is bound to any)."""
        stack, dst = self.stack, self.target
        try:
            if isinstance(dst, IPv6Address):
                netif, _ = stack.ip6.route(dst.packed)
                src = stack.ip6.select_source(netif, dst.packed)
                return IPv6Address(src) if src is not None else IPv6Address(0)
            found = stack.ip4.route_src(None, dst)
            if found is not None and found[0].ip4 is not None:
                return found[0].ip4.ip
        except LwipError:
            pass
        return IPv4Address(0) if isinstance(dst, IPv4Address) else IPv6Address(0)

    def _udp_send(self, s: _Stream, now: float) -> None:
        x = s.extra
        pcb = self._udp[s.ident]
        amount = self.config.amount
        out = bytearray(self._buf)
        for _ in range(UDP_BURST):
            if x["next_send"] > now:
                return
            if now >= x["end_at"] and amount is None or amount is not None and s.bytes >= amount:
                self._udp_finish_sending(s, now)
                return
            t = self.config.epoch + now
            sec = int(t)
            UdpDatagram(s.next_seq, sec, int((t - sec) * 1e6)).emit(out)
            try:
                pcb.send(out)
            except LwipError:
                x["next_send"] = now + 0.0005  # the link is full: try again soon
                return
            s.next_seq += 1
            s.bytes += len(out)
            x["sent"] += 1
            # datagram n leaves at base + n * gap (no sum of rounded gaps drifting past the end)
            x["next_send"] = x["base"] + x["sent"] * x["gap"]
            if x["next_send"] < now - 0.1:  # a stall is not made up for with an unbounded burst
                x["base"] += now - 0.1 - x["next_send"]
                x["next_send"] = now - 0.1

    def _udp_finish_sending(self, s: _Stream, now: float) -> None:
        x = s.extra
        x["fin_seq"] = s.next_seq
        x["fin_at"] = now
        x["sent_end"] = now
        self._final_report(s, now)
        self._send_fin(s, now)

    def _send_fin(self, s: _Stream, now: float) -> None:
        x = s.extra
        if x["fin_sent"] >= FIN_RETRIES:
            s.done = True  # "WARNING: did not receive ack of last datagram after 10 tries"
            self._udp[s.ident].close()
            self._retire()
            return
        out = bytearray(self._buf)
        t = self.config.epoch + now
        UdpDatagram(-x["fin_seq"], int(t), int((t - int(t)) * 1e6)).emit(out)
        try:
            self._udp[s.ident].send(out)
        except LwipError:
            pass
        x["fin_sent"] += 1
        x["fin_at"] = now + FIN_RETRY_INTERVAL

    def _udp_recv(self, s: _Stream, dgram: "Datagram") -> None:
        if s.done or s.extra.get("fin_seq") is None:
            return
        try:
            report = ServerReport.parse(dgram.data)
        except Malformed:
            return
        self.server_reports.append(report)
        s.done = True
        self._udp[s.ident].close()
        self._retire()
        self.reporter.emit(IperfReport(s.ident, 0.0, report.stop, report.bytes, True, True, True, report.jitter,
                                       report.errors, report.datagrams, report.outorder, server_report=True))

    # -- both
    def _final_report(self, s: _Stream, now: float) -> None:
        final = _interval_report(s, 0.0, now - s.start, False, final=True)
        if self.config.udp:
            final = IperfReport(final.stream, final.start, final.end, final.bytes, True, True,
                                sent=s.extra["sent"] + 1)  # iperf counts the FIN among the datagrams sent
        s.next_report = None
        self.finals.append(final)
        self.reporter.emit(final)
        if len(self.streams) > 1 and len(self.finals) == len(self.streams):
            for end in sorted(self._sum_pending):  # intervals some stream did not reach
                self.reporter.emit(_sum(self._sum_pending.pop(end)))
            self.reporter.emit(_sum(self.finals))

    def _end_stream(self, s: _Stream, now: float) -> None:
        if s.done:
            return
        if not s.extra.get("connected", True):  # refused or unreachable: iperf reports no figures, only the error
            s.done = True
            self._retire()
            return
        before = len(self.events)
        self.reporter.due([s], now, False)
        self._sum_intervals(self.events[before:])
        self._final_report(s, now)
        s.done = True
        pcb = self._tcp.get(s.ident)
        if pcb is not None and pcb.state_name != "CLOSED":
            pcb.close()
        self._retire()

    def poll_at(self) -> float | None:
        times = []
        for s in self.streams:
            if s.done:
                continue
            if s.next_report is not None:
                times.append(s.next_report)
            x = s.extra
            if self.config.udp:
                times.append(x["fin_at"] if x["fin_seq"] is not None else x["next_send"])
            elif x.get("end_at") is not None and self.config.amount is None:
                times.append(x["end_at"])
        return min(times) if times else None

    def poll(self, now: float) -> None:
        before = len(self.events)
        self.reporter.due(self.streams, now, False)
        self._sum_intervals(self.events[before:])
        for s in self.streams:
            if s.done:
                continue
            x = s.extra
            if self.config.udp:
                if x["fin_seq"] is None:
                    self._udp_send(s, now)
                elif now >= x["fin_at"]:
                    self._send_fin(s, now)
            elif x.get("end_at") is not None and self.config.amount is None and now >= x["end_at"]:
                self._end_stream(s, now)

    def _sum_intervals(self, new: list[Any]) -> None:
        """Add up the interval reports of the parallel streams: a "[SUM]" line once every stream reported one."""
        if len(self.streams) < 2:
            return
        for r in new:
            if isinstance(r, IperfReport) and not r.final and r.stream != SUM:
                group = self._sum_pending.setdefault(round(r.end, 6), [])
                group.append(r)
                if len(group) == len(self.streams):
                    self.reporter.emit(_sum(self._sum_pending.pop(round(r.end, 6))))

    def close(self) -> None:
        """Stop at once (Ctrl-C): every stream ends with its final report."""
        for s in self.streams:
            if not s.done:
                if self.config.udp:
                    self._final_report(s, self.stack.now)
                    s.done = True
                    self._udp[s.ident].close()
                else:
                    self._end_stream(s, self.stack.now)
        self.stack.remove_poller(self)


# -- server -----------------------------------------------------------------------------------------------------------
class IperfServer:
    """An iperf 2 server on ``stack`` (``iperf -s``, ``-u`` for UDP) on ``config.port``, over IPv4 and, when the
    stack has IPv6, IPv6.  Each client's stream is numbered from 1; ``events`` holds what went to ``on_event``;
    ``finals`` the final reports."""

    def __init__(self, stack: "Stack", config: IperfConfig | None = None, on_event: Handler | None = None) -> None:
        self.stack = stack
        self.config = config or IperfConfig()
        self.reporter = _Reporter(stack, self.config.interval, on_event)
        self.events = self.reporter.events
        self.finals: list[IperfReport] = []
        self._ids = 0
        self._streams: dict[Any, _Stream] = {}
        self._reports: dict[Any, bytes] = {}  # the report of each finished UDP sender, for its repeated FINs
        self.listener: TcpListener | None = None
        self.pcb: UdpPcb | None = None
        self.clients: list[IperfClient] = []  # the tests back that clients asked for (iperf -r / -d)
        any_ip = "::" if stack.config.ipv6 else None
        if self.config.udp:
            self.pcb = stack.udp.new(ip6=stack.config.ipv6)
            self.pcb.bind(any_ip, self.config.port)
            self.pcb.on_recv = self._udp_recv
        else:
            self.listener = stack.tcp.listen(self.config.port, any_ip)
            self.listener.on_event = self._accept
        stack.add_poller(self)

    def _new_stream(self, key: Any) -> _Stream:
        self._ids += 1
        s = _Stream(self._ids, self.stack.now)
        self.reporter.arm(s)
        self._streams[key] = s
        return s

    # -- TCP
    def _accept(self, listener: "TcpListener") -> None:
        while (pcb := listener.accept()) is not None:
            s = self._new_stream(id(pcb))
            self.reporter.emit(IperfConnected(s.ident, (pcb.local_ip, pcb.local_port),
                                              (pcb.remote_ip, pcb.remote_port), False))
            pcb.on_event = lambda p, s=s: self._tcp_event(s, p)
            self._tcp_event(s, pcb)

    def _tcp_event(self, s: _Stream, pcb: "TcpPcb") -> None:
        if s.done:
            return
        while pcb.readable:
            data = pcb.recv()
            if s.bytes < CLIENT_HEADER_LEN and self.config.answer_tests:
                self._header_bytes(s, pcb, data[:CLIENT_HEADER_LEN - s.bytes])
            s.bytes += len(data)
        if pcb.at_eof or pcb.state_name == "CLOSED":
            now = self.stack.now
            self.reporter.due([s], now, False)
            final = _interval_report(s, 0.0, now - s.start, False, final=True)
            s.done = True
            self._streams.pop(id(pcb), None)
            self.finals.append(final)
            self.reporter.emit(final)
            if pcb.state_name == "CLOSE_WAIT":
                pcb.close()
            back = s.extra.pop("test_back", None)
            if back is not None and pcb.at_eof:  # iperf -r: the client's test is over, ours begins
                self._test_back(*back)

    def _header_bytes(self, s: _Stream, pcb: "TcpPcb", data: Any) -> None:
        """Gather the stream's first 24 bytes; once whole, answer a client's ``-r`` / ``-d`` settings."""
        head = s.extra.setdefault("head", bytearray())
        head += data
        if len(head) < CLIENT_HEADER_LEN:
            return
        hdr = ClientHeader.parse(head)
        if not hdr.wants_test_back or not hdr.port:
            return
        back = (pcb.remote_ip, hdr)
        if hdr.run_now:
            self._test_back(*back)
        else:
            s.extra["test_back"] = back

    def _test_back(self, host: IPv4Address | IPv6Address, hdr: ClientHeader) -> None:
        """Connect to ``host`` at the port ``hdr`` names and send for its time or amount (our settings say 0: the
        other side must not test back in turn)."""
        config = IperfConfig(host=host, port=hdr.port, time=hdr.time if hdr.time is not None else 10.0,
                             amount=hdr.amount, interval=self.config.interval,
                             length=hdr.buffer_len if 0 < hdr.buffer_len <= 1 << 20 else None)
        self._ids += 1
        self.clients = [c for c in self.clients if not c.done]
        self.clients.append(IperfClient(self.stack, config, self.reporter.emit, first_stream_id=self._ids))

    # -- UDP
    def _udp_recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        try:
            hdr = UdpDatagram.parse(dgram.data)
        except Malformed:
            return
        key = (dgram.src, dgram.src_port)
        now = self.stack.now
        if hdr.seq < 0:
            self._udp_fin(pcb, key, dgram, now)
            return
        s = self._streams.get(key)
        if s is None:
            if hdr.seq > 1000 and key in self._reports:
                return  # a straggler of a finished test
            self._reports.pop(key, None)
            s = self._new_stream(key)
            s.next_seq = hdr.seq  # a late start (lost first datagrams) is not counted as loss
            self.reporter.emit(IperfConnected(s.ident, (dgram.dst, self.config.port), (dgram.src, dgram.src_port),
                                              True))
        self.reporter.due([s], now, True)
        s.bytes += len(dgram.data)
        s.datagrams += 1
        s.last_arrival = now
        # RFC 1889 6.3.1 / A.8: J = J + (|D(i-1,i)| - J) / 16
        transit = (self.config.epoch + now) - hdr.time
        if s.transit is not None:
            s.jitter += (abs(transit - s.transit) - s.jitter) / 16.0
        s.transit = transit
        if hdr.seq >= s.next_seq:
            s.lost += hdr.seq - s.next_seq
            s.next_seq = hdr.seq + 1
        else:  # late: counted as lost when its gap was seen (iperf 2: out of order, and one error fewer)
            s.outorder += 1
            if s.lost > 0:
                s.lost -= 1

    def _udp_fin(self, pcb: "UdpPcb", key: Any, dgram: "Datagram", now: float) -> None:
        s = self._streams.pop(key, None)
        if s is not None:
            self.reporter.due([s], now, True)
            end = s.last_arrival - s.start
            final = _interval_report(s, 0.0, end, True, final=True)
            s.done = True
            self.finals.append(final)
            self.reporter.emit(final)
            self._reports[key] = ServerReport(s.bytes, end, s.lost, s.outorder, s.datagrams + s.lost,
                                              s.jitter).emit()
        report = self._reports.get(key)
        if report is not None:
            try:
                pcb.sendto(report, dgram.src, dgram.src_port)
            except LwipError:
                pass

    def poll_at(self) -> float | None:
        due = None  # the earliest report, without a list built (asked every turn of a loop that sleeps)
        for s in self._streams.values():
            t = s.next_report
            if t is not None and not s.done and (due is None or t < due):
                due = t
        return due

    def poll(self, now: float) -> None:
        self.reporter.due(list(self._streams.values()), now, bool(self.config.udp))

    def close(self) -> None:
        self.stack.remove_poller(self)
        for client in self.clients:
            client.close()
        if self.listener is not None:
            self.listener.close()
        if self.pcb is not None:
            self.pcb.close()
