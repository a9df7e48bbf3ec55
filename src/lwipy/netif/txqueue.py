"""A bounded transmit queue drained at a link rate, for any device: what a Wi-Fi or Ethernet driver's TX ring is.

``TxQueue(inner, limit=16, rate=100e6)`` holds at most ``limit`` frames and passes them to ``inner`` one
serialisation time (``len(frame) * 8 / rate`` seconds) apart, on the clock of the loop or simulation driving it.
A frame that finds the queue full is refused: ``transmit`` returns False, as a driver out of TX buffers does, and the
stack sees ENOMEM (UDP's ``sendto``) or keeps the segment to send again (TCP).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from .device import Device, Wrapper

__all__ = ["TxQueue"]


class TxQueue(Wrapper):
    """Wrap ``inner`` behind a queue of ``limit`` frames drained at ``rate`` bits a second.  ``refused`` counts the
    frames turned away, ``peak`` the longest the queue grew."""

    def __init__(self, inner: Device, *, limit: int = 16, rate: float = 100e6,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner)
        if limit < 1:
            raise ValueError(f"a transmit queue holds at least one frame, not {limit}")
        if rate <= 0:
            raise ValueError(f"the link rate is a positive number of bits a second, not {rate}")
        self.limit, self.rate, self.clock = limit, rate, clock
        self.refused = 0
        self.peak = 0
        self._queue: deque[bytes] = deque()
        self._free_at = 0.0  # when the link finishes the frame at the head of the queue

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        queue = self._queue
        if len(queue) >= self.limit:
            self.refused += 1
            return False
        if not queue:
            self._free_at = max(self._free_at, self.clock())
        queue.append(bytes(frame))  # the stack's buffer is reused once transmit returns
        if len(queue) > self.peak:
            self.peak = len(queue)
        return True

    def poll(self, now: float) -> None:
        queue = self._queue
        while queue:
            done = self._free_at + len(queue[0]) * 8 / self.rate
            if done > now:
                break
            self._free_at = done
            self.inner.transmit(queue.popleft())
        self.inner.poll(now)

    def poll_at(self) -> float | None:
        inner = self.inner.poll_at()
        if not self._queue:
            return inner
        head = self._free_at + len(self._queue[0]) * 8 / self.rate
        return head if inner is None else min(head, inner)

    def set_clock(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.inner.set_clock(clock)

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<TxQueue {len(self._queue)}/{self.limit} frames at {self.rate / 1e6:g} Mbit/s over {self.inner!r}>"
