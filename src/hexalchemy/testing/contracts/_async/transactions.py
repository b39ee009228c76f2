# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The transaction contract for :class:`AsyncTransactionManager` implementations; see :mod:`hexalchemy.testing.contracts.transactions`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import pytest

from hexalchemy.ports import (
    AsyncRepository,
    CommitError,
    DuplicateEntityError,
    InvalidArgumentError,
    IsolationLevel,
    ReadOnlyTransactionError,
    TransactionUsageError,
    VersionConflictError,
)
from hexalchemy.testing.contracts._support import AsyncContract, BoomError, seed_async
from hexalchemy.testing.contracts.domain import ACCOUNTS, MEMBERSHIPS, Account, Membership, new_account
from hexalchemy.testing.contracts.harness import AsyncHarness

FAILING_TRANSACTIONS: Final = 1_000
"""How many failing transactions the connection-leak test runs."""

_Write = Callable[[AsyncRepository[Account, uuid.UUID], Account], Awaitable[object]]

_WRITES: Final[dict[str, _Write]] = {
    "save": lambda repository, account: repository.save(attrs.evolve(account, owner="changed")),
    "save_all": lambda repository, account: repository.save_all([attrs.evolve(account, owner="changed")]),
    "delete": lambda repository, account: repository.delete(account),
    "delete_all": lambda repository, account: repository.delete_all([account]),
}


async def _open_and_close_a_block(harness: AsyncHarness, isolation_level: IsolationLevel) -> None:
    """Open a block of ``harness.transactions`` at ``isolation_level`` and leave it at once."""
    async with harness.transactions.begin(isolation_level=isolation_level):
        pass


