"""guard15: ``TcpPcb._unusual_in`` and ``_unusual``, the one field each that header prediction tests instead of the
fields that change seldom (``_fast_input`` and ``fastpath.fast_pure_ack``: the state, out-of-order data held, the
read side closed, fast recovery, SACK ranges; ``_fast_request``: those, a refused segment's retry and a stream
source).  They are only as good as their writers (``TcpPcb._unusual_check`` after each write), so:

- every read of them (each entry of the three ways, each segment's full input and each timer poll) finds them as
  the fields say, through random lives of two stacks on a lossy, reordering link with a bounded transmit queue
  (loss, SACK, fast recovery, timeouts, refused writes, FINs both ways, shutdowns, aborts, stream sources), and
  after every step of scripted ones with a peer under the test's control; the differential tests of the fast paths
  check them after every step too (``test_tcp_fastpath.snapshot``);
- every write of those fields in the TCP core is followed in its function by ``_unusual_check()`` (read from the
  source), and nothing outside the core writes them;
- the fast ways are taken again once the unusual thing is gone, and left while it lasts (the cases each way already
  had: test_tcp_rr_request, test_tcp_fastpath, test_tcp_ack_fast).

``fast_pure_ack`` no longer tests ``fin_seq``: no FIN is queued on an ESTABLISHED connection (only ``_queue_fin``
sets it, and it moves such a connection on); ``assert_unusual_kept`` asserts that wherever it checks the fields."""

from __future__ import annotations

import ast
import pathlib

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.config import Config
from lwipy.core.tcp import fastpath
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.errors import LwipError
from lwipy.sim import Simulation
from test_tcp_fastpath import (ACK, FIN, PSH, assert_unusual_kept, established, frame, inject, snapshot,
                               unusual_as_fields)
from test_tcp_rr_fast import echo_connection, request
from test_tcp_rr_request import _abort, _close, _shutdown_read, watch_request

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "lwipy"
CONDITIONS = ("not ESTABLISHED", "ooseq", "rx_closed", "recover", "ranges", "SYN unacknowledged", "txretry_at",
              "tx_source")


def conditions(pcb) -> set[str]:
    """Which of the fields stand out now."""
    seen = set()
    for name, on in zip(CONDITIONS, (pcb.state_name != "ESTABLISHED", pcb.ooseq, pcb.rx_closed,
                                     pcb.cc.recover is not None, pcb.scoreboard.ranges, pcb.buf_seq != pcb.snd_una,
                                     pcb.txretry_at is not None, pcb._tx_source is not None), strict=True):
        if on:
            seen.add(name)
    return seen


def watch_reads(monkeypatch) -> dict:
    """Check the pcb's fields at every entry of the three ways that read them, every segment's full input and every
    timer poll; count the entries, and gather which unusual fields were seen on the way."""
    seen: dict = {"entries": 0, "conditions": set()}

    def checked(real, where):
        def wrapper(pcb, *args, **kw):
            assert_unusual_kept(pcb, f"at {where}")
            seen["entries"] += 1
            seen["conditions"] |= conditions(pcb)
            return real(pcb, *args, **kw)
        return wrapper
    for name in ("_fast_request", "_fast_input", "input", "poll"):
        monkeypatch.setattr(TcpPcb, name, checked(getattr(TcpPcb, name), name))
    monkeypatch.setattr(fastpath, "fast_pure_ack", checked(fastpath.fast_pure_ack, "fast_pure_ack"))
    return seen


# -- random lives of two stacks ----------------------------------------------------------------------------------------
OPS = ["send", "send", "send", "request", "request", "run", "run", "recv", "source", "no source", "shutdown read",
       "shutdown write", "close", "abort", "recover", "reader", "no reader"]


def _stream(n: int):
    """A stream source of ``n`` bytes in all (then none)."""
    left = [n]

    def source(pcb, room):
        give = min(room, left[0])
        left[0] -= give
        return b"s" * give
    return source


