"""Text checks shared by the ports' validation."""

from __future__ import annotations

__all__ = ["encodes_as_utf8"]


def encodes_as_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a Python str may hold lone surrogates, which no database takes."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
