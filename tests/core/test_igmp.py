"""IGMPv2 host behaviour with exact timers (RFC 2236)."""

from ipaddress import IPv4Address

from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from helpers import PEER_MAC, make_stack
from lwipy.wire.ethernet import mac_to_str

GROUP = "239.1.1.1"


def igmp_frames(dev):
    return [Ether(f) for f in dev.take() if Ether(f).haslayer(IGMP)]


def query(group="0.0.0.0", mrt=100, dst="224.0.0.1"):
    return bytes(Ether(dst="01:00:5e:00:00:01", src=mac_to_str(PEER_MAC)) /
                 IP(src="10.0.0.254", dst=dst, ttl=1) / IGMP(type=0x11, mrcode=mrt, gaddr=group))


def report_from_other(group=GROUP):
    return bytes(Ether(dst="01:00:5e:01:01:01", src=mac_to_str(PEER_MAC)) /
                 IP(src="10.0.0.200", dst=group, ttl=1) / IGMP(type=0x16, gaddr=group))


def test_join_sends_a_report_now_and_one_more_within_half_a_second():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    (first,) = igmp_frames(dev)
    assert first[IGMP].type == 0x16 and first[IGMP].gaddr == GROUP and first[IP].dst == GROUP
    assert first[IP].ttl == 1 and bytes(first[IP].options[0]) == b"\x94\x04\x00\x00"  # router alert
    assert first.dst == "01:00:5e:01:01:01"
    due = stack.poll_at()
    assert 0.1 <= due <= 0.5
    stack.poll(due)
    (second,) = igmp_frames(dev)
    assert second[IGMP].gaddr == GROUP
    assert stack.igmp.poll_at() is None  # no timer runs once nothing is pending
    assert stack.stats.igmp.tx_join == 1 and stack.stats.igmp.tx_report == 2


def test_general_query_is_answered_within_max_response_time():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.poll(stack.poll_at())
    dev.take()
    stack.input(netif, query(mrt=20), 10.0)  # 2.0 s
    due = stack.igmp.poll_at()
    assert 10.0 <= due <= 12.0
    stack.poll(due)
    (rep,) = igmp_frames(dev)
    assert rep[IGMP].gaddr == GROUP
    assert stack.stats.igmp.rx_general == 1


def test_another_members_report_suppresses_ours_and_then_we_do_not_leave_loudly():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.poll(stack.poll_at())
    stack.input(netif, query(), 5.0)
    stack.input(netif, report_from_other(), 5.01)
    assert stack.igmp.poll_at() is None
    dev.take()
    stack.poll(20.0)
    assert igmp_frames(dev) == []
    stack.igmp.leave(netif, GROUP)
    assert igmp_frames(dev) == []  # RFC 2236 3: only the last reporter needs to send a leave


def test_leave_by_last_reporter_goes_to_all_routers():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    dev.take()
    stack.igmp.leave(netif, GROUP)
    (leave,) = igmp_frames(dev)
    assert leave[IGMP].type == 0x17 and leave[IP].dst == "224.0.0.2"
    assert stack.igmp.poll_at() is None


def test_group_specific_query_and_v1_query():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.igmp.join(netif, "239.2.2.2")
    stack.poll(1.0)
    dev.take()
    stack.input(netif, query(group=GROUP, mrt=10, dst=GROUP), 2.0)
    stack.poll(3.1)
    assert [f[IGMP].gaddr for f in igmp_frames(dev)] == [GROUP]
    v1 = Ether(dst="01:00:5e:00:00:01", src=mac_to_str(PEER_MAC)) / IP(src="10.0.0.254", dst="224.0.0.1") / \
        IGMP(type=0x11, mrcode=0)
    stack.input(netif, bytes(v1), 5.0)
    assert stack.stats.igmp.rx_v1 == 1
    assert 5.0 <= stack.igmp.poll_at() <= 15.0


def test_joined_groups_are_counted_and_shared():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.igmp.join(netif, GROUP)
    dev.take()
    stack.igmp.leave(netif, GROUP)
    assert stack.igmp.is_member(netif, IPv4Address(GROUP)) and igmp_frames(dev) == []
    stack.igmp.leave(netif, GROUP)
    assert not stack.igmp.is_member(netif, IPv4Address(GROUP))


def test_general_query_not_to_all_systems_is_a_protocol_error():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.input(netif, query(dst=GROUP), 1.0)
    assert stack.stats.igmp.proterr == 1


def test_join_while_down_reports_when_the_netif_comes_up():
    stack, netif, dev = make_stack()
    netif.set_link_up(False)
    stack.igmp.join(netif, GROUP)
    assert igmp_frames(dev) == [] and stack.stats.igmp.tx_report == 0 and stack.stats.igmp.tx_join == 0
    stack.poll(1.0)
    netif.set_link_up(True)
    due = stack.igmp.poll_at()
    assert due is not None and 1.0 <= due <= 1.5
    stack.poll(due)
    assert [f[IGMP].gaddr for f in igmp_frames(dev)] == [GROUP]


def test_running_timer_is_kept_when_a_query_allows_longer():
    stack, netif, dev = make_stack()
    stack.igmp.join(netif, GROUP)
    stack.poll(1.0)
    stack.input(netif, query(mrt=10), 2.0)  # up to 1 s
    first = stack.igmp.poll_at()
    for _ in range(20):
        stack.input(netif, query(mrt=100), 2.0)  # up to 10 s: more than is left, so the timer stays
    assert stack.igmp.poll_at() == first
