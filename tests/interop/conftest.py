"""Fixtures that put a lwipy stack on a TAP inside a fresh network namespace, facing the Linux kernel.

Per test: a namespace ``lwipy-<pid>-<n>`` (IPv6 off, loopback up) holding a TAP ``ltap0`` whose kernel side is
10.77.0.1/24; the test process opens the TAP from outside the namespace (``TapDevice(name, netns=ns)``) and runs a
lwipy :class:`~lwipy.Stack` at 10.77.0.2/24 on it, on a :class:`~lwipy.api.loop.StackLoop` thread, with every frame
recorded by a :class:`~lwipy.netif.pcap.PcapDevice` into the test's ``tmp_path``.  The kernel side is driven with its
own tools through ``ip netns exec``.  Teardown stops the loop, closes the TAP and deletes the namespace, also when the
test failed.

Without root or /dev/net/tun the tests skip, except under ``CI=true`` where they fail: a CI job that meant to run them
must not go green by skipping them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest

import interop_netns as nsx
from lwipy import Config, Netif, Stack
from lwipy.api.loop import StackLoop
from lwipy.apps import PingSession
from lwipy.netif.faults import FaultyDevice
from lwipy.netif.pcap import PcapDevice
from lwipy.netif.tap import TapDevice
from lwipy.netif.tun import TunDevice
from lwipy.wire.ethernet import mac_to_str

T = TypeVar("T")

KERNEL_IP, LWIP_IP, PREFIX, TAP = nsx.KERNEL_IP, nsx.LWIP_IP, nsx.PREFIX, nsx.TAP
_HERE = Path(__file__).parent.resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: talks to the Linux kernel in a network namespace (root, /dev/net/tun)")
    config.addinivalue_line("markers", "lwip_config(**options): extra Config options for the lwip fixture's stack")
    config.addinivalue_line("markers", "ipv6: the test's namespace has IPv6 on")
    config.addinivalue_line("markers", "lwip_device(faults=None, pcap=True, offload=False, tun=False, tx_queue=None, "
                            "tx_rate=100e6): a FaultyDevice around the TAP, no pcap, the TAP with checksum and "
                            "segmentation offload, a TUN (a point-to-point link) instead of the TAP, the TAP driver's "
                            "bounded transmit queue; the markers of a test merge, the closest winning")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)


def require_interop() -> None:
    """Skip (or under CI=true fail) when this machine cannot run the interop tests."""
    problem = nsx.requirements_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the interop tests cannot run: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def netns(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh network namespace, deleted afterwards (with IPv6 on for tests marked ``ipv6``)."""
    require_interop()
    with nsx.namespace(ipv6=request.node.get_closest_marker("ipv6") is not None) as name:
        yield name


@dataclass
class KernelTap:
    ns: str
    ifname: str
    ip: str
    mac: str


