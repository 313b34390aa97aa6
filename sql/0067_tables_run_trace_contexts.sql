-- The W3C trace context (traceparent) of the code that started a run, for the worker's task spans
-- (OpenTelemetry). Written by the Python client's start_flow in the statement that starts the run
-- (only when a trace context is current or given); read by the worker once per run. Kept out of
-- runs.input, which is the user's. Rows go with their run (on delete cascade).
create table pgflow.run_trace_contexts (
    run_id uuid not null,
    traceparent text not null,
    created_at timestamptz not null default now(),
    constraint run_trace_contexts_pkey primary key (run_id),
    constraint run_trace_contexts_run_id_fkey foreign key (run_id) references pgflow.runs (run_id)
    on delete cascade,
    constraint traceparent_is_w3c check (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$')
);
