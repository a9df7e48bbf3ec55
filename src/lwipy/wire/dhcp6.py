"""DHCPv6 messages (RFC 8415) as lwIP's stateless client uses them: Information-Request out, Reply (and Advertise) in.

Theory of the format.  A client/server message is a 1-byte type, a 3-byte transaction id and then options up to the end
of the UDP payload (RFC 8415 8): no overall length, no padding, no end option.  Each option is a 2-byte code, a 2-byte
length and that many bytes of data (RFC 8415 21.1), so a truncated message shows as an option header or body running
past the end, except where the cut falls exactly between two options: that is a shorter valid message.  Options nest
with the same shape (RFC 5908 NTP suboptions here).  Relay-Forward and Relay-Reply have another header (hop count, link
and peer addresses) and travel only between relays and servers, so for a client they are :class:`Malformed`.

Parsing gives a typed option for the codes a stateless client reads and a raw :class:`Dhcp6Option` for every other
code (IA_NA, Preference...), kept in order so nothing is lost.  Typed options check their own shape: a DNS server list
that is not a multiple of 16 bytes makes the whole message :class:`Malformed`.  Domain names (RFC 3646 domain search
list, RFC 5908 NTP server FQDN) are RFC 1035 3.1 labels, and RFC 8415 10 forbids compression: "A domain name, or list
of domain names, in DHCP MUST NOT be stored in compressed form", so a pointer is malformed here, unlike in DNS.

The parser keeps values raw where a rule belongs to the client: an Information Refresh Time below IRT_MINIMUM (600 s)
is reported as sent, and the client raises it to the minimum (RFC 8415 21.23); a missing Status Code means Success
(RFC 8415 21.13), which :func:`reply_info` fills in.

lwIP's ``dhcp6_information_request`` sends only an Option Request (DNS servers, domain list, SNTP servers), without the
Client Identifier and Elapsed Time RFC 8415 18.2.6 asks for; :func:`information_request` adds both unless told not to.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar, Union

from ..errors import Malformed

__all__ = [
    "Dhcp6Message", "Dhcp6Option", "Option", "ClientId", "ServerId", "OptionRequest", "ElapsedTime", "StatusCode",
    "DnsServers", "DomainList", "SntpServers", "InformationRefreshTime", "NtpServer", "ReplyInfo",
    "information_request", "reply_info", "duid_ll", "duid_llt", "parse_duid",
    "SOLICIT", "ADVERTISE", "REQUEST", "CONFIRM", "RENEW", "REBIND", "REPLY", "RELEASE", "DECLINE", "RECONFIGURE",
    "INFORMATION_REQUEST", "RELAY_FORW", "RELAY_REPL", "CLIENT_PORT", "SERVER_PORT",
    "ALL_DHCP_RELAY_AGENTS_AND_SERVERS", "HEADER_LEN", "CLIENTID", "SERVERID", "ORO", "ELAPSED_TIME", "STATUS_CODE",
    "DNS_SERVERS", "DOMAIN_LIST", "SNTP_SERVERS", "INFORMATION_REFRESH_TIME", "NTP_SERVER", "STATUS_SUCCESS",
    "STATUS_UNSPEC_FAIL", "STATUS_NO_ADDRS_AVAIL", "STATUS_NO_BINDING", "STATUS_NOT_ON_LINK", "STATUS_USE_MULTICAST",
    "STATUS_NO_PREFIX_AVAIL", "DUID_LLT", "DUID_EN", "DUID_LL", "DUID_UUID", "HWTYPE_ETHERNET",
    "NTP_SUBOPTION_SRV_ADDR", "NTP_SUBOPTION_MC_ADDR", "NTP_SUBOPTION_SRV_FQDN", "IRT_DEFAULT", "IRT_MINIMUM",
    "LWIP_ORO",
]

# message types (RFC 8415 7.3)
SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY = 1, 2, 3, 4, 5, 6, 7
RELEASE, DECLINE, RECONFIGURE, INFORMATION_REQUEST, RELAY_FORW, RELAY_REPL = 8, 9, 10, 11, 12, 13

CLIENT_PORT, SERVER_PORT = 546, 547
#: ff02::1:2, where a client sends without knowing a server (RFC 8415 7.1)
ALL_DHCP_RELAY_AGENTS_AND_SERVERS = bytes.fromhex("ff020000000000000000000000010002")
HEADER_LEN = 4

# option codes (RFC 8415 21; RFC 3646; RFC 4075; RFC 5908)
CLIENTID, SERVERID, ORO, ELAPSED_TIME, STATUS_CODE = 1, 2, 6, 8, 13
DNS_SERVERS, DOMAIN_LIST, SNTP_SERVERS, INFORMATION_REFRESH_TIME, NTP_SERVER = 23, 24, 31, 32, 56

# status codes (RFC 8415 21.13)
STATUS_SUCCESS, STATUS_UNSPEC_FAIL, STATUS_NO_ADDRS_AVAIL, STATUS_NO_BINDING = 0, 1, 2, 3
STATUS_NOT_ON_LINK, STATUS_USE_MULTICAST, STATUS_NO_PREFIX_AVAIL = 4, 5, 6

# DUID types (RFC 8415 11; RFC 6355) and the hardware type of Ethernet (RFC 826)
DUID_LLT, DUID_EN, DUID_LL, DUID_UUID = 1, 2, 3, 4
HWTYPE_ETHERNET = 1

# NTP server suboptions (RFC 5908 4)
NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_MC_ADDR, NTP_SUBOPTION_SRV_FQDN = 1, 2, 3

#: information refresh time when the server sends none, and the least a client uses (RFC 8415 7.6, 21.23)
IRT_DEFAULT, IRT_MINIMUM = 86400, 600
#: what lwIP's dhcp6_information_request puts in its Option Request
LWIP_ORO = (DNS_SERVERS, DOMAIN_LIST, SNTP_SERVERS)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_OPT = struct.Struct("!HH")
_DUID_LLT = struct.Struct("!HHI")
_DUID_HEADS = {DUID_LLT: _DUID_LLT, DUID_EN: struct.Struct("!HI"), DUID_LL: _OPT}  # the fixed fields of each type
_ADDR_LEN = 16
_MAX_NAME = 255  # RFC 1035 3.1, label and length octets together


def _tlvs(data: memoryview) -> Iterator[tuple[int, memoryview]]:
    """The (code, data) of each option in ``data``, which the options must fill exactly."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            raise Malformed(f"DHCPv6 option header truncated: {end - pos} bytes left")
        code, length = _OPT.unpack_from(data, pos)
        pos += 4
        if length > end - pos:
            raise Malformed(f"DHCPv6 option {code} of length {length} with {end - pos} bytes left")
        yield code, data[pos:pos + length]
        pos += length


