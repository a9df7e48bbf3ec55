"""ESP-IDF's mDNS component for a lwipy stack: :class:`MdnsResponder` (RFC 6762 responder with RFC 6763 services)
and its querier.

The responder is one class assembled from the parts of this package:

- :mod:`.records`: names, TTLs, :class:`MdnsService` and the records each unique name publishes;
- :mod:`.probe`: probing, announcing, goodbyes, conflicts and renaming (the owners' state machine);
- :mod:`.answer`: answering queries (known-answer and duplicate suppression, NSEC, additionals, legacy unicast);
- :mod:`.query`: the querier (``mdns_query_*``: :class:`MdnsSearch`, :class:`MdnsResult`);
- :mod:`.responder`: :class:`MdnsResponder` itself: the API, netifs, input and ``poll``.

The thread-safe ESP-IDF-shaped API (``mdns_init``, ``mdns_query_a``...) over a running loop is
:mod:`lwipy.api.mdns`.
"""

from .query import MdnsResult, MdnsSearch
from .records import HOST_TTL, SERVICE_TTL, MdnsService, mangle_name
from .responder import MdnsResponder

__all__ = ["MdnsResponder", "MdnsService", "MdnsResult", "MdnsSearch", "HOST_TTL", "SERVICE_TTL", "mangle_name"]
