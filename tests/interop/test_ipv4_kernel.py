"""lwipy's IPv4 core against the Linux kernel, over a TAP in a network namespace (see conftest.py).

Each test asserts on what the kernel saw, through its own tools: ping(8)'s summary, a kernel socket's data and errno,
``ip neigh``, the namespace's /proc/net/snmp counters, and tshark's reading of the capture.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from interop_netns import GENEROUS, KERNEL_IP, LWIP_IP
from lwipy.netif.pcap import PcapWriter
from lwipy.netif.tap import in_netns
from lwipy.wire.checksum import checksum, pseudo_sum_v4
from lwipy.wire.ethernet import mac_from_str

if TYPE_CHECKING:
    from conftest import Lwip  # the fixture's type, for readers and type checkers only

pytestmark = pytest.mark.interop

# tshark's verdict on a capture: malformed packets, expert infos of severity Error, and any checksum complaint (ICMP's
# bad checksum is only a Warning in tshark 4.0, so the severity test alone would miss it; see test_tshark_filter_*)
TSHARK_PROBLEMS = '_ws.malformed || _ws.expert.severity >= "Error" || _ws.expert.group == "Checksum"'
TSHARK_CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


# -- helpers ---------------------------------------------------------------------------------------------------------
def snmp(lw: Lwip) -> dict[str, dict[str, int]]:
    """The namespace's kernel MIB counters (/proc/net/snmp): {"Icmp": {"InEchos": 3, ...}, "Ip": ..., "Udp": ...}.
    A fresh namespace starts them at zero."""
    text = lw.run(["cat", "/proc/net/snmp"], check=True).stdout
    lines = text.splitlines()
    out: dict[str, dict[str, int]] = {}
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        proto, names = names.split(":", 1)
        out[proto] = dict(zip(names.split(), (int(v) for v in values.split(":", 1)[1].split()), strict=True))
    return out


def delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], proto: str, field: str) -> int:
    return after[proto][field] - before[proto][field]


def inject(lw: Lwip, frames: list[bytes], gap: float = 0.0002) -> None:
    """Send raw Ethernet frames into lwipy from the kernel's side: an AF_PACKET socket made inside the namespace,
    bound to the TAP, so the kernel transmits them down the TAP to lwipy exactly as given."""
    sock = in_netns(lw.ns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
    try:
        sock.bind((lw.kernel.ifname, 0))
        for frame in frames:
            sock.send(frame)
            if gap:
                time.sleep(gap)  # stay well inside the TAP's queue
    finally:
        sock.close()


def require_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but tshark is not installed", pytrace=False)
        pytest.skip("tshark is not installed")
    return path


def tshark(pcap: Path, display_filter: str, *fields: str) -> list[str]:
    """The packets of ``pcap`` matching ``display_filter``: one line each (the chosen fields, or the summary)."""
    argv = [require_tshark(), "-n", "-r", str(pcap), *TSHARK_CHECKS, "-Y", display_filter]
    if fields:
        argv += ["-T", "fields"] + [a for f in fields for a in ("-e", f)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"tshark failed ({done.returncode}): {done.stderr}"
    return [line for line in done.stdout.splitlines() if line.strip()]


# -- kernel pings lwipy ----------------------------------------------------------------------------------------------
def test_kernel_pings_lwip_200_times(lwip: Lwip) -> None:
    before = snmp(lwip)
    result = lwip.kernel_ping("-c", "200", "-i", "0.002", "-W", "2", "-q")
    assert (result.transmitted, result.received, result.loss) == (200, 200, 0.0), result.text
    assert (result.duplicates, result.errors) == (0, 0), result.text
    after = snmp(lwip)
    assert delta(before, after, "Icmp", "InEchoReps") == 200
    assert delta(before, after, "Icmp", "InErrors") == 0
    stats = lwip.stats()
    assert stats["icmp"]["xmit"] >= 200 and stats["icmp"]["chkerr"] == 0


def test_kernel_ping_4000_bytes_is_reassembled_and_answered(lwip: Lwip) -> None:
    before = snmp(lwip)
    result = lwip.kernel_ping("-c", "5", "-s", "4000", "-i", "0.05", "-W", "2")
    assert (result.transmitted, result.received, result.loss) == (5, 5, 0.0), result.text
    # ping(8) checks the echoed payload and complains about "wrong data byte" or a truncated reply
    assert result.reply_bytes == [4008] * 5, result.text
    assert "wrong" not in result.text and "truncated" not in result.text and "DUP!" not in result.text
    after = snmp(lwip)
    assert delta(before, after, "Ip", "FragCreates") >= 15  # the kernel cut each request into 3 fragments
    assert delta(before, after, "Ip", "ReasmOKs") == 5  # and put lwipy's fragmented replies back together
    assert delta(before, after, "Ip", "ReasmFails") == 0
    stats = lwip.stats()
    assert stats["ip_frag"]["recv"] >= 15 and stats["ip_frag"]["xmit"] >= 15
    assert stats["ip_frag"]["drop"] == 0


# -- lwipy pings the kernel ------------------------------------------------------------------------------------------
def test_lwip_pings_kernel_without_loss(lwip: Lwip) -> None:
    before = snmp(lwip)
    session = lwip.stack_ping(KERNEL_IP, count=50, interval=0.005, timeout=1.0)
    assert session.sent == 50
    assert session.received == 50, session.summary()
    assert session.timeouts == [] and session.errors == []
    assert sorted(r.seq for r in session.replies) == list(range(1, 51))
    assert all(r.size == 56 and r.ttl == 64 and str(r.src) == KERNEL_IP for r in session.replies)
    after = snmp(lwip)
    assert delta(before, after, "Icmp", "InEchos") == 50  # the kernel's own count of requests it took
    assert delta(before, after, "Icmp", "OutEchoReps") == 50
    assert delta(before, after, "Icmp", "InErrors") == 0


# -- UDP ---------------------------------------------------------------------------------------------------------------
UDP_ECHO_CLIENT = r"""
import json, socket, sys
dst, port = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3].split(",")]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((dst, port))
out = []
wait = 2.0
for size in sizes:
    data = bytes((i * 31 + size) & 0xFF for i in range(size))
    s.send(data)
    s.settimeout(wait)
    try:
        got = s.recv(65535)
        out.append({"size": size, "ok": got == data, "got": len(got)})
    except OSError as e:  # a timeout, or an ICMP error reported on the connected socket
        out.append({"size": size, "ok": False, "error": repr(e)})
        wait = 0.3  # the link is lossless: one loss is a failure already, so do not wait long for the rest
