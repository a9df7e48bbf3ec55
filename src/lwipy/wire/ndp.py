"""IPv6 Neighbor Discovery (RFC 4861) messages and their options, as whole ICMPv6 messages.

Every ND message is an ICMPv6 message (type, code, checksum) with a fixed part that depends on the type, then a
chain of type-length-value options.  An option's length counts the type and length octets and is in units of 8
octets, so options are always padded to a multiple of 8::

    RS  133  reserved(4)                                                      options...
    RA  134  cur_hop_limit(1) M|O|H|Prf|P(1) router_lifetime(2) reachable_time(4) retrans_timer(4) options...
    NS  135  reserved(4) target(16)                                           options...
    NA  136  R|S|O + reserved(4) target(16)                                   options...
    RD  137  reserved(4) target(16) destination(16)                           options...

``parse`` takes the whole message once :func:`lwipy.wire.icmpv6.verify_checksum` passed (the checksum field is not
read); ``emit`` writes the whole message with the checksum field zero, for :func:`lwipy.wire.icmpv6.fill_checksum`.
Addresses are 16 packed bytes, link-layer addresses 6 on Ethernet.

Rules from RFC 4861 that a reader might not expect:

- Every message's validity checks include "ICMP Code is 0" (6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1): another code is
  :class:`~lwipy.errors.Malformed`.  The hop limit 255 check (IP layer) and the address checks (source, target
  not multicast: neighbour discovery proper) are not made here.
- 4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero"; an option running past
  the end is as fatal, since the rest of the chain cannot be found.
- 4.6: "Receivers MUST silently ignore any options they do not recognize and continue processing the message": they
  are kept as :class:`UnknownOption`.  Reserved fields are written zero and ignored on reading.

Options whose length their RFC fixes (Prefix Information 4, MTU 1, Route Information 1-3 as the prefix length
requires, RFC 4191 2.3; RDNSS 1 + 2n with n >= 1, RFC 8106 5.1) are Malformed at any other length.  A link-layer
address option may be longer than 1 on other links: ``mac`` is then the whole field with its padding, and an
Ethernet reader takes its first 6 bytes, as lwIP does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Union

from ..errors import Malformed
from .icmpv6 import NEIGHBOR_ADVERT, NEIGHBOR_SOLICIT, REDIRECT, ROUTER_ADVERT, ROUTER_SOLICIT

__all__ = [
    "RouterSolicit", "RouterAdvert", "NeighborSolicit", "NeighborAdvert", "Redirect", "NdMessage",
    "SourceLinkAddr", "TargetLinkAddr", "PrefixInfo", "RedirectedHeader", "MtuOption", "RouteInfo", "Rdnss",
    "UnknownOption", "Option", "parse_nd", "parse_options", "emit_options", "options_len",
    "OPT_SOURCE_LLADDR", "OPT_TARGET_LLADDR", "OPT_PREFIX_INFO", "OPT_REDIRECTED_HEADER", "OPT_MTU",
    "OPT_ROUTE_INFO", "OPT_RDNSS", "RA_FLAG_MANAGED", "RA_FLAG_OTHER", "RA_FLAG_HOME_AGENT", "RA_FLAG_PROXY",
    "PRF_MEDIUM", "PRF_HIGH", "PRF_RESERVED", "PRF_LOW",
]

Buffer = Union[bytes, bytearray, memoryview]

# option types (RFC 4861 4.6; RFC 4191 2.3; RFC 8106 5.1)
OPT_SOURCE_LLADDR, OPT_TARGET_LLADDR, OPT_PREFIX_INFO, OPT_REDIRECTED_HEADER, OPT_MTU = 1, 2, 3, 4, 5
OPT_ROUTE_INFO, OPT_RDNSS = 24, 25

# RA flags byte: M, O (RFC 4861 4.2), H (RFC 6275 7.1), Prf (RFC 4191 2.2, bits 0x18), P (RFC 4389 4.1)
RA_FLAG_MANAGED, RA_FLAG_OTHER, RA_FLAG_HOME_AGENT, RA_FLAG_PROXY = 0x80, 0x40, 0x20, 0x04
_RA_PRF_MASK = 0x18
_RA_EXTRA_MASK = 0xFF & ~(RA_FLAG_MANAGED | RA_FLAG_OTHER | _RA_PRF_MASK)

#: Router preference (RFC 4191 2.1), a 2-bit two's complement value: 01 high, 00 medium, 11 low, 10 reserved
#: ("the receiver MUST treat the value as if it were (00)" in an RA; a Route Information option with it is ignored).
PRF_MEDIUM, PRF_HIGH, PRF_RESERVED, PRF_LOW = 0, 1, 2, 3

_NA_ROUTER, _NA_SOLICITED, _NA_OVERRIDE = 0x80000000, 0x40000000, 0x20000000
_PI_ON_LINK, _PI_AUTONOMOUS, _PI_ROUTER_ADDR = 0x80, 0x40, 0x20

_MTU = struct.Struct("!BBxxI")
_PREFIX = struct.Struct("!BBBBIIxxxx16s")
_ROUTE = [struct.Struct(f"!BBBBI{n}s") for n in (0, 8, 16)]
_RDNSS = struct.Struct("!BBxxI")
# messages: type, code, checksum, then the fixed fields
_RS = struct.Struct("!BBHxxxx")
_RA = struct.Struct("!BBHBBHII")
_NS = struct.Struct("!BBHxxxx16s")
_NA = struct.Struct("!BBHI16s")
_RD = struct.Struct("!BBHxxxx16s16s")


def _padded_len(size: int) -> int:
    """The bytes of an option whose type, length and body take ``size`` bytes: a multiple of 8."""
    return (size + 7) & ~7


def _emit_padded(buf: Buffer, offset: int, type_: int, data: bytes, skip: int, length: int) -> None:
    """Write an option of ``length`` bytes: type, length, ``skip`` zero bytes, ``data``, zeros (``s`` pads)."""
    struct.pack_into(f"!BB{skip}x{length - 2 - skip}s", buf, offset, type_, length >> 3, data)


# -- options: each has ``type``, ``buffer_len`` and ``emit(buf, offset)``; parse_options reads them ------------------
class _LinkAddr:
    __slots__ = ()
    type: ClassVar[int]
    mac: bytes

    @property
    def buffer_len(self) -> int:
        return _padded_len(2 + len(self.mac))

    def emit(self, buf: Buffer, offset: int) -> None:
        _emit_padded(buf, offset, self.type, self.mac, 0, self.buffer_len)


@dataclass(slots=True)
class SourceLinkAddr(_LinkAddr):
    """Source Link-Layer Address option (RFC 4861 4.6.1): the sender's link-layer address, 6 bytes on Ethernet."""

    mac: bytes
    type: ClassVar[int] = OPT_SOURCE_LLADDR


