"""The iperf client's sending (issue 15, tx3): a send that leaves the send buffer full ends the ACK's event, with no
second send that takes nothing, and what it sends is unchanged (exactly ``-n`` bytes, every byte received)."""

from lwipy.apps.iperf import IperfClient, IperfConfig, IperfServer
from test_iperf import net, reports


def watch_sends(stack) -> list[tuple[int, int]]:
    """(bytes offered, bytes taken) of every ``send`` on the connections ``stack`` opens from now on."""
    calls: list[tuple[int, int]] = []
    connect = stack.tcp.connect

    def connect_and_watch(*args, **kwargs):
        pcb = connect(*args, **kwargs)
        send = pcb.send

        def watched(data):
            took = send(data)
            calls.append((len(data), took))
            return took
        pcb.send = watched
        return pcb
    stack.tcp.connect = connect_and_watch
    return calls


def test_a_send_that_fills_the_buffer_is_the_events_last():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig())
    calls = watch_sends(a)
    client = IperfClient(a, IperfConfig(host="10.0.0.2", time=1.0))
    assert sim.run_until(lambda: client.done and server.finals, 30)
    assert client.error == 0
    (sent,) = reports(client.events, final=True)
    assert sent.bytes == server.finals[0].bytes == sum(took for _, took in calls) > 100_000
    full = [c for c in calls if c[1] < c[0]]
    assert len(calls) > 50 and len(full) > 0.9 * len(calls)  # nearly every ACK's event: one send, filling the buffer
    assert sum(1 for _, took in calls if took == 0) <= 2  # (before: one that took nothing after each of them)


def test_an_amount_still_ends_exactly():
    sim, a, b = net()
    server = IperfServer(b, IperfConfig())
    calls = watch_sends(a)
    client = IperfClient(a, IperfConfig(host="10.0.0.2", amount=123_457, length=1000))
    assert sim.run_until(lambda: client.done and server.finals, 30)
    assert reports(client.events, final=True)[0].bytes == 123_457 == server.finals[0].bytes
    assert sum(took for _, took in calls) == 123_457
    assert sum(1 for _, took in calls if took == 0) <= 2  # (before: 83 of 253 here)