def _parse_names(data: memoryview) -> list[str]:
    """Uncompressed, fully qualified domain names back to back (RFC 1035 3.1), as dotted strings without the final
    dot (the root is "").  Labels must be ASCII and hold no dot, so the string form is exact."""
    names: list[str] = []
    labels: list[str] = []
    start = pos = 0
    end = len(data)
    while pos < end:
        n = data[pos]
        pos += 1
        if n == 0:
            if pos - start > _MAX_NAME:
                raise Malformed(f"domain name of {pos - start} bytes")
            names.append(".".join(labels))
            labels, start = [], pos
        elif n > 63:
            raise Malformed("compression pointer in a DHCPv6 domain name" if n >= 0xC0 else f"label type {n:#x}")
        elif n > end - pos:
            raise Malformed(f"label of {n} bytes runs past the end of the option")
        else:
            try:
                label = str(data[pos:pos + n], "ascii")
            except UnicodeDecodeError:
                raise Malformed("non-ASCII byte in a domain label") from None
            if "." in label:
                raise Malformed("dot inside a domain label")
            labels.append(label)
            pos += n
    if start != end:
        raise Malformed("domain name without its terminating zero label")
    return names


def _encode_name(name: str) -> bytes:
    """``name`` (a trailing dot allowed) in DNS wire format; ValueError if it cannot be one."""
    text = name[:-1] if name.endswith(".") else name
    out = bytearray()
    for label in text.split(".") if text else ():
        raw = label.encode("ascii")
        if not 0 < len(raw) <= 63:
            raise ValueError(f"label {label!r} in {name!r}: 1 to 63 bytes")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > _MAX_NAME:
        raise ValueError(f"domain name {name!r} over {_MAX_NAME} bytes")
    return bytes(out)


@dataclass(slots=True)
class Dhcp6Option:
    """An option lwipy does not interpret, kept as it came: its ``code`` and raw ``data``."""

    code: int
    data: bytes

    def encode(self) -> bytes:
        """The option data (without code and length)."""
        return self.data


class _Typed:
    """Shared by the typed options: the code is the class's ``CODE``."""

    __slots__ = ()
    CODE: ClassVar[int] = 0

    @property
    def code(self) -> int:
        return self.CODE


