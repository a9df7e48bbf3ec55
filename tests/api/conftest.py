"""Two stacks, each on its own core thread (StackLoop), on one virtual hub, in real time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from lwipy import Config, Stack
from lwipy.api import SocketApi, StackLoop
from lwipy.netif import FaultyDevice, VirtualHub


@dataclass
class Net:
    hub: VirtualHub
    a: Stack
    b: Stack
    la: StackLoop
    lb: StackLoop
    sa: SocketApi  # the socket API of stack a
    sb: SocketApi
    dev: Any = None  # stack a's device (a FaultyDevice when ``faults`` were given)


@pytest.fixture(params=[False, True], ids=["messages", "core_locking"])
def make_net(request):
    """``make_net(faults=None, **options)``: stacks a (10.0.0.1) and b (10.0.0.2) with Config(**options), loops
    started, a's link a FaultyDevice(**faults) when given; stopped after the test.  Every test that uses it runs
    twice: with API calls as messages to the core thread (ESP-IDF's default) and with core locking
    (``tcpip_core_locking``), unless its options say which."""
    made: list[Net] = []

    def make(faults: dict[str, Any] | None = None, **options: Any) -> Net:
        hub = VirtualHub()
        cfg = Config(**{"tcpip_core_locking": request.param, **options})
        a = Stack(cfg, seed=1, name="a", strict=True)
        b = Stack(cfg, seed=2, name="b", strict=True)
        dev = hub.port("a") if faults is None else FaultyDevice(hub.port("a"), **faults)
        a.add_netif(dev, ip="10.0.0.1/24")
        b.add_netif(hub.port("b"), ip="10.0.0.2/24")
        la, lb = StackLoop(a).start(), StackLoop(b).start()
        net = Net(hub, a, b, la, lb, SocketApi(la), SocketApi(lb), dev)
        made.append(net)
        return net

    yield make
    for net in made:
        net.sa.close_all()
        net.sb.close_all()
        net.la.stop()
        net.lb.stop()
        net.la.close()
        net.lb.close()


@pytest.fixture
def net(make_net) -> Net:
    return make_net()
