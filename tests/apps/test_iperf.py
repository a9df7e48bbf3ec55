"""iperf between two lwipy stacks in virtual time: TCP and UDP, -t, -n, -i, -l, -b, -P, IPv6, the UDP FIN handshake
with the server's report, loss and jitter with seeded faults; the server testing back for -r and -d."""

import pytest

from lwipy.apps.iperf import SUM, IperfClient, IperfConfig, IperfConnected, IperfReport, IperfServer
from lwipy.sim import Simulation

RATE = 10e6  # bits/s of the virtual link: a second of TCP is ~800 segments


def net(loss=0.0, jitter=0.0, v6=False, seed=3):
    sim = Simulation(seed=seed)
    hub = sim.hub()
    link = dict(txqueue=dict(rate=RATE, limit=64))
    if v6:
        a = sim.add_stack("a", hub, ip6=["2001:db8::1/64"], **link)
        b = sim.add_stack("b", hub, ip6=["2001:db8::2/64"], faults=dict(delay=0.001, loss=loss, jitter=jitter), **link)
        sim.run(3)  # duplicate address detection
    else:
        a = sim.add_stack("a", hub, ip="10.0.0.1/24", **link)
        b = sim.add_stack("b", hub, ip="10.0.0.2/24", faults=dict(delay=0.001, loss=loss, jitter=jitter), **link)
    return sim, a, b


def reports(events, final=None, stream=None):
    return [e for e in events if isinstance(e, IperfReport) and (final is None or e.final == final)
            and (stream is None or e.stream == stream)]


def test_tcp_client_to_server_for_a_time_with_interval_reports():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig(interval=0.5))
    client = IperfClient(a, IperfConfig(host="10.0.0.2", time=2.0, interval=0.5))
    assert sim.run_until(lambda: client.done and server.finals, 30)
    assert client.error == 0
    (sent,) = reports(client.events, final=True)
    (got,) = server.finals
    # the server received every byte the client's connection took, at close to the link's rate
    assert sent.bytes == got.bytes > 0
    assert 0.5 * RATE < got.bits_per_second < RATE
    assert (sent.start, sent.end) == (0.0, 2.0)
    assert client not in a._pollers  # a finished client leaves the stack's pollers
    intervals = reports(client.events, final=False)
    assert [(r.start, r.end) for r in intervals] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)]
    assert sum(r.bytes for r in intervals) == sent.bytes
    assert sum(r.bytes for r in reports(server.events, final=False)) <= got.bytes
    assert isinstance(client.events[0], IperfConnected) and client.events[0].peer[1] == 5001


def test_tcp_amount_sends_exactly_n_bytes():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig())
    client = IperfClient(a, IperfConfig(host="10.0.0.2", amount=300_000, length=1000))
    assert sim.run_until(lambda: client.done and server.finals, 30)
    assert reports(client.events, final=True)[0].bytes == 300_000 == server.finals[0].bytes


def test_tcp_parallel_streams_and_their_sum():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig())
    client = IperfClient(a, IperfConfig(host="10.0.0.2", time=1.0, interval=0.5, parallel=3))
    assert sim.run_until(lambda: client.done and len(server.finals) == 3, 30)
    finals = reports(client.events, final=True)
    per_stream = [r for r in finals if r.stream != SUM]
    (total,) = [r for r in finals if r.stream == SUM]
    assert sorted(r.stream for r in per_stream) == [1, 2, 3]
    assert total.bytes == sum(r.bytes for r in per_stream) == sum(r.bytes for r in server.finals)
    sums = [r for r in reports(client.events, final=False) if r.stream == SUM]
    assert [(r.start, r.end) for r in sums] == [(0.0, 0.5), (0.5, 1.0)]
    assert all(r.bytes > 0 for r in per_stream)  # the link is shared, none starves


