"""The sockets API's constants: the host's values, so that code written for Python's ``socket`` module runs unchanged.

lwIP's own headers number some of these differently (its ``SOL_SOCKET`` is 0xfff, its ``SO_REUSEADDR`` 4); an lwipy
socket takes the values Python's ``socket``, ``select``, ``fcntl`` and ``termios`` modules have on this machine, and
also lwIP's ``SOL_SOCKET``.  ``TCP_KEEPALIVE`` (lwIP: the idle time before keepalive probes, in milliseconds) has
no Linux counterpart; its value here is lwipy's own.
"""

from __future__ import annotations

import errno
import os
import select as _select
import socket as _socket
import termios as _termios

__all__ = [
    "AF_INET", "AF_INET6", "AF_UNSPEC", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_NONBLOCK", "SOCK_CLOEXEC",
    "IPPROTO_IP", "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_UDPLITE", "SOL_SOCKET", "LWIP_SOL_SOCKET",
    "SO_REUSEADDR", "SO_KEEPALIVE", "SO_BROADCAST", "SO_ACCEPTCONN", "SO_RCVBUF", "SO_SNDTIMEO", "SO_RCVTIMEO",
    "SO_ERROR", "SO_TYPE", "SO_NO_CHECK", "SO_LINGER", "IP_TOS", "IP_TTL", "IP_PKTINFO", "IP_MULTICAST_IF",
    "IP_MULTICAST_TTL", "IP_MULTICAST_LOOP", "IP_ADD_MEMBERSHIP", "IP_DROP_MEMBERSHIP", "IPPROTO_IPV6",
    "IPV6_V6ONLY", "IPV6_UNICAST_HOPS", "IPV6_MULTICAST_IF", "IPV6_MULTICAST_HOPS", "IPV6_MULTICAST_LOOP",
    "IPV6_JOIN_GROUP", "IPV6_LEAVE_GROUP", "IPV6_ADD_MEMBERSHIP", "IPV6_DROP_MEMBERSHIP", "IPV6_CHECKSUM",
    "IPPROTO_ICMPV6", "IPV6_RECVPKTINFO", "IPV6_PKTINFO",
    "TCP_NODELAY", "TCP_KEEPALIVE",
    "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "MSG_PEEK", "MSG_WAITALL", "MSG_DONTWAIT", "MSG_MORE",
    "MSG_NOSIGNAL", "MSG_OOB", "MSG_TRUNC", "MSG_CTRUNC", "SHUT_RD", "SHUT_WR", "SHUT_RDWR", "INADDR_ANY",
    "INADDR_BROADCAST", "SOMAXCONN", "F_GETFL", "F_SETFL", "O_NONBLOCK", "O_NDELAY", "O_RDONLY", "O_WRONLY", "O_RDWR",
    "FIONREAD", "FIONBIO", "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL", "AI_PASSIVE",
    "AI_NUMERICHOST", "AI_NUMERICSERV", "AI_CANONNAME", "EAI_NONAME", "EAI_FAMILY", "EAI_SERVICE", "EAI_SOCKTYPE",
    "LWIP_SOCKET_OFFSET_BASE", "BLOCKING_ERRNOS",
]

AF_INET, AF_INET6, AF_UNSPEC = _socket.AF_INET, _socket.AF_INET6, _socket.AF_UNSPEC
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = _socket.SOCK_STREAM, _socket.SOCK_DGRAM, _socket.SOCK_RAW
SOCK_NONBLOCK = getattr(_socket, "SOCK_NONBLOCK", 0o4000)
SOCK_CLOEXEC = getattr(_socket, "SOCK_CLOEXEC", 0o2000000)
IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = (_socket.IPPROTO_IP, _socket.IPPROTO_ICMP, _socket.IPPROTO_TCP,
                                                      _socket.IPPROTO_UDP)
IPPROTO_UDPLITE = getattr(_socket, "IPPROTO_UDPLITE", 136)

SOL_SOCKET = _socket.SOL_SOCKET
LWIP_SOL_SOCKET = 0xFFF  # lwIP's SOL_SOCKET, accepted too
SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST = _socket.SO_REUSEADDR, _socket.SO_KEEPALIVE, _socket.SO_BROADCAST
SO_ACCEPTCONN = getattr(_socket, "SO_ACCEPTCONN", 30)
SO_RCVBUF, SO_SNDTIMEO, SO_RCVTIMEO = _socket.SO_RCVBUF, _socket.SO_SNDTIMEO, _socket.SO_RCVTIMEO
SO_ERROR, SO_TYPE, SO_LINGER = _socket.SO_ERROR, _socket.SO_TYPE, _socket.SO_LINGER
SO_NO_CHECK = getattr(_socket, "SO_NO_CHECK", 11)

