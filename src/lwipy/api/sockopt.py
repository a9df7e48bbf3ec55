"""Socket options (``lwip_getsockopt``/``lwip_setsockopt``): the options ESP-IDF's lwIP serves, as a table.

Each option names the socket types it applies to (TCP, UDP, RAW), how its value is read from what
``setsockopt`` was given (an int, or bytes of the C struct), and what it changes: a value kept on the socket, a pcb
attribute set through the netconn (:meth:`~lwipy.api.netconn.Netconn.set_option`, which also holds for a TCP pcb
made later), or an action such as joining a group.  As in lwIP:

- an option the table lacks, or one asked of a socket type it does not apply to, is ``ENOPROTOOPT``;
- a value too short for the option (``optlen`` below the C type's size), or out of range, is ``EINVAL``;
- ``SO_ERROR`` reads and clears the pending error; ``SO_ACCEPTCONN``, ``SO_TYPE`` and ``SO_ERROR`` are read-only.

``getsockopt(level, name)`` returns an int; ``getsockopt(level, name, buflen)`` returns the C value's bytes
(``struct linger``, ``struct timeval``, ``struct in_addr``...), as Python's socket module does.
"""

from __future__ import annotations

import errno
import struct
import sys
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LwipError
from .defs import NETCONN_RAW, NETCONN_TCP, NETCONN_UDP
from .sockdefs import (IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPV6_CHECKSUM, IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP,
                       IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP, IPV6_RECVPKTINFO, IPV6_UNICAST_HOPS,
                       IPV6_V6ONLY, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MULTICAST_IF, IP_MULTICAST_LOOP,
                       IP_MULTICAST_TTL, IP_PKTINFO, IP_TOS, IP_TTL, LWIP_SOL_SOCKET, SOL_SOCKET, SO_ACCEPTCONN, SO_BROADCAST,
                       SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_NO_CHECK, SO_RCVBUF, SO_RCVTIMEO, SO_REUSEADDR, SO_SNDTIMEO,
                       SO_TYPE, TCP_KEEPALIVE, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_NODELAY)

if TYPE_CHECKING:
    from .sockets import LwipSocket

__all__ = ["getsockopt", "setsockopt"]

_INT = struct.Struct("i")
_LINGER = struct.Struct("ii")  # struct linger: l_onoff, l_linger (seconds)
_TIMEVAL = struct.Struct("ll")  # struct timeval: tv_sec, tv_usec
ALL = (NETCONN_TCP, NETCONN_UDP, NETCONN_RAW)
TCP = (NETCONN_TCP,)
UDP = (NETCONN_UDP,)


def _einval(what: str) -> LwipError:
    return LwipError(errno.EINVAL, what)


def _as_int(value: Any) -> int:
    """An int option's value: an int, or at least 4 bytes of a C int (``optlen`` >= sizeof(int))."""
    if isinstance(value, bool) or isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) < _INT.size:
            raise _einval("the option takes an int (4 bytes)")
        return int(_INT.unpack_from(value)[0])
    raise TypeError(f"a socket option's value is an int or bytes, not {type(value).__name__}")


def _as_u8(value: Any) -> int:
    """IP_MULTICAST_TTL and IP_MULTICAST_LOOP take an int or a single byte (as Linux does)."""
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) < _INT.size:
        if not len(value):
            raise _einval("the option takes a byte or an int")
        return value[0]
    return _as_int(value)


def _as_bytes(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) < size:
        raise _einval(f"the option takes a {what} ({size} bytes)")
    return bytes(value)


