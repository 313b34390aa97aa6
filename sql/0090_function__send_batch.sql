-- pgflow._send_batch(queue_name, msgs, delay_seconds): sends msgs to the pgmq queue queue_name,
-- visible after delay_seconds; returns their msg_ids in the order of msgs. The same rows
-- pgmq.send_batch(queue_name, msgs, delay_seconds) writes (vt = clock_timestamp() + the delay;
-- read_ct, enqueued_at and the other columns take the queue table's defaults), in one statement:
-- pgmq's path is four nested functions (a SQL wrapper planned on every call, the validation,
-- the insert's own function, the name check) around the same insert, about 70 us of every
-- start_flow and every step start (bench/costs.py). Writing the queue table directly is what
-- pgflow's own set_vt_batch does for visibility; the columns written exist in every pgmq from 1.4
-- on. queue_name is a flow slug (is_valid_slug: letters, digits, underscores), lowercased as pgmq
-- names its tables. An empty or NULL msgs sends nothing and returns no row (pgmq raises there;
-- no caller sends an empty batch).
-- Called by start_ready_steps and _start_ready_steps_of_runs. Locks nothing but the new rows.
-- Raises what the insert raises (an unknown queue: relation pgmq.q_<name> does not exist).
create or replace function pgflow._send_batch(queue_name text, msgs jsonb [], delay_seconds integer)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
begin
    if coalesce(cardinality(_send_batch.msgs), 0) = 0 then
        return;
    end if;
    return query execute format(
        $sql$
        insert into pgmq.%I (vt, message)
        select clock_timestamp() + make_interval(secs => $2), m.message
        from unnest($1) with ordinality as m (message, ord)
        order by m.ord
        returning msg_id
        $sql$,
        'q_' || lower(_send_batch.queue_name)
    ) using _send_batch.msgs, _send_batch.delay_seconds;
end;
$$;
