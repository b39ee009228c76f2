"""Behaviour specific to the in-memory adapters (the shared contract suite lives elsewhere)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable

import attrs
import pytest

from hexalchemy.ports import (
    AsyncRepository,
    AsyncTransactionManager,
    CommitError,
    DuplicateEntityError,
    EntitySpec,
    Repository,
    TransactionManager,
    TransactionUsageError,
    VersionConflictError,
)
from hexalchemy.testing import (
    AsyncInMemoryRepository,
    AsyncInMemoryTransactionManager,
    InMemoryRepository,
    InMemoryTransactionManager,
)


@attrs.define
class Account:
    id: int
    owner: str
    tags: list[str] = attrs.Factory(list)
    version: int = 0


SPEC = EntitySpec(Account, key="id", version="version", key_type=int)


def make() -> tuple[InMemoryTransactionManager, InMemoryRepository[Account, int]]:
    transactions = InMemoryTransactionManager()
    return transactions, InMemoryRepository(SPEC, transactions)


def make_async() -> tuple[AsyncInMemoryTransactionManager, AsyncInMemoryRepository[Account, int]]:
    transactions = AsyncInMemoryTransactionManager()
    return transactions, AsyncInMemoryRepository(SPEC, transactions)


def test_adapters_implement_the_ports() -> None:
    transactions, repository = make()
    async_transactions, async_repository = make_async()
    manager: TransactionManager = transactions
    repo: Repository[Account, int] = repository
    async_manager: AsyncTransactionManager = async_transactions
    async_repo: AsyncRepository[Account, int] = async_repository
    assert all(port is not None for port in (manager, repo, async_manager, async_repo))


# -- fail_next_commit ------------------------------------------------------------------------


def test_fail_next_commit_applies_nothing_and_chains_the_cause() -> None:
    transactions, accounts = make()
    cause = ConnectionError("connection lost")
    transactions.fail_next_commit(cause)
    with pytest.raises(CommitError) as caught, transactions.begin():
        accounts.save(Account(1, "ann"))
    assert caught.value.__cause__ is cause
    assert not transactions.in_transaction
    with transactions.begin():
        assert not accounts.contains(1)
        accounts.save(Account(1, "ann"))  # the failure fires only once
    with transactions.begin():
        assert accounts.get(1).version == 1


def test_fail_next_commit_default_cause_and_rollback_keeps_it_armed() -> None:
    transactions, accounts = make()
    transactions.fail_next_commit()
    with pytest.raises(KeyError), transactions.begin():
        raise KeyError("rolled back, not committed")
    with pytest.raises(CommitError) as caught, transactions.begin():
        with transactions.begin():  # a savepoint release is not a commit
            accounts.save(Account(1, "ann"))
        assert accounts.contains(1)
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_async_fail_next_commit() -> None:
    transactions, accounts = make_async()
    transactions.fail_next_commit(OSError("disk full"))
    with pytest.raises(CommitError) as caught:
        async with transactions.begin():
            await accounts.save(Account(1, "ann"))
    assert isinstance(caught.value.__cause__, OSError)
    async with transactions.begin():
        assert not await accounts.contains(1)


# -- copies, not aliases ---------------------------------------------------------------------


def test_stored_aggregates_are_copies_not_aliases() -> None:
    transactions, accounts = make()
    original = Account(1, "ann", ["a"])
    with transactions.begin():
        saved = accounts.save(original)
        original.tags.append("mutated after save")
        saved.tags.append("mutated result")
        loaded = accounts.get(1)
        loaded.tags.append("mutated read")
        first, second = accounts.range([1, 1])
        assert first is not second and first.tags is not second.tags
    with transactions.begin():
        assert accounts.get(1).tags == ["a"]


async def test_async_reads_return_copies() -> None:
    transactions, accounts = make_async()
    async with transactions.begin():
        await accounts.save(Account(1, "ann", ["a"]))
        loaded = await accounts.get(1)
        loaded.tags.append("x")
        assert (await accounts.get(1)).tags == ["a"]


# -- owner checks ----------------------------------------------------------------------------


def read_in_own_transaction(
    transactions: InMemoryTransactionManager, accounts: InMemoryRepository[Account, int]
) -> Account | None:
    """begin() in a thread with a copied context opens that thread's own transaction."""
    with transactions.begin():
        return accounts.get_or_none(1)


