"""Two PPPoS endpoints on an in-process serial line inside a :class:`lwipy.sim.Simulation` (virtual time)."""

from __future__ import annotations

from typing import Any

from lwipy.netif.pppos import PpposDevice, SerialPipe, pppos_create
from lwipy.ppp import PppSettings
from lwipy.sim import Simulation
from lwipy.wire.ppp import CpPacket, Deframer


class PppSimLink:
    """A simulation driver for PPPoS devices: serial bytes move at once (the simulation settles until no pipe holds
    any), the sessions' timers fire in virtual time.  ``sim.stacks`` get one PPP netif each."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.ends: list[tuple[Any, Any, PpposDevice]] = []
        #: every frame written on a line: (time, writer's stack name, protocol, information), as sent (before any
        #: corruption)
        self.log: list[tuple[float, str, int, bytes]] = []
        sim.add_driver(self)

    def add(self, stack: Any, serial: SerialPipe, settings: PppSettings, **kw: Any) -> tuple[Any, PpposDevice]:
        deframer = Deframer(max_frame=65536)
        write = serial.write

        def logged(data: bytes | memoryview) -> int:
            for protocol, info in deframer.feed(data):
                self.log.append((self.sim.now, stack.name, protocol, info))
            return write(data)
        serial.write = logged  # type: ignore[method-assign]
        netif, dev = pppos_create(stack, serial, settings, clock=self.sim.clock, **kw)
        self.ends.append((stack, netif, dev))
        return netif, dev

    def pair(self, a: Any, b: Any, client: PppSettings, server: PppSettings, *, seed: int = 0,
             corrupt: float = 0.0) -> tuple[PpposDevice, PpposDevice]:
        sa, sb = SerialPipe.pair(seed, corrupt)
        _, db = self.add(b, sb, server)
        _, da = self.add(a, sa, client)
        return da, db

    def poll(self, now: float) -> bool:
        did = False
        for stack, netif, dev in self.ends:
            due = dev.poll_at()
            if due is not None and due <= now:
                dev.poll(now)
                did = True
            if dev.pending() or (dev.serial.hangup and not dev.hung_up):
                packets = dev.receive()
                did = True
                if packets:
                    stack.input_many(netif, packets, now)
        return did

    def poll_at(self) -> float | None:
        times = []
        for _, _, dev in self.ends:
            if dev.pending():
                return self.sim.now
            t = dev.poll_at()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def control(self, who: str, protocol: int, code: int | None = None) -> list[tuple[float, CpPacket]]:
        """The control packets of ``protocol`` that ``who`` sent (of ``code`` only, if given), with their times."""
        out = []
        for t, name, p, info in self.log:
            if name == who and p == protocol:
                cp = CpPacket.parse(info)
                if code is None or cp.code == code:
                    out.append((t, cp))
        return out
