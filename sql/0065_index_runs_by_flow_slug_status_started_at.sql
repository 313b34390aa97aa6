-- The dashboard's runs list (pgflow ui), one flow and one status other than completed: newest first
-- by (started_at, run_id), a page at a time past a keyset cursor. Without it a status that one flow
-- never has (its failed runs, say) walks every run of that status to find none (94 ms on 1,000,000
-- runs). Partial for the reason runs_by_status_started_at is. Read by queries.UI_RUNS_OLDER/NEWER.
-- Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_flow_slug_status_started_at on pgflow.runs (
    flow_slug, status, started_at, run_id
)
where status <> 'completed';
