"""One module per database: no code outside the backend modules asks which database it talks to.

An AST scan of ``src/hexalchemy`` fails on dialect branching anywhere but in
``hexalchemy/sqlalchemy/postgresql/``, ``hexalchemy/sqlalchemy/sqlite/``,
``hexalchemy/sqlalchemy/mariadb/`` and the registry's
table of names in ``hexalchemy/sqlalchemy/backend.py``: a dialect or driver name in code
(not in a docstring), a comparison with ``.dialect.name``, ``.driver``, ``dialect_name`` or a
URL's backend or driver name, a dialect-prefixed keyword (``postgresql_where=``), an import
of ``sqlalchemy.dialects`` or of a database driver, or a reach into the driver's own
connection (``driver_connection``).

Feature sniffing counts too: asking the dialect anything but to quote an identifier or adapt a
type (``dialect.server_version_info``, ``dialect.supports_*``, ``dialect.insert_returning``,
``dialect.paramstyle``...), reading its name anywhere but in the registry's lookup
(``backend_for``) and the managers' ``dialect_name`` (``FLAGS[dialect.name]``), reaching for
the DBAPI (``dbapi_connection``, ``dialect.dbapi``), probing a dialect or a driver's object for
an attribute (``hasattr(dialect, ...)``, ``getattr(raw, "pgconn")``) or asking a dialect, a
connection or a driver's error which class or module it is (``isinstance(dialect, PGDialect)``,
``type(error.orig).__module__``). What differs between databases is the Backend's to answer.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Final

import pytest
import sqlalchemy.dialects
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.engine import URL

import hexalchemy
from hexalchemy.ports import ConfigError
from hexalchemy.sqlalchemy import (
    Backend,
    DatabaseConfig,
    ExactDecimal,
    UtcDateTime,
    backend_for,
    backends,
    create_engine,
)
from hexalchemy.sqlalchemy._portable import json_type, partial_index
from hexalchemy.sqlalchemy.backend import _MODULES

SOURCE: Final = Path(hexalchemy.__file__).parent
BACKEND_FOLDERS: Final = (
    SOURCE / "sqlalchemy" / "postgresql",
    SOURCE / "sqlalchemy" / "sqlite",
    SOURCE / "sqlalchemy" / "mariadb",
)
REGISTRY: Final = SOURCE / "sqlalchemy" / "backend.py"
NAMING_MODULES: Final = (
    SOURCE / "pytest_plugin" / "_plugin.py",
    SOURCE / "pytest_plugin" / "_async_fixtures.py",
)
"""The pytest plugin's fixture modules: their fixtures and options are named after the database each
gives (``hexalchemy_sqlite``, ``--hexalchemy-postgresql-url``) and they write a SQLite URL. They may
name a database; like every module, they never ask an engine or a URL which database it is."""
REGISTRY_TABLE: Final = "_MODULES"

DIALECTS: Final = frozenset({*sqlalchemy.dialects.__all__, "mariadb", *_MODULES})
DRIVERS: Final = frozenset(
    {"psycopg", "psycopg2", "asyncpg", "pg8000", "pysqlite", "aiosqlite", "pymysql", "mysqldb", "aiomysql"}
)
DRIVER_MODULES: Final = frozenset({*DRIVERS, "sqlite3", "mysqlclient", "MySQLdb", "mariadb"})
ALLOWED_STRINGS: Final = frozenset({"sqlite_busy_timeout"})
"""A DatabaseConfig option (and its environment variable's name) that only the SQLite backend reads."""
NAMED_COMPARISONS: Final = frozenset({"dialect_name", "driver", "drivername"})
"""Names that, compared with anything, ask which database or driver it is."""
DIALECT_SERVICES: Final = frozenset({"identifier_preparer", "type_descriptor", "name"})
"""What code outside the backends may ask a dialect: to quote an identifier, to adapt a type, and
its name (only for the registry's lookup: :func:`_name_reads`)."""
DBAPI_REACHES: Final = frozenset(
    {"driver_connection", "dbapi_connection", "dbapi", "loaded_dbapi", "import_dbapi"}
)
"""Attributes that reach past SQLAlchemy to the driver."""
DRIVER_FEATURES: Final = frozenset({"pgconn", "server_version", "server_version_info", "get_server_info"})
"""Attributes only some drivers' objects have: probing for them is asking which driver it is."""
DATABASE_OBJECTS: Final = frozenset({"dialect", "orig", "dbapi_connection", "driver_connection", "cursor"})
"""Names of objects whose class or module says which database or driver it is."""
NAME_HOLDERS: Final = frozenset({"dialect_name", "backend_for"})
"""The registry's lookup (``backend_for(dialect.name)``) and the managers' ``dialect_name``: where a dialect's name may be read."""


def _is_database_name(text: str) -> bool:
    head = text.split("+", 1)[0].split(":", 1)[0]
    if head in DRIVERS or text in DRIVERS:
        return True
    return any(text == name or text.startswith((f"{name}+", f"{name}:", f"{name}_")) for name in DIALECTS)


def _asks_the_database(node: ast.AST) -> bool:
    """``x.dialect.name``, ``x.driver``, ``dialect_name``, ``url.get_backend_name()``, ``url.startswith("sqlite")``."""
    if isinstance(node, ast.Attribute):
        if node.attr in NAMED_COMPARISONS:
            return True
        return (
            node.attr == "name"
            and isinstance(node.value, ast.Attribute | ast.Name)
            and _named(node.value) == "dialect"
        )
    if isinstance(node, ast.Name):
        return node.id in NAMED_COMPARISONS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"get_backend_name", "get_driver_name", "startswith"} and (
            node.func.attr != "startswith" or any(_is_database_constant(arg) for arg in node.args)
        )
    return False


