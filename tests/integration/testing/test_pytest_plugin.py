"""The pytest plugin (pgflow.testing.plugin) used as a user would: a small project of its own (a
flows.py, a conftest.py enabling the plugin, an ini naming the flow, tests using the fixtures),
run by pytest in a child process, once on an existing server (PGFLOW_TESTING_SERVER) and once on
the embedded server the plugin starts itself, which must be gone afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import psycopg

from tests.support.paths import subprocess_env
from tests.support.waiting import wait_until

FLOWS = '''
from pgflow.dsl import Flow

greet = Flow("plug_greet")

@greet.step("full_name")
def full_name(run: dict) -> str:
    return f"{run['first']} {run['last']}"

@greet.step("words", depends_on=["full_name"])
def words(deps: dict) -> list[str]:
    return deps["full_name"].split()

@greet.map("initials", array="words")
async def initials(word: str) -> str:
    return word[0]

@greet.step("greeting", depends_on=["full_name", "initials"])
def greeting(deps: dict) -> str:
    return f"Hello, {deps['full_name']} ({''.join(deps['initials'])})!"
'''

CONFTEST = 'pytest_plugins = ["pgflow.testing.plugin"]\n'

INI = """
[pytest]
pgflow_flows =
    flows:greet
"""

TESTS = '''
import asyncio
import os

import psycopg

from flows import greet


def test_runs_the_flow(pgflow_run):
    result = pgflow_run(greet, {"first": "Ada", "last": "Lovelace"})
    assert result.completed
    assert result.output == {"greeting": "Hello, Ada Lovelace (AL)!"}
    assert result.outputs["initials"] == ["A", "L"]


def test_a_handler_replaced_for_this_test(pgflow_run):
    result = pgflow_run(greet, {"first": "Ada", "last": "Lovelace"}, handlers={"initials": lambda w: w.upper()})
    assert result.output == {"greeting": "Hello, Ada Lovelace (ADALOVELACE)!"}


def test_the_async_runner(pgflow_run):
    result = asyncio.run(pgflow_run.run_async(greet, {"first": "Grace", "last": "Hopper"}))
    assert result.output == {"greeting": "Hello, Grace Hopper (GH)!"}


def test_each_test_gets_a_fresh_database_with_the_flow_compiled(pgflow_dsn):
    with psycopg.connect(pgflow_dsn) as conn:
        assert conn.execute("select count(*) from pgflow.runs").fetchone() == (0,)
        assert conn.execute("select flow_slug from pgflow.flows").fetchall() == [("plug_greet",)]
        conn.execute("select pgflow.start_flow('plug_greet', '{\\"first\\": \\"A\\", \\"last\\": \\"B\\"}')")
        run = conn.execute(
            "select status from pgflow_testing.run_to_completion('plug_greet', "
            "'{\\"first\\": \\"C\\", \\"last\\": \\"D\\"}', "
            "'{\\"full_name\\": \\"C D\\", \\"words\\": [\\"C\\", \\"D\\"], \\"initials\\": [\\"C\\", \\"D\\"], "
            "\\"greeting\\": \\"hi\\"}')"
        ).fetchone()
        assert run == ("completed",)
        conn.commit()


def test_and_the_next_one_is_fresh_again(pgflow_dsn, pgflow_test_server):
    with psycopg.connect(pgflow_dsn) as conn:
        assert conn.execute("select count(*) from pgflow.runs").fetchone() == (0,)
    if pgflow_test_server.embedded is not None:
        with open(os.environ["PLUGIN_PID_FILE"], "w") as f:
            f.write(str(pgflow_test_server.embedded.postmaster_pid()))
'''


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "flows.py").write_text(FLOWS)
    (root / "conftest.py").write_text(CONFTEST)
    (root / "pytest.ini").write_text(textwrap.dedent(INI))
    (root / "test_flows.py").write_text(TESTS)
    return root


def _pytest(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::pytest.PytestConfigWarning"],
        cwd=project, capture_output=True, text=True, timeout=240,
        env=subprocess_env(env, drop=("DATABASE_URL", "PGFLOW_TESTING_SERVER", "PGFLOW_TEST_DSN", "PYTEST_ADDOPTS")),
    )


def _databases(server: Any) -> set[str]:
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        return {r[0] for r in conn.execute("select datname from pg_database where datname like 'pgflow_te%'")}


def test_plugin_on_an_existing_server(tmp_path: Path, pg_server: Any) -> None:
    project = _project(tmp_path / "user_project")
    before = _databases(pg_server)
    proc = _pytest(project, {"PGFLOW_TESTING_SERVER": pg_server.dsn("postgres"), "PLUGIN_PID_FILE": "unused"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "5 passed" in proc.stdout
    assert _databases(pg_server) == before  # the template and every test database were dropped


def test_plugin_with_its_own_embedded_server(tmp_path: Path) -> None:
    project = _project(tmp_path / "user_project")
    pid_file = tmp_path / "postmaster.pid"
    proc = _pytest(project, {"PLUGIN_PID_FILE": str(pid_file)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "5 passed" in proc.stdout
    pid = int(pid_file.read_text())
    wait_until("the embedded server to be gone", lambda: not psutil.pid_exists(pid), timeout=10)


def test_plugin_is_inert_until_a_fixture_is_used(tmp_path: Path) -> None:
    """A test run that uses none of the fixtures starts no server and needs no database."""
    project = tmp_path / "other_project"
    project.mkdir()
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    proc = _pytest(project, {"PGFLOW_TESTING_SERVER": "postgresql://nobody@127.0.0.1:1/none"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
