"""IPv6 against the Linux kernel and radvd: lwipy on a TAP in a test-made namespace with IPv6 on.  The kernel pings
lwipy's link-local and autoconfigured addresses and its ``ip -6 neigh`` shows lwipy; radvd's advertisements give
lwipy a SLAAC address, a default router, a route and a DNS server; lwipy pings the kernel; tshark reads the capture
without a malformed packet."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
import time

import pytest
from test_ipv4_kernel import TSHARK_PROBLEMS, tshark

from lwipy.core.addr6 import ORIGIN_SLAAC, PREFERRED
from lwipy.core.pbuf import Pbuf
from lwipy.wire import icmpv6 as w6
from lwipy.wire.icmpv6 import Icmp6Header

pytestmark = [pytest.mark.interop, pytest.mark.ipv6]

PREFIX = "2001:db8:77::"
KERNEL_GLOBAL = "2001:db8:77::1"
DNS = "2001:db8:77::53"


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def link_local(lwip) -> str:
    a = lwip.call(lambda: lwip.netif.create_ip6_linklocal())
    lwip.wait_for(lambda: a.state == PREFERRED, what="the link-local address to pass DAD")
    return str(a.address)


def kernel_link_local(lwip) -> str:
    out = lwip.run(["ip", "-6", "-o", "addr", "show", "dev", lwip.kernel.ifname, "scope", "link"], check=True).stdout
    return out.split()[3].split("/")[0]


def ping6_from_lwip(lwip, target: str, count: int = 5, timeout: float = 5.0) -> int:
    """Echo requests from lwipy to ``target``; the number of replies."""
    replies: set[int] = set()
    dst = v6(target)

    def start():
        lwip.stack.icmp6.echo_handlers.append(
            lambda pkt, hdr, data: replies.add(hdr.seq) if pkt.src == dst and hdr.ident == 0x77 else None)

    def send(seq):
        pbuf = Pbuf.with_payload(b"lwipy ping6 " * 4)
        off = pbuf.push(w6.HEADER_LEN)
        src = lwip.stack.ip6.select_source(lwip.netif, dst)
        Icmp6Header.echo(w6.ECHO_REQUEST, 0x77, seq).emit(pbuf.buf, off, 48, src, dst)
        lwip.stack.ip6.output(pbuf, src, dst, w6.PROTO_ICMPV6)
    lwip.call(start)
    for seq in range(count):
        lwip.call(lambda seq=seq: send(seq))
        time.sleep(0.1)
    deadline = time.monotonic() + timeout
    while len(replies) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(replies)


def test_kernel_pings_lwipys_link_local_address_and_sees_it_reachable(lwip):
    ll = link_local(lwip)
    done = lwip.run(["ping", "-6", "-c", "20", "-i", "0.05", "-W", "2", f"{ll}%{lwip.kernel.ifname}"], timeout=30)
    assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
    # s21: the kernel's pings answered by the ICMPv6 echo's fast answer (the first, perhaps, the full way's while the
    # kernel's entry in ours resolves), each reply one the kernel's ping took
    assert lwip.call(lambda: lwip.stack.icmp6.fast_echoes) >= 15
    neigh = lwip.run(["ip", "-6", "neigh", "show", "dev", lwip.kernel.ifname], check=True).stdout
    line = next(x for x in neigh.splitlines() if x.startswith(ll))
    assert lwip.mac in line and any(s in line for s in ("REACHABLE", "STALE", "DELAY"))
    assert ping6_from_lwip(lwip, kernel_link_local(lwip)) == 5
    stats = lwip.stats()
    assert stats["icmp6"]["chkerr"] == 0 and stats["nd6"]["xmit"] >= 2  # DAD and a neighbour advertisement at least
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, f"icmpv6.type == 129 && ipv6.src == {ll}", "frame.number")) >= 20
    assert tshark(lwip.pcap_path, f"icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == {ll}",
                  "frame.number")  # our duplicate address detection probe


RADVD_CONF = """interface {ifname} {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvDefaultLifetime 1800;
    prefix {prefix}/64 {{ AdvOnLink on; AdvAutonomous on; AdvValidLifetime 86400; AdvPreferredLifetime 14400; }};
    route 2001:db8:99::/48 {{ AdvRouteLifetime 1800; }};
    RDNSS {dns} {{ AdvRDNSSLifetime 600; }};
}};
"""


@pytest.mark.lwip_config(ipv6_autoconfig=True, ipv6_rdnss_max_dns_servers=2)
def test_radvd_gives_lwipy_a_slaac_address_a_router_a_route_and_a_dns_server(lwip, tmp_path):
    radvd = shutil.which("radvd")
    if radvd is None:
        pytest.fail("radvd is not installed (scripts/test installs it as root)", pytrace=False)
    lwip.run(["ip", "-6", "addr", "add", f"{KERNEL_GLOBAL}/64", "dev", lwip.kernel.ifname], check=True)
    conf = tmp_path / "radvd.conf"
    conf.write_text(RADVD_CONF.format(ifname=lwip.kernel.ifname, prefix=PREFIX, dns=DNS))
    proc = subprocess.Popen(["ip", "netns", "exec", lwip.ns, radvd, "-n", "-C", str(conf), "-p",
                             str(tmp_path / "radvd.pid"), "-m", "stderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        link_local(lwip)

        def slaac():
            return next((a for a in lwip.netif.ip6_addrs if a.origin == ORIGIN_SLAAC and a.state == PREFERRED), None)
        lwip.wait_for(lambda: slaac() is not None, timeout=20, what="a SLAAC address from radvd")
        addr = lwip.call(slaac)
        assert addr.addr[:8] == v6(PREFIX)[:8]
        kernel_ll = v6(kernel_link_local(lwip))
        routers = lwip.call(lambda: [(r.addr, r.netif.name) for r in lwip.stack.nd6.routers])
        assert routers == [(kernel_ll, lwip.netif.name)]
        assert lwip.call(lambda: [s for s, _ in lwip.stack.nd6.dns_servers]) == [v6(DNS)]
        assert lwip.call(lambda: lwip.stack.ip6.route(v6("2001:db8:99::5"))) == (lwip.netif, kernel_ll)
        done = lwip.run(["ping", "-6", "-c", "10", "-i", "0.05", "-W", "2", str(addr.address)], timeout=30)
        assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
        assert ping6_from_lwip(lwip, KERNEL_GLOBAL) == 5
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, "icmpv6.type == 134 && icmpv6.opt.prefix == 2001:db8:77::", "frame.number")
    assert len(tshark(lwip.pcap_path, f"icmpv6.type == 129 && ipv6.src == {addr.address}", "frame.number")) >= 10


def test_lwipy_ping_command_reaches_the_kernel_over_ipv6(kernel_tap):
    import os
    import sys
    nsx_run = ["ip", "netns", "exec", kernel_tap.ns, "ip", "-6", "addr", "add", f"{KERNEL_GLOBAL}/64", "dev",
               kernel_tap.ifname]
    subprocess.run(nsx_run, check=True, timeout=10)
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
    r = subprocess.run([sys.executable, "-m", "lwipy", "ping", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                        "--ip6", "2001:db8:77::2/64", "-c", "3", "-i", "0.1", KERNEL_GLOBAL],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 packets transmitted, 3 received, 0% packet loss" in r.stdout
    assert r.stdout.count(f"bytes from {KERNEL_GLOBAL}: icmp_seq=") == 3
    assert "PING 2001:db8:77::1 from 2001:db8:77::2" in r.stdout


@pytest.mark.lwip_config(ipv6_autoconfig=True)
def test_dnsmasq_answers_lwipys_stateless_dhcpv6_information_request(lwip, tmp_path):
    from lwipy.apps import Dhcp6
    dnsmasq = shutil.which("dnsmasq")
    if dnsmasq is None:
        pytest.fail("dnsmasq is not installed (scripts/test installs dnsmasq-base as root)", pytrace=False)
    lwip.run(["ip", "-6", "addr", "add", f"{KERNEL_GLOBAL}/64", "dev", lwip.kernel.ifname], check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", lwip.ns, dnsmasq, "--keep-in-foreground", "--no-resolv",
                             "--no-hosts", "--port=0", f"--interface={lwip.kernel.ifname}", "--bind-interfaces",
                             "--enable-ra", f"--dhcp-range={PREFIX},ra-stateless,64",
                             f"--dhcp-option=option6:dns-server,[{DNS}]", "--dhcp-option=option6:domain-search,lwipy.test",
                             f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--log-facility=-", "--log-dhcp",
                             "--dhcp-leasefile=" + str(tmp_path / "leases")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        state = lwip.call(lambda: Dhcp6(lwip.stack).enable_stateless(lwip.netif))
        link_local(lwip)
        lwip.wait_for(lambda: state.replies > 0, timeout=30, what="a DHCPv6 Reply from dnsmasq")
        assert lwip.call(lambda: (state.dns_servers, state.domains)) == ([ipaddress.IPv6Address(DNS)], ["lwipy.test"])
        assert ipaddress.IPv6Address(DNS) in lwip.call(lwip.stack.dns_servers6)
        assert lwip.call(lambda: lwip.netif.ra_other and not lwip.netif.ra_managed)  # dnsmasq's RA: M=0, O=1
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=10)
    assert "information-request" in log.lower(), log  # dnsmasq's own account of what it answered
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert tshark(lwip.pcap_path, "dhcpv6.msgtype == 11", "frame.number")  # our Information-Request
    assert tshark(lwip.pcap_path, "dhcpv6.msgtype == 7 && dhcpv6.dns_server == " + DNS, "frame.number")


KERNEL_MCAST_SENDER = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
ifindex = socket.if_nametoindex(sys.argv[1])
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
for group in ("ff02::4242", "ff02::4343"):
    for _ in range(3):
        s.sendto(group.encode(), (group, 6565, 0, ifindex))
        time.sleep(0.05)
s.sendto(b"end", ("ff02::4242", 6565, 0, ifindex))  # last: once lwipy has it, it has seen all before it
"""


