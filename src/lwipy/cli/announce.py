"""``lwipy up --hostname NAME``: the host announces itself as ESP-IDF applications do, ``NAME.local`` over mDNS
(with the ``--mdns-service`` services) and ``NAME`` over NetBIOS (upper-cased, cut to 15 characters)."""

from __future__ import annotations

from typing import Any

__all__ = ["parse_service", "start_announcing"]


def parse_service(text: str) -> tuple[str, str, int, dict[str, str | None]]:
    """``_http._tcp:80[:key=value,key2=value2]`` -> ("_http", "_tcp", 80, {...})."""
    kind, _, rest = text.partition(":")
    service_type, _, proto = kind.rpartition(".")
    port_text, _, txt_text = rest.partition(":")
    if not service_type or proto not in ("_tcp", "_udp") or not port_text.isdigit():
        raise ValueError(f"--mdns-service {text!r}: expected _type._tcp:PORT[:key=value,...]")
    txt: dict[str, str | None] = {}
    for item in filter(None, txt_text.split(",")):
        key, eq, value = item.partition("=")
        txt[key] = value if eq else None
    return service_type, proto, int(port_text), txt


def start_announcing(stack: Any, hostname: str, services: list[str]) -> str:
    """Start the mDNS responder and the NetBIOS name service on ``stack``; a phrase for ``lwipy up``'s banner."""
    from ..apps.mdns import MdnsResponder
    from ..apps.netbiosns import NetbiosNameService

    parsed = [parse_service(s) for s in services]
    mdns = MdnsResponder(stack, hostname, on_renamed=lambda old, new: print(f"mDNS: {old} taken, now {new}",
                                                                             flush=True))
    for service_type, proto, port, txt in parsed:
        mdns.service_add(None, service_type, proto, port, txt)
    netbios = NetbiosNameService(stack, hostname[:15])
    shown = "".join(f", {t}.{p}:{port}" for t, p, port, _ in parsed)
    return f"mDNS {mdns.host_fqdn}{shown}; NetBIOS {netbios.name.decode()}"
