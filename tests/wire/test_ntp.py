"""NTP messages (lwipy.wire.ntp) against scapy's NTP layer, written independently of lwipy, both ways; timestamps and
eras (RFC 4330 3, RFC 5905 6); hypothesis: round trips, and arbitrary bytes never raise but Malformed, also through
the SNTP client's receive path."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from ipaddress import IPv4Address

import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.ntp import NTPHeader

from lwipy import Config, Stack
from lwipy.apps import Sntp
from lwipy.core.udp import Datagram
from lwipy.errors import Malformed
from lwipy.wire import ntp as w
from lwipy.wire.ntp import NtpHeader, NtpMessage


def unix(y: int, mo: int = 1, d: int = 1) -> float:
    return datetime(y, mo, d, tzinfo=timezone.utc).timestamp()


def test_client_request_bytes_equal_scapys():
    """lwIP's request: LI 0, version 4, mode 3, everything zero but the transmit timestamp."""
    ts = (3_900_000_000 << 32) | 0x40000000
    ours = bytes(NtpMessage.client_request(ts).emit())
    theirs = bytes(NTPHeader(leap=0, version=4, mode=3, stratum=0, poll=0, precision=0, id="0.0.0.0", ref=0, orig=0,
                             recv=0))
    theirs = theirs[:40] + struct.pack("!Q", ts)
    assert ours == theirs and len(ours) == 48 and ours[0] == 0x23


def test_scapy_reads_what_we_write():
    msg = NtpMessage(li=0, version=4, mode=w.MODE_SERVER, stratum=2, poll=6, precision=-23, root_delay=0x00012000,
                     root_dispersion=0x00000800, ref_id=bytes([192, 0, 2, 1]),
                     reference_ts=(3_950_000_000 << 32) | 1, originate_ts=(3_950_000_010 << 32) | 2,
                     receive_ts=(3_950_000_011 << 32) | 0x80000000, transmit_ts=(3_950_000_011 << 32) | 0xC0000000)
    p = NTPHeader(bytes(msg.emit()))
    assert (p.leap, p.version, p.mode, p.stratum, p.poll, p.precision) == (0, 4, 4, 2, 6, -23)
    assert p.id == "192.0.2.1"
    assert p.delay == pytest.approx(0x12000 / 65536) and p.dispersion == pytest.approx(0x800 / 65536)
    assert p.orig == pytest.approx(3_950_000_010, abs=1e-6)
    assert p.recv == pytest.approx(3_950_000_011.5) and p.sent == pytest.approx(3_950_000_011.75)


def test_we_read_what_scapy_writes():
    raw = bytes(NTPHeader(leap=3, version=3, mode=5, stratum=2, poll=10, precision=-6, delay=0.5, dispersion=0.25,
                          id="10.1.2.3", ref=3_900_000_000.5, orig=3_900_000_001, recv=3_900_000_002.25,
                          sent=3_900_000_003.75))
    h = NtpHeader.parse(raw)
    assert (h.li, h.version, h.mode, h.stratum, h.poll, h.precision) == (3, 3, 5, 2, 10, -6)
    assert h.root_delay == 0.5 and h.root_dispersion == 0.25 and h.ref_id == bytes([10, 1, 2, 3])
    assert h.reference_ts == (3_900_000_000 << 32) | 0x80000000
    assert h.originate_ts == 3_900_000_001 << 32
    assert h.receive_ts == (3_900_000_002 << 32) | 0x40000000
    assert h.transmit_ts == (3_900_000_003 << 32) | 0xC0000000
    assert bytes(h.to_message().emit()) == raw[:48]


def test_kiss_code_of_a_kiss_o_death():
    assert NtpHeader.parse(bytes(NTPHeader(mode=4, stratum=0, ref_id="DENY"))).kiss_code == "DENY"  # scapy's
    raw = bytearray(NtpMessage(mode=4, stratum=0, li=3, ref_id=b"RATE").emit())
    assert NtpHeader.parse(raw).kiss_code == "RATE"
    raw[1] = 2
    assert NtpHeader.parse(raw).kiss_code is None


def test_short_message_is_malformed():
    with pytest.raises(Malformed):
        NtpHeader.parse(bytes(47))


