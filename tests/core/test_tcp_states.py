"""TCP state by state, scripted: segments in, segments out, nothing out, with exact deadlines (RFC 9293 3.10)."""

import errno

import pytest

from tcp_script import TcpScript

# ------------------------------------------------------------------------------------------------- opening
def test_passive_open_and_its_syn_ack_retransmitted_on_rto():
    t = TcpScript(tcp_rto_time=1000)
    t.stack.tcp.listen(80)
    t.send("S", options=[("MSS", 1000)])
    synack = t.expect("SA", ack=1001)
    t.at(0.999)
    t.expect_nothing()
    t.at(1.0)
    assert t.expect("SA").seq == synack.seq  # RFC 6298: the same SYN-ACK after one RTO


def test_active_open_sends_mss_and_options():
    t = TcpScript(tcp_sack_out=True, wnd_scale=True, tcp_timestamps=True)  # lwipy's faster TCP, switched on
    pcb = t.open_active(options=[("MSS", 1000), ("WScale", 2), ("SAckOK", b""), ("Timestamp", (5, 0))])
    assert pcb.snd_mss == 1000 and pcb.snd_wscale == 2 and pcb.sack_ok and pcb.ts_ok


def test_simultaneous_open():
    t = TcpScript()
    pcb = t.stack.tcp.connect("10.0.0.9", t.peer_port, local_port=t.port)
    iss = t.expect("S").seq
    t.send("S", options=[("MSS", 1000)])  # the peer's own SYN crosses ours
    t.expect("SA", seq=iss, ack=t.peer_seq)
    assert pcb.state_name == "SYN_RCVD"
    t.send("SA", ack=iss + 1, seq=t.peer_seq - 1)
    t.send("A", ack=iss + 1)
    assert pcb.state_name == "ESTABLISHED"


# ------------------------------------------------------------------------------------------------- RSTs we send
def test_rst_from_closed_and_listen_for_an_ack():
    t = TcpScript()
    t.send("A", seq=5000, ack=777)
    t.expect("R", seq=777)  # CLOSED: <SEQ=SEG.ACK><CTL=RST>
    t.stack.tcp.listen(80)
    t.send("A", seq=5000, ack=778)
    t.expect("R", seq=778)  # LISTEN: an ACK can only be wrong


def test_rst_in_syn_sent_for_an_unacceptable_ack_and_refused_on_rst_ack():
    t = TcpScript()
    pcb = t.stack.tcp.connect("10.0.0.9", t.peer_port, local_port=t.port)
    iss = t.expect("S").seq
    t.send("SA", ack=iss + 99)  # acknowledges something never sent
    t.expect("R", seq=iss + 99)
    assert pcb.state_name == "SYN_SENT"
    t.send("RA", seq=0, ack=iss + 1)
    assert pcb.state_name == "CLOSED" and pcb.error == 111


def test_rst_in_syn_rcvd_for_a_bad_ack():
    t = TcpScript()
    t.stack.tcp.listen(80)
    t.send("S")
    iss = t.expect("SA").seq
    t.send("A", ack=iss + 5000)
    t.expect("R", seq=iss + 5000)


def test_rst_in_syn_rcvd_returns_quietly_to_listen():
    t = TcpScript()
    listener = t.stack.tcp.listen(80)
    t.send("S")
    t.expect("SA")
    t.send("R")
    t.expect_nothing()
    assert listener.pending == 0 and t.stack.tcp.conns == {} and listener.accept() is None


# ------------------------------------------------------------------------------------------------- receiving
def test_in_order_and_trimmed_receive():
    t = TcpScript()
    pcb = t.open_passive()
    t.send("PA", ack=t.iss + 1, data=b"hello")
    t.send("PA", ack=t.iss + 1, data=b" world")
    t.expect("A", ack=t.peer_seq)  # every second segment is acknowledged at once
    t.send("PA", seq=t.peer_seq - 3, ack=t.iss + 1, data=b"ld!!!", advance=False)  # overlaps 3 bytes we have
    t.peer_seq += 2
    t.at(0.2)
    t.expect("A", ack=t.peer_seq)
    assert pcb.recv() == b"hello world!!"


def test_delayed_ack_fires_after_its_timeout():
    t = TcpScript()
    t.open_passive()
    t.send("PA", ack=t.iss + 1, data=b"x")
    t.expect_nothing()
    assert t.stack.poll_at() == pytest.approx(0.1)
    t.at(0.1)
    t.expect("A", ack=t.peer_seq)


