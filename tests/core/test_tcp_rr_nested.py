"""in2: a request for one connection fed from another's callback while the other's ACK bookkeeping waits
(``Tcp.unsettled``): the waiting connection is settled before header prediction takes the fed frame (which may leave
bookkeeping of its own waiting: there is room for one), by whichever way the frame comes (``Stack.input``'s
``ethernet_input``, or a batch: ``Stack.input_many``, whose start settles), and both connections end as the full
path leaves them: the same frames out, state and memory (differential).  In virtual time, against a scripted peer
with two connections."""

from __future__ import annotations

import pytest

from tcp_script import TcpScript
from test_tcp_fastpath import ACK, PSH, TS, assert_alike, frame


def two_connections(ts: bool, fast: bool) -> tuple[TcpScript, list]:
    """A scripted peer with two ESTABLISHED connections to port 80 (from ports 40000 and 40001): ``[pcb, peer port,
    peer's next seq]`` each."""
    t = TcpScript(tcp_timestamps=ts, tcp_sack_out=False)
    t.stack.tcp.fast_path = fast
    t.stack.tcp.isn = lambda *args: 5000
    listener = t.stack.tcp.listen(t.port)
    conns = []
    for port in (40000, 40001):
        t.peer_port, t.peer_seq = port, 1000
        t.send("S", options=[("MSS", 1000)] + ([TS] if ts else []))
        iss = t.sent()[0].seq
        t.send("A", ack=iss + 1, options=[("NOP", None), ("NOP", None), ("Timestamp", (101, 0))] if ts else [])
        pcb = listener.accept()
        assert pcb is not None and pcb.state_name == "ESTABLISHED"
        conns.append([pcb, port, t.peer_seq])
    t.at(5.0)
    return t, conns


def request(t: TcpScript, conn: list, n: int, ts: bool) -> bytes:
    """The next request of ``conn`` (acknowledging everything it was sent), its seq counted on."""
    pcb, port, seq = conn
    t.peer_port = port
    raw = frame(t, seq, pcb.snd_max, ACK | PSH, bytes([97 + n % 26]) * 64, ts=(900 + n, 0) if ts else None)
    conn[2] = seq + 64
    return raw


@pytest.mark.parametrize("ts", [False, True])
@pytest.mark.parametrize("lane", [True, False])
@pytest.mark.parametrize("way", ["input", "input_many", "outer batch"])
def test_a_request_fed_from_another_connections_callback_settles_it_first(ts, lane, way):
    """Connection A's application feeds B's request before it answers its own (from on_recv: the request lane, or
    on_event); B's application echoes.  Each of A's requests after the first acknowledges A's reply, so its
    bookkeeping waits while B's is taken (taken by header prediction: it acknowledges B's reply too, and would wait in
    the same place).  ``way``: the fed frame by ``Stack.input``, by a batch of its own (``Stack.input_many``), or A's
    request in a batch and B's by ``Stack.input`` inside it."""
    runs = []
    for fast in (True, False):
        t, conns = two_connections(ts, fast)
        (a, _, _), (b, _, _) = conns
        fed = []

        def feed(t=t, conns=conns, fed=fed) -> None:
            raw = request(t, conns[1], len(fed), ts)
            fed.append(raw)
            if way == "input_many":
                t.stack.input_many(t.netif, [raw], t.now)
            else:
                t.stack.input(t.netif, raw, t.now)

        if lane:
            def recv(p, data, feed=feed) -> int:
                feed()
                p.send(data)
                return 0
            a.on_recv = recv
            b.on_recv = lambda p, data: p.send(data) and 0
        else:
            def event(p, feed=feed) -> None:
                if p.readable:
                    feed()
                    p.send(p.recv())
            a.on_event = event
            b.on_event = lambda p: p.readable and p.send(p.recv())
        runs.append((t, conns, fed))
    for i in range(5):
        for t, conns, _ in runs:
            t.at(t.now + 0.02)
            raw = request(t, conns[0], i, ts)
            if way == "outer batch":
                t.stack.input_many(t.netif, [raw], t.now)
            else:
                t.stack.input(t.netif, raw, t.now)
        (ta, ca, fa), (tb, cb, fb) = runs
        assert fa == fb and len(fa) == i + 1
        assert ta.stack.tcp.fast_taken > 0 and ta.stack.tcp.unsettled is None
        for (pa, _, _), (pb, _, _) in zip(ca, cb, strict=True):
            assert (pa.srtt, pa.rttvar, pa.rto, pa.cwnd) == (pb.srtt, pb.rttvar, pb.rto, pb.cwnd), f"request {i}"
            assert_alike((ta, pa), (tb, pb), f"request {i}", memory=True)
