"""The option-negotiation automaton of RFC 1661 4, shared by LCP, IPCP and IPV6CP (lwIP's ``fsm.c``).

Theory of operation: a :class:`Fsm` holds one of the ten states (Initial .. Opened) and moves on the events of RFC
1661 4.1 -- Up/Down (the lower layer, :meth:`lowerup`/:meth:`lowerdown`), Open/Close (administrative), the
restart-timer timeout (:meth:`poll` when :attr:`deadline` is due) and the received packets (:meth:`input`).  What
the options mean is left to a :class:`CpHandler` (``resetci``/``addci`` build our Configure-Request, ``ackci``/
``nakci``/``rejci`` read the answers to it, ``reqci`` answers the peer's; ``up``/``down``/``starting``/
``finished`` are the this-layer actions tlu/tld/tls/tlf), exactly as lwIP's ``fsm_callbacks``.  The restart timer is
a deadline, never a thread: ``timeouttime`` seconds, ``maxconfreqtransmits`` Configure-Requests and
``maxtermtransmits`` Terminate-Requests (RFC 1661 4.6: Max-Configure 10, Max-Terminate 2) and ``maxnakloops``
Configure-Naks before options the peer will not agree to are rejected (Max-Failure 5).

As in lwIP, a Configure-Nak or -Reject that the handler finds bogus is dropped (``nakci``/``rejci`` return 0), and a
Configure-Request that arrives in Opened takes the layer down and renegotiates.
"""

from __future__ import annotations

from typing import Callable, Protocol

from ..errors import Malformed
from ..wire.ppp import CODEREJ, CONFACK, CONFNAK, CONFREJ, CONFREQ, TERMACK, TERMREQ, CpPacket

__all__ = ["Fsm", "CpHandler", "INITIAL", "STARTING", "CLOSED", "STOPPED", "CLOSING", "STOPPING", "REQSENT",
           "ACKRCVD", "ACKSENT", "OPENED", "STATE_NAMES", "OPT_PASSIVE", "OPT_RESTART", "OPT_SILENT"]

INITIAL, STARTING, CLOSED, STOPPED, CLOSING, STOPPING, REQSENT, ACKRCVD, ACKSENT, OPENED = range(10)
STATE_NAMES = ("Initial", "Starting", "Closed", "Stopped", "Closing", "Stopping", "Req-Sent", "Ack-Rcvd",
               "Ack-Sent", "Opened")
OPT_PASSIVE, OPT_RESTART, OPT_SILENT = 1, 2, 4  # fsm.h: wait for the peer / restart on Open / wait quietly


class CpHandler(Protocol):
    """What a control protocol supplies to its :class:`Fsm` (lwIP's ``struct fsm_callbacks``)."""

    def resetci(self) -> None: ...
    def addci(self) -> bytes: ...
    def ackci(self, data: bytes) -> bool: ...
    def nakci(self, data: bytes, treat_as_reject: bool) -> int: ...
    def rejci(self, data: bytes) -> int: ...
    def reqci(self, data: bytes, reject_if_disagree: bool) -> tuple[int, bytes]: ...
    def up(self) -> None: ...
    def down(self) -> None: ...
    def starting(self) -> None: ...
    def finished(self) -> None: ...
    def extcode(self, code: int, ident: int, data: bytes) -> bool: ...