@dataclass(slots=True)
class _DuidOption(_Typed):
    duid: bytes

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) < 2:
            raise Malformed(f"DUID of {len(data)} bytes has no type")  # RFC 8415 11: a 2-octet type code first
        return cls(bytes(data))

    def encode(self) -> bytes:
        return self.duid


@dataclass(slots=True)
class ClientId(_DuidOption):
    """Client Identifier (RFC 8415 21.2): the client's ``duid`` (see :func:`duid_ll`, :func:`parse_duid`)."""

    CODE: ClassVar[int] = CLIENTID


@dataclass(slots=True)
class ServerId(_DuidOption):
    """Server Identifier (RFC 8415 21.3): the server's ``duid``."""

    CODE: ClassVar[int] = SERVERID


@dataclass(slots=True)
class OptionRequest(_Typed):
    """Option Request (RFC 8415 21.7): the option ``codes`` the client asks for."""

    codes: list[int]
    CODE: ClassVar[int] = ORO

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) & 1:
            raise Malformed(f"Option Request of odd length {len(data)}")
        return cls(list(struct.unpack(f"!{len(data) // 2}H", data)))

    def encode(self) -> bytes:
        return struct.pack(f"!{len(self.codes)}H", *self.codes)


@dataclass(slots=True)
class ElapsedTime(_Typed):
    """Elapsed Time (RFC 8415 21.9) in ``centiseconds`` since the first message of the exchange.  Larger values are
    stored as 0xffff: "The client uses the value 0xffff to represent any elapsed-time values greater than the
    largest time value that can be represented in the Elapsed Time option"."""

    centiseconds: int
    CODE: ClassVar[int] = ELAPSED_TIME

    def __post_init__(self) -> None:
        if self.centiseconds < 0:
            raise ValueError(f"negative elapsed time {self.centiseconds}")
        self.centiseconds = min(self.centiseconds, 0xFFFF)

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) != 2:
            raise Malformed(f"Elapsed Time of {len(data)} bytes")
        return cls(_U16.unpack(data)[0])

    def encode(self) -> bytes:
        return _U16.pack(self.centiseconds)


@dataclass(slots=True)
class StatusCode(_Typed):
    """Status Code (RFC 8415 21.13): a ``status`` (STATUS_*) and a UTF-8 ``message`` for people.  The field is not
    called ``code``: that is the option code, as on every option."""

    status: int
    message: str = ""
    CODE: ClassVar[int] = STATUS_CODE

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) < 2:
            raise Malformed(f"Status Code of {len(data)} bytes")
        try:
            message = str(data[2:], "utf-8")
        except UnicodeDecodeError:
            raise Malformed("Status Code message is not UTF-8") from None
        return cls(_U16.unpack_from(data)[0], message)

    def encode(self) -> bytes:
        return _U16.pack(self.status) + self.message.encode("utf-8")


@dataclass(slots=True)
class _AddressList(_Typed):
    addresses: list[bytes]

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) % _ADDR_LEN:
            raise Malformed(f"address list of {len(data)} bytes is not a multiple of 16")
        return cls([bytes(data[i:i + _ADDR_LEN]) for i in range(0, len(data), _ADDR_LEN)])

    def encode(self) -> bytes:
        if any(len(a) != _ADDR_LEN for a in self.addresses):
            raise ValueError("IPv6 addresses are 16 packed bytes")
        return b"".join(self.addresses)


@dataclass(slots=True)
class DnsServers(_AddressList):
    """DNS Recursive Name Server (RFC 3646 3): ``addresses``, 16 packed bytes each, in order of preference."""

    CODE: ClassVar[int] = DNS_SERVERS


@dataclass(slots=True)
class SntpServers(_AddressList):
    """SNTP Servers (RFC 4075 4): ``addresses``, 16 packed bytes each, in order of preference."""

    CODE: ClassVar[int] = SNTP_SERVERS


@dataclass(slots=True)
class DomainList(_Typed):
    """Domain Search List (RFC 3646 4): ``names`` as dotted strings without the trailing dot."""

    names: list[str]
    CODE: ClassVar[int] = DOMAIN_LIST

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        return cls(_parse_names(data))

    def encode(self) -> bytes:
        return b"".join(_encode_name(n) for n in self.names)


@dataclass(slots=True)
class InformationRefreshTime(_Typed):
    """Information Refresh Time (RFC 8415 21.23) in ``seconds``, as sent (0xffffffff is infinity).  Raising a value
    below IRT_MINIMUM is the client's job, so the parser keeps it."""

    seconds: int
    CODE: ClassVar[int] = INFORMATION_REFRESH_TIME

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        if len(data) != 4:
            raise Malformed(f"Information Refresh Time of {len(data)} bytes")
        return cls(_U32.unpack(data)[0])

    def encode(self) -> bytes:
        return _U32.pack(self.seconds)


