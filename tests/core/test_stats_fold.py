"""stats14: the fast paths count a frame by one tally (``Tcp.fast_taken``, ``Tcp.fast_sent``, ``Icmp.fast_echoes`` and
``Icmp.fast_refused``) that ``Stack.stats`` folds into the counters when anything reads them, as Linux sums its
per-CPU SNMP counters on read.  Every counter read through ``stack.stats`` equals the full path's after the same
traffic (requests answered through the request lane, a bulk send, the peer's pure ACKs, our pure ACKs, pings), read
after every step or only at the end, with the device refusing a write of each short way; a write that raises counts
what it counted before; and each stack keeps its own."""

from __future__ import annotations

import pytest

from lwipy.apps import TcpEchoServer
from lwipy.core.icmp import Icmp
from lwipy.core.tcp import fastpath, tcp_out
from lwipy.core.tcp.pcb import TcpPcb
from test_icmp_fast_echo import echo
from test_tcp_fastpath import ACK, established, frame, inject
from test_tcp_rr_fast import request

PEER_B = bytes([10, 0, 0, 9])  # tcp_script's peer
# the short ways in and out, watched (where each is looked up when called)
WAYS = {"_fast_request": TcpPcb, "_output_one": TcpPcb, "_output_fast": TcpPcb, "fast_ack": tcp_out,
        "fast_pure_ack": fastpath, "fast_echo": Icmp}


class Flaky:
    """A device whose ``n``-th write from :meth:`arm` on (counting from 1) is refused or raises OSError, as ``mode``
    says (None: none fails); ``failed_in`` lists the short way (:data:`WAYS`) running at each failure."""

    def __init__(self, dev, mode: str | None, active: list) -> None:
        self.real, self.mode, self.active = dev.transmit, mode, active
        self.left = 0
        self.failed_in: list = []
        dev.transmit = self

    def arm(self, n: int) -> None:
        self.left = n if self.mode else 0

    def __call__(self, frame) -> bool:
        if self.left:
            self.left -= 1
            if not self.left:
                self.failed_in.append(self.active[-1] if self.active else "full")
                if self.mode == "raise":
                    raise OSError(105, "no buffer space")
                return False
        return self.real(frame)


def watch_ways(monkeypatch) -> tuple[dict[str, int], list]:
    """Count the frames each short way took (a true answer, or one that raised), and keep the list of those
    running (innermost last)."""
    taken = dict.fromkeys(WAYS, 0)
    active: list = []
    for name, owner in WAYS.items():
        real = getattr(owner, name)

        def wrapper(*args, _real=real, _name=name, **kw):
            active.append(_name)
            took = True
            try:
                took = _real(*args, **kw)
            finally:
                active.pop()
                taken[_name] += bool(took)
            return took
        monkeypatch.setattr(owner, name, wrapper)
    return taken, active


def traffic(fast: bool, mode: str | None, each: bool = True, active: list | None = None) -> tuple[list, list]:
    """The same traffic through a stack with the fast paths (``fast``) or without; ``mode``: a write of each short
    way refused or raising once.  Per step, what raised, the frames sent and the counters (after every step with
    ``each``, else at the end); and where the writes failed."""
    t, pcb, _ = established(ts=False, fast=fast, reader=False)
    t.stack.icmp.fast_path = fast
    TcpEchoServer(t.stack, 7)._attach(pcb)  # the request lane (on_recv): a reply written from the request's callback
    dev = Flaky(t.dev, mode, active if active is not None else [])
    seen = []

    def step(name: str, run, fail: int = 0) -> None:
        dev.arm(fail)
        try:
            run()
            raised = None
        except OSError as error:
            raised = error.errno
        dev.arm(0)
        seen.append((name, raised, len(t.dev.take()), t.stack.stats.as_dict() if each else None))

    for i in range(4):  # requests, each acknowledging the reply before it, answered by _output_one; one refused
        step(f"request {i}", lambda i=i: request(t, pcb, bytes([65 + i]) * 64), fail=int(i == 1))
        step(f"retry {i}", lambda: t.at(t.now + 0.02))  # (TX_RETRY)
    step("last reply acknowledged", lambda: inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK)))
    step("bulk", lambda: pcb.send(b"b" * 3000), fail=2)  # _output_fast's loop, its second segment failing
    step("bulk retried", lambda: t.at(t.now + 0.02))
    for part in (1, 2, 3):  # the peer's pure ACKs of new data (fast_pure_ack)
        step(f"ack {part}", lambda part=part: inject(t, frame(t, t.peer_seq, pcb.snd_max - 1000 * (3 - part), ACK)))
    pcb.on_recv = lambda p, data: 0  # a reader that writes nothing back: our ACKs are pure ones (fast_ack)
    for i in range(5):
        step(f"data {i}", lambda i=i: request(t, pcb, bytes([97 + i]) * 500), fail=int(i == 1))
    step("delayed ack", lambda: t.at(t.now + 0.2))
    for i in range(3):  # pings (fast_echo)
        step(f"ping {i}", lambda i=i: inject(t, echo(bytes([i]) * 56, src=PEER_B, seq=i)), fail=int(i == 1))
    seen.append(("end", None, None, t.stack.stats.as_dict()))
    return seen, dev.failed_in


