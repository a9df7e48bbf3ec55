"""Core locking (``tcpip_core_locking``, ``CONFIG_LWIP_TCPIP_CORE_LOCKING``): an API call to a sleeping loop runs on
the caller's thread under the core lock; a call that finds the lock taken or messages waiting is posted; what a call
leaves the core thread to do (a deadline, a posted function) wakes it.  The netconn and socket tests run under core
locking too (``make_net``'s second parametrisation)."""

import errno
import logging
import os
import threading
import time

import pytest
from apihelpers import GENEROUS, Worker, wait_until

from lwipy import Config, LwipError, Stack
from lwipy.api import SocketApi, StackLoop
from lwipy.errors import ThreadSafetyError
from lwipy.netif import VirtualHub


def asleep(loop: StackLoop) -> None:
    """Wait until the loop sleeps: it lets go of the core lock only then."""
    wait_until(lambda: loop.core_thread_ident is not None and not loop._core.locked())


@pytest.fixture
def locked_loop():
    stack = Stack(Config(tcpip_core_locking=True, check_thread_safety=True), seed=1)
    loop = StackLoop(stack).start()
    asleep(loop)
    yield stack, loop
    loop.stop()
    loop.close()


def test_a_call_to_a_sleeping_loop_runs_on_the_callers_thread_as_the_core(locked_loop):
    stack, loop = locked_loop
    me = threading.get_ident()

    def inside():
        stack.assert_core()  # CONFIG_LWIP_CHECK_THREAD_SAFETY: the lock's holder is the core
        return threading.get_ident(), loop.is_core_thread(), loop.call(threading.get_ident)

    assert loop.call(inside) == (me, True, me)  # (a call inside a call runs at once)
    assert not loop.is_core_thread()
    with pytest.raises(ThreadSafetyError):
        stack.assert_core()  # outside a call this thread is not the core
    with pytest.raises(ZeroDivisionError):
        loop.call(lambda: 1 / 0)  # raised here, as without core locking
    assert loop.call(lambda: "the lock was let go") == "the lock was let go"


def test_a_deadline_a_call_sets_wakes_the_sleeping_loop_for_it(locked_loop):
    """The loop sleeps without a deadline; a poller added by a call wants a turn soon after: the call wakes the loop
    (else it would sleep on, and the poller never run), and the poller runs on the loop's thread."""
    stack, loop = locked_loop
    fired = threading.Event()
    ran_on = []

    class Soon:
        at = None

        def poll_at(self):
            return self.at

        def poll(self, now):
            if self.at is not None and now >= self.at:
                self.at = None
                ran_on.append(threading.get_ident())
                fired.set()

    soon = Soon()

    def add():
        soon.at = stack.now + 0.01
        stack.add_poller(soon)

    assert loop.call(lambda: stack.poll_at()) is None  # (nothing to wake the loop but the call)
    loop.call(add)
    assert fired.wait(GENEROUS)
    assert ran_on == [loop._thread.ident]


def test_a_function_a_call_posts_runs_on_the_loop_soon(locked_loop):
    stack, loop = locked_loop
    done = threading.Event()
    ran_on = []
    loop.call(lambda: loop.call_soon(lambda: (ran_on.append(threading.get_ident()), done.set())))
    assert done.wait(GENEROUS)
    assert ran_on == [loop._thread.ident]


def test_a_call_while_the_loop_is_in_a_turn_is_posted_and_answered_there(locked_loop):
    """The loop holds the core lock for its turn: a call then neither waits for the lock nor runs beside the turn,
    it is posted (so a loop that never sleeps cannot starve callers) and runs on the loop's thread."""
    stack, loop = locked_loop
    entered, release = threading.Event(), threading.Event()
    loop.call_soon(lambda: (entered.set(), release.wait(GENEROUS)))  # the loop's turn stays busy until release
    assert entered.wait(GENEROUS)
    caller = Worker(lambda: loop.call(threading.get_ident))
    wait_until(lambda: loop._calls)  # posted, not waiting on the lock
    release.set()
    assert caller.result() == loop._thread.ident


def test_a_call_behind_posted_messages_is_posted_too(locked_loop):
    """Messages in the mailbox go first: a call that found the lock free but messages waiting is posted behind them,
    so that what a thread posted earlier (a write posted while the loop was busy) runs before its next call."""
    stack, loop = locked_loop
    ran = []
    entered, release = threading.Event(), threading.Event()
    loop.call_soon(lambda: (entered.set(), release.wait(GENEROUS)))
    assert entered.wait(GENEROUS)  # the loop is busy until release
    loop.call_soon(lambda: ran.append(1))
    loop._core.release()  # as if the loop slept now, with the message still waiting
    try:
        loop.call_nowait(lambda: ran.append(2))
        assert ran == [] and len(loop._calls) == 2
    finally:
        loop._core.acquire()
    release.set()
    assert loop.call(lambda: list(ran)) == [1, 2]


