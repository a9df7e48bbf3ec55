"""MLDv1 (RFC 2710) and MLDv2 (RFC 3810) against scapy.

Every byte vector here is built with scapy 2.5+ (scapy.layers.inet6) as an independent encoder: the whole IPv6
packet, so scapy computes the ICMPv6 checksum over the same pseudo-header, then the ICMPv6 part (no hop-by-hop
header: scapy adds the router alert only when asked, and the checksum does not cover it).  Field meanings and
validity rules are from the RFC sections named at each test.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import examples

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet6 import (ICMPv6MLDMultAddrRec, ICMPv6MLDone, ICMPv6MLQuery, ICMPv6MLQuery2,  # noqa: E402
                                ICMPv6MLReport, ICMPv6MLReport2, IPv6)

from .icmp6_vectors import FILL, a6, emitted, icmp6_of, s6, scapy_vector  # noqa: E402
from lwipy.errors import Malformed  # noqa: E402
from lwipy.wire.icmpv6 import MLD_DONE, MLD_QUERY, MLD_REPORT, fill_checksum, verify_checksum  # noqa: E402
from lwipy.wire.mld import (ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES, CHANGE_TO_EXCLUDE_MODE,  # noqa: E402
                            CHANGE_TO_INCLUDE_MODE, MODE_IS_EXCLUDE, MODE_IS_INCLUDE, V1_LEN, McastRecord,
                            MldMessage, Mldv2Query, Mldv2Report, decode_max_resp_code, decode_qqic,
                            encode_max_resp_code, encode_qqic, parse_mld)

CHECKED = settings(max_examples=examples(150), deadline=None)





LL_H, LL_Q = "fe80::a", "fe80::c"
GROUP = "ff05::1:3"
SOLICITED = "ff02::1:ff00:a"
SRC1, SRC2 = "2001:db8::1", "2001:db8::2"

# name: (IPv6 src, IPv6 dst, the scapy ICMPv6 layer, what lwipy reads)
VECTORS = {
    "v1 general query": (LL_Q, "ff02::1", ICMPv6MLQuery(mrd=10000), MldMessage(MLD_QUERY, 10000, bytes(16))),
    "v1 specific query": (LL_Q, GROUP, ICMPv6MLQuery(mrd=1000, mladdr=GROUP), MldMessage(MLD_QUERY, 1000, a6(GROUP))),
    "v1 report": (LL_H, SOLICITED, ICMPv6MLReport(mladdr=SOLICITED), MldMessage(MLD_REPORT, 0, a6(SOLICITED))),
    "v1 done": (LL_H, "ff02::2", ICMPv6MLDone(mladdr=GROUP), MldMessage(MLD_DONE, 0, a6(GROUP))),
    "v2 general query": (LL_Q, "ff02::1", ICMPv6MLQuery2(mrd=10000, QRV=2, QQIC=125),
                         Mldv2Query(10000, bytes(16), False, 2, 125)),
    # Max Resp Code 0xa400: exp 2, mant 0x400, so (0x400 | 0x1000) << 5 = 163840 ms (RFC 3810 5.1.3); QQIC 0x8c:
    # exp 0, mant 0xc, so (0xc | 0x10) << 3 = 224 s (RFC 3810 5.1.9), by hand from the RFC's formulas
    "v2 source query": (LL_Q, GROUP, ICMPv6MLQuery2(mrd=0xA400, mladdr=GROUP, S=1, QRV=7, QQIC=0x8C,
                                                    sources=[SRC1, SRC2]),
                        Mldv2Query(0xA400, a6(GROUP), True, 7, 0x8C, (a6(SRC1), a6(SRC2)))),
    # scapy's auxdata_len counts bytes where RFC 3810 5.2.6 counts 32-bit words, so it is given explicitly
    "v2 report": (LL_H, "ff02::16", ICMPv6MLReport2(records=[
        ICMPv6MLDMultAddrRec(rtype=CHANGE_TO_EXCLUDE_MODE, dst=SOLICITED),
        ICMPv6MLDMultAddrRec(rtype=MODE_IS_INCLUDE, dst=GROUP, sources=[SRC1, SRC2]),
        ICMPv6MLDMultAddrRec(rtype=ALLOW_NEW_SOURCES, dst="ff0e::1234", sources=[SRC2], auxdata_len=2,
                             auxdata=b"auxdata!")]),
        Mldv2Report([McastRecord(CHANGE_TO_EXCLUDE_MODE, a6(SOLICITED)),
                     McastRecord(MODE_IS_INCLUDE, a6(GROUP), (a6(SRC1), a6(SRC2))),
                     McastRecord(ALLOW_NEW_SOURCES, a6("ff0e::1234"), (a6(SRC2),), b"auxdata!")])),
    "v2 empty report": (LL_H, "ff02::16", ICMPv6MLReport2(), Mldv2Report([])),
}




@pytest.mark.parametrize("name", VECTORS)
def test_scapy_vector_checksum_verifies(name: str) -> None:
    msg, src, dst = scapy_vector(VECTORS, name)
    assert verify_checksum(msg, src, dst)


@pytest.mark.parametrize("name", VECTORS)
def test_parse_vector(name: str) -> None:
    msg, _, _ = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    assert parse_mld(msg) == expected
    assert type(expected).parse(memoryview(msg)) == expected


@pytest.mark.parametrize("name", VECTORS)
def test_emit_vector(name: str) -> None:
    msg, src, dst = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    assert expected.buffer_len == len(msg)
    assert emitted(expected, src, dst) == msg
    assert emitted(expected, src, dst, offset=0) == msg


def test_emit_over_memoryview() -> None:
    msg, src, dst = scapy_vector(VECTORS, "v2 report")
    buf = bytearray([FILL]) * len(msg)
    VECTORS["v2 report"][3].emit(memoryview(buf), 0)
    fill_checksum(memoryview(buf), 0, len(buf), src, dst)
    assert bytes(buf) == msg


def test_v2_query_decoded_fields() -> None:
    q = parse_mld(scapy_vector(VECTORS, "v2 source query")[0])
    assert isinstance(q, Mldv2Query)
    assert (q.max_resp_delay, q.qqi) == (163840, 224)
    g = parse_mld(scapy_vector(VECTORS, "v2 general query")[0])
    assert isinstance(g, Mldv2Query) and (g.max_resp_delay, g.qqi) == (10000, 125)


@pytest.mark.parametrize("name", VECTORS)
def test_code_is_ignored(name: str) -> None:
    """RFC 2710 3.2, RFC 3810 5.1.1: the code is "Initialized to zero by the sender; ignored by receivers" (and the
    second byte of a v2 report is reserved, 5.2.1); nor is the checksum read (the caller verified it)."""
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    msg[1] = 0x5A
    msg[2:4] = b"\x12\x34"
    assert parse_mld(msg) == VECTORS[name][3]


def test_query_version_is_its_length() -> None:
    """RFC 3810 8.1: 24 octets is an MLDv1 query, 28 or more an MLDv2 one, and other lengths "MUST be silently
    ignored"; the octets past the sources are Additional Data that receivers ignore (5.1.12)."""
    v2 = scapy_vector(VECTORS, "v2 general query")[0]
    assert len(v2) == 28
    assert parse_mld(v2[:24]) == MldMessage(MLD_QUERY, 10000, bytes(16))
    for n in (25, 26, 27):
        with pytest.raises(Malformed):
            parse_mld(v2[:n])
    assert parse_mld(v2 + b"additional") == VECTORS["v2 general query"][3]
    source = scapy_vector(VECTORS, "v2 source query")[0]
    assert parse_mld(source + bytes(3)) == VECTORS["v2 source query"][3]


