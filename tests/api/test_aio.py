"""asyncio on LwipEventLoop: two stacks on a virtual hub, each with its own asyncio loop on its own thread, no patch."""

import asyncio
import os
import socket
import threading

import pytest
from apihelpers import GENEROUS, Worker

from lwipy.api import SocketApi
from lwipy.api.aio import LwipEventLoop, run


@pytest.fixture
def apis(make_net):
    net = make_net(max_sockets=64, max_active_tcp=64, tcp_accept_mbox_size=64)
    a, b = SocketApi(net.la, os_fds=True), SocketApi(net.lb, os_fds=True)
    yield a, b
    a.close_all()
    b.close_all()


def test_tcp_echo_between_two_stacks_each_with_its_own_asyncio_loop(apis):
    a, b = apis
    started = threading.Event()
    stopping: list = []

    async def server_main():
        async def echo(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "", 8000)
        assert server.sockets[0].getsockname() == ("0.0.0.0", 8000)
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        started.set()
        await stop.wait()
        server.close()
        await server.wait_closed()

    async def client_main():
        async def one(i):
            reader, writer = await asyncio.open_connection("10.0.0.2", 8000)
            msg = os.urandom(2000 + 101 * i)
            writer.write(msg)
            writer.write_eof()
            got = await reader.read()
            writer.close()
            await writer.wait_closed()
            return got == msg
        return await asyncio.gather(*(one(i) for i in range(30)))

    server = Worker(lambda: run(server_main(), b))
    assert started.wait(GENEROUS)
    try:
        assert run(client_main(), a) == [True] * 30
    finally:
        loop, stop = stopping[0]
        loop.call_soon_threadsafe(stop.set)
    server.result()
    assert a.sockets() == [] and b.sockets() == []


def test_udp_datagram_endpoints(apis):
    a, b = apis

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            self.transport.sendto(data.upper(), addr)

    async def main():
        loop = asyncio.get_running_loop()
        assert isinstance(loop, LwipEventLoop)
        server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("10.0.0.1", 5353))
        got = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                got.set_result((data, addr))

        client, _ = await loop.create_datagram_endpoint(Client, remote_addr=("10.0.0.1", 5353))
        client.sendto(b"quiet")
        result = await asyncio.wait_for(got, 5)
        client.close()
        server.close()
        return result

    assert run(main(), a) == (b"QUIET", ("10.0.0.1", 5353))
    assert a.sockets() == []


def test_getaddrinfo_is_the_stacks_and_ssl_is_refused(apis):
    a, _ = apis

    async def main():
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("10.0.0.2", 80, type=socket.SOCK_STREAM)
        with pytest.raises(socket.gaierror):
            await asyncio.open_connection("example.com", 80)
        with pytest.raises(ValueError):
            await asyncio.open_connection("10.0.0.2", 80, ssl=True)
        return infos[0][4]

    assert run(main(), a) == ("10.0.0.2", 80)
