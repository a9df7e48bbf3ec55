"""ESP-IDF's mdns API (:class:`lwipy.api.EspMdns`) from plain threads against two StackLoops on a virtual hub: stack a
publishes a host, a service with TXT and a subtype; stack b's blocking ``query_*`` calls find them while its core
runs.  ESP-IDF's error codes for misuse; a query blocked in one thread is released by ``free`` or the loop's end.

Real time (the loops run on their own threads); waits are on the calls' own returns and bounded only to fail."""

from __future__ import annotations

import time
from ipaddress import IPv4Address

import pytest
from apihelpers import GENEROUS, Worker, wait_until

from lwipy.api import EspMdns
from lwipy.esp_netif.errors import (ESP_ERR_INVALID_ARG, ESP_ERR_INVALID_STATE, ESP_ERR_NO_MEM, ESP_ERR_NOT_FOUND,
                                    EspError)
from lwipy.wire import dns as w


def published(net, max_services: int = 10):
    ma, mb = EspMdns(net.la), EspMdns(net.lb)
    ma.init()
    ma.hostname_set("esp32")
    ma.instance_name_set("Kitchen")
    ma.service_add(None, "_http", "_tcp", 80, [("board", "esp32"), ("path", "/")])
    ma.service_subtype_add_for_host(None, "_http", "_tcp", None, "_printer")
    mb.init()
    mb.hostname_set("other")
    wait_until(lambda: net.la.call(lambda: ma.responder.state_of(ma.responder.services[0])) == "running")
    return ma, mb


def test_a_plain_thread_resolves_browses_and_reads_txt_while_the_core_runs(make_net):
    net = make_net()
    ma, mb = published(net)
    # each query blocks in a thread of its own (not the core's); the core keeps serving meanwhile
    addr = Worker(lambda: mb.query_a("esp32", 5000)).result()
    assert addr == IPv4Address("10.0.0.1")
    (res,) = Worker(lambda: mb.query_ptr("_http", "_tcp", 3000, 5)).result()
    assert (res.instance_name, res.service_type, res.proto, res.hostname, res.port) == (
        "Kitchen", "_http", "_tcp", "esp32", 80)
    assert res.txt == {"board": b"esp32", "path": b"/"} and res.addr == [IPv4Address("10.0.0.1")]
    (sub,) = mb.query_ptr("_http", "_tcp", 3000, 1, subtype="_printer")  # ends at its first complete result
    assert (sub.instance_name, sub.port) == ("Kitchen", 80)
    (srv,) = mb.query_srv("Kitchen", "_http", "_tcp", 3000)
    assert (srv.hostname, srv.port) == ("esp32", 80)
    ma.service_txt_item_set("_http", "_tcp", "path", "/index")
    # a query within a second of the new TXT's announcement gets no multicast answer (RFC 6762 6: one per second
    # per record), and lwipy's querier keeps no cache of what it heard before: asked again, it finds it
    wait_until(lambda: [r.txt.get("path") for r in mb.query_txt("Kitchen", "_http", "_tcp", 1000)] == [b"/index"])
    # the generic mdns_query: a host name with type A
    (host,) = mb.query("esp32", None, None, w.A, 3000, 1)
    assert host.addr == [IPv4Address("10.0.0.1")]
    assert mb.hostname_get() == "other" and ma.service_exists("_http", "_tcp") and not ma.service_exists("_ipp", "_tcp")
    ma.service_remove("_http", "_tcp")
    assert not ma.service_exists("_http", "_tcp")
    ma.free()
    mb.free()


def test_nothing_found_returns_after_the_timeout_with_esp_err_not_found(make_net):
    net = make_net()
    ma, mb = published(net)
    t0 = time.monotonic()
    with pytest.raises(ESP_ERR_NOT_FOUND):
        mb.query_a("nobody", 300)
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(ESP_ERR_NOT_FOUND):
        mb.query_aaaa("esp32", 300)  # a has no IPv6 address
    assert mb.query_ptr("_ipp", "_tcp", 300, 5) == []  # mdns_query_ptr: ESP_OK with no results


