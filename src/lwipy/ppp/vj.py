"""Van Jacobson TCP/IP header compression (RFC 1144; lwIP's ``vj.c``), both directions of one PPP link.

Theory of operation: each side keeps up to ``maxslot + 1`` connection states (slots) holding the last IPv4+TCP header
of a flow.  The compressor sends the first segment of a flow, or any it cannot describe by small deltas, as
VJ-Uncompressed (protocol 0x2F: the whole packet, its IP protocol byte replaced by the slot number); the rest as
VJ-Compressed (0x2D): a change mask, the slot (unless it is the one last sent and the peer allowed the slot id to be
left out), the TCP checksum, then the deltas of urgent pointer, window, ack, sequence and IP id that the mask names,
and the payload.  Two special masks encode the common cases without deltas (RFC 1144 3.2.3: SPECIAL_I, echoed
interactive traffic; SPECIAL_D, unidirectional data).  Segments with SYN, FIN or RST, without ACK, fragments and
non-TCP packets go as plain IP.  The decompressor rebuilds the headers from its slot and recomputes the IP checksum;
after a frame is lost (a bad FCS) it tosses compressed packets until one names its slot explicitly or an
uncompressed one arrives (RFC 1144 4.3, ``vj_uncompress_err``).
"""

from __future__ import annotations

import struct

from ..wire.ppp import PPP_IP, PPP_VJC_COMP, PPP_VJC_UNCOMP

__all__ = ["VjCompressor", "VjDecompressor", "VjPair"]

NEW_C, NEW_I, NEW_S, NEW_A, NEW_W, NEW_U = 0x40, 0x20, 0x08, 0x04, 0x02, 0x01
TCP_PUSH_BIT = 0x10
SPECIAL_I = NEW_S | NEW_W | NEW_U
SPECIAL_D = NEW_S | NEW_A | NEW_W | NEW_U
SPECIALS_MASK = NEW_S | NEW_A | NEW_W | NEW_U
MAX_HDR = 128
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_H = struct.Struct("!H")
_I = struct.Struct("!I")


def _encode(out: bytearray, n: int) -> None:
    """ENCODE: a nonzero delta in one byte, or 0 and two bytes when it is 256 or more."""
    if n >= 256 or n == 0:
        out += b"\x00" + _H.pack(n)
    else:
        out.append(n)


class _Slot:
    __slots__ = ("hdr", "hlen", "key")

    def __init__(self) -> None:
        self.hdr = bytearray()
        self.hlen = 0
        self.key = b""


