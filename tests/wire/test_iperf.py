"""iperf 2's UDP headers against bytes iperf 2.1.8 sent (a capture of 'iperf -c 127.0.0.1 -u -b 10M -l 200 -t 1'
and its server's report, taken on loopback in a namespace), and emit/parse round trips."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwipy.errors import Malformed
from lwipy.wire.iperf import SERVER_REPORT_LEN, UDP_DATAGRAM_LEN, ClientHeader, ServerReport, UdpDatagram

# the 2.1.8 client's datagram 1, its FIN (HEADER_SEQNO64B: id2 all ones) and the server's 128-byte report
DATA = bytes.fromhex("000000016b13fcde000e5f5900000000" + "48010098000000010000138a")
FIN = bytes.fromhex("ffffe6636b13fcdf000e6035ffffffff")
REPORT = bytes.fromhex(
    "00000000000000000000000000000000" "8800000000000000001402a8000000010000009a00000000000000000000199d"
    "0000000000000002" "00000000000000020000000000000044000000000000637a00000000000000030000a402000a5c39"
    "00000000000000000000199d0000199b00000001" "000000000000000000000000")


def test_client_datagrams_of_iperf_2_1_8():
    d = UdpDatagram.parse(DATA)
    assert (d.seq, d.sec, d.usec) == (1, 0x6B13FCDE, 0x0E5F59)
    fin = UdpDatagram.parse(FIN)
    assert fin.seq == -6557  # the FIN: minus the next sequence number


def test_a_32_bit_fin_as_older_iperf_and_esp_idf_send_it():
    assert UdpDatagram.parse(bytes.fromhex("ffffff9c00000001000000020000000000")).seq == -100


def test_server_report_of_iperf_2_1_8():
    assert len(REPORT) == SERVER_REPORT_LEN == 128
    r = ServerReport.parse(REPORT)
    # what the client printed: 0.0000-1.0002 sec 1.25 MBytes 10.5 Mbits/sec 0.002 ms 0/6557 (0%)
    assert (r.bytes, r.errors, r.outorder, r.datagrams) == (6557 * 200, 0, 0, 6557)
    assert r.stop == pytest.approx(1.000154) and r.jitter == pytest.approx(2e-6)


def test_our_report_reads_back_and_has_iperfs_shape():
    ours = ServerReport(1311400, 1.000154, 3, 1, 6557, 0.000123).emit()
    assert len(ours) == 128 and ours[:UDP_DATAGRAM_LEN] == bytes(16)
    assert ours[16:20] == REPORT[16:20]  # flags: HEADER_VERSION1 | HEADER_SEQNO64B
    r = ServerReport.parse(ours)
    assert (r.bytes, r.errors, r.outorder, r.datagrams) == (1311400, 3, 1, 6557)
    assert r.jitter == pytest.approx(0.000123) and r.stop == pytest.approx(1.000154)


def test_short_or_flagless_reports_are_refused():
    with pytest.raises(Malformed):
        ServerReport.parse(REPORT[:40])
    with pytest.raises(Malformed):
        ServerReport.parse(bytes(128))  # no HEADER_VERSION1: a data datagram, not a report
    with pytest.raises(Malformed):
        UdpDatagram.parse(b"\0" * 15)


# [2**31, 2**32) with id2 0 reads as a 32-bit FIN (what older iperf and ESP-IDF send): not a number a test reaches
@given(st.integers(-(2**40), 2**31 - 1) | st.integers(2**32, 2**40), st.integers(0, 2**32 - 1), st.integers(0, 999999))
def test_datagram_round_trip(seq, sec, usec):
    buf = bytearray(b"\xa5" * 20)
    UdpDatagram(seq, sec, usec).emit(buf)
    assert UdpDatagram.parse(buf) == UdpDatagram(seq, sec, usec)
    assert buf[16:] == b"\xa5" * 4


@given(st.integers(0, 2**50), st.integers(0, 2**33), st.integers(0, 2**33), st.integers(0, 2**33))
def test_report_round_trip(nbytes, errors, outorder, datagrams):
    r = ServerReport.parse(ServerReport(nbytes, 12.5, errors, outorder, datagrams, 0.001).emit())
    assert (r.bytes, r.errors, r.outorder, r.datagrams) == (nbytes, errors, outorder, datagrams)


# the first 24 bytes of iperf 2.1.8's TCP stream for `iperf -c -r -t 1` and `iperf -c -d -n 1000` (captured)
TRADEOFF = bytes.fromhex("c001007800000001000013890000000000000000ffffff9c")
DUALTEST = bytes.fromhex("c001007900000001000013890000000000000000000003e8")


def test_client_headers_of_iperf_2_1_8():
    r = ClientHeader.parse(TRADEOFF)
    assert (r.wants_test_back, r.run_now, r.threads, r.port, r.amount, r.time) == (True, False, 1, 5001, None, 1.0)
    d = ClientHeader.parse(DUALTEST)
    assert (d.wants_test_back, d.run_now, d.port, d.amount, d.time) == (True, True, 5001, 1000, None)
    assert not ClientHeader.parse(bytes(24)).wants_test_back  # ESP-IDF's and lwipy's client: no settings
    with pytest.raises(Malformed):
        ClientHeader.parse(TRADEOFF[:23])


@given(st.integers(0, 2**32 - 1), st.integers(0, 65535), st.integers(0, 2**31 - 1) | st.none(),
       st.integers(1, 2**31 - 1))
def test_client_header_round_trip(flags, port, amount, hundredths):
    time = None if amount is not None else hundredths / 100
    h = ClientHeader(flags, 1, port, 0, 0, amount, time)
    assert ClientHeader.parse(h.emit()) == h
