"""TCP against the Linux kernel: lwipy on a TAP in a test-made namespace, the kernel's sockets as the peer."""

import hashlib
import threading

import pytest

from lwipy.core.tcp.pcb import TcpPcb

# lwipy's faster TCP (SACK, window scaling, timestamps; ESP-IDF's defaults have none of them), one switch away
BIG = dict(tcp_wnd_default=262144, tcp_snd_buf_default=262144, tcp_sack_out=True, wnd_scale=True, tcp_rcv_scale=3,
           tcp_timestamps=True)

KERNEL_CLIENT = r"""
import hashlib, socket, sys
n = int(sys.argv[2])
block = bytes((i * 7) & 0xFF for i in range(65536))
s = socket.create_connection((sys.argv[1], 5001), timeout=30)
sent, h = 0, hashlib.sha256()
while sent < n:
    chunk = block[: min(len(block), n - sent)]
    s.sendall(chunk)
    h.update(chunk)
    sent += len(chunk)
s.shutdown(socket.SHUT_WR)
reply = b""
while True:
    got = s.recv(4096)
    if not got:
        break
    reply += got
s.close()
print(h.hexdigest(), reply.decode())
"""

KERNEL_SERVER = r"""
import hashlib, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5002))
srv.listen(1)
srv.settimeout(30)
print("listening", flush=True)
conn, _ = srv.accept()
conn.settimeout(30)
h, total = hashlib.sha256(), 0
while True:
    got = conn.recv(262144)
    if not got:
        break
    h.update(got)
    total += len(got)
conn.close()
print(total, h.hexdigest(), flush=True)
"""


def serve_sha256(lwip, port=5001):
    """A lwipy server that hashes everything it receives and answers with the hex digest when the peer is done."""
    accepted = []

    def on_conn(pcb: TcpPcb, h=None):
        state = {"h": hashlib.sha256(), "n": 0}

        def on_event(p: TcpPcb) -> None:
            while p.readable:
                data = p.recv()
                state["h"].update(data)
                state["n"] += len(data)
            if p.at_eof and p.state_name == "CLOSE_WAIT":
                p.send(f"{state['n']} {state['h'].hexdigest()}".encode())
                p.close()

        pcb.on_event = on_event
        on_event(pcb)

    def setup():
        listener = lwip.stack.tcp.listen(port)

        def on_listen(lst):
            while (pcb := lst.accept()) is not None:
                accepted.append(pcb)
                on_conn(pcb)

        listener.on_event = on_listen
        return listener

    return lwip.call(setup), accepted


# 100 MB runs skip the pcap (a flushed write per frame); the fault wrapper drops 1% of frames in each direction
# ("offload": the TAP with checksum and TCP segmentation offload, as a VM's virtio NIC: 64 KiB super-segments;
# "tun", "tun-offload": the same over a TUN, a point-to-point netif carrying bare IP packets)
LOSSY = [pytest.param(None, id="clean", marks=pytest.mark.lwip_device(pcap=False)),
         pytest.param(dict(loss=0.01), id="1%-loss-each-way",
                      marks=pytest.mark.lwip_device(faults=dict(loss=0.01), pcap=False)),
         pytest.param("offload", id="tap-offload", marks=pytest.mark.lwip_device(pcap=False, offload=True)),
         pytest.param("tun", id="tun", marks=pytest.mark.lwip_device(pcap=False, tun=True)),
         pytest.param("tun-offload", id="tun-offload",
                      marks=pytest.mark.lwip_device(pcap=False, tun=True, offload=True))]
OFFLOAD = ("offload", "tun-offload")