class VjCompressor:
    """The sending half (``vj_compress_tcp``): ``maxslot`` and ``compress_slot`` from the peer's IPCP option."""

    def __init__(self, maxslot: int = 15, compress_slot: bool = True) -> None:
        self.slots = [_Slot() for _ in range(maxslot + 1)]
        self.lru = list(range(maxslot + 1))  # most recently used first
        self.compress_slot = compress_slot
        self.last_xmit = -1
        self.compressed = 0
        self.uncompressed = 0
        self.plain = 0

    def compress(self, packet: bytes | bytearray | memoryview) -> tuple[int, bytes]:
        """``(protocol, data)`` for one IPv4 packet: PPP_IP, PPP_VJC_UNCOMP or PPP_VJC_COMP."""
        ip = bytes(packet)
        n = len(ip)
        if n < 40 or ip[9] != 6 or (ip[6] & 0x3F) or ip[7]:
            self.plain += 1
            return PPP_IP, ip
        ihl = (ip[0] & 0x0F) * 4
        if n < ihl + 20:
            self.plain += 1
            return PPP_IP, ip
        th = ihl
        flags = ip[th + 13]
        if (flags & (TCP_SYN | TCP_FIN | TCP_RST)) or not flags & TCP_ACK:
            self.plain += 1
            return PPP_IP, ip
        thlen = (ip[th + 12] >> 4) * 4
        hlen = ihl + thlen
        if hlen > MAX_HDR or n < hlen:
            self.plain += 1
            return PPP_IP, ip
        key = ip[12:20] + ip[th:th + 4]
        idx = None
        for i in self.lru:
            if self.slots[i].key == key:
                idx = i
                break
        if idx is None:
            idx = self.lru[-1]  # the least recently used slot
            return self._uncompressed(idx, ip, hlen, key)
        self.lru.remove(idx)
        self.lru.insert(0, idx)
        cs = self.slots[idx]
        old = cs.hdr
        oth = (old[0] & 0x0F) * 4
        if (ip[0:2] != old[0:2] or ip[6:10] != old[6:10] or ip[th + 12] >> 4 != old[oth + 12] >> 4
                or ip[20:ihl] != old[20:oth] or ip[th + 20:hlen] != old[oth + 20:cs.hlen]):
            return self._uncompressed(idx, ip, hlen, key)
        out = bytearray()
        changes = 0
        urp = _H.unpack_from(ip, th + 18)[0]
        if flags & TCP_URG:
            _encode(out, urp)  # ENCODEZ
            changes |= NEW_U
        elif urp != _H.unpack_from(old, oth + 18)[0]:
            return self._uncompressed(idx, ip, hlen, key)
        dw = (_H.unpack_from(ip, th + 14)[0] - _H.unpack_from(old, oth + 14)[0]) & 0xFFFF
        if dw:
            _encode(out, dw)
            changes |= NEW_W
        da = (_I.unpack_from(ip, th + 8)[0] - _I.unpack_from(old, oth + 8)[0]) & 0xFFFFFFFF
        if da:
            if da > 0xFFFF:
                return self._uncompressed(idx, ip, hlen, key)
            _encode(out, da)
            changes |= NEW_A
        ds = (_I.unpack_from(ip, th + 4)[0] - _I.unpack_from(old, oth + 4)[0]) & 0xFFFFFFFF
        if ds:
            if ds > 0xFFFF:
                return self._uncompressed(idx, ip, hlen, key)
            _encode(out, ds)
            changes |= NEW_S
        old_len = _H.unpack_from(old, 2)[0]
        if changes == 0:
            # nothing changed: a data packet after a pure ack goes compressed, anything else (a retransmission, a
            # repeated ack) uncompressed
            if not (_H.unpack_from(ip, 2)[0] != old_len and old_len == cs.hlen):
                return self._uncompressed(idx, ip, hlen, key)
        elif changes in (SPECIAL_I, SPECIAL_D):
            return self._uncompressed(idx, ip, hlen, key)
        elif changes == NEW_S | NEW_A:
            if ds == da and ds == old_len - cs.hlen:
                changes = SPECIAL_I
                out.clear()
        elif changes == NEW_S:
            if ds == old_len - cs.hlen:
                changes = SPECIAL_D
                out.clear()
        di = (_H.unpack_from(ip, 4)[0] - _H.unpack_from(old, 4)[0]) & 0xFFFF
        if di != 1:
            _encode(out, di)  # ENCODEZ
            changes |= NEW_I
        if flags & TCP_PSH:
            changes |= TCP_PUSH_BIT
        cs.hdr = bytearray(ip[:hlen])
        cs.hlen = hlen
        head = bytearray()
        if not self.compress_slot or self.last_xmit != idx:
            self.last_xmit = idx
            head.append(changes | NEW_C)
            head.append(idx)
        else:
            head.append(changes)
        head += ip[th + 16:th + 18]  # the TCP checksum, as it is
        self.compressed += 1
        return PPP_VJC_COMP, bytes(head + out) + ip[hlen:]

    def _uncompressed(self, idx: int, ip: bytes, hlen: int, key: bytes) -> tuple[int, bytes]:
        if idx in self.lru:
            self.lru.remove(idx)
        self.lru.insert(0, idx)
        cs = self.slots[idx]
        cs.hdr = bytearray(ip[:hlen])
        cs.hlen = hlen
        cs.key = key
        self.last_xmit = idx
        self.uncompressed += 1
        return PPP_VJC_UNCOMP, ip[:9] + bytes([idx]) + ip[10:]


