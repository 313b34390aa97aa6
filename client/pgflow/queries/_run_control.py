"""Run control: cancel, retry, resume, idempotent start, prune. Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "CANCEL_RUN",
    "EXTEND_TASK_TIMEOUT",
    "FAIL_TASK_WITH_DELAY",
    "GUARDED_FAIL_TASK_WITH_DELAY",
    "PRUNE_RUNS",
    "RESUME_RUN",
    "RETRY_RUN",
    "SET_RETRY_POLICY",
    "START_FLOW_IDEMPOTENT",
]

# ---- run control (cancel, retry, resume, idempotent start, prune) ------------------------------
# Used by the run-control methods of the SQL client (client/_async_control.py), the CLI's
# cancel/retry/resume/prune commands and the worker (retention, extend, retry_after).

CANCEL_RUN: Final = "select * from pgflow.cancel_run(run_id => %(run_id)s::uuid)"

RETRY_RUN: Final = "select * from pgflow.retry_run(run_id => %(run_id)s::uuid)"

RESUME_RUN: Final = "select * from pgflow.resume_run(run_id => %(run_id)s::uuid)"

START_FLOW_IDEMPOTENT: Final = """
select * from pgflow.start_flow_idempotent(
    flow_slug => %(flow_slug)s::text, input => %(input)s::jsonb, idempotency_key => %(idempotency_key)s::text
)"""

PRUNE_RUNS: Final = """
select pgflow.prune_runs(older_than => %(older_than)s::interval, max_runs => %(max_runs)s::int) as pruned"""

EXTEND_TASK_TIMEOUT: Final = """
select pgflow.extend_task_timeout(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    seconds => %(seconds)s::int
) as deadline_at"""

FAIL_TASK_WITH_DELAY: Final = """
select * from pgflow.fail_task_with_delay(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    error_message => %(error_message)s::text, retry_delay_seconds => %(retry_delay_seconds)s::int
)"""

# fail_task_with_delay guarded by the attempt being reported (see GUARDED_FAIL_TASK): the
# worker's path, which may replay a call whose acknowledgement was lost.
GUARDED_FAIL_TASK_WITH_DELAY: Final = """
select (g.t).* from (
    select pgflow.fail_task_with_delay(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        error_message => %(error_message)s::text, retry_delay_seconds => %(retry_delay_seconds)s::int
    ) as t
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s::uuid and st.step_slug = %(step_slug)s::text
        and st.task_index = %(task_index)s::int and st.status = 'started'
        and st.attempts_count = %(expected_attempt)s::int
    offset 0
) as g"""

SET_RETRY_POLICY: Final = """
select pgflow.set_retry_policy(
    flow_slug => %(flow_slug)s::text, step_slug => %(step_slug)s::text,
    retry_jitter => %(retry_jitter)s::numeric, max_retry_delay => %(max_retry_delay)s::int
)"""
