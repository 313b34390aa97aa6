"""Property-based: random DAGs driven through the SQL API agree with a pure-Python model of the
state machine in SQL_API.md (§4, §6, §8.3-8.5) after every single call.

Hypothesis draws a flow (single and map steps, random dependencies in topological order, map
steps with at most one dependency, optional conditions with when_unmet, optional per-step
max_attempts and when_exhausted), a flow input, and then, one call at a time, which started task
to finish next and whether it completes (with a drawn output) or fails. The driver polls like a
worker: pgmq.read of every visible message, then start_tasks. After every call the test compares
the database with the model:

* the run: status, remaining_steps, output;
* every step_state: status, remaining_deps, initial_tasks, remaining_tasks, output, skip_reason;
* every task: status and attempts_count; the inputs start_tasks hands out;
* the queue: exactly the messages of tasks that can still run are in pgmq.q_<flow>
  (queued/started task, started step, started run); nothing else, visible or not.

Calls for tasks whose step or run has meanwhile been skipped or failed (late callbacks) happen
naturally and must be no-ops. Single steps feeding a map sometimes return a non-array (type
violation). base_delay is 0 so a retried task is visible at once (no waiting).

Model scope: conditions sit on single steps whose dependencies are all single steps (or on root
steps of flows with object input); that keeps clear of §13 quirk 3 (conditions of steps made
ready by the taskless cascade), where the contract leaves the behaviour open.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from tests.support.faults import count
from tests.support.sql import (
    complete_task,
    define_flow,
    fail_task,
    insert_worker,
    queue_rows,
    read_and_start,
    start_flow,
)

MODES = ["fail", "skip", "skip-cascade"]
_ids = itertools.count()


@dataclass
class StepSpec:
    slug: str
    kind: str  # single | map
    deps: list[str]
    index: int
    max_attempts: int | None = None
    when_exhausted: str = "fail"
    required: dict[str, Any] | None = None
    forbidden: dict[str, Any] | None = None
    when_unmet: str = "skip"


def contains(a: Any, b: Any) -> bool:
    """jsonb @> for the values the test uses (objects, arrays, scalars; bool is not a number)."""
    if isinstance(b, dict):
        return isinstance(a, dict) and all(k in a and contains(a[k], v) for k, v in b.items())
    if isinstance(b, list):
        return isinstance(a, list) and all(any(contains(x, y) for x in a) for y in b)
    return type(a) is type(b) and a == b


@dataclass
class Model:
    specs: list[StepSpec]
    flow_max_attempts: int
    input: Any
    run: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by = {s.slug: s for s in self.specs}
        self.children = {s.slug: [c.slug for c in self.specs if s.slug in c.deps] for s in self.specs}
        self.run = {"status": "started", "remaining_steps": len(self.specs), "output": None}
        for s in self.specs:
            init = 1 if s.kind == "single" else (len(self.input) if not s.deps else None)
            self.steps[s.slug] = {"status": "created", "remaining_deps": len(s.deps), "initial_tasks": init,
                                  "remaining_tasks": None, "output": None, "skip_reason": None}
        # start_flow
        if not self.resolve_conditions():
            return
        self.taskless_cascade()
        self.start_ready()
        self.maybe_complete()

    # -- helpers ------------------------------------------------------------------------------
    def descendants(self, slug: str) -> list[str]:
        out: set[str] = set()
        todo = [slug]
        while todo:
            for c in self.children[todo.pop()]:
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return sorted(out, key=lambda s: self.by[s].index)

    def fail_run(self) -> None:
        self.run["status"] = "failed"

    def condition_value(self, s: StepSpec) -> Any:
        if not s.deps:
            return self.input
        return {d: self.steps[d]["output"] for d in s.deps if self.steps[d]["status"] == "completed"}

    def met(self, s: StepSpec) -> bool:
        v = self.condition_value(s)
        return (s.required is None or contains(v, s.required)) and (s.forbidden is None or not contains(v, s.forbidden))

    def candidates(self) -> list[StepSpec]:
        return [s for s in self.specs if self.steps[s.slug]["status"] == "created"
                and self.steps[s.slug]["remaining_deps"] == 0 and (s.required is not None or s.forbidden is not None)]

    def skip_children_of(self, slugs: list[str]) -> None:
        for p in slugs:
            for c in self.children[p]:
                self.steps[c]["remaining_deps"] -= 1
                if self.by[c].kind == "map" and len(self.by[c].deps) == 1:
                    self.steps[c]["initial_tasks"] = 0

    def force_skip(self, slug: str, reason: str) -> None:
        for s in [slug, *self.descendants(slug)]:
            st_ = self.steps[s]
            if st_["status"] in ("created", "started"):
                st_.update(status="skipped", skip_reason=reason if s == slug else "dependency_skipped",
                           remaining_tasks=None)
                self.run["remaining_steps"] -= 1

    # -- cascades (SQL_API.md §8.4) -----------------------------------------------------------
    def resolve_conditions(self) -> bool:
        for _ in range(50):
            if self.run["status"] == "failed":
                return False
            if self.run["status"] == "completed":
                return True
            unmet = [s for s in self.candidates() if not self.met(s)]
            fails = [s for s in unmet if s.when_unmet == "fail"]
            if fails:
                s = min(fails, key=lambda x: x.index)
                self.steps[s.slug]["status"] = "failed"
                self.fail_run()
                return False
            skipped = [s.slug for s in unmet if s.when_unmet == "skip"]
            for slug in skipped:
                self.steps[slug].update(status="skipped", skip_reason="condition_unmet")
            self.skip_children_of(skipped)
            self.run["remaining_steps"] -= len(skipped)
            for s in sorted((s for s in self.candidates() if not self.met(s) and s.when_unmet == "skip-cascade"),
                            key=lambda x: x.index):
                if self.steps[s.slug]["status"] == "created":
                    self.force_skip(s.slug, "condition_unmet")
            if not skipped:
                break
        return self.run["status"] != "failed"

    def taskless_cascade(self) -> None:
        while True:
            wave = [s for s in self.specs if self.steps[s.slug]["status"] == "created"
                    and self.steps[s.slug]["remaining_deps"] == 0 and self.steps[s.slug]["initial_tasks"] == 0]
            if not wave:
                return
            for s in wave:
                self.steps[s.slug].update(status="completed", remaining_tasks=0,
                                          output=[] if s.kind == "map" else None)
            for s in wave:
                for c in self.children[s.slug]:
                    self.steps[c]["remaining_deps"] -= 1
                    if self.by[c].kind == "map":
                        self.steps[c]["initial_tasks"] = 0
            self.run["remaining_steps"] -= len(wave)

    def start_ready(self) -> None:
        if self.run["status"] != "started":
            return
        for s in self.specs:
            st_ = self.steps[s.slug]
            if st_["status"] == "created" and st_["remaining_deps"] == 0 and (st_["initial_tasks"] or 0) > 0:
                st_.update(status="started", remaining_tasks=st_["initial_tasks"])
                for i in range(st_["initial_tasks"]):
                    self.tasks[(s.slug, i)] = {"status": "queued", "attempts": 0, "output": None}

    def maybe_complete(self) -> None:
        if self.run["remaining_steps"] == 0 and self.run["status"] == "started":
            leaves = {s.slug: self.steps[s.slug]["output"] for s in self.specs
                      if not self.children[s.slug] and self.steps[s.slug]["status"] == "completed"}
            self.run.update(status="completed", output=leaves or None)

    # -- worker-facing API (§8.5) -------------------------------------------------------------
    def eligible(self) -> set[tuple[str, int]]:
        if self.run["status"] != "started":
            return set()
        return {k for k, t in self.tasks.items() if t["status"] == "queued" and self.steps[k[0]]["status"] == "started"}

    def queued_messages(self) -> set[tuple[str, int]]:
        if self.run["status"] != "started":
            return set()
        return {k for k, t in self.tasks.items()
                if t["status"] in ("queued", "started") and self.steps[k[0]]["status"] == "started"}

    def start_task(self, key: tuple[str, int]) -> None:
        t = self.tasks[key]
        t["status"] = "started"
        t["attempts"] += 1

    def expected_input(self, step: str, idx: int) -> tuple[Any, Any]:
        s = self.by[step]
        if s.kind == "map":
            src = self.input if not s.deps else self.steps[s.deps[0]]["output"]
            return src[idx], None
        deps = {d: self.steps[d]["output"] for d in s.deps if self.steps[d]["status"] == "completed"}
        return deps, (self.input if not s.deps else None)

    def complete(self, step: str, idx: int, output: Any) -> None:
        if self.run["status"] == "failed":
            return
        st_ = self.steps[step]
        if st_["status"] != "started":
            return
        s = self.by[step]
        if s.kind == "single" and not isinstance(output, list) and any(
            self.by[c].kind == "map" and self.steps[c]["initial_tasks"] is None for c in self.children[step]
        ):
            self.fail_run()
            self.tasks[(step, idx)].update(status="failed", output=output)
            st_["status"] = "failed"
            return
        t = self.tasks[(step, idx)]
        if t["status"] != "started":
            return
        t.update(status="completed", output=output)
        st_["remaining_tasks"] -= 1
        if st_["remaining_tasks"] == 0:
            st_["status"] = "completed"
            st_["output"] = output if s.kind == "single" else [
                self.tasks[(step, i)]["output"] for i in range(st_["initial_tasks"])]
            for c in self.children[step]:
                self.steps[c]["remaining_deps"] -= 1
                if self.by[c].kind == "map" and self.steps[c]["initial_tasks"] is None:
                    if s.kind == "map":
                        self.steps[c]["initial_tasks"] = st_["initial_tasks"]
                    elif isinstance(output, list):
                        self.steps[c]["initial_tasks"] = len(output)
            self.run["remaining_steps"] -= 1
            if not self.resolve_conditions():
                return
            self.taskless_cascade()
        self.start_ready()
        self.maybe_complete()

    def fail(self, step: str, idx: int) -> None:
        t = self.tasks[(step, idx)]
        if self.run["status"] == "failed":
            if t["status"] == "started":
                t["status"] = "failed"
            return
        st_ = self.steps[step]
        if st_["status"] != "started" or t["status"] != "started":
            return
        s = self.by[step]
        if t["attempts"] < (s.max_attempts or self.flow_max_attempts):
            t["status"] = "queued"
            return
        t["status"] = "failed"
        if s.when_exhausted == "fail":
            st_["status"] = "failed"
            self.fail_run()
            return
        st_.update(status="skipped", skip_reason="handler_failed", remaining_tasks=None)
        self.run["remaining_steps"] -= 1
        if s.when_exhausted == "skip-cascade":
            self.force_skip(step, "handler_failed")
        else:
            self.skip_children_of([step])
            if not self.resolve_conditions():
                return
            self.taskless_cascade()
            self.start_ready()
        self.maybe_complete()


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------


@st.composite
def flows(draw: st.DrawFn) -> tuple[list[StepSpec], int, Any]:
    n = draw(st.integers(2, 7))
    specs: list[StepSpec] = []
    for i in range(n):
        kind = draw(st.sampled_from(["single", "single", "map"]))
        earlier = [s.slug for s in specs]
        if kind == "map":
            deps = draw(st.lists(st.sampled_from(earlier), max_size=1)) if earlier else []
        else:
            deps = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True)) if earlier else []
        spec = StepSpec(f"s{i}", kind, deps, i,
                        max_attempts=draw(st.sampled_from([None, 1, 2])),
                        when_exhausted=draw(st.sampled_from(["fail", "skip", "skip", "skip-cascade"])))
        specs.append(spec)
    has_root_map = any(s.kind == "map" and not s.deps for s in specs)
    flow_input: Any = (draw(st.lists(st.integers(0, 99), max_size=4)) if has_root_map
                       else {"flag": draw(st.booleans())})
    by = {s.slug: s for s in specs}
    for s in specs:
        if s.kind != "single" or not draw(st.booleans()):
            continue
        if not s.deps and has_root_map:
            continue
        if s.deps and any(by[d].kind != "single" for d in s.deps):
            continue
        pattern = {"flag": True} if not s.deps else {draw(st.sampled_from(s.deps)): {"ok": True}}
        if draw(st.booleans()):
            s.required = pattern
        else:
            s.forbidden = pattern
        s.when_unmet = draw(st.sampled_from(MODES))
    return specs, draw(st.sampled_from([1, 2, 2])), flow_input


def _add_step_args(s: StepSpec) -> dict[str, Any]:
    args: dict[str, Any] = {"slug": s.slug, "deps": s.deps, "step_type": s.kind, "max_attempts": s.max_attempts,
                            "when_exhausted": s.when_exhausted}
    if s.required is not None or s.forbidden is not None:
        args.update(required_input_pattern=s.required, forbidden_input_pattern=s.forbidden, when_unmet=s.when_unmet)
    return args


# ------------------------------------------------------------------------------------------
# Comparison
# ------------------------------------------------------------------------------------------


def compare(conn: psycopg.Connection, flow: str, run_id: Any, m: Model, where: str) -> None:
    with conn.cursor(row_factory=dict_row) as cur:
        run = cur.execute("select * from pgflow.runs where run_id = %s", (run_id,)).fetchone()
        states = {r["step_slug"]: r for r in cur.execute("select * from pgflow.step_states where run_id = %s",
                                                         (run_id,))}
        tasks = {(r["step_slug"], r["task_index"]): r for r in cur.execute(
            "select * from pgflow.step_tasks where run_id = %s", (run_id,))}
    assert run is not None
    got_run = {"status": run["status"], "remaining_steps": run["remaining_steps"],
               "output": run["output"] if run["status"] == "completed" else None}
    assert got_run == m.run, f"{where}: run differs"
    for slug, want in m.steps.items():
        got = states[slug]
        keys = ["status", "remaining_tasks", "skip_reason"]
        if want["status"] != "skipped":
            keys.append("initial_tasks")
        if want["status"] in ("created", "started", "completed"):
            keys.append("remaining_deps")
        if want["status"] == "completed":
            keys.append("output")
        assert {k: got[k] for k in keys} == {k: want[k] for k in keys}, f"{where}: step {slug} differs"
    assert {k: (r["status"], r["attempts_count"]) for k, r in tasks.items()} == {
        k: (t["status"], t["attempts"]) for k, t in m.tasks.items()}, f"{where}: tasks differ"
    msgs = sorted((r["message"]["step_slug"], r["message"]["task_index"]) for r in queue_rows(conn, flow, run_id))
    assert msgs == sorted(m.queued_messages()), f"{where}: queue messages differ"


@settings(max_examples=40, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(flow=flows(), data=st.data())
def test_random_dags_follow_the_state_machine(
    conn: psycopg.Connection, flow: tuple[Any, ...], data: st.DataObject
) -> None:
    specs, flow_attempts, flow_input = flow
    slug = f"prop_{next(_ids)}"
    define_flow(conn, slug, [_add_step_args(s) for s in specs], max_attempts=flow_attempts, base_delay=0)
    wid = insert_worker(conn, slug)
    run_id = start_flow(conn, slug, flow_input)["run_id"]
    m = Model(specs, flow_attempts, flow_input)
    compare(conn, slug, run_id, m, "after start_flow")
    pool: list[tuple[str, int]] = []
    calls = 0
    for calls in range(1, 300):  # a bound: the loop ends when nothing is left
        started = read_and_start(conn, slug, wid)
        got = sorted((t["step_slug"], t["task_index"]) for t in started)
        assert got == sorted(m.eligible()), f"call {calls}: start_tasks handed out other tasks"
        for t in started:
            key = (t["step_slug"], t["task_index"])
            assert (t["input"], t["flow_input"]) == m.expected_input(*key), f"input of {key}"
            m.start_task(key)
            pool.append(key)
        if not pool:
            break
        step, idx = pool.pop(data.draw(st.integers(0, len(pool) - 1), label="task"))
        spec = m.by[step]
        if data.draw(st.integers(0, 4), label="fail?") == 0:
            fail_task(conn, run_id, step, idx, f"boom {step}/{idx}")
            m.fail(step, idx)
            what = f"fail_task({step}, {idx})"
        else:
            if spec.kind == "map":
                output: Any = data.draw(st.integers(0, 9), label="map output")
            elif any(m.by[c].kind == "map" for c in m.children[step]):
                output = data.draw(st.one_of(st.lists(st.integers(0, 9), max_size=3),
                                             st.just({"ok": True})), label="array output")
            else:
                output = {"ok": data.draw(st.booleans(), label="ok")}
            complete_task(conn, run_id, step, idx, output)
            m.complete(step, idx, output)
            what = f"complete_task({step}, {idx}, {output!r})"
        compare(conn, slug, run_id, m, f"call {calls}: after {what}")
    assert m.run["status"] in ("completed", "failed"), "the model run is stuck: the test generated an invalid flow"
    assert queue_rows(conn, slug, run_id) == []
    count("state machine model (hypothesis)", examples=1, api_calls=calls, steps=len(specs), tasks=len(m.tasks),
          runs_completed=m.run["status"] == "completed", runs_failed=m.run["status"] == "failed",
          divergences=0)
