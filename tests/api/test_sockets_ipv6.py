"""AF_INET6 datagram sockets: IPv6 addresses as Python shows them (4-tuples), IPv4 peers as ::ffff:a.b.c.d on a
dual-stack socket, IPV6_V6ONLY, the IPv6 multicast options, and the errors of the wrong family."""

import errno
import socket as pysocket
import struct

import pytest
from apihelpers import GENEROUS, wait_until

AF6, DGRAM = pysocket.AF_INET6, pysocket.SOCK_DGRAM


@pytest.fixture
def net6(make_net):
    net = make_net(ipv6_dup_detect_attempts=0)  # addresses usable at once (DAD is tested in tests/core)
    for stack, loop, host in ((net.a, net.la, 1), (net.b, net.lb, 2)):
        netif = loop.call(lambda stack=stack: next(n for n in stack.netifs if not n.is_loopback))
        loop.call(lambda netif=netif, host=host: (netif.create_ip6_linklocal(),
                                                  netif.add_ip6_address(f"2001:db8::{host}", 64)))
        wait_until(lambda netif=netif: all(a.state == "preferred" for a in netif.ip6_addrs))
    return net


def test_ipv6_datagrams_with_4_tuple_addresses(net6):
    rx = net6.sb.socket(AF6, DGRAM)
    rx.bind(("::", 5000))
    assert rx.getsockname() == ("::", 5000, 0, 0)
    tx = net6.sa.socket(AF6, DGRAM)
    tx.sendto(b"hello six", ("2001:db8::2", 5000))
    data, addr = rx.recvfrom(100)
    assert data == b"hello six" and addr == ("2001:db8::1", tx.getsockname()[1], 0, 0)
    rx.sendto(b"back", addr)
    assert tx.recv(100) == b"back"
    tx.connect(("2001:db8::2", 5000, 0, 0))
    assert tx.getpeername() == ("2001:db8::2", 5000, 0, 0)


def test_a_dual_stack_socket_shows_ipv4_peers_as_mapped_addresses_unless_v6only(net6):
    dual = net6.sb.socket(AF6, DGRAM)
    dual.bind(("", 5001))
    v4 = net6.sa.socket(pysocket.AF_INET, DGRAM)
    v4.sendto(b"from ipv4", ("10.0.0.2", 5001))
    data, addr = dual.recvfrom(100)
    assert data == b"from ipv4" and addr == ("::ffff:10.0.0.1", v4.getsockname()[1], 0, 0)
    dual.sendto(b"to ipv4 through a mapped address", addr)
    assert v4.recv(100) == b"to ipv4 through a mapped address"
    only = net6.sb.socket(AF6, DGRAM)
    only.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 1)
    assert only.getsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY) == 1
    only.bind(("::", 5002))
    with pytest.raises(OSError) as e:
        only.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 0)
    assert e.value.errno == errno.EINVAL  # set before bind
    v4.sendto(b"nobody", ("10.0.0.2", 5002))
    v4.sendto(b"after it", ("10.0.0.2", 5001))  # b takes frames in order: once this arrives, "nobody" was handled
    assert dual.recv(100) == b"after it"
    only.setblocking(False)
    with pytest.raises(BlockingIOError):
        only.recv(100)
    with pytest.raises(OSError) as e:
        only.sendto(b"x", ("::ffff:10.0.0.1", 9))
    assert e.value.errno == errno.ENETUNREACH


def test_ipv6_multicast_options(net6):
    group = "ff02::abcd"
    rx = net6.sb.socket(AF6, DGRAM)
    rx.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    rx.bind(("::", 6000))
    index = net6.lb.call(lambda: next(n for n in net6.b.netifs if not n.is_loopback).index)
    mreq = pysocket.inet_pton(AF6, group) + struct.pack("@I", index)
    rx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_JOIN_GROUP, mreq)
    tx = net6.sa.socket(AF6, DGRAM)
    tx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_MULTICAST_HOPS, 1)
    tx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_MULTICAST_LOOP, 0)
    tx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_UNICAST_HOPS, 17)
    assert tx.getsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_MULTICAST_HOPS) == 1
    assert tx.getsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_UNICAST_HOPS) == 17
    tx.sendto(b"to the group", (group, 6000))
    data, addr = rx.recvfrom(100)
    assert data == b"to the group" and addr[0].startswith("fe80::") and addr[3] == index  # link-local: scope id
    rx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_LEAVE_GROUP, mreq)
    with pytest.raises(OSError) as e:
        rx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_JOIN_GROUP, b"\0" * 8)
    assert e.value.errno == errno.EINVAL