def test_a_kernel_sender_reaches_an_ipv6_group_lwipy_joined_and_not_another(lwip):
    link_local(lwip)
    got = []

    def setup():
        pcb = lwip.stack.udp.new(ip6=True)
        pcb.bind("::", 6565)
        pcb.join_group("ff02::4242")
        pcb.on_recv = lambda p, d: got.append((d.data, d.dst))
        return pcb
    lwip.call(setup)
    lwip.python(KERNEL_MCAST_SENDER, lwip.kernel.ifname)
    lwip.wait_for(lambda: got and got[-1][0] == b"end", what="the group's datagrams and the end marker")
    received = lwip.call(lambda: list(got))[:-1]
    assert len(received) >= 3 and {data for data, _ in received} == {b"ff02::4242"}
    assert {str(dst) for _, dst in received} == {"ff02::4242"}
    lwip.stop()
    assert tshark(lwip.pcap_path, "icmpv6.type == 131 && icmpv6.mld.multicast_address == ff02::4242", "frame.number")


BIG6 = dict(tcp_wnd_default=262144, tcp_snd_buf_default=262144, ipv6_send_router_solicit=False,
            tcp_sack_out=True, wnd_scale=True, tcp_rcv_scale=3, tcp_timestamps=True)  # lwipy's faster TCP
