"""Ephemeral ports as lwIP hands them out: a cursor that starts at a random place in 0xC000..0xFFFF and moves on
by one after each port it gives (``UDP_LOCAL_PORT_RANGE_*``, ``TCP_LOCAL_PORT_RANGE_*``)."""

from __future__ import annotations

import errno
import random
from typing import Callable

from ..errors import LwipError
from .addr import ANY4 as _ANY4
from .addr import ANY6 as _ANY6
from .addr import IpAddress

__all__ = ["PortAllocator", "PORT_RANGE_START", "PORT_RANGE_END", "addresses_overlap"]


def addresses_overlap(a: IpAddress, a_v6only: bool, b: IpAddress, b_v6only: bool) -> bool:
    """Whether two local addresses a port is bound to take some of the same traffic: 0.0.0.0 is any IPv4 address,
    :: any IPv6 one and, unless V6ONLY, any IPv4 one too."""
    if a == b:
        return True
    if a == _ANY6:
        return b.version == 6 or not a_v6only
    if b == _ANY6:
        return a.version == 6 or not b_v6only
    if a.version != b.version:
        return False
    return a == _ANY4 or b == _ANY4


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
