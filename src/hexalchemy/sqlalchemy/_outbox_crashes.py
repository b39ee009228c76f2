"""Locked deliveries that die: the record that survives them, and how the next delivery counts it.

A locked delivery publishes in the transaction that took its messages, so a relay that
dies mid-batch rolls everything back: the attempt it counted in the messages' rows is
gone with it. Before the publisher runs, the delivery therefore records what it is about
to publish in ``{prefix}_deliveries``, in a short transaction of its own (one row: a
token and the message ids); its own transaction deletes that row and commits with it. A
row left behind is a delivery whose relay died (or whose transaction rolled back):

- the next delivery that finds it turns it into ``{prefix}_crashes`` (per message, how
  many deliveries died with it) and deletes it, in that same short transaction;
- a message's attempts are its stored ones plus its crashes: a message that keeps killing
  its relay reaches ``max_attempts`` and is dead-lettered without being published again;
- a message with crashes is a suspect: it is published alone (poison isolation), the
  other messages taken with it go back untouched, so a crash never counts against
  innocent batch-mates more than once;
- the delivery that settles a message (publishes, puts back or buries it) deletes its
  crashes row: they are counted into the row it writes back, if any.

PostgreSQL's backend records each delivery under its transaction's id instead, and asks
the server whether that transaction ended (``postgresql/_deliveries.py``); the rest holds.

Finding the rows left behind: where rows are locked (MariaDB) a live delivery
holds a lock on its row from just after writing it (its transaction deletes it), and the
search skips locked rows (``FOR UPDATE SKIP LOCKED``). In the instant between the two, or
on SQLite (where the record is written just before the taking transaction starts), a
live delivery's row may be taken for a dead one; that delivery then finds its row gone
and takes the crashes it caused back, in its own transaction: if it dies after all, the
count stands, as it should.
"""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import JSON, bindparam, delete, select, update

from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy.backend import Backend

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._outbox_core import OutboxRelayCore

__all__ = ["Choice", "CrashLedger", "add_crashes", "choose", "recorded_crashes"]


@attrs.frozen
class Choice:
    """What a locked delivery does with the rows it took (or picked)."""

    publish: list[uuid.UUID]
    """The messages it publishes, in delivery order: recorded in ``{prefix}_deliveries``."""
    bury: list[uuid.UUID]
    """The messages whose attempts with their crashes passed ``max_attempts``: the delivery buries them."""
    crashes: dict[uuid.UUID, int]
    """The crashes of each row that has some (recorded, and just found)."""
    isolated: bool
    """Whether :attr:`publish` is one suspect, published alone."""


def recorded_crashes(core: OutboxRelayCore, rows: Sequence[Sequence[Any]]) -> dict[uuid.UUID, int]:
    """The crashes each of ``rows`` has recorded (the column after :attr:`OutboxRelayCore.stored`), those with some."""
    at = len(core.stored)
    return {row[0]: row[at] for row in rows if row[at]}


def add_crashes(
    crashes: dict[uuid.UUID, int], rows: Sequence[Sequence[Any]], died: Mapping[uuid.UUID, int]
) -> None:
    """Add to ``crashes`` the deliveries just found dead with each of ``rows``."""
    for row in rows:
        if row[0] in died:
            crashes[row[0]] = crashes.get(row[0], 0) + died[row[0]]


def choose(core: OutboxRelayCore, rows: Sequence[Sequence[Any]], crashes: dict[uuid.UUID, int]) -> Choice:
    """What a locked delivery does with ``rows`` (in delivery order), given their ``crashes``.

    A message whose attempts with its crashes pass ``max_attempts`` is buried; if any other
    has crashes, the first such (a suspect) is published alone; else every other one is.
    """
    max_attempts, attempts = core.policy.max_attempts, core.attempts
    live: list[uuid.UUID] = []
    bury: list[uuid.UUID] = []
    for row in rows:
        (live if row[attempts] + crashes.get(row[0], 0) <= max_attempts else bury).append(row[0])
    suspects = [id for id in live if id in crashes] if crashes else []
    return Choice(suspects[:1] if suspects else live, bury, crashes, bool(suspects))


