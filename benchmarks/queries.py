"""Issue 14's query jobs: a filtered page of 50, a filtered count, and a stream of every row, on a 100k-row table.

The table ``bench_query_orders`` holds the benchmark :class:`~benchmarks.model.Order`
(``10 x settings.rows`` rows: 100,000 in a full or quick run) and is derived by hexalchemy
with ``EntitySpec(indexes=[("sku", "id")])``: an index on the filtered field, followed by
the key every order ends with. ``sku`` takes 977 values, about 102 rows each.

Raw, written by hand with psycopg 3 in the same run, building the same ``Order`` objects:

- ``page``: ``SELECT ... WHERE sku = %s ORDER BY id LIMIT 51``, 50 aggregates and the next
  page's position (the 51st row says there is one); a run is ``get_calls`` calls over
  different skus, latency per call. Target: <= 1.3x.
- ``count``: ``SELECT count(*) ... WHERE sku = %s``; a run is ``get_calls`` calls, latency
  per call. Target: <= 1.2x.
- ``stream``: a named (server-side) cursor, ``SELECT ... ORDER BY id``, ``itersize`` 1,000
  rows a fetch, every row built into an aggregate; hexalchemy's ``stream(Query(Order),
  chunk_size=1000)``. Throughput in rows/s. Target: >= 0.8x. Before the timed runs, one
  untimed stream per side is measured with ``tracemalloc``: its peak of traced Python memory
  above the start (target: under 64 MiB), reported by :func:`report`.

Every call runs inside an open read transaction; only the calls are timed.
"""

from __future__ import annotations

import contextlib
import functools
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

import attrs
import psycopg

from benchmarks.databases import AsyncSides, SyncSides, conninfo_for
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.model import COLUMNS, Order, insert_params, make_orders, order_from_row
from hexalchemy.ports import EntitySpec, Page, Query
from hexalchemy.rules import field_ref
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    TableMapping,
    create_engine,
)

TABLE: Final = "bench_query_orders"
PAGE_SIZE: Final = 50
CHUNK: Final = 1_000
MEMORY_TARGET_MIB: Final = 64
SKU = field_ref(Order, lambda order: order.sku)

_COLUMN_LIST: Final = ", ".join(COLUMNS)
RAW_PAGE_SQL: Final = (
    f"SELECT {_COLUMN_LIST} FROM {TABLE} WHERE sku = %s ORDER BY id LIMIT 51"  # PAGE_SIZE + 1
)
RAW_COUNT_SQL: Final = f"SELECT count(*) FROM {TABLE} WHERE sku = %s"
RAW_STREAM_SQL: Final = f"SELECT {_COLUMN_LIST} FROM {TABLE} ORDER BY id"
_COPY_SQL: Final = f"COPY {TABLE} ({_COLUMN_LIST}) FROM STDIN"


def rows(settings: Settings) -> int:
    """The table's size: ten times the settings' rows (100,000 in a full run)."""
    return settings.rows * 10


def _mapping() -> tuple[Schema, TableMapping[Order, uuid.UUID]]:
    schema = Schema()
    spec = EntitySpec(Order, key="id", version="version", key_type=uuid.UUID, indexes=[("sku", "id")])
    return schema, schema.map(spec, table=TABLE)


def _skus(settings: Settings) -> list[str]:
    return [f"SKU-{(index * 131) % 977:04d}" for index in range(settings.get_calls)]


def _seed(url: str, settings: Settings) -> TableMapping[Order, uuid.UUID]:
    """Create the table (and its index) and COPY the orders in, untimed; return its mapping."""
    schema, mapping = _mapping()
    engine = create_engine(DatabaseConfig(url=url))
    try:
        schema.drop_all(engine)
        schema.create_all(engine)
    finally:
        engine.dispose()
    with psycopg.connect(conninfo_for(url), autocommit=True) as raw, raw.cursor() as cursor:
        with cursor.copy(_COPY_SQL) as copy:
            for order in make_orders(rows(settings), version=1):
                copy.write_row(insert_params(order, 1))
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return mapping


