"""The Internet checksum (RFC 1071) without a Python loop.

The ones'-complement sum of 16-bit big-endian words is congruent, modulo 0xFFFF, to the integer whose big-endian bytes
are the data (because 2**16 = 1 mod 0xFFFF).  So ``int.from_bytes`` (C) and one modulo give the sum; the only care is
that ones'-complement arithmetic writes the residue 0 as 0xFFFF unless every word was zero.

:func:`data_sum` is the same partial sum for a large payload (a TCP segment's data) by another route: the words' sum
is 256 times the sum of the even bytes plus that of the odd ones, and ``zlib.adler32`` started at 0 returns the exact
byte sum of at most 256 bytes in its low half (256 * 255 is below its modulus, 65521).  Six strided slices and six
calls for 1,536 bytes cost about 70% of ``int.from_bytes`` and the folds its modulo needs (issue 15, tx8).
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["ones_sum", "data_sum", "fold", "checksum", "pseudo_sum_v4", "pseudo_sum_v6", "verify", "from_bytes"]

_FOLD = 0xFFFF
_PSEUDO4 = struct.Struct("!4s4sxBH")
_PSEUDO6 = struct.Struct("!16s16sIxxxB")
#: ``int.from_bytes`` as a name of its own, for the per-packet code here and in the core (imported as ``_from_bytes``):
#: looking the class method up on ``int`` binds it anew at every call (CPython 3.11 does not specialise that lookup),
#: 35 ns a call; big-endian by default (3.11), so no byte order to parse, 5 ns less again
from_bytes = int.from_bytes
_from_bytes = from_bytes


def ones_sum(data: bytes | bytearray | memoryview) -> int:
    """An unfolded partial sum of ``data`` (odd lengths padded with a zero byte), to add to other partial sums."""
    value = _from_bytes(data)
    if len(data) & 1:
        value <<= 8
    return value


_adler32 = zlib.adler32


def data_sum(data: bytes | bytearray) -> int:
    """A partial sum of ``data`` as :func:`ones_sum` gives (the same residue modulo 0xFFFF, and 0 only when every
    byte is), cheaper for more than a few hundred bytes (up to 400 it is ``ones_sum``'s); ``data`` is bytes or a
    bytearray (contiguous, as the strided slices must be).  In 512-byte pieces: each one's 256 even bytes and 256
    odd ones summed exactly by ``zlib.adler32`` (started at 0: ``(B << 16) | A``, A the byte sum modulo 65521,
    never reached by 256 bytes)."""
    n = len(data)
    if n <= 400:  # ones_sum's way is the cheaper one for a few hundred bytes
        value = _from_bytes(data)
        return value << 8 if n & 1 else value
    if n <= 1536:  # a segment of up to 1,536 bytes, unrolled (an odd length's last byte is an even one: x 256)
        # adler32 from its own start (1: each piece's sum plus one, still below the modulus), the six ones (3 * 256
        # + 3) taken off once, as TcpOutput._output_fast's inline copy has it
        return ((_adler32(data[0:512:2]) & 0xFFFF) + (_adler32(data[512:1024:2]) & 0xFFFF)
                + (_adler32(data[1024:1536:2]) & 0xFFFF)) * 256 + (_adler32(data[1:512:2]) & 0xFFFF) \
            + (_adler32(data[513:1024:2]) & 0xFFFF) + (_adler32(data[1025:1536:2]) & 0xFFFF) - 771
    even = odd = 0
    for at in range(0, n, 512):
        even += _adler32(data[at:at + 512:2], 0) & 0xFFFF
        odd += _adler32(data[at + 1:at + 512:2], 0) & 0xFFFF
    return even * 256 + odd


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
    return _from_bytes(_PSEUDO4.pack(src, dst, proto, length))


def pseudo_sum_v6(src: bytes, dst: bytes, next_header: int, length: int) -> int:
    """Partial sum of the IPv6 pseudo-header (RFC 8200 8.1) for UDP, TCP and ICMPv6 checksums.

    ``length`` is the upper-layer packet length (header and data), a 32-bit field here, and ``next_header`` the
    upper-layer protocol, not that of any extension header in between.  ``dst`` is the final destination: with a
    routing header, the last address in it rather than the packet's destination field.
    """
    return _from_bytes(_PSEUDO6.pack(src, dst, length, next_header))
