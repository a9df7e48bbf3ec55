"""BOOTP/DHCP messages (RFC 951, RFC 2131, RFC 2132) as lwIP's client and ESP-IDF's server read and write them.

Theory of the format.  A message is a fixed 236-byte BOOTP header (op, htype, hlen, hops, xid, secs, flags, ciaddr,
yiaddr, siaddr, giaddr, a 16-byte chaddr, a 64-byte sname and a 128-byte file), the magic cookie 99.130.83.99 and
then options: a code byte, a length byte and that many bytes, except Pad (0, one byte) and End (255).  Option
Overload (52, RFC 2132 9.3) says that the file and/or sname fields hold more options; RFC 2131 4.1 reads them in the
order options, file, sname, each ending with its own End.  An option may be split in several pieces with one code
(RFC 3396): :meth:`DhcpMessage.get` concatenates them.

What is malformed here (:class:`~lwipy.errors.Malformed`): fewer than 240 bytes, a wrong cookie, an option whose
length runs past its field, and Option Overload appearing anywhere but once in the options field (inside file or
sname it would be a loop).  A missing End is not malformed at the end of the options field (lwIP's
``dhcp_parse_reply`` stops at the end of the data), but :attr:`DhcpMessage.end_seen` tells; a server may insist.
Option values are kept raw (the client or server decides what a wrong length means), with helpers that read them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from ..errors import Malformed

__all__ = [
    "DhcpMessage", "HEADER_LEN", "COOKIE", "BOOTREQUEST", "BOOTREPLY", "CLIENT_PORT", "SERVER_PORT", "FLAG_BROADCAST",
    "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM", "MESSAGE_TYPES",
    "PAD", "END", "SUBNET_MASK", "ROUTER", "DNS_SERVER", "HOSTNAME", "BROADCAST_ADDR", "NTP_SERVER",
    "VENDOR_SPECIFIC", "REQUESTED_IP", "LEASE_TIME", "OVERLOAD", "MESSAGE_TYPE", "SERVER_ID", "PARAMETER_REQUEST",
    "MESSAGE", "MAX_MESSAGE_SIZE", "T1", "T2", "VENDOR_CLASS", "CLIENT_ID", "INTERFACE_MTU", "ROUTER_DISCOVERY",
    "CAPTIVE_PORTAL", "ip_list", "u32", "u16", "ip_of",
]

BOOTREQUEST, BOOTREPLY = 1, 2
CLIENT_PORT, SERVER_PORT = 68, 67
FLAG_BROADCAST = 0x8000
COOKIE = b"\x63\x82\x53\x63"
HEADER_LEN = 240  # the BOOTP header and the cookie

# message types (RFC 2132 9.6)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
MESSAGE_TYPES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE", ACK: "ACK",
                 NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM"}

# option codes (RFC 2132; RFC 2242 for 26's neighbours; RFC 8910 for 114)
PAD, END = 0, 255
SUBNET_MASK, ROUTER, DNS_SERVER, HOSTNAME, INTERFACE_MTU, BROADCAST_ADDR = 1, 3, 6, 12, 26, 28
ROUTER_DISCOVERY, NTP_SERVER, VENDOR_SPECIFIC = 31, 42, 43
REQUESTED_IP, LEASE_TIME, OVERLOAD, MESSAGE_TYPE, SERVER_ID, PARAMETER_REQUEST = 50, 51, 52, 53, 54, 55
MESSAGE, MAX_MESSAGE_SIZE, T1, T2, VENDOR_CLASS, CLIENT_ID = 56, 57, 58, 59, 60, 61
CAPTIVE_PORTAL = 114

_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s4s")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")
_OVERLOAD_FILE, _OVERLOAD_SNAME = 1, 2


def ip_list(value: bytes | None) -> list[IPv4Address]:
    """An option holding IPv4 addresses (3, 6, 42...): every whole 4 bytes (a stray tail is ignored, as lwIP)."""
    if not value:
        return []
    return [IPv4Address(value[i:i + 4]) for i in range(0, len(value) - 3, 4)]


def ip_of(value: bytes | None) -> IPv4Address | None:
    """An option holding one address (1, 50, 54): None unless exactly 4 bytes."""
    return IPv4Address(value) if value is not None and len(value) == 4 else None


def u32(value: bytes | None) -> int | None:
    """A 32-bit option (51, 58, 59): None unless exactly 4 bytes."""
    return _U32.unpack(value)[0] if value is not None and len(value) == 4 else None


def u16(value: bytes | None) -> int | None:
    return _U16.unpack(value)[0] if value is not None and len(value) == 2 else None


def _parse_options(data: bytes, where: str, out: list[tuple[int, bytes]], allow_overload: bool) -> tuple[bool, int]:
    """Read one field's options into ``out``; returns (End seen, overload value or 0)."""
    i, n, overload = 0, len(data), 0
    while i < n:
        code = data[i]
        if code == PAD:
            i += 1
            continue
        if code == END:
            return True, overload
        if i + 1 >= n:
            raise Malformed(f"DHCP option {code} in {where} has no length byte")
        length = data[i + 1]
        if i + 2 + length > n:
            raise Malformed(f"DHCP option {code} in {where} says {length} bytes, {n - i - 2} are left")
        value = data[i + 2:i + 2 + length]
        if code == OVERLOAD:
            if not allow_overload or overload or length != 1 or not 1 <= value[0] <= 3:
                raise Malformed(f"DHCP option overload {value.hex()} in {where} (a loop or a bad value)")
            overload = value[0]
        else:
            out.append((code, value))
        i += 2 + length
    return False, overload


