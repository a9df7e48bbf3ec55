"""The sockets API and lwipy.patch against the Linux kernel: lwipy on a TAP in a test-made namespace; unmodified
stdlib programs (http.server, urllib.request, asyncio) on lwipy; curl, python -m http.server and kernel sockets as
the peers."""

import asyncio
import hashlib
import http.server
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import lwipy
from lwipy.api import SocketApi

MANY = dict(max_sockets=256, max_active_tcp=256, tcp_accept_mbox_size=255)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.lwip_config(max_sockets=32, max_active_tcp=64)
def test_http_server_on_lwipy_serves_100_requests_to_curl(lwip, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    body = os.urandom(200_000)
    (site / "blob.bin").write_bytes(body)
    out = tmp_path / "out"
    out.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args):
            pass

    with lwipy.patch(lwip.loop):
        httpd = http.server.ThreadingHTTPServer(("", 8080), Handler)
        serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        try:
            argv = ["curl", "-sS", "--fail", "--max-time", "60"]
            for i in range(100):
                argv += [f"http://{lwip.ip}:8080/blob.bin", "-o", str(out / f"{i}.bin")]
            done = lwip.run(argv, timeout=120)
        finally:
            httpd.shutdown()
            serving.join(5)
            httpd.server_close()
    assert done.returncode == 0, done.stderr
    digests = {sha((out / f"{i}.bin").read_bytes()) for i in range(100)}
    assert digests == {sha(body)}


def test_urllib_on_lwipy_fetches_from_the_kernels_http_server(lwip, tmp_path):
    body = os.urandom(1_000_000)
    (tmp_path / "blob.bin").write_bytes(body)
    server = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-m", "http.server", "8000", "--bind",
                               lwip.kernel_ip, "--directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with lwipy.patch(lwip.loop):
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://{lwip.kernel_ip}:8000/blob.bin", timeout=10) as r:
                        got = r.read()
                        status = r.status
                    break
                except urllib.error.URLError as e:
                    if not isinstance(e.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)  # the server is still starting
    finally:
        server.terminate()
        server.wait(10)
    assert status == 200 and sha(got) == sha(body)


KERNEL_ASYNC_CLIENTS = r"""
import asyncio, hashlib, os, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def client(i):
    reader, writer = await asyncio.open_connection(host, port)
    msg = os.urandom(5000 + 13 * i)
    writer.write(msg)
    await writer.drain()
    writer.write_eof()
    got = await reader.read()
    writer.close()
    return got == msg
async def main():
    return await asyncio.gather(*(client(i) for i in range(n)), return_exceptions=True)
results = asyncio.run(main())
print(sum(r is True for r in results), [repr(r) for r in results if r is not True][:3])
"""


@pytest.mark.lwip_config(**MANY)
def test_asyncio_echo_server_on_lwipy_serves_200_concurrent_kernel_clients(lwip):
    ready = threading.Event()
    stop: list = []
    served = []

    async def serve():
        async def echo(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
            served.append(1)

        server = await asyncio.start_server(echo, lwip.ip, 7070, backlog=255)
        stopping = asyncio.Event()
        stop.append((asyncio.get_running_loop(), stopping))
        ready.set()
        await stopping.wait()
        server.close()
        await server.wait_closed()

    with lwipy.patch(lwip.loop) as api:
        thread = threading.Thread(target=asyncio.run, args=(serve(),))
        thread.start()
        try:
            assert ready.wait(10)
            done = lwip.python(KERNEL_ASYNC_CLIENTS, lwip.ip, "7070", "200", timeout=120)
        finally:
            if stop:
                loop, stopping = stop[0]
                loop.call_soon_threadsafe(stopping.set)
            thread.join(10)
        assert not thread.is_alive()
        assert api.sockets() == []
    ok, failures = done.stdout.split(" ", 1)
    assert int(ok) == 200, failures
    assert len(served) == 200


KERNEL_RECEIVER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 6000))
srv.listen(4)
srv.settimeout(20)
print("ready", flush=True)
for mode in ("graceful", "reset"):
    conn, _ = srv.accept()
    conn.settimeout(20)
    got = b""
    try:
        while chunk := conn.recv(65536):
            got += chunk
        print(mode, len(got), "eof", flush=True)
    except ConnectionResetError:
        print(mode, len(got), "reset", flush=True)
    conn.close()
"""


@pytest.mark.lwip_config(so_linger=True)  # CONFIG_LWIP_SO_LINGER (off in ESP-IDF)
def test_so_linger_close_as_the_kernel_sees_it(lwip):
    """Linger off: the kernel reads everything, then EOF.  Linger on with 0: the kernel gets a reset."""
    receiver = subprocess.Popen(["ip", "netns", "exec", lwip.ns, sys.executable, "-I", "-c", KERNEL_RECEIVER,
                                 lwip.kernel_ip], stdout=subprocess.PIPE, text=True)
    api = SocketApi(lwip.loop)
    try:
        assert receiver.stdout.readline().strip() == "ready"
        s = api.create_connection((lwip.kernel_ip, 6000), timeout=10)
        s.sendall(b"g" * 100_000)
        s.close()
        assert receiver.stdout.readline().split() == ["graceful", "100000", "eof"]
        s = api.create_connection((lwip.kernel_ip, 6000), timeout=10)
        s.setsockopt(api.SOL_SOCKET, api.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(b"r" * 1000)
        pcb = s.netconn.pcb
        lwip.wait_for(lambda: pcb.snd_una == pcb.snd_max, what="the kernel to acknowledge the bytes")  # they reached it
        s.close()
        mode, _, how = receiver.stdout.readline().split()
        assert (mode, how) == ("reset", "reset")
    finally:
        api.close_all()
        receiver.wait(20)
    assert receiver.returncode == 0
