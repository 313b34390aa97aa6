-- pgflow 0.8 dropped its own pgflow.read_with_poll (workers call pgmq.read_with_poll); the
-- contract has no such function. pgflow-py 0.1.0 shipped a wrapper by that name: it is removed.
do $$
begin
    drop function if exists pgflow.read_with_poll(text, integer, integer, integer, integer, jsonb);
end;
$$;