def test_eras_rfc_4330_rule_and_pivot():
    # 1900-01-01 is NTP 0; 2036-02-07 06:28:16 is the wrap (era 1 second 0)
    assert w.from_unix(-2208988800) == 0
    wrap = 2085978496
    assert w.from_unix(wrap) == 0 and w.from_unix(wrap - 1) == 0xFFFFFFFF << 32
    # RFC 4330: bit 0 set is 1968-2036, clear is 2036-2104
    assert w.to_unix(w.from_unix(unix(2026, 6, 1))) == unix(2026, 6, 1)
    assert w.to_unix(w.from_unix(unix(2040))) == unix(2040)
    assert w.to_unix(w.from_unix(unix(2100))) == unix(2100)
    assert w.to_unix(w.from_unix(unix(1969))) == unix(1969)
    # 1950 reads as 2086 without a pivot, right with one
    assert w.to_unix(w.from_unix(unix(1950))) == unix(1950) + 2**32
    assert w.to_unix(w.from_unix(unix(1950)), pivot=unix(1960)) == unix(1950)
    # era 2 (2172) from a pivot in 2150
    assert w.to_unix(w.from_unix(unix(2172)), pivot=unix(2150)) == unix(2172)
    assert w.diff(w.from_unix(wrap + 5), w.from_unix(wrap - 5)) == 10.0
    assert w.diff(w.from_unix(wrap - 5), w.from_unix(wrap + 5)) == -10.0


@settings(max_examples=examples(300))
@given(st.floats(min_value=-2208988800.0, max_value=2**33, allow_nan=False),
       st.floats(min_value=-60 * 365.25 * 86400, max_value=60 * 365.25 * 86400))
def test_any_time_round_trips_with_a_pivot_within_68_years(t, skew):
    assert w.to_unix(w.from_unix(t), pivot=t + skew) == pytest.approx(t, abs=1e-6)


@settings(max_examples=examples(300))
@given(st.floats(min_value=-2208988800.0, max_value=2**33, allow_nan=False),
       st.floats(min_value=-2**31 + 1, max_value=2**31 - 1))
def test_differences_are_right_across_eras(t, d):
    assert w.diff(w.from_unix(t + d), w.from_unix(t)) == pytest.approx(d, abs=1e-6)


messages = st.builds(NtpMessage, li=st.integers(0, 3), version=st.integers(0, 7), mode=st.integers(0, 7),
                     stratum=st.integers(0, 255), poll=st.integers(-128, 127), precision=st.integers(-128, 127),
                     root_delay=st.integers(0, 2**32 - 1), root_dispersion=st.integers(0, 2**32 - 1),
                     ref_id=st.binary(min_size=4, max_size=4), reference_ts=st.integers(0, 2**64 - 1),
                     originate_ts=st.integers(0, 2**64 - 1), receive_ts=st.integers(0, 2**64 - 1),
                     transmit_ts=st.integers(0, 2**64 - 1))


@settings(max_examples=examples(300))
@given(messages)
def test_emit_parse_round_trip_and_scapy_agrees(msg):
    buf = bytearray(b"\xa5" * 60)
    msg.emit(buf, 6)
    raw = bytes(buf[6:54])
    assert NtpHeader.parse(raw).to_message() == msg
    assert buf[:6] == b"\xa5" * 6 and buf[54:] == b"\xa5" * 6
    p = NTPHeader(raw)
    assert (p.leap, p.version, p.mode, p.stratum) == (msg.li, msg.version, msg.mode, msg.stratum)
    assert bytes(p)[:48] == raw


@settings(max_examples=examples(500))
@given(st.binary(max_size=120))
def test_arbitrary_bytes_parse_or_raise_malformed(data):
    try:
        h = NtpHeader.parse(data)
    except Malformed:
        assert len(data) < 48
        return
    h.to_message()
    h.kiss_code  # noqa: B018


def _client() -> tuple[Stack, Sntp]:
    stack = Stack(Config(sntp_startup_delay=False), seed=1, strict=True)
    from helpers import CaptureDevice
    stack.add_netif(CaptureDevice(), ip="10.0.0.2/24")
    sntp = Sntp(stack)
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    stack.poll(0.0)
    return stack, sntp


@settings(max_examples=examples(300))
@given(st.binary(max_size=100), st.booleans(), st.integers(0, 3))
def test_the_client_never_raises_on_any_reply(data, echo, li):
    stack, sntp = _client()
    if echo and len(data) >= 48 and sntp.last_timestamp_sent is not None:
        data = bytearray(data)
        data[0] = (li << 6) | (4 << 3) | 4
        struct.pack_into("!Q", data, 24, sntp.last_timestamp_sent)
    sntp._recv(sntp.pcb, Datagram(bytes(data), IPv4Address("10.0.0.1"), 123, IPv4Address("10.0.0.2"), 1))
    assert sntp.replies + sntp.ignored + sntp.kisses == 1
