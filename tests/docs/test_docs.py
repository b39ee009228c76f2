"""Run every ```python block of README.md and docs/*.md, so the documentation cannot rot.

The blocks of one file run in order, in one namespace, in a fresh temporary directory
(so ``sqlite:///app.db`` lands there) and with no ``HEXALCHEMY_*`` variable set except the
``HEXALCHEMY_DATABASE_URL`` this test provides. A block is skipped when its fence reads
```` ```python no-run```` or its text contains ``# doctest: skip``; keep those rare. A block
whose fence reads ```` ```python pytest```` is a complete test module: it is written to a
file and run by pytest in a subprocess, where hexalchemy's pytest plugin finds the PostgreSQL
test database in ``HEXALCHEMY_TEST_POSTGRESQL_URL`` (set to ``TEST_POSTGRESQL_URL``).

The blocks must also pass ``mypy --strict`` and basedpyright's strict mode, as a user's CI
would check them: each document's running blocks joined as one module, each test module and
each ``no-run`` block alone (a ``no-run`` block is a complete module, such as Alembic's
``env.py``; the example applications of ``examples/`` are importable). Every public name of
hexalchemy must appear in the documentation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import attrs
import pytest

from tests.postgresql import POSTGRESQL_URL, REQUIRE_POSTGRESQL
from tests.typing.checkers import pyright_errors

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARKER = "# doctest: skip"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
PUBLIC_PACKAGES = (
    "hexalchemy.ports",
    "hexalchemy.rules",
    "hexalchemy.sqlalchemy",
    "hexalchemy.testing",
    "hexalchemy.retry",
    "hexalchemy.outbox",
    "hexalchemy.agents",
    "hexalchemy.brokers",
    "hexalchemy.pytest_plugin",
)


@attrs.frozen
class Block:
    """One fenced code block: where it starts (1-based line of its first code line) and its text."""

    path: Path
    line: int
    language: str
    options: tuple[str, ...]
    code: str

    @property
    def is_test_module(self) -> bool:
        return self.language == "python" and "pytest" in self.options

    @property
    def is_checked_alone(self) -> bool:
        """A test module, or a ``no-run`` block: type-checked as a module of its own."""
        return self.language == "python" and (self.is_test_module or "no-run" in self.options)

    @property
    def runs(self) -> bool:
        return (
            self.language == "python"
            and not self.is_test_module
            and "no-run" not in self.options
            and SKIP_MARKER not in self.code
        )


def code_blocks(path: Path) -> list[Block]:
    """Parse the fenced code blocks of a Markdown file."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        words = opening["info"].split()
        body: list[str] = []
        start = index + 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            index += 1
            if closing is not None and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[index - 1][indent:])
        else:
            raise AssertionError(f"{path}:{start - 1}: unclosed code fence")
        language = words[0] if words else ""
        blocks.append(Block(path, start, language, tuple(words[1:]), "\n".join(body) + "\n"))
    return blocks


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("HEXALCHEMY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HEXALCHEMY_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_code_blocks_run(path: Path, clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real module, so that attrs and typing can resolve the annotations of the classes
    # the blocks define (``from __future__ import annotations`` included).
    module = types.ModuleType(f"hexalchemy_docs_{path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in code_blocks(path):
        if not block.runs:
            continue
        # Pad with blank lines so tracebacks show the line numbers of the Markdown file.
        source = "\n" * (block.line - 1) + block.code
        try:
            exec(compile(source, str(path), "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"the code block at {path.name}:{block.line} failed: {error!r}") from error


TEST_MODULES = [block for path in DOCUMENTS for block in code_blocks(path) if block.is_test_module]


@pytest.mark.parametrize(
    "block", TEST_MODULES, ids=lambda block: f"{block.path.relative_to(ROOT)}:{block.line}"
)
def test_test_modules_pass(block: Block, clean_environment: Path) -> None:
    module = clean_environment / f"test_docs_{block.path.stem}_{block.line}.py"
    module.write_text("\n" * (block.line - 1) + block.code, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            *(["--hexalchemy-require-postgresql"] if REQUIRE_POSTGRESQL else []),
            module.name,
        ],
        cwd=clean_environment,
        env={**os.environ, "HEXALCHEMY_TEST_POSTGRESQL_URL": POSTGRESQL_URL},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{block.path.name}:{block.line}\n{result.stdout}\n{result.stderr}"


@attrs.frozen
class CheckedModule:
    """A module the type checkers read: a document's running blocks joined, or one test module."""

    name: str
    source: str
    origins: tuple[tuple[Path, int], ...]
    """For each line of ``source``, the document and the 1-based line of it the line comes from."""

    def where(self, line: int) -> str:
        """``document.md:line`` of the module's 1-based ``line``."""
        path, number = self.origins[line - 1]
        return f"{path.relative_to(ROOT)}:{number}"


def _binding(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> tuple[str, str]:
    """The name an imported alias binds, and what it binds it to."""
    if isinstance(node, ast.Import):
        return (alias.asname or alias.name, alias.name)
    return (alias.asname or alias.name, f"{'.' * node.level}{node.module or ''}:{alias.name}")


def without_repeated_imports(code: str, imported: dict[str, str]) -> str:
    """``code`` without the top-level imports that bind a name to what an earlier block bound it to.

    Each block shows its imports, so that it reads (and copies) alone; joined as one module they
    would repeat (basedpyright's reportDuplicateImport). Only such exact repeats go, line counts
    are kept (so errors point at the right line), and ``imported`` gains this code's imports.
    """
    lines = code.splitlines()
    for node in ast.parse(code).body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        kept = [
            alias
            for alias in node.names
            if imported.get(_binding(node, alias)[0]) != _binding(node, alias)[1]
        ]
        imported.update(_binding(node, alias) for alias in node.names)
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        alone = node.col_offset == 0 and not lines[last][node.end_col_offset or 0 :].strip()
        if len(kept) == len(node.names) or not alone:
            continue
        node.names = kept
        lines[first : last + 1] = [ast.unparse(node) if kept else ""] + [""] * (last - first)
    return "\n".join(lines) + "\n"


def checked_modules() -> list[CheckedModule]:
    """Each document's running blocks as one module (imports a block repeats left out), and each block
    type-checked alone."""
    modules: list[CheckedModule] = []
    for path in DOCUMENTS:
        blocks = code_blocks(path)
        source, origins, imported = "", list[tuple[Path, int]](), dict[str, str]()
        for block in blocks:
            if block.runs:
                source += without_repeated_imports(block.code, imported)
                origins += [(path, block.line + offset) for offset in range(block.code.count("\n"))]
        modules.append(CheckedModule(f"doc_{path.stem.lower()}.py", source, tuple(origins)))
        modules += [
            CheckedModule(
                f"block_{path.stem.lower()}_{block.line}.py",
                block.code,
                tuple((path, block.line + offset) for offset in range(block.code.count("\n"))),
            )
            for block in blocks
            if block.is_checked_alone
        ]
    return modules


def _write(modules: list[CheckedModule], directory: Path) -> dict[str, CheckedModule]:
    for module in modules:
        (directory / module.name).write_text(module.source, encoding="utf-8")
    return {module.name: module for module in modules}


_MYPY_ERROR = re.compile(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+): (?P<message>.*)$", re.MULTILINE)


EXAMPLES = ROOT / "examples"


def test_code_blocks_pass_mypy_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file's blocks, joined as one module, and each block checked alone pass ``mypy --strict``."""
    from mypy import api

    monkeypatch.setenv("MYPYPATH", str(EXAMPLES))
    modules = _write(checked_modules(), tmp_path)
    stdout, stderr, status = api.run(
        ["--strict", "--cache-dir", str(ROOT / ".mypy_cache" / "docs"), "--no-error-summary", str(tmp_path)]
    )
    errors = [
        f"{modules[Path(found['file']).name].where(int(found['line']))}: {found['message']}"
        for found in _MYPY_ERROR.finditer(stdout)
    ]
    assert status == 0, "\n".join(errors) or stdout + stderr


def test_code_blocks_pass_basedpyright_strict(tmp_path: Path) -> None:
    """Each file's blocks, joined as one module, and each block checked alone pass basedpyright's strict mode."""
    modules = _write(checked_modules(), tmp_path)
    errors = [
        f"{modules[name].where(line)}: {message}"
        for name, lines in sorted(
            pyright_errors(tmp_path, warnings=True, stubs=ROOT / "typings", paths=[EXAMPLES]).items()
        )
        for line, messages in sorted(lines.items())
        for message in messages
    ]
    assert not errors, "\n".join(errors)


def test_only_repeated_imports_are_left_out() -> None:
    imported: dict[str, str] = {}
    first = "import uuid\nfrom hexalchemy.ports import EntitySpec, Repository\n"
    assert without_repeated_imports(first, imported) == first
    again = (
        "import uuid\n"
        "import datetime as dt\n"
        "from hexalchemy.ports import (\n    EntitySpec,\n    Outbox,\n)\n"
        "from hexalchemy.testing import Repository\n"
        "def f() -> None:\n    import uuid\n"
    )
    assert without_repeated_imports(again, imported) == (
        "\n"
        "import datetime as dt\n"
        "from hexalchemy.ports import Outbox\n\n\n\n"
        "from hexalchemy.testing import Repository\n"
        "def f() -> None:\n    import uuid\n"
    )


def test_every_python_block_is_parsed() -> None:
    blocks = [block for path in DOCUMENTS for block in code_blocks(path)]
    assert any(block.runs for block in blocks)
    skipped = [
        f"{block.path.name}:{block.line}" for block in blocks if block.language == "python" and not block.runs
    ]
    assert len(skipped) <= 10, f"too many skipped code blocks: {skipped}"


def documented_names() -> set[str]:
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCUMENTS)
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def public_modules() -> list[str]:
    """The public packages and their submodules whose dotted names have no ``_`` part."""
    names: list[str] = []
    for package_name in PUBLIC_PACKAGES:
        names.append(package_name)
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), f"{package_name}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_name_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public: list[str] = list(getattr(module, "__all__", []))
    missing = sorted(set(public) - documented_names())
    assert not missing, f"public names of {module_name} that no document mentions: {missing}"


def _public_callables() -> dict[str, str]:
    """Each public class (but errors) and function of the public packages: name -> the package exporting it."""
    found: dict[str, str] = {}
    for package_name in PUBLIC_PACKAGES:
        package = importlib.import_module(package_name)
        for name in getattr(package, "__all__", []):
            value = getattr(package, name)
            if inspect.isfunction(value) or (inspect.isclass(value) and not issubclass(value, BaseException)):
                found.setdefault(name, package_name)
    return found


_IMPORT = re.compile(r"from\s+hexalchemy[\w.]*\s+import\s+(\([^)]*\)|[^\n]*)")
_DOTTED = re.compile(r"\bhexalchemy(?:\.[A-Za-z_]\w*)+")
_DOTTED_CALL = re.compile(r"\b(hexalchemy(?:\.[A-Za-z_]\w*)+)\(")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")


def _prose_and_python(path: Path) -> str:
    """The text of a document but its code blocks in other languages than Python (trees, shell, SQL)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    others = {
        index
        for block in code_blocks(path)
        if block.language != "python"
        for index in range(block.line - 2, block.line + block.code.count("\n"))
    }
    return "\n".join(line for index, line in enumerate(lines) if index not in others)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(value, part):
                return False
            value = getattr(value, part)
        return True
    return False


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_public_callable_a_document_calls_shows_its_import_path(path: Path) -> None:
    """A constructor or function a page tells users to call (``Name(`` in its prose or Python) is imported in
    one of its Python blocks or written with its module (``hexalchemy.sqlalchemy.agent_tables(schema)``);
    every such dotted call names something that exists."""
    text = _prose_and_python(path)
    imported = {
        name
        for block in code_blocks(path)
        if block.language == "python"
        for names in _IMPORT.findall(block.code)
        for name in re.findall(r"\w+", names)
    }
    dotted = set(_DOTTED.findall(text))
    wrong = sorted(name for name in set(_DOTTED_CALL.findall(text)) if not _resolves(name))
    assert not wrong, f"{path.name}: these dotted names do not exist: {wrong}"
    shown = imported | {name.rsplit(".", 1)[-1] for name in dotted}
    callables = _public_callables()
    missing = sorted(
        f"{name} (from {callables[name]})"
        for name in set(_CALL.findall(text)) & set(callables)
        if name not in shown
    )
    assert not missing, f"{path.name} tells users to call these without their import path: {missing}"
