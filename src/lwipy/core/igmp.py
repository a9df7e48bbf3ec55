"""IGMPv2 host side (RFC 2236), as lwIP's ``igmp.c``: memberships per netif with on-demand report timers.

Theory of operation
-------------------
Joining a group sends a report at once and a second one after a random delay of up to 0.5 s (lwIP's
``IGMP_JOIN_DELAYING_MEMBER_TMR``), so one lost report does not cost the membership.  A query starts, for each group
it covers, a timer of random length up to its max response time (10 s for an IGMPv1 query, whose field is 0); when the
timer fires we report, unless another host's report for the group was heard first, which cancels ours (RFC 2236 3).
Leaving sends a leave to 224.0.0.2 if we were the last to report.  224.0.0.1 (all systems) is joined implicitly and
never reported.  No timer runs while no report is pending.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from ..errors import ChecksumError, LwipError, Malformed
from ..wire.igmp import LEAVE_GROUP, MEMB_QUERY, MESSAGE_LEN, V1_MEMB_REPORT, V2_MEMB_REPORT, IgmpMessage
from ..wire.ethernet import ipv4_multicast_mac
from ..wire.ipv4 import OPTION_ROUTER_ALERT, PROTO_IGMP
from .events import Ip4AddressChanged, LinkUp, NetifUp
from .pbuf import Pbuf

if TYPE_CHECKING:
    from .ip4 import InPacket
    from .netif import Netif
    from .stack import Stack

__all__ = ["Igmp", "Group"]

ALL_SYSTEMS = IPv4Address("224.0.0.1")
ALL_ROUTERS = IPv4Address("224.0.0.2")
_JOIN_DELAY = 0.5
_V1_MAX_RESP = 10.0


@dataclass(slots=True, eq=False)
class Group:
    address: IPv4Address
    users: int = 1
    report_at: float | None = None
    last_reporter: bool = False


class Igmp:
    """IGMP memberships of every netif of one stack."""

    def __init__(self, stack: "Stack") -> None:
        self.stack = stack
        self.groups: dict[int, dict[IPv4Address, Group]] = {}

    def is_member(self, netif: "Netif", group: IPv4Address) -> bool:
        groups = self.groups.get(netif.index)
        return groups is not None and group in groups

    def memberships(self, netif: "Netif") -> list[IPv4Address]:
        return list(self.groups.get(netif.index, {}))

    def join(self, netif: "Netif", group: str | IPv4Address) -> None:
        """``igmp_joingroup_netif``: count one more user of ``group`` on ``netif``; the first one reports."""
        self.stack.assert_core()
        group = IPv4Address(group)
        if not group.is_multicast:
            raise LwipError(errno.EINVAL, f"{group} is not a multicast address")
        groups = self.groups.setdefault(netif.index, {})
        member = groups.get(group)
        if member is not None:
            member.users += 1
            return
        limit = self.stack.config.max_igmp_groups
        if len(groups) >= limit:
            raise LwipError(errno.ENOMEM, f"all {limit} multicast groups of {netif.name} are in use (max_igmp_groups)")
        groups[group] = member = Group(group)
        _add_device_filter(netif, group)
        if group == ALL_SYSTEMS:
            return
        if self._report(netif, member):
            self.stack._stats.igmp.tx_join += 1
        member.report_at = self.stack.now + self.stack.rng.uniform(0.1, _JOIN_DELAY)
        self.stack.timer_armed(member.report_at)

    def leave(self, netif: "Netif", group: str | IPv4Address) -> None:
        """``igmp_leavegroup_netif``: one user fewer; the last one leaves (and says so if it reported last)."""
        self.stack.assert_core()
        group = IPv4Address(group)
        groups = self.groups.get(netif.index, {})
        member = groups.get(group)
        if member is None:
            raise LwipError(errno.EADDRNOTAVAIL, f"{netif.name} is not a member of {group}")
        member.users -= 1
        if member.users > 0:
            return
        del groups[group]
        _remove_device_filter(netif, group)
        if member.last_reporter and group != ALL_SYSTEMS and self._send(netif, LEAVE_GROUP, group, ALL_ROUTERS):
            self.stack._stats.igmp.tx_leave += 1

    def input(self, pkt: "InPacket", data: memoryview) -> None:
        stats = self.stack._stats.igmp
        stats.recv += 1
        try:
            msg = IgmpMessage.parse(data)
        except ChecksumError:
            stats.chkerr += 1
            stats.drop += 1
            return
        except Malformed:
            stats.lenerr += 1
            stats.drop += 1
            return
        groups = self.groups.get(pkt.netif.index, {})
        group = IPv4Address(msg.group)
        if msg.type == MEMB_QUERY:
            if msg.max_resp == 0 and len(data) == MESSAGE_LEN:
                stats.rx_v1 += 1
                max_resp = _V1_MAX_RESP
            else:
                max_resp = max(msg.max_resp, 1) / 10.0
            if group == IPv4Address(0):
                if pkt.dst != ALL_SYSTEMS:
                    stats.proterr += 1
                    stats.drop += 1
                    return
                stats.rx_general += 1
                targets = list(groups.values())
            else:
                stats.rx_group += 1
                targets = [groups[group]] if group in groups else []
            for member in targets:
                if member.address != ALL_SYSTEMS:
                    self._delay(member, max_resp)
        elif msg.type in (V1_MEMB_REPORT, V2_MEMB_REPORT):
            stats.rx_report += 1
            heard = groups.get(group)
            if heard is not None and heard.report_at is not None:
                heard.report_at = None  # another member reported first: ours is not needed (RFC 2236 3)
                heard.last_reporter = False
        elif msg.type != LEAVE_GROUP:
            stats.proterr += 1
            stats.drop += 1

    def _delay(self, member: Group, max_resp: float) -> None:
        """RFC 2236 3: start a random timer up to ``max_resp``; a running one is reset only if ``max_resp`` is less
        than the time it has left."""
        now = self.stack.now
        if member.report_at is None or now + max_resp < member.report_at:
            member.report_at = now + self.stack.rng.uniform(0.0, max_resp)
            self.stack.timer_armed(member.report_at)

    def _report(self, netif: "Netif", member: Group) -> bool:
        if not self._send(netif, V2_MEMB_REPORT, member.address, member.address):
            return False
        member.last_reporter = True
        self.stack._stats.igmp.tx_report += 1
        return True

    def report_groups(self, netif: "Netif") -> None:
        """``igmp_report_groups``: the netif came up (or got its address): report every group soon."""
        for member in self.groups.get(netif.index, {}).values():
            if member.address != ALL_SYSTEMS:
                self._delay(member, _JOIN_DELAY)

    def netif_event(self, event: Any) -> None:
        """A subscriber of :mod:`.events`: a netif that becomes usable with an address, or gets a new one, reports
        its groups again (lwIP's ``netif_issue_reports``)."""
        netif = event.netif
        if netif.is_loopback or netif.device is None or netif.ip4 is None or not netif.is_usable:
            return
        if isinstance(event, (Ip4AddressChanged, NetifUp, LinkUp)):
            self.report_groups(netif)

    def _send(self, netif: "Netif", type_: int, group: IPv4Address, dst: IPv4Address) -> bool:
        if netif.ip4 is None or not netif.is_usable:
            return False
        pbuf = Pbuf.alloc(MESSAGE_LEN)
        IgmpMessage(type_, 0, group.packed).emit(pbuf.buf, pbuf.start)
        try:
            self.stack.ip4.output(pbuf, netif.ip4.ip, dst, PROTO_IGMP, ttl=1, options=OPTION_ROUTER_ALERT, netif=netif)
        except LwipError:
            self.stack._stats.igmp.err += 1
            return False
        self.stack._stats.igmp.xmit += 1
        return True

    def netif_removed(self, netif: "Netif") -> None:
        self.groups.pop(netif.index, None)

    def poll(self, now: float) -> None:
        for index, groups in self.groups.items():
            netif = self.stack.netif_by_index(index)
            for member in groups.values():
                if member.report_at is not None and now >= member.report_at:
                    member.report_at = None
                    if netif is not None:
                        self._report(netif, member)

    def poll_at(self) -> float | None:
        due = None
        for g in self.groups.values():
            for m in g.values():
                t = m.report_at
                if t is not None and (due is None or t < due):
                    due = t
        return due


def _add_device_filter(netif: "Netif", group: IPv4Address) -> None:
    """Tell a driver that filters multicast (``igmp_mac_filter``) to let the group's MAC through."""
    if netif.is_ethernet:
        netif.device.add_multicast(ipv4_multicast_mac(group.packed))


def _remove_device_filter(netif: "Netif", group: IPv4Address) -> None:
    if netif.is_ethernet:
        netif.device.remove_multicast(ipv4_multicast_mac(group.packed))
