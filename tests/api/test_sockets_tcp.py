"""BSD sockets over TCP: two stacks on a virtual hub, each on its own core thread; application threads use sockets."""

import errno
import hashlib
import os
import socket as pysocket
import struct
import time

import pytest
from apihelpers import GENEROUS, LATE, Worker, blocked_in, wait_until

PORT = 5000


def pair(net, port=PORT):
    """(client socket on a, server-side socket on b, listening socket on b)."""
    srv = net.sb.socket()
    srv.bind(("", port))
    srv.listen()
    accepting = Worker(srv.accept)
    client = net.sa.create_connection(("10.0.0.2", port))
    conn, peer = accepting.result()
    assert peer == client.getsockname()
    return client, conn, srv


def read_all(sock, size=65536):
    chunks = []
    while chunk := sock.recv(size):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_socket_looks_like_pythons(net):
    s = net.sa.socket()
    assert s.family == pysocket.AF_INET and s.type == pysocket.SOCK_STREAM and s.proto == 0
    assert isinstance(s.family, pysocket.AddressFamily) and isinstance(s.type, pysocket.SocketKind)
    assert s.gettimeout() is None and s.getblocking()
    assert s.getsockname() == ("0.0.0.0", 0)
    with pytest.raises(OSError) as e:
        s.getpeername()
    assert e.value.errno == errno.ENOTCONN
    s.settimeout(2.5)
    assert s.gettimeout() == 2.5 and s.getblocking()
    s.setblocking(False)
    assert s.gettimeout() == 0.0 and not s.getblocking()
    with pytest.raises(ValueError):
        s.settimeout(-1)
    s.close()


def test_socket_numbers_start_at_lwip_socket_offset_and_run_out_with_emfile(net):
    cfg = net.a.config
    offset = 64 - cfg.max_sockets  # ESP-IDF: LWIP_SOCKET_OFFSET = FD_SETSIZE - CONFIG_LWIP_MAX_SOCKETS
    socks = [net.sa.socket(type=pysocket.SOCK_DGRAM if i % 2 else pysocket.SOCK_STREAM)
             for i in range(cfg.max_sockets)]
    assert [s.fileno() for s in socks] == list(range(offset, offset + cfg.max_sockets))
    with pytest.raises(OSError) as e:
        net.sa.socket()
    assert e.value.errno == errno.EMFILE
    udp_pcbs = net.la.call(lambda: len(net.a.udp.pcbs))
    socks[3].close()
    assert socks[3].fileno() == -1
    assert net.la.call(lambda: len(net.a.udp.pcbs)) == udp_pcbs - 1  # its pcb is gone with it
    again = net.sa.socket()
    assert again.fileno() == offset + 3  # the lowest free number, as lwIP's alloc_socket
    for s in socks:
        s.close()
    again.close()
    assert net.sa.sockets() == []


def test_bulk_both_ways_at_once_sha256_equal(net):
    up, down = os.urandom(2 << 20), os.urandom(1 << 20)
    client, conn, srv = pair(net)

    def send(sock, data):
        sock.sendall(data)
        sock.shutdown(pysocket.SHUT_WR)

    writers = [Worker(lambda: send(client, up)), Worker(lambda: send(conn, down))]
    readers = [Worker(lambda: read_all(conn)), Worker(lambda: read_all(client))]
    for w in writers:
        w.result(30)
    got_up, got_down = (r.result(30) for r in readers)
    assert hashlib.sha256(got_up).digest() == hashlib.sha256(up).digest()
    assert hashlib.sha256(got_down).digest() == hashlib.sha256(down).digest()
    assert client.recv(10) == b"" and client.recv(10) == b""  # the end of the stream, again and again


def test_recv_into_and_sendall_with_a_megabyte_buffer(net):
    data = os.urandom(3 << 20)
    client, conn, _ = pair(net)
    writer = Worker(lambda: (client.sendall(data), client.close()))
    buf = bytearray(1 << 20)
    got = bytearray()
    while n := conn.recv_into(buf):
        got += buf[:n]
    writer.result()
    assert got == data


