"""select and poll over lwipy sockets, the SO_LINGER close state machines, and closing from another thread."""

import errno
import logging
import os
import select as pyselect
import socket as pysocket
import struct
import threading
import time

import pytest
from apihelpers import GENEROUS, LATE, Worker, blocked_in, blocked_in_select, wait_until
from test_sockets_tcp import PORT, pair

LINGER = struct.Struct("ii")


def test_select_readable_writable_and_timeout(net):
    client, conn, srv = pair(net)
    api = net.sb
    t0 = time.monotonic()
    assert api.select([conn], [], [], 0.1) == ([], [], [])
    assert 0.09 < time.monotonic() - t0 < 0.1 + LATE
    assert api.select([], [conn], [], 0) == ([], [conn], [])  # connected, with room: writable
    assert api.select([srv], [srv], [], 0) == ([], [], [])  # a listener is never writable
    waiting = Worker(lambda: api.select([conn, srv], [], [], GENEROUS))
    wait_until(lambda: blocked_in_select(api))
    client.sendall(b"wake up")
    assert waiting.result() == ([conn], [], [])
    assert conn.recv(100) == b"wake up"
    waiting = Worker(lambda: api.select([srv.fileno()], [], [], GENEROUS))  # numbers work as well as sockets
    wait_until(lambda: blocked_in_select(api))
    other = net.sa.create_connection(("10.0.0.2", PORT))
    assert waiting.result() == ([srv.fileno()], [], [])
    accepted, _ = srv.accept()
    assert api.select([srv], [], [], 0) == ([], [], [])
    other.close()
    assert api.select([accepted], [], [], GENEROUS) == ([accepted], [], [])  # the end of the stream is readable
    assert accepted.recv(10) == b""


def test_select_writable_follows_the_send_buffer(net):
    client, conn, _ = pair(net)
    client.setblocking(False)
    sent = fill(net.sa, client)  # the buffer and the peer's window are full: not writable (SENDMINUS)
    waiting = Worker(lambda: net.sa.select([], [client], [], GENEROUS))
    wait_until(lambda: blocked_in_select(net.sa))  # not writable: it sleeps until the peer reads

    def drain():
        got = 0
        while got < sent:
            got += len(conn.recv(1 << 16))
        return got
    drained = Worker(drain)
    assert waiting.result() == ([], [client], [])  # room again (SENDPLUS)
    assert drained.result() == sent


def fill(api, sock):
    """Send without blocking until the send buffer stays full (the peer reads nothing); the bytes taken."""
    sent = 0
    data = os.urandom(1 << 16)
    sock.setblocking(False)
    pcb = sock.netconn.pcb

    def full():
        nonlocal sent
        with pytest.raises(BlockingIOError):
            while True:
                sent += sock.send(data)
        # once all that was sent is acknowledged (the peer's window is shut) nothing frees the buffer any more;
        # an acknowledgement that left room makes it writable, and the next round sends more
        wait_until(lambda: api.loop.call(lambda: pcb.snd_una == pcb.snd_max))
        return not api.select([], [sock], [], 0)[1]
    wait_until(full)
    sock.setblocking(True)
    return sent


def test_poll_reports_pollin_pollout_pollerr_pollhup_and_pollnval(make_net):
    net = make_net(so_linger=True)  # ESP-IDF builds these socket options only when asked
    client, conn, srv = pair(net)
    api = net.sb
    p = api.poll()
    p.register(conn, pyselect.POLLIN | pyselect.POLLOUT)
    p.register(srv.fileno(), pyselect.POLLIN)
    p.register(63, pyselect.POLLIN)  # not an open socket
    assert sorted(p.poll(0)) == [(conn.fileno(), pyselect.POLLOUT), (63, pyselect.POLLNVAL)]
    p.unregister(63)
    p.modify(conn, pyselect.POLLIN)
    assert p.poll(50) == []
    client.sendall(b"x")
    assert p.poll(5000) == [(conn.fileno(), pyselect.POLLIN)]
    client.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, LINGER.pack(1, 0))
    client.close()  # RST: the error is pending, the connection gone
    events = wait_until(lambda: [e for fd, e in p.poll(0) if fd == conn.fileno() and e & pyselect.POLLERR])
    assert events[0] & pyselect.POLLHUP and events[0] & pyselect.POLLIN
    assert conn.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ERROR) == errno.ECONNRESET
    with pytest.raises(FileNotFoundError):
        p.modify(99, pyselect.POLLIN)


