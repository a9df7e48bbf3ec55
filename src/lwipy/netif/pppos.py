"""PPP over serial (lwIP's PPPoS): a point-to-point device whose link is a byte stream -- a pty, a real port
(pyserial, the optional ``serial`` extra) or an in-process :class:`SerialPipe` -- carrying one
:class:`~lwipy.ppp.pcb.PppPcb`.

::

    netif, dev = pppos_create(stack, PtySerial.open("/dev/pts/3"), PppSettings(user="u", password="p"))
    # the loop drives it; PppStatus(err=0) and PppPhaseChanged events come on stack.events

The serial object has ``read() -> bytes`` (non-blocking, b"" when nothing waits), ``write(bytes) -> int`` (non-blocking,
what it took), ``fileno()`` and ``close()``; :class:`PtySerial`, :class:`PySerial` and :class:`SerialPipe` are such.
What ``write`` does not take at once waits in the device and goes out on later polls.
"""

from __future__ import annotations

import os
import random
import termios
import tty
from collections import deque
from typing import Any, Callable

from ..core.device import POINT_TO_POINT
from ..ppp.pcb import PppPcb, PppSettings
from .device import Device

__all__ = ["PpposDevice", "PtySerial", "PySerial", "SerialPipe", "pppos_create"]


class PtySerial:
    """A tty (a pty's master or slave, or a serial device node) opened raw and non-blocking."""

    def __init__(self, fd: int, own: bool = True) -> None:
        self.fd = fd
        self.own = own
        self.hangup = False
        os.set_blocking(fd, False)
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error:
            pass

    @classmethod
    def open(cls, path: str) -> "PtySerial":
        return cls(os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))

    def read(self) -> bytes:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return b""
        except OSError:  # EIO: the other side of the pty closed
            self.hangup = True
            return b""
        if not data:
            self.hangup = True
        return data

    def write(self, data: bytes | memoryview) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError:
            self.hangup = True
            return len(data)

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.own and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PySerial:
    """A real serial port through pyserial (``pip install lwipy[serial]``): ``PySerial("/dev/ttyUSB0", 115200)``, or
    a pyserial URL (``PySerial("socket://host:port")``).  A port without a descriptor is polled every 10 ms."""

    def __init__(self, port: str, baudrate: int = 115200, **kwargs: Any) -> None:
        import serial  # optional dependency

        # a device path, or one of pyserial's URLs (rfc2217://, socket://, loop://)
        # (a device is written without blocking: pyserial returns what the driver took; the URL handlers have no
        # such mode, and queue or send everything)
        self.port = serial.serial_for_url(port, baudrate, timeout=0, write_timeout=None if "://" in port else 0,
                                          **kwargs)
        self.hangup = False

    def read(self) -> bytes:
        n = self.port.in_waiting
        return self.port.read(n) if n else b""

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self.port.write(bytes(data)) or 0
        except Exception:  # serial.SerialTimeoutException with write_timeout=0: nothing taken
            return 0

    def fileno(self) -> int | None:
        try:
            return self.port.fileno()
        except Exception:
            return None

    def close(self) -> None:
        self.port.close()


class SerialPipe:
    """One end of an in-process serial line (:meth:`pair`), for simulations: what one end writes the other reads;
    with probability ``corrupt`` a write (the driver writes a frame at a time) has one byte changed, as line noise
    would (``corrupted`` counts them).  ``waker`` is called when bytes
    arrive (a loop asleep on this end)."""

    def __init__(self, rng: random.Random | None = None, corrupt: float = 0.0) -> None:
        self.peer: SerialPipe | None = None
        self.inbox: deque[bytes] = deque()
        self.rng = rng or random.Random(0)
        self.corrupt = corrupt
        self.corrupted = 0
        self.hangup = False
        self.waker: Callable[[], None] | None = None

    @classmethod
    def pair(cls, seed: int = 0, corrupt: float = 0.0) -> tuple["SerialPipe", "SerialPipe"]:
        a, b = cls(random.Random(seed), corrupt), cls(random.Random(seed + 1), corrupt)
        a.peer, b.peer = b, a
        return a, b

    def read(self) -> bytes:
        if not self.inbox:
            return b""
        data = b"".join(self.inbox)
        self.inbox.clear()
        return data

    def write(self, data: bytes | memoryview) -> int:
        peer = self.peer
        if peer is None:
            return len(data)
        data = bytes(data)
        if self.corrupt and data and self.rng.random() < self.corrupt:
            buf = bytearray(data)
            i = self.rng.randrange(len(buf))
            buf[i] ^= self.rng.randrange(1, 256)  # a byte hit by line noise: never left as it was
            self.corrupted += 1
            data = bytes(buf)
        peer.inbox.append(data)
        if peer.waker is not None:
            peer.waker()
        return len(data)

    def fileno(self) -> None:
        return None

    def close(self) -> None:
        if self.peer is not None:
            self.peer.hangup = True
            self.peer.peer = None
        self.peer = None


