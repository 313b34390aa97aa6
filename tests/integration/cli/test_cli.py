"""The `pgflow` command line, run as a subprocess (`python -m pgflow ...`) like a user runs it."""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow.cli.commands import COMMANDS
from pgflow.examples.article_digest import flow as digest_flow
from tests.support.cli import run_cli as pgflow
from tests.support.cli import start_cli
from tests.support.sql import complete_task, fail_task, insert_worker, read_and_start

# Every command the README and the top-level help document; the help tests below run over the
# parser's registry, so a command added there is covered without editing this file.
DOCUMENTED = ("migrate", "compile", "worker", "start", "status", "inspect", "runs", "maintain", "ui", "demo")


FLOWS_PY = textwrap.dedent('''
    from pgflow.dsl import Flow

    greet = Flow("cli_greet", max_attempts=1)

    @greet.step("full_name")
    def full_name(run):
        return f"{run['first']} {run['last']}"

    @greet.step("greeting", depends_on=["full_name"])
    def greeting(deps):
        return f"Hello, {deps['full_name']}!"
''')


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    (tmp_path / "cli_flows.py").write_text(FLOWS_PY, encoding="utf-8")
    (tmp_path / "two_flows.py").write_text(FLOWS_PY + "\nother = Flow('other')\n", encoding="utf-8")
    (tmp_path / "broken_flows.py").write_text(
        "from pgflow.dsl import Flow\nf = Flow('b')\nf.step('x', depends_on=['nope'])\n", encoding="utf-8"
    )
    return tmp_path


@pytest.fixture
def greet_db(db_dsn: str, conn: psycopg.Connection[Any], flows_dir: Path) -> Iterator[str]:
    """db_dsn with the cli_greet flow compiled by `pgflow compile`."""
    out = pgflow("compile", "cli_flows:greet", cwd=flows_dir)
    assert out.returncode == 0, out.stderr
    for stmt in out.stdout.splitlines():
        conn.execute(stmt.encode())
    yield db_dsn


# -- help and usage ----------------------------------------------------------------------------


def test_the_registry_holds_every_documented_command() -> None:
    assert set(DOCUMENTED) <= set(COMMANDS)


def test_top_level_help_lists_every_command_with_examples() -> None:
    out = pgflow("--help")
    assert out.returncode == 0
    for cmd in COMMANDS:
        assert re.search(rf"^\s+{cmd}\s+\S", out.stdout, re.M), cmd
    assert "examples:" in out.stdout and "exit codes:" in out.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_subcommand_has_help_with_examples(cmd: str) -> None:
    out = pgflow(cmd, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: pgflow {cmd}")
    assert "examples:" in out.stdout and f"pgflow {cmd}" in out.stdout.split("examples:")[1]


def test_no_command_prints_help_and_exits_2() -> None:
    out = pgflow()
    assert out.returncode == 2 and "usage: pgflow" in out.stdout


def test_bad_usage_exits_2() -> None:
    assert pgflow("runs", "--limit", "0").returncode == 2
    assert pgflow("runs", "--status", "bogus").returncode == 2
    assert pgflow("compile").returncode == 2


def test_version() -> None:
    out = pgflow("--version")
    assert out.returncode == 0 and out.stdout.startswith("pgflow-py ")


@pytest.mark.parametrize(
    "args",
    [
        ("start", "x"),
        ("status", str(uuid.uuid4())),
        ("runs",),
        ("migrate",),
        ("worker", "pgflow.examples.article_digest:flow"),
    ],
)
def test_database_commands_without_a_dsn_fail_with_a_hint(args: tuple[str, ...]) -> None:
    out = pgflow(*args)
    assert out.returncode == 1
    assert "no database given: pass --dsn postgresql://... or set DATABASE_URL" in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_database_is_an_error_not_a_traceback() -> None:
    out = pgflow("runs", "--dsn", "postgresql://nobody@127.0.0.1:1/none")
    assert out.returncode == 1
    assert "cannot connect to the database" in out.stderr and "Traceback" not in out.stderr


# -- compile -----------------------------------------------------------------------------------


def test_compile_prints_the_flows_sql() -> None:
    out = pgflow("compile", "pgflow.examples.article_digest:flow")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "\n".join(digest_flow.compile()) + "\n"
    assert out.stdout.startswith("SELECT pgflow.create_flow('article_digest', max_attempts => 3")


def test_compile_finds_the_only_flow_of_a_module_and_accepts_file_paths(flows_dir: Path) -> None:
    by_module = pgflow("compile", "cli_flows", cwd=flows_dir)
    by_path = pgflow("compile", str(flows_dir / "cli_flows.py:greet"))
    assert by_module.returncode == 0 and by_path.returncode == 0, by_module.stderr + by_path.stderr
    assert by_module.stdout == by_path.stdout == (
        "SELECT pgflow.create_flow('cli_greet', max_attempts => 1);\n"
        "SELECT pgflow.add_step('cli_greet', 'full_name');\n"
        "SELECT pgflow.add_step('cli_greet', 'greeting', ARRAY['full_name']);\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:flow", "cannot import module 'no_such_module': no module named 'no_such_module'"),
        ("cli_flows:nope", "cli_flows has no attribute 'nope'"),
        ("cli_flows:full_name", "cli_flows:full_name is a function, not a pgflow.dsl.Flow"),
        ("two_flows", "two_flows defines 2 flows (greet, other): name one as two_flows:<attribute>"),
        ("broken_flows", 'Step "x" depends on undefined step "nope"'),
        ("missing.py:f", "no such file: missing.py"),
    ],
)
def test_compile_errors_say_what_is_wrong(flows_dir: Path, spec: str, message: str) -> None:
    out = pgflow("compile", spec, cwd=flows_dir)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_compile_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "digest.sql"
    out = pgflow("compile", "pgflow.examples.article_digest:flow", "--output", str(target))
    assert out.returncode == 0 and out.stdout == ""
    assert target.read_text() == digest_flow.compile_sql()
    assert f"wrote {target}" in out.stderr


