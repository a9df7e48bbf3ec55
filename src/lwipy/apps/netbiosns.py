"""The NetBIOS name service responder (lwIP's ``apps/netbiosns/netbiosns.c``): a Windows or Samba host asking for
our NetBIOS name (a broadcast name query on UDP 137) learns our IPv4 address on the netif the query came in on.

As lwIP: a query (not a response, opcode 0, exactly one question) of type NB, class IN, for our name (compared ignoring
case, any suffix) is answered by unicast to its sender with the netif's address, B-node, TTL 300000 s.  With
``Config.netbios_respond_name_query`` (``LWIP_NETBIOS_RESPOND_NAME_QUERY``) a node status query (type NBSTAT) for our
name or for ``*`` is answered too, listing our name and the netif's MAC (what ``nmblookup -A`` prints).  Anything else
is dropped and counted.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import LwipError, Malformed
from ..wire import netbios as nb

if TYPE_CHECKING:
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["NetbiosNameService", "NETBIOS_LWIP_NAME"]

NETBIOS_LWIP_NAME = "NETBIOSLWIPDEV"  # lwIP's default name


class NetbiosNameService:
    """``netbiosns_init``: answer on UDP port 137 for ``name`` (``netbiosns_set_name``); ``stack.apps["netbiosns"]``.

    ``counters``: ``received``, ``answered``, ``status_answered``, ``malformed``, ``ignored`` (not for us, not a
    query we answer)."""

    def __init__(self, stack: "Stack", name: str = NETBIOS_LWIP_NAME) -> None:
        if "netbiosns" in stack.apps:
            raise ValueError(f"{stack.name} has a NetBIOS responder already: use stack.apps['netbiosns']")
        self.stack = stack
        self.name = b""
        self.set_name(name)
        self.counters = dict.fromkeys(("received", "answered", "status_answered", "malformed", "ignored"), 0)
        self.pcb: UdpPcb = stack.udp.new()
        self.pcb.reuse_addr = True
        self.pcb.bind(None, nb.PORT)
        self.pcb.on_recv = self._recv
        stack.apps["netbiosns"] = self

    def set_name(self, name: str) -> None:
        """``netbiosns_set_name``: upper-cased, at most 15 characters (NETBIOS_NAME_LEN - 1), printable ASCII
        without spaces or ``*`` (else LwipError EINVAL)."""
        upper = name.upper()
        raw = upper.encode("ascii") if upper.isascii() else b""
        if not raw or len(raw) > nb.NAME_LEN - 1 or not all(0x21 <= c < 0x7F for c in raw) or b"*" in raw:
            raise LwipError(errno.EINVAL, f"a NetBIOS name is 1 to 15 printable ASCII characters without spaces "
                                         f"or '*': {name!r}")
        self.name = raw

    def stop(self) -> None:
        """``netbiosns_stop``."""
        self.pcb.close()
        if self.stack.apps.get("netbiosns") is self:
            del self.stack.apps["netbiosns"]

    def _recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        self.counters["received"] += 1
        try:
            q = nb.parse_question(dgram.data)
        except Malformed:
            self.counters["malformed"] += 1
            return
        netif = self.stack.netif_by_index(dgram.netif_index)
        # netbiosns_recv: a query (not a response, opcode 0) with exactly one question
        if (q.flags & nb.FLAG_RESPONSE or q.flags & nb.OPCODE_MASK or q.qdcount != 1 or q.qclass != nb.QCLASS_IN
                or netif is None
                or netif.ip4 is None or dgram.src.version != 4):
            self.counters["ignored"] += 1
            return
        ours = q.name.upper() == self.name
        try:
            if q.qtype == nb.QTYPE_NB and ours:
                pcb.sendto(nb.name_query_response(q, netif.ip4.ip), dgram.src, dgram.src_port)
                self.counters["answered"] += 1
            elif (q.qtype == nb.QTYPE_NBSTAT and self.stack.config.netbios_respond_name_query
                  and (ours or q.name == b"*")):
                pcb.sendto(nb.node_status_response(q, self.name, netif.hwaddr), dgram.src, dgram.src_port)
                self.counters["status_answered"] += 1
            else:
                self.counters["ignored"] += 1
        except LwipError:
            self.counters["ignored"] += 1
