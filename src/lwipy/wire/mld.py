"""Multicast Listener Discovery: MLDv1 (RFC 2710) and MLDv2 (RFC 3810) messages, as whole ICMPv6 messages.

MLD is IGMP for IPv6.  MLDv1 has one 24-byte format for the Query (130), Report (131) and Done (132)::

    type(1) code(1) checksum(2) max_resp_delay(2, ms) reserved(2) multicast_address(16)

MLDv2 extends the Query with ``Resv|S|QRV(1) QQIC(1) N(2)`` and N source addresses, and adds its own Report (143):
``reserved(1) checksum(2) reserved(2) M(2)`` then M multicast address records, each
``record_type(1) aux_data_len(1, in 32-bit words) N(2) multicast_address(16)``, N sources, the auxiliary data.

``parse`` takes the whole message once :func:`lwipy.wire.icmpv6.verify_checksum` passed (the checksum field is not
read); ``emit`` writes the whole message with the checksum field zero, for :func:`lwipy.wire.icmpv6.fill_checksum`.
Addresses are 16 packed bytes.

Rules that a reader might not expect:

- The query version is its length (RFC 3810 8.1): 24 octets is an MLDv1 Query, 28 or more an MLDv2 Query, and
  "Query messages that do not match any of the above conditions (e.g., a Query Message whose length is 26 octets)
  MUST be silently ignored".
- Unlike neighbour discovery, the code is "Initialized to zero by the sender; ignored by receivers" (RFC 2710 3.2,
  RFC 3810 5.1.1), so any code parses.
- Octets after the last source or record are "Additional Data" that receivers "MUST otherwise ignore" (RFC 3810
  5.1.12, 5.2); the checksum still covers them.
- Max Resp Code (RFC 3810 5.1.3) and QQIC (5.1.9) switch to a floating-point form with the top bit set:
  ``(mant | 0x1000) << (exp + 3)`` milliseconds and ``(mant | 0x10) << (exp + 3)`` seconds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Union

from ..errors import Malformed
from .icmpv6 import MLD_DONE, MLD_QUERY, MLD_REPORT, MLDV2_REPORT

__all__ = [
    "MldMessage", "Mldv2Query", "Mldv2Report", "McastRecord", "MldAny", "parse_mld", "encode_max_resp_code",
    "decode_max_resp_code", "encode_qqic", "decode_qqic", "V1_LEN", "V2_QUERY_MIN_LEN", "MODE_IS_INCLUDE",
    "MODE_IS_EXCLUDE", "CHANGE_TO_INCLUDE_MODE", "CHANGE_TO_EXCLUDE_MODE", "ALLOW_NEW_SOURCES", "BLOCK_OLD_SOURCES",
]

Buffer = Union[bytes, bytearray, memoryview]

V1_LEN = 24
V2_QUERY_MIN_LEN = 28

# multicast address record types (RFC 3810 5.2.12): current state, filter mode change, source list change
MODE_IS_INCLUDE, MODE_IS_EXCLUDE, CHANGE_TO_INCLUDE_MODE, CHANGE_TO_EXCLUDE_MODE = 1, 2, 3, 4
ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES = 5, 6

_V1 = struct.Struct("!BBHHxx16s")
_V2Q = struct.Struct("!BBHHxx16sBBH")
_V2R = struct.Struct("!BxHxxH")
_RECORD = struct.Struct("!BBH16s")
_MAX_CODE_LIMIT = 0x1FFF << 10  # (0xFFF | 0x1000) << (7 + 3): the largest delay the code can say
_QQIC_LIMIT = 0x1F << 10


def decode_max_resp_code(code: int) -> int:
    """The Maximum Response Delay in milliseconds that the 16-bit Maximum Response Code says (RFC 3810 5.1.3)."""
    if code < 0x8000:
        return code
    return ((code & 0xFFF) | 0x1000) << (((code >> 12) & 7) + 3)


def encode_max_resp_code(ms: int) -> int:
    """The Maximum Response Code for a delay of ``ms`` milliseconds: exact below 32768, else the largest
    representable delay not above ``ms`` (so listeners answer no later than asked), 0xFFFF beyond the range."""
    if ms < 0:
        raise ValueError(f"negative response delay {ms}")
    if ms < 0x8000:
        return ms
    if ms >= _MAX_CODE_LIMIT:
        return 0xFFFF
    exp = ms.bit_length() - 16  # ms lies in [0x1000 << (exp + 3), 0x2000 << (exp + 3))
    return 0x8000 | exp << 12 | ((ms >> (exp + 3)) & 0xFFF)


def decode_qqic(code: int) -> int:
    """The Querier's Query Interval in seconds that the 8-bit QQIC says (RFC 3810 5.1.9)."""
    if code < 0x80:
        return code
    return ((code & 0xF) | 0x10) << (((code >> 4) & 7) + 3)