def test_compile_writes_a_timestamped_migration_once(tmp_path: Path) -> None:
    mdir = tmp_path / "migrations"
    out = pgflow("compile", "pgflow.examples.article_digest:flow", "--migrations-dir", str(mdir))
    assert out.returncode == 0, out.stderr
    files = list(mdir.iterdir())
    assert len(files) == 1
    assert re.fullmatch(r"\d{14}_create_article_digest_flow\.sql", files[0].name)
    assert out.stdout.strip() == str(files[0])
    assert files[0].read_text() == digest_flow.compile_sql()

    again = pgflow("compile", "pgflow.examples.article_digest:flow", "--migrations-dir", str(mdir))
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert list(mdir.iterdir()) == files


def test_compile_warns_when_a_different_migration_for_the_flow_exists(tmp_path: Path, flows_dir: Path) -> None:
    mdir = tmp_path / "m"
    mdir.mkdir()
    (mdir / "20200101000000_create_cli_greet_flow.sql").write_text("SELECT 1;\n")
    out = pgflow("compile", "cli_flows:greet", "--migrations-dir", str(mdir), cwd=flows_dir)
    assert out.returncode == 0
    assert "already creates flow 'cli_greet' with a different definition" in out.stderr
    assert len(list(mdir.iterdir())) == 2


def test_output_and_migrations_dir_are_exclusive() -> None:
    out = pgflow("compile", "x:y", "--output", "a", "--migrations-dir", "b")
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


# -- start / status / runs -----------------------------------------------------------------------


def _drive(dsn: str, slug: str, outputs: dict[str, Any] | None = None, fail: str | None = None) -> None:
    """Play the worker by hand: run every visible task of the flow, once."""
    with psycopg.connect(dsn, autocommit=True) as c:
        worker_id = insert_worker(c, slug, function_name="cli-test")
        for _ in range(10):
            tasks = read_and_start(c, slug, worker_id, qty=10)
            if not tasks:
                return
            for task in tasks:
                if task["step_slug"] == fail:
                    fail_task(c, task["run_id"], task["step_slug"], task["task_index"], "boom: no such user")
                else:
                    output = (outputs or {}).get(task["step_slug"], f"{task['step_slug']} done")
                    complete_task(c, task["run_id"], task["step_slug"], task["task_index"], output)


def test_start_prints_the_run_id_and_status_shows_the_steps(greet_db: str) -> None:
    out = pgflow("start", "cli_greet", "--input", '{"first": "Ada", "last": "Lovelace"}', "--dsn", greet_db)
    assert out.returncode == 0, out.stderr
    run_id = uuid.UUID(out.stdout.strip())

    st = pgflow("status", str(run_id), "--dsn", greet_db)
    assert st.returncode == 0, st.stderr
    lines = st.stdout.splitlines()
    assert lines[0] == f"run      {run_id}"
    assert lines[1] == "flow     cli_greet"
    assert lines[2] == "status   started (2 step(s) to go)"
    header = next(i for i, line in enumerate(lines) if line.startswith("STEP"))
    assert re.split(r"\s{2,}", lines[header]) == ["STEP", "STATUS", "TASKS", "STARTED", "TOOK", "NOTE"]
    assert re.match(r"full_name\s+started\s+0/1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+-$", lines[header + 1])
    assert re.match(r"greeting\s+created\s+0/1\s+-\s+-$", lines[header + 2])
    # columns are aligned
    assert lines[header + 1].index("started") == lines[header].index("STATUS") == lines[header + 2].index("created")

    _drive(greet_db, "cli_greet", fail="greeting")
    st = pgflow("status", str(run_id), "--dsn", greet_db, "--json")
    doc = json.loads(st.stdout)
    assert doc["run"]["status"] == "failed"
    assert [s["step_slug"] for s in doc["steps"]] == ["full_name", "greeting"]
    st = pgflow("status", str(run_id), "--dsn", greet_db)
    assert re.search(r"greeting\s+failed\s+0/1\s+.*boom: no such user", st.stdout)
    assert "status   failed" in st.stdout and "(took " in st.stdout


