"""libpq connection parameters in a URL's query: the names libpq takes and the values it checks (private).

libpq refuses a bad value only when it connects (``?sslmode=bogus``: "invalid sslmode
value"), after the configuration was accepted; :func:`query_problem` refuses it up front.
It knows the parameters whose values libpq checks before sending anything (enumerations,
whole numbers, numeric addresses); any other value (a host, a file name, an application
name) is libpq's to judge when it connects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["query_problem"]

_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "sslcertmode": ("disable", "allow", "require"),
    "sslnegotiation": ("postgres", "direct"),
    "load_balance_hosts": ("disable", "random"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
}
"""Parameters libpq takes one of a fixed set of words for, compared exactly (``REQUIRE`` is refused)."""

_TLS_VERSIONS: Final = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_TLS_PARAMETERS: Final = frozenset({"ssl_min_protocol_version", "ssl_max_protocol_version"})
"""Parameters naming a TLS version (compared ignoring case, as libpq does; empty means libpq's default)."""

_AUTH_METHODS: Final = ("password", "md5", "gss", "sspi", "scram-sha-256", "oauth", "none")
"""The methods ``require_auth`` lists (comma-separated, all or none prefixed ``!``)."""

_INTEGERS: Final = frozenset(
    {
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    }
)
"""Parameters libpq reads as a C int (``strtol``: an optional sign, whitespace around)."""

_INTEGER: Final = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_MAX_INT: Final = 2**31 - 1


def _integer_problem(value: str) -> str | None:
    if not _INTEGER.fullmatch(value) or not -_MAX_INT - 1 <= int(value) <= _MAX_INT:
        return "must be a whole number (ASCII digits, within a C int)"
    return None


def _port_problem(value: str) -> str | None:
    # one port, or one per host (comma-separated; empty means the default)
    for port in value.split(","):
        if port.strip() and (not _INTEGER.fullmatch(port) or not 1 <= int(port) <= 65535):
            return "must be a port number from 1 to 65535 (or a comma-separated list of them, one per host)"
    return None


def _address_problem(value: str) -> str | None:
    # numeric IP addresses, one per host (comma-separated; empty means: resolve the host name)
    for address in value.split(","):
        if address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return "must be a numeric IP address (or a comma-separated list of them, one per host)"
    return None


def _auth_problem(value: str) -> str | None:
    methods = value.split(",")
    negated = [method.startswith("!") for method in methods]
    if any(negated) and not all(negated):
        return "must list methods either all prefixed with '!' or none"
    unknown = [method for method in methods if method.removeprefix("!") not in _AUTH_METHODS]
    if unknown:
        return f"lists {unknown[0]!r}; the methods are {', '.join(_AUTH_METHODS)}"
    return None


def value_problem(name: str, value: str) -> str | None:
    """Why libpq would refuse ``value`` for the parameter ``name`` when connecting, or None."""
    choices = _CHOICES.get(name)
    if choices is not None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    if name in _TLS_PARAMETERS:
        known = {version.casefold() for version in _TLS_VERSIONS}
        return (
            None if not value or value.casefold() in known else f"must be one of {', '.join(_TLS_VERSIONS)}"
        )
    if name in _INTEGERS:
        return _integer_problem(value)
    if name == "port":
        return _port_problem(value)
    if name == "hostaddr":
        return _address_problem(value)
    if name == "require_auth":
        return _auth_problem(value)
    return None


def query_problem(query: Mapping[str, str | Sequence[str]]) -> str | None:
    """Why libpq would refuse the URL's query arguments ``query``, or None.

    A name libpq does not know (``?pool_size=5``, a typo), a name given twice, or a value
    libpq checks and would refuse when connecting (:func:`value_problem`).
    """
    if not query:
        return None
    from psycopg import ProgrammingError
    from psycopg.conninfo import make_conninfo

    for name, given in query.items():
        try:
            make_conninfo("", **{name: "1"})
        except ProgrammingError:
            return (
                f"the URL's query names {name!r}, which is not a libpq connection parameter "
                "(pool options go to DatabaseConfig, not the URL)"
            )
        if not isinstance(given, str):
            return f"the URL's query gives {name!r} {len(given)} times"
        problem = value_problem(name, given)
        if problem is not None:
            return f"the URL's query argument {name!r} {problem}, not {given!r}"
    return None
