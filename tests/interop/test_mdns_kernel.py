"""lwipy's mDNS responder and NetBIOS name service against the standard tools on the kernel's side of the TAP, all in
the test's namespace: avahi-daemon (with a private D-Bus system bus, so that avahi-resolve and avahi-browse can talk
to it; its own config, /run in a private mount namespace) resolves lwipy's host name, browses its service with the
TXT, defends its own name so that lwipy renames, and drops the service from its cache on lwipy's goodbye;
python-zeroconf resolves lwipy and is resolved by lwipy's resolver and browsed by its querier; nmblookup resolves
lwipy's NetBIOS name and reads its node status; ``lwipy up --hostname`` does the same from the command line. Each
daemon is stopped by its PID."""

from __future__ import annotations

import re
import time
from ipaddress import IPv4Address
from pathlib import Path

import pytest

import interop_netns as nsx
from dhcp_peers import Daemon, need
from test_cli_dhcp_kernel import start, stop
from test_ipv4_kernel import TSHARK_PROBLEMS, tshark

from lwipy.apps.mdns import MdnsResponder
from lwipy.apps.netbiosns import NetbiosNameService
from lwipy.core import dns as d

pytestmark = pytest.mark.interop

DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

AVAHI_CONF = """[server]
host-name={host}
domain-name=local
use-ipv4=yes
use-ipv6={ipv6}
allow-interfaces={ifname}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
[reflector]
[rlimits]
"""


class Avahi:
    """A private D-Bus system bus and avahi-daemon on it, in the namespace; ``tool(...)`` runs avahi-utils there."""

    def __init__(self, lwip, tmp_path: Path, host: str = "kernelside", ipv6: bool = False) -> None:
        need("avahi-daemon", "avahi-daemon")
        need("avahi-resolve", "avahi-utils")
        dbus = need("dbus-daemon", "dbus-daemon")
        self.lwip = lwip
        self.socket = tmp_path / "bus"
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.socket}"}
        (tmp_path / "dbus.conf").write_text(DBUS_CONF.format(socket=self.socket))
        (tmp_path / "avahi.conf").write_text(AVAHI_CONF.format(host=host, ifname=lwip.kernel.ifname,
                                                               ipv6="yes" if ipv6 else "no"))
        self.bus = Daemon(lwip.ns, [dbus, f"--config-file={tmp_path / 'dbus.conf'}", "--nofork", "--nopidfile",
                                    "--print-address"], tmp_path / "dbus.log")
        self.daemon: Daemon | None = None
        try:
            self.bus.wait_log(lambda t: "unix:path=" in t, nsx.GENEROUS, "dbus-daemon to listen")
            # a private /run (its own mount namespace) so that the PID file cannot meet another run's
            self.daemon = Daemon(lwip.ns, ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /run && exec avahi-daemon "
                                           f"--no-drop-root --no-chroot --no-proc-title --no-rlimits -f "
                                           f"{tmp_path / 'avahi.conf'}"], tmp_path / "avahi.log", env=self.env)
            self.daemon.wait_log(lambda t: "Server startup complete" in t, nsx.GENEROUS, "avahi-daemon to start")
        except BaseException:
            self.stop()
            raise

    def tool(self, *argv: str, timeout: float = nsx.GENEROUS):
        return self.lwip.run(["env", *(f"{k}={v}" for k, v in self.env.items()), *argv], timeout=timeout)

    def resolve(self, name: str, family: str = "-4") -> str:
        """avahi-resolve -4 -n's answer for ``name`` (retried: a name being probed is not answered yet)."""
        deadline = time.monotonic() + nsx.GENEROUS
        while True:
            out = self.tool("avahi-resolve", family, "-n", name)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
            if time.monotonic() > deadline:
                raise AssertionError(f"avahi-resolve {name}: {out.stdout} {out.stderr}\n{self.log}")
            time.sleep(0.2)

    @property
    def log(self) -> str:
        return self.daemon.log if self.daemon is not None else ""

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        self.bus.stop()