def encode_qqic(seconds: int) -> int:
    """The QQIC for an interval of ``seconds``: exact below 128, else the largest representable interval not above
    it, 0xFF beyond the range."""
    if seconds < 0:
        raise ValueError(f"negative query interval {seconds}")
    if seconds < 0x80:
        return seconds
    if seconds >= _QQIC_LIMIT:
        return 0xFF
    exp = seconds.bit_length() - 8
    return 0x80 | exp << 4 | ((seconds >> (exp + 3)) & 0xF)


def _sources(mv: memoryview, offset: int, count: int) -> tuple[bytes, ...]:
    raw = bytes(mv[offset:offset + 16 * count])
    return tuple(raw[i:i + 16] for i in range(0, len(raw), 16))


@dataclass(slots=True)
class MldMessage:
    """An MLDv1 message (RFC 2710 3): a Query (MLD_QUERY; ``address`` zero for a general query), a Report
    (MLD_REPORT) or a Done (MLD_DONE).  ``max_resp_delay`` is in milliseconds; senders set it zero except in
    queries.  An MLDv2 query read by this class is read as the MLDv1 query it starts with, as an MLDv1 host does."""

    type: int
    max_resp_delay: int
    address: bytes

    buffer_len: ClassVar[int] = V1_LEN

    @classmethod
    def parse(cls, message: Buffer) -> "MldMessage":
        """The message in the whole ICMPv6 ``message``; Malformed if shorter than 24 bytes or not of type 130-132."""
        mv = memoryview(message)
        if len(mv) < V1_LEN:
            raise Malformed(f"MLD message of {len(mv)} bytes")
        type_, _, _, delay, address = _V1.unpack_from(mv)
        if type_ not in (MLD_QUERY, MLD_REPORT, MLD_DONE):
            raise Malformed(f"ICMPv6 type {type_} is not an MLDv1 message")
        return cls(type_, delay, address)

    def emit(self, buf: Buffer, offset: int) -> None:
        """Write the whole message at ``offset``, its checksum field zero."""
        _V1.pack_into(buf, offset, self.type, 0, 0, self.max_resp_delay, self.address)


@dataclass(slots=True)
class Mldv2Query:
    """An MLDv2 Query (RFC 3810 5.1): general (``address`` zero), address-specific, or address and source specific
    (``sources``).  ``max_resp_code`` is the raw field (see :func:`encode_max_resp_code`), ``suppress`` the S flag
    (routers skip their timer updates), ``qrv`` the querier's robustness variable (0-7, 0: above 7), ``qqic`` the raw
    querier's query interval code (see :func:`encode_qqic`)."""

    max_resp_code: int
    address: bytes
    suppress: bool = False
    qrv: int = 0
    qqic: int = 0
    sources: tuple[bytes, ...] = ()
    type: ClassVar[int] = MLD_QUERY

    @property
    def max_resp_delay(self) -> int:
        """The Maximum Response Delay in milliseconds."""
        return decode_max_resp_code(self.max_resp_code)

    @property
    def qqi(self) -> int:
        """The Querier's Query Interval in seconds."""
        return decode_qqic(self.qqic)

    @classmethod
    def parse(cls, message: Buffer) -> "Mldv2Query":
        """The query in the whole ICMPv6 ``message``; Malformed if it is shorter than 28 bytes, not of type 130 or
        its sources do not fit."""
        mv = memoryview(message)
        if len(mv) < V2_QUERY_MIN_LEN:
            raise Malformed(f"MLDv2 query of {len(mv)} bytes")
        type_, _, _, code, address, flags, qqic, count = _V2Q.unpack_from(mv)
        if type_ != MLD_QUERY:
            raise Malformed(f"ICMPv6 type {type_} is not an MLD query")
        if len(mv) < V2_QUERY_MIN_LEN + 16 * count:
            raise Malformed(f"MLDv2 query of {len(mv)} bytes with {count} sources")
        return cls(code, address, bool(flags & 0x08), flags & 7, qqic, _sources(mv, V2_QUERY_MIN_LEN, count))

    @property
    def buffer_len(self) -> int:
        """The bytes :meth:`emit` writes."""
        return V2_QUERY_MIN_LEN + 16 * len(self.sources)

    def emit(self, buf: Buffer, offset: int) -> None:
        """Write the whole message at ``offset``, its checksum field zero."""
        flags = (0x08 if self.suppress else 0) | (self.qrv & 7)
        _V2Q.pack_into(buf, offset, self.type, 0, 0, self.max_resp_code, self.address, flags, self.qqic,
                       len(self.sources))
        if self.sources:
            struct.pack_into(f"{16 * len(self.sources)}s", buf, offset + V2_QUERY_MIN_LEN, b"".join(self.sources))