def test_call_nowait_logs_what_the_call_raises_and_the_loop_serves_on(locked_loop, caplog):
    stack, loop = locked_loop
    caplog.set_level(logging.ERROR, logger="lwipy")
    loop.call_nowait(lambda: 1 / 0)
    assert "an API call raised" in caplog.text
    assert loop.call(lambda: 7) == 7


def test_calls_after_the_loop_stopped_fail_with_eshutdown():
    loop = StackLoop(Stack(Config(tcpip_core_locking=True), seed=1))
    with pytest.raises(LwipError) as e:
        loop.call(lambda: None)  # never started
    assert e.value.errno == errno.ESHUTDOWN
    loop.start()
    assert loop.call(lambda: 1) == 1
    loop.stop()
    with pytest.raises(LwipError) as e:
        loop.call(lambda: None)
    assert e.value.errno == errno.ESHUTDOWN
    with pytest.raises(LwipError) as e:
        loop.call_nowait(lambda: None)
    assert e.value.errno == errno.ESHUTDOWN
    loop.close()


def test_stop_from_a_call_under_the_core_lock_returns_and_the_loop_ends_after_it():
    """stop() inside a call does not wait for the loop's thread, which waits for the call to let go of the lock."""
    loop = StackLoop(Stack(Config(tcpip_core_locking=True), seed=1)).start()
    asleep(loop)
    thread = loop._thread
    started = time.monotonic()
    loop.call(loop.stop)
    assert time.monotonic() - started < stop_join_timeout()  # (joining would have waited that long)
    thread.join(GENEROUS)
    assert not thread.is_alive() and not loop.running
    loop.close()


def test_close_inside_a_call_lets_the_loop_end_and_closes_the_pipe_then():
    """stop() and close() inside a call: the loop, asleep on its wake pipe, still wakes and ends (a pipe closed under
    its sleep could have left it asleep), and the pipe is closed when it does."""
    loop = StackLoop(Stack(Config(tcpip_core_locking=True), seed=1)).start()
    asleep(loop)
    thread, pipe = loop._thread, (loop._wake_r, loop._wake_w)
    loop.call(lambda: (loop.stop(), loop.close()))
    thread.join(GENEROUS)
    assert not thread.is_alive()
    for fd in pipe:
        with pytest.raises(OSError):
            os.fstat(fd)


def stop_join_timeout() -> float:
    import inspect
    return inspect.signature(StackLoop.stop).parameters["timeout"].default


def test_many_threads_calling_at_once_each_keep_their_order():
    loop = StackLoop(Stack(Config(tcpip_core_locking=True, tcpip_recvmbox_size=6), seed=1)).start()
    try:
        seen: dict[int, list[int]] = {}

        def caller(t: int) -> None:
            for i in range(300):
                if i % 3:
                    loop.call_nowait(lambda i=i: seen.setdefault(t, []).append(i))
                else:
                    loop.call(lambda i=i: seen.setdefault(t, []).append(i))

        workers = [Worker(lambda t=t: caller(t)) for t in range(4)]
        for w in workers:
            w.result()
        got = loop.call(lambda: {t: list(v) for t, v in seen.items()})
        assert got == {t: list(range(300)) for t in range(4)}
    finally:
        loop.stop()
        loop.close()


class Far:
    """A poller with a deadline an hour away."""

    def __init__(self, stack):
        self.at = stack.now + 3600

    def poll_at(self):
        return self.at

    def poll(self, now):
        pass


def test_a_netif_a_call_adds_to_a_sleeping_loop_is_watched():
    """A call that adds a netif wakes the loop, which watches the new device: a datagram to it then arrives.  (The
    loop sleeps until a far deadline, and adding a netif without an address sets no earlier one: only the new netif
    wakes it.)"""
    hub = VirtualHub()
    a = Stack(Config(tcpip_core_locking=True, ipv6=False), seed=1, name="a")
    b = Stack(Config(), seed=2, name="b")
    b.add_netif(hub.port("b"), ip="10.0.0.2/24")
    la, lb = StackLoop(a).start(), StackLoop(b).start()
    sa, sb = SocketApi(la), SocketApi(lb)
    try:
        asleep(la)
        far = Far(a)
        la.call(lambda: a.add_poller(far))
        wait_until(lambda: la._sleep_until == far.at and not la._core.locked())  # woke for it, sleeps till then
        netif = la.call(lambda: a.add_netif(hub.port("a")))
        wait_until(lambda: la._generation == a.netif_generation)  # watched
        la.call(lambda: netif.set_ipv4("10.0.0.1/24"))
        rx = sa.socket(sa.AF_INET, sa.SOCK_DGRAM)
        rx.bind(("10.0.0.1", 7000))
        rx.settimeout(GENEROUS)
        tx = sb.socket(sb.AF_INET, sb.SOCK_DGRAM)
        tx.sendto(b"to the new netif", ("10.0.0.1", 7000))
        assert rx.recvfrom(100) == (b"to the new netif", ("10.0.0.2", tx.getsockname()[1]))
    finally:
        sa.close_all()
        sb.close_all()
        for loop in (la, lb):
            loop.stop()
            loop.close()