def responder(lwip, hostname: str, **kw) -> MdnsResponder:
    return lwip.call(lambda: MdnsResponder(lwip.stack, hostname, **kw))


def wait_running(lwip, m: MdnsResponder, service=None) -> None:
    lwip.wait_for(lambda: m.state_of(service) == "running", what="the name probed and announced")


def browse_lines(text: str) -> list[list[str]]:
    return [line.split(";") for line in text.splitlines() if line[:2] in ("+;", "=;", "-;")]


@pytest.mark.lwip_config(mdns_respond_reverse_queries=True)
def test_avahi_resolves_the_host_and_browses_the_service_with_its_txt(lwip, tmp_path):
    avahi = Avahi(lwip, tmp_path)
    try:
        m = responder(lwip, "esp32-lwipy")
        svc = lwip.call(lambda: m.service_add("lwipy web", "_http", "_tcp", 8080, {"board": "esp32", "path": "/"}))
        wait_running(lwip, m, svc)
        assert avahi.resolve("esp32-lwipy.local").split() == ["esp32-lwipy.local", lwip.ip]
        back = avahi.tool("avahi-resolve", "-a", lwip.ip)
        assert back.stdout.split() == [lwip.ip, "esp32-lwipy.local"], back.stdout + back.stderr
        out = avahi.tool("avahi-browse", "-rtpk", "_http._tcp")
        resolved = [f for f in browse_lines(out.stdout) if f[0] == "="]
        assert resolved, out.stdout + out.stderr
        f = resolved[0]
        assert f[2] == "IPv4" and f[3] == "lwipy\\032web" and f[4] == "_http._tcp" and f[6] == "esp32-lwipy.local"
        assert f[7] == lwip.ip and f[8] == "8080" and set(f[9].split()) == {'"board=esp32"', '"path=/"'}
    finally:
        avahi.stop()
    assert lwip.call(lambda: m.counters["malformed"]) == 0
    lwip.stop()
    # Wireshark finds nothing wrong in what lwipy sent and got, and its mDNS dissector sees the probes and answers
    assert tshark(lwip.pcap_path, TSHARK_PROBLEMS) == []
    assert len(tshark(lwip.pcap_path, f'ip.src == {lwip.ip} && mdns && dns.flags.response == 0 && dns.count.auth_rr > 0'
                                      ' && dns.qry.name == "esp32-lwipy.local"')) == 3
    assert tshark(lwip.pcap_path, f'ip.src == {lwip.ip} && mdns && dns.srv.port == 8080 && dns.txt == "board=esp32"')
    assert tshark(lwip.pcap_path, f'ip.src == {lwip.ip} && igmp.maddr == 224.0.0.251')  # the group joined by IGMP
    # every mDNS packet lwipy sent went with IP TTL 255 (RFC 6762 11)
    assert tshark(lwip.pcap_path, f'ip.src == {lwip.ip} && mdns && ip.ttl != 255') == []


def test_avahi_browses_a_subtype_and_resolves_it(lwip, tmp_path):
    avahi = Avahi(lwip, tmp_path)
    try:
        m = responder(lwip, "esp32-sub")
        svc = lwip.call(lambda: m.service_add("lwipy printer", "_http", "_tcp", 631, {"rp": "queue"}))
        lwip.call(lambda: m.service_subtype_add("_http", "_tcp", "_printer"))
        wait_running(lwip, m, svc)
        out = avahi.tool("avahi-browse", "-rtpk", "_printer._sub._http._tcp")
        resolved = [f for f in browse_lines(out.stdout) if f[0] == "="]
        assert resolved, out.stdout + out.stderr + avahi.log
        f = resolved[0]
        assert f[3] == "lwipy\\032printer" and f[4] == "_http._tcp" and f[6] == "esp32-sub.local"
        assert f[7] == lwip.ip and f[8] == "631" and f[9] == '"rp=queue"'
        # a subtype nobody published finds nothing
        none = avahi.tool("avahi-browse", "-rtpk", "_scanner._sub._http._tcp")
        assert [f for f in browse_lines(none.stdout) if f[0] in "+="] == []
    finally:
        avahi.stop()