@dataclass(slots=True)
class TargetLinkAddr(_LinkAddr):
    """Target Link-Layer Address option (RFC 4861 4.6.1): the target's link-layer address, 6 bytes on Ethernet."""

    mac: bytes
    type: ClassVar[int] = OPT_TARGET_LLADDR


@dataclass(slots=True)
class PrefixInfo:
    """Prefix Information option (RFC 4861 4.6.2), in router advertisements.  Lifetimes are in seconds, 0xFFFFFFFF
    meaning infinity; ``router_addr`` is the R flag of RFC 6275 7.2 (``prefix`` is then a full router address)."""

    prefix_len: int
    on_link: bool
    autonomous: bool
    valid_lifetime: int
    preferred_lifetime: int
    prefix: bytes
    router_addr: bool = False
    type: ClassVar[int] = OPT_PREFIX_INFO
    buffer_len: ClassVar[int] = 32

    def emit(self, buf: Buffer, offset: int) -> None:
        flags = (_PI_ON_LINK if self.on_link else 0) | (_PI_AUTONOMOUS if self.autonomous else 0)
        flags |= _PI_ROUTER_ADDR if self.router_addr else 0
        _PREFIX.pack_into(buf, offset, self.type, 4, self.prefix_len, flags, self.valid_lifetime,
                          self.preferred_lifetime, self.prefix)


