"""ESP-IDF's ping sessions (ping_sock.c semantics) in virtual time: defaults, profile values, callbacks with args,
start/stop/restart, delete while running, IPv6."""

from ipaddress import IPv4Address, IPv6Address

import pytest

from lwipy.config import Config
from lwipy.esp_netif import errors as E
from lwipy.esp_netif.ping import (ESP_PING_DEFAULT_CONFIG, EspPingCallbacks, EspPingConfig, EspPingProfile,
                                  esp_ping_delete_session, esp_ping_get_profile, esp_ping_new_session, esp_ping_start,
                                  esp_ping_stop)
from lwipy.sim import Simulation

P = EspPingProfile


def net(delay=0.003, **faults):
    sim = Simulation(seed=4)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24", faults=dict(delay=delay, **faults))
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    sim.run(0.1)  # gratuitous ARPs settle: every exchange below takes 2 x delay
    return sim, a, b


def profile(hdl):
    return {p.name[len("ESP_PING_PROF_"):]: esp_ping_get_profile(hdl, p) for p in P}


def recorder(events, sim):
    def cb(kind):
        return lambda hdl, args: events.append((kind, round(sim.now, 6), args, profile(hdl)))
    return EspPingCallbacks(cb_args="foo", on_ping_success=cb("ok"), on_ping_timeout=cb("timeout"),
                            on_ping_end=cb("end"))


def test_default_config_is_esp_idfs():
    d = ESP_PING_DEFAULT_CONFIG
    assert (d.count, d.interval_ms, d.timeout_ms, d.data_size, d.tos, d.ttl, d.interface) == (5, 1000, 1000, 64, 0,
                                                                                              None, 0)


def test_profile_figures_of_a_batch():
    sim, a, b = net(delay=0.003)
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", count=3, data_size=100, tos=0x28, ttl=17),
                               recorder(events, sim), stack=a)
    assert profile(hdl)["REQUEST"] == 0 and not hdl.running  # nothing before the start
    start = sim.now
    esp_ping_start(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 10)
    kinds = [(e[0], round(e[1] - start, 6), e[2]) for e in events]
    # a request every 1000 ms (vTaskDelayUntil), each answered after 6 ms (the first after 12: ARP first); the end
    # after the last interval's sleep
    assert kinds == [("ok", 0.012, "foo"), ("ok", 1.006, "foo"), ("ok", 2.006, "foo"), ("end", 3.0, "foo")]
    first = events[0][3]
    assert first == {"SEQNO": 1, "TOS": 0x28, "TTL": 64, "REQUEST": 1, "REPLY": 1, "IPADDR": IPv4Address("10.0.0.2"),
                     "SIZE": 100, "TIMEGAP": 12, "DURATION": 12}
    end = events[-1][3]
    assert (end["SEQNO"], end["REQUEST"], end["REPLY"], end["DURATION"]) == (3, 3, 3, 24)


def test_timeouts_count_the_timeout_in_timegap_and_duration():
    sim = Simulation(seed=4)
    a = sim.add_stack("a", sim.hub(), ip="10.0.0.1/24")
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.99", count=2, timeout_ms=700, interval_ms=500),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 10)
    # the exchange (700 ms) outlasts the interval (500 ms): the next request goes at once (vTaskDelayUntil)
    assert [(e[0], e[1]) for e in events] == [("timeout", 0.7), ("timeout", 1.4), ("end", 1.4)]
    assert events[1][3]["TIMEGAP"] == 700 and events[1][3]["DURATION"] == 1400
    assert events[1][3]["REQUEST"] == 2 and events[1][3]["REPLY"] == 0


def test_stop_restart_resets_the_statistics():
    sim, a, b = net()
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", count=0, interval_ms=100),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    sim.run(0.55)
    assert hdl.running and profile(hdl)["REQUEST"] == 6
    esp_ping_stop(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 5)
    assert profile(hdl)["REQUEST"] == 6 and not hdl.running  # the sleep after the last exchange ends the batch
    events.clear()
    esp_ping_start(hdl)  # restart: a fresh batch
    sim.run(0.25)
    p = profile(hdl)
    assert (p["SEQNO"], p["REQUEST"], p["REPLY"]) == (3, 3, 3)
    esp_ping_stop(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 5)
    esp_ping_delete_session(hdl)
    assert sim.run_until(lambda: hdl.deleted, 2)
    assert a.raw.pcbs == [] and hdl not in a._pollers
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        esp_ping_get_profile(hdl, P.ESP_PING_PROF_SEQNO)


def test_delete_while_running_lets_the_batch_finish_then_frees():
    sim, a, b = net()
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", count=4, interval_ms=100),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    sim.run(0.15)
    esp_ping_delete_session(hdl)
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        esp_ping_start(hdl)
    assert sim.run_until(lambda: hdl.deleted, 5)
    assert [e[0] for e in events] == ["ok"] * 4 + ["end"]
    ended = next(e[1] for e in events if e[0] == "end")
    assert ended < sim.now <= ended + 1.0  # the idle task notices within PING_CHECK_START_TIMEOUT_MS
    assert a.raw.pcbs == []


def test_start_while_running_starts_the_next_batch_at_once():
    sim, a, b = net()
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", count=2, interval_ms=100),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    sim.run(0.05)
    esp_ping_start(hdl)  # a second task notification
    esp_ping_start(hdl)  # collapses into the same one (ulTaskNotifyTake(pdTRUE))
    sim.run(1.0)
    assert [e[0] for e in events] == ["ok", "ok", "end", "ok", "ok", "end"]


def test_only_the_current_sequence_number_is_a_success():
    # b answers after 150 ms, the timeout is 100 ms: each reply is late, for the previous request
    sim, a, b = net(delay=0.075)
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", count=3, interval_ms=120, timeout_ms=100),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 5)
    assert [e[0] for e in events] == ["timeout"] * 3 + ["end"]


def test_ipv6_target_and_interface():
    sim = Simulation(seed=5)
    hub = sim.hub()
    cfg = Config()
    a = sim.add_stack("a", hub, cfg, ip6=["2001:db8::1/64"])
    sim.add_stack("b", hub, cfg, ip6=["2001:db8::2/64"])
    sim.run(3)  # duplicate address detection
    events = []
    hdl = esp_ping_new_session(EspPingConfig(target_addr="2001:db8::2", count=2, interval_ms=200, data_size=32,
                                             ttl=9, interface=a.netifs[-1].index),
                               recorder(events, sim), stack=a)
    esp_ping_start(hdl)
    assert sim.run_until(lambda: any(e[0] == "end" for e in events), 5)
    assert [e[0] for e in events] == ["ok", "ok", "end"]
    p = events[1][3]
    assert p["IPADDR"] == IPv6Address("2001:db8::2") and p["SIZE"] == 32 and p["TTL"] == 255  # lwIP answers with LWIP_ICMP6_HL
    assert (p["SEQNO"], p["REPLY"]) == (2, 2)


def test_bad_arguments():
    sim = Simulation(seed=4)
    a = sim.add_stack("a", sim.hub(), ip="10.0.0.1/24")
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        esp_ping_new_session(EspPingConfig(), stack=a)  # no target
    with pytest.raises(E.ESP_FAIL):
        esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2", interface=42), stack=a)
    hdl = esp_ping_new_session(EspPingConfig(target_addr="10.0.0.2"), stack=a)
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        esp_ping_get_profile(hdl, 99)
    with pytest.raises(E.ESP_ERR_INVALID_ARG):
        esp_ping_start(None)