@pytest.mark.parametrize("each", [True, False], ids=["read each step", "read at the end"])
@pytest.mark.parametrize("mode", [None, "refuse"])
def test_the_fast_paths_count_as_the_full_path(mode, each, monkeypatch):
    taken, active = watch_ways(monkeypatch)
    fast, failed_in = traffic(True, mode, each, active)
    assert all(taken.values()), taken  # every short way took frames
    assert sorted(failed_in) == ([] if mode is None else ["_output_fast", "_output_one", "fast_ack", "fast_echo"])
    full, full_failed_in = traffic(False, mode, each)
    assert len(full_failed_in) == len(failed_in)
    assert fast == full


# what a write that raised inside a fast path leaves uncounted of its frame, as before stats14 (those ways count after
# their work: the fast path a segment it took, fast_ack the ACK it wrote, fast_echo the ping and its reply)
UNCOUNTED = {
    "request 1": {"link": {"recv": 1}, "ip": {"recv": 1}, "tcp": {"recv": 1}},
    "data 1": {"link": {"recv": 1}, "ip": {"recv": 1, "xmit": 1}, "tcp": {"recv": 1}, "etharp": {"cachehit": 1}},
    "ping 1": {"link": {"recv": 1}, "ip": {"recv": 1, "xmit": 1}, "icmp": {"recv": 1}, "etharp": {"cachehit": 1}},
}


def test_a_write_that_raises_counts_what_it_counted_before(monkeypatch):
    taken, active = watch_ways(monkeypatch)
    fast, failed_in = traffic(True, "raise", True, active)
    assert sorted(failed_in) == ["_output_fast", "_output_one", "fast_ack", "fast_echo"]
    full, _ = traffic(False, "raise")
    missing: dict = {}
    for (name, raised, out, counts), (full_name, full_raised, full_out, full_counts) in zip(fast, full, strict=True):
        assert (name, raised, out) == (full_name, full_raised, full_out)
        for proto, figures in UNCOUNTED.get(name, {}).items():
            for field, n in figures.items():
                missing[proto, field] = missing.get((proto, field), 0) + n
        for (proto, field), n in missing.items():
            counts[proto][field] += n
        assert counts == full_counts, name


def test_reading_again_changes_nothing_and_gives_the_same_object():
    t, pcb, _ = established(ts=False, reader=False)
    TcpEchoServer(t.stack, 7)._attach(pcb)
    stats = t.stack.stats
    request(t, pcb, b"q" * 64)
    assert t.stack.stats is stats and t.stack.tcp.fast_taken and t.stack.tcp.fast_sent
    first = stats.as_dict()
    assert t.stack.stats.as_dict() == first and t.stack.stats.as_dict() == first


def test_each_stack_keeps_its_own_counters():
    """Two stacks in one process: traffic through one's fast paths counts in its counters alone."""
    runs = [established(ts=False, reader=False) for _ in range(2)]
    quiet = runs[1][0].stack.stats.as_dict()
    (t, pcb, _), (other, _, _) = runs
    TcpEchoServer(t.stack, 7)._attach(pcb)
    before = t.stack.stats.tcp.recv
    for i in range(3):
        request(t, pcb, bytes([65 + i]) * 64)
    inject(t, echo(src=PEER_B))
    assert t.stack.stats.tcp.recv == before + 3 and t.stack.stats.icmp.xmit == 1
    assert other.stack.stats.as_dict() == quiet
