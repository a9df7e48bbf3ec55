"""Devices a netif sends and receives through, and wrappers that stack on any of them.

A device is small: ``transmit(frame) -> bool`` (False: dropped, queue full), ``receive() -> list[bytes]`` (the frames
that arrived, drained), ``fileno()`` (a descriptor that becomes readable when frames wait, or None), ``poll(now)`` and
``poll_at()`` for devices with timers of their own, ``set_waker(fn)`` for in-process devices to wake a sleeping loop,
an ``mtu``, a ``link_kind`` (Ethernet frames, or bare IP packets on a point-to-point link) and ``close()``.
:class:`~lwipy.netif.device.Device` gives the defaults; what the stack itself reads is
:class:`lwipy.core.device.NetDevice`.
"""

from .device import Device
from .faults import FaultyDevice
from .pcap import PcapDevice, PcapWriter
from .tap import TapDevice
from .tun import TunDevice
from .txqueue import TxQueue
from .virtual import VirtualHub, VirtualPort

__all__ = ["Device", "FaultyDevice", "PcapDevice", "PcapWriter", "TapDevice", "TunDevice", "TxQueue", "VirtualHub",
           "VirtualPort"]