def test_family_errors(net6):
    s6 = net6.sa.socket(AF6, DGRAM)
    with pytest.raises(pysocket.gaierror):
        s6.sendto(b"x", ("10.0.0.2", 9))  # an IPv4 literal on an AF_INET6 socket
    with pytest.raises(TypeError):
        s6.sendto(b"x", ("2001:db8::2",))
    with pytest.raises(OSError) as e:
        s6.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, b"\0" * 8)
    assert e.value.errno == errno.ENOPROTOOPT
    s4 = net6.sa.socket(pysocket.AF_INET, DGRAM)
    with pytest.raises(OSError) as e:
        s4.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 1)
    assert e.value.errno == errno.ENOPROTOOPT
    with pytest.raises(pysocket.gaierror):
        s4.sendto(b"x", ("2001:db8::2", 9))
    with pytest.raises(OSError) as e:
        net6.sa.socket(AF6, pysocket.SOCK_SEQPACKET)
    assert e.value.errno == errno.EINVAL


def test_getaddrinfo_gives_ipv6_results_for_ipv6_literals_and_af_inet6(net6):
    api = net6.sa
    [info] = api.getaddrinfo("2001:db8::2", 53, type=DGRAM)
    assert info[0] == AF6 and info[4] == ("2001:db8::2", 53, 0, 0)
    assert api.getaddrinfo(None, 80, AF6, DGRAM, flags=pysocket.AI_PASSIVE)[0][4] == ("::", 80, 0, 0)
    assert api.getaddrinfo("localhost", 80, AF6, DGRAM)[0][4] == ("::1", 80, 0, 0)
    with pytest.raises(pysocket.gaierror):
        api.getaddrinfo("10.0.0.1", 80, AF6)


def test_tcp_over_ipv6_sockets_and_a_dual_stack_listener(net6):
    import hashlib
    import os
    from apihelpers import Worker
    srv = net6.sb.socket(AF6, pysocket.SOCK_STREAM)
    srv.bind(("::", 8080))
    srv.listen()
    assert srv.getsockname() == ("::", 8080, 0, 0)
    accepting = Worker(srv.accept)
    c = net6.sa.socket(AF6, pysocket.SOCK_STREAM)
    c.connect(("2001:db8::2", 8080))
    conn, peer = accepting.result()
    assert peer == ("2001:db8::1", c.getsockname()[1], 0, 0) and c.getpeername() == ("2001:db8::2", 8080, 0, 0)
    data = os.urandom(300_000)
    sender = Worker(lambda: (c.sendall(data), c.shutdown(pysocket.SHUT_WR)))
    got = bytearray()
    while chunk := conn.recv(65536):
        got += chunk
    sender.result()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    accepting = Worker(srv.accept)
    c4 = net6.sa.create_connection(("10.0.0.2", 8080))  # IPv4 to the dual-stack listener
    conn4, peer4 = accepting.result()
    assert peer4 == ("::ffff:10.0.0.1", c4.getsockname()[1], 0, 0)
    only = net6.sb.socket(AF6, pysocket.SOCK_STREAM)
    only.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 1)
    only.bind(("::", 8081))
    only.listen()
    with pytest.raises(ConnectionRefusedError):
        net6.sa.create_connection(("10.0.0.2", 8081))


def test_raw_icmpv6_sockets_get_their_checksum_from_the_stack(net6):
    raw = net6.sa.socket(AF6, pysocket.SOCK_RAW, pysocket.IPPROTO_ICMPV6)
    assert raw.getsockopt(pysocket.IPPROTO_IPV6, net6.sa.IPV6_CHECKSUM) == 2  # RFC 3542 3.1: always, for ICMPv6
    with pytest.raises(OSError) as e:
        raw.setsockopt(pysocket.IPPROTO_IPV6, net6.sa.IPV6_CHECKSUM, -1)
    assert e.value.errno == errno.EINVAL
    request = struct.pack("!BBHHH", 128, 0, 0, 0x4242, 1) + b"raw ping"  # checksum left 0: the stack fills it
    raw.sendto(request, ("2001:db8::2", 0))
    raw.settimeout(GENEROUS)
    while True:  # the socket sees every ICMPv6 message: skip neighbour discovery and the like
        data, addr = raw.recvfrom(1500)
        if data[0] == 129:
            break
    assert data[4:] == request[4:] and addr == ("2001:db8::2", 0, 0, 0)  # the IPv6 header is not included


