"""The DHCP server (ESP-IDF's dhcpserver) in virtual time: its pool, lease units, station limit, static leases,
options, NAK/DECLINE/RELEASE/INFORM, clients list and events, and malformed requests dropped and counted."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from dhcp_net import Net

from lwipy import Config, ConfigError, LwipError
from lwipy.apps import DhcpClient, DhcpsAssigned, DhcpServer, DhcpState
from lwipy.apps import dhcps as S
from lwipy.wire import dhcp as w
from lwipy.wire.dhcp import DhcpMessage

IP = IPv4Address


def ap(net: Net, ip: str = "192.168.4.1/24", config: Config | None = None, **kw):
    stack, netif = net.stack("ap", config, ip=ip)
    server = DhcpServer(stack, netif, **kw)
    events = []
    stack.events.subscribe(DhcpsAssigned, events.append)
    return stack, netif, server, events


def station(net: Net, n: int, hostname: str | None = None):
    stack, netif = net.stack(f"sta{n}", hwaddr=bytes([0x24, 0x0a, 0xc4, 0, 0, n]))
    dhcp = DhcpClient(stack, netif, hostname=hostname or f"sta{n}")
    return stack, netif, dhcp


@pytest.mark.parametrize("ip, pool", [
    ("192.168.4.1/24", ("192.168.4.2", "192.168.4.101")),  # last byte < 128: the 100 after it
    ("192.168.4.200/24", ("192.168.4.100", "192.168.4.199")),  # >= 128: the 100 before it
    ("10.1.2.3/16", ("10.1.2.4", "10.1.2.103")),  # ESP-IDF works in the /24 of the address
])
def test_the_default_pool_is_esp_idfs(ip, pool):
    net = Net()
    stack, netif, server, _ = ap(net, ip)
    server.start()
    assert server.pool == (IP(pool[0]), IP(pool[1]))


@pytest.mark.parametrize("pool", [
    ("192.168.4.10", "192.168.4.5"),  # reversed
    ("192.168.5.2", "192.168.5.20"),  # another subnet
    ("192.168.4.2", "192.168.4.150"),  # more than DHCPS_MAX_LEASE
    ("192.168.4.1", "192.168.4.20"),  # holds the server
    ("192.168.4.200", "192.168.4.255"),  # holds the broadcast address
])
def test_a_bad_pool_is_a_clear_error(pool):
    net = Net()
    stack, netif, server, _ = ap(net, pool=pool)
    with pytest.raises(ConfigError):
        server.start()
    assert not server.started


def test_dhcps_max_lease_bounds_a_given_pool_and_can_be_raised_for_a_fleet():
    net = Net()
    _, _, server, _ = ap(net, ip="10.0.0.1/16", pool=("10.0.0.2", "10.0.1.245"))  # 500 addresses
    with pytest.raises(ConfigError, match="dhcps_max_lease"):
        server.start()
    _, _, big, _ = ap(Net(), ip="10.0.0.1/16", pool=("10.0.0.2", "10.0.1.245"), config=Config(dhcps_max_lease=500))
    big.start()
    assert big.pool == (IP("10.0.0.2"), IP("10.0.1.245"))


def test_errors_for_a_netif_without_address_or_a_mask_leaving_no_room():
    net = Net()
    stack, netif = net.stack("ap")
    with pytest.raises(ConfigError):
        DhcpServer(stack, netif).start()
    netif.set_ipv4("192.168.4.1/31")
    with pytest.raises(ConfigError):
        DhcpServer(stack, netif).start()
    netif.set_ipv4("192.168.4.1/24")
    server = DhcpServer(stack, netif)
    server.start()
    with pytest.raises(LwipError):
        server.start()
    with pytest.raises(LwipError):
        server.set_option(S.REQUESTED_IP_ADDRESS, ("192.168.4.10", "192.168.4.20"))


def test_a_client_gets_the_first_address_with_esp_idfs_options_and_an_assigned_event():
    net = Net()
    stack, netif, server, events = ap(net, captive_portal_uri="http://192.168.4.1/portal")
    server.start()
    sta, sta_netif, dhcp = station(net, 1, "esp-sta")
    dhcp.start()
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, 10)
    assert sta_netif.ip4.ip == IP("192.168.4.2") and sta_netif.gateway == IP("192.168.4.1")
    ack, = [s.msg for s in net.dhcp((w.ACK,))]
    assert w.u32(ack.get(w.LEASE_TIME)) == 120 * 60  # DHCPS_LEASE_TIME_DEF units of CONFIG_LWIP_DHCPS_LEASE_UNIT
    assert w.ip_of(ack.get(w.SUBNET_MASK)) == IP("255.255.255.0")
    assert w.ip_list(ack.get(w.ROUTER)) == [IP("192.168.4.1")] == w.ip_list(ack.get(w.DNS_SERVER))
    assert ack.get(w.CAPTIVE_PORTAL) == b"http://192.168.4.1/portal"
    assert w.ip_of(ack.get(w.SERVER_ID)) == IP("192.168.4.1")
    assert [(e.ip, e.mac, e.hostname) for e in events] == [(IP("192.168.4.2"), sta_netif.hwaddr, "esp-sta")]
    (client,) = server.clients()
    assert (client.mac, client.ip, client.hostname) == (sta_netif.hwaddr, IP("192.168.4.2"), "esp-sta")
    assert all(s.dst == IP("255.255.255.255") for s in net.dhcp((w.OFFER, w.ACK)))


def test_router_and_dns_switched_off_and_dns_servers_given():
    net = Net()
    stack, netif, server, _ = ap(net, router=False)
    server.set_option(S.DOMAIN_NAME_SERVER, True)
    server.dns_servers = [IP("9.9.9.9")]
    server.start()
    sta, sta_netif, dhcp = station(net, 1)
    dhcp.start()
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, 10)
    ack, = [s.msg for s in net.dhcp((w.ACK,))]
    assert not ack.has(w.ROUTER) and sta_netif.gateway is None
    assert w.ip_list(ack.get(w.DNS_SERVER)) == [IP("9.9.9.9")]
    server.set_option(S.DOMAIN_NAME_SERVER, False)
    assert server.get_option(S.DOMAIN_NAME_SERVER) is False and server.get_option(S.ROUTER_SOLICITATION_ADDRESS) is False
    with pytest.raises(ConfigError):
        server.set_option(99, 1)


def test_lease_units_renewals_and_expiry_in_virtual_time():
    net = Net()
    stack, netif, server, _ = ap(net, config=Config(dhcps_lease_unit=1), lease_time=100)
    server.start()
    sta, sta_netif, dhcp = station(net, 1)
    dhcp.start()
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, 10)
    t0 = net.sim.now
    net.sim.run(130)
    acks = [s.t - t0 for s in net.dhcp((w.ACK,)) if s.t > t0]
    assert acks[:2] == [50, 100]  # 100-s leases renewed at T1 = 50 s each time
    assert sta_netif.ip4.ip == IP("192.168.4.2")
    dhcp.stop()  # dhcp_release_and_stop: a RELEASE
    net.sim.run(1)
    assert server.clients() == [] and server.stats.releases == 1


def test_a_lease_not_renewed_expires_on_the_server_after_its_time():
    net = Net()
    stack, netif, server, _ = ap(net, config=Config(dhcps_lease_unit=1), lease_time=30)
    server.start()
    sta, sta_netif, dhcp = station(net, 1)
    dhcp.start()
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, 10)
    ack_t = net.dhcp((w.ACK,))[-1].t
    sta_netif.set_link_up(False)
    sta.remove_poller(dhcp)  # the station vanishes without a RELEASE
    assert net.sim.run_until(lambda: not server.leases, 60)
    assert net.sim.now == ack_t + 30 and server.stats.expired == 1


def test_max_station_num_plus_one_evicts_the_oldest():
    net = Net()
    stack, netif, server, _ = ap(net, config=Config(dhcps_max_station_num=3))
    server.start()
    stations = []
    for n in range(1, 5):
        s = station(net, n)
        s[2].start()
        assert net.sim.run_until(lambda s=s: s[2].state == DhcpState.BOUND, 10)
        net.sim.run(1)
        stations.append(s)
    assert server.stats.evicted == 1
    assert [c.mac[-1] for c in server.clients()] == [2, 3, 4]
    # the fourth took the next address, then the oldest went; its address is free for the next station
    assert stations[3][1].ip4.ip == IP("192.168.4.5") and server.client_by_mac(stations[0][1].hwaddr) is None
    stations[0][2].stop()  # the evicted station leaves (still there, it would defend .2 against the ARP check)
    s5 = station(net, 5)
    s5[2].start()
    assert net.sim.run_until(lambda: s5[2].state == DhcpState.BOUND, 10) and s5[1].ip4.ip == IP("192.168.4.2")


def test_static_leases_hold_and_are_never_given_to_another():
    net = Net()
    stack, netif, server, _ = ap(net, static_leases={"24:0a:c4:00:00:02": "192.168.4.50"})
    server.add_static_lease(bytes([0x24, 0x0a, 0xc4, 0, 0, 1]), "192.168.4.2")
    server.start()
    s1, s2, s3 = station(net, 3), station(net, 2), station(net, 1)
    for s in (s1, s2, s3):
        s[2].start()
    assert net.sim.run_until(lambda: all(s[2].state == DhcpState.BOUND for s in (s1, s2, s3)), 20)
    assert (s1[1].ip4.ip, s2[1].ip4.ip, s3[1].ip4.ip) == (IP("192.168.4.3"), IP("192.168.4.50"), IP("192.168.4.2"))
    with pytest.raises(ConfigError):
        server.add_static_lease("24:0a:c4:00:00:09", "192.168.4.50")
    with pytest.raises(ConfigError):
        server.add_static_lease("24:0a:c4:00:00:09", "10.0.0.5")


def raw_request(net: Net, server_netif, mtype: int, mac: bytes, **fields) -> DhcpMessage:
    """A hand-made request from a bare stack (returns the message sent); replies are in net.dhcp()."""
    stacks = {s.name: s for s in net.sim.stacks}
    if "raw" not in stacks:
        raw, raw_netif = net.stack("raw", hwaddr=mac)
        pcb = raw.udp.new()
        pcb.bind(None, 68)
        net.raw = (raw, raw_netif, pcb)
    raw, raw_netif, pcb = net.raw
    opts = fields.pop("options", [])
    msg = DhcpMessage(xid=fields.pop("xid", 0x1234), chaddr=mac, **fields)
    msg.add(w.MESSAGE_TYPE, mtype)
    for code, value in opts:
        msg.add(code, value)
    pcb.sendto_netif(msg.emit(), "255.255.255.255", 67, raw_netif)
    net.sim.run(0.1)
    return msg


MAC = bytes.fromhex("020000000042")


def replies(net: Net) -> list[int]:
    return [s.type for s in net.dhcp((w.OFFER, w.ACK, w.NAK))]


def test_request_for_another_address_is_naked_and_the_lease_dropped():
    net = Net()
    stack, netif, server, _ = ap(net)
    server.start()
    raw_request(net, netif, w.DISCOVER, MAC)
    raw_request(net, netif, w.REQUEST, MAC, options=[(w.REQUESTED_IP, IP("192.168.4.77"))])
    assert replies(net) == [w.OFFER, w.NAK] and not server.leases and server.stats.naks == 1
    raw_request(net, netif, w.REQUEST, MAC, options=[(w.REQUESTED_IP, IP("192.168.4.2"))])
    assert replies(net)[-1] == w.ACK  # the lowest free address is its again


def test_request_naming_another_server_withdraws_the_offer_silently():
    net = Net()
    stack, netif, server, _ = ap(net)
    server.start()
    raw_request(net, netif, w.DISCOVER, MAC)
    raw_request(net, netif, w.REQUEST, MAC, options=[(w.REQUESTED_IP, IP("192.168.4.2")),
                                                     (w.SERVER_ID, IP("192.168.4.254"))])
    assert replies(net) == [w.OFFER] and not server.leases


def test_decline_keeps_the_address_out_of_use_and_release_frees_it():
    net = Net()
    stack, netif, server, _ = ap(net)
    server.start()
    raw_request(net, netif, w.DISCOVER, MAC)
    raw_request(net, netif, w.DECLINE, MAC, options=[(w.REQUESTED_IP, IP("192.168.4.2"))])
    raw_request(net, netif, w.DISCOVER, MAC, xid=2)
    offers = [s.msg.yiaddr for s in net.dhcp((w.OFFER,))]
    assert offers == [IP("192.168.4.2"), IP("192.168.4.3")] and server.stats.declines == 1
    raw_request(net, netif, w.REQUEST, MAC, xid=2, options=[(w.REQUESTED_IP, IP("192.168.4.3"))])
    assert server.clients()[0].ip == IP("192.168.4.3")
    raw_request(net, netif, w.RELEASE, MAC, ciaddr=IP("192.168.4.3"))
    assert server.clients() == [] and server.stats.releases == 1


def test_inform_is_answered_without_an_address_by_unicast():
    net = Net()
    stack, netif, server, _ = ap(net)
    server.start()
    sta, sta_netif = net.stack("static", ip="192.168.4.200/24")
    dhcp = DhcpClient(sta, sta_netif)
    dhcp.inform()
    net.sim.run(1)
    ack, = net.dhcp((w.ACK,))
    assert ack.dst == IP("192.168.4.200") and ack.msg.yiaddr == IP(0) and not ack.msg.has(w.LEASE_TIME)
    assert sta.dns_getserver(0) == IP("192.168.4.1") and sta.dns_getserver(1) is None and not server.leases


def test_pool_exhausted_is_a_nak_as_esp_idf_answers():
    net = Net()
    stack, netif, server, _ = ap(net, pool=("192.168.4.10", "192.168.4.11"))
    server.start()
    for n in range(3):
        raw_request(net, netif, w.DISCOVER, bytes([2, 0, 0, 0, 0, n]))
    assert replies(net) == [w.OFFER, w.OFFER, w.NAK]


def good_discover(**kw) -> bytearray:
    msg = DhcpMessage(xid=1, chaddr=MAC, **kw)
    msg.add(w.MESSAGE_TYPE, w.DISCOVER)
    return msg.emit()


def overload_loop() -> bytearray:
    data = good_discover()[:240] + bytes((52, 1, 1, 53, 1, 1, 255))
    data[108:112] = bytes((52, 1, 1, 255))  # the file field says "overloaded" again
    return data


MALFORMED = {
    "short": lambda: good_discover()[:200],
    "cookie": lambda: good_discover()[:236] + b"\x63\x82\x53\x00" + good_discover()[240:],
    "options": lambda: good_discover()[:240] + bytes((53, 1, 1, 12, 40)) + b"cut",  # oversized length
    "no end": lambda: good_discover()[:243],
    "overload": lambda: overload_loop(),
    "requested address": lambda: good_discover()[:243] + bytes((50, 2, 192, 168, 255)),
    "message type": lambda: good_discover()[:240] + bytes((0, 0, 0, 12, 3)) + b"abc" + bytes((255,)),
    "hardware type": lambda: good_discover(htype=6, hlen=16),
}


def test_every_malformed_request_is_dropped_counted_and_the_server_keeps_serving():
    net = Net()
    stack, netif, server, _ = ap(net)
    server.start()
    raw, raw_netif = net.stack("raw", hwaddr=MAC)
    pcb = raw.udp.new()
    pcb.bind(None, 68)
    for make in MALFORMED.values():
        pcb.sendto_netif(make(), "255.255.255.255", 67, raw_netif)
    # pads and an unknown option are fine: a DISCOVER with them is answered
    ok = bytearray(good_discover())
    ok[243:250] = bytes((0, 0, 200, 2, 1, 2, 255))
    pcb.sendto_netif(ok, "255.255.255.255", 67, raw_netif)
    net.sim.run(1)
    assert dict(server.stats.malformed) == {reason: 1 for reason in MALFORMED}
    assert replies(net) == [w.OFFER]
    sta, sta_netif, dhcp = station(net, 1)
    dhcp.start()
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, 10)
