begin;
select plan(7);

select pgflow.track_worker_function('twf_fn');

select is(
    (select row(wf.enabled, wf.debounce, wf.last_invoked_at) from pgflow.worker_functions as wf
     where wf.function_name = 'twf_fn'),
    row(true, '6 seconds'::interval, null::timestamptz),
    'a new function is enabled, debounced 6 s and never invoked'
);
select ok(
    (select wf.updated_at >= wf.created_at from pgflow.worker_functions as wf where wf.function_name = 'twf_fn'),
    'updated_at is not before created_at'
);

-- an operator tunes the row; tracking again must not undo that
update pgflow.worker_functions
set enabled = false, debounce = '30 seconds', last_invoked_at = now() - interval '1 minute',
    updated_at = now()
where function_name = 'twf_fn';
select pgflow.track_worker_function('twf_fn');

select is((select count(*)::int from pgflow.worker_functions where function_name = 'twf_fn'), 1, 'still one row');
select is(
    (select row(wf.enabled, wf.debounce, wf.last_invoked_at) from pgflow.worker_functions as wf
     where wf.function_name = 'twf_fn'),
    row(false, '30 seconds'::interval, now() - interval '1 minute'),
    'tracking a known function keeps enabled, debounce and last_invoked_at'
);
select ok(
    (select wf.updated_at > wf.created_at from pgflow.worker_functions as wf where wf.function_name = 'twf_fn'),
    'updated_at moves past created_at inside one transaction (clock_timestamp)'
);

select lives_ok($$ select pgflow.track_worker_function(function_name => 'twf_named') $$, 'callable by name');
select is(
    (select pg_typeof(pgflow.track_worker_function('twf_named'))::text), 'void', 'returns void'
);

select * from finish();
rollback;