def test_out_of_order_fin_is_held_until_the_gap_fills():
    t = TcpScript()
    pcb = t.open_passive()
    base = t.peer_seq
    t.send("FPA", seq=base + 5, ack=t.iss + 1, data=b"world", advance=False)
    t.expect("A", ack=base)  # a hole: a duplicate ACK at once
    assert pcb.state_name == "ESTABLISHED"
    t.send("PA", seq=base, ack=t.iss + 1, data=b"hello", advance=False)
    t.expect("A", ack=base + 11)  # the data and the FIN
    assert pcb.state_name == "CLOSE_WAIT" and pcb.recv() == b"helloworld"


def test_data_beyond_the_window_is_trimmed():
    t = TcpScript(tcp_wnd_default=4096)
    pcb = t.open_passive()
    t.send("PA", ack=t.iss + 1, data=b"w" * 5000, advance=False)
    seg = t.expect("A", ack=t.peer_seq + 4096)  # only what fits is taken; the window is closed
    assert seg.window == 0 and pcb.readable == 4096


def test_out_of_order_queue_is_bounded():
    t = TcpScript(tcp_ooseq_max_pbufs=2)
    pcb = t.open_passive()
    base = t.peer_seq
    for i in range(1, 5):
        t.send("PA", seq=base + 100 * i, ack=t.iss + 1, data=b"o" * 100, advance=False)
        t.expect("A", ack=base)
    assert len(pcb.ooseq) == 2


# ------------------------------------------------------------------------------------------------- closing
def test_passive_close_through_last_ack():
    t = TcpScript()
    pcb = t.open_passive()
    t.send("FA", ack=t.iss + 1)
    t.expect("A", ack=t.peer_seq)
    assert pcb.state_name == "CLOSE_WAIT"
    pcb.close()
    t.expect("FA", seq=t.iss + 1)
    assert pcb.state_name == "LAST_ACK"
    t.send("A", ack=t.iss + 2)
    assert pcb.state_name == "CLOSED" and t.stack.tcp.conns == {}


def test_active_close_fin_wait_2_timeout():
    t = TcpScript(tcp_fin_wait_timeout=20000)
    pcb = t.open_passive()
    pcb.close()
    t.expect("FA", seq=t.iss + 1)
    t.send("A", ack=t.iss + 2)
    assert pcb.state_name == "FIN_WAIT_2"
    t.at(19.999)
    assert pcb.state_name == "FIN_WAIT_2"
    t.at(20.0)
    assert pcb.state_name == "CLOSED" and t.stack.tcp.conns == {}


def test_time_wait_answers_a_retransmitted_fin_and_restarts_its_timer():
    t = TcpScript(tcp_msl=1000)
    pcb = t.open_passive()
    pcb.close()
    t.expect("FA")
    t.send("FA", ack=t.iss + 2)
    t.expect("A", ack=t.peer_seq)
    assert pcb.state_name == "TIME_WAIT"
    t.at(1.5)
    t.send("FA", seq=t.peer_seq - 1, ack=t.iss + 2, advance=False)
    t.expect("A", ack=t.peer_seq)
    t.at(3.4)
    assert pcb.state_name == "TIME_WAIT"  # 2 MSL from the retransmitted FIN, not from the first
    t.at(3.5)
    assert pcb.state_name == "CLOSED"


# ------------------------------------------------------------------------------------------------- retransmission
@pytest.mark.parametrize("isn", [1 << 20, 2**32 - 1500])  # the second wraps around 2**32 mid-flight
def test_rto_and_fast_retransmit_across_wraparound(isn):
    t = TcpScript(tcp_rto_time=1000, tcp_snd_buf_default=65535)
    pcb = t.open_passive(isn=isn, options=[("MSS", 1000)])
    pcb.send(b"a" * 4000)
    segs = t.sent()
    assert [s.seq for s in segs] == [(isn + 1 + 1000 * i) & 0xFFFFFFFF for i in range(len(segs))]
    first = len(segs)
    # three duplicate ACKs: the first segment again at once (fast retransmit)
    for _ in range(3):
        t.send("A", ack=isn + 1, window=65535)
    assert t.expect("A", seq=isn + 1, data_len=1000)
    t.send("A", ack=isn + 1 + 1000 * first)  # everything acknowledged
    t.sent()
    pcb.send(b"b" * 1000)
    t.sent()
    rto = pcb.rto_at
    t.at(rto)
    t.expect("PA", seq=isn + 1 + 1000 * first, data_len=1000)  # the RTO resends from snd_una (the last data: PSH)