def live(seed: int, ts: bool, sack: bool, loss: float, ops: list) -> list:
    """Two stacks connected over a faulty link, each op applied to one side, then time run; every pcb checked after
    every step (and by the watcher at every read).  Returns the two pcbs."""
    sim = Simulation(seed=seed)
    hub = sim.hub()
    cfg = Config(tcp_timestamps=ts, tcp_sack_out=sack, tcp_snd_buf_default=11520, tcp_wnd_default=11520)
    faults = dict(loss=loss, reorder=0.1, duplicate=0.02) if loss else None
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", faults=faults, txqueue=dict(limit=3, rate=20e6))
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", faults=faults)
    listener = b.tcp.listen(5000)
    accepted = []
    listener.on_event = lambda lst: accepted.append(lst.accept())
    client = a.tcp.connect("10.0.0.2", 5000)
    if not sim.run_until(lambda: accepted and client.state_name == "ESTABLISHED", 30):
        # the seeded faults took the handshake's ACK and those of every SYN-ACK sent again (the server's SYN_RCVD
        # times out while the client, with nothing to send, stays ESTABLISHED): no life to check (seed 189, 10 %)
        reject()
    server = accepted[0]
    pcbs = [client, server]

    def reader(echo: bool):
        def on_event(pcb):
            while pcb.readable and pcb.state_name != "CLOSED":
                data = pcb.recv()
                if echo and pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT"):
                    try:
                        pcb.send(data)
                    except LwipError:
                        return
        return on_event
    client.on_event, server.on_event = reader(False), reader(True)
    for op, side, n in ops:
        pcb = pcbs[side]
        open_ = pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT")
        try:
            if op == "send" and open_:
                pcb.send(b"d" * n)
            elif op == "request" and open_:
                pcb.send(b"q" * (n % 200 + 1))  # (the server echoes: a request/response)
            elif op == "run":
                sim.run(n / 10000)
            elif op == "recv" and pcb.state_name != "CLOSED" and pcb.readable:
                pcb.recv(n)
            elif op == "source":
                pcb.tx_source = _stream(n)
            elif op == "no source":
                pcb.tx_source = None
            elif op == "shutdown read" and pcb.state_name != "CLOSED":
                pcb.shutdown(read=True, write=False)
            elif op == "shutdown write" and pcb.state_name != "CLOSED":
                pcb.shutdown()
            elif op == "close" and pcb.state_name != "CLOSED":
                pcb.close()
            elif op == "abort" and pcb.state_name != "CLOSED":
                pcb.abort()
            elif op == "recover" and open_ and pcb.snd_una != pcb.snd_max:
                pcb.recover = pcb.snd_max  # (written through the pcb: a recovery begun from outside)
            elif op == "reader":
                pcb.on_event = reader(side == 1)
            elif op == "no reader":
                pcb.on_event = None
        except LwipError:
            pass
        sim.run(0.01)
        for p in pcbs:
            assert_unusual_kept(p, f"after {op} on side {side}")
    sim.run(30)
    for p in pcbs:
        assert_unusual_kept(p, "at the end")
    return pcbs


STEP = st.tuples(st.sampled_from(OPS), st.integers(0, 1), st.integers(1, 30000))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 16), ts=st.booleans(), sack=st.booleans(), loss=st.sampled_from([0.0, 0.03, 0.1]),
       ops=st.lists(STEP, max_size=30))
def test_random_lives_keep_the_fields_as_they_stand(seed, ts, sack, loss, ops, monkeypatch):
    with monkeypatch.context() as m:
        seen = watch_reads(m)
        live(seed, ts, sack, loss, ops)
        assert seen["entries"]


def test_a_fixed_life_meets_every_unusual_field_and_takes_the_fast_ways(monkeypatch):
    """The random lives are worth something only when they meet what the fields stand for: a fixed one does (loss
    and SACK into recovery, timeouts, refused writes, out-of-order data, a stream source, shutdowns), and takes
    each fast way on the way."""
    seen = watch_reads(monkeypatch)
    taken = {"_fast_request": 0, "_fast_input": 0, "fast_pure_ack": 0}

    def counted(real, name):
        def wrapper(*args):
            ok = real(*args)
            taken[name] += bool(ok)
            return ok
        return wrapper
    monkeypatch.setattr(TcpPcb, "_fast_request", counted(TcpPcb._fast_request, "_fast_request"))
    monkeypatch.setattr(TcpPcb, "_fast_input", counted(TcpPcb._fast_input, "_fast_input"))
    monkeypatch.setattr(fastpath, "fast_pure_ack", counted(fastpath.fast_pure_ack, "fast_pure_ack"))
    ops = [("request", 0, 60), ("run", 0, 500)] * 6 + [("send", 0, 30000), ("run", 0, 20000)] * 3 \
        + [("source", 1, 4000), ("run", 0, 3000), ("send", 0, 9000), ("run", 0, 9000), ("no source", 1, 1),
           ("request", 0, 100), ("run", 0, 3000), ("request", 1, 100), ("run", 0, 5000), ("shutdown read", 0, 1),
           ("run", 0, 100), ("send", 1, 3000), ("run", 0, 20000), ("shutdown write", 1, 1), ("run", 0, 20000),
           ("close", 0, 1)]
    live(3, True, True, 0.05, ops)
    assert seen["conditions"] == set(CONDITIONS), f"never met: {set(CONDITIONS) - seen['conditions']}"
    assert all(taken.values()), taken