@pytest.mark.lwip_config(mdns_max_services=24)
def test_avahi_browses_24_services_answered_in_several_packets(lwip, tmp_path):
    avahi = Avahi(lwip, tmp_path)
    try:
        m = responder(lwip, "esp32-many")
        names = [f"lwipy service {i:02d} with a long instance name to fill packets" for i in range(24)]
        svcs = lwip.call(lambda: [m.service_add(n, "_http", "_tcp", 9000 + i, {"k": "v" * 40})
                                  for i, n in enumerate(names)])
        lwip.wait_for(lambda: all(m.state_of(s) == "running" for s in svcs), what="24 services announced")
        out = avahi.tool("avahi-browse", "-rtpk", "_http._tcp")
        resolved = {f[3].replace("\\032", " "): f[8] for f in browse_lines(out.stdout) if f[0] == "="}
        assert resolved == {n: str(9000 + i) for i, n in enumerate(names)}, out.stdout + out.stderr
    finally:
        avahi.stop()
    lwip.stop()
    # no lwipy mDNS packet went fragmented, and several of its responses carried the browse's answers
    assert tshark(lwip.pcap_path, f"ip.src == {lwip.ip} && (ip.flags.mf == 1 || ip.frag_offset > 0)") == []
    assert tshark(lwip.pcap_path, f"ip.src == {lwip.ip} && frame.len > 1514") == []


@pytest.mark.ipv6
def test_avahi_resolves_the_host_over_ipv6(lwip, tmp_path):
    lwip.call(lambda: lwip.netif.create_ip6_linklocal())
    lwip.wait_for(lambda: all(a.usable for a in lwip.netif.ip6_addrs), what="the link-local address past DAD")
    link_local = lwip.call(lambda: str(lwip.netif.ip6_addrs[0].address))
    avahi = Avahi(lwip, tmp_path, ipv6=True)
    try:
        m = responder(lwip, "six-lwipy")
        wait_running(lwip, m)
        assert avahi.resolve("six-lwipy.local", "-6").split() == ["six-lwipy.local", link_local]
    finally:
        avahi.stop()
    lwip.stop()
    assert tshark(lwip.pcap_path, 'ipv6.dst == ff02::fb && mdns && dns.flags.response == 1 && dns.aaaa == '
                                  f'{link_local}')
    # ff02::fb joined through MLD (a v2 report's record, or a v1 report sent to the group)
    assert tshark(lwip.pcap_path, 'icmpv6.mldr.mar.multicast_address == ff02::fb'
                                  ' || (icmpv6.type == 131 && ipv6.dst == ff02::fb)')


def test_a_name_avahi_holds_makes_lwipy_rename(lwip, tmp_path):
    avahi = Avahi(lwip, tmp_path, host="taken")
    try:
        renamed = []
        m = responder(lwip, "taken", on_renamed=lambda old, new: renamed.append((old, new)))
        lwip.wait_for(lambda: m.hostname == "taken-2" and m.state_of() == "running", what="lwipy to rename")
        assert renamed == [("taken", "taken-2")]
        assert avahi.resolve("taken-2.local").split() == ["taken-2.local", lwip.ip]
        assert avahi.resolve("taken.local").split() == ["taken.local", lwip.kernel_ip]
        assert "conflict" not in avahi.log.lower()  # avahi kept its name: lwipy gave way
    finally:
        avahi.stop()


