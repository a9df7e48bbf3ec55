"""NTP / SNTP messages (RFC 5905 7.3, RFC 4330 4): the 48-byte header as a view, timestamps and their eras.

An NTP timestamp is 64 bits: seconds since 1900-01-01 (32 bits) and a binary fraction (32 bits).  The seconds wrap
on 2036-02-07 06:28:16 UTC, the start of era 1.  Two ways to place a timestamp in time:

- RFC 4330 3 (what lwIP's ``sntp.c`` does by reading the seconds as ``s32_t`` relative to 2036): "If bit 0 is set,
  the UTC time is in the range 1968-2036 ... If bit 0 is not set, the time is in the range 2036-2104" --
  :func:`to_unix` without a pivot;
- RFC 5905 6 and A.4: the era that puts the timestamp nearest a known time, within 68 years of it -- :func:`to_unix`
  with ``pivot``.

Differences of timestamps taken in 64-bit two's-complement arithmetic (:func:`diff`) are right across an era boundary
as long as the two are within 68 years of each other (RFC 5905 6), which is how the client computes offset and delay.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import Malformed

__all__ = ["NtpHeader", "NtpMessage", "HEADER_LEN", "PORT", "MODE_CLIENT", "MODE_SERVER", "MODE_BROADCAST",
           "LI_NO_WARNING", "LI_ALARM", "VERSION", "DIFF_1900_1970", "ERA", "from_unix", "to_unix", "diff",
           "KOD_RATE", "KOD_DENY", "KOD_RSTR"]

PORT = 123
HEADER_LEN = 48
VERSION = 4
#: modes (RFC 5905 figure 10)
MODE_SYMMETRIC_ACTIVE, MODE_SYMMETRIC_PASSIVE, MODE_CLIENT, MODE_SERVER, MODE_BROADCAST = 1, 2, 3, 4, 5
#: leap indicator: 3 is "alarm condition (clock not synchronized)"
LI_NO_WARNING, LI_ALARM = 0, 3
#: kiss codes of a Kiss-o'-Death (stratum 0; RFC 5905 7.4)
KOD_RATE, KOD_DENY, KOD_RSTR = "RATE", "DENY", "RSTR"
#: seconds from 1900-01-01 to 1970-01-01
DIFF_1900_1970 = 2208988800
#: seconds in one era (2**32)
ERA = 1 << 32
_FRAC = float(1 << 32)
_HDR = struct.Struct("!BBbbII4sQQQQ")
_TS = struct.Struct("!Q")


def from_unix(t: float) -> int:
    """The 64-bit NTP timestamp of Unix time ``t`` (seconds since 1970), in whatever era it falls: the seconds are
    taken modulo 2**32 as on the wire."""
    sec = int(t // 1)
    frac = int(round((t - sec) * _FRAC))
    if frac >= 1 << 32:
        sec, frac = sec + 1, frac - (1 << 32)
    return (((sec + DIFF_1900_1970) % ERA) << 32) | frac


def to_unix(ts: int, pivot: float | None = None) -> float:
    """The Unix time of 64-bit timestamp ``ts``.  Without ``pivot``: RFC 4330's rule (bit 0 set: era 0, 1968-2036;
    clear: era 1, 2036-2104), as lwIP's ``SNTP_SET_SYSTEM_TIME_NTP`` reads it.  With ``pivot`` (a Unix time): the era
    placing it nearest the pivot (RFC 5905 A.4), so any era is reached."""
    sec, frac = ts >> 32, ts & 0xFFFFFFFF
    if pivot is None:
        era_sec = sec if sec & 0x80000000 else sec + ERA
    else:
        ref = int(pivot // 1) + DIFF_1900_1970
        era_sec = sec + ((ref - sec + (ERA >> 1)) // ERA) * ERA
    return era_sec - DIFF_1900_1970 + frac / _FRAC


def diff(a: int, b: int) -> float:
    """``a - b`` in seconds for two 64-bit timestamps, taken in two's-complement 64-bit arithmetic (RFC 5905 6):
    right across an era boundary while they lie within 68 years of each other."""
    d = (a - b) & 0xFFFFFFFFFFFFFFFF
    if d & 0x8000000000000000:
        d -= 1 << 64
    return d / _FRAC


class NtpHeader:
    """A view of an NTP header over a buffer of at least 48 bytes (:meth:`parse` checks; extension fields and a MAC
    after it are left alone).  Timestamps read as 64-bit integers; ``root_delay`` and ``root_dispersion`` in
    seconds (NTP short format, 16.16)."""

    __slots__ = ("_b",)

    def __init__(self, buf: memoryview) -> None:
        self._b = buf

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "NtpHeader":
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"NTP message of {len(mv)} bytes is shorter than its 48-byte header")
        return cls(mv)

    @property
    def li(self) -> int:
        return self._b[0] >> 6

    @property
    def version(self) -> int:
        return (self._b[0] >> 3) & 7

    @property
    def mode(self) -> int:
        return self._b[0] & 7

    @property
    def stratum(self) -> int:
        return self._b[1]

    @property
    def poll(self) -> int:
        return struct.unpack_from("!b", self._b, 2)[0]

    @property
    def precision(self) -> int:
        return struct.unpack_from("!b", self._b, 3)[0]

    @property
    def root_delay(self) -> float:
        return struct.unpack_from("!I", self._b, 4)[0] / 65536.0

    @property
    def root_dispersion(self) -> float:
        return struct.unpack_from("!I", self._b, 8)[0] / 65536.0

    @property
    def ref_id(self) -> bytes:
        return bytes(self._b[12:16])

    @property
    def kiss_code(self) -> str | None:
        """The kiss code of a Kiss-o'-Death (stratum 0): the reference id as ASCII (``"RATE"``, ``"DENY"``...)."""
        if self._b[1] != 0:
            return None
        return self.ref_id.decode("ascii", "replace").rstrip("\x00")

    @property
    def reference_ts(self) -> int:
        return _TS.unpack_from(self._b, 16)[0]

    @property
    def originate_ts(self) -> int:
        return _TS.unpack_from(self._b, 24)[0]

    @property
    def receive_ts(self) -> int:
        return _TS.unpack_from(self._b, 32)[0]

    @property
    def transmit_ts(self) -> int:
        return _TS.unpack_from(self._b, 40)[0]

    def to_message(self) -> "NtpMessage":
        return NtpMessage(self.li, self.version, self.mode, self.stratum, self.poll, self.precision,
                          struct.unpack_from("!I", self._b, 4)[0], struct.unpack_from("!I", self._b, 8)[0],
                          self.ref_id, self.reference_ts, self.originate_ts, self.receive_ts, self.transmit_ts)