class AsyncTransactionContract(AsyncContract):
    """Behaviour every :class:`AsyncTransactionManager` shares; needs a ``harness`` fixture (:class:`AsyncHarness`)."""

    # -- commit and rollback -----------------------------------------------------------------

    async def test_the_writes_of_a_committed_transaction_are_seen_by_the_next_one(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            saved = await accounts.save(new_account())
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_an_exception_rolls_back_every_write_of_the_transaction(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [kept] = await seed_async(harness, new_account("kept"))
        added = new_account("added")
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                await accounts.save(added)
                await accounts.save(attrs.evolve(kept, owner="changed"))
                raise BoomError
        async with harness.transactions.begin():
            assert await accounts.range([added.id, kept.id]) == [kept]

    async def test_the_exception_that_ends_a_transaction_propagates_unchanged(
        self, harness: AsyncHarness
    ) -> None:
        error = BoomError("the original")
        with pytest.raises(BoomError) as caught:
            async with harness.transactions.begin():
                raise error
        assert caught.value is error

    async def test_a_rollback_undoes_the_writes_to_every_repository(self, harness: AsyncHarness) -> None:
        accounts, memberships = harness.repository(ACCOUNTS), harness.repository(MEMBERSHIPS)
        account = new_account()
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                await accounts.save(account)
                await memberships.save(Membership("red", 1, "member"))
                raise BoomError
        async with harness.transactions.begin():
            assert not await accounts.contains(account.id)
            assert not await memberships.contains(("red", 1))

    async def test_a_version_conflict_that_escapes_the_transaction_rolls_it_back(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [stale] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.save(attrs.evolve(stale, owner="moved on"))
        added = new_account("added")
        with pytest.raises(VersionConflictError):
            async with harness.transactions.begin():
                await accounts.save(added)
                await accounts.save(attrs.evolve(stale, owner="lost"))
        async with harness.transactions.begin():
            assert not await accounts.contains(added.id)

    # -- in_transaction --------------------------------------------------------------------

    async def test_in_transaction_is_false_outside_any_transaction(self, harness: AsyncHarness) -> None:
        assert harness.transactions.in_transaction is False

    async def test_in_transaction_is_true_inside_a_transaction_and_its_nested_blocks(
        self, harness: AsyncHarness
    ) -> None:
        async with harness.transactions.begin():
            assert harness.transactions.in_transaction is True
            async with harness.transactions.begin():
                assert harness.transactions.in_transaction is True
            assert harness.transactions.in_transaction is True

    async def test_in_transaction_is_false_after_a_commit_and_after_a_rollback(
        self, harness: AsyncHarness
    ) -> None:
        async with harness.transactions.begin():
            pass
        assert harness.transactions.in_transaction is False
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                raise BoomError
        assert harness.transactions.in_transaction is False

    # -- nesting -----------------------------------------------------------------------------

    async def test_a_failed_nested_block_undoes_only_its_own_writes(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        outer, inner = new_account("outer"), new_account("inner")
        async with harness.transactions.begin():
            await accounts.save(outer)
            with pytest.raises(BoomError):
                async with harness.transactions.begin():
                    await accounts.save(inner)
                    raise BoomError
            assert await accounts.contains(outer.id)
            assert not await accounts.contains(inner.id)
        async with harness.transactions.begin():
            assert await accounts.contains(outer.id)
            assert not await accounts.contains(inner.id)

    async def test_a_failed_nested_block_restores_what_it_changed(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            with pytest.raises(BoomError):
                async with harness.transactions.begin():
                    await accounts.save(attrs.evolve(saved, owner="changed"))
                    raise BoomError
            assert await accounts.get(saved.id) == saved
            updated = await accounts.save(attrs.evolve(saved, owner="after"))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == updated

    async def test_a_nested_block_that_succeeds_is_committed_with_the_outer_transaction(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            async with harness.transactions.begin():
                inner = await accounts.save(new_account("inner"))
            assert await accounts.get(inner.id) == inner
        async with harness.transactions.begin():
            assert await accounts.get(inner.id) == inner

    async def test_a_failed_outer_transaction_undoes_its_successful_nested_blocks(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        inner = new_account("inner")
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                async with harness.transactions.begin():
                    await accounts.save(inner)
                raise BoomError
        async with harness.transactions.begin():
            assert not await accounts.contains(inner.id)

    async def test_nested_blocks_can_nest_again(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, second, third = new_account("1"), new_account("2"), new_account("3")
        async with harness.transactions.begin():
            await accounts.save(first)
            async with harness.transactions.begin():
                await accounts.save(second)
                with pytest.raises(BoomError):
                    async with harness.transactions.begin():
                        await accounts.save(third)
                        raise BoomError
        async with harness.transactions.begin():
            found = await accounts.range([first.id, second.id, third.id])
            assert [a.id for a in found] == [first.id, second.id]

    async def test_a_nested_begin_with_an_isolation_level_raises_transaction_usage_error(
        self, harness: AsyncHarness
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await _open_and_close_a_block(harness, IsolationLevel.SERIALIZABLE)

    async def test_the_outer_transaction_goes_on_after_a_refused_nested_isolation_level(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await _open_and_close_a_block(harness, IsolationLevel.READ_COMMITTED)
            assert harness.transactions.in_transaction
            saved = await accounts.save(new_account())
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    @pytest.mark.parametrize(
        "arguments",
        [{"read_only": "yes"}, {"read_only": 1}, {"isolation_level": "SERIALIZABLE"}],
        ids=["read_only-str", "read_only-int", "isolation_level-str"],
    )
    async def test_begin_refuses_arguments_of_the_wrong_type_when_it_is_called(
        self, harness: AsyncHarness, arguments: dict[str, object]
    ) -> None:
        begin: Any = harness.transactions.begin
        with pytest.raises(InvalidArgumentError, match=next(iter(arguments))):
            begin(**arguments)
        assert not harness.transactions.in_transaction

    @pytest.mark.parametrize("level", list(IsolationLevel), ids=lambda level: level.name)
    async def test_an_outermost_transaction_accepts_every_isolation_level(
        self, harness: AsyncHarness, level: IsolationLevel
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin(isolation_level=level):
            saved = await accounts.save(new_account())
        async with harness.transactions.begin(isolation_level=level):
            assert await accounts.get(saved.id) == saved

    # -- read-only transactions ----------------------------------------------------------------

    async def test_a_read_only_transaction_allows_every_read(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin(read_only=True):
            assert await accounts.get(saved.id) == saved
            assert await accounts.get_or_none(saved.id) == saved
            assert await accounts.contains(saved.id)
            assert await accounts.range([saved.id]) == [saved]

    @pytest.mark.parametrize("method", sorted(_WRITES))
    async def test_a_read_only_transaction_refuses_every_write(
        self, harness: AsyncHarness, method: str
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin(read_only=True):
            with pytest.raises(ReadOnlyTransactionError):
                await _WRITES[method](accounts, saved)
            assert await accounts.get(saved.id) == saved
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_a_read_only_nested_block_refuses_writes_and_the_outer_transaction_still_writes(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        transactions = harness.transactions
        async with transactions.begin():
            async with transactions.begin(read_only=True):
                with pytest.raises(ReadOnlyTransactionError):
                    await accounts.save(new_account("refused"))
            saved = await accounts.save(new_account("accepted"))
        async with transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_a_nested_block_of_a_read_only_transaction_is_read_only_too(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        refused = new_account()
        async with harness.transactions.begin(read_only=True), harness.transactions.begin():
            with pytest.raises(ReadOnlyTransactionError):
                await accounts.save(refused)
            assert not await accounts.contains(refused.id)

    # -- commit failures -------------------------------------------------------------------

    async def test_a_failing_commit_raises_commit_error(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        with pytest.raises(CommitError):
            async with harness.transactions.begin():
                await accounts.save(new_account())
                await harness.break_commit()

    async def test_a_failing_commit_leaves_nothing_of_the_transaction(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [kept] = await seed_async(harness, new_account("kept"))
        added = new_account("added")
        with pytest.raises(CommitError):
            async with harness.transactions.begin():
                await accounts.save(added)
                await accounts.save(attrs.evolve(kept, owner="changed"))
                async with harness.transactions.begin():
                    await accounts.save(new_account("nested"))
                await harness.break_commit()
        async with harness.transactions.begin():
            assert await accounts.range([added.id, kept.id]) == [kept]

    async def test_the_manager_works_after_a_failing_commit(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        with pytest.raises(CommitError):
            async with harness.transactions.begin():
                await harness.break_commit()
        assert not harness.transactions.in_transaction
        async with harness.transactions.begin():
            saved = await accounts.save(new_account())
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    # -- resources -------------------------------------------------------------------------

    async def test_no_connection_is_left_checked_out_after_1000_transactions_that_fail_in_different_ways(
        self, harness: AsyncHarness
    ) -> None:
        transactions = harness.transactions
        accounts = harness.repository(ACCOUNTS)
        [stale] = await seed_async(harness, new_account("seed"))
        async with transactions.begin():
            current = await accounts.save(attrs.evolve(stale, owner="current"))
        created: list[uuid.UUID] = []

        async def body_raises() -> None:
            async with transactions.begin():
                created.append((await accounts.save(new_account())).id)
                raise BoomError

        async def conflict_caught_inside() -> None:
            async with transactions.begin():
                with pytest.raises(VersionConflictError):
                    await accounts.save(stale)

        async def conflict_propagates() -> None:
            async with transactions.begin():
                await accounts.save(stale)

        async def duplicate() -> None:
            async with transactions.begin():
                await accounts.save(attrs.evolve(current, version=0))

        async def commit_fails() -> None:
            async with transactions.begin():
                created.append((await accounts.save(new_account())).id)
                await harness.break_commit()

        async def nested_block_fails() -> None:
            async with transactions.begin():
                with pytest.raises(BoomError):
                    async with transactions.begin():
                        created.append((await accounts.save(new_account())).id)
                        raise BoomError

        async def read_only_write() -> None:
            async with transactions.begin(read_only=True):
                await accounts.save(new_account())

        scenarios: list[tuple[Callable[[], Awaitable[None]], type[Exception] | None]] = [
            (body_raises, BoomError),
            (conflict_caught_inside, None),
            (conflict_propagates, VersionConflictError),
            (duplicate, DuplicateEntityError),
            (commit_fails, CommitError),
            (nested_block_fails, None),
            (read_only_write, ReadOnlyTransactionError),
        ]
        for index in range(FAILING_TRANSACTIONS):
            scenario, expected = scenarios[index % len(scenarios)]
            if expected is None:
                await scenario()
            else:
                with pytest.raises(expected):
                    await scenario()
        assert harness.checked_out_connections() == 0
        assert not transactions.in_transaction
        async with transactions.begin():
            assert await accounts.get(stale.id) == current
            assert await accounts.range(created) == []
        assert harness.checked_out_connections() == 0
