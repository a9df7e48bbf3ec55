"""The core thread: a bounded mailbox (blocking post, try-post), calls answered or failed on stop, thread checks."""

import errno
import inspect
import threading

import pytest
from apihelpers import GENEROUS, Worker, wait_until

from lwipy import Config, LwipError, Stack
from lwipy.api import StackLoop
from lwipy.core.udp import Udp
from lwipy.errors import ThreadSafetyError


@pytest.fixture
def busy_loop():
    """A running loop whose core thread is stuck in a callback until ``release`` is set."""
    stack = Stack(Config(tcpip_recvmbox_size=6), seed=1)
    loop = StackLoop(stack).start()
    entered, release = threading.Event(), threading.Event()
    loop.call_soon(lambda: (entered.set(), release.wait(GENEROUS)))
    assert entered.wait(GENEROUS)
    yield loop, release
    release.set()
    loop.stop()
    loop.close()


def test_the_mailbox_size_is_the_config_option():
    assert Config().tcpip_recvmbox_size == 32
    assert StackLoop(Stack(Config(tcpip_recvmbox_size=6))).mbox_size == 6


def test_a_full_mailbox_blocks_the_poster_until_the_core_takes_messages(busy_loop):
    loop, release = busy_loop
    ran = []
    for i in range(6):
        loop.call_soon(lambda i=i: ran.append(i))
    late = Worker(lambda: loop.call_soon(lambda: ran.append("late")))
    wait_until(lambda: loop._blocked == 1)  # asleep on the full mailbox
    assert late.is_alive()  # sys_mbox_post: waits for room
    release.set()
    late.result()
    assert loop.call(lambda: list(ran)) == [0, 1, 2, 3, 4, 5, "late"]


def test_try_call_soon_fails_at_once_when_full(busy_loop):
    loop, release = busy_loop
    for _ in range(6):
        loop.try_call_soon(lambda: None)
    with pytest.raises(LwipError) as e:
        loop.try_call_soon(lambda: None)
    assert e.value.errno == errno.ENOMEM
    release.set()
    done = threading.Event()
    wait_until(lambda: loop.call(lambda: True))
    loop.try_call_soon(done.set)  # room again
    assert done.wait(GENEROUS)


def test_posters_blocked_on_a_full_mailbox_and_waiting_calls_fail_when_the_loop_stops(busy_loop):
    loop, release = busy_loop
    for _ in range(5):
        loop.call_soon(lambda: None)
    waiting_call = Worker(lambda: loop.call(lambda: "never"))  # the sixth message
    wait_until(lambda: len(loop._calls) == 6)
    blocked_post = Worker(lambda: loop.call_soon(lambda: None))
    wait_until(lambda: loop._blocked == 1)  # asleep on the full mailbox
    assert blocked_post.is_alive()
    loop._stopping = True  # stop() from here would wait for the thread; ask, then let the core go on
    release.set()
    loop.stop()
    for worker in (waiting_call, blocked_post):
        with pytest.raises(LwipError) as e:
            worker.result()
        assert e.value.errno == errno.ESHUTDOWN


def test_call_from_the_core_thread_runs_inline_and_call_soon_there_never_blocks(busy_loop):
    loop, release = busy_loop
    release.set()

    def on_core():
        for _ in range(20):  # more than the mailbox holds: the core cannot wait for itself
            loop.call_soon(lambda: None)
        return loop.call(lambda: threading.get_ident())

    assert loop.call(on_core) == loop.core_thread_ident


def test_calls_run_in_order_from_many_threads():
    stack = Stack(Config(tcpip_recvmbox_size=6), seed=1)
    loop = StackLoop(stack).start()
    try:
        seen: dict[int, list[int]] = {}

        def poster(t: int) -> None:
            for i in range(200):
                loop.call_soon(lambda i=i: seen.setdefault(t, []).append(i))

        workers = [Worker(lambda t=t: poster(t)) for t in range(4)]
        for w in workers:
            w.result()
        got = loop.call(lambda: {t: list(v) for t, v in seen.items()})
        assert got == {t: list(range(200)) for t in range(4)}  # FIFO per poster, nothing lost
    finally:
        loop.stop()
        loop.close()


def test_check_thread_safety_hook_raises_off_the_core_thread():
    stack = Stack(Config(check_thread_safety=True), seed=1)
    loop = StackLoop(stack)  # installs the check
    stack.assert_core()  # before the loop runs: setting up is allowed (lwIP: tcpip not started yet)
    loop.start()
    try:
        wait_until(lambda: loop.core_thread_ident is not None)
        with pytest.raises(ThreadSafetyError):
            stack.assert_core()
        loop.call(stack.assert_core)  # on the core thread it passes
    finally:
        loop.stop()
        loop.close()
    stack.assert_core()  # no loop owns it any more


def test_check_thread_safety_off_installs_nothing():
    stack = Stack(Config(), seed=1)
    loop = StackLoop(stack).start()
    try:
        assert "assert_core" not in vars(stack)
    finally:
        loop.stop()
        loop.close()


@pytest.mark.skipif("assert_core" not in inspect.getsource(Udp.new),
                    reason="the core's entry points do not call stack.assert_core() yet")
def test_check_thread_safety_guards_core_entry_points():
    stack = Stack(Config(check_thread_safety=True), seed=1)
    loop = StackLoop(stack).start()
    try:
        wait_until(lambda: loop.core_thread_ident is not None)
        with pytest.raises(ThreadSafetyError):
            stack.udp.new()
        with pytest.raises(ThreadSafetyError):
            stack.tcp.listen(80)
        assert loop.call(lambda: stack.udp.new()) is not None
    finally:
        loop.stop()
        loop.close()
