"""TCP over IPv6 in the shared tables: two stacks in virtual time, transfers with loss, dual-stack listeners,
V6ONLY, RST for a closed port, and the checksum over the IPv6 pseudo-header."""

from __future__ import annotations

import hashlib
import ipaddress
import os

import pytest
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from lwipy import Config, LwipError
from lwipy.sim import Simulation

from helpers import send_all, serve_collect


def pair(faults=None, **options):
    sim = Simulation(seed=6)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False, **options)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", ip6="2001:db8::1/64", faults=faults)
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", ip6="2001:db8::2/64")
    sim.run(3.0)
    return sim, hub, a, b


def test_a_transfer_over_ipv6_with_loss_is_intact():
    sim, hub, a, b = pair(faults=dict(loss=0.02, reorder=0.02, duplicate=0.01),
                          tcp_wnd_default=65535, tcp_snd_buf_default=65535)
    lst, got, conns = serve_collect(b, 5000)
    data = os.urandom(2_000_000)
    pcb = a.tcp.connect("2001:db8::2", 5000)
    assert pcb.v6 and pcb.local_ip == ipaddress.IPv6Address("2001:db8::1") and pcb.mss == 1440
    send_all(sim, pcb, data)
    assert sim.run_until(lambda: len(got) == len(data) and not a.tcp.conns.get(pcb.key), 600)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert conns[0].remote_ip == ipaddress.IPv6Address("2001:db8::1") and conns[0].v6


def test_a_dual_stack_listener_takes_ipv4_unless_v6only():
    sim, hub, a, b = pair()
    lst, got, conns = serve_collect(b, 6000)
    c4 = a.tcp.connect("10.0.0.2", 6000)
    send_all(sim, c4, b"over ipv4")
    sim.run(1.0)
    assert bytes(got) == b"over ipv4" and not conns[0].v6 and conns[0].remote_ip == ipaddress.IPv4Address("10.0.0.1")
    lst2, got2, _ = serve_collect(b, 6001, v6only=True)
    c = a.tcp.connect("10.0.0.2", 6001)
    sim.run(1.0)
    assert c.state_name == "CLOSED" and c.error  # refused: nobody takes IPv4 there
    with pytest.raises(LwipError):
        b.tcp.listen(6000, "0.0.0.0")  # :: (dual) already takes IPv4 on 6000
    b.tcp.listen(6001, "0.0.0.0")  # V6ONLY left IPv4's side free
    mapped = a.tcp.connect("::ffff:10.0.0.2", 6000)
    assert not mapped.v6 and mapped.remote_ip == ipaddress.IPv4Address("10.0.0.2")


def test_a_closed_ipv6_port_answers_rst_and_bad_checksums_are_dropped():
    sim, hub, a, b = pair()
    c = a.tcp.connect("2001:db8::2", 7777)
    sim.run(1.0)
    assert c.state_name == "CLOSED" and c.error  # ECONNREFUSED from the RST
    netif = b.netifs[-1]
    mac = ":".join(f"{x:02x}" for x in netif.hwaddr)
    syn = Ether(dst=mac) / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=7777, flags="S")
    frame = bytearray(bytes(syn))
    frame[14 + 40 + 16] ^= 0xFF  # break the checksum
    before = b.stats.tcp.chkerr
    b.input(netif, bytes(frame), sim.now)
    assert b.stats.tcp.chkerr == before + 1


def test_a_segment_of_an_ipv6_connection_is_found_without_address_objects(monkeypatch):
    """s20: ``Tcp.input6`` finds a connection by ``conn_key``'s integers made from the addresses' bytes; the
    ``IPv6Address`` objects (two a segment, 2 µs) are made only for a listener's or a reset's way.  The transfer is
    the same, and a SYN to a closed port is still answered."""
    import lwipy.core.tcp.tcp as tcp_module

    sim, hub, a, b = pair()
    lst, got, conns = serve_collect(b, 5001)
    pcb = a.tcp.connect("2001:db8::2", 5001)
    sim.run(1.0)
    assert conns and conns[0].state_name == "ESTABLISHED"
    made = []
    monkeypatch.setattr(tcp_module, "IPv6Address", lambda packed: made.append(packed) or ipaddress.IPv6Address(packed))
    for _ in range(4):  # (each fits the send buffer: 5,760 bytes at ESP-IDF's defaults)
        assert pcb.send(b"x" * 5000) == 5000
        assert sim.run_until(lambda: not pcb.snd_buf, 60)
    assert bytes(got) == b"x" * 20_000 and made == []
    closed = a.tcp.connect("2001:db8::2", 5002)  # no listener: RST, by the reset's way (objects made there)
    sim.run(1.0)
    assert closed.state_name == "CLOSED" and made
