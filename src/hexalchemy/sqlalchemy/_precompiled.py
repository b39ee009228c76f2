"""Hot statements pre-compiled once for the psycopg cursor, run without SQLAlchemy's per-call work.

The agent stores and the outbox writer run their statements of every transaction through
:func:`run`: on PostgreSQL with psycopg, the statement was compiled once, at
construction, to positional SQL, and each call only maps its named parameters through
the bind processors SQLAlchemy would apply and executes it on the psycopg cursor of the
transaction (``DriverQuery``). Elsewhere, or while something watches the engine's
statements (see :func:`use_driver`), it goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from sqlalchemy import JSON

from hexalchemy.sqlalchemy._operations import Call, DriverQuery, Plan
from hexalchemy.sqlalchemy.transaction import TransactionCore

_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s")
"""A named parameter in SQL compiled for psycopg."""


def utc(value: Any) -> Any:
    """A datetime read from the driver, in UTC (what :class:`~hexalchemy.sqlalchemy.types.UtcDateTime` gives)."""
    return None if value is None else value.astimezone(dt.UTC)


class JsonText(str):
    """A JSON parameter's value already encoded (by the validation that normalised it): sent as it is."""

    __slots__ = ()


def json_text(value: Any) -> str:
    """``value`` as compact JSON text: how a JSON parameter goes to the driver (a :class:`JsonText` as it is)."""
    if type(value) is JsonText:
        return value
    return json.dumps(value, separators=(",", ":"))


class DriverTarget(Protocol):
    """Where a pre-compiled statement runs: a connection, and the psycopg cursor made for it (or None yet).

    :class:`~hexalchemy.sqlalchemy.transaction.TransactionState` is one; so is the
    connection a relay store opens for one call.
    """

    connection: Any
    driver_cursor: Any


def psycopg_dialect(dialect: Any) -> Any:
    """``dialect`` when it is PostgreSQL through psycopg (hot statements may run on its cursor), else None."""
    return dialect if dialect.name == "postgresql" and dialect.driver == "psycopg" else None


def driver_dialect(transactions: TransactionCore) -> Any:
    """The manager's dialect when its hot statements may run on the psycopg cursor directly, else None."""
    return psycopg_dialect(transactions.dialect)


def use_driver(state: DriverTarget) -> bool:
    """Whether the pre-compiled paths may bypass SQLAlchemy in this transaction, now.

    Not when the engine echoes, nor while a ``before_cursor_execute`` or
    ``after_cursor_execute`` listener watches it (they see every statement, as they would
    without the fast path), nor with a ``schema_translate_map`` (the SQL is compiled
    without one). Asked at every statement: a listener may come mid-transaction.
    """
    connection = state.connection
    sync = getattr(connection, "sync_connection", None) or connection
    # SQLAlchemy's own test before it looks for listeners: ``_has_events`` is set on a
    # connection or engine (or their class) once any connection listener is added.
    # Without the attribute, look at the listeners.
    if getattr(sync, "_has_events", True) or getattr(sync.engine, "_has_events", True):
        dispatch = sync.dispatch
        if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return False
    return not (sync.engine.echo or sync.get_execution_options().get("schema_translate_map"))


class PrecompiledStatement:
    """A statement, and on psycopg the same statement pre-compiled for the driver cursor.

    The parameters are given by name, as to SQLAlchemy; the driver's positional
    parameters are taken from them in the compiled order, through the bind processors
    SQLAlchemy would apply (JSON goes as text). A statement run on the driver must
    return rows.
    """

    def __init__(self, statement: Any, dialect: Any, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = None if column_keys is None else list(column_keys)
        self.sql: str | None = None
        self.names: tuple[str, ...] = ()
        self.processors: tuple[Callable[[Any], Any] | None, ...] = ()
        self.constants: dict[str, Any] = {}
        """The values of the statement's literals (bound parameters no caller gives)."""
        if dialect is None:
            return
        compiled = statement.compile(dialect=dialect, column_keys=self.column_keys)
        text = str(compiled)
        self.names = tuple(_PLACEHOLDER.findall(text))
        processors: list[Callable[[Any], Any] | None] = []
        for name in self.names:
            bind = compiled.binds[name]
            if bind.value is not None:
                self.constants[name] = bind.effective_value
            type_ = bind.type
            if isinstance(type_, JSON):
                processors.append(json_text)
            else:
                processors.append(type_.dialect_impl(dialect).bind_processor(dialect))
        self.processors = tuple(processors)
        self.sql = _PLACEHOLDER.sub("%s", text)

    def driver_parameters(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional parameters of :attr:`sql`."""
        given = {**self.constants, **parameters} if self.constants else parameters
        return [
            value if process is None or value is None else process(value)
            for value, process in zip(map(given.__getitem__, self.names), self.processors, strict=True)
        ]


def run(
    state: DriverTarget,
    statement: PrecompiledStatement,
    parameters: Mapping[str, Any],
    encoded: Mapping[str, JsonText] | None = None,
) -> Plan[list[Any]]:
    """Plan: execute ``statement`` in the transaction; return its rows as tuples ([] when it returns none).

    On psycopg, on the pre-compiled driver path (see :func:`use_driver`). Datetimes read
    there are in the session's time zone: convert them with :func:`utc`. ``encoded``: JSON
    parameters already encoded, which replace those of ``parameters`` on the driver path
    (SQLAlchemy encodes its own).
    """
    if statement.sql is not None and use_driver(state):
        given = parameters if encoded is None else {**parameters, **encoded}
        rows: list[Any] = yield DriverQuery(state, statement.sql, statement.driver_parameters(given))
        return rows
    result = yield Call(state.connection.execute, (statement.statement, parameters))
    return list(result.all()) if result.returns_rows else []
