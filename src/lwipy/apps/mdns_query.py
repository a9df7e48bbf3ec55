"""Moved to :mod:`lwipy.apps.mdns.query`; kept so that ``lwipy.apps.mdns_query`` imports still work."""

from .mdns.query import MdnsResult, MdnsSearch

__all__ = ["MdnsResult", "MdnsSearch"]
