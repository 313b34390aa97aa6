"""The roles of pgflow.grant_worker / grant_starter in practice: real login roles in the test
database, a `pgflow worker` process connecting as the worker role completing a run that
`pgflow start --wait` started as the starter role, and what each is refused (the SQL-level proof,
function by function, is in tests/sql/grant_*/)."""

from __future__ import annotations

import json
import re
import signal
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli import run_cli, start_cli

FLOWS_PY = textwrap.dedent('''
    from pgflow.dsl import Flow

    shop = Flow("roles_shop", max_attempts=2)

    @shop.step("items")
    def items(run):
        return run["items"]

    @shop.map("price", array="items")
    def price(item):
        return len(item)

    @shop.step("total", depends_on=["price"])
    async def total(deps):
        return sum(deps["price"])

    unknown = Flow("roles_not_compiled")

    @unknown.step("x")
    def x(run):
        return run
''')


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    (tmp_path / "roles_flows.py").write_text(FLOWS_PY, encoding="utf-8")
    return tmp_path


@pytest.fixture
def make_role(db_dsn: str, conn: psycopg.Connection[Any]) -> Iterator[Callable[[str], str]]:
    """make_role(kind) -> the DSN of a new login role given pgflow.grant_<kind>."""
    roles: list[str] = []

    def make(kind: str) -> str:
        role = f"{kind}_{uuid.uuid4().hex[:8]}"
        conn.execute(f"create role {role} login password 'pw'")
        roles.append(role)
        granted = [r[0] for r in conn.execute(f"select * from pgflow.grant_{kind}(%s)", (role,))]
        assert any(role in g for g in granted), granted
        return re.sub(r"//[^@/]+@", f"//{role}:pw@", db_dsn)

    yield make
    for role in roles:
        conn.execute(f"drop owned by {role}")
        conn.execute(f"drop role {role}")


def _compile_as_owner(conn: psycopg.Connection[Any], flows_dir: Path) -> None:
    out = run_cli("compile", "roles_flows:shop", cwd=flows_dir)
    assert out.returncode == 0, out.stderr
    for stmt in out.stdout.splitlines():
        conn.execute(stmt.encode())


def test_a_worker_role_completes_runs_a_starter_role_started(
    conn: psycopg.Connection[Any], flows_dir: Path, make_role: Callable[[str], str]
) -> None:
    _compile_as_owner(conn, flows_dir)  # defining flows is the owner's job; then the grants cover its queue
    worker_dsn, starter_dsn = make_role("worker"), make_role("starter")
    worker = start_cli("-v", "worker", "roles_flows:shop", "--dsn", worker_dsn, "--concurrency", "4",
                       cwd=flows_dir)
    try:
        out = run_cli("start", "roles_shop", "--input", '{"items": ["ab", "cde", ""]}', "--wait", "--timeout", "60",
                      "--dsn", starter_dsn, cwd=flows_dir)
        assert out.returncode == 0, (out.stderr, worker.poll())
        assert json.loads(out.stdout.split("output: ", 1)[1]) == {"total": 5}
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 0, err
    assert "Traceback" not in err and "permission denied" not in err, err
    # it registered, heartbeat and stopped as itself
    row = conn.execute("select count(*), bool_and(stopped_at is not null) from pgflow.workers "
                       "where queue_name = 'roles_shop'").fetchone()
    assert row == (1, True)
    # the starter reads what it started, and may not do a worker's job
    with psycopg.connect(starter_dsn, autocommit=True) as starter:
        run_id = starter.execute("select run_id from pgflow.runs where flow_slug = 'roles_shop'").fetchone()
        assert run_id is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            starter.execute("select pgflow.complete_task(%s, 'items', 0, '[]')", (run_id[0],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            starter.execute("select * from pgmq.read('roles_shop', 30, 1)")


def test_a_worker_role_cannot_define_a_flow(
    conn: psycopg.Connection[Any], flows_dir: Path, make_role: Callable[[str], str]
) -> None:
    worker_dsn = make_role("worker")
    out = run_cli("worker", "roles_flows:unknown", "--dsn", worker_dsn, cwd=flows_dir, timeout=60)
    assert out.returncode == 1, out.stderr
    assert "permission denied" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert conn.execute("select count(*) from pgflow.flows where flow_slug = 'roles_not_compiled'").fetchone() == (0,)
    with psycopg.connect(worker_dsn, autocommit=True) as worker:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            worker.execute("select pgflow.create_flow('roles_by_worker')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            worker.execute("select pgflow.start_flow('roles_shop', '{}')")
