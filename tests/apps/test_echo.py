from lwipy.apps import UdpEchoServer
from lwipy.sim import Simulation


def test_udp_echo_returns_each_datagram_to_its_sender():
    sim = Simulation(seed=1)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    server = UdpEchoServer(b, 7)
    clients = []
    for i in range(3):
        pcb = a.udp.new()
        pcb.bind(None, 40000 + i)
        pcb.sendto(f"msg {i}".encode(), "10.0.0.2", 7)
        clients.append(pcb)
    sim.run(0.1)
    assert [[(d.data, str(d.src), d.src_port) for d in c.queue] for c in clients] == [
        [(b"msg 0", "10.0.0.2", 7)], [(b"msg 1", "10.0.0.2", 7)], [(b"msg 2", "10.0.0.2", 7)]]
    assert server.echoed == 3
    server.close()
    assert b.udp.pcbs == []