def test_select_on_a_socket_that_is_not_open_raises_ebadf(net):
    s = net.sa.socket()
    s.close()
    with pytest.raises(OSError) as e:
        net.sa.select([s], [], [], 0)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        net.sa.select([40], [], [], 0)
    assert e.value.errno == errno.EBADF


def test_close_from_another_thread_wakes_every_blocked_call(net):
    client, conn, srv = pair(net)  # nobody sends on this connection
    writer, unread, srv2 = pair(net, PORT + 1)  # and nobody reads this one
    blocked = {
        "recv": Worker(lambda: conn.recv(10)),
        "accept": Worker(srv.accept),
        "select": Worker(lambda: net.sb.select([conn], [], [], 30)),
    }
    p = net.sb.poll()
    p.register(srv, pyselect.POLLIN)
    blocked["poll"] = Worker(lambda: p.poll(30000))
    fill(net.sa, writer)  # fill the pipe, then block a sender on it
    blocked["send"] = Worker(lambda: writer.sendall(b"y" * 65536))
    udp = net.sb.socket(type=pysocket.SOCK_DGRAM)
    blocked["udp recv"] = Worker(lambda: udp.recv(10))
    for sock in (conn, srv, writer, udp):  # every call sleeps on its condition
        wait_until(lambda sock=sock: blocked_in(sock))
    wait_until(lambda: blocked_in_select(net.sb, 2))  # select and poll
    assert all(w.is_alive() for w in blocked.values())
    fd_srv = srv.fileno()
    for sock in (conn, srv, writer, udp):
        sock.close()
    for name, worker in blocked.items():
        if name == "poll":
            assert worker.result() == [(fd_srv, pyselect.POLLNVAL)]
            continue
        with pytest.raises(OSError) as e:
            worker.result()
        assert e.value.errno == errno.EBADF, name
    for sock in (client, unread, srv2):
        sock.close()
    assert net.sa.sockets() == [] and net.sb.sockets() == []
    assert net.lb.call(lambda: len(net.b.udp.pcbs)) == 0


def run_close(net, srv, linger, payload):
    """Connect, send ``payload``, close with ``linger``; the server reads.  (what the server read, its error)."""
    c = net.sa.create_connection(("10.0.0.2", PORT))
    s, _ = srv.accept()
    if linger is not None:
        c.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, LINGER.pack(1, linger))
    c.sendall(payload)
    c.close()
    got, err = bytearray(), None
    try:
        while chunk := s.recv(65536):
            got += chunk
    except ConnectionResetError as e:
        err = e
    s.close()
    return bytes(got), err


@pytest.mark.slow
@pytest.mark.parametrize("linger", [None, 1, 0], ids=["linger-off", "linger-on", "linger-on-timeout-0"])
def test_close_state_machines_a_thousand_times(make_net, linger):
    net = make_net(so_linger=True)  # ESP-IDF builds these socket options only when asked
    srv = net.sb.socket()
    srv.bind(("", PORT))
    srv.listen()
    payload = os.urandom(3000)
    for _ in range(1000):
        got, err = run_close(net, srv, linger, payload)
        if linger == 0:
            assert err is not None and len(got) <= len(payload)  # reset: what had arrived, then ECONNRESET
        else:
            assert err is None and got == payload  # FIN after all of it
    srv.close()
    assert net.sa.sockets() == [] and net.sb.sockets() == []
    cfg = net.a.config
    for stack, loop in ((net.a, net.la), (net.b, net.lb)):
        def settled(stack=stack, loop=loop):  # only TIME_WAIT is left, no more than the pcb table holds (recycled)
            states = loop.call(lambda: [p.state_name for p in stack.tcp.conns.values()])
            return len(states) <= cfg.max_active_tcp and set(states) <= {"TIME_WAIT"}
        wait_until(settled)


