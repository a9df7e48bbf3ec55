"""lwipy's PPPoS against upstream C lwIP's PPP (``lwip_pppd``, ../shared/peers/lwip-ppp) on a pty, both roles.

lwipy as the client of a C server and as the server of a C client, with no authentication, PAP and CHAP, IPv4 and
IPv6: the link comes up with the IPCP addresses and RFC 1877 DNS servers configured, pings go both ways (the C peer
pings us with its ``--ping`` self-test), TCP is echoed intact through the C echo server (1 MiB per case, 10 MiB
once), and the C client's own TCP echo/discard and UDP echo tests pass against lwipy's services.  Then the ends:
SIGTERM on the peer gives lwipy an LCP Terminate-Request and the session's end (PPPERR_CONNECT, the address gone);
a frozen peer (SIGSTOP) fails lwipy's LCP echoes (PPPERR_PEERDEAD); a frozen lwipy fails the peer's; a wrong secret
ends both in authfail.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from ipaddress import IPv4Address, IPv4Interface, IPv6Address

import pytest
from lwip_peer import LwipEnd, Peer

from lwipy.api.sockets import SocketApi
from lwipy.apps import PingSession
from lwipy.apps.echo import UdpEchoServer
from lwipy.apps.tcp_services import TcpDiscardServer, TcpEchoServer
from lwipy.ppp import PppSettings

pytestmark = pytest.mark.interop

SERVER, CLIENT = "10.64.0.1", "10.64.0.2"
DNS1, DNS2 = "10.64.0.53", "10.64.0.54"
USER, SECRET = "alice", "s3cret"


@pytest.fixture
def ends():
    made: list = []
    yield made
    for thing in reversed(made):
        thing.close() if isinstance(thing, Peer) else thing.stop()


def ping(end: LwipEnd, target: str, count: int = 3) -> PingSession:
    done = threading.Event()
    session = end.call(lambda: PingSession(end.stack, target, count=count, interval=0.1, timeout=2.0,
                                           on_end=lambda s: done.set()))
    assert done.wait(30), f"ping {target} did not end"
    return session


def tcp_echo(end: LwipEnd, target: str, size: int) -> tuple[bytes, bytes, float]:
    """Send ``size`` random bytes to the peer's echo server (port 7) and read them back: (sent, received, seconds)."""
    api = SocketApi(end.loop)
    data = os.urandom(size)
    s = api.socket(api.AF_INET, api.SOCK_STREAM)
    s.settimeout(60)
    s.connect((target, 7))
    got = bytearray()

    def reader() -> None:
        while len(got) < size:
            chunk = s.recv(65536)
            if not chunk:
                break
            got.extend(chunk)
    t = threading.Thread(target=reader, daemon=True)
    start = time.monotonic()
    t.start()
    s.sendall(data)
    t.join(300)
    elapsed = time.monotonic() - start
    s.close()
    return data, bytes(got), elapsed


