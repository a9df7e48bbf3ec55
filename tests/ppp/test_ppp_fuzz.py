"""hypothesis against PPP's negotiation machines: the RFC 1661 automaton under any sequence of events and packets,
and a whole session (LCP, PAP, CHAP, IPCP, IPV6CP, VJ) fed arbitrary and mutated frames in every phase.  They may
only drop, count, answer or move between valid states; never raise."""

from __future__ import annotations

from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ppp_session import PPP, Pair, server_settings

from lwipy.ppp import PppSettings
from lwipy.ppp.fsm import ACKRCVD, ACKSENT, CLOSED, INITIAL, OPENED, REQSENT, STARTING, STOPPED, Fsm
from lwipy.ppp.options import OptionHandler
from lwipy.wire.ppp import (CONFACK, CONFNAK, CONFREJ, CONFREQ, PPP_CHAP, PPP_IP, PPP_IPCP, PPP_IPV6CP, PPP_LCP,
                            PPP_PAP, PPP_VJC_COMP, PPP_VJC_UNCOMP, TERMACK, TERMREQ, CpPacket, emit_options,
                            frame_encode)


class Recorder(OptionHandler):
    """A handler that wants one option and acks whatever the peer asks, counting its layer actions."""

    def __init__(self) -> None:
        super().__init__()
        self.ups = self.downs = self.starts = self.finishes = 0

    def want(self):
        return {1: b"\x05\xdc"}

    def req_option(self, kind, value):
        return (1 if kind < 100 else 4), None

    def up(self):
        self.ups += 1

    def down(self):
        self.downs += 1

    def starting(self):
        self.starts += 1

    def finished(self):
        self.finishes += 1


events = st.one_of(
    st.sampled_from(["up", "down", "open", "close", "timeout"]),
    st.tuples(st.sampled_from([CONFREQ, CONFACK, CONFNAK, CONFREJ, TERMREQ, TERMACK, 7, 9, 42]),
              st.integers(0, 3), st.sampled_from([b"", b"\x01\x04\x05\xdc", b"\x01\x04\x05\xdd", b"\x77\x02",
                                                  b"\x01\x01", b"\xff"])))


@settings(max_examples=examples(400))
@given(st.lists(events, max_size=60), st.integers(0, 7))
def test_fsm_any_event_sequence_keeps_the_automaton_sound(seq, flags):
    sent: list[bytes] = []
    now = [0.0]
    h = Recorder()
    f = Fsm(PPP_LCP, "T", h, lambda proto, info: sent.append(info), lambda: now[0])
    f.flags = flags
    for ev in seq:
        before = f.state
        if ev == "up":
            f.lowerup()
        elif ev == "down":
            f.lowerdown()
        elif ev == "open":
            f.open()
        elif ev == "close":
            f.close("bye")
        elif ev == "timeout":
            if f.deadline is not None:
                now[0] = f.deadline
                f.poll(now[0])
        else:
            code, ident, data = ev
            f.input(CpPacket(code, (f.reqid + ident) & 0xFF if ident else 0, data).emit())
        assert INITIAL <= f.state <= OPENED
        # the layer is up exactly while Opened: every up matched by a down once it leaves Opened
        assert h.ups - h.downs == (1 if f.state == OPENED else 0), (before, ev, f.state)
        # a restart timer runs only in the states that use it (RFC 1661 4.6)
        if f.state in (INITIAL, STARTING, CLOSED, STOPPED, OPENED):
            assert f.deadline is None, (before, ev, f.state)
        if f.state in (REQSENT, ACKRCVD, ACKSENT):
            assert f.deadline is not None
    for info in sent:
        CpPacket.parse(info)  # everything sent is well formed


protocols = st.sampled_from([PPP_LCP, PPP_PAP, PPP_CHAP, PPP_IPCP, PPP_IPV6CP, PPP_IP, PPP_VJC_COMP, PPP_VJC_UNCOMP,
                             0x8281, 0x0021])
packet = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda c, i, opts: CpPacket(c, i, emit_options(opts)).emit(), st.integers(1, 12), st.integers(0, 255),
              st.lists(st.tuples(st.integers(0, 140), st.binary(max_size=10)), max_size=5)))


@settings(max_examples=examples(150))
@given(st.lists(st.tuples(st.sampled_from(["client", "server"]), protocols, packet), max_size=30),
       st.sampled_from(["none", "pap", "chap"]), st.booleans(), st.integers(0, 40))
def test_sessions_take_arbitrary_frames_in_any_phase(frames, auth, vj, warmup):
    p = Pair(PppSettings(user="alice", password="s3cret", ipv6=True, vj=vj),
             server_settings(auth_required=auth != "none", auth=(auth,) if auth != "none" else (), ipv6=True, vj=vj),
             config=PPP)
    # inject somewhere between the first byte and an established link
    for _ in range(warmup):
        p.sim.settle()
    for who, protocol, info in frames:
        dev = p.da if who == "client" else p.db
        dev.serial.inbox.append(frame_encode(protocol, info, accm=0))
        p.sim.settle()
    p.sim.run(40)
    for pcb in (p.ca, p.cb):
        assert 0 <= pcb.phase <= 12
        for f in (pcb.lcp, pcb.ipcp, pcb.ipv6cp):
            assert INITIAL <= f.state <= OPENED
        if pcb.if4_up:
            assert pcb.netif.ip4 is not None and pcb.netif.link_up
