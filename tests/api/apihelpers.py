"""Helpers for the API tests: waiting for a condition, telling a thread is blocked, running work on a thread.

The tests wait on conditions, never on wall-clock sleeps, so that they stay green on a loaded machine: a thread that
must block is waited for until it sleeps on its condition (:func:`blocked_in`, :func:`blocked_in_select`), and
"nothing arrives" is checked after something sent later has arrived (frames cross a hub in order).  The time limits
here only bound a failing test.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

GENEROUS = 30.0  # seconds a condition may take on a loaded machine before the wait fails
LATE = 10.0  # seconds a timed call (a timeout, a linger) may return after its time on a loaded machine


def wait_until(predicate: Callable[[], Any], timeout: float = GENEROUS) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.001)


def blocked_in(conn: Any) -> bool:
    """Whether some thread sleeps on the netconn's condition (it is blocked in recv, accept, write or connect); a
    socket stands for its netconn."""
    conn = getattr(conn, "netconn", conn)
    return bool(conn._cond._waiters)


def blocked_in_select(api: Any, threads: int = 1) -> bool:
    """Whether ``threads`` threads sleep in the socket API's select or poll (they scanned and found nothing)."""
    return len(api._select_cond._waiters) >= threads


class Worker(threading.Thread):
    """Run ``fn`` on a thread; ``result()`` returns its value or raises its exception here."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.value: Any = None
        self.exc: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as e:
            self.exc = e

    def result(self, timeout: float = GENEROUS) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the worker is still blocked"
        if self.exc is not None:
            raise self.exc
        return self.value
