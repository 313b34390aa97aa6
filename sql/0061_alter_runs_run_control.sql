-- Run control (beside the contract): pgflow.runs gains
--   * status `cancelled` (pgflow.cancel_run), with its time in cancelled_at; the contract's
--     statuses and constraint names stay (status_is_valid is re-created with one more value);
--   * retry_of_run_id: the run this one retries (pgflow.retry_run), NULL otherwise; set NULL when
--     that run is pruned;
--   * idx_runs_finished: finished runs by the time they finished, for pgflow.prune_runs.
-- A run that never uses these keeps cancelled_at and retry_of_run_id NULL.
alter table pgflow.runs drop constraint status_is_valid;
alter table pgflow.runs add constraint status_is_valid check (
    status in ('started', 'failed', 'completed', 'cancelled')
);
alter table pgflow.runs add column cancelled_at timestamptz;
alter table pgflow.runs add column retry_of_run_id uuid;
alter table pgflow.runs add constraint cancelled_at_is_after_started_at check (
    cancelled_at is null or cancelled_at >= started_at
);
alter table pgflow.runs add constraint cancelled_at_only_when_cancelled check (
    cancelled_at is null or status = 'cancelled'
);
alter table pgflow.runs add constraint runs_retry_of_run_id_fkey foreign key (retry_of_run_id)
references pgflow.runs (run_id) on delete set null;
create index idx_runs_retry_of_run_id on pgflow.runs (retry_of_run_id) where retry_of_run_id is not null;
create index idx_runs_finished on pgflow.runs ((coalesce(completed_at, failed_at, cancelled_at)))
where status <> 'started';