def device_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``lwip_device`` options of a test: its markers merged, the closest (a parameter's) winning."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("lwip_device"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def kernel_tap(netns: str, request: pytest.FixtureRequest) -> KernelTap:
    """A TAP inside the namespace, kernel side at 10.77.0.1/24 and up (it goes away with the namespace); with
    ``lwip_device(tun=True)`` a TUN ``ltun0`` instead (``mac`` is then empty: a point-to-point link has none)."""
    if device_options(request).get("tun"):
        nsx.add_tun(netns, nsx.TUN, KERNEL_IP, PREFIX)
        return KernelTap(netns, nsx.TUN, KERNEL_IP, "")
    mac = nsx.add_tap(netns, TAP, KERNEL_IP, PREFIX)
    return KernelTap(netns, TAP, KERNEL_IP, mac)


@dataclass
class Lwip:
    """A running lwipy stack on the namespace's TAP, and helpers to drive both ends."""

    ns: str
    kernel: KernelTap
    stack: Stack
    netif: Netif
    loop: StackLoop
    device: Any
    pcap_path: Path
    ip: str = LWIP_IP
    kernel_ip: str = KERNEL_IP
    stopped: bool = False

    def stop(self) -> None:
        """Stop the stack's loop now and wait for its thread to end, so that the capture is complete (a loaded machine
        can take longer than StackLoop.stop's default 5 s, and tshark then reads a record half written); teardown
        stops it otherwise."""
        self.stopped = True
        self.loop.stop(timeout=nsx.GENEROUS)
        thread = self.loop._thread
        assert thread is None or not thread.is_alive(), "the stack's loop did not stop"

    @property
    def mac(self) -> str:
        return mac_to_str(self.netif.hwaddr)

    def call(self, fn: Callable[[], T], timeout: float = nsx.GENEROUS) -> T:
        """Run ``fn`` on the stack's thread and return its result."""
        return self.loop.call(fn, timeout)

    def stats(self) -> dict[str, dict[str, int]]:
        """A consistent snapshot of the stack's counters."""
        return self.call(lambda: self.stack.stats.as_dict())  # (read on the stack's thread: stats14's fold writes)

    def run(self, argv: list[str], timeout: float = 30.0, check: bool = False):
        """A command in the namespace (the kernel's side)."""
        return nsx.ns_run(self.ns, argv, timeout=timeout, check=check)

    def python(self, script: str, *args: str, timeout: float = 30.0, check: bool = True):
        """A Python script in the namespace (the kernel's side)."""
        return nsx.ns_python(self.ns, script, *args, timeout=timeout, check=check)

    def kernel_ping(self, *opts: str, timeout: float = 30.0) -> nsx.PingStats:
        """ping(8) from the kernel to lwipy; ``opts`` go before the address."""
        done = self.run(["ping", *opts, self.ip], timeout=timeout)
        return nsx.parse_ping(done.stdout + done.stderr)

    def stack_ping(self, target: str, *, count: int, interval: float, timeout: float = 1.0, size: int = 56,
                   wait: float | None = None) -> PingSession:
        """Ping ``target`` from lwipy (a PingSession made on the stack's thread) and wait until it ends."""
        ended = threading.Event()
        session = self.call(lambda: PingSession(self.stack, target, count=count, interval=interval, timeout=timeout,
                                                size=size, on_end=lambda s: ended.set()))
        limit = wait if wait is not None else count * interval + timeout + 5.0
        if not ended.wait(limit):
            raise AssertionError(f"the ping session did not end within {limit:.1f} s: sent {session.sent}, "
                                 f"{session.received} replies")
        return session

    def wait_for(self, predicate: Callable[[], bool], timeout: float = nsx.GENEROUS, what: str = "condition") -> None:
        """Poll ``predicate`` (evaluated on the stack's thread) until true, failing after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(predicate):
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def make_config(request: pytest.FixtureRequest) -> Config:
    options: dict[str, Any] = {"ip4_reassembly": True, "ip_reass_max_pbufs": 64}
    marker = request.node.get_closest_marker("lwip_config")
    if marker is not None:
        options.update(marker.kwargs)
    return Config(**options)


@pytest.fixture
def lwip(kernel_tap: KernelTap, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lwip]:
    """lwipy at 10.77.0.2/24 on the TAP (or TUN), running on its own thread, every frame written to
    ``tmp_path/lwip.pcap``."""
    stack = Stack(make_config(request), seed=7, name="lwip-interop")
    options = device_options(request)
    offload = options.get("offload", False)
    opener = TunDevice if options.get("tun") else TapDevice
    tap = opener(kernel_tap.ifname, netns=kernel_tap.ns, offload=offload, tx_queue=options.get("tx_queue"),
                 tx_rate=options.get("tx_rate", 100e6))
    pcap_path = tmp_path / "lwip.pcap"
    faults = options.get("faults")
    pcap = options.get("pcap", True)
    try:
        inner: Any = FaultyDevice(tap, seed=11, **faults) if faults else tap
        device = PcapDevice(inner, str(pcap_path)) if pcap else inner
    except BaseException:
        tap.close()
        raise
    loop: StackLoop | None = None
    lw: Lwip | None = None
    try:
        netif = stack.add_netif(device, ip=f"{LWIP_IP}/{PREFIX}")
        loop = StackLoop(stack).start()
        lw = Lwip(kernel_tap.ns, kernel_tap, stack, netif, loop, device, pcap_path)
        yield lw
    finally:
        alive = loop is not None and loop._thread is not None and (loop._thread.is_alive() or (lw is not None and lw.stopped))
        if loop is not None:
            loop.stop()
            loop.close()
        device.close()
    # checked after the cleanup, so that a failure here still leaves nothing behind
    assert loop is None or alive, "the stack's loop thread died during the test (see the thread exception above)"
    assert stack.stats.link.err == 0, f"internal errors in the stack (stats.link.err={stack.stats.link.err}); see the log"
