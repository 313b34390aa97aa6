"""What the worker sends itself, and its observability (hooks, metrics). Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "QUEUE_DEPTHS",
    "RUN_RESULT",
    "WORKER_PING",
]

# ---- the worker -------------------------------------------------------------------------------
# What the worker sends itself, on its LISTEN connection (everything else goes through the SQL
# client); it LISTENs with LISTEN_TASKS / UNLISTEN_TASKS above.

# A round trip on the LISTEN connection while it is not listening: a connection that died while
# unused shows here, and is replaced.
WORKER_PING: Final = "select 1"

# ---- observability (worker hooks, metrics) -----------------------------------------------------
# Trace contexts are written and read by the SQL client (START_FLOW_TRACED, RUN_TRACEPARENT above).

# pgflow_queue_depth: messages in each flow's queue (visible, delayed and in flight).
QUEUE_DEPTHS: Final = """
select f.queue_name, m.queue_length
from unnest(%(queue_names)s::text[]) as f (queue_name)
cross join lateral pgmq.metrics(f.queue_name) as m"""

# on_run_finished, when the run's event was too large for NOTIFY: its output, or the error of its
# first failed step.
RUN_RESULT: Final = """
select
    r.output,
    (
        select ss.error_message from pgflow.step_states as ss
        where ss.run_id = r.run_id and ss.status = 'failed'
        order by ss.failed_at, ss.step_slug
        limit 1
    ) as error_message
from pgflow.runs as r
where r.run_id = %(run_id)s::uuid"""
