"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place, and a reviewer sees every statement next to its neighbours. Each
constant is a whole statement (no fragments glued together), with named parameters
(``%(name)s``) unless a hot path reads positional tuples, which its comment says.

Sections, in order: channels and lock keys; the SQL client; the worker; the CLI; run control;
schedules; the dashboard.
"""

from __future__ import annotations

# ---- channels and advisory-lock keys --------------------------------------------------------

# ---- the SQL client ---------------------------------------------------------------------------

# ---- the worker -------------------------------------------------------------------------------

# ---- the CLI ----------------------------------------------------------------------------------

# ---- run control (cancel, retry, resume, idempotent start, prune) ------------------------------

# ---- schedules ----------------------------------------------------------------------------------

# ---- the dashboard --------------------------------------------------------------------------------
