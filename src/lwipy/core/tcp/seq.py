"""32-bit sequence number arithmetic (RFC 9293 3.4): every comparison is modulo 2**32.

``a < b`` means ``b`` is ahead of ``a`` by less than half the space.  Hot paths inline ``(a - b) & MASK``; these
functions are the readable form and the reference the tests check the inlined forms against.
"""

from __future__ import annotations

__all__ = ["MASK", "HALF", "seq_add", "seq_diff", "seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_between", "seq_max",
           "seq_min"]

MASK = 0xFFFFFFFF
HALF = 0x80000000


def seq_add(a: int, n: int) -> int:
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """``a - b`` as a signed distance in -2**31..2**31-1."""
    d = (a - b) & MASK
    return d - 0x100000000 if d & HALF else d


def seq_lt(a: int, b: int) -> bool:
    return (a - b) & MASK >= HALF


def seq_le(a: int, b: int) -> bool:
    return a == b or (a - b) & MASK >= HALF


def seq_gt(a: int, b: int) -> bool:
    return (b - a) & MASK >= HALF


def seq_ge(a: int, b: int) -> bool:
    return a == b or (b - a) & MASK >= HALF


def seq_between(lo: int, x: int, hi: int) -> bool:
    """``lo <= x < hi`` in sequence space (``hi`` at most 2**31 ahead of ``lo``)."""
    return (x - lo) & MASK < (hi - lo) & MASK


def seq_max(a: int, b: int) -> int:
    return b if seq_lt(a, b) else a


def seq_min(a: int, b: int) -> int:
    return a if seq_lt(a, b) else b
