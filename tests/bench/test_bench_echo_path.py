"""bench/bench_echo_path.py runs and measures each of its four ways (a few rounds, no sleep)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_echo_path.py"


def test_the_echo_path_bench_measures_the_fast_quiet_and_full_ways_and_the_minimal_responder():
    out = subprocess.run([sys.executable, str(BENCH), "--rounds", "3", "--sleep-ms", "0"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    rows = dict(re.findall(r"^\| (fast_echo|quiet echo|full way|minimal responder) \| ([\d.]+) \|", out, re.M))
    assert set(rows) == {"fast_echo", "quiet echo", "full way", "minimal responder"}
    assert all(float(v) > 0 for v in rows.values())
