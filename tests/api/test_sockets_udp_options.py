"""BSD sockets over UDP and RAW, socket options, address handling and bad use."""

import errno
import socket as pysocket
import struct

import pytest
from apihelpers import wait_until

from lwipy.wire.ethernet import EthernetHeader
from lwipy.wire.ipv4 import Ipv4Header

DGRAM = pysocket.SOCK_DGRAM


def udp_pair(net, port=6000):
    rx = net.sb.socket(type=DGRAM)
    rx.bind(("", port))
    tx = net.sa.socket(type=DGRAM)
    return tx, rx


def frames_to(net, port):
    """Sniff the hub: the UDP/IPv4 headers of frames to ``port``."""
    seen = []

    def tap(sender, frame):
        eth, payload = EthernetHeader.parse(frame)
        if eth.ethertype != 0x0800:
            return
        ip, body = Ipv4Header.parse(payload)
        if ip.proto == 17 and struct.unpack_from("!H", body, 2)[0] == port:
            seen.append((ip, bytes(body[:8])))
    net.hub.taps.append(tap)
    return seen


def test_udp_sendto_recvfrom_and_truncation(net):
    tx, rx = udp_pair(net)
    tx.sendto(b"hello lwipy", ("10.0.0.2", 6000))
    data, addr = rx.recvfrom(100)
    assert data == b"hello lwipy" and addr == ("10.0.0.1", tx.getsockname()[1])
    tx.sendto(b"0123456789", 0, ("10.0.0.2", 6000))
    assert rx.recv(4, pysocket.MSG_PEEK) == b"0123"
    data, anc, flags, addr = rx.recvmsg(4)
    assert data == b"0123" and flags & pysocket.MSG_TRUNC  # the rest of the datagram is gone
    tx.sendto(b"next", ("10.0.0.2", 6000))
    buf = bytearray(16)
    n, addr = rx.recvfrom_into(buf)
    assert buf[:n] == b"next"
    rx.setblocking(False)
    with pytest.raises(BlockingIOError):
        rx.recv(10)


def test_sendto_the_same_address_again_goes_there_and_a_bad_one_still_fails(net):
    """udp18: sendto keeps the last address it parsed; the next datagram to an equal address goes to the same place,
    another address is parsed anew, and one Python's sockets refuse is refused even when equal to the last."""
    tx, rx = udp_pair(net)
    rx2 = net.sb.socket(type=DGRAM)
    rx2.bind(("", 6001))
    tx.sendto(b"zero", ("10.0.0.2", 6000))
    assert rx.recv(10) == b"zero"  # (the peer's MAC learned: the datagrams below wait for no ARP reply)
    for data, port in ((b"one", 6000), (b"one", 6000), (b"two", 6001), (b"two", 6001), (b"three", 6000)):
        tx.sendto(data, ("10.0.0.2", port))
    assert [rx.recv(10) for _ in range(3)] == [b"one", b"one", b"three"]
    assert [rx2.recv(10) for _ in range(2)] == [b"two", b"two"]
    tx.sendto(b"x", ("10.0.0.2", 1))
    with pytest.raises(TypeError):
        tx.sendto(b"x", ("10.0.0.2", True))  # equal to the last address, but no port (as Python's socket)
    with pytest.raises(pysocket.gaierror):
        tx.sendto(b"x", ("no.such.name", 6000))


def test_a_socket_receives_its_datagrams_through_udps_short_way_in(net):
    """udp19: a socket's datagrams (netconn's on_recv) come the short way in (Udp.fast_input), the counters as the
    full way keeps them."""
    tx, rx = udp_pair(net)
    tx.sendto(b"zero", ("10.0.0.2", 6000))
    assert rx.recv(10) == b"zero"
    before = net.lb.call(lambda: (net.b.udp.fast_taken, net.b.stats.udp.recv))
    for data in (b"one", b"two", b"three"):
        tx.sendto(data, ("10.0.0.2", 6000))
    assert [rx.recvfrom(10) for _ in range(3)] == [(d, ("10.0.0.1", tx.getsockname()[1]))
                                                  for d in (b"one", b"two", b"three")]
    after = net.lb.call(lambda: (net.b.udp.fast_taken, net.b.stats.udp.recv))
    assert after[0] - before[0] == 3 and after[1] - before[1] == 3


