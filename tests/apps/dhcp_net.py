"""Shared pieces of the DHCP tests: a simulated segment, a scripted DHCP server whose answers a test decides, and the
DHCP messages a stack sent (with their times)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Callable

from lwipy import Config
from lwipy.errors import Malformed
from lwipy.sim import Simulation
from lwipy.wire import dhcp as w
from lwipy.wire.dhcp import DhcpMessage
from lwipy.wire.ethernet import ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetHeader
from lwipy.wire.ipv4 import Ipv4Header
from lwipy.wire.udp import UdpHeader

IP = IPv4Address


@dataclass
class Seen:
    """A DHCP message on the wire: when, from which MAC, to which IP, and the message."""

    t: float
    src_mac: bytes
    src: IPv4Address
    dst: IPv4Address
    dport: int
    msg: DhcpMessage
    #: the UDP payload's length
    size: int = 0

    @property
    def type(self) -> int | None:
        return self.msg.message_type


class Net:
    """A hub with a frame log; ``dhcp()`` lists the DHCP messages seen, ``arp()`` the ARP packets."""

    def __init__(self, seed: int = 5) -> None:
        self.sim = Simulation(seed=seed)
        self.hub = self.sim.hub()
        self.frames: list[tuple[float, bytes]] = []
        self.hub.taps.append(lambda port, frame: self.frames.append((self.sim.now, bytes(frame))))

    def stack(self, name: str, config: Config | None = None, **netif: Any):
        stack = self.sim.add_stack(name, self.hub, config, **netif)
        return stack, stack.netif_by_name("en0")

    def dhcp(self, types: tuple[int, ...] | None = None, from_mac: bytes | None = None) -> list[Seen]:
        out = []
        for t, frame in self.frames:
            eth, payload = EthernetHeader.parse(frame)
            if eth.ethertype != ETHERTYPE_IPV4 or (from_mac is not None and eth.src != from_mac):
                continue
            ip, data = Ipv4Header.parse(payload)
            if ip.proto != 17:
                continue
            udp, body = UdpHeader.parse(data)
            if udp.dst_port not in (67, 68):
                continue
            try:
                msg = DhcpMessage.parse(body)
            except Malformed:
                continue
            if types is None or msg.message_type in types:
                out.append(Seen(t, eth.src, IP(ip.src), IP(ip.dst), udp.dst_port, msg, len(body)))
        return out

    def arp(self) -> list[tuple[float, bytes]]:
        from lwipy.wire.arp import ArpPacket
        out = []
        for t, frame in self.frames:
            eth, payload = EthernetHeader.parse(frame)
            if eth.ethertype == ETHERTYPE_ARP:
                out.append((t, ArpPacket.parse(payload)))
        return out


class ScriptedServer:
    """A DHCP server on a plain lwipy stack whose answers a test sets: ``lease``/``t1``/``t2`` seconds (None: left
    out), ``mode`` "answer", "silent" or "nak", ``extra`` options for every reply, ``offer_ip`` the address."""

    def __init__(self, net: Net, name: str = "server", ip: str = "10.0.0.1/24", offer_ip: str = "10.0.0.50",
                 lease: int | None = 600, t1: int | None = None, t2: int | None = None) -> None:
        self.stack, self.netif = net.stack(name, ip=ip)
        self.ip = self.netif.ip4.ip
        self.offer_ip = IP(offer_ip)
        self.lease, self.t1, self.t2 = lease, t1, t2
        self.mode = "answer"
        self.extra: list[tuple[int, bytes]] = []
        self.dns = [IP("10.0.0.53"), IP("10.0.0.54"), IP("10.0.0.55")]
        self.got: list[DhcpMessage] = []
        self.on_request: Callable[[DhcpMessage], str] | None = None
        pcb = self.stack.udp.new()
        pcb.bind(None, 67)
        pcb.on_recv = self._recv
        self.pcb = pcb

    def _recv(self, pcb, dgram) -> None:
        msg = DhcpMessage.parse(dgram.data)
        self.got.append(msg)
        if self.mode == "silent":
            return
        mtype = msg.message_type
        if mtype == w.DISCOVER:
            self._reply(msg, w.OFFER)
        elif mtype == w.REQUEST:
            server = msg.get(w.SERVER_ID)
            if server is not None and IP(server) != self.ip:
                return
            mode = self.on_request(msg) if self.on_request else self.mode
            self._reply(msg, w.NAK if mode == "nak" else w.ACK)
        elif mtype == w.INFORM:
            self._reply(msg, w.ACK, inform=True)

    def _reply(self, req: DhcpMessage, mtype: int, inform: bool = False) -> None:
        out = DhcpMessage(op=w.BOOTREPLY, xid=req.xid, chaddr=req.chaddr)
        out.add(w.MESSAGE_TYPE, mtype).add(w.SERVER_ID, self.ip)
        if mtype != w.NAK:
            if not inform:
                out.yiaddr = self.offer_ip
                if self.lease is not None:
                    out.add(w.LEASE_TIME, self.lease.to_bytes(4, "big"))
                if self.t1 is not None:
                    out.add(w.T1, self.t1.to_bytes(4, "big"))
                if self.t2 is not None:
                    out.add(w.T2, self.t2.to_bytes(4, "big"))
            out.add(w.SUBNET_MASK, IP("255.255.255.0")).add(w.ROUTER, self.ip).add(w.DNS_SERVER, self.dns)
            for code, value in self.extra:
                out.add(code, value)
        self.pcb.sendto_netif(out.emit(), "255.255.255.255", 68, self.netif)