IP_TOS, IP_TTL = _socket.IP_TOS, _socket.IP_TTL
IP_PKTINFO = getattr(_socket, "IP_PKTINFO", 8)
IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP = (_socket.IP_MULTICAST_IF, _socket.IP_MULTICAST_TTL,
                                                        _socket.IP_MULTICAST_LOOP)
IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP = _socket.IP_ADD_MEMBERSHIP, _socket.IP_DROP_MEMBERSHIP

IPPROTO_IPV6 = _socket.IPPROTO_IPV6
IPV6_V6ONLY, IPV6_UNICAST_HOPS = _socket.IPV6_V6ONLY, _socket.IPV6_UNICAST_HOPS
IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP = (_socket.IPV6_MULTICAST_IF, _socket.IPV6_MULTICAST_HOPS,
                                                             _socket.IPV6_MULTICAST_LOOP)
IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP = _socket.IPV6_JOIN_GROUP, _socket.IPV6_LEAVE_GROUP
#: lwIP's sockets.h (and ESP-IDF's guide) name them IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP, with IPV6_JOIN_GROUP
#: and IPV6_LEAVE_GROUP as aliases of the same values (Linux's ipv6.h: 20 and 21)
IPV6_ADD_MEMBERSHIP, IPV6_DROP_MEMBERSHIP = IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP
IPV6_CHECKSUM = getattr(_socket, "IPV6_CHECKSUM", 7)
IPV6_RECVPKTINFO, IPV6_PKTINFO = getattr(_socket, "IPV6_RECVPKTINFO", 49), getattr(_socket, "IPV6_PKTINFO", 50)
IPPROTO_ICMPV6 = _socket.IPPROTO_ICMPV6

TCP_NODELAY = _socket.TCP_NODELAY
TCP_KEEPALIVE = 0x10002  # lwIP's TCP_KEEPALIVE, ms; not a Linux option, so a value no Linux option has
TCP_KEEPIDLE = getattr(_socket, "TCP_KEEPIDLE", 4)
TCP_KEEPINTVL = getattr(_socket, "TCP_KEEPINTVL", 5)
TCP_KEEPCNT = getattr(_socket, "TCP_KEEPCNT", 6)

MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_OOB = (_socket.MSG_PEEK, _socket.MSG_WAITALL, _socket.MSG_DONTWAIT,
                                                _socket.MSG_OOB)
MSG_MORE = getattr(_socket, "MSG_MORE", 0x8000)
MSG_NOSIGNAL = getattr(_socket, "MSG_NOSIGNAL", 0x4000)
MSG_TRUNC, MSG_CTRUNC = _socket.MSG_TRUNC, _socket.MSG_CTRUNC
SHUT_RD, SHUT_WR, SHUT_RDWR = _socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR
INADDR_ANY, INADDR_BROADCAST = _socket.INADDR_ANY, _socket.INADDR_BROADCAST
SOMAXCONN = _socket.SOMAXCONN

F_GETFL, F_SETFL = 3, 4  # fcntl.F_GETFL / F_SETFL on Linux
O_NONBLOCK, O_NDELAY = os.O_NONBLOCK, os.O_NDELAY
O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
FIONREAD, FIONBIO = _termios.FIONREAD, _termios.FIONBIO

POLLIN, POLLPRI, POLLOUT = _select.POLLIN, _select.POLLPRI, _select.POLLOUT
POLLERR, POLLHUP, POLLNVAL = _select.POLLERR, _select.POLLHUP, _select.POLLNVAL

AI_PASSIVE, AI_NUMERICHOST, AI_NUMERICSERV = _socket.AI_PASSIVE, _socket.AI_NUMERICHOST, _socket.AI_NUMERICSERV
AI_CANONNAME = _socket.AI_CANONNAME
EAI_NONAME, EAI_FAMILY, EAI_SERVICE, EAI_SOCKTYPE = (_socket.EAI_NONAME, _socket.EAI_FAMILY, _socket.EAI_SERVICE,
                                                     _socket.EAI_SOCKTYPE)

#: lwIP numbers its sockets from LWIP_SOCKET_OFFSET; ESP-IDF makes that FD_SETSIZE (64) less CONFIG_LWIP_MAX_SOCKETS
LWIP_SOCKET_OFFSET_BASE = 64

#: what a would-block error carries (as the stdlib's socket.SocketIO checks)
BLOCKING_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK})