def test_duplicate_acks_after_a_timeout_do_not_start_a_fast_retransmit_until_recover_is_passed():
    """RFC 6582 4.1: after the RTO resent everything from snd_una, duplicate ACKs are the peer seeing data twice."""
    t = TcpScript(tcp_rto_time=1000, tcp_snd_buf_default=65535)
    pcb = t.open_passive(options=[("MSS", 1000)])
    pcb.send(b"R" * 4000)
    first = t.sent()
    una = t.iss + 1
    t.at(1.0)
    t.expect("A", seq=una, data_len=1000)  # the timeout resends the first segment
    assert pcb.rto_recover == (una + 1000 * len(first)) & 0xFFFFFFFF
    ssthresh = pcb.ssthresh
    for _ in range(4):
        t.send("A", ack=una)
    resent = [s for s in t.sent() if s.seq == una]
    assert resent == [] and pcb.recover is None and pcb.ssthresh == ssthresh  # no fast retransmit, no second halving
    t.send("A", ack=una + 1000 * len(first))  # past recover: forgotten, and fast retransmit is possible again
    assert pcb.rto_recover is None


def test_rto_timeout_in_established_ends_in_econnaborted():
    t = TcpScript(tcp_rto_time=1000, tcp_maxrtx=3)
    pcb = t.open_passive()
    pcb.send(b"x" * 100)
    t.expect("PA", data_len=100)
    deadlines = []
    while pcb.state_name != "CLOSED" and len(deadlines) < 10:
        deadlines.append(round(pcb.rto_at, 3))
        t.at(pcb.rto_at)
        t.sent()
    assert pcb.error == errno.ECONNABORTED and deadlines == [1.0, 3.0, 7.0, 15.0]  # 1 s doubling; the 4th timeout gives up


def test_zero_window_probes_keep_an_answering_peer_and_give_up_on_a_silent_one():
    t = TcpScript(tcp_maxrtx=3)
    pcb = t.open_passive()
    t.send("A", ack=t.iss + 1, window=0)
    pcb.send(b"p" * 100)
    t.expect_nothing()  # nothing may go into a zero window
    assert pcb.rto_at is None and pcb.persist_at is not None
    for _ in range(10):  # RFC 1122 4.2.2.17: while the peer answers, the connection stays, however long
        t.at(pcb.persist_at)
        probe = t.expect("A", seq=t.iss, data_len=0)  # an old sequence number makes the peer answer
        assert probe is not None
        t.send("A", ack=t.iss + 1, window=0)
    assert pcb.state_name == "ESTABLISHED"
    for _ in range(3):  # now the peer is silent: tcp_maxrtx unanswered probes...
        t.at(pcb.persist_at)
        t.expect("A", seq=t.iss)
    t.at(pcb.persist_at)
    t.expect("RA")  # ...and the connection is given up
    assert pcb.state_name == "CLOSED" and pcb.error == errno.ECONNABORTED


def test_persist_ends_when_the_window_opens():
    t = TcpScript()
    pcb = t.open_passive()
    t.send("A", ack=t.iss + 1, window=0)
    pcb.send(b"q" * 3000)
    t.at(pcb.persist_at)
    t.expect("A", seq=t.iss, data_len=0)
    t.send("A", ack=t.iss + 1, window=65535)
    segs = t.sent()
    assert sum(len(s.payload) for s in segs) == 3000 and pcb.persist_at is None and pcb.rto_at is not None


def test_a_window_smaller_than_a_segment_is_filled_by_the_override_timer():
    t = TcpScript()
    pcb = t.open_passive(options=[("MSS", 1000)])
    t.send("A", ack=t.iss + 1, window=300)
    pcb.send(b"s" * 5000)
    first = t.sent()
    assert [len(s.payload) for s in first] == [] or sum(len(s.payload) for s in first) <= 300
    if not first:
        t.at(pcb.persist_at)
        assert len(t.expect("A").payload) == 300  # RFC 1122 4.2.3.4: the override timer sends what fits


