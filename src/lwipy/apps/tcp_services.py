"""The classic small TCP services, as lwIP's example apps: echo (RFC 862), discard (RFC 863), chargen (RFC 864).

Each is a listener plus a few lines of event handling on the pcb API, so they double as examples of it.  They let
anyone try a stack with ``nc`` and measure it both ways: discard takes whatever it is sent, chargen sends until the
peer closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..core.tcp.states import CLOSE_WAIT, CLOSED, ESTABLISHED
from ..errors import LwipError

if TYPE_CHECKING:
    from ..core.stack import Stack
    from ..core.tcp.pcb import TcpListener, TcpPcb

__all__ = ["TcpEchoServer", "TcpDiscardServer", "TcpChargenServer", "chargen_pattern"]


def chargen_pattern(lines: int = 95) -> bytes:
    """RFC 864's rotating 72-character lines of the 95 printable ASCII characters."""
    printable = bytes(range(32, 127))
    out = bytearray()
    for i in range(lines):
        out += (printable * 2)[i % 95:i % 95 + 72] + b"\r\n"
    return bytes(out)


class _Service:
    def __init__(self, stack: "Stack", port: int) -> None:
        self.stack = stack
        self.connections = 0
        self.bytes_in = 0
        self.bytes_out = 0
        # dual stack when the stack has IPv6: :: takes IPv4 connections too
        self.listener: TcpListener = stack.tcp.listen(port, "::" if stack.config.ipv6 else None)
        self.listener.on_event = self._accept

    def _accept(self, listener: "TcpListener") -> None:
        while (pcb := listener.accept()) is not None:
            self.connections += 1
            self._attach(pcb)
            self._event(pcb)

    def _attach(self, pcb: "TcpPcb") -> None:
        """Take the new connection ``pcb``'s events."""
        pcb.on_event = self._event

    def _event(self, pcb: "TcpPcb") -> None:
        raise NotImplementedError

    def _drain(self, pcb: "TcpPcb") -> bytes:
        data = pcb.recv() if pcb.readable else b""
        self.bytes_in += len(data)
        return data

    @staticmethod
    def _finish_if_done(pcb: "TcpPcb") -> None:
        if pcb.at_eof and pcb.state_name == "CLOSE_WAIT":
            pcb.close()

    def close(self) -> None:
        self.listener.close()


class TcpDiscardServer(_Service):
    """Port 9: read and forget."""

    def __init__(self, stack: "Stack", port: int = 9) -> None:
        super().__init__(stack, port)

    def _event(self, pcb: "TcpPcb") -> None:
        # rx: one recv takes everything waiting (the per-segment path of a bulk receiver: no loop, no properties;
        # rx8: the buffer's truth, not the readable property's length, 51 against 10 ns)
        if pcb.rcv_buf:
            self.bytes_in += len(pcb.recv())
        if pcb.fin_received:
            self._finish_if_done(pcb)


