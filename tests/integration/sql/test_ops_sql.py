"""Ops SQL on plain PostgreSQL (no Supabase stand-ins): the optional integrations fail with an
error that names what is missing, ensure_flow_compiled compiles a new flow exactly once when
workers start together, and a task whose worker died is requeued once and completed once.

Every test gets its own migrated database (`db_dsn`/`conn` from tests/conftest.py). Nothing
sleeps for correctness: waits poll a condition (pg_stat_activity, a NOTIFY) against a deadline.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support.sql import insert_worker, read_and_start
from tests.support.waiting import wait_until

WORKER_A = uuid.UUID("aaaaaaaa-0000-0000-0000-00000000000a")
WORKER_B = uuid.UUID("bbbbbbbb-0000-0000-0000-00000000000b")
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # the Supabase CLI's


# ------------------------------------------------------------------------------------------
# Install and the optional integrations
# ------------------------------------------------------------------------------------------


def test_plain_install_has_the_ops_functions_and_no_cron_jobs(conn: psycopg.Connection) -> None:
    names = {
        r[0]
        for r in conn.execute(
            "select p.oid::regprocedure::text from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace"
        )
    }
    for sig in (
        "pgflow.is_local()",
        "pgflow.track_worker_function(text)",
        "pgflow.mark_worker_stopped(uuid)",
        "pgflow.ensure_workers()",
        "pgflow.cleanup_ensure_workers_logs(integer)",
        "pgflow.setup_ensure_workers_cron(text)",
        "pgflow.setup_requeue_stalled_tasks_cron(text)",
        "pgflow.requeue_stalled_tasks()",
        "pgflow._get_flow_shape(text)",
        "pgflow._compare_flow_shapes(jsonb,jsonb)",
        "pgflow._create_flow_from_shape(text,jsonb)",
        "pgflow.ensure_flow_compiled(text,jsonb,boolean)",
        "pgflow.delete_flow_and_data(text)",
    ):
        assert sig in names, sig
    assert conn.execute("select to_regnamespace('cron')").fetchone() == (None,), "plain test DB must not have cron"
    # the calls that work without any integration
    assert conn.execute("select pgflow.is_local()").fetchone() == (False,)
    assert conn.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (0,)
    conn.execute("select pgflow.track_worker_function('fn')")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "select pgflow.setup_requeue_stalled_tasks_cron()",
            "pg_cron is not installed: pgflow.setup_requeue_stalled_tasks_cron() needs the cron schema "
            "(Supabase, or CREATE EXTENSION pg_cron)",
        ),
        (
            "select pgflow.setup_ensure_workers_cron('1 second')",
            "pg_cron is not installed: pgflow.setup_ensure_workers_cron() needs the cron schema "
            "(Supabase, or CREATE EXTENSION pg_cron)",
        ),
        (
            "select * from pgflow.cleanup_ensure_workers_logs()",
            "pg_cron is not installed: pgflow.cleanup_ensure_workers_logs() needs the cron schema "
            "(Supabase, or CREATE EXTENSION pg_cron)",
        ),
        (
            "select * from pgflow.ensure_workers()",
            "pg_net is not installed: pgflow.ensure_workers() needs net.http_post "
            "(Supabase, or CREATE EXTENSION pg_net)",
        ),
    ],
    ids=["setup_requeue_stalled_tasks_cron", "setup_ensure_workers_cron", "cleanup_ensure_workers_logs",
         "ensure_workers"],
)
def test_missing_integration_is_named(conn: psycopg.Connection, call: str, message: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as exc:
        conn.execute(call)
    assert exc.value.diag.message_primary == message


def test_ensure_workers_without_vault_names_vault(conn: psycopg.Connection) -> None:
    # pg_net present (a minimal stand-in), vault absent, production mode
    conn.execute(
        """
        create schema net;
        create function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
            headers jsonb default '{}', timeout_milliseconds int default 5000)
        returns bigint language sql as $$ select 1::bigint $$;
        """
    )
    with pytest.raises(psycopg.errors.RaiseException, match=r"^supabase_vault is not installed: "):
        conn.execute("select * from pgflow.ensure_workers()")
    # local mode needs no credentials, hence no vault
    with conn.transaction():
        conn.execute("select set_config('app.settings.jwt_secret', %s, true)", (LOCAL_JWT_SECRET,))
        conn.execute("select pgflow.track_worker_function('fn')")
        rows = conn.execute("select function_name, invoked, request_id from pgflow.ensure_workers()").fetchall()
    assert rows == [("fn", True, 1)]


# ------------------------------------------------------------------------------------------
# ensure_flow_compiled: workers starting together
# ------------------------------------------------------------------------------------------

SHAPE: dict[str, Any] = {
    "steps": [
        {"slug": "fetch", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": False}, "forbiddenInputPattern": {"defined": False}},
        {"slug": "each", "stepType": "map", "dependencies": ["fetch"], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": False}, "forbiddenInputPattern": {"defined": False}},
        {"slug": "save", "stepType": "single", "dependencies": ["each", "fetch"], "whenUnmet": "skip",
         "whenExhausted": "fail", "requiredInputPattern": {"defined": False},
         "forbiddenInputPattern": {"defined": False}, "options": {"timeout": 5}},
    ],
    "options": {"maxAttempts": 2},
}


def test_concurrent_ensure_flow_compiled_compiles_once(db_dsn: str) -> None:
    """Two workers start at once for a flow the database does not know. The first to take the
    advisory lock compiles it and keeps its transaction open until the other is seen waiting on
    that lock (pg_stat_activity), so the two calls certainly overlap; the second then verifies."""
    barrier = threading.Barrier(2)
    release = threading.Event()
    results: dict[str, Any] = {}
    pids: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with psycopg.connect(db_dsn) as c:  # one transaction, committed at the end of the block
                pids[name] = c.info.backend_pid
                barrier.wait(timeout=20)
                row = c.execute(
                    "select pgflow.ensure_flow_compiled(flow_slug => %s, shape => %s)", ("race_flow", Jsonb(SHAPE))
                ).fetchone()
                assert row is not None
                results[name] = row[0]
                if row[0]["status"] == "compiled":
                    # hold the lock (and the uncommitted flow) until the other session waits on it
                    assert release.wait(timeout=20), "the other session never waited on the advisory lock"
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)
            release.set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()

    with psycopg.connect(db_dsn, autocommit=True) as observer:
        wait_until("both sessions connected", lambda: len(pids) == 2)

        def one_waits_on_advisory_lock() -> bool:
            row = observer.execute(
                "select count(*) from pg_stat_activity"
                " where pid = any(%s) and wait_event_type = 'Lock' and wait_event = 'advisory'",
                (list(pids.values()),),
            ).fetchone()
            return row is not None and row[0] == 1

        wait_until("one session waiting on the advisory lock", lambda: one_waits_on_advisory_lock() or errors)
        release.set()
        for t in threads:
            t.join(timeout=30)
        if errors:
            raise errors[0]

        assert sorted(r["status"] for r in results.values()) == ["compiled", "verified"]
        assert all(r["differences"] == [] for r in results.values())
        shape = observer.execute("select pgflow._get_flow_shape('race_flow')").fetchone()
        assert shape is not None
        expected = {"steps": [{k: v for k, v in s.items() if k != "options"} for s in SHAPE["steps"]]}
        assert shape[0] == expected
        counts = observer.execute(
            "select (select count(*) from pgflow.flows where flow_slug = 'race_flow'),"
            " (select count(*) from pgflow.steps where flow_slug = 'race_flow'),"
            " (select count(*) from pgflow.deps where flow_slug = 'race_flow'),"
            " (select count(*) from pgmq.list_queues() where queue_name = 'race_flow')"
        ).fetchone()
        assert counts == (1, 3, 3, 1)


def test_mismatch_then_recompile_with_allow_data_loss(conn: psycopg.Connection) -> None:
    assert conn.execute("select pgflow.ensure_flow_compiled('shape_flow', %s)", (Jsonb(SHAPE),)).fetchone() == (
        {"status": "compiled", "differences": []},
    )
    changed = json.loads(json.dumps(SHAPE))
    changed["steps"][2]["dependencies"] = ["each"]
    row = conn.execute("select pgflow.ensure_flow_compiled('shape_flow', %s)", (Jsonb(changed),)).fetchone()
    assert row == (
        {"status": "mismatch", "differences": ["Step at index 2: dependencies differ [each] vs [each, fetch]"]},
    )
    row = conn.execute(
        "select pgflow.ensure_flow_compiled('shape_flow', %s, allow_data_loss => true)", (Jsonb(changed),)
    ).fetchone()
    assert row is not None and row[0]["status"] == "recompiled"
    assert conn.execute(
        "select pgflow.ensure_flow_compiled('shape_flow', %s)", (Jsonb(changed),)
    ).fetchone() == ({"status": "verified", "differences": []},)


# ------------------------------------------------------------------------------------------
# A worker dies mid-task
# ------------------------------------------------------------------------------------------


def test_task_of_dead_worker_is_requeued_once_and_completed_once(db_dsn: str, conn: psycopg.Connection) -> None:
    conn.execute("select pgflow.create_flow('stall_flow')")
    conn.execute("select pgflow.add_step('stall_flow', 'work', timeout => 10)")
    for w in (WORKER_A, WORKER_B):
        insert_worker(conn, "stall_flow", w)
    row = conn.execute("select run_id from pgflow.start_flow('stall_flow', '{\"n\": 1}')").fetchone()
    assert row is not None
    run_id = row[0]

    # worker A takes the task (its message is now hidden for 300 s) and dies
    started = read_and_start(conn, "stall_flow", WORKER_A, qty=10, vt=300)
    assert [(s["step_slug"], s["task_index"]) for s in started] == [("work", 0)]
    msg_id = started[0]["msg_id"]
    assert read_and_start(conn, "stall_flow", WORKER_B, qty=10, vt=300) == [], "a started task's message is not visible"

    with psycopg.connect(db_dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        listener.execute("listen pgflow")

        assert conn.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (0,), "not stalled yet"
        # time is injected: the task started 91 s ago (the flow's timeout 60 s + 30 s; the
        # step's own 10 s timeout does not count for stall detection)
        conn.execute(
            "update pgflow.step_tasks set queued_at = now() - interval '2 minutes',"
            " started_at = now() - interval '91 seconds' where run_id = %s",
            (run_id,),
        )
        assert conn.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (1,)
        assert conn.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (0,), "requeued once only"

        notes = list(listener.notifies(timeout=10, stop_after=1))
        assert [(n.channel, n.payload) for n in notes] == [("pgflow_tasks", "stall_flow")], "workers are woken"

        task = conn.execute(
            "select status, requeued_count, last_worker_id, attempts_count from pgflow.step_tasks where run_id = %s",
            (run_id,),
        ).fetchone()
        assert task == ("queued", 1, None, 1)

        # the dead worker's late completion of a requeued task changes nothing
        conn.execute("select pgflow.complete_task(%s, 'work', 0, '{\"by\": \"A\"}')", (run_id,))
        assert conn.execute("select status from pgflow.step_tasks where run_id = %s", (run_id,)).fetchone() == (
            "queued",
        )

        # worker B gets the same message at once and completes the task
        started = read_and_start(conn, "stall_flow", WORKER_B, qty=10, vt=300)
        assert [(s["step_slug"], s["task_index"], s["msg_id"]) for s in started] == [("work", 0, msg_id)]
        conn.execute("select pgflow.complete_task(%s, 'work', 0, '{\"by\": \"B\"}')", (run_id,))
        # ... and a duplicate completion from A arrives after that
        conn.execute("select pgflow.complete_task(%s, 'work', 0, '{\"by\": \"A\"}')", (run_id,))

        task = conn.execute(
            "select status, output, attempts_count, last_worker_id from pgflow.step_tasks where run_id = %s", (run_id,)
        ).fetchone()
        assert task == ("completed", {"by": "B"}, 2, WORKER_B)
        run = conn.execute("select status, output, remaining_steps from pgflow.runs where run_id = %s",
                           (run_id,)).fetchone()
        assert run == ("completed", {"work": {"by": "B"}}, 0)
        assert conn.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (0,)

        events = [json.loads(n.payload) for n in listener.notifies(timeout=0.5) if n.channel == "pgflow"]
        completed = [e["event"] for e in events if e["event"] in ("step:work:completed", "run:completed")]
        assert completed == ["step:work:completed", "run:completed"], "completed exactly once"