def test_udp_connect_send_and_port_unreachable(net):
    tx, rx = udp_pair(net)
    with pytest.raises(OSError) as e:
        tx.send(b"nowhere")
    assert e.value.errno == errno.EDESTADDRREQ
    tx.connect(("10.0.0.2", 6000))
    assert tx.getpeername() == ("10.0.0.2", 6000)
    assert tx.send(b"connected") == 9
    assert rx.recv(100) == b"connected"
    tx.connect(("10.0.0.2", 6001))  # nobody there: ICMP port unreachable
    tx.send(b"x")
    wait_until(lambda: net.sa.select([], [], [tx], 0)[2])
    assert tx.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_ERROR) == errno.ECONNREFUSED
    assert net.sa.select([], [], [tx], 0)[2] == []


def test_ip_pktinfo_reports_the_destination_and_netif(make_net):
    net = make_net(netbuf_recvinfo=True)  # ESP-IDF builds these socket options only when asked
    tx, rx = udp_pair(net)
    rx.setsockopt(pysocket.IPPROTO_IP, net.sa.IP_PKTINFO, 1)
    assert rx.getsockopt(pysocket.IPPROTO_IP, net.sa.IP_PKTINFO) == 1
    tx.sendto(b"where", ("10.0.0.2", 6000))
    data, anc, flags, _ = rx.recvmsg(100, pysocket.CMSG_SPACE(12))
    assert data == b"where" and flags == 0
    [(level, kind, info)] = anc
    ifindex, spec_dst, addr = struct.unpack("=I4s4s", info)
    netif = net.lb.call(lambda: net.b.netif_by_index(ifindex))
    assert (level, kind) == (pysocket.IPPROTO_IP, net.sa.IP_PKTINFO)
    assert pysocket.inet_ntoa(addr) == "10.0.0.2" and netif.name != "lo"
    tx.sendto(b"small", ("10.0.0.2", 6000))
    _, anc, flags, _ = rx.recvmsg(100, 8)  # no room for the control message
    assert anc == [] and flags & pysocket.MSG_CTRUNC


def test_broadcast_and_so_broadcast_option(net):
    tx, rx = udp_pair(net)
    tx.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_BROADCAST, 1)
    assert tx.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_BROADCAST) == 1
    tx.sendto(b"all of you", ("<broadcast>", 6000))
    assert rx.recvfrom(100) == (b"all of you", ("10.0.0.1", tx.getsockname()[1]))


def test_multicast_options_join_send_leave(net):
    group = "239.1.2.3"
    rx = net.sb.socket(type=DGRAM)
    rx.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    rx.bind(("", 6100))
    mreq = pysocket.inet_aton(group) + pysocket.inet_aton("10.0.0.2")
    rx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq)
    assert net.lb.call(lambda: [str(g) for _, g in rx.netconn.pcb.memberships]) == [group]
    tx = net.sa.socket(type=DGRAM)
    tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_TTL, 5)
    tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_LOOP, b"\x00")
    tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_IF, pysocket.inet_aton("10.0.0.1"))
    assert tx.getsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_TTL) == 5
    assert tx.getsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_LOOP) == 0
    assert tx.getsockopt(pysocket.IPPROTO_IP, pysocket.IP_MULTICAST_IF, 4) == pysocket.inet_aton("10.0.0.1")
    seen = frames_to(net, 6100)
    tx.sendto(b"to the group", (group, 6100))
    assert rx.recv(100) == b"to the group"
    assert seen[0][0].ttl == 5
    rx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_DROP_MEMBERSHIP, mreq)
    assert net.lb.call(lambda: rx.netconn.pcb.memberships) == []
    with pytest.raises(OSError) as e:
        rx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, b"\x00" * 4)  # too short for ip_mreq
    assert e.value.errno == errno.EINVAL


