"""The outbox relay store on PostgreSQL: the database's clock, and due messages taken in one statement each.

Every time the relay store compares or writes comes from the database (``now()``, the
start of the store's own short transaction), so relays on several hosts agree whatever
their clocks. A claim is one statement: pick and lock due rows (``FOR UPDATE SKIP
LOCKED``, so concurrent relays skip each other's rows instead of waiting), bury those at
the attempt limit and lease the others, in data-modifying CTEs; a locked delivery's take
is one statement too. Both run on the psycopg cursor when they may (see
:mod:`hexalchemy.sqlalchemy.postgresql._driver`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Interval,
    Text,
    bindparam,
    cast,
    delete,
    func,
    select,
    type_coerce,
    update,
)

from hexalchemy.ports import Lease, OutboxMessage
from hexalchemy.sqlalchemy._operations import Plan
from hexalchemy.sqlalchemy._outbox_core import OutboxRelayCore, SelectedDueMessages, utcnow
from hexalchemy.sqlalchemy._outbox_tables import MESSAGE_COLUMNS
from hexalchemy.sqlalchemy._precompiled import statement_reader, utc
from hexalchemy.sqlalchemy.postgresql._driver import RelayConnection
from hexalchemy.sqlalchemy.types import UtcDateTime

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy.postgresql.backend import PostgreSQLBackend

__all__ = ["DatabaseClock", "LockingDueMessages"]


class DatabaseClock:
    """The database's clock: ``now()``, and ``now() + :delay`` with the delay bound as an interval."""

    def __init__(self) -> None:
        self.now: ColumnElement[Any] = func.now()

    def later(self, name: str) -> ColumnElement[Any]:
        """``now() + :name``."""
        later: ColumnElement[Any] = func.now() + bindparam(name, type_=Interval())
        return later

    def parameters(self, now: dt.datetime, **delays: dt.timedelta) -> dict[str, Any]:
        """The delays, as intervals (``now`` is the database's)."""
        return dict(delays)

    def stats_now(self) -> ColumnElement[Any] | None:
        """``now()``, in UTC: the age of the oldest message is measured on the database's clock."""
        return type_coerce(func.now(), UtcDateTime())


class LockingDueMessages:
    """Claim and take due messages in one statement each, locking the rows they take."""

    def __init__(self, core: OutboxRelayCore, backend: PostgreSQLBackend) -> None:
        self.core = core
        m, d = core.tables.messages, core.tables.dead_letters
        lease_until = core.clock.later("hx_lease")
        leasing: dict[str, Any] = {
            "lease_token": core.token,
            "lease_expires_at": lease_until,
            "available_at": lease_until,  # the expiry: an expired lease is due again
            "attempts": m.c.attempts + 1,
        }
        max_attempts = bindparam("hx_max_attempts", type_=Integer())
        due = backend.materialized(core.due("id", "available_at", lock=True).cte("due"))
        dead = (
            delete(m)
            .where(m.c.id == due.c.id, m.c.attempts >= max_attempts)
            .returning(*core.columns)
            .cte("dead")
        )
        buried = (
            backend.insert(d)
            .from_select(
                [*MESSAGE_COLUMNS, "error", "failed_at"],
                select(
                    *[dead.c[name] for name in MESSAGE_COLUMNS],
                    bindparam("hx_error", type_=Text()),
                    core.now,
                ),
            )
            .cte("buried")
        )
        # the columns of core.stored: its mapped ones, which the mapping's reader converts, first
        returned = [due.c.available_at if c.key == "available_at" else c for c in core.columns]
        leased = (
            update(m)
            .where(m.c.id == due.c.id, m.c.attempts < max_attempts)
            .values(leasing)
            .returning(*returned, m.c.lease_expires_at)
            .add_cte(dead, buried)
            .cte("leased")
        )
        # Sorted by the server, which has the rows at hand: the lease holds them in delivery order.
        self.claim_statement: Any = select(
            *[leased.c[name] for name in (*core.stored, "lease_expires_at")]
        ).order_by(leased.c.available_at, leased.c.id)
        self.claim_due = backend.prepare(self.claim_statement, core.dialect)
        deliverable = backend.materialized(core.due("id", lock=True).cte("deliverable"))
        taken = delete(m).where(m.c.id == deliverable.c.id).returning(*core.columns).cte("taken")
        # Sorted by the server, which has the rows at hand: the relay publishes them as they come.
        # the rows as they are once this attempt is counted
        self.take_statement: Any = select(
            *[
                (taken.c.attempts + 1).label("attempts") if name == "attempts" else taken.c[name]
                for name in core.stored
            ],
            core.recorded_crashes(taken.c.id),
            # the delivery's record names its transaction (see ``_deliveries``)
            cast(func.pg_current_xact_id(), Text).label("transaction_id"),
        ).order_by(taken.c.available_at, taken.c.id)
        self.take_due = backend.prepare(self.take_statement, core.dialect)
        # Rows read on the psycopg cursor come with their times in the session's time zone:
        # the mapping's generated reader puts them in UTC, as UtcDateTime does on SQLAlchemy's path.
        self.read: Callable[[Sequence[Any]], OutboxMessage] = statement_reader(core.mapping)
        # Locked deliveries record what they publish on a second connection, after the take.
        self.holds_rows = True
        self._selected = SelectedDueMessages(core, lock=True)

    def claim(self, connection: Any, *, limit: int, lease_for: dt.timedelta, token: uuid.UUID) -> Plan[Lease]:
        """Plan: one statement: pick and lock due rows (skipping locked ones), bury or lease them."""
        core = self.core
        parameters = {
            "hx_limit": limit,
            "hx_max_attempts": core.policy.max_attempts,
            "hx_error": core.exhausted_error,
            "hx_token": token,
            "hx_lease": lease_for,
        }
        rows = yield from self.claim_due.run(RelayConnection(connection), parameters)
        read = self.read
        messages = [read(row) for row in rows]  # already in delivery order
        # The database's expiry (now() is the start of this transaction); Python's clock only
        # for an empty lease, which holds nothing.
        expires_at = utc(rows[0][len(core.stored)]) if rows else utcnow() + lease_for
        return Lease(token, expires_at, tuple(messages))

    def take(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: one statement: delete (and so lock) up to ``limit`` due rows, in delivery order."""
        rows: list[Sequence[Any]] = yield from self.take_due.run(
            RelayConnection(connection), {"hx_limit": limit}
        )
        return rows

    def pick(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: up to ``limit`` due rows, nothing written (not used here: :attr:`holds_rows`)."""
        return self._selected.pick(connection, limit)

    def take_picked(self, connection: Any, ids: list[uuid.UUID]) -> Plan[list[Sequence[Any]]]:
        """Plan: delete those of ``ids`` still due (not used here: :attr:`holds_rows`)."""
        return self._selected.take_picked(connection, ids)
