"""lwIP's NetBIOS name service responder in-process: name queries (broadcast and unicast, any case, any suffix),
node status only with LWIP_NETBIOS_RESPOND_NAME_QUERY, and what it ignores."""


import errno

import pytest
from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusRequest, NBNSNodeStatusResponse, NBNSQueryResponse

from lwipy import Config
from lwipy.apps.netbiosns import NETBIOS_LWIP_NAME, NetbiosNameService
from lwipy.errors import LwipError
from lwipy.sim import Simulation
from lwipy.wire import netbios as nb


def setup(config=None):
    sim = Simulation(seed=1)
    hub = sim.hub()
    a = sim.add_stack("a", hub, config, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    pcb = b.udp.new()
    pcb.bind(None, 40137)
    return sim, a, b, pcb


def replies(pcb):
    out = []
    while (dg := pcb.recv()) is not None:
        out.append(dg)
    return out


def test_broadcast_name_query_answered_unicast_with_the_netifs_address():
    sim, a, b, pcb = setup()
    ns = NetbiosNameService(a, "esp32dev")
    assert ns.name == b"ESP32DEV"
    pcb.sendto(nb.name_query(0x77, "Esp32Dev"), "10.0.0.255", 137)
    pcb.sendto(nb.name_query(0x78, "ESP32DEV", suffix=0x20, broadcast=False), "10.0.0.1", 137)
    pcb.sendto(nb.name_query(0x79, "OTHER"), "10.0.0.255", 137)
    sim.run(0.1)
    got = replies(pcb)
    assert [str(d.src) for d in got] == ["10.0.0.1", "10.0.0.1"]
    for dg, tid in zip(got, (0x77, 0x78), strict=True):
        pkt = NBNSHeader(dg.data)
        assert pkt.NAME_TRN_ID == tid and pkt.RESPONSE == 1 and pkt[NBNSQueryResponse].ADDR_ENTRY[0].NB_ADDRESS == \
            "10.0.0.1"
    assert ns.counters["answered"] == 2 and ns.counters["ignored"] == 1


def test_node_status_only_when_enabled():
    for enabled in (False, True):
        sim, a, b, pcb = setup(Config(netbios_respond_name_query=enabled))
        ns = NetbiosNameService(a)
        pcb.sendto(bytes(NBNSHeader(NAME_TRN_ID=5) / NBNSNodeStatusRequest()), "10.0.0.1", 137)
        sim.run(0.1)
        got = replies(pcb)
        if not enabled:
            assert got == [] and ns.counters["ignored"] == 1
            continue
        (dg,) = got
        status = NBNSHeader(dg.data)[NBNSNodeStatusResponse]
        assert status.NODE_NAME[0].NETBIOS_NAME.rstrip(b" ") == NETBIOS_LWIP_NAME.encode()
        assert status.MAC_ADDRESS.replace(":", "") == a.netifs[-1].hwaddr.hex()


def test_responses_and_garbage_dropped_and_counted():
    sim, a, b, pcb = setup()
    ns = NetbiosNameService(a, "X")
    resp = bytearray(nb.name_query(1, "X"))
    resp[2] |= 0x80
    pcb.sendto(bytes(resp), "10.0.0.1", 137)
    pcb.sendto(b"\x00" * 5, "10.0.0.1", 137)
    sim.run(0.1)
    assert replies(pcb) == [] and ns.counters["ignored"] == 1 and ns.counters["malformed"] == 1
    with pytest.raises(LwipError):
        ns.set_name("much too long a name")
    ns.stop()
    assert "netbiosns" not in a.apps


@pytest.mark.parametrize("name", ["café", "x\x00y", "tab\there", "", "a b", "*"])
def test_a_name_netbios_cannot_carry_is_einval_not_another_exception(name):
    """netbiosns_set_name takes printable ASCII only (15 bytes, no space, no NUL: lwIP's strlen would cut it there);
    anything else is LwipError EINVAL, as documented, never a UnicodeEncodeError."""
    sim, a, b, pcb = setup()
    ns = NetbiosNameService(a, "X")
    with pytest.raises(LwipError) as e:
        ns.set_name(name)
    assert e.value.errno == errno.EINVAL and ns.name == b"X"


def test_a_query_with_other_than_one_question_is_ignored_as_lwip_does():
    """netbiosns_recv answers only ``questions == 1`` (RFC 1002 4.2.12: a name query holds one question)."""
    sim, a, b, pcb = setup()
    ns = NetbiosNameService(a, "X")
    two = bytearray(nb.name_query(1, "X"))
    two[5] = 2  # QDCOUNT 2, the one question still there
    pcb.sendto(bytes(two), "10.0.0.1", 137)
    pcb.sendto(nb.name_query(2, "X"), "10.0.0.1", 137)
    sim.run(0.1)
    assert [NBNSHeader(d.data).NAME_TRN_ID for d in replies(pcb)] == [2]
    assert ns.counters["ignored"] == 1 and ns.counters["answered"] == 1