LWIP_GLOBAL = "2001:db8:77::2"

KERNEL_CLIENT6 = r"""
import hashlib, socket, sys
n = int(sys.argv[2])
block = bytes((i * 7) & 0xFF for i in range(65536))
s = socket.create_connection((sys.argv[1], 5001), timeout=60)
sent, h = 0, hashlib.sha256()
while sent < n:
    chunk = block[: min(len(block), n - sent)]
    s.sendall(chunk)
    h.update(chunk)
    sent += len(chunk)
s.shutdown(socket.SHUT_WR)
reply = b""
while got := s.recv(4096):
    reply += got
print(h.hexdigest(), reply.decode())
"""

KERNEL_SERVER6 = r"""
import hashlib, socket, sys
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5002))
srv.listen(1)
srv.settimeout(60)
print("listening", flush=True)
conn, _ = srv.accept()
h, total = hashlib.sha256(), 0
while got := conn.recv(262144):
    h.update(got)
    total += len(got)
print(total, h.hexdigest(), flush=True)
"""


def global_addresses(lwip):
    lwip.run(["ip", "-6", "addr", "add", f"{KERNEL_GLOBAL}/64", "dev", lwip.kernel.ifname], check=True)
    a = lwip.call(lambda: lwip.netif.add_ip6_address(LWIP_GLOBAL, 64))
    link_local(lwip)
    lwip.wait_for(lambda: a.state == PREFERRED, what="the global address to pass DAD")


