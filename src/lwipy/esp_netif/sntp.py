"""ESP-IDF's ``esp_sntp.h`` (and ``esp_netif_sntp.h``'s wait) over :class:`~lwipy.apps.sntp.Sntp`: the same calls,
safe from any thread.

Each method is the C function without its ``esp_sntp_`` / ``sntp_`` prefix (``esp_sntp_setservername(0, name)`` is
``esp_sntp.setservername(0, name)``), run on the core thread through ``loop.call`` when a
:class:`~lwipy.api.loop.StackLoop` owns the stack (any object with ``call(fn)``), directly otherwise.  The
notification callback runs on the core thread, as ESP-IDF calls it from lwIP's tcpip thread.  :meth:`EspSntp.sync_wait`
blocks the caller until the next sync, as ``esp_netif_sntp_sync_wait``; like the rest of this package it blocks, so
it lives beside :mod:`lwipy.api`, never in the core or the apps.  The constants
(``ESP_SNTP_OPMODE_POLL``, ``SNTP_SYNC_MODE_SMOOTH``, ``SNTP_SYNC_STATUS_COMPLETED``...) are ESP-IDF's.
"""

from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..apps.sntp import Sntp, SntpOpMode, SntpSynced, SntpSyncMode, SntpSyncStatus

if TYPE_CHECKING:
    from ..core.stack import Stack

__all__ = ["EspSntp", "ESP_SNTP_OPMODE_POLL", "ESP_SNTP_OPMODE_LISTENONLY", "SNTP_OPMODE_POLL",
           "SNTP_OPMODE_LISTENONLY", "SNTP_SYNC_MODE_IMMED", "SNTP_SYNC_MODE_SMOOTH", "SNTP_SYNC_STATUS_RESET",
           "SNTP_SYNC_STATUS_COMPLETED", "SNTP_SYNC_STATUS_IN_PROGRESS"]

T = TypeVar("T")
ESP_SNTP_OPMODE_POLL = SNTP_OPMODE_POLL = SntpOpMode.POLL
ESP_SNTP_OPMODE_LISTENONLY = SNTP_OPMODE_LISTENONLY = SntpOpMode.LISTENONLY
SNTP_SYNC_MODE_IMMED, SNTP_SYNC_MODE_SMOOTH = SntpSyncMode.IMMED, SntpSyncMode.SMOOTH
SNTP_SYNC_STATUS_RESET = SntpSyncStatus.RESET
SNTP_SYNC_STATUS_COMPLETED = SntpSyncStatus.COMPLETED
SNTP_SYNC_STATUS_IN_PROGRESS = SntpSyncStatus.IN_PROGRESS


class EspSntp:
    """esp_sntp for one stack: the stack's :class:`Sntp` (made when it has none yet).

    :param stack: the stack
    :param loop: the :class:`~lwipy.api.loop.StackLoop` owning it, when a thread other than the caller's does
    """

    def __init__(self, stack: "Stack", loop: Any = None) -> None:
        self.stack = stack
        self._loop = loop
        self._synced = threading.Event()

        def setup() -> Sntp:
            stack.events.subscribe(SntpSynced, lambda ev: self._synced.set())
            return stack.apps.get("sntp") or Sntp(stack)
        self.sntp: Sntp = self._call(setup)

    def _call(self, fn: Callable[[], T]) -> T:
        return self._loop.call(fn) if self._loop is not None else fn()

    # -- esp_sntp_* --------------------------------------------------------------------------------------------------
    def setoperatingmode(self, mode: SntpOpMode | int) -> None:
        """``esp_sntp_setoperatingmode`` (while stopped)."""
        self._call(lambda: self.sntp.setoperatingmode(mode))

    def getoperatingmode(self) -> SntpOpMode:
        return self._call(self.sntp.getoperatingmode)

    def init(self) -> None:
        """``esp_sntp_init``."""
        self._call(self.sntp.init)

    def stop(self) -> None:
        """``esp_sntp_stop``."""
        self._call(self.sntp.stop)

    def enabled(self) -> bool:
        return self._call(self.sntp.enabled)

    def setserver(self, idx: int, addr: "IPv4Address | IPv6Address | str | None") -> None:
        """``esp_sntp_setserver``."""
        self._call(lambda: self.sntp.setserver(idx, addr))

    def getserver(self, idx: int) -> IPv4Address | IPv6Address | None:
        return self._call(lambda: self.sntp.getserver(idx))

    def setservername(self, idx: int, name: str | None) -> None:
        """``esp_sntp_setservername``."""
        self._call(lambda: self.sntp.setservername(idx, name))

    def getservername(self, idx: int) -> str | None:
        return self._call(lambda: self.sntp.getservername(idx))

    def getreachability(self, idx: int) -> int:
        """``esp_sntp_getreachability``."""
        return self._call(lambda: self.sntp.getreachability(idx))

    def servermode_dhcp(self, enable: bool) -> None:
        """``esp_sntp_servermode_dhcp``."""
        self._call(lambda: self.sntp.servermode_dhcp(enable))

    # -- sntp_* of esp_sntp.h ----------------------------------------------------------------------------------------
    def set_sync_mode(self, mode: SntpSyncMode | int) -> None:
        self._call(lambda: self.sntp.set_sync_mode(mode))

    def get_sync_mode(self) -> SntpSyncMode:
        return self._call(lambda: self.sntp.sync_mode)

    def set_sync_status(self, status: SntpSyncStatus | int) -> None:
        self._call(lambda: self.sntp.set_sync_status(status))

    def get_sync_status(self) -> SntpSyncStatus:
        """``sntp_get_sync_status``: COMPLETED once, then RESET."""
        return self._call(self.sntp.get_sync_status)

    def set_time_sync_notification_cb(self, callback: Callable[[float], None] | None) -> None:
        """``sntp_set_time_sync_notification_cb``: ``callback(unix_time)`` on the core thread after each sync."""
        def api() -> None:
            self.sntp.time_sync_notification_cb = callback
        self._call(api)

    def set_sync_interval(self, interval_ms: int) -> None:
        self._call(lambda: self.sntp.set_sync_interval(interval_ms))

    def get_sync_interval(self) -> int:
        return self._call(self.sntp.get_sync_interval)

    def restart(self) -> bool:
        return self._call(self.sntp.restart)

    def time(self) -> float:
        """``gettimeofday`` on the device clock SNTP corrects."""
        return self._call(lambda: self.stack.clock.time())

    def sync_wait(self, timeout: float | None) -> bool:
        """``esp_netif_sntp_sync_wait``: block until the clock is synchronised (a sync since the last wait), at most
        ``timeout`` seconds; False (ESP_ERR_TIMEOUT) when none came.  It needs a loop running the stack on another
        thread."""
        if self._loop is None:
            raise RuntimeError("sync_wait blocks: give EspSntp the StackLoop that runs the stack")
        got = self._synced.wait(timeout)
        self._synced.clear()
        return got
