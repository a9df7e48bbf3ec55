"""``CONFIG_LWIP_*`` options with ESP-IDF's defaults.

Each field of :class:`Config` is one lwIP/ESP-IDF option, named as the Kconfig symbol without ``CONFIG_LWIP_`` in lower
case (``ip_default_ttl`` is ``CONFIG_LWIP_IP_DEFAULT_TTL``).  Options that only exist in lwIP's ``opt.h`` carry the
``opt.h`` name; the few that are lwipy's own say so.  The metadata holds the range ESP-IDF allows::

    cfg = Config(ip4_reassembly=True, ip_reass_max_pbufs=48)
    cfg = Config.from_sdkconfig(open("sdkconfig").read())     # an ESP-IDF project's sdkconfig

An unknown option or a value out of range raises :class:`~lwipy.errors.ConfigError` naming the option.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Config"]


def _opt(default: Any, symbol: str, lo: int | None = None, hi: int | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"symbol": symbol, "range": (lo, hi), "doc": doc})


@dataclass(frozen=True, kw_only=True)
class Config:
    """The stack's compile-time options, made run-time.  Frozen: derive a changed copy with :meth:`replace`."""

    # --- limits the sockets and TCP layers apply --------------------------------------------------------------------
    max_sockets: int = _opt(10, "CONFIG_LWIP_MAX_SOCKETS", 1, 4096,
                            "sockets open at once (ESP-IDF allows up to 16; lwipy goes higher for servers that "
                            "simulate many clients, numbering sockets from 0 once LWIP_SOCKET_OFFSET would go below)")
    tcp_mss: int = _opt(1440, "CONFIG_LWIP_TCP_MSS", 536, 65495,
                        "largest TCP segment sent and advertised, never above the MTU less 40 (ESP-IDF allows up to "
                        "1460; lwipy goes higher for jumbo-frame links)")
    # --- TCP ----------------------------------------------------------------------------------------------------------
    max_active_tcp: int = _opt(16, "CONFIG_LWIP_MAX_ACTIVE_TCP", 1, 65535, "TCP connections at once (not listening)")
    max_listening_tcp: int = _opt(16, "CONFIG_LWIP_MAX_LISTENING_TCP", 1, 1024, "listening TCP pcbs at once")
    tcp_snd_buf_default: int = _opt(5760, "CONFIG_LWIP_TCP_SND_BUF_DEFAULT", 2440, 1024000, "send buffer bytes")
    tcp_wnd_default: int = _opt(5760, "CONFIG_LWIP_TCP_WND_DEFAULT", 2440, 1024000, "receive window bytes")
    tcp_maxrtx: int = _opt(12, "CONFIG_LWIP_TCP_MAXRTX", 3, 12, "retransmissions of data before giving up")
    tcp_synmaxrtx: int = _opt(12, "CONFIG_LWIP_TCP_SYNMAXRTX", 3, 12, "retransmissions of a SYN before giving up")
    tcp_msl: int = _opt(60000, "CONFIG_LWIP_TCP_MSL", 1, 600000, "maximum segment lifetime, ms; TIME_WAIT is 2 MSL")
    tcp_fin_wait_timeout: int = _opt(20000, "CONFIG_LWIP_TCP_FIN_WAIT_TIMEOUT", 1, 600000, "ms in FIN_WAIT_2")
    tcp_rto_time: int = _opt(1500, "CONFIG_LWIP_TCP_RTO_TIME", 100, 60000, "initial retransmission timeout, ms")
    tcp_queue_ooseq: bool = _opt(True, "CONFIG_LWIP_TCP_QUEUE_OOSEQ", doc="keep segments that arrive out of order")
    tcp_ooseq_max_pbufs: int = _opt(4, "CONFIG_LWIP_TCP_OOSEQ_MAX_PBUFS", 0, 4096,
                                    "out-of-order segments kept per connection, 0 = no limit")
    tcp_accept_mbox_size: int = _opt(6, "CONFIG_LWIP_TCP_ACCEPTMBOX_SIZE", 1, 255, "connections waiting for accept()")
    tcp_syn_rcvd_timeout: int = _opt(20000, "TCP_SYN_RCVD_TIMEOUT", 1000, 600000,
                                     "ms a half-open connection (SYN_RCVD) lives without hearing from its peer "
                                     "(lwIP's tcp_priv.h: 20 s), so spoofed SYNs free their backlog slots")
    tcp_invalid_ratelimit: int = _opt(500, "lwipy", 0, 60000,
                                      "ms between ACKs one connection sends in reply to unacceptable segments, "
                                      "challenges included (Linux's net.ipv4.tcp_invalid_ratelimit); 0 = no limit")
    tcp_challenge_ack_limit: int = _opt(1000, "lwipy", 1, 2**31 - 1,
                                        "challenge ACKs a second across all connections (RFC 5961 7; Linux's "
                                        "net.ipv4.tcp_challenge_ack_limit before 6.0)")
    tcp_keepidle: int = _opt(7200000, "TCP_KEEPIDLE_DEFAULT", 1, 2**31 - 1, "ms idle before keepalive probes")
    tcp_keepintvl: int = _opt(75000, "TCP_KEEPINTVL_DEFAULT", 1, 2**31 - 1, "ms between keepalive probes")
    tcp_keepcnt: int = _opt(9, "TCP_KEEPCNT_DEFAULT", 1, 255, "unanswered keepalive probes before giving up")
    # --- IPv4 -------------------------------------------------------------------------------------------------------
    ip_default_ttl: int = _opt(64, "CONFIG_LWIP_IP_DEFAULT_TTL", 1, 255, "TTL of packets the stack originates")
    ip4_frag: bool = _opt(True, "CONFIG_LWIP_IP4_FRAG", doc="fragment outgoing IPv4 packets larger than the MTU")
    ip4_reassembly: bool = _opt(False, "CONFIG_LWIP_IP4_REASSEMBLY", doc="reassemble incoming IPv4 fragments")
    ip_reass_max_pbufs: int = _opt(10, "CONFIG_LWIP_IP_REASS_MAX_PBUFS", 10, 100,
                                   "fragments held for reassembly at once, all datagrams together")
    ip_reass_maxage: float = _opt(3.0, "IP_REASS_MAXAGE", 1, 255, "seconds a partial datagram is kept (ESP-IDF lwipopts.h: 3)")
    ip_forward: bool = _opt(False, "CONFIG_LWIP_IP_FORWARD", doc="forward IPv4 packets between netifs")
    netif_loopback: bool = _opt(True, "CONFIG_LWIP_NETIF_LOOPBACK",
                                doc="127.0.0.1 and packets to the stack's own addresses loop back")
    loopback_max_pbufs: int = _opt(8, "CONFIG_LWIP_LOOPBACK_MAX_PBUFS", 0, 16, "packets queued on loopback, 0 = no limit")
    # --- checksums: ESP-IDF leaves IP and UDP checks to the hardware and does not check them in software --------------
    checksum_check_ip: bool = _opt(False, "CONFIG_LWIP_CHECKSUM_CHECK_IP", doc="verify IPv4 header checksums")
    checksum_check_udp: bool = _opt(False, "CONFIG_LWIP_CHECKSUM_CHECK_UDP", doc="verify UDP checksums")
    checksum_check_icmp: bool = _opt(True, "CONFIG_LWIP_CHECKSUM_CHECK_ICMP", doc="verify ICMP checksums")
    # --- ARP --------------------------------------------------------------------------------------------------------
    arp_table_size: int = _opt(10, "ARP_TABLE_SIZE", 1, 1024, "entries in the ARP cache")
    arp_maxage: float = _opt(300.0, "ARP_MAXAGE", 60, 65535,
                             "seconds a resolved ARP entry lives; a used one is asked again 30 s before")
    arp_maxpending: float = _opt(5.0, "ARP_MAXPENDING", 1, 255,
                                 "seconds an unanswered ARP request keeps trying (one request a second)")
    arp_queue_len: int = _opt(3, "ARP_QUEUE_LEN", 0, 64,
                              "packets queued per entry while it resolves; when full the new one is dropped (ESP_LWIP_ARP)")
    esp_gratuitous_arp: bool = _opt(True, "CONFIG_LWIP_ESP_GRATUITOUS_ARP",
                                    doc="announce the address when it is set and every garp_tmr_interval")
    garp_tmr_interval: float = _opt(60.0, "CONFIG_LWIP_GARP_TMR_INTERVAL", 1, 65535, "seconds between gratuitous ARPs")
    # --- UDP / raw ----------------------------------------------------------------------------------------------------
    max_udp_pcbs: int = _opt(16, "CONFIG_LWIP_MAX_UDP_PCBS", 1, 1024, "UDP pcbs that can exist at once")
    udp_recvmbox_size: int = _opt(6, "CONFIG_LWIP_UDP_RECVMBOX_SIZE", 6, 64, "datagrams queued on a UDP pcb")
    max_igmp_groups: int = _opt(64, "MEMP_NUM_IGMP_GROUP", 2, 1024,
                                "IPv4 multicast groups per netif, 224.0.0.1 included; a join beyond it fails "
                                "(EADDRNOTAVAIL from setsockopt)")
    max_raw_pcbs: int = _opt(16, "CONFIG_LWIP_MAX_RAW_PCBS", 1, 1024, "raw pcbs that can exist at once")
    so_reuse_rxtoall: bool = _opt(True, "CONFIG_LWIP_SO_REUSE_RXTOALL",
                                  doc="broadcast and multicast go to every pcb that shares the port (SO_REUSEADDR)")
    # --- the tcpip thread and netconn (api/) ---------------------------------------------------------------------
    tcpip_recvmbox_size: int = _opt(32, "CONFIG_LWIP_TCPIP_RECVMBOX_SIZE", 6, 1024,
                                    "messages waiting for the core thread; a poster blocks (or try_call_soon fails) "
                                    "when full")
    tcp_recvmbox_size: int = _opt(6, "CONFIG_LWIP_TCP_RECVMBOX_SIZE", 6, 1024,
                                  "received chunks queued on a TCP netconn; more waits in the pcb, still counted "
                                  "against the window")
    check_thread_safety: bool = _opt(False, "CONFIG_LWIP_CHECK_THREAD_SAFETY",
                                     doc="core functions raise ThreadSafetyError when called off the core thread")
    # --- ICMP error rate limit: lwipy's own (RFC 1812 4.3.2.8 asks for one; lwIP has none) ---------------------------
    # --- IPv6 (ESP-IDF's Kconfig and lwipopts.h; lwIP's opt.h where ESP-IDF keeps lwIP's default) --------------------
    ipv6: bool = _opt(True, "CONFIG_LWIP_IPV6", doc="IPv6 beside IPv4 (a link-local address on every netif)")
    ipv6_num_addresses: int = _opt(3, "LWIP_IPV6_NUM_ADDRESSES", 1, 16, "IPv6 addresses per netif, link-local included")
    ipv6_autoconfig: bool = _opt(False, "CONFIG_LWIP_IPV6_AUTOCONFIG",
                                 doc="SLAAC (RFC 4862) from router advertisements, on every netif")
    ipv6_dup_detect_attempts: int = _opt(1, "LWIP_IPV6_DUP_DETECT_ATTEMPTS", 0, 7,
                                         "duplicate address detection probes per address (0: none)")
    ipv6_send_router_solicit: bool = _opt(True, "LWIP_IPV6_SEND_ROUTER_SOLICIT", doc="send router solicitations")
    ip6_frag: bool = _opt(True, "CONFIG_LWIP_IP6_FRAG", doc="fragment outgoing IPv6 packets larger than the path MTU")
    ip6_reassembly: bool = _opt(False, "CONFIG_LWIP_IP6_REASSEMBLY", doc="reassemble incoming IPv6 fragments")
    ip6_reass_maxage: float = _opt(60.0, "IPV6_REASS_MAXAGE", 1, 255, "seconds a partial IPv6 packet is kept")
    ip6_forward: bool = _opt(False, "CONFIG_LWIP_IPV6_FORWARD",
                             doc="forward IPv6 packets between netifs (the stack is a router: R set in its advertisements)")
    nd6_num_neighbors: int = _opt(5, "CONFIG_LWIP_IPV6_ND6_NUM_NEIGHBORS", 1, 1024, "neighbour cache entries")
    nd6_num_prefixes: int = _opt(5, "CONFIG_LWIP_IPV6_ND6_NUM_PREFIXES", 1, 256, "on-link prefixes remembered")
    nd6_num_routers: int = _opt(3, "CONFIG_LWIP_IPV6_ND6_NUM_ROUTERS", 1, 64, "default routers remembered")
    nd6_num_destinations: int = _opt(10, "CONFIG_LWIP_IPV6_ND6_NUM_DESTINATIONS", 1, 1024,
                                     "destination cache entries (next hop and path MTU)")
    nd6_max_queued: int = _opt(3, "MEMP_NUM_ND6_QUEUE", 0, 64, "packets waiting for one neighbour to resolve")
    nd6_max_multicast_solicit: int = _opt(3, "LWIP_ND6_MAX_MULTICAST_SOLICIT", 1, 10,
                                          "neighbour solicitations before an address is given up")
    nd6_max_unicast_solicit: int = _opt(3, "LWIP_ND6_MAX_UNICAST_SOLICIT", 1, 10, "unicast probes of a neighbour")
    nd6_reachable_time: int = _opt(30000, "LWIP_ND6_REACHABLE_TIME", 1000, 3600000, "ms a neighbour stays reachable")
    nd6_retrans_timer: int = _opt(1000, "LWIP_ND6_RETRANS_TIMER", 100, 60000, "ms between solicitations")
    nd6_delay_first_probe_time: int = _opt(5000, "LWIP_ND6_DELAY_FIRST_PROBE_TIME", 100, 60000,
                                           "ms in DELAY before the first probe")
    ipv6_rdnss_max_dns_servers: int = _opt(0, "CONFIG_LWIP_IPV6_RDNSS_MAX_DNS_SERVERS", 0, 8,
                                           "DNS servers taken from RA RDNSS options (RFC 8106)")
    mld_v2: bool = _opt(False, "lwipy", doc="send MLDv2 reports (RFC 3810) rather than lwIP's MLDv1 ones")
    esp_mldv6_report: bool = _opt(True, "CONFIG_LWIP_ESP_MLDV6_REPORT", doc="report MLD groups periodically")
    esp_mldv6_report_interval: float = _opt(40.0, "ESP_MLDV6_REPORT_INTERVAL", 1, 3600,
                                            "seconds between periodic MLD reports")
    # --- DNS resolver (lwIP's dns.c; ESP-IDF's Kconfig where it has the option) ----------------------------------
    dns_max_servers: int = _opt(3, "CONFIG_LWIP_DNS_MAX_SERVERS", 1, 4,
                                "DNS servers by index: MAIN (0), BACKUP (1), ..., FALLBACK (the last)")
    fallback_dns_server_address: str | None = _opt(None, "CONFIG_LWIP_FALLBACK_DNS_SERVER_ADDRESS",
                                                    doc="the FALLBACK server set at start (None: "
                                                        "CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT off; ESP-IDF "
                                                        "suggests 114.114.114.114)")
    dns_support_mdns_queries: bool = _opt(True, "CONFIG_LWIP_DNS_SUPPORT_MDNS_QUERIES",
                                          doc="resolve names ending in .local by one-shot mDNS queries (RFC 6762 5.1)")
    dns_table_size: int = _opt(4, "DNS_TABLE_SIZE", 1, 255, "DNS queries in progress and cached answers")
    dns_max_retries: int = _opt(4, "DNS_MAX_RETRIES", 1, 255, "queries sent to one server before the next is tried")
    dns_max_ttl: int = _opt(604800, "DNS_MAX_TTL", 0, 2**31 - 1, "seconds an answer is cached at most")
    dns_max_name_length: int = _opt(256, "DNS_MAX_NAME_LENGTH", 16, 256, "longest host name resolved, plus one")
    dns_local_hostlist: bool = _opt(False, "DNS_LOCAL_HOSTLIST",
                                    doc="a local host list (dns_local_addhost) answers before DNS is asked")
    dns_per_default_netif: bool = _opt(False, "CONFIG_ESP_NETIF_SET_DNS_PER_DEFAULT_NETIF",
                                       doc="keep DNS servers per netif and restore the default netif's whenever it "
                                           "changes (the workaround for the one global list)")
    # --- address acquisition and hooks -----------------------------------------------------------------------------
    ip_accept_udp_port: int = _opt(0, "LWIP_IP_ACCEPT_UDP_PORT", 0, 65535,
                                   "a UDP port whose datagrams a netif takes whatever their IP destination, so that "
                                   "replies arrive before it has an address (0: none; lwIP with LWIP_DHCP always "
                                   "takes 68, the DHCP client's)")
    hooks_file: str | None = _opt(None, "ESP_IDF_LWIP_HOOK_FILENAME",
                                  doc="a Python file whose functions with hook names are installed in stack.hooks "
                                      "(see lwipy.core.hooks)")
    # --- DHCP client (lwIP's dhcp.c with ESP-IDF's options) and server (ESP-IDF's dhcpserver) ------------------------
    dhcp_does_arp_check: bool = _opt(True, "CONFIG_LWIP_DHCP_DOES_ARP_CHECK",
                                     doc="probe an offered address with ARP before taking it; DECLINE on an answer")
    dhcp_disable_client_id: bool = _opt(False, "CONFIG_LWIP_DHCP_DISABLE_CLIENT_ID",
                                        doc="send no client identifier (61; by default type 1 and the MAC)")
    dhcp_disable_vendor_class_id: bool = _opt(True, "CONFIG_LWIP_DHCP_DISABLE_VENDOR_CLASS_ID",
                                              doc="send no vendor class identifier (60)")
    dhcp_restore_last_ip: bool = _opt(False, "CONFIG_LWIP_DHCP_RESTORE_LAST_IP",
                                      doc="start with INIT-REBOOT, asking for the address last bound")
    dhcp_options_len: int = _opt(68, "CONFIG_LWIP_DHCP_OPTIONS_LEN", 68, 255,
                                 "bytes of options the client's messages can carry (lwIP's DHCP_OPTIONS_LEN): "
                                 "options from the dhcp_append_options hook beyond it are left out")
    dhcp_coarse_timer_secs: int = _opt(1, "CONFIG_LWIP_DHCP_COARSE_TIMER_SECS", 1, 10,
                                       "the period of dhcp_coarse_tmr: lease, T1 and T2 count in these units")
    dhcp_get_ntp_srv: bool = _opt(False, "CONFIG_LWIP_DHCP_GET_NTP_SRV",
                                  doc="ask for NTP servers (42) and keep them for SNTP")
    dhcp_max_ntp_servers: int = _opt(1, "CONFIG_LWIP_DHCP_MAX_NTP_SERVERS", 1, 16, "NTP servers kept from DHCP")
    dhcps: bool = _opt(True, "CONFIG_LWIP_DHCPS", doc="the DHCP server is built in")
    dhcps_lease_unit: int = _opt(60, "CONFIG_LWIP_DHCPS_LEASE_UNIT", 1, 3600,
                                 "seconds in one unit of the server's lease time")
    dhcps_max_station_num: int = _opt(8, "CONFIG_LWIP_DHCPS_MAX_STATION_NUM", 1, 64000,
                                      "leases the server keeps; beyond, the oldest is evicted")
    dhcps_max_lease: int = _opt(100, "DHCPS_MAX_LEASE", 1, 65534,
                                "addresses a pool given to the DHCP server may hold (ESP-IDF's dhcpserver.h constant, "
                                "100; the default pool is always ESP-IDF's 100 or fewer)")
    dhcps_static_entries: bool = _opt(True, "CONFIG_LWIP_DHCPS_STATIC_ENTRIES",
                                      doc="the server supports static leases by MAC")
    icmp_ratelimit_burst: int = _opt(50, "lwipy", 1, 100000, "ICMP errors sent back to back before limiting")
    icmp_ratelimit_per_s: float = _opt(100.0, "lwipy", 0, 1000000, "ICMP errors a second after the burst")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            symbol = f.metadata["symbol"]
            if f.type in ("str | None", str):
                if value is not None and not isinstance(value, str):
                    raise ConfigError(f"{f.name} ({symbol}) takes a string or None, not {value!r}")
                continue
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"{f.name} ({symbol}) takes True or False, not {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{f.name} ({symbol}) takes a number, not {value!r}")
            if f.type in ("int", int) and not isinstance(value, int):
                raise ConfigError(f"{f.name} ({symbol}) takes a whole number, not {value!r}")
            lo, hi = f.metadata["range"]
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ConfigError(f"{f.name}={value!r} is outside {symbol}'s range {lo}..{hi}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Config":
        """Build from a mapping of option names, checking every name (with a suggestion for a misspelt one)."""
        known = {f.name for f in dataclasses.fields(cls)}
        for name in options:
            if name not in known:
                near = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ConfigError(f"unknown option {name!r}{hint}")
        return cls(**options)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some options changed, checked like :meth:`from_options`."""
        return type(self).from_options({**dataclasses.asdict(self), **changes})

    @classmethod
    def from_sdkconfig(cls, text: str) -> "Config":
        """Read the ``CONFIG_LWIP_*`` lines of an ESP-IDF ``sdkconfig``; lines for options lwipy lacks are ignored."""
        by_symbol = {f.metadata["symbol"]: f for f in dataclasses.fields(cls)}
        options: dict[str, Any] = {}
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("# CONFIG_") and line.endswith(" is not set"):
                symbol, value = line[2:-len(" is not set")], "n"
            elif line.startswith("CONFIG_") and "=" in line:
                symbol, value = line.split("=", 1)
            else:
                continue
            f = by_symbol.get(symbol)
            if f is None:
                continue
            if f.type in ("str | None", str):
                options[f.name] = value.strip('"') or None
            elif f.type in ("bool", bool):
                options[f.name] = value == "y"
            elif f.type in ("float", float):
                options[f.name] = float(value)
            else:
                options[f.name] = int(value, 0)
        return cls.from_options(options)

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, symbol, default, meaning) of every option, for documentation and ``lwipy config``."""
        return [(f.name, f.metadata["symbol"], f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]
