"""LCP, the Link Control Protocol (RFC 1661 6; lwIP's ``lcp.c``): MRU, ACCM, authentication protocol, magic number
(with loopback detection), PFC and ACFC; Echo-Request/-Reply keepalive; Protocol-Reject.

Our Configure-Request carries (as lwIP's defaults): the MRU only when it is not 1500, the ACCM we want the peer to
use towards us (0: escape nothing), the authentication protocol when we are the authenticator, a random magic
number, PFC and ACFC.  A peer that Naks our magic number with our own value is the line echoing us back (RFC 1661
6.4): after ``loopbackfail`` such Naks LCP closes with ``PPPERR_LOOPBACK`` ("Serial line is looped back").
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..wire.ppp import DISCREQ, ECHOREP, ECHOREQ, PPP_CHAP, PPP_PAP, PROTREJ, CpPacket
from .options import ACK, NAK, REJ, OptionHandler

if TYPE_CHECKING:
    from .pcb import PppPcb

__all__ = ["LcpHandler", "CI_MRU", "CI_ASYNCMAP", "CI_AUTHTYPE", "CI_MAGIC", "CI_PCOMP", "CI_ACCOMP", "CI_FCSALTERN",
           "FCS_16", "FCS_32",
           "CHAP_MD5", "MIN_MRU"]

CI_MRU, CI_ASYNCMAP, CI_AUTHTYPE, CI_QUALITY, CI_MAGIC, CI_PCOMP, CI_ACCOMP, CI_FCSALTERN = 1, 2, 3, 4, 5, 7, 8, 9
FCS_16, FCS_32 = 0x02, 0x04  # RFC 1570 2.1: the FCS-Alternatives bits (0x01 is the null FCS, not offered)
CHAP_MD5 = 5
MIN_MRU = 128  # lwIP's PPP_MINMRU
DEF_MRU = 1500
_H = struct.Struct("!H")
_I = struct.Struct("!I")


def auth_value(method: str) -> bytes:
    return _H.pack(PPP_PAP) if method == "pap" else _H.pack(PPP_CHAP) + bytes([CHAP_MD5])


class LcpHandler(OptionHandler):
    """The options of LCP for one :class:`~lwipy.ppp.pcb.PppPcb`."""

    nak_always = frozenset({CI_MAGIC})

    def __init__(self, pcb: "PppPcb") -> None:
        super().__init__()
        self.pcb = pcb
        self.magic = 0
        self.numloops = 0
        self.auth_method: str | None = None  # what we ask of the peer (authenticator)
        self.echos_pending = 0
        self.echo_deadline: float | None = None
        self.echo_id = 0
        self.failed = False

    def _new_magic(self) -> int:
        m = 0
        while not m:
            m = self.pcb.rng.getrandbits(32)
        return m

    # -- our request ---------------------------------------------------------------------------------------------------
    def want(self) -> dict[int, bytes]:
        s = self.pcb.settings
        go: dict[int, bytes] = {}
        if s.mru != DEF_MRU:
            go[CI_MRU] = _H.pack(s.mru)
        go[CI_ASYNCMAP] = _I.pack(s.accm)
        if self.auth_method is None and self.pcb.auth_required():
            self.auth_method = self.pcb.auth_required()
        if self.auth_method is not None:
            go[CI_AUTHTYPE] = auth_value(self.auth_method)
        self.magic = self._new_magic()
        go[CI_MAGIC] = _I.pack(self.magic)
        if s.pfc:
            go[CI_PCOMP] = b""
        if s.acfc:
            go[CI_ACCOMP] = b""
        if s.fcs32:
            go[CI_FCSALTERN] = bytes([FCS_32])  # lwIP has no such option: it Rejects it, and FCS-16 stays
        return go

    def resetci(self) -> None:
        self.numloops = 0
        self.failed = False
        super().resetci()

    def _may_drop(self, kind: int) -> bool:
        # never give up asking for authentication (auth.c: "peer refused to authenticate"), nor the magic number:
        # lcp_nakci's NAKCILONG(CI_MAGICNUMBER) ignores treat_as_reject, so a looped line is found after loopbackfail
        return kind not in (CI_AUTHTYPE, CI_MAGIC)

    def nak_option(self, kind: int, value: bytes) -> bytes | None:
        if kind == CI_MRU and len(value) == 2:
            mru = _H.unpack(value)[0]
            return value if MIN_MRU <= mru <= max(self.pcb.settings.mru, DEF_MRU) else self.go[kind]
        if kind == CI_ASYNCMAP and len(value) == 4:
            return _I.pack(_I.unpack(self.go[kind])[0] | _I.unpack(value)[0])
        if kind == CI_AUTHTYPE:
            allowed = self.pcb.settings.auth_methods_as_server()
            for method in ("chap", "pap"):
                if method in allowed and value == auth_value(method):
                    self.auth_method = method
                    return value
            return self.go[kind]
        if kind == CI_FCSALTERN:
            return value if len(value) == 1 and value[0] & (FCS_16 | FCS_32) else None
        if kind == CI_MAGIC and len(value) == 4:
            self.magic = self._new_magic()
            self.numloops += 1
            if self.numloops >= self.pcb.settings.loopbackfail:
                self.failed = True
            return _I.pack(self.magic)
        return None

    def nak_failed(self) -> bool:
        if self.failed:
            self.pcb.err_code = self.pcb.PPPERR_LOOPBACK
            self.pcb.lcp.close("Loopback detected")
            return True
        return False

    # -- the peer's request --------------------------------------------------------------------------------------------
    def req_option(self, kind: int, value: bytes) -> tuple[int, bytes | None]:
        n = len(value)
        if kind == CI_MRU:
            if n != 2:
                return REJ, None
            if _H.unpack(value)[0] < MIN_MRU:
                return NAK, _H.pack(MIN_MRU)
            return ACK, None
        if kind == CI_ASYNCMAP:
            return (ACK, None) if n == 4 else (REJ, None)
        if kind == CI_AUTHTYPE:
            allowed = self.pcb.settings.auth_methods_as_client()
            if not allowed:
                return REJ, None
            for method in ("chap", "pap"):
                if method in allowed and value == auth_value(method):
                    return ACK, None
            return NAK, auth_value("chap" if "chap" in allowed else "pap")
        if kind == CI_MAGIC:
            if n != 4:
                return REJ, None
            m = _I.unpack(value)[0]
            if CI_MAGIC in self.go and m == self.magic:
                return NAK, _I.pack(self._new_magic())
            return ACK, None
        if kind in (CI_PCOMP, CI_ACCOMP):
            return (ACK, None) if n == 0 else (REJ, None)
        if kind == CI_FCSALTERN and self.pcb.settings.fcs32:
            if n != 1:
                return REJ, None
            return (ACK, None) if value[0] & (FCS_16 | FCS_32) and not value[0] & ~(FCS_16 | FCS_32) else \
                (NAK, bytes([FCS_32]))
        return REJ, None

    # -- this-layer actions --------------------------------------------------------------------------------------------
    def up(self) -> None:
        self.echos_pending = 0
        self.pcb.lcp_up()

    def down(self) -> None:
        self.echo_deadline = None
        self.pcb.lcp_down()

    def finished(self) -> None:
        self.pcb.lcp_finished()

    def extcode(self, code: int, ident: int, data: bytes) -> bool:
        pcb = self.pcb
        opened = pcb.lcp.state == 9
        if code == PROTREJ:
            if opened and len(data) >= 2:
                pcb.protocol_rejected(_H.unpack_from(data)[0])
            return True
        if code == ECHOREQ:
            if opened:
                pcb.stats_echo_answered += 1
                pcb.send_control(pcb.lcp.protocol,
                                 CpPacket(ECHOREP, ident, _I.pack(self.magic if CI_MAGIC in self.go else 0)
                                          + data[4:]).emit())
            return True
        if code == ECHOREP:
            if len(data) >= 4 and CI_MAGIC in self.go and _I.unpack_from(data)[0] == self.magic:
                pcb.stats_echo_looped += 1  # our own echo came back: a looped line, not the peer
                return True
            self.echos_pending = 0
            pcb.stats_echo_replies += 1
            return True
        if code == DISCREQ:
            return True
        return False

    # -- keepalive (lcp.c: LcpEchoCheck / LcpEchoTimeout / LcpLinkFailure) ---------------------------------------------
    def echo_start(self, now: float) -> None:
        interval = self.pcb.settings.lcp_echo_interval
        self.echo_deadline = now + interval if interval > 0 else None

    def echo_poll(self, now: float) -> None:
        if self.echo_deadline is None or now < self.echo_deadline:
            return
        pcb = self.pcb
        s = pcb.settings
        if self.echos_pending >= s.lcp_echo_fails:
            # LcpLinkFailure: "No response to %d echo-requests", then "Peer not responding"
            self.echo_deadline = None
            pcb.err_code = pcb.PPPERR_PEERDEAD
            pcb.lcp.close("Peer not responding")
            return
        self.echo_id = (self.echo_id + 1) & 0xFF
        magic = self.magic if CI_MAGIC in self.go else 0
        pcb.send_control(pcb.lcp.protocol, CpPacket(ECHOREQ, self.echo_id, _I.pack(magic)).emit())
        self.echos_pending += 1
        self.echo_deadline = now + s.lcp_echo_interval
