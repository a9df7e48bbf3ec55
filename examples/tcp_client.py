#!/usr/bin/env python3
"""ESP-IDF's protocols/sockets/tcp_client for lwipy: send "Message from ESP32 " to a server on port 3333, print the
reply.

    python3 examples/tcp_client.py                        # on the virtual network: the peer runs an echo server
    python3 examples/tcp_client.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1   # as root; first: nc -l 10.0.0.1 3333
"""

from __future__ import annotations

import time

from common import log, network, parser

TAG = "example"
PORT = 3333
PAYLOAD = b"Message from ESP32 "


def tcp_client_task(api, host_ip: str, count: int) -> None:
    sock = api.socket(api.AF_INET, api.SOCK_STREAM, api.IPPROTO_IP)
    log(TAG, f"Socket created, connecting to {host_ip}:{PORT}")
    try:
        sock.connect((host_ip, PORT))
    except OSError as e:
        log(TAG, f"Socket unable to connect: errno {e.errno}")
        sock.close()
        raise SystemExit(1) from None
    log(TAG, "Successfully connected")
    for _ in range(count):
        sock.sendall(PAYLOAD)
        rx = sock.recv(128)
        if not rx:
            log(TAG, "the server closed the connection")
            break
        log(TAG, f"Received {len(rx)} bytes from {host_ip}:")
        log(TAG, rx.decode(errors="replace"))
        time.sleep(0.2)
    log(TAG, "Shutting down socket and restarting...")
    sock.shutdown(api.SHUT_RDWR)
    sock.close()


def echo_server(api, ready) -> None:
    """The counterpart: an echo server on the peer."""
    srv = api.create_server(("", PORT))
    ready()
    conn, _ = srv.accept()
    while data := conn.recv(1024):
        conn.sendall(data)
    conn.close()
    srv.close()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=3, help="messages to send (ESP-IDF's loops forever)")
    args = p.parse_args()
    with network(args) as net:
        net.counterpart(echo_server, serves=True)
        tcp_client_task(net.api, net.peer_ip, args.count)


if __name__ == "__main__":
    main()
