"""Both DHCP state machines fuzzed: in every state, random messages (right or wrong xid and MAC, any type, random
options, raw garbage) never raise (the simulation is strict: an exception fails the test) and leave them consistent."""

from __future__ import annotations

import os
import sys
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "apps"))
from dhcp_net import Net, ScriptedServer  # noqa: E402

from helpers import examples  # noqa: E402

from lwipy import Config  # noqa: E402
from lwipy.apps import DhcpClient, DhcpServer, DhcpState  # noqa: E402
from lwipy.wire import dhcp as w  # noqa: E402
from lwipy.wire.dhcp import DhcpMessage  # noqa: E402

pytestmark = pytest.mark.slow  # fuzzing: the quick tier (-m "not slow") leaves it out
IP = IPv4Address
CLIENT_MAC = bytes.fromhex("240ac4000001")
# how far to run a client against a scripted server to reach each state
STATES = {
    DhcpState.OFF: None, DhcpState.INIT: "link down", DhcpState.SELECTING: "silent", DhcpState.REQUESTING: "no ack",
    DhcpState.CHECKING: 0.2, DhcpState.BOUND: 2.0, DhcpState.RENEWING: 301.0, DhcpState.REBINDING: 526.0,
    DhcpState.REBOOTING: "reboot", DhcpState.BACKING_OFF: "squatter",
}

option = st.tuples(st.integers(1, 254).filter(lambda c: c != w.OVERLOAD),
                   st.one_of(st.binary(max_size=12), st.sampled_from([b"\x0a\x00\x00\x01", b"\x00\x00\x00\x3c",
                                                                       b"\xff\xff\xff\x00"])))
known_option = st.tuples(st.sampled_from([w.SUBNET_MASK, w.ROUTER, w.DNS_SERVER, w.LEASE_TIME, w.T1, w.T2,
                                          w.SERVER_ID, w.NTP_SERVER, w.REQUESTED_IP]),
                         st.binary(min_size=0, max_size=9))


@st.composite
def messages(draw, xid: int, mac: bytes, op: int):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    msg = DhcpMessage(op=draw(st.sampled_from([op, op, op, 3 - op])),
                      xid=xid if draw(st.booleans()) else draw(st.integers(0, 2**32 - 1)),
                      chaddr=mac if draw(st.integers(0, 3)) else draw(st.binary(min_size=6, max_size=6)),
                      ciaddr=IP(draw(st.sampled_from([0, 0x0A000032, 0xC0A80402, draw(st.integers(0, 2**32 - 1))]))),
                      yiaddr=IP(draw(st.sampled_from([0, 0x0A000032, 0x0A000033, 0xC0A80402,
                                                      draw(st.integers(0, 2**32 - 1))]))))
    if draw(st.integers(0, 5)):
        msg.add(w.MESSAGE_TYPE, draw(st.integers(0, 10)))
    for code, value in draw(st.lists(st.one_of(option, known_option), max_size=6)):
        msg.add(code, value)
    data = msg.emit()
    if draw(st.integers(0, 5)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


def client_in(state: DhcpState):
    """A client driven into ``state`` against a scripted server (silent from then on)."""
    net = Net(seed=3)
    server = ScriptedServer(net, lease=600)
    stack, netif = net.stack("client", Config(dhcp_restore_last_ip=state == DhcpState.REBOOTING),
                             hwaddr=CLIENT_MAC)
    dhcp = DhcpClient(stack, netif, last_ip="10.0.0.50")
    how = STATES[state]
    if how == "link down":
        netif.set_link_up(False)
    elif how in ("silent", "reboot"):
        server.mode = "silent"
    elif how == "no ack":
        orig = server._reply
        server._reply = lambda req, t, inform=False: orig(req, t, inform) if t == w.OFFER else None
    elif how == "squatter":
        net.stack("squatter", ip="10.0.0.50/24")
    if how is not None:
        dhcp.start()
    if isinstance(how, float):
        net.sim.run(min(how, 2.0))
        server.mode = "silent"
        net.sim.run(how - min(how, 2.0))
    else:
        net.sim.run(1.0)
    server.mode = "silent"
    return net, server, stack, netif, dhcp


def test_every_state_is_reachable():
    for state in STATES:
        net, server, stack, netif, dhcp = client_in(state)
        assert dhcp.state == state, (state, dhcp.state)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(STATES)), st.data())
def test_client_random_messages_in_every_state(state, data):
    net, server, stack, netif, dhcp = client_in(state)
    server.mode = "silent"
    raw_stack, raw_netif = net.stack("raw", ip="10.0.0.2/24")
    pcb = raw_stack.udp.new()
    pcb.bind(None, 67)
    for frame in data.draw(st.lists(messages(dhcp.xid, CLIENT_MAC, w.BOOTREPLY), min_size=1, max_size=6)):
        pcb.sendto_netif(frame, "255.255.255.255", 68, raw_netif)
        net.sim.run(data.draw(st.sampled_from([0.0, 0.3, 1.0, 30.0])))
    net.sim.run(5)
    assert isinstance(dhcp.state, DhcpState)
    if dhcp.state == DhcpState.BOUND:
        assert netif.ip4 is not None and dhcp.lease is not None and netif.ip4.ip == dhcp.lease.address
    due = dhcp.poll_at()
    assert due is None or due >= net.sim.now or dhcp.state == DhcpState.OFF


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 4), st.data())
def test_server_random_requests_with_any_number_of_leases(clients, data):
    net = Net(seed=4)
    stack, netif = net.stack("ap", Config(dhcps_max_station_num=3, dhcps_lease_unit=1), ip="192.168.4.1/24")
    server = DhcpServer(stack, netif, lease_time=20, static_leases={"02:00:00:00:00:09": "192.168.4.9"})
    server.start()
    for n in range(clients):
        s, ni = net.stack(f"sta{n}", hwaddr=bytes([2, 0, 0, 0, 0, n]))
        DhcpClient(s, ni).start()
    net.sim.run(data.draw(st.sampled_from([0.5, 3.0, 25.0])))
    raw, raw_netif = net.stack("raw", hwaddr=bytes([2, 0, 0, 0, 0, 9]))
    pcb = raw.udp.new()
    pcb.bind(None, 68)
    macs = [bytes([2, 0, 0, 0, 0, n]) for n in range(10)]
    for frame in data.draw(st.lists(messages(0x1234, data.draw(st.sampled_from(macs)), w.BOOTREQUEST),
                                    min_size=1, max_size=8)):
        pcb.sendto_netif(frame, "255.255.255.255", 67, raw_netif)
        net.sim.run(data.draw(st.sampled_from([0.0, 1.0, 10.0])))
    # the server is consistent and still serves
    addrs = [lease.ip for lease in server.leases.values()]
    assert len(addrs) == len(set(addrs))
    assert sum(not x.static for x in server.leases.values()) <= 3
    assert all(server.pool[0] <= a <= server.pool[1] or a == IP("192.168.4.9") for a in addrs)
    s, ni = net.stack("late", hwaddr=bytes([2, 0, 0, 0, 0, 0x77]))
    late = DhcpClient(s, ni)
    late.start()
    assert net.sim.run_until(lambda: late.state == DhcpState.BOUND, 60)
