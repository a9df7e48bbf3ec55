"""A bounded transmit queue drained at a link rate, for any device: what a Wi-Fi or Ethernet driver's TX ring is.

``TxQueue(inner, limit=16, rate=100e6)`` holds at most ``limit`` frames and passes them to ``inner`` one
serialisation time (``len(frame) * 8 / rate`` seconds) apart, on the clock of the loop or simulation driving it.
A frame that finds the queue full is refused: ``transmit`` returns False, as a driver out of TX buffers does, and the
stack sees ENOMEM (UDP's ``sendto``: lwIP's ERR_MEM, which ``err_to_errno`` maps to ENOMEM) or keeps the segment to
send again (TCP).  A device's own queue is the same :class:`TxRing`: ``VirtualHub.port(name, tx_queue=N)`` and
``TapDevice(name, tx_queue=N)`` (ESP-IDF's drivers: CONFIG_ESP_WIFI_DYNAMIC_TX_BUFFER_NUM 32 Wi-Fi TX buffers,
CONFIG_ETH_DMA_TX_BUFFER_NUM 10 Ethernet DMA descriptors).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from .device import Device, Wrapper

__all__ = ["TxQueue", "TxRing", "TxRingDriver"]


class TxRing:
    """The queue itself, for a driver to embed (``VirtualHub.port(..., tx_queue=N)``, ``TapDevice(..., tx_queue=N)``)
    or :class:`TxQueue` to wrap any device with: at most ``limit`` frames, handed to ``send`` one serialisation
    time apart on ``clock``.  ``offer`` refuses a frame when the ring is full (``refused`` counts them, ``peak``
    is the longest the ring grew)."""

    __slots__ = ("send", "limit", "rate", "clock", "refused", "peak", "_queue", "_free_at")

    def __init__(self, send: Callable[[bytes], object], *, limit: int = 16, rate: float = 100e6,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError(f"a transmit queue holds at least one frame, not {limit}")
        if rate <= 0:
            raise ValueError(f"the link rate is a positive number of bits a second, not {rate}")
        self.send, self.limit, self.rate, self.clock = send, limit, rate, clock
        self.refused = 0
        self.peak = 0
        self._queue: deque[bytes] = deque()
        self._free_at = 0.0  # when the link finishes the frame at the head of the queue

    def offer(self, frame: bytes | bytearray | memoryview) -> bool:
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
        """Hand the frames whose serialisation ended by ``now`` to ``send``."""
        queue = self._queue
        while queue:
            done = self._free_at + len(queue[0]) * 8 / self.rate
            if done > now:
                break
            self._free_at = done
            self.send(queue.popleft())

    def poll_at(self) -> float | None:
        if not self._queue:
            return None
        return self._free_at + len(self._queue[0]) * 8 / self.rate

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Run on ``clock`` from now on (a loop or simulation gives its own): a frame queued meanwhile starts its
        serialisation at once on the new clock."""
        if clock is not self.clock:
            self.clock = clock
            self._free_at = clock()

    def __len__(self) -> int:
        return len(self._queue)


class TxQueue(Wrapper):
    """Wrap ``inner`` behind a queue of ``limit`` frames drained at ``rate`` bits a second.  ``refused`` counts the
    frames turned away, ``peak`` the longest the queue grew."""

    def __init__(self, inner: Device, *, limit: int = 16, rate: float = 100e6,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner)
        self.ring = TxRing(inner.transmit, limit=limit, rate=rate, clock=clock)

    @property
    def limit(self) -> int:
        return self.ring.limit

    @property
    def rate(self) -> float:
        return self.ring.rate

    @property
    def refused(self) -> int:
        return self.ring.refused

    @property
    def peak(self) -> int:
        return self.ring.peak

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        return self.ring.offer(frame)

    def poll(self, now: float) -> None:
        self.ring.poll(now)
        self.inner.poll(now)

    def poll_at(self) -> float | None:
        inner = self.inner.poll_at()
        head = self.ring.poll_at()
        if head is None:
            return inner
        return head if inner is None else min(head, inner)

    def set_clock(self, clock: Callable[[], float]) -> None:
        self.ring.set_clock(clock)
        self.inner.set_clock(clock)

    def __len__(self) -> int:
        return len(self.ring)

    def __repr__(self) -> str:
        ring = self.ring
        return f"<TxQueue {len(ring)}/{ring.limit} frames at {ring.rate / 1e6:g} Mbit/s over {self.inner!r}>"


class TxRingDriver:
    """For a driver with an optional embedded :class:`TxRing` in ``self.tx_ring`` (None: frames go out at once): the
    device's ``poll``, ``poll_at`` and ``set_clock`` drain the ring on the loop's or simulation's clock."""

    tx_ring: TxRing | None

    def poll(self, now: float) -> None:
        if self.tx_ring is not None:
            self.tx_ring.poll(now)

    def poll_at(self) -> float | None:
        return self.tx_ring.poll_at() if self.tx_ring is not None else None

    def set_clock(self, clock: Callable[[], float]) -> None:
        if self.tx_ring is not None:
            self.tx_ring.set_clock(clock)
