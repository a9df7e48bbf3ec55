"""Config against ESP-IDF's Kconfig: every field (symbol, default, range, a round trip through an sdkconfig line),
every CONFIG_LWIP_* symbol of components/lwip/Kconfig accounted for, a realistic sdkconfig, and every malformed line
a ConfigError that names it."""

from __future__ import annotations

import dataclasses
import errno
import warnings

import pytest

from lwipy import Config, ConfigError
from lwipy.errors import LwipError
from lwipy.config import CHIP_ONLY, SdkconfigWarning, chip_only_note, sdkconfig_key, sdkconfig_line

FIELDS = dataclasses.fields(Config)

# ESP-IDF's components/lwip/Kconfig (v5.1): symbol -> (default, range) for the options lwipy serves.  lwipy may widen a
# range (servers and jumbo frames on a laptop; documented in the field's doc) but never narrows it.
KCONFIG = {
    "CONFIG_LWIP_LOCAL_HOSTNAME": ("espressif", None),
    "CONFIG_LWIP_NETIF_API": (False, None),
    "CONFIG_LWIP_TCPIP_TASK_PRIO": (18, (1, 24)),
    "CONFIG_LWIP_TCPIP_CORE_LOCKING": (False, None),
    "CONFIG_LWIP_TCPIP_CORE_LOCKING_INPUT": (False, None),
    "CONFIG_LWIP_CHECK_THREAD_SAFETY": (False, None),
    "CONFIG_LWIP_DNS_SUPPORT_MDNS_QUERIES": (True, None),
    "CONFIG_LWIP_TIMERS_ONDEMAND": (True, None),
    "CONFIG_LWIP_ND6": (True, None),
    "CONFIG_LWIP_FORCE_ROUTER_FORWARDING": (False, None),
    "CONFIG_LWIP_MAX_SOCKETS": (10, (1, 16)),
    "CONFIG_LWIP_USE_ONLY_LWIP_SELECT": (False, None),
    "CONFIG_LWIP_SO_LINGER": (False, None),
    "CONFIG_LWIP_SO_REUSE": (True, None),
    "CONFIG_LWIP_SO_REUSE_RXTOALL": (True, None),
    "CONFIG_LWIP_SO_RCVBUF": (False, None),
    "CONFIG_LWIP_NETBUF_RECVINFO": (False, None),
    "CONFIG_LWIP_IP_DEFAULT_TTL": (64, (1, 255)),
    "CONFIG_LWIP_IP4_FRAG": (True, None),
    "CONFIG_LWIP_IP6_FRAG": (True, None),
    "CONFIG_LWIP_IP4_REASSEMBLY": (False, None),
    "CONFIG_LWIP_IP6_REASSEMBLY": (False, None),
    "CONFIG_LWIP_IP_REASS_MAX_PBUFS": (10, (10, 100)),
    "CONFIG_LWIP_IP_FORWARD": (False, None),
    "CONFIG_LWIP_STATS": (False, None),
    "CONFIG_LWIP_ESP_GRATUITOUS_ARP": (True, None),
    "CONFIG_LWIP_GARP_TMR_INTERVAL": (60, None),
    "CONFIG_LWIP_ESP_MLDV6_REPORT": (True, None),
    "CONFIG_LWIP_MLDV6_TMR_INTERVAL": (40, None),
    "CONFIG_LWIP_TCPIP_RECVMBOX_SIZE": (32, (6, 64)),
    "CONFIG_LWIP_DHCP_DOES_ARP_CHECK": (True, None),
    "CONFIG_LWIP_DHCP_DISABLE_CLIENT_ID": (False, None),
    "CONFIG_LWIP_DHCP_DISABLE_VENDOR_CLASS_ID": (True, None),
    "CONFIG_LWIP_DHCP_RESTORE_LAST_IP": (False, None),
    "CONFIG_LWIP_DHCP_OPTIONS_LEN": (68, (68, 255)),
    "CONFIG_LWIP_NUM_NETIF_CLIENT_DATA": (0, (0, 256)),
    "CONFIG_LWIP_DHCP_COARSE_TIMER_SECS": (1, (1, 10)),
    "CONFIG_LWIP_DHCPS": (True, None),
    "CONFIG_LWIP_DHCPS_LEASE_UNIT": (60, (1, 3600)),
    "CONFIG_LWIP_DHCPS_MAX_STATION_NUM": (8, (1, 64)),
    "CONFIG_LWIP_DHCPS_STATIC_ENTRIES": (True, None),
    "CONFIG_LWIP_AUTOIP": (False, None),
    "CONFIG_LWIP_AUTOIP_TRIES": (2, (1, 100)),
    "CONFIG_LWIP_AUTOIP_MAX_CONFLICTS": (9, (1, 100)),
    "CONFIG_LWIP_AUTOIP_RATE_LIMIT_INTERVAL": (20, (5, 120)),
    "CONFIG_LWIP_IPV4": (True, None),
    "CONFIG_LWIP_IPV6": (True, None),
    "CONFIG_LWIP_IPV6_AUTOCONFIG": (False, None),
    "CONFIG_LWIP_IPV6_NUM_ADDRESSES": (3, None),
    "CONFIG_LWIP_IPV6_FORWARD": (False, None),
    "CONFIG_LWIP_IPV6_RDNSS_MAX_DNS_SERVERS": (0, None),
    "CONFIG_LWIP_IPV6_DHCP6": (False, None),
    "CONFIG_LWIP_NETIF_STATUS_CALLBACK": (False, None),
    "CONFIG_LWIP_NETIF_LOOPBACK": (True, None),
    "CONFIG_LWIP_LOOPBACK_MAX_PBUFS": (8, (0, 16)),
    "CONFIG_LWIP_MAX_ACTIVE_TCP": (16, (1, 1024)),
    "CONFIG_LWIP_MAX_LISTENING_TCP": (16, (1, 1024)),
    "CONFIG_LWIP_TCP_HIGH_SPEED_RETRANSMISSION": (True, None),
    "CONFIG_LWIP_TCP_MAXRTX": (12, (3, 12)),
    "CONFIG_LWIP_TCP_SYNMAXRTX": (12, (3, 12)),
    "CONFIG_LWIP_TCP_MSS": (1440, (536, 1460)),
    "CONFIG_LWIP_TCP_TMR_INTERVAL": (250, None),
    "CONFIG_LWIP_TCP_MSL": (60000, None),
    "CONFIG_LWIP_TCP_FIN_WAIT_TIMEOUT": (20000, None),
    "CONFIG_LWIP_TCP_SND_BUF_DEFAULT": (5760, (2440, 65535)),
    "CONFIG_LWIP_TCP_WND_DEFAULT": (5760, (2440, 65535)),
    "CONFIG_LWIP_TCP_RECVMBOX_SIZE": (6, (6, 64)),
    "CONFIG_LWIP_TCP_ACCEPTMBOX_SIZE": (6, (1, 64)),
    "CONFIG_LWIP_TCP_QUEUE_OOSEQ": (True, None),
    "CONFIG_LWIP_TCP_OOSEQ_TIMEOUT": (6, (1, 30)),
    "CONFIG_LWIP_TCP_OOSEQ_MAX_PBUFS": (4, (0, 12)),
    "CONFIG_LWIP_TCP_SACK_OUT": (False, None),
    "CONFIG_LWIP_WND_SCALE": (False, None),
    "CONFIG_LWIP_TCP_RCV_SCALE": (0, (0, 14)),
    "CONFIG_LWIP_TCP_RTO_TIME": (1500, None),
    "CONFIG_LWIP_MAX_UDP_PCBS": (16, (1, 1024)),
    "CONFIG_LWIP_UDP_RECVMBOX_SIZE": (6, (6, 64)),
    "CONFIG_LWIP_CHECKSUM_CHECK_IP": (False, None),
    "CONFIG_LWIP_CHECKSUM_CHECK_UDP": (False, None),
    "CONFIG_LWIP_CHECKSUM_CHECK_ICMP": (True, None),
    "CONFIG_LWIP_IPV6_MEMP_NUM_ND6_QUEUE": (3, (3, 20)),
    "CONFIG_LWIP_IPV6_ND6_NUM_NEIGHBORS": (5, (3, 10)),
    "CONFIG_LWIP_SLIP_SUPPORT": (False, None),
    "CONFIG_LWIP_ICMP": (True, None),
    "CONFIG_LWIP_MULTICAST_PING": (False, None),
    "CONFIG_LWIP_BROADCAST_PING": (False, None),
    "CONFIG_LWIP_MAX_RAW_PCBS": (16, (1, 1024)),
    "CONFIG_LWIP_DHCP_GET_NTP_SRV": (False, None),
    "CONFIG_LWIP_DHCP_MAX_NTP_SERVERS": (1, (1, 16)),
    # SNTP (the sntp branch's fields)
    "CONFIG_LWIP_SNTP_MAX_SERVERS": (1, (1, 16)),
    "CONFIG_LWIP_SNTP_UPDATE_DELAY": (3600000, (15000, 4294967295)),
    "CONFIG_LWIP_SNTP_STARTUP_DELAY": (True, None),
    "CONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY": (5000, (100, 300000)),
    "CONFIG_LWIP_DNS_MAX_SERVERS": (3, (1, 4)),
    "CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT": (False, None),
    "CONFIG_LWIP_FALLBACK_DNS_SERVER_ADDRESS": (None, None),  # "114.114.114.114" once SUPPORT is on
    "CONFIG_LWIP_BRIDGEIF_MAX_PORTS": (7, (1, 63)),
}
# the Kconfig's chip-only symbols (and choices), which lwipy recognises and ignores
KCONFIG_CHIP_ONLY = [
    "CONFIG_LWIP_ENABLE", "CONFIG_LWIP_L2_TO_L3_COPY", "CONFIG_LWIP_IRAM_OPTIMIZATION",
    "CONFIG_LWIP_EXTRA_IRAM_OPTIMIZATION", "CONFIG_LWIP_TCPIP_TASK_STACK_SIZE", "CONFIG_LWIP_TCPIP_TASK_AFFINITY",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY_NO_AFFINITY", "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU0",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU1", "CONFIG_LWIP_TCP_OVERSIZE_MSS", "CONFIG_LWIP_TCP_OVERSIZE_QUARTER_MSS",
    "CONFIG_LWIP_TCP_OVERSIZE_DISABLE", "CONFIG_LWIP_ESP_LWIP_ASSERT", "CONFIG_LWIP_TCP_ISN_HOOK",
    "CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT", "CONFIG_LWIP_HOOK_IP6_ROUTE_NONE", "CONFIG_LWIP_HOOK_ND6_GET_GW_NONE",
    "CONFIG_LWIP_HOOK_IP6_SELECT_SRC_ADDR_NONE", "CONFIG_LWIP_HOOK_NETCONN_EXT_RESOLVE_NONE",
    "CONFIG_LWIP_HOOK_IP6_INPUT_NONE", "CONFIG_LWIP_DEBUG", "CONFIG_LWIP_DEBUG_ESP_LOG", "CONFIG_LWIP_NETIF_DEBUG",
    "CONFIG_LWIP_PBUF_DEBUG", "CONFIG_LWIP_ETHARP_DEBUG", "CONFIG_LWIP_API_LIB_DEBUG", "CONFIG_LWIP_SOCKETS_DEBUG",
    "CONFIG_LWIP_IP_DEBUG", "CONFIG_LWIP_ICMP_DEBUG", "CONFIG_LWIP_DHCP_STATE_DEBUG", "CONFIG_LWIP_DHCP_DEBUG",
    "CONFIG_LWIP_IP6_DEBUG", "CONFIG_LWIP_ICMP6_DEBUG", "CONFIG_LWIP_TCP_DEBUG", "CONFIG_LWIP_UDP_DEBUG",
    "CONFIG_LWIP_SNTP_DEBUG", "CONFIG_LWIP_DNS_DEBUG", "CONFIG_LWIP_BRIDGEIF_DEBUG",
    "CONFIG_LWIP_BRIDGEIF_FDB_DEBUG", "CONFIG_LWIP_BRIDGEIF_FW_DEBUG", "CONFIG_LWIP_SLIP_DEBUG_ON",
    "CONFIG_LWIP_PPP_DEBUG_ON", "CONFIG_LWIP_NAPT_DEBUG",
]
# the areas other branches bring (SNTP, NAPT and port mapping, PPP): fields once merged, unknown until then
OTHER_AREAS = [
    "CONFIG_LWIP_SNTP_MAX_SERVERS", "CONFIG_LWIP_SNTP_UPDATE_DELAY", "CONFIG_LWIP_SNTP_STARTUP_DELAY",
    "CONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY", "CONFIG_LWIP_IPV4_NAPT", "CONFIG_LWIP_IPV4_NAPT_PORTMAP",
    "CONFIG_LWIP_PPP_SUPPORT", "CONFIG_LWIP_PPP_ENABLE_IPV6", "CONFIG_LWIP_PPP_NOTIFY_PHASE_SUPPORT",
    "CONFIG_LWIP_PPP_PAP_SUPPORT", "CONFIG_LWIP_PPP_CHAP_SUPPORT", "CONFIG_LWIP_PPP_MSCHAP_SUPPORT",
    "CONFIG_LWIP_PPP_MPPE_SUPPORT", "CONFIG_LWIP_PPP_SERVER_SUPPORT", "CONFIG_LWIP_PPP_VJ_HEADER_COMPRESSION",
    "CONFIG_LWIP_ENABLE_LCP_ECHO", "CONFIG_LWIP_LCP_ECHOINTERVAL", "CONFIG_LWIP_LCP_MAXECHOFAILS",
]
BY_SYMBOL = {f.metadata["symbol"]: f for f in FIELDS}


