"""IPV6CP, the IPv6 Control Protocol (RFC 5072; lwIP's ``ipv6cp.c``): one option, the 64-bit interface identifier
that forms each side's link-local address fe80::/64.

Ours is random (RFC 5072 4.1, never zero); a peer proposing zero or our own identifier is Nak'ed a fresh random one
(4.1: "if the two Interface-Identifiers are equal ... a different, non-zero value"), and a Nak of ours is taken if it
is neither zero nor the peer's.  Option 2 (IPv6-Compression-Protocol) is Rejected, as lwIP does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .options import ACK, NAK, REJ, OptionHandler

if TYPE_CHECKING:
    from .pcb import PppPcb

__all__ = ["Ipv6cpHandler", "CI_IFACEID"]

CI_IFACEID = 1
_ZERO = bytes(8)


class Ipv6cpHandler(OptionHandler):
    """The options of IPV6CP for one :class:`~lwipy.ppp.pcb.PppPcb`."""

    def __init__(self, pcb: "PppPcb") -> None:
        super().__init__()
        self.pcb = pcb
        self.ourid = self._random_id()

    def _random_id(self) -> bytes:
        iid = _ZERO
        while iid == _ZERO:
            iid = bytes([self.pcb.rng.randrange(256) & ~0x02]) + self.pcb.rng.randbytes(7)  # "u" bit clear
        return iid

    def want(self) -> dict[int, bytes]:
        return {CI_IFACEID: self.ourid}

    def nak_option(self, kind: int, value: bytes) -> bytes | None:
        if kind == CI_IFACEID:
            if len(value) == 8 and value != _ZERO and value != self.ho.get(CI_IFACEID):
                self.ourid = value
            else:
                self.ourid = self._random_id()
            return self.ourid
        return None

    def req_option(self, kind: int, value: bytes) -> tuple[int, bytes | None]:
        if kind == CI_IFACEID:
            if len(value) != 8:
                return REJ, None
            if value == _ZERO or value == self.ourid:
                suggestion = self._random_id()
                while suggestion == self.ourid:
                    suggestion = self._random_id()
                return NAK, suggestion
            return ACK, None
        return REJ, None

    @property
    def hisid(self) -> bytes | None:
        return self.ho.get(CI_IFACEID)

    def up(self) -> None:
        self.pcb.ipv6cp_up()

    def down(self) -> None:
        self.pcb.ipv6cp_down()

    def finished(self) -> None:
        self.pcb.np_finished()
