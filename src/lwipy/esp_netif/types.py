"""esp_netif's types (``esp_netif_types.h``): IP information, statuses, option ids, flags, IP event ids and payloads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .netif import EspNetif

__all__ = ["EspNetifIpInfo", "EspNetifIp6Info", "EspNetifDhcpStatus", "EspNetifDnsType", "EspNetifDhcpOptionMode",
           "EspNetifDhcpOptionId", "EspNetifFlags", "IpEvent", "IP_EVENT", "IpEventGotIp", "IpEventGotIp6",
           "IpEventAssignedIpToClient", "IpEventApStaipassigned", "DhcpsLeaseRange", "ESP_NETIF_HOSTNAME_MAX_SIZE"]

#: ``ESP_NETIF_HOSTNAME_MAX_SIZE``: the longest host name set_hostname takes
ESP_NETIF_HOSTNAME_MAX_SIZE = 32
_ZERO = IPv4Address(0)


@dataclass(frozen=True, slots=True)
class EspNetifIpInfo:
    """``esp_netif_ip_info_t``: an IPv4 address, netmask and gateway (0.0.0.0 for none)."""

    ip: IPv4Address = _ZERO
    netmask: IPv4Address = _ZERO
    gw: IPv4Address = _ZERO

    @classmethod
    def of(cls, ip: str | IPv4Address, netmask: str | IPv4Address, gw: str | IPv4Address = _ZERO) -> "EspNetifIpInfo":
        """From strings: ``EspNetifIpInfo.of("192.168.4.1", "255.255.255.0", "192.168.4.1")``."""
        return cls(IPv4Address(ip), IPv4Address(netmask), IPv4Address(gw))

    @property
    def is_zero(self) -> bool:
        return self == _ZERO_INFO


_ZERO_INFO = EspNetifIpInfo()


@dataclass(frozen=True, slots=True)
class EspNetifIp6Info:
    """``esp_netif_ip6_info_t``."""

    ip: IPv6Address


class EspNetifDhcpStatus(IntEnum):
    """``esp_netif_dhcp_status_t``."""

    INIT = 0
    STARTED = 1
    STOPPED = 2


class EspNetifDnsType(IntEnum):
    """``esp_netif_dns_type_t``."""

    MAIN = 0
    BACKUP = 1
    FALLBACK = 2


class EspNetifDhcpOptionMode(IntEnum):
    """``esp_netif_dhcp_option_mode_t``."""

    OP_START = 0
    OP_SET = 1
    OP_GET = 2


class EspNetifDhcpOptionId(IntEnum):
    """``esp_netif_dhcp_option_id_t``."""

    SUBNET_MASK = 1
    DOMAIN_NAME_SERVER = 6
    ROUTER_SOLICITATION_ADDRESS = 32
    REQUESTED_IP_ADDRESS = 50
    IP_ADDRESS_LEASE_TIME = 51
    IP_REQUEST_RETRY_TIME = 52
    VENDOR_CLASS_IDENTIFIER = 60
    VENDOR_SPECIFIC_INFO = 43
    CAPTIVEPORTAL_URI = 114


class EspNetifFlags(IntFlag):
    """``esp_netif_flags_t``."""

    DHCP_CLIENT = 1 << 0
    DHCP_SERVER = 1 << 1
    AUTOUP = 1 << 2
    GARP = 1 << 3
    EVENT_IP_MODIFIED = 1 << 4
    IS_PPP = 1 << 5
    IS_BRIDGE = 1 << 6
    MLDV6_REPORT = 1 << 7


#: ``IP_EVENT``: the event base of the IP events (``esp_event_base_t`` is a string)
IP_EVENT = "IP_EVENT"


class IpEvent(IntEnum):
    """``ip_event_t``, same numbers."""

    STA_GOT_IP = 0
    STA_LOST_IP = 1
    ASSIGNED_IP_TO_CLIENT = 2
    #: the old name of ASSIGNED_IP_TO_CLIENT (an alias: the same member)
    AP_STAIPASSIGNED = 2
    GOT_IP6 = 3
    ETH_GOT_IP = 4
    ETH_LOST_IP = 5
    PPP_GOT_IP = 6
    PPP_LOST_IP = 7
    TX_RX = 8
    NETIF_UP = 9
    NETIF_DOWN = 10


@dataclass(frozen=True, slots=True)
class IpEventGotIp:
    """``ip_event_got_ip_t``: IP_EVENT_STA_GOT_IP, ETH_GOT_IP (with ``ip_changed``) and STA_LOST_IP, ETH_LOST_IP
    (``ip_info`` all zero, ``ip_changed`` False, as ESP-IDF posts it)."""

    esp_netif: "EspNetif"
    ip_info: EspNetifIpInfo
    #: whether the address differs from the one held before (``ip_info_old``)
    ip_changed: bool


@dataclass(frozen=True, slots=True)
class IpEventGotIp6:
    """``ip_event_got_ip6_t``: an IPv6 address became valid (preferred)."""

    esp_netif: "EspNetif"
    ip6_info: EspNetifIp6Info
    #: the address's index on the netif (0: the link-local one)
    ip_index: int


@dataclass(frozen=True, slots=True)
class IpEventAssignedIpToClient:
    """``ip_event_assigned_ip_to_client_t`` (``ip_event_ap_staipassigned_t``): the DHCP server gave ``ip`` to the
    client with ``mac`` (its host name from option 12, "" without one)."""

    esp_netif: "EspNetif"
    ip: IPv4Address
    mac: bytes
    hostname: str


IpEventApStaipassigned = IpEventAssignedIpToClient


@dataclass(frozen=True, slots=True)
class DhcpsLeaseRange:
    """``dhcps_lease_t``: the REQUESTED_IP_ADDRESS option of the DHCP server (``enable`` False: ESP-IDF's default
    pool)."""

    enable: bool
    start_ip: IPv4Address
    end_ip: IPv4Address

    @classmethod
    def of(cls, start: str | IPv4Address, end: str | IPv4Address, enable: bool = True) -> "DhcpsLeaseRange":
        return cls(enable, IPv4Address(start), IPv4Address(end))


