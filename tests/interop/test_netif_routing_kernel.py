"""Source-based routing, route priority and address acquisition plumbing against the Linux kernel.

Source routing: lwipy has two netifs on two TAPs in two namespaces this test makes (en0 10.81.0.2 in the first, the
default netif; en1 10.82.0.2 in the second).  10.99.0.9 is an address of both kernels (on their loopback), which
lwipy reaches only through a default route.  A datagram from a pcb bound to en1's address leaves through the second
TAP (the second kernel's socket gets it), and tcpdump on the first TAP sees only a later datagram sent without a
source, which the default route carries.  Raising en1's route priority makes it the default netif; taking its link
down moves the default back.

DHCP plumbing: an address-less lwipy netif sends from 0.0.0.0:68 to 255.255.255.255:67; a kernel socket in the
namespace sees those addresses and answers lwipy's chosen port (``ip_accept_udp_port``) by broadcast and by unicast
to an address lwipy does not have yet (the kernel's neighbour entry points at lwipy's MAC, as a DHCP server sends to
the client's hardware address); both replies are delivered.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from ipaddress import IPv4Address

import pytest

import interop_netns as nsx
from conftest import require_interop
from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.netif.tap import TapDevice
from lwipy.wire.ethernet import mac_to_str

pytestmark = pytest.mark.interop

TARGET = "10.99.0.9"
PORT = 9999

# a kernel socket on TARGET:PORT in its namespace: "ready", then one line "SRC_IP DATA" per datagram
RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, (ip, port) = s.recvfrom(2048)
    print(ip, data.decode(), flush=True)
"""


class Lines:
    """A child process's stdout lines, read on a thread, to wait for one without blocking on the pipe."""

    def __init__(self, proc: subprocess.Popen, stream) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<eof>")
            self.cond.notify_all()

    def wait_for(self, pred, timeout: float = 10.0, what: str = "a line") -> str:
        with self.cond:
            if not self.cond.wait_for(lambda: any(pred(x) for x in self.lines), timeout):
                raise AssertionError(f"timed out waiting for {what}; got {self.lines}")
            return next(x for x in self.lines if pred(x))


def spawn(ns: str, argv: list[str], stream: str = "stdout") -> Lines:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return Lines(proc, proc.stdout if stream == "stdout" else proc.stderr)


def stop(*children: Lines) -> None:
    for child in children:
        if child.proc.poll() is None:
            child.proc.terminate()
            try:
                child.proc.wait(5)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(5)


@pytest.fixture
def two_links():
    """Two namespaces with a TAP each (kernel 10.81.0.1/24 and 10.82.0.1/24, TARGET on both loopbacks) and a lwipy
    stack on a loop with en0 (10.81.0.2, gateway .1, the default) and en1 (10.82.0.2, gateway .1)."""
    require_interop()
    with nsx.namespace() as ns1, nsx.namespace() as ns2:
        for ns, net in ((ns1, "10.81.0"), (ns2, "10.82.0")):
            nsx.add_tap(ns, "ltap0", f"{net}.1", 24)
            nsx.ns_run(ns, ["ip", "addr", "add", f"{TARGET}/32", "dev", "lo"], check=True)
        stack = Stack(Config(), seed=3, name="two-links")
        taps = [TapDevice("ltap0", netns=ns1), TapDevice("ltap0", netns=ns2)]
        loop = None
        try:
            en0 = stack.add_netif(taps[0], ip="10.81.0.2/24", gateway="10.81.0.1", route_prio=100)
            en1 = stack.add_netif(taps[1], ip="10.82.0.2/24", gateway="10.82.0.1", route_prio=50)
            loop = StackLoop(stack).start()
            yield ns1, ns2, stack, en0, en1, loop
        finally:
            if loop is not None:
                loop.stop()
                loop.close()
            for tap in taps:
                tap.close()
        assert stack.stats.link.err == 0


def test_a_socket_bound_to_the_second_netif_sends_through_it_and_the_first_tap_sees_nothing(two_links):
    ns1, ns2, stack, en0, en1, loop = two_links
    tcpdump = shutil.which("tcpdump")
    assert tcpdump is not None, "tcpdump is not installed (scripts/test installs it as root)"
    receivers = [spawn(ns, [sys.executable, "-I", "-c", RECEIVER, TARGET, str(PORT)]) for ns in (ns1, ns2)]
    dump = spawn(ns1, [tcpdump, "-l", "-n", "-i", "ltap0", f"udp and dst host {TARGET}"], stream="stdout")
    dump_err = Lines(dump.proc, dump.proc.stderr)
    try:
        for r in receivers:
            r.wait_for(lambda x: x == "ready", what="the kernel receiver")
        dump_err.wait_for(lambda x: "listening on" in x, what="tcpdump to start")
        assert loop.call(lambda: stack.default_netif) is en0

        def send() -> None:
            bound = stack.udp.new()
            bound.bind("10.82.0.2", 4001)
            bound.sendto(b"from-en1-address", TARGET, PORT)  # source routing: out of en1
            unbound = stack.udp.new()
            unbound.bind(None, 4002)
            unbound.sendto(b"marker-by-default-route", TARGET, PORT)  # the table: en0's default route
        loop.call(send)
        receivers[1].wait_for(lambda x: x == "10.82.0.2 from-en1-address", what="the second kernel to get it")
        receivers[0].wait_for(lambda x: x == "10.81.0.2 marker-by-default-route", what="the marker on the first")
        dump.wait_for(lambda x: ".4002 > " in x, what="tcpdump to see the marker")
    finally:
        stop(dump, *receivers)
    seen = [x for x in dump.lines if f"> {TARGET}.{PORT}" in x]
    assert len(seen) == 1 and "10.81.0.2.4002" in seen[0], dump.lines  # the bound datagram never crossed the first TAP
    assert not any(x.startswith("10.82.0.2") for x in receivers[0].lines)