print(json.dumps(out))
"""


def test_udp_echo_from_kernel_client_with_fragments(lwip: Lwip) -> None:
    from lwipy.apps import UdpEchoServer
    server = lwip.call(lambda: UdpEchoServer(lwip.stack, 7))
    sizes = [0, 1, 100, 1472, 1473, 4000, 20000]
    before = snmp(lwip)
    done = lwip.python(UDP_ECHO_CLIENT, LWIP_IP, "7", ",".join(map(str, sizes)))
    results = json.loads(done.stdout)
    assert [r["size"] for r in results] == sizes
    bad = [r for r in results if not r["ok"]]
    assert not bad, f"echoes missing or wrong: {bad}"
    assert lwip.call(lambda: (server.echoed, server.failed)) == (len(sizes), 0)
    after = snmp(lwip)
    # 20000 bytes cross both ways in 14 fragments: the kernel cut them and reassembled lwipy's echo
    assert delta(before, after, "Ip", "FragCreates") >= 14 + 3
    assert delta(before, after, "Ip", "ReasmOKs") == 3  # the 1473-, 4000- and 20000-byte echoes
    assert delta(before, after, "Udp", "InDatagrams") == len(sizes)
    assert delta(before, after, "Udp", "InErrors") == 0 and delta(before, after, "Udp", "InCsumErrors") == 0
    stats = lwip.stats()
    assert stats["ip_frag"]["xmit"] >= 14 + 3 and stats["ip_frag"]["recv"] >= 14 + 3
    assert stats["udp"]["recv"] == len(sizes) and stats["udp"]["drop"] == 0
    lwip.call(server.close)


UDP_CLOSED_PORT_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3.0)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"anyone there?")
try:
    s.recv(2048)
    print("DATA")
except socket.timeout:
    print("TIMEOUT")
except OSError as e:
    print("ERRNO", e.errno)
"""


