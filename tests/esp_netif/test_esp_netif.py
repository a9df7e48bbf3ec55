"""esp_netif in virtual time: an access point (ESP_NETIF_DEFAULT_WIFI_AP with its DHCP server) and a station
(ESP_NETIF_DEFAULT_WIFI_STA with its DHCP client) on one segment; IP events with their exact payloads and times,
ESP-IDF's errors, the lost-IP timer, DNS, host name, IPv6."""

import threading
from ipaddress import IPv4Address, IPv6Address

import pytest

from lwipy.esp_netif import (ESP_EVENT_ANY_ID, ESP_NETIF_DEFAULT_ETH, ESP_NETIF_DEFAULT_WIFI_AP,
                             ESP_NETIF_DEFAULT_WIFI_STA, IP_EVENT, DhcpsLeaseRange, EspEventLoop, EspNetif,
                             EspNetifDhcpOptionId as Opt, EspNetifDhcpOptionMode as Mode, EspNetifDhcpStatus as Status,
                             EspNetifDnsType as Dns, EspNetifIp6Info, EspNetifIpInfo, IpEvent,
                             IpEventAssignedIpToClient, IpEventGotIp, IpEventGotIp6)
from lwipy.esp_netif import errors as E
from lwipy.sim import Simulation

ZERO = EspNetifIpInfo()
LEASE = EspNetifIpInfo.of("192.168.4.2", "255.255.255.0", "192.168.4.1")


class Net:
    """An AP and a station on one hub, their events recorded as (virtual time, id, payload)."""

    def __init__(self, sta_config=ESP_NETIF_DEFAULT_WIFI_STA, lease_units=None):
        self.sim = Simulation(seed=1)
        hub = self.sim.hub()
        self.events_loop = EspEventLoop(task=False)
        self.sim.add_driver(self.events_loop)
        self.events = []
        self.events_loop.handler_register(IP_EVENT, ESP_EVENT_ANY_ID,
                                          lambda arg, base, i, d: self.events.append((self.sim.now, IpEvent(i), d)))
        ap_stack = self.sim.new_stack("ap")
        self.ap = EspNetif(ap_stack, ESP_NETIF_DEFAULT_WIFI_AP, netif=self.sim.attach(ap_stack, hub, up=False),
                           event_loop=self.events_loop)
        if lease_units is not None:
            self.ap.dhcps_option(Mode.OP_SET, Opt.IP_ADDRESS_LEASE_TIME, lease_units)
        self.ap.start()
        self.sta_stack = self.sim.new_stack("sta")
        self.sta = EspNetif(self.sta_stack, sta_config, netif=self.sim.attach(self.sta_stack, hub, up=False),
                            event_loop=self.events_loop)

    def run_until(self, predicate, timeout=60):
        return self.sim.run_until(predicate, timeout)

    def of(self, kind):
        return [(t, d) for t, i, d in self.events if i == kind]


def test_station_gets_ip_from_the_access_point_with_exact_payloads_and_times():
    net = Net()
    assert net.ap.get_ip_info() == EspNetifIpInfo.of("192.168.4.1", "255.255.255.0", "192.168.4.1")
    assert net.ap.dhcps_get_status() == Status.STARTED and net.sta.dhcpc_get_status() == Status.INIT
    net.sta.start()
    assert net.sta.dhcpc_get_status() == Status.STARTED
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    (t_assigned, assigned), = net.of(IpEvent.ASSIGNED_IP_TO_CLIENT)
    (t_got, got), = net.of(IpEvent.STA_GOT_IP)
    assert assigned == IpEventAssignedIpToClient(net.ap, IPv4Address("192.168.4.2"), net.sta.get_mac(), "espressif")
    assert got == IpEventGotIp(net.sta, LEASE, True)
    assert t_assigned == 0.0  # the server ACKs at once
    assert t_got == 1.0  # the client binds after its ARP check: two probes 500 ms apart, then 500 ms of silence
    assert net.sta.get_ip_info() == LEASE and net.sta.get_old_ip_info() == LEASE
    assert net.ap.dhcps_get_clients_by_mac([net.sta.get_mac(), b"\x02" * 6]) == [
        (net.sta.get_mac(), IPv4Address("192.168.4.2")), (b"\x02" * 6, IPv4Address(0))]
    # the AP offered itself as DNS server: MAIN is set, FALLBACK never from DHCP
    assert net.sta.get_dns_info(Dns.MAIN) == IPv4Address("192.168.4.1")
    assert net.sta.get_dns_info(Dns.FALLBACK) == IPv4Address(0)