def test_route_priority_picks_the_default_netif_and_a_netif_going_down_moves_it(two_links):
    ns1, ns2, stack, en0, en1, loop = two_links
    receivers = [spawn(ns, [sys.executable, "-I", "-c", RECEIVER, TARGET, str(PORT)]) for ns in (ns1, ns2)]
    try:
        for r in receivers:
            r.wait_for(lambda x: x == "ready", what="the kernel receiver")

        def send(text: str) -> None:
            pcb = stack.udp.new()
            pcb.sendto(text.encode(), TARGET, PORT)
            pcb.close()

        loop.call(lambda: send("one"))
        receivers[0].wait_for(lambda x: x == "10.81.0.2 one", what="en0 (priority 100) to carry it")
        loop.call(lambda: en1.set_route_prio(200))
        assert loop.call(lambda: stack.default_netif) is en1
        loop.call(lambda: send("two"))
        receivers[1].wait_for(lambda x: x == "10.82.0.2 two", what="en1 (priority 200) to carry it")
        loop.call(lambda: en1.set_link_up(False))
        assert loop.call(lambda: stack.default_netif) is en0
        loop.call(lambda: send("three"))
        receivers[0].wait_for(lambda x: x == "10.81.0.2 three", what="en0 to carry it once en1 is down")
    finally:
        stop(*receivers)
    assert [x for x in receivers[1].lines if x not in ("ready", "<eof>")] == ["10.82.0.2 two"]
    assert [x for x in receivers[0].lines if x not in ("ready", "<eof>")] == ["10.81.0.2 one", "10.81.0.2 three"]


# a DHCP server's socket: sees the DISCOVER's addresses, answers by broadcast and by unicast to the client's MAC
SERVER = r"""
import socket, sys
dev, reply_port, unicast = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
s.bind(("0.0.0.0", 67))
print("ready", flush=True)
data, (ip, port) = s.recvfrom(2048)
print("got", ip, port, data.decode(), flush=True)
s.sendto(b"OFFER-broadcast", ("255.255.255.255", reply_port))
s.sendto(b"OFFER-unicast", (unicast, reply_port))
print("sent", flush=True)
"""


@pytest.mark.lwip_config(ip_accept_udp_port=6800)
def test_dhcp_plumbing_discover_from_0_0_0_0_and_replies_before_an_address(kernel_tap, request):
    from conftest import make_config
    stack = Stack(make_config(request), seed=5, name="dhcp-plumbing")
    tap = TapDevice(kernel_tap.ifname, netns=kernel_tap.ns)
    loop = None
    server = None
    try:
        netif = stack.add_netif(tap)  # no address
        nsx.ns_run(kernel_tap.ns, ["ip", "neigh", "replace", "10.77.0.50", "lladdr", mac_to_str(netif.hwaddr),
                                   "dev", kernel_tap.ifname, "nud", "permanent"], check=True)
        loop = StackLoop(stack).start()
        got: list[tuple[bytes, IPv4Address, int]] = []
        arrived = threading.Event()

        def setup() -> None:
            pcb = stack.udp.new()
            pcb.bind(None, 6800)

            def on_recv(p, d) -> None:
                got.append((d.data, d.dst, d.src_port))
                if len(got) == 2:
                    arrived.set()
            pcb.on_recv = on_recv
            client = stack.udp.new()
            client.bind(None, 68)
            client.sendto_netif(b"DISCOVER", "255.255.255.255", 67, netif)
        server = spawn(kernel_tap.ns, [sys.executable, "-I", "-c", SERVER, kernel_tap.ifname, "6800", "10.77.0.50"])
        server.wait_for(lambda x: x == "ready", what="the kernel's DHCP-port socket")
        loop.call(setup)
        line = server.wait_for(lambda x: x.startswith("got "), what="the kernel to receive the DISCOVER")
        assert line == "got 0.0.0.0 68 DISCOVER"
        server.wait_for(lambda x: x == "sent", what="the kernel to answer")
        assert arrived.wait(10), f"lwipy got {got}"
        assert sorted(got) == [(b"OFFER-broadcast", IPv4Address("255.255.255.255"), 67),
                               (b"OFFER-unicast", IPv4Address("10.77.0.50"), 67)]
        assert loop.call(lambda: netif.ip4) is None and stack.stats.etharp.xmit == 0  # no ARP from no address
    finally:
        if server is not None:
            stop(server)
        if loop is not None:
            loop.stop()
            loop.close()
        tap.close()
