"""The test helpers (pgflow.testing). Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from psycopg import sql

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "CREATE_DATABASE",
    "CREATE_DATABASE_FROM_TEMPLATE",
    "DROP_DATABASE",
    "TESTING_MAKE_RUN_VISIBLE",
    "TESTING_RUN_STATUS",
    "TESTING_RUN_TASKS",
]

# ---- test helpers (pgflow.testing) -----------------------------------------------------------
# Throwaway databases for users' tests, and what run_to_completion asks beyond the SQL client.

# {name}, {template}: sql.Identifier. CREATE/DROP DATABASE cannot run in a transaction.
CREATE_DATABASE: Final = sql.SQL("create database {name}")
CREATE_DATABASE_FROM_TEMPLATE: Final = sql.SQL("create database {name} template {template}")
DROP_DATABASE: Final = sql.SQL("drop database if exists {name} with (force)")

# The run's status (NULL row: no such run).
TESTING_RUN_STATUS: Final = "select r.status from pgflow.runs as r where r.run_id = %(run_id)s::uuid"

# Skip start delays and retry back-off: make the queued tasks' messages of one run visible now.
# {queue_table} is formatted with sql.Identifier("pgmq", "q_<queue>").
TESTING_MAKE_RUN_VISIBLE: Final = """
update {queue_table} as q
set vt = clock_timestamp()
from pgflow.step_tasks as st
where st.run_id = %(run_id)s::uuid and st.status = 'queued' and q.msg_id = st.message_id
    and q.vt > clock_timestamp()
returning q.msg_id"""

# A run's tasks, for the result's per-task view.
TESTING_RUN_TASKS: Final = """
select st.step_slug, st.task_index, st.status, st.attempts_count, st.output, st.error_message
from pgflow.step_tasks as st
where st.run_id = %(run_id)s::uuid
order by st.step_slug, st.task_index"""
