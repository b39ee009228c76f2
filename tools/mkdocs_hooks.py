"""MkDocs hooks of the documentation site (``mkdocs.yml``): README.md as the home page, repository links kept.

The Markdown files stay readable where they are (on a forge, in an editor), so their links
point at repository paths: README.md links ``docs/testing.md`` and ``examples/bank``, a page
of docs/ links ``../examples/bank/bootstrap.py``. On the site:

- README.md is the home page (``index.md``), its ``docs/`` links made site links;
- a link to a repository file or folder outside docs/ is served from the site: the file is
  copied to ``repository/<its path>`` (a folder, its files and a plain
  index of them, ``index.html``) and the link
  rewritten to it. A link to a path that does not exist fails the build, as a broken link
  between pages does under ``--strict``;
- a code fence's test markers (```` ```python pytest````, ``no-run``, read by tests/docs)
  are dropped, so that the highlighter sees a plain ```` ```python````.
"""

from __future__ import annotations

import html
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SERVED = "repository"
"""The site folder the repository files linked from the pages are copied to."""
LINK = re.compile(r"(?P<open>\]\()(?P<target>[^)\s#]+)(?P<rest>(?:#[^)\s]*)?\))")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<language>[\w-]*)")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add README.md as the home page, and every repository file or folder a page links to."""
    files.append(File.generated(config, "index.md", content=(ROOT / "README.md").read_text(encoding="utf-8")))
    pages = {"index.md": ROOT / "README.md"} | {
        path.relative_to(DOCS).as_posix(): path for path in sorted(DOCS.rglob("*.md"))
    }
    linked: dict[str, Path] = {}
    for source, path in pages.items():
        for line in _prose(path.read_text(encoding="utf-8")):
            for link in LINK.finditer(line):
                found = _resolved(link["target"], source)
                if found is not None and not found.is_relative_to(DOCS):
                    linked[_site_path(found)] = found
    for site_path, path in sorted(linked.items()):
        if path.is_file():
            files.append(File.generated(config, site_path, abs_src_path=str(path)))
        else:
            files.append(File.generated(config, site_path, content=_folder_index(path)))
            for child in _folder_files(path):
                served = _site_path(child)
                if served not in linked:
                    files.append(File.generated(config, served, abs_src_path=str(child)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any) -> str:
    """Rewrite the page's links to repository paths, and drop the test markers of its code fences."""
    source = page.file.src_uri
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opening = FENCE.match(line)
        if opening is not None:
            marker = opening["fence"]
            if fence is None:
                fence = marker
                line = f"{opening['indent']}{marker}{opening['language']}"  # ```python pytest -> ```python
            elif marker.startswith(fence) and not opening["language"]:
                fence = None
            lines.append(line)
            continue
        lines.append(line if fence is not None else LINK.sub(lambda link: _rewritten(link, source), line))
    return "\n".join(lines)


def _prose(text: str) -> list[str]:
    """The lines of ``text`` outside fenced code blocks."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opening = FENCE.match(line)
        if opening is not None:
            if fence is None:
                fence = opening["fence"]
            elif opening["fence"].startswith(fence) and not opening["language"]:
                fence = None
        elif fence is None:
            lines.append(line)
    return lines


def _resolved(target: str, source: str) -> Path | None:
    """The repository path a link of page ``source`` names (None for a web link); fail when it does not exist."""
    if "://" in target or target.startswith(("mailto:", "/")):
        return None
    base = ROOT if source == "index.md" else (DOCS / source).parent
    path = (base / target).resolve()
    if not path.is_relative_to(ROOT):
        raise PluginError(f"{source}: the link {target!r} leaves the repository")
    if not path.exists():
        raise PluginError(f"{source}: the link {target!r} names {path}, which does not exist")
    return path


def _site_path(path: Path) -> str:
    """Where a repository path is on the site: a page of docs/ as itself, any other file or folder under SERVED."""
    if path.is_relative_to(DOCS):
        return path.relative_to(DOCS).as_posix()
    served = f"{SERVED}/{path.relative_to(ROOT).as_posix()}"
    return f"{served}/index.html" if path.is_dir() else served


def _rewritten(link: re.Match[str], source: str) -> str:
    path = _resolved(link["target"], source)
    if path is None:
        return link[0]
    relative = posixpath.relpath(_site_path(path), posixpath.dirname(source) or ".")
    return f"{link['open']}{relative}{link['rest']}"


def _folder_index(path: Path) -> str:
    """A plain page listing the files of a linked folder (each served beside it)."""
    title = html.escape(path.relative_to(ROOT).as_posix())
    names = [child.name for child in _folder_files(path)]
    items = "".join(f'<li><a href="{html.escape(name)}">{html.escape(name)}</a></li>' for name in names)
    return f"<!doctype html><title>{title}</title><h1>{title}/</h1><ul>{items}</ul>"


def _folder_files(path: Path) -> list[Path]:
    """The files of a linked folder that the site serves (not its subfolders, nor compiled files)."""
    return sorted(child for child in path.iterdir() if child.is_file() and child.suffix != ".pyc")
