"""The SNTP client fuzzed through the stack (strict simulation: an exception fails the test): replies with any
fields, our originate echoed or not, any length, in poll mode (smooth or immediate) and listen-only mode.  It never
raises, takes only replies that pass RFC 4330's checks, and in poll mode always has its next request scheduled
(unless every server said DENY)."""

from __future__ import annotations

import pytest
from helpers import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ntpserver import TinyNtp

from lwipy import Config
from lwipy.apps import Sntp, SntpOpMode, SntpSyncMode
from lwipy.sim import Simulation
from lwipy.wire import ntp as w

pytestmark = pytest.mark.slow

fields = st.fixed_dictionaries({
    "li": st.integers(0, 3), "version": st.integers(0, 7), "mode": st.sampled_from([0, 1, 2, 3, 4, 4, 4, 5, 6, 7]),
    "stratum": st.sampled_from([0, 1, 2, 15, 16, 255]), "poll": st.integers(-128, 127),
    "ref_id": st.sampled_from([b"RATE", b"DENY", b"RSTR", b"LOCL", b"\0\0\0\0"]),
    "receive_ts": st.integers(0, 2**64 - 1), "transmit_ts": st.sampled_from([0, 1, 2**63, 2**64 - 1]) |
    st.integers(0, 2**64 - 1)})


@settings(max_examples=examples(150), suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(["immed", "smooth", "listen"]))
def test_any_reply_sequence_never_breaks_the_client(data, mode):
    sim = Simulation(seed=5)
    hub = sim.hub()
    srv = sim.add_stack("ntp", hub, ip="10.0.0.1/24")
    srv.clock.settimeofday(1_800_000_000.0)
    client = sim.add_stack("client", hub, Config(sntp_startup_delay=False, sntp_update_delay=15000),
                           ip="10.0.0.2/24")
    sntp = Sntp(client)
    if mode == "listen":
        sntp.setoperatingmode(SntpOpMode.LISTENONLY)
    elif mode == "smooth":
        sntp.set_sync_mode(SntpSyncMode.SMOOTH)
    sntp.setserver(0, "10.0.0.1")

    def tamper(msg: w.NtpMessage) -> w.NtpMessage:
        for name, value in data.draw(fields).items():
            if data.draw(st.booleans()):
                setattr(msg, name, value)
        if data.draw(st.integers(0, 3)) == 0:
            msg.originate_ts = data.draw(st.integers(0, 2**64 - 1))
        return msg
    ntp = TinyNtp(srv, tamper=tamper)
    sntp.init()
    sim.run(0.01)  # the first request went: the client's pcb has its port
    for _ in range(data.draw(st.integers(1, 6))):
        if mode == "listen" or data.draw(st.integers(0, 4)) == 0:
            raw = data.draw(st.binary(max_size=80))
            ntp.pcb.sendto(raw, "10.0.0.2" if mode != "listen" else "10.0.0.255",
                           sntp.pcb.local_port if mode != "listen" else 123)
        sim.run(data.draw(st.sampled_from([0.01, 1.0, 16.0, 40.0])))
        steps_slews = client.clock.steps + client.clock.slews
        assert sntp.replies <= steps_slews  # every reply taken corrected the clock (settimeofday in net setup: 0)
        if mode != "listen" and not sntp.servers[0].denied:
            assert sntp.poll_at() is not None
    assert sntp.requests >= (0 if mode == "listen" else 1)
