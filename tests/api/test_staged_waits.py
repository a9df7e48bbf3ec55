"""Staged writes waiting for room (api_msg's theory): a small blocking write that finds the staged room exhausted
sleeps until the ACKs free the send buffer and the core publishes room, then stages, instead of posting a write
message per write.  Every guarantee of staged writes holds: order and byte count, the send timeout, shutdown, close
and a stopping loop wake the waiter with the error plain writes give."""

from __future__ import annotations

import errno
import random
import socket as pysocket
import struct
import time

import pytest
from apihelpers import GENEROUS, Worker, blocked_in, wait_until
from test_staged_writes import count_write_messages, pair, read_all

from lwipy.errors import LwipError

PORT = 5200


def blocks(count, size=100):
    return [bytes([i & 0xFF]) * size for i in range(count)]


def read_exact(sock, n):
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended after {len(got)} of {n} bytes"
        got += chunk
    return bytes(got)


def armed(net, client, conn):
    """A completed write arms staging (the core publishes room from then on)."""
    client.sendall(b"<")
    assert conn.recv(10) == b"<"
    nc = client.netconn
    wait_until(lambda: net.la.call(lambda: nc._stage_open))
    return nc


def waiting_for_room(nc):
    """A writer sleeps on the netconn's condition for staged room (not in a write message)."""
    return blocked_in(nc) and nc._room_waiters > 0 and nc._write is None


def test_a_writer_blocked_on_room_is_woken_by_the_ack_without_a_write_message(net):
    client, conn = pair(net, PORT)
    nc = armed(net, client, conn)
    messages = count_write_messages(client)
    data = blocks(300)  # 30 KB: beyond the peer's window and our send buffer (5760 each) while nobody reads
    w = Worker(lambda: [client.sendall(b) for b in data])
    wait_until(lambda: waiting_for_room(nc))
    assert w.is_alive()
    got = read_exact(conn, len(data) * 100)  # the window reopens, the ACKs free the buffer, the writer goes on
    w.result()
    assert got == b"".join(data)
    assert messages == [], f"{len(messages)} writes posted a message instead of waiting for room"


def test_writes_larger_than_half_the_send_buffer_still_go_the_usual_way(net):
    client, conn = pair(net, PORT + 1)
    nc = armed(net, client, conn)
    messages = count_write_messages(client)
    big = bytes(range(256)) * 16  # 4096 > 5760 / 2
    reader = Worker(lambda: read_exact(conn, 10 * len(big)))
    for _ in range(10):
        client.sendall(big)
    assert reader.result() == big * 10
    assert messages, "a large write never went the usual way"
    assert nc._room_waiters == 0


def test_many_small_writes_over_a_lossy_link_arrive_exact_and_in_order(make_net):
    net = make_net(faults=dict(seed=7, loss=0.03))  # a's link loses 3 % of the frames each way
    client, conn = pair(net, PORT + 2)
    nc = armed(net, client, conn)
    messages = count_write_messages(client)
    rng = random.Random(3)
    data = []
    for i in range(1500):  # 5 to 2884 bytes: some staged in two parts, the largest beyond half the send buffer
        n = rng.choice((1, 7, 100, 536, 1000, 1440, 2000, 2876, 2880))
        data.append(struct.pack("!I", i) + bytes([i & 0xFF]) * n)
    reader = Worker(lambda: read_all(conn))
    waits = []
    real = nc._stage_wait

    def counting(view, deadline, more=False):
        waits.append(len(view))
        return real(view, deadline, more)
    nc._stage_wait = counting
    for d in data:
        client.sendall(d)
    client.close()
    assert reader.result(timeout=4 * GENEROUS) == b"".join(data)
    assert net.dev.counts["lost"] > 0
    assert waits, "no write waited for room"
    small = [m for m in messages if m <= 2880]  # a write's rest after staging closed; none here
    assert len(small) == 0 and len(messages) < len(data) // 5, f"write messages {messages}"


def test_send_timeout_while_waiting_for_room_returns_what_was_staged_or_eagain(net):
    client, conn = pair(net, PORT + 3)
    nc = armed(net, client, conn)
    client.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_SNDTIMEO, struct.pack("ll", 0, 200000))
    rng = random.Random(5)
    sent = []
    t0 = None
    with pytest.raises(BlockingIOError) as e:  # nobody reads: the room runs out, the timeout hits
        for i in range(100000):
            block = bytes([i & 0xFF]) * rng.choice((100, 700, 2000))
            if nc._stage_room < len(block):
                t0 = time.monotonic()
            n = client.send(block)
            assert 0 < n <= len(block)
            sent.append(block[:n])  # a partial count: the rest was never taken
    assert e.value.errno == errno.EAGAIN
    assert t0 is not None and time.monotonic() - t0 >= 0.19
    total = sum(map(len, sent))
    assert read_exact(conn, total) == b"".join(sent)  # exactly what the calls said they took
    client.sendall(b">")  # the connection goes on, in order
    assert conn.recv(10) == b">"
    client.settimeout(0.2)  # settimeout: sendall raises TimeoutError
    with pytest.raises(TimeoutError):
        while True:
            client.sendall(b"t" * 100)
    assert waiting_for_room(nc) is False


def test_shutdown_while_a_writer_waits_for_room_fails_the_write_and_the_fin_follows_its_bytes(net):
    client, conn = pair(net, PORT + 4)
    nc = armed(net, client, conn)
    data = blocks(300)
    done = []

    def writer():
        for b in data:
            client.sendall(b)
            done.append(b)
    w = Worker(writer)
    wait_until(lambda: waiting_for_room(nc))
    client.shutdown(pysocket.SHUT_WR)
    with pytest.raises(OSError) as e:
        w.result()
    assert e.value.errno in (errno.EPIPE, errno.ENOTCONN)
    with pytest.raises(OSError):
        client.send(b"late")  # nothing is taken after shutdown
    got = read_all(conn)  # up to the FIN
    whole = b"".join(data)
    assert whole.startswith(got) and len(got) >= sum(map(len, done))  # in order; the failed write's part at most
    assert len(got) < len(whole)


def test_close_while_a_writer_waits_for_room_wakes_it_with_enotconn(net):
    client, conn = pair(net, PORT + 5)
    nc = armed(net, client, conn)
    w = Worker(lambda: [nc.write(b) for b in blocks(300)])
    wait_until(lambda: waiting_for_room(nc))
    nc.close()
    with pytest.raises(LwipError) as e:
        w.result()
    assert e.value.errno == errno.ENOTCONN


def test_a_stopping_loop_wakes_a_writer_waiting_for_room_with_eshutdown(net):
    client, conn = pair(net, PORT + 6)
    nc = armed(net, client, conn)
    w = Worker(lambda: [nc.write(b) for b in blocks(300)])
    wait_until(lambda: waiting_for_room(nc))
    net.la.stop()
    with pytest.raises(LwipError) as e:
        w.result()
    assert e.value.errno == errno.ESHUTDOWN
