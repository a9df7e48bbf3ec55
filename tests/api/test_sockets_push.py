"""PSH on what a socket sends, as lwIP's netconn sets it (``lwip_netconn_do_writemore``, ``lwip_send``): a blocking
write split for want of room goes with TCP_WRITE_FLAG_MORE, without PSH, until its last part; ``MSG_MORE``
(NETCONN_MORE) keeps PSH off the last part too, whether the write goes as a write message or is staged."""

from __future__ import annotations

import pytest
from apihelpers import Worker
from test_staged_writes import count_write_messages, pair

from lwipy.api.sockdefs import MSG_MORE

PORT = 5300


def data_segments(net) -> list[tuple[int, bool]]:
    """(payload length, PSH) of every TCP segment with data that stack a sends, in order (filled as they go)."""
    seen: list[tuple[int, bool]] = []

    def tap(port, frame):
        if port.name != "a" or len(frame) <= 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            return
        tcp = 14 + (frame[14] & 0x0F) * 4
        n = 14 + int.from_bytes(frame[16:18], "big") - tcp - (frame[tcp + 12] >> 4) * 4
        if n > 0:
            seen.append((n, bool(frame[tcp + 13] & 0x08)))
    net.hub.taps.append(tap)
    return seen


def read_exactly(sock, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        assert chunk, "closed early"
        got += chunk
    return got


def test_a_write_split_for_want_of_room_pushes_only_its_last_segment(net):
    client, conn = pair(net, PORT)
    segments = data_segments(net)
    block = bytes(range(256)) * 160  # 40 KB through a 5,760-byte send buffer: eight parts at least
    reader = Worker(lambda: read_exactly(conn, len(block)))
    client.sendall(block)
    assert reader.result() == block
    assert sum(n for n, _ in segments) == len(block) and len(segments) > 8
    assert [psh for _, psh in segments] == [False] * (len(segments) - 1) + [True]


@pytest.mark.parametrize("staged", [False, True])
def test_msg_more_leaves_psh_off_until_a_write_without_it(net, staged):
    client, conn = pair(net, PORT)
    segments = data_segments(net)
    if staged:  # a blocking write completed: the core publishes room, and small writes are staged
        client.sendall(b"x" * 10)
        assert read_exactly(conn, 10) == b"x" * 10
    messages = count_write_messages(client)
    del segments[:]
    assert client.send(b"m" * 100, MSG_MORE) == 100
    assert read_exactly(conn, 100) == b"m" * 100
    assert segments == [(100, False)]
    assert client.send(b"p" * 100) == 100
    assert read_exactly(conn, 100) == b"p" * 100
    assert segments == [(100, False), (100, True)]
    assert (messages == []) == staged  # staged writes go without a write message
