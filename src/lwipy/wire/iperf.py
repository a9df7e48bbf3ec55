"""iperf 2's UDP payload headers (``include/payloads.h`` of iperf 2.1.8), as ESP-IDF's iperf example speaks them.

Every UDP test datagram starts with ``struct UDP_datagram``: ``id`` (the sequence number's low 32 bits, signed),
``tv_sec``, ``tv_usec`` (the sender's clock at sending) and, since 2.0.10, ``id2`` (the high 32 bits:
``HEADER_SEQNO64B``).  The client ends a test with a "FIN": a datagram whose sequence number is negative (minus the
next sequence number), repeated until the server answers with its report: a datagram of a ``UDP_datagram`` followed
by ``struct server_hdr`` (``server_hdr_v1``: ``flags`` with ``HEADER_VERSION1``, the bytes received in two 32-bit
halves, the stop time, the errors (lost), out-of-order datagrams, datagrams, the jitter in seconds and microseconds;
then an extension of transit statistics and, with ``HEADER_SEQNO64B``, the high halves of the counts).

A client's first datagram may carry its settings after the ``UDP_datagram`` (``client_hdr_v1``: flags, threads, port,
buffer length, window or bandwidth, amount); a 0 ``flags`` word (ESP-IDF's client, and lwipy's) says there are none.
A TCP client's stream starts with the same ``client_hdr_v1`` (:class:`ClientHeader`); with ``HEADER_VERSION1`` set
it asks the server to test back: at once (``RUN_NOW``, ``iperf -d``) or once the client's own test is over
(``iperf -r``), to the client's address at ``port``, for ``amount`` (bytes, or when negative hundredths of a second),
as lwIP's lwiperf answers (``LWIPERF_FLAGS_ANSWER_TEST`` / ``LWIPERF_FLAGS_ANSWER_NOW``).
All fields are big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed

__all__ = ["UDP_DATAGRAM_LEN", "SERVER_REPORT_LEN", "CLIENT_HEADER_LEN", "HEADER_VERSION1", "HEADER_SEQNO64B",
           "RUN_NOW", "UdpDatagram", "ServerReport", "ClientHeader"]

HEADER_VERSION1 = 0x80000000
HEADER_EXTEND = 0x40000000
HEADER_SEQNO64B = 0x08000000
RUN_NOW = 0x00000001  # client_hdr_v1 flags: test back at once (iperf -d) rather than after (iperf -r)
_DGRAM = struct.Struct("!IIII")  # id, tv_sec, tv_usec, id2
_SERVER_V1 = struct.Struct("!10I")  # flags, total_len1, total_len2, stop_sec, stop_usec, errors, ooo, dgrams,
#                                             jitter1 (s), jitter2 (us)
_SERVER_EXT = struct.Struct("!15i")  # min/max/sum/mean/m2/vd transit (s, us each), cntTransit, cntIPG, IPGsum
_SERVER_EXT2 = struct.Struct("!III")  # error_cnt2, outorder_cnt2, datagrams2 (the high halves, HEADER_SEQNO64B)
_CLIENT_V1 = struct.Struct("!IiiiiI")  # flags, numThreads, mPort, bufferlen, mWinBand, mAmount
UDP_DATAGRAM_LEN = _DGRAM.size  # 16
CLIENT_HEADER_LEN = _CLIENT_V1.size  # 24
SERVER_REPORT_LEN = _DGRAM.size + _SERVER_V1.size + _SERVER_EXT.size + _SERVER_EXT2.size  # 128, as iperf 2.1.8 sends
_MASK32 = 0xFFFFFFFF


@dataclass(slots=True)
class UdpDatagram:
    """``struct UDP_datagram``: ``seq`` the sequence number (negative: the FIN), ``sec``/``usec`` the send time."""

    seq: int
    sec: int
    usec: int

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> "UdpDatagram":
        """Read the header; ``id2`` 0 with ``id``'s top bit set is a 32-bit negative number (a FIN of iperf before
        2.0.10 or of ESP-IDF's client), so sequence numbers in [2**31, 2**32) cannot be told from those."""
        if len(buf) < UDP_DATAGRAM_LEN:
            raise Malformed(f"an iperf datagram needs {UDP_DATAGRAM_LEN} bytes, got {len(buf)}")
        low, sec, usec, high = _DGRAM.unpack_from(buf)
        if high & 0x80000000:  # a negative 64-bit sequence number (HEADER_SEQNO64B)
            seq = (high << 32 | low) - (1 << 64)
        elif high == 0 and low & 0x80000000:  # a negative 32-bit one (iperf before 2.0.10, ESP-IDF's client)
            seq = low - (1 << 32)
        else:
            seq = high << 32 | low
        return cls(seq, sec, usec)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        v = self.seq & 0xFFFFFFFFFFFFFFFF
        _DGRAM.pack_into(buf, offset, v & _MASK32, self.sec & _MASK32, self.usec & _MASK32, v >> 32)

    @property
    def time(self) -> float:
        return self.sec + self.usec / 1e6


