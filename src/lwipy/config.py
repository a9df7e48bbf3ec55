"""``CONFIG_LWIP_*`` options with ESP-IDF's defaults.

Each field of :class:`Config` is one lwIP/ESP-IDF option, named as the Kconfig symbol without ``CONFIG_LWIP_`` in lower
case (``ip_default_ttl`` is ``CONFIG_LWIP_IP_DEFAULT_TTL``).  Options that only exist in lwIP's ``opt.h`` carry the
``opt.h`` name; the few that are lwipy's own say so.  The metadata holds the range ESP-IDF allows (lwipy widens a few
for servers and jumbo frames, never narrows one)::

    cfg = Config(ip4_reassembly=True, ip_reass_max_pbufs=48)
    cfg = Config.from_sdkconfig("sdkconfig")                  # an ESP-IDF project's sdkconfig (a path or its text)
    cfg = Config.fast(tcp_wnd_default=262144)                 # lwipy's faster TCP: SACK, window scaling, timestamps

Every ``CONFIG_LWIP_*`` symbol of ESP-IDF's ``components/lwip/Kconfig`` (v5.x) is accounted for: a field that takes
effect; a field accepted without effect in lwipy, whose ``no_effect`` metadata says why (``lwipy config`` shows it);
a chip-only symbol (:data:`CHIP_ONLY`: IRAM placement, task stack and affinity, C hooks, debug output) that
:meth:`Config.read_sdkconfig` lists as ignored; or, for SNTP, NAPT and PPP, the fields those areas add.

TCP on the wire is ESP-IDF's by default: ``CONFIG_LWIP_TCP_SACK_OUT`` and ``CONFIG_LWIP_WND_SCALE`` are off in its
Kconfig and ``LWIP_TCP_TIMESTAMPS`` in its build, so a SYN carries the MSS alone; :meth:`Config.fast` switches the
three on.  A connection a TCP timer gives up reports ECONNABORTED, as lwIP's ``tcp_slowtmr`` (ERR_ABRT).

An unknown option (``Config(unknown=1)`` too) or a value out of range raises :class:`~lwipy.errors.ConfigError` naming
the option; an sdkconfig line of the wrong form names the symbol, the line number and the allowed values.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Config", "ConfigError", "SdkconfigResult", "SdkconfigWarning", "CHIP_ONLY", "sdkconfig_line",
           "sdkconfig_key"]


def _opt(default: Any, symbol: str, lo: int | None = None, hi: int | None = None, doc: str = "",
         no_effect: str = "") -> Any:
    """A Config field: its ESP-IDF/lwIP ``symbol``, allowed range ``lo..hi`` (numbers), meaning, and for an option
    lwipy accepts without acting on it, ``no_effect``: why."""
    return field(default=default, metadata={"symbol": symbol, "range": (lo, hi), "doc": doc, "no_effect": no_effect})


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
    tcp_snd_buf_default: int = _opt(5760, "CONFIG_LWIP_TCP_SND_BUF_DEFAULT", 2440, 1024000,
                                    "send buffer bytes (at most 65535 without wnd_scale, as Kconfig's range)")
    tcp_wnd_default: int = _opt(5760, "CONFIG_LWIP_TCP_WND_DEFAULT", 2440, 1024000,
                                "receive window bytes (at most 65535 without wnd_scale; with it, at most 65535 << "
                                "tcp_rcv_scale, lwIP's init.c check)")
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
    ipv6_num_addresses: int = _opt(3, "CONFIG_LWIP_IPV6_NUM_ADDRESSES", 1, 16, "IPv6 addresses per netif, link-local included")
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
    nd6_max_queued: int = _opt(3, "CONFIG_LWIP_IPV6_MEMP_NUM_ND6_QUEUE", 0, 64, "packets waiting for one neighbour to resolve")
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
    esp_mldv6_report_interval: float = _opt(40.0, "CONFIG_LWIP_MLDV6_TMR_INTERVAL", 1, 3600,
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
    # --- SNTP (lwIP's apps/sntp with ESP-IDF's esp_sntp; see lwipy.apps.sntp) -----------------------------------
    sntp_max_servers: int = _opt(1, "CONFIG_LWIP_SNTP_MAX_SERVERS", 1, 16,
                                 "SNTP servers by index (SNTP_MAX_SERVERS); DHCP's NTP servers fill them from 0")
    sntp_update_delay: int = _opt(3600000, "CONFIG_LWIP_SNTP_UPDATE_DELAY", 15000, 4294967295,
                                  "ms between requests after a good reply (SNTP_UPDATE_DELAY; RFC 4330 wants at "
                                  "least 15 s)")
    sntp_startup_delay: bool = _opt(True, "CONFIG_LWIP_SNTP_STARTUP_DELAY",
                                    doc="wait a random time before the first request (SNTP_STARTUP_DELAY), so that "
                                        "devices powered up together do not ask at once")
    sntp_maximum_startup_delay: int = _opt(5000, "CONFIG_LWIP_SNTP_MAXIMUM_STARTUP_DELAY", 100, 300000,
                                           "ms: the startup delay is LWIP_RAND() % this (SNTP_STARTUP_DELAY_FUNC)")
    sntp_recv_timeout: int = _opt(15000, "SNTP_RECV_TIMEOUT", 1000, 3600000,
                                  "ms to wait for a reply before the next server is tried; also the first retry "
                                  "delay (SNTP_RETRY_TIMEOUT), doubled per retry up to ten times it "
                                  "(SNTP_RETRY_TIMEOUT_MAX, SNTP_RETRY_TIMEOUT_EXP)")
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
    # --- mDNS responder (ESP-IDF's mdns component, CONFIG_MDNS_*) and NetBIOS name service (lwIP's netbiosns) ----------
    mdns_max_services: int = _opt(10, "CONFIG_MDNS_MAX_SERVICES", 1, 64, "services one mDNS responder publishes")
    mdns_max_interfaces: int = _opt(3, "CONFIG_MDNS_MAX_INTERFACES", 1, 9, "netifs one mDNS responder serves")
    mdns_respond_reverse_queries: bool = _opt(False, "CONFIG_MDNS_RESPOND_REVERSE_QUERIES",
                                              doc="answer reverse (in-addr.arpa, ip6.arpa) PTR queries for the "
                                                  "host's addresses")
    netbios_respond_name_query: bool = _opt(False, "LWIP_NETBIOS_RESPOND_NAME_QUERY",
                                            doc="the NetBIOS responder answers node status queries (nmblookup -A) "
                                                "besides name queries (lwIP's default: off)")
    # --- PPP (lwIP's netif/ppp as ESP-IDF's Kconfig configures it; lwipy.ppp, lwipy.netif.pppos) -------------------
    ppp_support: bool = _opt(False, "CONFIG_LWIP_PPP_SUPPORT", doc="PPP over serial (pppos_create refuses without it)")
    ppp_enable_ipv4: bool = _opt(True, "CONFIG_LWIP_PPP_ENABLE_IPV4", doc="negotiate IPCP (IPv4) on PPP links")
    ppp_enable_ipv6: bool = _opt(True, "CONFIG_LWIP_PPP_ENABLE_IPV6",
                                 doc="negotiate IPV6CP (a link-local address) on PPP links; some modems cannot")
    ppp_notify_phase_support: bool = _opt(False, "CONFIG_LWIP_PPP_NOTIFY_PHASE_SUPPORT",
                                          doc="esp_netif posts NETIF_PPP_PHASE_* events on phase changes")
    ppp_pap_support: bool = _opt(False, "CONFIG_LWIP_PPP_PAP_SUPPORT", doc="PAP (RFC 1334), both roles")
    ppp_chap_support: bool = _opt(False, "CONFIG_LWIP_PPP_CHAP_SUPPORT", doc="CHAP with MD5 (RFC 1994), both roles")
    ppp_mschap_support: bool = _opt(False, "CONFIG_LWIP_PPP_MSCHAP_SUPPORT", doc="MS-CHAP",
                                    no_effect="lwipy's PPP has PAP and CHAP-MD5 only: a peer asking for MS-CHAP is "
                                              "Nak'ed towards them")
    ppp_mppe_support: bool = _opt(False, "CONFIG_LWIP_PPP_MPPE_SUPPORT", doc="MPPE encryption (CCP)",
                                  no_effect="lwipy's PPP has no CCP: the peer's CCP is Protocol-Rejected")
    ppp_server_support: bool = _opt(False, "CONFIG_LWIP_PPP_SERVER_SUPPORT",
                                    doc="the server role (lwIP's PPP_SERVER: wait for the peer, assign its address)")
    ppp_vj_header_compression: bool = _opt(True, "CONFIG_LWIP_PPP_VJ_HEADER_COMPRESSION",
                                           doc="VJ TCP/IP header compression (RFC 1144) when the peer agrees")
    enable_lcp_echo: bool = _opt(False, "CONFIG_LWIP_ENABLE_LCP_ECHO", doc="LCP Echo-Request keepalive on PPP links")
    lcp_echointerval: int = _opt(3, "CONFIG_LWIP_LCP_ECHOINTERVAL", 0, 1000000,
                                 "seconds between LCP Echo-Requests (with enable_lcp_echo)")
    lcp_maxechofails: int = _opt(3, "CONFIG_LWIP_LCP_MAXECHOFAILS", 0, 100000,
                                 "unanswered LCP Echo-Requests before the link is declared dead")
    icmp_ratelimit_burst: int = _opt(50, "lwipy", 1, 100000, "ICMP errors sent back to back before limiting")
    icmp_ratelimit_per_s: float = _opt(100.0, "lwipy", 0, 1000000, "ICMP errors a second after the burst")
    # --- NAPT and port forwarding (esp-lwip's ip4_napt; see lwipy.core.napt) -------------------------------------------
    ipv4_napt: bool = _opt(False, "CONFIG_LWIP_IPV4_NAPT",
                           doc="NAPT on IPv4 (needs ip_forward); enabled on one netif, the inside one")
    ipv4_napt_portmap: bool = _opt(True, "CONFIG_LWIP_IPV4_NAPT_PORTMAP", doc="port forwarding (ip_portmap_add)")
    ip_napt_max: int = _opt(512, "IP_NAPT_MAX", 1, 65535, "NAPT table entries (esp-lwip's lwip_napt.h: 512)")
    ip_portmap_max: int = _opt(32, "IP_PORTMAP_MAX", 1, 255, "port maps (esp-lwip's lwip_napt.h: 32)")
    ip_napt_timeout_ms_tcp: int = _opt(30 * 60 * 1000, "IP_NAPT_TIMEOUT_MS_TCP", 1, 2**31 - 1,
                                       "ms an idle established TCP entry is kept")
    ip_napt_timeout_ms_tcp_discon: int = _opt(20 * 1000, "IP_NAPT_TIMEOUT_MS_TCP_DISCON", 1, 2**31 - 1,
                                              "ms an idle closing, reset or half-open TCP entry is kept")
    ip_napt_timeout_ms_udp: int = _opt(2 * 1000, "IP_NAPT_TIMEOUT_MS_UDP", 1, 2**31 - 1,
                                       "ms an idle UDP entry is kept")
    ip_napt_timeout_ms_icmp: int = _opt(2 * 1000, "IP_NAPT_TIMEOUT_MS_ICMP", 1, 2**31 - 1,
                                        "ms an idle ICMP echo entry is kept")
    ip_napt_port_range_start: int = _opt(49152, "IP_NAPT_PORT_RANGE_START", 1024, 65535, "first mapped port")
    ip_napt_port_range_end: int = _opt(61439, "IP_NAPT_PORT_RANGE_END", 1024, 65535, "last mapped port")
    ip_napt_tmr_interval: int = _opt(2000, "NAPT_TMR_INTERVAL", 10, 600000, "ms between sweeps of the NAPT table")

    # --- TCP options on the wire: ESP-IDF's SYN carries the MSS alone -----------------------------------------------
    # lwipy's faster settings (SACK, window scaling, timestamps) are one switch away: Config.fast(...), see below
    tcp_sack_out: bool = _opt(False, "CONFIG_LWIP_TCP_SACK_OUT",
                              doc="offer and send selective acknowledgements (SACK permitted in the SYN, SACK blocks in "
                                  "ACKs; lwipy also uses the peer's SACKs in recovery, RFC 6675)")
    wnd_scale: bool = _opt(False, "CONFIG_LWIP_WND_SCALE",
                           doc="window scaling (RFC 7323): the SYN offers tcp_rcv_scale; windows and send buffers "
                               "above 65535 need it")
    tcp_rcv_scale: int = _opt(0, "CONFIG_LWIP_TCP_RCV_SCALE", 0, 14,
                              "the receive window's scale shift offered with wnd_scale (lwIP's TCP_RCV_SCALE); "
                              "tcp_wnd_default must fit in 16 bits after it")
    tcp_timestamps: bool = _opt(False, "LWIP_TCP_TIMESTAMPS",
                                doc="the timestamps option (RFC 7323: RTT from every ACK, PAWS); off in ESP-IDF's "
                                    "build (lwIP's opt.h)")
    # --- socket options lwIP builds only when asked: off, setsockopt says ENOPROTOOPT ----------------------------------
    so_reuse: bool = _opt(True, "CONFIG_LWIP_SO_REUSE", doc="SO_REUSEADDR (bind to a port in TIME_WAIT, share UDP ports)")
    so_rcvbuf: bool = _opt(False, "CONFIG_LWIP_SO_RCVBUF", doc="SO_RCVBUF: a byte limit on a UDP/RAW socket's queue")
    so_linger: bool = _opt(False, "CONFIG_LWIP_SO_LINGER", doc="SO_LINGER: close() waits for unsent data, or resets")
    netbuf_recvinfo: bool = _opt(False, "CONFIG_LWIP_NETBUF_RECVINFO",
                                 doc="IP_PKTINFO: recvmsg tells the address an IPv4 datagram was sent to")
    # --- protocols on or off ---------------------------------------------------------------------------------------
    ipv4: bool = _opt(True, "CONFIG_LWIP_IPV4", doc="IPv4 (off: an IPv6-only stack, no IPv4 address, ARP ignored)")
    broadcast_ping: bool = _opt(False, "CONFIG_LWIP_BROADCAST_PING", doc="answer pings to a broadcast address")
    multicast_ping: bool = _opt(False, "CONFIG_LWIP_MULTICAST_PING",
                                doc="answer pings to a multicast group (IPv4 and IPv6)")
    icmp: bool = _opt(True, "CONFIG_LWIP_ICMP",
                      doc="IPv4's ICMP: echo replies and errors (off: ICMP is dropped and no error is sent; ICMPv6 is "
                          "part of IPv6 and stays)")
    force_router_forwarding: bool = _opt(False, "CONFIG_LWIP_FORCE_ROUTER_FORWARDING",
                                         doc="neighbour advertisements carry the router flag (lwipy also sets it "
                                             "whenever ip6_forward is on)")
    local_hostname: str | None = _opt("espressif", "CONFIG_LWIP_LOCAL_HOSTNAME",
                                      doc="the host name a DhcpClient sends (option 12) unless given one")
    fallback_dns_server_support: bool = _opt(False, "CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT",
                                             doc="set the FALLBACK DNS server at start (fallback_dns_server_address, "
                                                 "114.114.114.114 when not given)")
    # --- accepted, and without effect in lwipy (each says why; `lwipy config` marks them) ------------------------------
    timers_ondemand: bool = _opt(True, "CONFIG_LWIP_TIMERS_ONDEMAND",
                                 doc="IGMP and MLD timers only while needed",
                                 no_effect="lwipy is always deadline-driven: no timer runs unless something is due")
    tcp_tmr_interval: int = _opt(250, "CONFIG_LWIP_TCP_TMR_INTERVAL", 1, 10000, "ms between lwIP's TCP timer ticks",
                                 no_effect="lwipy's TCP timers are deadlines, not ticks")
    tcp_high_speed_retransmission: bool = _opt(True, "CONFIG_LWIP_TCP_HIGH_SPEED_RETRANSMISSION",
                                               doc="menuconfig's choice of tcp_synmaxrtx and tcp_rto_time defaults",
                                               no_effect="only picks defaults in menuconfig; set tcp_synmaxrtx and "
                                                         "tcp_rto_time (an sdkconfig carries both)")
    tcp_ooseq_timeout: int = _opt(6, "CONFIG_LWIP_TCP_OOSEQ_TIMEOUT", 1, 30,
                                  "RTOs an out-of-order segment is kept",
                                  no_effect="lwipy keeps out-of-order segments (bounded by tcp_ooseq_max_pbufs) until "
                                            "the gap fills or the connection ends")
    tcpip_task_prio: int = _opt(18, "CONFIG_LWIP_TCPIP_TASK_PRIO", 1, 24, "the tcpip task's FreeRTOS priority",
                                no_effect="the core thread is a Python thread")
    tcpip_core_locking: bool = _opt(False, "CONFIG_LWIP_TCPIP_CORE_LOCKING",
                                    doc="API calls to a sleeping core thread run on the caller's thread under the "
                                        "core lock instead of messaging it (StackLoop's core locking)")
    tcpip_core_locking_input: bool = _opt(False, "CONFIG_LWIP_TCPIP_CORE_LOCKING_INPUT",
                                          doc="tcpip_input takes the core lock",
                                          no_effect="input always runs on the core thread")
    netif_api: bool = _opt(False, "CONFIG_LWIP_NETIF_API", doc="if_nametoindex()/if_indextoname()",
                           no_effect="netifs are found by name or index on the Stack")
    netif_status_callback: bool = _opt(False, "CONFIG_LWIP_NETIF_STATUS_CALLBACK",
                                       doc="a callback on netif up/down and address changes",
                                       no_effect="stack.events always delivers netif events")
    num_netif_client_data: int = _opt(0, "CONFIG_LWIP_NUM_NETIF_CLIENT_DATA", 0, 256,
                                      "client data slots in struct netif",
                                      no_effect="Python objects carry their own data")
    use_only_lwip_select: bool = _opt(False, "CONFIG_LWIP_USE_ONLY_LWIP_SELECT",
                                      doc="select() for sockets only (deprecated)",
                                      no_effect="lwipy's select is its own (SocketApi.select)")
    stats: bool = _opt(False, "CONFIG_LWIP_STATS", doc="lwIP's statistics",
                       no_effect="lwipy always counts (stack.stats)")
    nd6: bool = _opt(True, "CONFIG_LWIP_ND6", doc="IPv6 neighbour discovery",
                     no_effect="lwipy always runs neighbour discovery with IPv6")
    ipv6_dhcp6: bool = _opt(False, "CONFIG_LWIP_IPV6_DHCP6", doc="the stateless DHCPv6 client",
                            no_effect="start lwipy.apps.Dhcp6 to use it")
    autoip: bool = _opt(False, "CONFIG_LWIP_AUTOIP", doc="IPv4 link-local addresses (RFC 3927)",
                        no_effect="lwipy has no AutoIP client yet")
    autoip_tries: int = _opt(2, "CONFIG_LWIP_AUTOIP_TRIES", 1, 100, "DHCP probes before AutoIP",
                             no_effect="lwipy has no AutoIP client yet")
    autoip_max_conflicts: int = _opt(9, "CONFIG_LWIP_AUTOIP_MAX_CONFLICTS", 1, 100, "conflicts before rate limiting",
                                     no_effect="lwipy has no AutoIP client yet")
    autoip_rate_limit_interval: int = _opt(20, "CONFIG_LWIP_AUTOIP_RATE_LIMIT_INTERVAL", 5, 120,
                                           "seconds between rate-limited attempts",
                                           no_effect="lwipy has no AutoIP client yet")
    slip_support: bool = _opt(False, "CONFIG_LWIP_SLIP_SUPPORT", doc="SLIP over serial",
                              no_effect="lwipy has no SLIP netif")
    bridgeif_max_ports: int = _opt(7, "CONFIG_LWIP_BRIDGEIF_MAX_PORTS", 1, 63, "ports of a bridge netif",
                                   no_effect="lwipy has no bridge netif")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_value(f, getattr(self, f.name))
        # the ranges Kconfig makes depend on another option, and lwIP's init.c checks
        if not self.ipv4 and not self.ipv6:
            raise ConfigError("ipv4 and ipv6 are both off (CONFIG_LWIP_IPV4, CONFIG_LWIP_IPV6): lwIP needs one")
        if not self.wnd_scale:
            for name in ("tcp_wnd_default", "tcp_snd_buf_default"):
                if getattr(self, name) > 0xFFFF:
                    raise ConfigError(f"{name}={getattr(self, name)} is outside {_SYMBOLS[name]}'s range 2440..65535 "
                                      f"without wnd_scale (CONFIG_LWIP_WND_SCALE); Config.fast(...) turns it on")
        else:
            if self.tcp_wnd_default > 0xFFFF << self.tcp_rcv_scale:
                need = _scale_for(self.tcp_wnd_default)
                raise ConfigError(f"tcp_wnd_default={self.tcp_wnd_default} is bigger than tcp_rcv_scale="
                                  f"{self.tcp_rcv_scale} allows (lwIP: TCP_WND > 0xFFFF << TCP_RCV_SCALE); "
                                  f"tcp_rcv_scale={need} fits it")
            if self.tcp_wnd_default >> self.tcp_rcv_scale == 0:
                raise ConfigError(f"tcp_wnd_default={self.tcp_wnd_default} is too small for tcp_rcv_scale="
                                  f"{self.tcp_rcv_scale} (a zero window)")
        if self.fallback_dns_server_support and self.fallback_dns_server_address is None:
            object.__setattr__(self, "fallback_dns_server_address", "114.114.114.114")  # Kconfig's default
        elif self.fallback_dns_server_address is not None and not self.fallback_dns_server_support:
            object.__setattr__(self, "fallback_dns_server_support", True)
        if self.fallback_dns_server_support:
            if self.dns_max_servers < 3:  # Kconfig: depends on LWIP_DNS_MAX_SERVERS >= 3
                raise ConfigError(f"fallback_dns_server_support (CONFIG_LWIP_FALLBACK_DNS_SERVER_SUPPORT) needs "
                                  f"dns_max_servers >= 3, not {self.dns_max_servers} (the FALLBACK is the last slot)")
            try:
                ipaddress.ip_address(self.fallback_dns_server_address)
            except ValueError:
                raise ConfigError(f"fallback_dns_server_address (CONFIG_LWIP_FALLBACK_DNS_SERVER_ADDRESS) "
                                  f"{self.fallback_dns_server_address!r} is no IP address") from None

    @classmethod
    def fast(cls, **options: Any) -> "Config":
        """lwipy's faster TCP, one switch away from ESP-IDF's defaults: SACK (``tcp_sack_out``), window scaling
        (``wnd_scale``, with the smallest ``tcp_rcv_scale`` that fits ``tcp_wnd_default``) and timestamps
        (``tcp_timestamps``), with ``options`` on top: ``Config.fast(tcp_wnd_default=262144, ...)``."""
        window = options.get("tcp_wnd_default", _DEFAULTS["tcp_wnd_default"])
        base = {"tcp_sack_out": True, "wnd_scale": True, "tcp_timestamps": True,
                "tcp_rcv_scale": _scale_for(window) if isinstance(window, int) else 0}
        return cls.from_options({**base, **options})

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Config":
        """Build from a mapping of option names, checking every name (with a suggestion for a misspelt one)."""
        return cls(**options)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some options changed, checked like :meth:`from_options`."""
        options = {**dataclasses.asdict(self), **changes}
        if changes.get("fallback_dns_server_support") is False and "fallback_dns_server_address" not in changes:
            options["fallback_dns_server_address"] = None  # the address alone would switch the support back on
        return type(self).from_options(options)

    @classmethod
    def field_for(cls, name_or_symbol: str) -> dataclasses.Field:
        """The field of an option name (``tcp_mss``) or its sdkconfig symbol (``CONFIG_LWIP_TCP_MSS``)."""
        f = _FIELDS.get(name_or_symbol) or _BY_KEY.get(name_or_symbol)
        if f is None:
            raise ConfigError(f"unknown option {name_or_symbol!r}{_hint(name_or_symbol)}")
        return f

    @classmethod
    def parse_value(cls, name: str, text: str) -> Any:
        """An option's value from text, as ``lwipy up -o NAME=VALUE`` gives it: for a bool what Kconfig and its
        users write (``y``/``n``, ``1``/``0``, ``true``/``false``, any case), for a number a decimal (or 0x hex)
        literal, for a string the text ('' for None).  ConfigError names the option and its allowed values."""
        f = cls.field_for(name)
        kind = _kind(f)
        low = text.strip().lower()
        if kind == "bool":
            if low in ("y", "1", "true", "yes", "on"):
                return True
            if low in ("n", "0", "false", "no", "off"):
                return False
        elif kind == "str":
            return text or None
        else:
            try:
                return int(low, 0) if kind == "int" else float(low)
            except ValueError:
                pass
        raise ConfigError(f"{f.name} ({f.metadata['symbol']}) takes {_allowed(f)}, not {text!r}")

    @classmethod
    def read_sdkconfig(cls, path_or_text: "str | os.PathLike[str]", strict: bool = False) -> "SdkconfigResult":
        """Read an ESP-IDF ``sdkconfig`` (a path, or the text itself) and tell what became of every line: see
        :class:`SdkconfigResult`.  Kconfig's syntax, never guessed at: ``CONFIG_NAME=value`` (spaces around ``=``
        allowed), ``# CONFIG_NAME is not set`` for a bool that is off, other ``#`` lines comments; a bool is ``y`` or
        ``n``, an int a decimal literal (a hex symbol 0x...), a string double-quoted.  A value of the wrong form, an
        empty one or one out of range is a ConfigError naming the symbol, the line number and the allowed values, as
        is a line that is none of these.  ``CONFIG_LWIP_*`` symbols lwipy does not know are a warning listing them
        (``strict``: a ConfigError); chip-only ones (IRAM placement, task stack and affinity, debug output, hook
        choices...) are listed in ``ignored`` with the reason."""
        return _read_sdkconfig(cls, path_or_text, strict)

    @classmethod
    def from_sdkconfig(cls, path_or_text: "str | os.PathLike[str]", strict: bool = False) -> "Config":
        """The Config an ESP-IDF ``sdkconfig`` describes (a path or its text); see :meth:`read_sdkconfig`."""
        return _read_sdkconfig(cls, path_or_text, strict).config

    def to_sdkconfig(self, only_changed: bool = False) -> str:
        """This Config as sdkconfig lines, as ``idf.py menuconfig`` writes them (options lwIP's Kconfig lacks under
        ``CONFIG_LWIPY_<NAME>``); :meth:`from_sdkconfig` reads them back to an equal Config."""
        lines = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if only_changed and value == f.default:
                continue
            lines.append(sdkconfig_line(f, value))
        return "\n".join(lines) + "\n"

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, symbol, default, meaning) of every option, for documentation and ``lwipy config``; an option lwipy
        accepts without acting on it has its reason after "no effect:" in the meaning."""
        return [(f.name, f.metadata["symbol"], f.default,
                 f.metadata["doc"] + (f" (no effect: {f.metadata['no_effect']})" if f.metadata["no_effect"] else ""))
                for f in dataclasses.fields(cls)]


# ---------------------------------------------------------------------------------------------------------------------
# Checking values, and the keyword check that makes Config(unknown=1) a ConfigError

_FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Config)}


def sdkconfig_key(f: dataclasses.Field) -> str:
    """The sdkconfig symbol of a field: its ``CONFIG_*`` symbol, or ``CONFIG_LWIPY_<NAME>`` for the options that
    ESP-IDF's Kconfig lacks (lwIP's ``opt.h`` ones and lwipy's own), so that every option can be written in a file."""
    symbol = f.metadata["symbol"]
    return symbol if symbol.startswith("CONFIG_") else "CONFIG_LWIPY_" + f.name.upper()


