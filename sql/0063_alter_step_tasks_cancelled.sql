-- Run control (beside the contract): a task that pgflow.cancel_run ends (queued or started when
-- its run was cancelled) becomes `cancelled`. The contract's statuses and the constraint's name
-- stay; valid_status is re-created with one more value.
alter table pgflow.step_tasks drop constraint valid_status;
alter table pgflow.step_tasks add constraint valid_status check (
    status in ('queued', 'started', 'completed', 'failed', 'cancelled')
);
