"""Network interfaces (lwIP's ``struct netif``): a device, a link kind (Ethernet with a MAC, or point-to-point), an MTU,
IPv4 settings and state flags."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError, LwipError
from .addr import BROADCAST4
from .addr6 import DUPLICATED, ORIGIN_LINK_LOCAL, ORIGIN_STATIC, PREFERRED, TENTATIVE, Ip6Addr, interface_id
from .device import ETHERNET, POINT_TO_POINT, NetDevice
from .events import Ip4AddressChanged, Ip6AddressStateChanged, LinkDown, LinkUp, NetifDown, NetifUp

if TYPE_CHECKING:
    from .stack import Stack

__all__ = ["Netif"]

#: the fields :attr:`Netif.rx_mac` is made from (in13: each write of one makes it again, whoever writes)
_RX_MAC_FIELDS = frozenset(("hwaddr", "vlan_id", "up"))
#: way13: the fields a TCP connection's kept way out (``TcpOutput._tx_way``) is made from: a write to any of them
#: moves ``Stack.way_generation`` on (the other writes cost one set lookup more; a netif's fields are seldom written);
#: s21: IPv6's MTU and output too (a way out over IPv6; its hop limit is the connection's ``ttl``, not the netif's)
_WAY_FIELDS = frozenset(("up", "link_up", "vlan_id", "hwaddr", "mtu", "device", "mtu6", "output_ip6"))


class Netif:
    """One interface of a :class:`~lwipy.core.stack.Stack`.  Create it with :meth:`Stack.add_netif`.

    ``device`` is the driver (a :class:`~lwipy.core.device.NetDevice`; see :mod:`lwipy.netif`), None for the
    loopback netif.  ``link_kind`` is the device's: :data:`~lwipy.core.device.ETHERNET` netifs have a MAC
    (``hwaddr``) and resolve next hops, :data:`~lwipy.core.device.POINT_TO_POINT` ones have no link-layer address
    (``hwaddr`` is empty).  ``ip6_iid`` is the IPv6 interface identifier (from the MAC, from the device, or random).
    ``ip4`` is an :class:`ipaddress.IPv4Interface` (address and netmask) or None before one is set.
    """

    # slots11: the fields __init__ sets, as slots: a netif has more than CPython's shared-key instance dicts hold
    # (30), so each read or write went through an unshared dict (a request reads ~12).  ``__dict__`` stays, for what
    # users and tests set on a netif.  A slot hides a class default of its name, so __init__ sets every one
    __slots__ = (
        "stack", "name", "index", "device", "hwaddr", "mtu", "vlan_id", "is_loopback", "link_kind", "is_ethernet",
        "is_p2p", "ip6_iid", "checksum_offload", "gso_max_size", "input", "output", "output_ip6", "ip4", "gateway",
        "broadcast4", "ip4_packed", "broadcast4_packed", "up", "link_up", "route_prio", "garp_at", "ip6_addrs",
        "ip6_groups", "mtu6", "hop_limit6", "reachable_time", "retrans_timer", "rs_left", "rs_at", "ra_managed",
        "ra_other", "ip6_advertising", "ip6_was_up", "rx_mac", "__dict__",
    )

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _WAY_FIELDS:
            self.stack.way_generation += 1
        if name in _RX_MAC_FIELDS:
            # in13: rx_mac made again at every write of what it stands for (by set_up, by __init__, by anyone who
            # sets the field itself): header prediction compares a frame's destination with it alone
            object.__setattr__(self, "rx_mac", self.hwaddr if getattr(self, "up", False)
                               and getattr(self, "vlan_id", None) is None else None)

    def __init__(self, stack: "Stack", name: str, index: int, device: NetDevice | None, hwaddr: bytes, mtu: int,
                 vlan_id: int | None = None, is_loopback: bool = False, link_kind: str = ETHERNET,
                 ip6_iid: bytes | None = None) -> None:
        self.stack = stack
        self.name = name
        self.index = index
        self.device = device
        self.hwaddr = hwaddr
        self.mtu = mtu
        self.vlan_id = vlan_id
        self.is_loopback = is_loopback
        self.link_kind = link_kind
        #: an Ethernet netif: ARP, neighbour discovery's address resolution, gratuitous ARP, MAC filters
        self.is_ethernet = link_kind == ETHERNET and not is_loopback
        self.is_p2p = link_kind == POINT_TO_POINT
        self.ip6_iid = ip6_iid if ip6_iid is not None else interface_id(hwaddr)
        # the device's offloads (see NetDevice.checksum_offload): TCP/UDP checksums neither made nor checked here
        self.checksum_offload = bool(device.checksum_offload) if device is not None else False
        self.gso_max_size = int(device.gso_max_size) if self.checksum_offload and device is not None else 0
        #: ``netif->input``, ``netif->output``, ``netif->output_ip6``: the link layer's, set by the stack
        self.input: Callable[["Netif", Any], None] = _unset
        self.output: Callable[["Netif", Any, IPv4Address], bool] = _unset
        self.output_ip6: Callable[["Netif", Any, bytes], bool] = _unset
        self.ip4: IPv4Interface | None = None
        self.gateway: IPv4Address | None = None
        self.broadcast4: IPv4Address | None = None
        # packed copies for the input fast path: our address, and the subnet broadcast (None on /31 and /32 links)
        self.ip4_packed: bytes | None = None
        self.broadcast4_packed: bytes | None = None
        self.up = False
        self.link_up = False
        # rx_mac (set by __setattr__ from the writes above): the MAC of the frames this netif takes as they come
        # (unicast to it, untagged, while it is up): ``hwaddr`` while the netif is up and has no VLAN, else None;
        # made again whenever ``hwaddr``, ``vlan_id`` or ``up`` is set.  TCP's header prediction compares a frame's
        # destination with it alone (in13)
        #: esp_netif's route priority: the usable netif with the highest one is the default (see Stack.add_netif)
        self.route_prio = 0
        self.garp_at: float | None = None
        # IPv6 (lwIP's ip6_addr[], ip6_addr_state[], mtu6, cur_hop_limit, reachable_time, retrans_timer)
        #: the netif's IPv6 addresses, the link-local one first once made (``create_ip6_linklocal``)
        self.ip6_addrs: list[Ip6Addr] = []
        #: multicast groups joined (MLD), with their membership counts; all-nodes is implied
        self.ip6_groups: dict[bytes, int] = {}
        self.mtu6 = mtu
        self.hop_limit6 = 255  # lwIP's IP6_HOPLIM, until a router advertisement says otherwise
        cfg = stack.config
        self.reachable_time = cfg.nd6_reachable_time / 1000.0
        self.retrans_timer = cfg.nd6_retrans_timer / 1000.0
        self.rs_left = 0
        self.rs_at: float | None = None
        self.ra_managed = self.ra_other = False  # the M and O flags of the last router advertisement
        #: RFC 4861 6.2.1's AdvSendAdvertisements: a router advertisement app advertises here (no solicitations)
        self.ip6_advertising = False
        self.ip6_was_up = False  # usable with IPv6 addresses when last looked: coming up solicits routers

    def linkoutput(self, pbuf: Any) -> bool:
        """``netif->linkoutput``: hand the finished frame (Ethernet frame, or IP packet on a point-to-point link) to
        the device, through its checksum offload when the packet left a checksum for it."""
        tail = pbuf.csum_tail
        if tail:
            frame = pbuf.view()
            sent = self.device.transmit_offload(frame, len(frame) - tail, pbuf.csum_offset, pbuf.gso_size)
        else:
            sent = self.device.transmit(pbuf.view())
        stats = self.stack._stats.link
        if sent:
            stats.xmit += 1
            return True
        self.stack._stats.link_refused()
        return False

    @property
    def is_usable(self) -> bool:
        """Administratively up with the link up (``netif_is_up && netif_is_link_up``)."""
        return self.up and self.link_up

    @property
    def ip4_addr(self) -> IPv4Address | None:
        return self.ip4.ip if self.ip4 is not None else None

    def set_ipv4(self, address: str | IPv4Interface | None, gateway: str | IPv4Address | None = None) -> None:
        """``netif_set_addr``: set (or with None clear) the address with its prefix, ``"10.0.0.2/24"``, and the
        gateway.  0.0.0.0 is no address, as in lwIP: such a netif answers no ARP and originates nothing but what is
        sent out of it by name (:meth:`~lwipy.core.udp.UdpPcb.sendto_netif`, as DHCP does).  An
        :class:`~lwipy.core.events.Ip4AddressChanged` event tells of a change."""
        self.stack.assert_core()
        old, old_gateway = self.ip4, self.gateway
        new = IPv4Interface(address) if address is not None else None
        if new is not None and not int(new.ip):
            new = None
        if new is not None and not self.stack.config.ipv4:
            raise ConfigError("IPv4 is off (Config(ipv4=False), CONFIG_LWIP_IPV4 not set): an IPv6-only stack")
        self.ip4 = new
        self.gateway = IPv4Address(gateway) if gateway is not None and int(IPv4Address(gateway)) else None
        self.broadcast4 = self.ip4.network.broadcast_address if self.ip4 is not None else None
        self.ip4_packed = self.ip4.ip.packed if self.ip4 is not None else None
        self.broadcast4_packed = (self.broadcast4.packed if self.broadcast4 is not None and self.ip4 is not None
                                  and self.ip4.network.prefixlen < 31 else None)
        self.stack._netif_changed(self)
        if (old, old_gateway) != (self.ip4, self.gateway):
            self.stack.events.emit(Ip4AddressChanged(self, old, self.ip4, old_gateway, self.gateway))

    def set_up(self, up: bool = True) -> None:
        """``netif_set_up`` / ``netif_set_down``: a :class:`~lwipy.core.events.NetifUp` or ``NetifDown`` event when
        the state changes."""
        self.stack.assert_core()
        if self.up == up:
            return
        self.up = up
        self.stack._netif_changed(self)
        self.stack.events.emit(NetifUp(self) if up else NetifDown(self))

    def set_link_up(self, up: bool = True) -> None:
        """``netif_set_link_up`` / ``netif_set_link_down``: the driver reports the carrier; a
        :class:`~lwipy.core.events.LinkUp` or ``LinkDown`` event when it changes."""
        self.stack.assert_core()
        if self.link_up == up:
            return
        self.link_up = up
        self.stack._netif_changed(self)
        self.stack.events.emit(LinkUp(self) if up else LinkDown(self))

    def set_route_prio(self, prio: int) -> None:
        """esp_netif's ``route_prio``: the usable netif with the highest priority is the default one."""
        self.stack.assert_core()
        self.route_prio = prio
        self.stack._update_default_netif()

    # -- IPv6 addresses ------------------------------------------------------------------------------------------------
    def create_ip6_linklocal(self) -> Ip6Addr:
        """``netif_create_ip6_linklocal_address``: fe80:: and the interface identifier (on Ethernet the MAC's
        modified EUI-64, as with from_mac48; on a point-to-point link the device's or a random one), in the first
        slot; tentative until duplicate address detection is done."""
        addr = b"\xfe\x80" + bytes(6) + self.ip6_iid
        known = self.ip6_addr_of(addr)
        if known is not None:
            return known
        return self.add_ip6_address(addr, 64, origin=ORIGIN_LINK_LOCAL, first=True)

    def add_ip6_address(self, address: str | IPv6Address | bytes, prefix_len: int = 64, *,
                        origin: str = ORIGIN_STATIC, valid: int | None = None, preferred: int | None = None,
                        first: bool = False) -> Ip6Addr:
        """``netif_add_ip6_address``: a tentative address (preferred at once when duplicate address detection is
        off); ``valid``/``preferred`` lifetimes in seconds (None: forever).  ENOMEM when all ``ipv6_num_addresses``
        slots are taken, EADDRINUSE when the netif has it."""
        self.stack.assert_core()
        packed = address if isinstance(address, bytes) else IPv6Address(address).packed
        if len(packed) != 16:
            raise ValueError("an IPv6 address has 16 bytes")
        if self.ip6_addr_of(packed) is not None:
            raise LwipError(errno.EADDRINUSE, f"{self.name} has {IPv6Address(packed)} already")
        if len(self.ip6_addrs) >= self.stack.config.ipv6_num_addresses:
            raise LwipError(errno.ENOMEM, f"{self.name} has all its {len(self.ip6_addrs)} IPv6 addresses "
                                          "(ipv6_num_addresses)")
        now = self.stack.now
        dad = not self.is_loopback and self.stack.config.ipv6_dup_detect_attempts > 0
        a = Ip6Addr(packed, prefix_len, TENTATIVE if dad else PREFERRED, origin,
                    None if valid is None or valid == 0xFFFFFFFF else now + valid,
                    None if preferred is None or preferred == 0xFFFFFFFF else now + preferred)
        if first:
            self.ip6_addrs.insert(0, a)
        else:
            self.ip6_addrs.append(a)
        self.stack._netif6_address_added(self, a)
        return a

    def remove_ip6_address(self, address: str | IPv6Address | bytes) -> None:
        """Forget an address (leaving its solicited-node group)."""
        packed = address if isinstance(address, bytes) else IPv6Address(address).packed
        a = self.ip6_addr_of(packed)
        if a is None:
            raise LwipError(errno.EADDRNOTAVAIL, f"{self.name} has no {IPv6Address(packed)}")
        self.ip6_addrs.remove(a)
        self.stack._netif6_address_removed(self, a)

    def ip6_addr_set_state(self, a: Ip6Addr, state: str) -> None:
        """``netif_ip6_addr_set_state``: move one of our addresses to ``state`` (an
        :class:`~lwipy.core.events.Ip6AddressStateChanged` event when it changes)."""
        old = a.state
        if old == state:
            return
        a.state = state
        if state == PREFERRED:
            self.stack.timer_armed(a.preferred_until)  # router discovery watches a preferred address's lifetime
        if DUPLICATED in (old, state):
            self.stack.own6_changed()  # another node's now: no more ours to loop back to or bind
        self.stack.routes.changed()
        self.stack.events.emit(Ip6AddressStateChanged(self, a.address, old, state))

    def ip6_addr_of(self, packed: bytes) -> Ip6Addr | None:
        for a in self.ip6_addrs:
            if a.addr == packed:
                return a
        return None

    def ip6_state_of(self, packed: bytes) -> str | None:
        """The state of ``packed`` when it is one of our addresses, else None."""
        a = self.ip6_addr_of(packed)
        return a.state if a is not None else None

    def ip6_preferred(self) -> list[IPv6Address]:
        """The addresses ready for use (preferred)."""
        return [a.address for a in self.ip6_addrs if a.state == PREFERRED]

    def is_broadcast4(self, addr: IPv4Address) -> bool:
        """``ip4_addr_isbroadcast``: the limited broadcast or this netif's subnet broadcast."""
        return addr == BROADCAST4 or (self.broadcast4_packed is not None and addr == self.broadcast4)

    def __repr__(self) -> str:
        kind = " point-to-point" if self.is_p2p else ""
        return f"<Netif{kind} {self.name} {self.ip4 or 'no address'} mtu {self.mtu}{' up' if self.is_usable else ''}>"



def _unset(*args: Any) -> Any:
    raise RuntimeError("the netif has no link layer (not added through Stack.add_netif)")
