"""Staged writes (api_msg's theory): a blocking TCP write that fits the room the core published is taken at once
and handed to the pcb with whatever else was staged meanwhile, in one ``tcp_write``; never more than the send buffer
holds, never after shutdown, and an error shows on a later call."""

from __future__ import annotations

import errno
import socket as pysocket
import struct

import pytest
from apihelpers import Worker, blocked_in, wait_until

PORT = 5100


def pair(net, port=PORT):
    srv = net.sb.socket()
    srv.bind(("", port))
    srv.listen()
    accepting = Worker(srv.accept)
    client = net.sa.create_connection(("10.0.0.2", port))
    conn, _ = accepting.result()
    return client, conn


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def count_write_messages(sock) -> list:
    """Wrap the netconn's core-side write so that every write message (the usual way, a round trip) is counted."""
    nc = sock.netconn
    seen: list = []
    real = nc._do_write

    def counting(msg):
        seen.append(len(msg.view))
        real(msg)
    nc._do_write = counting
    return seen


def test_small_blocking_writes_are_staged_and_leave_in_full_segments(net):
    client, conn = pair(net)
    sizes: list[int] = []
    net.hub.taps.append(lambda port, frame: sizes.append(len(frame) - 54) if port.name == "a" and len(frame) > 54
                        else None)
    messages = count_write_messages(client)
    reader = Worker(lambda: read_all(conn))
    blocks = [bytes([i & 0xFF]) * 100 for i in range(3000)]
    for b in blocks:
        client.sendall(b)
    client.close()
    assert reader.result() == b"".join(blocks)
    # without staging every one of the 3000 writes is a message and a wait; staged, only those that found no room
    assert len(messages) < len(blocks) // 4, f"{len(messages)} of {len(blocks)} writes went the usual way"
    full = sum(1 for s in sizes if s == 1440)
    assert full * 1440 >= 0.8 * len(blocks) * 100, f"only {full} full segments of {len(sizes)}"


def test_staged_bytes_never_exceed_the_send_buffer(net):
    client, conn = pair(net)
    count_write_messages(client)  # arms staging on the first write, as any completed write does
    nc = client.netconn

    def writer():
        for i in range(2000):
            client.sendall(bytes([i & 0xFF]) * 50)
    w = Worker(writer)
    pcb = wait_until(lambda: net.la.call(lambda: nc.pcb))

    def sample():
        with nc._stage_lock:
            return len(pcb.snd_buf), len(nc._staged), pcb.snd_buf_limit, pcb.snd_wnd

    def settled():  # the reader reads nothing: the peer's window closes and the writer blocks for good
        queued, staged, limit, wnd = net.la.call(sample)
        assert queued + staged <= limit  # staged bytes count against the send buffer, at every moment
        return wnd == 0 and staged == 0 and blocked_in(client)
    wait_until(settled)
    got = Worker(lambda: read_all(conn))
    w.result()
    client.close()
    assert got.result() == b"".join(bytes([i & 0xFF]) * 50 for i in range(2000))


def test_staged_bytes_go_before_the_fin_and_a_send_after_shutdown_fails(net):
    client, conn = pair(net)
    reader = Worker(lambda: read_all(conn))
    data = [bytes([65 + i % 26]) * 200 for i in range(50)]
    for d in data:
        client.sendall(d)
    client.shutdown(pysocket.SHUT_WR)
    with pytest.raises(OSError) as e:
        client.send(b"late")
    assert e.value.errno in (errno.EPIPE, errno.ENOTCONN)
    assert reader.result() == b"".join(data)


def test_an_error_after_staged_writes_shows_on_a_later_call(make_net):
    net = make_net(so_linger=True)
    client, conn = pair(net)
    client.sendall(b"x" * 10)  # a completed write: staging armed
    assert conn.recv(10) == b"x" * 10
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST

    def keep_writing():
        for _ in range(100000):
            client.sendall(b"y" * 10)
        return "never failed"
    w = Worker(keep_writing)
    with pytest.raises(OSError) as e:
        w.result()
    assert e.value.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE)


def test_a_flush_that_finds_less_room_keeps_the_rest_for_later(net):
    """Should anything fill the send buffer behind the staged bytes' back, the flush keeps what did not fit and
    hands it over on the next writable event: nothing is lost, nothing reordered."""
    client, conn = pair(net)
    client.sendall(b"<")  # a completed write: staging armed
    nc = client.netconn
    pcb = wait_until(lambda: net.la.call(lambda: nc.pcb))
    room = net.la.call(lambda: nc._stage_room)
    assert room > 1000
    client.sendall(b"s" * 1000)  # staged, its flush posted
    net.la.call(lambda: None)  # (the flush ran)
    # the core itself queues on the pcb behind the application's back, then the application stages what the
    # published room (now too large) allows; the flush finds less room than that
    def behind():
        nc._stage_room = pcb.send_space  # a stale publication
        pcb.send(b"c" * (pcb.send_space - 10))
    net.la.call(behind)
    client.sendall(b"t" * 500)
    reader = Worker(lambda: read_all(conn))
    client.sendall(b">")
    client.close()
    got = reader.result()
    assert got == b"<" + b"s" * 1000 + b"c" * (len(got) - 1502) + b"t" * 500 + b">"


def test_a_write_waits_behind_staged_bytes_that_found_no_room(net):
    client, conn = pair(net)
    client.sendall(b"<")
    nc = client.netconn
    pcb = wait_until(lambda: net.la.call(lambda: nc.pcb))

    def fill():  # the peer's window (nobody reads there), then our send buffer
        pcb.send(b"c" * pcb.send_space)
        return pcb.snd_wnd == 0 and pcb.send_space == 0
    wait_until(lambda: net.la.call(fill))

    def rest():  # what _send_staged leaves when the buffer was fuller than the room published said
        with nc._stage_lock:
            nc._staged += b"r" * 300
            nc._stage_room = 0
    net.la.call(rest)
    w = Worker(lambda: client.sendall(b">"))  # no room: the usual way, and it waits
    wait_until(lambda: blocked_in(client))
    reader = Worker(lambda: read_all(conn))
    w.result()
    client.close()
    got = reader.result()
    assert got.startswith(b"<c") and got.endswith(b"c" + b"r" * 300 + b">")
