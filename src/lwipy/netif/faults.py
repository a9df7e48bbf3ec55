"""A fault injector for any device: seeded loss, duplication, reordering, delay and corruption, both directions."""

from __future__ import annotations

import heapq
import random
import time
from typing import Callable

from .device import Device, Wrapper

__all__ = ["FaultyDevice"]


class FaultyDevice(Wrapper):
    """Wrap ``inner`` so that frames crossing it (sent and received, unless ``egress``/``ingress`` say otherwise)
    suffer faults, each with its probability: ``loss`` drops, ``duplicate`` sends twice, ``corrupt`` flips one bit,
    ``reorder`` holds a frame back ``reorder_delay`` seconds so later ones pass it; ``delay`` plus up to ``jitter``
    seconds of latency applies to all.  ``clock`` is the time source; the loop or simulation driving the device
    replaces it with its own (``set_clock``), so delays are measured in the stack's time.
    ``counts`` says what was done."""

    def __init__(self, inner: Device, *, seed: int = 0, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, corrupt: float = 0.0, delay: float = 0.0, jitter: float = 0.0,
                 reorder_delay: float = 0.002, egress: bool = True, ingress: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner)
        if inner.checksum_offload:
            raise ValueError(f"FaultyDevice cannot wrap {inner!r}: its frames carry checksums left for the device to "
                             "finish, so a corrupted one would pass unnoticed; open it without offload")
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder), ("corrupt", corrupt)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability, not {p}")
        self.rng = random.Random(seed)
        self.loss, self.duplicate, self.reorder, self.corrupt = loss, duplicate, reorder, corrupt
        self.delay, self.jitter, self.reorder_delay = delay, jitter, reorder_delay
        self.egress, self.ingress = egress, ingress
        self.clock = clock
        self.counts = {"lost": 0, "duplicated": 0, "reordered": 0, "corrupted": 0}
        self._held: list[tuple[float, int, bool, bytes]] = []  # (due, seq, outgoing, frame)
        self._seq = 0
        self._ready: list[bytes] = []

    def _apply(self, frame: bytes, outgoing: bool) -> list[tuple[float, bytes]]:
        """The copies of ``frame`` to pass on, each with its extra latency."""
        rng = self.rng
        if self.loss and rng.random() < self.loss:
            self.counts["lost"] += 1
            return []
        copies = 2 if self.duplicate and rng.random() < self.duplicate else 1
        if copies == 2:
            self.counts["duplicated"] += 1
        out = []
        for _ in range(copies):
            data = frame
            if self.corrupt and rng.random() < self.corrupt and data:
                self.counts["corrupted"] += 1
                buf = bytearray(data)
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
                data = bytes(buf)
            latency = self.delay + (rng.uniform(0, self.jitter) if self.jitter else 0.0)
            if self.reorder and rng.random() < self.reorder:
                self.counts["reordered"] += 1
                latency += self.reorder_delay
            out.append((latency, data))
        return out

    def _pass(self, frame: bytes, outgoing: bool) -> bool:
        ok = True
        for latency, data in self._apply(frame, outgoing):
            if latency > 0:
                self._seq += 1
                heapq.heappush(self._held, (self.clock() + latency, self._seq, outgoing, data))
            elif outgoing:
                ok = self.inner.transmit(data) and ok
            else:
                self._ready.append(data)
        return ok

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if not self.egress:
            return self.inner.transmit(frame)
        return self._pass(bytes(frame), True)

    def receive(self) -> list[bytes]:
        self._release(self.clock())
        frames = self.inner.receive()
        if self.ingress:
            for frame in frames:
                self._pass(frame, False)
        else:
            self._ready.extend(frames)
        ready, self._ready = self._ready, []
        return ready

    def _release(self, now: float) -> None:
        held = self._held
        while held and held[0][0] <= now:
            _, _, outgoing, data = heapq.heappop(held)
            if outgoing:
                self.inner.transmit(data)
            else:
                self._ready.append(data)

    def set_clock(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.inner.set_clock(clock)

    def poll(self, now: float) -> None:
        self._release(self.clock())
        self.inner.poll(now)

    def poll_at(self) -> float | None:
        mine = self._held[0][0] if self._held else None
        if self._ready:
            mine = self.clock()
        inner = self.inner.poll_at()
        if mine is None:
            return inner
        return mine if inner is None else min(mine, inner)
