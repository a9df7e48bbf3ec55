"""bench/bench_ping_anatomy.py reads a ping's steps out of an ftrace text: each step from the events of the stack's own
threads, in order, and a request whose steps are not all there left out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_ping_anatomy import STEPS, parse_events, ping_steps  # noqa: E402

# one ping to a stack whose thread is 500 (another thread, 600, and ping, 77, make system calls too), then a request
# that finds the stack awake (no waking): left out
TRACE = """# tracer: nop
            ping-77      [000] b....   100.000100: net_dev_queue: dev=lbtap0 skbaddr=000000001 len=98
            ping-77      [000] D..6.   100.000108: sched_waking: comm=python3 pid=500 prio=120 target_cpu=001
          <idle>-0       [001] d..2.   100.000120: sched_switch: prev_comm=swapper/1 ==> next_comm=python3 next_pid=500
         python3-600     [000] .....   100.000121: sys_exit: NR 232 = 1
         python3-500     [001] .....   100.000126: sys_exit: NR 232 = 1
         python3-500     [001] .....   100.000150: sys_enter: NR 19 (5, 7ffd, 1, 0, 0, 0)
         python3-500     [001] .....   100.000159: sys_exit: NR 19 = 98
         python3-600     [000] .....   100.000160: sys_enter: NR 1 (3, 7ffd, 98, 0, 0, 0)
         python3-500     [001] .....   100.000195: sys_enter: NR 1 (5, 7ffd, 98, 0, 0, 0)
         python3-500     [001] b..1.   100.000203: netif_rx: dev=lbtap0 skbaddr=000000002 len=98
            ping-77      [000] b....   100.010100: net_dev_queue: dev=lbtap0 skbaddr=000000003 len=98
         python3-500     [001] .....   100.010140: sys_enter: NR 19 (5, 7ffd, 1, 0, 0, 0)
"""


def test_a_pings_steps_come_from_the_stacks_own_events_in_order():
    events = parse_events(TRACE)
    assert len(events) == 12 and events == sorted(events)
    (steps,) = ping_steps(events, {500})
    assert len(steps) == len(STEPS) + 1
    assert steps == pytest.approx([8.0, 12.0, 6.0, 24.0, 9.0, 36.0, 8.0, 103.0])
    assert ping_steps(events, {600}) == []  # (that thread was never woken for a ping, nor read one)
