"""Print the runtime dependencies of pyproject.toml, one a line, for ``pip install -r`` (``make demo``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def main() -> None:
    """Print ``[project] dependencies``."""
    with PYPROJECT.open("rb") as file:
        project = tomllib.load(file)["project"]
    for requirement in project["dependencies"]:
        print(requirement)


if __name__ == "__main__":
    main()
