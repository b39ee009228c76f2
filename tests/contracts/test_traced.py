"""Traced as in production, the fast paths stay on and every statement they run is a span (PostgreSQL, MariaDB).

With OpenTelemetry's SQLAlchemy instrumentation attached (``tests/tracing.py``), a
repository's COPY, pre-compiled reads and pipelined updates still run on psycopg, give the
results they give untraced, and are recorded by hexalchemy as spans with the database
attributes, children of the caller's span; SQLAlchemy's own statements are the
instrumentation's spans, and no statement is recorded twice. Also: the hook's argument checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from sqlalchemy import Engine

from hexalchemy.ports import DuplicateEntityError, InvalidArgumentError
from hexalchemy.pytest_plugin import AsyncSqlHarness, SqlHarness
from hexalchemy.sqlalchemy import DatabaseConfig, create_async_engine, create_engine
from hexalchemy.sqlalchemy.tracing import (
    OpenTelemetryHook,
    opentelemetry_hook,
    set_statement_hook,
    statement_hook,
)
from hexalchemy.testing.contracts.domain import ACCOUNTS, Account, new_account
from tests.contracts.schema import SCHEMA
from tests.tracing import Tracing, traced
from tests.untyped import untyped

BATCH = 80
"""New aggregates in one save_all: above the default copy_threshold (64), so COPY."""


@attrs.frozen
class Outcome:
    saved: list[Account]
    updated: list[Account]
    got: Account
    ranged: list[Account]


def _exercise(harness: SqlHarness) -> Outcome:
    accounts = harness.repository(ACCOUNTS)
    batch = [new_account(f"owner-{index}") for index in range(BATCH)]
    with harness.transactions.begin():
        saved = accounts.save_all(batch)
    with harness.transactions.begin():
        updated = accounts.save_all([attrs.evolve(account, points=7) for account in saved[:3]])
        got = accounts.get(saved[0].id)
        ranged = accounts.range([account.id for account in saved])
    return Outcome(saved, updated, got, ranged)


def _shape(outcome: Outcome) -> object:
    """What does not depend on the ids and owners: versions, points, the order of reads."""
    index = {account.id: n for n, account in enumerate(outcome.saved)}
    return (
        [account.version for account in outcome.saved],
        [(account.points, account.version) for account in outcome.updated],
        (index[outcome.got.id], outcome.got.points, outcome.got.version),
        [(index[account.id], account.points, account.version) for account in outcome.ranged],
    )


def _paths(tracing: Tracing) -> Counter[str]:
    return Counter(statement.path for statement in tracing.reported)


def _span(tracing: Tracing, path: str) -> ReadableSpan:
    return next(
        span
        for span in tracing.hexalchemy_spans()
        if span.attributes is not None and span.attributes.get("hexalchemy.path") == path
    )


@pytest.mark.postgresql
def test_traced_the_fast_paths_run_give_the_same_results_and_are_spans(
    postgresql_harness: SqlHarness, postgresql_config: DatabaseConfig
) -> None:
    untraced = _exercise(postgresql_harness)
    engine = create_engine(postgresql_config)
    try:
        with traced(engine) as tracing:
            parent = tracing.provider.get_tracer("test").start_span("request")
            with trace.use_span(parent, end_on_exit=True):
                outcome = _exercise(SqlHarness(engine, SCHEMA))
        tracing.check(engine.url.database)
    finally:
        engine.dispose()
    assert _shape(outcome) == _shape(untraced)
    assert _paths(tracing) == {"copy": 1, "executemany": 1, "precompiled": 2}  # COPY; updates; get, range
    copy = _span(tracing, "copy")
    assert copy.attributes is not None and copy.attributes["db.operation.batch.size"] == BATCH
    assert str(copy.attributes["db.statement"]).startswith("COPY ")
    assert copy.attributes["net.peer.name"] == engine.url.host
    assert copy.parent is not None and copy.parent.span_id == parent.get_span_context().span_id
    # SQLAlchemy's statements (the savepoints) are the instrumentation's spans
    assert any(statement.startswith("SAVEPOINT") for statement in tracing.sqlalchemy_statements())


@pytest.mark.postgresql
async def test_traced_async_the_fast_paths_run_and_are_spans(
    async_postgresql_traced_harness: AsyncSqlHarness,
) -> None:
    harness = async_postgresql_traced_harness
    accounts = harness.repository(ACCOUNTS)
    batch = [new_account(f"async-{index}") for index in range(BATCH)]
    async with harness.transactions.begin():
        saved = await accounts.save_all(batch)
    async with harness.transactions.begin():
        assert await accounts.get(saved[5].id) == saved[5]
        assert await accounts.range([a.id for a in saved]) == saved
    # The fixture checks every span of the fast paths.


@pytest.mark.parametrize(
    ("database", "path", "refusal"),
    [
        pytest.param("postgresql", "copy", "duplicate key", marks=pytest.mark.postgresql),
        pytest.param("mariadb", "executemany", "Duplicate entry"),
    ],
)
def test_a_failed_bulk_insert_is_an_error_span_and_a_duplicate(
    request: pytest.FixtureRequest, database: str, path: str, refusal: str
) -> None:
    # PostgreSQL's bulk path is COPY; MariaDB's a multi-row INSERT on the driver's cursor.
    request.getfixturevalue(f"{database}_harness")  # the tables, emptied
    config: DatabaseConfig = request.getfixturevalue(f"{database}_config")
    engine = create_engine(config)
    try:
        harness = SqlHarness(engine, SCHEMA)
        accounts = harness.repository(ACCOUNTS)
        batch = [new_account(f"twice-{index}") for index in range(BATCH)]
        with traced(engine) as tracing:
            with harness.transactions.begin():
                accounts.save_all(batch)
            with pytest.raises(DuplicateEntityError), harness.transactions.begin():
                accounts.save_all(batch)
        tracing.check(engine.url.database, database)
    finally:
        engine.dispose()
    failed = [span for span in tracing.hexalchemy_spans() if span.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes is not None
    assert failed[0].attributes["hexalchemy.path"] == path
    assert refusal in (failed[0].status.description or "")
    assert [event.name for event in failed[0].events] == ["exception"]


@pytest.mark.postgresql
def test_the_stable_conventions_on_request(
    postgresql_harness: SqlHarness, postgresql_config: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
    engine = create_engine(postgresql_config)
    tracing = Tracing()  # its OpenTelemetry hook is made now, with the variable set
    set_statement_hook(engine, tracing.hook)
    try:
        harness = SqlHarness(engine, SCHEMA)
        with harness.transactions.begin():
            assert harness.repository(ACCOUNTS).get_or_none(uuid.uuid4()) is None
    finally:
        engine.dispose()
    (span,) = tracing.hexalchemy_spans()
    attributes = span.attributes or {}
    assert attributes["db.system.name"] == "postgresql" and "db.system" not in attributes
    assert attributes["db.namespace"] == engine.url.database
    assert str(attributes["db.query.text"]).startswith("SELECT")
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["server.address"] == engine.url.host


def test_without_a_hook_set_an_engine_reports_to_opentelemetry() -> None:
    engine = create_engine(DatabaseConfig(url="sqlite://"))
    try:
        assert isinstance(statement_hook(engine), OpenTelemetryHook)  # opentelemetry-api is installed here
        set_statement_hook(engine, None)
        assert statement_hook(engine) is None
    finally:
        engine.dispose()


_NO_PROVIDER_YET = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from hexalchemy.sqlalchemy._statement_hooks import hook_for
from hexalchemy.sqlalchemy.tracing import OpenTelemetryHook
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine

hook = OpenTelemetryHook()
engine = create_engine(DatabaseConfig(url="sqlite://"))
with engine.connect() as connection:
    assert not hook.recording() and hook_for(connection) is None  # no provider: no span, no timing
    assert OpenTelemetryHook(TracerProvider()).recording()
    trace.set_tracer_provider(TracerProvider())
    assert hook.recording() and isinstance(hook_for(connection), OpenTelemetryHook)
"""


