"""Rules: what every adapter and service of hexalchemy applies the same way.

The value domain (which values each field type accepts and how each is stored), validation
of the ports' value types, ids, hashing and policies live here, once, so that the in-memory
and SQL adapters cannot disagree. This package imports only the standard library, attrs and
:mod:`hexalchemy.ports`; adapters and application services import it.
"""

__all__: list[str] = []
