"""What the examples share: a network for the example's device, and its counterpart.

Each example is ESP-IDF's socket example of the same name, written for lwipy's sockets (``SocketApi``, shaped like
Python's ``socket`` module).  It runs in one of two places:

- on the built-in virtual network (the default, no root needed): the device, an lwipy stack at 192.168.4.2, shares a
  virtual Ethernet hub with a peer stack at 192.168.4.1, where the example's counterpart runs (what ESP-IDF's
  README has you run on a PC: a client for a server example, a server for a client example);
- on a TAP (``--tap NAME --ip ADDR/LEN``): the device's stack is on the TAP, and the counterpart is whatever you run
  on the host side (``--peer`` is its address, by default the gateway or the first address of the subnet).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from lwipy import Config, Stack  # noqa: E402
from lwipy.api import SocketApi, StackLoop  # noqa: E402
from lwipy.netif import VirtualHub  # noqa: E402

DEVICE_IP = "192.168.4.2"
PEER_IP = "192.168.4.1"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tap", help="run the device on this TAP device instead of the virtual network")
    p.add_argument("--netns", help="the network namespace the TAP lives in")
    p.add_argument("--ip", default=f"{DEVICE_IP}/24", help="the device's address/prefix length on the TAP")
    p.add_argument("--gw", help="the gateway on the TAP")
    p.add_argument("--peer", help="the counterpart's address (default: the gateway, or the subnet's first address)")
    return p


class Network:
    """The device's socket API, where its counterpart is, and (on the virtual network) the counterpart's."""

    def __init__(self, api: SocketApi, device_ip: str, peer_ip: str, peer_api: SocketApi | None,
                 loops: list[StackLoop]) -> None:
        #: the device's sockets
        self.api = api
        #: the address of the counterpart
        self.peer_ip = peer_ip
        #: the counterpart's sockets on the virtual network (None on a TAP)
        self.peer_api = peer_api
        #: the device's own address
        self.device_ip = device_ip
        self._loops = loops
        self._threads: list[threading.Thread] = []

    def counterpart(self, fn: Callable[..., Any], serves: bool = False) -> None:
        """Run ``fn(peer_api)`` on a thread (the virtual network only; on a TAP the host runs the counterpart).

        A counterpart that ``serves`` is called as ``fn(peer_api, ready)`` and calls ``ready()`` once it listens;
        this returns only then, so the device never talks to a port that is not open yet."""
        if self.peer_api is None:
            return
        listening = threading.Event()
        args = (self.peer_api, listening.set) if serves else (self.peer_api,)
        t = threading.Thread(target=fn, args=args, daemon=True, name="counterpart")
        t.start()
        self._threads.append(t)
        if serves:
            while not listening.wait(0.1):
                if not t.is_alive():
                    raise SystemExit("the counterpart ended before it listened")

    def join(self, timeout: float = 10.0) -> None:
        for t in self._threads:
            t.join(timeout)


@contextlib.contextmanager
def network(args: argparse.Namespace, **options: Any) -> Iterator[Network]:
    """The device's network as ``args`` say; everything stops when the ``with`` ends."""
    cfg = Config(**options)
    loops: list[StackLoop] = []
    apis: list[SocketApi] = []
    try:
        if args.tap:
            from lwipy.netif.tap import TapDevice
            stack = Stack(cfg, name="device")
            iface = ipaddress.ip_interface(args.ip)
            stack.add_netif(TapDevice(args.tap, netns=args.netns), ip=args.ip, gateway=args.gw)
            loops.append(StackLoop(stack).start())
            apis.append(SocketApi(loops[0]))
            peer = args.peer or args.gw or str(next(iface.network.hosts()))
            net = Network(apis[0], str(iface.ip), peer, None, loops)
        else:
            hub = VirtualHub()
            device, peer_stack = Stack(cfg, name="device", seed=1), Stack(cfg, name="peer", seed=2)
            device.add_netif(hub.port("device"), ip=f"{DEVICE_IP}/24", gateway=PEER_IP)
            peer_stack.add_netif(hub.port("peer"), ip=f"{PEER_IP}/24")
            loops += [StackLoop(device).start(), StackLoop(peer_stack).start()]
            apis += [SocketApi(loops[0]), SocketApi(loops[1])]
            net = Network(apis[0], DEVICE_IP, args.peer or PEER_IP, apis[1], loops)
        yield net
        net.join()
    finally:
        for api in apis:
            api.close_all()
        for loop in loops:
            loop.stop()
            loop.close()
        for loop in loops:
            for netif in loop.stack.netifs:
                close = getattr(netif.device, "close", None)
                if close is not None:
                    close()


def log(tag: str, text: str) -> None:
    """ESP-IDF's ESP_LOGI, more or less."""
    print(f"I ({tag}) {text}", flush=True)
