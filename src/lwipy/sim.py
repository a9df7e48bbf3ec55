"""Several stacks on virtual links, driven from one thread in virtual (or real) time.

::

    sim = Simulation(seed=1)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24", faults=dict(loss=0.02))
    sim.run_until(lambda: done, timeout=10)

Virtual time jumps straight to the next deadline (a stack's ``poll_at``, a delayed frame), so a run of minutes takes
milliseconds and repeats exactly for a seed.  With ``realtime=True`` the same loop sleeps instead, for demos.

A fleet: ``sim.fleet(1000)`` puts a thousand stacks, each with a DHCP client, and one stack with the DHCP server on
one segment; ``sim.run_until(fleet.all_bound)`` runs until every one holds a lease::

    sim = Simulation(seed=1)
    fleet = sim.fleet(1000)
    sim.run_until(fleet.all_bound, timeout=60)
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .config import Config
from .core.device import ETHERNET
from .core.netif import Netif
from .core.stack import Stack
from .netif.device import Device
from .netif.faults import FaultyDevice
from .netif.pcap import PcapWriter, linktype_of
from .netif.txqueue import TxQueue
from .netif.virtual import VirtualHub

if TYPE_CHECKING:
    from .apps.dhcp import DhcpClient
    from .apps.dhcps import DhcpServer

__all__ = ["Simulation", "Fleet", "Driver", "Bridge"]


class Driver(Protocol):
    """Anything besides the stacks that has work at times (an esp_event loop without a task): ``poll(now)`` does
    what is due and says whether it did anything, ``poll_at()`` says when (None: nothing pending)."""

    def poll(self, now: float) -> bool | None: ...

    def poll_at(self) -> float | None: ...


class _Calls:
    """Functions to run at given simulated times (:meth:`Simulation.call_at`): a :class:`Driver`."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Callable[[], Any]]] = []
        self.seq = itertools.count()

    def poll(self, now: float) -> bool:
        ran = False
        while self.heap and self.heap[0][0] <= now:
            _, _, fn = heapq.heappop(self.heap)
            fn()
            ran = True
        return ran

    def poll_at(self) -> float | None:
        return self.heap[0][0] if self.heap else None


class Bridge:
    """A simulation's segment joined to a device outside it (a TAP to the kernel): frames the hub carries go out of the
    device, frames the device receives go onto the hub through an uplink port.  A :class:`Driver`, polled every
    ``period`` seconds (``Simulation.bridge`` makes and registers it)."""

    def __init__(self, hub: VirtualHub, device: Device, clock: Callable[[], float], period: float = 0.001) -> None:
        self.port = hub.port("bridge", uplink=True)
        self.device = device
        self.clock = clock
        self.period = period
        self.frames_out = self.frames_in = 0
        self._next = clock()

    def poll(self, now: float) -> bool:
        self._next = now + self.period
        moved = 0
        for frame in self.port.receive():
            moved += 1
            if self.device.transmit(frame):
                self.frames_out += 1
        for frame in self.device.receive():
            moved += 1
            self.port.transmit(getattr(frame, "frame", frame))  # an RxOffload: its frame
            self.frames_in += 1
        return moved > 0

    def poll_at(self) -> float | None:
        return self._next


@dataclass
class Fleet:
    """What :meth:`Simulation.fleet` made: the DHCP server's stack (None when the fleet asks a server outside) and the
    client stacks with their clients."""

    server: Stack | None
    server_netif: Netif | None
    dhcp_server: "DhcpServer | None"
    stacks: list[Stack] = field(default_factory=list)
    clients: list["DhcpClient"] = field(default_factory=list)

    def bound(self) -> int:
        """How many clients hold a lease (BOUND, RENEWING or REBINDING)."""
        return sum(c.supplied_address for c in self.clients)

    def all_bound(self) -> bool:
        """Whether every client holds a lease (a predicate for :meth:`Simulation.run_until`)."""
        return all(c.supplied_address for c in self.clients)

    def addresses(self) -> list[IPv4Address | None]:
        """Each client's leased address, in order (None: none yet)."""
        return [c.lease.address if c.lease is not None else None for c in self.clients]

_EPOCH = 1_700_000_000.0  # pcap timestamps of a virtual run start here, not in 1970


