"""stack.memory(): what lwIP would hold for the stack's state, by category, current and peak (lwipy.core.mem)."""

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, make_stack
from lwipy.core.mem import ESP32_SIZES as SZ
from lwipy.errors import LwipError
from lwipy.wire.ethernet import mac_to_str
from tcp_script import TcpScript

TX_SEG = SZ.tcp_seg + ((SZ.pbuf + SZ.transport_hlen + 3) & ~3)  # 16 + align(16 + 74) = 108
RX_SEG = SZ.pbuf + SZ.rx_hlen  # 70


def dynamic(stack):
    m = stack.memory()
    return {k: v["cur"] for k, v in m.items() if k not in ("total", "arp", "nd6") and v["cur"]}


def test_the_static_tables_are_there_from_the_start():
    stack, _, _ = make_stack()
    m = stack.memory()
    cfg = stack.config
    assert m["arp"]["cur"] == cfg.arp_table_size * SZ.etharp_entry == 240
    assert m["nd6"]["cur"] == (cfg.nd6_num_neighbors * 44 + cfg.nd6_num_destinations * 48 + cfg.nd6_num_prefixes * 28
                               + cfg.nd6_num_routers * 12)
    assert m["total"]["cur"] == m["arp"]["cur"] + m["nd6"]["cur"] and dynamic(stack) == {}


def test_a_connection_counts_its_pcb_and_its_buffers_in_pbufs_and_segments():
    t = TcpScript()
    pcb = t.open_passive(options=[("MSS", 1000)])
    stack = t.stack
    assert dynamic(stack) == {"tcp_pcb": 208, "tcp_pcb_listen": 72}
    t.send("PA", ack=t.iss + 1, data=b"a" * 100)
    assert dynamic(stack)["tcp_rcv"] == 100 + RX_SEG
    hole = t.peer_seq
    t.send("PA", seq=hole + 300, ack=t.iss + 1, data=b"c" * 200)  # out of order
    t.dev.take()
    m = stack.memory()
    assert m["tcp_ooseq"]["cur"] == 200 + SZ.tcp_seg + RX_SEG and m["tcp_ooseq"]["used"] == 1
    t.send("PA", ack=t.iss + 1, data=b"b" * 300)  # fills the hole: the queued segment joins the stream
    t.peer_seq = hole + 500
    m = stack.memory()
    assert m["tcp_ooseq"]["cur"] == 0 and m["tcp_ooseq"]["peak"] == 286 and m["tcp_ooseq"]["max"] == 1
    assert m["tcp_rcv"]["cur"] == 600 + RX_SEG  # 600 bytes: one MSS-sized pbuf's worth of headers
    assert pcb.recv() == b"a" * 100 + b"b" * 300 + b"c" * 200
    assert "tcp_rcv" not in dynamic(stack)
    pcb.send(b"x" * 2500)  # three segments of the peer's 1000-byte MSS
    assert dynamic(stack)["tcp_snd"] == 2500 + 3 * TX_SEG
    t.dev.take()
    t.send("A", ack=t.iss + 1 + 1000)
    assert dynamic(stack)["tcp_snd"] == 1500 + 2 * TX_SEG
    for _ in range(5):  # acknowledge whatever was sent, until everything was
        t.send("A", ack=t.iss + 1 + 2500 - len(pcb.snd_buf) + sum(len(s.payload) for s in t.sent()))
    assert not pcb.snd_buf and "tcp_snd" not in dynamic(stack)
    peak = stack.memory()["total"]["peak"] - stack.memory()["arp"]["cur"] - stack.memory()["nd6"]["cur"]
    assert peak == 208 + 72 + 2500 + 3 * TX_SEG  # the largest moment: the send buffer full
    pcb.abort()
    assert dynamic(stack) == {"tcp_pcb_listen": 72}


def test_a_freed_pcb_gives_back_its_unread_data():
    t = TcpScript()
    pcb = t.open_passive()
    t.send("PA", ack=t.iss + 1, data=b"z" * 500)
    pcb.send(b"y" * 700)
    assert set(dynamic(t.stack)) == {"tcp_pcb", "tcp_pcb_listen", "tcp_rcv", "tcp_snd"}
    t.send("R", ack=t.iss + 1)
    assert dynamic(t.stack) == {"tcp_pcb_listen": 72}


def test_udp_pcbs_and_refusals():
    stack, _, _ = make_stack(max_udp_pcbs=2)
    a, b = stack.udp.new(), stack.udp.new()
    with pytest.raises(LwipError):
        stack.udp.new()
    m = stack.memory()
    assert m["udp_pcb"] == {"cur": 160, "peak": 160, "used": 2, "max": 2, "err": 1}
    a.close()
    b.close()
    assert stack.memory()["udp_pcb"]["cur"] == 0 and stack.memory()["udp_pcb"]["peak"] == 160


def test_reassembly_counts_reassdata_and_the_fragments_until_done_or_timed_out():
    stack, netif, dev = make_stack(ip4_reassembly=True)
    eth = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))
    whole = IP(src="10.0.0.9", dst="10.0.0.1", id=77) / UDP(sport=1, dport=9) / (b"q" * 1400)
    frags = [bytes(eth / f) for f in __import__("scapy.all", fromlist=["fragment"]).fragment(whole, fragsize=800)]
    assert len(frags) == 2
    stack.input(netif, frags[0], 0.0)
    m = stack.memory()
    assert m["reass"]["cur"] == SZ.ip_reassdata + SZ.pbuf + 14 + 20 + 800 and m["reass"]["used"] == 1
    stack.input(netif, frags[1], 0.1)
    assert stack.memory()["reass"]["cur"] == 0  # done: the datagram went up (to a closed port)
    stack.input(netif, frags[0], 1.0)
    assert stack.memory()["reass"]["cur"] > 0
    stack.poll(1.0 + stack.config.ip_reass_maxage + 1)
    assert stack.memory()["reass"]["cur"] == 0


def test_the_stats_table_shows_lwips_mem_and_memp_rows():
    t = TcpScript()
    t.open_passive()
    text = t.stack.stats.format(t.stack.mem)
    assert "MEMP     tcp_pcb         cur=208 peak=208 used=1 max=1 err=0" in text
    assert "MEM      total" in text and "STATIC   arp" in text
