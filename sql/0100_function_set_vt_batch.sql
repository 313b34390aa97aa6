-- pgflow.set_vt_batch(queue_name, msg_ids, vt_offsets): sets the visibility timeout of several
-- messages of one queue in a single UPDATE, pairing msg_ids[i] with vt_offsets[i]:
-- vt = clock_timestamp() + vt_offsets[i] seconds (read_ct unchanged). Returns the updated rows.
-- Called by start_tasks (vt = timeout + 2 s) and requeue_stalled_tasks (vt = now).
-- Locks the updated pgmq.q_<queue> rows. Raises `msg_ids length (<n>) must equal vt_offsets
-- length (<m>)`; an unknown queue raises 42P01 `relation "pgmq.q_<name>" does not exist`.
-- Either array NULL, or msg_ids empty -> empty result.
create or replace function pgflow.set_vt_batch(queue_name text, msg_ids bigint[], vt_offsets integer[])
returns table (
    msg_id bigint,
    read_ct integer,
    enqueued_at timestamptz,
    vt timestamptz,
    message jsonb,
    headers jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
begin
    if set_vt_batch.msg_ids is null or set_vt_batch.vt_offsets is null or cardinality(set_vt_batch.msg_ids) = 0 then
        return;
    end if;

    if cardinality(set_vt_batch.msg_ids) <> coalesce(cardinality(set_vt_batch.vt_offsets), 0) then
        raise exception 'msg_ids length (%) must equal vt_offsets length (%)',
            cardinality(set_vt_batch.msg_ids), coalesce(cardinality(set_vt_batch.vt_offsets), 0);
    end if;

    return query execute format(
        $sql$
        update pgmq.%I as q
        set vt = clock_timestamp() + make_interval(secs => u.vt_offset)
        from unnest($1, $2) as u (msg_id, vt_offset)
        where q.msg_id = u.msg_id
        returning q.msg_id, q.read_ct::integer, q.enqueued_at, q.vt, q.message, q.headers
        $sql$,
        pgmq.format_table_name(set_vt_batch.queue_name, 'q')
    ) using set_vt_batch.msg_ids, set_vt_batch.vt_offsets;
end;
$$;
