"""run_in_transaction / run_in_transaction_async: retries of whole transactions."""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc

from hexalchemy.ports import (
    CommitError,
    ConfigError,
    DatabaseBusyError,
    DeadlockError,
    EntitySpec,
    InvalidArgumentError,
    IsolationLevel,
    ReadOnlyTransactionError,
    RetryableError,
    SerializationConflictError,
    TransactionUsageError,
    VersionConflictError,
)
from hexalchemy.retry import RetryPolicy, run_in_transaction, run_in_transaction_async
from hexalchemy.sqlalchemy import (
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
)
from hexalchemy.testing import (
    AsyncInMemoryRepository,
    AsyncInMemoryTransactionManager,
    InMemoryRepository,
    InMemoryTransactionManager,
)
from tests._async.retry_doubles import AsyncFakeSleep, AsyncRecordingManager
from tests._sync.retry_doubles import FakeSleep, RecordingManager


@attrs.frozen
class Counter:
    id: int
    value: int
    version: int = 0


COUNTER = EntitySpec(Counter, key="id", version="version", key_type=int)


class FakeRandom:
    """Returns the given values in turn, then repeats the last one."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


class Failing:
    """Work that raises the given errors in turn, then saves a counter and returns 'done'."""

    def __init__(self, repository: InMemoryRepository[Counter, int], *errors: BaseException) -> None:
        self.repository = repository
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        # every attempt writes: a failed attempt's write must be rolled back
        self.repository.save(Counter(self.calls, 0))
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def transactions() -> InMemoryTransactionManager:
    return InMemoryTransactionManager()


@pytest.fixture
def counters(transactions: InMemoryTransactionManager) -> InMemoryRepository[Counter, int]:
    return InMemoryRepository(COUNTER, transactions)


def stored_ids(
    transactions: InMemoryTransactionManager, repository: InMemoryRepository[Counter, int]
) -> list[int]:
    with transactions.begin(read_only=True):
        return [counter.id for counter in repository.range(range(1, 20))]


# --- RetryPolicy -----------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.attempts == 5
    assert policy.base_delay == 0.01
    assert policy.max_delay == 1.0
    assert policy.retry_on == (RetryableError,)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": -3}, "attempts"),
        ({"attempts": 2.0}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"base_delay": -0.001}, "base_delay"),
        ({"base_delay": math.nan}, "base_delay"),
        ({"base_delay": "0.1"}, "base_delay"),
        ({"max_delay": -1.0}, "max_delay"),
        ({"max_delay": math.inf}, "max_delay"),
        ({"base_delay": 2.0, "max_delay": 1.0}, "base_delay"),
        ({"retry_on": [RetryableError]}, "retry_on"),
        ({"retry_on": (RetryableError, "oops")}, "retry_on"),
        ({"retry_on": (RetryableError, ValueError("instance"))}, "retry_on"),
    ],
)
def test_policy_refuses_bad_values_naming_the_field(kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        RetryPolicy(**kwargs)
    assert excinfo.value.option == option
    assert option in str(excinfo.value)


def test_policy_accepts_edge_values() -> None:
    RetryPolicy(attempts=1, base_delay=0, max_delay=0)
    RetryPolicy(base_delay=0.5, max_delay=0.5, retry_on=())


def test_policy_is_frozen_and_evolve_validates() -> None:
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        field = "attempts"
        setattr(policy, field, 3)
    with pytest.raises(ConfigError):
        attrs.evolve(policy, attempts=0)


def test_backoff_cap_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5)
    assert [policy.backoff_cap(n) for n in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert policy.backoff_cap(10_000) == 0.5  # no overflow for huge retry numbers
    assert RetryPolicy(base_delay=0, max_delay=0).backoff_cap(3) == 0
    with pytest.raises(InvalidArgumentError, match="retry"):
        policy.backoff_cap(0)


def test_delay_is_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5)
    assert policy.delay(1, lambda: 0.0) == 0.0
    assert policy.delay(2, lambda: 0.5) == pytest.approx(0.1)
    assert policy.delay(5, lambda: 0.999) == pytest.approx(0.4995)


# --- run_in_transaction --------------------------------------------------------------------


def test_success_first_time_commits_and_does_not_sleep(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    sleep = FakeSleep()
    work = Failing(counters)
    assert run_in_transaction(transactions, work, sleep=sleep) == "done"
    assert work.calls == 1
    assert sleep.delays == []
    assert stored_ids(transactions, counters) == [1]
    assert not transactions.in_transaction


@pytest.mark.parametrize(
    "error", [SerializationConflictError("40001"), DeadlockError("40P01"), DatabaseBusyError("busy")]
)
def test_retryable_errors_rerun_the_whole_transaction(
    transactions: InMemoryTransactionManager,
    counters: InMemoryRepository[Counter, int],
    error: RetryableError,
) -> None:
    sleep = FakeSleep()
    work = Failing(counters, error, error)
    result = run_in_transaction(
        transactions,
        work,
        policy=RetryPolicy(base_delay=0.1, max_delay=1.0),
        sleep=sleep,
        random=FakeRandom(0.5),
    )
    assert result == "done"
    assert work.calls == 3
    assert sleep.delays == pytest.approx([0.05, 0.1])
    # the first two attempts were rolled back: only the third one's write is stored
    assert stored_ids(transactions, counters) == [3]


def test_delays_follow_capped_full_jitter_and_the_last_error_is_raised(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    errors = [SerializationConflictError(f"attempt {n}") for n in range(1, 7)]
    sleep = FakeSleep()
    random = FakeRandom(1.0, 0.5, 0.25, 0.9, 0.1)
    work = Failing(counters, *errors)
    with pytest.raises(SerializationConflictError) as excinfo:
        run_in_transaction(
            transactions,
            work,
            policy=RetryPolicy(attempts=6, base_delay=0.1, max_delay=0.5),
            sleep=sleep,
            random=random,
        )
    assert excinfo.value is errors[-1]
    assert work.calls == 6
    assert random.calls == 5
    # caps 0.1, 0.2, 0.4, 0.5, 0.5, times the jitter draws
    assert sleep.delays == pytest.approx([0.1, 0.1, 0.1, 0.45, 0.05])
    assert stored_ids(transactions, counters) == []


def test_default_policy_makes_five_attempts(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    sleep = FakeSleep()
    work = Failing(counters, *[SerializationConflictError("again") for _ in range(10)])
    with pytest.raises(SerializationConflictError):
        run_in_transaction(transactions, work, sleep=sleep, random=FakeRandom(1.0))
    assert work.calls == 5
    assert sleep.delays == pytest.approx([0.01, 0.02, 0.04, 0.08])


def test_one_attempt_means_no_retry(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    sleep = FakeSleep()
    work = Failing(counters, SerializationConflictError("once"))
    with pytest.raises(SerializationConflictError):
        run_in_transaction(transactions, work, policy=RetryPolicy(attempts=1), sleep=sleep)
    assert work.calls == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        VersionConflictError(Counter, 1, expected_version=1, actual_version=2),
        KeyboardInterrupt(),
    ],
)
def test_other_errors_propagate_at_once(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int], error: BaseException
) -> None:
    sleep = FakeSleep()
    work = Failing(counters, error, error)
    with pytest.raises(type(error)) as excinfo:
        run_in_transaction(transactions, work, sleep=sleep)
    assert excinfo.value is error
    assert work.calls == 1
    assert sleep.delays == []
    assert stored_ids(transactions, counters) == []


def test_version_conflict_is_retried_when_added_to_retry_on(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    with transactions.begin():
        counters.save(Counter(1, 10))
    calls = 0

    def concurrent_increment() -> None:
        # another thread, so another transaction of the same manager
        def run() -> None:
            with transactions.begin():
                counters.save(attrs.evolve(counters.get(1), value=counters.get(1).value + 100))

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()

    def increment() -> int:
        nonlocal calls
        calls += 1
        counter = counters.get(1)
        if calls == 1:
            concurrent_increment()  # the counter we hold is now stale
        return counters.save(attrs.evolve(counter, value=counter.value + 1)).value

    sleep = FakeSleep()
    policy = RetryPolicy(retry_on=(RetryableError, VersionConflictError))
    assert run_in_transaction(transactions, increment, policy=policy, sleep=sleep) == 111
    assert calls == 2
    assert len(sleep.delays) == 1
    with transactions.begin(read_only=True):
        assert counters.get(1) == Counter(1, 111, version=3)

    # without VersionConflictError in retry_on the conflict propagates
    calls = 0
    with pytest.raises(VersionConflictError):
        run_in_transaction(transactions, increment, sleep=sleep)
    assert calls == 1


def test_a_commit_failure_is_retried_when_it_is_in_retry_on(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    transactions.fail_next_commit()
    sleep = FakeSleep()
    work = Failing(counters)
    policy = RetryPolicy(retry_on=(CommitError,))
    assert run_in_transaction(transactions, work, policy=policy, sleep=sleep) == "done"
    assert work.calls == 2
    assert stored_ids(transactions, counters) == [2]


def test_refuses_to_run_inside_an_active_transaction(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    work = Failing(counters)
    with transactions.begin(), pytest.raises(TransactionUsageError, match="savepoint"):
        run_in_transaction(transactions, work)
    assert work.calls == 0


def test_another_threads_transaction_does_not_count_as_nesting(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with transactions.begin():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(10)
        assert run_in_transaction(transactions, Failing(counters)) == "done"
    finally:
        release.set()
        thread.join()


def test_read_only_and_isolation_level_apply_to_every_attempt() -> None:
    manager = RecordingManager()
    errors = [SerializationConflictError("1"), SerializationConflictError("2")]

    def work() -> int:
        if errors:
            raise errors.pop()
        return 7

    result = run_in_transaction(
        manager, work, read_only=True, isolation_level=IsolationLevel.SERIALIZABLE, sleep=FakeSleep()
    )
    assert result == 7
    assert manager.calls == [(True, IsolationLevel.SERIALIZABLE)] * 3


def test_read_only_refuses_writes(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    with pytest.raises(ReadOnlyTransactionError):
        run_in_transaction(transactions, Failing(counters), read_only=True)


def test_async_work_is_refused_by_the_sync_function(
    transactions: InMemoryTransactionManager, counters: InMemoryRepository[Counter, int]
) -> None:
    async def work() -> None:
        counters.save(Counter(1, 0))

    with pytest.raises(InvalidArgumentError, match="run_in_transaction_async"):
        _ = run_in_transaction(transactions, work)
    assert stored_ids(transactions, counters) == []


def test_each_retry_is_logged(
    transactions: InMemoryTransactionManager,
    counters: InMemoryRepository[Counter, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hexalchemy.retry")
    work = Failing(counters, SerializationConflictError("first"), SerializationConflictError("second"))
    run_in_transaction(transactions, work, sleep=FakeSleep(), random=FakeRandom(0.5))
    retries = [record for record in caplog.records if record.name == "hexalchemy.retry"]
    assert len(retries) == 2
    assert all(record.levelno == logging.INFO for record in retries)
    assert "attempt 1 of 5" in retries[0].getMessage()
    assert "SerializationConflictError: first" in retries[0].getMessage()
    assert "attempt 2 of 5" in retries[1].getMessage()

    caplog.clear()
    work = Failing(counters, *[SerializationConflictError("again") for _ in range(3)])
    with pytest.raises(SerializationConflictError):
        run_in_transaction(transactions, work, policy=RetryPolicy(attempts=2), sleep=FakeSleep())
    messages = [record.getMessage() for record in caplog.records if record.name == "hexalchemy.retry"]
    assert len(messages) == 2
    assert "giving up" in messages[-1]


# --- run_in_transaction_async ----------------------------------------------------------------


@pytest.fixture
def async_transactions() -> AsyncInMemoryTransactionManager:
    return AsyncInMemoryTransactionManager()


@pytest.fixture
def async_counters(
    async_transactions: AsyncInMemoryTransactionManager,
) -> AsyncInMemoryRepository[Counter, int]:
    return AsyncInMemoryRepository(COUNTER, async_transactions)


def async_failing(
    repository: AsyncInMemoryRepository[Counter, int], calls: list[int], *errors: BaseException
) -> Callable[[], Awaitable[str]]:
    pending = list(errors)

    async def work() -> str:
        calls.append(len(calls) + 1)
        await repository.save(Counter(len(calls), 0))
        if pending:
            raise pending.pop(0)
        return "done"

    return work


async def async_stored_ids(
    transactions: AsyncInMemoryTransactionManager, repository: AsyncInMemoryRepository[Counter, int]
) -> list[int]:
    async with transactions.begin(read_only=True):
        return [counter.id for counter in await repository.range(range(1, 20))]


async def test_async_retries_with_jittered_capped_delays(
    async_transactions: AsyncInMemoryTransactionManager, async_counters: AsyncInMemoryRepository[Counter, int]
) -> None:
    calls: list[int] = []
    sleep = AsyncFakeSleep()
    work = async_failing(async_counters, calls, *[SerializationConflictError(str(n)) for n in range(3)])
    result = await run_in_transaction_async(
        async_transactions,
        work,
        policy=RetryPolicy(base_delay=0.1, max_delay=0.25),
        sleep=sleep,
        random=FakeRandom(1.0, 0.5, 0.2),
    )
    assert result == "done"
    assert calls == [1, 2, 3, 4]
    assert sleep.delays == pytest.approx([0.1, 0.1, 0.05])
    assert await async_stored_ids(async_transactions, async_counters) == [4]


async def test_async_raises_the_last_error_after_the_last_attempt(
    async_transactions: AsyncInMemoryTransactionManager, async_counters: AsyncInMemoryRepository[Counter, int]
) -> None:
    calls: list[int] = []
    errors = [DeadlockError(str(n)) for n in range(3)]
    sleep = AsyncFakeSleep()
    work = async_failing(async_counters, calls, *errors)
    with pytest.raises(DeadlockError) as excinfo:
        await run_in_transaction_async(
            async_transactions, work, policy=RetryPolicy(attempts=3), sleep=sleep, random=FakeRandom(0.0)
        )
    assert excinfo.value is errors[-1]
    assert calls == [1, 2, 3]
    assert sleep.delays == [0.0, 0.0]
    assert await async_stored_ids(async_transactions, async_counters) == []


async def test_async_other_errors_propagate_at_once(
    async_transactions: AsyncInMemoryTransactionManager, async_counters: AsyncInMemoryRepository[Counter, int]
) -> None:
    calls: list[int] = []
    sleep = AsyncFakeSleep()
    error = VersionConflictError(Counter, 1, 1)
    with pytest.raises(VersionConflictError):
        await run_in_transaction_async(
            async_transactions, async_failing(async_counters, calls, error), sleep=sleep
        )
    assert calls == [1]
    assert sleep.delays == []

    calls.clear()
    policy = RetryPolicy(retry_on=(VersionConflictError,))
    result = await run_in_transaction_async(
        async_transactions, async_failing(async_counters, calls, error), policy=policy, sleep=sleep
    )
    assert result == "done"
    assert calls == [1, 2]


async def test_async_refuses_to_run_inside_an_active_transaction(
    async_transactions: AsyncInMemoryTransactionManager, async_counters: AsyncInMemoryRepository[Counter, int]
) -> None:
    calls: list[int] = []
    async with async_transactions.begin():
        with pytest.raises(TransactionUsageError, match="savepoint"):
            await run_in_transaction_async(async_transactions, async_failing(async_counters, calls))
    assert calls == []


async def test_async_passes_read_only_and_isolation_level_and_uses_real_sleep() -> None:
    manager = AsyncRecordingManager()
    errors = [SerializationConflictError("1")]

    async def work() -> int:
        if errors:
            raise errors.pop()
        return 3

    result = await run_in_transaction_async(
        manager,
        work,
        policy=RetryPolicy(base_delay=0.001, max_delay=0.001),
        read_only=True,
        isolation_level=IsolationLevel.REPEATABLE_READ,
    )
    assert result == 3
    assert manager.calls == [(True, IsolationLevel.REPEATABLE_READ)] * 2


# --- PostgreSQL: a real serialization failure ------------------------------------------------


@pytest.mark.postgresql
def test_concurrent_serializable_transactions_both_succeed_after_a_retry(
    postgresql_engine: sqlalchemy.Engine,
) -> None:
    schema = Schema()
    table_name = f"hx_retry_counters_{uuid.uuid4().hex[:12]}"
    mapping = schema.map(COUNTER, table=table_name)
    schema.create_all(postgresql_engine)
    try:
        transactions = SqlAlchemyTransactionManager(postgresql_engine)
        counters = SqlAlchemyRepository(mapping, transactions)
        with transactions.begin():
            counters.save_all([Counter(1, 0), Counter(2, 0)])

        lock = threading.Lock()
        both_have_read = threading.Barrier(2, timeout=30)
        attempts: dict[str, int] = {}
        conflicts: list[SerializationConflictError] = []
        results: dict[str, tuple[int, int]] = {}
        failures: list[BaseException] = []

        def increment_both(name: str) -> tuple[int, int]:
            with lock:
                attempts[name] = attempts.get(name, 0) + 1
                first_attempt = attempts[name] == 1
            try:
                first, second = counters.range([1, 2])  # read ...
                if first_attempt:
                    both_have_read.wait()  # ... both transactions have read the same rows ...
                first = counters.save(attrs.evolve(first, value=first.value + 1))  # ... then write
                second = counters.save(attrs.evolve(second, value=second.value + 1))
            except SerializationConflictError as error:
                with lock:
                    conflicts.append(error)
                raise
            return first.value, second.value

        def run(name: str) -> None:
            try:
                results[name] = run_in_transaction(
                    transactions,
                    lambda: increment_both(name),
                    isolation_level=IsolationLevel.SERIALIZABLE,
                    policy=RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.01),
                )
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)

        assert failures == []
        assert len(conflicts) >= 1, "one transaction should have hit a serialization failure"
        cause = conflicts[0].__cause__
        assert isinstance(cause, sa_exc.DBAPIError)
        assert getattr(cause.orig, "sqlstate", None) == "40001"
        assert sum(attempts.values()) == 2 + len(conflicts)
        assert sorted(results.values()) == [(1, 1), (2, 2)]

        with transactions.begin(read_only=True):
            rows = (
                transactions.connection()
                .execute(sqlalchemy.text(f'SELECT id, value, version FROM "{table_name}" ORDER BY id'))
                .all()
            )
        assert [tuple(row) for row in rows] == [(1, 2, 3), (2, 2, 3)]
    finally:
        schema.drop_all(postgresql_engine)
