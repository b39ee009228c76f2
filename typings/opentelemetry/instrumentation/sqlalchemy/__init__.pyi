# Stub of opentelemetry-instrumentation-sqlalchemy, which ships no py.typed marker (basedpyright's strict
# mode refuses an import of it: reportMissingTypeStubs). Only its public class, as hexalchemy's docs,
# tests and benchmarks use it; basedpyright reads stubs from typings/ (its default stubPath).
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

class SQLAlchemyInstrumentor(BaseInstrumentor):
    """OpenTelemetry's instrumentation of SQLAlchemy: ``instrument(engine=...)`` attaches it to an engine."""

    def instrumentation_dependencies(self) -> Collection[str]: ...
    def _instrument(self, **kwargs: Any) -> object: ...
    def _uninstrument(self, **kwargs: Any) -> None: ...
