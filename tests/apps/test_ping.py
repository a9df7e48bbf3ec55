"""Ping sessions (esp_ping semantics) with exact virtual-time deadlines."""

from lwipy.apps import PingSession
from lwipy.sim import Simulation


def net(**faults):
    sim = Simulation(seed=9)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24", faults=faults or None)
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    return sim, a, b


def test_replies_sequence_and_callbacks_in_order():
    sim, a, b = net(delay=0.002)
    events = []
    s = PingSession(a, "10.0.0.2", count=3, interval=0.5, size=100,
                    on_reply=lambda r: events.append(("reply", r.seq, round(r.rtt, 6), r.size, r.ttl)),
                    on_end=lambda s: events.append(("end", s.sent, s.received)))
    assert sim.run_until(lambda: s.done, 5)
    # the fault wrapper delays frames 2 ms each way at a.  The first ping waits for ARP: b's gratuitous ARP (sent at
    # t=0, in at a at 2 ms) resolves a's pending entry, as lwIP updates existing entries from any ARP packet; so 6 ms.
    assert events == [("reply", 1, 0.006, 100, 64), ("reply", 2, 0.004, 100, 64), ("reply", 3, 0.004, 100, 64),
                      ("end", 3, 3)]
    assert "3 packets transmitted, 3 received, 0% packet loss" in s.summary()
    assert a.raw.pcbs == [] and s not in a._pollers  # the session cleans up after itself


def test_timeouts_fire_exactly_after_timeout_and_session_ends():
    sim = Simulation(seed=9)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    timeouts = []
    s = PingSession(a, "10.0.0.99", count=2, interval=1.0, timeout=0.7,
                    on_timeout=lambda seq: timeouts.append((seq, sim.now)))
    assert sim.run_until(lambda: s.done, 10)
    assert timeouts == [(1, 0.7), (2, 1.7)]
    assert s.received == 0 and "100% packet loss" in s.summary()


def test_no_route_counts_as_timeout_with_the_errno():
    sim = Simulation(seed=9)
    a = sim.add_stack("a", sim.hub(), ip="10.0.0.1/24")
    s = PingSession(a, "192.0.2.1", count=1)
    assert sim.run_until(lambda: s.done, 5)
    assert s.errors == [113] and s.timeouts == [1]


def test_stop_ends_an_endless_session():
    sim, a, b = net()
    s = PingSession(a, "10.0.0.2", count=0, interval=0.1)
    sim.run(1.0)
    assert not s.done and s.received >= 9
    s.stop()
    assert sim.run_until(lambda: s.done, 5)


def test_unrelated_echo_replies_are_left_for_others():
    sim, a, b = net()
    s1 = PingSession(a, "10.0.0.2", count=2, interval=0.2)
    s2 = PingSession(a, "10.0.0.2", count=2, interval=0.2)
    assert sim.run_until(lambda: s1.done and s2.done, 5)
    assert s1.received == 2 and s2.received == 2 and s1.ident != s2.ident
