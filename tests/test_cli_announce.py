"""``lwipy up --hostname`` helpers: the --mdns-service syntax, and the announcing started on a stack."""

import pytest

from lwipy.cli import build_parser
from lwipy.cli.announce import parse_service, start_announcing
from lwipy.sim import Simulation


def test_parse_service():
    assert parse_service("_http._tcp:80") == ("_http", "_tcp", 80, {})
    assert parse_service("_ipp._tcp:631:rp=printers/x,color") == ("_ipp", "_tcp", 631, {"rp": "printers/x",
                                                                                        "color": None})
    for bad in ("_http:80", "_http._sctp:80", "_http._tcp", "_http._tcp:x"):
        with pytest.raises(ValueError):
            parse_service(bad)


def test_up_parser_keeps_hostname_optional_for_dhcp():
    args = build_parser().parse_args(["up", "--tap", "t0", "--dhcp"])
    assert args.hostname is None and args.mdns_service == []
    args = build_parser().parse_args(["up", "--tap", "t0", "--ip", "10.0.0.2/24", "--hostname", "dev",
                                      "--mdns-service", "_http._tcp:80"])
    assert args.hostname == "dev" and args.mdns_service == ["_http._tcp:80"]


def test_start_announcing_answers_mdns_and_netbios():
    sim = Simulation(seed=1)
    hub = sim.hub()
    a = sim.add_stack("a", hub, ip="10.0.0.1/24")
    b = sim.add_stack("b", hub, ip="10.0.0.2/24")
    text = start_announcing(a, "a-very-long-hostname", ["_http._tcp:80:path=/"])
    assert text == "mDNS a-very-long-hostname.local, _http._tcp:80; NetBIOS A-VERY-LONG-HOS"
    sim.run(5)
    got = []
    b.dns.gethostbyname("a-very-long-hostname.local", lambda ans, err: got.append(ans))
    assert sim.run_until(lambda: got, 5) and str(got[0].address) == "10.0.0.1"
    assert a.apps["mdns"].services[0].txt == {"path": "/"}
