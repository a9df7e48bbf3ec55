"""TCP header prediction (Van Jacobson's fast path, as BSD's ``tcp_input`` and Linux's ``tcp_rcv_established``): the
common segment of an established connection handled from one parse of its Ethernet, IP (v4, and s20: v6) and TCP
headers.

Theory of operation
-------------------
:func:`fast_input` looks at a received Ethernet frame through one precompiled struct and takes it only when every
check the full path would make is known to pass and nothing unusual is asked of the connection:

- the frame: untagged IPv4 to this netif's MAC and address, a 20-byte IP header, not a fragment, TCP, with a source
  that can be a peer (not ours, not multicast, class E, 0/8 or 127/8); no ``ip4_input`` hook, no raw pcb that
  could want it, and no NAPT on another netif (``ip_napt_recv`` sees such packets before TCP); the IP header
  checksum (when ``checksum_check_ip``) and the TCP checksum (unless the netif offloads it) right (the source
  checked by ``Tcp._predict``, which keeps no connection to a remote in 0/8, 127/8, multicast or class E here, nor
  to one of our addresses: ``Tcp.own4_changed`` makes the entries again when those change);
- the segment: ACK with or without PSH and nothing else (no SYN, FIN, RST, URG, ECE, CWR), options none or exactly
  NOP, NOP, timestamps;
- the connection, found by the 12 bytes of addresses and ports as they stand in the frame (``Tcp.fast_conns``):
  ESTABLISHED, the segment at ``rcv_nxt`` (:meth:`~lwipy.core.tcp.tcp_in.TcpInput._fast_input`), its
  acknowledgement within ``[snd_una, snd_max]``, timestamps as negotiated and passing PAWS, no out-of-order data
  held, no SACK scoreboard, not in recovery, the data fitting the free receive buffer; a segment without data must
  acknowledge something new (a duplicate ACK or a bare window update takes the full path).  A segment with data that
  acknowledges everything sent and buffered (a request on an idle connection) is asked of
  :meth:`~lwipy.core.tcp.tcp_in.TcpInput._fast_request` first, which makes the same checks (rr9).  guard15: what
  of these changes seldom (the state, out-of-order data, recovery, SACK ranges, the read side closed) is read as one
  field, ``TcpPcb._unusual_in`` (``_unusual`` for the request), kept by the writers of those fields
  (``TcpPcb._unusual_check``).

Anything else returns False before touching any state, and the frame goes the full way (``ethernet_input``,
``ip4_input``, ``tcp_input``), which also counts and answers what is wrong with it.  A taken segment updates the same
counters as the full path (by one tally, ``Tcp.fast_taken``, that ``Stack.stats`` folds in when read) and runs the
same ACK and data processing (``_process_ack``, ``_receive_data``), so the connection ends in the same state and sends
the same segments either way (``tests/core/test_tcp_fastpath.py`` checks both, segment sequence by segment sequence).
``stack.tcp.fast_path = False`` turns it off.

The TCP checksum of a segment past a few hundred bytes is checked from ``wire.checksum.data_sum`` (zlib.adler32's exact
sums of the even and the odd bytes, as a sender sums its payload); a short one's is the modulo of one integer
(``int.from_bytes``; 2**16 = 1 modulo 0xFFFF).

:func:`fast_input6` (s20) is the same over IPv6: ``fast_input`` hands it a frame whose Ethernet type is IPv6, and it
takes the same segments the same way when ``ip6_input`` would hand the packet straight to TCP (TCP the first next
header, the destination one of the netif's usable addresses, no hook but ESP-IDF's default, no raw pcb:
``Stack.ip6_detours``), the TCP checksum over the IPv6 pseudo-header; the connections keyed by their 36 bytes of
addresses and ports (``fast_key6``) in the same ``Tcp.fast_conns``; and :func:`fast_ack` writes a pure ACK over IPv6
from an IPv6 template (:func:`_fast_ack6`) to a neighbour whose entry needs nothing done.
``tests/core/test_tcp_fastpath6.py`` holds both to the full way frame by frame, in whole transfers with loss and for
each unusual frame or neighbour.

:func:`fast_pure_ack` is the bulk sender's case (tx): a pure ACK of new data for an ESTABLISHED connection with
nothing unusual about it (no FIN queued, not in recovery, no SACK ranges or out-of-order data, timestamps as
negotiated) is handled in one function, ``_fast_input``, ``_process_ack`` and ``_ack_advanced`` without the branches
that cannot be taken: the window, the acknowledged bytes dropped, RTT and congestion control, the retransmission
timer, the stream source's refill (``TcpPcb.tx_source``, tx9) or the application's callback (which writes), and one
``tcp_output`` afterwards only when something is unsent,
a FIN was queued or a refused segment waits (lwIP's ``tcp_input`` outputs once after the callbacks).  Anything else
goes to ``_fast_input`` or the full path; ``tests/core/test_tcp_ack_fast.py`` holds the two ways to the same output
and state, with applications that write, close, shut down or abort from the callback.

:func:`fast_ack` is the send side's counterpart for the commonest segment of a receiver, the pure ACK: written from a
per-connection template (the constant bytes and the checksums' partial sums, kept in ``Tcp.ack_templates`` for the
neighbour's MAC, TOS and TTL they were made for) by one ``struct.pack`` of the fields that change, its checksums by
arithmetic on those fields; the same bytes as the full way (the differential test compares them).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from ...wire.checksum import data_sum as _data_sum
from ...wire.checksum import from_bytes as _from_bytes
from ...wire.ipv4 import ETH_IP4_WORD, ETH_IP4_WORD_MASK, NOFRAG_PROTO_MASK, PROTO_TCP
from ...wire.tcp import ACK
from ..addr6 import DEPRECATED, PREFERRED
from .seq import HALF as _HALF
from .seq import MASK
from .states import CLOSED
from .tcp_in import _DEFER_SEGMENTS

if TYPE_CHECKING:
    from ..netif import Netif
    from .pcb import TcpPcb
    from .tcp import Tcp

__all__ = ["fast_input", "fast_input6", "fast_key", "fast_key6", "fast_ack", "fast_pure_ack"]

# Ethernet dst (skip src) | type, IPv4 ver/ihl, tos (one word) | total (ident) | frag, ttl, proto (one word) (csum) |
# src, dst and TCP ports (one bytes: Tcp.fast_conns's key) | seq ack | offset and flags (one word) | window (csum,
# urg).  in12: the words read as one each, so that one test checks each of them (the type and version with the TOS
# masked out, no fragment and TCP with the TTL masked out, the header length and the flags together): 11 bytecodes
# less per segment than a field each.  in15: the key made by the struct (bytes, whatever the frame's type) in place
# of the destination address alone and a slice of the frame for the key: ~40 ns less per segment (the slice's C
# work), and no second try for a bytearray's unhashable slice
_FRAME = struct.Struct("!6s6xIH2xI2x12sIIHH4x")
_unpack_frame = _FRAME.unpack_from  # (named once: no method lookup a segment)
_StructError = struct.error
_ETH_IP4 = ETH_IP4_WORD  # the type IPv4, version 4 and a 20-byte header (the TOS byte masked out: any)
_ETH_IP4_MASK = ETH_IP4_WORD_MASK
_NOFRAG_TCP = PROTO_TCP  # no fragment (DF may be set: masked out with the TTL) and the protocol TCP
_NOFRAG_TCP_MASK = NOFRAG_PROTO_MASK
_PLAIN_ACK = 0x5018  # a 20-byte TCP header, ACK (PSH ORed in) and no other flag
_TS_ACK = 0x8018  # a 32-byte one (the timestamps option alone, NOP NOP first), the same flags
_TS = struct.Struct("!II")
_TS_PREFIX = b"\x01\x01\x08\x0a"  # NOP, NOP, kind 8 length 10
_KEY = struct.Struct("!4s4sHH")
# s20: IPv6: Ethernet dst (skip src) | type | version, traffic class, flow label (one word) | payload length | next
# header (hop limit) | src, dst and TCP ports (one bytes: the 36-byte key of Tcp.fast_conns) | seq ack | offset and
# flags | window (csum, urg)
_FRAME6 = struct.Struct("!6s6xHIHBx36sIIHH4x")
_unpack_frame6 = _FRAME6.unpack_from
_ETHERTYPE_IPV6 = 0x86DD
_KEY6 = struct.Struct("!16s16sHH")
# a pure ACK over IPv6 from its template: Ethernet, IPv6 and the ports (constant) | seq ack | offset and flags,
# window, checksum, urgent (| NOP NOP kind length, TSval, TSecr)
_USABLE6 = frozenset((PREFERRED, DEPRECATED))  # an address's usable states (Ip6Addr.usable)
_ACK6 = struct.Struct("!58sIIHHHH")
_ACK6_TS = struct.Struct("!58sIIHHHHIII")
# a pure ACK from its template: Ethernet and the first IPv4 words | ident | fragment, TTL, protocol | IP checksum |
# addresses and ports | seq ack | offset and flags, window, checksum, urgent (| NOP NOP kind length, TSval, TSecr)
_ACK = struct.Struct("!18sH4sH12sIIHHHH")
_ACK_TS = struct.Struct("!18sH4sH12sIIHHHHIII")
_TS_WORD = 0x0101080A
_FOLD = 0xFFFF
# in15: what the sum of a right segment from the IP source on (fast_input) comes to modulo 0xFFFF, less the frame's
# end: its pseudo-header's protocol (6) and TCP length (end - 34) add end - 28, and the whole must come to 0, so the
# sum must be 28 - end modulo 0xFFFF: 0xFFFF + 28 - end (end - 28 is 26 to 65,521, never 0 modulo 0xFFFF)
_RIGHT_SUM = _FOLD + 28
# in2: what the sum of a short frame's bytes from the IP source on (one integer, an odd length unpadded) comes to modulo
# 0xFFFF when right, by the frame's end (up to 426: fast_input's from_bytes way): _RIGHT_SUM - end for an even end; for
# an odd one the unpadded integer is the padded one's 256th part, and 256 is its own inverse modulo 0xFFFF
# (256 * 256 = 1), so 256 times it.  One subscript in place of the odd length's test and shift and the sum's local: 6
# bytecodes a segment
_RIGHT_SUMS = tuple(-1 if end < 54 else ((_RIGHT_SUM - end) << 8) % _FOLD if end & 1 else _RIGHT_SUM - end
                    for end in range(427))
# (-1 below 54, which no modulo equals: a plain segment's IP length short of its TCP header is refused by the sum's
# test, not by one of its own: fast_input's end >= 54 is asked only when the netif offloads the checksum)


def fast_key(remote: bytes, local: bytes, remote_port: int, local_port: int) -> bytes:
    """The bytes 26..37 of a frame from ``remote``:``remote_port`` to ``local``:``local_port`` (IPv4 source and
    destination, then TCP source and destination ports): the key of ``Tcp.fast_conns``."""
    return _KEY.pack(remote, local, remote_port, local_port)


def fast_key6(remote: bytes, local: bytes, remote_port: int, local_port: int) -> bytes:
    """s20: the bytes 22..57 of a frame over IPv6 from ``remote``:``remote_port`` to ``local``:``local_port`` (IPv6
    source and destination, then TCP source and destination ports): its key in ``Tcp.fast_conns`` (36 bytes: never
    an IPv4 connection's 12)."""
    return _KEY6.pack(remote, local, remote_port, local_port)


def fast_input(tcp: "Tcp", netif: "Netif", frame: Any, tsval: int | None = None, tsecr: int | None = None,
               start: int = 54) -> bool:
    """Handle ``frame`` (received on Ethernet netif ``netif``) when it is a predicted segment; False, with nothing
    changed, when it must take the full path.  The caller has settled an ACK's waiting bookkeeping (``Tcp.unsettled``
    None: in2); none waits when it returns.  ``tsval``, ``tsecr`` and ``start`` are not arguments (callers pass
    none): locals preset to a plain segment's values (no timestamps, the data at 54) by the call itself, which
    costs less than assigning them (in2: 6 bytecodes a segment); a segment with timestamps sets its own."""
    # in13: a frame shorter than the 54 bytes read (an ARP message's 42, a runt) is turned away by the struct's error,
    # not asked its length first (zero cost on the way in: 3.11's exceptions); the length read where it is needed
    try:
        dst_mac, eth_ip, total, frag_proto, key, seq, ack, off_flags, window = _unpack_frame(frame)
    except _StructError:
        return False
    if eth_ip & _ETH_IP4_MASK != _ETH_IP4 or frag_proto & _NOFRAG_TCP_MASK != _NOFRAG_TCP:
        # s20: an IPv6 frame to its own header prediction (an IPv4 one pays this test only when turned away)
        return eth_ip >> 16 == _ETHERTYPE_IPV6 and fast_input6(tcp, netif, frame)
    pcb = tcp.fast_conns.get(key)
    # in13: the netif's MAC, its being up and untagged in one field (Netif.rx_mac: None unless both): 6 bytecodes less.
    # in15: the frame's destination address is the connection's local one (the key holds both), which must be the
    # netif's (not another netif's address: ip4_input's way)
    if pcb is None or dst_mac != netif.rx_mac or pcb._local_packed != netif.ip4_packed:
        return False
    end = 14 + total
    # in15: the frame's end checked before the timestamps are read (those of a frame cut inside them, 58 to 65 bytes,
    # were read past it: struct.error, a bug's report); the IP length then at least the headers' for each kind
    if end > len(frame):
        return False
    # (in2: a plain one's end below 54, an IP length short of its TCP header, refused with its sum, below; its
    # tsval, tsecr and start are the defaults)
    if off_flags | 0x08 != _PLAIN_ACK:  # (PSH or not)
        if off_flags | 0x08 != _TS_ACK or end < 66 or frame[54:58] != _TS_PREFIX:
            return False
        tsval, tsecr = _TS.unpack_from(frame, 58)
        start = 66
    # (a source in 0/8, 127/8, multicast or class E, or one of our addresses, finds no connection: Tcp._predict keeps
    # none for such a remote, in12: and Tcp.own4_changed drops the entries of a remote that became ours)
    # in12: a raw pcb, an ip4_input hook or NAPT looked at only when the stack says one may be there (Tcp.ip4_detour,
    # kept by what sets them): 12 bytecodes less per segment; in15: and the IP header's checksum checked only then
    # (the flag set for life when Config.checksum_check_ip is): 4 less; in2: the flag TCP's (the stack read only where
    # it is used): 2 less.  The checks themselves are Stack.ip4_detours, UDP's short way's too
    if tcp.ip4_detour and tcp.stack.ip4_detours(netif, frame):
        return False
    # rr8: slices of the frame, not of a memoryview of it: int.from_bytes copies a view into bytes first, and the
    # view itself costs more than a slice's copy (measured: 118-byte frames 0.27 against 0.42 us, 1514-byte ones
    # 1.48 against 1.70, the sum, the payload and its append to rcv_buf)
    # in13: the sum from the IP source on: the pseudo-header's addresses summed with the segment (26 and 34 are even:
    # the same 16-bit words), its protocol (6) and length (end - 34) added (_RIGHT_SUM).  The frame's own addresses,
    # as ip4_input's tcp_input sums them (the connection's, its key being those bytes): 3 bytecodes and a read of the
    # pcb's _pseudo_base less per segment.  (in15: the long sum's modulo alone, no additions to it: 40 ns.)  in2: the
    # offloading netif's case first, so that the common one, the short sum, is the last branch (no jump after it)
    if netif.checksum_offload:
        if end < start:
            return False  # in2: an IP length short of the TCP header (summed, the table's -1 refuses it)
    elif end > 426:  # over 400 bytes
        if type(frame) is not memoryview:
            seg_sum = _data_sum(frame[26:end])  # as a sender sums its payload (adler32's byte sums: wire.checksum)
        else:
            seg_sum = _from_bytes(frame[26:end])  # (a slice of a view is one: data_sum wants contiguous bytes)
            if end & 1:  # an odd length (end - 26, as end - 34)
                seg_sum <<= 8
        if seg_sum % _FOLD != _RIGHT_SUM - end:
            return False
    elif _from_bytes(frame[26:end]) % _FOLD != _RIGHT_SUMS[end]:  # (in2: the odd length's shift in the table)
        return False  # (and an end below 54: -1, never a modulo)
    # (rr2: a frame fed from a callback while an ACK's bookkeeping waits finds it done first: in2, by the callers,
    # ethernet_input at each frame and Stack.input_many at a batch's start, as this function leaves nothing waiting)
    if not _taken(tcp, pcb, frame, seq, ack, window, tsval, tsecr, start, end):
        return False
    tcp.fast_taken += 1  # stats14: link.recv, ip.recv and tcp.recv, as Stack.stats folds this tally in when read
    return True


def _taken(tcp: "Tcp", pcb: "TcpPcb", frame: Any, seq: int, ack: int, window: int, tsval: int | None,
           tsecr: int | None, start: int, end: int) -> bool:
    """The segment that :func:`fast_input` or :func:`fast_input6` found predicted (its data ``frame[start:end]``),
    handled by the connection's fast ways: True when one took it (False, with nothing changed, for the full way)."""
    try:
        # a pure ACK of new data: fast_pure_ack first; rr9: data acknowledging something new: first the request on an
        # idle connection (TcpPcb._fast_request); then _fast_input
        return (fast_pure_ack(pcb, seq, ack, window, tsval, tsecr) if end == start else ack != pcb.snd_una
                and pcb._fast_request(seq, ack, window, tsval, tsecr, frame[start:end], tcp, tcp.stack)) \
            or pcb._fast_input(seq, ack, window, tsval, tsecr, frame[start:end])
    finally:
        if tcp.unsettled is not None:
            tcp.settle()  # rr2: what _fast_request or _fast_new_ack left for after the reply (when none was written)


def fast_input6(tcp: "Tcp", netif: "Netif", frame: Any, tsval: int | None = None, tsecr: int | None = None,
                start: int = 74) -> bool:
    """s20: :func:`fast_input` for a frame over IPv6 (tried by it when the Ethernet type says IPv6): the same
    segments taken the same way, when ``ip6_input`` would hand the packet straight to TCP.  The frame: untagged, to
    this netif's MAC, IPv6 with TCP as the first next header (no extension header), the destination one of the
    netif's addresses in a usable state (preferred or deprecated: not tentative, duplicated or gone), no
    ``ip6_input`` hook but ESP-IDF's default (which passes a netif with a link-local address), no raw pcb, TCP's own
    handler for next header 6 (``Stack.ip6_detours``), the TCP checksum right over the IPv6 pseudo-header (always
    checked, unless the netif offloads it).  The source needs no test: ``Tcp.fast_conns`` keeps no IPv6 connection
    to a multicast, loopback or unspecified remote (``Tcp._predict``), and ``ip6_input`` takes any other.  The
    segment and the connection as for IPv4.  Counted by ``Tcp.fast_taken6`` (``link.recv``, ``ip6.recv``,
    ``tcp.recv``)."""
    try:
        dst_mac, ethertype, vtf, length, nh, key, seq, ack, off_flags, window = _unpack_frame6(frame)
    except _StructError:
        return False
    if ethertype != _ETHERTYPE_IPV6 or nh != 6 or vtf >> 28 != 6:
        return False
    pcb = tcp.fast_conns.get(key)
    if pcb is None or dst_mac != netif.rx_mac:
        return False
    end = 54 + length
    if end > len(frame):
        return False
    if off_flags | 0x08 != _PLAIN_ACK:  # (PSH or not)
        if off_flags | 0x08 != _TS_ACK or end < 86 or frame[74:78] != _TS_PREFIX:
            return False
        tsval, tsecr = _TS.unpack_from(frame, 78)
        start = 86
    elif end < 74:
        return False  # a payload length short of the TCP header: the full way's to count
    # s21: what ip6_input would do with the segment, asked again only when something it depends on may have moved
    # (Stack.way_generation: our addresses and their states by the routes' generation, the ip6_input hook, raw
    # pcbs; pcb._rx6_ok) or it came in on another netif; TCP's handler for next header 6 looked at every segment
    # (Stack.protocols6 is a plain dict): 1.5-2 us less a segment
    # (and the destination address's state read every segment too: an Ip6Addr written directly moves no generation)
    stack = tcp.stack
    ok = pcb._rx6_ok
    if ok[0] != stack.way_generation or ok[1] is not netif:
        generation = stack.way_generation  # (read before what it stands for)
        if stack.ip6_detours(netif, pcb._local_packed):
            return False
        pcb._rx6_ok = (generation, netif, netif.ip6_addr_of(pcb._local_packed))
    elif stack.protocols6.get(6) != stack._tcp_input6 or ok[2].state not in _USABLE6:
        return False
    # the sum from the IPv6 source on: the pseudo-header's addresses with the segment (22 is even), its length
    # (end - 54) and next header (6) added: a right one comes to 0 modulo 0xFFFF, so the sum to 48 - end
    if not netif.checksum_offload:
        if type(frame) is not memoryview:
            seg_sum = _data_sum(frame[22:end])  # (wire.checksum's: one integer's up to 400 bytes, adler32's beyond)
        else:
            seg_sum = _from_bytes(frame[22:end])  # (a slice of a view is one: data_sum wants contiguous bytes)
            if end & 1:
                seg_sum <<= 8
        if seg_sum % _FOLD != (48 - end) % _FOLD:
            return False
    if not _taken(tcp, pcb, frame, seq, ack, window, tsval, tsecr, start, end):
        return False
    tcp.fast_taken6 += 1
    return True


def _ack_template(pcb: "TcpPcb", key: tuple) -> tuple:
    """The constant parts of ``pcb``'s pure ACK to the neighbour ``key`` names (its MAC, ours, TOS, TTL, timestamps),
    and the partial sums of its IPv4 and TCP checksums without the fields that change."""
    mac, hwaddr, tos, ttl, ts = key
    hlen = 32 if ts else 20
    head = mac + hwaddr + b"\x08\x00" + bytes((0x45, tos)) + (20 + hlen).to_bytes(2, "big")
    mid = bytes((0, 0, ttl, 6))  # no fragment bits (as _fast_send and ip4 output write them), TTL, TCP
    addrs = pcb._local_packed + pcb._remote_packed + _KEY.pack(b"", b"", pcb.local_port, pcb.remote_port)[8:]
    offflags = (hlen << 10) | ACK
    ip_sum = _from_bytes(head[14:] + mid + addrs[:8])  # 16-bit aligned: the ones' sum modulo 0xFFFF
    tcp_sum = pcb._pseudo_base + hlen + _from_bytes(addrs[8:]) + offflags + (_TS_WORD if ts else 0)
    return key, head, mid, addrs, offflags, ip_sum, tcp_sum


def fast_ack(pcb: "TcpPcb", seq: int) -> bool | None:
    """``pcb``'s pure ACK numbered ``seq`` (``_send_ack``), written from a per-connection header template by one
    struct, its checksums from the template's partial sums and the few fields that change (seq, ack, window,
    timestamps, IP ident): the same bytes, counters and pcb fields as ``_send_segment`` and ``_fast_send``.  None,
    with nothing changed, when that way does not apply (SACK blocks to send, offload, IPv6, VLAN, a route or a
    neighbour to look up again: ``_fast_send``'s conditions); else whether the device took it (s20: over IPv6, by
    :func:`_fast_ack6`)."""
    tcp = pcb.tcp
    if not tcp.fast_path or pcb._offload or (pcb.sack_ok and pcb.ooseq):
        return None
    if pcb.v6:
        return _fast_ack6(pcb, seq)  # s20
    if not pcb._neighbour:
        return None
    mac = pcb._neighbour_mac()
    if mac is None:
        return None  # a route or a neighbour to look up again: etharp_output's work
    stack = pcb.stack
    netif = pcb._netif
    ts = pcb.ts_ok
    key = (mac, netif.hwaddr, pcb._tos, pcb._ttl, ts)  # (way14: the properties' fields)
    templates = tcp.ack_templates
    tmpl = templates.get(pcb)
    if tmpl is None or tmpl[0] != key:
        tmpl = templates[pcb] = _ack_template(pcb, key)
    window = pcb._window_field()  # as _send_segment offers it (rcv_adv set)
    if window > 0xFFFF:
        window = 0xFFFF
    rcv_nxt = pcb.rcv_nxt
    ip4 = stack.ip4
    ident = ip4.next_ident
    ip4.next_ident = (ident + 1) & 0xFFFF
    _, head, mid, addrs, offflags, ip_sum, tcp_sum = tmpl
    # checksums as wire.checksum's: the complement of the folded sum (a residue 0 folds to 0xFFFF: never all zero)
    ip_csum = _FOLD - ((ip_sum + ident) % _FOLD or _FOLD)
    if ts:
        tsval = int(stack.now * 1000) & MASK
        tsecr = pcb.ts_recent
        csum = _FOLD - ((tcp_sum + seq + rcv_nxt + window + tsval + tsecr) % _FOLD or _FOLD)
        frame = _ACK_TS.pack(head, ident, mid, ip_csum, addrs, seq, rcv_nxt, offflags, window, csum, 0, _TS_WORD,
                             tsval, tsecr)
    else:
        csum = _FOLD - ((tcp_sum + seq + rcv_nxt + window) % _FOLD or _FOLD)
        frame = _ACK.pack(head, ident, mid, ip_csum, addrs, seq, rcv_nxt, offflags, window, csum, 0)
    if not pcb._handed(netif.device.transmit(frame)):
        return False  # as _fast_send: refused by a full device queue (the delayed-ACK fields stay as they were)
    pcb._ack_carried()
    return True


def header_parts6(pcb: "TcpPcb", mac: bytes, hwaddr: bytes, tclass: int, hop_limit: int) -> tuple[bytes, bytes]:
    """s21: the constant bytes of ``pcb``'s frames over IPv6 on either side of the payload length: Ethernet and the
    first word (version 6, ``tclass``, flow label 0, as ``ip6.output`` writes it), then next header (TCP), hop
    limit, the addresses and the ports (the short ways' templates: :func:`_ack_template6`,
    ``TcpOutput._segment_template6``)."""
    head = mac + hwaddr + b"\x86\xdd" + ((6 << 28) | (tclass & 0xFF) << 20).to_bytes(4, "big")
    addrs = (bytes((PROTO_TCP, hop_limit)) + pcb._local_packed + pcb._remote_packed
             + pcb.local_port.to_bytes(2, "big") + pcb.remote_port.to_bytes(2, "big"))
    return head, addrs


def _ack_template6(pcb: "TcpPcb", key: tuple) -> tuple:
    """s20: :func:`_ack_template` over IPv6: the Ethernet and IPv6 headers and the ports as one bytes (nothing in
    them changes from one ACK to the next: no identification, no header checksum), and the TCP checksum's partial
    sum without the fields that change."""
    mac, hwaddr, tclass, hop_limit, ts = key
    hlen = 32 if ts else 20
    head, addrs = header_parts6(pcb, mac, hwaddr, tclass, hop_limit)
    offflags = (hlen << 10) | ACK
    tcp_sum = pcb._pseudo_base + hlen + pcb.local_port + pcb.remote_port + offflags + (_TS_WORD if ts else 0)
    return key, head + hlen.to_bytes(2, "big") + addrs, offflags, tcp_sum


def _fast_ack6(pcb: "TcpPcb", seq: int) -> bool | None:
    """s20: :func:`fast_ack` over IPv6: the pure ACK from the connection's template (:func:`_ack_template6`), with
    what ``ip6_output_if``, ``nd6`` and ``ethernet_output`` do for it: the neighbour's entry touched, the counters
    (by the tally ``Tcp.fast_sent6``: ``ip6.xmit``, ``link.xmit``, ``tcp.xmit``).  None, with nothing changed, when
    ``TcpPcb._neighbour6`` finds no neighbour ready (a route to look up again, a netif that is not a plain Ethernet
    one up, a next hop multicast or ours, an entry INCOMPLETE or STALE: the full way's work).  s21: an ACK the
    device refused is counted as the full way counts it (``ip6.xmit``, the link's ``memerr`` and ``drop``,
    ``tcp.err``: ENOMEM) and False, the delayed-ACK fields as they were, as :func:`fast_ack`."""
    n = pcb._neighbour6()
    if n is None:
        return None
    stack = pcb.stack
    netif = n.netif
    ts = pcb.ts_ok
    key = (n.mac, netif.hwaddr, pcb._tos, pcb._ttl, ts)  # (the connection's hop limit: ttl, always set)
    tcp = pcb.tcp
    templates = tcp.ack_templates
    tmpl = templates.get(pcb)
    if tmpl is None or tmpl[0] != key:
        tmpl = templates[pcb] = _ack_template6(pcb, key)
    _, head, offflags, tcp_sum = tmpl
    window = pcb._window_field()  # as _send_segment offers it (rcv_adv set)
    if window > 0xFFFF:
        window = 0xFFFF
    rcv_nxt = pcb.rcv_nxt
    now = stack.now
    if ts:
        tsval = int(now * 1000) & MASK
        tsecr = pcb.ts_recent
        csum = _FOLD - ((tcp_sum + seq + rcv_nxt + window + tsval + tsecr) % _FOLD or _FOLD)
        frame = _ACK6_TS.pack(head, seq, rcv_nxt, offflags, window, csum, 0, _TS_WORD, tsval, tsecr)
    else:
        csum = _FOLD - ((tcp_sum + seq + rcv_nxt + window) % _FOLD or _FOLD)
        frame = _ACK6.pack(head, seq, rcv_nxt, offflags, window, csum, 0)
    n.touched = now  # (nd6_output's)
    took = netif.device.transmit(frame)
    pcb._tried6(1, 1 if took else 0)  # (a device may say how many bytes it took: a count of one)
    if not took:  # as the full way counts a refused one (ENOMEM)
        stats = stack._stats
        stats.link_refused(stats.tcp)
        return False
    pcb._ack_carried()
    return True


# --- tx: the pure ACK a bulk sender receives ---------------------------------------------------------------------------
def fast_pure_ack(pcb: "TcpPcb", seq: int, ack: int, window_field: int, tsval: int | None,
                  tsecr: int | None) -> bool:
    """A pure ACK (no data, no flags but ACK and PSH: :func:`fast_input`'s checks passed) that acknowledges new data
    of an ESTABLISHED connection with nothing unusual about it: what ``TcpInput._fast_input``, ``_process_ack`` and
    ``_ack_advanced`` do for it, in one function (the peer's window, the acknowledged bytes dropped from the send
    buffer, the RTT sample, congestion control, the retransmission timer, the application told there is room, and
    ``tcp_output`` of what it wrote), without the branches that cannot be taken here.  False, with nothing changed,
    when anything is unusual: a FIN queued, nothing to acknowledge or more than was sent, the SYN not yet
    acknowledged, recovery, SACK ranges or out-of-order data held, a read side closed, timestamps not as negotiated
    or failing PAWS (``_fast_input`` or the full path then takes it)."""
    # guard15: not ESTABLISHED, in recovery, SACK ranges or out-of-order data held, the read side closed: one field
    # kept by their writers (TcpPcb._unusual_check); no FIN queued follows from ESTABLISHED (only _queue_fin sets
    # fin_seq, and it moves an ESTABLISHED connection on: test_tcp_unusual holds it): 19 bytecodes less an ACK
    if pcb._unusual_in or seq != pcb.rcv_nxt:
        return False
    una = pcb.snd_una
    acked = (ack - una) & MASK
    if not acked or acked > (pcb.snd_max - una) & MASK or pcb.buf_seq != una:
        return False  # a duplicate or a window update; an ACK of what was never sent; the SYN's ACK still due
    ts_ok = pcb.ts_ok
    if ts_ok:
        if tsval is None or (tsval - pcb.ts_recent) & _HALF:
            return False  # no timestamp where one is due, or PAWS would reject it
        last = pcb.last_ack_sent
        if seq == last or (seq - last) & _HALF:  # seq <= last_ack_sent: RFC 7323 4.3
            pcb.ts_recent = tsval
    elif tsval is not None:
        return False
    # -- taken: _process_ack for an ACK of new data (RFC 9293 3.10.7.4: the window first)
    stack = pcb.stack
    now = stack.now
    pcb.last_activity = now
    pcb._take_window(seq, ack, window_field << pcb.snd_wscale)
    # _ack_advanced: no FIN and no SYN among what it acknowledges (checked above)
    snd_buf = pcb.snd_buf
    del snd_buf[:acked]
    left = len(snd_buf)  # its memory is counted after the callback (by the application's send, or below)
    pcb.buf_seq = pcb.snd_una = ack
    if (pcb.snd_nxt - ack) & _HALF:
        pcb.snd_nxt = ack  # acknowledges more than was sent since a timeout went back
    if pcb.retries:  # (lane2: a count running makes _unusual: see TcpPcb._unusual_check)
        pcb.retries = 0
        pcb._unusual_check()
    snd_max = pcb.snd_max
    pcb._ack_sample(ack, acked, tsecr, now, snd_max)  # the RTT sample and the congestion window (as Tcp.settle)
    if ack == snd_max:
        pcb.rto_at = None
    else:
        old = pcb.rto_at
        pcb.rto_at = when = now + pcb.rtt.rto  # _arm_rto
        if old is None or when < old:
            # tx8: LazyDeadlines.arm only when the deadline may move earlier: the heap's entry is never later than
            # the pcb's real deadline, so with an RTO at or before ``when`` already set it is at or before that, and
            # arm would return at once (a sender's every ACK re-arms the RTO later)
            pcb.tcp.timers.arm(pcb, when)
    # --- tx64: inside a batch, telling the application and tcp_output wait for its end while the flight stays large
    # (TcpInput._ack_advanced's rule: Tcp.flush_output does both then, once for the batch's ACKs)
    tcp = pcb.tcp
    if tcp.batching and (flight := (pcb.snd_nxt - ack) & MASK) >= _DEFER_SEGMENTS * pcb.snd_mss \
            and flight >= pcb._deferred_flight():  # (tx9: its least first, without the call)
        pcb._mem_snd()
        pcb._defer_output()
        return True
    if pcb._tx_source is not None and not pcb.tx_closed:
        room = pcb.snd_buf_limit - len(snd_buf)
        if room > 0:
            pcb._pull(room)  # tx9: the room filled from the stream source (the callback below only for room it left)
    if pcb.snd_buf_limit > len(snd_buf) and not pcb.tx_closed:  # send_space (tx9: room first: a source filled it)
        on_event = pcb.on_event
        if on_event is not None and pcb.notify_sent:
            pcb._corked = True  # gso: what the application writes goes out after it, whole (as _ack_advanced)
            try:
                on_event(pcb)
            finally:
                pcb._corked = False
    if len(snd_buf) == left:
        pcb._mem_snd()  # the application wrote nothing: count the buffer (a write counted it, trimmed and grown)
    # tcp_output after the callback (a no-op when nothing is unsent, no FIN queued and no refused segment to retry)
    if pcb.fin_seq is not None or pcb.txretry_at is not None:
        pcb._output()
    elif len(snd_buf) > ((pcb.snd_nxt - pcb.buf_seq) & MASK):
        # _output's first step (as send has it, tx9: a call less per ACK): the fast way, else the whole way
        if not tcp._fast_path or not pcb._output_fast():
            pcb._output_whole()
    # the rest of _process_ack and _fast_input, for what a callback may have changed (only it could have queued a
    # FIN, ended the connection or left SACK ranges); the segment was handled even when that ended the connection
    # (tx9: asked only when one of its three steps may act: no retransmission timer running, SACK ranges held, or a
    # FIN queued; a sender's ACK has its timer running, or acknowledged everything)
    if (pcb.rto_at is None or pcb.scoreboard.ranges or pcb.fin_seq is not None) and not pcb._ack_finish(ack):
        return True
    if pcb.unacked_segments and pcb.delack_at is None and pcb.state != CLOSED:
        pcb._arm_delack()  # as _fast_input ends for a segment without data
    return True
