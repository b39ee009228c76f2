"""The repository's psycopg fast paths step aside while the engine is watched (PostgreSQL).

``get``, ``contains``, ``range``, the version-checked updates of ``save_all`` and its
COPY of new aggregates skip SQLAlchemy's statement execution on psycopg. While a
``before_cursor_execute`` listener watches the engine (a tracer, a statement counter),
they go through SQLAlchemy, so the listener sees every statement; results are the same.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from sqlalchemy import event

from hexalchemy.testing.contracts.domain import ACCOUNTS, Account, new_account
from tests.contracts._sync.harness import SqlHarness
from tests.statements import counting_statements

BATCH = 80
"""New aggregates in one save_all: above the default copy_threshold (64)."""


@attrs.frozen
class Outcome:
    saved: list[Account]
    updated: list[Account]
    got: Account
    contained: bool
    ranged: list[Account]


def _exercise(harness: SqlHarness, owner: str) -> Outcome:
    accounts = harness.repository(ACCOUNTS)
    batch = [new_account(f"{owner}-{index}") for index in range(BATCH)]
    with harness.transactions.begin():
        saved = accounts.save_all(batch)
    with harness.transactions.begin():
        updated = accounts.save_all([attrs.evolve(account, points=7) for account in saved[:3]])
        got, contained = accounts.get(saved[0].id), accounts.contains(saved[1].id)
        ranged = accounts.range([account.id for account in saved])
    return Outcome(saved, updated, got, contained, ranged)


@pytest.mark.postgresql
def test_a_listener_sees_every_statement_and_the_results_are_the_same(postgresql_harness: SqlHarness) -> None:
    fast = _exercise(postgresql_harness, "fast")
    with counting_statements(postgresql_harness.engine) as statements:
        watched = _exercise(postgresql_harness, "watched")
    text = "\n".join(statements)
    assert "INSERT INTO" in text  # the new aggregates went as an INSERT the listener saw, not a COPY
    assert "UPDATE" in text and text.count("SELECT") >= 3  # the updates, get, contains and range
    for outcome in (fast, watched):
        assert [account.version for account in outcome.saved] == [1] * BATCH
        assert [(account.points, account.version) for account in outcome.updated] == [(7, 2)] * 3
        assert outcome.got == outcome.updated[0] and outcome.contained
        assert outcome.ranged == [*outcome.updated, *outcome.saved[3:]]


@pytest.mark.postgresql
def test_a_listener_on_the_transaction_s_connection_sees_the_next_statements(
    postgresql_harness: SqlHarness,
) -> None:
    accounts = postgresql_harness.repository(ACCOUNTS)
    account = new_account("watched")
    with postgresql_harness.transactions.begin():
        accounts.save(account)
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with postgresql_harness.transactions.begin():
        assert accounts.get(account.id).owner == "watched"  # before the listener: the driver path
        assert seen == []
        event.listen(postgresql_harness.transactions.connection(), "before_cursor_execute", before)
        assert accounts.get(account.id).owner == "watched"
        assert accounts.contains(account.id)
    assert len(seen) == 2
