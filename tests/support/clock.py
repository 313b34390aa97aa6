"""A simulated clock that worker processes share: a file holding an ISO 8601 instant, which the
test moves forward. Each process that reads it records, in ``<file>.<pid>``, the instant it last
read and how many times in a row, so that a test can wait until every worker has finished a
whole tick at an instant (two reads of it: the second comes after the first tick returned)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


def set_clock(path: Path, at: datetime) -> None:
    """Move the clock (atomically: a reader never sees half a value)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(at.isoformat(), encoding="utf-8")
    os.replace(tmp, path)


def reads_of(path: Path, pid: int, at: datetime) -> int:
    """How many times in a row process ``pid`` has read ``at`` (0: it last read something else)."""
    try:
        value, count = (path.with_name(f"{path.name}.{pid}")).read_text(encoding="utf-8").split()
    except (FileNotFoundError, ValueError):
        return 0
    return int(count) if value == at.isoformat() else 0


class FileClock:
    """``schedule_clock`` for a worker process: returns the instant in ``path``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reads = path.with_name(f"{path.name}.{os.getpid()}")
        self._last = ""
        self._count = 0

    def __call__(self) -> datetime:
        value = self._path.read_text(encoding="utf-8").strip()
        self._count = self._count + 1 if value == self._last else 1
        self._last = value
        tmp = self._reads.with_name(self._reads.name + ".tmp")
        tmp.write_text(f"{value} {self._count}", encoding="utf-8")
        os.replace(tmp, self._reads)
        return datetime.fromisoformat(value)