def build(**options):
    """A Config with ``options``, plus what Kconfig makes them depend on (window scaling for windows above 64 KB)."""
    for name in ("tcp_wnd_default", "tcp_snd_buf_default"):
        if options.get(name, 0) > 0xFFFF:
            options.setdefault("wnd_scale", True)
    if options.get("wnd_scale") and "tcp_rcv_scale" not in options:
        window = options.get("tcp_wnd_default", Config().tcp_wnd_default)
        options["tcp_rcv_scale"] = next(s for s in range(15) if window <= 0xFFFF << s)
    return Config(**options)


def other_value(f):
    """A valid value other than the default."""
    kind = Config.parse_value  # noqa: F841 (the kinds follow Config's own)
    if f.type in ("bool", bool):
        return not f.default
    if "str" in str(f.type):
        return "10.0.0.53"
    lo, hi = f.metadata["range"]
    for candidate in (lo, hi, (f.default or 0) + 1):
        if candidate is not None and candidate != f.default and (lo is None or candidate >= lo) \
                and (hi is None or candidate <= hi):
            return type(f.default)(candidate) if f.default is not None else candidate
    raise AssertionError(f"no other value for {f.name}")


# -- every field -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_has_symbol_default_range_and_round_trips_through_an_sdkconfig_line(f):
    symbol = f.metadata["symbol"]
    assert symbol and f.metadata["doc"], f"{f.name}: symbol and doc"
    assert symbol == "lwipy" or symbol.isupper() and " " not in symbol
    assert getattr(Config(), f.name) == f.default  # ESP-IDF's default is Config()'s
    if symbol in KCONFIG:
        kdefault, krange = KCONFIG[symbol]
        assert f.default == kdefault, f"{f.name}: default {f.default!r}, Kconfig's {kdefault!r}"
        if krange is not None:
            lo, hi = f.metadata["range"]
            assert lo <= krange[0] and hi >= krange[1], f"{f.name}: range {lo}..{hi} narrower than Kconfig's {krange}"
    # the default and another value, each written as menuconfig would and read back
    for value in (f.default, other_value(f)):
        line = sdkconfig_line(f, value)
        assert line.split("=")[0].lstrip("# ").split(" ")[0] == sdkconfig_key(f)
        with warnings.catch_warnings():
            warnings.simplefilter("error", SdkconfigWarning)
            got = Config.from_sdkconfig(f"# comment\n{line}\n", strict=True)
        assert getattr(got, f.name) == value, (line, getattr(got, f.name))
        assert type(getattr(got, f.name)) is type(value) or value is None
    # the ends of the range are taken, one step beyond is refused by Config and by the sdkconfig reader
    lo, hi = f.metadata["range"]
    for end, beyond in ((lo, -1), (hi, 1)):
        if end is None:
            continue
        assert getattr(build(**{f.name: type(f.default)(end)}), f.name) == end
        outside = end + beyond
        with pytest.raises(ConfigError) as e:
            Config(**{f.name: type(f.default)(outside)})
        assert f.name in str(e.value)
        with pytest.raises(ConfigError) as e:
            Config.from_sdkconfig(f"CONFIG_IDF_TARGET=\"esp32\"\n{sdkconfig_key(f)}={outside}\n")
        assert sdkconfig_key(f) in str(e.value) and "line 2" in str(e.value) and f"{lo}..{hi}" in str(e.value)


