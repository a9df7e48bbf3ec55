"""``lwipy ppp`` as a process on a pty against C lwIP's lwip_pppd: as client and as --server, the peer's self-tests
(ping, TCP echo, discard) against the CLI's services; the CLI's exit when the session ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import tty

import pytest
from lwip_peer import REPO, parse_line, peer_binary

pytestmark = pytest.mark.interop


def device_path(slave: int) -> str:
    """The pty's path for the CLI: the inherited descriptor's /proc/self/fd/N.  Not os.ttyname's /dev/pts/N: in a
    container /dev/pts may be another devpts instance (empty, or holding someone else's pty of that number)."""
    return f"/proc/self/fd/{slave}"


def run_pair(cli_args: list[str], peer_args: list[str], timeout: float = 120) -> tuple[list, str, int, int]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cli = subprocess.Popen([sys.executable, "-m", "lwipy", "ppp", "--device", device_path(slave), *cli_args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, pass_fds=(slave,))
    peer = subprocess.Popen([peer_binary(), "--fd", str(master), *peer_args], pass_fds=(master,),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    os.close(master)
    os.close(slave)
    try:
        peer_out, _ = peer.communicate(timeout=timeout)
        cli_out, _ = cli.communicate(timeout=timeout)
    finally:
        for p in (peer, cli):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return [parse_line(line) for line in peer_out.splitlines()], cli_out, peer.returncode, cli.returncode


def test_cli_client_against_c_server_running_its_tests():
    peer_lines, cli_out, peer_rc, cli_rc = run_pair(
        ["--user", "alice", "--password", "s3cret", "--no-ipv6"],
        ["--server", "--local", "10.64.0.1", "--remote", "10.64.0.2", "--dns", "10.64.0.53", "--auth", "pap",
         "--user", "alice", "--pass", "s3cret", "--ping", "peer", "--tcp-echo-test", "peer", "--discard-test", "peer",
         "--test-bytes", "262144", "--exit-after-tests"])
    results = {f["test"]: f for k, f in peer_lines if k == "RESULT"}
    assert peer_rc == 0 and set(results) == {"ping", "tcp-echo", "discard"}, (peer_lines, cli_out)
    assert all(r["ok"] == "1" for r in results.values()), results
    assert "up local=10.64.0.2 remote=10.64.0.1 dns=10.64.0.53" in cli_out and "auth=pap vj=on" in cli_out
    assert "down reason=connect" in cli_out and cli_rc == 0, cli_out  # the peer's Terminate ended the session


def test_cli_server_against_c_client_then_sigterm():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cli = subprocess.Popen([sys.executable, "-m", "lwipy", "ppp", "--device", device_path(slave), "--server",
                            "--local", "10.64.0.1", "--remote", "10.64.0.2", "--dns", "10.64.0.53", "--user", "bob",
                            "--password", "pw", "--auth", "chap"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, pass_fds=(slave,))
    log = tempfile.TemporaryFile()
    peer = subprocess.Popen([peer_binary(), "--fd", str(master), "--user", "bob", "--pass", "pw", "--ping", "peer",
                             "--tcp-echo-test", "peer", "--debug"], pass_fds=(master,), stdout=subprocess.PIPE,
                            stderr=log, text=True)
    os.close(master)
    os.close(slave)
    try:
        assert cli.stdout is not None and peer.stdout is not None
        seen = []
        for line in peer.stdout:
            seen.append(parse_line(line))
            if sum(1 for k, _ in seen if k == "RESULT") == 2:
                break
        results = {f["test"]: f for k, f in seen if k == "RESULT"}
        up = [f for k, f in seen if k == "UP"][0]
        assert (up["local"], up["dns"], up["auth"]) == ("10.64.0.2", "10.64.0.53", "chap")
        assert all(r["ok"] == "1" for r in results.values()), results
        cli.send_signal(signal.SIGTERM)  # the CLI sends a Terminate-Request and exits 0
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode == 0 and "down reason=user" in out, out
        rest = [parse_line(line) for line in peer.stdout]
        # lwIP reports peer-terminated one restart interval after its Terminate-Ack; the CLI has closed the pty by
        # then, so it may say hangup: the Terminate-Request itself is in its PPP trace
        assert [f["reason"] for k, f in rest if k == "DOWN"] in (["peer-terminated"], ["hangup"])
        peer.wait(30)
        log.seek(0)
        trace = log.read().decode(errors="replace")
        assert "rcvd [LCP TermReq" in trace and "sent [LCP TermAck" in trace, trace[-2000:]
    finally:
        for p in (peer, cli):
            if p.poll() is None:
                p.kill()
                p.wait(10)