def test_a_renewal_of_the_same_lease_posts_no_second_got_ip():
    from lwipy.apps import DhcpBound
    net = Net(lease_units=2)  # 120 s: T1 at 60 s
    renewals = []
    net.sta_stack.events.subscribe(DhcpBound, lambda e: e.renewed and renewals.append(net.sim.now))
    net.sta.start()
    net.sim.run(200)
    assert renewals == [61.0, 121.0, 181.0]  # bound at 1 s, renewed at T1 of every lease
    assert len(net.of(IpEvent.STA_GOT_IP)) == 1 and net.of(IpEvent.STA_LOST_IP) == []


def test_lease_expiry_starts_the_lost_ip_timer_and_lost_ip_comes_120_s_later():
    net = Net(lease_units=2)
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    t_bound = net.sim.now
    net.ap.dhcps_stop()  # nobody renews: the lease ends 120 s after the bind
    assert net.run_until(lambda: net.sta.netif.ip4 is None, 200)
    t_expired = net.sim.now
    assert t_expired == pytest.approx(t_bound + 120)
    assert net.sta.get_ip_info() == ZERO
    net.sim.run(119.9)
    assert net.of(IpEvent.STA_LOST_IP) == []
    assert net.run_until(lambda: net.of(IpEvent.STA_LOST_IP), 1)
    (t_lost, lost), = net.of(IpEvent.STA_LOST_IP)
    assert t_lost == pytest.approx(t_expired + 120)
    assert lost == IpEventGotIp(net.sta, ZERO, False)
    assert net.sta.get_old_ip_info() == ZERO  # cleared with LOST_IP


def test_disconnect_then_reconnect_within_the_timer_is_no_lost_ip_and_ip_changed_false():
    net = Net()
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    net.sta.action_disconnected()
    assert not net.sta.is_netif_up() and net.sta.dhcpc_get_status() == Status.INIT
    net.sim.run(30)
    net.sta.action_connected()
    assert net.run_until(lambda: len(net.of(IpEvent.STA_GOT_IP)) == 2)
    assert net.of(IpEvent.STA_GOT_IP)[1][1] == IpEventGotIp(net.sta, LEASE, False)  # the same address again
    net.sim.run(200)
    assert net.of(IpEvent.STA_LOST_IP) == []  # the timer found an address when it fired


def test_disconnect_for_longer_than_the_timer_is_lost_ip_then_ip_changed_true():
    net = Net()
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    net.sim.run(150)  # dhcpc_start started the timer at 0 s; it found the address at 120 s and posted nothing
    assert net.of(IpEvent.STA_LOST_IP) == []
    t_down = net.sim.now
    net.sta.action_disconnected()
    assert net.run_until(lambda: net.of(IpEvent.STA_LOST_IP), 200)
    assert net.of(IpEvent.STA_LOST_IP)[0][0] == pytest.approx(t_down + 120)
    net.sta.action_connected()
    assert net.run_until(lambda: len(net.of(IpEvent.STA_GOT_IP)) == 2)
    assert net.of(IpEvent.STA_GOT_IP)[1][1] == IpEventGotIp(net.sta, LEASE, True)


