"""Python flow -> compile() -> psql into a fresh migrated database -> the database holds exactly the
flow, and pgflow.ensure_flow_compiled(slug, flow.shape()) answers 'verified'."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow.dsl import Flow
from pgflow.examples.article_digest import flow as digest_flow

PSQL = shutil.which("psql")  # installed by scripts/bootstrap.sh with the server


def noop(x: Any) -> Any:
    return x


def _options_flow() -> Flow:
    f = Flow("rt_options", max_attempts=5, base_delay=2, timeout=17)
    f.step("first", timeout=4, start_delay=3)(noop)
    f.step("second", depends_on=["first"], max_attempts=1, base_delay=9, when_exhausted="skip-cascade")(noop)
    return f


def _patterns_flow() -> Flow:
    f = Flow("rt_patterns")
    f.step("user")(noop)
    f.step(
        "notify",
        depends_on=["user"],
        if_={"user": {"name": "O'Brien", "tags": ["it's"], "score": 1.0, "nested": {"ok": True}}},
        if_not={"user": {"blocked": True, "note": 'say "no"', "uni": "é日本"}},
        when_unmet="skip-cascade",
    )(noop)
    f.step("audit", depends_on=["notify", "user"], if_not={"notify": {}}, when_unmet="fail")(noop)
    return f


def _maps_flow() -> Flow:
    f = Flow("rt_maps", timeout=10)
    f.map("root_map")(noop)
    f.step("list", depends_on=["root_map"])(noop)
    f.map("each", array="list", when_exhausted="skip", max_attempts=2)(noop)
    f.map("each_if", array="list", if_={"list": [1]}, when_unmet="fail")(noop)
    f.step("join", depends_on=["each_if", "each", "root_map"])(noop)
    return f


FLOWS = {
    "article_digest": lambda: digest_flow,
    "rt_options": _options_flow,
    "rt_patterns": _patterns_flow,
    "rt_maps": _maps_flow,
}


def _psql(dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    assert PSQL is not None, "psql is needed: apt-get install postgresql-client-15"
    return subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
                          capture_output=True, text=True, timeout=60)


def _ensure(conn: psycopg.Connection[Any], flow: Flow) -> dict[str, Any]:
    row = conn.execute(
        "select pgflow.ensure_flow_compiled(flow_slug => %s, shape => %s::jsonb)", (flow.slug, flow.shape_json())
    ).fetchone()
    assert row is not None
    return dict(row[0])


@pytest.mark.parametrize("name", list(FLOWS))
def test_compiled_sql_applies_with_psql_and_verifies(name: str, db_dsn: str, conn: psycopg.Connection[Any],
                                                      tmp_path: Path) -> None:
    flow = FLOWS[name]()
    path = tmp_path / f"{flow.slug}.sql"
    path.write_text(flow.compile_sql(), encoding="utf-8")
    out = _psql(db_dsn, path)
    assert out.returncode == 0, out.stderr

    assert _ensure(conn, flow) == {"status": "verified", "differences": []}
    # Applying the migration again changes nothing (create_flow/add_step are idempotent).
    assert _psql(db_dsn, path).returncode == 0
    assert _ensure(conn, flow) == {"status": "verified", "differences": []}

    # What the database holds is exactly the definition, option by option.
    fo = flow.options
    row = conn.execute(
        "select opt_max_attempts, opt_base_delay, opt_timeout from pgflow.flows where flow_slug = %s", (flow.slug,)
    ).fetchone()
    assert row == (fo.max_attempts or 3, fo.base_delay or 5, fo.timeout or 60)
    rows = conn.execute(
        """
        select s.step_slug, s.step_type, s.step_index, s.deps_count, s.opt_max_attempts, s.opt_base_delay,
               s.opt_timeout, s.opt_start_delay, s.required_input_pattern, s.forbidden_input_pattern,
               s.when_unmet, s.when_exhausted,
               coalesce((select array_agg(d.dep_slug order by d.dep_slug) from pgflow.deps as d
                         where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug), '{}')
        from pgflow.steps as s where s.flow_slug = %s order by s.step_index
        """,
        (flow.slug,),
    ).fetchall()
    expected = []
    for s in flow.steps.values():
        o = s.options
        expected.append((
            s.slug, s.step_type, s.index, len(s.depends_on), o.max_attempts, o.base_delay, o.timeout, o.start_delay,
            None if o.if_ is None else json.loads(json.dumps(dict(o.if_))),
            None if o.if_not is None else json.loads(json.dumps(dict(o.if_not))),
            o.when_unmet or "skip", o.when_exhausted or "fail", sorted(s.depends_on),
        ))
    assert rows == expected
    assert conn.execute("select 1 from pgmq.list_queues() where queue_name = %s", (flow.slug,)).fetchone() == (1,)


def test_the_database_shape_matches_the_python_shape(conn: psycopg.Connection[Any]) -> None:
    flow = _patterns_flow()
    for stmt in flow.compile():
        conn.execute(stmt.encode())
    row = conn.execute("select pgflow._get_flow_shape(%s)", (flow.slug,)).fetchone()
    assert row is not None
    assert row[0] == {"steps": [{k: v for k, v in s.items() if k != "options"} for s in flow.shape()["steps"]]}


def test_ensure_flow_compiled_compiles_a_missing_flow_from_the_shape(conn: psycopg.Connection[Any]) -> None:
    flow = _maps_flow()
    assert _ensure(conn, flow) == {"status": "compiled", "differences": []}
    assert _ensure(conn, flow) == {"status": "verified", "differences": []}
    # ... and the result is the same database content as applying compile() would give.
    row = conn.execute("select opt_timeout from pgflow.flows where flow_slug = 'rt_maps'").fetchone()
    assert row == (10,)


def test_a_changed_definition_is_a_mismatch(conn: psycopg.Connection[Any]) -> None:
    for stmt in _options_flow().compile():
        conn.execute(stmt.encode())
    changed = Flow("rt_options", max_attempts=5, base_delay=2, timeout=17)
    changed.step("first")(noop)
    changed.step("second", depends_on=["first"], when_exhausted="fail")(noop)
    result = _ensure(conn, changed)
    assert result["status"] == "mismatch"
    assert result["differences"] == ["Step at index 1: whenExhausted differs 'fail' vs 'skip-cascade'"]