def test_recv_flags_peek_waitall_dontwait(net):
    client, conn, _ = pair(net)
    with pytest.raises(BlockingIOError):
        conn.recv(10, pysocket.MSG_DONTWAIT)
    client.sendall(b"hello world")
    assert wait_until(lambda: conn.recv(5, pysocket.MSG_PEEK)) == b"hello"
    assert conn.recv(5, pysocket.MSG_PEEK) == b"hello"  # peeking takes nothing
    assert conn.recv(5) == b"hello"
    assert conn.recv(100, pysocket.MSG_PEEK) == b" world"
    waiting = Worker(lambda: conn.recv(16, pysocket.MSG_WAITALL))
    wait_until(lambda: blocked_in(conn))
    assert waiting.is_alive()  # 6 bytes are there, it waits for 16
    client.sendall(b"0123456789abcdef")
    assert waiting.result() == b" world0123456789"
    assert conn.recv(100) == b"abcdef"
    with pytest.raises(OSError) as e:
        conn.recv(10, pysocket.MSG_OOB)
    assert e.value.errno == errno.EOPNOTSUPP


def test_recvfrom_recvmsg_and_sendmsg_on_a_stream(net):
    client, conn, _ = pair(net)
    assert client.sendmsg([b"ab", memoryview(b"cd"), bytearray(b"ef")]) == 6
    data, addr = conn.recvfrom(100)
    assert data == b"abcdef" and addr is None
    client.send(b"xyz")
    data, anc, flags, addr = conn.recvmsg(100, 64)
    assert (data, anc, flags, addr) == (b"xyz", [], 0, None)
    client.send(b"12345")
    bufs = [bytearray(2), bytearray(10)]
    n, _, _, _ = wait_until(lambda: conn.recvmsg_into(bufs, 0, pysocket.MSG_PEEK) and conn.recvmsg_into(bufs))
    assert n == 5 and bytes(bufs[0]) == b"12" and bytes(bufs[1][:3]) == b"345"
    with pytest.raises(OSError) as e:
        client.sendmsg([b"x"], [(0, 0, b"")])
    assert e.value.errno == errno.EINVAL


def test_makefile_reads_lines_and_writes(net):
    client, conn, _ = pair(net)
    wfile = client.makefile("wb")
    wfile.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    wfile.flush()
    rfile = conn.makefile("r", encoding="ascii", newline="")
    assert rfile.readline() == "GET / HTTP/1.0\r\n"
    assert rfile.readline() == "Host: x\r\n"
    assert rfile.readline() == "\r\n"
    conn.close()  # the file still holds the socket open
    assert conn.fileno() >= 0
    client.sendall(b"more\r\n")
    assert rfile.readline() == "more\r\n"
    rfile.close()
    assert conn.fileno() == -1
    wfile.close()
    client.close()


def test_connect_refused_and_connect_ex(net):
    s = net.sa.socket()
    with pytest.raises(ConnectionRefusedError):
        s.connect(("10.0.0.2", 1))
    s.close()
    s = net.sa.socket()
    assert s.connect_ex(("10.0.0.2", 1)) == errno.ECONNREFUSED
    s.close()


def test_connect_with_a_timeout_to_nobody_raises_timeout_error(net):
    s = net.sa.socket()
    s.settimeout(0.3)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        s.connect(("10.0.0.99", 80))  # nobody answers ARP
    assert 0.25 < time.monotonic() - t0 < 0.3 + LATE
    s.close()


