"""ESP-IDF's lwIP guide, "Peak Buffer Usage": lwip_dynamic_peek_memory = udp_con_num * udp_conn + tcp_con_num *
(tx_win + rx_win + tcp_conn), checked against stack.memory()'s measured peak with ESP-IDF's windows
(bench/bench_memory.py's workload: both windows of every connection full, nothing read)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_memory import measure  # noqa: E402


@pytest.mark.parametrize("connections", [1, 4, 16])
def test_the_guides_formula_against_the_measured_peak(connections):
    r = measure(connections, udp=1)
    assert (r["tx_win"], r["rx_win"]) == (5760, 5760)  # CONFIG_LWIP_TCP_SND_BUF_DEFAULT, CONFIG_LWIP_TCP_WND_DEFAULT
    per = r["per_pcb"]
    assert r["tcp_conn"] == per["tcp_pcb"] + per["netconn"] + per["tcp_recvmbox"] == 208 + 52 + 112
    assert r["udp_conn"] == per["udp_pcb"] + per["netconn"] + per["udp_recvmbox"] == 80 + 52 + 112
    assert r["formula"] == r["udp_conn"] + connections * (5760 + 5760 + r["tcp_conn"])
    peak = r["peak_by_category"]
    assert peak["tcp_pcb"] == connections * 208 and peak["udp_pcb"] == 80
    assert peak["netconn"] == (connections + 1) * 52 and r["mbox_peak_without_tcpip"] == (connections + 1) * 112
    # the windows are full: the window bytes, in MSS-sized segments, each with its pbuf (and tcp_seg when sending)
    segments = -(-5760 // 1440)
    assert peak["tcp_snd"] == connections * (5760 + segments * per["tx_segment_overhead"])
    assert peak["tcp_rcv"] == connections * (5760 + segments * per["rx_segment_overhead"])
    # the formula holds up to exactly those pbuf and tcp_seg bytes, which its window sizes leave out (6 % here)
    overhead = connections * segments * (per["tx_segment_overhead"] + per["rx_segment_overhead"])
    assert r["measured_peak"] == r["formula"] + overhead
    assert r["formula"] <= r["measured_peak"] <= 1.07 * r["formula"]
    assert r["after_close"] == 0  # everything given back