_BY_KEY: dict[str, dataclasses.Field] = {sdkconfig_key(f): f for f in dataclasses.fields(Config)}
_SYMBOLS: dict[str, str] = {f.name: f.metadata["symbol"] for f in dataclasses.fields(Config)}


def _kind(f: dataclasses.Field) -> str:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return {"bool": "bool", "int": "int", "float": "float"}.get(t, "str")


def _allowed(f: dataclasses.Field) -> str:
    kind = _kind(f)
    if kind == "bool":
        return "y or n"
    if kind == "str":
        return "a string" + (" (empty: none)" if f.default is None or "None" in str(f.type) else "")
    lo, hi = f.metadata["range"]
    what = "a whole number" if kind == "int" else "a number"
    if lo is not None or hi is not None:
        what += f" in {'' if lo is None else lo}..{'' if hi is None else hi}"
    return what


def _check_value(f: dataclasses.Field, value: Any) -> None:
    symbol = f.metadata["symbol"]
    kind = _kind(f)
    if kind == "str":
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{f.name} ({symbol}) takes a string or None, not {value!r}")
        return
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{f.name} ({symbol}) takes True or False, not {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{f.name} ({symbol}) takes a number, not {value!r}")
    if kind == "int" and not isinstance(value, int):
        raise ConfigError(f"{f.name} ({symbol}) takes a whole number, not {value!r}")
    lo, hi = f.metadata["range"]
    # written so that NaN (false against both ends) is outside too
    if (lo is not None and not value >= lo) or (hi is not None and not value <= hi):
        raise ConfigError(f"{f.name}={value!r} is outside {symbol}'s range {lo}..{hi}")


def _hint(name: str) -> str:
    near = difflib.get_close_matches(name, list(_FIELDS) + list(_BY_KEY), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _scale_for(window: int) -> int:
    """The smallest window scale shift that lets ``window`` be offered in 16 bits."""
    shift = 0
    while window > 0xFFFF << shift and shift < 14:
        shift += 1
    return shift


_dataclass_init = Config.__init__


@functools.wraps(_dataclass_init)
def _config_init(self: Config, *args: Any, **options: Any) -> None:
    if args:
        raise ConfigError("Config takes options by name: Config(tcp_mss=1460, ...)")
    for name in options:
        if name not in _FIELDS:
            raise ConfigError(f"unknown option {name!r}{_hint(name)}")
    _dataclass_init(self, **options)


Config.__init__ = _config_init  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------------------------------
# sdkconfig

#: CONFIG_LWIP_* symbols that only mean something on the chip (or in its build), recognised and ignored: exact
#: symbols, then prefixes and suffixes.  The reference is ESP-IDF's components/lwip/Kconfig (v5.x).
CHIP_ONLY: dict[str, str] = {
    "CONFIG_LWIP_ENABLE": "builds lwIP into the firmware; lwipy is the stack",
    "CONFIG_LWIP_IRAM_OPTIMIZATION": "places RX/TX functions in IRAM",
    "CONFIG_LWIP_EXTRA_IRAM_OPTIMIZATION": "places TCP functions in IRAM",
    "CONFIG_LWIP_L2_TO_L3_COPY": "copies Wi-Fi driver buffers into lwIP's heap",
    "CONFIG_LWIP_TCPIP_TASK_STACK_SIZE": "the tcpip task's stack size",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY": "pins the tcpip task to a CPU core",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY_NO_AFFINITY": "pins the tcpip task to a CPU core",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU0": "pins the tcpip task to a CPU core",
    "CONFIG_LWIP_TCPIP_TASK_AFFINITY_CPU1": "pins the tcpip task to a CPU core",
    "CONFIG_LWIP_TCP_OVERSIZE_MSS": "pbuf pre-allocation for TCP writes (memory layout)",
    "CONFIG_LWIP_TCP_OVERSIZE_QUARTER_MSS": "pbuf pre-allocation for TCP writes (memory layout)",
    "CONFIG_LWIP_TCP_OVERSIZE_DISABLE": "pbuf pre-allocation for TCP writes (memory layout)",
    "CONFIG_LWIP_ESP_LWIP_ASSERT": "C assertions in the firmware",
    "CONFIG_LWIP_TCP_ISN_HOOK": "a C hook; lwipy's hooks are stack.hooks / hooks_file",
    "CONFIG_LWIP_DEBUG": "C debug output; lwipy logs with Python's logging",
    "CONFIG_LWIP_DEBUG_ESP_LOG": "C debug output; lwipy logs with Python's logging",
}
_CHIP_ONLY_PREFIXES: dict[str, str] = {
    "CONFIG_LWIP_HOOK_": "a C hook choice; lwipy's hooks are stack.hooks / hooks_file",
}
_CHIP_ONLY_SUFFIXES: dict[str, str] = {
    "_DEBUG": "C debug output; lwipy logs with Python's logging",
    "_DEBUG_ON": "C debug output; lwipy logs with Python's logging",
}


def chip_only_note(symbol: str) -> str | None:
    """Why a CONFIG_LWIP_* symbol means nothing off the chip, or None when it is not such a symbol."""
    if symbol in CHIP_ONLY:
        return CHIP_ONLY[symbol]
    if symbol in _BY_KEY:
        return None
    for prefix, note in _CHIP_ONLY_PREFIXES.items():
        if symbol.startswith(prefix):
            return note
    for suffix, note in _CHIP_ONLY_SUFFIXES.items():
        if symbol.endswith(suffix) and symbol.startswith("CONFIG_LWIP_"):
            return note
    return None


@dataclass(frozen=True)
class SdkconfigResult:
    """What :meth:`Config.read_sdkconfig` made of a file."""

    #: the Config: every symbol the file sets, ESP-IDF's defaults for the others
    config: Config
    #: option name -> (symbol, value, line number) of each option the file set
    applied: dict[str, tuple[str, Any, int]]
    #: chip-only CONFIG_LWIP_* symbol -> why lwipy ignores it
    ignored: dict[str, str]
    #: symbol -> why lwipy accepts it and does nothing with it (options with ``no_effect``)
    no_effect: dict[str, str]
    #: CONFIG_LWIP_* symbols lwipy does not know (a warning; strict: an error)
    unknown: list[str]
    #: symbols of other components (CONFIG_ESP_WIFI_*, CONFIG_FREERTOS_*...), not lwIP's: skipped
    other: list[str]


class SdkconfigWarning(UserWarning):
    """An sdkconfig sets CONFIG_LWIP_* symbols lwipy does not know."""


_LINE = re.compile(r"(CONFIG_[A-Za-z0-9_]+)\s*=\s*(.*?)\s*")
_NOT_SET = re.compile(r"#\s*(CONFIG_[A-Za-z0-9_]+)\s+is not set\s*")
_DECIMAL = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _lwip_symbol(symbol: str) -> bool:
    return symbol.startswith("CONFIG_LWIP_") or symbol.startswith("CONFIG_LWIPY_")


def _parse_sdk_value(f: dataclasses.Field, symbol: str, raw: str, lineno: int) -> Any:
    kind = _kind(f)

    def bad(why: str) -> ConfigError:
        return ConfigError(f"line {lineno}: {symbol}={raw} {why}; {symbol} ({f.name}) takes {_allowed(f)}")

    if raw == "":
        raise bad("has an empty value")
    if kind == "bool":
        if raw not in ("y", "n"):
            raise bad("is not a bool")
        return raw == "y"
    if kind == "str":
        m = _STRING.fullmatch(raw)
        if m is None:
            raise bad("is not a double-quoted string")
        text = re.sub(r"\\(.)", r"\1", m.group(1))
        return text if text or f.default is not None and "None" not in str(f.type) else None
    if kind == "int":
        if _DECIMAL.fullmatch(raw):
            value: Any = int(raw)
        elif _HEX.fullmatch(raw):
            value = int(raw, 16)
        else:
            raise bad("is not a whole number")
    else:
        if not _FLOAT.fullmatch(raw):
            raise bad("is not a number")
        value = float(raw)
    lo, hi = f.metadata["range"]
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad("is out of range")
    return value


def _read_sdkconfig(cls: type, path_or_text: Any, strict: bool) -> SdkconfigResult:
    if isinstance(path_or_text, os.PathLike) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                                   and "=" not in path_or_text and not path_or_text.startswith("#")
                                                   and path_or_text.strip()):
        with open(path_or_text, encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = str(path_or_text)
    options: dict[str, Any] = {}
    applied: dict[str, tuple[str, Any, int]] = {}
    ignored: dict[str, str] = {}
    no_effect: dict[str, str] = {}
    unknown: list[tuple[str, int]] = []
    other: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        m = _NOT_SET.fullmatch(stripped)
        if m is not None:
            symbol, raw = m.group(1), None
        elif stripped.startswith("#"):
            continue  # a comment (menuconfig's headings)
        else:
            m = _LINE.fullmatch(stripped)
            if m is None:
                raise ConfigError(f"line {lineno}: {stripped!r} is not an sdkconfig line (CONFIG_NAME=value or "
                                  f"# CONFIG_NAME is not set)")
            symbol, raw = m.group(1), m.group(2)
        f = _BY_KEY.get(symbol)
        if f is None:
            if not _lwip_symbol(symbol):
                other.append(symbol)
            elif (note := chip_only_note(symbol)) is not None:
                ignored[symbol] = note
            else:
                unknown.append((symbol, lineno))
            continue
        if raw is None:
            if _kind(f) != "bool":
                raise ConfigError(f"line {lineno}: '# {symbol} is not set' is only for a bool; {symbol} ({f.name}) "
                                  f"takes {_allowed(f)}")
            value: Any = False
        else:
            value = _parse_sdk_value(f, symbol, raw, lineno)
        options[f.name] = value
        applied[f.name] = (symbol, value, lineno)
        if f.metadata["no_effect"]:
            no_effect[symbol] = f.metadata["no_effect"]
    if unknown:
        listing = ", ".join(f"{s} (line {n})" for s, n in unknown)
        if strict:
            raise ConfigError(f"unknown CONFIG_LWIP_* symbols: {listing}")
        warnings.warn(f"lwipy does not know these CONFIG_LWIP_* symbols and ignores them: {listing}",
                      SdkconfigWarning, stacklevel=3)
    try:
        config = cls.from_options(options)
    except ConfigError as e:  # a combination Kconfig would not allow (a window above 65535 without scaling...)
        lines = ", ".join(f"{applied[n][0]} (line {applied[n][2]})" for n in applied)
        raise ConfigError(f"{e} [from {lines}]") from None
    return SdkconfigResult(config, applied, ignored, no_effect, [s for s, _ in unknown], other)


def sdkconfig_line(f: "dataclasses.Field | str", value: Any) -> str:
    """One sdkconfig line for an option (a field or its name) and value, as menuconfig writes it."""
    if isinstance(f, str):
        f = Config.field_for(f)
    key = sdkconfig_key(f)
    kind = _kind(f)
    if kind == "bool":
        return f"{key}=y" if value else f"# {key} is not set"
    if kind == "str":
        text = "" if value is None else str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'{key}="{text}"'
    if kind == "float" and float(value).is_integer():
        return f"{key}={int(value)}"
    return f"{key}={value}"