def test_closed_port_gives_kernel_econnrefused(lwip: Lwip) -> None:
    before = snmp(lwip)
    done = lwip.python(UDP_CLOSED_PORT_CLIENT, LWIP_IP, "9999")
    assert done.stdout.split() == ["ERRNO", "111"], done.stdout + done.stderr  # ECONNREFUSED
    after = snmp(lwip)
    assert delta(before, after, "Icmp", "InDestUnreachs") == 1
    stats = lwip.stats()
    assert stats["udp"]["proterr"] == 1 and stats["icmp"]["xmit"] >= 1


# -- ARP as the kernel sees it ---------------------------------------------------------------------------------------
def test_kernel_neighbour_entry_has_lwip_mac(lwip: Lwip) -> None:
    result = lwip.kernel_ping("-c", "3", "-i", "0.01", "-W", "2")
    assert result.received == 3, result.text
    done = lwip.run(["ip", "-j", "neigh", "show", "dev", lwip.kernel.ifname, "to", LWIP_IP], check=True)
    entries = json.loads(done.stdout)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["dst"] == LWIP_IP
    assert entry["lladdr"].lower() == lwip.mac
    assert set(entry["state"]) & {"REACHABLE", "STALE"}, entry
    # and lwipy learnt the kernel's MAC from the exchange
    assert lwip.call(lambda: lwip.stack.etharp.lookup(KERNEL_IP)) == mac_from_str(lwip.kernel.mac)


# -- multicast ---------------------------------------------------------------------------------------------------------
MULTICAST_SENDER = r"""
import socket, sys, time
ifaddr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for group in sys.argv[4:]:
    for i in range(n):
        s.sendto(f"{group} #{i}".encode(), (group, port))
        time.sleep(0.002)
s.sendto(b"end", (sys.argv[-1], port))  # last: once lwipy has it, it has seen all before it
"""


def test_kernel_multicast_reaches_joined_group(lwip: Lwip) -> None:
    joined, other, port, n = "239.77.0.1", "239.77.0.2", 5007, 5
    got: list = []

    def setup():
        pcb = lwip.stack.udp.new()
        pcb.bind(None, port)
        pcb.on_recv = lambda p, d: got.append(d)
        pcb.join_group(joined)
        return pcb

    pcb = lwip.call(setup)
    ip_drop_before = lwip.stats()["ip"]["drop"]
    lwip.python(MULTICAST_SENDER, KERNEL_IP, str(port), str(n), other, joined)
    lwip.wait_for(lambda: got and got[-1].data == b"end", what=f"{n} multicast datagrams and the end marker")
    received = lwip.call(lambda: list(got))[:-1]
    assert [d.data for d in received] == [f"{joined} #{i}".encode() for i in range(n)]  # nothing from the other group
    assert all(str(d.dst) == joined and str(d.src) == KERNEL_IP for d in received)
    stats = lwip.stats()
    assert stats["ip"]["drop"] - ip_drop_before >= n  # the group lwipy did not join
    assert stats["igmp"]["tx_join"] == 1
    lwip.call(pcb.close)
    # the membership report went out on the wire, to the group, with the Router Alert option (RFC 2236)
    reports = tshark(lwip.pcap_path, f"igmp.type == 0x16 && igmp.maddr == {joined} && ip.dst == {joined}",
                     "ip.opt.type")
    assert reports and all("148" in r or "0x94" in r for r in reports), reports


