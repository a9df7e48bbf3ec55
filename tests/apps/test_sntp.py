"""The SNTP client (lwIP's sntp.c with esp_sntp) against a tiny NTP server in virtual time: startup delay and poll
interval exact, KoD RATE backed off and DENY obeyed, wrong replies ignored, era 1, smooth and immediate sync,
reachability, servers by name and from DHCP, listen-only mode."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from dnsserver import TinyDns
from ntpserver import TinyNtp

from lwipy import Config
from lwipy.apps import DhcpBound, DhcpLease, Sntp, SntpOpMode, SntpSynced, SntpSyncMode, SntpSyncStatus
from lwipy.esp_netif import (SNTP_SYNC_MODE_SMOOTH, SNTP_SYNC_STATUS_COMPLETED, SNTP_SYNC_STATUS_RESET,
                             EspSntp)
from lwipy.core.udp import Datagram
from lwipy.sim import Simulation
from lwipy.wire import ntp as w

SERVER_TIME = 1_800_000_000.25  # 2027-01-15, the server's device clock at t=0


def net(client_cfg: Config | None = None, servers: int = 1, client_epoch: float = 0.0):
    sim = Simulation(seed=3)
    hub = sim.hub()
    ntps = []
    for i in range(servers):
        s = sim.add_stack(f"ntp{i}", hub, ip=f"10.0.0.{i + 1}/24")
        s.clock.settimeofday(SERVER_TIME)
        ntps.append(TinyNtp(s))
    client = sim.add_stack("client", hub, client_cfg or Config(), ip="10.0.0.100/24")
    client.clock.settimeofday(client_epoch)
    sntp = Sntp(client)
    events: list[SntpSynced] = []
    client.events.subscribe(SntpSynced, events.append)
    return sim, client, sntp, ntps, events


def request_times(ntp: TinyNtp) -> list[float]:
    return [round(t, 9) for t, _, _ in ntp.requests]


def test_startup_delay_is_random_below_the_maximum_and_then_the_update_delay_holds():
    sim, client, sntp, (ntp,), events = net(Config(sntp_update_delay=15000, sntp_maximum_startup_delay=5000))
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    first = sntp.next_request_at
    assert first is not None and 0 <= first < 5.0 and first != 0.0
    sim.run(47)
    times = request_times(ntp)
    # the first request at the startup delay (ARP resolves in no virtual time), then one every 15 s after each reply
    assert times == [round(first + 15 * k, 9) for k in range(4)]
    assert len(events) == 4 and sntp.replies == 4


def test_no_startup_delay_when_off_and_default_update_delay_is_an_hour():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    sntp.setserver(0, IPv4Address("10.0.0.1"))
    sntp.init()
    sim.run(3600 * 2 + 1)
    assert request_times(ntp) == [0.0, 3600.0, 7200.0]


def test_startup_delays_differ_between_stacks_seeded_differently():
    delays = set()
    for seed in range(6):
        sim = Simulation(seed=seed)
        st = sim.add_stack("c", sim.hub(), ip="10.0.0.9/24")
        s = Sntp(st)
        s.setserver(0, "10.0.0.1")
        s.init()
        delays.add(s.next_request_at)
    assert len(delays) > 3 and all(0 <= d < 5 for d in delays)


def test_first_sync_from_1970_steps_to_the_server_time_and_later_syncs_compensate():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False, sntp_update_delay=15000))
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run_until(lambda: len(events) == 2, 20)
    first, second = events
    # 1970 vs 2027 is more than 2**30 s: lwIP sets the time to T3 without the round-trip compensation
    assert first.delay is None and first.offset == pytest.approx(SERVER_TIME, abs=1e-6)
    assert second.delay == pytest.approx(0.0, abs=1e-6) and second.offset == pytest.approx(0.0, abs=1e-6)
    assert client.clock.time() == pytest.approx(ntp.stack.clock.time(), abs=1e-6)
    assert second.stratum == 2 and second.server == IPv4Address("10.0.0.1")


def test_offset_and_delay_follow_rfc_4330_from_the_four_timestamps():
    """Server 12.5 s ahead; it claims to have held the request 0.1 s (T2 = T3 - 0.1): offset = ((T2-T1)+(T3-T4))/2
    = 12.45, delay = (T4-T1) - (T3-T2) = -0.1 with no time on the (virtual) wire."""
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=SERVER_TIME - 12.5)

    def held(msg):
        msg.receive_ts = w.from_unix(w.to_unix(msg.transmit_ts) - 0.1)
    ntp.tamper = held
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert events[0].offset == pytest.approx(12.45, abs=1e-6)
    assert events[0].delay == pytest.approx(-0.1, abs=1e-6)
    assert client.clock.time() == pytest.approx(ntp.stack.clock.time() - 0.05, abs=1e-6)


@pytest.mark.parametrize("forgery", ["originate", "stratum0", "mode", "li3", "zero_transmit", "kod_originate"])
def test_forged_replies_are_ignored_and_the_receive_timeout_runs_on(forgery):
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=100.0)

    def forge(msg):
        if forgery == "originate":
            msg.originate_ts ^= 1
        elif forgery == "stratum0":
            msg.stratum = 0  # no kiss code either: a KoD all the same
            msg.ref_id = b"\0\0\0\0"
        elif forgery == "mode":
            msg.mode = w.MODE_SYMMETRIC_PASSIVE
        elif forgery == "li3":
            msg.li = w.LI_ALARM
        elif forgery == "kod_originate":  # an off-path Kiss-o'-Death: it does not echo our request
            msg.stratum, msg.ref_id, msg.originate_ts = 0, b"DENY", msg.originate_ts ^ 1
        else:
            msg.transmit_ts = 0
    ntp.tamper = forge
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run(14.9)
    assert events == [] and client.clock.steps == 1 and sntp.get_sync_status() == SntpSyncStatus.RESET
    assert client.clock.time() == pytest.approx(114.9)
    if forgery == "stratum0":
        # a Kiss-o'-Death makes lwIP try the next server: with none, a retry after the retry timeout
        assert sntp.kisses == 1 and request_times(ntp) == [0.0]
        assert sntp.next_request_at == pytest.approx(15.0)
    else:
        assert sntp.ignored == 1 and sntp.kisses == 0 and request_times(ntp) == [0.0]
        assert not sntp.servers[0].denied
        sim.run(0.2)
        # SNTP_RECV_TIMEOUT (15 s) fired: no other server, so sntp_retry asks again 15 s later
        assert sntp.next_request_at == pytest.approx(30.0)


def test_a_reply_from_another_host_with_the_right_originate_is_ignored():
    sim, client, sntp, (ntp, other), events = net(Config(sntp_startup_delay=False), servers=2)
    ntp.silent = True
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run(0.01)
    ts = ntp.requests[0][2].transmit_ts
    forged = w.NtpMessage(mode=w.MODE_SERVER, stratum=1, originate_ts=ts, receive_ts=ts, transmit_ts=ts)
    other.pcb.sendto(forged.emit(), "10.0.0.100", sntp.pcb.local_port)
    sim.run(0.01)
    assert events == [] and sntp.ignored == 1


def test_kod_rate_backs_off_more_each_time_and_deny_stops_the_requests():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    ntp.kiss = "RATE"
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run(2000)
    times = request_times(ntp)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 3 and gaps[0] == 30.0 and all(b > a for a, b in zip(gaps, gaps[1:], strict=False))
    assert sntp.servers[0].kiss == "RATE" and sntp.servers[0].rate_factor >= 8
    ntp.kiss = "DENY"
    sim.run(5000)
    n = len(ntp.requests)
    sim.run(100000)
    assert len(ntp.requests) == n and sntp.servers[0].denied and sntp.poll_at() is None


def test_deny_moves_to_the_next_server_at_once():
    sim, client, sntp, (bad, good), events = net(Config(sntp_startup_delay=False, sntp_max_servers=2), servers=2)
    bad.kiss = "DENY"
    sntp.setserver(0, "10.0.0.1")
    sntp.setserver(1, "10.0.0.2")
    sntp.init()
    sim.run(1)
    assert request_times(bad) == [0.0] and request_times(good) == [0.0]
    assert len(events) == 1 and events[0].index == 1
    sim.run(3600 * 3)
    assert len(bad.requests) == 1  # never asked again


def test_silent_server_then_the_next_one_after_the_receive_timeout_and_reachability():
    sim, client, sntp, (dead, live), events = net(Config(sntp_startup_delay=False, sntp_max_servers=2,
                                                         sntp_update_delay=15000), servers=2)
    dead.silent = True
    sntp.setserver(0, "10.0.0.1")
    sntp.setserver(1, "10.0.0.2")
    sntp.init()
    sim.run(15.5)
    assert request_times(dead) == [0.0] and request_times(live) == [15.0]
    assert sntp.getreachability(0) == 0 and sntp.getreachability(1) == 1
    sim.run(30)
    assert sntp.getreachability(1) == 0b111
    live.silent = True
    sim.run(15 + 15 + 0.5)  # a request unanswered, then after the receive timeout server 0 again
    assert sntp.getreachability(1) == 0b1110


def test_servers_by_name_through_the_resolver():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    dns = TinyDns(ntp.stack)
    dns.add("time.lwipy.test", 1, "10.0.0.1")
    client.dns_setserver(0, IPv4Address("10.0.0.1"))
    sntp.setservername(0, "time.lwipy.test")
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert sntp.getserver(0) == IPv4Address("10.0.0.1") and sntp.getservername(0) == "time.lwipy.test"
    assert len(dns.queries) == 1


def test_unresolvable_name_retries_later():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    dns = TinyDns(ntp.stack, nxdomain={"nope.lwipy.test"})
    client.dns_setserver(0, IPv4Address("10.0.0.1"))
    sntp.setservername(0, "nope.lwipy.test")
    sntp.init()
    sim.run(10)
    assert events == [] and ntp.requests == [] and len(dns.queries) >= 1
    assert sntp.next_request_at is not None  # lwIP's sntp_retry keeps asking


def test_era_1_server_decodes_to_2040_from_a_1970_clock():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False, sntp_update_delay=15000))
    y2040 = 2208988800.0  # 2040-01-01 00:00:00 UTC
    ntp.stack.clock.settimeofday(y2040)
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    assert sim.run_until(lambda: len(events) == 2, 20)
    assert events[0].time == pytest.approx(y2040, abs=1e-6)
    assert events[1].delay == pytest.approx(0.0, abs=1e-6) and events[1].offset == pytest.approx(0.0, abs=1e-6)
    assert client.clock.time() == pytest.approx(y2040 + 15, abs=1e-6)


def test_offset_across_the_2036_era_boundary():
    """Client an hour before the 2036 wrap (era 0), server an hour after it (era 1): the 64-bit differences give
    exactly two hours."""
    wrap = 2085978496.0  # 2036-02-07 06:28:16 UTC, NTP seconds 2**32
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=wrap - 3600)
    ntp.stack.clock.settimeofday(wrap + 3600)
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert events[0].offset == pytest.approx(7200.0, abs=1e-6) and events[0].delay == pytest.approx(0, abs=1e-6)
    assert client.clock.time() == pytest.approx(wrap + 3600, abs=1e-6)


def test_immediate_sync_steps_and_reports_completed_once():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=SERVER_TIME - 3.0)
    got = []
    sntp.time_sync_notification_cb = got.append
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert client.clock.steps == 2 and client.clock.slews == 0  # net() set it once, SNTP once
    assert got == [pytest.approx(SERVER_TIME + sim.now, abs=1e-6)]
    assert sntp.get_sync_status() == SntpSyncStatus.COMPLETED
    assert sntp.get_sync_status() == SntpSyncStatus.RESET


def test_smooth_sync_slews_at_1_64_and_completes_when_done():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=SERVER_TIME - 1.0)
    esp = EspSntp(client)
    assert esp.sntp is sntp  # the stack's Sntp is shared
    esp.set_sync_mode(SNTP_SYNC_MODE_SMOOTH)
    esp.setserver(0, "10.0.0.1")
    esp.init()
    assert sim.run_until(lambda: bool(events), 5)
    t0 = sim.now
    assert events[0].offset == pytest.approx(1.0, abs=1e-6) and events[0].mode == SntpSyncMode.SMOOTH
    assert client.clock.steps == 1 and client.clock.slews == 1
    assert esp.get_sync_status() == SntpSyncStatus.IN_PROGRESS
    sim.run(32)  # half of the second slewed after 32 s
    behind = ntp.stack.clock.time() - client.clock.time()
    assert behind == pytest.approx(0.5, abs=1e-6)
    assert esp.get_sync_status() == SntpSyncStatus.IN_PROGRESS
    sim.run(33)
    assert sim.now - t0 > 64
    assert ntp.stack.clock.time() - client.clock.time() == pytest.approx(0.0, abs=1e-6)
    assert esp.get_sync_status() == SNTP_SYNC_STATUS_COMPLETED
    assert esp.get_sync_status() == SNTP_SYNC_STATUS_RESET


def test_smooth_sync_steps_when_the_error_is_beyond_adjtime():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False), client_epoch=SERVER_TIME - 3000)
    sntp.set_sync_mode(SntpSyncMode.SMOOTH)
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert client.clock.slews == 0 and sntp.get_sync_status() == SntpSyncStatus.COMPLETED
    assert client.clock.time() == pytest.approx(ntp.stack.clock.time(), abs=1e-6)


def test_sync_interval_minimum_and_restart():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    sntp.set_sync_interval(1000)
    assert sntp.get_sync_interval() == 15000
    sntp.setserver(0, "10.0.0.1")
    assert not sntp.restart()  # not running
    sntp.init()
    sim.run(31)
    assert request_times(ntp) == [0.0, 15.0, 30.0]
    assert sntp.restart() and sntp.next_request_at == pytest.approx(31.0)
    with pytest.raises(OSError):
        sntp.setoperatingmode(SntpOpMode.LISTENONLY)  # only while stopped
    sntp.stop()
    sim.run(100)
    assert len(ntp.requests) == 3 and not sntp.enabled()


def test_servermode_dhcp_takes_the_leases_ntp_servers():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False, sntp_max_servers=2))
    sntp.setserver(1, "10.9.9.9")
    lease = DhcpLease(IPv4Address("10.0.0.100"), IPv4Address("255.255.255.0"), None, IPv4Address("10.0.0.1"),
                      3600, 1800, 3150, ntp_servers=[IPv4Address("10.0.0.1")])
    client.events.emit(DhcpBound(client.netifs[-1], lease, False, False))
    assert sntp.getserver(0) is None  # servermode_dhcp off: left alone
    sntp.servermode_dhcp(True)
    client.events.emit(DhcpBound(client.netifs[-1], lease, False, False))
    assert sntp.getserver(0) == IPv4Address("10.0.0.1") and sntp.getserver(1) is None  # the rest cleared
    sntp.dhcp6_set_ntp_servers([bytes(15) + b"\x01"])
    assert str(sntp.getserver(0)) == "::1"
    sntp.init()


def test_listen_only_takes_broadcasts():
    sim, client, sntp, (ntp,), events = net(Config())
    sntp.setoperatingmode(SntpOpMode.LISTENONLY)
    sntp.init()
    sim.run(1)
    assert ntp.requests == [] and sntp.poll_at() is None
    ntp.broadcast("10.0.0.255")
    sim.run(0.1)
    assert len(events) == 1 and events[0].delay is None
    assert client.clock.time() == pytest.approx(ntp.stack.clock.time(), abs=1e-6)


def test_config_ranges():
    from lwipy.errors import ConfigError
    with pytest.raises(ConfigError):
        Config(sntp_update_delay=14999)
    with pytest.raises(ConfigError):
        Config(sntp_max_servers=17)
    assert Config().sntp_update_delay == 3600000 and Config().sntp_max_servers == 1
    assert not Config().dhcp_get_ntp_srv and Config().sntp_startup_delay
    cfg = Config.from_sdkconfig("CONFIG_LWIP_SNTP_MAX_SERVERS=3\nCONFIG_LWIP_SNTP_UPDATE_DELAY=15000\n"
                                "# CONFIG_LWIP_SNTP_STARTUP_DELAY is not set\nCONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY=200\n"
                                "CONFIG_LWIP_DHCP_GET_NTP_SRV=y\n")
    assert (cfg.sntp_max_servers, cfg.sntp_update_delay, cfg.sntp_startup_delay, cfg.sntp_maximum_startup_delay,
            cfg.dhcp_get_ntp_srv) == (3, 15000, False, 200, True)


def test_unexpected_datagrams_never_raise():
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run(0.01)
    for data in (b"", b"\x24" * 47, b"\x24" + bytes(47), bytes(48), b"\xff" * 100):
        sntp._recv(sntp.pcb, Datagram(data, IPv4Address("10.0.0.1"), 123, IPv4Address("10.0.0.100"), 1))
    assert sntp.ignored >= 4


def test_servers_from_stateless_dhcpv6_and_sync_over_ipv6():
    """lwIP's dhcp6_set_ntp_servers: the SNTP servers (RFC 4075) of a DHCPv6 Reply become the SNTP servers, and the
    exchange runs over IPv6."""
    import ipaddress

    from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import Ether

    from lwipy.apps import Dhcp6
    from lwipy.wire import dhcp6 as d6

    sim = Simulation(seed=9)
    hub = sim.hub()
    cfg = Config(ipv6_send_router_solicit=False, sntp_startup_delay=False)
    client = sim.add_stack("client", hub, cfg, ip6_linklocal=True, ip6="2001:db8::2/64")
    server = sim.add_stack("server", hub, cfg, ip6_linklocal=True, ip6="2001:db8::1/64")
    server.clock.settimeofday(SERVER_TIME)
    ntp = TinyNtp(server)
    sim.run(3.0)
    srv = server.udp.new(ip6=True)
    srv.bind("::", d6.SERVER_PORT)
    srv.join_group(ipaddress.IPv6Address(d6.ALL_DHCP_RELAY_AGENTS_AND_SERVERS))

    def serve(pcb, dgram):
        msg = d6.Dhcp6Message.parse(dgram.data)
        reply = d6.Dhcp6Message(d6.REPLY, msg.transaction_id, [
            d6.ServerId(d6.duid_ll(bytes(6))), msg.find(d6.ClientId),
            d6.SntpServers([ipaddress.IPv6Address("2001:db8::1").packed])])
        buf = bytearray(reply.buffer_len)
        reply.emit(buf)
        pcb.sendto(buf, dgram.src, dgram.src_port)
    srv.on_recv = serve
    sntp = Sntp(client)
    sntp.servermode_dhcp(True)
    events: list[SntpSynced] = []
    client.events.subscribe(SntpSynced, events.append)
    netif = client.netifs[-1]
    Dhcp6(client).enable_stateless(netif)
    ra = Ether(src="02:00:00:00:00:fe", dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255) / \
        ICMPv6ND_RA(O=1, routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe")
    client.input(netif, bytes(ra), sim.now)
    sim.run(2.0)
    assert str(sntp.getserver(0)) == "2001:db8::1"
    sntp.init()
    assert sim.run_until(lambda: bool(events), 5)
    assert str(events[0].server) == "2001:db8::1" and len(ntp.requests) == 1
    assert client.clock.time() == pytest.approx(server.clock.time(), abs=1e-6)


def test_retry_timeout_doubles_up_to_ten_times_the_receive_timeout():
    """A silent lone server: SNTP_RECV_TIMEOUT (15 s) then sntp_retry's delay 15, 30, 60, 120, then 150 s
    (SNTP_RETRY_TIMEOUT_MAX, ten times SNTP_RETRY_TIMEOUT)."""
    sim, client, sntp, (ntp,), events = net(Config(sntp_startup_delay=False))
    ntp.silent = True
    sntp.setserver(0, "10.0.0.1")
    sntp.init()
    sim.run(800)
    assert request_times(ntp) == [0.0, 30.0, 75.0, 150.0, 285.0, 450.0, 615.0, 780.0]
    assert sntp.getreachability(0) == 0


def test_esp_sntp_calls_run_on_the_core_thread():
    import threading

    from helpers import CaptureDevice

    from lwipy import Stack
    from lwipy.api.loop import StackLoop
    from lwipy.esp_netif import ESP_SNTP_OPMODE_POLL
    from lwipy.errors import ThreadSafetyError

    stack = Stack(Config(check_thread_safety=True), seed=1)
    stack.add_netif(CaptureDevice(), ip="10.0.0.2/24")
    loop = StackLoop(stack).start()
    try:
        esp = EspSntp(stack, loop)
        esp.setoperatingmode(ESP_SNTP_OPMODE_POLL)
        esp.setservername(0, "pool.ntp.org")
        assert esp.getservername(0) == "pool.ntp.org" and esp.getoperatingmode() == SntpOpMode.POLL
        esp.init()  # would raise ThreadSafetyError off the core thread
        assert esp.enabled() and esp.getreachability(0) == 0
        with pytest.raises(ThreadSafetyError):
            esp.sntp.stop()  # the bare Sntp off the core thread
        esp.stop()
        assert not esp.enabled() and threading.current_thread() is threading.main_thread()
    finally:
        loop.stop()
        loop.close()
