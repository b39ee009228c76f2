"""How PyMySQL and aiomysql write a value into SQL text: the bulk insert writes its rows the same way.

Both drivers bind on the client: ``executemany`` writes each parameter into the statement
with the connection's ``literal`` (PyMySQL's converters). The bulk insert's generated
function (``mariadb._bulk.LiteralRows``) writes its rows itself, each value by
:func:`literal_expression`: inline for the types a table's columns hold (``str``, ``int``,
``bool``, ``Decimal``, ``UUID``, a naive ``datetime``, ``date``), written exactly as
PyMySQL's converters write them, and by :attr:`DriverLiterals.literal` -- the driver's own
way, through PyMySQL's public converters -- for any other value.

That is what a connection with the drivers' defaults writes: backslash escapes (no
``NO_BACKSLASH_ESCAPES`` in its session's ``sql_mode``), PyMySQL's encoders, no
``binary_prefix``. :meth:`DriverLiterals.writes_like` asks the connection itself before
each insert; where it writes otherwise, the rows go by the driver's ``executemany``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import attrs

__all__ = ["DriverLiterals", "driver_literals", "literal_expression"]

converters: Any = importlib.import_module("pymysql.converters")  # untyped; aiomysql writes values with it too

_CHARSET: Final = "utf8mb4"
"""Passed to ``escape_item`` as the connections pass theirs: only a sequence's items would see it, and they ignore it."""

_FAST: Final[dict[type, str]] = {
    str: "_Q + _escape_string({v}) + _Q",
    int: "_int_text({v})",
    bool: "(_ONE if {v} else _ZERO)",
    Decimal: "_format({v}, _PLAIN)",
    uuid.UUID: "_Q + _str({v}) + _Q",
    dt.datetime: "_Q + {v}.isoformat(_SPACE) + _Q",
    dt.date: "_Q + {v}.isoformat() + _Q",
}
"""A value of exactly the type, written as PyMySQL's converters write it (``escape_str``, ``escape_int``,
``escape_bool``, ``Decimal2Literal``, ``escape_str`` of its text, ``escape_datetime`` of a naive one, ``escape_date``)."""

_GUARDS: Final[dict[type, str]] = {dt.datetime: "type({v}) is _DT and {v}.tzinfo is None"}
"""Where more than the exact type must hold (``escape_datetime`` drops a zone, ``isoformat`` would write it)."""

NAMESPACE: Final[dict[str, Any]] = {
    "_Q": "'",
    "_NULL": "NULL",
    "_ONE": "1",
    "_ZERO": "0",
    "_PLAIN": "f",
    "_SPACE": " ",
    "_escape_string": converters.escape_string,
    "_int_text": int.__repr__,
    "_format": format,
    "_str": str,
    "_DT": dt.datetime,
    "_T_str": str,
    "_T_int": int,
    "_T_bool": bool,
    "_T_Decimal": Decimal,
    "_T_UUID": uuid.UUID,
    "_T_date": dt.date,
}
"""The names :func:`literal_expression`'s expressions use."""


def literal_expression(var: str, expected: type | None, *, nullable: bool = False) -> str:
    """A Python expression writing the value of ``var`` as the driver would, fast when it is exactly of type ``expected``.

    ``_literal`` (bind it to :attr:`DriverLiterals.literal`) writes any other value, None
    included; ``nullable``: None is written ``NULL`` at once. The expression uses
    :data:`NAMESPACE`'s names and no quotes, so it fits in an f-string.
    """
    fast = _FAST.get(expected) if expected is not None else None
    if fast is None or expected is None:
        written = f"_literal({var})"
    else:
        guard = _GUARDS.get(expected, f"type({{v}}) is _T_{expected.__name__}").format(v=var)
        written = f"({fast.format(v=var)} if {guard} else _literal({var}))"
    return f"(_NULL if {var} is None else {written})" if nullable else written


def _pymysql_literal(value: object) -> str:
    """``Connection.literal`` of a PyMySQL connection with the defaults (no ``binary_prefix``, PyMySQL's encoders)."""
    if isinstance(value, str):
        escaped: str = converters.escape_string(value)
        return "'" + escaped + "'"
    if isinstance(value, (bytes, bytearray)):
        text: str = converters.escape_bytes(value)
        return text
    written: str = converters.escape_item(value, _CHARSET, converters.encoders)
    return written


def _aiomysql_literal(value: object) -> str:
    """``Connection.literal`` of an aiomysql connection (its bytes always ``_binary``-prefixed)."""
    if isinstance(value, str):
        escaped: str = converters.escape_string(value)
        return "'" + escaped + "'"
    if isinstance(value, bytes):
        text: str = converters.escape_bytes_prefixed(value)
        return text
    written: str = converters.escape_item(value, _CHARSET)
    return written


_SAMPLES: Final[tuple[object, ...]] = (
    "plain",
    'it\'s a \\ "quote" \x00 \n \r \x1a %s 🙂',
    b"b'\\\x00\xff",
    bytearray(b"\\'"),
    0,
    -9_223_372_036_854_775_808,
    True,
    False,
    1.5,
    Decimal("-1.50"),
    Decimal("1E+3"),
    uuid.UUID(int=1),
    dt.datetime(2001, 2, 3, 4, 5, 6, 7),
    dt.datetime(2001, 2, 3),
    dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    dt.date(2001, 2, 3),
    dt.time(1, 2, 3, 4),
    dt.timedelta(days=1, seconds=2),
    None,
)
"""A value of every type the drivers' converters write, each way a string can need escaping."""


@attrs.frozen
class DriverLiterals:
    """How one driver's connection writes values with its defaults (``literal``), and a check that a connection does."""

    driver: str
    literal: Callable[[object], str]

    def writes_like(self, connection: Any) -> bool:
        """Whether ``connection`` (the driver's) writes values as :attr:`literal` does, now.

        Asked before each insert: a session may have set ``NO_BACKSLASH_ESCAPES`` since
        (PyMySQL and aiomysql then double quotes instead), and a PyMySQL connection may have
        been made with ``binary_prefix`` or its own encoders (``conv``). Only the connection's
        public ``encoders`` and ``literal`` are asked.
        """
        if getattr(connection, "encoders", converters.encoders) != converters.encoders:
            return False
        literal = self.literal
        return all(connection.literal(sample) == literal(sample) for sample in _SAMPLES)


_DRIVERS: Final = {
    "pymysql": DriverLiterals("pymysql", _pymysql_literal),
    "aiomysql": DriverLiterals("aiomysql", _aiomysql_literal),
}


def driver_literals(driver: str) -> DriverLiterals:
    """The :class:`DriverLiterals` of ``driver`` (``pymysql`` or ``aiomysql``, as the dialect names it)."""
    return _DRIVERS[driver]
