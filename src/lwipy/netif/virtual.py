"""An in-process Ethernet segment: a hub that copies every frame to every other port.

Any number of stacks (or test scripts) attach a :class:`VirtualPort` each.  Ports can be driven from one thread
(:class:`~lwipy.sim.Simulation`) or from a loop per stack on its own thread: delivery only appends to a deque and
calls the port's waker.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from .device import Device

__all__ = ["VirtualHub", "VirtualPort"]


class VirtualPort(Device):
    """One station's attachment to a :class:`VirtualHub`."""

    def __init__(self, hub: "VirtualHub", name: str) -> None:
        self.hub = hub
        self.name = name
        self.rx: deque[bytes] = deque()
        self.dropped = 0
        self._waker: Callable[[], None] | None = None

    @property
    def mtu(self) -> int:  # type: ignore[override]
        return self.hub.mtu

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if len(frame) > self.hub.mtu + 18:
            self.dropped += 1
            return False
        self.hub._forward(self, bytes(frame))
        return True

    def _deliver(self, frame: bytes) -> None:
        if len(self.rx) >= self.hub.queue_len:
            self.dropped += 1
            return
        self.rx.append(frame)
        if self._waker is not None:
            self._waker()

    def receive(self) -> list[bytes]:
        rx = self.rx
        out = []
        while rx:
            out.append(rx.popleft())
        return out

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        self._waker = waker

    def close(self) -> None:
        self.hub.detach(self)

    def __repr__(self) -> str:
        return f"<VirtualPort {self.name}>"


class VirtualHub:
    """A shared segment with an ``mtu`` (1500 by default; raise it for jumbo frames) and a receive queue per port."""

    def __init__(self, mtu: int = 1500, queue_len: int = 4096) -> None:
        self.mtu = mtu
        self.queue_len = queue_len
        self.ports: list[VirtualPort] = []
        self.taps: list[Callable[[VirtualPort, bytes], None]] = []
        self.forwarded = 0  # frames carried so far: a driver can tell whether anything moved

    def port(self, name: str | None = None) -> VirtualPort:
        port = VirtualPort(self, name or f"port{len(self.ports)}")
        self.ports.append(port)
        return port

    def detach(self, port: VirtualPort) -> None:
        if port in self.ports:
            self.ports.remove(port)

    def _forward(self, sender: VirtualPort, frame: bytes) -> None:
        self.forwarded += 1
        for tap in self.taps:
            tap(sender, frame)
        for port in self.ports:
            if port is not sender:
                port._deliver(frame)
