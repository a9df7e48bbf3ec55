"""Names from application threads: netconn_gethostbyname, SocketApi.getaddrinfo / gethostbyname / gethostbyname_ex
with lwIP's errors as socket.gaierror, and lwipy.patch resolving for urllib and asyncio (a tiny DNS server on the
peer stack, or on the patched stack's own loopback)."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import urllib.request
from ipaddress import IPv4Address, IPv6Address

import pytest
from dnsserver import TinyDns

import lwipy
from lwipy import Config, Stack
from lwipy.api import netconn_gethostbyname
from lwipy.core import dns as d
from lwipy.netif import VirtualHub
from lwipy.wire import dns as w


@pytest.fixture
def dnsnet(make_net):
    net = make_net()
    srv = net.lb.call(lambda: TinyDns(net.b))
    net.lb.call(lambda: (srv.add("www.lwipy.test", w.CNAME, "host.lwipy.test"),
                         srv.add("host.lwipy.test", w.A, "10.0.0.2"),
                         srv.add("host.lwipy.test", w.AAAA, "2001:db8::2"),
                         srv.add("six.lwipy.test", w.AAAA, "2001:db8::6"),
                         srv.nxdomain.add("gone.lwipy.test"), srv.servfail.add("broken.lwipy.test")))
    net.la.call(lambda: net.a.dns_setserver(0, "10.0.0.2"))
    return net, srv


def test_netconn_gethostbyname(dnsnet):
    net, srv = dnsnet
    answer = netconn_gethostbyname(net.la, "www.lwipy.test")
    assert answer.address == IPv4Address("10.0.0.2") and answer.canonical == "host.lwipy.test"
    assert netconn_gethostbyname(net.la, "www.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV6).address == IPv6Address("2001:db8::2")
    with pytest.raises(d.DnsNotFound):
        netconn_gethostbyname(net.la, "gone.lwipy.test", d.LWIP_DNS_ADDRTYPE_IPV4)
    net.la.call(lambda: net.a.hooks.install({"netconn_external_resolve": lambda stack, name, t: "10.9.9.9"}))
    n = len(srv.queries)
    assert netconn_gethostbyname(net.la, "anything.example").address == IPv4Address("10.9.9.9")
    assert len(srv.queries) == n


def test_getaddrinfo_gethostbyname_and_ex(dnsnet):
    net, srv = dnsnet
    api = net.sa
    (fam, kind, proto, canon, addr), = api.getaddrinfo("www.lwipy.test", 80, type=socket.SOCK_STREAM,
                                                       flags=socket.AI_CANONNAME)
    assert (fam, kind, proto, canon, addr) == (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                                               "host.lwipy.test", ("10.0.0.2", 80))
    info = api.getaddrinfo("six.lwipy.test", "http", socket.AF_INET6, socket.SOCK_STREAM)
    assert info == [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("2001:db8::6", 80, 0, 0))]
    assert api.getaddrinfo("six.lwipy.test", 80, 0, socket.SOCK_DGRAM)[0][4] == ("2001:db8::6", 80, 0, 0)
    assert api.gethostbyname("www.lwipy.test") == "10.0.0.2"
    assert api.gethostbyname_ex("www.lwipy.test") == ("host.lwipy.test", ["www.lwipy.test"], ["10.0.0.2"])
    assert api.gethostbyname("10.1.2.3") == "10.1.2.3"
    n = len(srv.queries)
    with pytest.raises(socket.gaierror) as e:
        api.getaddrinfo("www.lwipy.test", 80, flags=socket.AI_NUMERICHOST)
    assert e.value.errno == socket.EAI_NONAME and len(srv.queries) == n
    with pytest.raises(socket.gaierror) as e:
        api.getaddrinfo("gone.lwipy.test", 80)
    assert e.value.errno == socket.EAI_NONAME
    with pytest.raises(socket.gaierror) as e:
        api.gethostbyname("six.lwipy.test")  # no A record: Python's gethostbyname is IPv4 only
    assert e.value.errno == socket.EAI_NONAME
    with pytest.raises(socket.gaierror) as e:
        api.gethostbyname_ex("broken.lwipy.test")
    assert e.value.errno == socket.EAI_FAIL  # lwip_getaddrinfo's answer to a failed resolution


def test_no_server_is_eai_fail_at_once(make_net):
    net = make_net()
    with pytest.raises(socket.gaierror) as e:
        net.sa.getaddrinfo("www.lwipy.test", 80)
    assert e.value.errno == socket.EAI_FAIL


@pytest.fixture
def named_stack():
    """A stack whose own loopback serves DNS: www.lwipy.test is 127.0.0.1."""
    s = Stack(Config(max_sockets=64, max_active_tcp=64), seed=3, name="patched")
    s.add_netif(VirtualHub().port("p"), ip="10.0.0.1/24")
    srv = TinyDns(s)
    srv.add("www.lwipy.test", w.A, "127.0.0.1")
    s.dns_setserver(0, "127.0.0.1")
    return s, srv


def test_patch_urllib_and_asyncio_resolve_names_through_lwipy(named_stack):
    stack, srv = named_stack

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello by name"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with lwipy.patch(stack):
        assert socket.gethostbyname("www.lwipy.test") == "127.0.0.1"
        httpd = http.server.ThreadingHTTPServer(("", 8000), Handler)
        serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        try:
            with urllib.request.urlopen("http://www.lwipy.test:8000/", timeout=10) as r:
                assert r.read() == b"hello by name"

            async def fetch():
                reader, writer = await asyncio.open_connection("www.lwipy.test", 8000)
                writer.write(b"GET / HTTP/1.0\r\nHost: www.lwipy.test\r\n\r\n")
                data = await reader.read()
                writer.close()
                return data
            assert asyncio.run(fetch()).endswith(b"hello by name")
        finally:
            httpd.shutdown()
            serving.join(5)
            httpd.server_close()
    assert any(q.questions[0].name == "www.lwipy.test" for *_, q in srv.queries)
