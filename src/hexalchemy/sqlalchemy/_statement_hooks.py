"""How a fast-path statement reaches its hook: the hook types, the hook in force, OpenTelemetry spans.

The mechanics behind :mod:`hexalchemy.sqlalchemy.tracing`, which is where users find these
names: the backends' fast paths call :func:`hook_for` and :func:`report_to` around each
statement they run below SQLAlchemy.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import attrs
from sqlalchemy.engine import URL

from hexalchemy.ports import ConfigError, InvalidArgumentError

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "STATEMENT_HOOK_OPTION",
    "FastPath",
    "FastPathStatement",
    "OpenTelemetryHook",
    "StatementHook",
    "hook_for",
    "hook_of",
    "report_to",
]

STATEMENT_HOOK_OPTION: Final = "hexalchemy_statement_hook"
"""The execution option that holds an engine's (or a connection's) :class:`StatementHook`.

Set it with :func:`set_statement_hook`, which checks the hook; a connection's own
``execution_options(hexalchemy_statement_hook=...)`` overrides the engine's for that connection.
"""

FastPath = Literal["precompiled", "executemany", "copy"]
"""How a statement ran: ``precompiled`` (one execution of a statement compiled once, on the
driver's cursor), ``executemany`` (the same, once per parameter row, pipelined) or ``copy``."""

_LOG: Final = logging.getLogger("hexalchemy.tracing")


@attrs.frozen
class FastPathStatement:
    """One statement a fast path ran, as given to a :class:`StatementHook` once it has finished."""

    path: FastPath
    """How it ran (see :data:`FastPath`)."""
    sql: str
    """Its SQL text, as sent to the driver (placeholders, no values)."""
    rows: int
    """How many parameter rows it sent: 1 for one execution, the row count for ``executemany`` and COPY."""
    start_time_ns: int
    """When it began, in nanoseconds since the epoch (:func:`time.time_ns`)."""
    duration_ns: int
    """How long it took, in nanoseconds (a monotonic clock)."""
    system: str
    """The database, as SQLAlchemy names its dialect and OpenTelemetry its ``db.system`` (``postgresql``)."""
    url: URL
    """The engine's URL (``host``, ``port``, ``database``, ``username``; render it with ``hide_password``)."""
    error: BaseException | None = None
    """What it raised (the driver's error, raised on after the hook), or None."""


class StatementHook(Protocol):
    """What an engine reports each fast-path statement to (see :func:`set_statement_hook`).

    Called in the thread or task that ran the statement, after it finished or failed, and
    inside the caller's context (its current OpenTelemetry span, say). An exception it raises
    is logged (logger ``hexalchemy.tracing``) and does not affect the statement.
    """

    def __call__(self, statement: FastPathStatement, /) -> None:
        """Receive one statement."""


def hook_of(options: Mapping[str, Any]) -> StatementHook | None:
    """The hook in force for a connection with these execution options (the default when none is set)."""
    if STATEMENT_HOOK_OPTION in options:
        hook: StatementHook | None = options[STATEMENT_HOOK_OPTION]
        return hook
    return default_hook()


def hook_for(connection: Any) -> StatementHook | None:
    """The hook to report a statement on ``connection`` (a SQLAlchemy ``Connection`` or ``AsyncConnection``) to, now.

    None when there is none, or when it is an :class:`OpenTelemetryHook` that would make a
    no-op span (see :meth:`OpenTelemetryHook.recording`): then the statement is not even timed.
    """
    sync = getattr(connection, "sync_connection", None) or connection
    hook = hook_of(sync.get_execution_options())
    if type(hook) is OpenTelemetryHook and not hook.recording():
        return None
    return hook


def report_to(hook: StatementHook, statement: FastPathStatement) -> None:
    """Give ``statement`` to ``hook``; log what it raises, never raise it."""
    try:
        hook(statement)
    except Exception:
        _LOG.exception("hexalchemy: the statement hook %r failed", hook)


# ------------------------------------------------------------------------------ OpenTelemetry
@functools.cache
def default_hook() -> StatementHook | None:
    """:func:`opentelemetry_hook` on the global tracer provider when ``opentelemetry-api`` is installed, else None."""
    try:
        return OpenTelemetryHook()
    except ConfigError:
        return None


_STABILITY_VARIABLE: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
_DESCRIBED_STATEMENTS: Final = 512
"""How many statements' span names and attributes a hook keeps (beyond, it starts again)."""


def _conventions() -> tuple[bool, bool]:
    """Whether to write the older ``db.*`` attributes, and the stable ones, as ``OTEL_SEMCONV_STABILITY_OPT_IN`` says.

    As OpenTelemetry's own instrumentations: the older ones by default, the stable ones
    with ``database``, both with ``database/dup``.
    """
    modes = {mode.strip() for mode in os.environ.get(_STABILITY_VARIABLE, "").split(",")}
    if "database/dup" in modes:
        return True, True
    if "database" in modes:
        return False, True
    return True, False


def _operation(sql: str) -> str:
    words = sql.split(None, 1)
    return words[0].upper() if words else ""


class OpenTelemetryHook:
    """A :class:`StatementHook` that records each statement as an OpenTelemetry span.

    The span is a ``CLIENT`` span named like OpenTelemetry's SQLAlchemy instrumentation
    names its own (the statement's first word and the database name, ``COPY shop``), a
    child of the span current where the statement ran, timed from the statement's start
    to its end. Its attributes are the database semantic conventions' (``db.system``,
    ``db.name``, ``db.statement``, ``db.operation``, ``db.user``, ``net.peer.name``,
    ``net.peer.port``; with ``OTEL_SEMCONV_STABILITY_OPT_IN=database`` the stable
    ``db.system.name``, ``db.namespace``, ``db.query.text``, ``db.operation.name``,
    ``server.address``, ``server.port``; both with ``database/dup``), plus
    ``db.operation.batch.size`` for more than one row and ``hexalchemy.path`` (the
    :data:`FastPath`). A failed statement's span has status ``ERROR`` and the exception
    recorded.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        """Record spans through ``tracer_provider`` (default: the global one, looked up at each span).

        Raises:
            ConfigError: ``opentelemetry-api`` is not installed.
            InvalidArgumentError: ``tracer_provider`` has no ``get_tracer``.
        """
        try:
            from opentelemetry import trace
        except ImportError as error:
            raise ConfigError(
                "OpenTelemetryHook",
                tracer_provider,
                "OpenTelemetry spans need opentelemetry-api: pip install 'hexalchemy[otel]'",
            ) from error
        if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
            raise InvalidArgumentError("tracer_provider", tracer_provider, "must be a TracerProvider")
        from hexalchemy import __version__

        self._trace = trace
        self._global = tracer_provider is None
        self._recording = not self._global
        self._no_op = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._tracer = trace.get_tracer("hexalchemy", __version__, tracer_provider)
        self._old, self._new = _conventions()
        self._attributes: dict[URL, dict[str, Any]] = {}
        self._described_statements: dict[tuple[str, int, str, str], tuple[str, dict[str, Any], URL]] = {}

    def recording(self) -> bool:
        """Whether a span made now could be recorded.

        False while the hook takes its spans from the global tracer provider and none is
        set (OpenTelemetry's default, whose spans are no-ops): the fast paths then skip
        the hook, and the timing. True as soon as a provider is set, and always for a
        provider given to the hook.
        """
        if not self._recording and not isinstance(self._trace.get_tracer_provider(), self._no_op):
            self._recording = True  # a global provider, once set, stays set
        return self._recording

    def _url_attributes(self, system: str, url: URL) -> dict[str, Any]:
        attributes = self._attributes.get(url)
        if attributes is None:
            attributes = {}
            if self._old:
                attributes["db.system"] = system
                if url.database:
                    attributes["db.name"] = url.database
                if url.username:
                    attributes["db.user"] = url.username
                if url.host:
                    attributes["net.peer.name"] = url.host
                if url.port:
                    attributes["net.peer.port"] = url.port
            if self._new:
                attributes["db.system.name"] = system
                if url.database:
                    attributes["db.namespace"] = url.database
                if url.host:
                    attributes["server.address"] = url.host
                if url.port:
                    attributes["server.port"] = url.port
            self._attributes[url] = attributes
        return attributes

    def _described(self, statement: FastPathStatement) -> tuple[str, dict[str, Any]]:
        """The span's name and attributes for ``statement`` (but the batch size), made once per statement text.

        Kept by the URL object's identity, not its value: a URL hashes by rendering itself
        as text, which would cost more than the rest of the span's attributes. An engine
        reports every statement with its own URL object, and the URL is kept with the entry,
        so an identity is never taken for another URL's.
        """
        url = statement.url
        key = (statement.system, id(url), statement.sql, statement.path)
        described = self._described_statements.get(key)
        if described is None or described[2] is not url:
            operation = _operation(statement.sql)
            name = " ".join(part for part in (operation, url.database) if part) or statement.system
            attributes = dict(self._url_attributes(statement.system, url))
            if self._old:
                attributes["db.statement"] = statement.sql
                attributes["db.operation"] = operation
            if self._new:
                attributes["db.query.text"] = statement.sql
                attributes["db.operation.name"] = operation
            attributes["hexalchemy.path"] = statement.path
            if len(self._described_statements) >= _DESCRIBED_STATEMENTS:
                self._described_statements.clear()
            described = self._described_statements[key] = (name, attributes, url)
        return described[0], described[1]

    def __call__(self, statement: FastPathStatement, /) -> None:
        """Record ``statement`` as a span, child of the current span."""
        trace = self._trace
        name, attributes = self._described(statement)
        if statement.rows > 1:
            attributes = {**attributes, "db.operation.batch.size": statement.rows}
        span = self._tracer.start_span(
            name,
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=statement.start_time_ns,
            record_exception=False,
        )
        if statement.error is not None and span.is_recording():
            span.record_exception(statement.error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(statement.error)))
        span.end(end_time=statement.start_time_ns + statement.duration_ns)
