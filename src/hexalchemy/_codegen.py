"""Compile generated source once, registered with linecache so tracebacks show real lines."""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

__all__ = ["compile_function"]


def compile_function(name: str, source: str, globals_: dict[str, Any], label: str) -> Callable[..., Any]:
    """Compile ``source`` defining function ``name`` and return it.

    ``label`` names the generated file in tracebacks (``<hexalchemy User.from_row>``).
    """
    filename = f"<hexalchemy {label}>"
    code = compile(source, filename, "exec")
    namespace: dict[str, Any] = dict(globals_)
    exec(code, namespace)
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    function: Callable[..., Any] = namespace[name]
    return function
