"""The contract tables on SQL: the specs mapped once per session, and the commit breaker.

Every SQL harness breaks a commit by inserting, through the transaction's own connection,
a row that violates a DEFERRABLE INITIALLY DEFERRED foreign key: the database accepts the
INSERT and refuses the COMMIT.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from sqlalchemy import Column, ForeignKey, Integer, Table
from sqlalchemy.pool import Pool, QueuePool

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import Schema, TableMapping
from hexalchemy.testing.contracts import ACCOUNTS, DRAFTS, MEMBERSHIPS, SPECIMENS, SPECS

T = TypeVar("T")
K = TypeVar("K")

SCHEMA: Final = Schema()
_TABLE_NAMES: Final = {
    ACCOUNTS.cls: "hx_contract_accounts",
    MEMBERSHIPS.cls: "hx_contract_memberships",
    DRAFTS.cls: "hx_contract_drafts",
    SPECIMENS.cls: "hx_contract_specimens",
}
MAPPINGS: Final[dict[type[object], TableMapping[Any, Any]]] = {
    spec.cls: SCHEMA.map(spec, table=_TABLE_NAMES[spec.cls]) for spec in SPECS
}
COMMIT_BREAKER: Final = Table(
    "hx_contract_commit_breaker",
    SCHEMA.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "parent",
        Integer,
        ForeignKey("hx_contract_commit_breaker.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)


def mapping_of(spec: EntitySpec[T, K]) -> TableMapping[T, K]:
    """The session's mapping of ``spec``."""
    mapping: TableMapping[T, K] = MAPPINGS[spec.cls]
    return mapping


def checked_out(pool: Pool) -> int:
    """How many connections of ``pool`` are in use."""
    if not isinstance(pool, QueuePool):  # pragma: no cover - file databases and PostgreSQL use a QueuePool
        raise TypeError(f"cannot count the connections of {pool!r}")
    return pool.checkedout()