def test_udp_at_a_rate_with_the_server_report_back():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig(udp=True))
    client = IperfClient(a, IperfConfig(host="10.0.0.2", udp=True, time=2.0, bandwidth=2e6, interval=1.0))
    assert sim.run_until(lambda: client.done, 30)
    (final,) = [r for r in reports(client.events, final=True) if not r.server_report]
    (back,) = [r for r in reports(client.events, final=True) if r.server_report]
    # 2 Mbit/s of 1470-byte datagrams for 2 s: 341 datagrams and the FIN (iperf counts it among the sent)
    assert final.sent == 341 + 1 and final.bytes == 341 * 1470
    assert final.bits_per_second == pytest.approx(2e6, rel=0.01)
    assert (back.bytes, back.total, back.lost, back.outorder) == (341 * 1470, 341, 0, 0)
    assert server.finals[0].bytes == back.bytes
    assert client.server_reports[0].datagrams == 341


def test_udp_loss_and_jitter_are_reported_with_seeded_faults():
    sim, a, b = net(loss=0.05, jitter=0.002, seed=11)
    server = IperfServer(b, IperfConfig(udp=True))
    client = IperfClient(a, IperfConfig(host="10.0.0.2", udp=True, time=3.0, bandwidth=4e6, length=1000))
    assert sim.run_until(lambda: client.done, 30)
    (final,) = [r for r in reports(client.events, final=True) if not r.server_report]
    (back,) = [r for r in reports(client.events, final=True) if r.server_report]
    assert final.sent - 1 == 1500 == back.total  # 4 Mbit/s of 1000-byte datagrams for 3 s; the FIN
    assert 0.02 < back.lost / back.total < 0.09  # 5 % of the frames lost (the FIN's retries make up for its loss)
    assert back.bytes == (back.total - back.lost) * 1000
    assert 0.0002 < back.jitter < 0.003  # the delays vary by up to 2 ms
    assert server.finals[0].lost == back.lost


def test_udp_fin_retries_then_gives_up_without_a_server():
    sim, a, b = net()
    client = IperfClient(a, IperfConfig(host="10.0.0.2", udp=True, time=0.5, bandwidth=1e6))
    started = sim.now
    assert sim.run_until(lambda: client.done, 30)
    assert not client.server_reports
    # 10 FINs 250 ms apart after the half second of sending
    assert sim.now - started == pytest.approx(0.5 + 10 * 0.25, abs=0.01)


def test_ipv6_tcp_and_udp():
    sim, a, b = net(v6=True)
    IperfServer(b, IperfConfig())
    userver = IperfServer(b, IperfConfig(udp=True))
    tcp = IperfClient(a, IperfConfig(host="2001:db8::2", time=0.5))
    udp = IperfClient(a, IperfConfig(host="2001:db8::2", udp=True, time=0.5, bandwidth=1e6))
    assert sim.run_until(lambda: tcp.done and udp.done, 30)
    assert reports(tcp.events, final=True)[0].bytes > 100_000
    (back,) = [r for r in reports(udp.events, final=True) if r.server_report]
    # 1450-byte datagrams over IPv6, one every 11.6 ms in [0, 0.5 s)
    assert back.total == 44 and back.lost == 0 and back.bytes == 44 * 1450
    assert str(userver.events[0].peer[0]) == "2001:db8::1"


def test_server_serves_tests_one_after_another():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig(udp=True))
    for _ in range(2):
        client = IperfClient(a, IperfConfig(host="10.0.0.2", udp=True, time=0.3, bandwidth=1e6))
        assert sim.run_until(lambda c=client: c.done, 30)
        assert client.server_reports and client.server_reports[0].errors == 0
    assert [r.stream for r in server.finals] == [1, 2]


def test_a_refused_connection_ends_the_client_with_the_error_and_no_figures():
    sim, a, b = net()
    client = IperfClient(a, IperfConfig(host="10.0.0.2", time=1.0))  # no server
    assert sim.run_until(lambda: client.done, 10)
    assert client.error == 111 and reports(client.events) == []  # ECONNREFUSED


