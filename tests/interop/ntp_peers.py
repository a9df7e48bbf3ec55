"""NTP peers for the SNTP interop tests, run inside a test's namespace by PID with every file in a tmp dir:
chronyd (``local stratum``, ``-x``) and ntpsec's ntpd (orphan mode, clock discipline disabled) as servers, and ntpdig as
the kernel side's measurement.  Neither daemon may touch the host's clock: chronyd runs with ``-x``, ntpd with
``disable ntp`` / ``disable kernel``, and both under ``setpriv`` without CAP_SYS_TIME, so that the kernel refuses
them even if they tried (the realtime clock is not per namespace)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import interop_netns as nsx
import pytest
from dhcp_peers import Daemon, need

_NO_SYS_TIME = ["setpriv", "--bounding-set=-sys_time", "--inh-caps=-sys_time"]
NTPSEC_DIR = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "lwipy" / "ntpsec"


def chronyd(ns: str, tmp: Path, stratum: int = 10) -> Daemon:
    """chronyd serving its (the host's) clock at ``stratum`` to anyone, no command socket, all files in ``tmp``."""
    exe = need("chronyd", "chrony")
    conf = tmp / "chrony.conf"
    conf.write_text(f"local stratum {stratum}\nallow\ncmdport 0\npidfile {tmp / 'chronyd.pid'}\n"
                    f"driftfile {tmp / 'chrony.drift'}\n")
    return Daemon(ns, [*_NO_SYS_TIME, exe, "-x", "-d", "-u", "root", "-f", str(conf)], tmp / "chronyd.log")


def ntpsec_ntpd(ns: str, tmp: Path) -> Daemon:
    """ntpsec's ntpd, unpacked from its .deb (scripts/test does it), serving in orphan mode at stratum 10."""
    exe = NTPSEC_DIR / "root" / "usr" / "sbin" / "ntpd"
    if not exe.exists():
        pytest.fail(f"ntpsec's ntpd is not unpacked at {exe} (scripts/test does: apt-get download ntpsec && dpkg -x)",
                    pytrace=False)
    conf = tmp / "ntp.conf"
    conf.write_text("tos orphan 10 orphanwait 0\ndisable ntp\ndisable kernel\nrestrict default\n")
    return Daemon(ns, [*_NO_SYS_TIME, str(exe), "-n", "-c", str(conf), "-p", str(tmp / "ntpd.pid"),
                       "-l", str(tmp / "ntpd.log")], tmp / "ntpd.out")


def ntpdig(ns: str, server: str, samples: int = 1) -> list[dict]:
    """ntpdig's JSON measurements of ``server`` from the namespace (offset in seconds, stratum, leap)."""
    exe = need("ntpdig", "ntpsec-ntpdig")
    done = nsx.ns_run(ns, [exe, "-j", "-t", "2", "-p", str(samples), server], timeout=30)
    out = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def wait_serving(ns: str, server: str, daemon: Daemon, timeout: float = nsx.GENEROUS) -> dict:
    """ntpdig until the server answers synchronised (stratum below 16, no alarm), its measurement returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            raise AssertionError(f"{daemon.proc.args} exited {daemon.proc.returncode}:\n{daemon.log}")
        got = ntpdig(ns, server)
        if got and got[0].get("stratum", 16) < 16 and got[0].get("leap") != "unsync":
            return got[0]
        time.sleep(0.2)
    raise AssertionError(f"the NTP server at {server} did not serve within {timeout} s:\n{daemon.log}")
