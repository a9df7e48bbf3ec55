"""lane13: ``TcpPcb.on_recv``, lwIP's ``tcp_recv`` callback: in-order data handed to the application as it arrives
(``on_event`` told of everything else), held against the window while the callback runs and then given back but for
what it keeps (until :meth:`~lwipy.core.tcp.pcb.TcpPcb.recved`), and what it writes queued and sent when it returns
(``tcp_input``'s ``tcp_output`` after the callback).  The request lane (``TcpInput._fast_request``) does it inline for
a request on an idle connection; a differential test holds it to the general way (``TcpPcb._deliver``, the full
path) over random requests, ACKs, windows and applications that write, keep, give back, close and shut down.  In
virtual time, against a scripted peer."""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples
from lwipy.apps import TcpEchoServer
from lwipy.core.tcp.pcb import TcpPcb
from lwipy.core.tcp.seq import MASK
from lwipy.errors import LwipError
from test_tcp_fastpath import ACK, FIN, PSH, RST, assert_alike, established, frame, inject
from test_tcp_rr_fast import watch


class App:
    """An on_recv application: records what it is handed and the events it is told of; ``plan`` says what it does
    with each handing (writes, then what it returns)."""

    def __init__(self, pcb, plan=None) -> None:
        self.got: list[bytes] = []
        self.events: list[str] = []
        self.sent_inside: list[int] = []
        self.plan = plan
        pcb.on_recv = self.recv
        pcb.on_event = self.event

    def recv(self, pcb, data):
        self.got.append(data)
        if self.plan is not None:
            return self.plan(pcb, data)
        return None

    def event(self, pcb) -> None:
        self.events.append(pcb.state_name)


def request(t, pcb, data: bytes, ack: int | None = None, flags: int = ACK | PSH, window: int = 65535) -> None:
    inject(t, frame(t, t.peer_seq, pcb.snd_max if ack is None else ack, flags, data, window=window))
    t.peer_seq = (t.peer_seq + len(data) + (1 if flags & FIN else 0)) & MASK


