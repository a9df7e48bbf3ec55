"""Shared test helpers: a device that records what a stack sends, and a stack wired to one."""

from __future__ import annotations

import struct
from typing import Any, Callable

from hypothesis import settings

from lwipy import Config, Stack
from lwipy.netif.device import ETHERNET, Device

PEER_MAC = bytes.fromhex("020000000099")
OWN_MAC = bytes.fromhex("020000000001")


def examples(full: int) -> int:
    """A test's hypothesis example count under the loaded profile: ``full`` under ``ci``, a tenth under ``dev``
    (tests/conftest.py registers both)."""
    return max(1, full * settings().max_examples // settings.get_profile("ci").max_examples)


class CaptureDevice(Device):
    """Records every transmitted frame; ``full`` makes transmit refuse (a full driver queue).  ``link_kind``
    POINT_TO_POINT makes it a point-to-point device (bare IP packets) with ``interface_id``."""

    def __init__(self, mtu: int = 1500, link_kind: str = ETHERNET, interface_id: bytes | None = None) -> None:
        self.mtu = mtu
        self.link_kind = link_kind
        self.interface_id = interface_id
        self.sent: list[bytes] = []
        self.full = False

    def transmit(self, frame: bytes | bytearray | memoryview) -> bool:
        if self.full:
            return False
        self.sent.append(bytes(frame))
        return True

    def take(self) -> list[bytes]:
        out, self.sent = self.sent, []
        return out


def make_stack(ip: str = "10.0.0.1/24", gateway: str | None = None, seed: int = 7, **options: Any):
    """A strict stack with one netif on a :class:`CaptureDevice`; the gratuitous ARP it sends is discarded."""
    stack = Stack(Config(**options), seed=seed, strict=True)
    dev = CaptureDevice()
    netif = stack.add_netif(dev, ip=ip, gateway=gateway, hwaddr=OWN_MAC)
    dev.take()
    return stack, netif, dev


def arp_from_peer(ip: bytes = bytes([10, 0, 0, 2]), mac: bytes = PEER_MAC, own: bytes = bytes([10, 0, 0, 1])) -> bytes:
    """An ARP request from the peer (10.0.0.2) for our address: lwIP learns the peer (a dynamic, stable entry)."""
    return b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, bytes(6), own)


def fast_and_full_stacks(switch: Callable[[Stack, bool], Any], **options: Any) -> list[tuple[Stack, Any, CaptureDevice]]:
    """Two identical stacks for a fast path's differential tests (:func:`make_stack` at 10.0.0.1/24, gateway
    10.0.0.254, seed 3, ``Config(**options)``): ``switch(stack, on)`` turns the fast path on in the first and off in the
    second; each has learned the peer by ARP."""
    out = []
    for fast in (True, False):
        stack, netif, dev = make_stack(ip="10.0.0.1/24", gateway="10.0.0.254", seed=3, **options)
        switch(stack, fast)
        stack.input(netif, arp_from_peer(), 1.0)
        dev.take()
        out.append((stack, netif, dev))
    return out


def serve_collect(b, port, ip="::", v6only=False):
    """A TCP listener on ``b`` that appends everything its connections receive to ``got`` and closes on EOF."""
    lst = b.tcp.listen(port, ip, v6only=v6only)
    got = bytearray()
    conns = []

    def on_conn(listener):
        while (pcb := listener.accept()) is not None:
            conns.append(pcb)

            def on_event(p):
                while p.readable:
                    got.extend(p.recv())
                if p.at_eof and p.state_name == "CLOSE_WAIT":
                    p.close()
            pcb.on_event = on_event
            on_event(pcb)
    lst.on_event = on_conn
    return lst, got, conns


def send_all(sim, pcb, data):
    """Send ``data`` on ``pcb`` as the window allows, then close; ``sent[0]`` counts the bytes taken."""
    sent = [0]

    def pump(p=None):
        while sent[0] < len(data):
            k = pcb.send(memoryview(data)[sent[0]:])
            if not k:
                return
            sent[0] += k
        if pcb.state_name == "ESTABLISHED":
            pcb.close()
    pcb.on_event = pump
    return sent


def connected(sim, a, b, port=5000, ip="10.0.0.2"):
    """A connection from ``a`` to a listener on ``b`` (at ``ip``): (client pcb, accepted pcb, listener)."""
    listener = b.tcp.listen(port)
    accepted = []
    listener.on_event = lambda lst: accepted.append(lst.accept())
    client = a.tcp.connect(ip, port)
    assert sim.run_until(lambda: accepted and client.state_name == "ESTABLISHED", 30)
    return client, accepted[0], listener


def transfer(sim, sender, receiver, data, timeout=600):
    """Push ``data`` from ``sender`` to ``receiver`` (pcbs) as windows allow; what arrived, once all of it did."""
    got = bytearray()
    sent = [0]

    def pump(_=None):
        while sent[0] < len(data):
            n = sender.send(memoryview(data)[sent[0]:sent[0] + 65536])
            if not n:
                break
            sent[0] += n
        while receiver.readable:
            got.extend(receiver.recv())
        return len(got) >= len(data)

    sender.on_event = pump
    receiver.on_event = pump
    pump()
    assert sim.run_until(pump, timeout), f"stalled at {len(got)} of {len(data)} bytes"
    return bytes(got)
