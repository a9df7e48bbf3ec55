"""A Linux TAP device: the stack's frames go to the kernel's ``tapN`` interface and back.

The device must be named; it is opened if it exists (``ip tuntap add dev tap0 mode tap``, so an unprivileged user
who owns it may open it) and created for the life of the descriptor otherwise (needs CAP_NET_ADMIN).  ``netns`` opens
a TAP that lives in a network namespace (``ip netns add NAME``) from a process outside it: the open happens on a
short-lived thread that enters the namespace, and the descriptor keeps working after the thread is gone.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from typing import Callable, TypeVar

from .device import Device

__all__ = ["TapDevice", "in_netns"]

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SIOCGIFMTU = 0x8921
SIOCSIFMTU = 0x8922
CLONE_NEWNET = 0x40000000
_BATCH = 512
T = TypeVar("T")


def in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` with this thread in network namespace ``netns`` (a name under /run/netns, or a path); None runs it
    here.  Only the helper thread changes namespace; the caller's threads stay where they are."""
    if netns is None:
        return fn()
    path = netns if "/" in netns else f"/run/netns/{netns}"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as e:  # handed to the caller
            result["error"] = e

    thread = threading.Thread(target=run, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]


class TapDevice(Device):
    """An open TAP interface.  ``mtu`` sets the interface MTU when given, else it is read from the interface."""

    def __init__(self, name: str, mtu: int | None = None, netns: str | None = None) -> None:
        if len(name.encode()) >= 16:
            raise ValueError(f"interface name {name!r} is longer than 15 bytes")
        self.name = name
        self.netns = netns
        self.fd, self.mtu = in_netns(netns, lambda: self._open(mtu))
        self.rx_dropped = 0
        self.tx_dropped = 0

    def _open(self, mtu: int | None) -> tuple[int, int]:
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise OSError(e.errno, f"cannot open /dev/net/tun ({e.strerror}); is the tun module loaded?") from e
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", self.name.encode(), IFF_TAP | IFF_NO_PI))
        except OSError as e:
            os.close(fd)
            hint = " (create it with 'ip tuntap add dev NAME mode tap user YOU', or run as root)" \
                if e.errno in (errno.EPERM, errno.EBUSY) else ""
            raise OSError(e.errno, f"cannot attach to TAP {self.name!r}: {e.strerror}{hint}") from e
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            if mtu is not None:
                fcntl.ioctl(s, SIOCSIFMTU, struct.pack("16si", self.name.encode(), mtu))
            got = fcntl.ioctl(s, SIOCGIFMTU, struct.pack("16si", self.name.encode(), 0))
        return fd, struct.unpack("16si", got)[1]

    def fileno(self) -> int:
        return self.fd

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        try:
            os.write(self.fd, frame)
            return True
        except BlockingIOError:
            self.tx_dropped += 1
            return False
        except OSError as e:
            if e.errno in (errno.EIO, errno.ENOBUFS, errno.EINVAL):  # interface down, or a frame it refuses
                self.tx_dropped += 1
                return False
            raise

    def receive(self) -> list[bytes]:
        frames = []
        read = os.read
        fd = self.fd
        size = self.mtu + 18
        for _ in range(_BATCH):
            try:
                frames.append(read(fd, size))
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EIO:  # the interface is down: nothing to read
                    break
                raise
        return frames

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        where = f" in {self.netns}" if self.netns else ""
        return f"<TapDevice {self.name}{where} mtu {self.mtu}>"