@dataclass(slots=True)
class RedirectedHeader:
    """Redirected Header option (RFC 4861 4.6.3): the start of the redirected packet (IP header and data).  Emitted
    padded with zeros to a multiple of 8 bytes; a sender cuts the packet so the redirect fits in 1280 bytes."""

    data: bytes
    type: ClassVar[int] = OPT_REDIRECTED_HEADER

    @property
    def buffer_len(self) -> int:
        return _padded_len(8 + len(self.data))

    def emit(self, buf: Buffer, offset: int) -> None:
        _emit_padded(buf, offset, self.type, self.data, 6, self.buffer_len)


@dataclass(slots=True)
class MtuOption:
    """MTU option (RFC 4861 4.6.4): the link MTU routers advertise."""

    mtu: int
    type: ClassVar[int] = OPT_MTU
    buffer_len: ClassVar[int] = 8

    def emit(self, buf: Buffer, offset: int) -> None:
        _MTU.pack_into(buf, offset, self.type, 1, self.mtu)


@dataclass(slots=True)
class RouteInfo:
    """Route Information option (RFC 4191 2.3): a more-specific route through the advertising router.  ``prf`` is
    a PRF_* value, ``route_lifetime`` in seconds (0xFFFFFFFF infinity).  ``prefix`` is 16 bytes; only the bytes the
    prefix length needs are sent (the option is 8, 16 or 24 bytes), the rest read back as zero."""

    prefix_len: int
    prf: int
    route_lifetime: int
    prefix: bytes
    type: ClassVar[int] = OPT_ROUTE_INFO

    @property
    def buffer_len(self) -> int:
        return 8 * _route_units(self.prefix_len)

    def emit(self, buf: Buffer, offset: int) -> None:
        units = _route_units(self.prefix_len)
        _ROUTE[units - 1].pack_into(buf, offset, self.type, units, self.prefix_len, (self.prf & 3) << 3,
                                    self.route_lifetime, self.prefix)


def _route_units(prefix_len: int) -> int:
    """The smallest Route Information length for ``prefix_len`` (RFC 4191 2.3)."""
    return 1 if prefix_len == 0 else 2 if prefix_len <= 64 else 3


@dataclass(slots=True)
class Rdnss:
    """Recursive DNS Server option (RFC 8106 5.1): ``servers`` (16 packed bytes each, at least one) usable for
    ``lifetime`` seconds (0xFFFFFFFF infinity, 0 withdraws them)."""

    lifetime: int
    servers: list[bytes]
    type: ClassVar[int] = OPT_RDNSS

    @property
    def buffer_len(self) -> int:
        return 8 + 16 * len(self.servers)

    def emit(self, buf: Buffer, offset: int) -> None:
        if not self.servers:
            raise ValueError("an RDNSS option carries at least one server (RFC 8106 5.1)")
        _RDNSS.pack_into(buf, offset, self.type, 1 + 2 * len(self.servers), self.lifetime)
        struct.pack_into(f"{16 * len(self.servers)}s", buf, offset + 8, b"".join(self.servers))


@dataclass(slots=True)
class UnknownOption:
    """An option this module does not interpret: ``data`` is everything after the type and length octets (RFC 4861
    4.6: it is skipped, not an error).  Emitted padded with zeros to a multiple of 8 bytes."""

    type: int
    data: bytes

    @property
    def buffer_len(self) -> int:
        return _padded_len(2 + len(self.data))

    def emit(self, buf: Buffer, offset: int) -> None:
        _emit_padded(buf, offset, self.type, self.data, 0, self.buffer_len)


