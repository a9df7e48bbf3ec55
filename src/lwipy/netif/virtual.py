"""An in-process Ethernet segment: a hub that copies every frame to every other port; or an in-process point-to-point
link (``VirtualHub(link_kind=POINT_TO_POINT)``, or :func:`p2p_link`): two ports carrying bare IP packets.

Any number of stacks (or test scripts) attach a :class:`VirtualPort` each (two at most on a point-to-point link).
Ports can be driven from one thread (:class:`~lwipy.sim.Simulation`) or from a loop per stack on its own thread:
delivery only appends to a deque and calls the port's waker.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from ..core.device import ETHERNET, POINT_TO_POINT
from .device import Device

__all__ = ["VirtualHub", "VirtualPort", "p2p_link"]


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

    @property
    def link_kind(self) -> str:  # type: ignore[override]
        return self.hub.link_kind

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if len(frame) > self.hub.mtu + self.hub.header_room:
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
    """A shared segment with an ``mtu`` (1500 by default; raise it for jumbo frames) and a receive queue per port.
    ``link_kind`` :data:`~lwipy.core.device.POINT_TO_POINT` makes it a point-to-point link: IP packets without a
    link header, and two ports."""

    def __init__(self, mtu: int = 1500, queue_len: int = 4096, link_kind: str = ETHERNET) -> None:
        if link_kind not in (ETHERNET, POINT_TO_POINT):
            raise ValueError(f"link kind {link_kind!r} is neither {ETHERNET!r} nor {POINT_TO_POINT!r}")
        self.mtu = mtu
        self.queue_len = queue_len
        self.link_kind = link_kind
        self.header_room = 18 if link_kind == ETHERNET else 0  # an Ethernet header with a VLAN tag
        self.ports: list[VirtualPort] = []
        self.taps: list[Callable[[VirtualPort, bytes], None]] = []
        self.forwarded = 0  # frames carried so far: a driver can tell whether anything moved

    def port(self, name: str | None = None) -> VirtualPort:
        if self.link_kind == POINT_TO_POINT and len(self.ports) >= 2:
            raise ValueError("a point-to-point link has two ends")
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


def p2p_link(mtu: int = 1500, queue_len: int = 4096) -> tuple[VirtualPort, VirtualPort]:
    """The two ends of a new in-process point-to-point link."""
    link = VirtualHub(mtu, queue_len, POINT_TO_POINT)
    return link.port("p2p-a"), link.port("p2p-b")