def test_sdkconfig_keys_are_unique_and_describe_covers_every_field():
    keys = [sdkconfig_key(f) for f in FIELDS]
    assert len(keys) == len(set(keys))
    assert [row[0] for row in Config.describe()] == [f.name for f in FIELDS]
    no_effect = [f for f in FIELDS if f.metadata["no_effect"]]
    assert {f.name for f in no_effect} >= {"timers_ondemand", "tcpip_task_prio", "tcpip_core_locking_input"}
    assert all("(no effect: " in doc for name, _, _, doc in Config.describe() if name in {f.name for f in no_effect})


def test_every_kconfig_symbol_is_a_field_chip_only_or_another_areas():
    for symbol in KCONFIG:
        assert symbol in BY_SYMBOL, f"{symbol} is no Config field"
    for symbol in KCONFIG_CHIP_ONLY:
        assert symbol not in BY_SYMBOL and chip_only_note(symbol), symbol
    for symbol in OTHER_AREAS:  # a field once the SNTP, NAPT and PPP branches are merged; reported until then
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SdkconfigWarning)
            f = BY_SYMBOL.get(symbol)
            line = f"# {symbol} is not set" if f is None or f.type in ("bool", bool) else f"{symbol}={f.default}"
            r = Config.read_sdkconfig(line + "\n")
        assert (symbol in BY_SYMBOL) == bool(r.applied) and (symbol not in BY_SYMBOL) == (r.unknown == [symbol])
    assert set(CHIP_ONLY) <= set(KCONFIG_CHIP_ONLY)


def test_whole_config_round_trips_through_to_sdkconfig():
    c = Config.fast(tcp_wnd_default=262144, tcp_snd_buf_default=262144, so_linger=True, ip_reass_maxage=7.5,
                    local_hostname="dev-7", fallback_dns_server_address="9.9.9.9", ipv4=False)
    assert Config.from_sdkconfig(c.to_sdkconfig(), strict=True) == c
    assert Config.from_sdkconfig(Config().to_sdkconfig(), strict=True) == Config()
    assert Config.from_sdkconfig(c.to_sdkconfig(only_changed=True), strict=True) == c