def server_args(auth: str, ipv6: bool, *extra: str, vj: bool = False) -> list[str]:
    args = ["--server", "--local", SERVER, "--remote", CLIENT, "--dns", DNS1, "--dns", DNS2, "--vj" if vj else "--no-vj"]
    if auth != "none":
        args += ["--auth", auth, "--user", USER, "--pass", SECRET]
    if ipv6:
        args.append("--ipv6")
    return args + list(extra)


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("auth", ["none", "pap", "chap"])
def test_lwipy_client_against_c_lwip_server(ends, auth, ipv6):
    vj = ipv6  # VJ on in the IPv6 cases, off in the IPv4 ones
    peer = Peer(server_args(auth, ipv6, "--ping", "peer", "--ping-count", "3", vj=vj))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings(user=USER, password=SECRET, ipv6=ipv6, vj=vj))
    ends.append(end)
    up = peer.wait("UP")
    assert (up["local"], up["remote"], up["auth"], up["role"]) == (SERVER, CLIENT, auth, "server")
    assert (up["vj_tx"], up["vj_rx"]) == (("1", "1") if vj else ("0", "0"))
    end.wait_status("none")
    end.wait_for(lambda: end.pcb.if4_up and (not ipv6 or end.pcb.if6_up), what="IPCP (and IPV6CP) up")
    assert end.call(lambda: (end.netif.ip4, end.netif.gateway)) == (IPv4Interface(f"{CLIENT}/32"),
                                                                   IPv4Address(SERVER))
    assert end.call(lambda: [end.stack.dns_getserver(i) for i in (0, 1)]) == [IPv4Address(DNS1), IPv4Address(DNS2)]
    assert end.pcb.auth_used == auth
    # the C peer pings us (its self-test), we ping it
    result = peer.wait("RESULT", test="ping")
    assert (result["ok"], result["received"]) == ("1", "3"), result
    assert ping(end, SERVER).received == 3
    if ipv6:
        ours = end.call(lambda: [a.address for a in end.netif.ip6_addrs if a.addr[:2] == b"\xfe\x80"])
        assert ours == [IPv6Address(up["remote6"])]  # the identifier IPV6CP agreed with the peer
        assert ping(end, f"{up['local6']}%{end.netif.name}").received == 3
    else:
        assert "local6" not in up
    sent, got, _ = tcp_echo(end, SERVER, 1 << 20)
    assert hashlib.sha256(got).digest() == hashlib.sha256(sent).digest()
    if vj:
        assert end.pcb.vj.comp.compressed > 100 and end.pcb.stats_vj_rx_compressed > 100
    closed = peer.wait("TCP_CLOSE", port="7")
    assert closed["rx"] == closed["tx"] == str(1 << 20)
    assert end.pcb.deframer.bad_fcs == 0
    # SIGTERM on the peer: an LCP Terminate-Request reaches us, and the session ends with the address gone
    assert end.pcb.lcp.termreqs_received == 0
    peer.signal(signal.SIGTERM)
    end.wait_status("connect")
    assert peer.exit_code() == 0 and peer.wait("DOWN")["reason"] == "user"
    assert end.pcb.lcp.termreqs_received == 1
    assert end.call(lambda: (end.netif.ip4, end.netif.link_up)) == (None, False)
    assert end.pcb.phase == 0


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("auth", ["none", "pap", "chap"])
def test_lwipy_server_against_c_lwip_client(ends, auth, ipv6):
    size = 1 << 20
    vj = ipv6  # VJ on in the IPv6 cases, off in the IPv4 ones
    peer_args = ["--ping", "peer", "--ping-count", "3", "--tcp-echo-test", "peer", "--discard-test", "peer",
                 "--udp-echo-test", "peer6" if ipv6 else "peer", "--test-bytes", str(size), "--test-timeout", "120",
                 "--exit-after-tests", "--vj" if vj else "--no-vj"]
    if auth != "none":
        peer_args += ["--user", USER, "--pass", SECRET]
    if ipv6:
        peer_args.append("--ipv6")
    peer = Peer(peer_args)
    ends.append(peer)
    settings = PppSettings(server=True, local=IPv4Address(SERVER), remote=IPv4Address(CLIENT),
                           dns=[IPv4Address(DNS1), IPv4Address(DNS2)], user=USER, password=SECRET,
                           auth_required=auth != "none", auth=(auth,) if auth != "none" else (), ipv6=ipv6, vj=vj)
    end = LwipEnd(peer.master, settings)
    ends.append(end)
    services = end.call(lambda: (TcpEchoServer(end.stack), TcpDiscardServer(end.stack), UdpEchoServer(end.stack)))
    up = peer.wait("UP")
    assert (up["local"], up["remote"], up["dns"], up["auth"], up["role"]) == (CLIENT, SERVER, f"{DNS1},{DNS2}",
                                                                           auth, "client")
    if ipv6:
        assert up["local6"] != "none" and up["remote6"] != "none"
    assert (up["vj_tx"], up["vj_rx"]) == (("1", "1") if vj else ("0", "0"))
    done = peer.wait("TESTS_DONE", timeout=300)
    results = {r["test"]: r for r in peer.all("RESULT")}
    assert done["ok"] == "1", results
    assert set(results) == {"ping", "tcp-echo", "discard", "udp-echo"}
    assert results["tcp-echo"]["received"] == str(size) and results["discard"]["sent"] == str(size)
    assert end.call(lambda: services[1].bytes_in) == size  # what the discard server took
    assert peer.exit_code() == 0 and peer.wait("DOWN")["reason"] == "user"
    end.wait_status("connect")  # the client's Terminate-Request ended our session
    assert end.pcb.auth_used == auth and end.pcb.deframer.bad_fcs == 0
    if vj:
        assert end.pcb.stats_vj_rx_compressed > 100


