"""The deadline heap, sequence arithmetic and RFC 6528 ISNs."""

import random

from hypothesis import given
from hypothesis import strategies as st

from lwipy.core.tcp.isn import IsnGenerator
from lwipy.core.tcp.seq import HALF, MASK, seq_add, seq_between, seq_diff, seq_ge, seq_gt, seq_le, seq_lt, seq_max, seq_min
from lwipy.core.timers import Deadlines

u32 = st.integers(0, 0xFFFFFFFF)
near = st.integers(-(2**31) + 1, 2**31 - 1)


@given(u32, near)
def test_seq_comparisons_agree_with_signed_distance(a, d):
    b = seq_add(a, d)
    assert seq_diff(b, a) == d
    assert seq_lt(a, b) == (d > 0) and seq_gt(a, b) == (d < 0)
    assert seq_le(a, b) == (d >= 0) and seq_ge(a, b) == (d <= 0)
    assert seq_max(a, b) == (b if d > 0 else a) and seq_min(a, b) == (a if d > 0 else b)


@given(st.integers(-(1 << 40), 1 << 40), st.integers(-(1 << 40), 1 << 40))
def test_bit_31_of_a_difference_is_the_half_test(a, b):
    """half13: the fast paths test ``(a - b) & HALF`` (bit 31) where they tested ``(a - b) & MASK >= HALF``, and
    ``not (a - b) & HALF`` for ``< HALF``: the same for every pair of ints, negative differences and ones past 32
    bits included (and two bytecodes less, with no compare of big ints).  This proves the rule only; the sites
    themselves are held by the fast-against-full differential tests."""
    assert bool((a - b) & HALF) == ((a - b) & MASK >= HALF)
    assert (not (a - b) & HALF) == ((a - b) & MASK < HALF)


def test_seq_across_wraparound():
    assert seq_lt(0xFFFFFFF0, 0x10) and seq_gt(0x10, 0xFFFFFFF0)
    assert seq_add(0xFFFFFFFF, 1) == 0 and seq_diff(0x5, 0xFFFFFFFB) == 10
    assert seq_between(0xFFFFFF00, 0x10, 0x100) and not seq_between(0xFFFFFF00, 0x100, 0x100)


def test_deadlines_keep_one_per_key_and_pop_in_order():
    d: Deadlines[str] = Deadlines()
    d.set("a", 5.0)
    d.set("b", 3.0)
    d.set("a", 1.0)  # moved earlier: the old entry is stale
    d.set("c", 4.0)
    d.cancel("c")
    assert d.next_at() == 1.0 and len(d) == 2
    assert d.pop_due(2.0) == ["a"]
    assert d.next_at() == 3.0
    d.set("b", None)
    assert d.next_at() is None and d.pop_due(100.0) == []


def test_deadlines_stay_compact_under_constant_rescheduling():
    d: Deadlines[int] = Deadlines()
    rng = random.Random(1)
    for i in range(100_000):
        d.set(i % 50, rng.uniform(0, 100))
    assert len(d) == 50 and len(d._heap) <= 2 * 50 + 64 + 1
    due = d.pop_due(1000.0)
    assert sorted(due) == list(range(50)) and d.next_at() is None


def test_deadlines_match_a_brute_force_model():
    rng = random.Random(7)
    d: Deadlines[int] = Deadlines()
    model: dict[int, float] = {}
    now = 0.0
    for _ in range(5000):
        op = rng.random()
        key = rng.randrange(20)
        if op < 0.6:
            when = now + rng.uniform(0, 10)
            d.set(key, when)
            model[key] = when
        elif op < 0.7:
            d.cancel(key)
            model.pop(key, None)
        else:
            now += rng.uniform(0, 3)
            due = d.pop_due(now)
            expect = sorted((w, k) for k, w in model.items() if w <= now)
            assert [k for k in due] == [k for _, k in expect]
            for k in due:
                del model[k]
        assert d.next_at() == (min(model.values()) if model else None)


def test_isn_is_keyed_per_tuple_and_advances_with_time():
    gen = IsnGenerator(bytes(range(16)))
    other = IsnGenerator(bytes(range(1, 17)))
    a = b"\x0a\x00\x00\x01"
    b = b"\x0a\x00\x00\x02"
    first = gen(a, 1000, b, 80, 10.0)
    assert gen(a, 1000, b, 80, 10.0) == first
    assert gen(a, 1001, b, 80, 10.0) != first and other(a, 1000, b, 80, 10.0) != first
    assert seq_diff(gen(a, 1000, b, 80, 11.0), first) == 250_000  # one second is 250,000 ticks of 4 us
