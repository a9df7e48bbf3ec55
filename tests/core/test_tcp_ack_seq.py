"""The sequence number of a pure ACK: snd_max (not the snd_nxt a timeout walked back), but never past the right edge
of the peer's window (Linux's tcp_acceptable_seq).  Found by PPP's noisy-line test (tests/ppp/test_ppp_pty.py): with
the peer's window closed, ACKs numbered at snd_max were unacceptable to it and their acknowledgment never read, and
both ends waited for ever."""

from __future__ import annotations

from tcp_script import TcpScript


def test_ack_seq_stays_inside_a_closed_peer_window():
    t = TcpScript()
    pcb = t.open_passive()
    una = (t.iss + 1) & 0xFFFFFFFF
    pcb.send(b"x" * 1000)
    seg = t.expect("PA", seq=una, data_len=1000)
    assert seg is not None
    # the data is lost; the peer's window closes (its application stopped reading) and it sends us data
    t.send("A", ack=una, data=b"y" * 100, window=0)
    t.at(0.3)  # the delayed ACK
    ack = t.expect("A", ack=t.peer_seq)
    assert ack.seq == una  # snd_una + 0: the one number a closed window accepts (RFC 9293 3.10.7.4)


def test_ack_seq_is_snd_max_when_the_window_covers_it():
    t = TcpScript()
    pcb = t.open_passive()
    una = (t.iss + 1) & 0xFFFFFFFF
    pcb.send(b"x" * 1000)
    t.expect("PA", seq=una, data_len=1000)
    t.send("A", ack=una, data=b"y" * 100, window=8000)
    t.at(0.3)
    assert t.expect("A", ack=t.peer_seq).seq == (una + 1000) & 0xFFFFFFFF