@dataclass(slots=True)
class NtpMessage:
    """The meaningful values of an NTP header (``root_delay`` and ``root_dispersion`` raw 16.16 integers,
    timestamps 64-bit integers)."""

    li: int = LI_NO_WARNING
    version: int = VERSION
    mode: int = MODE_CLIENT
    stratum: int = 0
    poll: int = 0
    precision: int = 0
    root_delay: int = 0
    root_dispersion: int = 0
    ref_id: bytes = bytes(4)
    reference_ts: int = 0
    originate_ts: int = 0
    receive_ts: int = 0
    transmit_ts: int = 0

    @classmethod
    def client_request(cls, transmit_ts: int) -> "NtpMessage":
        """lwIP's ``sntp_initialize_request``: all zero but LI 0, version 4, mode 3 and the transmit timestamp."""
        return cls(transmit_ts=transmit_ts)

    def emit(self, buf: bytearray | memoryview | None = None, offset: int = 0) -> bytearray | memoryview:
        """Write the 48 bytes into ``buf`` at ``offset`` (a new bytearray when None) and return the buffer."""
        if buf is None:
            buf = bytearray(HEADER_LEN)
        if len(self.ref_id) != 4:
            raise ValueError(f"a reference id has 4 bytes, not {len(self.ref_id)}")
        _HDR.pack_into(buf, offset, (self.li & 3) << 6 | (self.version & 7) << 3 | (self.mode & 7), self.stratum,
                       self.poll, self.precision, self.root_delay, self.root_dispersion, self.ref_id,
                       self.reference_ts, self.originate_ts, self.receive_ts, self.transmit_ts)
        return buf
