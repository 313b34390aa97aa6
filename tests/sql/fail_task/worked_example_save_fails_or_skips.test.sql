-- spec §6.6: fetch -> items -> each (map) -> save, where save has max_attempts 2 and fails twice
begin;
select plan(14);

select pgflow.create_flow('ft_demo_fail');
select pgflow.add_step('ft_demo_fail', 'fetch');
select pgflow.add_step('ft_demo_fail', 'items', array['fetch']);
select pgflow.add_step('ft_demo_fail', 'each', array['items'], step_type => 'map');
select pgflow.add_step('ft_demo_fail', 'save', array['each'], max_attempts => 2);

select pgflow.create_flow('ft_demo_skip');
select pgflow.add_step('ft_demo_skip', 'fetch');
select pgflow.add_step('ft_demo_skip', 'items', array['fetch']);
select pgflow.add_step('ft_demo_skip', 'each', array['items'], step_type => 'map');
select pgflow.add_step('ft_demo_skip', 'save', array['each'], max_attempts => 2, when_exhausted => 'skip');

-- drives a run of either flow up to save's first attempt
create function pg_temp.run_until_save(flow text) returns uuid language plpgsql as $$
declare
    v_run uuid;
begin
    select r.run_id into v_run from pgflow.start_flow(flow, '{"url": "x"}') as r;
    perform pgflow_tests.read_and_start(flow, 30, 10);
    perform pgflow.complete_task(v_run, 'fetch', 0, '{"n": 3}');
    perform pgflow_tests.read_and_start(flow, 30, 10);
    perform pgflow.complete_task(v_run, 'items', 0, '["a", "b", "c"]');
    perform pgflow_tests.read_and_start(flow, 30, 10);
    perform pgflow.complete_task(v_run, 'each', 2, '"C"');
    perform pgflow.complete_task(v_run, 'each', 0, '"A"');
    perform pgflow.complete_task(v_run, 'each', 1, '"B"');
    perform pgflow_tests.read_and_start(flow, 30, 10);
    return v_run;
end;
$$;

-- when_exhausted fail (default)
select pg_temp.run_until_save('ft_demo_fail') as run_id \gset
select is(
    (select row(ss.status, ss.remaining_tasks)::text from pgflow.step_states as ss
     where ss.run_id = :'run_id' and ss.step_slug = 'save'),
    row('started', 1)::text,
    'save is running its first attempt'
);
select is(
    (select row(t.status, t.attempts_count)::text from pgflow.fail_task(:'run_id', 'save', 0, 'disk full') as t),
    row('queued', 1)::text,
    'first failure: queued again, attempts_count 1'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'save'), 10, 'message vt = now + floor(5 * 2^1) = 10 s (flow base_delay 5)');
select pgflow_tests.make_all_visible('ft_demo_fail');
select is(
    (select t.step_slug from pgflow_tests.read_and_start('ft_demo_fail', 30, 10) as t), 'save', 'second attempt started'
);
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'save', 0, 'disk full again') as t), 'failed', 'second failure: task failed'
);
select is(
    (select row(ss.status, ss.error_message)::text from pgflow.step_states as ss
     where ss.run_id = :'run_id' and ss.step_slug = 'save'),
    row('failed', 'disk full again')::text,
    'save failed'
);
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('failed', 1)::text,
    'run failed'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord)
     where e.event in ('step:save:failed', 'run:failed', 'run:completed')),
    array['step:save:failed', 'run:failed'],
    'step:save:failed then run:failed'
);

-- when_exhausted skip
select pg_temp.run_until_save('ft_demo_skip') as run2 \gset
select is(
    (select t.status from pgflow.fail_task(:'run2', 'save', 0, 'disk full') as t), 'queued', 'first failure retries'
);
select pgflow_tests.make_all_visible('ft_demo_skip');
select is(
    (select t.step_slug from pgflow_tests.read_and_start('ft_demo_skip', 30, 10) as t), 'save', 'second attempt started'
);
select is(
    (select t.status from pgflow.fail_task(:'run2', 'save', 0, 'disk full again') as t), 'failed', 'second failure: task failed'
);
select is(
    (select row(ss.status, ss.skip_reason, ss.error_message)::text from pgflow.step_states as ss
     where ss.run_id = :'run2' and ss.step_slug = 'save'),
    row('skipped', 'handler_failed', 'disk full again')::text,
    'save skipped with handler_failed'
);
select is(
    (select row(r.status, r.remaining_steps, r.output)::text from pgflow.runs as r where r.run_id = :'run2'),
    row('completed', 0, null::jsonb)::text,
    'remaining_steps 0: the run completes with output NULL (no completed leaf)'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run2') with ordinality as e (event, payload, ord)
     where e.event in ('step:save:skipped', 'run:failed', 'run:completed')),
    array['step:save:skipped', 'run:completed'],
    'step:save:skipped then run:completed'
);

select * from finish();
rollback;