def clean_up(url: str) -> None:
    """Drop the job's table."""
    with psycopg.connect(conninfo_for(url), autocommit=True) as raw:
        raw.execute(f"DROP TABLE IF EXISTS {TABLE}")


# ------------------------------------------------------------------ raw, written by hand
@attrs.frozen
class RawPage:
    """What raw code returns for a page: the aggregates and the position after the last one."""

    items: list[Order]
    after: uuid.UUID | None


def raw_page(fetched: list[Any]) -> RawPage:
    """The page of the rows fetched with ``LIMIT 51``."""
    items = [order_from_row(row) for row in fetched[:PAGE_SIZE]]
    return RawPage(items, items[-1].id if len(fetched) > PAGE_SIZE else None)


# ------------------------------------------------------------------ memory
@attrs.frozen
class Peak:
    """One side's peak of traced Python memory while streaming every row."""

    mode: str
    side: str
    rows: int
    mib: float


_peaks: list[Peak] = []


@contextlib.contextmanager
def _traced_peak(mode: str, side: str, count: int) -> Iterator[None]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _peaks.append(Peak(mode, side, count, (peak - start) / 2**20))


def report() -> str:
    """The streams' peak memory, as markdown ("" when the stream job did not run)."""
    if not _peaks:
        return ""
    lines = [
        "Streaming every row: peak of traced Python memory above the start (tracemalloc, one untimed "
        f"stream per side; target for hexalchemy: under {MEMORY_TARGET_MIB} MiB):",
        "",
        "| sync/async | side | rows | peak MiB |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {peak.mode} | {peak.side} | {peak.rows:,} | {peak.mib:.1f} |" for peak in _peaks]
    return "\n".join(lines)


# ------------------------------------------------------------------ sync
def sync_runners(job: str, sides: SyncSides, settings: Settings) -> Runners:
    """The sync runners of ``job`` (``page``, ``count`` or ``stream``): the table seeded, both sides checked alike."""
    mapping = _seed(sides.engine.url.render_as_string(hide_password=False), settings)
    transactions, raw = sides.transactions, sides.raw
    repository = SqlAlchemyRepository(mapping, transactions)
    skus = _skus(settings)
    queries = [Query(Order, where=SKU.eq(sku)) for sku in skus]
    count = rows(settings)

    def page() -> Lap:
        with transactions.begin(read_only=True), timed() as lap:
            for query in queries:
                repository.page(query, size=PAGE_SIZE)
        return lap

    def raw_page_run() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            for sku in skus:
                cursor.execute(RAW_PAGE_SQL, (sku,))
                raw_page(cursor.fetchall())
        return lap

    def counting() -> Lap:
        with transactions.begin(read_only=True), timed() as lap:
            for query in queries:
                repository.count(query)
        return lap

    def raw_count() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            for sku in skus:
                cursor.execute(RAW_COUNT_SQL, (sku,))
                cursor.fetchone()
        return lap

    def stream() -> int:
        with transactions.begin(read_only=True):
            return sum(1 for _ in repository.stream(Query(Order), chunk_size=CHUNK))

    def raw_stream() -> int:
        streamed = 0
        with raw.transaction(), raw.cursor(name="bench_stream") as cursor:
            cursor.itersize = CHUNK
            cursor.execute(RAW_STREAM_SQL)
            for row in cursor:
                order_from_row(row)
                streamed += 1
        return streamed

    def timed_run(run: Callable[[], int]) -> Callable[[], Lap]:
        def measured() -> Lap:
            with timed() as lap:
                if run() != count:
                    raise AssertionError("a stream missed rows")
            return lap

        return measured

    with transactions.begin(read_only=True):
        first: Page[Order] = repository.page(queries[0], size=PAGE_SIZE)
        with raw.cursor() as cursor:
            cursor.execute(RAW_PAGE_SQL, (skus[0],))
            expected = raw_page(cursor.fetchall())
        if list(first.items) != expected.items or (first.next_cursor is None) != (expected.after is None):
            raise AssertionError("hexalchemy's page differs from raw psycopg's")
        counted = sides.raw.execute(RAW_COUNT_SQL, (skus[0],)).fetchone()
        if counted is None or repository.count(queries[0]) != counted[0]:
            raise AssertionError("hexalchemy's count differs from raw psycopg's")
    if job == "page":
        return Runners(page, raw_page_run)
    if job == "count":
        return Runners(counting, raw_count)
    with _traced_peak("sync", "hexalchemy", count):
        stream()
    with _traced_peak("sync", "raw psycopg", count):
        raw_stream()
    return Runners(timed_run(stream), timed_run(raw_stream))