def test_mldv1_reads_an_mldv2_query_as_v1() -> None:
    """RFC 3810 8.2.1: an MLDv1 host treats an MLDv2 query as an MLDv1 one (its first 24 bytes)."""
    msg = scapy_vector(VECTORS, "v2 source query")[0]
    assert MldMessage.parse(msg) == MldMessage(MLD_QUERY, 0xA400, a6(GROUP))


def test_v1_report_extra_bytes_are_ignored() -> None:
    msg = scapy_vector(VECTORS, "v1 report")[0]
    assert parse_mld(msg + b"\x01\x02\x03\x04") == VECTORS["v1 report"][3]


def test_report_additional_data_is_ignored() -> None:
    msg = scapy_vector(VECTORS, "v2 report")[0]
    assert parse_mld(msg + b"\xff" * 7) == VECTORS["v2 report"][3]


@pytest.mark.parametrize("name", VECTORS)
def test_truncated_raises(name: str) -> None:
    """Any cut is Malformed, except an MLDv2 query cut to 24 bytes, which is an MLDv1 query (RFC 3810 8.1)."""
    msg, _, _ = scapy_vector(VECTORS, name)
    expected = VECTORS[name][3]
    for n in range(len(msg)):
        if isinstance(expected, Mldv2Query) and n == V1_LEN:
            assert isinstance(parse_mld(msg[:n]), MldMessage)
        else:
            with pytest.raises(Malformed):
                parse_mld(msg[:n])
        with pytest.raises(Malformed):
            type(expected).parse(msg[:n])