# -- the capture under tshark ----------------------------------------------------------------------------------------
def test_capture_is_clean_under_tshark(lwip: Lwip) -> None:
    result = lwip.kernel_ping("-c", "200", "-i", "0.002", "-W", "2", "-q")
    assert result.received == 200, result.text
    result = lwip.kernel_ping("-c", "3", "-s", "4000", "-i", "0.05", "-W", "2")
    assert result.received == 3, result.text
    session = lwip.stack_ping(KERNEL_IP, count=10, interval=0.005, size=3000)  # lwipy fragments its requests
    assert session.received == 10, session.summary()
    from lwipy.apps import UdpEchoServer
    lwip.call(lambda: UdpEchoServer(lwip.stack, 7))
    results = json.loads(lwip.python(UDP_ECHO_CLIENT, LWIP_IP, "7", "0,1,1473,20000").stdout)
    assert all(r["ok"] for r in results), results
    lwip.stop()  # nothing more goes into the capture
    problems = tshark(lwip.pcap_path, TSHARK_PROBLEMS)
    assert problems == [], "tshark found problems in the capture:\n" + "\n".join(problems)
    replies = tshark(lwip.pcap_path, f"icmp.type == 0 && ip.src == {LWIP_IP}", "frame.number")
    assert len(replies) == 203  # 200 small + 3 reassembled 4008-byte echo replies
    lwip_requests = tshark(lwip.pcap_path, f"icmp.type == 8 && ip.src == {LWIP_IP}", "frame.number")
    assert len(lwip_requests) == 10
    fragments = tshark(lwip.pcap_path, f"ip.src == {LWIP_IP} && (ip.flags.mf == 1 || ip.frag_offset > 0)",
                       "frame.number")
    assert len(fragments) == 3 * 3 + 10 * 3 + 2 + 14  # ping replies, lwipy's requests, the 1473 and 20000-byte echoes
    echoes = tshark(lwip.pcap_path, f"udp.srcport == 7 && ip.src == {LWIP_IP}", "udp.length")
    assert sorted(int(n) for n in echoes) == [8, 9, 1481, 20008]  # whole datagrams, once tshark has reassembled them


def test_tshark_filter_catches_bad_checksums(tmp_path: Path) -> None:
    """The filter above must see what it is there to see: a wrong IP, UDP or ICMP checksum, or a truncated packet."""
    require_tshark()
    src, dst = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"

    def ip(proto: int, payload: bytes, bad: bool = False) -> bytes:
        hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst))
        struct.pack_into("!H", hdr, 10, checksum(hdr) ^ (0x5555 if bad else 0))
        return bytes(hdr) + payload

    def icmp(bad: bool = False) -> bytes:
        msg = bytearray(struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"x" * 16)
        struct.pack_into("!H", msg, 2, checksum(msg) ^ (0x5555 if bad else 0))
        return bytes(msg)

    def udp(bad: bool = False) -> bytes:
        dgram = bytearray(struct.pack("!HHHH", 1000, 2000, 8 + 16, 0) + b"y" * 16)
        good = checksum(dgram, pseudo_sum_v4(src, dst, 17, len(dgram)))
        struct.pack_into("!H", dgram, 6, good ^ (0x5555 if bad else 0))
        return bytes(dgram)

    good = [eth + ip(1, icmp()), eth + ip(17, udp())]
    bad = [eth + ip(1, icmp(bad=True)), eth + ip(17, udp(bad=True)), eth + ip(1, icmp(), bad=True),
           eth + ip(17, udp())[:30]]
    path = tmp_path / "check.pcap"
    writer = PcapWriter(str(path))
    for i, frame in enumerate(good + bad):
        writer.write(frame, 1000.0 + i)
    writer.close()
    flagged = tshark(path, TSHARK_PROBLEMS, "frame.number")
    assert flagged == [str(len(good) + i + 1) for i in range(len(bad))]


