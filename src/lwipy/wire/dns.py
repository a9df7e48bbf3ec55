"""DNS messages (RFC 1035 4), as a resolver reads and writes them.

:meth:`DnsMessage.parse` reads a whole message: the header, the questions and the three record sections, with the data
of A, AAAA, CNAME, NS, PTR, SRV (RFC 2782), TXT, SOA and OPT (EDNS, RFC 6891: tolerated, kept as raw options) records
decoded, NSEC (RFC 4034 4, as mDNS uses it for negative answers: RFC 6762 6.1) too, and every other type kept as
bytes. :meth:`DnsMessage.emit` writes one back, compressing names (RFC 1035 4.1.4). Anything malformed raises
:class:`~lwipy.errors.Malformed` and nothing else: a truncated section, a label beyond 63 bytes, a name beyond 255
bytes, a reserved label type, and a compression pointer that does not point strictly backwards (which is what stops
pointer loops: every jump lands earlier, so a walk ends).

Names are text: labels joined by dots, without the root's trailing dot (the root is ``""``), a ``.`` or ``\\`` inside a
label escaped with a backslash and any byte outside printable ASCII written ``\\DDD`` (RFC 4343 2.1, as dnspython and
BIND write them), so that every name read is written back to the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from ..errors import Malformed

__all__ = ["DnsMessage", "Question", "Record", "Srv", "Soa", "Nsec", "HEADER_LEN", "PORT", "MDNS_PORT", "MDNS_GROUP4",
           "MDNS_GROUP6", "NSEC", "CACHE_FLUSH", "UNICAST_RESPONSE", "A", "NS", "CNAME", "SOA", "PTR", "TXT", "AAAA",
           "SRV", "OPT", "ANY", "CLASS_IN",
           "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "QR", "AA", "TC", "RD", "RA",
           "encode_name", "names_equal", "query", "join_labels", "rdata_bytes"]

HEADER_LEN = 12
PORT = 53
MDNS_PORT = 5353
MDNS_GROUP4 = IPv4Address("224.0.0.251")
MDNS_GROUP6 = IPv6Address("ff02::fb")

# record types (RFC 1035 3.2.2, RFC 3596, RFC 2782, RFC 6891)
A, NS, CNAME, SOA, PTR, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 16, 28, 33, 41, 255
NSEC = 47  # RFC 4034 4
CLASS_IN = 1
#: mDNS's top bit of a record's class: "cache flush", the record is unique (RFC 6762 10.2)
CACHE_FLUSH = 0x8000
#: mDNS's top bit of a question's class: the asker prefers a unicast response, "QU" (RFC 6762 5.4)
UNICAST_RESPONSE = 0x8000
# response codes (RFC 1035 4.1.1)
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = range(6)
# flag bits of the second header word
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080

_HDR = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RRFIXED = struct.Struct("!HHIH")
_SRV = struct.Struct("!HHH")
_SOA_TAIL = struct.Struct("!IIIII")
_MAX_NAME = 255  # RFC 1035 2.3.4, in wire bytes
_MAX_RECORDS = 4096  # a 64 KiB message cannot hold more than ~5,400 of even the smallest records


@dataclass(frozen=True, slots=True)
class Question:
    """A question: a name, a type and a class."""

    name: str
    qtype: int = A
    qclass: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class Srv:
    """SRV data (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class Soa:
    """SOA data (RFC 1035 3.3.13); ``minimum`` gives a negative answer's TTL (RFC 2308)."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True, slots=True)
class Nsec:
    """NSEC data (RFC 4034 4.1): the next name and the record types that exist at the owner name.  mDNS sends it with
    the owner name itself as the next name to say "no other type here" (RFC 6762 6.1)."""

    next_name: str
    types: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """A resource record.  ``data`` is an IPv4Address (A), IPv6Address (AAAA), a name (CNAME, NS, PTR), :class:`Srv`,
    a tuple of byte strings (TXT), :class:`Soa`, :class:`Nsec`, or the raw bytes (OPT and every other type).  For OPT (EDNS) the
    class is the sender's UDP payload size and the TTL holds the extended RCODE and flags (RFC 6891 6.1.3)."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: Any


@dataclass(slots=True)
class DnsMessage:
    """A DNS message: the header fields and the four sections."""

    id: int = 0
    flags: int = 0
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authorities: list[Record] = field(default_factory=list)
    additionals: list[Record] = field(default_factory=list)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def truncated(self) -> bool:
        return bool(self.flags & TC)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "DnsMessage":
        """Read a whole message; :class:`Malformed` if any part of it is."""
        buf = bytes(data)
        if len(buf) < HEADER_LEN:
            raise Malformed(f"DNS message of {len(buf)} bytes is shorter than its header")
        ident, flags, qd, an, ns, ar = _HDR.unpack_from(buf)
        if an + ns + ar > _MAX_RECORDS:
            raise Malformed(f"DNS message claims {an + ns + ar} records")
        pos = HEADER_LEN
        questions = []
        for _ in range(qd):
            name, pos = read_name(buf, pos)
            if pos + 4 > len(buf):
                raise Malformed("DNS question truncated")
            qtype, qclass = _QFIXED.unpack_from(buf, pos)
            pos += 4
            questions.append(Question(name, qtype, qclass))
        sections: list[list[Record]] = []
        for count in (an, ns, ar):
            records = []
            for _ in range(count):
                record, pos = _read_record(buf, pos)
                records.append(record)
            sections.append(records)
        return cls(ident, flags, questions, *sections)

    def emit(self) -> bytes:
        """The message on the wire, names compressed."""
        out = bytearray(_HDR.pack(self.id, self.flags, len(self.questions), len(self.answers), len(self.authorities),
                                  len(self.additionals)))
        table: dict[bytes, int] = {}
        for q in self.questions:
            _write_name(out, q.name, table)
            out += _QFIXED.pack(q.qtype, q.qclass)
        for record in (*self.answers, *self.authorities, *self.additionals):
            _write_record(out, record, table)
        return bytes(out)


def query(ident: int, name: str, qtype: int = A, recursion_desired: bool = True) -> bytes:
    """A query for one name (lwIP's ``dns_send``: RD set, one question, class IN, the name uncompressed)."""
    return DnsMessage(ident, RD if recursion_desired else 0, [Question(name, qtype, CLASS_IN)]).emit()


# -- names -------------------------------------------------------------------------------------------------------------
def _label_text(label: bytes) -> str:
    out = []
    for b in label:
        if b in (0x2E, 0x5C):  # . and \
            out.append("\\" + chr(b))
        elif 0x21 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def join_labels(labels: list[bytes] | tuple[bytes, ...]) -> str:
    """A name in text form from raw labels (an mDNS instance name such as ``b"My Device"`` may hold spaces, dots and
    UTF-8), escaped as :func:`read_name` writes names, so that it compares equal to the same name read off the wire."""
    return ".".join(_label_text(label) for label in labels)


def rdata_bytes(record: Record) -> bytes:
    """A record's data as it goes on the wire, names uncompressed (RFC 6762 8.2 compares records so)."""
    out = bytearray()
    _write_record(out, Record("", record.rtype, record.rclass, record.ttl, record.data), None)
    return bytes(out[1 + _RRFIXED.size:])


def read_name(buf: bytes, pos: int, limit: int | None = None) -> tuple[str, int]:
    """The name at ``pos`` and the offset behind it (behind the first pointer, if it was compressed); the name's
    bytes must end before ``limit`` (a record's data end; the message's end by default)."""
    if limit is None:
        limit = len(buf)
    labels: list[str] = []
    end = -1
    total = 1
    while True:
        if pos >= limit:
            raise Malformed("DNS name runs past the message")
        n = buf[pos]
        if n == 0:
            pos += 1
            break
        kind = n & 0xC0
        if kind == 0xC0:
            if pos + 1 >= limit:
                raise Malformed("DNS compression pointer truncated")
            target = ((n & 0x3F) << 8) | buf[pos + 1]
            if target >= pos:
                raise Malformed(f"DNS compression pointer at {pos} to {target} does not point backwards")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if kind:
            raise Malformed(f"DNS label type {kind:#x} is reserved")
        if pos + 1 + n > limit:
            raise Malformed("DNS label runs past the message")
        total += n + 1
        if total > _MAX_NAME:
            raise Malformed("DNS name longer than 255 bytes")
        labels.append(_label_text(buf[pos + 1:pos + 1 + n]))
        pos += 1 + n
    return ".".join(labels), (end if end >= 0 else pos)


def encode_name(name: str) -> list[bytes]:
    """The labels of a name in text form (escapes read as :func:`read_name` writes them); ValueError for a name
    that cannot be sent (an empty or over-long label, over 255 bytes in all)."""
    if name in ("", "."):
        return []
    if name.endswith(".") and not name.endswith("\\."):
        name = name[:-1]
    if any(ord(c) > 0x7E for c in name):
        try:
            name = name.encode("idna").decode("ascii")  # an internationalised name (RFC 3490)
        except UnicodeError as e:
            raise ValueError(f"DNS name {name!r}: {e}") from None
    labels: list[bytes] = []
    cur = bytearray()
    i = 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            if name[i + 1:i + 4].isdigit() and len(name[i + 1:i + 4]) == 3:
                value = int(name[i + 1:i + 4])
                if value > 255:
                    raise ValueError(f"bad escape in DNS name {name!r}")
                cur.append(value)
                i += 4
                continue
            if i + 1 >= len(name):
                raise ValueError(f"DNS name {name!r} ends in a backslash")
            cur += name[i + 1].encode("latin-1")
            i += 2
            continue
        if c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur += c.encode("ascii")
        i += 1
    labels.append(bytes(cur))
    if any(not label or len(label) > 63 for label in labels):
        raise ValueError(f"DNS name {name!r} has an empty label or one longer than 63 bytes")
    if sum(len(label) + 1 for label in labels) + 1 > _MAX_NAME:
        raise ValueError(f"DNS name {name!r} is longer than 255 bytes")
    return labels


def names_equal(a: str, b: str) -> bool:
    """Whether two names are the same, ignoring ASCII case (RFC 4343)."""
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def _write_name(out: bytearray, name: str, table: dict[bytes, int] | None) -> None:
    labels = encode_name(name)
    for i in range(len(labels)):
        key = b".".join(label.lower() for label in labels[i:])
        if table is not None and key in table:
            out += struct.pack("!H", 0xC000 | table[key])
            return
        if table is not None and len(out) < 0x4000:
            table[key] = len(out)
        out.append(len(labels[i]))
        out += labels[i]
    out.append(0)


# -- records -----------------------------------------------------------------------------------------------------------
def _read_record(buf: bytes, pos: int) -> tuple[Record, int]:
    name, pos = read_name(buf, pos)
    if pos + 10 > len(buf):
        raise Malformed("DNS record header truncated")
    rtype, rclass, ttl, rdlen = _RRFIXED.unpack_from(buf, pos)
    pos += 10
    end = pos + rdlen
    if end > len(buf):
        raise Malformed("DNS record data runs past the message")
    data: Any
    if rtype == A:
        if rdlen != 4:
            raise Malformed(f"A record of {rdlen} bytes")
        data = IPv4Address(buf[pos:end])
    elif rtype == AAAA:
        if rdlen != 16:
            raise Malformed(f"AAAA record of {rdlen} bytes")
        data = IPv6Address(buf[pos:end])
    elif rtype in (CNAME, NS, PTR):
        data, after = read_name(buf, pos, end)
        if after != end:
            raise Malformed("DNS name record with bytes after the name")
    elif rtype == SRV:
        if rdlen < 7:
            raise Malformed("SRV record truncated")
        prio, weight, port = _SRV.unpack_from(buf, pos)
        target, after = read_name(buf, pos + 6, end)
        if after != end:
            raise Malformed("SRV record with bytes after the target")
        data = Srv(prio, weight, port, target)
    elif rtype == TXT:
        strings = []
        p = pos
        while p < end:
            n = buf[p]
            if p + 1 + n > end:
                raise Malformed("TXT string runs past its record")
            strings.append(buf[p + 1:p + 1 + n])
            p += 1 + n
        data = tuple(strings)
    elif rtype == SOA:
        mname, p = read_name(buf, pos, end)
        rname, p = read_name(buf, p, end)
        if p + 20 != end:
            raise Malformed("SOA record of the wrong length")
        data = Soa(mname, rname, *_SOA_TAIL.unpack_from(buf, p))
    elif rtype == NSEC:
        nxt, p = read_name(buf, pos, end)
        data = Nsec(nxt, _read_type_bitmaps(buf, p, end))
    else:
        data = buf[pos:end]
    return Record(name, rtype, rclass, ttl, data), end


def _write_record(out: bytearray, r: Record, table: dict[bytes, int] | None) -> None:
    _write_name(out, r.name, table)
    fixed = len(out)
    out += _RRFIXED.pack(r.rtype, r.rclass, r.ttl, 0)
    start = len(out)
    d = r.data
    if r.rtype in (A, AAAA) and isinstance(d, (IPv4Address, IPv6Address)):
        out += d.packed
    elif r.rtype in (CNAME, NS, PTR) and isinstance(d, str):
        _write_name(out, d, table)
    elif r.rtype == SRV and isinstance(d, Srv):
        out += _SRV.pack(d.priority, d.weight, d.port)
        _write_name(out, d.target, None)  # RFC 2782: the target is not compressed
    elif r.rtype == TXT and isinstance(d, tuple):
        for s in d:
            if len(s) > 255:
                raise ValueError("a TXT string is at most 255 bytes")
            out.append(len(s))
            out += s
    elif r.rtype == SOA and isinstance(d, Soa):
        _write_name(out, d.mname, table)
        _write_name(out, d.rname, table)
        out += _SOA_TAIL.pack(d.serial, d.refresh, d.retry, d.expire, d.minimum)
    elif r.rtype == NSEC and isinstance(d, Nsec):
        _write_name(out, d.next_name, None)  # RFC 4034 4.1.1 / RFC 6762 18.14: the next name is not compressed
        out += _type_bitmaps(d.types)
    else:
        out += bytes(d)
    rdlen = len(out) - start
    if rdlen > 0xFFFF:
        raise ValueError("record data longer than 65535 bytes")
    struct.pack_into("!H", out, fixed + 8, rdlen)


def _read_type_bitmaps(buf: bytes, p: int, end: int) -> tuple[int, ...]:
    """The types of an NSEC type bit map (RFC 4034 4.1.2): windows in increasing order, each 1..32 bytes."""
    types: list[int] = []
    last = -1
    while p < end:
        if p + 2 > end:
            raise Malformed("NSEC window header truncated")
        window, n = buf[p], buf[p + 1]
        if window <= last or not 1 <= n <= 32 or p + 2 + n > end:
            raise Malformed("NSEC type bit map window out of order, empty, too long or truncated")
        last = window
        for i in range(n):
            byte = buf[p + 2 + i]
            for bit in range(8):
                if byte & (0x80 >> bit):
                    types.append(window * 256 + i * 8 + bit)
        p += 2 + n
    return tuple(types)


def _type_bitmaps(types: tuple[int, ...] | list[int]) -> bytes:
    windows: dict[int, bytearray] = {}
    for t in sorted(set(types)):
        if not 0 <= t <= 0xFFFF:
            raise ValueError(f"record type {t} out of range")
        bits = windows.setdefault(t >> 8, bytearray(32))
        bits[(t & 0xFF) >> 3] |= 0x80 >> (t & 7)
    out = bytearray()
    for window, bits in sorted(windows.items()):
        n = max(i for i, b in enumerate(bits) if b) + 1
        out += bytes((window, n)) + bits[:n]
    return bytes(out)