# -- scripted: each writer, the fields after every step, and the fast ways taken again after it ----------------------------
def _steps(t, pcb, steps) -> list:
    """Apply ``steps`` (callables of the script and the pcb) one by one, checking the fields after each; the
    conditions each left."""
    left = []
    for step in steps:
        step(t, pcb)
        assert_unusual_kept(pcb, f"after {step.__name__}")
        left.append(conditions(pcb))
    return left


def _data_at(t, pcb, off, n=100, flags=ACK | PSH):
    inject(t, frame(t, t.peer_seq + off, pcb.snd_una, flags, b"o" * n))


def test_out_of_order_data_held_then_drained(monkeypatch):
    t, pcb, got = established(ts=False)
    seen = watch_reads(monkeypatch)

    def hole(t, pcb):
        _data_at(t, pcb, 100)  # the first 100 bytes lost
        _data_at(t, pcb, 300)

    def fill(t, pcb):
        _data_at(t, pcb, 0)
        t.peer_seq += 400 - 100  # (100 of the 200 above lost too: 200..300 still missing)

    def fill_all(t, pcb):
        inject(t, frame(t, t.peer_seq - 100, pcb.snd_una, ACK, b"o" * 100))
        t.peer_seq += 100
    left = _steps(t, pcb, [hole, fill, fill_all])
    assert left == [{"ooseq"}, {"ooseq"}, set()] and pcb.rcv_nxt == t.peer_seq and len(got) == 400
    taken = t.stack.tcp.fast_taken
    _data_at(t, pcb, 0, 50)
    assert t.stack.tcp.fast_taken == taken + 1 and seen["entries"]


def _sack_ack(t, pcb, ack, blocks, dup=1):
    opts = b"".join([b"\x01\x01\x05" + bytes([2 + 8 * len(blocks)])]
                    + [(left & 0xFFFFFFFF).to_bytes(4, "big") + (right & 0xFFFFFFFF).to_bytes(4, "big")
                       for left, right in blocks])
    for _ in range(dup):
        inject(t, frame(t, t.peer_seq, ack, ACK, opts=opts))


def test_sack_ranges_and_fast_recovery_then_the_fast_ways_again(monkeypatch):
    t, pcb, _ = established(ts=False, sack=True, tcp_snd_buf_default=11520, tcp_wnd_default=11520)
    seen = watch_reads(monkeypatch)
    una = pcb.snd_una
    pcb.send(b"x" * 5000)  # five segments of 1000
    t.dev.take()

    def sacked(t, pcb):
        _sack_ack(t, pcb, una, [(una + 1000, una + 2000)])  # the first segment lost

    def three_duplicates(t, pcb):
        _sack_ack(t, pcb, una, [(una + 1000, una + 4000)], dup=3)

    def partial(t, pcb):
        _sack_ack(t, pcb, una + 1000, [(una + 2000, una + 4000)])  # no: the hole filled, more SACKed

    def full(t, pcb):
        inject(t, frame(t, t.peer_seq, pcb.snd_max))
    left = _steps(t, pcb, [sacked, three_duplicates, partial, full])
    assert "ranges" in left[0] and {"ranges", "recover"} <= left[1] and left[-1] == set()
    taken = t.stack.tcp.fast_taken
    pcb.send(b"y" * 500)
    t.dev.take()
    inject(t, frame(t, t.peer_seq, pcb.snd_max))  # a pure ACK of new data: fast_pure_ack again
    assert t.stack.tcp.fast_taken == taken + 1 and seen["entries"]