# ------------------------------------------------------------------ async
async def _async(job: str, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    mapping = _seed(sides.engine.url.render_as_string(hide_password=False), settings)
    transactions, raw = sides.transactions, sides.raw
    repository = AsyncSqlAlchemyRepository(mapping, transactions)
    skus = _skus(settings)
    queries = [Query(Order, where=SKU.eq(sku)) for sku in skus]
    count = rows(settings)

    async def page() -> Lap:
        async with transactions.begin(read_only=True):
            with timed() as lap:
                for query in queries:
                    await repository.page(query, size=PAGE_SIZE)
        return lap

    async def raw_page_run() -> Lap:
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                for sku in skus:
                    await cursor.execute(RAW_PAGE_SQL, (sku,))
                    raw_page(await cursor.fetchall())
        return lap

    async def counting() -> Lap:
        async with transactions.begin(read_only=True):
            with timed() as lap:
                for query in queries:
                    await repository.count(query)
        return lap

    async def raw_count() -> Lap:
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                for sku in skus:
                    await cursor.execute(RAW_COUNT_SQL, (sku,))
                    await cursor.fetchone()
        return lap

    async def stream() -> int:
        streamed = 0
        async with transactions.begin(read_only=True):
            async for _ in repository.stream(Query(Order), chunk_size=CHUNK):  # read to the end
                streamed += 1
        return streamed

    async def raw_stream() -> int:
        streamed = 0
        async with raw.transaction(), raw.cursor(name="bench_stream") as cursor:
            cursor.itersize = CHUNK
            await cursor.execute(RAW_STREAM_SQL)
            async for row in cursor:
                order_from_row(row)
                streamed += 1
        return streamed

    def timed_run(run: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[Lap]]:
        async def measured() -> Lap:
            with timed() as lap:
                if await run() != count:
                    raise AssertionError("a stream missed rows")
            return lap

        return measured

    if job == "page":
        return AsyncRunners(page, raw_page_run)
    if job == "count":
        return AsyncRunners(counting, raw_count)
    with _traced_peak("async", "hexalchemy", count):
        await stream()
    with _traced_peak("async", "raw psycopg", count):
        await raw_stream()
    return AsyncRunners(timed_run(stream), timed_run(raw_stream))


def _job(name: str, job: str, kind: Any, target: float, work: Callable[[Settings], int], unit: str) -> Job:
    return Job(
        name=name,
        key="queries",
        kind=kind,
        target=target,
        work=work,
        repetitions=lambda settings: settings.repetitions,
        sync=functools.partial(sync_runners, job),
        async_=functools.partial(_async, job),
        unit=unit,
        clean_up=clean_up,
    )


JOBS: Final = (
    _job("page of 50, filtered (100k rows)", "page", "latency", 1.3, lambda s: s.get_calls, "call"),
    _job("count, filtered (100k rows)", "count", "latency", 1.2, lambda s: s.get_calls, "call"),
    _job("stream 100k rows", "stream", "throughput", 0.8, rows, "row"),
)
"""``--only queries``: the page, count and stream jobs."""