class Fsm:
    """One RFC 1661 automaton: ``send(protocol, info)`` puts a control packet on the link; ``now()`` is the clock
    (the session's, virtual in tests)."""

    def __init__(self, protocol: int, name: str, handler: CpHandler, send: Callable[[int, bytes], None],
                 now: Callable[[], float]) -> None:
        self.protocol = protocol
        self.name = name
        self.handler = handler
        self._send = send
        self._now = now
        self.state = INITIAL
        self.flags = 0
        self.id = 0
        self.reqid = -1
        self.seen_ack = False
        self.timeouttime = 3.0
        self.maxconfreqtransmits = 10
        self.maxtermtransmits = 2
        self.maxnakloops = 5
        self.retransmits = 0
        self.nakloops = 0
        self.rnakloops = 0
        self.term_reason = b""
        self.deadline: float | None = None
        self.bad_packets = 0  # malformed or out-of-place packets dropped
        self.termreqs_received = 0

    # -- the events ----------------------------------------------------------------------------------------------------
    def lowerup(self) -> None:
        """``fsm_lowerup``: the lower layer is up."""
        if self.state == INITIAL:
            self.state = CLOSED
        elif self.state == STARTING:
            if self.flags & OPT_SILENT:
                self.state = STOPPED
            else:
                self._sconfreq(False)
                self.state = REQSENT

    def lowerdown(self) -> None:
        """``fsm_lowerdown``: the lower layer went down."""
        s = self.state
        if s == CLOSED:
            self.state = INITIAL
        elif s == STOPPED:
            self.state = STARTING
            self.handler.starting()
        elif s == CLOSING:
            self.state = INITIAL
            self.deadline = None
        elif s in (STOPPING, REQSENT, ACKRCVD, ACKSENT):
            self.state = STARTING
            self.deadline = None
        elif s == OPENED:
            self.handler.down()
            self.state = STARTING

    def open(self) -> None:
        """``fsm_open``: the administrative Open."""
        s = self.state
        if s == INITIAL:
            self.state = STARTING
            self.handler.starting()
        elif s == CLOSED:
            if self.flags & OPT_SILENT:
                self.state = STOPPED
            else:
                self._sconfreq(False)
                self.state = REQSENT
        elif s == CLOSING:
            self.state = STOPPING
        if s in (CLOSING, STOPPED, OPENED) and self.flags & OPT_RESTART:
            self.lowerdown()
            self.lowerup()

    def close(self, reason: str = "") -> None:
        """``fsm_close``: the administrative Close, with the reason a Terminate-Request carries."""
        self.term_reason = reason.encode()
        s = self.state
        if s == STARTING:
            self.state = INITIAL
            self.handler.finished()
        elif s == STOPPED:
            self.state = CLOSED
        elif s == STOPPING:
            self.state = CLOSING
        elif s in (REQSENT, ACKRCVD, ACKSENT, OPENED):
            self._terminate_layer(CLOSING)

    def protreject(self) -> None:
        """``fsm_protreject``: the peer Protocol-Rejected us (RFC 1661 4.1 RXJ-)."""
        s = self.state
        if s in (CLOSING, CLOSED):
            self.deadline = None
            self.state = CLOSED
            self.handler.finished()
        elif s in (STOPPING, REQSENT, ACKRCVD, ACKSENT, STOPPED):
            self.deadline = None
            self.state = STOPPED
            self.handler.finished()
        elif s == OPENED:
            self._terminate_layer(STOPPING)

    def poll(self, now: float) -> None:
        """Fire the restart timer if due (``fsm_timeout``)."""
        if self.deadline is None or now < self.deadline:
            return
        self.deadline = None
        s = self.state
        if s in (CLOSING, STOPPING):
            if self.retransmits <= 0:
                self.state = CLOSED if s == CLOSING else STOPPED
                self.handler.finished()
            else:
                self.id = (self.id + 1) & 0xFF
                self._packet(TERMREQ, self.id, self.term_reason)
                self.deadline = now + self.timeouttime
                self.retransmits -= 1
        elif s in (REQSENT, ACKRCVD, ACKSENT):
            if self.retransmits <= 0:
                self.state = STOPPED
                if not self.flags & OPT_PASSIVE:
                    self.handler.finished()
            else:
                self._sconfreq(True)
                if s == ACKRCVD:
                    self.state = REQSENT

    def input(self, info: bytes) -> None:
        """``fsm_input``: a packet of this protocol from the peer."""
        try:
            cp = CpPacket.parse(info)
        except Malformed:
            self.bad_packets += 1
            return
        if self.state in (INITIAL, STARTING):
            self.bad_packets += 1
            return
        code, ident, data = cp.code, cp.ident, cp.data
        if code == CONFREQ:
            self._rconfreq(ident, data)
        elif code == CONFACK:
            self._rconfack(ident, data)
        elif code in (CONFNAK, CONFREJ):
            self._rconfnakrej(code, ident, data)
        elif code == TERMREQ:
            self._rtermreq(ident)
        elif code == TERMACK:
            self._rtermack()
        elif code == CODEREJ:
            if self.state == ACKRCVD:
                self.state = REQSENT
        elif not self.handler.extcode(code, ident, data):
            self.id = (self.id + 1) & 0xFF
            self._packet(CODEREJ, self.id, bytes(info[:max(4, min(len(info), 1500 - 4))]))

    # -- the actions ---------------------------------------------------------------------------------------------------
    def _packet(self, code: int, ident: int, data: bytes) -> None:
        self._send(self.protocol, CpPacket(code, ident, data).emit())

    def _rconfreq(self, ident: int, data: bytes) -> None:
        s = self.state
        if s == CLOSED:
            self._packet(TERMACK, ident, b"")
            return
        if s in (CLOSING, STOPPING):
            return
        if s == OPENED:
            self.handler.down()
            self._sconfreq(False)
            self.state = REQSENT
        elif s == STOPPED:
            self._sconfreq(False)
            self.state = REQSENT
        try:
            code, resp = self.handler.reqci(data, self.nakloops >= self.maxnakloops)
        except Malformed:
            code, resp = CONFREJ, data
        self._packet(code, ident, resp)
        if code == CONFACK:
            if self.state == ACKRCVD:
                self.deadline = None
                self.state = OPENED
                self.handler.up()
            else:
                self.state = ACKSENT
            self.nakloops = 0
        else:
            if self.state != ACKRCVD:
                self.state = REQSENT
            if code == CONFNAK:
                self.nakloops += 1

    def _rconfack(self, ident: int, data: bytes) -> None:
        if ident != self.reqid or self.seen_ack:
            return
        if not self.handler.ackci(data):
            self.bad_packets += 1
            return
        self.seen_ack = True
        self.rnakloops = 0
        s = self.state
        if s in (CLOSED, STOPPED):
            self._packet(TERMACK, ident, b"")
        elif s == REQSENT:
            self.state = ACKRCVD
            self.retransmits = self.maxconfreqtransmits
        elif s == ACKRCVD:
            self.deadline = None
            self._sconfreq(False)
            self.state = REQSENT
        elif s == ACKSENT:
            self.deadline = None
            self.state = OPENED
            self.retransmits = self.maxconfreqtransmits
            self.handler.up()
        elif s == OPENED:
            self.handler.down()
            self._sconfreq(False)
            self.state = REQSENT

    def _rconfnakrej(self, code: int, ident: int, data: bytes) -> None:
        if ident != self.reqid or self.seen_ack:
            return
        try:
            if code == CONFNAK:
                self.rnakloops += 1
                ret = self.handler.nakci(data, self.rnakloops >= self.maxnakloops)
            else:
                ret = self.handler.rejci(data)
        except Malformed:
            ret = 0
        if ret == 0:
            self.bad_packets += 1
            return
        self.seen_ack = True
        s = self.state
        if s in (CLOSED, STOPPED):
            self._packet(TERMACK, ident, b"")
        elif s in (REQSENT, ACKSENT):
            self.deadline = None
            if ret < 0:
                self.state = STOPPED  # the handler sent a Terminate-Request
            else:
                self._sconfreq(False)
        elif s == ACKRCVD:
            self.deadline = None
            self._sconfreq(False)
            self.state = REQSENT
        elif s == OPENED:
            self.handler.down()
            self._sconfreq(False)
            self.state = REQSENT

    def _rtermreq(self, ident: int) -> None:
        self.termreqs_received += 1
        s = self.state
        if s in (ACKRCVD, ACKSENT):
            self.state = REQSENT
        elif s == OPENED:
            self.handler.down()
            self.retransmits = 0
            self.state = STOPPING
            self.deadline = self._now() + self.timeouttime
        self._packet(TERMACK, ident, b"")

    def _rtermack(self) -> None:
        s = self.state
        if s == CLOSING:
            self.deadline = None
            self.state = CLOSED
            self.handler.finished()
        elif s == STOPPING:
            self.deadline = None
            self.state = STOPPED
            self.handler.finished()
        elif s == ACKRCVD:
            self.state = REQSENT
        elif s == OPENED:
            self.handler.down()
            self._sconfreq(False)
            self.state = REQSENT

    def _terminate_layer(self, nextstate: int) -> None:
        if self.state != OPENED:
            self.deadline = None
        else:
            self.handler.down()
        self.retransmits = self.maxtermtransmits
        self.id = (self.id + 1) & 0xFF
        self._packet(TERMREQ, self.id, self.term_reason)
        if self.retransmits == 0:
            self.state = CLOSED if nextstate == CLOSING else STOPPED
            self.handler.finished()
            return
        self.deadline = self._now() + self.timeouttime
        self.retransmits -= 1
        self.state = nextstate

    def _sconfreq(self, retransmit: bool) -> None:
        if self.state not in (REQSENT, ACKRCVD, ACKSENT):
            self.handler.resetci()
            self.nakloops = 0
            self.rnakloops = 0
        if not retransmit:
            self.retransmits = self.maxconfreqtransmits
            self.id = (self.id + 1) & 0xFF
            self.reqid = self.id
        self.seen_ack = False
        self._packet(CONFREQ, self.reqid, self.handler.addci())
        self.retransmits -= 1
        self.deadline = self._now() + self.timeouttime

    def __repr__(self) -> str:
        return f"<Fsm {self.name} {STATE_NAMES[self.state]}>"
