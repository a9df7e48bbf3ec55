"""Netconn over UDP and RAW: NetBufs with their addresses, mailbox bounds, errors, timeouts, close from a thread."""

import errno
import threading
from ipaddress import IPv4Address

import pytest
from apihelpers import GENEROUS, Worker, blocked_in, wait_until

from lwipy import LwipError
from lwipy.api import NETCONN_EVT_ERROR, NETCONN_RAW, NETCONN_UDP, NETCONN_UDPNOCHKSUM, NetBuf, Netconn
from lwipy.apps import PingSession
from lwipy.errors import LwipTimeout

A, B = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")


def udp(loop, port=0, kind=NETCONN_UDP):
    conn = Netconn(loop, kind)
    conn.bind(None, port)
    return conn


def test_udp_netbuf_carries_the_payload_as_a_view_and_both_addresses(net):
    rx, tx = udp(net.lb, 7000), udp(net.la, 7001)
    tx.sendto(b"hello", "10.0.0.2", 7000)
    buf = rx.recv()
    assert isinstance(buf, NetBuf) and isinstance(buf.data, memoryview) and buf.data.readonly
    assert bytes(buf) == b"hello" and len(buf) == 5
    assert (buf.fromaddr, buf.fromport, buf.destaddr) == (A, 7001, B)
    assert buf.if_idx == net.lb.call(lambda: net.b.netif_by_name("en0").index)
    tx.sendto(b"to all", "10.0.0.255", 7000)
    assert rx.recv().destaddr == IPv4Address("10.0.0.255")  # NETBUF_RECVINFO: where it was sent
    rx.connect("10.0.0.1", 7001)
    rx.send(b"back")
    reply = tx.recv()
    assert bytes(reply.data) == b"back" and (reply.fromaddr, reply.fromport) == (B, 7000)
    assert rx.getaddr(local=False) == (A, 7001) and tx.getaddr() == (IPv4Address(0), 7001)
    rx.disconnect()
    with pytest.raises(LwipError) as e:
        rx.getaddr(local=False)
    assert e.value.errno == errno.ENOTCONN


def test_a_full_udp_mailbox_drops_and_counts(net):
    rx, tx = udp(net.lb, 7000), udp(net.la)
    tx.sendto(b"resolve", "10.0.0.2", 7000)  # ARP first: only arp_queue_len datagrams wait for an answer
    assert bytes(rx.recv()) == b"resolve"
    for i in range(10):
        tx.sendto(bytes([i]) * 100, "10.0.0.2", 7000)
    wait_until(lambda: net.lb.call(lambda: net.b.stats.udp.recv) >= 11)
    size = net.b.config.udp_recvmbox_size
    assert rx.recv_avail == 100 * size
    assert net.lb.call(lambda: net.b.stats.udp.drop) == 10 - size
    assert [rx.recv().data[0] for _ in range(size)] == list(range(size))  # the first ones, in order
    rx.nonblocking = True
    with pytest.raises(LwipError) as e:
        rx.recv()
    assert e.value.errno == errno.EWOULDBLOCK


def test_udp_recv_timeout(net):
    rx = udp(net.lb, 7000)
    rx.recv_timeout = 0.05
    with pytest.raises(LwipTimeout) as e:
        rx.recv()
    assert e.value.errno == errno.EWOULDBLOCK


def test_port_unreachable_reaches_a_connected_udp_netconn_once(net):
    errors = threading.Event()
    tx = Netconn(net.la, NETCONN_UDP, callback=lambda c, evt, n: evt == NETCONN_EVT_ERROR and errors.set())
    tx.connect("10.0.0.2", 7999)  # nobody there
    tx.send(b"anyone?")
    assert errors.wait(GENEROUS)
    assert tx.err == errno.ECONNREFUSED
    with pytest.raises(LwipError) as e:
        tx.recv()
    assert e.value.errno == errno.ECONNREFUSED
    assert tx.err == 0  # reported once


def test_udpnochksum_sends_checksum_zero(net):
    frames = []
    net.hub.taps.append(lambda port, frame: frames.append(bytes(frame)))
    rx, tx = udp(net.lb, 7000), udp(net.la, 7001, kind=NETCONN_UDPNOCHKSUM)
    tx.sendto(b"no checksum", "10.0.0.2", 7000)
    assert bytes(rx.recv()) == b"no checksum"
    sent = [f for f in frames if f[23] == 17 and f[34:36] == (7001).to_bytes(2, "big")]
    assert sent and sent[0][40:42] == b"\0\0"


def test_close_from_another_thread_wakes_a_blocked_udp_recv(net):
    rx = udp(net.lb, 7000)
    reading = Worker(rx.recv)
    wait_until(lambda: blocked_in(rx))
    rx.close()
    with pytest.raises(LwipError) as e:
        reading.result()
    assert e.value.errno == errno.ENOTCONN
    with pytest.raises(LwipError) as e:
        rx.recv()
    assert e.value.errno == errno.EBADF
    assert net.lb.call(lambda: len(net.b.udp.pcbs)) == 0  # the pcb is freed
    again = udp(net.lb, 7000)  # and the port with it
    again.delete()


def test_raw_netconns_exchange_packets_with_the_ip_header(net):
    ra, rb = Netconn(net.la, NETCONN_RAW, proto=253), Netconn(net.lb, NETCONN_RAW, proto=253)
    ra.sendto(b"raw payload", "10.0.0.2")
    buf = rb.recv()
    assert bytes(buf.data[20:]) == b"raw payload" and buf.data[9] == 253  # the IPv4 header comes with it
    assert (buf.fromaddr, buf.fromport, buf.destaddr) == (A, 253, B)  # lwIP fills the "port" with the protocol
    assert rb.getaddr() == (IPv4Address(0), 253)
    rb.connect("10.0.0.1")
    rb.send(b"reply")
    assert bytes(ra.recv().data[20:]) == b"reply"
    ra.delete()
    rb.delete()


def test_a_raw_icmp_netconn_sees_a_copy_and_the_stack_still_answers(net):
    spy = Netconn(net.lb, NETCONN_RAW, proto=1)
    done = threading.Event()
    ping = net.la.call(lambda: PingSession(net.a, "10.0.0.2", count=1, on_end=lambda s: done.set()))
    assert done.wait(5) and net.la.call(lambda: ping.received) == 1
    seen = spy.recv()
    assert seen.data[20] == 8 and seen.fromaddr == A  # the echo request, ICMP type 8
    spy.delete()


def test_netconn_new_fails_like_lwip(make_net):
    net = make_net(max_udp_pcbs=1)
    first = udp(net.la)
    with pytest.raises(LwipError) as e:
        Netconn(net.la, NETCONN_UDP)  # no pcb left
    assert e.value.errno == errno.ENOMEM
    with pytest.raises(LwipError) as e:
        Netconn(net.la, 0x70)
    assert e.value.errno == errno.EINVAL
    first.delete()
    Netconn(net.la, NETCONN_UDP).delete()  # the pcb came back
