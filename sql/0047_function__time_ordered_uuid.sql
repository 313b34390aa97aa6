-- pgflow._time_ordered_uuid(): a new random UUID whose first 48 bits are the current time in
-- milliseconds since the Unix epoch (the layout of RFC 9562's version 7: version nibble 7, variant
-- 10, 74 random bits). The run_id of a run started without one.
-- Why: every index keyed by run_id (runs_pkey, step_states_pkey, step_tasks_pkey,
-- idx_step_states_run_id, idx_step_tasks_flow_run_step) takes a new run's rows, and the new rows
-- of its updates, where the recent runs are; with version 4 UUIDs they land on a random leaf of
-- an index that grows with the history, so every insert touches a page nobody touched lately (a
-- buffer to read, and a full-page image in the WAL after each checkpoint). Measured with 1,000,000
-- finished tasks in the tables (bench/costs.py --history): start_flow wrote 30 kB of WAL instead
-- of 2.2 kB.
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is planned again on every call
-- (about 35 us of start_flow's time), a PL/pgSQL body keeps its plan for the session.
-- Called by start_flow and start_flow_idempotent. Locks nothing; raises nothing.
create or replace function pgflow._time_ordered_uuid()
returns uuid
language plpgsql
volatile
parallel safe
set search_path = ''
as $$
declare
    v_bytes bytea := uuid_send(gen_random_uuid());
begin
    -- bytes 0-5: milliseconds since the epoch; byte 6: version nibble 7 over random bits;
    -- byte 8 keeps gen_random_uuid's variant 10
    v_bytes := overlay(
        v_bytes
        placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6
    );
    return encode(set_byte(v_bytes, 6, (get_byte(v_bytes, 6) & 15) | 112), 'hex')::uuid;
end;
$$;