@dataclass(slots=True)
class McastRecord:
    """A multicast address record of an MLDv2 Report (RFC 3810 5.2.4): ``type`` is MODE_IS_INCLUDE ..
    BLOCK_OLD_SOURCES (other values are kept: a router ignores them), ``address`` the multicast address, ``sources``
    its source list, ``aux`` the auxiliary data (none is defined; emitted padded with zeros to 32-bit words)."""

    type: int
    address: bytes
    sources: tuple[bytes, ...] = ()
    aux: bytes = b""

    @property
    def buffer_len(self) -> int:
        """The bytes :meth:`emit` writes."""
        return _RECORD.size + 16 * len(self.sources) + ((len(self.aux) + 3) & ~3)

    def emit(self, buf: Buffer, offset: int) -> None:
        """Write the record at ``offset``."""
        aux_words = (len(self.aux) + 3) >> 2
        _RECORD.pack_into(buf, offset, self.type, aux_words, len(self.sources), self.address)
        tail = b"".join(self.sources) + self.aux
        if tail:
            struct.pack_into(f"{16 * len(self.sources) + 4 * aux_words}s", buf, offset + _RECORD.size, tail)


@dataclass(slots=True)
class Mldv2Report:
    """An MLDv2 Report (RFC 3810 5.2): the listener state of a node, or a change of it, as multicast address
    records."""

    records: list[McastRecord] = field(default_factory=list)
    type: ClassVar[int] = MLDV2_REPORT

    @classmethod
    def parse(cls, message: Buffer) -> "Mldv2Report":
        """The report in the whole ICMPv6 ``message``; Malformed if it is not of type 143 or its records do not
        fit."""
        mv = memoryview(message)
        if len(mv) < _V2R.size:
            raise Malformed(f"MLDv2 report of {len(mv)} bytes")
        type_, _, count = _V2R.unpack_from(mv)
        if type_ != MLDV2_REPORT:
            raise Malformed(f"ICMPv6 type {type_} is not an MLDv2 report")
        records: list[McastRecord] = []
        pos, end = _V2R.size, len(mv)
        for _ in range(count):
            if end - pos < _RECORD.size:
                raise Malformed(f"MLDv2 report record {len(records)} cut short")
            rtype, aux_words, nsources, address = _RECORD.unpack_from(mv, pos)
            aux_at = pos + _RECORD.size + 16 * nsources
            stop = aux_at + 4 * aux_words
            if stop > end:
                raise Malformed(f"MLDv2 report record {len(records)} of {stop - pos} bytes runs past the message")
            records.append(McastRecord(rtype, address, _sources(mv, pos + _RECORD.size, nsources),
                                       bytes(mv[aux_at:stop])))
            pos = stop
        return cls(records)

    @property
    def buffer_len(self) -> int:
        """The bytes :meth:`emit` writes."""
        return _V2R.size + sum(record.buffer_len for record in self.records)

    def emit(self, buf: Buffer, offset: int) -> None:
        """Write the whole message at ``offset``, its checksum field zero."""
        _V2R.pack_into(buf, offset, self.type, 0, len(self.records))
        pos = offset + _V2R.size
        for record in self.records:
            record.emit(buf, pos)
            pos += record.buffer_len


MldAny = Union[MldMessage, Mldv2Query, Mldv2Report]


def parse_mld(message: Buffer) -> MldAny:
    """The MLD message in the whole ICMPv6 ``message`` (checksum already verified): an MldMessage for a 24-byte
    query, a report or a done; an Mldv2Query for a query of 28 bytes or more; an Mldv2Report for type 143.

    Raises Malformed for another type, a query of 25 to 27 bytes (RFC 3810 8.1) or anything that does not parse."""
    n = len(message)
    type_ = message[0] if n else -1
    if type_ == MLD_QUERY:
        if n == V1_LEN:
            return MldMessage.parse(message)
        if n < V2_QUERY_MIN_LEN:
            raise Malformed(f"MLD query of {n} bytes is neither MLDv1 (24) nor MLDv2 (28 or more)")
        return Mldv2Query.parse(message)
    if type_ in (MLD_REPORT, MLD_DONE):
        return MldMessage.parse(message)
    if type_ == MLDV2_REPORT:
        return Mldv2Report.parse(message)
    raise Malformed(f"ICMPv6 type {type_} is not an MLD message")
