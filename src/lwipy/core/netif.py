"""Network interfaces (lwIP's ``struct netif``): a device, a MAC, an MTU, IPv4 settings and state flags."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Any

from .addr import BROADCAST4

if TYPE_CHECKING:
    from .stack import Stack

__all__ = ["Netif"]


class Netif:
    """One interface of a :class:`~lwipy.core.stack.Stack`.  Create it with :meth:`Stack.add_netif`.

    ``device`` is the driver (anything with ``transmit(frame) -> bool``; see :mod:`lwipy.netif`), None for the
    loopback netif.  ``ip4`` is an :class:`ipaddress.IPv4Interface` (address and netmask) or None before one is set.
    """

    def __init__(self, stack: "Stack", name: str, index: int, device: Any, hwaddr: bytes, mtu: int,
                 vlan_id: int | None = None, is_loopback: bool = False) -> None:
        self.stack = stack
        self.name = name
        self.index = index
        self.device = device
        self.hwaddr = hwaddr
        self.mtu = mtu
        self.vlan_id = vlan_id
        self.is_loopback = is_loopback
        # the device's offloads (see Device.checksum_offload): TCP/UDP checksums neither made nor checked here
        self.checksum_offload = bool(getattr(device, "checksum_offload", False))
        self.gso_max_size = int(getattr(device, "gso_max_size", 0)) if self.checksum_offload else 0
        self.ip4: IPv4Interface | None = None
        self.gateway: IPv4Address | None = None
        self.broadcast4: IPv4Address | None = None
        # packed copies for the input fast path: our address, and the subnet broadcast (None on /31 and /32 links)
        self.ip4_packed: bytes | None = None
        self.broadcast4_packed: bytes | None = None
        self.up = False
        self.link_up = False
        self.garp_at: float | None = None

    @property
    def is_usable(self) -> bool:
        """Administratively up with the link up (``netif_is_up && netif_is_link_up``)."""
        return self.up and self.link_up

    @property
    def ip4_addr(self) -> IPv4Address | None:
        return self.ip4.ip if self.ip4 is not None else None

    def set_ipv4(self, address: str | IPv4Interface | None, gateway: str | IPv4Address | None = None) -> None:
        """Set (or with None clear) the address with its prefix, ``"10.0.0.2/24"``, and the gateway."""
        self.stack.assert_core()
        self.ip4 = IPv4Interface(address) if address is not None else None
        self.gateway = IPv4Address(gateway) if gateway is not None else None
        self.broadcast4 = self.ip4.network.broadcast_address if self.ip4 is not None else None
        self.ip4_packed = self.ip4.ip.packed if self.ip4 is not None else None
        self.broadcast4_packed = (self.broadcast4.packed if self.broadcast4 is not None and self.ip4 is not None
                                  and self.ip4.network.prefixlen < 31 else None)
        self.stack._netif_changed(self, address_changed=True)

    def set_up(self, up: bool = True) -> None:
        """``netif_set_up`` / ``netif_set_down``."""
        self.stack.assert_core()
        self.up = up
        self.stack._netif_changed(self)

    def set_link_up(self, up: bool = True) -> None:
        """``netif_set_link_up`` / ``netif_set_link_down``: the driver reports the carrier."""
        self.stack.assert_core()
        self.link_up = up
        self.stack._netif_changed(self)

    def is_broadcast4(self, addr: IPv4Address) -> bool:
        """``ip4_addr_isbroadcast``: the limited broadcast or this netif's subnet broadcast."""
        return addr == BROADCAST4 or (self.broadcast4_packed is not None and addr == self.broadcast4)

    def __repr__(self) -> str:
        return f"<Netif {self.name} {self.ip4 or 'no address'} mtu {self.mtu}{' up' if self.is_usable else ''}>"

