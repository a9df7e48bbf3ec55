"""``Stack.after_batch`` (rx17): work registered while a batch of frames is taken runs once the batch ends, after the
batch's ACKs; outside a batch at once; one that raises is counted and the rest still run."""

from __future__ import annotations

from test_tcp_fastpath import ACK, PSH, established, frame


def test_work_registered_in_a_batch_runs_after_its_frames_and_its_ack():
    t, pcb, got = established(ts=False)
    log: list = []
    on_data = pcb.on_event

    def on_event(p):
        on_data(p)
        log.append(("data", len(got)))
        t.stack.after_batch(lambda: log.append(("end", len(got), len(t.dev.sent))))
    pcb.on_event = on_event
    seq = t.peer_seq
    frames = [frame(t, seq + i * 100, pcb.snd_una, ACK | PSH, b"x" * 100) for i in range(3)]
    t.stack.input_many(t.netif, frames, t.now)
    # each segment's event at once; the three registered runs after the last, with the batch's one ACK written
    assert log[:3] == [("data", 100), ("data", 200), ("data", 300)]
    assert log[3:] == [("end", 300, 1)] * 3
    log.clear()
    t.stack.after_batch(lambda: log.append("now"))  # no batch running: at once
    assert log == ["now"]


def test_a_failing_piece_is_counted_and_the_others_still_run():
    t, pcb, _ = established(ts=False)
    t.stack.strict = False
    ran: list = []

    def bad():
        raise RuntimeError("a bug")
    pcb.on_event = lambda p: (p.recv(), t.stack.after_batch(bad), t.stack.after_batch(lambda: ran.append(1)))
    errors = t.stack.stats.link.err
    t.stack.input_many(t.netif, [frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"y" * 10)], t.now)
    assert ran == [1]
    assert t.stack.stats.link.err == errors + 1