def _timeout_value(value: Any) -> float | None:
    """``struct timeval`` (or lwIP's non-standard int milliseconds) as seconds; 0 means no timeout."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        sec, usec = _TIMEVAL.unpack_from(_as_bytes(value, _TIMEVAL.size, "struct timeval"))
        if sec < 0 or not 0 <= usec < 1_000_000:
            raise LwipError(errno.EDOM, "the timeval is out of range")
        seconds = sec + usec / 1e6
    else:
        ms = _as_int(value)
        if ms < 0:
            raise LwipError(errno.EDOM, "the timeout is negative")
        seconds = ms / 1000.0
    return seconds or None


def _addr_value(packed: bytes) -> IPv4Address | None:
    addr = IPv4Address(packed)
    return None if addr == IPv4Address(0) else addr


# -- what options do --------------------------------------------------------------------------------------------------
def _pcb_flag(name: str) -> Callable[["LwipSocket", Any], None]:
    def set_(sock: "LwipSocket", value: Any) -> None:
        sock._set_pcb_option(name, bool(_as_int(value)))
    return set_


def _set_rcvbuf(sock: "LwipSocket", value: Any) -> None:
    n = _as_int(value)
    if n < 0:
        raise _einval("SO_RCVBUF is negative")
    sock._opts["rcvbuf"] = n
    sock._conn.recv_bufsize = n or 0x7FFFFFFF


def _set_timeo(key: str) -> Callable[["LwipSocket", Any], None]:
    def set_(sock: "LwipSocket", value: Any) -> None:
        sock._opts[key] = _timeout_value(value)
        sock._apply_timeouts()
    return set_


def _get_timeo(key: str) -> Callable[["LwipSocket", int | None], int | bytes]:
    def get(sock: "LwipSocket", buflen: int | None) -> int | bytes:
        seconds = sock._opts[key] or 0.0
        if buflen is None:
            return int(round(seconds * 1000))
        return _TIMEVAL.pack(int(seconds), int(round((seconds % 1) * 1e6)))
    return get


def _set_linger(sock: "LwipSocket", value: Any) -> None:
    onoff, secs = _LINGER.unpack_from(_as_bytes(value, _LINGER.size, "struct linger"))
    if onoff and secs < 0:
        raise _einval("l_linger is negative")
    sock._opts["linger"] = float(secs) if onoff else None


def _get_linger(sock: "LwipSocket", buflen: int | None) -> int | bytes:
    linger = sock._opts["linger"]
    onoff, secs = (0, 0) if linger is None else (1, int(linger))
    return onoff if buflen is None else _LINGER.pack(onoff, secs)


def _set_pktinfo(sock: "LwipSocket", value: Any) -> None:
    sock._opts["pktinfo"] = bool(_as_int(value))


def _set_recvpktinfo6(sock: "LwipSocket", value: Any) -> None:
    sock._opts["recvpktinfo6"] = bool(_as_int(value))


def _set_ttl(sock: "LwipSocket", value: Any) -> None:
    ttl = _as_int(value)
    if ttl == -1:
        ttl = sock._loop.stack.config.ip_default_ttl
    if not 1 <= ttl <= 255:
        raise _einval("IP_TTL is 1..255 (or -1 for the default)")
    sock._set_pcb_option("ttl", ttl)


def _set_tos(sock: "LwipSocket", value: Any) -> None:
    sock._set_pcb_option("tos", _as_int(value) & 0xFF)


def _set_mcast_ttl(sock: "LwipSocket", value: Any) -> None:
    ttl = _as_u8(value)
    if ttl == -1:
        ttl = 1
    if not 0 <= ttl <= 255:
        raise _einval("IP_MULTICAST_TTL is 0..255 (or -1 for the default)")
    sock._set_pcb_option("multicast_ttl", ttl)


def _set_mcast_loop(sock: "LwipSocket", value: Any) -> None:
    sock._set_pcb_option("multicast_loop", bool(_as_u8(value)))


def _set_mcast_if(sock: "LwipSocket", value: Any) -> None:
    """``struct in_addr``, or ``struct ip_mreqn`` (its address, else its interface index)."""
    raw = _as_bytes(value, 4, "struct in_addr")
    addr = _addr_value(raw[4:8] if len(raw) >= 12 else raw[:4])
    if addr is None and len(raw) >= 12:
        addr = sock._netif_address(_INT.unpack_from(raw, 8)[0])
    sock._set_pcb_option("multicast_if", addr)


def _get_mcast_if(sock: "LwipSocket", buflen: int | None) -> int | bytes:
    addr = sock._opts.get("multicast_if") or IPv4Address(0)
    return addr.packed if buflen is not None else int.from_bytes(addr.packed, sys.byteorder)


def _membership(join: bool) -> Callable[["LwipSocket", Any], None]:
    """``struct ip_mreq`` (group, interface address) or ``struct ip_mreqn`` (group, address, interface index)."""
    def set_(sock: "LwipSocket", value: Any) -> None:
        raw = _as_bytes(value, 8, "struct ip_mreq")
        group = IPv4Address(raw[:4])
        iface = _addr_value(raw[4:8])
        if iface is None and len(raw) >= 12:
            iface = sock._netif_address(_INT.unpack_from(raw, 8)[0])
        if join:
            _join(sock, group, iface)
        else:
            sock._conn.leave_group(group, iface)
    return set_


def _join(sock: "LwipSocket", group: Any, iface: Any) -> None:
    """lwip_setsockopt: a join that fails for want of group entries (ENOMEM from igmp/mld6) is EADDRNOTAVAIL."""
    try:
        sock._conn.join_group(group, iface)
    except LwipError as e:
        if e.errno == errno.ENOMEM:
            raise LwipError(errno.EADDRNOTAVAIL, e.strerror or "no multicast group entry is free") from None
        raise


def _set_v6only(sock: "LwipSocket", value: Any) -> None:
    if sock._bound:
        raise _einval("IPV6_V6ONLY is set before bind")
    sock._set_pcb_option("v6only", bool(_as_int(value)))


def _set_hops(name: str, default: int | None) -> Callable[["LwipSocket", Any], None]:
    def set_(sock: "LwipSocket", value: Any) -> None:
        hops = _as_int(value)
        if hops == -1:
            sock._set_pcb_option(name, default)
            return
        if not 0 <= hops <= 255:
            raise _einval("the hop limit is 0..255 (or -1 for the default)")
        sock._set_pcb_option(name, hops)
    return set_


def _set_mcast_if6(sock: "LwipSocket", value: Any) -> None:
    index = _as_int(value)
    sock._opts["multicast_if6"] = index
    sock._set_pcb_option("multicast_netif6", sock._netif(index) if index else None)


def _membership6(join: bool) -> Callable[["LwipSocket", Any], None]:
    """``struct ipv6_mreq``: the group (16 bytes) and the interface index (0: the default netif)."""
    def set_(sock: "LwipSocket", value: Any) -> None:
        raw = _as_bytes(value, 20, "struct ipv6_mreq")
        group = IPv6Address(raw[:16])
        if not group.is_multicast:
            raise _einval(f"{group} is not a multicast group")
        index = _INT.unpack_from(raw, 16)[0]
        netif = sock._netif(index) if index else None
        if join:
            _join(sock, group, netif)
        else:
            sock._conn.leave_group(group, netif)
    return set_


def _set_checksum6(sock: "LwipSocket", value: Any) -> None:
    """``IPV6_CHECKSUM`` (RFC 3542 3.1): -1 off, else an even offset; an ICMPv6 socket's is fixed at 2."""
    offset = _as_int(value)
    if sock.proto == 58 or (offset != -1 and (offset < 0 or offset & 1)):
        raise _einval("IPV6_CHECKSUM is -1 or an even offset, and an ICMPv6 socket's is always 2")
    sock._set_pcb_option("checksum_offset", offset)


