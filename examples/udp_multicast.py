#!/usr/bin/env python3
"""ESP-IDF's protocols/sockets/udp_multicast for lwipy: join 232.10.11.12, print what the group says, and send to
it whenever select() waits 2 s for nothing.

    python3 examples/udp_multicast.py                     # on the virtual network: the peer is a group member too
    python3 examples/udp_multicast.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1   # as root
"""

from __future__ import annotations

import time

from common import log, network, parser

TAG = "multicast"
MULTICAST_IPV4_ADDR = "232.10.11.12"
UDP_PORT = 3333
MULTICAST_TTL = 1
SENDS = b"Multicast from ESP32"


def create_multicast_ipv4_socket(api, device_ip: str):
    sock = api.socket(api.AF_INET, api.SOCK_DGRAM, api.IPPROTO_IP)
    sock.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
    sock.bind(("", UDP_PORT))
    sock.setsockopt(api.IPPROTO_IP, api.IP_MULTICAST_TTL, MULTICAST_TTL)
    sock.setsockopt(api.IPPROTO_IP, api.IP_MULTICAST_LOOP, 0)
    sock.setsockopt(api.IPPROTO_IP, api.IP_MULTICAST_IF, api.inet_aton(device_ip))
    mreq = api.inet_aton(MULTICAST_IPV4_ADDR) + api.inet_aton(device_ip)
    sock.setsockopt(api.IPPROTO_IP, api.IP_ADD_MEMBERSHIP, mreq)
    log(TAG, f"Configured IPV4 Multicast address {MULTICAST_IPV4_ADDR}")
    return sock


def mcast_example_task(api, device_ip: str, rounds: int, want: int) -> None:
    sock = create_multicast_ipv4_socket(api, device_ip)
    heard = 0
    for _ in range(rounds):
        readable, _, _ = api.select([sock], [], [], 2.0)
        if readable:
            data, (addr, _) = sock.recvfrom(128)
            heard += 1
            log(TAG, f"received {len(data)} bytes from {addr}: {data.decode(errors='replace')}")
            if want and heard >= want:
                break
        else:
            sock.sendto(SENDS, (MULTICAST_IPV4_ADDR, UDP_PORT))
            log(TAG, f"Sending to IPV4 multicast address {MULTICAST_IPV4_ADDR}:{UDP_PORT}...")
    sock.close()
    if want and heard < want:
        raise SystemExit(1)


def member(device_ip: str):
    """The counterpart: another member of the group, which answers what it hears."""
    def run(api, ready) -> None:
        s = api.socket(api.AF_INET, api.SOCK_DGRAM)
        s.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
        s.bind(("", UDP_PORT))
        s.setsockopt(api.IPPROTO_IP, api.IP_ADD_MEMBERSHIP,
                     api.inet_aton(MULTICAST_IPV4_ADDR) + api.inet_aton("0.0.0.0"))
        s.setsockopt(api.IPPROTO_IP, api.IP_MULTICAST_LOOP, 0)
        ready()
        s.settimeout(10)
        try:
            data, addr = s.recvfrom(128)
            print(f"peer: heard {data.decode()!r} from {addr[0]} on the group", flush=True)
            time.sleep(0.1)
            s.sendto(b"Multicast from the peer", (MULTICAST_IPV4_ADDR, UDP_PORT))
        finally:
            s.close()
    return run


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=None, help="select rounds before exiting (0: forever)")
    p.add_argument("--want", type=int, default=None, help="exit once this many datagrams were heard (0: never); "
                   "fail if the rounds end first")
    args = p.parse_args()
    with network(args) as net:
        net.counterpart(member(net.device_ip), serves=True)
        virtual = net.peer_api is not None
        rounds = args.rounds if args.rounds is not None else (5 if virtual else 0)
        want = args.want if args.want is not None else (1 if virtual else 0)
        mcast_example_task(net.api, net.device_ip, rounds or 1 << 62, want)


if __name__ == "__main__":
    main()
