"""lwIP's errnos at the pool limits (issue 16): socket() takes its pcb at once and fails with ENOBUFS when none is
free (lwip_socket), a multicast join beyond the group table fails with EADDRNOTAVAIL (lwip_setsockopt)."""

from __future__ import annotations

import errno
import socket as pysocket
import struct

import pytest


def raises_errno(code, fn):
    with pytest.raises(OSError) as e:
        fn()
    assert e.value.errno == code, e.value
    return e.value


@pytest.mark.parametrize("kind, limit", [(pysocket.SOCK_DGRAM, "max_udp_pcbs"), (pysocket.SOCK_RAW, "max_raw_pcbs")])
def test_socket_beyond_the_pcb_pool_is_enobufs(make_net, kind, limit):
    net = make_net(**{limit: 2})
    proto = pysocket.IPPROTO_ICMP if kind == pysocket.SOCK_RAW else 0
    first, second = net.sa.socket(pysocket.AF_INET, kind, proto), net.sa.socket(pysocket.AF_INET, kind, proto)
    raises_errno(errno.ENOBUFS, lambda: net.sa.socket(pysocket.AF_INET, kind, proto))
    first.close()
    third = net.sa.socket(pysocket.AF_INET, kind, proto)  # the pcb came back
    for s in (second, third):
        s.close()


def test_a_tcp_socket_takes_its_pcb_at_socket_and_gives_it_back_at_listen_or_close(make_net):
    net = make_net(max_active_tcp=2)
    a1, a2 = net.sa.socket(), net.sa.socket()
    assert net.la.call(lambda: net.a.tcp.pcbs_held) == 2
    raises_errno(errno.ENOBUFS, net.sa.socket)  # lwIP's tcp_new found no pcb: socket() fails, not connect()
    a1.close()
    assert net.la.call(lambda: net.a.tcp.pcbs_held) == 1
    a3 = net.sa.socket()
    a3.bind(("", 6000))
    a3.listen(1)  # tcp_listen gives the pcb back for a listening one
    assert net.la.call(lambda: net.a.tcp.pcbs_held) == 1
    a4 = net.sa.socket()
    srv = net.sb.socket()
    srv.bind(("", 7000))
    srv.listen(4)
    a2.connect(("10.0.0.2", 7000))  # the held pcb becomes the connection: still two in use
    assert net.la.call(lambda: (net.a.tcp.pcbs_held, len(net.a.tcp.conns))) == (1, 1)
    raises_errno(errno.ENOBUFS, net.sa.socket)
    for s in (a2, a3, a4, srv):
        s.close()


def mreq(group: str) -> bytes:
    return struct.pack("4s4s", pysocket.inet_aton(group), pysocket.inet_aton("10.0.0.1"))


def test_joining_beyond_the_group_table_is_eaddrnotavail(make_net):
    net = make_net(max_igmp_groups=4)
    netif = net.a.netifs[-1]
    joined = net.la.call(lambda: len(net.a.igmp.groups.get(netif.index, {})))  # 224.0.0.1, when IGMP has it
    assert joined <= 2
    s = net.sa.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    for i in range(4 - joined - 2):
        s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq(f"239.2.2.{i + 1}"))
    s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq("239.1.1.1"))
    s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq("239.1.1.2"))
    raises_errno(errno.EADDRNOTAVAIL,
                 lambda: s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq("239.1.1.3")))
    s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_DROP_MEMBERSHIP, mreq("239.1.1.1"))
    s.setsockopt(pysocket.IPPROTO_IP, pysocket.IP_ADD_MEMBERSHIP, mreq("239.1.1.3"))  # room again
    s.close()
