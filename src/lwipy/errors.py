"""Exceptions, split by whose fault they are.

- :class:`Malformed`: a peer sent bytes that do not parse.  The core catches it, counts the drop and keeps serving; it
  never leaves ``Stack.input``.
- :class:`ConfigError`: the user asked for an option that does not exist or a value out of range.
- :class:`LwipError`: a local call failed the way an lwIP call fails.  It is an ``OSError`` whose ``errno`` is what an
  lwIP socket would report, so the sockets layer can raise it as it is.  :class:`LwipTimeout` is the one that says a
  receive or send timeout expired (lwIP's ``ERR_TIMEOUT``).
- :class:`ThreadSafetyError`: local misuse: a core function ran on a thread other than the core thread while
  ``check_thread_safety`` (``CONFIG_LWIP_CHECK_THREAD_SAFETY``) is on.
"""

from __future__ import annotations

import errno as _errno
import os as _os

__all__ = ["Malformed", "ChecksumError", "ConfigError", "LwipError", "LwipTimeout", "ThreadSafetyError", "os_error",
           "check_ip_byte"]


class Malformed(ValueError):
    """Bytes from the wire that do not form a valid packet (truncated, bad lengths, bad version...)."""


class ChecksumError(Malformed):
    """A packet whose checksum does not verify (counted as ``chkerr`` rather than ``lenerr``)."""


class ConfigError(ValueError):
    """An unknown option or a value outside the option's range.  The message names the option."""


class LwipError(OSError):
    """A failed local operation, carrying the errno an lwIP socket would report."""

    def __init__(self, code: int, detail: str = "") -> None:
        text = _errno.errorcode.get(code, str(code))
        super().__init__(code, f"{text}: {detail}" if detail else text)


class LwipTimeout(LwipError):
    """A receive or send timeout expired (``ERR_TIMEOUT``; ``SO_RCVTIMEO``/``SO_SNDTIMEO``).

    Its errno is ``EWOULDBLOCK`` (``EAGAIN``), as lwIP's ``err_to_errno`` reports it; the class lets a Python-style
    layer raise ``socket.timeout`` instead."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(_errno.EWOULDBLOCK, detail)


class ThreadSafetyError(RuntimeError):
    """A core function ran on a thread other than the core thread (``CONFIG_LWIP_CHECK_THREAD_SAFETY``: lwIP's
    ``LWIP_ASSERT_CORE_LOCKED`` fails).  Post the call to the core thread with ``StackLoop.call`` instead."""


def os_error(code: int, note: str = "") -> OSError:
    """What Python's socket module raises for ``code``: ``OSError(code, strerror)``, which Python turns into the
    subclass for the errno (ConnectionRefusedError, BlockingIOError...).  ``note`` (lwipy's detail) is added as a
    note, so the message itself stays the one Python programs know."""
    e = OSError(code, _os.strerror(code))
    if note:
        e.add_note(note)
    return e


def check_ip_byte(name: str, value: object) -> int:
    """``value`` when it is an integer 0..255, as a pcb's ``tos`` and ``ttl`` are (lwIP's ``u8_t`` fields: one byte
    of the IP header); else EINVAL, at once, rather than a failure at the next packet."""
    if type(value) is not int or not 0 <= value <= 255:
        raise LwipError(_errno.EINVAL, f"{name} is one byte of the IP header: an integer 0..255, not {value!r}")
    return value
