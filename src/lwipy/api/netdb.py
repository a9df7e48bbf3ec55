"""Name resolution for application threads: lwIP's ``netconn_gethostbyname`` (``api_lib.c``) and the ``netdb.c``
functions behind :meth:`SocketApi.getaddrinfo <lwipy.api.sockets.SocketApi.getaddrinfo>`, ``gethostbyname`` and
``gethostbyname_ex``.

::

    loop = StackLoop(stack).start()
    stack.dns_setserver(0, "10.0.0.53")           # or from a DHCP lease
    answer = netconn_gethostbyname(loop, "www.lwipy.test")
    answer.address, answer.canonical

The calling thread posts the query to the core thread and sleeps until the resolver calls back (within the retry
budget: ``DNS_MAX_RETRIES`` tries of each server) or the loop stops.  Errors are the resolver's
(:class:`~lwipy.core.dns.DnsNotFound`, :class:`~lwipy.core.dns.DnsServerFailure`,
:class:`~lwipy.core.dns.DnsTimeout`, :class:`~lwipy.core.dns.DnsNoAddress`, :class:`~lwipy.core.dns.DnsNoServer`),
all :class:`~lwipy.errors.LwipError` with errno EINVAL, as lwIP's ``ERR_VAL``.  :func:`gaierror_for` maps them to
the ``socket.gaierror`` a Python program expects.
"""

from __future__ import annotations

import errno
import socket as _socket
import threading
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

from ..core.dns import (LWIP_DNS_ADDRTYPE_DEFAULT, DnsAnswer, DnsError, DnsNoAddress, DnsNotFound)
from ..errors import LwipError

if TYPE_CHECKING:
    from .loop import StackLoop

__all__ = ["netconn_gethostbyname", "gaierror_for"]


class _Waiter:
    """One resolution in flight: the resolver's callback and the loop's end both wake the caller."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: DnsAnswer | None = None
        self.error: BaseException | None = None

    def found(self, answer: DnsAnswer | None, error: DnsError | None) -> None:
        self.answer, self.error = answer, error
        self.done.set()

    def loop_stopped(self) -> None:
        if not self.done.is_set():
            self.error = LwipError(errno.ESHUTDOWN, "the stack's loop stopped during name resolution")
            self.done.set()


def netconn_gethostbyname(loop: "StackLoop", name: str, addrtype: int = LWIP_DNS_ADDRTYPE_DEFAULT) -> DnsAnswer:
    """``netconn_gethostbyname_addrtype``: resolve ``name`` on ``loop``'s stack, blocking the calling thread.  The
    ``netconn_external_resolve`` hook is asked first (on the core thread), as lwIP asks
    ``LWIP_HOOK_NETCONN_EXTERNAL_RESOLVE`` before it posts the query; it returns an address or None."""
    stack = loop.stack
    waiter = _Waiter()

    def start() -> DnsAnswer | None:
        hook = stack.hooks.netconn_external_resolve
        if hook is not None:
            addr = hook(stack, name, addrtype)
            if addr is not None:
                return DnsAnswer(name, ip_address(addr) if isinstance(addr, str) else addr, (name,), "hook")
        return stack.dns.gethostbyname(name, waiter.found, addrtype)

    if loop.is_core_thread():
        answer = start()
        if answer is None:
            raise LwipError(errno.EDEADLK, "netconn_gethostbyname on the core thread would wait for itself; use "
                                           "stack.dns.gethostbyname with a callback there")
        return answer
    loop.add_stop_listener(waiter)
    try:
        answer = loop.call(start)
        if answer is not None:
            return answer
        if not loop.running:
            waiter.loop_stopped()
        waiter.done.wait()
    finally:
        loop.discard_stop_listener(waiter)
    if waiter.error is not None:
        raise waiter.error
    assert waiter.answer is not None
    return waiter.answer


def gaierror_for(e: BaseException) -> _socket.gaierror:
    """The ``socket.gaierror`` for a failed resolution.  lwIP's ``lwip_getaddrinfo`` returns ``EAI_FAIL`` for every
    failure; lwipy keeps that for timeouts, server failures and missing servers, but says ``EAI_NONAME`` when the
    server said the name does not exist or has no address of the family asked, as the C library does, because
    Python programs tell "no such host" from "DNS broken" by it."""
    if isinstance(e, (DnsNotFound, DnsNoAddress)):
        return _socket.gaierror(_socket.EAI_NONAME, f"Name or service not known ({e.strerror})")
    return _socket.gaierror(_socket.EAI_FAIL, f"Non-recoverable failure in name resolution ({e.strerror})")


def resolve(loop: "StackLoop", name: str, addrtype: int) -> DnsAnswer:
    """:func:`netconn_gethostbyname` with its errors as ``socket.gaierror``."""
    try:
        return netconn_gethostbyname(loop, name, addrtype)
    except LwipError as e:
        if e.errno == errno.ESHUTDOWN:
            raise
        raise gaierror_for(e) from None


def hostname_text(host: Any) -> Any:
    """A host as Python passes it (str, bytes, bytearray) as text (IDNA for bytes)."""
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("idna")
    return host
