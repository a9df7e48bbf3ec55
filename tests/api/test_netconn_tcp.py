"""Netconn over TCP: two stacks, each on its own core thread, on a virtual hub; application threads use netconns."""

import errno
import hashlib
import os
import threading

import pytest
from apihelpers import GENEROUS, Worker, blocked_in, wait_until

from lwipy import LwipError
from lwipy.api import (NETCONN_DONTBLOCK, NETCONN_EVT_ERROR, NETCONN_EVT_RCVMINUS, NETCONN_EVT_RCVPLUS,
                       NETCONN_EVT_SENDMINUS, NETCONN_EVT_SENDPLUS, NETCONN_NOAUTORCVD, NETCONN_TCP, Netconn)
from lwipy.api.defs import NETCONN_WRITE
from lwipy.errors import LwipTimeout

PORT = 5000


def listening(net, port=PORT, callback=None):
    srv = Netconn(net.lb, NETCONN_TCP, callback=callback)
    srv.bind(None, port)
    srv.listen()
    return srv


def connected(net, callback=None, srv=None, port=PORT):
    """(client on a, server side on b, listener on b)."""
    srv = srv or listening(net, port, callback=callback)
    accepting = Worker(srv.accept)
    client = Netconn(net.la, NETCONN_TCP, callback=callback)
    client.connect("10.0.0.2", srv.getaddr()[1])
    return client, accepting.result(), srv


def read_all(conn):
    chunks = []
    while chunk := conn.recv():
        chunks.append(chunk)
    return b"".join(chunks)


def errno_of(fn):
    with pytest.raises(LwipError) as e:
        fn()
    return e.value.errno


