"""IPv6 address helpers on packed 16-byte addresses (the fast path keeps addresses packed), and a netif's addresses
with their states (RFC 4862, lwIP's ``ip6_addr_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

__all__ = [
    "UNSPECIFIED", "LOOPBACK6", "ALL_NODES", "ALL_ROUTERS", "ALL_MLDV2_ROUTERS", "link_local_from_mac", "interface_id",
    "solicited_node", "multicast_mac", "is_multicast6", "is_link_local6", "is_unspecified6", "is_loopback6",
    "scope6", "prefix_match_len", "in_prefix", "Ip6Addr", "TENTATIVE", "PREFERRED", "DEPRECATED", "DUPLICATED",
    "ORIGIN_LINK_LOCAL", "ORIGIN_SLAAC", "ORIGIN_STATIC",
]

UNSPECIFIED = bytes(16)
LOOPBACK6 = bytes(15) + b"\x01"
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
ALL_MLDV2_ROUTERS = bytes.fromhex("ff020000000000000000000000000016")
_SOLICITED_PREFIX = bytes.fromhex("ff0200000000000000000001ff")

# address states (lwIP's IP6_ADDR_*): DUPLICATED addresses stay listed but are never used
TENTATIVE, PREFERRED, DEPRECATED, DUPLICATED = "tentative", "preferred", "deprecated", "duplicated"
ORIGIN_LINK_LOCAL, ORIGIN_SLAAC, ORIGIN_STATIC = "link-local", "slaac", "static"


def interface_id(mac: bytes) -> bytes:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A): the U/L bit flipped, ff:fe inside."""
    return bytes((mac[0] ^ 0x02, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]))


def link_local_from_mac(mac: bytes) -> bytes:
    """fe80::/64 with the MAC's interface identifier (``netif_create_ip6_linklocal_address`` with from_mac48)."""
    return b"\xfe\x80" + bytes(6) + interface_id(mac)


def solicited_node(addr: bytes) -> bytes:
    """The solicited-node multicast group of ``addr``: ff02::1:ffXX:XXXX (RFC 4291 2.7.1)."""
    return _SOLICITED_PREFIX + addr[13:]


def multicast_mac(group: bytes) -> bytes:
    """The Ethernet address of an IPv6 multicast group: 33:33 and its last four bytes (RFC 2464 7)."""
    return b"\x33\x33" + group[12:]


def is_multicast6(addr: bytes) -> bool:
    return addr[0] == 0xFF


def is_link_local6(addr: bytes) -> bool:
    """fe80::/10."""
    return addr[0] == 0xFE and addr[1] & 0xC0 == 0x80


def is_unspecified6(addr: bytes) -> bool:
    return addr == UNSPECIFIED


def is_loopback6(addr: bytes) -> bool:
    return addr == LOOPBACK6


def scope6(addr: bytes) -> int:
    """The scope (RFC 4291 2.7; RFC 6724 3.1): 1 interface-local, 2 link-local, 5 site, 14 global."""
    if addr[0] == 0xFF:
        return addr[1] & 0x0F
    if is_link_local6(addr) or addr == LOOPBACK6:
        return 2
    return 14


def prefix_match_len(a: bytes, b: bytes) -> int:
    """How many leading bits ``a`` and ``b`` share (RFC 6724's CommonPrefixLen)."""
    diff = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return 128 - diff.bit_length()


def in_prefix(addr: bytes, prefix: bytes, length: int) -> bool:
    return prefix_match_len(addr, prefix) >= length


@dataclass(slots=True, eq=False)
class Ip6Addr:
    """One IPv6 address of a netif: its state, where it came from, and its lifetimes (deadlines on the stack's
    clock; None: forever).  ``dad_left`` probes are still to be sent, the next at ``dad_at``."""

    addr: bytes
    prefix_len: int = 64
    state: str = TENTATIVE
    origin: str = ORIGIN_STATIC
    valid_until: float | None = None
    preferred_until: float | None = None
    dad_left: int = 0
    dad_at: float | None = None

    @property
    def address(self) -> IPv6Address:
        return IPv6Address(self.addr)

    @property
    def usable(self) -> bool:
        """Valid for communication: preferred or deprecated (RFC 4862 2)."""
        return self.state in (PREFERRED, DEPRECATED)

    def __repr__(self) -> str:
        return f"<Ip6Addr {self.address}/{self.prefix_len} {self.state} ({self.origin})>"