def test_counts_past_the_end_raise() -> None:
    query = bytearray(scapy_vector(VECTORS, "v2 source query")[0])
    query[27] = 3  # three sources, two present
    with pytest.raises(Malformed):
        parse_mld(query)
    report = bytearray(scapy_vector(VECTORS, "v2 report")[0])
    report[7] = 4  # four records, three present
    with pytest.raises(Malformed):
        parse_mld(report)
    report[7] = 3
    last = 8 + 20 + (20 + 32)
    assert report[last + 1] == 2
    report[last + 1] = 3  # the last record claims an aux word it does not carry
    with pytest.raises(Malformed):
        parse_mld(report)


@pytest.mark.parametrize("type_", [0, 1, 128, 129, 133, 134, 135, 136, 137, 142, 144, 255])
def test_other_types_raise(type_: int) -> None:
    with pytest.raises(Malformed):
        parse_mld(bytes([type_]) + bytes(40))
    with pytest.raises(Malformed):
        parse_mld(b"")


def test_class_parse_checks_its_type() -> None:
    report, query, v1 = (scapy_vector(VECTORS, name)[0] for name in ("v2 report", "v2 source query", "v1 done"))
    with pytest.raises(Malformed):
        Mldv2Query.parse(bytes([MLD_REPORT]) + query[1:])
    with pytest.raises(Malformed):
        Mldv2Report.parse(bytes([MLD_QUERY]) + report[1:])
    with pytest.raises(Malformed):
        MldMessage.parse(bytes([143]) + v1[1:])


def test_unknown_record_types_are_kept() -> None:
    """RFC 3810 5.2.12 defines types 1 to 6; a router ignores others, so the parser keeps them for it to judge."""
    records = [McastRecord(t, a6(GROUP)) for t in (0, MODE_IS_EXCLUDE, CHANGE_TO_INCLUDE_MODE, BLOCK_OLD_SOURCES, 99)]
    report = Mldv2Report(records)
    buf = bytearray(report.buffer_len)
    report.emit(buf, 0)
    assert Mldv2Report.parse(buf) == report


def test_aux_data_is_padded_to_words() -> None:
    record = McastRecord(MODE_IS_INCLUDE, a6(GROUP), aux=b"abcde")
    assert record.buffer_len == 20 + 8
    buf = bytearray([FILL]) * 30
    record.emit(buf, 0)
    assert buf[1] == 2 and bytes(buf[20:]) == b"abcde\0\0\0" + bytes([FILL]) * 2


# -- max resp code and QQIC ------------------------------------------------------------------------------------------
def test_max_resp_code_examples() -> None:
    """RFC 3810 5.1.3: below 32768 the code is the delay; above, Maximum Response Delay = (mant | 0x1000) << (exp+3)."""
    assert [decode_max_resp_code(c) for c in (0, 1, 10000, 0x7FFF)] == [0, 1, 10000, 0x7FFF]
    assert decode_max_resp_code(0x8000) == 0x1000 << 3 == 32768
    assert decode_max_resp_code(0x8FFF) == 0x1FFF << 3
    assert decode_max_resp_code(0xFFFF) == 0x1FFF << 10 == 8387584
    assert [encode_max_resp_code(ms) for ms in (0, 10000, 32767, 32768, 32775, 32776)] == \
        [0, 10000, 32767, 0x8000, 0x8000, 0x8001]
    assert encode_max_resp_code(8387584) == encode_max_resp_code(10 ** 9) == 0xFFFF


def test_qqic_examples() -> None:
    """RFC 3810 5.1.9: below 128 the code is the interval; above, QQI = (mant | 0x10) << (exp + 3)."""
    assert [decode_qqic(c) for c in (0, 125, 127, 0x80, 0xFF)] == [0, 125, 127, 128, 0x1F << 10]
    assert [encode_qqic(s) for s in (125, 128, 135, 136, 31744, 10 ** 6)] == [125, 0x80, 0x80, 0x81, 0xFF, 0xFF]