def test_replace_can_switch_the_fallback_dns_server_off_again():
    """fallback_dns_server_support=True fills in Kconfig's address; switching it off with replace() must not be undone
    by that address (asdict carries it over, and an address alone switches the support on)."""
    on = Config(fallback_dns_server_support=True)
    assert on.fallback_dns_server_address == "114.114.114.114"
    off = on.replace(fallback_dns_server_support=False)
    assert off.fallback_dns_server_support is False and off.fallback_dns_server_address is None
    assert off == Config()
    assert on.replace(fallback_dns_server_address="9.9.9.9").fallback_dns_server_support is True


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Config) if f.type in (float, "float")])
def test_a_float_option_refuses_nan_and_infinity(name):
    """NaN compares false with both ends of a range, so a range check written as "below lo or above hi" lets it
    through (and a deadline of NaN seconds never comes); ``-o NAME=nan`` reaches it through parse_value."""
    for text in ("nan", "inf", "-inf"):
        with pytest.raises(ConfigError):
            Config(**{name: Config.parse_value(name, text)})


def test_fallback_dns_server_is_checked_by_config_as_kconfig_does():
    """CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT depends on CONFIG_LWIP_DNS_MAX_SERVERS >= 3 (with fewer slots the
    FALLBACK index is MAIN or BACKUP), and its address must be an IP address: Config says so, not the first Stack."""
    with pytest.raises(ConfigError, match="dns_max_servers"):
        Config(fallback_dns_server_support=True, dns_max_servers=2)
    with pytest.raises(ConfigError, match="dns_max_servers"):
        Config.from_sdkconfig("CONFIG_LWIP_DNS_MAX_SERVERS=1\nCONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT=y\n")
    with pytest.raises(ConfigError, match="not-an-address"):
        Config(fallback_dns_server_address="not-an-address")
    assert Config(fallback_dns_server_address="2001:db8::53", dns_max_servers=4).fallback_dns_server_support
    assert Config(dns_max_servers=1).fallback_dns_server_address is None


# -- keyword and value checks -----------------------------------------------------------------------------------------
def test_unknown_keyword_and_positional_arguments_are_config_errors_not_type_errors():
    with pytest.raises(ConfigError) as e:
        Config(unknown=1)
    assert "unknown" in str(e.value)
    with pytest.raises(ConfigError) as e:
        Config(tcp_mms=1000)
    assert "tcp_mss" in str(e.value)  # the suggestion
    with pytest.raises(ConfigError):
        Config(1)


@pytest.mark.parametrize("text, value", [("y", True), ("Y", True), ("1", True), ("true", True), ("True", True),
                                         ("n", False), ("0", False), ("false", False), ("FALSE", False)])
def test_cli_values_for_a_bool_are_what_kconfig_users_write(text, value):
    assert Config.parse_value("ip_forward", text) is value
    assert Config.parse_value("CONFIG_LWIP_IP_FORWARD", text) is value


@pytest.mark.parametrize("name, text", [("ip_forward", "2"), ("ip_forward", "maybe"), ("ip_forward", ""),
                                        ("tcp_mss", "abc"), ("tcp_mss", "1.5"), ("ip_reass_maxage", "x")])
def test_cli_values_of_the_wrong_form_name_the_option_and_what_it_takes(name, text):
    with pytest.raises(ConfigError) as e:
        Config.parse_value(name, text)
    assert name in str(e.value) and "takes" in str(e.value)


def test_window_above_64k_needs_window_scaling_and_a_fitting_scale():
    with pytest.raises(ConfigError) as e:
        Config(tcp_wnd_default=131072)
    assert "wnd_scale" in str(e.value)
    with pytest.raises(ConfigError) as e:
        Config(tcp_wnd_default=131070, wnd_scale=True)  # TCP_RCV_SCALE 0: lwIP's "TCP_WND is bigger than ..."
    assert "tcp_rcv_scale=1" in str(e.value)
    assert Config(tcp_wnd_default=131070, wnd_scale=True, tcp_rcv_scale=1).tcp_rcv_scale == 1
    with pytest.raises(ConfigError):
        Config(tcp_wnd_default=131072, wnd_scale=True, tcp_rcv_scale=1)
    assert Config.fast(tcp_wnd_default=1024000).tcp_rcv_scale == 4
    with pytest.raises(ConfigError):
        Config(ipv4=False, ipv6=False)


# -- sdkconfig syntax --------------------------------------------------------------------------------------------------
def test_whitespace_around_the_equals_sign_and_not_set_lines():
    c = Config.from_sdkconfig("CONFIG_LWIP_MAX_SOCKETS = 12\n   CONFIG_LWIP_IP_FORWARD=y   \n"
                              "#   CONFIG_LWIP_IPV6 is not set\nCONFIG_LWIP_LOCAL_HOSTNAME =\t\"my \\\"dev\\\"\"\n")
    assert (c.max_sockets, c.ip_forward, c.ipv6, c.local_hostname) == (12, True, False, 'my "dev"')


MALFORMED = [
    ("CONFIG_LWIP_MAX_SOCKETS=abc", "CONFIG_LWIP_MAX_SOCKETS", "1..4096"),
    ("CONFIG_LWIP_IP_FORWARD=1", "CONFIG_LWIP_IP_FORWARD", "y or n"),
    ("CONFIG_LWIP_IP_FORWARD=Y", "CONFIG_LWIP_IP_FORWARD", "y or n"),
    ("CONFIG_LWIP_IP_FORWARD=", "CONFIG_LWIP_IP_FORWARD", "y or n"),
    ("CONFIG_LWIP_MAX_SOCKETS=", "CONFIG_LWIP_MAX_SOCKETS", "1..4096"),
    ("CONFIG_LWIP_IP_DEFAULT_TTL=256", "CONFIG_LWIP_IP_DEFAULT_TTL", "1..255"),
    ("CONFIG_LWIP_IP_DEFAULT_TTL=0", "CONFIG_LWIP_IP_DEFAULT_TTL", "1..255"),
    ("CONFIG_LWIP_TCP_MSS=1440.5", "CONFIG_LWIP_TCP_MSS", "536..65495"),
    ("CONFIG_LWIP_TCP_RCV_SCALE=15", "CONFIG_LWIP_TCP_RCV_SCALE", "0..14"),
    ("CONFIG_LWIP_LOCAL_HOSTNAME=espressif", "CONFIG_LWIP_LOCAL_HOSTNAME", "a string"),
    ('CONFIG_LWIP_LOCAL_HOSTNAME="unterminated', "CONFIG_LWIP_LOCAL_HOSTNAME", "a string"),
    ("# CONFIG_LWIP_MAX_SOCKETS is not set", "CONFIG_LWIP_MAX_SOCKETS", "1..4096"),
    ("CONFIG_LWIP_MAX_SOCKETS", "CONFIG_LWIP_MAX_SOCKETS", "CONFIG_NAME=value"),
    ("LWIP_MAX_SOCKETS=10", "LWIP_MAX_SOCKETS", "CONFIG_NAME=value"),
]


