"""A Linux TAP device: the stack's frames go to the kernel's ``tapN`` interface and back.

The device must be named; it is opened if it exists (``ip tuntap add dev tap0 mode tap``, so an unprivileged user
who owns it may open it) and created for the life of the descriptor otherwise (needs CAP_NET_ADMIN).  ``netns`` opens
a TAP that lives in a network namespace (``ip netns add NAME``) from a process outside it: the open happens on a
short-lived thread that enters the namespace, and the descriptor keeps working after the thread is gone.

With ``offload`` the TAP speaks the virtio-net header (``IFF_VNET_HDR``) and asks the kernel for checksum and TCP
segmentation offload (``TUNSETOFFLOAD``), as a virtual machine's NIC does.  The kernel then hands over TCP segments of
up to 64 KiB whose checksums it has not computed (it trusts its own memory) and accepts such segments from the stack,
cutting them to the MSS itself when they leave a real wire.  Frames the kernel marks neither as partial nor as
verified (forwarded ones) have their TCP and UDP checksums checked here, as a NIC would, so the stack may skip them.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from typing import Any, Callable, Iterator, TypeVar

from ..core.device import RxOffload
from ..wire.checksum import fold, ones_sum
from .device import Device
from .txqueue import TxRing, TxRingDriver

__all__ = ["TapDevice", "in_netns", "vnet_header"]

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
VNET_HDR = struct.Struct("=BBHHHH")  # virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_F_NEEDS_CSUM, VNET_F_DATA_VALID = 1, 2
VNET_GSO_TCPV4, VNET_GSO_TCPV6 = 1, 4
_NO_OFFLOAD = bytes(VNET_HDR.size)
_VNET_SIZE = VNET_HDR.size
_GSO_MAX = 65535
_VNET_READ = VNET_HDR.size + _GSO_MAX  # what a read with offload must have room for, besides the link header
SIOCGIFMTU = 0x8921
SIOCSIFMTU = 0x8922
CLONE_NEWNET = 0x40000000
_BATCH = 512
T = TypeVar("T")


def _user_name() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


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
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise OSError(errno.ENOENT, f"there is no network namespace {netns!r}: create it with "
                              f"'ip netns add {netns}' (as root, or with sudo)") from None
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    hint = (f": entering it needs root (CAP_SYS_ADMIN); run as root, or start the program inside it "
                            f"with 'ip netns exec {netns} ...' and no --netns") if err == errno.EPERM else ""
                    raise OSError(err, f"setns into {path}: {os.strerror(err)}{hint}")
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


class TapDevice(TxRingDriver, Device):
    """An open TAP interface.  ``mtu`` sets the interface MTU when given, else it is read from the interface."""

    _MODE = IFF_TAP  # TUNSETIFF's mode flag (a TUN subclass changes it, and what follows from it)
    _LINK_HEADER = 18  # an Ethernet header with a VLAN tag: the room a read needs beyond the MTU
    _KIND = "TAP"

    def __init__(self, name: str, mtu: int | None = None, netns: str | None = None, offload: bool = False, *,
                 tx_queue: int | None = None, tx_rate: float = 100e6, create: bool = True,
                 kernel_address: str = "10.0.0.1/24") -> None:
        """``create`` False refuses a device that does not exist yet (ENODEV, saying how to make one) where the
        kernel would otherwise make a transient one for a root caller, gone when it closes.
        ``tx_queue`` bounds the driver's transmit queue to that many frames, written to the kernel ``tx_rate``
        bits a second (a Wi-Fi or Ethernet driver's TX buffers): a frame finding it full is refused, and a UDP
        ``sendto`` fails with ENOMEM (lwIP's ERR_MEM) until the queue drains.
        ``kernel_address`` is the address the ENODEV message suggests for the kernel's side of the link."""
        if len(name.encode()) >= 16:
            raise ValueError(f"interface name {name!r} is longer than 15 bytes")
        self.name = name
        self.netns = netns
        self.offload = offload
        self.create = create
        self.kernel_address = kernel_address
        self.fd, self.mtu = in_netns(netns, lambda: self._open(mtu))
        self.checksum_offload = offload
        self.gso_max_size = _GSO_MAX if offload else 0
        self.rx_dropped = 0
        self.tx_dropped = 0
        self.rx_csum_errors = 0  # frames the "NIC" dropped for a bad TCP/UDP checksum (offload only)
        self.rx_gso = self.tx_gso = 0  # super-segments received and sent (offload only)
        #: the bounded transmit queue, or None (frames go to the kernel at once)
        self.tx_ring = TxRing(self._write_queued, limit=tx_queue, rate=tx_rate) if tx_queue is not None else None
        # tx3: transmit writes the frame itself (no queue, no virtio-net header, _write as it is here); off9: with
        # offload, after an empty virtio-net header
        direct = self.tx_ring is None and type(self)._write is TapDevice._write
        self._plain = direct and not offload
        self._vnet_plain = direct and offload

    def _how_to_create(self) -> str:
        mode = self._KIND.lower()
        ip = f"ip -n {self.netns}" if self.netns else "ip"
        user = os.environ.get("SUDO_USER") or _user_name()
        return (f"create it (as root, or with sudo): {ip} tuntap add dev {self.name} mode {mode} user {user}; "
                f"{ip} addr add {self.kernel_address} dev {self.name}; {ip} link set {self.name} up")

    def _open(self, mtu: int | None) -> tuple[int, int]:
        where = f" in network namespace {self.netns!r}" if self.netns else ""
        if not self.create:
            try:
                socket.if_nametoindex(self.name)
            except OSError:
                raise OSError(errno.ENODEV, f"there is no {self._KIND} {self.name!r}{where}: "
                              f"{self._how_to_create()}") from None
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            hint = ("run as root, or give yourself access to /dev/net/tun" if e.errno == errno.EACCES else
                    "load the tun module (modprobe tun, as root)")
            raise OSError(e.errno, f"cannot open /dev/net/tun ({e.strerror}): {hint}") from e
        try:
            flags = self._MODE | IFF_NO_PI | (IFF_VNET_HDR if self.offload else 0)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", self.name.encode(), flags))
            if self.offload:
                fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR.size))
                fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
        except OSError as e:
            os.close(fd)
            mode = self._KIND.lower()
            if e.errno == errno.EPERM:
                hint = (f": run as root, or (re)create it for your user; "
                        f"{self._how_to_create()}" if not self.create else
                        f" (create it with 'ip tuntap add dev NAME mode {mode} user YOU', or run as root)")
            elif e.errno == errno.EBUSY:
                hint = f": another process has it open (stop it), or it is not a {mode} device"
            elif e.errno == errno.EINVAL:
                hint = f": it is not a {mode} device, or the name is taken by another kind of interface"
            else:
                hint = ""
            raise OSError(e.errno, f"cannot attach to {self._KIND} {self.name!r}{where}: {e.strerror}{hint}") from e
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            if mtu is not None:
                fcntl.ioctl(s, SIOCSIFMTU, struct.pack("16si", self.name.encode(), mtu))
            got = fcntl.ioctl(s, SIOCGIFMTU, struct.pack("16si", self.name.encode(), 0))
        return fd, struct.unpack("16si", got)[1]

    def fileno(self) -> int:
        return self.fd

    _plain = _vnet_plain = False  # (a subclass that opens the device its own way keeps the general way)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _TX_FD_FROM:
            self._tx_fd_again()

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in _TX_FD_FROM:
            self._tx_fd_again()

    def _tx_fd_again(self) -> None:
        """way13: :attr:`NetDevice.tx_fd <lwipy.core.device.NetDevice.tx_fd>`, the descriptor while :meth:`transmit`
        is this class's (not a subclass's, not one set on the instance) and takes its plain way (``_plain``) to an open
        descriptor, else None; worked out again whenever one of those or the descriptor is written (``__setattr__``,
        ``__delattr__``)."""
        fd = getattr(self, "fd", -1)
        plain = fd >= 0 and self._plain and type(self).transmit is _TRANSMIT and "transmit" not in self.__dict__
        object.__setattr__(self, "tx_fd", fd if plain else None)

    def transmit_failed(self, error: OSError) -> bool:
        return self._write_failed(error)

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if self._plain:  # tx3: the common case in one Python call a frame (the sender writes every segment)
            try:
                os.write(self.fd, frame)
                return True
            except OSError as e:
                return self._write_failed(e)
        if self._vnet_plain:  # off9: a whole frame (checksums done) on a TAP with offload: no notes for the kernel
            try:
                os.writev(self.fd, (_NO_OFFLOAD, frame))
                return True
            except OSError as e:
                return self._write_failed(e)
        if self.tx_ring is not None:
            return self.tx_ring.offer(_NO_OFFLOAD + bytes(frame) if self.offload else frame)
        return self._write(frame, _NO_OFFLOAD if self.offload else None)

    def _write_queued(self, data: bytes) -> None:
        self._write(data, None)  # in offload mode the virtio-net header is in the queued bytes already

    def transmit_offload(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int,
                         gso_size: int = 0) -> bool:
        if not self.offload:
            raise ValueError(f"{self!r} was opened without offload")
        hdr = vnet_header(frame, csum_start, csum_offset, gso_size, self._is_ipv6(frame))
        if gso_size:
            self.tx_gso += 1
        if self.tx_ring is not None:
            return self.tx_ring.offer(hdr + bytes(frame))
        return self._write(frame, hdr)

    def transmit_gso(self, head: bytes | bytearray | memoryview, payload: bytes | bytearray | memoryview,
                     csum_start: int, csum_offset: int, gso_size: int = 0) -> bool:
        """The frame ``head + payload`` in one ``writev`` after its virtio-net header: the kernel gathers the
        pieces, so the stack's send buffer is never copied into a frame of its own."""
        if not self.offload:
            raise ValueError(f"{self!r} was opened without offload")
        hdr = vnet_header(head, csum_start, csum_offset, gso_size, self._is_ipv6(head))
        if gso_size:
            self.tx_gso += 1
        if self.tx_ring is not None:
            return self.tx_ring.offer(hdr + bytes(head) + bytes(payload))
        try:
            os.writev(self.fd, (hdr, head, payload))
            return True
        except OSError as e:
            return self._write_failed(e)

    @staticmethod
    def _is_ipv6(frame: bytes | bytearray | memoryview) -> bool:
        return frame[12:14] == b"\x86\xdd"

    @staticmethod
    def _checksum_ok(frame: memoryview) -> bool:
        return _transport_checksum_ok(frame)

    def _write(self, frame: bytes | bytearray | memoryview, vnet_hdr: bytes | None) -> bool:
        """One frame to the kernel (after its virtio-net header in offload mode); False when it was refused."""
        try:
            if vnet_hdr is None:
                os.write(self.fd, frame)
            else:
                os.writev(self.fd, (vnet_hdr, frame))
            return True
        except OSError as e:
            return self._write_failed(e)

    def _write_failed(self, error: OSError) -> bool:
        """A write's ``error``: False, counted, for a full queue (EAGAIN), an interface that is down (EIO) or a
        frame it refuses; anything else is raised again."""
        if isinstance(error, BlockingIOError) or error.errno in (errno.EIO, errno.ENOBUFS, errno.EINVAL):
            self.tx_dropped += 1
            return False
        raise error

    #: frames() reads each frame when the one before was taken, with offload too (off9: the virtio-net header taken
    #: off each read as it comes, so a lone request is answered before the empty read, as without offload)
    lazy_frames = True
    frames_in_descriptor = True  # (frames() reads one frame a read, and keeps none)

    @property
    def frame_read_size(self) -> int | None:  # type: ignore[override]
        return None if self.offload else self.mtu + self._LINK_HEADER  # one read, one frame (no virtio-net header)

    def frames(self) -> Iterator[Any]:
        """:meth:`receive`, reading each frame when the previous one was taken: a lone frame (a ping, a request) is
        answered before the empty read that ends the batch, not after it (:attr:`lazy_frames`).
        Not a generator itself: the reading generator is handed over, one less layer between a wake-up and its read
        (each costs microseconds when the process wakes cold)."""
        if self.offload:
            return self._offload_reads()
        return self._reads(self.mtu + self._LINK_HEADER)

    def _reads(self, size: int) -> Iterator[bytes]:
        """Up to a batch of reads of at most ``size`` bytes, until the kernel has nothing more (EAGAIN) or the
        interface is down (EIO)."""
        read = os.read
        fd = self.fd
        for _ in range(_BATCH):
            try:
                data = read(fd, size)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EIO:  # the interface is down: nothing to read
                    return
                raise
            yield data

    def _offload_reads(self) -> Iterator[Any]:
        """:meth:`_reads` with offload: each read's virtio-net header taken off as the frame is asked for.  A frame
        of at most the MTU is handed over as bytes of its own (as a TAP without offload reads it: the stack's fast
        paths slice bytes more cheaply than a view), a super-segment as a view of the read.  A partial checksum
        (VIRTIO_NET_HDR_F_NEEDS_CSUM: Linux's CHECKSUM_PARTIAL, data the kernel vouches for) and a super-segment
        come as :class:`~lwipy.core.device.RxOffload` with their notes, for a stack that forwards them whole; a
        frame the kernel marks neither partial nor verified (DATA_VALID) has its TCP or UDP checksum checked here, as
        a NIC would, and is dropped when wrong."""
        for data in self._reads(_VNET_READ + self._LINK_HEADER):
            flags = data[0]
            if data[1]:  # gso_type: a super-segment (GRO), a view of the read (no copy of up to 64 KiB)
                self.rx_gso += 1
                _, _, _, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(data)
                yield RxOffload(memoryview(data)[_VNET_SIZE:], csum_start, csum_offset, gso_size)
            elif flags & VNET_F_NEEDS_CSUM:  # a partial checksum: the notes go along
                _, _, _, _, csum_start, csum_offset = VNET_HDR.unpack_from(data)
                yield RxOffload(data[_VNET_SIZE:], csum_start, csum_offset)
            elif flags & VNET_F_DATA_VALID:
                yield data[_VNET_SIZE:]
            else:
                frame = data[_VNET_SIZE:]
                if self._checksum_ok(frame):
                    yield frame
                else:
                    self.rx_csum_errors += 1
                    self.rx_dropped += 1

    def receive(self) -> list[Any]:
        return list(self.frames())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        where = f" in {self.netns}" if self.netns else ""
        return f"<{type(self).__name__} {self.name}{where} mtu {self.mtu}{' offload' if self.offload else ''}>"