def _get_checksum6(sock: "LwipSocket", buflen: int | None) -> int:
    return 2 if sock.proto == 58 else sock._opts.get("checksum_offset", -1)


def _set_keep_ms(sock: "LwipSocket", value: Any) -> None:
    ms = _as_int(value)
    if ms < 1:
        raise _einval("TCP_KEEPALIVE is at least 1 ms")
    sock._set_pcb_option("keep_idle", ms / 1000.0)


def _set_keep(name: str, lo: int, hi: int) -> Callable[["LwipSocket", Any], None]:
    def set_(sock: "LwipSocket", value: Any) -> None:
        n = _as_int(value)
        if not lo <= n <= hi:
            raise _einval(f"the value is {lo}..{hi}")
        sock._set_pcb_option(name, float(n) if name != "keep_cnt" else n)
    return set_


def _stored(key: str, scale: float = 1, unset: int = 0) -> Callable[["LwipSocket", int | None], int]:
    def get(sock: "LwipSocket", buflen: int | None) -> int:
        value = sock._opts[key]
        return int(round(value * scale)) if value is not None else unset
    return get


def _get_error(sock: "LwipSocket", buflen: int | None) -> int:
    return sock._conn.take_err()


def _get_acceptconn(sock: "LwipSocket", buflen: int | None) -> int:
    return int(sock._listening)