@pytest.mark.parametrize("line, symbol, allowed", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_every_malformed_line_is_a_config_error_naming_symbol_line_and_allowed_values(line, symbol, allowed):
    text = f"# header\nCONFIG_LWIP_TCP_MSS=1440\n{line}\nCONFIG_LWIP_IPV6=y\n"
    with pytest.raises(ConfigError) as e:
        Config.from_sdkconfig(text)
    message = str(e.value)
    assert symbol in message and "line 3" in message and allowed in message, message


def test_combinations_kconfig_forbids_name_the_lines():
    with pytest.raises(ConfigError) as e:
        Config.from_sdkconfig("CONFIG_LWIP_TCP_WND_DEFAULT=200000\n")
    assert "CONFIG_LWIP_TCP_WND_DEFAULT (line 1)" in str(e.value) and "wnd_scale" in str(e.value)


def test_unknown_lwip_symbols_warn_with_a_list_and_fail_in_strict_mode():
    text = "CONFIG_LWIP_MAX_SOCKETS=8\nCONFIG_LWIP_NO_SUCH_THING=y\nCONFIG_LWIP_NOR_THIS=3\nCONFIG_ESP_WIFI_X=y\n"
    with pytest.warns(SdkconfigWarning) as caught:
        c = Config.from_sdkconfig(text)
    assert c.max_sockets == 8
    message = str(caught[0].message)
    assert "CONFIG_LWIP_NO_SUCH_THING (line 2)" in message and "CONFIG_LWIP_NOR_THIS (line 3)" in message
    assert "CONFIG_ESP_WIFI_X" not in message  # not lwIP's: skipped quietly
    with pytest.raises(ConfigError) as e:
        Config.from_sdkconfig(text, strict=True)
    assert "CONFIG_LWIP_NO_SUCH_THING" in str(e.value) and "CONFIG_LWIP_NOR_THIS" in str(e.value)


def test_a_path_is_read(tmp_path):
    p = tmp_path / "sdkconfig"
    p.write_text("CONFIG_LWIP_MAX_SOCKETS=7\n")
    assert Config.from_sdkconfig(p).max_sockets == 7 == Config.from_sdkconfig(str(p)).max_sockets
    with pytest.raises(FileNotFoundError):
        Config.from_sdkconfig(str(tmp_path / "missing"))


# -- a realistic sdkconfig ---------------------------------------------------------------------------------------------
# what `idf.py menuconfig` writes for ESP-IDF's protocols/sockets/udp_server example (ESP-IDF 5.1, esp32), abridged:
# other components' symbols around the LWIP menu, its sub-menus with their headings, and the example's changes
# (IP_PKTINFO for the destination address, more sockets, a bigger window, SNTP and PPP from other branches).
UDP_SERVER_SDKCONFIG = """\
#
# Automatically generated file. DO NOT EDIT.
# Espressif IoT Development Framework (ESP-IDF) 5.1.2 Project Configuration
#
CONFIG_SOC_WIFI_SUPPORTED=y
CONFIG_IDF_CMAKE=y
CONFIG_IDF_TARGET_ARCH_XTENSA=y
CONFIG_IDF_TARGET="esp32"
CONFIG_IDF_TARGET_ESP32=y
CONFIG_IDF_FIRMWARE_CHIP_ID=0x0000

#
# Example Configuration
#
CONFIG_EXAMPLE_IPV4=y
# CONFIG_EXAMPLE_IPV6 is not set
CONFIG_EXAMPLE_PORT=3333
# end of Example Configuration

#
# ESP-NETIF Adapter
#
CONFIG_ESP_NETIF_IP_LOST_TIMER_INTERVAL=120
CONFIG_ESP_NETIF_TCPIP_LWIP=y
# CONFIG_ESP_NETIF_SET_DNS_PER_DEFAULT_NETIF is not set
# end of ESP-NETIF Adapter

#
# Wi-Fi
#
CONFIG_ESP_WIFI_STATIC_RX_BUFFER_NUM=10
CONFIG_ESP_WIFI_DYNAMIC_RX_BUFFER_NUM=32
# end of Wi-Fi

#
# FreeRTOS
#
CONFIG_FREERTOS_HZ=100
# end of FreeRTOS

#
# LWIP
#
CONFIG_LWIP_LOCAL_HOSTNAME="udp-server"
# CONFIG_LWIP_NETIF_API is not set
CONFIG_LWIP_TCPIP_TASK_PRIO=18
# CONFIG_LWIP_TCPIP_CORE_LOCKING is not set
# CONFIG_LWIP_CHECK_THREAD_SAFETY is not set
CONFIG_LWIP_DNS_SUPPORT_MDNS_QUERIES=y
# CONFIG_LWIP_L2_TO_L3_COPY is not set
# CONFIG_LWIP_IRAM_OPTIMIZATION is not set
# CONFIG_LWIP_EXTRA_IRAM_OPTIMIZATION is not set
CONFIG_LWIP_TIMERS_ONDEMAND=y
CONFIG_LWIP_ND6=y
# CONFIG_LWIP_FORCE_ROUTER_FORWARDING is not set
CONFIG_LWIP_MAX_SOCKETS=16
# CONFIG_LWIP_USE_ONLY_LWIP_SELECT is not set
# CONFIG_LWIP_SO_LINGER is not set
CONFIG_LWIP_SO_REUSE=y
CONFIG_LWIP_SO_REUSE_RXTOALL=y
CONFIG_LWIP_SO_RCVBUF=y
CONFIG_LWIP_NETBUF_RECVINFO=y
CONFIG_LWIP_IP_DEFAULT_TTL=64
CONFIG_LWIP_IP4_FRAG=y
CONFIG_LWIP_IP6_FRAG=y
# CONFIG_LWIP_IP4_REASSEMBLY is not set
# CONFIG_LWIP_IP6_REASSEMBLY is not set
CONFIG_LWIP_IP_REASS_MAX_PBUFS=10
# CONFIG_LWIP_IP_FORWARD is not set
# CONFIG_LWIP_STATS is not set
CONFIG_LWIP_ESP_GRATUITOUS_ARP=y
CONFIG_LWIP_GARP_TMR_INTERVAL=60
CONFIG_LWIP_ESP_MLDV6_REPORT=y
CONFIG_LWIP_MLDV6_TMR_INTERVAL=40
CONFIG_LWIP_TCPIP_RECVMBOX_SIZE=32
CONFIG_LWIP_DHCP_DOES_ARP_CHECK=y
# CONFIG_LWIP_DHCP_DISABLE_CLIENT_ID is not set
CONFIG_LWIP_DHCP_DISABLE_VENDOR_CLASS_ID=y
# CONFIG_LWIP_DHCP_RESTORE_LAST_IP is not set
CONFIG_LWIP_DHCP_OPTIONS_LEN=68
CONFIG_LWIP_NUM_NETIF_CLIENT_DATA=0
CONFIG_LWIP_DHCP_COARSE_TIMER_SECS=1

#
# DHCP server
#
CONFIG_LWIP_DHCPS=y
CONFIG_LWIP_DHCPS_LEASE_UNIT=60
CONFIG_LWIP_DHCPS_MAX_STATION_NUM=8
CONFIG_LWIP_DHCPS_STATIC_ENTRIES=y
# end of DHCP server

# CONFIG_LWIP_AUTOIP is not set
CONFIG_LWIP_IPV4=y
CONFIG_LWIP_IPV6=y
# CONFIG_LWIP_IPV6_AUTOCONFIG is not set
CONFIG_LWIP_IPV6_NUM_ADDRESSES=3
# CONFIG_LWIP_IPV6_FORWARD is not set
# CONFIG_LWIP_NETIF_STATUS_CALLBACK is not set
CONFIG_LWIP_NETIF_LOOPBACK=y
CONFIG_LWIP_LOOPBACK_MAX_PBUFS=8

#
# TCP
#
CONFIG_LWIP_MAX_ACTIVE_TCP=16
CONFIG_LWIP_MAX_LISTENING_TCP=16
CONFIG_LWIP_TCP_HIGH_SPEED_RETRANSMISSION=y
CONFIG_LWIP_TCP_MAXRTX=12
CONFIG_LWIP_TCP_SYNMAXRTX=12
CONFIG_LWIP_TCP_MSS=1436
CONFIG_LWIP_TCP_TMR_INTERVAL=250
CONFIG_LWIP_TCP_MSL=60000
CONFIG_LWIP_TCP_FIN_WAIT_TIMEOUT=20000
CONFIG_LWIP_TCP_SND_BUF_DEFAULT=5744
CONFIG_LWIP_TCP_WND_DEFAULT=14360
CONFIG_LWIP_TCP_RECVMBOX_SIZE=12
CONFIG_LWIP_TCP_ACCEPTMBOX_SIZE=6
CONFIG_LWIP_TCP_QUEUE_OOSEQ=y
CONFIG_LWIP_TCP_OOSEQ_TIMEOUT=6
CONFIG_LWIP_TCP_OOSEQ_MAX_PBUFS=4
# CONFIG_LWIP_TCP_SACK_OUT is not set
CONFIG_LWIP_TCP_OVERSIZE_MSS=y
# CONFIG_LWIP_TCP_OVERSIZE_QUARTER_MSS is not set
# CONFIG_LWIP_TCP_OVERSIZE_DISABLE is not set
CONFIG_LWIP_TCP_RTO_TIME=1500
# end of TCP

#
# UDP
#
CONFIG_LWIP_MAX_UDP_PCBS=16
CONFIG_LWIP_UDP_RECVMBOX_SIZE=6
# end of UDP

#
# Checksums
#
# CONFIG_LWIP_CHECKSUM_CHECK_IP is not set
# CONFIG_LWIP_CHECKSUM_CHECK_UDP is not set
CONFIG_LWIP_CHECKSUM_CHECK_ICMP=y
# end of Checksums

CONFIG_LWIP_TCPIP_TASK_STACK_SIZE=3072
CONFIG_LWIP_TCPIP_TASK_AFFINITY_NO_AFFINITY=y
# CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU0 is not set
# CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU1 is not set
CONFIG_LWIP_TCPIP_TASK_AFFINITY=0x7FFFFFFF
# CONFIG_LWIP_PPP_SUPPORT is not set
CONFIG_LWIP_IPV6_MEMP_NUM_ND6_QUEUE=3
CONFIG_LWIP_IPV6_ND6_NUM_NEIGHBORS=5
# CONFIG_LWIP_SLIP_SUPPORT is not set

#
# ICMP
#
CONFIG_LWIP_ICMP=y
# CONFIG_LWIP_MULTICAST_PING is not set
# CONFIG_LWIP_BROADCAST_PING is not set
# end of ICMP

#
# LWIP RAW API
#
CONFIG_LWIP_MAX_RAW_PCBS=16
# end of LWIP RAW API

#
# SNTP
#
CONFIG_LWIP_SNTP_MAX_SERVERS=1
# CONFIG_LWIP_DHCP_GET_NTP_SRV is not set
CONFIG_LWIP_SNTP_UPDATE_DELAY=3600000
CONFIG_LWIP_SNTP_STARTUP_DELAY=y
CONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY=5000
# end of SNTP

#
# DNS
#
CONFIG_LWIP_DNS_MAX_SERVERS=3
# CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT is not set
# end of DNS

CONFIG_LWIP_BRIDGEIF_MAX_PORTS=7
CONFIG_LWIP_ESP_LWIP_ASSERT=y

#
# Hooks
#
# CONFIG_LWIP_HOOK_TCP_ISN_NONE is not set
CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT=y
# CONFIG_LWIP_HOOK_TCP_ISN_CUSTOM is not set
CONFIG_LWIP_HOOK_IP6_ROUTE_NONE=y
CONFIG_LWIP_HOOK_ND6_GET_GW_NONE=y
CONFIG_LWIP_HOOK_IP6_SELECT_SRC_ADDR_NONE=y
CONFIG_LWIP_HOOK_NETCONN_EXT_RESOLVE_NONE=y
CONFIG_LWIP_HOOK_IP6_INPUT_NONE=y
# end of Hooks

# CONFIG_LWIP_DEBUG is not set
# end of LWIP

#
# mbedTLS
#
CONFIG_MBEDTLS_INTERNAL_MEM_ALLOC=y
# end of mbedTLS
"""


def test_a_realistic_udp_server_sdkconfig_loads_with_its_values_and_lists_what_was_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SdkconfigWarning)
        r = Config.read_sdkconfig(UDP_SERVER_SDKCONFIG)
    c = r.config
    assert (c.local_hostname, c.max_sockets, c.so_rcvbuf, c.netbuf_recvinfo, c.so_linger) == \
        ("udp-server", 16, True, True, False)
    assert (c.tcp_mss, c.tcp_snd_buf_default, c.tcp_wnd_default, c.tcp_recvmbox_size) == (1436, 5744, 14360, 12)
    assert (c.ipv4, c.ipv6, c.ip4_reassembly, c.dns_per_default_netif) == (True, True, False, False)
    assert not (c.tcp_sack_out or c.wnd_scale or c.tcp_timestamps)  # the SYN will carry the MSS alone
    assert c.tcp_tmr_interval == 250 and c.timers_ondemand
    # everything else is ESP-IDF's default
    changed = {f.name for f in FIELDS if getattr(c, f.name) != f.default}
    assert changed == {"local_hostname", "max_sockets", "so_rcvbuf", "netbuf_recvinfo", "tcp_mss",
                       "tcp_snd_buf_default", "tcp_wnd_default", "tcp_recvmbox_size"}
    # chip-only symbols: listed with their reasons
    assert set(r.ignored) == {
        "CONFIG_LWIP_L2_TO_L3_COPY", "CONFIG_LWIP_IRAM_OPTIMIZATION", "CONFIG_LWIP_EXTRA_IRAM_OPTIMIZATION",
        "CONFIG_LWIP_TCP_OVERSIZE_MSS", "CONFIG_LWIP_TCP_OVERSIZE_QUARTER_MSS", "CONFIG_LWIP_TCP_OVERSIZE_DISABLE",
        "CONFIG_LWIP_TCPIP_TASK_STACK_SIZE", "CONFIG_LWIP_TCPIP_TASK_AFFINITY_NO_AFFINITY",
        "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU0", "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU1",
        "CONFIG_LWIP_TCPIP_TASK_AFFINITY", "CONFIG_LWIP_ESP_LWIP_ASSERT", "CONFIG_LWIP_HOOK_TCP_ISN_NONE",
        "CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT", "CONFIG_LWIP_HOOK_TCP_ISN_CUSTOM", "CONFIG_LWIP_HOOK_IP6_ROUTE_NONE",
        "CONFIG_LWIP_HOOK_ND6_GET_GW_NONE", "CONFIG_LWIP_HOOK_IP6_SELECT_SRC_ADDR_NONE",
        "CONFIG_LWIP_HOOK_NETCONN_EXT_RESOLVE_NONE", "CONFIG_LWIP_HOOK_IP6_INPUT_NONE", "CONFIG_LWIP_DEBUG"}
    assert "IRAM" in r.ignored["CONFIG_LWIP_IRAM_OPTIMIZATION"] and "CPU" in r.ignored["CONFIG_LWIP_TCPIP_TASK_AFFINITY"]
    # options accepted without effect, with the reason
    assert {"CONFIG_LWIP_TCPIP_TASK_PRIO", "CONFIG_LWIP_TIMERS_ONDEMAND", "CONFIG_LWIP_TCP_TMR_INTERVAL",
            "CONFIG_LWIP_STATS"} <= set(r.no_effect)
    assert "deadline" in r.no_effect["CONFIG_LWIP_TIMERS_ONDEMAND"]
    # other components' symbols are skipped; the SNTP and PPP symbols belong to other branches until merged
    assert {"CONFIG_IDF_TARGET", "CONFIG_FREERTOS_HZ", "CONFIG_ESP_WIFI_STATIC_RX_BUFFER_NUM",
            "CONFIG_EXAMPLE_PORT", "CONFIG_MBEDTLS_INTERNAL_MEM_ALLOC"} <= set(r.other)
    assert set(r.unknown) <= set(OTHER_AREAS)
    assert [bool(r.unknown)] == [bool(caught)]
    line = UDP_SERVER_SDKCONFIG.splitlines().index("CONFIG_LWIP_MAX_SOCKETS=16") + 1
    assert r.applied["max_sockets"] == ("CONFIG_LWIP_MAX_SOCKETS", 16, line)


