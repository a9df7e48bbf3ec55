"""The device contract, with do-nothing defaults."""

from __future__ import annotations

from typing import Callable

__all__ = ["Device", "Wrapper"]


class Device:
    """Base class of devices: override ``transmit`` and ``receive`` at least."""

    mtu = 1500
    link_up = True
    checksum_offload = False
    """The device finishes the TCP and UDP checksums of frames given to :meth:`transmit_offload` and has checked
    those of the frames it delivers, as a NIC with checksum offload does (lwIP's ``NETIF_CHECKSUM_CTRL`` with the
    GEN/CHECK flags for TCP and UDP cleared): the stack then neither computes nor verifies them."""
    gso_max_size = 0
    """The largest IP packet the device cuts into TCP segments itself (TSO); 0 when it cannot."""

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        raise NotImplementedError

    def transmit_offload(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int,
                         gso_size: int = 0) -> bool:
        """Send ``frame`` whose transport checksum is left to the device (only when :attr:`checksum_offload`): the
        field at ``csum_start + csum_offset`` holds the pseudo-header sum, and the device completes it over the bytes
        from ``csum_start`` on (Linux's CHECKSUM_PARTIAL).  With ``gso_size`` the frame is a TCP super-segment the
        device cuts into segments of ``gso_size`` payload bytes."""
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

    # A wrapper hides the inner device's offloads unless it says it passes them on (the stack then computes and
    # checks every checksum itself, and never hands over a super-segment the wrapper would not understand).
    checksum_offload = False
    gso_max_size = 0

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
