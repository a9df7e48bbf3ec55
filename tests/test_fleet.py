"""A fleet in one process (Simulation.fleet): 200 stacks each take a lease from one DHCP server, in virtual time and
in real time; on the fleet's access-point segment each station's DHCP costs a bounded number of frames."""

from ipaddress import IPv4Address

from lwipy.sim import Simulation


def test_200_stacks_each_take_a_lease_from_one_server_in_virtual_time():
    sim = Simulation(seed=1)
    fleet = sim.fleet(200)
    assert sim.run_until(fleet.all_bound, timeout=60)
    assert sim.now == 1.0  # DISCOVER, OFFER, REQUEST, ACK at once, then lwIP's ARP check of 1 s
    addresses = fleet.addresses()
    assert len(set(addresses)) == 200
    assert set(addresses) == {IPv4Address("10.0.0.1") + i for i in range(1, 201)}
    clients = fleet.dhcp_server.clients()
    assert len(clients) == 200 and {c.hostname for c in clients} == {f"node{i}" for i in range(200)}
    for stack, address in zip(fleet.stacks, addresses, strict=True):
        assert stack.netifs[-1].ip4.ip == address and str(stack.netifs[-1].gateway) == "10.0.0.1"
    # client isolation and DHCP broadcast-to-unicast: a station hears its own OFFER and ACK only
    assert max(s.stats.link.recv for s in fleet.stacks) <= 4
    # and the fleet answers: the server pings the last station
    from lwipy.apps import PingSession
    ping = PingSession(fleet.server, str(addresses[-1]), count=2, interval=0.1)
    assert sim.run_until(lambda: ping.done, 10) and ping.received == 2


def test_a_fleet_on_a_plain_hub_gets_its_leases_too():
    sim = Simulation(seed=2)
    fleet = sim.fleet(30, sim.hub())
    assert sim.run_until(fleet.all_bound, timeout=60)
    assert len(set(fleet.addresses())) == 30
    assert min(s.stats.link.recv for s in fleet.stacks) >= 29  # every station hears every DISCOVER


def test_a_fleet_in_real_time():
    sim = Simulation(seed=3, realtime=True)
    fleet = sim.fleet(50)
    assert sim.run_until(fleet.all_bound, timeout=30)
    assert 1.0 <= sim.now < 30  # the ARP check waits a real second
    assert len(set(fleet.addresses())) == 50


def test_a_fleet_powered_up_over_a_while():
    sim = Simulation(seed=4)
    fleet = sim.fleet(100, start_within=10.0)
    sim.run(0.5)
    assert 0 < sum(c.started for c in fleet.clients) < 100  # some started, not all yet
    assert sim.run_until(fleet.all_bound, timeout=30)
    assert 10.0 < sim.now <= 11.0  # the last one started within 10 s and bound 1 s later
    assert len(set(fleet.addresses())) == 100
