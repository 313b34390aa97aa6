"""NOTIFY channel names and advisory-lock keys. Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from psycopg import sql

__all__ = [
    "EVENTS_CHANNEL",
    "LISTEN_EVENTS",
    "LISTEN_TASKS",
    "MAINTENANCE_LOCK_KEY",
    "TASKS_CHANNEL",
    "UNLISTEN_EVENTS",
    "UNLISTEN_TASKS",
]

# ---- channels and advisory-lock keys --------------------------------------------------------

EVENTS_CHANNEL: Final = "pgflow"
"""NOTIFY channel of run/step events (payload: the event JSON plus an "event" key)."""

TASKS_CHANNEL: Final = "pgflow_tasks"
"""NOTIFY channel that wakes workers (payload: the flow slug) when task messages become visible."""

MAINTENANCE_LOCK_KEY: Final = 7_412_020
"""pg_try_advisory_xact_lock key that makes at most one worker run the maintenance sweep."""

# LISTEN/UNLISTEN take the channel as an identifier, not a parameter.
LISTEN_EVENTS: Final = sql.SQL("listen {}").format(sql.Identifier(EVENTS_CHANNEL))
UNLISTEN_EVENTS: Final = sql.SQL("unlisten {}").format(sql.Identifier(EVENTS_CHANNEL))
LISTEN_TASKS: Final = sql.SQL("listen {}").format(sql.Identifier(TASKS_CHANNEL))
UNLISTEN_TASKS: Final = sql.SQL("unlisten {}").format(sql.Identifier(TASKS_CHANNEL))
