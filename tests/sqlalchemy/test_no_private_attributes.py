"""hexalchemy reads no dependency's private attributes (SQLAlchemy, psycopg, OpenTelemetry...).

An AST scan of ``src/hexalchemy`` fails on:

- ``x._name`` (not a dunder) on anything but ``self`` or ``cls``, unless listed below:
  SQLAlchemy's documented ``Row`` API, whose names start with ``_`` so as not to clash with
  column names, and hexalchemy's own objects reached from a sibling module;
- ``getattr``/``hasattr``/``setattr``/``delattr`` with a ``"_name"``;
- a class deriving from a dependency's class that assigns a ``_name`` in its body (an
  override of a private attribute);
- an import of a ``_name``, or from a ``_module``, of another package.

The fast paths' old switch read SQLAlchemy's private ``_has_events``; this keeps it gone.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

import hexalchemy

SOURCE: Final = Path(hexalchemy.__file__).parent

ROW_API: Final = frozenset({"_mapping", "_fields", "_asdict", "_tuple", "_t"})
"""SQLAlchemy's public ``Row`` members (documented; prefixed to stay clear of column names)."""

OWN: Final = frozenset({("testing/_memory_core.py", "_core")})
"""hexalchemy's own private attributes read from outside their class: (module, attribute)."""

ATTRIBUTE_FUNCTIONS: Final = frozenset({"getattr", "hasattr", "setattr", "delattr"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _external_names(tree: ast.Module) -> set[str]:
    """The names a module imports from other packages than hexalchemy."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module.split(".")[0] != "hexalchemy":
                names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "hexalchemy":
                    names.add((alias.asname or alias.name).split(".")[0])
    return names


def _base_name(base: ast.expr) -> str:
    while isinstance(base, ast.Attribute):
        base = base.value
    return base.id if isinstance(base, ast.Name) else ""


def private_reads(tree: ast.Module, module: str) -> Iterator[str]:
    """Where ``tree`` (the module ``module``, relative to the package) reaches into a private attribute."""
    external = _external_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = ast.unparse(node.value)
            if owner in ("self", "cls") or node.attr in ROW_API or (module, node.attr) in OWN:
                continue
            yield f"{module}:{node.lineno}: {owner}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                    yield f"{module}:{node.lineno}: {node.func.id}(..., {name.value!r})"
        elif isinstance(node, ast.ClassDef) and any(_base_name(base) in external for base in node.bases):
            for statement in node.body:
                targets: list[ast.expr] = []
                if isinstance(statement, ast.Assign):
                    targets = statement.targets
                elif isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                for target in targets:
                    if isinstance(target, ast.Name) and _private(target.id):
                        yield f"{module}:{statement.lineno}: {node.name} overrides {target.id}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            parts = node.module.split(".")
            if parts[0] == "hexalchemy":
                continue
            if any(_private(part) for part in parts):
                yield f"{module}:{node.lineno}: imports from {node.module}"
            for alias in node.names:
                if _private(alias.name):
                    yield f"{module}:{node.lineno}: imports {node.module}.{alias.name}"


def test_no_module_reads_a_dependency_s_private_attribute() -> None:
    found = [
        problem
        for path in sorted(SOURCE.rglob("*.py"))
        for problem in private_reads(
            ast.parse(path.read_text(encoding="utf-8")), path.relative_to(SOURCE).as_posix()
        )
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "def f(sync):\n    return sync._has_events",
        "def f(sync):\n    return getattr(sync.engine, '_has_events', True)",
        "from psycopg.types.json import JsonLoader\nclass L(JsonLoader):\n    _loads = staticmethod(len)",
        "from sqlalchemy.engine import _row",
        "from sqlalchemy.sql._typing import _ColumnExpressionArgument",
    ],
)
def test_the_scan_finds_a_private_read(source: str) -> None:
    assert list(private_reads(ast.parse(textwrap.dedent(source)), "m.py"))


@pytest.mark.parametrize(
    "source",
    [
        "class C:\n    def f(self):\n        return self._cache",
        "def f(row):\n    return row._mapping",
        "class C:\n    _slots = ()",
        "def f(o):\n    return o.__class__",
    ],
)
def test_the_scan_leaves_own_and_documented_names(source: str) -> None:
    assert list(private_reads(ast.parse(source), "m.py")) == []
