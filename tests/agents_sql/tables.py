"""The agent tables of the SQL agent tests (a prefix per run), and how a test damages committed evidence.

The evidence table refuses UPDATE and DELETE (append-only triggers); a test that tampers
with it does so as a superuser would, with the triggers off: :func:`tamper` on a sync
engine, :func:`tamper_async` on an async one (the same statements, run through
``run_sync``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Final

from sqlalchemy import Connection, Engine, MetaData, delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy import outbox_tables
from hexalchemy.sqlalchemy.agents import agent_tables, append_only_statements
from hexalchemy.testing import Tamper

PREFIX: Final = f"hx_test_agent_{uuid.uuid4().hex[:8]}"
METADATA: Final = MetaData()
TABLES: Final = agent_tables(METADATA, prefix=PREFIX)
OUTBOX: Final = outbox_tables(METADATA, prefix=f"{PREFIX}_outbox")


def without_triggers(connection: Connection, work: Callable[[Connection], object]) -> None:
    """Run ``work`` with the evidence table's append-only triggers off, as a superuser would."""
    name = TABLES.evidence.name
    dialect = connection.dialect
    if dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        work(connection)
        return
    # SQLite and MariaDB: drop the triggers, then make them again (DDL: MariaDB commits there)
    for operation in ("update", "delete"):
        trigger = dialect.identifier_preparer.quote(f"{name}_no_{operation}")
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    work(connection)
    for statement in append_only_statements(TABLES.evidence, dialect):
        connection.exec_driver_sql(statement)


def damage(agent_id: str, sequence: int, how: Tamper) -> Callable[[Connection], None]:
    """The statements that damage a committed evidence entry (run them with the triggers off)."""
    e = TABLES.evidence
    at = (e.c.agent_id == agent_id, e.c.sequence == sequence)

    def run(connection: Connection) -> None:
        if how is Tamper.EDIT:
            connection.execute(update(e).where(*at).values(payload={"tampered": True}))
        elif how is Tamper.DELETE:
            connection.execute(delete(e).where(*at))
        else:
            following = (e.c.agent_id == agent_id, e.c.sequence == sequence + 1)
            connection.execute(update(e).where(*at).values(sequence=-1))
            connection.execute(update(e).where(*following).values(sequence=sequence))
            connection.execute(
                update(e).where(e.c.agent_id == agent_id, e.c.sequence == -1).values(sequence=sequence + 1)
            )

    return run


def tamper(engine: Engine, agent_id: str, sequence: int, how: Tamper) -> None:
    """Damage a committed evidence entry behind the library's back (triggers disabled)."""
    with engine.begin() as connection:
        without_triggers(connection, damage(agent_id, sequence, how))


async def tamper_async(engine: AsyncEngine, agent_id: str, sequence: int, how: Tamper) -> None:
    """Damage a committed evidence entry behind the library's back, through an async engine."""
    async with engine.begin() as connection:
        await connection.run_sync(without_triggers, damage(agent_id, sequence, how))
