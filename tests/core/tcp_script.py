"""A scripted TCP peer for state-machine tests: one lwipy stack on a capture device, segments in, segments out.

    t = TcpScript()                      # lwipy at 10.0.0.1, the scripted peer at 10.0.0.9
    pcb = t.open_passive()               # handshake done: pcb ESTABLISHED, t.peer_seq / t.iss known
    t.send("A", data=b"hello")           # a segment from the peer, at the current time
    seg = t.expect("A", ack=t.peer_seq)  # the one segment lwipy sent, checked
    t.expect_nothing()
    t.at(1.5)                            # advance the clock to 1.5 s and poll
"""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from helpers import OWN_MAC, PEER_MAC, make_stack
from lwipy.wire.ethernet import mac_to_str

PEER_IP, OWN_IP = "10.0.0.9", "10.0.0.1"
ETH = Ether(dst=mac_to_str(OWN_MAC), src=mac_to_str(PEER_MAC))


class TcpScript:
    def __init__(self, peer_port: int = 40000, port: int = 80, **options) -> None:
        options.setdefault("tcp_wnd_default", 8192)
        self.stack, self.netif, self.dev = make_stack(**options)
        self.stack.etharp.add_static(PEER_IP, PEER_MAC)
        self.peer_port, self.port = peer_port, port
        self.now = 0.0
        self.peer_seq = 1000  # the peer's next sequence number
        self.iss = 0  # lwipy's initial sequence number, once seen

    # -- driving -------------------------------------------------------------------------------------------------
    def send(self, flags: str, seq: int | None = None, ack: int | None = None, data: bytes = b"", window: int = 65535,
             options: list | None = None, advance: bool = True) -> None:
        """A segment from the peer; ``seq`` defaults to the peer's next sequence number (advanced by the data)."""
        seg = TCP(sport=self.peer_port, dport=self.port, flags=flags, window=window, options=options or [],
                  seq=(self.peer_seq if seq is None else seq) & 0xFFFFFFFF, ack=(ack or 0) & 0xFFFFFFFF)
        self.stack.input(self.netif, bytes(ETH / IP(src=PEER_IP, dst=OWN_IP) / seg / data), self.now)
        if seq is None and advance:
            self.peer_seq = (self.peer_seq + len(data) + ("S" in flags) + ("F" in flags)) & 0xFFFFFFFF

    def at(self, t: float) -> None:
        """Advance the clock to ``t`` and run what is due."""
        self.now = t
        self.stack.poll(t)

    # -- checking ------------------------------------------------------------------------------------------------
    def sent(self) -> list:
        return [Ether(f)[TCP] for f in self.dev.take() if Ether(f).haslayer(TCP)]

    def expect(self, flags: str, seq: int | None = None, ack: int | None = None, data_len: int | None = None):
        segs = self.sent()
        assert len(segs) == 1, f"expected one segment, lwipy sent {[(str(s.flags), s.seq, len(s.payload)) for s in segs]}"
        seg = segs[0]
        assert str(seg.flags) == flags, f"flags {seg.flags}, expected {flags}"
        if seq is not None:
            assert seg.seq == seq & 0xFFFFFFFF, f"seq {seg.seq}, expected {seq & 0xFFFFFFFF}"
        if ack is not None:
            assert seg.ack == ack & 0xFFFFFFFF, f"ack {seg.ack}, expected {ack & 0xFFFFFFFF}"
        if data_len is not None:
            assert len(seg.payload) == data_len, f"{len(seg.payload)} data bytes, expected {data_len}"
        return seg

    def expect_nothing(self) -> None:
        segs = self.sent()
        assert segs == [], f"expected silence, lwipy sent {[(str(s.flags), s.seq) for s in segs]}"

    # -- openings ------------------------------------------------------------------------------------------------
    def open_passive(self, options: list | None = None, isn: int | None = None, **kw):
        """lwipy listens; the peer connects; returns the ESTABLISHED pcb."""
        if isn is not None:
            self.stack.tcp.isn = lambda *args: isn
        listener = self.stack.tcp.listen(self.port, **kw)
        self.send("S", options=options if options is not None else [("MSS", 1000)])
        synack = self.expect("SA", ack=self.peer_seq)
        self.iss = synack.seq
        self.send("A", ack=self.iss + 1)
        self.expect_nothing()
        pcb = listener.accept()
        assert pcb is not None and pcb.state_name == "ESTABLISHED"
        return pcb

    def open_active(self, options: list | None = None, isn: int | None = None):
        """lwipy connects; the peer answers; returns the ESTABLISHED pcb."""
        if isn is not None:
            self.stack.tcp.isn = lambda *args: isn
        pcb = self.stack.tcp.connect(PEER_IP, self.peer_port, local_port=self.port)
        syn = self.expect("S")
        self.iss = syn.seq
        self.send("SA", ack=self.iss + 1, options=options if options is not None else [("MSS", 1000)])
        self.expect("A", seq=self.iss + 1, ack=self.peer_seq)
        assert pcb.state_name == "ESTABLISHED"
        return pcb