# -- the gates --------------------------------------------------------------------------------------------------------
def test_ipv6_only_stack_refuses_ipv4_addresses_and_ignores_ipv4_and_arp(tmp_path):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import ARP, Ether

    from helpers import OWN_MAC, PEER_MAC, make_stack
    from lwipy.wire.ethernet import mac_to_str
    stack, netif, dev = make_stack(ip=None, ipv4=False)
    assert netif.ip4 is None and (stack.loopif is None or stack.loopif.ip4 is None)
    with pytest.raises(ConfigError):
        netif.set_ipv4("10.0.0.1/24")
    eth = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))
    dev.take()
    stack.input(netif, bytes(eth / IP(src="10.0.0.9", dst="10.0.0.1") / ICMP()), 0.0)
    stack.input(netif, bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(PEER_MAC)) /
                             ARP(psrc="10.0.0.9", pdst="10.0.0.1")), 0.0)
    assert dev.take() == [] and stack.stats.ip.recv == 0 and stack.stats.etharp.recv == 0
    assert stack.stats.link.proterr == 2
    assert netif.create_ip6_linklocal().address.is_link_local  # IPv6 still works


def test_ipv6_only_stack_sends_no_ipv4_from_the_unspecified_address():
    """Config(ipv4=False): nothing leaves as IPv4, not even what lwIP sends from 0.0.0.0 (a DHCP client's DISCOVER,
    a UDP broadcast through sendto_netif): lwIP built without LWIP_IPV4 has no ip4_output at all."""
    from helpers import make_stack
    from lwipy.apps.dhcp import DhcpClient
    stack, netif, dev = make_stack(ip=None, ipv4=False)
    dev.take()
    DhcpClient(stack, netif).start()
    pcb = stack.udp.new()
    pcb.bind(None, 5000)
    with pytest.raises(LwipError) as e:
        pcb.sendto_netif(b"x", "255.255.255.255", 9, netif)
    assert e.value.errno == errno.EADDRNOTAVAIL
    assert [f for f in dev.take() if f[12:14] in (b"\x08\x00", b"\x08\x06")] == []