@pytest.mark.slow
@pytest.mark.lwip_config(**BIG6)
@pytest.mark.lwip_device(pcap=False)
def test_kernel_sends_100mb_over_ipv6_to_an_lwipy_socket(lwip):
    global_addresses(lwip)
    kernel_to_lwipy6(lwip)


def kernel_to_lwipy6(lwip):
    import hashlib
    import threading
    from lwipy.api import SocketApi
    api = SocketApi(lwip.loop)
    srv = api.socket(api.AF_INET6, api.SOCK_STREAM)
    srv.bind(("::", 5001))
    srv.listen()
    result = {}

    def serve():
        conn, peer = srv.accept()
        h, n = hashlib.sha256(), 0
        buf = bytearray(1 << 20)
        while k := conn.recv_into(buf):
            h.update(memoryview(buf)[:k])
            n += k
        conn.sendall(f"{n} {h.hexdigest()}".encode())
        conn.close()
        result["peer"] = peer
    t = threading.Thread(target=serve)
    t.start()
    try:
        n = 100 * 1024 * 1024
        done = lwip.python(KERNEL_CLIENT6, LWIP_GLOBAL, str(n), timeout=300)
        t.join(30)
        digest, count, theirs = done.stdout.split()
        assert int(count) == n and theirs == digest
        assert result["peer"][0] == KERNEL_GLOBAL
    finally:
        api.close_all()


@pytest.mark.slow
@pytest.mark.lwip_config(**BIG6)
@pytest.mark.lwip_device(pcap=False)
def test_an_lwipy_socket_sends_100mb_over_ipv6_to_the_kernel(lwip):
    global_addresses(lwip)
    lwipy_to_kernel6(lwip)


@pytest.mark.lwip_config(**BIG6)
@pytest.mark.lwip_device(pcap=False, offload=True)
def test_tcp_over_ipv6_with_the_taps_offload_both_ways(lwip):
    """Checksum and segmentation offload over IPv6 (VIRTIO_NET_HDR_GSO_TCPV6), 100 MB each way."""
    global_addresses(lwip)
    kernel_to_lwipy6(lwip)
    assert lwip.call(lambda: lwip.device.rx_gso) > 100 and lwip.device.rx_csum_errors == 0
    lwipy_to_kernel6(lwip)
    assert lwip.call(lambda: lwip.device.tx_gso) > 100  # lwipy's super-segments, cut by the kernel


