"""esp_netif_napt_enable on a simulated Wi-Fi router: a station behind the gateway's SoftAP (ESP_NETIF_DEFAULT_WIFI_AP
with its DHCP server) reaches a server on the uplink through NAPT; the server sees only the uplink's address."""

import pytest

from helpers import connected, transfer
from lwipy import Config
from lwipy.apps import PingSession
from lwipy.esp_netif import ESP_NETIF_DEFAULT_WIFI_AP, ESP_NETIF_DEFAULT_WIFI_STA, EspEventLoop, EspNetif
from lwipy.esp_netif import errors as E
from lwipy.sim import Simulation


def router():
    sim = Simulation(seed=2)
    lan, wan = sim.hub(), sim.hub()
    events = EspEventLoop(task=False)
    sim.add_driver(events)
    gw = sim.new_stack("gw", Config(ip_forward=True, ipv4_napt=True))
    ap = EspNetif(gw, ESP_NETIF_DEFAULT_WIFI_AP, netif=sim.attach(gw, lan, up=False), event_loop=events)
    ap.start()
    uplink = sim.attach(gw, wan, name="sta", ip="10.0.0.2/24")
    server = sim.add_stack("server", wan, ip="10.0.0.9/24")
    host = sim.new_stack("host")
    sta = EspNetif(host, ESP_NETIF_DEFAULT_WIFI_STA, netif=sim.attach(host, lan, up=False), event_loop=events)
    sta.start()
    assert sim.run_until(lambda: sta.netif.ip4 is not None, 30)
    return sim, gw, ap, uplink, server, host, sta


def test_a_station_behind_the_softap_reaches_the_uplink_through_napt():
    sim, gw, ap, uplink, server, host, sta = router()
    ap.napt_enable()
    assert gw.napt.netif is ap.netif
    ping = PingSession(host, "10.0.0.9", count=3, interval=0.2)
    host.add_poller(ping)
    assert sim.run_until(lambda: ping.done, 30)
    assert len(ping.replies) == 3
    client, accepted, _ = connected(sim, host, server, port=8080, ip="10.0.0.9")
    assert str(accepted.remote_ip) == "10.0.0.2"  # the server sees the uplink's address, not 192.168.4.x
    assert accepted.remote_port != client.local_port or 49152 <= accepted.remote_port <= 61439
    data = bytes(range(256)) * 400
    assert transfer(sim, client, accepted, data) == data
    s = gw.napt.get_stats()
    # inbound: the server's ACKs (one per batch of segments the server reads together since issue 15) and replies
    assert s.nr_active_tcp == 1 and s.nr_active_icmp == 1 and s.out > 50 and s.inbound > 10


def test_napt_on_a_second_netif_is_refused_and_misuse_is_reported():
    sim, gw, ap, uplink, server, host, sta = router()
    ap.napt_enable()
    ap.napt_enable()  # again on the same netif: no change
    other = EspNetif(gw, ESP_NETIF_DEFAULT_WIFI_STA, netif=uplink, event_loop=ap.event_loop)
    with pytest.raises(E.ESP_ERR_INVALID_STATE, match="inside"):
        other.napt_enable()
    ap.napt_disable()
    assert gw.napt.netif is None
    with pytest.raises(E.ESP_ERR_NOT_SUPPORTED):
        sta.napt_enable()  # the host's stack has no NAPT configured
    ap.stop()
    with pytest.raises(E.ESP_FAIL):
        ap.napt_enable()  # a netif that is down
