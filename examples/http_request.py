#!/usr/bin/env python3
"""ESP-IDF's protocols/http_request for lwipy: an HTTP/1.0 GET over a plain socket, the response read until the
server closes (SO_RCVTIMEO 5 s).  lwipy has no DNS client yet, so the server is given by address.

    python3 examples/http_request.py                      # on the virtual network: the peer serves a page
    python3 examples/http_request.py --tap tap0 --ip 10.0.0.2/24 --gw 10.0.0.1 --port 8000   # as root
"""

from __future__ import annotations

import struct

from common import log, network, parser

TAG = "example"


def http_get_task(api, server: str, port: int, path: str) -> bytes:
    res = api.getaddrinfo(server, port, api.AF_INET, api.SOCK_STREAM)
    family, kind, proto, _, addr = res[0]
    log(TAG, f"DNS lookup succeeded. IP={addr[0]}")
    s = api.socket(family, kind, proto)
    log(TAG, "... allocated socket")
    s.connect(addr)
    log(TAG, "... connected")
    request = f"GET {path} HTTP/1.0\r\nHost: {server}:{port}\r\nUser-Agent: esp-idf/1.0 esp32\r\n\r\n"
    s.sendall(request.encode())
    log(TAG, "... socket send success")
    s.setsockopt(api.SOL_SOCKET, api.SO_RCVTIMEO, struct.pack("ll", 5, 0))
    log(TAG, "... set socket receiving timeout success")
    response = bytearray()
    while chunk := s.recv(64):
        response += chunk
    log(TAG, f"... done reading from socket. Last read return=0 errno=0 ({len(response)} bytes)")
    s.close()
    print(response.decode(errors="replace"), flush=True)
    return bytes(response)


PAGE = b"<html><body><h1>Hello from the peer</h1></body></html>\n"


def web_server(port: int):
    """The counterpart: a one-page HTTP/1.0 server for one request."""
    def serve(api, ready) -> None:
        srv = api.create_server(("", port))
        ready()
        conn, _ = srv.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(1024)
            if not chunk:
                break
            request += chunk
        line = request.split(b"\r\n", 1)[0].decode(errors="replace")
        print(f"peer: {line}", flush=True)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(PAGE) + PAGE)
        conn.close()
        srv.close()
    return serve


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=80, help="the web server's port")
    p.add_argument("--path", default="/", help="the path to GET")
    args = p.parse_args()
    with network(args) as net:
        net.counterpart(web_server(args.port), serves=True)
        response = http_get_task(net.api, net.peer_ip, args.port, args.path)
        if not response.startswith(b"HTTP/1."):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
