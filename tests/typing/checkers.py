"""Run mypy --strict and basedpyright strict over small consumer programs, as a user's CI would.

A sample marks each line a checker must refuse with ``# refused`` (both checkers),
``# refused: mypy`` or ``# refused: pyright``; every other line must pass. All samples of a
test are checked in one run of each checker (each run takes seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

CHECKERS = ("mypy", "pyright")
_MARK = re.compile(r"# refused(?::\s*(?P<checker>mypy|pyright))?\s*$")
_MYPY_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: ")


def refused_lines(source: str, checker: str) -> set[int]:
    """The 1-based lines of ``source`` that ``checker`` must refuse."""
    found: set[int] = set()
    for number, line in enumerate(source.splitlines(), 1):
        mark = _MARK.search(line)
        if mark is not None and mark["checker"] in (None, checker):
            found.add(number)
    return found


def _basedpyright() -> str:
    beside = Path(sys.executable).with_name("basedpyright")
    found = str(beside) if beside.exists() else shutil.which("basedpyright")
    assert found is not None, "basedpyright is not installed (pip install -e '.[dev]')"
    return found


def mypy_errors(directory: Path) -> dict[str, dict[int, list[str]]]:
    """Run ``mypy --strict`` over ``directory``; its errors by file name, then by 1-based line."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            "--no-error-summary",
            "--show-error-codes",
            str(directory),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    errors: dict[str, dict[int, list[str]]] = {}
    for line in result.stdout.splitlines():
        match = _MYPY_ERROR.match(line)
        if match is not None:
            name = Path(match["file"]).name
            errors.setdefault(name, {}).setdefault(int(match["line"]), []).append(line)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return errors


def pyright_errors(
    directory: Path, *, warnings: bool = False, stubs: Path | None = None, paths: Sequence[Path] = ()
) -> dict[str, dict[int, list[str]]]:
    """Run basedpyright in strict mode over ``directory``; its errors (and ``warnings`` too, if asked)
    by file name, then by 1-based line. Writes the ``pyrightconfig.json`` of the run into ``directory``;
    ``stubs``: a directory of stub files for libraries that ship no types (basedpyright's stubPath);
    ``paths``: more directories imports are resolved from (extraPaths)."""
    config: dict[str, object] = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "include": ["."]}
    if stubs is not None:
        config["stubPath"] = str(stubs)
    if paths:
        config["extraPaths"] = [str(path) for path in paths]
    (directory / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run(
        [_basedpyright(), "--pythonpath", sys.executable, "--outputjson", "--project", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=directory,
    )
    report = json.loads(result.stdout)
    severities = ("error", "warning") if warnings else ("error",)
    errors: dict[str, dict[int, list[str]]] = {}
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] not in severities:
            continue
        line = diagnostic["range"]["start"]["line"] + 1
        message = f"{diagnostic.get('rule', '')}: {diagnostic['message']}"
        errors.setdefault(Path(diagnostic["file"]).name, {}).setdefault(line, []).append(message)
    return errors


def check_samples(directory: Path, samples: dict[str, str]) -> list[str]:
    """Write ``samples`` (file name: source) to ``directory``, run both checkers; return the mismatches.

    A mismatch is a marked line a checker accepted, or an unmarked line it refused.
    """
    sources = {name: textwrap.dedent(source).lstrip("\n") for name, source in samples.items()}
    for name, source in sources.items():
        (directory / name).write_text(source, encoding="utf-8")
    found = {"mypy": mypy_errors(directory), "pyright": pyright_errors(directory)}
    problems: list[str] = []
    for checker in CHECKERS:
        for name, source in sources.items():
            errors = found[checker].get(name, {})
            expected = refused_lines(source, checker)
            lines = source.splitlines()
            for number in sorted(expected - set(errors)):
                problems.append(f"{checker} accepted {name}:{number}: {lines[number - 1].strip()}")
            for number in sorted(set(errors) - expected):
                problems.append(f"{checker} refused {name}:{number}: {' | '.join(errors[number])}")
    return problems
