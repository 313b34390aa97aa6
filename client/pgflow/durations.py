"""Durations as people type them: ``30s``, ``30m``, ``12h``, ``7d`` (or a ``timedelta``).

Used by ``pgflow prune --older-than``, ``pgflow worker --retention`` and ``Worker(retention=...)``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

__all__ = ["UNITS", "format_duration", "parse_duration"]

UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""Suffix -> seconds."""

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", re.IGNORECASE)


def parse_duration(value: timedelta | str, what: str = "duration") -> timedelta:
    """``"7d"`` -> ``timedelta(days=7)``; a ``timedelta`` is returned as is. Negative or
    malformed values raise ValueError naming ``what`` and the accepted forms."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str):
        m = _DURATION.fullmatch(value)
        if m is None:
            raise ValueError(
                f"{what} must be a number with a unit s, m, h, d or w (e.g. 30m, 12h, 7d), got {value!r}"
            )
        result = timedelta(seconds=float(m.group(1)) * UNITS[m.group(2).lower()])
    else:
        raise ValueError(f"{what} must be a timedelta or a text like '7d', got {type(value).__name__}")
    if result < timedelta(0):
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return result


def format_duration(value: timedelta) -> str:
    """The largest whole unit up to days that fits: ``timedelta(days=7)`` -> ``7d``, 90 s -> ``90s``."""
    seconds = value.total_seconds()
    for suffix, size in sorted(((k, v) for k, v in UNITS.items() if k != "w"), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{suffix}"
    return f"{seconds:g}s"
