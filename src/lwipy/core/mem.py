"""Memory as lwIP counts it: the bytes an ESP32 would hold for what this stack holds, current and peak, by category.

lwIP takes its control blocks from MEMP pools (ESP-IDF: ``MEMP_MEM_MALLOC``, so from the heap, one element per
``memp_malloc``) and its data from pbufs.  lwipy's own Python objects are much bigger and beside the point; what a
firmware engineer sizes is the device's heap.  So each category below counts what lwIP would have allocated for the
same state, with the element sizes of a 32-bit build of lwIP with ESP-IDF's default options (:data:`ESP32_SIZES`,
``sizeof`` taken with ``gcc -m32`` over lwIP's headers):

====================  ================================================================================================
``tcp_pcb``           ``MEMP_TCP_PCB``: connections, including TIME_WAIT ones and the pcb ``socket()`` takes at once
``tcp_pcb_listen``    ``MEMP_TCP_PCB_LISTEN``
``udp_pcb``           ``MEMP_UDP_PCB``
``netconn``           ``MEMP_NETCONN`` (sockets' netconns; the socket table itself is a static array in lwIP)
``mbox``              the FreeRTOS queues behind ``sys_mbox_new``: the tcpip thread's, each netconn's recvmbox or
                      acceptmbox (queue header plus a pointer per slot, allocated whole when made)
``tcp_snd``           the send buffer: queued and unacknowledged bytes in PBUF_RAM pbufs, one ``tcp_seg`` and one
                      pbuf (with room for the Ethernet, IP and TCP headers) per MSS of data
``tcp_rcv``           received in-order bytes the application has not read (in the pcb or a recvmbox): the pbufs
                      the driver filled, one per MSS of data, with their headers
``tcp_ooseq``         the out-of-order queue: a ``tcp_seg`` and a pbuf per segment
``reass``             IP reassembly: ``ip_reassdata`` per datagram and the fragments' pbufs
``arp``, ``nd6``      the ARP table and the IPv6 neighbour, destination, prefix and router caches: static arrays in
                      lwIP, counted from the start at their configured sizes
====================  ================================================================================================

Updates are a counter add (``alloc``/``free`` with a category index); nothing is walked.  lwIP's ``stats_mem``
fields are kept per category too: ``used`` elements, ``max`` (their peak) and ``err`` (allocations refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MemStats", "MempSizes", "ESP32_SIZES", "CATEGORIES", "TCP_PCB", "TCP_PCB_LISTEN", "UDP_PCB", "NETCONN",
           "MBOX", "TCP_SND", "TCP_RCV", "TCP_OOSEQ", "REASS", "ARP", "ND6"]

CATEGORIES = ("tcp_pcb", "tcp_pcb_listen", "udp_pcb", "netconn", "mbox", "tcp_snd", "tcp_rcv", "tcp_ooseq", "reass",
              "arp", "nd6")
TCP_PCB, TCP_PCB_LISTEN, UDP_PCB, NETCONN, MBOX, TCP_SND, TCP_RCV, TCP_OOSEQ, REASS, ARP, ND6 = range(len(CATEGORIES))


def _align(n: int) -> int:
    return (n + 3) & ~3  # LWIP_MEM_ALIGN_SIZE with MEM_ALIGNMENT 4


@dataclass(frozen=True)
class MempSizes:
    """``sizeof`` of lwIP's structures on the target (bytes)."""

    tcp_pcb: int = 208
    tcp_pcb_listen: int = 72
    tcp_seg: int = 16
    udp_pcb: int = 80
    netconn: int = 52
    pbuf: int = 16  # SIZEOF_STRUCT_PBUF
    ip_reassdata: int = 32
    etharp_entry: int = 24
    nd6_neighbor: int = 44
    nd6_destination: int = 48
    nd6_prefix: int = 28
    nd6_router: int = 12
    #: ESP-IDF's sys_mbox_new: its ``struct sys_mbox_s`` (8) and a FreeRTOS queue's header (``Queue_t``, about 80
    #: on the ESP32), plus a ``void *`` per slot
    mbox_header: int = 88
    pointer: int = 4
    #: PBUF_TRANSPORT's header room in a TCP pbuf: Ethernet 14, IP 40 (IPv6 on, as ESP-IDF builds it), TCP 20
    transport_hlen: int = 74
    #: the headers in front of the data in a received frame's pbuf: Ethernet 14, IPv4 20, TCP 20
    rx_hlen: int = 54

    def mbox(self, slots: int) -> int:
        """A mailbox of ``slots`` messages, as ``sys_mbox_new`` allocates it."""
        return self.mbox_header + slots * self.pointer

    def tcp_snd_segment(self) -> int:
        """What a queued segment costs beyond its data: a ``tcp_seg`` and a PBUF_RAM pbuf's header and header room."""
        return self.tcp_seg + _align(self.pbuf + self.transport_hlen)

    def tcp_rx_segment(self) -> int:
        """What a received segment's pbuf costs beyond its data."""
        return self.pbuf + self.rx_hlen

    def tcp_conn(self, recvmbox: int) -> int:
        """The guide's ``lwip_tcp_conn``: a TCP socket's pcb, netconn and recvmbox."""
        return self.tcp_pcb + self.netconn + self.mbox(recvmbox)

    def udp_conn(self, recvmbox: int) -> int:
        """The guide's ``lwip_udp_conn``: a UDP socket's pcb, netconn and recvmbox."""
        return self.udp_pcb + self.netconn + self.mbox(recvmbox)


