"""ESP-IDF's error codes as exceptions: ``esp_err_t`` values other than ``ESP_OK`` raise the class of that name.

Each class carries ESP-IDF's number in ``code`` (``ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED.code == 0x5004``) and
:func:`esp_err_to_name` gives the name of a number, as ``esp_err_to_name``.  All derive from :class:`EspError`, so
``except EspError as e: e.code`` catches any of them.  They are local misuse (a call in the wrong state or with bad
arguments), never something a peer did.
"""

from __future__ import annotations

__all__ = ["EspError", "ESP_FAIL", "ESP_ERR_NO_MEM", "ESP_ERR_INVALID_ARG", "ESP_ERR_INVALID_STATE",
           "ESP_ERR_NOT_FOUND", "ESP_ERR_NOT_SUPPORTED", "ESP_ERR_TIMEOUT", "ESP_ERR_ESP_NETIF_INVALID_PARAMS",
           "ESP_ERR_ESP_NETIF_IF_NOT_READY", "ESP_ERR_ESP_NETIF_DHCPC_START_FAILED",
           "ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED", "ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED",
           "ESP_ERR_ESP_NETIF_NO_MEM", "ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED", "ESP_ERR_ESP_NETIF_DRIVER_ATTACH_FAILED",
           "ESP_ERR_ESP_NETIF_INIT_FAILED", "ESP_ERR_ESP_NETIF_DNS_NOT_CONFIGURED", "ESP_ERR_ESP_NETIF_MLD6_FAILED",
           "ESP_ERR_ESP_NETIF_IP6_ADDR_FAILED", "ESP_ERR_ESP_NETIF_DHCPS_START_FAILED", "esp_err_to_name"]


class EspError(Exception):
    """An ``esp_err_t`` other than ``ESP_OK``; ``code`` is ESP-IDF's number."""

    code = -1

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{type(self).__name__} (0x{self.code & 0xFFFFFFFF:x})" + (f": {detail}" if detail else ""))


def _error(name: str, code: int, doc: str) -> type[EspError]:
    return type(name, (EspError,), {"code": code, "__doc__": doc, "__module__": __name__})


# esp_err.h
ESP_FAIL = _error("ESP_FAIL", -1, "Generic failure (esp_err.h)")
ESP_ERR_NO_MEM = _error("ESP_ERR_NO_MEM", 0x101, "Out of memory")
ESP_ERR_INVALID_ARG = _error("ESP_ERR_INVALID_ARG", 0x102, "Invalid argument")
ESP_ERR_INVALID_STATE = _error("ESP_ERR_INVALID_STATE", 0x103, "Invalid state")
ESP_ERR_NOT_FOUND = _error("ESP_ERR_NOT_FOUND", 0x105, "Requested resource not found")
ESP_ERR_NOT_SUPPORTED = _error("ESP_ERR_NOT_SUPPORTED", 0x106, "Operation or feature not supported")
ESP_ERR_TIMEOUT = _error("ESP_ERR_TIMEOUT", 0x107, "Operation timed out (an event queue stayed full)")
# esp_netif_types.h: ESP_ERR_ESP_NETIF_BASE 0x5000
ESP_ERR_ESP_NETIF_INVALID_PARAMS = _error("ESP_ERR_ESP_NETIF_INVALID_PARAMS", 0x5001, "Invalid esp_netif parameters")
ESP_ERR_ESP_NETIF_IF_NOT_READY = _error("ESP_ERR_ESP_NETIF_IF_NOT_READY", 0x5002, "The interface is not ready")
ESP_ERR_ESP_NETIF_DHCPC_START_FAILED = _error("ESP_ERR_ESP_NETIF_DHCPC_START_FAILED", 0x5003,
                                              "The DHCP client did not start")
ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED = _error("ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED", 0x5004,
                                                "The DHCP client or server is started already")
ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED = _error("ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED", 0x5005,
                                                "The DHCP client or server is stopped already")
ESP_ERR_ESP_NETIF_NO_MEM = _error("ESP_ERR_ESP_NETIF_NO_MEM", 0x5006, "esp_netif out of memory")
ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED = _error("ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED", 0x5007,
                                            "Stop the DHCP client or server first (set_ip_info)")
ESP_ERR_ESP_NETIF_DRIVER_ATTACH_FAILED = _error("ESP_ERR_ESP_NETIF_DRIVER_ATTACH_FAILED", 0x5008,
                                                "The driver could not be attached")
ESP_ERR_ESP_NETIF_INIT_FAILED = _error("ESP_ERR_ESP_NETIF_INIT_FAILED", 0x5009, "esp_netif initialisation failed")
ESP_ERR_ESP_NETIF_DNS_NOT_CONFIGURED = _error("ESP_ERR_ESP_NETIF_DNS_NOT_CONFIGURED", 0x500A,
                                              "No DNS server configured")
ESP_ERR_ESP_NETIF_MLD6_FAILED = _error("ESP_ERR_ESP_NETIF_MLD6_FAILED", 0x500B, "MLD6 join or leave failed")
ESP_ERR_ESP_NETIF_IP6_ADDR_FAILED = _error("ESP_ERR_ESP_NETIF_IP6_ADDR_FAILED", 0x500C, "IPv6 address call failed")
ESP_ERR_ESP_NETIF_DHCPS_START_FAILED = _error("ESP_ERR_ESP_NETIF_DHCPS_START_FAILED", 0x500D,
                                              "The DHCP server did not start")

_BY_CODE = {cls.code: cls for cls in list(globals().values())
            if isinstance(cls, type) and issubclass(cls, EspError) and cls is not EspError}


def esp_err_to_name(code: int) -> str:
    """``esp_err_to_name``: the name of an error number ("ESP_OK" for 0, "UNKNOWN ERROR" when not known)."""
    if code == 0:
        return "ESP_OK"
    cls = _BY_CODE.get(code)
    return cls.__name__ if cls is not None else "UNKNOWN ERROR"
