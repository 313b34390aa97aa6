-- A run driven with complete_tasks batches ends exactly like the same run driven with
-- complete_task one task at a time: run, step states, tasks, events, queue and archive. One flow
-- per path of complete_tasks (countdown, finishing, complete_task fallback). Event order is the
-- same where no batch finishes two independent steps of a run; otherwise only the interleaving
-- of those steps' events differs (all their completions come before what they start).
begin;
select plan(11);

-- finishing path: chain and diamond of single steps
select pgflow.create_flow('ctb_chain');
select pgflow.add_step('ctb_chain', 'a');
select pgflow.add_step('ctb_chain', 'b', array['a']);
select pgflow.add_step('ctb_chain', 'c', array['b']);
select pgflow.create_flow('ctb_diamond');
select pgflow.add_step('ctb_diamond', 'a');
select pgflow.add_step('ctb_diamond', 'b', array['a']);
select pgflow.add_step('ctb_diamond', 'c', array['a']);
select pgflow.add_step('ctb_diamond', 'd', array['b', 'c']);
select pgflow.add_step('ctb_diamond', 'e');

-- countdown + finishing: root map, a map fed by a single step, joins
select pgflow.create_flow('ctb_maps');
select pgflow.add_step('ctb_maps', 'm', step_type => 'map');
select pgflow.add_step('ctb_maps', 'src');
select pgflow.add_step('ctb_maps', 'm2', array['src'], step_type => 'map');
select pgflow.add_step('ctb_maps', 'j', array['m', 'm2']);

-- taskless cascade: an empty array from a single step makes its map child complete at once
select pgflow.create_flow('ctb_taskless');
select pgflow.add_step('ctb_taskless', 'src');
select pgflow.add_step('ctb_taskless', 'm', array['src'], step_type => 'map');
select pgflow.add_step('ctb_taskless', 'after', array['m']);

-- fallback: type violation, and a flow with conditions
select pgflow.create_flow('ctb_violation');
select pgflow.add_step('ctb_violation', 'src');
select pgflow.add_step('ctb_violation', 'm', array['src'], step_type => 'map');
select pgflow.create_flow('ctb_cond');
select pgflow.add_step('ctb_cond', 'a');
select pgflow.add_step('ctb_cond', 'yes', array['a'], required_input_pattern => '{"a": 0}');
select pgflow.add_step('ctb_cond', 'no', array['a'], required_input_pattern => '{"a": 1}');
select pgflow.add_step('ctb_cond', 'z', array['yes', 'no']);

select is(c.batched, c.one_by_one, 'chain of single steps')
from pgflow_tests.ctb_compare('ctb_chain', '{"x": 1}', '{}') as c;
select is(c.batched, c.one_by_one, 'diamond plus an independent root')
from pgflow_tests.ctb_compare('ctb_diamond', '{}', '{}') as c;
select is(c.batched, c.one_by_one, 'maps, countdown and finishing')
from pgflow_tests.ctb_compare('ctb_maps', '[1, 2, 3, 4, 5, 6, 7]', '{"src": [10, 20, 30]}') as c;
select is(c.batched, c.one_by_one, 'a single step of a map-only flow gets its input and finishes')
from pgflow_tests.ctb_compare('ctb_maps', '[]', '{"src": []}') as c;
select is(c.batched, c.one_by_one, 'taskless cascade after a set-based finish')
from pgflow_tests.ctb_compare('ctb_taskless', '{}', '{"src": []}') as c;
select is(c.batched, c.one_by_one, 'type violation goes through complete_task')
from pgflow_tests.ctb_compare('ctb_violation', '{}', '{"src": {"not": "an array"}}') as c;
select is(c.batched, c.one_by_one, 'conditions go through complete_task')
from pgflow_tests.ctb_compare('ctb_cond', '{}', '{}') as c;

select is(c.events_batched, c.events_one_by_one, 'chain: same events in the same order')
from pgflow_tests.ctb_compare('ctb_chain', '{}', '{}') as c;
select is(
    c.events_batched,
    array[
        'run:started', 'step:a:started', 'step:e:started', 'step:a:completed', 'step:e:completed',
        'step:b:started', 'step:c:started', 'step:b:completed', 'step:c:completed', 'step:d:started',
        'step:d:completed', 'run:completed'
    ],
    'diamond: completions of a batch, then the steps they start, run:completed last'
)
from pgflow_tests.ctb_compare('ctb_diamond', '{}', '{}') as c;
select is(
    (select c.batched -> 'run' ->> 'status' from pgflow_tests.ctb_compare('ctb_maps', '[1]', '{"src": [1]}') as c),
    'completed', 'the maps flow completes'
);
select is(
    (select c.batched -> 'run' ->> 'status' from pgflow_tests.ctb_compare('ctb_violation', '{}', '{"src": 1}') as c),
    'failed', 'the violation fails the run'
);

select * from finish();
rollback;
