"""The shared address helpers of lwipy.core.addr (and that the modules which had their own copies use them)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from lwipy.core import addr, dns, ports, raw, udp
from lwipy.core.addr import ANY4, ANY6, ip4, ip_any, is_multicast4, unmap
from lwipy.core.tcp import tcp


def test_unmap_parses_and_takes_ipv4_mapped_addresses_as_ipv4():
    assert unmap("10.1.2.3") == IPv4Address("10.1.2.3") and type(unmap("10.1.2.3")) is IPv4Address
    assert unmap("::ffff:10.1.2.3") == IPv4Address("10.1.2.3")
    assert unmap(IPv6Address("::ffff:c0a8:101")) == IPv4Address("192.168.1.1")
    assert unmap("2001:db8::1") == IPv6Address("2001:db8::1")
    assert unmap(ANY6) is ANY6 and unmap(ANY4) is ANY4


@given(st.integers(0, 2**32 - 1))
def test_unmap_of_a_mapped_address_is_the_address_it_maps(n):
    v4 = IPv4Address(n)
    assert unmap(IPv6Address(0xFFFF << 32 | n)) == v4 == unmap(str(v4)) == ip4(str(v4))
    assert is_multicast4(v4) == v4.is_multicast


def test_ip_any_parses_text_and_passes_anything_else():
    assert ip_any("fe80::1") == IPv6Address("fe80::1") and ip_any("10.0.0.1") == IPv4Address("10.0.0.1")
    assert ip_any(None) is None and ip_any(ANY4) is ANY4


def test_the_core_modules_share_one_set_of_helpers():
    assert udp.unmap is tcp.unmap is dns.unmap is addr.unmap
    assert udp.ANY is raw.ANY is ANY4 and udp.ANY6 is tcp.ANY6 is ANY6
    assert udp.IpAddress is tcp.IpAddress is dns.IpAddress is addr.IpAddress
    assert ports.addresses_overlap(ANY6, False, IPv4Address("10.0.0.1"), False)
    assert not ports.addresses_overlap(ANY6, True, IPv4Address("10.0.0.1"), False)