class Simulation:
    """A set of stacks and links sharing one clock."""

    def __init__(self, seed: int = 0, realtime: bool = False, strict: bool = True) -> None:
        self.rng = random.Random(seed)
        self.realtime = realtime
        self.strict = strict
        self._start = time.monotonic()
        self.now = 0.0
        self.stacks: list[Stack] = []
        self.attachments: list[tuple[Stack, Netif, Device]] = []
        self.hubs: list[VirtualHub] = []
        #: what else is driven with the stacks (see :meth:`add_driver`)
        self._calls = _Calls()
        self.drivers: list[Driver] = [self._calls]
        self._pcaps: list[PcapWriter] = []

    def clock(self) -> float:
        return self.now

    def hub(self, mtu: int = 1500, pcap: str | None = None, link_kind: str = ETHERNET, **options: Any) -> VirtualHub:
        """A new segment (an Ethernet hub, or with ``link_kind=POINT_TO_POINT`` a link for two stacks carrying bare IP
        packets); with ``pcap`` every frame on it is written to that file.  ``options`` go to
        :class:`~lwipy.netif.virtual.VirtualHub` (``switch``, ``isolation``, ``dhcp_to_unicast``, ``queue_len``)."""
        hub = VirtualHub(mtu, link_kind=link_kind, **options)
        if pcap is not None:
            writer = PcapWriter(pcap, linktype=linktype_of(link_kind))
            self._pcaps.append(writer)
            hub.taps.append(lambda port, frame: writer.write(frame, _EPOCH + self.now))
        self.hubs.append(hub)
        return hub

    def new_stack(self, name: str, config: Config | None = None) -> Stack:
        """A stack with no netif yet, seeded from the simulation."""
        stack = Stack(config, rng=random.Random(self.rng.getrandbits(64)), name=name, strict=self.strict)
        stack.now = self.now
        self.stacks.append(stack)
        return stack

    def attach(self, stack: Stack, hub: VirtualHub, *, faults: dict[str, Any] | None = None,
               txqueue: dict[str, Any] | None = None, port: dict[str, Any] | None = None, **netif: Any) -> Netif:
        """Give ``stack`` a netif on ``hub`` (keyword arguments as :meth:`Stack.add_netif`), behind a
        :class:`FaultyDevice` when ``faults`` are given and a bounded :class:`TxQueue` (``limit``, ``rate``) when
        ``txqueue`` is; ``port`` holds options of the hub's port (``tx_queue``, ``tx_rate``: the driver's own
        bounded transmit queue)."""
        device: Device = hub.port(netif.get("name") or stack.name, uplink=netif.pop("uplink", False), **(port or {}))
        if faults:
            faults = {"seed": self.rng.getrandbits(32), **faults}
            device = FaultyDevice(device, clock=self.clock, **faults)
        if txqueue is not None:
            device = TxQueue(device, clock=self.clock, **txqueue)
        device.set_clock(self.clock)  # a driver's own bounded queue (hub.port(tx_queue=...)) runs on virtual time
        nif = stack.add_netif(device, **netif)
        self.attachments.append((stack, nif, device))
        return nif

    def add_stack(self, name: str, hub: VirtualHub, config: Config | None = None, *,
                  faults: dict[str, Any] | None = None, txqueue: dict[str, Any] | None = None,
                  port: dict[str, Any] | None = None, **netif: Any) -> Stack:
        """A stack with one netif on ``hub``: the common case in one call."""
        stack = self.new_stack(name, config)
        self.attach(stack, hub, faults=faults, txqueue=txqueue, port=port, **netif)
        return stack

    def add_driver(self, driver: Driver) -> None:
        """Poll ``driver`` with the stacks: when its ``poll_at()`` is due, ``poll(now)`` runs (an
        :class:`~lwipy.esp_netif.EspEventLoop` made with ``task=False`` delivers its events so)."""
        self.drivers.append(driver)

    def call_at(self, when: float, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` when the simulated time reaches ``when`` (at once, in the next settle, when it has)."""
        heapq.heappush(self._calls.heap, (when, next(self._calls.seq), fn))

    def bridge(self, hub: VirtualHub, device: Device, period: float = 0.001) -> Bridge:
        """Join ``hub`` to ``device`` (say a :class:`~lwipy.netif.tap.TapDevice`, in real time) with a :class:`Bridge`."""
        bridge = Bridge(hub, device, self.clock, period)
        self.add_driver(bridge)
        return bridge

    def fleet(self, n: int, hub: VirtualHub | None = None, *, server: bool = True, server_ip: str = "10.0.0.1/16",
              pool: tuple[str, str] | None = None, config: Config | None = None,
              server_config: Config | None = None, prefix: str = "node", lease_time: int = 120,
              start_within: float = 0.0) -> Fleet:
        """``n`` stacks, each with a DHCP client started at once (host name ``prefix`` and its number), and (unless
        ``server`` is False: a server outside answers, through :meth:`bridge`) one stack ("dhcps") with a DHCP server
        at ``server_ip`` leasing from ``pool`` (default: the ``n`` addresses after the server's); all on ``hub``, by
        default a new one with ``switch``, ``isolation`` and ``dhcp_to_unicast`` (an access point as a fleet's would
        be: without them every broadcast reaches every station, n² deliveries).  The
        server's Config lets it keep ``n`` leases from a pool of ``n`` (``dhcps_max_station_num``,
        ``dhcps_max_lease``); the clients share ``config``.  With ``start_within`` each client starts at a random
        time in that many seconds (a fleet powered up over a while) instead of all at once."""
        from .apps.dhcp import DhcpClient
        from .apps.dhcps import DhcpServer

        if hub is None:
            hub = self.hub(switch=True, isolation=True, dhcp_to_unicast=True, queue_len=max(4096, 4 * n))
        out = Fleet(None, None, None)
        if server:
            iface = IPv4Interface(server_ip)
            if pool is None:
                first = iface.ip + 1
                pool = (str(first), str(first + n - 1))
            size = int(IPv4Address(pool[1])) - int(IPv4Address(pool[0])) + 1
            if server_config is None:
                server_config = Config(dhcps_max_station_num=max(n, 8), dhcps_max_lease=max(size, 100))
            out.server = self.add_stack("dhcps", hub, server_config, ip=server_ip, uplink=True)
            out.server_netif = out.server.netifs[-1]
            out.dhcp_server = DhcpServer(out.server, out.server_netif, pool=pool, lease_time=lease_time)
            out.dhcp_server.start()
        shared = config if config is not None else Config()
        for i in range(n):
            stack = self.add_stack(f"{prefix}{i}", hub, shared)
            client = DhcpClient(stack, stack.netifs[-1], hostname=f"{prefix}{i}")
            if start_within > 0:
                self.call_at(self.now + self.rng.uniform(0, start_within), client.start)
            else:
                client.start()
            out.stacks.append(stack)
            out.clients.append(client)
        return out

    # -- running -----------------------------------------------------------------------------------------------------
    def settle(self, limit: int = 100000) -> None:
        """Do everything due at the current time: deliver frames and poll stacks until nothing moves."""
        for _ in range(limit):
            if self.realtime:
                self._set_now(max(self.now, time.monotonic() - self._start))
            now = self.now
            moved = self._frames_moved()
            busy = False
            for stack, netif, device in self.attachments:
                device.poll(now)
                frames = device.receive()
                if frames:
                    busy = True
                    stack.input_many(netif, frames, now)
            for stack in self.stacks:
                due = stack.poll_at()
                if due is not None and due <= now:
                    stack.poll(now)
                    busy = True
            for driver in self.drivers:
                due = driver.poll_at()
                if due is not None and due <= now and driver.poll(now):
                    busy = True
            if not busy and self._frames_moved() == moved:
                return
        raise RuntimeError(f"the simulation did not settle at t={self.now}: something is due again at once, forever")

    def _frames_moved(self) -> int:
        return sum(hub.forwarded for hub in self.hubs)

    def next_time(self) -> float | None:
        times = [s.poll_at() for s in self.stacks] + [d.poll_at() for _, _, d in self.attachments]
        times += [d.poll_at() for d in self.drivers]
        later = [t for t in times if t is not None]
        return max(min(later), self.now) if later else None

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Run until ``predicate()`` holds (True) or ``timeout`` seconds of simulated time pass (False)."""
        end = self.now + timeout
        while True:
            self.settle()
            if predicate():
                return True
            nxt = self.next_time()
            if nxt is None or nxt > end:
                self._advance(end)
                self.settle()
                return predicate()
            self._advance(nxt)

    def run(self, duration: float) -> None:
        """Run for ``duration`` seconds of simulated time."""
        self.run_until(lambda: False, duration)

    def _advance(self, t: float) -> None:
        if self.realtime:
            delay = t - (time.monotonic() - self._start)
            if delay > 0:
                time.sleep(delay)
            t = max(t, time.monotonic() - self._start)
        self._set_now(t)

    def _set_now(self, t: float) -> None:
        self.now = t
        for stack in self.stacks:
            stack.now = t

    def close(self) -> None:
        for writer in self._pcaps:
            writer.close()