def test_dhcp_client_status_errors_and_a_static_address():
    net = Net()
    net.sta.start()
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED):
        net.sta.dhcpc_start()
    static = EspNetifIpInfo.of("192.168.4.200", "255.255.255.0", "192.168.4.1")
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED) as err:
        net.sta.set_ip_info(static)
    assert err.value.code == 0x5007
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        net.sta.dhcps_get_status()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    net.sta.dhcpc_stop()
    assert net.sta.dhcpc_get_status() == Status.STOPPED
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED) as err:
        net.sta.dhcpc_stop()
    assert err.value.code == 0x5005
    net.sta.set_dns_info(Dns.FALLBACK, "9.9.9.9")
    net.sta.set_ip_info(static)
    assert net.sta.get_dns_info(Dns.MAIN) == IPv4Address(0)  # a static address clears MAIN and BACKUP...
    assert net.sta.get_dns_info(Dns.FALLBACK) == IPv4Address("9.9.9.9")  # ...but not FALLBACK
    net.sim.settle()
    assert net.of(IpEvent.STA_GOT_IP)[-1][1] == IpEventGotIp(net.sta, static, True)  # EVENT_IP_MODIFIED
    assert str(net.sta.netif.ip4) == "192.168.4.200/24" and str(net.sta.netif.gateway) == "192.168.4.1"


def test_dhcp_server_options_and_errors():
    net = Net()
    ap = net.ap
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED):
        ap.dhcps_start()
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED):
        ap.dhcps_option(Mode.OP_SET, Opt.IP_ADDRESS_LEASE_TIME, 5)
    assert ap.dhcps_option(Mode.OP_GET, Opt.IP_ADDRESS_LEASE_TIME) == 120
    assert ap.dhcps_option(Mode.OP_GET, Opt.REQUESTED_IP_ADDRESS) == DhcpsLeaseRange.of("192.168.4.2",
                                                                                         "192.168.4.101")
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED):
        ap.set_ip_info(EspNetifIpInfo.of("192.168.5.1", "255.255.255.0", "192.168.5.1"))
    ap.dhcps_stop()
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED):
        ap.dhcps_stop()
    with pytest.raises(E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED):  # ESP-IDF: no GET while stopped
        ap.dhcps_option(Mode.OP_GET, Opt.IP_ADDRESS_LEASE_TIME)
    for first, last in (("192.168.4.1", "192.168.4.20"), ("192.168.5.10", "192.168.5.20"),
                        ("192.168.4.10", "192.168.4.200")):
        with pytest.raises(E.ESP_ERR_ESP_NETIF_INVALID_PARAMS):
            ap.dhcps_option(Mode.OP_SET, Opt.REQUESTED_IP_ADDRESS, DhcpsLeaseRange.of(first, last))
    with pytest.raises(E.ESP_ERR_ESP_NETIF_INVALID_PARAMS):
        ap.dhcps_option(Mode.OP_SET, Opt.VENDOR_SPECIFIC_INFO, b"x")
    ap.dhcps_option(Mode.OP_SET, Opt.REQUESTED_IP_ADDRESS, DhcpsLeaseRange.of("192.168.4.50", "192.168.4.60"))
    ap.dhcps_option(Mode.OP_SET, Opt.IP_ADDRESS_LEASE_TIME, 0)  # 0: the default
    ap.dhcps_option(Mode.OP_SET, Opt.ROUTER_SOLICITATION_ADDRESS, False)
    ap.set_dns_info(Dns.MAIN, "192.168.4.53")
    with pytest.raises(E.ESP_ERR_ESP_NETIF_INVALID_PARAMS):
        ap.set_dns_info(Dns.BACKUP, "192.168.4.54")  # a DHCP server netif offers MAIN only
    with pytest.raises(E.ESP_ERR_ESP_NETIF_INVALID_PARAMS):
        ap.set_dns_info(Dns.MAIN, "0.0.0.0")
    ap.dhcps_start()
    assert ap.dhcps_option(Mode.OP_GET, Opt.IP_ADDRESS_LEASE_TIME) == 120
    assert ap.dhcps_option(Mode.OP_GET, Opt.ROUTER_SOLICITATION_ADDRESS) is False
    assert ap.get_dns_info(Dns.MAIN) == IPv4Address("192.168.4.53")
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    got = net.of(IpEvent.STA_GOT_IP)[0][1]
    assert got.ip_info == EspNetifIpInfo.of("192.168.4.50", "255.255.255.0", "0.0.0.0")  # no router offered
    assert net.sta.get_dns_info(Dns.MAIN) == IPv4Address("192.168.4.53")