def test_goodbye_removes_the_service_from_avahis_cache(lwip, tmp_path):
    avahi = Avahi(lwip, tmp_path)
    browse = None
    try:
        m = responder(lwip, "byehost")
        svc = lwip.call(lambda: m.service_add("going", "_http", "_tcp", 80))
        wait_running(lwip, m, svc)
        browse = Daemon(lwip.ns, ["avahi-browse", "-pk", "_http._tcp"], tmp_path / "browse.log", env=avahi.env)
        browse.wait_log(lambda t: any(f[0] == "+" and f[3] == "going" for f in browse_lines(t)), nsx.GENEROUS,
                        "avahi-browse to see the service")
        lwip.call(lambda: m.service_remove("_http", "_tcp"))
        text = browse.wait_log(lambda t: any(f[0] == "-" and f[3] == "going" for f in browse_lines(t)), nsx.GENEROUS,
                               "avahi-browse to see the service go")
        assert [f[0] for f in browse_lines(text) if f[3] == "going"] == ["+", "-"]
        # and the host's goodbye on stop: avahi no longer resolves the name from its cache
        # (RFC 6762 10.1: a goodbye leaves the record one more second; without it avahi would answer from its cache
        # for the record's 120 s)
        lwip.call(m.stop)
        deadline = time.monotonic() + nsx.GENEROUS
        while (out := avahi.tool("avahi-resolve", "-4", "-n", "byehost.local")).stdout.strip():
            assert time.monotonic() < deadline, f"avahi still resolves byehost.local: {out.stdout}"
            time.sleep(0.5)
        assert "Failed to resolve host name" in out.stderr, out.stderr
    finally:
        if browse is not None:
            browse.stop()
        avahi.stop()


ZEROCONF_PEER = r"""
import sys, socket
from zeroconf import Zeroconf, ServiceInfo, IPVersion
zc = Zeroconf(interfaces=[sys.argv[1]], ip_version=IPVersion.V4Only)
try:
    info = zc.get_service_info("_http._tcp.local.", "zc test._http._tcp.local.", timeout=10000)
    assert info is not None, "no service info"
    print("service", info.server, info.port, sorted(info.parsed_addresses()), sorted(info.properties.items()))
    from zeroconf import ServiceBrowser
    mine = ServiceInfo("_http._tcp.local.", "kernel peer._http._tcp.local.", port=9, addresses=[socket.inet_aton(sys.argv[1])],
                       server="zcpeer.local.")
    zc.register_service(mine)
    print("registered", flush=True)
    sys.stdin.readline()
    zc.unregister_service(mine)
finally:
    zc.close()
"""


