"""lwipy: a lightweight TCP/IP stack in pure Python, modelled on lwIP as ESP-IDF ships it.

The core is sans-I/O: a :class:`Stack` takes frames and the time, and hands frames to its devices.  Devices
(:mod:`lwipy.netif`) connect it to a Linux TAP (Ethernet) or TUN (point-to-point), an in-process virtual link, or
any :class:`lwipy.core.device.NetDevice` (``transmit(frame)`` and a link kind).

The names below are imported on first use (PEP 562), so ``import lwipy.wire`` or ``import lwipy.core`` loads
neither the API layer nor ``threading``, ``socket`` or ``selectors``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api.patch import patch
    from .config import Config
    from .core.netif import Netif
    from .core.stack import Stack
    from .errors import ChecksumError, ConfigError, LwipError, Malformed
    from .stats import Stats

# public name -> the module that defines it
_LAZY = {
    "patch": ".api.patch",
    "Config": ".config",
    "Netif": ".core.netif",
    "Stack": ".core.stack",
    "ChecksumError": ".errors",
    "ConfigError": ".errors",
    "LwipError": ".errors",
    "Malformed": ".errors",
    "Stats": ".stats",
}

__all__ = ["Config", "ConfigError", "ChecksumError", "LwipError", "Malformed", "Netif", "Stack", "Stats", "patch"]
__version__ = "0.1.0"


# subpackages and modules reachable as attributes of ``lwipy`` after a plain ``import lwipy``, as before it was lazy
_SUBMODULES = frozenset({"api", "apps", "cli", "config", "core", "errors", "esp_netif", "netif", "sim", "stats",
                         "wire"})


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used, and keep the name here."""
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)  # the import binds it here
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