def test_set_ip_info_on_the_access_point_after_dhcps_stop_moves_it():
    net = Net()
    net.ap.dhcps_stop()
    info = EspNetifIpInfo.of("10.1.2.1", "255.255.255.0", "10.1.2.1")
    net.ap.set_ip_info(info)
    assert net.ap.get_ip_info() == info
    net.ap.dhcps_start()
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    assert net.of(IpEvent.STA_GOT_IP)[0][1].ip_info == EspNetifIpInfo.of("10.1.2.2", "255.255.255.0", "10.1.2.1")


def test_hostname_goes_to_the_server_and_is_bounded():
    net = Net()
    with pytest.raises(E.ESP_ERR_ESP_NETIF_INVALID_PARAMS):
        net.sta.set_hostname("x" * 33)
    assert net.sta.get_hostname() == "espressif"
    net.sta.set_hostname("sensor-7")
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.ASSIGNED_IP_TO_CLIENT))
    assert net.of(IpEvent.ASSIGNED_IP_TO_CLIENT)[0][1].hostname == "sensor-7"
    assert net.sta.get_hostname() == "sensor-7"


def test_ipv6_link_local_and_global_addresses_with_got_ip6():
    net = Net()
    with pytest.raises(E.ESP_FAIL):
        net.sta.create_ip6_linklocal()  # down
    net.sta.start()
    net.sta.create_ip6_linklocal()
    with pytest.raises(E.ESP_FAIL):
        net.sta.get_ip6_linklocal()  # tentative until DAD is done
    assert net.run_until(lambda: net.of(IpEvent.GOT_IP6))
    ll = net.sta.get_ip6_linklocal()
    assert ll.is_link_local and net.of(IpEvent.GOT_IP6)[0][1] == IpEventGotIp6(net.sta, EspNetifIp6Info(ll), 0)
    with pytest.raises(E.ESP_FAIL):
        net.sta.get_ip6_global()
    net.sta.netif.add_ip6_address("2001:db8::7", 64)
    assert net.run_until(lambda: len(net.of(IpEvent.GOT_IP6)) == 2)
    assert net.of(IpEvent.GOT_IP6)[1][1] == IpEventGotIp6(net.sta, EspNetifIp6Info(IPv6Address("2001:db8::7")), 1)
    assert net.sta.get_ip6_global() == IPv6Address("2001:db8::7")
    assert net.sta.get_all_ip6() == [ll, IPv6Address("2001:db8::7")]


def test_the_lost_ip_timer_is_one_shot_from_its_first_start():
    """ESP-IDF starts the timer at dhcpc_start and does not restart it while it runs: a disconnect 30 s later is
    reported when that timer fires, 120 s after the start, not 120 s after the disconnect."""
    net = Net()
    net.sta.start()
    assert net.run_until(lambda: net.of(IpEvent.STA_GOT_IP))
    net.sim.run(29)
    net.sta.action_disconnected()
    assert net.run_until(lambda: net.of(IpEvent.STA_LOST_IP), 200)
    assert net.of(IpEvent.STA_LOST_IP)[0][0] == 120.0


def test_ethernet_config_posts_eth_got_ip_and_eth_lost_ip():
    net = Net(sta_config=ESP_NETIF_DEFAULT_ETH)
    eth = net.sta
    assert eth.get_ifkey() == "ETH_DEF" and eth.get_route_prio() == 50
    eth.start()
    assert net.run_until(lambda: net.of(IpEvent.ETH_GOT_IP))
    assert net.of(IpEvent.ETH_GOT_IP)[0][1] == IpEventGotIp(eth, LEASE, True)
    eth.action_disconnected()
    assert net.run_until(lambda: net.of(IpEvent.ETH_LOST_IP), 200)
    assert net.of(IpEvent.ETH_LOST_IP)[0][1] == IpEventGotIp(eth, ZERO, False)
    assert net.of(IpEvent.STA_GOT_IP) == [] and net.of(IpEvent.STA_LOST_IP) == []