def _is_dialect(node: ast.AST) -> bool:
    return _named(node).lstrip("_") == "dialect"


def _is_database_object(node: ast.AST) -> bool:
    return _named(node).lstrip("_") in DATABASE_OBJECTS


def _sniffs(node: ast.AST) -> str | None:
    """What feature sniffing ``node`` does, or None."""
    if isinstance(node, ast.Attribute):
        if node.attr in DBAPI_REACHES:
            return f"reaches the driver through {node.attr}"
        if _is_dialect(node.value) and node.attr not in DIALECT_SERVICES:
            return f"asks the dialect for {node.attr}"
        subject = node.value
        if isinstance(subject, ast.Call) and _named(subject.func) == "type" and subject.args:
            subject = subject.args[0]
        if node.attr in {"__class__", "__module__"} and (
            _is_dialect(subject) or _is_database_object(subject)
        ):
            return f"asks {_named(subject)} its {node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        first = node.args[0]
        if node.func.id in {"hasattr", "getattr"} and len(node.args) > 1:
            probed = node.args[1]
            feature = isinstance(probed, ast.Constant) and (
                probed.value in DRIVER_FEATURES or str(probed.value).startswith("supports_")
            )
            if _is_dialect(first) or _is_database_object(first) or feature:
                return f"probes {_named(first) or 'an object'} with {node.func.id}"
        if node.func.id in {"isinstance", "issubclass"} and len(node.args) > 1:
            classes = {_named(part) for part in ast.walk(node.args[1])}
            if any("Dialect" in name and name != "Dialect" for name in classes):
                return f"asks {_named(first) or 'an object'} which dialect class it is"
    return None


def _name_reads(tree: ast.AST) -> Iterator[ast.Attribute]:
    """Every ``<dialect>.name`` outside the registry's lookup and the managers' ``dialect_name``."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        holder = ""
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            holder = node.name
        elif isinstance(node, ast.Call):
            holder = _named(node.func)
        elif isinstance(node, ast.Assign):
            holder = " ".join(_named(target) for target in node.targets)
        if holder in NAME_HOLDERS:
            allowed.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "name"
            and _is_dialect(node.value)
            and id(node) not in allowed
        ):
            yield node


def _named(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _is_database_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_database_name(node.value)


def branching(source: str) -> Iterator[tuple[int, str]]:
    """Every place in ``source`` that asks which database it is: ``(line, what)``."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _named(node.func) == "backend_for":
            skipped.update(
                id(child) for argument in node.args for child in ast.walk(argument)
            )  # the registry's lookup
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == REGISTRY_TABLE for target in targets):
                skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            )
            if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
                names += [f"sqlalchemy.{alias.name}" for alias in node.names]
            for name in names:
                if name.startswith("sqlalchemy.dialects") or name.split(".")[0] in DRIVER_MODULES:
                    yield line, f"imports {name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value not in ALLOWED_STRINGS and _is_database_name(node.value):
                yield line, f"names a database: {node.value!r}"
        elif isinstance(node, ast.Compare):
            parts = (node.left, *node.comparators)
            own_table = any(_named(part) == "url_drivers" for part in parts)  # a backend's own drivers
            if not own_table and any(_asks_the_database(part) for part in parts):
                yield line, "compares the dialect or driver"
        elif isinstance(node, ast.Call):
            if _asks_the_database(node):
                yield line, "asks a URL which database it is"
            for keyword in node.keywords:
                if keyword.arg is not None and _is_database_name(keyword.arg):
                    yield line, f"passes a database's keyword {keyword.arg}="
        sniffing = _sniffs(node)
        if sniffing is not None:
            yield line, sniffing
    for node in _name_reads(tree):
        if id(node) not in skipped:
            yield node.lineno, "reads the dialect's name outside the registry's lookup"


def _scanned_files() -> list[Path]:
    return sorted(
        path
        for path in SOURCE.rglob("*.py")
        if not any(path.is_relative_to(folder) for folder in BACKEND_FOLDERS)
    )


def test_no_module_outside_the_backends_asks_which_database_it_is() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}: {what}"
        for path in _scanned_files()
        for line, what in branching(path.read_text(encoding="utf-8"))
        if not (path in NAMING_MODULES and what.startswith("names a database"))
    ]
    assert found == [], "dialect branching outside the backend modules:\n" + "\n".join(found)


