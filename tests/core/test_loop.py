"""StackLoop: a stack per thread on a shared virtual hub, calls posted from other threads, clean stop."""

import threading
import time

import pytest

from lwipy import Config, Stack
from lwipy.api import StackLoop
from lwipy.apps import PingSession, UdpEchoServer
from lwipy.netif import VirtualHub


def test_two_loops_on_threads_ping_and_echo():
    hub = VirtualHub()
    a = Stack(Config(), seed=1, name="a")
    b = Stack(Config(), seed=2, name="b")
    a.add_netif(hub.port("a"), ip="10.0.0.1/24")
    b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a).start(), StackLoop(b).start()
    try:
        lb.call(lambda: UdpEchoServer(b, 7))
        done = threading.Event()
        session = la.call(lambda: PingSession(a, "10.0.0.2", count=5, interval=0.01,
                                              on_end=lambda s: done.set()))
        assert done.wait(30)
        assert la.call(lambda: session.received) == 5
        assert all(r.rtt < 1.0 for r in session.replies)
        got = threading.Event()
        box = []

        def send():
            pcb = a.udp.new()
            pcb.on_recv = lambda p, d: (box.append(d.data), got.set())
            pcb.sendto(b"echo me", "10.0.0.2", 7)

        la.call_soon(send)
        assert got.wait(30) and box == [b"echo me"]
    finally:
        la.stop()
        lb.stop()
    assert not la._thread.is_alive() and not lb._thread.is_alive()


def test_call_propagates_exceptions_and_runs_on_the_loop_thread():
    stack = Stack(seed=1)
    loop = StackLoop(stack).start()
    try:
        assert loop.call(threading.get_ident) == loop._thread.ident
        with pytest.raises(ZeroDivisionError):
            loop.call(lambda: 1 / 0)
    finally:
        loop.stop()


def test_idle_loop_sleeps_until_the_stack_deadline():
    stack = Stack(seed=1)
    hub = VirtualHub()
    stack.add_netif(hub.port(), ip="10.0.0.1/24")  # gratuitous ARP every 60 s is its only deadline
    calls = []
    real_poll = stack.poll
    stack.poll = lambda now: (calls.append(now), real_poll(now))
    loop = StackLoop(stack).start()
    time.sleep(0.3)
    loop.stop()
    assert calls == []  # nothing was due: no ticking timer


def test_run_for_a_duration_returns():
    stack = Stack(seed=1)
    start = time.monotonic()
    StackLoop(stack).run(0.05)
    assert 0.04 <= time.monotonic() - start < 10.0  # it returns (10 s: however loaded the machine)


def test_a_failing_callback_does_not_kill_the_loop():
    stack = Stack(seed=1)
    loop = StackLoop(stack).start()
    try:
        loop.call_soon(lambda: 1 / 0)
        assert loop.call(lambda: "still here") == "still here"
    finally:
        loop.stop()


def test_call_on_a_stopped_loop_fails_at_once():
    from lwipy import LwipError
    loop = StackLoop(Stack(seed=1))
    with pytest.raises(LwipError):
        loop.call(lambda: None, timeout=1)


def test_netifs_added_while_running_are_served():
    hub = VirtualHub()
    a, b = Stack(seed=1, name="a"), Stack(seed=2, name="b")
    b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a).start(), StackLoop(b).start()
    try:
        la.call(lambda: a.add_netif(hub.port("a"), ip="10.0.0.1/24"))
        done = threading.Event()
        s = la.call(lambda: PingSession(a, "10.0.0.2", count=2, interval=0.01, on_end=lambda s: done.set()))
        assert done.wait(30) and la.call(lambda: s.received) == 2
    finally:
        la.stop()
        lb.stop()


def test_fault_delays_follow_the_loops_clock():
    from lwipy.netif import FaultyDevice
    hub = VirtualHub()
    a, b = Stack(seed=1, name="a"), Stack(seed=2, name="b")
    a.add_netif(FaultyDevice(hub.port("a"), delay=0.05), ip="10.0.0.1/24")
    b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a).start(), StackLoop(b).start()
    try:
        done = threading.Event()
        s = la.call(lambda: PingSession(a, "10.0.0.2", count=1, on_end=lambda s: done.set()))
        assert done.wait(30) and la.call(lambda: s.received) == 1
        assert la.call(lambda: s.replies[0].rtt) >= 0.1  # 50 ms each way
    finally:
        la.stop()
        lb.stop()


class _DueAt:
    """A poller due at ``at``: records the times it was polled at or after it."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.fired: list[float] = []
        self.event = threading.Event()

    def poll_at(self) -> float | None:
        return None if self.fired else self.at

    def poll(self, now: float) -> None:
        if not self.fired and now >= self.at:
            self.fired.append(now)
            self.event.set()


def test_a_clock_of_the_callers_is_the_stacks_time_and_runs_its_timers():
    """tail10: the turn reads the default clock without its call; a clock given to the loop is still the one read
    (for the stack's time, what is due and the sleep)."""
    stack = Stack(seed=1)
    t = [500.0]
    loop = StackLoop(stack, clock=lambda: t[0]).start()
    try:
        assert loop.call(lambda: stack.now, timeout=30) == 500.0
        due = _DueAt(600.0)
        asked = []
        real_poll_floor = stack.poll_floor  # pollat11: what the loop reads of the stack's deadlines
        stack.poll_floor = lambda: (asked.append(1), real_poll_floor())[1]
        loop.call(lambda: stack.add_poller(due), timeout=30)
        assert not due.event.wait(0.2)  # the caller's clock is not there yet (monotonic time is, long since)
        assert len(asked) < 10  # and it sleeps until the deadline by that clock: no turn after turn
        t[0] = 700.0
        loop.wake()
        assert due.event.wait(30)
        assert due.fired == [700.0]
    finally:
        loop.stop()


def test_the_default_clock_goes_on_from_the_stacks_time():
    """The default clock continues the stack's own timeline (stack.now when the loop was made), in every turn."""
    stack = Stack(seed=1)
    stack.now = 1e6
    loop = StackLoop(stack).start()
    try:
        start = loop.call(lambda: stack.now, timeout=30)
        assert 1e6 <= start < 1e6 + 30
        due = _DueAt(start + 0.05)
        loop.call(lambda: stack.add_poller(due), timeout=30)
        assert due.event.wait(30)
        assert start + 0.05 <= due.fired[0] < start + 30
        assert 1e6 <= loop.call(lambda: stack.now, timeout=30) < 1e6 + 60
    finally:
        loop.stop()