@dataclass(slots=True)
class DhcpMessage:
    """A BOOTP/DHCP message: ``parse(data)`` and ``emit()``; options as (code, value) pairs in order."""

    op: int = BOOTREQUEST
    xid: int = 0
    chaddr: bytes = bytes(6)
    ciaddr: IPv4Address = IPv4Address(0)
    yiaddr: IPv4Address = IPv4Address(0)
    siaddr: IPv4Address = IPv4Address(0)
    giaddr: IPv4Address = IPv4Address(0)
    secs: int = 0
    flags: int = 0
    hops: int = 0
    htype: int = 1
    hlen: int = 6
    #: the server host name field (empty when it held options)
    sname: bytes = b""
    #: the boot file name field (empty when it held options)
    file: bytes = b""
    #: every option, those of overloaded file and sname fields included (after the main field's), Pad and End not
    options: list[tuple[int, bytes]] = field(default_factory=list)
    #: options to emit inside the file field (Option Overload 52 is added); on parse they go to ``options``
    file_options: list[tuple[int, bytes]] = field(default_factory=list)
    #: options to emit inside the sname field
    sname_options: list[tuple[int, bytes]] = field(default_factory=list)
    #: parse: whether the options field ended with End (a server may drop a message without)
    end_seen: bool = True
    #: parse: the Option Overload value found (0: none)
    overload: int = 0

    # -- reading ------------------------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "DhcpMessage":
        data = bytes(data)
        if len(data) < HEADER_LEN:
            raise Malformed(f"a DHCP message has at least {HEADER_LEN} bytes, not {len(data)}")
        (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, ch, sname, file,
         cookie) = _HEADER.unpack_from(data)
        if cookie != COOKIE:
            raise Malformed(f"DHCP magic cookie {cookie.hex()} is not 63825363")
        if hlen > 16:
            raise Malformed(f"DHCP hlen {hlen} exceeds the 16-byte chaddr")
        options: list[tuple[int, bytes]] = []
        end_seen, overload = _parse_options(data[HEADER_LEN:], "options", options, True)
        if overload & _OVERLOAD_FILE:
            _parse_options(file, "file", options, False)
            file = b""
        if overload & _OVERLOAD_SNAME:
            _parse_options(sname, "sname", options, False)
            sname = b""
        return cls(op, xid, ch[:hlen], IPv4Address(ci), IPv4Address(yi), IPv4Address(si), IPv4Address(gi), secs,
                   flags, hops, htype, hlen, sname.rstrip(b"\0"), file.rstrip(b"\0"), options, [], [], end_seen,
                   overload)

    def get(self, code: int) -> bytes | None:
        """The value of option ``code`` (its pieces concatenated, RFC 3396), or None when absent."""
        parts = [v for c, v in self.options if c == code]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def has(self, code: int) -> bool:
        return any(c == code for c, _ in self.options)

    @property
    def message_type(self) -> int | None:
        """Option 53's value (None when absent or not one byte)."""
        value = self.get(MESSAGE_TYPE)
        return value[0] if value is not None and len(value) == 1 else None

    # -- writing ------------------------------------------------------------------------------------------------------
    def add(self, code: int, value: bytes | int | IPv4Address | list[IPv4Address] | str) -> "DhcpMessage":
        """Append an option; ints are one byte (53, 52), use :func:`struct` packing for wider ones."""
        if isinstance(value, int):
            value = bytes([value])
        elif isinstance(value, IPv4Address):
            value = value.packed
        elif isinstance(value, str):
            value = value.encode()
        elif isinstance(value, list):
            value = b"".join(a.packed for a in value)
        self.options.append((code, bytes(value)))
        return self

    @property
    def buffer_len(self) -> int:
        """The emitted length without padding: header, options, End."""
        return HEADER_LEN + sum(2 + len(v) for _, v in self.options) + 1 + (3 if self.file_options or
                                                                          self.sname_options else 0)

    def emit(self, min_options: int = 0) -> bytearray:
        """The message's bytes; the options field padded with Pad to at least ``min_options`` bytes (lwIP: 68) and
        a multiple of 4, as ``dhcp_option_trailer``.  A value over 255 bytes is split into pieces (RFC 3396)."""
        overload = (_OVERLOAD_FILE if self.file_options else 0) | (_OVERLOAD_SNAME if self.sname_options else 0)
        sname = _field(self.sname_options, 64, "sname") if self.sname_options else self.sname
        file = _field(self.file_options, 128, "file") if self.file_options else self.file
        if len(sname) > 64 or len(file) > 128:
            raise ValueError("sname is 64 bytes at most, file 128")
        opts = bytearray()
        if overload:
            opts += bytes((OVERLOAD, 1, overload))
        _put_options(opts, self.options)
        opts.append(END)
        while len(opts) < min_options or len(opts) & 3:
            opts.append(PAD)
        out = bytearray(HEADER_LEN + len(opts))
        _HEADER.pack_into(out, 0, self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags,
                          self.ciaddr.packed, self.yiaddr.packed, self.siaddr.packed, self.giaddr.packed,
                          bytes(self.chaddr).ljust(16, b"\0"), bytes(sname), bytes(file), COOKIE)
        out[HEADER_LEN:] = opts
        return out

    def __repr__(self) -> str:
        mtype = MESSAGE_TYPES.get(self.message_type or 0, "BOOTP" if self.message_type is None else "?")
        return (f"<DHCP {mtype} xid={self.xid:#010x} chaddr={bytes(self.chaddr).hex(':')} ciaddr={self.ciaddr} "
                f"yiaddr={self.yiaddr} options={[c for c, _ in self.options]}>")


def _put_options(out: bytearray, options: list[tuple[int, bytes]]) -> None:
    for code, value in options:
        if not value:
            out += bytes((code, 0))
        for i in range(0, len(value), 255):
            piece = value[i:i + 255]
            out += bytes((code, len(piece)))
            out += piece


def _field(options: list[tuple[int, bytes]], size: int, name: str) -> bytes:
    out = bytearray()
    _put_options(out, options)
    out.append(END)
    if len(out) > size:
        raise ValueError(f"the options for {name} need {len(out)} bytes, the field has {size}")
    return bytes(out.ljust(size, b"\0"))