Option = Union[SourceLinkAddr, TargetLinkAddr, PrefixInfo, RedirectedHeader, MtuOption, RouteInfo, Rdnss, UnknownOption]


def _parse_prefix(opt: memoryview) -> PrefixInfo:
    if len(opt) != _PREFIX.size:
        raise Malformed(f"prefix information option of length {len(opt) >> 3} (RFC 4861 4.6.2: 4)")
    _, _, plen, flags, valid, preferred, prefix = _PREFIX.unpack_from(opt)
    if plen > 128:
        raise Malformed(f"prefix information option with prefix length {plen}")
    return PrefixInfo(plen, bool(flags & _PI_ON_LINK), bool(flags & _PI_AUTONOMOUS), valid, preferred, prefix,
                      bool(flags & _PI_ROUTER_ADDR))


def _parse_mtu(opt: memoryview) -> MtuOption:
    if len(opt) != 8:
        raise Malformed(f"MTU option of length {len(opt) >> 3}")
    return MtuOption(_MTU.unpack_from(opt)[2])


def _parse_route(opt: memoryview) -> RouteInfo:
    units = len(opt) >> 3
    plen = opt[2]
    # RFC 4191 2.3: "If Prefix Length is greater than 64, then Length must be 3.  If Prefix Length is greater than
    # 0, then Length must be 2 or 3."
    if units > 3 or plen > 128 or units < _route_units(plen):
        raise Malformed(f"route information option of length {units} for prefix length {plen}")
    _, _, _, flags, lifetime, prefix = _ROUTE[units - 1].unpack_from(opt)
    return RouteInfo(plen, (flags >> 3) & 3, lifetime, prefix.ljust(16, b"\0"))


def _parse_rdnss(opt: memoryview) -> Rdnss:
    units = len(opt) >> 3
    if units < 3 or not units & 1:
        raise Malformed(f"RDNSS option of length {units}")
    raw = bytes(opt[8:])
    return Rdnss(_RDNSS.unpack_from(opt)[2], [raw[i:i + 16] for i in range(0, len(raw), 16)])


_OPTION_PARSERS: dict[int, Callable[[memoryview], Option]] = {
    OPT_SOURCE_LLADDR: lambda opt: SourceLinkAddr(bytes(opt[2:])),
    OPT_TARGET_LLADDR: lambda opt: TargetLinkAddr(bytes(opt[2:])),
    OPT_PREFIX_INFO: _parse_prefix,
    OPT_REDIRECTED_HEADER: lambda opt: RedirectedHeader(bytes(opt[8:])),
    OPT_MTU: _parse_mtu,
    OPT_ROUTE_INFO: _parse_route,
    OPT_RDNSS: _parse_rdnss,
}


def parse_options(data: Buffer) -> list[Option]:
    """The options in ``data`` (the message after its fixed part), in order; unknown types as :class:`UnknownOption`.

    Raises Malformed for an option of length zero, one cut short by the end of ``data``, or a known option whose
    length is impossible for its type."""
    mv = memoryview(data)
    end = len(mv)
    pos = 0
    options: list[Option] = []
    while pos < end:
        if end - pos < 2:
            raise Malformed("ND option header cut short")
        type_, units = mv[pos], mv[pos + 1]
        if not units:
            raise Malformed(f"ND option {type_} of length zero (RFC 4861 4.6)")
        stop = pos + 8 * units
        if stop > end:
            raise Malformed(f"ND option {type_} of {8 * units} bytes runs past the message ({end - pos} left)")
        parser = _OPTION_PARSERS.get(type_)
        options.append(parser(mv[pos:stop]) if parser else UnknownOption(type_, bytes(mv[pos + 2:stop])))
        pos = stop
    return options


def options_len(options: list[Option]) -> int:
    """The bytes :func:`emit_options` writes for ``options``."""
    return sum(opt.buffer_len for opt in options)