@dataclass(slots=True)
class NtpServer(_Typed):
    """NTP Server (RFC 5908 4): ``suboptions`` (NTP_SUBOPTION_*), each a :class:`Dhcp6Option`.  Addresses must be 16
    bytes and an FQDN one uncompressed name; other suboption codes are kept as they are."""

    suboptions: list[Dhcp6Option]
    CODE: ClassVar[int] = NTP_SERVER

    @classmethod
    def parse(cls, data: memoryview) -> Self:
        subs = []
        for code, body in _tlvs(data):
            if code in (NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_MC_ADDR) and len(body) != _ADDR_LEN:
                raise Malformed(f"NTP server address suboption of {len(body)} bytes")
            if code == NTP_SUBOPTION_SRV_FQDN and len(_parse_names(body)) != 1:
                raise Malformed("NTP server FQDN suboption holds no single name")
            subs.append(Dhcp6Option(code, bytes(body)))
        return cls(subs)

    def encode(self) -> bytes:
        return b"".join(_OPT.pack(s.code, len(s.data)) + s.data for s in self.suboptions)

    @property
    def addresses(self) -> list[bytes]:
        """Server and multicast addresses, in order."""
        return [s.data for s in self.suboptions if s.code in (NTP_SUBOPTION_SRV_ADDR, NTP_SUBOPTION_MC_ADDR)]

    @property
    def fqdns(self) -> list[str]:
        """Server names, in order."""
        return [_parse_names(memoryview(s.data))[0] for s in self.suboptions if s.code == NTP_SUBOPTION_SRV_FQDN]


#: any option a message holds
Option = Union[Dhcp6Option, ClientId, ServerId, OptionRequest, ElapsedTime, StatusCode, DnsServers, DomainList,
               SntpServers, InformationRefreshTime, NtpServer]

_T = TypeVar("_T")

_TYPED: dict[int, Callable[[memoryview], Option]] = {
    cls.CODE: cls.parse for cls in (ClientId, ServerId, OptionRequest, ElapsedTime, StatusCode, DnsServers, DomainList,
                                    SntpServers, InformationRefreshTime, NtpServer)
}


@dataclass(slots=True)
class Dhcp6Message:
    """A client/server message (RFC 8415 8): ``msg_type``, a 24-bit ``transaction_id`` and ``options`` in order."""

    msg_type: int
    transaction_id: int
    options: list[Option] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> "Dhcp6Message":
        """Read a whole UDP payload; options of known codes come back typed, others as :class:`Dhcp6Option`."""
        mv = memoryview(data)
        if len(mv) < HEADER_LEN:
            raise Malformed(f"DHCPv6 message of {len(mv)} bytes")
        (word,) = _U32.unpack_from(mv)
        msg_type = word >> 24
        if msg_type in (RELAY_FORW, RELAY_REPL):
            raise Malformed(f"DHCPv6 relay message (type {msg_type}) sent to a client")
        options: list[Option] = []
        for code, body in _tlvs(mv[HEADER_LEN:]):
            typed = _TYPED.get(code)
            options.append(typed(body) if typed else Dhcp6Option(code, bytes(body)))
        return cls(msg_type, word & 0xFFFFFF, options)

    @property
    def buffer_len(self) -> int:
        """Bytes :meth:`emit` writes."""
        return HEADER_LEN + sum(4 + len(o.encode()) for o in self.options)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the message at ``offset``; ValueError for values that do not fit their fields or the buffer."""
        if not (0 <= self.msg_type <= 0xFF and 0 <= self.transaction_id <= 0xFFFFFF):
            raise ValueError(f"message type {self.msg_type} or transaction id {self.transaction_id:#x} out of range")
        encoded = [(o.code, o.encode()) for o in self.options]
        if any(len(d) > 0xFFFF for _, d in encoded):
            raise ValueError("DHCPv6 option data over 65535 bytes")
        total = HEADER_LEN + sum(4 + len(d) for _, d in encoded)
        if offset < 0 or len(buf) - offset < total:
            raise ValueError(f"{total}-byte DHCPv6 message at offset {offset} of a {len(buf)}-byte buffer")
        _U32.pack_into(buf, offset, self.msg_type << 24 | self.transaction_id)
        mv = memoryview(buf)
        pos = offset + HEADER_LEN
        for code, data in encoded:
            _OPT.pack_into(buf, pos, code, len(data))
            mv[pos + 4:pos + 4 + len(data)] = data
            pos += 4 + len(data)

    def option(self, code: int) -> Option | None:
        """The first option with ``code``, or None."""
        return next((o for o in self.options if o.code == code), None)

    def options_of(self, code: int) -> list[Option]:
        """Every option with ``code``, in order."""
        return [o for o in self.options if o.code == code]

    def find(self, kind: type[_T]) -> _T | None:
        """The first option of the typed class ``kind`` (``msg.find(DnsServers)``), or None."""
        return next((o for o in self.options if isinstance(o, kind)), None)


def information_request(transaction_id: int, client_duid: bytes | None, oro_codes: Iterable[int] = LWIP_ORO,
                        elapsed_cs: int | None = 0) -> Dhcp6Message:
    """An Information-Request: Client Identifier, Option Request for ``oro_codes``, Elapsed Time.  With
    ``client_duid`` and ``elapsed_cs`` None it is byte for byte what lwIP's dhcp6_information_request sends."""
    options: list[Option] = []
    if client_duid is not None:
        options.append(ClientId(client_duid))
    options.append(OptionRequest(list(oro_codes)))
    if elapsed_cs is not None:
        options.append(ElapsedTime(elapsed_cs))
    return Dhcp6Message(INFORMATION_REQUEST, transaction_id, options)


