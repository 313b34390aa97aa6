-- pgflow_testing: helpers for testing flows from SQL (pgTAP, supabase test db). Optional: not part
-- of the pgflow migrations; `pgflow migrate --with-testing` installs it, or apply
-- migrations/optional/pgflow_testing.sql yourself. Every file of this schema is idempotent, so the
-- script can be applied again after an upgrade. Do not install it on a production database: its
-- functions complete and fail tasks as if a worker had run them.
create schema if not exists pgflow_testing;

comment on schema pgflow_testing is
'Test helpers: complete_next, fail_next and run_to_completion play the worker for a flow (optional install).';