def emit_options(options: list[Option], buf: Buffer, offset: int) -> int:
    """Write ``options`` in order at ``offset``; returns the bytes written."""
    pos = offset
    for opt in options:
        opt.emit(buf, pos)
        pos += opt.buffer_len
    return pos - offset


# -- messages ---------------------------------------------------------------------------------------------------------
class _Message:
    """What the five messages share: a fixed part (``_FIXED``: type, code, checksum, fields) then options.  Their
    ``parse(message)`` reads the whole ICMPv6 message and raises Malformed unless it is a valid one of its type."""

    __slots__ = ()
    type: ClassVar[int]
    _FIXED: ClassVar[struct.Struct]
    options: list[Option]

    @classmethod
    def _split(cls, message: Buffer) -> tuple[tuple, list[Option]]:
        """The fields of the fixed part after type, code and checksum (those checked) and the options."""
        mv = memoryview(message)
        if len(mv) < cls._FIXED.size:
            raise Malformed(f"{cls.__name__} of {len(mv)} bytes is shorter than its {cls._FIXED.size}-byte fixed part")
        fields = cls._FIXED.unpack_from(mv)
        if fields[0] != cls.type:
            raise Malformed(f"ICMPv6 type {fields[0]} is not a {cls.__name__} ({cls.type})")
        if fields[1] != 0:
            raise Malformed(f"{cls.__name__} with code {fields[1]} (RFC 4861: code is 0)")
        return fields[3:], parse_options(mv[cls._FIXED.size:])

    def _values(self) -> tuple:
        return ()

    @property
    def buffer_len(self) -> int:
        """The bytes :meth:`emit` writes: the fixed part and the options."""
        return self._FIXED.size + options_len(self.options)

    def emit(self, buf: Buffer, offset: int) -> None:
        """Write the whole message at ``offset``, its checksum field zero (see icmpv6.fill_checksum)."""
        self._FIXED.pack_into(buf, offset, self.type, 0, 0, *self._values())
        emit_options(self.options, buf, offset + self._FIXED.size)


@dataclass(slots=True)
class RouterSolicit(_Message):
    """Router Solicitation (RFC 4861 4.1): a host asks routers to advertise now.  Usual option: SourceLinkAddr
    (not when sent from the unspecified address)."""

    options: list[Option] = field(default_factory=list)
    type: ClassVar[int] = ROUTER_SOLICIT
    _FIXED: ClassVar[struct.Struct] = _RS

    @classmethod
    def parse(cls, message: Buffer) -> "RouterSolicit":
        return cls(cls._split(message)[1])


@dataclass(slots=True)
class RouterAdvert(_Message):
    """Router Advertisement (RFC 4861 4.2).  ``cur_hop_limit`` 0 means unspecified; ``router_lifetime`` in seconds
    (0: not a default router); ``reachable_time`` and ``retrans_timer`` in milliseconds (0: unspecified).
    ``managed`` and ``other`` are the M and O flags (DHCPv6 for addresses / other configuration), ``prf`` the default
    router preference (RFC 4191 2.2, a PRF_* value), ``extra_flags`` the remaining bits of the flags byte as they sit
    in it (RA_FLAG_HOME_AGENT, RA_FLAG_PROXY, reserved).  Usual options: SourceLinkAddr, MtuOption, PrefixInfo,
    RouteInfo, Rdnss."""

    cur_hop_limit: int
    managed: bool
    other: bool
    router_lifetime: int
    reachable_time: int
    retrans_timer: int
    options: list[Option] = field(default_factory=list)
    prf: int = PRF_MEDIUM
    extra_flags: int = 0
    type: ClassVar[int] = ROUTER_ADVERT
    _FIXED: ClassVar[struct.Struct] = _RA

    @property
    def flags(self) -> int:
        """The whole flags byte."""
        return ((RA_FLAG_MANAGED if self.managed else 0) | (RA_FLAG_OTHER if self.other else 0)
                | (self.prf & 3) << 3 | (self.extra_flags & _RA_EXTRA_MASK))

    @classmethod
    def parse(cls, message: Buffer) -> "RouterAdvert":
        (hop_limit, flags, lifetime, reachable, retrans), options = cls._split(message)
        return cls(hop_limit, bool(flags & RA_FLAG_MANAGED), bool(flags & RA_FLAG_OTHER), lifetime, reachable,
                   retrans, options, (flags >> 3) & 3, flags & _RA_EXTRA_MASK)

    def _values(self) -> tuple:
        return self.cur_hop_limit, self.flags, self.router_lifetime, self.reachable_time, self.retrans_timer


