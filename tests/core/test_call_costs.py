"""call12: costs on the per-packet paths that bytecode counts do not show.

``int.from_bytes`` looked up on ``int`` binds the class method anew at every call (CPython 3.11 does not specialise
that lookup: 35 ns a call); the modules whose per-packet code sums or reads integers from bytes (the TCP output and
header prediction, the ping fast path, the checksum helpers, IPv4 input, the route cache) name it once instead.
"""

from __future__ import annotations

import dis
import types

import pytest

from lwipy.core import icmp, ip4, route
from lwipy.core.tcp import fastpath, tcp_out
from lwipy.wire import checksum

HOT_MODULES = [tcp_out, fastpath, icmp, checksum, ip4, route]


def _codes(module: types.ModuleType):
    """Every code object defined in ``module`` (functions, methods, nested functions and comprehensions)."""
    todo = []
    for obj in vars(module).values():
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            todo.append(obj.__code__)
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for attr in vars(obj).values():
                fn = getattr(attr, "__func__", attr)
                if isinstance(fn, types.FunctionType):
                    todo.append(fn.__code__)
    while todo:
        code = todo.pop()
        yield code
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def _class_method_lookups(code: types.CodeType) -> list[str]:
    """``int.from_bytes`` and the like: an attribute of ``int`` or ``bytes`` looked up where the code runs."""
    found = []
    instructions = list(dis.get_instructions(code))
    for first, second in zip(instructions, instructions[1:], strict=False):
        if first.opname == "LOAD_GLOBAL" and first.argval in ("int", "bytes") \
                and second.opname in ("LOAD_ATTR", "LOAD_METHOD") and second.argval in ("from_bytes", "fromhex"):
            found.append(f"{code.co_qualname}:{second.positions.lineno} {first.argval}.{second.argval}")
    return found


@pytest.mark.parametrize("module", HOT_MODULES, ids=lambda m: m.__name__)
def test_per_packet_modules_name_int_from_bytes_once(module):
    lookups = [where for code in _codes(module) for where in _class_method_lookups(code)]
    assert lookups == []
    assert module._from_bytes == int.from_bytes  # (the same builtin: each lookup binds a new object)


def test_the_lookup_finder_finds_a_lookup():
    def sample(data):
        return int.from_bytes(data, "big")
    assert _class_method_lookups(sample.__code__) == [f"{sample.__code__.co_qualname}:{sample.__code__.co_firstlineno + 1}"
                                                      " int.from_bytes"]


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.3.1", "10.0.0.1"])
def test_lookup_packed_finds_the_decision_lookup_cached(address):
    """``RouteTable.lookup_packed`` keys the cache by the address's integer, as ``lookup`` does: a decision made by
    either is found by the other without selecting again (with a wrong key it would miss, and ask ``lookup``)."""
    from ipaddress import IPv4Address

    from helpers import make_stack
    stack, _, _ = make_stack(gateway="10.0.0.254")
    routes = stack.routes
    first = routes.lookup(IPv4Address(address))
    routes.lookup = routes._select = None  # asking lookup (or selecting) again would raise
    assert routes.lookup_packed(IPv4Address(address).packed) == first
    del routes.lookup, routes._select
    routes.changed()
    second = routes.lookup_packed(IPv4Address(address).packed)
    routes._select = None
    assert routes.lookup(IPv4Address(address)) == second == first


# -- _output_one's RTO: LazyDeadlines.arm's first test inline -------------------------------------------------------------
def _reply_arms(ts: bool, case: str, monkeypatch) -> tuple:
    """An echo reply written by ``_output_one`` to an idle connection whose heap entry is ``case``: "earlier" (the
    last reply's, left by the request's ACK), "absent" (dropped when it surfaced after a pure ACK) or "later" (a
    deadline since moved earlier: an entry later than the reply's RTO).  Returns the timers' pushes before and
    after the reply, the connection's entry and its RTO after it, and the heap's next deadline."""
    from test_tcp_rr_fast import echo_connection, request
    from test_tcp_rr_one import watch_one

    from test_tcp_fastpath import ACK, frame, inject
    t, pcb, _ = echo_connection(ts)
    timers = t.stack.tcp.timers
    request(t, pcb, b"q" * 64, ts=(500, 0) if ts else None)
    t.now += 0.05
    request(t, pcb, b"r" * 64, ts=(501, 0) if ts else None)
    t.dev.take()
    assert pcb.rto_at is not None
    t.now += 0.05
    if case != "earlier":
        inject(t, frame(t, t.peer_seq, pcb.snd_max, ACK, ts=(502, 0) if ts else None))  # the reply acknowledged
        assert pcb.next_deadline() is None and not t.dev.take()
        if case == "absent":
            assert timers.next_at() is None  # the entry surfaces: the connection has no deadline, it goes
        else:
            timers.cancel(pcb)
            timers._push(pcb, t.now + 1000.0)  # (lazy: an entry later than no deadline at all is allowed)
    assert (pcb in timers._live) == (case != "absent")
    ones = watch_one(monkeypatch)
    pushes = timers.pushes
    request(t, pcb, b"s" * 64, ts=(503, 0) if ts else None)
    assert ones == [64] and len(t.dev.take()) == 1
    return pushes, timers.pushes, timers._live[pcb][0], pcb.rto_at, timers.next_at()