def test_lingering_close_waits_for_the_ack_and_resets_when_the_time_runs_out(make_net):
    net = make_net(so_linger=True)  # ESP-IDF builds these socket options only when asked
    client, conn, _ = pair(net)
    client.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, LINGER.pack(1, 1))
    fill(net.sa, client)  # nobody reads: data stays unacknowledged
    t0 = time.monotonic()
    client.close()
    assert 0.9 < time.monotonic() - t0 < 1 + LATE  # it waited its second, then reset
    with pytest.raises(ConnectionResetError):
        while conn.recv(1 << 16):
            pass
    wait_until(lambda: net.la.call(lambda: len(net.a.tcp.conns)) == 0)  # reset: nothing left, no TIME_WAIT


@pytest.mark.slow
def test_threads_mixing_send_recv_select_and_close_leave_the_core_intact(net, caplog):
    """8 threads on shared sockets; LWIPY_STRESS_SECONDS (default 3) sets how long."""
    seconds = float(os.environ.get("LWIPY_STRESS_SECONDS", "3"))
    srv = net.sb.socket()
    srv.bind(("", PORT))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = time.monotonic() + seconds
    shared: dict[str, object] = {}
    made: list = []  # every socket, to be closed in the end (the threads drop them when they make new ones)
    lock = threading.Lock()
    errors: list[BaseException] = []
    counts = {"sent": 0, "received": 0, "closed": 0}

    def server():
        while time.monotonic() < stop:
            try:
                s, _ = srv.accept()
            except OSError:
                continue
            with lock:
                shared["server"] = (net.sb, s)
                made.append(s)

    def connector():
        while time.monotonic() < stop:
            try:
                c = net.sa.create_connection(("10.0.0.2", PORT), timeout=1)
            except OSError:
                continue
            with lock:
                shared["client"] = (net.sa, c)
                made.append(c)
            time.sleep(0.02)

    def pick():
        with lock:
            return list(shared.values())

    def sender():
        while time.monotonic() < stop:
            for _, s in pick():
                try:
                    s.setblocking(False)
                    counts["sent"] += s.send(b"p" * 3000)
                except OSError:
                    pass

    def receiver():
        while time.monotonic() < stop:
            for _, s in pick():
                try:
                    counts["received"] += len(s.recv(4096, pysocket.MSG_DONTWAIT))
                except OSError:
                    pass

    def selector():
        while time.monotonic() < stop:
            for api, s in pick() or [(None, None)]:
                try:
                    if api is None:
                        time.sleep(0.005)
                    else:
                        api.select([s], [s], [s], 0.01)
                except OSError:
                    pass

    def closer():
        while time.monotonic() < stop:
            time.sleep(0.03)
            for _, s in pick():
                s.close()
                counts["closed"] += 1

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # anything but OSError escaping a socket call is a bug
                errors.append(e)
        return run

    caplog.set_level(logging.ERROR, logger="lwipy")
    workers = [threading.Thread(target=guarded(fn), name=fn.__name__) for fn in
               (server, connector, sender, sender, receiver, receiver, selector, closer)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 20)
    assert [w.name for w in workers if w.is_alive()] == [], "threads hung"
    assert errors == []
    assert counts["sent"] and counts["closed"]
    for s in made:
        s.close()
    srv.close()
    assert [r for r in caplog.records if r.name == "lwipy"] == []  # nothing raised on the core threads
    assert net.sa.sockets() == [] and net.sb.sockets() == []
    assert net.la.running and net.lb.running
    for stack, loop in ((net.a, net.la), (net.b, net.lb)):
        def closing(stack=stack, loop=loop):  # every connection is closing or gone: none was leaked open
            pcbs = loop.call(lambda: list(stack.tcp.conns.values()))
            return all(p.state_name in ("TIME_WAIT", "FIN_WAIT_2", "LAST_ACK", "CLOSING") for p in pcbs)
        wait_until(closing)
        assert loop.call(lambda stack=stack: len(stack.tcp.listeners)) == 0
