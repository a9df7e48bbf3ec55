"""Initial sequence numbers as RFC 6528 says: ``ISN = M + F(localip, localport, remoteip, remoteport, secretkey)``.

``M`` is a clock that ticks every 4 microseconds; ``F`` is a keyed hash (BLAKE2s, in C) of the connection's four-tuple
with a secret drawn once per stack from its random source.  So a connection's ISN is unguessable from outside, yet a
new incarnation of the same four-tuple starts ahead of the old one, as RFC 9293 3.4.1 wants.  A stack can replace the
generator (lwIP's ``LWIP_HOOK_TCP_ISN``) by setting ``stack.hooks.tcp_isn`` (see :mod:`lwipy.core.hooks`); this one
is the default, as ESP-IDF's ``CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

__all__ = ["IsnGenerator", "IsnHook", "Rfc6528Isn"]

#: ``tcp_isn(stack, local_ip, local_port, remote_ip, remote_port) -> int`` (addresses as ipaddress objects)
IsnHook = Callable[..., int]


class IsnGenerator:
    """``isn(local_ip, local_port, remote_ip, remote_port, now)`` with a per-stack secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the ISN secret needs at least 16 bytes")
        self._secret = secret[:32]

    def __call__(self, local_ip: bytes, local_port: int, remote_ip: bytes, remote_port: int, now: float) -> int:
        tuple_bytes = local_ip + local_port.to_bytes(2, "big") + remote_ip + remote_port.to_bytes(2, "big")
        f = int.from_bytes(hashlib.blake2s(tuple_bytes, key=self._secret, digest_size=4).digest(), "big")
        m = int(now * 250_000)  # RFC 6528: a 4 microsecond timer
        return (m + f) & 0xFFFFFFFF


class Rfc6528Isn:
    """The ``tcp_isn`` hook ESP-IDF ships: an :class:`IsnGenerator` fed the four-tuple and the stack's time."""

    def __init__(self, generator: IsnGenerator) -> None:
        self.generator = generator

    def __call__(self, stack: Any, local_ip: Any, local_port: int, remote_ip: Any, remote_port: int) -> int:
        return self.generator(local_ip.packed, local_port, remote_ip.packed, remote_port, stack.now)
