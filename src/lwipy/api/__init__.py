"""The layer above the sans-I/O core: the core thread (lwIP's tcpip thread) and the netconn API.

- :class:`StackLoop` owns a stack on one thread and serves a bounded mailbox of calls from other threads.
- :class:`Netconn` is lwIP's netconn: TCP, UDP and RAW connections for application threads, every operation run on
  the core thread; :class:`NetBuf` is a received datagram.
- :class:`SocketApi` is a socket module bound to one stack: BSD sockets on netconn with lwIP's semantics, shaped
  like Python's ``socket`` module (:class:`LwipSocket`), with select, poll, fcntl and ioctl.
- :func:`patch` makes Python's ``socket`` module, ``selectors``, ``select.select`` and ``socketserver`` use a
  stack, so unmodified stdlib and asyncio programs run over lwipy (:class:`LwipSelector` waits on both kinds).
- :func:`netconn_gethostbyname` resolves a name through the stack's DNS resolver, blocking the calling thread
  (:mod:`lwipy.api.netdb`; ``SocketApi.getaddrinfo``/``gethostbyname``/``gethostbyname_ex`` are built on it).
- :class:`EspMdns` is ESP-IDF's ``mdns_*`` API (init, hostname, services, subtypes, blocking queries) over the
  stack's mDNS responder (:mod:`lwipy.api.mdns`).
- :mod:`lwipy.api.core_lock` is ``CONFIG_LWIP_CHECK_THREAD_SAFETY``.
"""

from .core_lock import check_core_locking, install_core_check, uninstall_core_check
from .defs import (NETCONN_COPY, NETCONN_DONTBLOCK, NETCONN_EVT_ERROR, NETCONN_EVT_RCVMINUS, NETCONN_EVT_RCVPLUS,
                   NETCONN_EVT_SENDMINUS, NETCONN_EVT_SENDPLUS, NETCONN_MORE, NETCONN_NOAUTORCVD, NETCONN_NOCOPY,
                   NETCONN_RAW, NETCONN_TCP, NETCONN_UDP, NETCONN_UDPNOCHKSUM)
from .loop import StackLoop
from .mdns import EspMdns
from .netbuf import NetBuf
from .netconn import Netconn
from .netdb import netconn_gethostbyname
from .patch import patch
from .selector import LwipSelector
from .sockets import LwipSocket, SocketApi
from .sockselect import Poll

__all__ = ["StackLoop", "Netconn", "NetBuf", "SocketApi", "LwipSocket", "Poll", "LwipSelector", "patch", "check_core_locking",
           "install_core_check", "uninstall_core_check", "netconn_gethostbyname",
           "NETCONN_TCP", "NETCONN_UDP", "NETCONN_UDPNOCHKSUM", "NETCONN_RAW", "NETCONN_NOCOPY", "NETCONN_COPY",
           "NETCONN_MORE", "NETCONN_DONTBLOCK", "NETCONN_NOAUTORCVD", "NETCONN_EVT_RCVPLUS", "NETCONN_EVT_RCVMINUS",
           "NETCONN_EVT_SENDPLUS", "NETCONN_EVT_SENDMINUS", "NETCONN_EVT_ERROR"]
__all__ += ["EspMdns"]