def _get_type(sock: "LwipSocket", buflen: int | None) -> int:
    return int(sock.type)


@dataclass(frozen=True)
class _Option:
    groups: tuple[int, ...]
    get: Callable[["LwipSocket", int | None], int | bytes] | None
    set: Callable[["LwipSocket", Any], None] | None


def _flag(key: str, groups: tuple[int, ...] = ALL) -> _Option:
    return _Option(groups, _stored(key), _pcb_flag(key))


_OPTIONS: dict[tuple[int, int], _Option] = {
    (SOL_SOCKET, SO_REUSEADDR): _flag("reuse_addr"),
    (SOL_SOCKET, SO_KEEPALIVE): _flag("keepalive"),
    (SOL_SOCKET, SO_BROADCAST): _flag("broadcast", UDP),
    (SOL_SOCKET, SO_NO_CHECK): _flag("no_checksum", UDP),
    (SOL_SOCKET, SO_ACCEPTCONN): _Option(ALL, _get_acceptconn, None),
    (SOL_SOCKET, SO_TYPE): _Option(ALL, _get_type, None),
    (SOL_SOCKET, SO_ERROR): _Option(ALL, _get_error, None),
    (SOL_SOCKET, SO_RCVBUF): _Option(ALL, _stored("rcvbuf"), _set_rcvbuf),
    (SOL_SOCKET, SO_RCVTIMEO): _Option(ALL, _get_timeo("rcvtimeo"), _set_timeo("rcvtimeo")),
    (SOL_SOCKET, SO_SNDTIMEO): _Option(ALL, _get_timeo("sndtimeo"), _set_timeo("sndtimeo")),
    (SOL_SOCKET, SO_LINGER): _Option(ALL, _get_linger, _set_linger),
    (IPPROTO_IP, IP_TTL): _Option(ALL, _stored("ttl"), _set_ttl),
    (IPPROTO_IP, IP_TOS): _Option(ALL, _stored("tos"), _set_tos),
    (IPPROTO_IP, IP_PKTINFO): _Option(UDP, _stored("pktinfo"), _set_pktinfo),
    (IPPROTO_IP, IP_MULTICAST_TTL): _Option(UDP, _stored("multicast_ttl"), _set_mcast_ttl),
    (IPPROTO_IP, IP_MULTICAST_LOOP): _Option(UDP, _stored("multicast_loop"), _set_mcast_loop),
    (IPPROTO_IP, IP_MULTICAST_IF): _Option(UDP, _get_mcast_if, _set_mcast_if),
    (IPPROTO_IP, IP_ADD_MEMBERSHIP): _Option(UDP, None, _membership(True)),
    (IPPROTO_IP, IP_DROP_MEMBERSHIP): _Option(UDP, None, _membership(False)),
    (IPPROTO_IPV6, IPV6_V6ONLY): _Option((NETCONN_TCP, NETCONN_UDP), _stored("v6only"), _set_v6only),
    (IPPROTO_IPV6, IPV6_UNICAST_HOPS): _Option(UDP, _stored("hop_limit", unset=255), _set_hops("hop_limit", None)),
    (IPPROTO_IPV6, IPV6_MULTICAST_HOPS): _Option(UDP, _stored("multicast_ttl"), _set_hops("multicast_ttl", 1)),
    (IPPROTO_IPV6, IPV6_MULTICAST_LOOP): _Option(UDP, _stored("multicast_loop"), _set_mcast_loop),
    (IPPROTO_IPV6, IPV6_MULTICAST_IF): _Option(UDP, _stored("multicast_if6"), _set_mcast_if6),
    (IPPROTO_IPV6, IPV6_CHECKSUM): _Option((NETCONN_RAW,), _get_checksum6, _set_checksum6),
    (IPPROTO_IPV6, IPV6_RECVPKTINFO): _Option(UDP, _stored("recvpktinfo6"), _set_recvpktinfo6),
    (IPPROTO_IPV6, IPV6_JOIN_GROUP): _Option(UDP, None, _membership6(True)),
    (IPPROTO_IPV6, IPV6_LEAVE_GROUP): _Option(UDP, None, _membership6(False)),
    (IPPROTO_TCP, TCP_NODELAY): _flag("nodelay", TCP),
    (IPPROTO_TCP, TCP_KEEPALIVE): _Option(TCP, _stored("keep_idle", 1000), _set_keep_ms),
    (IPPROTO_TCP, TCP_KEEPIDLE): _Option(TCP, _stored("keep_idle"), _set_keep("keep_idle", 1, 0x7FFFFFFF // 1000)),
    (IPPROTO_TCP, TCP_KEEPINTVL): _Option(TCP, _stored("keep_intvl"), _set_keep("keep_intvl", 1,
                                                                                0x7FFFFFFF // 1000)),
    (IPPROTO_TCP, TCP_KEEPCNT): _Option(TCP, _stored("keep_cnt"), _set_keep("keep_cnt", 1, 255)),
}


#: options lwIP builds only with a CONFIG_LWIP_* switch on: off, they are ENOPROTOOPT, as lwIP's sockets.c without them
_GATES: dict[tuple[int, int], str] = {
    (SOL_SOCKET, SO_REUSEADDR): "so_reuse",  # CONFIG_LWIP_SO_REUSE (on in ESP-IDF)
    (SOL_SOCKET, SO_RCVBUF): "so_rcvbuf",  # CONFIG_LWIP_SO_RCVBUF (off)
    (SOL_SOCKET, SO_LINGER): "so_linger",  # CONFIG_LWIP_SO_LINGER (off)
    (IPPROTO_IP, IP_PKTINFO): "netbuf_recvinfo",  # CONFIG_LWIP_NETBUF_RECVINFO (off)
}

#: IPPROTO_IP options an AF_INET6 socket does not take (lwIP: they are the IPv4 pcb's)
_IPV4_ONLY = frozenset({IP_MULTICAST_IF, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_PKTINFO})


def _lookup(sock: "LwipSocket", level: int, name: int) -> _Option:
    if level == LWIP_SOL_SOCKET:
        level = SOL_SOCKET
    opt = _OPTIONS.get((level, name))
    wrong_family = (level == IPPROTO_IPV6 and not sock._v6) or (level == IPPROTO_IP and sock._v6 and
                                                                 name in _IPV4_ONLY)
    if opt is None or sock._group not in opt.groups or wrong_family:
        raise LwipError(errno.ENOPROTOOPT, f"option {name} at level {level} is not served for this socket type")
    gate = _GATES.get((level, name))
    if gate is not None and not getattr(sock._loop.stack.config, gate):
        raise LwipError(errno.ENOPROTOOPT, f"option {name} at level {level} needs Config({gate}=True) "
                                           f"(CONFIG_LWIP_{gate.upper()}), as lwIP is built without it otherwise")
    return opt


def getsockopt(sock: "LwipSocket", level: int, name: int, buflen: int | None = None) -> int | bytes:
    """``lwip_getsockopt``: the option's value, an int, or its C value's bytes when ``buflen`` is given."""
    opt = _lookup(sock, level, name)
    if opt.get is None:
        raise LwipError(errno.ENOPROTOOPT, "the option can only be set")
    if buflen is not None and not 0 < buflen <= 1024:
        raise _einval("buflen is 1..1024")
    value = opt.get(sock, buflen)
    if buflen is None:
        return value
    if isinstance(value, int):
        if buflen < _INT.size:
            raise _einval("the option is an int (4 bytes)")
        value = _INT.pack(value)
    return value[:buflen]


def setsockopt(sock: "LwipSocket", level: int, name: int, value: Any) -> None:
    """``lwip_setsockopt``."""
    opt = _lookup(sock, level, name)
    if opt.set is None:
        raise LwipError(errno.ENOPROTOOPT, "the option is read-only")
    opt.set(sock, value)
