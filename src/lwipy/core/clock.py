"""The device's wall clock: ``gettimeofday``, ``settimeofday`` and ``adjtime`` of the system lwipy stands in for.

lwipy never reads or sets the host's clock for this.  Each :class:`~lwipy.core.stack.Stack` owns a
:class:`DeviceClock`: Unix time as an offset on the stack's own time source (``stack.now``, monotonic, any origin).
An ESP32 boots with its clock at 1970-01-01 (``epoch`` 0, the default); SNTP corrects it.

``adjtime`` slews as ESP-IDF's newlib does (``components/newlib/time.c``): the correction is applied at 1/64 of the
elapsed time (``ADJTIME_CORRECTION_FACTOR`` 6, a shift), so the clock never jumps; a delta over
``INT_MAX / 1000000 - 1`` seconds (about 35 minutes) is refused, and the caller steps instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stack import Stack

__all__ = ["DeviceClock", "ADJTIME_MAX"]

#: ESP-IDF's adjtime refuses ``llabs(delta->tv_sec) > INT_MAX / 1000000L - 1``
ADJTIME_MAX = (2**31 - 1) // 1000000 - 1
_SLEW_SHIFT = 6  # ADJTIME_CORRECTION_FACTOR


class DeviceClock:
    """The wall clock of one stack.  ``time()`` reads it (``gettimeofday``), ``settimeofday`` steps it,
    ``adjtime`` slews it."""

    def __init__(self, stack: "Stack", epoch: float = 0.0) -> None:
        self._stack = stack
        #: Unix time at stack time 0 (``boot_time`` in ESP-IDF's terms)
        self.boot_time = epoch - stack.now
        self._adj_start: float | None = None
        self._adj_total = 0.0
        #: how many times it was stepped (settimeofday) and slewed (adjtime)
        self.steps = 0
        self.slews = 0

    def _correction(self, now: float) -> float:
        """The part of the running slew applied by ``now`` (ESP-IDF's ``adjust_boot_time``)."""
        if self._adj_start is None:
            return 0.0
        done = max(0.0, now - self._adj_start) / (1 << _SLEW_SHIFT)
        if done >= abs(self._adj_total):
            # the slew is over: fold it into the boot time
            self.boot_time += self._adj_total
            self._adj_start, self._adj_total = None, 0.0
            return 0.0
        return done if self._adj_total > 0 else -done

    def time(self, now: float | None = None) -> float:
        """``gettimeofday``: Unix time at stack time ``now`` (the stack's current time when None)."""
        t = self._stack.now if now is None else now
        correction = self._correction(t)  # first: a finished slew folds into boot_time
        return t + self.boot_time + correction

    def settimeofday(self, unix: float) -> None:
        """Step the clock to ``unix`` now; a slew in progress is dropped."""
        now = self._stack.now
        self._adj_start, self._adj_total = None, 0.0
        self.boot_time = unix - now
        self.steps += 1

    def adjtime(self, delta: float | None) -> float:
        """``adjtime``: slew by ``delta`` seconds (None: only ask); returns what remained of the previous slew.
        Raises ValueError for a delta ESP-IDF refuses (more than :data:`ADJTIME_MAX` seconds)."""
        now = self._stack.now
        applied = self._correction(now)
        remaining = (self._adj_total - applied) if self._adj_start is not None else 0.0
        if delta is None:
            return remaining
        if abs(int(delta)) > ADJTIME_MAX:
            raise ValueError(f"adjtime of {delta:.3f} s is beyond {ADJTIME_MAX} s")
        # what was slewed so far stays; the rest of the old slew is replaced by the new one, as in ESP-IDF
        self.boot_time += applied
        self._adj_start, self._adj_total = (now, float(delta)) if delta else (None, 0.0)
        self.slews += 1
        return remaining

    @property
    def slewing(self) -> bool:
        """Whether a slew is still in progress."""
        return self.adjtime(None) != 0.0
