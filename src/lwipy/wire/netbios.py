"""NetBIOS name service packets (RFC 1002 4.2), as lwIP's ``netbiosns.c`` reads and writes them.

A name travels first-level encoded (RFC 1001 14.1): 15 characters padded with spaces plus a suffix byte (0x00 for a
workstation, 0x20 for a server), each byte as two letters ``'A' + nibble``, 32 bytes behind a length byte of 0x20
and ahead of the empty scope (a 0 byte).  :func:`parse_question` reads a query's header and one question;
:func:`name_query_response` and :func:`node_status_response` write lwIP's answers.  Anything malformed raises
:class:`~lwipy.errors.Malformed`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from ..errors import Malformed

__all__ = ["PORT", "NAME_LEN", "QTYPE_NB", "QTYPE_NBSTAT", "QCLASS_IN", "FLAG_RESPONSE", "FLAG_AUTHORITATIVE",
           "FLAG_RECURSION_DESIRED", "FLAG_BROADCAST", "NAME_TTL", "NetbiosQuestion", "encode_name", "decode_name",
           "parse_question", "name_query_response", "node_status_response", "name_query"]

PORT = 137
NAME_LEN = 16  # NETBIOS_NAME_LEN: 15 characters and the suffix
QTYPE_NB, QTYPE_NBSTAT, QCLASS_IN = 0x0020, 0x0021, 0x0001
# the flags word (RFC 1002 4.2.1.1): R, opcode (4 bits), NM_FLAGS (AA TC RD RA 0 0 B), RCODE
FLAG_RESPONSE, FLAG_AUTHORITATIVE, FLAG_RECURSION_DESIRED, FLAG_BROADCAST = 0x8000, 0x0400, 0x0100, 0x0010
OPCODE_MASK = 0x7800
NAME_TTL = 300000  # lwIP's NETBIOS_NAME_TTL
NFLAG_ACTIVE = 0x0400  # NETB_NFLAG_NAME_IS_ACTIVE; node type B (0) and unique (0)

_HDR = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")
_ENC_LEN = 32


@dataclass(frozen=True, slots=True)
class NetbiosQuestion:
    """A query's header fields and its one question: the name (trailing spaces removed), its suffix byte, type."""

    trans_id: int
    flags: int
    name: bytes
    suffix: int
    qtype: int
    qclass: int
    encoded: bytes  # the 34 bytes of the name as they came (length, 32 letters, scope terminator)
    qdcount: int = 1  # the header's question count (the first question is the one read)


def encode_name(name: bytes | str, suffix: int = 0x00) -> bytes:
    """The encoded name: 0x20, 32 letters, 0 (``*`` is padded with zeros, as the wildcard of a node status query)."""
    raw = name.encode("ascii") if isinstance(name, str) else bytes(name)
    if len(raw) > NAME_LEN - 1:
        raise ValueError(f"a NetBIOS name is at most 15 characters: {raw!r}")
    pad = b"\x00" if raw == b"*" else b" "
    full = raw + pad * (NAME_LEN - 1 - len(raw)) + bytes((suffix,))
    out = bytearray((_ENC_LEN,))
    for b in full:
        out += bytes((0x41 + (b >> 4), 0x41 + (b & 0x0F)))
    out.append(0)
    return bytes(out)


def decode_name(buf: bytes | memoryview, pos: int = 0) -> tuple[bytes, int, int]:
    """(name without its padding, suffix, offset behind the name) of the encoded name at ``pos``."""
    if pos + 2 + _ENC_LEN > len(buf) or buf[pos] != _ENC_LEN:
        raise Malformed("NetBIOS name is not 32 encoded bytes")
    if buf[pos + 1 + _ENC_LEN] != 0:
        raise Malformed("NetBIOS name has a scope (lwIP takes none)")
    raw = bytearray()
    for i in range(pos + 1, pos + 1 + _ENC_LEN, 2):
        hi, lo = buf[i] - 0x41, buf[i + 1] - 0x41
        if not (0 <= hi < 16 and 0 <= lo < 16):
            raise Malformed("NetBIOS name holds a byte outside 'A'..'P'")
        raw.append(hi << 4 | lo)
    return bytes(raw[:NAME_LEN - 1]).rstrip(b" \x00"), raw[NAME_LEN - 1], pos + 2 + _ENC_LEN


def parse_question(data: bytes | bytearray | memoryview) -> NetbiosQuestion:
    """The header and the one question of a name service packet."""
    buf = bytes(data)
    if len(buf) < _HDR.size:
        raise Malformed("NetBIOS packet shorter than its header")
    trans_id, flags, qd, _an, _ns, _ar = _HDR.unpack_from(buf)
    if qd < 1:
        raise Malformed("NetBIOS packet without a question")
    name, suffix, pos = decode_name(buf, _HDR.size)
    if pos + _QTAIL.size > len(buf):
        raise Malformed("NetBIOS question truncated")
    qtype, qclass = _QTAIL.unpack_from(buf, pos)
    return NetbiosQuestion(trans_id, flags, name, suffix, qtype, qclass, buf[_HDR.size:pos], qd)


def name_query(trans_id: int, name: bytes | str, suffix: int = 0x00, broadcast: bool = True) -> bytes:
    """A name query, as nmblookup sends one (RD, and B when broadcast)."""
    flags = FLAG_RECURSION_DESIRED | (FLAG_BROADCAST if broadcast else 0)
    return _HDR.pack(trans_id, flags, 1, 0, 0, 0) + encode_name(name, suffix) + _QTAIL.pack(QTYPE_NB, QCLASS_IN)


def name_query_response(q: NetbiosQuestion, addr: IPv4Address) -> bytes:
    """lwIP's positive name query response: R, AA, RD, one answer of type NB, TTL NETBIOS_NAME_TTL, B-node."""
    flags = FLAG_RESPONSE | FLAG_AUTHORITATIVE | FLAG_RECURSION_DESIRED
    return (_HDR.pack(q.trans_id, flags, 0, 1, 0, 0) + q.encoded + _RR.pack(QTYPE_NB, QCLASS_IN, NAME_TTL, 6)
            + b"\x00\x00" + addr.packed)


def node_status_response(q: NetbiosQuestion, name: bytes, mac: bytes) -> bytes:
    """lwIP's node status response (``LWIP_NETBIOS_RESPOND_NAME_QUERY``): one name (ours, suffix 0x00, active,
    B-node) and the statistics with the MAC as unit id (RFC 1002 4.2.18)."""
    flags = FLAG_RESPONSE | FLAG_AUTHORITATIVE
    entry = name.ljust(NAME_LEN - 1, b" ") + b"\x00" + struct.pack("!H", NFLAG_ACTIVE)
    stats = bytes(mac[:6]).ljust(6, b"\x00") + bytes(40)
    rdata = b"\x01" + entry + stats
    return _HDR.pack(q.trans_id, flags, 0, 1, 0, 0) + q.encoded + _RR.pack(QTYPE_NBSTAT, QCLASS_IN, 0, len(rdata)) + rdata
