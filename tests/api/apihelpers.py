"""Helpers for the API tests: waiting for a condition, telling a thread is blocked, running work on a thread."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
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
    """Whether some thread sleeps on the netconn's condition (it is blocked in recv, accept, write or connect)."""
    return bool(conn._cond._waiters)


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

    def result(self, timeout: float = 10.0) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the worker is still blocked"
        if self.exc is not None:
            raise self.exc
        return self.value
