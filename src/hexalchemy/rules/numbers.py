"""Numbers written as text (environment variables, command-line options): plain ASCII decimals only.

Python's ``int()`` and ``float()`` also take other scripts' digits (Arabic-Indic, fullwidth...)
and digit separators (``"1_000"``); a configuration value is refused instead of guessed at.
"""

from __future__ import annotations

import re
from typing import Final

from hexalchemy.ports import InvalidArgumentError

__all__ = ["parse_decimal_float", "parse_decimal_int"]

_INTEGER: Final = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidArgumentError("text", text, "must be a str")
    return text


def parse_decimal_int(text: str) -> int | None:
    """The integer ``text`` writes in ASCII decimal digits (an optional sign, whitespace around), or None."""
    stripped = _text(text).strip()
    return int(stripped) if _INTEGER.fullmatch(stripped) else None


def parse_decimal_float(text: str) -> float | None:
    """The number ``text`` writes in ASCII decimal notation (``1.5``, ``.5``, ``2e3``), or None.

    ``nan``, ``inf`` and the like are not decimal notation: None.
    """
    stripped = _text(text).strip()
    return float(stripped) if _NUMBER.fullmatch(stripped) else None
