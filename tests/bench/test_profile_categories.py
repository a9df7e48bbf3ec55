"""bench/profile_categories.py: the rules put lwipy's functions where issue 15's profile table says, and a real profile
of a transfer splits into shares that add up, with the TCP categories carrying the work."""

from __future__ import annotations

import cProfile
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import profile_categories as pc  # noqa: E402

from lwipy.sim import Simulation  # noqa: E402
from helpers import connected, transfer  # noqa: E402


@pytest.mark.parametrize("filename, func, category", [
    ("/x/src/lwipy/core/tcp/tcp_out.py", "_send_segment", "ACK and data output"),
    ("/x/src/lwipy/core/tcp/fastpath.py", "fast_input", "TCP demux and input"),
    ("/x/src/lwipy/netif/tap.py", "transmit", "TAP write"),
    ("/x/src/lwipy/netif/tap.py", "receive", "TAP reads"),
    ("~", "<built-in method posix.writev>", "TAP write"),
    ("~", "<built-in method posix.read>", "TAP reads"),
    ("/x/src/lwipy/api/loop.py", "run", "Loop and timers"),
    ("/x/src/lwipy/core/nd6.py", "poll_at", "Loop and timers"),
    ("/x/src/lwipy/core/ip4.py", "ip4_input", "Ethernet/IP input"),
    ("/x/src/lwipy/core/ip4.py", "ip4_output_if", "IP/Ethernet output"),
    ("/x/src/lwipy/wire/tcp.py", "parse", "Header parsing"),
    ("/x/src/lwipy/apps/discard.py", "_event", "Application and window update"),
    ("~", "<method 'poll' of 'select.epoll' objects>", pc.WAIT),
    ("~", "<built-in method builtins.len>", "Other"),
])
def test_rules(filename, func, category):
    assert pc.categorise(filename, func) == category


def test_a_real_profile_splits_into_shares(tmp_path):
    sim = Simulation(seed=5)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    client, server, _ = connected(sim, a, b)
    data = bytes(range(256)) * 400
    prof = cProfile.Profile()
    got = prof.runcall(transfer, sim, client, server, data)
    assert got == data
    path = tmp_path / "p.prof"
    prof.dump_stats(str(path))
    shares = pc.shares(str(path))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares.get("TCP demux and input", 0) > 0.02
    assert shares.get("ACK and data output", 0) > 0.02
    # built-ins no rule names are charged to their callers: "Other" keeps only what no rule knows
    assert shares.get("Other", 0) < 0.5
    table = pc.category_table(str(path), 40.0)
    assert "| TCP demux and input |" in table and table.count("\n") == len(shares) + 1