def test_esp_idf_error_codes():
    from lwipy import Config, Stack
    from lwipy.api import StackLoop
    from lwipy.netif import VirtualHub
    stack = Stack(Config(mdns_max_services=2), seed=1, name="a")
    stack.add_netif(VirtualHub().port("a"), ip="10.0.0.1/24")
    loop = StackLoop(stack).start()
    try:
        m = EspMdns(loop)
        with pytest.raises(ESP_ERR_INVALID_STATE):
            m.hostname_set("esp32")  # before mdns_init
        with pytest.raises(ESP_ERR_INVALID_STATE):
            m.query_a("esp32", 100)
        m.init()
        m.init()  # ESP_OK again
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.service_add(None, "_http", "_tcp", 80)  # no hostname yet
        with pytest.raises(ESP_ERR_INVALID_STATE):
            m.hostname_get()
        for bad in ("", "x" * 64, None):
            with pytest.raises(ESP_ERR_INVALID_ARG):
                m.hostname_set(bad)
        m.hostname_set("esp32")
        assert m.hostname_get() == "esp32"
        m.service_add("One", "_http", "_tcp", 80)
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.service_add("One", "_http", "_tcp", 81)  # exists already
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.service_add("Two", "_ipp", "_sctp", 631)
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.service_add("Two", "_ipp", "_tcp", 0)
        m.service_add("Two", "_ipp", "_tcp", 631)
        with pytest.raises(ESP_ERR_NO_MEM) as e:
            m.service_add("Three", "_ftp", "_tcp", 21)  # CONFIG_MDNS_MAX_SERVICES
        assert e.value.code == 0x101
        with pytest.raises(ESP_ERR_NOT_FOUND) as e:
            m.service_remove("_ftp", "_tcp")
        assert e.value.code == 0x105
        with pytest.raises(ESP_ERR_NOT_FOUND):
            m.service_txt_item_set("_ftp", "_tcp", "k", "v")
        with pytest.raises(ESP_ERR_NOT_FOUND):
            m.service_txt_item_remove("_http", "_tcp", "missing")
        with pytest.raises(ESP_ERR_NOT_FOUND):
            m.service_subtype_add_for_host(None, "_ftp", "_tcp", None, "_x")
        with pytest.raises(ESP_ERR_NOT_FOUND):
            m.service_subtype_add_for_host(None, "_http", "_tcp", "someone-else", "_x")  # no delegated hosts
        with pytest.raises(ESP_ERR_NOT_FOUND):
            m.service_subtype_remove_for_host(None, "_http", "_tcp", None, "_x")
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.query_a("esp32.local", 100)  # ESP-IDF: the name without .local
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.query_a("esp32", 0)
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.query_ptr("_http", "_tcp", 100, 0)
        # on the core thread a blocking query would wait for itself
        with pytest.raises(ESP_ERR_INVALID_STATE):
            loop.call(lambda: m.query_a("esp32", 100))
        # another responder on the stack
        other = EspMdns(loop)
        with pytest.raises(ESP_ERR_INVALID_STATE):
            other.init()
        m.free()
        with pytest.raises(ESP_ERR_INVALID_ARG):
            m.service_remove("_http", "_tcp")  # freed
        other.init()
        other.free()
    finally:
        loop.stop()
        loop.close()
    with pytest.raises(EspError):
        m.init()  # the loop is gone


def test_free_and_the_loops_end_release_a_blocked_query(make_net):
    net = make_net()
    ma, mb = published(net)
    waiting = Worker(lambda: mb.query_ptr("_ipp", "_tcp", 60000, 5))
    wait_until(lambda: net.lb.call(lambda: len(mb.responder.searches)) == 1)
    t0 = time.monotonic()
    mb.free()
    assert waiting.result() == [] and time.monotonic() - t0 < GENEROUS
    mb.init()
    mb.hostname_set("other")
    waiting = Worker(lambda: mb.query_a("nobody", 60000))
    wait_until(lambda: net.lb.call(lambda: len(mb.responder.searches)) == 1)
    net.lb.stop()
    with pytest.raises(ESP_ERR_INVALID_STATE):
        waiting.result()
