"""ESP-IDF's lwIP hooks ("Customized lwIP Hooks" in the ESP-IDF guide) as typed slots: ``stack.hooks``.

ESP-IDF lets a project compile its own functions into lwIP through ``ESP_IDF_LWIP_HOOK_FILENAME`` and the
``CONFIG_LWIP_HOOK_*`` choices.  Here each hook is an attribute of :class:`Hooks` with lwIP's name, called where lwIP
calls it, with lwIP's arguments after one more first argument, the :class:`~lwipy.core.stack.Stack` (C reaches the
netif list through globals; a Python process may hold many stacks).  An attribute set to None is lwIP built without
that hook; the defaults are what ESP-IDF ships.

A hook file is a Python module whose functions carry hook names (``Config(hooks_file="my_hooks.py")``, the
equivalent of ``ESP_IDF_LWIP_HOOK_FILENAME``, or ``lwipy up --hooks my_hooks.py``)::

    # my_hooks.py
    def ip4_input(stack, packet, netif):          # LWIP_HOOK_IP4_INPUT
        return packet[9] == 1                     # True: eaten (here every ICMP packet is dropped)

    def tcp_isn(stack, local_ip, local_port, remote_ip, remote_port):
        return 12345

A function whose name looks like a hook but is none (``ip4_rout_src``, ``lwip_hook_ip6_route``), or whose
parameters do not fit the hook's, is a :class:`~lwipy.errors.ConfigError`; names beginning with ``_`` are helpers.

Hooks run on the core thread in the middle of packet processing: they must be quick and must not block.

==============================  ======================================================================================
``tcp_isn``                     ``(stack, local_ip, local_port, remote_ip, remote_port) -> int``: the initial sequence
                                number of a new connection (LWIP_HOOK_TCP_ISN; ESP-IDF's default: RFC 6528)
``ip4_input``                   ``(stack, packet, netif) -> bool``: an IPv4 packet as received, before the stack
                                looks at it; True when the hook took it (lwIP: "eaten"), and the stack drops it
``ip4_route_src``               ``(stack, src, dest) -> Netif | None``: the netif for a packet from ``src`` (our address)
                                to ``dest``; None: the routing table decides (LWIP_HOOK_IP4_ROUTE_SRC; ESP-IDF's
                                default: the up netif that has ``src``, see :func:`esp_ip4_route_src`)
``ip4_canforward``              ``(stack, packet, dest) -> int``: 1 forward, 0 do not, -1 lwIP's own rules decide
                                (LWIP_HOOK_IP4_CANFORWARD); asked, with ``ip_forward`` on, about unicast packets for
                                others (lwipy drops multicast of groups it did not join before)
``ip6_input``                   ``(stack, packet, netif) -> bool``: as ``ip4_input`` for IPv6 (LWIP_HOOK_IP6_INPUT;
                                ESP-IDF's default drops everything on a netif without a link-local address)
``ip6_route``                   ``(stack, src, dest) -> Netif | None``: the netif for ``dest`` (``src`` may be None)
                                before lwIP's own choice (LWIP_HOOK_IP6_ROUTE)
``nd6_get_gw``                  ``(stack, netif, dest) -> IPv6Address | None``: the next hop for an off-link ``dest``
                                out of ``netif``; None: a router from router discovery (LWIP_HOOK_ND6_GET_GW)
``ip6_select_source_address``   ``(stack, netif, dest) -> IPv6Address | None``: the source address for ``dest`` out of
                                ``netif``; None: RFC 6724 (LWIP_HOOK_IP6_SELECT_SRC_ADDR)
``dhcp_append_options``         ``(stack, netif, dhcp, state, msg, msg_type) -> bytes``: options to add to an outgoing
                                DHCP message (LWIP_HOOK_DHCP_APPEND_OPTIONS), raw option bytes (code, length, value);
                                called by :class:`~lwipy.apps.dhcp.DhcpClient` for every message it sends
``dhcp_parse_option``           ``(stack, netif, dhcp, state, msg, msg_type, option, value) -> None``: an option of a
                                received DHCP message (LWIP_HOOK_DHCP_PARSE_OPTION); the DHCP client calls it for
                                every option lwIP does not decode itself
``dns_external_resolve``        ``(stack, name, addrtype) -> address | None``: answer a name before DNS is asked
                                (LWIP_HOOK_DNS_EXTERNAL_RESOLVE); called by ``stack.dns.gethostbyname`` after the
                                numeric and ``localhost`` checks, before the local host list and the cache; None:
                                the resolver goes on; an LwipError raised fails the call (``addrtype`` is one of
                                ``lwipy.core.dns.LWIP_DNS_ADDRTYPE_*``)
``netconn_external_resolve``    ``(stack, name, addrtype) -> address | None``: the same at the start of
                                ``netconn_gethostbyname`` (LWIP_HOOK_NETCONN_EXTERNAL_RESOLVE), so also for the
                                sockets' ``getaddrinfo``; run on the core thread
==============================  ======================================================================================

Addresses are :mod:`ipaddress` objects; ``packet`` is a read-only view of the whole IP packet.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import os
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError
from .addr6 import is_link_local6

if TYPE_CHECKING:
    from .netif import Netif
    from .stack import Stack

__all__ = ["Hooks", "HOOK_PARAMETERS", "esp_ip4_route_src", "esp_ip6_input", "load_hooks_file", "no_core_check"]

#: every hook's parameters, as its documentation names them (the signature a hook file's function must accept)
HOOK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "tcp_isn": ("stack", "local_ip", "local_port", "remote_ip", "remote_port"),
    "ip4_input": ("stack", "packet", "netif"),
    "ip4_route_src": ("stack", "src", "dest"),
    "ip4_canforward": ("stack", "packet", "dest"),
    "ip6_input": ("stack", "packet", "netif"),
    "ip6_route": ("stack", "src", "dest"),
    "nd6_get_gw": ("stack", "netif", "dest"),
    "ip6_select_source_address": ("stack", "netif", "dest"),
    "dhcp_append_options": ("stack", "netif", "dhcp", "state", "msg", "msg_type"),
    "dhcp_parse_option": ("stack", "netif", "dhcp", "state", "msg", "msg_type", "option", "value"),
    "dns_external_resolve": ("stack", "name", "addrtype"),
    "netconn_external_resolve": ("stack", "name", "addrtype"),
}

# what a function name must start with to be taken for a (misspelt) hook rather than a helper of the hook file
_HOOKISH = ("tcp_", "ip4_", "ip6_", "ip_", "nd6_", "dhcp_", "dns_", "netconn_", "lwip_hook", "esp_")


def no_core_check() -> None:
    """``stack.assert_core`` while CONFIG_LWIP_CHECK_THREAD_SAFETY is off (``LWIP_ASSERT_CORE_LOCKED()`` compiled
    out): nothing to check.  The core's per-packet entry points compare ``stack.assert_core`` with it and call the hook
    only when it is something else (call12: a Python call less each, 8 ns)."""


def esp_ip4_route_src(stack: "Stack", src: IPv4Address, dest: IPv4Address) -> "Netif | None":
    """ESP-IDF's ``ip4_route_src_hook`` (lwip_default_hooks.c): a packet whose source is the address of a netif that
    is up, has its link and an address leaves through that netif; otherwise (None) the routing table decides."""
    return stack.routes.netif_with_address(src)


def esp_ip6_input(stack: "Stack", packet: memoryview, netif: "Netif") -> bool:
    """ESP-IDF's default ``lwip_hook_ip6_input``: eat every IPv6 packet arriving on a netif that has no link-local
    address yet (lwIP's first address slot is empty), so that a router's multicast advertisement cannot configure
    a netif nobody enabled IPv6 on.  The loopback netif's first address is ::1, as in lwIP."""
    addrs = netif.ip6_addrs
    return not netif.is_loopback and not (addrs and is_link_local6(addrs[0].addr))


@dataclass(eq=False)
class Hooks:
    """The hook slots of one stack (``stack.hooks``); see the module's documentation for each one's contract."""

    tcp_isn: Callable[..., int] = field(default=None)  # type: ignore[assignment]  # set by Tcp: RFC 6528 per stack
    ip4_input: Callable[["Stack", memoryview, "Netif"], bool] | None = None
    ip4_route_src: Callable[["Stack", IPv4Address, IPv4Address], "Netif | None"] | None = esp_ip4_route_src
    ip4_canforward: Callable[["Stack", memoryview, IPv4Address], int] | None = None
    ip6_input: Callable[["Stack", memoryview, "Netif"], bool] | None = esp_ip6_input
    ip6_route: Callable[["Stack", IPv6Address | None, IPv6Address], "Netif | None"] | None = None
    nd6_get_gw: Callable[["Stack", "Netif", IPv6Address], IPv6Address | None] | None = None
    ip6_select_source_address: Callable[["Stack", "Netif", IPv6Address], IPv6Address | None] | None = None
    dhcp_append_options: Callable[..., bytes] | None = None
    dhcp_parse_option: Callable[..., None] | None = None
    dns_external_resolve: Callable[..., Any] | None = None
    netconn_external_resolve: Callable[..., Any] | None = None
    #: the names of the hooks :meth:`install` (or a hooks file) set, in order
    installed: list[str] = field(default_factory=list, repr=False)
    #: in12: called after ``ip4_input`` is set (the stack's ``_ip4_detours_changed``: header prediction reads a flag
    #: that says whether anything may take an IPv4 packet before TCP; s21: and after ``ip6_input``, which moves
    #: ``Stack.way_generation`` on); not a field
    _ip4_input_watcher = None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if (name == "ip4_input" or name == "ip6_input") and self._ip4_input_watcher is not None:
            self._ip4_input_watcher()  # (s21: ip6_input too: fastpath.fast_input6's TcpPcb._rx6_ok)

    def install(self, functions: dict[str, Callable[..., Any]]) -> None:
        """Set the hooks named in ``functions`` (each checked as :func:`load_hooks_file` checks them)."""
        for name, fn in functions.items():
            _check(name, fn, "install")
            setattr(self, name, fn)
            self.installed.append(name)

    def load_file(self, path: str) -> list[str]:
        """Install the hook functions of the Python file ``path``; returns their names."""
        functions = load_hooks_file(path)
        self.install(functions)
        return sorted(functions)


def _check(name: str, fn: Any, where: str) -> None:
    if name not in HOOK_PARAMETERS:
        near = difflib.get_close_matches(name.removeprefix("lwip_hook_"), list(HOOK_PARAMETERS), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; the hooks are {', '.join(HOOK_PARAMETERS)}"
        raise ConfigError(f"{where}: {name!r} is no lwIP hook{hint}")
    if not callable(fn):
        raise ConfigError(f"{where}: hook {name} is {fn!r}, not a function")
    params = HOOK_PARAMETERS[name]
    try:
        inspect.signature(fn).bind(*params)
    except TypeError:
        raise ConfigError(f"{where}: hook {name} must take ({', '.join(params)}), but {getattr(fn, '__name__', fn)} "
                          f"takes {inspect.signature(fn)}") from None
    except ValueError:
        pass  # a builtin without a signature: taken on trust


def load_hooks_file(path: str) -> dict[str, Callable[..., Any]]:
    """Import the Python file ``path`` and return its hook functions by name.  A public function whose name looks
    like a hook's but is none, or a hook function whose parameters do not fit, is a ConfigError; so is a file that
    cannot be imported."""
    if not os.path.isfile(path):
        raise ConfigError(f"hooks file {path!r} does not exist")
    name = "lwipy_hooks_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"hooks file {path!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"hooks file {path!r} failed to load: {type(e).__name__}: {e}") from e
    found: dict[str, Callable[..., Any]] = {}
    for attr, value in vars(module).items():
        if attr.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
            continue  # helpers, and functions imported from elsewhere
        if attr in HOOK_PARAMETERS or attr.lower().startswith(_HOOKISH):
            _check(attr, value, f"hooks file {path}")
            found[attr] = value
    if not found:
        raise ConfigError(f"hooks file {path!r} defines none of the hooks ({', '.join(HOOK_PARAMETERS)})")
    return found


assert {f.name for f in fields(Hooks)} == set(HOOK_PARAMETERS) | {"installed"}