def test_the_default_hook_is_skipped_until_a_tracer_provider_is_set() -> None:
    """OpenTelemetry's default global provider makes no-op spans: the fast paths skip the hook until one is set."""
    env = {key: value for key, value in os.environ.items() if key != "OTEL_PYTHON_TRACER_PROVIDER"}
    subprocess.run([sys.executable, "-c", _NO_PROVIDER_YET], check=True, env=env, timeout=60)


async def test_an_async_engine_takes_a_hook_too() -> None:
    engine = create_async_engine(DatabaseConfig(url="sqlite+aiosqlite://"))
    try:
        set_statement_hook(engine, print)
        assert statement_hook(engine) is print
        assert statement_hook(engine.sync_engine) is print
    finally:
        await engine.dispose()


def test_a_hook_that_is_not_callable_is_refused(sqlite_engine: Engine) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^hook=5: must be callable"):
        set_statement_hook(sqlite_engine, untyped(5))


def test_an_engine_that_is_not_an_engine_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^engine='sqlite://': must be a sqlalchemy Engine"):
        set_statement_hook(untyped("sqlite://"), print)
    with pytest.raises(InvalidArgumentError, match=r"^engine=None"):
        statement_hook(untyped(None))


def test_a_tracer_provider_that_is_not_one_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^tracer_provider=5: must be a TracerProvider"):
        opentelemetry_hook(untyped(5))