def test_ttl_tos_and_no_check_reach_the_wire(net):
    tx, rx = udp_pair(net)
    tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_TTL, 17)
    tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_TOS, 0xB8)
    tx.setsockopt(pysocket.SOL_SOCKET, net.sa.SO_NO_CHECK, 1)
    seen = frames_to(net, 6000)
    tx.sendto(b"marked", ("10.0.0.2", 6000))
    assert rx.recv(100) == b"marked"
    ip, udp = seen[0]
    assert (ip.ttl, ip.tos) == (17, 0xB8) and udp[6:8] == b"\0\0"
    assert tx.getsockopt(pysocket.IPPROTO_IP, pysocket.IP_TTL) == 17
    with pytest.raises(OSError) as e:
        tx.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_TTL, 0)
    assert e.value.errno == errno.EINVAL


def test_so_rcvbuf_bounds_the_bytes_queued_on_a_udp_socket(make_net):
    net = make_net(so_rcvbuf=True)  # ESP-IDF builds these socket options only when asked
    tx, rx = udp_pair(net)
    rx.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 250)
    assert rx.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF) == 250
    tx.sendto(b"warm", ("10.0.0.2", 6000))  # ARP first: four datagrams would overrun its queue of unresolved ones
    assert rx.recv(200) == b"warm"
    drops = net.b.stats.udp.drop
    for i in range(4):
        tx.sendto(bytes([i]) * 100, ("10.0.0.2", 6000))
    wait_until(lambda: net.b.stats.udp.drop - drops == 2)
    rx.setblocking(False)
    assert [rx.recv(200)[0] for _ in range(2)] == [0, 1]
    with pytest.raises(BlockingIOError):
        rx.recv(200)


def test_raw_socket_sends_and_sees_the_ip_header(net):
    rx = net.sb.socket(pysocket.AF_INET, pysocket.SOCK_RAW, 253)
    tx = net.sa.socket(pysocket.AF_INET, pysocket.SOCK_RAW, 253)
    tx.sendto(b"experimental", ("10.0.0.2", 0))
    packet, addr = rx.recvfrom(1500)
    ip, body = Ipv4Header.parse(packet)
    assert ip.proto == 253 and bytes(body) == b"experimental" and addr == ("10.0.0.1", 0)


def test_tcp_options_reach_the_pcb_set_before_connect_and_inherited_on_accept(net):
    srv = net.sb.socket()
    srv.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 1)
    srv.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE, 30)
    srv.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
    srv.bind(("", 7000))
    srv.listen()
    c = net.sa.socket()
    c.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
    c.setsockopt(pysocket.IPPROTO_TCP, net.sa.TCP_KEEPALIVE, 2500)  # lwIP's: milliseconds
    c.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPINTVL, 3)
    c.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPCNT, 4)
    c.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_TTL, 33)
    c.connect(("10.0.0.2", 7000))
    s, _ = srv.accept()
    pcb = net.la.call(lambda: c.netconn.pcb)
    assert (pcb.nodelay, pcb.keep_idle, pcb.keep_intvl, pcb.keep_cnt, pcb.ttl) == (True, 2.5, 3.0, 4, 33)
    assert c.getsockopt(pysocket.IPPROTO_TCP, net.sa.TCP_KEEPALIVE) == 2500
    assert c.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE) == 2  # whole seconds, as Linux reports
    spcb = net.lb.call(lambda: s.netconn.pcb)
    assert spcb.keepalive and spcb.keep_idle == 30.0 and not spcb.nodelay  # SOF_INHERITED, not TF_NODELAY
    assert s.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE) == 1
    s.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 0)
    assert not net.lb.call(lambda: s.netconn.pcb.keepalive)


