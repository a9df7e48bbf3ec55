"""DHCP daemons for the interop tests, run inside a test's namespace by PID with every file in a tmp dir:
dnsmasq and kea-dhcp4 as servers for lwipy's client; udhcpc, dhclient and dhcpcd as clients of lwipy's server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (scripts/test installs {package} as root)", pytrace=False)
    return path


class Daemon:
    """A process started in a namespace (``ip netns exec``), stopped by its PID; its output goes to a log file."""

    def __init__(self, ns: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_log(self, predicate: Callable[[str], bool], timeout: float = 20.0, what: str = "a log line") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log
            if predicate(text):
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.proc.args} exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # the whole session (ip netns exec and the daemon it became, and any children), by its process group id
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def dnsmasq(ns: str, ifname: str, tmp: Path, *extra: str, name: str = "dnsmasq", dns_port: int = 0) -> Daemon:
    """dnsmasq as a DHCP server in ``ns`` (and a DNS server on ``dns_port`` when not 0)."""
    exe = need("dnsmasq", "dnsmasq-base")
    return Daemon(ns, [exe, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--port={dns_port}", f"--interface={ifname}",
                       "--bind-interfaces", "--log-facility=-", "--log-dhcp", "--dhcp-authoritative",
                       f"--pid-file={tmp / (name + '.pid')}", f"--dhcp-leasefile={tmp / (name + '.leases')}", *extra],
                  tmp / (name + ".log"))


def kea(ns: str, ifname: str, tmp: Path, *, pool: str, valid: int, renew: int, rebind: int,
        dns: str = "10.77.0.1") -> Daemon:
    exe = need("kea-dhcp4", "kea-dhcp4-server")
    conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": [ifname], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": str(tmp / "kea-leases4.csv"),
                           "lfc-interval": 0},
        "valid-lifetime": valid, "renew-timer": renew, "rebind-timer": rebind,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/24", "pools": [{"pool": pool}],
                     "option-data": [{"name": "routers", "data": "10.77.0.1"},
                                     {"name": "domain-name-servers", "data": dns}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
                     "output_options": [{"output": "stdout"}]}],
    }}
    path = tmp / "kea-dhcp4.conf"
    path.write_text(json.dumps(conf))
    env = {"KEA_PIDFILE_DIR": str(tmp), "KEA_LOCKFILE_DIR": str(tmp), "KEA_LOGGER_DESTINATION": "stdout"}
    return Daemon(ns, [exe, "-c", str(path)], tmp / "kea.log", env)