@dataclass(slots=True)
class ReplyInfo:
    """What a stateless client takes from a Reply.  For each kind the first option counts.

    ``dns_servers``, ``sntp_servers``: 16-byte addresses (RFC 3646, RFC 4075); ``domains``: the search list;
    ``refresh_time``: seconds as sent, None when absent (the client then uses IRT_DEFAULT); ``status``: the message's
    Status Code, Success when absent (RFC 8415 21.13); ``ntp_servers``: addresses from RFC 5908 NTP Server options;
    ``server_id``, ``client_id``: the DUIDs, None when absent (the client checks them, RFC 8415 16.10)."""

    dns_servers: list[bytes]
    domains: list[str]
    sntp_servers: list[bytes]
    refresh_time: int | None
    status: StatusCode
    ntp_servers: list[bytes] = field(default_factory=list)
    server_id: bytes | None = None
    client_id: bytes | None = None


def reply_info(msg: Dhcp6Message) -> ReplyInfo:
    """The configuration in a Reply (or Advertise) ``msg``."""
    dns, sntp, domains = msg.find(DnsServers), msg.find(SntpServers), msg.find(DomainList)
    refresh, status, ntp = msg.find(InformationRefreshTime), msg.find(StatusCode), msg.find(NtpServer)
    server, client = msg.find(ServerId), msg.find(ClientId)
    return ReplyInfo(
        dns_servers=list(dns.addresses) if dns else [],
        domains=list(domains.names) if domains else [],
        sntp_servers=list(sntp.addresses) if sntp else [],
        refresh_time=refresh.seconds if refresh else None,
        status=status or StatusCode(STATUS_SUCCESS),
        ntp_servers=ntp.addresses if ntp else [],
        server_id=server.duid if server else None,
        client_id=client.duid if client else None,
    )


def duid_ll(mac: bytes, hwtype: int = HWTYPE_ETHERNET) -> bytes:
    """A DUID-LL (RFC 8415 11.4) from a link-layer address, Ethernet by default."""
    return _OPT.pack(DUID_LL, hwtype) + bytes(mac)


def duid_llt(mac: bytes, time: int, hwtype: int = HWTYPE_ETHERNET) -> bytes:
    """A DUID-LLT (RFC 8415 11.2); ``time`` is seconds since 2000-01-01 UTC, modulo 2**32."""
    return _DUID_LLT.pack(DUID_LLT, hwtype, time & 0xFFFFFFFF) + bytes(mac)


def parse_duid(duid: bytes | bytearray | memoryview) -> tuple[int | bytes, ...]:
    """The fields of a DUID: ``(DUID_LLT, hwtype, time, lladdr)``, ``(DUID_EN, enterprise, identifier)``,
    ``(DUID_LL, hwtype, lladdr)``, ``(DUID_UUID, uuid16)``, or ``(type, rest)`` for another type."""
    mv = memoryview(duid)
    if len(mv) < 2:
        raise Malformed(f"DUID of {len(mv)} bytes has no type")
    (type_,) = _U16.unpack_from(mv)
    head = _DUID_HEADS.get(type_, _U16)
    if len(mv) < head.size or (type_ == DUID_UUID and len(mv) != 18):  # RFC 6355 4: a 128-bit UUID
        raise Malformed(f"DUID of type {type_} in {len(mv)} bytes")
    return (*head.unpack_from(mv), bytes(mv[head.size:]))