class VjDecompressor:
    """The receiving half (``vj_uncompress_uncomp`` / ``vj_uncompress_tcp``)."""

    def __init__(self, maxslot: int = 15) -> None:
        self.slots = [_Slot() for _ in range(maxslot + 1)]
        self.last_recv = -1
        self.toss = True  # nothing known yet: compressed packets without a slot id are tossed
        self.errors = 0
        self.tossed = 0

    def error(self) -> None:
        """A frame was lost (``vj_uncompress_err``): toss until the slot is named again."""
        self.toss = True

    def uncompressed(self, data: bytes) -> bytes | None:
        """A VJ-Uncompressed packet: remember its header, give back the IP packet."""
        if len(data) < 40:
            self.errors += 1
            self.toss = True
            return None
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 20:
            self.errors += 1
            self.toss = True
            return None
        hlen = ihl + (data[ihl + 12] >> 4) * 4
        idx = data[9]
        if idx >= len(self.slots) or hlen > MAX_HDR or len(data) < hlen:
            self.errors += 1
            self.toss = True
            return None
        packet = data[:9] + b"\x06" + data[10:]
        cs = self.slots[idx]
        cs.hdr = bytearray(packet[:hlen])
        cs.hlen = hlen
        self.last_recv = idx
        self.toss = False
        return packet

    def compressed(self, data: bytes) -> bytes | None:
        """A VJ-Compressed packet: the IP packet rebuilt, or None (tossed or malformed)."""
        try:
            return self._compressed(data)
        except IndexError:
            self.errors += 1
            self.toss = True
            return None

    def _compressed(self, data: bytes) -> bytes | None:
        i = 0
        changes = data[i]
        i += 1
        if changes & NEW_C:
            idx = data[i]
            i += 1
            if idx >= len(self.slots) or not self.slots[idx].hlen:
                self.errors += 1
                self.toss = True
                return None
            self.toss = False
            self.last_recv = idx
        elif self.toss:
            self.tossed += 1
            return None
        cs = self.slots[self.last_recv]
        hdr = cs.hdr
        th = (hdr[0] & 0x0F) * 4
        hdr[th + 16:th + 18] = data[i:i + 2]
        if len(data) < i + 2:
            raise IndexError
        i += 2
        if changes & TCP_PUSH_BIT:
            hdr[th + 13] |= TCP_PSH
        else:
            hdr[th + 13] &= ~TCP_PSH & 0xFF

        def decode() -> int:
            nonlocal i
            if data[i] == 0:
                v = (data[i + 1] << 8) | data[i + 2]
                i += 3
            else:
                v = data[i]
                i += 1
            return v

        def add32(off: int, v: int) -> None:
            hdr[off:off + 4] = _I.pack((_I.unpack_from(hdr, off)[0] + v) & 0xFFFFFFFF)

        special = changes & SPECIALS_MASK
        if special == SPECIAL_I:
            d = _H.unpack_from(hdr, 2)[0] - cs.hlen
            add32(th + 8, d)
            add32(th + 4, d)
        elif special == SPECIAL_D:
            add32(th + 4, _H.unpack_from(hdr, 2)[0] - cs.hlen)
        else:
            if changes & NEW_U:
                hdr[th + 13] |= TCP_URG
                hdr[th + 18:th + 20] = _H.pack(decode())
            else:
                hdr[th + 13] &= ~TCP_URG & 0xFF
            if changes & NEW_W:
                hdr[th + 14:th + 16] = _H.pack((_H.unpack_from(hdr, th + 14)[0] + decode()) & 0xFFFF)
            if changes & NEW_A:
                add32(th + 8, decode())
            if changes & NEW_S:
                add32(th + 4, decode())
        if changes & NEW_I:
            hdr[4:6] = _H.pack((_H.unpack_from(hdr, 4)[0] + decode()) & 0xFFFF)
        else:
            hdr[4:6] = _H.pack((_H.unpack_from(hdr, 4)[0] + 1) & 0xFFFF)
        if i > len(data):
            raise IndexError
        payload = data[i:]
        hdr[2:4] = _H.pack(cs.hlen + len(payload))
        _ip_checksum_into(hdr, th)
        return bytes(hdr) + payload


def _ip_checksum_into(hdr: bytearray, ihl: int) -> None:
    """Recompute the IPv4 header checksum of ``hdr[:ihl]`` in place."""
    hdr[10:12] = b"\x00\x00"
    s = int.from_bytes(hdr[:ihl], "big") % 0xFFFF
    hdr[10:12] = _H.pack((~s) & 0xFFFF if s else 0)


class VjPair:
    """Both directions for one link, as IPCP negotiated them: ``tx`` = (max slot id, comp-slot-id flag) of the
    peer's option (we compress), ``rx`` = ours (the peer compresses)."""

    def __init__(self, tx: tuple[int, int] | None, rx: tuple[int, int] | None) -> None:
        self.tx_enabled = tx is not None
        self.comp = VjCompressor(tx[0], bool(tx[1])) if tx is not None else None
        self.decomp = VjDecompressor(rx[0] if rx is not None else 15)

    def compress(self, packet: bytes | bytearray | memoryview) -> tuple[int, bytes]:
        assert self.comp is not None
        return self.comp.compress(packet)

    def uncompress(self, protocol: int, data: bytes) -> bytes | None:
        if protocol == PPP_VJC_UNCOMP:
            return self.decomp.uncompressed(data)
        return self.decomp.compressed(data)
