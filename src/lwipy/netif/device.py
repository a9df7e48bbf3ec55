"""The device contract, with do-nothing defaults."""

from __future__ import annotations

from typing import Callable

__all__ = ["Device", "Wrapper"]


class Device:
    """Base class of devices: override ``transmit`` and ``receive`` at least."""

    mtu = 1500
    link_up = True

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        raise NotImplementedError

    def receive(self) -> list[bytes]:
        return []

    def fileno(self) -> int | None:
        return None

    def poll(self, now: float) -> None:
        pass

    def poll_at(self) -> float | None:
        return None

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        pass

    def set_clock(self, clock: Callable[[], float]) -> None:
        """The loop driving this device tells it its clock, so timed wrappers (faults) share the stack's time."""

    def close(self) -> None:
        pass


class Wrapper(Device):
    """A device around another one (pcap, faults): everything not overridden passes through."""

    def __init__(self, inner: Device) -> None:
        self.inner = inner

    @property
    def mtu(self) -> int:  # type: ignore[override]
        return self.inner.mtu

    @property
    def link_up(self) -> bool:  # type: ignore[override]
        return self.inner.link_up

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        return self.inner.transmit(frame)

    def receive(self) -> list[bytes]:
        return self.inner.receive()

    def fileno(self) -> int | None:
        return self.inner.fileno()

    def poll(self, now: float) -> None:
        self.inner.poll(now)

    def poll_at(self) -> float | None:
        return self.inner.poll_at()

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        self.inner.set_waker(waker)

    def set_clock(self, clock: Callable[[], float]) -> None:
        self.inner.set_clock(clock)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str):  # add_multicast and other optional hooks of the inner device
        return getattr(self.inner, name)
