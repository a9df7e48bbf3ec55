"""Socket-layer fidelity to ESP-IDF's lwIP: options in any order (keepalive as ESP-IDF's tcp_server example sets it),
lwip_fcntl's access modes, the lwip_-prefixed functions and read/write/readv/writev as ESP-IDF's guide lists them."""

import errno
import os
import socket as pysocket

import pytest
from apihelpers import Worker

from lwipy import Config, Stack
from lwipy.api import SocketApi, StackLoop
from lwipy.api.sockfuncs import LWIP_FUNCTIONS
from lwipy.netif import VirtualHub

PORT = 3333  # ESP-IDF's tcp_server example's port


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vnet():
    """Stacks a and b on core threads whose clock is virtual: time moves only when the test moves it."""
    clock = VirtualClock()
    hub = VirtualHub()
    a, b = Stack(Config(), seed=1, name="a"), Stack(Config(), seed=2, name="b")
    a.add_netif(hub.port("a"), ip="10.0.0.1/24")
    b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a, clock=clock).start(), StackLoop(b, clock=clock).start()
    sa, sb = SocketApi(la), SocketApi(lb)
    yield clock, la, lb, sa, sb
    for api in (sa, sb):
        api.close_all()
    for loop in (la, lb):
        loop.stop()
        loop.close()


def test_keepalive_set_in_esp_idf_order_detects_a_silent_peer_within_idle_plus_interval_times_count(vnet):
    clock, la, lb, sa, sb = vnet
    srv = sb.socket()
    srv.bind(("", PORT))
    srv.listen(1)
    accepting = Worker(srv.accept)
    client = sa.create_connection(("10.0.0.2", PORT))
    sock, _ = accepting.result()
    # examples/protocols/sockets/tcp_server/main/tcp_server.c: on the accepted socket, in this order
    keep_idle, keep_intvl, keep_cnt = 5, 5, 3
    sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 1)
    sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE, keep_idle)
    sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPINTVL, keep_intvl)
    sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPCNT, keep_cnt)
    la.stop()  # the client falls silent: its stack answers nothing more (no RST, no ACK)
    sent_before = lb.call(lambda: lb.stack.stats.tcp.xmit)
    step, dead_at, probes = 0.25, None, 0
    while clock.now < 60:
        clock.now += step
        gone = lb.call(lambda: lb.stack.poll(clock.now) or sock.netconn.pcb is None)
        if gone:
            dead_at = clock.now
            break
    probes = lb.call(lambda: lb.stack.stats.tcp.xmit) - sent_before
    limit = keep_idle + keep_intvl * keep_cnt
    assert dead_at is not None and limit <= dead_at <= limit + step  # lwIP: reset after idle + intvl x cnt
    assert probes >= keep_cnt  # the probes, then the reset
    with pytest.raises(OSError) as e:
        sock.recv(10)
    assert e.value.errno == errno.ECONNABORTED  # tcp_slowtmr's give-up is ERR_ABRT, as on the ESP32
    client.close()


def test_keep_values_changed_while_armed_rearm_the_timer_at_the_core(vnet):
    """The pcb too: a changed keep_idle moves the armed deadline (lwIP reads it at each slow tick)."""
    clock, la, lb, sa, sb = vnet
    srv = sb.socket()
    srv.bind(("", PORT))
    srv.listen(1)
    accepting = Worker(srv.accept)
    client = sa.create_connection(("10.0.0.2", PORT))
    sock, _ = accepting.result()
    sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 1)
    pcb = lb.call(lambda: sock.netconn.pcb)
    assert lb.call(lambda: pcb.keep_at - pcb.last_activity) == pytest.approx(7200)  # ESP-IDF's TCP_KEEPIDLE
    sock.setsockopt(pysocket.IPPROTO_TCP, sb.TCP_KEEPALIVE, 1500)  # lwIP's ms
    assert lb.call(lambda: pcb.keep_at - pcb.last_activity) == pytest.approx(1.5)
    client.close()


def tcp_pair(sa, sb, port=PORT):
    srv = sb.socket()
    srv.bind(("", port))
    srv.listen()
    accepting = Worker(srv.accept)
    client = sa.create_connection(("10.0.0.2", port))
    conn, _ = accepting.result()
    return client, conn, srv


