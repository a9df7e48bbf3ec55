"""Ephemeral ports as lwIP hands them out: a cursor that starts at a random place in 0xC000..0xFFFF and moves on
by one after each port it gives (``UDP_LOCAL_PORT_RANGE_*``, ``TCP_LOCAL_PORT_RANGE_*``)."""

from __future__ import annotations

import errno
import random
from typing import Callable

from ..errors import LwipError

__all__ = ["PortAllocator", "PORT_RANGE_START", "PORT_RANGE_END"]

PORT_RANGE_START = 0xC000
PORT_RANGE_END = 0xFFFF
_SPAN = PORT_RANGE_END - PORT_RANGE_START + 1


class PortAllocator:
    """One per protocol; ``allocate(taken)`` returns the next port for which ``taken(port)`` is false."""

    def __init__(self, rng: random.Random, protocol: str) -> None:
        self._next = PORT_RANGE_START + rng.randrange(_SPAN)
        self._protocol = protocol

    def allocate(self, taken: Callable[[int], bool]) -> int:
        for _ in range(_SPAN):
            port = self._next
            self._next = PORT_RANGE_START + (port + 1 - PORT_RANGE_START) % _SPAN
            if not taken(port):
                return port
        raise LwipError(errno.EADDRINUSE, f"no free {self._protocol} port left")