def test_the_scan_reads_the_sources_and_the_registry() -> None:
    files = _scanned_files()
    assert REGISTRY in files and SOURCE / "sqlalchemy" / "_repository_core.py" in files
    assert not any(path.is_relative_to(BACKEND_FOLDERS[0]) for path in files)


@pytest.mark.parametrize(
    "snippet",
    [
        'if dialect.name == "postgresql": pass',
        'if self.transactions.dialect.name != "sqlite": pass',
        'postgresql = transactions.dialect_name == "postgresql"',
        'fast = dialect.driver == "psycopg"',
        'if url.get_backend_name() == "sqlite": pass',
        'if config.url.startswith("postgresql"): pass',
        'names = {"sqlite": 1}',
        "from sqlalchemy.dialects import postgresql",
        "from sqlalchemy.dialects.sqlite import insert",
        "import sqlalchemy.dialects.postgresql",
        "import psycopg",
        "from psycopg.types.json import JsonLoader",
        "import sqlite3",
        "from sqlalchemy import dialects",
        'Index("i", c, postgresql_where=c > 0)',
        'JSON().with_variant(JSONB(), "postgresql")',
        "cursor = connection.connection.driver_connection.cursor()",
        'url = "postgresql+psycopg://h/db"',
        # feature sniffing: asking by other means than the Backend
        "if connection.dialect.server_version_info >= (15,): pass",
        "if engine.dialect.supports_statement_cache: pass",
        "returning = self.transactions.dialect.insert_returning",
        "style = dialect.paramstyle",
        "flags = FLAGS[dialect.name]",
        "flags = FLAGS.get(self._dialect.name)",
        "match engine.dialect.name:\n    case _: pass",
        "raw = connection.connection.dbapi_connection",
        "module = engine.dialect.dbapi",
        'fast = hasattr(raw, "pgconn")',
        'fast = getattr(dialect, "supports_multivalues_insert", False)',
        "if isinstance(dialect, PGDialect): pass",
        "if isinstance(self.dialect, SQLiteDialect): pass",
        'if type(error.orig).__module__.split(".")[0] == module: pass',
        "kind = error.orig.__class__",
        "if url.drivername == expected: pass",
    ],
)
def test_the_scan_finds_branching(snippet: str) -> None:
    assert list(branching(snippet)), snippet


def test_the_scan_leaves_docstrings_prose_and_the_registry_alone() -> None:
    source = textwrap.dedent(
        '''
        """On postgresql, the claim is one statement; sqlite selects first."""

        _MODULES = {"postgresql": "hexalchemy.sqlalchemy.postgresql.backend"}


        def f(backend):
            """Uses postgresql's arrays."""
            message = "the database says no"
            option = "sqlite_busy_timeout"
            return backend.one_of(message, option)


        def g(dialect, engine, column_type):
            backend = backend_for(engine.dialect.name)
            name = dialect.identifier_preparer.quote("t")
            return dialect.type_descriptor(column_type), backend, name


        class Manager:
            def __init__(self, dialect):
                self.dialect_name = dialect.name

            @property
            def dialect_name(self):
                return self.engine.dialect.name
        '''
    )
    assert list(branching(source)) == []


# -- the registry --------------------------------------------------------------------------------


def test_every_registered_backend_is_its_modules_backend() -> None:
    for name, module in _MODULES.items():
        backend = backend_for(name)
        assert isinstance(backend, Backend)
        assert backend.name == name and type(backend).__module__ == module
    assert [backend.name for backend in backends()] == list(_MODULES)


def test_an_unsupported_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="hexalchemy supports mariadb, postgresql, sqlite") as refused:
        backend_for("oracle")
    assert refused.value.option == "dialect"


def test_the_portable_helpers_ask_every_backend() -> None:
    table = Table("t", MetaData(), Column("x", Integer))
    assert set(partial_index(table.c.x > 0)) == {"postgresql_where", "sqlite_where"}
    compiled = {name: json_type().compile(dialect=URL.create(name).get_dialect()()) for name in _MODULES}
    assert compiled == {
        "mariadb": "JSON",
        "postgresql": "JSONB",
        "sqlite": "TEXT",
    }  # TEXT affinity: a JSON column has NUMERIC


def test_the_column_types_compile_for_a_database_without_a_backend() -> None:
    assert (str(UtcDateTime()), str(ExactDecimal(9, 2))) == ("DATETIME", "NUMERIC(9, 2)")


# -- what a backend stores --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"), [("-1", "-1.00"), ("1.5", "1.50"), ("12.34", "12.34"), ("NaN", "NaN")]
)
def test_sqlite_pads_an_exact_decimal_to_its_scale_as_numeric_does(
    tmp_path: Path, given: str, stored: str
) -> None:
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("d", ExactDecimal(9, 2)))
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'd.db'}"))
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(table.insert().values(id=1, d=Decimal(given)))
            assert connection.exec_driver_sql("SELECT d FROM t").scalar() == stored
            assert str(connection.execute(select(table.c.d)).scalar()) == stored
    finally:
        engine.dispose()
