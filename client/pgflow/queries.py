"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place, and a reviewer sees every statement next to its neighbours. Each
constant is a whole statement (no fragments glued together), with named parameters
(``%(name)s``) unless a hot path reads positional tuples, which its comment says.

Sections, in order: channels and lock keys; the SQL client; the worker; the CLI; run control;
schedules; the dashboard.
"""

from __future__ import annotations

from typing import Final

# ---- channels and advisory-lock keys --------------------------------------------------------

EVENTS_CHANNEL: Final = "pgflow"
"""NOTIFY channel of run/step events (payload: the event JSON plus an "event" key)."""

TASKS_CHANNEL: Final = "pgflow_tasks"
"""NOTIFY channel that wakes workers (payload: the flow slug) when task messages become visible."""

MAINTENANCE_LOCK_KEY: Final = 7_412_020
"""pg_try_advisory_xact_lock key that makes at most one worker run the maintenance sweep."""

# ---- the SQL client ---------------------------------------------------------------------------

# ---- the worker -------------------------------------------------------------------------------
# What the worker sends itself, on its LISTEN connection (everything else goes through the SQL
# client). The channel is TASKS_CHANNEL above, written out: statements are whole.

WORKER_LISTEN_TASKS: Final = "listen pgflow_tasks"
WORKER_UNLISTEN_TASKS: Final = "unlisten pgflow_tasks"
# A round trip on the LISTEN connection while it is not listening: a connection that died while
# unused shows here, and is replaced.
WORKER_PING: Final = "select 1"

# ---- the CLI ----------------------------------------------------------------------------------

# ---- run control (cancel, retry, resume, idempotent start, prune) ------------------------------

# ---- schedules ----------------------------------------------------------------------------------

# ---- the dashboard --------------------------------------------------------------------------------
