#!/usr/bin/env python3
"""ESP-IDF's protocols/sockets/udp_server for lwipy: echo datagrams on port 3333, telling where each was sent to
(IP_PKTINFO).

    python3 examples/udp_server.py                        # on the virtual network: the peer sends a datagram
    python3 examples/udp_server.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1   # as root; then: nc -u 10.0.0.2 3333
"""

from __future__ import annotations

import struct
import time

from common import log, network, parser

TAG = "example"
PORT = 3333


def udp_server_task(api, datagrams: int) -> None:
    sock = api.socket(api.AF_INET, api.SOCK_DGRAM, api.IPPROTO_IP)
    log(TAG, "Socket created")
    sock.setsockopt(api.IPPROTO_IP, api.IP_PKTINFO, 1)
    sock.bind(("", PORT))
    log(TAG, f"Socket bound, port {PORT}")
    served = 0
    while datagrams == 0 or served < datagrams:
        log(TAG, "Waiting for data")
        rx, ancdata, _, (addr, port) = sock.recvmsg(128, api.CMSG_SPACE(12))
        for level, kind, info in ancdata:
            if (level, kind) == (api.IPPROTO_IP, api.IP_PKTINFO):
                _, _, dst = struct.unpack("=I4s4s", info)
                log(TAG, f"dest ip: {api.inet_ntoa(dst)}")
        log(TAG, f"Received {len(rx)} bytes from {addr}:")
        log(TAG, rx.decode(errors="replace"))
        sock.sendto(rx, (addr, port))
        served += 1
    sock.close()


def counterpart(device_ip: str):
    def client(api) -> None:
        s = api.socket(api.AF_INET, api.SOCK_DGRAM)
        s.settimeout(0.5)
        deadline = time.monotonic() + 30
        while True:  # again until the server, maybe still starting, answers (as you would with nc -u)
            s.sendto(b"Hello over UDP", (device_ip, PORT))
            try:
                echo = s.recv(128)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        print(f"peer: got the echo {echo.decode()!r}", flush=True)
        s.close()
    return client


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--datagrams", type=int, default=None, help="datagrams to echo before exiting (0: forever)")
    args = p.parse_args()
    with network(args, netbuf_recvinfo=True) as net:  # IP_PKTINFO needs CONFIG_LWIP_NETBUF_RECVINFO, as in ESP-IDF
        net.counterpart(counterpart(net.device_ip))
        udp_server_task(net.api, args.datagrams if args.datagrams is not None else (0 if args.tap else 1))


if __name__ == "__main__":
    main()