# -- bad input over the TAP --------------------------------------------------------------------------------------------
def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, *, ident: int = 0x1234, frag: int = 0,
          options: bytes = b"", total_len: int | None = None, vihl: int | None = None, bad_csum: bool = False,
          ttl: int = 64) -> bytes:
    hlen = 20 + len(options)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", vihl if vihl is not None else 0x40 | hlen // 4, 0,
                                total_len if total_len is not None else hlen + len(payload), ident, frag, ttl, proto,
                                0, src, dst) + options)
    struct.pack_into("!H", hdr, 10, checksum(hdr) ^ (0x00FF if bad_csum else 0))
    return bytes(hdr) + payload


@pytest.mark.lwip_config(checksum_check_ip=True, checksum_check_udp=True)
def test_bad_frames_from_kernel_are_dropped_and_counted(lwip: Lwip) -> None:
    lw_mac, k_mac = lwip.netif.hwaddr, mac_from_str(lwip.kernel.mac)
    src, dst = socket.inet_aton(KERNEL_IP), socket.inet_aton(LWIP_IP)

    def eth(ethertype: int, payload: bytes) -> bytes:
        return lw_mac + k_mac + struct.pack("!H", ethertype) + payload

    def udp(payload: bytes, length: int | None = None, bad: bool = False) -> bytes:
        n = 8 + len(payload)
        d = bytearray(struct.pack("!HHHH", 40000, 9, length if length is not None else n, 0) + payload)
        struct.pack_into("!H", d, 6, (checksum(d, pseudo_sum_v4(src, dst, 17, n)) or 0xFFFF) ^ (0x0F0F if bad else 0))
        return bytes(d)

    echo = bytearray(struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"z" * 24)
    struct.pack_into("!H", echo, 2, checksum(echo) ^ 0x1111)  # a wrong ICMP checksum
    crafted = {
        # name: (frame, counter that must count it)
        "eth header only": (eth(0x0800, b""), ("ip", "lenerr")),
        "ip version 6": (eth(0x0800, _ipv4(src, dst, 17, udp(b"v"), vihl=0x65)), ("ip", "err")),
        "ihl 4": (eth(0x0800, _ipv4(src, dst, 17, udp(b"i"), vihl=0x44)), ("ip", "lenerr")),
        "total length past the end": (eth(0x0800, _ipv4(src, dst, 17, udp(b"t"), total_len=1000)), ("ip", "lenerr")),
        "total length under the header": (eth(0x0800, _ipv4(src, dst, 17, udp(b"u"), total_len=12)), ("ip", "lenerr")),
        "ip header checksum": (eth(0x0800, _ipv4(src, dst, 17, udp(b"c"), bad_csum=True)), ("ip", "chkerr")),
        "ip option length 0": (eth(0x0800, _ipv4(src, dst, 17, udp(b"o"), options=b"\x07\x00\x00\x00")),
                               ("ip", "opterr")),
        "not for us": (eth(0x0800, _ipv4(src, socket.inet_aton("10.77.0.99"), 17, udp(b"n"))), ("ip", "drop")),
        "udp length past the end": (eth(0x0800, _ipv4(src, dst, 17, udp(b"l" * 10, length=200))), ("udp", "lenerr")),
        "udp header cut": (eth(0x0800, _ipv4(src, dst, 17, b"\x9c\x40\x00")), ("udp", "lenerr")),
        "udp checksum": (eth(0x0800, _ipv4(src, dst, 17, udp(b"k" * 10, bad=True))), ("udp", "chkerr")),
        "icmp checksum": (eth(0x0800, _ipv4(src, dst, 1, bytes(echo))), ("icmp", "chkerr")),
        "icmp cut": (eth(0x0800, _ipv4(src, dst, 1, b"\x08\x00\x00")), ("icmp", "lenerr")),
        "fragment not a multiple of 8": (eth(0x0800, _ipv4(src, dst, 17, b"f" * 13, frag=0x2000)),
                                         ("ip_frag", "lenerr")),
        "fragment past 65535": (eth(0x0800, _ipv4(src, dst, 17, b"g" * 16, frag=0x1FFF)), ("ip", "lenerr")),
        "arp cut": (eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01"), ("etharp", "lenerr")),
        "arp for token ring": (eth(0x0806, struct.pack("!HHBBH6s4s6s4s", 6, 0x0800, 6, 4, 1, k_mac, src,
                                                         bytes(6), dst)), ("etharp", "proterr")),
        "unknown ethertype": (eth(0x88B5, b"hello"), ("link", "proterr")),
        "vlan tag cut": (lw_mac + k_mac + b"\x81\x00\x00", ("link", "lenerr")),
    }
    # overlapping fragments of one datagram: the second makes the whole datagram go
    overlap = [eth(0x0800, _ipv4(src, dst, 17, b"a" * 16, ident=0x4242, frag=0x2000)),
               eth(0x0800, _ipv4(src, dst, 17, b"b" * 16, ident=0x4242, frag=0x2001))]
    rng = random.Random(1234)
    garbage = []
    for _ in range(300):
        ethertype = rng.choice([0x0800, 0x0800, 0x0806, 0x8100, rng.randrange(0x10000)])
        body = bytearray(rng.randbytes(rng.randrange(0, 120)))
        if ethertype == 0x0800 and body and rng.random() < 0.7:
            body[0] = 0x45  # get past the version check more often than chance would
        garbage.append(eth(ethertype, bytes(body)))
    frames = [f for f, _ in crafted.values()] + overlap + garbage

    before = lwip.stats()
    inject(lwip, frames)
    lwip.wait_for(lambda: lwip.stack.stats.link.recv - before["link"]["recv"] >= len(frames),
                  what=f"lwipy to read {len(frames)} injected frames")
    after = lwip.stats()

    def grew(proto: str, counter: str) -> int:
        return after[proto][counter] - before[proto][counter]

    expected: dict[tuple[str, str], int] = {}
    for _, key in crafted.values():
        expected[key] = expected.get(key, 0) + 1
    expected[("ip_frag", "proterr")] = 1
    short = {key: (grew(*key), n) for key, n in expected.items() if grew(*key) < n}
    assert not short, f"counters that did not count the bad frames (got, at least): {short}"
    total_drops = sum(grew(proto, "drop") for proto in after)
    assert total_drops >= len(crafted) + 1
    assert after["link"]["err"] == 0  # no frame made the stack trip over itself
    assert grew("ip", "opterr") == 1 and grew("icmp", "xmit") >= 1  # answered with a parameter problem
    # and it still works
    result = lwip.kernel_ping("-c", "5", "-i", "0.01", "-W", "2")
    assert (result.transmitted, result.received) == (5, 5), result.text
    result = lwip.kernel_ping("-c", "2", "-s", "3000", "-i", "0.05", "-W", "2")
    assert result.received == 2, result.text


# -- timers seen from the kernel ---------------------------------------------------------------------------------------
@pytest.mark.lwip_config(ip_reass_maxage=1)
def test_incomplete_datagram_gets_icmp_time_exceeded(lwip: Lwip) -> None:
    """Only the first fragment arrives: after ip_reass_maxage lwipy drops it and tells the sender (RFC 792)."""
    src, dst = socket.inet_aton(KERNEL_IP), socket.inet_aton(LWIP_IP)
    first = _ipv4(src, dst, 17, struct.pack("!HHHH", 5555, 6000, 8 + 64, 0) + b"q" * 32, ident=0x0777, frag=0x2000)
    before = snmp(lwip)
    inject(lwip, [lwip.netif.hwaddr + mac_from_str(lwip.kernel.mac) + b"\x08\x00" + first])
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline and delta(before, snmp(lwip), "Icmp", "InTimeExcds") == 0:
        time.sleep(0.1)
    assert delta(before, snmp(lwip), "Icmp", "InTimeExcds") == 1
    stats = lwip.stats()
    assert stats["ip_frag"]["recv"] == 1 and stats["ip_frag"]["drop"] == 1
    lwip.stop()
    exceeded = tshark(lwip.pcap_path, f"icmp.type == 11 && icmp.code == 1 && ip.src == {LWIP_IP}", "ip.id")
    assert len(exceeded) == 1 and exceeded[0].split(",")[-1] == "0x0777"  # quoting the first fragment's header


def test_igmp_query_is_answered_with_a_report(lwip: Lwip) -> None:
    group = "239.77.0.5"

    def join():
        pcb = lwip.stack.udp.new()
        pcb.bind(None, 5008)
        pcb.join_group(group)
        return pcb
    lwip.call(join)
    lwip.wait_for(lambda: lwip.stack.stats.igmp.tx_report >= 2, what="the two unsolicited join reports")
    reports_before = lwip.stats()["igmp"]["tx_report"]
    # an IGMPv2 general query (max response 0.5 s) to 224.0.0.1 with Router Alert, as a querier sends it
    query = bytearray(struct.pack("!BBH4s", 0x11, 5, 0, bytes(4)))
    struct.pack_into("!H", query, 2, checksum(query))
    packet = _ipv4(socket.inet_aton(KERNEL_IP), socket.inet_aton("224.0.0.1"), 2, bytes(query),
                   options=b"\x94\x04\x00\x00", ttl=1)
    inject(lwip, [b"\x01\x00\x5e\x00\x00\x01" + mac_from_str(lwip.kernel.mac) + b"\x08\x00" + packet])
    lwip.wait_for(lambda: lwip.stack.stats.igmp.tx_report > reports_before, timeout=2.0,
                  what="a report answering the query")
    stats = lwip.stats()
    assert stats["igmp"]["rx_general"] == 1 and stats["igmp"]["drop"] == 0
    lwip.stop()
    frames = tshark(lwip.pcap_path, "igmp", "frame.time_relative", "igmp.type", "igmp.maddr", "ip.dst")
    rows = [line.split("\t") for line in frames]
    query_at = next(float(r[0]) for r in rows if r[1] == "0x11")
    answers = [r for r in rows if r[1] == "0x16" and float(r[0]) > query_at]
    assert answers and answers[0][2] == group and answers[0][3] == group
    assert float(answers[0][0]) - query_at <= 0.6  # within the query's max response time


def test_kernel_unicast_arp_probe_is_answered(lwip: Lwip) -> None:
    """When its entry goes stale the kernel re-confirms it with unicast ARP requests; lwipy must answer them."""
    dev = lwip.kernel.ifname
    lwip.run(["sysctl", "-q", "-w", f"net.ipv4.neigh.{dev}.base_reachable_time_ms=200",
              f"net.ipv4.neigh.{dev}.delay_first_probe_time=0"], check=True)
    result = lwip.kernel_ping("-c", "8", "-i", "0.2", "-W", "2")
    assert (result.transmitted, result.received) == (8, 8), result.text
    lwip.stop()
    k_mac = lwip.kernel.mac
    probes = tshark(lwip.pcap_path, f"arp.opcode == 1 && eth.src == {k_mac} && eth.dst == {lwip.mac}", "frame.number")
    answers = tshark(lwip.pcap_path, f"arp.opcode == 2 && eth.src == {lwip.mac} && eth.dst == {k_mac}", "frame.number")
    assert probes, "the kernel sent no unicast probe; the test did not test anything"
    assert len(answers) >= len(probes) and all(any(int(a) > int(p) for a in answers) for p in probes)