@pytest.mark.parametrize("dst, link_dst, option", [("10.0.0.255", "ff:ff:ff:ff:ff:ff", "broadcast_ping"),
                                                   ("255.255.255.255", "ff:ff:ff:ff:ff:ff", "broadcast_ping"),
                                                   ("224.0.0.1", "01:00:5e:00:00:01", "multicast_ping")])
def test_broadcast_and_multicast_pings_are_answered_only_when_switched_on(dst, link_dst, option):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    from helpers import PEER_MAC, make_stack
    from lwipy.wire.ethernet import mac_to_str
    for on in (False, True):
        stack, netif, dev = make_stack(**{option: on})
        stack.etharp.add_static("10.0.0.9", PEER_MAC)
        dev.take()
        frame = Ether(dst=link_dst, src=mac_to_str(PEER_MAC)) / IP(src="10.0.0.9", dst=dst) / ICMP(id=7, seq=1)
        stack.input(netif, bytes(frame), 0.0)
        replies = [Ether(f) for f in dev.take() if Ether(f).haslayer(ICMP) and Ether(f)[ICMP].type == 0]
        if not on:
            assert replies == []
        else:
            assert len(replies) == 1 and replies[0][IP].src == "10.0.0.1"  # from the netif's own address
            assert replies[0][IP].dst == "10.0.0.9" and replies[0][ICMP].id == 7


