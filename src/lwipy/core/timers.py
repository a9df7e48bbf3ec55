"""A deadline heap: many owners, each with one deadline, and ``next_at()`` in O(1).

TCP keeps several timers per connection (retransmission, persist, delayed ACK, keepalive, TIME_WAIT); scanning
thousands of connections on every ``poll_at()`` would cost more than the traffic.  Each owner (a pcb) folds its own
timers into one deadline and sets it here; a changed or cancelled deadline leaves a stale heap entry that is skipped
when it surfaces, and the heap is rebuilt when stale entries outnumber live ones.  Deadlines, not callbacks: nothing
fires by itself, the owner is handed back from :meth:`pop_due` and decides what is due.
"""

from __future__ import annotations

import heapq
from typing import Generic, Hashable, TypeVar

__all__ = ["Deadlines"]

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """At most one deadline per key."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: K) -> bool:
        return key in self._live

    def get(self, key: K) -> float | None:
        entry = self._live.get(key)
        return entry[0] if entry is not None else None

    def set(self, key: K, when: float | None) -> None:
        """Make ``when`` the key's deadline (None cancels it)."""
        if when is None:
            self._live.pop(key, None)
            return
        current = self._live.get(key)
        if current is not None and current[0] == when:
            return
        self._seq += 1
        self._live[key] = (when, self._seq)
        heapq.heappush(self._heap, (when, self._seq, key))
        if len(self._heap) > 2 * len(self._live) + 64:
            self._compact()

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def next_at(self) -> float | None:
        """The earliest live deadline."""
        heap = self._heap
        live = self._live
        while heap:
            when, seq, key = heap[0]
            entry = live.get(key)
            if entry is not None and entry[1] == seq:
                return when
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return the keys whose deadline is at or before ``now``, earliest first."""
        due = []
        heap = self._heap
        live = self._live
        while heap and heap[0][0] <= now:
            when, seq, key = heapq.heappop(heap)
            entry = live.get(key)
            if entry is not None and entry[1] == seq:
                del live[key]
                due.append(key)
        return due

    def _compact(self) -> None:
        self._heap = [(when, seq, key) for key, (when, seq) in self._live.items()]
        heapq.heapify(self._heap)
