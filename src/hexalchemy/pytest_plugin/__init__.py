"""hexalchemy's pytest plugin: in-memory adapters and a database per test, as fixtures.

Installed with hexalchemy (entry point ``pytest11`` named ``hexalchemy``; ``-p no:hexalchemy``
turns it off); registered when the testing extra is installed (else pytest's header says why
not). The fixtures are:

- ``hexalchemy_memory`` / ``hexalchemy_async_memory``: a :class:`MemoryHarness` /
  :class:`AsyncMemoryHarness`, the in-memory adapters on a new store;
- ``hexalchemy_sqlite`` / ``hexalchemy_async_sqlite``: a :class:`SqlHarness` /
  :class:`AsyncSqlHarness` on a new SQLite database (a file under ``tmp_path``, or
  ``:memory:``) holding the tables of ``hexalchemy_schema``;
- ``hexalchemy_postgresql`` / ``hexalchemy_async_postgresql``: the same on the PostgreSQL
  database of ``hexalchemy_postgresql_url``, tables created once per session (a database
  per pytest-xdist worker) and emptied before each test;
- ``hexalchemy_mariadb`` / ``hexalchemy_async_mariadb``: the same on the MariaDB database of
  ``hexalchemy_mariadb_url`` (a commit broken by ending the session: no deferred constraints there);
- ``hexalchemy_schema`` (session): your :class:`~hexalchemy.sqlalchemy.Schema`, named by the
  ``hexalchemy_schema`` option or defined by your own fixture of that name.

Every harness serves the contract suites of :mod:`hexalchemy.testing.contracts` as their
``harness`` fixture; with :func:`contract_schema` as the schema, the SQL ones too. The
outbox contracts take a :class:`MemoryOutboxHarness`, or a :class:`SqlOutboxHarness` built
on a fixture's engine and your schema's ``outbox_tables``; the agent-store contracts a
:class:`MemoryAgentHarness`. The
async fixtures need pytest-asyncio (``pip install 'hexalchemy[testing]'``).
"""

from hexalchemy.pytest_plugin._async.harness import (
    AsyncMemoryAgentHarness,
    AsyncMemoryHarness,
    AsyncMemoryOutboxHarness,
    AsyncSqlHarness,
    AsyncSqlOutboxHarness,
)
from hexalchemy.pytest_plugin._sync.harness import (
    MemoryAgentHarness,
    MemoryHarness,
    MemoryOutboxHarness,
    SqlHarness,
    SqlOutboxHarness,
)
from hexalchemy.pytest_plugin.clock import MovableClock
from hexalchemy.pytest_plugin.tables import checked_out, contract_schema

__all__ = [
    "AsyncMemoryAgentHarness",
    "AsyncMemoryHarness",
    "AsyncMemoryOutboxHarness",
    "AsyncSqlHarness",
    "AsyncSqlOutboxHarness",
    "MemoryAgentHarness",
    "MemoryHarness",
    "MemoryOutboxHarness",
    "MovableClock",
    "SqlHarness",
    "SqlOutboxHarness",
    "checked_out",
    "contract_schema",
]