@pytest.mark.parametrize("vj", [False, True], ids=["vj-off", "vj-on"])
def test_ten_mebibytes_echoed_through_c_lwip(ends, vj):
    peer = Peer(server_args("chap", False, vj=vj))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings(user=USER, password=SECRET, vj=vj))
    ends.append(end)
    up = peer.wait("UP")
    assert (up["vj_tx"], up["vj_rx"]) == (("1", "1") if vj else ("0", "0"))
    end.wait_for(lambda: end.pcb.if4_up, what="IPCP up")
    sent, got, elapsed = tcp_echo(end, SERVER, 10 << 20)
    assert len(got) == len(sent) and hashlib.sha256(got).digest() == hashlib.sha256(sent).digest()
    print(f"10 MiB echoed over the pty, VJ {'on' if vj else 'off'}, in {elapsed:.1f} s "
          f"({2 * 8 * len(sent) / elapsed / 1e6:.1f} Mbit/s both ways)")
    assert end.pcb.deframer.bad_fcs == 0
    if vj:
        comp, decomp = end.pcb.vj.comp, end.pcb.vj.decomp
        assert comp.compressed > 1000 and decomp.errors == 0 and decomp.tossed == 0
        assert end.pcb.stats_vj_rx_compressed > 1000  # the C side compressed to us, and we rebuilt them
    else:
        assert end.pcb.vj is None


def test_lcp_echo_failures_take_the_link_down_when_the_peer_freezes(ends):
    peer = Peer(server_args("none", False))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings(lcp_echo_interval=1.0, lcp_echo_fails=3))
    ends.append(end)
    peer.wait("UP")
    end.wait_status("none")
    end.wait_for(lambda: end.pcb.stats_echo_replies >= 2, timeout=20, what="two echo replies")
    peer.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    end.wait_status("peerdead", timeout=30)
    assert 3.0 <= time.monotonic() - t0 <= 20.0
    assert end.call(lambda: end.netif.ip4) is None
    peer.signal(signal.SIGCONT)


def test_peer_lcp_echo_declares_a_frozen_lwipy_dead(ends):
    peer = Peer(server_args("none", False, "--lcp-echo-interval", "1", "--lcp-echo-failure", "3"))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings())
    ends.append(end)
    peer.wait("UP")
    end.wait_for(lambda: end.pcb.if4_up, what="IPCP up")
    end.wait_for(lambda: end.pcb.stats_echo_answered >= 3, timeout=20, what="lwipy answering the peer's echoes")
    assert peer.all("DOWN") == []
    end.stop()  # lwipy freezes
    assert peer.wait("DOWN", timeout=30)["reason"] == "peerdead"


@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_wrong_secret_fails_authentication_both_sides(ends, auth):
    peer = Peer(server_args(auth, False))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings(user=USER, password="wrong"))
    ends.append(end)
    end.wait_status("authfail")
    assert peer.wait("DOWN")["reason"] == "authfail"
    assert not end.pcb.if4_up


def test_pyserial_port_against_c_lwip(ends):
    """The pyserial driver (what a real /dev/ttyUSB0 uses) on the slave side of the pty, opened by path."""
    from lwipy.netif.pppos import PySerial

    peer = Peer(server_args("pap", False, "--ping", "peer", vj=True), swap=True)
    ends.append(peer)
    end = LwipEnd(PySerial(peer.path, 115200), PppSettings(user=USER, password=SECRET, vj=True))
    ends.append(end)
    assert peer.wait("UP")["auth"] == "pap"
    end.wait_for(lambda: end.pcb.if4_up, what="IPCP up")
    assert peer.wait("RESULT", test="ping")["ok"] == "1"
    sent, got, _ = tcp_echo(end, SERVER, 256 << 10)
    assert got == sent and end.pcb.deframer.bad_fcs == 0


def test_fcs32_request_rejected_by_c_lwip_falls_back_to_fcs16(ends):
    """C lwIP has no FCS-Alternatives option (RFC 1570): it Configure-Rejects it and both sides keep FCS-16."""
    peer = Peer(server_args("none", False, "--ping", "peer"))
    ends.append(peer)
    end = LwipEnd(peer.master, PppSettings(fcs32=True))
    ends.append(end)
    peer.wait("UP")
    end.wait_for(lambda: end.pcb.if4_up, what="IPCP up")
    assert not end.pcb.deframer.fcs32 and not end.pcb.tx_fcs32
    assert peer.wait("RESULT", test="ping")["ok"] == "1"
    assert ping(end, SERVER).received == 3
