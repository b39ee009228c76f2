"""hexalchemy's pytest plugin, run by pytester the way a user's project runs it.

Each test writes a small project (a domain module with its ``Schema``, an ini file, test
modules that use the fixtures) and runs pytest on it in a subprocess, where the plugin is
loaded from its ``pytest11`` entry point as in any installed environment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hexalchemy.ports import HexalchemyError, InvalidArgumentError
from hexalchemy.pytest_plugin import AsyncSqlHarness, SqlHarness
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, create_async_engine, create_engine
from hexalchemy.testing.contracts import TransactionContract
from tests.mariadb import MARIADB_URL, without_mariadb
from tests.postgresql import POSTGRESQL_URL, without_postgresql

pytest_plugins = ("pytester",)

CONTRACT_TESTS = sum(name.startswith("test_") for name in dir(TransactionContract))

INI = """
[pytest]
hexalchemy_schema = app:SCHEMA
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

APP = """
import attrs

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import Schema


@attrs.frozen
class Stock:
    sku: str
    on_hand: int
    version: int = 0


STOCK = EntitySpec(Stock, key="sku", version="version", key_type=str)
SCHEMA = Schema()
SCHEMA.map(STOCK, table="stock")
"""

# Two tests per fixture insert the same new row: the second passes only if the first one's
# row is gone (a new database, or tables emptied, per test).
USES = """
import pytest

from app import STOCK, Stock
from hexalchemy.pytest_plugin import AsyncMemoryHarness, AsyncSqlHarness, MemoryHarness, SqlHarness

RUNS = pytest.mark.parametrize("run", [1, 2])


def check(harness: MemoryHarness | SqlHarness, run: int) -> None:
    stock = harness.repository(STOCK)
    with harness.transactions.begin():
        assert stock.save(Stock("bolt", run)).version == 1
    with harness.transactions.begin(read_only=True):
        assert stock.get("bolt") == Stock("bolt", run, version=1)


async def check_async(harness: AsyncMemoryHarness | AsyncSqlHarness, run: int) -> None:
    stock = harness.repository(STOCK)
    async with harness.transactions.begin():
        assert (await stock.save(Stock("bolt", run))).version == 1
    async with harness.transactions.begin(read_only=True):
        assert await stock.get("bolt") == Stock("bolt", run, version=1)


@RUNS
def test_memory(hexalchemy_memory: MemoryHarness, run: int) -> None:
    check(hexalchemy_memory, run)


@RUNS
def test_sqlite(hexalchemy_sqlite: SqlHarness, run: int) -> None:
    check(hexalchemy_sqlite, run)


@RUNS
def test_postgresql(hexalchemy_postgresql: SqlHarness, run: int) -> None:
    check(hexalchemy_postgresql, run)


@RUNS
@pytest.mark.asyncio
async def test_async_memory(hexalchemy_async_memory: AsyncMemoryHarness, run: int) -> None:
    await check_async(hexalchemy_async_memory, run)


@RUNS
@pytest.mark.asyncio
async def test_async_sqlite(hexalchemy_async_sqlite: AsyncSqlHarness, run: int) -> None:
    await check_async(hexalchemy_async_sqlite, run)


@RUNS
@pytest.mark.asyncio
async def test_async_postgresql(hexalchemy_async_postgresql: AsyncSqlHarness, run: int) -> None:
    await check_async(hexalchemy_async_postgresql, run)
"""


@pytest.fixture
def postgresql_url(postgresql_problem: str | None) -> str:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    return POSTGRESQL_URL


