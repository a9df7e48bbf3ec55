"""The virtual hub's switch, client isolation and DHCP broadcast-to-unicast."""

from lwipy.netif.virtual import VirtualHub

BCAST = b"\xff" * 6


def frame(dst, src, payload=b"\x08\x06" + bytes(46)):
    return dst + src + payload


def dhcp_reply(src, chaddr):
    ip = bytearray(20)
    ip[0], ip[9] = 0x45, 17
    udp = b"\x00\x43\x00\x44" + bytes(4)
    bootp = bytearray(240)
    bootp[0] = 2
    bootp[28:34] = chaddr
    return BCAST + src + b"\x08\x00" + bytes(ip) + udp + bytes(bootp)


def macs(n):
    return [bytes([2, 0, 0, 0, 0, i]) for i in range(n)]


def test_plain_hub_floods_everything():
    hub = VirtualHub()
    a, b, c = hub.port("a"), hub.port("b"), hub.port("c")
    ma, mb, _ = macs(3)
    a.transmit(frame(mb, ma))
    assert len(b.receive()) == 1 and len(c.receive()) == 1


def test_switch_learns_and_sends_unicast_to_one_port():
    hub = VirtualHub(switch=True)
    a, b, c = hub.port("a"), hub.port("b"), hub.port("c")
    ma, mb, _ = macs(3)
    a.transmit(frame(mb, ma))  # b unknown yet: flooded
    assert len(b.receive()) == 1 and len(c.receive()) == 1
    b.transmit(frame(ma, mb))  # a learnt: only a
    assert len(a.receive()) == 1 and c.receive() == []
    a.transmit(frame(mb, ma))
    assert len(b.receive()) == 1 and c.receive() == []
    a.transmit(frame(BCAST, ma))
    assert len(b.receive()) == 1 and len(c.receive()) == 1


def test_isolation_keeps_stations_apart_but_not_from_the_uplink():
    hub = VirtualHub(isolation=True)
    up, s1, s2 = hub.port("up", uplink=True), hub.port("s1"), hub.port("s2")
    mu, m1, m2 = macs(3)
    s1.transmit(frame(BCAST, m1))
    assert len(up.receive()) == 1 and s2.receive() == []
    s1.transmit(frame(m2, m1))
    assert s2.receive() == [] and len(up.receive()) == 1
    up.transmit(frame(BCAST, mu))
    assert len(s1.receive()) == 1 and len(s2.receive()) == 1


def test_dhcp_reply_broadcast_goes_to_the_chaddr_port_only():
    hub = VirtualHub(switch=True, dhcp_to_unicast=True)
    srv, s1, s2 = hub.port("srv"), hub.port("s1"), hub.port("s2")
    ms, m1, m2 = macs(3)
    s1.transmit(frame(BCAST, m1))
    s2.transmit(frame(BCAST, m2))
    for p in (srv, s1, s2):
        p.receive()
    srv.transmit(dhcp_reply(ms, m2))
    assert s1.receive() == [] and len(s2.receive()) == 1
    srv.transmit(dhcp_reply(ms, bytes([2, 9, 9, 9, 9, 9])))  # an unknown client: flooded
    assert len(s1.receive()) == 1 and len(s2.receive()) == 1
    taps = []
    hub.taps.append(lambda port, f: taps.append(f))
    srv.transmit(dhcp_reply(ms, m1))
    assert len(taps) == 1  # a capture sees every frame