@dataclass(slots=True)
class NeighborSolicit(_Message):
    """Neighbor Solicitation (RFC 4861 4.3): resolve ``target`` or check it is still reachable; from the
    unspecified address for duplicate address detection.  Usual option: SourceLinkAddr."""

    target: bytes
    options: list[Option] = field(default_factory=list)
    type: ClassVar[int] = NEIGHBOR_SOLICIT
    _FIXED: ClassVar[struct.Struct] = _NS

    @classmethod
    def parse(cls, message: Buffer) -> "NeighborSolicit":
        (target,), options = cls._split(message)
        return cls(target, options)

    def _values(self) -> tuple:
        return (self.target,)


@dataclass(slots=True)
class NeighborAdvert(_Message):
    """Neighbor Advertisement (RFC 4861 4.4): ``router`` (R), ``solicited`` (S: answers a solicitation) and
    ``override`` (O: replace a cached link-layer address) flags about ``target``.  Usual option: TargetLinkAddr."""

    target: bytes
    router: bool
    solicited: bool
    override: bool
    options: list[Option] = field(default_factory=list)
    type: ClassVar[int] = NEIGHBOR_ADVERT
    _FIXED: ClassVar[struct.Struct] = _NA

    @classmethod
    def parse(cls, message: Buffer) -> "NeighborAdvert":
        (flags, target), options = cls._split(message)
        return cls(target, bool(flags & _NA_ROUTER), bool(flags & _NA_SOLICITED), bool(flags & _NA_OVERRIDE), options)

    def _values(self) -> tuple:
        flags = ((_NA_ROUTER if self.router else 0) | (_NA_SOLICITED if self.solicited else 0)
                 | (_NA_OVERRIDE if self.override else 0))
        return flags, self.target


@dataclass(slots=True)
class Redirect(_Message):
    """Redirect (RFC 4861 4.5): packets for ``destination`` are better sent to ``target`` (a router, or the
    destination itself when ``target == destination``: it is on-link).  Usual options: TargetLinkAddr,
    RedirectedHeader."""

    target: bytes
    destination: bytes
    options: list[Option] = field(default_factory=list)
    type: ClassVar[int] = REDIRECT
    _FIXED: ClassVar[struct.Struct] = _RD

    @classmethod
    def parse(cls, message: Buffer) -> "Redirect":
        (target, destination), options = cls._split(message)
        return cls(target, destination, options)

    def _values(self) -> tuple:
        return self.target, self.destination


NdMessage = Union[RouterSolicit, RouterAdvert, NeighborSolicit, NeighborAdvert, Redirect]

_MESSAGES: dict[int, Callable[[Buffer], NdMessage]] = {
    cls.type: cls.parse for cls in (RouterSolicit, RouterAdvert, NeighborSolicit, NeighborAdvert, Redirect)}


def parse_nd(message: Buffer) -> NdMessage:
    """The ND message in the whole ICMPv6 ``message`` (checksum already verified), by its type (133 to 137).

    Raises Malformed for another type or anything that does not parse."""
    if not len(message):
        raise Malformed("empty ICMPv6 message")
    parser = _MESSAGES.get(message[0])
    if parser is None:
        raise Malformed(f"ICMPv6 type {message[0]} is not a neighbor discovery message")
    return parser(message)
