"""PAP (RFC 1334 2; lwIP's ``upap.c``) and CHAP with MD5 (RFC 1994; ``chap-new.c``, ``chap-md5.c``), each as the
authenticatee ("with peer": we prove who we are) and as the authenticator ("peer": the peer proves it to us).

PAP: the authenticatee sends Authenticate-Request (name, password) every ``timeout`` seconds up to ``max_transmits``
times until an Ack or Nak; the authenticator answers each request, and gives up ``req_time`` seconds after LCP came
up if none came.  CHAP: the authenticator sends a Challenge (a random value and its name) every ``timeout``
seconds up to ``max_transmits`` times; the authenticatee answers MD5(Identifier || secret || challenge) with its
name (RFC 1994 4.1); the authenticator checks it and sends Success or Failure.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from ..errors import Malformed
from ..wire.ppp import PPP_CHAP, PPP_PAP, ChapPacket, PapPacket

if TYPE_CHECKING:
    from .pcb import PppPcb

__all__ = ["Pap", "Chap", "chap_md5_response"]

PAP_REQ, PAP_ACK, PAP_NAK = 1, 2, 3
CHAP_CHALLENGE, CHAP_RESPONSE, CHAP_SUCCESS, CHAP_FAILURE = 1, 2, 3, 4


def chap_md5_response(ident: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 4.1: the Response Value, MD5 over the Identifier, the secret and the Challenge Value."""
    return hashlib.md5(bytes([ident]) + secret + challenge).digest()


class Pap:
    """Both halves of PAP for one :class:`~lwipy.ppp.pcb.PppPcb`."""

    timeout = 6.0  # lwIP UPAP_DEFTIMEOUT
    max_transmits = 10  # UPAP_DEFTRANSMITS
    req_time = 30.0  # UPAP_DEFREQTIME

    def __init__(self, pcb: "PppPcb") -> None:
        self.pcb = pcb
        self.client_active = False
        self.server_active = False
        self.server_done = False
        self.id = 0
        self.transmits = 0
        self.client_deadline: float | None = None
        self.server_deadline: float | None = None

    def start_client(self, now: float) -> None:
        self.client_active = True
        self.transmits = 0
        self._send_request(now)

    def _send_request(self, now: float) -> None:
        s = self.pcb.settings
        self.id = (self.id + 1) & 0xFF
        self.pcb.send_control(PPP_PAP, PapPacket(PAP_REQ, self.id, s.user.encode(), s.password.encode()).emit())
        self.transmits += 1
        self.client_deadline = now + self.timeout

    def start_server(self, now: float) -> None:
        self.server_active = True
        self.server_done = False
        self.server_deadline = now + self.req_time

    def stop(self) -> None:
        self.client_active = self.server_active = False
        self.client_deadline = self.server_deadline = None

    def poll(self, now: float) -> None:
        if self.client_deadline is not None and now >= self.client_deadline:
            self.client_deadline = None
            if self.transmits >= self.max_transmits:
                self.client_active = False
                self.pcb.auth_withpeer_fail("pap")
            else:
                self._send_request(now)
        if self.server_deadline is not None and now >= self.server_deadline:
            self.server_deadline = None
            self.server_active = False
            self.pcb.auth_peer_fail("pap")

    def poll_at(self) -> float | None:
        ds = [d for d in (self.client_deadline, self.server_deadline) if d is not None]
        return min(ds) if ds else None

    def input(self, info: bytes) -> None:
        try:
            p = PapPacket.parse(info)
        except Malformed:
            self.pcb.stats_auth_bad += 1
            return
        if p.code == PAP_REQ:
            if not self.server_active and not self.server_done:
                return
            s = self.pcb.settings
            ok = (hmac.compare_digest(p.peer_id, s.user.encode()) and
                  hmac.compare_digest(p.password, s.password.encode()))
            msg = b"Login ok" if ok else b"Login incorrect"
            self.pcb.send_control(PPP_PAP, PapPacket(PAP_ACK if ok else PAP_NAK, p.ident, message=msg).emit())
            if self.server_done:
                return
            self.server_active = False
            self.server_deadline = None
            if ok:
                self.server_done = True
                self.pcb.peer_name = p.peer_id.decode(errors="replace")
                self.pcb.auth_peer_success("pap")
            else:
                self.pcb.auth_peer_fail("pap")
        elif self.client_active and p.ident == self.id:
            self.client_active = False
            self.client_deadline = None
            if p.code == PAP_ACK:
                self.pcb.auth_withpeer_success("pap")
            else:
                self.pcb.auth_withpeer_fail("pap")


class Chap:
    """Both halves of CHAP-MD5 for one :class:`~lwipy.ppp.pcb.PppPcb`."""

    timeout = 3.0  # lwIP chap_timeout_time
    max_transmits = 10  # chap_max_transmits

    def __init__(self, pcb: "PppPcb") -> None:
        self.pcb = pcb
        self.client_active = False
        self.server_active = False
        self.server_done = False
        self.id = 0
        self.challenge = b""
        self.transmits = 0
        self.deadline: float | None = None
        self.last_response: tuple[int, bytes] | None = None

    def start_client(self, now: float) -> None:
        self.client_active = True

    def start_server(self, now: float) -> None:
        self.server_active = True
        self.server_done = False
        self.transmits = 0
        self.id = self.pcb.rng.randrange(256)
        self.challenge = self.pcb.rng.randbytes(16)
        self._send_challenge(now)

    def _send_challenge(self, now: float) -> None:
        self.pcb.send_control(PPP_CHAP, ChapPacket(CHAP_CHALLENGE, self.id, self.challenge,
                                                   self.pcb.settings.our_name.encode()).emit())
        self.transmits += 1
        self.deadline = now + self.timeout

    def stop(self) -> None:
        self.client_active = self.server_active = False
        self.deadline = None

    def poll(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            if self.transmits >= self.max_transmits:
                self.server_active = False
                self.pcb.auth_peer_fail("chap")
            else:
                self._send_challenge(now)

    def poll_at(self) -> float | None:
        return self.deadline

    def input(self, info: bytes) -> None:
        try:
            p = ChapPacket.parse(info)
        except Malformed:
            self.pcb.stats_auth_bad += 1
            return
        s = self.pcb.settings
        if p.code == CHAP_CHALLENGE:
            if not self.client_active:
                return
            value = chap_md5_response(p.ident, s.password.encode(), p.value)
            self.pcb.send_control(PPP_CHAP, ChapPacket(CHAP_RESPONSE, p.ident, value, s.user.encode()).emit())
        elif p.code == CHAP_RESPONSE:
            if p.ident != self.id or not (self.server_active or self.server_done):
                return
            expect = chap_md5_response(self.id, s.password.encode(), self.challenge)
            ok = hmac.compare_digest(p.name, s.user.encode()) and hmac.compare_digest(p.value, expect)
            self.pcb.send_control(PPP_CHAP, ChapPacket(CHAP_SUCCESS if ok else CHAP_FAILURE, p.ident,
                                                       message=b"Access granted" if ok else b"Access denied").emit())
            if self.server_done:
                return
            self.server_active = False
            self.deadline = None
            if ok:
                self.server_done = True
                self.pcb.peer_name = p.name.decode(errors="replace")
                self.pcb.auth_peer_success("chap")
            else:
                self.pcb.auth_peer_fail("chap")
        elif p.code in (CHAP_SUCCESS, CHAP_FAILURE):
            if not self.client_active:
                return
            self.client_active = False
            if p.code == CHAP_SUCCESS:
                self.pcb.auth_withpeer_success("chap")
            else:
                self.pcb.auth_withpeer_fail("chap")