class PpposDevice(Device):
    """The netif's device: IP packets in and out of a :class:`~lwipy.ppp.pcb.PppPcb`, serial bytes to and from
    ``serial``.  The link comes up when IPCP or IPV6CP does (the session sets it on the netif)."""

    link_kind = POINT_TO_POINT
    link_up = False

    def __init__(self, serial: Any, settings: PppSettings | None = None, *, rng: random.Random | None = None,
                 clock: Callable[[], float] | None = None, mtu: int | None = None) -> None:
        import time

        self.serial = serial
        self._clock = clock or time.monotonic
        self._txbuf = bytearray()
        self.mtu = mtu or (settings.mru if settings is not None else 1500)
        self.pcb = PppPcb(settings or PppSettings(), self._write, now=lambda: self._clock(), rng=rng)
        self.hung_up = False

    def _write(self, data: bytes) -> None:
        if self._txbuf:
            self._txbuf += data
            self._flush()
            return
        n = self.serial.write(data)
        if n < len(data):
            self._txbuf += data[n:]

    def _flush(self) -> None:
        while self._txbuf:
            n = self.serial.write(bytes(self._txbuf[:65536]))
            if not n:
                return
            del self._txbuf[:n]

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if len(self._txbuf) > 1 << 20:  # a stalled line: drop rather than queue without bound
            return False
        return self.pcb.output_ip(frame)

    def receive(self) -> list[bytes]:
        data = self.serial.read()
        packets = self.pcb.input(data) if data else []
        if self.serial.hangup and not self.hung_up:
            self.hung_up = True
            self.pcb.hangup()
        return packets

    def fileno(self) -> int | None:
        return self.serial.fileno()

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        if hasattr(self.serial, "waker"):
            self.serial.waker = waker

    def set_clock(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def poll(self, now: float) -> None:
        if self._txbuf:
            self._flush()
        self.pcb.poll(now)

    def pending(self) -> bool:
        """Whether bytes wait to be read without a descriptor to say so (an in-process pipe, a polled port)."""
        inbox = getattr(self.serial, "inbox", None)
        if inbox is not None:
            return bool(inbox)
        port = getattr(self.serial, "port", None)
        return bool(port is not None and self.serial.fileno() is None and port.in_waiting)

    def poll_at(self) -> float | None:
        due = self.pcb.poll_at()
        if self.serial.fileno() is None and not hasattr(self.serial, "inbox"):
            soon = self._clock() + 0.01  # nothing to wait on: poll the port
            due = soon if due is None else min(due, soon)
        if self._txbuf:
            soon = self._clock() + 0.002
            due = soon if due is None else min(due, soon)
        return due

    def close(self) -> None:
        self.serial.close()


def pppos_create(stack: Any, serial: Any, settings: PppSettings | None = None, *, name: str | None = None,
                 connect: bool = True, clock: Callable[[], float] | None = None,
                 default: bool | None = None) -> tuple[Any, PpposDevice]:
    """lwIP's ``pppos_create`` + ``ppp_connect``/``ppp_listen``: a point-to-point netif on ``stack`` carried by
    ``serial``, its session started unless ``connect`` is False (then call ``device.pcb.connect()``).  Without
    ``settings``, :meth:`PppSettings.from_config` of the stack's Config; settings the Config leaves out (PPP itself,
    the server role, PAP/CHAP) raise ValueError.  Returns the netif and the device (``device.pcb`` is the session)."""
    settings = settings or PppSettings.from_config(stack.config)
    settings.check(stack.config)
    dev = PpposDevice(serial, settings, rng=random.Random(stack.rng.getrandbits(64)), clock=clock)
    netif = stack.add_netif(dev, name=name, default=default)
    pcb = dev.pcb
    pcb.netif = netif
    pcb.stack = stack
    pcb.emit = stack.events.emit
    if connect:
        pcb.connect()
    return netif, dev