@pytest.fixture
def sqlite_engine() -> Iterator[Engine]:
    engine = create_engine(DatabaseConfig(url="sqlite://"))
    yield engine
    engine.dispose()


def test_traced_the_mariadb_driver_path_runs_gives_the_same_results_and_is_spans(
    mariadb_harness: SqlHarness, mariadb_config: DatabaseConfig
) -> None:
    untraced = _exercise(mariadb_harness)
    engine = create_engine(mariadb_config)
    try:
        with traced(engine) as tracing:
            parent = tracing.provider.get_tracer("test").start_span("request")
            with trace.use_span(parent, end_on_exit=True):
                outcome = _exercise(SqlHarness(engine, SCHEMA))
        tracing.check(engine.url.database, "mariadb")
    finally:
        engine.dispose()
    assert _shape(outcome) == _shape(untraced)
    # the multi-row INSERT and the updates on the PyMySQL cursor; get and range
    assert _paths(tracing) == {"executemany": 2, "precompiled": 2}
    insert = next(
        span
        for span in tracing.hexalchemy_spans()
        if str((span.attributes or {})["db.statement"]).startswith("INSERT")
    )
    assert insert.attributes is not None and insert.attributes["db.operation.batch.size"] == BATCH
    assert insert.parent is not None and insert.parent.span_id == parent.get_span_context().span_id


async def test_traced_async_the_mariadb_driver_path_runs_and_is_spans(
    async_mariadb_traced_harness: AsyncSqlHarness,
) -> None:
    harness = async_mariadb_traced_harness
    accounts = harness.repository(ACCOUNTS)
    batch = [new_account(f"async-{index}") for index in range(BATCH)]
    async with harness.transactions.begin():
        saved = await accounts.save_all(batch)
    async with harness.transactions.begin():
        assert await accounts.get(saved[5].id) == saved[5]
        assert await accounts.range([a.id for a in saved]) == saved
        updated = await accounts.save_all([attrs.evolve(account, points=7) for account in saved[:3]])
    assert [(account.points, account.version) for account in updated] == [(7, 2)] * 3
    # The fixture checks every span of the driver path.
