"""MLD (RFC 2710, RFC 3810) host side for one stack, as lwIP's ``mld6.c`` with ESP-IDF's periodic reports.

A netif's groups are counted (``netif.ip6_groups``): the solicited-node group of each of its addresses and every
group a pcb joined.  Joining a group reports it at once and once more within ten seconds (RFC 2710 4: unsolicited
reports are repeated); leaving it sends Done to all-routers when we were the last to report it.  A query schedules
a report of the groups it asks about at a random time up to its maximum response delay, and a report heard from
another node for a group cancels ours (MLDv1 suppression).  All-nodes (ff02::1) is never reported.  Reports are
MLDv1, as lwIP sends them; an MLDv2 query is answered with an MLDv2 report (``MODE_IS_EXCLUDE``, no sources) when
``mld_v2`` asks for MLDv2, which is also used for unsolicited reports then.  With ``esp_mldv6_report`` every group
is reported again every ``esp_mldv6_report_interval`` seconds (ESP-IDF's ``ESP_MLDV6_REPORT``), so that a snooping
switch that lost state learns it again.  Timers run only while a report is pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LwipError, Malformed
from ..wire import icmpv6 as w6
from ..wire.ipv6 import NH_HOPOPTS, OPT_ROUTER_ALERT, ExtHeader, Ipv6Option, emit_padded_options
from ..wire.mld import (CHANGE_TO_EXCLUDE_MODE, MODE_IS_EXCLUDE, McastRecord, MldMessage, Mldv2Query, Mldv2Report,
                        parse_mld)
from .addr6 import ALL_MLDV2_ROUTERS, ALL_NODES, ALL_ROUTERS, UNSPECIFIED, is_link_local6, multicast_mac
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .ip6 import InPacket6
    from .netif import Netif
    from .stack import Stack

__all__ = ["Mld6", "Group6"]

UNSOLICITED_REPORT_INTERVAL = 10.0  # RFC 2710 7.10
_ROUTER_ALERT_MLD = emit_padded_options([Ipv6Option(OPT_ROUTER_ALERT, b"\x00\x00")])  # RFC 2711: value 0 is MLD


@dataclass(slots=True, eq=False)
class Group6:
    address: bytes
    refs: int = 0
    report_at: float | None = None
    repeat: bool = False  # the second unsolicited report is still to come
    last_reporter: bool = False
    v2: bool = False  # the pending report answers an MLDv2 query


class Mld6:
    """MLD for one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.groups: dict[int, dict[bytes, Group6]] = {}
        self.periodic_at: float | None = None

    def join(self, netif: "Netif", group: bytes) -> None:
        """``mld6_joingroup_netif``: count a membership; the first reports it (twice)."""
        groups = self.groups.setdefault(netif.index, {})
        g = groups.get(group)
        if g is None:
            g = groups[group] = Group6(group)
            _filter(netif, group, True)
        g.refs += 1
        netif.ip6_groups[group] = g.refs
        if g.refs == 1 and group != ALL_NODES:
            self._report(netif, g, self.stack.config.mld_v2, CHANGE_TO_EXCLUDE_MODE)
            g.repeat = True
            g.report_at = self.stack.now + self.stack.rng.uniform(0, UNSOLICITED_REPORT_INTERVAL)
            self.stack.timer_armed(g.report_at)
        self._arm_periodic()

    def leave(self, netif: "Netif", group: bytes) -> None:
        """``mld6_leavegroup_netif``: the last membership gone, Done goes out if we reported it last."""
        groups = self.groups.get(netif.index, {})
        g = groups.get(group)
        if g is None:
            return
        g.refs -= 1
        if g.refs > 0:
            netif.ip6_groups[group] = g.refs
            return
        del groups[group]
        netif.ip6_groups.pop(group, None)
        _filter(netif, group, False)
        if g.last_reporter and group != ALL_NODES:
            self._send(netif, MldMessage(w6.MLD_DONE, 0, group), ALL_ROUTERS)

    def is_member(self, netif: "Netif", group: bytes) -> bool:
        return group in self.groups.get(netif.index, {})

    def input(self, pkt: "InPacket6", message: memoryview) -> None:
        stats = self.stack._stats.mld6
        stats.recv += 1
        if not is_link_local6(pkt.src) or pkt.hdr.hop_limit != 1:
            stats.proterr += 1  # RFC 2710 5, RFC 3810 5.1.14: from a link-local source, hop limit 1
            stats.drop += 1
            return
        try:
            msg = parse_mld(message)
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        groups = self.groups.get(pkt.netif.index, {})
        if isinstance(msg, (MldMessage, Mldv2Query)) and msg.type == w6.MLD_QUERY:
            v2 = isinstance(msg, Mldv2Query) and self.stack.config.mld_v2
            delay = msg.max_resp_delay / 1000.0
            targets = list(groups.values()) if msg.address == UNSPECIFIED else \
                [groups[msg.address]] if msg.address in groups else []
            now = self.stack.now
            for g in targets:
                if g.address == ALL_NODES:
                    continue
                if g.report_at is None or now + delay < g.report_at:
                    g.report_at = now + self.stack.rng.uniform(0, delay)
                    self.stack.timer_armed(g.report_at)
                g.repeat, g.v2 = False, v2
        elif isinstance(msg, MldMessage) and msg.type == w6.MLD_REPORT:
            heard = groups.get(msg.address)
            if heard is not None and heard.report_at is not None and not heard.v2:
                heard.report_at, heard.last_reporter = None, False  # another listener answered (RFC 2710 4)

    def _report(self, netif: "Netif", g: Group6, v2: bool, mode: int = MODE_IS_EXCLUDE) -> None:
        if v2:
            sent = self._send(netif, Mldv2Report([McastRecord(mode, g.address)]), ALL_MLDV2_ROUTERS)
        else:
            sent = self._send(netif, MldMessage(w6.MLD_REPORT, 0, g.address), g.address)
        if sent:
            g.last_reporter = True

    def _send(self, netif: "Netif", msg: MldMessage | Mldv2Report, dst: bytes) -> bool:
        """An MLD message from our link-local address (the unspecified one before it is ours, RFC 3590 4), hop
        limit 1, behind a hop-by-hop header with the router alert (RFC 2710 3)."""
        stack = self.stack
        if not netif.is_usable or netif.is_loopback:
            return False
        src = next((a.addr for a in netif.ip6_addrs if a.usable and is_link_local6(a.addr)), UNSPECIFIED)
        n = msg.buffer_len
        pbuf = Pbuf.alloc(8 + n)
        ExtHeader(NH_HOPOPTS, w6.PROTO_ICMPV6, _ROUTER_ALERT_MLD).emit(pbuf.buf, pbuf.start)
        msg.emit(pbuf.buf, pbuf.start + 8)
        w6.fill_checksum(pbuf.buf, pbuf.start + 8, n, src, dst)
        try:
            stack.ip6.output(pbuf, src, dst, NH_HOPOPTS, hop_limit=1, netif=netif)
        except LwipError:
            stack._stats.mld6.err += 1
            return False
        stack._stats.mld6.xmit += 1
        return True

    def netif_up(self, netif: "Netif") -> None:
        """Report every group soon (``mld6_report_groups``)."""
        now = self.stack.now
        for g in self.groups.get(netif.index, {}).values():
            if g.address != ALL_NODES:
                g.report_at = now + self.stack.rng.uniform(0, 1.0)
                self.stack.timer_armed(g.report_at)

    def netif_removed(self, netif: "Netif") -> None:
        self.groups.pop(netif.index, None)

    def _arm_periodic(self) -> None:
        cfg = self.stack.config
        if cfg.esp_mldv6_report and self.periodic_at is None:
            self.periodic_at = self.stack.now + cfg.esp_mldv6_report_interval
            self.stack.timer_armed(self.periodic_at)

    def poll(self, now: float) -> None:
        for index, groups in self.groups.items():
            netif = self.stack.netif_by_index(index)
            if netif is None:
                continue
            for g in list(groups.values()):
                if g.report_at is not None and g.report_at <= now:
                    g.report_at = None
                    self._report(netif, g, g.v2 or self.stack.config.mld_v2,
                                 CHANGE_TO_EXCLUDE_MODE if g.repeat else MODE_IS_EXCLUDE)
                    g.repeat = g.v2 = False
        if self.periodic_at is not None and self.periodic_at <= now:
            self.periodic_at = None
            for index, groups in self.groups.items():
                netif = self.stack.netif_by_index(index)
                if netif is not None:
                    for g in groups.values():
                        if g.address != ALL_NODES:
                            self._report(netif, g, self.stack.config.mld_v2)
            if any(self.groups.values()):
                self._arm_periodic()

    def poll_at(self) -> float | None:
        due = self.periodic_at
        for gs in self.groups.values():
            for g in gs.values():
                t = g.report_at
                if t is not None and (due is None or t < due):
                    due = t
        return due


def _filter(netif: "Netif", group: bytes, add: bool) -> None:
    """Tell a driver that filters multicast (``mld_mac_filter``) to let the group's MAC through, or no more."""
    if not netif.is_ethernet:
        return  # no MAC filter on a point-to-point link
    if add:
        netif.device.add_multicast(multicast_mac(group))
    else:
        netif.device.remove_multicast(multicast_mac(group))
