-- pgflow.create_flow(flow_slug, max_attempts, base_delay, timeout): defines a flow and its queue.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- NULL options mean the defaults 3 attempts / 5 s base delay / 60 s timeout. Idempotent: an
-- existing flow is returned unchanged (options are not updated). Creates the pgmq queue named
-- like the flow when it does not exist.
-- Locks: the flows row (insert). Raises: `new row for relation "flows" violates check constraint
-- "slug_is_valid"` for an invalid slug; pgmq's own error for slugs longer than its 47-character
-- queue-name limit.
create or replace function pgflow.create_flow(
    flow_slug text,
    max_attempts int default null,
    base_delay int default null,
    timeout int default null
)
returns pgflow.flows
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow pgflow.flows;
begin
    insert into pgflow.flows as f (flow_slug, opt_max_attempts, opt_base_delay, opt_timeout)
    values (
        create_flow.flow_slug,
        coalesce(create_flow.max_attempts, 3),
        coalesce(create_flow.base_delay, 5),
        coalesce(create_flow.timeout, 60)
    )
    on conflict on constraint flows_pkey do nothing
    returning * into v_flow;

    if v_flow.flow_slug is null then
        select * into v_flow from pgflow.flows as f where f.flow_slug = create_flow.flow_slug;
    end if;

    if not exists (select 1 from pgmq.list_queues() as q where q.queue_name = create_flow.flow_slug) then
        perform pgmq.create(create_flow.flow_slug);
    end if;

    return v_flow;
end;
$$;
