"""Tracing for ``benchmarks.run --traced``: what a production service with OpenTelemetry would have on.

:func:`start` sets a global OpenTelemetry SDK tracer provider (a batch span processor, as
services use, exporting to :class:`CountingExporter`, which keeps nothing but counts) and
attaches OpenTelemetry's SQLAlchemy instrumentation to every engine made afterwards
(``SQLAlchemyInstrumentor().instrument()``: its cursor-execute listeners and connect spans).
hexalchemy reports its fast-path statements to the same provider by default, as spans of
the ``hexalchemy`` tracer. :func:`stop` flushes the spans and removes the instrumentation.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Final

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

HEXALCHEMY: Final = "hexalchemy"
SQLALCHEMY: Final = "sqlalchemy"


class CountingExporter(SpanExporter):
    """Counts the spans it is given, by source: ``sqlalchemy`` (the instrumentation) or ``hexalchemy:<path>``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Count ``spans``; keep nothing."""
        keys = []
        for span in spans:
            scope = span.instrumentation_scope
            if scope is not None and scope.name == HEXALCHEMY:
                path = (span.attributes or {}).get("hexalchemy.path")
                keys.append(f"{HEXALCHEMY}:{path}")
            else:
                keys.append(SQLALCHEMY)
        with self._lock:
            self.counts.update(keys)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def take(self) -> Counter[str]:
        """The counts so far, and start again from zero."""
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


class Tracing:
    """The provider, its exporter and the instrumentation of one traced run."""

    def __init__(self) -> None:
        self.exporter = CountingExporter()
        self.processor = BatchSpanProcessor(self.exporter)
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)
        self.instrumentor = SQLAlchemyInstrumentor()

    def flush(self) -> Counter[str]:
        """Export every span ended so far; return their counts since the last flush."""
        self.processor.force_flush()
        return self.exporter.take()


def start() -> Tracing:
    """Trace every engine made from now on (the global provider can be set once per process)."""
    tracing = Tracing()
    trace.set_tracer_provider(tracing.provider)
    # The instrumentation declares sqlalchemy < 2.1: without skip_dep_check it instruments nothing on 2.1.
    tracing.instrumentor.instrument(tracer_provider=tracing.provider, skip_dep_check=True)
    if not tracing.instrumentor.is_instrumented_by_opentelemetry:
        raise SystemExit("OpenTelemetry's SQLAlchemy instrumentation did not attach")
    return tracing


def stop(tracing: Tracing) -> None:
    """Remove the instrumentation and shut the provider down (its last spans exported)."""
    tracing.instrumentor.uninstrument()
    tracing.provider.shutdown()