@pytest.mark.parametrize("ts", [True, False])
def test_a_reply_leaves_an_earlier_entry_alone(ts, monkeypatch):
    before, after, entry, rto_at, next_at = _reply_arms(ts, "earlier", monkeypatch)
    assert after == before  # no heap operation
    assert entry < rto_at == next_at  # the last reply's entry; the real deadline read when it surfaces


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("case", ["absent", "later"])
def test_a_reply_arms_its_rto_when_the_entry_is_missing_or_later(ts, case, monkeypatch):
    before, after, entry, rto_at, next_at = _reply_arms(ts, case, monkeypatch)
    assert after == before + 1 and entry == rto_at == next_at


# -- stack.assert_core: the per-packet entry points skip the no-op, and call anything else ---------------------------------
def _entry_points():
    """(name, stack, call) for each entry point that compares ``stack.assert_core`` with the no-op (call12)."""
    from test_tcp_fastpath import ACK, PSH, established, frame

    from lwipy.core.tcp.pcb import TcpPcb
    t, pcb, _ = established(ts=False, reader=False)
    stack = t.stack
    udp = stack.udp.new()
    udp.bind(None, 5000)
    udp.connect("10.0.0.2", 9)
    data = frame(t, t.peer_seq, pcb.snd_una, ACK | PSH, b"d" * 10)
    return [
        ("Stack.input", stack, lambda: stack.input(t.netif, data, t.now)),
        ("Stack.input_many", stack, lambda: stack.input_many(t.netif, [data], t.now)),
        ("TcpPcb.send", stack, lambda: pcb.send(b"x")),
        ("TcpPcb.recv", stack, lambda: pcb.recv(reopen=False)),
        ("TcpPcb.recved", stack, lambda: TcpPcb.recved(pcb, 0)),
        ("UdpPcb.sendto", stack, lambda: udp.sendto(b"u", "10.0.0.2", 9)),
        ("UdpPcb.send", stack, lambda: udp.send(b"u")),
        ("UdpPcb.recv", stack, lambda: udp.recv()),
    ]


NAMES = [name for name, _, _ in _entry_points()]


@pytest.mark.parametrize("name", NAMES)
def test_an_entry_point_calls_a_hook_set_on_the_stack(name):
    from lwipy.core.hooks import no_core_check
    (stack, call), = [(s, c) for n, s, c in _entry_points() if n == name]
    assert stack.assert_core is no_core_check  # the default: not called
    call()
    calls = []
    stack.assert_core = lambda: calls.append(1)
    call()
    assert calls  # (UdpPcb.send asks twice: send, then sendto)
    seen = len(calls)
    stack.assert_core = no_core_check
    call()
    assert len(calls) == seen


@pytest.mark.parametrize("name", NAMES)
def test_an_entry_point_raises_off_the_core_thread_with_the_check_installed(name):
    """CONFIG_LWIP_CHECK_THREAD_SAFETY still enforced: the loop's check (``core_lock.install_core_check``) raises when
    a loop that owns the stack runs on another thread; uninstalled, nothing is checked."""
    from lwipy.api.core_lock import install_core_check, uninstall_core_check
    from lwipy.core.hooks import no_core_check
    from lwipy.errors import ThreadSafetyError

    class Loop:  # a loop whose core thread is another one
        core_thread_ident = -1
    (stack, call), = [(s, c) for n, s, c in _entry_points() if n == name]
    Loop.stack = stack
    install_core_check(stack, Loop())
    with pytest.raises(ThreadSafetyError):
        call()
    uninstall_core_check(stack)
    assert stack.assert_core is no_core_check  # the stack's own no-op back: the entry points skip it again
    call()


# -- Stack.input_many: a netif's input compared with ethernet_input as made once --------------------------------------------
def test_a_batch_is_taken_alike_whatever_was_done_to_ethernet_input_since():
    """``input_many`` tries header prediction itself for a netif whose input is ethernet_input as ``Stack._add``
    gave it (made once: call12), which is what that input does first: the same output, data, state and counters
    as a batch whose frames go through the netif's input (wrapped, so the shortcut stands aside), also with
    ``stack.ethernet.input`` replaced after the netif was added (the netif's input is still ethernet_input then)."""
    from test_tcp_fastpath import PSH, established, frame, snapshot
    runs = {}
    seen: list = []
    for how in ("plain", "ethernet.input replaced", "netif.input wrapped"):
        t, pcb, got = established(ts=False)
        real = t.netif.input
        if how == "ethernet.input replaced":
            t.stack.ethernet.input = lambda netif, f: None  # (the netif keeps the one it was given)
        elif how == "netif.input wrapped":
            t.netif.input = lambda netif, f, real=real: (seen.append(f), real(netif, f))
        pcb.send(b"r" * 50)
        s = t.peer_seq
        # (the third ahead of the second: out of order, the whole way; the second fills the hole)
        frames = [frame(t, s + 100 * i, pcb.snd_max, PSH | 0x10, data=bytes([i]) * 100) for i in (0, 2, 1, 3)]
        t.stack.input_many(t.netif, frames, t.now)
        runs[how] = (t.dev.take(), bytes(got), snapshot(t, pcb), t.stack.tcp.fast_taken)
    assert runs["plain"][1] == b"".join(bytes([i]) * 100 for i in range(4)) and 0 < runs["plain"][3] < 4
    assert runs["ethernet.input replaced"] == runs["plain"] == runs["netif.input wrapped"]
    assert len(seen) == 4  # the wrapped input saw every frame: no shortcut around it
