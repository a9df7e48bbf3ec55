"""The netconn API's constants, with lwIP's names and values (``api.h``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .api_msg import NetconnCore

__all__ = ["NETCONN_TCP", "NETCONN_UDP", "NETCONN_UDPNOCHKSUM", "NETCONN_RAW", "NETCONN_TYPE_IPV6", "NETCONN_UDP_IPV6",
           "NETCONN_NOCOPY", "NETCONN_COPY",
           "NETCONN_MORE", "NETCONN_DONTBLOCK", "NETCONN_NOAUTORCVD", "NETCONN_EVT_RCVPLUS", "NETCONN_EVT_RCVMINUS",
           "NETCONN_EVT_SENDPLUS", "NETCONN_EVT_SENDMINUS", "NETCONN_EVT_ERROR", "NETCONN_NONE", "NETCONN_WRITE",
           "NETCONN_LISTEN", "NETCONN_CONNECT", "NETCONN_CLOSE", "EventCallback", "netconn_group"]

# types (enum netconn_type): the high nibble is the group
NETCONN_TCP = 0x10
NETCONN_UDP = 0x20
NETCONN_UDPNOCHKSUM = 0x22  # UDP sent without a checksum (SO_NO_CHECK)
NETCONN_RAW = 0x40
NETCONN_TYPE_IPV6 = 0x08  # or-ed into a type: an IPv6 (dual-stack) netconn
NETCONN_UDP_IPV6 = NETCONN_UDP | NETCONN_TYPE_IPV6

# write and receive flags
NETCONN_NOCOPY = 0x00  # the data need no copy (lwipy copies into the pcb's send buffer either way)
NETCONN_COPY = 0x01
NETCONN_MORE = 0x02  # more data follow (lwIP: no PSH on the last segment; lwipy's pcb sets PSH itself)
NETCONN_DONTBLOCK = 0x04  # this call does not block, whatever the netconn's mode
NETCONN_NOAUTORCVD = 0x08  # recv leaves the window closed until Netconn.recved(n)

# events for the callback (enum netconn_evt)
NETCONN_EVT_RCVPLUS, NETCONN_EVT_RCVMINUS, NETCONN_EVT_SENDPLUS, NETCONN_EVT_SENDMINUS, NETCONN_EVT_ERROR = range(5)

# states (enum netconn_state): what the netconn is busy with (UDP and RAW are always NONE)
NETCONN_NONE, NETCONN_WRITE, NETCONN_LISTEN, NETCONN_CONNECT, NETCONN_CLOSE = range(5)

#: ``callback(netconn, event, length)``: called on the core thread (RCVPLUS, SENDPLUS, SENDMINUS, ERROR) and on
#: application threads (RCVMINUS, and RCVPLUS/SENDPLUS/ERROR for a close they make), so it must be thread-safe.
EventCallback = Callable[["NetconnCore", int, int], None]


def netconn_group(kind: int) -> int:
    """``NETCONNTYPE_GROUP``: NETCONN_TCP, NETCONN_UDP or NETCONN_RAW."""
    return kind & 0xF0
