"""The tables the plugin adds beside yours, and the schema of the contract suite's sample classes.

- :data:`COMMIT_BREAKER`: a table in a ``MetaData`` of its own, created beside your
  schema's tables in every database the plugin prepares; the SQL harnesses break a commit
  by inserting a row that violates its ``DEFERRABLE INITIALLY DEFERRED`` foreign key.
- :func:`contract_schema`: a :class:`~hexalchemy.sqlalchemy.Schema` mapping every sample
  spec of :data:`hexalchemy.testing.contracts.SPECS`, for running the contract suites on
  the SQL adapters (``hexalchemy_schema = hexalchemy.pytest_plugin:contract_schema``).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table
from sqlalchemy.pool import Pool, QueuePool

from hexalchemy.ports import EntitySpec
from hexalchemy.rules import OutboxPolicy
from hexalchemy.sqlalchemy import Schema
from hexalchemy.testing.contracts import ACCOUNTS, DRAFTS, MEMBERSHIPS, SPECIMENS
from hexalchemy.testing.contracts.outbox import CONTRACT_BASE_DELAY, CONTRACT_MAX_ATTEMPTS, CONTRACT_MAX_DELAY

__all__ = [
    "COMMIT_BREAKER",
    "CONTRACT_OUTBOX_POLICY",
    "CONTRACT_TABLE_NAMES",
    "checked_out",
    "contract_schema",
]

COMMIT_BREAKER: Final = Table(
    "hexalchemy_commit_breaker",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column(
        "parent",
        Integer,
        ForeignKey("hexalchemy_commit_breaker.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)
"""A row whose ``parent`` names no row is accepted by INSERT and refused at COMMIT."""

CONTRACT_TABLE_NAMES: Final[dict[EntitySpec[Any, Any], str]] = {
    ACCOUNTS: "hx_contract_accounts",
    MEMBERSHIPS: "hx_contract_memberships",
    DRAFTS: "hx_contract_drafts",
    SPECIMENS: "hx_contract_specimens",
}
"""The table of each sample spec in :func:`contract_schema`."""

CONTRACT_OUTBOX_POLICY: Final = OutboxPolicy(
    max_attempts=CONTRACT_MAX_ATTEMPTS, base_delay=CONTRACT_BASE_DELAY, max_delay=CONTRACT_MAX_DELAY
)
"""The relay policy the outbox contracts expect (``CONTRACT_MAX_ATTEMPTS``, ``CONTRACT_BASE_DELAY``, ``CONTRACT_MAX_DELAY``)."""


def contract_schema() -> Schema:
    """A new schema mapping each sample spec of the contracts to its table of :data:`CONTRACT_TABLE_NAMES`."""
    schema = Schema()
    for spec, table in CONTRACT_TABLE_NAMES.items():
        schema.map(spec, table=table)
    return schema


def checked_out(pool: Pool) -> int:
    """How many connections of ``pool`` are in use: 0 for a pool that is not a ``QueuePool`` (SQLite ``:memory:``)."""
    return pool.checkedout() if isinstance(pool, QueuePool) else 0
