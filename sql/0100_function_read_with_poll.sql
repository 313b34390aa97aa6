-- pgflow.read_with_poll(queue_name, vt, qty, max_poll_seconds, poll_interval_ms, conditional): a thin
-- wrapper over pgmq.read_with_poll with the same parameters and defaults, kept for callers that
-- can reach only schema pgflow (a role granted pgflow but not pgmq, a PostgREST schema list).
-- pgflow dropped its own copy in 0.8 and its workers call pgmq.read_with_poll directly; this
-- project's design names it among the schema's functions, and pgflow's suite passes with it.
-- plpgsql (bound at call time), so that installing the schema never depends on the exact pgmq
-- signature; pgmq >= 1.5 has the `conditional` parameter.
-- Example: select * from pgflow.read_with_poll('greet', 30, 10);
-- Sleeps between polls: do not call it inside a transaction that holds locks.
-- Locks the returned pgmq.q_<queue> rows (vt update). Raises pgmq's errors (unknown queue).
create or replace function pgflow.read_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer default 5,
    poll_interval_ms integer default 100,
    conditional jsonb default '{}'
)
returns setof pgmq.message_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query
    select m.*
    from pgmq.read_with_poll(
        read_with_poll.queue_name,
        read_with_poll.vt,
        read_with_poll.qty,
        read_with_poll.max_poll_seconds,
        read_with_poll.poll_interval_ms,
        read_with_poll.conditional
    ) as m;
end;
$$;
