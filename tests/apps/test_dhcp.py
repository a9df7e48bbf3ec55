"""The DHCP client (lwIP's dhcp.c with ESP-IDF's options) in virtual time: every state, lwIP's exact timers, against a
scripted server and against lwipy's own DHCP server (with loss)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import pytest
from dhcp_net import Net, ScriptedServer

from lwipy import Config
from lwipy.apps import DhcpBound, DhcpClient, DhcpLost, DhcpServer, DhcpState
from lwipy.wire import dhcp as w
from lwipy.wire.dhcp import DhcpMessage

IP = IPv4Address


def client(net: Net, config: Config | None = None, ip: str | None = None, **kw):
    stack, netif = net.stack("client", config, hwaddr=bytes.fromhex("240ac4000001"), ip=ip)
    events: list = []
    stack.events.subscribe(DhcpBound, lambda e: events.append((net.sim.now, e)))
    stack.events.subscribe(DhcpLost, lambda e: events.append((net.sim.now, e)))
    dhcp = DhcpClient(stack, netif, **kw)
    return stack, netif, dhcp, events


def bound_at(net: Net, dhcp: DhcpClient, timeout: float = 120) -> float:
    assert net.sim.run_until(lambda: dhcp.state == DhcpState.BOUND, timeout)
    return net.sim.now


def test_discover_offer_request_ack_arp_check_bound_with_lwips_options():
    net = Net()
    server = ScriptedServer(net)
    stack, netif, dhcp, events = client(net, Config(dhcp_get_ntp_srv=True), hostname="esp32-test")
    server.extra = [(w.NTP_SERVER, IP("10.0.0.123").packed)]
    dhcp.start()
    assert bound_at(net, dhcp) == 1.0  # ACK at 0, probes at 0 and 0.5, bound 0.5 after the second (dhcp_check)
    assert netif.ip4 == IPv4Interface("10.0.0.50/24") and netif.gateway == IP("10.0.0.1")
    sent = net.dhcp(from_mac=netif.hwaddr)
    assert [s.type for s in sent] == [w.DISCOVER, w.REQUEST]
    discover, request = sent[0].msg, sent[1].msg
    assert (sent[0].src, sent[0].dst) == (IP(0), IP("255.255.255.255"))
    assert discover.get(w.CLIENT_ID) == b"\x01" + netif.hwaddr and discover.get(w.HOSTNAME) == b"esp32-test"
    assert discover.get(w.PARAMETER_REQUEST) == bytes([1, 3, 28, 6, 42])
    assert discover.get(w.MAX_MESSAGE_SIZE) == (1500).to_bytes(2, "big")
    assert not discover.has(w.VENDOR_CLASS)  # CONFIG_LWIP_DHCP_DISABLE_VENDOR_CLASS_ID is y by default
    assert w.ip_of(request.get(w.REQUESTED_IP)) == IP("10.0.0.50") and w.ip_of(request.get(w.SERVER_ID)) == server.ip
    assert sent[0].size == sent[1].size == 240 + 68  # padded to DHCP_MIN_OPTIONS_LEN, past BOOTP's 300
    probes = [(t, a) for t, a in net.arp() if a.sender_mac == netif.hwaddr and a.target_ip == IP("10.0.0.50").packed]
    assert [t for t, a in probes][:2] == [0.0, 0.5] and probes[0][1].sender_ip == bytes(4)
    # the lease's servers: DNS MAIN and BACKUP (never FALLBACK), NTP kept for SNTP
    assert [stack.dns_getserver(i) for i in (0, 1, 2)] == [IP("10.0.0.53"), IP("10.0.0.54"),
                                                                                   None]
    assert dhcp.lease.ntp_servers == [IP("10.0.0.123")]
    (t, got), = events
    assert isinstance(got, DhcpBound) and got.ip_changed and not got.renewed and got.lease.address == IP("10.0.0.50")


def test_discover_backoff_is_lwips_2_4_8_16_32_then_60_with_one_xid():
    net = Net()
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    net.sim.run(300)
    sent = net.dhcp((w.DISCOVER,), netif.hwaddr)
    assert [s.t for s in sent] == [0, 2, 6, 14, 30, 62, 122, 182, 242]
    assert len({s.msg.xid for s in sent}) == 1  # retransmissions keep the transaction id


def test_request_retries_then_starts_over_after_the_sixth():
    net = Net()
    server = ScriptedServer(net)
    server.on_request = lambda msg: "ignore"
    server.mode = "answer"
    stack, netif, dhcp, events = client(net)
    orig = server._reply
    server._reply = lambda req, mtype, inform=False: orig(req, mtype, inform) if mtype == w.OFFER else None
    dhcp.start()
    net.sim.run(64)
    sent = net.dhcp(None, netif.hwaddr)
    times = [(s.t, s.type) for s in sent]
    # REQUEST at 0, 2, 6, 14, 30, 62 (tries 1..6); at 62 + 64? no: the 6th timeout (tries 6 > 5) restarts
    assert times[:7] == [(0, w.DISCOVER), (0, w.REQUEST), (2, w.REQUEST), (6, w.REQUEST), (14, w.REQUEST),
                         (30, w.REQUEST), (62, w.REQUEST)]
    net.sim.run(60)
    assert (122, w.DISCOVER) in [(s.t, s.type) for s in net.dhcp(None, netif.hwaddr)]


def test_t1_renews_by_unicast_retries_half_way_t2_rebinds_and_expiry_removes_the_address():
    net = Net()
    server = ScriptedServer(net, lease=600)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    server.mode = "silent"
    net.sim.run(700)
    sent = [(s.t - t0, s.type, s.dst, s.msg.ciaddr) for s in net.dhcp(None, netif.hwaddr) if s.t >= t0]
    own = IP("10.0.0.50")
    # T1 = 300: RENEW by unicast from our address; again half-way to T2 (525): 412 (112 s >= 60); then (525-412)/2 =
    # 56 < 60: no more.  T2 = 525: REBIND by broadcast; (600-525)/2 < 60: once.  600: the lease ends (RELEASE, then
    # DISCOVER from 0.0.0.0, backing off 2, 4, 8...)
    assert sent[:5] == [(300, w.REQUEST, server.ip, own), (412, w.REQUEST, server.ip, own),
                        (525, w.REQUEST, IP("255.255.255.255"), own), (600, w.RELEASE, server.ip, own),
                        (600, w.DISCOVER, IP("255.255.255.255"), IP(0))]
    assert netif.ip4 is None and dhcp.lease is None and dhcp.state == DhcpState.SELECTING
    lost = [(t - t0, e) for t, e in events if isinstance(e, DhcpLost)]
    assert [(t, e.reason, e.address) for t, e in lost] == [(600, "expired", own)]


def test_t1_t2_options_and_a_renewal_answered_keep_the_address():
    net = Net()
    server = ScriptedServer(net, lease=100, t1=30, t2=80)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    net.sim.run(35)
    renew = [s for s in net.dhcp((w.REQUEST,), netif.hwaddr) if s.t > t0]
    assert [(s.t - t0, s.dst) for s in renew] == [(30, server.ip)]
    assert dhcp.state == DhcpState.BOUND and dhcp.lease.bound_at == t0 + 30
    renewed = [e for t, e in events if isinstance(e, DhcpBound)][-1]
    assert renewed.renewed and not renewed.ip_changed


def test_a_lease_under_a_minute_rebinds_at_t2_without_renewing():
    net = Net()
    server = ScriptedServer(net, lease=40, t1=20, t2=20)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    server.mode = "silent"
    net.sim.run(30)
    # t1 >= t2: lwIP drops T1 ("t2 and t1 will kick in at the same time"): one REBIND by broadcast at 20
    assert [(s.t - t0, s.dst) for s in net.dhcp((w.REQUEST,), netif.hwaddr) if s.t > t0] == [
        (20, IP("255.255.255.255"))]


def test_a_nak_while_renewing_removes_the_address_and_discovers_at_once():
    net = Net()
    server = ScriptedServer(net, lease=100)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    answers = iter(["nak"])
    server.on_request = lambda msg: next(answers, "silent")
    orig = server._reply
    server._reply = lambda req, mtype, inform=False: orig(req, mtype, inform) if mtype == w.NAK else None
    net.sim.run(51)
    assert dhcp.stats.naks == 1 and netif.ip4 is None and dhcp.state == DhcpState.SELECTING
    lost = [e for t, e in events if isinstance(e, DhcpLost)]
    assert [e.reason for e in lost] == ["nak"]
    after = [(s.t - t0, s.type) for s in net.dhcp((w.DISCOVER,), netif.hwaddr) if s.t > t0]
    assert after[0] == (50, w.DISCOVER)


def test_an_offered_address_in_use_is_declined_and_discovery_resumes_10_s_later():
    net = Net()
    server = ScriptedServer(net)
    squatter, _ = net.stack("squatter", ip="10.0.0.50/24")
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    net.sim.run(1)
    assert dhcp.state == DhcpState.BACKING_OFF and dhcp.stats.declines == 1
    decline, = net.dhcp((w.DECLINE,), netif.hwaddr)
    assert w.ip_of(decline.msg.get(w.REQUESTED_IP)) == IP("10.0.0.50") and decline.dst == IP("255.255.255.255")
    server.offer_ip = IP("10.0.0.51")
    assert bound_at(net, dhcp) == decline.t + 10 + 1.0
    assert netif.ip4.ip == IP("10.0.0.51")
    assert [s.t for s in net.dhcp((w.DISCOVER,), netif.hwaddr)] == [0, decline.t + 10]


def test_no_arp_check_binds_at_the_ack():
    net = Net()
    ScriptedServer(net)
    stack, netif, dhcp, events = client(net, Config(dhcp_does_arp_check=False))
    dhcp.start()
    assert bound_at(net, dhcp) == 0.0


def test_restore_last_ip_starts_with_init_reboot_and_falls_back_to_discover():
    net = Net()
    server = ScriptedServer(net)
    server.mode = "silent"
    stack, netif, dhcp, events = client(net, Config(dhcp_restore_last_ip=True), last_ip="10.0.0.77")
    dhcp.start()
    net.sim.run(3.5)
    sent = net.dhcp(None, netif.hwaddr)
    # dhcp_reboot: REQUEST at 0 and 1 (tries * 1 s), then REBOOT_TRIES spent: DISCOVER at 3
    assert [(s.t, s.type) for s in sent] == [(0, w.REQUEST), (1, w.REQUEST), (3, w.DISCOVER)]
    req = sent[0].msg
    assert w.ip_of(req.get(w.REQUESTED_IP)) == IP("10.0.0.77") and not req.has(w.SERVER_ID)
    assert req.ciaddr == IP(0)


def test_init_reboot_acked_binds_without_a_check():
    net = Net()
    server = ScriptedServer(net, offer_ip="10.0.0.77")
    stack, netif, dhcp, events = client(net, Config(dhcp_restore_last_ip=True), last_ip="10.0.0.77")
    dhcp.start()
    assert bound_at(net, dhcp) == 0.0 and netif.ip4.ip == IP("10.0.0.77")
    assert [m.message_type for m in server.got] == [w.REQUEST]  # no DISCOVER


def test_link_down_and_up_asks_for_the_address_back_with_init_reboot():
    net = Net()
    server = ScriptedServer(net)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    netif.set_link_up(False)
    net.sim.run(5)
    netif.set_link_up(True)  # dhcp_network_changed
    net.sim.run(1)
    reboot = [s for s in net.dhcp((w.REQUEST,), netif.hwaddr) if s.t > t0]
    assert len(reboot) == 1 and w.ip_of(reboot[0].msg.get(w.REQUESTED_IP)) == IP("10.0.0.50")
    assert not reboot[0].msg.has(w.SERVER_ID) and dhcp.state == DhcpState.BOUND
    assert [m.message_type for m in server.got] == [w.DISCOVER, w.REQUEST, w.REQUEST]
    assert not [e for t, e in events if isinstance(e, DhcpLost)]


def test_start_with_the_link_down_waits_in_init():
    net = Net()
    ScriptedServer(net)
    stack, netif, dhcp, events = client(net)
    netif.set_link_up(False)
    dhcp.start()
    net.sim.run(5)
    assert dhcp.state == DhcpState.INIT and not net.dhcp(None, netif.hwaddr)
    netif.set_link_up(True)
    assert bound_at(net, dhcp, 5) == 6.0


def test_release_gives_the_lease_back_by_unicast_and_removes_the_address():
    net = Net()
    server_stack, server_netif = net.stack("ap", ip="192.168.4.1/24")
    server = DhcpServer(server_stack, server_netif)
    server.start()
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    bound_at(net, dhcp)
    assert [c.ip for c in server.clients()] == [IP("192.168.4.2")]
    dhcp.release()
    net.sim.run(1)
    rel, = net.dhcp((w.RELEASE,), netif.hwaddr)
    assert rel.dst == IP("192.168.4.1") and rel.msg.ciaddr == IP("192.168.4.2")
    assert server.clients() == [] and netif.ip4 is None and dhcp.state == DhcpState.OFF
    assert [e.reason for t, e in events if isinstance(e, DhcpLost)] == ["released"]
    dhcp.stop()
    assert stack.poll_at() is None or dhcp not in stack._pollers


def test_inform_takes_dns_servers_without_touching_the_address():
    net = Net()
    ScriptedServer(net)
    stack, netif, dhcp, events = client(net, ip="10.0.0.9/24")
    dhcp.inform()
    net.sim.run(1)
    inform, = net.dhcp((w.INFORM,), netif.hwaddr)
    assert inform.msg.ciaddr == IP("10.0.0.9") and inform.src == IP("10.0.0.9")
    assert [stack.dns_getserver(0), stack.dns_getserver(1)] == [IP("10.0.0.53"), IP("10.0.0.54")]
    assert netif.ip4 == IPv4Interface("10.0.0.9/24") and dhcp.state == DhcpState.OFF


def test_replies_for_another_xid_or_mac_are_ignored():
    net = Net()
    server = ScriptedServer(net)
    assert server.ip == IP("10.0.0.1")
    stack, netif, dhcp, events = client(net)
    orig = server._reply

    def wrong(req, mtype, inform=False):
        req.xid ^= 1
        orig(req, mtype, inform)
    server._reply = wrong
    dhcp.start()
    net.sim.run(3)
    assert dhcp.state == DhcpState.SELECTING and dhcp.stats.drop >= 2


def test_hooks_append_options_and_see_the_options_lwip_does_not_decode():
    net = Net()
    server = ScriptedServer(net)
    server.extra = [(224, b"vendor-data")]
    stack, netif, dhcp, events = client(net)
    seen = []
    stack.hooks.install({
        "dhcp_append_options": lambda stack, netif, dhcp, state, msg, msg_type: bytes((225, 3)) + b"abc",
        "dhcp_parse_option": lambda stack, netif, dhcp, state, msg, msg_type, option, value:
            seen.append((state, msg_type, option, value)),
    })
    dhcp.start()
    bound_at(net, dhcp)
    assert all(s.msg.get(225) == b"abc" for s in net.dhcp(None, netif.hwaddr))
    assert (int(DhcpState.SELECTING), w.OFFER, 224, b"vendor-data") in seen
    assert (int(DhcpState.REQUESTING), w.ACK, 224, b"vendor-data") in seen
    assert not any(opt in (w.SUBNET_MASK, w.ROUTER, w.DNS_SERVER, w.SERVER_ID) for _, _, opt, _ in seen)


def test_vendor_class_and_no_client_id_when_configured():
    net = Net()
    ScriptedServer(net)
    stack, netif, dhcp, events = client(net, Config(dhcp_disable_vendor_class_id=False, dhcp_disable_client_id=True),
                                        vendor_class="ESP32", hostname=None)
    dhcp.start()
    bound_at(net, dhcp)
    discover = net.dhcp((w.DISCOVER,), netif.hwaddr)[0].msg
    assert discover.get(w.VENDOR_CLASS) == b"ESP32" and not discover.has(w.CLIENT_ID)
    assert not discover.has(w.HOSTNAME)


@pytest.mark.parametrize("loss", [0.0, 0.3])
def test_many_lwipy_clients_lease_from_the_lwipy_server_with_loss(loss):
    net = Net(seed=11)
    server_stack, server_netif = net.stack("ap", ip="192.168.4.1/24")
    server = DhcpServer(server_stack, server_netif)
    server.start()
    clients = []
    for i in range(6):
        stack, netif = net.sim.add_stack(f"sta{i}", net.hub, faults={"loss": loss} if loss else None), None
        netif = stack.netif_by_name("en0")
        dhcp = DhcpClient(stack, netif)
        dhcp.start()
        clients.append((stack, netif, dhcp))
    assert net.sim.run_until(lambda: all(d.state == DhcpState.BOUND for _, _, d in clients), 300)
    addrs = [n.ip4.ip for _, n, _ in clients]
    assert len(set(addrs)) == 6 and all(IP("192.168.4.2") <= a <= IP("192.168.4.101") for a in addrs)
    assert {c.ip for c in server.clients()} == set(addrs)
    assert all(s.dns_getserver(0) == IP("192.168.4.1") for s, _, _ in clients)


def test_removing_the_netif_stops_the_client():
    net = Net()
    ScriptedServer(net)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    bound_at(net, dhcp)
    stack.remove_netif(netif)
    assert dhcp.state == DhcpState.OFF and dhcp.poll_at() is None and "dhcp_pcb" not in stack.apps


def test_options_in_an_overloaded_file_field_are_read():
    net = Net()
    server = ScriptedServer(net, lease=None)

    def overloaded(req, mtype, inform=False):
        # the router and lease time in the file field (option overload 52, RFC 2132 9.3)
        out_file = [(w.ROUTER, IP("10.0.0.254").packed), (w.LEASE_TIME, (200).to_bytes(4, "big"))]
        msg = DhcpMessage(op=w.BOOTREPLY, xid=req.xid, chaddr=req.chaddr, yiaddr=server.offer_ip,
                          file_options=out_file)
        msg.add(w.MESSAGE_TYPE, mtype).add(w.SERVER_ID, server.ip).add(w.SUBNET_MASK, IP("255.255.255.0"))
        server.pcb.sendto_netif(msg.emit(), "255.255.255.255", 68, server.netif)
    server._reply = overloaded
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    bound_at(net, dhcp)
    assert netif.gateway == IP("10.0.0.254") and dhcp.lease.lease_time == 200


def test_coarse_timer_ticks_round_the_lease_as_lwip_with_a_60_s_timer():
    net = Net()
    server = ScriptedServer(net, lease=100)
    stack, netif, dhcp, events = client(net, Config(dhcp_coarse_timer_secs=10))
    dhcp.start()
    t0 = bound_at(net, dhcp)
    server.mode = "silent"
    net.sim.run(200)
    # ticks of 10 s: lease (100 + 5) // 10 = 10 ticks, T1 (50 + 5) // 10 = 5, T2 (87 + 5) // 10 = 9
    sent = [(s.t - t0, s.type, s.dst) for s in net.dhcp(None, netif.hwaddr) if s.t > t0]
    assert sent[:4] == [(50, w.REQUEST, server.ip), (90, w.REQUEST, IP("255.255.255.255")),
                        (100, w.RELEASE, server.ip), (100, w.DISCOVER, IP("255.255.255.255"))]


def test_a_lease_ending_while_rebooting_after_a_link_change_removes_the_address():
    net = Net()
    server = ScriptedServer(net, lease=30, t1=1000, t2=1000)
    stack, netif, dhcp, events = client(net)
    dhcp.start()
    t0 = bound_at(net, dhcp)
    server.mode = "silent"
    netif.set_link_up(False)
    netif.set_link_up(True)  # INIT-REBOOT, unanswered: REBOOTING, then DISCOVER after 3 s, with the address kept
    net.sim.run(31)
    assert netif.ip4 is None and dhcp.lease is None
    assert [(t - t0, e.reason) for t, e in events if isinstance(e, DhcpLost)] == [(30, "expired")]
