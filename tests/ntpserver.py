"""A tiny NTP server on an lwipy stack (a UDP pcb on port 123), answering from that stack's device clock, for the
SNTP client's in-process tests.  It can forge: a Kiss-o'-Death, a wrong mode, stratum or originate, LI 3, or any
change of the reply through ``tamper``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lwipy.wire import ntp as w


@dataclass
class TinyNtp:
    """Answers client requests (mode 3) with mode 4 at ``stratum``; ``kiss`` (``"RATE"``, ``"DENY"``) answers with a
    Kiss-o'-Death instead; ``silent`` answers nothing; ``tamper(msg)`` may change the reply before it is sent.
    ``requests`` records (stack time, source address, request message)."""

    stack: Any
    stratum: int = 2
    kiss: str | None = None
    silent: bool = False
    tamper: Callable[[w.NtpMessage], w.NtpMessage | None] | None = None
    requests: list[tuple[float, Any, w.NtpMessage]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pcb = self.stack.udp.new(ip6=True)
        self.pcb.bind("::", w.PORT)
        self.pcb.on_recv = self._recv

    def _recv(self, pcb: Any, dgram: Any) -> None:
        try:
            req = w.NtpHeader.parse(dgram.data).to_message()
        except ValueError:
            return
        self.requests.append((self.stack.now, dgram.src, req))
        if self.silent or req.mode != w.MODE_CLIENT:
            return
        now = w.from_unix(self.stack.clock.time())
        reply = w.NtpMessage(li=0, version=req.version, mode=w.MODE_SERVER, stratum=self.stratum, poll=req.poll,
                             precision=-20, root_delay=0x10, root_dispersion=0x20, ref_id=b"LOCL",
                             reference_ts=now, originate_ts=req.transmit_ts, receive_ts=now, transmit_ts=now)
        if self.kiss is not None:
            reply.stratum, reply.ref_id, reply.li = 0, self.kiss.encode().ljust(4, b"\0")[:4], 3
        if self.tamper is not None:
            reply = self.tamper(reply) or reply
        pcb.sendto(reply.emit(), dgram.src, dgram.src_port)

    def broadcast(self, dst: str) -> None:
        """Send one broadcast (mode 5) to ``dst`` port 123, for listen-only clients."""
        now = w.from_unix(self.stack.clock.time())
        msg = w.NtpMessage(mode=w.MODE_BROADCAST, stratum=self.stratum, ref_id=b"LOCL", reference_ts=now,
                           transmit_ts=now)
        self.pcb.sendto(msg.emit(), dst, w.PORT)
