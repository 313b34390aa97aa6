"""How the CLI prints: aligned text tables, durations, local timestamps, shortened notes, JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from pgflow.dsl import to_jsonable


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, trailing spaces trimmed."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "-"
    secs = (end - start).total_seconds()
    return f"{secs * 1000:.0f}ms" if secs < 1 else f"{secs:.1f}s"


def timestamp(ts: dt.datetime | None) -> str:
    return "-" if ts is None else ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short(text: object, width: int = 60) -> str:
    """One line of at most ``width`` characters (whitespace runs collapsed, an ellipsis if cut)."""
    s = "" if text is None else " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def json_text(value: Any) -> str:
    """Indented JSON of results (dataclasses, rows, UUIDs, timestamps) via dsl.to_jsonable."""
    return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)
