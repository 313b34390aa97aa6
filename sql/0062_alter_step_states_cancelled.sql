-- Run control (beside the contract): a step state that pgflow.cancel_run ends (created or
-- started when its run was cancelled) becomes `cancelled`. The contract's statuses and the
-- constraint's name stay; status_is_valid is re-created with one more value.
alter table pgflow.step_states drop constraint status_is_valid;
alter table pgflow.step_states add constraint status_is_valid check (
    status in ('created', 'started', 'completed', 'failed', 'skipped', 'cancelled')
);
