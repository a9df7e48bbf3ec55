"""lwipy's TCP super-segments (TSO/GSO through the TAP's virtio-net header) cut by the Linux kernel for real.

Delivered locally, a super-segment is never cut and its checksum never computed (the kernel trusts its own memory),
so here the kernel forwards it: lwipy A sends through a TAP with offload into the test's namespace, which routes it
out of a second TAP *without* offload to lwipy B.  That TAP has neither TSO nor checksum offload, so the kernel's
software GSO cuts each super-segment by the virtio-net header's ``gso_size`` and ``hdr_len`` and completes every
checksum from the pseudo-header sum lwipy left in the field: B, which checks every checksum itself, gets wire-format
segments, and the data (100 MB, hashed) only arrives intact if the header was right.  The first frames B receives
are written to a pcap that tshark reads with checksum validation on.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading

import pytest
from conftest import require_interop
from test_ipv4_kernel import require_tshark

import interop_netns as nsx
from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.netif.device import Wrapper
from lwipy.netif.pcap import PcapWriter
from lwipy.netif.tap import TapDevice

pytestmark = pytest.mark.interop

N = 100 * 1000 * 1000
PATTERN = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(65536 * 4))


class FirstFrames(Wrapper):
    """Keeps a copy of the first ``limit`` frames received, for a pcap written after the run."""

    def __init__(self, inner, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self.frames: list[bytes] = []

    def receive(self):
        frames = self.inner.receive()
        room = self.limit - len(self.frames)
        if room > 0:
            self.frames.extend(bytes(f) for f in frames[:room])
        return frames


def test_super_segments_cut_by_the_kernel_arrive_intact_with_checksums_a_receiver_verifies(tmp_path):
    require_interop()
    tshark = require_tshark()
    config = Config(tcp_mss=1460, tcp_wnd_default=262144, tcp_snd_buf_default=262144, wnd_scale=True,
                    tcp_rcv_scale=3, tcp_sack_out=True, tcp_timestamps=True)
    with nsx.namespace("lgso") as ns:
        nsx.add_tap(ns, "lgsoa", "10.77.0.1", 24, mtu=1500)
        nsx.add_tap(ns, "lgsob", "10.79.0.1", 24, mtu=1500)
        nsx.write_sysctl(ns, "net.ipv4.ip_forward", "1")
        a = Stack(config, seed=1, name="gso-sender")
        b = Stack(config, seed=2, name="gso-receiver")
        dev_a = TapDevice("lgsoa", netns=ns, offload=True)
        dev_b = FirstFrames(TapDevice("lgsob", netns=ns), 3000)  # plain: the kernel must cut and checksum
        a.add_netif(dev_a, ip="10.77.0.2/24", gateway="10.77.0.1")
        b.add_netif(dev_b, ip="10.79.0.2/24", gateway="10.79.0.1")
        loop_a, loop_b = StackLoop(a).start(), StackLoop(b).start()
        try:
            done = threading.Event()
            got = {"n": 0, "hash": hashlib.sha256()}

            def serve():
                listener = b.tcp.listen(5001)

                def on_conn(lst):
                    while (pcb := lst.accept()) is not None:
                        def on_event(p):
                            while p.readable:
                                data = p.recv()
                                got["n"] += len(data)
                                got["hash"].update(data)
                            if p.at_eof:
                                p.close()
                                done.set()
                        pcb.on_event = on_event
                        on_event(pcb)
                listener.on_event = on_conn
            loop_b.call(serve)

            sent = {"n": 0, "hash": hashlib.sha256(), "closed": False}
            view = memoryview(PATTERN)

            def pump(p):
                if p.state_name not in ("ESTABLISHED", "CLOSE_WAIT"):
                    return
                while sent["n"] < N:
                    off = sent["n"] % 65536
                    k = p.send(view[off:off + min(N - sent["n"], 3 * 65536)])
                    if not k:
                        return
                    sent["hash"].update(view[off:off + k])
                    sent["n"] += k
                if not sent["closed"]:
                    sent["closed"] = True
                    p.close()

            def start():
                pcb = a.tcp.connect("10.79.0.2", 5001)
                pcb.on_event = pump
            loop_a.call(start)
            # a few seconds on a quiet machine; fails once nothing arrives for GENEROUS seconds, or after six times
            # that (data crawling through retransmissions alone: super-segments the kernel could not cut)
            last, stalled = -1, 0
            for _ in range(int(6 * nsx.GENEROUS)):
                if done.wait(1.0):
                    break
                if got["n"] == last:
                    stalled += 1
                    assert stalled < nsx.GENEROUS, f"the receiver got {got['n']} of {N} bytes, then nothing"
                else:
                    last, stalled = got["n"], 0
            assert done.is_set(), f"the receiver got only {got['n']} of {N} bytes in {6 * nsx.GENEROUS:.0f} s"
            assert got["n"] == N and got["hash"].hexdigest() == sent["hash"].hexdigest()
            counts = loop_a.call(lambda: (dev_a.tx_gso, a.stats.tcp.xmit))
            stats_b = loop_b.call(lambda: (b.stats.tcp.chkerr, b.stats.ip.chkerr, b.stats.tcp.recv))
        finally:
            loop_a.stop()
            loop_b.stop()
            dev_a.close()
            dev_b.close()
    tx_gso, xmit = counts
    assert tx_gso > 500, f"only {tx_gso} super-segments of {xmit} segments: TSO was not used"
    chkerr_tcp, chkerr_ip, recv = stats_b
    assert (chkerr_tcp, chkerr_ip) == (0, 0)
    assert recv > N // 1448 * 0.9  # B got MSS-sized segments: many more than the super-segments A sent
    frames = dev_b.frames
    assert len(frames) == 3000 and max(len(f) for f in frames) <= 1514  # nothing larger than the link's MTU
    data = [f for f in frames if len(f) > 1000]
    assert len({f[18:20] for f in data}) == len(data)  # every cut segment has its own IPv4 identification
    pcap = tmp_path / "cut.pcap"
    writer = PcapWriter(str(pcap))
    for i, frame in enumerate(frames):
        writer.write(frame, i * 1e-6)
    writer.close()
    bad = subprocess.run([tshark, "-n", "-r", str(pcap), "-o", "ip.check_checksum:TRUE", "-o",
                          "tcp.check_checksum:TRUE", "-Y",
                          '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad" '
                          '|| tcp.checksum.status == "Bad"'], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout[-2000:] + bad.stderr
    good = subprocess.run([tshark, "-n", "-r", str(pcap), "-o", "tcp.check_checksum:TRUE", "-Y",
                           'tcp.checksum.status == "Good" && tcp.len == 1448'], capture_output=True, text=True,
                          timeout=120).stdout.splitlines()
    assert len(good) > 2000  # full segments, their checksums computed by the kernel from lwipy's partial sums
