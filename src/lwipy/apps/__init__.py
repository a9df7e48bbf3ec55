"""Applications on the core: sans-I/O machines driven by ``stack.poll`` through ``poll_at()`` deadlines."""

from .dhcp import DhcpBound, DhcpClient, DhcpLease, DhcpLost, DhcpState
from .dhcp6 import Dhcp6, Dhcp6State
from .dhcps import DhcpsAssigned, DhcpServer, DhcpsLease
from .echo import UdpEchoServer
from .mdns import MdnsResponder, MdnsResult, MdnsSearch, MdnsService
from .netbiosns import NetbiosNameService
from .ping import PingReply, PingSession
from .sntp import Sntp, SntpOpMode, SntpSynced, SntpSyncMode, SntpSyncStatus
from .router_advert import AdvertConfig, AdvertPrefix, AdvertRoute, RouterAdvertiser
from .tcp_services import TcpChargenServer, TcpDiscardServer, TcpEchoServer

__all__ = ["AdvertConfig", "AdvertPrefix", "AdvertRoute", "DhcpBound", "DhcpClient", "DhcpLease", "DhcpLost",
           "DhcpServer", "DhcpState", "DhcpsAssigned", "DhcpsLease", "Dhcp6", "Dhcp6State", "PingReply", "PingSession",
           "MdnsResponder", "MdnsResult", "MdnsSearch", "MdnsService", "NetbiosNameService",
           "RouterAdvertiser", "TcpChargenServer", "TcpDiscardServer", "TcpEchoServer", "UdpEchoServer",
           "Sntp", "SntpOpMode", "SntpSynced", "SntpSyncMode", "SntpSyncStatus"]
