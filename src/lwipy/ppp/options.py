"""The common part of LCP, IPCP and IPV6CP option handling: a :class:`~lwipy.ppp.fsm.CpHandler` over ordered
``(type, value)`` options.

``go`` holds the options of our Configure-Request as they now stand (lwIP's ``gotoptions``), ``ho`` what we last
acknowledged of the peer's (``hisoptions``).  Subclasses say what they want (:meth:`want`), how they take a Nak of one
of theirs (:meth:`nak_option`) and how they answer one of the peer's (:meth:`req_option`).  RFC 1661 5.3-5.4: a
Configure-Ack must repeat our request exactly; a Nak or Reject may only name options we sent (a Nak may also add
ones, which are ignored here unless :meth:`nak_unrequested` takes them); the answer to the peer is a Reject of the
unacceptable options if any, else a Nak with acceptable values of the others, else an Ack of the whole request.
"""

from __future__ import annotations

from ..wire.ppp import CONFACK, CONFNAK, CONFREJ, emit_options, parse_options

__all__ = ["OptionHandler", "ACK", "NAK", "REJ"]

ACK, NAK, REJ = CONFACK, CONFNAK, CONFREJ


class OptionHandler:
    """Base of the handlers of LCP, IPCP and IPV6CP (the callbacks of their :class:`~lwipy.ppp.fsm.Fsm`)."""

    #: options Nak'ed even after Max-Failure (lcp_reqci: "reject_if_disagree && citype != CI_MAGICNUMBER")
    nak_always: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self.go: dict[int, bytes] = {}
        self.ho: dict[int, bytes] = {}
        self._ho_pending: dict[int, bytes] = {}

    # -- to override -----------------------------------------------------------------------------------------------
    def want(self) -> dict[int, bytes]:
        """The options of a fresh Configure-Request, in order."""
        return {}

    def nak_option(self, kind: int, value: bytes) -> bytes | None:
        """The peer Nak'ed our ``kind`` suggesting ``value``: what to ask next time (None: stop asking)."""
        return value

    def nak_unrequested(self, kind: int, value: bytes) -> None:
        """The peer's Nak names an option we did not ask for (RFC 1661 5.3: it would like us to)."""

    def req_option(self, kind: int, value: bytes) -> tuple[int, bytes | None]:
        """Answer one option of the peer's Configure-Request: ``(ACK, None)``, ``(NAK, suggested value)`` or
        ``(REJ, None)``."""
        return REJ, None

    def req_missing(self, kinds: set[int]) -> list[tuple[int, bytes]]:
        """Options the peer left out of its request that we Nak in (RFC 1661 5.3), given the kinds it sent."""
        return []

    # -- CpHandler -------------------------------------------------------------------------------------------------
    def resetci(self) -> None:
        self.go = dict(self.want())

    def addci(self) -> bytes:
        return emit_options(list(self.go.items()))

    def ackci(self, data: bytes) -> bool:
        return data == self.addci()

    def rejci(self, data: bytes) -> int:
        opts = parse_options(data)
        for kind, value in opts:
            if self.go.get(kind) != value:  # RFC 1661 5.4: the rejected options exactly as we sent them
                return 0
        for kind, _ in opts:
            self.go.pop(kind, None)
        return 1

    def nakci(self, data: bytes, treat_as_reject: bool) -> int:
        for kind, value in parse_options(data):
            if kind in self.go:
                new = None if treat_as_reject and self._may_drop(kind) else self.nak_option(kind, value)
                if new is None:
                    del self.go[kind]
                else:
                    self.go[kind] = new
            else:
                self.nak_unrequested(kind, value)
        return -1 if self.nak_failed() else 1

    def _may_drop(self, kind: int) -> bool:
        return True

    def nak_failed(self) -> bool:
        """True when the Nak just read made the layer give up (the handler closed it)."""
        return False

    def reqci(self, data: bytes, reject_if_disagree: bool) -> tuple[int, bytes]:
        opts = parse_options(data)
        rej: list[tuple[int, bytes]] = []
        nak: list[tuple[int, bytes]] = []
        self._ho_pending = {}
        for kind, value in opts:
            verdict, suggestion = self.req_option(kind, value)
            if verdict == REJ:
                rej.append((kind, value))
            elif verdict == NAK:
                if reject_if_disagree and kind not in self.nak_always:
                    rej.append((kind, value))
                else:
                    nak.append((kind, suggestion if suggestion is not None else value))
            else:
                self._ho_pending[kind] = value
        if rej:
            return CONFREJ, emit_options(rej)
        if not reject_if_disagree:
            nak += self.req_missing({k for k, _ in opts})
        if nak:
            return CONFNAK, emit_options(nak)
        self.ho = self._ho_pending
        return CONFACK, data

    def up(self) -> None:
        pass

    def down(self) -> None:
        pass

    def starting(self) -> None:
        pass

    def finished(self) -> None:
        pass

    def extcode(self, code: int, ident: int, data: bytes) -> bool:
        return False
