"""PPP (lwIP's ``netif/ppp``), sans-I/O: the RFC 1661 automaton, LCP, PAP, CHAP-MD5, IPCP, IPV6CP and VJ header
compression, in one session object (:class:`PppPcb`) that takes serial bytes and the time and hands back serial
bytes, IP packets and its next deadline.  The device carrying it over a pty or a serial port is
:class:`lwipy.netif.pppos.PpposDevice` (``pppos_create``)."""

from .fsm import Fsm
from .pcb import PHASE_NAMES, PPPERR_NAMES, PppPcb, PppPhaseChanged, PppSettings, PppStatus

__all__ = ["Fsm", "PppPcb", "PppSettings", "PppPhaseChanged", "PppStatus", "PHASE_NAMES", "PPPERR_NAMES"]