def test_nonblocking_connect_then_select_and_so_error(net):
    srv = net.sb.socket()
    srv.bind(("", PORT))
    srv.listen()
    s = net.sa.socket()
    s.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        s.connect(("10.0.0.2", PORT))
    assert e.value.errno == errno.EINPROGRESS
    _, w, _ = net.sa.select([], [s], [], GENEROUS)
    assert w == [s] and s.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ERROR) == 0
    assert s.getpeername() == ("10.0.0.2", PORT)
    assert s.connect_ex(("10.0.0.2", PORT)) == errno.EISCONN
    bad = net.sa.socket()
    bad.setblocking(False)
    assert bad.connect_ex(("10.0.0.2", PORT + 1)) == errno.EINPROGRESS
    r, w, x = net.sa.select([bad], [bad], [bad], GENEROUS)
    assert w == [bad] and x == [bad] and r == [bad]
    assert bad.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ERROR) == errno.ECONNREFUSED
    assert bad.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ERROR) == 0  # read once
    assert net.sa.select([], [], [bad], 0) == ([], [], [])


def test_timeouts_settimeout_raises_timeout_error_and_so_rcvtimeo_eagain(net):
    client, conn, srv = pair(net)
    conn.settimeout(0.2)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        conn.recv(10)
    assert time.monotonic() - t0 >= 0.19
    conn.settimeout(None)
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVTIMEO, struct.pack("ll", 0, 200000))
    assert conn.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVTIMEO) == 200
    assert struct.unpack("ll", conn.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVTIMEO, 16)) == (0, 200000)
    with pytest.raises(BlockingIOError) as e:
        conn.recv(10)
    assert e.value.errno == errno.EAGAIN
    client.send(b"still works")
    assert net.sb.select([conn], [], [], GENEROUS)[0] == [conn]  # arrived: the 200 ms receive timeout cannot hit
    assert conn.recv(100) == b"still works"
    srv.settimeout(0.1)
    with pytest.raises(TimeoutError):
        srv.accept()
    srv.setblocking(False)
    with pytest.raises(BlockingIOError):
        srv.accept()


def test_send_timeout_returns_what_was_queued_then_times_out(net):
    client, conn, _ = pair(net)
    client.settimeout(0.2)
    data = os.urandom(1 << 20)
    n = client.send(data)  # nobody reads: what fits in the send buffer and the peer's window
    assert 0 < n < len(data)
    with pytest.raises(TimeoutError):
        client.sendall(data)
    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        for _ in range(100):
            client.send(data)


def test_reset_by_peer_data_first_then_connection_reset_error(make_net):
    net = make_net(so_linger=True)  # ESP-IDF builds these socket options only when asked
    client, conn, _ = pair(net)
    conn.sendall(b"last words")
    wait_until(lambda: client.netconn.recv_avail)
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: RST
    assert client.recv(100) == b"last words"
    with pytest.raises(ConnectionResetError):
        client.recv(100)
    assert client.recv(100) == b""
    with pytest.raises(OSError) as e:
        client.send(b"x")
    assert e.value.errno in (errno.ENOTCONN, errno.ECONNRESET, errno.EPIPE)


def test_shutdown_write_half_closes(net):
    client, conn, _ = pair(net)
    client.sendall(b"request")
    client.shutdown(pysocket.SHUT_WR)
    assert read_all(conn) == b"request"
    conn.sendall(b"response")
    conn.close()
    assert read_all(client) == b"response"
    with pytest.raises(OSError) as e:
        client.shutdown(7)
    assert e.value.errno == errno.EINVAL


