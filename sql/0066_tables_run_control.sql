-- Run control tables (beside the contract's; pgflow's own functions never read them).
--
-- run_idempotency_keys: one row per (flow, key) given to pgflow.start_flow_idempotent, naming the
-- run that key started. The key lives as long as its run (deleted with it, e.g. by
-- pgflow.prune_runs). The foreign key to runs is checked at commit, because the key is claimed
-- (inserted) before its run exists: concurrent callers of one key wait on the primary key.
create table pgflow.run_idempotency_keys (
    flow_slug text not null,
    idempotency_key text not null,
    run_id uuid not null,
    created_at timestamptz not null default now(),
    constraint run_idempotency_keys_pkey primary key (flow_slug, idempotency_key),
    constraint run_idempotency_keys_run_id_key unique (run_id),
    constraint run_idempotency_keys_run_id_fkey foreign key (run_id) references pgflow.runs (run_id)
    on delete cascade deferrable initially deferred,
    constraint idempotency_key_is_not_empty check (idempotency_key <> '')
);

-- task_deadlines: a started task's deadline as extended by its handler
-- (pgflow.extend_task_timeout). It holds for the attempt that was started when it was set
-- (extended_at >= step_tasks.started_at); a later attempt ignores it. requeue_stalled_tasks
-- leaves a task alone until 30 s past its deadline; without a row, nothing changes.
create table pgflow.task_deadlines (
    run_id uuid not null,
    step_slug text not null,
    task_index int not null,
    extended_at timestamptz not null default now(),
    deadline_at timestamptz not null,
    constraint task_deadlines_pkey primary key (run_id, step_slug, task_index),
    constraint task_deadlines_task_fkey foreign key (run_id, step_slug, task_index)
    references pgflow.step_tasks (run_id, step_slug, task_index) on delete cascade,
    constraint deadline_at_is_after_extended_at check (deadline_at >= extended_at)
);