class Recorder:
    """An event callback that keeps (netconn, event, length) and can wait for an event."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, conn, evt, length):
        with self.cond:
            self.events.append((conn, evt, length))
            self.cond.notify_all()

    def of(self, conn):
        with self.cond:
            return [(evt, length) for c, evt, length in self.events if c is conn]

    def wait_for(self, conn, evt, timeout=GENEROUS):
        with self.cond:
            assert self.cond.wait_for(lambda: any(c is conn and e == evt for c, e, _ in self.events), timeout)


def test_bulk_transfer_both_ways_at_once(net):
    up, down = os.urandom(3 << 20), os.urandom(2 << 20)
    client, server, srv = connected(net)

    def send(conn, data):
        n = conn.write(data)
        conn.shutdown(rd=False, wr=True)
        return n

    writers = [Worker(lambda: send(client, up)), Worker(lambda: send(server, down))]
    readers = [Worker(lambda: read_all(server)), Worker(lambda: read_all(client))]
    assert [w.result() for w in writers] == [len(up), len(down)]
    got_up, got_down = (r.result() for r in readers)
    assert hashlib.sha256(got_up).digest() == hashlib.sha256(up).digest()
    assert hashlib.sha256(got_down).digest() == hashlib.sha256(down).digest()
    for conn in (client, server, srv):
        conn.delete()
    assert net.la.call(lambda: len(net.a.tcp.conns)) <= 1  # at most the TIME_WAIT one


@pytest.mark.parametrize("window", [5760, 65535])
def test_a_slow_reader_stalls_the_sender_and_holds_no_more_than_a_window(make_net, window):
    net = make_net(tcp_wnd_default=window)
    data = os.urandom(1 << 20)
    client, server, _ = connected(net)
    client.send_timeout = 0.3
    queued = client.write(data)  # nobody reads: the write ends at its timeout with part queued
    assert 0 < queued < len(data)

    def stalled():  # a write timed out queuing nothing, and all that was sent is acknowledged: nothing moves now
        nonlocal queued
        with pytest.raises(LwipTimeout):
            while True:  # the last bytes of a closing window may still trickle out
                queued += client.write(data[queued:])
        return net.la.call(lambda: client.pcb.snd_una == client.pcb.snd_max)
    wait_until(stalled)
    assert queued <= net.a.config.tcp_snd_buf_default + window  # the sender stalled: its buffer plus our window
    assert net.la.call(lambda: client.pcb.snd_wnd) < 1440  # the receiver's window is closed
    mbox, avail, held, readable, stalled = net.lb.call(
        lambda: (len(server._mbox), server.recv_avail, server.pcb.rcv_held, server.pcb.readable, server._rx_stalled))
    assert mbox <= net.b.config.tcp_recvmbox_size
    assert avail + readable <= window and held >= avail  # memory bounded by the window, all of it still unread
    if window > 6 * 1440:  # more than six segments fit the window: the mailbox filled and data waits in the pcb
        assert mbox == net.b.config.tcp_recvmbox_size and stalled and readable
    reader = Worker(lambda: read_all(server))
    client.send_timeout = None
    assert client.write(data[queued:]) == len(data) - queued
    client.shutdown(rd=False, wr=True)
    assert reader.result() == data


def test_noautorcvd_keeps_the_window_closed_until_recved(net):
    client, server, _ = connected(net)
    data = os.urandom(40000)
    writer = Worker(lambda: client.write(data))
    taken = bytearray()

    def drain():
        try:
            while True:
                taken.extend(server.recv(NETCONN_NOAUTORCVD | NETCONN_DONTBLOCK))
        except LwipError as e:
            assert e.errno == errno.EWOULDBLOCK
        return net.la.call(lambda: client.pcb.snd_wnd < 1440 and client.pcb.snd_una == client.pcb.snd_max)

    wait_until(drain)  # all we were sent is taken, nothing in flight, and the window stays shut
    assert len(taken) <= net.b.config.tcp_wnd_default and writer.is_alive()
    server.recved(len(taken))  # now it opens
    while len(taken) < len(data):
        taken.extend(server.recv())
    assert writer.result() == len(data) and bytes(taken) == data


def test_half_close_eof_once_then_enotconn(net):
    client, server, _ = connected(net)
    client.write(b"last words")
    client.shutdown(rd=False, wr=True)
    assert read_all(server) == b"last words"
    assert errno_of(server.recv) == errno.ENOTCONN  # lwIP: 0 once, then ENOTCONN
    server.write(b"still open this way")
    assert client.recv() == b"still open this way"
    assert errno_of(lambda: client.write(b"x")) == errno.ENOTCONN


def test_reset_data_first_then_the_error_twice_then_enotconn(net):
    events = Recorder()
    client, server, _ = connected(net, callback=events)
    server.write(b"unread")
    wait_until(lambda: client.recv_avail)
    client.write(b"before the reset")
    wait_until(lambda: server.recv_avail)
    client.close()  # it never read what it got: RST, as lwIP's tcp_close does
    events.wait_for(server, NETCONN_EVT_ERROR)
    assert server.recv() == b"before the reset"
    assert errno_of(server.recv) == errno.ECONNRESET  # the marker behind the data
    assert errno_of(server.recv) == errno.ECONNRESET  # then the pending error, read and cleared
    assert errno_of(server.recv) == errno.ENOTCONN
    assert server.take_err() == 0
    assert errno_of(server.close) == errno.ENOTCONN  # no pcb left to close (lwIP: ERR_CONN)
    server.delete()
    server.delete()  # harmless
    assert errno_of(server.recv) == errno.EBADF


def test_connect_refused(net):
    client = Netconn(net.la, NETCONN_TCP)
    assert errno_of(lambda: client.connect("10.0.0.2", 5999)) == errno.ECONNREFUSED
    assert errno_of(lambda: client.connect("10.0.0.2", 5999)) == errno.ENOTCONN  # the pcb is gone
    client.delete()
    assert errno_of(lambda: client.connect("10.0.0.2", 5999)) == errno.EBADF


def test_timeouts_raise_ewouldblock_and_leave_the_netconn_usable(net):
    client, server, srv = connected(net)
    server.recv_timeout = srv.recv_timeout = 0.05
    with pytest.raises(LwipTimeout) as e:
        server.recv()
    assert e.value.errno == errno.EWOULDBLOCK  # ERR_TIMEOUT, as lwIP's err_to_errno maps it
    with pytest.raises(LwipTimeout):
        srv.accept()
    client.write(b"after the timeout")
    wait_until(lambda: server.recv_avail)  # arrived: the 50 ms timeout cannot hit
    assert server.recv() == b"after the timeout"


def test_nonblocking_recv_accept_connect(net):
    events = Recorder()
    client, server, srv = connected(net)
    server.nonblocking = srv.nonblocking = True
    assert errno_of(server.recv) == errno.EWOULDBLOCK
    assert errno_of(srv.accept) == errno.EWOULDBLOCK
    late = Netconn(net.la, NETCONN_TCP, callback=events)
    late.nonblocking = True
    assert errno_of(lambda: late.connect("10.0.0.2", PORT)) == errno.EINPROGRESS
    events.wait_for(late, NETCONN_EVT_SENDPLUS)  # connected: writable
    assert errno_of(lambda: late.connect("10.0.0.2", PORT)) == errno.EISCONN
    wait_until(lambda: srv._accept_ready)
    assert isinstance(srv.accept(), Netconn)
    nowhere = Netconn(net.la, NETCONN_TCP)
    nowhere.nonblocking = True
    assert errno_of(lambda: nowhere.connect("10.0.0.9", PORT)) == errno.EINPROGRESS  # no such host: SYN waits
    assert errno_of(lambda: nowhere.connect("10.0.0.9", PORT)) == errno.EALREADY
    assert errno_of(lambda: nowhere.write(b"x")) == errno.EINPROGRESS
    nowhere.delete()


def test_nonblocking_write_fills_the_buffer_then_ewouldblock_and_sendplus_when_room(net):
    events = Recorder()
    client, server, _ = connected(net, callback=events)
    total = 0
    with pytest.raises(LwipError) as e:
        while True:
            total += client.write(bytes(4000), NETCONN_DONTBLOCK)
    assert e.value.errno == errno.EWOULDBLOCK
    assert 0 < total <= net.a.config.tcp_snd_buf_default + net.b.config.tcp_wnd_default
    assert (NETCONN_EVT_SENDMINUS in [evt for evt, _ in events.of(client)])
    got = 0
    while got < total:
        got += len(server.recv())
    events.wait_for(client, NETCONN_EVT_SENDPLUS)


def test_events_count_what_waits_in_the_mailbox(net):
    events = Recorder()
    client, server, srv = connected(net, callback=events)
    assert events.of(srv) == [(NETCONN_EVT_RCVPLUS, 0), (NETCONN_EVT_RCVMINUS, 0)]  # one connection, accepted
    client.write(b"abc")
    wait_until(lambda: server.recv_avail == 3)
    assert server.recv() == b"abc"
    rcv = [(e, n) for e, n in events.of(server) if e in (NETCONN_EVT_RCVPLUS, NETCONN_EVT_RCVMINUS)]
    assert rcv == [(NETCONN_EVT_RCVPLUS, 3), (NETCONN_EVT_RCVMINUS, 3)]
    assert (NETCONN_EVT_SENDPLUS, 0) in events.of(client)  # connected


def test_close_from_another_thread_wakes_blocked_recv_accept_write_connect(net):
    quiet, server, srv = connected(net)
    client, unread, _ = connected(net, srv=srv)
    reading = Worker(server.recv)  # its peer sends nothing
    wait_until(lambda: blocked_in(server))
    writing = Worker(lambda: client.write(bytes(1 << 20)))  # its peer reads nothing
    wait_until(lambda: client.state == NETCONN_WRITE and blocked_in(client))
    accepting = Worker(srv.accept)
    wait_until(lambda: blocked_in(srv))
    nowhere = Netconn(net.la, NETCONN_TCP)
    connecting = Worker(lambda: nowhere.connect("10.0.0.9", PORT))  # no such host
    wait_until(lambda: blocked_in(nowhere))
    server.close()
    client.close()
    srv.delete()
    nowhere.delete()
    for worker in (reading, writing, accepting, connecting):
        with pytest.raises(LwipError) as e:
            worker.result()
        assert e.value.errno == errno.ENOTCONN
    assert errno_of(server.recv) == errno.ENOTCONN
    assert errno_of(lambda: client.write(b"x")) == errno.ENOTCONN
    assert errno_of(srv.accept) == errno.EBADF
    assert quiet.recv() == b"" and errno_of(quiet.recv) == errno.ENOTCONN  # server.close() sent its peer a FIN
    # the cores carry on: a new connection works (port 5000 is taken while the old connections close)
    again, peer, _ = connected(net, port=5001)
    again.write(b"fine")
    assert peer.recv() == b"fine"


def test_listen_backlog_drops_what_does_not_fit_until_room_frees(make_net):
    net = make_net(tcp_rto_time=200)
    srv = Netconn(net.lb, NETCONN_TCP)
    srv.bind(None, PORT)
    srv.listen(backlog=1)
    first = Netconn(net.la, NETCONN_TCP)
    first.connect("10.0.0.2", PORT)  # established, waiting for accept
    wait_until(lambda: srv._accept_ready == 1)
    second = Netconn(net.la, NETCONN_TCP)
    connecting = Worker(lambda: second.connect("10.0.0.2", PORT))
    wait_until(lambda: net.b.stats.tcp.listen_drop >= 1)  # dropped silently (lwIP's tcp_listen_input), no RST
    assert connecting.is_alive()
    accepted = srv.accept()
    assert accepted.getaddr(local=False) == first.getaddr()
    connecting.result(30)  # the retransmitted SYN found room
    assert srv.accept().getaddr(local=False) == second.getaddr()


def test_misuse_errors(net):
    client, server, srv = connected(net)
    assert errno_of(lambda: srv.write(b"x")) == errno.EINPROGRESS  # lwIP: the listener's state is not NONE
    fresh = Netconn(net.lb, NETCONN_TCP)
    assert errno_of(lambda: fresh.write(b"x")) == errno.ENOTCONN
    assert errno_of(fresh.accept) == errno.EINVAL
    assert errno_of(lambda: fresh.bind(None, PORT)) == errno.EADDRINUSE
    assert errno_of(lambda: client.bind(None, 6000)) == errno.EINVAL  # connected already
    assert errno_of(lambda: client.connect("10.0.0.2", PORT)) == errno.EISCONN
    assert errno_of(lambda: srv.getaddr(local=False)) == errno.ENOTCONN
    assert client.getaddr(local=False) == (server.getaddr()[0], PORT)
    assert server.getaddr(local=False) == client.getaddr()
    assert errno_of(lambda: net.lb.call(server.recv)) == errno.EDEADLK  # blocking on the core thread


def test_a_stopping_loop_wakes_a_blocked_reader(net):
    client, server, _ = connected(net)
    reading = Worker(server.recv)
    wait_until(lambda: blocked_in(server))
    net.lb.stop()
    with pytest.raises(LwipError) as e:
        reading.result()
    assert e.value.errno == errno.ESHUTDOWN


def test_bind_reserves_the_port_until_listen_or_close(net):
    first = Netconn(net.la, NETCONN_TCP)
    first.bind(None, 0)
    ip, port = first.getaddr()
    assert port >= 0xC000  # an ephemeral port, chosen at bind (tcp_bind), not at listen
    other = Netconn(net.la, NETCONN_TCP)
    with pytest.raises(LwipError) as e:
        other.bind(None, port)
    assert e.value.errno == errno.EADDRINUSE
    first.listen()
    assert first.getaddr() == (ip, port)
    client = Netconn(net.lb, NETCONN_TCP)
    client.connect("10.0.0.1", port)  # the listener took the bound port
    server = first.accept()
    assert server.getaddr(local=False) == client.getaddr()
    client.delete()  # the peer closes first, so our side ends in LAST_ACK -> CLOSED, not TIME_WAIT
    assert server.recv() == b""
    server.delete()
    first.delete()
    wait_until(lambda: net.la.call(lambda: not net.a.tcp.conns))
    other.bind(None, port)  # free again once the listener and its connection are gone
    assert other.getaddr()[1] == port
    other.delete()
    assert net.la.call(lambda: dict(net.a.tcp._reserved)) == {}  # no reservation outlives its netconn


@pytest.mark.parametrize("name", ["ttl", "tos"])
def test_a_ttl_or_tos_that_is_no_byte_is_einval_when_set_and_kept_from_no_connection(net, name):
    """s21: the value is checked when set (EINVAL), on a netconn without a pcb yet and on a listener (whose pcb has
    no such field): never kept to fail the connect or every accept that would apply it; a right one is applied."""
    srv = listening(net)
    assert errno_of(lambda: srv.set_option(name, 300)) == errno.EINVAL
    client = Netconn(net.la, NETCONN_TCP)
    assert errno_of(lambda: client.set_option(name, -1)) == errno.EINVAL
    assert errno_of(lambda: client.set_option(name, True)) == errno.EINVAL
    client.set_option(name, 77)
    srv.set_option(name, 66)
    accepting = Worker(srv.accept)
    client.connect("10.0.0.2", srv.getaddr()[1])
    server_side = accepting.result()
    assert net.la.call(lambda: getattr(client.pcb, name)) == 77
    assert net.lb.call(lambda: getattr(server_side.pcb, name)) == 66
    client.write(b"ping")
    assert server_side.recv() == b"ping"
