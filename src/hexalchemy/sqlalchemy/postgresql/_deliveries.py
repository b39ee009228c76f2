"""Locked deliveries on PostgreSQL: each recorded with its transaction, in one autocommit statement.

The portable record (``_outbox_crashes.CrashLedger``) costs a locked delivery a second
short transaction (its search for records left behind, the record's ``INSERT``, their
commit) and a ``DELETE`` of the record in its own. Here the record names the delivery's
transaction instead (its ``token`` is the transaction id, ``pg_current_xact_id()``, read
with the rows it took), and ``pg_xact_status`` tells what became of it:

- ``in progress``: the delivery is live; its record stays;
- ``committed``: it settled its messages; its record is deleted, nothing counted;
- ``aborted`` (its relay died, or its transaction rolled back), or unknown (a transaction
  too old for the server to remember): it died; its record is deleted and counted in
  ``{prefix}_crashes``, per message, as the portable record's are;
- an id the server has not reached yet (a record restored from another cluster): foreign;
  its record is deleted, nothing counted.

So the delivery's own transaction never touches its record, and the record is one
statement in autocommit, with no wait for the disk (``synchronous_commit`` off for that
statement's transaction alone: it must survive the relay, not the server): it deletes the
records of finished deliveries (``FOR UPDATE SKIP LOCKED``: another relay's statement
may be deleting them), counts the dead ones' messages, and inserts this delivery's record.
When some of the dead ones' messages are among those this delivery was about to publish,
the record it inserts names the first of them alone, in the same statement: the delivery
publishes that suspect alone (:func:`~hexalchemy.sqlalchemy._outbox_crashes.choose`).
Only if the crashes just counted put that suspect past ``max_attempts`` (the delivery
buries it) does a second statement rewrite the record with what the delivery publishes
instead. A live delivery is never taken for a dead one.

``pg_current_xact_id`` and ``pg_xact_status`` need PostgreSQL 13 or later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Text,
    Uuid,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.types import UserDefinedType

from hexalchemy.sqlalchemy._operations import Plan
from hexalchemy.sqlalchemy._outbox_crashes import Choice, CrashLedger, add_crashes, choose, recorded_crashes
from hexalchemy.sqlalchemy._precompiled import OwnConnection

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._outbox_core import OutboxRelayCore
    from hexalchemy.sqlalchemy.postgresql.backend import PostgreSQLBackend

__all__ = ["TransactionLedger", "transaction_token"]

_LAST_TOKEN: Final = uuid.UUID(int=2**64 - 1)
"""Tokens up to this one name a transaction (:func:`transaction_token`); others are not this ledger's."""


def transaction_token(transaction_id: int) -> uuid.UUID:
    """The record token of the transaction ``transaction_id`` (a 64-bit ``xid8``): the id in the token's low 64 bits."""
    return uuid.UUID(int=transaction_id)