@dataclass(slots=True)
class ServerReport:
    """``struct server_hdr``: what the server saw of a UDP test (the client prints it as the "Server Report")."""

    bytes: int
    stop: float  # seconds from the test's first datagram to its last
    errors: int  # datagrams lost
    outorder: int
    datagrams: int
    jitter: float  # seconds

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> "ServerReport":
        """Parse a whole report datagram (the ``UDP_datagram`` first); Malformed unless ``HEADER_VERSION1`` is set."""
        if len(buf) < UDP_DATAGRAM_LEN + _SERVER_V1.size:
            raise Malformed(f"an iperf server report needs {UDP_DATAGRAM_LEN + _SERVER_V1.size} bytes, got {len(buf)}")
        (flags, len1, len2, stop_sec, stop_usec, errors, ooo, dgrams, jit_s,
         jit_us) = _SERVER_V1.unpack_from(buf, UDP_DATAGRAM_LEN)
        if not flags & HEADER_VERSION1:
            raise Malformed("not an iperf server report (no HEADER_VERSION1)")
        errors, ooo, dgrams = errors & _MASK32, ooo & _MASK32, dgrams & _MASK32
        at = UDP_DATAGRAM_LEN + _SERVER_V1.size + _SERVER_EXT.size
        if flags & HEADER_SEQNO64B and len(buf) >= at + _SERVER_EXT2.size:
            e2, o2, d2 = _SERVER_EXT2.unpack_from(buf, at)
            errors, ooo, dgrams = e2 << 32 | errors, o2 << 32 | ooo, d2 << 32 | dgrams
        return cls(len1 << 32 | len2, stop_sec + stop_usec / 1e6, errors, ooo, dgrams, jit_s + jit_us / 1e6)

    def emit(self) -> bytes:
        """The report datagram, as iperf 2.1.8's server sends it (128 bytes, a zero ``UDP_datagram`` first)."""
        out = bytearray(SERVER_REPORT_LEN)
        stop_us = round(self.stop * 1e6)
        jit_us = round(self.jitter * 1e6)
        _SERVER_V1.pack_into(out, UDP_DATAGRAM_LEN, HEADER_VERSION1 | HEADER_SEQNO64B, self.bytes >> 32 & _MASK32,
                             self.bytes & _MASK32, stop_us // 1000000, stop_us % 1000000, self.errors & _MASK32,
                             self.outorder & _MASK32, self.datagrams & _MASK32, jit_us // 1000000,
                             jit_us % 1000000)
        _SERVER_EXT2.pack_into(out, UDP_DATAGRAM_LEN + _SERVER_V1.size + _SERVER_EXT.size, self.errors >> 32,
                               self.outorder >> 32, self.datagrams >> 32)
        return bytes(out)


@dataclass(slots=True)
class ClientHeader:
    """``struct client_hdr_v1``: what a client asks of the server.  ``wants_test_back`` with ``HEADER_VERSION1``;
    ``run_now`` tests back at once (``-d``), otherwise after the client's test (``-r``); ``amount`` bytes, or
    ``time`` seconds when the wire's ``mAmount`` is negative."""

    flags: int
    threads: int
    port: int
    buffer_len: int
    win_band: int
    amount: int | None  # bytes (None: by time)
    time: float | None  # seconds (None: by amount)

    @property
    def wants_test_back(self) -> bool:
        return bool(self.flags & HEADER_VERSION1)

    @property
    def run_now(self) -> bool:
        return bool(self.flags & RUN_NOW)

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> "ClientHeader":
        if len(buf) < CLIENT_HEADER_LEN:
            raise Malformed(f"an iperf client header needs {CLIENT_HEADER_LEN} bytes, got {len(buf)}")
        flags, threads, port, buffer_len, win_band, amount = _CLIENT_V1.unpack_from(buf)
        if amount & 0x80000000:  # negative: hundredths of a second
            return cls(flags, threads, port & 0xFFFF, buffer_len, win_band, None, ((1 << 32) - amount) / 100.0)
        return cls(flags, threads, port & 0xFFFF, buffer_len, win_band, amount, None)

    def emit(self) -> bytes:
        amount = self.amount if self.time is None else (-round(self.time * 100)) & _MASK32
        return _CLIENT_V1.pack(self.flags & _MASK32, self.threads, self.port, self.buffer_len, self.win_band,
                               (amount or 0) & _MASK32)
