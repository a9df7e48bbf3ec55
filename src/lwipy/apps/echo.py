"""The echo service (RFC 862) over UDP, as lwIP's ``udpecho_raw`` example: every datagram goes back to its sender."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LwipError

if TYPE_CHECKING:
    from ..core.stack import Stack
    from ..core.udp import Datagram, UdpPcb

__all__ = ["UdpEchoServer"]


class UdpEchoServer:
    """Echo UDP datagrams arriving on ``port`` (7 by default), over IPv4 and, when the stack has IPv6, IPv6 too (a
    dual-stack pcb).  ``echoed`` counts them."""

    def __init__(self, stack: "Stack", port: int = 7) -> None:
        self.echoed = 0
        self.failed = 0
        self.pcb = stack.udp.new(ip6=stack.config.ipv6)
        self.pcb.bind(None, port)
        self.pcb.on_recv = self._on_recv

    def _on_recv(self, pcb: "UdpPcb", dgram: "Datagram") -> None:
        try:
            pcb.sendto(dgram.data, dgram.src, dgram.src_port)
            self.echoed += 1
        except LwipError:
            self.failed += 1

    def close(self) -> None:
        self.pcb.close()