_TRANSMIT = TapDevice.transmit
#: way13: the fields TapDevice.tx_fd follows (its descriptor, the plain way's flag, a transmit set on the instance)
_TX_FD_FROM = frozenset(("fd", "_plain", "transmit"))


def vnet_header(frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int, gso_size: int,
                ipv6: bool) -> bytes:
    """The virtio-net header (``struct virtio_net_hdr``, native byte order as a TAP without TUNSETVNETLE reads it) for
    ``frame`` whose transport checksum is partial (``VIRTIO_NET_HDR_F_NEEDS_CSUM``: the field at ``csum_start +
    csum_offset`` holds the pseudo-header sum, the kernel adds the bytes from ``csum_start`` on).  With ``gso_size``
    the frame is a TCP super-segment (``VIRTIO_NET_HDR_GSO_TCPV4``, ``_TCPV6`` when ``ipv6``) the kernel cuts into
    segments of ``gso_size`` data bytes; ``hdr_len`` counts the headers every segment repeats, up to the end of the
    TCP header at ``csum_start`` (only that header must lie in ``frame``: it may be the headers alone)."""
    if not gso_size:
        return VNET_HDR.pack(VNET_F_NEEDS_CSUM, 0, 0, 0, csum_start, csum_offset)
    tcp_hlen = (frame[csum_start + 12] >> 4) * 4
    return VNET_HDR.pack(VNET_F_NEEDS_CSUM, VNET_GSO_TCPV6 if ipv6 else VNET_GSO_TCPV4, csum_start + tcp_hlen,
                         gso_size, csum_start, csum_offset)