def test_codes_are_inverses_over_their_whole_range() -> None:
    assert all(encode_max_resp_code(decode_max_resp_code(code)) == code for code in range(0x10000))
    assert all(encode_qqic(decode_qqic(code)) == code for code in range(0x100))


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_max_resp_code(-1)
    with pytest.raises(ValueError):
        encode_qqic(-1)


@settings(max_examples=examples(500), deadline=None)
@given(st.integers(0, 9_000_000))
def test_max_resp_code_rounds_down(ms: int) -> None:
    """The encoded delay is the largest one the code can say that is not above ``ms`` (listeners answer in time)."""
    code = encode_max_resp_code(ms)
    assert 0 <= code <= 0xFFFF
    assert decode_max_resp_code(code) <= ms
    assert code == 0xFFFF or decode_max_resp_code(code + 1) > ms


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 40_000))
def test_qqic_rounds_down(seconds: int) -> None:
    code = encode_qqic(seconds)
    assert 0 <= code <= 0xFF and decode_qqic(code) <= seconds
    assert code == 0xFF or decode_qqic(code + 1) > seconds


# -- hypothesis ------------------------------------------------------------------------------------------------------
addrs = st.binary(min_size=16, max_size=16)
source_lists = st.lists(addrs, max_size=4).map(tuple)
v1_messages = st.builds(MldMessage, st.sampled_from([MLD_QUERY, MLD_REPORT, MLD_DONE]), st.integers(0, 0xFFFF), addrs)
v2_queries = st.builds(Mldv2Query, st.integers(0, 0xFFFF), addrs, st.booleans(), st.integers(0, 7),
                       st.integers(0, 255), source_lists)
records = st.builds(McastRecord, st.integers(0, 255), addrs, source_lists,
                    st.integers(0, 3).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)))
v2_reports = st.builds(Mldv2Report, st.lists(records, max_size=4))
messages = st.one_of(v1_messages, v2_queries, v2_reports)


@CHECKED
@given(messages, st.integers(0, 7))
def test_emit_parse_round_trip(msg, offset: int) -> None:
    buf = bytearray([FILL]) * (offset + msg.buffer_len + 3)
    msg.emit(buf, offset)
    assert buf[:offset] == bytes([FILL]) * offset and buf[-3:] == bytes([FILL]) * 3
    assert parse_mld(memoryview(buf)[offset:offset + msg.buffer_len]) == msg


def to_scapy(msg):
    """The same message built with scapy, field by field."""
    if isinstance(msg, MldMessage):
        cls = {MLD_QUERY: ICMPv6MLQuery, MLD_REPORT: ICMPv6MLReport, MLD_DONE: ICMPv6MLDone}[msg.type]
        return cls(mrd=msg.max_resp_delay, mladdr=s6(msg.address))
    if isinstance(msg, Mldv2Query):
        return ICMPv6MLQuery2(mrd=msg.max_resp_code, mladdr=s6(msg.address), S=msg.suppress, QRV=msg.qrv,
                              QQIC=msg.qqic, sources=[s6(a) for a in msg.sources])
    return ICMPv6MLReport2(records=[
        ICMPv6MLDMultAddrRec(rtype=r.type, dst=s6(r.address), sources=[s6(a) for a in r.sources],
                             auxdata_len=len(r.aux) // 4, auxdata=r.aux) for r in msg.records])


@CHECKED
@given(messages, addrs, addrs)
def test_emit_matches_scapy(msg, src: bytes, dst: bytes) -> None:
    """Random messages: lwipy's bytes (checksum filled) equal scapy's for the same fields and addresses."""
    assert emitted(msg, src, dst) == icmp6_of(IPv6(src=s6(src), dst=s6(dst)) / to_scapy(msg))


@settings(max_examples=examples(500), deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        parse_mld(data)
    except Malformed:
        pass


@settings(max_examples=examples(500), deadline=None)
@given(st.sampled_from([MLD_QUERY, MLD_REPORT, MLD_DONE, 143]), st.binary(max_size=160))
def test_mld_types_with_arbitrary_bodies_only_raise_malformed(type_: int, body: bytes) -> None:
    try:
        parse_mld(bytes([type_]) + body)
    except Malformed:
        pass


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(sorted(VECTORS)), st.data())
def test_corrupted_vectors_only_raise_malformed(name: str, data) -> None:
    msg = bytearray(scapy_vector(VECTORS, name)[0])
    for _ in range(data.draw(st.integers(1, 4))):
        msg[data.draw(st.integers(0, len(msg) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_mld(msg)
    except Malformed:
        pass
