#!/usr/bin/env python3
"""ESP-IDF's protocols/sockets/tcp_server for lwipy: a TCP echo server on port 3333 with keepalive.

    python3 examples/tcp_server.py                       # on the virtual network: a peer connects and talks
    python3 examples/tcp_server.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1   # as root; then: nc 10.0.0.2 3333
"""

from __future__ import annotations

import time

from common import PEER_IP, log, network, parser

TAG = "example"
PORT = 3333
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 5, 3


def do_retransmit(sock, api) -> None:
    """Echo what arrives until the client closes (ESP-IDF's do_retransmit)."""
    while True:
        try:
            rx = sock.recv(128)
        except OSError as e:
            log(TAG, f"Error occurred during receiving: errno {e.errno}")
            return
        if not rx:
            log(TAG, "Connection closed")
            return
        log(TAG, f"Received {len(rx)} bytes: {rx.decode(errors='replace')}")
        sock.sendall(rx)


def tcp_server_task(api, clients: int) -> None:
    listen_sock = api.socket(api.AF_INET, api.SOCK_STREAM, api.IPPROTO_IP)
    listen_sock.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
    log(TAG, "Socket created")
    listen_sock.bind(("", PORT))
    log(TAG, f"Socket bound, port {PORT}")
    listen_sock.listen(1)
    served = 0
    while clients == 0 or served < clients:
        log(TAG, "Socket listening")
        sock, (addr, port) = listen_sock.accept()
        sock.setsockopt(api.SOL_SOCKET, api.SO_KEEPALIVE, 1)
        sock.setsockopt(api.IPPROTO_TCP, api.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(api.IPPROTO_TCP, api.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(api.IPPROTO_TCP, api.TCP_KEEPCNT, KEEPALIVE_COUNT)
        log(TAG, f"Socket accepted ip address: {addr}")
        do_retransmit(sock, api)
        sock.shutdown(api.SHUT_RDWR)
        sock.close()
        served += 1
    listen_sock.close()


def counterpart(device_ip: str):
    """What ESP-IDF's README has you do from a PC: connect, send a line, read the echo."""
    def client(api) -> None:
        deadline = time.monotonic() + 30
        while True:  # again until the server, maybe still starting, listens (as you would with nc)
            try:
                s = api.create_connection((device_ip, PORT), timeout=30)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with s:
            s.sendall(b"Hello from the peer")
            echo = s.recv(128)
            print(f"peer ({PEER_IP}): got the echo {echo.decode()!r}", flush=True)
    return client


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=None, help="clients to serve before exiting (0: forever)")
    args = p.parse_args()
    clients = args.clients if args.clients is not None else (0 if args.tap else 1)
    with network(args) as net:
        net.counterpart(counterpart(net.device_ip))
        tcp_server_task(net.api, clients)


if __name__ == "__main__":
    main()
