"""Long commands show progress on stderr and keep stdout for their result: `pgflow migrate` (each
migration as it is applied, with its time; `--with-testing` installs pgflow_testing) and
`pgflow start --wait` (each step as it finishes, then the run's end)."""

from __future__ import annotations

import json
import re
import uuid

import psycopg

from pgflow import migrator
from tests.support.cli import run_cli, start_cli


def test_migrate_reports_each_migration_with_its_time_on_stderr(empty_db_dsn: str) -> None:
    out = run_cli("migrate", "--dsn", empty_db_dsn)
    assert out.returncode == 0, out.stderr
    shipped = migrator.load_migrations()
    assert out.stdout == f"applied {len(shipped)} migration(s)\n"  # stdout: the outcome only
    applied = re.findall(r"^applied (\d{14}_\w+) in (\d+\.\d\d) s$", out.stderr, re.M)
    assert [name for name, _ in applied] == [f"{m.version}_{m.name}" for m in shipped]
    starting = re.findall(r"^applying (\d{14}_\w+) \.\.\.$", out.stderr, re.M)
    assert starting == [name for name, _ in applied]  # each announced before it is applied
    with psycopg.connect(empty_db_dsn) as conn:
        assert conn.execute("select to_regnamespace('pgflow_testing') is null").fetchone() == (True,)


def test_migrate_with_testing_installs_the_sql_helpers_and_can_run_again(empty_db_dsn: str) -> None:
    for _ in range(2):  # the optional script is idempotent: an upgrade applies it again
        out = run_cli("migrate", "--with-testing", "--dsn", empty_db_dsn)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == "installed pgflow_testing"
        assert re.search(r"^installed pgflow_testing in \d+\.\d\d s$", out.stderr, re.M)
    with psycopg.connect(empty_db_dsn) as conn:
        names = {r[0] for r in conn.execute(
            "select p.proname from pg_proc as p where p.pronamespace = 'pgflow_testing'::regnamespace"
        )}
    assert {"complete_next", "fail_next", "run_to_completion"} <= names


def test_start_wait_prints_each_step_as_it_finishes_on_stderr(db_dsn: str) -> None:
    migrator.install_optional(db_dsn, "pgflow_testing")
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('prog_flow', max_attempts => 2)")
        conn.execute("select pgflow.add_step('prog_flow', 'fetch')")
        conn.execute("select pgflow.add_step('prog_flow', 'each', deps_slugs => array['fetch'], step_type => 'map')")
        conn.execute("select pgflow.add_step('prog_flow', 'report', deps_slugs => array['each'])")
    proc = start_cli("start", "prog_flow", "--input", "{}", "--wait", "--timeout", "60", "--dsn", db_dsn)
    try:
        assert proc.stdout is not None
        run_id = uuid.UUID(proc.stdout.readline().strip())
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            def complete(output: object) -> None:
                conn.execute("select pgflow_testing.complete_next('prog_flow', %s::jsonb)", (json.dumps(output),))

            complete([1, 2])
            conn.execute("select pgflow_testing.fail_next('prog_flow', 'flaky')")  # a retry is not a finish
            complete("a")
            complete("b")
            complete({"done": 2})
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("status: completed\noutput: ")  # stdout unchanged: the result only
    steps = re.findall(r"^\s+\+\d+\.\d{3}s\s+(step \w+|run)\s+(\w+)\s*(.*)$", err, re.M)
    assert steps == [
        ("step fetch", "completed", "-> [1,2]"),
        ("step each", "completed", '-> ["b","a"]'),
        ("step report", "completed", '-> {"done":2}'),
        ("run", "completed", ""),
    ], err
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("completed",)


def test_start_wait_reports_a_failed_step_and_steps_finished_before_it_listened(db_dsn: str) -> None:
    migrator.install_optional(db_dsn, "pgflow_testing")
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('prog_fail', max_attempts => 1)")
        conn.execute("select pgflow.add_step('prog_fail', 'first')")
        conn.execute("select pgflow.add_step('prog_fail', 'second', deps_slugs => array['first'])")
    proc = start_cli("start", "prog_fail", "--input", "{}", "--wait", "--timeout", "60", "--dsn", db_dsn)
    try:
        assert proc.stdout is not None
        uuid.UUID(proc.stdout.readline().strip())
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            conn.execute("select pgflow_testing.complete_next('prog_fail', '1')")
            conn.execute("select pgflow_testing.fail_next('prog_fail', 'disk full')")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert out == "status: failed\nfailed step second: disk full\n"
    lines = re.findall(r"^\s+\+\d+\.\d{3}s\s+(step \w+|run)\s+(\w+)\s*(.*)$", err, re.M)
    assert lines == [("step first", "completed", "-> 1"), ("step second", "failed", "disk full"), ("run", "failed", "")]


def test_start_wait_on_a_run_that_ends_at_once_still_lists_its_steps(db_dsn: str) -> None:
    """A run with no task (a root map over an empty input) ends inside start_flow: its events
    come before the wait begins reading; the steps are reported all the same."""
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('prog_empty')")
        conn.execute("select pgflow.add_step('prog_empty', 'each', step_type => 'map')")
    out = run_cli("start", "prog_empty", "--input", "[]", "--wait", "--dsn", db_dsn)
    assert out.returncode == 0, out.stderr
    lines = re.findall(r"^\s+\+\d+\.\d{3}s\s+(step \w+|run)\s+(\w+)\s*(.*)$", out.stderr, re.M)
    assert lines == [("step each", "completed", "-> []"), ("run", "completed", "")]