def asking_client(sim, a, header: bytes, payload: int):
    """A plain TCP connection from ``a`` to iperf's port whose stream starts with ``header`` (iperf 2's settings)
    and ``payload`` more bytes, with a listener on ``a``'s port 5001 collecting what the server sends back."""
    back = {"bytes": 0, "pcbs": [], "at": None}
    listener = a.tcp.listen(5001)

    def on_conn(lst):
        while (pcb := lst.accept()) is not None:
            back["pcbs"].append(pcb)
            back["at"] = back["at"] if back["at"] is not None else a.now

            def ev(p):
                while p.readable:
                    back["bytes"] += len(p.recv())
                if p.at_eof and p.state_name == "CLOSE_WAIT":
                    p.close()
            pcb.on_event = ev
    listener.on_event = on_conn
    pcb = a.tcp.connect("10.0.0.2", 5001)
    data = memoryview(header + bytes(payload))
    sent = [0]

    def pump(p):
        while sent[0] < len(data) and p.state_name == "ESTABLISHED":
            k = p.send(data[sent[0]:])
            if not k:
                return
            sent[0] += k
        if sent[0] == len(data) and p.state_name == "ESTABLISHED":
            back["closed_at"] = a.now
            p.close()
    pcb.on_event = pump
    return back


@pytest.mark.parametrize("run_now", [False, True])
def test_server_tests_back_when_the_clients_settings_ask(run_now):
    """iperf -r: the server connects back to the port named in the settings once the client closed; -d: at once.
    Either way it sends for the time asked (here 1 s, 1,460-byte writes) and reports it as a stream of its own."""
    from lwipy.wire.iperf import HEADER_VERSION1, RUN_NOW, ClientHeader
    sim, a, b = net()
    server = IperfServer(b, IperfConfig())
    header = ClientHeader(HEADER_VERSION1 | (RUN_NOW if run_now else 0), 1, 5001, 1460, 0, None, 1.0).emit()
    back = asking_client(sim, a, header, 200_000)
    assert sim.run_until(lambda: server.clients and all(c.done for c in server.clients) and back["bytes"]
                         and back["pcbs"][0].state_name in ("CLOSED", "TIME_WAIT", "LAST_ACK"), 30)
    assert server.finals[0].bytes == 200_024  # the settings count, as iperf counts them
    (client,) = server.clients
    (final,) = reports(client.events, final=True)
    assert final.bytes == back["bytes"] > 100_000 and final.end == pytest.approx(1.0, abs=0.05)
    assert final.stream == 2  # numbered after the stream that asked
    assert final in server.events  # the server's reporter hands it on
    if run_now:
        assert back["at"] < back["closed_at"]  # while the client was still sending
    else:
        assert back["at"] >= back["closed_at"]


def test_server_ignores_settings_without_version1_and_when_told_not_to_answer():
    from lwipy.wire.iperf import HEADER_VERSION1, ClientHeader
    for flags, answer in ((0, True), (HEADER_VERSION1, False)):
        sim, a, b = net()
        server = IperfServer(b, IperfConfig(answer_tests=answer))
        back = asking_client(sim, a, ClientHeader(flags, 1, 5001, 0, 0, None, 1.0).emit(), 50_000)
        assert sim.run_until(lambda server=server: server.finals, 30)
        sim.run(3)
        assert server.clients == [] and back["pcbs"] == []


@pytest.mark.parametrize("udp", [False, True])
def test_server_poll_at_is_its_streams_earliest_report(udp):
    """The server's poll_at (a loop over its streams, no list built) against the list it replaced, at every step of
    a test with three streams reporting every 0.25 s (TCP or UDP: UDP streams stay when done, to answer FINs)."""
    sim, a, b = net()
    server = IperfServer(b, IperfConfig(interval=0.25, udp=udp))
    client = IperfClient(a, IperfConfig(host="10.0.0.2", time=1.0, interval=0.5, parallel=3, udp=udp, bandwidth=1e6))
    seen = []

    def check() -> bool:
        times = [s.next_report for s in server._streams.values() if s.next_report is not None and not s.done]
        assert server.poll_at() == (min(times) if times else None)
        seen.append(len(set(times)))
        return client.done and len(server.finals) == 3

    assert sim.run_until(check, 30)
    assert max(seen) >= 2 and 0 in seen  # streams reporting at different times, and none at all
