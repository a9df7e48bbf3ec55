"""An in-process Ethernet segment: a hub that copies every frame to every other port; or an in-process point-to-point
link (``VirtualHub(link_kind=POINT_TO_POINT)``, or :func:`p2p_link`): two ports carrying bare IP packets.

Any number of stacks (or test scripts) attach a :class:`VirtualPort` each (two at most on a point-to-point link).
Ports can be driven from one thread (:class:`~lwipy.sim.Simulation`) or from a loop per stack on its own thread:
delivery only appends to a deque and calls the port's waker.

Three switches make it the segment a large fleet needs, each a feature real equipment has (all off by default):

- ``switch=True``: a learning bridge (IEEE 802.1D): a unicast frame to a MAC seen as a source on one port goes to that
  port only; broadcast, multicast and unknown unicast frames are flooded;
- ``isolation=True``: client isolation (a Wi-Fi access point's "AP isolation", a switch's isolated private-VLAN
  ports, RFC 5517): a frame from an ordinary port reaches only the uplink ports (``hub.port(name, uplink=True)``),
  never another ordinary port; frames from an uplink reach every port;
- ``dhcp_to_unicast=True``: DHCP broadcast-to-unicast conversion (enterprise access points' "DHCP broadcast
  suppression"): a broadcast DHCP reply (IPv4, UDP 67 to 68) goes only to the port that has the client hardware
  address (``chaddr``) as a source, when one has; others are flooded as usual.

On a plain hub every broadcast of every station reaches every other station, which makes n stations cost n² frame
deliveries; with the three on, a DHCP exchange costs a constant number per station (see ``Simulation.fleet``).
Taps (a pcap writer) see every frame sent, whatever its delivery.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from ..core.device import ETHERNET, POINT_TO_POINT
from .device import Device
from .txqueue import TxRing, TxRingDriver

__all__ = ["VirtualHub", "VirtualPort", "p2p_link"]


class VirtualPort(TxRingDriver, Device):
    """One station's attachment to a :class:`VirtualHub`."""

    def __init__(self, hub: "VirtualHub", name: str, uplink: bool = False, tx_queue: int | None = None,
                 tx_rate: float = 100e6) -> None:
        self.hub = hub
        self.name = name
        #: an uplink port of an isolating hub: it hears every port and every port hears it
        self.uplink = uplink
        self.rx: deque[bytes] = deque()
        self.dropped = 0
        self._waker: Callable[[], None] | None = None
        #: the driver's bounded transmit queue (``tx_queue`` frames drained at ``tx_rate`` bit/s), or None
        self.tx_ring = TxRing(self._send, limit=tx_queue, rate=tx_rate) if tx_queue is not None else None

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
        if self.tx_ring is not None:
            return self.tx_ring.offer(frame)  # False when full: the stack reports ENOMEM (lwIP's ERR_MEM)
        self.hub._forward(self, bytes(frame))
        return True

    def _send(self, frame: bytes) -> None:
        self.hub._forward(self, frame)

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

    def __init__(self, mtu: int = 1500, queue_len: int = 4096, link_kind: str = ETHERNET, *, switch: bool = False,
                 isolation: bool = False, dhcp_to_unicast: bool = False) -> None:
        if link_kind not in (ETHERNET, POINT_TO_POINT):
            raise ValueError(f"link kind {link_kind!r} is neither {ETHERNET!r} nor {POINT_TO_POINT!r}")
        if link_kind != ETHERNET and (switch or isolation or dhcp_to_unicast):
            raise ValueError("switch, isolation and dhcp_to_unicast are for an Ethernet segment")
        self.mtu = mtu
        self.queue_len = queue_len
        self.link_kind = link_kind
        self.header_room = 18 if link_kind == ETHERNET else 0  # an Ethernet header with a VLAN tag
        self.switch = switch
        self.isolation = isolation
        self.dhcp_to_unicast = dhcp_to_unicast
        #: learnt source MACs (with ``switch`` or ``dhcp_to_unicast``)
        self.fdb: dict[bytes, VirtualPort] = {}
        self.ports: list[VirtualPort] = []
        self.taps: list[Callable[[VirtualPort, bytes], None]] = []
        self.forwarded = 0  # frames carried so far: a driver can tell whether anything moved

    def port(self, name: str | None = None, uplink: bool = False, *, tx_queue: int | None = None,
             tx_rate: float = 100e6) -> VirtualPort:
        """A new port; ``uplink`` matters with ``isolation`` (the server's or router's port).  ``tx_queue`` bounds
        its transmit queue to that many frames, sent ``tx_rate`` bits a second (a Wi-Fi or Ethernet driver's TX
        buffers): a frame finding it full is refused, and a UDP ``sendto`` fails with ENOMEM."""
        if self.link_kind == POINT_TO_POINT and len(self.ports) >= 2:
            raise ValueError("a point-to-point link has two ends")
        port = VirtualPort(self, name or f"port{len(self.ports)}", uplink, tx_queue, tx_rate)
        self.ports.append(port)
        return port

    def detach(self, port: VirtualPort) -> None:
        if port in self.ports:
            self.ports.remove(port)
            for mac in [m for m, p in self.fdb.items() if p is port]:
                del self.fdb[mac]

    def _forward(self, sender: VirtualPort, frame: bytes) -> None:
        self.forwarded += 1
        for tap in self.taps:
            tap(sender, frame)
        if self.switch or self.isolation or self.dhcp_to_unicast:
            return self._forward_smart(sender, frame)
        for port in self.ports:
            if port is not sender:
                port._deliver(frame)

    def _forward_smart(self, sender: VirtualPort, frame: bytes) -> None:
        dst = frame[0:6]
        if self.switch or self.dhcp_to_unicast:
            self.fdb[frame[6:12]] = sender
        target: VirtualPort | None = None
        if dst[0] & 1:
            if self.dhcp_to_unicast and dst == _BROADCAST and _is_dhcp_reply(frame):
                target = self.fdb.get(frame[_CHADDR:_CHADDR + 6])
        elif self.switch:
            target = self.fdb.get(dst)
        if target is not None:
            if target is not sender and (not self.isolation or sender.uplink or target.uplink):
                target._deliver(frame)
            return
        isolated = self.isolation and not sender.uplink
        for port in self.ports:
            if port is not sender and (not isolated or port.uplink):
                port._deliver(frame)


_BROADCAST = b"\xff" * 6
# an untagged IPv4 frame without IP options: UDP ports at 34 and 36, chaddr at 14 + 20 + 8 + 28
_CHADDR = 70


def _is_dhcp_reply(frame: bytes) -> bool:
    """An untagged IPv4 UDP datagram from port 67 to port 68 (a DHCP server's reply), without IP options."""
    return (len(frame) >= _CHADDR + 6 and frame[12:14] == b"\x08\x00" and frame[14] == 0x45 and frame[23] == 17
            and frame[34:38] == b"\x00\x43\x00\x44")


def p2p_link(mtu: int = 1500, queue_len: int = 4096) -> tuple[VirtualPort, VirtualPort]:
    """The two ends of a new in-process point-to-point link."""
    link = VirtualHub(mtu, queue_len, POINT_TO_POINT)
    return link.port("p2p-a"), link.port("p2p-b")