@pytest.fixture
def mariadb_url(mariadb_problem: str | None) -> str:
    if mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    return MARIADB_URL


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("HEXALCHEMY_TEST_POSTGRESQL_URL", "HEXALCHEMY_TEST_MARIADB_URL", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(app=APP)
    pytester.syspathinsert()
    return pytester


def _database_exists(url: str, name: str) -> bool:
    engine = create_engine(DatabaseConfig(url=url))
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            return found.first() is not None
    finally:
        engine.dispose()


def test_every_fixture_gives_each_test_an_empty_store_sync_and_async(
    project: pytest.Pytester, postgresql_url: str
) -> None:
    project.makepyfile(test_uses=USES)
    result = project.runpytest_inprocess(
        f"--hexalchemy-postgresql-url={postgresql_url}", "--hexalchemy-require-postgresql"
    )
    result.assert_outcomes(passed=12)


def test_the_url_comes_from_the_environment_and_memory_sqlite_is_an_option(
    project: pytest.Pytester, postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEXALCHEMY_TEST_POSTGRESQL_URL", postgresql_url)
    project.makepyfile(test_uses=USES)
    result = project.runpytest_inprocess("--hexalchemy-sqlite=memory", "--hexalchemy-isolation=recreate")
    result.assert_outcomes(passed=12)


def test_each_xdist_worker_gets_its_own_database_dropped_at_the_end(
    project: pytest.Pytester, postgresql_url: str
) -> None:
    database = make_url(postgresql_url).database
    project.makepyfile(
        test_workers=f"""
        import os

        import pytest

        from app import STOCK, Stock
        from hexalchemy.pytest_plugin import SqlHarness


        @pytest.mark.parametrize("run", range(4))
        def test_worker_database(hexalchemy_postgresql: SqlHarness, run: int) -> None:
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert hexalchemy_postgresql.engine.url.database == {database!r} + "_" + worker
            with hexalchemy_postgresql.transactions.begin():
                hexalchemy_postgresql.repository(STOCK).save(Stock("bolt", run))
        """
    )
    result = project.runpytest_inprocess(f"--hexalchemy-postgresql-url={postgresql_url}", "-n", "2")
    result.assert_outcomes(passed=4)
    assert not any(_database_exists(postgresql_url, f"{database}_gw{worker}") for worker in (0, 1))


def test_without_a_url_postgresql_tests_are_skipped_or_fail_when_required(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_needs_server="""
        from hexalchemy.pytest_plugin import SqlHarness

        def test_server(hexalchemy_postgresql: SqlHarness) -> None:
            pass
        """
    )
    skipped = project.runpytest_inprocess("-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*no PostgreSQL test database: set --hexalchemy-postgresql-url*"])
    project.makeini(INI + "hexalchemy_require_postgresql = true\n")
    failed = project.runpytest_inprocess()
    failed.assert_outcomes(errors=1)


def test_an_unreachable_server_is_named_without_its_password(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_needs_server="""
        from hexalchemy.pytest_plugin import SqlHarness

        def test_server(hexalchemy_postgresql: SqlHarness) -> None:
            pass
        """
    )
    url = "postgresql+psycopg://someone:secret@127.0.0.1:1/nowhere?connect_timeout=2"
    result = project.runpytest_inprocess(f"--hexalchemy-postgresql-url={url}", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*the test database at postgresql+psycopg://someone:***@127.0.0.1:1/nowhere*"]
    )
    assert "secret" not in result.stdout.str()


def test_a_missing_or_wrong_schema_is_named(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_schema="""
        from hexalchemy.pytest_plugin import SqlHarness

        def test_sqlite(hexalchemy_sqlite: SqlHarness) -> None:
            pass
        """
    )
    project.makeini(INI.replace("hexalchemy_schema = app:SCHEMA", ""))
    missing = project.runpytest_inprocess()
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(["*hexalchemy: no schema: set `hexalchemy_schema = package.module:NAME`*"])
    wrong = project.runpytest_inprocess("--hexalchemy-schema=app:STOCK")
    wrong.assert_outcomes(errors=1)
    wrong.stdout.fnmatch_lines(
        ["*hexalchemy_schema = 'app:STOCK' is EntitySpec(*not a hexalchemy.sqlalchemy.Schema*"]
    )


def test_the_contract_suites_run_on_the_fixtures_by_name(
    project: pytest.Pytester, postgresql_url: str
) -> None:
    project.makeini(INI.replace("app:SCHEMA", "hexalchemy.pytest_plugin:contract_schema"))
    project.makepyfile(
        test_contracts="""
        import pytest

        from hexalchemy.pytest_plugin import AsyncSqlHarness, MemoryHarness, SqlHarness
        from hexalchemy.testing.contracts import AsyncTransactionContract, TransactionContract


        class TestMemoryTransactions(TransactionContract):
            @pytest.fixture
            def harness(self, hexalchemy_memory: MemoryHarness) -> MemoryHarness:
                return hexalchemy_memory


        class TestPostgresqlTransactions(TransactionContract):
            @pytest.fixture
            def harness(self, hexalchemy_postgresql: SqlHarness) -> SqlHarness:
                return hexalchemy_postgresql


        class TestAsyncSqliteTransactions(AsyncTransactionContract):
            @pytest.fixture
            def harness(self, hexalchemy_async_sqlite: AsyncSqlHarness) -> AsyncSqlHarness:
                return hexalchemy_async_sqlite
        """
    )
    result = project.runpytest_inprocess(f"--hexalchemy-postgresql-url={postgresql_url}", "-q")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert set(outcomes) == {"passed"} and outcomes["passed"] >= 3 * CONTRACT_TESTS, outcomes


MARIADB_USES = """
import pytest

from app import STOCK, Stock
from hexalchemy.pytest_plugin import AsyncSqlHarness, SqlHarness
from hexalchemy.testing.contracts import AsyncTransactionContract, TransactionContract

RUNS = pytest.mark.parametrize("run", [1, 2])


@RUNS
def test_mariadb(hexalchemy_mariadb: SqlHarness, run: int) -> None:
    stock = hexalchemy_mariadb.repository(STOCK)
    with hexalchemy_mariadb.transactions.begin():
        assert stock.save(Stock("bolt", run)).version == 1
    with hexalchemy_mariadb.transactions.begin(read_only=True):
        assert stock.get("bolt") == Stock("bolt", run, version=1)


@RUNS
@pytest.mark.asyncio
async def test_async_mariadb(hexalchemy_async_mariadb: AsyncSqlHarness, run: int) -> None:
    stock = hexalchemy_async_mariadb.repository(STOCK)
    async with hexalchemy_async_mariadb.transactions.begin():
        assert (await stock.save(Stock("bolt", run))).version == 1
"""


def test_the_mariadb_fixtures_give_each_test_empty_tables_sync_and_async(
    project: pytest.Pytester, mariadb_url: str
) -> None:
    project.makepyfile(test_uses=MARIADB_USES)
    result = project.runpytest_inprocess(
        f"--hexalchemy-mariadb-url={mariadb_url}", "--hexalchemy-require-mariadb"
    )
    result.assert_outcomes(passed=4)


def test_the_transaction_contract_runs_on_the_mariadb_fixtures_commits_broken_by_ending_the_session(
    project: pytest.Pytester, mariadb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEXALCHEMY_TEST_MARIADB_URL", mariadb_url)
    project.makeini(INI.replace("app:SCHEMA", "hexalchemy.pytest_plugin:contract_schema"))
    project.makepyfile(
        test_contracts="""
        import pytest

        from hexalchemy.pytest_plugin import AsyncSqlHarness, SqlHarness
        from hexalchemy.testing.contracts import AsyncTransactionContract, TransactionContract


        class TestMariadbTransactions(TransactionContract):
            @pytest.fixture
            def harness(self, hexalchemy_mariadb: SqlHarness) -> SqlHarness:
                return hexalchemy_mariadb


        class TestAsyncMariadbTransactions(AsyncTransactionContract):
            @pytest.fixture
            def harness(self, hexalchemy_async_mariadb: AsyncSqlHarness) -> AsyncSqlHarness:
                return hexalchemy_async_mariadb
        """
    )
    result = project.runpytest_inprocess("-q")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert set(outcomes) == {"passed"} and outcomes["passed"] >= 2 * CONTRACT_TESTS, outcomes


def test_without_a_url_mariadb_tests_are_skipped_or_fail_when_required(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_server="""
        from hexalchemy.pytest_plugin import SqlHarness

        def test_server(hexalchemy_mariadb: SqlHarness) -> None:
            raise AssertionError("never reached")
        """
    )
    project.runpytest_inprocess().assert_outcomes(skipped=1)
    required = project.runpytest_inprocess("--hexalchemy-require-mariadb")
    required.assert_outcomes(errors=1)
    required.stdout.fnmatch_lines(["*no MariaDB test database*HEXALCHEMY_TEST_MARIADB_URL*"])


async def test_a_harness_refuses_what_is_not_an_engine_or_a_schema(tmp_path: Path) -> None:
    config = DatabaseConfig(url=f"sqlite:///{tmp_path / 'harness.db'}")
    engine, async_engine = create_engine(config), create_async_engine(config)
    junk: Any = "junk"
    try:
        with pytest.raises(InvalidArgumentError, match="schema"):
            SqlHarness(engine, junk)
        with pytest.raises(InvalidArgumentError, match="schema"):
            AsyncSqlHarness(async_engine, junk)
        with pytest.raises(HexalchemyError, match="engine"):
            SqlHarness(junk, Schema())
    finally:
        engine.dispose()
        await async_engine.dispose()


def test_rows_that_cannot_be_deleted_name_the_recreate_isolation(
    project: pytest.Pytester, postgresql_url: str
) -> None:
    project.makepyfile(
        agents_schema="""
        from hexalchemy.sqlalchemy import Schema, agent_tables

        SCHEMA = Schema()
        TABLES = agent_tables(SCHEMA, prefix="plugin_agent")
        """,
        test_agents="""
        from hexalchemy.ports import EvidenceKind
        from hexalchemy.pytest_plugin import SqlHarness
        from hexalchemy.rules import new_agent_state, new_evidence
        from hexalchemy.sqlalchemy import SqlAlchemyAgentStateStore, SqlAlchemyEvidenceLog
        from agents_schema import TABLES

        def test_append(hexalchemy_postgresql: SqlHarness) -> None:
            states = SqlAlchemyAgentStateStore(TABLES, hexalchemy_postgresql.transactions)
            evidence = SqlAlchemyEvidenceLog(TABLES, hexalchemy_postgresql.transactions)
            with hexalchemy_postgresql.transactions.begin():
                states.save(new_agent_state("agent", "planner"))
                evidence.append(new_evidence("agent", EvidenceKind.NOTE, {}))

        test_again = test_append
        """,
    )
    url = f"--hexalchemy-postgresql-url={postgresql_url}"
    refused = project.runpytest_inprocess(url, "--hexalchemy-schema=agents_schema:SCHEMA")
    refused.assert_outcomes(passed=1, errors=1)
    refused.stdout.fnmatch_lines(
        ["*the rows of plugin_agent_evidence cannot be deleted*hexalchemy_isolation = recreate*"]
    )
    recreated = project.runpytest_inprocess(
        url, "--hexalchemy-schema=agents_schema:SCHEMA", "--hexalchemy-isolation=recreate"
    )
    recreated.assert_outcomes(passed=2)


# The entry point loads in every pytest run of an environment holding hexalchemy: without the
# testing extra, pytest must still run, and say why the fixtures are off. Here a package the
# entry point requires is one that does not exist, and importing hypothesis fails, so the
# run also proves that nothing imports it when the fixtures are off.
WITHOUT_THE_EXTRA = """
import sys
from importlib.abc import MetaPathFinder


class NoHypothesis(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "hypothesis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoHypothesis())
import pytest

import hexalchemy._pytest_entry

hexalchemy._pytest_entry.REQUIRED = ("hexalchemy_not_installed",)
sys.exit(pytest.main(["-p", "no:hypothesispytest", "test_plain.py"]))
"""


def test_without_the_testing_extra_pytest_runs_and_says_the_fixtures_are_off(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain="def test_plain() -> None:\n    assert True\n")
    result = pytester.run(sys.executable, "-c", WITHOUT_THE_EXTRA)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        ["hexalchemy: fixtures off (hexalchemy_not_installed not installed)*", "*1 passed*"]
    )