class TcpEchoServer(_Service):
    """Port 7: send back what arrives, holding what does not fit the send buffer until it drains.  As lwIP's
    ``tcpecho_raw``: the data comes to a receive callback (``on_recv``), goes straight back, and what the send buffer
    does not take yet is held, keeping the window closed by as much until it is sent (``recved``)."""

    def __init__(self, stack: "Stack", port: int = 7) -> None:
        super().__init__(stack, port)
        self._pending: dict[int, bytearray] = {}  # per connection, what the send buffer did not take yet

    def _attach(self, pcb: "TcpPcb") -> None:
        """Its data (``on_recv``) and other events, but not of room freed by ACKs (``notify_sent``, lwIP's
        ``tcp_sent(pcb, NULL)``) while nothing is held back for want of it (rr10: a request's ACK of the reply before
        it then calls nothing)."""
        pcb.on_event = self._event
        pcb.on_recv = self._recv
        pcb.notify_sent = False

    def _recv(self, pcb: "TcpPcb", data: bytes) -> int:
        """What arrived goes back (a request's reply, written before anything else is looked at); what the send
        buffer does not take is held, and so is everything behind it while anything is: how much is held."""
        n = len(data)
        self.bytes_in += n
        if self._pending and (backlog := self._pending.get(id(pcb))) is not None:  # (no local: a request's 2 less)
            backlog += data
            return n
        try:
            took = pcb.send(data)
        except LwipError:
            return 0  # the connection failed or no longer sends: nothing to hold for
        self.bytes_out += took
        if took < n:
            self._pending[id(pcb)] = bytearray(memoryview(data)[took:])
            pcb.notify_sent = True  # (rr10: room is waited for now)
            return n - took
        return 0

    def _event(self, pcb: "TcpPcb") -> None:
        pending = self._pending
        if pending and (backlog := pending.get(id(pcb))) is not None:
            try:
                took = pcb.send(backlog)  # (a backlog is never empty: made of what a write left, and dropped when sent)
            except LwipError:
                took = -1
            if took < 0 or took == len(backlog):
                del pending[id(pcb)]
                pcb.notify_sent = False
            else:
                del backlog[:took]
            given = len(backlog) if took < 0 else took  # what was held for it, given back
            if took > 0:
                self.bytes_out += took
            if given and pcb.state != CLOSED:
                pcb.recved(given)
        if pcb.rcv_buf:
            # what waited before on_recv was set (data that came with the handshake): as on_recv is handed it
            data = pcb.recv(reopen=False)
            kept = self._recv(pcb, data)
            if len(data) > kept:
                pcb.recved(len(data) - kept)
        state = pcb.state
        if state == ESTABLISHED:
            return
        if state == CLOSED:
            pending.pop(id(pcb), None)
        elif state == CLOSE_WAIT and id(pcb) not in pending and pcb.at_eof:  # (CLOSE_WAIT: the peer's FIN received)
            pcb.close()


class TcpChargenServer(_Service):
    """Port 19: send the character pattern until the peer closes; what it sends is discarded."""

    def __init__(self, stack: "Stack", port: int = 19) -> None:
        super().__init__(stack, port)
        period = self._period = len(chargen_pattern())  # offsets wrap at one pattern (computed once, not per event)
        # eight periods at least, and a send buffer's worth from any offset (tx8: one send fills a 64 KB buffer)
        self.pattern = chargen_pattern() * max(8, -(-stack.config.tcp_snd_buf_default // period) + 1)
        self._view = memoryview(self.pattern)

    def _attach(self, pcb: "TcpPcb") -> None:
        """Its events, and (tx9) the room ACKs free filled from its stream (``TcpPcb.tx_source``): a bulk sender's
        every ACK costs one call, not the event, its checks and a ``send``."""
        pcb.on_event = self._event
        pcb.tx_source = self._stream()

    def _stream(self) -> "Callable[[TcpPcb, int], memoryview]":
        """A connection's source of the pattern (``TcpPcb.tx_source``): the next ``room`` bytes from where it left
        off, offsets wrapping at one period (all of ``room`` unless a send buffer was made larger than the pattern
        held)."""
        view, period = self._view, self._period
        off = 0

        def source(pcb: "TcpPcb", room: int) -> memoryview:
            nonlocal off
            chunk = view[off:off + room]
            n = len(chunk)
            off = (off + n) % period
            self.bytes_out += n
            return chunk
        return source

    def _event(self, pcb: "TcpPcb") -> None:
        if pcb.state == ESTABLISHED and not pcb.readable:  # (ESTABLISHED: no FIN received, so not at_eof)
            space = pcb.send_space
            if space:
                self._fill(pcb, space)  # room outside an ACK's (the connection's first event)
                return
        while pcb.readable:
            self._drain(pcb)
        if pcb.at_eof or pcb.state_name not in ("ESTABLISHED", "CLOSE_WAIT"):
            if pcb.state_name == "CLOSE_WAIT":
                pcb.close()
            return
        space = pcb.send_space
        if not space:
            return  # an ACK that freed nothing (or the buffer is still full): no send to try
        self._fill(pcb, space)

    def _fill(self, pcb: "TcpPcb", space: int) -> None:
        """Write ``space`` bytes (no more than the send buffer takes) of the connection's stream: one ``send`` in
        the common case (the pattern holds a send buffer's worth from any offset)."""
        source = pcb.tx_source
        try:
            while space:
                chunk = source(pcb, space)
                took = pcb.send(chunk, True)  # more (TCP_WRITE_FLAG_MORE, as C lwIP's bench chargen): no PSH
                space -= took
                if not took or took < len(chunk):
                    break  # (the send buffer is full: never here, as space is at most its room)
        except LwipError:
            return