@pytest.mark.slow
@pytest.mark.parametrize("faults", LOSSY)
@pytest.mark.lwip_config(**BIG)
def test_kernel_client_sends_100mb_to_lwipy(lwip, faults):
    assert lwip.netif.is_p2p == (faults in ("tun", "tun-offload"))
    serve_sha256(lwip)
    n = 100 * 1024 * 1024
    done = lwip.python(KERNEL_CLIENT, lwip.ip, str(n), timeout=300)
    digest, count, their = done.stdout.split()
    assert int(count) == n and their == digest
    stats = lwip.stats()["tcp"]
    assert stats["chkerr"] == 0
    if faults in OFFLOAD:  # the kernel really sent super-segments with checksums left undone, and none was bad
        assert lwip.call(lambda: lwip.device.rx_gso) > 100 and lwip.device.rx_csum_errors == 0
    elif isinstance(faults, dict):
        assert lwip.call(lambda: lwip.device.counts["lost"]) > 100  # the loss really happened
    # lwipy closed second (LAST_ACK -> CLOSED): nothing of it is left; the kernel, which closed first, waits in
    # TIME_WAIT and holds nothing else
    lwip.wait_for(lambda: not lwip.stack.tcp.conns and len(lwip.stack.tcp.timers) == 0, what="lwipy's pcbs freed")
    states = lwip.run(["ss", "-Htan", "state", "all", "dst", lwip.ip]).stdout.split()
    assert states[::5] == ["TIME-WAIT"], states


@pytest.mark.slow
@pytest.mark.parametrize("faults", LOSSY)
@pytest.mark.lwip_config(**BIG)
def test_lwipy_client_sends_100mb_to_kernel(lwip, faults):
    assert lwip.netif.is_p2p == (faults in ("tun", "tun-offload"))
    import subprocess
    import sys
    server = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-c", KERNEL_SERVER, lwip.kernel_ip],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        n = 100 * 1024 * 1024
        block = bytes((i * 13) & 0xFF for i in range(65536))
        expect = hashlib.sha256()
        for off in range(0, n, len(block)):
            expect.update(block[: min(len(block), n - off)])
        finished = threading.Event()
        state = {"sent": 0, "closed": False}

        def pump(pcb: TcpPcb) -> None:
            while state["sent"] < n:
                off = state["sent"] % len(block)
                want = min(len(block) - off, n - state["sent"])
                took = pcb.send(memoryview(block)[off:off + want])
                if not took:
                    return
                state["sent"] += took
            if not state["closed"]:
                state["closed"] = True
                pcb.close()
            if pcb.state_name in ("TIME_WAIT", "CLOSED"):
                finished.set()

        def start():
            pcb = lwip.stack.tcp.connect(lwip.kernel_ip, 5002)
            pcb.on_event = pump
            return pcb

        lwip.call(start)
        out, err = server.communicate(timeout=300)
        total, digest = out.split()
        assert int(total) == n and digest == expect.hexdigest(), err
        if faults in OFFLOAD:  # lwipy really sent super-segments for the kernel to take apart
            assert lwip.call(lambda: lwip.device.tx_gso) > 100
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_kernel_connecting_to_a_closed_lwipy_port_is_refused(lwip):
    done = lwip.python(r"""
import socket, sys
s = socket.socket()
s.settimeout(5)
print(s.connect_ex((sys.argv[1], 5999)))
""", lwip.ip)
    assert done.stdout.strip() == "111"  # ECONNREFUSED: lwipy answered the SYN with RST


@pytest.mark.lwip_config(**BIG)
def test_kernel_sees_sack_window_scaling_and_timestamps_negotiated(lwip):
    # The kernel's own TCP_INFO is the witness: this machine's ss (iproute2 6.1 on Linux 6.18) prints neither "ts"
    # nor "sack" even between two kernel sockets, while TCP_INFO's option bits show them.
    serve_sha256(lwip)
    done = lwip.python(r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 5001), timeout=10)
s.sendall(b"x" * 1000)
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(info[5], info[6] & 0x0F, info[6] >> 4)  # tcpi_options, tcpi_snd_wscale, tcpi_rcv_wscale
s.shutdown(socket.SHUT_WR)
while s.recv(4096):
    pass
s.close()
""", lwip.ip, timeout=30)
    options, snd_wscale, rcv_wscale = map(int, done.stdout.split())
    assert options & 1, "timestamps (TCPI_OPT_TIMESTAMPS) not negotiated"
    assert options & 2, "SACK (TCPI_OPT_SACK) not negotiated"
    assert options & 4, "window scaling (TCPI_OPT_WSCALE) not negotiated"
    assert snd_wscale == 3  # our 256 KB window is offered with a shift of 3 (262144 >> 3 fits 16 bits)