def test_recovery_and_sacked_written_through_the_pcb_keep_the_fields():
    t, pcb, _ = established(ts=False, sack=True)
    steps = [lambda t, p: setattr(p, "recover", p.snd_max), lambda t, p: setattr(p, "recover", None),
             lambda t, p: setattr(p, "sacked", [[p.snd_max + 10, p.snd_max + 20]]),
             lambda t, p: setattr(p, "sacked", [])]
    for step, name in zip(steps, ["recover", "recover off", "sacked", "sacked off"], strict=True):
        step.__name__ = name
    assert _steps(t, pcb, steps) == [{"recover"}, set(), {"ranges"}, set()]


def test_a_timeout_ends_recovery_and_forgets_the_ranges(monkeypatch):
    t, pcb, _ = established(ts=False, sack=True, tcp_snd_buf_default=11520, tcp_wnd_default=11520)
    watch_reads(monkeypatch)
    una = pcb.snd_una
    pcb.send(b"x" * 5000)
    t.dev.take()

    def recovery(t, pcb):
        _sack_ack(t, pcb, una, [(una + 1000, una + 4000)], dup=3)

    def timeout(t, pcb):
        t.at(t.now + 5.0)
    left = _steps(t, pcb, [recovery, timeout])
    assert {"ranges", "recover"} <= left[0] and not {"ranges", "recover"} & left[1]


def test_a_refused_segment_waits_for_its_retry_and_then_the_request_lane_again(monkeypatch):
    t, pcb, server = echo_connection(False)
    seen = watch_reads(monkeypatch)
    request(t, pcb, b"q" * 64)
    t.dev.take()

    def refused(t, pcb):
        t.dev.full = True
        request(t, pcb, b"r" * 64)  # the reply refused by the device

    def retried(t, pcb):
        t.dev.full = False
        t.at(t.now + 0.5)  # TX_RETRY's timer: the reply goes
    left = _steps(t, pcb, [refused, retried])
    assert left == [{"txretry_at"}, set()]
    taken = t.stack.tcp.fast_taken
    request(t, pcb, b"s" * 64)
    assert t.stack.tcp.fast_taken == taken + 1 and pcb.snd_una != pcb.snd_max and seen["entries"]


def test_a_stream_source_set_and_taken_away():
    t, pcb, _ = established(ts=False)
    steps = [lambda t, p: setattr(p, "tx_source", _stream(10)), lambda t, p: setattr(p, "tx_source", None)]
    for step, name in zip(steps, ["source", "no source"], strict=True):
        step.__name__ = name
    assert _steps(t, pcb, steps) == [{"tx_source"}, set()]


@pytest.mark.parametrize("ts", [True, False])
def test_fins_both_ways_shutdowns_and_aborts(ts, monkeypatch):
    watch_reads(monkeypatch)
    tsval = [200]

    def stamp():
        tsval[0] += 1
        return (tsval[0], 0) if ts else None

    def peer_fin(t, pcb):
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK | FIN, ts=stamp()))
        t.peer_seq += 1

    def our_fin(t, pcb):
        pcb.on_event = None
        pcb.shutdown()

    def fin_acked(t, pcb):
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK, ts=stamp()))

    def time_wait_ends(t, pcb):
        t.at(t.now + 300)
    for steps, last in (([peer_fin, _close, fin_acked], "CLOSED"), ([our_fin, fin_acked, peer_fin, time_wait_ends],
                                                                     "CLOSED"),
                        ([_shutdown_read, _abort], "CLOSED"), ([our_fin, peer_fin, fin_acked], "TIME_WAIT")):
        t, pcb, _ = established(ts=ts)
        left = _steps(t, pcb, steps)
        assert all(left) and pcb.state_name == last


