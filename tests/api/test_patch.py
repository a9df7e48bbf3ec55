"""lwipy.patch: unmodified stdlib and asyncio programs over one lwipy stack (its loopback netif), in this process."""

import asyncio
import hashlib
import http.server
import os
import select
import selectors
import socket
import socketserver
import threading
import urllib.request

import pytest
from apihelpers import GENEROUS, Worker

import lwipy
from lwipy import Config, Stack
from lwipy.api import LwipSelector, SocketApi, StackLoop
from lwipy.netif import VirtualHub

ORIGINAL = (socket.socket, socket.getaddrinfo, socket.socketpair, selectors.DefaultSelector, select.select,
            socketserver._ServerSelector)


@pytest.fixture
def stack():
    s = Stack(Config(max_sockets=300, max_active_tcp=300, tcp_accept_mbox_size=255), seed=3, name="patched")
    s.add_netif(VirtualHub().port("p"), ip="10.0.0.1/24")
    return s


def test_patch_swaps_the_socket_module_and_puts_everything_back(stack):
    with lwipy.patch(stack) as api:
        s = socket.socket()
        assert isinstance(s, socket.socket) and type(s) is api.socket_class
        assert s.fileno() > 2 and api.is_socket(s.fileno())  # an OS descriptor reserved for it
        a, b = socket.socketpair()  # still OS sockets: asyncio wakes its loop through one
        assert not api.is_socket(a.fileno())
        a.close()
        b.close()
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("example.com", 80)
        assert socket.getfqdn("10.0.0.1") == "10.0.0.1"
        # s is left open on purpose: the patch closes what is still open
    assert s.fileno() == -1
    assert (socket.socket, socket.getaddrinfo, socket.socketpair, selectors.DefaultSelector, select.select,
            socketserver._ServerSelector) == ORIGINAL


def test_http_server_serves_urllib_unmodified(stack, tmp_path):
    body = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(body)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    with lwipy.patch(stack):
        httpd = http.server.ThreadingHTTPServer(("", 8080), Handler)
        serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        try:
            for _ in range(5):
                with urllib.request.urlopen("http://127.0.0.1:8080/blob.bin", timeout=GENEROUS) as r:
                    assert r.status == 200
                    assert hashlib.sha256(r.read()).digest() == hashlib.sha256(body).digest()
        finally:
            httpd.shutdown()
            serving.join(GENEROUS)
            httpd.server_close()


def test_asyncio_echo_server_and_clients_unmodified(stack):
    async def main():
        async def echo(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 9000)

        async def client(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", 9000)
            msg = os.urandom(1000 + i * 37)
            writer.write(msg)
            await writer.drain()
            writer.write_eof()
            got = await reader.read()
            writer.close()
            await writer.wait_closed()
            return got == msg

        results = await asyncio.gather(*(client(i) for i in range(50)))
        server.close()
        await server.wait_closed()
        return results

    with lwipy.patch(stack) as api:
        assert asyncio.run(main()) == [True] * 50
        assert api.sockets() == []


def test_socketserver_threading_tcp_server(stack):
    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline().upper())

    with lwipy.patch(stack):
        with socketserver.ThreadingTCPServer(("127.0.0.1", 7007), Echo) as server:
            serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
            serving.start()
            try:
                with socket.create_connection(("127.0.0.1", 7007), timeout=GENEROUS) as c:
                    c.sendall(b"shout\n")
                    assert c.makefile("rb").readline() == b"SHOUT\n"
            finally:
                server.shutdown()
                serving.join(GENEROUS)


def test_selector_waits_on_lwipy_sockets_and_os_descriptors_together(stack):
    loop = StackLoop(stack).start()
    try:
        api = SocketApi(loop, os_fds=True)
        srv = api.socket()
        srv.bind(("127.0.0.1", 5555))
        srv.listen()
        r, w = os.pipe()
        with LwipSelector(api) as sel:
            sel.register(srv, selectors.EVENT_READ, "lwipy")
            sel.register(r, selectors.EVENT_READ, "pipe")
            assert sel.select(0.05) == []
            waiting = Worker(lambda: sel.select(5))
            c = api.create_connection(("127.0.0.1", 5555))  # an lwipy event wakes a selector asleep in the OS
            assert [(k.data, e) for k, e in waiting.result()] == [("lwipy", selectors.EVENT_READ)]
            srv.accept()[0].close()
            os.write(w, b"x")
            assert [(k.data, e) for k, e in sel.select(5)] == [("pipe", selectors.EVENT_READ)]
            os.read(r, 1)
            sel.modify(srv, selectors.EVENT_READ | selectors.EVENT_WRITE, "both")
            assert sel.get_key(srv).data == "both"
            sel.unregister(srv)
            assert sel.select(0) == []
        mixed = lwipy.api.selector.hybrid_select(api)
        os.write(w, b"y")
        assert mixed([r, c], [c], [], 1) == ([r, c], [c], [])  # c: the peer closed (EOF to read)
        os.close(r)
        os.close(w)
        c.close()
        srv.close()
        with pytest.raises(ValueError):
            LwipSelector(SocketApi(loop))  # socket numbers that are not OS descriptors
    finally:
        loop.stop()
        loop.close()
