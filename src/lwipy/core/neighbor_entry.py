"""What the short ways out need of a neighbour cache entry, ARP's (:class:`~lwipy.core.etharp.ArpEntry`) and
ND's (:class:`~lwipy.core.nd6.Neighbor`) alike.

A kept way out (TCP's ``TcpOutput._tx_way``, the ICMP echo's way back) holds the entry and writes frames to its MAC
itself while the entry needs nothing of its cache's output.  So each entry keeps ``refresh_at``, from when the next
packet must go through that output again (to refresh, resolve or move the entry on), worked out whenever a field it
depends on is written, so that a short way tests it in one comparison; and a write of its MAC moves
``Stack.way_generation`` on, so that a kept way made for the old MAC is made again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RefreshAt"]


class RefreshAt:
    """A mixin of the entry dataclasses (``slots=True``, with ``netif`` and ``mac`` fields and, last, a ``refresh_at``
    field set by nothing else): ``refresh_at`` is :meth:`_refresh_due` again after every write of a field named in
    ``_REFRESH_FROM`` (a class attribute of each entry type); a write of ``mac`` moves ``Stack.way_generation`` on."""

    __slots__ = ()
    _REFRESH_FROM: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._refresh_again()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in self._REFRESH_FROM:
            self._refresh_again()
        if name == "mac":  # way13: a kept way out writes to it (Stack.way_generation)
            self.netif.stack._way_moved()

    def _refresh_due(self) -> float:
        """``refresh_at`` as the entry's fields now say (each entry type's own rule)."""
        raise NotImplementedError

    def _refresh_again(self) -> None:
        try:
            self.refresh_at  # noqa: B018 (the last field: set once __init__ set every other)
        except AttributeError:
            return  # (in __init__, before every field is set: __post_init__ works it out)
        object.__setattr__(self, "refresh_at", self._refresh_due())
