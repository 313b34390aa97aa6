-- pgflow_testing.run_to_completion drives a run to its end from a JSON object of outputs: plain
-- values, per-element arrays for map steps, {"$function": ...} and {"$error": ...}; bad outputs are
-- refused with an error that names the step.
begin;
select plan(13);

select pgflow.create_flow('pt_rtc', max_attempts => 3);
select pgflow.add_step('pt_rtc', 'fetch');
select pgflow.add_step('pt_rtc', 'double', deps_slugs => array['fetch'], step_type => 'map');
select pgflow.add_step('pt_rtc', 'label', deps_slugs => array['fetch']);
select pgflow.add_step('pt_rtc', 'report', deps_slugs => array['double', 'label']);

create schema pt_rtc_fns;
create function pt_rtc_fns.double(element jsonb) returns jsonb language sql
as $$ select to_jsonb(element::int * 2) $$;
create function pt_rtc_fns.describe(deps jsonb) returns jsonb language sql
as $$ select to_jsonb(format('%s doubled, %s', deps -> 'double', deps ->> 'label')) $$;

select is(
    (select row(r.status, r.output)::text from pgflow_testing.run_to_completion(
        'pt_rtc', '{"source": "x"}',
        '{"fetch": [1, 2, 3], "double": [10, 20, 30], "label": "three", "report": "done"}'
    ) as r),
    row('completed', '{"report": "done"}'::jsonb)::text,
    'plain outputs: the run completes with the leaf output'
);
select is(
    (select r.output from pgflow_testing.run_to_completion(
        'pt_rtc', '{}',
        '{"fetch": [1, 2, 3], "double": {"$function": "pt_rtc_fns.double"}, "label": "three",
          "report": {"$function": "pt_rtc_fns.describe"}}'
    ) as r),
    '{"report": "[2, 4, 6] doubled, three"}'::jsonb,
    '$function computes a map element''s output from the element, a dependent step''s from its deps'
);
select run_id as rid from pgflow_testing.run_to_completion(
    'pt_rtc', '{}', '{"fetch": [5], "double": [50], "label": {"$error": "no label"}, "report": "x"}'
) \gset
select is(
    (select row(r.status, ss.status, ss.error_message, st.attempts_count)::text
     from pgflow.runs as r
     join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = 'label'
     join pgflow.step_tasks as st on st.run_id = r.run_id and st.step_slug = 'label'
     where r.run_id = :'rid'),
    row('failed', 'failed', 'no label', 3)::text,
    '$error fails every attempt (back-off skipped): step and run failed after 3 attempts'
);
select is(
    (select r.status from pgflow_testing.run_to_completion(
        'pt_rtc', '{}', '{"fetch": [], "label": "none", "report": "empty"}'
    ) as r),
    'completed',
    'an empty map has no task and needs no entry'
);

select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '{"fetch": [1, 2], "double": [1], "label": "l",
       "report": "r"}') $$,
    '22023', 'pgflow_testing.run_to_completion: map step "double" has 2 elements: its outputs entry must be an '
    'array of 2 outputs (or {"$function": ...}, {"$error": ...}), got [1]',
    'a map step''s array must have one output per element'
);
select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '{"fetch": [1], "double": 7, "label": "l",
       "report": "r"}') $$,
    '22023', 'pgflow_testing.run_to_completion: map step "double" has 1 elements: its outputs entry must be an '
    'array of 1 outputs (or {"$function": ...}, {"$error": ...}), got 7',
    'a map step given a plain value is refused'
);
select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '{"fetch": [1], "double": [2]}') $$,
    '22023', 'pgflow_testing.run_to_completion: outputs has no entry for step "label" of flow "pt_rtc"',
    'a step reached without an entry is named'
);
select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '{"fetch": [1], "fetsh": 1, "zzz": 2}') $$,
    '22023', 'pgflow_testing.run_to_completion: outputs names steps that flow "pt_rtc" does not have: "fetsh", "zzz"',
    'misspelt step slugs are refused before the run starts'
);
select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '[1]') $$,
    '22023', 'pgflow_testing.run_to_completion: outputs must be a JSON object keyed by step slug, got array',
    'outputs must be an object'
);
select throws_ok(
    $$ select pgflow_testing.run_to_completion('pt_rtc', '{}', '{"fetch": {"$function": "pt_rtc_fns.nope"}}') $$,
    '42883', 'pgflow_testing.run_to_completion: step "fetch": no function pt_rtc_fns.nope(jsonb)',
    'a missing $function is named'
);
select is(
    (select count(*)::int from pgflow.runs as r where r.flow_slug = 'pt_rtc'),
    4,
    'the refused calls left no run behind (each error rolled its run back)'
);

-- a root map over the run input, outputs computed per element
select pgflow.create_flow('pt_rtc_root_map');
select pgflow.add_step('pt_rtc_root_map', 'each', step_type => 'map');
select is(
    (select r.output from pgflow_testing.run_to_completion(
        'pt_rtc_root_map', '[1, 2]', '{"each": {"$function": "pt_rtc_fns.double"}}'
    ) as r),
    '{"each": [2, 4]}'::jsonb,
    'a root map step gets the elements of the run input'
);
select is(
    (select r.output from pgflow_testing.run_to_completion('pt_rtc_root_map', '[]') as r),
    '{"each": []}'::jsonb,
    'outputs defaults to {}: enough for a run with no task'
);

select * from finish();
rollback;
