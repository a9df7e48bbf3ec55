"""IPCP, the IP Control Protocol (RFC 1332; lwIP's ``ipcp.c``) with the DNS server options of RFC 1877.

Client (no local address configured): we ask for 0.0.0.0 and, with ``usepeerdns``, for DNS 0.0.0.0 twice; the
server's Naks give the values.  Server: the peer must take ``remote`` (we Nak anything else, or Nak it in when the
peer asked for no address) and is Nak'ed our ``dns`` servers; DNS options we have no server for are Rejected, as
the RFC 1877 NBNS ones always are.  VJ compression (option 2) is negotiated when ``vj`` is on (RFC 1332 4.1:
protocol 0x002D, Max-Slot-Id, Comp-Slot-Id), else rejected.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from ..wire.ppp import PPP_VJC_COMP
from .options import ACK, NAK, REJ, OptionHandler

if TYPE_CHECKING:
    from .pcb import PppPcb

__all__ = ["IpcpHandler", "CI_ADDRS", "CI_COMPRESSTYPE", "CI_ADDR", "CI_MS_DNS1", "CI_MS_DNS2"]

CI_ADDRS, CI_COMPRESSTYPE, CI_ADDR = 1, 2, 3
CI_MS_DNS1, CI_MS_WINS1, CI_MS_DNS2, CI_MS_WINS2 = 129, 130, 131, 132
MAX_SLOT_ID = 15  # lwIP's MAX_STATES - 1 (vj.h: 16 slots)
_VJ = struct.Struct("!HBB")
_ZERO = bytes(4)


class IpcpHandler(OptionHandler):
    """The options of IPCP for one :class:`~lwipy.ppp.pcb.PppPcb`."""

    def __init__(self, pcb: "PppPcb") -> None:
        super().__init__()
        self.pcb = pcb

    def want(self) -> dict[int, bytes]:
        s = self.pcb.settings
        go: dict[int, bytes] = {}
        if s.vj:
            go[CI_COMPRESSTYPE] = _VJ.pack(PPP_VJC_COMP, MAX_SLOT_ID, 1)
        go[CI_ADDR] = s.local.packed if s.local is not None else _ZERO
        if s.usepeerdns and not s.server:
            go[CI_MS_DNS1] = _ZERO
            go[CI_MS_DNS2] = _ZERO
        return go

    def nak_option(self, kind: int, value: bytes) -> bytes | None:
        if kind == CI_ADDR:
            if len(value) == 4 and any(value) and self.pcb.settings.local is None:
                return value
            return self.go[kind]
        if kind in (CI_MS_DNS1, CI_MS_DNS2):
            return value if len(value) == 4 else None
        if kind == CI_COMPRESSTYPE:
            if len(value) >= 2 and value[:2] == b"\x00\x2d" and len(value) == 4:
                proto, maxslot, cflag = _VJ.unpack(value)
                return _VJ.pack(proto, min(maxslot, MAX_SLOT_ID), cflag)
            return None
        return None

    def req_option(self, kind: int, value: bytes) -> tuple[int, bytes | None]:
        s = self.pcb.settings
        n = len(value)
        if kind == CI_ADDR:
            if n != 4:
                return REJ, None
            if s.remote is not None:
                return (ACK, None) if value == s.remote.packed else (NAK, s.remote.packed)
            if not any(value):
                return REJ, None
            return ACK, None
        if kind == CI_COMPRESSTYPE:
            if not s.vj or n != 4 or value[:2] != b"\x00\x2d":
                return REJ, None
            proto, maxslot, cflag = _VJ.unpack(value)
            if maxslot > MAX_SLOT_ID:
                return NAK, _VJ.pack(proto, MAX_SLOT_ID, cflag)
            return ACK, None
        if kind in (CI_MS_DNS1, CI_MS_DNS2):
            i = 0 if kind == CI_MS_DNS1 else 1
            if not s.server or n != 4 or i >= len(s.dns):
                return REJ, None
            ours = s.dns[i].packed
            return (ACK, None) if value == ours else (NAK, ours)
        return REJ, None

    def req_missing(self, kinds: set[int]) -> list[tuple[int, bytes]]:
        s = self.pcb.settings
        if s.remote is not None and CI_ADDR not in kinds:
            return [(CI_ADDR, s.remote.packed)]
        return []

    # -- results -------------------------------------------------------------------------------------------------------
    @property
    def ouraddr(self) -> IPv4Address | None:
        v = self.go.get(CI_ADDR)
        return IPv4Address(v) if v and any(v) else None

    @property
    def hisaddr(self) -> IPv4Address | None:
        v = self.ho.get(CI_ADDR)
        if v and any(v):
            return IPv4Address(v)
        return self.pcb.settings.remote

    def dns(self) -> list[IPv4Address]:
        return [IPv4Address(self.go[k]) for k in (CI_MS_DNS1, CI_MS_DNS2) if any(self.go.get(k, b""))]

    def vj_tx(self) -> tuple[int, int] | None:
        """The peer accepts VJ-compressed packets from us: (max slot id, comp-slot-id flag)."""
        v = self.ho.get(CI_COMPRESSTYPE)
        return (v[2], v[3]) if v else None

    def vj_rx(self) -> tuple[int, int] | None:
        v = self.go.get(CI_COMPRESSTYPE)
        return (v[2], v[3]) if v else None

    def up(self) -> None:
        self.pcb.ipcp_up()

    def down(self) -> None:
        self.pcb.ipcp_down()

    def finished(self) -> None:
        self.pcb.np_finished()
