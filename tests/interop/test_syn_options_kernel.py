"""ESP-IDF's TCP on the wire: lwipy's SYN and SYN-ACK against the kernel on a TAP in a test-made namespace, decoded
by tshark, and what the kernel's own TCP_INFO says it negotiated.

With ESP-IDF's defaults (CONFIG_LWIP_TCP_SACK_OUT, CONFIG_LWIP_WND_SCALE off; LWIP_TCP_TIMESTAMPS off in its build)
the SYN carries the MSS alone, 1440 (CONFIG_LWIP_TCP_MSS); each switch on adds its option, and the kernel, which
offers all of them, uses exactly those.  The second half runs ``lwipy up --sdkconfig FILE`` and checks its SYN-ACKs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import interop_netns as nsx
import pytest
from test_ipv4_kernel import TSHARK_PROBLEMS, tshark

from lwipy import Config

MSS, WSCALE, SACK_PERM, TIMESTAMPS = 2, 3, 4, 8  # TCP option kinds (RFC 9293, RFC 7323, RFC 2018)
# the kernel's struct tcp_info: tcpi_options is its 6th byte; TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4
KERNEL_OPTS = {TIMESTAMPS: 1, SACK_PERM: 2, WSCALE: 4}

# a kernel listener that accepts one connection and prints the options its TCP negotiated (tcpi_options)
LISTENER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
print("listening", flush=True)
srv.settimeout(30)
conn, _ = srv.accept()
info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
conn.settimeout(30)
while conn.recv(4096):
    pass
print("options", info[5], flush=True)
conn.close()
"""

# a kernel client of lwipy's TCP echo (port 7): prints the options its TCP negotiated
CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=30)
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
s.sendall(b"hello")
got = b""
while len(got) < 5:
    got += s.recv(100)
