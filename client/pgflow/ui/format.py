"""Jinja filters of the dashboard: timestamps, durations, JSON. Each returns plain text; the
templates' autoescaping makes it safe for HTML."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

JSON_DISPLAY_LIMIT = 20_000


def ts(value: dt.datetime | None) -> str:
    """A timestamp in UTC to the millisecond, or an em dash."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def duration(seconds: float) -> str:
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def took(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return duration((end - start).total_seconds())


def age(value: dt.timedelta | None) -> str:
    return "—" if value is None else duration(value.total_seconds()) + " ago"


def pretty_json(value: Any, limit: int = JSON_DISPLAY_LIMIT) -> str:
    """Indented JSON, cut at `limit` characters with a note saying how long it was."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    if len(text) > limit:
        return text[:limit] + f"\n… ({len(text):,} characters in all; shown: the first {limit:,})"
    return text


def short_json(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
