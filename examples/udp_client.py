#!/usr/bin/env python3
"""ESP-IDF's protocols/sockets/udp_client for lwipy: send "Message from ESP32 " to port 3333, wait up to 10 s for a
reply (SO_RCVTIMEO).

    python3 examples/udp_client.py                        # on the virtual network: the peer echoes
    python3 examples/udp_client.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1   # as root; first: nc -u -l 10.0.0.1 3333
"""

from __future__ import annotations

import struct
import time

from common import log, network, parser

TAG = "example"
PORT = 3333
PAYLOAD = b"Message from ESP32 "


def udp_client_task(api, host_ip: str, count: int) -> None:
    sock = api.socket(api.AF_INET, api.SOCK_DGRAM, api.IPPROTO_IP)
    sock.setsockopt(api.SOL_SOCKET, api.SO_RCVTIMEO, struct.pack("ll", 10, 0))  # struct timeval, 10 s
    log(TAG, f"Socket created, sending to {host_ip}:{PORT}")
    received = 0
    for _ in range(count):
        sock.sendto(PAYLOAD, (host_ip, PORT))
        log(TAG, "Message sent")
        try:
            rx, (addr, _) = sock.recvfrom(128)
        except BlockingIOError:
            log(TAG, "recvfrom timed out (errno EAGAIN)")
            continue
        received += 1
        log(TAG, f"Received {len(rx)} bytes from {addr}:")
        log(TAG, rx.decode(errors="replace"))
        time.sleep(0.2)
    sock.close()
    if not received:
        raise SystemExit(1)


def echo(api, ready) -> None:
    s = api.socket(api.AF_INET, api.SOCK_DGRAM)
    s.bind(("", PORT))
    ready()
    s.settimeout(10)
    try:
        while True:
            data, addr = s.recvfrom(1500)
            s.sendto(data, addr)
    except (TimeoutError, OSError):
        pass
    finally:
        s.close()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=3, help="messages to send (ESP-IDF's loops forever)")
    args = p.parse_args()
    with network(args) as net:
        net.counterpart(echo, serves=True)
        udp_client_task(net.api, net.peer_ip, args.count)
        if net.peer_api is not None:
            net.peer_api.close_all()  # the echo counterpart's socket: its thread ends


if __name__ == "__main__":
    main()
