"""An engine traced as in production: OpenTelemetry's SQLAlchemy instrumentation and hexalchemy's spans.

:func:`traced` attaches ``SQLAlchemyInstrumentor`` to an engine (its cursor-execute
listeners) and hexalchemy's OpenTelemetry hook, both recording into one in-memory
exporter, and records what the hook was given. :meth:`Tracing.check` then proves that every
fast-path statement has its span, with the database attributes, and that no statement was
recorded twice (by the instrumentation and by hexalchemy).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy.tracing import (
    FastPathStatement,
    opentelemetry_hook,
    set_statement_hook,
    statement_hook,
)

HEXALCHEMY_SCOPE = "hexalchemy"


class Tracing:
    """What a traced engine recorded: the spans, and the statements hexalchemy's hook was given."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reported: list[FastPathStatement] = []
        self._spans = opentelemetry_hook(self.provider)

    def hook(self, statement: FastPathStatement) -> None:
        """Record ``statement``, then give it to hexalchemy's OpenTelemetry hook."""
        self.reported.append(statement)
        self._spans(statement)

    def spans(self) -> list[ReadableSpan]:
        """Every span recorded so far."""
        return list(self.exporter.get_finished_spans())

    def hexalchemy_spans(self) -> list[ReadableSpan]:
        """The spans hexalchemy recorded (its fast-path statements)."""
        return [span for span in self.spans() if _scope(span) == HEXALCHEMY_SCOPE]

    def sqlalchemy_statements(self) -> list[str]:
        """The statements of the spans OpenTelemetry's SQLAlchemy instrumentation recorded."""
        return [
            str(span.attributes.get("db.statement"))
            for span in self.spans()
            if _scope(span) != HEXALCHEMY_SCOPE and span.attributes and "db.statement" in span.attributes
        ]

    def check(self, database: str | None, system: str = "postgresql") -> None:
        """Every reported statement has one span with the db.* attributes (``system``: the dialect's name); none was recorded by both."""
        spans = self.hexalchemy_spans()
        assert len(spans) == len(self.reported)
        for span, statement in zip(spans, self.reported, strict=True):
            attributes = span.attributes or {}
            assert attributes.get("db.statement") == statement.sql
            assert attributes.get("db.system") == system
            assert attributes.get("db.name") == database
            assert attributes.get("db.operation") == statement.sql.split()[0].upper()
            assert attributes.get("hexalchemy.path") == statement.path
            assert span.name == f"{attributes.get('db.operation')} {database}"
            assert span.start_time == statement.start_time_ns
            assert span.end_time == statement.start_time_ns + statement.duration_ns
        assert not set(self.sqlalchemy_statements()) & {statement.sql for statement in self.reported}


def _scope(span: ReadableSpan) -> str | None:
    scope = span.instrumentation_scope
    return None if scope is None else scope.name


@contextmanager
def traced(engine: Engine | AsyncEngine) -> Iterator[Tracing]:
    """Trace ``engine`` inside the block (the instrumentation removed, the hook restored, after it)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    tracing = Tracing()
    instrumentor = SQLAlchemyInstrumentor()
    # The instrumentation declares sqlalchemy < 2.1; it works on 2.1 (these tests prove it) when told to.
    instrumentor.instrument(engine=sync, tracer_provider=tracing.provider, skip_dep_check=True)
    assert instrumentor.is_instrumented_by_opentelemetry
    previous = statement_hook(sync)
    set_statement_hook(sync, tracing.hook)
    try:
        yield tracing
    finally:
        set_statement_hook(sync, previous)
        instrumentor.uninstrument()
