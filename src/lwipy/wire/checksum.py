"""The Internet checksum (RFC 1071) without a Python loop.

The ones'-complement sum of 16-bit big-endian words is congruent, modulo 0xFFFF, to the integer whose big-endian bytes
are the data (because 2**16 = 1 mod 0xFFFF).  So ``int.from_bytes`` (C) and one modulo give the sum; the only care is
that ones'-complement arithmetic writes the residue 0 as 0xFFFF unless every word was zero.
"""

from __future__ import annotations

import struct

__all__ = ["ones_sum", "fold", "checksum", "pseudo_sum_v4", "pseudo_sum_v6", "verify"]

_FOLD = 0xFFFF
_PSEUDO4 = struct.Struct("!4s4sxBH")
_PSEUDO6 = struct.Struct("!16s16sIxxxB")


def ones_sum(data: bytes | bytearray | memoryview) -> int:
    """An unfolded partial sum of ``data`` (odd lengths padded with a zero byte), to add to other partial sums."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value


def fold(total: int) -> int:
    """The 16-bit ones'-complement sum of the partial sums added into ``total``."""
    if not total:
        return 0
    rem = total % _FOLD
    return rem or _FOLD


def checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The checksum field value: the complement of the ones'-complement sum of ``initial`` and ``data``."""
    return ~fold(initial + ones_sum(data)) & 0xFFFF


def verify(data: bytes | bytearray | memoryview, initial: int = 0) -> bool:
    """True when ``data`` (checksum field included) plus ``initial`` sums to all ones, as a valid packet does."""
    return fold(initial + ones_sum(data)) == _FOLD


def pseudo_sum_v4(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Partial sum of the IPv4 pseudo-header (RFC 768, RFC 9293 3.1) for UDP and TCP checksums."""
    return int.from_bytes(_PSEUDO4.pack(src, dst, proto, length), "big")


def pseudo_sum_v6(src: bytes, dst: bytes, next_header: int, length: int) -> int:
    """Partial sum of the IPv6 pseudo-header (RFC 8200 8.1) for UDP, TCP and ICMPv6 checksums.

    ``length`` is the upper-layer packet length (header and data), a 32-bit field here, and ``next_header`` the
    upper-layer protocol, not that of any extension header in between.  ``dst`` is the final destination: with a
    routing header, the last address in it rather than the packet's destination field.
    """
    return int.from_bytes(_PSEUDO6.pack(src, dst, length, next_header), "big")