@pytest.mark.parametrize("fast", [True, False])
def test_on_recv_is_handed_the_data_in_order_and_on_event_only_the_rest(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    app = App(pcb)
    for i in range(3):
        request(t, pcb, bytes([65 + i]) * (10 + i))
    assert app.got == [b"A" * 10, b"B" * 11, b"C" * 12] and all(type(d) is bytes for d in app.got)
    assert app.events == [] and pcb.readable == 0 and pcb.rcv_held == 0
    request(t, pcb, b"D" * 5, flags=ACK | PSH | FIN)  # data and the FIN: the data handed over, then the event
    assert app.got[-1] == b"D" * 5 and app.events == ["CLOSE_WAIT"] and pcb.at_eof


@pytest.mark.parametrize("fast", [True, False])
def test_what_on_recv_writes_goes_when_it_returns_with_the_ack(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    seen = []

    def plan(p, data):
        assert p.send(b"reply:" + data) == 6 + len(data)
        seen.append(t.dev.take())  # nothing sent while it runs
        return None
    App(pcb, plan)
    request(t, pcb, b"q" * 20)
    assert seen == [[]]
    (seg,) = t.sent()
    assert bytes(seg.payload) == b"reply:" + b"q" * 20 and seg.ack == t.peer_seq and "P" in str(seg.flags)


@pytest.mark.parametrize("fast", [True, False])
def test_bytes_on_recv_keeps_hold_the_window_until_recved(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast, tcp_wnd_default=5760)
    App(pcb, lambda p, data: len(data))  # keeps everything
    window0 = pcb.rcv_buf_limit
    for _ in range(3):
        request(t, pcb, b"k" * 1000)
    assert pcb.rcv_held == 3000
    acks = t.sent()
    assert acks and acks[-1].window <= window0 - 3000  # the window offered counts what is held
    pcb.recved(3000)
    assert pcb.rcv_held == 0
    (update,) = t.sent()
    assert update.window == window0 == 4 * pcb.mss  # reopened whole (ESP-IDF's window: four of our segments)


def _second_fails(fast: bool, then, error, match: str):
    """A connection whose on_recv answers every request (writing a reply first) and fails the second one by
    ``then()`` (raising, or giving the value to return): the failure goes on to the caller, and the bytes are not
    held (the window whole again), the reply went with the ACK, and the memory counts are as the buffers say."""
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    count = [0]

    def plan(p, data):
        count[0] += 1
        p.send(b"re:" + data)
        return then() if count[0] == 2 else None
    App(pcb, plan)
    request(t, pcb, b"y" * 10)
    t.dev.take()
    with pytest.raises(error, match=match):
        request(t, pcb, b"z" * 10)
    t.peer_seq += 10  # (request's own step, skipped by the exception)
    segs = t.sent()
    assert pcb.rcv_held == 0 and pcb.readable == 0 and pcb._mem_rcv_counted == 0
    assert [bytes(s.payload) for s in segs] == [b"re:" + b"z" * 10] and segs[-1].ack == t.peer_seq
    return t, pcb


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("bad", [-1, 11, 2.0, "x", True])
def test_on_recv_must_say_how_many_bytes_it_keeps(fast, bad):
    _second_fails(fast, lambda: bad, ValueError, "on_recv returns how many")


@pytest.mark.parametrize("fast", [True, False])
def test_an_exception_in_on_recv_leaves_the_window_and_its_reply_whole(fast):
    def boom():
        raise RuntimeError("the application's bug")
    t, pcb = _second_fails(fast, boom, RuntimeError, "application's bug")
    request(t, pcb, b"w" * 10)  # and the next is served
    assert [bytes(s.payload) for s in t.sent()] == [b"re:" + b"w" * 10]


@pytest.mark.parametrize("fast", [True, False])
def test_an_exception_in_on_recv_before_it_wrote_still_acknowledges_the_data(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    count = [0]

    def plan(p, data):
        count[0] += 1
        if count[0] == 1:
            p.send(b"first reply")  # (so that the second request acknowledges it: the lane's, when fast)
            return None
        raise RuntimeError("before any write")
    App(pcb, plan)
    request(t, pcb, b"y" * 10)
    t.dev.take()
    with pytest.raises(RuntimeError):
        request(t, pcb, b"z" * 10)
    assert t.sent() == [] and pcb.rcv_held == 0  # one small segment: its ACK delayed, as ever
    t.at(t.now + 0.5)
    (ack,) = t.sent()
    assert ack.ack == (t.peer_seq + 10) & MASK and not bytes(ack.payload)


@pytest.mark.parametrize("fast", [True, False])
def test_data_waiting_is_not_handed_to_on_recv_after_a_reset(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    pcb.on_event = None
    request(t, pcb, b"waiting")
    app = App(pcb)
    inject(t, frame(t, t.peer_seq, pcb.snd_max, RST | ACK))
    assert pcb.state_name == "CLOSED" and app.got == [] and app.events == ["CLOSED"]


def test_an_on_recv_feeding_a_request_in_keeps_its_own_writes_for_its_return():
    """An on_recv on the general way (its data acknowledged nothing new) that feeds the connection a request taking
    the lane's checks (lane13's review: the lane ran nested and left the outer call's state at 0, so the outer
    call's writes went at once): the inner one goes the general way too, and the outer call's write still waits
    for its return."""
    t, pcb, _ = established(ts=False, reader=False)
    pcb.nodelay = True
    pcb.send(b"out")  # in flight: the first frame below acknowledges nothing of it
    t.dev.take()
    sent_inside = []

    def plan(p, data):
        if data == b"first":
            inject(t, frame(t, p.rcv_nxt, p.snd_max, ACK | PSH, b"inner"))  # acknowledges everything: a request
            p.send(b"outer reply")
            sent_inside.append(t.dev.take())
        else:
            p.send(b"inner reply")
        return None
    App(pcb, plan)
    request(t, pcb, b"first", ack=pcb.snd_una)
    t.peer_seq = pcb.rcv_nxt
    assert len(sent_inside) == 1 and [bytes(Ether(f)[TCP].payload) for f in sent_inside[0]] == [b"inner reply"]
    assert [bytes(s.payload) for s in t.sent()] == [b"outer reply"]  # the outer write waited for the outer return
    assert pcb.rcv_held == 0 and pcb.snd_una == pcb.snd_max - len(b"inner reply") - len(b"outer reply")


@pytest.mark.parametrize("fast", [True, False])
def test_data_waiting_before_on_recv_was_set_is_handed_over_with_the_next(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    pcb.on_event = None
    request(t, pcb, b"early")
    assert pcb.readable == 5
    app = App(pcb)
    request(t, pcb, b"late")
    assert app.got == [b"earlylate"] and pcb.readable == 0 and pcb.rcv_held == 0


@pytest.mark.parametrize("fast", [True, False])
def test_data_given_back_without_a_reply_opens_the_window_at_once(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast, tcp_wnd_default=5760)
    App(pcb)  # takes everything, writes nothing
    for i in range(3):
        request(t, pcb, b"w" * 3000)  # (the second and third acknowledge everything: the lane's, when fast)
        acks = t.sent()
        assert len(acks) == 1 and acks[0].ack == t.peer_seq, f"request {i}: {acks}"  # at once, not delayed
        assert acks[0].window == pcb.rcv_buf_limit  # the room given back offered whole


@pytest.mark.parametrize("fast", [True, False])
def test_a_write_after_a_close_in_on_recv_is_refused(fast):
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    refused = []

    def plan(p, data):
        if data == b"first":
            p.send(b"reply")
            return None
        p.recved(len(data))
        p.close()
        with pytest.raises(LwipError) as err:
            p.send(b"late")  # (fast: the lane's request, its first write)
        refused.append(err.value.errno)
    App(pcb, plan)
    request(t, pcb, b"first")
    request(t, pcb, b"x" * 10)
    assert refused == [errno.EPIPE] and pcb.state_name == "FIN_WAIT_1" and not pcb.snd_buf


# -- the request lane: taken for the common case, left for the unusual one ---------------------------------------------
def test_a_request_on_an_idle_connection_takes_the_lane_and_its_reply_sends_short(monkeypatch):
    t, pcb, _ = established(ts=False, reader=False)
    App(pcb, lambda p, data: p.send(data) and None)
    request(t, pcb, b"1" * 64)  # the first: the connection was idle already
    t.dev.take()
    deliver, checks = watch(monkeypatch, "_deliver"), watch(monkeypatch, "_output_whole")
    for _ in range(5):
        request(t, pcb, b"2" * 64)
        (reply,) = t.sent()
        assert bytes(reply.payload) == b"2" * 64 and reply.ack == t.peer_seq
    assert deliver == [] and checks == []  # the lane: not the general way, and the reply by _output_one


@pytest.mark.parametrize("case", ["data waiting", "not idle", "closed inside", "reset inside", "two writes"])
def test_the_lane_is_left_or_finished_the_general_way_for_the_unusual(case, monkeypatch):
    t, pcb, _ = established(ts=False, reader=False)
    first = [True]

    def plan(p, data):
        p.send(data)
        if case == "two writes":
            p.send(data)
        if not first[0] and case == "closed inside":
            p.recved(len(data))  # given back first: a graceful close (lwIP's tcp_recved before tcp_close)
            p.close()
        if not first[0] and case == "reset inside":
            p.close()  # with the bytes still held: unread data, so a reset (as lwIP's tcp_close with rcv_wnd short)
        first[0] = False
        return None
    app = App(pcb, plan)
    request(t, pcb, b"a" * 10)
    t.dev.take()
    if case == "data waiting":
        pcb.on_recv = None
        request(t, pcb, b"b" * 10, ack=pcb.snd_una)  # waits in the buffer
        pcb.on_recv = app.recv
    t.dev.take()
    deliver = watch(monkeypatch, "_deliver")
    written = watch(monkeypatch, "_send_written")
    handed = len(app.got)
    request(t, pcb, b"c" * 10, ack=pcb.snd_una if case == "not idle" else None)
    segs = t.sent()
    payload = b"".join(bytes(s.payload) for s in segs)
    assert len(app.got) == handed + 1
    if case in ("data waiting", "not idle"):
        assert deliver  # the general way: data waiting first, or a request that acknowledges nothing new
        assert app.got[-1].endswith(b"c" * 10)
        if case == "not idle":  # the reply before it unacknowledged: Nagle holds the small one
            assert payload == b"" and bytes(pcb.snd_buf).endswith(b"c" * 10)
        else:
            assert payload == app.got[-1]
    else:
        assert not deliver  # the lane
        assert payload == (b"c" * 20 if case == "two writes" else b"" if case == "reset inside" else b"c" * 10)
        assert bool(written) == (case in ("closed inside", "reset inside"))  # its writes sent the general way
    if case == "closed inside":
        assert pcb.state_name == "FIN_WAIT_1" and str(segs[-1].flags) == "FPA"
    if case == "reset inside":
        assert pcb.state_name == "CLOSED" and "R" in str(segs[-1].flags)


# lane14: send's short way trusts the lane's state alone (no test of the state, the write side or an error): whatever
# the callback does that changes them must take its later writes off the short way (TcpPcb._leave_lane, _deliver)
INSIDE = ["close", "shutdown", "abort", "reset fed", "fin fed", "nested close", "nested write", "empty write", "nothing"]


def _write_after(case: str, fast: bool):
    """A request's on_recv that does ``case`` before its write (a frame fed to the connection from inside, or a nested
    handing: on_recv called again from inside for data fed meanwhile); returns the script, the pcb, what the write
    gave (bytes taken or the errno it raised) and whether the outer handing came by the lane."""
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    results: list = []
    lane: list = []

    def plan(p, data):
        if data == b"a" * 10:
            p.send(data)  # the first request's reply: the next request finds the connection idle
            return None
        if data == b"inner":  # the nested handing
            if case == "nested close":
                p.recved(p.rcv_held)
                p.close()
            else:
                p.send(b"inner reply")
            return None
        lane.append(p._lane == 2)  # (LANE_REQUEST: handed by the request lane)
        if case == "close":
            p.recved(len(data))
            p.close()
        elif case == "shutdown":
            p.shutdown()
        elif case == "abort":
            p.abort()
        elif case == "reset fed":
            inject(t, frame(t, p.rcv_nxt, p.snd_max, RST | ACK))
        elif case == "fin fed":
            inject(t, frame(t, p.rcv_nxt, p.snd_max, FIN | ACK))
        elif case.startswith("nested"):
            inject(t, frame(t, p.rcv_nxt, p.snd_max, ACK | PSH, b"inner"))
        elif case == "empty write":
            results.append(p.send(b""))  # takes nothing: no reply to send when it returns
            return None
        try:
            results.append(p.send(b"reply"))
        except LwipError as e:
            results.append(errno.errorcode[e.errno])
        return None
    App(pcb, plan)
    request(t, pcb, b"a" * 10)
    t.dev.take()
    request(t, pcb, b"c" * 10)
    return t, pcb, results, lane


@pytest.mark.parametrize("case", INSIDE)
def test_a_write_after_the_callback_changed_the_connection_goes_as_the_full_path_finds_it(case):
    """The lane (fast) against the full path: the same outcome of the write, frames, state and memory."""
    (ta, pa, ra, lane), (tb, pb, rb, _) = _write_after(case, True), _write_after(case, False)
    assert lane == [True] and ra == rb, (ra, rb)
    assert_alike((ta, pa), (tb, pb), case, memory=True)
    expected = {"close": "EPIPE", "shutdown": "EPIPE", "abort": "ECONNABORTED", "reset fed": "ECONNRESET",
                "nested close": "EPIPE"}
    assert ra == ([0] if case == "empty write" else [expected.get(case, 5)])


# -- the differential test: the lane against the general way ------------------------------------------------------------
class RandomApp:
    """An on_recv application acting from a list of choices: per handing, how many writes (of what share of the
    data), what it keeps, whether it gives held bytes back first, and whether it closes or shuts down."""

    def __init__(self, pcb, choices) -> None:
        self.choices = choices
        self.i = 0
        self.got = 0
        self.held = 0
        pcb.on_recv = self.recv
        pcb.on_event = self.event

    def recv(self, pcb, data):
        writes, share, keep, give, end, more = self.choices[self.i % len(self.choices)]
        self.i += 1
        self.got += len(data)
        if give and self.held:
            pcb.recved(self.held)
            self.held = 0
        if end == "close first":
            pcb.close()
        for _ in range(writes):
            try:
                pcb.send(data[: max(1, int(len(data) * share))], more=more)
            except LwipError:
                break
        if end == "close":
            pcb.close()
        elif end == "shutdown":
            pcb.shutdown()
        kept = min(keep, len(data))
        self.held += kept
        return kept

    def event(self, pcb) -> None:
        if self.held and pcb.state_name in ("ESTABLISHED", "CLOSE_WAIT"):
            pcb.recved(self.held)
            self.held = 0


CHOICE = st.tuples(st.sampled_from([1, 1, 1, 0, 2]), st.sampled_from([1.0, 1.0, 0.5, 3.0]),
                   st.sampled_from([0, 0, 0, 5, 10_000]), st.booleans(),
                   st.sampled_from([None] * 12 + ["close", "shutdown", "close first"]),
                   st.sampled_from([False, False, False, True]))
# (kind, size, ACK share of what is in flight (-1: beyond snd_max), window, dt)
LANE_STEP = st.tuples(st.sampled_from(["request"] * 6 + ["ack", "full", "time"]), st.sampled_from([64, 64, 1, 1000, 3000]),
                      st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, -1]), st.sampled_from([65535, 65535, 2000, 0]),
                      st.sampled_from([0.0, 0.01, 0.3, 2.0]))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=st.lists(CHOICE, min_size=1, max_size=6), steps=st.lists(LANE_STEP, min_size=1, max_size=30),
       small=st.booleans(), ts=st.booleans(), wscale=st.sampled_from([None, None, 0, 7]))
def test_the_lane_and_the_general_way_agree(choices, steps, small, ts, wscale):
    run_lane_differential(choices, steps, small, ts, wscale)


def run_lane_differential(choices, steps, small: bool, ts: bool = False, wscale: int | None = None) -> int:
    """The same steps to the fast and the full path with the same application; the same frames, state, memory and
    application counters after each.  Returns how many handings the fast run's lane made (not ``_deliver``)."""
    runs = []
    for fast in (True, False):
        t, pcb, _ = established(ts=ts, reader=False, fast=fast, tcp_snd_buf_default=2440 if small else 5760,
                                tcp_wnd_default=5760 if wscale is None else 20000, wscale=wscale)
        runs.append((t, pcb, RandomApp(pcb, choices)))
    fast_pcb = runs[0][1]
    delivered = [0]
    real = TcpPcb._deliver

    def deliver(self):
        delivered[0] += self is fast_pcb
        return real(self)
    TcpPcb._deliver = deliver
    tsval = 1000
    try:
        for step in steps:
            kind, size, share, window, dt = step
            tsval += 1
            for t, pcb, _ in runs:
                flight = (pcb.snd_max - pcb.snd_una) & MASK
                ack = pcb.snd_max + 10 if share < 0 else pcb.snd_una + int(flight * share)
                stamp = (tsval, (int(t.now * 1000) - 3) & MASK) if ts else None
                if kind == "request" and pcb.state_name != "CLOSED":
                    before = pcb.rcv_nxt
                    inject(t, frame(t, t.peer_seq, ack, ACK | PSH, b"r" * size, window=window, ts=stamp))
                    t.peer_seq = pcb.rcv_nxt if pcb.state_name != "CLOSED" else (before + size) & MASK
                elif kind == "ack" and pcb.state_name != "CLOSED":
                    inject(t, frame(t, t.peer_seq, ack, window=window, ts=stamp))
                elif kind == "full":
                    t.dev.full = not t.dev.full
                else:
                    t.at(t.now + dt)
            (ta, pa, aa), (tb, pb, ab) = runs
            assert_alike((ta, pa), (tb, pb), f"{step}", memory=True)
            assert (aa.got, aa.held, aa.i) == (ab.got, ab.held, ab.i), f"different app after {step}"
    finally:
        TcpPcb._deliver = real
    return runs[0][2].i - delivered[0]


@pytest.mark.parametrize("ts", [True, False])
def test_the_differential_test_exercises_the_lane(ts):
    assert run_lane_differential([(1, 1.0, 0, False, None, False)], [("request", 64, 1.0, 65535, 0.0)] * 10, False,
                                 ts) >= 9
    mixed = [(1, 1.0, 0, False, None, False), (0, 1.0, 5, True, None, False), (2, 0.5, 0, False, None, True)]
    assert run_lane_differential(mixed, [("request", 64, 1.0, 65535, 0.0)] * 12, True, ts) >= 3
    assert run_lane_differential(mixed, [("request", 64, 1.0, 65535, 0.0)] * 12, True, ts, wscale=7) >= 3


def test_the_lane_checks_the_window_after_a_reply_that_cannot_go():
    """in14b: an echo the lane's _output_one declines and nothing sends (the peer's window closed): the window check
    after it, as the general way's (hypothesis found this case only under the ci profile's example count)."""
    echo = [(1, 1.0, 0, False, None, False)]
    steps = [("request", 64, 1.0, 65535, 0.0), ("request", 3000, 1.0, 0, 0.0)]
    assert run_lane_differential(echo, steps, False) == 1  # the second request by the lane (the first takes the
    # general way, as in test_the_differential_test_exercises_the_lane's 9 of 10)


# -- the echo app: what it cannot send yet is held, and closes the window -----------------------------------------------
def test_the_echo_app_holds_what_it_cannot_send_and_the_window_closes_until_it_drains():
    t, pcb, _ = established(ts=False, reader=False, tcp_snd_buf_default=2440, tcp_wnd_default=5760)
    server = TcpEchoServer(t.stack, 7)
    server._attach(pcb)
    una = pcb.snd_una
    for _ in range(6):  # the peer sends 6000 bytes and acknowledges nothing: the send buffer takes 2440
        if pcb.rcv_held + 1000 > pcb.rcv_buf_limit:
            break
        request(t, pcb, b"e" * 1000, ack=una)
    held = pcb.rcv_held
    assert held == server.bytes_in - 2440 > 0 and id(pcb) in server._pending
    last = t.sent()[-1]
    assert last.window <= pcb.rcv_buf_limit - held  # what is held is not offered
    while pcb.snd_una != pcb.snd_max or id(pcb) in server._pending:  # the peer acknowledges everything, repeatedly
        inject(t, frame(t, t.peer_seq, pcb.snd_max))
    assert pcb.rcv_held == 0 and server.bytes_out == server.bytes_in and not server._pending


@pytest.mark.parametrize("fast", [True, False])
def test_the_echo_app_counts_each_way(fast):
    """A request echoed whole counts in both ways; data that cannot be sent back (the write side shut) counts in
    only; each counter can be set (reset) apart."""
    t, pcb, _ = established(ts=False, reader=False, fast=fast)
    server = TcpEchoServer(t.stack, 7)
    server._attach(pcb)
    request(t, pcb, b"e" * 100)
    request(t, pcb, b"e" * 50)
    assert (server.bytes_in, server.bytes_out) == (150, 150) and [len(s.payload) for s in t.sent()] == [100, 50]
    server.bytes_in = 0
    assert (server.bytes_in, server.bytes_out) == (0, 150)
    server.bytes_out = 7
    pcb.shutdown()  # what comes now is refused a reply (EPIPE): taken in, not out
    request(t, pcb, b"f" * 30)
    assert (server.bytes_in, server.bytes_out) == (30, 7) and pcb.state_name == "FIN_WAIT_2"  # (our FIN acknowledged)


@pytest.mark.hostile
@pytest.mark.parametrize("fast", [True, False])
def test_the_echo_app_stays_bounded_against_a_peer_that_sends_blind_and_never_reads(fast):
    """Bound: what the echo app holds (its backlog, counted in rcv_held) stays within the receive buffer (5760), and
    its send buffer within its own (2440), against a peer that ignores the window and never acknowledges."""
    t, pcb, _ = established(ts=False, reader=False, fast=fast, tcp_snd_buf_default=2440, tcp_wnd_default=5760)
    server = TcpEchoServer(t.stack, 7)
    server._attach(pcb)
    una, seq = pcb.snd_una, t.peer_seq
    for _ in range(40):
        inject(t, frame(t, seq, una, ACK | PSH, b"e" * 1000))
        seq = (seq + 1000) & MASK
    backlog = server._pending[id(pcb)]
    assert pcb.rcv_held == len(backlog) <= pcb.rcv_buf_limit and len(pcb.snd_buf) <= 2440
    assert server.bytes_in == 2440 + len(backlog)  # all it took: the buffer's worth sent, the rest held
