"""A listening pcb (lwIP's ``tcp_pcb_listen``, made by ``tcp_listen``).

Theory of operation
-------------------
The TCP layer (:meth:`Tcp._listen_input`) answers a SYN for the listener's port by making a child :class:`TcpPcb` in
SYN_RCVD, kept in ``half_open``; when the handshake completes the child moves to ``accept_queue`` and ``on_event``
tells the user, who takes it with :meth:`TcpListener.accept`.  Both count against ``backlog`` (lwIP's
``accepts_pending``): a full backlog drops new SYNs, so the client's retransmission gets in once a slot frees.
Closing the listener resets the connections nobody accepted.
"""

from __future__ import annotations

from collections import deque
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Callable

from .states import LISTEN

if TYPE_CHECKING:
    from .pcb import TcpPcb
    from .tcp import Tcp

__all__ = ["TcpListener"]


class TcpListener:
    """A listening pcb (``tcp_listen``): completed connections wait in ``accept_queue`` for :meth:`accept`."""

    def __init__(self, tcp: "Tcp", local_ip: IPv4Address | IPv6Address, local_port: int, backlog: int,
                 v6only: bool = False) -> None:
        self.tcp = tcp
        self.local_ip = local_ip
        #: ``IPV6_V6ONLY``: a listener on :: takes no IPv4 connections
        self.v6only = v6only
        self.local_port = local_port
        self.backlog = backlog
        self.accept_queue: deque[TcpPcb] = deque()
        #: children still in SYN_RCVD, oldest first (a dict as an ordered set)
        self.half_open: dict[TcpPcb, None] = {}
        self.on_event: Callable[[TcpListener], None] | None = None
        self.closed = False
        self.state = LISTEN

    @property
    def pending(self) -> int:
        """Connections still in the handshake: with ``accept_queue`` they fill the backlog (lwIP's
        ``accepts_pending`` counts both)."""
        return len(self.half_open)

    def accept(self) -> "TcpPcb | None":
        """The oldest established connection, or None."""
        self.tcp.stack.assert_core()
        return self.accept_queue.popleft() if self.accept_queue else None

    def close(self) -> None:
        """Stop listening; connections not yet accepted are reset."""
        self.tcp.stack.assert_core()
        if self.closed:
            return
        self.closed = True
        self.tcp._remove_listener(self)
        while self.accept_queue:
            self.accept_queue.popleft().abort()

    def _child_established(self, pcb: "TcpPcb") -> None:
        self.half_open.pop(pcb, None)
        if self.closed:
            pcb.abort()
            return
        self.accept_queue.append(pcb)
        if self.on_event is not None:
            self.on_event(self)

    def __repr__(self) -> str:
        return f"<TcpListener {self.local_ip}:{self.local_port}>"