async def test_transaction_cannot_be_used_from_to_thread() -> None:
    transactions, accounts = make()
    with transactions.begin():
        accounts.save(Account(1, "ann"))
        with pytest.raises(TransactionUsageError, match="thread that opened it"):
            await asyncio.to_thread(accounts.get, 1)
        assert await asyncio.to_thread(read_in_own_transaction, transactions, accounts) is None
        assert not await asyncio.to_thread(lambda: transactions.in_transaction)
        assert accounts.get(1).owner == "ann"


def test_transaction_cannot_be_used_from_a_thread_with_a_copied_context() -> None:
    transactions, accounts = make()
    errors: list[BaseException] = []

    def use(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as error:
            errors.append(error)

    with transactions.begin():
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(use, lambda: accounts.contains(1)))
        thread.start()
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], TransactionUsageError)


async def test_transaction_cannot_be_used_from_a_child_task() -> None:
    transactions, accounts = make_async()
    async with transactions.begin():
        with pytest.raises(TransactionUsageError, match="task that opened it"):
            await asyncio.create_task(accounts.get_or_none(1))
        assert transactions.in_transaction


async def test_tasks_have_independent_transactions() -> None:
    transactions, accounts = make_async()
    inserted = asyncio.Event()

    async def writer() -> None:
        async with transactions.begin():
            await accounts.save(Account(1, "ann"))
            inserted.set()
            await asyncio.sleep(0.01)

    async def reader() -> bool:
        await inserted.wait()
        async with transactions.begin(read_only=True):
            return await accounts.contains(1)

    _, seen = await asyncio.gather(writer(), reader())
    assert seen is False  # uncommitted writes are invisible to other tasks
    async with transactions.begin():
        assert await accounts.contains(1)


# -- first committer wins --------------------------------------------------------------------


def run_two(
    transactions: InMemoryTransactionManager, first: Callable[[], object], second: Callable[[], object]
) -> list[BaseException]:
    """Run ``first`` and ``second`` in two threads; both write, then ``first`` commits first."""
    both_wrote = threading.Barrier(2)
    first_committed = threading.Event()
    errors: list[BaseException] = []

    def run(work: Callable[[], object], is_first: bool) -> None:
        try:
            with transactions.begin():
                work()
                both_wrote.wait(timeout=5)
                if not is_first:
                    first_committed.wait(timeout=5)
        except BaseException as error:
            errors.append(error)
        finally:
            if is_first:
                first_committed.set()

    threads = [
        threading.Thread(target=run, args=(first, True)),
        threading.Thread(target=run, args=(second, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_update_first_committer_wins() -> None:
    transactions, accounts = make()
    with transactions.begin():
        accounts.save(Account(1, "ann"))

    errors = run_two(
        transactions,
        lambda: accounts.save(attrs.evolve(accounts.get(1), owner="first")),
        lambda: accounts.save(attrs.evolve(accounts.get(1), owner="second")),
    )
    assert len(errors) == 1 and isinstance(errors[0], VersionConflictError)
    assert (errors[0].expected_version, errors[0].actual_version) == (1, 2)
    with transactions.begin():
        stored = accounts.get(1)
    assert (stored.owner, stored.version) == ("first", 2)


def test_concurrent_insert_first_committer_wins() -> None:
    transactions, accounts = make()
    errors = run_two(
        transactions,
        lambda: accounts.save_all([Account(1, "first"), Account(2, "first")]),
        lambda: accounts.save_all([Account(3, "second"), Account(1, "second")]),
    )
    assert len(errors) == 1 and isinstance(errors[0], DuplicateEntityError)
    with transactions.begin():
        assert [account.owner for account in accounts.range([1, 2, 3])] == ["first", "first"]
