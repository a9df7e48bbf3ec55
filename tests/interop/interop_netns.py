"""Network namespaces, TAPs and veth pairs for the interop tests and ``bench/bench_foundation.py``.

Everything made here lives inside a namespace this process created (named ``lwipy-<pid>-<n>``); nothing is ever
added to the root namespace.  Deleting the namespace deletes every interface in it, so :func:`namespace` (a context
manager) is the one cleanup that matters, and it runs whatever happens inside the ``with``.

pyroute2's ``NetNS`` does the netlink work (it forks a short-lived helper that enters the namespace and hands back
the socket; note that a plain ``IPRoute`` made on a thread inside the namespace is NOT enough with pyroute2 0.9: it
opens its socket later, in the caller's namespace).  When pyroute2 cannot be imported (or
``LWIPY_INTEROP_IP_COMMAND=1`` asks for it) the ``ip`` command does the same work.  As a safety net, every interface
made here is checked to be absent from the root namespace afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
from typing import Iterator, Sequence

from lwipy.netif.tap import in_netns

__all__ = [
    "KERNEL_IP", "LWIP_IP", "PREFIX", "TAP", "requirements_problem", "unique_name", "namespace", "create", "remove",
    "add_tap", "add_veth_pair", "ns_run", "ns_python", "PingStats", "parse_ping", "link_mac",
]

_counter = itertools.count()

# the interop tests' network: the kernel's side of the TAP and lwipy's address on it
KERNEL_IP = "10.77.0.1"
LWIP_IP = "10.77.0.2"
PREFIX = 24
TAP = "ltap0"
GENEROUS = 30.0  # seconds a condition may take on a loaded machine before a wait fails (only bounds a failing test)
TUN = "ltun0"

try:
    if os.environ.get("LWIPY_INTEROP_IP_COMMAND") == "1":
        raise ImportError("the ip command was asked for")
    from pyroute2 import NetNS
    from pyroute2 import netns as _pr_netns
except ImportError:  # pragma: no cover - the fallback
    NetNS = None
    _pr_netns = None


def requirements_problem() -> str | None:
    """Why the interop tests cannot run here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "interop tests need Linux"
    if os.geteuid() != 0:
        return "interop tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN to make network namespaces)"
    if not os.path.exists("/dev/net/tun"):
        return "interop tests need /dev/net/tun (modprobe tun)"
    for tool in ("ip", "ping"):
        if shutil.which(tool) is None:
            return f"interop tests need the {tool!r} command"
    return None


