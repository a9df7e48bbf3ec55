"""A driver's bounded transmit queue (ESP-IDF's Wi-Fi/Ethernet TX buffers): a UDP sender flooding it gets ENOMEM
(lwIP's ERR_MEM through err_to_errno), as ESP-IDF's lwIP guide describes under Limitations, and recovers as soon as
the queue drains.  The stacks' clocks are virtual: the queue drains only when the test moves time."""

import errno
import socket as pysocket

import pytest

from lwipy import Config, Stack
from lwipy.api import SocketApi, StackLoop
from lwipy.errors import LwipError
from lwipy.netif import VirtualHub
from lwipy.sim import Simulation

LIMIT = 16
RATE = 1024 * 1024  # bit/s: a 128-byte frame takes 1/1024 s, exact in binary floating point
PAYLOAD = 128 - 14 - 20 - 8  # one 128-byte frame per datagram
FRAME_TIME = 128 * 8 / RATE
T0 = 1 / 64  # when the flood starts (the queue is empty by then)


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bounded():
    clock = VirtualClock()
    hub = VirtualHub()
    a = Stack(Config(), seed=1, name="a")
    b = Stack(Config(udp_recvmbox_size=64), seed=2, name="b")
    port = hub.port("a", tx_queue=LIMIT, tx_rate=RATE)
    a.add_netif(port, ip="10.0.0.1/24")
    nb = b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a, clock=clock).start(), StackLoop(b, clock=clock).start()
    la.call(lambda: a.etharp.add_static("10.0.0.2", ":".join(f"{x:02x}" for x in nb.hwaddr)))  # no ARP exchange
    clock.now = T0
    la.call(lambda: port.poll(clock.now))  # the gratuitous ARP of the new address goes
    assert len(port.tx_ring) == 0
    sa, sb = SocketApi(la), SocketApi(lb)
    yield clock, port, la, sa, sb
    for api in (sa, sb):
        api.close_all()
    for loop in (la, lb):
        loop.stop()
        loop.close()


def flood(tx, seq, tries):
    """Send numbered datagrams until ENOMEM ``tries`` times in a row... or forever: (sent, refusals)."""
    sent = 0
    while True:
        try:
            tx.sendto(seq[0].to_bytes(4, "big") + bytes(PAYLOAD - 4), ("10.0.0.2", 5000))
        except OSError as e:
            assert e.errno == errno.ENOMEM  # lwIP's ERR_MEM -> ENOMEM (err_to_errno)
            return sent
        seq[0] += 1
        sent += 1
        assert sent <= tries


def test_a_udp_flood_gets_enomem_when_the_driver_queue_is_full_and_recovers_as_it_drains(bounded):
    clock, port, la, sa, sb = bounded
    rx = sb.socket(type=pysocket.SOCK_DGRAM)
    rx.bind(("", 5000))
    tx = sa.socket(type=pysocket.SOCK_DGRAM)
    seq = [0]
    assert flood(tx, seq, 1000) == LIMIT  # exactly the queue's frames, then ENOMEM
    for _ in range(3):  # and ENOMEM while nothing drains
        assert flood(tx, seq, 0) == 0
    assert port.tx_ring.refused == 4 and len(port.tx_ring) == LIMIT

    def drain_to(t):
        clock.now = T0 + t
        la.call(lambda: port.poll(clock.now))

    drain_to(3 * FRAME_TIME)  # three frames went out
    assert len(port.tx_ring) == LIMIT - 3
    assert flood(tx, seq, 1000) == 3  # exactly three more fit
    drain_to(3 * FRAME_TIME + FRAME_TIME / 2)  # half a frame later: nothing left yet
    assert flood(tx, seq, 0) == 0
    drain_to((LIMIT + 3) * FRAME_TIME)  # everything sent
    assert len(port.tx_ring) == 0 and port.tx_ring.peak == LIMIT
    got = [int.from_bytes(rx.recv(PAYLOAD)[:4], "big") for _ in range(LIMIT + 3)]
    assert got == list(range(LIMIT + 3))  # every datagram accepted was delivered, in order; none was lost
    assert flood(tx, seq, 1000) == LIMIT  # the whole queue is free again


def test_the_simulation_drives_a_bounded_hub_port_on_virtual_time():
    sim = Simulation(seed=3)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24", port=dict(tx_queue=4, tx_rate=RATE))
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    got = []
    rx = b.udp.new()
    rx.bind(None, 5000)
    rx.on_recv = lambda pcb, dgram: got.append(dgram)
    a.etharp.add_static("10.0.0.2", ":".join(f"{x:02x}" for x in b.netifs[-1].hwaddr))
    sim.run(T0)  # the gratuitous ARPs go
    tx = a.udp.new()
    sent = 0
    with pytest.raises(LwipError) as e:
        while True:
            tx.sendto(bytes(PAYLOAD), "10.0.0.2", 5000)
            sent += 1
    assert sent == 4 and e.value.errno == errno.ENOMEM
    sim.run(4 * FRAME_TIME)
    assert len(got) == 4
    tx.sendto(bytes(PAYLOAD), "10.0.0.2", 5000)  # room again