def test_configs_and_misuse():
    assert ESP_NETIF_DEFAULT_WIFI_AP.ip_info == EspNetifIpInfo.of("192.168.4.1", "255.255.255.0", "192.168.4.1")
    assert (ESP_NETIF_DEFAULT_WIFI_STA.route_prio, ESP_NETIF_DEFAULT_WIFI_AP.route_prio) == (100, 10)
    net = Net()
    assert net.sta.get_event_id() == IpEvent.STA_GOT_IP and net.sta.get_event_id(lost=True) == IpEvent.STA_LOST_IP
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        net.ap.dhcpc_get_status()
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        EspNetif(net.sta_stack, ESP_NETIF_DEFAULT_WIFI_STA, event_loop=net.events_loop)  # neither device nor netif
    with pytest.raises(E.ESP_ERR_NOT_SUPPORTED):
        net.sta.dhcpc_option(Mode.OP_SET, Opt.IP_ADDRESS_LEASE_TIME, 5)
    net.sta.dhcpc_option(Mode.OP_SET, Opt.VENDOR_CLASS_IDENTIFIER, "lwipy-test")
    assert net.sta.dhcpc_option(Mode.OP_GET, Opt.VENDOR_CLASS_IDENTIFIER) == "lwipy-test"


def test_on_threads_a_stack_loop_and_an_event_task():
    from lwipy import Stack
    from lwipy.api import StackLoop
    from lwipy.netif.virtual import VirtualHub

    hub = VirtualHub()
    events = EspEventLoop()
    ap_stack, sta_stack = Stack(name="ap"), Stack(name="sta")
    ap_loop, sta_loop = StackLoop(ap_stack), StackLoop(sta_stack)
    got = threading.Event()
    seen = []

    def on_got_ip(arg, base, event_id, data):
        seen.append((threading.current_thread().name, data, data.esp_netif.get_ip_info()))  # a call from the task
        got.set()
    events.handler_register(IP_EVENT, IpEvent.STA_GOT_IP, on_got_ip)
    ap_loop.start()
    sta_loop.start()
    try:
        ap = EspNetif(ap_stack, ESP_NETIF_DEFAULT_WIFI_AP, hub.port("ap"), event_loop=events, loop=ap_loop)
        sta = EspNetif(sta_stack, ESP_NETIF_DEFAULT_WIFI_STA, hub.port("sta"), event_loop=events, loop=sta_loop)
        ap.start()
        sta.start()
        assert got.wait(30)
        (thread, data, info), = seen
        assert thread == "sys_evt" and data == IpEventGotIp(sta, LEASE, True) and info == LEASE
    finally:
        sta_loop.close()
        ap_loop.close()
        events.delete()


def test_default_hostname_is_the_configs_local_hostname():
    """CONFIG_LWIP_LOCAL_HOSTNAME is esp_netif's default host name (ESP-IDF's own test: get_hostname before any
    set_hostname returns it), so an sdkconfig's value reaches the DHCP server's option 12."""
    from lwipy import Config
    from lwipy.esp_netif import EspNetif
    net = Net()
    stack = net.sim.new_stack("sta2", Config(local_hostname="from-sdkconfig"))
    sta2 = EspNetif(stack, ESP_NETIF_DEFAULT_WIFI_STA, netif=net.sim.attach(stack, net.sim.hubs[0], up=False),
                    event_loop=net.events_loop)
    assert sta2.get_hostname() == "from-sdkconfig"
    sta2.start()
    assert net.run_until(lambda: net.of(IpEvent.ASSIGNED_IP_TO_CLIENT))
    assert net.of(IpEvent.ASSIGNED_IP_TO_CLIENT)[0][1].hostname == "from-sdkconfig"
