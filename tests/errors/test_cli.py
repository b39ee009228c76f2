"""The ``hexalchemy`` command with junk in every option: exit 2 and one line, never a traceback.

The options are read from each command's ``--help``, not from a list. Each is given every
junk value in turn (with the command's other arguments valid, on a SQLite outbox, and
``--drain`` for the relay so that a valid value ends the run). A usage or configuration
error must exit 2 with one line on stderr; the only other exits are 0 (a valid value) and
1 for a database failure (a prefix that names no tables).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, cast

import pytest
import sqlalchemy

from hexalchemy.cli import main
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from hexalchemy.sqlalchemy.outbox import DEFAULT_PREFIX, outbox_tables

COMMANDS: Final = ("relay", "stats", "requeue", "dead-letters")

JUNK_TEXT: Final = (
    "",
    " ",
    "\x00",
    "-1",
    "0",
    "1.5",
    "1e309",
    "nan",
    "inf",
    "99999999999999999999",
    str(2**63),
    "abc",
    "\uff15",  # a fullwidth 5
    "\u0663",  # an Arabic-Indic 3
    "1_000",
    "\ud800",
    "x" * 300,
    "postgresql://user@host:99999/db",
    "module:missing",
    "-",
)
"""Text no option takes (or takes only as itself, which must still end cleanly)."""

_OPTIONS_WITH_VALUE: Final = re.compile(r"(--[a-z-]+) [A-Z_:]+")


def _options(command: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The options of ``hexalchemy outbox COMMAND`` that take a value, read from its help."""
    assert main(["outbox", command, "--help"]) == 0
    text = capsys.readouterr().out
    found = set(_OPTIONS_WITH_VALUE.findall(text)) - {"--help"}
    assert found, text
    return found


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    engine = create_engine(DatabaseConfig(url=url))
    metadata = sqlalchemy.MetaData()
    outbox_tables(metadata, prefix=DEFAULT_PREFIX, archive=True)
    metadata.create_all(engine)
    engine.dispose()
    return url


def _arguments(command: str, option: str, value: str, url: str) -> list[str]:
    arguments = ["outbox", command, option, value]
    if option != "--url":
        arguments += ["--url", url]
    if command == "relay":
        arguments.append("--drain")
    if command == "requeue" and option != "--id":
        arguments.append("--all")
    return arguments


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_refuses_junk_in_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _database(tmp_path)
    failures: list[str] = []
    for option in sorted(_options(command, capsys)):
        for value in JUNK_TEXT:
            status = main(_arguments(command, option, value, url))
            captured = capsys.readouterr()
            lines = captured.err.strip().splitlines()
            where = f"{command} {option} {value[:20]!r}"
            if "Traceback" in captured.err or (len(lines) > 1 and status != 0):
                failures.append(f"{where}: exit {status}, stderr {captured.err[:200]!r}")
            elif status == 1 and option != "--prefix":
                failures.append(f"{where}: exit 1 (a usage error must exit 2): {captured.err.strip()[:200]}")
            elif status not in (0, 1, 2):
                failures.append(f"{where}: exit {status}")
            elif status == 2 and not lines[-1].startswith("hexalchemy"):
                failures.append(f"{where}: {lines[-1][:200]!r} does not say it is hexalchemy's")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("argv", [["outbox", "stats", 5], "outbox stats", [b"outbox"], 5])
def test_arguments_that_are_not_a_list_of_str_exit_2(
    argv: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cast(Any, argv)) == 2
    assert capsys.readouterr().err.count("\n") == 1
