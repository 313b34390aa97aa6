-- The dashboard's runs list (pgflow ui), one status other than completed: newest first by
-- (started_at, run_id), a page at a time past a keyset cursor. Partial: completed runs, the bulk,
-- are listed fast through runs_by_started_at (most rows match), and a run that completes leaves
-- this index alone. Read by queries.UI_RUNS_OLDER and UI_RUNS_NEWER. Named runs_by_*, not idx_*:
-- that prefix names the contract's indexes.
create index if not exists runs_by_status_started_at on pgflow.runs (status, started_at, run_id)
where status <> 'completed';
