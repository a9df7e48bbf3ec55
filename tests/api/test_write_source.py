"""A pending blocking write as its pcb's stream source (api_msg's ``_write_source``, tx17): the ACKs that free room
take the write's middle parts straight into the send buffer (``TcpPcb._pull``), without the pcb's event and
``_writemore``; the last part still goes by ``_writemore`` (its PSH, the write completed, the writer woken), and a
write that ended otherwise (a send timeout here) takes nothing more."""

from __future__ import annotations

import socket as pysocket
import struct

import pytest
from apihelpers import Worker, blocked_in, wait_until
from test_sockets_push import data_segments, read_exactly
from test_staged_writes import pair

from lwipy.api.api_msg import NetconnCore

PORT = 5400


@pytest.fixture
def pulls(monkeypatch):
    """Every call of a netconn's write source: (room, bytes it gave).  Patched before the sockets are made (each
    netconn binds its source once)."""
    seen: list[tuple[int, int]] = []
    real = NetconnCore._write_source

    def counting(self, pcb, room):
        data = real(self, pcb, room)
        seen.append((room, len(data)))
        return data
    monkeypatch.setattr(NetconnCore, "_write_source", counting)
    return seen


def count_writemores(sock) -> list:
    nc = sock.netconn
    seen: list = []
    real = nc._writemore

    def counting():
        seen.append(nc._write.offset if nc._write is not None else None)
        return real()
    nc._writemore = counting
    return seen


def test_a_large_write_is_pulled_between_its_first_and_last_parts(net, pulls):
    client, conn = pair(net, PORT)
    writemores = count_writemores(client)
    segments = data_segments(net)
    block = bytes(range(256)) * 800  # 200 KB through a 5,760-byte send buffer: dozens of ACKs
    reader = Worker(lambda: read_exactly(conn, len(block)))
    client.sendall(block)
    assert reader.result() == block
    taken = [n for _, n in pulls if n]
    # the parts between the first and the last came from the ACKs' pulls, each the room the ACK freed
    assert len(taken) > 20 and all(n <= room for room, n in pulls)
    assert sum(taken) < len(block)
    # _writemore only for the first part and the last (the source gave nothing once what was left fit the room)
    assert len(writemores) <= 3, writemores
    assert pulls[-1][1] == 0  # it took itself off
    pcb = client.netconn.pcb
    assert net.la.call(lambda: pcb.tx_source, timeout=30) is None
    # segment for segment as the event way sends them: full, PSH only on the last
    assert sum(n for n, _ in segments) == len(block)
    assert [psh for _, psh in segments] == [False] * (len(segments) - 1) + [True]
    assert all(n == segments[0][0] for n, _ in segments[:-1])


def test_a_write_that_times_out_midway_counts_exactly_and_the_source_takes_nothing_more(net, pulls):
    client, conn = pair(net, PORT + 1)
    client.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_SNDTIMEO, struct.pack("ll", 0, 300000))
    block = bytes(range(251)) * 1000  # far more than the window, the send buffer and conn's mailbox hold
    writer = Worker(lambda: client.send(block))  # nobody reads: the window closes, the write times out
    n = writer.result()
    assert 0 < n < len(block)
    assert any(taken for _, taken in pulls)  # the source was serving when the timeout came
    before = len(pulls)
    # the reader takes what was sent: the ACKs free room again, the source (still set) finds the write over
    assert read_exactly(conn, n) == block[:n]
    client.sendall(b"<end>")  # after it: nothing of the timed-out write in between
    assert read_exactly(conn, 5) == b"<end>"
    assert len(pulls) > before and all(taken == 0 for _, taken in pulls[before:])
    pcb = client.netconn.pcb
    assert net.la.call(lambda: pcb.tx_source, timeout=30) is None


def test_staged_bytes_waiting_go_before_the_source_takes_a_part(net, pulls):
    """A write that finds staged bytes still waiting (they found no room) is not pulled while they wait: they go
    first, on the next writable event, as before."""
    client, conn = pair(net, PORT + 2)
    client.sendall(b"a" * 10)  # a completed blocking write: the core publishes room, small writes are staged
    assert read_exactly(conn, 10) == b"a" * 10
    nc = client.netconn
    wait_until(lambda: nc._stage_room > 0)
    small = b"s" * 100
    assert client.send(small) == 100  # staged
    big = bytes(range(256)) * 100
    writer = Worker(lambda: client.sendall(big))
    got = read_exactly(conn, 100 + len(big))
    writer.result()
    assert got == small + big
    assert not blocked_in(client)


@pytest.mark.parametrize("how", ["close", "shutdown"])
def test_closing_mid_write_ends_the_write_and_takes_the_source_off(net, pulls, how):
    client, conn = pair(net, PORT + 3)
    block = bytes(range(256)) * 400
    writer = Worker(lambda: client.sendall(block))  # nobody reads: the window closes with the write pending
    pcb = client.netconn.pcb
    wait_until(lambda: any(taken for _, taken in pulls) and blocked_in(client))
    assert net.la.call(lambda: pcb.tx_source, timeout=30) is not None
    if how == "close":
        client.close()
    else:
        client.shutdown(pysocket.SHUT_WR)
    with pytest.raises(OSError):
        writer.result()
    assert net.la.call(lambda: pcb.tx_source, timeout=30) is None
