"""Several stacks on virtual links, driven from one thread in virtual (or real) time.

::

    sim = Simulation(seed=1)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24", faults=dict(loss=0.02))
    sim.run_until(lambda: done, timeout=10)

Virtual time jumps straight to the next deadline (a stack's ``poll_at``, a delayed frame), so a run of minutes takes
milliseconds and repeats exactly for a seed.  With ``realtime=True`` the same loop sleeps instead, for demos.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

from .config import Config
from .core.device import ETHERNET
from .core.netif import Netif
from .core.stack import Stack
from .netif.device import Device
from .netif.faults import FaultyDevice
from .netif.pcap import PcapWriter, linktype_of
from .netif.txqueue import TxQueue
from .netif.virtual import VirtualHub

__all__ = ["Simulation"]

_EPOCH = 1_700_000_000.0  # pcap timestamps of a virtual run start here, not in 1970


class Simulation:
    """A set of stacks and links sharing one clock."""

    def __init__(self, seed: int = 0, realtime: bool = False, strict: bool = True) -> None:
        self.rng = random.Random(seed)
        self.realtime = realtime
        self.strict = strict
        self._start = time.monotonic()
        self.now = 0.0
        self.stacks: list[Stack] = []
        self.attachments: list[tuple[Stack, Netif, Device]] = []
        self.hubs: list[VirtualHub] = []
        self._pcaps: list[PcapWriter] = []

    def clock(self) -> float:
        return self.now

    def hub(self, mtu: int = 1500, pcap: str | None = None, link_kind: str = ETHERNET) -> VirtualHub:
        """A new segment (an Ethernet hub, or with ``link_kind=POINT_TO_POINT`` a link for two stacks carrying bare IP
        packets); with ``pcap`` every frame on it is written to that file."""
        hub = VirtualHub(mtu, link_kind=link_kind)
        if pcap is not None:
            writer = PcapWriter(pcap, linktype=linktype_of(link_kind))
            self._pcaps.append(writer)
            hub.taps.append(lambda port, frame: writer.write(frame, _EPOCH + self.now))
        self.hubs.append(hub)
        return hub

    def new_stack(self, name: str, config: Config | None = None) -> Stack:
        """A stack with no netif yet, seeded from the simulation."""
        stack = Stack(config, rng=random.Random(self.rng.getrandbits(64)), name=name, strict=self.strict)
        stack.now = self.now
        self.stacks.append(stack)
        return stack

    def attach(self, stack: Stack, hub: VirtualHub, *, faults: dict[str, Any] | None = None,
               txqueue: dict[str, Any] | None = None, **netif: Any) -> Netif:
        """Give ``stack`` a netif on ``hub`` (keyword arguments as :meth:`Stack.add_netif`), behind a
        :class:`FaultyDevice` when ``faults`` are given and a bounded :class:`TxQueue` (``limit``, ``rate``) when
        ``txqueue`` is."""
        device: Device = hub.port(netif.get("name") or stack.name)
        if faults:
            faults = {"seed": self.rng.getrandbits(32), **faults}
            device = FaultyDevice(device, clock=self.clock, **faults)
        if txqueue is not None:
            device = TxQueue(device, clock=self.clock, **txqueue)
        nif = stack.add_netif(device, **netif)
        self.attachments.append((stack, nif, device))
        return nif

    def add_stack(self, name: str, hub: VirtualHub, config: Config | None = None, *,
                  faults: dict[str, Any] | None = None, txqueue: dict[str, Any] | None = None,
                  **netif: Any) -> Stack:
        """A stack with one netif on ``hub``: the common case in one call."""
        stack = self.new_stack(name, config)
        self.attach(stack, hub, faults=faults, txqueue=txqueue, **netif)
        return stack

    # -- running -----------------------------------------------------------------------------------------------------
    def settle(self, limit: int = 100000) -> None:
        """Do everything due at the current time: deliver frames and poll stacks until nothing moves."""
        for _ in range(limit):
            if self.realtime:
                self._set_now(max(self.now, time.monotonic() - self._start))
            now = self.now
            moved = self._frames_moved()
            busy = False
            for stack, netif, device in self.attachments:
                device.poll(now)
                frames = device.receive()
                if frames:
                    busy = True
                    stack.input_many(netif, frames, now)
            for stack in self.stacks:
                due = stack.poll_at()
                if due is not None and due <= now:
                    stack.poll(now)
                    busy = True
            if not busy and self._frames_moved() == moved:
                return
        raise RuntimeError(f"the simulation did not settle at t={self.now}: something is due again at once, forever")

    def _frames_moved(self) -> int:
        return sum(hub.forwarded for hub in self.hubs)

    def next_time(self) -> float | None:
        times = [s.poll_at() for s in self.stacks] + [d.poll_at() for _, _, d in self.attachments]
        later = [t for t in times if t is not None]
        return max(min(later), self.now) if later else None

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Run until ``predicate()`` holds (True) or ``timeout`` seconds of simulated time pass (False)."""
        end = self.now + timeout
        while True:
            self.settle()
            if predicate():
                return True
            nxt = self.next_time()
            if nxt is None or nxt > end:
                self._advance(end)
                self.settle()
                return predicate()
            self._advance(nxt)

    def run(self, duration: float) -> None:
        """Run for ``duration`` seconds of simulated time."""
        self.run_until(lambda: False, duration)

    def _advance(self, t: float) -> None:
        if self.realtime:
            delay = t - (time.monotonic() - self._start)
            if delay > 0:
                time.sleep(delay)
            t = max(t, time.monotonic() - self._start)
        self._set_now(t)

    def _set_now(self, t: float) -> None:
        self.now = t
        for stack in self.stacks:
            stack.now = t

    def close(self) -> None:
        for writer in self._pcaps:
            writer.close()
