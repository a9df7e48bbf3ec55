"""The TCP connection states (RFC 9293 3.3.2) as small integers, in lwIP's ``enum tcp_state`` order, and the sets
of states the pcb's modules test against.

``TcpPcb.state`` holds one of these; :data:`STATE_NAMES` gives its name.  The sets say what a state allows:
synchronized states have exchanged SYNs (RST and SYN are then checked by sequence number, RFC 5961), the user may
send in ESTABLISHED and CLOSE_WAIT, and data from the peer is taken in ESTABLISHED, FIN_WAIT_1 and FIN_WAIT_2.
"""

from __future__ import annotations

__all__ = ["STATE_NAMES", "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
           "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "SYNCHRONIZED", "CAN_SEND", "CAN_RECEIVE"]

(CLOSED, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK,
 TIME_WAIT) = range(11)
STATE_NAMES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
               "CLOSING", "LAST_ACK", "TIME_WAIT")
#: both SYNs exchanged
SYNCHRONIZED = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT})
#: the user may queue data (not yet closed for sending)
CAN_SEND = frozenset({ESTABLISHED, CLOSE_WAIT})
#: the peer's data is taken (it has not sent its FIN)
CAN_RECEIVE = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})
