"""Devices for loops to drive: the core's contract (:class:`~lwipy.core.device.NetDevice`) plus receiving, with
do-nothing defaults."""

from __future__ import annotations

from typing import Callable, Iterator

from ..core.device import ETHERNET, POINT_TO_POINT, NetDevice

__all__ = ["Device", "Wrapper", "ETHERNET", "POINT_TO_POINT"]


class Device(NetDevice):
    """Base class of devices: override ``transmit`` and ``receive`` at least.  What the stack reads (``mtu``,
    ``link_kind``, ``link_up``, the offloads, ``interface_id``) and ``transmit``/``transmit_offload``/
    ``add_multicast``/``remove_multicast`` are :class:`~lwipy.core.device.NetDevice`'s; the rest is for the loop."""

    def receive(self) -> list[bytes]:
        return []

    #: :meth:`frames` reads one frame each time the next is asked for, and the frames not asked for stay in the
    #: device: a loop may stop taking them at any point (StackLoop does after ``BATCH_TIME``) and read on next turn
    lazy_frames: bool = False

    def frames(self) -> Iterator[bytes]:
        """What :meth:`receive` returns, one frame at a time, for a loop that handles each before asking for the
        next.  A driver that reads a descriptor overrides it to read lazily (and says so in :attr:`lazy_frames`),
        so that a lone frame is handled (and answered) before the read that finds nothing more; the batch is the
        same.  This default reads everything at once (a loop must then take all of it)."""
        return iter(self.receive())

    #: with :attr:`lazy_frames`, a device whose every frame is one ``read()`` of at most this many bytes from
    #: :meth:`fileno` (a TAP or TUN without offload): a loop woken by the descriptor makes that first read itself,
    #: with nothing between the wake-up and the stack.  None: the loop asks :meth:`frames`
    frame_read_size: int | None = None

    #: with :attr:`lazy_frames`, every frame :meth:`frames` has not handed out waits in :meth:`fileno` (the device
    #: keeps none itself), so the descriptor is readable while one does (level triggered): a loop that answered the
    #: frame that woke it may sleep again at once, as after a :attr:`frame_read_size` device's frame (a TAP with
    #: offload, whose reads carry a virtio-net header)
    frames_in_descriptor: bool = False

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

    @property
    def link_kind(self) -> str:  # type: ignore[override]
        return self.inner.link_kind

    @property
    def interface_id(self) -> bytes | None:  # type: ignore[override]
        return self.inner.interface_id

    # A wrapper hides the inner device's offloads unless it says it passes them on (the stack then computes and
    # checks every checksum itself, and never hands over a super-segment the wrapper would not understand).
    checksum_offload = False
    gso_max_size = 0

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        return self.inner.transmit(frame)

    def receive(self) -> list[bytes]:
        return self.inner.receive()

    def add_multicast(self, mac: bytes) -> None:
        self.inner.add_multicast(mac)

    def remove_multicast(self, mac: bytes) -> None:
        self.inner.remove_multicast(mac)

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

    def __getattr__(self, name: str):  # the inner device's own attributes (counters, names)
        return getattr(self.inner, name)
