"""esp_event's loop: handler order, any-base/any-id, unregistering, the bounded queue, a loop with a task and one
driven by run(), errors with ESP-IDF's names and codes."""

import threading

import pytest

from lwipy.esp_netif import ESP_EVENT_ANY_BASE, ESP_EVENT_ANY_ID, IP_EVENT, EspEventLoop, IpEvent, esp_err_to_name
from lwipy.esp_netif import errors as E


def test_handlers_run_in_esp_idfs_order_any_base_then_any_id_then_the_id():
    loop = EspEventLoop(task=False)
    seen = []
    loop.handler_register(IP_EVENT, IpEvent.STA_GOT_IP, lambda arg, b, i, d: seen.append(("id", arg, b, i, d)), "x")
    loop.handler_register(IP_EVENT, ESP_EVENT_ANY_ID, lambda arg, b, i, d: seen.append(("any-id", i)))
    loop.handler_register(ESP_EVENT_ANY_BASE, ESP_EVENT_ANY_ID, lambda arg, b, i, d: seen.append(("any-base", b, i)))
    loop.handler_register("WIFI_EVENT", ESP_EVENT_ANY_ID, lambda arg, b, i, d: seen.append(("wifi", i)))
    loop.post(IP_EVENT, IpEvent.STA_GOT_IP, "payload")
    loop.post(IP_EVENT, IpEvent.STA_LOST_IP, None)
    assert seen == []  # nothing before run(): a loop without a task delivers on the thread that runs it
    assert loop.run() == 2
    assert seen == [("any-base", "IP_EVENT", 0), ("any-id", 0), ("id", "x", "IP_EVENT", 0, "payload"),
                    ("any-base", "IP_EVENT", 1), ("any-id", 1)]
    assert loop.delivered == 2 and loop.pending() == 0


def test_unregister_by_handler_and_by_instance():
    loop = EspEventLoop(task=False)
    seen = []

    def h(arg, base, event_id, data):
        seen.append(arg)
    loop.handler_register(IP_EVENT, 3, h, "a")
    instance = loop.handler_register(IP_EVENT, 3, h, "b")
    instance.unregister()
    loop.post(IP_EVENT, 3)
    loop.run()
    assert seen == ["a"]
    loop.handler_unregister(IP_EVENT, 3, h)
    loop.post(IP_EVENT, 3)
    loop.run()
    assert seen == ["a"]


def test_full_queue_raises_esp_err_timeout_and_core_posts_are_dropped_and_counted():
    loop = EspEventLoop(task=False, queue_size=2)
    loop.post(IP_EVENT, 0)
    loop.post(IP_EVENT, 1)
    with pytest.raises(E.ESP_ERR_TIMEOUT) as err:
        loop.post(IP_EVENT, 2)
    assert err.value.code == 0x107 and isinstance(err.value, E.EspError)
    assert loop.post_from_core(IP_EVENT, 3) is False and loop.dropped == 1
    assert loop.run() == 2


def test_a_handler_that_raises_does_not_stop_the_others():
    loop = EspEventLoop(task=False)
    seen = []
    loop.handler_register(IP_EVENT, 0, lambda *a: 1 / 0)
    loop.handler_register(IP_EVENT, 0, lambda *a: seen.append(1))
    loop.post(IP_EVENT, 0)
    loop.run()
    assert seen == [1]


def test_a_loop_with_a_task_delivers_on_its_own_thread():
    loop = EspEventLoop(name="sys_evt_test")
    try:
        got = threading.Event()
        threads = []

        def h(arg, base, event_id, data):
            threads.append(threading.current_thread().name)
            got.set()
        loop.handler_register(IP_EVENT, IpEvent.GOT_IP6, h)
        loop.post(IP_EVENT, IpEvent.GOT_IP6, None)
        assert got.wait(30)
        assert threads == ["sys_evt_test"]
        assert loop.wait_idle(30)
        with pytest.raises(E.ESP_ERR_INVALID_STATE):
            loop.run()
    finally:
        loop.delete()
    with pytest.raises(E.ESP_ERR_INVALID_STATE):
        loop.post(IP_EVENT, 0)


def test_error_classes_carry_esp_idfs_names_and_codes():
    assert E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED.code == 0x5004
    assert E.ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED.code == 0x5005
    assert E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED.code == 0x5007
    assert E.ESP_ERR_ESP_NETIF_DHCPS_START_FAILED.code == 0x500D
    assert esp_err_to_name(0x5007) == "ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED"
    assert esp_err_to_name(0) == "ESP_OK" and esp_err_to_name(0x7777) == "UNKNOWN ERROR"
    assert "ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED (0x5007)" in str(E.ESP_ERR_ESP_NETIF_DHCP_NOT_STOPPED())
    assert IpEvent.AP_STAIPASSIGNED is IpEvent.ASSIGNED_IP_TO_CLIENT and IpEvent.ETH_LOST_IP == 5
