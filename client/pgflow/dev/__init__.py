"""``pgflow dev``: a local PostgreSQL kept in ``.pgflow/`` of the current directory, migrated, with
a worker for the given flows that restarts when their source files change, and the dashboard.

Modules, one job each:

=================  ==========================================================================
``env``            ``.pgflow/`` and ``.pgflow/dev.env`` (the ``DATABASE_URL`` other commands read)
``watch``          which source files to watch, and whether one changed (mtime polling)
``children``       a child process started, checked and stopped (SIGTERM, then SIGKILL)
``worker_main``    the worker child: load the flows, compile them (recompiling changed ones), serve
``session``        the whole session: lock, server, migration, children, signals, shutdown
=================  ==========================================================================

Why the worker is a child process: a changed module is re-imported by starting a new process,
never by ``importlib.reload`` (which keeps stale objects: handlers, imported names, classes).

Recompiling in dev: the worker child calls ``pgflow.ensure_flow_compiled(..., allow_data_loss =>
true)``. An unchanged flow is only verified (its runs stay); a flow whose definition (steps,
dependencies, options) changed is deleted WITH ITS RUNS and created again from the code, as pgflow
does on a local Supabase stack. A change to handler code alone keeps the flow and its runs.
"""

from __future__ import annotations

from pgflow.dev.env import DEV_DIR, ENV_FILE, dev_env_url, write_dev_env

__all__ = ["DEV_DIR", "ENV_FILE", "dev_env_url", "write_dev_env"]
