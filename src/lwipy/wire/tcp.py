"""TCP segments (RFC 9293) and the options a modern stack exchanges: MSS (RFC 9293 3.7.1), window scale and
timestamps (RFC 7323), SACK (RFC 2018).

Options are parsed into :class:`TcpOptions` and written in the layouts Linux uses (``tcp_options_write``), so every
option group starts on a 4-byte boundary and no EOL padding is ever needed:

- SYN: ``MSS, SACK_PERM, TS, NOP, WSCALE`` (without SACK_PERM: ``MSS, NOP, NOP, TS, NOP, WSCALE``; without TS:
  ``MSS, NOP, NOP, SACK_PERM, NOP, WSCALE``);
- data with timestamps: ``NOP, NOP, TS``, the layout :meth:`TcpOptions.parse` reads with one unpack;
- SACK: ``NOP, NOP, SACK`` after any of the above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed
from .checksum import checksum, verify

__all__ = [
    "TcpHeader", "TcpOptions", "MIN_HEADER_LEN", "MAX_HEADER_LEN",
    "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR",
    "OPT_EOL", "OPT_NOP", "OPT_MSS", "OPT_WSCALE", "OPT_SACK_PERMITTED", "OPT_SACK", "OPT_TIMESTAMP",
]

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
MIN_HEADER_LEN = 20
MAX_HEADER_LEN = 60
MAX_OPTIONS_LEN = MAX_HEADER_LEN - MIN_HEADER_LEN
OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERMITTED, OPT_SACK, OPT_TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
MAX_SACK_BLOCKS = 4  # 4 + 8 * 4 = 36 of the 40 option bytes; 3 beside the 12 bytes of NOP, NOP, TS

_HDR = struct.Struct("!HHIIHHHH")
_CSUM = struct.Struct("!H")
_U16 = struct.Struct("!H")
_U32_PAIR = struct.Struct("!II")
# NOP, NOP, TS(kind 8, length 10): the options of nearly every segment once timestamps are on
_NOP_NOP_TS_HEAD = 0x0101080A
_NOP_NOP_TS = struct.Struct("!III")
_MSS = struct.Struct("!BBH")
_KIND_LEN_TS = struct.Struct("!BBBBII")  # NOP,NOP or SACK_PERM, then TS
_FOUR = struct.Struct("!BBBB")
_SACK = [struct.Struct("!BBBB" + "II" * n) for n in range(MAX_SACK_BLOCKS + 1)]  # NOP, NOP, SACK, n blocks
_SACK_EDGES = [struct.Struct("!" + "II" * n) for n in range(MAX_SACK_BLOCKS + 1)]
_NOP_NOP_SACK_PERM = b"\x01\x01\x04\x02"


@dataclass(slots=True)
class TcpOptions:
    """The options of a segment.  Unknown kinds are skipped when parsing and not kept.

    ``wscale`` is the shift count as sent; RFC 7323 2.3: a receiver uses ``min(value, 14)``.  ``sack_blocks`` holds
    (left, right) edges, at most 4 (3 with timestamps).  ``timestamp`` is (TSval, TSecr).
    """

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()
    timestamp: tuple[int, int] | None = None

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "TcpOptions":
        """Read an option list (the bytes between the fixed header and the data offset).

        EOL ends the list.  A length byte below 2 or running past the end, a known option with the wrong length,
        or more than 40 bytes raise :class:`Malformed` (RFC 9293 3.1 MUST-7: be prepared for illegal option lengths).
        A repeated option keeps its last value.
        """
        n = len(data)
        if n == 12:
            head, tsval, tsecr = _NOP_NOP_TS.unpack_from(data)
            if head == _NOP_NOP_TS_HEAD:
                return cls(timestamp=(tsval, tsecr))
        if n > MAX_OPTIONS_LEN:
            raise Malformed(f"{n} bytes of TCP options, more than 40")
        opts = cls()
        i = 0
        while i < n:
            kind = data[i]
            if kind == OPT_NOP:
                i += 1
                continue
            if kind == OPT_EOL:
                break
            if i + 1 >= n:
                raise Malformed(f"TCP option {kind} at offset {i} has no length byte")
            length = data[i + 1]
            if length < 2 or i + length > n:
                raise Malformed(f"TCP option {kind} at offset {i} has length {length} in {n} bytes")
            if kind == OPT_TIMESTAMP:
                if length != 10:
                    raise Malformed(f"TCP timestamp option of length {length}")
                opts.timestamp = _U32_PAIR.unpack_from(data, i + 2)
            elif kind == OPT_MSS:
                if length != 4:
                    raise Malformed(f"TCP MSS option of length {length}")
                opts.mss = _U16.unpack_from(data, i + 2)[0]
            elif kind == OPT_WSCALE:
                if length != 3:
                    raise Malformed(f"TCP window scale option of length {length}")
                opts.wscale = data[i + 2]
            elif kind == OPT_SACK_PERMITTED:
                if length != 2:
                    raise Malformed(f"TCP SACK-permitted option of length {length}")
                opts.sack_permitted = True
            elif kind == OPT_SACK:
                count, rest = divmod(length - 2, 8)
                if rest or not count:
                    raise Malformed(f"TCP SACK option of length {length}")
                edges = _SACK_EDGES[count].unpack_from(data, i + 2)
                opts.sack_blocks = tuple(zip(edges[::2], edges[1::2], strict=True))
            i += length
        return opts

    def buffer_len(self) -> int:
        """The bytes :meth:`emit` writes, a multiple of 4."""
        n = 0
        if self.mss is not None:
            n += 4
        if self.timestamp is not None:
            n += 12
        elif self.sack_permitted:
            n += 4
        if self.wscale is not None:
            n += 4
        if self.sack_blocks:
            n += 4 + 8 * len(self.sack_blocks)
        return n

    def emit(self, buf: bytearray | memoryview, offset: int) -> int:
        """Write the options in the Linux layout (see the module docstring); returns :meth:`buffer_len`.

        Raises ValueError for more than 4 SACK blocks or more than 40 bytes in all.
        """
        ts = self.timestamp
        blocks = self.sack_blocks
        if ts is not None and not blocks and self.mss is None and self.wscale is None and not self.sack_permitted:
            _KIND_LEN_TS.pack_into(buf, offset, 1, 1, 8, 10, ts[0], ts[1])  # the data-segment fast path
            return 12
        size = self.buffer_len()
        if len(blocks) > MAX_SACK_BLOCKS or size > MAX_OPTIONS_LEN:
            raise ValueError(f"TCP options of {size} bytes with {len(blocks)} SACK blocks do not fit in 40")
        at = offset
        if self.mss is not None:
            _MSS.pack_into(buf, at, OPT_MSS, 4, self.mss)
            at += 4
        if ts is not None:
            if self.sack_permitted:
                _KIND_LEN_TS.pack_into(buf, at, OPT_SACK_PERMITTED, 2, OPT_TIMESTAMP, 10, ts[0], ts[1])
            else:
                _KIND_LEN_TS.pack_into(buf, at, OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10, ts[0], ts[1])
            at += 12
        elif self.sack_permitted:
            buf[at:at + 4] = _NOP_NOP_SACK_PERM
            at += 4
        if self.wscale is not None:
            _FOUR.pack_into(buf, at, OPT_NOP, OPT_WSCALE, 3, self.wscale)
            at += 4
        if blocks:
            _SACK[len(blocks)].pack_into(buf, at, OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * len(blocks),
                                         *[edge for block in blocks for edge in block])
        return size


@dataclass(slots=True)
class TcpHeader:
    """A TCP header.  ``flags`` holds the eight named flag bits (FIN..CWR); the four reserved bits before them are
    ignored on input and sent as zero (RFC 9293 3.1).  ``options`` is None for a header without option bytes."""

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    checksum: int = 0
    urgent: int = 0
    options: TcpOptions | None = None

    @property
    def header_len(self) -> int:
        return MIN_HEADER_LEN if self.options is None else MIN_HEADER_LEN + self.options.buffer_len()

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> tuple["TcpHeader", memoryview]:
        """The header and the payload (everything after the data offset; IP already trimmed the segment).

        The checksum is left to the caller (:meth:`verify`), which holds the pseudo-header.
        """
        mv = memoryview(data)
        if len(mv) < MIN_HEADER_LEN:
            raise Malformed(f"TCP segment of {len(mv)} bytes is shorter than a header")
        sport, dport, seq, ack, off_flags, window, csum, urgent = _HDR.unpack_from(mv)
        hlen = (off_flags >> 12) * 4
        if hlen < MIN_HEADER_LEN or hlen > len(mv):
            raise Malformed(f"TCP data offset {hlen} in {len(mv)} bytes")
        options = TcpOptions.parse(mv[MIN_HEADER_LEN:hlen]) if hlen > MIN_HEADER_LEN else None
        return cls(sport, dport, seq, ack, off_flags & 0xFF, window, csum, urgent, options), mv[hlen:]

    @staticmethod
    def verify(segment: bytes | bytearray | memoryview, pseudo: int) -> bool:
        """Check a received segment (header and payload) against the partial sum of its pseudo-header
        (:func:`~lwipy.wire.checksum.pseudo_sum_v4` with the TCP length)."""
        return verify(segment, pseudo)

    def emit(self, buf: bytearray | memoryview, offset: int, payload_len: int, pseudo: int | None) -> None:
        """Write the header and options at ``offset``; the ``payload_len`` payload bytes already follow them.

        With ``pseudo`` (the pseudo-header partial sum, length ``header_len + payload_len``) the checksum is
        computed and kept in ``checksum``; with None the field is left 0 for a device that completes it.
        Raises ValueError for options that do not fit or flags outside the eight named bits.
        """
        if self.flags & ~0xFF:
            raise ValueError(f"TCP flags {self.flags:#x} outside the eight flag bits")
        options = self.options
        if options is None:
            hlen = MIN_HEADER_LEN
        else:
            hlen = MIN_HEADER_LEN + options.emit(buf, offset + MIN_HEADER_LEN)
        _HDR.pack_into(buf, offset, self.src_port, self.dst_port, self.seq, self.ack, (hlen << 10) | self.flags,
                       self.window, 0, self.urgent)
        if pseudo is None:
            self.checksum = 0
            return
        self.checksum = checksum(memoryview(buf)[offset:offset + hlen + payload_len], pseudo)
        _CSUM.pack_into(buf, offset + 16, self.checksum)
