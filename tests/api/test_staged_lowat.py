"""A small blocking write waiting for room wakes at the low-water mark (lwIP's TCP_SNDLOWAT: a socket is writable
once more than that much of its send buffer is free), not at every ACK: each wake-up then stages several writes.
The guarantees of staged writes waiting for room (test_staged_waits.py) hold unchanged."""

from __future__ import annotations

from apihelpers import Worker, wait_until
from test_staged_waits import armed, blocks, waiting_for_room
from test_staged_writes import pair

PORT = 5300


def test_the_low_water_mark_is_lwips_default_at_esp_idfs_send_buffer(net):
    client, conn = pair(net, PORT)
    nc = armed(net, client, conn)
    # LWIP_MIN(LWIP_MAX(TCP_SND_BUF / 2, 2 * TCP_MSS + 1), TCP_SND_BUF - 1) with 5,760 and 1,440
    assert nc._lowat == 2881


def test_a_writer_waiting_for_room_is_woken_above_the_low_water_mark_only(net):
    client, conn = pair(net, PORT + 1)
    nc = armed(net, client, conn)
    lowat = nc._lowat
    rooms = []  # the room published each time the writer's wait returned
    real_wait = nc._wait

    def wait(deadline):
        ok = real_wait(deadline)
        rooms.append(nc._stage_room)
        return ok
    nc._wait = wait
    data = blocks(300)  # 30 KB of 100-byte writes while nobody reads: the writer waits for room
    w = Worker(lambda: [client.sendall(b) for b in data])
    wait_until(lambda: waiting_for_room(nc))
    assert nc._room_wanted > lowat
    whole = b"".join(data)
    got = bytearray()
    while len(got) < len(whole):  # a segment at a time: each read reopens the window by less than the mark
        chunk = conn.recv(1440)
        assert chunk
        got += chunk
    w.result()
    assert bytes(got) == whole
    assert rooms, "the writer never waited"
    early = [r for r in rooms if r <= lowat]
    assert not early, f"woken with {early} bytes of room (low-water mark {lowat})"
    # each wake-up needs more than the mark freed: at most one per 2,882 bytes read, and a few for the start
    assert len(rooms) <= len(whole) // (lowat + 1) + 3, f"{len(rooms)} wake-ups for {len(whole)} bytes"
