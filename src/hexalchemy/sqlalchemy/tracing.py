"""The statements hexalchemy runs below SQLAlchemy, reported: a hook per engine, and OpenTelemetry spans.

A backend's fast paths (on PostgreSQL with psycopg: pre-compiled statements on the
driver's cursor, their ``executemany``, and COPY) do not go through SQLAlchemy's statement
execution, so SQLAlchemy's ``before_cursor_execute``/``after_cursor_execute`` listeners
(OpenTelemetry's SQLAlchemy instrumentation, APM agents, statement counters) never see
them. hexalchemy reports each of them itself, once it has run, to the engine's
:class:`StatementHook`; statements that go through SQLAlchemy are left to SQLAlchemy's
listeners and never reported here, so nothing is seen twice. Attaching a listener does not
change which path runs.

- :func:`set_statement_hook` sets an engine's hook (``None``: report nothing);
  :func:`statement_hook` tells which one is in force.
- Without a hook set, an engine reports to :func:`opentelemetry_hook` when
  ``opentelemetry-api`` is installed (``pip install 'hexalchemy[otel]'``): a span per
  statement, through the global tracer provider, child of the current span. While no
  provider is set (the API alone, no SDK configured), it is skipped: no span, no timing.
- :class:`FastPathStatement` is what a hook receives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import InvalidArgumentError
from hexalchemy.rules import check_callable
from hexalchemy.sqlalchemy._statement_hooks import (
    STATEMENT_HOOK_OPTION,
    FastPathStatement,
    OpenTelemetryHook,
    StatementHook,
    hook_of,
)
from hexalchemy.sqlalchemy._statement_hooks import (
    FastPath as FastPath,  # re-exported: the type of FastPathStatement.path
)

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "STATEMENT_HOOK_OPTION",
    "FastPathStatement",
    "OpenTelemetryHook",
    "StatementHook",
    "opentelemetry_hook",
    "set_statement_hook",
    "statement_hook",
]


def _sync_engine(engine: object, name: str = "engine") -> Engine:
    if isinstance(engine, AsyncEngine):
        return engine.sync_engine
    if isinstance(engine, Engine):
        return engine
    raise InvalidArgumentError(name, engine, "must be a sqlalchemy Engine or AsyncEngine")


def set_statement_hook(engine: Engine | AsyncEngine, hook: StatementHook | None) -> None:
    """Report the fast-path statements of ``engine``'s connections to ``hook`` (``None``: to nothing).

    Replaces the default (:func:`opentelemetry_hook`, when ``opentelemetry-api`` is
    installed) and any hook set before, for the connections the engine opens after the
    call, sync or async (a connection already open keeps the hook it was opened with).

    Raises:
        InvalidArgumentError: ``engine`` is not a SQLAlchemy engine, or ``hook`` is neither
            callable nor ``None``.
    """
    sync_engine = _sync_engine(engine)
    if hook is not None:
        check_callable("hook", hook)
    sync_engine.update_execution_options(**{STATEMENT_HOOK_OPTION: hook})


def statement_hook(engine: Engine | AsyncEngine) -> StatementHook | None:
    """The hook ``engine``'s fast-path statements are reported to now, or None (the default resolved).

    Raises:
        InvalidArgumentError: ``engine`` is not a SQLAlchemy engine.
    """
    return hook_of(_sync_engine(engine).get_execution_options())


def opentelemetry_hook(tracer_provider: TracerProvider | None = None) -> StatementHook:
    """A hook recording each fast-path statement as an OpenTelemetry span (see :class:`OpenTelemetryHook`).

    Give it the ``tracer_provider`` you give OpenTelemetry's SQLAlchemy instrumentation,
    if not the global one.

    Raises:
        ConfigError: ``opentelemetry-api`` is not installed.
    """
    return OpenTelemetryHook(tracer_provider)