def _transport_checksum_ok(frame: memoryview) -> bool:
    """The check a NIC with receive checksum offload makes: the TCP or UDP checksum of an unfragmented IPv4 or IPv6
    (no extension headers) packet.  Anything else passes unchecked, for the stack to judge."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00" and len(frame) > 23 and frame[23] != 6 and frame[23] != 17:
        return True  # (off9: an untagged IPv4 packet of another protocol, the kernel's ping, at once)
    if ethertype == b"\x81\x00":
        frame, ethertype = frame[4:], frame[16:18]
    if ethertype == b"\x08\x00":
        return ip_checksum_ok(frame[14:], 4)
    if ethertype == b"\x86\xdd":
        return ip_checksum_ok(frame[14:], 6)
    return True


def ip_checksum_ok(packet: memoryview, version: int) -> bool:
    """:func:`_transport_checksum_ok` for an IPv4 (``version`` 4) or IPv6 packet without a link header."""
    if version == 4 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        total = int.from_bytes(packet[2:4], "big")
        proto = packet[9]
        if proto not in (6, 17) or packet[6:8] != b"\x00\x00" and packet[6:8] != b"\x40\x00" \
                or total < ihl + 8 or total > len(packet):
            return True  # not TCP/UDP, a fragment, or malformed: the stack decides
        segment = packet[ihl:total]
        if proto == 17 and segment[6:8] == b"\x00\x00":
            return True  # UDP without a checksum
        pseudo = ones_sum(packet[12:20]) + proto + len(segment)
    elif version == 6 and len(packet) >= 40:
        proto = packet[6]
        length = int.from_bytes(packet[4:6], "big")
        if proto not in (6, 17) or length < 8 or 40 + length > len(packet):
            return True
        segment = packet[40:40 + length]
        pseudo = ones_sum(packet[8:40]) + proto + length
    else:
        return True
    return fold(pseudo + ones_sum(segment)) == 0xFFFF