def test_python_zeroconf_resolves_lwipy_and_lwipys_resolver_finds_zeroconf(lwip, tmp_path):
    import subprocess
    import sys
    m = responder(lwip, "zchost")
    svc = lwip.call(lambda: m.service_add("zc test", "_http", "_tcp", 81, {"k": "v"}))
    wait_running(lwip, m, svc)
    proc = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-I", "-c", ZEROCONF_PEER, lwip.kernel_ip],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[0].split(" ", 3)[:3] == ["service", "zchost.local.", "81"], lines + [proc.stderr.read()]
        assert f"['{lwip.ip}']" in lines[0] and "(b'k', b'v')" in lines[0]
        assert lines[1].strip() == "registered"
        got = []
        lwip.call(lambda: lwip.stack.dns.gethostbyname("zcpeer.local", lambda a, e: got.append((a, e)),
                                                        d.LWIP_DNS_ADDRTYPE_IPV4))
        lwip.wait_for(lambda: bool(got), what="lwipy's resolver")
        assert got[0][1] is None and got[0][0].address == IPv4Address(lwip.kernel_ip) and got[0][0].source == "mdns"
        # and lwipy's querier (mdns_query_ptr) browses zeroconf's service
        found = []
        lwip.call(lambda: m.query_ptr("_http", "_tcp", timeout=3, on_done=found.append))
        lwip.wait_for(lambda: bool(found), what="the browse to end")
        peers = {r.instance_name: (r.hostname, r.port, r.addr) for r in found[0]}
        assert peers.get("kernel peer") == ("zcpeer", 9, [IPv4Address(lwip.kernel_ip)]), peers
    finally:
        proc.stdin.close()
        try:
            proc.wait(nsx.GENEROUS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def smb_conf(tmp_path: Path, lwip) -> Path:
    conf = tmp_path / "smb.conf"
    conf.write_text(f"[global]\ninterfaces = {lwip.kernel.ifname}\nbind interfaces only = yes\n"
                    f"lock directory = {tmp_path}\nstate directory = {tmp_path}\ncache directory = {tmp_path}\n"
                    f"private dir = {tmp_path}\nlog file = {tmp_path / 'samba.log'}\n")
    return conf


@pytest.mark.lwip_config(netbios_respond_name_query=True)
def test_nmblookup_resolves_the_netbios_name_and_reads_the_node_status(lwip, tmp_path):
    need("nmblookup", "samba-common-bin")
    ns = lwip.call(lambda: NetbiosNameService(lwip.stack, "esp32-nb"))
    conf = smb_conf(tmp_path, lwip)
    out = lwip.run(["nmblookup", "-s", str(conf), "-B", "10.77.0.255", "esp32-nb"], timeout=nsx.GENEROUS)
    assert f"{lwip.ip} esp32-nb<00>" in out.stdout, out.stdout + out.stderr
    out = lwip.run(["nmblookup", "-s", str(conf), "-A", lwip.ip], timeout=nsx.GENEROUS)
    assert re.search(r"ESP32-NB\s+<00> -\s+B <ACTIVE>", out.stdout), out.stdout + out.stderr
    assert lwip.mac.replace(":", "-").upper() in out.stdout.upper()
    out = lwip.run(["nmblookup", "-s", str(conf), "-B", "10.77.0.255", "someoneelse"], timeout=nsx.GENEROUS)
    assert "failed to find name someoneelse" in out.stdout + out.stderr
    counters = lwip.call(lambda: dict(ns.counters))
    assert counters["answered"] >= 1 and counters["status_answered"] >= 1 and counters["ignored"] >= 1


def test_cli_up_hostname_announces_over_mdns_and_netbios(kernel_tap, tmp_path):
    need("nmblookup", "samba-common-bin")
    proc = start("up", "--tap", kernel_tap.ifname, "--netns", kernel_tap.ns, "--ip", "10.77.0.2/24",
                 "--hostname", "cli-lwipy", "--mdns-service", "_http._tcp:80:path=/")
    try:
        assert "mDNS cli-lwipy.local, _http._tcp:80; NetBIOS CLI-LWIPY" in proc.banner
        script = ("import sys\nfrom zeroconf import Zeroconf, IPVersion\n"
                  "zc = Zeroconf(interfaces=[sys.argv[1]], ip_version=IPVersion.V4Only)\n"
                  "info = zc.get_service_info('_http._tcp.local.', 'cli-lwipy._http._tcp.local.', timeout=15000)\n"
                  "print(info.server, info.parsed_addresses(), info.properties)\nzc.close()\n")
        out = nsx.ns_python(kernel_tap.ns, script, "10.77.0.1", timeout=nsx.GENEROUS, check=False)
        assert out.stdout.split(" ", 1)[0] == "cli-lwipy.local." and "'10.77.0.2'" in out.stdout \
            and "b'path': b'/'" in out.stdout, out.stdout + out.stderr
        conf = tmp_path / "smb.conf"
        conf.write_text(f"[global]\ninterfaces = {kernel_tap.ifname}\nlock directory = {tmp_path}\n"
                        f"state directory = {tmp_path}\ncache directory = {tmp_path}\nprivate dir = {tmp_path}\n")
        nb = nsx.ns_run(kernel_tap.ns, ["nmblookup", "-s", str(conf), "-B", "10.77.0.255", "cli-lwipy"],
                        timeout=nsx.GENEROUS)
        assert "10.77.0.2 cli-lwipy<00>" in nb.stdout, nb.stdout + nb.stderr
    finally:
        stop(proc)