def unique_name(prefix: str = "lwipy") -> str:
    """A namespace name no other run uses: ``lwipy-<pid>-<n>``."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def _ip(*args: str, timeout: float = 10.0) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def write_sysctl(ns: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as f:
            f.write(value)
    in_netns(ns, write)  # /proc/sys/net shows the namespace of the thread that opens it


def create(name: str, ipv6: bool = False) -> None:
    """Make namespace ``name`` with its loopback up and IPv6 off (so no router solicitations or MLD reports
    clutter captures and drop counters); with ``ipv6``, IPv6 on without duplicate address detection for the kernel's
    own addresses (they are usable at once) and with forwarding on (radvd wants a router)."""
    if _pr_netns is not None:
        _pr_netns.create(name)
    else:
        _ip("netns", "add", name)
    try:
        for scope in ("all", "default"):
            write_sysctl(name, f"net.ipv6.conf.{scope}.disable_ipv6", "0" if ipv6 else "1")
            if ipv6:
                write_sysctl(name, f"net.ipv6.conf.{scope}.accept_dad", "0")
                write_sysctl(name, f"net.ipv6.conf.{scope}.forwarding", "1")
        if NetNS is not None:
            with NetNS(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        else:
            _ip("-n", name, "link", "set", "lo", "up")
    except BaseException:
        remove(name)
        raise


def remove(name: str) -> None:
    """Delete namespace ``name`` (and with it every interface in it).  Missing is fine."""
    if not os.path.exists(f"/run/netns/{name}"):
        return
    if _pr_netns is not None:
        _pr_netns.remove(name)
    else:
        _ip("netns", "delete", name)


@contextlib.contextmanager
def namespace(prefix: str = "lwipy", ipv6: bool = False) -> Iterator[str]:
    """A fresh namespace for the ``with`` body, deleted afterwards whatever happens."""
    name = unique_name(prefix)
    create(name, ipv6)
    try:
        yield name
    finally:
        remove(name)


def _configure(ns: str, ifname: str, address: str | None, prefixlen: int, mtu: int | None) -> None:
    if NetNS is not None:
        with NetNS(ns) as ipr:
            idx = ipr.link_lookup(ifname=ifname)[0]
            if mtu is not None:
                ipr.link("set", index=idx, mtu=mtu)
            if address is not None:
                ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")
    else:
        if mtu is not None:
            _ip("-n", ns, "link", "set", ifname, "mtu", str(mtu))
        if address is not None:
            _ip("-n", ns, "addr", "add", f"{address}/{prefixlen}", "dev", ifname)
        _ip("-n", ns, "link", "set", ifname, "up")


def _here_has(ifname: str) -> bool:
    """Whether the namespace this process runs in (normally the root one) has an interface ``ifname``."""
    try:
        socket.if_nametoindex(ifname)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _not_here(*ifnames: str) -> Iterator[None]:
    """Check that the interfaces made in the body did not land in this process's own namespace; if one did, delete
    it at once and fail.  (A name that existed here before cannot be told apart, so it is not checked.)"""
    watched = [n for n in ifnames if not _here_has(n)]
    try:
        yield
    finally:
        leaked = [n for n in watched if _here_has(n)]
        for name in leaked:
            subprocess.run(["ip", "link", "delete", name], capture_output=True, timeout=10)
        if leaked:
            raise RuntimeError(f"interfaces {leaked} were created outside the test namespace; deleted them")


def add_tap(ns: str, ifname: str, address: str | None = None, prefixlen: int = 24, mtu: int | None = None) -> str:
    """A persistent TAP ``ifname`` inside ``ns`` with the kernel's side at ``address``, up; returns its MAC.  The
    carrier comes up when a process opens it (:class:`lwipy.netif.tap.TapDevice` with ``netns=ns``)."""
    with _not_here(ifname):
        if NetNS is not None:
            with NetNS(ns) as ipr:
                ipr.link("add", ifname=ifname, kind="tuntap", mode="tap")
        else:
            _ip("-n", ns, "tuntap", "add", "dev", ifname, "mode", "tap")
    _configure(ns, ifname, address, prefixlen, mtu)
    return link_mac(ns, ifname)


def add_tun(ns: str, ifname: str, address: str | None = None, prefixlen: int = 24, mtu: int | None = None) -> None:
    """A persistent TUN ``ifname`` (a point-to-point link carrying bare IP packets) inside ``ns`` with the kernel's
    side at ``address``, up.  The carrier comes up when a process opens it (:class:`lwipy.netif.tun.TunDevice`)."""
    with _not_here(ifname):
        if NetNS is not None:
            with NetNS(ns) as ipr:
                ipr.link("add", ifname=ifname, kind="tuntap", mode="tun")
        else:
            _ip("-n", ns, "tuntap", "add", "dev", ifname, "mode", "tun")
    _configure(ns, ifname, address, prefixlen, mtu)


def add_veth_pair(ns_a: str, if_a: str, addr_a: str, ns_b: str, if_b: str, addr_b: str, prefixlen: int = 24) -> None:
    """A veth pair made inside ``ns_a`` with its peer moved to ``ns_b``, both addressed and up."""
    with _not_here(if_a, if_b):
        if NetNS is not None:
            with NetNS(ns_a) as ipr:
                ipr.link("add", ifname=if_a, kind="veth", peer={"ifname": if_b})
                ipr.link("set", index=ipr.link_lookup(ifname=if_b)[0], net_ns_fd=ns_b)
        else:
            _ip("-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b)
            _ip("-n", ns_a, "link", "set", if_b, "netns", ns_b)
    _configure(ns_a, if_a, addr_a, prefixlen, None)
    _configure(ns_b, if_b, addr_b, prefixlen, None)


def link_mac(ns: str, ifname: str) -> str:
    """The MAC address of ``ifname`` in ``ns``, as ``aa:bb:...``."""
    if NetNS is not None:
        with NetNS(ns) as ipr:
            link = ipr.get_links(ifname=ifname)[0]
            return link.get_attr("IFLA_ADDRESS").lower()
    out = _ip("-n", ns, "-o", "link", "show", ifname)
    return re.search(r"link/ether ([0-9a-f:]{17})", out).group(1)  # type: ignore[union-attr]


def ns_run(ns: str, argv: Sequence[str], timeout: float = 30.0, check: bool = False,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``ns`` (``ip netns exec``), capturing text output; bounded by ``timeout``.  On a timeout
    the child is killed (by subprocess.run, by its PID) and TimeoutExpired propagates."""
    done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout,
                          input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {ns} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def ns_python(ns: str, script: str, *args: str, timeout: float = 30.0, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
    """Run a Python ``script`` (this interpreter, ``-I``: no user site, no cwd on the path) inside ``ns``."""
    return ns_run(ns, [sys.executable, "-I", "-c", script, *args], timeout=timeout, check=check)


class PingStats:
    """What ping(8) printed: its summary line and the per-reply lines."""

    def __init__(self, transmitted: int, received: int, loss: float, duplicates: int, errors: int,
                 rtts_ms: list[float], reply_bytes: list[int], text: str) -> None:
        self.transmitted = transmitted
        self.received = received
        self.loss = loss
        self.duplicates = duplicates
        self.errors = errors
        self.rtts_ms = rtts_ms
        self.reply_bytes = reply_bytes
        self.text = text

    def __repr__(self) -> str:
        return (f"<PingStats {self.transmitted} sent {self.received} received {self.loss}% loss "
                f"+{self.duplicates} dup +{self.errors} err>")


_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received(?:, \+(\d+) duplicates)?"
                      r"(?:, \+(\d+) errors)?, ([\d.]+)% packet loss")
_REPLY = re.compile(r"^(\d+) bytes from [\w.:%]+: icmp_seq=\d+ ttl=\d+ time=([\d.]+) ms", re.M)  # IPv4 and IPv6


def parse_ping(text: str) -> PingStats:
    """Parse iputils ping output; raises AssertionError when it has no summary line."""
    m = _SUMMARY.search(text)
    if m is None:
        raise AssertionError(f"no ping summary in:\n{text}")
    replies = _REPLY.findall(text)
    return PingStats(int(m.group(1)), int(m.group(2)), float(m.group(5)), int(m.group(3) or 0),
                     int(m.group(4) or 0), [float(t) for _, t in replies], [int(b) for b, _ in replies], text)