def test_status_of_an_unknown_run(greet_db: str) -> None:
    rid = uuid.uuid4()
    out = pgflow("status", str(rid), "--dsn", greet_db)
    assert out.returncode == 1 and f"no run {rid}" in out.stderr
    bad = pgflow("status", "not-a-uuid", "--dsn", greet_db)
    assert bad.returncode == 1 and "not a run id (uuid): 'not-a-uuid'" in bad.stderr


def test_start_rejects_bad_input_and_unknown_flows(greet_db: str, tmp_path: Path) -> None:
    out = pgflow("start", "cli_greet", "--input", "{nope", "--dsn", greet_db)
    assert out.returncode == 1 and "--input is not valid JSON" in out.stderr
    out = pgflow("start", "no_such_flow", "--dsn", greet_db)
    assert out.returncode == 1 and "flow not found" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "in.json").write_text('{"first": "A", "last": "B"}')
    out = pgflow("start", "cli_greet", "--input", f"@{tmp_path / 'in.json'}", "--dsn", greet_db)
    assert out.returncode == 0, out.stderr


def test_start_with_a_given_run_id(greet_db: str) -> None:
    rid = uuid.uuid4()
    out = pgflow("start", "cli_greet", "--run-id", str(rid), "--input", "{}", "--dsn", greet_db)
    assert out.returncode == 0 and out.stdout.strip() == str(rid)


def test_start_wait_exits_0_with_the_output_when_the_run_completes(greet_db: str) -> None:
    proc = start_cli("start", "cli_greet", "--input", '{"first": "Ada", "last": "L"}', "--wait", "--timeout", "60",
                     "--dsn", greet_db)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()  # printed before it starts waiting
        uuid.UUID(run_id)
        _drive(greet_db, "cli_greet", outputs={"full_name": "Ada L", "greeting": "Hello, Ada L!"})
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("status: completed\noutput: ")
    assert json.loads(out.split("output: ", 1)[1]) == {"greeting": "Hello, Ada L!"}


def test_start_wait_exits_1_when_the_run_fails(greet_db: str) -> None:
    proc = start_cli("start", "cli_greet", "--input", "{}", "--wait", "--dsn", greet_db)
    try:
        assert proc.stdout is not None
        uuid.UUID(proc.stdout.readline().strip())
        _drive(greet_db, "cli_greet", fail="full_name")
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert out == "status: failed\nfailed step full_name: boom: no such user\n"


def test_start_wait_times_out_with_exit_1(greet_db: str) -> None:
    out = pgflow("start", "cli_greet", "--input", "{}", "--wait", "--timeout", "0.3", "--dsn", greet_db)
    assert out.returncode == 1
    assert "timeout: run" in out.stderr and "still running after 0.3s" in out.stderr


def test_runs_lists_newest_first_and_filters(greet_db: str) -> None:
    ids = [pgflow("start", "cli_greet", "--input", "{}", "--dsn", greet_db).stdout.strip() for _ in range(3)]
    _drive(greet_db, "cli_greet")  # completes all three (full_name, then greeting: two waves)
    _drive(greet_db, "cli_greet")
    out = pgflow("runs", "--dsn", greet_db)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["RUN_ID", "FLOW", "STATUS", "STARTED", "TOOK", "REMAINING"]
    assert {line.split()[0] for line in lines[1:]} == set(ids)
    assert all(line.split()[2] == "completed" for line in lines[1:])

    doc = json.loads(pgflow("runs", "--json", "--limit", "2", "--dsn", greet_db).stdout)
    assert len(doc) == 2 and {d["status"] for d in doc} == {"completed"}
    none = pgflow("runs", "--status", "failed", "--dsn", greet_db)
    assert none.returncode == 0 and none.stdout == "" and "no runs matching the filters" in none.stderr
    assert pgflow("runs", "--flow", "other", "--json", "--dsn", greet_db).stdout.strip() == "[]"


def test_dsn_from_the_environment(greet_db: str) -> None:
    out = pgflow("runs", env={"DATABASE_URL": greet_db})
    assert out.returncode == 0 and "no runs" in out.stderr


def test_commands_on_an_unmigrated_database_say_to_migrate(empty_db_dsn: str) -> None:
    out = pgflow("start", "x", "--dsn", empty_db_dsn)
    assert out.returncode == 1 and "pgflow migrate" in out.stderr and "Traceback" not in out.stderr
