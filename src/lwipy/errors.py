"""Exceptions, split by whose fault they are.

- :class:`Malformed`: a peer sent bytes that do not parse.  The core catches it, counts the drop and keeps serving; it
  never leaves ``Stack.input``.
- :class:`ConfigError`: the user asked for an option that does not exist or a value out of range.
- :class:`LwipError`: a local call failed the way an lwIP call fails.  It is an ``OSError`` whose ``errno`` is what an
  lwIP socket would report, so the sockets layer can raise it as it is.
"""

from __future__ import annotations

import errno as _errno

__all__ = ["Malformed", "ChecksumError", "ConfigError", "LwipError"]


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