class _Xid8(UserDefinedType[int]):
    """PostgreSQL's ``xid8``: a 64-bit transaction id (the type ``pg_xact_status`` takes)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class TransactionLedger(CrashLedger):
    """Each locked delivery recorded with its transaction's id, in one autocommit statement (see the module)."""

    options: Mapping[str, Any] = {"isolation_level": "AUTOCOMMIT"}
    """The record's statement commits on its own."""

    def __init__(self, core: OutboxRelayCore, backend: PostgreSQLBackend) -> None:
        super().__init__(core, backend, lock=True)
        d, c = core.tables.deliveries, core.tables.crashes
        token = bindparam("hx_token", type_=Uuid(as_uuid=True))
        wanted = bindparam("hx_message_ids", type_=Text())  # JSON text: this delivery's messages, in order
        # the token's low 64 bits, as the xid8 they are
        low_bits = func.right(func.replace(cast(d.c.token, Text), "-", ""), 16)
        transaction = cast(cast(cast(cast(literal("x") + low_bits, BIT(64)), BigInteger), Text), _Xid8())
        # an id the server has not reached (a record restored into another cluster) is foreign:
        # pg_xact_status would raise; its record is deleted and counts nothing
        status = case(
            (
                transaction < func.pg_snapshot_xmax(func.pg_current_snapshot()),
                func.pg_xact_status(transaction),
            ),
            else_=literal("foreign"),
        )
        asynchronous = select(func.set_config("synchronous_commit", "off", true()).label("setting")).cte(
            "asynchronous"
        )
        finished = (
            select(d.c.token)
            .where(d.c.token <= _LAST_TOKEN, d.c.token != token, status.is_distinct_from("in progress"))
            .with_for_update(skip_locked=True)
            .cte("finished")
        )
        forgotten = (
            delete(d)
            .where(d.c.token.in_(select(finished.c.token)))
            .returning(d.c.message_ids, status.label("status"))
            .cte("forgotten")
        )
        element = (
            func.json_array_elements_text(forgotten.c.message_ids).table_valued("value").alias("element")
        )
        died = (
            select(
                cast(element.c.value, Uuid(as_uuid=True)).label("message_id"), func.count().label("crashes")
            )
            .select_from(forgotten)
            .join(element, true())
            .where(
                func.coalesce(forgotten.c.status, "unknown") != "committed",
                func.coalesce(forgotten.c.status, "unknown") != "foreign",
            )
            .group_by(element.c.value)
            .cte("died")
        )
        counted = backend.upsert(
            backend.insert(c).from_select(
                ["message_id", "crashes"],
                select(died.c.message_id, died.c.crashes).order_by(died.c.message_id),
            ),
            [c.c.message_id],
            lambda proposed: {"crashes": c.c.crashes + proposed.crashes},
        ).cte("counted")
        ours = (
            func.json_array_elements_text(cast(wanted, JSON))
            .table_valued("value", with_ordinality="position")
            .render_derived(name="ours")
        )
        ours_id = cast(ours.c.value, Uuid(as_uuid=True))
        suspect = (
            select(func.json_build_array(ours.c.value))
            .select_from(ours)
            .join(died, died.c.message_id == ours_id)
            .order_by(ours.c.position)
            .limit(1)
            .scalar_subquery()
        )
        marked = (
            backend.insert(d)
            .from_select(
                ["token", "message_ids", "started_at"],
                select(token, func.coalesce(suspect, cast(wanted, JSON)), func.now()),
            )
            .cte("marked")
        )
        statement = (
            select(died.c.message_id, died.c.crashes)
            .select_from(asynchronous.outerjoin(died, true()))
            .add_cte(counted, marked)
        )
        self.record = backend.prepare(statement, core.dialect)
        self.rewrite = backend.prepare(
            update(d).where(d.c.token == token).values(message_ids=cast(wanted, JSON)), core.dialect
        )
        self.transaction_at = len(core.stored) + 1
        """Where the rows a delivery took hold its transaction's id (after the crashes)."""

    def choose(self, connection: Any, *, rows: Sequence[Sequence[Any]], token: uuid.UUID) -> Plan[Choice]:
        """Plan, in autocommit: record what to publish of ``rows`` under their transaction's id, counting the dead deliveries found.

        ``token``: not used; the record's token is the transaction's (:func:`transaction_token`).
        """
        core = self.core
        crashes = recorded_crashes(core, rows)
        choice = choose(core, rows, crashes)
        if not choice.publish:
            return choice
        parameters = {
            "hx_token": transaction_token(int(rows[0][self.transaction_at])),
            "hx_message_ids": json.dumps([str(id) for id in choice.publish]),
        }
        found = yield from self.record.run(OwnConnection(connection), parameters)
        died = {row[0]: row[1] for row in found if row[0] is not None}
        if not died:
            return choice
        recorded = [id for id in choice.publish if id in died][:1] or choice.publish  # as the statement chose
        add_crashes(crashes, rows, died)
        choice = choose(core, rows, crashes)
        if choice.publish != recorded:  # the crashes just counted buried the suspect it recorded
            parameters["hx_message_ids"] = json.dumps([str(id) for id in choice.publish])
            yield from self.rewrite.run(OwnConnection(connection), parameters)
        return choice

    def unmark(self, connection: Any, *, token: uuid.UUID, publish: list[uuid.UUID]) -> Plan[None]:
        """Plan: nothing: the commit of the delivery's transaction ends its record (its status becomes ``committed``)."""
        yield from ()
