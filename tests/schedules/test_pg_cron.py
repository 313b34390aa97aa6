"""The pg_cron paths against the real pg_cron (Debian's postgresql-15-cron, 1.4), not the stand-in
cron schema of the pgTAP database: each setup_*_cron function (re)schedules its job, once, and
pg_cron really runs the commands. pg_cron 1.4 runs jobs at minute boundaries, so one test waits
(at most about a minute, on cron.job_run_details with a deadline, no sleeps) for the jobs it set
up to run. And on a server without pg_cron, setup_schedules_cron says what is missing.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from pgflow import queries
from tests.support.waiting import wait_until

LAST_JOB_RUN = """
select d.status, d.return_message
from cron.job_run_details as d
inner join cron.job as j on j.jobid = d.jobid
where j.jobname = %(jobname)s and d.status in ('succeeded', 'failed')
order by d.runid desc
limit 1
"""


def _jobs(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("select jobname, schedule from cron.job where jobname like 'pgflow%%'").fetchall())


def test_setup_functions_schedule_one_job_each_in_pg_cron(pg_cron_dsn: str) -> None:
    with psycopg.connect(pg_cron_dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from pg_extension where extname = 'pg_cron'").fetchone() == (1,)
        text = conn.execute("select pgflow.setup_requeue_stalled_tasks_cron('*/2 * * * *')").fetchone()
        assert text is not None
        assert text[0].startswith("Scheduled pgflow_requeue_stalled_tasks (every */2 * * * *, job_id=")
        text = conn.execute("select pgflow.setup_ensure_workers_cron('*/3 * * * *')").fetchone()
        assert text is not None and text[0].startswith("Scheduled pgflow_ensure_workers (every */3 * * * *, job_id=")
        assert _jobs(conn) == {
            "pgflow_requeue_stalled_tasks": "*/2 * * * *",
            "pgflow_ensure_workers": "*/3 * * * *",
            "pgflow_cleanup_logs": "0 * * * *",
        }
        # pg_cron's own error for an interval it does not know (1.4: no `N seconds`) comes through
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid schedule: 15 seconds"):
            conn.execute("select pgflow.setup_requeue_stalled_tasks_cron('15 seconds')")
        conn.execute("select pgflow.setup_requeue_stalled_tasks_cron('* * * * *')")
        conn.execute("select pgflow.setup_ensure_workers_cron('* * * * *')")


def test_pg_cron_runs_the_tick_and_the_stall_sweep(pg_cron_dsn: str) -> None:
    with psycopg.connect(pg_cron_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('cron_flow')")
        conn.execute("select pgflow.add_step('cron_flow', 'only')")
        # due already: its first time is the current minute
        conn.execute(
            "select pgflow.create_schedule('cron_sched', 'cron_flow', '* * * * *', start_after => now() - %s)",
            (timedelta(minutes=1),),
        )
        text = conn.execute(queries.SETUP_SCHEDULES_CRON).fetchone()
        job = conn.execute(
            "select jobid, schedule, command from cron.job where jobname = 'pgflow_tick_schedules'"
        ).fetchone()
        assert job is not None and text == (f"Scheduled pgflow_tick_schedules (every minute, job_id={job[0]})",)
        assert job[1:] == ("* * * * *", "select pgflow.tick_schedules()")
        assert conn.execute(queries.SETUP_SCHEDULES_CRON).fetchone() is not None  # idempotent
        assert conn.execute("select count(*) from cron.job where jobname = 'pgflow_tick_schedules'").fetchone() == (1,)

        # pg_cron fires at the next minute boundary
        tick = wait_until(
            "pg_cron to run pgflow.tick_schedules()",
            lambda: conn.execute(LAST_JOB_RUN, {"jobname": "pgflow_tick_schedules"}).fetchone(),
            timeout=90,
        )
        assert tick[0] == "succeeded", tick
        run = wait_until(
            "the scheduled run",
            lambda: conn.execute(
                "select r.flow_slug, r.input ? 'scheduled_for' from pgflow.schedule_runs as sr "
                "inner join pgflow.runs as r on r.run_id = sr.run_id where sr.schedule_slug = 'cron_sched'"
            ).fetchone(),
            timeout=30,
        )
        assert run == ("cron_flow", True)
        sweep = wait_until(
            "pg_cron to run pgflow.requeue_stalled_tasks()",
            lambda: conn.execute(LAST_JOB_RUN, {"jobname": "pgflow_requeue_stalled_tasks"}).fetchone(),
            timeout=90,
        )
        assert sweep[0] == "succeeded", sweep
        conn.execute("select cron.unschedule('pgflow_tick_schedules')")
        conn.execute("select pgflow.delete_schedule('cron_sched')")


def test_setup_schedules_cron_without_pg_cron_says_what_is_missing(conn: psycopg.Connection) -> None:
    missing = r"^pg_cron is not installed: pgflow.setup_schedules_cron\(\)"
    with pytest.raises(psycopg.errors.RaiseException, match=missing):
        conn.execute(queries.SETUP_SCHEDULES_CRON)
