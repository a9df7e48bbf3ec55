"""esp_netif's PPP netif (lwipy.esp_netif.ppp): esp_netif_ppp_set_auth / set_params, and the events ESP-IDF posts
(IP_EVENT_PPP_GOT_IP, IP_EVENT_PPP_LOST_IP, NETIF_PPP_STATUS errors and phases), client and server in virtual time."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from ppp_link import PppSimLink

from lwipy import Config
from lwipy.esp_netif import IP_EVENT, EspEventLoop, IpEvent
from lwipy.esp_netif.errors import EspError
from lwipy.esp_netif.ppp import (NETIF_PPP_STATUS, EspNetifAuthType, EspNetifPpp, EspNetifPppConfig,
                                 EspNetifPppStatusEvent)
from lwipy.netif.pppos import SerialPipe
from lwipy.sim import Simulation

S = EspNetifPppStatusEvent


def make(sim, name, serial, config, **kw):
    stack = sim.new_stack(name, config)
    events = EspEventLoop(task=False)
    sim.add_driver(events)
    got = []
    events.handler_register(None, -1, lambda arg, base, eid, data: got.append((base, eid, data)))
    return EspNetifPpp(stack, serial, event_loop=events, clock=sim.clock, **kw), got


def attach(link, e):
    link.ends.append((e.stack, e.netif, e.device))


@pytest.mark.parametrize("auth", [EspNetifAuthType.PAP, EspNetifAuthType.CHAP, EspNetifAuthType.NONE])
def test_got_ip_lost_ip_and_status_events(auth):
    cfg = Config(ppp_support=True, ppp_server_support=True, ppp_pap_support=True, ppp_chap_support=True,
                 ppp_notify_phase_support=True, ppp_enable_ipv6=False)
    sim = Simulation(seed=2)
    link = PppSimLink(sim)
    sa, sb = SerialPipe.pair()
    server, sev = make(sim, "server", sb, cfg, server=True, dns=[IPv4Address("10.64.0.53")])
    server.set_params(EspNetifPppConfig(our_ip4_addr=IPv4Address("10.64.0.1"),
                                        their_ip4_addr=IPv4Address("10.64.0.2")))
    server.set_auth(auth, "alice", "s3cret")
    client, cev = make(sim, "client", sa, cfg)
    client.set_auth(auth, "alice", "s3cret")
    server.start()
    attach(link, server)
    client.start()
    attach(link, client)
    assert sim.run_until(lambda: any(e[:2] == (IP_EVENT, IpEvent.PPP_GOT_IP) for e in cev), 10)
    got = [d for b, i, d in cev if (b, i) == (IP_EVENT, IpEvent.PPP_GOT_IP)][0]
    assert got.esp_netif is client
    assert (str(got.ip_info.ip), str(got.ip_info.netmask), str(got.ip_info.gw)) == ("10.64.0.2", "255.255.255.255",
                                                                                   "10.64.0.1")
    assert client.get_ip_info() == got.ip_info
    assert client.stack.dns_getserver(0) == IPv4Address("10.64.0.53")
    phases = [i for b, i, _ in cev if b == NETIF_PPP_STATUS]
    assert phases[:4] == [S.PHASE_INITIALIZE, S.PHASE_ESTABLISH, S.PHASE_AUTHENTICATE, S.PHASE_NETWORK]
    assert phases[-1] == S.PHASE_RUNNING
    assert client.device.pcb.auth_used == {EspNetifAuthType.PAP: "pap", EspNetifAuthType.CHAP: "chap"}.get(auth,
                                                                                                          "none")
    # the server closes: it ends with PPPERR_USER, the client loses its address (PPP_LOST_IP)
    server.stop()
    assert sim.run_until(lambda: any(e[:2] == (IP_EVENT, IpEvent.PPP_LOST_IP) for e in cev), 10)
    assert (NETIF_PPP_STATUS, S.ERRORUSER) in [(b, i) for b, i, _ in sev]
    assert client.get_ip_info().ip == IPv4Address(0)
    assert [i for b, i, _ in cev if b == NETIF_PPP_STATUS][-1] == S.PHASE_DEAD


def test_set_auth_and_params_follow_the_config():
    sim = Simulation(seed=3)
    e, _ = make(sim, "c", SerialPipe(), Config(ppp_support=True))
    with pytest.raises(EspError):
        e.set_auth(EspNetifAuthType.PAP, "u", "p")  # CONFIG_LWIP_PPP_PAP_SUPPORT is off
    with pytest.raises(EspError):
        e.set_auth(EspNetifAuthType.MSCHAP, "u", "p")
    with pytest.raises(EspError):
        e.set_params(EspNetifPppConfig(our_ip4_addr=IPv4Address("10.0.0.1")))  # no server support
    assert e.get_params().ppp_phase_event_enabled is False  # CONFIG_LWIP_PPP_NOTIFY_PHASE_SUPPORT off


def test_authfail_is_a_status_event_not_lost_ip():
    cfg = Config(ppp_support=True, ppp_server_support=True, ppp_chap_support=True)
    sim = Simulation(seed=4)
    link = PppSimLink(sim)
    sa, sb = SerialPipe.pair()
    server, sev = make(sim, "server", sb, cfg, server=True)
    server.set_params(EspNetifPppConfig(our_ip4_addr=IPv4Address("10.64.0.1"),
                                        their_ip4_addr=IPv4Address("10.64.0.2")))
    server.set_auth(EspNetifAuthType.CHAP, "alice", "s3cret")
    client, cev = make(sim, "client", sa, cfg)
    client.set_auth(EspNetifAuthType.CHAP, "alice", "wrong")
    server.start()
    attach(link, server)
    client.start()
    attach(link, client)
    assert sim.run_until(lambda: (NETIF_PPP_STATUS, S.ERRORAUTHFAIL) in [(b, i) for b, i, _ in cev], 30)
    assert not any(b == IP_EVENT for b, _, _ in cev)
