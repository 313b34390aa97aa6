"""Which source files the dev worker depends on, and whether one changed: a snapshot of their
modification times and sizes, taken again on every poll (no extra dependency, no inotify).

Watched: every ``*.py`` file under the project directory (so a helper module a flow imports counts
too), skipping hidden directories, ``__pycache__``, ``node_modules`` and virtualenvs, plus the
files of flow modules that live elsewhere (an installed package in editable mode).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["SourceWatcher", "spec_files"]

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})

Snapshot = dict[Path, tuple[int, int]]


def spec_files(specs: Iterable[str], root: Path) -> list[Path]:
    """The source files named by ``module:attr`` / ``path.py:attr`` specs, found without running
    the module itself (a dotted module's parent packages are imported, as ``find_spec`` does)."""
    files: list[Path] = []
    for spec in specs:
        ref = spec.partition(":")[0]
        if ref.endswith(".py") or "/" in ref or os.sep in ref:
            files.append((root / ref).resolve())
            continue
        try:
            found = importlib.util.find_spec(ref)
        except (ImportError, ValueError):
            continue  # the worker child reports the import error
        if found is not None and found.origin and found.has_location:
            files.append(Path(found.origin).resolve())
    return files


def _python_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS and not (Path(dirpath, d) / "pyvenv.cfg").exists()
        ]
        for name in filenames:
            if name.endswith(".py"):
                yield Path(dirpath, name)


class SourceWatcher:
    """``changed()`` says which watched files were added, removed or modified since the last call
    (the first snapshot is taken when the watcher is made)."""

    def __init__(self, root: Path, extra: Iterable[Path] = ()) -> None:
        self.root = root
        self.extra = [p for p in extra if root not in p.parents]
        self._last = self._snapshot()

    @property
    def count(self) -> int:
        return len(self._last)

    def _snapshot(self) -> Snapshot:
        snap: Snapshot = {}
        for path in [*_python_files(self.root), *self.extra]:
            try:
                st = path.stat()
            except OSError:
                continue
            snap[path] = (st.st_mtime_ns, st.st_size)
        return snap

    def changed(self) -> list[Path]:
        now = self._snapshot()
        diff = sorted(p for p in now.keys() | self._last.keys() if now.get(p) != self._last.get(p))
        self._last = now
        return diff
