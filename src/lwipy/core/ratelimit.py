"""A token bucket for ICMP and ICMPv6 errors (RFC 1812 4.3.2.8, RFC 4443 2.4 (f)): ``burst`` back to back, then
``per_s`` a second, on the stack's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stack import Stack

__all__ = ["TokenBucket"]


class TokenBucket:
    """``take()`` is True while the bucket has a token (``icmp_ratelimit_burst``, ``icmp_ratelimit_per_s``)."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self._tokens = float(stack.config.icmp_ratelimit_burst)
        self._at = 0.0

    def take(self) -> bool:
        cfg = self.stack.config
        now = self.stack.now
        self._tokens = min(float(cfg.icmp_ratelimit_burst), self._tokens + (now - self._at) * cfg.icmp_ratelimit_per_s)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