def test_option_errors_are_lwips(make_net):
    net = make_net(so_linger=True, netbuf_recvinfo=True)  # ESP-IDF builds these socket options only when asked
    udp = net.sa.socket(type=DGRAM)
    tcp = net.sa.socket()

    def err(fn):
        with pytest.raises(OSError) as e:
            fn()
        return e.value.errno

    assert err(lambda: udp.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.setsockopt(pysocket.IPPROTO_IP, net.sa.IP_PKTINFO, 1)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_SNDBUF, 4096)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_MAXSEG)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.getsockopt(999, 1)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_TYPE, 1)) == errno.ENOPROTOOPT
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, 1)) == errno.EINVAL  # not a linger
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, b"\1")) == errno.EINVAL
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVTIMEO, b"\0" * 8)) == errno.EINVAL
    assert err(lambda: tcp.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 2)) == errno.EINVAL
    assert err(lambda: tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, None, 4)) == errno.EFAULT
    with pytest.raises(TypeError):
        tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, "yes")
    assert tcp.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_TYPE) == pysocket.SOCK_STREAM
    assert udp.getsockopt(0xFFF, pysocket.SO_TYPE) == pysocket.SOCK_DGRAM  # lwIP's own SOL_SOCKET value
    tcp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, struct.pack("ii", 1, 7))
    assert struct.unpack("ii", tcp.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, 8)) == (1, 7)
    assert tcp.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 4) == b"\0\0\0\0"


def test_bad_use_gives_the_errno_a_python_user_expects(net):
    api = net.sa

    def err(fn):
        with pytest.raises(OSError) as e:
            fn()
        return e.value.errno

    assert err(lambda: api.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW)) == errno.EAFNOSUPPORT
    assert err(lambda: api.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)) == errno.EAFNOSUPPORT
    assert err(lambda: api.socket(pysocket.AF_INET, pysocket.SOCK_STREAM, pysocket.IPPROTO_UDP)) == \
        errno.EPROTONOSUPPORT
    assert err(lambda: api.socket(pysocket.AF_INET, 99)) == errno.EINVAL
    s = api.socket()
    with pytest.raises(TypeError):
        s.connect("10.0.0.2:80")
    with pytest.raises(TypeError):
        s.connect(("10.0.0.2", 80, 0, 0))
    with pytest.raises(TypeError):
        s.connect(("10.0.0.2", "80"))
    with pytest.raises(OverflowError):
        s.connect(("10.0.0.2", 70000))
    with pytest.raises(pysocket.gaierror) as g:
        s.connect(("example.com", 80))
    assert g.value.errno == pysocket.EAI_NONAME
    with pytest.raises(pysocket.gaierror):
        s.connect(("::1", 80))
    assert err(lambda: s.send(b"x")) == errno.ENOTCONN
    assert err(lambda: s.recv(1)) == errno.ENOTCONN
    assert err(lambda: s.shutdown(pysocket.SHUT_WR)) == errno.ENOTCONN
    assert err(lambda: s.bind(("10.9.9.9", 0))) == errno.EADDRNOTAVAIL
    s.bind(("", 8000))
    assert err(lambda: s.bind(("", 8001))) == errno.EINVAL  # bound already
    other = api.socket()
    assert err(lambda: other.bind(("10.0.0.1", 8000))) == errno.EADDRINUSE
    s.listen()
    assert err(lambda: s.send(b"x")) == errno.ENOTCONN
    assert err(lambda: s.connect(("10.0.0.2", 80))) == errno.EISCONN
    udp = api.socket(type=DGRAM)
    assert err(lambda: udp.listen()) == errno.EOPNOTSUPP
    assert err(lambda: udp.accept()) == errno.EOPNOTSUPP
    assert err(lambda: udp.shutdown(pysocket.SHUT_RDWR)) == errno.EOPNOTSUPP
    assert err(lambda: udp.sendto(b"x" * 70000, ("10.0.0.2", 9))) == errno.EMSGSIZE
    assert err(lambda: udp.sendto(b"x", ("192.168.77.1", 9))) == errno.EHOSTUNREACH
    udp.close()
    for fn in (lambda: udp.recv(1), lambda: udp.sendto(b"x", ("10.0.0.2", 9)), udp.getsockname,
               lambda: udp.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)):
        assert err(fn) == errno.EBADF
    udp.close()  # twice is harmless


