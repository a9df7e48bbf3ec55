"""Wire formats: one module per protocol, each a parsed header (``parse``) that can write itself (``emit``).

``parse`` checks every length once and raises :class:`~lwipy.errors.Malformed` for bytes that cannot be the protocol;
it returns the header and a ``memoryview`` of the payload, never a copy.  ``emit`` writes the header into a caller's
buffer at an offset (the room reserved up front by :class:`~lwipy.core.pbuf.Pbuf`).
"""
