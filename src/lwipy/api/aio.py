"""asyncio over one lwipy stack, without patching anything: :class:`LwipEventLoop`.

::

    api = SocketApi(loop, os_fds=True)
    async def main():
        reader, writer = await asyncio.open_connection("10.0.0.2", 7)     # an lwipy socket underneath
        server = await asyncio.start_server(handle, "", 8080)
    lwipy.api.aio.run(main(), api)

The loop is asyncio's own selector event loop on an :class:`~lwipy.api.selector.LwipSelector`; what it adds is that
``create_connection``, ``create_server``, ``create_datagram_endpoint`` and ``getaddrinfo`` make and resolve lwipy
sockets of its stack, where asyncio would call the ``socket`` module.  Each stack may have its own loop (on its own
thread), so one process can run a fleet of simulated devices, each with its asyncio program.  Under
:func:`lwipy.patch` the default loop already does this for the patched stack.
"""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine, TypeVar

from .selector import LwipSelector
from .sockdefs import AF_INET, SOCK_DGRAM, SOCK_STREAM
from .sockets import SocketApi

__all__ = ["LwipEventLoop", "run"]

T = TypeVar("T")


class LwipEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose TCP and UDP endpoints are sockets of ``api``'s stack (``os_fds=True``)."""

    def __init__(self, api: SocketApi) -> None:
        super().__init__(LwipSelector(api))
        self.api = api

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> Any:
        # a name may take the resolver's whole retry budget: resolve it on a worker thread, as asyncio does
        return await self.run_in_executor(None, self.api.getaddrinfo, host, port, family, type, proto, flags)

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None, *,
                                sock: Any = None, local_addr: Any = None, ssl: Any = None, **kwargs: Any) -> Any:
        if sock is None and (host is not None or port is not None):
            if ssl:
                raise ValueError("ssl needs an OS socket; lwipy's sockets cannot carry it")
            sock = self.api.socket(AF_INET, SOCK_STREAM)
            try:
                sock.setblocking(False)
                if local_addr is not None:
                    sock.bind(local_addr)
                await self.sock_connect(sock, (host, port))
            except BaseException:
                sock.close()
                raise
        return await super().create_connection(protocol_factory, sock=sock, ssl=ssl, **kwargs)

    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, *, sock: Any = None,
                            backlog: int = 100, ssl: Any = None, reuse_port: Any = None, **kwargs: Any) -> Any:
        if sock is None:
            if ssl:
                raise ValueError("ssl needs an OS socket; lwipy's sockets cannot carry it")
            if isinstance(host, (list, tuple)):
                raise ValueError("an lwipy stack serves one address per server; give one host")
            kwargs.pop("reuse_address", None)  # create_server always sets SO_REUSEADDR
            sock = self.api.create_server((host or "", port or 0), backlog=backlog, reuse_port=bool(reuse_port))
        return await super().create_server(protocol_factory, sock=sock, backlog=backlog, ssl=ssl, **kwargs)

    async def create_datagram_endpoint(self, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None,
                                       *, sock: Any = None, allow_broadcast: Any = None, **kwargs: Any) -> Any:
        if sock is None:
            sock = self.api.socket(AF_INET, SOCK_DGRAM)
            try:
                sock.setblocking(False)
                if allow_broadcast:
                    sock.setsockopt(self.api.SOL_SOCKET, self.api.SO_BROADCAST, 1)
                if local_addr is not None:
                    sock.bind(local_addr)
                if remote_addr is not None:
                    sock.connect(remote_addr)
            except BaseException:
                sock.close()
                raise
        return await super().create_datagram_endpoint(protocol_factory, sock=sock, **kwargs)


def run(main: Coroutine[Any, Any, T], api: SocketApi, *, debug: bool | None = None) -> T:
    """:func:`asyncio.run` on an :class:`LwipEventLoop` for ``api``."""
    with asyncio.Runner(debug=debug, loop_factory=lambda: LwipEventLoop(api)) as runner:
        return runner.run(main)