def test_getaddrinfo_and_gethostbyname_resolve_numbers_and_fail_clearly_otherwise(net):
    api = net.sa
    infos = api.getaddrinfo("10.0.0.2", 80)
    assert [(i[0], i[1], i[2], i[4]) for i in infos] == [
        (pysocket.AF_INET, pysocket.SOCK_STREAM, pysocket.IPPROTO_TCP, ("10.0.0.2", 80)),
        (pysocket.AF_INET, pysocket.SOCK_DGRAM, pysocket.IPPROTO_UDP, ("10.0.0.2", 80)),
        (pysocket.AF_INET, pysocket.SOCK_RAW, 0, ("10.0.0.2", 80))]
    assert api.getaddrinfo(None, "8080", type=pysocket.SOCK_STREAM, flags=pysocket.AI_PASSIVE)[0][4] == \
        ("0.0.0.0", 8080)
    assert api.getaddrinfo("localhost", None, proto=pysocket.IPPROTO_UDP)[0][4] == ("127.0.0.1", 0)
    assert api.gethostbyname("10.1.2.3") == "10.1.2.3"
    for call in (lambda: api.getaddrinfo("example.com", 80), lambda: api.gethostbyname("example.com"),
                 lambda: api.getaddrinfo("10.0.0.2", 80, pysocket.AF_INET6),
                 lambda: api.getaddrinfo("10.0.0.2", "no-such-service")):
        with pytest.raises(pysocket.gaierror):
            call()
    assert api.AF_INET == pysocket.AF_INET and api.timeout is TimeoutError and api.error is OSError
    assert api.inet_aton("1.2.3.4") == b"\1\2\3\4"
    with pytest.raises(AttributeError):
        api.no_such_thing  # noqa: B018


def test_a_netif_that_is_down_gives_enetdown_and_no_route_ehostunreach(net):
    netif = net.la.call(lambda: next(n for n in net.a.netifs if not n.is_loopback))
    udp = net.sa.socket(type=DGRAM)
    tcp = net.sa.socket()
    net.la.call(lambda: netif.set_up(False))
    try:
        with pytest.raises(OSError) as e:
            udp.sendto(b"x", ("10.0.0.2", 9))
        assert e.value.errno == errno.ENETDOWN
        with pytest.raises(OSError) as e:
            tcp.connect(("10.0.0.2", 9))
        assert e.value.errno == errno.ENETDOWN
    finally:
        net.la.call(lambda: netif.set_up(True))
    udp.sendto(b"x", ("10.0.0.2", 9))
    with pytest.raises(OSError) as e:
        udp.sendto(b"x", ("192.0.2.5", 9))  # no route at all (TEST-NET-1, nothing is sent): lwIP's ERR_RTE
    assert e.value.errno == errno.EHOSTUNREACH


@pytest.mark.parametrize("option, level, name, value", [
    ("so_linger", pysocket.SOL_SOCKET, pysocket.SO_LINGER, struct.pack("ii", 1, 0)),
    ("so_rcvbuf", pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096),
    ("netbuf_recvinfo", pysocket.IPPROTO_IP, 8, 1),  # IP_PKTINFO
    ("so_reuse", pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1),
])
def test_socket_options_gated_by_their_kconfig_switch(make_net, option, level, name, value):
    """CONFIG_LWIP_SO_LINGER, SO_RCVBUF, NETBUF_RECVINFO (off in ESP-IDF) and SO_REUSE (on): an option lwIP is built
    without is ENOPROTOOPT from setsockopt and getsockopt; switched on, it is served."""
    off = make_net(**{option: False})
    on = make_net(**{option: True})
    for n, works in ((off, False), (on, True)):
        sock = n.sa.socket(type=DGRAM)
        if works:
            sock.setsockopt(level, name, value)
            assert sock.getsockopt(level, name, 8 if name == pysocket.SO_LINGER else None) is not None
        else:
            with pytest.raises(OSError) as e:
                sock.setsockopt(level, name, value)
            assert e.value.errno == errno.ENOPROTOOPT
            with pytest.raises(OSError) as e:
                sock.getsockopt(level, name)
            assert e.value.errno == errno.ENOPROTOOPT
    from lwipy import Config
    assert (Config().so_linger, Config().so_rcvbuf, Config().netbuf_recvinfo, Config().so_reuse) == \
        (False, False, False, True)  # ESP-IDF's defaults
