"""The send fast path's window memo (issue 15): ``TcpOutput._output_fast`` replays the last window field from the
send template while rcv_nxt, rcv_adv, the bytes held and the buffer limit are what they were, and computes it again
(``_window_field``) when any of them moved.  In virtual time, against a scripted peer, and against the full path."""

from __future__ import annotations

import pytest

from test_tcp_fastpath import established, frame, inject, run_both

ACK, PSH = 0x10, 0x08


def count_window_fields(pcb) -> list:
    calls: list = []
    real = pcb._window_field

    def wrapper():
        calls.append(pcb.rcv_nxt)
        return real()
    pcb._window_field = wrapper
    return calls


def window_of(f: bytes) -> int:
    return int.from_bytes(f[48:50], "big")


def test_the_window_is_computed_once_while_the_receive_side_stands_still():
    t, pcb, _ = established(ts=False, reader=False)
    calls = count_window_fields(pcb)
    pcb.nodelay = True
    windows, counts = [], []
    for _ in range(4):
        pcb.send(b"s" * 500)
        frames = [bytes(f) for f in t.dev.take()]
        assert frames
        windows.append(window_of(frames[-1]))
        counts.append(len(calls))
        inject(t, frame(t, t.peer_seq, pcb.snd_max))
        t.dev.take()
    # computed at the first send, and at the second when the first moved rcv_adv (the SYN-ACK offered the buffer
    # unrounded); never again after
    assert counts[0] == 1 and counts[1] <= 2 and counts[3] == counts[2] == counts[1] and t.stack.tcp.fast_sent >= 4
    assert windows[1:] == [pcb._window_bytes()] * 3 and windows[0] > 0


def test_data_received_and_held_changes_the_window_sent():
    t, pcb, _ = established(ts=False, reader=False)
    calls = count_window_fields(pcb)
    pcb.nodelay = True
    pcb.send(b"s" * 500)
    w0 = window_of(bytes(t.dev.take()[-1]))
    # the peer's data, held unread, acknowledged as a pure ACK would be: the window shrinks by whole segments
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"d" * 1000))
    t.peer_seq += 1000
    inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | PSH, b"d" * 1000))
    t.peer_seq += 1000
    t.dev.take()
    pcb.send(b"s" * 500)
    frames = [bytes(f) for f in t.dev.take()]
    w1 = window_of(frames[-1])
    assert frames and w1 < w0 and pcb.rcv_adv == pcb.rcv_nxt + w1 and w1 == pcb._window_bytes()
    pcb.recv(2000)  # read: the window opens again
    t.dev.take()
    inject(t, frame(t, t.peer_seq, pcb.snd_max))
    pcb.send(b"s" * 500)
    frames = [bytes(f) for f in t.dev.take()]
    assert frames and window_of(frames[-1]) == w0
    assert len(calls) >= 3


def step(kind, n=1000, send_n=700, read_n=600, delta=4000):
    # (kind, data offset, data length, timestamps, flags, ACK advance, window, send size, read size, dt)
    return (kind, 0, n, "ok", ACK | PSH, delta, 65535, send_n, read_n, 0.0)


@pytest.mark.parametrize("ts", [True, False])
def test_sends_between_arrivals_and_reads_match_the_full_path(ts):
    """Sends with data arriving, held and read between them (every memo key moving in turn): the fast path's frames
    and state equal the full path's after every step, and the fast path sent."""
    steps = []
    for i in range(6):
        steps += [step("send"), step("ack"), step("send"), step("data", n=1000 - 100 * i), step("send"),
                  step("ack"), step("read", read_n=300 + 200 * i), step("send"), step("ack")]
    assert run_both(ts, False, False, steps) > 0
