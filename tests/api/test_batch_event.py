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


def count_wake_ups(sock) -> list:
    """The mailbox's length at each notify of the socket's netconn condition (each wake-up of its readers)."""
    nc = sock.netconn
    seen: list = []
    real = nc._cond.notify_all

    def counting():
        seen.append(len(nc._mbox))
        real()
    nc._cond.notify_all = counting
    return seen


def test_the_segments_of_one_batch_reach_the_reader_as_one_chunk_and_one_wake_up(net):
    client, conn = pair(net, PORT)
    notified = count_wake_ups(conn)
    reader = Worker(lambda: conn.recv(65536))
    wait_until(lambda: blocked_in(conn))
    gate, queue = held_frames(net)
    data = bytes(range(240)) * 12  # 2,880 bytes: two full segments, within the first flight (the rest: Nagle's)
    client.sendall(data)
    wait_until(lambda: len(queue) >= 2)
    gate.set()
    assert reader.result() == data  # both segments' data in the one chunk the reader was woken for
    assert notified == [1]


def test_the_datagrams_of_one_batch_wake_a_waiting_reader_once(net):
    rx = net.sb.socket(type=2)
    rx.bind(("", PORT + 1))
    tx = net.sa.socket(type=2)
    notified = count_wake_ups(rx)
    tx.sendto(b"warm", ("10.0.0.2", PORT + 1))  # (ARP resolved first)
    assert rx.recv(100) == b"warm"
    notified.clear()
    reader = Worker(lambda: rx.recv(100))
    wait_until(lambda: blocked_in(rx))
    gate, queue = held_frames(net)
    for i in range(3):
        tx.sendto(b"d%d" % i, ("10.0.0.2", PORT + 1))
    wait_until(lambda: len(queue) >= 3)
    gate.set()
    assert reader.result() == b"d0"
    assert notified == [3]  # one wake-up, for the three datagrams the batch brought
    assert [rx.recv(100) for _ in range(2)] == [b"d1", b"d2"]
