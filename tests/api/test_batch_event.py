"""A netconn's pcb events during a batch of frames wait for the batch's end (rx17, ``Stack.after_batch``): the data
of the batch's segments goes to the mailbox as one chunk and a reader waiting is woken once, not per segment."""

from __future__ import annotations

import threading

from apihelpers import Worker, blocked_in, wait_until
from test_staged_writes import pair

PORT = 5500


def held_frames(net) -> tuple[threading.Event, list]:
    """b's core thread held in a posted call until the returned event is set; what reaches b's port meanwhile waits
    in its queue, to be taken as one batch.  Also returns b's port queue."""
    gate = threading.Event()
    busy = threading.Event()

    def hold():
        busy.set()
        gate.wait(30)
    net.lb.call_soon(hold)
    assert busy.wait(30)
    (netif,) = [n for n in net.b.netifs if n.name != "lo"] or net.b.netifs[-1:]
    return gate, netif.device.rx


def test_the_segments_of_one_batch_reach_the_reader_as_one_chunk_and_one_wake_up(net):
    client, conn = pair(net, PORT)
    nc = conn.netconn
    notified = []
    real_notify = nc._cond.notify_all

    def counting_notify():
        notified.append(len(nc._mbox))
        real_notify()
    nc._cond.notify_all = counting_notify
    reader = Worker(lambda: conn.recv(65536))
    wait_until(lambda: blocked_in(conn))
    gate, queue = held_frames(net)
    data = bytes(range(240)) * 12  # 2,880 bytes: two full segments, within the first flight (the rest: Nagle's)
    client.sendall(data)
    wait_until(lambda: len(queue) >= 2)
    gate.set()
    assert reader.result() == data  # both segments' data in the one chunk the reader was woken for
    assert notified == [1]
