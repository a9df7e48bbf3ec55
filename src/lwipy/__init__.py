"""lwipy: a lightweight TCP/IP stack in pure Python, modelled on lwIP as ESP-IDF ships it.

The core is sans-I/O: a :class:`Stack` takes frames and the time, and hands frames to its devices.  Devices
(:mod:`lwipy.netif`) connect it to a Linux TAP, an in-process virtual link, or anything with ``transmit(frame)``.
"""

from .api.patch import patch
from .config import Config
from .core.netif import Netif
from .core.stack import Stack
from .errors import ChecksumError, ConfigError, LwipError, Malformed
from .stats import Stats

__all__ = ["Config", "ConfigError", "ChecksumError", "LwipError", "Malformed", "Netif", "Stack", "Stats", "patch"]
__version__ = "0.1.0"