#: ``gcc -m32`` over lwIP's headers (lwIP at /tmp/lwip's commit) with ESP-IDF's default lwipopts: IPv4 and IPv6,
#: SO_REUSE, keepalive, no SACK/window scaling/timestamps, TCP_OVERSIZE, LWIP_NETCONN_FULLDUPLEX
ESP32_SIZES = MempSizes()


class MemStats:
    """Current and peak bytes by category (see the module's docstring), their sum and its peak, and lwIP's
    ``stats_mem`` counts per category (``used``, ``max``, ``err``)."""

    __slots__ = ("sizes", "cur", "peak", "used", "max", "err", "total", "total_peak", "pending", "token")

    def __init__(self, sizes: MempSizes = ESP32_SIZES) -> None:
        self.sizes = sizes
        n = len(CATEGORIES)
        self.cur = [0] * n
        self.peak = [0] * n
        self.used = [0] * n
        self.max = [0] * n
        self.err = [0] * n
        self.total = 0
        self.total_peak = 0
        #: rr2: counting that waits (``Tcp.settle``: a connection's buffer changes logged until the reply's write),
        #: called before anything else is counted or read here, so that every figure comes out in the same order
        self.pending: Any = None
        #: mem15: what stands for "nothing counted since" (:meth:`take_token`): None once anything is counted,
        #: freed or reset (each method below that changes a figure, and ``TcpMem._mem_replay``, the one writer of
        #: the figures besides them), so that a holder of the token tells by one identity test that no figure, and
        #: no connection's count, has changed since it took it (raising a peak, ``Tcp.settle``'s one-peak check,
        #: changes nothing it stands for: peaks only rise)
        self.token: Any = None

    def take_token(self) -> object:
        """mem15: a token that stays :attr:`token` until the next change of a figure (the request lane's memo of a
        steady request, ``TcpInput._fast_request``)."""
        token = self.token
        if token is None:
            token = self.token = object()
        return token

    def alloc(self, cat: int, nbytes: int, elements: int = 1) -> None:
        """``nbytes`` more in category ``cat`` (``elements`` more elements of it, for ``used``/``max``)."""
        if self.pending is not None:
            self.pending()
        self.token = None
        cur = self.cur[cat] + nbytes
        self.cur[cat] = cur
        if cur > self.peak[cat]:
            self.peak[cat] = cur
        total = self.total + nbytes
        self.total = total
        if total > self.total_peak:
            self.total_peak = total
        if elements:
            used = self.used[cat] + elements
            self.used[cat] = used
            if used > self.max[cat]:
                self.max[cat] = used

    def free(self, cat: int, nbytes: int, elements: int = 1) -> None:
        """``nbytes`` fewer in category ``cat``."""
        if self.pending is not None:
            self.pending()
        self.token = None
        self.cur[cat] -= nbytes
        self.total -= nbytes
        if elements:
            self.used[cat] -= elements

    def change(self, cat: int, delta: int) -> None:
        """A buffer grew or shrank by ``delta`` bytes (no element count): ``alloc`` or ``free`` of it, in one call
        (a connection's buffers change twice per segment each way: rr's request/response path)."""
        if self.pending is not None:
            self.pending()
        self.token = None
        cur = self.cur[cat] + delta
        self.cur[cat] = cur
        total = self.total + delta
        self.total = total
        if delta > 0:
            if cur > self.peak[cat]:
                self.peak[cat] = cur
            if total > self.total_peak:
                self.total_peak = total

    def refused(self, cat: int) -> None:
        """An allocation in ``cat`` failed (lwIP's ``err``)."""
        self.err[cat] += 1

    def reset_peak(self) -> None:
        """Peaks start again from the current values (to measure one workload)."""
        if self.pending is not None:
            self.pending()
        self.token = None
        self.peak = list(self.cur)
        self.max = list(self.used)
        self.total_peak = self.total

    def report(self) -> dict[str, Any]:
        """``{"total": {"cur", "peak"}, category: {"cur", "peak", "used", "max", "err"}...}``, bytes."""
        if self.pending is not None:
            self.pending()
        out: dict[str, Any] = {"total": {"cur": self.total, "peak": self.total_peak}}
        for i, name in enumerate(CATEGORIES):
            out[name] = {"cur": self.cur[i], "peak": self.peak[i], "used": self.used[i], "max": self.max[i],
                         "err": self.err[i]}
        return out

    def format(self) -> str:
        """lwIP's MEM/MEMP lines (``stats_display_mem``/``stats_display_memp`` style), one per category in use."""
        if self.pending is not None:
            self.pending()
        lines = [f"{'MEM':8} {'total':15} cur={self.total} peak={self.total_peak}"]
        for i, name in enumerate(CATEGORIES):
            if self.peak[i] or self.err[i]:
                kind = "MEMP" if i < TCP_SND else "MEM" if i < ARP else "STATIC"
                lines.append(f"{kind:8} {name:15} cur={self.cur[i]} peak={self.peak[i]} used={self.used[i]} "
                             f"max={self.max[i]} err={self.err[i]}")
        return "\n".join(lines)
