"""PPP in HDLC-like framing (RFC 1662) and the packets of its control protocols (RFC 1661, 1332, 1334, 1877, 1994,
5072).

Framing: a frame is ``7E [FF 03] protocol information FCS 7E``; 0x7D escapes the next byte (XOR 0x20); the sender
escapes 0x7D, 0x7E and every control character whose bit is set in its Async-Control-Character-Map (all of them
until LCP says otherwise, and always for LCP, RFC 1662 7.1); the receiver drops control characters in its own map
(they were inserted by a device on the way) and un-escapes the rest.  The FCS is FCS-16 (CRC-16/X-25) or, when LCP
negotiated it, FCS-32 (the CRC of zlib), sent least significant byte first.  With ACFC the ``FF 03`` is left out,
with PFC a protocol below 0x100 takes one byte (RFC 1661 6.5, 6.6); the receiver takes both forms at any time, as
lwIP's ``pppos_input`` does.

FCS-16 is computed in C: the reflected CRC of PPP is the bit-mirror of the CCITT CRC that ``binascii.crc_hqx``
computes, so mirroring every byte (``bytes.translate``) and the result gives it without a Python loop.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

from ..errors import Malformed

__all__ = [
    "FLAG", "ESCAPE", "ALLSTATIONS", "UI", "PPP_IP", "PPP_IPV6", "PPP_VJC_COMP", "PPP_VJC_UNCOMP", "PPP_LCP",
    "PPP_PAP", "PPP_CHAP", "PPP_IPCP", "PPP_IPV6CP", "PPP_CCP", "CONFREQ", "CONFACK", "CONFNAK", "CONFREJ",
    "TERMREQ", "TERMACK", "CODEREJ", "PROTREJ", "ECHOREQ", "ECHOREP", "DISCREQ", "ACCM_ALL", "fcs16", "fcs32",
    "frame_encode", "Deframer", "CpPacket", "parse_options", "emit_options", "PapPacket", "ChapPacket",
]

FLAG = 0x7E
ESCAPE = 0x7D
ALLSTATIONS = 0xFF
UI = 0x03
ACCM_ALL = 0xFFFFFFFF

# protocol numbers (RFC 1700 / IANA ppp-numbers)
PPP_IP = 0x0021
PPP_IPV6 = 0x0057
PPP_VJC_COMP = 0x002D
PPP_VJC_UNCOMP = 0x002F
PPP_IPCP = 0x8021
PPP_IPV6CP = 0x8057
PPP_CCP = 0x80FD
PPP_LCP = 0xC021
PPP_PAP = 0xC023
PPP_CHAP = 0xC223

# control protocol codes (RFC 1661 5)
CONFREQ, CONFACK, CONFNAK, CONFREJ, TERMREQ, TERMACK, CODEREJ = 1, 2, 3, 4, 5, 6, 7
PROTREJ, ECHOREQ, ECHOREP, DISCREQ = 8, 9, 10, 11  # LCP only

_MIRROR = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_H = struct.Struct("!H")
_CP = struct.Struct("!BBH")


def _mirror16(v: int) -> int:
    return (_MIRROR[v & 0xFF] << 8) | _MIRROR[v >> 8]


def fcs16(data: bytes | bytearray | memoryview, fcs: int = 0xFFFF) -> int:
    """RFC 1662 C.2 ``pppfcs16``: the running FCS-16 register over ``data`` (start 0xFFFF; the frame carries its
    ones' complement, low byte first; over a good frame and its FCS the register ends at 0xF0B8)."""
    return _mirror16(binascii.crc_hqx(bytes(data).translate(_MIRROR), _mirror16(fcs)))


def fcs32(data: bytes | bytearray | memoryview) -> int:
    """RFC 1662 C.3's FCS-32 as the frame carries it (the complemented register, zlib's CRC-32), low byte first."""
    return zlib.crc32(data)


def _escape_table(accm: int) -> list[tuple[bytes, bytes]]:
    pairs = [(b"\x7d", b"\x7d\x5d"), (b"\x7e", b"\x7d\x5e")]  # 0x7D first: the later escapes add 0x7D bytes
    pairs += [(bytes([c]), bytes([ESCAPE, c ^ 0x20])) for c in range(32) if accm >> c & 1]
    return pairs


_ESCAPES: dict[int, list[tuple[bytes, bytes]]] = {}


def frame_encode(protocol: int, info: bytes | bytearray | memoryview, *, accm: int = ACCM_ALL, acfc: bool = False,
                 pfc: bool = False, fcs32_: bool = False, leading_flag: bool = True) -> bytes:
    """One PPP frame in HDLC-like framing: ``accm`` is the peer's map (control characters to escape), ``acfc`` and
    ``pfc`` the compressions the peer accepts (never applied to LCP, RFC 1661 6.5/6.6), ``fcs32_`` FCS-32 instead
    of FCS-16 (RFC 1570's FCS-Alternatives; LCP keeps FCS-16, so that a renegotiation reads at either end).
    ``leading_flag`` False leaves out the opening flag (lwIP's ``pppos_output`` sends it only when the
    line was idle: a flag closes one frame and may open the next)."""
    if protocol == PPP_LCP:
        acfc = pfc = fcs32_ = False
        accm = ACCM_ALL
    head = b"" if acfc else b"\xff\x03"
    head += bytes([protocol]) if pfc and protocol < 0x100 and protocol & 1 else _H.pack(protocol)
    body = head + bytes(info)
    if fcs32_:
        body += struct.pack("<I", fcs32(body))
    else:
        body += struct.pack("<H", fcs16(body) ^ 0xFFFF)
    table = _ESCAPES.get(accm)
    if table is None:
        table = _ESCAPES[accm] = _escape_table(accm)
    for raw, esc in table:
        if raw in body:
            body = body.replace(raw, esc)
    return (b"\x7e" + body + b"\x7e") if leading_flag else (body + b"\x7e")


class Deframer:
    """The receiving half of the framing (lwIP's ``pppos_input``): bytes in any pieces, whole frames out as
    ``(protocol, information)``.  Counters: ``frames`` good, ``bad_fcs`` (lwIP's ``link.chkerr``), ``lenerr``
    (shorter than a protocol and an FCS, or longer than ``max_frame``), ``aborts`` (RFC 1662 4.2: 0x7D then the
    flag), ``proterr`` (an even low protocol byte, RFC 1661 2).  ``accm`` is our receive map: control characters in
    it are dropped as line noise (RFC 1662 7.1).  ``fcs32`` switches the check to FCS-32."""

    def __init__(self, max_frame: int = 1500 + 64, accm: int = 0) -> None:
        self.max_frame = max_frame
        self.accm = accm
        self.fcs32 = False
        self._buf = bytearray()
        self._drop: bytes = b""
        self.frames = 0
        self.bad_fcs = 0
        self.lenerr = 0
        self.aborts = 0
        self.proterr = 0
        self.set_accm(accm)

    def set_accm(self, accm: int) -> None:
        self.accm = accm
        self._drop = bytes(c for c in range(32) if accm >> c & 1)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Consume serial bytes; return the good frames they completed."""
        return list(self.feed_iter(data))

    def feed_iter(self, data: bytes | bytearray | memoryview) -> Iterator[tuple[int, bytes]]:
        """As :meth:`feed`, one frame at a time, so that the caller may change the receive ACCM or the FCS between
        two frames of one read (LCP coming up switches them for the frames that follow it).  Run it to the end."""
        data = bytes(data)
        if self._drop:
            data = data.translate(None, self._drop)
        pieces = data.split(b"\x7e")
        if len(pieces) == 1:
            buf = self._buf
            buf += data
            if len(buf) > 2 * self.max_frame + 8:  # no flag in sight: a runaway frame, forget it (counted once)
                self.lenerr += 1
                buf.clear()
            return
        first = bytes(self._buf) + pieces[0]
        self._buf = bytearray(pieces[-1])
        out: list[tuple[int, bytes]] = []
        for raw in [first, *pieces[1:-1]]:
            if raw:
                self._frame(raw, out)
                if out:
                    yield out.pop()

    def _frame(self, raw: bytes | bytearray, out: list[tuple[int, bytes]]) -> None:
        if not raw:
            return  # back-to-back flags
        if raw[-1] == ESCAPE:
            self.aborts += 1
            return
        if ESCAPE in raw:
            parts = bytes(raw).split(b"\x7d")
            frame = bytearray(parts[0])
            for p in parts[1:]:
                if p:
                    frame.append(p[0] ^ 0x20)
                    frame += p[1:]
        else:
            frame = bytearray(raw)
        n = len(frame)
        flen = 4 if self.fcs32 else 2
        if n < flen + 1 or n > 2 * self.max_frame + 8:
            self.lenerr += 1
            return
        if self.fcs32:
            if zlib.crc32(memoryview(frame)[:-4]) != int.from_bytes(frame[-4:], "little"):
                # LCP goes with FCS-16 whatever was negotiated (as frame_encode sends it): a renegotiation must
                # be readable by a peer that starts again from the defaults
                if not (fcs16(frame) == 0xF0B8 and _is_lcp(frame)):
                    self.bad_fcs += 1
                    return
                flen = 2
        elif fcs16(frame) != 0xF0B8:
            self.bad_fcs += 1
            return
        del frame[-flen:]
        i = 2 if frame[0] == ALLSTATIONS and len(frame) > 1 and frame[1] == UI else 0
        if len(frame) <= i:
            self.lenerr += 1
            return
        if frame[i] & 1:
            protocol = frame[i]
            i += 1
        else:
            if len(frame) < i + 2 or not frame[i + 1] & 1:
                self.proterr += 1
                return
            protocol = (frame[i] << 8) | frame[i + 1]
            i += 2
        if len(frame) - i > self.max_frame:
            self.lenerr += 1
            return
        self.frames += 1
        out.append((protocol, bytes(frame[i:])))


def _is_lcp(frame: bytearray) -> bool:
    i = 2 if frame[:2] == b"\xff\x03" else 0
    return frame[i:i + 2] == b"\xc0\x21"


@dataclass(slots=True)
class CpPacket:
    """A packet of LCP, IPCP, IPV6CP, PAP or CHAP: ``code``, ``ident`` and ``data`` (RFC 1661 5: Code, Identifier,
    Length, Data; octets past Length are padding and dropped)."""

    code: int
    ident: int
    data: bytes = b""

    @classmethod
    def parse(cls, info: bytes | bytearray | memoryview) -> "CpPacket":
        if len(info) < 4:
            raise Malformed(f"control packet of {len(info)} bytes is shorter than its header")
        code, ident, length = _CP.unpack_from(info)
        if length < 4 or length > len(info):
            raise Malformed(f"control packet length {length} in {len(info)} bytes")
        return cls(code, ident, bytes(info[4:length]))

    def emit(self) -> bytes:
        return _CP.pack(self.code, self.ident, 4 + len(self.data)) + self.data


def parse_options(data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
    """The options of a Configure packet as ``(type, value)`` in order; Malformed if one overruns or is shorter
    than 2 (RFC 1661 6: Type, Length, Data)."""
    out = []
    i, n = 0, len(data)
    while i < n:
        if n - i < 2:
            raise Malformed("truncated option header")
        t, ln = data[i], data[i + 1]
        if ln < 2 or i + ln > n:
            raise Malformed(f"option {t} length {ln} at {i} of {n}")
        out.append((t, bytes(data[i + 2:i + ln])))
        i += ln
    return out


def emit_options(options: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes([t, len(v) + 2]) + v for t, v in options)


@dataclass(slots=True)
class PapPacket:
    """PAP (RFC 1334 2.2): code 1 Authenticate-Request (``peer_id``, ``password``), 2 Ack / 3 Nak (``message``)."""

    code: int
    ident: int
    peer_id: bytes = b""
    password: bytes = b""
    message: bytes = b""

    @classmethod
    def parse(cls, info: bytes | bytearray | memoryview) -> "PapPacket":
        cp = CpPacket.parse(info)
        d = cp.data
        if cp.code == 1:
            if not d or len(d) < 1 + d[0] + 1 or len(d) < 2 + d[0] + d[1 + d[0]]:
                raise Malformed("PAP Authenticate-Request overruns")
            n = d[0]
            m = d[1 + n]
            return cls(1, cp.ident, d[1:1 + n], d[2 + n:2 + n + m])
        if cp.code in (2, 3):
            if d and len(d) < 1 + d[0]:
                raise Malformed("PAP message overruns")
            return cls(cp.code, cp.ident, message=d[1:1 + d[0]] if d else b"")
        raise Malformed(f"PAP code {cp.code}")

    def emit(self) -> bytes:
        if self.code == 1:
            data = bytes([len(self.peer_id)]) + self.peer_id + bytes([len(self.password)]) + self.password
        else:
            data = bytes([len(self.message)]) + self.message
        return CpPacket(self.code, self.ident, data).emit()


@dataclass(slots=True)
class ChapPacket:
    """CHAP (RFC 1994 4): code 1 Challenge / 2 Response (``value``, ``name``), 3 Success / 4 Failure
    (``message``)."""

    code: int
    ident: int
    value: bytes = b""
    name: bytes = b""
    message: bytes = b""

    @classmethod
    def parse(cls, info: bytes | bytearray | memoryview) -> "ChapPacket":
        cp = CpPacket.parse(info)
        d = cp.data
        if cp.code in (1, 2):
            if not d or len(d) < 1 + d[0]:
                raise Malformed("CHAP value overruns")
            return cls(cp.code, cp.ident, d[1:1 + d[0]], d[1 + d[0]:])
        if cp.code in (3, 4):
            return cls(cp.code, cp.ident, message=d)
        raise Malformed(f"CHAP code {cp.code}")

    def emit(self) -> bytes:
        if self.code in (1, 2):
            data = bytes([len(self.value)]) + self.value + self.name
        else:
            data = self.message
        return CpPacket(self.code, self.ident, data).emit()