def test_fcntl_and_ioctl(net):
    api = net.sa
    client, conn, _ = pair(net)
    assert api.fcntl(client, api.F_GETFL) == os.O_RDWR
    api.fcntl(client, api.F_SETFL, api.fcntl(client, api.F_GETFL) | os.O_NONBLOCK)  # the usual idiom
    assert api.fcntl(client.fileno(), api.F_GETFL) == os.O_RDWR | os.O_NONBLOCK and not client.getblocking()
    api.fcntl(client, api.F_SETFL, 0)
    assert client.getblocking()
    client.shutdown(pysocket.SHUT_WR)
    assert api.fcntl(client, api.F_GETFL) == os.O_RDONLY
    net.sb.fcntl(conn, api.F_SETFL, os.O_NDELAY)
    assert not conn.getblocking()
    with pytest.raises(OSError) as e:
        api.fcntl(client, 1)  # F_GETFD
    assert e.value.errno == errno.ENOSYS
    assert net.sb.ioctl(conn, api.FIONREAD) == 0
    client.close()
    conn.setblocking(True)
    udp = api.socket(type=pysocket.SOCK_DGRAM)
    assert api.fcntl(udp, api.F_GETFL) == os.O_RDWR
    api.ioctl(udp, api.FIONBIO, 1)
    assert not udp.getblocking()
    with pytest.raises(OSError) as e:
        api.ioctl(udp, 0x5401)  # TCGETS
    assert e.value.errno == errno.ENOSYS
    with pytest.raises(OSError) as e:
        api.fcntl(99, api.F_GETFL)
    assert e.value.errno == errno.EBADF


def test_fionread_counts_what_waits(net):
    client, conn, _ = pair(net)
    client.sendall(b"x" * 1000)
    wait_until(lambda: net.sb.ioctl(conn, net.sb.FIONREAD) == 1000)
    assert len(conn.recv(300)) == 300
    assert net.sb.ioctl(conn, net.sb.FIONREAD) == 700


def test_so_reuseaddr_lets_a_restarted_server_bind_while_its_old_connection_is_in_time_wait(net):
    client, conn, srv = pair(net)
    conn.close()  # the server closes first: its end goes to TIME_WAIT
    srv.close()
    assert read_all(client) == b""
    client.close()
    wait_until(lambda: net.lb.call(lambda: any(p.state_name == "TIME_WAIT" for p in net.b.tcp.conns.values())))
    again = net.sb.socket()
    with pytest.raises(OSError) as e:
        again.bind(("", PORT))
    assert e.value.errno == errno.EADDRINUSE
    again.close()
    again = net.sb.socket()
    again.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    again.bind(("", PORT))
    again.listen()
    assert again.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ACCEPTCONN) == 1
    c2 = net.sa.create_connection(("10.0.0.2", PORT))
    s2, _ = again.accept()
    c2.sendall(b"back")
    assert s2.recv(10) == b"back"


def test_listen_backlog_is_capped_by_the_accept_mailbox(make_net):
    net = make_net(tcp_rto_time=200)
    srv = net.sb.socket()
    srv.bind(("", PORT))
    srv.listen(128)
    cap = net.b.config.tcp_accept_mbox_size
    assert net.lb.call(lambda: srv.netconn.pcb.backlog) == cap
    clients = []
    for _ in range(cap):
        clients.append(net.sa.create_connection(("10.0.0.2", PORT)))
    extra = net.sa.socket()
    extra.settimeout(30)
    connecting = Worker(lambda: extra.connect(("10.0.0.2", PORT)))
    # the backlog is full: the SYN is dropped without a RST (lwIP, Linux), so connect() keeps trying
    wait_until(lambda: net.b.stats.tcp.listen_drop >= 1)
    assert connecting.is_alive()
    first, _ = srv.accept()  # a slot frees: the retransmitted SYN gets in
    connecting.result(30)
    assert extra.getpeername() == ("10.0.0.2", PORT)
    for c in clients + [first, extra]:
        c.close()


def test_accept_runs_out_of_sockets_with_emfile_and_the_connection_is_closed(make_net):
    net = make_net(max_sockets=2)
    srv = net.sb.socket()
    srv.bind(("", PORT))
    srv.listen()
    c1 = net.sa.create_connection(("10.0.0.2", PORT))
    s1, _ = srv.accept()  # b holds two sockets now
    c2 = net.sa.create_connection(("10.0.0.2", PORT))
    with pytest.raises(OSError) as e:
        srv.accept()
    assert e.value.errno == errno.EMFILE
    assert c2.recv(10) == b""  # the connection no socket could take was closed
    wait_until(lambda: net.lb.call(lambda: len(net.b.tcp.conns)) <= 2)
    c1.close()
    c2.close()
    s1.close()
