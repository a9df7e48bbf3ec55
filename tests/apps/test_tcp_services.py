"""The TCP echo, discard and chargen services, in-process."""

from lwipy import Config
from lwipy.apps import TcpChargenServer, TcpDiscardServer, TcpEchoServer
from lwipy.apps.tcp_services import chargen_pattern
from lwipy.sim import Simulation


def net(delay=None):
    # an endless stream (chargen) needs link latency, or it would all happen at one virtual instant
    faults = dict(delay=delay) if delay else None
    sim = Simulation(seed=2)
    hub = sim.hub()
    cfg = Config(tcp_wnd_default=65535, tcp_snd_buf_default=65535)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", faults=faults)
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", faults=faults)
    return sim, a, b


def collect(pcb, into):
    def on_event(p):
        while p.readable:
            into.extend(p.recv())
    pcb.on_event = on_event


def test_echo_returns_a_megabyte_through_small_buffers():
    sim, a, b = net()
    server = TcpEchoServer(b)
    c = a.tcp.connect("10.0.0.2", 7)
    back = bytearray()
    data = bytes((i * 5) & 0xFF for i in range(1_000_000))
    sent = [0]

    def on_event(p):
        while sent[0] < len(data):
            k = p.send(memoryview(data)[sent[0]:sent[0] + 65536])
            if not k:
                break
            sent[0] += k
        while p.readable:
            back.extend(p.recv())
    c.on_event = on_event
    assert sim.run_until(lambda: len(back) >= len(data), 120)
    assert bytes(back) == data and server.bytes_in == server.bytes_out == len(data)
    c.close()
    sim.run(1)
    assert c.state_name == "TIME_WAIT" and server.connections == 1


def test_discard_takes_everything_and_closes_after_the_peer():
    sim, a, b = net()
    server = TcpDiscardServer(b)
    c = a.tcp.connect("10.0.0.2", 9)
    sim.run(0.1)
    c.send(b"x" * 50000)
    c.close()
    sim.run(2)
    assert server.bytes_in == 50000 and c.state_name == "TIME_WAIT" and b.tcp.conns == {}


def test_chargen_sends_the_rfc_864_pattern_until_the_peer_closes():
    sim, a, b = net(delay=0.001)
    server = TcpChargenServer(b)
    c = a.tcp.connect("10.0.0.2", 19)
    got = bytearray()
    collect(c, got)
    sim.run_until(lambda: len(got) > 200_000, 30)
    pattern = chargen_pattern()
    assert bytes(got[:len(pattern)]) == pattern and got[:74] == pattern[:74]
    assert got[:72] == bytes(range(32, 104)) and got[72:74] == b"\r\n"
    c.close()
    sim.run(2)
    assert server.bytes_out >= len(got)


def test_the_services_answer_over_ipv6_too():
    from lwipy.apps import UdpEchoServer
    sim = Simulation(seed=5)
    hub = sim.hub()
    cfg = Config(ipv6_dup_detect_attempts=0, ipv6_send_router_solicit=False)
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", ip6="2001:db8::1/64")
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", ip6="2001:db8::2/64")
    TcpEchoServer(b)
    UdpEchoServer(b)
    for target in ("2001:db8::2", "10.0.0.2"):  # one dual-stack listener and pcb serve both
        c = a.tcp.connect(target, 7)
        back = bytearray()
        collect(c, back)
        sim.run(0.1)
        c.send(b"echo me")
        sim.run(0.1)
        assert bytes(back) == b"echo me"
        u = a.udp.new(ip6=True)
        u.sendto(b"datagram", target, 7)
        sim.run(0.1)
        assert u.recv().data == b"datagram"


def test_chargen_streams_the_pattern_whole_and_fills_a_64_kb_buffer_at_once():
    """The stream is the pattern over and over, whatever the offsets the send buffer's room leaves; and the room an ACK
    frees is filled whole by one call of the connection's source (tx9: ``TcpPcb.tx_source``) from any offset (the
    pattern held covers a send buffer's worth: tx8), without the application's event."""
    sim, a, b = net(delay=0.001)
    TcpChargenServer(b)
    c = a.tcp.connect("10.0.0.2", 19)
    got = bytearray()
    collect(c, got)
    sim.run_until(lambda: len(got) > 10_000, 5)  # accepted: the service's source is set
    (pcb,) = b.tcp.conns.values()
    rooms = []
    events = []
    real_source, real_event = pcb.tx_source, pcb.on_event

    def source(p, room):
        chunk = real_source(p, room)
        rooms.append((room, len(chunk)))
        return chunk

    def on_event(p):
        events.append(p.send_space)
        real_event(p)
    pcb.tx_source, pcb.on_event = source, on_event
    sim.run_until(lambda: len(got) > 1_000_000, 60)
    pattern = chargen_pattern()
    assert bytes(got) == (pattern * (len(got) // len(pattern) + 1))[:len(got)]
    assert rooms and all(n == room for room, n in rooms), "a room was not filled whole"
    assert max(room for room, _ in rooms) > len(pattern) * 8  # room larger than eight periods was filled at once
    assert events == [], "the application was told of room its source filled"
    c.close()
    sim.run(2)


def test_chargen_writes_say_more_so_its_segments_carry_no_push():
    """chargen writes with ``more`` (lwIP's TCP_WRITE_FLAG_MORE, as C lwIP's benchmark chargen does): none of its
    segments carries PSH, which would have a Linux receiver ACK every read that drains the socket (a full-sized
    segment with PSH sets ICSK_ACK_PUSHED) instead of every second segment.  At ESP-IDF's defaults (send buffer and
    window 5760 bytes), where every ACK's output empties the send buffer."""
    sim = Simulation(seed=2)
    hub = sim.hub()
    cfg = Config()
    assert cfg.tcp_snd_buf_default == cfg.tcp_wnd_default == 5760
    a = sim.add_stack("a", hub, cfg, ip="10.0.0.1/24", faults=dict(delay=0.001))
    b = sim.add_stack("b", hub, cfg, ip="10.0.0.2/24", faults=dict(delay=0.001))
    TcpChargenServer(b)
    flags = []
    (netif,) = [n for n in b.netifs if not n.is_loopback]
    device = netif.device
    real = device.transmit

    def spy(frame):
        f = bytes(frame)
        if len(f) > 54 and f[23] == 6 and f[34:36] == (19).to_bytes(2, "big") and len(f) > 34 + (f[46] >> 4) * 4:
            flags.append(f[47])  # a data segment from chargen
        return real(frame)
    device.transmit = spy
    c = a.tcp.connect("10.0.0.2", 19)
    got = bytearray()
    collect(c, got)
    sim.run_until(lambda: len(got) > 200_000, 20)
    assert len(flags) > 100 and not [f for f in flags if f & 0x08]
    c.close()
    sim.run(2)