def test_a_whole_window_lost_is_resent_by_the_rto():
    t = TcpScript(tcp_rto_time=1000, tcp_snd_buf_default=65535)
    pcb = t.open_passive(options=[("MSS", 1000)])
    pcb.send(b"L" * 3000)
    lost = t.sent()  # the whole flight vanishes
    assert sum(len(s.payload) for s in lost) == 3000
    t.at(1.0)
    again = t.expect("A", seq=t.iss + 1, data_len=1000)  # cwnd is one segment after a timeout
    t.send("A", ack=t.iss + 1001)
    rest = t.sent()
    assert again is not None and sum(len(s.payload) for s in rest) == 2000


def test_keepalive_switched_on_later_probes_after_the_idle_time_and_gives_up():
    t = TcpScript()
    pcb = t.open_passive()
    pcb.keep_idle, pcb.keep_intvl, pcb.keep_cnt = 10.0, 2.0, 2
    pcb.keepalive = True
    assert pcb.keep_at == pytest.approx(10.0)
    t.at(10.0)
    t.expect("A", seq=t.iss)  # a keepalive: one below snd_una, no data
    t.at(12.0)
    t.expect("A", seq=t.iss)
    t.at(14.0)
    t.expect("RA")
    assert pcb.state_name == "CLOSED" and pcb.error == errno.ECONNABORTED


def test_retransmitted_syn_in_syn_rcvd_gets_the_syn_ack_again():
    t = TcpScript()
    t.stack.tcp.listen(80)
    t.send("S")
    first = t.expect("SA")
    t.send("S", seq=t.peer_seq - 1, advance=False)
    assert t.expect("SA").seq == first.seq


def _into(state: str) -> tuple:
    """A scripted connection driven into ``state``; returns (script, pcb-or-listener)."""
    t = TcpScript()
    if state == "LISTEN":
        return t, t.stack.tcp.listen(80)
    if state == "SYN_SENT":
        pcb = t.stack.tcp.connect("10.0.0.9", t.peer_port, local_port=t.port)
        t.iss = t.expect("S").seq
        return t, pcb
    if state == "SYN_RCVD":
        listener = t.stack.tcp.listen(80)
        t.send("S")
        t.iss = t.expect("SA").seq
        return t, listener
    pcb = t.open_passive()
    if state in ("FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT"):
        pcb.close()
        t.expect("FA")
        if state in ("FIN_WAIT_2", "TIME_WAIT"):
            t.send("A", ack=t.iss + 2)
        if state in ("CLOSING", "TIME_WAIT"):
            t.send("FA", ack=t.iss + 1 if state == "CLOSING" else t.iss + 2)
    elif state in ("CLOSE_WAIT", "LAST_ACK"):
        t.send("FA", ack=t.iss + 1)
        if state == "LAST_ACK":
            pcb.close()
    t.sent()
    assert pcb.state_name == state
    return t, pcb


@pytest.mark.parametrize("state", ["LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
                                   "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"])
def test_random_segments_in_every_state_never_raise(state):
    import random
    rng = random.Random(hash(state) & 0xFFFF)
    t, _ = _into(state)  # the stack is strict: any exception inside it fails the test
    for i in range(400):
        flags = rng.choice(["S", "A", "R", "F", "PA", "FA", "SA", "RA", "FPA", "SF", "", "SR"])
        seq = rng.choice([t.peer_seq, t.peer_seq + rng.randrange(-9000, 9000), rng.getrandbits(32)])
        ack = rng.choice([t.iss + 1, t.iss + 2, t.iss + rng.randrange(-9000, 9000), rng.getrandbits(32)])
        data = b"r" * rng.choice([0, 0, 1, 10, 500, 1200])
        opts = rng.choice([[], [("MSS", rng.randrange(0, 65536))], [("Timestamp", (rng.getrandbits(32), 0))],
                           [("SAck", (rng.getrandbits(32), rng.getrandbits(32)))], [("WScale", rng.randrange(256))]])
        t.send(flags, seq=seq, ack=ack, data=data, window=rng.randrange(65536), options=opts)
        if i % 50 == 0:
            t.at(t.now + rng.uniform(0, 5))
    t.at(t.now + 500)
    assert t.stack.stats.link.err == 0


def test_an_idle_connection_runs_no_timer():
    t = TcpScript()
    pcb = t.open_passive()
    assert pcb.next_deadline() is None and len(t.stack.tcp.timers) == 0
    pcb.rto_at = 5.0  # even a stale retransmission deadline...
    pcb._schedule()
    t.at(5.0)
    t.expect_nothing()  # ...neither resends nor counts a retry
    assert pcb.retries == 0 and pcb.rto_at is None and pcb.state_name == "ESTABLISHED"
