"""The short business transaction's 4-column aggregate, its tables, and the raw psycopg statements.

``Reservation`` (UUID key, two plain fields, a version) is mapped onto the derived table
``bench_reservations``; the outbox tables are ``bench_txn_outbox_*``. All of them live in
one ``MetaData``, built once (:func:`txn_tables`); a job creates them when it is set up
and drops them when it is done (:func:`drop_tables`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any, Final

import attrs
import psycopg
from psycopg import sql
from sqlalchemy import MetaData, Table

from benchmarks.databases import conninfo_for
from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import OutboxTables, Schema, TableMapping, outbox_tables

RESERVATIONS: Final = "bench_reservations"
OUTBOX_PREFIX: Final = "bench_txn_outbox"
MESSAGES: Final = f"{OUTBOX_PREFIX}_messages"
TOPIC: Final = "reservations.made"
HEADERS: Final = {"content-type": "application/json"}

RAW_INSERT_SQL: Final = f"INSERT INTO {RESERVATIONS} (id, sku, quantity, version) VALUES (%s, %s, %s, %s)"
RAW_MESSAGE_SQL: Final = (
    f"INSERT INTO {MESSAGES} (id, topic, payload, headers, created_at, available_at, attempts) "
    "VALUES (%s, %s, %s, %s, %s, %s, 0)"
)
"""What a hand-written outbox inserts: the message row, its id a ``uuid4``, its times the client's clock."""

RESERVATIONS_DIGEST: Final = (
    f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM {RESERVATIONS} t"
)
MESSAGES_DIGEST: Final = (
    "SELECT count(*), md5(coalesce(string_agg(concat_ws('|', topic, encode(payload, 'hex'), "
    "headers::jsonb::text, ordering_key, key_sequence, idempotency_key, attempts, last_error, "
    f"lease_token, available_at = created_at), ',' ORDER BY payload), '')) FROM {MESSAGES}"
)
"""The messages' rows, less what differs by design (ids and times), summed up."""


@attrs.frozen
class Reservation:
    """The 4-column aggregate a short business transaction saves."""

    id: uuid.UUID
    sku: str
    quantity: int
    version: int = 0


@attrs.frozen
class TxnTables:
    """The reservations' mapping and the outbox tables, in one ``MetaData``."""

    metadata: MetaData
    reservations: TableMapping[Reservation, uuid.UUID]
    outbox: OutboxTables

    @property
    def tables(self) -> list[Table]:
        """Every table the jobs create, in creation order."""
        return [
            self.reservations.table,
            self.outbox.messages,
            self.outbox.sequences,
            self.outbox.dead_letters,
        ]

    @property
    def truncate_sql(self) -> sql.Composed:
        """Empty every table (untimed, before each run)."""
        return sql.SQL("TRUNCATE {}").format(_names(self.tables))


def _names(tables: Sequence[Table]) -> sql.Composed:
    """The tables' names, quoted and comma-separated."""
    return sql.SQL(", ").join(sql.Identifier(table.name) for table in tables)


@functools.cache
def txn_tables() -> TxnTables:
    """The tables, built once (the sync and async jobs share the mapping)."""
    schema = Schema()
    mapping = schema.map(
        EntitySpec(Reservation, key="id", version="version", key_type=uuid.UUID), table=RESERVATIONS
    )
    names = tuple(column.name for column in mapping.columns)
    if names != ("id", "sku", "quantity", "version"):
        raise AssertionError(f"the mapping's columns {names} are not the raw SQL's")
    return TxnTables(schema.metadata, mapping, outbox_tables(schema, prefix=OUTBOX_PREFIX))


def drop_tables(url: str) -> None:
    """Drop every table of the jobs, if it exists (their ``clean_up``)."""
    with psycopg.connect(conninfo_for(url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_names(txn_tables().tables)))


def make_reservations(count: int) -> list[Reservation]:
    """``count`` new reservations (version 0, so ``save`` inserts them)."""
    return [Reservation(uuid.uuid4(), f"SKU-{index % 977:04d}", 1 + index % 9) for index in range(count)]


def payload_for(index: int) -> bytes:
    """The event's bytes (serialising the event is the service's work: made before the timing)."""
    return b'{"event":"reservation.made","index":%d}' % index


def raw_message_params(payload: bytes, headers: Any) -> tuple[Any, ...]:
    """The parameters of :data:`RAW_MESSAGE_SQL`: a new id, now, given payload and headers."""
    now = dt.datetime.now(dt.UTC)
    return (uuid.uuid4(), TOPIC, payload, headers, now, now)
