"""Every import the documentation shows works: the names exist where the docs say they live.

The Python blocks run (test_docs.py), so their imports are checked there. This module checks
what the prose and the other blocks claim:

- every ``from hexalchemy... import a, b`` line, in any code block or inline code;
- every dotted reference ``hexalchemy.x.y`` (a module, or a name in a module) in inline code;
- every sentence saying where names live: "`A`, `B` are in `hexalchemy.x`", "`A` (from
  `hexalchemy.x`)", "`A`, from `hexalchemy.x`".
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

NOT_IMPORTS = {
    "hexalchemy.outbox.publisher": "the logger of LoggingPublisher",
    "hexalchemy.tracing": "the logger of the statement hook's failures",
    "hexalchemy.store": "the logger of the stores' reruns of aborted own transactions",
    "hexalchemy.path": "a span attribute",
}
"""Dotted names in the docs that are not Python names: loggers and span attributes."""

_FROM_IMPORT = re.compile(
    r"^\s*from\s+(?P<module>hexalchemy(?:\.\w+)*)\s+import\s+(?P<names>\([^)]*\)|[^\n]+)", re.MULTILINE
)
_DOTTED = re.compile(r"`(?P<dotted>hexalchemy(?:\.\w+)+)`")
_NAME = r"`(\w+)(?:\([^`]*\))?`"
_LIVES_IN = re.compile(
    rf"(?P<names>{_NAME}(?:(?:,\s*|\s+)(?:and\s+|or\s+)?{_NAME})*)\s*,?\s*\(?\s*"
    r"(?:are in|is in|from|imported from|importable from)\s+`(?P<module>hexalchemy(?:\.\w+)*)`"
)


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a name in a module (``hexalchemy.ports.EntitySpec.key_of`` too)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            if not hasattr(target, part):
                return False
            target = getattr(target, part)
        return True
    return False


def _claims(text: str) -> list[tuple[str, str]]:
    """(module, name) pairs the text says can be imported, and (dotted, "") for dotted references."""
    claims: list[tuple[str, str]] = []
    for match in _FROM_IMPORT.finditer(text):
        names = re.sub(r"#[^\n]*", "", match["names"]).strip().strip("()")
        for item in names.split(","):
            name = item.strip().split(" as ")[0].strip()
            if re.fullmatch(r"\w+", name):
                claims.append((match["module"], name))
    for match in _DOTTED.finditer(text):
        if match["dotted"] not in NOT_IMPORTS:
            claims.append((match["dotted"], ""))
    prose = re.sub(r"\s+", " ", text)
    for match in _LIVES_IN.finditer(prose):
        for name in re.findall(_NAME, match["names"]):
            claims.append((match["module"], name))
    return claims


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_name_the_docs_import_exists_where_they_say(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    missing = sorted(
        {
            f"{module}.{name}" if name else module
            for module, name in _claims(text)
            if not _resolves(f"{module}.{name}" if name else module)
        }
    )
    assert not missing, f"{path.name} names imports that do not exist: {missing}"


def test_the_claims_are_found() -> None:
    text = (
        "the limits `MAX_TOPIC_LENGTH`, `MAX_KEY_LENGTH` and `MAX_PAYLOAD_BYTES` are in\n"
        "`hexalchemy.rules.outbox_messages`; `new_message(topic, ...)` (from `hexalchemy.rules`)\n"
        "```python\nfrom hexalchemy.ports import (\n    EntitySpec,  # the spec\n    Repository,\n)\n```\n"
    )
    assert set(_claims(text)) == {
        ("hexalchemy.rules.outbox_messages", "MAX_TOPIC_LENGTH"),
        ("hexalchemy.rules.outbox_messages", "MAX_KEY_LENGTH"),
        ("hexalchemy.rules.outbox_messages", "MAX_PAYLOAD_BYTES"),
        ("hexalchemy.rules.outbox_messages", ""),
        ("hexalchemy.rules", "new_message"),
        ("hexalchemy.rules", ""),
        ("hexalchemy.ports", "EntitySpec"),
        ("hexalchemy.ports", "Repository"),
    }
    assert not _resolves("hexalchemy.ports.MAX_TOPIC_LENGTH")