class CrashLedger:
    """The statements and plans of ``{prefix}_deliveries`` and ``{prefix}_crashes``.

    A backend may give its own (``Backend.crash_ledger``): PostgreSQL's records each
    delivery with its transaction, whose status tells a dead delivery from a live one.
    """

    options: Mapping[str, Any] = {}
    """The execution options of the connection :meth:`choose` runs on (its own short transaction)."""

    def __init__(self, core: OutboxRelayCore, backend: Backend, *, lock: bool) -> None:
        self.core = core
        deliveries, crashes = core.tables.deliveries, core.tables.crashes
        token = bindparam("hx_token", type_=deliveries.c.token.type)
        left = select(deliveries.c.token, deliveries.c.message_ids).where(deliveries.c.token != token)
        self.left_statement = left.with_for_update(skip_locked=True) if lock else left
        self.forget_statement = delete(deliveries).where(
            deliveries.c.token.in_(bindparam("hx_tokens", expanding=True))
        )
        self.count_statement = backend.upsert(
            backend.insert(crashes),
            [crashes.c.message_id],
            lambda proposed: {"crashes": crashes.c.crashes + proposed.crashes},
        )
        # An upsert: a transaction that runs again after a deadlock writes its row again.
        self.mark_statement = backend.upsert(
            backend.insert(deliveries).values(
                token=token, message_ids=bindparam("hx_message_ids", type_=JSON()), started_at=core.now
            ),
            [deliveries.c.token],
            lambda proposed: {"message_ids": proposed.message_ids, "started_at": proposed.started_at},
        )
        self.unmark_statement = delete(deliveries).where(deliveries.c.token == token)
        ids = backend.one_of(crashes.c.message_id, "hx_ids")
        self.uncount_statement = update(crashes).where(ids).values(crashes=crashes.c.crashes - 1)
        self.uncounted_statement = delete(crashes).where(ids, crashes.c.crashes <= 0)
        self.clear_statement = delete(crashes).where(ids)

    def choose(self, connection: Any, *, rows: Sequence[Sequence[Any]], token: uuid.UUID) -> Plan[Choice]:
        """Plan: count the deliveries left behind, choose what to publish of ``rows``, record it as ``token``.

        ``rows``: taken or picked rows (see ``DueMessages``), in delivery order. A message
        whose attempts with its crashes pass ``max_attempts`` is left out (the delivery
        buries it); if any other has crashes, the first such is published alone.
        """
        core = self.core
        crashes = recorded_crashes(core, rows)
        result = yield Call(connection.execute, (self.left_statement, {"hx_token": token}))
        left = result.all()
        if left:
            died = collections.Counter(uuid.UUID(str(id)) for _, ids in left for id in ids)
            yield Call(connection.execute, (self.forget_statement, {"hx_tokens": [row[0] for row in left]}))
            counts = [{"message_id": id, "crashes": n} for id, n in died.items()]
            yield Call(connection.execute, (self.count_statement, counts))
            add_crashes(crashes, rows, died)
        choice = choose(core, rows, crashes)
        if choice.publish:
            parameters = {
                "hx_token": token,
                "hx_message_ids": [str(id) for id in choice.publish],
                **core.clock.parameters(dt.datetime.now(dt.UTC)),
            }
            yield Call(connection.execute, (self.mark_statement, parameters))
        return choice

    def unmark(self, connection: Any, *, token: uuid.UUID, publish: list[uuid.UUID]) -> Plan[None]:
        """Plan, in the delivery's transaction: delete its record; if another delivery counted it already, take the count back."""
        result = yield Call(connection.execute, (self.unmark_statement, {"hx_token": token}))
        if result.rowcount == 0:
            yield Call(connection.execute, (self.uncount_statement, {"hx_ids": publish}))
            yield Call(connection.execute, (self.uncounted_statement, {"hx_ids": publish}))

    def clear(self, connection: Any, ids: list[uuid.UUID]) -> Plan[None]:
        """Plan: delete the crashes of ``ids`` (settled: their count went into the row written back, if any)."""
        if ids:
            yield Call(connection.execute, (self.clear_statement, {"hx_ids": ids}))