def stack6(**options):
    """A strict stack with a link-local IPv6 address at once (no DAD, no router solicitation)."""
    from helpers import OWN_MAC, CaptureDevice
    from lwipy import Stack
    stack = Stack(Config(ipv6_dup_detect_attempts=0, ipv6_send_router_solicit=False, **options), seed=7, strict=True)
    dev = CaptureDevice()
    netif = stack.add_netif(dev, ip="10.0.0.1/24", hwaddr=OWN_MAC, ip6_linklocal=True)
    stack.poll(1.0)
    dev.take()
    return stack, netif, dev, str(netif.ip6_addrs[0].address)


def test_multicast_ping6_is_answered_only_when_switched_on():
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether

    from helpers import PEER_MAC
    from lwipy.wire.ethernet import mac_to_str
    for on in (False, True):
        stack, netif, dev, ll = stack6(multicast_ping=on)
        dev.take()
        frame = Ether(dst="33:33:00:00:00:01", src=mac_to_str(PEER_MAC)) / IPv6(src="fe80::9", dst="ff02::1") / \
            ICMPv6EchoRequest(id=3, seq=1)
        stack.input(netif, bytes(frame), 1.0)
        stack.poll(1.0)
        frames = dev.take()
        replies = [Ether(f) for f in frames if Ether(f).haslayer(ICMPv6EchoReply)]
        if not on:
            assert replies == []
        else:
            # the reply may wait for neighbour discovery of fe80::9; answer it, then the reply goes
            if not replies:
                from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
                stack.input(netif, bytes(Ether(dst=mac_to_str(netif.hwaddr), src=mac_to_str(PEER_MAC)) /
                                         IPv6(src="fe80::9", dst=ll) / ICMPv6ND_NA(tgt="fe80::9", S=1, O=1) /
                                         ICMPv6NDOptDstLLAddr(lladdr=mac_to_str(PEER_MAC))), 1.1)
                replies = [Ether(f) for f in dev.take() if Ether(f).haslayer(ICMPv6EchoReply)]
            assert len(replies) == 1 and replies[0][IPv6].src.startswith("fe80") and replies[0][IPv6].dst == "fe80::9"


def test_force_router_forwarding_sets_the_router_flag_of_neighbour_advertisements():
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import Ether

    from helpers import PEER_MAC
    from lwipy.wire.ethernet import mac_to_str
    for on in (False, True):
        stack, netif, dev, ll = stack6(force_router_forwarding=on)
        dev.take()
        stack.input(netif, bytes(Ether(dst=mac_to_str(netif.hwaddr), src=mac_to_str(PEER_MAC)) /
                                 IPv6(src="fe80::9", dst=ll, hlim=255) / ICMPv6ND_NS(tgt=ll) /
                                 ICMPv6NDOptSrcLLAddr(lladdr=mac_to_str(PEER_MAC))), 1.0)
        nas = [Ether(f)[ICMPv6ND_NA] for f in dev.take() if Ether(f).haslayer(ICMPv6ND_NA)]
        assert len(nas) == 1 and nas[0].R == int(on)


def test_dhcp_client_sends_the_configured_local_hostname():
    from helpers import make_stack
    from lwipy.apps import DhcpClient
    stack, netif, dev = make_stack(local_hostname="sensor-12")
    assert DhcpClient(stack, netif).hostname == "sensor-12"
    assert DhcpClient(stack, netif, hostname=None).hostname is None
    assert DhcpClient(make_stack()[0], netif).hostname == "espressif"


def test_timeouts_report_lwips_econnaborted():
    """lwIP's tcp_slowtmr ends a connection whose retransmissions ran out with ERR_ABRT; err_to_errno makes that
    ECONNABORTED (not Linux's ETIMEDOUT)."""
    from tcp_script import TcpScript
    t = TcpScript(tcp_rto_time=1000, tcp_maxrtx=3)
    pcb = t.open_passive()
    pcb.send(b"x" * 100)
    for now in (1.0, 3.0, 7.0, 15.0, 31.0):
        t.at(now)
    t.sent()
    assert pcb.state_name == "CLOSED" and pcb.error == errno.ECONNABORTED


def test_icmp_off_answers_no_ping_and_sends_no_error():
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    from helpers import OWN_MAC, PEER_MAC, make_stack
    from lwipy.wire.ethernet import mac_to_str
    eth = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))
    for on in (True, False):
        stack, netif, dev = make_stack(icmp=on)
        stack.etharp.add_static("10.0.0.9", PEER_MAC)
        stack.input(netif, bytes(eth / IP(src="10.0.0.9", dst="10.0.0.1") / ICMP(id=1, seq=1)), 0.0)
        stack.input(netif, bytes(eth / IP(src="10.0.0.9", dst="10.0.0.1") / UDP(sport=1, dport=9)), 0.0)  # closed
        kinds = sorted(Ether(f)[ICMP].type for f in dev.take() if Ether(f).haslayer(ICMP))
        assert kinds == ([0, 3] if on else [])  # an echo reply and a port unreachable, or nothing