def test_a_request_fed_from_the_accept_callback_before_the_syn_is_acknowledged(monkeypatch):
    """An ESTABLISHED connection whose SYN's ACK is still being taken (a listener's accept callback runs between
    ``_established`` and ``_process_ack``): a byte written there waits (Nagle: the SYN is in flight), and a request
    fed from there acknowledging the SYN alone looks like the request lane's (``ack == snd_nxt``, one byte in the
    buffer and one acknowledged) but for ``buf_seq != snd_una``: left to the general way, as before guard15 (the
    field folded into ``_unusual``, kept by ``_ack_advanced``), with the same outcome as without the fast paths."""
    from tcp_script import TcpScript
    taken = watch_request(monkeypatch)
    runs = []
    for fast in (True, False):
        t = TcpScript()
        t.stack.tcp.fast_path = fast
        t.stack.tcp.isn = lambda *args: 5000
        listener = t.stack.tcp.listen(t.port)
        accepted = []

        def accept(lst, t=t, accepted=accepted):
            pcb = lst.accept()
            accepted.append(pcb)
            pcb.send(b"x")
            assert_unusual_kept(pcb, "in the accept callback")
            assert pcb.snd_nxt == pcb.buf_seq == 5001 and pcb.snd_una == 5000 and pcb._unusual
            inject(t, frame(t, t.peer_seq, 5001, ACK | PSH, b"q" * 10))
        listener.on_event = accept
        t.send("S", options=[("MSS", 1000)])
        t.sent()
        t.send("A", ack=5001)
        (pcb,) = accepted
        assert_unusual_kept(pcb, "after the handshake")
        assert pcb.rcv_buf == b"q" * 10 and pcb.snd_una == 5001
        runs.append((t, pcb))
    assert taken == [False]
    (ta, pa), (tb, pb) = runs
    assert ta.dev.take() == tb.dev.take() and snapshot(ta, pa) | {"stats": None} == snapshot(tb, pb) | {"stats": None}


def test_a_simultaneous_open_and_an_active_one_keep_the_fields():
    from tcp_script import TcpScript
    t = TcpScript()
    pcb = t.stack.tcp.connect("10.0.0.9", t.peer_port, local_port=t.port)
    assert_unusual_kept(pcb, "SYN_SENT")
    syn = t.expect("S")
    t.send("S", options=[("MSS", 1000)])  # the peer's own SYN: SYN_RCVD
    assert pcb.state_name == "SYN_RCVD"
    assert_unusual_kept(pcb, "SYN_RCVD")
    t.sent()
    t.send("A", ack=syn.seq + 1)
    assert pcb.state_name == "ESTABLISHED" and (pcb._unusual_in, pcb._unusual) == (False, False)
    assert_unusual_kept(pcb, "ESTABLISHED")


# -- every writer in the source ----------------------------------------------------------------------------------------
#: the fields ``_unusual_check`` reads, written by assignment
FIELDS = {"state", "rx_closed", "txretry_at", "_tx_source", "buf_seq", "snd_una", "retries", "persist_probes"}
#: the calls that change ``cc.recover`` or ``scoreboard.ranges``, and the dict methods that change ``ooseq``
CC_CALLS = {"enter_recovery", "on_timeout", "on_ack"}
SCOREBOARD_CALLS = {"update", "prune", "clear"}
OOSEQ_CALLS = {"pop", "clear", "update", "setdefault", "popitem"}
#: the TCP core's modules whose ``self.state`` is a pcb's (listener.py's is a listener's; congestion.py's objects
#: are checked at their callers)
PCB_MODULES = ["pcb.py", "tcp_in.py", "tcp_out.py", "tcp_timers.py", "tcp_mem.py", "fastpath.py", "tcp.py"]
#: (function, what): writes that need no check after them, and why
EXEMPT = {
    ("__init__", "state"): "the fields set from the start (_unusual_in = _unusual = True: CLOSED)",
    ("__init__", "_tx_source"): "the same",
    ("__init__", "rx_closed"): "the same",
    ("__init__", "txretry_at"): "the same",
    ("__init__", "buf_seq"): "the same",
    ("__init__", "snd_una"): "the same",
    ("__init__", "retries"): "the same",
    ("__init__", "persist_probes"): "the same",
    ("_fast_new_ack", "buf_seq"): "buf_seq == snd_una before (_fast_input's test) and after: _unusual stands",
    ("_fast_new_ack", "snd_una"): "the same",
    ("_fast_request", "buf_seq"): "buf_seq == snd_una before (its guard) and after",
    ("_fast_request", "snd_una"): "the same",
    ("fast_pure_ack", "buf_seq"): "buf_seq == snd_una before (its test) and after",
    ("fast_pure_ack", "snd_una"): "the same",
    ("_input_syn_sent", "snd_una"): "the SYN acknowledged, then _established(), which checks (the state)",
    ("_fast_new_ack", "cc.on_ack"): "outside recovery (_fast_input's _unusual_in): on_ack leaves recover None",
    ("_ack_sample", "cc.on_ack"): "outside recovery (its callers check): on_ack leaves recover None",
}