assert got == b"hello", got
print("options", info[5], flush=True)
s.close()
"""

CASES = {
    "esp-idf-defaults": ({}, {MSS}),
    "sack_out": ({"tcp_sack_out": True}, {MSS, SACK_PERM}),
    "wnd_scale": ({"wnd_scale": True, "tcp_rcv_scale": 2}, {MSS, WSCALE}),
    "timestamps": ({"tcp_timestamps": True}, {MSS, TIMESTAMPS}),
    "fast": ({"tcp_sack_out": True, "wnd_scale": True, "tcp_rcv_scale": 3, "tcp_timestamps": True,
              "tcp_wnd_default": 262144}, {MSS, SACK_PERM, WSCALE, TIMESTAMPS}),
}


def decoded_syns(pcap: Path, src: str, synack: bool) -> list[dict[str, str]]:
    flt = f"ip.src == {src} && tcp.flags.syn == 1 && tcp.flags.ack == {1 if synack else 0}"
    rows = tshark(pcap, flt, "tcp.option_kind", "tcp.options.mss_val", "tcp.options.wscale.shift",
                  "tcp.options.sack_perm", "tcp.options.timestamp.tsval", "tcp.window_size_value")
    out = []
    for row in rows:
        kinds, mss, shift, sack, tsval, window = (row.split("\t") + [""] * 6)[:6]
        out.append({"kinds": {int(k) for k in kinds.split(",") if k and int(k) > 1},  # NOP (1) and EOL (0) aside
                    "mss": mss, "shift": shift, "sack": sack, "tsval": tsval, "window": window})
    return out


def negotiated(kernel_bits: int) -> set[int]:
    return {kind for kind, bit in KERNEL_OPTS.items() if kernel_bits & bit}


def check_syn(syn: dict[str, str], expected: set[int], options: dict) -> None:
    assert syn["kinds"] == expected, syn
    assert syn["mss"] == "1440"  # ESP-IDF's CONFIG_LWIP_TCP_MSS
    # the window field of a SYN is never scaled (RFC 7323 2.2): TCP_WND, 5760 by default, at most 65535
    assert syn["window"] == str(min(options.get("tcp_wnd_default", 5760), 0xFFFF)), syn
    assert (syn["shift"] == str(options.get("tcp_rcv_scale"))) if WSCALE in expected else syn["shift"] == ""
    assert bool(syn["sack"]) == (SACK_PERM in expected) and bool(syn["tsval"]) == (TIMESTAMPS in expected)


@pytest.mark.parametrize("case", [pytest.param(name, marks=pytest.mark.lwip_config(**opts))
                                  for name, (opts, _) in CASES.items()])
def test_syn_carries_exactly_the_options_switched_on(lwip, case):
    options, expected = CASES[case]
    port = 5999
    listener = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-c", LISTENER, nsx.KERNEL_IP,
                                 str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "listening", listener.stderr.read()
        pcb = lwip.call(lambda: lwip.stack.tcp.connect(nsx.KERNEL_IP, port))
        lwip.wait_for(lambda: pcb.state_name == "ESTABLISHED", what="the handshake")
        assert (pcb.sack_ok, pcb.wscale_ok, pcb.ts_ok) == (SACK_PERM in expected, WSCALE in expected,
                                                           TIMESTAMPS in expected)
        lwip.call(pcb.close)
        out, err = listener.communicate(timeout=nsx.GENEROUS)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 0, err
    kernel_bits = int(out.split("options")[1])
    assert negotiated(kernel_bits) == expected - {MSS}  # the kernel offered all three and uses only ours
    lwip.stop()
    syns = decoded_syns(lwip.pcap_path, nsx.LWIP_IP, synack=False)
    assert len(syns) == 1
    check_syn(syns[0], expected, options)
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []


SDKCONFIG_HEAD = """#
# Automatically generated file. DO NOT EDIT.
# Espressif IoT Development Framework (ESP-IDF) 5.1.2 Project Configuration
#
CONFIG_IDF_TARGET="esp32"
CONFIG_FREERTOS_HZ=100
#
# LWIP
#
CONFIG_LWIP_LOCAL_HOSTNAME="espressif"
CONFIG_LWIP_TCPIP_TASK_STACK_SIZE=3072
CONFIG_LWIP_TCPIP_TASK_AFFINITY_NO_AFFINITY=y
CONFIG_LWIP_TCPIP_TASK_AFFINITY=0x7FFFFFFF
CONFIG_LWIP_MAX_SOCKETS=10
CONFIG_LWIP_TCP_MSS=1440
"""

SDK_CASES = {
    "esp-idf-defaults": ("# CONFIG_LWIP_TCP_SACK_OUT is not set\n", {}, {MSS}),
    "sack-wscale-timestamps": ("CONFIG_LWIP_TCP_SACK_OUT=y\nCONFIG_LWIP_WND_SCALE=y\nCONFIG_LWIP_TCP_RCV_SCALE=2\n"
                               "CONFIG_LWIPY_TCP_TIMESTAMPS=y\n", {"tcp_rcv_scale": 2},
                               {MSS, SACK_PERM, WSCALE, TIMESTAMPS}),
}


@pytest.mark.parametrize("case", list(SDK_CASES))
def test_lwipy_up_with_an_sdkconfig_answers_with_its_options(kernel_tap, tmp_path, case):
    body, options, expected = SDK_CASES[case]
    sdkconfig = tmp_path / "sdkconfig"
    sdkconfig.write_text(SDKCONFIG_HEAD + body)
    assert Config.from_sdkconfig(sdkconfig).tcp_sack_out == (SACK_PERM in expected)
    pcap = tmp_path / "up.pcap"
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "..", "src")}
    proc = subprocess.Popen([sys.executable, "-m", "lwipy", "up", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns,
                             "--ip", f"{nsx.LWIP_IP}/{nsx.PREFIX}", "--sdkconfig", str(sdkconfig), "--pcap", str(pcap)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "lwipy up on" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        done = nsx.ns_python(kernel_tap.ns, CLIENT, nsx.LWIP_IP, timeout=nsx.GENEROUS)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=nsx.GENEROUS)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "chip-only, ignored: CONFIG_LWIP_TCPIP_TASK_AFFINITY" in err  # the sdkconfig's task symbols, reported
    assert negotiated(int(done.stdout.split("options")[1])) == expected - {MSS}
    synacks = decoded_syns(pcap, nsx.LWIP_IP, synack=True)
    assert len(synacks) == 1
    check_syn(synacks[0], expected, options)
    assert tshark(pcap, TSHARK_PROBLEMS) == []
