"""Config: ESP-IDF defaults, range checks, sdkconfig import."""

import pytest

from lwipy import Config, ConfigError
from lwipy.config import SdkconfigWarning


def test_esp_idf_defaults():
    c = Config()
    assert (c.max_sockets, c.tcp_mss, c.ip_default_ttl) == (10, 1440, 64)
    assert c.ip4_frag is True and c.ip4_reassembly is False and c.ip_reass_max_pbufs == 10
    assert c.netif_loopback is True and c.loopback_max_pbufs == 8
    assert c.esp_gratuitous_arp is True and c.garp_tmr_interval == 60.0
    assert c.arp_table_size == 10 and c.udp_recvmbox_size == 6 and c.max_udp_pcbs == 16
    assert (c.checksum_check_ip, c.checksum_check_udp, c.checksum_check_icmp) == (False, False, True)


@pytest.mark.parametrize("options, word", [
    ({"ip_default_ttl": 0}, "ip_default_ttl"),
    ({"ip_default_ttl": 256}, "ip_default_ttl"),
    ({"max_sockets": 0}, "max_sockets"),
    ({"max_sockets": 4097}, "max_sockets"),
    ({"tcp_mss": 70000}, "tcp_mss"),
    ({"ip_reass_max_pbufs": 5}, "ip_reass_max_pbufs"),
    ({"ip4_frag": 1}, "ip4_frag"),
    ({"tcp_mss": "1440"}, "tcp_mss"),
    ({"arp_table_size": 2.5}, "arp_table_size"),
])
def test_out_of_range_or_wrong_type_names_the_option(options, word):
    with pytest.raises(ConfigError) as e:
        Config(**options)
    assert word in str(e.value)


def test_unknown_option_is_named_with_a_suggestion():
    with pytest.raises(ConfigError) as e:
        Config.from_options({"ip_defualt_ttl": 32})
    assert "ip_defualt_ttl" in str(e.value) and "ip_default_ttl" in str(e.value)
    with pytest.raises(ConfigError):
        Config().replace(no_such_thing=1)


def test_replace_checks_and_copies():
    c = Config()
    d = c.replace(ip_forward=True)
    assert d.ip_forward and not c.ip_forward
    with pytest.raises(ConfigError):
        c.replace(ip_default_ttl=999)


def test_from_sdkconfig():
    text = """
# ESP-IDF sdkconfig fragment
CONFIG_LWIP_MAX_SOCKETS=16
CONFIG_LWIP_IP_DEFAULT_TTL=32
CONFIG_LWIP_IP4_REASSEMBLY=y
# CONFIG_LWIP_IP4_FRAG is not set
CONFIG_LWIP_IP_REASS_MAX_PBUFS=20
CONFIG_LWIP_GARP_TMR_INTERVAL=30
CONFIG_LWIP_SOMETHING_LWIPY_LACKS=y
CONFIG_FREERTOS_HZ=1000
"""
    with pytest.warns(SdkconfigWarning, match="CONFIG_LWIP_SOMETHING_LWIPY_LACKS"):  # reported, not applied
        c = Config.from_sdkconfig(text)
    assert (c.max_sockets, c.ip_default_ttl, c.ip4_reassembly, c.ip4_frag) == (16, 32, True, False)
    assert c.ip_reass_max_pbufs == 20 and c.garp_tmr_interval == 30.0


def test_every_option_is_described():
    rows = Config.describe()
    assert len(rows) == len(Config.__dataclass_fields__)
    assert all(doc for _, _, _, doc in rows)