def _owner(node: ast.AST) -> str:
    """``self.cc`` -> "cc", ``cc`` -> "cc", ``pcb.ooseq`` -> "ooseq"."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def writes(tree: ast.AST) -> list[tuple[str, str, int, list[int]]]:
    """(function, what, line, lines of its ``_unusual_check()`` calls) for each write of a field in ``tree``."""
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        checks = [n.lineno for n in ast.walk(func) if isinstance(n, ast.Call) and _owner(n.func) == "_unusual_check"]
        for node in ast.walk(func):
            what = None
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Attribute) and sub.attr in FIELDS | {"recover", "ranges"} \
                                and isinstance(sub.ctx, (ast.Store, ast.Del)):
                            what = sub.attr
                        elif isinstance(sub, ast.Subscript) and _owner(sub.value) == "ooseq":
                            what = "ooseq[]"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner, method = _owner(node.func.value), node.func.attr
                if owner == "cc" and method in CC_CALLS:
                    what = f"cc.{method}"
                elif owner == "scoreboard" and method in SCOREBOARD_CALLS:
                    what = f"scoreboard.{method}"
                elif owner == "ooseq" and method in OOSEQ_CALLS:
                    what = f"ooseq.{method}"
            if what is not None:
                found.append((func.name, what, node.lineno, checks))
    return found


def unchecked(path: pathlib.Path) -> list[str]:
    """The writes in ``path`` not followed by ``_unusual_check()`` in their function (nor exempt)."""
    out = []
    for func, what, line, checks in writes(ast.parse(path.read_text())):
        if (func, what) not in EXEMPT and not any(c >= line for c in checks):
            out.append(f"{path.name}:{line} {func}: {what}")
    return out


def test_every_write_of_the_fields_in_the_tcp_core_is_followed_by_the_check():
    found = [w for name in PCB_MODULES for w in writes(ast.parse((SRC / "core" / "tcp" / name).read_text()))]
    assert len(found) >= 30  # (the walk finds them: state alone is written at a dozen places)
    assert [u for name in PCB_MODULES for u in unchecked(SRC / "core" / "tcp" / name)] == []


def test_the_walk_finds_a_write_without_its_check(tmp_path):
    """The source test is worth something only when it sees a missing check: one planted in a copy of tcp_in."""
    text = (SRC / "core" / "tcp" / "tcp_in.py").read_text()
    planted = text.replace("            data = self.ooseq.pop(hit)\n            self._unusual_check()\n",
                           "            data = self.ooseq.pop(hit)\n")
    assert planted != text
    (tmp_path / "tcp_in.py").write_text(planted)
    assert [u.split(" ", 1)[1] for u in unchecked(tmp_path / "tcp_in.py")] == ["_drain_ooseq: ooseq.pop"]


def test_nothing_outside_the_tcp_core_writes_the_fields():
    """Applications and the API set ``tx_source`` (a property keeping the fields) and ``recover``/``sacked`` through
    the pcb; nothing outside core/tcp writes a pcb's ``ooseq``, ``rx_closed``, ``txretry_at``, ``_tx_source``, its
    ``cc``'s or its ``scoreboard``'s (``state`` is many classes' field: the pcb's are written in core/tcp alone, as
    a look for ``pcb.state =`` shows)."""
    bad = []
    for path in SRC.rglob("*.py"):
        if path.parent == SRC / "core" / "tcp":
            continue
        lines = path.read_text().splitlines()
        for func, what, line, _ in writes(ast.parse("\n".join(lines))):
            if what not in ("state", "retries") or "pcb" in lines[line - 1]:  # (dns.py's entries have retries)
                bad.append(f"{path.relative_to(SRC)}:{line} {func}: {what}")
    assert bad == []


def test_unusual_as_fields_says_what_the_guards_said():
    """The reference itself: each field alone makes the pcb unusual, for the ways it concerns."""
    t, pcb, _ = established(ts=False)
    assert unusual_as_fields(pcb) == (False, False)
    for name, value, both in (("ooseq", {1: b"x"}, True), ("rx_closed", True, True), ("txretry_at", 1.0, False),
                              ("_tx_source", _stream(1), False), ("retries", 1, False), ("persist_probes", 2, False)):
        old = getattr(pcb, name)
        setattr(pcb, name, value)
        assert unusual_as_fields(pcb) == (both, True), name
        setattr(pcb, name, old)
    pcb.cc.recover = 5
    assert unusual_as_fields(pcb) == (True, True)
    pcb.cc.recover = None
    pcb.scoreboard.ranges.append([1, 2])
    assert unusual_as_fields(pcb) == (True, True)
