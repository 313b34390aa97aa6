-- An example of testing a flow in SQL with the optional pgflow_testing helpers. It runs under
-- `supabase test db` (supabase/seed.sql installs the helpers after the migrations) and under this
-- repository's pytest (tests/integration/sql/test_supabase_tests.py).
begin;
create extension if not exists pgtap with schema extensions;
select plan(9);

-- The flow under test. In your project it is already in the database (compiled by a migration:
-- `pgflow compile flows:signup --migrations-dir supabase/migrations`); here it is created in the
-- test's transaction, which the final rollback undoes.
select pgflow.create_flow('example_signup', max_attempts => 2);
select pgflow.add_step('example_signup', 'create_user');
select pgflow.add_step('example_signup', 'emails', deps_slugs => array['create_user'], step_type => 'map');
select pgflow.add_step('example_signup', 'summary', deps_slugs => array['emails']);

-- 1. A whole run from canned outputs: one value per single step, one per element for a map step.
select is(
    (select r.status from pgflow_testing.run_to_completion(
        'example_signup',
        '{"email": "ada@example.com"}',
        '{"create_user": ["welcome", "tips"], "emails": ["sent welcome", "sent tips"], "summary": "2 sent"}'
    ) as r),
    'completed',
    'a signup run completes'
);
select is(
    (select ss.output from pgflow.step_states as ss
     join pgflow.runs as r on r.run_id = ss.run_id
     where r.flow_slug = 'example_signup' and ss.step_slug = 'emails'),
    '["sent welcome", "sent tips"]'::jsonb,
    'the map step collected one output per email'
);

-- 2. Step by step, checking the state between tasks; a failure and its retry.
select pgflow.start_flow('example_signup', '{"email": "grace@example.com"}');
select is(
    (select t.step_slug from pgflow_testing.complete_next('example_signup', '["welcome"]') as t),
    'create_user',
    'the root step runs first'
);
select is(
    (select t.status from pgflow_testing.fail_next('example_signup', 'SMTP timeout', step_slug => 'emails') as t),
    'queued',
    'a failed email is queued for a retry'
);
select is(
    (select t.attempts_count from pgflow_testing.complete_next('example_signup', '"sent welcome"') as t),
    2,
    'and its retry succeeds, back-off skipped'
);
select is(
    (select r.status from pgflow.runs as r where r.flow_slug = 'example_signup' and r.status = 'started'),
    'started',
    'the run waits for its summary'
);
select is(
    (select t.step_slug from pgflow_testing.complete_next('example_signup', '"1 sent"') as t),
    'summary',
    'the summary runs last'
);
select is(
    (select count(*)::int from pgflow.runs as r where r.flow_slug = 'example_signup' and r.status = 'completed'),
    2,
    'both runs completed'
);

-- 3. A step that keeps failing fails the run.
select is(
    (select r.status from pgflow_testing.run_to_completion(
        'example_signup', '{"email": "x@example.com"}', '{"create_user": {"$error": "duplicate email"}}'
    ) as r),
    'failed',
    'a signup whose user cannot be created fails'
);

select * from finish();
rollback;
