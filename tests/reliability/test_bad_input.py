"""Bad input never leaves partial state and never reaches dynamic SQL as code.

Every rejected call is checked twice: the error says what was wrong (the exact contract text
where SQL_API.md gives one), and the row counts of every pgflow table, of the pgmq queues and of
all their messages are identical before and after the call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support.faults import count
from tests.support.sql import (
    complete_task,
    define_flow,
    drain_sql,
    fail_task,
    insert_worker,
    queue_rows,
    read_and_start,
    row_counts,
    run_row,
    start_flow,
    step_states,
)

INJECTIONS = [
    "x'); drop table public.rel_canary; --",
    'x"; drop table public.rel_canary; --',
    "$$; drop table public.rel_canary; $$",
    "$q$ drop table public.rel_canary $q$",
    "%I%L%s%%; drop table public.rel_canary",
    "a;b",
    "\\'; drop table public.rel_canary; --",
    "\"Quoted\".\"Name\"",
]


def rejects(conn: psycopg.Connection, call: Callable[[], Any], message: str | None = None) -> str:
    """Run `call`; it must raise a database error containing `message`, and change no row."""
    before = row_counts(conn)
    with pytest.raises(psycopg.Error) as exc:
        call()
    text = str(exc.value)
    if message is not None:
        assert message in text, f"expected {message!r} in {text!r}"
    assert row_counts(conn) == before, "a rejected call left partial state"
    count("bad input", rejected_calls=1)
    return text


@pytest.fixture
def canary(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("create table public.rel_canary (x int); insert into public.rel_canary values (42)")
    return conn


def assert_canary(conn: psycopg.Connection) -> None:
    assert conn.execute("select x from public.rel_canary").fetchall() == [(42,)]
    tables = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'pgflow'"
    ).fetchone()
    assert tables is not None and tables[0] >= 8


BAD_SLUGS = ["", "1abc", "run", "a-b", "a b", "x" * 129, "é", "a.b", *INJECTIONS]


def test_invalid_and_reserved_flow_slugs_are_rejected_without_a_trace(canary: psycopg.Connection) -> None:
    for slug in BAD_SLUGS:
        rejects(canary, lambda slug=slug: canary.execute("select pgflow.create_flow(%s)", (slug,)),
                'new row for relation "flows" violates check constraint "slug_is_valid"')
    assert_canary(canary)


def test_null_flow_slug_and_too_long_queue_name_are_rejected_without_a_trace(conn: psycopg.Connection) -> None:
    rejects(conn, lambda: conn.execute("select pgflow.create_flow(null)"))
    # 48..128 characters: a valid slug, but pgmq refuses the queue name; nothing may remain
    rejects(conn, lambda: conn.execute("select pgflow.create_flow(%s)", ("q" * 60,)))
    # 47 characters is pgmq's limit and works
    conn.execute("select pgflow.create_flow(%s)", ("q" * 47,))
    assert [r[0] for r in conn.execute("select queue_name from pgmq.list_queues()")] == ["q" * 47]


def test_invalid_and_reserved_step_slugs_are_rejected_without_a_trace(canary: psycopg.Connection) -> None:
    define_flow(canary, "bad_steps", [{"slug": "a"}])
    for slug in BAD_SLUGS:
        rejects(canary, lambda slug=slug: canary.execute("select pgflow.add_step('bad_steps', %s)", (slug,)),
                "steps_step_slug_check")
        rejects(canary, lambda slug=slug: canary.execute("select pgflow.add_step('bad_steps', 'b', array[%s])",
                                                         (slug,)),
                "deps_flow_slug_dep_slug_fkey")
    assert_canary(canary)


def test_unknown_flow_and_unknown_dependency(conn: psycopg.Connection) -> None:
    rejects(conn, lambda: conn.execute("select pgflow.add_step('nope', 'a')"),
            'insert or update on table "steps" violates foreign key constraint "steps_flow_slug_fkey"')
    rejects(conn, lambda: start_flow(conn, "nope", {}), "runs_flow_slug_fkey")
    define_flow(conn, "known", [{"slug": "a"}])
    rejects(conn, lambda: conn.execute("select pgflow.add_step('known', 'b', array['ghost'])"),
            'insert or update on table "deps" violates foreign key constraint "deps_flow_slug_dep_slug_fkey"')
    # the step row of a rejected add_step is rolled back with its edges
    assert conn.execute("select count(*) from pgflow.steps where flow_slug = 'known'").fetchone() == (1,)


def test_self_dependency_and_cycles_are_refused(conn: psycopg.Connection) -> None:
    define_flow(conn, "cyc", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}, {"slug": "c", "deps": ["b"]}])
    rejects(conn, lambda: conn.execute("select pgflow.add_step('cyc', 'd', array['d'])"),
            'new row for relation "deps" violates check constraint "deps_check"')
    rejects(conn, lambda: conn.execute("select pgflow.add_step('cyc', 'a', array['a'])"))
    # a -> b -> c exists; an edge c -> a (a depends on c) would close a cycle: add_step refuses
    # it, naming the step and the cycle
    text = rejects(conn, lambda: conn.execute("select pgflow.add_step('cyc', 'a', array['c'])"))
    assert '"a"' in text and "cycle" in text, text
    rejects(conn, lambda: conn.execute("select pgflow.add_step('cyc', 'b', array['a', 'c'])"))
    deps = conn.execute("select dep_slug, step_slug from pgflow.deps where flow_slug = 'cyc' order by 2").fetchall()
    assert deps == [("a", "b"), ("b", "c")]
    counts = conn.execute("select step_slug, deps_count from pgflow.steps where flow_slug = 'cyc' order by 1")
    assert counts.fetchall() == [("a", 0), ("b", 1), ("c", 1)]
    # re-adding with the same edges stays idempotent
    conn.execute("select pgflow.add_step('cyc', 'b', array['a'])")


def test_map_step_with_two_dependencies(conn: psycopg.Connection) -> None:
    define_flow(conn, "twodeps", [{"slug": "a"}, {"slug": "b"}])
    rejects(conn, lambda: conn.execute("select pgflow.add_step('twodeps', 'm', array['a', 'b'], step_type => 'map')"),
            'Map step "m" can have at most one dependency, but 2 were provided: a, b')


def test_root_map_with_non_array_input(conn: psycopg.Connection) -> None:
    define_flow(conn, "rootmap", [{"slug": "m", "step_type": "map"}, {"slug": "after", "deps": ["m"]}])
    for value, typ in [({"a": 1}, "object"), ("s", "string"), (3, "number"), (True, "boolean"), (None, "null")]:
        rejects(conn, lambda value=value: conn.execute("select * from pgflow.start_flow('rootmap', %s)",
                                                       (Jsonb(value),)),
                f"Flow rootmap has root map steps but input is not an array (got {typ})")
    rejects(conn, lambda: conn.execute("select * from pgflow.start_flow('rootmap', null)"),
            "Flow rootmap has root map steps but input is NULL")


def test_duplicate_run_id_is_rejected_and_leaves_the_first_run_alone(conn: psycopg.Connection) -> None:
    define_flow(conn, "dup", [{"slug": "m", "step_type": "map"}])
    rid = uuid.uuid4()
    start_flow(conn, "dup", [1, 2, 3], rid)
    before_msgs = queue_rows(conn, "dup", rid)
    rejects(conn, lambda: start_flow(conn, "dup", [4, 5], rid), "runs_pkey")
    assert queue_rows(conn, "dup", rid) == before_msgs and len(before_msgs) == 3
    assert run_row(conn, rid)["input"] == [1, 2, 3]


def test_unknown_run_step_or_task_in_callbacks_change_nothing(conn: psycopg.Connection) -> None:
    define_flow(conn, "cb", [{"slug": "a"}])
    rid = start_flow(conn, "cb", {})["run_id"]
    wid = insert_worker(conn, "cb")
    [task] = read_and_start(conn, "cb", wid)
    before = row_counts(conn)
    states = step_states(conn, rid)
    for run, step, idx in [(uuid.uuid4(), "a", 0), (rid, "nope", 0), (rid, "a", 7), (rid, "a", -1)]:
        assert complete_task(conn, run, step, idx, {"x": 1}) == []
        assert fail_task(conn, run, step, idx, "boom") == []
    assert row_counts(conn) == before and step_states(conn, rid) == states
    assert task["step_slug"] == "a"


def test_output_that_is_not_json_is_refused_by_sql_and_the_task_stays_started(conn: psycopg.Connection) -> None:
    define_flow(conn, "notjson", [{"slug": "a"}])
    rid = start_flow(conn, "notjson", {})["run_id"]
    read_and_start(conn, "notjson", insert_worker(conn, "notjson"))
    for raw in ["{not json", "NaN", "'; drop table pgflow.runs; --", "\\x00"]:
        rejects(conn, lambda raw=raw: conn.execute(
            "select pgflow.complete_task(%s, 'a', 0, %s::text::jsonb)", (rid, raw)),
            "invalid input syntax for type json")
    assert conn.execute("select status from pgflow.step_tasks where run_id = %s", (rid,)).fetchone() == ("started",)
    assert step_states(conn, rid)["a"]["status"] == "started"


def test_sql_metacharacters_in_every_text_argument_are_data_not_code(canary: psycopg.Connection) -> None:
    conn = canary
    define_flow(conn, "meta", [{"slug": "a"}, {"slug": "m", "deps": ["a"]}])
    wid = insert_worker(conn, "meta")
    for bad in INJECTIONS:
        rejects(conn, lambda b=bad: conn.execute("select pgflow.add_step('meta', 'z', step_type => %s)", (b,)),
                "steps_step_type_check")
        rejects(conn, lambda b=bad: conn.execute("select pgflow.add_step('meta', 'z', when_unmet => %s)", (b,)),
                "when_unmet_is_valid")
        rejects(conn, lambda b=bad: conn.execute("select pgflow.add_step('meta', 'z', when_exhausted => %s)", (b,)),
                "when_exhausted_is_valid")
        rejects(conn, lambda b=bad: conn.execute("select pgflow.add_step(%s, 'z')", (b,)), "steps_flow_slug_fkey")
        rejects(conn, lambda b=bad: start_flow(conn, b, {}), "runs_flow_slug_fkey")
        rejects(conn, lambda b=bad: conn.execute("select * from pgflow.set_vt_batch(%s, array[1]::bigint[], array[0])",
                                                 (b,)))
        before = row_counts(conn)
        started = conn.execute("select * from pgflow.start_tasks(%s, array[1, 2]::bigint[], %s)", (bad, wid))
        assert started.fetchall() == []
        assert conn.execute("select pgflow.get_run_with_states(%s)", (uuid.uuid4(),)).fetchone() == (None,)
        res = conn.execute("select pgflow.ensure_flow_compiled(%s, %s)",
                           ("meta", Jsonb({"steps": [{"slug": bad, "stepType": "single", "dependencies": []}]})))
        assert res.fetchone()[0]["status"] == "mismatch"  # type: ignore[index]
        assert row_counts(conn) == before
        with pytest.raises(psycopg.Error):
            conn.execute("select pgflow.ensure_flow_compiled(%s, %s)", (bad, Jsonb({"steps": []})))
        try:  # pgmq < 1.5.2 raises for an unknown queue, later versions return false
            conn.execute("select pgflow.delete_flow_and_data(%s)", (bad,))
        except psycopg.Error:
            pass
        assert row_counts(conn) == before

    # values that are data: stored and returned verbatim
    payload = {s: s for s in INJECTIONS}
    rid = start_flow(conn, "meta", payload)["run_id"]
    [task] = read_and_start(conn, "meta", wid)
    assert task["flow_input"] == payload
    for bad in INJECTIONS:
        assert complete_task(conn, rid, bad, 0, {"x": bad}) == []
    rows = fail_task(conn, rid, "a", 0, "\n".join(INJECTIONS))
    assert len(rows) == 1
    assert conn.execute("select error_message from pgflow.step_tasks where run_id = %s and step_slug = 'a'",
                        (rid,)).fetchone() == ("\n".join(INJECTIONS),)
    conn.execute("select pgmq.set_vt('meta', msg_id, 0) from pgmq.q_meta")
    [task] = read_and_start(conn, "meta", wid)
    complete_task(conn, rid, "a", 0, payload)
    [task] = read_and_start(conn, "meta", wid)
    assert task["input"] == {"a": payload}
    for bad in INJECTIONS:
        conn.execute("select pgflow.track_worker_function(%s)", (bad,))
    assert conn.execute("select count(*) from pgflow.worker_functions").fetchone() == (len(INJECTIONS),)
    assert_canary(conn)


def test_slugs_that_need_identifier_quoting_run_end_to_end(conn: psycopg.Connection) -> None:
    for slug in ["MixedCase_Flow", "_lead", "UPPER", "x" * 47]:
        step = "Step_" + slug[:20]
        define_flow(conn, slug, [{"slug": step}, {"slug": "M", "deps": [step], "step_type": "map"}])
        rid = start_flow(conn, slug, {"k": "v"})["run_id"]
        done = drain_sql(conn, slug, lambda t, step=step: [1, 2] if t["step_slug"] == step else t["input"] * 10)
        assert done == 3
        run = run_row(conn, rid)
        assert run["status"] == "completed" and run["output"] == {"M": [10, 20]}
        assert queue_rows(conn, slug) == []


# ------------------------------------------------------------------------------------------
# The Python side: outputs that are not JSON or too big, error texts PostgreSQL cannot store
# ------------------------------------------------------------------------------------------


def _started_task(conn: psycopg.Connection, flow: str) -> Any:
    define_flow(conn, flow, [{"slug": "a"}], max_attempts=2)
    rid = start_flow(conn, flow, {})["run_id"]
    read_and_start(conn, flow, insert_worker(conn, flow))
    return rid


def test_client_refuses_outputs_that_are_not_json_or_over_the_limit_before_any_sql(conn: psycopg.Connection) -> None:
    from pgflow.client import DEFAULT_MAX_OUTPUT_BYTES, PgflowSqlClient
    from pgflow.errors import InvalidOutput, PgflowError

    rid = _started_task(conn, "outputs")
    client = PgflowSqlClient(conn)
    small = PgflowSqlClient(conn, max_output_bytes=1000)
    before, states = row_counts(conn), step_states(conn, rid)
    bad_outputs = [object(), {1, 2}, {"x": float("nan")}, float("inf"), {"s": "a\x00b"}, "\udcff", {1: {2: object()}},
                   "x" * DEFAULT_MAX_OUTPUT_BYTES]
    for output in bad_outputs:
        with pytest.raises(InvalidOutput) as exc:
            client.complete_task(rid, "a", 0, output)
        assert isinstance(exc.value, PgflowError) and "'a'" in str(exc.value), str(exc.value)[:200]
        count("bad input", rejected_calls=1)
    with pytest.raises(InvalidOutput, match="over the limit"):
        small.complete_task(rid, "a", 0, "x" * 999)  # 1001 bytes of JSON
    assert row_counts(conn) == before and step_states(conn, rid) == states
    assert conn.execute("select status from pgflow.step_tasks where run_id = %s", (rid,)).fetchone() == ("started",)
    # exactly at the limit is fine
    small.complete_task(rid, "a", 0, "x" * 998)
    assert run_row(conn, rid)["output"] == {"a": "x" * 998}


def test_client_stores_error_texts_with_nul_and_invalid_utf8(conn: psycopg.Connection) -> None:
    from pgflow.client import PgflowSqlClient

    rid = _started_task(conn, "errtext")
    client = PgflowSqlClient(conn)
    raw = "boom \x00 nul, " + b"\xff\xfe bytes".decode("utf-8", "surrogateescape") + " $$'; drop table x; --"
    row = client.fail_task(rid, "a", 0, raw)
    assert row is not None and row.status == "queued"
    stored = conn.execute("select error_message from pgflow.step_tasks where run_id = %s", (rid,)).fetchone()[0]  # type: ignore[index]
    assert "\x00" not in stored and stored.startswith("boom ") and "nul, " in stored
    assert "bytes $$'; drop table x; --" in stored
    stored.encode("utf-8")  # valid UTF-8


def test_worker_turns_unstorable_results_and_errors_into_clear_task_failures(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Any, procs: list[Any]
) -> None:
    from tests.support import reliability_flows as flows
    from tests.support.processes import spawn_worker
    from tests.support.sql import compile_flow
    from tests.support.waiting import wait_until
    from tests.support.worker import FAULT_RECOVERY

    conn = effects
    compile_flow(conn, flows.bad)
    rid = start_flow(conn, "rel_bad", {"tag": "bad"})["run_id"]
    w = spawn_worker(db_dsn, "tests.support.reliability_flows:bad", tmp_path, name="bad",
                     **{**FAULT_RECOVERY, "max_output_bytes": flows.BAD_OUTPUT_LIMIT})
    procs.append(w)
    wait_until("the run to finish", lambda: run_row(conn, rid)["status"] != "started", timeout=60)
    run = run_row(conn, rid)
    assert run["status"] == "completed", (run, w.log_text()[-3000:])
    assert run["output"] == {"after": {"ok": {"fine": True}}}
    states = step_states(conn, rid)
    for step, hint in flows.BAD_STEPS.items():
        s = states[step]
        assert (s["status"], s["skip_reason"]) == ("skipped", "handler_failed"), s
        assert hint in (s["error_message"] or ""), (step, s["error_message"])
        assert "\x00" not in s["error_message"]
    assert queue_rows(conn, "rel_bad") == []
    assert w.proc.poll() is None, "the worker died on a bad result"
    count("bad input", worker_bad_results=len(flows.BAD_STEPS))
