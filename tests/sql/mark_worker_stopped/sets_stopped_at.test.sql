begin;
select plan(4);

insert into pgflow.workers (worker_id, queue_name, function_name)
values ('aaaaaaaa-0000-0000-0000-000000000001', 'mws_q', 'mws_fn'),
    ('aaaaaaaa-0000-0000-0000-000000000002', 'mws_q', 'mws_fn');

select pgflow.mark_worker_stopped(worker_id => 'aaaaaaaa-0000-0000-0000-000000000001');

select ok(
    (select w.stopped_at >= now() from pgflow.workers as w where w.worker_id = 'aaaaaaaa-0000-0000-0000-000000000001'),
    'stopped_at is set to the wall clock'
);
select is(
    (select w.stopped_at from pgflow.workers as w where w.worker_id = 'aaaaaaaa-0000-0000-0000-000000000002'),
    null,
    'other workers are untouched'
);
select is(
    (select w.deprecated_at from pgflow.workers as w where w.worker_id = 'aaaaaaaa-0000-0000-0000-000000000001'),
    null,
    'deprecated_at is not the same thing and stays NULL'
);
select lives_ok(
    $$ select pgflow.mark_worker_stopped('aaaaaaaa-0000-0000-0000-00000000ffff') $$,
    'an unknown worker is not an error'
);

select * from finish();
rollback;
