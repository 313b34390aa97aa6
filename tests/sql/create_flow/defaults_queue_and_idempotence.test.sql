begin;
select plan(9);

select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout) from pgflow.create_flow('cf_defaults') as f),
    row(3, 5, 60),
    'NULL options become 3 attempts, 5 s base delay, 60 s timeout'
);
select ok(
    exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'cf_defaults'),
    'create_flow creates a pgmq queue named like the flow'
);
select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)
     from pgflow.create_flow('cf_defaults', max_attempts => 9, base_delay => 9, timeout => 9) as f),
    row(3, 5, 60),
    'calling it again returns the existing row and does not update options'
);
select is((select count(*)::int from pgflow.flows where flow_slug = 'cf_defaults'), 1, 'still one flow row');
select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)
     from pgflow.create_flow('cf_opts', max_attempts => 7, base_delay => 2, timeout => 30) as f),
    row(7, 2, 30),
    'explicit options are stored'
);
select throws_ok(
    $$ select pgflow.create_flow('1bad') $$,
    '23514',
    'new row for relation "flows" violates check constraint "slug_is_valid"',
    'an invalid slug violates slug_is_valid'
);
select throws_ok(
    $$ select pgflow.create_flow('run') $$,
    '23514',
    'new row for relation "flows" violates check constraint "slug_is_valid"',
    'the reserved slug run is refused'
);
select ok(pgflow.is_valid_slug('_a1'), 'underscore-first slugs are valid');
select ok(not pgflow.is_valid_slug(repeat('a', 129)), 'slugs over 128 characters are invalid');

select * from finish();
rollback;
