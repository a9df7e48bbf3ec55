"""ESP-IDF's esp_netif and esp_event in Python shape, over a lwipy stack.

- :class:`EspNetif` (``esp_netif_t``): start/stop, DHCP client and server control with ESP-IDF's statuses, option ids
  and errors, IPv4 and DNS information, host name, IPv6 addresses; default configurations
  ``ESP_NETIF_DEFAULT_WIFI_STA`` (DHCP client), ``ESP_NETIF_DEFAULT_WIFI_AP`` (192.168.4.1/24 with the DHCP server)
  and ``ESP_NETIF_DEFAULT_ETH``.
- :class:`EspEventLoop` (``esp_event``): handler registration and ESP-IDF's IP events (``IP_EVENT``,
  :class:`IpEvent`) with their payloads (:class:`IpEventGotIp`, :class:`IpEventGotIp6`,
  :class:`IpEventAssignedIpToClient`).
- :mod:`lwipy.esp_netif.ping` (``ping/ping_sock.h``): ``esp_ping_new_session`` / ``start`` / ``stop`` /
  ``delete_session`` / ``get_profile`` with ESP-IDF's defaults, callbacks and profile fields.
- :class:`EspSntp` (``esp_sntp.h``): the SNTP client's ESP-IDF calls from any thread, and
  ``esp_netif_sntp_sync_wait``'s wait (:mod:`lwipy.esp_netif.sntp`).
- :mod:`lwipy.esp_netif.errors`: ``esp_err_t`` codes as exceptions (``ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED``...).

This layer sits beside :mod:`lwipy.api`: it calls the core on its thread and hands events to user threads; the core
and the apps never import it.
"""

from .errors import (ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED, ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED,
                     ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED, ESP_ERR_ESP_NETIF_INVALID_PARAMS, ESP_FAIL, EspError,
                     esp_err_to_name)
from .event import ESP_EVENT_ANY_BASE, ESP_EVENT_ANY_ID, EspEventLoop, EventHandlerInstance
from .netif import (DEFAULT_HOSTNAME, ESP_NETIF_DEFAULT_ETH, ESP_NETIF_DEFAULT_WIFI_AP, ESP_NETIF_DEFAULT_WIFI_STA,
                    IP_LOST_TIMER_INTERVAL, EspNetif, EspNetifInherentConfig)
from .sntp import (ESP_SNTP_OPMODE_LISTENONLY, ESP_SNTP_OPMODE_POLL, SNTP_SYNC_MODE_IMMED, SNTP_SYNC_MODE_SMOOTH,
                   SNTP_SYNC_STATUS_COMPLETED, SNTP_SYNC_STATUS_IN_PROGRESS, SNTP_SYNC_STATUS_RESET, EspSntp)
from .types import (IP_EVENT, DhcpsLeaseRange, EspNetifDhcpOptionId, EspNetifDhcpOptionMode, EspNetifDhcpStatus,
                    EspNetifDnsType, EspNetifFlags, EspNetifIp6Info, EspNetifIpInfo, IpEvent, IpEventApStaipassigned,
                    IpEventAssignedIpToClient, IpEventGotIp, IpEventGotIp6)

__all__ = ["EspNetif", "EspNetifInherentConfig", "ESP_NETIF_DEFAULT_WIFI_STA", "ESP_NETIF_DEFAULT_WIFI_AP",
           "ESP_NETIF_DEFAULT_ETH", "IP_LOST_TIMER_INTERVAL", "DEFAULT_HOSTNAME", "EspEventLoop",
           "EventHandlerInstance", "ESP_EVENT_ANY_BASE", "ESP_EVENT_ANY_ID", "IP_EVENT", "IpEvent", "IpEventGotIp",
           "IpEventGotIp6", "IpEventAssignedIpToClient", "IpEventApStaipassigned", "EspNetifIpInfo",
           "EspNetifIp6Info", "EspNetifDhcpStatus", "EspNetifDnsType", "EspNetifDhcpOptionMode",
           "EspNetifDhcpOptionId", "EspNetifFlags", "DhcpsLeaseRange", "EspError", "ESP_FAIL",
           "ESP_ERR_ESP_NETIF_INVALID_PARAMS", "ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED",
           "ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED", "ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED", "esp_err_to_name",
           "EspSntp", "ESP_SNTP_OPMODE_POLL", "ESP_SNTP_OPMODE_LISTENONLY", "SNTP_SYNC_MODE_IMMED", "SNTP_SYNC_MODE_SMOOTH",
           "SNTP_SYNC_STATUS_RESET", "SNTP_SYNC_STATUS_COMPLETED", "SNTP_SYNC_STATUS_IN_PROGRESS"]
