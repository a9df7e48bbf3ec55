"""Writing frames to pcap files (the classic libpcap format) that Wireshark and tshark read: LINKTYPE_ETHERNET for
Ethernet links, LINKTYPE_RAW (bare IPv4 and IPv6 packets) for point-to-point ones."""

from __future__ import annotations

import struct
import time
from typing import BinaryIO, Callable

from ..core.device import POINT_TO_POINT
from .device import Device, Wrapper

__all__ = ["PcapWriter", "PcapDevice", "LINKTYPE_ETHERNET", "LINKTYPE_RAW", "linktype_of"]

_FILE_HDR = struct.Struct("<IHHiIII")
_REC_HDR = struct.Struct("<IIII")
_MAGIC_USEC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # each record an IPv4 or IPv6 packet, the version nibble telling which (tcpdump.org linktypes)


def linktype_of(link_kind: str) -> int:
    """The pcap link type of a device's ``link_kind``."""
    return LINKTYPE_RAW if link_kind == POINT_TO_POINT else LINKTYPE_ETHERNET


class PcapWriter:
    """A pcap file open for writing; ``write(frame, ts)`` adds one record (flushed, so a crash loses nothing).
    ``linktype`` says what the records are: :data:`LINKTYPE_ETHERNET` frames or :data:`LINKTYPE_RAW` IP packets."""

    def __init__(self, path_or_file: str | BinaryIO, snaplen: int = 262144,
                 linktype: int = LINKTYPE_ETHERNET) -> None:
        if isinstance(path_or_file, str):
            # unbuffered, each record one write: a process forked meanwhile (pyroute2's namespace helper) holds no
            # copy of a half-written record to flush into the file when it exits
            self.file: BinaryIO = open(path_or_file, "wb", buffering=0)
            self._owned = True
        else:
            self.file = path_or_file
            self._owned = False
        self.snaplen = snaplen
        self.linktype = linktype
        self.file.write(_FILE_HDR.pack(_MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype))
        self.file.flush()
        self.count = 0

    def write(self, frame: bytes | bytearray | memoryview, ts: float) -> None:
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec >= 1000000:
            sec, usec = sec + 1, usec - 1000000
        captured = frame[:self.snaplen]
        self.file.write(_REC_HDR.pack(sec, usec, len(captured), len(frame)) + bytes(captured))
        self.file.flush()
        self.count += 1

    def close(self) -> None:
        if self._owned and not self.file.closed:
            self.file.close()


class PcapDevice(Wrapper):
    """Record every frame ``inner`` sends and receives.  Timestamps come from ``clock`` (wall time by default; a
    simulation passes its virtual clock, offset so the capture starts at the epoch).  A file named by its path gets
    the link type of ``inner`` (raw IP for a point-to-point device); a writer given is used as it is."""

    def __init__(self, inner: Device, writer: PcapWriter | str, clock: Callable[[], float] = time.time,
                 close_writer: bool | None = None) -> None:
        super().__init__(inner)
        self.writer = PcapWriter(writer, linktype=linktype_of(inner.link_kind)) if isinstance(writer, str) else writer
        self._close_writer = isinstance(writer, str) if close_writer is None else close_writer
        self.clock = clock

    @property
    def checksum_offload(self) -> bool:  # type: ignore[override]
        return self.inner.checksum_offload  # recorded as sent: partial checksums, which tshark does not check

    @property
    def gso_max_size(self) -> int:  # type: ignore[override]
        return self.inner.gso_max_size

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        self.writer.write(frame, self.clock())
        return self.inner.transmit(frame)

    def transmit_offload(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int,
                         gso_size: int = 0) -> bool:
        self.writer.write(frame, self.clock())
        return self.inner.transmit_offload(frame, csum_start, csum_offset, gso_size)

    def receive(self) -> list[bytes]:
        frames = self.inner.receive()
        if frames:
            ts = self.clock()
            for frame in frames:
                self.writer.write(getattr(frame, "frame", frame), ts)  # an RxOffload: its frame
        return frames

    def close(self) -> None:
        if self._close_writer:
            self.writer.close()
        self.inner.close()