def test_fcntl_getfl_gives_lwips_access_mode(net):
    """lwip_fcntl: O_RDONLY unless TF_RXCLOSED, O_WRONLY unless TF_FIN, O_RDWR for both; with the O_* values of
    ESP-IDF's newlib (Linux's: O_RDONLY is 0) a receive side shut alone still reads O_RDWR."""
    api = net.sa
    fresh = api.socket()
    assert api.fcntl(fresh, api.F_GETFL) == os.O_RDWR  # tcp_new made its pcb: no flags
    listening = net.sb.socket()
    listening.bind(("", 4000))
    listening.listen()
    assert net.sb.fcntl(listening, api.F_GETFL) == os.O_RDWR
    listening.setblocking(False)
    assert net.sb.fcntl(listening, api.F_GETFL) == os.O_RDWR | os.O_NONBLOCK
    client, conn, _ = tcp_pair(net.sa, net.sb, 4001)
    assert api.fcntl(client, api.F_GETFL) == os.O_RDWR
    client.shutdown(pysocket.SHUT_WR)  # TF_FIN
    assert api.fcntl(client, api.F_GETFL) == os.O_RDONLY
    assert conn.recv(10) == b""  # reading the FIN shuts the receive side (netconn_recv_data_tcp)
    assert net.sb.fcntl(conn, api.F_GETFL) == os.O_RDWR  # O_RDONLY (0) | O_WRONLY == O_WRONLY: lwIP says O_RDWR
    other, conn2, _ = tcp_pair(net.sa, net.sb, 4002)
    other.shutdown(pysocket.SHUT_RD)
    assert api.fcntl(other, api.F_GETFL) == os.O_RDWR  # the same rule: TF_RXCLOSED alone
    other.shutdown(pysocket.SHUT_WR)  # both ways: the netconn lets its pcb go
    assert api.fcntl(other, api.F_GETFL) == 0
    udp = api.socket(type=pysocket.SOCK_DGRAM)
    assert api.fcntl(udp, api.F_GETFL) == os.O_RDWR  # UDP always
    client.close()
    with pytest.raises(OSError) as e:
        api.fcntl(client, api.F_GETFL)
    assert e.value.errno == errno.EBADF


def test_fcntl_after_a_reset_has_no_pcb(make_net):
    net = make_net(so_linger=True)  # CONFIG_LWIP_SO_LINGER, for the reset
    api = net.sa
    client, conn, _ = tcp_pair(net.sa, net.sb, 4003)
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    conn.close()  # RST
    with pytest.raises(OSError) as e:
        client.recv(10)
    assert e.value.errno == errno.ECONNRESET
    assert api.fcntl(client, api.F_GETFL) == os.O_RDONLY  # conn->pcb.tcp is NULL: no mode bit (O_RDONLY is 0)


def test_lwip_prefixed_functions_and_read_write_readv_writev(net):
    api, peer = net.sa, net.sb
    for name in LWIP_FUNCTIONS:
        assert callable(getattr(api, "lwip_" + name)), name
    s = peer.lwip_socket(pysocket.AF_INET, pysocket.SOCK_STREAM, 0)
    assert isinstance(s, int) and peer.lookup(s).fileno() == s
    peer.lwip_setsockopt(s, pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    assert peer.lwip_getsockopt(s, pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR) == 1
    peer.lwip_bind(s, ("0.0.0.0", 4010))
    peer.lwip_listen(s, 2)
    accepting = Worker(lambda: peer.lwip_accept(s))
    c = api.lwip_socket(pysocket.AF_INET, pysocket.SOCK_STREAM, 0)
    api.lwip_connect(c, ("10.0.0.2", 4010))
    fd, address = accepting.result()
    assert isinstance(fd, int) and address == api.lwip_getsockname(c)
    assert peer.lwip_getpeername(fd) == address
    assert api.write(c, b"hello ") == 6
    assert api.writev(c, [b"vectored ", bytearray(b"world")]) == 14
    assert api.lwip_write(c, b"!") == 1
    got = b""
    while len(got) < 6:
        got += peer.read(fd, 6 - len(got))
    assert got == b"hello "
    first, second = bytearray(9), bytearray(6)
    n = 0
    while n < 15:
        parts = [memoryview(first)[min(n, 9):], memoryview(second)[max(0, n - 9):]]
        n += peer.readv(fd, parts)
    assert (bytes(first), bytes(second)) == (b"vectored ", b"world!")
    assert peer.lwip_send(fd, b"back") == 4
    assert api.lwip_recv(c, 100) == b"back"
    assert api.lwip_fcntl(c, api.F_GETFL) == os.O_RDWR
    assert api.lwip_ioctl(c, api.FIONREAD) == 0
    r, w, _ = api.lwip_select([c], [c], [], 0)
    assert r == [] and w == [c]
    assert api.lwip_poll([(c, api.POLLOUT)], 0) == [(c, api.POLLOUT)]
    api.lwip_shutdown(c, pysocket.SHUT_WR)
    assert peer.lwip_read(fd, 10) == b""
    api.lwip_close(c)
    peer.close(fd)
    peer.lwip_close(s)
    with pytest.raises(OSError) as e:
        api.read(c, 1)
    assert e.value.errno == errno.EBADF
    u = api.lwip_socket(pysocket.AF_INET, pysocket.SOCK_DGRAM, 0)
    rx = peer.lwip_socket(pysocket.AF_INET, pysocket.SOCK_DGRAM, 0)
    peer.lwip_bind(rx, ("0.0.0.0", 4011))
    assert api.lwip_sendto(u, b"dgram", 0, ("10.0.0.2", 4011)) == 5
    assert peer.lwip_recvfrom(rx, 100)[0] == b"dgram"
    api.lwip_connect(u, ("10.0.0.2", 4011))
    assert api.writev(u, [b"one ", b"datagram"]) == 12  # one datagram
    assert peer.lwip_recvmsg(rx, 100)[0] == b"one datagram"
    assert api.lwip_inet_pton(pysocket.AF_INET, "10.0.0.2") == b"\n\0\0\2"
    assert api.lwip_inet_ntop(pysocket.AF_INET, b"\n\0\0\2") == "10.0.0.2"
    assert api.lwip_gethostbyname("10.0.0.2") == "10.0.0.2"