def test_raw_ipv6_sockets_for_another_protocol_with_ipv6_checksum(net6):
    rx = net6.sb.socket(AF6, pysocket.SOCK_RAW, 253)
    tx = net6.sa.socket(AF6, pysocket.SOCK_RAW, 253)
    for s in (rx, tx):
        s.setsockopt(pysocket.IPPROTO_IPV6, net6.sa.IPV6_CHECKSUM, 0)
    assert tx.getsockopt(pysocket.IPPROTO_IPV6, net6.sa.IPV6_CHECKSUM) == 0
    errors = net6.b.stats.icmp6.xmit
    tx.sendto(b"\0\0experimental", ("2001:db8::2", 0))
    rx.settimeout(GENEROUS)
    data, addr = rx.recvfrom(100)
    assert data[2:] == b"experimental" and data[:2] != b"\0\0" and addr[0] == "2001:db8::1"
    assert net6.b.stats.icmp6.xmit == errors  # a raw socket took it: no parameter problem for next header 253
    with pytest.raises(OSError) as e:
        tx.setsockopt(pysocket.IPPROTO_IPV6, net6.sa.IPV6_CHECKSUM, 3)
    assert e.value.errno == errno.EINVAL  # odd offsets are refused


def test_ipv6_recvpktinfo_tells_the_destination_and_netif(net6):
    rx = net6.sb.socket(AF6, DGRAM)
    rx.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_RECVPKTINFO, 1)
    assert rx.getsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_RECVPKTINFO) == 1
    rx.bind(("::", 5300))
    tx = net6.sa.socket(AF6, DGRAM)
    tx.sendto(b"where to?", ("2001:db8::2", 5300))
    data, anc, flags, addr = rx.recvmsg(100, pysocket.CMSG_SPACE(20))
    [(level, kind, info)] = anc
    index = net6.lb.call(lambda: next(n for n in net6.b.netifs if not n.is_loopback).index)
    assert (level, kind) == (pysocket.IPPROTO_IPV6, pysocket.IPV6_PKTINFO)
    assert pysocket.inet_ntop(AF6, info[:16]) == "2001:db8::2" and struct.unpack("@I", info[16:])[0] == index
    tx.sendto(b"again", ("2001:db8::2", 5300))
    _, anc, flags, _ = rx.recvmsg(100, 16)
    assert anc == [] and flags & pysocket.MSG_CTRUNC
    v4 = net6.sa.socket(pysocket.AF_INET, DGRAM)
    v4.sendto(b"from ipv4", ("10.0.0.2", 5300))
    _, anc, _, _ = rx.recvmsg(100, pysocket.CMSG_SPACE(20))
    assert pysocket.inet_ntop(AF6, anc[0][2][:16]) == "::ffff:10.0.0.2"  # an IPv4 destination, mapped


def test_ipv6_add_and_drop_membership_are_the_join_and_leave_group_options(net6):
    """lwIP's sockets.h and ESP-IDF's guide name them IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP."""
    api = net6.sb
    assert (api.IPV6_ADD_MEMBERSHIP, api.IPV6_DROP_MEMBERSHIP) == (pysocket.IPV6_JOIN_GROUP,
                                                                  pysocket.IPV6_LEAVE_GROUP)
    rx = api.socket(AF6, DGRAM)
    rx.bind(("::", 6001))
    netif = net6.lb.call(lambda: next(n for n in net6.b.netifs if not n.is_loopback))
    group = pysocket.inet_pton(AF6, "ff02::beef")
    mreq = group + struct.pack("@I", netif.index)
    rx.setsockopt(pysocket.IPPROTO_IPV6, api.IPV6_ADD_MEMBERSHIP, mreq)
    assert net6.lb.call(lambda: net6.b.mld6.is_member(netif, group))
    tx = net6.sa.socket(AF6, DGRAM)
    tx.sendto(b"joined", ("ff02::beef", 6001))
    assert rx.recv(100) == b"joined"
    rx.setsockopt(pysocket.IPPROTO_IPV6, api.IPV6_DROP_MEMBERSHIP, mreq)
    assert not net6.lb.call(lambda: net6.b.mld6.is_member(netif, group))
