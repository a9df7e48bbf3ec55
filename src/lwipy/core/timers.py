"""A deadline heap: many owners, each with one deadline, and ``next_at()`` in O(1).

TCP keeps several timers per connection (retransmission, persist, delayed ACK, keepalive, TIME_WAIT); scanning
thousands of connections on every ``poll_at()`` would cost more than the traffic.  Each owner (a pcb) folds its own
timers into one deadline and sets it here; a changed or cancelled deadline leaves a stale heap entry that is skipped
when it surfaces, and the heap is rebuilt when stale entries outnumber live ones.  Deadlines, not callbacks: nothing
fires by itself, the owner is handed back from :meth:`pop_due` and decides what is due.
"""

from __future__ import annotations

import heapq
from typing import Generic, Hashable, Protocol, TypeVar

__all__ = ["Deadlines", "LazyDeadlines", "NO_ENTRY"]

#: way14: an owner's ``heap_at`` while it has no entry in a :class:`LazyDeadlines` (later than any deadline: an
#: infinite one, which never comes, is not armed)
NO_ENTRY = float("inf")

K = TypeVar("K", bound=Hashable)


class _DeadlineHeap(Generic[K]):
    """The heap both kinds keep: entries ``(when, seq, key)``, and per key its live entry's ``(when, seq)``; an entry
    whose seq is not the key's live one is stale and skipped when it surfaces."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._seq = 0
        #: entries pushed onto the heap (each a heap operation)
        self.pushes = 0

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def _push(self, key: K, when: float) -> None:
        self.pushes += 1
        self._seq += 1
        self._live[key] = (when, self._seq)
        heapq.heappush(self._heap, (when, self._seq, key))

    def _compact(self) -> None:
        """Rebuild the heap from the live entries once stale ones outnumber them (never while a caller walks it)."""
        if len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [(when, seq, key) for key, (when, seq) in self._live.items()]
            heapq.heapify(self._heap)


class Deadlines(_DeadlineHeap[K]):
    """At most one deadline per key."""

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
        self._push(key, when)
        self._compact()

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


class _Owner(Protocol):
    #: way14: the deadline its entry in the heap holds, :data:`NO_ENTRY` without one: set to that when the owner is
    #: made, then kept by the heap (so that an owner about to arm may skip the call when it would do nothing)
    heap_at: float

    def next_deadline(self) -> float | None: ...


P = TypeVar("P", bound=_Owner)


class LazyDeadlines(_DeadlineHeap[P]):
    """Deadlines re-armed lazily, as Linux's and BSD's TCP timers: an owner says when it next has work
    (``owner.next_deadline()``), and its entry here only ever moves earlier (:meth:`arm`).  A deadline that moved
    later or went away leaves the entry where it is; when the entry surfaces (:meth:`next_at`, :meth:`pop_due`) the
    owner's real deadline is read, and the entry is dropped, moved to it, or handed back as due.  A connection that
    re-arms its delayed-ACK or retransmission deadline with every segment so touches the heap once per expiry, not
    once per segment.  Invariant: a live entry is never later than its owner's real deadline, so :meth:`next_at` and
    :meth:`pop_due` answer exactly as with eager re-arming; and the heap's top entry (``_heap[0][0]``) is never later
    than :meth:`next_at`, a lower bound :meth:`Stack.poll_floor <lwipy.core.stack.Stack.poll_floor>` reads without a
    call.  way14: each owner carries its live entry's deadline (``owner.heap_at``, :data:`NO_ENTRY` without one),
    kept here wherever the entry changes, as Linux's timer_list sits in its owner: :meth:`arm`'s test reads it
    instead of looking the entry up, and an owner may run that test itself before the call."""

    def __len__(self) -> int:
        """Owners with a deadline (their real one: each is asked)."""
        return sum(1 for key in self._live if key.next_deadline() is not None)

    def __contains__(self, key: P) -> bool:
        return self.get(key) is not None

    def get(self, key: P) -> float | None:
        """The key's deadline (its real one), or None when it has none here."""
        return key.next_deadline() if key in self._live else None

    def arm(self, key: P, when: float) -> None:
        """The key's deadline is now ``when``: a new entry only when it is earlier than the key's entry."""
        if when >= key.heap_at:
            return
        self._push(key, when)
        self._compact()

    def cancel(self, key: P) -> None:
        self._live.pop(key, None)
        key.heap_at = NO_ENTRY

    def _push(self, key: P, when: float) -> None:
        super()._push(key, when)
        key.heap_at = when

    def next_at(self) -> float | None:
        """The earliest real deadline."""
        heap = self._heap
        live = self._live
        while heap:
            when, seq, key = heap[0]
            entry = live.get(key)
            if entry is None or entry[1] != seq:
                heapq.heappop(heap)  # superseded or cancelled
                continue
            real = key.next_deadline()
            if real == when:
                return when
            if real is None:
                heapq.heappop(heap)
                del live[key]
                key.heap_at = NO_ENTRY
                continue
            # moved later meanwhile (a connection answering requests re-arms its retransmission timer with every
            # reply: rr's every turn of the loop): the entry moves to it in one sift, and when it is still the
            # earliest its deadline is the answer, read just now
            self.pushes += 1
            self._seq = seq = self._seq + 1
            live[key] = (real, seq)
            key.heap_at = real
            heapq.heapreplace(heap, (real, seq, key))
            if heap[0][1] == seq:
                return real
        return None

    def pop_due(self, now: float) -> list[P]:
        """Remove and return the keys whose real deadline is at or before ``now``, earliest entry first."""
        due = []
        heap = self._heap
        live = self._live
        while heap and heap[0][0] <= now:
            when, seq, key = heapq.heappop(heap)
            entry = live.get(key)
            if entry is None or entry[1] != seq:
                continue
            real = key.next_deadline()
            if real is not None and real <= now:
                del live[key]
                key.heap_at = NO_ENTRY
                due.append(key)
            elif real is None:
                del live[key]
                key.heap_at = NO_ENTRY
            else:
                self._push(key, real)
        return due
