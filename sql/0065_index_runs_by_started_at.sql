-- The dashboard's runs list (pgflow ui), any flow and status: newest first by (started_at, run_id),
-- a page at a time past a keyset cursor, over any number of runs. Read by queries.UI_RUNS_OLDER and
-- UI_RUNS_NEWER. Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_started_at on pgflow.runs (started_at, run_id);