def lwipy_to_kernel6(lwip):
    import hashlib
    from lwipy.api import SocketApi
    server = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-c", KERNEL_SERVER6, KERNEL_GLOBAL],
                              stdout=subprocess.PIPE, text=True)
    api = SocketApi(lwip.loop)
    try:
        assert server.stdout.readline().strip() == "listening"
        n = 100 * 1024 * 1024
        block = bytes((i * 13) & 0xFF for i in range(1 << 20))
        expect = hashlib.sha256()
        s = api.socket(api.AF_INET6, api.SOCK_STREAM)
        s.connect((KERNEL_GLOBAL, 5002))
        for off in range(0, n, len(block)):
            chunk = block[: min(len(block), n - off)]
            s.sendall(chunk)
            expect.update(chunk)
        s.close()
        out, _ = server.communicate(timeout=120)
        total, digest = out.split()
        assert int(total) == n and digest == expect.hexdigest()
    finally:
        api.close_all()
        if server.poll() is None:
            server.kill()


KERNEL_V4_CLIENTS = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 7001), timeout=5)
s.sendall(b"ipv4 to a dual-stack listener")
print(s.recv(100).decode())
s.close()
try:
    socket.create_connection((sys.argv[1], 7002), timeout=5)
    print("v6only accepted ipv4?!")
except ConnectionRefusedError:
    print("refused")
"""


def test_a_dual_stack_listener_serves_the_kernel_over_ipv4_and_a_v6only_one_refuses_it(lwip):
    import threading
    from lwipy.api import SocketApi
    api = SocketApi(lwip.loop)
    dual = api.socket(api.AF_INET6, api.SOCK_STREAM)
    dual.bind(("::", 7001))
    dual.listen()
    only = api.socket(api.AF_INET6, api.SOCK_STREAM)
    only.setsockopt(api.IPPROTO_IPV6, api.IPV6_V6ONLY, 1)
    only.bind(("::", 7002))
    only.listen()
    peers = []

    def serve():
        conn, peer = dual.accept()
        peers.append(peer)
        conn.sendall(conn.recv(100).upper())
        conn.close()
    t = threading.Thread(target=serve)
    t.start()
    try:
        out = lwip.python(KERNEL_V4_CLIENTS, lwip.ip).stdout.split("\n")
        t.join(10)
        assert out[0] == "IPV4 TO A DUAL-STACK LISTENER" and out[1] == "refused"
        assert peers[0][0] == f"::ffff:{lwip.kernel_ip}"
    finally:
        api.close_all()


@pytest.mark.lwip_config(ip6_reassembly=True)
def test_kernel_ping6_of_4000_bytes_is_reassembled_and_answered_in_fragments(lwip):
    ll = link_local(lwip)
    done = lwip.run(["ping", "-6", "-c", "5", "-s", "4000", "-i", "0.05", "-W", "2", f"{ll}%{lwip.kernel.ifname}"],
                    timeout=30)
    assert done.returncode == 0 and " 0% packet loss" in done.stdout, done.stdout + done.stderr
    stats = lwip.stats()["ip6_frag"]
    assert stats["recv"] >= 5 * 3 and stats["xmit"] >= 5 * 3  # 4048 bytes: three fragments each way
    lwip.stop()
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, f"ipv6.fraghdr && ipv6.src == {ll}", "frame.number")) >= 15


def test_a_raw_icmpv6_socket_pings_the_kernel(lwip):
    import struct
    from lwipy.api import SocketApi
    link_local(lwip)
    api = SocketApi(lwip.loop)
    try:
        raw = api.socket(api.AF_INET6, api.SOCK_RAW, api.IPPROTO_ICMPV6)
        raw.settimeout(3)
        target = kernel_link_local(lwip)
        request = struct.pack("!BBHHH", 128, 0, 0, 0x6666, 7) + b"from a raw socket"
        raw.sendto(request, (target, 0))
        while True:
            data, addr = raw.recvfrom(2000)
            if data[0] == 129 and data[4:8] == request[4:8]:
                break
        assert data[8:] == b"from a raw socket" and addr[0] == target  # the kernel checked our checksum and replied
    finally:
        api.close_all()

